/* server/request.c: decoding requests, writing answers, running a
 * request's generation (see server/request.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "format/quant.h"
#include "server/request.h"

bool req_fail(struct req *q, int status, const char *param, const char *fmt, ...)
{
    if (q->status)
        return false;
    q->status = status;
    snprintf(q->param, sizeof q->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->msg, sizeof q->msg, fmt, ap);
    va_end(ap);
    return false;
}

bool req_parse(struct req *q, const struct http_request *r)
{
    struct tl_error err = { 0 };
    memset(q, 0, sizeof *q);
    if (!r->body || !r->body_len)
        return req_fail(q, 400, "", "the request needs a JSON object as its body");
    if (json_parse(r->body, r->body_len, &q->root, &err))
        return req_fail(q, 400, "", "the body is not valid JSON: %s", err.msg);
    if (q->root.type != JSON_OBJECT)
        return req_fail(q, 400, "", "the body must be a JSON object");
    return true;
}

void req_free(struct req *q)
{
    json_free(&q->root);
}

static const char *type_name(int t)
{
    static const char *const names[] = { "null", "a boolean", "an integer", "a number", "a string",
                                         "an array", "an object" };
    return t >= 0 && t <= JSON_OBJECT ? names[t] : "?";
}

/* The member, or NULL when absent or null. */
static const struct json_value *member(const struct json_value *obj, const char *key)
{
    const struct json_value *v = obj ? json_get(obj, key) : NULL;
    return v && v->type != JSON_NULL ? v : NULL;
}

static bool wrong_type(struct req *q, const char *pre, const char *key, const char *want,
                       const struct json_value *v)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s", pre, key);
    return req_fail(q, 400, name, "'%s' must be %s, not %s", name, want, type_name(v->type));
}

/* Member key of obj, NULL when absent. When present with a type not in
 * types (bits 1 << JSON_*) it is also NULL, *ok is false and q has the 400
 * naming want; otherwise *ok is true. */
static const struct json_value *typed_member(struct req *q, const struct json_value *obj, const char *pre,
                                             const char *key, unsigned types, const char *want, bool *ok)
{
    const struct json_value *v = member(obj, key);
    *ok = true;
    if (v && !(types & 1u << v->type)) {
        *ok = wrong_type(q, pre, key, want, v);
        return NULL;
    }
    return v;
}

bool req_bool(struct req *q, const struct json_value *obj, const char *pre, const char *key, bool *dst)
{
    bool ok;
    const struct json_value *v = typed_member(q, obj, pre, key, 1u << JSON_BOOL, "a boolean", &ok);
    if (v)
        *dst = v->v.b;
    return ok;
}

static bool out_of_range(struct req *q, const char *pre, const char *key, double lo, double hi)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s", pre, key);
    return req_fail(q, 400, name, "'%s' must be in [%g, %g]", name, lo, hi);
}

/* A number in [lo, hi] at key of obj into *dst (untouched when absent);
 * integer: also integral (512.0 from clients that only have doubles is
 * one). All callers' bounds are within 2^31, exact as doubles. */
static bool number_in(struct req *q, const struct json_value *obj, const char *pre, const char *key,
                      double lo, double hi, bool integer, double *dst)
{
    bool ok;
    const char *want = integer ? "an integer" : "a number";
    const struct json_value *v = typed_member(q, obj, pre, key, 1u << JSON_INT | 1u << JSON_FLOAT, want, &ok);
    if (!v)
        return ok;
    double d = v->type == JSON_INT ? (double)v->v.i : v->v.f;
    if (integer && v->type == JSON_FLOAT && (d != floor(d) || !(fabs(d) < 1e15)))
        return wrong_type(q, pre, key, want, v);
    if (!(d >= lo && d <= hi))
        return out_of_range(q, pre, key, lo, hi);
    *dst = d;
    return true;
}

bool req_int(struct req *q, const struct json_value *obj, const char *pre, const char *key,
             long lo, long hi, int *dst)
{
    double d = *dst;
    bool ok = number_in(q, obj, pre, key, (double)lo, (double)hi, true, &d);
    *dst = (int)d;
    return ok;
}

bool req_float(struct req *q, const struct json_value *obj, const char *pre, const char *key,
               double lo, double hi, float *dst)
{
    double d = *dst;
    bool ok = number_in(q, obj, pre, key, lo, hi, false, &d);
    *dst = (float)d;
    return ok;
}

