/* Checkpoints stored in F16 and BF16 (docs/llm.md "Weights"): loaded without a float32 copy of the
 * Linear weights, and at every precision bit-identical to a float32 checkpoint holding the same values
 * (what converting the whole model to float32 at load gave). Tiny random models of each architecture,
 * tied and untied, written twice by tests/support/tiny_llm.c: in 16 bits, and in float32 rounded to
 * the same 16-bit values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../worker/llm.h"
#include "../support/tiny_llm.h"

enum { V = 50, C = 32, NH = 4, HD = 8, I = 48, L = 2, NKV = 2, B = 2, T = 5, S = 3, MAXLIN = 7 * L + 1 };

static const qn_tiny_llm_dims dims = {V, C, NH, HD, I, L};

typedef struct {
    char half[64], twin[64]; /* the 16-bit directory and its float32 twin */
    qn_st_dtype dtype;
} pair;

static void write_pair(pair *p, qn_llm_arch arch, qn_st_dtype dtype, int tied) {
    strcpy(p->half, "/tmp/qn-half-XXXXXX"), strcpy(p->twin, "/tmp/qn-twin-XXXXXX");
    cr_assert(mkdtemp(p->half) && mkdtemp(p->twin));
    p->dtype = dtype;
    const qn_tiny_llm_storage half = {dtype, dtype, tied}, twin = {QN_ST_F32, dtype, tied};
    const uint64_t seed = 7 + (uint64_t)arch * 3 + (uint64_t)dtype;
    cr_assert(qn_tiny_llm_write_stored(p->half, arch, &dims, NKV, seed, &half) == 0);
    cr_assert(qn_tiny_llm_write_stored(p->twin, arch, &dims, NKV, seed, &twin) == 0);
}

static void remove_dir(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir), unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir), unlink(p);
    rmdir(dir);
}

static qn_llm *load(const char *dir) {
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    cr_assert(m, "%s", err);
    return m;
}

static int in_mapping(const qn_llm *m, const void *p) {
    const qn_safetensors *st = &m->weights.shards[0];
    return (const unsigned char *)p >= st->buf && (const unsigned char *)p < st->buf + st->len;
}

/* Float32 bytes of every tensor other than Linear weights and the embedding: what load converts. */
static size_t small_tensor_bytes(qn_llm *m) {
    size_t n = 0;
    for (int l = 0; l < m->cfg.layers; l++) {
        const qn_llm_layer *y = &m->layers[l];
        n += (size_t)C * (1 + (y->norm1_b != NULL) + (y->norm2_w != NULL));
    }
    n += (size_t)C * (1 + (m->final_b != NULL));
    qn_llm_linear *lin[MAXLIN];
    int nl = qn_llm_linears(m, lin, NULL, MAXLIN);
    for (int i = 0; i < nl; i++)
        if (lin[i]->bias) n += (size_t)lin[i]->out;
    return n * sizeof(float);
}

/* Greedy generation of fixed prompts: prefill logits (B,T,V) (the GEMM path: B*T > 8 rows) and
 * step logits (B,S,V) (the GEMV path), one buffer. */
static float *run(qn_llm *m) {
    int32_t prompts[B * T], out[B * S];
    for (int i = 0; i < B * T; i++) prompts[i] = (i * 17 + 3) % V;
    float *logits = malloc((size_t)B * (T + S) * V * sizeof(float));
    cr_assert(logits);
    char err[512] = "";
    cr_assert_eq(qn_llm_generate_greedy(m, prompts, B, T, S, NULL, out, logits, logits + (size_t)B * T * V, err,
                                        sizeof err),
                 0, "%s", err);
    return logits;
}

