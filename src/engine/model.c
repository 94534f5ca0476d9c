/* engine/model.c: from a GGUF file to struct model: the architecture's
 * hyper-parameters, the per-family switches, and every weight found,
 * shape-checked and type-checked once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "format/quant.h"

static const char *const arch_names[ARCH_COUNT] = {
    [ARCH_LLAMA] = "llama", [ARCH_GEMMA] = "gemma", [ARCH_QWEN2] = "qwen2",
    [ARCH_PHI2] = "phi2", [ARCH_PHI3] = "phi3", [ARCH_STABLELM] = "stablelm",
    [ARCH_GEMMA2] = "gemma2",
};

const char *arch_name(int arch)
{
    return arch >= 0 && arch < ARCH_COUNT ? arch_names[arch] : "?";
}

/* Limits that keep every later size computation far from overflow; real
 * models of the mission are well inside them. */
#define MAX_EMBD   65536
#define MAX_LAYER  1024
#define MAX_FF     (1 << 20)
#define MAX_VOCAB  (1 << 22)
#define MAX_HEADS  1024

struct loader {
    struct model    *m;
    const char      *arch;      /* key prefix */
    struct tl_error *err;
    size_t           vec_used;  /* floats handed out of m->vec_store */
    size_t           vec_cap;
};

static int get_int(struct loader *L, const char *key, int *out, bool required, int lo, int hi)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", L->arch, key);
    uint32_t v = (uint32_t)*out;
    int rc = gguf_get_u32(&L->m->gguf, full, &v, required, L->err);
    if (rc)
        return rc;
    if ((int64_t)v < lo || (int64_t)v > hi)
        return tl_fail(L->err, TL_EFORMAT, "%s = %u is out of range [%d, %d]", full, v, lo, hi);
    *out = (int)v;
    return TL_OK;
}

static int get_float(struct loader *L, const char *key, float *out, bool required)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", L->arch, key);
    int rc = gguf_get_f32(&L->m->gguf, full, out, required, L->err);
    if (rc == TL_OK && !isfinite(*out))
        return tl_fail(L->err, TL_EFORMAT, "%s is not a finite number", full);
    return rc;
}

static void family_defaults(struct hparams *hp)
{
    hp->norm = NORM_RMS;
    hp->rope = ROPE_NORM;
    hp->ffn = FFN_SWIGLU;
    hp->embd_scale = 1.0f;
    switch (hp->arch) {
    case ARCH_GEMMA2:
        hp->swa_even_layers = true;
        /* fall through */
    case ARCH_GEMMA:
        hp->ffn = FFN_GEGLU;
        hp->rope = ROPE_NEOX;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        break;
    case ARCH_QWEN2:
    case ARCH_PHI3:
        hp->rope = ROPE_NEOX;
        break;
    case ARCH_PHI2:
        hp->norm = NORM_LAYER;
        hp->rope = ROPE_NEOX;
        hp->ffn = FFN_GELU;
        hp->parallel_block = true;
        break;
    case ARCH_STABLELM:
        hp->norm = NORM_LAYER;
        hp->rope = ROPE_NEOX;
        break;
    }
}

/* rope.scaling.*: linear scaling divides positions by the factor; LongRoPE
 * (phi3) brings per-pair factors as tensors and an attention factor;
 * "none" turns scaling off. YaRN is refused rather than run wrongly. */
static int read_rope_scaling(struct loader *L)
{
    struct hparams *hp = &L->m->hp;
    char key[128];
    struct gguf_str type = { 0 };
    float factor = 0.0f;
    int rc;
    snprintf(key, sizeof key, "%s.rope.scaling.type", L->arch);
    if ((rc = gguf_get_str(&L->m->gguf, key, &type, false, L->err)) ||
        (rc = get_float(L, "rope.scaling.factor", &factor, false)))
        return rc;
    if (type.ptr && gguf_str_eq(type, "yarn"))
        return tl_fail(L->err, TL_EUNSUPPORTED, "YaRN rope scaling is not supported yet");
    bool none = type.ptr && gguf_str_eq(type, "none");
    hp->rope_freq_scale = factor > 0.0f && !none ? 1.0f / factor : 1.0f;
    hp->rope_mscale = 1.0f;
    hp->n_ctx_orig = hp->n_ctx_train;
    if ((rc = get_float(L, "rope.scaling.attn_factor", &hp->rope_mscale, false)) ||
        (rc = get_int(L, "rope.scaling.original_context_length", &hp->n_ctx_orig, false, 1, 1 << 24)))
        return rc;
    return TL_OK;
}

