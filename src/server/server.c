/* server/server.c: `tinyllm serve`'s threads. The I/O thread polls the
 * listener, a wake-up pipe and every connection it owns, parses requests,
 * answers the ones that do not need the model into a per-connection
 * buffer it sends without blocking, and queues the rest. The model thread
 * (server_run's own, after loading) takes them in FIFO order, lets the
 * handler write straight to the socket, and hands the connection back. A
 * third thread waits for SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"
#include "server/server_impl.h"

enum conn_state {
    C_READ,     /* waiting for (the rest of) a request; polled for input */
    C_QUEUED,   /* queued or running: the model thread owns it until take_back */
    C_WRITE,    /* sending wbuf; polled for output */
    C_LINGER,   /* response sent, write side shut: reading until EOF so the
                   client sees the response, not a reset from unread bytes */
};

struct conn {
    int fd;
    enum conn_state st;
    char *buf;                 /* received bytes: [0, len) of cap */
    size_t len, cap;
    size_t used;               /* bytes of the request being answered */
    struct http_request req;
    struct http_out out;
    const struct route *rt;
    struct json_buf wbuf;      /* an I/O-thread response, sent from woff */
    size_t woff;
    bool close_after, eof, sent_continue;
    long long deadline;        /* ms (monotonic) when the current state times out */
    long long t0;              /* ms when the request was complete */
    char peer[64];
};

struct impl {
    struct server *s;
    const struct server_opts *o;
    int lfd, wake[2];
    struct conn **conns;       /* n_conns of max_conns */
    int n_conns;
    size_t buf_max;            /* receive buffer cap from the limits */
    pthread_mutex_t mu;        /* guards queue, done, model_done */
    pthread_cond_t cv;
    struct conn **queue;       /* ring: q_n waiting from q_head, cap o->queue */
    int q_head, q_n;
    struct conn **done;        /* connections the model thread gave back */
    int n_done;
    bool model_done;           /* the model thread takes no more */
    bool sig_quit;             /* the signal thread is told to end */
};

long long server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void wake(struct impl *im)
{
    ssize_t k;
    do
        k = write(im->wake[1], "x", 1);
    while (k < 0 && errno == EINTR);
}

/* ---- logging and accounting ---- */

static void account(struct impl *im, struct conn *c, const char *method, const char *path)
{
    struct server *s = im->s;
    const struct http_out *o = &c->out;
    atomic_fetch_add(&s->m.requests, 1);
    if (o->status >= 400)
        atomic_fetch_add(&s->m.requests_failed, 1);
    atomic_fetch_add(&s->m.prompt_tokens, o->n_prompt);
    atomic_fetch_add(&s->m.gen_tokens, o->n_gen);
    if (im->o->quiet)
        return;
    long long ms = server_now_ms() - c->t0;
    if (o->n_prompt || o->n_gen)
        fprintf(stderr, "tinyllm: %s %s %s -> %d, %d prompt + %d generated tokens, %lld ms\n", c->peer,
                method, path, o->status, o->n_prompt, o->n_gen, ms);
    else
        fprintf(stderr, "tinyllm: %s %s %s -> %d, %lld ms\n", c->peer, method, path, o->status, ms);
}

/* ---- the I/O thread's connections ---- */

static void conn_free(struct impl *im, struct conn *c)
{
    close(c->fd);
    free(c->buf);
    json_buf_free(&c->wbuf);
    free(c);
    (void)im;
}

static void start_linger(struct conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->st = C_LINGER;
    c->deadline = server_now_ms() + 2000;
}

/* A fresh http_out for the request in c (sink: the I/O thread's buffer). */
static void out_init(struct impl *im, struct conn *c, bool sink)
{
    json_buf_free(&c->wbuf);
    c->wbuf.max = 64u << 20;
    c->woff = 0;
    c->out = (struct http_out){
        .fd = c->fd, .timeout_ms = im->o->timeout_s * 1000, .sink = sink ? &c->wbuf : NULL,
        .http10 = c->req.minor == 0, .keep_alive = c->req.keep_alive && !atomic_load(&im->s->stopping),
        .head_only = c->req.method && !strcmp(c->req.method, "HEAD"),
    };
}

/* Send what wbuf still holds without blocking. 1: all sent; 0: more to
 * send later; -1: the client is gone. */
