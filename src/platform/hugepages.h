/* platform/hugepages.h: memory that decode streams through (weights read into
 * memory, the KV cache), on 2 MiB pages where the system gives them: on
 * 4 KiB pages such a stream takes a TLB miss every 4 KiB. */
#ifndef TINYLLM_HUGEPAGES_H
#define TINYLLM_HUGEPAGES_H

#include <stdbool.h>
#include <stddef.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* bytes (not zeroed) starting on a HUGE_PAGE boundary, asked to be backed
 * by transparent huge pages; release with free(). NULL when out of memory. */
void *huge_alloc(size_t bytes);

/* Whether transparent huge pages are on, for all memory or where asked
 * for (Linux: "always" or "madvise"); false where that cannot be read. */
bool huge_pages_on(void);

#endif
