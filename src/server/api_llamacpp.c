/* server/api_llamacpp.c: llama.cpp's llama-server API: /completion (its
 * field names; streams are SSE `data: {...}\n\n` with no [DONE], the last
 * event the whole result with stop true), /tokenize and /detokenize (on the
 * I/O thread: they only read the tokenizer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/request.h"

static void lc_error(struct http_out *out, int status, const char *msg)
{
    struct json_buf b = { 0 };
    jw_fmt(&b, "{\"error\":{\"code\":%d,\"message\":", status);
    jw_cstr(&b, msg);
    jw_fmt(&b, ",\"type\":\"%s\"}}", status == 404 ? "not_found_error" : status >= 500 ? "server_error"
                                    : "invalid_request_error");
    api_send_json(out, status, &b);
}

/* The pieces of ids[0..n) with control tokens' texts, as llama.cpp's
 * detokenize concatenates them (heap, NUL-terminated). */
static char *detokenize(const struct tokenizer *t, const int32_t *ids, int n, size_t *len)
{
    struct json_buf b = { 0 };
    char small[64];
    json_buf_put(&b, "", 0);
    for (int i = 0; i < n; i++) {
        int k = tokenizer_piece(t, ids[i], true, small, sizeof small);
        if (k > (int)sizeof small) {
            char *big = malloc((size_t)k);
            if (big)
                json_buf_put(&b, big, (size_t)tokenizer_piece(t, ids[i], true, big, (size_t)k));
            free(big);
        } else if (k > 0) {
            json_buf_put(&b, small, (size_t)k);
        }
    }
    *len = b.len;
    if (b.nomem) {
        json_buf_free(&b);
        return NULL;
    }
    return b.p;
}

struct lc {
    struct server   *s;
    struct http_out *out;
    bool   stream, return_tokens;
    int    n_probs;
    struct json_buf text;     /* the answer (not streaming) */
    struct json_buf ids;      /* generated ids (streaming: since the last event) */
    struct json_buf probs;    /* completion_probabilities entries, same rule */
    int    n_ids, n_probs_out, n_gen;
    char  *piece;
    size_t cap;
};

/* {"id":..,"token":..,"bytes":[..],"logprob":.. without the closing brace */
static void prob_entry(void *ctx, struct json_buf *b, int32_t id, float logprob)
{
    struct lc *g = ctx;
    size_t n = 0;
    struct tl_error err;
    if (cli_piece(&g->s->e.tok, id, &g->piece, &g->cap, &n, &err))
        n = 0;
    jw_fmt(b, "{\"id\":%d,\"token\":", id);
    jw_str(b, g->piece, n);
    json_buf_puts(b, ",\"bytes\":");
    jw_bytes(b, g->piece, n);
    json_buf_puts(b, ",\"logprob\":");
    jw_num(b, logprob);
}

static int on_token(void *ctx, const struct gen_token *t)
{
    struct lc *g = ctx;
    g->n_gen++;
    jw_fmt(&g->ids, "%s%d", g->n_ids++ ? "," : "", t->id);
    if (g->n_probs > 0) {
        json_buf_puts(&g->probs, g->n_probs_out++ ? "," : "");
        jw_token_with_top(&g->probs, t, prob_entry, g);
    }
    return g->ids.nomem || g->probs.nomem;
}

/* "tokens":[..] and, with n_probs, "completion_probabilities":[..], then empty both */
static void put_pending(struct lc *g, struct json_buf *b, bool tokens)
{
    json_buf_puts(b, "\"tokens\":[");
    if (tokens && g->ids.p)
        json_buf_put(b, g->ids.p, g->ids.len);
    json_buf_puts(b, "]");
    if (g->n_probs > 0 && g->n_probs_out) {
        json_buf_puts(b, ",\"completion_probabilities\":[");
        json_buf_put(b, g->probs.p, g->probs.len);
        json_buf_puts(b, "]");
    }
    g->ids.len = g->probs.len = 0;
    g->n_ids = g->n_probs_out = 0;
}

