/* cmd_eval.c: quench eval --model DIR|FILE.h5:/trial/ID [--input-ids IDS.npy ... --dump-logits OUT.npy]
 * [--data SPEC] */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../worker/bert.h"
#include "../worker/mlp.h"
#include "../worker/model.h"
#include "cli.h"
#include "qn_dataset.h"
#include "qn_npy.h"
#include "qn_wordpiece.h"
#include "qn_worker_ckpt.h"

static const char *help =
    "usage: quench eval --model MODEL [--input-ids IDS.npy [--attention-mask MASK.npy] --dump-logits OUT.npy]\n"
    "                   [--data SPEC [--limit N] [--max-len T]]\n"
    "\n"
    "Run a classifier: write its logits on given token ids, and/or print its accuracy on a dataset.\n"
    "\n"
    "MODEL is a Hugging Face BERT directory (config.json, model.safetensors, BertForSequenceClassification\n"
    "or BertModel names), or a trial of a results file, FILE.h5:/trial/ID: its checkpoint with the\n"
    "configuration the study gave it (the job stored in the file), its quantized weights as stored,\n"
    "its inputs quantized as the trial did: what the trial evaluated.\n"
    "\n"
    "  --input-ids IDS.npy        token ids, int32 or int64, shape (N, T)\n"
    "  --attention-mask MASK.npy  1 for tokens to attend to, 0 for padding, shape (N, T) (default: all 1;\n"
    "                             for a trial, the tokens before the first 0 are its length)\n"
    "  --dump-logits OUT.npy      the logits, float32, shape (N, num_labels)\n"
    "  --data SPEC                print accuracy and the number of examples on SPEC's test split:\n"
    "                               synthetic-sentiment   the built-in data (for a trial: the job's seed,\n"
    "                                                     eval_size and max_len, i.e. the trial's eval split)\n"
    "                               job                   a trial's own eval split, whatever its dataset\n"
    "                               csv:DIR, tsv:DIR, jsonl:DIR   DIR/test.EXT (docs/datasets.md)\n"
    "                               imdb:DIR              an aclImdb directory's test/ split\n"
    "                             text is tokenized with the model's vocab.txt (a trial: data.vocab or\n"
    "                             model.pretrained's)\n"
    "  --limit N                  at most N examples (default: a trial's data.eval_size for synthetic and\n"
    "                             job, every example of a file, 1000 synthetic for a directory)\n"
    "  --max-len T                tokens per example (default: a trial's data.max_len, else 64)\n"
    "  -h, --help                 this help\n"
    "\n"
    "Token type ids are 0. Runs in float32 on the CPU backend, without dropout.\n";

/* A model to run: a Hugging Face directory (hf) or a trial's checkpoint (m). */
typedef struct {
    qn_bert *hf;
    qn_model *m;
    int vocab, num_labels, B;
    int32_t *mask;
} runner;

static void runner_free(runner *r) {
    qn_bert_free(r->hf);
    qn_model_free(r->m);
    free(r->mask);
    memset(r, 0, sizeof *r);
}

/* Build for sequences of T tokens. Returns 0, or 2 with a message printed. */
static int runner_new(const char *model, const qn_recorded_trial *trial, int T, runner *r) {
    char err[1024];
    memset(r, 0, sizeof *r);
    r->B = trial ? trial->cfg.train.batch_size : 32;
    if (trial) {
        r->m = qn_ckpt_model(&trial->cfg, &trial->ckpt, trial->pruned, r->B, T, err, sizeof err);
        if (r->m) r->num_labels = r->m->num_labels;
    } else {
        r->hf = qn_bert_load_hf(model, r->B, T, err, sizeof err);
        if (r->hf) r->vocab = r->hf->cfg.vocab_size, r->num_labels = r->hf->cfg.num_labels;
    }
    if (r->m)
        r->vocab = !strcmp(trial->cfg.model.arch, "bert") ? ((qn_bert *)r->m->impl)->cfg.vocab_size : ((qn_mlp *)r->m->impl)->V;
    if (!r->hf && !r->m) {
        fprintf(stderr, "quench: %s\n", err);
        return 2;
    }
    r->mask = malloc((size_t)r->B * T * sizeof(int32_t) + 1);
    return r->mask ? 0 : 1;
}

