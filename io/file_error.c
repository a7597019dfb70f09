/* file_error.c: see file_error.h. */
#include "file_error.h"

#include <stdarg.h>
#include <stdio.h>

int qn_file_error(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    snprintf(err, errlen, "%s: %s", path, msg);
    return 2;
}
