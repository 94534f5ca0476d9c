/* server/api_openai.c: OpenAI's /v1 API: chat completions (messages through
 * the chat template as `run --chat` renders them), completions (with echo
 * and the legacy logprobs object) and the model list. Streams are SSE:
 * `data: {chunk}\n\n` per piece, a final chunk with finish_reason, an
 * optional usage chunk, then `data: [DONE]\n\n`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "server/request.h"

#define FINGERPRINT "tinyllm-" TINYLLM_VERSION

/* One request's answer as it is built or streamed. */
struct oai {
    struct server   *s;
    struct http_out *out;
    bool   chat, stream, usage;
    bool   logprobs;          /* chat: logprobs.content entries; completions: the legacy object */
    int    n_top;
    char   id[48];
    long long created;
    struct json_buf text;     /* the answer (not streaming) */
    struct json_buf lp;       /* chat: content entries; streaming: those not sent yet */
    struct json_buf ltok, llp, ltop, loff;   /* completions: the legacy lists, same rule */
    int    n_lp;              /* entries in lp (or in each legacy list) */
    long long offset;         /* text_offset of the next token */
    char  *piece;             /* scratch for the alternatives' pieces */
    size_t cap;
    struct gen_params p;      /* the request's sampling and lengths */
    struct req_stops  stops;  /* p.stops points into it */
    int32_t *ids;             /* the prompt's tokens [n_ids] (heap) */
    int      n_ids;
};

static void oai_error(struct http_out *out, int status, const char *param, const char *msg,
                      const char *code)
{
    const char *type = status == 401 ? "authentication_error" : status == 404 ? "not_found_error"
                     : status >= 500 ? "server_error" : "invalid_request_error";
    struct json_buf b = { 0 };
    json_buf_puts(&b, "{\"error\":{\"message\":");
    jw_cstr(&b, msg);
    jw_fmt(&b, ",\"type\":\"%s\",\"param\":", type);
    if (param && *param)
        jw_cstr(&b, param);
    else
        json_buf_puts(&b, "null");
    json_buf_puts(&b, ",\"code\":");
    if (code)
        jw_cstr(&b, code);
    else
        json_buf_puts(&b, "null");
    json_buf_puts(&b, "}}");
    api_send_json(out, status, &b);
}

static void req_error(struct http_out *out, const struct req *q)
{
    oai_error(out, q->status, q->param, q->msg,
              strstr(q->msg, "but the context holds") ? "context_length_exceeded" : NULL);
}

/* piece of id into g->piece; its length */
static size_t piece_of(struct oai *g, int32_t id)
{
    size_t len = 0;
    struct tl_error err;
    if (cli_piece(&g->s->e.tok, id, &g->piece, &g->cap, &len, &err))
        return 0;
    return len;
}

/* {"token":..,"logprob":..,"bytes":[..]} without the closing brace */
static void chat_entry(void *ctx, struct json_buf *b, int32_t id, float logprob)
{
    struct oai *g = ctx;
    size_t n = piece_of(g, id);
    json_buf_puts(b, "{\"token\":");
    jw_str(b, g->piece, n);
    json_buf_puts(b, ",\"logprob\":");
    jw_num(b, logprob);
    json_buf_puts(b, ",\"bytes\":");
    jw_bytes(b, g->piece, n);
}

/* A token's logprobs entry; first: a prompt's first token (no logprob). */
static void add_entry(struct oai *g, const struct gen_token *t, bool first)
{
    const char *sep = g->n_lp ? "," : "";
    g->n_lp++;
    if (g->chat) {
        json_buf_puts(&g->lp, sep);
        jw_token_with_top(&g->lp, t, chat_entry, g);
        return;
    }
    size_t n = piece_of(g, t->id);
    json_buf_puts(&g->ltok, sep);
    jw_str(&g->ltok, g->piece, n);
    jw_fmt(&g->loff, "%s%lld", sep, g->offset);
    g->offset += (long long)n;
    json_buf_puts(&g->llp, sep);
    json_buf_puts(&g->ltop, sep);
    if (first) {
        json_buf_puts(&g->llp, "null");
        json_buf_puts(&g->ltop, "null");
        return;
    }
    jw_num(&g->llp, t->logprob);
    json_buf_puts(&g->ltop, "{");
    for (int i = 0; i < t->n_top; i++) {
        json_buf_puts(&g->ltop, i ? "," : "");
        n = piece_of(g, t->top[i].id);
        jw_str(&g->ltop, g->piece, n);
        json_buf_puts(&g->ltop, ":");
        jw_num(&g->ltop, t->top[i].logprob);
    }
    json_buf_puts(&g->ltop, "}");
}

