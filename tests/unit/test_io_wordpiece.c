/* BERT's uncased tokenizer on the cases of Hugging Face's own tokenizer tests (basic tokenization,
 * accents, CJK, punctuation, control characters, WordPiece greedy matching, [UNK]), and vocab.txt
 * loading with its errors; and the ids of transformers' BertTokenizer on 100 texts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_wordpiece.h"

static qn_vocab *vocab(void) {
    static const char *const t[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn",
                                    "##ing", ",", "hello", "!", "how", "are", "you", "?", "ah", "\xe5\x8d\x9a", "\xe6\x8e\xa8",
                                    "zz", "world", "low", "##er", "naive", "cafe"};
    qn_vocab *v = qn_vocab_from_tokens(t, (int)(sizeof t / sizeof t[0]));
    cr_assert_not_null(v);
    return v;
}

static void expect_tokens(qn_vocab *v, const char *text, const char *const *want, int n) {
    int32_t ids[64];
    int got = qn_wordpiece_tokenize(v, text, ids, 64);
    char line[512] = "";
    for (int i = 0; i < got; i++) {
        strncat(line, qn_vocab_token(v, ids[i]), sizeof line - strlen(line) - 2);
        strncat(line, " ", sizeof line - strlen(line) - 1);
    }
    cr_expect_eq(got, n, "'%s' -> %s", text, line);
    for (int i = 0; i < got && i < n; i++)
        cr_expect_str_eq(qn_vocab_token(v, ids[i]), want[i], "'%s' token %d (%s)", text, i, line);
}

Test(wordpiece, hugging_face_cases) {
    qn_vocab *v = vocab();
    const char *a[] = {"un", "##want", "##ed", ",", "runn", "##ing"};
    expect_tokens(v, "UNwant\xc3\xa9" "d,running", a, 6);
    const char *b[] = {"hello", "!", "how", "are", "you", "?"};
    expect_tokens(v, " \tHeLLo!how  \n Are yoU?  ", b, 6);
    const char *c[] = {"ah", "\xe5\x8d\x9a", "\xe6\x8e\xa8", "zz"};
    expect_tokens(v, "ah\xe5\x8d\x9a\xe6\x8e\xa8zz", c, 4);
    const char *d[] = {"un", "##want", "##ed", "runn", "##ing"};
    expect_tokens(v, "unwanted running", d, 5);
    const char *e[] = {"[UNK]", "runn", "##ing"};
    expect_tokens(v, "unwantedX running", e, 3);
    expect_tokens(v, "", NULL, 0);
    const char *f[] = {"hello", "world"};
    expect_tokens(v, "hello\x05 wor\xc2\xadld", f, 2); /* a control character and a soft hyphen (Cf) vanish */
    const char *g[] = {"naive", "cafe"};
    expect_tokens(v, "Na\xc3\xafve CAF\xc3\x89", g, 2);    /* accents stripped after lower-casing */
    const char *h[] = {"low", "##er"};
    expect_tokens(v, "LOWER", h, 2);
    /* a word of more than 100 characters is [UNK] */
    char longw[256];
    memset(longw, 'a', 150);
    longw[150] = 0;
    const char *u[] = {"[UNK]"};
    expect_tokens(v, longw, u, 1);
    qn_vocab_free(v);
}

/* Special tokens written in the text stay whole, case-sensitively, wherever they are (as
 * transformers' BertTokenizer and BertTokenizerFast); [MASK] is not in this vocab: plain text. */
Test(wordpiece, special_tokens_in_text) {
    qn_vocab *v = vocab();
    const char *a[] = {"hello", "[SEP]", "world", "[UNK]", "[CLS]"};
    expect_tokens(v, "hello[SEP]world [UNK][CLS]", a, 5);
    /* "[", "]", "sep" and "mask" are not in the vocab either: each is a word of its own, [UNK] */
    const char *b[] = {"[UNK]", "[UNK]", "[UNK]", "[UNK]", "[PAD]", "[UNK]"};
    expect_tokens(v, "[sep] [[PAD]]", b, 6);
    const char *c[] = {"[UNK]", "[UNK]", "[UNK]", "hello"};
    expect_tokens(v, "[MASK] hello", c, 4);
    qn_vocab_free(v);
}

