/* engine/forward.c: the transformer. For a batch of n tokens at positions
 * n_past..n_past+n-1, each layer computes
 *     h = norm(x);  x += Wo . attention(rope(Wq h), rope(Wk h), Wv h)
 *     h = norm(x);  x += Wdown . act(Wgate h, Wup h)
 * (phi2 feeds one norm(x) to both halves and adds both), then the logits
 * are Wout . norm(x). Keys and values enter an f16 cache that later calls
 * attend to. The switches of each family are in struct hparams. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#include "platform/hugepages.h"
#include "kernels/prefetch.h"
#include "format/quant.h"
#include "util/mem.h"

static int q_dim(const struct hparams *hp) { return hp->n_head * hp->head_dim; }
static int k_dim(const struct hparams *hp) { return hp->n_head_kv * hp->head_dim; }
static int v_dim(const struct hparams *hp) { return hp->n_head_kv * hp->head_dim_v; }
static int qkv_dim(const struct hparams *hp) { return q_dim(hp) + k_dim(hp) + v_dim(hp); }
/* phi2, phi3 and the gemmas scale q by 1/sqrt(head_dim) before q.k (llama.cpp
 * does, and q is rounded to f16 after the scaling); the rest scale q.k. */
static bool prescaled_q(const struct hparams *hp)
{
    return hp->arch == ARCH_PHI2 || hp->arch == ARCH_PHI3 || hp->arch == ARCH_GEMMA || hp->arch == ARCH_GEMMA2;
}

/* The sliding window of layer il, or 0 for full attention. */
static int layer_window(const struct hparams *hp, int il)
{
    return hp->swa_even_layers && il % 2 ? 0 : hp->n_swa;
}

/* Gemma 2's soft-capping, c * tanh(v / c), on v[lo..hi] (as llama.cpp: a
 * multiply by 1/c, tanh, a multiply by c). */
static void softcap(float *v, int lo, int hi, float c)
{
    for (int j = lo; j <= hi; j++)
        v[j] = tanhf(v[j] * (1.0f / c)) * c;
}

/* Attention is computed per block of ATT_QB tokens and KV head: the query
 * heads sharing that KV head (G of them, or a slice), for every token of
 * the block, are the rows of two F16 matrix products against the cache. */
enum { ATT_QB = 16 };
static int group_size(const struct hparams *hp) { return hp->n_head / hp->n_head_kv; }
/* base + *off (NULL when base is), then *off past bytes rounded up to 64 */
static void *carve(char *base, size_t *off, size_t bytes)
{
    void *p = base ? base + *off : NULL;
    *off += (bytes + 63) / 64 * 64;
    return p;
}

size_t attn_scratch_layout(struct attn_scratch *a, const struct hparams *hp, int n_ctx, void *base)
{
    size_t rows = (size_t)group_size(hp) * ATT_QB, ctx = (size_t)n_ctx, off = 0;
    size_t hd = (size_t)hp->head_dim, hdv = (size_t)hp->head_dim_v;
    rows = rows > (size_t)hp->n_head ? rows : (size_t)hp->n_head;
    *a = (struct attn_scratch){
        .n_scores = rows * ctx, .n_out = rows * hdv, .n_weights = rows * ctx,
        .n_q16 = rows * hd, .n_row = ctx > hd ? ctx : hd, .n_v16 = hdv,
    };
    a->scores = carve(base, &off, a->n_scores * sizeof *a->scores);
    a->out = carve(base, &off, a->n_out * sizeof *a->out);
    a->weights = carve(base, &off, a->n_weights * sizeof *a->weights);
    a->q16 = carve(base, &off, a->n_q16 * sizeof *a->q16);
    a->row = carve(base, &off, a->n_row * sizeof *a->row);
    a->v16 = carve(base, &off, a->n_v16 * sizeof *a->v16);
    return off;
}

/* The first n elements of a scratch region laid out with cap: taking more
 * than attn_scratch_layout gave is a broken invariant of this file. */
static float *take_f32(float *p, size_t cap, size_t n)
{
    assert(p && n <= cap);
    return p;
}

static uint16_t *take_f16(uint16_t *p, size_t cap, size_t n)
{
    assert(p && n <= cap);
    return p;
}

/* Every thread's attention scratch in one block, each thread's 64-byte
 * aligned (no line shared between threads). */
static int alloc_attn(struct state *s, const struct hparams *hp, int n_threads)
{
    struct attn_scratch probe;
    size_t per = attn_scratch_layout(&probe, hp, s->n_ctx, NULL);
    void *mem = NULL;
    if (per > ((size_t)1 << 42) / (size_t)n_threads || posix_memalign(&mem, 64, per * (size_t)n_threads))
        return -1;
    s->attn_mem = mem;
    if (!(s->attn = calloc((size_t)n_threads, sizeof *s->attn)))
        return -1;
    for (int i = 0; i < n_threads; i++)
        attn_scratch_layout(&s->attn[i], hp, s->n_ctx, (char *)mem + (size_t)i * per);
    return 0;
}

/* ---------------------------------------------------------------- state */

