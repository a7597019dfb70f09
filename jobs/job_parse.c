/* job_parse.c: the YAML job file -> qn_job, with every check done at load time: keys, types,
 * ranges, grid values, from: links (unknown stages, cycles, metrics), and every trial of every
 * stage built once against each possible parent. Errors are "FILE:LINE:COL: message". */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "job_internal.h"
#include "qn_job.h"

#define MAX_TRIALS_PER_STAGE 10000000LL
#define MAX_INHERITED_VARIANTS 64

typedef struct {
    int line, col;
} mark;

/* Where each part of a stage was written, for messages after parsing. */
typedef struct {
    mark name, run, from, metric;
    mark *steps;         /* per step */
    mark **values;       /* per axis, per value (a range: the range's position for every value) */
    char *from_text;
    int checkpoints;     /* the stage's checkpoints: (qn_ckpt_policy), -1 when not given */
    int has_prune_axis;
    mark prune_axis;
} stage_marks;

typedef struct {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    qn_job *job;
    stage_marks *marks;
    int base_prune_set;
    mark base_prune, base_quant, base_model, base_data, base_llm, base_device;
    const yaml_node_t *base_layers; /* the layers: section, for checking its names once the model is known */
    char **kinds;         /* the device kinds for placement: each_device_kind, sorted and distinct; NULL: unknown */
    int nkinds;
} parser;

static mark mark_of(const yaml_node_t *n) { return (mark){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1}; }

static int fail(parser *p, mark m, const char *fmt, ...) {
    char msg[QN_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d:%d: %s", p->path, m.line, m.col, msg);
    return -1;
}

static int fail_node(parser *p, const yaml_node_t *n, const char *fmt, ...) {
    char msg[QN_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail(p, mark_of(n), "%s", msg);
}

static yaml_node_t *node(parser *p, int id) { return yaml_document_get_node(p->doc, id); }

static const char *kind_name(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A scalar as a value: plain scalars that parse completely as numbers are numbers (YAML's .inf and
 * .nan too, so that they can be refused as non-finite); everything else is a string. */
static int scalar_value(parser *p, const yaml_node_t *n, const char *what, qn_value *out) {
    memset(out, 0, sizeof *out);
    if (n->type != YAML_SCALAR_NODE) return fail_node(p, n, "%s must be a value, not %s", what, kind_name(n));
    const char *s = text(n);
    size_t len = n->data.scalar.length;
    if (strlen(s) != len) return fail_node(p, n, "%s contains a NUL byte", what);
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && len > 0) {
        const char *t = s + (s[0] == '-' || s[0] == '+');
        if (!strcasecmp(t, ".inf") || !strcasecmp(t, ".nan")) {
            out->kind = QN_VAL_NUM;
            out->num = t[1] == 'n' || t[1] == 'N' ? NAN : (s[0] == '-' ? -INFINITY : INFINITY);
            return 0;
        }
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        /* strtod also reads "nan" and "inf": those are names here (debug.fault: nan) */
        int digits = isdigit((unsigned char)t[0]) || (t[0] == '.' && isdigit((unsigned char)t[1]));
        if (end == s + len && digits && !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
            out->kind = QN_VAL_NUM;
            out->num = errno == ERANGE && fabs(x) > 1 ? (x > 0 ? INFINITY : -INFINITY) : x;
            return 0;
        }
    }
    out->kind = QN_VAL_STR;
    out->str = strdup(s);
    return out->str ? 0 : fail_node(p, n, "out of memory");
}

static void value_free(qn_value *v) {
    if (v->kind == QN_VAL_STR) free(v->str);
    v->str = NULL;
}

/* Keys of a mapping: scalars, each once. */
static int check_keys(parser *p, const yaml_node_t *map, const char *where, const char *const *known, int nknown) {
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(p, a->key);
        if (k->type != YAML_SCALAR_NODE) return fail_node(p, k, "keys in %s must be names, not %s", where, kind_name(k));
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++)
            if (strcmp(text(node(p, b->key)), text(k)) == 0)
                return fail_node(p, k, "duplicate key '%.100s' in %s", text(k), where);
        if (!known) continue;
        int ok = 0;
        for (int i = 0; i < nknown && !ok; i++) ok = strcmp(known[i], text(k)) == 0;
        if (!ok) {
            const char *hint = qn_suggest(text(k), known, nknown);
            if (hint) return fail_node(p, k, "unknown key '%.100s' in %s: did you mean '%s'?", text(k), where, hint);
            return fail_node(p, k, "unknown key '%.100s' in %s", text(k), where);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- base sections */

/* Is the prefix "quant"/"prune" or a layer's "layers.L.quant"/"layers.L.prune"? */
static int compression_group(const char *prefix) {
    size_t n = strlen(prefix);
    return !strcmp(prefix, "quant") || !strcmp(prefix, "prune") ||
           (!strncmp(prefix, "layers.", 7) && n > 6 &&
            (!strcmp(prefix + n - 6, ".quant") || !strcmp(prefix + n - 6, ".prune")));
}

/* model: {...}, data: {...}, train: {...}, quant: {...}, prune: {...}: dotted parameters; quant and
 * prune also take per-operand / per-target sub-mappings. */
static int base_section(parser *p, const char *prefix, const yaml_node_t *map, int depth) {
    if (map->type != YAML_MAPPING_NODE) return fail_node(p, map, "%s must be a mapping of keys, not %s", prefix, kind_name(map));
    if (check_keys(p, map, prefix, NULL, 0) != 0) return -1;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(p, a->key), *v = node(p, a->value);
        char name[256];
        snprintf(name, sizeof name, "%s.%.100s", prefix, text(k));
        if (v->type == YAML_MAPPING_NODE && depth == 0 && compression_group(prefix)) {
            if (base_section(p, name, v, 1) != 0) return -1;
            continue;
        }
        qn_value val;
        char msg[QN_ERR_LEN];
        /* An unknown name is reported at the key, a bad value at the value. */
        qn_value probe = {.kind = QN_VAL_NUM, .num = 0};
        qn_trial_config scratch;
        qn_config_defaults(&scratch);
        if (qn_config_set(&scratch, name, &probe, msg, sizeof msg) != 0 && strncmp(msg, "unknown parameter", 17) == 0)
            return fail_node(p, k, "%s", msg);
        if (scalar_value(p, v, name, &val) != 0) return -1;
        int rc = qn_config_set(&p->job->base, name, &val, msg, sizeof msg);
        value_free(&val);
        if (rc != 0) return fail_node(p, v, "%s", msg);
        if (!strncmp(name, "prune.", 6) || (!strncmp(name, "layers.", 7) && strstr(name, ".prune."))) {
            p->base_prune_set = 1;
            p->base_prune = mark_of(k);
        }
    }
    return 0;
}

/* layers: {LAYER: {quant: {...}, prune: {...}}}: the base configuration's per-layer overrides,
 * the parameters layers.LAYER.quant.* and layers.LAYER.prune.* */
static int layers_section(parser *p, const yaml_node_t *map) {
    static const char *const keys[] = {"quant", "prune"};
    if (map->type != YAML_MAPPING_NODE)
        return fail_node(p, map, "layers must map Linear layer names to {quant: ..., prune: ...}, not %s", kind_name(map));
    if (check_keys(p, map, "layers", NULL, 0) != 0) return -1;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(p, a->key), *v = node(p, a->value);
        char where[160];
        snprintf(where, sizeof where, "layers.%.100s", text(k));
        if (v->type != YAML_MAPPING_NODE)
            return fail_node(p, v, "%s must be a mapping with quant and/or prune, not %s", where, kind_name(v));
        if (check_keys(p, v, where, keys, 2) != 0) return -1;
        for (yaml_node_pair_t *b = v->data.mapping.pairs.start; b < v->data.mapping.pairs.top; b++) {
            char prefix[200];
            snprintf(prefix, sizeof prefix, "%s.%s", where, text(node(p, b->key)));
            if (base_section(p, prefix, node(p, b->value), 0) != 0) return -1;
        }
    }
    p->base_layers = map;
    return 0;
}

/* The layer a per-layer parameter names ("layers.L.quant.width" -> L), into buf; 0 when the name
 * is not a per-layer parameter. */
static int layer_of(const char *name, char *buf, size_t len) {
    if (strncmp(name, "layers.", 7) != 0) return 0;
    const char *rest = name + 7, *q = strstr(rest, ".quant."), *pr = strstr(rest, ".prune.");
    const char *end = q && (!pr || q < pr) ? q : pr;
    if (!end) return 0;
    snprintf(buf, len, "%.*s", (int)(end - rest), rest);
    return 1;
}

/* Where the base configuration writes the layer a message is about ("layers.L...: ..."), else `other`. */
static mark base_mark_for(parser *p, const char *msg, mark other) {
    const yaml_node_t *map = p->base_layers;
    if (!map || strncmp(msg, "layers.", 7) != 0) return other;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const char *k = text(node(p, a->key));
        size_t n = strlen(k);
        if (!strncmp(msg + 7, k, n) && (msg[7 + n] == '.' || msg[7 + n] == ':')) return mark_of(node(p, a->key));
    }
    return other;
}

/* ---------------------------------------------------------------- stages */

static int parse_int(parser *p, const yaml_node_t *n, const char *what, long long lo, long long hi, long long *out) {
    qn_value v;
    if (scalar_value(p, n, what, &v) != 0) return -1;
    int bad = v.kind != QN_VAL_NUM || !isfinite(v.num) || v.num != floor(v.num);
    double x = v.num;
    value_free(&v);
    if (bad) return fail_node(p, n, "%s must be an integer", what);
    if (x < (double)lo || x > (double)hi) return fail_node(p, n, "%s must be in [%lld, %lld] (got %.17g)", what, lo, hi, x);
    *out = (long long)x;
    return 0;
}

