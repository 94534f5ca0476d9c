/* engine/sampler.c: logits -> token (see engine/sampler.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"

struct sampler_params sampler_defaults(void)
{
    return (struct sampler_params){
        .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f, .seed = 0,
    };
}

int sampler_init(struct sampler *s, const struct sampler_params *p, int n_vocab, struct tl_error *err)
{
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->n_vocab = n_vocab;
    /* splitmix64 of the seed, so nearby seeds give unrelated streams and the
     * state is never zero */
    uint64_t z = p->seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    s->rng = (z ^ (z >> 31)) | 1;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->recent = malloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1) * sizeof *s->recent);
    if (!s->cand || !s->recent) {
        sampler_free(s);
        return tl_fail(err, TL_ENOMEM, "out of memory for the sampler");
    }
    return TL_OK;
}

void sampler_free(struct sampler *s)
{
    free(s->cand);
    free(s->recent);
    memset(s, 0, sizeof *s);
}

void sampler_accept(struct sampler *s, int32_t id)
{
    if (s->p.repeat_last_n <= 0)
        return;
    s->recent[s->recent_pos] = id;
    s->recent_pos = (s->recent_pos + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n)
        s->n_recent++;
}

int32_t argmax(const float *logits, int n)
{
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(logits[i]) && (best < 0 || logits[i] > logits[best]))
            best = i;
    return best;
}

/* uniform in [0, 1) */
static double next_uniform(struct sampler *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

/* Larger logits first, NaN after every number, ties (NaNs among them) by
 * id: a total order, as qsort and the heap need. */
static int by_logit_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    int xnan = isnan(x->logit), ynan = isnan(y->logit);
    if (xnan != ynan)
        return xnan - ynan;
    if (!xnan && x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sift c[i] down the min-heap c[0..k) ordered by by_logit_desc reversed
 * (the root is the worst of the k kept). */
static void sift_down(struct cand *c, int k, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && by_logit_desc(&c[l], &c[m]) > 0)
            m = l;
        if (r < k && by_logit_desc(&c[r], &c[m]) > 0)
            m = r;
        if (m == i)
            return;
        struct cand t = c[i];
        c[i] = c[m];
        c[m] = t;
        i = m;
    }
}

/* Move the k best of c[0..n) into c[0..k) (unordered) in O(n log k). */
static void select_top_k(struct cand *c, int n, int k)
{
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (by_logit_desc(&c[i], &c[0]) < 0) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
}

/* llama.cpp's penalties over the window, once per distinct token seen c
 * times: positive logits are divided by the repeat penalty, negative ones
 * multiplied; then c * frequency + presence is subtracted. */
static void apply_penalties(struct sampler *s, int n)
{
    for (int i = 0; i < s->n_recent; i++) {
        int32_t id = s->recent[i];
        int dup = 0, count = 1;
        for (int j = 0; j < i && !dup; j++)
            dup = s->recent[j] == id;
        if (dup || id < 0 || id >= n)
            continue;
        for (int j = i + 1; j < s->n_recent; j++)
            count += s->recent[j] == id;
        float *l = &s->cand[id].logit;
        *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
        *l -= (float)count * s->p.frequency_penalty + s->p.presence_penalty;
    }
}

/* One of the +inf tokens at the head of the sorted c[0..k), uniformly. */
static int32_t draw_among_inf(struct sampler *s, int k)
{
    int m = 1;
    while (m < k && s->cand[m].logit == INFINITY)
        m++;
    int i = (int)(next_uniform(s) * m);
    return s->cand[i < m ? i : m - 1].id;
}

int32_t sampler_sample(struct sampler *s, const float *logits)
{
    int n = s->n_vocab;
    for (int i = 0; i < n; i++)
        s->cand[i] = (struct cand){ logits[i], i };
    if (s->p.repeat_penalty != 1.0f || s->p.frequency_penalty != 0.0f || s->p.presence_penalty != 0.0f)
        apply_penalties(s, n);
    if (s->p.temp <= 0.0f) {
        int32_t best = -1;
        for (int i = 0; i < n; i++)
            if (!isnan(s->cand[i].logit) && (best < 0 || s->cand[i].logit > s->cand[best].logit))
                best = i;
        return best;
    }
    int k = s->p.top_k > 0 && s->p.top_k < n ? s->p.top_k : n;
    if (k < n)
        select_top_k(s->cand, n, k);
    qsort(s->cand, (size_t)k, sizeof *s->cand, by_logit_desc);
    while (k > 0 && isnan(s->cand[k - 1].logit))   /* sorted last: never drawn */
        k--;
    if (k == 0)
        return -1;
    float mx = s->cand[0].logit;
    if (isinf(mx))   /* softmax's limit: all on the +inf tokens, none if the best is -inf */
        return mx < 0 ? s->cand[0].id : draw_among_inf(s, k);
    /* As llama.cpp's chain: top-p and min-p judge the probabilities at
     * temperature 1, then the temperature reshapes the survivors. */
    double sum = 0.0, cum = 0.0;
    for (int i = 0; i < k; i++)
        sum += exp(s->cand[i].logit - mx);
    int keep = k;
    for (int i = 0; i < k; i++) {
        double pr = exp(s->cand[i].logit - mx);
        if (i > 0 && s->p.min_p > 0.0f && pr < s->p.min_p) {
            keep = i;
            break;
        }
        cum += pr / sum;
        if (cum >= s->p.top_p) {
            keep = i + 1;
            break;
        }
    }
    for (int i = 0; i < keep; i++)
        s->cand[i].logit = expf((s->cand[i].logit - mx) / s->p.temp);
    while (keep > 1 && s->cand[keep - 1].logit == 0.0f)   /* -inf, or underflow: never drawn */
        keep--;
    double total = 0.0;
    for (int i = 0; i < keep; i++)
        total += s->cand[i].logit;
    double r = next_uniform(s) * total;
    for (int i = 0; i < keep; i++) {
        r -= s->cand[i].logit;
        if (r < 0)
            return s->cand[i].id;
    }
    return s->cand[keep - 1].id;
}

int sampler_pick(struct sampler *s, const float *logits, int32_t *tok, struct tl_error *err)
{
    if (!logits)
        return tl_fail(err, TL_EINVAL, "no logits to sample from: nothing was evaluated");
    if ((*tok = sampler_sample(s, logits)) < 0)
        return tl_fail(err, TL_EFORMAT, "every logit is NaN: the weights are broken");
    return TL_OK;
}
