/* cmd_generate.c: quench generate --model DIR [--precision P [--keep PATTERN]...] [--footprint]
 * [--dump-dequantized DIR] (--input-ids IDS.npy [--attention-mask MASK.npy] [--max-new-tokens N]
 * [--ignore-eos] [--dump-logits OUT.npy] [--dump-step-logits OUT.npy] [--backend cpu|cuda] |
 * --perplexity TOKENS.npy --context C [--stride S]) */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../worker/llm.h"
#include "qn_clock.h"
#include "../worker/llm_cuda.h"
#include "cli.h"
#include "qn_kernels.h"
#include "qn_npy.h"

static const char *help =
    "usage: quench generate --model DIR [PRECISION] --input-ids IDS.npy [--attention-mask MASK.npy]\n"
    "                       [--max-new-tokens N] [--ignore-eos] [--dump-logits OUT.npy]\n"
    "                       [--dump-step-logits OUT.npy] [--threads N] [--backend cpu|cuda]\n"
    "       quench generate --model DIR [PRECISION] --perplexity TOKENS.npy --context C [--stride S] [--threads N]\n"
    "       quench generate --model DIR [PRECISION] (--footprint | --dump-dequantized OUTDIR)\n"
    "PRECISION: --precision P [--keep PATTERN]... [--footprint] [--dump-dequantized OUTDIR]\n"
    "\n"
    "Run a decoder-only Hugging Face model (Llama family, Phi-3, Phi-2; docs/llm.md) on the CPU (or a\n"
    "GPU: --backend cuda), its Linear weights in float32 or quantized: greedy generation with a KV\n"
    "cache, or perplexity over a token sequence.\n"
    "\n"
    "DIR holds config.json and model.safetensors, or model.safetensors.index.json and its shards;\n"
    "F32, F16 and BF16 weights, memory-mapped: 16-bit weights stay 16-bit unless the precision needs\n"
    "float32 (fp32, kept layers) or packs them (one layer at a time).\n"
    "\n"
    "  --input-ids IDS.npy        prompts: token ids, int32 or int64, shape (N, T)\n"
    "  --attention-mask MASK.npy  prompts of different lengths: (N, T) of 0/1 (int32, int64 or bool), left\n"
    "                             padding as Hugging Face tokenizers with padding_side='left' (each row's\n"
    "                             0s before its 1s); pad positions are masked out of attention and each\n"
    "                             row's positions start at its first real token\n"
    "  --max-new-tokens N         tokens to generate per prompt, greedily (default 16; 0: prefill only);\n"
    "                             printed one line per prompt, ids separated by spaces. A prompt stops at\n"
    "                             its first EOS (eos_token_id of generation_config.json, else config.json;\n"
    "                             the EOS is printed, later ids are pad_token_id, else the first EOS id),\n"
    "                             and generation ends when every prompt has stopped\n"
    "  --ignore-eos               never stop at EOS: always N tokens\n"
    "  --dump-logits OUT.npy      the prefill logits at every prompt position, float32 (N, T, V) (at pad\n"
    "                             positions: meaningless values)\n"
    "  --dump-step-logits OUT.npy the logits each generated token was chosen from, float32 (N, S, V), S\n"
    "                             the steps run\n"
    "  --perplexity TOKENS.npy    token ids, int32 or int64, shape (n) or (1, n): print the perplexity with\n"
    "                             windows of C tokens every S (Hugging Face's perplexity guide: a window\n"
    "                             scores only tokens past the previous window; exp of the mean NLL of all\n"
    "                             scored tokens)\n"
    "  --context C                tokens per window (at most max_position_embeddings)\n"
    "  --stride S                 tokens between window starts, 1..C (default C)\n"
    "  --threads N                threads of the GEMMs, the decode GEMVs and attention (default 1)\n"
    "  --backend cpu|cuda         where generation runs (default cpu); cuda: GPU 0, the weights uploaded in\n"
    "                             their packed precision (docs/llm.md); not for --perplexity\n"
    "  --precision P              the Linear weights: fp32 (default), fp16, bf16, w8a16 (int8 per output\n"
    "                             channel, float activations), int8 (LLM.int8, key threshold=6.0), nf4,\n"
    "                             fp4 (keys block_size=64, double_quant=0|1), as NAME[:key=value,...]\n"
    "  --keep PATTERN             layers whose name matches the fnmatch PATTERN (e.g. 'lm_head',\n"
    "                             'model.layers.*.mlp.down_proj') stay float32; repeatable; default lm_head\n"
    "                             (--keep none: quantize every Linear)\n"
    "  --footprint                print the weight bytes by storage dtype (\"Memory Usage by dtype (MB)\",\n"
    "                             MB = 2^20 bytes) and the total (\"Footprint of the model in MBs\", 10^6)\n"
    "  --dump-dequantized OUTDIR  write each quantized Linear's weight as the kernels see it, float32\n"
    "                             (out, in), to OUTDIR/NAME.npy (the reference of tests/e2e/llm_parity.sh)\n"
    "  -h, --help                 this help\n"
    "\n"
    "Timings (load, prefill, decode per token) go to stderr.\n";

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
    long v;
    if (qn_int_flag("generate", flag, s, lo, hi, &v)) return 2;
    *out = (int)v;
    return 0;
}

