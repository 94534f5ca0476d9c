/* tinyllm: public status codes and the error record every module fills.
 * Modules never print or exit; they return a TL_E* code and write one line
 * of text into the caller's struct tl_error. Only src/cli/main.c prints. */
#ifndef TINYLLM_H
#define TINYLLM_H

#include <stddef.h>
#include <stdint.h>

#define TINYLLM_VERSION "0.1.0"

enum tl_status {
    TL_OK = 0,
    TL_EIO,          /* open/read/mmap/write failed */
    TL_EFORMAT,      /* the file is not what it claims (corrupt, truncated, hostile) */
    TL_EUNSUPPORTED, /* valid but not handled: a tensor type, an architecture */
    TL_ENOMEM,       /* allocation failed */
    TL_EINVAL,       /* bad argument from the user or caller */
    TL_ERANGE,       /* a size limit: prompt longer than the context, ... */
};

struct tl_error {
    int  code;       /* enum tl_status of the failure, TL_OK when none */
    char msg[512];   /* one line, no trailing newline */
};

/* Record code and a printf-style message in err (which may be NULL).
 * Returns code, so callers can write `return tl_fail(err, TL_EIO, ...)`. */
int tl_fail(struct tl_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
