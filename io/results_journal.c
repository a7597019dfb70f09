/* results_journal.c: making trials durable faster than the whole image can be rewritten.
 *
 * A commit (results_commit.c) rewrites the whole file, so its cost grows with the study: with
 * trials that take milliseconds (null trials, small models, many workers) the coordinator would
 * spend its time rewriting the file. Instead, while rewriting the image would take more than a
 * tenth of the time, a finished trial is appended to FILE.quench-journal as one checksummed record
 * and fdatasync'ed: durable in ~0.2 ms whatever the file's size. The image is rewritten (the
 * journal's rows written into it, then emptied) once a tenth of the time has paid for it, when a
 * trial brings a checkpoint, and at close. --resume first takes the journal's complete records
 * whose trial the image lacks (a record cut by a kill fails its checksum and is ignored).
 *
 * So every trial is durable before the next is recorded, and FILE is always a whole image.
 * Readers of FILE (quench ls, h5py) see it as of the last image commit: during a fast study at
 * most about ten image-commit times behind, complete once the run ends (or is resumed).
 *
 * Records hold what the /trials row and /trial/<id> curves need, in this machine's byte order
 * (the journal is read back by a resume on the same kind of machine: x86-64 or aarch64, little-endian). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qn_kernels.h" /* qn_splitmix64 */
#include "results_internal.h"
#include "qn_clock.h"

#define JOURNAL_MAGIC 0x314a4e51u /* "QNJ1" */
#define HEADER_MAGIC 0x484a4e51u  /* "QNJH" */
#define RECORDS_AT 4096           /* the header has a block of its own */
#define GROW (1u << 18)
#define IMAGE_SHARE 9.0           /* rewrite the image when it took at most 1/(1+IMAGE_SHARE) of the time */

/* ---------------------------------------------------------------- encoding */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int fail;
} wbuf;