/* trial_timeout: seconds as a number, or a string with a unit ("90s", "10m", "2h"); 0: no limit. */
static int parse_timeout(parser *p, const yaml_node_t *n, double *out) {
    qn_value v;
    if (scalar_value(p, n, "trial_timeout", &v) != 0) return -1;
    double x = v.num;
    int bad = 0;
    if (v.kind == QN_VAL_STR) {
        char *end = v.str;
        if (isdigit((unsigned char)v.str[0]) || v.str[0] == '.') x = strtod(v.str, &end);
        double unit = !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : 0;
        bad = end == v.str || unit == 0;
        x *= unit;
    }
    value_free(&v);
    if (bad || !isfinite(x) || x < 0)
        return fail_node(p, n, "trial_timeout must be a number of seconds >= 0 or a duration like \"90s\", \"10m\" "
                               "or \"2h\" (0: no limit), not '%.100s'", n->type == YAML_SCALAR_NODE ? text(n) : kind_name(n));
    *out = x;
    return 0;
}

static int range_values(parser *p, qn_axis *ax, const yaml_node_t *map, mark **marks) {
    static const char *const keys[] = {"start", "stop", "step"};
    char where[160];
    snprintf(where, sizeof where, "the range of %s", ax->name);
    if (check_keys(p, map, where, keys, 3) != 0) return -1;
    double v[3];
    for (int i = 0; i < 3; i++) {
        yaml_node_t *n = NULL;
        for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
            if (!strcmp(text(node(p, a->key)), keys[i])) n = node(p, a->value);
        if (!n) return fail_node(p, map, "the range of %s needs start, stop and step (missing %s)", ax->name, keys[i]);
        qn_value x;
        if (scalar_value(p, n, keys[i], &x) != 0) return -1;
        int bad = x.kind != QN_VAL_NUM || !isfinite(x.num);
        v[i] = x.num;
        value_free(&x);
        if (bad) return fail_node(p, n, "range %s of %s must be a finite number", keys[i], ax->name);
    }
    if (!(v[2] > 0)) return fail_node(p, map, "range step of %s must be greater than 0 (got %g)", ax->name, v[2]);
    if (v[0] > v[1]) return fail_node(p, map, "range of %s is empty: start %g is above stop %g", ax->name, v[0], v[1]);
    double count = floor((v[1] - v[0]) / v[2] * (1.0 + 1e-9) + 1e-9) + 1.0;
    if (count > 1e6) return fail_node(p, map, "range of %s has %.0f values: more than 1000000", ax->name, count);
    ax->nvalues = (int)count;
    ax->values = calloc((size_t)ax->nvalues, sizeof *ax->values);
    *marks = calloc((size_t)ax->nvalues, sizeof **marks);
    if (!ax->values || !*marks) return fail_node(p, map, "out of memory");
    for (int i = 0; i < ax->nvalues; i++) {
        /* 12 significant digits: 0.1 + 2*0.1 is 0.3, not 0.30000000000000004 */
        char buf[64];
        snprintf(buf, sizeof buf, "%.12g", v[0] + i * v[2]);
        ax->values[i].kind = QN_VAL_NUM;
        ax->values[i].num = strtod(buf, NULL);
        (*marks)[i] = mark_of(map);
    }
    return 0;
}

static int parse_grid(parser *p, qn_stage *st, stage_marks *sm, const yaml_node_t *grid) {
    if (grid->type != YAML_MAPPING_NODE)
        return fail_node(p, grid, "grid of stage '%s' must map parameters to lists of values, not %s", st->name,
                         kind_name(grid));
    char where[160];
    snprintf(where, sizeof where, "the grid of stage '%s'", st->name);
    if (check_keys(p, grid, where, NULL, 0) != 0) return -1;
    int n = (int)(grid->data.mapping.pairs.top - grid->data.mapping.pairs.start);
    st->axes = calloc((size_t)n + 1, sizeof *st->axes);
    sm->values = calloc((size_t)n + 1, sizeof *sm->values);
    if (!st->axes || !sm->values) return fail_node(p, grid, "out of memory");
    st->ntrials = 1;
    for (yaml_node_pair_t *a = grid->data.mapping.pairs.start; a < grid->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(p, a->key), *v = node(p, a->value);
        qn_axis *ax = &st->axes[st->naxes];
        ax->name = strdup(text(k));
        ax->line = mark_of(k).line;
        ax->col = mark_of(k).col;
        ax->parent = -1;
        st->naxes++;
        char msg[QN_ERR_LEN];
        qn_trial_config scratch;
        qn_config_defaults(&scratch);
        qn_value probe = {.kind = QN_VAL_NUM, .num = 0};
        if (qn_config_set(&scratch, ax->name, &probe, msg, sizeof msg) != 0 && !strncmp(msg, "unknown parameter", 17))
            return fail_node(p, k, "%s", msg);
        /* model.arch varies only to mix null trials in (qn_trial_config_build checks the values) */
        if (qn_param_is_base_only(ax->name) && strcmp(ax->name, "model.arch") != 0)
            return fail_node(p, k, "%s cannot vary between trials: set it in its section at the top of the job", ax->name);
        char layer[QN_LAYER_NAME_LEN + 1];
        /* against the base model: a grid over model.layers is checked per trial when they are built */
        if (layer_of(ax->name, layer, sizeof layer) && qn_layer_check_name(&p->job->base.model, layer, msg, sizeof msg) != 0)
            return fail_node(p, k, "%s", msg);
        int prunes = !strncmp(ax->name, "prune.", 6) || (!strncmp(ax->name, "layers.", 7) && strstr(ax->name, ".prune."));
        if (prunes && !sm->has_prune_axis) {
            sm->has_prune_axis = 1;
            sm->prune_axis = mark_of(k);
        }
        mark **marks = &sm->values[st->naxes - 1];
        if (v->type == YAML_MAPPING_NODE) {
            if (range_values(p, ax, v, marks) != 0) return -1;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            int nv = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (nv == 0) return fail_node(p, v, "%s has no values: an empty list makes an empty grid", ax->name);
            ax->values = calloc((size_t)nv, sizeof *ax->values);
            *marks = calloc((size_t)nv, sizeof **marks);
            if (!ax->values || !*marks) return fail_node(p, v, "out of memory");
            for (int i = 0; i < nv; i++) {
                yaml_node_t *item = node(p, v->data.sequence.items.start[i]);
                if (scalar_value(p, item, ax->name, &ax->values[i]) != 0) return -1;
                ax->nvalues = i + 1;
                (*marks)[i] = mark_of(item);
                for (int j = 0; j < i; j++) {
                    const qn_value *x = &ax->values[j], *y = &ax->values[i];
                    if (x->kind == y->kind && (x->kind == QN_VAL_NUM ? x->num == y->num : !strcmp(x->str, y->str)))
                        return fail_node(p, item, "%s lists the same value twice", ax->name);
                }
            }
        } else {
            return fail_node(p, v, "%s must be a list of values ([a, b]) or a range ({start, stop, step}), not a single value",
                             ax->name);
        }
        /* Each value on its own (ranges, types); combinations are checked when trials are built. */
        for (int i = 0; i < ax->nvalues; i++) {
            qn_config_defaults(&scratch);
            if (qn_config_set(&scratch, ax->name, &ax->values[i], msg, sizeof msg) != 0)
                return fail(p, (*marks)[i], "%s", msg);
        }
        if (st->ntrials > MAX_TRIALS_PER_STAGE / ax->nvalues)
            return fail_node(p, k, "stage '%s' expands to more than %lld trials", st->name, MAX_TRIALS_PER_STAGE);
        st->ntrials *= ax->nvalues;
    }
    return 0;
}

/* A number of a search parameter's min/max/q. */
static int search_number(parser *p, const yaml_node_t *n, const char *what, const char *param, double *out) {
    qn_value v;
    if (scalar_value(p, n, what, &v) != 0) return -1;
    int bad = v.kind != QN_VAL_NUM || !isfinite(v.num);
    *out = v.num;
    value_free(&v);
    if (bad) return fail_node(p, n, "%s of %s must be a finite number", what, param);
    return 0;
}

