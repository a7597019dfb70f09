/* bitsandbytes' NF4/FP4 (with double quantization), int8 absmax rows and LLM.int8() decomposition,
 * fp16/bf16 conversions: hand-checked values from the research note, and round trips of the packed
 * layouts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_formats.h"
#include "qn_infer_formats.h"
#include "qn_kernels.h"

Test(nf4, worked_example_codes_bytes_and_values) {
    const float x[8] = {0.8f, -0.4f, 0.02f, -2.0f, 0.1f, 0.33f, -0.05f, 1.5f};
    qn_4bit_tensor t;
    cr_assert_eq(qn_4bit_quantize(x, 8, QN_4BIT_NF4, 64, 0, &t), 0);
    cr_expect_eq(t.absmax[0], 2.0f);
    const uint8_t bytes[4] = {0xC5, 0x70, 0x89, 0x7E};
    for (int i = 0; i < 4; i++) cr_expect_eq(t.packed[i], bytes[i], "byte %d: %02x", i, t.packed[i]);
    float y[8];
    qn_4bit_dequantize(&t, y);
    const float want[8] = {0.88142f, -0.36955f, 0.0f, -2.0f, 0.15916f, 0.32186f, 0.0f, 1.44591f};
    for (int i = 0; i < 8; i++) cr_expect(fabsf(y[i] - want[i]) < 1e-5f, "element %d: %g", i, y[i]);
    cr_expect_eq(y[3], qn_nf4_code[0] * 2.0f);
    qn_4bit_free(&t);
}

Test(nf4, midpoint_ties_go_to_the_lower_code) {
    cr_expect_eq(qn_nf4_encode(0.03979014977812767f), 7);
    cr_expect_eq(qn_nf4_encode(nextafterf(0.03979014977812767f, 1.0f)), 8);
    cr_expect_eq(qn_nf4_encode(-1.0f), 0);
    cr_expect_eq(qn_nf4_encode(1.0f), 15);
    cr_expect_eq(qn_nf4_encode(NAN), 0);
    for (int c = 0; c < 16; c++) cr_expect_eq(qn_nf4_encode(qn_nf4_code[c]), c, "code %d maps to itself", c);
}

Test(fp4, codes_signs_and_magnitudes) {
    cr_expect_eq(qn_fp4_encode(1.0f), 0x3);
    cr_expect_eq(qn_fp4_encode(-1.0f), 0xB);
    cr_expect_eq(qn_fp4_encode(-0.0f), 0x0, "-0.0 has sign 0");
    cr_expect_eq(qn_fp4_encode(0.5f), 0x5);
    cr_expect_eq(qn_fp4_encode(0.3f), 0x4); /* 1/3 is nearer than 1/4 */
    cr_expect_eq(qn_fp4_encode(0.26f), 0x7); /* 1/4 */
    cr_expect_eq(qn_fp4_encode(0.002f), 0x0);
    cr_expect_eq(qn_fp4_encode(0.004f), 0x1);
    for (int c = 0; c < 16; c++) {
        if (c == 8) continue; /* -0 encodes as +0 */
        cr_expect_eq(qn_fp4_encode(qn_fp4_code[c]), c, "code %d", c);
    }
}

/* Bytes from bitsandbytes 0.50.2's quantize_4bit (blocksize 64): odd n pads with 0 before packing. */
Test(fourbit, odd_length_bytes_match_bitsandbytes) {
    const float x[7] = {0.8f, -0.4f, 0.02f, -2.0f, 0.1f, 0.33f, -0.05f};
    const uint8_t want[2][4] = {{0xC5, 0x70, 0x89, 0x77}, {0x4E, 0x1B, 0x16, 0x90}};
    for (int type = 0; type < 2; type++) {
        qn_4bit_tensor t;
        cr_assert_eq(qn_4bit_quantize(x, 7, (qn_4bit_type)type, 64, 0, &t), 0);
        for (int i = 0; i < 4; i++) cr_expect_eq(t.packed[i], want[type][i], "type %d byte %d: %02x", type, i, t.packed[i]);
        qn_4bit_free(&t);
    }
}