bool req_seed(struct req *q, const struct json_value *obj, const char *pre, const char *key,
              uint64_t *dst)
{
    bool ok;
    const struct json_value *v = typed_member(q, obj, pre, key, 1u << JSON_INT, "an integer", &ok);
    if (!v)
        return ok;
    if (v->v.i < -1)
        return out_of_range(q, pre, key, -1, 9.2e18);
    if (v->v.i >= 0)
        *dst = (uint64_t)v->v.i;
    return true;
}

bool req_str(struct req *q, const struct json_value *obj, const char *pre, const char *key,
             const char **dst)
{
    bool ok;
    const struct json_value *v = typed_member(q, obj, pre, key, 1u << JSON_STRING, "a string", &ok);
    if (v)
        *dst = v->v.str.s;
    return ok;
}

bool req_obj(struct req *q, const struct json_value *obj, const char *pre, const char *key,
             const struct json_value **dst)
{
    bool ok;
    *dst = typed_member(q, obj, pre, key, 1u << JSON_OBJECT, "an object", &ok);
    return ok;
}

static bool add_stop(struct req *q, const char *name, const struct json_value *v, struct req_stops *dst)
{
    if (v->type != JSON_STRING)
        return req_fail(q, 400, name, "'%s' must be a string or an array of strings", name);
    if (v->v.str.len == 0)
        return true;
    if (v->v.str.len > GEN_MAX_STOP_LEN || strlen(v->v.str.s) != v->v.str.len)
        return req_fail(q, 400, name, "'%s': a stop string must be 1 to %d bytes without NUL", name,
                        GEN_MAX_STOP_LEN);
    if (dst->n == GEN_MAX_STOPS)
        return req_fail(q, 400, name, "'%s': at most %d stop strings", name, GEN_MAX_STOPS);
    dst->v[dst->n++] = v->v.str.s;
    return true;
}

bool req_stops(struct req *q, const struct json_value *obj, const char *pre, const char *key,
               struct req_stops *dst)
{
    const struct json_value *v = member(obj, key);
    char name[96];
    snprintf(name, sizeof name, "%s%s", pre, key);
    if (!v)
        return true;
    dst->n = 0;
    if (v->type != JSON_ARRAY)
        return add_stop(q, name, v, dst);
    for (size_t i = 0; i < v->v.arr.n; i++)
        if (!add_stop(q, name, &v->v.arr.items[i], dst))
            return false;
    return true;
}

/* Structural equality of v with the JSON text allowed. */
static bool equals_text(const struct json_value *v, const char *allowed)
{
    struct json_value a;
    if (json_parse(allowed, strlen(allowed), &a, NULL))
        return false;
    bool eq = a.type == v->type;
    if (eq && a.type == JSON_INT)
        eq = a.v.i == v->v.i;
    else if (eq && a.type == JSON_FLOAT)
        eq = a.v.f == v->v.f;
    else if (eq && a.type == JSON_BOOL)
        eq = a.v.b == v->v.b;
    else if (eq && a.type == JSON_STRING)
        eq = !strcmp(a.v.str.s, v->v.str.s);
    else if (eq && a.type == JSON_ARRAY)
        eq = v->v.arr.n == 0 && a.v.arr.n == 0;
    else if (eq && a.type == JSON_OBJECT)
        eq = v->v.obj.n == 0 && a.v.obj.n == 0;
    if (!eq && a.type == JSON_FLOAT && v->type == JSON_INT)
        eq = a.v.f == (double)v->v.i;
    json_free(&a);
    return eq;
}

bool req_refuse(struct req *q, const struct json_value *obj, const char *pre, const char *key,
                const char *allowed)
{
    const struct json_value *v = member(obj, key);
    if (!v || (allowed && equals_text(v, allowed)))
        return true;
    char name[96];
    snprintf(name, sizeof name, "%s%s", pre, key);
    return req_fail(q, 400, name, "'%s' is not supported by this server", name);
}

bool req_prompt_fits(struct req *q, const struct server *s, const char *name, int n)
{
    if (n < 1)
        return req_fail(q, 400, name, "the prompt is empty");
    if (n > s->e.st.n_ctx)
        return req_fail(q, 400, name, "the prompt is %d tokens but the context holds %d", n,
                        s->e.st.n_ctx);
    return true;
}