/* One entry of a search stage's parameters: {values: [...]} or {min, max, distribution, q}. */
static int search_param(parser *p, qn_axis *ax, const yaml_node_t *k, const yaml_node_t *v) {
    static const char *const keys[] = {"values", "min", "max", "distribution", "q", "when"};
    if (v->type != YAML_MAPPING_NODE)
        return fail_node(p, v, "%s must be {values: [...]} or {min: A, max: B, distribution: D}, not %s", ax->name,
                         kind_name(v));
    char where[160];
    snprintf(where, sizeof where, "parameter %.140s", ax->name);
    if (check_keys(p, v, where, keys, 6) != 0) return -1; /* when: is parse_search's */
    const yaml_node_t *n[5] = {0};
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++)
        for (int i = 0; i < 5; i++)
            if (!strcmp(text(node(p, a->key)), keys[i])) n[i] = node(p, a->value);
    char msg[QN_ERR_LEN];
    qn_trial_config scratch;
    if (n[0]) {
        if (n[1] || n[2] || n[3] || n[4])
            return fail_node(p, v, "%s takes either values or min/max, not both", ax->name);
        if (n[0]->type != YAML_SEQUENCE_NODE) return fail_node(p, n[0], "values of %s must be a list", ax->name);
        int nv = (int)(n[0]->data.sequence.items.top - n[0]->data.sequence.items.start);
        if (nv == 0) return fail_node(p, n[0], "%s has no values", ax->name);
        ax->values = calloc((size_t)nv, sizeof *ax->values);
        if (!ax->values) return fail_node(p, n[0], "out of memory");
        for (int i = 0; i < nv; i++) {
            yaml_node_t *item = node(p, n[0]->data.sequence.items.start[i]);
            if (scalar_value(p, item, ax->name, &ax->values[i]) != 0) return -1;
            ax->nvalues = i + 1;
            const qn_value *y = &ax->values[i];
            /* a params/ column holds one type (docs/results-format.md) */
            if (y->kind != ax->values[0].kind)
                return fail_node(p, item, "values of %s mix numbers and strings", ax->name);
            for (int j = 0; j < i; j++) {
                const qn_value *x = &ax->values[j];
                if (x->kind == y->kind && (x->kind == QN_VAL_NUM ? x->num == y->num : !strcmp(x->str, y->str)))
                    return fail_node(p, item, "%s lists the same value twice", ax->name);
            }
            qn_config_defaults(&scratch);
            if (qn_config_set(&scratch, ax->name, y, msg, sizeof msg) != 0) return fail_node(p, item, "%s", msg);
        }
        ax->dist = QN_DIST_VALUES;
        return 0;
    }
    if (!n[1] || !n[2]) return fail_node(p, v, "%s needs values, or min and max", ax->name);
    if (search_number(p, n[1], "min", ax->name, &ax->low) != 0 || search_number(p, n[2], "max", ax->name, &ax->high) != 0)
        return -1;
    if (n[4] && search_number(p, n[4], "q", ax->name, &ax->q) != 0) return -1;
    int ints = ax->low == floor(ax->low) && ax->high == floor(ax->high);
    ax->dist = ints ? QN_DIST_INT_UNIFORM : QN_DIST_UNIFORM; /* W&B's default by the bounds' type */
    if (n[3]) {
        const char *d = n[3]->type == YAML_SCALAR_NODE ? text(n[3]) : "";
        if (!strcmp(d, "uniform")) ax->dist = QN_DIST_UNIFORM;
        else if (!strcmp(d, "log_uniform")) ax->dist = QN_DIST_LOG_UNIFORM;
        else if (!strcmp(d, "int_uniform")) ax->dist = QN_DIST_INT_UNIFORM;
        else return fail_node(p, n[3], "unknown distribution '%.100s': expected uniform, log_uniform or int_uniform", d);
    }
    if (!(ax->low < ax->high))
        return fail_node(p, n[1], "%s: min %g must be below max %g", ax->name, ax->low, ax->high);
    if (ax->dist == QN_DIST_LOG_UNIFORM && !(ax->low > 0))
        return fail_node(p, n[1], "%s: log_uniform needs min > 0 (got %g)", ax->name, ax->low);
    if (ax->dist == QN_DIST_INT_UNIFORM && !ints)
        return fail_node(p, n[1], "%s: int_uniform needs integer min and max", ax->name);
    if (n[4]) {
        if (!(ax->q > 0)) return fail_node(p, n[4], "q of %s must be greater than 0 (got %g)", ax->name, ax->q);
        if (ax->dist == QN_DIST_LOG_UNIFORM) return fail_node(p, n[4], "%s: q cannot be used with log_uniform", ax->name);
        if (ax->dist == QN_DIST_INT_UNIFORM && ax->q != floor(ax->q))
            return fail_node(p, n[4], "%s: q of an int_uniform must be an integer", ax->name);
        double steps = (ax->high - ax->low) / ax->q;
        if (fabs(steps - floor(steps + 0.5)) > 1e-9 * (steps > 1 ? steps : 1))
            return fail_node(p, n[4], "%s: max - min must be a multiple of q %g", ax->name, ax->q);
    }
    /* both bounds through the path grids use: types and ranges of the parameter */
    double b[2] = {ax->low, ax->high};
    for (int i = 0; i < 2; i++) {
        qn_value x = {.kind = QN_VAL_NUM, .num = b[i]};
        qn_config_defaults(&scratch);
        if (qn_config_set(&scratch, ax->name, &x, msg, sizeof msg) != 0) return fail_node(p, n[1 + i], "%s", msg);
    }
    (void)k;
    return 0;
}

/* Points of one parameter for method grid; -1 when it is continuous. */
static double search_grid_points(const qn_axis *ax) {
    if (ax->dist == QN_DIST_VALUES) return ax->nvalues;
    double step = ax->q > 0 ? ax->q : ax->dist == QN_DIST_INT_UNIFORM ? 1 : 0;
    if (step <= 0) return -1;
    return floor((ax->high - ax->low) / step + 0.5) + 1;
}

/* Grid points of axis a with the axes that depend on it: a conditional branch counts once, as the
 * grid sampler counts them. */
static double search_subtree_points(const qn_stage *st, int a) {
    if (st->axes[a].dist != QN_DIST_VALUES) return search_grid_points(&st->axes[a]);
    double sum = 0;
    for (int c = 0; c < st->axes[a].nvalues; c++) {
        double prod = 1;
        for (int b = a + 1; b < st->naxes; b++)
            if (st->axes[b].parent == a && st->axes[b].parent_choice == c) prod *= search_subtree_points(st, b);
        sum += prod;
    }
    return sum;
}

static int same_value(const qn_value *x, const qn_value *y) {
    return x->kind == y->kind && (x->kind == QN_VAL_NUM ? x->num == y->num : !strcmp(x->str, y->str));
}

/* Append a copy of `t` (its own name and values) to the stage's axes. -1: out of memory. */
static int push_axis(qn_stage *st, int *cap, const qn_axis *t, const char *name, int parent, int choice) {
    if (st->naxes == *cap) {
        qn_axis *more = realloc(st->axes, (size_t)(*cap * 2 + 1) * sizeof *more);
        if (!more) return -1;
        st->axes = more;
        *cap = *cap * 2 + 1;
    }
    qn_axis *ax = &st->axes[st->naxes];
    *ax = *t;
    ax->name = strdup(name);
    ax->values = t->nvalues ? calloc((size_t)t->nvalues, sizeof *ax->values) : NULL;
    ax->nvalues = 0;
    ax->parent = parent;
    ax->parent_choice = choice;
    st->naxes++; /* counted now so that qn_job_free frees what is there */
    if (!ax->name || (t->nvalues && !ax->values)) return -1;
    for (int i = 0; i < t->nvalues; i++) {
        ax->values[i] = t->values[i];
        if (t->values[i].kind == QN_VAL_STR && !(ax->values[i].str = strdup(t->values[i].str))) return -1;
        ax->nvalues = i + 1;
    }
    return 0;
}

/* `layers.*.REST` with the * replaced by layer L, into buf (names without a * are copied). */
static void expand_layer(const char *name, const char *layer, char *buf, size_t len) {
    if (!strncmp(name, "layers.*.", 9)) snprintf(buf, len, "layers.%s.%s", layer, name + 9);
    else snprintf(buf, len, "%s", name);
}

/* Is `name` (as written, or with * as layer L) a key of `params` other than `self`? For telling a
 * forward reference from an unknown name. */
static int names_a_key(parser *p, const yaml_node_t *params, const char *name, const char *layer) {
    for (yaml_node_pair_t *a = params->data.mapping.pairs.start; a < params->data.mapping.pairs.top; a++) {
        char buf[256];
        expand_layer(text(node(p, a->key)), layer, buf, sizeof buf);
        if (!strcmp(text(node(p, a->key)), name) || !strcmp(buf, name)) return 1;
    }
    return 0;
}

/* Append the axes of one parameter, for one layer of a layers.* entry (layer NULL otherwise): one
 * axis, or with when: one per (copy of the parent, choice). */
static int search_expand(parser *p, qn_stage *st, int *cap, const qn_axis *t, const char *name, const char *layer,
                         const yaml_node_t *params, const yaml_node_t *k, const yaml_node_t *when) {
    if (!when) return push_axis(st, cap, t, name, -1, 0) != 0 ? fail_node(p, k, "out of memory") : 0;
    if (when->type != YAML_MAPPING_NODE || when->data.mapping.pairs.top - when->data.mapping.pairs.start != 1)
        return fail_node(p, when, "when: of %s takes one condition, {PARAMETER: VALUE} or {PARAMETER: [VALUES]}", t->name);
    const yaml_node_t *pk = node(p, when->data.mapping.pairs.start->key);
    const yaml_node_t *pv = node(p, when->data.mapping.pairs.start->value);
    const char *written = text(pk);
    if (strchr(written, '*') && (!layer || strncmp(written, "layers.*.", 9) != 0))
        return fail_node(p, pk, "when: of %s names %s: a * in a condition means the same layer, in a layers.* parameter",
                         t->name, written);
    char parent[256];
    expand_layer(written, layer ? layer : "", parent, sizeof parent);
    int first = -1;
    for (int a = 0; a < st->naxes && first < 0; a++)
        if (!strcmp(st->axes[a].name, parent)) first = a;
    if (first < 0) {
        if (!strcmp(parent, name) || !strcmp(written, text(k)))
            return fail_node(p, pk, "%s cannot be conditional on itself", t->name);
        if (names_a_key(p, params, written, layer ? layer : ""))
            return fail_node(p, pk, "when: of %s names %s, which comes later: a condition names an earlier "
                                    "parameter (move %s above it)", t->name, written, written);
        const char **names = calloc((size_t)st->naxes + 1, sizeof *names);
        for (int a = 0; names && a < st->naxes; a++) names[a] = st->axes[a].name;
        const char *hint = names ? qn_suggest(parent, names, st->naxes) : NULL;
        int rc = hint ? fail_node(p, pk, "when: of %s names %s, not a parameter of this stage: did you mean '%s'?",
                                  t->name, written, hint)
                      : fail_node(p, pk, "when: of %s names %s, not a parameter of this stage", t->name, written);
        free(names);
        return rc;
    }
    if (st->axes[first].dist != QN_DIST_VALUES)
        return fail_node(p, pk, "when: of %s names %s, which has min/max: a condition names a {values: [...]} parameter",
                         t->name, written);
    int nchoices = pv->type == YAML_SEQUENCE_NODE ? (int)(pv->data.sequence.items.top - pv->data.sequence.items.start) : 1;
    if (nchoices == 0) return fail_node(p, pv, "when: of %s lists no values of %s", t->name, written);
    for (int i = 0; i < nchoices; i++) {
        const yaml_node_t *item = pv->type == YAML_SEQUENCE_NODE ? node(p, pv->data.sequence.items.start[i]) : pv;
        qn_value v;
        if (scalar_value(p, item, written, &v) != 0) return -1;
        const qn_axis *pa = &st->axes[first];
        int c = -1;
        for (int j = 0; j < pa->nvalues && c < 0; j++)
            if (same_value(&pa->values[j], &v)) c = j;
        char buf[64];
        qn_value_format(&v, buf, sizeof buf);
        value_free(&v);
        if (c < 0) return fail_node(p, item, "when: of %s: %s is not one of the values of %s", t->name, buf, written);
        /* every copy of the parent (itself conditional) gets its own copy of this one */
        int n = st->naxes;
        for (int a = first; a < n; a++)
            if (!strcmp(st->axes[a].name, parent) && push_axis(st, cap, t, name, a, c) != 0)
                return fail_node(p, k, "out of memory");
    }
    return 0;
}

