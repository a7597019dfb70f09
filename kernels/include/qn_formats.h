/* qn_formats.h: every number format quench can fake-quantize, by MASE's names and keys.
 *
 * Contract:
 *  - A format is described by a qn_format (parsed from "NAME" or "NAME:key=value,..." by
 *    qn_format_parse, or filled by the job file's quant section). Unset keys take MASE's defaults.
 *  - qn_format_apply() fake-quantizes a float32 array of any shape: float32 in, float32 out, with
 *    MASE's float32 semantics element by element (docs/formats.md lists the few places quench
 *    deliberately differs). Block formats act along the last axis in blocks of block_size
 *    consecutive elements (the last block of a row may be partial: it is padded with zeros, as
 *    MASE pads). binary (not bipolar) and ternary take their statistics per index of the first axis,
 *    as MASE does per sample.
 *  - The gradient of every format is the identity (straight-through): callers pass gradients on.
 *  - Inference formats (int8, nf4, fp4, fp16, bf16) quantize to their packed storage and back.
 */
#ifndef QN_FORMATS_H
#define QN_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    QN_FMT_NONE = 0,
    QN_FMT_INTEGER,
    QN_FMT_MINIFLOAT_DENORM,
    QN_FMT_MINIFLOAT_IEEE,
    QN_FMT_LOG,
    QN_FMT_BLOCK_FP,
    QN_FMT_BLOCK_MINIFLOAT,
    QN_FMT_BLOCK_LOG,
    QN_FMT_BINARY,
    QN_FMT_TERNARY,
    QN_FMT_MXINT,
    QN_FMT_MXFP,
    QN_FMT_INT8,
    QN_FMT_NF4,
    QN_FMT_FP4,
    QN_FMT_FP16,
    QN_FMT_BF16,
    QN_FMT_COUNT
} qn_format_kind;

#define QN_BIAS_DEFAULT (-100000) /* exponent_bias not given: 2^(exponent_width-1) - 1 */

typedef struct {
    qn_format_kind kind;
    int width;               /* integer, minifloat, log, block_*, mxint (element bits) */
    int frac_width;          /* integer; mxfp: element mantissa bits */
    int exponent_width;      /* minifloat, block_fp, block_minifloat; mxfp: element exponent bits */
    int exponent_bias;       /* minifloat, log, block_fp; QN_BIAS_DEFAULT for MASE's default */
    int exponent_bias_width; /* block_minifloat, block_log */
    int block_size;          /* block_*, mx*, nf4/fp4 (elements per block along the last axis) */
    int bipolar;             /* binary: +-1 instead of {0, alpha} */
    int scaling_factor;      /* ternary: scale by the mean magnitude kept */
    int double_quant;        /* nf4/fp4: quantize the absmax too (bitsandbytes) */
    float threshold;         /* int8: LLM.int8 outlier threshold, 0 = none */
} qn_format;

/* Name of a kind ("integer", ...), and the kind of a name (QN_FMT_NONE if unknown; "none" too). */
const char *qn_format_name(qn_format_kind kind);
qn_format_kind qn_format_kind_of(const char *name);
/* Names of all formats, "a, b, c" (for messages). */
const char *qn_format_names(void);

/* A format of `kind` with MASE's defaults for its keys (width etc. left 0 where MASE has none). */
void qn_format_defaults(qn_format_kind kind, qn_format *f);
/* Set key=value on a format (MASE key names). Returns 0, or -1 with a message in err. */
int qn_format_set(qn_format *f, const char *key, double value, char *err, size_t errlen);
/* The keys a format takes, "width, frac_width". */
const char *qn_format_keys(qn_format_kind kind);
/* Check that every required key is set and in range. Returns 0 or -1 with a message. */
int qn_format_check(const qn_format *f, char *err, size_t errlen);
/* Parse "NAME" or "NAME:key=value,key=value" and check it. Returns 0 or -1 with a message. */
int qn_format_parse(const char *spec, qn_format *f, char *err, size_t errlen);
/* Canonical text of a format ("minifloat_ieee:width=8,exponent_width=4,exponent_bias=7"). */
char *qn_format_describe(const qn_format *f, char *buf, size_t len);

