/* MASE's formats on the research note's hand-derived vectors (sections 3-9; each derived from MASE's
 * source), and properties over random inputs: idempotence, sign symmetry where the format has it,
 * outputs on the format's grid, special values as docs/formats.md says. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_formats.h"
#include "qn_kernels.h"

static void expect_vec(const float *got, const float *want, int n, const char *what) {
    for (int i = 0; i < n; i++)
        cr_expect(memcmp(&got[i], &want[i], sizeof(float)) == 0 || (isnan(got[i]) && isnan(want[i])),
                  "%s[%d]: got %.10g, want %.10g", what, i, got[i], want[i]);
}

static void apply(const char *spec, const float *x, float *y, const int64_t *shape, int ndim) {
    qn_format f;
    char err[256];
    cr_assert_eq(qn_format_parse(spec, &f, err, sizeof err), 0, "%s: %s", spec, err);
    cr_assert_eq(qn_format_apply(&f, x, y, shape, ndim, err, sizeof err), 0, "%s: %s", spec, err);
}

static void check1d(const char *spec, const float *x, const float *want, int n) {
    float y[64];
    int64_t shape[1] = {n};
    apply(spec, x, y, shape, 1);
    expect_vec(y, want, n, spec);
}

Test(formats, minifloat_denorm_w8_e4) {
    const float x[] = {0.3f, 1.0f, -2.5f, 1000.0f, 0.001f, 0.0001f, 0.96875f, 1.0625f, 0.5625f, 0.6875f, 5e-9f};
    const float w[] = {0.3125f, 0.875f, -2.5f, 224.0f, 0.0009765625f, 0.0f, 0.875f, 1.0f, 0.5f, 0.75f, 5e-9f};
    check1d("minifloat_denorm:width=8,exponent_width=4", x, w, 11);
    const float x2[] = {0.3f, 3.0f, 20.0f, 0.05f};
    const float w2[] = {0.25f, 3.0f, 12.0f, 0.0625f};
    check1d("minifloat_denorm:width=6,exponent_width=3", x2, w2, 4);
}

Test(formats, minifloat_ieee_w8_e4) {
    const float x[] = {0.3f, 1.0f, -2.5f, 1.9375f, 1.0625f, 1.1875f, 1000.0f, 0.01f, 0.001f, 0.0009f, -0.0001f, 0.0146484375f};
    const float w[] = {0.3125f, 1.0f, -2.5f, 1.875f, 1.0f, 1.25f, 480.0f, 0.009765625f, 0.001953125f, 0.0f, -0.0f, 0.013671875f};
    check1d("minifloat_ieee:width=8,exponent_width=4", x, w, 12);
    const float x2[] = {0.3f, 3.0f, 20.0f, 0.05f, 0.2f};
    const float w2[] = {0.3125f, 3.0f, 20.0f, 0.0625f, 0.1875f};
    check1d("minifloat_ieee:width=6,exponent_width=3,exponent_bias=3", x2, w2, 5);
}

Test(formats, minifloat_special_values_follow_mase_mask_arithmetic) {
    const float x[] = {INFINITY, -INFINITY, NAN, -0.0f, 0.0f};
    float y[5];
    int64_t shape[1] = {5};
    apply("minifloat_ieee:width=8,exponent_width=4", x, y, shape, 1);
    cr_expect(isnan(y[0]) && isnan(y[1]), "inf gives NaN (0*inf in MASE's passthrough)");
    cr_expect(isnan(y[2]));
    cr_expect(y[3] == 0.0f && !signbit(y[3]), "-0.0 comes out +0.0");
    apply("minifloat_denorm:width=8,exponent_width=4", x, y, shape, 1);
    cr_expect(isnan(y[0]) && isnan(y[1]));
}

Test(formats, log_quantizer) {
    const float x[] = {0.3f, 0.36f, -3.0f, 0.0f, -0.01f, 100.0f, 1.4f, 1.42f};
    const float w[] = {0.25f, 0.5f, -4.0f, 0.125f, 0.125f, 16.0f, 1.0f, 2.0f};
    check1d("log:width=4", x, w, 8);
    const float x2[] = {0.3f, -3.0f, 1e-30f};
    const float w2[] = {0.25f, -0.5f, 0x1p-100f};
    check1d("log:width=8,exponent_bias=128", x2, w2, 3);
}

Test(formats, block_fp) {
    const float a[] = {1.0f, -0.3f, 0.05f, 0.7f}, wa[] = {0.9375f, -0.3125f, 0.0625f, 0.6875f};
    check1d("block_fp:width=5,exponent_width=8,block_size=4", a, wa, 4);
    const float b[] = {3.0f, 0.1f, -0.02f, 0.0f}, wb[] = {3.0f, 0.0f, -0.0f, 0.0f};
    check1d("block_fp:width=5,exponent_width=8,block_size=4", b, wb, 4);
    /* 2-D weight, blocks [1,2] along rows */
    const float W[8] = {0.5f, 0.1f, 2.0f, 0.3f, 0.05f, 0.2f, 0.25f, -0.125f};
    const float want[8] = {0.46875f, 0.09375f, 1.875f, 0.25f, 0.046875f, 0.203125f, 0.234375f, -0.125f};
    float y[8];
    int64_t shape[2] = {2, 4};
    apply("block_fp:width=5,exponent_width=8,block_size=2", W, y, shape, 2);
    expect_vec(y, want, 8, "block_fp 2-D");
}