/* method:, trials:, parameters: of a search stage. */
static int parse_search(parser *p, qn_stage *st, stage_marks *sm, const yaml_node_t *method, const yaml_node_t *trials,
                        const yaml_node_t *params) {
    static const char *const methods[] = {"grid", "random", "tpe"};
    const char *m = method->type == YAML_SCALAR_NODE ? text(method) : "";
    for (int i = 0; i < 3; i++)
        if (!strcmp(m, methods[i])) st->method = (qn_search_method)(QN_SEARCH_GRID + i);
    if (!st->method) {
        const char *hint = qn_suggest(m, methods, 3);
        if (hint) return fail_node(p, method, "unknown method '%.100s': did you mean '%s'?", m, hint);
        return fail_node(p, method, "unknown method '%.100s': expected grid, random or tpe", m);
    }
    if (!trials) return fail_node(p, method, "search stage '%s' needs trials: N", st->name);
    long long n;
    if (parse_int(p, trials, "trials", 1, MAX_TRIALS_PER_STAGE, &n) != 0) return -1;
    if (!params) return fail_node(p, method, "search stage '%s' needs parameters:", st->name);
    if (params->type != YAML_MAPPING_NODE || params->data.mapping.pairs.top == params->data.mapping.pairs.start)
        return fail_node(p, params, "parameters of stage '%s' must map parameter names to {values} or {min, max}", st->name);
    char where[160];
    snprintf(where, sizeof where, "the parameters of stage '%s'", st->name);
    if (check_keys(p, params, where, NULL, 0) != 0) return -1;
    int cap = (int)(params->data.mapping.pairs.top - params->data.mapping.pairs.start);
    st->axes = calloc((size_t)cap + 1, sizeof *st->axes);
    if (!st->axes) return fail_node(p, params, "out of memory");
    const qn_model_cfg *model = &p->job->base.model;
    for (yaml_node_pair_t *a = params->data.mapping.pairs.start; a < params->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(p, a->key), *v = node(p, a->value);
        const char *written = text(k);
        /* layers.*.KEY: one parameter per Linear layer of the model, each drawn on its own */
        int wild = !strncmp(written, "layers.*.", 9), nlayers = 1;
        if (wild) {
            if (model->pretrained[0])
                return fail_node(p, k, "%s: layers.* needs the model's layer count, which model.pretrained's config.json "
                                       "decides when the study runs: name the layers", written);
            nlayers = qn_linear_layer_count(model->arch, model->layers);
            if (nlayers > QN_MAX_LAYER_OVERRIDES)
                return fail_node(p, k, "%s expands to %d Linear layers; a trial overrides at most %d layers", written,
                                 nlayers, QN_MAX_LAYER_OVERRIDES);
        }
        char layer[QN_LAYER_NAME_LEN], name[256];
        if (wild) qn_linear_layer_name(model->arch, model->layers, 0, layer, sizeof layer);
        expand_layer(written, wild ? layer : "", name, sizeof name);
        /* the first layer's name stands for all in the checks: the layers differ only in name */
        qn_axis t = {.name = name, .line = mark_of(k).line, .col = mark_of(k).col, .parent = -1};
        char msg[QN_ERR_LEN];
        qn_trial_config scratch;
        qn_config_defaults(&scratch);
        qn_value probe = {.kind = QN_VAL_NUM, .num = 0};
        if (qn_config_set(&scratch, name, &probe, msg, sizeof msg) != 0 && !strncmp(msg, "unknown parameter", 17))
            return fail_node(p, k, "%s", msg);
        if (qn_param_is_base_only(name) && strcmp(name, "model.arch") != 0)
            return fail_node(p, k, "%s cannot vary between trials: set it in its section at the top of the job", name);
        if (!wild && layer_of(name, layer, sizeof layer) && qn_layer_check_name(model, layer, msg, sizeof msg) != 0)
            return fail_node(p, k, "%s", msg);
        int prunes = !strncmp(name, "prune.", 6) || (!strncmp(name, "layers.", 7) && strstr(name, ".prune."));
        if (prunes && !sm->has_prune_axis) {
            sm->has_prune_axis = 1;
            sm->prune_axis = mark_of(k);
        }
        int rc = search_param(p, &t, k, v);
        if (rc == 0 && st->method == QN_SEARCH_GRID && search_grid_points(&t) < 0)
            rc = fail_node(p, v, "method grid needs values, an int_uniform or a q step for %s", name);
        const yaml_node_t *when = NULL;
        for (yaml_node_pair_t *b = v->data.mapping.pairs.start; rc == 0 && b < v->data.mapping.pairs.top; b++)
            if (!strcmp(text(node(p, b->key)), "when")) when = node(p, b->value);
        for (int l = 0; rc == 0 && l < nlayers; l++) {
            if (wild) qn_linear_layer_name(model->arch, model->layers, l, layer, sizeof layer);
            char full[256];
            expand_layer(written, wild ? layer : "", full, sizeof full);
            rc = search_expand(p, st, &cap, &t, full, wild ? layer : NULL, params, k, when);
        }
        for (int i = 0; i < t.nvalues; i++) value_free(&t.values[i]);
        free(t.values);
        if (rc != 0) return -1;
    }
    double grid = 1;
    for (int a = 0; a < st->naxes; a++)
        if (st->axes[a].parent < 0) grid *= search_subtree_points(st, a);
    st->ntrials = n;
    if (st->method == QN_SEARCH_GRID && grid < (double)n) st->ntrials = (int64_t)grid; /* each point once */
    return 0;
}

/* The metric of the last step that records one (quantize records none). */
static const char *default_metric(const qn_stage *st) {
    int last = st->nsteps - 1;
    while (last > 0 && !qn_step_metric(st->steps[last])[0]) last--;
    return qn_step_metric(st->steps[last]);
}

/* The step that makes a stage need a quantization, for messages. */
static const char *needs_quant_step(const qn_stage *st) {
    for (int i = 0; i < st->nsteps; i++)
        if (st->steps[i] == QN_STEP_PTQ_EVAL || st->steps[i] == QN_STEP_QAT || st->steps[i] == QN_STEP_QUANTIZE)
            return qn_step_name(st->steps[i]);
    return "?";
}

static int parse_steps(parser *p, qn_stage *st, stage_marks *sm, const yaml_node_t *run) {
    static const char *const names[] = {"train", "eval", "ptq_eval", "qat", "prune", "quantize", "infer"};
    if (run->type != YAML_SEQUENCE_NODE)
        return fail_node(p, run, "run of stage '%s' must be a list of steps like [train, eval], not %s", st->name,
                         kind_name(run));
    int n = (int)(run->data.sequence.items.top - run->data.sequence.items.start);
    if (n == 0) return fail_node(p, run, "stage '%s' runs no steps: run must list at least one", st->name);
    if (n > QN_MAX_STEPS) return fail_node(p, run, "stage '%s' has %d steps: at most %d", st->name, n, QN_MAX_STEPS);
    sm->steps = calloc((size_t)n, sizeof *sm->steps);
    if (!sm->steps) return fail_node(p, run, "out of memory");
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = node(p, run->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE) return fail_node(p, item, "a step must be a name, not %s", kind_name(item));
        int found = -1;
        for (int k = 0; k < 7; k++)
            if (!strcmp(names[k], text(item))) found = k;
        if (found < 0) {
            const char *hint = qn_suggest(text(item), names, 7);
            if (hint) return fail_node(p, item, "unknown step '%.100s': did you mean '%s'?", text(item), hint);
            return fail_node(p, item, "unknown step '%.100s': steps are train, eval, ptq_eval, qat, prune, quantize "
                                      "(and infer, in kind: inference stages)", text(item));
        }
        /* an inference stage runs infer alone; infer means nothing to a classifier */
        if ((found == QN_STEP_INFER) != !strcmp(st->kind, "inference"))
            return fail_node(p, item, found == QN_STEP_INFER
                                          ? "step infer belongs to kind: inference stages"
                                          : "a kind: inference stage runs [infer] (or omits run:), not %s", text(item));
        st->steps[i] = (qn_step)found;
        sm->steps[i] = mark_of(item);
        st->nsteps = i + 1;
    }
    /* with a quantize step the model is full precision until it: a quantized evaluation or QAT
     * before it would not be what its name says */
    int q = -1;
    for (int i = 0; i < n; i++) {
        if (st->steps[i] != QN_STEP_QUANTIZE) continue;
        if (q >= 0)
            return fail(p, sm->steps[i], "stage '%s' runs quantize twice: the quantization acts from the first on",
                        st->name);
        q = i;
    }
    for (int i = 0; i < q; i++)
        if (st->steps[i] == QN_STEP_PTQ_EVAL || st->steps[i] == QN_STEP_QAT)
            return fail(p, sm->steps[i], "stage '%s' runs %s before quantize, where the model is still full precision: "
                                         "move it after quantize",
                        st->name, qn_step_name(st->steps[i]));
    return 0;
}