bool req_prompt(struct req *q, const struct server *s, const struct json_value *v, const char *name,
                int32_t **ids, int *n)
{
    struct tl_error err = { 0 };
    *ids = NULL;
    *n = 0;
    if (v && v->type == JSON_ARRAY && v->v.arr.n == 1 && v->v.arr.items[0].type == JSON_STRING)
        v = &v->v.arr.items[0];
    if (!v || v->type == JSON_NULL)
        return req_fail(q, 400, name, "'%s' is required", name);
    if (v->type == JSON_STRING) {
        if (tokenizer_encode(&s->e.tok, v->v.str.s, v->v.str.len, true, true, ids, n, &err))
            return req_fail(q, 400, name, "'%s': %s", name, err.msg);
        return req_prompt_fits(q, s, name, *n);
    }
    if (v->type != JSON_ARRAY)
        return req_fail(q, 400, name, "'%s' must be a string or an array of token ids", name);
    if (!v->v.arr.n || v->v.arr.n > (size_t)s->e.st.n_ctx)
        return req_prompt_fits(q, s, name, v->v.arr.n ? s->e.st.n_ctx + 1 : 0);
    if (!(*ids = malloc(v->v.arr.n * sizeof **ids)))
        return req_fail(q, 500, name, "out of memory");
    for (size_t i = 0; i < v->v.arr.n; i++) {
        const struct json_value *t = &v->v.arr.items[i];
        if (t->type != JSON_INT || t->v.i < 0 || t->v.i >= s->e.tok.n_vocab)
            return req_fail(q, 400, name, "'%s[%zu]' must be a token id in [0, %d) (one prompt per "
                            "request)", name, i, s->e.tok.n_vocab);
        (*ids)[(*n)++] = (int32_t)t->v.i;
    }
    return true;
}

/* The text of message i's content into *b (NUL-terminated). */
static bool message_text(struct req *q, const struct json_value *c, const char *name, size_t i,
                         struct json_buf *b)
{
    char at[96];
    snprintf(at, sizeof at, "%s[%zu].content", name, i);
    if (!json_buf_put(b, "", 0))
        return req_fail(q, 500, at, "out of memory");
    if (!c || c->type == JSON_NULL)
        return true;
    if (c->type == JSON_STRING)
        return json_buf_put(b, c->v.str.s, c->v.str.len) || req_fail(q, 500, at, "out of memory");
    if (c->type != JSON_ARRAY)
        return req_fail(q, 400, at, "'%s' must be a string or an array of text parts", at);
    for (size_t j = 0; j < c->v.arr.n; j++) {
        const struct json_value *part = &c->v.arr.items[j], *type = json_get(part, "type"),
                                *text = json_get(part, "text");
        if (!type || type->type != JSON_STRING || strcmp(type->v.str.s, "text"))
            return req_fail(q, 400, at, "'%s[%zu]': only parts of type \"text\" are supported", at, j);
        if (!text || text->type != JSON_STRING)
            return req_fail(q, 400, at, "'%s[%zu].text' must be a string", at, j);
        if (j)
            json_buf_puts(b, "\n");
        json_buf_put(b, text->v.str.s, text->v.str.len);
    }
    return !b->nomem || req_fail(q, 500, at, "out of memory");
}

static bool chat_fail(struct req *q, struct chat *c, const char *name, struct tl_error *err)
{
    chat_free(c);
    return req_fail(q, err->code == TL_ENOMEM ? 500 : 400, name, "%s", err->msg);
}

/* Render c with the generation prompt into tokens; frees c. */
static bool chat_finish(struct req *q, struct server *s, struct chat *c, const char *name,
                        int32_t **ids, int *n)
{
    struct tl_error err = { 0 };
    if (chat_tokens(c, ids, n, &err))
        return chat_fail(q, c, name, &err);
    chat_free(c);
    return req_prompt_fits(q, s, name, *n);
}

bool req_messages(struct req *q, struct server *s, const struct json_value *msgs, const char *name,
                  int32_t **ids, int *n)
{
    struct tl_error err = { 0 };
    struct chat c;
    *ids = NULL;
    *n = 0;
    if (!msgs || msgs->type != JSON_ARRAY || !msgs->v.arr.n)
        return req_fail(q, 400, name, "'%s' must be a non-empty array of messages", name);
    if (chat_init(&c, &s->e, &s->o->chat, &err))
        return req_fail(q, 500, name, "%s", err.msg);
    struct json_buf b = { 0 };
    for (size_t i = 0; i < msgs->v.arr.n; i++) {
        const struct json_value *m = &msgs->v.arr.items[i];
        const char *role = NULL;
        char pre[64];
        snprintf(pre, sizeof pre, "%s[%zu].", name, i);
        if (m->type != JSON_OBJECT) {
            req_fail(q, 400, pre, "'%s[%zu]' must be an object", name, i);
            break;
        }
        if (!req_str(q, m, pre, "role", &role) || !req_refuse(q, m, pre, "images", "[]") ||
            !req_refuse(q, m, pre, "tool_calls", "[]") || !message_text(q, json_get(m, "content"), name, i, &b))
            break;
        if (!role) {
            req_fail(q, 400, pre, "'%srole' is required", pre);
            break;
        }
        if (!strcmp(role, "tool")) {
            req_fail(q, 400, pre, "'%srole': tool messages are not supported", pre);
            break;
        }
        if (chat_add(&c, strcmp(role, "developer") ? role : "system", b.p, &err)) {
            req_fail(q, 500, name, "%s", err.msg);
            break;
        }
        b.len = 0;
        b.p[0] = 0;
    }
    json_buf_free(&b);
    if (q->status) {
        chat_free(&c);
        return false;
    }
    return chat_finish(q, s, &c, name, ids, n);
}

