/* study.c: the coordinator (rank 0). Plans the study from the job, dispatches trials to idle
 * workers as they free up, resolves `from:` artifacts between stages, records every result in the
 * results file (durably, one trial at a time) and prints progress. With one rank it runs the trials
 * itself. Workers run coordinator/worker_loop.c. */
#include "qn_coordinator.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "protocol.h"
#include "qn_device.h"
#include "qn_job.h"
#include "qn_results.h"
#include "qn_worker.h"
#include "qn_worker_ckpt.h"
#include "study_internal.h"
#include "study_search.h"
#include "transport.h"

typedef enum { TS_PENDING = 0, TS_RUNNING, TS_DONE, TS_FAILED } trial_state;

typedef struct {
    int ready;            /* parent resolved (or no from:) */
    int64_t parent;       /* resolved parent trial, -1 none */
    char *parent_error;   /* set: every trial of the stage fails with it */
    qn_param *inherited;  /* parameters inherited along the from: chain */
    int ninherited;
    int64_t cursor;       /* next trial id to look at for dispatch */
    int64_t done, failed;
    int64_t best;
    double best_value;
    qn_search *search;    /* search stages: the sampler and each trial's point; NULL for grids */
    int needs_ckpt;       /* some stage starts from this one */
    int ckpts_pruned;
} stage_state;

#define WORKER_CACHE 4
typedef struct {
    int alive;            /* said hello */
    int busy;
    int64_t trial;
    double started_wall;
    qn_device_profile dev;
    int64_t cached[WORKER_CACHE]; /* parent checkpoints the worker holds */
    int ncached, next_slot;
} worker_state;

#define COORD_CACHE 4
typedef struct {
    int64_t id;
    float *buf;
    size_t len;
} ckpt_entry;

typedef struct {
    const qn_run_opts *opts;
    qn_job job;
    qn_results *res;
    int session;
    int64_t n;
    trial_state *state;
    int64_t *row;          /* row of each trial in the results file, -1 when not recorded */
    uint8_t *has_ckpt, *has_master; /* what /trial/<id>/checkpoint holds now */
    stage_state *stages;
    worker_state *workers; /* workers[r] for rank r >= 1 */
    int nranks;
    qn_worker_ctx *inline_ctx;
    qn_device_profile self_dev;
    ckpt_entry cache[COORD_CACHE];
    int cache_next;
    qn_progress progress;
    int64_t finished, failed_total, running;
    double t0;
} study;

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

/* ---------------------------------------------------------------- small helpers */

static void param_copy(qn_param *dst, const qn_param *src) {
    dst->name = strdup(src->name);
    dst->value = src->value;
    if (src->value.kind == QN_VAL_STR) dst->value.str = strdup(src->value.str);
}

static void params_free(qn_param *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].name);
        if (p[i].value.kind == QN_VAL_STR) free(p[i].value.str);
    }
    free(p);
}

static int stage_of(const study *st, int64_t id) {
    for (int s = 0; s < st->job.nstages; s++) {
        const qn_stage *g = &st->job.stages[s];
        if (id >= g->first_trial && id < g->first_trial + g->ntrials) return s;
    }
    return -1;
}

/* Trial `id` of the plan with its parameters: a search trial's are its sampler point, once drawn. */
static int study_trial(const study *st, int64_t id, qn_trial *t) {
    if (qn_job_trial(&st->job, id, t) != 0) return -1;
    const qn_search *q = st->stages[t->stage].search;
    int64_t i = id - st->job.stages[t->stage].first_trial;
    if (q && qn_search_assigned(q, i) && qn_search_trial_params(q, i, t) != 0) {
        qn_trial_free(t);
        return -1;
    }
    return 0;
}

/* A search trial's outcome, for the suggestions that follow it. */
static void search_note(study *st, int64_t id, qn_search_state state, double value) {
    int s = stage_of(st, id);
    qn_search *q = st->stages[s].search;
    if (!q) return;
    int64_t i = id - st->job.stages[s].first_trial;
    qn_search_note(q, i, state, value);
}

static int stage_complete(const study *st, int s) {
    return st->stages[s].done + st->stages[s].failed == st->job.stages[s].ntrials;
}

static double metric_of(const qn_trial_result *r, const char *name) {
    for (int i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0) return r->metrics[i].value;
    return NAN;
}

static int better(double v, double best, int maximize) {
    if (isnan(v)) return 0;
    if (isnan(best)) return 1;
    return maximize ? v > best : v < best;
}

/* ---------------------------------------------------------------- checkpoints */

