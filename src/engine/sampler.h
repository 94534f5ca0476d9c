/* engine/sampler.h: from a row of logits to the next token. Greedy when temp is 0;
 * otherwise penalties (repeat, frequency, presence), top-k, temperature,
 * top-p and min-p in llama.cpp's order, then a draw from a seeded generator
 * (same seed, same text). */
#ifndef TINYLLM_SAMPLER_H
#define TINYLLM_SAMPLER_H

#include <stdint.h>

#include "tinyllm.h"

struct sampler_params {
    float    temp;          /* 0 = greedy (argmax) */
    int      top_k;         /* 0 = off */
    float    top_p;         /* 1 = off */
    float    min_p;         /* 0 = off */
    float    repeat_penalty;/* 1 = off */
    int      repeat_last_n; /* window of recent tokens the penalties see */
    float    presence_penalty;  /* subtracted once from a token in the window; 0 = off */
    float    frequency_penalty; /* subtracted per occurrence in the window; 0 = off */
    uint64_t seed;
};

struct sampler {
    struct sampler_params p;
    int       n_vocab;
    uint64_t  rng;          /* xorshift64* state */
    int32_t  *recent;       /* ring of the last repeat_last_n tokens */
    int       n_recent, recent_pos;
    struct cand { float logit; int32_t id; } *cand;   /* n_vocab scratch */
};

/* Defaults as llama.cpp's CLI: temp 0.8, top_k 40, top_p 0.95, min_p 0.05,
 * repeat_penalty 1.0, repeat_last_n 64, presence and frequency penalties 0,
 * seed from the caller. */
struct sampler_params sampler_defaults(void);

int  sampler_init(struct sampler *s, const struct sampler_params *p, int n_vocab, struct tl_error *err);
void sampler_free(struct sampler *s);

/* Pick the next token from logits[n_vocab] (not modified). NaN logits are
 * never chosen. Infinite ones follow softmax's limit: +inf tokens share all
 * the probability (greedy: the first), -inf ones get none; when no logit is
 * above -inf there is nothing to draw from and greedy and sampling both
 * give the lowest id that is not NaN. Returns -1 when every logit is NaN
 * (broken weights: callers report an error). */
int32_t sampler_sample(struct sampler *s, const float *logits);

/* sampler_sample for callers that report errors: the token in *tok, or
 * TL_EINVAL when logits is NULL (nothing evaluated yet) and TL_EFORMAT
 * when every logit is NaN. */
int sampler_pick(struct sampler *s, const float *logits, int32_t *tok, struct tl_error *err);

/* Tell the sampler a token entered the sequence (prompt or generated), for
 * the repetition window. */
void sampler_accept(struct sampler *s, int32_t id);

/* Index of the largest logit; the lowest index wins ties; NaNs are skipped.
 * -1 when every logit is NaN (or n < 1). */
int32_t argmax(const float *logits, int n);

#endif