Test(fourbit, odd_length_partial_block_and_zero_block) {
    float x[70];
    for (int i = 0; i < 70; i++) x[i] = i < 64 ? 0.0f : (float)(i - 63) * 0.25f;
    qn_4bit_tensor t;
    cr_assert_eq(qn_4bit_quantize(x, 69, QN_4BIT_NF4, 64, 0, &t), 0);
    cr_expect_eq(t.absmax[0], 0.0f);
    cr_expect_eq(t.packed[0], 0x00, "all-zero block: NaN comparisons give code 0");
    cr_expect_eq(t.packed[34] & 0x0F, 7, "odd n: the padding nibble is the code of 0 (nf4: 7), as the kernel");
    float y[69];
    qn_4bit_dequantize(&t, y);
    for (int i = 0; i < 64; i++) cr_expect_eq(fabsf(y[i]), 0.0f);
    cr_expect_eq(y[68], 1.25f, "the partial block's max is exact");
    cr_expect_float_eq(qn_4bit_bits_per_element(&t), 4.0 + 2 * 32.0 / 69, 1e-12);
    qn_4bit_free(&t);
    cr_expect_eq(qn_4bit_quantize(x, 69, QN_4BIT_NF4, 48, 0, &t), -1, "blocksize not a power of two");
}

Test(dynamic8, code_facts_and_encoding) {
    const float *c = qn_dynamic8_code();
    cr_expect_eq(c[127], 0.0f);
    cr_expect_eq(c[255], 1.0f);
    cr_expect_eq(c[0], -0.99296875f);
    float smallest = 1.0f;
    for (int i = 0; i < 256; i++) {
        if (i) cr_expect_leq(c[i - 1], c[i], "sorted at %d", i);
        if (c[i] > 0.0f && c[i] < smallest) smallest = c[i];
    }
    cr_expect(fabsf(smallest - 5.5e-7f) < 1e-9f, "smallest positive %g", smallest);
    for (int i = 0; i < 256; i++)
        if (i != 127 || c[i] == 0.0f) cr_expect_eq(qn_dynamic8_encode(c[i]), i, "code %d (%g) maps to itself", i, c[i]);
    cr_expect_eq(qn_dynamic8_encode(2.0f), 255);
    cr_expect_eq(qn_dynamic8_encode(-2.0f), 0);
    for (int i = 0; i < 127; i++) cr_expect_eq(c[254 - i], -c[i], "symmetric at %d", i);
    /* entries where torch's linspace variants disagree by an ulp (start + k*step, the halfway
     * formula, the halfway formula with FMA): the values of a published dump of bnb's map */
    cr_expect_eq(c[138], 0.000493750034365803f);
    cr_expect_eq(c[224], 0.5710937976837158f);
    cr_expect_eq(c[229], 0.6414062976837158f);
    cr_expect_eq(c[234], 0.7117187976837158f);
}

Test(fourbit, double_quant_reconstructs_the_absmax) {
    enum { N = 64 * 600 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float)), *z = malloc(N * sizeof(float));
    qn_rng rng;
    qn_rng_seed(&rng, 8);
    for (int i = 0; i < N; i++) x[i] = qn_rng_normal(&rng) * (1.0f + (float)(i / 64 % 7));
    qn_4bit_tensor plain, dq;
    cr_assert_eq(qn_4bit_quantize(x, N, QN_4BIT_NF4, 64, 0, &plain), 0);
    cr_assert_eq(qn_4bit_quantize(x, N, QN_4BIT_NF4, 64, 1, &dq), 0);
    cr_expect(memcmp(plain.packed, dq.packed, N / 2) == 0, "the 4-bit codes do not depend on double quantization");
    /* each absmax comes back within half the widest gap of the 8-bit code (0.0140625), scaled */
    const float *code = qn_dynamic8_code();
    float gap = 0;
    for (int i = 1; i < 256; i++) gap = fmaxf(gap, code[i] - code[i - 1]);
    for (size_t b = 0; b < 600; b++) {
        float a = plain.absmax[b], r = qn_4bit_block_absmax(&dq, b);
        cr_expect(fabsf(a - r) <= 0.5f * gap * dq.absmax2[b / 256] * 1.0001f, "block %zu: absmax %g reconstructed %g", b, a, r);
    }
    cr_expect(fabs(qn_4bit_bits_per_element(&dq) - 4.127) < 0.002, "%g bits", qn_4bit_bits_per_element(&dq));
    qn_4bit_dequantize(&plain, y);
    qn_4bit_dequantize(&dq, z);
    double e1 = 0, e2 = 0;
    for (int i = 0; i < N; i++) e1 += (y[i] - x[i]) * (y[i] - x[i]), e2 += (z[i] - x[i]) * (z[i] - x[i]);
    cr_expect_lt(e2, e1 * 1.05, "double quantization costs little: %g vs %g", e2, e1);
    qn_4bit_free(&plain), qn_4bit_free(&dq);
    free(x), free(y), free(z);
}

