/* llm_linear.c: the decoder's Linear layer, y = x W^T + b, dispatched on the weight's format: the one
 * place a packed precision (w8a16, nf4, ...) adds its kernel.
 *
 * float32: a few rows (decode: one per sequence) go through a GEMV that streams each weight row once
 * for all of them; the GEMM would first pack the whole weight, tripling the bytes moved per token.
 * More rows (prefill) go through the GEMM.
 * Packed formats (llm_quant.c): the few-row GEMV reads the packed bytes and widens them in registers
 * (qn_lowbit_gemv.h); prefill widens tiles of TILE_ROWS weight rows to float32 for the GEMM. LLM.int8
 * quantizes the activation rows to int8 first, whatever their number, and multiplies in int32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "qn_kernels.h"
#include "qn_lowbit_gemv.h"

enum { GEMV_MAX_ROWS = 8, MAX_THREADS = 64, TILE_ROWS = 128 };
/* Below this many multiply-adds a second thread costs more than it saves (the pool's workers are
 * already running: a block handed over costs a few cache-line transfers). */
#define GEMV_THREAD_MIN_WORK (1 << 17)
/* Weight rows of a block: a multiple of 16, so that blocks keep the AVX-512 kernels' 4-row and 2-row
 * passes whole and no two threads write one 64-byte line of y; about BLOCK_BYTES of weights, so that
 * a block streams long enough for the prefetchers, yet a loop has several blocks per thread to share. */
enum { BLOCK_ALIGN = 16, BLOCK_BYTES = 128 << 10, BLOCKS_PER_THREAD = 4 };

static int gemv_threads = 1;
void qn_llm_set_threads(int n) { gemv_threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n; }
int qn_llm_threads(void) { return gemv_threads; }

typedef struct {
    const qn_llm_linear *l;
    float *y;
    const float *x;
    int ldy, ldx, M;
    const int8_t *xq; /* INT8: the quantized activations (M, in) and their int32 products (M, out) */
    int32_t *acc;
} gemv_job;

/* Outputs [lo, hi) of the M rows: each weight row read once for all of them. */
static void gemv_rows(void *arg, size_t lo, size_t hi) {
    const gemv_job *g = arg;
    const qn_llm_linear *l = g->l;
    const qn_llm_packed *p = l->packed;
    const int j0 = (int)lo, j1 = (int)hi;
    switch (l->format) {
    case QN_LLM_WEIGHT_F32: qn_gemv_f32(l->w, l->in, j0, j1, g->x, g->ldx, g->M, g->y, g->ldy); break;
    case QN_LLM_WEIGHT_F16:
    case QN_LLM_WEIGHT_BF16:
        qn_gemv_h16_f32(p->h, l->format == QN_LLM_WEIGHT_BF16, l->in, j0, j1, g->x, g->ldx, g->M, g->y, g->ldy);
        break;
    case QN_LLM_WEIGHT_W8A16: qn_gemv_i8_f32(p->q, p->absmax, l->in, j0, j1, g->x, g->ldx, g->M, g->y, g->ldy); break;
    case QN_LLM_WEIGHT_INT8: qn_gemv_i8_i8(p->q, l->in, j0, j1, g->xq, g->M, g->acc, l->out); break;
    case QN_LLM_WEIGHT_4BIT: qn_gemv_4bit_f32(&p->t, l->in, j0, j1, g->x, g->ldx, g->M, g->y, g->ldy); break;
    }
}

/* Bytes of one weight row in the layer's format (4-bit: codes only; the scales are a few %). */
static size_t row_bytes(const qn_llm_linear *l) {
    switch (l->format) {
    case QN_LLM_WEIGHT_F32: return (size_t)l->in * 4;
    case QN_LLM_WEIGHT_F16:
    case QN_LLM_WEIGHT_BF16: return (size_t)l->in * 2;
    case QN_LLM_WEIGHT_4BIT: return (size_t)l->in / 2 + 1;
    default: return (size_t)l->in;
    }
}

/* Threads take blocks of outputs from the persistent pool (qn_parallel_blocks); every output is the
 * same dot product whatever the blocks and whoever runs them, so results do not depend on the thread
 * count. */
static void gemv(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M, const int8_t *xq,
                 int32_t *acc) {
    gemv_job job = {l, y, x, ldy, ldx, M, xq, acc};
    const int nt = (double)l->out * l->in * M < GEMV_THREAD_MIN_WORK ? 1 : gemv_threads;
    size_t rows = BLOCK_BYTES / row_bytes(l), most = (size_t)l->out / ((size_t)nt * BLOCKS_PER_THREAD);
    if (rows > most) rows = most;
    rows = rows / BLOCK_ALIGN * BLOCK_ALIGN;
    if (rows < BLOCK_ALIGN) rows = BLOCK_ALIGN;
    qn_parallel_blocks((size_t)l->out, nt > 1 ? rows : (size_t)l->out, nt, gemv_rows, &job);
}

