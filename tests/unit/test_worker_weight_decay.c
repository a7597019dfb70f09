/* Weight decay groups (train.weight_decay_params): the model's decay mask excludes exactly what Hugging
 * Face's Trainer excludes, checked by the state-dict names of the checkpoint layout (every bias, every
 * LayerNorm weight and bias; the embeddings and every Linear weight decayed); qn_model_adamw decays by
 * that mask under "trainer" and everything under "all"; and the grouped AdamW kernel gives the plain
 * kernel's floats bit for bit where it decays and the weight_decay=0 floats where it does not. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../jobs/job_internal.h"
#include "../../worker/model.h"
#include "qn_kernels.h"
#include "qn_worker_ckpt.h"

enum { V = 40, B = 2, T = 8 };

static qn_trial_config trial_cfg(const char *arch) {
    qn_trial_config c;
    qn_config_defaults(&c);
    snprintf(c.model.arch, sizeof c.model.arch, "%s", arch);
    if (!strcmp(arch, "bert"))
        c.model.hidden_size = 16, c.model.layers = 2, c.model.heads = 2, c.model.intermediate_size = 32;
    else
        c.model.embed_dim = 8, c.model.hidden_size = 12;
    c.model.num_labels = 3;
    return c;
}

static qn_model *new_model(const qn_trial_config *c) {
    char err[256];
    qn_model *m = qn_model_new(&c->model, V, B, T, 11, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    cr_assert_not_null(m->decay_mask);
    return m;
}

/* The Trainer's rule on a state-dict name (a LayerNorm module's parameters are named "...LayerNorm.*"). */
static int trainer_decays(const char *name) { return !strstr(name, "bias") && !strstr(name, "LayerNorm"); }

/* Every tensor of the checkpoint layout: the mask is constant over it and says what its name says.
 * Returns how many tensors are decayed; *excluded counts the others. */
static int check_by_name(const qn_trial_config *c, const qn_model *m, int *excluded) {
    qn_ckpt ck;
    char err[256];
    cr_assert_eq(qn_ckpt_build(c, m->params, m->nparams, 0, &ck, err, sizeof err), 0, "%s", err);
    int decayed = 0;
    int64_t covered = 0;
    *excluded = 0;
    for (int i = 0; i < ck.ntensors; i++) {
        const qn_ckpt_tensor *t = &ck.tensors[i];
        const int want = trainer_decays(t->name);
        for (int64_t k = 0; k < qn_ckpt_numel(t); k++)
            cr_assert_eq(m->decay_mask[t->offset + k], want, "%s[%lld]: decay %d, want %d", t->name, (long long)k,
                         m->decay_mask[t->offset + k], want);
        covered += qn_ckpt_numel(t);
        if (want) decayed++;
        else (*excluded)++;
    }
    cr_expect_eq(covered, (int64_t)m->nparams);
    qn_ckpt_free(&ck);
    return decayed;
}

Test(weight_decay, bert_mask_excludes_biases_and_layernorm_by_name) {
    qn_trial_config c = trial_cfg("bert");
    qn_model *m = new_model(&c);
    int excluded;
    int decayed = check_by_name(&c, m, &excluded);
    /* decayed: word, position, token-type embeddings + 6 Linear weights per layer + pooler + classifier */
    cr_expect_eq(decayed, 3 + 6 * 2 + 2);
    /* excluded: embeddings' LayerNorm (2) + per layer 6 biases and 2 LayerNorms (4) + pooler, classifier biases */
    cr_expect_eq(excluded, 2 + (6 + 4) * 2 + 2);
    qn_model_free(m);
}

Test(weight_decay, mlp_mask_excludes_the_biases) {
    qn_trial_config c = trial_cfg("mlp");
    qn_model *m = new_model(&c);
    int excluded;
    cr_expect_eq(check_by_name(&c, m, &excluded), 3); /* embedding.weight, fc1.weight, fc2.weight */
    cr_expect_eq(excluded, 2);                        /* fc1.bias, fc2.bias */
    qn_model_free(m);
}

