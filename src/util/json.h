/* util/json.h: a small JSON reader (the messages file of `tinyllm template`) and
 * the writing side of Python's json.dumps (the chat templates' tojson):
 * a size-capped growable buffer, JSON string escaping and Python's float
 * repr. Parsing follows Python's json.loads: NaN/Infinity accepted, the
 * last of duplicate keys wins, strings must be valid UTF-8. */
#ifndef TINYLLM_JSON_H
#define TINYLLM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyllm.h"

#define JSON_MAX_DEPTH 128   /* nesting of arrays and objects accepted by json_parse */

enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_FLOAT, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_member;

struct json_value {
    int type;                     /* enum json_type */
    union {
        bool    b;                /* JSON_BOOL */
        int64_t i;                /* JSON_INT: a number without fraction or exponent */
        double  f;                /* JSON_FLOAT */
        struct { const char *s; size_t len; } str;  /* JSON_STRING: UTF-8, NUL-terminated, may hold NULs */
        struct { struct json_value *items; size_t n; } arr;        /* JSON_ARRAY */
        struct { struct json_member *members; size_t n; } obj;     /* JSON_OBJECT, in file order */
    } v;
};

struct json_member {
    const char       *key;        /* UTF-8, NUL-terminated */
    size_t            key_len;    /* bytes */
    struct json_value value;
};

/* Parse len bytes of text (one value, surrounding whitespace allowed, a
 * leading UTF-8 BOM skipped) into a heap tree at *out. On failure returns
 * TL_EFORMAT (or TL_ENOMEM) with the line of the problem in err and leaves
 * *out a JSON_NULL that json_free accepts. */
int json_parse(const char *text, size_t len, struct json_value *out, struct tl_error *err);

/* Free a tree made by json_parse; leaves it JSON_NULL. */
void json_free(struct json_value *v);

/* Member of an object by key, NULL when absent or v is not an object. */
const struct json_value *json_get(const struct json_value *v, const char *key);

/* A growable byte buffer that refuses to grow past max bytes: an append that
 * would passes sets overflow (or nomem when malloc fails) and appends
 * nothing, then and afterwards. p stays NUL-terminated when non-NULL. */
struct json_buf {
    char  *p;          /* heap, NULL until the first append */
    size_t len;        /* bytes used, not counting the NUL */
    size_t cap;        /* bytes allocated */
    size_t max;        /* cap on len; 0 means SIZE_MAX / 2 */
    bool   overflow;   /* an append went past max */
    bool   nomem;      /* malloc failed */
};

/* Append n bytes of s; false once the buffer has failed. */
bool json_buf_put(struct json_buf *b, const void *s, size_t n);
bool json_buf_puts(struct json_buf *b, const char *s);
/* Free the storage and zero the buffer (max is kept). */
void json_buf_free(struct json_buf *b);

/* Append n bytes of UTF-8 s as a JSON string literal the way Python's
 * json.dumps writes it: quotes, \" \\ \n \r \t \b \f, other control
 * characters as \u00XX; with ascii, every non-ASCII character as \uXXXX
 * (surrogate pairs above U+FFFF) as ensure_ascii=True does. */
bool json_buf_put_string(struct json_buf *b, const char *s, size_t n, bool ascii);

/* Python's repr() of a float into out (NUL-terminated, at most 31 chars):
 * the shortest digits that read back to d, fixed notation for exponents in
 * [-4, 16) with at least one fractional digit ("1.0", "0.0001"), otherwise
 * "1e+16", "1.5e-05"; "inf", "-inf", "nan". Returns the length. */
int json_format_double(double d, char out[32]);

/* Bytes of the longest prefix of s that is valid UTF-8 (no surrogates, no
 * overlongs); len when all of it is. */
size_t json_utf8_prefix(const char *s, size_t len);
bool json_utf8_valid(const char *s, size_t len);
/* Write code point cp (at most U+10FFFF, not a surrogate) as UTF-8 to out
 * (room for 4 bytes); returns the bytes written. */
size_t json_utf8_encode(unsigned cp, char *out);

#endif
