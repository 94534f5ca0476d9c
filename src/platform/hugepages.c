/* platform/hugepages.c: see platform/hugepages.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "platform/hugepages.h"

void *huge_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes > SIZE_MAX - HUGE_PAGE || posix_memalign(&p, HUGE_PAGE, bytes ? bytes : 1))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: without it the pages are small */
#endif
    return p;
}

bool huge_pages_on(void)
{
    char buf[128] = { 0 };
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}
