/* test_quant_integer_cuda.c: the CUDA integer quantizer against the CPU one, element by element,
 * on values chosen to hit ties, saturation, signed zero, subnormals, inf and NaN.
 * Exits 77 (ctest: skipped) when quench is built without CUDA or no GPU is present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "qn_kernels.h"

#ifdef QUENCH_HAVE_CUDA
#include <cuda_runtime.h>
#endif

int main(void) {
    QN_GPU_TEST_SKIP_WITHOUT_GPU();
#ifdef QUENCH_HAVE_CUDA
    enum { N = 1 << 16 };
    static float x[N], want[N], got[N];
    qn_rng rng;
    qn_rng_seed(&rng, 1234);
    for (int i = 0; i < N; i++) x[i] = (qn_rng_uniform(&rng) - 0.5f) * 40.0f;
    const float special[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 0.03125f, -0.03125f,
                             INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 3.4e38f, -3.4e38f};
    memcpy(x, special, sizeof special);
    const int configs[][2] = {{8, 4}, {8, 3}, {4, 2}, {2, 0}, {16, 8}, {8, 0}, {6, 7}, {32, 16}};
    float *dx = NULL, *dy = NULL;
    if (cudaMalloc((void **)&dx, sizeof x) != cudaSuccess ||
        cudaMalloc((void **)&dy, sizeof x) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc failed\n");
        return 1;
    }
    cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
    int failures = 0;
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        int w = configs[c][0], f = configs[c][1];
        char err[256];
        qn_quant_integer(x, want, N, w, f);
        if (qn_cuda_quant_integer(dx, dy, N, w, f, err, sizeof err) != 0) {
            fprintf(stderr, "width=%d frac=%d: %s\n", w, f, err);
            return 1;
        }
        cudaMemcpy(got, dy, sizeof got, cudaMemcpyDeviceToHost);
        for (int i = 0; i < N; i++) {
            if (memcmp(&want[i], &got[i], sizeof(float)) != 0 && !(isnan(want[i]) && isnan(got[i]))) {
                if (failures++ < 10)
                    fprintf(stderr, "width=%d frac=%d x[%d]=%.9g: cpu %.9g cuda %.9g\n", w, f, i,
                            x[i], want[i], got[i]);
            }
        }
    }
    cudaFree(dx);
    cudaFree(dy);
    if (failures) {
        fprintf(stderr, "%d mismatches\n", failures);
        return 1;
    }
    puts("cuda integer quantizer matches the CPU one bit for bit");
    return 0;
#endif
}