/* The pending entries as the value of "logprobs", then empty them. */
static void put_logprobs(struct oai *g, struct json_buf *b)
{
    if (!g->logprobs) {
        json_buf_puts(b, "null");
        return;
    }
    if (g->chat) {
        json_buf_puts(b, "{\"content\":[");
        if (g->lp.p)
            json_buf_put(b, g->lp.p, g->lp.len);
        json_buf_puts(b, "],\"refusal\":null}");
    } else {
        struct json_buf *l[4] = { &g->ltok, &g->llp, &g->ltop, &g->loff };
        static const char *const keys[4] = { "tokens", "token_logprobs", "top_logprobs", "text_offset" };
        for (int i = 0; i < 4; i++) {
            jw_fmt(b, "%s\"%s\":[", i ? "," : "{", keys[i]);
            if (l[i]->p)
                json_buf_put(b, l[i]->p, l[i]->len);
            json_buf_puts(b, "]");
            l[i]->len = 0;
        }
        json_buf_puts(b, "}");
    }
    g->lp.len = 0;
    g->n_lp = 0;
}

static void put_head(struct oai *g, struct json_buf *b, const char *object)
{
    json_buf_puts(b, "{\"id\":");
    jw_cstr(b, g->id);
    jw_fmt(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object, g->created);
    jw_cstr(b, g->s->model_name);
    json_buf_puts(b, ",\"system_fingerprint\":\"" FINGERPRINT "\",\"choices\":[");
}

static int send_event(struct oai *g, struct json_buf *b)
{
    int rc = b->overflow || b->nomem ? TL_ENOMEM : http_stream_write(g->out, b->p, b->len);
    json_buf_free(b);
    return rc;
}

/* One SSE chunk: text (NULL: none), the chat role on the first, the
 * finish reason on the last. */
static int send_chunk(struct oai *g, const char *text, size_t n, bool role, const char *finish)
{
    struct json_buf b = { 0 };
    json_buf_puts(&b, "data: ");
    put_head(g, &b, g->chat ? "chat.completion.chunk" : "text_completion");
    json_buf_puts(&b, "{\"index\":0,");
    if (g->chat) {
        json_buf_puts(&b, "\"delta\":{");
        if (role)
            json_buf_puts(&b, "\"role\":\"assistant\"");
        if (text) {
            json_buf_puts(&b, role ? ",\"content\":" : "\"content\":");
            jw_str(&b, text, n);
        }
        json_buf_puts(&b, "}");
    } else {
        json_buf_puts(&b, "\"text\":");
        jw_str(&b, text ? text : "", text ? n : 0);
    }
    json_buf_puts(&b, ",\"logprobs\":");
    if (g->n_lp)
        put_logprobs(g, &b);
    else
        json_buf_puts(&b, "null");
    json_buf_puts(&b, ",\"finish_reason\":");
    jw_fmt(&b, finish ? "\"%s\"" : "null", finish);
    json_buf_puts(&b, "}]");
    if (g->usage)
        json_buf_puts(&b, ",\"usage\":null");
    json_buf_puts(&b, "}\n\n");
    return send_event(g, &b);
}

static void put_usage(struct json_buf *b, const struct gen_result *r)
{
    jw_fmt(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
           "\"prompt_tokens_details\":{\"cached_tokens\":%d}}", r->n_prompt, r->n_gen,
           r->n_prompt + r->n_gen, r->n_cached);
}

static int on_text(void *ctx, const char *s, size_t n)
{
    struct oai *g = ctx;
    if (!g->stream)
        return !json_buf_put(&g->text, s, n);
    return send_chunk(g, s, n, false, NULL);
}

static int on_token(void *ctx, const struct gen_token *t)
{
    struct oai *g = ctx;
    if (g->logprobs)
        add_entry(g, t, false);
    return g->lp.nomem || g->ltop.nomem;
}

static int on_prompt_token(void *ctx, const struct gen_token *t)
{
    add_entry(ctx, t, false);
    return 0;
}

/* The end of a stream: the finish chunk, the usage chunk, [DONE]. */
static void finish_stream(struct oai *g, const struct gen_result *r)
{
    if (send_chunk(g, NULL, 0, false, gen_finish_reason(r->finish)))
        return;
    if (g->usage) {
        struct json_buf b = { 0 };
        json_buf_puts(&b, "data: ");
        put_head(g, &b, g->chat ? "chat.completion.chunk" : "text_completion");
        json_buf_puts(&b, "],");
        put_usage(&b, r);
        json_buf_puts(&b, ",");
        jw_timings(&b, r);
        json_buf_puts(&b, "}\n\n");
        if (send_event(g, &b))
            return;
    }
    if (http_stream_write(g->out, "data: [DONE]\n\n", 14) == TL_OK)
        http_stream_end(g->out);
}

