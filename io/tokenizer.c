/* tokenizer.c: encode and decode with a loaded tokenizer.json, stage by stage as the `tokenizers`
 * library does: added tokens split off first, then per remaining piece the normalizers, the
 * pre-tokenizers (regex splits, byte-level mapping, metaspace), BPE, and the post-processor's tokens;
 * decoding runs the decoder chain over the tokens' strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* A piece of text on its way to BPE, or an added token already decided. */
typedef struct {
    char *s;
    size_t n;
    int32_t added; /* the added token's id, -1 for text */
    int first;     /* starts at offset 0 of the input (Metaspace's prepend_scheme "first") */
} piece;

typedef struct {
    piece *v;
    size_t n, cap;
} pieces;

static void pieces_free(pieces *p) {
    for (size_t i = 0; i < p->n; i++) free(p->v[i].s);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Takes ownership of s (freed on failure). Empty text pieces are dropped, as the library does. */
static int pieces_push(pieces *p, char *s, size_t n, int32_t added, int first) {
    if (n == 0 && added < 0) {
        free(s);
        return 0;
    }
    piece *v = tok_grow(p->v, p->n, &p->cap, sizeof *v, 16);
    if (!v) {
        free(s);
        return 1;
    }
    p->v = v;
    p->v[p->n++] = (piece){s, n, added, first};
    return 0;
}

static int push_copy(pieces *p, const char *s, size_t n, int first) {
    char *copy = malloc(n + 1);
    if (!copy) return 1;
    memcpy(copy, s, n);
    copy[n] = 0;
    return pieces_push(p, copy, n, -1, first);
}

/* Bytes of the whitespace character (Unicode White_Space, Rust's char::is_whitespace, which the
 * library's lstrip/rstrip use) at s, n bytes left; 0 when s does not start one. */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')) return 1;
    size_t cl = tok_utf8_len(s, n);
    if (cl < 2) return 0;
    uint32_t c = s[0] & (0x7F >> cl);
    for (size_t i = 1; i < cl; i++) c = c << 6 | (s[i] & 0x3F);
    int white = c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
                c == 0x202F || c == 0x205F || c == 0x3000;
    return white ? cl : 0;
}

/* Bytes of the whitespace character that ends the n bytes at s, 0 for none. */
static size_t space_len_before(const unsigned char *s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        if (back < 3 && back < n && (s[n - back] & 0xC0) == 0x80) continue; /* inside a character */
        size_t cl = space_len(s + n - back, back);
        return cl == back ? cl : 0;
    }
    return 0;
}

/* ---- added tokens: leftmost, then longest, match ---- */

/* The text an added token is matched as in this pass (raw or normalized), NULL when it is not in it. */
static const char *added_form(const tok_added *a, int normalized_pass, size_t *len) {
    if (a->normalized != normalized_pass) return NULL;
    *len = normalized_pass ? a->norm_len : a->len;
    return normalized_pass ? a->norm_content : a->content;
}

static const tok_added *added_at(const qn_tokenizer *t, int normalized_pass, const uint8_t *first_byte, const char *s,
                                 size_t n, size_t *match_len) {
    if (!first_byte[(unsigned char)*s]) return NULL;
    const tok_added *best = NULL;
    for (int k = 0; k < t->n_added; k++) {
        size_t len;
        const char *form = added_form(&t->added[k], normalized_pass, &len);
        if (form && len <= n && (!best || len > *match_len) && memcmp(form, s, len) == 0)
            best = &t->added[k], *match_len = len;
    }
    return best;
}

/* Split text at the added tokens of one pass: first the raw text at the tokens not normalized, then
 * (normalized_pass) each normalized piece at the normalized ones, as the library's AddedVocabulary. */
static int split_added(const qn_tokenizer *t, int normalized_pass, const char *text, size_t len, int first,
                       pieces *out) {
    uint8_t first_byte[256] = {0};
    for (int k = 0; k < t->n_added; k++) {
        size_t form_len;
        const char *form = added_form(&t->added[k], normalized_pass, &form_len);
        if (form) first_byte[(unsigned char)form[0]] = 1;
    }
    size_t start = 0; /* of the pending text */
    for (size_t i = 0; i < len;) {
        size_t match_len = 0;
        const tok_added *a = added_at(t, normalized_pass, first_byte, text + i, len - i, &match_len);
        if (!a) {
            i++;
            continue;
        }
        size_t end = i;
        const unsigned char *u = (const unsigned char *)text;
        size_t cl;
        if (a->lstrip) /* the token takes the whitespace before it */
            while (end > start && (cl = space_len_before(u + start, end - start)) > 0) end -= cl;
        if (push_copy(out, text + start, end - start, first && start == 0)) return 1;
        char *none = malloc(1);
        if (!none || pieces_push(out, none, 0, a->id, first && i == 0)) return 1;
        i += match_len;
        if (a->rstrip)
            while (i < len && (cl = space_len(u + i, len - i)) > 0) i += cl;
        start = i;
    }
    return push_copy(out, text + start, len - start, first && start == 0);
}

