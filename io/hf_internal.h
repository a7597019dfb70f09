/* hf_internal.h (io-internal): shared by the Hugging Face directory readers. */
#ifndef QN_HF_INTERNAL_H
#define QN_HF_INTERNAL_H

#include <stddef.h>

/* The whole of a small file (config.json, an index), NUL-terminated, at most limit bytes. Returns 0,
 * 2 (absent, too large) or 1 (I/O error) with err. */
int qn_hf_read_small_file(const char *path, size_t limit, char **out, size_t *len, char *err, size_t errlen);

#endif
