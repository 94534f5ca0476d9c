/* fuzz_http.c: libFuzzer target over the HTTP request parser: the input is
 * a connection's bytes, parsed request after request as the server does
 * (pipelining), under the default limits or small ones (first byte), with
 * every request's body through json_parse as the handlers take it. Besides
 * crashes and sanitizer reports it checks the parser's promises: a prefix
 * that needs more bytes is left untouched, a request never claims more
 * than it was given, the body is NUL-terminated inside it. */
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "util/json.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    struct http_limits small = { .max_line = 64, .max_headers = 256, .max_body = 128 };
    const struct http_limits *lim = data[0] & 1 ? &small : NULL;
    size_t len = size - 1;
    char *buf = malloc(len + 1), *copy = malloc(len + 1);
    memcpy(buf, data + 1, len);
    buf[len] = 0;
    size_t off = 0;
    struct http_request r;
    for (;;) {
        struct tl_error err = { 0 };
        /* a split point taken from the input: the prefix alone either
         * needs more, or fails the same way, or is a whole request */
        size_t split = off + (len - off) / 2;
        memcpy(copy, buf + off, split - off);
        long p = http_parse(copy, split - off, lim, &r, &err);
        if (p == 0)
            check(!memcmp(copy, buf + off, split - off));
        long n = http_parse(buf + off, len - off, lim, &r, &err);
        if (p < 0)
            check(n == p);
        if (n <= 0)
            break;
        check((size_t)n <= len - off);
        check(r.body >= buf + off && r.body + r.body_len < buf + off + n && r.body[r.body_len] == 0);
        check(r.n_headers >= 0 && r.n_headers <= HTTP_MAX_FIELDS);
        check(r.path[0] == '/' || r.path[0] == '*');
        struct json_value v;
        if (json_parse(r.body, r.body_len, &v, &err) == TL_OK)
            json_free(&v);
        off += (size_t)n;
    }
    free(buf);
    free(copy);
    return 0;
}