static void put(wbuf *b, const void *x, size_t n) {
    if (b->fail) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->fail = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void put_u32(wbuf *b, uint32_t x) { put(b, &x, 4); }
static void put_i64(wbuf *b, int64_t x) { put(b, &x, 8); }
static void put_f64(wbuf *b, double x) { put(b, &x, 8); }
/* with its NUL, so that a decoded string points into the record */
static void put_str(wbuf *b, const char *s) {
    s = s ? s : "";
    uint32_t n = (uint32_t)strlen(s) + 1;
    put_u32(b, n);
    put(b, s, n);
}

/* A record's checksum covers the journal's epoch: records of an earlier epoch, left in place after
 * the image took them, never read as current. */
static uint64_t fnv1a(uint64_t epoch, const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) h = (h ^ ((epoch >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* header (magic, payload length, checksum) + payload */
static unsigned char *encode(const qn_trial_record *rec, size_t *len) {
    wbuf b = {0};
    put_u32(&b, JOURNAL_MAGIC), put_u32(&b, 0), put_i64(&b, 0);
    put_i64(&b, rec->id), put_i64(&b, rec->parent), put_u32(&b, (uint32_t)rec->worker);
    put_f64(&b, rec->start_time), put_f64(&b, rec->wall_s);
    put_str(&b, rec->stage), put_str(&b, rec->status), put_str(&b, rec->device), put_str(&b, rec->error);
    put_u32(&b, (uint32_t)rec->nparams);
    for (int i = 0; i < rec->nparams; i++) {
        const qn_param *p = &rec->params[i];
        put_str(&b, p->name);
        put_u32(&b, (uint32_t)p->value.kind);
        if (p->value.kind == QN_VAL_STR) put_str(&b, p->value.str);
        else put_f64(&b, p->value.num);
    }
    put_u32(&b, (uint32_t)rec->nmetrics);
    for (int i = 0; i < rec->nmetrics; i++) put_str(&b, rec->metric_names[i]), put_f64(&b, rec->metric_values[i]);
    put_u32(&b, (uint32_t)rec->ncurves);
    for (int i = 0; i < rec->ncurves; i++) {
        put_str(&b, rec->curve_names[i]);
        put_u32(&b, (uint32_t)rec->curve_lens[i]);
        put(&b, rec->curves[i], (size_t)rec->curve_lens[i] * sizeof(float));
    }
    if (b.fail || b.n - 16 > UINT32_MAX) {
        free(b.p);
        return NULL;
    }
    uint32_t payload = (uint32_t)(b.n - 16);
    memcpy(b.p + 4, &payload, 4); /* the checksum when written (qn_journal_append) */
    *len = b.n;
    return b.p;
}

/* A decoded record: rec points into the encoded bytes and the arrays here. */
typedef struct {
    qn_trial_record rec;
    qn_param *params;
    const char **mnames, **cnames;
    double *mvalues;
    float **curves;
    int *clens;
} decoded;

typedef struct {
    const unsigned char *p, *end;
    int fail;
} rbuf;

static void get(rbuf *b, void *x, size_t n) {
    if (b->fail || (size_t)(b->end - b->p) < n) {
        b->fail = 1;
        memset(x, 0, n);
        return;
    }
    memcpy(x, b->p, n);
    b->p += n;
}
static uint32_t get_u32(rbuf *b) {
    uint32_t x;
    get(b, &x, 4);
    return x;
}
static int64_t get_i64(rbuf *b) {
    int64_t x;
    get(b, &x, 8);
    return x;
}
static double get_f64(rbuf *b) {
    double x;
    get(b, &x, 8);
    return x;
}
static const char *get_str(rbuf *b) {
    uint32_t n = get_u32(b);
    if (b->fail || n == 0 || (size_t)(b->end - b->p) < n || b->p[n - 1] != 0) {
        b->fail = 1;
        return "";
    }
    const char *s = (const char *)b->p;
    b->p += n;
    return s;
}

static void decoded_free(decoded *d) {
    for (int i = 0; d->curves && i < d->rec.ncurves; i++) free(d->curves[i]);
    free(d->params), free(d->mnames), free(d->cnames), free(d->mvalues), free(d->curves), free(d->clens);
    memset(d, 0, sizeof *d);
}

/* Record at p (len bytes, header included) into d. 0, or -1 when malformed. */
static int decode(const unsigned char *p, size_t len, decoded *d) {
    memset(d, 0, sizeof *d);
    rbuf b = {p + 16, p + len, 0};
    qn_trial_record *r = &d->rec;
    r->id = get_i64(&b), r->parent = get_i64(&b), r->worker = (int)get_u32(&b);
    r->start_time = get_f64(&b), r->wall_s = get_f64(&b);
    r->stage = get_str(&b), r->status = get_str(&b), r->device = get_str(&b), r->error = get_str(&b);
    uint32_t np = get_u32(&b);
    if (b.fail || np > 100000) return -1;
    d->params = calloc(np + 1, sizeof *d->params);
    if (!d->params) return -1;
    for (uint32_t i = 0; i < np && !b.fail; i++) {
        d->params[i].name = (char *)get_str(&b);
        d->params[i].value.kind = (qn_value_kind)get_u32(&b);
        if (d->params[i].value.kind == QN_VAL_STR) d->params[i].value.str = (char *)get_str(&b);
        else d->params[i].value.num = get_f64(&b);
    }
    r->nparams = (int)np, r->params = d->params;
    uint32_t nm = get_u32(&b);
    if (b.fail || nm > 100000) goto bad;
    d->mnames = calloc(nm + 1, sizeof *d->mnames), d->mvalues = calloc(nm + 1, sizeof *d->mvalues);
    if (!d->mnames || !d->mvalues) goto bad;
    for (uint32_t i = 0; i < nm && !b.fail; i++) d->mnames[i] = get_str(&b), d->mvalues[i] = get_f64(&b);
    r->nmetrics = (int)nm, r->metric_names = d->mnames, r->metric_values = d->mvalues;
    uint32_t nc = get_u32(&b);
    if (b.fail || nc > 1000) goto bad;
    d->cnames = calloc(nc + 1, sizeof *d->cnames), d->curves = calloc(nc + 1, sizeof *d->curves);
    d->clens = calloc(nc + 1, sizeof *d->clens);
    if (!d->cnames || !d->curves || !d->clens) goto bad;
    r->ncurves = (int)nc;
    for (uint32_t i = 0; i < nc && !b.fail; i++) {
        d->cnames[i] = get_str(&b);
        uint32_t n = get_u32(&b);
        if (b.fail || (size_t)(b.end - b.p) / sizeof(float) < n) goto bad;
        d->curves[i] = malloc((size_t)n * sizeof(float) + 1);
        if (!d->curves[i]) goto bad;
        get(&b, d->curves[i], (size_t)n * sizeof(float));
        d->clens[i] = (int)n;
    }
    r->curve_names = d->cnames, r->curves = (const float *const *)d->curves, r->curve_lens = d->clens;
    if (b.fail || b.p != b.end) goto bad;
    return 0;
bad:
    decoded_free(d);
    return -1;
}

/* ---------------------------------------------------------------- the journal file */

static char *journal_path(const qn_results *r) {
    size_t n = strlen(r->path) + 20;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.quench-journal", r->path);
    return p;
}

static int push_pending(qn_results *r, unsigned char *blob, size_t len) {
    if (r->npending == r->cap_pending) {
        int cap = r->cap_pending ? 2 * r->cap_pending : 64;
        unsigned char **p = realloc(r->pending, (size_t)cap * sizeof *p);
        if (!p) return -1;
        r->pending = p;
        size_t *l = realloc(r->pending_len, (size_t)cap * sizeof *l);
        if (!l) return -1;
        r->pending_len = l;
        r->cap_pending = cap;
    }
    r->pending[r->npending] = blob;
    r->pending_len[r->npending++] = len;
    return 0;
}

int qn_journal_wanted(qn_results *r, const qn_trial_record *rec) {
    /* the typical time between trials: a running mean, so that two trials that happen to finish
     * together in a slow study do not count as a fast one */
    double now = qn_clock_monotonic_s();
    if (r->last_append_at > 0) {
        double gap = now - r->last_append_at;
        r->append_gap = r->append_gap > 0 ? 0.8 * r->append_gap + 0.2 * gap : gap;
    }
    r->last_append_at = now;
    /* QUENCH_RESULTS_JOURNAL=0: an image per trial (readers see every trial at once); =1: the
     * journal whenever it can (tests) */
    const char *mode = getenv("QUENCH_RESULTS_JOURNAL");
    if (rec->ckpt || rec->checkpoint || (mode && !strcmp(mode, "0"))) return 0; /* checkpoints go into the image */
    if (mode && !strcmp(mode, "1")) return 1;
    if (r->image_cost <= 0 || r->append_gap <= 0) return 0; /* not measured yet */
    /* an image per trial while that costs at most a tenth of the time; else one per ten image-times */
    double budget = IMAGE_SHARE * r->image_cost;
    return r->append_gap < budget && now - r->image_at < budget;
}

/* The journal is written in place, in blocks written once (zeros) ahead of the records: a record
 * then changes no file size and no block allocation, and its fdatasync flushes data alone (about a
 * third cheaper than appending on ext4). Layout: a header block (magic, epoch), records from
 * RECORDS_AT; a record of another epoch, or zeros, ends it. */
static int pwrite_all(int fd, const void *buf, size_t n, off_t at) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w, at += w;
    }
    return 0;
}

/* unlike any earlier epoch of this file: the time in ns and the pid, mixed (splitmix64) */
static uint64_t new_epoch(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return qn_splitmix64(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40));
}

/* A new epoch in the header (durable): the records before it are void. */
static int start_epoch(qn_results *r) {
    unsigned char head[24];
    uint32_t magic = HEADER_MAGIC, version = 1;
    r->journal_epoch = new_epoch();
    uint64_t sum = fnv1a(r->journal_epoch, NULL, 0);
    memcpy(head, &magic, 4), memcpy(head + 4, &version, 4), memcpy(head + 8, &r->journal_epoch, 8), memcpy(head + 16, &sum, 8);
    r->journal_at = RECORDS_AT;
    return pwrite_all(r->journal_fd, head, sizeof head, 0) != 0 || fdatasync(r->journal_fd) != 0 ? -1 : 0;
}

/* Zeros up to `size` bytes, so that records overwrite blocks the file already has. */
static int grow(qn_results *r, off_t size) {
    static const unsigned char zeros[65536];
    for (off_t at = r->journal_size; at < size; at += (off_t)sizeof zeros)
        if (pwrite_all(r->journal_fd, zeros, sizeof zeros, at) != 0) return -1;
    r->journal_size = size;
    return 0;
}

static int journal_open(qn_results *r, char *err, size_t errlen) {
    char *path = journal_path(r);
    r->journal_fd = path ? open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : -1;
    if (r->journal_fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path ? path : r->path, strerror(errno));
        free(path);
        return -1;
    }
    r->journal_size = 0;
    int bad = grow(r, RECORDS_AT + GROW) != 0 || start_epoch(r) != 0;
    /* the journal's name must survive a crash as well as its contents */
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    int dfd = open(slash ? (slash == path ? "/" : path) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) fsync(dfd), close(dfd);
    free(path);
    if (bad) {
        snprintf(err, errlen, "%s.quench-journal: cannot write: %s", r->path, strerror(errno));
        close(r->journal_fd);
        r->journal_fd = -1;
        return -1;
    }
    return 0;
}

