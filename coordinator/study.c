/* study.c: the coordinator (rank 0). Plans the study from the job, dispatches trials to idle
 * workers as they free up (a data-parallel trial to its k workers at once), resolves `from:`
 * artifacts between stages, records every result in the results file (durably, one trial at a time)
 * and prints progress. With one rank it runs the trials itself, through a trial runner child
 * (docs/faults.md). Workers run coordinator/worker_loop.c. */
#include "qn_coordinator.h"
#include "qn_clock.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
#include "trial_runner.h"
#include "live_placement.h"
#include "group_link.h"

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
    qn_stage_queue queue; /* grid stages, once ready: dispatch order and fit (live_placement.h) */
    int queued;
} stage_state;

#define WORKER_CACHE 4
typedef struct {
    int alive;            /* said hello, and registered */
    int greeted;          /* said hello before setup (placement: each_device_kind), not registered yet */
    int busy;
    int64_t trial;
    double started_wall;
    qn_device_profile dev;
    int64_t cached[WORKER_CACHE]; /* parent checkpoints the worker holds */
    int ncached, next_slot;
    int kind;             /* in study.kinds */
    double est_s;         /* the cost model's seconds for its trial (0: unknown) */
    double dispatched;    /* qn_clock_monotonic_s() it got the trial */
    double est_end;       /* qn_clock_monotonic_s() the trial should end: est_s, calibrated */
    int reserved;         /* idle, but held for a data-parallel trial still gathering its workers */
    int group_lead;       /* in a data-parallel trial: the rank of its leader (whose result counts); 0 alone */
    int retired;          /* out of service (its runner cannot start, or its device keeps failing): no trials */
    char *broken;         /* said BROKEN instead of hello (before setup): why, until registered */
    int device_faults;    /* its trials that failed in a row with device faults (QN_RESULT_DEVICE_FAULT) */
    int64_t faults_since; /* st->finished when that streak began */
    int64_t last_done;    /* st->finished when its last done trial was recorded; 0 none */
} worker_state;

/* A worker whose trials fail this many times in a row with device faults while another worker
 * finishes trials is retired (docs/faults.md, "A worker whose device breaks"). */
#define DEVICE_FAULT_STREAK 3
/* A trial whose worker broke under it goes to another worker; under a second, it is recorded failed
 * (it may be what breaks them). */
#define MAX_BROKEN_UNDER 2
/* Exit code when no worker is left that can run the trials still to run (README, docs/faults.md). */
#define QN_EXIT_NO_WORKERS 4

/* A data-parallel trial (train.devices: k) gathering idle workers of one kind: each worker of the
 * kind that frees up is reserved for it, in order, until it has its k (docs/gradsync.md). */
typedef struct {
    qn_trial_msg *msg;    /* NULL: none gathering */
    int members[QN_MAX_GROUP], n;
    double est_s;
} gang;

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
    qn_runner *inline_runner; /* single-rank mode: the child that runs the trials */
    qn_device_profile self_dev;
    ckpt_entry cache[COORD_CACHE];
    int cache_next;
    qn_progress progress;
    int64_t finished, failed_total, running;
    double t0;
    int stopping;          /* the signal that stopped dispatch, 0 while running */
    double stop_deadline;  /* qn_clock_monotonic_s() past which running trials are abandoned; INFINITY: none */
    qn_live_kinds kinds;   /* the device kinds of the live workers (this process alone: one) */
    int self_kind;
    int hellos;            /* workers that said hello */
    int fit_dirty;         /* a queue or a kind is new: look for trials that fit no worker */
    int64_t *parked;       /* search trials drawn for a worker they did not fit, waiting for one */
    int nparked;
    int *by_speed;         /* worker ranks, fastest kind first: the first idle ones get the longest trials */
    int by_speed_n;        /* ranks in by_speed; stale when fewer than hellos */
    gang gangs[QN_MAX_LIVE_KINDS]; /* per kind: the data-parallel trial gathering its workers */
    int group_noted;       /* the note that a trial got fewer workers than train.devices was printed */
    int go_sent;           /* the workers were told to start before setup (placement: each_device_kind) */
    int by_speed_stale;    /* a worker retired: rebuild by_speed */
    int retired;           /* workers out of service */
    uint8_t *broke_under;  /* per trial: workers that broke while running it */
    double hello_deadline; /* qn_clock_monotonic_s() past which the workers that never said hello are given up on */
    int hello_expired;     /* ...and it has passed with some still silent */
    int no_workers;        /* the run ended because no worker can run the trials left */
    char kinds_note[512];  /* the kinds placement: each_device_kind expanded on, and where they came from */
} study;

/* How long the workers may take to say hello (probing a GPU can take a while): 300 s, or
 * QUENCH_HELLO_TIMEOUT_S (docs/faults.md). With placement: each_device_kind a silent worker stops the
 * run (the kinds decide the plan); otherwise the run goes on without it. */
static double hello_timeout_s(void) {
    const char *v = getenv("QUENCH_HELLO_TIMEOUT_S");
    char *end;
    double t = v && *v ? strtod(v, &end) : 0;
    return v && *v && !*end && t > 0 ? t : 300.0;
}

static volatile sig_atomic_t g_signal; /* the first SIGUSR1/SIGTERM/SIGINT: no new trials */
static volatile sig_atomic_t g_again;  /* any later one: stop at once */

static void on_signal(int sig) {
    if (!g_signal) g_signal = sig;
    else g_again = 1;
}

/* ---------------------------------------------------------------- stopping on a signal */

/* How long running trials may go on after the signal. USR1 comes from Slurm 120 s before the time
 * limit (sbatch --signal=B:USR1@120), TERM 30 s before its SIGKILL (KillWait), INT from a person,
 * who can press it again. */
static double default_grace(int sig) {
    if (sig == SIGUSR1) return 100;
    if (sig == SIGTERM) return 20;
    return INFINITY;
}

static const char *signal_reason(int sig) {
    if (sig == SIGUSR1) return "SIGUSR1 (time limit near)";
    if (sig == SIGTERM) return "terminated";
    return "interrupted";
}

static void begin_stop(study *st, int64_t running) {
    st->stopping = (int)g_signal;
    double grace = st->opts->grace_given ? st->opts->grace_s : default_grace(st->stopping);
    st->stop_deadline = qn_clock_monotonic_s() + grace;
    char note[256];
    if (isinf(grace))
        snprintf(note, sizeof note, "%s: no new trials; waiting for %lld running (again to stop at once)",
                 signal_reason(st->stopping), (long long)running);
    else
        snprintf(note, sizeof note, "%s: no new trials; %lld running may finish within %g s (again to stop at once)",
                 signal_reason(st->stopping), (long long)running, grace);
    qn_progress_note(&st->progress, note);
}

/* Abandon the running trials now? After a second signal or past the grace deadline. Also the
 * stop callback of a trial run inline (qn_runner_run), where the first signal is noticed first. */
