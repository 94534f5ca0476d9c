/* format/quantize.c: llama-quantize's behaviour without an importance matrix: which
 * tensors it quantizes, the per-tensor type of each _S/_M/_L mix (by name,
 * layer and shape), its fallbacks, and the file conversion over a pool. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format/gguf_write.h"
#include "format/quant.h"
#include "format/quantize.h"
#include "engine/threads.h"
#include "util/mem.h"

/* ---- file types ---- */

static const struct quantize_ftype_info ftypes[] = {
    { "F32", QFT_ALL_F32, TL_F32 },     { "F16", QFT_F16, TL_F16 },
    { "BF16", QFT_BF16, TL_BF16 },      { "Q8_0", QFT_Q8_0, TL_Q8_0 },
    { "Q4_0", QFT_Q4_0, TL_Q4_0 },      { "Q4_1", QFT_Q4_1, TL_Q4_1 },
    { "Q5_0", QFT_Q5_0, TL_Q5_0 },      { "Q5_1", QFT_Q5_1, TL_Q5_1 },
    { "Q2_K", QFT_Q2_K, TL_Q2_K },      { "Q3_K_S", QFT_Q3_K_S, TL_Q3_K },
    { "Q3_K_M", QFT_Q3_K_M, TL_Q3_K },  { "Q3_K_L", QFT_Q3_K_L, TL_Q3_K },
    { "Q4_K_S", QFT_Q4_K_S, TL_Q4_K },  { "Q4_K_M", QFT_Q4_K_M, TL_Q4_K },
    { "Q5_K_S", QFT_Q5_K_S, TL_Q5_K },  { "Q5_K_M", QFT_Q5_K_M, TL_Q5_K },
    { "Q6_K", QFT_Q6_K, TL_Q6_K },      { "IQ4_NL", QFT_IQ4_NL, TL_IQ4_NL },
    /* llama-quantize's aliases */
    { "Q3_K", QFT_Q3_K_M, TL_Q3_K },    { "Q4_K", QFT_Q4_K_M, TL_Q4_K },
    { "Q5_K", QFT_Q5_K_M, TL_Q5_K },
};

const struct quantize_ftype_info *quantize_ftype_find(const char *name)
{
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (!strcasecmp(ftypes[i].name, name))
            return &ftypes[i];
    return NULL;
}

const char *quantize_ftype_list(void)
{
    return "f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k_s, q3_k_m, q3_k_l, "
           "q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k, iq4_nl (q3_k, q4_k, q5_k mean the _m mixes)";
}

/* ---- model metadata ---- */

/* An integer KV, or the first element of a per-layer array; *out untouched
 * when absent. */
static int read_count(const struct gguf *g, const char *key, int *out, struct tl_error *err)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return TL_OK;
    double v;
    if (kv->type == GGUF_ARRAY) {
        uint32_t et = kv->v.arr.type;
        if (kv->v.arr.n == 0 || et == GGUF_STRING || et == GGUF_ARRAY || et == GGUF_F32 || et == GGUF_F64)
            return tl_fail(err, TL_EFORMAT, "%s is not an integer or an array of integers", key);
        v = gguf_arr_num(kv, 0);
    } else {
        uint32_t u;
        int rc = gguf_get_u32(g, key, &u, true, err);
        if (rc)
            return rc;
        v = u;
    }
    if (!(v >= 0 && v <= 1 << 20))
        return tl_fail(err, TL_EFORMAT, "%s = %g is out of range", key, v);
    *out = (int)v;
    return TL_OK;
}

