/* bench_decode.c: quench bench decode: tokens/s of greedy decode with the KV cache at each precision,
 * against the bound the memory system puts on it: decode reads every weight once per step, so a step
 * cannot be faster than (bytes the forward reads per token) / (copy bandwidth), both measured in the
 * same run at the same thread count. fp32 is always measured: it is the baseline of the precisions'
 * ratios and of the comparison with PyTorch's fp32 decode of the same model and prompts
 * (bench/llm_decode_torch.py). Each figure is the median decode step: the machine may be shared, and
 * the median ignores the steps another process disturbed. Without --model a random Llama larger than
 * the caches is written to a temporary directory (docs/benchmarks.md). On a machine with a GPU the
 * same decode also runs on the CUDA backend, against the device's copy bandwidth (bench_decode_cuda.c). */
#include "qn_clock.h"
#include "bench_decode.h"
#include "bench_decode_cuda.h"
#include "bench_median.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h" /* qn_usage_error, qn_is_help */
#include "../worker/llm.h"
#include "qn_kernels.h"
#include "reference_process.h"

enum { MAX_PRECISIONS = 16, COPY_PASSES = 4 };

/* The generated model: Llama 3 shaped (GQA, SwiGLU, tied embeddings), 252 MB of float32, of which
 * the LM head is a quarter as in Llama 3.2 1B; big enough that even its 4-bit form (about 90 MB
 * with the fp32 head) outgrows the caches, so every precision is memory-bound. */
static const struct {
    int C, L, NH, NKV, I, V;
} GEN = {1024, 4, 16, 8, 2816, 16000};

/* ---- the random model ---- */

typedef struct {
    char name[96];
    int64_t rows, cols; /* cols 0: a vector */
    float scale;        /* uniform in [-scale, scale], or 1 + that for a norm */
    int is_norm;
} gen_tensor;

enum { LINEAR, NORM, EMBEDDING };

static void add_tensor(gen_tensor *t, int *n, int64_t rows, int64_t cols, int kind, const char *fmt, int layer) {
    /* a Linear: uniform of variance 1/in (scale sqrt(3/in)), which keeps activations O(1); a norm
     * weight 1 +- 0.1; the embedding +-0.5 */
    float scale = kind == NORM ? 0.1f : kind == EMBEDDING ? 0.5f : sqrtf(3.0f / (float)cols);
    t[*n] = (gen_tensor){"", rows, cols, scale, kind == NORM};
    snprintf(t[*n].name, sizeof t[*n].name, fmt, layer);
    (*n)++;
}

static int gen_tensors(gen_tensor *t) {
    const int HD = GEN.C / GEN.NH;
    int n = 0;
    add_tensor(t, &n, GEN.V, GEN.C, EMBEDDING, "model.embed_tokens.weight", 0);
    for (int l = 0; l < GEN.L; l++) {
        add_tensor(t, &n, GEN.C, 0, NORM, "model.layers.%d.input_layernorm.weight", l);
        add_tensor(t, &n, GEN.C, 0, NORM, "model.layers.%d.post_attention_layernorm.weight", l);
        add_tensor(t, &n, GEN.NH * HD, GEN.C, LINEAR, "model.layers.%d.self_attn.q_proj.weight", l);
        add_tensor(t, &n, GEN.NKV * HD, GEN.C, LINEAR, "model.layers.%d.self_attn.k_proj.weight", l);
        add_tensor(t, &n, GEN.NKV * HD, GEN.C, LINEAR, "model.layers.%d.self_attn.v_proj.weight", l);
        add_tensor(t, &n, GEN.C, GEN.NH * HD, LINEAR, "model.layers.%d.self_attn.o_proj.weight", l);
        add_tensor(t, &n, GEN.I, GEN.C, LINEAR, "model.layers.%d.mlp.gate_proj.weight", l);
        add_tensor(t, &n, GEN.I, GEN.C, LINEAR, "model.layers.%d.mlp.up_proj.weight", l);
        add_tensor(t, &n, GEN.C, GEN.I, LINEAR, "model.layers.%d.mlp.down_proj.weight", l);
    }
    add_tensor(t, &n, GEN.C, 0, NORM, "model.norm.weight", 0);
    return n;
}