Test(formats, block_fp_zero_blocks_take_the_smallest_block_max) {
    /* the zero block gets max 0.25 from the other row: its zeros stay zero */
    const float x[8] = {0, 0, 0, 0, 0.25f, -0.1f, 0.05f, 0.2f};
    float y[8];
    int64_t shape[2] = {2, 4};
    apply("block_fp:width=5,exponent_width=8,block_size=4", x, y, shape, 2);
    for (int i = 0; i < 4; i++) cr_expect_eq(y[i], 0.0f);
    const float z[4] = {0, 0, 0, 0};
    int64_t s1[1] = {4};
    apply("block_fp:width=5,exponent_width=8,block_size=2", z, y, s1, 1);
    for (int i = 0; i < 4; i++) cr_expect_eq(y[i], 0.0f);
}

Test(formats, block_minifloat) {
    const float a[] = {3.0f, 0.3f, -1.0f, 0.05f}, wa[] = {3.0f, 0.25f, -1.0f, 0.0f};
    check1d("block_minifloat:width=8,exponent_width=4,exponent_bias_width=4,block_size=4", a, wa, 4);
    const float b[] = {0.5f, 0.3f, -0.2f, 0.1f}, wb[] = {0.5f, 0.25f, -0.25f, 0.0f};
    check1d("block_minifloat:width=8,exponent_width=4,exponent_bias_width=4,block_size=4", b, wb, 4);
    const float c[] = {100.0f, 1.0f, 0.01f, 0.001f}, wc[] = {96.0f, 1.0f, 0.01171875f, 0.0f};
    check1d("block_minifloat:width=8,exponent_width=4,exponent_bias_width=4,block_size=4", c, wc, 4);
}

Test(formats, block_log) {
    const float a[] = {1.0f, 0.3f, -0.05f, 0.0f}, wa[] = {1.0f, 0.25f, -0.125f, 0.125f};
    check1d("block_log:width=4,exponent_bias_width=2,block_size=4", a, wa, 4);
    const float b[] = {40.0f, 1.0f, 0.01f, -0.5f}, wb[] = {32.0f, 1.0f, 0.5f, -0.5f};
    check1d("block_log:width=4,exponent_bias_width=2,block_size=4", b, wb, 4);
}

