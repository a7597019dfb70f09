/* format_spec.c: format names, MASE's keys and defaults, "NAME:key=value,..." parsing and checks. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_formats.h"

typedef struct {
    const char *name;
    const char *keys;     /* every key the format takes */
    const char *required; /* keys without a default */
} format_info;

static const format_info infos[QN_FMT_COUNT] = {
    [QN_FMT_NONE] = {"none", "", ""},
    [QN_FMT_INTEGER] = {"integer", "width,frac_width", "width,frac_width"},
    [QN_FMT_MINIFLOAT_DENORM] = {"minifloat_denorm", "width,exponent_width,exponent_bias", "width,exponent_width"},
    [QN_FMT_MINIFLOAT_IEEE] = {"minifloat_ieee", "width,exponent_width,exponent_bias", "width,exponent_width"},
    [QN_FMT_LOG] = {"log", "width,exponent_bias", "width"},
    [QN_FMT_BLOCK_FP] = {"block_fp", "width,exponent_width,exponent_bias,block_size", ""},
    [QN_FMT_BLOCK_MINIFLOAT] = {"block_minifloat", "width,exponent_width,exponent_bias_width,block_size",
                                "width,exponent_width,exponent_bias_width"},
    [QN_FMT_BLOCK_LOG] = {"block_log", "width,exponent_bias_width,block_size", "width,exponent_bias_width"},
    [QN_FMT_BINARY] = {"binary", "bipolar", ""},
    [QN_FMT_TERNARY] = {"ternary", "scaling_factor", ""},
    [QN_FMT_MXINT] = {"mxint", "width,block_size", ""},
    [QN_FMT_MXFP] = {"mxfp", "exponent_width,frac_width,block_size", "exponent_width,frac_width"},
    [QN_FMT_INT8] = {"int8", "threshold", ""},
    [QN_FMT_NF4] = {"nf4", "block_size,double_quant", ""},
    [QN_FMT_FP4] = {"fp4", "block_size,double_quant", ""},
    [QN_FMT_FP16] = {"fp16", "", ""},
    [QN_FMT_BF16] = {"bf16", "", ""},
};

const char *qn_format_name(qn_format_kind kind) {
    return kind >= 0 && kind < QN_FMT_COUNT ? infos[kind].name : "?";
}

qn_format_kind qn_format_kind_of(const char *name) {
    for (int k = 0; k < QN_FMT_COUNT; k++)
        if (strcmp(infos[k].name, name) == 0) return (qn_format_kind)k;
    return QN_FMT_NONE;
}

const char *qn_format_names(void) {
    return "integer, minifloat_denorm, minifloat_ieee, log, block_fp, block_minifloat, block_log, binary, "
           "ternary, mxint, mxfp, int8, nf4, fp4, fp16, bf16";
}

const char *qn_format_keys(qn_format_kind kind) { return kind >= 0 && kind < QN_FMT_COUNT ? infos[kind].keys : ""; }

/* "a,b,c" -> "a, b, c" */
static const char *spaced(const char *list, char *buf, size_t len) {
    size_t n = 0;
    for (const char *p = list; *p && n + 3 < len; p++) {
        buf[n++] = *p;
        if (*p == ',') buf[n++] = ' ';
    }
    buf[n] = 0;
    return buf;
}

static int in_list(const char *list, const char *key) {
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, key, n) == 0) return 1;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

/* Outside every key's range (qn_format_set takes |value| <= 1e6): -1 is a valid frac_width. */
#define UNSET INT_MIN

void qn_format_defaults(qn_format_kind kind, qn_format *f) {
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->width = f->frac_width = f->exponent_width = f->exponent_bias_width = UNSET;
    f->exponent_bias = QN_BIAS_DEFAULT;
    f->block_size = UNSET;
    switch (kind) {
    case QN_FMT_BLOCK_FP: /* MASE's block_fp defaults */
        f->width = 12, f->exponent_width = 8, f->block_size = 16;
        break;
    case QN_FMT_BLOCK_MINIFLOAT:
    case QN_FMT_BLOCK_LOG: f->block_size = 16; break;
    case QN_FMT_MXINT: f->width = 8, f->block_size = 32; break; /* MXINT8 */
    case QN_FMT_MXFP: f->block_size = 32; break;
    case QN_FMT_NF4:
    case QN_FMT_FP4: f->block_size = 64; break; /* bitsandbytes */
    default: break;
    }
}

