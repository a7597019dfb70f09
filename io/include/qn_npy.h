/* qn_npy.h: NumPy .npy arrays in and out (float16/32/64 in, float32 out), for quench quantize.
 *
 * Contract: qn_npy_read never crashes, never reads past the file and never allocates more than the
 * file holds; a malformed file gives return 2 and one line "PATH: what is wrong" in err. */
#ifndef QN_NPY_H
#define QN_NPY_H

#include <stddef.h>
#include <stdint.h>

#define QN_NPY_MAX_DIMS 32

typedef struct {
    int ndim;
    int64_t shape[QN_NPY_MAX_DIMS];
    size_t n;    /* elements (1 for a 0-d array) */
    float *data; /* converted to float32, C order (qn_npy_read) */
    int64_t *ints; /* qn_npy_read_ints: the values as int64 */
} qn_npy;

/* Read a .npy file (format 1.0, 2.0 or 3.0; dtype float16, float32 or float64, either byte order;
 * C order). Returns 0, 2 for a malformed or unsupported file, 1 for an I/O error. */
int qn_npy_read(const char *path, qn_npy *out, char *err, size_t errlen);
/* Parse a .npy image already in memory (path names it in messages). */
int qn_npy_parse(const char *path, const unsigned char *buf, size_t len, qn_npy *out, char *err, size_t errlen);
/* Read an integer array (int8, int16, int32 or int64, either byte order, or bool as 0/1) into ints. */
int qn_npy_read_ints(const char *path, qn_npy *out, char *err, size_t errlen);
void qn_npy_free(qn_npy *a);

/* Write float32 data as .npy (format 1.0, '<f4', C order), through PATH.tmp and a rename. Returns 0, 2
 * with err for a shape that cannot be written (ndim outside 0..32, a negative dimension, a byte count
 * that overflows), or 1 with err for an I/O error. */
int qn_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim, char *err, size_t errlen);

#endif