/* The GEMV over any number of rows, GEMV_MAX_ROWS at a time (no scratch needed). */
static void gemv_chunks(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M) {
    for (int i0 = 0; i0 < M; i0 += GEMV_MAX_ROWS) {
        int m = M - i0 < GEMV_MAX_ROWS ? M - i0 : GEMV_MAX_ROWS;
        gemv(l, y + (size_t)i0 * ldy, ldy, x + (size_t)i0 * ldx, ldx, m, NULL, NULL);
    }
}

/* Prefill of a packed weight: tiles of its rows widened to float32, each through the GEMM. */
static int gemm_tiles(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M) {
    float *tile = malloc((size_t)TILE_ROWS * l->in * sizeof(float));
    if (!tile) return -1;
    for (int j0 = 0; j0 < l->out; j0 += TILE_ROWS) {
        int n = l->out - j0 < TILE_ROWS ? l->out - j0 : TILE_ROWS;
        qn_llm_linear_dequantize(l, j0, j0 + n, tile);
        // y[:, j0:j0+n] (M,n) = x (M,in) @ tile^T, tile (n,in)
        qn_sgemm(0, 1, M, n, l->in, 1.0f, x, ldx, tile, l->in, 0.0f, y + j0, ldy);
    }
    free(tile);
    return 0;
}

/* LLM.int8 (bitsandbytes' MatMul8bitLt): outlier columns (some |x| >= threshold) leave the int8
 * product and are multiplied in float by the fp16-rounded dequantized weights (bitsandbytes keeps no
 * fp16 copy of the weight: it dequantizes CB * SCB / 127 in fp16); the rest is quantized per row
 * (absmax over the non-outlier values), multiplied in int32, and scaled by rowStat * SCB / 127^2. */
static int int8_forward(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M) {
    const qn_llm_packed *p = l->packed;
    const int in = l->in, out = l->out;
    if (M <= 0) return 0;
    float *xc = malloc((size_t)M * in * sizeof(float)), *stat = malloc((size_t)M * sizeof(float)), *wcol = NULL;
    int8_t *xq = malloc((size_t)M * in);
    int32_t *acc = malloc((size_t)M * out * sizeof(int32_t));
    uint8_t *outl = malloc((size_t)in);
    int rc = -1;
    if (!xc || !stat || !xq || !acc || !outl) goto done;
    for (int i = 0; i < M; i++) memcpy(xc + (size_t)i * in, x + (size_t)i * ldx, (size_t)in * sizeof(float));
    int nout = qn_llm_int8_decompose(xc, M, in, p->threshold, xq, stat, outl);
    gemv(l, y, ldy, x, ldx, M, xq, acc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < out; j++)
            y[(size_t)i * ldy + j] = (float)acc[(size_t)i * out + j] * (stat[i] * p->absmax[j] * (1.0f / (127.0f * 127.0f)));
    if (nout > 0) {
        int *cols = malloc((size_t)nout * sizeof(int));
        wcol = malloc((size_t)nout * sizeof(float));
        if (!cols || !wcol) {
            free(cols);
            goto done;
        }
        for (int c = 0, k = 0; c < in; c++)
            if (outl[c]) cols[k++] = c;
        for (int j = 0; j < out; j++) {
            for (int k = 0; k < nout; k++) {
                const int8_t q = p->q[(size_t)j * in + cols[k]];
                wcol[k] = qn_f16_to_f32(qn_f32_to_f16((float)q * p->absmax[j] * (1.0f / 127.0f)));
            }
            for (int i = 0; i < M; i++) {
                float s = 0.0f;
                for (int k = 0; k < nout; k++) s += x[(size_t)i * ldx + cols[k]] * wcol[k];
                y[(size_t)i * ldy + j] += s;
            }
        }
        free(cols);
    }
    rc = 0;
done:
    free(xc), free(stat), free(xq), free(acc), free(outl), free(wcol);
    return rc;
}

void qn_llm_linear_forward(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M) {
    switch (l->format) {
    case QN_LLM_WEIGHT_F32:
        if (M <= GEMV_MAX_ROWS) {
            gemv(l, y, ldy, x, ldx, M, NULL, NULL);
        } else {
            // y (M,out) = x (M,in) @ W^T, W (out,in)
            qn_sgemm(0, 1, M, l->out, l->in, 1.0f, x, ldx, l->w, l->in, 0.0f, y, ldy);
        }
        break;
    case QN_LLM_WEIGHT_INT8:
        if (int8_forward(l, y, ldy, x, ldx, M)) {
            for (int i = 0; i < M; i++)
                for (int j = 0; j < l->out; j++) y[(size_t)i * ldy + j] = NAN; /* out of memory: visibly wrong */
        }
        break;
    default:
        if (M <= GEMV_MAX_ROWS || gemm_tiles(l, y, ldy, x, ldx, M)) gemv_chunks(l, y, ldy, x, ldx, M);
        break;
    }
    if (l->bias)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < l->out; j++) y[(size_t)i * ldy + j] += l->bias[j];
}
