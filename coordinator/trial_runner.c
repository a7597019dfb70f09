/* trial_runner.c: the child process that runs a worker's trials, and the parent's side of it.
 *
 * On the socket, every message is a frame: {magic, type, payload length} then the payload.
 *   child -> parent  HELLO        qn_device_profile, once, when the child is ready
 *   parent -> child  PARENT       int64 trial id, then the float32 weights (only when the child lacks them)
 *   parent -> child  TRIAL        qn_trial_msg, its first qn_trial_msg_len bytes
 *   child -> parent  RESULT       qn_result_pack's bytes
 *   child -> parent  RESULT_CKPT  float32 weights, right after RESULT when the result has a checkpoint
 *   child -> parent  SUM          relay_sum then the values: a data-parallel trial's host all-reduce
 *   child -> parent  BCAST        the bytes of group rank 0 (only its are used): NCCL's unique id
 *   parent -> child  RELAY_OK     the reduced values or the broadcast bytes, in answer to SUM or BCAST
 *   parent -> child  RELAY_ERR    a one-line message: the group cannot go on (the trial fails)
 * The parent trusts nothing it reads: a short or malformed frame fails the trial, it never crashes
 * the parent. The child reads its parent's frames with plain blocking calls: when the parent goes, the
 * socket closes and the child leaves. */
#define _GNU_SOURCE
#include "progress.h"
#include "qn_clock.h"
#include "trial_runner.h"
#include "../worker/debug_fault.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAGIC 0x464e5251u /* "QRNF" */
enum { F_HELLO = 1, F_PARENT, F_TRIAL, F_RESULT, F_RESULT_CKPT, F_SUM, F_BCAST, F_RELAY_OK, F_RELAY_ERR };
#define MAX_RESULT_BYTES ((uint64_t)1 << 28) /* metrics and curves: far below this */
#define SLICE_MS 5                           /* how often a waiting parent asks stop() */
#define START_TIMEOUT_S 300.0                /* a child that cannot probe its device in this long is stuck */

typedef struct {
    uint32_t magic, type;
    uint64_t len;
} frame_header;

typedef struct {
    uint32_t is_double, reserved;
    uint64_t n;
} relay_sum;

struct qn_runner {
    qn_runner_engine engine;
    int local_rank;
    pid_t pid; /* -1: none running */
    int fd;
    int gpu;   /* the child runs on a CUDA device */
    int64_t child_parent; /* the parent checkpoint the child holds, -1 none */
};

/* ---------------------------------------------------------------- the trial engine (default) */

typedef struct {
    qn_worker_ctx *ctx;
    int device; /* the CUDA device, -1 on the CPU */
} engine_state;

static void *engine_init(void *arg, int local_rank, int first, qn_device_profile *dev) {
    (void)arg;
    /* Test hook (docs/faults.md): the device of this rank is gone, so no runner starts after its first
     * (":start": not even that one). */
    int broken = qn_debug_rank_listed(QN_DEBUG_BROKEN_RANK);
    if (broken == 2 || (broken && !first)) {
        fprintf(stderr, "quench: trial runner: the device is gone (simulated by %s)\n", QN_DEBUG_BROKEN_RANK);
        return NULL;
    }
    qn_device_probe(local_rank, first, dev);
    engine_state *e = calloc(1, sizeof *e);
    if (!e || !(e->ctx = qn_worker_ctx_new())) {
        free(e);
        return NULL;
    }
    e->device = !strcmp(dev->kind, "cuda") ? dev->device_index : -1;
    if (e->device >= 0) qn_worker_ctx_use_gpu(e->ctx, e->device);
    return e;
}

/* Test hook (docs/faults.md): QUENCH_GROUP_FAULT_RANK=r keeps a data-parallel trial's debug.fault
 * to the worker at group rank r, so that one member crashes (or hangs) and the others do not. */
static int fault_elsewhere(const qn_trial_msg *m) {
    const char *v = getenv("QUENCH_GROUP_FAULT_RANK");
    return v && *v && m->group_size > 1 && atoi(v) != m->group_rank;
}

static int engine_run(engine_state *e, const qn_trial_msg *m, const float *parent, size_t parent_len,
                      qn_trial_result *out);

/* Test hooks (docs/faults.md): on the listed ranks the device falls off at the start of a trial, or a
 * trial ends with a fatal CUDA error after its work. */
