/* colsum.c: column sums of a row-major matrix, as a Linear layer's bias gradient needs them. */
#include <string.h>

#include "parallel.h"
#include "qn_kernels.h"

/* BLOCK columns per chunk of the threads' loop (a row's share is a cache line or a few); a thread's
 * chunks are swept PIECE columns at a time, row by row, so that rows are read along their storage
 * (block by block, each pass read every row's few lines and skipped the rest, which the hardware
 * prefetcher does not follow) */
enum { BLOCK = 64, PIECE = 1024 };

/* one clone per instruction set (the baseline's 16 SSE sums spilled); the same additions in the
 * same order in each, so all give the same floats */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QN_CLONES
#endif

typedef struct {
    float *sums;
    const float *x;
    int rows, cols;
} colsum_args;

/* blocks [lo, hi) of BLOCK columns; each column is summed over the rows in order, from zero, then
 * added to its total, so any split over threads or into pieces gives the same floats */
QN_CLONES static void colsum_block_range(const colsum_args *a, size_t lo, size_t hi) {
    const int end = (int)hi * BLOCK < a->cols ? (int)hi * BLOCK : a->cols;
    for (int c0 = (int)lo * BLOCK; c0 < end; c0 += PIECE) {
        const int n = end - c0 < PIECE ? end - c0 : PIECE;
        float s[PIECE];
        memset(s, 0, (size_t)n * sizeof *s);
        for (int r = 0; r < a->rows; r++) {
            const float *restrict d = a->x + (size_t)r * a->cols + c0;
            for (int c = 0; c < n; c++) s[c] += d[c];
        }
        for (int c = 0; c < n; c++) a->sums[c0 + c] += s[c];
    }
}

static void colsum_blocks(void *ctx, size_t lo, size_t hi) { colsum_block_range(ctx, lo, hi); }

void qn_add_column_sums(float *sums, const float *x, int rows, int cols) {
    colsum_args a = {sums, x, rows, cols};
    const size_t blocks = ((size_t)cols + BLOCK - 1) / BLOCK;
    /* a chunk only where it has rows enough to pay for a thread */
    qn_parallel_for(blocks, rows >= 512 ? 1 : blocks, colsum_blocks, &a);
}
