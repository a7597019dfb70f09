/* Precisions of the decoder (worker/llm_quant.c, worker/llm_linear.c, kernels/cpu/lowbit_gemv.c): the
 * packed GEMVs against a double-precision dot with the dequantized rows on every path this CPU has
 * (QUENCH_LOWBIT), the Linear layer whatever the thread count, LLM.int8 against its definition, keep
 * patterns, footprints counted by hand for a tiny Llama, and bad precision strings. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../worker/llm.h"
#include "qn_kernels.h"
#include "qn_lowbit_gemv.h"
#include "../support/test_arrays.h"

static const char *const paths[] = {"portable", "avx2", NULL}; /* NULL: the best this CPU has */

/* A Linear of `format` packed from w (out, in) the way qn_llm_quantize packs it. */
static qn_llm_linear make_linear(qn_llm_weight_format f, int out, int in, const float *w, int blocksize, int dq) {
    qn_llm_packed *p = calloc(1, sizeof *p);
    size_t n = (size_t)out * in;
    p->threshold = 6.0f;
    switch (f) {
    case QN_LLM_WEIGHT_F16:
    case QN_LLM_WEIGHT_BF16:
        p->h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) p->h[i] = f == QN_LLM_WEIGHT_BF16 ? qn_f32_to_bf16(w[i]) : qn_f32_to_f16(w[i]);
        break;
    case QN_LLM_WEIGHT_W8A16:
    case QN_LLM_WEIGHT_INT8:
        p->q = malloc(n), p->absmax = malloc((size_t)out * sizeof(float));
        qn_int8_rowwise_quantize(w, out, in, p->q, p->absmax);
        break;
    case QN_LLM_WEIGHT_4BIT: cr_assert_eq(qn_4bit_quantize(w, n, QN_4BIT_NF4, blocksize, dq, &p->t), 0); break;
    case QN_LLM_WEIGHT_F32: break;
    }
    return (qn_llm_linear){.out = out, .in = in, .format = f, .w = f == QN_LLM_WEIGHT_F32 ? w : NULL, .packed = p};
}

static void free_linear(qn_llm_linear *l) {
    qn_llm_packed *p = (qn_llm_packed *)l->packed;
    free(p->h), free(p->q), free(p->absmax), qn_4bit_free(&p->t), free(p);
}

/* |y - sum_k Wdeq[j,k] x[i,k]| <= 1e-5 * sum_k |Wdeq x| for every output. */
static void check_against_dequantized(const qn_llm_linear *l, const float *x, int M, const float *y, const char *what) {
    float *wd = malloc((size_t)l->out * l->in * sizeof(float));
    qn_llm_linear_dequantize(l, 0, l->out, wd);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < l->out; j++) {
            double s = 0, a = 0;
            for (int k = 0; k < l->in; k++) {
                double p = (double)wd[(size_t)j * l->in + k] * x[(size_t)i * l->in + k];
                s += p, a += fabs(p);
            }
            cr_assert(fabs(y[(size_t)i * l->out + j] - s) <= 1e-5 * a + 1e-30, "%s: y[%d,%d] = %g, want %g", what, i, j,
                      y[(size_t)i * l->out + j], s);
        }
    free(wd);
}

static void gemv_matches_dequantized(qn_llm_weight_format f, int out, int in, int blocksize, int dq) {
    float *w = qn_test_randn((size_t)out * in, 7, 0.05f), *x = qn_test_randn((size_t)11 * in, 8, 1.0f);
    qn_llm_linear l = make_linear(f, out, in, w, blocksize, dq);
    float *y = malloc((size_t)11 * out * sizeof(float));
    for (int p = 0; p < 3; p++) {
        if (paths[p]) setenv("QUENCH_LOWBIT", paths[p], 1);
        else unsetenv("QUENCH_LOWBIT");
        for (int M = 1; M <= 11; M += 2) { /* 1, 3, ... 9: the GEMV; 11: the prefill path */
            char what[128];
            snprintf(what, sizeof what, "format %d, %dx%d, block %d, dq %d, path %s (%s), M %d", f, out, in, blocksize, dq,
                     paths[p] ? paths[p] : "best", qn_lowbit_path(), M);
            qn_llm_linear_forward(&l, y, out, x, in, M);
            check_against_dequantized(&l, x, M, y, what);
        }
    }
    unsetenv("QUENCH_LOWBIT");
    free_linear(&l), free(w), free(x), free(y);
}