Test(fourbit, double_quant_of_equal_absmax_is_exact) {
    /* every block has absmax 3: the offset is 3, absmax2 is 0, r = inf, 0 * inf = NaN, the binary
     * search lands on code 0, and code[0] * 0 + 3 gives the absmax back exactly */
    float x[64 * 4];
    for (int i = 0; i < 64 * 4; i++) x[i] = i % 64 == 5 ? (i & 64 ? -3.0f : 3.0f) : 0.001f * (float)(i % 64);
    qn_4bit_tensor t;
    cr_assert_eq(qn_4bit_quantize(x, 64 * 4, QN_4BIT_FP4, 64, 1, &t), 0);
    cr_expect_eq(t.offset, 3.0f);
    cr_expect_eq(t.absmax2[0], 0.0f);
    for (size_t b = 0; b < 4; b++) {
        cr_expect_eq(t.absmax_q[b], 0);
        cr_expect_eq(qn_4bit_block_absmax(&t, b), 3.0f);
    }
    float y[64 * 4];
    qn_4bit_dequantize(&t, y);
    cr_expect_eq(y[5], 3.0f);
    cr_expect_eq(y[64 + 5], -3.0f);
    cr_expect_float_eq(qn_4bit_bits_per_element(&t), 4.0 + (4 * 8.0 + 32.0 + 32.0) / 256, 1e-12);
    qn_4bit_free(&t);
}

Test(fourbit, packed_block_structs_round_trip) {
    enum { N = 64 * 5 + 7 };
    float x[N], y1[N], y2[N];
    qn_rng rng;
    qn_rng_seed(&rng, 2);
    for (int i = 0; i < N; i++) x[i] = qn_rng_normal(&rng);
    qn_4bit_tensor t, back;
    cr_assert_eq(qn_4bit_quantize(x, N, QN_4BIT_NF4, 64, 0, &t), 0);
    qn_nf4_block64 blocks[6];
    cr_assert_eq(qn_nf4_pack_blocks(&t, blocks, 6), 0);
    cr_assert_eq(qn_nf4_unpack_blocks(blocks, 6, N, QN_4BIT_NF4, &back), 0);
    cr_expect(memcmp(t.packed, back.packed, (N + 1) / 2) == 0);
    qn_4bit_dequantize(&t, y1);
    qn_4bit_dequantize(&back, y2);
    cr_expect(memcmp(y1, y2, sizeof y1) == 0);
    qn_4bit_free(&t), qn_4bit_free(&back);
    cr_expect_eq(sizeof(qn_nf4_block64), 36);
    cr_expect_eq(sizeof(qn_mxint8_block), 33);
}