static int on_text(void *ctx, const char *s, size_t n)
{
    struct lc *g = ctx;
    if (!g->stream)
        return !json_buf_put(&g->text, s, n);
    struct json_buf b = { 0 };
    json_buf_puts(&b, "data: {\"index\":0,\"content\":");
    jw_str(&b, s, n);
    json_buf_puts(&b, ",");
    put_pending(g, &b, true);
    jw_fmt(&b, ",\"stop\":false,\"id_slot\":-1,\"tokens_predicted\":%d,\"tokens_evaluated\":%d}\n\n",
           g->n_gen, g->out->n_prompt);
    int rc = b.nomem ? TL_ENOMEM : http_stream_write(g->out, b.p, b.len);
    json_buf_free(&b);
    return rc;
}

static void put_settings(struct json_buf *b, const struct gen_params *p, const struct server *s)
{
    const struct sampler_params *sp = &p->sp;
    jw_fmt(b, "\"generation_settings\":{\"n_ctx\":%d,\"n_predict\":%d,\"seed\":%llu,\"temperature\":",
           s->e.st.n_ctx, p->n_predict, (unsigned long long)sp->seed);
    jw_num(b, sp->temp);
    jw_fmt(b, ",\"top_k\":%d,\"top_p\":", sp->top_k);
    jw_num(b, sp->top_p);
    json_buf_puts(b, ",\"min_p\":");
    jw_num(b, sp->min_p);
    jw_fmt(b, ",\"repeat_last_n\":%d,\"repeat_penalty\":", sp->repeat_last_n);
    jw_num(b, sp->repeat_penalty);
    json_buf_puts(b, ",\"presence_penalty\":");
    jw_num(b, sp->presence_penalty);
    json_buf_puts(b, ",\"frequency_penalty\":");
    jw_num(b, sp->frequency_penalty);
    json_buf_puts(b, ",\"stop\":[");
    for (int i = 0; i < p->n_stops; i++) {
        json_buf_puts(b, i ? "," : "");
        jw_cstr(b, p->stops[i]);
    }
    jw_fmt(b, "],\"n_probs\":%d}", p->n_top);
}

/* The whole result: the body of a plain answer, or a stream's last event. */
static void put_final(struct lc *g, struct json_buf *b, const struct gen_params *p,
                      const struct gen_result *r, const int32_t *ids, int n)
{
    static const char *const stop_type[] = { "eos", "word", "limit", "limit" };
    const char *content = !g->stream && g->text.p ? g->text.p : "";
    size_t clen = !g->stream ? g->text.len : 0, plen = 0;
    json_buf_puts(b, "{\"index\":0,\"content\":");
    jw_str(b, content, clen);
    json_buf_puts(b, ",");
    put_pending(g, b, g->return_tokens || g->stream);
    json_buf_puts(b, ",\"id_slot\":0,\"stop\":true,\"model\":");
    jw_cstr(b, g->s->model_name);
    jw_fmt(b, ",\"tokens_predicted\":%d,\"tokens_evaluated\":%d,", r->n_gen, r->n_prompt);
    put_settings(b, p, g->s);
    char *prompt = detokenize(&g->s->e.tok, ids, n, &plen);
    json_buf_puts(b, ",\"prompt\":");
    jw_str(b, prompt ? prompt : "", prompt ? plen : 0);
    free(prompt);
    jw_fmt(b, ",\"has_new_line\":%s,\"truncated\":false,\"stop_type\":\"%s\",\"stopping_word\":",
           memchr(content, '\n', clen) ? "true" : "false", stop_type[r->finish]);
    jw_cstr(b, r->finish == GEN_WORD ? p->stops[r->stop] : "");
    jw_fmt(b, ",\"tokens_cached\":%d,", r->n_cached);
    jw_timings(b, r);
    json_buf_puts(b, "}");
}

