/* test_http.c: the HTTP/1.1 parser on whole, partial (byte by byte),
 * pipelined and chunked requests, every refusal with its status, and the
 * writers' exact bytes over a socketpair (whole, HEAD, chunked, HTTP/1.0,
 * a gone peer without SIGPIPE). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/http.h"
#include "test.h"

/* Parse text (copied, so the parser may rewrite it) into *r; *buf keeps
 * the copy alive for r's pointers. */
static long parse_str(const char *text, size_t len, const struct http_limits *lim,
                      struct http_request *r, char **buf)
{
    struct tl_error err = { 0 };
    free(*buf);
    *buf = malloc(len + 1);
    memcpy(*buf, text, len);
    (*buf)[len] = 0;
    return http_parse(*buf, len, lim, r, &err);
}

/* Every proper prefix of text needs more bytes and leaves the bytes as they
 * were; the whole gives want. */
static long parse_bytewise(const char *text, size_t len, struct http_request *r, char **buf)
{
    char *p = malloc(len + 1);
    for (size_t n = 0; n < len; n++) {
        memcpy(p, text, n);
        struct tl_error err = { 0 };
        long rc = http_parse(p, n, NULL, r, &err);
        if (rc != 0) {
            printf("  prefix %zu of %zu gave %ld (%s)\n", n, len, rc, err.msg);
            free(p);
            return -1;
        }
        if (memcmp(p, text, n)) {
            printf("  prefix %zu was rewritten\n", n);
            free(p);
            return -1;
        }
    }
    free(p);
    return parse_str(text, len, NULL, r, buf);
}

/* parse_bytewise, and all of text must be one request. */
static bool parses_whole(const char *text, size_t len, struct http_request *r, char **buf)
{
    long n = parse_bytewise(text, len, r, buf);
    CHECK(n == (long)len, "%ld of %zu bytes", n, len);
    return n == (long)len;
}

static void get_request(void)
{
    static const char req[] = "GET /v1/models?x=1&y HTTP/1.1\r\nHost: a\r\nUser-Agent:  t/1 \r\n"
                              "X-Empty:\r\n\r\n";
    struct http_request r;
    char *buf = NULL;
    if (parses_whole(req, sizeof req - 1, &r, &buf)) {
        CHECK(!strcmp(r.method, "GET"), "%s", r.method);
        CHECK(!strcmp(r.path, "/v1/models"), "%s", r.path);
        CHECK(!strcmp(r.query, "x=1&y"), "%s", r.query);
        CHECK(r.minor == 1 && r.keep_alive && !r.expect_continue, "%d", r.minor);
        CHECK(r.n_headers == 3, "%d", r.n_headers);
        CHECK(!strcmp(http_header(&r, "user-agent"), "t/1"), "[%s]", http_header(&r, "user-agent"));
        CHECK(!strcmp(http_header(&r, "X-EMPTY"), ""), "x");
        CHECK(http_header(&r, "Accept") == NULL, "x");
        CHECK(r.body_len == 0 && r.body && r.body[0] == 0, "%zu", r.body_len);
    }
    free(buf);
}

static void post_with_length_and_pipelining(void)
{
    static const char req[] = "\r\nPOST /completion HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
                              "{\"a\":\"bcd\"}GET / HTTP/1.0\r\n\r\n";
    size_t first = sizeof req - 1 - strlen("GET / HTTP/1.0\r\n\r\n");
    struct http_request r;
    char *buf = NULL;
    long n = parse_bytewise(req, first, &r, &buf);
    CHECK(n == (long)first, "%ld", n);
    n = parse_str(req, sizeof req - 1, NULL, &r, &buf);
    CHECK(n == (long)first, "%ld", n);
    if (n > 0) {
        CHECK(!strcmp(r.method, "POST") && !strcmp(r.path, "/completion") && !strcmp(r.query, ""), "%s", r.path);
        CHECK(r.body_len == 11 && !strcmp(r.body, "{\"a\":\"bcd\"}"), "%s", r.body);
        /* the next request is intact after the first's rewrite */
        CHECK(!memcmp(buf + n, "GET / HTTP/1.0\r\n\r\n", 18), "next request damaged");
        struct tl_error err = { 0 };
        long m = http_parse(buf + n, sizeof req - 1 - (size_t)n, NULL, &r, &err);
        CHECK(m == 18, "%ld %s", m, err.msg);
        CHECK(r.minor == 0 && !r.keep_alive && !strcmp(r.path, "/"), "%d", r.minor);
    }
    free(buf);
}

