/* BERT's uncased tokenizer on the cases of Hugging Face's own tokenizer tests (basic tokenization,
 * accents, CJK, punctuation, control characters, WordPiece greedy matching, [UNK]), and vocab.txt
 * loading with its errors. */
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
