/* llm_linear.c: the decoder's Linear layer, y = x W^T + b, dispatched on the weight's format: the one
 * place a packed precision (w8a16, nf4, ...) adds its kernel.
 *
 * float32: a few rows (decode: one per sequence) go through a GEMV that streams each weight row once
 * for all of them; the GEMM would first pack the whole weight, tripling the bytes moved per token.
 * More rows (prefill) go through the GEMM. */
#include <pthread.h>

#include "llm.h"
#include "qn_kernels.h"

enum { GEMV_MAX_ROWS = 8, LANES = 16, MAX_THREADS = 64 };
/* Below this many multiply-adds a thread costs more than it saves. */
#define GEMV_THREAD_MIN_WORK (1 << 20)

static int gemv_threads = 1;
void qn_llm_set_threads(int n) { gemv_threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n; }

/* Sum of a[k] b[k]: LANES independent partial sums, so the loop vectorizes without reassociation. */
static float dot(const float *restrict a, const float *restrict b, int n) {
    float acc[LANES] = {0};
    int k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int u = 0; u < LANES; u++) acc[u] += a[k + u] * b[k + u];
    float s = 0.0f;
    for (; k < n; k++) s += a[k] * b[k];
    for (int u = 0; u < LANES; u++) s += acc[u];
    return s;
}

typedef struct {
    const qn_llm_linear *l;
    float *y;
    const float *x;
    int ldy, ldx, M, j0, j1;
} gemv_job;

/* Outputs [j0, j1) of the M rows: each weight row read once for all of them. */
static void *gemv_f32(void *arg) {
    const gemv_job *g = arg;
    for (int j = g->j0; j < g->j1; j++) {
        const float *w = g->l->w + (size_t)j * g->l->in;
        for (int i = 0; i < g->M; i++) g->y[(size_t)i * g->ldy + j] = dot(g->x + (size_t)i * g->ldx, w, g->l->in);
    }
    return NULL;
}

/* Threads split the outputs; every output is the same dot product whatever the split, so results do
 * not depend on the thread count. */
static void gemv(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M) {
    int nt = (double)l->out * l->in * M < GEMV_THREAD_MIN_WORK ? 1 : gemv_threads;
    if (nt > l->out) nt = l->out;
    gemv_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < nt; t++) {
        jobs[t] = (gemv_job){l, y, x, ldy, ldx, M, (int)((long)l->out * t / nt), (int)((long)l->out * (t + 1) / nt)};
        if (t > 0) started[t] = pthread_create(&tid[t], NULL, gemv_f32, &jobs[t]) == 0;
    }
    gemv_f32(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else gemv_f32(&jobs[t]); /* no thread: its share runs here */
    }
}

void qn_llm_linear_forward(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M) {
    switch (l->format) {
    case QN_LLM_WEIGHT_F32:
        if (M <= GEMV_MAX_ROWS) {
            gemv(l, y, ldy, x, ldx, M);
        } else {
            // y (M,out) = x (M,in) @ W^T, W (out,in)
            qn_sgemm(0, 1, M, l->out, l->in, 1.0f, x, ldx, l->w, l->in, 0.0f, y, ldy);
        }
        break;
    }
    if (l->bias)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < l->out; j++) y[(size_t)i * ldy + j] += l->bias[j];
}
