/* gradsync_equiv: a trial trained data-parallel by every rank of MPI_COMM_WORLD (qn_trial_execute_group)
 * ends with the weights, train-loss curve and metrics of the same trial on one rank (qn_trial_execute,
 * run here too as the reference), within float tolerance; and the replicas stay bit-identical.
 *
 *   mpirun -np K gradsync_equiv mlp|bert [--gpu] [--relay]
 *
 * --relay: the group's host collectives go through qn_gradsync_new_relay's callbacks (here MPI again,
 * as a worker would relay its trial runner's requests), which also count them: one float sum of the
 * whole gradient buffer and one double sum (the loss) per step, nothing else.
 *
 * --gpu: bert on GPU r for rank r, the gradients all-reduced by NCCL; exit 77 (skipped) without CUDA
 * or with fewer GPUs than ranks (NCCL takes one GPU per rank).
 *
 * The global batch (10) divides by neither 4 nor 3, and the last batch of an epoch (3 examples) is
 * smaller than a 4-rank group, so shards of unequal size and empty shards are both exercised.
 *
 * Tolerance: the k-rank gradient is sum_r (n_r/N) g_r instead of one sum over the batch: the same
 * math in another order, so each step differs by float rounding (~1e-7 relative), and AdamW, which
 * divides by sqrt(v), turns a rounding difference in a near-zero gradient into up to one lr-sized
 * step. Over S steps a weight may thus move by at most ~S*lr away from the 1-rank run, while real
 * bugs (a wrong normalisation, a lost shard, double counting) change the loss curve and most weights
 * at the first step. Checked: max |dw| <= 0.5 * S * lr, the mean |dw| <= 1e-6 (three orders below an
 * lr; a 2-4 rank run measures ~5e-9, dividing by k instead of weighting the shards ~4e-4, counting
 * an empty shard's stand-in example ~7e-5), loss curve and eval loss within 1e-4 relative, accuracy
 * equal; a group of one equals the plain trial exactly. Exit 0 pass, 1 fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "../../jobs/job_internal.h"
#include "qn_gradsync.h"
#include "qn_job.h"
#include "qn_kernels.h"
#include "qn_worker.h"

static int fails;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "gradsync_equiv: FAIL: " __VA_ARGS__);                                 \
            fputc('\n', stderr);                                                                   \
            fails++;                                                                               \
        }                                                                                          \
    } while (0)

/* The relay: MPI over the group, counting what it is asked to do. */
typedef struct {
    MPI_Comm comm;
    long float_sums, double_sums, bcasts;
    size_t float_elems;
} relay_state;

static int relay_sum(void *arg, void *buf, size_t n, int is_double, char *err, size_t errlen) {
    relay_state *r = arg;
    (void)err, (void)errlen;
    if (is_double) r->double_sums++;
    else r->float_sums++, r->float_elems += n;
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, r->comm) == MPI_SUCCESS
               ? 0
               : -1;
}

static int relay_bcast(void *arg, void *buf, size_t bytes, char *err, size_t errlen) {
    relay_state *r = arg;
    (void)err, (void)errlen;
    r->bcasts++;
    return MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, r->comm) == MPI_SUCCESS ? 0 : -1;
}

static double metric(const qn_trial_result *r, const char *name) {
    for (int i = 0; i < r->nmetrics; i++)
        if (!strcmp(r->metrics[i].name, name)) return r->metrics[i].value;
    return NAN;
}

