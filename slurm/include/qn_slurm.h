/* qn_slurm.h: quench submit's Slurm side: the values that go into an sbatch script are checked here,
 * the script is generated from them, and sbatch is run on it (no shell between quench and sbatch).
 *
 * Layout decisions (docs/cli.md, quench submit, says the same for users):
 *  - One GPU type: one ordinary job of N+1 tasks with --gres=gpu:TYPE:G per node. Rank 0, the
 *    coordinator, needs no GPU and shares the first node; a worker picks its GPU as local rank modulo
 *    the visible GPUs (worker/device.c), so the node's coordinator+G workers use G distinct GPUs.
 *  - Several types: a heterogeneous job. Component 0 is the coordinator alone, without GPU (the backfill
 *    planner started this order and not the GPU-first one, research note 4.4); then one component
 *    per type. One `srun --het-group=0,1,...` step gives one MPI_COMM_WORLD across them; mpirun would
 *    see only group 0.
 *  - --signal=B:USR1@120 reaches only the batch shell: the script forwards it to the srun step and, if
 *    the study did not finish, requeues the job, whose next run resumes the same results file. */
#ifndef QN_SLURM_H
#define QN_SLURM_H

#include <stddef.h>

#define QN_SLURM_MAX_TYPES 16
#define QN_SLURM_MAX_NAME 64
#define QN_SLURM_MAX_GPUS 4096 /* per type; beyond any cluster we run on, and keeps N+1 in an int */
#define QN_SLURM_MAX_NODES 1024

typedef struct {
    char type[QN_SLURM_MAX_NAME]; /* GRES type, e.g. l40s */
    int count;
} qn_slurm_gpus;

typedef struct {
    const char *job_name;     /* --job-name; a name ([A-Za-z0-9_.-]+) */
    const char *job_path;     /* absolute */
    const char *results_path; /* absolute; logs are results_path.%j.out/.err */
    const char *quench_exe;   /* absolute path of the quench binary the job runs */
    const char *partition;    /* NULL: the cluster's default */
    const char *account;      /* NULL: the user's default */
    const char *time;         /* NULL: the partition's default */
    int nodes;                /* 0: not given (one node per type) */
    int ntypes;
    qn_slurm_gpus gpus[QN_SLURM_MAX_TYPES];
} qn_slurm_request;

/* Each check returns 0, or -1 with a one-line message in err naming `what` (e.g. "--partition"). */
/* Names (partition, account, GPU type, job name): [A-Za-z0-9_.-]+, at most QN_SLURM_MAX_NAME-1 chars. */
int qn_slurm_check_name(const char *what, const char *s, char *err, size_t errlen);
/* Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (and not zero). */
int qn_slurm_check_time(const char *what, const char *s, char *err, size_t errlen);
/* Absolute paths safe to single-quote in a script: no quotes, newlines or other control characters,
 * $, backticks or backslashes. in_directive: the path also goes into an #SBATCH line, where Slurm
 * splits on blanks and expands %: those are refused too. */
int qn_slurm_check_path(const char *what, const char *s, int in_directive, char *err, size_t errlen);
/* A positive integer in [1, max]. */
int qn_slurm_parse_count(const char *what, const char *s, int max, int *out, char *err, size_t errlen);
/* TYPE:N[,TYPE:N...] into req->gpus/ntypes; a type named twice is refused. */
int qn_slurm_parse_gpus(const char *spec, qn_slurm_request *req, char *err, size_t errlen);

/* Check every value of req, then return the sbatch script (malloc'ed, caller frees) in *out.
 * Returns 0, or -1 with err set (nothing allocated). */
int qn_slurm_script(const qn_slurm_request *req, char **out, char *err, size_t errlen);

/* Run `sbatch --parsable SCRIPT` (fork/execvp, no shell) and put the job id in jobid.
 * Returns 0; 1 when sbatch failed (its own message is on stderr; err says so); 2 when sbatch is not
 * installed (not on PATH). */
int qn_slurm_submit(const char *script_path, char *jobid, size_t jobidlen, char *err, size_t errlen);

#endif