static bool refuse_fields(struct req *q)
{
    const struct json_value *o = &q->root, *lb = json_get(o, "logit_bias");
    if (lb && !((lb->type == JSON_ARRAY && !lb->v.arr.n) || (lb->type == JSON_OBJECT && !lb->v.obj.n) ||
                lb->type == JSON_NULL))
        return req_fail(q, 400, "logit_bias", "'logit_bias' is not supported by this server");
    return req_refuse(q, o, "", "grammar", "\"\"") && req_refuse(q, o, "", "json_schema", "{}") &&
           req_refuse(q, o, "", "mirostat", "0") && req_refuse(q, o, "", "typical_p", "1.0") &&
           req_refuse(q, o, "", "dynatemp_range", "0.0") && req_refuse(q, o, "", "xtc_probability", "0.0") &&
           req_refuse(q, o, "", "dry_multiplier", "0.0") && req_refuse(q, o, "", "top_n_sigma", "-1") &&
           req_refuse(q, o, "", "samplers", NULL) && req_refuse(q, o, "", "image_data", "[]") &&
           req_refuse(q, o, "", "lora", "[]") && req_refuse(q, o, "", "ignore_eos", "false") &&
           req_refuse(q, o, "", "post_sampling_probs", "false") && req_refuse(q, o, "", "n_indent", "0") &&
           req_refuse(q, o, "", "response_fields", "[]") && req_refuse(q, o, "", "min_keep", "0");
}

static bool decode(struct req *q, struct lc *g, struct gen_params *p, struct req_stops *stops,
                   int n_ctx)
{
    const struct json_value *o = &q->root;
    struct sampler_params *sp = &p->sp;
    float temp = sp->temp;
    if (!req_float(q, o, "", "temperature", -10, 10, &temp) || !req_int(q, o, "", "top_k", 0, 1 << 30, &sp->top_k) ||
        !req_float(q, o, "", "top_p", 0, 1, &sp->top_p) || !req_float(q, o, "", "min_p", 0, 1, &sp->min_p) ||
        !req_float(q, o, "", "repeat_penalty", 0, 10, &sp->repeat_penalty) ||
        !req_int(q, o, "", "repeat_last_n", -1, 1 << 20, &sp->repeat_last_n) ||
        !req_float(q, o, "", "presence_penalty", -10, 10, &sp->presence_penalty) ||
        !req_float(q, o, "", "frequency_penalty", -10, 10, &sp->frequency_penalty) ||
        !req_seed(q, o, "", "seed", &sp->seed) || !req_stops(q, o, "", "stop", stops) ||
        !req_int(q, o, "", "n_predict", -1, 1 << 30, &p->n_predict) || !req_bool(q, o, "", "stream", &g->stream) ||
        !req_int(q, o, "", "n_probs", 0, GEN_MAX_TOP, &g->n_probs) ||
        !req_bool(q, o, "", "return_tokens", &g->return_tokens) || !refuse_fields(q))
        return false;
    sp->temp = temp < 0 ? 0 : temp;   /* llama.cpp: a negative temperature is greedy */
    if (sp->repeat_last_n < 0)
        sp->repeat_last_n = n_ctx;
    p->stops = stops->v;
    p->n_stops = stops->n;
    p->logprobs = g->n_probs > 0;
    p->n_top = g->n_probs;
    return true;
}

static void completion(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct req q;
    struct lc g = { .s = s, .out = out };
    struct gen_params p;
    struct req_stops stops = { 0 };
    int32_t *ids = NULL;
    int n = 0;
    req_gen_defaults(s, &p);
    if (req_parse(&q, req) && decode(&q, &g, &p, &stops, s->e.st.n_ctx)) {
        const struct json_value *pr = json_get(&q.root, "prompt");
        req_prompt(&q, s, pr ? pr : json_get(&q.root, "content"), "prompt", &ids, &n);
    }
    if (q.status) {
        lc_error(out, q.status, q.msg);
        goto out;
    }
    out->n_prompt = n;
    if (g.stream && http_stream_begin(out, 200, "text/event-stream", "Cache-Control: no-cache\r\n"))
        goto out;
    struct gen_sink sink = { on_text, on_token, NULL, NULL, &g };
    struct gen_result r;
    struct tl_error err = { 0 };
    struct json_buf b = { 0 };
    if (api_generate(s, out, ids, n, &p, &sink, &r, &err)) {
        if (!g.stream) {
            lc_error(out, 500, err.msg);
            goto out;
        }
        json_buf_puts(&b, "data: {\"error\":{\"code\":500,\"message\":");
        jw_cstr(&b, err.msg);
        json_buf_puts(&b, ",\"type\":\"server_error\"}}\n\n");
    } else {
        json_buf_puts(&b, g.stream ? "data: " : "");
        put_final(&g, &b, &p, &r, ids, n);
        json_buf_puts(&b, g.stream ? "\n\n" : "");
    }
    api_send_last(out, g.stream, &b);
out:
    free(ids);
    free(g.piece);
    json_buf_free(&g.text);
    json_buf_free(&g.ids);
    json_buf_free(&g.probs);
    req_free(&q);
}