int qn_journal_append(qn_results *r, const qn_trial_record *rec, char *err, size_t errlen) {
    if (r->journal_fd < 0 && journal_open(r, err, errlen) != 0) return -1;
    size_t len;
    unsigned char *blob = encode(rec, &len);
    if (!blob || push_pending(r, blob, len) != 0) {
        free(blob);
        snprintf(err, errlen, "out of memory journaling trial %lld", (long long)rec->id);
        return -1;
    }
    uint64_t sum = fnv1a(r->journal_epoch, blob + 16, len - 16);
    memcpy(blob + 8, &sum, 8);
    off_t end = r->journal_at + (off_t)len;
    if ((end + 16 > r->journal_size && grow(r, end + 16 + GROW) != 0) || pwrite_all(r->journal_fd, blob, len, r->journal_at) != 0 ||
        fdatasync(r->journal_fd) != 0) {
        snprintf(err, errlen, "%s.quench-journal: cannot write: %s", r->path, strerror(errno));
        free(r->pending[--r->npending]);
        return -1;
    }
    r->journal_at = end;
    r->rows++;
    return 0;
}

void qn_journal_committed(qn_results *r, double started) {
    /* The image holds every record: a new epoch voids them (an open journal), or the file is
     * emptied (one this writer has not opened: a resume that replayed it). If this fails the
     * records stay, and a resume skips the trials the image already holds. */
    if (r->journal_fd >= 0) {
        if (start_epoch(r) != 0) {
        }
    } else {
        char *path = journal_path(r);
        if (path && truncate(path, 0) != 0) {
        }
        free(path);
    }
    double now = qn_clock_monotonic_s();
    r->image_cost = now - started;
    r->image_at = now;
}

