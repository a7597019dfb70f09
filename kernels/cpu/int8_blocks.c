/* int8_blocks.c: the packed W8A16 layout, rows of 32-column blocks with the row's absmax (see
 * qn_int8_block32 in qn_infer_formats.h). */
#include <string.h>

#include "qn_infer_formats.h"

size_t qn_int8_blocks(int rows, int cols) { return (size_t)rows * (size_t)((cols + 31) / 32); }

void qn_int8_pack_blocks(const int8_t *q, const float *row_absmax, int rows, int cols, qn_int8_block32 *out) {
    const int per_row = (cols + 31) / 32;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < per_row; b++) {
            qn_int8_block32 *blk = &out[(size_t)r * per_row + b];
            int c0 = 32 * b, n = cols - c0 < 32 ? cols - c0 : 32;
            blk->absmax = row_absmax[r];
            memset(blk->q, 0, sizeof blk->q);
            memcpy(blk->q, q + (size_t)r * cols + c0, (size_t)n);
        }
}

void qn_int8_unpack_blocks(const qn_int8_block32 *in, int rows, int cols, int8_t *q, float *row_absmax) {
    const int per_row = (cols + 31) / 32;
    for (int r = 0; r < rows; r++) {
        row_absmax[r] = per_row ? in[(size_t)r * per_row].absmax : 0.0f;
        for (int b = 0; b < per_row; b++) {
            int c0 = 32 * b, n = cols - c0 < 32 ? cols - c0 : 32;
            memcpy(q + (size_t)r * cols + c0, in[(size_t)r * per_row + b].q, (size_t)n);
        }
    }
}
