/* qn_safetensors.h: reading .safetensors files (Hugging Face's format: an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and [begin, end) byte offsets into the
 * data that follows, optional "__metadata__" of strings).
 *
 * Contract: qn_st_open validates the whole file before returning (header length within the file,
 * JSON an object of well-formed entries, known dtypes, offsets inside the data, each tensor's bytes
 * matching its shape, tensors contiguous and not overlapping, as the reference implementation
 * requires); a malformed file gives 2 and one line "PATH: what is wrong". */
#ifndef QN_SAFETENSORS_H
#define QN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define QN_ST_MAX_DIMS 8

typedef enum { QN_ST_F64, QN_ST_F32, QN_ST_F16, QN_ST_BF16, QN_ST_I64, QN_ST_I32, QN_ST_I16, QN_ST_I8, QN_ST_U8,
               QN_ST_BOOL } qn_st_dtype;

typedef struct {
    char *name;
    qn_st_dtype dtype;
    int ndim;
    int64_t shape[QN_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;      /* byte offsets into the data section */
} qn_st_tensor;

typedef struct {
    char *path;
    unsigned char *buf;     /* the whole file */
    size_t len, data_start;
    int ntensors;
    qn_st_tensor *tensors;
    int mapped;             /* buf is a read-only mmap of the file (qn_st_open_mapped), not a copy */
} qn_safetensors;

/* Returns 0, 2 for a malformed file (err: "PATH: ..."), 1 for an I/O error. */
int qn_st_open(const char *path, qn_safetensors *st, char *err, size_t errlen);
/* The same, with the file memory-mapped (read-only) instead of read: tensors are read in place, the
 * pages come in as they are touched, and qn_st_close unmaps. For large checkpoints (LLM weights). */
int qn_st_open_mapped(const char *path, qn_safetensors *st, char *err, size_t errlen);
/* The address of a tensor's first byte. */
const void *qn_st_data(const qn_safetensors *st, const qn_st_tensor *t);
/* The same from bytes in memory (copied). */
int qn_st_parse(const char *path, const unsigned char *buf, size_t len, qn_safetensors *st, char *err, size_t errlen);
void qn_st_close(qn_safetensors *st);
/* The tensor of that name, or NULL. */
const qn_st_tensor *qn_st_find(const qn_safetensors *st, const char *name);
/* Convert a floating tensor (F64, F32, F16, BF16) to float32 into out (numel floats). Returns 0, or
 * -1 for a non-floating dtype. */
int qn_st_read_f32(const qn_safetensors *st, const qn_st_tensor *t, float *out);
const char *qn_st_dtype_name(qn_st_dtype d);

#endif
