/* format/llama2c.h: checkpoints of Karpathy's llama2.c (the format its run.c
 * reads) with their tokenizer.bin, read with every size untrusted, and the
 * F32 GGUF (architecture llama) that llama.cpp's convert-llama2c-to-ggml
 * makes of them. Used by `tinyllm convert`. */
#ifndef TINYLLM_LLAMA2C_H
#define TINYLLM_LLAMA2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf_write.h"
#include "tinyllm.h"

/* The checkpoint's header: seven little-endian int32, as stored. */
struct llama2c_config {
    int32_t dim;         /* n_embd */
    int32_t hidden_dim;  /* n_ff */
    int32_t n_layers;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t vocab_size;  /* negative: the classifier is stored apart from the embeddings */
    int32_t seq_len;     /* training context, in tokens */
};

/* One weight matrix or norm vector of the checkpoint, under its GGUF name. */
struct llama2c_tensor {
    char     name[40];   /* "token_embd.weight", "blk.L.attn_q.weight", ... */
    uint32_t n_dims;     /* 1 or 2 */
    int64_t  ne[2];      /* ggml order: ne[0] = row length, ne[1] = rows */
    uint64_t offset;     /* bytes from the start of the checkpoint file */
    int      fd;         /* the checkpoint, read when the GGUF is written */
};

struct llama2c {
    struct llama2c_config cfg;
    int      n_vocab;          /* |vocab_size| */
    int      head_dim;         /* dim / n_heads */
    bool     shared_classifier; /* vocab_size > 0: output.weight is a copy of token_embd */
    int      fd;               /* the checkpoint, open until llama2c_close */
    uint64_t ckpt_size;        /* bytes; exactly what the header implies */
    struct llama2c_tensor *tensors;  /* n_tensors, in the order they are written */
    size_t   n_tensors;
    /* The vocabulary, as the GGUF holds it: ids 0..2 renamed <unk> <s> </s>,
     * spaces escaped as U+2581. */
    uint8_t *tokens;           /* GGUF string-array payload: per token a u64 length, then the bytes */
    uint64_t tokens_len;       /* bytes of that payload */
    float   *scores;           /* n_vocab, from the tokenizer file */
    int32_t *types;            /* n_vocab, llama.cpp token types (1 normal, 2 unknown, 3 control, 6 byte) */
};

/* Open and validate a checkpoint and its tokenizer: the header's fields in
 * range and consistent, the checkpoint exactly as long as they imply, the
 * tokenizer exactly n_vocab tokens with lengths within its max_token_length
 * and the file. The weights stay on disk until llama2c_add_to_gguf's writer
 * writes them. On failure returns TL_EIO / TL_EFORMAT / TL_EUNSUPPORTED /
 * TL_ENOMEM with one line in err and leaves *m closed. */
int llama2c_open(struct llama2c *m, const char *ckpt_path, const char *tok_path, struct tl_error *err);
/* Release what llama2c_open holds; may be called again, or after a failed open. */
void llama2c_close(struct llama2c *m);

/* Put the model's KVs and tensors into an empty writer, in llama.cpp's order;
 * the tensors are read from the checkpoint when the writer writes, so m must
 * stay open until then. TL_ENOMEM on failure. */
int llama2c_add_to_gguf(const struct llama2c *m, struct gguf_writer *w, struct tl_error *err);

#endif
