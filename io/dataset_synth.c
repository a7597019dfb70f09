/* dataset_synth.c: the built-in synthetic sentiment reviews and their tokenizer. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "qn_dataset.h"
#include "qn_kernels.h"

static const char *const positive[] = {
    "good", "great", "excellent", "wonderful", "brilliant", "superb", "amazing", "enjoyable", "moving", "charming",
    "delightful", "clever", "beautiful", "gripping", "fun", "funny", "fantastic", "memorable", "stunning", "touching",
    "engaging", "fresh", "powerful", "solid", "perfect", "impressive", "entertaining", "thrilling", "smart", "lovely"};
static const char *const negative[] = {
    "bad", "terrible", "awful", "boring", "dull", "poor", "weak", "horrible", "predictable", "bland",
    "tedious", "disappointing", "forgettable", "messy", "silly", "clumsy", "lifeless", "painful", "mediocre", "annoying",
    "slow", "shallow", "stupid", "flat", "lazy", "confusing", "pointless", "ugly", "cheap", "tiresome"};
static const char *const subjects[] = {
    "the movie", "this film", "the plot", "the acting", "the story", "the soundtrack", "the ending", "the director",
    "the cast", "the dialogue", "the script", "the cinematography", "the pacing", "the characters", "the effects",
    "the lead actor", "the music", "the first half", "the second half", "the editing"};
static const char *const verbs[] = {"was", "is", "felt", "seemed", "looked", "sounded", "remained", "became"};
static const char *const intensifiers[] = {"very", "really", "truly", "absolutely", "quite", "rather",
                                           "extremely", "so", "incredibly", "pretty"};
static const char *const negations[] = {"not", "never", "hardly"};
static const char *const openers[] = {"honestly", "overall", "i think", "in the end", "to be fair", "frankly",
                                      "all in all", "for me", "i felt that", "as a whole"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---------------------------------------------------------------- vocabulary */

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", ".", ",", "but", "and", "although"};

typedef struct {
    int n;
    const char *tok[512];
} vocab_t;

static vocab_t g_vocab;

static void vocab_add_words(const char *phrase) {
    /* A phrase adds each of its words once. */
    char buf[64];
    size_t len = strlen(phrase);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && phrase[j] != ' ') j++;
        memcpy(buf, phrase + i, j - i);
        buf[j - i] = 0;
        int found = 0;
        for (int k = 0; k < g_vocab.n && !found; k++) found = strcmp(g_vocab.tok[k], buf) == 0;
        if (!found) g_vocab.tok[g_vocab.n++] = strdup(buf);
        i = j + 1;
    }
}

static void vocab_init(void) {
    if (g_vocab.n) return;
    for (int i = 0; i < COUNT(specials); i++) g_vocab.tok[g_vocab.n++] = specials[i];
    const char *const *lists[] = {positive, negative, subjects, verbs, intensifiers, negations, openers};
    const int sizes[] = {COUNT(positive), COUNT(negative), COUNT(subjects), COUNT(verbs), COUNT(intensifiers),
                         COUNT(negations), COUNT(openers)};
    for (int l = 0; l < 7; l++)
        for (int i = 0; i < sizes[l]; i++) vocab_add_words(lists[l][i]);
}

int qn_synth_vocab_size(void) {
    vocab_init();
    return g_vocab.n;
}

const char *qn_synth_token(int id) {
    vocab_init();
    return id >= 0 && id < g_vocab.n ? g_vocab.tok[id] : NULL;
}

static int lookup(const char *word) {
    for (int k = 0; k < g_vocab.n; k++)
        if (strcmp(g_vocab.tok[k], word) == 0) return k;
    return QN_TOK_UNK;
}

int qn_synth_encode(const char *text, int32_t *ids, int max_len) {
    vocab_init();
    int n = 0;
    if (max_len < 2) return 0;
    ids[n++] = QN_TOK_CLS;
    char word[128];
    const char *p = text;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        size_t w = 0;
        if (ispunct((unsigned char)*p)) {
            word[w++] = *p++;
        } else {
            while (*p && !isspace((unsigned char)*p) && !ispunct((unsigned char)*p)) {
                if (w < sizeof word - 1) word[w++] = (char)tolower((unsigned char)*p);
                p++;
            }
        }
        word[w] = 0;
        if (n < max_len - 1) ids[n++] = lookup(word);
    }
    ids[n++] = QN_TOK_SEP;
    for (int i = n; i < max_len; i++) ids[i] = QN_TOK_PAD;
    return n;
}