/* With zero gradients and moments the Adam part adds exactly 0: a step only applies the decay. */
static void decay_only_step(qn_model *m, const char *grouping) {
    memset(m->grads, 0, m->nparams * sizeof(float));
    memset(m->m, 0, m->nparams * sizeof(float));
    memset(m->v, 0, m->nparams * sizeof(float));
    qn_train_cfg t;
    memset(&t, 0, sizeof t);
    snprintf(t.weight_decay_params, sizeof t.weight_decay_params, "%s", grouping);
    t.lr = 0.1, t.weight_decay = 0.5, t.beta1 = 0.9, t.beta2 = 0.999, t.eps = 1e-8;
    qn_model_adamw(m, &t);
}

Test(weight_decay, model_adamw_decays_by_the_mask_or_everything) {
    const char *arches[] = {"bert", "mlp"};
    for (int a = 0; a < 2; a++) {
        qn_trial_config c = trial_cfg(arches[a]);
        qn_model *m = new_model(&c);
        for (size_t i = 0; i < m->nparams; i++) m->params[i] = 1.0f + 0.001f * (float)(i % 97);
        float *before = malloc(m->nparams * sizeof(float));
        cr_assert_not_null(before);
        memcpy(before, m->params, m->nparams * sizeof(float));
        const float decay = (float)(1.0 - 0.1 * 0.5);
        decay_only_step(m, "trainer");
        size_t kept = 0;
        for (size_t i = 0; i < m->nparams; i++) {
            const float want = m->decay_mask[i] ? before[i] * decay : before[i];
            cr_assert_eq(m->params[i], want, "%s trainer: parameter %zu", arches[a], i);
            kept += !m->decay_mask[i];
        }
        cr_expect_gt(kept, 0);
        memcpy(m->params, before, m->nparams * sizeof(float));
        decay_only_step(m, "all");
        for (size_t i = 0; i < m->nparams; i++)
            cr_assert_eq(m->params[i], before[i] * decay, "%s all: parameter %zu", arches[a], i);
        free(before);
        qn_model_free(m);
    }
}

static float uniform(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

Test(weight_decay, grouped_kernel_matches_plain_kernel_bit_for_bit) {
    enum { N = 1000 };
    static float p[3][N], m[3][N], v[3][N], g[N];
    static uint8_t decays[N], prune[N];
    uint64_t s = 5;
    for (int i = 0; i < N; i++) {
        p[0][i] = p[1][i] = p[2][i] = uniform(&s);
        m[0][i] = m[1][i] = m[2][i] = 0.0f, v[0][i] = v[1][i] = v[2][i] = 0.0f;
        decays[i] = (uint8_t)(i % 3 != 0);
        prune[i] = (uint8_t)(i % 7 != 0);
    }
    for (int t = 1; t <= 5; t++) {
        for (int i = 0; i < N; i++) g[i] = uniform(&s);
        /* 0: grouped; 1: plain with the decay; 2: plain without */
        qn_adamw_step_groups(p[0], g, m[0], v[0], prune, decays, N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.3f, t);
        qn_adamw_step(p[1], g, m[1], v[1], prune, N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.3f, t);
        qn_adamw_step(p[2], g, m[2], v[2], prune, N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        for (int i = 0; i < N; i++) { /* the others follow element i's group from here on */
            int other = decays[i] ? 2 : 1, same = decays[i] ? 1 : 2;
            cr_assert_eq(memcmp(&p[0][i], &p[same][i], sizeof(float)), 0, "step %d element %d", t, i);
            p[other][i] = p[0][i], m[other][i] = m[0][i], v[other][i] = v[0][i];
        }
    }
    /* a NULL mask and an all-ones mask are the plain kernel */
    memset(decays, 1, sizeof decays);
    memcpy(p[1], p[0], sizeof p[0]), memcpy(m[1], m[0], sizeof m[0]), memcpy(v[1], v[0], sizeof v[0]);
    qn_adamw_step_groups(p[0], g, m[0], v[0], NULL, decays, N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.3f, 6);
    qn_adamw_step_groups(p[1], g, m[1], v[1], NULL, NULL, N, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.3f, 6);
    cr_expect_eq(memcmp(p[0], p[1], sizeof p[0]), 0);
}