bool req_user_message(struct req *q, struct server *s, const char *system, const char *user,
                      const char *name, int32_t **ids, int *n)
{
    struct tl_error err = { 0 };
    struct chat c;
    *ids = NULL;
    *n = 0;
    if (chat_init(&c, &s->e, &s->o->chat, &err))
        return req_fail(q, 500, name, "%s", err.msg);
    if ((system && *system && chat_add(&c, "system", system, &err)) || chat_add(&c, "user", user, &err))
        return chat_fail(q, &c, name, &err);
    return chat_finish(q, s, &c, name, ids, n);
}

void req_gen_defaults(const struct server *s, struct gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->sp = s->o->sp;
    /* a server started with --seed S answers the k-th request without a
     * seed with S + k: reproducible runs, different answers */
    p->sp.seed = s->o->sp.seed + (uint64_t)atomic_load(&s->m.requests);
    p->n_predict = s->o->n_predict;
}

void jw_str(struct json_buf *b, const char *s, size_t n)
{
    if (json_utf8_valid(s, n)) {
        json_buf_put_string(b, s, n, false);
        return;
    }
    size_t m;
    char *clean = api_clean_utf8(s, n, &m);
    if (!clean) {
        b->nomem = true;
        return;
    }
    json_buf_put_string(b, clean, m, false);
    free(clean);
}

void jw_cstr(struct json_buf *b, const char *s)
{
    jw_str(b, s, strlen(s));
}

void jw_num(struct json_buf *b, double d)
{
    char t[32];
    json_format_double(isfinite(d) ? d : -9999.0, t);
    json_buf_puts(b, t);
}

void jw_fmt(struct json_buf *b, const char *fmt, ...)
{
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    json_buf_put(b, t, n < (int)sizeof t ? (size_t)n : sizeof t - 1);
}

void jw_bytes(struct json_buf *b, const char *s, size_t n)
{
    json_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++)
        jw_fmt(b, "%s%u", i ? "," : "", (unsigned char)s[i]);
    json_buf_puts(b, "]");
}

void api_send_json(struct http_out *out, int status, struct json_buf *b)
{
    if (b->overflow || b->nomem || !b->p) {
        static const char oom[] = "{\"error\":\"out of memory for the answer\"}";
        http_send(out, 500, "application/json", "", oom, sizeof oom - 1);
    } else {
        http_send(out, status, "application/json", "", b->p, b->len);
    }
    json_buf_free(b);
}

void api_send_last(struct http_out *out, bool stream, struct json_buf *b)
{
    if (!stream)
        api_send_json(out, 200, b);
    else if (!b->nomem && http_stream_write(out, b->p, b->len) == TL_OK)
        http_stream_end(out);
    json_buf_free(b);
}

char *api_clean_utf8(const char *s, size_t n, size_t *out_len)
{
    struct utf8_stream u = { 0 };
    size_t cap = 3 * n + 16;
    char *c = malloc(cap);
    if (!c)
        return NULL;
    size_t m = utf8_feed(&u, s, n, c, cap);
    m += utf8_flush(&u, c + m, cap - m);
    c[m] = 0;
    *out_len = m;
    return c;
}

struct api_gen {
    struct server        *s;
    struct http_out      *out;
    const struct gen_sink *inner;
};

static int fwd_text(void *ctx, const char *p, size_t n)
{
    struct api_gen *g = ctx;
    return g->inner->text ? g->inner->text(g->inner->ctx, p, n) : 0;
}

static int fwd_token(void *ctx, const struct gen_token *t)
{
    struct api_gen *g = ctx;
    return g->inner->token ? g->inner->token(g->inner->ctx, t) : 0;
}

static int fwd_prompt_token(void *ctx, const struct gen_token *t)
{
    struct api_gen *g = ctx;
    return g->inner->prompt_token ? g->inner->prompt_token(g->inner->ctx, t) : 0;
}

static bool gone(void *ctx)
{
    struct api_gen *g = ctx;
    if (atomic_load(&g->s->stopping) || g->out->failed || http_peer_gone(g->out))
        return true;
    return g->inner->cancelled && g->inner->cancelled(g->inner->ctx);
}