static int *int_field(qn_format *f, const char *key) {
    if (!strcmp(key, "width")) return &f->width;
    if (!strcmp(key, "frac_width")) return &f->frac_width;
    if (!strcmp(key, "exponent_width")) return &f->exponent_width;
    if (!strcmp(key, "exponent_bias")) return &f->exponent_bias;
    if (!strcmp(key, "exponent_bias_width")) return &f->exponent_bias_width;
    if (!strcmp(key, "block_size")) return &f->block_size;
    if (!strcmp(key, "bipolar")) return &f->bipolar;
    if (!strcmp(key, "scaling_factor")) return &f->scaling_factor;
    if (!strcmp(key, "double_quant")) return &f->double_quant;
    return NULL;
}

int qn_format_set(qn_format *f, const char *key, double value, char *err, size_t errlen) {
    const char *name = qn_format_name(f->kind);
    if (!in_list(infos[f->kind].keys, key)) {
        if (!infos[f->kind].keys[0]) snprintf(err, errlen, "%s takes no keys (got %s)", name, key);
        else {
            char keys[160];
            snprintf(err, errlen, "%s has no key '%s': its keys are %s", name, key, spaced(infos[f->kind].keys, keys, sizeof keys));
        }
        return -1;
    }
    if (!isfinite(value)) {
        snprintf(err, errlen, "%s %s must be a finite number", name, key);
        return -1;
    }
    if (!strcmp(key, "threshold")) {
        if (value < 0) {
            snprintf(err, errlen, "int8 threshold must be >= 0 (got %g)", value);
            return -1;
        }
        f->threshold = (float)value;
        return 0;
    }
    if (value != floor(value) || fabs(value) > 1e6) {
        snprintf(err, errlen, "%s %s must be an integer, not %g", name, key, value);
        return -1;
    }
    *int_field(f, key) = (int)value;
    return 0;
}

static int range(const char *name, const char *key, int v, int lo, int hi, char *err, size_t errlen) {
    if (v >= lo && v <= hi) return 0;
    snprintf(err, errlen, "%s %s must be in [%d, %d] (got %d)", name, key, lo, hi, v);
    return -1;
}

int qn_format_check(const qn_format *f, char *err, size_t errlen) {
    const char *name = qn_format_name(f->kind);
    qn_format g = *f;
    /* required keys */
    const char *req = infos[f->kind].required;
    for (const char *p = req; *p;) {
        char key[32];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        if (*int_field(&g, key) == UNSET) {
            char keys[160];
            snprintf(err, errlen, "%s needs %s (its keys: %s)", name, key, spaced(infos[f->kind].keys, keys, sizeof keys));
            return -1;
        }
        if (!comma) break;
        p = comma + 1;
    }
    int rc = 0;
    switch (f->kind) {
    case QN_FMT_INTEGER:
        rc = range(name, "width", f->width, 2, 32, err, errlen);
        if (!rc) rc = range(name, "frac_width", f->frac_width, -64, 64, err, errlen);
        break;
    case QN_FMT_MINIFLOAT_DENORM:
    case QN_FMT_MINIFLOAT_IEEE:
    case QN_FMT_BLOCK_MINIFLOAT:
        rc = range(name, "width", f->width, 2, 32, err, errlen);
        if (!rc) rc = range(name, "exponent_width", f->exponent_width, 1, f->width - 1 < 8 ? f->width - 1 : 8, err, errlen);
        if (!rc && f->kind == QN_FMT_BLOCK_MINIFLOAT) rc = range(name, "exponent_bias_width", f->exponent_bias_width, 1, 8, err, errlen);
        if (!rc && f->kind != QN_FMT_BLOCK_MINIFLOAT && f->exponent_bias != QN_BIAS_DEFAULT)
            rc = range(name, "exponent_bias", f->exponent_bias, -126, 254, err, errlen);
        break;
    case QN_FMT_LOG:
    case QN_FMT_BLOCK_LOG:
        rc = range(name, "width", f->width, 2, 9, err, errlen);
        if (!rc && f->kind == QN_FMT_BLOCK_LOG) rc = range(name, "exponent_bias_width", f->exponent_bias_width, 1, 8, err, errlen);
        if (!rc && f->kind == QN_FMT_LOG && f->exponent_bias != QN_BIAS_DEFAULT)
            rc = range(name, "exponent_bias", f->exponent_bias, -126, 254, err, errlen);
        break;
    case QN_FMT_BLOCK_FP:
        rc = range(name, "width", f->width, 2, 25, err, errlen);
        if (!rc) rc = range(name, "exponent_width", f->exponent_width, 1, 8, err, errlen);
        if (!rc && f->exponent_bias != QN_BIAS_DEFAULT) rc = range(name, "exponent_bias", f->exponent_bias, -126, 254, err, errlen);
        break;
    case QN_FMT_MXINT: rc = range(name, "width", f->width, 2, 16, err, errlen); break;
    case QN_FMT_MXFP: {
        static const int legal[][2] = {{4, 3}, {5, 2}, {2, 3}, {3, 2}, {2, 1}, {1, 2}};
        int ok = 0;
        for (int i = 0; i < 6; i++) ok |= f->exponent_width == legal[i][0] && f->frac_width == legal[i][1];
        if (!ok) {
            snprintf(err, errlen, "mxfp element E%dM%d is not an MX element: use exponent_width/frac_width 4/3 (E4M3), "
                                  "5/2 (E5M2), 2/3 (E2M3), 3/2 (E3M2), 2/1 (E2M1) or 1/2", f->exponent_width, f->frac_width);
            rc = -1;
        }
        break;
    }
    case QN_FMT_BINARY: rc = range(name, "bipolar", f->bipolar, 0, 1, err, errlen); break;
    case QN_FMT_TERNARY: rc = range(name, "scaling_factor", f->scaling_factor, 0, 1, err, errlen); break;
    case QN_FMT_NF4:
    case QN_FMT_FP4:
        rc = range(name, "double_quant", f->double_quant, 0, 1, err, errlen);
        if (!rc && (f->block_size < 32 || f->block_size > 4096 || (f->block_size & (f->block_size - 1)))) {
            snprintf(err, errlen, "%s block_size must be a power of two in [32, 4096] (got %d)", name, f->block_size);
            rc = -1;
        }
        break;
    default: break;
    }
    if (!rc && in_list(infos[f->kind].keys, "block_size") && f->kind != QN_FMT_NF4 && f->kind != QN_FMT_FP4)
        rc = range(name, "block_size", f->block_size, 1, 1 << 20, err, errlen);
    return rc;
}