static const ckpt_entry *coord_ckpt(study *st, int64_t id, char *err, size_t errlen) {
    for (int i = 0; i < COORD_CACHE; i++)
        if (st->cache[i].buf && st->cache[i].id == id) return &st->cache[i];
    float *buf = NULL;
    size_t len = 0;
    if (qn_results_read_checkpoint(st->res, id, &buf, &len) != 0) {
        snprintf(err, errlen, "the checkpoint of parent trial %lld is missing from the results file", (long long)id);
        return NULL;
    }
    ckpt_entry *e = &st->cache[st->cache_next];
    st->cache_next = (st->cache_next + 1) % COORD_CACHE;
    free(e->buf);
    e->id = id;
    e->buf = buf;
    e->len = len;
    return e;
}

/* Is trial id of stage src the chosen parent of a stage that starts from src? */
static int chosen_parent(const study *st, int src, int64_t id) {
    for (int s = 0; s < st->job.nstages; s++)
        if (st->job.stages[s].from.kind != QN_FROM_NONE && st->job.stages[s].from.stage == src && st->stages[s].ready &&
            st->stages[s].parent == id)
            return 1;
    return 0;
}

/* A trial a later stage may still start from: its stage is named by from: and not yet resolved. */
static int parent_candidate(const study *st, int s) { return st->stages[s].needs_ckpt && !st->stages[s].ckpts_pruned; }

/* Drop what the stage's checkpoints: policy does not keep: `best` keeps the stage's best trial, `all`
 * every trial, `none` none; trials later stages start from (or may) keep theirs, float master
 * included. Drops become durable with the next commit. */
static void enforce_checkpoints(study *st, int s) {
    const qn_stage *g = &st->job.stages[s];
    const stage_state *ss = &st->stages[s];
    for (int64_t id = g->first_trial; id < g->first_trial + g->ntrials; id++) {
        if (!st->has_ckpt[id]) continue;
        int needed = parent_candidate(st, s) || chosen_parent(st, s, id);
        int keep = needed || g->checkpoints == QN_CKPT_ALL || (g->checkpoints == QN_CKPT_BEST && id == ss->best);
        if (!keep) {
            qn_results_drop_checkpoint(st->res, id);
            st->has_ckpt[id] = st->has_master[id] = 0;
        } else if (st->has_master[id] && !needed) {
            qn_results_drop_master(st->res, id);
            st->has_master[id] = 0;
        }
    }
}

/* The checkpoint to record for a finished trial, or NULL: packed per the trial's quantization, with
 * the float master when a later stage may start from it and the packed values are not it. */
static qn_ckpt *trial_checkpoint(study *st, int s, int64_t id, const qn_trial_result *r, int new_best) {
    const qn_stage *g = &st->job.stages[s];
    const stage_state *ss = &st->stages[s];
    if (r->status != QN_TRIAL_DONE || !r->checkpoint) return NULL;
    int needed = parent_candidate(st, s);
    if (!needed && g->checkpoints != QN_CKPT_ALL && !(g->checkpoints == QN_CKPT_BEST && new_best)) return NULL;
    qn_trial t;
    qn_trial_config cfg;
    char err[QN_ERR_LEN] = "";
    qn_ckpt *c = calloc(1, sizeof *c);
    int rc = !c || study_trial(st, id, &t) != 0;
    if (!rc) {
        rc = qn_trial_config_build(&st->job, ss->inherited, ss->ninherited, &t, &cfg, err, sizeof err) != 0 ||
             qn_ckpt_build(&cfg, r->checkpoint, r->checkpoint_len, needed, c, err, sizeof err) != 0;
        qn_trial_free(&t);
    }
    if (rc) {
        fprintf(stderr, "quench: warning: trial %lld: cannot pack its checkpoint: %s\n", (long long)id, err);
        free(c);
        return NULL;
    }
    int quantized = 0;
    for (int i = 0; i < c->ntensors; i++) quantized |= strcmp(c->tensors[i].format, "none") != 0;
    if (!quantized) { /* the float32 tensors are the buffer itself */
        free(c->master);
        c->master = NULL;
    }
    return c;
}

/* ---------------------------------------------------------------- recording */

static void format_params(const qn_param *p, int n, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used + 1 < len; i++) {
        char v[64];
        int k = snprintf(buf + used, len - used, "%s%s=%s", i ? " " : "", p[i].name, qn_value_format(&p[i].value, v, sizeof v));
        if (k < 0) break;
        used += (size_t)k;
    }
    if (used >= len && len > 4) strcpy(buf + len - 4, "...");
}

static void update_stage_record(study *st, int s) {
    const qn_stage *g = &st->job.stages[s];
    stage_state *ss = &st->stages[s];
    char from[128] = "";
    if (g->from.kind == QN_FROM_STAGE)
        snprintf(from, sizeof from, "%s", st->job.stages[g->from.stage].name);
    else if (g->from.kind == QN_FROM_BEST)
        snprintf(from, sizeof from, "best(%s, %s, %s)", st->job.stages[g->from.stage].name, g->from.metric,
                 g->from.maximize ? "max" : "min");
    qn_stage_record rec = {.name = g->name, .kind = g->kind, .from = from, .metric = g->metric,
                           .maximize = g->maximize, .ntrials = g->ntrials, .done = ss->done,
                           .failed = ss->failed, .best_trial = ss->best, .best_value = ss->best_value,
                           .method = g->method ? qn_search_method_name(g->method) : "grid"};
    char err[QN_ERR_LEN];
    if (qn_results_set_stage(st->res, &rec, err, sizeof err) != 0) fprintf(stderr, "quench: warning: %s\n", err);
}