Test(half, fp16_conversions) {
    cr_expect_eq(qn_f32_to_f16(1.0f), 0x3C00);
    cr_expect_eq(qn_f32_to_f16(65504.0f), 0x7BFF);
    cr_expect_eq(qn_f32_to_f16(65519.0f), 0x7BFF);
    cr_expect_eq(qn_f32_to_f16(65520.0f), 0x7C00, "65520 ties to even: inf");
    cr_expect_eq(qn_f32_to_f16(5.9604645e-08f), 0x0001);
    cr_expect_eq(qn_f32_to_f16(2.9802322e-08f), 0x0000, "half of the smallest subnormal ties to 0");
    cr_expect_eq(qn_f32_to_f16(1.0f + 0x1p-11f), 0x3C00, "tie to even");
    cr_expect_eq(qn_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    cr_expect_eq(qn_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02, "tie to even, upwards");
    cr_expect_eq(qn_f32_to_f16(-0.0f), 0x8000);
    cr_expect_eq(qn_f32_to_f16(INFINITY), 0x7C00);
    cr_expect_eq(qn_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400, "rounds up into the smallest normal");
    cr_expect(isnan(qn_f16_to_f32(qn_f32_to_f16(NAN))));
    for (uint32_t h = 0; h < 0x10000; h++) {
        if (((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF)) continue; /* NaN payloads */
        cr_assert_eq(qn_f32_to_f16(qn_f16_to_f32((uint16_t)h)), h, "half %04x round trip", h);
    }
}

#ifdef __FLT16_MAX__
/* the compiler's own _Float16 conversion (round to nearest even) as a second opinion, on a sweep
 * of float bit patterns and on every tie and near-tie between neighbouring halves */
Test(half, fp16_agrees_with_the_compiler) {
    for (uint64_t b = 0; b < 0x100000000u; b += 4093) {
        uint32_t u = (uint32_t)b;
        float v;
        memcpy(&v, &u, sizeof v);
        if (isnan(v)) continue;
        _Float16 h = (_Float16)v;
        uint16_t want;
        memcpy(&want, &h, sizeof want);
        cr_assert_eq(qn_f32_to_f16(v), want, "float %08x (%g)", u, (double)v);
    }
    for (uint32_t h = 0; h < 0x7C00; h++) {
        float lo = qn_f16_to_f32((uint16_t)h), hi = qn_f16_to_f32((uint16_t)(h + 1));
        float mid = lo + (hi - lo) / 2; /* exact: both neighbours fit in a float with room to spare */
        const float probes[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
        for (int p = 0; p < 3; p++) {
            _Float16 c = (_Float16)probes[p];
            uint16_t want;
            memcpy(&want, &c, sizeof want);
            cr_assert_eq(qn_f32_to_f16(probes[p]), want, "near the tie above half %04x", h);
            cr_assert_eq(qn_f32_to_f16(-probes[p]), want | 0x8000, "negative, near the tie above half %04x", h);
        }
    }
}
#endif

Test(half, bf16_conversions) {
    cr_expect_eq(qn_f32_to_bf16(1.0f), 0x3F80);
    cr_expect_eq(qn_f32_to_bf16(1.00390625f), 0x3F80, "1 + 2^-8 ties to even");
    cr_expect_eq(qn_f32_to_bf16(1.01171875f), 0x3F82, "1 + 3*2^-8 ties up to even");
    cr_expect_eq(qn_f32_to_bf16(3.4e38f), 0x7F80, "rounds past the largest bf16 to inf");
    cr_expect_eq(qn_f32_to_bf16(-0.0f), 0x8000);
    cr_expect(isnan(qn_bf16_to_f32(qn_f32_to_bf16(NAN))));
    cr_expect_eq(qn_f32_to_bf16(0x1p-133f), 0x0001, "bf16 subnormals are kept");
}

Test(int8, rowwise_values_and_round_trip) {
    const float W[6] = {0.5f, -1.0f, 0.25f, 0.0f, 0.0f, 0.0f};
    int8_t q[6];
    float amax[2], back[6];
    qn_int8_rowwise_quantize(W, 2, 3, q, amax);
    cr_expect_eq(amax[0], 1.0f);
    cr_expect_eq(q[0], 64, "0.5 * 127 = 63.5 ties to even 64");
    cr_expect_eq(q[1], -127);
    cr_expect_eq(q[2], 32, "31.75 -> 32");
    for (int i = 3; i < 6; i++) cr_expect_eq(q[i], 0, "an all-zero row stays zero");
    qn_int8_rowwise_dequantize(q, amax, 2, 3, back);
    cr_expect_eq(back[1], -1.0f);
    float y[6];
    qn_quant_int8_rowwise(W, y, 2, 3);
    cr_expect(memcmp(y, back, sizeof y) == 0, "fake quantization equals quantize + dequantize");
}

/* From bitsandbytes 0.50.2's int8_vectorwise_quant: torch's 127.0 / t is reciprocal(t) * 127, here one
 * ulp below 127 / 2.3036394 and enough to round x * s = 4.4999... down. */
Test(int8, scale_as_torch_reciprocal_times_127) {
    const float x[2] = {0.08162502199411392f, -2.3036394119262695f};
    int8_t q[2];
    float amax;
    qn_int8_rowwise_quantize(x, 1, 2, q, &amax);
    cr_expect_eq(q[0], 4, "bitsandbytes gives 4 (127 / amax would give 5)");
    cr_expect_eq(q[1], -127);
}

Test(int8, llm_int8_outliers) {
    /* column 1 holds an outlier (8 >= 6): it is marked, q is 0 there, and the row statistic ignores
     * only the outlier value itself */
    const float A[6] = {0.5f, 8.0f, -1.0f, 0.25f, 2.0f, 0.5f};
    int8_t q[6];
    float stat[2];
    uint8_t outlier[3];
    cr_expect_eq(qn_llm_int8_decompose(A, 2, 3, 6.0f, q, stat, outlier), 1);
    cr_expect(outlier[1] && !outlier[0] && !outlier[2]);
    cr_expect_eq(stat[0], 1.0f);
    cr_expect_eq(stat[1], 2.0f, "2.0 in the outlier column is not itself an outlier");
    cr_expect_eq(q[1], 0);
    cr_expect_eq(q[4], 0);
    cr_expect_eq(q[2], -127);
    cr_expect_eq(qn_llm_int8_decompose(A, 2, 3, 0.0f, q, stat, outlier), 0, "threshold 0: no outliers");
    /* through the format: outlier columns pass unquantized */
    qn_format f;
    char err[128];
    cr_assert_eq(qn_format_parse("int8:threshold=6", &f, err, sizeof err), 0, "%s", err);
    float y[6];
    int64_t shape[2] = {2, 3};
    cr_assert_eq(qn_format_apply(&f, A, y, shape, 2, err, sizeof err), 0, "%s", err);
    cr_expect_eq(y[1], 8.0f);
    cr_expect_eq(y[4], 2.0f);
}

/* The packed W8A16 blocks: 36 bytes each, rows padded to whole blocks with zero codes, and
 * pack -> unpack gives back the codes and scales exactly, for widths around the block size. */
Test(int8, block_pack_round_trip) {
    cr_expect_eq(sizeof(qn_int8_block32), 36);
    const int widths[] = {1, 31, 32, 33, 64, 100};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const int rows = 3, cols = widths[w];
        float W[3 * 100], amax[3], amax2[3], back[3 * 100], back2[3 * 100];
        int8_t q[3 * 100], q2[3 * 100];
        for (int i = 0; i < rows * cols; i++) W[i] = sinf(0.37f * (float)i) * (float)(1 + i % 5);
        qn_int8_rowwise_quantize(W, rows, cols, q, amax);
        size_t nb = qn_int8_blocks(rows, cols);
        cr_assert_eq(nb, (size_t)rows * (size_t)((cols + 31) / 32));
        qn_int8_block32 blocks[3 * 4];
        qn_int8_pack_blocks(q, amax, rows, cols, blocks);
        for (int r = 0; r < rows; r++) { /* the padding of each row's last block is zero */
            const qn_int8_block32 *last = &blocks[(size_t)(r + 1) * (nb / rows) - 1];
            for (int c = cols % 32 ? cols % 32 : 32; c < 32; c++) cr_expect_eq(last->q[c], 0);
            cr_expect_eq(blocks[(size_t)r * (nb / rows)].absmax, amax[r]);
        }
        qn_int8_unpack_blocks(blocks, rows, cols, q2, amax2);
        cr_expect_eq(memcmp(q, q2, (size_t)(rows * cols)), 0, "codes differ at width %d", cols);
        cr_expect_eq(memcmp(amax, amax2, sizeof amax), 0, "scales differ at width %d", cols);
        qn_int8_rowwise_dequantize(q, amax, rows, cols, back);
        qn_int8_rowwise_dequantize(q2, amax2, rows, cols, back2);
        cr_expect_eq(memcmp(back, back2, (size_t)(rows * cols) * sizeof(float)), 0);
    }
}
