/* qn_tokenizer.h: BPE tokenizers read from a Hugging Face tokenizer.json, as the `tokenizers` library
 * runs them, for the styles quench's decoder models use (docs/tokenizers.md says exactly what):
 *  - byte-level BPE: GPT-2 / Phi-2 (pre_tokenizer ByteLevel with its regex) and Llama 3
 *    (Sequence[Split(Regex, Isolated), ByteLevel(use_regex=false)], ignore_merges);
 *  - SentencePiece-style BPE with byte fallback: Phi-3 / Llama 2 (normalizer Prepend "▁" +
 *    Replace " " -> "▁", or a Metaspace pre-tokenizer; decoder Replace/ByteFallback/Fuse/Strip).
 * Anything else in the file is refused at load with one line naming the file and the component.
 * Text is bytes: invalid UTF-8 is encoded byte by byte (byte-level or byte fallback) and decode
 * returns the exact bytes, so decode(encode(x)) == x for byte-level tokenizers on any input. */
#ifndef QN_TOKENIZER_H
#define QN_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct qn_tokenizer qn_tokenizer;

/* Read a tokenizer.json. Returns 0; 2 with "PATH: what is wrong" in err for a malformed or
 * unsupported file; 1 on I/O error or out of memory. */
int qn_tokenizer_load(const char *path, qn_tokenizer **out, char *err, size_t errlen);
/* The same from JSON text in memory; name stands for the file in messages. */
int qn_tokenizer_from_json(const char *json, size_t len, const char *name, qn_tokenizer **out,
                           char *err, size_t errlen);
void qn_tokenizer_free(qn_tokenizer *t);

/* Encode len bytes of text: added (special) tokens in the text are matched first, the rest is
 * normalized, pre-tokenized and BPE-merged; add_special adds the post-processor's tokens (BOS).
 * *ids is malloc'ed (free it), *n its length. Returns 0, or 1 when out of memory. Thread-safe. */
int qn_tokenizer_encode(const qn_tokenizer *t, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n);
/* Decode ids through the file's decoder; skip_special drops added tokens marked special. *text is
 * malloc'ed and NUL-terminated, *len its length without the NUL. Returns 0, 2 for an id that is not
 * in the vocabulary (message in err), 1 when out of memory. */
int qn_tokenizer_decode(const qn_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **text, size_t *len, char *err, size_t errlen);

/* Largest id + 1 (the embedding rows a model needs at least). */
int32_t qn_tokenizer_vocab_size(const qn_tokenizer *t);
/* A token's id (added tokens first, then the model's vocab), -1 when absent. */
int32_t qn_tokenizer_token_id(const qn_tokenizer *t, const char *token);
/* An id's token as stored in the file (byte-level tokens in their mapped form), NULL when absent. */
const char *qn_tokenizer_id_token(const qn_tokenizer *t, int32_t id);
/* 1 when id is an added token marked special (BOS, EOS, <|eot_id|>...). */
int qn_tokenizer_is_special(const qn_tokenizer *t, int32_t id);

#endif
