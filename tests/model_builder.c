/* model_builder.c: random llama-layout models through gguf_write: the KVs
 * llama.cpp's llama arch reads, a synthetic SentencePiece vocabulary, and
 * weights drawn from a splitmix64 stream per tensor, quantised row by row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_builder.h"
#include "format/quant.h"
#include "util/mem.h"
#include "test.h"

#define MB_PIECE_MAX 24              /* bytes per vocabulary piece, with the NUL */
#define MB_SPACE     "\xE2\x96\x81"  /* U+2581, SentencePiece's word-start mark */

/* One weight tensor: ne = {n_in, n_out}, values mean + std * ~N(0,1). */
struct model_builder_tensor {
    struct model_builder *mb;
    int64_t               n_in, n_out;
    uint32_t              type;
    float                 mean, std;
    uint64_t              seed;
};

void model_builder_defaults(struct model_builder_config *c)
{
    *c = (struct model_builder_config){
        .arch = "llama", .name = "tinyllm-random", .n_vocab = 512, .n_embd = 256, .n_layer = 2,
        .n_head = 4, .n_head_kv = 2, .n_ff = 512, .n_ctx = 256, .rope_base = 10000.0f,
        .rms_eps = 1e-5f, .tied = false, .wtype = TL_F32, .seed = 1,
    };
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ~N(0,1) from one draw: the sum of four 16-bit uniforms (Irwin-Hall),
 * centred and scaled to unit variance; cheap enough for 1e9 values. */
static float gauss(uint64_t *s)
{
    uint64_t r = splitmix64(s);
    float sum = (float)(r & 0xFFFF) + (float)((r >> 16) & 0xFFFF) + (float)((r >> 32) & 0xFFFF) +
                (float)(r >> 48);
    return (sum - 131070.0f) * (1.0f / 37837.2f);   /* 65536 * sqrt(4/12) */
}

static int tensor_fill(void *ctx, void *dst, uint64_t size, struct tl_error *err)
{
    struct model_builder_tensor *t = ctx;
    size_t row_bytes = type_row_bytes(t->type, t->n_in);
    if (size != row_bytes * (uint64_t)t->n_out)
        return tl_fail(err, TL_EINVAL, "model_builder: tensor size %llu does not match its shape",
                       (unsigned long long)size);
    uint64_t s = t->seed;
    float *row = t->mb->row;
    for (int64_t r = 0; r < t->n_out; r++) {
        for (int64_t i = 0; i < t->n_in; i++)
            row[i] = t->mean + t->std * gauss(&s);
        quantize_row(t->type, row, (uint8_t *)dst + (size_t)r * row_bytes, t->n_in);
    }
    return TL_OK;
}

/* ---- vocabulary ---- */

struct vocab {
    char  (*piece)[MB_PIECE_MAX];   /* n pieces */
    int     n, cap;
    int     n_fixed;                /* pieces [0, n_fixed) are sorted in `sorted` */
    char  (*sorted)[MB_PIECE_MAX];
};

static const char *const vocab_words[] = {
    "the", "and", "of", "to", "in", "is", "that", "it", "for", "was", "on", "with", "he", "as",
    "you", "be", "at", "by", "this", "have", "from", "or", "one", "had", "not", "but", "what",
    "all", "were", "when", "we", "there", "can", "an", "your", "which", "their", "said", "if",
    "do", "will", "each", "about", "how", "up", "out", "them", "then", "she", "many", "some",
    "so", "these", "would", "other", "into", "has", "more", "her", "two", "like", "him", "see",
    "time", "could", "no", "make", "than", "first", "been", "its", "who", "now", "people", "my",
    "made", "over", "did", "down", "only", "way", "find", "use", "may", "water", "long",
    "little", "very", "after", "words", "called", "just", "where", "most", "know", "world",
    "story", "once", "upon", "day", "good", "happy", "big", "dog", "cat", "girl", "boy", "Hello",
    "The", "Once", "She", "He", "It", "They", "One", "Lily", "Tom", "hello",
};
static const char *const vocab_subwords[] = {
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ing", "ed", "es", "or", "ly",
    "ion", "tion", "al", "le", "st", "ar", "ou", "it", "is",
};

/* Append s unless it is already among the pieces checked so far: the
 * linear scan covers the fixed part (a few hundred); generated fillers are
 * checked against the sorted fixed part by bsearch instead. */
static void vocab_add_fixed(struct vocab *v, const char *s)
{
    if (v->n >= v->cap)
        return;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->piece[i], s))
            return;
    snprintf(v->piece[v->n++], MB_PIECE_MAX, "%s", s);
}

