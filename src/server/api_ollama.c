/* server/api_ollama.c: Ollama's /api: generate and chat (NDJSON streams by
 * default, one object with "stream": false; the last object carries done,
 * done_reason, token counts and durations in nanoseconds), tags, ps, show
 * and version. Errors are {"error": "message"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server/request.h"

static void ol_error(struct http_out *out, int status, const char *msg)
{
    struct json_buf b = { 0 };
    json_buf_puts(&b, "{\"error\":");
    jw_cstr(&b, msg);
    json_buf_puts(&b, "}");
    api_send_json(out, status, &b);
}

/* RFC 3339 in UTC with nanoseconds, as Ollama writes created_at */
static void put_time(struct json_buf *b, const struct timespec *ts)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    jw_fmt(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts->tv_nsec);
}

static void put_now(struct json_buf *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    put_time(b, &ts);
}

struct ol {
    struct server   *s;
    struct http_out *out;
    bool   chat, stream;
    struct json_buf text;   /* the answer (not streaming) */
};

/* {"model":..,"created_at":..,"response":TEXT or "message":{..TEXT},"done": */
static void put_object(struct ol *g, struct json_buf *b, const char *text, size_t n)
{
    json_buf_puts(b, "{\"model\":");
    jw_cstr(b, g->s->model_name);
    json_buf_puts(b, ",\"created_at\":");
    put_now(b);
    json_buf_puts(b, g->chat ? ",\"message\":{\"role\":\"assistant\",\"content\":" : ",\"response\":");
    jw_str(b, text, n);
    json_buf_puts(b, g->chat ? "},\"done\":" : ",\"done\":");
}

static int on_text(void *ctx, const char *s, size_t n)
{
    struct ol *g = ctx;
    if (!g->stream)
        return !json_buf_put(&g->text, s, n);
    struct json_buf b = { 0 };
    put_object(g, &b, s, n);
    json_buf_puts(&b, "false}\n");
    int rc = b.nomem ? TL_ENOMEM : http_stream_write(g->out, b.p, b.len);
    json_buf_free(&b);
    return rc;
}

