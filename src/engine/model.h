/* engine/model.h: hyper-parameters and weights of one transformer, read from a
 * GGUF file and validated once at load, so the forward pass needs no checks.
 * Every family is the llama block with a few switches (struct hparams);
 * weights stay in the file's mapping and its own types. */
#ifndef TINYLLM_MODEL_H
#define TINYLLM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "format/gguf.h"
#include "kernels/kernels.h"
#include "tinyllm.h"

enum arch { ARCH_LLAMA, ARCH_GEMMA, ARCH_QWEN2, ARCH_PHI2, ARCH_PHI3, ARCH_STABLELM, ARCH_GEMMA2, ARCH_COUNT };
enum norm_kind { NORM_RMS, NORM_LAYER };        /* RMSNorm, or LayerNorm (mean removed, bias) */
enum rope_kind { ROPE_NORM, ROPE_NEOX };        /* pairs (2i, 2i+1), or (i, i + n_rot/2) */
enum ffn_kind { FFN_SWIGLU, FFN_GEGLU, FFN_GELU }; /* silu(gate)*up, gelu(gate)*up, gelu(up) */

struct hparams {
    int   arch;            /* enum arch */
    int   n_vocab;
    int   n_ctx_train;     /* context the model was trained for */
    int   n_embd;          /* residual width d */
    int   n_layer;
    int   n_head;          /* query heads */
    int   n_head_kv;       /* key/value heads (GQA: n_head % n_head_kv == 0) */
    int   head_dim;        /* per-head size of q and k */
    int   head_dim_v;      /* per-head size of v */
    int   n_ff;            /* FFN hidden width */
    int   n_rot;           /* rotated dims per head (<= head_dim, even) */
    float rope_base;       /* theta base */
    float rope_freq_scale; /* 1 / linear scaling factor */
    float rope_mscale;     /* rope.scaling.attn_factor: scales cos and sin (LongRoPE) */
    int   n_ctx_orig;      /* context of the unscaled model: above it LongRoPE uses its long factors */
    float norm_eps;
    int   norm;            /* enum norm_kind */
    int   rope;            /* enum rope_kind */
    int   ffn;             /* enum ffn_kind */
    bool  parallel_block;  /* phi2: attention and FFN both read one normed input */
    float embd_scale;      /* gemma: sqrt(n_embd), else 1 */
    int   n_swa;           /* sliding-window size (0 = full attention) */
    bool  swa_even_layers; /* gemma2: only layers 0, 2, 4, ... use the window */
    int   q_scale_dim;     /* prescaled q is multiplied by 1/sqrt(this): head_dim, or
                              n_embd / n_head for Gemma 2 27B */
    float attn_softcap;    /* gemma2: scores become c * tanh(scores / c) (0 = off) */
    float final_softcap;   /* gemma2: the same for the logits */
};

/* A 2-D weight as stored: n_out rows of n_in elements of `type`, row r at
 * data + r * row_bytes. Absent tensors have data == NULL. */
struct weight {
    const void *data;
    uint32_t    type;      /* enum tl_type */
    int         n_in;      /* ne[0] */
    int         n_out;     /* ne[1] */
    size_t      row_bytes;
    bool        packed;    /* rows in the x16 layout (format/quant.h) */
};

struct layer {
    const float  *attn_norm, *attn_norm_b;   /* [n_embd]; _b NULL unless LayerNorm */
    struct weight wq, wk, wv;                /* or fused wqkv (q rows, then k, then v) */
    struct weight wqkv;
    const float  *bq, *bk, *bv, *bqkv;       /* optional biases */
    struct weight wo;
    const float  *bo;
    const float  *ffn_norm, *ffn_norm_b;     /* NULL for parallel blocks (phi2) */
    struct weight w_gate, w_up, w_down;      /* phi3: gate and up fused in w_up, gate rows first */
    const float  *b_up, *b_down;
    const float  *attn_post_norm, *ffn_post_norm;   /* gemma2: RMSNorm of each block's output */
};

struct model {
    struct gguf    gguf;
    struct hparams hp;
    struct weight  tok_embd;                 /* n_vocab rows of n_embd */
    struct weight  output;                   /* n_vocab rows; = tok_embd when tied */
    const float   *output_norm, *output_norm_b, *output_b;
    const float   *rope_factors_long, *rope_factors_short; /* phi3 LongRoPE, [n_rot/2] or NULL */
    const float   *rope_freqs;    /* Llama 3 rope scaling: each pair's frequency divisor, [n_rot/2] or NULL */
    struct layer  *layers;                   /* n_layer */
    float         *vec_store;                /* owned f32 copies of every 1-D tensor */
    uint64_t       n_params;
};

/* Open path, read the hyper-parameters of its architecture and find every
 * weight, checking names, shapes and types against them. Unknown
 * architectures and unsupported tensor types are TL_EUNSUPPORTED with the
 * name; anything inconsistent is TL_EFORMAT. */
int  model_open(struct model *m, const char *path, struct tl_error *err);
/* The same, the file brought in as how says (model_open maps it). */
int  model_open_with(struct model *m, const char *path, enum gguf_load how, struct tl_error *err);
void model_close(struct model *m);

/* Put the weights that k has x16 products for (kernels/kernels.h) in the x16
 * layout, in place, when the file was read into memory (a mapped one's
 * pages would become private copies one fault at a time: seconds a GB).
 * Weights of a shape the layout does not fit stay as they are. */
int  model_pack(struct model *m, const struct kernels *k, struct tl_error *err);
/* Whether model_pack would repack any weight of m (were it in memory). */
bool model_packs(struct model *m, const struct kernels *k);

/* "llama", "gemma", ... */
const char *arch_name(int arch);

#endif