int quantize_model_read(struct quantize_model *m, const struct gguf *g, struct tl_error *err)
{
    memset(m, 0, sizeof *m);
    struct gguf_str a;
    int rc = gguf_get_str(g, "general.architecture", &a, true, err);
    if (rc)
        return rc;
    if (a.len == 0 || a.len >= sizeof m->arch || memchr(a.ptr, 0, a.len))
        return tl_fail(err, TL_EFORMAT, "general.architecture is empty or too long");
    memcpy(m->arch, a.ptr, a.len);
    char key[128];
    snprintf(key, sizeof key, "%s.block_count", m->arch);
    m->n_layer = -1;
    if ((rc = read_count(g, key, &m->n_layer, err)))
        return rc;
    if (m->n_layer < 0)
        return tl_fail(err, TL_EFORMAT, "%s is missing", key);
    snprintf(key, sizeof key, "%s.attention.head_count", m->arch);
    if ((rc = read_count(g, key, &m->n_head, err)))
        return rc;
    m->n_head_kv = m->n_head;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", m->arch);
    if ((rc = read_count(g, key, &m->n_head_kv, err)))
        return rc;
    snprintf(key, sizeof key, "%s.expert_count", m->arch);
    return read_count(g, key, &m->n_expert, err);
}

/* ---- names ---- */

static bool has(const char *name, const char *part)
{
    return strstr(name, part) != NULL;
}

/* The N of "blk.N." as sscanf("blk.%d.") reads it (sign and leading space
 * allowed, clamped to int), or -1 for any other name. */
static int layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4))
        return -1;
    const char *p = name + 4;
    while (isspace((unsigned char)*p))
        p++;
    int neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    long long v = 0;
    for (; isdigit((unsigned char)*p); p++)
        v = v < INT_MAX ? v * 10 + (*p - '0') : v;
    v = neg ? -v : v;
    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

/* ggml_n_dims: dimensions up to the last one above 1. */
static uint32_t n_dims_of(const int64_t ne[4])
{
    for (int d = 3; d >= 1; d--)
        if (ne[d] > 1)
            return (uint32_t)d + 1;
    return 1;
}

/* llama.cpp quantizes 2-D+ tensors named "...weight" except norms, MoE
 * routers, positional/type embeddings and a few small special matrices. */
static bool quantizable(const struct quantize_tensor *t)
{
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight",
        "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    };
    size_t len = strlen(t->name);
    if (len < 6 || strcmp(t->name + len - 6, "weight") || n_dims_of(t->ne) < 2)
        return false;
    if (!strcmp(t->name, "position_embd.weight") || !strcmp(t->name, "token_types.weight"))
        return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (has(t->name, never[i]))
            return false;
    return true;
}

/* ---- llama_tensor_get_type, for the mixes tinyllm writes ---- */

struct choose_state {
    const struct quantize_model *m;
    int  ftype;
    bool has_output;    /* output.weight exists (else token_embd is the output) */
    bool falcon, is_70b;
    int  n_gqa;
    int  n_attention_wv, i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
};

/* Layers that get more bits: the first and last eighth and every third between. */
static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* llama.cpp's model size class "70B" (attn_v gets more bits there). */
static bool is_70b(const struct quantize_model *m)
{
    if (m->n_layer != 80)
        return false;
    if (!strcmp(m->arch, "llama"))
        return m->n_expert != 8 && m->n_head != m->n_head_kv;
    return !strcmp(m->arch, "deci") || !strcmp(m->arch, "qwen2") || !strcmp(m->arch, "minicpm") ||
           !strcmp(m->arch, "olmo");
}

/* The layer index a per-layer rule uses: the running count of such tensors,
 * or for MoE models the N of "blk.N." (experts need not be consecutive). */
static int layer_info(const struct choose_state *s, int counter, const char *name, int *il,
                      struct tl_error *err)
{
    *il = counter;
    if (s->m->n_expert <= 1)
        return TL_OK;
    *il = layer_of(name);
    if (*il < 0 || *il >= s->m->n_layer)
        return tl_fail(err, TL_EFORMAT, "tensor '%s': no layer in [0, %d) in its name", name, s->m->n_layer);
    return TL_OK;
}