void qn_journal_close(qn_results *r, int remove_file) {
    if (r->journal_fd >= 0) close(r->journal_fd);
    r->journal_fd = -1;
    if (remove_file) {
        char *path = journal_path(r);
        if (path) unlink(path);
        free(path);
    }
    for (int i = 0; i < r->npending; i++) free(r->pending[i]);
    free(r->pending), free(r->pending_len);
    r->pending = NULL, r->pending_len = NULL;
    r->npending = r->cap_pending = 0;
}

/* ---------------------------------------------------------------- into the image */

/* The names used by rows d[0..n) (params or metrics), in first-use order. */
static int names_of(const decoded *d, int n, int metrics, const char ***out) {
    int cap = 16, k = 0;
    const char **names = malloc((size_t)cap * sizeof *names);
    for (int i = 0; names && i < n; i++) {
        int m = metrics ? d[i].rec.nmetrics : d[i].rec.nparams;
        for (int j = 0; names && j < m; j++) {
            const char *s = metrics ? d[i].rec.metric_names[j] : d[i].rec.params[j].name;
            int seen = 0;
            for (int q = 0; q < k && !seen; q++) seen = !strcmp(names[q], s);
            if (seen) continue;
            if (k == cap) {
                const char **more = realloc(names, (size_t)(cap *= 2) * sizeof *names);
                if (!more) free(names);
                names = more;
                if (!names) break;
            }
            names[k++] = s;
        }
    }
    *out = names;
    return names ? k : -1;
}

