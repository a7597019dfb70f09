/* gemm.c: single-precision GEMM on the CPU through OpenBLAS. */
#include <cblas.h>

#include "qn_kernels.h"

void qn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

void qn_set_num_threads(int n) { openblas_set_num_threads(n); }
