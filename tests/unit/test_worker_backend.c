/* Choosing the backend: a model asked to run on a GPU that this build or machine does not have
 * (CI: no GPU; the CPU-only build: no CUDA) says so, stays on the CPU and computes exactly what the
 * CPU backend computes; QUENCH_DEVICE=cpu keeps the device probe on the CPU. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/model.h"
#include "qn_dataset.h"
#include "qn_device.h"
#include "qn_kernels.h"

enum { N = 8, T = 12 };

static float *train_three_steps(int prefer_gpu, const char **backend) {
    qn_dataset *d = qn_synth_generate(4, QN_SPLIT_TRAIN, N, T, 0.0);
    cr_assert_not_null(d);
    qn_model_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.arch, sizeof c.arch, "bert");
    c.hidden_size = 16, c.layers = 1, c.heads = 2, c.intermediate_size = 32, c.num_labels = 2;
    char err[256];
    qn_model *m = qn_model_new(&c, qn_synth_vocab_size(), N, T, 11, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    if (prefer_gpu) qn_model_prefer_cuda(m, 0);
    qn_train_cfg t;
    memset(&t, 0, sizeof t);
    t.lr = 1e-3, t.beta1 = 0.9, t.beta2 = 0.999, t.eps = 1e-8, t.weight_decay = 0.01;
    qn_rng rng;
    qn_rng_seed(&rng, 5);
    for (int s = 0; s < 3; s++) {
        float loss = m->forward(m, d->ids, d->lengths, d->labels, N, &rng);
        cr_assert(loss == loss, "loss is NaN: %s", m->backend_error);
        m->backward(m, d->ids, d->lengths, d->labels, N);
        qn_model_adamw(m, &t);
    }
    *backend = qn_model_backend(m);
    cr_assert_eq(qn_model_sync_host(m, err, sizeof err), 0, "%s", err);
    float *p = malloc(m->nparams * sizeof *p);
    memcpy(p, m->params, m->nparams * sizeof *p);
    qn_model_free(m);
    qn_dataset_free(d);
    return p;
}

Test(backend, without_a_gpu_the_cpu_backend_runs_and_gives_its_answers) {
    if (qn_cuda_available() > 0) cr_skip_test("a GPU is present: tests/gpu/test_bert_cuda.c compares the backends");
    const char *b1, *b2;
    float *cpu = train_three_steps(0, &b1), *asked = train_three_steps(1, &b2);
    cr_expect_str_eq(b1, "cpu");
    cr_expect_str_eq(b2, "cpu");
    size_t n = 0;
    { /* the same count as train_three_steps builds */
        qn_model_cfg c;
        memset(&c, 0, sizeof c);
        snprintf(c.arch, sizeof c.arch, "bert");
        c.hidden_size = 16, c.layers = 1, c.heads = 2, c.intermediate_size = 32, c.num_labels = 2;
        n = qn_model_cfg_param_count(&c, qn_synth_vocab_size());
    }
    cr_assert_gt(n, 0);
    cr_expect_eq(memcmp(cpu, asked, n * sizeof *cpu), 0, "asking for a missing GPU changed the numbers");
    free(cpu), free(asked);
}

Test(backend, quench_device_cpu_keeps_the_probe_on_the_cpu) {
    setenv("QUENCH_DEVICE", "cpu", 1);
    qn_device_profile p;
    cr_assert_eq(qn_device_probe(0, 0, &p), 0);
    cr_expect_str_eq(p.kind, "cpu");
    cr_expect_eq(p.device_index, 0);
    unsetenv("QUENCH_DEVICE");
}