Test(llm_quant, gemv_w8a16_matches_dequantized) {
    gemv_matches_dequantized(QN_LLM_WEIGHT_W8A16, 37, 96, 0, 0);
    gemv_matches_dequantized(QN_LLM_WEIGHT_W8A16, 5, 45, 0, 0); /* a tail past the last 32 */
}
Test(llm_quant, gemv_fp16_bf16_match_dequantized) {
    gemv_matches_dequantized(QN_LLM_WEIGHT_F16, 37, 96, 0, 0);
    gemv_matches_dequantized(QN_LLM_WEIGHT_BF16, 37, 77, 0, 0);
}
Test(llm_quant, gemv_nf4_matches_dequantized) {
    gemv_matches_dequantized(QN_LLM_WEIGHT_4BIT, 37, 128, 64, 0);
    gemv_matches_dequantized(QN_LLM_WEIGHT_4BIT, 37, 128, 32, 1);   /* double quantization */
    gemv_matches_dequantized(QN_LLM_WEIGHT_4BIT, 37, 256, 128, 1);  /* AVX2: a block over two 64-code groups */
    gemv_matches_dequantized(QN_LLM_WEIGHT_4BIT, 37, 96, 64, 0);    /* blocks straddle rows */
    gemv_matches_dequantized(QN_LLM_WEIGHT_4BIT, 9, 45, 64, 1);     /* odd rows: start mid-byte */
}

Test(llm_quant, int8_int8_dot_is_exact_on_every_path) {
    enum { OUT = 19, IN = 77, M = 4 };
    int8_t q[OUT * IN], xq[M * IN];
    qn_rng r;
    qn_rng_seed(&r, 3);
    for (int i = 0; i < OUT * IN; i++) q[i] = (int8_t)(qn_rng_u64(&r) % 255 - 127);
    for (int i = 0; i < M * IN; i++) xq[i] = (int8_t)(qn_rng_u64(&r) % 255 - 127);
    xq[0] = q[0] = -127, xq[1] = q[1] = 127; /* the extremes: no saturation in maddubs */
    for (int p = 0; p < 3; p++) {
        if (paths[p]) setenv("QUENCH_LOWBIT", paths[p], 1);
        else unsetenv("QUENCH_LOWBIT");
        int32_t acc[M * OUT];
        qn_gemv_i8_i8(q, IN, 0, OUT, xq, M, acc, OUT);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < OUT; j++) {
                int32_t s = 0;
                for (int k = 0; k < IN; k++) s += q[j * IN + k] * xq[i * IN + k];
                cr_assert_eq(acc[i * OUT + j], s, "path %s", qn_lowbit_path());
            }
    }
    unsetenv("QUENCH_LOWBIT");
}

/* LLM.int8 against its definition: int8 rows without the outlier columns, int32, rowStat * SCB / 127^2,
 * plus the outlier columns in float with the fp16-rounded dequantized weights. */
Test(llm_quant, llm_int8_matches_its_definition) {
    enum { OUT = 23, IN = 70, M = 5 };
    float *w = qn_test_randn(OUT * IN, 11, 0.05f), *x = qn_test_randn(M * IN, 12, 1.0f), y[M * OUT];
    x[1 * IN + 3] = 9.0f, x[4 * IN + 50] = -7.5f; /* two outlier columns */
    qn_llm_linear l = make_linear(QN_LLM_WEIGHT_INT8, OUT, IN, w, 0, 0);
    const qn_llm_packed *p = l.packed;
    int8_t xq[M * IN];
    float stat[M];
    uint8_t outl[IN];
    cr_assert_eq(qn_llm_int8_decompose(x, M, IN, 6.0f, xq, stat, outl), 2);
    qn_llm_linear_forward(&l, y, OUT, x, IN, M);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < OUT; j++) {
            int32_t acc = 0;
            double o = 0;
            for (int k = 0; k < IN; k++) {
                acc += p->q[j * IN + k] * xq[i * IN + k];
                if (outl[k]) o += x[i * IN + k] * qn_f16_to_f32(qn_f32_to_f16((float)p->q[j * IN + k] * p->absmax[j] / 127.0f));
            }
            double want = acc * (double)stat[i] * p->absmax[j] / (127.0 * 127.0) + o;
            cr_assert(fabs(y[i * OUT + j] - want) < 1e-5 * (1 + fabs(want)), "y[%d,%d] = %g, want %g", i, j, y[i * OUT + j], want);
        }
    /* and it approximates the float product */
    for (int j = 0; j < OUT; j++) {
        double s = 0;
        for (int k = 0; k < IN; k++) s += (double)w[j * IN + k] * x[k];
        cr_assert(fabs(y[j] - s) < 0.05 * (1 + fabs(s)), "y[0,%d] = %g, float %g", j, y[j], s);
    }
    free_linear(&l), free(w), free(x);
}

