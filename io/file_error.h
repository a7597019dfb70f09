/* file_error.h (io-internal): the one-line "PATH: message" errors of the readers whose messages quote
 * what a file holds (safetensors headers, Hugging Face config.json and index files). */
#ifndef QN_FILE_ERROR_H
#define QN_FILE_ERROR_H

#include <stddef.h>

/* Write "path: <fmt...>" into err and return 2 (bad input). Control bytes in the formatted part become
 * '?': names and strings come from JSON, where "\n" is a valid escape, and an error is one line. The
 * formatted part is cut at 511 bytes. */
int qn_file_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