static int parse_metric(parser *p, qn_stage *st, stage_marks *sm, const yaml_node_t *n) {
    sm->metric = mark_of(n);
    const yaml_node_t *name = n;
    st->maximize = -1;
    if (n->type == YAML_MAPPING_NODE) {
        static const char *const keys[] = {"name", "goal"};
        if (check_keys(p, n, "metric", keys, 2) != 0) return -1;
        name = NULL;
        for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
            yaml_node_t *k = node(p, a->key), *v = node(p, a->value);
            if (v->type != YAML_SCALAR_NODE) return fail_node(p, v, "metric %s must be a name", text(k));
            if (!strcmp(text(k), "name")) name = v;
            else if (!strcmp(text(v), "maximize")) st->maximize = 1;
            else if (!strcmp(text(v), "minimize")) st->maximize = 0;
            else return fail_node(p, v, "metric goal must be maximize or minimize, not '%.100s'", text(v));
        }
        if (!name) return fail_node(p, n, "metric needs a name");
    }
    if (name->type != YAML_SCALAR_NODE) return fail_node(p, name, "metric must be a metric name, not %s", kind_name(name));
    st->metric = strdup(text(name));
    return 0;
}

int qn_ckpt_policy_of(const char *name) {
    return !strcmp(name, "best") ? QN_CKPT_BEST : !strcmp(name, "none") ? QN_CKPT_NONE : !strcmp(name, "all") ? QN_CKPT_ALL : -1;
}

/* placement: each_device_kind: one trial per grid point per device kind present, through a last
 * axis device.kind over the kinds (p->kinds), known only once the workers said hello. */
static int parse_placement(parser *p, qn_stage *st, stage_marks *sm, const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || strcmp(text(n), "each_device_kind") != 0)
        return fail_node(p, n, "placement must be each_device_kind, not '%.100s'",
                         n->type == YAML_SCALAR_NODE ? text(n) : kind_name(n));
    if (st->method)
        return fail_node(p, n, "placement: each_device_kind needs a grid: search stage '%s' draws its trials one "
                               "at a time", st->name);
    /* a classifier's trials take no device.kind (its metrics do not depend on the device) */
    if (strcmp(st->kind, "inference") != 0)
        return fail_node(p, n, "placement: each_device_kind is for kind: inference stages, not grid stage '%s'",
                         st->name);
    for (int a = 0; a < st->naxes; a++)
        if (!strcmp(st->axes[a].name, "device.kind"))
            return fail_node(p, n, "stage '%s' has both placement: each_device_kind and a grid axis device.kind "
                                   "(line %d): keep one", st->name, st->axes[a].line);
    st->each_device_kind = 1;
    if (!p->kinds) return 0;
    st->each_device_kind = 2;
    qn_axis *axes = realloc(st->axes, ((size_t)st->naxes + 1) * sizeof *axes);
    if (axes) st->axes = axes;
    mark **values = axes ? realloc(sm->values, ((size_t)st->naxes + 1) * sizeof *values) : NULL;
    if (values) sm->values = values;
    if (!axes || !values) return fail_node(p, n, "out of memory");
    qn_axis *ax = &st->axes[st->naxes];
    memset(ax, 0, sizeof *ax);
    ax->name = strdup("device.kind");
    ax->line = mark_of(n).line;
    ax->col = mark_of(n).col;
    ax->parent = -1;
    ax->values = calloc((size_t)p->nkinds, sizeof *ax->values);
    sm->values[st->naxes] = calloc((size_t)p->nkinds, sizeof **sm->values);
    st->naxes++;
    if (!ax->name || !ax->values || !sm->values[st->naxes - 1]) return fail_node(p, n, "out of memory");
    for (int k = 0; k < p->nkinds; k++) {
        ax->values[k] = (qn_value){.kind = QN_VAL_STR, .str = strdup(p->kinds[k])};
        if (!ax->values[k].str) return fail_node(p, n, "out of memory");
        ax->nvalues = k + 1;
        sm->values[st->naxes - 1][k] = mark_of(n);
    }
    if (st->ntrials > MAX_TRIALS_PER_STAGE / p->nkinds)
        return fail_node(p, n, "stage '%s' has more than %lld trials on %d device kinds", st->name,
                         MAX_TRIALS_PER_STAGE, p->nkinds);
    st->ntrials *= p->nkinds;
    return 0;
}

static int parse_stage(parser *p, int index, const yaml_node_t *map) {
    static const char *const keys[] = {"name", "kind", "from", "grid", "run", "metric", "checkpoints",
                                       "method", "trials", "parameters", "trial_timeout", "placement"};
    qn_stage *st = &p->job->stages[index];
    stage_marks *sm = &p->marks[index];
    st->line = mark_of(map).line;
    st->col = mark_of(map).col;
    if (map->type != YAML_MAPPING_NODE)
        return fail_node(p, map, "each stage must be a mapping with name and run, not %s", kind_name(map));
    char where[64];
    snprintf(where, sizeof where, "stage %d", index + 1);
    if (check_keys(p, map, where, keys, 12) != 0) return -1;
    yaml_node_t *n_name = NULL, *n_kind = NULL, *n_from = NULL, *n_grid = NULL, *n_run = NULL, *n_metric = NULL,
                *n_ckpt = NULL, *n_method = NULL, *n_trials = NULL, *n_params = NULL, *n_timeout = NULL,
                *n_placement = NULL;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const char *k = text(node(p, a->key));
        yaml_node_t *v = node(p, a->value);
        if (!strcmp(k, "name")) n_name = v;
        else if (!strcmp(k, "kind")) n_kind = v;
        else if (!strcmp(k, "from")) n_from = v;
        else if (!strcmp(k, "grid")) n_grid = v;
        else if (!strcmp(k, "run")) n_run = v;
        else if (!strcmp(k, "checkpoints")) n_ckpt = v;
        else if (!strcmp(k, "method")) n_method = v;
        else if (!strcmp(k, "trials")) n_trials = v;
        else if (!strcmp(k, "parameters")) n_params = v;
        else if (!strcmp(k, "trial_timeout")) n_timeout = v;
        else if (!strcmp(k, "placement")) n_placement = v;
        else n_metric = v;
    }
    if (!n_name) return fail_node(p, map, "stage %d has no name", index + 1);
    if (n_name->type != YAML_SCALAR_NODE || !text(n_name)[0])
        return fail_node(p, n_name, "stage name must be a non-empty name");
    for (const char *c = text(n_name); *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
            return fail_node(p, n_name, "stage name '%.100s' may use letters, digits, '_', '-' and '.' only", text(n_name));
    st->name = strdup(text(n_name));
    sm->name = mark_of(n_name);
    for (int i = 0; i < index; i++)
        if (!strcmp(p->job->stages[i].name, st->name))
            return fail_node(p, n_name, "duplicate stage name '%s' (also stage %d)", st->name, i + 1);
    const char *kind = n_method ? "search" : "grid"; /* method: makes a search stage */
    if (n_kind && n_kind->type == YAML_SCALAR_NODE && !strcmp(text(n_kind), "inference")) {
        if (n_method) return fail_node(p, n_method, "a kind: inference stage takes grid:, not method:");
        if (n_from) return fail_node(p, n_from, "a kind: inference stage loads llm.model: it takes no from:");
        kind = "inference";
    } else if (n_kind) {
        if (n_kind->type != YAML_SCALAR_NODE || (strcmp(text(n_kind), "grid") != 0 && strcmp(text(n_kind), "search") != 0))
            return fail_node(p, n_kind, "unknown stage kind '%.100s': expected grid, search or inference",
                             n_kind->type == YAML_SCALAR_NODE ? text(n_kind) : kind_name(n_kind));
        if (strcmp(text(n_kind), kind) != 0)
            return fail_node(p, n_kind, n_method ? "a stage with method: is a search stage, not kind %s"
                                                 : "a search stage needs method: grid, random or tpe", text(n_kind));
    }
    st->kind = strdup(kind);
    if (!n_method && (n_trials || n_params))
        return fail_node(p, n_trials ? n_trials : n_params, "%s needs method: grid, random or tpe (a search stage)",
                         n_trials ? "trials" : "parameters");
    if (n_method && n_grid)
        return fail_node(p, n_grid, "a search stage takes parameters:, not grid:");
    if (!n_run && !strcmp(kind, "inference")) {
        st->nsteps = 1; /* run: [infer] */
        st->steps[0] = QN_STEP_INFER;
        sm->steps = calloc(1, sizeof *sm->steps);
        if (!sm->steps) return fail_node(p, map, "out of memory");
        sm->steps[0] = mark_of(map);
        sm->run = mark_of(map);
    } else {
        if (!n_run) return fail_node(p, map, "stage '%s' has no run: list its steps, e.g. run: [train, eval]", st->name);
        if (parse_steps(p, st, sm, n_run) != 0) return -1;
        sm->run = mark_of(n_run);
    }
    if (n_method) {
        if (parse_search(p, st, sm, n_method, n_trials, n_params) != 0) return -1;
    } else if (n_grid) {
        if (parse_grid(p, st, sm, n_grid) != 0) return -1;
    } else {
        st->ntrials = 1;
    }
    if (n_placement && parse_placement(p, st, sm, n_placement) != 0) return -1;
    if (n_from) {
        if (n_from->type != YAML_SCALAR_NODE)
            return fail_node(p, n_from, "from must be a stage name or best(STAGE, METRIC), not %s", kind_name(n_from));
        sm->from_text = strdup(text(n_from));
        sm->from = mark_of(n_from);
    }
    if (n_metric && parse_metric(p, st, sm, n_metric) != 0) return -1;
    /* the stage's own limit, else the job's (parsed before the stages) */
    st->trial_timeout_s = p->job->trial_timeout_s;
    if (n_timeout && parse_timeout(p, n_timeout, &st->trial_timeout_s) != 0) return -1;
    sm->checkpoints = -1; /* the job's train.checkpoints */
    if (n_ckpt) {
        int c = n_ckpt->type != YAML_SCALAR_NODE ? -1 : qn_ckpt_policy_of(text(n_ckpt));
        if (c < 0)
            return fail_node(p, n_ckpt, "checkpoints must be none, best or all, not '%.100s'",
                             n_ckpt->type == YAML_SCALAR_NODE ? text(n_ckpt) : kind_name(n_ckpt));
        sm->checkpoints = c;
    }
    return 0;
}

