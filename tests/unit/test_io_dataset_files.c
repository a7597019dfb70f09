/* Labelled text from files (io/dataset_files.c, docs/datasets.md): the aclImdb layout, CSV (header
 * columns in any order, RFC 4180 quoting, CRLF, blank lines, a byte order mark), TSV and JSONL; the
 * seeded shuffle (deterministic, the first n independent of n, the same for every format); label
 * noise; every malformed input as its exact one-line "FILE:LINE: ..." message; and fuzzing: thousands
 * of mutated files each give a dataset or one line naming the file, never a crash (run under
 * ASan/UBSan by the debug preset). Every fixture is written into a temporary directory by the test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qn_dataset.h"
#include "qn_wordpiece.h"

enum { MAX_LEN = 12, ERRLEN = 512 };

static const char *const tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "movie", "film", "the",
                                     "was", ",", "!", "\"", "not", "##s", "plot", "fine", "dull"};
enum { T_PAD, T_UNK, T_CLS, T_SEP, T_GOOD, T_BAD, T_MOVIE, T_FILM, T_THE, T_WAS, T_COMMA, T_BANG, T_QUOTE, T_NOT,
       T_S, T_PLOT, T_FINE, T_DULL, NTOK };

static qn_vocab *vocab(void) {
    qn_vocab *v = qn_vocab_from_tokens(tokens, NTOK);
    cr_assert_not_null(v);
    return v;
}

/* ---------------------------------------------------------------- fixtures */

static void tmpdir(char *dir, size_t len) {
    snprintf(dir, len, "/tmp/qn-files-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void rmtree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* Write len bytes (strlen when len is (size_t)-1) to DIR/NAME, creating the directories on the way. */
static void put_n(const char *dir, const char *name, const char *text, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    if (len == (size_t)-1) len = strlen(text);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}
static void put(const char *dir, const char *name, const char *text) { put_n(dir, name, text, (size_t)-1); }

static qn_dataset *load(const char *kind, const char *dir, int split, const qn_vocab *v, int n, uint64_t seed,
                        int num_labels, char *err) {
    err[0] = 0;
    return qn_dataset_load_files(kind, dir, split, v, n, MAX_LEN, seed, 0.0, num_labels, err, ERRLEN);
}

/* The example whose text is `text`: its index, or -1. */
static int find_text(const qn_dataset *d, const char *text) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->texts[i], text)) return i;
    return -1;
}

/* The dataset holds exactly these (text, label) pairs, in some order, each tokenized as the
 * WordPiece encoder does it (ids padded to MAX_LEN, lengths before padding). */
static void expect_examples(const qn_dataset *d, const qn_vocab *v, const char *const *texts, const int *labels, int n) {
    cr_assert_not_null(d);
    cr_expect_eq(d->n, n, "%d examples, expected %d", d->n, n);
    cr_expect_eq(d->max_len, MAX_LEN);
    for (int k = 0; k < n; k++) {
        int i = find_text(d, texts[k]);
        cr_expect_geq(i, 0, "no example with the text '%s'", texts[k]);
        if (i < 0) continue;
        cr_expect_eq(d->labels[i], labels[k], "'%s': label %d, expected %d", texts[k], d->labels[i], labels[k]);
        cr_expect_eq(d->clean_labels[i], labels[k]);
        int32_t ids[MAX_LEN];
        int len = qn_wordpiece_encode(v, texts[k], ids, MAX_LEN);
        cr_expect_eq(d->lengths[i], len, "'%s': length %d, expected %d", texts[k], d->lengths[i], len);
        cr_expect(memcmp(d->ids + (size_t)i * MAX_LEN, ids, sizeof ids) == 0, "'%s': ids differ", texts[k]);
    }
}

/* The ids of example i, compared with an explicit list (then padding). */
static void expect_ids(const qn_dataset *d, int i, const int32_t *want, int n) {
    cr_assert_geq(i, 0);
    cr_expect_eq(d->lengths[i], n, "'%s': length %d, expected %d", d->texts[i], d->lengths[i], n);
    for (int k = 0; k < MAX_LEN; k++) {
        int32_t w = k < n ? want[k] : T_PAD;
        cr_expect_eq(d->ids[(size_t)i * MAX_LEN + k], w, "'%s': id %d is %d (%s), expected %d (%s)", d->texts[i], k,
                     d->ids[(size_t)i * MAX_LEN + k], tokens[d->ids[(size_t)i * MAX_LEN + k]], w, tokens[w]);
    }
}

