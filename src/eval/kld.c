/* eval/kld.c: KL divergence of a model against the log-probabilities a base
 * model saved (llama-perplexity's --kl-divergence-base file), with the
 * statistics llama-perplexity reports: perplexities of both and their ratio,
 * mean KLD, delta-p (p(token) minus the base's) and how often the top token
 * agrees. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

void kld_close(struct kld_file *k)
{
    if (k->f)
        fclose(k->f);
    free(k->tokens);
    memset(k, 0, sizeof *k);
}

int kld_open(struct kld_file *k, const char *path, struct tl_error *err)
{
    memset(k, 0, sizeof *k);
    char magic[8];
    int32_t h[3];
    int rc = TL_EFORMAT;
    if (!(k->f = fopen(path, "rb")))
        return tl_fail(err, TL_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fread(magic, 1, 8, k->f) != 8 || memcmp(magic, "_logits_", 8)) {
        tl_fail(err, rc, "%s does not look like a file of log-probabilities (no _logits_ header)", path);
        goto fail;
    }
    if (fread(h, sizeof h[0], 3, k->f) != 3) {
        tl_fail(err, rc, "%s: truncated header", path);
        goto fail;
    }
    k->n_ctx = h[0], k->n_vocab = h[1], k->n_chunk = h[2];
    if (k->n_ctx < 4 || k->n_ctx > (1 << 20) || k->n_vocab < 1 || k->n_vocab > (1 << 24) || k->n_chunk < 1 ||
        k->n_chunk > (1 << 24)) {
        tl_fail(err, rc, "%s: implausible header: n_ctx %d, n_vocab %d, n_chunk %d", path, k->n_ctx,
                k->n_vocab, k->n_chunk);
        goto fail;
    }
    /* the file must hold every token and every row it promises */
    long head = 20;
    double need = head + 4.0 * k->n_ctx * k->n_chunk +
                  2.0 * (double)kld_row_u16(k->n_vocab) * eval_scored_rows(k->n_ctx) * k->n_chunk;
    if (fseek(k->f, 0, SEEK_END) || ftell(k->f) < 0 || (double)ftell(k->f) < need || fseek(k->f, head, SEEK_SET)) {
        tl_fail(err, rc, "%s is truncated: n_ctx %d, n_vocab %d, n_chunk %d need %.0f bytes", path, k->n_ctx,
                k->n_vocab, k->n_chunk, need);
        goto fail;
    }
    size_t n_tok = (size_t)k->n_ctx * (size_t)k->n_chunk;
    if (!(k->tokens = malloc(n_tok * sizeof *k->tokens))) {
        tl_fail(err, rc = TL_ENOMEM, "out of memory for %s's tokens", path);
        goto fail;
    }
    if (fread(k->tokens, sizeof *k->tokens, n_tok, k->f) != n_tok) {
        tl_fail(err, rc = TL_EIO, "cannot read %s", path);
        goto fail;
    }
    for (size_t i = 0; i < n_tok; i++)
        if (k->tokens[i] < 0 || k->tokens[i] >= k->n_vocab) {
            tl_fail(err, rc, "%s: token %zu is %d, outside the vocabulary of %d", path, i, k->tokens[i],
                    k->n_vocab);
            goto fail;
        }
    return TL_OK;
fail:
    kld_close(k);
    return rc;
}

/* Fold one scored row into s: l the model's logits, base the base file's
 * row, tok the next token. The arithmetic follows llama-perplexity's (float
 * where it is float) so the two agree to the printed digits. */
static void kld_row(struct kld_stats *s, const float *l, int n_vocab, const uint16_t *base, int tok)
{
    float max = l[0];
    int imax = 0;
    for (int i = 1; i < n_vocab; i++)
        if (l[i] > max)
            max = l[i], imax = i;
    double sum_exp = 0;
    for (int i = 0; i < n_vocab; i++)
        sum_exp += expf(l[i] - max);
    float log_sum = (float)log(sum_exp);
    float scale, min_log_prob;
    memcpy(&scale, base, sizeof scale);
    memcpy(&min_log_prob, base + 2, sizeof min_log_prob);
    const uint16_t *q = base + 4;

    float nll = max + log_sum - l[tok];
    float nll_base = -(scale * q[tok] + min_log_prob);
    s->sum_nll += nll;
    s->sum_nll2 += nll * nll;
    s->sum_nll_base += nll_base;
    s->sum_nll_base2 += nll_base * nll_base;
    s->sum_nll_nll_base += nll * nll_base;

    /* KL(base || model) = sum p_base (log p_base - log p), over the base
     * tokens within 16 nats of its best */
    float log_norm = max + log_sum;
    double kld = 0;
    int imax_base = 0;
    float best_base = 0;
    for (int i = 0; i < n_vocab; i++) {
        float lp_base = scale * q[i] + min_log_prob;
        if (i == 0 || lp_base > best_base)
            best_base = lp_base, imax_base = i;
        if (lp_base > -16.f)
            kld += expf(lp_base) * (lp_base - l[i] + log_norm);
    }
    s->sum_kld += kld;
    s->sum_kld2 += kld * kld;
    s->n_same_top += imax == imax_base;

    float p_diff = expf(-nll) - expf(-nll_base);
    double d2 = p_diff * p_diff;
    s->sum_p_diff += p_diff;
    s->sum_p_diff2 += d2;
    s->sum_p_diff4 += d2 * d2;
    s->kld_values[s->count] = (float)kld;
    s->p_diff_values[s->count] = p_diff;
    s->count++;
}

