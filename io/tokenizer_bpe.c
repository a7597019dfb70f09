/* tokenizer_bpe.c: the BPE model of a tokenizer.json: vocab and merge tables, and the merge loop on
 * one word as the `tokenizers` library runs it (lowest rank first, leftmost among equals, with a
 * heap so a long word, e.g. a whole SentencePiece-style text without pre-tokenizer, is n log n). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint32_t slots_for(uint32_t n) {
    uint32_t cap = 16;
    while (cap < 2 * n + 16) cap *= 2;
    return cap;
}

int tok_strmap_init(tok_strmap *m, uint32_t n) {
    memset(m, 0, sizeof *m);
    m->cap = slots_for(n);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->lens = calloc(m->cap, sizeof *m->lens);
    m->vals = calloc(m->cap, sizeof *m->vals);
    return m->keys && m->lens && m->vals ? 0 : 1;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->keys), free(m->lens), free(m->vals);
    memset(m, 0, sizeof *m);
}

static int strmap_grow(tok_strmap *m) {
    tok_strmap bigger;
    if (tok_strmap_init(&bigger, m->cap)) {
        tok_strmap_free(&bigger);
        return 1;
    }
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->keys[i]) tok_strmap_put(&bigger, m->keys[i], m->lens[i], m->vals[i]);
    tok_strmap_free(m);
    *m = bigger;
    return 0;
}

int tok_strmap_put(tok_strmap *m, const char *key, uint32_t len, int32_t val) {
    if (2 * (m->count + 1) > m->cap && strmap_grow(m)) return 1;
    for (uint64_t i = fnv(key, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) {
            m->keys[i] = key, m->lens[i] = len, m->vals[i] = val;
            m->count++;
            return 0;
        }
        if (m->lens[i] == len && memcmp(m->keys[i], key, len) == 0) return -1;
    }
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    for (uint64_t i = fnv(key, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (m->lens[i] == len && memcmp(m->keys[i], key, len) == 0) return m->vals[i];
    }
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
}

static uint64_t mix(uint64_t k) {
    k ^= k >> 33, k *= 0xff51afd7ed558ccdull, k ^= k >> 33;
    return k;
}

int tok_merges_init(tok_merges *m, uint32_t n) {
    memset(m, 0, sizeof *m);
    m->cap = slots_for(n);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->ranks = calloc(m->cap, sizeof *m->ranks);
    m->merged = calloc(m->cap, sizeof *m->merged);
    return m->keys && m->ranks && m->merged ? 0 : 1;
}

void tok_merges_free(tok_merges *m) {
    free(m->keys), free(m->ranks), free(m->merged);
    memset(m, 0, sizeof *m);
}

/* Sized at init for every merge of the file: never grows. */
int tok_merges_put(tok_merges *m, int32_t left, int32_t right, uint32_t rank, int32_t merged) {
    uint64_t key = pair_key(left, right);
    for (uint64_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) {
            m->keys[i] = key, m->ranks[i] = rank, m->merged[i] = merged;
            m->count++;
            return 0;
        }
        if (m->keys[i] == key) return -1;
    }
}

static int merges_get(const tok_merges *m, int32_t left, int32_t right, uint32_t *rank, int32_t *merged) {
    if (!m->cap) return 0;
    uint64_t key = pair_key(left, right);
    for (uint64_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return 0;
        if (m->keys[i] == key) {
            *rank = m->ranks[i], *merged = m->merged[i];
            return 1;
        }
    }
}

size_t tok_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n) return 1;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 1;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < len; i++) cp = cp << 6 | (s[i] & 0x3F);
    /* overlong forms, surrogates and code points past U+10FFFF are not characters */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 1;
    return len;
}

void tok_byte_map(uint16_t byte_char[256], int16_t char_byte[324]) {
    /* printable Latin-1 bytes stand for themselves; the others get 256, 257, ... in byte order */
    uint16_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_char[b] = printable ? (uint16_t)b : next++;
    }
    for (int c = 0; c < 324; c++) char_byte[c] = -1;
    for (int b = 0; b < 256; b++) char_byte[byte_char[b]] = (int16_t)b;
}

int tok_ids_push(tok_ids *ids, int32_t id) {
    int32_t *v = tok_grow(ids->v, ids->n, &ids->cap, sizeof *v, 64);
    if (!v) return 1;
    ids->v = v;
    ids->v[ids->n++] = id;
    return 0;
}