/* ---- normalizers ---- */

static char *replace_all(const char *s, size_t n, const char *from, const char *to, size_t *out_len) {
    size_t from_len = strlen(from), to_len = strlen(to), count = 0;
    for (size_t i = 0; from_len && i + from_len <= n;)
        if (memcmp(s + i, from, from_len) == 0) count++, i += from_len;
        else i++;
    size_t len = n - count * from_len + count * to_len;
    char *r = malloc(len + 1);
    if (!r) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (from_len && i + from_len <= n && memcmp(s + i, from, from_len) == 0) {
            memcpy(r + o, to, to_len), o += to_len, i += from_len;
        } else {
            r[o++] = s[i++];
        }
    }
    r[o] = 0;
    *out_len = o;
    return r;
}

static char *prepend(const char *s, size_t n, const char *head, size_t *out_len) {
    size_t h = strlen(head);
    char *r = malloc(h + n + 1);
    if (!r) return NULL;
    memcpy(r, head, h), memcpy(r + h, s, n);
    r[h + n] = 0;
    *out_len = h + n;
    return r;
}

static int normalize(const qn_tokenizer *t, piece *p) {
    for (int k = 0; k < t->n_norm; k++) {
        const tok_normalizer *nm = &t->norm[k];
        char *r;
        size_t len;
        if (nm->kind == NORM_PREPEND) {
            if (p->n == 0) continue; /* the library prepends to non-empty text only */
            r = prepend(p->s, p->n, nm->to, &len);
        } else if (nm->kind == NORM_REPLACE) {
            r = replace_all(p->s, p->n, nm->from, nm->to, &len);
        } else {
            continue; /* NFC: the identity (docs/tokenizers.md) */
        }
        if (!r) return 1;
        free(p->s);
        p->s = r, p->n = len;
    }
    return 0;
}

int tok_normalize_text(const qn_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len) {
    piece p = {malloc(n + 1), n, -1, 1};
    if (!p.s) return 1;
    memcpy(p.s, s, n), p.s[n] = 0;
    if (normalize(t, &p)) {
        free(p.s);
        return 1;
    }
    *out = p.s, *out_len = p.n;
    return 0;
}

/* ---- pre-tokenizers ---- */

typedef struct {
    size_t start, end;
    int is_match;
} span;

/* The piece cut at the regex's matches, then joined by behavior as the library's
 * NormalizedString::split does. */
static int split_regex(const pcre2_code *re, int behavior, const piece *p, pieces *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    span *spans = malloc((2 * p->n + 2) * sizeof *spans);
    int rc = md && spans ? 0 : 1;
    size_t count = 0, prev = 0, at = 0;
    while (!rc && at <= p->n) {
        int m = pcre2_match(re, (PCRE2_SPTR)p->s, p->n, at, 0, md, NULL);
        /* the JIT's stack is small; the interpreter's backtracking lives on the heap */
        if (m == PCRE2_ERROR_JIT_STACKLIMIT) m = pcre2_match(re, (PCRE2_SPTR)p->s, p->n, at, PCRE2_NO_JIT, md, NULL);
        if (m < 0) break; /* no more matches (or a match limit hit: the rest stays one piece) */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty: nothing to split off; step over one character */
            if (ms >= p->n) break;
            at = ms + tok_utf8_len((const unsigned char *)p->s + ms, p->n - ms);
            continue;
        }
        if (ms > prev) spans[count++] = (span){prev, ms, 0};
        spans[count++] = (span){ms, me, 1};
        prev = at = me;
    }
    if (prev < p->n) spans[count++] = (span){prev, p->n, 0};
    pcre2_match_data_free(md);
    /* join */
    size_t joined = 0;
    if (!rc && behavior == SPLIT_MERGED_PREV) {
        int prev_match = 0;
        for (size_t i = 0; i < count; i++) {
            int m = spans[i].is_match;
            if (m && !prev_match && joined) spans[joined - 1].end = spans[i].end;
            else spans[joined++] = (span){spans[i].start, spans[i].end, 0};
            prev_match = m;
        }
        count = joined;
    } else if (!rc && behavior == SPLIT_MERGED_NEXT) {
        int next_match = 0; /* walking backwards: whether the span after this one is a match */
        size_t w = count;
        for (size_t i = count; i-- > 0;) {
            int m = spans[i].is_match;
            if (m && !next_match && w < count) spans[w].start = spans[i].start;
            else spans[--w] = (span){spans[i].start, spans[i].end, 0};
            next_match = m;
        }
        memmove(spans, spans + w, (count - w) * sizeof *spans);
        count -= w;
    }
    for (size_t i = 0; i < count && !rc; i++) {
        if (behavior == SPLIT_REMOVED && spans[i].is_match) continue;
        rc = push_copy(out, p->s + spans[i].start, spans[i].end - spans[i].start, p->first && spans[i].start == 0);
    }
    free(spans);
    return rc;
}