/* ids as int32, rejecting values outside int32 (the model checks the vocabulary). */
static int to_i32(const qn_npy *a, const char *path, int32_t **out) {
    *out = malloc((a->n ? a->n : 1) * sizeof(int32_t));
    if (!*out) return 1;
    for (size_t i = 0; i < a->n; i++) {
        if (a->ints[i] < 0 || a->ints[i] > INT32_MAX) {
            fprintf(stderr, "quench: %s: token id %lld is negative or too large\n", path, (long long)a->ints[i]);
            free(*out);
            return 2;
        }
        (*out)[i] = (int32_t)a->ints[i];
    }
    return 0;
}

/* Reads an integer .npy into a; on failure prints qn_npy_read_ints's message and returns its code. */
static int read_ints(const char *path, qn_npy *a) {
    char err[1024];
    int rc = qn_npy_read_ints(path, a, err, sizeof err);
    if (rc) fprintf(stderr, "quench: %s\n", err);
    return rc;
}

/* The leading pad tokens of each row of an (N, T) 0/1 mask, left padding only. 0, or 2 with a message. */
static int mask_to_pad(const char *path, int B, int T, int32_t **pad) {
    qn_npy a = {0};
    int rc = read_ints(path, &a);
    if (rc) return rc;
    if (a.ndim != 2 || a.shape[0] != B || a.shape[1] != T) {
        fprintf(stderr, "quench: %s: the attention mask must have the prompts' shape (%d, %d)\n", path, B, T);
        rc = 2;
    } else if (!(*pad = malloc((size_t)B * sizeof(int32_t)))) {
        fprintf(stderr, "quench: generate: out of memory\n");
        rc = 1;
    }
    for (int b = 0; b < B && !rc; b++) {
        const int64_t *row = a.ints + (size_t)b * T;
        int zeros = 0;
        while (zeros < T && row[zeros] == 0) zeros++;
        for (int t = zeros; t < T && !rc; t++)
            if (row[t] != 1) {
                fprintf(stderr, "quench: %s: row %d: %s; pad on the left (padding_side='left') with 0s before 1s\n", path,
                        b, row[t] == 0 ? "a 0 after a 1 (right padding)" : "a value other than 0 and 1");
                rc = 2;
            }
        if (!rc && zeros == T) {
            fprintf(stderr, "quench: %s: row %d is all padding; every prompt needs at least one real token\n", path, b);
            rc = 2;
        }
        if (!rc) (*pad)[b] = zeros;
    }
    qn_npy_free(&a);
    return rc;
}

/* The stop and pad ids of the model directory (--ignore-eos: none). 0, or 2 with a message. */
static int stop_ids(const char *model, int ignore_eos, qn_llm_gen *gen, int32_t *eos) {
    if (ignore_eos) return 0;
    qn_hf_generation g;
    char err[1024];
    if (qn_hf_generation_load(model, &g, err, sizeof err)) {
        fprintf(stderr, "quench: %s\n", err);
        return 2;
    }
    memcpy(eos, g.eos, (size_t)g.neos * sizeof *eos);
    gen->eos = eos, gen->neos = g.neos, gen->pad_token_id = g.pad_token_id;
    return 0;
}

