/* dataset_files.c: labelled text from files, tokenized with a WordPiece vocabulary:
 *   imdb   the aclImdb layout: PATH/{train,test}/{pos,neg}/NAME.txt (pos = 1, neg = 0)
 *   csv    PATH/{train,test}.csv with a header naming "text" and "label" columns (RFC 4180 quoting)
 *   tsv    PATH/{train,test}.tsv, the same columns, tab-separated, no quoting
 *   jsonl  PATH/{train,test}.jsonl, one {"text": ..., "label": ...} object per line
 * Labels are integers from 0. The examples of a split are shuffled with the job seed and the first n
 * kept (all when fewer); training labels get the configured noise. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qn_dataset.h"
#include "qn_kernels.h"
#include "qn_wordpiece.h"

typedef struct {
    char **texts;
    int32_t *labels;
    int n, cap;
} examples;

static int push(examples *e, char *text, int label) {
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 1024;
        char **t = realloc(e->texts, (size_t)cap * sizeof *t);
        int32_t *l = t ? realloc(e->labels, (size_t)cap * sizeof *l) : NULL;
        if (!t || !l) {
            if (t) e->texts = t;
            return -1;
        }
        e->texts = t, e->labels = l, e->cap = cap;
    }
    e->texts[e->n] = text, e->labels[e->n++] = label;
    return 0;
}

static void examples_free(examples *e) {
    for (int i = 0; i < e->n; i++) free(e->texts[i]);
    free(e->texts), free(e->labels);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* one line: a quoted label or JSON parser text may hold newlines or other control bytes */
    for (char *p = err; errlen && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return 2;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat sb; /* a directory opens, and its "size" is no length to allocate */
    int st = fstat(fileno(f), &sb);
    if (st != 0 || !S_ISREG(sb.st_mode)) {
        int e = st != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        fclose(f);
        errno = e;
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) free(buf), buf = NULL;
    fclose(f);
    if (buf) buf[n] = 0, *len = (size_t)n;
    return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_imdb(const char *root, const char *split, int num_labels, examples *e, char *err, size_t errlen) {
    static const char *const labels[2] = {"neg", "pos"};
    if (num_labels < 2)
        return fail(err, errlen, "%s/%s: imdb has labels 0 (neg) and 1 (pos), but the model has %d label%s", root, split,
                    num_labels, num_labels == 1 ? "" : "s");
    for (int label = 0; label < 2; label++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s/%s", root, split, labels[label]);
        DIR *d = opendir(dir);
        if (!d) return fail(err, errlen, "%s: cannot read (%s): data.path must be an aclImdb directory", dir, strerror(errno));
        char **names = NULL;
        int n = 0, cap = 0, rc = 0;
        struct dirent *de;
        while (!rc && (de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                char **nn = realloc(names, (size_t)cap * sizeof *nn);
                if (!nn) {
                    rc = fail(err, errlen, "%s: out of memory", dir);
                    break;
                }
                names = nn;
            }
            if (!(names[n] = strdup(de->d_name))) rc = fail(err, errlen, "%s: out of memory", dir);
            else n++;
        }
        closedir(d);
        if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str); /* directory order is the filesystem's */
        for (int i = 0; i < n && !rc; i++) {
            char path[1400];
            size_t len;
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            char *text = slurp(path, &len);
            if (!text) rc = fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            else if (push(e, text, label) != 0) free(text), rc = fail(err, errlen, "%s: out of memory", path);
        }
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        if (rc) return rc;
    }
    return 0;
}

static int check_label(long v, const char *file, int line, int num_labels, char *err, size_t errlen) {
    if (v >= num_labels)
        return fail(err, errlen, "%s:%d: label %ld, but the model has %d label%s", file, line, v, num_labels,
                    num_labels == 1 ? "" : "s");
    return 0;
}

static int parse_label(const char *s, const char *file, int line, int num_labels, int *out, char *err, size_t errlen) {
    char *end;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\r') end++;
    if (end == s || *end || v < 0 || v > 999)
        return fail(err, errlen, "%s:%d: label '%.40s' is not an integer from 0", file, line, s);
    *out = (int)v;
    return check_label(v, file, line, num_labels, err, errlen);
}

