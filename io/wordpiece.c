/* wordpiece.c: BERT's uncased tokenizer (see qn_wordpiece.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_wordpiece.h"
#include "unicode_tables.h"

struct qn_vocab {
    int n, cap;          /* tokens, hash slots (a power of two) */
    char **tokens;
    int *slots;          /* token id + 1, 0 empty */
    int unk, cls, sep, pad;
};

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int lookup(const qn_vocab *v, const char *s, size_t n) {
    for (uint64_t i = fnv(s, n) & (uint64_t)(v->cap - 1);; i = (i + 1) & (uint64_t)(v->cap - 1)) {
        int slot = v->slots[i];
        if (!slot) return -1;
        const char *t = v->tokens[slot - 1];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return slot - 1;
    }
}

void qn_vocab_free(qn_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->tokens[i]);
    free(v->tokens), free(v->slots), free(v);
}

/* Insert token n (already in tokens[]); -1 if it repeats. */
static int insert(qn_vocab *v, int id) {
    const char *t = v->tokens[id];
    size_t n = strlen(t);
    for (uint64_t i = fnv(t, n) & (uint64_t)(v->cap - 1);; i = (i + 1) & (uint64_t)(v->cap - 1)) {
        if (!v->slots[i]) {
            v->slots[i] = id + 1;
            return 0;
        }
        const char *u = v->tokens[v->slots[i] - 1];
        if (!strcmp(u, t)) return -1;
    }
}

static qn_vocab *vocab_new(int n) {
    qn_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->cap = 16;
    while (v->cap < 2 * n + 16) v->cap *= 2;
    v->tokens = calloc((size_t)n + 1, sizeof *v->tokens);
    v->slots = calloc((size_t)v->cap, sizeof *v->slots);
    if (!v->tokens || !v->slots) {
        qn_vocab_free(v);
        return NULL;
    }
    return v;
}

static void find_specials(qn_vocab *v) {
    v->unk = qn_vocab_id(v, "[UNK]"), v->cls = qn_vocab_id(v, "[CLS]");
    v->sep = qn_vocab_id(v, "[SEP]"), v->pad = qn_vocab_id(v, "[PAD]");
}

qn_vocab *qn_vocab_from_tokens(const char *const *tokens, int n) {
    qn_vocab *v = vocab_new(n);
    if (!v) return NULL;
    for (int i = 0; i < n; i++) {
        if (!(v->tokens[i] = strdup(tokens[i]))) break;
        v->n = i + 1;
        if (insert(v, i) != 0) {
            qn_vocab_free(v);
            return NULL;
        }
    }
    if (v->n != n) {
        qn_vocab_free(v);
        return NULL;
    }
    find_specials(v);
    return v;
}

int qn_vocab_load(const char *path, qn_vocab **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return errno == ENOENT || errno == EACCES ? 2 : 1;
    }
    int lines = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) lines += c == '\n', last = c;
    lines += last != '\n';
    rewind(f);
    qn_vocab *v = vocab_new(lines);
    if (!v) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) {
            snprintf(err, errlen, "%s:%d: empty token", path, v->n + 1);
            rc = 2;
        } else if (!(v->tokens[v->n] = strdup(line))) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = 1;
        } else if (insert(v, v->n) != 0) {
            snprintf(err, errlen, "%s:%d: token '%.60s' repeats", path, v->n + 1, line);
            free(v->tokens[v->n]);
            v->tokens[v->n] = NULL;
            rc = 2;
        } else {
            v->n++;
        }
    }
    free(line);
    fclose(f);
    if (!rc) {
        find_specials(v);
        const char *missing = v->unk < 0 ? "[UNK]" : v->cls < 0 ? "[CLS]" : v->sep < 0 ? "[SEP]" : v->pad < 0 ? "[PAD]" : NULL;
        if (missing) {
            snprintf(err, errlen, "%s: no %s token", path, missing);
            rc = 2;
        }
    }
    if (rc) {
        qn_vocab_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int qn_vocab_size(const qn_vocab *v) { return v->n; }
int qn_vocab_id(const qn_vocab *v, const char *token) { return lookup(v, token, strlen(token)); }
const char *qn_vocab_token(const qn_vocab *v, int id) { return id >= 0 && id < v->n ? v->tokens[id] : NULL; }

/* ---------------------------------------------------------------- the basic tokenizer */

/* Next code point of UTF-8 text (invalid bytes read as U+FFFD, which is then dropped, as Python's
 * decoder with errors="ignore" drops them: overlong forms, surrogates and code points past U+10FFFF
 * included). */
static uint32_t next_cp(const unsigned char **p) {
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n) {
        *p = s + 1;
        return 0xFFFD;
    }
    if (n == 1) {
        *p = s + 1;
        return c;
    }
    c &= 0x7Fu >> n;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + i;
            return 0xFFFD;
        }
        c = c << 6 | (s[i] & 0x3F);
    }
    *p = s + n;
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000}; /* below this, an overlong form */
    if (c < least[n] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return 0xFFFD;
    return c;
}

static int put_cp(char *out, uint32_t c) {
    if (c < 0x80) return out[0] = (char)c, 1;
    if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000)
        return out[0] = (char)(0xE0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 0x3F)), out[2] = (char)(0x80 | (c & 0x3F)), 3;
    out[0] = (char)(0xF0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)), out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static int uc_class(uint32_t c) {
    int lo = 0, hi = qn_uc_nclasses - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < qn_uc_classes[mid].first) hi = mid - 1;
        else if (c > qn_uc_classes[mid].last) lo = mid + 1;
        else return qn_uc_classes[mid].cls;
    }
    return QN_UC_OTHER;
}