static int read_hparams(struct loader *L)
{
    struct hparams *hp = &L->m->hp;
    int rc;
    hp->n_ctx_train = 2048;
    if ((rc = get_int(L, "context_length", &hp->n_ctx_train, false, 1, 1 << 24)) ||
        (rc = get_int(L, "embedding_length", &hp->n_embd, true, 1, MAX_EMBD)) ||
        (rc = get_int(L, "block_count", &hp->n_layer, true, 1, MAX_LAYER)) ||
        (rc = get_int(L, "feed_forward_length", &hp->n_ff, true, 1, MAX_FF)) ||
        (rc = get_int(L, "attention.head_count", &hp->n_head, true, 1, MAX_HEADS)))
        return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = get_int(L, "attention.head_count_kv", &hp->n_head_kv, false, 1, hp->n_head)))
        return rc;
    if (hp->n_head % hp->n_head_kv)
        return tl_fail(L->err, TL_EFORMAT, "%d query heads are not a multiple of %d key/value heads",
                       hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = get_int(L, "attention.key_length", &hp->head_dim, false, 1, MAX_EMBD)))
        return rc;
    hp->head_dim_v = hp->head_dim;
    if ((rc = get_int(L, "attention.value_length", &hp->head_dim_v, false, 1, MAX_EMBD)))
        return rc;
    if (hp->head_dim < 2 || hp->head_dim % 2)
        return tl_fail(L->err, TL_EFORMAT, "head size %d is not a positive even number", hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((rc = get_int(L, "rope.dimension_count", &hp->n_rot, false, 0, hp->head_dim)))
        return rc;
    if (hp->n_rot % 2)
        return tl_fail(L->err, TL_EFORMAT, "rope.dimension_count %d is odd", hp->n_rot);
    hp->rope_base = 10000.0f;
    if ((rc = get_float(L, "rope.freq_base", &hp->rope_base, false)))
        return rc;
    if ((rc = read_rope_scaling(L)))
        return rc;
    if (hp->arch == ARCH_GEMMA2) {   /* llama.cpp's defaults when the keys are absent */
        hp->n_swa = 4096;
        hp->attn_softcap = 50.0f;
        hp->final_softcap = 30.0f;
        if ((rc = get_float(L, "attn_logit_softcapping", &hp->attn_softcap, false)) ||
            (rc = get_float(L, "final_logit_softcapping", &hp->final_softcap, false)))
            return rc;
        if (!(hp->attn_softcap >= 0.0f) || !(hp->final_softcap >= 0.0f))
            return tl_fail(L->err, TL_EFORMAT, "negative logit soft-capping");
    }
    if ((rc = get_int(L, "attention.sliding_window", &hp->n_swa, false, 0, 1 << 24)))
        return rc;
    /* Gemma 2 27B (46 layers) scales q by its n_embd / n_head, not its head size */
    hp->q_scale_dim = hp->arch == ARCH_GEMMA2 && hp->n_layer == 46 ? hp->n_embd / hp->n_head : hp->head_dim;
    family_defaults(hp);
    hp->norm_eps = 1e-5f;
    rc = get_float(L, hp->norm == NORM_RMS ? "attention.layer_norm_rms_epsilon"
                                           : "attention.layer_norm_epsilon", &hp->norm_eps, false);
    if (rc == TL_OK && !(hp->norm_eps >= 0.0f && hp->norm_eps < 1.0f))
        return tl_fail(L->err, TL_EFORMAT, "norm epsilon %g is out of range", hp->norm_eps);
    return rc;
}

/* A supported tensor whose data the kernels may read in place: a small
 * general.alignment can leave it on an odd address, and f32 values and the
 * f16 fields of quant blocks are read as such. */
static int check_tensor(struct loader *L, const char *name, const struct gguf_tensor *t)
{
    const struct type_info *ti = type_info(t->type);
    if (!ti || !ti->supported)
        return tl_fail(L->err, TL_EUNSUPPORTED, "tensor %s has type %s, which tinyllm does not support",
                       name, ti ? ti->name : "unknown");
    uintptr_t natural = t->type == TL_F32 ? 4 : 2;
    if ((uintptr_t)t->data % natural)
        return tl_fail(L->err, TL_EFORMAT, "tensor %s data is not %u-byte aligned (general.alignment %llu)",
                       name, (unsigned)natural, (unsigned long long)L->m->gguf.alignment);
    return TL_OK;
}