Test(formats, mxint) {
    const float a[] = {1.0f, -0.3f, 0.05f, 0.7f}, wa[] = {0.9921875f, -0.296875f, 0.046875f, 0.703125f};
    check1d("mxint:width=8,block_size=4", a, wa, 4);
    const float b[] = {3.0f, -2.9f, 0.1f, 0.0f}, wb[] = {3.0f, -2.90625f, 0.09375f, 0.0f};
    check1d("mxint:width=8,block_size=4", b, wb, 4);
    const float c[] = {-1.0f, 0.5f, 0.25f, 0.125f};
    check1d("mxint:width=8,block_size=4", c, c, 4);
    const float z[] = {0, 0, 0, 0};
    check1d("mxint:width=8,block_size=4", z, z, 4);
    const float wk[] = {0.875f, -0.25f, 0.0f, 0.75f};
    check1d("mxint:width=4,block_size=4", a, wk, 4);
}

Test(formats, mxfp_rounds_as_the_mx_definition) {
    /* MASE's vectors where its codec and the MX definition agree */
    const float a[] = {1.0f, -0.3f, 0.05f, 0.7f}, wa[] = {1.0f, -0.3125f, 0.05078125f, 0.6875f};
    check1d("mxfp:exponent_width=4,frac_width=3,block_size=4", a, wa, 4);
    const float b[] = {1.0f, -0.3f, 0.05f, 100.0f}, wb[] = {1.0f, -0.3125f, 0.046875f, 96.0f};
    check1d("mxfp:exponent_width=5,frac_width=2,block_size=4", b, wb, 4);
    const float c[] = {1.0f, -0.3f, 0.05f, 0.7f}, wc[] = {1.0f, -0.25f, 0.0f, 0.75f};
    check1d("mxfp:exponent_width=2,frac_width=1,block_size=4", c, wc, 4);
    /* where MASE differs: 0.6 and 0.75 are E2M1 subnormals (MASE flushes 0.6 to 0 and gives 0.5 for
     * 0.75), a carry goes into the exponent (MASE's OR turns 7.0 into 4.0, 1.8 into 1.0, 0.49609375
     * into 0.25), and past the largest code the value saturates (E4M3 480 * 2^-8 = 1.875) */
    const float d[] = {6.0f, 2.5f, -1.2f, 0.6f}, wd[] = {6.0f, 2.0f, -1.0f, 0.5f};
    check1d("mxfp:exponent_width=2,frac_width=1,block_size=4", d, wd, 4);
    const float e[] = {6.0f, 0.75f, 3.5f, -5.0f}, we[] = {6.0f, 1.0f, 4.0f, -4.0f};
    check1d("mxfp:exponent_width=2,frac_width=1,block_size=4", e, we, 4);
    const float g[] = {7.0f, 1.8f, 1.0f, 0.0f}, wg[] = {6.0f, 2.0f, 1.0f, 0.0f};
    check1d("mxfp:exponent_width=2,frac_width=1,block_size=4", g, wg, 4);
    const float f[] = {1.9375f, 0.5f, -0.25f, 0.001f}, wf[] = {1.875f, 0.5f, -0.25f, 0.0009765625f};
    check1d("mxfp:exponent_width=4,frac_width=3,block_size=4", f, wf, 4);
    const float h[] = {1.5f, 0.49609375f, 0.0f, -0.75f}, wh[] = {1.5f, 0.5f, 0.0f, -0.75f};
    check1d("mxfp:exponent_width=4,frac_width=3,block_size=4", h, wh, 4);
    /* E4M3 subnormals: 2^-9 steps below 2^-6 (scale 1 in this block) */
    const float k[] = {448.0f, 0x1p-8f, 0.0025f, 0x1p-11f}, wk[] = {448.0f, 0x1p-8f, 0x1p-9f, 0.0f};
    check1d("mxfp:exponent_width=4,frac_width=3,block_size=4", k, wk, 4);
}

