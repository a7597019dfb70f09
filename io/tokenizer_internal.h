/* tokenizer_internal.h: the parts of a qn_tokenizer that tokenizer_load.c fills, tokenizer_bpe.c
 * (the BPE model) and tokenizer.c (the encode/decode pipeline) use. */
#ifndef QN_TOKENIZER_INTERNAL_H
#define QN_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "qn_tokenizer.h"

/* String -> id, open addressing over keys the tokenizer owns. */
typedef struct {
    uint32_t cap;      /* slots, a power of two */
    uint32_t count;
    const char **keys; /* not owned */
    uint32_t *lens;
    int32_t *vals;
} tok_strmap;

int tok_strmap_init(tok_strmap *m, uint32_t n);
void tok_strmap_free(tok_strmap *m);
/* 0 inserted, -1 when the key exists (its value unchanged). */
int tok_strmap_put(tok_strmap *m, const char *key, uint32_t len, int32_t val);
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len); /* -1 when absent */

/* (left id, right id) -> merge rank and the merged token's id. */
typedef struct {
    uint32_t cap, count;
    uint64_t *keys; /* (left << 32 | right) + 1, 0 empty */
    uint32_t *ranks;
    int32_t *merged;
} tok_merges;

enum { NORM_PREPEND, NORM_REPLACE, NORM_NFC };
typedef struct {
    int kind;
    char *from, *to; /* PREPEND: to; REPLACE: from -> to */
} tok_normalizer;

enum { PRE_BYTELEVEL, PRE_SPLIT, PRE_METASPACE };
enum { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct {
    int kind;
    int add_prefix_space, use_regex; /* BYTELEVEL */
    pcre2_code *re;                  /* BYTELEVEL with use_regex, SPLIT, METASPACE with split */
    int behavior;                    /* SPLIT */
    char *replacement;               /* METASPACE */
    int prepend_scheme, split;       /* METASPACE */
} tok_pretokenizer;

enum { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
typedef struct {
    int kind;
    char *from, *to;      /* REPLACE; METASPACE: from = replacement */
    char *strip;          /* STRIP: the content character */
    int start, stop;      /* STRIP */
    int prepend_scheme;   /* METASPACE */
} tok_decoder;

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int lstrip, rstrip, special;
    /* normalized (default: not special): matched, as the library does, in the normalized text as
     * the normalizers write the content (Prepend "▁" makes "<s>" "▁<s>"); else in the raw text */
    int normalized;
    char *norm_content; /* owned; NULL when not normalized */
    size_t norm_len;
} tok_added;

struct qn_tokenizer {
    /* model (BPE) */
    tok_strmap vocab;   /* the model's vocab */
    tok_merges merges;
    int32_t unk;        /* -1: none */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t byte_token[256]; /* <0xXX> ids, -1 when absent */
    /* id -> token (model vocab and added tokens), NULL for ids no one uses */
    char **id_token;
    uint32_t *id_len;
    int32_t n_ids;
    uint8_t *id_special;
    /* pipeline */
    tok_added *added;
    int n_added, n_added_normalized;
    tok_strmap added_map;
    tok_normalizer *norm;
    int n_norm;
    tok_pretokenizer *pre;
    int n_pre;
    tok_decoder *dec;
    int n_dec;
    int32_t *prefix, *suffix; /* post-processor (TemplateProcessing's single) */
    int n_prefix, n_suffix;
    uint16_t byte_char[256];
    int16_t char_byte[324];
};

/* The growing arrays' one rule (pieces, decoded strings, ids, the BPE heap): the array v, n of *cap
 * elements of elem bytes used, with room for one more: v itself, or v reallocated to double *cap
 * (`first` when empty). NULL when out of memory, with v and *cap untouched. */
static inline void *tok_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first) {
    if (n < *cap) return v;
    size_t bigger = *cap ? 2 * *cap : first;
    void *grown = realloc(v, bigger * elem);
    if (grown) *cap = bigger;
    return grown;
}

/* Length of the UTF-8 character at s (n bytes left): 1 for a byte that does not start a valid
 * character, so invalid input moves forward byte by byte. */
size_t tok_utf8_len(const unsigned char *s, size_t n);

/* BPE on one pre-token (already normalized and, for byte-level, mapped); appends to *ids.
 * Returns 0, 1 when out of memory. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *ids, int32_t id);
int tok_bpe_word(const qn_tokenizer *t, const char *word, size_t len, tok_ids *out);

int tok_merges_init(tok_merges *m, uint32_t n);
void tok_merges_free(tok_merges *m);
/* 0 inserted, -1 when the pair exists already (the first rank wins). */
int tok_merges_put(tok_merges *m, int32_t left, int32_t right, uint32_t rank, int32_t merged);

/* The file's normalizers applied to n bytes of s: *out malloc'ed (NUL-terminated), *out_len its
 * length. Returns 0, 1 when out of memory. */
int tok_normalize_text(const qn_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len);

/* The GPT-2 byte <-> character map: byte b is code point byte_char[b]; char_byte[c] is the byte of
 * code point c (< 324), -1 for none. */
void tok_byte_map(uint16_t byte_char[256], int16_t char_byte[324]);

#endif