static const qn_uc_map *uc_map(uint32_t c) {
    int lo = 0, hi = qn_uc_nmaps - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < qn_uc_maps[mid].cp) hi = mid - 1;
        else if (c > qn_uc_maps[mid].cp) lo = mid + 1;
        else return &qn_uc_maps[mid];
    }
    return NULL;
}

/* WordPiece of one word (UTF-8, n bytes, chars code points): ids appended at *count. */
static void wordpiece(const qn_vocab *v, const char *w, size_t n, int chars, int32_t *ids, int max_ids, int *count) {
    if (chars > 100) {
        if (*count < max_ids) ids[(*count)++] = v->unk;
        return;
    }
    int32_t pieces[256];
    int np = 0;
    size_t start = 0;
    char buf[512];
    while (start < n) {
        size_t end = n;
        int found = -1;
        while (end > start) {
            size_t len = 0;
            if (start > 0) memcpy(buf, "##", 2), len = 2;
            if (len + (end - start) >= sizeof buf) break;
            memcpy(buf + len, w + start, end - start);
            len += end - start;
            found = lookup(v, buf, len);
            if (found >= 0) break;
            do end--; /* back off one code point */
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (found < 0 || np == 256) {
            if (*count < max_ids) ids[(*count)++] = v->unk;
            return;
        }
        pieces[np++] = found;
        start = end;
    }
    for (int i = 0; i < np && *count < max_ids; i++) ids[(*count)++] = pieces[i];
}

/* The basic tokenizer and WordPiece over text up to end; ids appended at *count. */
static void tokenize_span(const qn_vocab *v, const char *text, const char *end, int32_t *ids, int max_ids, int *count_io) {
    int count = *count_io;
    size_t cap = 64, n = 0;
    char *word = malloc(cap);
    int chars = 0;
    if (!word) return;
    const unsigned char *p = (const unsigned char *)text, *stop = (const unsigned char *)end;
#define FLUSH()                                                                                            \
    do {                                                                                                   \
        if (n) wordpiece(v, word, n, chars, ids, max_ids, &count);                                       \
        n = 0, chars = 0;                                                                                  \
    } while (0)
    while (p < stop) {
        uint32_t c = next_cp(&p);
        int cls = uc_class(c);
        if (cls == QN_UC_CONTROL) continue;      /* _clean_text drops them (and NUL, U+FFFD) */
        /* U+2028 and U+2029 are neither Zs nor control, so _clean_text keeps them, but Python's str.split()
         * in whitespace_tokenize splits on them */
        if (cls == QN_UC_SPACE || c == 0x2028 || c == 0x2029) {
            FLUSH();
            continue;
        }
        /* lower-case and strip accents, then split off punctuation and CJK as single tokens */
        uint32_t seq[3] = {c, 0, 0};
        const qn_uc_map *m = uc_map(c);
        if (m) memcpy(seq, m->to, sizeof seq);
        for (int k = 0; k < 3 && seq[k]; k++) {
            uint32_t d = seq[k];
            int dc = uc_class(d);
            if (n + 8 > cap) {
                char *w2 = realloc(word, cap * 2);
                if (!w2) break;
                word = w2, cap *= 2;
            }
            if (dc == QN_UC_PUNCT || cls == QN_UC_CJK) {
                FLUSH();
                n = (size_t)put_cp(word, d), chars = 1;
                FLUSH();
            } else if (dc == QN_UC_SPACE) {
                FLUSH();
            } else {
                n += (size_t)put_cp(word + n, d);
                chars++;
            }
        }
    }
    FLUSH();
#undef FLUSH
    free(word);
    *count_io = count;
}

/* The special token (of the vocab) that starts s, its length in *len; -1 for none. */
static int special_at(const qn_vocab *v, const char *s, size_t *len) {
    static const char *const specials[] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"};
    for (int k = 0; k < 5; k++) {
        size_t n = strlen(specials[k]);
        if (strncmp(s, specials[k], n) == 0) {
            int id = lookup(v, specials[k], n);
            if (id >= 0) return *len = n, id;
        }
    }
    return -1;
}

int qn_wordpiece_tokenize(const qn_vocab *v, const char *text, int32_t *ids, int max_ids) {
    /* special tokens written in the text ("[SEP]", "[MASK]", case-sensitive) are kept whole, as
     * transformers' BertTokenizer and BertTokenizerFast split them off before anything else */
    int count = 0;
    const char *start = text;
    for (const char *s = strchr(text, '['); s; s = strchr(s, '[')) {
        size_t len;
        int id = special_at(v, s, &len);
        if (id < 0) {
            s++;
            continue;
        }
        tokenize_span(v, start, s, ids, max_ids, &count);
        if (count < max_ids) ids[count++] = id;
        start = s += len;
    }
    tokenize_span(v, start, start + strlen(start), ids, max_ids, &count);
    return count;
}

int qn_wordpiece_encode(const qn_vocab *v, const char *text, int32_t *ids, int max_len) {
    if (max_len < 2) return 0;
    int n = qn_wordpiece_tokenize(v, text, ids + 1, max_len - 2);
    ids[0] = v->cls;
    ids[n + 1] = v->sep;
    for (int i = n + 2; i < max_len; i++) ids[i] = v->pad;
    return n + 2;
}