static int piece_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The fixed pieces: control, byte, characters, "▁x", words and every
 * prefix of each word (so SentencePiece merges can reach the word). */
static void vocab_fixed(struct vocab *v)
{
    static const char chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";
    char buf[MB_PIECE_MAX];
    vocab_add_fixed(v, "<unk>");
    vocab_add_fixed(v, "<s>");
    vocab_add_fixed(v, "</s>");
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        vocab_add_fixed(v, buf);
    }
    vocab_add_fixed(v, MB_SPACE);
    for (const char *c = chars; *c; c++) {
        snprintf(buf, sizeof buf, "%c", *c);
        vocab_add_fixed(v, buf);
    }
    for (const char *c = chars; *c; c++) {
        snprintf(buf, sizeof buf, MB_SPACE "%c", *c);
        vocab_add_fixed(v, buf);
    }
    for (size_t i = 0; i < sizeof vocab_subwords / sizeof *vocab_subwords; i++)
        vocab_add_fixed(v, vocab_subwords[i]);
    for (size_t i = 0; i < sizeof vocab_words / sizeof *vocab_words; i++) {
        size_t len = strlen(vocab_words[i]);
        for (size_t k = 2; k <= len; k++) {
            snprintf(buf, sizeof buf, MB_SPACE "%.*s", (int)k, vocab_words[i]);
            vocab_add_fixed(v, buf);
        }
    }
    v->n_fixed = v->n;
}

/* Fill the rest with distinct lowercase strings: "▁ab", "ab", "▁abc", ...
 * (2 to 4 letters), skipping any that the fixed part already holds. */
static int vocab_fill(struct vocab *v)
{
    char buf[MB_PIECE_MAX];
    for (int len = 2; len <= 4 && v->n < v->cap; len++) {
        long count = 1;
        for (int i = 0; i < len; i++)
            count *= 26;
        for (int space = 1; space >= 0; space--) {
            for (long idx = 0; idx < count && v->n < v->cap; idx++) {
                char *p = buf + (space ? snprintf(buf, sizeof buf, MB_SPACE) : 0);
                for (int i = len - 1, x = (int)idx; i >= 0; i--, x /= 26)
                    p[i] = (char)('a' + x % 26);
                p[len] = 0;
                if (!bsearch(buf, v->sorted, (size_t)v->n_fixed, MB_PIECE_MAX, piece_cmp))
                    snprintf(v->piece[v->n++], MB_PIECE_MAX, "%s", buf);
            }
        }
    }
    return v->n == v->cap ? 0 : -1;
}

/* Add tokens, scores, token types and the special ids to w. */
static int add_vocab(struct gguf_writer *w, int n_vocab, struct tl_error *err)
{
    struct vocab v = {0};
    const char **strs = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    int rc = TL_ENOMEM;
    v.cap = n_vocab;
    v.piece = calloc((size_t)n_vocab, MB_PIECE_MAX);
    strs = malloc((size_t)n_vocab * sizeof *strs);
    scores = malloc((size_t)n_vocab * sizeof *scores);
    types = malloc((size_t)n_vocab * sizeof *types);
    if (!v.piece || !strs || !scores || !types)
        goto nomem;
    vocab_fixed(&v);
    v.sorted = malloc((size_t)v.n_fixed * MB_PIECE_MAX);
    if (!v.sorted)
        goto nomem;
    memcpy(v.sorted, v.piece, (size_t)v.n_fixed * MB_PIECE_MAX);
    qsort(v.sorted, (size_t)v.n_fixed, MB_PIECE_MAX, piece_cmp);
    if (vocab_fill(&v)) {
        rc = tl_fail(err, TL_EINVAL, "model_builder: n_vocab %d is larger than the synthetic vocabulary",
                     n_vocab);
        goto out;
    }
    for (int i = 0; i < n_vocab; i++) {
        strs[i] = v.piece[i];
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
    }
    if ((rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
        (rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, (uint64_t)n_vocab, err)) ||
        (rc = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, (uint64_t)n_vocab, err)) ||
        (rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)n_vocab, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
        (rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, err)))
        goto out;
    rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false, err);
    goto out;
nomem:
    rc = tl_fail(err, TL_ENOMEM, "model_builder: out of memory for a %d-token vocabulary", n_vocab);
out:
    mem_free_all(v.piece, v.sorted, strs, scores, types);
    return rc;
}

