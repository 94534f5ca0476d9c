/* format/quantize.h: the library half of `tinyllm quantize`: llama.cpp's file types
 * (LLAMA_FTYPE_*), its per-tensor type choice for each (llama-quant.cpp's
 * rules, without an importance matrix), and the conversion of a GGUF file. */
#ifndef TINYLLM_QUANTIZE_H
#define TINYLLM_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "tinyllm.h"

/* llama.cpp's LLAMA_FTYPE values: what general.file_type records. */
enum quantize_ftype {
    QFT_ALL_F32 = 0, QFT_F16 = 1, QFT_Q4_0 = 2, QFT_Q4_1 = 3, QFT_Q8_0 = 7,
    QFT_Q5_0 = 8, QFT_Q5_1 = 9, QFT_Q2_K = 10, QFT_Q3_K_S = 11, QFT_Q3_K_M = 12,
    QFT_Q3_K_L = 13, QFT_Q4_K_S = 14, QFT_Q4_K_M = 15, QFT_Q5_K_S = 16,
    QFT_Q5_K_M = 17, QFT_Q6_K = 18, QFT_IQ4_NL = 25, QFT_BF16 = 32,
};

struct quantize_ftype_info {
    const char *name;       /* llama.cpp's spelling: "Q4_K_M", "F16" */
    int         ftype;      /* enum quantize_ftype */
    uint32_t    base_type;  /* enum tl_type most matrices get (Q4_K for Q4_K_M) */
};

/* TYPE by name, case-insensitive, including llama.cpp's aliases (Q4_K is
 * Q4_K_M, ...). NULL when unknown. */
const struct quantize_ftype_info *quantize_ftype_find(const char *name);

/* The accepted names, lower case and comma-separated, for messages. */
const char *quantize_ftype_list(void);

/* What the type choice reads from a model's metadata. */
struct quantize_model {
    char arch[64];      /* general.architecture */
    int  n_layer;       /* ARCH.block_count */
    int  n_head;        /* ARCH.attention.head_count (first layer's) */
    int  n_head_kv;     /* ARCH.attention.head_count_kv, = n_head when absent */
    int  n_expert;      /* ARCH.expert_count, 0 when absent */
};

/* Read m from g. TL_EFORMAT when the architecture or block count is missing
 * or malformed. */
int quantize_model_read(struct quantize_model *m, const struct gguf *g, struct tl_error *err);

/* One tensor as the type choice sees it. */
struct quantize_tensor {
    const char *name;   /* NUL-terminated */
    int64_t     ne[4];  /* unused dims are 1 */
    uint32_t    type;   /* enum tl_type in the input */
};

/* The outcome for one tensor. */
struct quantize_choice {
    uint32_t type;      /* enum tl_type in the output */
    bool     convert;   /* type differs from the input's: the bytes are recomputed */
    bool     fallback;  /* the mix's type could not hold the row length: llama.cpp's fallback */
};

/* Choose output types as llama-quantize does for ftype ft (pure: ft's base
 * type for every quantizable matrix). order[0..n) receives the output order,
 * llama.cpp's: tensors outside "blk.N." first, then by layer, by name within;
 * the layer-dependent rules count tensors in that order. choice[i] is for
 * t[i]; it may name a type tinyllm cannot write (IQ4_NL, llama.cpp's
 * fallback for Q2_K/Q3_K). TL_EUNSUPPORTED where llama.cpp fails: a row
 * length that fits neither the type nor a fallback (or --pure's type);
 * TL_EFORMAT for an MoE tensor without a valid "blk.N." layer. */
int quantize_choose(const struct quantize_model *m, const struct quantize_tensor *t, size_t n,
                    const struct quantize_ftype_info *ft, bool pure, size_t *order,
                    struct quantize_choice *choice, struct tl_error *err);

/* Called after each tensor is written: done of total, its name. */
typedef void (*quantize_progress_fn)(void *ctx, size_t done, size_t total, const char *name);

struct quantize_params {
    const struct quantize_ftype_info *ftype;
    bool                 pure;              /* ftype's base type for every matrix */
    bool                 allow_requantize;  /* convert tensors that are already quantized */
    int                  n_threads;         /* >= 1 */
    quantize_progress_fn progress;          /* may be NULL */
    void                *progress_ctx;
};

struct quantize_stats {
    uint64_t size_in, size_out;   /* bytes of tensor data */
    size_t   n_tensors;
    size_t   n_converted;         /* tensors whose type changes */
    size_t   n_requantized;       /* of those, converted from a quantized type */
    size_t   n_fallback;          /* tensors given llama.cpp's fallback type */
};

struct quantize_run;

/* An input file opened and planned; fields are read-only to callers. */
struct quantize_job {
    struct gguf             in;
    struct quantize_params  p;
    struct quantize_stats   st;
    size_t                  n;            /* = in.n_tensors */
    char                  **names;        /* n NUL-terminated tensor names, heap */
    size_t                 *order;        /* output order: indices into in.tensors */
    struct quantize_choice *choice;       /* per input tensor */
    int64_t                 max_row;      /* longest converted row, elements */
    size_t                  max_in_row;   /* its bytes in the input type (the largest) */
    size_t                  max_out_row;  /* and in the output type */
    struct quantize_run    *run;          /* quantize_write's state while it runs */
};

/* Open and plan: map in_path, read the model, choose every tensor's type.
 * TL_EINVAL when tensors are already quantized and would be converted but
 * p->allow_requantize is false (st.n_requantized says how many otherwise);
 * TL_EUNSUPPORTED for an input type tinyllm cannot read, or a row length
 * no writable type fits. On failure j needs no quantize_close. */
int quantize_open(struct quantize_job *j, const char *in_path, const struct quantize_params *p,
                  struct tl_error *err);

/* Write the output to out_path (via out_path.tmp and a rename): the input's
 * metadata (less split.* keys) with general.quantization_version = 2 and
 * general.file_type = the ftype, then the tensors in j->order, converted
 * on p.n_threads threads. TL_EFORMAT when a converted tensor holds NaN or
 * Inf, or its values overflow the output type's f16 scales. */
int quantize_write(struct quantize_job *j, const char *out_path, struct tl_error *err);

void quantize_close(struct quantize_job *j);

#endif
