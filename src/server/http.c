/* server/http.c: the HTTP/1.1 request parser (RFC 9112, bounded, stateless
 * over a connection's buffer) and the response writers (whole responses
 * with Content-Length, chunked streams), with deadlines on every write. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "server/http.h"

struct http_limits http_limits_default(void)
{
    return (struct http_limits){ .max_line = 8192, .max_headers = 16384, .max_body = 8u << 20 };
}

/* ---- parsing ---- */

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ieq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && !strncasecmp(a, b, n);
}

/* The line starting at s: its content ends at *end (before CR LF or LF),
 * the next line starts at *next. False when no LF within buf[s..len). */
static bool find_line(const char *buf, size_t s, size_t len, size_t *end, size_t *next)
{
    const char *lf = memchr(buf + s, '\n', len - s);
    if (!lf)
        return false;
    size_t e = (size_t)(lf - buf);
    *next = e + 1;
    *end = e > s && buf[e - 1] == '\r' ? e - 1 : e;
    return true;
}

/* Where a header lies in buf, before the in-place NULs are written. */
struct span { size_t name, name_len, val, val_len; };

/* What the non-destructive scan learns, applied to buf only once the
 * whole request is there. */
struct scan {
    size_t method, method_end, target, target_end, path;   /* offsets into buf */
    struct span hdr[HTTP_MAX_FIELDS];
    int n_hdr;
    size_t head_len;
    bool chunked, has_length;
    unsigned long long length;   /* Content-Length */
    size_t end;                  /* the request's last byte + 1 */
    size_t body_len;             /* de-chunked */
};

static long fail(struct tl_error *err, int status, const char *msg)
{
    tl_fail(err, TL_EINVAL, "%s", msg);
    return -status;
}