static int stop_now(void *arg) {
    study *st = arg;
    if (g_signal && !st->stopping) begin_stop(st, 1); /* only the inline trial's wait gets here first */
    return st->stopping && (g_again || qn_clock_monotonic_s() >= st->stop_deadline);
}

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
    return record_trial(st, id, -1, "", qn_clock_wall_s(), &r);
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

/* ---------------------------------------------------------------- placement */

/* A trial's cost from its configuration; all zero (fits anywhere) when it cannot be estimated: the
 * trial then fails with the reason when it is built. */
static void trial_cost(const study *st, int s, int64_t id, qn_trial_cost *c) {
    const stage_state *ss = &st->stages[s];
    const qn_stage *g = &st->job.stages[s];
    qn_trial t;
    qn_trial_config cfg;
    char err[QN_ERR_LEN];
    memset(c, 0, sizeof *c);
    if (study_trial(st, id, &t) != 0) return;
    if (qn_trial_config_build(&st->job, ss->inherited, ss->ninherited, &t, &cfg, err, sizeof err) != 0 ||
        qn_trial_cost_estimate(&cfg, g->steps, g->nsteps, c, err, sizeof err) != 0)
        memset(c, 0, sizeof *c);
    qn_trial_free(&t);
}

static int not_pending(void *arg, int64_t id) { return ((const study *)arg)->state[id] != TS_PENDING; }

/* A ready grid stage's queue, from its pending trials' costs, estimated once. 0, or -1 out of memory. */
static int build_queue(study *st, int s) {
    stage_state *ss = &st->stages[s];
    const qn_stage *g = &st->job.stages[s];
    int64_t n = 0, cap = g->ntrials ? g->ntrials : 1;
    int64_t *ids = malloc((size_t)cap * sizeof *ids);
    qn_trial_cost *costs = malloc((size_t)cap * sizeof *costs);
    int rc = -1;
    if (ids && costs) {
        for (int64_t id = g->first_trial; id < g->first_trial + g->ntrials; id++) {
            if (st->state[id] != TS_PENDING) continue;
            ids[n] = id;
            trial_cost(st, s, id, &costs[n++]);
        }
        rc = qn_queue_build(&ss->queue, ids, costs, n);
    }
    free(ids);
    free(costs);
    if (rc != 0) {
        fprintf(stderr, "quench: out of memory ordering the trials of stage '%s'\n", g->name);
        return -1;
    }
    qn_queue_rate(&ss->queue, &st->kinds);
    ss->queued = 1;
    st->fit_dirty = 1;
    return 0;
}

static int all_workers_known(const study *st) {
    return st->nranks <= 1 || !st->opts->use_mpi || st->hellos >= st->nranks - 1;
}

/* Trials that fit no worker fail now, with the reason, rather than wait for a device that never
 * comes; decided once every worker has said what device it has. 0, or -1. */
static int refuse_unfit(study *st) {
    if (!st->fit_dirty || st->kinds.n == 0 || !all_workers_known(st)) return 0;
    st->fit_dirty = 0;
    char why[QN_ERR_LEN];
    for (int s = 0; s < st->job.nstages; s++) {
        qn_stage_queue *q = &st->stages[s].queue;
        if (!st->stages[s].queued) continue;
        for (int c; (c = qn_queue_unfit(q, &st->kinds, why, sizeof why)) >= 0;) {
            qn_trial_class *cl = &q->classes[c];
            while (cl->next < cl->n) {
                int64_t id = q->ids[cl->first + cl->next++];
                if (st->state[id] == TS_PENDING && record_unrun_failure(st, id, why) != 0) return -1;
            }
        }
    }
    for (int i = 0; i < st->nparked;) {
        qn_trial_cost c;
        int64_t id = st->parked[i];
        trial_cost(st, stage_of(st, id), id, &c);
        if (!qn_fits_none(&c, &st->kinds, "worker", why, sizeof why)) {
            i++;
            continue;
        }
        st->parked[i] = st->parked[--st->nparked];
        if (record_unrun_failure(st, id, why) != 0) return -1;
    }
    return 0;
}

/* Before handing out trials: stages resolved, ready grid stages queued, trials that fit no worker
 * refused; again while refusals complete stages. 0, or -1. */
static int prepare_dispatch(study *st) {
    for (;;) {
        int64_t before = st->finished;
        if (resolve_stages(st) != 0) return -1;
        for (int s = 0; s < st->job.nstages; s++)
            if (st->stages[s].ready && !st->stages[s].search && !st->stages[s].queued && build_queue(st, s) != 0)
                return -1;
        if (refuse_unfit(st) != 0) return -1;
        if (st->finished == before) return 0;
    }
}

/* Each kind's wait until one of its workers is free, for the finish-first rule (several kinds only). */
static void kinds_avail(study *st) {
    if (st->kinds.n < 2) return;
    double now = qn_clock_monotonic_s();
    for (int k = 0; k < st->kinds.n; k++) st->kinds.k[k].avail = INFINITY;
    for (int r = 1; r < st->nranks; r++) {
        const worker_state *w = &st->workers[r];
        if (!w->alive) continue;
        double wait = w->busy ? (w->est_end > now ? w->est_end - now : 0) : 0;
        if (wait < st->kinds.k[w->kind].avail) st->kinds.k[w->kind].avail = wait;
    }
}

static const study *speed_study; /* qsort has no context argument in C17 */
static int faster_first(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    const qn_device_kind *kx = &speed_study->kinds.k[speed_study->workers[x].kind].kind;
    const qn_device_kind *ky = &speed_study->kinds.k[speed_study->workers[y].kind].kind;
    double sx = kx->peak_flops * kx->efficiency, sy = ky->peak_flops * ky->efficiency;
    if (sx != sy) return sx < sy ? 1 : -1;
    return x < y ? -1 : 1;
}

/* The live workers, fastest kind first (rank order within a kind), rebuilt when one says hello. */
static void order_by_speed(study *st) {
    if (st->by_speed_n == st->hellos - st->retired && !st->by_speed_stale) return;
    st->by_speed_stale = 0;
    st->by_speed_n = 0;
    for (int r = 1; r < st->nranks; r++)
        if (st->workers[r].alive) st->by_speed[st->by_speed_n++] = r;
    if (st->kinds.n > 1) {
        speed_study = st;
        qsort(st->by_speed, (size_t)st->by_speed_n, sizeof *st->by_speed, faster_first);
    }
}

/* A search trial drawn for rank's worker: 0 send it, 1 parked for a worker it fits, 2 refused (fits
 * no worker: recorded failed), -1 the results file failed. Its point is drawn, so it cannot go back. */
