/* Inference stages (docs/jobs.md): the job file's kind: inference with llm.* and device.kind, and the
 * cost model's memory and per-kind fit for model.arch: llm (coordinator/cost_model.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_cost.h"
#include "qn_job.h"

/* A Llama-shaped config.json (no weights: the parser and the cost model read only the config). */
static char dir[64];
static void make_model(void) {
    snprintf(dir, sizeof dir, "/tmp/qn-test-infer-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    /* C 2048, 16 layers, 32 heads, 8 kv heads, I 8192, V 128256, tied: Llama 3.2 1B's shape */
    fputs("{\"model_type\": \"llama\", \"vocab_size\": 128256, \"hidden_size\": 2048, \"num_hidden_layers\": 16,"
          " \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"intermediate_size\": 8192,"
          " \"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0,"
          " \"tie_word_embeddings\": true}", f);
    fclose(f);
}
static void remove_model(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
}

static void load(qn_job *job, const char *stage_grid) {
    char text[2048], err[QN_ERR_LEN] = "";
    snprintf(text, sizeof text,
             "name: t\nmodel: {arch: llm}\nllm: {model: %s, max_new_tokens: 64}\nstages:\n  - name: bench\n"
             "    kind: inference\n    grid:\n%s",
             dir, stage_grid);
    cr_assert_eq(qn_job_load_text("t.yaml", text, strlen(text), job, err, sizeof err), 0, "%s", err);
}

static void trial_cfg(const qn_job *job, int64_t id, qn_trial_config *cfg) {
    qn_trial t;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(qn_job_trial(job, id, &t), 0);
    cr_assert_eq(qn_trial_config_build(job, NULL, 0, &t, cfg, err, sizeof err), 0, "%s", err);
    qn_trial_free(&t);
}

Test(inference, stage_parses_into_one_trial_per_point_and_kind, .init = make_model, .fini = remove_model) {
    qn_job job;
    load(&job, "      llm.precision: [fp16, \"nf4:double_quant=1\"]\n      device.kind: [rtx2080ti, l40s, cpu]\n");
    cr_assert_eq(job.ntrials, 6);
    cr_assert_str_eq(job.stages[0].kind, "inference");
    cr_assert_eq(job.stages[0].nsteps, 1);
    cr_assert_eq(job.stages[0].steps[0], QN_STEP_INFER);
    cr_assert_str_eq(job.stages[0].metric, "tokens_per_s");
    cr_assert_eq(job.stages[0].maximize, 1);
    qn_trial_config cfg;
    trial_cfg(&job, 4, &cfg); /* row-major, last axis fastest: (nf4, l40s) */
    cr_assert_str_eq(cfg.llm.precision, "nf4:double_quant=1");
    cr_assert_str_eq(cfg.device.kind, "l40s");
    cr_assert_str_eq(cfg.llm.keep, "lm_head");
    cr_assert_eq(cfg.llm.max_new_tokens, 64);
    char *plan = qn_job_plan_text(&job);
    cr_assert(strstr(plan, "base llm model=") != NULL, "%s", plan);
    cr_assert(strstr(plan, "run infer") != NULL, "%s", plan);
    free(plan);
    qn_job_free(&job);
}

Test(inference, cost_counts_packed_weights_and_the_kv_cache, .init = make_model, .fini = remove_model) {
    qn_job job;
    load(&job, "      llm.precision: [fp32, fp16, w8a16, nf4, bf16]\n");
    double mem[5];
    for (int i = 0; i < 5; i++) {
        qn_trial_config cfg;
        qn_trial_cost c;
        char err[QN_ERR_LEN] = "";
        trial_cfg(&job, i, &cfg);
        cr_assert_eq(qn_trial_cost_estimate(&cfg, job.stages[0].steps, 1, &c, err, sizeof err), 0, "%s", err);
        mem[i] = c.memory_bytes;
        cr_assert_eq(c.needs_bf16, i == 4);
        cr_assert_gt(c.flops, 0);
    }
    /* Linear weights: 16 x (2048 x (32+16) x 64 + 2048 x 2048 + 3 x 2048 x 8192) = 973,078,528; the tied
     * lm_head (262.7 M) stays fp32 (llm.keep) */
    double linear = 16.0 * (2048.0 * 48 * 64 + 2048.0 * 2048 + 3.0 * 2048 * 8192), head = 128256.0 * 2048;
    cr_assert_float_eq(mem[0] - mem[1], linear * 2, 1, "fp32 - fp16 = 2 bytes per Linear weight");
    cr_assert_float_eq(mem[1] - mem[2], linear * 1, 1, "fp16 - w8a16 = 1 byte per Linear weight");
    cr_assert_float_eq(mem[2] - mem[3], linear * (1 - 0.5 - 4.0 / 64), 1, "w8a16 - nf4");
    cr_assert_gt(mem[3], linear * 0.5 + head * 4, "nf4 keeps the head in fp32, plus the KV cache");
    qn_job_free(&job);
}

Test(inference, a_pinned_trial_fits_only_its_kind_and_says_why, .init = make_model, .fini = remove_model) {
    qn_job job;
    load(&job, "      llm.precision: [fp32]\n      device.kind: [rtx2080ti]\n");
    qn_trial_config cfg;
    qn_trial_cost c;
    char err[QN_ERR_LEN] = "", why[256] = "";
    trial_cfg(&job, 0, &cfg);
    cr_assert_eq(qn_trial_cost_estimate(&cfg, job.stages[0].steps, 1, &c, err, sizeof err), 0, "%s", err);
    const qn_device_kind *turing = qn_device_kind_find("rtx2080ti"), *ada = qn_device_kind_find("l40s");
    cr_assert(qn_trial_fits(&c, turing, why, sizeof why), "%s", why); /* ~5 GB in fp32 fits 11 GB */
    cr_assert_not(qn_trial_fits(&c, ada, why, sizeof why));
    cr_assert_str_eq(why, "runs on device.kind rtx2080ti only, not l40s");
    qn_device_kind small = *turing;
    small.memory_bytes = 2e9;
    cr_assert(qn_trial_fits_none(&c, &small, 1, "worker", why, sizeof why));
    cr_assert(strstr(why, "of device memory; device.kind rtx2080ti (NVIDIA GeForce RTX 2080 Ti) has 2.0 GB") != NULL,
              "%s", why);
    cr_assert(qn_trial_fits_none(&c, ada, 1, "worker", why, sizeof why));
    cr_assert_str_eq(why, "device.kind rtx2080ti: there is no worker of that kind");
    qn_job_free(&job);
}
