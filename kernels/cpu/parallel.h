/* parallel.h (kernels-internal): the CPU kernels' threads. qn_set_num_threads sets their number;
 * work is split into contiguous chunks fixed by its size and that number, and every element is
 * computed by the same code whatever the chunk, so results do not depend on the thread count. */
#ifndef QN_PARALLEL_H
#define QN_PARALLEL_H

#include <stddef.h>

extern int qn_cpu_threads;
/* 1 on a thread running a chunk: work started there stays on that thread (no nested pools). */
extern _Thread_local int qn_in_parallel;

/* fn(ctx, lo, hi) over [0, n), in chunks of at least min_chunk items, on up to qn_cpu_threads
 * threads (the caller's among them); returns when all are done. Without threads, one call. */
void qn_parallel_for(size_t n, size_t min_chunk, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

#endif