/* One params/ or metrics/ column for rows [row0, row0 + n): each row's value or the missing one. */
static int write_named_column(qn_results *r, hid_t g, const char *name, const decoded *d, int n, int64_t row0,
                              int metrics, char *err, size_t errlen) {
    /* the column's type: an existing column's, else that of the first value (as write_row does) */
    qn_col_type want = QN_COL_F64;
    for (int i = 0; i < n && !metrics; i++)
        for (int j = 0; j < d[i].rec.nparams; j++)
            if (!strcmp(d[i].rec.params[j].name, name)) {
                want = d[i].rec.params[j].value.kind == QN_VAL_STR ? QN_COL_STR : QN_COL_F64;
                i = n;
                break;
            }
    hid_t ds = qn_col_open(r, g, name, want, row0);
    if (ds < 0) return -1;
    qn_col_type col = qn_col_type_of(ds);
    int rc = 0;
    if (col == QN_COL_STR) {
        const char **v = calloc((size_t)n + 1, sizeof *v);
        char (*num)[32] = calloc((size_t)n + 1, sizeof *num);
        rc = v && num ? 0 : -1;
        for (int i = 0; !rc && i < n; i++) {
            v[i] = "";
            int m = metrics ? d[i].rec.nmetrics : d[i].rec.nparams;
            for (int j = 0; j < m; j++) {
                if (metrics) {
                    if (strcmp(d[i].rec.metric_names[j], name)) continue;
                    snprintf(num[i], sizeof num[i], "%.12g", d[i].rec.metric_values[j]);
                    v[i] = num[i];
                } else {
                    const qn_param *p = &d[i].rec.params[j];
                    if (strcmp(p->name, name)) continue;
                    v[i] = p->value.kind == QN_VAL_STR ? p->value.str : qn_value_format(&p->value, num[i], sizeof num[i]);
                }
            }
        }
        if (!rc) rc = qn_col_put_rows(r, ds, row0, n, QN_COL_STR, v);
        free(v), free(num);
    } else {
        double *v = malloc((size_t)n * sizeof *v + 1);
        rc = v ? 0 : -1;
        for (int i = 0; !rc && i < n; i++) {
            v[i] = col == QN_COL_F64 ? NAN : -1;
            int m = metrics ? d[i].rec.nmetrics : d[i].rec.nparams;
            for (int j = 0; j < m && !rc; j++) {
                if (metrics) {
                    if (!strcmp(d[i].rec.metric_names[j], name)) v[i] = d[i].rec.metric_values[j];
                    continue;
                }
                const qn_param *p = &d[i].rec.params[j];
                if (strcmp(p->name, name)) continue;
                if (p->value.kind == QN_VAL_STR) {
                    snprintf(err, errlen, "%s: parameter %s holds numbers, cannot record '%s'", r->path, name, p->value.str);
                    rc = -1;
                } else {
                    v[i] = p->value.num;
                }
            }
        }
        if (!rc) rc = qn_col_put_rows(r, ds, row0, n, QN_COL_F64, v);
        free(v);
    }
    H5Dclose(ds);
    return rc;
}

