/* bnb4.c: bitsandbytes' NF4 and FP4 blockwise quantization, with its double quantization of the
 * absmax, following its CUDA kernels bit for bit (shared/research/lowbit-and-kernels.md, section 1):
 * fp32 absmax per block, values multiplied by the fp32 reciprocal, the nearest code by midpoints with
 * a strict >, two codes per byte with the earlier element in the high nibble. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bnb4_elem.h"
#include "qn_infer_formats.h"

const float qn_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* bitsandbytes' own FP4 (not OCP E2M1): bit 3 is the sign, bits 2..0 index magnitudes / 12. */
const float qn_fp4_code[16] = {0.0f, 0.0625f / 12, 8.0f / 12, 12.0f / 12, 4.0f / 12, 6.0f / 12, 2.0f / 12, 3.0f / 12,
                               -0.0f, -0.0625f / 12, -8.0f / 12, -12.0f / 12, -4.0f / 12, -6.0f / 12, -2.0f / 12, -3.0f / 12};

uint8_t qn_nf4_encode(float v) { return qn_nf4_encode_elem(v); }
uint8_t qn_fp4_encode(float v) { return qn_fp4_encode_elem(v); }

/* ---------------------------------------------------------------- the 8-bit dynamic code */

static float dynamic8[256];
static pthread_once_t dynamic8_once = PTHREAD_ONCE_INIT; /* built once, even with concurrent first callers */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for i = 0..6, the 2^i
 * midpoints of torch.linspace(0.1, 1, 2^i + 1) in float32, times float32(10^(i-6)), both signs;
 * then 0 and 1, sorted. linspace follows ATen's CPU kernel (RangeFactoriesKernel.cpp): step =
 * (end - start) / (steps - 1) in float, the lower half start + step * k, the upper half
 * end - step * (steps - 1 - k). The x86 builds of that kernel (AVX2/AVX512, GCC's default
 * -ffp-contract=fast) fuse each of those into one FMA, so fmaf here: this reproduces, all 256
 * values bit for bit, a published dump of bnb's map (HeCBench quantBnB code.h).
 * Residual uncertainty: a torch whose kernel is not contracted (pre-AVX2 CPU, other compilers), or
 * an older torch (start + k * step throughout), differs by one ulp in about 20 of the 254 entries;
 * a checkpoint's nested_quant_map is the authority when bit-exact loading matters. */
static void build_dynamic8(void) {
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int steps = (1 << i) + 1, half = steps / 2;
        float start = 0.1f, end = 1.0f, step = (end - start) / (float)(steps - 1);
        float bound[65];
        for (int k = 0; k < steps; k++)
            bound[k] = k < half ? fmaf(step, (float)k, start) : fmaf(-step, (float)(steps - 1 - k), end);
        float scale = (float)pow(10.0, i - 6); /* Python's 10**(i-6) (a double), cast to float by torch */
        for (int k = 0; k + 1 < steps; k++) {
            float mean = (bound[k] + bound[k + 1]) / 2.0f;
            dynamic8[n++] = scale * mean;
            dynamic8[n++] = -scale * mean;
        }
    }
    dynamic8[n++] = 0.0f;
    dynamic8[n++] = 1.0f;
    qsort(dynamic8, 256, sizeof(float), cmp_float);
}

const float *qn_dynamic8_code(void) {
    pthread_once(&dynamic8_once, build_dynamic8);
    return dynamic8;
}

uint8_t qn_dynamic8_encode(float x) { return qn_dynamic8_encode_elem(qn_dynamic8_code(), x); }

/* ---------------------------------------------------------------- blockwise 4-bit */

static size_t nblocks_of(size_t n, int bs) { return (n + (size_t)bs - 1) / (size_t)bs; }

void qn_4bit_free(qn_4bit_tensor *t) {
    free(t->packed), free(t->absmax), free(t->absmax_q), free(t->absmax2);
    t->packed = NULL, t->absmax = NULL, t->absmax_q = NULL, t->absmax2 = NULL;
}