Test(formats, binary_and_ternary) {
    const float a[] = {0.3f, -0.2f, 0.0f, -0.0f, 5.0f}, wa[] = {1, -1, 1, 1, 1};
    check1d("binary:bipolar=1", a, wa, 5);
    const float b[] = {0.5f, -1.0f, 0.0f, 1.5f}, wb[] = {0.75f, 0, 0, 0.75f};
    float y[8];
    int64_t shape[4] = {1, 1, 1, 4};
    apply("binary", b, y, shape, 4);
    expect_vec(y, wb, 4, "binary zero-scaled");
    const float t[] = {0.5f, -1.0f, 0.1f, 1.5f}, wt[] = {0, -1, 0, 1}, wts[] = {0, -1.25f, 0, 1.25f};
    apply("ternary", t, y, shape, 4);
    expect_vec(y, wt, 4, "ternary");
    apply("ternary:scaling_factor=1", t, y, shape, 4);
    expect_vec(y, wts, 4, "ternary scaled");
    /* statistics per index of the first axis */
    const float two[8] = {1, -1, 1, -1, 10, -10, 10, 0};
    int64_t s2[2] = {2, 4};
    apply("binary", two, y, s2, 2);
    cr_expect_eq(y[0], 1.0f);
    cr_expect_eq(y[4], 7.5f);
}