/* config.json and model.safetensors (F32) of the random model in dir. 0, or 1 with err. */
static int write_random_llama(const char *dir, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return snprintf(err, errlen, "%.300s: %s", path, strerror(errno)), 1;
    fprintf(f,
            "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": %d, \"hidden_size\": %d, "
            "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"intermediate_size\": %d, "
            "\"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"hidden_act\": \"silu\", "
            "\"tie_word_embeddings\": true, \"rope_scaling\": null, \"torch_dtype\": \"float32\"}\n",
            GEN.V, GEN.C, GEN.L, GEN.NH, GEN.NKV, GEN.I);
    if (fclose(f) != 0) return snprintf(err, errlen, "%.300s: %s", path, strerror(errno)), 1;

    gen_tensor t[64]; /* embedding, 9 per layer, final norm: GEN.L <= 6 */
    const int n = gen_tensors(t);
    /* header: name -> dtype, shape, data offsets; padded with spaces to 8 bytes as safetensors does */
    size_t cap = 256 + (size_t)n * 200, len = 0, off = 0;
    char *h = malloc(cap);
    if (!h) return snprintf(err, errlen, "out of memory"), 1;
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\": {\"format\": \"pt\"}");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1) * sizeof(float);
        if (t[i].cols)
            len += (size_t)snprintf(h + len, cap - len, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [%lld, %lld], \"data_offsets\": [%zu, %zu]}",
                                    t[i].name, (long long)t[i].rows, (long long)t[i].cols, off, off + bytes);
        else
            len += (size_t)snprintf(h + len, cap - len, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [%lld], \"data_offsets\": [%zu, %zu]}",
                                    t[i].name, (long long)t[i].rows, off, off + bytes);
        off += bytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    enum { CHUNK = 1 << 20 };
    float *buf = malloc(CHUNK * sizeof *buf);
    int rc = 0;
    if (!f || !buf) {
        snprintf(err, errlen, "%.300s: %s", path, f ? "out of memory" : strerror(errno));
        rc = 1;
        goto out;
    }
    uint64_t hlen = len; /* little-endian, as every machine quench runs on */
    fwrite(&hlen, sizeof hlen, 1, f);
    fwrite(h, 1, len, f);
    qn_rng rng;
    qn_rng_seed(&rng, 7);
    for (int i = 0; i < n; i++) {
        size_t count = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        for (size_t done = 0; done < count; done += CHUNK) {
            size_t k = count - done < CHUNK ? count - done : CHUNK;
            for (size_t j = 0; j < k; j++)
                buf[j] = (t[i].is_norm ? 1.0f : 0.0f) + t[i].scale * (2.0f * qn_rng_uniform(&rng) - 1.0f);
            if (fwrite(buf, sizeof *buf, k, f) != k) {
                snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
                rc = 1;
                goto out;
            }
        }
    }
out:
    if (f && fclose(f) != 0 && !rc) snprintf(err, errlen, "%.300s: %s", path, strerror(errno)), rc = 1;
    free(h), free(buf);
    return rc;
}

/* ---- copy bandwidth ---- */

typedef struct {
    char *dst;
    const char *src;
    size_t n;
} copy_slice;

static void *copy_one(void *arg) {
    copy_slice *s = arg;
    memcpy(s->dst, s->src, s->n);
    return NULL;
}

/* Bytes copied per second by `threads` threads each copying its slice of a buffer of `bytes`, the
 * best of a few passes after a first one that faults the pages in. Negative when out of memory. */
static double copy_bandwidth(size_t bytes, int threads) {
    char *src = malloc(bytes), *dst = malloc(bytes);
    copy_slice *s = malloc((size_t)threads * sizeof *s);
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    double best = INFINITY;
    if (!src || !dst || !s || !tid) goto out;
    memset(src, 1, bytes);
    const size_t per = (bytes / (size_t)threads) & ~(size_t)63;
    for (int t = 0; t < threads; t++)
        s[t] = (copy_slice){dst + (size_t)t * per, src + (size_t)t * per, t == threads - 1 ? bytes - (size_t)t * per : per};
    for (int pass = 0; pass <= COPY_PASSES; pass++) {
        double t0 = qn_clock_monotonic_s();
        int started = 0;
        for (int t = 1; t < threads; t++, started++)
            if (pthread_create(&tid[t], NULL, copy_one, &s[t]) != 0) break;
        copy_one(&s[0]);
        for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
        for (int t = started + 1; t < threads; t++) copy_one(&s[t]); /* threads that could not start */
        double dt = qn_clock_monotonic_s() - t0;
        if (pass > 0 && dt < best) best = dt;
    }
out:
    free(src), free(dst), free(s), free(tid);
    return isfinite(best) ? (double)bytes / best : -1.0;
}

