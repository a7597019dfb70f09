/* test_io_tokenizer.c: tokenizer.json BPE tokenizers (io/tokenizer*.c): known encodings worked out
 * by hand from the fixtures' merges, decoding, round trips on random bytes, and the errors for
 * malformed or unsupported files. (No `tokenizers` Python package on the build machines to compare
 * with: the expected ids below follow the library's documented rules step by step.) */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_tokenizer.h"
#include "tokenizer_fixtures.h"

static qn_tokenizer *load(json_t *root) {
    char *text = fixture_text(root), err[512] = "";
    qn_tokenizer *t = NULL;
    int rc = qn_tokenizer_from_json(text, strlen(text), "fixture.json", &t, err, sizeof err);
    free(text);
    cr_assert_eq(rc, 0, "load: %s", err);
    return t;
}

static void expect_ids(const qn_tokenizer *t, const char *text, int add_special, const int32_t *want, size_t n_want) {
    int32_t *ids;
    size_t n;
    cr_assert_eq(qn_tokenizer_encode(t, text, strlen(text), add_special, &ids, &n), 0);
    char got[512] = "";
    for (size_t i = 0; i < n; i++) snprintf(got + strlen(got), sizeof got - strlen(got), " %d", (int)ids[i]);
    cr_expect_eq(n, n_want, "'%s': %zu ids (%s), want %zu", text, n, got, n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        cr_expect_eq(ids[i], want[i], "'%s': id %zu is %d, want %d (got%s)", text, i, (int)ids[i], (int)want[i], got);
    free(ids);
}

#define EXPECT_IDS(t, text, special, ...)                                                     \
    do {                                                                                      \
        static const int32_t want_[] = {__VA_ARGS__};                                         \
        expect_ids(t, text, special, want_, sizeof want_ / sizeof want_[0]);                  \
    } while (0)

static void expect_decode(const qn_tokenizer *t, const int32_t *ids, size_t n, int skip, const char *want) {
    char *text, err[256];
    size_t len;
    cr_assert_eq(qn_tokenizer_decode(t, ids, n, skip, &text, &len, err, sizeof err), 0, "%s", err);
    cr_expect_eq(len, strlen(want), "decoded '%s', want '%s'", text, want);
    cr_expect_str_eq(text, want);
    free(text);
}

/* GPT-2 / Phi-2 (fixture_gpt2: 256 "Ġt", 257 "he", 258 "Ġthe", 259 "ll", 260 "llo", 261 "1Ġ",
 * merges by rank: Ġ t, h e, Ġt he, l l, ll o, 1 Ġ). */
Test(tokenizer, gpt2_known_encodings) {
    qn_tokenizer *t = load(fixture_gpt2());
    /* "hello the": regex pieces "hello", " the". hello: h e (rank 1) -> he l l o; l l (3) -> he ll o;
     * ll o (4) -> he llo = 257 260. " the" is Ġthe: Ġ t (0) -> Ġt h e; h e (1) -> Ġt he; Ġt he (2) -> 258. */
    EXPECT_IDS(t, "hello the", 1, 257, 260, 258);
    /* The added token is split off before the regex; H i ! have no merges: their bytes. */
    EXPECT_IDS(t, "Hi!<|endoftext|>", 1, 72, 105, 33, 262);
    /* "1 2": the regex cuts "1" | " 2", so the merge "1 Ġ" (would give 261 50) must not apply. */
    EXPECT_IDS(t, "1 2", 1, 49, 32, 50);
    /* "é" is bytes C3 A9: two byte tokens, ids 195 169. A newline is byte 10. */
    EXPECT_IDS(t, "é\n", 1, 195, 169, 10);
    /* "  the": "\s+(?!\S)" takes the first space alone, then " the" (Ġthe). */
    EXPECT_IDS(t, "  the", 1, 32, 258);
    static const int32_t hello[] = {257, 260, 258}, hi[] = {72, 105, 33, 262};
    expect_decode(t, hello, 3, 0, "hello the");
    expect_decode(t, hi, 4, 0, "Hi!<|endoftext|>");
    expect_decode(t, hi, 4, 1, "Hi!");
    cr_expect_eq(qn_tokenizer_vocab_size(t), 263);
    cr_expect_eq(qn_tokenizer_token_id(t, "Ġthe"), 258);
    cr_expect_eq(qn_tokenizer_token_id(t, "<|endoftext|>"), 262);
    cr_expect_eq(qn_tokenizer_token_id(t, "absent"), -1);
    cr_expect_str_eq(qn_tokenizer_id_token(t, 260), "llo");
    cr_expect_null(qn_tokenizer_id_token(t, 263));
    cr_expect(qn_tokenizer_is_special(t, 262));
    cr_expect(!qn_tokenizer_is_special(t, 258));
    qn_tokenizer_free(t);
}

/* Llama 3 (fixture_llama3: 256 "12", 257 "123", 258 "34", 259 "45", 260 "abc" (no merge builds it),
 * 261 <|begin_of_text|>, 262 <|eot_id|>; merges by rank: 3 4, 1 2, 12 3, 4 5; ignore_merges). */
Test(tokenizer, llama3_known_encodings) {
    qn_tokenizer *t = load(fixture_llama3());
    /* \p{N}{1,3} cuts "123" | "45", both whole in the vocab (ignore_merges): BOS 123 45. Without the
     * cut, 3 4 (rank 0) would merge first: 12 34 5. */
    EXPECT_IDS(t, "12345", 1, 261, 257, 259);
    /* "312" is not in the vocab: 3 1 2 -> 1 2 (rank 1) -> 3 12 = 51 256; then "34" whole = 258. */
    EXPECT_IDS(t, "31234", 0, 51, 256, 258);
    /* ignore_merges: "abc" is a vocab token though no merge makes it. */
    EXPECT_IDS(t, "abc", 0, 260);
    /* " abc" stays one piece (Ġabc, not in the vocab, no merges): its four bytes. */
    EXPECT_IDS(t, "x abc", 0, 120, 32, 97, 98, 99);
    /* special tokens in the text are matched with or without BOS */
    EXPECT_IDS(t, "<|eot_id|>abc", 1, 261, 262, 260);
    /* (?i:'s|...) takes "'S" apart from the letters before it: "IT" | "'S" */
    EXPECT_IDS(t, "IT'S", 0, 73, 84, 39, 83);
    static const int32_t ids[] = {261, 257, 259, 32, 260};
    expect_decode(t, ids, 5, 0, "<|begin_of_text|>12345 abc");
    expect_decode(t, ids, 5, 1, "12345 abc");
    qn_tokenizer_free(t);
}

/* Phi-3 (fixture_phi3: 0 <unk>, 1 <s>, 2 </s>, 3 + b for <0xb>, 259 "▁", 260 "a", 261 "b", 262 "▁a",
 * 263 "ab", 264 "▁ab", 265 "c", 266 <|end|> (rstrip); merges by rank: ▁ a, a b, ▁a b). */
Test(tokenizer, phi3_known_encodings) {
    qn_tokenizer *t = load(fixture_phi3());
    /* normalized "▁ab▁ab", one word: ▁ a (rank 0) at both places, a b candidates go stale,
     * ▁a b (rank 2) twice: BOS ▁ab ▁ab. */
    EXPECT_IDS(t, "ab ab", 1, 1, 264, 264);
    /* "é" is not in the vocab: byte fallback to <0xC3> <0xA9> = 3 + 0xC3, 3 + 0xA9. */
    EXPECT_IDS(t, "é", 0, 259, 198, 172);
    /* <|end|> splits the text; rstrip takes the spaces after it; each side gets its own "▁". */
    EXPECT_IDS(t, "a<|end|>  b", 1, 1, 262, 266, 259, 261);
    static const int32_t abab[] = {1, 264, 264}, e_acute[] = {259, 198, 172};
    /* the decoder: ▁ -> " ", bytes, fuse, strip one leading space */
    expect_decode(t, abab, 3, 0, "<s> ab ab");
    expect_decode(t, abab, 3, 1, "ab ab");
    expect_decode(t, e_acute, 3, 0, "é");
    qn_tokenizer_free(t);
}

Test(tokenizer, phi3_unknown_without_byte_fallback) {
    json_t *root = fixture_phi3();
    json_t *model = json_object_get(root, "model");
    json_object_set_new(model, "byte_fallback", json_false());
    qn_tokenizer *t = load(json_incref(root));
    /* "▁éé": ▁ then two unknown characters fused into one <unk> */
    EXPECT_IDS(t, "éé", 1, 1, 259, 0);
    qn_tokenizer_free(t);
    json_object_set_new(model, "fuse_unk", json_false());
    t = load(root);
    EXPECT_IDS(t, "éé", 1, 1, 259, 0, 0);
    qn_tokenizer_free(t);
}

/* Random text: bytes from an alphabet of ASCII, multi-byte characters and bytes that are never
 * valid UTF-8 alone, so invalid sequences are common. */
static size_t random_text(unsigned *seed, char *buf, size_t max, int valid_only) {
    static const char *const alphabet[] = {"a", "b", " ", "  ", "\n", "1", "23", "'s", "!", "é", "日本", "😀",
                                           "\t", "ab", "\xC3", "\xA9", "\xFF", "\x80", "\xE6\x97"};
    size_t n = 0, want = (size_t)(rand_r(seed) % 40);
    int letters = valid_only ? 14 : 19;
    for (size_t k = 0; k < want; k++) {
        const char *piece = alphabet[rand_r(seed) % letters];
        size_t len = strlen(piece);
        if (n + len >= max) break;
        memcpy(buf + n, piece, len), n += len;
    }
    buf[n] = 0;
    return n;
}

static void round_trips(qn_tokenizer *t, int valid_only) {
    unsigned seed = 12345;
    char text[256];
    for (int trial = 0; trial < 2000; trial++) {
        size_t len = random_text(&seed, text, sizeof text, valid_only);
        int32_t *ids;
        size_t n;
        cr_assert_eq(qn_tokenizer_encode(t, text, len, trial % 2, &ids, &n), 0);
        char *back, err[256];
        size_t back_len;
        cr_assert_eq(qn_tokenizer_decode(t, ids, n, 1, &back, &back_len, err, sizeof err), 0, "%s", err);
        cr_assert(back_len == len && memcmp(back, text, len) == 0, "trial %d: '%s' came back as '%s'", trial,
                  text, back);
        free(ids), free(back);
    }
}

Test(tokenizer, round_trips_on_random_bytes) {
    qn_tokenizer *t = load(fixture_gpt2());
    round_trips(t, 0);
    qn_tokenizer_free(t);
    t = load(fixture_llama3());
    round_trips(t, 0);
    qn_tokenizer_free(t);
    t = load(fixture_phi3()); /* byte fallback brings invalid bytes back too */
    round_trips(t, 0);
    qn_tokenizer_free(t);
}

Test(tokenizer, long_word_without_pretokenizer) {
    /* Phi-3 style text is one word: 200k characters must merge in n log n, not n^2 (seconds) */
    qn_tokenizer *t = load(fixture_phi3());
    size_t len = 200000;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++) text[i] = "ab c"[i % 4];
    text[len] = 0;
    int32_t *ids;
    size_t n;
    cr_assert_eq(qn_tokenizer_encode(t, text, len, 0, &ids, &n), 0);
    /* "▁ab▁c▁ab▁c...": ▁ab (264), ▁ (259), c (265) per 4 characters */
    cr_assert_eq(n, 3 * len / 4);
    cr_expect(ids[0] == 264 && ids[1] == 259 && ids[2] == 265 && ids[n - 1] == 265);
    free(ids), free(text);
    qn_tokenizer_free(t);
}

