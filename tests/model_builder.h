/* model_builder.h: small (or big) random llama-layout GGUF models for tests
 * and benchmarks, written through gguf_write with a synthetic SentencePiece
 * vocabulary, deterministic in the seed. Tensors are generated one at a
 * time at write time, so even a 1B model needs only one tensor in memory. */
#ifndef TINYLLM_MODEL_BUILDER_H
#define TINYLLM_MODEL_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf_write.h"
#include "tinyllm.h"

struct model_builder_config {
    const char *arch;      /* general.architecture and key prefix; NULL = "llama" */
    const char *name;      /* general.name; NULL = "tinyllm-random" */
    int         n_vocab;   /* tokens, >= 260 (3 control + 256 byte tokens + "▁") */
    int         n_embd;    /* model width */
    int         n_layer;
    int         n_head;    /* n_embd % n_head == 0; head size even (RoPE pairs) */
    int         n_head_kv; /* n_head % n_head_kv == 0 */
    int         n_ff;      /* FFN hidden width */
    int         n_ctx;     /* ARCH.context_length */
    float       rope_base; /* ARCH.rope.freq_base */
    float       rms_eps;   /* ARCH.attention.layer_norm_rms_epsilon */
    bool        tied;      /* true: no output.weight (logits use token_embd) */
    uint32_t    wtype;     /* enum tl_type of every 2-D weight; quantize_row must
                              support it. A matrix whose rows are not a multiple
                              of its block falls back to Q8_0 (rows % 32 == 0)
                              or else F16, as llama.cpp's quantizer does. */
    uint64_t    seed;      /* same config and seed: same bytes */
};

struct model_builder_tensor;

/* Fill contexts of the tensors a builder added to a writer. */
struct model_builder {
    struct model_builder_config  cfg;
    struct model_builder_tensor *t;    /* n_t entries, heap */
    size_t                       n_t;
    float                       *row;  /* max(n_embd, n_ff) floats of scratch */
};

/* The "tiny" test shape: vocab 512, width 256, 2 layers, 4 heads (2 KV),
 * FFN 512, context 256, F32, untied, seed 1. */
void model_builder_defaults(struct model_builder_config *c);

/* Validate cfg and add its KVs, vocabulary and tensors (generated later,
 * during the write) to w. mb must stay alive until w has been written.
 * Callers may add or replace KVs in w before writing. TL_EINVAL for a bad
 * config. On failure mb needs no model_builder_free. */
int model_builder_init(struct model_builder *mb, const struct model_builder_config *cfg,
                       struct gguf_writer *w, struct tl_error *err);
void model_builder_free(struct model_builder *mb);

/* Build and write in one go, to path or to a heap buffer (caller frees). */
int model_builder_write_file(const struct model_builder_config *cfg, const char *path,
                             struct tl_error *err);
int model_builder_write_mem(const struct model_builder_config *cfg, void **buf, size_t *size,
                            struct tl_error *err);

/* The tiny model (model_builder_defaults) with weights of type wtype,
 * written as name in the test's scratch directory; its path goes to path
 * (cap bytes). On failure says why on stdout (the tests using the file
 * then fail) and returns the error code. */
int model_builder_tmp_file(uint32_t wtype, const char *name, char *path, size_t cap);

#endif
