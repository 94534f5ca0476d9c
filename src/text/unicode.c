/* text/unicode.c: lenient UTF-8 decoding (llama.cpp's rules, so that word
 * boundaries match its tokenizer on any input) and category lookup. */
#include "text/unicode.h"

/* Continuation bytes are 10xxxxxx. */
static int is_cont(unsigned char b) { return (b & 0xC0) == 0x80; }

uint32_t unicode_decode(const unsigned char *s, size_t len, size_t *n)
{
    unsigned char b = s[0];
    size_t need;      /* continuation bytes after the lead byte */
    uint32_t cp;

    if (b < 0x80) {
        *n = 1;
        return b;
    }
    if (b < 0xC0 || b >= 0xF8) {   /* stray continuation byte, or 5+ byte lead */
        *n = 1;
        return UNICODE_REPLACEMENT;
    }
    need = b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
    cp = b & (0x3F >> need);
    if (len <= need) {
        *n = 1;
        return UNICODE_REPLACEMENT;
    }
    for (size_t i = 1; i <= need; i++) {
        if (!is_cont(s[i])) {
            *n = 1;
            return UNICODE_REPLACEMENT;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *n = need + 1;
    return cp;
}

unsigned unicode_flags(uint32_t cp)
{
    size_t lo = 0, hi = unicode_ranges_count;   /* answer in [lo, hi) */

    if (cp > 0x10FFFF)
        return 0;
    /* Last entry with first <= cp; entry 0 starts at codepoint 0. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (unicode_ranges[mid].first <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return unicode_ranges[lo].flags;
}