typedef struct {
    int32_t id;
    int prev, next; /* neighbours still alive, -1 at the ends */
    int alive;
} symbol;

typedef struct {
    uint32_t rank;
    int pos; /* the left symbol */
    int32_t merged;
} candidate;

static int before(const candidate *a, const candidate *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

typedef struct {
    candidate *v;
    size_t n, cap;
} heap;

static int heap_push(heap *h, candidate c) {
    candidate *v = tok_grow(h->v, h->n, &h->cap, sizeof *v, 64);
    if (!v) return 1;
    h->v = v;
    size_t i = h->n++;
    while (i > 0 && before(&c, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
    return 0;
}

static candidate heap_pop(heap *h) {
    candidate top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && before(&h->v[child + 1], &h->v[child])) child++;
        if (!before(&h->v[child], &last)) break;
        h->v[i] = h->v[child];
        i = child;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int push_pair(const qn_tokenizer *t, heap *h, const symbol *s, int pos) {
    uint32_t rank;
    int32_t merged;
    if (!merges_get(&t->merges, s[pos].id, s[s[pos].next].id, &rank, &merged)) return 0;
    return heap_push(h, (candidate){rank, pos, merged});
}

/* The word's characters as symbols: the character's token, else its bytes' <0xXX> tokens (byte
 * fallback), else the unknown token (consecutive unknowns fused into one with fuse_unk), else
 * nothing, as the `tokenizers` library does. */
static int initial_symbols(const qn_tokenizer *t, const char *word, size_t len, symbol **out, int *count) {
    symbol *s = malloc((len + 1) * sizeof *s);
    if (!s) return 1;
    int n = 0, pending_unk = 0;
    for (size_t i = 0; i < len;) {
        size_t cl = tok_utf8_len((const unsigned char *)word + i, len - i);
        int32_t id = tok_strmap_get(&t->vocab, word + i, cl);
        int fell_back = 0;
        if (id < 0 && t->byte_fallback) {
            fell_back = 1;
            for (size_t b = 0; b < cl; b++)
                if (t->byte_token[(unsigned char)word[i + b]] < 0) fell_back = 0;
        }
        if (id >= 0 || fell_back) {
            if (pending_unk) s[n++] = (symbol){t->unk, 0, 0, 1}, pending_unk = 0;
            if (id >= 0)
                s[n++] = (symbol){id, 0, 0, 1};
            else
                for (size_t b = 0; b < cl; b++) s[n++] = (symbol){t->byte_token[(unsigned char)word[i + b]], 0, 0, 1};
        } else if (t->unk >= 0) {
            if (pending_unk && !t->fuse_unk) s[n++] = (symbol){t->unk, 0, 0, 1};
            pending_unk = 1;
        }
        i += cl;
    }
    if (pending_unk) s[n++] = (symbol){t->unk, 0, 0, 1};
    for (int i = 0; i < n; i++) s[i].prev = i - 1, s[i].next = i + 1 < n ? i + 1 : -1;
    *out = s, *count = n;
    return 0;
}

int tok_bpe_word(const qn_tokenizer *t, const char *word, size_t len, tok_ids *out) {
    if (len == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab, word, len);
        if (id >= 0) return tok_ids_push(out, id);
    }
    symbol *s;
    int n;
    if (initial_symbols(t, word, len, &s, &n)) return 1;
    heap h = {0};
    int rc = 0;
    for (int i = 0; i + 1 < n && !rc; i++) rc = push_pair(t, &h, s, i);
    while (!rc && h.n) {
        candidate c = heap_pop(&h);
        symbol *left = &s[c.pos];
        /* stale: the left symbol was merged away, or its right neighbour changed since */
        if (!left->alive || left->next < 0) continue;
        uint32_t rank;
        int32_t merged;
        if (!merges_get(&t->merges, left->id, s[left->next].id, &rank, &merged) || merged != c.merged) continue;
        symbol *right = &s[left->next];
        left->id = merged;
        right->alive = 0;
        left->next = right->next;
        if (right->next >= 0) s[right->next].prev = c.pos;
        if (left->prev >= 0) rc = push_pair(t, &h, s, left->prev);
        if (!rc && left->next >= 0) rc = push_pair(t, &h, s, c.pos);
    }
    for (int i = 0; i < n && !rc; i = s[i].next < 0 ? n : s[i].next) rc = tok_ids_push(out, s[i].id);
    free(h.v), free(s);
    return rc;
}