int qn_4bit_quantize(const float *x, size_t n, qn_4bit_type type, int blocksize, int double_quant, qn_4bit_tensor *out) {
    memset(out, 0, sizeof *out);
    if (blocksize < 32 || blocksize > 4096 || (blocksize & (blocksize - 1))) return -1;
    size_t nb = nblocks_of(n, blocksize);
    out->type = type, out->blocksize = blocksize, out->n = n, out->double_quant = double_quant;
    out->packed = calloc((n + 1) / 2 + 1, 1);
    out->absmax = malloc((nb ? nb : 1) * sizeof(float));
    if (!out->packed || !out->absmax) {
        qn_4bit_free(out);
        return -1;
    }
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * (size_t)blocksize, hi = lo + (size_t)blocksize < n ? lo + (size_t)blocksize : n;
        float amax = 0.0f;
        for (size_t i = lo; i < hi; i++) amax = fmaxf(amax, fabsf(x[i])); /* fmaxf: NaN ignored, as the kernel's max */
        out->absmax[b] = amax;
        float r = 1.0f / amax; /* 0 -> inf: x * inf is NaN (or inf), comparisons give code 0 */
        for (size_t i = lo; i < hi; i++) {
            float v = x[i] * r;
            uint8_t c = type == QN_4BIT_NF4 ? qn_nf4_encode(v) : qn_fp4_encode(v);
            out->packed[i / 2] |= (uint8_t)(i % 2 == 0 ? c << 4 : c);
        }
        /* Odd n: the kernel loads the missing last element as 0 and stores the whole byte, so the
         * low nibble is the code of 0 * r (nf4: 7), not 0. */
        if (hi == n && n % 2) {
            float v = 0.0f * r;
            out->packed[n / 2] |= type == QN_4BIT_NF4 ? qn_nf4_encode(v) : qn_fp4_encode(v);
        }
    }
    if (!double_quant) return 0;
    /* Double quantization: offset = mean, then blockwise 8-bit dynamic code over groups of 256. */
    size_t ng = nblocks_of(nb, 256);
    out->absmax_q = malloc(nb ? nb : 1);
    out->absmax2 = malloc((ng ? ng : 1) * sizeof(float));
    if (!out->absmax_q || !out->absmax2) {
        qn_4bit_free(out);
        return -1;
    }
    /* bnb takes torch's float32 mean (a device-dependent reduction order); a double sum rounded
     * once is the order-free choice, within an ulp or so of any of them. */
    double sum = 0.0;
    for (size_t b = 0; b < nb; b++) sum += out->absmax[b];
    out->offset = nb ? (float)(sum / (double)nb) : 0.0f;
    for (size_t g = 0; g < ng; g++) {
        size_t lo = g * 256, hi = lo + 256 < nb ? lo + 256 : nb;
        float amax2 = 0.0f;
        for (size_t b = lo; b < hi; b++) amax2 = fmaxf(amax2, fabsf(out->absmax[b] - out->offset));
        out->absmax2[g] = amax2;
        float r = 1.0f / amax2;
        for (size_t b = lo; b < hi; b++) out->absmax_q[b] = qn_dynamic8_encode((out->absmax[b] - out->offset) * r);
    }
    free(out->absmax);
    out->absmax = NULL;
    return 0;
}

float qn_4bit_block_absmax(const qn_4bit_tensor *t, size_t b) {
    if (!t->double_quant) return t->absmax[b];
    return qn_dynamic8_code()[t->absmax_q[b]] * t->absmax2[b / 256] + t->offset;
}

void qn_4bit_dequantize(const qn_4bit_tensor *t, float *y) {
    const float *code = t->type == QN_4BIT_NF4 ? qn_nf4_code : qn_fp4_code;
    size_t nb = nblocks_of(t->n, t->blocksize);
    for (size_t b = 0; b < nb; b++) {
        float amax = qn_4bit_block_absmax(t, b);
        size_t lo = b * (size_t)t->blocksize, hi = lo + (size_t)t->blocksize < t->n ? lo + (size_t)t->blocksize : t->n;
        for (size_t i = lo; i < hi; i++) {
            uint8_t byte = t->packed[i / 2], c = i % 2 == 0 ? byte >> 4 : byte & 0xF;
            y[i] = code[c] * amax;
        }
    }
}

double qn_4bit_bits_per_element(const qn_4bit_tensor *t) {
    if (t->n == 0) return 0.0;
    double nb = (double)nblocks_of(t->n, t->blocksize), n = (double)t->n;
    if (!t->double_quant) return 4.0 + nb * 32.0 / n;
    return 4.0 + (nb * 8.0 + ceil(nb / 256.0) * 32.0 + 32.0) / n;
}

int qn_nf4_pack_blocks(const qn_4bit_tensor *t, qn_nf4_block64 *out, size_t nblocks) {
    if (t->blocksize != 64 || t->double_quant || nblocks != nblocks_of(t->n, 64)) return -1;
    for (size_t b = 0; b < nblocks; b++) {
        memset(out[b].q, 0, sizeof out[b].q);
        out[b].absmax = t->absmax[b];
        size_t bytes = (t->n - b * 64 + 1) / 2;
        memcpy(out[b].q, t->packed + b * 32, bytes < 32 ? bytes : 32);
    }
    return 0;
}

int qn_nf4_unpack_blocks(const qn_nf4_block64 *in, size_t nblocks, size_t n, qn_4bit_type type, qn_4bit_tensor *out) {
    memset(out, 0, sizeof *out);
    if (nblocks != nblocks_of(n, 64)) return -1;
    out->type = type, out->blocksize = 64, out->n = n;
    out->packed = calloc((n + 1) / 2 + 1, 1);
    out->absmax = malloc((nblocks ? nblocks : 1) * sizeof(float));
    if (!out->packed || !out->absmax) {
        qn_4bit_free(out);
        return -1;
    }
    for (size_t b = 0; b < nblocks; b++) {
        out->absmax[b] = in[b].absmax;
        size_t bytes = (n - b * 64 + 1) / 2;
        memcpy(out->packed + b * 32, in[b].q, bytes < 32 ? bytes : 32);
    }
    return 0;
}