static int run_generate(qn_llm *m, const char *model, const char *ids_path, const char *mask_path, int S, int ignore_eos,
                        const char *logits_path, const char *step_path, int cuda) {
    char err[1024];
    qn_npy ids = {0};
    int rc = read_ints(ids_path, &ids);
    if (rc) return rc;
    int32_t *prompts = NULL, *out = NULL, *pad = NULL, eos[QN_HF_MAX_EOS];
    float *plogits = NULL, *slogits = NULL;
    qn_llm_gen gen = {0};
    if (ids.ndim != 2 || ids.shape[0] < 1 || ids.shape[1] < 1 || ids.shape[0] > 65536 || ids.shape[1] > INT32_MAX / 2) {
        fprintf(stderr, "quench: %s: prompts must have shape (N, T) with N, T >= 1\n", ids_path);
        rc = 2;
        goto done;
    }
    const int B = (int)ids.shape[0], T = (int)ids.shape[1], V = m->cfg.vocab_size;
    if ((rc = to_i32(&ids, ids_path, &prompts)) != 0) goto done;
    if (mask_path && (rc = mask_to_pad(mask_path, B, T, &pad)) != 0) goto done;
    gen.pad = pad;
    if ((rc = stop_ids(model, ignore_eos, &gen, eos)) != 0) goto done;
    out = malloc((size_t)B * (S ? S : 1) * sizeof(int32_t));
    if (logits_path) plogits = malloc((size_t)B * T * V * sizeof(float));
    if (step_path) slogits = malloc((size_t)B * (S ? S : 1) * V * sizeof(float));
    if (!out || (logits_path && !plogits) || (step_path && !slogits)) {
        fprintf(stderr, "quench: generate: out of memory\n");
        rc = 1;
        goto done;
    }
    double t0 = qn_clock_monotonic_s();
    if (cuda) {
        qn_llm_cuda *d = qn_llm_cuda_new(m, 0, err, sizeof err);
        rc = d ? qn_llm_cuda_generate_greedy(d, prompts, B, T, S, &gen, out, plogits, slogits, err, sizeof err) : 1;
        if (d) qn_llm_cuda_times(d, &m->prefill_s, &m->decode_s); /* printed below as the CPU's */
        qn_llm_cuda_free(d);
        if (rc < 0) rc = 1; /* a CUDA failure */
    } else {
        rc = qn_llm_generate_greedy(m, prompts, B, T, S, &gen, out, plogits, slogits, err, sizeof err);
    }
    if (rc) {
        fprintf(stderr, "quench: %s: %s\n", ids_path, err);
        goto done;
    }
    double wall = qn_clock_monotonic_s() - t0;
    const int steps = gen.steps; /* S, or fewer when every prompt stopped at its EOS */
    for (int b = 0; b < B; b++)
        for (int s = 0; s < steps; s++) printf("%d%c", out[(size_t)b * S + s], s + 1 < steps ? ' ' : '\n');
    fprintf(stderr, "quench: generate: %d prompts of %d tokens, %d new tokens each (%ld before EOS) in %.3f s: prefill %.1f ms, decode %.2f ms/step (%.1f tokens/s)\n",
            B, T, steps, gen.tokens, wall, m->prefill_s * 1e3, steps > 1 ? m->decode_s * 1e3 / (steps - 1) : 0.0,
            steps > 1 && m->decode_s > 0 ? B * (steps - 1) / m->decode_s : 0.0);
    if (logits_path) {
        int64_t shape[3] = {B, T, V};
        if ((rc = qn_npy_write_f32(logits_path, plogits, shape, 3, err, sizeof err)) != 0)
            fprintf(stderr, "quench: %s\n", err);
    }
    if (!rc && step_path) {
        for (int b = 0; b < B; b++) /* (B, S, V) rows to (B, steps, V) */
            memmove(slogits + (size_t)b * steps * V, slogits + (size_t)b * S * V, (size_t)steps * V * sizeof(float));
        int64_t shape[3] = {B, steps, V};
        if ((rc = qn_npy_write_f32(step_path, slogits, shape, 3, err, sizeof err)) != 0) fprintf(stderr, "quench: %s\n", err);
    }
done:
    qn_npy_free(&ids);
    free(prompts), free(out), free(pad), free(plogits), free(slogits);
    return rc;
}