int qn_format_parse(const char *spec, qn_format *f, char *err, size_t errlen) {
    char name[32];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= sizeof name) {
        snprintf(err, errlen, "format '%.60s' has no name: write NAME or NAME:key=value,... (formats: %s)", spec, qn_format_names());
        return -1;
    }
    memcpy(name, spec, n);
    name[n] = 0;
    qn_format_kind kind = qn_format_kind_of(name);
    if (kind == QN_FMT_NONE) {
        snprintf(err, errlen, "unknown format '%s': expected one of %s", name, qn_format_names());
        return -1;
    }
    qn_format_defaults(kind, f);
    if (colon) {
        const char *p = colon + 1;
        if (!*p) {
            snprintf(err, errlen, "format '%s': nothing after ':' (write %s:key=value,...)", name, name);
            return -1;
        }
        while (*p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char item[96];
            if (len == 0 || len >= sizeof item) {
                snprintf(err, errlen, "format '%s': empty or overlong key=value in '%.80s'", name, spec);
                return -1;
            }
            memcpy(item, p, len);
            item[len] = 0;
            char *eq = strchr(item, '=');
            if (!eq || eq == item || !eq[1]) {
                snprintf(err, errlen, "format '%s': '%s' is not key=value", name, item);
                return -1;
            }
            *eq = 0;
            char *stop;
            double v = strtod(eq + 1, &stop);
            if (*stop || isspace((unsigned char)eq[1])) {
                snprintf(err, errlen, "format '%s': %s=%s is not a number", name, item, eq + 1);
                return -1;
            }
            if (qn_format_set(f, item, v, err, errlen) != 0) return -1;
            p = end ? end + 1 : p + len;
            if (end && !*p) {
                snprintf(err, errlen, "format '%s': trailing ',' in '%.80s'", name, spec);
                return -1;
            }
        }
    }
    return qn_format_check(f, err, errlen);
}

char *qn_format_describe(const qn_format *f, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "%s", qn_format_name(f->kind));
    const char *keys = infos[f->kind].keys;
    char sep = ':';
    for (const char *p = keys; *p && n < len;) {
        char key[32];
        const char *comma = strchr(p, ',');
        size_t kl = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)kl, p);
        if (!strcmp(key, "threshold")) {
            n += (size_t)snprintf(buf + n, len - n, "%c%s=%g", sep, key, f->threshold);
        } else {
            int v = *int_field((qn_format *)f, key);
            if (!strcmp(key, "exponent_bias") && v == QN_BIAS_DEFAULT)
                v = f->kind == QN_FMT_LOG ? (1 << (f->width - 2)) - 1 : (1 << (f->exponent_width - 1)) - 1;
            n += (size_t)snprintf(buf + n, len - n, "%c%s=%d", sep, key, v);
        }
        sep = ',';
        if (!comma) break;
        p = comma + 1;
    }
    return buf;
}