/* ---- hyper-parameters and tensors ---- */

static int check_config(const struct model_builder_config *c, struct tl_error *err)
{
    const struct type_info *ti = type_info(c->wtype);
    if (c->n_vocab < 260 || c->n_embd < 1 || c->n_layer < 1 || c->n_head < 1 || c->n_head_kv < 1 ||
        c->n_ff < 1 || c->n_ctx < 1)
        return tl_fail(err, TL_EINVAL, "model_builder: sizes must be positive and n_vocab >= 260");
    if (c->n_embd % c->n_head || (c->n_embd / c->n_head) % 2 || c->n_head % c->n_head_kv)
        return tl_fail(err, TL_EINVAL,
                       "model_builder: n_embd %d, n_head %d, n_head_kv %d do not give an even head size",
                       c->n_embd, c->n_head, c->n_head_kv);
    if (!ti || !ti->supported)
        return tl_fail(err, TL_EINVAL, "model_builder: weight type %u cannot be quantised", c->wtype);
    if (!(c->rope_base > 0) || !(c->rms_eps > 0))
        return tl_fail(err, TL_EINVAL, "model_builder: rope_base and rms_eps must be positive");
    return TL_OK;
}

/* llama.cpp's general.file_type (enum llama_ftype) for a single weight type. */
static uint32_t file_type(uint32_t wtype)
{
    switch (wtype) {
    case TL_F32: return 0;
    case TL_F16: return 1;
    case TL_Q4_0: return 2;
    case TL_Q4_1: return 3;
    case TL_Q8_0: return 7;
    case TL_Q5_0: return 8;
    case TL_Q5_1: return 9;
    case TL_Q2_K: return 10;
    case TL_Q3_K: return 11;
    case TL_Q4_K: return 14;
    case TL_Q5_K: return 16;
    case TL_Q6_K: return 18;
    case TL_BF16: return 32;
    default: return 0;
    }
}

static int add_hparams(struct gguf_writer *w, const struct model_builder_config *c, struct tl_error *err)
{
    char k[128];
    const char *a = c->arch;
    int head = c->n_embd / c->n_head;
    int quant = c->wtype != TL_F32 && c->wtype != TL_F16 && c->wtype != TL_BF16;
    int rc;
#define KU32(SUFFIX, V) (snprintf(k, sizeof k, "%s." SUFFIX, a), gguf_writer_set_u32(w, k, (uint32_t)(V), err))
#define KF32(SUFFIX, V) (snprintf(k, sizeof k, "%s." SUFFIX, a), gguf_writer_set_f32(w, k, (V), err))
    if ((rc = gguf_writer_set_str(w, "general.architecture", a, err)) ||
        (rc = gguf_writer_set_str(w, "general.name", c->name, err)) ||
        (rc = KU32("vocab_size", c->n_vocab)) || (rc = KU32("context_length", c->n_ctx)) ||
        (rc = KU32("embedding_length", c->n_embd)) || (rc = KU32("block_count", c->n_layer)) ||
        (rc = KU32("feed_forward_length", c->n_ff)) || (rc = KU32("rope.dimension_count", head)) ||
        (rc = KU32("attention.head_count", c->n_head)) ||
        (rc = KU32("attention.head_count_kv", c->n_head_kv)) ||
        (rc = KF32("attention.layer_norm_rms_epsilon", c->rms_eps)) ||
        (rc = KF32("rope.freq_base", c->rope_base)) ||
        (rc = gguf_writer_set_u32(w, "general.file_type", file_type(c->wtype), err)))
        return rc;
#undef KU32
#undef KF32
    return quant ? gguf_writer_set_u32(w, "general.quantization_version", 2, err) : TL_OK;
}

/* The type a matrix with rows of n_in gets: wtype, or the fallback. */
static uint32_t matrix_type(uint32_t wtype, int64_t n_in)
{
    if (n_in % type_info(wtype)->block_elems == 0)
        return wtype;
    return n_in % QK == 0 ? TL_Q8_0 : TL_F16;
}

/* Register tensor number mb->n_t: a norm vector (n_out == 1, F32, ~1) or a
 * matrix of weights ~N(0, 0.02). */