static uint32_t type_attn_v(struct choose_state *s, uint32_t t)
{
    int f = s->ftype, i = s->i_attention_wv++, n = s->n_attention_wv;
    if (f == QFT_Q2_K)
        t = s->n_gqa >= 4 ? TL_Q4_K : TL_Q3_K;
    else if (f == QFT_Q3_K_M)
        t = i < 2 ? TL_Q5_K : TL_Q4_K;
    else if (f == QFT_Q3_K_L)
        t = TL_Q5_K;
    else if (f == QFT_IQ4_NL && s->n_gqa >= 4)
        t = TL_Q5_K;
    else if ((f == QFT_Q4_K_M || f == QFT_Q5_K_M) && use_more_bits(i, n))
        t = TL_Q6_K;
    else if (f == QFT_Q4_K_S && i < 4)
        t = TL_Q5_K;
    if (s->is_70b && (t == TL_Q3_K || t == TL_Q4_K))
        t = TL_Q5_K;
    return s->m->n_expert == 8 ? TL_Q8_0 : t;
}

static int type_ffn_down(struct choose_state *s, const char *name, uint32_t *t, struct tl_error *err)
{
    int il, n = s->m->n_layer;
    int rc = layer_info(s, s->i_ffn_down, name, &il, err);
    if (rc)
        return rc;
    bool more = use_more_bits(il, n);
    switch (s->ftype) {
    case QFT_Q2_K: *t = TL_Q3_K; break;
    case QFT_Q3_K_M: *t = il < n / 16 ? TL_Q5_K : !s->falcon || more ? TL_Q4_K : TL_Q3_K; break;
    case QFT_Q3_K_L: *t = s->falcon ? TL_Q4_K : TL_Q5_K; break;
    case QFT_Q4_K_M:
        if (s->falcon)
            *t = il < n / 16 ? TL_Q6_K : more ? TL_Q5_K : TL_Q4_K;
        else if (more)
            *t = TL_Q6_K;
        break;
    case QFT_Q5_K_M: *t = more ? TL_Q6_K : *t; break;
    case QFT_Q4_K_S: *t = !s->falcon && il < n / 8 ? TL_Q5_K : *t; break;
    case QFT_IQ4_NL: *t = il < n / 8 ? TL_Q5_K : *t; break;   /* without an importance matrix */
    default: break;
    }
    s->i_ffn_down++;
    return TL_OK;
}

static uint32_t type_attn_output(const struct choose_state *s, uint32_t t)
{
    int f = s->ftype;
    if (s->falcon)
        return f == QFT_Q3_K_L ? TL_Q4_K : t;
    if (s->m->n_expert == 8)
        return f == QFT_Q2_K || f == QFT_Q3_K_S || f == QFT_Q3_K_M || f == QFT_Q4_K_S ||
                       f == QFT_Q4_K_M || f == QFT_IQ4_NL ? TL_Q5_K : t;
    return f == QFT_Q2_K ? TL_Q3_K : f == QFT_Q3_K_M ? TL_Q4_K : f == QFT_Q3_K_L ? TL_Q5_K : t;
}

static uint32_t type_attn_qkv(const struct choose_state *s, uint32_t t)
{
    int f = s->ftype;
    if (f == QFT_Q3_K_M || f == QFT_Q3_K_L)
        return TL_Q4_K;
    return f == QFT_Q4_K_M ? TL_Q5_K : f == QFT_Q5_K_M ? TL_Q6_K : t;
}

