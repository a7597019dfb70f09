/* format_apply.c: fake quantization of an array of any shape by a qn_format, and its storage cost. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_formats.h"
#include "qn_infer_formats.h"
#include "qn_kernels.h"

typedef struct {
    size_t n, rows, last, lead, rest;
} shape_info;

static int shape_of(const int64_t *shape, int ndim, shape_info *s, char *err, size_t errlen) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || __builtin_mul_overflow(n, (size_t)shape[d], &n)) {
            snprintf(err, errlen, "shape dimension %d (%lld) is negative or too large", d, (long long)shape[d]);
            return -1;
        }
    }
    s->n = n;
    s->last = ndim ? (size_t)shape[ndim - 1] : 1;
    s->rows = s->last ? n / s->last : 0;
    s->lead = ndim ? (size_t)shape[0] : 1;
    s->rest = s->lead ? n / s->lead : 0;
    return 0;
}

static int int8_rowwise(const qn_format *f, const float *x, float *y, const shape_info *s) {
    if (f->threshold <= 0.0f) {
        qn_quant_int8_rowwise(x, y, (int)s->rows, (int)s->last);
        return 0;
    }
    /* LLM.int8: outlier columns stay at full precision, the rest goes through int8 rows whose scale
     * excludes the outliers. */
    int8_t *q = malloc(s->n ? s->n : 1);
    float *stat = malloc((s->rows ? s->rows : 1) * sizeof *stat);
    uint8_t *outlier = malloc(s->last ? s->last : 1);
    if (!q || !stat || !outlier) {
        free(q), free(stat), free(outlier);
        return -1;
    }
    qn_llm_int8_decompose(x, (int)s->rows, (int)s->last, f->threshold, q, stat, outlier);
    float *deq = malloc((s->n ? s->n : 1) * sizeof *deq);
    if (!deq) {
        free(q), free(stat), free(outlier);
        return -1;
    }
    qn_int8_rowwise_dequantize(q, stat, (int)s->rows, (int)s->last, deq);
    for (size_t r = 0; r < s->rows; r++)
        for (size_t c = 0; c < s->last; c++) y[r * s->last + c] = outlier[c] ? x[r * s->last + c] : deq[r * s->last + c];
    free(q), free(stat), free(outlier), free(deq);
    return 0;
}

int qn_format_apply(const qn_format *f, const float *x, float *y, const int64_t *shape, int ndim, char *err,
                    size_t errlen) {
    shape_info s;
    if (shape_of(shape, ndim, &s, err, errlen) != 0) return -1;
    if (s.n == 0) return 0;
    int rc = 0;
    switch (f->kind) {
    case QN_FMT_NONE:
        if (x != y) memcpy(y, x, s.n * sizeof *y);
        break;
    case QN_FMT_INTEGER: qn_quant_integer(x, y, s.n, f->width, f->frac_width); break;
    case QN_FMT_MINIFLOAT_DENORM:
        qn_quant_minifloat_denorm(x, y, s.n, f->width, f->exponent_width, f->exponent_bias);
        break;
    case QN_FMT_MINIFLOAT_IEEE: qn_quant_minifloat_ieee(x, y, s.n, f->width, f->exponent_width, f->exponent_bias); break;
    case QN_FMT_LOG: qn_quant_log(x, y, s.n, f->width, f->exponent_bias); break;
    case QN_FMT_BLOCK_FP:
        rc = qn_quant_block_fp(x, y, s.rows, s.last, f->block_size, f->width, f->exponent_width, f->exponent_bias);
        break;
    case QN_FMT_BLOCK_MINIFLOAT:
        rc = qn_quant_block_minifloat(x, y, s.rows, s.last, f->block_size, f->width, f->exponent_width,
                                      f->exponent_bias_width);
        break;
    case QN_FMT_BLOCK_LOG:
        rc = qn_quant_block_log(x, y, s.rows, s.last, f->block_size, f->width, f->exponent_bias_width);
        break;
    case QN_FMT_BINARY: qn_quant_binary(x, y, s.lead, s.rest, f->bipolar); break;
    case QN_FMT_TERNARY: qn_quant_ternary(x, y, s.lead, s.rest, f->scaling_factor); break;
    case QN_FMT_MXINT: qn_quant_mxint(x, y, s.rows, s.last, f->block_size, f->width); break;
    case QN_FMT_MXFP: qn_quant_mxfp(x, y, s.rows, s.last, f->block_size, f->exponent_width, f->frac_width); break;
    case QN_FMT_INT8:
        if (s.rows > 0x7FFFFFFF || s.last > 0x7FFFFFFF) {
            snprintf(err, errlen, "int8: %zu x %zu is too large", s.rows, s.last);
            return -1;
        }
        rc = int8_rowwise(f, x, y, &s);
        break;
    case QN_FMT_NF4:
    case QN_FMT_FP4: {
        qn_4bit_tensor t;
        if (qn_4bit_quantize(x, s.n, f->kind == QN_FMT_NF4 ? QN_4BIT_NF4 : QN_4BIT_FP4, f->block_size, f->double_quant,
                             &t) != 0) {
            rc = -1;
            break;
        }
        qn_4bit_dequantize(&t, y);
        qn_4bit_free(&t);
        break;
    }
    case QN_FMT_FP16: qn_quant_fp16(x, y, s.n); break;
    case QN_FMT_BF16: qn_quant_bf16(x, y, s.n); break;
    default: rc = -1; break;
    }
    if (rc != 0) snprintf(err, errlen, "%s: out of memory or bad parameters", qn_format_name(f->kind));
    return rc;
}

double qn_format_bits_per_element(const qn_format *f, const int64_t *shape, int ndim) {
    shape_info s;
    char err[64];
    if (shape_of(shape, ndim, &s, err, sizeof err) != 0 || s.n == 0) return NAN;
    double n = (double)s.n;
    double row_blocks = f->block_size > 0 ? (double)s.rows * ceil((double)s.last / f->block_size) : 0;
    double flat_blocks = f->block_size > 0 ? ceil(n / f->block_size) : 0;
    switch (f->kind) {
    case QN_FMT_NONE: return 32.0;
    case QN_FMT_INTEGER:
    case QN_FMT_MINIFLOAT_DENORM:
    case QN_FMT_MINIFLOAT_IEEE:
    case QN_FMT_LOG: return f->width;
    case QN_FMT_BLOCK_FP: return f->width + row_blocks * f->exponent_width / n;
    case QN_FMT_BLOCK_MINIFLOAT:
    case QN_FMT_BLOCK_LOG: return f->width + row_blocks * f->exponent_bias_width / n;
    case QN_FMT_BINARY: return 1.0 + (f->bipolar ? 0.0 : 32.0 * (double)s.lead / n);
    case QN_FMT_TERNARY: return log2(3.0) + (f->scaling_factor ? 32.0 * (double)s.lead / n : 0.0);
    case QN_FMT_MXINT: return f->width + row_blocks * 8.0 / n;
    case QN_FMT_MXFP: return 1 + f->exponent_width + f->frac_width + row_blocks * 8.0 / n;
    case QN_FMT_INT8: return 8.0 + 32.0 * (double)s.rows / n;
    case QN_FMT_NF4:
    case QN_FMT_FP4:
        if (!f->double_quant) return 4.0 + flat_blocks * 32.0 / n;
        return 4.0 + (flat_blocks * 8.0 + ceil(flat_blocks / 256.0) * 32.0 + 32.0) / n;
    case QN_FMT_FP16:
    case QN_FMT_BF16: return 16.0;
    default: return NAN;
    }
}