int kld_run(struct engine *e, struct kld_file *k, int n_chunks, kld_chunk_fn on_chunk, void *ctx,
            struct kld_stats *s, struct tl_error *err)
{
    memset(s, 0, sizeof *s);
    if (k->n_vocab != e->model.hp.n_vocab)
        return tl_fail(err, TL_EINVAL, "the base file's vocabulary has %d tokens, the model's %d", k->n_vocab,
                       e->model.hp.n_vocab);
    int n_chunk = n_chunks >= 0 && n_chunks < k->n_chunk ? n_chunks : k->n_chunk;
    int n_rows = eval_scored_rows(k->n_ctx), n_vocab = k->n_vocab;
    size_t nv = kld_row_u16(n_vocab), n_all = (size_t)n_rows * n_chunk;
    float *rows = malloc((size_t)n_rows * n_vocab * sizeof *rows);
    uint16_t *base = malloc((size_t)n_rows * nv * sizeof *base);
    s->kld_values = malloc((n_all ? n_all : 1) * sizeof *s->kld_values);
    s->p_diff_values = malloc((n_all ? n_all : 1) * sizeof *s->p_diff_values);
    int rc = TL_OK;
    if (!rows || !base || !s->kld_values || !s->p_diff_values) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory for %d rows of logits", n_rows);
        goto out;
    }
    for (int c = 0; c < n_chunk; c++) {
        if (fread(base, sizeof *base, (size_t)n_rows * nv, k->f) != (size_t)n_rows * nv) {
            rc = tl_fail(err, TL_EIO, "cannot read the base log-probabilities of chunk %d", c + 1);
            goto out;
        }
        const int32_t *chunk = k->tokens + (size_t)c * k->n_ctx;
        if ((rc = eval_chunk(e, chunk, k->n_ctx, rows, err)))
            goto out;
        for (int r = 0; r < n_rows; r++)
            kld_row(s, rows + (size_t)r * n_vocab, n_vocab, base + (size_t)r * nv, chunk[k->n_ctx / 2 + r + 1]);
        if (on_chunk)
            on_chunk(ctx, c, s);
    }
out:
    free(rows);
    free(base);
    if (rc)
        kld_stats_free(s);
    return rc;
}

void kld_stats_free(struct kld_stats *s)
{
    free(s->kld_values);
    free(s->p_diff_values);
    s->kld_values = s->p_diff_values = NULL;
}

/* Mean of n values from their sum and sum of squares, with the standard
 * error of the mean (0 for 10 values or fewer). */
static struct kld_pair mean_unc(double sum, double sum2, size_t n)
{
    if (n < 1)
        return (struct kld_pair){ 0, 0 };
    double f = sum / (double)n, df = sum2 / (double)n - f * f;
    return (struct kld_pair){ f, df > 0 && n > 10 ? sqrt(df / (double)(n - 1)) : 0 };
}

void kld_summarize(const struct kld_stats *s, struct kld_summary *r)
{
    size_t n = s->count;
    struct kld_pair lp = mean_unc(s->sum_nll, s->sum_nll2, n);
    struct kld_pair lb = mean_unc(s->sum_nll_base, s->sum_nll_base2, n);
    double cov = n < 10 ? 0
                        : (s->sum_nll_nll_base / (double)n - (s->sum_nll / (double)n) * (s->sum_nll_base / (double)n)) /
                              (double)(n - 1);
    r->ppl = (struct kld_pair){ exp(lp.val), exp(lp.val) * lp.unc };
    r->ppl_base = (struct kld_pair){ exp(lb.val), exp(lb.val) * lb.unc };
    r->cor = cov / (lp.unc * lb.unc);
    r->log_ratio = (struct kld_pair){ lp.val - lb.val, sqrt(lp.unc * lp.unc + lb.unc * lb.unc - 2 * cov) };
    r->ratio = (struct kld_pair){ exp(r->log_ratio.val), exp(r->log_ratio.val) * r->log_ratio.unc };
    double ppl_cov = r->ppl.val * r->ppl_base.val * cov;
    r->diff = (struct kld_pair){ r->ppl.val - r->ppl_base.val,
                                 sqrt(r->ppl.unc * r->ppl.unc + r->ppl_base.unc * r->ppl_base.unc - 2 * ppl_cov) };
    r->kld = mean_unc(s->sum_kld, s->sum_kld2, n);
    r->p_diff = mean_unc(s->sum_p_diff, s->sum_p_diff2, n);
    struct kld_pair mse = mean_unc(s->sum_p_diff2, s->sum_p_diff4, n);
    r->rms_p_diff = (struct kld_pair){ sqrt(mse.val), 0.5 / sqrt(mse.val) * mse.unc };
    double top = n ? (double)s->n_same_top / (double)n : 0;
    r->same_top = (struct kld_pair){ top, n > 1 ? sqrt(top * (1 - top) / (double)(n - 1)) : 0 };
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void kld_sort(struct kld_stats *s)
{
    qsort(s->kld_values, s->count, sizeof *s->kld_values, cmp_float);
    qsort(s->p_diff_values, s->count, sizeof *s->p_diff_values, cmp_float);
}

double kld_percentile(const float *v, size_t n, double fraction)
{
    if (fraction <= 0)
        return v[0];
    if (fraction >= 1)
        return v[n - 1];
    float p = (float)fraction * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

double kld_median(const float *v, size_t n)
{
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}
