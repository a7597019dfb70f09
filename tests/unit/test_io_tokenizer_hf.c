/* test_io_tokenizer_hf.c: quench's tokenizer against the Hugging Face `tokenizers` library itself.
 * tests/tokenizers/NAME.json are small BPEs the library trained, in the styles of GPT-2/Phi-2, Llama 3,
 * Phi-3/Llama 2 and Metaspace; NAME.cases hold the ids and decoded text the library gave for 100
 * texts (multilingual, emoji, whitespace runs, code, added tokens in text), written by
 * tests/tokenizers/make_fixtures.py where the library is installed. Every id and every decoded byte
 * must be the same. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_tokenizer.h"

#define MAX_FIELD 8192

/* Hex text into bytes; returns the length. */
static size_t unhex(const char *hex, char *out) {
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned b;
        cr_assert_eq(sscanf(hex, "%2x", &b), 1, "bad hex in a .cases file");
        out[n++] = (char)b;
    }
    out[n] = 0;
    return n;
}

/* Comma-separated ids into ids; returns how many. */
static size_t parse_ids(const char *s, int32_t *ids) {
    size_t n = 0;
    while (*s) {
        char *end;
        ids[n++] = (int32_t)strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void expect_same_ids(const char *name, const char *text, size_t len, const qn_tokenizer *t, int special,
                            const int32_t *want, size_t n_want, int32_t **got, size_t *n_got) {
    cr_assert_eq(qn_tokenizer_encode(t, text, len, special, got, n_got), 0);
    size_t same = 0; /* ids equal before the first difference */
    while (same < *n_got && same < n_want && (*got)[same] == want[same]) same++;
    cr_expect(same == n_want && same == *n_got, "%s: '%s' (special %d): %zu ids, the library %zu, first difference at %zu",
              name, text, special, *n_got, n_want, same);
}

static void expect_decoded(const char *name, const qn_tokenizer *t, const int32_t *ids, size_t n, int skip,
                           const char *want, size_t want_len) {
    char *text, err[256];
    size_t len;
    cr_assert_eq(qn_tokenizer_decode(t, ids, n, skip, &text, &len, err, sizeof err), 0, "%s", err);
    cr_expect(len == want_len && memcmp(text, want, len) == 0, "%s: decoded '%s', the library '%s'", name, text, want);
    free(text);
}

static void check(const char *name) {
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/tokenizers/%s.json", QN_TEST_DATA, name);
    qn_tokenizer *t = NULL;
    cr_assert_eq(qn_tokenizer_load(path, &t, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/tokenizers/%s.cases", QN_TEST_DATA, name);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    char *line = NULL, *text = malloc(MAX_FIELD), *want = malloc(MAX_FIELD);
    int32_t *ids = malloc(MAX_FIELD * sizeof *ids), *ids_special = malloc(MAX_FIELD * sizeof *ids);
    size_t cap = 0;
    int cases = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = 0;
        char *field[5];
        char *rest = line;
        for (int k = 0; k < 5; k++) field[k] = strsep(&rest, "\t");
        cr_assert(field[4], "%s: a line without 5 fields", path);
        size_t len = unhex(field[0], text);
        size_t n = parse_ids(field[1], ids), n_special = parse_ids(field[2], ids_special);
        int32_t *got, *got_special;
        size_t n_got, n_got_special;
        expect_same_ids(name, text, len, t, 0, ids, n, &got, &n_got);
        expect_same_ids(name, text, len, t, 1, ids_special, n_special, &got_special, &n_got_special);
        size_t want_len = unhex(field[3], want);
        expect_decoded(name, t, ids, n, 0, want, want_len);
        want_len = unhex(field[4], want);
        expect_decoded(name, t, ids_special, n_special, 1, want, want_len);
        free(got), free(got_special);
        cases++;
    }
    cr_expect_geq(cases, 100, "%s: only %d cases", path, cases);
    fclose(f);
    free(line), free(text), free(want), free(ids), free(ids_special);
    qn_tokenizer_free(t);
}

Test(tokenizer_hf, gpt2_byte_level) { check("gpt2"); }
Test(tokenizer_hf, llama3_split_ignore_merges) { check("llama3"); }
Test(tokenizer_hf, phi3_sentencepiece_style) { check("phi3"); }
Test(tokenizer_hf, metaspace) { check("metaspace"); }