static void *alloc_floats(size_t n, int *fail)
{
    void *p = NULL;
    if (n > ((size_t)1 << 40) / sizeof(float) ||
        posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)))
        *fail = 1;
    return p;
}

/* The KV cache, zeroed, on 2 MiB pages where the kernel gives them: decode
 * reads every (layer, head)'s K and V^T rows each token, the V^T rows
 * n_ctx apart, and on 4 KiB pages nearly every row was a TLB miss
 * (MobileLLM tg1024, 2 threads: +4%). */
static uint16_t *alloc_cache(size_t halves, int *fail)
{
    size_t bytes = (halves ? halves : 1) * sizeof(uint16_t);
    void *p = halves > ((size_t)1 << 40) ? NULL : huge_alloc(bytes);
    if (!p)
        *fail = 1;
    else
        memset(p, 0, bytes);
    return p;
}

static int max3(int a, int b, int c) { int m = a > b ? a : b; return m > c ? m : c; }

/* GELU, tanh form. llama.cpp's CPU backend rounds the input to f16 and
 * looks the result up in a table of f16 values (inputs beyond +-10 aside):
 * state_init builds the same table from this, and gelu_rows reads it. */
static float gelu_f32(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * x * (1.0f + 0.044715f * x * x)));
}

int state_init(struct state *s, const struct model *m, const struct kernels *k,
               struct pool *pool, int n_ctx, int n_batch, struct tl_error *err)
{
    const struct hparams *hp = &m->hp;
    memset(s, 0, sizeof *s);
    if (n_ctx < 1 || n_batch < 1)
        return tl_fail(err, TL_EINVAL, "context and batch must be at least 1");
    *s = (struct state){ .m = m, .c = { .k = k, .pool = pool }, .n_ctx = n_ctx, .n_batch = n_batch };
    size_t B = (size_t)n_batch, cells = (size_t)hp->n_layer * (size_t)hp->n_head_kv * (size_t)n_ctx;
    int fail = 0;
    s->kcache = alloc_cache(cells * (size_t)hp->head_dim, &fail);
    s->vcache = alloc_cache(cells * (size_t)hp->head_dim_v, &fail);
    s->inv_freq = alloc_floats((size_t)hp->n_rot / 2 + 1, &fail);
    s->rope_cs = alloc_floats(B * (size_t)hp->n_rot + 1, &fail);
    s->x = alloc_floats(B * (size_t)hp->n_embd, &fail);
    s->xn = alloc_floats(B * (size_t)hp->n_embd, &fail);
    s->y = alloc_floats(B * (size_t)hp->n_embd, &fail);
    s->qkv = alloc_floats(B * (size_t)qkv_dim(hp), &fail);
    s->att = alloc_floats(B * (size_t)hp->n_head * (size_t)hp->head_dim_v, &fail);
    s->ffa = alloc_floats(B * (size_t)hp->n_ff, &fail);
    s->ffb = alloc_floats(B * (size_t)hp->n_ff, &fail);
    if (alloc_attn(s, hp, pool_size(pool)))
        fail = 1;
    s->att_s = alloc_floats((size_t)hp->n_head * (size_t)n_ctx, &fail);
    s->logits = alloc_floats((size_t)hp->n_vocab, &fail);
    s->logits_cap = 1;
    if (hp->ffn != FFN_SWIGLU && !(s->gelu_f16 = malloc(65536 * sizeof *s->gelu_f16)))
        fail = 1;
    int max_in = max3(hp->n_embd, hp->n_ff, hp->n_head * hp->head_dim_v);
    s->c.act_cap = matmul_act_bytes(max_in, n_batch);
    if (posix_memalign(&s->c.act, 64, s->c.act_cap))
        fail = 1, s->c.act = NULL;
    if (fail) {
        state_free(s);
        return tl_fail(err, TL_ENOMEM, "out of memory for a context of %d tokens", n_ctx);
    }
    for (int i = 0; s->gelu_f16 && i < 65536; i++)
        s->gelu_f16[i] = fp32_to_fp16(gelu_f32(fp16_to_fp32((uint16_t)i)));
    /* theta_i = pos * scale * base^(-2i / n_rot); LongRoPE (by context) and
     * Llama 3's rope_freqs (converted from rope_scaling "llama3") divide it
     * by a factor per pair */
    const float *factors = m->rope_freqs;
    if (m->rope_factors_long && n_ctx > hp->n_ctx_orig)
        factors = m->rope_factors_long;
    else if (m->rope_factors_short)
        factors = m->rope_factors_short;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        double f = hp->rope_freq_scale * pow(hp->rope_base, -2.0 * i / hp->n_rot);
        s->inv_freq[i] = (float)(factors ? f / factors[i] : f);
    }
    return TL_OK;
}