/* ---------------------------------------------------------------- valid files */

Test(dataset_files, csv_columns_in_any_order_rfc4180_quotes_crlf_and_blank_lines) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    /* CRLF line ends, label before text, two extra columns, a byte order mark as Excel writes it */
    put(dir, "train.csv",
        "\xEF\xBB\xBF" "id,label,text,source\r\n"
        "1,1,good movie,imdb\r\n"
        "2,0,\"bad, bad film\",imdb\r\n"                   /* a separator inside quotes */
        "\r\n"                                              /* a blank line */
        "3,1,\"the \"\"plot\"\" was fine\",\"x,y\"\r\n"     /* doubled quotes are one quote */
        "4,0,\"not good\r\nnot fine\",\r\n"                 /* a line break inside quotes, an empty last field */
        "5,2,,\"\"\r\n"                                     /* an empty text */
        "6, 1 ,dull\"s,\r\n"                                /* a quote inside an unquoted field is a character */
        "\r\n\r\n");                                        /* trailing blank lines */
    qn_vocab *v = vocab();
    char err[ERRLEN];
    qn_dataset *d = load("csv", dir, QN_SPLIT_TRAIN, v, 100, 1, 3, err);
    cr_assert_not_null(d, "%s", err);
    const char *texts[] = {"good movie", "bad, bad film", "the \"plot\" was fine", "not good\r\nnot fine", "", "dull\"s"};
    const int labels[] = {1, 0, 1, 0, 2, 1};
    expect_examples(d, v, texts, labels, 6);
    const int32_t a[] = {T_CLS, T_GOOD, T_MOVIE, T_SEP};
    expect_ids(d, find_text(d, "good movie"), a, 4);
    const int32_t b[] = {T_CLS, T_BAD, T_COMMA, T_BAD, T_FILM, T_SEP};
    expect_ids(d, find_text(d, "bad, bad film"), b, 6);
    const int32_t c[] = {T_CLS, T_THE, T_QUOTE, T_PLOT, T_QUOTE, T_WAS, T_FINE, T_SEP};
    expect_ids(d, find_text(d, "the \"plot\" was fine"), c, 8);
    const int32_t e[] = {T_CLS, T_NOT, T_GOOD, T_NOT, T_FINE, T_SEP};
    expect_ids(d, find_text(d, "not good\r\nnot fine"), e, 6);
    const int32_t f[] = {T_CLS, T_SEP};
    expect_ids(d, find_text(d, ""), f, 2);
    const int32_t g[] = {T_CLS, T_DULL, T_QUOTE, T_UNK, T_SEP}; /* "s" alone is not in the vocabulary */
    expect_ids(d, find_text(d, "dull\"s"), g, 5);
    qn_dataset_free(d);
    /* the eval split is test.csv; a final row without a newline is read */
    put(dir, "test.csv", "text,label\nthe film,0\n\"good\nmovie\",1");
    d = load("csv", dir, QN_SPLIT_EVAL, v, 100, 1, 2, err);
    cr_assert_not_null(d, "%s", err);
    const char *t2[] = {"the film", "good\nmovie"};
    const int l2[] = {0, 1};
    expect_examples(d, v, t2, l2, 2);
    qn_dataset_free(d);
    qn_vocab_free(v);
    rmtree(dir);
}

Test(dataset_files, tsv_has_no_quoting) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    put(dir, "train.tsv", "label\ttext\tnote\n0\t\"bad\" film\tx\n\n1\tgood, good movie\t\r\n1\tthe plot\ty\n");
    qn_vocab *v = vocab();
    char err[ERRLEN];
    qn_dataset *d = load("tsv", dir, QN_SPLIT_TRAIN, v, 100, 3, 2, err);
    cr_assert_not_null(d, "%s", err);
    const char *texts[] = {"\"bad\" film", "good, good movie", "the plot"};
    const int labels[] = {0, 1, 1};
    expect_examples(d, v, texts, labels, 3);
    const int32_t a[] = {T_CLS, T_QUOTE, T_BAD, T_QUOTE, T_FILM, T_SEP};
    expect_ids(d, find_text(d, "\"bad\" film"), a, 6);
    qn_dataset_free(d);
    qn_vocab_free(v);
    rmtree(dir);
}