/* The mix's type for a tensor by name and layer, before the row-length check. */
static int mix_type(struct choose_state *s, const struct quantize_tensor *t, uint32_t *type,
                    struct tl_error *err)
{
    const char *nm = t->name;
    int il;
    if (!strcmp(nm, "output.weight") || (!s->has_output && !strcmp(nm, "token_embd.weight"))) {
        if (s->falcon || t->ne[0] % type_info(*type)->block_elems)
            *type = TL_Q8_0;
        else if (*type != TL_Q8_0)
            *type = TL_Q6_K;
    } else if (!strcmp(nm, "token_embd.weight")) {
        /* only the IQ and TQ mixes change it */
    } else if (has(nm, "attn_v.weight")) {
        *type = type_attn_v(s, *type);
    } else if (has(nm, "attn_k.weight")) {
        *type = s->m->n_expert == 8 ? TL_Q8_0 : *type;
    } else if (has(nm, "attn_q.weight")) {
        /* only the IQ mixes change it */
    } else if (has(nm, "ffn_down")) {
        return type_ffn_down(s, nm, type, err);
    } else if (has(nm, "attn_output.weight")) {
        *type = type_attn_output(s, *type);
    } else if (has(nm, "attn_qkv.weight")) {
        *type = type_attn_qkv(s, *type);
    } else if (has(nm, "ffn_gate")) {
        int rc = layer_info(s, s->i_ffn_gate++, nm, &il, err);
        if (rc)
            return rc;
    } else if (has(nm, "ffn_up")) {
        int rc = layer_info(s, s->i_ffn_up++, nm, &il, err);
        if (rc)
            return rc;
    }
    return TL_OK;
}

/* A row length the type's block does not divide: llama.cpp's fallback type
 * (IQ4_NL for Q2_K/Q3_K, which tinyllm cannot write: plan_check refuses it),
 * F16 when even that does not fit. */
static int fallback_type(const struct quantize_tensor *t, uint32_t *type, struct tl_error *err)
{
    switch (*type) {
    case TL_Q2_K: case TL_Q3_K: *type = TL_IQ4_NL; break;
    case TL_Q4_K: *type = TL_Q5_0; break;
    case TL_Q5_K: *type = TL_Q5_1; break;
    case TL_Q6_K: *type = TL_Q8_0; break;
    default:
        return tl_fail(err, TL_EUNSUPPORTED, "tensor '%s': rows of %lld values do not fit %s blocks of %d",
                       t->name, (long long)t->ne[0], type_info(*type)->name, type_info(*type)->block_elems);
    }
    if (t->ne[0] % type_info(*type)->block_elems)
        *type = TL_F16;
    return TL_OK;
}

/* One tensor's choice, as llama_model_quantize_impl makes it. */
static int choose_one(struct choose_state *s, const struct quantize_tensor *t, uint32_t base, bool pure,
                      struct quantize_choice *c, struct tl_error *err)
{
    *c = (struct quantize_choice){ .type = t->type };
    if (!quantizable(t))
        return TL_OK;
    uint32_t type = base;
    if (!pure && type_info(base)->block_elems > 1) {
        int rc = mix_type(s, t, &type, err);
        if (!rc && t->ne[0] % type_info(type)->block_elems) {
            c->fallback = true;
            rc = fallback_type(t, &type, err);
        }
        if (rc)
            return rc;
    } else if (t->ne[0] % type_info(type)->block_elems) {
        return tl_fail(err, TL_EUNSUPPORTED, "tensor '%s': rows of %lld values do not fit %s blocks of %d%s",
                       t->name, (long long)t->ne[0], type_info(type)->name, type_info(type)->block_elems,
                       pure ? " (without --pure llama.cpp's fallback types apply)" : "");
    }
    c->type = type;
    c->convert = type != t->type;
    return TL_OK;
}

struct sort_key {
    int         layer;
    const char *name;
    size_t      index;
};

