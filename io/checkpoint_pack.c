/* checkpoint_pack.c: quantized tensors as bit-packed codes and back (see qn_checkpoint.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_checkpoint.h"

static const char *const enc_names[] = {"float32", "fixed", "binary", "ternary"};

int64_t qn_ckpt_rows(const qn_ckpt_tensor *t) { return t->ndim == 2 ? t->shape[0] : 1; }

const char *qn_encoding_name(qn_encoding e) { return (unsigned)e < 4 ? enc_names[e] : "?"; }

int qn_encoding_of(const char *name) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, enc_names[i])) return i;
    return -1;
}

int64_t qn_ckpt_numel(const qn_ckpt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

void qn_pack_bits(const int64_t *codes, size_t n, int width, uint8_t *out) {
    size_t nbytes = (n * (size_t)width + 7) / 8;
    memset(out, 0, nbytes);
    uint64_t mask = width >= 64 ? ~0ull : (1ull << width) - 1;
    size_t bit = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t c = (uint64_t)codes[i] & mask;
        for (int done = 0; done < width;) {
            /* as many bits as fit in the current byte */
            int at = (int)(bit & 7), take = 8 - at < width - done ? 8 - at : width - done;
            out[bit >> 3] |= (uint8_t)(((c >> done) & ((1u << take) - 1)) << at);
            done += take, bit += (size_t)take;
        }
    }
}

void qn_unpack_bits(const uint8_t *in, size_t n, int width, int is_signed, int64_t *codes) {
    size_t bit = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t c = 0;
        for (int done = 0; done < width;) {
            int at = (int)(bit & 7), take = 8 - at < width - done ? 8 - at : width - done;
            c |= (uint64_t)((in[bit >> 3] >> at) & ((1u << take) - 1)) << done;
            done += take, bit += (size_t)take;
        }
        if (is_signed && width < 64 && (c >> (width - 1)) & 1) c |= ~0ull << width; /* sign-extend */
        codes[i] = (int64_t)c;
    }
}

/* One value from its code: the same float operation the quantizer ends with, so the bits agree. */
static float value_of(const qn_ckpt_tensor *t, int64_t code, int64_t row) {
    switch (t->enc) {
    case QN_ENC_FIXED: return ldexpf((float)code, -t->frac_width);
    case QN_ENC_BINARY: return t->bipolar ? (code ? 1.0f : -1.0f) : (code ? t->scale[row] : 0.0f);
    case QN_ENC_TERNARY: return (float)code * t->scale[row];
    default: return NAN;
    }
}

static int same_value(float a, float b) {
    if (a == 0.0f && b == 0.0f) return 1; /* codes have no -0.0 */
    return memcmp(&a, &b, sizeof a) == 0;
}

static int to_float32(qn_ckpt_tensor *t, const float *x, size_t n) {
    free(t->codes), free(t->scale);
    t->codes = NULL, t->scale = NULL;
    t->enc = QN_ENC_FLOAT32;
    t->width = 32, t->frac_width = 0;
    t->values = malloc(n * sizeof(float) + 1);
    if (!t->values) return -1;
    memcpy(t->values, x, n * sizeof(float));
    return 1;
}

int qn_ckpt_encode(qn_ckpt_tensor *t, qn_encoding enc, const float *x) {
    size_t n = (size_t)qn_ckpt_numel(t);
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = rows ? (int64_t)n / rows : 0;
    if (enc == QN_ENC_FLOAT32) return to_float32(t, x, n) < 0 ? -1 : 0;
    t->enc = enc;
    if (enc == QN_ENC_BINARY) t->width = 1;
    if (enc == QN_ENC_TERNARY) t->width = 2;
    if (t->width < 1 || t->width > 32) return to_float32(t, x, n);
    int64_t *codes = malloc(n * sizeof *codes + 1);
    int scaled = enc == QN_ENC_TERNARY || (enc == QN_ENC_BINARY && !t->bipolar);
    t->scale = scaled ? calloc((size_t)rows + 1, sizeof(float)) : NULL;
    if (!codes || (scaled && !t->scale)) {
        free(codes);
        return -1;
    }
    /* A row's scale is the magnitude of its nonzero values (all equal when the values are codes). */
    for (int64_t r = 0; scaled && r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            if (x[r * cols + c] != 0.0f) {
                t->scale[r] = fabsf(x[r * cols + c]);
                break;
            }
    int exact = 1;
    const double lo = -ldexp(1.0, t->width - 1), hi = ldexp(1.0, t->width - 1) - 1;
    for (size_t i = 0; i < n && exact; i++) {
        int64_t row = cols ? (int64_t)i / cols : 0;
        double c;
        if (enc == QN_ENC_FIXED) {
            c = ldexp((double)x[i], t->frac_width);
            if (!(c >= lo && c <= hi) || c != floor(c)) exact = 0;
        } else if (enc == QN_ENC_BINARY) {
            c = t->bipolar ? x[i] > 0.0f : x[i] != 0.0f;
        } else {
            c = x[i] > 0.0f ? 1 : x[i] < 0.0f ? -1 : 0;
        }
        codes[i] = exact ? (int64_t)c : 0;
        exact = exact && same_value(value_of(t, codes[i], row), x[i]);
    }
    if (!exact) {
        free(codes);
        return to_float32(t, x, n);
    }
    t->codes = malloc((n * (size_t)t->width + 7) / 8 + 1);
    if (!t->codes) {
        free(codes);
        return -1;
    }
    qn_pack_bits(codes, n, t->width, t->codes);
    free(codes);
    return 0;
}

int qn_ckpt_decode(const qn_ckpt_tensor *t, float *out) {
    size_t n = (size_t)qn_ckpt_numel(t);
    if (t->enc == QN_ENC_FLOAT32) {
        if (!t->values) return -1;
        memcpy(out, t->values, n * sizeof(float));
        return 0;
    }
    int scaled = t->enc == QN_ENC_TERNARY || (t->enc == QN_ENC_BINARY && !t->bipolar);
    if (!t->codes || t->width < 1 || t->width > 32 || (scaled && !t->scale) || (int)t->enc > QN_ENC_TERNARY) return -1;
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = rows ? (int64_t)n / rows : 0;
    int64_t chunk[1024];
    for (size_t i0 = 0; i0 < n; i0 += 1024) {
        size_t m = n - i0 < 1024 ? n - i0 : 1024;
        /* chunks start on whole bytes: 1024 codes of any width fill whole bytes */
        qn_unpack_bits(t->codes + i0 * (size_t)t->width / 8, m, t->width, t->enc != QN_ENC_BINARY, chunk);
        for (size_t k = 0; k < m; k++) out[i0 + k] = value_of(t, chunk[k], cols ? (int64_t)(i0 + k) / cols : 0);
    }
    return 0;
}

size_t qn_ckpt_tensor_bytes(const qn_ckpt_tensor *t) {
    size_t n = (size_t)qn_ckpt_numel(t);
    if (t->enc == QN_ENC_FLOAT32) return n * sizeof(float);
    return (n * (size_t)t->width + 7) / 8 + (t->scale ? (size_t)qn_ckpt_rows(t) * sizeof(float) : 0);
}

void qn_ckpt_free(qn_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->ntensors; i++) {
        free(c->tensors[i].values), free(c->tensors[i].codes), free(c->tensors[i].scale);
    }
    free(c->tensors);
    free(c->master);
    memset(c, 0, sizeof *c);
}