Test(dataset_files, jsonl_objects_escapes_extra_keys_and_blank_lines) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    put(dir, "train.jsonl",
        "{\"text\": \"good movie\", \"label\": 1}\n"
        "\n"
        "{\"label\": 0, \"id\": 7, \"text\": \"bad \\\"film\\\"\\nnot good\"}\r\n" /* key order, escapes, CRLF */
        "   \r\n"                                                              /* blank, CRLF */
        "{\"text\": \"caf\\u00e9\", \"label\": 2, \"meta\": {\"a\": [1, 2]}}"); /* no final newline */
    qn_vocab *v = vocab();
    char err[ERRLEN];
    qn_dataset *d = load("jsonl", dir, QN_SPLIT_TRAIN, v, 100, 5, 3, err);
    cr_assert_not_null(d, "%s", err);
    const char *texts[] = {"good movie", "bad \"film\"\nnot good", "caf\xc3\xa9"};
    const int labels[] = {1, 0, 2};
    expect_examples(d, v, texts, labels, 3);
    const int32_t a[] = {T_CLS, T_BAD, T_QUOTE, T_FILM, T_QUOTE, T_NOT, T_GOOD, T_SEP};
    expect_ids(d, find_text(d, "bad \"film\"\nnot good"), a, 8);
    const int32_t b[] = {T_CLS, T_UNK, T_SEP};
    expect_ids(d, find_text(d, "caf\xc3\xa9"), b, 3);
    qn_dataset_free(d);
    qn_vocab_free(v);
    rmtree(dir);
}

Test(dataset_files, imdb_layout) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    put(dir, "train/pos/0_9.txt", "Good movie!");
    put(dir, "train/pos/1_8.txt", "the film was good");
    put(dir, "train/neg/0_2.txt", "Bad film<br /><br />dull");
    put(dir, "train/neg/notes.md", "not a review");   /* only .txt files are reviews */
    put(dir, "train/unsup/0_0.txt", "good good good"); /* unlabelled: ignored */
    put(dir, "test/pos/0_10.txt", "fine");
    put(dir, "test/neg/0_1.txt", "bad\n");
    put(dir, "train/urls_pos.txt", "http://example.com"); /* the published files beside the folders */
    qn_vocab *v = vocab();
    char err[ERRLEN];
    qn_dataset *d = load("imdb", dir, QN_SPLIT_TRAIN, v, 100, 9, 2, err);
    cr_assert_not_null(d, "%s", err);
    const char *texts[] = {"Good movie!", "the film was good", "Bad film<br /><br />dull"};
    const int labels[] = {1, 1, 0};
    expect_examples(d, v, texts, labels, 3);
    const int32_t a[] = {T_CLS, T_GOOD, T_MOVIE, T_BANG, T_SEP};
    expect_ids(d, find_text(d, "Good movie!"), a, 5);
    qn_dataset_free(d);
    d = load("imdb", dir, QN_SPLIT_EVAL, v, 100, 9, 2, err);
    cr_assert_not_null(d, "%s", err);
    const char *t2[] = {"fine", "bad\n"};
    const int l2[] = {1, 0};
    expect_examples(d, v, t2, l2, 2);
    qn_dataset_free(d);
    qn_vocab_free(v);
    rmtree(dir);
}

/* ---------------------------------------------------------------- the seeded shuffle */

enum { ROWS = 60 };
static const char *const words[] = {"good", "bad", "movie", "film", "the", "was", "not", "plot", "fine", "dull"};

static void row_text(int i, char *buf, size_t len) {
    snprintf(buf, len, "%s %s %s", words[i % 10], words[(i / 10) % 10], words[(i * 7 + 3) % 10]);
}

/* The same ROWS rows as CSV, TSV and JSONL, and an aclImdb tree of them. */
static void write_rows(const char *dir) {
    size_t cap = 16384;
    char *csv = malloc(cap), *tsv = malloc(cap), *jsonl = malloc(cap);
    size_t c = (size_t)snprintf(csv, cap, "text,label\n"), t = (size_t)snprintf(tsv, cap, "text\tlabel\n"), j = 0;
    for (int i = 0; i < ROWS; i++) {
        char text[64];
        row_text(i, text, sizeof text);
        c += (size_t)snprintf(csv + c, cap - c, "%s,%d\n", text, i % 2);
        t += (size_t)snprintf(tsv + t, cap - t, "%s\t%d\n", text, i % 2);
        j += (size_t)snprintf(jsonl + j, cap - j, "{\"text\": \"%s\", \"label\": %d}\n", text, i % 2);
    }
    put(dir, "train.csv", csv), put(dir, "train.tsv", tsv), put(dir, "train.jsonl", jsonl);
    put(dir, "test.csv", csv);
    free(csv), free(tsv), free(jsonl);
}