static int place_search_trial(study *st, int rank, int64_t id, const qn_trial_msg *m) {
    const qn_stage *g = &st->job.stages[m->stage];
    qn_trial_cost c;
    char why[QN_ERR_LEN];
    if (qn_trial_cost_estimate(&m->cfg, g->steps, g->nsteps, &c, why, sizeof why) != 0) return 0;
    if (qn_trial_fits(&c, &st->kinds.k[st->workers[rank].kind].kind, why, sizeof why)) return 0;
    if (all_workers_known(st) && qn_fits_none(&c, &st->kinds, "worker", why, sizeof why))
        return record_unrun_failure(st, id, why) != 0 ? -1 : 2;
    st->parked[st->nparked++] = id;
    stage_state *ss = &st->stages[m->stage];
    if (ss->cursor <= id) ss->cursor = id + 1;
    return 1;
}

/* The next trial for rank's worker (rank 0: this process runs it) and its estimated seconds there.
 * -1: nothing to hand out now; -2: nothing for this worker (what is left fits only others, or
 * others would finish it sooner). Grid stages go longest trial first on a cluster; search stages
 * in the sampler's order, and one process in id order (there is nothing to place). */
static int64_t next_trial(study *st, int rank, double *seconds) {
    int kind = rank > 0 ? st->workers[rank].kind : st->self_kind, passed = 0;
    *seconds = 0;
    for (int i = 0; i < st->nparked; i++) {
        qn_trial_cost c;
        char why[QN_ERR_LEN];
        int64_t id = st->parked[i];
        trial_cost(st, stage_of(st, id), id, &c);
        if (!qn_trial_fits(&c, &st->kinds.k[kind].kind, why, sizeof why)) {
            passed = 1;
            continue;
        }
        st->parked[i] = st->parked[--st->nparked];
        return id;
    }
    for (int s = 0; s < st->job.nstages; s++) {
        stage_state *ss = &st->stages[s];
        if (!ss->ready) continue;
        const qn_stage *g = &st->job.stages[s];
        if (ss->queued && rank > 0) {
            int64_t id = qn_queue_take(&ss->queue, &st->kinds, kind, seconds, not_pending, st);
            if (id >= 0) return id;
            passed |= ss->queue.head < ss->queue.nclasses;
            continue;
        }
        if (ss->search && st->nparked >= st->nranks) { /* drawn points wait for their workers first */
            passed = 1;
            continue;
        }
        int64_t end = g->first_trial + g->ntrials;
        while (ss->cursor < end && st->state[ss->cursor] != TS_PENDING) ss->cursor++;
        if (ss->cursor < end) return ss->cursor;
    }
    return passed ? -2 : -1;
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
    m->timeout_s = g->trial_timeout_s;
    qn_trial_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- running trials */

static int run_inline(study *st, int64_t id) {
    qn_trial_msg m;
    char err[QN_ERR_LEN];
    if (build_msg(st, id, &m, err, sizeof err) != 0) return record_unrun_failure(st, id, err);
    if (m.cfg.train.devices > 1 && !st->group_noted) {
        st->group_noted = 1;
        snprintf(err, sizeof err, "note: trial %lld asks for train.devices: %d; in one process it trains alone (the "
                 "results agree within float tolerance: docs/gradsync.md)", (long long)id, m.cfg.train.devices);
        qn_progress_note(&st->progress, err);
    }
    const float *parent = NULL;
    size_t parent_len = 0;
    if (m.parent >= 0) {
        const ckpt_entry *e = coord_ckpt(st, m.parent, err, sizeof err);
        if (!e) return record_unrun_failure(st, id, err);
        parent = e->buf;
        parent_len = e->len;
    }
    st->state[id] = TS_RUNNING;
    double start = qn_clock_wall_s();
    qn_trial_result r;
    st->running++;
    int ran = qn_runner_run(st->inline_runner, &m, parent, parent_len, stop_now, st, &r);
    st->running--;
    /* The trial lost the child: its replacement starts now; if it cannot, the device is gone and this
     * process has no other worker (docs/faults.md). */
    char broken[QN_ERR_LEN] = "";
    if (ran == 2 || (ran == 0 && qn_runner_recover(st->inline_runner, stop_now, st, &r)))
        snprintf(broken, sizeof broken, "%s", r.error);
    if (broken[0]) { /* unrecorded: --resume runs it */
        qn_trial_result_free(&r);
        st->state[id] = TS_PENDING;
        char note[QN_ERR_LEN + 128];
        snprintf(note, sizeof note, "this process (device %s) cannot run trials any more: %s", st->self_dev.name, broken);
        qn_progress_note(&st->progress, note);
        st->no_workers = 1;
        return 0;
    }
    if (ran == 1) { /* stopped by a signal: unrecorded, so --resume runs it again */
        st->state[id] = TS_PENDING;
        char note[160];
        snprintf(note, sizeof note, "abandoned running trial %lld (--resume runs it again)", (long long)id);
        qn_progress_note(&st->progress, note);
        return 0;
    }
    if (ran != 0) return -1;
    int rc = record_trial(st, id, 0, st->self_dev.name, start, &r);
    qn_trial_result_free(&r);
    return rc;
}

/* Make sure rank's worker holds the checkpoint of trial `parent`. 0, 1 when the coordinator has
 * none (why in err), -1 when MPI failed. */
static int send_parent(study *st, int rank, int64_t parent, char *err, size_t errlen) {
    worker_state *w = &st->workers[rank];
    for (int i = 0; i < w->ncached; i++)
        if (w->cached[i] == parent) return 0;
    const ckpt_entry *e = coord_ckpt(st, parent, err, errlen);
    if (!e) return 1;
    int64_t hdr[2] = {e->id, (int64_t)e->len};
    if (qn_send_bytes(hdr, sizeof hdr, rank, QN_TAG_CKPT) != 0 ||
        qn_send_bytes(e->buf, e->len * sizeof(float), rank, QN_TAG_CKPT) != 0)
        return -1;
    w->cached[w->next_slot] = parent;
    w->next_slot = (w->next_slot + 1) % WORKER_CACHE;
    if (w->ncached < WORKER_CACHE) w->ncached++;
    return 0;
}

/* ---------------------------------------------------------------- data-parallel trials (gangs) */

/* The workers a data-parallel trial asks for (train.devices, at most QN_MAX_GROUP). */
static int gang_devices(const qn_trial_msg *m) {
    return m->cfg.train.devices < QN_MAX_GROUP ? m->cfg.train.devices : QN_MAX_GROUP;
}

/* Workers that share a GPU cannot share an NCCL communicator (one rank per device): a group takes
 * one worker per GPU. */
static int same_gpu(const worker_state *a, const worker_state *b) {
    return !strcmp(a->dev.kind, "cuda") && !strcmp(b->dev.kind, "cuda") && a->dev.device_index == b->dev.device_index &&
           !strcmp(a->dev.hostname, b->dev.hostname);
}

/* How many workers of kind one group can have: all of them, counting workers on one GPU once. */
static int gang_slots(const study *st, int kind) {
    int n = 0;
    for (int r = 1; r < st->nranks; r++) {
        const worker_state *w = &st->workers[r];
        if (!w->alive || w->kind != kind) continue;
        int dup = 0;
        for (int q = 1; q < r && !dup; q++)
            dup = st->workers[q].alive && st->workers[q].kind == kind && same_gpu(&st->workers[q], w);
        n += !dup;
    }
    return n;
}

/* Has the gathering trial its workers: all it asks for, or (once every worker has said hello) all
 * that its kind has? A kind with fewer workers than train.devices trains the trial on those: the
 * results agree to float tolerance (docs/gradsync.md), and waiting would never end. */
static int gang_ready(const study *st, int kind) {
    const gang *g = &st->gangs[kind];
    int want = gang_devices(g->msg);
    return g->n >= want || (all_workers_known(st) && g->n >= gang_slots(st, kind));
}

/* Hand the gathered trial to its workers at once, each with its place in the group; all of them are
 * busy until their results come (only the leader's is recorded). 0, or -1. */
static int gang_send(study *st, int kind) {
    gang *g = &st->gangs[kind];
    qn_trial_msg *m = g->msg;
    char err[QN_ERR_LEN];
    int rc = 0, want = gang_devices(m);
    g->msg = NULL;
    for (int i = 0; i < g->n; i++) st->workers[g->members[i]].reserved = 0;
    if (g->n < want && !st->group_noted) {
        char note[512];
        st->group_noted = 1;
        snprintf(note, sizeof note,
                 "note: trial %lld asks for train.devices: %d, but its kind of worker (%s) has %d (one per GPU): such "
                 "trials train on as many as there are (the results agree within float tolerance: docs/gradsync.md)",
                 (long long)m->id, m->cfg.train.devices, st->kinds.k[kind].kind.label, g->n);
        qn_progress_note(&st->progress, note);
    }
    for (int i = 0; i < g->n && m->parent >= 0 && rc == 0; i++) {
        int p = send_parent(st, g->members[i], m->parent, err, sizeof err);
        if (p > 0) rc = record_unrun_failure(st, m->id, err) != 0 ? -1 : 1;
        else if (p < 0) rc = -1;
    }
    m->group_size = g->n > 1 ? g->n : 0;
    for (int i = 0; i < g->n; i++) m->group_ranks[i] = g->members[i];
    for (int i = 0; i < g->n && rc == 0; i++) {
        m->group_rank = i;
        if (qn_send_bytes(m, qn_trial_msg_len(m), g->members[i], QN_TAG_TRIAL) != 0) rc = -1;
    }
    if (rc == 0) {
        double now = qn_clock_monotonic_s(), wall = qn_clock_wall_s();
        st->state[m->id] = TS_RUNNING;
        st->running++;
        for (int i = 0; i < g->n; i++) {
            worker_state *w = &st->workers[g->members[i]];
            w->busy = 1;
            w->trial = m->id;
            w->group_lead = g->n > 1 ? g->members[0] : 0;
            w->started_wall = wall;
            w->est_s = g->est_s;
            w->dispatched = now;
            w->est_end = now + g->est_s * qn_live_kind_scale(&st->kinds, kind);
        }
    }
    g->n = 0;
    free(m);
    return rc < 0 ? -1 : 0;
}

/* Reserve rank's idle worker for its kind's gathering trial, and send it when complete; a worker on
 * a GPU the group already has stays idle. 0, or -1. */
static int gang_join(study *st, int rank) {
    worker_state *w = &st->workers[rank];
    gang *g = &st->gangs[w->kind];
    for (int i = 0; i < g->n; i++)
        if (same_gpu(&st->workers[g->members[i]], w)) return 0;
    g->members[g->n++] = rank;
    w->reserved = 1;
    return gang_ready(st, w->kind) ? gang_send(st, w->kind) : 0;
}

/* Start gathering workers for data-parallel trial m, rank's worker first (its leader). 0, or -1. */
static int gang_start(study *st, int rank, const qn_trial_msg *m) {
    gang *g = &st->gangs[st->workers[rank].kind];
    if (!(g->msg = malloc(sizeof *g->msg))) return -1;
    *g->msg = *m;
    g->n = 0;
    g->est_s = 0;
    st->state[m->id] = TS_RUNNING; /* taken: not handed out again, though not running yet */
    return gang_join(st, rank);
}

/* Send the gathering trials that became complete (the last worker said hello). 0, or -1. */
static int gangs_flush(study *st) {
    for (int k = 0; k < st->kinds.n && k < QN_MAX_LIVE_KINDS; k++)
        if (st->gangs[k].msg && gang_ready(st, k) && gang_send(st, k) != 0) return -1;
    return 0;
}

/* Stopping: the gathering trials never started; they stay unrecorded (--resume runs them). */
static void gangs_drop(study *st) {
    for (int k = 0; k < QN_MAX_LIVE_KINDS; k++) {
        gang *g = &st->gangs[k];
        if (!g->msg) continue;
        st->state[g->msg->id] = TS_PENDING;
        for (int i = 0; i < g->n; i++) st->workers[g->members[i]].reserved = 0;
        free(g->msg);
        g->msg = NULL;
        g->n = 0;
    }
}

static int send_trial(study *st, int rank, int64_t id) {
    worker_state *w = &st->workers[rank];
    qn_trial_msg m;
    char err[QN_ERR_LEN];
    if (build_msg(st, id, &m, err, sizeof err) != 0) return record_unrun_failure(st, id, err);
    if (st->stages[m.stage].search) {
        int placed = place_search_trial(st, rank, id, &m);
        if (placed != 0) return placed < 0 ? -1 : 0;
    }
    if (m.cfg.train.devices > 1) return gang_start(st, rank, &m);
    if (m.parent >= 0) {
        int p = send_parent(st, rank, m.parent, err, sizeof err);
        if (p) return p < 0 ? -1 : record_unrun_failure(st, id, err);
    }
    if (qn_send_bytes(&m, qn_trial_msg_len(&m), rank, QN_TAG_TRIAL) != 0) return -1;
    st->state[id] = TS_RUNNING;
    st->running++;
    w->busy = 1;
    w->trial = id;
    w->started_wall = qn_clock_wall_s();
    return 0;
}

/* ---------------------------------------------------------------- workers out of service */

/* Take rank's worker out of service for the rest of the run, with one line naming it and why. */
static void retire_worker(study *st, int rank, const char *why) {
    worker_state *w = &st->workers[rank];
    if (w->retired) return;
    w->retired = 1;
    w->alive = 0;
    st->retired++;
    st->by_speed_stale = 1;
    char note[QN_ERR_LEN + 512];
    snprintf(note, sizeof note, "worker rank %d (host %s, device %s) retired, no more trials go to it: %s", rank,
             w->dev.hostname[0] ? w->dev.hostname : "?", w->dev.name[0] ? w->dev.name : "none", why);
    qn_progress_note(&st->progress, note);
}

/* Has a worker other than rank, still in service, finished a trial done since st->finished was `since`? */
static int others_fine(const study *st, int rank, int64_t since) {
    for (int r = 1; r < st->nranks; r++)
        if (r != rank && st->workers[r].alive && st->workers[r].last_done > since) return 1;
    return 0;
}

/* A trial whose worker broke under it (result flagged QN_RESULT_WORKER_BROKEN): unrecorded, back in
 * line for another worker (next_trial takes parked trials first), unless a worker broke under it
 * before: then it is recorded failed, since it may be what breaks them. 0, or -1. */
static int requeue_trial(study *st, int64_t id, int rank, qn_trial_result *r) {
    if (++st->broke_under[id] >= MAX_BROKEN_UNDER) {
        char why[QN_ERR_LEN];
        snprintf(why, sizeof why, "%d workers broke while running it (the last: %.*s)", (int)st->broke_under[id],
                 QN_ERR_LEN - 64, r->error);
        snprintf(r->error, sizeof r->error, "%s", why);
        r->status = QN_TRIAL_FAILED;
        return record_trial(st, id, rank, st->workers[rank].dev.name, st->workers[rank].started_wall, r);
    }
    st->state[id] = TS_PENDING;
    st->parked[st->nparked++] = id;
    char note[160];
    snprintf(note, sizeof note, "trial %lld goes to another worker (not counted as failed)", (long long)id);
    qn_progress_note(&st->progress, note);
    return 0;
}

/* A worker that said BROKEN instead of hello (its runner could not start at all): counted as heard
 * from, and retired at once. The payload is "hostname\0why\0". */
static int recv_broken(study *st, int rank, char **why) {
    MPI_Status status;
    int count = 0;
    MPI_Probe(rank, QN_TAG_BROKEN, MPI_COMM_WORLD, &status);
    MPI_Get_count(&status, MPI_BYTE, &count);
    char *buf = calloc((size_t)(count > 0 ? count : 0) + 2, 1);
    if (!buf || qn_recv_bytes(buf, (size_t)(count > 0 ? count : 0), rank, QN_TAG_BROKEN) != 0) {
        free(buf);
        return -1;
    }
    worker_state *w = &st->workers[rank];
    snprintf(w->dev.hostname, sizeof w->dev.hostname, "%s", buf);
    size_t host = strlen(buf);
    *why = strdup((size_t)count > host ? buf + host + 1 : "its trial runner could not start");
    free(buf);
    return *why ? 0 : -1;
}

static void register_broken(study *st, int rank) {
    worker_state *w = &st->workers[rank];
    st->hellos++;
    w->greeted = 0;
    retire_worker(st, rank, w->broken);
    free(w->broken);
    w->broken = NULL;
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
    uint32_t flags = 0;
    int bad = qn_result_unpack_flags(buf, (size_t)count, &id, &r, &flags);
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
    int member = w->group_lead && w->group_lead != rank;
    w->group_lead = 0;
    int broken = (flags & QN_RESULT_WORKER_BROKEN) != 0;
    if (broken) retire_worker(st, rank, r.error);
    if (member) { /* a data-parallel trial's other worker: the leader's result is the trial's */
        if (r.status != QN_TRIAL_DONE && strncmp(r.error, QN_GROUP_STOPPED, strlen(QN_GROUP_STOPPED)) != 0) {
            char note[QN_ERR_LEN + 96];
            snprintf(note, sizeof note, "trial %lld: its worker rank %d: %s", (long long)id, rank, r.error);
            qn_progress_note(&st->progress, note); /* why the group stopped, beside the leader's line */
        }
        qn_trial_result_free(&r);
        return 0;
    }
    st->running--;
    int rc;
    if (broken) {
        rc = requeue_trial(st, id, rank, &r);
        qn_trial_result_free(&r);
        return rc;
    }
    int fault = r.status == QN_TRIAL_FAILED && (flags & QN_RESULT_DEVICE_FAULT);
    if (fault && w->device_faults++ == 0) w->faults_since = st->finished;
    if (!fault) w->device_faults = 0;
    rc = record_trial(st, id, rank, w->dev.name, w->started_wall, &r);
    if (rc == 0 && r.status == QN_TRIAL_DONE) w->last_done = st->finished;
    if (rc == 0 && w->device_faults >= DEVICE_FAULT_STREAK && others_fine(st, rank, w->faults_since)) {
        char why[QN_ERR_LEN + 128];
        snprintf(why, sizeof why, "%d trials in a row failed with device errors while other workers finished "
                 "theirs (the last: %.*s)", w->device_faults, QN_ERR_LEN / 2, r.error);
        retire_worker(st, rank, why);
    }
    qn_trial_result_free(&r);
    return rc;
}

/* Test hook (docs/cli.md): QUENCH_FAKE_DEVICES=KIND[,KIND...] makes the worker of rank r (this
 * process: r = 1) report the (r-1)-th entry, cyclically, of the cost model's device table (memory,
 * compute capability, bf16, speed), and QUENCH_FAKE_DEVICE_MEMORY=BYTES[,BYTES...] its memory
 * (suffixes K, M, G: powers of 1000). The trials still run on the real device: for testing placement. */
static const char *nth_field(const char *list, int i, char *buf, size_t len) {
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    const char *p = list;
    for (int k = (i % n + n) % n; k > 0; k--) p = strchr(p, ',') + 1;
    size_t l = strcspn(p, ",");
    snprintf(buf, len, "%.*s", (int)(l < len ? l : len - 1), p);
    return buf;
}

static void fake_device(qn_device_profile *d, int rank) {
    const char *kinds = getenv("QUENCH_FAKE_DEVICES"), *mem = getenv("QUENCH_FAKE_DEVICE_MEMORY");
    char f[64];
    const qn_device_kind *k = kinds && *kinds ? qn_device_kind_find(nth_field(kinds, rank - 1, f, sizeof f)) : NULL;
    if (k) {
        snprintf(d->kind, sizeof d->kind, "cuda");
        d->device_index = rank - 1; /* a GPU of its own, for data-parallel groups (same_gpu) */
        snprintf(d->name, sizeof d->name, "%s", k->label);
        d->cc_major = k->cc_major, d->cc_minor = k->cc_minor;
        d->memory_bytes = k->memory_bytes;
        d->gemm_gflops = k->peak_flops * k->efficiency / 1e9;
        d->bf16 = k->bf16, d->fp8 = k->fp8;
    }
    if (mem && *mem) {
        char *end;
        double v = strtod(nth_field(mem, rank - 1, f, sizeof f), &end);
        v *= *end == 'K' ? 1e3 : *end == 'M' ? 1e6 : *end == 'G' ? 1e9 : 1;
        if (v > 0) d->memory_bytes = v;
    }
}

static int recv_hello(study *st, int rank) {
    worker_state *w = &st->workers[rank];
    if (qn_recv_bytes(&w->dev, sizeof w->dev, rank, QN_TAG_HELLO) != 0) return -1;
    w->dev.name[sizeof w->dev.name - 1] = 0;
    fake_device(&w->dev, rank);
    return 0;
}

/* A worker whose hello arrived: alive, its kind known, its device in the results file. */
static int register_worker(study *st, int rank) {
    worker_state *w = &st->workers[rank];
    w->greeted = 0;
    w->alive = 1;
    int nkinds = st->kinds.n;
    w->kind = qn_live_kind_add(&st->kinds, &w->dev);
    if (st->kinds.n != nkinds)
        for (int s = 0; s < st->job.nstages; s++)
            if (st->stages[s].queued) qn_queue_rate(&st->stages[s].queue, &st->kinds);
    st->hellos++;
    st->fit_dirty = 1;
    qn_device_record d = {.rank = rank, .session = st->session, .hostname = w->dev.hostname, .kind = w->dev.kind,
                          .name = w->dev.name, .cc_major = w->dev.cc_major, .cc_minor = w->dev.cc_minor,
                          .cores = w->dev.cores, .memory_bytes = w->dev.memory_bytes, .gemm_gflops = w->dev.gemm_gflops};
    char err[QN_ERR_LEN];
    if (qn_results_add_device(st->res, &d, err, sizeof err) != 0) fprintf(stderr, "quench: warning: %s\n", err);
    return 0;
}

/* One message from a worker. 0, or -1 when the protocol breaks or the results file cannot be written. */
static int handle_message(study *st, int source, int tag) {
    if (tag == QN_TAG_HELLO) return recv_hello(st, source) != 0 ? -1 : register_worker(st, source);
    if (tag == QN_TAG_BROKEN) {
        if (recv_broken(st, source, &st->workers[source].broken) != 0) return -1;
        register_broken(st, source);
        return 0;
    }
    if (tag == QN_TAG_RESULT) {
        const worker_state *w = &st->workers[source];
        double est = w->busy ? w->est_s : 0, took = qn_clock_monotonic_s() - w->dispatched;
        int grouped = w->group_lead != 0; /* a data-parallel trial's time is not one worker's */
        if (receive_result(st, source) != 0) return -1;
        if (!grouped && !w->retired) qn_live_kind_observe(&st->kinds, w->kind, est, took); /* calibrates the model's times */
        return 0;
    }
    fprintf(stderr, "quench: unexpected message (tag %d) from rank %d\n", tag, source);
    return -1;
}

/* The workers that never said hello within the hello timeout: the run goes on without them. */
static void note_silent(study *st) {
    st->hello_expired = 1;
    for (int r = 1; r < st->nranks; r++) {
        if (st->workers[r].alive || st->workers[r].retired) continue;
        char note[256];
        snprintf(note, sizeof note, "worker rank %d has not said hello within %g s: going on without it", r,
                 hello_timeout_s());
        qn_progress_note(&st->progress, note);
    }
}

/* Wait for a worker's message. 0 when a signal comes first or, once stopping, when the running
 * trials are to be abandoned (second signal, grace deadline). */
static int wait_message(study *st, int *source, int *tag) {
    int waiting_hellos = !all_workers_known(st) && !st->hello_expired;
    if (!st->stopping && !waiting_hellos) return qn_wait_message(MPI_ANY_SOURCE, source, tag, &g_signal);
    long sleep_ns = 20000;
    for (;;) {
        int flag = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
        if (flag) {
            *source = status.MPI_SOURCE;
            *tag = status.MPI_TAG;
            return 1;
        }
        if (st->stopping ? stop_now(st) : g_signal != 0) return 0;
        if (!st->stopping && waiting_hellos && qn_clock_monotonic_s() > st->hello_deadline) {
            note_silent(st);
            return 0;
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}

/* Stopping with trials still running: record the results already on their way (they finished in
 * time; a worker blocked sending a checkpoint would never see STOP), then name the trials left
 * behind. They are not recorded, so --resume runs them again. */
static int abandon_running(study *st) {
    for (;;) {
        int flag = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
        if (!flag) break;
        if (handle_message(st, status.MPI_SOURCE, status.MPI_TAG) != 0) return 1;
    }
    if (st->running == 0) return 0;
    char note[512];
    size_t used = (size_t)snprintf(note, sizeof note, "%s: abandoned %lld running trial%s (--resume runs them again):",
                                   g_again ? "second signal" : "grace period over", (long long)st->running,
                                   st->running == 1 ? "" : "s");
    for (int r = 1; r < st->nranks && used < sizeof note; r++)
        if (st->workers[r].busy && (!st->workers[r].group_lead || st->workers[r].group_lead == r))
            used += (size_t)snprintf(note + used, sizeof note - used, " %lld", (long long)st->workers[r].trial);
    qn_progress_note(&st->progress, note);
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
    double secs = qn_clock_monotonic_s() - st->t0;
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

/* ---------------------------------------------------------------- placement: each_device_kind */

/* device.kind's name for a device (qn_device_kind_id: cpu, a --cluster name, else its name). */
static void kind_name_of(const qn_device_profile *dev, char *buf, size_t len) {
    qn_device_kind k;
    qn_device_kind_from_profile(dev, &k);
    qn_device_kind_id(&k, buf, len);
}

/* The kinds present now: every worker's hello (the workers are told to start first), or this
 * process's device (its trial runner starts now). 0, 1 with err. */
static int live_kinds(study *st, char ***kinds, int *nkinds, char *err, size_t errlen) {
    int n = st->opts->use_mpi && st->nranks > 1 ? st->nranks - 1 : 1;
    char **names = calloc((size_t)n, sizeof *names);
    if (!names) return snprintf(err, errlen, "out of memory"), 1;
    *kinds = names;
    *nkinds = n;
    char name[128];
    if (n == 1 && !(st->opts->use_mpi && st->nranks > 1)) {
        if (!(st->inline_runner = qn_runner_start(NULL, 0, &st->self_dev, err, errlen))) return 1;
        qn_device_profile d = st->self_dev;
        fake_device(&d, 1);
        kind_name_of(&d, name, sizeof name);
        return (names[0] = strdup(name)) ? 0 : (snprintf(err, errlen, "out of memory"), 1);
    }
    int go = 0;
    MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
    st->go_sent = 1;
    double timeout = hello_timeout_s(), deadline = qn_clock_monotonic_s() + timeout;
    int named = 0;
    *nkinds = 0;
    for (int got = 0; got < n;) {
        int flag = 0, broken = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, QN_TAG_HELLO, MPI_COMM_WORLD, &flag, &status);
        if (!flag) {
            MPI_Iprobe(MPI_ANY_SOURCE, QN_TAG_BROKEN, MPI_COMM_WORLD, &flag, &status);
            broken = flag;
        }
        if (flag) {
            int r = status.MPI_SOURCE;
            if (r < 1 || r >= st->nranks || st->workers[r].greeted ||
                (broken ? recv_broken(st, r, &st->workers[r].broken) : recv_hello(st, r)) != 0)
                return snprintf(err, errlen, "malformed hello from rank %d", r), 1;
            st->workers[r].greeted = 1;
            got++;
            if (broken) continue; /* retired once the run starts; its kind is not planned on */
            kind_name_of(&st->workers[r].dev, name, sizeof name);
            if (!(names[named++] = strdup(name))) return snprintf(err, errlen, "out of memory"), 1;
            *nkinds = named;
            continue;
        }
        if (g_signal || qn_clock_monotonic_s() > deadline) {
            int r = 1;
            while (r < st->nranks && st->workers[r].greeted) r++;
            char waited[64];
            snprintf(waited, sizeof waited, "%g s passed", timeout);
            snprintf(err, errlen, "%s before worker rank %d said hello (placement: each_device_kind plans on every "
                     "worker's device kind)", g_signal ? signal_reason((int)g_signal) : waited, r);
            return 1;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (named == 0) return snprintf(err, errlen, "no worker has a device: every worker's trial runner failed to start"), 1;
    return 0;
}

/* The kinds that placement: each_device_kind expands on: the results file's when resuming (the
 * trial ids of the first session stay), else the live ones. 0, 1 or 2 with err. */
static int plan_kinds(study *st, char ***kinds, int *nkinds, char *err, size_t errlen) {
    const qn_run_opts *opts = st->opts;
    if (opts->resume && access(opts->out_path, F_OK) == 0) {
        qn_results *r = NULL;
        int rc = qn_results_open_read(opts->out_path, &r, err, errlen);
        if (rc != 0) return rc;
        char *plan = qn_results_plan_text(r);
        qn_results_close(r);
        rc = qn_plan_device_kinds(plan, kinds, nkinds);
        free(plan);
        if (rc == 0) { /* else not a plan with placement: resuming it refuses with the plan's difference */
            snprintf(st->kinds_note, sizeof st->kinds_note, "placement: each_device_kind on the kinds of the first run:");
            return 0;
        }
    }
    if (live_kinds(st, kinds, nkinds, err, errlen) != 0) return 1;
    snprintf(st->kinds_note, sizeof st->kinds_note, "placement: each_device_kind on the kinds present:");
    return 0;
}

static int setup(study *st, const qn_run_opts *opts, char *err, size_t errlen) {
    st->opts = opts;
    if (qn_job_load(opts->job_path, &st->job, err, errlen) != 0) return 2;
    if (qn_job_has_each_device_kind(&st->job)) {
        char **kinds = NULL;
        int nkinds = 0;
        int rc = plan_kinds(st, &kinds, &nkinds, err, errlen);
        qn_job_free(&st->job);
        if (rc == 0 && qn_job_load_kinds(opts->job_path, (const char *const *)kinds, nkinds, &st->job, err, errlen) != 0)
            rc = 2;
        qn_kinds_free(kinds, nkinds);
        if (rc != 0) return rc;
        /* the kinds as the axis has them: sorted, once each */
        const qn_stage *g = NULL;
        for (int s = 0; s < st->job.nstages && !g; s++)
            if (st->job.stages[s].each_device_kind == 2) g = &st->job.stages[s];
        const qn_axis *ax = g ? &g->axes[g->naxes - 1] : NULL;
        size_t used = strlen(st->kinds_note);
        for (int v = 0; ax && v < ax->nvalues && used < sizeof st->kinds_note; v++)
            used += (size_t)snprintf(st->kinds_note + used, sizeof st->kinds_note - used, " %s", ax->values[v].str);
    }
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
    st->broke_under = calloc((size_t)st->n + 1, 1);
    st->stages = calloc((size_t)st->job.nstages, sizeof *st->stages);
    if (!st->state || !st->row || !st->stages || !st->has_ckpt || !st->has_master || !st->broke_under) {
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
        qn_queue_free(&st->stages[s].queue);
    }
    free(st->parked);
    free(st->by_speed);
    for (int k = 0; k < QN_MAX_LIVE_KINDS; k++) free(st->gangs[k].msg);
    for (int i = 0; i < COORD_CACHE; i++) free(st->cache[i].buf);
    free(st->stages);
    free(st->state);
    free(st->row);
    free(st->has_ckpt);
    free(st->has_master);
    free(st->broke_under);
    for (int r = 1; st->workers && r < st->nranks; r++) free(st->workers[r].broken);
    free(st->workers);
    qn_runner_free(st->inline_runner);
    qn_job_free(&st->job);
}

/* ---------------------------------------------------------------- the coordinator */

/* A data-parallel trial is gathering its workers. */
static int gathering(const study *st) {
    for (int k = 0; k < QN_MAX_LIVE_KINDS; k++)
        if (st->gangs[k].msg) return 1;
    return 0;
}

static int coordinate(study *st) {
    const qn_run_opts *opts = st->opts;
    int use_mpi = opts->use_mpi && st->nranks > 1;
    /* Under Slurm, mpirun may hand rank 0 a pseudo-terminal whose output ends in a log file: plain lines. */
    int bar = opts->progress == QN_PROGRESS_BAR ||
              (opts->progress == QN_PROGRESS_AUTO && isatty(STDOUT_FILENO) && !getenv("SLURM_JOB_ID"));
    qn_progress_init(&st->progress, stdout, bar, opts->progress == QN_PROGRESS_QUIET, st->n, st->finished);
    st->t0 = qn_clock_monotonic_s();

    if (!use_mpi) {
        /* Trials run in a child forked now, before anything here touches the device; the child
         * never touches the open results file (docs/faults.md). */
        char err[QN_ERR_LEN];
        if (!st->inline_runner && !(st->inline_runner = qn_runner_start(NULL, 0, &st->self_dev, err, sizeof err))) {
            fprintf(stderr, "quench: %s\n", err);
            return 1;
        }
        qn_device_record d = {.rank = 0, .session = st->session, .hostname = st->self_dev.hostname,
                              .kind = st->self_dev.kind, .name = st->self_dev.name, .cc_major = st->self_dev.cc_major,
                              .cc_minor = st->self_dev.cc_minor, .cores = st->self_dev.cores,
                              .memory_bytes = st->self_dev.memory_bytes, .gemm_gflops = st->self_dev.gemm_gflops};
        if (qn_results_add_device(st->res, &d, err, sizeof err) != 0) fprintf(stderr, "quench: warning: %s\n", err);
        fake_device(&st->self_dev, 1);
        st->self_kind = qn_live_kind_add(&st->kinds, &st->self_dev);
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
        if (st->kinds_note[0]) qn_progress_note(&st->progress, st->kinds_note);
        if (st->finished > 0) {
            snprintf(note, sizeof note, "resuming: %lld of %lld trials already recorded", (long long)st->finished,
                     (long long)st->n);
            qn_progress_note(&st->progress, note);
        }
    }
    for (int s = 0; s < st->job.nstages; s++) update_stage_record(st, s);
    for (int r = 1; use_mpi && r < st->nranks; r++) { /* hellos that came before setup */
        if (st->workers[r].greeted && st->workers[r].broken) register_broken(st, r);
        else if (st->workers[r].greeted && register_worker(st, r) != 0) return 1;
    }
    st->hello_deadline = st->t0 + hello_timeout_s();

    int rc = 0;
    st->stop_deadline = INFINITY;
    while (st->finished < st->n) {
        if (g_signal && !st->stopping) begin_stop(st, st->running);
        if (st->stopping && (st->running == 0 || stop_now(st))) break;
        if (prepare_dispatch(st) != 0) { rc = 1; break; }
        if (st->finished >= st->n) break;
        if (!use_mpi) {
            if (st->stopping) break;
            double seconds;
            int64_t id = next_trial(st, 0, &seconds);
            if (id < 0) {
                fprintf(stderr, "quench: internal error: no trial can run (%lld of %lld finished)\n",
                        (long long)st->finished, (long long)st->n);
                rc = 1;
                break;
            }
            if (run_inline(st, id) != 0) { rc = 1; break; }
            if (st->no_workers) break;
            continue;
        }
        /* Hand a trial to every idle worker. */
        if (!st->stopping) {
            if (gangs_flush(st) != 0) { rc = 1; break; }
            kinds_avail(st);
            order_by_speed(st);
            /* Twice: a data-parallel trial taken late in the first pass gathers the idle workers of
             * its kind that the pass had already left (docs/gradsync.md). */
            int exhausted = 0;
            for (int i = 0; i < 2 * st->by_speed_n && !rc; i++) {
                int r = st->by_speed[i % st->by_speed_n];
                worker_state *w = &st->workers[r];
                if (!w->alive || w->busy || w->reserved) continue;
                if (st->gangs[w->kind].msg) { /* its kind gathers workers for a data-parallel trial */
                    if (gang_join(st, r) != 0) rc = 1;
                    continue;
                }
                if (exhausted || i >= st->by_speed_n) continue;
                double seconds;
                int64_t id = next_trial(st, r, &seconds);
                if (id == -1) { /* nothing to hand out now: only gathering goes on */
                    exhausted = 1;
                    continue;
                }
                if (id < 0) continue;
                if (send_trial(st, r, id) != 0) { rc = 1; break; }
                if (w->reserved && st->gangs[w->kind].msg) st->gangs[w->kind].est_s = seconds;
                if (w->busy) {
                    w->est_s = seconds;
                    w->dispatched = qn_clock_monotonic_s();
                    w->est_end = w->dispatched + seconds * qn_live_kind_scale(&st->kinds, w->kind);
                    kinds_avail(st);
                }
            }
            if (rc) break;
            if (prepare_dispatch(st) != 0) { rc = 1; break; } /* unrun failures may complete a stage */
            if (st->finished >= st->n) break;
            /* Nothing runs, nothing could be handed out, and no worker is still to say hello: the
             * workers left cannot run what is left (they were retired, or fit none of it). */
            if (st->running == 0 && !gathering(st) && (all_workers_known(st) || st->hello_expired)) {
                st->no_workers = 1;
                break;
            }
        }
        int source, tag;
        if (!wait_message(st, &source, &tag)) continue;
        if (handle_message(st, source, tag) != 0) { rc = 1; break; }
    }
    gangs_drop(st);
    if (use_mpi && st->stopping && rc == 0) rc = abandon_running(st);
    qn_progress_end(&st->progress);
    if (use_mpi) {
        for (int r = 1; r < st->nranks; r++) MPI_Send(NULL, 0, MPI_BYTE, r, QN_TAG_STOP, MPI_COMM_WORLD);
    }
    if (rc != 0) return rc;
    print_summary(st, stdout, st->stopping != 0 || st->no_workers);
    printf("results: %s\n", opts->out_path);
    if (st->no_workers && !st->stopping) {
        fflush(stdout);
        fprintf(stderr, "quench: no worker can run the %lld trials left (%d of %d workers retired: see 'retired' "
                "above%s); the results so far are recorded: finish with  quench run %s -o %s --resume  where the "
                "devices work\n", (long long)(st->n - st->finished), use_mpi ? st->retired : 1,
                use_mpi ? st->nranks - 1 : 1, st->hello_expired ? ", and some never said hello" : "", opts->job_path,
                opts->out_path);
        return QN_EXIT_NO_WORKERS;
    }
    if (st->stopping && st->finished < st->n) {
        printf("stopped before the end: finish with  quench run %s -o %s --resume\n", opts->job_path, opts->out_path);
        return 128 + st->stopping;
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
    /* The coordinator decides when the study stops (a second signal: at once, cleanly). Workers keep
     * going until it tells them: srun and mpirun hand USR1 to every task, so workers ignore it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sa.sa_flags = SA_RESTART; /* a signal must not fail a write of the results file with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (rank == 0) {
        sigaction(SIGUSR1, &sa, NULL);
    } else {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGUSR1, &sa, NULL);
    }

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
    st.workers = calloc((size_t)size + 1, sizeof *st.workers);
    st.parked = malloc((2 * (size_t)size + 2) * sizeof *st.parked); /* drawn search trials, requeued ones */
    st.by_speed = malloc(((size_t)size + 1) * sizeof *st.by_speed);
    int rc = st.workers && st.parked && st.by_speed ? setup(&st, opts, err, sizeof err) : 1;
    if (rc != 0) fprintf(stderr, "quench: %s\n", err[0] ? err : "out of memory");
    if (opts->use_mpi && !st.go_sent) {
        int go = rc;
        MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
    } else if (rc != 0 && st.go_sent) { /* the workers started for their hellos: stop them */
        int all = 1;
        for (int r = 1; r < size; r++) all &= st.workers[r].greeted;
        if (!all) { /* one never said hello: nothing else would end its rank */
            fflush(NULL);
            MPI_Abort(MPI_COMM_WORLD, rc);
        }
        for (int r = 1; r < size; r++) MPI_Send(NULL, 0, MPI_BYTE, r, QN_TAG_STOP, MPI_COMM_WORLD);
    }
    if (rc == 0) rc = coordinate(&st);
    int silent = 0;
    for (int r = 1; rc == QN_EXIT_NO_WORKERS && r < size; r++) silent |= !st.workers[r].alive && !st.workers[r].retired;
    teardown(&st);
    if (silent) { /* a rank that never said hello would hold MPI_Finalize: the results file is closed */
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    return rc;
}