static int engine_execute(void *state, const qn_trial_msg *m, const float *parent, size_t parent_len,
                          qn_trial_result *out) {
    if (qn_debug_rank_listed(QN_DEBUG_BROKEN_RANK)) raise(SIGBUS);
    int rc = engine_run(state, m, parent, parent_len, out);
    if (qn_debug_rank_listed(QN_DEBUG_DEVICE_ERROR_RANK)) {
        qn_trial_result_free(out);
        memset(out, 0, sizeof *out);
        out->status = QN_TRIAL_FAILED;
        snprintf(out->error, sizeof out->error, "%s", QN_DEBUG_CUDA_ERROR);
        return 0;
    }
    return rc;
}

static int engine_run(engine_state *e, const qn_trial_msg *m, const float *parent, size_t parent_len,
                      qn_trial_result *out) {
    qn_step steps[QN_MAX_STEPS];
    int n = m->nsteps < 0 ? 0 : m->nsteps > QN_MAX_STEPS ? QN_MAX_STEPS : m->nsteps;
    for (int i = 0; i < n; i++) steps[i] = (qn_step)m->steps[i];
    if (m->group_size <= 1)
        return qn_trial_execute(e->ctx, &m->cfg, steps, n, m->data_seed, m->trial_seed, parent, parent_len,
                                m->want_checkpoint, out);
    qn_trial_config cfg = m->cfg;
    if (fault_elsewhere(m)) snprintf(cfg.debug.fault, sizeof cfg.debug.fault, "none");
    /* The parent does the group's host collectives on its MPI communicator; NCCL (on GPUs) joins the
     * children directly. */
    qn_gradsync_relay relay;
    qn_runner_child_relay(&relay);
    memset(out, 0, sizeof *out);
    qn_gradsync *g = qn_gradsync_new_relay(m->group_rank, m->group_size, &relay, e->device, out->error,
                                           sizeof out->error);
    if (!g) {
        out->status = QN_TRIAL_FAILED;
        return 0;
    }
    int rc = qn_trial_execute_group(e->ctx, g, &cfg, steps, n, m->data_seed, m->trial_seed, parent, parent_len,
                                    m->want_checkpoint, out);
    qn_gradsync_free(g);
    return rc;
}

/* ---------------------------------------------------------------- the child */