static int by_layer_name(const void *pa, const void *pb)
{
    const struct sort_key *a = pa, *b = pb;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

int quantize_choose(const struct quantize_model *m, const struct quantize_tensor *t, size_t n,
                    const struct quantize_ftype_info *ft, bool pure, size_t *order,
                    struct quantize_choice *choice, struct tl_error *err)
{
    struct choose_state s = {
        .m = m, .ftype = ft->ftype, .falcon = !strcmp(m->arch, "falcon"), .is_70b = is_70b(m),
        .n_gqa = m->n_head_kv ? m->n_head / m->n_head_kv : 0,
    };
    struct sort_key *k = malloc((n ? n : 1) * sizeof *k);
    if (!k)
        return tl_fail(err, TL_ENOMEM, "out of memory ordering %zu tensors", n);
    for (size_t i = 0; i < n; i++) {
        k[i] = (struct sort_key){ layer_of(t[i].name), t[i].name, i };
        if (has(t[i].name, "attn_v.weight") || has(t[i].name, "attn_qkv.weight") ||
            has(t[i].name, "attn_kv_b.weight"))
            s.n_attention_wv++;
        else if (!strcmp(t[i].name, "output.weight"))
            s.has_output = true;
    }
    qsort(k, n, sizeof *k, by_layer_name);
    int rc = TL_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        order[i] = k[i].index;
        rc = choose_one(&s, &t[k[i].index], ft->base_type, pure, &choice[k[i].index], err);
    }
    free(k);
    return rc;
}

/* ---- the file conversion ---- */

#define ROW_ALIGN 4   /* the strictest alignment a row's scalars need (f32) */

struct quantize_fill {
    struct quantize_job *job;
    size_t               index;   /* into job->in.tensors */
};

struct quantize_run {
    struct pool          *pool;
    struct quantize_fill *fills;     /* per input tensor */
    float                *x;         /* per thread: max_row floats */
    uint8_t              *raw_in;    /* per thread: max_in_row bytes, for unaligned input rows */
    uint8_t              *raw_out;   /* per thread: max_out_row bytes, for unaligned output rows */
    int64_t              *bad_row;   /* per thread: first failing row, or -1 */
    int                  *bad_kind;  /* per thread: 1 non-finite input, 2 output overflow */
    size_t                n_done;    /* tensors written */
};

/* One tensor's conversion, split by rows over the pool. */
struct convert_task {
    const struct quantize_job *j;
    const struct gguf_tensor  *t;
    uint32_t                   type;     /* output type */
    uint8_t                   *dst;
    int64_t                    ne0;
    int                        nrows;
    size_t                     in_row, out_row;   /* bytes */
};

static bool all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

static uint16_t u16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* ggml_validate_row_data's test of a converted row: no Inf/NaN in F16/BF16
 * values or in a block's f16 scale (and min). */
static bool row_valid(uint32_t type, const uint8_t *q, size_t bytes)
{
    static const struct { uint32_t type; uint16_t d, m; } scales[] = {
        { TL_Q4_0, 0, 0 }, { TL_Q4_1, 0, 2 }, { TL_Q5_0, 0, 0 }, { TL_Q5_1, 0, 2 },
        { TL_Q8_0, 0, 0 }, { TL_Q2_K, 80, 82 }, { TL_Q3_K, 108, 108 }, { TL_Q4_K, 0, 2 },
        { TL_Q5_K, 0, 2 }, { TL_Q6_K, 208, 208 },
    };
    if (type == TL_F16 || type == TL_BF16) {
        uint16_t exp = type == TL_F16 ? 0x7c00 : 0x7f80;
        for (size_t i = 0; i + 1 < bytes; i += 2)
            if ((u16_at(q + i) & exp) == exp)
                return false;
        return true;
    }
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        if (scales[k].type != type)
            continue;
        size_t bs = (size_t)type_info(type)->block_bytes;
        for (size_t b = 0; b + bs <= bytes; b += bs)
            if ((u16_at(q + b + scales[k].d) & 0x7c00) == 0x7c00 ||
                (u16_at(q + b + scales[k].m) & 0x7c00) == 0x7c00)
                return false;
    }
    return true;
}