Test(llm_quant, linear_is_the_same_whatever_the_threads) {
    /* above the GEMV's threading threshold even at M = 1, so 3 threads take blocks of rows from
     * qn_parallel_blocks (worker/llm_linear.c: a multiple of 16 rows each, 64 or 80 here); OUT = 1025
     * leaves an odd last block (1 or 65 rows), which the kernels' 2- and 4-row passes finish row by row */
    enum { OUT = 1025, IN = 1024, M = 2 };
    float *w = qn_test_randn((size_t)OUT * IN, 5, 0.03f), *x = qn_test_randn((size_t)M * IN, 6, 1.0f);
    float *y1 = malloc(M * OUT * sizeof(float)), *y3 = malloc(M * OUT * sizeof(float));
    const qn_llm_weight_format fs[] = {QN_LLM_WEIGHT_F16, QN_LLM_WEIGHT_BF16, QN_LLM_WEIGHT_W8A16, QN_LLM_WEIGHT_INT8,
                                       QN_LLM_WEIGHT_4BIT};
    for (int p = 0; p < 3; p++) {
        if (paths[p]) setenv("QUENCH_LOWBIT", paths[p], 1);
        else unsetenv("QUENCH_LOWBIT");
        for (size_t f = 0; f < sizeof fs / sizeof fs[0]; f++) {
            qn_llm_linear l = make_linear(fs[f], OUT, IN, w, 64, 1);
            for (int m = 1; m <= M; m++) {
                qn_llm_set_threads(1);
                qn_llm_linear_forward(&l, y1, OUT, x, IN, m);
                qn_llm_set_threads(3);
                qn_llm_linear_forward(&l, y3, OUT, x, IN, m);
                cr_assert(memcmp(y1, y3, m * OUT * sizeof(float)) == 0, "format %d, M %d differs with 3 threads", fs[f], m);
            }
            free_linear(&l);
        }
    }
    qn_llm_set_threads(1);
    unsetenv("QUENCH_LOWBIT");
    free(w), free(x), free(y1), free(y3);
}

/* ---- whole models: a tiny untied Llama ---- */
enum { V = 37, C = 32, NH = 4, NKV = 2, HD = 8, I = 48, L = 2 };

static void write_llama(const char *dir) {
    static char header[16384];
    float *data = NULL;
    size_t n = 0;
    qn_rng r;
    qn_rng_seed(&r, 9);
    strcpy(header, "{");
    char name[192], e[320];
#define ADD(d0, d1, scale)                                                                                      \
    do {                                                                                                        \
        size_t numel = (size_t)(d0) * (size_t)((d1) ? (d1) : 1);                                                \
        data = realloc(data, (n + numel) * sizeof(float));                                                      \
        for (size_t i = 0; i < numel; i++) data[n + i] = (d1) ? (scale) * qn_rng_normal(&r) : 1.0f;             \
        if (d1)                                                                                                 \
            snprintf(e, sizeof e, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%d, %d], \"data_offsets\": [%zu, %zu]}", \
                     header[1] ? ", " : "", name, (int)(d0), (int)(d1), n * 4, (n + numel) * 4);                \
        else                                                                                                    \
            snprintf(e, sizeof e, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%d], \"data_offsets\": [%zu, %zu]}", \
                     header[1] ? ", " : "", name, (int)(d0), n * 4, (n + numel) * 4);                           \
        strcat(header, e);                                                                                      \
        n += numel;                                                                                             \
    } while (0)
    snprintf(name, sizeof name, "model.embed_tokens.weight"); ADD(V, C, 0.5f);
    static const struct { const char *s; int out, in; } lins[] = {
        {"self_attn.q_proj", NH * HD, C}, {"self_attn.k_proj", NKV * HD, C}, {"self_attn.v_proj", NKV * HD, C},
        {"self_attn.o_proj", C, NH * HD}, {"mlp.gate_proj", I, C},          {"mlp.up_proj", I, C},
        {"mlp.down_proj", C, I}};
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l); ADD(C, 0, 0);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l); ADD(C, 0, 0);
        for (int k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, lins[k].s);
            ADD(lins[k].out, lins[k].in, 0.2f);
        }
    }
    snprintf(name, sizeof name, "model.norm.weight"); ADD(C, 0, 0);
    snprintf(name, sizeof name, "lm_head.weight"); ADD(V, C, 0.2f);