/* Record a finished trial: results file first (durable), then state and progress. Returns 0, or -1
 * if the results file could not be written (the study cannot go on without losing results). */
static int record_trial(study *st, int64_t id, int rank, const char *device, double start_wall, qn_trial_result *r) {
    int s = stage_of(st, id);
    const qn_stage *g = &st->job.stages[s];
    stage_state *ss = &st->stages[s];
    qn_trial t;
    if (study_trial(st, id, &t) != 0) return -1;

    const char *mnames[QN_MAX_METRICS];
    double mvalues[QN_MAX_METRICS];
    for (int i = 0; i < r->nmetrics; i++) {
        mnames[i] = r->metrics[i].name;
        mvalues[i] = r->metrics[i].value;
    }
    const char *cnames[QN_MAX_CURVES];
    const float *cvals[QN_MAX_CURVES];
    int clens[QN_MAX_CURVES];
    for (int i = 0; i < r->ncurves; i++) {
        cnames[i] = r->curves[i].name;
        cvals[i] = r->curves[i].values;
        clens[i] = r->curves[i].n;
    }
    int new_best = r->status == QN_TRIAL_DONE && better(metric_of(r, g->metric), ss->best_value, g->maximize);
    qn_ckpt *ckpt = trial_checkpoint(st, s, id, r, new_best);
    qn_trial_record rec = {
        .id = id, .stage = g->name, .status = r->status == QN_TRIAL_DONE ? "done" : "failed",
        .device = device, .worker = rank, .parent = ss->parent, .start_time = start_wall, .wall_s = r->wall_s,
        .error = r->status == QN_TRIAL_DONE ? "" : r->error, .nparams = t.nparams, .params = t.params,
        .nmetrics = r->nmetrics, .metric_names = mnames, .metric_values = mvalues, .ncurves = r->ncurves,
        .curve_names = cnames, .curves = cvals, .curve_lens = clens,
        .ckpt = ckpt};
    char err[QN_ERR_LEN];
    int rc;
    if (st->row[id] >= 0) {
        rc = qn_results_replace_trial(st->res, st->row[id], &rec, err, sizeof err);
    } else {
        rc = qn_results_append_trial(st->res, &rec, err, sizeof err);
        if (rc == 0) st->row[id] = qn_results_nrows(st->res) - 1;
    }
    st->has_ckpt[id] = rc == 0 && ckpt;
    st->has_master[id] = rc == 0 && ckpt && ckpt->master;
    qn_ckpt_free(ckpt);
    free(ckpt);
    if (rc != 0) {
        fprintf(stderr, "quench: cannot record trial %lld: %s\n", (long long)id, err);
        qn_trial_free(&t);
        return -1;
    }

    st->finished++;
    search_note(st, id, r->status == QN_TRIAL_DONE ? QN_SEARCH_DONE : QN_SEARCH_FAILED, metric_of(r, g->metric));
    if (r->status == QN_TRIAL_DONE) {
        st->state[id] = TS_DONE;
        ss->done++;
        double v = metric_of(r, g->metric);
        if (better(v, ss->best_value, g->maximize)) {
            ss->best = id;
            ss->best_value = v;
        }
    } else {
        st->state[id] = TS_FAILED;
        ss->failed++;
        st->failed_total++;
    }
    update_stage_record(st, s);
    enforce_checkpoints(st, s);

    char params[256], line[1024];
    format_params(t.params, t.nparams, params, sizeof params);
    int w = snprintf(NULL, 0, "%lld", (long long)st->n);
    char where[160];
    if (rank >= 0)
        snprintf(where, sizeof where, "rank %d (%s)", rank, device);
    else
        snprintf(where, sizeof where, "-");
    if (r->status == QN_TRIAL_DONE)
        snprintf(line, sizeof line, "[%*lld/%lld] trial %-*lld %-12s %s%s%s=%.4f  %s  %.1fs", w, (long long)st->finished,
                 (long long)st->n, w, (long long)id, g->name, params, params[0] ? "  " : "", g->metric,
                 metric_of(r, g->metric), where, r->wall_s);
    else
        snprintf(line, sizeof line, "[%*lld/%lld] trial %-*lld %-12s %s%sFAILED: %s  %s  %.1fs", w, (long long)st->finished,
                 (long long)st->n, w, (long long)id, g->name, params, params[0] ? "  " : "", r->error, where, r->wall_s);
    qn_progress_line(&st->progress, line);
    qn_trial_free(&t);
    return 0;
}