static void tokenize(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct req q;
    const char *content = NULL;
    bool add_special = false, with_pieces = false;
    int32_t *ids = NULL;
    int n = 0;
    struct tl_error err = { 0 };
    if (req_parse(&q, req) && req_str(&q, &q.root, "", "content", &content) &&
        req_bool(&q, &q.root, "", "add_special", &add_special) && req_bool(&q, &q.root, "", "with_pieces", &with_pieces) &&
        !content)
        req_fail(&q, 400, "content", "'content' is required");
    if (!q.status && tokenizer_encode(&s->e.tok, content, json_get(&q.root, "content")->v.str.len, add_special,
                                      true, &ids, &n, &err))
        req_fail(&q, 400, "content", "%s", err.msg);
    if (q.status) {
        lc_error(out, q.status, q.msg);
        req_free(&q);
        return;
    }
    struct json_buf b = { 0 };
    char *piece = NULL;
    size_t cap = 0, len;
    json_buf_puts(&b, "{\"tokens\":[");
    for (int i = 0; i < n; i++) {
        json_buf_puts(&b, i ? "," : "");
        if (!with_pieces) {
            jw_fmt(&b, "%d", ids[i]);
            continue;
        }
        if (cli_piece(&s->e.tok, ids[i], &piece, &cap, &len, &err))
            len = 0;
        jw_fmt(&b, "{\"id\":%d,\"piece\":", ids[i]);
        /* llama.cpp: the text when it is valid UTF-8, its bytes otherwise */
        if (json_utf8_valid(piece, len))
            jw_str(&b, piece, len);
        else
            jw_bytes(&b, piece, len);
        json_buf_puts(&b, "}");
    }
    json_buf_puts(&b, "]}");
    api_send_json(out, 200, &b);
    free(piece);
    free(ids);
    req_free(&q);
}

static void detokenize_route(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct req q;
    int32_t *ids = NULL;
    int n = 0;
    if (req_parse(&q, req)) {
        const struct json_value *t = json_get(&q.root, "tokens");
        if (t && t->type != JSON_ARRAY && t->type != JSON_NULL)
            req_fail(&q, 400, "tokens", "'tokens' must be an array of token ids");
        else if (t && t->type == JSON_ARRAY && t->v.arr.n &&
                 !(ids = malloc(t->v.arr.n * sizeof *ids)))
            req_fail(&q, 500, "tokens", "out of memory");
        for (size_t i = 0; !q.status && t && t->type == JSON_ARRAY && i < t->v.arr.n; i++) {
            const struct json_value *v = &t->v.arr.items[i];
            if (v->type != JSON_INT || v->v.i < 0 || v->v.i >= s->e.tok.n_vocab)
                req_fail(&q, 400, "tokens", "'tokens[%zu]' must be a token id in [0, %d)", i, s->e.tok.n_vocab);
            else
                ids[n++] = (int32_t)v->v.i;
        }
    }
    if (q.status) {
        lc_error(out, q.status, q.msg);
    } else {
        size_t len = 0;
        char *text = detokenize(&s->e.tok, ids, n, &len);
        struct json_buf b = { 0 };
        json_buf_puts(&b, "{\"content\":");
        jw_str(&b, text ? text : "", text ? len : 0);
        json_buf_puts(&b, "}");
        if (!text)
            b.nomem = true;
        api_send_json(out, 200, &b);
        free(text);
    }
    free(ids);
    req_free(&q);
}

const struct route llamacpp_routes[] = {
    { "POST", "/completion", completion, true },
    { "POST", "/completions", completion, true },
    { "POST", "/tokenize", tokenize, false },
    { "POST", "/detokenize", detokenize_route, false },
    { 0 },
};
