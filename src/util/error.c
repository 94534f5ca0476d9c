/* util/error.c: the one helper that fills struct tl_error. */
#include <stdarg.h>
#include <stdio.h>

#include "tinyllm.h"

int tl_fail(struct tl_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