/* ---------------------------------------------------------------- grammar */

typedef struct {
    char *buf;
    size_t len, cap;
} text_t;

static void put(text_t *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n + 2 > t->cap) {
        t->cap = (t->len + n + 2) * 2;
        t->buf = realloc(t->buf, t->cap);
    }
    if (t->len && s[0] != ',' && s[0] != '.') t->buf[t->len++] = ' ';
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static const char *pick(qn_rng *r, const char *const *list, int n) { return list[qn_rng_below(r, (uint64_t)n)]; }

/* One clause with the given polarity (+1 / -1): subject verb [negation] [intensifier] adjective.
 * A negation flips the adjective, so half the clauses of each polarity say it through "not". */
static void clause(text_t *t, qn_rng *r, int polarity) {
    put(t, pick(r, subjects, COUNT(subjects)));
    put(t, pick(r, verbs, COUNT(verbs)));
    int negated = qn_rng_uniform(r) < 0.35f;
    if (negated) put(t, pick(r, negations, COUNT(negations)));
    if (qn_rng_uniform(r) < 0.4f) put(t, pick(r, intensifiers, COUNT(intensifiers)));
    int adj_pol = negated ? -polarity : polarity;
    put(t, adj_pol > 0 ? pick(r, positive, COUNT(positive)) : pick(r, negative, COUNT(negative)));
}

/* A review with a label: 40% contrasts ("X, but Y" with X and Y of opposite polarity: the same
 * words with the clauses swapped mean the opposite), 15% two agreeing clauses, the rest single
 * clauses (some negated). */
static char *review(qn_rng *r, int *label) {
    text_t t = {0};
    int pol = qn_rng_uniform(r) < 0.5f ? 1 : -1;
    if (qn_rng_uniform(r) < 0.25f) {
        put(&t, pick(r, openers, COUNT(openers)));
        put(&t, ",");
    }
    float kind = qn_rng_uniform(r);
    if (kind < 0.40f) {
        if (qn_rng_uniform(r) < 0.2f) {
            /* "although X, Y": the main clause decides, as with "but". */
            put(&t, "although");
            clause(&t, r, -pol);
            put(&t, ",");
            clause(&t, r, pol);
        } else {
            clause(&t, r, -pol);
            put(&t, ",");
            put(&t, "but");
            clause(&t, r, pol);
        }
    } else if (kind < 0.55f) {
        clause(&t, r, pol);
        put(&t, "and");
        clause(&t, r, pol);
    } else {
        clause(&t, r, pol);
    }
    put(&t, ".");
    *label = pol > 0;
    return t.buf;
}

qn_dataset *qn_synth_generate(uint64_t seed, int split, int n, int max_len, double label_noise) {
    vocab_init();
    qn_dataset *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->n = n;
    d->max_len = max_len;
    d->ids = malloc((size_t)n * (size_t)max_len * sizeof *d->ids + 1);
    d->lengths = malloc((size_t)n * sizeof *d->lengths + 1);
    d->labels = malloc((size_t)n * sizeof *d->labels + 1);
    d->clean_labels = malloc((size_t)n * sizeof *d->clean_labels + 1);
    d->texts = calloc((size_t)n + 1, sizeof *d->texts);
    if (!d->ids || !d->lengths || !d->labels || !d->clean_labels || !d->texts) {
        qn_dataset_free(d);
        return NULL;
    }
    /* Independent streams per split: the text stream and the noise stream. */
    qn_rng text_rng, noise_rng;
    qn_rng_seed(&text_rng, qn_splitmix64(seed ^ (0x5eed0000ull + (uint64_t)split)));
    qn_rng_seed(&noise_rng, qn_splitmix64(seed ^ (0x401e0000ull + (uint64_t)split)));
    for (int i = 0; i < n; i++) {
        int label;
        d->texts[i] = review(&text_rng, &label);
        d->clean_labels[i] = label;
        int flip = split == QN_SPLIT_TRAIN && qn_rng_uniform(&noise_rng) < (float)label_noise;
        d->labels[i] = flip ? !label : label;
        d->lengths[i] = qn_synth_encode(d->texts[i], d->ids + (size_t)i * (size_t)max_len, max_len);
    }
    return d;
}

void qn_dataset_free(qn_dataset *d) {
    if (!d) return;
    if (d->texts)
        for (int i = 0; i < d->n; i++) free(d->texts[i]);
    free(d->texts);
    free(d->ids);
    free(d->lengths);
    free(d->labels);
    free(d->clean_labels);
    free(d);
}
