/* npy.c: the NumPy .npy format (numpy/lib/format.py): magic "\x93NUMPY", version, header length
 * (2 bytes in 1.0, 4 in 2.0/3.0, little endian), then a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces to a multiple of
 * 64 bytes and ended by '\n', then the raw data. The host is assumed little-endian (x86-64, arm64). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qn_infer_formats.h"
#include "qn_npy.h"

#define MAX_HEADER (1u << 20)

typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int take(cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string: 'abc' or "abc" (no escapes in the keys and dtypes numpy writes). */
static int string_lit(cursor *c, char *out, size_t len) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= len || *c->p == '\\') return -1;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    out[n] = 0;
    return 0;
}

static int word(cursor *c, const char *w) {
    skip_space(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && strncmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

static int fail(char *err, size_t errlen, const char *path, const char *fmt, const char *detail) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, detail ? detail : "");
    snprintf(err, errlen, "%s: %s", path, msg);
    return 2;
}


/* ints: read an integer array (int8/16/32/64) into out->ints instead of a floating one into out->data */
static int parse_any(const char *path, const unsigned char *buf, size_t len, qn_npy *out, int ints, char *err,
                     size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) return fail(err, errlen, path, "not a .npy file (bad magic)", NULL);
    int major = buf[6], minor = buf[7];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return fail(err, errlen, path, "truncated header", NULL);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        char v[16];
        snprintf(v, sizeof v, "%d.%d", major, minor);
        return fail(err, errlen, path, "unsupported .npy format version %s (expected 1.0, 2.0 or 3.0)", v);
    }
    if (hlen > MAX_HEADER) return fail(err, errlen, path, "malformed header: longer than 1 MiB", NULL);
    if (hstart + hlen > len) return fail(err, errlen, path, "truncated header", NULL);
    cursor c = {(const char *)buf + hstart, (const char *)buf + hstart + hlen};
    char descr[32] = "", key[32];
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    if (!take(&c, '{')) return fail(err, errlen, path, "malformed header: not a dict", NULL);
    while (!take(&c, '}')) {
        if (string_lit(&c, key, sizeof key) != 0 || !take(&c, ':'))
            return fail(err, errlen, path, "malformed header: expected 'key': value", NULL);
        if (!strcmp(key, "descr")) {
            if (string_lit(&c, descr, sizeof descr) != 0) return fail(err, errlen, path, "malformed header: descr is not a dtype string", NULL);
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (word(&c, "True")) fortran = 1;
            else if (!word(&c, "False")) return fail(err, errlen, path, "malformed header: fortran_order is not True or False", NULL);
            have_order = 1;
        } else if (!strcmp(key, "shape")) {
            if (!take(&c, '(')) return fail(err, errlen, path, "malformed header: shape is not a tuple", NULL);
            out->ndim = 0;
            while (!take(&c, ')')) {
                skip_space(&c);
                if (c.p >= c.end || !isdigit((unsigned char)*c.p)) return fail(err, errlen, path, "malformed header: shape holds a non-integer", NULL);
                int64_t d = 0;
                while (c.p < c.end && isdigit((unsigned char)*c.p)) {
                    if (d > (INT64_MAX - 9) / 10) return fail(err, errlen, path, "malformed header: a dimension is too large", NULL);
                    d = d * 10 + (*c.p++ - '0');
                }
                if (c.p < c.end && *c.p == 'L') c.p++; /* Python 2 longs */
                if (out->ndim == QN_NPY_MAX_DIMS) return fail(err, errlen, path, "more than 32 dimensions", NULL);
                out->shape[out->ndim++] = d;
                if (!take(&c, ',')) {
                    if (!take(&c, ')')) return fail(err, errlen, path, "malformed header: shape tuple not closed", NULL);
                    break;
                }
            }
            have_shape = 1;
        } else {
            return fail(err, errlen, path, "malformed header: unknown key '%s'", key);
        }
        if (!take(&c, ',')) {
            if (!take(&c, '}')) return fail(err, errlen, path, "malformed header: expected ',' or '}'", NULL);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return fail(err, errlen, path, "malformed header: needs descr, fortran_order and shape", NULL);
    skip_space(&c);
    if (c.p != c.end) return fail(err, errlen, path, "malformed header: text after the dict", NULL);
    if (fortran) return fail(err, errlen, path, "fortran_order arrays are not supported: save with np.ascontiguousarray", NULL);
    int size = 0, big = 0;
    char order = descr[0];
    const char *code = descr + 1;
    if (order != '<' && order != '>' && order != '=' && order != '|') code = descr, order = '=';
    if (!ints) {
        if (!strcmp(code, "f2")) size = 2;
        else if (!strcmp(code, "f4")) size = 4;
        else if (!strcmp(code, "f8")) size = 8;
        if (!size) return fail(err, errlen, path, "unsupported dtype '%s' (expected float16, float32 or float64)", descr);
    } else {
        if (!strcmp(code, "i1")) size = 1;
        else if (!strcmp(code, "i2")) size = 2;
        else if (!strcmp(code, "i4")) size = 4;
        else if (!strcmp(code, "i8")) size = 8;
        else if (!strcmp(code, "b1")) size = 1; /* bool: bytes 0 and 1, read as int8 */
        if (!size) return fail(err, errlen, path, "unsupported dtype '%s' (expected int32, int64 or bool)", descr);
    }
    big = order == '>';
    size_t n = 1;
    for (int d = 0; d < out->ndim; d++)
        if (__builtin_mul_overflow(n, (size_t)out->shape[d], &n))
            return fail(err, errlen, path, "the shape's element count overflows", NULL);
    size_t bytes;
    if (__builtin_mul_overflow(n, (size_t)size, &bytes)) return fail(err, errlen, path, "the shape's byte count overflows", NULL);
    size_t have = len - hstart - hlen;
    if (have < bytes) {
        char detail[128];
        snprintf(detail, sizeof detail, "header says %zu elements (%zu bytes) but %zu bytes follow", n, bytes, have);
        return fail(err, errlen, path, "truncated: %s", detail);
    }
    if (have > bytes) {
        char detail[128];
        snprintf(detail, sizeof detail, "%zu bytes follow the %zu the header describes", have - bytes, bytes);
        return fail(err, errlen, path, "malformed: %s", detail);
    }
    out->n = n;
    const unsigned char *d = buf + hstart + hlen;
    if (ints) {
        out->ints = malloc((n ? n : 1) * sizeof(int64_t));
        if (!out->ints) {
            snprintf(err, errlen, "%s: out of memory for %zu elements", path, n);
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t u = 0;
            for (int k = 0; k < size; k++) {
                unsigned char byte = d[i * (size_t)size + (size_t)(big ? k : size - 1 - k)]; /* most significant first */
                u = u << 8 | byte;
            }
            if (size < 8 && (u >> (8 * size - 1)) & 1) u |= ~(uint64_t)0 << (8 * size); /* sign-extend */
            memcpy(&out->ints[i], &u, sizeof u);
        }
        return 0;
    }
    out->data = malloc((n ? n : 1) * sizeof(float));
    if (!out->data) {
        snprintf(err, errlen, "%s: out of memory for %zu elements", path, n);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char b[8];
        for (int k = 0; k < size; k++) b[k] = d[i * (size_t)size + (size_t)(big ? size - 1 - k : k)];
        if (size == 2) {
            uint16_t h;
            memcpy(&h, b, 2);
            out->data[i] = qn_f16_to_f32(h);
        } else if (size == 4) {
            memcpy(&out->data[i], b, 4);
        } else {
            double v;
            memcpy(&v, b, 8);
            out->data[i] = (float)v; /* round to nearest even */
        }
    }
    return 0;
}

int qn_npy_parse(const char *path, const unsigned char *buf, size_t len, qn_npy *out, char *err, size_t errlen) {
    return parse_any(path, buf, len, out, 0, err, errlen);
}

static int read_any(const char *path, qn_npy *out, int ints, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return errno == ENOENT || errno == EACCES || errno == EISDIR ? 2 : 1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "%s: not a regular file", path);
        return 2;
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, len);
        return 1;
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    if (got != len) {
        free(buf);
        snprintf(err, errlen, "%s: read %zu of %zu bytes", path, got, len);
        return 1;
    }
    int rc = parse_any(path, buf, len, out, ints, err, errlen);
    free(buf);
    return rc;
}