static int same_examples(const qn_dataset *a, const qn_dataset *b, int n) {
    for (int i = 0; i < n; i++) {
        if (strcmp(a->texts[i], b->texts[i]) || a->labels[i] != b->labels[i] || a->lengths[i] != b->lengths[i]) return 0;
        if (memcmp(a->ids + (size_t)i * MAX_LEN, b->ids + (size_t)i * MAX_LEN, MAX_LEN * sizeof(int32_t))) return 0;
    }
    return 1;
}

Test(dataset_files, seeded_shuffle_is_deterministic_a_prefix_and_the_same_for_every_format) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    write_rows(dir);
    qn_vocab *v = vocab();
    char err[ERRLEN];
    qn_dataset *a = load("csv", dir, QN_SPLIT_TRAIN, v, ROWS, 42, 2, err);
    cr_assert_not_null(a, "%s", err);
    qn_dataset *b = load("csv", dir, QN_SPLIT_TRAIN, v, ROWS, 42, 2, err);
    cr_assert_not_null(b, "%s", err);
    cr_expect(same_examples(a, b, ROWS), "the same seed, another order");
    /* a shuffle: not the file's order, and every row once */
    int in_order = 0;
    for (int i = 0; i < ROWS; i++) {
        char text[64];
        row_text(i, text, sizeof text);
        in_order += !strcmp(a->texts[i], text);
        cr_expect_geq(find_text(a, text), 0, "row %d is missing", i);
    }
    cr_expect_lt(in_order, ROWS / 4, "%d of %d rows kept their place", in_order, ROWS);
    /* another seed, another order */
    qn_dataset *c = load("csv", dir, QN_SPLIT_TRAIN, v, ROWS, 43, 2, err);
    cr_assert_not_null(c, "%s", err);
    cr_expect(!same_examples(a, c, ROWS), "seeds 42 and 43 give the same order");
    /* the first n do not depend on n; more than the file has gives all of them */
    for (int n = 1; n <= ROWS + 10; n += 7) {
        qn_dataset *p = load("csv", dir, QN_SPLIT_TRAIN, v, n, 42, 2, err);
        cr_assert_not_null(p, "%s", err);
        cr_expect_eq(p->n, n < ROWS ? n : ROWS);
        cr_expect(same_examples(a, p, p->n), "the first %d examples differ from the first %d of %d", p->n, p->n, ROWS);
        qn_dataset_free(p);
    }
    /* the same rows in any format: the same examples in the same order */
    const char *kinds[] = {"tsv", "jsonl"};
    for (int k = 0; k < 2; k++) {
        qn_dataset *o = load(kinds[k], dir, QN_SPLIT_TRAIN, v, ROWS, 42, 2, err);
        cr_assert_not_null(o, "%s", err);
        cr_expect(same_examples(a, o, ROWS), "%s orders the rows differently from csv", kinds[k]);
        qn_dataset_free(o);
    }
    /* the eval split is shuffled with its own stream: the same rows in test.csv, another order */
    qn_dataset *e = load("csv", dir, QN_SPLIT_EVAL, v, ROWS, 42, 2, err);
    cr_assert_not_null(e, "%s", err);
    cr_expect(!same_examples(a, e, ROWS), "train and eval shuffles are the same");
    qn_dataset_free(a), qn_dataset_free(b), qn_dataset_free(c), qn_dataset_free(e);
    qn_vocab_free(v);
    rmtree(dir);
}

