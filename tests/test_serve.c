/* test_serve.c: `tinyllm serve` as clients meet it: a real server on an
 * ephemeral loopback port over models/stories260K.gguf, driven with raw
 * sockets (and curl when installed): the server's routes, errors as JSON,
 * keep-alive and pipelining, the API key, the limits, malformed requests,
 * a stalled client beside a live one, many connections, timeouts, and a
 * clean exit on SIGTERM/SIGINT. The model routes are probed only when the
 * API files are there (404 otherwise). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define MODEL "models/stories260K.gguf"

struct srv { pid_t pid; int port; char log[512]; bool no_wait; const char *model; };

static void nap_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int request(int port, const char *req, char *out, size_t cap);

/* /health says ok (the model is loaded). */
static bool wait_ready(int port)
{
    char r[512];
    for (int i = 0; i < 3000; i++) {
        if (request(port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200)
            return true;
        nap_ms(10);
    }
    return false;
}

/* Start `tinyllm serve -m MODEL --port 0 ARGS` with stderr in a file and
 * wait for the port it prints (and, unless no_wait, for /health to say
 * ok). false, and a failed check, when it did not come up. */
static bool srv_start(struct srv *s, const char *args)
{
    static int n;
    snprintf(s->log, sizeof s->log, "%s/serve-%d.log", test_tmpdir(), n++);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s serve -m %s --port 0 %s 2>%s </dev/null >/dev/null", test_bin(),
             s->model ? s->model : MODEL, args, s->log);
    unlink(s->log);
    s->pid = fork();
    if (s->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    s->port = 0;
    for (int i = 0; i < 3000 && s->pid > 0; i++) {
        char *log = test_read_file(s->log, NULL);
        const char *p = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
        if (p)
            s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        free(log);
        if (s->port) {
            if (s->no_wait || wait_ready(s->port))
                return true;
            break;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            break;
        }
        nap_ms(10);
    }
    CHECK(0, "the server did not start or get ready (%s)", s->log);
    return false;
}

/* Send sig (0: none, it was sent) and wait: the exit status (128 +
 * signal when killed). A second SIGTERM would be a forced stop, as in
 * llama-server. */
static int srv_stop(struct srv *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    if (sig)
        kill(s->pid, sig);
    int st = 0;
    for (int i = 0; i < 3000; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        nap_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -2;
}

/* ---- a raw client ---- */

struct client { int fd; char buf[1 << 16]; size_t len; bool head; };

static bool client_open(struct client *c, int port)
{
    c->len = 0;
    c->head = false;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = { 20, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    return c->fd >= 0 && connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0;
}

static void client_send(struct client *c, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

/* One whole response (Content-Length framed) into out, NUL-terminated;
 * its status, or -1 on EOF/timeout before a whole one. Bytes after it stay
 * for the next call. */
static int client_response(struct client *c, char *out, size_t cap)
{
    for (;;) {
        c->buf[c->len] = 0;
        char *end = strstr(c->buf, "\r\n\r\n");
        if (end) {
            const char *cl = strstr(c->buf, "Content-Length: ");
            size_t head = (size_t)(end + 4 - c->buf);
            size_t body = cl && cl < end ? (size_t)atol(cl + 16) : 0;
            if (!strncmp(c->buf, "HTTP/1.1 100", 12) || c->head)
                body = 0;
            if (c->len >= head + body) {
                size_t n = head + body < cap ? head + body : cap - 1;
                memcpy(out, c->buf, n);
                out[n] = 0;
                memmove(c->buf, c->buf + head + body, c->len - head - body);
                c->len -= head + body;
                return atoi(out + 9);
            }
        }
        if (c->len + 1 >= sizeof c->buf)
            return -1;
        ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
        if (k <= 0)
            return -1;
        c->len += (size_t)k;
    }
}

/* True when the server closes the connection (EOF or reset) with nothing
 * more to read. */
static bool client_closed(struct client *c)
{
    char b[256];
    ssize_t k;
    while ((k = recv(c->fd, b, sizeof b, 0)) > 0) {
    }
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* One request on a fresh connection: the response's status and text. */
static int request(int port, const char *req, char *out, size_t cap)
{
    struct client *c = malloc(sizeof *c);
    int st = -1;
    if (client_open(c, port)) {
        c->head = !strncmp(req, "HEAD ", 5);
        client_send(c, req, strlen(req));
        st = client_response(c, out, cap);
    }
    close(c->fd);
    free(c);
    return st;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* ---- tests ---- */

/* The tests that need nothing but a running server: it is started with
 * args before body and must exit 0 on SIGTERM after it. */
static const char *served_args;
static void (*served_body)(struct srv *s);

static void serve_and_run(void)
{
    struct srv s = { 0 };
    if (!srv_start(&s, served_args))
        return;
    served_body(&s);
    CHECK(srv_stop(&s, SIGTERM) == 0, "exit status");
}

static void run_served(const char *name, const char *args, void (*body)(struct srv *s))
{
    served_args = args;
    served_body = body;
    test_run(name, serve_and_run);
}
#define RUN_SERVED(fn, args) run_served(#fn, args, fn)

static void server_routes_and_errors(void)
{
    struct srv s = { 0 };
    if (!srv_start(&s, ""))
        return;
    char r[8192];
    CHECK(request(s.port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
    CHECK(!strcmp(body_of(r), "{\"status\":\"ok\"}") && strstr(r, "Access-Control-Allow-Origin: *\r\n"), "%s", r);
    CHECK(request(s.port, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200 &&
          strstr(r, "Content-Length: 15\r\n"), "%s", r);
    CHECK(request(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
    const char *tot = strstr(r, "# TYPE tinyllm:requests_total counter\ntinyllm:requests_total ");
    CHECK(tot && atoi(tot + strlen("# TYPE tinyllm:requests_total counter\ntinyllm:requests_total ")) >= 2, "%s", r);
    CHECK(
          strstr(r, "tinyllm:prompt_tokens_total ") && strstr(r, "tinyllm:requests_deferred 0\n"), "%s", r);
    CHECK(request(s.port, "GET /props HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
    CHECK(strstr(r, "\"n_ctx\":") && strstr(r, "\"total_slots\":1") && strstr(r, "\"chat_template\":\""), "%s", r);
    CHECK(request(s.port, "GET /no/such HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 404, "%s", r);
    CHECK(!strcmp(body_of(r), "{\"error\":{\"code\":404,\"message\":\"File Not Found\",\"type\":\"not_found_error\"}}"),
          "%s", r);
    CHECK(request(s.port, "DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 405, "%s", r);
    CHECK(strstr(r, "\r\nAllow: GET, HEAD, OPTIONS\r\n") && strstr(r, "\"code\":405"), "%s", r);
    CHECK(request(s.port, "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\n"
                          "Access-Control-Request-Headers: authorization, content-type\r\n\r\n", r, sizeof r) == 200,
          "%s", r);
    CHECK(strstr(r, "Access-Control-Allow-Headers: authorization, content-type\r\n") &&
          strstr(r, "Access-Control-Allow-Methods: "), "%s", r);
    /* 100-continue, then the body */
    struct client *c = malloc(sizeof *c);
    CHECK(client_open(c, s.port), "connect");
    const char *post = "POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    client_send(c, post, strlen(post));
    CHECK(client_response(c, r, sizeof r) == 100, "%s", r);
    client_send(c, "{}", 2);
    CHECK(client_response(c, r, sizeof r) == 404, "%s", r);
    close(c->fd);
    free(c);
    CHECK(srv_stop(&s, SIGTERM) == 0, "exit status");
    char *log = test_read_file(s.log, NULL);
    CHECK(log && strstr(log, "GET /health -> 200") && strstr(log, "DELETE /health -> 405"), "%s", log);
    free(log);
}

static void keep_alive_and_pipelining(void)
{
    struct srv s = { 0 };
    if (!srv_start(&s, "--quiet"))
        return;
    struct client *c = malloc(sizeof *c);
    char r[8192];
    CHECK(client_open(c, s.port), "connect");
    const char *three = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                        "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    client_send(c, three, strlen(three));
    CHECK(client_response(c, r, sizeof r) == 200 && strstr(r, "Connection: keep-alive"), "%s", r);
    CHECK(client_response(c, r, sizeof r) == 404, "%s", r);
    CHECK(client_response(c, r, sizeof r) == 405, "%s", r);
    /* byte by byte on the same connection */
    const char *one = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    for (const char *p = one; *p; p++)
        client_send(c, p, 1);
    CHECK(client_response(c, r, sizeof r) == 200, "%s", r);
    /* Connection: close is honoured */
    const char *last = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    client_send(c, last, strlen(last));
    CHECK(client_response(c, r, sizeof r) == 200 && strstr(r, "Connection: close"), "%s", r);
    CHECK(client_closed(c), "closed after Connection: close");
    close(c->fd);
    /* HTTP/1.0 closes unless asked */
    CHECK(client_open(c, s.port), "connect");
    client_send(c, "GET /health HTTP/1.0\r\n\r\n", 24);
    CHECK(client_response(c, r, sizeof r) == 200 && strstr(r, "Connection: close"), "%s", r);
    CHECK(client_closed(c), "1.0 closed");
    close(c->fd);
    free(c);
    /* the port is taken: a second server says so and exits 1 */
    struct test_cli res = { 0 };
    CHECK(test_cli_run(&res, NULL, "serve -m " MODEL " --port %d", s.port) == 1 && strstr(res.err, "cannot listen") &&
          test_count_lines(res.err) == 1, "%s", res.err);
    free(res.out);
    free(res.err);
    CHECK(srv_stop(&s, SIGINT) == 0, "exit status after SIGINT");
}

/* The model is a FIFO nobody writes yet: the server listens and stays
 * loading, which /health says; then the load fails and it exits 1. */
static void loading(void)
{
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/model.fifo", test_tmpdir());
    unlink(fifo);
    if (mkfifo(fifo, 0600))
        SKIP("no mkfifo");
    struct srv s = { .no_wait = true, .model = fifo };
    if (!srv_start(&s, ""))
        return;
    char r[8192];
    CHECK(request(s.port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 503, "%s", r);
    CHECK(strstr(r, "Retry-After: ") && strstr(body_of(r), "\"Loading model\""), "%s", r);
    CHECK(request(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
    CHECK(request(s.port, "GET /props HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 503, "%s", r);
    CHECK(request(s.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 404, "%s", r);
    /* an empty "model": the load fails, the server ends */
    FILE *w = fopen(fifo, "w");
    if (w)
        fclose(w);
    int st = 0;
    for (int i = 0; i < 3000 && s.pid; i++) {
        if (waitpid(s.pid, &st, WNOHANG) == s.pid)
            s.pid = 0;
        else
            nap_ms(10);
    }
    if (s.pid)
        srv_stop(&s, SIGKILL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    unlink(fifo);
}

static void api_key(struct srv *s)
{
    char r[8192];
    CHECK(request(s->port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 401, "%s", r);
    CHECK(!strcmp(body_of(r), "{\"error\":{\"code\":401,\"message\":\"Invalid API Key\",\"type\":\"authentication_error\"}}"),
          "%s", r);
    CHECK(request(s->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekri\r\n\r\n", r, sizeof r) == 401,
          "%s", r);
    CHECK(request(s->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekritt\r\n\r\n", r, sizeof r) == 401,
          "%s", r);
    CHECK(request(s->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekrit\r\n\r\n", r, sizeof r) == 200,
          "%s", r);
    CHECK(request(s->port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
    CHECK(request(s->port, "OPTIONS /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
}

/* A request that must get status and then a closed connection. */
static void expect_refusal(int port, const char *req, size_t n, int status)
{
    struct client *c = malloc(sizeof *c);
    char r[8192];
    CHECK(client_open(c, port), "connect");
    client_send(c, req, n);
    int st = client_response(c, r, sizeof r);
    CHECK(st == status, "want %d, got %d: %.200s", status, st, r);
    CHECK(strstr(r, "Connection: close") && strstr(r, "\"error\":{\"code\":"), "%s", r);
    CHECK(client_closed(c), "connection left open after %d", status);
    close(c->fd);
    free(c);
}

static void limits_and_malformed(struct srv *s)
{
    size_t n = 40000;
    char *big = malloc(n);
    /* request line */
    memset(big, 'a', n);
    memcpy(big, "GET /", 5);
    expect_refusal(s->port, big, 10000, 414);
    /* header block */
    int k = snprintf(big, n, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + k, 'b', 20000);
    memcpy(big + k + 20000, "\r\n\r\n", 4);
    expect_refusal(s->port, big, (size_t)k + 20004, 431);
    /* body, refused from its Content-Length alone */
    k = snprintf(big, n, "POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n{\"prompt\":");
    expect_refusal(s->port, big, (size_t)k, 413);
    static const struct { const char *req; int status; } bad[] = {
        { "GARBAGE\r\n\r\n", 400 },
        { "GET /health HTTP/1.1\r\n\r\n", 400 },
        { "GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
        { "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
        { "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
        { "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400 },
        { "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/9.9\r\n\r\n", 200 },
    };
    for (size_t i = 0; i + 1 < sizeof bad / sizeof bad[0]; i++)
        expect_refusal(s->port, bad[i].req, strlen(bad[i].req), bad[i].status);
    /* a good request, then a bad one on the same connection */
    struct client *c = malloc(sizeof *c);
    char r[8192];
    CHECK(client_open(c, s->port), "connect");
    client_send(c, bad[6].req, strlen(bad[6].req));
    CHECK(client_response(c, r, sizeof r) == 200, "%s", r);
    CHECK(client_response(c, r, sizeof r) == 505, "%s", r);
    CHECK(client_closed(c), "closed");
    close(c->fd);
    free(c);
    free(big);
    /* still serving */
    CHECK(request(s->port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
}

static void slow_client_and_many_connections(struct srv *s)
{
    char r[8192];
    struct client *slow = malloc(sizeof *slow);
    CHECK(client_open(slow, s->port), "connect");
    client_send(slow, "GET /health HTTP/1.1\r\nHo", 24);
    CHECK(request(s->port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "blocked by a stalled client");
    client_send(slow, "st: x\r\n\r\n", 9);
    CHECK(client_response(slow, r, sizeof r) == 200, "%s", r);
    close(slow->fd);
    free(slow);
    enum { N = 64 };
    struct client *cs = malloc(N * sizeof *cs);
    int ok = 0, open_ = 0;
    for (int i = 0; i < N; i++)
        open_ += client_open(&cs[i], s->port);
    for (int i = 0; i < N; i++)
        client_send(&cs[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33);
    for (int i = N - 1; i >= 0; i--)
        ok += client_response(&cs[i], r, sizeof r) == 200;
    for (int i = 0; i < N; i++)
        close(cs[i].fd);
    free(cs);
    CHECK(open_ == N && ok == N, "%d of %d connections, %d answered", open_, N, ok);
}

static void timeouts_and_max_conns(struct srv *s)
{
    char r[8192];
    struct client *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
    /* both slots taken once a and b are answered; a slot of an earlier
     * client may take a moment to free */
    int st = -1, st2 = -1;
    for (int i = 0; i < 100 && (st != 200 || st2 != 200); i++) {
        if (i) {
            close(a->fd);
            close(b->fd);
            nap_ms(20);
        }
        CHECK(client_open(a, s->port) && client_open(b, s->port), "connect");
        client_send(a, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33);
        client_send(b, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33);
        st = client_response(a, r, sizeof r);
        st2 = client_response(b, r, sizeof r);
    }
    CHECK(st == 200 && st2 == 200, "%s", r);
    client_send(a, "GET /health HTTP/1.1\r\nHo", 24);
    CHECK(client_open(c, s->port), "connect");
    CHECK(client_response(c, r, sizeof r) == 503 && strstr(r, "Retry-After:"), "%s", r);
    /* the stalled request times out with 408; the idle one is closed */
    CHECK(client_response(a, r, sizeof r) == 408, "%s", r);
    CHECK(client_closed(a) && client_closed(b), "closed");
    close(a->fd);
    close(b->fd);
    close(c->fd);
    free(a);
    free(b);
    free(c);
    CHECK(wait_ready(s->port), "slots freed");
}

static void model_routes_when_present(void)
{
    struct srv s = { 0 };
    if (!srv_start(&s, "--quiet --queue 2 -n 8"))
        return;
    char r[8192];
    const char *body = "{\"prompt\":\"Once upon\",\"n_predict\":8}";
    char req[512];
    snprintf(req, sizeof req, "POST /completion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    int st = request(s.port, req, r, sizeof r);
    if (st == 404) {
        srv_stop(&s, SIGTERM);
        SKIP("no /completion route in this build");
    }
    CHECK(st == 200, "%s", r);
    /* several at once with a queue of 2: each gets its answer or a 503 */
    enum { N = 8 };
    struct client *cs = malloc(N * sizeof *cs);
    int good = 0;
    for (int i = 0; i < N; i++) {
        client_open(&cs[i], s.port);
        client_send(&cs[i], req, strlen(req));
    }
    for (int i = 0; i < N; i++) {
        st = client_response(&cs[i], r, sizeof r);
        good += st == 200 || (st == 503 && strstr(r, "Retry-After:"));
        close(cs[i].fd);
    }
    free(cs);
    CHECK(good == N, "%d of %d", good, N);
    CHECK(request(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r) == 200, "%s", r);
    CHECK(!strstr(r, "tinyllm:tokens_predicted_total 0\n"), "%s", r);
    CHECK(srv_stop(&s, SIGTERM) == 0, "exit status");
}

/* SIGTERM while a stream is being generated: the stream still ends
 * properly (its last chunk), and the server exits 0. */
static void sigterm_mid_stream(void)
{
    struct srv s = { 0 };
    if (!srv_start(&s, "--quiet -c 4096"))
        return;
    const char *body = "{\"prompt\":\"Once upon a time\",\"max_tokens\":4000,\"stream\":true}";
    char req[512];
    snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    struct client *c = malloc(sizeof *c);
    CHECK(client_open(c, s.port), "connect");
    client_send(c, req, strlen(req));
    /* the head and a first event: generation is under way (or done) */
    ssize_t k;
    while (c->len < 512 && (k = recv(c->fd, c->buf + c->len, 512 - c->len, 0)) > 0)
        c->len += (size_t)k;
    c->buf[c->len] = 0;
    if (strncmp(c->buf, "HTTP/1.1 200", 12)) {
        bool missing = strstr(c->buf, " 404 ") != NULL;
        CHECK(missing, "%s", c->buf);
        close(c->fd);
        free(c);
        srv_stop(&s, SIGTERM);
        if (missing)
            SKIP("no /v1/completions route in this build");
        return;
    }
    kill(s.pid, SIGTERM);
    while (c->len + 1 < sizeof c->buf && (k = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0)) > 0)
        c->len += (size_t)k;
    if (c->len + 1 >= sizeof c->buf) {   /* all of it did not fit: keep the end */
        while ((k = recv(c->fd, c->buf, 4096, 0)) > 0)
            c->len = (size_t)k;
    }
    c->buf[c->len] = 0;
    CHECK(c->len >= 5 && !strcmp(c->buf + c->len - 5, "0\r\n\r\n"), "stream not ended: %s",
          c->buf + (c->len > 200 ? c->len - 200 : 0));
    close(c->fd);
    free(c);
    CHECK(srv_stop(&s, 0) == 0, "exit status");
}

static void with_curl(void)
{
    if (system("command -v curl >/dev/null 2>&1"))
        SKIP("curl is not installed");
    struct srv s = { 0 };
    if (!srv_start(&s, "--quiet"))
        return;
    struct test_cli res = { 0 };
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -s -o %s/curl.out -w '%%{http_code}' http://127.0.0.1:%d/health", test_tmpdir(),
             s.port);
    FILE *p = popen(cmd, "r");
    char code[16] = "";
    if (p) {
        CHECK(fgets(code, sizeof code, p) != NULL, "curl output");
        pclose(p);
    }
    CHECK(!strcmp(code, "200"), "%s", code);
    snprintf(cmd, sizeof cmd, "%s/curl.out", test_tmpdir());
    char *body = test_read_file(cmd, NULL);
    CHECK(body && !strcmp(body, "{\"status\":\"ok\"}"), "%s", body);
    free(body);
    (void)res;
    CHECK(srv_stop(&s, SIGTERM) == 0, "exit status");
}

/* An IPv6 literal host: the address printed in brackets, served there. */
static void ipv6_host(void)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    if (probe < 0 || bind(probe, (struct sockaddr *)&a6, sizeof a6)) {
        if (probe >= 0)
            close(probe);
        SKIP("no IPv6 loopback here");
    }
    close(probe);
    struct test_cli res = { 0 };
    char log[512];
    snprintf(log, sizeof log, "%s/serve6.log", test_tmpdir());
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "exec %s serve -m " MODEL " --host ::1 --port 0 2>%s", test_bin(), log);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 3000 && !port; i++) {
        char *text = test_read_file(log, NULL);
        const char *p = text ? strstr(text, "listening on http://[::1]:") : NULL;
        if (p && strstr(text, "loaded"))
            port = atoi(p + strlen("listening on http://[::1]:"));
        free(text);
        nap_ms(10);
    }
    CHECK(port > 0, "no address printed");
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    a6.sin6_port = htons((uint16_t)port);
    char r[1024] = "";
    if (port && connect(fd, (struct sockaddr *)&a6, sizeof a6) == 0) {
        const char *req = "GET /health HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n";
        send(fd, req, strlen(req), MSG_NOSIGNAL);
        size_t n = 0;
        ssize_t k;
        while (n + 1 < sizeof r && (k = recv(fd, r + n, sizeof r - 1 - n, 0)) > 0)
            n += (size_t)k;
        r[n] = 0;
    }
    close(fd);
    CHECK(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17), "%s", r);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    (void)res;
}

static void command_line(void)
{
    struct test_cli res = { 0 };
    CHECK(test_cli_run(&res, NULL, "serve -m " MODEL " --bogus") == 2 && test_count_lines(res.err) == 1, "%s", res.err);
    CHECK(test_cli_run(&res, NULL, "serve -m " MODEL " --port 70000") == 2 && test_count_lines(res.err) == 1, "%s",
          res.err);
    CHECK(test_cli_run(&res, NULL, "serve --port 0") == 2 && strstr(res.err, "-m"), "%s", res.err);
    CHECK(test_cli_run(&res, NULL, "serve -m " MODEL " --host 256.1.2.3 --port 0") == 2, "%s", res.err);
    /* a model that cannot load: the server was listening, and exits 1 */
    CHECK(test_cli_run(&res, NULL, "serve -m /nonexistent.gguf --port 0 --quiet") == 1 &&
          strstr(res.err, "listening on") && strstr(res.err, "nonexistent"), "%s", res.err);
    CHECK(test_cli_run(&res, NULL, "serve --help") == 0 && strstr(res.out, "--api-key"), "%s", res.out);
    free(res.out);
    free(res.err);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN_TEST(server_routes_and_errors);
    RUN_TEST(keep_alive_and_pipelining);
    RUN_TEST(loading);
    RUN_SERVED(api_key, "--quiet --api-key sekrit");
    RUN_SERVED(limits_and_malformed, "--quiet");
    RUN_SERVED(slow_client_and_many_connections, "--quiet");
    RUN_SERVED(timeouts_and_max_conns, "--quiet --timeout 1 --max-conns 2");
    RUN_TEST(model_routes_when_present);
    RUN_TEST(sigterm_mid_stream);
    RUN_TEST(with_curl);
    RUN_TEST(ipv6_host);
    RUN_TEST(command_line);
    return test_finish();
}
