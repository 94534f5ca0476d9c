/* server/http.h: HTTP/1.1 as the server speaks it. The request parser is
 * incremental over one connection's receive buffer and bounded (request
 * line, header block, body; every size untrusted); the writers send a whole
 * response with Content-Length, or a chunked stream (used for SSE and
 * NDJSON) piece by piece, failing instead of blocking past a deadline. */
#ifndef TINYLLM_HTTP_H
#define TINYLLM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyllm.h"
#include "util/json.h"

/* Limits a request must respect; the status a violation gets is in the
 * parse result (414 request line, 431 headers, 413 body). */
struct http_limits {
    size_t max_line;      /* request line bytes, default 8192 */
    size_t max_headers;   /* header block bytes, default 16384; at most 64 fields */
    size_t max_body;      /* body bytes, default 8 MiB */
};

#define HTTP_MAX_FIELDS 64

struct http_header { const char *name, *value; };   /* NUL-terminated, value trimmed */

/* One parsed request. Every pointer points into the connection's buffer
 * (valid until the next request on it is parsed); the body is
 * NUL-terminated (a copy of body_len bytes plus NUL, de-chunked when the
 * client sent Transfer-Encoding: chunked). The target is split in place
 * at '?' into path and query (an absolute-form "http://host/p" target
 * gives path "/p"). Lines may end in CRLF or a bare LF (RFC 9112 2.2);
 * a bare CR anywhere else is a 400. */
struct http_request {
    const char *method;          /* "GET", "POST", ... as sent (case-sensitive) */
    const char *path;            /* target up to '?', percent-decoding not applied */
    const char *query;           /* after '?', "" when none */
    int         minor;           /* HTTP/1.minor: 0 or 1 */
    struct http_header headers[HTTP_MAX_FIELDS];
    int         n_headers;
    const char *body;
    size_t      body_len;
    bool        keep_alive;      /* 1.1 without "Connection: close", or 1.0 with keep-alive */
    bool        expect_continue; /* "Expect: 100-continue" */
    size_t      head_len;        /* bytes of request line + header block; also set when
                                    http_parse returns 0 because only the body is missing
                                    (0 while the head itself is incomplete), so the
                                    caller can answer 100-continue */
};

/* Case-insensitive header lookup; NULL when absent. */
const char *http_header(const struct http_request *r, const char *name);

/* Parse the request at the start of buf[0..len). Returns the bytes it
 * used (> 0) with *r filled; 0 when more bytes are needed; or -status (400,
 * 413, 414, 431, 501 for a transfer coding other than chunked, 505 for a
 * version other than 1.0/1.1) with a one-line reason in err. Limits are
 * checked on partial input too, so a client cannot make the caller buffer
 * more than max_line + max_headers + 2 * max_body + 64 KiB (chunk framing)
 * before it gets its error. Refused (400): a missing or repeated Host in
 * 1.1, header folding, a space before ':', repeated or malformed
 * Content-Length, Content-Length with Transfer-Encoding, chunked in 1.0.
 * Rewrites buf in place (NULs, de-chunking) only when it returns > 0, so
 * after 0 call it again on the same bytes with more appended. lim NULL:
 * the defaults. */
long http_parse(char *buf, size_t len, const struct http_limits *lim, struct http_request *r,
                struct tl_error *err);

/* Defaults of struct http_limits. */
struct http_limits http_limits_default(void);

/* The writing side of one connection. Every write waits at most timeout_ms
 * for the socket (a client that stops reading is dropped, never blocks the
 * server); after any failure `failed` stays set and every call returns
 * TL_EIO at once. With sink set, the bytes are appended there instead (the
 * server's I/O thread sends them without blocking). Every response carries
 * Connection (keep-alive or close) and Access-Control-Allow-Origin: *. */
struct http_out {
    int   fd;
    int   timeout_ms;
    struct json_buf *sink; /* NULL: write to fd */
    bool  http10;          /* HTTP/1.0 client: no chunked coding; a stream's end is the close */
    bool  keep_alive;      /* the connection stays open after this response */
    bool  head_only;       /* HEAD request: headers, no body */
    bool  failed;          /* the client is gone or too slow */
    bool  started;         /* a status line has been sent */
    bool  chunked;         /* inside http_stream_begin .. http_stream_end */
    int   status;          /* what was sent, for the log line */
    long long n_body;      /* body bytes sent, for the log line */
    int   n_prompt, n_gen; /* tokens, set by generation handlers for the log line and metrics */
};

/* A whole response. extra_headers: "" or full lines each ending "\r\n"
 * (e.g. "Retry-After: 1\r\n"). */
int http_send(struct http_out *o, int status, const char *content_type, const char *extra_headers,
              const void *body, size_t len);

/* A chunked response: head now, then one chunk per write (n == 0 writes
 * nothing), then the terminating chunk. SSE and NDJSON streams go through
 * these. A second head (http_send or http_stream_begin after one was sent)
 * is TL_EINVAL and sends nothing. */
int http_stream_begin(struct http_out *o, int status, const char *content_type,
                      const char *extra_headers);
int http_stream_write(struct http_out *o, const void *p, size_t n);
int http_stream_end(struct http_out *o);

/* True when the peer has closed or reset the connection (checked between
 * generated tokens, without consuming pipelined bytes). */
bool http_peer_gone(struct http_out *o);

/* "OK", "Not Found", ... ("Unknown" for codes it does not know). */
const char *http_reason(int status);

#endif
