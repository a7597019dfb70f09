/* stream_store.h: writing large outputs past the caches. A fake-quantization loop that writes a
 * 64 MiB result with ordinary stores first reads every destination line (read-for-ownership); memcpy
 * streams instead. The CPU loops compute a chunk into an L1 buffer and stream it out when the array
 * is large; small arrays (a model's layers, reread at once) keep ordinary stores. */
#ifndef QN_STREAM_STORE_H
#define QN_STREAM_STORE_H

#include <stddef.h>

/* Arrays of at least this many floats are streamed. */
#define QN_STREAM_MIN_FLOATS ((size_t)1 << 20)
/* Elements per chunk: 16 KiB of floats, well inside L1 with its input. */
#define QN_STREAM_CHUNK 4096

/* dst[0..n) = src[0..n) with non-temporal stores where the CPU has them (plain copy elsewhere). */
void qn_stream_store(float *dst, const float *src, size_t n);

#endif