/* llama-server's timings object: the prompt tokens evaluated (the cached
 * prefix is not) and the generated ones, with their times and rates. */
void jw_token_with_top(struct json_buf *b, const struct gen_token *t,
                       void (*entry)(void *ctx, struct json_buf *b, int32_t id, float logprob), void *ctx)
{
    entry(ctx, b, t->id, t->logprob);
    json_buf_puts(b, ",\"top_logprobs\":[");
    for (int i = 0; i < t->n_top; i++) {
        json_buf_puts(b, i ? "," : "");
        entry(ctx, b, t->top[i].id, t->top[i].logprob);
        json_buf_puts(b, "}");
    }
    json_buf_puts(b, "]}");
}

void jw_timings(struct json_buf *b, const struct gen_result *r)
{
    int pn = r->n_prompt - r->n_cached;
    double pms = r->t_prompt_ms, gms = r->t_gen_ms;
    jw_fmt(b, "\"timings\":{\"prompt_n\":%d,\"prompt_ms\":%.3f,\"prompt_per_token_ms\":%.3f,"
           "\"prompt_per_second\":%.3f,\"predicted_n\":%d,\"predicted_ms\":%.3f,"
           "\"predicted_per_token_ms\":%.3f,\"predicted_per_second\":%.3f}",
           pn, pms, pn ? pms / pn : 0.0, pms > 0 ? 1e3 * pn / pms : 0.0, r->n_gen, gms,
           r->n_gen ? gms / r->n_gen : 0.0, gms > 0 ? 1e3 * r->n_gen / gms : 0.0);
}

int api_generate(struct server *s, struct http_out *out, const int32_t *prompt, int n_prompt,
                 const struct gen_params *p, const struct gen_sink *sink, struct gen_result *r,
                 struct tl_error *err)
{
    struct api_gen g = { s, out, sink };
    struct gen_sink fwd = { fwd_text, fwd_token, fwd_prompt_token, gone, &g };
    int rc = gen_run(&s->e, &s->kv, prompt, n_prompt, p, &fwd, r, err);
    if (rc == TL_OK && r->finish == GEN_CANCELLED)
        r->finish = GEN_LENGTH;   /* stopping, or the client is gone: what there is, cut */
    out->n_prompt = r->n_prompt;
    out->n_gen = r->n_gen;
    atomic_fetch_add(&s->m.prompt_us, (long long)(r->t_prompt_ms * 1e3));
    atomic_fetch_add(&s->m.gen_us, (long long)(r->t_gen_ms * 1e3));
    return rc;
}

long long api_model_size(const struct server *s)
{
    struct stat st;
    return s->o->eng.model_path && stat(s->o->eng.model_path, &st) == 0 ? (long long)st.st_size : 0;
}

const char *api_quant_name(const struct server *s)
{
    /* llama.cpp's LLAMA_FTYPE_* numbers as general.file_type stores them */
    static const struct { unsigned ft; const char *name; } names[] = {
        { 0, "F32" }, { 1, "F16" }, { 2, "Q4_0" }, { 3, "Q4_1" }, { 7, "Q8_0" }, { 8, "Q5_0" },
        { 9, "Q5_1" }, { 10, "Q2_K" }, { 11, "Q3_K_S" }, { 12, "Q3_K_M" }, { 13, "Q3_K_L" },
        { 14, "Q4_K_S" }, { 15, "Q4_K_M" }, { 16, "Q5_K_S" }, { 17, "Q5_K_M" }, { 18, "Q6_K" },
        { 32, "BF16" },
    };
    uint32_t ft;
    if (gguf_get_u32(&s->e.model.gguf, "general.file_type", &ft, true, NULL) == TL_OK) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (names[i].ft == ft)
                return names[i].name;
        return "unknown";
    }
    /* files without the key (converted ones): the type of the first layer's
     * query weights, which the mixes quantize as their main type */
    const struct gguf_tensor *t = gguf_find_tensor(&s->e.model.gguf, "blk.0.attn_q.weight");
    const struct type_info *ti = t ? type_info(t->type) : NULL;
    if (!ti)
        return "unknown";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(names[i].name, ti->name))
            return names[i].name;
    return "unknown";
}

void api_param_size(const struct server *s, char out[16])
{
    double p = (double)s->e.model.n_params;
    if (p >= 1e9)
        snprintf(out, 16, "%.1fB", p / 1e9);
    else if (p >= 1e6)
        snprintf(out, 16, "%.1fM", p / 1e6);
    else
        snprintf(out, 16, "%.0fK", p / 1e3);
}
