/* The BERT encoder classifier: the parameter layout of Hugging Face's state dict, the whole model's
 * gradients against finite differences (with padding, several layers and heads), presets, BERT's
 * initialisation, quantized Linear layers, and a few AdamW steps lowering the loss. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../worker/bert.h"

static const qn_bert_config tiny = {.vocab_size = 13, .max_position = 8, .type_vocab = 2, .hidden = 8, .layers = 2,
                                    .heads = 2, .intermediate = 12, .num_labels = 3, .ln_eps = 1e-12f};
enum { B = 3, T = 6 };
static const int32_t ids[B * T] = {2, 5, 7, 9, 3, 0, 2, 4, 3, 0, 0, 0, 2, 11, 12, 6, 8, 3};
static const int32_t lens[B] = {5, 3, 6};
static const int32_t labels[B] = {0, 2, 1};

Test(bert, layout_matches_the_state_dict) {
    qn_bert *m = qn_bert_new(&tiny, B, T, 1);
    cr_assert_not_null(m);
    cr_expect_eq(m->word, m->params);
    cr_expect_eq(m->pos, m->params + 13 * 8);
    cr_expect_eq(m->classifier.b + 3, m->params + m->nparams, "the buffer ends with classifier.bias");
    cr_expect_eq(m->layer[0].lin[QN_BERT_LIN_Q].W, m->emb_ln_b + 8, "layer 0 query follows the embedding LayerNorm");
    cr_expect_eq(m->layer[0].ln1_w, m->layer[0].lin[QN_BERT_LIN_ATT_OUT].b + 8);
    qn_linear *lins[32];
    cr_expect_eq(qn_bert_linears(m, lins, 32), 2 * 6 + 2);
    /* BERT's initialisation */
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(m->word[i], 0.0f, "[PAD] row is zero");
        cr_expect_eq(m->emb_ln_w[i], 1.0f);
        cr_expect_eq(m->layer[1].lin[QN_BERT_LIN_K].b[i], 0.0f);
    }
    double s2 = 0;
    size_t n = 13 * 8;
    for (size_t i = 8; i < n; i++) s2 += (double)m->word[i] * m->word[i];
    cr_expect(fabs(sqrt(s2 / (double)(n - 8)) - 0.02) < 0.006, "embedding std %g", sqrt(s2 / (double)(n - 8)));
    qn_bert_free(m);
    qn_bert_config c;
    cr_assert_eq(qn_bert_preset("bert-tiny", &c), 0);
    cr_expect(c.layers == 2 && c.hidden == 128 && c.heads == 2 && c.intermediate == 512 && c.vocab_size == 30522);
    cr_expect_eq(qn_bert_param_count(&c), 4386178, "bert-tiny with a 2-label head has 4,386,178 parameters");
    cr_assert_eq(qn_bert_preset("bert-small", &c), 0);
    cr_expect(c.layers == 4 && c.hidden == 512 && c.heads == 8);
    cr_expect_eq(qn_bert_preset("bert-huge", &c), -1);
}

Test(bert, gradients_match_finite_differences, .timeout = 120) {
    qn_bert *m = qn_bert_new(&tiny, B, T, 7);
    cr_assert_not_null(m);
    /* larger weights than BERT's 0.02 so every path carries signal */
    qn_rng rng;
    qn_rng_seed(&rng, 3);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] += 0.3f * qn_rng_normal(&rng);
    qn_bert_forward(m, ids, lens, labels, B, &rng);
    qn_bert_backward(m, ids, labels, B);
    float *g = malloc(m->nparams * sizeof(float));
    memcpy(g, m->grads, m->nparams * sizeof(float));
    int bad = 0, checked = 0;
    const float h = 1e-3f;
    for (size_t i = 0; i < m->nparams; i++) {
        float saved = m->params[i];
        m->params[i] = saved + h;
        double up = qn_bert_forward(m, ids, lens, labels, B, &rng);
        m->params[i] = saved - h;
        double down = qn_bert_forward(m, ids, lens, labels, B, &rng);
        m->params[i] = saved;
        double num = (up - down) / (2.0 * h);
        checked++;
        if (fabs(num - g[i]) > 2e-3 + 3e-2 * fabs(num)) {
            if (bad++ < 8) cr_log_error("param %zu: analytic %.6g numeric %.6g", i, g[i], num);
        }
    }
    cr_expect_leq(bad, checked / 200, "%d of %d gradients disagree", bad, checked);
    /* padded tokens' embeddings (id 0 = [PAD] at padded positions) get gradient only through the
     * attention they cannot receive: the [PAD] row's gradient is zero */
    for (int i = 0; i < 8; i++) cr_expect_eq(g[i], 0.0f, "[PAD] row gradient %g", g[i]);
    free(g);
    qn_bert_free(m);
}