static void convert_rows(void *arg, int ith, int nth)
{
    const struct convert_task *c = arg;
    const struct quantize_job *j = c->j;
    struct quantize_run *r = j->run;
    float *x = r->x + (size_t)ith * (size_t)j->max_row;
    uint8_t *tin = r->raw_in + (size_t)ith * j->max_in_row;
    uint8_t *tout = r->raw_out + (size_t)ith * j->max_out_row;
    int lo, hi;
    pool_split(c->nrows, 1, ith, nth, &lo, &hi);
    for (int row = lo; row < hi; row++) {
        const uint8_t *src = (const uint8_t *)c->t->data + (size_t)row * c->in_row;
        uint8_t *dst = c->dst + (size_t)row * c->out_row;
        uint8_t *q = (uintptr_t)dst % ROW_ALIGN ? tout : dst;
        if ((uintptr_t)src % ROW_ALIGN) {
            memcpy(tin, src, c->in_row);
            src = tin;
        }
        dequantize_row(c->t->type, src, x, c->ne0);
        r->bad_kind[ith] = all_finite(x, c->ne0) ? 0 : 1;
        if (!r->bad_kind[ith]) {
            quantize_row(c->type, x, q, c->ne0);
            r->bad_kind[ith] = row_valid(c->type, q, c->out_row) ? 0 : 2;
        }
        if (r->bad_kind[ith]) {
            r->bad_row[ith] = row;
            return;
        }
        if (q != dst)
            memcpy(dst, q, c->out_row);
    }
}

static int convert_tensor(struct quantize_job *j, size_t i, uint8_t *dst, struct tl_error *err)
{
    const struct gguf_tensor *t = &j->in.tensors[i];
    struct convert_task c = {
        .j = j, .t = t, .type = j->choice[i].type, .dst = dst, .ne0 = t->ne[0],
        .nrows = (int)(t->ne[1] * t->ne[2] * t->ne[3]),
        .in_row = type_row_bytes(t->type, t->ne[0]), .out_row = type_row_bytes(j->choice[i].type, t->ne[0]),
    };
    for (int k = 0; k < j->p.n_threads; k++)
        j->run->bad_row[k] = -1;   /* OpenMP may run fewer threads than asked */
    pool_run(j->run->pool, convert_rows, &c);
    for (int k = 0; k < j->p.n_threads; k++) {
        if (j->run->bad_row[k] < 0)
            continue;
        if (j->run->bad_kind[k] == 1)
            return tl_fail(err, TL_EFORMAT, "tensor '%s' holds NaN or Inf values (row %lld)", j->names[i],
                           (long long)j->run->bad_row[k]);
        return tl_fail(err, TL_EFORMAT, "tensor '%s': row %lld overflows the f16 range of %s",
                       j->names[i], (long long)j->run->bad_row[k], type_info(c.type)->name);
    }
    return TL_OK;
}

/* The writer's fill function: one output tensor's bytes. */
static int fill_tensor(void *ctx, void *dst, uint64_t size, struct tl_error *err)
{
    struct quantize_fill *f = ctx;
    struct quantize_job *j = f->job;
    const struct gguf_tensor *t = &j->in.tensors[f->index];
    int rc = TL_OK;
    if (j->choice[f->index].convert)
        rc = convert_tensor(j, f->index, dst, err);
    else if (size == t->size)
        memcpy(dst, t->data, size);
    else
        rc = tl_fail(err, TL_EINVAL, "tensor '%s': size changed while copying", j->names[f->index]);
    if (!rc && j->p.progress)
        j->p.progress(j->p.progress_ctx, ++j->run->n_done, j->n, j->names[f->index]);
    return rc;
}

static void run_free(struct quantize_run *r)
{
    if (r->pool)
        pool_free(r->pool);
    mem_free_all(r->fills, r->x, r->raw_in, r->raw_out, r->bad_row, r->bad_kind);
}

