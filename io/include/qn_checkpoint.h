/* qn_checkpoint.h: a trial's checkpoint as named tensors, stored in their deployable (packed) form.
 *
 * Contract:
 *  - A tensor is float32 values (its encoding QN_ENC_FLOAT32) or codes bit-packed into bytes:
 *      QN_ENC_FIXED    w-bit two's complement codes, value = code * 2^-frac_width   (MASE integer)
 *      QN_ENC_BINARY   1-bit codes; bipolar: value = code ? +1 : -1; else code ? scale[row] : 0
 *      QN_ENC_TERNARY  2-bit two's complement codes in {-1, 0, 1}, value = code * scale[row]
 *    Code i occupies bits [i*w, (i+1)*w) of the byte stream, least significant bit first (bit k of the
 *    stream is bit k%8 of byte k/8): numpy's unpackbits(bitorder="little") reads it.
 *  - qn_ckpt_encode() picks the packed encoding only when unpacking gives back every value bit for
 *    bit (a -0.0 comes back as +0.0: codes have no negative zero); otherwise the values stay float32.
 *  - The HDF5 side (results_checkpoint.c) writes one dataset per tensor under /trial/<id>/checkpoint
 *    with its attributes (docs/results-format.md); the float parameter buffer (`master`) only when
 *    asked, for stages that start from the trial.
 */
#ifndef QN_CHECKPOINT_H
#define QN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { QN_ENC_FLOAT32 = 0, QN_ENC_FIXED, QN_ENC_BINARY, QN_ENC_TERNARY } qn_encoding;

typedef struct {
    char name[128];        /* Hugging Face state-dict name ("bert.encoder.layer.0.attention.self.query.weight") */
    int ndim;
    int64_t shape[2];
    int64_t offset;        /* first float of the tensor in the model's parameter buffer */
    char format[128];      /* the number format its values are in ("integer:width=4,frac_width=2"), "none" */
    qn_encoding enc;
    int width, frac_width; /* FIXED: code bits and binary point; BINARY 1, TERNARY 2 */
    int bipolar;           /* BINARY */
    float *values;         /* FLOAT32: numel floats (owned) */
    uint8_t *codes;        /* packed encodings: (numel * width + 7) / 8 bytes (owned) */
    float *scale;          /* BINARY (not bipolar), TERNARY: qn_ckpt_rows() row scales (owned), else NULL */
} qn_ckpt_tensor;

typedef struct {
    char arch[16];
    int64_t nparams;       /* floats in the model's parameter buffer */
    int ntensors;
    qn_ckpt_tensor *tensors;
    float *master;         /* the float parameter buffer (nparams), or NULL (owned) */
} qn_ckpt;

int64_t qn_ckpt_numel(const qn_ckpt_tensor *t);
/* Rows a scale is kept for: shape[0] of a matrix, 1 for a vector (binary/ternary statistics are per
 * index of the first axis of the (rows, cols) operand a Linear layer quantizes). */
int64_t qn_ckpt_rows(const qn_ckpt_tensor *t);
const char *qn_encoding_name(qn_encoding e);   /* "float32", "fixed", "binary", "ternary" */
int qn_encoding_of(const char *name);          /* -1 when unknown */

/* Bit-pack n codes of `width` bits (1..32, the low bits of each code) into out ((n*width+7)/8 bytes,
 * zeroed by the caller or not: every byte is written), and back (sign-extended when is_signed). */
void qn_pack_bits(const int64_t *codes, size_t n, int width, uint8_t *out);
void qn_unpack_bits(const uint8_t *in, size_t n, int width, int is_signed, int64_t *codes);

/* Encode x (the values a layer computes with, already fake-quantized) as `enc`, filling t's codes and
 * scale (t's shape, width, frac_width, bipolar set by the caller). Returns 0, 1 when the values are
 * not exactly representable in that encoding (t is then FLOAT32 with a copy of x), -1 out of memory. */
int qn_ckpt_encode(qn_ckpt_tensor *t, qn_encoding enc, const float *x);
/* The tensor's values as float32 into out (numel floats): exactly what was encoded. Returns 0, -1 if
 * the tensor is malformed (width out of range, missing data). */
int qn_ckpt_decode(const qn_ckpt_tensor *t, float *out);
/* Bytes the tensor takes in the file (codes + scales, or 4 per float). */
size_t qn_ckpt_tensor_bytes(const qn_ckpt_tensor *t);

void qn_ckpt_free(qn_ckpt *c);

#endif