/* ---- errors ---- */

static void expect_error(json_t *root, const char *want) {
    char *text = fixture_text(root), err[512] = "";
    qn_tokenizer *t = NULL;
    int rc = qn_tokenizer_from_json(text, strlen(text), "bad.json", &t, err, sizeof err);
    free(text);
    cr_expect_eq(rc, 2, "want an error containing '%s', got rc %d", want, rc);
    cr_expect_null(t);
    cr_expect(strncmp(err, "bad.json: ", 10) == 0 && strstr(err, want) && !strchr(err, '\n'),
              "error '%s' should name the file and say '%s'", err, want);
    qn_tokenizer_free(t);
}

static json_t *with(json_t *root, const char *path_a, const char *path_b, json_t *value) {
    json_t *obj = path_b ? json_object_get(root, path_a) : root;
    json_object_set_new(obj, path_b ? path_b : path_a, value);
    return root;
}

Test(tokenizer, unsupported_components_are_named) {
    expect_error(with(fixture_gpt2(), "model", "type", json_string("WordPiece")), "unsupported model 'WordPiece'");
    expect_error(with(fixture_gpt2(), "pre_tokenizer", NULL, json_pack("{s:s}", "type", "Whitespace")),
                 "unsupported pre_tokenizer 'Whitespace'");
    expect_error(with(fixture_gpt2(), "normalizer", NULL, json_pack("{s:s}", "type", "Lowercase")),
                 "unsupported normalizer 'Lowercase'");
    expect_error(with(fixture_gpt2(), "decoder", NULL, json_pack("{s:s}", "type", "WordPiece")),
                 "unsupported decoder 'WordPiece'");
    expect_error(with(fixture_gpt2(), "post_processor", NULL, json_pack("{s:s}", "type", "BertProcessing")),
                 "unsupported post_processor 'BertProcessing'");
    expect_error(with(fixture_gpt2(), "model", "continuing_subword_prefix", json_string("##")),
                 "unsupported model.continuing_subword_prefix");
    expect_error(with(fixture_gpt2(), "model", "dropout", json_real(0.1)), "dropout");
    json_t *root = fixture_llama3();
    json_t *split = json_array_get(json_object_get(json_object_get(root, "pre_tokenizer"), "pretokenizers"), 0);
    json_object_set_new(split, "behavior", json_string("Contiguous"));
    expect_error(root, "unsupported pre_tokenizer Split behavior 'Contiguous'");
    root = fixture_gpt2();
    json_array_append_new(json_object_get(root, "added_tokens"),
                          json_pack("{s:i, s:s, s:b}", "id", 3, "content", "x", "single_word", 1));
    expect_error(root, "single_word");
}

