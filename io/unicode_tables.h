/* unicode_tables.h: the Unicode facts BERT's basic tokenizer uses, generated at build time by
 * scripts/gen_unicode_tables.py from Python's unicodedata (the same source Hugging Face's tokenizer
 * consults). */
#ifndef QN_UNICODE_TABLES_H
#define QN_UNICODE_TABLES_H

#include <stdint.h>

enum { QN_UC_OTHER = 0, QN_UC_SPACE = 1, QN_UC_CONTROL = 2, QN_UC_PUNCT = 3, QN_UC_CJK = 4 };

typedef struct {
    uint32_t first, last;
    int cls;
} qn_uc_range;

/* A code point whose lower-cased, accent-stripped form differs: up to 3 code points (0-terminated). */
typedef struct {
    uint32_t cp;
    uint32_t to[3];
} qn_uc_map;

extern const qn_uc_range qn_uc_classes[]; /* sorted, non-overlapping */
extern const int qn_uc_nclasses;
extern const qn_uc_map qn_uc_maps[]; /* sorted by cp */
extern const int qn_uc_nmaps;

#endif
