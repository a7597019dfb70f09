/* The built-in synthetic sentiment data: the same examples from the same seed, independent splits,
 * balanced labels, label noise only where asked, a tokenizer that round-trips the grammar's words,
 * and the property the data exists for: bag-of-words cannot reach what word order can. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_dataset.h"

Test(dataset, same_seed_same_examples_every_time) {
    qn_dataset *a = qn_synth_generate(42, QN_SPLIT_TRAIN, 500, 48, 0.05);
    qn_dataset *b = qn_synth_generate(42, QN_SPLIT_TRAIN, 500, 48, 0.05);
    cr_assert(a && b);
    cr_expect(memcmp(a->ids, b->ids, sizeof(int32_t) * 500 * 48) == 0);
    cr_expect(memcmp(a->labels, b->labels, sizeof(int32_t) * 500) == 0);
    for (int i = 0; i < 500; i++) cr_assert_str_eq(a->texts[i], b->texts[i]);
    qn_dataset *c = qn_synth_generate(43, QN_SPLIT_TRAIN, 500, 48, 0.05);
    cr_expect(memcmp(a->ids, c->ids, sizeof(int32_t) * 500 * 48) != 0, "another seed, other examples");
    qn_dataset *e = qn_synth_generate(42, QN_SPLIT_EVAL, 500, 48, 0.05);
    int same = 0;
    for (int i = 0; i < 500; i++) same += !strcmp(a->texts[i], e->texts[i]);
    cr_expect_lt(same, 50, "train and eval streams overlap: %d identical rows", same);
    /* a prefix: the first n examples do not depend on how many are asked for */
    qn_dataset *small = qn_synth_generate(42, QN_SPLIT_TRAIN, 100, 48, 0.05);
    for (int i = 0; i < 100; i++) cr_expect_str_eq(small->texts[i], a->texts[i]);
    qn_dataset_free(a), qn_dataset_free(b), qn_dataset_free(c), qn_dataset_free(e), qn_dataset_free(small);
}

Test(dataset, a_known_seed_gives_a_known_first_review) {
    /* Pinned so that a change to the grammar or RNG, which changes every stored study, is noticed. */
    qn_dataset *d = qn_synth_generate(0, QN_SPLIT_TRAIN, 3, 48, 0.0);
    cr_assert_not_null(d);
    cr_log_info("first reviews: '%s' / '%s' / '%s'", d->texts[0], d->texts[1], d->texts[2]);
    int32_t ids[48];
    for (int i = 0; i < 3; i++) {
        int len = qn_synth_encode(d->texts[i], ids, 48);
        cr_expect_eq(len, d->lengths[i]);
        cr_expect(memcmp(ids, d->ids + i * 48, sizeof ids) == 0, "encode(text) differs from the stored ids");
    }
    qn_dataset_free(d);
}

Test(dataset, labels_balanced_and_noise_only_in_train) {
    qn_dataset *t = qn_synth_generate(7, QN_SPLIT_TRAIN, 20000, 48, 0.1);
    qn_dataset *e = qn_synth_generate(7, QN_SPLIT_EVAL, 5000, 48, 0.1);
    int pos = 0, flipped = 0;
    for (int i = 0; i < t->n; i++) pos += t->labels[i], flipped += t->labels[i] != t->clean_labels[i];
    cr_expect(fabs(pos / 20000.0 - 0.5) < 0.02, "positive share %.3f", pos / 20000.0);
    cr_expect(fabs(flipped / 20000.0 - 0.1) < 0.01, "flipped share %.3f", flipped / 20000.0);
    int eflip = 0;
    for (int i = 0; i < e->n; i++) eflip += e->labels[i] != e->clean_labels[i];
    cr_expect_eq(eflip, 0, "eval labels must be clean");
    qn_dataset_free(t), qn_dataset_free(e);
}