static int run_perplexity(qn_llm *m, const char *path, int context, int stride) {
    char err[1024];
    qn_npy a = {0};
    int rc = read_ints(path, &a);
    if (rc) return rc;
    int32_t *tokens = NULL;
    if (!(a.ndim == 1 || (a.ndim == 2 && a.shape[0] == 1)) || a.n < 2 || a.n > INT32_MAX) {
        fprintf(stderr, "quench: %s: tokens must have shape (n) or (1, n) with n >= 2\n", path);
        rc = 2;
        goto done;
    }
    if ((rc = to_i32(&a, path, &tokens)) != 0) goto done;
    double ppl, t0 = qn_clock_monotonic_s();
    long scored;
    if ((rc = qn_llm_perplexity(m, tokens, (int)a.n, context, stride, &ppl, &scored, err, sizeof err)) != 0) {
        fprintf(stderr, "quench: %s: %s\n", path, err);
        goto done;
    }
    printf("perplexity %.6f over %ld tokens (context %d, stride %d)\n", ppl, scored, context, stride);
    fprintf(stderr, "quench: generate: perplexity of %zu tokens in %.3f s\n", a.n, qn_clock_monotonic_s() - t0);
done:
    qn_npy_free(&a);
    free(tokens);
    return rc;
}

/* Seed 002's "Memory Usage by dtype (MB)" block (MiB) and get_memory_footprint() in 10^6 bytes. */
static void print_footprint(const qn_llm *m) {
    qn_llm_footprint f;
    qn_llm_footprint_of(m, &f);
    const double mib = 1024.0 * 1024.0;
    printf("Memory Usage by dtype (MB):\n- float32: %.2f MB\n- float16: %.2f MB\n- int8: %.2f MB\n- other: %.2f MB\n",
           f.float32 / mib, f.float16 / mib, f.int8 / mib, f.other / mib);
    printf("Footprint of the model in MBs: %.6f\n", f.total / 1e6);
}

/* Every packed Linear's float32 weight to dir/NAME.npy. */
static int dump_dequantized(qn_llm *m, const char *dir) {
    int n = qn_llm_linears(m, NULL, NULL, 0), rc = 0;
    qn_llm_linear **lin = malloc((size_t)n * sizeof *lin);
    char (*names)[96] = malloc((size_t)n * sizeof *names);
    if (!lin || !names) {
        free(lin), free(names);
        fprintf(stderr, "quench: generate: out of memory\n");
        return 1;
    }
    qn_llm_linears(m, lin, names, n);
    for (int i = 0; i < n && !rc; i++) {
        if (lin[i]->format == QN_LLM_WEIGHT_F32) continue;
        float *w = malloc((size_t)lin[i]->out * lin[i]->in * sizeof(float));
        char path[4096], err[1024];
        if (!w) {
            fprintf(stderr, "quench: generate: out of memory\n");
            rc = 1;
            break;
        }
        qn_llm_linear_dequantize(lin[i], 0, lin[i]->out, w);
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
        int64_t shape[2] = {lin[i]->out, lin[i]->in};
        if ((rc = qn_npy_write_f32(path, w, shape, 2, err, sizeof err)) != 0) fprintf(stderr, "quench: %s\n", err);
        free(w);
    }
    free(lin), free(names);
    return rc;
}

enum { MAX_KEEP = 64 };