static void send_whole(struct oai *g, const struct gen_result *r, const char *echo, size_t echo_len)
{
    struct json_buf b = { 0 };
    put_head(g, &b, g->chat ? "chat.completion" : "text_completion");
    json_buf_puts(&b, "{\"index\":0,");
    json_buf_puts(&b, g->chat ? "\"message\":{\"role\":\"assistant\",\"content\":" : "\"text\":");
    struct json_buf all = { 0 };
    json_buf_put(&all, echo, echo_len);
    if (g->text.p)
        json_buf_put(&all, g->text.p, g->text.len);
    jw_str(&b, all.p, all.len);
    json_buf_free(&all);
    json_buf_puts(&b, g->chat ? "}," : ",");
    json_buf_puts(&b, "\"logprobs\":");
    put_logprobs(g, &b);
    jw_fmt(&b, ",\"finish_reason\":\"%s\"}],", gen_finish_reason(r->finish));
    put_usage(&b, r);
    json_buf_puts(&b, ",");
    jw_timings(&b, r);
    json_buf_puts(&b, "}");
    api_send_json(g->out, 200, &b);
}

static void oai_free(struct oai *g)
{
    json_buf_free(&g->text);
    json_buf_free(&g->lp);
    json_buf_free(&g->ltok);
    json_buf_free(&g->llp);
    json_buf_free(&g->ltop);
    json_buf_free(&g->loff);
    free(g->piece);
    free(g->ids);
}

