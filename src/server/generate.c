/* server/generate.c: one request's generation (see server/generate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/stream.h"
#include "server/generate.h"

void gen_cache_free(struct gen_cache *c)
{
    free(c->tok);
    memset(c, 0, sizeof *c);
}

const char *gen_finish_reason(int finish)
{
    return finish == GEN_LENGTH ? "length" : "stop";
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void gen_logprobs(const float *logits, int n, int32_t id, int n_top, struct gen_token *t)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        if (!isnan(logits[i]))
            sum += exp((double)logits[i] - mx);
    /* log-softmax: l - max - log(sum exp(l - max)) */
    double lse = mx + log(sum);
    t->logprob = (float)(logits[id] - lse);
    t->n_top = 0;
    if (n_top > GEN_MAX_TOP)
        n_top = GEN_MAX_TOP;
    /* insertion into the sorted best-so-far: n_top is small */
    for (int i = 0; i < n && n_top > 0; i++) {
        float l = logits[i];
        if (isnan(l) || (t->n_top == n_top && l <= t->top[n_top - 1].logprob))
            continue;
        int j = t->n_top < n_top ? t->n_top++ : n_top - 1;
        while (j > 0 && t->top[j - 1].logprob < l) {
            t->top[j] = t->top[j - 1];
            j--;
        }
        t->top[j] = (struct gen_alt){ i, l };
    }
    for (int i = 0; i < t->n_top; i++)
        t->top[i].logprob = (float)(t->top[i].logprob - lse);
}

struct prompt_rows {
    const int32_t *prompt;
    int n_prompt, row, n_top;
    const struct gen_sink *sink;
    struct gen_token t;
};

/* Row i predicts prompt token i + 1. */
static int on_prompt_rows(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    struct prompt_rows *pr = ctx;
    for (int r = 0; r < rows; r++, pr->row++) {
        if (pr->row + 1 >= pr->n_prompt)
            continue;
        struct gen_token *t = &pr->t;
        t->id = pr->prompt[pr->row + 1];
        gen_logprobs(logits + (size_t)r * n_vocab, n_vocab, t->id, pr->n_top, t);
        if (pr->sink->prompt_token && pr->sink->prompt_token(pr->sink->ctx, t))
            return tl_fail(err, TL_EIO, "the client went away");
    }
    return TL_OK;
}

static int cache_grow(struct gen_cache *kv, int n, struct tl_error *err)
{
    if (n <= kv->cap)
        return TL_OK;
    int cap = kv->cap ? kv->cap : 256;
    while (cap < n)
        cap *= 2;
    int32_t *p = realloc(kv->tok, (size_t)cap * sizeof *p);
    if (!p)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    kv->tok = p;
    kv->cap = cap;
    return TL_OK;
}

/* Bring the cache to the prompt: keep the common prefix (never all of it:
 * the last prompt token is evaluated again for its logits), evaluate the
 * rest. */
static int eval_prompt(struct engine *e, struct gen_cache *kv, const int32_t *prompt, int n,
                       const struct gen_params *p, const struct gen_sink *sink, struct gen_result *r,
                       struct tl_error *err)
{
    int keep = 0;
    if (!p->prompt_logprobs)
        while (keep < kv->n && keep < e->st.n_past && keep < n - 1 && kv->tok[keep] == prompt[keep])
            keep++;
    e->st.n_past = keep;   /* later positions are overwritten as they are evaluated */
    kv->n = keep;
    r->n_cached = keep;
    int rc = cache_grow(kv, e->st.n_ctx, err);
    if (rc)
        return rc;
    struct prompt_rows pr = { prompt, n, 0, p->n_top, sink, { 0 } };
    rc = engine_eval(e, prompt + keep, n - keep, p->prompt_logprobs ? on_prompt_rows : NULL, &pr, err);
    if (rc) {
        e->st.n_past = kv->n = 0;
        return rc;
    }
    memcpy(kv->tok + keep, prompt + keep, (size_t)(n - keep) * sizeof *prompt);
    kv->n = n;
    return TL_OK;
}