static int child_read(void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t k = read(QN_RUNNER_CHILD_FD, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static int child_write(const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t k = send(QN_RUNNER_CHILD_FD, p, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static int child_frame(uint32_t type, const void *a, size_t alen) {
    frame_header h = {FRAME_MAGIC, type, alen};
    return child_write(&h, sizeof h) || child_write(a, alen) ? -1 : 0;
}

/* Leave only stdio and the socket open: the child must not hold the parent's MPI connections or
 * results file (a lingering descriptor would keep its lock). */
/* The relay's two collectives, as the child sees them: a frame to the parent, its answer back. A
 * broken socket ends the child (its parent is gone or gave up on it). */
static int child_relay(uint32_t type, const void *head, size_t head_len, void *buf, size_t len, char *err,
                       size_t errlen) {
    frame_header h = {FRAME_MAGIC, type, head_len + len};
    if (child_write(&h, sizeof h) || (head_len && child_write(head, head_len)) || (len && child_write(buf, len)))
        _exit(0);
    if (child_read(&h, sizeof h) != 0) _exit(0);
    if (h.magic != FRAME_MAGIC) _exit(2);
    if (h.type == F_RELAY_OK && h.len == len) {
        if (len && child_read(buf, len) != 0) _exit(0);
        return 0;
    }
    if (h.type != F_RELAY_ERR || h.len >= 4096) _exit(2);
    char msg[4096];
    if (child_read(msg, (size_t)h.len) != 0) _exit(0);
    msg[h.len] = 0;
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int child_sum(void *arg, void *buf, size_t n, int is_double, char *err, size_t errlen) {
    (void)arg;
    relay_sum s = {(uint32_t)(is_double != 0), 0, n};
    return child_relay(F_SUM, &s, sizeof s, buf, n * (is_double ? sizeof(double) : sizeof(float)), err, errlen);
}

static int child_bcast(void *arg, void *buf, size_t bytes, char *err, size_t errlen) {
    (void)arg;
    return child_relay(F_BCAST, NULL, 0, buf, bytes, err, errlen);
}

void qn_runner_child_relay(qn_gradsync_relay *relay) {
    relay->sum = child_sum;
    relay->bcast = child_bcast;
    relay->arg = NULL;
}

static void child_close_inherited(void) {
    if (close_range(QN_RUNNER_CHILD_FD + 1, ~0U, 0) == 0) return;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    int fds[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        int fd = atoi(e->d_name);
        if (fd > QN_RUNNER_CHILD_FD && fd != dirfd(d)) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++) close(fds[i]);
}

static void child_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* The parent decides when to stop; Ctrl-C reaches the whole process group. */
    sa.sa_handler = SIG_IGN;
    int ignored[] = {SIGINT, SIGTERM, SIGUSR1, SIGPIPE};
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) sigaction(ignored[i], &sa, NULL);
    /* A crash must end the child with its own signal, not run a handler inherited from MPI. */
    sa.sa_handler = SIG_DFL;
    int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGCHLD, SIGUSR2, SIGHUP};
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) sigaction(fatal[i], &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_fail(qn_trial_result *r, const char *msg) {
    r->status = QN_TRIAL_FAILED;
    snprintf(r->error, sizeof r->error, "%s", msg);
}

static void child_main(const qn_runner *r, int first) {
    qn_device_profile dev;
    memset(&dev, 0, sizeof dev);
    void *state = r->engine.init(r->engine.arg, r->local_rank, first, &dev);
    if (!state) {
        fprintf(stderr, "quench: trial runner: cannot set up the trial engine\n");
        _exit(3);
    }
    if (child_frame(F_HELLO, &dev, sizeof dev) != 0) _exit(0);
    float *parent = NULL;
    size_t parent_len = 0;
    int64_t parent_id = -1;
    for (;;) {
        frame_header h;
        if (child_read(&h, sizeof h) != 0) _exit(0); /* the parent closed the socket: done */
        if (h.magic != FRAME_MAGIC) _exit(2);
        if (h.type == F_PARENT) {
            if (h.len < sizeof(int64_t) || (h.len - sizeof(int64_t)) % sizeof(float) != 0) _exit(2);
            free(parent);
            parent_len = (size_t)((h.len - sizeof(int64_t)) / sizeof(float));
            parent = malloc(parent_len * sizeof(float) + 1);
            parent_id = -1;
            if (!parent) {
                fprintf(stderr, "quench: trial runner: out of memory for a parent checkpoint\n");
                _exit(4);
            }
            if (child_read(&parent_id, sizeof parent_id) || child_read(parent, parent_len * sizeof(float))) _exit(0);
            continue;
        }
        /* A trial message stops after the layer overrides it uses (qn_trial_msg_len). */
        if (h.type != F_TRIAL || h.len < offsetof(qn_trial_msg, cfg.layers) || h.len > sizeof(qn_trial_msg)) _exit(2);
        qn_trial_msg m;
        memset(&m, 0, sizeof m);
        if (child_read(&m, (size_t)h.len) != 0) _exit(0);
        if (qn_trial_msg_len(&m) != h.len) _exit(2);
        qn_trial_result res;
        memset(&res, 0, sizeof res);
        if (m.parent >= 0 && m.parent != parent_id)
            child_fail(&res, "the trial runner did not receive the parent checkpoint");
        else if (r->engine.execute(state, &m, m.parent >= 0 ? parent : NULL, m.parent >= 0 ? parent_len : 0, &res) != 0 &&
                 res.error[0] == 0)
            child_fail(&res, "internal error in the trial engine");
        size_t len = 0;
        void *buf = qn_result_pack(m.id, &res, &len);
        if (!buf) {
            fprintf(stderr, "quench: trial runner: out of memory packing a result\n");
            _exit(4);
        }
        int bad = child_frame(F_RESULT, buf, len);
        free(buf);
        if (!bad && res.checkpoint && res.checkpoint_len)
            bad = child_frame(F_RESULT_CKPT, res.checkpoint, res.checkpoint_len * sizeof(float));
        qn_trial_result_free(&res);
        fflush(stdout);
        if (bad) _exit(0);
    }
}

/* ---------------------------------------------------------------- the parent: waiting and moving bytes */

enum { IO_OK = 0, IO_EOF, IO_TIMEOUT, IO_STOPPED, IO_ERROR };

typedef struct {
    double deadline; /* monotonic seconds; 0: none */
    qn_runner_stop_fn stop;
    void *stop_arg;
} wait_ctx;

static int wait_fd(int fd, short events, const wait_ctx *w) {
    for (;;) {
        int ms = SLICE_MS;
        if (w->deadline > 0) {
            double left = w->deadline - qn_clock_monotonic_s();
            if (left <= 0) return IO_TIMEOUT;
            if (left * 1000.0 < ms) ms = (int)(left * 1000.0) + 1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0) return IO_OK; /* readable, writable, or hung up: the next recv/send tells which */
        if (n < 0 && errno != EINTR) return IO_ERROR;
        if (w->stop && w->stop(w->stop_arg)) return IO_STOPPED;
    }
}

static int io_recv(int fd, void *buf, size_t len, const wait_ctx *w) {
    char *p = buf;
    while (len > 0) {
        ssize_t k = recv(fd, p, len, MSG_DONTWAIT);
        if (k > 0) {
            p += k;
            len -= (size_t)k;
            continue;
        }
        if (k == 0) return IO_EOF;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return IO_EOF;
        int rc = wait_fd(fd, POLLIN, w);
        if (rc != IO_OK) return rc;
    }
    return IO_OK;
}

static int io_send(int fd, const void *buf, size_t len, const wait_ctx *w) {
    const char *p = buf;
    while (len > 0) {
        ssize_t k = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            len -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return IO_EOF; /* EPIPE, ECONNRESET: gone */
        int rc = wait_fd(fd, POLLOUT, w);
        if (rc != IO_OK) return rc;
    }
    return IO_OK;
}

static int io_frame(int fd, uint32_t type, const void *a, size_t alen, const void *b, size_t blen, const wait_ctx *w) {
    frame_header h = {FRAME_MAGIC, type, (uint64_t)alen + blen};
    int rc = io_send(fd, &h, sizeof h, w);
    if (rc == IO_OK && alen) rc = io_send(fd, a, alen, w);
    if (rc == IO_OK && blen) rc = io_send(fd, b, blen, w);
    return rc;
}

/* ---------------------------------------------------------------- the parent: the child's life */

static void describe_status(int status, char *buf, size_t len) {
    if (status < 0) {
        snprintf(buf, len, "its exit status was lost");
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(buf, len, "killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
                 sig == SIGKILL ? ", perhaps by the out-of-memory killer" : "");
    } else if (WIFEXITED(status)) {
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, len, "ended with wait status %#x", (unsigned)status);
    }
}

/* Reap the child (killing it first when kill_it; else giving a dying one 2 s to finish) and forget
 * it. Returns its wait status, -1 when lost. */
static int reap(qn_runner *r, int kill_it) {
    int status = -1;
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    if (r->pid > 0) {
        pid_t got = 0;
        if (!kill_it) {
            for (int i = 0; i < 2000 && (got = waitpid(r->pid, &status, WNOHANG)) == 0; i++) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
        if (got == 0) {
            kill(r->pid, SIGKILL);
            while ((got = waitpid(r->pid, &status, 0)) < 0 && errno == EINTR) {}
        }
        if (got < 0) status = -1;
    }
    r->pid = -1;
    r->child_parent = -1;
    return status;
}

/* Fork a child and wait for its HELLO. Returns 0, 1 when stop asked, -1 with a message. */
static int spawn(qn_runner *r, int first, qn_device_profile *dev, qn_runner_stop_fn stop, void *stop_arg, char *err,
                 size_t errlen) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return -1;
    }
    fflush(stdout); /* the child must not inherit half a line of the parent's output */
    fflush(stderr);
    pid_t parent_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent_pid) _exit(1); /* the parent died before the line above */
        prctl(PR_SET_NAME, "quench-runner");
        close(sv[0]);
        if (sv[1] != QN_RUNNER_CHILD_FD) {
            if (dup2(sv[1], QN_RUNNER_CHILD_FD) < 0) _exit(1);
            close(sv[1]);
        }
        child_close_inherited();
        child_signals();
        child_main(r, first);
        _exit(0);
    }
    close(sv[1]);
    r->pid = pid;
    r->fd = sv[0];
    r->child_parent = -1;
    wait_ctx w = {qn_clock_monotonic_s() + START_TIMEOUT_S, stop, stop_arg};
    frame_header h;
    int rc = io_recv(r->fd, &h, sizeof h, &w);
    if (rc == IO_OK && (h.magic != FRAME_MAGIC || h.type != F_HELLO || h.len != sizeof *dev)) {
        reap(r, 1);
        snprintf(err, errlen, "the trial runner sent a malformed greeting");
        return -1;
    }
    if (rc == IO_OK) rc = io_recv(r->fd, dev, sizeof *dev, &w);
    if (rc == IO_OK) {
        dev->kind[sizeof dev->kind - 1] = 0;
        r->gpu = strcmp(dev->kind, "cuda") == 0;
        dev->name[sizeof dev->name - 1] = 0;
        dev->hostname[sizeof dev->hostname - 1] = 0;
        return 0;
    }
    if (rc == IO_STOPPED) {
        reap(r, 1);
        return 1;
    }
    char why[128];
    if (rc == IO_EOF) {
        describe_status(reap(r, 0), why, sizeof why);
    } else {
        reap(r, 1);
        snprintf(why, sizeof why, rc == IO_TIMEOUT ? "no answer within %.0f s" : "poll failed", START_TIMEOUT_S);
    }
    snprintf(err, errlen, "the trial runner died while probing the device: %s", why);
    return -1;
}

