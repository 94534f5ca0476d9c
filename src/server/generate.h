/* server/generate.h: one request's generation on the model thread: prompt
 * tokens in; sampled tokens, their log-probabilities and their text out
 * through callbacks, with `run`'s stop-string and UTF-8 hold-back (so the
 * same prompt, seed and sampling give the same bytes as `tinyllm run`).
 * The KV cache is reused for the prefix a prompt shares with what it holds. */
#ifndef TINYLLM_GENERATE_H
#define TINYLLM_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/sampler.h"

#define GEN_MAX_TOP   20    /* alternatives per token a request may ask for */
#define GEN_MAX_STOPS 16    /* stop strings per request, each 1..GEN_MAX_STOP_LEN bytes */
#define GEN_MAX_STOP_LEN 256

/* The tokens whose keys and values are in the engine's cache, in order:
 * e->st.n_past of them. Zeroed: an empty cache. */
struct gen_cache {
    int32_t *tok;
    int      n, cap;
};

void gen_cache_free(struct gen_cache *c);

struct gen_params {
    struct sampler_params sp;
    int   n_predict;               /* most tokens to sample; -1: until end of text or a full context */
    const char *const *stops;      /* n_stops strings */
    int   n_stops;
    bool  logprobs;                /* each token's log-probability */
    int   n_top;                   /* 0..GEN_MAX_TOP most likely alternatives per token */
    bool  prompt_logprobs;         /* also for the prompt's tokens (evaluates the whole prompt) */
};

struct gen_alt { int32_t id; float logprob; };

/* One token with its log-probability under the log-softmax of the raw
 * logits the sampler saw (before penalties and temperature). */
struct gen_token {
    int32_t        id;
    float          logprob;         /* 0 unless logprobs */
    int            n_top;
    struct gen_alt top[GEN_MAX_TOP];/* best first, ties by lower id */
    const char    *piece;           /* the token's bytes (may split a UTF-8 character) */
    size_t         piece_len;
};

/* Where the output goes. Any callback may be NULL; a nonzero return from
 * text or token ends the generation as cancelled (the client is gone). */
struct gen_sink {
    /* text ready to send: valid UTF-8, stop strings and what follows them removed */
    int  (*text)(void *ctx, const char *s, size_t n);
    /* each sampled token that is not end-of-generation, before its text reaches text() */
    int  (*token)(void *ctx, const struct gen_token *t);
    /* with prompt_logprobs: the prompt's tokens from the second on, in order */
    int  (*prompt_token)(void *ctx, const struct gen_token *t);
    /* polled between tokens: true ends the generation as cancelled */
    bool (*cancelled)(void *ctx);
    void  *ctx;
};

enum gen_finish {
    GEN_EOG,          /* an end-of-generation token */
    GEN_WORD,         /* a stop string */
    GEN_LENGTH,       /* n_predict tokens, or the context is full */
    GEN_CANCELLED,    /* the sink said stop */
};

struct gen_result {
    int    n_prompt;      /* prompt tokens */
    int    n_cached;      /* of them, already in the cache (not evaluated) */
    int    n_gen;         /* tokens sampled, an end-of-generation one included (as `run` counts) */
    double t_prompt_ms, t_gen_ms;
    int    finish;        /* enum gen_finish */
    int    stop;          /* GEN_WORD: index of the stop string */
};

/* Evaluate prompt[0..n_prompt) (reusing the cached prefix) and generate.
 * n_prompt must be 1..e->st.n_ctx (callers answer longer prompts with
 * their 400). Errors from the engine or memory: a TL_E* code with err
 * filled; the cache then counts as empty. */
int gen_run(struct engine *e, struct gen_cache *kv, const int32_t *prompt, int n_prompt,
            const struct gen_params *p, const struct gen_sink *sink, struct gen_result *r,
            struct tl_error *err);

/* logprob of id and the n_top best alternatives under log-softmax(logits[n]). */
void gen_logprobs(const float *logits, int n, int32_t id, int n_top, struct gen_token *t);

/* "stop", "length": the finish reason OpenAI and Ollama report. */
const char *gen_finish_reason(int finish);

#endif
