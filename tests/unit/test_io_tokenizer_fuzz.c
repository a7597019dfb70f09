/* test_io_tokenizer_fuzz.c: mutated tokenizer.json files (byte flips, cuts, insertions, and values
 * replaced by values of other types) load or fail with a one-line error naming the file, never
 * crash; those that load encode and decode without crashing. Run under the sanitizers in CI. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_tokenizer.h"
#include "tokenizer_fixtures.h"

static int loaded, refused;

static void try_text(const char *text, size_t len) {
    char err[512] = "";
    qn_tokenizer *t = NULL;
    int rc = qn_tokenizer_from_json(text, len, "fuzz.json", &t, err, sizeof err);
    if (rc) {
        cr_assert_eq(rc, 2, "rc %d: %s", rc, err);
        cr_assert(t == NULL);
        cr_assert(strncmp(err, "fuzz.json: ", 11) == 0 && !strchr(err, '\n'), "error '%s'", err);
        refused++;
        return;
    }
    loaded++;
    static const char sample[] = "ab ab, hello the 12345 IT'S <|eot_id|>\xC3\xA9\xFF<s>";
    int32_t *ids;
    size_t n;
    cr_assert_eq(qn_tokenizer_encode(t, sample, sizeof sample - 1, 1, &ids, &n), 0);
    char *back;
    size_t back_len;
    int drc = qn_tokenizer_decode(t, ids, n, 0, &back, &back_len, err, sizeof err);
    cr_assert_eq(drc, 0, "ids from encode must decode: %s", err);
    free(back), free(ids);
    qn_tokenizer_free(t);
}

static void byte_mutations(const char *orig, unsigned seed, int rounds) {
    size_t len = strlen(orig);
    char *buf = malloc(len + 64);
    static const char inserts[] = "{}[]\",:0-9e.tn\\u \xC3\xFF";
    for (int r = 0; r < rounds; r++) {
        memcpy(buf, orig, len);
        size_t n = len;
        int edits = 1 + rand_r(&seed) % 4;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % n;
            switch (rand_r(&seed) % 4) {
            case 0: buf[at] = (char)(rand_r(&seed) & 0xFF); break;            /* flip */
            case 1: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;   /* delete */
            case 2:                                                            /* insert */
                if (n + 1 < len + 64) {
                    memmove(buf + at + 1, buf + at, n - at), n++;
                    buf[at] = inserts[rand_r(&seed) % (sizeof inserts - 1)];
                }
                break;
            default: n = at + 1; break;                                        /* cut */
            }
        }
        try_text(buf, n);
    }
    free(buf);
}

/* Every value in the tree, one at a time, replaced by a value of another type or a hostile one. */
static void value_mutations(json_t *root, json_t *node) {
    static int count;
    json_t *replacements[] = {json_null(), json_integer(-1), json_integer(1 << 30), json_string(""),
                              json_string("(?<"), json_array(), json_object(), json_true(), json_real(0.5)};
    const int n_repl = (int)(sizeof replacements / sizeof replacements[0]);
    if (json_is_object(node)) {
        const char *key;
        json_t *value;
        void *tmp;
        json_object_foreach_safe(node, tmp, key, value) {
            /* the 256-entry vocab: sample a few entries, the rest behave alike */
            if (json_object_size(node) > 100 && (count++ % 37) != 0) continue;
            json_incref(value);
            for (int k = 0; k < n_repl; k++) {
                json_object_set(node, key, replacements[k]);
                char *text = json_dumps(root, JSON_COMPACT);
                try_text(text, strlen(text));
                free(text);
            }
            json_object_set(node, key, value);
            value_mutations(root, value);
            json_decref(value);
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            json_t *value = json_incref(json_array_get(node, i));
            for (int k = 0; k < n_repl; k++) {
                json_array_set(node, i, replacements[k]);
                char *text = json_dumps(root, JSON_COMPACT);
                try_text(text, strlen(text));
                free(text);
            }
            json_array_set(node, i, value);
            value_mutations(root, value);
            json_decref(value);
        }
    }
    for (int k = 0; k < n_repl; k++) json_decref(replacements[k]);
}

static json_t *(*const fixtures[])(void) = {fixture_gpt2, fixture_llama3, fixture_phi3};

Test(tokenizer_fuzz, mutated_bytes) {
    for (int f = 0; f < 3; f++) {
        char *text = fixture_text(fixtures[f]());
        try_text(text, strlen(text));
        byte_mutations(text, 7 + (unsigned)f, 400);
        free(text);
    }
    cr_log_info("loaded %d, refused %d", loaded, refused);
    cr_expect(loaded > 3 && refused > 100, "the mutations should both load and fail (%d, %d)", loaded, refused);
}

Test(tokenizer_fuzz, mutated_values) {
    for (int f = 0; f < 3; f++) {
        json_t *root = fixtures[f]();
        value_mutations(root, root);
        json_decref(root);
    }
    cr_expect(loaded > 10 && refused > 100, "the mutations should both load and fail (%d, %d)", loaded, refused);
}