static void chunked_body(void)
{
    static const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                              "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
    struct http_request r;
    char *buf = NULL;
    if (parses_whole(req, sizeof req - 1, &r, &buf))
        CHECK(r.body_len == 16 && !strcmp(r.body, "hello 0123456789"), "%zu %s", r.body_len, r.body);
    /* bare LF framing and an empty body, then a pipelined request */
    static const char req2[] = "POST /x HTTP/1.1\nHost: a\ntransfer-encoding: chunked\n\n0\n\nGET /";
    long n = parse_str(req2, sizeof req2 - 1, NULL, &r, &buf);
    CHECK(n == (long)sizeof req2 - 1 - 5, "%ld", n);
    if (n > 0)
        CHECK(r.body_len == 0 && !strcmp(r.body, ""), "%zu", r.body_len);
    free(buf);
}

static void bare_lf_head_expect_connection(void)
{
    static const char req[] = "HEAD /health HTTP/1.1\nHost: a\nConnection: Upgrade, close\nExpect: 100-continue\n\n";
    struct http_request r;
    char *buf = NULL;
    if (parses_whole(req, sizeof req - 1, &r, &buf))
        CHECK(!strcmp(r.method, "HEAD") && !r.keep_alive && r.expect_continue, "%d", r.keep_alive);
    /* 1.0 with keep-alive; absolute-form target */
    static const char req2[] = "GET http://h:80/a/b?q HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    long n = parse_str(req2, sizeof req2 - 1, NULL, &r, &buf);
    CHECK(n == (long)sizeof req2 - 1, "%ld", n);
    if (n > 0)
        CHECK(r.keep_alive && !strcmp(r.path, "/a/b") && !strcmp(r.query, "q"), "%s", r.path);
    /* the head is known before the body: 100-continue can be sent */
    static const char req3[] = "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nab";
    n = parse_str(req3, sizeof req3 - 1, NULL, &r, &buf);
    CHECK(n == 0 && r.head_len == sizeof req3 - 3 && r.expect_continue, "%ld %zu", n, r.head_len);
    free(buf);
}

struct bad { const char *req; int status; };