/* Twice the last-level cache (so the copy cannot be served from it), at least 256 MiB, at most 1 GiB. */
static size_t copy_buffer_bytes(void) {
    long llc = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    size_t b = llc > 0 ? 2 * (size_t)llc : 0;
    if (b < (256u << 20)) b = 256u << 20;
    if (b > (1u << 30)) b = 1u << 30;
    return b;
}

/* ---- decode ---- */

typedef struct {
    char precision[128];
    double ms_per_token, tokens_per_s, weight_bytes, bound, fraction, ratio, goal;
    int32_t *tokens; /* (B, S+1): the prefill's token, then one per step */
} result;

static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i; /* the first of equal maxima, as torch.argmax */
    return best;
}

/* Convert the loaded model's weights to the precision (NAME or NAME:key=value,...); lm_head stays
 * fp32, quench's (and seed 002's) default. */
static int apply_precision(qn_llm *m, const char *precision, char *err, size_t errlen) {
    return qn_llm_quantize(m, precision, NULL, 0, err, errlen);
}

/* Load dir at the precision, prefill the prompts (B,T), time S greedy decode steps. 0, or 1/2 with err. */
static int measure(const char *dir, result *r, int B, int T, int S, const int32_t *prompts, char *err, size_t errlen) {
    qn_llm *m = qn_llm_load(dir, err, errlen);
    if (!m) return 2;
    int rc = apply_precision(m, r->precision, err, errlen);
    float *hidden = NULL, *logits = NULL;
    double *times = NULL;
    int32_t *tok = NULL;
    if (rc) goto out;
    const int C = m->cfg.hidden, V = m->cfg.vocab_size;
    if ((rc = qn_llm_reset(m, B, T + S, err, errlen)) != 0) goto out;
    hidden = malloc((size_t)B * T * C * sizeof *hidden), logits = malloc((size_t)B * V * sizeof *logits);
    times = malloc((size_t)S * sizeof *times), tok = malloc((size_t)B * sizeof *tok);
    r->tokens = malloc((size_t)B * (S + 1) * sizeof *r->tokens);
    if (!hidden || !logits || !times || !tok || !r->tokens) {
        snprintf(err, errlen, "out of memory");
        rc = 1;
        goto out;
    }
    if ((rc = qn_llm_forward(m, prompts, T, hidden, err, errlen)) != 0) goto out;
    for (int b = 0; b < B; b++) {
        qn_llm_logits(m, hidden + ((size_t)b * T + T - 1) * C, 1, logits);
        tok[b] = r->tokens[(size_t)b * (S + 1)] = argmax(logits, V);
    }
    for (int s = 0; s < S; s++) {
        /* one step: the forward of B new tokens, their logits (the LM head read once for all B) and
         * the greedy choice: what a user waits for between two tokens */
        double t0 = qn_clock_monotonic_s();
        if ((rc = qn_llm_forward(m, tok, 1, hidden, err, errlen)) != 0) goto out;
        qn_llm_logits(m, hidden, B, logits);
        for (int b = 0; b < B; b++) tok[b] = argmax(logits + (size_t)b * V, V);
        times[s] = qn_clock_monotonic_s() - t0;
        for (int b = 0; b < B; b++) r->tokens[(size_t)b * (S + 1) + s + 1] = tok[b];
    }
    const double step = qn_bench_median(times, (size_t)S);
    r->ms_per_token = step * 1e3;
    r->tokens_per_s = B / step;
    r->weight_bytes = (double)qn_llm_weight_bytes(m);
out:
    free(hidden), free(logits), free(times), free(tok);
    qn_llm_free(m);
    return rc;
}

