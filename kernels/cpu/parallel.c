/* parallel.c: a fork-join loop over pthreads for the CPU kernels (see parallel.h). Threads are
 * started per call: the kernels that use it work for milliseconds, a start costs microseconds. */
#include "parallel.h"

#include <pthread.h>

int qn_cpu_threads = 1;
_Thread_local int qn_in_parallel;

enum { MAX_THREADS = 64 };

typedef struct {
    void (*fn)(void *ctx, size_t lo, size_t hi);
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

void qn_parallel_for(size_t n, size_t min_chunk, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx) {
    size_t nt = qn_cpu_threads < 1 || qn_in_parallel ? 1 : (size_t)qn_cpu_threads;
    if (min_chunk < 1) min_chunk = 1;
    if (nt > n / min_chunk) nt = n / min_chunk;
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt <= 1) {
        if (n) fn(ctx, 0, n);
        return;
    }
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
