/* check.c: the values quench submit writes into an sbatch script. Everything is checked against a
 * whitelist before it gets near the script, so nothing a user types is ever interpreted by a shell
 * or by sbatch's #SBATCH parser. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_slurm.h"

int qn_slurm_check_name(const char *what, const char *s, char *err, size_t errlen) {
    if (!s || !*s) {
        snprintf(err, errlen, "%s: empty name", what);
        return -1;
    }
    size_t n = strlen(s);
    if (n >= QN_SLURM_MAX_NAME) {
        snprintf(err, errlen, "%s: name longer than %d characters", what, QN_SLURM_MAX_NAME - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '.' || c == '-';
        if (!ok) {
            /* Print the offending byte as a code, never raw: it may be a newline or escape. */
            snprintf(err, errlen, "%s: character 0x%02x at position %zu is not allowed in a name (use A-Z a-z 0-9 _ . -)",
                     what, (unsigned char)c, i + 1);
            return -1;
        }
    }
    return 0;
}

/* Digits only, 1..maxlen of them; the value in *v. */
static int field(const char *s, size_t len, size_t maxlen, long *v) {
    if (len == 0 || len > maxlen) return -1;
    long x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int qn_slurm_check_time(const char *what, const char *s, char *err, size_t errlen) {
    static const char *formats = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS";
    if (!s || !*s || strlen(s) > 20) goto bad;
    const char *rest = s;
    const char *dash = strchr(s, '-');
    long days = -1, f[3];
    int nf = 0;
    if (dash) {
        if (field(s, (size_t)(dash - s), 3, &days) != 0) goto bad;
        rest = dash + 1;
    }
    for (const char *p = rest;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (nf == 3) goto bad;
        /* A lone minutes field may exceed 59 (Slurm reads "90" as 1:30:00); others are clock fields. */
        size_t maxlen = (!dash && nf == 0) ? 6 : 2;
        if (field(p, len, maxlen, &f[nf]) != 0) goto bad;
        nf++;
        if (!colon) break;
        p = colon + 1;
    }
    /* With days: HH, HH:MM, HH:MM:SS. Without: MM, MM:SS, HH:MM:SS. */
    long total;
    if (dash) {
        if (f[0] > 23 || (nf > 1 && f[1] > 59) || (nf > 2 && f[2] > 59)) goto bad;
        total = days + f[0] + (nf > 1 ? f[1] : 0) + (nf > 2 ? f[2] : 0);
    } else if (nf == 1) {
        total = f[0];
    } else if (nf == 2) {
        if (f[1] > 59) goto bad;
        total = f[0] + f[1];
    } else {
        if (f[1] > 59 || f[2] > 59) goto bad;
        total = f[0] + f[1] + f[2];
    }
    if (total == 0) {
        snprintf(err, errlen, "%s: a time limit of zero is not a limit", what);
        return -1;
    }
    return 0;
bad:
    snprintf(err, errlen, "%s: not a Slurm time (%s)", what, formats);
    return -1;
}

int qn_slurm_check_path(const char *what, const char *s, int in_directive, char *err, size_t errlen) {
    if (!s || s[0] != '/') {
        snprintf(err, errlen, "%s: not an absolute path", what);
        return -1;
    }
    if (strlen(s) > 4000) {
        snprintf(err, errlen, "%s: path too long", what);
        return -1;
    }
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Inside single quotes only ' ends the string, but a path with $, ` or \ is one a later
         * edit of the script could easily break; refusing them costs nothing real. */
        int bad = c < 0x20 || c == 0x7f || c == '\'' || c == '"' || c == '$' || c == '`' || c == '\\';
        /* #SBATCH lines: Slurm splits on blanks and expands %j, %x, ... in --output/--error. */
        if (in_directive && (c == ' ' || c == '%')) bad = 1;
        if (bad) {
            snprintf(err, errlen, "%s: character 0x%02x at position %zu is not allowed in a path written into the batch script%s",
                     what, c, i + 1, in_directive ? " (no quotes, blanks, %, $, backticks, backslashes or control characters)"
                                                  : " (no quotes, $, backticks, backslashes or control characters)");
            return -1;
        }
    }
    return 0;
}

int qn_slurm_parse_count(const char *what, const char *s, int max, int *out, char *err, size_t errlen) {
    long v;
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > 9 || field(s, len, 9, &v) != 0 || v < 1 || v > max) {
        snprintf(err, errlen, "%s: expected a whole number from 1 to %d", what, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int qn_slurm_parse_gpus(const char *spec, qn_slurm_request *req, char *err, size_t errlen) {
    req->ntypes = 0;
    if (!spec || !*spec) {
        snprintf(err, errlen, "--gpus: expected TYPE:N[,TYPE:N...]");
        return -1;
    }
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (!colon) {
            snprintf(err, errlen, "--gpus: expected TYPE:N[,TYPE:N...], e.g. l40s:4,rtx2080ti:8");
            return -1;
        }
        if (req->ntypes == QN_SLURM_MAX_TYPES) {
            snprintf(err, errlen, "--gpus: at most %d GPU types", QN_SLURM_MAX_TYPES);
            return -1;
        }
        qn_slurm_gpus *g = &req->gpus[req->ntypes];
        size_t tlen = (size_t)(colon - p);
        char num[16];
        size_t nlen = len - tlen - 1;
        if (tlen >= sizeof g->type) tlen = sizeof g->type - 1; /* check_name then reports the length */
        memcpy(g->type, p, tlen);
        g->type[tlen] = 0;
        if ((size_t)(colon - p) >= sizeof g->type) {
            snprintf(err, errlen, "--gpus: GPU type longer than %d characters", QN_SLURM_MAX_NAME - 1);
            return -1;
        }
        if (qn_slurm_check_name("--gpus: GPU type", g->type, err, errlen) != 0) return -1;
        if (nlen >= sizeof num) nlen = sizeof num - 1; /* too long a number: parse_count refuses it */
        memcpy(num, colon + 1, nlen);
        num[nlen] = 0;
        char what[QN_SLURM_MAX_NAME + 32];
        snprintf(what, sizeof what, "--gpus: count of %s", g->type);
        if (qn_slurm_parse_count(what, num, QN_SLURM_MAX_GPUS, &g->count, err, errlen) != 0) return -1;
        for (int i = 0; i < req->ntypes; i++)
            if (strcmp(req->gpus[i].type, g->type) == 0) {
                snprintf(err, errlen, "--gpus: %s is named twice", g->type);
                return -1;
            }
        req->ntypes++;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}