/* params/ or metrics/: the rows' own columns, then the missing value in every other column. */
static int write_group(qn_results *r, hid_t g, const decoded *d, int n, int64_t row0, int metrics, char *err,
                       size_t errlen) {
    const char **names;
    int k = names_of(d, n, metrics, &names), bad = k < 0;
    for (int i = 0; i < k && !bad; i++) bad |= write_named_column(r, g, names[i], d, n, row0, metrics, err, errlen) != 0;
    char **all;
    int na = bad ? 0 : qn_group_datasets(g, &all);
    for (int i = 0; i < na && !bad; i++) {
        int given = 0;
        for (int q = 0; q < k && !given; q++) given = !strcmp(names[q], all[i]);
        if (given) continue;
        hid_t ds = H5Dopen2(g, all[i], H5P_DEFAULT);
        bad |= ds < 0;
        for (int64_t row = row0; !bad && row < row0 + n; row++) bad |= qn_col_put_missing(r, ds, row) != 0;
        if (ds >= 0) H5Dclose(ds);
    }
    if (na > 0) qn_names_free(all, na);
    free(names);
    return bad ? -1 : 0;
}

int qn_journal_apply(qn_results *r, char *err, size_t errlen) {
    int n = r->npending;
    if (n == 0) return 0;
    int64_t row0 = r->rows - n;
    decoded *d = calloc((size_t)n, sizeof *d);
    int bad = !d;
    for (int i = 0; i < n && !bad; i++) bad |= decode(r->pending[i], r->pending_len[i], &d[i]) != 0;
    if (bad) {
        snprintf(err, errlen, "%s: out of memory writing the journal's trials", r->path);
        for (int i = 0; d && i < n; i++) decoded_free(&d[i]);
        free(d);
        return -1;
    }
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    hid_t pg = H5Gopen2(t, "params", H5P_DEFAULT), mg = H5Gopen2(t, "metrics", H5P_DEFAULT);
    bad = t < 0 || pg < 0 || mg < 0;
    int64_t *i64 = malloc((size_t)n * 2 * sizeof *i64 + 1);
    int32_t *i32 = malloc((size_t)n * sizeof *i32 + 1);
    double *f64 = malloc((size_t)n * 2 * sizeof *f64 + 1);
    const char **str = malloc((size_t)n * 4 * sizeof *str + 1);
    bad |= !i64 || !i32 || !f64 || !str;
    for (int i = 0; i < n && !bad; i++) {
        const qn_trial_record *rec = &d[i].rec;
        i64[i] = rec->id, i64[n + i] = rec->parent, i32[i] = rec->worker;
        f64[i] = rec->start_time, f64[n + i] = rec->wall_s;
        str[i] = rec->stage, str[n + i] = rec->status, str[2 * n + i] = rec->device, str[3 * n + i] = rec->error;
    }
    /* the fixed columns (results_file.c's trial_columns), one write each */
    static const struct {
        const char *name;
        qn_col_type type;
        int slot;
    } cols[] = {{"id", QN_COL_I64, 0}, {"stage", QN_COL_STR, 0}, {"status", QN_COL_STR, 1}, {"device", QN_COL_STR, 2},
                {"worker", QN_COL_I32, 0}, {"parent", QN_COL_I64, 1}, {"start_time", QN_COL_F64, 0},
                {"wall_s", QN_COL_F64, 1}, {"error", QN_COL_STR, 3}};
    for (size_t c = 0; c < sizeof cols / sizeof cols[0] && !bad; c++) {
        hid_t ds = H5Dopen2(t, cols[c].name, H5P_DEFAULT);
        const void *v = cols[c].type == QN_COL_I64   ? (const void *)(i64 + (size_t)cols[c].slot * n)
                        : cols[c].type == QN_COL_I32 ? (const void *)i32
                        : cols[c].type == QN_COL_F64 ? (const void *)(f64 + (size_t)cols[c].slot * n)
                                                     : (const void *)(str + (size_t)cols[c].slot * n);
        bad |= ds < 0 || qn_col_put_rows(r, ds, row0, n, cols[c].type, v) != 0;
        if (ds >= 0) H5Dclose(ds);
    }
    err[0] = 0;
    bad |= !bad && write_group(r, pg, d, n, row0, 0, err, errlen) != 0;
    bad |= !bad && write_group(r, mg, d, n, row0, 1, err, errlen) != 0;
    /* journaled records carry no checkpoint (qn_journal_wanted), so this writes their curves only */
    for (int i = 0; i < n && !bad; i++) bad |= qn_results_write_trial_group(r, &d[i].rec) != 0;
    bad |= !bad && qn_attr_put_i64(t, "rows", r->rows) != 0;
    /* each stage's summary once, over all its rows */
    for (int i = 0; i < n && !bad; i++) {
        int seen = 0;
        for (int q = 0; q < i && !seen; q++) seen = !strcmp(d[q].rec.stage, d[i].rec.stage);
        if (!seen) bad |= qn_results_stage_refresh(r, d[i].rec.stage, r->rows) != 0;
    }
    if (t >= 0) H5Gclose(t);
    if (pg >= 0) H5Gclose(pg);
    if (mg >= 0) H5Gclose(mg);
    free(i64), free(i32), free(f64), free(str);
    for (int i = 0; i < n; i++) decoded_free(&d[i]);
    free(d);
    if (bad) {
        if (!err[0]) snprintf(err, errlen, "%s: cannot write the journal's trials into the results", r->path);
        return -1;
    }
    /* written into the image; they stay in the journal file until the image is committed */
    for (int i = 0; i < n; i++) free(r->pending[i]);
    r->npending = 0;
    return 0;
}