#undef ADD
    strcat(header, "}");
    while (strlen(header) % 8) strcat(header, " ");
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    uint64_t h = strlen(header);
    fwrite(&h, 8, 1, f), fwrite(header, 1, h, f), fwrite(data, sizeof(float), n, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    cr_assert(f);
    fprintf(f,
            "{\"model_type\": \"llama\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, "
            "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"intermediate_size\": %d, "
            "\"max_position_embeddings\": 64, \"tie_word_embeddings\": false}",
            V, C, L, NH, NKV, I);
    fclose(f);
    free(data);
}

static char dir[64];
static qn_llm *load(void) {
    if (!dir[0]) {
        strcpy(dir, "/tmp/qn-llmq-XXXXXX");
        cr_assert(mkdtemp(dir));
        write_llama(dir);
    }
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    cr_assert(m, "%s", err);
    return m;
}
static void cleanup(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir), unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir), unlink(p);
    rmdir(dir);
    dir[0] = 0;
}

/* Sizes by hand: per layer q 32x32, k 16x32, v 16x32, o 32x32, gate 48x32, up 48x32, down 32x48:
 * 7680 weights in 224 rows; embedding and lm_head 37x32 = 1184 each; norms 2*32 per layer + 32. */
enum { LAYER_W = 7680, LAYER_ROWS = 224, EMB = 1184, ALL = EMB + L * (64 + LAYER_W) + 32 + EMB };

static void footprint_is(const char *prec, const char *const *keep, int nkeep, double f32, double f16, double i8,
                         double other) {
    qn_llm *m = load();
    char err[256] = "";
    cr_assert_eq(qn_llm_quantize(m, prec, keep, nkeep, err, sizeof err), 0, "%s", err);
    qn_llm_footprint f;
    qn_llm_footprint_of(m, &f);
    cr_assert(f.float32 == f32 && f.float16 == f16 && f.int8 == i8 && f.other == other,
              "%s: float32 %g float16 %g int8 %g other %g, want %g %g %g %g", prec, f.float32, f.float16, f.int8, f.other,
              f32, f16, i8, other);
    cr_assert(f.total == f32 + f16 + i8 + other && (double)qn_llm_weight_bytes(m) == f.total, "%s: total", prec);
    qn_llm_free(m);
}

Test(llm_quant, footprints_counted_by_hand) {
    footprint_is("fp32", NULL, 0, ALL * 4.0, 0, 0, 0);
    /* lm_head kept by default; int8 codes, fp32 scale per row under other */
    footprint_is("w8a16", NULL, 0, (ALL - L * LAYER_W) * 4.0, 0, L * LAYER_W, L * LAYER_ROWS * 4.0);
    footprint_is("int8", NULL, 0, (ALL - L * LAYER_W) * 4.0, 0, L * LAYER_W, L * LAYER_ROWS * 4.0);
    const char *keep1[] = {"model.layers.1.*", "lm_head"};
    footprint_is("bf16", keep1, 2, (ALL - LAYER_W) * 4.0, LAYER_W * 2.0, 0, 0);
    /* nf4 at 64, lm_head too: codes n/2; absmax fp32 per block: 16+8+8+16+24+24+24 = 120 blocks a layer,
     * lm_head ceil(1184/64) = 19 */
    const char *none[] = {"none"};
    footprint_is("nf4", none, 1, (ALL - L * LAYER_W - EMB) * 4.0, 0, 0, (L * LAYER_W + EMB) / 2.0 + (L * 120 + 19) * 4.0);
    /* double quantization: one byte per block, per tensor one fp32 absmax2 (under 256 blocks) and the offset */
    footprint_is("fp4:double_quant=1", none, 1, (ALL - L * LAYER_W - EMB) * 4.0, 0, 0,
                 (L * LAYER_W + EMB) / 2.0 + (L * 120 + 19) + (L * 7 + 1) * 8.0);
    cleanup();
}