Test(dataset_files, label_noise_flips_training_labels_only_and_keeps_the_clean_ones) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    write_rows(dir);
    qn_vocab *v = vocab();
    char err[ERRLEN];
    qn_dataset *clean = qn_dataset_load_files("csv", dir, QN_SPLIT_TRAIN, v, ROWS, MAX_LEN, 7, 0.0, 2, err, ERRLEN);
    qn_dataset *noisy = qn_dataset_load_files("csv", dir, QN_SPLIT_TRAIN, v, ROWS, MAX_LEN, 7, 0.5, 2, err, ERRLEN);
    qn_dataset *again = qn_dataset_load_files("csv", dir, QN_SPLIT_TRAIN, v, ROWS, MAX_LEN, 7, 0.5, 2, err, ERRLEN);
    qn_dataset *eval = qn_dataset_load_files("csv", dir, QN_SPLIT_EVAL, v, ROWS, MAX_LEN, 7, 0.5, 2, err, ERRLEN);
    cr_assert(clean && noisy && again && eval, "%s", err);
    int flipped = 0;
    for (int i = 0; i < ROWS; i++) {
        cr_expect_str_eq(noisy->texts[i], clean->texts[i], "noise changes the order");
        cr_expect_eq(noisy->clean_labels[i], clean->labels[i]);
        cr_expect_eq(clean->labels[i], clean->clean_labels[i]);
        cr_expect_eq(noisy->labels[i], again->labels[i], "noise is seeded");
        flipped += noisy->labels[i] != noisy->clean_labels[i];
        cr_expect_eq(eval->labels[i], eval->clean_labels[i], "eval labels are never noisy");
    }
    cr_expect(flipped > ROWS / 5 && flipped < ROWS * 4 / 5, "%d of %d labels flipped at 0.5", flipped, ROWS);
    qn_dataset_free(clean), qn_dataset_free(noisy), qn_dataset_free(again), qn_dataset_free(eval);
    qn_vocab_free(v);
    rmtree(dir);
}

/* ---------------------------------------------------------------- malformed inputs */

typedef struct {
    const char *kind, *file, *content;
    int num_labels;
    const char *want; /* the whole message after "DIR/"; a trailing '*' matches any rest */
} bad_case;

static void expect_message(const char *dir, const char *got, const char *want, const char *what) {
    char full[ERRLEN];
    snprintf(full, sizeof full, "%s/%s", dir, want);
    size_t n = strlen(full);
    if (n && full[n - 1] == '*') cr_expect(strncmp(got, full, n - 1) == 0, "%s:\n  got:  %s\n  want: %s", what, got, full);
    else cr_expect_str_eq(got, full, "%s:\n  got:  %s\n  want: %s", what, got, full);
    cr_expect(strchr(got, '\n') == NULL && strchr(got, '\r') == NULL, "%s: not one line: '%s'", what, got);
}

