/* parallel.c: a fork-join loop for the CPU kernels (see parallel.h) on a pool of threads started
 * once and kept: starting threads on every call cost more than some kernels' work at two threads.
 * One loop runs on the pool at a time; a loop called while another holds it (from a second thread
 * of the process) starts threads of its own for that call, as before the pool. */
#include "parallel.h"

#include <pthread.h>
#include <stdint.h>

int qn_cpu_threads = 1;
_Thread_local int qn_in_parallel;

enum { MAX_THREADS = 64 };

typedef void (*chunk_fn)(void *ctx, size_t lo, size_t hi);

/* The job on the pool: chunk t of nt covers [n t / nt, n (t+1) / nt); worker w runs chunk w + 1
 * when w + 1 < nt_workers, the caller chunk 0 and any beyond the workers. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation; /* bumped for each job */
    int started;              /* workers running */
    chunk_fn fn;
    void *ctx;
    size_t n, nt, nt_workers;
    size_t pending; /* workers' chunks not finished */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, NULL, 0, 0, 0, 0};
static pthread_mutex_t pool_owner = PTHREAD_MUTEX_INITIALIZER; /* held by the loop using the pool */

static void *pool_worker(void *arg) {
    const size_t chunk = (size_t)(uintptr_t)arg;
    qn_in_parallel = 1; /* nested loops run on this thread */
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        if (chunk >= pool.nt_workers) continue; /* not needed for this job */
        const chunk_fn fn = pool.fn;
        void *ctx = pool.ctx;
        const size_t n = pool.n, nt = pool.nt;
        pthread_mutex_unlock(&pool.lock);
        fn(ctx, n * chunk / nt, n * (chunk + 1) / nt);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

typedef struct {
    chunk_fn fn;
    void *ctx;
    size_t lo, hi;
} chunk;

static void *run_chunk(void *arg) {
    chunk *c = arg;
    const int was = qn_in_parallel;
    qn_in_parallel = 1;
    c->fn(c->ctx, c->lo, c->hi);
    qn_in_parallel = was;
    return NULL;
}

/* threads started for this call only: the pool is busy */
static void run_on_new_threads(size_t n, size_t nt, chunk_fn fn, void *ctx) {
    chunk c[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (size_t t = 0; t < nt; t++) {
        c[t] = (chunk){fn, ctx, n * t / nt, n * (t + 1) / nt};
        if (t > 0) started[t] = pthread_create(&tid[t], NULL, run_chunk, &c[t]) == 0;
    }
    run_chunk(&c[0]);
    for (size_t t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else run_chunk(&c[t]); /* no thread: its chunk runs here */
    }
}

/* a child of fork() has none of the parent's workers: it starts its own */
static void forget_pool_in_child(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL), pthread_cond_init(&pool.done, NULL);
    pthread_mutex_init(&pool_owner, NULL);
    pool.started = 0, pool.pending = 0;
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_pool_in_child); }

static void run_on_pool(size_t n, size_t nt, chunk_fn fn, void *ctx) {
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&pool.lock);
    while ((size_t)pool.started + 1 < nt) { /* workers for chunks 1 .. nt-1 */
        pthread_t tid;
        if (pthread_create(&tid, NULL, pool_worker, (void *)(uintptr_t)(pool.started + 1)) != 0) break;
        pthread_detach(tid);
        pool.started++;
    }
    pool.fn = fn, pool.ctx = ctx, pool.n = n, pool.nt = nt;
    pool.nt_workers = (size_t)pool.started + 1 < nt ? (size_t)pool.started + 1 : nt;
    pool.pending = pool.nt_workers - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    const size_t nt_workers = pool.nt_workers;
    pthread_mutex_unlock(&pool.lock);
    /* chunk 0, and those no worker could be started for */
    for (size_t t = 0; t < nt; t = t == 0 ? nt_workers : t + 1) {
        chunk c = {fn, ctx, n * t / nt, n * (t + 1) / nt};
        run_chunk(&c);
    }
    pthread_mutex_lock(&pool.lock);
    while (pool.pending) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

void qn_parallel_for(size_t n, size_t min_chunk, chunk_fn fn, void *ctx) {
    size_t nt = qn_cpu_threads < 1 || qn_in_parallel ? 1 : (size_t)qn_cpu_threads;
    if (min_chunk < 1) min_chunk = 1;
    if (nt > n / min_chunk) nt = n / min_chunk;
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt <= 1) {
        if (n) fn(ctx, 0, n);
        return;
    }
    if (pthread_mutex_trylock(&pool_owner) == 0) {
        run_on_pool(n, nt, fn, ctx);
        pthread_mutex_unlock(&pool_owner);
    } else {
        run_on_new_threads(n, nt, fn, ctx);
    }
}
