/* cmd_eval.c: quench eval --model DIR --input-ids IDS.npy [--attention-mask MASK.npy] --dump-logits OUT.npy */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../worker/bert.h"
#include "cli.h"
#include "qn_npy.h"

static const char *help =
    "usage: quench eval --model DIR --input-ids IDS.npy [--attention-mask MASK.npy] --dump-logits OUT.npy\n"
    "\n"
    "Run a BERT classifier on given token ids and write its logits. DIR is a Hugging Face model\n"
    "directory (config.json and model.safetensors, BertForSequenceClassification or BertModel names).\n"
    "\n"
    "  --input-ids IDS.npy        token ids, int32 or int64, shape (N, T)\n"
    "  --attention-mask MASK.npy  1 for tokens to attend to, 0 for padding, shape (N, T) (default: all 1)\n"
    "  --dump-logits OUT.npy      the logits, float32, shape (N, num_labels)\n"
    "  -h, --help                 this help\n"
    "\n"
    "Token type ids are 0. The model runs in float32 on the CPU backend, without dropout.\n";

static int check_2d(const qn_npy *a, const char *path, const char *what) {
    if (a->ndim != 2) {
        fprintf(stderr, "quench: %s: %s must have shape (N, T), not %d dimensions\n", path, what, a->ndim);
        return 2;
    }
    return 0;
}

int qn_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *ids_path = NULL, *mask_path = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--model")            ? &model
                            : !strcmp(a, "--input-ids")      ? &ids_path
                            : !strcmp(a, "--attention-mask") ? &mask_path
                            : !strcmp(a, "--dump-logits")    ? &out_path
                                                             : NULL;
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        } else if (slot) {
            if (i + 1 >= argc) return qn_usage_error("eval", "%s needs a value", a);
            *slot = argv[++i];
        } else {
            return qn_usage_error("eval", "unexpected argument '%s'", a);
        }
    }
    if (!model) return qn_usage_error("eval", "say which model: --model DIR");
    if (!ids_path || !out_path) return qn_usage_error("eval", "needs --input-ids IDS.npy and --dump-logits OUT.npy");
    char err[1024];
    qn_npy ids, mask = {0};
    int rc = qn_npy_read_ints(ids_path, &ids, err, sizeof err);
    if (rc) {
        fprintf(stderr, "quench: %s\n", err);
        return rc;
    }
    if ((rc = check_2d(&ids, ids_path, "the input ids")) != 0) goto out;
    if (mask_path) {
        if ((rc = qn_npy_read_ints(mask_path, &mask, err, sizeof err)) != 0) {
            fprintf(stderr, "quench: %s\n", err);
            goto out;
        }
        if ((rc = check_2d(&mask, mask_path, "the attention mask")) != 0) goto out;
        if (mask.shape[0] != ids.shape[0] || mask.shape[1] != ids.shape[1]) {
            fprintf(stderr, "quench: %s: shape (%lld, %lld) differs from the input ids' (%lld, %lld)\n", mask_path,
                    (long long)mask.shape[0], (long long)mask.shape[1], (long long)ids.shape[0], (long long)ids.shape[1]);
            rc = 2;
            goto out;
        }
    }
    const int N = (int)ids.shape[0], T = (int)ids.shape[1], B = 32;
    qn_bert *m = qn_bert_load_hf(model, B, T > 0 ? T : 1, err, sizeof err);
    if (!m) {
        fprintf(stderr, "quench: %s\n", err);
        rc = 2;
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ints[i] < 0 || ids.ints[i] >= m->cfg.vocab_size) {
            fprintf(stderr, "quench: %s: token id %lld at (%zu, %zu) is outside the vocabulary of %d\n", ids_path,
                    (long long)ids.ints[i], i / (size_t)T, i % (size_t)T, m->cfg.vocab_size);
            rc = 2;
            qn_bert_free(m);
            goto out;
        }
    const int NL = m->cfg.num_labels;
    float *logits = malloc(((size_t)N * NL + 1) * sizeof(float));
    int32_t *bid = malloc((size_t)B * T * sizeof(int32_t) + 1), *bmask = malloc((size_t)B * T * sizeof(int32_t) + 1);
    if (!logits || !bid || !bmask) {
        fprintf(stderr, "quench: eval: out of memory\n");
        rc = 1;
    }
    qn_rng rng;
    qn_rng_seed(&rng, 0);
    for (int start = 0; start < N && !rc; start += B) {
        int b = N - start < B ? N - start : B;
        for (int k = 0; k < b * T; k++) {
            bid[k] = (int32_t)ids.ints[(size_t)start * T + k];
            bmask[k] = mask_path ? mask.ints[(size_t)start * T + k] != 0 : 1;
        }
        qn_bert_forward_masked(m, bid, bmask, NULL, b, &rng);
        memcpy(logits + (size_t)start * NL, m->logits, (size_t)b * NL * sizeof(float));
    }
    if (!rc) {
        int64_t shape[2] = {N, NL};
        rc = qn_npy_write_f32(out_path, logits, shape, 2, err, sizeof err);
        if (rc) fprintf(stderr, "quench: %s\n", err);
    }
    free(logits), free(bid), free(bmask);
    qn_bert_free(m);
out:
    qn_npy_free(&ids);
    qn_npy_free(&mask);
    return rc;
}