static void build(const char *arch, qn_trial_config *c) {
    qn_config_defaults(c);
    snprintf(c->model.arch, sizeof c->model.arch, "%s", arch);
    c->data.train_size = 53; /* 5 batches of 10, then one of 3 */
    c->data.eval_size = 40;
    c->data.max_len = 16;
    c->train.epochs = 2;
    c->train.batch_size = 10;
    c->train.lr = 1e-3;
    if (!strcmp(arch, "bert")) {
        /* bert-tiny's shape, narrower: the same code paths in a second */
        snprintf(c->model.preset, sizeof c->model.preset, "bert-tiny");
        c->model.hidden_size = 32, c->model.layers = 2, c->model.heads = 2, c->model.intermediate_size = 64;
    } else {
        c->model.embed_dim = 16, c->model.hidden_size = 32;
        /* random weight masks from the trial seed: the same on every rank, kept through training */
        snprintf(c->prune.weight.method, sizeof c->prune.weight.method, "random");
        snprintf(c->prune.weight.scope, sizeof c->prune.weight.scope, "local");
        c->prune.weight.sparsity = 0.5;
    }
    char err[QN_ERR_LEN];
    if (qn_config_finish(c, err, sizeof err) != 0) {
        fprintf(stderr, "gradsync_equiv: config: %s\n", err);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *arch = argc > 1 ? argv[1] : "mlp";
    int gpu = 0, relay = 0;
    for (int i = 2; i < argc; i++) {
        gpu |= !strcmp(argv[i], "--gpu");
        relay |= !strcmp(argv[i], "--relay");
    }
    if (gpu) {
        int have = qn_cuda_available(); /* 0 built without CUDA */
        if (have < size) {
            if (rank == 0) printf("skipped: %d ranks need as many GPUs, %d present\n", size, have);
            MPI_Finalize();
            return 77;
        }
    }
    qn_trial_config cfg;
    build(arch, &cfg);
    qn_step mlp_steps[] = {QN_STEP_PRUNE, QN_STEP_TRAIN, QN_STEP_EVAL};
    qn_step bert_steps[] = {QN_STEP_TRAIN, QN_STEP_EVAL};
    const qn_step *steps = !strcmp(arch, "bert") ? bert_steps : mlp_steps;
    int nsteps = !strcmp(arch, "bert") ? 2 : 3;
    const uint64_t data_seed = 5, trial_seed = 0xfeedull;

    /* the group: the coordinator makes it with MPI_Comm_create_group; here every rank is in it */
    MPI_Group world_group, trial_group;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    int *members = malloc((size_t)size * sizeof *members);
    for (int i = 0; i < size; i++) members[i] = i;
    MPI_Group_incl(world_group, size, members, &trial_group);
    MPI_Comm comm;
    MPI_Comm_create_group(MPI_COMM_WORLD, trial_group, 7, &comm);
    char err[256];
    relay_state rs = {comm, 0, 0, 0, 0};
    qn_gradsync_relay callbacks = {relay_sum, relay_bcast, &rs};
    qn_gradsync *g = relay ? qn_gradsync_new_relay(rank, size, &callbacks, gpu ? rank : -1, err, sizeof err)
                           : qn_gradsync_new(comm, gpu ? rank : -1, err, sizeof err);
    if (!g) {
        fprintf(stderr, "gradsync_equiv: %s\n", err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    qn_worker_ctx *ctx = qn_worker_ctx_new();
    if (gpu) qn_worker_ctx_use_gpu(ctx, rank);
    qn_trial_result par, one;
    int rc = qn_trial_execute_group(ctx, g, &cfg, steps, nsteps, data_seed, trial_seed, NULL, 0, 1, &par);
    CHECK(rc == 0 && par.status == QN_TRIAL_DONE, "rank %d: the group trial failed: %s", rank, par.error);
    CHECK(par.checkpoint != NULL, "rank %d: no checkpoint", rank);
    size_t n = par.checkpoint_len;
    const int S = cfg.train.epochs * ((cfg.data.train_size + cfg.train.batch_size - 1) / cfg.train.batch_size);
    if (relay) {
        /* on a GPU the gradients go through NCCL: only the loss sums and the NCCL id use the relay */
        long want_float = gpu ? 0 : S;
        CHECK(rs.float_sums == want_float && rs.float_elems == (size_t)want_float * n,
              "rank %d: %ld gradient sums of %zu floats, want %ld of %zu", rank, rs.float_sums, rs.float_elems,
              want_float, (size_t)want_float * n);
        CHECK(rs.double_sums == S, "rank %d: %ld loss sums, want %d", rank, rs.double_sums, S);
        CHECK(rs.bcasts == (gpu ? 1 : 0), "rank %d: %ld broadcasts", rank, rs.bcasts);
    }

    /* replicas: every rank's weights are the leader's, bit for bit */
    float *lead = malloc(n * sizeof *lead);
    if (rank == 0) memcpy(lead, par.checkpoint, n * sizeof *lead);
    MPI_Bcast(lead, (int)n, MPI_FLOAT, 0, comm);
    CHECK(memcmp(lead, par.checkpoint, n * sizeof *lead) == 0, "rank %d: weights differ from the leader's", rank);

    if (rank == 0) {
        rc = qn_trial_execute(ctx, &cfg, steps, nsteps, data_seed, trial_seed, NULL, 0, 1, &one);
        CHECK(rc == 0 && one.status == QN_TRIAL_DONE, "the 1-rank trial failed: %s", one.error);
        CHECK(one.checkpoint_len == n, "parameter counts differ");
        double max_dw = 0, sum_dw = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)par.checkpoint[i] - one.checkpoint[i]);
            max_dw = d > max_dw ? d : max_dw;
            sum_dw += d;
        }
        double mean_dw = sum_dw / (double)n, max_allowed = 0.5 * S * cfg.train.lr;
        CHECK(max_dw <= max_allowed, "max |dw| %g > %g", max_dw, max_allowed);
        CHECK(mean_dw <= 1e-6, "mean |dw| %g > 1e-6", mean_dw);
        /* (on a GPU, atomic additions make even one rank's runs differ by rounding) */
        if (size == 1 && !gpu) CHECK(max_dw == 0.0, "a group of one must equal the plain trial exactly (max |dw| %g)", max_dw);
        CHECK(par.ncurves == 1 && one.ncurves == 1 && par.curves[0].n == one.curves[0].n && par.curves[0].n == S,
              "train_loss curves: %d vs %d points, %d steps", par.ncurves ? par.curves[0].n : -1,
              one.ncurves ? one.curves[0].n : -1, S);
        double max_rel = 0;
        for (int i = 0; par.ncurves && one.ncurves && i < par.curves[0].n && i < one.curves[0].n; i++) {
            double a = par.curves[0].values[i], b = one.curves[0].values[i];
            double rel = fabs(a - b) / fmax(fabs(b), 1e-6);
            max_rel = rel > max_rel ? rel : max_rel;
        }
        CHECK(max_rel <= 1e-4, "train_loss curve differs by %g relative", max_rel);
        const char *names[] = {"train_loss", "eval_loss", "accuracy", "weight_sparsity"};
        for (int k = 0; k < 4; k++) {
            double a = metric(&par, names[k]), b = metric(&one, names[k]);
            if (isnan(b) && isnan(a)) continue;
            double tol = !strcmp(names[k], "accuracy") || !strcmp(names[k], "weight_sparsity") ? 0 : 1e-4 * fabs(b);
            CHECK(fabs(a - b) <= tol, "%s: %.9g with %d ranks, %.9g with 1", names[k], a, size, b);
        }
        CHECK(!isnan(metric(&par, "accuracy")), "the leader has no accuracy");
        printf("gradsync_equiv %s%s: %d ranks, %zu weights, %d steps: max |dw| %.3g, mean |dw| %.3g, loss curve rel %.3g, "
               "accuracy %.4f vs %.4f, eval_loss %.7f vs %.7f\n",
               arch, gpu ? " (GPU, NCCL)" : "", size, n, S, max_dw, mean_dw, max_rel, metric(&par, "accuracy"), metric(&one, "accuracy"),
               metric(&par, "eval_loss"), metric(&one, "eval_loss"));
        qn_trial_result_free(&one);
    } else {
        CHECK(isnan(metric(&par, "accuracy")), "rank %d evaluated (only the leader does)", rank);
    }
    qn_trial_result_free(&par);
    free(lead);
    free(members);
    qn_worker_ctx_free(ctx);
    qn_gradsync_free(g);
    MPI_Comm_free(&comm);
    MPI_Group_free(&trial_group);
    MPI_Group_free(&world_group);
    int all = 0;
    MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    return all ? 1 : 0;
}