/* Fake-quantize x (shape of ndim dims, row-major) into y (in place allowed). rng_seed drives nothing
 * today (every format is deterministic) and is reserved for stochastic rounding. Returns 0, or -1
 * when out of memory or the format cannot apply to this shape, with a message. */
int qn_format_apply(const qn_format *f, const float *x, float *y, const int64_t *shape, int ndim, char *err,
                    size_t errlen);
/* Storage cost of the format for this shape, in bits per element, scales and offsets included. */
double qn_format_bits_per_element(const qn_format *f, const int64_t *shape, int ndim);

/* ---- element and block kernels (CPU), exposed for tests and the CUDA comparisons ---- */
void qn_quant_minifloat_denorm(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias);
void qn_quant_minifloat_ieee(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias);
void qn_quant_log(const float *x, float *y, size_t n, int width, int exponent_bias);
/* Block formats over rows x cols (row-major), blocks of block_size along each row. */
int qn_quant_block_fp(const float *x, float *y, size_t rows, size_t cols, int block_size, int width,
                      int exponent_width, int exponent_bias);
int qn_quant_block_minifloat(const float *x, float *y, size_t rows, size_t cols, int block_size, int width,
                             int exponent_width, int exponent_bias_width);
int qn_quant_block_log(const float *x, float *y, size_t rows, size_t cols, int block_size, int width,
                       int exponent_bias_width);
void qn_quant_mxint(const float *x, float *y, size_t rows, size_t cols, int block_size, int element_bits);
void qn_quant_mxfp(const float *x, float *y, size_t rows, size_t cols, int block_size, int exp_bits, int frac_bits);
/* binary / ternary over lead x rest (statistics per lead index). */
void qn_quant_binary(const float *x, float *y, size_t lead, size_t rest, int bipolar);
void qn_quant_ternary(const float *x, float *y, size_t lead, size_t rest, int scaling_factor);

/* ---- MXINT8 in the OCP layout: one E8M0 scale byte and 32 int8 elements per block ---- */
typedef struct {
    uint8_t scale;       /* E8M0: 2^(scale - 127); 255 is NaN */
    int8_t elem[32];     /* value = elem * 2^-6 * 2^(scale - 127) */
} qn_mxint8_block;
#ifdef __cplusplus
static_assert(sizeof(qn_mxint8_block) == 33, "MXINT8 block is 1 scale byte + 32 elements");
#else
_Static_assert(sizeof(qn_mxint8_block) == 33, "MXINT8 block is 1 scale byte + 32 elements");
#endif
/* Quantize n floats (n a multiple of 32) to blocks, as the lab-4 quantizer does (scale from the
 * largest element exponent, round half to even, clamp to [-127, 127]). */
void qn_mxint8_pack(const float *x, size_t n, qn_mxint8_block *out);
/* Exact dequantization to bf16 bits, correct for every scale byte (0 .. 254; 255 gives NaN) and
 * every element (-128 included), rounding to nearest even where bf16 cannot hold the value. */
void qn_mxint8_to_bf16(const qn_mxint8_block *in, size_t nblocks, uint16_t *out);

#ifdef QUENCH_HAVE_CUDA
/* The same on device pointers (shape on the host). Block statistics are computed on the device;
 * results equal the CPU ones bit for bit except where a per-row mean (binary, ternary) is summed in
 * another order. Returns 0, or -1 with a message naming the failed CUDA call. */
int qn_cuda_format_apply(const qn_format *f, const float *d_x, float *d_y, const int64_t *shape, int ndim, char *err,
                         size_t errlen);
/* MXINT8 blocks (device) to bf16 bits (device), exact for every scale and element. */
int qn_cuda_mxint8_to_bf16(const qn_mxint8_block *d_in, size_t nblocks, uint16_t *d_out, char *err, size_t errlen);
#endif

#ifdef __cplusplus
}
#endif
#endif
