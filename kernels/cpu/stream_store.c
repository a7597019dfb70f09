/* stream_store.c: non-temporal copy of a computed chunk to its destination (see stream_store.h). */
#include "stream_store.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

void qn_stream_store(float *dst, const float *src, size_t n) {
    size_t i = 0;
    while (i < n && ((uintptr_t)(dst + i) & 15u)) dst[i] = src[i], i++;
    for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i)); /* SSE: every x86-64 */
    _mm_sfence(); /* streamed stores are ordered before anything that follows */
    for (; i < n; i++) dst[i] = src[i];
}
#else
void qn_stream_store(float *dst, const float *src, size_t n) { memmove(dst, src, n * sizeof *dst); }
#endif