static void put_final(struct ol *g, struct json_buf *b, const struct gen_result *r, double t0_ms,
                      const char *reason)
{
    put_object(g, b, !g->stream && g->text.p ? g->text.p : "", !g->stream ? g->text.len : 0);
    jw_fmt(b, "true,\"done_reason\":\"%s\"", reason);
    if (!r)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double total = (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6 - t0_ms;
    jw_fmt(b, ",\"total_duration\":%lld,\"load_duration\":0,\"prompt_eval_count\":%d,"
           "\"prompt_eval_duration\":%lld,\"eval_count\":%d,\"eval_duration\":%lld",
           (long long)(total * 1e6), r->n_prompt, (long long)(r->t_prompt_ms * 1e6), r->n_gen,
           (long long)(r->t_gen_ms * 1e6));
}

/* options{}: Ollama's sampling names; a num_ctx above ours is refused. */
static bool decode_options(struct req *q, struct server *s, const struct json_value *o,
                           struct gen_params *p, struct req_stops *stops)
{
    struct sampler_params *sp = &p->sp;
    int num_ctx = 0;
    if (!req_float(q, o, "options.", "temperature", 0, 10, &sp->temp) ||
        !req_float(q, o, "options.", "top_p", 0, 1, &sp->top_p) || !req_int(q, o, "options.", "top_k", 0, 1 << 30, &sp->top_k) ||
        !req_float(q, o, "options.", "min_p", 0, 1, &sp->min_p) || !req_seed(q, o, "options.", "seed", &sp->seed) ||
        !req_int(q, o, "options.", "num_predict", -2, 1 << 30, &p->n_predict) ||
        !req_int(q, o, "options.", "num_ctx", 1, 1 << 30, &num_ctx) || !req_stops(q, o, "options.", "stop", stops) ||
        !req_float(q, o, "options.", "repeat_penalty", 0, 10, &sp->repeat_penalty) ||
        !req_int(q, o, "options.", "repeat_last_n", -1, 1 << 20, &sp->repeat_last_n) ||
        !req_float(q, o, "options.", "presence_penalty", -10, 10, &sp->presence_penalty) ||
        !req_float(q, o, "options.", "frequency_penalty", -10, 10, &sp->frequency_penalty) ||
        !req_refuse(q, o, "options.", "mirostat", "0") || !req_refuse(q, o, "options.", "typical_p", "1.0") ||
        !req_refuse(q, o, "options.", "tfs_z", "1.0"))
        return false;
    if (num_ctx > s->e.st.n_ctx)
        return req_fail(q, 400, "options.num_ctx", "options.num_ctx %d is larger than the server's context "
                        "of %d (start it with a larger -c)", num_ctx, s->e.st.n_ctx);
    if (p->n_predict < 0)   /* Ollama: -1 unlimited, -2 fill the context */
        p->n_predict = -1;
    if (sp->repeat_last_n < 0)
        sp->repeat_last_n = s->e.st.n_ctx;
    p->stops = stops->v;
    p->n_stops = stops->n;
    return true;
}

static bool decode_common(struct req *q, struct server *s, struct ol *g, struct gen_params *p,
                          struct req_stops *stops)
{
    const struct json_value *o = &q->root, *opts = NULL;
    g->stream = true;
    return req_bool(q, o, "", "stream", &g->stream) && req_refuse(q, o, "", "format", "\"\"") &&
           req_refuse(q, o, "", "template", "\"\"") && req_refuse(q, o, "", "images", "[]") &&
           req_refuse(q, o, "", "tools", "[]") && req_refuse(q, o, "", "context", "[]") &&
           req_refuse(q, o, "", "suffix", "\"\"") && req_refuse(q, o, "", "think", "false") &&
           req_obj(q, o, "", "options", &opts) && decode_options(q, s, opts, p, stops);
}

/* Generate for ids and answer: a stream of lines, or one object. */
static void ol_run(struct ol *g, const int32_t *ids, int n, const struct gen_params *p, double t0)
{
    struct tl_error err = { 0 };
    struct gen_result r;
    struct gen_sink sink = { on_text, NULL, NULL, NULL, g };
    if (g->stream && http_stream_begin(g->out, 200, "application/x-ndjson", ""))
        return;
    struct json_buf b = { 0 };
    if (api_generate(g->s, g->out, ids, n, p, &sink, &r, &err)) {
        if (!g->stream) {
            ol_error(g->out, 500, err.msg);
            return;
        }
        json_buf_puts(&b, "{\"error\":");
        jw_cstr(&b, err.msg);
        json_buf_puts(&b, "}\n");
    } else {
        put_final(g, &b, &r, t0, gen_finish_reason(r.finish));
        json_buf_puts(&b, g->stream ? "}\n" : "}");
    }
    api_send_last(g->out, g->stream, &b);
}

/* Nothing to generate: Ollama's answer to a request that only loads the model. */
static void send_loaded(struct ol *g)
{
    struct json_buf b = { 0 };
    put_final(g, &b, NULL, 0, "load");
    json_buf_puts(&b, "}");
    api_send_json(g->out, 200, &b);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void handle(struct server *s, const struct http_request *req, struct http_out *out, bool chat)
{
    double t0 = mono_ms();
    struct req q;
    struct ol g = { .s = s, .out = out, .chat = chat };
    struct gen_params p;
    struct req_stops stops = { 0 };
    int32_t *ids = NULL;
    int n = 0;
    bool raw = false, loaded = false;
    const char *prompt = NULL, *system = NULL;
    req_gen_defaults(s, &p);
    if (req_parse(&q, req) && decode_common(&q, s, &g, &p, &stops)) {
        const struct json_value *msgs = json_get(&q.root, "messages");
        if (chat && (!msgs || msgs->type == JSON_NULL || (msgs->type == JSON_ARRAY && !msgs->v.arr.n)))
            loaded = true;
        else if (chat)
            req_messages(&q, s, msgs, "messages", &ids, &n);
        else if (req_str(&q, &q.root, "", "prompt", &prompt) && req_str(&q, &q.root, "", "system", &system) &&
                 req_bool(&q, &q.root, "", "raw", &raw) && (!prompt || !*prompt))
            loaded = true;
        else if (!q.status && raw)
            req_prompt(&q, s, json_get(&q.root, "prompt"), "prompt", &ids, &n);
        else if (!q.status)
            req_user_message(&q, s, system, prompt, "prompt", &ids, &n);
    }
    if (q.status)
        ol_error(out, q.status, q.msg);
    else if (loaded)
        send_loaded(&g);
    else
        ol_run(&g, ids, n, &p, t0);
    free(ids);
    json_buf_free(&g.text);
    req_free(&q);
}

static void generate(struct server *s, const struct http_request *req, struct http_out *out)
{
    handle(s, req, out, false);
}

static void chat(struct server *s, const struct http_request *req, struct http_out *out)
{
    handle(s, req, out, true);
}

static void put_details(struct server *s, struct json_buf *b)
{
    char ps[16];
    const char *arch = arch_name(s->e.model.hp.arch);
    api_param_size(s, ps);
    jw_fmt(b, "\"details\":{\"parent_model\":\"\",\"format\":\"gguf\",\"family\":\"%s\",\"families\":[\"%s\"],"
           "\"parameter_size\":\"%s\",\"quantization_level\":\"%s\"}", arch, arch, ps, api_quant_name(s));
}

/* name, model, size, digest, details: what tags and ps list per model */
static void put_model(struct server *s, struct json_buf *b)
{
    json_buf_puts(b, "{\"name\":");
    jw_cstr(b, s->model_name);
    json_buf_puts(b, ",\"model\":");
    jw_cstr(b, s->model_name);
    jw_fmt(b, ",\"size\":%lld,\"digest\":\"\",", api_model_size(s));
    put_details(s, b);
}

static void tags(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct json_buf b = { 0 };
    struct stat st;
    struct timespec mt = { (time_t)s->created, 0 };
    if (s->o->eng.model_path && stat(s->o->eng.model_path, &st) == 0)
        mt = st.st_mtim;
    json_buf_puts(&b, "{\"models\":[");
    put_model(s, &b);
    json_buf_puts(&b, ",\"modified_at\":");
    put_time(&b, &mt);
    json_buf_puts(&b, "}]}");
    api_send_json(out, 200, &b);
}

static void ps(struct server *s, const struct http_request *req, struct http_out *out)
{
    struct json_buf b = { 0 };
    json_buf_puts(&b, "{\"models\":[");
    put_model(s, &b);
    json_buf_puts(&b, ",\"expires_at\":\"9999-12-31T23:59:59Z\",\"size_vram\":0}]}");
    api_send_json(out, 200, &b);
}

static void version(struct server *s, const struct http_request *req, struct http_out *out)
{
    static const char v[] = "{\"version\":\"" TINYLLM_VERSION "\"}";
    http_send(out, 200, "application/json", "", v, sizeof v - 1);
}

static void put_gguf_str(struct json_buf *b, const struct gguf *gg, const char *key)
{
    struct gguf_str v = { 0 };
    gguf_get_str(gg, key, &v, false, NULL);
    jw_str(b, v.ptr ? v.ptr : "", v.ptr ? (size_t)v.len : 0);
}

static void show(struct server *s, const struct http_request *req, struct http_out *out)
{
    const struct hparams *hp = &s->e.model.hp;
    const struct gguf *gg = &s->e.model.gguf;
    const char *arch = arch_name(hp->arch);
    struct json_buf b = { 0 };
    json_buf_puts(&b, "{\"license\":");
    put_gguf_str(&b, gg, "general.license");
    json_buf_puts(&b, ",\"modelfile\":");
    struct json_buf mf = { 0 };
    json_buf_puts(&mf, "# Modelfile generated by tinyllm\nFROM ");
    json_buf_puts(&mf, s->o->eng.model_path ? s->o->eng.model_path : s->model_name);
    json_buf_puts(&mf, "\n");
    jw_str(&b, mf.p, mf.len);
    json_buf_free(&mf);
    json_buf_puts(&b, ",\"parameters\":\"\",\"template\":");
    if (s->chat_template)   /* the one requests are rendered with */
        jw_str(&b, s->chat_template, s->chat_template_len);
    else
        put_gguf_str(&b, gg, "tokenizer.chat_template");
    json_buf_puts(&b, ",");
    put_details(s, &b);
    jw_fmt(&b, ",\"model_info\":{\"general.architecture\":\"%s\",\"general.parameter_count\":%llu,"
           "\"general.name\":", arch, (unsigned long long)s->e.model.n_params);
    put_gguf_str(&b, gg, "general.name");
    jw_fmt(&b, ",\"%s.context_length\":%d,\"%s.embedding_length\":%d,\"%s.block_count\":%d,"
           "\"%s.feed_forward_length\":%d,\"%s.attention.head_count\":%d,\"%s.attention.head_count_kv\":%d,",
           arch, hp->n_ctx_train, arch, hp->n_embd, arch, hp->n_layer, arch, hp->n_ff, arch, hp->n_head,
           arch, hp->n_head_kv);
    jw_fmt(&b, "\"tokenizer.ggml.model\":\"%s\",\"tokenizer.ggml.vocab_size\":%d},",
           s->e.tok.model == TOK_BPE ? "gpt2" : "llama", s->e.tok.n_vocab);
    jw_fmt(&b, "\"capabilities\":[\"completion\"],\"modified_at\":");
    put_now(&b);
    json_buf_puts(&b, "}");
    api_send_json(out, 200, &b);
}

const struct route ollama_routes[] = {
    { "POST", "/api/generate", generate, true },
    { "POST", "/api/chat", chat, true },
    { "GET", "/api/tags", tags, false },
    { "GET", "/api/ps", ps, false },
    { "GET", "/api/version", version, false },
    { "POST", "/api/show", show, false },
    { 0 },
};
