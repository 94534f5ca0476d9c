/* text/unicode.h: the Unicode facts the pre-tokenizer needs: lenient UTF-8
 * decoding that mirrors llama.cpp's, and per-codepoint category flags from
 * the generated table in text/unicode_data.c. */
#ifndef TINYLLM_UNICODE_H
#define TINYLLM_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* General category group of a codepoint (one bit; none = unassigned, Cn),
 * plus UNICODE_WS for the White_Space property. */
enum unicode_flag {
    UNICODE_L  = 0x01,   /* letter \p{L} */
    UNICODE_N  = 0x02,   /* number \p{N} */
    UNICODE_P  = 0x04,   /* punctuation \p{P} */
    UNICODE_S  = 0x08,   /* symbol \p{S} */
    UNICODE_M  = 0x10,   /* mark \p{M} */
    UNICODE_Z  = 0x20,   /* separator \p{Z} */
    UNICODE_C  = 0x40,   /* control, format, private use, surrogate */
    UNICODE_WS = 0x80,   /* White_Space: what the regexes' \s means */
};

/* Substituted for each byte that does not start a decodable sequence. */
#define UNICODE_REPLACEMENT 0xFFFDu

/* One entry of the generated table: flags from first up to the next entry. */
struct unicode_range {
    uint32_t first;   /* codepoint */
    uint8_t  flags;   /* enum unicode_flag bits */
};
extern const struct unicode_range unicode_ranges[];   /* sorted by first */
extern const size_t unicode_ranges_count;

/* Decode the codepoint at s[0..len) (len >= 1) the way llama.cpp does:
 * sequences are taken by their lead byte (2, 3 or 4 bytes) and need only
 * continuation bytes to follow, so overlong forms, surrogates and values up
 * to 0x1FFFFF decode as they are. A byte that starts no such sequence
 * yields UNICODE_REPLACEMENT and is consumed alone. Sets *n to the bytes
 * consumed (1-4). */
uint32_t unicode_decode(const unsigned char *s, size_t len, size_t *n);

/* Flags of codepoint cp; 0 for unassigned ones and for cp > 0x10FFFF. */
unsigned unicode_flags(uint32_t cp);

#endif
