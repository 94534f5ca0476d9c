/* util/mem.h: releasing the many arrays one struct owns in one statement,
 * for the *_free and *_close functions and the cleanup paths. */
#ifndef UTIL_MEM_H
#define UTIL_MEM_H

#include <stddef.h>
#include <stdlib.h>

/* free() each of p[0 .. n); NULL entries are fine, as they are to free(). */
static inline void mem_free_n(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i]);
}

/* mem_free_all(a, b, c): free(a); free(b); free(c). Each argument is
 * evaluated once: the second array literal is only measured by sizeof. */
#define mem_free_all(...) \
    mem_free_n((void *[]){ __VA_ARGS__ }, sizeof((void *[]){ __VA_ARGS__ }) / sizeof(void *))

#endif
