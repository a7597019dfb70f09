/* cmd_bench.c: quench bench kernels [--json] [--size MIB] [--reps N]
 *              quench bench train [--preset NAME] [--batch B] [--seq T] [--threads N] [--steps S] [--json]
 *              quench bench sampler [--function F] [--sampler S] [--trials N] [--seeds K] [--json]
 *              quench bench schedule JOB --cluster SPEC [--trials N] [--json]
 *              quench bench dispatch [--ranks N] [--trials N] [-o FILE] [--json]
 *              quench bench attention [--shape B,H,T,D] [--causal] [--threads N] [--json]
 *              quench bench dequant [--size MIB] [--json]
 *              quench bench decode [--model DIR] [--precision P,...] [--batch B] [--prompt-len T]
 *                                  [--new-tokens S] [--threads N] [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_decode.h"
#include "bench_dispatch.h"
#include "bench_lab4.h"
#include "bench_sampler.h"
#include "bench_schedule.h"
#include "cli.h"

static const char *help =
    "usage: quench bench kernels [--json] [--size MIB] [--reps N]\n"
    "       quench bench train [--preset NAME] [--batch B] [--seq T] [--threads N] [--steps S] [--json]\n"
    "       quench bench sampler [--function F] [--sampler S] [--trials N] [--seeds K] [--json]\n"
    "       quench bench schedule JOB --cluster SPEC [--trials N] [--json]\n"
    "       quench bench dispatch [--ranks N] [--trials N] [-o FILE] [--json]\n"
    "       quench bench attention [--shape B,H,T,D] [--causal] [--threads N] [--json]\n"
    "       quench bench dequant [--size MIB] [--json]\n"
    "       quench bench decode [--model DIR] [--precision P,...] [--batch B] [--prompt-len T]\n"
    "                           [--new-tokens S] [--threads N] [--json]\n"
    "\n"
    "Speed (and, for samplers, sample efficiency) against a reference measured in the same run.\n"
    "\n"
    "kernels: fake-quantization throughput of every number format on MIB MiB of float32 (default 64),\n"
    "in GB/s of input processed, against memcpy of the same buffer, and the ratio. Each figure is the\n"
    "best of N passes (default 3).\n"
    "  --size MIB      buffer size in MiB (1..4096)\n"
    "  --reps N        passes per figure (1..100)\n"
    "\n"
    "train: examples/s of one training step (forward, backward, AdamW) of quench's BERT classifier\n"
    "(random weights and token ids, every token valid, 2 labels, fp32, no quantization) against the\n"
    "same model and step in PyTorch (bench/bert_train_torch.py, run with /usr/bin/python3) at the same\n"
    "thread count, and the ratio. Each figure is the best of S steps after one warm-up step.\n"
    "  --preset NAME   bert-tiny (default), bert-mini or bert-small\n"
    "  --batch B       sequences per step (1..4096, default 32)\n"
    "  --seq T         tokens per sequence (1..512, default 128)\n"
    "  --threads N     BLAS threads for quench and torch threads for the reference (1..1024,\n"
    "                  default: the number of online cores)\n"
    "  --steps S       timed steps (1..1000, default 10)\n"
    "  Without python3-torch the reference is reported unavailable (ratio null).\n"
    "\n"
    "sampler: best-so-far regret (best value - the known minimum; median and mean over K seeds, at\n"
    "10/25/50/100/200 trials) and ms per suggestion of quench's sampler, trials one at a time, against\n"
    "Optuna's (bench/optuna_sampler_ref.py: TPESampler(seed), RandomSampler(seed), GridSampler over\n"
    "the same grid) in the same run. Debian's Optuna 3.1 has the truncated-normal density bug fixed\n"
    "in 3.5; the reference patches in the fix, as quench implements the fixed formula.\n"
    "  --function F    branin (default), hartmann6, ackley5, styblinski5, mixed (log float, log int,\n"
    "                  categorical, float; minimum 0) or sphere10 (10 floats, for speed)\n"
    "  --sampler S     tpe (default), random or grid\n"
    "  --trials N      trials per seed (1..100000, default 200)\n"
    "  --seeds K       seeds 0..K-1 (1..1000, default 20)\n"
    "  Without python3-optuna the reference is reported unavailable (null).\n"
    "\n"
    "schedule: the placement policy (longest trial first, each where it finishes first) simulated on\n"
    "JOB's trials with the cost model (docs/benchmarks.md), against the lower bound and first-come\n"
    "dispatch; also the scheduler's own time per trial, and at 10, 100 and 1000 workers with 1000,\n"
    "10000 and 100000 trials (the job's trials repeated). No trial runs.\n"
    "  --cluster SPEC  COUNTxKIND[,COUNTxKIND...], kinds rtx2080ti, rtx8000, l40s, h200\n"
    "                  (e.g. 8xl40s,4xrtx8000,16xrtx2080ti)\n"
    "  --trials N      the job's trials repeated or cut to N (default: the job's count)\n"
    "\n"
    "dispatch: trials per second of the runtime itself: null trials (model.arch: null, no sleep) run\n"
    "by `mpirun --oversubscribe -np N quench run` with their results file, as many as --trials and a\n"
    "tenth of that; the difference of the two wall times cancels MPI start-up and shutdown, so the\n"
    "figure is the dispatch phase alone (docs/benchmarks.md). $MPIEXEC names another mpirun.\n"
    "  --ranks N       MPI ranks, one of them the coordinator (2..256, default 4)\n"
    "  --trials N      trials of the timed study (100..100000, default 5000)\n"
    "  -o FILE         keep the timed study's results file at FILE\n"
    "\n"
    "attention: lab 4's scaled dot-product attention on (B, H, T, D) float32, naive (Q K^T, softmax\n"
    "and P V with every T x T score in memory) against fused (online softmax over key tiles, no\n"
    "T x T buffer): ms, effective GFLOP/s (4 B H T^2 D, half that when causal) and the ratio, on the\n"
    "CPU and on GPU 0 when there is one (else \"cuda: no GPU\"). Shapes: the lab's (32, 8, 128, 64),\n"
    "(8, 16, 512, 64), (4, 8, 1024, 128) and (1, 32, 2048, 128). Best of up to 10 runs.\n"
    "  --shape B,H,T,D one shape instead (its naive scores, B H T^2 floats, at most 8 GiB)\n"
    "  --causal        query i attends to keys 0..i only\n"
    "  --threads N     CPU threads (1..1024, default: the number of online cores)\n"
    "\n"
    "dequant: MXINT8 -> bf16 (OCP blocks of 32, lab 4's kernel) and NF4 -> fp16 (blocks of 64 with an\n"
    "fp32 absmax) in GB/s of 16-bit output written, against a copy of the same output size (memcpy\n"
    "on one CPU thread; device-to-device on GPU 0 when there is one). Best of 5 passes.\n"
    "  --size MIB      output size in MiB (1..4096, default 64)\n"
    "\n"
    "decode: greedy decode with the KV cache of a decoder-only model (quench generate's): the median\n"
    "step's ms/token and tokens/s at batch B after prefilling B random prompts of T tokens, against\n"
    "the bound copy bandwidth x B / weight bytes read per step (memcpy of a buffer twice the last-level\n"
    "cache, 256 MiB..1 GiB, on N threads, measured in the same run), each precision's speed-up over\n"
    "fp32 against its goal (0.7 x fp32's weight bytes / its own), and PyTorch's fp32 decode of the\n"
    "same model and prompts with a KV cache (bench/llm_decode_torch.py) at the same thread count.\n"
    "  --model DIR     a Hugging Face directory (default: a random Llama of 252 MB, 4 layers of 1024,\n"
    "                  vocabulary 16000, written to a temporary directory and removed after)\n"
    "  --precision P   comma list of precisions (fp16, bf16, w8a16, int8, nf4, fp4; NAME:key=value);\n"
    "                  fp32 is always measured, first (default fp32)\n"
    "  --batch B       sequences (1..64, default 1)\n"
    "  --prompt-len T  prompt tokens (1..4096, default 32)\n"
    "  --new-tokens S  timed decode steps (1..4096, default 32)\n"
    "  --threads N     threads (1..1024, default: the number of online cores)\n"
    "  On a GPU the same decode also runs on the CUDA backend (GPU 0), against B x the device's\n"
    "  cudaMemcpy device-to-device bandwidth (measured in the same run) / weight bytes: a \"cuda:\" table.\n"
    "\n"
    "  --json          one object; kernels: {\"memcpy_gbs\": X, \"formats\": {\"integer\": {\"gbs\": Y,\n"
    "                  \"ratio\": R}, ...}}; train: {\"examples_per_s\": X, \"reference_examples_per_s\": Y,\n"
    "                  \"ratio\": R, \"threads\": N, \"preset\": ..., \"batch\": B, \"seq\": T, ...};\n"
    "                  sampler: {\"function\": F, \"sampler\": S, \"median_regret\": {\"10\": R, ...},\n"
    "                  \"mean_regret\": {...}, \"ms_per_suggest\": X, \"reference\": {the same keys} or null};\n"
    "                  schedule: {\"makespan\": X, \"lower_bound\": Y, \"fifo_makespan\": Z, \"ratio\": R,\n"
    "                  \"fifo_ratio\": F, \"trials\": N, \"devices\": D, \"us_per_trial\": U,\n"
    "                  \"scaling\": [{\"workers\": W, \"trials\": N, \"us_per_trial\": U}, ...]};\n"
    "                  dispatch: {\"trials_per_s\": X, \"ranks\": N, \"trials\": T, ...};\n"
    "                  attention: {\"causal\": C, \"threads\": N, \"gpu\": NAME or null, \"shapes\":\n"
    "                  [{\"shape\": [B, H, T, D], \"gflop\": G, \"cpu\": {\"naive_ms\": X, \"naive_gflops\": Y,\n"
    "                  \"fused_ms\": X, \"fused_gflops\": Y, \"speedup\": S, \"max_abs_diff\": E}, \"cuda\":\n"
    "                  {the same keys} or null}, ...]}; dequant: {\"mib\": M, \"elements\": N, \"cpu\":\n"
    "                  {\"threads\": 1, \"copy_gbs\": C, \"mxint8_to_bf16\": {\"gbs\": X, \"ratio\": R},\n"
    "                  \"nf4_to_fp16\": {...}}, \"cuda\": {\"device\": NAME, the same keys} or null};\n"
    "                  decode: {\"model\": M, \"batch\": B, \"threads\": N, \"copy_gbs\": X, \"results\":\n"
    "                  [{\"precision\": P, \"tokens_per_s\": X, \"ms_per_token\": Y, \"weight_bytes\": W,\n"
    "                  \"bound_tokens_per_s\": Z, \"fraction_of_bound\": F, \"ratio_vs_fp32\": R,\n"
    "                  \"goal_ratio\": G, \"meets_goal\": true|false}, ...], \"reference\": {\"tokens_per_s\":\n"
    "                  X, \"ratio\": R, \"same_tokens\": true|false, ...} or null, \"cuda\": null (no GPU) or\n"
    "                  {\"device\": NAME, \"copy_gbs\": X, \"results\": [{\"precision\": P, \"tokens_per_s\": X,\n"
    "                  \"bound_tokens_per_s\": Z, \"device_peak_bytes\": M, ...}, ...]}\n"
    "  -h, --help      this help\n";

int qn_cmd_bench(int argc, char **argv) {
    static const struct {
        const char *flag, *bench; /* the benchmark the flag belongs to */
        long lo, hi;
    } opts[] = {{"--size", "kernels", 1, 4096}, {"--reps", "kernels", 1, 100}, {"--batch", "train", 1, 4096},
                {"--seq", "train", 1, 512},      {"--threads", "train", 1, 1024}, {"--steps", "train", 1, 1000},
                {"--trials", "sampler", 1, 100000}, {"--seeds", "sampler", 1, 1000}, {"--ranks", "dispatch", 2, 256}};
    enum { N_OPTS = sizeof opts / sizeof opts[0] };
    static const struct {
        const char *flag, *bench;
    } sopts[] = {{"--preset", "train"}, {"--function", "sampler"}, {"--sampler", "sampler"}, {"--cluster", "schedule"},
                 {"-o", "dispatch"}};
    enum { N_SOPTS = sizeof sopts / sizeof sopts[0] };
    /* attention and dequant parse their own flags (bench_attention.c, bench_dequant.c): the first
     * word that is not a flag's value names the benchmark */
    for (int i = 1; i < argc; i++) {
        int k = 0, ks = 0;
        while (k < N_OPTS && strcmp(argv[i], opts[k].flag) != 0) k++;
        while (ks < N_SOPTS && strcmp(argv[i], sopts[ks].flag) != 0) ks++;
        if (k < N_OPTS || ks < N_SOPTS || strcmp(argv[i], "--shape") == 0 || strcmp(argv[i], "--model") == 0 ||
            strcmp(argv[i], "--precision") == 0 || strcmp(argv[i], "--prompt-len") == 0 || strcmp(argv[i], "--new-tokens") == 0)
            i++;
        else if (argv[i][0] == '-') continue;
        else if (strcmp(argv[i], "attention") == 0) return qn_bench_attention_main(argc, argv, i, help);
        else if (strcmp(argv[i], "dequant") == 0) return qn_bench_dequant_main(argc, argv, i, help);
        else if (strcmp(argv[i], "decode") == 0) return qn_bench_decode_main(argc, argv, i, help);
        else break;
    }
    long val[N_OPTS] = {64, 3, 32, 128, 0, 10, 200, 20, 4};
    const char *sval[N_SOPTS] = {"bert-tiny", "branin", "tpe", NULL, NULL};
    const char *given[N_OPTS + N_SOPTS] = {0}; /* the flags given, numeric then string ones */
    const char *what = NULL, *preset, *job = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = 0, ks = 0;
        while (k < N_OPTS && strcmp(a, opts[k].flag) != 0) k++;
        while (ks < N_SOPTS && strcmp(a, sopts[ks].flag) != 0) ks++;
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (k < N_OPTS || ks < N_SOPTS) {
            if (i + 1 >= argc) return qn_usage_error("bench", "%s needs a value", a);
            if (k == N_OPTS) sval[ks] = argv[++i], given[N_OPTS + ks] = a;
            else if (qn_int_flag("bench", a, argv[++i], opts[k].lo, opts[k].hi, &val[k])) return 2;
            else given[k] = a;
        } else if (a[0] == '-') {
            return qn_usage_error("bench", "unknown option '%s'", a);
        } else if (!what) {
            what = a;
        } else if (!job && strcmp(what, "schedule") == 0) {
            job = a;
        } else {
            return qn_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    if (!what) return qn_usage_error("bench", "say what to measure: quench bench kernels|train|sampler|schedule|dispatch|attention|dequant|decode");
    if (strcmp(what, "kernels") != 0 && strcmp(what, "train") != 0 && strcmp(what, "sampler") != 0 &&
        strcmp(what, "schedule") != 0 && strcmp(what, "dispatch") != 0)
        return qn_usage_error("bench", "unknown benchmark '%s': available: kernels, train, sampler, schedule, dispatch, attention, dequant, decode", what);
    for (int k = 0; k < N_OPTS + N_SOPTS; k++) {
        const char *owner = k < N_OPTS ? opts[k].bench : sopts[k - N_OPTS].bench;
        /* --trials: sampler's, schedule's and dispatch's */
        int shared = k == 6 && (strcmp(what, "schedule") == 0 || strcmp(what, "dispatch") == 0);
        if (given[k] && !shared && strcmp(owner, what) != 0)
            return qn_usage_error("bench", "%s applies to bench %s, not bench %s", given[k], owner, what);
    }
    if (strcmp(what, "schedule") == 0) {
        if (!job) return qn_usage_error("bench", "schedule needs a job file: quench bench schedule JOB --cluster SPEC");
        if (!sval[3]) return qn_usage_error("bench", "schedule needs --cluster COUNTxKIND[,...] (e.g. 8xl40s,4xrtx8000)");
        return qn_bench_schedule(job, sval[3], given[6] ? val[6] : 0, json, stdout);
    }
    if (strcmp(what, "dispatch") == 0) {
        long trials = given[6] ? val[6] : 5000;
        if (given[6] && trials < 100) return qn_usage_error("bench", "dispatch takes --trials of at least 100, not %ld", trials);
        return qn_bench_dispatch((int)val[8], trials, sval[4], json, stdout);
    }
    if (strcmp(what, "kernels") == 0) return qn_bench_kernels((size_t)val[0], (int)val[1], json, stdout);
    if (strcmp(what, "sampler") == 0) {
        const char *fn = sval[1], *sm = sval[2];
        if (strcmp(fn, "branin") && strcmp(fn, "hartmann6") && strcmp(fn, "ackley5") && strcmp(fn, "styblinski5") &&
            strcmp(fn, "mixed") && strcmp(fn, "sphere10"))
            return qn_usage_error("bench", "unknown function '%s': available: branin, hartmann6, ackley5, styblinski5, mixed, sphere10", fn);
        if (strcmp(sm, "tpe") && strcmp(sm, "random") && strcmp(sm, "grid"))
            return qn_usage_error("bench", "unknown sampler '%s': available: tpe, random, grid", sm);
        return qn_bench_sampler(fn, sm, (int)val[6], (int)val[7], json, stdout);
    }
    preset = sval[0];
    if (strcmp(preset, "bert-tiny") != 0 && strcmp(preset, "bert-mini") != 0 && strcmp(preset, "bert-small") != 0)
        return qn_usage_error("bench", "unknown preset '%s': available: bert-tiny, bert-mini, bert-small", preset);
    const long threads = qn_threads_or_cores(val[4]);
    return qn_bench_train(preset, (int)val[2], (int)val[3], (int)threads, (int)val[5], json, stdout);
}
