/* engine/engine.h: what every command that runs a model holds: the model, its
 * tokenizer, the kernel set, the thread pool and one sequence's state. */
#ifndef TINYLLM_ENGINE_H
#define TINYLLM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/forward.h"
#include "kernels/kernels.h"
#include "engine/model.h"
#include "engine/threads.h"
#include "text/tokenizer.h"

struct engine_opts {
    const char *model_path;
    int         n_ctx;      /* 0: the model's training context, capped at 4096 */
    int         n_threads;  /* 0: physical cores */
    int         n_batch;    /* 0: 512 */
    enum gguf_load load;    /* 0: GGUF_LOAD_AUTO */
    const char *kernels;    /* kernel set by name (kernels_names()); NULL or "": the best
                               this CPU runs. Unknown or not runnable here: TL_EINVAL */
};

struct engine {
    struct model     model;
    struct tokenizer tok;
    struct kernels   k;
    struct pool     *pool;
    struct state     st;
    int              n_threads;
};

int  engine_open(struct engine *e, const struct engine_opts *o, struct tl_error *err);
void engine_close(struct engine *e);

/* Called with each batch's logits when all rows are wanted: rows x n_vocab. */
typedef int (*logits_fn)(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err);

/* Evaluate n tokens (any count, split into batches) after the cached ones.
 * When on_rows is set every row's logits go to it; the last row's logits
 * are left in e->st.logits + (e->st.n_logits - 1) * n_vocab either way. */
int engine_eval(struct engine *e, const int32_t *tokens, int n, logits_fn on_rows, void *ctx,
                struct tl_error *err);

/* The logits of the last evaluated token; NULL before any was evaluated. */
const float *engine_last_logits(const struct engine *e);

#endif