/* from: STAGE | best(STAGE, METRIC[, max|min]) */
static int parse_from(parser *p, int s) {
    qn_stage *st = &p->job->stages[s];
    stage_marks *sm = &p->marks[s];
    char buf[256], *parts[3] = {0};
    snprintf(buf, sizeof buf, "%s", sm->from_text);
    int nparts = 0;
    char *open = strchr(buf, '(');
    int best = 0;
    if (open) {
        char *b = buf;
        while (isspace((unsigned char)*b)) b++;
        char *close = strrchr(buf, ')');
        size_t head = (size_t)(open - b);
        while (head > 0 && isspace((unsigned char)b[head - 1])) head--;
        if (!close || head != 4 || strncmp(b, "best", 4) != 0)
            return fail(p, sm->from, "from must be a stage name or best(STAGE, METRIC), not '%.100s'", sm->from_text);
        for (char *t = close + 1; *t; t++)
            if (!isspace((unsigned char)*t))
                return fail(p, sm->from, "from must be a stage name or best(STAGE, METRIC), not '%.100s'", sm->from_text);
        *close = 0;
        best = 1;
        char *save = NULL;
        for (char *tok = strtok_r(open + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*tok)) tok++;
            size_t l = strlen(tok);
            while (l && isspace((unsigned char)tok[l - 1])) tok[--l] = 0;
            if (nparts == 3)
                return fail(p, sm->from, "best() takes a stage, a metric and optionally max or min, not '%.100s'", sm->from_text);
            parts[nparts++] = tok;
        }
        if (nparts < 2 || !parts[0][0] || !parts[1][0])
            return fail(p, sm->from, "best() needs a stage and a metric: best(STAGE, METRIC), not '%.100s'", sm->from_text);
        if (nparts == 3 && strcmp(parts[2], "max") && strcmp(parts[2], "min"))
            return fail(p, sm->from, "the third argument of best() must be max or min, not '%.100s'", parts[2]);
    } else {
        char *b = buf;
        while (isspace((unsigned char)*b)) b++;
        size_t l = strlen(b);
        while (l && isspace((unsigned char)b[l - 1])) b[--l] = 0;
        parts[0] = b;
        nparts = 1;
    }
    int src = -1;
    const char *names[256];
    int nn = 0;
    for (int i = 0; i < p->job->nstages; i++) {
        if (!strcmp(p->job->stages[i].name, parts[0])) src = i;
        if (nn < 256) names[nn++] = p->job->stages[i].name;
    }
    if (src < 0) {
        const char *hint = qn_suggest(parts[0], names, nn);
        if (hint) return fail(p, sm->from, "from names an unknown stage '%.100s': did you mean '%s'?", parts[0], hint);
        return fail(p, sm->from, "from names an unknown stage '%.100s'", parts[0]);
    }
    st->from.stage = src;
    const qn_stage *ss = &p->job->stages[src];
    if (!best) {
        st->from.kind = QN_FROM_STAGE;
        if (ss->ntrials != 1)
            return fail(p, sm->from, "stage '%s' has %lld trials: say which to start from, e.g. best(%s, %s)", ss->name,
                        (long long)ss->ntrials, ss->name, default_metric(ss));
        return 0;
    }
    st->from.kind = QN_FROM_BEST;
    st->from.metric = strdup(parts[1]);
    const char *metrics[QN_MAX_STEPS * 4];
    int nm = 0;
    for (int i = 0; i < ss->nsteps; i++) nm += qn_step_metrics(ss->steps[i], metrics + nm);
    int ok = 0;
    for (int i = 0; i < nm && !ok; i++) ok = !strcmp(metrics[i], parts[1]);
    if (!ok) {
        const char *hint = qn_suggest(parts[1], metrics, nm);
        if (hint)
            return fail(p, sm->from, "stage '%s' records no metric '%.100s': did you mean '%s'?", ss->name, parts[1], hint);
        return fail(p, sm->from, "stage '%s' records no metric '%.100s'", ss->name, parts[1]);
    }
    size_t ml = strlen(parts[1]);
    st->from.maximize = nparts == 3 ? !strcmp(parts[2], "max") : !(ml >= 4 && !strcmp(parts[1] + ml - 4, "loss"));
    return 0;
}

static int check_cycles(parser *p) {
    for (int s = 0; s < p->job->nstages; s++) {
        int cur = s, steps = 0;
        while (p->job->stages[cur].from.kind != QN_FROM_NONE && steps <= p->job->nstages) {
            cur = p->job->stages[cur].from.stage;
            steps++;
            if (cur == s) {
                char chain[QN_ERR_LEN] = "";
                int c = s;
                size_t used = 0;
                for (int i = 0; i <= steps && used < sizeof chain - 64; i++) {
                    used += (size_t)snprintf(chain + used, sizeof chain - used, "%s'%s'", i ? " -> " : "",
                                             p->job->stages[c].name);
                    c = p->job->stages[c].from.stage;
                }
                return fail(p, p->marks[s].from, "cycle in from: stage %s", chain);
            }
        }
    }
    return 0;
}

static int stage_metric(parser *p, int s) {
    qn_stage *st = &p->job->stages[s];
    stage_marks *sm = &p->marks[s];
    const char *metrics[QN_MAX_STEPS * 4];
    int nm = 0;
    for (int i = 0; i < st->nsteps; i++) nm += qn_step_metrics(st->steps[i], metrics + nm);
    if (!st->metric) {
        st->metric = strdup(default_metric(st));
    } else {
        int ok = 0;
        for (int i = 0; i < nm && !ok; i++) ok = !strcmp(metrics[i], st->metric);
        if (!ok) {
            const char *hint = qn_suggest(st->metric, metrics, nm);
            if (hint) return fail(p, sm->metric, "stage '%s' records no metric '%.100s': did you mean '%s'?", st->name, st->metric, hint);
            return fail(p, sm->metric, "stage '%s' records no metric '%.100s'", st->name, st->metric);
        }
    }
    if (st->maximize < 0 || (st->maximize == 0 && !sm->metric.line)) {
        size_t ml = strlen(st->metric);
        st->maximize = !(ml >= 4 && !strcmp(st->metric + ml - 4, "loss"));
    }
    return 0;
}

/* ---------------------------------------------------------------- every trial, built once */

typedef struct {
    qn_param *params;
    int n;
} param_list;

static void param_list_free(param_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->params[i].name);
        value_free(&l->params[i].value);
    }
    free(l->params);
    l->params = NULL;
    l->n = 0;
}

/* The axis a configuration error is about: the one whose last name component appears in the
 * message, preferring the longest ("frac_width" over "width"). */
static int axis_for_error(const qn_stage *st, const char *msg) {
    int best = -1;
    size_t best_len = 0;
    /* a layer's message ("layers.L...: ...") is about that layer's axes only */
    char layer[QN_LAYER_NAME_LEN + 16];
    int per_layer = !strncmp(msg, "layers.", 7);
    for (int a = 0; a < st->naxes; a++) {
        char axis_layer[QN_LAYER_NAME_LEN + 1];
        int is_layer = layer_of(st->axes[a].name, axis_layer, sizeof axis_layer);
        if (per_layer != is_layer) continue;
        if (is_layer) {
            size_t n = (size_t)snprintf(layer, sizeof layer, "layers.%s", axis_layer);
            if (strncmp(msg, layer, n) != 0 || (msg[n] != '.' && msg[n] != ':')) continue;
            if (best < 0) best = a; /* the layer's first axis unless a key matches */
        }
        const char *key = strrchr(st->axes[a].name, '.');
        key = key ? key + 1 : st->axes[a].name;
        size_t len = strlen(key);
        if (strstr(msg, key) && len > best_len) {
            best = a;
            best_len = len;
        }
    }
    if (best >= 0) return best;
    /* No key named: blame the first axis of the message's group ("quant: ..." -> quant.name). */
    size_t group = strcspn(msg, ".: ");
    for (int a = 0; a < st->naxes; a++)
        if (strncmp(st->axes[a].name, msg, group) == 0 && st->axes[a].name[group] == '.') return a;
    return -1;
}

static int has_step(const qn_stage *st, qn_step s) {
    for (int i = 0; i < st->nsteps; i++)
        if (st->steps[i] == s) return 1;
    return 0;
}

/* One search trial's configuration with each parent; 0, or -1 with the error reported. Whether it
 * quantizes and prunes is OR-ed into *quant and *prune. */