/* The PyTorch reference: its fp32 decode of the same prompts. NULL with the reason in why. */
static json_t *reference(const char *dir, const char *ids_path, int B, int T, int S, int threads, char *why, size_t whylen) {
    char a[4][16];
    int vals[4] = {B, T, S, threads};
    for (int i = 0; i < 4; i++) snprintf(a[i], sizeof a[i], "%d", vals[i]);
    const char *args[] = {"--model", dir, "--ids", ids_path, "--batch", a[0], "--prompt-len", a[1], "--new-tokens", a[2],
                          "--threads", a[3], NULL};
    json_t *j = qn_bench_run_reference("llm_decode_torch.py", args, a[3], "torch", "python3-torch", why, whylen);
    if (j && !(json_number_value(json_object_get(j, "tokens_per_s")) > 0.0)) {
        snprintf(why, whylen, "the reference printed no tokens_per_s");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Split a comma list of precisions; a piece with '=' and no ':' is a key of the piece before
 * ("nf4:block_size=64,double_quant=1"). fp32 goes first whether listed or not. Returns the count,
 * or -1 with err. */
static int split_precisions(const char *list, result *res, char *err, size_t errlen) {
    int n = 1;
    snprintf(res[0].precision, sizeof res[0].precision, "fp32");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (!*p) continue;
        if (strchr(p, '=') && !strchr(p, ':')) {
            size_t l = strlen(res[n - 1].precision);
            if (n == 1 || !strchr(res[n - 1].precision, ':') ||
                (size_t)snprintf(res[n - 1].precision + l, sizeof res[n - 1].precision - l, ",%s", p) >= sizeof res[n - 1].precision - l) {
                snprintf(err, errlen, "--precision: '%s' is a key=value with no precision before it (NAME:key=value,...)", p);
                return -1;
            }
            continue;
        }
        if (strcmp(p, "fp32") == 0) continue;
        if (n == MAX_PRECISIONS) {
            snprintf(err, errlen, "--precision: at most %d precisions", MAX_PRECISIONS - 1);
            return -1;
        }
        if ((size_t)snprintf(res[n].precision, sizeof res[n].precision, "%s", p) >= sizeof res[n].precision) {
            snprintf(err, errlen, "--precision: '%.40s...' is too long", p);
            return -1;
        }
        n++;
    }
    return n;
}

static void remove_dir(const char *dir, int generated) {
    static const char *files[] = {"ids.txt", "config.json", "model.safetensors"};
    char path[4200];
    for (int i = 0; i < (generated ? 3 : 1); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int run(const char *model, const char *precisions, int B, int T, int S, int threads, int json, FILE *out) {
    result res[MAX_PRECISIONS];
    memset(res, 0, sizeof res);
    char err[512] = "";
    const int np = split_precisions(precisions, res, err, sizeof err);
    if (np < 0) return qn_usage_error("bench", "%s", err);
    const char *tmp = getenv("TMPDIR");
    char scratch[4096];
    snprintf(scratch, sizeof scratch, "%s/quench-decode-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "quench: bench: cannot create a directory in %s: %s\n", tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return 1;
    }
    const int generated = model == NULL;
    int rc = 0;
    int32_t *prompts = NULL;
    json_t *ref = NULL, *cuda = NULL;
    if (generated) {
        if (write_random_llama(scratch, err, sizeof err)) {
            fprintf(stderr, "quench: bench: %s\n", err);
            rc = 1;
            goto out;
        }
        model = scratch;
    }
    qn_llm_set_threads(threads);
    qn_set_num_threads(threads);
    /* the model's shape, and random prompts over its vocabulary for both quench and the reference */
    qn_llm *m = qn_llm_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "quench: bench: %s\n", err);
        rc = 2;
        goto out;
    }
    const qn_llm_config cfg = m->cfg;
    qn_llm_free(m);
    if (T + S > cfg.max_position) {
        fprintf(stderr, "quench: bench: --prompt-len %d + --new-tokens %d exceed the model's %d positions\n", T, S, cfg.max_position);
        rc = 2;
        goto out;
    }
    prompts = malloc((size_t)B * T * sizeof *prompts);
    if (!prompts) {
        rc = 1;
        goto out;
    }
    qn_rng rng;
    qn_rng_seed(&rng, 11);
    char ids_path[4200];
    snprintf(ids_path, sizeof ids_path, "%s/ids.txt", scratch);
    FILE *f = fopen(ids_path, "w");
    for (int i = 0; i < B * T; i++) {
        prompts[i] = (int32_t)qn_rng_below(&rng, (uint64_t)cfg.vocab_size);
        if (f) fprintf(f, "%d%c", prompts[i], (i + 1) % T ? ' ' : '\n');
    }
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "quench: bench: %s: %s\n", ids_path, strerror(errno));
        rc = 1;
        goto out;
    }

    const size_t copy_bytes = copy_buffer_bytes();
    const double bw = copy_bandwidth(copy_bytes, threads);
    if (bw <= 0.0) {
        fprintf(stderr, "quench: bench: out of memory for the %zu MiB copy\n", copy_bytes >> 20);
        rc = 1;
        goto out;
    }
    for (int i = 0; i < np; i++) {
        if ((rc = measure(model, &res[i], B, T, S, prompts, err, sizeof err)) != 0) {
            fprintf(stderr, "quench: bench: %s: %s\n", res[i].precision, err);
            goto out;
        }
        result *r = &res[i];
        r->bound = B * bw / r->weight_bytes;
        r->fraction = r->tokens_per_s / r->bound;
        r->ratio = r->tokens_per_s / res[0].tokens_per_s;
        r->goal = 0.7 * res[0].weight_bytes / r->weight_bytes;
    }
    char why[512] = "";
    ref = reference(model, ids_path, B, T, S, threads, why, sizeof why);
    /* the reference's greedy tokens against quench's fp32 ones: the same model, not just the same size */
    int same = -1;
    if (ref) {
        json_t *toks = json_object_get(ref, "tokens");
        same = json_is_array(toks) && json_array_size(toks) == (size_t)B;
        for (int b = 0; same == 1 && b < B; b++) {
            json_t *row = json_array_get(toks, (size_t)b);
            same = json_is_array(row) && json_array_size(row) == (size_t)S + 1;
            for (int s = 0; same == 1 && s <= S; s++)
                same = json_integer_value(json_array_get(row, (size_t)s)) == res[0].tokens[(size_t)b * (S + 1) + s];
        }
    }
    /* the same decode on the GPU, against the device's own copy bandwidth (NULL: no GPU) */
    const char *names[MAX_PRECISIONS];
    for (int i = 0; i < np; i++) names[i] = res[i].precision;
    cuda = qn_bench_decode_cuda(model, names, np, B, T, S, prompts, res[0].tokens);
    if (json) {
        json_t *o = json_object(), *arr = json_array();
        json_object_set_new(o, "benchmark", json_string("decode"));
        json_object_set_new(o, "model", generated ? json_string("random-llama") : json_string(model));
        json_object_set_new(o, "arch", json_string(qn_llm_arch_name(cfg.arch)));
        json_object_set_new(o, "batch", json_integer(B));
        json_object_set_new(o, "prompt_len", json_integer(T));
        json_object_set_new(o, "new_tokens", json_integer(S));
        json_object_set_new(o, "threads", json_integer(threads));
        json_object_set_new(o, "copy_gbs", json_real(bw / 1e9));
        json_object_set_new(o, "copy_mib", json_integer((json_int_t)(copy_bytes >> 20)));
        for (int i = 0; i < np; i++) {
            const result *r = &res[i];
            json_t *x = json_object();
            json_object_set_new(x, "precision", json_string(r->precision));
            json_object_set_new(x, "tokens_per_s", json_real(r->tokens_per_s));
            json_object_set_new(x, "ms_per_token", json_real(r->ms_per_token));
            json_object_set_new(x, "weight_bytes", json_integer((json_int_t)r->weight_bytes));
            json_object_set_new(x, "bound_tokens_per_s", json_real(r->bound));
            json_object_set_new(x, "fraction_of_bound", json_real(r->fraction));
            json_object_set_new(x, "ratio_vs_fp32", json_real(r->ratio));
            json_object_set_new(x, "goal_ratio", i ? json_real(r->goal) : json_null());
            json_object_set_new(x, "meets_goal", i ? json_boolean(r->ratio >= r->goal) : json_null());
            json_array_append_new(arr, x);
        }
        json_object_set_new(o, "results", arr);
        if (ref) {
            const double rt = json_number_value(json_object_get(ref, "tokens_per_s"));
            json_t *x = json_object();
            json_object_set_new(x, "tokens_per_s", json_real(rt));
            json_object_set_new(x, "ms_per_token", json_real(json_number_value(json_object_get(ref, "ms_per_token"))));
            json_object_set_new(x, "ratio", json_real(res[0].tokens_per_s / rt));
            json_object_set_new(x, "same_tokens", json_boolean(same == 1));
            json_t *ver = json_object_get(ref, "torch");
            json_object_set_new(x, "torch", json_is_string(ver) ? json_copy(ver) : json_null());
            json_object_set_new(o, "reference", x);
        } else {
            json_object_set_new(o, "reference", json_null());
            json_object_set_new(o, "reference_error", json_string(why));
        }
        json_object_set(o, "cuda", cuda ? cuda : json_null());
        char *dump = json_dumps(o, JSON_REAL_PRECISION(6));
        fprintf(out, "%s\n", dump ? dump : "{}");
        free(dump), json_decref(o);
    } else {
        fprintf(out, "greedy decode of %s (%s, %d layers, hidden %d, vocabulary %d), batch %d, prompt %d, median of %d steps, %d thread%s\n",
                generated ? "a random Llama" : model, qn_llm_arch_name(cfg.arch), cfg.layers, cfg.hidden, cfg.vocab_size, B,
                T, S, threads, threads == 1 ? "" : "s");
        fprintf(out, "copy bandwidth (memcpy of %zu MiB): %.2f GB/s; bound = bandwidth x batch / weight bytes read per step\n",
                copy_bytes >> 20, bw / 1e9);
        fprintf(out, "%-24s %10s %9s %10s %10s %8s %8s %8s\n", "precision", "weights MB", "ms/token", "tokens/s", "bound", "of bound",
                "vs fp32", "goal");
        for (int i = 0; i < np; i++) {
            const result *r = &res[i];
            fprintf(out, "%-24s %10.1f %9.2f %10.2f %10.2f %7.0f%% %7.2fx", r->precision, r->weight_bytes / 1e6, r->ms_per_token,
                    r->tokens_per_s, r->bound, 100.0 * r->fraction, r->ratio);
            if (i) fprintf(out, " %7.2fx %s\n", r->goal, r->ratio >= r->goal ? "met" : "missed");
            else fputs("        -\n", out);
        }
        if (ref) {
            const double rt = json_number_value(json_object_get(ref, "tokens_per_s"));
            fprintf(out, "%-24s %10s %9.2f %10.2f   quench fp32 = %.2fx PyTorch%s\n", "pytorch fp32", "",
                    json_number_value(json_object_get(ref, "ms_per_token")), rt, res[0].tokens_per_s / rt,
                    same == 1 ? "" : " (its tokens differ from quench's!)");
        } else {
            fprintf(out, "pytorch unavailable: %s\n", why);
        }
        qn_bench_decode_cuda_print(cuda, out);
    }