int qn_cmd_generate(int argc, char **argv) {
    const char *model = NULL, *ids = NULL, *logits = NULL, *steps = NULL, *ppl = NULL;
    const char *max_new_s = NULL, *context_s = NULL, *stride_s = NULL, *threads_s = NULL;
    const char *precision = "fp32", *dequant_dir = NULL, *keep[MAX_KEEP], *backend = "cpu";
    const char *mask = NULL;
    int nkeep = 0, footprint = 0, ignore_eos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        }
        if (!strcmp(a, "--footprint")) {
            footprint = 1;
            continue;
        }
        if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = 1;
            continue;
        }
        if (!strcmp(a, "--keep")) {
            if (i + 1 >= argc) return qn_usage_error("generate", "--keep needs a value");
            if (nkeep == MAX_KEEP) return qn_usage_error("generate", "at most %d --keep patterns", MAX_KEEP);
            keep[nkeep++] = argv[++i];
            continue;
        }
        const char **slot = !strcmp(a, "--model")              ? &model
                            : !strcmp(a, "--input-ids")        ? &ids
                            : !strcmp(a, "--attention-mask")   ? &mask
                            : !strcmp(a, "--max-new-tokens")   ? &max_new_s
                            : !strcmp(a, "--dump-logits")      ? &logits
                            : !strcmp(a, "--dump-step-logits") ? &steps
                            : !strcmp(a, "--perplexity")       ? &ppl
                            : !strcmp(a, "--context")          ? &context_s
                            : !strcmp(a, "--stride")           ? &stride_s
                            : !strcmp(a, "--threads")          ? &threads_s
                            : !strcmp(a, "--precision")        ? &precision
                            : !strcmp(a, "--dump-dequantized") ? &dequant_dir
                            : !strcmp(a, "--backend")          ? &backend
                                                               : NULL;
        if (!slot) return qn_usage_error("generate", "unknown option '%s'", a);
        if (i + 1 >= argc) return qn_usage_error("generate", "%s needs a value", a);
        *slot = argv[++i];
    }
    if (!model) return qn_usage_error("generate", "--model DIR is required");
    if (ids && ppl) return qn_usage_error("generate", "give either --input-ids or --perplexity");
    if (!ids && !ppl && !footprint && !dequant_dir)
        return qn_usage_error("generate", "give --input-ids, --perplexity, --footprint or --dump-dequantized");
    if (ppl && (max_new_s || logits || steps || mask || ignore_eos))
        return qn_usage_error("generate", "--perplexity takes --context and --stride, not generation options");
    if (ids && (context_s || stride_s)) return qn_usage_error("generate", "--context and --stride go with --perplexity");
    if (!ids && (mask || ignore_eos)) return qn_usage_error("generate", "--attention-mask and --ignore-eos go with --input-ids");
    if (strcmp(backend, "cpu") && strcmp(backend, "cuda"))
        return qn_usage_error("generate", "--backend takes cpu or cuda, not '%s'", backend);
    const int cuda = !strcmp(backend, "cuda");
    if (cuda && !ids) return qn_usage_error("generate", "--backend cuda runs generation (--input-ids) only");
    if (cuda && qn_cuda_available() <= 0)
        return qn_usage_error("generate", "--backend cuda: no CUDA GPU here (or quench was built without CUDA)");
    int max_new = 16, context = 0, stride = 0, threads = 1;
    if (max_new_s && parse_int("--max-new-tokens", max_new_s, 0, 1 << 20, &max_new)) return 2;
    if (threads_s && parse_int("--threads", threads_s, 1, 1024, &threads)) return 2;
    if (ppl) {
        if (!context_s) return qn_usage_error("generate", "--perplexity needs --context C");
        if (parse_int("--context", context_s, 2, 1 << 24, &context)) return 2;
        stride = context;
        if (stride_s && parse_int("--stride", stride_s, 1, context, &stride)) return 2;
    }
    qn_set_num_threads(threads);
    qn_llm_set_threads(threads);
    char err[1024];
    double t0 = qn_clock_monotonic_s();
    qn_llm *m = qn_llm_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "quench: %s\n", err);
        return 2;
    }
    double load_s = qn_clock_monotonic_s() - t0;
    int rc = qn_llm_quantize(m, precision, nkeep ? keep : NULL, nkeep, err, sizeof err);
    if (rc) fprintf(stderr, "quench: generate: %s\n", err);
    double quant_s = qn_clock_monotonic_s() - t0 - load_s;
    if (!rc && footprint) print_footprint(m);
    if (!rc && dequant_dir) rc = dump_dequantized(m, dequant_dir);
    if (!rc && (ids || ppl))
        rc = ppl ? run_perplexity(m, ppl, context, stride) : run_generate(m, model, ids, mask, max_new, ignore_eos, logits, steps, cuda);
    if (!rc) /* after the run, so that a failure stays one line */
        fprintf(stderr, "quench: generate: %s: %s, %d layers, %.1f MB of %s weights, loaded in %.3f s, quantized in %.3f s\n",
                model, qn_llm_arch_name(m->cfg.arch), m->cfg.layers, qn_llm_weight_bytes(m) / 1e6, precision, load_s,
                quant_s);
    qn_llm_free(m);
    return rc;
}
