/* engine/forward.h: the transformer forward pass over a batch of tokens, with the
 * key/value cache that carries a sequence from one call to the next. */
#ifndef TINYLLM_FORWARD_H
#define TINYLLM_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/matmul.h"
#include "engine/model.h"

/* One thread's attention scratch, laid out by attn_scratch_layout for a
 * model and a context of n_ctx positions; rows = max(G * 16, n_head) query
 * rows, G = n_head / n_head_kv (a prefill block is 16 tokens of G heads).
 * Each region starts on a 64-byte boundary; n_* are the elements laid out,
 * which every use asserts covers what it takes. */
struct attn_scratch {
    float    *scores;   /* [rows][n_ctx] f32 q.k of a prefill block, softmaxed in place */
    float    *out;      /* [rows][head_dim_v] f32 a prefill block's attention output */
    uint16_t *weights;  /* [rows][n_ctx] f16 softmax weights that meet V */
    uint16_t *q16;      /* [rows][head_dim] f16 queries (decode: of every head) */
    float    *row;      /* [max(n_ctx, head_dim)] f32 decode's score row or one rotated query */
    uint16_t *v16;      /* [head_dim_v] f16 one token's v on its way to the cache */
    size_t    n_scores, n_out, n_weights, n_q16, n_row, n_v16;
};

struct state {
    const struct model *m;
    struct compute      c;
    int       n_ctx;      /* positions the cache holds */
    int       n_batch;    /* most tokens per forward() call */
    int       n_past;     /* positions filled so far */
    uint16_t *kcache;     /* f16 [n_layer][n_head_kv][n_ctx][head_dim] */
    uint16_t *vcache;     /* f16 [n_layer][n_head_kv][head_dim_v][n_ctx]: transposed,
                             so softmax weights times V is a matrix product */
    float    *inv_freq;   /* [n_rot/2] RoPE frequencies (scaling applied) */
    float    *rope_cs;    /* [n_batch][n_rot/2][2] cos, sin of each batch position */
    /* batch buffers, n_batch rows each */
    float    *x;          /* [n_embd] residual stream */
    float    *xn;         /* [n_embd] normed input of a block */
    float    *qkv;        /* [q_dim + k_dim + v_dim] */
    float    *att;        /* [n_head * head_dim_v] attention output */
    float    *ffa, *ffb;  /* [n_ff] gate (or ungated up), up */
    uint16_t *gelu_f16;   /* GELU models: gelu of every f16 input, as f16 (65536) */
    float    *y;          /* [n_embd] block output before the residual add */
    struct attn_scratch *attn; /* [pool threads] per-thread attention scratch */
    void     *attn_mem;   /* the block every thread's scratch lies in */
    float    *att_s;      /* [n_head][n_ctx] decode attention scores, shared */
    float    *logits;     /* [logits_cap][n_vocab] */
    int       logits_cap; /* rows allocated in logits */
    int       n_logits;   /* rows of logits the last forward() wrote */
};

/* Allocate the cache and buffers for a context of n_ctx positions and
 * batches of up to n_batch tokens, computing with kernels k on pool. */
int  state_init(struct state *s, const struct model *m, const struct kernels *k,
                struct pool *pool, int n_ctx, int n_batch, struct tl_error *err);
void state_free(struct state *s);

/* Lay out one thread's attention scratch for hp and n_ctx at base (64-byte
 * aligned; NULL: sizes only) and return its bytes, a multiple of 64. */
size_t attn_scratch_layout(struct attn_scratch *a, const struct hparams *hp, int n_ctx, void *base);

/* Evaluate tokens[0..n) (n <= n_batch) at positions n_past.., append them to
 * the cache and advance n_past. Writes the logits of every token (all_logits)
 * or of the last one to s->logits. TL_ERANGE when the context is full,
 * TL_EINVAL for a token id outside the vocabulary. */
int forward(struct state *s, const int32_t *tokens, int n, bool all_logits, struct tl_error *err);

#endif