Test(tokenizer, malformed_files_say_what_is_wrong) {
    expect_error(with(fixture_gpt2(), "model", "merges", json_pack("[s]", "zz q")), "model.merges[0]: 'zz' is not in the vocab");
    expect_error(with(fixture_gpt2(), "model", "merges", json_pack("[s]", "a b c")), "model.merges[0]");
    expect_error(with(fixture_gpt2(), "model", "merges", json_pack("[i]", 4)), "model.merges[0] is neither");
    expect_error(with(fixture_gpt2(), "model", "vocab", json_pack("[]")), "model.vocab is not an object");
    expect_error(with(fixture_gpt2(), "model", "unk_token", json_string("<unk>")), "unk_token '<unk>' is not in the vocab");
    json_t *root = fixture_llama3();
    json_t *split = json_array_get(json_object_get(json_object_get(root, "pre_tokenizer"), "pretokenizers"), 0);
    json_object_set_new(split, "pattern", json_pack("{s:s}", "Regex", "(unclosed"));
    expect_error(root, "bad regex");
    root = fixture_gpt2();
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "dup", json_integer(5));
    expect_error(root, "id 5 is both");
    root = fixture_gpt2();
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "far", json_integer(100000000));
    expect_error(root, "sparse");
    root = fixture_gpt2();
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "neg", json_integer(-1));
    expect_error(root, "vocab token 'neg' has no valid id");
    root = fixture_llama3();
    json_t *template = json_array_get(json_object_get(json_object_get(root, "post_processor"), "processors"), 1);
    json_object_set_new(json_object_get(template, "special_tokens"), "<|begin_of_text|>",
                        json_pack("{s:s, s:[i], s:[s]}", "id", "<|begin_of_text|>", "ids", 999, "tokens", "x"));
    expect_error(root, "post_processor adds id 999");
    expect_error(with(fixture_gpt2(), "pre_tokenizer", "use_regex", json_string("yes")), "use_regex is not a boolean");

    char err[256];
    qn_tokenizer *t;
    cr_expect_eq(qn_tokenizer_from_json("{\"model\": ", 10, "cut.json", &t, err, sizeof err), 2);
    cr_expect(strncmp(err, "cut.json: line 1", 16) == 0, "%s", err);
    cr_expect_eq(qn_tokenizer_from_json("[]", 2, "list.json", &t, err, sizeof err), 2);
    cr_expect_str_eq(err, "list.json: not a JSON object");
    cr_expect_eq(qn_tokenizer_load("/nonexistent/tokenizer.json", &t, err, sizeof err), 2);
    cr_expect(strstr(err, "/nonexistent/tokenizer.json: ") == err, "%s", err);

    static const int32_t bad[] = {5, 263};
    t = load(fixture_gpt2());
    char *text;
    size_t len;
    cr_expect_eq(qn_tokenizer_decode(t, bad, 2, 0, &text, &len, err, sizeof err), 2);
    cr_expect(strstr(err, "token id 263"), "%s", err);
    qn_tokenizer_free(t);
}

