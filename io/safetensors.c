/* safetensors.c: the .safetensors reader (see qn_safetensors.h). The host is assumed little-endian,
 * as the format's data is. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_error.h"
#include "qn_infer_formats.h"
#include "qn_safetensors.h"

#define MAX_HEADER ((size_t)100 << 20) /* the reference implementation's limit */

static const struct {
    const char *name;
    qn_st_dtype dtype;
    int size;
} dtypes[] = {{"F64", QN_ST_F64, 8}, {"F32", QN_ST_F32, 4}, {"F16", QN_ST_F16, 2}, {"BF16", QN_ST_BF16, 2},
              {"I64", QN_ST_I64, 8}, {"I32", QN_ST_I32, 4}, {"I16", QN_ST_I16, 2}, {"I8", QN_ST_I8, 1},
              {"U8", QN_ST_U8, 1},   {"BOOL", QN_ST_BOOL, 1}};

const char *qn_st_dtype_name(qn_st_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == d) return dtypes[i].name;
    return "?";
}

static int dtype_size(qn_st_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == d) return dtypes[i].size;
    return 0;
}

void qn_st_close(qn_safetensors *st) {
    for (int i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    if (st->mapped) {
        if (st->buf) munmap(st->buf, st->len ? st->len : 1);
    } else {
        free(st->buf);
    }
    free(st->tensors), free(st->path);
    memset(st, 0, sizeof *st);
}

static int cmp_begin(const void *a, const void *b) {
    const qn_st_tensor *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int parse_entry(const char *path, const char *name, json_t *v, qn_st_tensor *t, size_t data_len, char *err,
                       size_t errlen) {
    if (!json_is_object(v)) return qn_file_error(err, errlen, path, "tensor '%.80s' is not an object", name);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(off))
        return qn_file_error(err, errlen, path, "tensor '%.80s' needs dtype, shape and data_offsets", name);
    const char *d = json_string_value(dt);
    int size = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dtypes[i].name, d)) t->dtype = dtypes[i].dtype, size = dtypes[i].size;
    if (!size) return qn_file_error(err, errlen, path, "tensor '%.80s' has an unsupported dtype '%.20s'", name, d);
    size_t nd = json_array_size(shape);
    if (nd > QN_ST_MAX_DIMS) return qn_file_error(err, errlen, path, "tensor '%.80s' has %zu dimensions (at most 8)", name, nd);
    t->ndim = (int)nd;
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *s = json_array_get(shape, i);
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return qn_file_error(err, errlen, path, "tensor '%.80s' has a shape entry that is not a non-negative integer", name);
        t->shape[i] = (int64_t)json_integer_value(s);
        if (__builtin_mul_overflow(numel, (size_t)t->shape[i], &numel))
            return qn_file_error(err, errlen, path, "tensor '%.80s': its shape overflows", name);
    }
    t->numel = numel;
    if (json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1)))
        return qn_file_error(err, errlen, path, "tensor '%.80s': data_offsets must be [begin, end]", name);
    json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
    if (b < 0 || e < b || (size_t)e > data_len)
        return qn_file_error(err, errlen, path, "tensor '%.80s': data_offsets [%lld, %lld] outside the %zu data bytes", name,
                             (long long)b, (long long)e, data_len);
    size_t bytes;
    if (__builtin_mul_overflow(numel, (size_t)size, &bytes) || bytes != (size_t)(e - b))
        return qn_file_error(err, errlen, path, "tensor '%.80s': %zu elements of %s need %zu bytes, data_offsets give %lld", name,
                             numel, d, numel * (size_t)size, (long long)(e - b));
    t->begin = (size_t)b, t->end = (size_t)e;
    return 0;
}

