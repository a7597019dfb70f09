/* qn_dataset.h: the built-in synthetic sentiment data (generated from a seed, never stored) and
 * its word-level tokenizer (docs/datasets.md).
 *
 * Contract:
 *  - qn_synth_generate() gives the same examples for the same (seed, split, n, label_noise) on
 *    every machine; the train and eval splits use independent streams.
 *  - Reviews come from a grammar with polarity words, negation, intensifiers and contrast
 *    ("X, but Y": the clause after "but" decides). About 40% of examples are contrasts whose
 *    words alone cannot tell the label, so an order-blind model tops out near 80%; the label
 *    is always recoverable from the word order. label_noise flips that fraction of labels.
 *  - Token ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, then the grammar's words in a fixed order.
 */
#ifndef QN_DATASET_H
#define QN_DATASET_H

#include <stddef.h>
#include <stdint.h>

enum { QN_TOK_PAD = 0, QN_TOK_UNK = 1, QN_TOK_CLS = 2, QN_TOK_SEP = 3 };
enum { QN_SPLIT_TRAIN = 0, QN_SPLIT_EVAL = 1 };

typedef struct {
    int n;            /* examples */
    int max_len;      /* tokens per example, with [CLS] and [SEP], padded */
    int32_t *ids;     /* (n, max_len) */
    int32_t *lengths; /* (n): tokens before padding */
    int32_t *labels;  /* (n): 1 positive, 0 negative (after label noise) */
    int32_t *clean_labels; /* (n): the grammar's label, before noise */
    char **texts;     /* (n) */
} qn_dataset;

/* Generate `n` examples of `split`. Returns NULL when out of memory. */
qn_dataset *qn_synth_generate(uint64_t seed, int split, int n, int max_len, double label_noise);
void qn_dataset_free(qn_dataset *d);

/* The vocabulary: size, and the token of an id (NULL when out of range). */
int qn_synth_vocab_size(void);
const char *qn_synth_token(int id);
/* Lower-case, split on spaces and punctuation, map to ids ([UNK] for unknown words), add [CLS] and
 * [SEP], truncate (keeping [SEP] last) and pad to max_len. Returns the length before padding. */
int qn_synth_encode(const char *text, int32_t *ids, int max_len);

/* ---- labelled text from files (dataset_files.c): kind "imdb", "csv", "tsv" or "jsonl" ---- */
struct qn_vocab;
/* Load split `split` of the dataset at path, shuffle it with seed, keep the first n, tokenize with
 * vocab ([CLS] ... [SEP], max_len). Returns NULL with "FILE[:LINE]: message" in err. */
qn_dataset *qn_dataset_load_files(const char *kind, const char *path, int split, const struct qn_vocab *vocab, int n,
                                  int max_len, uint64_t seed, double label_noise, int num_labels, char *err,
                                  size_t errlen);

#endif