Test(formats, spec_errors) {
    const char *bad[][2] = {
        {"integr:width=8", "unknown format 'integr'"},
        {"integer", "integer needs width"},
        {"integer:width=8", "integer needs frac_width"},
        {"integer:width=8,frac_width=4,block_size=4", "integer has no key 'block_size'"},
        {"integer:width=8.5,frac_width=4", "integer width must be an integer, not 8.5"},
        {"integer:width=x,frac_width=4", "format 'integer': width=x is not a number"},
        {"integer:width", "format 'integer': 'width' is not key=value"},
        {"integer:", "nothing after ':'"},
        {"integer:width=8,", "trailing ','"},
        {"mxfp:exponent_width=3,frac_width=3", "mxfp element E3M3 is not an MX element"},
        {"nf4:block_size=48", "nf4 block_size must be a power of two in [32, 4096] (got 48)"},
        {"integer:width=1,frac_width=0", "integer width must be in [2, 32] (got 1)"},
        {"fp16:width=16", "fp16 takes no keys"},
        {":width=8", "has no name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qn_format f;
        char err[256] = "";
        cr_expect_eq(qn_format_parse(bad[i][0], &f, err, sizeof err), -1, "'%s' parsed", bad[i][0]);
        cr_expect(strstr(err, bad[i][1]) != NULL, "'%s': got '%s', want '%s'", bad[i][0], err, bad[i][1]);
    }
    qn_format f;
    char err[256], buf[128];
    cr_assert_eq(qn_format_parse("minifloat_ieee:width=8,exponent_width=4", &f, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(qn_format_describe(&f, buf, sizeof buf), "minifloat_ieee:width=8,exponent_width=4,exponent_bias=7");
    cr_assert_eq(qn_format_parse("mxint", &f, err, sizeof err), 0, "%s", err);
    cr_expect_eq(f.width, 8);
    cr_expect_eq(f.block_size, 32);
}

/* Properties over random inputs for every element-wise and block format. */
Test(formats, idempotent_sign_symmetric_and_finite, .timeout = 120) {
    const char *idempotent[] = {
        /* not minifloat_denorm nor block_fp: an output 2^k maps to (1 - 2^-m) 2^k on a second pass, as
         * in MASE (ceil of log2) */
        "integer:width=8,frac_width=4", "minifloat_ieee:width=8,exponent_width=4",
        "minifloat_ieee:width=6,exponent_width=3", "log:width=5",
        /* not mxint (a block max of 2^S clamps to (1 - 2^-7) 2^S) nor mxfp (a saturated block max
         * lowers the shared exponent on a second pass) */
        "binary:bipolar=1", "ternary", "fp16", "bf16",
    };
    const char *symmetric[] = {
        "minifloat_denorm:width=8,exponent_width=4", "minifloat_ieee:width=8,exponent_width=4", "block_fp:width=6,exponent_width=8,block_size=16",
        "mxfp:exponent_width=4,frac_width=3,block_size=32", "ternary", "fp16", "bf16",
    };
    enum { ROWS = 64, COLS = 96, N = ROWS * COLS };
    static float x[N], y[N], z[N], neg[N], yn[N];
    qn_rng rng;
    qn_rng_seed(&rng, 9);
    for (int i = 0; i < N; i++) x[i] = qn_rng_normal(&rng) * ldexpf(1.0f, (int)qn_rng_below(&rng, 12) - 6);
    for (int i = 0; i < N; i++) neg[i] = -x[i];
    int64_t shape[2] = {ROWS, COLS};
    for (size_t k = 0; k < sizeof idempotent / sizeof idempotent[0]; k++) {
        apply(idempotent[k], x, y, shape, 2);
        apply(idempotent[k], y, z, shape, 2);
        for (int i = 0; i < N; i++) {
            cr_assert(isfinite(y[i]), "%s: x=%g gave %g", idempotent[k], x[i], y[i]);
            cr_assert(y[i] == z[i], "%s: q(q(x)) != q(x) at x=%.9g: %.9g -> %.9g", idempotent[k], x[i], y[i], z[i]);
        }
    }
    for (size_t k = 0; k < sizeof symmetric / sizeof symmetric[0]; k++) {
        apply(symmetric[k], x, y, shape, 2);
        apply(symmetric[k], neg, yn, shape, 2);
        for (int i = 0; i < N; i++) cr_assert(y[i] == -yn[i], "%s: q(-x) != -q(x) at %.9g", symmetric[k], x[i]);
    }
}

Test(formats, outputs_lie_on_the_format_grid) {
    enum { N = 4096 };
    static float x[N], y[N];
    qn_rng rng;
    qn_rng_seed(&rng, 4);
    for (int i = 0; i < N; i++) x[i] = (qn_rng_uniform(&rng) - 0.5f) * 600.0f;
    int64_t shape[1] = {N};
    /* minifloat_ieee 8/4/7: every output is s * 2^(E-3) with E in [-6, 8] and s < 16, or a subnormal step */
    apply("minifloat_ieee:width=8,exponent_width=4", x, y, shape, 1);
    for (int i = 0; i < N; i++) {
        float a = fabsf(y[i]);
        cr_assert(a <= 480.0f);
        cr_assert_eq(fmodf(a, 0x1p-9f), 0.0f, "%g is off the grid", a);
        if (a >= 0x1p-6f) {
            int e;
            float mnt = frexpf(a, &e) * 16.0f; /* 4 significant bits */
            cr_assert_eq(mnt, rintf(mnt), "%g has more than 4 significant bits", a);
        }
    }
    /* log: powers of two only */
    apply("log:width=5", x, y, shape, 1);
    for (int i = 0; i < N; i++) {
        int e;
        cr_assert_eq(frexpf(fabsf(y[i]), &e), 0.5f, "%g is not a power of two", y[i]);
    }
    /* mxint 8: each output is an integer multiple of its block scale / 128 */
    apply("mxint:width=8,block_size=32", x, y, shape, 1);
    for (int b = 0; b < N / 32; b++) {
        float M = 0;
        for (int i = 0; i < 32; i++) M = fmaxf(M, fabsf(x[b * 32 + i]));
        float step = ldexpf(1.0f, (int)ceilf(log2f(M)) - 7);
        for (int i = 0; i < 32; i++) cr_assert_eq(fmodf(y[b * 32 + i], step), 0.0f);
    }
}

Test(formats, mxint8_packed_to_bf16_edge_cases) {
    qn_mxint8_block blk;
    memset(&blk, 0, sizeof blk);
    uint16_t out[32];
    /* scale 127: m/64 exactly */
    blk.scale = 127;
    const int8_t m[] = {69, 37, -37, 0, 127, -127, -128, 1};
    memcpy(blk.elem, m, sizeof m);
    qn_mxint8_to_bf16(&blk, 1, out);
    const uint16_t want127[] = {0x3F8A, 0x3F14, 0xBF14, 0x0000, 0x3FFE, 0xBFFE, 0xC000, 0x3C80};
    for (int i = 0; i < 8; i++) cr_expect_eq(out[i], want127[i], "m=%d: %04x", m[i], out[i]);
    /* scale 0: 2^-127 * m/64 is a bf16 subnormal (the published kernel gets it wrong) */
    blk.scale = 0;
    qn_mxint8_to_bf16(&blk, 1, out);
    cr_expect_eq(out[7], 0x0000 | 0x0001, "1 * 2^-133 = bf16 subnormal 0x0001 (2^-133)");
    cr_expect_eq(out[6], 0x8080, "-128 * 2^-133 = -2^-126, the smallest bf16 normal");
    blk.scale = 255;
    qn_mxint8_to_bf16(&blk, 1, out);
    cr_expect_eq(out[0] & 0x7FC0, 0x7FC0, "scale 255 is NaN");
    /* pack then unpack: within half a step of the input */
    float x[32], back[32];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 0.173f;
    qn_mxint8_pack(x, 32, &blk);
    qn_mxint8_to_bf16(&blk, 1, out);
    for (int i = 0; i < 32; i++) {
        uint32_t b = (uint32_t)out[i] << 16;
        memcpy(&back[i], &b, 4);
        cr_expect(fabsf(back[i] - x[i]) <= ldexpf(1.0f, (int)blk.scale - 127 - 6) * 0.5f + fabsf(x[i]) * 0x1p-8f,
                  "x=%g back %g", x[i], back[i]);
    }
}

/* Format SPECs from the command line: mutated specs either parse to a checked format or fail with
 * a one-line message; a parsed format applies without error. */
Test(formats, spec_parser_fuzz) {
    const char *seeds[] = {"integer:width=8,frac_width=4", "minifloat_ieee:width=8,exponent_width=4,exponent_bias=7",
                           "block_fp:width=8,exponent_width=8,block_size=16", "mxfp:exponent_width=4,frac_width=3",
                           "nf4:block_size=64,double_quant=1", "int8:threshold=6", "fp16"};
    const char alphabet[] = "abcdefghijklmnopqrstuvwxyz_:=,.-+0123456789e \t%";
    uint64_t s = 99;
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i * 0.37f - 11.0f;
    int64_t shape[2] = {4, 16};
    int parsed = 0;
    for (int it = 0; it < 20000; it++) {
        char spec[128];
        snprintf(spec, sizeof spec, "%s", seeds[it % 7]);
        size_t n = strlen(spec);
        for (int e = 0; e < 1 + (int)(it % 2); e++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t pos = n ? (size_t)(s >> 16) % n : 0;
            char c = alphabet[(s >> 40) % (sizeof alphabet - 1)];
            switch (s % 3) {
            case 0: spec[pos] = c; break;
            case 1: if (n + 1 < sizeof spec) { memmove(spec + pos + 1, spec + pos, n - pos + 1); spec[pos] = c; n++; } break;
            default: memmove(spec + pos, spec + pos + 1, n - pos); if (n) n--; break;
            }
        }
        qn_format f;
        char err[256] = "";
        if (qn_format_parse(spec, &f, err, sizeof err) == 0) {
            parsed++;
            cr_assert_eq(qn_format_apply(&f, x, y, shape, 2, err, sizeof err), 0, "'%s' parsed but does not apply: %s", spec, err);
        } else {
            cr_assert(err[0] && !strchr(err, '\n'), "'%s': bad message '%s'", spec, err);
        }
    }
    cr_log_info("%d of 20000 mutated specs parsed", parsed);
}

/* The vectorized minifloat loops (a fast path plus exact recomputation of the elements log2f's
 * rounding decides) give, bit for bit, what the per-element MASE emulation gives: random bit
 * patterns (every class of float) and special values, for several widths and biases. */
#include "../../kernels/cpu/format_elem.h"

Test(formats, minifloat_loops_equal_the_element_emulation, .timeout = 120) {
    enum { N = 1 << 17 };
    static float x[N], y[N];
    static const int cfg[][3] = {{8, 4, QN_BIAS_DEFAULT}, {8, 5, QN_BIAS_DEFAULT}, {6, 3, QN_BIAS_DEFAULT},
                                 {4, 2, QN_BIAS_DEFAULT}, {8, 4, 3},              {8, 4, 10},
                                 {12, 5, QN_BIAS_DEFAULT}, {16, 8, QN_BIAS_DEFAULT}, {5, 3, 1}};
    static const float specials[] = {0.0f, -0.0f, 1e-9f, -1e-9f, 1e-8f, -1e-8f, 1.0000001e-8f, -1.0000001e-8f,
                                     INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 1.0f, -1.0f, 0.99999994f,
                                     1.9999999f, 3.4028235e38f, 1.17549435e-38f, -7.5f, 5e-10f};
    qn_rng rng;
    qn_rng_seed(&rng, 2024);
    long bad = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        const int W = cfg[c][0], E = cfg[c][1], bias = cfg[c][2], m = W - E - 1;
        const int b = bias == QN_BIAS_DEFAULT ? (1 << (E - 1)) - 1 : bias;
        const float emin = (float)-b, emax = (float)((1 << E) - 1 - b);
        for (int i = 0; i < N; i++) {
            uint32_t u = (uint32_t)qn_rng_u64(&rng);
            if (i % 2) { /* half of them in the formats' working range */
                float f = ((float)qn_rng_uniform(&rng) * 2.0f - 1.0f) * ldexpf(1.0f, (int)qn_rng_below(&rng, 40) - 20);
                memcpy(&u, &f, sizeof u);
            }
            memcpy(&x[i], &u, sizeof u);
        }
        memcpy(x, specials, sizeof specials);
        for (int kind = 0; kind < 2; kind++) {
            if (kind == 0) qn_quant_minifloat_ieee(x, y, N, W, E, bias);
            else qn_quant_minifloat_denorm(x, y, N, W, E, bias);
            for (int i = 0; i < N; i++) {
                float want = kind == 0 ? qn_minifloat_ieee_elem(x[i], m, (float)b, emin, emax)
                                       : qn_minifloat_denorm_elem(x[i], m, emin, emax);
                uint32_t a, w;
                memcpy(&a, &y[i], sizeof a), memcpy(&w, &want, sizeof w);
                if (a != w && !(isnan(y[i]) && isnan(want)) && bad++ < 5)
                    cr_log_error("%s w%d e%d bias %d: x=%a gives %a, the element emulation %a",
                                 kind ? "denorm" : "ieee", W, E, bias, (double)x[i], (double)y[i], (double)want);
            }
        }
    }
    cr_expect_eq(bad, 0, "%ld elements differ", bad);
}

/* bf16 bits of x (a double that a float holds exactly, or in the float subnormal range), rounded to
 * nearest even, computed independently of the kernel: via the float's bits, with infinities kept */
static uint16_t bf16_of_exact(double x) {
    float f = (float)x; /* exact: |m| * 2^(s-133) has at most 8 significant bits */
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7F800000u) == 0x7F800000u) return (uint16_t)(b >> 16);
    uint32_t lsb = (b >> 16) & 1u;
    return (uint16_t)((b + 0x7FFFu + lsb) >> 16);
}

Test(formats, mxint8_to_bf16_every_scale_and_element) {
    /* all 255 finite scales x all 256 elements against m * 2^(scale - 133) in double */
    qn_mxint8_block blk[8];
    uint16_t out[8 * 32];
    for (int scale = 0; scale < 255; scale++) {
        for (int b = 0; b < 8; b++) {
            blk[b].scale = (uint8_t)scale;
            for (int i = 0; i < 32; i++) blk[b].elem[i] = (int8_t)(b * 32 + i - 128);
        }
        qn_mxint8_to_bf16(blk, 8, out);
        for (int k = 0; k < 256; k++) {
            int m = k - 128;
            uint16_t want = bf16_of_exact(ldexp((double)m, scale - 133));
            cr_assert_eq(out[k], want, "scale %d, element %d: %04x, expected %04x", scale, m, out[k], want);
        }
    }
}