int qn_npy_read(const char *path, qn_npy *out, char *err, size_t errlen) { return read_any(path, out, 0, err, errlen); }
int qn_npy_read_ints(const char *path, qn_npy *out, char *err, size_t errlen) { return read_any(path, out, 1, err, errlen); }

void qn_npy_free(qn_npy *a) {
    free(a->data), free(a->ints);
    a->data = NULL, a->ints = NULL;
}

int qn_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim, char *err, size_t errlen) {
    char header[4096];
    size_t n = 1;
    /* The caller's shape decides how many bytes are read from data: refuse one that cannot be right. */
    if (ndim < 0 || ndim > QN_NPY_MAX_DIMS) {
        snprintf(err, errlen, "%s: cannot write an array of %d dimensions (0 to %d)", path, ndim, QN_NPY_MAX_DIMS);
        return 2;
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && n > SIZE_MAX / sizeof(float) / (size_t)shape[d])) {
            snprintf(err, errlen, "%s: cannot write an array of shape dimension %lld", path, (long long)shape[d]);
            return 2;
        }
        n *= (size_t)shape[d];
    }
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int d = 0; d < ndim; d++) {
        len += snprintf(header + len, sizeof header - (size_t)len, "%lld,%s", (long long)shape[d],
                        d + 1 < ndim ? " " : "");
    }
    if (ndim > 1) len--; /* numpy writes (3,) for one dimension and (3, 4) for more */
    len += snprintf(header + len, sizeof header - (size_t)len, "), }");
    /* pad with spaces so that magic + version + length + header + '\n' is a multiple of 64 */
    size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64;
    if ((size_t)len + pad + 2 > sizeof header) {
        snprintf(err, errlen, "%s: the shape is too long to write", path);
        return 1;
    }
    memset(header + len, ' ', pad);
    header[len + (int)pad] = '\n';
    size_t hlen = (size_t)len + pad + 1;
    size_t plen = strlen(path) + 8;
    char *tmp = malloc(plen);
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return 1;
    }
    snprintf(tmp, plen, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        free(tmp);
        return 1;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xFF), (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hlen, f) == hlen && fwrite(data, sizeof(float), n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return 1;
    }
    free(tmp);
    return 0;
}
