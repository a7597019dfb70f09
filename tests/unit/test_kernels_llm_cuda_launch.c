/* The CUDA decoder's attention launch arithmetic (kernels/include/qn_llm_cuda.h), pure host code that
 * runs in every build: the longest cache qn_llm_cuda_reset accepts on each GPU generation must fit
 * the shared memory the kernel is launched with, and the kernel must opt in to more than 48 KiB
 * exactly when it needs it (past that without the opt-in the launch fails on a GPU). */
#include <criterion/criterion.h>

#include "qn_llm_cuda.h"

/* cudaDevAttrMaxSharedMemoryPerBlockOptin of sm_75 (T4), sm_89 (L4, RTX 40), sm_90 (H100, H200) */
static const long optin_bytes[] = {64L * 1024, 99L * 1024, 227L * 1024};
static const int head_dims[] = {16, 64, 80, 96, 128, 256};

Test(llm_cuda_launch, the_longest_cache_fits_the_shared_memory) {
    for (size_t a = 0; a < sizeof optin_bytes / sizeof optin_bytes[0]; a++)
        for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++) {
            const int HD = head_dims[h], len = qn_cuda_llm_attention_len_for(optin_bytes[a], HD);
            cr_assert_gt(len, 0);
            cr_assert_leq(qn_cuda_llm_attention_smem(HD, len) + QN_CUDA_LLM_ATTN_STATIC_SMEM, (size_t)optin_bytes[a],
                          "HD %d, %d slots on %ld bytes", HD, len, optin_bytes[a]);
            cr_assert(qn_cuda_llm_attention_needs_optin(HD, len), "a cache this long is past 48 KiB");
        }
}

Test(llm_cuda_launch, the_lengths_docs_llm_md_states) {
    cr_assert_eq(qn_cuda_llm_attention_len_for(64L * 1024, 128), 16000);  /* sm_75 */
    cr_assert_eq(qn_cuda_llm_attention_len_for(99L * 1024, 128), 24960);  /* sm_89 */
    cr_assert_eq(qn_cuda_llm_attention_len_for(227L * 1024, 128), 57728); /* sm_90 */
    /* Llama 3 8B (HD 128) with 8192 tokens per sequence runs on every architecture */
    cr_assert_geq(qn_cuda_llm_attention_len_for(64L * 1024, 128), 8192);
}

Test(llm_cuda_launch, opts_in_exactly_past_48_kib) {
    /* (HD + len) floats of dynamic shared memory and 32 static: 48 KiB is 12288 floats */
    cr_assert_not(qn_cuda_llm_attention_needs_optin(128, 12288 - 32 - 128));
    cr_assert(qn_cuda_llm_attention_needs_optin(128, 12288 - 32 - 128 + 1));
    cr_assert_not(qn_cuda_llm_attention_needs_optin(16, 1));
    cr_assert_eq(qn_cuda_llm_attention_smem(128, 1), 129 * sizeof(float));
}

Test(llm_cuda_launch, no_device_or_no_room_holds_no_cache) {
    cr_assert_eq(qn_cuda_llm_attention_len_for(0, 64), 0); /* the attribute could not be read */
    cr_assert_eq(qn_cuda_llm_attention_len_for(1024 + 64 * 4, 64), 0);
    cr_assert_eq(qn_cuda_llm_attention_len_for(1024 + 65 * 4, 64), 1);
    /* sizes in size_t: no int overflow for absurd caches */
    cr_assert_eq(qn_cuda_llm_attention_smem(256, 1 << 30), ((size_t)256 + ((size_t)1 << 30)) * sizeof(float));
}
