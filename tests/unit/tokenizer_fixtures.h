/* tokenizer_fixtures.h: tiny tokenizer.json files in the three styles quench supports, built with
 * jansson so the tests state every token and merge (the expected encodings in test_io_tokenizer.c
 * are worked out from exactly these). */
#ifndef QN_TEST_TOKENIZER_FIXTURES_H
#define QN_TEST_TOKENIZER_FIXTURES_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* GPT-2's byte -> character map, written out here independently of io/. */
static void fixture_byte_char(int b, char out[3]) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        cp = 256;
        for (int k = 0; k < b; k++) {
            int p = (k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF);
            if (!p) cp++;
        }
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

static json_t *fixture_added(int id, const char *content, int special, int rstrip) {
    return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content, "single_word", 0,
                     "lstrip", 0, "rstrip", rstrip, "normalized", 0, "special", special);
}

static json_t *fixture_pre_bytelevel(int use_regex) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                     "use_regex", use_regex);
}

/* Byte-level vocab: byte b's character is id b, then the extra tokens from id 256. */
static json_t *fixture_byte_vocab(const char *const *extra, int n_extra) {
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char c[3];
        fixture_byte_char(b, c);
        json_object_set_new(vocab, c, json_integer(b));
    }
    for (int i = 0; i < n_extra; i++) json_object_set_new(vocab, extra[i], json_integer(256 + i));
    return vocab;
}

/* GPT-2 / Phi-2: ByteLevel pre-tokenizer with GPT-2's regex, merges as "a b" strings.
 * ids: bytes 0-255, 256 "Ġt", 257 "he", 258 "Ġthe", 259 "ll", 260 "llo", 261 "1Ġ", 262 "<|endoftext|>" */
static json_t *fixture_gpt2(void) {
    static const char *const extra[] = {"Ġt", "he", "Ġthe", "ll", "llo", "1Ġ"};
    json_t *model = json_pack("{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:o, s:[ssssss]}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "", "end_of_word_suffix", "", "fuse_unk", 0,
                              "byte_fallback", 0, "vocab", fixture_byte_vocab(extra, 6), "merges", "Ġ t", "h e",
                              "Ġt he", "l l", "ll o", "1 Ġ");
    return json_pack("{s:s, s:n, s:n, s:[o], s:n, s:o, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:b}, s:o}",
                     "version", "1.0", "truncation", "padding", "added_tokens",
                     fixture_added(262, "<|endoftext|>", 1, 0), "normalizer", "pre_tokenizer",
                     fixture_pre_bytelevel(1), "post_processor", "type", "ByteLevel", "add_prefix_space", 0,
                     "trim_offsets", 0, "use_regex", 1, "decoder", "type", "ByteLevel", "add_prefix_space", 1,
                     "trim_offsets", 1, "use_regex", 1, "model", model);
}

/* Llama 3: Split(its regex, Isolated) then ByteLevel without regex, ignore_merges, merges as pairs,
 * BOS from a TemplateProcessing inside a Sequence post-processor.
 * ids: bytes 0-255, 256 "12", 257 "123", 258 "34", 259 "45", 260 "abc", 261 "<|begin_of_text|>",
 * 262 "<|eot_id|>" */
static json_t *fixture_llama3(void) {
    static const char *const extra[] = {"12", "123", "34", "45", "abc"};
    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:[[ss][ss][ss][ss]]}", "type", "BPE",
                              "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
                              "byte_fallback", 0, "ignore_merges", 1, "vocab", fixture_byte_vocab(extra, 5), "merges",
                              "3", "4", "1", "2", "12", "3", "4", "5");
    json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}", "type", "Sequence", "pretokenizers", "type",
                            "Split", "pattern", "Regex", llama3_pattern, "behavior", "Isolated", "invert", 0,
                            fixture_pre_bytelevel(0));
    json_t *post = json_pack(
        "{s:s, s:[{s:s, s:b, s:b, s:b}, {s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:[], s:{s:{s:s, s:[i], s:[s]}}}]}",
        "type", "Sequence", "processors", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 0, "use_regex", 1,
        "type", "TemplateProcessing", "single", "SpecialToken", "id", "<|begin_of_text|>", "type_id", 0, "Sequence",
        "id", "A", "type_id", 0, "pair", "special_tokens", "<|begin_of_text|>", "id", "<|begin_of_text|>", "ids", 261,
        "tokens", "<|begin_of_text|>");
    return json_pack("{s:s, s:[o, o], s:n, s:o, s:o, s:{s:s, s:b, s:b, s:b}, s:o}", "version", "1.0", "added_tokens",
                     fixture_added(261, "<|begin_of_text|>", 1, 0), fixture_added(262, "<|eot_id|>", 1, 0),
                     "normalizer", "pre_tokenizer", pre, "post_processor", post, "decoder", "type", "ByteLevel",
                     "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1, "model", model);
}

/* Phi-3 / Llama 2: normalizer Prepend "▁" + Replace " " -> "▁", no pre-tokenizer, byte fallback.
 * ids: 0 <unk>, 1 <s>, 2 </s>, 3-258 <0x00>-<0xFF>, 259 "▁", 260 "a", 261 "b", 262 "▁a", 263 "ab",
 * 264 "▁ab", 265 "c", 266 "<|end|>" (added, special, rstrip) */
static json_t *fixture_phi3(void) {
    json_t *vocab = json_pack("{s:i, s:i, s:i}", "<unk>", 0, "<s>", 1, "</s>", 2);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        json_object_set_new(vocab, name, json_integer(3 + b));
    }
    static const char *const extra[] = {"▁", "a", "b", "▁a", "ab", "▁ab", "c"};
    for (int i = 0; i < 7; i++) json_object_set_new(vocab, extra[i], json_integer(259 + i));
    json_t *model = json_pack("{s:s, s:n, s:s, s:n, s:n, s:b, s:b, s:o, s:[sss]}", "type", "BPE", "dropout",
                              "unk_token", "<unk>", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 1,
                              "byte_fallback", 1, "vocab", vocab, "merges", "▁ a", "a b", "▁a b");
    json_t *normalizer = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers",
                                   "type", "Prepend", "prepend", "▁", "type", "Replace", "pattern", "String", " ",
                                   "content", "▁");
    json_t *decoder = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}", "type",
                                "Sequence", "decoders", "type", "Replace", "pattern", "String", "▁", "content", " ",
                                "type", "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ", "start", 1,
                                "stop", 0);
    json_t *post = json_pack("{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:[], s:{s:{s:s, s:[i], s:[s]}}}", "type",
                             "TemplateProcessing", "single", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence",
                             "id", "A", "type_id", 0, "pair", "special_tokens", "<s>", "id", "<s>", "ids", 1, "tokens",
                             "<s>");
    return json_pack("{s:s, s:[o, o, o, o], s:o, s:n, s:o, s:o, s:o}", "version", "1.0", "added_tokens",
                     fixture_added(0, "<unk>", 1, 0), fixture_added(1, "<s>", 1, 0), fixture_added(2, "</s>", 1, 0),
                     fixture_added(266, "<|end|>", 1, 1), "normalizer", normalizer, "pre_tokenizer",
                     "post_processor", post, "decoder", decoder, "model", model);
}

/* The fixture as JSON text (malloc'ed). */
static char *fixture_text(json_t *root) {
    char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

#endif
