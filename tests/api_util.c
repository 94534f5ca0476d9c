/* api_util.c: the in-process API driver behind api_util.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_util.h"

int api_server_open(struct api_server *a, const char *model, int n_ctx, const char *tmpl)
{
    struct tl_error err = { 0 };
    memset(a, 0, sizeof *a);
    a->o.eng.model_path = model;
    a->o.eng.n_ctx = n_ctx;
    a->o.eng.n_threads = 1;
    a->o.sp = sampler_defaults();
    a->o.chat.template_name = tmpl;
    a->o.n_predict = -1;
    a->s.o = &a->o;
    a->s.model_name = "test-model";
    a->s.created = 1700000000;
    if (engine_open(&a->s.e, &a->o.eng, &err))
        return err.code;
    atomic_store(&a->s.ready, true);
    a->open = true;
    return TL_OK;
}

void api_server_close(struct api_server *a)
{
    if (a->open) {
        engine_close(&a->s.e);
        gen_cache_free(&a->s.kv);
    }
    a->open = false;
}

static const struct route *find_route(const char *method, const char *path)
{
    const struct route *tables[] = { openai_routes, ollama_routes, llamacpp_routes };
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct route *r = tables[t]; r->path; r++)
            if (!strcmp(r->method, method) && !strcmp(r->path, path))
                return r;
    return NULL;
}

struct reader { int fd; char *buf; size_t len, cap; };

static void *read_all(void *arg)
{
    struct reader *rd = arg;
    for (;;) {
        if (rd->len + 4096 + 1 > rd->cap) {
            rd->cap = rd->cap ? 2 * rd->cap : 65536;
            rd->buf = realloc(rd->buf, rd->cap);
        }
        ssize_t n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len - 1);
        if (n <= 0)
            break;
        rd->len += (size_t)n;
    }
    rd->buf[rd->len] = 0;
    return NULL;
}

/* de-chunk s in place; returns the body length */
static size_t dechunk(char *s)
{
    char *in = s, *out = s;
    for (;;) {
        char *end;
        unsigned long n = strtoul(in, &end, 16);
        if (end == in || strncmp(end, "\r\n", 2))
            break;
        in = end + 2;
        if (!n)
            break;
        memmove(out, in, n);
        out += n;
        in += n + 2;
    }
    *out = 0;
    return (size_t)(out - s);
}

int api_call(struct api_server *a, const char *method, const char *path, const char *body,
             struct api_resp *r)
{
    memset(r, 0, sizeof *r);
    const struct route *rt = find_route(method, path);
    if (!rt) {
        r->status = 404;
        r->head = strdup("");
        r->body = strdup("");
        return 404;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        return -1;
    struct reader rd = { .fd = sv[1] };
    pthread_t th;
    pthread_create(&th, NULL, read_all, &rd);
    struct http_request req = { .method = method, .path = path, .query = "", .minor = 1,
                                .body = body ? body : "", .body_len = body ? strlen(body) : 0,
                                .keep_alive = true };
    struct http_out out = { .fd = sv[0], .timeout_ms = 10000, .keep_alive = true };
    rt->fn(&a->s, &req, &out);
    shutdown(sv[0], SHUT_WR);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
    char *sep = strstr(rd.buf, "\r\n\r\n");
    if (!sep) {
        free(rd.buf);
        return -1;
    }
    *sep = 0;
    r->head = strdup(rd.buf);
    r->status = atoi(rd.buf + 9);
    r->chunked = strstr(r->head, "Transfer-Encoding: chunked") != NULL;
    r->body = strdup(sep + 4);
    free(rd.buf);
    r->body_len = r->chunked ? dechunk(r->body) : strlen(r->body);
    if (json_parse(r->body, r->body_len, &r->json, NULL))
        r->json.type = JSON_NULL;
    return r->status;
}

void api_resp_free(struct api_resp *r)
{
    free(r->head);
    free(r->body);
    json_free(&r->json);
    memset(r, 0, sizeof *r);
}

const struct json_value *api_jpath(const struct json_value *v, const char *path)
{
    char key[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        path += n + (path[n] == '.');
        if (v->type == JSON_ARRAY) {
            size_t i = (size_t)atol(key);
            v = i < v->v.arr.n ? &v->v.arr.items[i] : NULL;
        } else {
            v = json_get(v, key);
        }
    }
    return v;
}

const char *api_jstr(const struct json_value *v, const char *path)
{
    v = api_jpath(v, path);
    return v && v->type == JSON_STRING ? v->v.str.s : "";
}

long long api_jint(const struct json_value *v, const char *path)
{
    v = api_jpath(v, path);
    return v && v->type == JSON_INT ? v->v.i : -12345;
}
