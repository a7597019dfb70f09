/* parallel.c: a fork-join loop for the CPU kernels (see parallel.h) on a pool of threads started
 * once and kept: starting threads on every call cost more than some kernels' work at two threads.
 * One loop runs on the pool at a time; a loop called while another holds it (from a second thread
 * of the process) starts threads of its own for that call, as before the pool. qn_parallel_blocks,
 * below, is the decoder's loop on a second pool. */
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "qn_clock.h"
#include "qn_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

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

/* ---- qn_parallel_blocks: a second pool, for short loops called back to back (decode) ----
 * The fork-join pool above splits a loop in fixed chunks and its workers sleep between loops: fine
 * for a training step's long loops, but a decode step calls some thirty GEMVs of 50 to 500 us each,
 * so a wake-up per call, and waiting for a worker the system has not scheduled yet, cost a share of
 * the step. Here blocks are taken first come, first served through one atomic counter (a late
 * worker takes fewer blocks, or none), and a worker spins a little after each loop before it sleeps. */

/* A worker waits this long for the next loop before it sleeps: longer than the gaps between a decode
 * step's GEMVs (norms, attention: tens of us), short enough not to hold a shared machine's core. */
#define BLOCKS_SPIN_S 100e-6
/* ... and at most this long for the rest of its loop to finish (a GEMV of the LM head: a few ms) */
#define BLOCKS_LOOP_SPIN_S 2e-3

/* ticket: the loop's number (16 bits), its number of blocks and its next block (24 bits each), one
 * word, so that claiming a block is one compare-and-swap of a value that says in itself whether a
 * block is left: it fails when the loop has changed, and a worker never runs a stale loop's block. */
