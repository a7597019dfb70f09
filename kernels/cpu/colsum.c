/* colsum.c: column sums of a row-major matrix, as a Linear layer's bias gradient needs them. */
#include <string.h>

#include "parallel.h"
#include "qn_kernels.h"

enum { BLOCK = 64 }; /* columns per chunk: a row's share is one cache line or a few */

typedef struct {
    float *sums;
    const float *x;
    int rows, cols;
} colsum_args;

/* blocks [lo, hi) of BLOCK columns; each column is summed over the rows in order, from zero, then
 * added to its total, so any split over threads gives the same floats */
static void colsum_blocks(void *ctx, size_t lo, size_t hi) {
    const colsum_args *a = ctx;
    for (size_t blk = lo; blk < hi; blk++) {
        const int c0 = (int)blk * BLOCK, n = a->cols - c0 < BLOCK ? a->cols - c0 : BLOCK;
        float s[BLOCK];
        memset(s, 0, sizeof s);
        if (n == BLOCK) /* a constant trip count: the loop becomes vector adds */
            for (int r = 0; r < a->rows; r++) {
                const float *d = a->x + (size_t)r * a->cols + c0;
                for (int c = 0; c < BLOCK; c++) s[c] += d[c];
            }
        else
            for (int r = 0; r < a->rows; r++) {
                const float *d = a->x + (size_t)r * a->cols + c0;
                for (int c = 0; c < n; c++) s[c] += d[c];
            }
        for (int c = 0; c < n; c++) a->sums[c0 + c] += s[c];
    }
}

void qn_add_column_sums(float *sums, const float *x, int rows, int cols) {
    colsum_args a = {sums, x, rows, cols};
    const size_t blocks = ((size_t)cols + BLOCK - 1) / BLOCK;
    /* a chunk only where it has rows enough to pay for a thread */
    qn_parallel_for(blocks, rows >= 512 ? 1 : blocks, colsum_blocks, &a);
}
