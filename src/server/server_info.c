/* server/server_info.c: the server's own routes (GET /health, /metrics in
 * Prometheus text, /props in llama-server's shape), the generic JSON
 * error, and the access rules (API key, what answers while loading). */
#include <stdio.h>
#include <string.h>

#include "server/server_impl.h"

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static int send_error(struct http_out *out, int status, const char *type, const char *extra,
                      const char *msg)
{
    struct json_buf b = { .max = 1 << 16 };
    char code[32];
    snprintf(code, sizeof code, "{\"error\":{\"code\":%d,\"message\":", status);
    json_buf_puts(&b, code);
    json_buf_put_string(&b, msg, json_utf8_prefix(msg, strlen(msg)), false);
    json_buf_puts(&b, ",\"type\":");
    json_buf_put_string(&b, type ? type : error_type(status), strlen(type ? type : error_type(status)), false);
    json_buf_puts(&b, "}}");
    int rc = b.overflow || b.nomem ? http_send(out, status, "application/json", extra, "{}", 2)
                                   : http_send(out, status, "application/json", extra, b.p, b.len);
    json_buf_free(&b);
    return rc;
}

int server_send_error(struct http_out *out, int status, const char *type, const char *msg)
{
    return send_error(out, status, type, NULL, msg);
}

int server_error_with(struct http_out *out, int status, const char *extra_headers, const char *msg)
{
    return send_error(out, status, NULL, extra_headers, msg);
}

static void health(struct server *s, const struct http_request *r, struct http_out *out)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    /* both shapes clients read: llama-server's error object and a status */
    static const char loading[] = "{\"status\":\"loading model\",\"error\":{\"code\":503,"
                                  "\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}";
    if (atomic_load(&s->ready))
        http_send(out, 200, "application/json", NULL, ok, sizeof ok - 1);
    else
        http_send(out, 503, "application/json", "Retry-After: 1\r\n", loading, sizeof loading - 1);
}

static void metric(struct json_buf *b, const char *name, const char *type, const char *help, double v)
{
    char line[512];
    snprintf(line, sizeof line, "# HELP tinyllm:%s %s\n# TYPE tinyllm:%s %s\ntinyllm:%s %.10g\n", name, help,
             name, type, name, v);
    json_buf_puts(b, line);
}

static void metrics(struct server *s, const struct http_request *r, struct http_out *out)
{
    const struct server_metrics *m = &s->m;
    double pt = (double)atomic_load(&m->prompt_tokens), gt = (double)atomic_load(&m->gen_tokens);
    double ps = (double)atomic_load(&m->prompt_us) * 1e-6, gs = (double)atomic_load(&m->gen_us) * 1e-6;
    struct json_buf b = { 0 };
    metric(&b, "requests_total", "counter", "Requests answered.", (double)atomic_load(&m->requests));
    metric(&b, "requests_failed_total", "counter", "Requests answered with a 4xx or 5xx status.",
           (double)atomic_load(&m->requests_failed));
    metric(&b, "prompt_tokens_total", "counter", "Number of prompt tokens processed.", pt);
    metric(&b, "prompt_seconds_total", "counter", "Prompt process time.", ps);
    metric(&b, "tokens_predicted_total", "counter", "Number of generation tokens processed.", gt);
    metric(&b, "tokens_predicted_seconds_total", "counter", "Predict process time.", gs);
    metric(&b, "prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.", ps > 0 ? pt / ps : 0);
    metric(&b, "predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
           gs > 0 ? gt / gs : 0);
    metric(&b, "requests_processing", "gauge", "Number of requests processing.", (double)atomic_load(&m->busy));
    metric(&b, "requests_deferred", "gauge", "Number of requests waiting in the queue.",
           (double)atomic_load(&m->queue_depth));
    if (b.nomem)
        server_send_error(out, 500, NULL, "out of memory");
    else
        http_send(out, 200, "text/plain; version=0.0.4", NULL, b.p, b.len);
    json_buf_free(&b);
}

static void put_num(struct json_buf *b, const char *key, double v)
{
    char t[96];
    snprintf(t, sizeof t, ",\"%s\":%.7g", key, v);
    json_buf_puts(b, t);
}

static void props(struct server *s, const struct http_request *r, struct http_out *out)
{
    const struct server_opts *o = s->o;
    const struct sampler_params *sp = &o->sp;
    struct json_buf b = { 0 };
    char t[64];
    snprintf(t, sizeof t, "{\"default_generation_settings\":{\"n_ctx\":%d", s->e.st.n_ctx);
    json_buf_puts(&b, t);
    json_buf_puts(&b, ",\"model\":");
    json_buf_put_string(&b, s->model_name, strlen(s->model_name), false);
    json_buf_puts(&b, ",\"params\":{\"n_predict\":");
    snprintf(t, sizeof t, "%d", o->n_predict);
    json_buf_puts(&b, t);
    put_num(&b, "temperature", sp->temp);
    put_num(&b, "top_k", sp->top_k);
    put_num(&b, "top_p", sp->top_p);
    put_num(&b, "min_p", sp->min_p);
    put_num(&b, "repeat_penalty", sp->repeat_penalty);
    put_num(&b, "repeat_last_n", sp->repeat_last_n);
    snprintf(t, sizeof t, ",\"seed\":%llu}},\"total_slots\":1,\"model_path\":", (unsigned long long)sp->seed);
    json_buf_puts(&b, t);
    const char *mp = o->eng.model_path;
    json_buf_put_string(&b, mp, json_utf8_prefix(mp, strlen(mp)), false);
    json_buf_puts(&b, ",\"chat_template\":");
    json_buf_put_string(&b, s->chat_template, json_utf8_prefix(s->chat_template, s->chat_template_len), false);
    json_buf_puts(&b, ",\"build_info\":\"tinyllm " TINYLLM_VERSION "\"}");
    if (b.nomem)
        server_send_error(out, 500, NULL, "out of memory");
    else
        http_send(out, 200, "application/json", NULL, b.p, b.len);
    json_buf_free(&b);
}

const struct route server_routes[] = {
    { "GET", "/health", health, false },
    { "GET", "/metrics", metrics, false },
    { "GET", "/props", props, false },
    { 0 },
};

bool server_route_while_loading(const struct route *rt)
{
    if (rt->fn == health || rt->fn == metrics)
        return true;
    for (const struct route *p = page_routes; p->path; p++)
        if (p == rt)
            return true;
    return false;
}

bool server_authorized(const struct server *s, const struct route *rt, const struct http_request *r)
{
    const char *key = s->o->api_key;
    if (!key || rt->fn == health)
        return true;
    for (const struct route *p = page_routes; p->path; p++)
        if (p == rt)
            return true;
    const char *got = http_header(r, "Authorization");
    if (!got || strncasecmp(got, "Bearer ", 7))
        return false;
    got += 7;
    size_t n = strlen(key), m = strlen(got);
    unsigned diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < m ? got[i] : 0);
    return diff == 0;
}
