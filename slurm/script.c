/* script.c: the sbatch script for one study (layout in qn_slurm.h). Every value is checked first;
 * paths are single-quoted, names and numbers are whitelisted, so the script means what it says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_slurm.h"

static int check_request(const qn_slurm_request *r, char *err, size_t errlen) {
    if (qn_slurm_check_name("job name", r->job_name, err, errlen) != 0) return -1;
    if (qn_slurm_check_path("job file", r->job_path, 0, err, errlen) != 0) return -1;
    if (qn_slurm_check_path("-o", r->results_path, 1, err, errlen) != 0) return -1;
    if (qn_slurm_check_path("quench binary", r->quench_exe, 0, err, errlen) != 0) return -1;
    if (r->partition && qn_slurm_check_name("--partition", r->partition, err, errlen) != 0) return -1;
    if (r->account && qn_slurm_check_name("--account", r->account, err, errlen) != 0) return -1;
    if (r->time && qn_slurm_check_time("--time", r->time, err, errlen) != 0) return -1;
    if (r->ntypes < 1 || r->ntypes > QN_SLURM_MAX_TYPES) {
        snprintf(err, errlen, "--gpus: expected TYPE:N[,TYPE:N...]");
        return -1;
    }
    for (int i = 0; i < r->ntypes; i++) {
        if (qn_slurm_check_name("--gpus: GPU type", r->gpus[i].type, err, errlen) != 0) return -1;
        if (r->gpus[i].count < 1 || r->gpus[i].count > QN_SLURM_MAX_GPUS) {
            snprintf(err, errlen, "--gpus: count of %s must be from 1 to %d", r->gpus[i].type, QN_SLURM_MAX_GPUS);
            return -1;
        }
    }
    if (r->nodes < 0 || r->nodes > QN_SLURM_MAX_NODES) {
        snprintf(err, errlen, "--nodes: expected a whole number from 1 to %d", QN_SLURM_MAX_NODES);
        return -1;
    }
    if (r->nodes > 0 && r->ntypes > 1) {
        snprintf(err, errlen, "--nodes applies to one GPU type; a heterogeneous job gives each type its own node");
        return -1;
    }
    if (r->nodes > 0 && r->gpus[0].count % r->nodes != 0) {
        snprintf(err, errlen, "--nodes %d does not divide %d GPUs evenly (each node gets the same GRES request)",
                 r->nodes, r->gpus[0].count);
        return -1;
    }
    return 0;
}

/* Options each component needs: where and how long it may run. */
static void placement(FILE *f, const qn_slurm_request *r) {
    if (r->partition) fprintf(f, "#SBATCH --partition=%s\n", r->partition);
    if (r->account) fprintf(f, "#SBATCH --account=%s\n", r->account);
    if (r->time) fprintf(f, "#SBATCH --time=%s\n", r->time);
}

static void header(FILE *f, const qn_slurm_request *r) {
    fprintf(f,
            "#!/bin/bash\n"
            "# Written by quench submit for the study %s. One MPI job: rank 0 coordinates, the other ranks\n"
            "# train, one per GPU. Submit it again with sbatch, or rerun quench submit to regenerate it.\n"
            "#SBATCH --job-name=%s\n"
            "#SBATCH --output=%s.%%j.out\n"
            "#SBATCH --error=%s.%%j.err\n"
            "# A requeued run appends to the same logs instead of overwriting the first run's.\n"
            "#SBATCH --open-mode=append\n"
            "#SBATCH --requeue\n"
            "# USR1 to this shell (B:) 120 s before the limit, forwarded below to the study.\n"
            "#SBATCH --signal=B:USR1@120\n",
            r->job_name, r->job_name, r->results_path, r->results_path);
}