static int validate_search_point(parser *p, int s, const param_list *variants, int nvariants, const double *x,
                                 int *quant, int *prune) {
    qn_job *job = p->job;
    qn_stage *st = &job->stages[s];
    stage_marks *sm = &p->marks[s];
    qn_trial t;
    if (qn_job_trial(job, st->first_trial, &t) != 0) return fail(p, sm->name, "out of memory");
    int rc = qn_search_params(st, x, &t) != 0 ? fail(p, sm->name, "out of memory") : 0;
    for (int v = 0; v < nvariants && rc == 0; v++) {
        qn_trial_config cfg;
        char msg[QN_ERR_LEN];
        if (qn_trial_config_build(job, variants[v].params, variants[v].n, &t, &cfg, msg, sizeof msg) != 0) {
            int a = axis_for_error(st, msg);
            if (a >= 0) rc = fail(p, (mark){st->axes[a].line, st->axes[a].col}, "%s", msg);
            else if (st->from.kind != QN_FROM_NONE)
                rc = fail(p, sm->from, "%s (with the parameters inherited from stage '%s')", msg, job->stages[st->from.stage].name);
            else rc = fail(p, base_mark_for(p, msg, p->base_quant.line ? p->base_quant : sm->name), "%s", msg);
        } else {
            *quant |= qn_config_any_quant(&cfg);
            *prune |= qn_config_any_prune(&cfg);
        }
    }
    qn_trial_free(&t);
    return rc;
}

/* A search stage's trials are not known before it runs: check a representative one, each parameter
 * at its first value or its min (each value alone was checked when parsed), with every parent; and
 * one more per value of each values parameter, the others at their first, with the chain of
 * conditions above it made true, so that a format's keys are checked with that format chosen. */
static int validate_search(parser *p, int s, const param_list *variants, int nvariants) {
    qn_stage *st = &p->job->stages[s];
    if (!strcmp(p->job->base.model.arch, "llm"))
        return fail(p, p->marks[s].name, "stage '%s' searches, but model.arch is llm: language models run in kind: "
                                         "inference stages (a grid)", st->name);
    double *x = calloc((size_t)st->naxes + 1, sizeof *x);
    if (!x) return fail(p, p->marks[s].name, "out of memory");
    int rc = 0, quant = 0, prune = 0;
    for (int a = -1; a < st->naxes && rc == 0; a++) {
        if (a >= 0 && st->axes[a].dist != QN_DIST_VALUES) continue;
        for (int c = a < 0 ? 0 : 1; c < (a < 0 ? 1 : st->axes[a].nvalues) && rc == 0; c++) {
            for (int b = 0; b < st->naxes; b++) x[b] = st->axes[b].dist == QN_DIST_VALUES ? 0 : st->axes[b].low;
            if (a >= 0) {
                x[a] = c;
                for (int b = a; st->axes[b].parent >= 0; b = st->axes[b].parent) x[st->axes[b].parent] = st->axes[b].parent_choice;
            }
            rc = validate_search_point(p, s, variants, nvariants, x, &quant, &prune);
        }
    }
    free(x);
    /* a space where some trials stay unquantized (a layer's choice of fp32) is fine; one where none
     * can be quantized is a mistake */
    stage_marks *sm = &p->marks[s];
    if (rc == 0 && has_step(st, QN_STEP_PRUNE) && !prune)
        rc = fail(p, sm->run, "stage '%s' runs prune but its trials have no pruning method: set prune.method "
                              "(or prune.weight.method / prune.activation.method)", st->name);
    else if (rc == 0 && (has_step(st, QN_STEP_PTQ_EVAL) || has_step(st, QN_STEP_QAT) || has_step(st, QN_STEP_QUANTIZE)) &&
             !quant)
        rc = fail(p, sm->run, "stage '%s' runs %s but its trials have no quantization: set quant.name", st->name,
                  needs_quant_step(st));
    return rc;
}

static int validate_trials(parser *p, int s, const param_list *variants, int nvariants) {
    qn_job *job = p->job;
    qn_stage *st = &job->stages[s];
    stage_marks *sm = &p->marks[s];
    if (st->method) return validate_search(p, s, variants, nvariants);
    int needs_quant = has_step(st, QN_STEP_PTQ_EVAL) || has_step(st, QN_STEP_QAT) || has_step(st, QN_STEP_QUANTIZE);
    int needs_prune = has_step(st, QN_STEP_PRUNE);
    /* Enough to check every value of every axis with every parent: all trials when they are few. */
    int64_t limit = st->ntrials <= 100000 ? st->ntrials : 100000;
    for (int64_t i = 0; i < limit; i++) {
        qn_trial t;
        if (qn_job_trial(job, st->first_trial + i, &t) != 0) return fail(p, sm->name, "internal error building trials");
        for (int v = 0; v < nvariants; v++) {
            qn_trial_config cfg;
            char msg[QN_ERR_LEN];
            if (qn_trial_config_build(job, variants[v].params, variants[v].n, &t, &cfg, msg, sizeof msg) != 0) {
                int a = axis_for_error(st, msg);
                int64_t rest = i, idx = 0;
                for (int k = st->naxes - 1; k >= 0; k--) {
                    if (k == a) idx = rest % st->axes[k].nvalues;
                    rest /= st->axes[k].nvalues;
                }
                qn_trial_free(&t);
                if (a >= 0) return fail(p, sm->values[a][idx], "%s", msg);
                if (st->from.kind != QN_FROM_NONE)
                    return fail(p, sm->from, "%s (with the parameters inherited from stage '%s')", msg,
                                job->stages[st->from.stage].name);
                return fail(p, base_mark_for(p, msg, p->base_quant.line ? p->base_quant : sm->name), "%s", msg);
            }
            if ((strcmp(cfg.model.arch, "llm") == 0) != (strcmp(st->kind, "inference") == 0)) {
                qn_trial_free(&t);
                return fail(p, sm->name, strcmp(st->kind, "inference")
                                             ? "stage '%s' trains or evaluates a classifier, but model.arch is llm "
                                               "(language models run in kind: inference stages)"
                                             : "stage '%s' is kind: inference, which needs model.arch: llm",
                            st->name);
            }
            if (!strcmp(cfg.model.arch, "llm") && !cfg.llm.model[0]) {
                qn_trial_free(&t);
                return fail(p, sm->name, "stage '%s' names no model: set llm.model (a Hugging Face model directory) "
                                         "in llm: or in its grid", st->name);
            }
            if (needs_prune && !qn_config_any_prune(&cfg)) {
                qn_trial_free(&t);
                return fail(p, sm->run, "stage '%s' runs prune but its trials have no pruning method: set prune.method "
                                        "(or prune.weight.method / prune.activation.method)", st->name);
            }
            if (needs_quant && !qn_config_any_quant(&cfg)) {
                qn_trial_free(&t);
                return fail(p, sm->run, "stage '%s' runs %s but its trials have no quantization: set quant.name", st->name,
                            needs_quant_step(st));
            }
        }
        qn_trial_free(&t);
    }
    return 0;
}

/* Stages in an order where each comes after the stage it starts from. */
static int validate_all(parser *p) {
    qn_job *job = p->job;
    int n = job->nstages;
    param_list **variants = calloc((size_t)n, sizeof *variants);
    int *nvariants = calloc((size_t)n, sizeof *nvariants);
    int *done = calloc((size_t)n, sizeof *done);
    int rc = 0;
    if (!variants || !nvariants || !done) rc = fail(p, (mark){1, 1}, "out of memory");
    for (int round = 0; round < n && rc == 0; round++) {
        for (int s = 0; s < n && rc == 0; s++) {
            qn_stage *st = &job->stages[s];
            if (done[s]) continue;
            if (st->from.kind != QN_FROM_NONE && !done[st->from.stage]) continue;
            done[s] = 1;
            if (st->from.kind == QN_FROM_NONE) {
                variants[s] = calloc(1, sizeof(param_list));
                nvariants[s] = 1;
            } else {
                /* Each trial of the source, with each of the source's own inherited lists. */
                int src = st->from.stage;
                const qn_stage *ss = &job->stages[src];
                int cap = MAX_INHERITED_VARIANTS;
                variants[s] = calloc((size_t)cap, sizeof(param_list));
                for (int64_t t = 0; t < ss->ntrials && nvariants[s] < cap; t++) {
                    qn_trial tr;
                    qn_job_trial(job, ss->first_trial + t, &tr);
                    for (int v = 0; v < nvariants[src] && nvariants[s] < cap; v++) {
                        param_list *l = &variants[s][nvariants[s]++];
                        const param_list *pl = &variants[src][v];
                        l->n = pl->n + tr.nparams;
                        l->params = calloc((size_t)l->n + 1, sizeof(qn_param));
                        for (int i = 0; i < l->n; i++) {
                            const qn_param *from = i < pl->n ? &pl->params[i] : &tr.params[i - pl->n];
                            l->params[i].name = strdup(from->name);
                            l->params[i].value = from->value;
                            if (from->value.kind == QN_VAL_STR) l->params[i].value.str = strdup(from->value.str);
                        }
                    }
                    qn_trial_free(&tr);
                }
            }
            rc = validate_trials(p, s, variants[s], nvariants[s]);
        }
    }
    for (int s = 0; variants && s < n; s++) {
        for (int v = 0; v < nvariants[s]; v++) param_list_free(&variants[s][v]);
        free(variants[s]);
    }
    free(variants);
    free(nvariants);
    free(done);
    return rc;
}

/* ---------------------------------------------------------------- the document */