/* Generate and answer; echo: the prompt text to put first (completions). */
/* Generate for the prompt g->ids with g->p and send the answer, echo first. */
static void oai_run(struct oai *g, const char *echo, size_t echo_len)
{
    const int32_t *ids = g->ids;
    const struct gen_params *p = &g->p;
    struct tl_error err = { 0 };
    struct gen_result r;
    struct gen_sink sink = { on_text, on_token, on_prompt_token, NULL, g };
    g->offset = (long long)echo_len;
    if (p->prompt_logprobs) {   /* the first prompt token has no logprob */
        struct gen_token t0 = { .id = ids[0] };
        g->offset = 0;
        add_entry(g, &t0, true);
    }
    if (g->stream) {
        if (http_stream_begin(g->out, 200, "text/event-stream", "Cache-Control: no-cache\r\n"))
            return;
        if (g->chat ? send_chunk(g, "", 0, true, NULL) : echo_len && send_chunk(g, echo, echo_len, false, NULL))
            return;
    }
    if (api_generate(g->s, g->out, ids, g->n_ids, p, &sink, &r, &err)) {
        if (!g->stream) {
            oai_error(g->out, 500, NULL, err.msg, NULL);
        } else {
            struct json_buf b = { 0 };
            json_buf_puts(&b, "data: {\"error\":{\"message\":");
            jw_cstr(&b, err.msg);
            json_buf_puts(&b, ",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
            if (send_event(g, &b) == TL_OK)
                http_stream_end(g->out);
        }
        return;
    }
    if (g->stream)
        finish_stream(g, &r);
    else
        send_whole(g, &r, echo, echo_len);
}

/* Fields both endpoints take: sampling, stop, stream, and those refused. */
static bool decode_common(struct req *q, struct oai *g)
{
    struct gen_params *p = &g->p;
    struct req_stops *stops = &g->stops;
    const struct json_value *o = &q->root, *so = NULL;
    struct sampler_params *sp = &p->sp;
    if (!req_float(q, o, "", "temperature", 0, 2, &sp->temp) || !req_float(q, o, "", "top_p", 0, 1, &sp->top_p) ||
        !req_int(q, o, "", "top_k", 0, 1 << 30, &sp->top_k) || !req_float(q, o, "", "min_p", 0, 1, &sp->min_p) ||
        !req_float(q, o, "", "repeat_penalty", 0, 10, &sp->repeat_penalty) ||
        !req_float(q, o, "", "presence_penalty", -2, 2, &sp->presence_penalty) ||
        !req_float(q, o, "", "frequency_penalty", -2, 2, &sp->frequency_penalty) ||
        !req_seed(q, o, "", "seed", &sp->seed) || !req_stops(q, o, "", "stop", stops) ||
        !req_int(q, o, "", "max_tokens", -1, 1 << 30, &p->n_predict) ||
        !req_bool(q, o, "", "stream", &g->stream) || !req_obj(q, o, "", "stream_options", &so) ||
        !req_bool(q, so, "stream_options.", "include_usage", &g->usage) ||
        !req_refuse(q, o, "", "n", "1") || !req_refuse(q, o, "", "logit_bias", "{}") ||
        !req_refuse(q, o, "", "tools", "[]") || !req_refuse(q, o, "", "tool_choice", "\"none\"") ||
        !req_refuse(q, o, "", "functions", "[]") || !req_refuse(q, o, "", "function_call", "\"none\"") ||
        !req_refuse(q, o, "", "audio", NULL) || !req_refuse(q, o, "", "prediction", NULL) ||
        !req_refuse(q, o, "", "best_of", "1") || !req_refuse(q, o, "", "suffix", "\"\""))
        return false;
    const struct json_value *rf = json_get(o, "response_format"), *t = rf ? json_get(rf, "type") : NULL;
    if (rf && rf->type != JSON_NULL &&
        !(rf->type == JSON_OBJECT && rf->v.obj.n == 1 && t && t->type == JSON_STRING && !strcmp(t->v.str.s, "text")))
        return req_fail(q, 400, "response_format", "'response_format' other than {\"type\":\"text\"} is not "
                        "supported by this server");
    if (g->usage && !g->stream)
        return req_fail(q, 400, "stream_options", "'stream_options' needs \"stream\": true");
    p->stops = stops->v;
    p->n_stops = stops->n;
    return true;
}

/* g for one request: its id, the server's sampling defaults, no prompt yet. */
static void oai_init(struct oai *g, struct server *s, struct http_out *out, bool chat)
{
    memset(g, 0, sizeof *g);
    g->s = s;
    g->out = out;
    g->chat = chat;
    g->created = (long long)time(NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(g->id, sizeof g->id, "%s%llx%lx", chat ? "chatcmpl-" : "cmpl-",
             (unsigned long long)atomic_load(&s->m.requests), (long)ts.tv_nsec);
    req_gen_defaults(s, &g->p);
}

static void chat_completions(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct req q;
    struct oai g;
    oai_init(&g, s, out, true);
    if (req_parse(&q, req) && decode_common(&q, &g) &&
        req_int(&q, &q.root, "", "max_completion_tokens", -1, 1 << 30, &g.p.n_predict) &&
        req_bool(&q, &q.root, "", "logprobs", &g.logprobs) &&
        req_int(&q, &q.root, "", "top_logprobs", 0, GEN_MAX_TOP, &g.n_top) &&
        req_refuse(&q, &q.root, "", "modalities", NULL) && req_refuse(&q, &q.root, "", "reasoning_effort", NULL) &&
        (g.logprobs || !g.n_top || req_fail(&q, 400, "top_logprobs", "'top_logprobs' needs \"logprobs\": true")))
        req_messages(&q, s, json_get(&q.root, "messages"), "messages", &g.ids, &g.n_ids);
    if (q.status) {
        req_error(out, &q);
    } else {
        g.p.logprobs = g.logprobs;
        g.p.n_top = g.n_top;
        oai_run(&g, "", 0);
    }
    oai_free(&g);
    req_free(&q);
}

/* The prompt's text for echo: the string sent, or its tokens' pieces. */
static char *echo_text(struct oai *g, const struct json_value *v, const int32_t *ids, int n, size_t *len)
{
    struct json_buf b = { 0 };
    json_buf_put(&b, "", 0);
    if (v->type == JSON_ARRAY && v->v.arr.n == 1 && v->v.arr.items[0].type == JSON_STRING)
        v = &v->v.arr.items[0];
    if (v->type == JSON_STRING)
        json_buf_put(&b, v->v.str.s, v->v.str.len);
    else
        for (int i = 0; i < n; i++) {
            size_t k = piece_of(g, ids[i]);   /* may move g->piece */
            json_buf_put(&b, g->piece, k);
        }
    *len = b.len;
    return b.p;
}

static void completions(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct req q;
    struct oai g;
    int logprobs = -1;
    bool echo = false;
    oai_init(&g, s, out, false);
    if (req_parse(&q, req) && decode_common(&q, &g) &&
        req_int(&q, &q.root, "", "logprobs", 0, GEN_MAX_TOP, &logprobs) &&
        req_bool(&q, &q.root, "", "echo", &echo))
        req_prompt(&q, s, json_get(&q.root, "prompt"), "prompt", &g.ids, &g.n_ids);
    if (q.status) {
        req_error(out, &q);
    } else {
        size_t elen = 0;
        char *etext = echo ? echo_text(&g, json_get(&q.root, "prompt"), g.ids, g.n_ids, &elen) : NULL;
        g.logprobs = g.p.logprobs = logprobs >= 0;
        g.n_top = g.p.n_top = logprobs > 0 ? logprobs : 0;
        g.p.prompt_logprobs = echo && g.logprobs;
        oai_run(&g, etext ? etext : "", elen);
        free(etext);
    }
    oai_free(&g);
    req_free(&q);
}

static void models(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct json_buf b = { 0 };
    json_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    jw_cstr(&b, s->model_name);
    jw_fmt(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"tinyllm\"}]}", (long long)s->created);
    api_send_json(out, 200, &b);
}

const struct route openai_routes[] = {
    { "POST", "/v1/chat/completions", chat_completions, true },
    { "POST", "/v1/completions", completions, true },
    { "GET", "/v1/models", models, false },
    { 0 },
};