Test(tokenizer, loads_from_a_file) {
    char path[] = "/tmp/qn_tokenizer_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    char *text = fixture_text(fixture_phi3());
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(text);
    qn_tokenizer *t;
    char err[256];
    cr_assert_eq(qn_tokenizer_load(path, &t, err, sizeof err), 0, "%s", err);
    unlink(path);
    EXPECT_IDS(t, "ab ab", 1, 1, 264, 264);
    qn_tokenizer_free(t);
}

/* Split's behaviors on "a-b--c" with String "-", then bytes; merges by rank a -, - b, - -, - c
 * (263 "a-", 264 "-b", 265 "--", 266 "-c") show where the pieces were cut. */
static qn_tokenizer *split_tokenizer(const char *behavior) {
    json_t *root = fixture_gpt2();
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    static const char *const extra[] = {"a-", "-b", "--", "-c"};
    for (int i = 0; i < 4; i++) json_object_set_new(vocab, extra[i], json_integer(263 + i));
    json_object_set_new(model, "merges", json_pack("[ssss]", "a -", "- b", "- -", "- c"));
    json_object_set_new(root, "pre_tokenizer",
                        json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, o]}", "type", "Sequence", "pretokenizers", "type",
                                  "Split", "pattern", "String", "-", "behavior", behavior, fixture_pre_bytelevel(0)));
    return load(root);
}