/* CSV/TSV: the header names the columns; fields split on sep (CSV: RFC 4180 quotes). */
static int load_delimited(const char *file, char sep, int num_labels, examples *e, char *err, size_t errlen) {
    size_t len;
    char *buf = slurp(file, &len);
    if (!buf) return fail(err, errlen, "%s: cannot read: %s", file, strerror(errno));
    /* line: where the reader is; record_line: where the current record (and any quote in it) began */
    int rc = 0, line = 1, record_line = 1, quote_line = 1, col = 0, text_col = -1, label_col = -1, ncols = 0;
    char *field = malloc(len + 1), *text = NULL, *label = NULL;
    size_t fl = 0;
    int quoted = 0, header = 1, record_chars = 0; /* record_chars: a blank line is skipped, not a record */
    if (!field) {
        free(buf);
        return fail(err, errlen, "%s: out of memory", file);
    }
    size_t i0 = len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3) ? 3 : 0; /* a UTF-8 byte order mark, as Excel writes */
    for (size_t i = i0; i <= len && !rc; i++) {
        char c = i < len ? buf[i] : '\n';
        if (c != '\n' && c != '\r') record_chars++;
        if (sep == ',' && quoted) {
            if (c == '"' && i + 1 < len && buf[i + 1] == '"') field[fl++] = '"', i++;
            else if (c == '"') quoted = 0;
            else {
                if (c == '\n') line++;
                field[fl++] = c;
            }
            continue;
        }
        if (sep == ',' && c == '"' && fl == 0) {
            quoted = 1, quote_line = line;
            continue;
        }
        if (c != sep && c != '\n') {
            if (c != '\r') field[fl++] = c;
            continue;
        }
        field[fl] = 0;
        if (header) {
            if (!strcmp(field, "text")) text_col = col;
            if (!strcmp(field, "label")) label_col = col;
        } else if (col == text_col) {
            text = strdup(field);
        } else if (col == label_col) {
            label = strdup(field);
        }
        fl = 0;
        col++;
        if (c == '\n') {
            if (header) {
                if (text_col < 0 || label_col < 0) rc = fail(err, errlen, "%s:1: the header needs a \"text\" and a \"label\" column", file);
                ncols = col;
                header = 0;
            } else if (record_chars == 0) {
                /* a blank line, such as the one after the final newline */
            } else if (col != ncols || !text || !label) {
                rc = fail(err, errlen, "%s:%d: %d fields where the header has %d", file, record_line, col, ncols);
            } else {
                int lab = 0;
                rc = parse_label(label, file, record_line, num_labels, &lab, err, errlen);
                if (!rc && push(e, text, lab) != 0) rc = fail(err, errlen, "%s: out of memory", file);
                if (!rc) text = NULL;
            }
            free(text), free(label);
            text = label = NULL;
            col = 0;
            record_chars = 0;
            record_line = ++line;
        }
    }
    if (!rc && quoted) rc = fail(err, errlen, "%s:%d: a quoted field is not closed", file, quote_line);
    free(text), free(label), free(field), free(buf);
    return rc;
}