/* One precision (keep: NULL default, or none) on the 16-bit model and its twin. */
static void same_results(const pair *p, const char *what, const char *prec, int keep_none) {
    const char *const none[1] = {NULL};
    const char *const *keep = keep_none ? none : NULL;
    qn_llm *h = load(p->half), *f = load(p->twin);
    char err[512] = "";
    const size_t loaded = h->weights.bytes_converted;
    cr_assert_eq(loaded, small_tensor_bytes(h), "%s: load converts the norms and biases alone", what);
    cr_assert_eq(f->weights.bytes_converted, 0);
    cr_assert_eq(qn_llm_quantize(h, prec, keep, 0, err, sizeof err), 0, "%s %s: %s", what, prec, err);
    cr_assert_eq(qn_llm_quantize(f, prec, keep, 0, err, sizeof err), 0, "%s %s: %s", what, prec, err);

    qn_llm_linear *lh[MAXLIN], *lf[MAXLIN];
    char names[MAXLIN][96];
    const int n = qn_llm_linears(h, lh, names, MAXLIN);
    cr_assert_eq(qn_llm_linears(f, lf, NULL, MAXLIN), n);
    size_t widened = 0;
    const qn_llm_weight_format stored = p->dtype == QN_ST_BF16 ? QN_LLM_WEIGHT_BF16 : QN_LLM_WEIGHT_F16;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(lh[i]->format, lf[i]->format, "%s %s %s: format", what, prec, names[i]);
        const qn_llm_packed *pk = lh[i]->packed;
        if (lh[i]->format == QN_LLM_WEIGHT_F32) {
            const int tied = lh[i] == &h->lm_head && h->cfg.tie_word_embeddings;
            cr_assert(!tied || lh[i]->w == h->embed, "%s %s: a tied float32 head is the embedding's copy", what, prec);
            widened += (size_t)lh[i]->out * lh[i]->in * sizeof(float);
        } else if (lh[i]->format == stored) {
            cr_assert(pk->h_mapped && in_mapping(h, pk->h), "%s %s %s: the stored weight is used in place", what, prec,
                      names[i]);
        } else {
            cr_assert(!pk->h_mapped && !in_mapping(h, pk->h), "%s %s %s: packed anew", what, prec, names[i]);
        }
    }
    /* the only float32 made: norms, biases, and the Linears that run in float32 */
    cr_assert_eq(h->weights.bytes_converted, loaded + widened, "%s %s: %zu bytes converted, want %zu", what, prec,
                 h->weights.bytes_converted, loaded + widened);
    cr_assert(h->embed == NULL || h->cfg.tie_word_embeddings, "%s %s: the embedding stays 16-bit", what, prec);

    qn_llm_footprint fh, ff;
    qn_llm_footprint_of(h, &fh), qn_llm_footprint_of(f, &ff);
    cr_assert(fh.float32 == ff.float32 && fh.float16 == ff.float16 && fh.int8 == ff.int8 && fh.other == ff.other,
              "%s %s: footprints differ", what, prec);

    float *a = run(h), *b = run(f);
    cr_assert(memcmp(a, b, (size_t)B * (T + S) * V * sizeof(float)) == 0, "%s %s%s: logits not bit-identical", what,
              prec, keep_none ? " (keep none)" : "");
    free(a), free(b);
    qn_llm_free(h), qn_llm_free(f);
}

static const char *const precisions[] = {"fp32", "fp16", "bf16", "w8a16", "int8", "nf4", "fp4:double_quant=1,block_size=32"};

static void every_precision(qn_llm_arch arch, qn_st_dtype dtype, int tied) {
    pair p;
    write_pair(&p, arch, dtype, tied);
    char what[96];
    snprintf(what, sizeof what, "%s %s%s", qn_llm_arch_name(arch), qn_st_dtype_name(dtype), tied ? " tied" : "");
    for (size_t i = 0; i < sizeof precisions / sizeof precisions[0]; i++)
        for (int keep_none = 0; keep_none < 2; keep_none++) same_results(&p, what, precisions[i], keep_none);
    remove_dir(p.half), remove_dir(p.twin);
}

Test(llm_halfload, llama_f16) { every_precision(QN_LLM_LLAMA, QN_ST_F16, 0); }
Test(llm_halfload, llama_bf16) { every_precision(QN_LLM_LLAMA, QN_ST_BF16, 0); }
Test(llm_halfload, llama_f16_tied) { every_precision(QN_LLM_LLAMA, QN_ST_F16, 1); }
Test(llm_halfload, llama_bf16_tied) { every_precision(QN_LLM_LLAMA, QN_ST_BF16, 1); }
Test(llm_halfload, phi3_bf16) { every_precision(QN_LLM_PHI3, QN_ST_BF16, 0); }
Test(llm_halfload, phi3_f16_tied) { every_precision(QN_LLM_PHI3, QN_ST_F16, 1); }
Test(llm_halfload, phi2_f16) { every_precision(QN_LLM_PHI2, QN_ST_F16, 0); }
Test(llm_halfload, phi2_bf16) { every_precision(QN_LLM_PHI2, QN_ST_BF16, 0); }

/* Load leaves every Linear as stored, over the mapping; a model never quantized runs at fp32 from its
 * first reset, as the float32 twin does. */
Test(llm_halfload, loaded_as_stored_then_fp32_by_default) {
    pair p;
    write_pair(&p, QN_LLM_LLAMA, QN_ST_BF16, 1);
    qn_llm *h = load(p.half), *f = load(p.twin);
    qn_llm_linear *lin[MAXLIN];
    const int n = qn_llm_linears(h, lin, NULL, MAXLIN);
    for (int i = 0; i < n; i++) {
        const qn_llm_packed *pk = lin[i]->packed;
        cr_assert(lin[i]->format == QN_LLM_WEIGHT_BF16 && pk && pk->h_mapped && in_mapping(h, pk->h));
    }
    cr_assert(h->embed == NULL && in_mapping(h, h->embed_view.data));
    cr_assert_eq(((const qn_llm_packed *)h->lm_head.packed)->h, h->embed_view.data, "the tied head views the embedding");
    float *a = run(h), *b = run(f);
    cr_assert(memcmp(a, b, (size_t)B * (T + S) * V * sizeof(float)) == 0);
    cr_assert_str_eq(h->precision, "fp32");
    cr_assert_eq(h->lm_head.w, h->embed, "one float32 copy of the tied embedding");
    free(a), free(b);
    qn_llm_free(h), qn_llm_free(f);
    remove_dir(p.half), remove_dir(p.twin);
}