/* One batch of b sequences (b <= B): ids (b,T), lengths (b). Probabilities and logits (b, NL). */
static void runner_forward(runner *r, const int32_t *ids, const int32_t *lengths, int b, int T, qn_rng *rng,
                           const float **probs, const float **logits) {
    if (r->hf) {
        for (int k = 0; k < b; k++)
            for (int t = 0; t < T; t++) r->mask[k * T + t] = t < lengths[k];
        qn_bert_forward_masked(r->hf, ids, r->mask, NULL, b, rng);
        *probs = r->hf->probs, *logits = r->hf->logits;
    } else {
        r->m->forward(r->m, ids, lengths, NULL, b, rng);
        *probs = r->m->probs, *logits = r->m->logits;
    }
}

static int check_2d(const qn_npy *a, const char *path, const char *what) {
    if (a->ndim != 2) {
        fprintf(stderr, "quench: %s: %s must have shape (N, T), not %d dimensions\n", path, what, a->ndim);
        return 2;
    }
    return 0;
}

/* --input-ids ... --dump-logits: for a Hugging Face directory the mask is used as given. */
static int dump_logits(const char *model, const qn_recorded_trial *trial, const char *ids_path, const char *mask_path,
                       const char *out_path) {
    char err[1024];
    qn_npy ids, mask = {0};
    int rc = qn_npy_read_ints(ids_path, &ids, err, sizeof err);
    if (rc) {
        fprintf(stderr, "quench: %s\n", err);
        return rc;
    }
    runner r = {0};
    float *logits = NULL;
    int32_t *bid = NULL, *blen = NULL;
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
    const int N = (int)ids.shape[0], T = (int)ids.shape[1] > 0 ? (int)ids.shape[1] : 1;
    if ((rc = runner_new(model, trial, T, &r)) != 0) goto out;
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ints[i] < 0 || ids.ints[i] >= r.vocab) {
            fprintf(stderr, "quench: %s: token id %lld at (%zu, %zu) is outside the vocabulary of %d\n", ids_path,
                    (long long)ids.ints[i], i / (size_t)T, i % (size_t)T, r.vocab);
            rc = 2;
            goto out;
        }
    const int NL = r.num_labels, B = r.B;
    logits = malloc(((size_t)N * NL + 1) * sizeof(float));
    bid = malloc((size_t)B * T * sizeof(int32_t) + 1), blen = malloc((size_t)B * sizeof(int32_t) + 1);
    if (!logits || !bid || !blen) {
        fprintf(stderr, "quench: eval: out of memory\n");
        rc = 1;
        goto out;
    }
    qn_rng rng;
    qn_rng_seed(&rng, 0);
    for (int start = 0; start < N; start += B) {
        int b = N - start < B ? N - start : B;
        for (int k = 0; k < b * T; k++) bid[k] = (int32_t)ids.ints[(size_t)start * T + k];
        const float *probs, *lg;
        if (r.hf) { /* the mask as given, holes included */
            for (int k = 0; k < b * T; k++) r.mask[k] = mask_path ? mask.ints[(size_t)start * T + k] != 0 : 1;
            qn_bert_forward_masked(r.hf, bid, r.mask, NULL, b, &rng);
            lg = r.hf->logits;
        } else {
            for (int k = 0; k < b; k++) {
                int len = 0;
                while (len < T && (!mask_path || mask.ints[(size_t)(start + k) * T + len] != 0)) len++;
                blen[k] = len;
            }
            runner_forward(&r, bid, blen, b, T, &rng, &probs, &lg);
        }
        memcpy(logits + (size_t)start * NL, lg, (size_t)b * NL * sizeof(float));
    }
    int64_t shape[2] = {N, NL};
    rc = qn_npy_write_f32(out_path, logits, shape, 2, err, sizeof err);
    if (rc) fprintf(stderr, "quench: %s\n", err);
out:
    free(logits), free(bid), free(blen);
    runner_free(&r);
    qn_npy_free(&ids);
    qn_npy_free(&mask);
    return rc;
}