/* A trial that fails without running (its parent is missing). */
static int record_unrun_failure(study *st, int64_t id, const char *why) {
    qn_trial_result r;
    memset(&r, 0, sizeof r);
    r.status = QN_TRIAL_FAILED;
    snprintf(r.error, sizeof r.error, "%s", why);
    return record_trial(st, id, -1, "", qn_wall(), &r);
}

/* ---------------------------------------------------------------- stages and from: */

/* Resolve every stage whose source is complete: choose the parent trial, build the inherited
 * parameters, and fail the stage's trials at once if there is no usable parent. */
static int resolve_stages(study *st) {
    for (int s = 0; s < st->job.nstages; s++) {
        stage_state *ss = &st->stages[s];
        const qn_stage *g = &st->job.stages[s];
        if (ss->ready) continue;
        if (g->from.kind == QN_FROM_NONE) {
            ss->ready = 1;
            continue;
        }
        int src = g->from.stage;
        if (!st->stages[src].ready || !stage_complete(st, src)) continue;
        const qn_stage *gs = &st->job.stages[src];
        int64_t parent = -1;
        char why[QN_ERR_LEN] = "";
        if (g->from.kind == QN_FROM_STAGE) {
            if (st->state[gs->first_trial] == TS_DONE)
                parent = gs->first_trial;
            else
                snprintf(why, sizeof why, "parent trial %lld of stage '%s' failed", (long long)gs->first_trial, gs->name);
        } else {
            double best = NAN;
            for (int64_t id = gs->first_trial; id < gs->first_trial + gs->ntrials; id++) {
                if (st->state[id] != TS_DONE) continue;
                double v = qn_results_metric(st->res, st->row[id], g->from.metric);
                if (better(v, best, g->from.maximize)) {
                    best = v;
                    parent = id;
                }
            }
            if (parent < 0)
                snprintf(why, sizeof why, "no trial of stage '%s' finished with a value of %s", gs->name, g->from.metric);
        }
        ss->ready = 1;
        ss->parent = parent;
        if (parent < 0) {
            ss->parent_error = strdup(why);
        } else {
            qn_trial pt;
            if (study_trial(st, parent, &pt) != 0) return -1;
            const stage_state *ps = &st->stages[src];
            ss->ninherited = ps->ninherited + pt.nparams;
            ss->inherited = calloc((size_t)ss->ninherited + 1, sizeof(qn_param));
            for (int i = 0; i < ps->ninherited; i++) param_copy(&ss->inherited[i], &ps->inherited[i]);
            for (int i = 0; i < pt.nparams; i++) param_copy(&ss->inherited[ps->ninherited + i], &pt.params[i]);
            qn_trial_free(&pt);
        }
        update_stage_record(st, s);
        s = -1; /* a resolution can make another stage ready: rescan */
    }
    /* Checkpoints of a source stage that no stage starts from are dropped once every stage that
     * names it is resolved: only the chosen parents keep their weights in the file. */
    for (int src = 0; src < st->job.nstages; src++) {
        stage_state *ss = &st->stages[src];
        if (!ss->needs_ckpt || ss->ckpts_pruned) continue;
        int all = 1;
        for (int s = 0; s < st->job.nstages; s++)
            if (st->job.stages[s].from.kind != QN_FROM_NONE && st->job.stages[s].from.stage == src && !st->stages[s].ready)
                all = 0;
        if (!all) continue;
        ss->ckpts_pruned = 1;
        enforce_checkpoints(st, src);
    }
    /* Stages without a usable parent: their trials fail now, with the reason. */
    for (int s = 0; s < st->job.nstages; s++) {
        stage_state *ss = &st->stages[s];
        if (!ss->ready || !ss->parent_error) continue;
        const qn_stage *g = &st->job.stages[s];
        for (int64_t id = g->first_trial; id < g->first_trial + g->ntrials; id++)
            if (st->state[id] == TS_PENDING && record_unrun_failure(st, id, ss->parent_error) != 0) return -1;
    }
    return 0;
}

/* The next trial to hand out: lowest id of a ready stage. -1 when none is ready now. */
static int64_t next_trial(study *st) {
    for (int s = 0; s < st->job.nstages; s++) {
        stage_state *ss = &st->stages[s];
        if (!ss->ready) continue;
        const qn_stage *g = &st->job.stages[s];
        int64_t end = g->first_trial + g->ntrials;
        while (ss->cursor < end && st->state[ss->cursor] != TS_PENDING) ss->cursor++;
        if (ss->cursor < end) return ss->cursor;
    }
    return -1;
}