/* ---------------------------------------------------------------- resume */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int qn_journal_replay(qn_results *r, char *err, size_t errlen) {
    char *path = journal_path(r);
    if (!path) return -1;
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) return 0; /* none: the last run ended with its image */
    /* the trials the image holds */
    int64_t n = r->rows, *ids = malloc((size_t)(n + 1) * sizeof *ids);
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT), ds = t < 0 ? -1 : H5Dopen2(t, "id", H5P_DEFAULT);
    int bad = !ids || ds < 0 || qn_col_read_rows(ds, 0, n, H5T_NATIVE_INT64, ids) != 0;
    if (ds >= 0) H5Dclose(ds);
    if (t >= 0) H5Gclose(t);
    if (bad) {
        free(ids);
        fclose(f);
        snprintf(err, errlen, "%s: cannot read the trial ids", r->path);
        return -1;
    }
    qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
    int added = 0;
    unsigned char head[24];
    uint32_t hmagic = 0;
    uint64_t epoch = 0, hsum = 0;
    if (fread(head, 1, sizeof head, f) == sizeof head) {
        memcpy(&hmagic, head, 4), memcpy(&epoch, head + 8, 8), memcpy(&hsum, head + 16, 8);
    }
    /* no header (empty, or cut while it was written): no records */
    int ok = hmagic == HEADER_MAGIC && hsum == fnv1a(epoch, NULL, 0) && fseeko(f, RECORDS_AT, SEEK_SET) == 0;
    for (; ok;) {
        unsigned char head[16];
        if (fread(head, 1, 16, f) != 16) break;
        uint32_t magic, len;
        uint64_t sum;
        memcpy(&magic, head, 4), memcpy(&len, head + 4, 4), memcpy(&sum, head + 8, 8);
        if (magic != JOURNAL_MAGIC || len > (1u << 30)) break;
        unsigned char *blob = malloc((size_t)len + 16);
        if (!blob) break;
        memcpy(blob, head, 16);
        decoded d;
        /* a record cut short by a kill ends the journal */
        if (fread(blob + 16, 1, len, f) != len || fnv1a(epoch, blob + 16, len) != sum || decode(blob, (size_t)len + 16, &d) != 0) {
            free(blob);
            break;
        }
        int64_t id = d.rec.id;
        decoded_free(&d);
        int dup = bsearch(&id, ids, (size_t)n, sizeof *ids, cmp_i64) != NULL;
        for (int i = 0; i < r->npending && !dup; i++) {
            int64_t pid;
            memcpy(&pid, r->pending[i] + 16, 8);
            dup = pid == id;
        }
        if (dup || push_pending(r, blob, (size_t)len + 16) != 0) {
            free(blob);
            continue;
        }
        r->rows++;
        added++;
    }
    fclose(f);
    free(ids);
    return added;
}