Test(tokenizer, split_behaviors) {
    /* Isolated: a | - | b | - | - | c, no merge possible */
    qn_tokenizer *t = split_tokenizer("Isolated");
    EXPECT_IDS(t, "a-b--c", 0, 97, 45, 98, 45, 45, 99);
    qn_tokenizer_free(t);
    t = split_tokenizer("Removed"); /* a | b | c */
    EXPECT_IDS(t, "a-b--c", 0, 97, 98, 99);
    qn_tokenizer_free(t);
    /* a- | b- | - | c: a match joins the piece before it unless that one was a match too */
    t = split_tokenizer("MergedWithPrevious");
    EXPECT_IDS(t, "a-b--c", 0, 263, 98, 45, 45, 99);
    qn_tokenizer_free(t);
    /* a | -b | - | -c */
    t = split_tokenizer("MergedWithNext");
    EXPECT_IDS(t, "a-b--c", 0, 97, 264, 45, 266);
    qn_tokenizer_free(t);
}

Test(tokenizer, bytelevel_add_prefix_space) {
    json_t *root = fixture_gpt2();
    json_object_set_new(json_object_get(root, "pre_tokenizer"), "add_prefix_space", json_true());
    qn_tokenizer *t = load(root);
    /* "the" becomes " the" = Ġthe; after the added token the next piece gets its own space */
    EXPECT_IDS(t, "the<|endoftext|>the", 0, 258, 262, 258);
    qn_tokenizer_free(t);
}

/* Llama 2 as newer files write it: no normalizer, pre_tokenizer Metaspace, decoder Metaspace. */
static qn_tokenizer *metaspace_tokenizer(const char *scheme, int split) {
    json_t *root = fixture_phi3();
    json_object_set_new(root, "normalizer", json_null());
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement",
                                                         "▁", "prepend_scheme", scheme, "split", split));
    json_object_set_new(root, "decoder", json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement", "▁",
                                                   "prepend_scheme", scheme, "split", split));
    return load(root);
}

Test(tokenizer, metaspace) {
    qn_tokenizer *t = metaspace_tokenizer("first", 1);
    /* "▁ab▁ab" cut before each ▁: ▁ab | ▁ab */
    EXPECT_IDS(t, "ab ab", 0, 264, 264);
    /* "first": only the piece at the start of the text gets the ▁; after <|end|> (rstrip) "ab" = 263 */
    EXPECT_IDS(t, "ab<|end|> ab", 0, 264, 266, 263);
    static const int32_t abab[] = {264, 264};
    /* the decoder drops the first token's ▁ and turns the others into spaces */
    expect_decode(t, abab, 2, 0, "ab ab");
    qn_tokenizer_free(t);
    t = metaspace_tokenizer("always", 1);
    EXPECT_IDS(t, "ab<|end|> ab", 0, 264, 266, 264);
    qn_tokenizer_free(t);
    /* without split "a b" is one word "▁a▁b": ▁ a merges (rank 0), nothing more: ▁a ▁ b */
    t = metaspace_tokenizer("never", 0);
    EXPECT_IDS(t, "a b", 0, 260, 259, 261);
    qn_tokenizer_free(t);
    t = metaspace_tokenizer("always", 0);
    EXPECT_IDS(t, "a b", 0, 262, 259, 261);
    qn_tokenizer_free(t);
}
