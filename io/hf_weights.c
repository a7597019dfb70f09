/* hf_weights.c: a Hugging Face directory's weights (see qn_hf_llm.h): model.safetensors, or the
 * shards model.safetensors.index.json names, each memory-mapped once; tensors handed out in place
 * (aligned F32, F16, BF16) or converted once (to float32 on request; F64, unaligned F32). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_error.h"
#include "hf_internal.h"
#include "qn_hf_llm.h"
#include "qn_infer_formats.h"

#define MAX_INDEX_BYTES ((size_t)64 << 20)

void qn_hf_index_free(qn_hf_index *ix) {
    for (int i = 0; i < ix->n; i++) free(ix->names[i]), free(ix->shards[i]);
    for (int i = 0; i < ix->nshards; i++) free(ix->shard_files[i]);
    free(ix->names), free(ix->shards), free(ix->shard_files);
    memset(ix, 0, sizeof *ix);
}

/* A shard must be a plain file name next to the index: no directories, nothing hidden. */
static int plain_shard_name(const char *s) {
    size_t n = strlen(s), ext = strlen(".safetensors");
    return n > ext && !strchr(s, '/') && !strchr(s, '\\') && s[0] != '.' && !strcmp(s + n - ext, ".safetensors");
}

int qn_hf_index_parse(const char *path, const char *text, size_t len, qn_hf_index *ix, char *err, size_t errlen) {
    memset(ix, 0, sizeof *ix);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return qn_file_error(err, errlen, path, "not valid JSON: %.200s (line %d)", je.text, je.line);
    int rc = 0;
    json_t *map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(map) || json_object_size(map) == 0) {
        rc = qn_file_error(err, errlen, path, "needs a non-empty object 'weight_map' (tensor name -> shard file)");
        goto out;
    }
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_object(meta) && !json_is_null(meta)) {
        rc = qn_file_error(err, errlen, path, "'metadata' must be an object");
        goto out;
    }
    size_t n = json_object_size(map);
    ix->names = calloc(n, sizeof *ix->names), ix->shards = calloc(n, sizeof *ix->shards);
    ix->shard_files = calloc(n, sizeof *ix->shard_files);
    if (!ix->names || !ix->shards || !ix->shard_files) {
        rc = qn_file_error(err, errlen, path, "out of memory");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !plain_shard_name(s)) {
            rc = qn_file_error(err, errlen, path, "weight_map['%.80s'] must name a .safetensors file in the same directory", key);
            goto out;
        }
        if (!(ix->names[ix->n] = strdup(key)) || !(ix->shards[ix->n] = strdup(s))) {
            rc = qn_file_error(err, errlen, path, "out of memory");
            goto out;
        }
        ix->n++;
        int seen = 0;
        for (int i = 0; i < ix->nshards && !seen; i++) seen = !strcmp(ix->shard_files[i], s);
        if (!seen && !(ix->shard_files[ix->nshards++] = strdup(s))) {
            rc = qn_file_error(err, errlen, path, "out of memory");
            goto out;
        }
    }
out:
    json_decref(root);
    if (rc) qn_hf_index_free(ix);
    return rc;
}