static int run_init(struct quantize_run *r, const struct quantize_job *j, struct tl_error *err)
{
    size_t nt = (size_t)j->p.n_threads;
    memset(r, 0, sizeof *r);
    int rc = pool_init(&r->pool, j->p.n_threads, err);
    if (rc)
        return rc;
    r->fills = calloc(j->n ? j->n : 1, sizeof *r->fills);
    r->x = malloc(nt * (size_t)(j->max_row ? j->max_row : 1) * sizeof(float));
    r->raw_in = malloc(nt * (j->max_in_row ? j->max_in_row : 1));
    r->raw_out = malloc(nt * (j->max_out_row ? j->max_out_row : 1));
    r->bad_row = calloc(nt, sizeof *r->bad_row);
    r->bad_kind = calloc(nt, sizeof *r->bad_kind);
    if (!r->fills || !r->x || !r->raw_in || !r->raw_out || !r->bad_row || !r->bad_kind)
        return tl_fail(err, TL_ENOMEM, "out of memory for %zu conversion threads", nt);
    return TL_OK;
}

/* The input's KVs but split.* and the two llama.cpp sets, which follow at
 * the end in its order. */
static int copy_meta(const struct quantize_job *j, struct gguf_writer *w, struct tl_error *err)
{
    static const char *const dropped[] = {
        "general.quantization_version", "general.file_type", "split.no", "split.count",
        "split.tensors.count",
    };
    int rc = TL_OK;
    for (uint64_t i = 0; i < j->in.n_kv && !rc; i++) {
        bool drop = false;
        for (size_t k = 0; k < sizeof dropped / sizeof dropped[0]; k++)
            drop |= gguf_str_eq(j->in.kv[i].key, dropped[k]) != 0;
        if (!drop)
            rc = gguf_writer_copy_kv(w, &j->in.kv[i], err);
    }
    if (!rc)
        rc = gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    if (!rc)
        rc = gguf_writer_set_u32(w, "general.file_type", (uint32_t)j->p.ftype->ftype, err);
    return rc;
}

int quantize_write(struct quantize_job *j, const char *out_path, struct tl_error *err)
{
    struct gguf_writer w;
    struct quantize_run run;
    gguf_writer_init(&w);
    j->run = &run;
    int rc = run_init(&run, j, err);
    if (!rc)
        rc = copy_meta(j, &w, err);
    for (size_t k = 0; k < j->n && !rc; k++) {
        size_t i = j->order[k];
        const struct gguf_tensor *t = &j->in.tensors[i];
        run.fills[i] = (struct quantize_fill){ j, i };
        rc = gguf_writer_add_tensor_fill(&w, j->names[i], n_dims_of(t->ne), t->ne, j->choice[i].type,
                                         fill_tensor, &run.fills[i], err);
    }
    if (!rc)
        rc = gguf_writer_write_file(&w, out_path, err);
    gguf_writer_free(&w);
    run_free(&run);
    j->run = NULL;
    return rc;
}

/* Tensor i's part of the plan: sizes, counts, buffer sizes; refuses what
 * cannot be converted. *requant receives the first re-quantized tensor. */
