/* cmd_tokenize.c: quench tokenize --tokenizer FILE.json [--decode] [--no-special] [--tokens] TEXT... */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qn_tokenizer.h"

static const char *help =
    "usage: quench tokenize --tokenizer FILE.json [--no-special] [--tokens] [TEXT...]\n"
    "       quench tokenize --tokenizer FILE.json --decode [--no-special] [ID...]\n"
    "\n"
    "Encode text with a Hugging Face tokenizer.json (byte-level BPE as Llama 3 and Phi-2, or\n"
    "SentencePiece-style BPE with byte fallback as Phi-3; docs/tokenizers.md): one line of ids per\n"
    "TEXT, or for all of standard input when no TEXT is given. With --decode, the ids (arguments,\n"
    "each may hold several separated by spaces or commas, or standard input) are decoded to text.\n"
    "\n"
    "  --tokenizer FILE  the tokenizer.json (a model directory's)\n"
    "  --decode          decode ids instead of encoding text\n"
    "  --no-special      encoding: no BOS/EOS from the post-processor; decoding: leave special\n"
    "                    tokens out (special tokens written in the text are still matched)\n"
    "  --tokens          print the tokens (as stored in the file) instead of the ids\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit codes: 0 done, 2 bad input (a malformed or unsupported file, an unknown id), 1 internal failure.\n";

static int encode_one(const qn_tokenizer *t, const char *text, size_t len, int add_special, int tokens) {
    int32_t *ids;
    size_t n;
    if (qn_tokenizer_encode(t, text, len, add_special, &ids, &n)) {
        fprintf(stderr, "quench: tokenize: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(' ');
        if (tokens) fputs(qn_tokenizer_id_token(t, ids[i]), stdout);
        else printf("%d", (int)ids[i]);
    }
    putchar('\n');
    free(ids);
    return 0;
}

/* All of standard input, NUL-terminated; *len excludes the NUL. */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    *len = 0;
    while (buf) {
        size_t got = fread(buf + *len, 1, cap - *len, stdin);
        *len += got;
        if (got == 0) break;
        if (*len == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) free(buf);
            buf = grown;
        }
    }
    if (buf) buf[*len] = 0; /* there is room: the loop grows the buffer whenever it is full */
    return buf;
}

static int decode(const qn_tokenizer *t, char **args, int n_args, int skip_special) {
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    for (int a = 0; a < n_args; a++) {
        for (char *s = args[a]; *s;) {
            if (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') {
                s++;
                continue;
            }
            char *end;
            errno = 0;
            long v = strtol(s, &end, 10);
            if (end == s || errno || v < 0 || v > INT32_MAX || (*end && !strchr(" ,\t\n", *end))) {
                free(ids);
                return qn_usage_error("tokenize", "'%s' is not a list of token ids", args[a]);
            }
            if (n == cap) {
                int32_t *grown = realloc(ids, (cap = cap ? 2 * cap : 64) * sizeof *ids);
                if (!grown) {
                    free(ids);
                    return 1;
                }
                ids = grown;
            }
            ids[n++] = (int32_t)v;
            s = end;
        }
    }
    char *text, err[256];
    size_t len;
    int rc = qn_tokenizer_decode(t, ids, n, skip_special, &text, &len, err, sizeof err);
    free(ids);
    if (rc) {
        fprintf(stderr, "quench: tokenize: %s\n", err);
        return rc;
    }
    fwrite(text, 1, len, stdout);
    putchar('\n');
    free(text);
    return 0;
}

int qn_cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int decoding = 0, no_special = 0, tokens = 0, first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (qn_is_help(argv[i])) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--tokenizer")) {
            if (++i >= argc) return qn_usage_error("tokenize", "--tokenizer needs a file");
            path = argv[i];
        } else if (!strcmp(argv[i], "--decode")) {
            decoding = 1;
        } else if (!strcmp(argv[i], "--no-special")) {
            no_special = 1;
        } else if (!strcmp(argv[i], "--tokens")) {
            tokens = 1;
        } else if (!strcmp(argv[i], "--")) {
            first_text = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return qn_usage_error("tokenize", "unknown option '%s'", argv[i]);
        } else {
            first_text = i;
            break;
        }
    }
    if (!path) return qn_usage_error("tokenize", "--tokenizer FILE.json is required");
    if (decoding && tokens) return qn_usage_error("tokenize", "--tokens is for encoding");
    qn_tokenizer *t;
    char err[512];
    int rc = qn_tokenizer_load(path, &t, err, sizeof err);
    if (rc) {
        fprintf(stderr, "quench: tokenize: %s\n", err);
        return rc;
    }
    if (decoding && first_text < argc) {
        rc = decode(t, argv + first_text, argc - first_text, no_special);
    } else if (decoding) {
        size_t len;
        char *ids = read_stdin(&len);
        rc = ids ? decode(t, &ids, 1, no_special) : 1;
        free(ids);
    } else if (first_text < argc) {
        for (int i = first_text; i < argc && !rc; i++) rc = encode_one(t, argv[i], strlen(argv[i]), !no_special, tokens);
    } else {
        size_t len;
        char *text = read_stdin(&len);
        rc = text ? encode_one(t, text, len, !no_special, tokens) : 1;
        free(text);
    }
    qn_tokenizer_free(t);
    return rc;
}