/* Every byte as its GPT-2 character (UTF-8, one or two bytes). */
static int byte_level_map(const qn_tokenizer *t, piece *p) {
    char *r = malloc(2 * p->n + 1);
    if (!r) return 1;
    size_t o = 0;
    for (size_t i = 0; i < p->n; i++) {
        uint16_t c = t->byte_char[(unsigned char)p->s[i]];
        if (c < 0x80) r[o++] = (char)c;
        else r[o++] = (char)(0xC0 | c >> 6), r[o++] = (char)(0x80 | (c & 0x3F));
    }
    r[o] = 0;
    free(p->s);
    p->s = r, p->n = o;
    return 0;
}

static int pretokenize_one(const qn_tokenizer *t, const tok_pretokenizer *pt, piece *p, pieces *out) {
    if (pt->kind == PRE_SPLIT) return split_regex(pt->re, pt->behavior, p, out);
    if (pt->kind == PRE_BYTELEVEL) {
        if (pt->add_prefix_space && p->s[0] != ' ') {
            size_t len;
            char *r = prepend(p->s, p->n, " ", &len);
            if (!r) return 1;
            free(p->s);
            p->s = r, p->n = len;
        }
        pieces parts = {0};
        int rc = 0;
        if (pt->use_regex) rc = split_regex(pt->re, SPLIT_ISOLATED, p, &parts);
        else rc = push_copy(&parts, p->s, p->n, p->first);
        for (size_t i = 0; i < parts.n && !rc; i++) rc = byte_level_map(t, &parts.v[i]);
        for (size_t i = 0; i < parts.n && !rc; i++) {
            rc = pieces_push(out, parts.v[i].s, parts.v[i].n, -1, parts.v[i].first);
            parts.v[i].s = NULL;
        }
        pieces_free(&parts);
        return rc;
    }
    /* Metaspace: spaces become the replacement, which may start the text, and pieces start at it */
    size_t len;
    char *r = replace_all(p->s, p->n, " ", pt->replacement, &len);
    if (!r) return 1;
    size_t rl = strlen(pt->replacement);
    int starts = len >= rl && memcmp(r, pt->replacement, rl) == 0;
    if (!starts && (pt->prepend_scheme == PREPEND_ALWAYS || (pt->prepend_scheme == PREPEND_FIRST && p->first))) {
        char *q = prepend(r, len, pt->replacement, &len);
        free(r);
        if (!(r = q)) return 1;
    }
    if (!pt->split) return pieces_push(out, r, len, -1, p->first);
    piece whole = {r, len, -1, p->first};
    int rc = split_regex(pt->re, SPLIT_MERGED_NEXT, &whole, out);
    free(r);
    return rc;
}

static int pretokenize(const qn_tokenizer *t, pieces *p) {
    for (int k = 0; k < t->n_pre; k++) {
        pieces next = {0};
        int rc = 0;
        for (size_t i = 0; i < p->n && !rc; i++) {
            if (p->v[i].added >= 0) {
                rc = pieces_push(&next, p->v[i].s, 0, p->v[i].added, p->v[i].first);
                p->v[i].s = NULL;
            } else {
                rc = pretokenize_one(t, &t->pre[k], &p->v[i], &next);
            }
        }
        pieces_free(p);
        *p = next;
        if (rc) return 1;
    }
    return 0;
}

