/* qn_wordpiece.h: BERT's uncased tokenizer, as Hugging Face's BertTokenizer (do_lower_case=True):
 * special tokens written in the text ([UNK] [CLS] [SEP] [PAD] [MASK], case-sensitive) kept whole,
 * then the basic tokenizer (drop control characters and U+FFFD, spaces around CJK ideographs, split
 * on whitespace, lower-case, strip accents, split off punctuation) and WordPiece (greedy longest
 * match from a vocab.txt, continuations prefixed "##", a word longer than 100 characters or without a
 * match is [UNK]). Lower-casing is per character (Python's final-sigma rule is not applied) and text
 * is not NFC-normalized first. Character classes come from the build machine's Python unicodedata
 * (scripts/gen_unicode_tables.py): BertTokenizerFast's Rust tables are older, so the two differ on
 * characters assigned since (docs/datasets.md). Text ends at its first NUL byte. */
#ifndef QN_WORDPIECE_H
#define QN_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

typedef struct qn_vocab qn_vocab;

/* Read a vocab.txt (one token per line, the line number is the id). Returns 0, 2 with "PATH:LINE: ..."
 * for a malformed file (empty token, duplicate, no [UNK]/[CLS]/[SEP]/[PAD]), 1 on I/O error. */
int qn_vocab_load(const char *path, qn_vocab **out, char *err, size_t errlen);
/* A vocabulary from tokens in memory (id = index). Returns NULL when out of memory or a token repeats. */
qn_vocab *qn_vocab_from_tokens(const char *const *tokens, int n);
void qn_vocab_free(qn_vocab *v);
int qn_vocab_size(const qn_vocab *v);
int qn_vocab_id(const qn_vocab *v, const char *token); /* -1 when absent */
const char *qn_vocab_token(const qn_vocab *v, int id);

/* The basic tokenizer + WordPiece: at most max_ids ids into ids; returns how many. */
int qn_wordpiece_tokenize(const qn_vocab *v, const char *text, int32_t *ids, int max_ids);
/* [CLS] tokens [SEP], truncated to max_len (keeping [SEP]) and padded with [PAD]. Returns the length
 * before padding. */
int qn_wordpiece_encode(const qn_vocab *v, const char *text, int32_t *ids, int max_len);

#endif