/* Validate the image and fill st's tensors; st->buf is left for the caller to set. */
static int parse_header(const char *path, const unsigned char *buf, size_t len, qn_safetensors *st, char *err,
                        size_t errlen) {
    memset(st, 0, sizeof *st);
    if (len < 8) return qn_file_error(err, errlen, path, "not a safetensors file (shorter than its 8-byte header length)");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > MAX_HEADER) return qn_file_error(err, errlen, path, "header length %llu is larger than 100 MiB", (unsigned long long)hlen);
    if (hlen > len - 8)
        return qn_file_error(err, errlen, path, "header length %llu runs past the end of the file (%zu bytes)", (unsigned long long)hlen, len);
    json_error_t je;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) return qn_file_error(err, errlen, path, "header is not valid JSON: %.200s (byte %d)", je.text, je.position);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = qn_file_error(err, errlen, path, "header is not a JSON object");
        goto out;
    }
    size_t data_len = len - 8 - (size_t)hlen;
    st->tensors = calloc(json_object_size(root) + 1, sizeof *st->tensors);
    if (!st->tensors) {
        rc = qn_file_error(err, errlen, path, "out of memory");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v)) {
                rc = qn_file_error(err, errlen, path, "__metadata__ is not an object");
                goto out;
            }
            json_object_foreach(v, mk, mv) if (!json_is_string(mv)) {
                rc = qn_file_error(err, errlen, path, "__metadata__ value '%.80s' is not a string", mk);
                goto out;
            }
            continue;
        }
        qn_st_tensor *t = &st->tensors[st->ntensors];
        if ((rc = parse_entry(path, key, v, t, data_len, err, errlen)) != 0) goto out;
        if (!(t->name = strdup(key))) {
            rc = qn_file_error(err, errlen, path, "out of memory");
            goto out;
        }
        st->ntensors++;
    }
    /* contiguous, not overlapping, covering the data exactly */
    qn_st_tensor *sorted = malloc(((size_t)st->ntensors + 1) * sizeof *sorted);
    if (!sorted) {
        rc = qn_file_error(err, errlen, path, "out of memory");
        goto out;
    }
    memcpy(sorted, st->tensors, (size_t)st->ntensors * sizeof *sorted);
    qsort(sorted, (size_t)st->ntensors, sizeof *sorted, cmp_begin);
    size_t at = 0;
    for (int i = 0; i < st->ntensors && !rc; i++) {
        if (sorted[i].begin != at)
            rc = qn_file_error(err, errlen, path, "tensor '%.80s' starts at byte %zu where %zu was expected (%s)", sorted[i].name,
                               sorted[i].begin, at, sorted[i].begin < at ? "tensors overlap" : "a hole in the data");
        at = sorted[i].end;
    }
    if (!rc && at != data_len)
        rc = qn_file_error(err, errlen, path, "the tensors cover %zu of the %zu data bytes", at, data_len);
    free(sorted);
    if (rc) goto out;
    if (!(st->path = strdup(path))) {
        rc = qn_file_error(err, errlen, path, "out of memory");
        goto out;
    }
    st->len = len;
    st->data_start = 8 + (size_t)hlen;
out:
    json_decref(root);
    if (rc) qn_st_close(st);
    return rc;
}

int qn_st_parse(const char *path, const unsigned char *buf, size_t len, qn_safetensors *st, char *err, size_t errlen) {
    int rc = parse_header(path, buf, len, st, err, errlen);
    if (rc) return rc;
    if (!(st->buf = malloc(len ? len : 1))) {
        qn_st_close(st);
        return qn_file_error(err, errlen, path, "out of memory");
    }
    memcpy(st->buf, buf, len);
    return 0;
}

int qn_st_open_mapped(const char *path, qn_safetensors *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        return e == ENOENT || e == EACCES || e == EISDIR ? 2 : 1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return qn_file_error(err, errlen, path, "not a regular file");
    }
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        close(fd);
        return qn_file_error(err, errlen, path, "not a safetensors file (shorter than its 8-byte header length)");
    }
    unsigned char *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map %zu bytes: %s", path, len, strerror(errno));
        return 1;
    }
    int rc = parse_header(path, map, len, st, err, errlen);
    if (rc) {
        munmap(map, len);
        return rc;
    }
    st->buf = map, st->mapped = 1;
    return 0;
}

const void *qn_st_data(const qn_safetensors *st, const qn_st_tensor *t) { return st->buf + st->data_start + t->begin; }

int qn_st_open(const char *path, qn_safetensors *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return errno == ENOENT || errno == EACCES || errno == EISDIR ? 2 : 1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return qn_file_error(err, errlen, path, "not a regular file");
    }
    size_t len = (size_t)sb.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf || fread(buf, 1, len, f) != len) {
        fclose(f);
        free(buf);
        snprintf(err, errlen, "%s: cannot read %zu bytes", path, len);
        return 1;
    }
    fclose(f);
    int rc = qn_st_parse(path, buf, len, st, err, errlen);
    free(buf);
    return rc;
}

const qn_st_tensor *qn_st_find(const qn_safetensors *st, const char *name) {
    for (int i = 0; i < st->ntensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}


int qn_st_read_f32(const qn_safetensors *st, const qn_st_tensor *t, float *out) {
    const unsigned char *p = st->buf + st->data_start + t->begin;
    int size = dtype_size(t->dtype);
    for (size_t i = 0; i < t->numel; i++, p += size) {
        switch (t->dtype) {
        case QN_ST_F32: memcpy(&out[i], p, 4); break;
        case QN_ST_F64: {
            double d;
            memcpy(&d, p, 8);
            out[i] = (float)d;
            break;
        }
        case QN_ST_F16: {
            uint16_t h;
            memcpy(&h, p, 2);
            out[i] = qn_f16_to_f32(h);
            break;
        }
        case QN_ST_BF16: {
            uint32_t b = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 24;
            memcpy(&out[i], &b, 4);
            break;
        }
        default: return -1;
        }
    }
    return 0;
}