/* Find a 2-D weight with ne = {n_in, n_out}. n_out < 0 accepts any row
 * count up to MAX_VOCAB (the vocabulary, learned from token_embd). */
static int find_weight(struct loader *L, const char *name, int n_in, int n_out,
                       bool required, struct weight *w)
{
    const struct gguf_tensor *t = gguf_find_tensor(&L->m->gguf, name);
    memset(w, 0, sizeof *w);
    if (!t)
        return required ? tl_fail(L->err, TL_EFORMAT, "tensor %s is missing", name) : TL_OK;
    int rc = check_tensor(L, name, t);
    if (rc)
        return rc;
    bool rows_ok = n_out < 0 ? t->ne[1] >= 1 && t->ne[1] <= MAX_VOCAB : t->ne[1] == n_out;
    if (t->n_dims > 2 || t->ne[0] != n_in || !rows_ok)
        return tl_fail(L->err, TL_EFORMAT, "tensor %s has shape [%lld, %lld], expected [%d, %d]",
                       name, (long long)t->ne[0], (long long)t->ne[1], n_in, n_out);
    *w = (struct weight){
        .data = t->data, .type = t->type, .n_in = n_in, .n_out = (int)t->ne[1],
        .row_bytes = type_row_bytes(t->type, n_in),
    };
    L->m->n_params += (uint64_t)t->ne[0] * (uint64_t)t->ne[1];
    return TL_OK;
}

/* Find a 1-D tensor of n elements and keep an f32 copy of it in vec_store,
 * which was sized at load for every 1-D tensor of the file. */
static int find_vec(struct loader *L, const char *name, int n, bool required, const float **out)
{
    const struct gguf_tensor *t = gguf_find_tensor(&L->m->gguf, name);
    *out = NULL;
    if (!t)
        return required ? tl_fail(L->err, TL_EFORMAT, "tensor %s is missing", name) : TL_OK;
    int rc = check_tensor(L, name, t);
    if (rc)
        return rc;
    if (t->n_dims != 1 || t->ne[0] != n)
        return tl_fail(L->err, TL_EFORMAT, "tensor %s has %u dims and ne[0] = %lld, expected [%d]",
                       name, t->n_dims, (long long)t->ne[0], n);
    if (L->vec_used + (size_t)n > L->vec_cap)
        return tl_fail(L->err, TL_EFORMAT, "tensor %s is used twice", name);
    float *dst = L->m->vec_store + L->vec_used;
    dequantize_row(t->type, t->data, dst, n);
    L->vec_used += (size_t)n;
    L->m->n_params += (uint64_t)n;
    *out = dst;
    return TL_OK;
}