Test(dataset_files, malformed_files_give_one_line_naming_file_and_line) {
    const bad_case cases[] = {
        /* CSV */
        {"csv", "train.csv", "text,label\n\"good movie,1\nbad,0\n", 2, "train.csv:2: a quoted field is not closed"},
        {"csv", "train.csv", "text,label\ngood,1\n\"bad\nfilm\",0\n\"fine,1\n\n", 2, "train.csv:5: a quoted field is not closed"},
        {"csv", "train.csv", "text,label\ngood,1\nbad,0,extra\n", 2, "train.csv:3: 3 fields where the header has 2"},
        {"csv", "train.csv", "text,label\ngood,1\nbad\n", 2, "train.csv:3: 1 fields where the header has 2"},
        {"csv", "train.csv", "id,text,label\r\n1,good,1\r\n2,\"bad\r\nfilm\",0,9\r\n", 2,
         "train.csv:3: 4 fields where the header has 3"}, /* the line the record starts on */
        {"csv", "train.csv", "text,label\ngood,yes\n", 2, "train.csv:2: label 'yes' is not an integer from 0"},
        {"csv", "train.csv", "text,label\ngood,1.5\n", 2, "train.csv:2: label '1.5' is not an integer from 0"},
        {"csv", "train.csv", "text,label\ngood,\n", 2, "train.csv:2: label '' is not an integer from 0"},
        {"csv", "train.csv", "text,label\ngood,1\nbad,-1\n", 2, "train.csv:3: label '-1' is not an integer from 0"},
        {"csv", "train.csv", "text,label\ngood,\"1\n2\"\n", 2, "train.csv:2: label '1?2' is not an integer from 0"},
        {"csv", "train.csv", "text,label\ngood,1\nbad,0\nfine,2\n", 2, "train.csv:4: label 2, but the model has 2 labels"},
        {"csv", "train.csv", "text,label\ngood,1\n", 1, "train.csv:2: label 1, but the model has 1 label"},
        {"csv", "train.csv", "review,label\ngood,1\n", 2, "train.csv:1: the header needs a \"text\" and a \"label\" column"},
        {"csv", "train.csv", "text,class\ngood,1\n", 2, "train.csv:1: the header needs a \"text\" and a \"label\" column"},
        {"csv", "train.csv", "", 2, "train.csv:1: the header needs a \"text\" and a \"label\" column"},
        {"csv", "train.csv", "text,label\n", 2, "train.csv: no examples"},
        {"csv", "train.csv", "text,label\r\n\r\n\r\n", 2, "train.csv: no examples"},
        /* TSV: quotes are characters, so a quoted tab separates */
        {"tsv", "train.tsv", "text\tlabel\ngood\t1\n\"bad\tfilm\"\t0\n", 2, "train.tsv:3: 3 fields where the header has 2"},
        {"tsv", "train.tsv", "text\tlabel\ngood\tone\n", 2, "train.tsv:2: label 'one' is not an integer from 0"},
        {"tsv", "train.tsv", "text,label\ngood,1\n", 2, "train.tsv:1: the header needs a \"text\" and a \"label\" column"},
        {"tsv", "train.tsv", "label\ttext\n5\tgood\n", 3, "train.tsv:2: label 5, but the model has 3 labels"},
        /* JSONL */
        {"jsonl", "train.jsonl", "{\"text\": \"good\", \"label\": 1}\nnot json\n", 2, "train.jsonl:2: not JSON: *"},
        {"jsonl", "train.jsonl", "{\"text\": \"good\", \"label\": 1\n", 2, "train.jsonl:1: not JSON: *"},
        {"jsonl", "train.jsonl", "{\"text\": \"good\",\n \"label\": 1}\n", 2, "train.jsonl:1: not JSON: *"},
        {"jsonl", "train.jsonl", "\n\n{\"label\": 1}\n", 2, "train.jsonl:3: no \"text\" string"},
        {"jsonl", "train.jsonl", "{\"text\": 5, \"label\": 1}\n", 2, "train.jsonl:1: no \"text\" string"},
        {"jsonl", "train.jsonl", "[\"good\", 1]\n", 2, "train.jsonl:1: no \"text\" string"},
        {"jsonl", "train.jsonl", "{\"text\": \"good\", \"label\": \"1\"}\n", 2, "train.jsonl:1: \"label\" must be an integer from 0"},
        {"jsonl", "train.jsonl", "{\"text\": \"good\", \"label\": 1.0}\n", 2, "train.jsonl:1: \"label\" must be an integer from 0"},
        {"jsonl", "train.jsonl", "{\"text\": \"good\", \"label\": -1}\n", 2, "train.jsonl:1: \"label\" must be an integer from 0"},
        {"jsonl", "train.jsonl", "{\"text\": \"good\"}\n", 2, "train.jsonl:1: \"label\" must be an integer from 0"},
        {"jsonl", "train.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 7}\n", 2,
         "train.jsonl:2: label 7, but the model has 2 labels"},
        {"jsonl", "train.jsonl", "", 2, "train.jsonl: no examples"},
        {"jsonl", "train.jsonl", "\r\n  \n", 2, "train.jsonl: no examples"},
    };
    qn_vocab *v = vocab();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char dir[64], err[ERRLEN], what[96];
        tmpdir(dir, sizeof dir);
        put(dir, cases[k].file, cases[k].content);
        snprintf(what, sizeof what, "case %zu (%s)", k, cases[k].kind);
        qn_dataset *d = load(cases[k].kind, dir, QN_SPLIT_TRAIN, v, 100, 1, cases[k].num_labels, err);
        cr_expect_null(d, "%s loaded", what);
        qn_dataset_free(d);
        expect_message(dir, err, cases[k].want, what);
        rmtree(dir);
    }
    qn_vocab_free(v);
}