Test(wordpiece, encode_adds_cls_sep_truncates_and_pads) {
    qn_vocab *v = vocab();
    int32_t ids[8];
    int n = qn_wordpiece_encode(v, "hello world!", ids, 8);
    cr_expect_eq(n, 5);
    const int32_t want[8] = {2, 12, 22, 13, 3, 0, 0, 0};
    cr_expect(memcmp(ids, want, sizeof want) == 0);
    int32_t few[4];
    n = qn_wordpiece_encode(v, "hello world! how are you", few, 4);
    cr_expect_eq(n, 4);
    cr_expect_eq(few[3], 3, "[SEP] stays last");
    qn_vocab_free(v);
}

Test(wordpiece, vocab_file_errors) {
    char dir[] = "/tmp/qn-vocab-XXXXXX", path[128], err[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\n", f);
    fclose(f);
    qn_vocab *v;
    cr_expect_eq(qn_vocab_load(path, &v, err, sizeof err), 2);
    cr_expect(strstr(err, "vocab.txt:6: token 'hello' repeats") != NULL, "%s", err);
    f = fopen(path, "w");
    fputs("[PAD]\n[CLS]\n[SEP]\nhello\n", f);
    fclose(f);
    cr_expect_eq(qn_vocab_load(path, &v, err, sizeof err), 2);
    cr_expect(strstr(err, "no [UNK] token") != NULL, "%s", err);
    f = fopen(path, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\r\n##lo\n", f);
    fclose(f);
    cr_assert_eq(qn_vocab_load(path, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(qn_vocab_size(v), 6);
    cr_expect_eq(qn_vocab_id(v, "hello"), 4, "CRLF line ends are accepted");
    cr_expect_eq(qn_vocab_id(v, "##lo"), 5);
    cr_expect_eq(qn_vocab_id(v, "nope"), -1);
    qn_vocab_free(v);
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------- BERT's own behaviour
 * Cases derived from the reference algorithm (google-research/bert tokenization.py, BasicTokenizer
 * with do_lower_case=True, then WordpieceTokenizer; Hugging Face's BertTokenizer is the same code):
 *   _clean_text: drop U+0000, U+FFFD and control characters (Cc, Cf, ...; not \t \n \r), whitespace
 *   (\t \n \r and Zs) becomes a space; _tokenize_chinese_chars: spaces around CJK ideographs;
 *   whitespace_tokenize (Python's str.split()); per word: lower(), NFD, drop Mn, then split off each
 *   punctuation character (category P*, and every ASCII symbol in 33-47, 58-64, 91-96, 123-126);
 *   WordPiece: a word over 100 characters is [UNK], else greedy longest match first with "##"
 *   continuations, [UNK] for the whole word when a piece cannot be matched.
 * Each expected list was checked against a Python transcription of that code. */
static const char *const bert_tokens[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "cafe", "naive", "unicode", "un", "##aff", "##able", "x", "##cod", "##co",
    "##de", "want", "##want", "hello", "world", "how", "are", "you", "i", "love", "!", "?", ".", ",", "'",
    "\xe2\x80\x99", "$", "`", "^", "~", "+", "=", "<", ">", "|", "-", "\xe2\x80\x94", "\xe2\x80\xa6", "\xc2\xab",
    "\xc2\xbb", "\xc2\xbf", "que", "5", "20", "tag", "a", "b", "c", "don", "t", "s", "it", "rock", "n", "roll",
    "tieng", "viet", "ecole", "istanbul", "kelvin", "\xe4\xbd\xa0", "\xe5\xa5\xbd", "\xe4\xb8\x96", "\xe7\x95\x8c",
    "\xe6\x97\xa5", "\xe6\x9c\xac", "\xe8\xaa\x9e", "\xf0\xa0\x80\x80", "\xe8\xb1\x88", "\xe3\x80\x82",
    "\xe2\x9d\xa4", "\xe2\x82\xac", "eeeeeeeeee", "##eeeeeeeeee", "##s", "\xc3\x9f", "\xcf\x89",
};
static const struct {
    const char *text, *want, *why; /* want: the tokens, space-separated */
} bert_cases[] = {
    {"Caf\xc3\xa9 na\xc3\xafve \xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9", "cafe naive unicode",
     "lower-case, then NFD and drop Mn: accents vanish"},
    {"\xc3\x89" "COLE e\xcc\x81" "cole TI\xe1\xba\xbeNG VI\xe1\xbb\x86T", "ecole ecole tieng viet",
     "upper-case accents, a decomposed accent, stacked marks (Vietnamese)"},
    {"\xe2\x84\xaa" "elvin \xc4\xb0stanbul \xe1\xba\x9e \xe2\x84\xa6", "kelvin istanbul \xc3\x9f \xcf\x89",
     "lower() of KELVIN SIGN, dotted I (i + U+0307, mark dropped), capital sharp s, OHM SIGN"},
    {"a \xcc\x81 b", "a b",
     "a lone combining mark is dropped, leaving no token"},
    {"unaffable", "un ##aff ##able",
     "greedy longest match with ## continuations: several pieces"},
    {"unicodes", "unicode ##s",
     "the longest match first: unicode, then ##s"},
    {"xcode", "[UNK]",
     "greedy without backtracking: x ##cod then no ##e, so the word is [UNK] (x ##co ##de is never tried)"},
    {"hello\xe4\xb8\x96\xe7\x95\x8c!", "hello \xe4\xb8\x96 \xe7\x95\x8c !",
     "CJK ideographs are single tokens, split from the word they touch"},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81\x99", "\xe6\x97\xa5 \xe6\x9c\xac \xe8\xaa\x9e [UNK]",
     "kana are not CJK ideographs for BERT: one word, [UNK]"},
    {"\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82", "\xe4\xbd\xa0 \xe5\xa5\xbd \xe3\x80\x82",
     "ideographic full stop is punctuation"},
    {"a\xf0\xa0\x80\x80" "b \xef\xa4\x80", "a \xf0\xa0\x80\x80 b \xe8\xb1\x88",
     "CJK extension B and a compatibility ideograph (NFD maps U+F900 to U+8C48)"},
    {"\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf \xec\x95\x88\xeb\x85\x95", "[UNK] [UNK]",
     "Japanese kana and Hangul are words, not split per character"},
    {"i love \xf0\x9f\xa4\x97!", "i love [UNK] !",
     "an emoji (So) is not punctuation: a word of its own here"},
    {"hello\xf0\x9f\x98\x80", "[UNK]",
     "an emoji inside a word makes the whole word [UNK]"},
    {"\xe2\x9d\xa4\xef\xb8\x8f \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", "\xe2\x9d\xa4 [UNK]",
     "the variation selector U+FE0F is Mn and stripped; ZWJ U+200D is Cf and dropped"},
    {"hello!!! ...?!--", "hello ! ! ! . . . ? ! - -",
     "every punctuation character is its own token, in runs too"},
    {"$5 a^b~c `x` a+b=c <tag> a|b", "$ 5 a ^ b ~ c ` x ` a + b = c < tag > a | b",
     "ASCII symbols $ ^ ~ ` + = < > | count as punctuation (BERT's ASCII ranges)"},
    {"\xe2\x82\xac" "5 20\xc2\xb0", "[UNK] [UNK]",
     "non-ASCII symbols (Sc, So) are not punctuation: they stay in the word"},
    {"a\xe2\x80\x94" "b wait\xe2\x80\xa6 \xc2\xabhello\xc2\xbb \xc2\xbfQu\xc3\xa9?", "a \xe2\x80\x94 b [UNK] \xe2\x80\xa6 \xc2\xab hello \xc2\xbb \xc2\xbf que ?",
     "non-ASCII punctuation (Pd, Po, Pi, Pf, inverted ?) splits; accent stripped from que"},
    {"a\xe1\xbf\xaf" "b", "a ` b",
     "U+1FEF GREEK VARIA decomposes (NFD) to ASCII ` which is then punctuation"},
    {"don't it\xe2\x80\x99s rock'n'roll", "don ' t it \xe2\x80\x99 s rock ' n ' roll",
     "apostrophes, ASCII and U+2019, split words"},
    {"hello\xce\xa9 hello \xcf\x89 world", "[UNK] hello \xcf\x89 world",
     "an unknown character makes its word [UNK], not the other words"},
    {"hello\tworld\nhow\r\nare\xc2\xa0you\xe3\x80\x80?", "hello world how are you ?",
     "tab, newline, CRLF, no-break space (Zs), ideographic space (Zs) separate words"},
    {"hello\xe2\x80\xa8world\xe2\x80\xa9how", "hello world how",
     "U+2028/U+2029 (Zl/Zp) are kept by _clean_text but str.split() in whitespace_tokenize splits on them"},
    {"hel\xe2\x80\x8blo \xef\xbb\xbfworld", "hello world",
     "zero-width space and BOM (Cf) are dropped: the word stays whole"},
    {"hel\x01lo wor\x7fld", "hello world",
     "control characters are dropped, joining the word"},
    {"hello\x0cworld hello\x0bworld hello\xc2\x85world", "[UNK] [UNK] [UNK]",
     "form feed, vertical tab and NEL are Cc: dropped (not whitespace), so the words join into one [UNK]"},
    {"hel\xef\xbf\xbdlo", "hello",
     "U+FFFD is dropped"},
};

static qn_vocab *bert_vocab(void) {
    qn_vocab *v = qn_vocab_from_tokens(bert_tokens, (int)(sizeof bert_tokens / sizeof bert_tokens[0]));
    cr_assert_not_null(v);
    return v;
}

/* The tokens of text, space-separated, into out. */
static const char *tokens_of(const qn_vocab *v, const char *text, char *out, size_t len) {
    int32_t ids[256];
    int n = qn_wordpiece_tokenize(v, text, ids, 256);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strncat(out, " ", len - strlen(out) - 1);
        strncat(out, qn_vocab_token(v, ids[i]), len - strlen(out) - 1);
    }
    return out;
}

Test(wordpiece, bert_reference_cases) {
    qn_vocab *v = bert_vocab();
    for (size_t k = 0; k < sizeof bert_cases / sizeof bert_cases[0]; k++) {
        char got[1024];
        tokens_of(v, bert_cases[k].text, got, sizeof got);
        cr_expect_str_eq(got, bert_cases[k].want, "case %zu (%s):\n  got:  %s\n  want: %s", k, bert_cases[k].why, got,
                         bert_cases[k].want);
    }
    qn_vocab_free(v);
}

/* The 100-character limit counts characters after lower-casing and accent stripping, not bytes. */
Test(wordpiece, bert_word_length_limit_counts_characters) {
    qn_vocab *v = bert_vocab();
    char text[1024], got[2048], want[2048];
    /* exactly 100 characters: WordPiece runs (want ##want x 24) */
    text[0] = 0;
    for (int i = 0; i < 25; i++) strcat(text, "want");
    snprintf(want, sizeof want, "want");
    for (int i = 1; i < 25; i++) strcat(want, " ##want");
    cr_expect_str_eq(tokens_of(v, text, got, sizeof got), want);
    /* 101 characters: [UNK], and the next word is unaffected */
    strcat(text, "s hello");
    cr_expect_str_eq(tokens_of(v, text, got, sizeof got), "[UNK] hello");
    /* 100 e-acute: 200 bytes but 100 characters; composed or decomposed (e + U+0301, 300 bytes) alike */
    snprintf(want, sizeof want, "eeeeeeeeee");
    for (int i = 1; i < 10; i++) strcat(want, " ##eeeeeeeeee");
    text[0] = 0;
    for (int i = 0; i < 100; i++) strcat(text, "\xc3\xa9");
    cr_expect_str_eq(tokens_of(v, text, got, sizeof got), want, "100 composed e-acute");
    text[0] = 0;
    for (int i = 0; i < 100; i++) strcat(text, "e\xcc\x81");
    cr_expect_str_eq(tokens_of(v, text, got, sizeof got), want, "100 decomposed e-acute");
    text[0] = 0;
    for (int i = 0; i < 101; i++) strcat(text, "\xc3\x89");
    cr_expect_str_eq(tokens_of(v, text, got, sizeof got), "[UNK]", "101 capital E-acute");
    qn_vocab_free(v);
}

/* Bytes that are not UTF-8 are dropped, as the reference's convert_to_unicode decodes with
 * errors="ignore": a stray byte, an overlong form, an encoded surrogate, a code point past U+10FFFF, a
 * sequence cut short by the next character or by the end. */
Test(wordpiece, invalid_utf8_is_dropped) {
    qn_vocab *v = bert_vocab();
    const char *texts[] = {"hel\xfflo", "hel\xc1\x81lo", "hel\xed\xa0\x80lo", "hel\xf4\x90\x80\x80lo", "hel\xc3lo",
                           "hel\xe4\x80lo", "hello\xe4", "hello\xf0\x9f"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        char got[256];
        cr_expect_str_eq(tokens_of(v, texts[k], got, sizeof got), "hello", "text %zu", k);
    }
    qn_vocab_free(v);
}

/* [CLS] first, [SEP] last, truncation that may cut a word between its pieces (as BERT truncates
 * the token list), [PAD] after. */
Test(wordpiece, bert_encode_truncation_and_padding) {
    qn_vocab *v = bert_vocab();
    const int CLS = qn_vocab_id(v, "[CLS]"), SEP = qn_vocab_id(v, "[SEP]"), PAD = qn_vocab_id(v, "[PAD]");
    const int un = qn_vocab_id(v, "un"), aff = qn_vocab_id(v, "##aff"), able = qn_vocab_id(v, "##able");
    int32_t ids[16];
    /* fits: 3 pieces + 2, padded to 8 */
    for (int i = 0; i < 16; i++) ids[i] = -7;
    cr_expect_eq(qn_wordpiece_encode(v, "unaffable", ids, 8), 5);
    const int32_t fit[8] = {CLS, un, aff, able, SEP, PAD, PAD, PAD};
    cr_expect(memcmp(ids, fit, sizeof fit) == 0);
    cr_expect_eq(ids[8], -7, "nothing is written past max_len");
    /* exactly max_len */
    cr_expect_eq(qn_wordpiece_encode(v, "unaffable", ids, 5), 5);
    cr_expect(memcmp(ids, fit, 5 * sizeof *ids) == 0);
    /* one short: the last piece goes, [SEP] stays */
    for (int i = 0; i < 16; i++) ids[i] = -7;
    cr_expect_eq(qn_wordpiece_encode(v, "unaffable", ids, 4), 4);
    const int32_t cut[4] = {CLS, un, aff, SEP};
    cr_expect(memcmp(ids, cut, sizeof cut) == 0);
    cr_expect_eq(ids[4], -7);
    /* room for [CLS] and [SEP] only */
    cr_expect_eq(qn_wordpiece_encode(v, "unaffable hello", ids, 2), 2);
    cr_expect(ids[0] == CLS && ids[1] == SEP);
    /* nothing to tokenize: [CLS] [SEP] and padding */
    cr_expect_eq(qn_wordpiece_encode(v, " \t\x01\n", ids, 6), 2);
    const int32_t empty[6] = {CLS, SEP, PAD, PAD, PAD, PAD};
    cr_expect(memcmp(ids, empty, sizeof empty) == 0);
    /* a long text truncated at 16: [SEP] last, every id a real token */
    char text[2048] = "";
    for (int i = 0; i < 100; i++) strcat(text, "hello, world! ");
    cr_expect_eq(qn_wordpiece_encode(v, text, ids, 16), 16);
    cr_expect_eq(ids[0], CLS);
    cr_expect_eq(ids[15], SEP);
    for (int i = 1; i < 15; i++) cr_expect(ids[i] != PAD && ids[i] != qn_vocab_id(v, "[UNK]"), "id %d: %d", i, ids[i]);
    qn_vocab_free(v);
}

/* Random bytes and random mixes of the cases' characters: never a crash, never an id out of range,
 * never more ids than room (run under ASan/UBSan by the debug preset). */
Test(wordpiece, fuzz_never_crashes, .timeout = 120) {
    qn_vocab *v = bert_vocab();
    uint64_t s = 0xB127;
    int nv = qn_vocab_size(v);
    for (int it = 0; it < 20000; it++) {
        char text[700];
        size_t n = 0;
        while (n < 600) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            if (s % 8 == 0) break;
            if (it % 2) { /* pieces of the reference cases */
                const char *src = bert_cases[(s >> 8) % (sizeof bert_cases / sizeof bert_cases[0])].text;
                size_t l = strlen(src), off = (s >> 20) % (l + 1), take = (s >> 32) % 12;
                if (off + take > l) take = l - off;
                memcpy(text + n, src + off, take);
                n += take;
            } else {
                text[n++] = (char)((s >> 24) | 1); /* any byte but NUL */
            }
        }
        text[n] = 0;
        int32_t ids[40];
        int max = 1 + it % 38;
        ids[max] = -99;
        int got = qn_wordpiece_tokenize(v, text, ids, max);
        cr_assert(got >= 0 && got <= max, "iteration %d: %d ids", it, got);
        cr_assert_eq(ids[max], -99, "iteration %d: written past max_ids", it);
        for (int i = 0; i < got; i++) cr_assert(ids[i] >= 0 && ids[i] < nv, "iteration %d: id %d", it, ids[i]);
        int len = qn_wordpiece_encode(v, text, ids, max + 1);
        cr_assert(len >= (max + 1 >= 2 ? 2 : 0) && len <= max + 1, "iteration %d: length %d", it, len);
    }
    qn_vocab_free(v);
}

/* Against transformers itself: tests/tokenizers/wordpiece.cases holds the ids BertTokenizer (and,
 * on every one of these texts, BertTokenizerFast) gave with tests/tokenizers/wordpiece_vocab.txt, a
 * vocab the `tokenizers` library trained (tests/tokenizers/make_fixtures.py). */
Test(wordpiece, same_ids_as_transformers) {
    char err[512];
    qn_vocab *v = NULL;
    cr_assert_eq(qn_vocab_load(QN_TEST_DATA "/tokenizers/wordpiece_vocab.txt", &v, err, sizeof err), 0, "%s", err);
    FILE *f = fopen(QN_TEST_DATA "/tokenizers/wordpiece.cases", "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    int cases = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        cr_assert_not_null(tab, "a line without a tab");
        *tab = 0;
        size_t hex_len = strlen(line);
        char *text = malloc(hex_len / 2 + 1);
        for (size_t i = 0; i < hex_len / 2; i++) {
            unsigned b;
            sscanf(line + 2 * i, "%2x", &b);
            text[i] = (char)b;
        }
        text[hex_len / 2] = 0;
        int32_t want[512], got[512];
        int n_want = 0;
        for (char *s = tab + 1; *s && *s != '\n';) {
            char *end;
            want[n_want++] = (int32_t)strtol(s, &end, 10);
            s = *end == ',' ? end + 1 : end;
        }
        int n = qn_wordpiece_tokenize(v, text, got, 512);
        int same = n == n_want;
        for (int i = 0; same && i < n; i++) same = got[i] == want[i];
        cr_expect(same, "'%s': %d ids, transformers %d", text, n, n_want);
        free(text);
        cases++;
    }
    cr_expect_geq(cases, 100);
    free(line);
    fclose(f);
    qn_vocab_free(v);
}