Test(dataset, tokenizer) {
    int32_t ids[10];
    int len = qn_synth_encode("Not GOOD, but zzzz.", ids, 10);
    cr_expect_eq(ids[0], QN_TOK_CLS);
    cr_expect_eq(ids[len - 1], QN_TOK_SEP);
    cr_expect_str_eq(qn_synth_token(ids[1]), "not");
    cr_expect_str_eq(qn_synth_token(ids[2]), "good");
    int unk = 0;
    for (int i = 0; i < len; i++) unk += ids[i] == QN_TOK_UNK;
    cr_expect_eq(unk, 1, "zzzz is unknown");
    cr_expect_eq(len, 8);
    for (int i = len; i < 10; i++) cr_expect_eq(ids[i], QN_TOK_PAD);
    /* truncation keeps [SEP] last */
    int32_t few[4];
    int n = qn_synth_encode("good good good good good good", few, 4);
    cr_expect_eq(n, 4);
    cr_expect_eq(few[3], QN_TOK_SEP);
    cr_expect_null(qn_synth_token(-1));
    cr_expect_null(qn_synth_token(qn_synth_vocab_size()));
    /* every vocabulary word encodes to itself */
    for (int id = 4; id < qn_synth_vocab_size(); id++) {
        int32_t one[3];
        qn_synth_encode(qn_synth_token(id), one, 3);
        cr_expect_eq(one[1], id, "word '%s'", qn_synth_token(id));
    }
}

/* Word order decides: a bag-of-words classifier (multinomial naive Bayes, trained on the train
 * split) is right on single-clause reviews and near chance on contrasts ("good, but boring"), so it
 * tops out well below what a model that reads the order can reach (clean labels are a function of
 * the text, see the next test). */
static int is_contrast(const char *text) { return strstr(text, " but ") != NULL || strstr(text, "although") != NULL; }

Test(dataset, bag_of_words_fails_on_contrasts) {
    enum { NTRAIN = 20000, NEVAL = 5000, L = 48 };
    qn_dataset *tr = qn_synth_generate(11, QN_SPLIT_TRAIN, NTRAIN, L, 0.0);
    qn_dataset *ev = qn_synth_generate(11, QN_SPLIT_EVAL, NEVAL, L, 0.0);
    int V = qn_synth_vocab_size();
    double *count[2] = {calloc(V, sizeof(double)), calloc(V, sizeof(double))}, total[2] = {0, 0}, prior[2] = {0, 0};
    for (int i = 0; i < NTRAIN; i++) {
        int y = tr->labels[i];
        prior[y]++;
        for (int t = 0; t < tr->lengths[i]; t++) count[y][tr->ids[(size_t)i * L + t]]++, total[y]++;
    }
    /* 0: plain single clauses, 1: with a negation, 2: contrasts */
    int right[3] = {0, 0, 0}, seen[3] = {0, 0, 0};
    for (int i = 0; i < NEVAL; i++) {
        double score[2];
        for (int y = 0; y < 2; y++) {
            score[y] = log(prior[y]);
            for (int t = 0; t < ev->lengths[i]; t++)
                score[y] += log((count[y][ev->ids[(size_t)i * L + t]] + 1.0) / (total[y] + V));
        }
        const char *tx = ev->texts[i];
        int negated = strstr(tx, " not ") || strstr(tx, " never ") || strstr(tx, " hardly ");
        int c = is_contrast(tx) ? 2 : negated ? 1 : 0;
        seen[c]++;
        right[c] += (score[1] > score[0]) == (ev->labels[i] == 1);
    }
    double plain = (double)right[0] / seen[0], negated = (double)right[1] / seen[1], contrast = (double)right[2] / seen[2];
    double overall = (double)(right[0] + right[1] + right[2]) / NEVAL;
    cr_log_info("naive Bayes: %.3f on plain clauses, %.3f on negated ones, %.3f on contrasts, %.3f overall "
                "(%d/%d/%d examples)", plain, negated, contrast, overall, seen[0], seen[1], seen[2]);
    cr_expect_gt(plain, 0.9, "the words should decide plain reviews");
    cr_expect_lt(contrast, 0.65, "contrasts should defeat a bag of words");
    cr_expect_lt(overall, 0.8);
    cr_expect(seen[2] > NEVAL * 0.3 && seen[2] < NEVAL * 0.5, "contrast share %d/%d", seen[2], NEVAL);
    free(count[0]), free(count[1]);
    qn_dataset_free(tr), qn_dataset_free(ev);
}

Test(dataset, identical_texts_have_identical_clean_labels) {
    enum { N = 5000 };
    qn_dataset *d = qn_synth_generate(5, QN_SPLIT_TRAIN, N, 48, 0.2);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N && j < i + 200; j++)
            if (!strcmp(d->texts[i], d->texts[j]))
                cr_assert_eq(d->clean_labels[i], d->clean_labels[j], "'%s' has two labels", d->texts[i]);
    qn_dataset_free(d);
}