Test(bert, training_lowers_the_loss_with_and_without_quantization) {
    for (int quant = 0; quant < 2; quant++) {
        qn_bert *m = qn_bert_new(&tiny, B, T, 11);
        cr_assert_not_null(m);
        if (quant) {
            qn_quant_cfg q;
            memset(&q, 0, sizeof q);
            /* BERT's 0.02-scale weights need fine steps: 16 bits with 12 fractional */
            qn_quant_operand op = {.name = "integer", .width = 16, .frac_width = 12, .frac_pct = -1.0};
            q.data_in = q.weight = q.bias = op;
            char err[256];
            cr_assert_eq(qn_bert_set_quant(m, &q, err, sizeof err), 0, "%s", err);
        }
        qn_train_cfg t = {.lr = 1e-2, .weight_decay = 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
        qn_rng rng;
        qn_rng_seed(&rng, 1);
        float first = qn_bert_forward(m, ids, lens, labels, B, &rng), last = first;
        for (int step = 1; step <= 30; step++) {
            qn_bert_forward(m, ids, lens, labels, B, &rng);
            qn_bert_backward(m, ids, labels, B);
            qn_adamw_step(m->params, m->grads, m->m, m->v, NULL, m->nparams, (float)t.lr, (float)t.beta1, (float)t.beta2,
                          (float)t.eps, (float)t.weight_decay, step);
            last = qn_bert_forward(m, ids, lens, labels, B, &rng);
        }
        cr_expect_lt(last, first * 0.5f, "quant %d: loss %g -> %g", quant, first, last);
        cr_expect_eq(m->quant_failed, 0);
        qn_bert_free(m);
    }
}

/* config.json keys that change transformers' BertModel in ways quench does not compute are refused
 * with one line naming the file (a relative position embedding would otherwise be silently ignored). */
Test(bert, hf_config_refuses_what_it_does_not_compute) {
    char dir[] = "/tmp/qn_bert_cfg_XXXXXX", path[256], err[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/config.json", dir);
    static const char *const cases[][2] = {
        {"{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\"}", "position_embedding_type 'relative_key'"},
        {"{\"model_type\": \"bert\", \"hidden_act\": \"gelu_new\"}", "hidden_act 'gelu_new'"},
        {"{\"model_type\": \"roberta\"}", "model_type is 'roberta'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(cases[i][0], f);
        fclose(f);
        qn_bert_config c;
        cr_expect_eq(qn_bert_config_from_hf(dir, &c, err, sizeof err), 2, "%s", cases[i][0]);
        cr_expect(strstr(err, cases[i][1]) && strstr(err, "config.json"), "%s: %s", cases[i][0], err);
    }
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\": \"bert\", \"position_embedding_type\": \"absolute\", \"hidden_size\": 8,"
          " \"num_attention_heads\": 2}", f);
    fclose(f);
    qn_bert_config c;
    cr_expect_eq(qn_bert_config_from_hf(dir, &c, err, sizeof err), 0, "%s", err);
    unlink(path);
    rmdir(dir);
}