enum { TICKET_BITS = 24 };
#define TICKET_MASK ((UINT64_C(1) << TICKET_BITS) - 1)
#define TICKET_LOOP(t) ((uint32_t)((t) >> (2 * TICKET_BITS)))
#define TICKET_NBLOCKS(t) (((t) >> TICKET_BITS) & TICKET_MASK)
#define TICKET_NEXT(t) ((t) & TICKET_MASK)
static struct {
    _Atomic uint64_t ticket;
    _Atomic size_t done;           /* blocks finished */
    _Atomic(chunk_fn) fn;
    _Atomic(void *) ctx;
    _Atomic size_t n, block;
    _Atomic int helpers;           /* workers 0 .. helpers-1 may take blocks */
    _Atomic int sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int started;
} bpool = {0, 0, NULL, NULL, 0, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
static pthread_mutex_t bpool_owner = PTHREAD_MUTEX_INITIALIZER;

/* Blocks of loop `loop` until none is left; returns how many this thread ran. */
static size_t take_blocks(uint32_t loop) {
    size_t ran = 0;
    for (;;) {
        uint64_t t = atomic_load(&bpool.ticket);
        if (TICKET_LOOP(t) != loop || TICKET_NEXT(t) >= TICKET_NBLOCKS(t)) return ran;
        if (!atomic_compare_exchange_weak(&bpool.ticket, &t, t + 1)) continue;
        /* the loop cannot finish before this block does: its fields stay put until then */
        const size_t k = TICKET_NEXT(t), n = atomic_load_explicit(&bpool.n, memory_order_relaxed),
                     b = atomic_load_explicit(&bpool.block, memory_order_relaxed);
        const size_t lo = k * b, hi = lo + b < n ? lo + b : n;
        atomic_load_explicit(&bpool.fn, memory_order_relaxed)(atomic_load_explicit(&bpool.ctx, memory_order_relaxed), lo, hi);
        atomic_fetch_add(&bpool.done, 1);
        ran++;
    }
}

static void *blocks_worker(void *arg) {
    const int index = (int)(uintptr_t)arg;
    qn_in_parallel = 1; /* nested loops run on this thread */
    uint32_t seen = TICKET_LOOP(atomic_load(&bpool.ticket));
    for (;;) {
        uint32_t loop = seen;
        /* the loop's other blocks first (the caller's may take longer than ours), then the gap */
        double until = qn_clock_monotonic_s() + BLOCKS_LOOP_SPIN_S;
        for (uint64_t t, spin = 1;
             t = atomic_load(&bpool.ticket), TICKET_LOOP(t) == seen && atomic_load(&bpool.done) < TICKET_NBLOCKS(t); spin++) {
            CPU_RELAX();
            if (spin % 64 == 0 && qn_clock_monotonic_s() > until) break;
        }
        until = qn_clock_monotonic_s() + BLOCKS_SPIN_S;
        for (unsigned spin = 1; (loop = TICKET_LOOP(atomic_load(&bpool.ticket))) == seen; spin++) {
            CPU_RELAX();
            if (spin % 64 == 0 && qn_clock_monotonic_s() > until) break;
        }
        if (loop == seen) {
            pthread_mutex_lock(&bpool.lock);
            atomic_fetch_add(&bpool.sleepers, 1); /* seen by a caller that then takes the lock to wake us */
            while ((loop = TICKET_LOOP(atomic_load(&bpool.ticket))) == seen) pthread_cond_wait(&bpool.wake, &bpool.lock);
            atomic_fetch_sub(&bpool.sleepers, 1);
            pthread_mutex_unlock(&bpool.lock);
        }
        seen = loop;
        if (index < atomic_load(&bpool.helpers)) take_blocks(loop);
    }
    return NULL;
}

static void forget_blocks_pool_in_child(void) {
    pthread_mutex_init(&bpool.lock, NULL);
    pthread_cond_init(&bpool.wake, NULL);
    pthread_mutex_init(&bpool_owner, NULL);
    bpool.started = 0;
    atomic_store(&bpool.sleepers, 0);
}
static pthread_once_t blocks_atfork_once = PTHREAD_ONCE_INIT;
static void register_blocks_atfork(void) { pthread_atfork(NULL, NULL, forget_blocks_pool_in_child); }

void qn_parallel_blocks(size_t n, size_t block, int threads, chunk_fn fn, void *ctx) {
    if (block < 1) block = 1;
    const size_t nblocks = (n + block - 1) / block;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads <= 1 || nblocks <= 1 || nblocks > TICKET_MASK || qn_in_parallel || pthread_mutex_trylock(&bpool_owner) != 0) {
        if (n) fn(ctx, 0, n); /* same blocks' results, in one call */
        return;
    }
    pthread_once(&blocks_atfork_once, register_blocks_atfork);
    while (bpool.started < threads - 1) {
        pthread_t tid;
        if (pthread_create(&tid, NULL, blocks_worker, (void *)(uintptr_t)bpool.started) != 0) break;
        pthread_detach(tid);
        bpool.started++;
    }
    atomic_store_explicit(&bpool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&bpool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&bpool.n, n, memory_order_relaxed);
    atomic_store_explicit(&bpool.block, block, memory_order_relaxed);
    atomic_store_explicit(&bpool.helpers, threads - 1, memory_order_relaxed);
    atomic_store_explicit(&bpool.done, 0, memory_order_relaxed);
    const uint32_t loop = (TICKET_LOOP(atomic_load(&bpool.ticket)) + 1) & 0xffff;
    /* publishes the fields above; a number that wrapped is harmless: a claim takes a block only from
     * a ticket it read whole, and the fields are the live loop's */
    atomic_store(&bpool.ticket, (uint64_t)loop << (2 * TICKET_BITS) | (uint64_t)nblocks << TICKET_BITS);
    if (atomic_load(&bpool.sleepers) > 0) {
        pthread_mutex_lock(&bpool.lock);
        pthread_cond_broadcast(&bpool.wake);
        pthread_mutex_unlock(&bpool.lock);
    }
    qn_in_parallel = 1;
    take_blocks(loop);
    qn_in_parallel = 0;
    /* the blocks workers took: each is short, so spin, yielding if one was descheduled mid-block */
    for (unsigned spin = 0; atomic_load(&bpool.done) < nblocks; spin++) {
        if (spin < 2000) CPU_RELAX();
        else sched_yield();
    }
    pthread_mutex_unlock(&bpool_owner);
}