/* --data SPEC: the examples, generated or read and tokenized. Returns NULL with a message printed. */
static qn_dataset *load_data(const char *model, const qn_recorded_trial *trial, const char *spec, int limit, int max_len,
                             int num_labels) {
    char err[1024] = "";
    const qn_data_cfg *d = trial ? &trial->cfg.data : NULL;
    uint64_t seed = trial ? trial->job.seed : 0;
    if (max_len <= 0) max_len = d ? d->max_len : 64;
    char kind[32] = "", dir[1024] = "";
    if (!strcmp(spec, "job")) {
        if (!trial) {
            fprintf(stderr, "quench: eval: --data job needs a trial (FILE.h5:/trial/ID) as --model\n");
            return NULL;
        }
        snprintf(kind, sizeof kind, "%s", d->dataset);
        snprintf(dir, sizeof dir, "%s", d->path);
        if (limit <= 0) limit = d->eval_size;
    } else if (!strcmp(spec, "synthetic-sentiment")) {
        snprintf(kind, sizeof kind, "%s", spec);
        if (limit <= 0) limit = d ? d->eval_size : 1000;
    } else {
        const char *colon = strchr(spec, ':');
        size_t k = colon ? (size_t)(colon - spec) : 0;
        if (!colon || k >= sizeof kind || !colon[1]) goto bad;
        memcpy(kind, spec, k), kind[k] = 0;
        if (strcmp(kind, "csv") && strcmp(kind, "tsv") && strcmp(kind, "jsonl") && strcmp(kind, "imdb")) goto bad;
        snprintf(dir, sizeof dir, "%s", colon + 1);
        if (limit <= 0) limit = INT_MAX;
    }
    if (!strcmp(kind, "synthetic-sentiment")) {
        qn_dataset *ds = qn_synth_generate(seed, QN_SPLIT_EVAL, limit, max_len, 0.0);
        if (!ds) fprintf(stderr, "quench: eval: out of memory\n");
        return ds;
    }
    char vocab_path[1200];
    if (!trial) snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", model);
    else if (d->vocab[0]) snprintf(vocab_path, sizeof vocab_path, "%s", d->vocab);
    else if (trial->cfg.model.pretrained[0]) snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", trial->cfg.model.pretrained);
    else {
        fprintf(stderr, "quench: eval: the trial's model has the synthetic vocabulary: text data needs data.vocab or model.pretrained\n");
        return NULL;
    }
    qn_vocab *v = NULL;
    if (qn_vocab_load(vocab_path, &v, err, sizeof err) != 0) {
        fprintf(stderr, "quench: %s\n", err);
        return NULL;
    }
    qn_dataset *ds = qn_dataset_load_files(kind, dir, QN_SPLIT_EVAL, v, limit, max_len, seed, 0.0, num_labels, err, sizeof err);
    qn_vocab_free(v);
    if (!ds) fprintf(stderr, "quench: %s\n", err);
    return ds;
bad:
    fprintf(stderr, "quench: eval: --data '%s': expected synthetic-sentiment, job, csv:DIR, tsv:DIR, jsonl:DIR or imdb:DIR\n",
            spec);
    return NULL;
}

/* An int32 .npy of shape (n, cols), or (n,) when cols is 0. Returns 0, or 1 with a message printed. */
static int write_npy_i32(const char *path, const int32_t *v, int n, int cols) {
    char hdr[128];
    int k = cols ? snprintf(hdr, sizeof hdr, "{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }", n, cols)
                 : snprintf(hdr, sizeof hdr, "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }", n);
    int total = 10 + k + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "quench: %s: cannot write\n", path);
        return 1;
    }
    uint16_t hl = (uint16_t)(k + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hl, 2, 1, f); /* little-endian hosts only, as the rest of the .npy code */
    fwrite(hdr, 1, (size_t)k, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(v, sizeof(int32_t), (size_t)n * (size_t)(cols ? cols : 1), f);
    return fclose(f) == 0 ? 0 : 1;
}

