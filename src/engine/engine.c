/* engine/engine.c: opening a model with everything needed to run it. */
#include <string.h>

#include "kernels/cpu.h"
#include "engine/engine.h"

int engine_open(struct engine *e, const struct engine_opts *o, struct tl_error *err)
{
    memset(e, 0, sizeof *e);
    int rc = kernels_select_named(&e->k, o->kernels, err);
    if (rc)
        return rc;
    if ((rc = model_open_with(&e->model, o->model_path, o->load, err)))
        return rc;
    /* weights the kernel set repacks must be in private memory anyway: a
     * mapped file (parsed, not read) is read in when any would be */
    if (o->load == GGUF_LOAD_AUTO && !e->model.gguf.copied && model_packs(&e->model, &e->k)) {
        model_close(&e->model);
        if ((rc = model_open_with(&e->model, o->model_path, GGUF_LOAD_PRIVATE, err)))
            return rc;
    }
    if ((rc = model_pack(&e->model, &e->k, err)))
        goto fail;
    if ((rc = tokenizer_init(&e->tok, &e->model.gguf, err)))
        goto fail;
    if (e->tok.n_vocab != e->model.hp.n_vocab) {
        rc = tl_fail(err, TL_EFORMAT, "%s: the vocabulary has %d tokens but the embeddings %d rows",
                     o->model_path, e->tok.n_vocab, e->model.hp.n_vocab);
        goto fail;
    }
    int n_ctx = o->n_ctx > 0 ? o->n_ctx : (e->model.hp.n_ctx_train < 4096 ? e->model.hp.n_ctx_train : 4096);
    int n_batch = o->n_batch > 0 ? o->n_batch : 512;
    e->n_threads = o->n_threads > 0 ? o->n_threads : cpu_physical_cores();
    if ((rc = pool_init(&e->pool, e->n_threads, err)))
        goto fail;
    if ((rc = state_init(&e->st, &e->model, &e->k, e->pool, n_ctx, n_batch < n_ctx ? n_batch : n_ctx, err)))
        goto fail;
    return TL_OK;
fail:
    engine_close(e);
    return rc;
}

void engine_close(struct engine *e)
{
    state_free(&e->st);
    pool_free(e->pool);
    tokenizer_free(&e->tok);
    model_close(&e->model);
    memset(e, 0, sizeof *e);
}

int engine_eval(struct engine *e, const int32_t *tokens, int n, logits_fn on_rows, void *ctx,
                struct tl_error *err)
{
    for (int i = 0; i < n; i += e->st.n_batch) {
        int len = n - i < e->st.n_batch ? n - i : e->st.n_batch;
        int rc = forward(&e->st, tokens + i, len, on_rows != NULL, err);
        if (rc == TL_OK && on_rows)
            rc = on_rows(ctx, e->st.logits, len, e->model.hp.n_vocab, err);
        if (rc)
            return rc;
    }
    return TL_OK;
}

const float *engine_last_logits(const struct engine *e)
{
    if (e->st.n_logits < 1)
        return NULL;
    return e->st.logits + (size_t)(e->st.n_logits - 1) * e->model.hp.n_vocab;
}