static int load_layer(struct loader *L, int il, struct layer *ly)
{
    const struct hparams *hp = &L->m->hp;
    int d = hp->n_embd, q_dim = hp->n_head * hp->head_dim;
    int k_dim = hp->n_head_kv * hp->head_dim, v_dim = hp->n_head_kv * hp->head_dim_v;
    int up_rows = hp->arch == ARCH_PHI3 ? 2 * hp->n_ff : hp->n_ff;
    bool gated = hp->ffn != FFN_GELU && hp->arch != ARCH_PHI3;
    char n[24][64];
#define NAME(i, s) (snprintf(n[i], sizeof n[i], "blk.%d." s, il), n[i])
    int rc;
    if ((rc = find_vec(L, NAME(0, "attn_norm.weight"), d, true, &ly->attn_norm)) ||
        (rc = find_vec(L, NAME(1, "attn_norm.bias"), d, false, &ly->attn_norm_b)) ||
        (rc = find_weight(L, NAME(2, "attn_qkv.weight"), d, q_dim + k_dim + v_dim, false, &ly->wqkv)) ||
        (rc = find_vec(L, NAME(3, "attn_qkv.bias"), q_dim + k_dim + v_dim, false, &ly->bqkv)))
        return rc;
    bool fused = ly->wqkv.data != NULL;
    if ((rc = find_weight(L, NAME(4, "attn_q.weight"), d, q_dim, !fused, &ly->wq)) ||
        (rc = find_weight(L, NAME(5, "attn_k.weight"), d, k_dim, !fused, &ly->wk)) ||
        (rc = find_weight(L, NAME(6, "attn_v.weight"), d, v_dim, !fused, &ly->wv)) ||
        (rc = find_vec(L, NAME(7, "attn_q.bias"), q_dim, false, &ly->bq)) ||
        (rc = find_vec(L, NAME(8, "attn_k.bias"), k_dim, false, &ly->bk)) ||
        (rc = find_vec(L, NAME(9, "attn_v.bias"), v_dim, false, &ly->bv)) ||
        (rc = find_weight(L, NAME(10, "attn_output.weight"), hp->n_head * hp->head_dim_v, d, true, &ly->wo)) ||
        (rc = find_vec(L, NAME(11, "attn_output.bias"), d, false, &ly->bo)) ||
        (rc = find_vec(L, NAME(12, "ffn_norm.weight"), d, !hp->parallel_block, &ly->ffn_norm)) ||
        (rc = find_vec(L, NAME(13, "ffn_norm.bias"), d, false, &ly->ffn_norm_b)) ||
        (rc = find_weight(L, NAME(14, "ffn_gate.weight"), d, hp->n_ff, gated, &ly->w_gate)) ||
        (rc = find_weight(L, NAME(15, "ffn_up.weight"), d, up_rows, true, &ly->w_up)) ||
        (rc = find_vec(L, NAME(16, "ffn_up.bias"), up_rows, false, &ly->b_up)) ||
        (rc = find_weight(L, NAME(17, "ffn_down.weight"), hp->n_ff, d, true, &ly->w_down)) ||
        (rc = find_vec(L, NAME(18, "ffn_down.bias"), d, false, &ly->b_down)) ||
        (rc = find_vec(L, NAME(19, "post_attention_norm.weight"), d, hp->arch == ARCH_GEMMA2, &ly->attn_post_norm)) ||
        (rc = find_vec(L, NAME(20, "post_ffw_norm.weight"), d, hp->arch == ARCH_GEMMA2, &ly->ffn_post_norm)))
        return rc;
#undef NAME
    return TL_OK;
}

static int find_arch(struct model *m, struct tl_error *err)
{
    struct gguf_str a = { 0 };
    int rc = gguf_get_str(&m->gguf, "general.architecture", &a, true, err);
    if (rc)
        return rc;
    for (int i = 0; i < ARCH_COUNT; i++) {
        if (gguf_str_eq(a, arch_names[i])) {
            m->hp.arch = i;
            return TL_OK;
        }
    }
    return tl_fail(err, TL_EUNSUPPORTED,
                   "architecture '%.*s' is not supported (supported: llama, gemma, gemma2, qwen2, phi2, phi3, stablelm)",
                   (int)(a.len > 64 ? 64 : a.len), a.ptr);
}

/* Room for an f32 copy of every 1-D tensor in the file. */
static int alloc_vec_store(struct loader *L)
{
    const struct gguf *g = &L->m->gguf;
    uint64_t total = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].n_dims == 1)
            total += (uint64_t)g->tensors[i].ne[0];
    if (total > (uint64_t)1 << 32)
        return tl_fail(L->err, TL_EFORMAT, "%llu elements of 1-D tensors is implausible", (unsigned long long)total);
    L->m->vec_store = malloc((size_t)(total ? total : 1) * sizeof(float));
    if (!L->m->vec_store)
        return tl_fail(L->err, TL_ENOMEM, "out of memory for the model's vectors");
    L->vec_cap = (size_t)total;
    return TL_OK;
}

static int load_globals(struct loader *L)
{
    struct model *m = L->m;
    struct hparams *hp = &m->hp;
    int rc = find_weight(L, "token_embd.weight", hp->n_embd, -1, true, &m->tok_embd);
    if (rc)
        return rc;
    hp->n_vocab = m->tok_embd.n_out;
    if ((rc = find_vec(L, "output_norm.weight", hp->n_embd, true, &m->output_norm)) ||
        (rc = find_vec(L, "output_norm.bias", hp->n_embd, false, &m->output_norm_b)) ||
        (rc = find_weight(L, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output)) ||
        (rc = find_vec(L, "output.bias", hp->n_vocab, false, &m->output_b)) ||
        (rc = find_vec(L, "rope_factors_long.weight", hp->n_rot / 2, false, &m->rope_factors_long)) ||
        (rc = find_vec(L, "rope_factors_short.weight", hp->n_rot / 2, false, &m->rope_factors_short)) ||
        (rc = find_vec(L, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs)))
        return rc;
    if (!m->output.data)
        m->output = m->tok_embd;    /* tied embeddings */
    return TL_OK;
}