static void body(FILE *f, const qn_slurm_request *r) {
    int g = 0, nodes = r->nodes > 0 ? r->nodes : 1;
    if (r->ntypes == 1) g = r->gpus[0].count / nodes;
    fprintf(f,
            "\n"
            "set -u\n"
            "quench='%s'\n"
            "job='%s'\n"
            "results='%s'\n"
            "# A requeued job finds its results file: resume it rather than start over.\n"
            "resume=\n"
            "if [ -e \"$results\" ]; then resume=--resume; fi\n",
            r->quench_exe, r->job_path, r->results_path);
    const char *launch = "srun --mpi=pmix";
    if (r->ntypes == 1 && nodes > 1) {
        /* Block distribution would put G+1 tasks on every node but the last: the coordinator's extra
         * task must go on the first node only, so lay the tasks out explicitly. */
        fprintf(f,
                "# Rank 0 (the coordinator, no GPU) shares the first node: it gets %d tasks, the others %d.\n"
                "export SLURM_HOSTFILE=\"$results.$SLURM_JOB_ID.hosts\"\n"
                "n=%d\n"
                "for host in $(scontrol show hostnames \"$SLURM_JOB_NODELIST\"); do\n"
                "  for ((i = 0; i < n; i++)); do echo \"$host\"; done\n"
                "  n=%d\n"
                "done >\"$SLURM_HOSTFILE\"\n",
                g + 1, g, g + 1, g);
        launch = "srun --mpi=pmix --distribution=arbitrary";
    }
    fprintf(f,
            "\n"
            "# --signal=B:USR1 reaches only this shell: hand it to the step (srun passes it to every task).\n"
            "stopping=0\n"
            "trap 'stopping=1; kill -USR1 \"$step\" 2>/dev/null' USR1\n"
            "%s",
            launch);
    if (r->ntypes == 1) {
        fprintf(f, " --ntasks=%d", r->gpus[0].count + 1);
    } else {
        fprintf(f, " --het-group=0");
        for (int i = 0; i < r->ntypes; i++) fprintf(f, ",%d", i + 1);
    }
    fprintf(f,
            " \"$quench\" run \"$job\" -o \"$results\" $resume --progress plain &\n"
            "step=$!\n"
            "# wait returns early whenever the trap runs; keep waiting until the step has ended.\n"
            "while kill -0 \"$step\" 2>/dev/null; do wait \"$step\"; done\n"
            "wait \"$step\"\n"
            "rc=$?\n"
            "# Stopped by the time limit before the study finished (0: done, 3: done with failed trials):\n"
            "# requeue, and the next run resumes the results file.\n"
            "if [ \"$stopping\" = 1 ] && [ \"$rc\" -ne 0 ] && [ \"$rc\" -ne 3 ]; then\n"
            "  scontrol requeue \"$SLURM_JOB_ID\"\n"
            "fi\n"
            "exit \"$rc\"\n");
}

int qn_slurm_script(const qn_slurm_request *r, char **out, char *err, size_t errlen) {
    *out = NULL;
    if (check_request(r, err, errlen) != 0) return -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(err, errlen, "out of memory writing the batch script");
        return -1;
    }
    header(f, r);
    if (r->ntypes == 1) {
        int nodes = r->nodes > 0 ? r->nodes : 1;
        int g = r->gpus[0].count / nodes;
        placement(f, r);
        fprintf(f, "#SBATCH --nodes=%d\n", nodes);
        if (nodes == 1) {
            fprintf(f, "# %d workers, one per GPU, and the coordinator, which needs no GPU, on the same node.\n"
                       "#SBATCH --ntasks=%d\n", g, g + 1);
        } else {
            /* Room for the coordinator's extra task on any node; the step uses only N+1 of them. */
            fprintf(f, "# %d workers per node, one per GPU; room for the coordinator's extra task on each.\n"
                       "#SBATCH --ntasks-per-node=%d\n", g, g + 1);
        }
        fprintf(f, "#SBATCH --gres=gpu:%s:%d\n", r->gpus[0].type, g);
    } else {
        fprintf(f, "# Heterogeneous job. Component 0: the coordinator alone, without GPU.\n");
        placement(f, r);
        fprintf(f, "#SBATCH --nodes=1\n#SBATCH --ntasks=1\n");
        for (int i = 0; i < r->ntypes; i++) {
            fprintf(f, "#SBATCH hetjob\n# Component %d: %d workers on %s, one per GPU.\n", i + 1, r->gpus[i].count,
                    r->gpus[i].type);
            placement(f, r);
            fprintf(f, "#SBATCH --nodes=1\n#SBATCH --ntasks=%d\n#SBATCH --gres=gpu:%s:%d\n", r->gpus[i].count,
                    r->gpus[i].type, r->gpus[i].count);
        }
    }
    body(f, r);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        snprintf(err, errlen, "out of memory writing the batch script");
        return -1;
    }
    *out = buf;
    return 0;
}
