/* flag_values.c: integer flag values, checked the same way by every command (whole string, in
 * range, no overflow), with the usage error naming the flag and its range. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int qn_int_flag(const char *cmd, const char *flag, const char *value, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(value, &end, 10);
    if (errno || end == value || *end || x < lo || x > hi)
        return qn_usage_error(cmd, "%s takes an integer in [%ld, %ld], not '%s'", flag, lo, hi, value);
    *out = x;
    return 0;
}