static int add_tensor(struct model_builder *mb, struct gguf_writer *w, const char *name,
                      int64_t n_in, int64_t n_out, struct tl_error *err)
{
    struct model_builder_tensor *t = &mb->t[mb->n_t];
    int norm = n_out == 1;
    *t = (struct model_builder_tensor){
        .mb = mb, .n_in = n_in, .n_out = n_out,
        .type = norm ? TL_F32 : matrix_type(mb->cfg.wtype, n_in),
        .mean = norm ? 1.0f : 0.0f, .std = 0.02f,
        .seed = mb->cfg.seed ^ (0xD1B54A32D192ED03ull * (mb->n_t + 1)),
    };
    int64_t ne[2] = {n_in, n_out};
    int rc = gguf_writer_add_tensor_fill(w, name, norm ? 1 : 2, ne, t->type, tensor_fill, t, err);
    if (!rc)
        mb->n_t++;
    return rc;
}

static int add_tensors(struct model_builder *mb, struct gguf_writer *w, struct tl_error *err)
{
    const struct model_builder_config *c = &mb->cfg;
    int64_t e = c->n_embd, kv = (int64_t)c->n_embd / c->n_head * c->n_head_kv, ff = c->n_ff;
    char nm[64];
    int rc = add_tensor(mb, w, "token_embd.weight", e, c->n_vocab, err);
    for (int l = 0; l < c->n_layer && !rc; l++) {
        static const char *const parts[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                            "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
        const int64_t shape[][2] = {{e, 1}, {e, e}, {e, kv}, {e, kv}, {e, e},
                                    {e, 1}, {e, ff}, {e, ff}, {ff, e}};
        for (int p = 0; p < 9 && !rc; p++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, parts[p]);
            rc = add_tensor(mb, w, nm, shape[p][0], shape[p][1], err);
        }
    }
    if (!rc)
        rc = add_tensor(mb, w, "output_norm.weight", e, 1, err);
    if (!rc && !c->tied)
        rc = add_tensor(mb, w, "output.weight", e, c->n_vocab, err);
    return rc;
}

int model_builder_init(struct model_builder *mb, const struct model_builder_config *cfg,
                       struct gguf_writer *w, struct tl_error *err)
{
    memset(mb, 0, sizeof *mb);
    int rc = check_config(cfg, err);
    if (rc)
        return rc;
    mb->cfg = *cfg;
    if (!mb->cfg.arch)
        mb->cfg.arch = "llama";
    if (!mb->cfg.name)
        mb->cfg.name = "tinyllm-random";
    size_t n_t = 3 + 9 * (size_t)cfg->n_layer;
    mb->t = calloc(n_t, sizeof *mb->t);
    mb->row = malloc((size_t)(cfg->n_embd > cfg->n_ff ? cfg->n_embd : cfg->n_ff) * sizeof(float));
    if (!mb->t || !mb->row) {
        rc = tl_fail(err, TL_ENOMEM, "model_builder: out of memory");
        goto out;
    }
    if ((rc = add_hparams(w, &mb->cfg, err)) || (rc = add_vocab(w, cfg->n_vocab, err)))
        goto out;
    rc = add_tensors(mb, w, err);
out:
    if (rc)
        model_builder_free(mb);
    return rc;
}

void model_builder_free(struct model_builder *mb)
{
    free(mb->t);
    free(mb->row);
    memset(mb, 0, sizeof *mb);
}

/* Build cfg's model and write it to path, or to *buf (path NULL). */
static int write_model(const struct model_builder_config *cfg, const char *path, void **buf, size_t *size,
                       struct tl_error *err)
{
    struct gguf_writer w;
    struct model_builder mb;
    gguf_writer_init(&w);
    int rc = model_builder_init(&mb, cfg, &w, err);
    if (!rc) {
        rc = path ? gguf_writer_write_file(&w, path, err) : gguf_writer_write_mem(&w, buf, size, err);
        model_builder_free(&mb);
    }
    gguf_writer_free(&w);
    return rc;
}

int model_builder_write_file(const struct model_builder_config *cfg, const char *path,
                             struct tl_error *err)
{
    return write_model(cfg, path, NULL, NULL, err);
}

int model_builder_write_mem(const struct model_builder_config *cfg, void **buf, size_t *size,
                            struct tl_error *err)
{
    return write_model(cfg, NULL, buf, size, err);
}

int model_builder_tmp_file(uint32_t wtype, const char *name, char *path, size_t cap)
{
    struct model_builder_config c;
    struct tl_error err = { 0 };
    model_builder_defaults(&c);
    c.wtype = wtype;
    snprintf(path, cap, "%s/%s", test_tmpdir(), name);
    int rc = model_builder_write_file(&c, path, &err);
    if (rc)
        printf("  cannot build %s: %s\n", path, err.msg);
    return rc;
}