int model_open(struct model *m, const char *path, struct tl_error *err)
{
    return model_open_with(m, path, GGUF_LOAD_MMAP, err);
}

int model_open_with(struct model *m, const char *path, enum gguf_load how, struct tl_error *err)
{
    memset(m, 0, sizeof *m);
    int rc = gguf_open_with(&m->gguf, path, how, err);
    if (rc)
        return rc;
    struct loader L = { .m = m, .err = err };
    if ((rc = find_arch(m, err)))
        goto fail;
    L.arch = arch_names[m->hp.arch];
    if ((rc = read_hparams(&L)) || (rc = alloc_vec_store(&L)) || (rc = load_globals(&L)))
        goto fail;
    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory for %d layers", m->hp.n_layer);
        goto fail;
    }
    for (int il = 0; il < m->hp.n_layer; il++)
        if ((rc = load_layer(&L, il, &m->layers[il])))
            goto fail;
    return TL_OK;
fail:
    model_close(m);
    return rc;
}

void model_close(struct model *m)
{
    gguf_close(&m->gguf);
    free(m->layers);
    free(m->vec_store);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------- packing */

/* Weights whose rows a product splits among threads together (stacked
 * jobs, engine/matmul.c, in this order): a packed one's rows must start on a
 * multiple of X16 there, so every row count before it must be one too.
 * Adds to *count the weights packed (or, dry, that would be). */
static int pack_set(const struct kernels *k, struct weight *const *w, int n, bool dry, int *count,
                    struct tl_error *err)
{
    int before = 0;
    for (int i = 0; i < n && w[i]->data; before += w[i]->n_out, i++) {
        if (before % X16 || w[i]->packed || !k->matmul_x16[w[i]->type] || !x16_packable(w[i]->type) ||
            w[i]->n_out % X16 || w[i]->row_bytes != type_row_bytes(w[i]->type, w[i]->n_in))
            continue;
        ++*count;
        if (dry)
            continue;
        if (!pack_x16(w[i]->type, (void *)w[i]->data, w[i]->row_bytes, w[i]->n_out))
            return tl_fail(err, TL_ENOMEM, "out of memory repacking the weights");
        w[i]->packed = true;
    }
    return TL_OK;
}

/* Every weight through pack_set, in the groups the forward pass runs. */
static int pack_all(struct model *m, const struct kernels *k, bool dry, int *count, struct tl_error *err)
{
    int rc = TL_OK;
    bool tied = m->output.data == m->tok_embd.data;
    if ((rc = pack_set(k, (struct weight *[]){ &m->tok_embd }, 1, dry, count, err)))
        return rc;
    if (tied)
        m->output.packed = m->tok_embd.packed;
    else if ((rc = pack_set(k, (struct weight *[]){ &m->output }, 1, dry, count, err)))
        return rc;
    for (int il = 0; il < m->hp.n_layer && !rc; il++) {
        struct layer *L = &m->layers[il];
        /* phi3 splits w_up into gate and up halves of n_ff rows each */
        bool up_halves = m->hp.arch == ARCH_PHI3 && m->hp.n_ff % X16 == 0;
        if ((rc = pack_set(k, (struct weight *[]){ &L->wq, &L->wk, &L->wv }, 3, dry, count, err)) ||
            (rc = pack_set(k, (struct weight *[]){ &L->wqkv }, 1, dry, count, err)) ||
            (rc = pack_set(k, (struct weight *[]){ &L->wo }, 1, dry, count, err)) ||
            (rc = pack_set(k, (struct weight *[]){ &L->w_down }, 1, dry, count, err)))
            break;
        if (L->w_gate.data)
            rc = pack_set(k, (struct weight *[]){ &L->w_gate, &L->w_up }, 2, dry, count, err);
        else if (m->hp.arch != ARCH_PHI3 || up_halves)
            rc = pack_set(k, (struct weight *[]){ &L->w_up }, 1, dry, count, err);
    }
    return rc;
}

bool model_packs(struct model *m, const struct kernels *k)
{
    int count = 0;
    return kernels_repack(k) && pack_all(m, k, true, &count, NULL) == TL_OK && count > 0;
}

int model_pack(struct model *m, const struct kernels *k, struct tl_error *err)
{
    int count = 0;
    if (!kernels_repack(k) || !m->gguf.copied)
        return TL_OK;
    return pack_all(m, k, false, &count, err);
}