int qn_tokenizer_encode(const qn_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
                        size_t *n) {
    *ids = NULL, *n = 0;
    pieces p = {0};
    tok_ids out = {0};
    int rc = split_added(t, 0, text, len, 1, &p);
    for (size_t i = 0; i < p.n && !rc; i++)
        if (p.v[i].added < 0) rc = normalize(t, &p.v[i]);
    if (!rc && t->n_added_normalized) { /* the normalized text at the normalized added tokens */
        pieces split = {0};
        for (size_t i = 0; i < p.n && !rc; i++) {
            if (p.v[i].added >= 0) {
                rc = pieces_push(&split, p.v[i].s, 0, p.v[i].added, p.v[i].first);
                p.v[i].s = NULL;
            } else {
                rc = split_added(t, 1, p.v[i].s, p.v[i].n, p.v[i].first, &split);
            }
        }
        pieces_free(&p);
        p = split;
    }
    if (!rc) rc = pretokenize(t, &p);
    for (int i = 0; add_special && i < t->n_prefix && !rc; i++) rc = tok_ids_push(&out, t->prefix[i]);
    for (size_t i = 0; i < p.n && !rc; i++)
        rc = p.v[i].added >= 0 ? tok_ids_push(&out, p.v[i].added) : tok_bpe_word(t, p.v[i].s, p.v[i].n, &out);
    for (int i = 0; add_special && i < t->n_suffix && !rc; i++) rc = tok_ids_push(&out, t->suffix[i]);
    pieces_free(&p);
    if (rc) {
        free(out.v);
        return 1;
    }
    if (!out.v && !(out.v = malloc(sizeof *out.v))) return 1; /* a valid pointer for zero ids */
    *ids = out.v, *n = out.n;
    return 0;
}

/* ---- decoding: the decoder chain maps a list of strings to a list of strings ---- */

typedef struct {
    char *s;
    size_t n;
} str;

typedef struct {
    str *v;
    size_t n, cap;
} strs;

static void strs_free(strs *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].s);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int strs_push(strs *l, char *s, size_t n) {
    if (!s) return 1;
    str *v = tok_grow(l->v, l->n, &l->cap, sizeof *v, 16);
    if (!v) {
        free(s);
        return 1;
    }
    l->v = v;
    l->v[l->n++] = (str){s, n};
    return 0;
}

static char *copy_bytes(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (r) memcpy(r, s, n), r[n] = 0;
    return r;
}

/* All strings joined by sep. */
static char *join(const strs *l, const char *sep, size_t *out_len) {
    size_t sl = strlen(sep), len = 0;
    for (size_t i = 0; i < l->n; i++) len += l->v[i].n + (i ? sl : 0);
    char *r = malloc(len + 1);
    if (!r) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (i) memcpy(r + o, sep, sl), o += sl;
        memcpy(r + o, l->v[i].s, l->v[i].n), o += l->v[i].n;
    }
    r[o] = 0;
    *out_len = o;
    return r;
}