static int accuracy(const char *model, const qn_recorded_trial *trial, const char *spec, int limit, int max_len,
                    const char *ids_out, const char *labels_out) {
    int num_labels = trial ? trial->cfg.model.num_labels : 0;
    if (!trial) {
        qn_bert_config c;
        char err[1024];
        if (qn_bert_config_from_hf(model, &c, err, sizeof err) != 0) {
            fprintf(stderr, "quench: %s\n", err);
            return 2;
        }
        num_labels = c.num_labels;
    }
    qn_dataset *ds = load_data(model, trial, spec, limit, max_len, num_labels);
    if (!ds) return 2;
    const int T = ds->max_len;
    runner r;
    int rc = runner_new(model, trial, T, &r);
    for (int64_t i = 0; !rc && i < (int64_t)ds->n * T; i++)
        if (ds->ids[i] < 0 || ds->ids[i] >= r.vocab) {
            fprintf(stderr, "quench: eval: token id %d of %s is outside the model's vocabulary of %d\n", ds->ids[i], spec, r.vocab);
            rc = 2;
        }
    int correct = 0;
    qn_rng rng;
    qn_rng_seed(&rng, 0);
    for (int start = 0; !rc && start < ds->n; start += r.B) {
        int b = ds->n - start < r.B ? ds->n - start : r.B;
        const float *probs, *lg;
        runner_forward(&r, ds->ids + (size_t)start * T, ds->lengths + start, b, T, &rng, &probs, &lg);
        for (int k = 0; k < b; k++) {
            const float *p = probs + (size_t)k * r.num_labels;
            int best = 0;
            for (int c = 1; c < r.num_labels; c++)
                if (p[c] > p[best]) best = c;
            correct += best == ds->labels[start + k];
        }
    }
    if (!rc) printf("accuracy %.6f  examples %d  correct %d  data %s\n", ds->n ? (double)correct / ds->n : 0.0, ds->n, correct, spec);
    /* the examples as token ids and labels, for running them elsewhere (--input-ids, PyTorch) */
    if (!rc && ids_out) {
        rc = write_npy_i32(ids_out, ds->ids, ds->n, T);
    }
    if (!rc && labels_out) rc = write_npy_i32(labels_out, ds->labels, ds->n, 0);
    runner_free(&r);
    qn_dataset_free(ds);
    return rc;
}

/* "FILE.h5:/trial/ID" -> path and id; 0 when model is not of that form. */
static int trial_ref(const char *model, char *path, size_t len, int64_t *id) {
    const char *at = strstr(model, ":/trial/");
    if (!at) return 0;
    char *end;
    long long v = strtoll(at + 8, &end, 10);
    if (end == at + 8 || *end || v < 0) return -1;
    snprintf(path, len, "%.*s", (int)(at - model), model);
    *id = v;
    return 1;
}

int qn_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *ids_path = NULL, *mask_path = NULL, *out_path = NULL, *data = NULL, *limit_s = NULL,
               *maxlen_s = NULL, *dump_ids = NULL, *dump_labels = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--model")            ? &model
                            : !strcmp(a, "--input-ids")      ? &ids_path
                            : !strcmp(a, "--attention-mask") ? &mask_path
                            : !strcmp(a, "--dump-logits")    ? &out_path
                            : !strcmp(a, "--data")           ? &data
                            : !strcmp(a, "--limit")          ? &limit_s
                            : !strcmp(a, "--max-len")        ? &maxlen_s
                            : !strcmp(a, "--dump-ids")       ? &dump_ids
                            : !strcmp(a, "--dump-labels")    ? &dump_labels
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
    if (!model) return qn_usage_error("eval", "say which model: --model DIR or --model FILE.h5:/trial/ID");
    if (!data && (!ids_path || !out_path))
        return qn_usage_error("eval", "needs --input-ids IDS.npy and --dump-logits OUT.npy, or --data SPEC");
    if ((ids_path != NULL) != (out_path != NULL) || (mask_path && !ids_path))
        return qn_usage_error("eval", "--input-ids and --dump-logits go together (--attention-mask with them)");
    if ((dump_ids || dump_labels) && !data) return qn_usage_error("eval", "--dump-ids and --dump-labels need --data");
    long limit = 0, max_len = 0;
    if (limit_s && qn_int_flag("eval", "--limit", limit_s, 1, INT32_MAX, &limit)) return 2;
    if (maxlen_s && qn_int_flag("eval", "--max-len", maxlen_s, 2, 4096, &max_len)) return 2;

    char path[4096], err[1024];
    int64_t id = -1;
    int ref = trial_ref(model, path, sizeof path, &id);
    if (ref < 0) return qn_usage_error("eval", "--model '%s': expected FILE.h5:/trial/ID with ID a trial number", model);
    qn_recorded_trial trial, *tp = NULL;
    if (ref) {
        int rc = qn_recorded_trial_load(path, id, &trial, err, sizeof err);
        if (rc) {
            fprintf(stderr, "quench: %s\n", err);
            qn_recorded_trial_free(&trial);
            return rc;
        }
        tp = &trial;
    }
    int rc = 0;
    if (ids_path) rc = dump_logits(model, tp, ids_path, mask_path, out_path);
    if (!rc && data) rc = accuracy(model, tp, data, (int)limit, (int)max_len, dump_ids, dump_labels);
    if (tp) qn_recorded_trial_free(tp);
    return rc;
}