void state_free(struct state *s)
{
    mem_free_all(s->gelu_f16, s->kcache, s->vcache, s->inv_freq, s->rope_cs, s->x, s->xn, s->y, s->qkv, s->att,
                 s->ffa, s->ffb, s->attn, s->attn_mem, s->att_s, s->logits, s->c.act);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------- elementwise math */

/* out = x / rms(x) * w  (RMSNorm), or (x - mean) / std * w + b (LayerNorm).
 * Sums in double, in four independent chains: a single chain of dependent
 * adds costs more than everything else a decode step does between products. */
static void norm_row(float *restrict out, const float *restrict x, const float *restrict w,
                     const float *restrict b, int n, int kind, float eps)
{
    double mean = 0.0, s[4] = { 0.0, 0.0, 0.0, 0.0 };
    int i = 0;
    if (kind == NORM_LAYER) {
        for (; i + 4 <= n; i += 4)
            for (int j = 0; j < 4; j++)
                s[j] += x[i + j];
        for (; i < n; i++)
            s[0] += x[i];
        mean = (s[0] + s[1] + s[2] + s[3]) / n;
        s[0] = s[1] = s[2] = s[3] = 0.0;
        i = 0;
    }
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += (x[i + j] - mean) * (x[i + j] - mean);
    for (; i < n; i++)
        s[0] += (x[i] - mean) * (x[i] - mean);
    float scale = 1.0f / sqrtf((float)((s[0] + s[1] + s[2] + s[3]) / n) + eps);
    if (kind != NORM_LAYER) {   /* four a step: GCC -O2 vectorises only such straight-line code */
        for (i = 0; i + 4 <= n; i += 4)
            for (int j = 0; j < 4; j++)
                out[i + j] = x[i + j] * scale * w[i + j];
        for (; i < n; i++)
            out[i] = x[i] * scale * w[i];
        return;
    }
    for (i = 0; i < n; i++)
        out[i] = (float)(x[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

/* y[i] = gelu(x[i]), times m[i] when m is not NULL; y may be x or m. */
static void gelu_rows(const struct state *s, float *y, const float *x, const float *m, int n)
{
    uint16_t h[64];
    float g[64];
    for (int i0 = 0; i0 < n; i0 += 64) {
        int c = n - i0 < 64 ? n - i0 : 64;
        s->c.k->f32_to_f16(h, x + i0, c);
        for (int i = 0; i < c; i++)
            h[i] = s->gelu_f16[h[i]];
        s->c.k->f16_to_f32(g, h, c);
        for (int i = 0; i < c; i++) {
            float v = x[i0 + i], r = v <= -10.0f ? 0.0f : v >= 10.0f ? v : g[i];
            y[i0 + i] = m ? r * m[i0 + i] : r;
        }
    }
}

/* cs[2i], cs[2i + 1] = cos, sin of pos * inv_freq[i], times mscale: one
 * table per token, shared by every head of every layer. */
static void rope_table(float *cs, const float *inv_freq, int n_rot, int pos, float mscale)
{
    for (int i = 0; i < n_rot / 2; i++) {
        float theta = (float)pos * inv_freq[i];
        cs[2 * i] = cosf(theta) * mscale;
        cs[2 * i + 1] = sinf(theta) * mscale;
    }
}

/* Rotate the first n_rot dims of one head by the token's table. */
static void rope_head(float *v, const float *cs, int n_rot, int kind)
{
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        int a = kind == ROPE_NEOX ? i : 2 * i;
        int b = kind == ROPE_NEOX ? i + half : 2 * i + 1;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

/* ----------------------------------------------------- parallel row tasks */

struct rows_task {
    struct state *s;
    int           il;     /* layer */
    int           n;      /* tokens in the batch */
    const float  *w, *b;  /* norm weight and bias */
    const float  *src;    /* norm input rows */
};

static void norm_task(void *arg, int ith, int nth)
{
    const struct rows_task *t = arg;
    const struct hparams *hp = &t->s->m->hp;
    int lo, hi;
    pool_split(t->n, 1, ith, nth, &lo, &hi);
    for (int r = lo; r < hi; r++)
        norm_row(t->s->xn + (size_t)r * hp->n_embd, t->src + (size_t)r * hp->n_embd,
                 t->w, t->b, hp->n_embd, hp->norm, hp->norm_eps);
}

/* xn[0..n) = norm(src[0..n)) with the given weights */
static void norm_rows(struct state *s, int n, const float *src, const float *w, const float *b)
{
    struct rows_task t = { .s = s, .n = n, .w = w, .b = b, .src = src };
    if (n == 1)
        norm_task(&t, 0, 1);
    else
        pool_run(s->c.pool, norm_task, &t);
}

/* x = f16(x): the rounding llama.cpp applies to what meets the f16 cache */
static void round_f16(const struct kernels *k, float *x, uint16_t *tmp, int n)
{
    k->f32_to_f16(tmp, x, n);
    k->f16_to_f32(x, tmp, n);
}

/* Rotate one query head by the token's table; phi2, phi3 and gemma also
 * scale it here (prescaled_q). */
static void rope_query(const struct hparams *hp, float *q, const float *cs)
{
    rope_head(q, cs, hp->n_rot, hp->rope);
    if (prescaled_q(hp))
        for (int i = 0; i < hp->head_dim; i++)
            q[i] *= 1.0f / sqrtf((float)hp->q_scale_dim);
}

/* Rotate k of KV head h of the token at pos, then store it and v in the
 * cache as f16, V transposed; tmp holds head_dim_v halves. */
static void store_kv(struct state *s, int il, int h, int pos, float *k, const float *v, const float *cs,
                     uint16_t *tmp)
{
    const struct hparams *hp = &s->m->hp;
    size_t head = (size_t)il * hp->n_head_kv + h;
    rope_head(k, cs, hp->n_rot, hp->rope);
    s->c.k->f32_to_f16(s->kcache + (head * s->n_ctx + pos) * hp->head_dim, k, hp->head_dim);
    s->c.k->f32_to_f16(tmp, v, hp->head_dim_v);
    for (int e = 0; e < hp->head_dim_v; e++)
        s->vcache[(head * hp->head_dim_v + e) * s->n_ctx + pos] = tmp[e];
}

/* Rotate q and k of each token, then store k and v in the cache as f16. */
static void rope_store_task(void *arg, int ith, int nth)
{
    const struct rows_task *t = arg;
    struct state *s = t->s;
    const struct hparams *hp = &s->m->hp;
    const struct attn_scratch *a = &s->attn[ith];
    uint16_t *q16 = take_f16(a->q16, a->n_q16, (size_t)q_dim(hp));
    uint16_t *v16 = take_f16(a->v16, a->n_v16, (size_t)hp->head_dim_v);
    int lo, hi;
    pool_split(t->n, 1, ith, nth, &lo, &hi);
    for (int r = lo; r < hi; r++) {
        float *q = s->qkv + (size_t)r * qkv_dim(hp), *k = q + q_dim(hp), *v = k + k_dim(hp);
        const float *cs = s->rope_cs + (size_t)r * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++)
            rope_query(hp, q + h * hp->head_dim, cs);
        round_f16(s->c.k, q, q16, q_dim(hp));
        for (int h = 0; h < hp->n_head_kv; h++)
            store_kv(s, t->il, h, s->n_past + r, k + h * hp->head_dim, v + h * hp->head_dim_v, cs, v16);
    }
}

/* row[lo..hi] = softmax(scale * row[lo..hi]) and the rest of row[0, n) 0 */
static void softmax_row(const struct kernels *k, float *row, int n, int lo, int hi, float scale)
{
    /* eight running maxima in straight-line steps (GCC -O2 vectorises
     * those): one chain waits on every compare, 4 cycles an element */
    float m[8];
    for (int i = 0; i < 8; i++)
        m[i] = -INFINITY;
    int j = lo;
    for (; j + 8 <= hi + 1; j += 8)
        for (int i = 0; i < 8; i++) {
            row[j + i] *= scale;
            m[i] = row[j + i] > m[i] ? row[j + i] : m[i];
        }
    for (; j <= hi; j++) {
        row[j] *= scale;
        m[0] = row[j] > m[0] ? row[j] : m[0];
    }
    float mx = m[0];
    for (int i = 1; i < 8; i++)
        mx = m[i] > mx ? m[i] : mx;
    float inv = (float)(1.0 / k->exp_sum(row + lo, hi - lo + 1, mx));
    for (j = 0; j < lo; j++)
        row[j] = 0.0f;
    for (j = lo; j + 8 <= hi + 1; j += 8)
        for (int i = 0; i < 8; i++)
            row[j + i] *= inv;
    for (; j <= hi; j++)
        row[j] *= inv;
    for (j = hi + 1; j < n; j++)
        row[j] = 0.0f;
}

/* Causal attention of tokens [t0, t1) of the batch for query heads
 * [h0, h0 + hn) of one KV head's group: att = softmax(q.K^T / sqrt(d)) V
 * over the positions each token may see. Row i = (t - t0) * hn + j of each
 * product is query head h0 + j of token t. As llama.cpp with its f16
 * cache, q and the attention weights are rounded to f16 before they meet K
 * and V: every later activation rounding (to bf16 or Q8) amplifies small
 * differences here, so reproducing them keeps us on its numbers. */
static void attend(struct state *s, int il, int h0, int hn, int t0, int t1, const struct attn_scratch *a,
                   void *kscratch)
{
    const struct hparams *hp = &s->m->hp;
    const struct kernels *k = s->c.k;
    int nq = (t1 - t0) * hn, hd = hp->head_dim, hdv = hp->head_dim_v, kvh = h0 / group_size(hp);
    int p0 = s->n_past + t0, last = s->n_past + t1 - 1;     /* first token's and last token's positions */
    int win = layer_window(hp, il);
    int j0 = win > 0 && p0 >= win ? p0 - win + 1 : 0, nj = last + 1 - j0;
    size_t head = (size_t)il * hp->n_head_kv + kvh;
    float *S = take_f32(a->scores, a->n_scores, (size_t)nq * nj);       /* [nq][nj] */
    float *O = take_f32(a->out, a->n_out, (size_t)nq * hdv);             /* [nq][hdv] */
    uint16_t *P = take_f16(a->weights, a->n_weights, (size_t)nq * nj);  /* [nq][nj] */
    uint16_t *Q = take_f16(a->q16, a->n_q16, (size_t)nq * hd);           /* [nq][hd] */
    for (int i = 0; i < nq; i++)
        k->f32_to_f16(Q + (size_t)i * hd, s->qkv + (size_t)(t0 + i / hn) * qkv_dim(hp) + (size_t)(h0 + i % hn) * hd, hd);
    /* S[i][j - j0] = K[j] . Q[i] */
    struct matmul_args kq = {
        .y = S, .ldy = (size_t)nj, .w = s->kcache + (head * s->n_ctx + j0) * hd, .w_row_bytes = (size_t)hd * 2,
        .x = Q, .x_row_bytes = (size_t)hd * 2, .n = hd, .nc = nq, .scratch = kscratch,
    };
    k->matmul[TL_F16](&kq, 0, nj);
    float scale = prescaled_q(hp) ? 1.0f : 1.0f / sqrtf((float)hd);
    for (int i = 0; i < nq; i++) {
        int pos = p0 + i / hn;
        int lo = (win > 0 && pos >= win ? pos - win + 1 : 0) - j0, hi = pos - j0;  /* [lo, hi] */
        float *row = S + (size_t)i * nj;
        if (hp->attn_softcap > 0.0f)
            softcap(row, lo, hi, hp->attn_softcap);
        softmax_row(k, row, nj, lo, hi, scale);
        k->f32_to_f16(P + (size_t)i * nj, row, nj);
    }
    /* O[i][e] = sum_j P[i][j] V[j][e], V stored transposed: row e of Vt */
    struct matmul_args pv = {
        .y = O, .ldy = (size_t)hdv, .w = s->vcache + head * hdv * s->n_ctx + j0, .w_row_bytes = (size_t)s->n_ctx * 2,
        .x = P, .x_row_bytes = (size_t)nj * 2, .n = nj, .nc = nq, .scratch = kscratch,
    };
    k->matmul[TL_F16](&pv, 0, hdv);
    for (int i = 0; i < nq; i++) {
        int t = t0 + i / hn, h = h0 + i % hn;
        memcpy(s->att + ((size_t)t * hp->n_head + h) * hdv, O + (size_t)i * hdv, (size_t)hdv * sizeof *O);
    }
}

/* (token block, slice of hn heads of a group) units dealt round-robin:
 * later blocks see more positions, so contiguous slices would load the
 * last thread most. A group is split into slices (hn a divisor of G) only
 * when there are too few units to keep every thread busy, as in decode. */
static void attention_task(void *arg, int ith, int nth)
{
    const struct rows_task *t = arg;
    const struct hparams *hp = &t->s->m->hp;
    const struct attn_scratch *a = &t->s->attn[ith];
    int G = group_size(hp), blocks = (t->n + ATT_QB - 1) / ATT_QB, hn = G;
    while (hn > 1 && blocks * hp->n_head / hn < 2 * nth) {
        int d = hn - 1;
        while (G % d)
            d--;
        hn = d;
    }
    int slices = hp->n_head / hn;
    for (int u = ith; u < blocks * slices; u += nth) {
        int b = u / slices, t1 = (b + 1) * ATT_QB < t->n ? (b + 1) * ATT_QB : t->n;
        attend(t->s, t->il, (u % slices) * hn, hn, b * ATT_QB, t1, a, pool_scratch(t->s->c.pool, ith));
    }
}

/* One token at position p = n_past attends in two passes over the cache,
 * each split so every thread gets the same work whatever the head counts:
 *   scores: S[h][j] = K[j] . q_h          units of (KV head, 16 positions)
 *   values: att_h = softmax(S[h]) . V     units of (KV head, 16 rows of V^T)
 * The G query heads of a KV head are the columns of both products, so each
 * KV head's cache is read once. Each thread rotates the queries it needs
 * itself (a few hundred multiplies) rather than wait for one thread to; the
 * thread whose scores reach position p stores that KV head's k and v first.
 * Roundings are attend()'s. Per-thread scratch (struct attn_scratch): a
 * score row or one rotated query in row, every head's queries in q16, G
 * rows of weights in weights, one v in v16. */
enum { ATT_DB = 16 };

static void decode_window(const struct state *s, int il, int *j0, int *nj)
{
    int p = s->n_past, win = layer_window(&s->m->hp, il);
    *j0 = win > 0 && p >= win ? p - win + 1 : 0;
    *nj = p + 1 - *j0;
}

/* Ask for rows [r0, r1) of bytes each, stride apart. */
static void prefetch_rows(const void *base, size_t stride, int r0, int r1, size_t bytes)
{
    for (int r = r0; r < r1; r++)
        prefetch_span((const char *)base + (size_t)r * stride, bytes);
}

/* [*u0, *u1): the units of KV head h (per units each) among [lo, hi) */
static void head_units(int h, int per, int lo, int hi, int *u0, int *u1)
{
    *u0 = lo > h * per ? lo - h * per : 0;
    *u1 = hi < (h + 1) * per ? hi - h * per : per;
}

/* Ask for this thread's K rows of the scores pass and its V^T rows of the
 * values pass: the cache comes from DRAM in short runs the hardware
 * prefetchers catch late, and each thread knows its runs up front. */
static void prefetch_kv(const struct state *s, int il, int ith, int nth)
{
    const struct hparams *hp = &s->m->hp;
    int hd = hp->head_dim, hdv = hp->head_dim_v, j0, nj, lo, hi, u0, u1;
    decode_window(s, il, &j0, &nj);
    int nblk = (nj + ATT_DB - 1) / ATT_DB, nvb = (hdv + ATT_DB - 1) / ATT_DB;
    pool_split(hp->n_head_kv * nblk, 1, ith, nth, &lo, &hi);
    for (int h = lo / nblk; h < hp->n_head_kv && h * nblk < hi; h++) {
        head_units(h, nblk, lo, hi, &u0, &u1);
        size_t head = (size_t)il * hp->n_head_kv + h;
        prefetch_rows(s->kcache + (head * s->n_ctx + j0) * hd, (size_t)hd * 2, u0 * ATT_DB,
                      u1 * ATT_DB < nj ? u1 * ATT_DB : nj, (size_t)hd * 2);
    }
    pool_split(hp->n_head_kv * nvb, 1, ith, nth, &lo, &hi);
    for (int h = lo / nvb; h < hp->n_head_kv && h * nvb < hi; h++) {
        head_units(h, nvb, lo, hi, &u0, &u1);
        size_t head = (size_t)il * hp->n_head_kv + h;
        prefetch_rows(s->vcache + head * hdv * s->n_ctx + j0, (size_t)s->n_ctx * 2, u0 * ATT_DB,
                      u1 * ATT_DB < hdv ? u1 * ATT_DB : hdv, (size_t)nj * 2);
    }
}

static void prefetch_kv_task(void *arg, int ith, int nth)
{
    const struct rows_task *t = arg;
    prefetch_kv(t->s, t->il, ith, nth);
}

static void decode_scores_task(void *arg, int ith, int nth)
{
    const struct rows_task *t = arg;
    struct state *s = t->s;
    const struct hparams *hp = &s->m->hp;
    const struct kernels *k = s->c.k;
    int G = group_size(hp), hd = hp->head_dim, hdv = hp->head_dim_v, p = s->n_past, j0, nj, lo, hi;
    decode_window(s, t->il, &j0, &nj);
    int nblk = (nj + ATT_DB - 1) / ATT_DB;
    pool_split(hp->n_head_kv * nblk, 1, ith, nth, &lo, &hi);
    const struct attn_scratch *a = &s->attn[ith];
    float *row = take_f32(a->row, a->n_row, (size_t)hd);
    uint16_t *Q = take_f16(a->q16, a->n_q16, (size_t)hp->n_head * hd);   /* [n_head][hd] */
    uint16_t *vt = take_f16(a->v16, a->n_v16, (size_t)hdv);
    float *q = s->qkv, *kr = q + q_dim(hp), *v = kr + k_dim(hp);
    for (int h = lo / nblk; h < hp->n_head_kv && h * nblk < hi; h++) {
        int u0, u1;
        head_units(h, nblk, lo, hi, &u0, &u1);
        for (int g = h * G; g < (h + 1) * G; g++) {
            memcpy(row, q + (size_t)g * hd, (size_t)hd * sizeof *row);
            rope_query(hp, row, s->rope_cs);
            k->f32_to_f16(Q + (size_t)g * hd, row, hd);
        }
        if (u1 == nblk)   /* this thread's scores reach p: store k and v of p first */
            store_kv(s, t->il, h, p, kr + (size_t)h * hd, v + (size_t)h * hdv, s->rope_cs, vt);
        size_t head = (size_t)t->il * hp->n_head_kv + h;
        struct matmul_args kq = {
            .y = s->att_s + (size_t)h * G * s->n_ctx, .ldy = (size_t)s->n_ctx,
            .w = s->kcache + (head * s->n_ctx + j0) * hd, .w_row_bytes = (size_t)hd * 2,
            .x = Q + (size_t)h * G * hd, .x_row_bytes = (size_t)hd * 2, .n = hd, .nc = G,
            .scratch = pool_scratch(s->c.pool, ith),
        };
        k->matmul[TL_F16](&kq, u0 * ATT_DB, u1 * ATT_DB < nj ? u1 * ATT_DB : nj);
    }
}

static void decode_values_task(void *arg, int ith, int nth)
{
    const struct rows_task *t = arg;
    struct state *s = t->s;
    const struct hparams *hp = &s->m->hp;
    const struct kernels *k = s->c.k;
    int G = group_size(hp), hd = hp->head_dim, hdv = hp->head_dim_v, j0, nj, lo, hi;
    decode_window(s, t->il, &j0, &nj);
    int nvb = (hdv + ATT_DB - 1) / ATT_DB;
    pool_split(hp->n_head_kv * nvb, 1, ith, nth, &lo, &hi);
    const struct attn_scratch *a = &s->attn[ith];
    float *row = take_f32(a->row, a->n_row, (size_t)nj);
    uint16_t *P = take_f16(a->weights, a->n_weights, (size_t)G * nj);   /* [G][nj] */
    float scale = prescaled_q(hp) ? 1.0f : 1.0f / sqrtf((float)hd);
    for (int h = lo / nvb; h < hp->n_head_kv && h * nvb < hi; h++) {
        int u0, u1;
        head_units(h, nvb, lo, hi, &u0, &u1);
        for (int g = 0; g < G; g++) {
            memcpy(row, s->att_s + (size_t)(h * G + g) * s->n_ctx, (size_t)nj * sizeof *row);
            if (hp->attn_softcap > 0.0f)
                softcap(row, 0, nj - 1, hp->attn_softcap);
            softmax_row(k, row, nj, 0, nj - 1, scale);
            k->f32_to_f16(P + (size_t)g * nj, row, nj);
        }
        size_t head = (size_t)t->il * hp->n_head_kv + h;
        struct matmul_args pv = {
            .y = s->att + (size_t)h * G * hdv, .ldy = (size_t)hdv,
            .w = s->vcache + head * hdv * s->n_ctx + j0, .w_row_bytes = (size_t)s->n_ctx * 2,
            .x = P, .x_row_bytes = (size_t)nj * 2, .n = nj, .nc = G,
            .scratch = pool_scratch(s->c.pool, ith),
        };
        k->matmul[TL_F16](&pv, u0 * ATT_DB, u1 * ATT_DB < hdv ? u1 * ATT_DB : hdv);
    }
}

/* The FFN's nonlinearity on elements [i0, i1) of every token's gate (ffa)
 * and up (ffb) rows, into ffb: the input of Wdown. */
struct ffn_act { struct state *s; int n; };

static void ffn_act_rows(void *arg, int i0, int i1)
{
    const struct ffn_act *t = arg;
    struct state *s = t->s;
    const struct hparams *hp = &s->m->hp;
    for (int r = 0; r < t->n; r++) {
        float *a = s->ffa + (size_t)r * hp->n_ff, *b = s->ffb + (size_t)r * hp->n_ff;
        if (hp->ffn == FFN_SWIGLU)
            s->c.k->swiglu(b + i0, a + i0, b + i0, i1 - i0);
        else if (hp->ffn == FFN_GEGLU)
            gelu_rows(s, b + i0, a + i0, b + i0, i1 - i0);
        else                                /* ungated: up in ffa */
            gelu_rows(s, b + i0, a + i0, NULL, i1 - i0);
    }
}

/* --------------------------------------------------------------- blocks */

/* y = Wo . attention(xn) for the n tokens of the batch */
static void attention_block(struct state *s, int il, int n)
{
    const struct hparams *hp = &s->m->hp;
    const struct layer *L = &s->m->layers[il];
    size_t ld = (size_t)qkv_dim(hp);
    struct rows_task t = { .s = s, .il = il, .n = n };
    /* decode: each thread's cache rows are on their way while it computes q, k, v */
    struct mm_extra e = { .before = prefetch_kv_task, .arg = &t };
    if (L->wqkv.data) {
        struct mm_job j = { &L->wqkv, s->qkv, ld, L->bqkv };
        matmul_ex(&s->c, &j, 1, s->xn, hp->n_embd, n, n == 1 ? &e : NULL);
    } else {
        struct mm_job j[3] = {
            { &L->wq, s->qkv, ld, L->bq },
            { &L->wk, s->qkv + q_dim(hp), ld, L->bk },
            { &L->wv, s->qkv + q_dim(hp) + k_dim(hp), ld, L->bv },
        };
        matmul_ex(&s->c, j, 3, s->xn, hp->n_embd, n, n == 1 ? &e : NULL);
    }
    if (n == 1) {
        pool_run(s->c.pool, decode_scores_task, &t);
        pool_run(s->c.pool, decode_values_task, &t);
    } else {
        pool_run(s->c.pool, rope_store_task, &t);
        pool_run(s->c.pool, attention_task, &t);
    }
    struct mm_job o = { &L->wo, s->y, hp->n_embd, L->bo };
    matmul(&s->c, &o, 1, s->att, (size_t)hp->n_head * hp->head_dim_v, n);
}

/* y = Wdown . act(xn) for the n tokens of the batch. Gate and up rows are
 * split over the threads alike, so each thread gates the rows it made. */
static void ffn_block(struct state *s, int il, int n)
{
    const struct hparams *hp = &s->m->hp;
    const struct layer *L = &s->m->layers[il];
    size_t ld = (size_t)hp->n_ff;
    struct mm_job j[2] = { { &L->w_up, s->ffa, ld, L->b_up } };
    struct weight gate, up;
    int nj = 1;
    if (hp->arch == ARCH_PHI3) {   /* one weight: n_ff gate rows, then n_ff up rows */
        gate = up = L->w_up;
        gate.n_out = up.n_out = hp->n_ff;
        up.data = (const char *)L->w_up.data + (size_t)hp->n_ff * L->w_up.row_bytes;
        j[0] = (struct mm_job){ &gate, s->ffa, ld, L->b_up };
        j[1] = (struct mm_job){ &up, s->ffb, ld, L->b_up ? L->b_up + hp->n_ff : NULL };
        nj = 2;
    } else if (L->w_gate.data) {
        j[0] = (struct mm_job){ &L->w_gate, s->ffa, ld, NULL };
        j[1] = (struct mm_job){ &L->w_up, s->ffb, ld, L->b_up };
        nj = 2;
    }
    struct ffn_act act = { s, n };
    struct mm_extra e = { .then = ffn_act_rows, .arg = &act };
    matmul_ex(&s->c, j, nj, s->xn, hp->n_embd, n, &e);
    struct mm_job d = { &L->w_down, s->y, hp->n_embd, L->b_down };
    matmul(&s->c, &d, 1, s->ffb, hp->n_ff, n);
}

static void add_rows(float *restrict x, const float *restrict y, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            x[i + j] += y[i + j];
    for (; i < n; i++)
        x[i] += y[i];
}

/* x += y, or with a post-norm weight (gemma2, an RMSNorm model) x +=
 * norm(y) * w; xn, the block's input, is free by then and holds them. */
static void add_block_output(struct state *s, int n, const float *post_norm)
{
    if (post_norm)
        norm_rows(s, n, s->y, post_norm, NULL);
    add_rows(s->x, post_norm ? s->xn : s->y, (size_t)n * s->m->hp.n_embd);
}

static void layer(struct state *s, int il, int n)
{
    const struct hparams *hp = &s->m->hp;
    const struct layer *L = &s->m->layers[il];
    norm_rows(s, n, s->x, L->attn_norm, L->attn_norm_b);
    attention_block(s, il, n);
    add_block_output(s, n, L->attn_post_norm);
    if (!hp->parallel_block)
        norm_rows(s, n, s->x, L->ffn_norm, L->ffn_norm_b);
    ffn_block(s, il, n);
    add_block_output(s, n, L->ffn_post_norm);
}

struct softcap_job { float *v; int rows, n; float c; };

/* each thread caps its share of every row of n logits */
static void softcap_task(void *arg, int ith, int nth)
{
    const struct softcap_job *j = arg;
    int lo, hi;
    pool_split(j->n, 64, ith, nth, &lo, &hi);
    for (int r = 0; r < j->rows && lo < hi; r++)
        softcap(j->v + (size_t)r * j->n, lo, hi - 1, j->c);
}

static int grow_logits(struct state *s, int rows, struct tl_error *err)
{
    if (rows <= s->logits_cap)
        return TL_OK;
    float *l = realloc(s->logits, (size_t)rows * s->m->hp.n_vocab * sizeof *l);
    if (!l)
        return tl_fail(err, TL_ENOMEM, "out of memory for %d rows of logits", rows);
    s->logits = l;
    s->logits_cap = rows;
    return TL_OK;
}

int forward(struct state *s, const int32_t *tokens, int n, bool all_logits, struct tl_error *err)
{
    const struct model *m = s->m;
    const struct hparams *hp = &m->hp;
    if (n < 1 || n > s->n_batch)
        return tl_fail(err, TL_EINVAL, "batch of %d tokens (1..%d allowed)", n, s->n_batch);
    if (s->n_past + n > s->n_ctx)
        return tl_fail(err, TL_ERANGE, "the context of %d tokens is full", s->n_ctx);
    int rows = all_logits ? n : 1, rc = grow_logits(s, rows, err);
    if (rc)
        return rc;
    for (int r = 0; r < n; r++) {
        if (tokens[r] < 0 || tokens[r] >= hp->n_vocab)
            return tl_fail(err, TL_EINVAL, "token id %d is outside the vocabulary (%d)", tokens[r], hp->n_vocab);
        float *x = s->x + (size_t)r * hp->n_embd;
        const void *row = (const char *)m->tok_embd.data + (size_t)tokens[r] * m->tok_embd.row_bytes;
        if (m->tok_embd.packed) {   /* xn is free, and wider than a quantised row */
            unpack_x16_row(m->tok_embd.type, m->tok_embd.data, m->tok_embd.row_bytes, tokens[r], s->xn);
            row = s->xn;
        }
        dequantize_row(m->tok_embd.type, row, x, hp->n_embd);
        if (hp->embd_scale != 1.0f)
            for (int i = 0; i < hp->n_embd; i++)
                x[i] *= hp->embd_scale;
    }
    for (int r = 0; r < n; r++)
        rope_table(s->rope_cs + (size_t)r * hp->n_rot, s->inv_freq, hp->n_rot, s->n_past + r, hp->rope_mscale);
    for (int il = 0; il < hp->n_layer; il++)
        layer(s, il, n);
    /* only the rows whose logits are wanted go through the output head */
    if (!all_logits)
        memmove(s->x, s->x + (size_t)(n - 1) * hp->n_embd, (size_t)hp->n_embd * sizeof *s->x);
    norm_rows(s, rows, s->x, m->output_norm, m->output_norm_b);
    struct mm_job o = { &m->output, s->logits, (size_t)hp->n_vocab, m->output_b };
    matmul(&s->c, &o, 1, s->xn, hp->n_embd, rows);
    if (hp->final_softcap > 0.0f) {   /* 256000 tanhf a row: worth the threads */
        struct softcap_job j = { s->logits, rows, hp->n_vocab, hp->final_softcap };
        pool_run(s->c.pool, softcap_task, &j);
    }
    s->n_logits = rows;
    s->n_past += n;
    return TL_OK;
}