/* The code point at s (a valid character of cl bytes). */
static uint32_t code_point(const unsigned char *s, size_t cl) {
    if (cl == 1) return s[0];
    uint32_t cp = s[0] & (0x7F >> cl);
    for (size_t i = 1; i < cl; i++) cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

/* A byte-level token back to bytes; a token with a character outside the map stays as it is. */
static int byte_level_unmap(const qn_tokenizer *t, const str *tok, char *out, size_t *o) {
    size_t start = *o;
    for (size_t i = 0; i < tok->n;) {
        size_t cl = tok_utf8_len((const unsigned char *)tok->s + i, tok->n - i);
        uint32_t cp = code_point((const unsigned char *)tok->s + i, cl);
        if ((cl == 1 && (unsigned char)tok->s[i] >= 0x80) || cp >= 324 || t->char_byte[cp] < 0) {
            memcpy(out + start, tok->s, tok->n);
            *o = start + tok->n;
            return 0;
        }
        out[(*o)++] = (char)t->char_byte[cp];
        i += cl;
    }
    return 0;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int byte_token_value(const str *tok) {
    if (tok->n != 6 || memcmp(tok->s, "<0x", 3) != 0 || tok->s[5] != '>') return -1;
    int hi = hex_digit(tok->s[3]), lo = hex_digit(tok->s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int decode_step(const qn_tokenizer *t, const tok_decoder *d, strs *in, strs *out) {
    int rc = 0;
    if (d->kind == DEC_BYTELEVEL || d->kind == DEC_FUSE) {
        size_t total = 0, o = 0;
        for (size_t i = 0; i < in->n; i++) total += in->v[i].n;
        char *r = malloc(total + 1);
        if (!r) return 1;
        for (size_t i = 0; i < in->n; i++) {
            if (d->kind == DEC_BYTELEVEL) byte_level_unmap(t, &in->v[i], r, &o);
            else memcpy(r + o, in->v[i].s, in->v[i].n), o += in->v[i].n;
        }
        r[o] = 0;
        return strs_push(out, r, o);
    }
    if (d->kind == DEC_BYTEFALLBACK) {
        /* runs of <0xXX> tokens become their bytes (kept as bytes, not checked as UTF-8) */
        char *run = malloc(in->n + 1);
        size_t run_len = 0;
        if (!run) return 1;
        for (size_t i = 0; i <= in->n && !rc; i++) {
            int b = i < in->n ? byte_token_value(&in->v[i]) : -1;
            if (b >= 0) {
                run[run_len++] = (char)b;
                continue;
            }
            if (run_len) rc = strs_push(out, copy_bytes(run, run_len), run_len), run_len = 0;
            if (i < in->n && !rc) rc = strs_push(out, copy_bytes(in->v[i].s, in->v[i].n), in->v[i].n);
        }
        free(run);
        return rc;
    }
    for (size_t i = 0; i < in->n && !rc; i++) {
        const str *tok = &in->v[i];
        size_t len = 0;
        if (d->kind == DEC_REPLACE) {
            char *r = replace_all(tok->s, tok->n, d->from, d->to, &len);
            rc = strs_push(out, r, len);
        } else if (d->kind == DEC_METASPACE) {
            /* the first token loses its replacement characters (the prefix space), as the library does */
            int drop = i == 0 && d->prepend_scheme != PREPEND_NEVER;
            char *r = replace_all(tok->s, tok->n, d->from, drop ? "" : " ", &len);
            rc = strs_push(out, r, len);
        } else { /* STRIP: up to start leading and stop trailing copies of the content character */
            size_t cl = strlen(d->strip), lo = 0, hi = tok->n;
            for (int k = 0; k < d->start && lo + cl <= hi && memcmp(tok->s + lo, d->strip, cl) == 0; k++) lo += cl;
            for (int k = 0; k < d->stop && hi >= lo + cl && memcmp(tok->s + hi - cl, d->strip, cl) == 0; k++) hi -= cl;
            rc = strs_push(out, copy_bytes(tok->s + lo, hi - lo), hi - lo);
        }
    }
    return rc;
}

int qn_tokenizer_decode(const qn_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text,
                        size_t *len, char *err, size_t errlen) {
    *text = NULL, *len = 0;
    strs cur = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids || !t->id_token[ids[i]]) {
            snprintf(err, errlen, "token id %d is not in the vocabulary (%d ids)", (int)ids[i], (int)t->n_ids);
            strs_free(&cur);
            return 2;
        }
        if (skip_special && t->id_special[ids[i]]) continue;
        rc = strs_push(&cur, copy_bytes(t->id_token[ids[i]], t->id_len[ids[i]]), t->id_len[ids[i]]);
    }
    for (int k = 0; k < t->n_dec && !rc; k++) {
        strs next = {0};
        rc = decode_step(t, &t->dec[k], &cur, &next);
        strs_free(&cur);
        cur = next;
    }
    /* without a decoder the library joins tokens with spaces */
    if (!rc && !(*text = join(&cur, t->n_dec ? "" : " ", len))) rc = 1;
    strs_free(&cur);
    if (rc == 1) snprintf(err, errlen, "out of memory");
    return rc;
}

int32_t qn_tokenizer_vocab_size(const qn_tokenizer *t) { return t->n_ids; }

int32_t qn_tokenizer_token_id(const qn_tokenizer *t, const char *token) {
    int32_t id = tok_strmap_get(&t->added_map, token, strlen(token));
    return id >= 0 ? id : tok_strmap_get(&t->vocab, token, strlen(token));
}

const char *qn_tokenizer_id_token(const qn_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->id_token[id] : NULL;
}

int qn_tokenizer_is_special(const qn_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && t->id_special[id];
}