qn_runner *qn_runner_start(const qn_runner_engine *engine, int local_rank, qn_device_profile *dev, char *err,
                           size_t errlen) {
    qn_runner *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (engine) {
        r->engine = *engine;
    } else {
        r->engine.init = engine_init;
        r->engine.execute = engine_execute;
    }
    r->local_rank = local_rank;
    r->pid = -1;
    r->fd = -1;
    r->child_parent = -1;
    if (spawn(r, 1, dev, NULL, NULL, err, errlen) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

pid_t qn_runner_pid(const qn_runner *r) { return r->pid; }

void qn_runner_free(qn_runner *r) {
    if (!r) return;
    reap(r, 1);
    free(r);
}

static void fail(qn_trial_result *out, double t0, const char *why) {
    qn_trial_result_free(out);
    memset(out, 0, sizeof *out);
    out->status = QN_TRIAL_FAILED;
    snprintf(out->error, sizeof out->error, "%s", why);
    out->wall_s = qn_clock_monotonic_s() - t0;
}

#define MAX_RELAY_BYTES ((uint64_t)1 << 34) /* a gradient buffer: 4 G floats */
#define MAX_BCAST_BYTES ((uint64_t)1 << 20)

/* The child asked for a collective (header h read): do it through relay and answer. IO_* or -1. The
 * time spent waiting there for the other members does not count against this trial's timeout: each
 * member's own timeout bounds its own work, and a member that hangs is ended by its own. */
static int relay_answer(qn_runner *r, const qn_gradsync_relay *relay, const frame_header *h, wait_ctx *w,
                        const char **what) {
    relay_sum s = {0, 0, 0};
    uint64_t len = h->len;
    int rc;
    if (h->type == F_SUM) {
        if (len < sizeof s || (rc = io_recv(r->fd, &s, sizeof s, w)) != IO_OK) {
            if (len < sizeof s) *what = "a short sum request";
            return len < sizeof s ? -1 : rc;
        }
        len -= sizeof s;
        size_t elt = s.is_double ? sizeof(double) : sizeof(float);
        if (len > MAX_RELAY_BYTES || s.n != len / elt || len % elt) {
            *what = "a sum request of the wrong size";
            return -1;
        }
    } else if (len > MAX_BCAST_BYTES) {
        *what = "an oversized broadcast request";
        return -1;
    }
    void *buf = malloc(len ? (size_t)len : 1);
    if (!buf) {
        *what = "no memory for a collective";
        return -1;
    }
    if ((rc = io_recv(r->fd, buf, (size_t)len, w)) != IO_OK) {
        free(buf);
        return rc;
    }
    char err[QN_ERR_LEN] = "";
    double t0 = qn_clock_monotonic_s();
    int bad = h->type == F_SUM ? relay->sum(relay->arg, buf, (size_t)s.n, s.is_double != 0, err, sizeof err)
                               : relay->bcast(relay->arg, buf, (size_t)len, err, sizeof err);
    if (w->deadline > 0) w->deadline += qn_clock_monotonic_s() - t0;
    if (bad && !err[0]) snprintf(err, sizeof err, "the data-parallel group's collective failed");
    rc = bad ? io_frame(r->fd, F_RELAY_ERR, err, strlen(err), NULL, 0, w)
             : io_frame(r->fd, F_RELAY_OK, buf, (size_t)len, NULL, 0, w);
    free(buf);
    return rc;
}

/* The exchange for one trial; IO_* or, for a reply that makes no sense, -1 with *what set. relay: the
 * collectives of a data-parallel trial, or NULL. */
static int exchange(qn_runner *r, const qn_trial_msg *m, const float *parent, size_t parent_len, wait_ctx *w,
                    const qn_gradsync_relay *relay, qn_trial_result *out, const char **what) {
    int rc;
    if (m->parent >= 0 && r->child_parent != m->parent) {
        int64_t id = m->parent;
        r->child_parent = -1;
        rc = io_frame(r->fd, F_PARENT, &id, sizeof id, parent, parent_len * sizeof(float), w);
        if (rc != IO_OK) return rc;
        r->child_parent = m->parent;
    }
    if ((rc = io_frame(r->fd, F_TRIAL, m, qn_trial_msg_len(m), NULL, 0, w)) != IO_OK) return rc;

    frame_header h;
    for (;;) { /* a data-parallel trial's collectives come first */
        if ((rc = io_recv(r->fd, &h, sizeof h, w)) != IO_OK) return rc;
        if (h.magic != FRAME_MAGIC || (h.type != F_SUM && h.type != F_BCAST)) break;
        if (!relay) {
            *what = "a collective outside a data-parallel trial";
            return -1;
        }
        if ((rc = relay_answer(r, relay, &h, w, what)) != IO_OK) return rc;
    }
    if (h.magic != FRAME_MAGIC || h.type != F_RESULT || h.len > MAX_RESULT_BYTES) {
        *what = "not a result";
        return -1;
    }
    char *buf = malloc(h.len ? (size_t)h.len : 1);
    if (!buf) {
        *what = "no memory to receive it";
        return -1;
    }
    if ((rc = io_recv(r->fd, buf, (size_t)h.len, w)) != IO_OK) {
        free(buf);
        return rc;
    }
    int64_t id = -1;
    int bad = qn_result_unpack(buf, (size_t)h.len, &id, out);
    free(buf);
    if (bad || id != m->id) {
        *what = bad ? "a result that does not unpack" : "the result of another trial";
        return -1;
    }
    if (out->checkpoint_len == 0) return IO_OK;
    if ((rc = io_recv(r->fd, &h, sizeof h, w)) != IO_OK) return rc;
    if (h.magic != FRAME_MAGIC || h.type != F_RESULT_CKPT || out->checkpoint_len > SIZE_MAX / sizeof(float) ||
        h.len != (uint64_t)out->checkpoint_len * sizeof(float)) {
        *what = "a checkpoint of the wrong size";
        return -1;
    }
    if (!(out->checkpoint = malloc((size_t)h.len))) {
        *what = "no memory to receive its checkpoint";
        return -1;
    }
    return io_recv(r->fd, out->checkpoint, (size_t)h.len, w);
}

int qn_runner_run(qn_runner *r, const qn_trial_msg *m, const float *parent, size_t parent_len,
                  qn_runner_stop_fn stop, void *stop_arg, qn_trial_result *out) {
    return qn_runner_run_group(r, m, parent, parent_len, stop, stop_arg, NULL, out);
}

int qn_runner_run_group(qn_runner *r, const qn_trial_msg *m, const float *parent, size_t parent_len,
                        qn_runner_stop_fn stop, void *stop_arg, const qn_gradsync_relay *relay, qn_trial_result *out) {
    memset(out, 0, sizeof *out);
    double t0 = qn_clock_monotonic_s();
    char err[QN_ERR_LEN];
    int idle_status = 0;
    if (r->pid > 0 && waitpid(r->pid, &idle_status, WNOHANG) == r->pid) {
        /* It died idle (killed from outside, or a crash after its last reply): not this trial's doing. */
        char why[160];
        describe_status(idle_status, why, sizeof why);
        fprintf(stderr, "quench: the trial runner (pid %d) died between trials (%s); starting a new one\n",
                (int)r->pid, why);
        r->pid = -1;
        reap(r, 0);
    }
    if (r->pid < 0) { /* the last child died: a fresh one, outside the trial's timeout */
        char why[QN_ERR_LEN];
        int s = qn_runner_restart(r, stop, stop_arg, why, sizeof why);
        if (s == 1) return 1;
        if (s != 0) { /* the worker is broken, not the trial: it never ran */
            fail(out, t0, why);
            return 2;
        }
        t0 = qn_clock_monotonic_s();
    }
    if (m->parent >= 0 && !parent && r->child_parent != m->parent) {
        snprintf(err, sizeof err, "internal error: the weights of parent trial %lld were not given to the trial runner",
                 (long long)m->parent);
        fail(out, t0, err);
        return 0;
    }
    wait_ctx w = {m->timeout_s > 0 ? t0 + m->timeout_s : 0, stop, stop_arg};
    const char *what = "";
    int rc = exchange(r, m, parent, parent_len, &w, relay, out, &what);
    if (rc == IO_OK) {
        /* A CUDA error can leave the context unusable for good (a sticky error such as an illegal
         * address), and only a new process gets a new one: on a GPU a failed trial retires the child
         * (closing the socket ends it) and the next trial starts a fresh one. */
        if (r->gpu && out->status == QN_TRIAL_FAILED) reap(r, 0);
        return 0;
    }
    if (rc == IO_STOPPED) {
        reap(r, 1);
        qn_trial_result_free(out);
        memset(out, 0, sizeof *out);
        return 1;
    }
    char status[160];
    if (rc == IO_EOF) {
        describe_status(reap(r, 0), status, sizeof status);
        snprintf(err, sizeof err, "trial crashed its process: %s", status);
    } else {
        reap(r, 1);
        if (rc == IO_TIMEOUT)
            snprintf(err, sizeof err, "exceeded trial_timeout of %g s", m->timeout_s);
        else if (rc == IO_ERROR)
            snprintf(err, sizeof err, "lost the trial runner: poll failed");
        else
            snprintf(err, sizeof err, "the trial runner sent a malformed reply: %s", what);
    }
    fail(out, t0, err);
    return 0;
}

int qn_runner_restart(qn_runner *r, qn_runner_stop_fn stop, void *stop_arg, char *err, size_t errlen) {
    if (r->pid > 0) return 0;
    qn_device_profile dev;
    char spawn_err[256];
    int s = spawn(r, 0, &dev, stop, stop_arg, spawn_err, sizeof spawn_err);
    if (s < 0) snprintf(err, errlen, "could not restart the trial runner: %s", spawn_err);
    return s;
}

int qn_runner_recover(qn_runner *r, qn_runner_stop_fn stop, void *stop_arg, qn_trial_result *res) {
    char err[QN_ERR_LEN];
    if (res->status != QN_TRIAL_FAILED || r->pid > 0 || qn_runner_restart(r, stop, stop_arg, err, sizeof err) >= 0)
        return 0;
    char was[QN_ERR_LEN];
    snprintf(was, sizeof was, "%s", res->error);
    snprintf(res->error, sizeof res->error, "%.*s (after the trial failed: %.*s)", QN_ERR_LEN / 2, err, QN_ERR_LEN / 3,
             was);
    return 1;
}

/* The texts CUDA gives for errors that leave the context unusable (cudaGetErrorString), which the
 * engine's messages carry ("cudaMemcpy failed: an illegal memory access was encountered"). */
static const char *const fatal_cuda[] = {
    "an illegal memory access was encountered", "unspecified launch failure", "misaligned address",
    "an illegal instruction was encountered", "invalid program counter", "hardware stack error",
    "uncorrectable ECC error", "device-side assert triggered", "the launch timed out and was terminated",
    "CUDA-capable device(s) is/are busy or unavailable", "no CUDA-capable device is detected",
};

int qn_runner_device_fault(const qn_runner *r, const qn_trial_result *res) {
    if (res->status != QN_TRIAL_FAILED) return 0;
    if (r->gpu && !strncmp(res->error, "trial crashed its process", 25)) return 1;
    for (size_t i = 0; i < sizeof fatal_cuda / sizeof *fatal_cuda; i++)
        if (strstr(res->error, fatal_cuda[i])) return 1;
    return 0;
}