void qn_hf_weights_close(qn_hf_weights *w) {
    for (int i = 0; i < w->nshards; i++) qn_st_close(&w->shards[i]);
    for (int i = 0; i < w->nowned; i++) free(w->owned[i]);
    free(w->shards), free(w->owned), free(w->dir);
    memset(w, 0, sizeof *w);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int qn_hf_weights_open(const char *dir, qn_hf_weights *w, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    char path[4096], ipath[4096];
    snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!(w->dir = strdup(dir))) return qn_file_error(err, errlen, dir, "out of memory");
    int rc = 0;
    if (!exists(ipath)) {
        if (!exists(path)) {
            qn_hf_weights_close(w);
            return qn_file_error(err, errlen, dir,
                                 "neither model.safetensors nor model.safetensors.index.json is there; point --model at a "
                                 "Hugging Face model directory");
        }
        if (!(w->shards = calloc(1, sizeof *w->shards))) return qn_hf_weights_close(w), qn_file_error(err, errlen, dir, "out of memory");
        if ((rc = qn_st_open_mapped(path, &w->shards[0], err, errlen)) != 0) return qn_hf_weights_close(w), rc;
        w->nshards = 1;
        w->bytes_mapped = w->shards[0].len;
        return 0;
    }
    char *text;
    size_t len;
    qn_hf_index ix;
    if ((rc = qn_hf_read_small_file(ipath, MAX_INDEX_BYTES, &text, &len, err, errlen)) != 0) return qn_hf_weights_close(w), rc;
    rc = qn_hf_index_parse(ipath, text, len, &ix, err, errlen);
    free(text);
    if (rc) return qn_hf_weights_close(w), rc;
    if (!(w->shards = calloc((size_t)ix.nshards, sizeof *w->shards))) {
        rc = qn_file_error(err, errlen, ipath, "out of memory");
        goto out;
    }
    for (int i = 0; i < ix.nshards; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, ix.shard_files[i]);
        if (!exists(path)) {
            rc = qn_file_error(err, errlen, path, "missing; model.safetensors.index.json names it: download every shard");
            goto out;
        }
        if ((rc = qn_st_open_mapped(path, &w->shards[i], err, errlen)) != 0) goto out;
        w->nshards++;
        w->bytes_mapped += w->shards[i].len;
    }
    for (int k = 0; k < ix.n; k++)
        for (int i = 0; i < ix.nshards; i++)
            if (!strcmp(ix.shards[k], ix.shard_files[i]) && !qn_st_find(&w->shards[i], ix.names[k])) {
                rc = qn_file_error(err, errlen, w->shards[i].path,
                                   "has no tensor '%.120s', which model.safetensors.index.json places there; the index and "
                                   "the shards do not belong together",
                                   ix.names[k]);
                goto out;
            }
