/* chat/chat.c: conversations over the KV cache (see chat/chat.h). */
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "cli/cli.h"
#include "util/mem.h"

static bool vocab_has(const void *ctx, const char *text)
{
    return tokenizer_find(ctx, text, strlen(text)) >= 0;
}

static const char *token_text(const struct tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab ? t->text[id] : "";
}

int chat_init(struct chat *c, struct engine *e, const struct chat_opts *o, struct tl_error *err)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->bos = token_text(&e->tok, e->tok.bos);
    c->eos = token_text(&e->tok, e->tok.eos);
    size_t flen = 0;
    int rc = TL_OK;
    if (o->template_file && (rc = cli_read_file(o->template_file, &c->tmpl_owned, &flen, err)))
        return rc;
    struct gguf_str model = { 0 };
    gguf_get_str(&e->model.gguf, "tokenizer.chat_template", &model, false, NULL);
    struct chat_vocab v = { vocab_has, &e->tok };
    rc = chat_template_choose(model.ptr, (size_t)model.len, o->template_name, c->tmpl_owned, flen, &v,
                              &c->tmpl, err);
    if (rc == TL_OK && o->system && *o->system) {
        rc = chat_add(c, "system", o->system, err);
        c->has_system = true;
    }
    if (rc)
        chat_free(c);
    return rc;
}

void chat_free(struct chat *c)
{
    for (int i = 0; i < c->n_msgs; i++) {
        free((char *)c->msgs[i].role);
        free((char *)c->msgs[i].content);
    }
    mem_free_all(c->msgs, c->cache, c->tmpl_owned);
    memset(c, 0, sizeof *c);
}

int chat_add(struct chat *c, const char *role, const char *content, struct tl_error *err)
{
    if (c->n_msgs == c->cap_msgs) {
        int cap = c->cap_msgs ? 2 * c->cap_msgs : 8;
        struct chat_msg *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m)
            return tl_fail(err, TL_ENOMEM, "out of memory for the conversation");
        c->msgs = m;
        c->cap_msgs = cap;
    }
    char *r = strdup(role), *t = strdup(content);
    if (!r || !t) {
        free(r);
        free(t);
        return tl_fail(err, TL_ENOMEM, "out of memory for the conversation");
    }
    c->msgs[c->n_msgs++] = (struct chat_msg){ r, t };
    return TL_OK;
}

int chat_render(const struct chat *c, bool add_generation_prompt, char **out, struct tl_error *err)
{
    size_t len;
    return chat_template_render(c->tmpl.text, c->tmpl.len, c->msgs, (size_t)c->n_msgs, c->bos, c->eos,
                                add_generation_prompt, out, &len, err);
}

int chat_tokens(const struct chat *c, int32_t **ids, int *n, struct tl_error *err)
{
    char *text = NULL;
    int rc = chat_render(c, true, &text, err);
    if (rc)
        return rc;
    const struct tokenizer *t = &c->e->tok;
    bool has_bos = t->bos >= 0 && *c->bos && !strncmp(text, c->bos, strlen(c->bos));
    *ids = NULL;
    *n = 0;
    if (t->add_bos && !has_bos && t->bos >= 0) {
        if (!(*ids = malloc(sizeof **ids))) {
            free(text);
            return tl_fail(err, TL_ENOMEM, "out of memory");
        }
        (*ids)[(*n)++] = t->bos;
    }
    rc = tokenizer_encode(t, text, strlen(text), false, true, ids, n, err);
    free(text);
    if (rc) {
        free(*ids);
        *ids = NULL;
    }
    return rc;
}

/* Remove the oldest turn after the system prompt: a message, and the
 * assistant answer that follows it, so roles keep alternating. Returns the
 * number of messages removed. */
static int drop_oldest(struct chat *c)
{
    int i = c->has_system ? 1 : 0, n = 0;
    do {
        free((char *)c->msgs[i].role);
        free((char *)c->msgs[i].content);
        memmove(&c->msgs[i], &c->msgs[i + 1], (size_t)(c->n_msgs - i - 1) * sizeof *c->msgs);
        c->n_msgs--;
        n++;
    } while (c->n_msgs - i > 1 && !strcmp(c->msgs[i].role, "assistant"));
    return n;
}

static int grow_cache(struct chat *c, int n, struct tl_error *err)
{
    if (n <= c->cap_cache)
        return TL_OK;
    int32_t *p = realloc(c->cache, (size_t)n * sizeof *p);
    if (!p)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    c->cache = p;
    c->cap_cache = n;
    return TL_OK;
}

int chat_prepare(struct chat *c, int reserve, int *dropped, struct tl_error *err)
{
    struct state *st = &c->e->st;
    int32_t *ids = NULL;
    int n = 0, rc;
    *dropped = 0;
    for (;;) {
        if ((rc = chat_tokens(c, &ids, &n, err)))
            return rc;
        if (n + reserve <= st->n_ctx)
            break;
        if (c->n_msgs - (c->has_system ? 1 : 0) <= 1) {   /* nothing left to drop */
            if (n < st->n_ctx)
                break;                                   /* fits, with less room to answer */
            free(ids);
            return tl_fail(err, TL_ERANGE, "the message is %d tokens but the context holds %d (raise -c)",
                           n, st->n_ctx);
        }
        free(ids);
        ids = NULL;
        *dropped += drop_oldest(c);
    }
    int keep = 0;
    while (keep < st->n_past && keep < n - 1 && c->cache[keep] == ids[keep])
        keep++;
    st->n_past = keep;   /* later positions are overwritten as they are evaluated */
    rc = grow_cache(c, n, err);
    if (rc == TL_OK)
        rc = engine_eval(c->e, ids + keep, n - keep, NULL, NULL, err);
    if (rc == TL_OK)
        memcpy(c->cache + keep, ids + keep, (size_t)(n - keep) * sizeof *ids);
    free(ids);
    return rc;
}

int chat_feed(struct chat *c, int32_t tok, struct tl_error *err)
{
    int n = c->e->st.n_past;
    int rc = grow_cache(c, n + 1, err);
    if (rc == TL_OK && (rc = engine_eval(c->e, &tok, 1, NULL, NULL, err)) == TL_OK)
        c->cache[n] = tok;
    return rc;
}