static int load_jsonl(const char *file, int num_labels, examples *e, char *err, size_t errlen) {
    FILE *f = fopen(file, "r");
    if (!f) return fail(err, errlen, "%s: cannot read: %s", file, strerror(errno));
    struct stat sb;
    int st = fstat(fileno(f), &sb);
    if (st != 0 || !S_ISREG(sb.st_mode)) {
        int e = st != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        fclose(f);
        return fail(err, errlen, "%s: cannot read: %s", file, strerror(e));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0, no = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        no++;
        if (no == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) memcpy(line, "   ", 3); /* a byte order mark */
        if (strspn(line, " \t\r\n") == (size_t)n) continue; /* a blank line, CRLF or not */
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        json_t *t = o ? json_object_get(o, "text") : NULL, *l = o ? json_object_get(o, "label") : NULL;
        if (!o) rc = fail(err, errlen, "%s:%d: not JSON: %s", file, no, je.text);
        else if (!json_is_string(t)) rc = fail(err, errlen, "%s:%d: no \"text\" string", file, no);
        else if (!json_is_integer(l) || json_integer_value(l) < 0 || json_integer_value(l) > 999)
            rc = fail(err, errlen, "%s:%d: \"label\" must be an integer from 0", file, no);
        else if ((rc = check_label((long)json_integer_value(l), file, no, num_labels, err, errlen)) == 0) {
            char *text = strdup(json_string_value(t));
            if (!text || push(e, text, (int)json_integer_value(l)) != 0) free(text), rc = fail(err, errlen, "%s: out of memory", file);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return rc;
}

qn_dataset *qn_dataset_load_files(const char *kind, const char *path, int split, const qn_vocab *vocab, int n,
                                  int max_len, uint64_t seed, double label_noise, int num_labels, char *err,
                                  size_t errlen) {
    examples e = {0};
    const char *name = split == QN_SPLIT_TRAIN ? "train" : "test";
    char file[1024];
    int rc;
    if (!strcmp(kind, "imdb")) {
        rc = load_imdb(path, name, num_labels, &e, err, errlen);
        snprintf(file, sizeof file, "%s/%s", path, name);
    } else {
        snprintf(file, sizeof file, "%s/%s.%s", path, name, kind);
        rc = !strcmp(kind, "jsonl") ? load_jsonl(file, num_labels, &e, err, errlen)
                                    : load_delimited(file, !strcmp(kind, "tsv") ? '\t' : ',', num_labels, &e, err, errlen);
    }
    /* labels were checked against num_labels where the file and line are known */
    if (!rc && e.n == 0) rc = fail(err, errlen, "%s: no examples", file);
    if (rc) {
        examples_free(&e);
        return NULL;
    }
    /* a seeded shuffle, then the first n */
    qn_rng rng;
    qn_rng_seed(&rng, qn_splitmix64(seed ^ (0xf11e0000ull + (uint64_t)split)));
    for (int i = e.n - 1; i > 0; i--) {
        int j = (int)qn_rng_below(&rng, (uint64_t)i + 1);
        char *t = e.texts[i];
        int32_t l = e.labels[i];
        e.texts[i] = e.texts[j], e.labels[i] = e.labels[j];
        e.texts[j] = t, e.labels[j] = l;
    }
    int keep = n < e.n ? n : e.n;
    qn_dataset *d = calloc(1, sizeof *d);
    if (d) {
        d->n = keep, d->max_len = max_len;
        d->ids = malloc((size_t)keep * (size_t)max_len * sizeof *d->ids + 1);
        d->lengths = malloc((size_t)keep * sizeof *d->lengths + 1);
        d->labels = malloc((size_t)keep * sizeof *d->labels + 1);
        d->clean_labels = malloc((size_t)keep * sizeof *d->clean_labels + 1);
        d->texts = calloc((size_t)keep + 1, sizeof *d->texts);
    }
    if (!d || !d->ids || !d->lengths || !d->labels || !d->clean_labels || !d->texts) {
        qn_dataset_free(d);
        examples_free(&e);
        fail(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    qn_rng noise;
    qn_rng_seed(&noise, qn_splitmix64(seed ^ (0x401e0000ull + (uint64_t)split)));
    for (int i = 0; i < keep; i++) {
        d->texts[i] = e.texts[i], e.texts[i] = NULL;
        d->lengths[i] = qn_wordpiece_encode(vocab, d->texts[i], d->ids + (size_t)i * max_len, max_len);
        d->clean_labels[i] = e.labels[i];
        int flip = split == QN_SPLIT_TRAIN && num_labels == 2 && qn_rng_uniform(&noise) < (float)label_noise;
        d->labels[i] = flip ? !e.labels[i] : e.labels[i];
    }
    examples_free(&e);
    return d;
}