Test(dataset_files, missing_files_and_directories) {
    char dir[64], err[ERRLEN];
    tmpdir(dir, sizeof dir);
    qn_vocab *v = vocab();
    const char *kinds[] = {"csv", "tsv", "jsonl"};
    for (int k = 0; k < 3; k++) {
        char want[64];
        /* no file */
        cr_expect_null(load(kinds[k], dir, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
        snprintf(want, sizeof want, "train.%s: cannot read: No such file or directory", kinds[k]);
        expect_message(dir, err, want, kinds[k]);
        /* the eval split names test.* */
        cr_expect_null(load(kinds[k], dir, QN_SPLIT_EVAL, v, 10, 1, 2, err));
        snprintf(want, sizeof want, "test.%s: cannot read: No such file or directory", kinds[k]);
        expect_message(dir, err, want, kinds[k]);
        /* a directory where the file should be */
        char sub[128];
        snprintf(sub, sizeof sub, "%s/train.%s", dir, kinds[k]);
        cr_assert_eq(mkdir(sub, 0755), 0);
        cr_expect_null(load(kinds[k], dir, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
        snprintf(want, sizeof want, "train.%s: cannot read: Is a directory", kinds[k]);
        expect_message(dir, err, want, kinds[k]);
    }
    /* data.path itself missing */
    char nowhere[96];
    snprintf(nowhere, sizeof nowhere, "%s/nowhere", dir);
    cr_expect_null(load("csv", nowhere, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
    expect_message(dir, err, "nowhere/train.csv: cannot read: No such file or directory", "no data.path");
    /* imdb: the split's folders must be there */
    cr_expect_null(load("imdb", nowhere, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
    expect_message(dir, err, "nowhere/train/neg: cannot read (No such file or directory): data.path must be an aclImdb directory", "imdb");
    put(dir, "train/neg/0_1.txt", "bad");
    cr_expect_null(load("imdb", dir, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
    expect_message(dir, err, "train/pos: cannot read (No such file or directory): data.path must be an aclImdb directory", "imdb pos");
    cr_expect_null(load("imdb", dir, QN_SPLIT_EVAL, v, 10, 1, 2, err));
    expect_message(dir, err, "test/neg: cannot read (No such file or directory): data.path must be an aclImdb directory", "imdb test");
    /* folders without reviews */
    char sub[128];
    snprintf(sub, sizeof sub, "%s/train/pos", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    qn_dataset *one = load("imdb", dir, QN_SPLIT_TRAIN, v, 10, 1, 2, err);
    cr_expect(one && one->n == 1, "one review is enough: %s", err);
    qn_dataset_free(one);
    snprintf(sub, sizeof sub, "%s/train/neg/0_1.txt", dir);
    cr_assert_eq(unlink(sub), 0);
    cr_expect_null(load("imdb", dir, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
    expect_message(dir, err, "train: no examples", "imdb empty");
    /* a one-label model cannot take imdb's two labels */
    put(dir, "train/pos/0_9.txt", "good");
    cr_expect_null(load("imdb", dir, QN_SPLIT_TRAIN, v, 10, 1, 1, err));
    expect_message(dir, err, "train: imdb has labels 0 (neg) and 1 (pos), but the model has 1 label", "imdb labels");
    /* a review that cannot be read */
    snprintf(sub, sizeof sub, "%s/train/pos/1_7.txt", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_expect_null(load("imdb", dir, QN_SPLIT_TRAIN, v, 10, 1, 2, err));
    expect_message(dir, err, "train/pos/1_7.txt: cannot read: Is a directory", "imdb review");
    qn_vocab_free(v);
    rmtree(dir);
}

/* ---------------------------------------------------------------- fuzzing */

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* One to four mutations of buf (len bytes, cap room): a byte from an alphabet of the formats'
 * special characters or any byte, a deleted or duplicated span, an inserted byte, a truncation. */
static size_t mutate(char *buf, size_t len, size_t cap, uint64_t *s) {
    static const char special[] = "\",\t\n\r\"{}[]:\\ 0123456789-+.e\"ntul\xc3\xa9\xff";
    int edits = 1 + (int)(xs(s) % 4);
    for (int e = 0; e < edits && len > 0; e++) {
        uint64_t r = xs(s);
        size_t pos = (size_t)(r >> 16) % len;
        switch (r % 6) {
        case 0: buf[pos] = special[(r >> 8) % (sizeof special - 1)]; break;
        case 1: buf[pos] = (char)(r >> 40); break;
        case 2: { /* delete a span */
            size_t n = 1 + (size_t)(r >> 8) % 12;
            if (pos + n > len) n = len - pos;
            memmove(buf + pos, buf + pos + n, len - pos - n);
            len -= n;
            break;
        }
        case 3: { /* duplicate a span */
            size_t n = 1 + (size_t)(r >> 8) % 24;
            if (pos + n > len) n = len - pos;
            if (len + n <= cap) {
                memmove(buf + pos + n, buf + pos, len - pos);
                len += n;
            }
            break;
        }
        case 4: /* insert a special character */
            if (len < cap) {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = special[(r >> 8) % (sizeof special - 1)];
                len++;
            }
            break;
        default: len = pos; break;
        }
    }
    return len;
}

static int count_lines(const char *buf, size_t len) {
    int n = 1;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
    return n;
}

static void fuzz(const char *kind, const char *base, int iterations, uint64_t seed) {
    char dir[64], file[32], prefix[100];
    tmpdir(dir, sizeof dir);
    snprintf(file, sizeof file, "train.%s", kind);
    snprintf(prefix, sizeof prefix, "%s/%s", dir, file);
    qn_vocab *v = vocab();
    size_t blen = strlen(base), cap = 4 * blen + 64;
    char *buf = malloc(cap);
    uint64_t s = seed;
    int loaded = 0;
    for (int it = 0; it < iterations; it++) {
        memcpy(buf, base, blen);
        size_t len = mutate(buf, blen, cap, &s);
        put_n(dir, file, buf, len);
        char err[ERRLEN];
        int num_labels = 2 + it % 3;
        qn_dataset *d = load(kind, dir, QN_SPLIT_TRAIN, v, 1 + it % 40, (uint64_t)it, num_labels, err);
        if (d) {
            loaded++;
            cr_assert(d->n >= 1 && d->n <= 40, "iteration %d: %d examples", it, d->n);
            for (int i = 0; i < d->n; i++) {
                cr_assert_not_null(d->texts[i]);
                cr_assert(d->lengths[i] >= 2 && d->lengths[i] <= MAX_LEN, "iteration %d: length %d", it, d->lengths[i]);
                cr_assert(d->labels[i] >= 0 && d->labels[i] < num_labels, "iteration %d: label %d", it, d->labels[i]);
                for (int k = 0; k < MAX_LEN; k++) {
                    int32_t id = d->ids[(size_t)i * MAX_LEN + k];
                    cr_assert(id >= 0 && id < NTOK, "iteration %d: id %d", it, id);
                }
                cr_assert_eq(d->ids[(size_t)i * MAX_LEN], T_CLS);
                cr_assert_eq(d->ids[(size_t)i * MAX_LEN + d->lengths[i] - 1], T_SEP);
            }
            qn_dataset_free(d);
            continue;
        }
        size_t pl = strlen(prefix);
        cr_assert(err[0] && strncmp(err, prefix, pl) == 0 && err[pl] == ':', "iteration %d: '%s' does not start with %s:", it,
                  err, prefix);
        cr_assert(!strchr(err, '\n') && !strchr(err, '\r'), "iteration %d: not one line: '%s'", it, err);
        cr_assert(strlen(err) > pl + 2, "iteration %d: no message: '%s'", it, err);
        if (err[pl + 1] >= '0' && err[pl + 1] <= '9') { /* FILE:LINE: the line is in the file */
            int line = atoi(err + pl + 1);
            cr_assert(line >= 1 && line <= count_lines(buf, len), "iteration %d: line %d of a %d-line file: %s", it, line,
                      count_lines(buf, len), err);
        }
    }
    cr_log_info("%s: %d of %d mutated files loaded", kind, loaded, iterations);
    cr_expect_gt(loaded, iterations / 50, "%s: only %d of %d mutated files loaded", kind, loaded, iterations);
    free(buf);
    qn_vocab_free(v);
    rmtree(dir);
}

Test(dataset_files_fuzz, csv, .timeout = 120) {
    fuzz("csv",
         "id,text,label,note\r\n"
         "1,good movie,1,\r\n"
         "2,\"bad, \"\"bad\"\" film\",0,x\r\n"
         "\r\n"
         "3,\"the plot\r\nwas dull\",2,\"y\"\r\n"
         "4,caf\xc3\xa9 fine,0,\r\n"
         "5,\"not good\",1,z\r\n",
         5000, 0x5eed1);
}

Test(dataset_files_fuzz, tsv, .timeout = 120) {
    fuzz("tsv",
         "label\ttext\tnote\n"
         "1\tgood movie\t\n"
         "0\t\"bad\" film, dull\tx\n"
         "\n"
         "2\tthe plot was fine\ty\r\n"
         "0\tcaf\xc3\xa9\t\n",
         5000, 0x5eed2);
}

Test(dataset_files_fuzz, jsonl, .timeout = 120) {
    fuzz("jsonl",
         "{\"text\": \"good movie\", \"label\": 1}\n"
         "{\"label\": 0, \"text\": \"bad \\\"film\\\"\\n\\u00e9\", \"id\": [1, {\"a\": null}]}\n"
         "\n"
         "{\"text\": \"the plot\", \"label\": 2}\r\n"
         "{\"text\": \"not good\", \"label\": 0, \"x\": true}\n",
         5000, 0x5eed3);
}