static void refusals(void)
{
    static const struct bad cases[] = {
        { "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\nx", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501 },
        { "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
        { "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
        { "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505 },
        { "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400 },
        { "GET / http/1.1\r\nHost: a\r\n\r\n", 400 },
        { "GET /\r\n\r\n", 400 },
        { "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
        { "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
        { "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 8388609\r\n\r\n", 413 },
        { "P / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400 },
        { "P / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400 },
        { "P / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800001\r\n", 413 },
        { "P / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", 413 },
    };
    struct http_request r;
    char *buf = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long n = parse_str(cases[i].req, strlen(cases[i].req), NULL, &r, &buf);
        CHECK(n == -cases[i].status, "case %zu: %ld, want -%d", i, n, cases[i].status);
    }
    free(buf);
}

static void limits_on_partial_input(void)
{
    struct http_limits lim = { .max_line = 64, .max_headers = 128, .max_body = 100 };
    struct http_request r;
    char *buf = NULL;
    char big[1024];
    /* a request line with no end yet, already past the limit */
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    CHECK(parse_str(big, 70, &lim, &r, &buf) == -414, "414");
    CHECK(parse_str(big, 60, &lim, &r, &buf) == 0, "0");
    /* a header block without its end */
    int k = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\n");
    memset(big + k, 'x', sizeof big - (size_t)k);
    CHECK(parse_str(big, 200, &lim, &r, &buf) == -431, "431");
    /* 65 fields under a generous limit */
    char *many = malloc(4096);
    k = snprintf(many, 4096, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < HTTP_MAX_FIELDS; i++)
        k += snprintf(many + k, 4096 - (size_t)k, "X%d: y\r\n", i);
    k += snprintf(many + k, 4096 - (size_t)k, "\r\n");
    CHECK(parse_str(many, (size_t)k, NULL, &r, &buf) == -431, "too many fields");
    free(many);
    /* the body limit at once, before the body arrives */
    k = snprintf(big, sizeof big, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n");
    CHECK(parse_str(big, (size_t)k, &lim, &r, &buf) == -413, "413");
    k = snprintf(big, sizeof big, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
    CHECK(parse_str(big, (size_t)k, &lim, &r, &buf) == 0, "100 fits");
    /* chunks adding up past the limit */
    k = snprintf(big, sizeof big, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        k += snprintf(big + k, sizeof big - (size_t)k, "28\r\n");
        memset(big + k, 'b', 40);
        k += 40;
        k += snprintf(big + k, sizeof big - (size_t)k, "\r\n");
    }
    CHECK(parse_str(big, (size_t)k, &lim, &r, &buf) == -413, "chunks past the limit");
    free(buf);
}

/* Read what the peer sent, up to cap - 1 bytes, NUL-terminated. */
static size_t drain(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = recv(fd, out + n, cap - 1 - n, MSG_DONTWAIT)) > 0)
        n += (size_t)k;
    out[n] = 0;
    return n;
}

static void writers(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        SKIP("no socketpair");
    char got[2048];
    struct http_out o = { .fd = sv[0], .timeout_ms = 1000, .keep_alive = true };
    CHECK(http_send(&o, 404, "application/json", "Retry-After: 1\r\n", "{}", 2) == TL_OK, "send");
    drain(sv[1], got, sizeof got);
    CHECK(!strcmp(got, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                       "Connection: keep-alive\r\nAccess-Control-Allow-Origin: *\r\nRetry-After: 1\r\n\r\n{}"),
          "%s", got);
    CHECK(o.status == 404 && o.n_body == 2, "%d", o.status);
    CHECK(http_send(&o, 200, NULL, "", "x", 1) == TL_EINVAL, "second head");

    o = (struct http_out){ .fd = sv[0], .timeout_ms = 1000, .head_only = true };
    http_send(&o, 200, "text/plain", "", "hello", 5);
    drain(sv[1], got, sizeof got);
    CHECK(strstr(got, "Content-Length: 5\r\n") && strstr(got, "Connection: close\r\n") &&
          !strcmp(got + strlen(got) - 4, "\r\n\r\n"), "%s", got);

    o = (struct http_out){ .fd = sv[0], .timeout_ms = 1000, .keep_alive = true };
    http_stream_begin(&o, 200, "text/event-stream", "Cache-Control: no-cache\r\n");
    http_stream_write(&o, "data: a\n\n", 9);
    http_stream_write(&o, "", 0);
    http_stream_write(&o, "0123456789abcdefg", 17);
    CHECK(http_stream_end(&o) == TL_OK && o.n_body == 26, "%lld", o.n_body);
    drain(sv[1], got, sizeof got);
    const char *b = strstr(got, "\r\n\r\n");
    CHECK(strstr(got, "Transfer-Encoding: chunked\r\n") && b &&
          !strcmp(b + 4, "9\r\ndata: a\n\n\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n"), "%s", got);

    o = (struct http_out){ .fd = sv[0], .timeout_ms = 1000, .keep_alive = true, .http10 = true };
    http_stream_begin(&o, 200, "application/x-ndjson", NULL);
    http_stream_write(&o, "{}\n", 3);
    http_stream_end(&o);
    drain(sv[1], got, sizeof got);
    b = strstr(got, "\r\n\r\n");
    CHECK(!o.keep_alive && !strstr(got, "chunked") && strstr(got, "Connection: close") && b &&
          !strcmp(b + 4, "{}\n"), "%s", got);

    /* pipelined bytes are not "gone" and stay unread; a close is */
    CHECK(send(sv[1], "GET", 3, 0) == 3, "send");
    o = (struct http_out){ .fd = sv[0], .timeout_ms = 1000 };
    CHECK(!http_peer_gone(&o), "pipelined bytes");
    CHECK(drain(sv[0], got, sizeof got) == 3, "peeked bytes consumed");
    CHECK(!http_peer_gone(&o), "idle peer");
    close(sv[1]);
    CHECK(http_peer_gone(&o), "closed peer");
    /* no SIGPIPE: the test would die here */
    CHECK(http_send(&o, 200, "text/plain", "", "x", 1) == TL_EIO && o.failed, "write to a gone peer");
    CHECK(http_stream_write(&o, "x", 1) == TL_EIO, "stays failed");
    close(sv[0]);

    /* into a sink */
    struct json_buf sink = { 0 };
    o = (struct http_out){ .fd = -1, .sink = &sink, .keep_alive = false };
    http_send(&o, 503, "application/json", "", "{}", 2);
    CHECK(sink.p && !strncmp(sink.p, "HTTP/1.1 503 Service Unavailable\r\n", 34) &&
          !strcmp(sink.p + sink.len - 6, "\r\n\r\n{}"), "%s", sink.p);
    json_buf_free(&sink);
    CHECK(!strcmp(http_reason(431), "Request Header Fields Too Large") && !strcmp(http_reason(299), "Unknown"), "reason");
}

/* A client that stops reading: the write gives up at its deadline. */
static void write_deadline(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        SKIP("no socketpair");
    size_t n = 8 << 20;
    char *big = calloc(1, n);
    struct http_out o = { .fd = sv[0], .timeout_ms = 50 };
    CHECK(http_send(&o, 200, "text/plain", "", big, n) == TL_EIO && o.failed, "deadline");
    free(big);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    RUN_TEST(get_request);
    RUN_TEST(post_with_length_and_pipelining);
    RUN_TEST(chunked_body);
    RUN_TEST(bare_lf_head_expect_connection);
    RUN_TEST(refusals);
    RUN_TEST(limits_on_partial_input);
    RUN_TEST(writers);
    RUN_TEST(write_deadline);
    return test_finish();
}