out:
    for (int i = 0; i < np; i++) free(res[i].tokens);
    free(prompts);
    json_decref(ref);
    if (cuda && json_object_get(cuda, "error")) rc = 1; /* printed with the figures */
    json_decref(cuda);
    remove_dir(scratch, generated);
    return rc;
}

int qn_bench_decode_main(int argc, char **argv, int self, const char *help) {
    static const struct {
        const char *flag;
        long lo, hi, def;
    } opts[] = {{"--batch", 1, 64, 1}, {"--prompt-len", 1, 4096, 32}, {"--new-tokens", 1, 4096, 32}, {"--threads", 1, 1024, 0}};
    enum { N_OPTS = sizeof opts / sizeof opts[0] };
    long val[N_OPTS];
    for (int k = 0; k < N_OPTS; k++) val[k] = opts[k].def;
    const char *model = NULL, *precision = "fp32";
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = 0;
        while (k < N_OPTS && strcmp(a, opts[k].flag) != 0) k++;
        qn_bench_arg common = qn_bench_common_arg(argv, i, self, help, &json);
        if (common == QN_BENCH_ARG_HELP) return 0;
        if (common == QN_BENCH_ARG_TAKEN) continue;
        if (k < N_OPTS || strcmp(a, "--model") == 0 || strcmp(a, "--precision") == 0) {
            if (i + 1 >= argc) return qn_usage_error("bench", "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--model") == 0) model = v;
            else if (strcmp(a, "--precision") == 0) precision = v;
            else if (qn_int_flag("bench", a, v, opts[k].lo, opts[k].hi, &val[k])) return 2;
        } else if (a[0] == '-') {
            return qn_usage_error("bench", "unknown option '%s' for bench decode (--model, --precision, --batch, --prompt-len, "
                                           "--new-tokens, --threads, --json)", a);
        } else {
            return qn_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    if (!*precision) return qn_usage_error("bench", "--precision needs a precision (fp32, fp16, bf16, w8a16, int8, nf4, fp4)");
    const long threads = qn_threads_or_cores(val[3]);
    return run(model, precision, (int)val[0], (int)val[1], (int)val[2], (int)threads, json, stdout);
}