static int build_msg(study *st, int64_t id, qn_trial_msg *m, char *err, size_t errlen) {
    int s = stage_of(st, id);
    const qn_stage *g = &st->job.stages[s];
    const stage_state *ss = &st->stages[s];
    qn_trial t;
    memset(m, 0, sizeof *m);
    qn_search *q = ss->search;
    int64_t i = id - g->first_trial;
    if (q && !qn_search_assigned(q, i)) {
        int a = qn_search_assign(q, i, err, errlen);
        if (a == 1) snprintf(err, errlen, "the grid of stage '%s' has no unused point left", g->name);
        if (a != 0) return -1;
    }
    if (q) qn_search_note(q, i, QN_SEARCH_RUNNING, NAN);
    if (study_trial(st, id, &t) != 0) {
        snprintf(err, errlen, "trial %lld is not in the plan", (long long)id);
        return -1;
    }
    int rc = qn_trial_config_build(&st->job, ss->inherited, ss->ninherited, &t, &m->cfg, err, errlen);
    m->id = id;
    m->parent = ss->parent;
    m->data_seed = st->job.seed;
    m->trial_seed = t.seed;
    m->stage = s;
    m->nsteps = g->nsteps;
    for (int i = 0; i < g->nsteps; i++) m->steps[i] = (int32_t)g->steps[i];
    m->want_checkpoint = ss->needs_ckpt || g->checkpoints != QN_CKPT_NONE;
    qn_trial_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- running trials */

static int run_inline(study *st, int64_t id) {
    qn_trial_msg m;
    char err[QN_ERR_LEN];
    if (build_msg(st, id, &m, err, sizeof err) != 0) return record_unrun_failure(st, id, err);
    const float *parent = NULL;
    size_t parent_len = 0;
    if (m.parent >= 0) {
        const ckpt_entry *e = coord_ckpt(st, m.parent, err, sizeof err);
        if (!e) return record_unrun_failure(st, id, err);
        parent = e->buf;
        parent_len = e->len;
    }
    qn_step steps[QN_MAX_STEPS];
    for (int i = 0; i < m.nsteps; i++) steps[i] = (qn_step)m.steps[i];
    st->state[id] = TS_RUNNING;
    double start = qn_wall();
    qn_trial_result r;
    memset(&r, 0, sizeof r);
    if (qn_trial_execute(st->inline_ctx, &m.cfg, steps, m.nsteps, m.data_seed, m.trial_seed, parent, parent_len,
                         m.want_checkpoint, &r) != 0 && r.error[0] == 0)
        snprintf(r.error, sizeof r.error, "internal error in the trial engine");
    int rc = record_trial(st, id, 0, st->self_dev.name, start, &r);
    qn_trial_result_free(&r);
    return rc;
}

static int send_trial(study *st, int rank, int64_t id) {
    worker_state *w = &st->workers[rank];
    qn_trial_msg m;
    char err[QN_ERR_LEN];
    if (build_msg(st, id, &m, err, sizeof err) != 0) return record_unrun_failure(st, id, err);
    if (m.parent >= 0) {
        int cached = 0;
        for (int i = 0; i < w->ncached; i++) cached |= w->cached[i] == m.parent;
        if (!cached) {
            const ckpt_entry *e = coord_ckpt(st, m.parent, err, sizeof err);
            if (!e) return record_unrun_failure(st, id, err);
            int64_t hdr[2] = {e->id, (int64_t)e->len};
            if (qn_send_bytes(hdr, sizeof hdr, rank, QN_TAG_CKPT) != 0 ||
                qn_send_bytes(e->buf, e->len * sizeof(float), rank, QN_TAG_CKPT) != 0)
                return -1;
            w->cached[w->next_slot] = m.parent;
            w->next_slot = (w->next_slot + 1) % WORKER_CACHE;
            if (w->ncached < WORKER_CACHE) w->ncached++;
        }
    }
    if (qn_send_bytes(&m, sizeof m, rank, QN_TAG_TRIAL) != 0) return -1;
    st->state[id] = TS_RUNNING;
    st->running++;
    w->busy = 1;
    w->trial = id;
    w->started_wall = qn_wall();
    return 0;
}

static int receive_result(study *st, int rank) {
    MPI_Status status;
    int count = 0;
    MPI_Probe(rank, QN_TAG_RESULT, MPI_COMM_WORLD, &status);
    MPI_Get_count(&status, MPI_BYTE, &count);
    char *buf = malloc(count > 0 ? (size_t)count : 1);
    if (!buf) return -1;
    MPI_Recv(buf, count, MPI_BYTE, rank, QN_TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    qn_trial_result r;
    int64_t id;
    int bad = qn_result_unpack(buf, (size_t)count, &id, &r);
    free(buf);
    worker_state *w = &st->workers[rank];
    if (bad || id != w->trial) {
        fprintf(stderr, "quench: malformed result from rank %d\n", rank);
        return -1;
    }
    if (r.checkpoint_len > 0) {
        r.checkpoint = malloc(r.checkpoint_len * sizeof(float));
        if (!r.checkpoint || qn_recv_bytes(r.checkpoint, r.checkpoint_len * sizeof(float), rank, QN_TAG_RESULT_CKPT) != 0) {
            qn_trial_result_free(&r);
            return -1;
        }
    }
    w->busy = 0;
    st->running--;
    int rc = record_trial(st, id, rank, w->dev.name, w->started_wall, &r);
    qn_trial_result_free(&r);
    return rc;
}

static int receive_hello(study *st, int rank) {
    worker_state *w = &st->workers[rank];
    if (qn_recv_bytes(&w->dev, sizeof w->dev, rank, QN_TAG_HELLO) != 0) return -1;
    w->dev.name[sizeof w->dev.name - 1] = 0;
    w->alive = 1;
    qn_device_record d = {.rank = rank, .session = st->session, .hostname = w->dev.hostname, .kind = w->dev.kind,
                          .name = w->dev.name, .cc_major = w->dev.cc_major, .cc_minor = w->dev.cc_minor,
                          .cores = w->dev.cores, .memory_bytes = w->dev.memory_bytes, .gemm_gflops = w->dev.gemm_gflops};
    char err[QN_ERR_LEN];
    if (qn_results_add_device(st->res, &d, err, sizeof err) != 0) fprintf(stderr, "quench: warning: %s\n", err);
    return 0;
}

/* ---------------------------------------------------------------- setup and summary */

/* A recorded search trial's point and outcome, from its params/ and metrics/ columns. */
static void search_restore(study *st, int64_t id) {
    int s = stage_of(st, id);
    const qn_stage *g = &st->job.stages[s];
    qn_param *p = calloc((size_t)g->naxes + 1, sizeof *p);
    int n = 0;
    for (int a = 0; p && a < g->naxes; a++)
        if (qn_results_param(st->res, st->row[id], g->axes[a].name, &p[n].value) == 0) p[n++].name = g->axes[a].name;
    if (p) qn_search_restore(st->stages[s].search, id - g->first_trial, p, n);
    for (int i = 0; i < n; i++)
        if (p[i].value.kind == QN_VAL_STR) free(p[i].value.str);
    free(p);
    search_note(st, id, st->state[id] == TS_DONE ? QN_SEARCH_DONE : QN_SEARCH_FAILED,
                qn_results_metric(st->res, st->row[id], g->metric));
}

static int restore_from_file(study *st) {
    int64_t rows = qn_results_nrows(st->res);
    for (int64_t row = 0; row < rows; row++) {
        int64_t id;
        char status[32];
        if (qn_results_row(st->res, row, &id, status, sizeof status) != 0 || id < 0 || id >= st->n) continue;
        st->row[id] = row;
        if (strcmp(status, "done") == 0) {
            st->state[id] = TS_DONE;
            int master = 0;
            st->has_ckpt[id] = (uint8_t)qn_results_has_checkpoint(st->res, id, &master);
            st->has_master[id] = (uint8_t)master;
        } else if (!st->opts->retry_failed) {
            st->state[id] = TS_FAILED;
        }
    }
    /* Rebuild counts and bests in id order, so ties resolve as they did (lowest id wins). */
    for (int64_t id = 0; id < st->n; id++) {
        if (st->state[id] == TS_PENDING) continue;
        int s = stage_of(st, id);
        stage_state *ss = &st->stages[s];
        st->finished++;
        if (ss->search) search_restore(st, id);
        if (st->state[id] == TS_DONE) {
            ss->done++;
            double v = qn_results_metric(st->res, st->row[id], st->job.stages[s].metric);
            if (better(v, ss->best_value, st->job.stages[s].maximize)) {
                ss->best = id;
                ss->best_value = v;
            }
        } else {
            ss->failed++;
            st->failed_total++;
        }
    }
    return 0;
}

static void print_summary(study *st, FILE *out, int stopped) {
    double secs = qn_now() - st->t0;
    int workers = st->nranks > 1 ? st->nranks - 1 : 1;
    fprintf(out, "\nstudy %s: %lld trials, %lld done, %lld failed", st->job.name, (long long)st->n,
            (long long)(st->finished - st->failed_total), (long long)st->failed_total);
    if (stopped) fprintf(out, ", %lld not run", (long long)(st->n - st->finished));
    fprintf(out, " (%.1fs on %d worker%s)\n", secs, workers, workers == 1 ? "" : "s");
    for (int s = 0; s < st->job.nstages; s++) {
        const qn_stage *g = &st->job.stages[s];
        const stage_state *ss = &st->stages[s];
        if (ss->best < 0) {
            fprintf(out, "  %-14s %lld/%lld done, no best yet\n", g->name, (long long)ss->done, (long long)g->ntrials);
            continue;
        }
        qn_trial t;
        char params[256] = "";
        if (study_trial(st, ss->best, &t) == 0) {
            format_params(t.params, t.nparams, params, sizeof params);
            qn_trial_free(&t);
        }
        fprintf(out, "  %-14s %lld/%lld done, best trial %lld: %s=%.4f%s%s\n", g->name, (long long)ss->done,
                (long long)g->ntrials, (long long)ss->best, g->metric, ss->best_value, params[0] ? "  " : "", params);
    }
}

static int setup(study *st, const qn_run_opts *opts, char *err, size_t errlen) {
    st->opts = opts;
    if (qn_job_load(opts->job_path, &st->job, err, errlen) != 0) return 2;
    char *plan = qn_job_plan_text(&st->job);
    if (!plan) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    int rc;
    if (opts->resume && access(opts->out_path, F_OK) == 0) {
        rc = qn_results_open_resume(opts->out_path, plan, &st->res, err, errlen);
    } else {
        rc = qn_results_create(opts->out_path, &st->job, plan, &st->res, err, errlen);
    }
    free(plan);
    if (rc != 0) return rc;
    st->session = qn_results_session(st->res);
    st->n = st->job.ntrials;
    st->state = calloc((size_t)st->n + 1, sizeof *st->state);
    st->row = malloc(((size_t)st->n + 1) * sizeof *st->row);
    st->has_ckpt = calloc((size_t)st->n + 1, 1);
    st->has_master = calloc((size_t)st->n + 1, 1);
    st->stages = calloc((size_t)st->job.nstages, sizeof *st->stages);
    if (!st->state || !st->row || !st->stages || !st->has_ckpt || !st->has_master) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    for (int64_t i = 0; i < st->n; i++) st->row[i] = -1;
    for (int s = 0; s < st->job.nstages; s++) {
        st->stages[s].parent = -1;
        st->stages[s].best = -1;
        st->stages[s].best_value = NAN;
        st->stages[s].cursor = st->job.stages[s].first_trial;
    }
    for (int s = 0; s < st->job.nstages; s++)
        if (st->job.stages[s].from.kind != QN_FROM_NONE) st->stages[st->job.stages[s].from.stage].needs_ckpt = 1;
    for (int s = 0; s < st->job.nstages; s++) {
        if (!st->job.stages[s].method) continue;
        if (!(st->stages[s].search = qn_search_new(&st->job, s, err, errlen))) return 1;
    }
    if (opts->resume) {
        restore_from_file(st);
        /* a run killed between recording a new best and committing the drop of the old one left it */
        for (int s = 0; s < st->job.nstages; s++) enforce_checkpoints(st, s);
    }
    return 0;
}

static void teardown(study *st) {
    if (st->res) qn_results_close(st->res);
    for (int s = 0; st->stages && s < st->job.nstages; s++) {
        params_free(st->stages[s].inherited, st->stages[s].ninherited);
        free(st->stages[s].parent_error);
        qn_search_free(st->stages[s].search);
    }
    for (int i = 0; i < COORD_CACHE; i++) free(st->cache[i].buf);
    free(st->stages);
    free(st->state);
    free(st->row);
    free(st->has_ckpt);
    free(st->has_master);
    free(st->workers);
    if (st->inline_ctx) qn_worker_ctx_free(st->inline_ctx);
    qn_job_free(&st->job);
}

/* ---------------------------------------------------------------- the coordinator */

static int coordinate(study *st) {
    const qn_run_opts *opts = st->opts;
    int use_mpi = opts->use_mpi && st->nranks > 1;
    /* Under Slurm, mpirun may hand rank 0 a pseudo-terminal whose output ends in a log file: plain lines. */
    int bar = opts->progress == QN_PROGRESS_BAR ||
              (opts->progress == QN_PROGRESS_AUTO && isatty(STDOUT_FILENO) && !getenv("SLURM_JOB_ID"));
    qn_progress_init(&st->progress, stdout, bar, opts->progress == QN_PROGRESS_QUIET, st->n, st->finished);
    st->t0 = qn_now();

    if (!use_mpi) {
        st->inline_ctx = qn_worker_ctx_new();
        qn_device_probe(0, 1, &st->self_dev);
        if (st->inline_ctx && !strcmp(st->self_dev.kind, "cuda")) qn_worker_ctx_use_gpu(st->inline_ctx, st->self_dev.device_index);
        qn_device_record d = {.rank = 0, .session = st->session, .hostname = st->self_dev.hostname,
                              .kind = st->self_dev.kind, .name = st->self_dev.name, .cc_major = st->self_dev.cc_major,
                              .cc_minor = st->self_dev.cc_minor, .cores = st->self_dev.cores,
                              .memory_bytes = st->self_dev.memory_bytes, .gemm_gflops = st->self_dev.gemm_gflops};
        char err[QN_ERR_LEN];
        if (qn_results_add_device(st->res, &d, err, sizeof err) != 0) fprintf(stderr, "quench: warning: %s\n", err);
    }
    {
        char note[512];
        if (use_mpi)
            snprintf(note, sizeof note, "study %s: %lld trials in %d stages on %d workers; results: %s", st->job.name,
                     (long long)st->n, st->job.nstages, st->nranks - 1, opts->out_path);
        else
            snprintf(note, sizeof note, "study %s: %lld trials in %d stages in one process; results: %s", st->job.name,
                     (long long)st->n, st->job.nstages, opts->out_path);
        qn_progress_note(&st->progress, note);
        if (st->finished > 0) {
            snprintf(note, sizeof note, "resuming: %lld of %lld trials already recorded", (long long)st->finished,
                     (long long)st->n);
            qn_progress_note(&st->progress, note);
        }
    }
    for (int s = 0; s < st->job.nstages; s++) update_stage_record(st, s);

    int stopping = 0, rc = 0;
    while (st->finished < st->n) {
        if (g_signal && !stopping) {
            stopping = (int)g_signal;
            char note[256];
            snprintf(note, sizeof note, "%s: no new trials; waiting for %lld running (again to stop at once)",
                     stopping == SIGINT ? "interrupted" : "terminated", (long long)st->running);
            qn_progress_note(&st->progress, note);
        }
        if (stopping && st->running == 0) break;
        if (resolve_stages(st) != 0) { rc = 1; break; }
        if (st->finished >= st->n) break;
        if (!use_mpi) {
            if (stopping) break;
            int64_t id = next_trial(st);
            if (id < 0) {
                fprintf(stderr, "quench: internal error: no trial can run (%lld of %lld finished)\n",
                        (long long)st->finished, (long long)st->n);
                rc = 1;
                break;
            }
            if (run_inline(st, id) != 0) { rc = 1; break; }
            continue;
        }
        /* Hand a trial to every idle worker. */
        if (!stopping) {
            for (int r = 1; r < st->nranks; r++) {
                if (!st->workers[r].alive || st->workers[r].busy) continue;
                int64_t id = next_trial(st);
                if (id < 0) break;
                if (send_trial(st, r, id) != 0) { rc = 1; break; }
            }
            if (rc) break;
            if (resolve_stages(st) != 0) { rc = 1; break; } /* unrun failures may complete a stage */
            if (st->finished >= st->n) break;
        }
        int source, tag;
        if (!qn_wait_message(MPI_ANY_SOURCE, &source, &tag, stopping ? NULL : &g_signal)) continue;
        if (tag == QN_TAG_HELLO) {
            if (receive_hello(st, source) != 0) { rc = 1; break; }
        } else if (tag == QN_TAG_RESULT) {
            if (receive_result(st, source) != 0) { rc = 1; break; }
        } else {
            fprintf(stderr, "quench: unexpected message (tag %d) from rank %d\n", tag, source);
            rc = 1;
            break;
        }
    }
    qn_progress_end(&st->progress);
    if (use_mpi) {
        for (int r = 1; r < st->nranks; r++) MPI_Send(NULL, 0, MPI_BYTE, r, QN_TAG_STOP, MPI_COMM_WORLD);
    }
    if (rc != 0) return rc;
    print_summary(st, stdout, stopping != 0);
    printf("results: %s\n", opts->out_path);
    if (stopping && st->finished < st->n) {
        printf("stopped before the end: finish with  quench run %s -o %s --resume\n", opts->job_path, opts->out_path);
        return 128 + stopping;
    }
    printf("look at them:  quench ls %s   |   quench export %s --csv > trials.csv\n", opts->out_path, opts->out_path);
    if (st->failed_total > 0) {
        printf("%lld trial%s failed: see the error column (quench ls %s)\n", (long long)st->failed_total,
               st->failed_total == 1 ? "" : "s", opts->out_path);
        return 3;
    }
    return 0;
}

int qn_study_run(const qn_run_opts *opts) {
    int rank = 0, size = 1;
    if (opts->use_mpi) {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* The coordinator's second signal stops it at once (results are durable); workers keep going
     * until the coordinator tells them to stop. */
    sa.sa_flags = rank == 0 ? (int)SA_RESETHAND : 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (rank != 0) {
        int go = 0;
        MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (go != 0) return go;
        return qn_worker_loop(&g_signal);
    }

    study st;
    memset(&st, 0, sizeof st);
    st.nranks = size;
    char err[QN_ERR_LEN] = "";
    int rc = setup(&st, opts, err, sizeof err);
    if (rc != 0) fprintf(stderr, "quench: %s\n", err);
    if (opts->use_mpi) {
        int go = rc;
        MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    if (rc == 0) {
        st.workers = calloc((size_t)size + 1, sizeof *st.workers);
        rc = st.workers ? coordinate(&st) : 1;
    }
    teardown(&st);
    return rc;
}
