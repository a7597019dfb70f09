/* cuda_event_timer.h: the GPU benches' stopwatch (bench_gpu.cu, bench_lab4.cu). CUDA events time
 * the work queued on the default stream between start() and stop_ms(), not the host's launch cost. */
#ifndef QN_CUDA_EVENT_TIMER_H
#define QN_CUDA_EVENT_TIMER_H

#include <cuda_runtime.h>

struct qn_event_timer {
    cudaEvent_t a, b;
    qn_event_timer() { cudaEventCreate(&a), cudaEventCreate(&b); }
    ~qn_event_timer() { cudaEventDestroy(a), cudaEventDestroy(b); }
    void start() { cudaEventRecord(a); }
    /* waits for the work queued since start() */
    float stop_ms() {
        float ms = 0;
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms, a, b);
        return ms;
    }
};

#endif