out:
    qn_hf_index_free(&ix);
    if (rc) qn_hf_weights_close(w);
    return rc;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && at < n; i++) at += (size_t)snprintf(buf + at, n - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

/* The tensor `name` with its shard, checked against shape: 0, 1 (absent and optional) or 2 with err. */
static int find_checked(qn_hf_weights *w, const char *name, int ndim, const int64_t *shape, int optional,
                        const qn_safetensors **st_out, const qn_st_tensor **t_out, char *err, size_t errlen) {
    const qn_safetensors *st = NULL;
    const qn_st_tensor *t = NULL;
    for (int i = 0; i < w->nshards && !t; i++)
        if ((t = qn_st_find(&w->shards[i], name))) st = &w->shards[i];
    if (!t) {
        if (optional) return 1;
        return qn_file_error(err, errlen, w->nshards == 1 ? w->shards[0].path : w->dir,
                             "no tensor '%.120s'; config.json's model_type and this checkpoint do not match", name);
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[160], want[160];
        shape_str(have, sizeof have, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        return qn_file_error(err, errlen, st->path, "tensor '%.120s' has shape %s where config.json implies %s; the config and the weights do not belong together",
                             name, have, want);
    }
    if (t->dtype != QN_ST_F32 && t->dtype != QN_ST_F16 && t->dtype != QN_ST_BF16 && t->dtype != QN_ST_F64)
        return qn_file_error(err, errlen, st->path, "tensor '%.120s' is %s; weights must be F32, F16 or BF16", name,
                             qn_st_dtype_name(t->dtype));
    *st_out = st, *t_out = t;
    return 0;
}

/* A buffer of `bytes` the weights own (counted in bytes_converted) for a copy of `what`, or NULL with err. */
static void *owned_buffer(qn_hf_weights *w, size_t bytes, const char *path, const char *what, char *err, size_t errlen) {
    void **owned = realloc(w->owned, ((size_t)w->nowned + 1) * sizeof *owned);
    void *buf = owned ? malloc(bytes ? bytes : 1) : NULL;
    if (owned) w->owned = owned;
    if (!buf) {
        qn_file_error(err, errlen, path, "out of memory for a copy of %.160s", what);
        return NULL;
    }
    w->owned[w->nowned++] = buf;
    w->bytes_converted += bytes;
    return buf;
}

int qn_hf_weights_f32(qn_hf_weights *w, const char *name, int ndim, const int64_t *shape, int optional,
                      const float **out, char *err, size_t errlen) {
    *out = NULL;
    const qn_safetensors *st;
    const qn_st_tensor *t;
    int rc = find_checked(w, name, ndim, shape, optional, &st, &t, err, errlen);
    if (rc) return rc;
    const void *data = qn_st_data(st, t);
    if (t->dtype == QN_ST_F32 && ((uintptr_t)data & 3) == 0) {
        *out = data;
        return 0;
    }
    float *buf = owned_buffer(w, t->numel * sizeof(float), st->path, name, err, errlen);
    if (!buf) return 2;
    qn_st_read_f32(st, t, buf);
    *out = buf;
    return 0;
}

int qn_hf_weights_view(qn_hf_weights *w, const char *name, int ndim, const int64_t *shape, int optional,
                       qn_hf_view *out, char *err, size_t errlen) {
    *out = (qn_hf_view){0};
    const qn_safetensors *st;
    const qn_st_tensor *t;
    int rc = find_checked(w, name, ndim, shape, optional, &st, &t, err, errlen);
    if (rc) return rc;
    const void *data = qn_st_data(st, t);
    if (t->dtype == QN_ST_F16 || t->dtype == QN_ST_BF16) {
        if ((uintptr_t)data & 1) { /* an odd offset: realigned, still 16 bits */
            void *buf = owned_buffer(w, t->numel * 2, st->path, name, err, errlen);
            if (!buf) return 2;
            memcpy(buf, data, t->numel * 2);
            data = buf;
        }
        *out = (qn_hf_view){t->dtype, data, t->numel};
        return 0;
    }
    const float *f;
    if ((rc = qn_hf_weights_f32(w, name, ndim, shape, optional, &f, err, errlen)) != 0) return rc;
    *out = (qn_hf_view){QN_ST_F32, f, t->numel};
    return 0;
}

void qn_hf_view_to_f32(const qn_hf_view *v, size_t i0, size_t n, float *out) {
    switch (v->dtype) {
    case QN_ST_F16: {
        const uint16_t *h = (const uint16_t *)v->data + i0;
        for (size_t i = 0; i < n; i++) out[i] = qn_f16_to_f32(h[i]);
        break;
    }
    case QN_ST_BF16: {
        const uint16_t *h = (const uint16_t *)v->data + i0;
        for (size_t i = 0; i < n; i++) out[i] = qn_bf16_to_f32(h[i]);
        break;
    }
    default: memcpy(out, (const float *)v->data + i0, n * sizeof(float)); break;
    }
}

int qn_hf_weights_widen(qn_hf_weights *w, const qn_hf_view *v, const float **out, char *err, size_t errlen) {
    if (v->dtype == QN_ST_F32) {
        *out = v->data;
        return 0;
    }
    float *buf = owned_buffer(w, v->numel * sizeof(float), w->dir, "a 16-bit weight in float32", err, errlen);
    if (!buf) return 2;
    qn_hf_view_to_f32(v, 0, v->numel, buf);
    *out = buf;
    return 0;
}

void qn_hf_weights_release(const qn_hf_weights *w, const void *data, size_t bytes) {
    const unsigned char *p = data;
    for (int i = 0; i < w->nshards; i++) {
        const qn_safetensors *st = &w->shards[i];
        if (!st->mapped || p < st->buf || p >= st->buf + st->len || bytes > (size_t)(st->buf + st->len - p)) continue;
        /* only pages wholly inside: a neighbour sharing the first or last page may still be in use */
        const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + bytes) & ~(page - 1);
        if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
        return;
    }
}