static int parse_document(parser *p, const yaml_node_t *root) {
    static const char *const keys[] = {"name", "seed", "model", "data", "train", "quant", "prune", "layers", "stages",
                                       "debug", "trial_timeout", "llm", "device"};
    qn_job *job = p->job;
    if (root->type != YAML_MAPPING_NODE)
        return fail_node(p, root, "a job file is a mapping with name, model, data, train and stages, not %s", kind_name(root));
    if (check_keys(p, root, "the job", keys, 13) != 0) return -1;
    yaml_node_t *n_name = NULL, *n_stages = NULL;
    for (yaml_node_pair_t *a = root->data.mapping.pairs.start; a < root->data.mapping.pairs.top; a++) {
        const char *k = text(node(p, a->key));
        yaml_node_t *v = node(p, a->value);
        if (!strcmp(k, "name")) {
            n_name = v;
        } else if (!strcmp(k, "seed")) {
            long long seed = 0;
            if (parse_int(p, v, "seed", 0, 9007199254740992LL, &seed) != 0) return -1;
            job->seed = (uint64_t)seed;
        } else if (!strcmp(k, "stages")) {
            n_stages = v;
        } else if (!strcmp(k, "trial_timeout")) {
            if (parse_timeout(p, v, &job->trial_timeout_s) != 0) return -1;
        } else if (!strcmp(k, "layers")) {
            if (layers_section(p, v) != 0) return -1;
        } else {
            if (!strcmp(k, "quant")) p->base_quant = mark_of(node(p, a->key));
            if (!strcmp(k, "model")) p->base_model = mark_of(node(p, a->key));
            if (!strcmp(k, "data")) p->base_data = mark_of(node(p, a->key));
            if (!strcmp(k, "llm")) p->base_llm = mark_of(node(p, a->key));
            if (!strcmp(k, "device")) p->base_device = mark_of(node(p, a->key));
            if (base_section(p, k, v, 0) != 0) return -1;
        }
    }
    if (!n_name) return fail_node(p, root, "the job has no name: add name: my-study");
    if (n_name->type != YAML_SCALAR_NODE || !text(n_name)[0] || strpbrk(text(n_name), "\n\r\t"))
        return fail_node(p, n_name, "name must be a single-line text");
    job->name = strdup(text(n_name));
    char msg[QN_ERR_LEN];
    if (p->base_layers) {
        /* the names of the layers: section, at their keys, once the model's sizes are known */
        qn_trial_config model = job->base;
        if (qn_config_finish_model(&model, msg, sizeof msg) == 0) {
            const yaml_node_t *map = p->base_layers;
            for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
                if (qn_layer_check_name(&model.model, text(node(p, a->key)), msg, sizeof msg) != 0)
                    return fail_node(p, node(p, a->key), "%s", msg);
        }
    }
    if (qn_config_finish(&job->base, msg, sizeof msg) != 0) {
        /* point at the section the message is about */
        mark at = !strncmp(msg, "data.", 5)    ? p->base_data
                  : !strncmp(msg, "model.", 6) ? p->base_model
                  : !strncmp(msg, "device.", 7) && p->base_device.line ? p->base_device
                  : strstr(msg, "llm.") && p->base_llm.line ? p->base_llm
                  : strstr(msg, "llm.")        ? p->base_model
                                               : p->base_quant;
        at = base_mark_for(p, msg, at);
        return fail(p, at.line ? at : mark_of(root), "%s", msg);
    }
    if (!n_stages) return fail_node(p, root, "the job has no stages: add a stages list (see docs/jobs.md)");
    if (n_stages->type != YAML_SEQUENCE_NODE) return fail_node(p, n_stages, "stages must be a list, not %s", kind_name(n_stages));
    int n = (int)(n_stages->data.sequence.items.top - n_stages->data.sequence.items.start);
    if (n == 0) return fail_node(p, n_stages, "stages is empty: a job needs at least one stage");
    if (n > 1000) return fail_node(p, n_stages, "%d stages: at most 1000", n);
    job->stages = calloc((size_t)n, sizeof *job->stages);
    p->marks = calloc((size_t)n, sizeof *p->marks);
    if (!job->stages || !p->marks) return fail_node(p, n_stages, "out of memory");
    job->nstages = n;
    for (int s = 0; s < n; s++)
        if (parse_stage(p, s, node(p, n_stages->data.sequence.items.start[s])) != 0) return -1;
    int64_t first = 0;
    for (int s = 0; s < n; s++) {
        job->stages[s].first_trial = first;
        first += job->stages[s].ntrials;
    }
    job->ntrials = first;
    for (int s = 0; s < n; s++)
        if (p->marks[s].from_text && parse_from(p, s) != 0) return -1;
    if (check_cycles(p) != 0) return -1;
    for (int s = 0; s < n; s++) {
        qn_stage *st = &job->stages[s];
        st->checkpoints = (qn_ckpt_policy)(p->marks[s].checkpoints >= 0 ? p->marks[s].checkpoints
                                                                          : qn_ckpt_policy_of(job->base.train.checkpoints));
        if (stage_metric(p, s) != 0) return -1;
        if (!has_step(st, QN_STEP_PRUNE) && (p->marks[s].has_prune_axis || p->base_prune_set))
            return fail(p, p->marks[s].has_prune_axis ? p->marks[s].prune_axis : p->base_prune,
                        "prune.* is set but stage '%s' has no prune step: add prune to its run list", st->name);
    }
    return validate_all(p);
}

static void free_marks(parser *p) {
    for (int s = 0; p->marks && s < p->job->nstages; s++) {
        stage_marks *sm = &p->marks[s];
        for (int a = 0; sm->values && a < p->job->stages[s].naxes; a++) free(sm->values[a]);
        free(sm->values);
        free(sm->steps);
        free(sm->from_text);
    }
    free(p->marks);
}

static int cmp_kind(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_text(const char *path, const char *text_in, size_t len, const char *const *kinds, int nkinds,
                     qn_job *job, char *err, size_t errlen) {
    memset(job, 0, sizeof *job);
    qn_config_defaults(&job->base);
    job->path = strdup(path);
    job->text = malloc(len + 1);
    if (!job->path || !job->text) {
        snprintf(err, errlen, "%s: out of memory", path);
        qn_job_free(job);
        return -1;
    }
    memcpy(job->text, text_in, len);
    job->text[len] = 0;

    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp)) {
        snprintf(err, errlen, "%s: cannot start the YAML parser", path);
        qn_job_free(job);
        return -1;
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)job->text, len);
    int rc = 0;
    if (!yaml_parser_load(&yp, &doc)) {
        snprintf(err, errlen, "%s:%d:%d: YAML syntax error: %s%s%s", path, (int)yp.problem_mark.line + 1,
                 (int)yp.problem_mark.column + 1, yp.problem ? yp.problem : "malformed document",
                 yp.context ? " " : "", yp.context ? yp.context : "");
        yaml_parser_delete(&yp);
        qn_job_free(job);
        return -1;
    }
    parser p = {.path = path, .doc = &doc, .err = err, .errlen = errlen, .job = job};
    if (kinds) { /* sorted and distinct: the axis is the same whatever order the workers said hello in */
        p.kinds = calloc((size_t)nkinds + 1, sizeof *p.kinds);
        for (int k = 0; p.kinds && k < nkinds; k++) p.kinds[k] = (char *)kinds[k];
        if (p.kinds) qsort(p.kinds, (size_t)nkinds, sizeof *p.kinds, cmp_kind);
        for (int k = 0; p.kinds && k < nkinds; k++)
            if (!p.nkinds || strcmp(p.kinds[p.nkinds - 1], p.kinds[k]) != 0) p.kinds[p.nkinds++] = p.kinds[k];
        if (!p.kinds || !p.nkinds) {
            snprintf(err, errlen, "%s: %s", path, p.kinds ? "no device kinds for placement: each_device_kind" : "out of memory");
            free(p.kinds);
            yaml_document_delete(&doc);
            yaml_parser_delete(&yp);
            qn_job_free(job);
            return -1;
        }
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        snprintf(err, errlen, "%s:1:1: the job file is empty", path);
        rc = -1;
    } else {
        rc = parse_document(&p, root);
    }
    if (rc == 0) {
        /* One document per job file. */
        yaml_document_t next;
        if (yaml_parser_load(&yp, &next)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2) rc = fail_node(&p, r2, "a job file holds one YAML document; this is a second one");
            yaml_document_delete(&next);
        }
    }
    free_marks(&p);
    free(p.kinds);
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    if (rc != 0) qn_job_free(job);
    return rc;
}

int qn_job_load_text(const char *path, const char *text, size_t len, qn_job *job, char *err, size_t errlen) {
    return load_text(path, text, len, NULL, 0, job, err, errlen);
}

int qn_job_load(const char *path, qn_job *job, char *err, size_t errlen) {
    return qn_job_load_kinds(path, NULL, 0, job, err, errlen);
}

int qn_job_has_each_device_kind(const qn_job *job) {
    for (int s = 0; s < job->nstages; s++)
        if (job->stages[s].each_device_kind) return 1;
    return 0;
}

int qn_job_load_kinds(const char *path, const char *const *kinds, int nkinds, qn_job *job, char *err, size_t errlen) {
    memset(job, 0, sizeof *job);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open the job file: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            if (cap >= (64u << 20)) {
                fclose(f);
                free(buf);
                snprintf(err, errlen, "%s: the job file is larger than 64 MiB", path);
                return -1;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    int read_error = ferror(f);
    fclose(f);
    if (!buf || read_error) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read the job file", path);
        return -1;
    }
    int rc = load_text(path, buf, len, kinds, nkinds, job, err, errlen);
    free(buf);
    return rc;
}

void qn_job_free(qn_job *job) {
    for (int s = 0; job->stages && s < job->nstages; s++) {
        qn_stage *st = &job->stages[s];
        for (int a = 0; st->axes && a < st->naxes; a++) {
            for (int v = 0; v < st->axes[a].nvalues; v++) value_free(&st->axes[a].values[v]);
            free(st->axes[a].values);
            free(st->axes[a].name);
        }
        free(st->axes);
        free(st->name);
        free(st->kind);
        free(st->metric);
        free(st->from.metric);
    }
    free(job->stages);
    free(job->path);
    free(job->text);
    free(job->name);
    memset(job, 0, sizeof *job);
}