static int plan_tensor(struct quantize_job *j, size_t i, size_t *requant, struct tl_error *err)
{
    const struct gguf_tensor *t = &j->in.tensors[i];
    const struct quantize_choice *c = &j->choice[i];
    const struct type_info *ti = type_info(t->type), *to = type_info(c->type);
    uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]), out_row = type_row_bytes(c->type, t->ne[0]);
    uint64_t out_size;
    if (!out_row || __builtin_mul_overflow(out_row, rows, &out_size) ||
        __builtin_add_overflow(j->st.size_out, out_size, &j->st.size_out))
        return tl_fail(err, TL_EUNSUPPORTED, "tensor '%s': too large as %s", j->names[i], to->name);
    j->st.size_in += t->size;
    j->st.n_fallback += c->fallback;
    if (!c->convert)
        return TL_OK;
    if (!to->supported)
        return tl_fail(err, TL_EUNSUPPORTED, "tensor '%s': llama.cpp gives it %s%s, which tinyllm cannot write yet",
                       j->names[i], to->name,
                       c->fallback ? " (its fallback when rows are not a multiple of 256)" : "");
    if (!ti || !ti->supported)
        return tl_fail(err, TL_EUNSUPPORTED, "tensor '%s' is %s, which tinyllm cannot convert", j->names[i],
                       ti ? ti->name : "of an unknown type");
    if (rows > INT_MAX)
        return tl_fail(err, TL_EUNSUPPORTED, "tensor '%s' has too many rows", j->names[i]);
    if (ti->block_elems > 1 && !j->st.n_requantized++)
        *requant = i;
    j->st.n_converted++;
    size_t in_row = type_row_bytes(t->type, t->ne[0]);
    j->max_row = t->ne[0] > j->max_row ? t->ne[0] : j->max_row;
    j->max_in_row = in_row > j->max_in_row ? in_row : j->max_in_row;
    j->max_out_row = out_row > j->max_out_row ? (size_t)out_row : j->max_out_row;
    return TL_OK;
}

static int plan_check(struct quantize_job *j, struct tl_error *err)
{
    size_t requant = 0;
    for (size_t i = 0; i < j->n; i++) {
        int rc = plan_tensor(j, i, &requant, err);
        if (rc)
            return rc;
    }
    if (j->st.n_requantized && !j->p.allow_requantize)
        return tl_fail(err, TL_EINVAL, "%zu tensors are already quantized (first: '%s', %s); re-quantizing loses "
                       "quality: pass --allow-requantize to do it anyway", j->st.n_requantized, j->names[requant],
                       type_info(j->in.tensors[requant].type)->name);
    return TL_OK;
}

int quantize_open(struct quantize_job *j, const char *in_path, const struct quantize_params *p,
                  struct tl_error *err)
{
    struct quantize_model m;
    struct quantize_tensor *desc = NULL;
    memset(j, 0, sizeof *j);
    j->p = *p;
    if (p->n_threads < 1 || !p->ftype)
        return tl_fail(err, TL_EINVAL, "quantize_open: bad parameters");
    int rc = gguf_open(&j->in, in_path, err);
    if (rc)
        return rc;
    if ((rc = quantize_model_read(&m, &j->in, err)))
        goto out;
    j->n = j->in.n_tensors;
    j->st.n_tensors = j->n;
    size_t n1 = j->n ? j->n : 1;
    j->names = calloc(n1, sizeof *j->names);
    j->order = calloc(n1, sizeof *j->order);
    j->choice = calloc(n1, sizeof *j->choice);
    desc = calloc(n1, sizeof *desc);
    rc = j->names && j->order && j->choice && desc ? TL_OK : TL_ENOMEM;
    for (size_t i = 0; i < j->n && !rc; i++) {
        const struct gguf_tensor *t = &j->in.tensors[i];
        j->names[i] = strndup(t->name.ptr, (size_t)t->name.len);
        rc = j->names[i] ? TL_OK : TL_ENOMEM;
        desc[i] = (struct quantize_tensor){ j->names[i], { t->ne[0], t->ne[1], t->ne[2], t->ne[3] }, t->type };
    }
    if (rc) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory for %zu tensors", j->n);
        goto out;
    }
    rc = quantize_choose(&m, desc, j->n, p->ftype, p->pure, j->order, j->choice, err);
    if (!rc)
        rc = plan_check(j, err);
out:
    free(desc);
    if (rc)
        quantize_close(j);
    return rc;
}

void quantize_close(struct quantize_job *j)
{
    for (size_t i = 0; j->names && i < j->n; i++)
        free(j->names[i]);
    mem_free_all(j->names, j->order, j->choice);
    gguf_close(&j->in);
    memset(j, 0, sizeof *j);
}