/* "METHOD SP TARGET SP HTTP/1.x" in buf[s..e). */
static long scan_request_line(const char *buf, size_t s, size_t e, struct scan *sc,
                              struct http_request *r, struct tl_error *err)
{
    size_t i = s;
    while (i < e && is_tchar((unsigned char)buf[i]))
        i++;
    if (i == s || i == e || buf[i] != ' ')
        return fail(err, 400, "malformed request line");
    sc->method = s;
    sc->method_end = i;
    sc->target = ++i;
    while (i < e && (unsigned char)buf[i] > ' ' && buf[i] != 0x7f)
        i++;
    if (i == sc->target || i == e || buf[i] != ' ')
        return fail(err, 400, "malformed request line");
    sc->target_end = i++;
    const char *v = buf + i;
    if (e - i != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return fail(err, 400, "malformed HTTP version");
    if (v[5] != '1' || v[7] > '1')
        return fail(err, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    r->minor = v[7] - '0';
    /* origin-form "/p", asterisk-form "*" (OPTIONS), absolute-form "http://h/p" */
    const char *t = buf + sc->target;
    size_t tl = sc->target_end - sc->target;
    sc->path = sc->target;
    if (t[0] != '/' && !(tl == 1 && t[0] == '*')) {
        size_t skip = tl > 7 && !strncasecmp(t, "http://", 7) ? 7 : tl > 8 && !strncasecmp(t, "https://", 8) ? 8 : 0;
        if (!skip)
            return fail(err, 400, "malformed request target");
        const char *slash = memchr(t + skip, '/', tl - skip);
        if (!slash)
            return fail(err, 400, "absolute request target without a path");
        sc->path = (size_t)(slash - buf);
    }
    return 0;
}

/* Semantics of the header fields that frame the request. */
static long scan_fields(const char *buf, struct scan *sc, const struct http_limits *lim,
                        struct http_request *r, struct tl_error *err)
{
    int n_host = 0, n_te = 0;
    r->keep_alive = r->minor == 1;
    r->expect_continue = false;
    for (int i = 0; i < sc->n_hdr; i++) {
        const char *n = buf + sc->hdr[i].name, *v = buf + sc->hdr[i].val;
        size_t nl = sc->hdr[i].name_len, vl = sc->hdr[i].val_len;
        if (ieq(n, nl, "host")) {
            n_host++;
        } else if (ieq(n, nl, "content-length")) {
            if (sc->has_length)
                return fail(err, 400, "repeated Content-Length");
            sc->has_length = true;
            if (!vl)
                return fail(err, 400, "malformed Content-Length");
            unsigned long long x = 0;
            for (size_t k = 0; k < vl; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return fail(err, 400, "malformed Content-Length");
                if (x > lim->max_body)
                    return fail(err, 413, "request body too large");
                x = x * 10 + (unsigned)(v[k] - '0');
            }
            if (x > lim->max_body)
                return fail(err, 413, "request body too large");
            sc->length = x;
        } else if (ieq(n, nl, "transfer-encoding")) {
            if (++n_te > 1 || !ieq(v, vl, "chunked"))
                return fail(err, 501, "only the chunked transfer coding is supported");
            sc->chunked = true;
        } else if (ieq(n, nl, "connection")) {
            /* a token list: "keep-alive, Upgrade" */
            for (size_t k = 0; k < vl;) {
                size_t a = k;
                while (k < vl && v[k] != ',')
                    k++;
                size_t b = k++;
                while (a < b && (v[a] == ' ' || v[a] == '\t'))
                    a++;
                while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
                    b--;
                if (ieq(v + a, b - a, "close"))
                    r->keep_alive = false;
                else if (ieq(v + a, b - a, "keep-alive") && r->minor == 0)
                    r->keep_alive = true;
            }
        } else if (ieq(n, nl, "expect")) {
            r->expect_continue = ieq(v, vl, "100-continue");
        }
    }
    if (r->minor == 1 && n_host != 1)
        return fail(err, 400, n_host ? "repeated Host" : "missing Host header");
    if (sc->chunked && sc->has_length)
        return fail(err, 400, "both Content-Length and Transfer-Encoding");
    if (sc->chunked && r->minor == 0)
        return fail(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
    return 0;
}

/* Header lines from s to the empty line. */
static long scan_headers(const char *buf, size_t s, size_t len, const struct http_limits *lim,
                         struct scan *sc, struct tl_error *err)
{
    size_t h = s, e, next;
    for (;;) {
        if (!find_line(buf, h, len, &e, &next))
            return len - s > lim->max_headers ? fail(err, 431, "request header block too large") : 0;
        if (next - s > lim->max_headers)
            return fail(err, 431, "request header block too large");
        if (e == h) {
            sc->head_len = next;
            return 1;
        }
        if (buf[h] == ' ' || buf[h] == '\t')
            return fail(err, 400, "obsolete header line folding");
        if (sc->n_hdr == HTTP_MAX_FIELDS)
            return fail(err, 431, "too many request header fields");
        size_t i = h;
        while (i < e && is_tchar((unsigned char)buf[i]))
            i++;
        if (i == h || i == e || buf[i] != ':')
            return fail(err, 400, "malformed header field");
        struct span *sp = &sc->hdr[sc->n_hdr++];
        sp->name = h;
        sp->name_len = i - h;
        i++;
        while (i < e && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        size_t ve = e;
        while (ve > i && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
            ve--;
        for (size_t k = i; k < ve; k++) {
            unsigned char c = (unsigned char)buf[k];
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return fail(err, 400, "control character in a header field");
        }
        sp->val = i;
        sp->val_len = ve - i;
        h = next;
    }
}

/* The chunked body from sc->head_len: its end and de-chunked size, or 0
 * when incomplete. Chunk lines are bounded; the framing overhead is bounded
 * by the 2 * max_body + 64 KiB the caller may buffer. */
static long scan_chunked(const char *buf, size_t len, const struct http_limits *lim,
                         struct scan *sc, struct tl_error *err)
{
    size_t p = sc->head_len, e, next, total = 0;
    size_t budget = lim->max_body * 2 + 65536;
    for (;;) {
        if (p - sc->head_len > budget)
            return fail(err, 413, "request body too large");
        if (!find_line(buf, p, len, &e, &next))
            return len - p > 4096 ? fail(err, 400, "malformed chunk size line") : 0;
        if (next - p > 4096)
            return fail(err, 400, "malformed chunk size line");
        size_t i = p, size = 0;
        for (; i < e; i++) {
            int c = buf[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                break;
            size = size * 16 + (size_t)d;
            if (size > lim->max_body)
                return fail(err, 413, "request body too large");
        }
        if (i == p)
            return fail(err, 400, "malformed chunk size");
        while (i < e && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        if (i < e && buf[i] != ';')
            return fail(err, 400, "malformed chunk size");
        for (; i < e; i++)
            if (buf[i] == '\r' || buf[i] == 0)
                return fail(err, 400, "control character in a chunk extension");
        total += size;
        if (total > lim->max_body)
            return fail(err, 413, "request body too large");
        p = next;
        if (size == 0)
            break;
        if (len - p < size + 1)
            return 0;
        p += size;
        if (buf[p] == '\n') {
            p++;
        } else if (buf[p] == '\r') {
            if (len - p < 2)
                return 0;
            if (buf[p + 1] != '\n')
                return fail(err, 400, "chunk data longer than its size");
            p += 2;
        } else {
            return fail(err, 400, "chunk data longer than its size");
        }
    }
    /* trailer fields (ignored) up to the empty line */
    size_t t0 = p;
    for (;;) {
        size_t ls = p;
        if (!find_line(buf, p, len, &e, &next))
            return len - t0 > lim->max_headers ? fail(err, 431, "chunked trailer too large") : 0;
        if (next - t0 > lim->max_headers)
            return fail(err, 431, "chunked trailer too large");
        p = next;
        if (e == ls)
            break;
    }
    sc->end = p;
    sc->body_len = total;
    return 1;
}

/* Write the NULs and the de-chunked body into buf; fill r. The body moves
 * one byte back, over the head's last LF, so its NUL lands inside this
 * request (the next pipelined request starts right after it). */
static void apply(char *buf, const struct scan *sc, struct http_request *r)
{
    buf[sc->method_end] = 0;
    buf[sc->target_end] = 0;
    r->method = buf + sc->method;
    r->path = buf + sc->path;
    char *q = memchr(buf + sc->path, '?', sc->target_end - sc->path);
    if (q) {
        *q = 0;
        r->query = q + 1;
    } else {
        r->query = buf + sc->target_end;
    }
    for (int i = 0; i < sc->n_hdr; i++) {
        buf[sc->hdr[i].name + sc->hdr[i].name_len] = 0;
        buf[sc->hdr[i].val + sc->hdr[i].val_len] = 0;
        r->headers[i].name = buf + sc->hdr[i].name;
        r->headers[i].value = buf + sc->hdr[i].val;
    }
    r->n_headers = sc->n_hdr;
    char *body = buf + sc->head_len - 1;
    if (!sc->chunked) {
        memmove(body, buf + sc->head_len, (size_t)sc->length);
        r->body_len = sc->length;
    } else {
        /* every chunk's data follows at least "0\n" of framing, so the
         * copy never overtakes the bytes still to be read */
        size_t p = sc->head_len, o = 0;
        for (;;) {
            size_t size = strtoul(buf + p, NULL, 16);
            p = (size_t)((char *)memchr(buf + p, '\n', sc->end - p) - buf) + 1;
            if (!size)
                break;
            memmove(body + o, buf + p, size);
            o += size;
            p += size + (buf[p + size] == '\r') + 1;
        }
        r->body_len = o;
    }
    body[r->body_len] = 0;
    r->body = body;
}

long http_parse(char *buf, size_t len, const struct http_limits *lim, struct http_request *r,
                struct tl_error *err)
{
    struct http_limits dl;
    if (!lim) {
        dl = http_limits_default();
        lim = &dl;
    }
    struct scan sc;
    memset(&sc, 0, sizeof sc);
    r->head_len = 0;
    /* RFC 9112 2.2: empty lines before the request line are ignored */
    size_t s = 0;
    while (s < len && (buf[s] == '\r' || buf[s] == '\n'))
        if (++s > lim->max_line)
            return fail(err, 400, "too many empty lines before the request");
    size_t e, next;
    if (s == len)
        return 0;
    if (!find_line(buf, s, len, &e, &next))
        return len - s > lim->max_line ? fail(err, 414, "request line too long") : 0;
    if (e - s > lim->max_line)
        return fail(err, 414, "request line too long");
    long rc = scan_request_line(buf, s, e, &sc, r, err);
    if (rc)
        return rc;
    if ((rc = scan_headers(buf, next, len, lim, &sc, err)) <= 0)
        return rc;
    if ((rc = scan_fields(buf, &sc, lim, r, err)))
        return rc;
    r->head_len = sc.head_len;
    if (sc.chunked) {
        if ((rc = scan_chunked(buf, len, lim, &sc, err)) <= 0)
            return rc;
    } else {
        if (len - sc.head_len < sc.length)
            return 0;
        sc.end = sc.head_len + (size_t)sc.length;
    }
    apply(buf, &sc, r);
    return (long)sc.end;
}

const char *http_header(const struct http_request *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

/* ---- writing ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* All of iov[0..n) (modified) to the sink or the socket, within timeout_ms. */
static int out_write(struct http_out *o, struct iovec *iov, int n)
{
    if (o->failed)
        return TL_EIO;
    if (o->sink) {
        for (int i = 0; i < n; i++)
            if (!json_buf_put(o->sink, iov[i].iov_base, iov[i].iov_len)) {
                o->failed = true;
                return TL_EIO;
            }
        return TL_OK;
    }
    long long deadline = now_ms() + o->timeout_ms;
    while (n > 0) {
        if (!iov->iov_len) {
            iov++;
            n--;
            continue;
        }
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        /* MSG_NOSIGNAL: a gone client is EPIPE here, not SIGPIPE;
         * MSG_DONTWAIT: the wait is the poll below, bounded */
        ssize_t k = sendmsg(o->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            long long left = deadline - now_ms();
            if ((errno != EAGAIN && errno != EWOULDBLOCK) || left <= 0)
                break;
            struct pollfd p = { .fd = o->fd, .events = POLLOUT };
            if (poll(&p, 1, left > 1000000 ? 1000000 : (int)left) < 0 && errno != EINTR)
                break;
            continue;
        }
        while (k > 0) {
            size_t d = (size_t)k < iov->iov_len ? (size_t)k : iov->iov_len;
            iov->iov_base = (char *)iov->iov_base + d;
            iov->iov_len -= d;
            k -= (ssize_t)d;
            if (!iov->iov_len) {
                iov++;
                n--;
            }
        }
    }
    if (n > 0) {
        o->failed = true;
        return TL_EIO;
    }
    return TL_OK;
}

/* The status line and headers; length < 0: chunked (or close-delimited
 * for an HTTP/1.0 client). */
static int send_head(struct http_out *o, int status, const char *content_type,
                     const char *extra_headers, long long length, const void *body, size_t n)
{
    if (o->started)
        return tl_fail(NULL, TL_EINVAL, "response already started");
    if (o->failed)
        return TL_EIO;
    o->started = true;
    o->status = status;
    if (length < 0 && o->http10)
        o->keep_alive = false;
    struct json_buf h = { 0 };
    char line[160];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    json_buf_puts(&h, line);
    if (content_type) {
        json_buf_puts(&h, "Content-Type: ");
        json_buf_puts(&h, content_type);
        json_buf_puts(&h, "\r\n");
    }
    if (length >= 0)
        snprintf(line, sizeof line, "Content-Length: %lld\r\n", length);
    else
        snprintf(line, sizeof line, "%s", o->http10 ? "" : "Transfer-Encoding: chunked\r\n");
    json_buf_puts(&h, line);
    json_buf_puts(&h, o->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    json_buf_puts(&h, "Access-Control-Allow-Origin: *\r\n");
    if (extra_headers)
        json_buf_puts(&h, extra_headers);
    if (!json_buf_puts(&h, "\r\n")) {
        json_buf_free(&h);
        o->failed = true;
        return TL_ENOMEM;
    }
    struct iovec iov[2] = { { h.p, h.len }, { (void *)body, o->head_only ? 0 : n } };
    int rc = out_write(o, iov, 2);
    json_buf_free(&h);
    return rc;
}

int http_send(struct http_out *o, int status, const char *content_type, const char *extra_headers,
              const void *body, size_t len)
{
    int rc = send_head(o, status, content_type, extra_headers, (long long)len, body, len);
    if (rc == TL_OK && !o->head_only)
        o->n_body = (long long)len;
    return rc;
}

int http_stream_begin(struct http_out *o, int status, const char *content_type,
                      const char *extra_headers)
{
    int rc = send_head(o, status, content_type, extra_headers, -1, NULL, 0);
    if (rc == TL_OK)
        o->chunked = !o->http10;
    return rc;
}

int http_stream_write(struct http_out *o, const void *p, size_t n)
{
    if (o->failed)
        return TL_EIO;
    if (!o->started)
        return tl_fail(NULL, TL_EINVAL, "stream not begun");
    if (o->head_only || n == 0)
        return TL_OK;
    char size[24];
    int k = snprintf(size, sizeof size, "%zx\r\n", n);
    struct iovec iov[3] = { { size, (size_t)k }, { (void *)p, n }, { "\r\n", 2 } };
    int rc = o->chunked ? out_write(o, iov, 3) : out_write(o, iov + 1, 1);
    if (rc == TL_OK)
        o->n_body += (long long)n;
    return rc;
}

int http_stream_end(struct http_out *o)
{
    if (o->failed)
        return TL_EIO;
    int rc = TL_OK;
    if (o->chunked && !o->head_only) {
        struct iovec iov = { "0\r\n\r\n", 5 };
        rc = out_write(o, &iov, 1);
    }
    o->chunked = false;
    return rc;
}

bool http_peer_gone(struct http_out *o)
{
    if (o->failed)
        return true;
    if (o->sink)
        return false;
    struct pollfd p = { .fd = o->fd, .events = POLLIN };
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        return true;
    if (!(p.revents & POLLIN))
        return false;
    /* readable: either pipelined bytes (left where they are) or EOF */
    char c;
    ssize_t k = recv(o->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

const char *http_reason(int status)
{
    static const struct { int code; const char *text; } t[] = {
        { 100, "Continue" }, { 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
        { 301, "Moved Permanently" }, { 302, "Found" }, { 304, "Not Modified" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
        { 405, "Method Not Allowed" }, { 408, "Request Timeout" }, { 409, "Conflict" },
        { 411, "Length Required" }, { 413, "Content Too Large" }, { 414, "URI Too Long" },
        { 415, "Unsupported Media Type" }, { 417, "Expectation Failed" },
        { 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
        { 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
        { 501, "Not Implemented" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
        { 505, "HTTP Version Not Supported" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].code == status)
            return t[i].text;
    return "Unknown";
}