Test(llm_quant, keep_patterns_choose_the_float32_layers) {
    qn_llm *m = load();
    char err[256] = "";
    cr_assert_eq(qn_llm_quantize(m, "w8a16", NULL, 0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(m->lm_head.format, QN_LLM_WEIGHT_F32, "lm_head is kept by default");
    cr_assert_eq(m->layers[0].down.format, QN_LLM_WEIGHT_W8A16);
    cr_assert_neq(qn_llm_quantize(m, "nf4", NULL, 0, err, sizeof err), 0, "quantizing twice is an error");
    qn_llm_free(m);

    m = load();
    const char *keep[] = {"model.layers.*.mlp.*", "*.q_proj"};
    cr_assert_eq(qn_llm_quantize(m, "nf4:block_size=32", keep, 2, err, sizeof err), 0, "%s", err);
    for (int l = 0; l < L; l++) {
        cr_assert_eq(m->layers[l].mlp_in[0].format, QN_LLM_WEIGHT_F32);
        cr_assert_eq(m->layers[l].mlp_in[1].format, QN_LLM_WEIGHT_F32);
        cr_assert_eq(m->layers[l].down.format, QN_LLM_WEIGHT_F32);
        cr_assert_eq(m->layers[l].qkv[0].format, QN_LLM_WEIGHT_F32);
        cr_assert_eq(m->layers[l].qkv[1].format, QN_LLM_WEIGHT_4BIT);
        cr_assert_eq(m->layers[l].o.format, QN_LLM_WEIGHT_4BIT);
    }
    cr_assert_eq(m->lm_head.format, QN_LLM_WEIGHT_4BIT, "explicit patterns replace the default");
    /* the quantized model still runs: its logits stay close to float32's */
    int32_t ids[4] = {1, 5, 9, 2};
    float logits[4 * V], ref[4 * V], hidden[4 * C];
    cr_assert_eq(qn_llm_reset(m, 1, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_llm_forward(m, ids, 4, hidden, err, sizeof err), 0, "%s", err);
    qn_llm_logits(m, hidden, 4, logits);
    qn_llm_free(m);
    m = load();
    cr_assert_eq(qn_llm_reset(m, 1, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_llm_forward(m, ids, 4, hidden, err, sizeof err), 0, "%s", err);
    qn_llm_logits(m, hidden, 4, ref);
    double num = 0, den = 0;
    for (int i = 0; i < 4 * V; i++) num += fabs(logits[i] - ref[i]), den += fabs(ref[i]);
    cr_assert(num / den < 0.2 && num > 0, "mean relative logit error %g", num / den);
    qn_llm_free(m);
    cleanup();
}

Test(llm_quant, bad_precision_strings_are_one_line_errors) {
    qn_llm *m = load();
    const char *bad[] = {"int4", "", "nf4:block_size=48", "nf4:block_size=8192", "nf4:foo=1", "nf4:double_quant=2",
                         "int8:threshold=x", "int8:threshold=-1", "w8a16:threshold=1", "fp4:block_size", "nf4:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cr_assert_eq(qn_llm_quantize(m, bad[i], NULL, 0, err, sizeof err), 2, "'%s' accepted", bad[i]);
        cr_assert(err[0] && !strchr(err, '\n'), "'%s': error '%s'", bad[i], err);
    }
    char err[256] = "";
    cr_assert_eq(qn_llm_quantize(m, "int8:threshold=0", NULL, 0, err, sizeof err), 0, "%s", err);
    qn_llm_free(m);
    cleanup();
}