struct gen_loop {
    struct engine        *e;
    struct gen_cache     *kv;
    struct sampler        smp;
    struct out            out;
    const struct gen_params *p;
    const struct gen_sink *sink;
    struct gen_token      t;
    char                 *piece;
    size_t                cap;
};

static int sink_text(void *ctx, const char *s, size_t n)
{
    const struct gen_sink *sink = ctx;
    return sink->text ? sink->text(sink->ctx, s, n) : 0;
}

/* The loop of `run`'s generate(): sample, report, release text, feed back. */
static int loop(struct gen_loop *g, struct gen_result *r, struct tl_error *err)
{
    struct engine *e = g->e;
    const struct gen_params *p = g->p;
    const struct gen_sink *sink = g->sink;
    r->finish = GEN_LENGTH;
    for (int i = 0; p->n_predict < 0 || i < p->n_predict; i++) {
        const float *logits = engine_last_logits(e);
        int32_t tok;
        int rc = sampler_pick(&g->smp, logits, &tok, err);
        if (rc)
            return rc;
        sampler_accept(&g->smp, tok);
        r->n_gen++;
        if (tokenizer_is_eog(&e->tok, tok)) {
            r->finish = GEN_EOG;
            break;
        }
        size_t len;
        if ((rc = cli_piece(&e->tok, tok, &g->piece, &g->cap, &len, err)))
            return rc;
        g->t.id = tok;
        g->t.piece = g->piece;
        g->t.piece_len = len;
        if (p->logprobs || p->n_top > 0)
            gen_logprobs(logits, e->model.hp.n_vocab, tok, p->n_top, &g->t);
        if (sink->token && sink->token(sink->ctx, &g->t)) {
            r->finish = GEN_CANCELLED;
            break;
        }
        int hit = out_push(&g->out, g->piece, len);
        if (hit) {
            r->finish = GEN_WORD;
            r->stop = hit - 1;
            break;
        }
        if (g->out.closed || (sink->cancelled && sink->cancelled(sink->ctx))) {
            r->finish = GEN_CANCELLED;
            break;
        }
        if (i + 1 == p->n_predict || e->st.n_past >= e->st.n_ctx)
            break;
        if ((rc = engine_eval(e, &tok, 1, NULL, NULL, err))) {
            e->st.n_past = g->kv->n = 0;
            return rc;
        }
        g->kv->tok[g->kv->n++] = tok;
    }
    return TL_OK;
}

int gen_run(struct engine *e, struct gen_cache *kv, const int32_t *prompt, int n_prompt,
            const struct gen_params *p, const struct gen_sink *sink, struct gen_result *r,
            struct tl_error *err)
{
    static const struct gen_sink none;
    memset(r, 0, sizeof *r);
    r->n_prompt = n_prompt;
    if (!sink)
        sink = &none;
    if (n_prompt < 1 || n_prompt > e->st.n_ctx)
        return tl_fail(err, TL_ERANGE, "the prompt is %d tokens but the context holds %d",
                       n_prompt, e->st.n_ctx);
    struct gen_loop g = { .e = e, .kv = kv, .p = p, .sink = sink, .cap = 256 };
    g.out = (struct out){ .stops = p->stops, .n_stops = p->n_stops, .sink = sink_text,
                          .sink_ctx = (void *)sink };
    int rc = sampler_init(&g.smp, &p->sp, e->model.hp.n_vocab, err);
    if (rc)
        return rc;
    if (!(g.piece = malloc(g.cap))) {
        sampler_free(&g.smp);
        return tl_fail(err, TL_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n_prompt; i++)
        sampler_accept(&g.smp, prompt[i]);
    double t0 = now_ms();
    rc = eval_prompt(e, kv, prompt, n_prompt, p, sink, r, err);
    double t1 = now_ms();
    r->t_prompt_ms = t1 - t0;
    if (rc == TL_OK && p->n_predict == 0)
        r->finish = GEN_LENGTH;
    else if (rc == TL_OK)
        rc = loop(&g, r, err);
    if (rc == TL_OK && r->finish != GEN_CANCELLED)
        out_finish(&g.out);
    r->t_gen_ms = now_ms() - t1;
    free(g.piece);
    sampler_free(&g.smp);
    return rc;
}
