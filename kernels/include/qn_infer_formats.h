/* qn_infer_formats.h: the inference formats of the labs with their packed storage: IEEE fp16 and
 * bfloat16, bitsandbytes' NF4 and FP4 (blockwise, optional double quantization of the absmax), and
 * bitsandbytes' int8 absmax per row (W8A16) with LLM.int8()'s outlier decomposition.
 * Bit-level behaviour follows bitsandbytes (shared/research/lowbit-and-kernels.md): its CUDA kernels
 * for the 4-bit formats, its PyTorch path for int8 (whose CUDA kernel divides approximately). */
#ifndef QN_INFER_FORMATS_H
#define QN_INFER_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fp16 / bf16: round to nearest even, subnormals kept, overflow to inf, NaN stays NaN ---- */
uint16_t qn_f32_to_f16(float v);
float qn_f16_to_f32(uint16_t h);
uint16_t qn_f32_to_bf16(float v);
float qn_bf16_to_f32(uint16_t h);
void qn_quant_fp16(const float *x, float *y, size_t n);
void qn_quant_bf16(const float *x, float *y, size_t n);

/* ---- NF4 / FP4 ---- */
typedef enum { QN_4BIT_NF4 = 0, QN_4BIT_FP4 = 1 } qn_4bit_type;
extern const float qn_nf4_code[16];
extern const float qn_fp4_code[16];
/* bitsandbytes' signed 8-bit dynamic code (256 sorted values), used for double quantization. */
const float *qn_dynamic8_code(void);

typedef struct {
    qn_4bit_type type;
    int blocksize;       /* elements per absmax block: a power of two in [32, 4096] */
    size_t n;            /* elements (the array is flattened, row-major) */
    uint8_t *packed;     /* ceil(n/2) bytes, the earlier element in the high nibble */
    float *absmax;       /* nblocks, when not double-quantized */
    int double_quant;
    uint8_t *absmax_q;   /* nblocks: the absmax in the 8-bit dynamic code, after the offset */
    float offset;        /* mean of the absmax */
    float *absmax2;      /* ceil(nblocks / 256): the absmax of each group of 256 absmax */
} qn_4bit_tensor;

/* Quantize n floats. Returns 0, or -1 for a bad blocksize or when out of memory. */
int qn_4bit_quantize(const float *x, size_t n, qn_4bit_type type, int blocksize, int double_quant, qn_4bit_tensor *out);
void qn_4bit_dequantize(const qn_4bit_tensor *t, float *y);
void qn_4bit_free(qn_4bit_tensor *t);
/* Storage in bits per element, absmax (and its double quantization) included: NF4 at 64 is 4.5. */
double qn_4bit_bits_per_element(const qn_4bit_tensor *t);
/* The absmax of block b as dequantization uses it (reconstructed when double-quantized). */
float qn_4bit_block_absmax(const qn_4bit_tensor *t, size_t b);

/* Nearest 4-bit code of a value already divided by its absmax (midpoints, strict >). */
uint8_t qn_nf4_encode(float v);
uint8_t qn_fp4_encode(float v);
/* Nearest code of the 8-bit dynamic map (bitsandbytes' binary search, ties stay on the pivot). */
uint8_t qn_dynamic8_encode(float v);

/* The common NF4 block of 64 with an fp32 absmax, as a packed struct. */
typedef struct {
    float absmax;
    uint8_t q[32];
} qn_nf4_block64;
#ifdef __cplusplus
static_assert(sizeof(qn_nf4_block64) == 36, "an NF4 block of 64 is 4 + 32 bytes");
#else
_Static_assert(sizeof(qn_nf4_block64) == 36, "an NF4 block of 64 is 4 + 32 bytes");
#endif
/* Pack blocks of a blocksize-64, not double-quantized tensor into structs (nblocks of them), and back. */
int qn_nf4_pack_blocks(const qn_4bit_tensor *t, qn_nf4_block64 *out, size_t nblocks);
int qn_nf4_unpack_blocks(const qn_nf4_block64 *in, size_t nblocks, size_t n, qn_4bit_type type, qn_4bit_tensor *out);

/* ---- int8 absmax per row (W8A16, bitsandbytes' vector-wise quantization) ---- */
/* q = rint(x * ((1 / absmax_row) * 127)) (torch's 127.0 / t), in [-127, 127]; an all-zero row gives zeros. */
void qn_int8_rowwise_quantize(const float *W, int rows, int cols, int8_t *q, float *row_absmax);
void qn_int8_rowwise_dequantize(const int8_t *q, const float *row_absmax, int rows, int cols, float *out);
/* LLM.int8(): columns where any |A| >= threshold are outliers (threshold 0: none). As bitsandbytes,
 * the row absmax leaves out only the outlier values themselves (|A| >= threshold), and q is 0 across
 * the outlier columns (outlier_cols[c] = 1; the PyTorch path, while the CUDA kernel zeroes only the
 * outlier values). Returns the number of outlier columns. */
int qn_llm_int8_decompose(const float *A, int rows, int cols, float threshold, int8_t *q, float *row_stat,
                          uint8_t *outlier_cols);
/* Quantize and dequantize in one go (fake quantization). */
void qn_quant_int8_rowwise(const float *x, float *y, int rows, int cols);

/* The packed W8A16 weight as the device holds it: 32-column blocks of one row, each with the row's
 * fp32 absmax (the scale is absmax / 127), so a GEMV streams whole blocks; a row's last block is
 * padded with zero codes. Row r, columns [32b, 32b + 32) are block r * ceil(cols / 32) + b. */
typedef struct {
    float absmax;
    int8_t q[32];
} qn_int8_block32;
#ifdef __cplusplus
static_assert(sizeof(qn_int8_block32) == 36, "an int8 block of 32 is 4 + 32 bytes");
#else
_Static_assert(sizeof(qn_int8_block32) == 36, "an int8 block of 32 is 4 + 32 bytes");
#endif
/* Blocks for rows x cols: rows * ceil(cols / 32). */
size_t qn_int8_blocks(int rows, int cols);
/* Pack the codes and row absmax of qn_int8_rowwise_quantize into blocks, and back. */
void qn_int8_pack_blocks(const int8_t *q, const float *row_absmax, int rows, int cols, qn_int8_block32 *out);
void qn_int8_unpack_blocks(const qn_int8_block32 *in, int rows, int cols, int8_t *q, float *row_absmax);

#ifdef QUENCH_HAVE_CUDA
/* Dequantize packed 4-bit codes with their fp32 absmax (device pointers) to float32 (nf4: 1, fp4: 0). */
int qn_cuda_4bit_dequantize(const unsigned char *d_packed, const float *d_absmax, size_t n, int blocksize, int nf4,
                            float *d_out, char *err, size_t errlen);
#endif

#ifdef __cplusplus
}
#endif
#endif