static int flush(struct conn *c)
{
    while (c->woff < c->wbuf.len) {
        ssize_t k = send(c->fd, c->wbuf.p + c->woff, c->wbuf.len - c->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->woff += (size_t)k;
    }
    return 1;
}

/* The response in wbuf is complete: send it, then (once sent) go on. */
static void begin_write(struct impl *im, struct conn *c)
{
    c->close_after = !c->out.keep_alive || c->out.failed;
    c->st = C_WRITE;
    c->deadline = server_now_ms() + (long long)im->o->timeout_s * 1000;
}

/* After a response: close, or drop the answered request's bytes and read
 * the next one (perhaps already pipelined). */
static void next_request(struct impl *im, struct conn *c)
{
    if (c->close_after || atomic_load(&im->s->stopping)) {
        start_linger(c);
        return;
    }
    memmove(c->buf, c->buf + c->used, c->len - c->used);
    c->len -= c->used;
    c->used = 0;
    c->rt = NULL;
    c->st = C_READ;
    c->deadline = server_now_ms() + (long long)im->o->timeout_s * 1000;
}

/* Answer on the I/O thread with a JSON error and close: the request was
 * unreadable, so the bytes after it cannot be trusted as the next one. */
static void fail_request(struct impl *im, struct conn *c, int status, const char *msg)
{
    c->req = (struct http_request){ .minor = 1 };
    out_init(im, c, true);
    c->out.keep_alive = false;
    c->t0 = server_now_ms();
    server_send_error(&c->out, status, NULL, msg);
    account(im, c, "-", "-");
    begin_write(im, c);
}

/* Queue c for the model thread; false when the queue is full or closed. */
static bool enqueue(struct impl *im, struct conn *c)
{
    bool ok = false;
    pthread_mutex_lock(&im->mu);
    if (!im->model_done && im->q_n < im->o->queue) {
        im->queue[(im->q_head + im->q_n++) % im->o->queue] = c;
        atomic_store(&im->s->m.queue_depth, im->q_n);
        c->st = C_QUEUED;
        ok = true;
        pthread_cond_signal(&im->cv);
    }
    pthread_mutex_unlock(&im->mu);
    return ok;
}

/* The complete request in c: answer it here or queue it. */
static void dispatch(struct impl *im, struct conn *c)
{
    struct server *s = im->s;
    const struct http_request *r = &c->req;
    char allow[128], hdr[512];
    int status;
    out_init(im, c, true);
    c->t0 = server_now_ms();
    if (!strcmp(r->method, "OPTIONS")) {
        /* a CORS preflight: browsers send no credentials with it */
        const char *want = http_header(r, "Access-Control-Request-Headers");
        snprintf(hdr, sizeof hdr, "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: %s\r\nAccess-Control-Max-Age: 86400\r\n",
                 want && strlen(want) < 300 ? want : "*");
        http_send(&c->out, 200, NULL, hdr, "", 0);
    } else if (!(c->rt = routes_find(r->method, r->path, &status, allow, sizeof allow))) {
        if (status == 405) {
            snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
            server_error_with(&c->out, 405, hdr, "Method Not Allowed");
        } else {
            server_send_error(&c->out, 404, NULL, "File Not Found");
        }
    } else if (!server_authorized(s, c->rt, r)) {
        server_send_error(&c->out, 401, NULL, "Invalid API Key");
    } else if (!atomic_load(&s->ready) && !server_route_while_loading(c->rt)) {
        server_error_with(&c->out, 503, "Retry-After: 1\r\n", "Loading model");
    } else if (c->rt->model) {
        if (enqueue(im, c))
            return;
        server_error_with(&c->out, 503, "Retry-After: 1\r\n",
                                  atomic_load(&s->stopping) ? "the server is shutting down"
                                                            : "the request queue is full");
    } else {
        c->rt->fn(s, r, &c->out);
        if (!c->out.started)
            server_send_error(&c->out, 500, NULL, "the handler sent no response");
    }
    account(im, c, r->method, r->path);
    begin_write(im, c);
}

/* Parse and answer what c's buffer holds, request after request, until a
 * request is incomplete, queued, or its response cannot be sent at once. */
static void process(struct impl *im, struct conn *c)
{
    while (c->st == C_READ) {
        if (c->len == 0) {
            if (c->eof)
                start_linger(c);
            return;
        }
        struct tl_error err = { 0 };
        long n = http_parse(c->buf, c->len, &im->o->limits, &c->req, &err);
        if (n < 0) {
            fail_request(im, c, (int)-n, err.msg);
        } else if (n == 0) {
            if (c->req.head_len && c->req.expect_continue && !c->sent_continue) {
                c->sent_continue = true;
                send(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            if (c->eof)
                start_linger(c);
            return;
        } else {
            c->used = (size_t)n;
            c->sent_continue = false;
            dispatch(im, c);
        }
        if (c->st == C_WRITE) {
            int f = flush(c);
            if (f < 0)
                c->close_after = true;
            if (f != 0)
                next_request(im, c);
        }
    }
}

/* Read what the socket has. */
static void on_readable(struct impl *im, struct conn *c)
{
    for (;;) {
        if (c->len == c->cap) {
            if (c->cap >= im->buf_max)
                break;   /* the parser has refused anything larger by now */
            size_t ncap = c->cap ? c->cap * 2 : 4096;
            if (ncap > im->buf_max)
                ncap = im->buf_max;
            char *nb = realloc(c->buf, ncap);
            if (!nb) {
                c->close_after = true;
                start_linger(c);
                return;
            }
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (k > 0) {
            c->len += (size_t)k;
            continue;
        }
        if (k == 0)
            c->eof = true;
        else if (errno == EINTR)
            continue;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->eof = true;
        break;
    }
    process(im, c);
}

static void on_accept(struct impl *im)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(im->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (im->n_conns >= im->o->max_conns) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\nRetry-After: 1\r\n\r\n";
            send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->st = C_READ;
        c->deadline = server_now_ms() + (long long)im->o->timeout_s * 1000;
        char host[INET6_ADDRSTRLEN] = "?";
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        snprintf(c->peer, sizeof c->peer, "%s", host);
        im->conns[im->n_conns++] = c;
    }
}

/* Connections the model thread has finished with. */
static void take_back(struct impl *im)
{
    char drain[64];
    while (read(im->wake[0], drain, sizeof drain) > 0) {
    }
    pthread_mutex_lock(&im->mu);
    struct conn *back[64];
    int n = 0;
    while (im->n_done > 0 && n < 64)
        back[n++] = im->done[--im->n_done];
    pthread_mutex_unlock(&im->mu);
    if (n == 64)
        wake(im);   /* more are waiting: come back after this round */
    for (int i = 0; i < n; i++) {
        struct conn *c = back[i];
        c->close_after = !c->out.keep_alive || c->out.failed;
        next_request(im, c);
        process(im, c);
    }
}

/* Deadlines and shutdown. */
static void expire(struct impl *im, long long now, bool stopping)
{
    for (int i = 0; i < im->n_conns; i++) {
        struct conn *c = im->conns[i];
        if (stopping && c->st == C_READ) {
            start_linger(c);
            c->deadline = now;
        }
        if (stopping && c->st == C_WRITE && c->deadline > now + 2000)
            c->deadline = now + 2000;
        if (c->st == C_QUEUED || now < c->deadline)
            continue;
        if (c->st == C_READ && c->len > 0) {
            fail_request(im, c, 408, "request not received in time");
            if (flush(c) == 0)
                continue;
            c->close_after = true;
            next_request(im, c);
        } else if (c->st == C_READ || c->st == C_WRITE) {
            start_linger(c);
            c->deadline = now;
        }
        if (c->st == C_LINGER && now >= c->deadline)
            c->fd = -c->fd - 1;   /* marked: freed below */
    }
    int k = 0;
    for (int i = 0; i < im->n_conns; i++) {
        struct conn *c = im->conns[i];
        if (c->fd < 0) {
            c->fd = -c->fd - 1;
            conn_free(im, c);
        } else {
            im->conns[k++] = c;
        }
    }
    im->n_conns = k;
}

/* A lingering connection: discard input until EOF. */
static void on_linger(struct conn *c)
{
    char sink[4096];
    ssize_t k;
    while ((k = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0) {
    }
    if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        c->deadline = 0;
}

static void *io_main(void *arg)
{
    struct impl *im = arg;
    struct pollfd *pf = malloc(((size_t)im->o->max_conns + 2) * sizeof *pf);
    struct conn **pc = malloc(((size_t)im->o->max_conns + 2) * sizeof *pc);
    if (!pf || !pc) {
        free(pf);
        free(pc);
        atomic_store(&im->s->stopping, true);
        return NULL;
    }
    for (;;) {
        long long now = server_now_ms();
        bool stopping = atomic_load(&im->s->stopping);
        if (stopping && im->lfd >= 0) {
            close(im->lfd);
            im->lfd = -1;
        }
        expire(im, now, stopping);
        if (stopping && im->n_conns == 0)
            break;
        int n = 0;
        pf[n++] = (struct pollfd){ .fd = im->wake[0], .events = POLLIN };
        if (im->lfd >= 0)
            pf[n++] = (struct pollfd){ .fd = im->lfd, .events = POLLIN };
        int first = n;
        long long next = now + 1000;
        for (int i = 0; i < im->n_conns; i++) {
            struct conn *c = im->conns[i];
            if (c->st == C_QUEUED)
                continue;
            if (c->deadline < next)
                next = c->deadline;
            pc[n] = c;
            pf[n++] = (struct pollfd){ .fd = c->fd, .events = c->st == C_WRITE ? POLLOUT : POLLIN };
        }
        int wait = next > now ? (int)(next - now) : 0;
        if (poll(pf, (nfds_t)n, wait) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            take_back(im);
        if (im->lfd >= 0 && pf[1].revents)
            on_accept(im);
        for (int i = first; i < n; i++) {
            struct conn *c = pc[i];
            if (!pf[i].revents)
                continue;
            if (c->st == C_LINGER) {
                on_linger(c);
            } else if (c->st == C_WRITE) {
                int f = flush(c);
                if (f < 0)
                    c->close_after = true;
                if (f != 0) {
                    next_request(im, c);
                    process(im, c);
                }
            } else if (c->st == C_READ) {
                on_readable(im, c);
            }
        }
    }
    free(pf);
    free(pc);
    return NULL;
}

/* ---- the model thread ---- */

static void model_loop(struct impl *im)
{
    struct server *s = im->s;
    for (;;) {
        pthread_mutex_lock(&im->mu);
        while (im->q_n == 0 && !atomic_load(&s->stopping))
            pthread_cond_wait(&im->cv, &im->mu);
        if (im->q_n == 0) {
            im->model_done = true;
            pthread_mutex_unlock(&im->mu);
            return;
        }
        struct conn *c = im->queue[im->q_head];
        im->q_head = (im->q_head + 1) % im->o->queue;
        im->q_n--;
        atomic_store(&s->m.queue_depth, im->q_n);
        pthread_mutex_unlock(&im->mu);

        c->out.sink = NULL;
        json_buf_free(&c->wbuf);
        if (atomic_load(&s->stopping)) {
            c->out.keep_alive = false;
            server_error_with(&c->out, 503, "Retry-After: 1\r\n", "the server is shutting down");
        } else {
            atomic_store(&s->m.busy, 1);
            c->rt->fn(s, &c->req, &c->out);
            atomic_store(&s->m.busy, 0);
            if (!c->out.started)
                server_send_error(&c->out, 500, NULL, "the handler sent no response");
            else if (c->out.chunked)
                c->out.keep_alive = false;   /* a stream the handler left open */
        }
        account(im, c, c->req.method, c->req.path);

        pthread_mutex_lock(&im->mu);
        im->done[im->n_done++] = c;
        pthread_mutex_unlock(&im->mu);
        wake(im);
    }
}

/* ---- signals ---- */

static void *signal_main(void *arg)
{
    struct impl *im = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    sigwait(&set, &sig);
    pthread_mutex_lock(&im->mu);
    bool quit = im->sig_quit;
    atomic_store(&im->s->stopping, true);
    pthread_cond_broadcast(&im->cv);
    pthread_mutex_unlock(&im->mu);
    if (!quit && !im->o->quiet)
        fprintf(stderr, "tinyllm: %s: finishing the running request, then exiting\n",
                sig == SIGINT ? "interrupt" : "terminated");
    wake(im);
    return NULL;
}

/* ---- listening ---- */

static int listen_on(struct impl *im, struct tl_error *err)
{
    const struct server_opts *o = im->o;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc)
        return tl_fail(err, TL_EINVAL, "--host %s: %s", o->host, gai_strerror(rc));
    int fd = -1, why = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            why = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 512)) {
            why = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return tl_fail(err, TL_EIO, "cannot listen on %s:%d: %s", o->host, o->port, strerror(why));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char host[INET6_ADDRSTRLEN] = "?";
    int p = 0;
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    /* tests and scripts read the port from this line */
    fprintf(stderr, "tinyllm: listening on http://%s%s%s:%d\n", ss.ss_family == AF_INET6 ? "[" : "", host,
            ss.ss_family == AF_INET6 ? "]" : "", p);
    im->lfd = fd;
    return TL_OK;
}

/* ---- lifecycle ---- */

static int impl_init(struct impl *im, struct server *s, const struct server_opts *o, struct tl_error *err)
{
    memset(im, 0, sizeof *im);
    im->s = s;
    im->o = o;
    im->lfd = im->wake[0] = im->wake[1] = -1;
    const struct http_limits *l = &o->limits;
    im->buf_max = l->max_line + l->max_headers + 2 * l->max_body + 65536 + 4096;
    im->conns = calloc((size_t)o->max_conns, sizeof *im->conns);
    im->done = calloc((size_t)o->max_conns, sizeof *im->done);
    im->queue = calloc((size_t)o->queue, sizeof *im->queue);
    if (!im->conns || !im->done || !im->queue)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    if (pipe2(im->wake, O_NONBLOCK | O_CLOEXEC))
        return tl_fail(err, TL_EIO, "pipe: %s", strerror(errno));
    pthread_mutex_init(&im->mu, NULL);
    pthread_cond_init(&im->cv, NULL);
    return TL_OK;
}

static void impl_free(struct impl *im)
{
    for (int i = 0; i < im->n_conns; i++)
        conn_free(im, im->conns[i]);
    if (im->lfd >= 0)
        close(im->lfd);
    if (im->wake[0] >= 0) {
        close(im->wake[0]);
        close(im->wake[1]);
        pthread_mutex_destroy(&im->mu);
        pthread_cond_destroy(&im->cv);
    }
    free(im->conns);
    free(im->done);
    free(im->queue);
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Open the engine and choose the chat template (/props shows it). */
static int load(struct server *s, char **tmpl, struct tl_error *err)
{
    const struct server_opts *o = s->o;
    int rc = engine_open(&s->e, &o->eng, err);
    if (rc)
        return rc;
    struct chat c;
    if ((rc = chat_init(&c, &s->e, &o->chat, err))) {
        engine_close(&s->e);
        return rc;
    }
    if (o->verbose)
        fprintf(stderr, "tinyllm: %s\n", c.tmpl.why);
    if (c.tmpl.warning[0] && !o->quiet)
        fprintf(stderr, "tinyllm: warning: %s\n", c.tmpl.warning);
    *tmpl = malloc(c.tmpl.len + 1);
    if (*tmpl) {
        memcpy(*tmpl, c.tmpl.text, c.tmpl.len);
        (*tmpl)[c.tmpl.len] = 0;
        s->chat_template = *tmpl;
        s->chat_template_len = c.tmpl.len;
    }
    chat_free(&c);
    if (!*tmpl) {
        engine_close(&s->e);
        return tl_fail(err, TL_ENOMEM, "out of memory");
    }
    s->created = (int64_t)time(NULL);
    return TL_OK;
}

int server_run(const struct server_opts *o, struct tl_error *err)
{
    struct server *s = calloc(1, sizeof *s);
    struct impl im;
    char *tmpl = NULL;
    if (!s)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    s->o = o;
    s->model_name = o->alias ? o->alias : base_name(o->eng.model_path);
    s->impl = &im;
    int rc = impl_init(&im, s, o, err);
    /* SIGINT/SIGTERM go to the signal thread only: every thread made from
     * here on (the engine's pool too) inherits the block */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_t io, sig;
    bool io_started = false, sig_started = false;
    if (rc == TL_OK)
        rc = listen_on(&im, err);
    if (rc == TL_OK && !(rc = pthread_create(&sig, NULL, signal_main, &im)))
        sig_started = true;
    if (rc == TL_OK && !(rc = pthread_create(&io, NULL, io_main, &im)))
        io_started = true;
    if (rc > 0 && !err->msg[0])
        rc = tl_fail(err, TL_EIO, "cannot start the server's threads");
    bool loaded = false;
    if (rc == TL_OK && (rc = load(s, &tmpl, err)) == TL_OK) {
        loaded = true;
        atomic_store(&s->ready, true);
        if (!o->quiet)
            fprintf(stderr, "tinyllm: model %s loaded, n_ctx %d, %d threads\n", s->model_name,
                    s->e.st.n_ctx, s->e.n_threads);
    }
    if (rc == TL_OK)
        model_loop(&im);
    /* a load failure or a clean stop: end every thread */
    if (sig_started) {
        pthread_mutex_lock(&im.mu);
        im.sig_quit = true;
        atomic_store(&s->stopping, true);
        im.model_done = true;
        pthread_cond_broadcast(&im.cv);
        pthread_mutex_unlock(&im.mu);
        pthread_kill(sig, SIGTERM);
        pthread_join(sig, NULL);
    }
    if (io_started) {
        wake(&im);
        pthread_join(io, NULL);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (loaded)
        engine_close(&s->e);
    impl_free(&im);
    free(tmpl);
    free(s);
    return rc;
}
