/* cmd_validate.c: quench validate JOB... [--cluster SPEC] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qn_cost.h"
#include "qn_device.h"
#include "qn_job.h"

static const char *help =
    "usage: quench validate JOB [JOB...] [--cluster SPEC]\n"
    "\n"
    "Check job files completely (every key, type, range, every trial of every stage, and the from:\n"
    "links between stages) without running anything, and print each job's stages, trial counts,\n"
    "what each trial costs, and the order stages run in.\n"
    "Then check that every trial fits some device, by the cost model (device memory; bf16 needs\n"
    "compute capability 8.0 or newer): a device of the cluster SPEC, or without --cluster one of this\n"
    "machine's (its GPUs, or its CPU when it has none). A trial that fits none is refused with the\n"
    "reason, one line per stage and kind of trial. Search stages are checked at their base\n"
    "configuration (the coordinator checks each drawn point when it places it). A stage with\n"
    "placement: each_device_kind shows as x each device kind present at run time; with --cluster it\n"
    "is expanded on the cluster's kinds and checked on each.\n"
    "\n"
    "options:\n"
    "  --cluster SPEC  COUNTxKIND[,COUNTxKIND...], kinds rtx2080ti, rtx8000, l40s, h200\n"
    "                  (as in quench bench schedule), e.g. 8xl40s,4xrtx8000,16xrtx2080ti\n"
    "  -h, --help      this help\n"
    "\n"
    "Errors are one line, FILE:LINE:COL: message, or FILE: stage S, trial N: why it fits no device;\n"
    "the exit code is 2.\n";

#define MAX_KINDS 16
#define MAX_REFUSALS 64 /* distinct (stage, reason) lines per job */

typedef struct {
    int stage;
    int64_t first, more;
    char why[256];
} refusal;

/* The devices of this machine: each GPU a worker here could use, or the CPU when there is none. */
static int local_kinds(qn_device_kind *kinds, char *label, size_t len) {
    qn_device_profile p;
    qn_device_probe(0, 0, &p);
    int n = 0, gpus = strcmp(p.kind, "cuda") ? 0 : qn_cuda_device_count();
    if (gpus <= 0) {
        qn_device_kind_from_profile(&p, &kinds[n++]);
    } else {
        for (int i = 0; i < gpus && n < MAX_KINDS; i++) {
            qn_device_probe(i, 0, &p);
            qn_device_kind_from_profile(&p, &kinds[n++]);
        }
    }
    snprintf(label, len, "this machine (%s%s, %.1f GB)", kinds[0].label, n > 1 ? " and others" : "",
             kinds[0].memory_bytes / 1e9);
    return n;
}

/* Refuse the trials of the job that fit none of the kinds. 0, or 2 with one line per (stage, reason). */
static int check_devices(const char *path, const qn_job *job, const qn_device_kind *kinds, int nkinds, const char *what,
                         const char *label) {
    refusal *ref = calloc(MAX_REFUSALS, sizeof *ref);
    if (!ref) return 1;
    int nref = 0;
    int64_t dropped = 0;
    for (int64_t id = 0; id < job->ntrials; id++) {
        qn_trial t;
        qn_trial_config cfg;
        qn_trial_cost c;
        char err[QN_ERR_LEN], why[256];
        if (qn_job_trial(job, id, &t) != 0) continue;
        const qn_stage *g = &job->stages[t.stage];
        /* a from: parent's parameters are not known yet: the trial's own on the base configuration */
        int known = qn_trial_config_build(job, NULL, 0, &t, &cfg, err, sizeof err) == 0 &&
                    qn_trial_cost_estimate(&cfg, g->steps, g->nsteps, &c, err, sizeof err) == 0;
        int stage = t.stage;
        qn_trial_free(&t);
        if (!known || !qn_trial_fits_none(&c, kinds, nkinds, what, why, sizeof why)) continue;
        int i = 0;
        while (i < nref && !(ref[i].stage == stage && !strcmp(ref[i].why, why))) i++;
        if (i < nref) {
            ref[i].more++;
        } else if (nref < MAX_REFUSALS) {
            ref[nref].stage = stage, ref[nref].first = id;
            snprintf(ref[nref++].why, sizeof ref->why, "%s", why);
        } else {
            dropped++;
        }
    }
    for (int i = 0; i < nref; i++) {
        char more[64] = "";
        if (ref[i].more) snprintf(more, sizeof more, " (and %lld more like it)", (long long)ref[i].more);
        fprintf(stderr, "quench: %s: stage %s, trial %lld%s: %s\n", path, job->stages[ref[i].stage].name,
                (long long)ref[i].first, more, ref[i].why);
    }
    if (dropped) fprintf(stderr, "quench: %s: %lld more trials fit no device\n", path, (long long)dropped);
    if (!nref) printf("devices: every trial fits %s\n", label);
    free(ref);
    return nref ? 2 : 0;
}

int qn_cmd_validate(int argc, char **argv) {
    const char *cluster = NULL;
    for (int i = 1; i < argc; i++) {
        if (qn_is_help(argv[i])) {
            fputs(help, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--cluster")) {
            if (i + 1 >= argc) return qn_usage_error("validate", "--cluster needs COUNTxKIND[,COUNTxKIND...]");
            cluster = argv[++i];
        } else if (!strncmp(argv[i], "--cluster=", 10)) {
            cluster = argv[i] + 10;
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            return qn_usage_error("validate", "unknown option '%s'", argv[i]);
        }
    }
    qn_device_kind kinds[MAX_KINDS];
    int nkinds = 0;
    char label[256];
    const char *what = "device of this machine";
    if (cluster) {
        const qn_device_kind *found[MAX_KINDS];
        int count[MAX_KINDS];
        char err[QN_ERR_LEN];
        if (qn_cluster_parse(cluster, found, count, MAX_KINDS, &nkinds, err, sizeof err) != 0)
            return qn_usage_error("validate", "%s", err);
        for (int k = 0; k < nkinds; k++) kinds[k] = *found[k];
        snprintf(label, sizeof label, "the cluster %s", cluster);
        what = "device in the cluster";
    }
    int njobs = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cluster")) {
            i++;
            continue;
        }
        if (!strncmp(argv[i], "--cluster=", 10)) continue;
        qn_job job;
        char err[QN_ERR_LEN];
        njobs++;
        /* placement: each_device_kind expands on the --cluster kinds, so the fit is checked per kind */
        const char *names[MAX_KINDS];
        char ids[MAX_KINDS][96];
        for (int k = 0; cluster && k < nkinds; k++) names[k] = qn_device_kind_id(&kinds[k], ids[k], sizeof ids[k]);
        if (qn_job_load_kinds(argv[i], cluster ? names : NULL, nkinds, &job, err, sizeof err) != 0) {
            fprintf(stderr, "quench: %s\n", err);
            rc = 2;
            continue;
        }
        if (njobs > 1) printf("\n");
        qn_job_print_plan(&job, stdout);
        if (!nkinds) nkinds = local_kinds(kinds, label, sizeof label);
        int fit = check_devices(argv[i], &job, kinds, nkinds, what, label);
        if (fit > rc) rc = fit;
        qn_job_free(&job);
    }
    if (njobs == 0) return qn_usage_error("validate", "missing the job file");
    return rc;
}
