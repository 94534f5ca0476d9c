/* eval/perplexity.c: llama-perplexity's perplexity: the text in chunks of
 * n_ctx tokens, each from an empty cache with BOS first, the second half of
 * each chunk scored; optionally the scored rows saved as a KL-divergence
 * base file. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

/* Collects the scored rows as engine_eval hands over batches. */
struct rows_sink {
    float *rows;     /* [eval_scored_rows][n_vocab] */
    int    pos;      /* chunk position of the next row handed over */
    int    first, last;  /* scored positions [first, last] */
};

static int sink_rows(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    (void)err;
    struct rows_sink *s = ctx;
    for (int r = 0; r < rows; r++, s->pos++)
        if (s->pos >= s->first && s->pos <= s->last)
            memcpy(s->rows + (size_t)(s->pos - s->first) * n_vocab, logits + (size_t)r * n_vocab,
                   (size_t)n_vocab * sizeof *logits);
    return TL_OK;
}

int eval_chunk(struct engine *e, const int32_t *chunk, int n_ctx, float *rows, struct tl_error *err)
{
    struct rows_sink s = { rows, 0, n_ctx / 2, n_ctx - 2 };
    e->st.n_past = 0;
    int32_t first = e->tok.add_bos && e->tok.bos >= 0 ? e->tok.bos : chunk[0];
    int rc = engine_eval(e, &first, 1, sink_rows, &s, err);
    if (rc == TL_OK)
        rc = engine_eval(e, chunk + 1, n_ctx - 1, sink_rows, &s, err);
    return rc;
}

/* -log p(tok) from one row of logits: the max in float, the sum of
 * exp(l - max) in double, as llama-perplexity computes it. */
static double row_nll(const float *l, int n_vocab, int tok)
{
    float max = l[0];
    for (int i = 1; i < n_vocab; i++)
        max = l[i] > max ? l[i] : max;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += expf(l[i] - max);
    return -((double)(l[tok] - max) - log(sum));
}

double kld_base_row(const float *l, int n_vocab, int tok, uint16_t *row)
{
    float max = l[0], min = l[0];
    for (int i = 1; i < n_vocab; i++) {
        max = l[i] > max ? l[i] : max;
        min = l[i] < min ? l[i] : min;
    }
    /* log-probabilities more than 16 nats below the best are stored as 0 */
    if (min < max - 16)
        min = max - 16;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += expf(l[i] - max);
    float log_sum = (float)log(sum);
    float min_log_prob = min - max - log_sum;
    float scale = (max - min) / 65535.f;
    memcpy(row, &scale, sizeof scale);
    memcpy(row + 2, &min_log_prob, sizeof min_log_prob);
    uint16_t *q = row + 4;
    memset(q, 0, (kld_row_u16(n_vocab) - 4) * sizeof *q);
    if (scale != 0) {
        float inv = 1 / scale;
        for (int i = 0; i < n_vocab; i++)
            q[i] = l[i] > min ? (uint16_t)lrintf(inv * (l[i] - min)) : 0;
    }
    return max + log_sum - l[tok];
}

static int write_all(FILE *f, const void *p, size_t size, size_t n, struct tl_error *err)
{
    if (fwrite(p, size, n, f) != n)
        return tl_fail(err, TL_EIO, "cannot write the KL-divergence base file: %s", strerror(errno));
    return TL_OK;
}

static int write_base_header(FILE *f, int n_ctx, int n_vocab, int n_chunk, const int32_t *tokens,
                             struct tl_error *err)
{
    int32_t h[3] = { n_ctx, n_vocab, n_chunk };
    int rc = write_all(f, "_logits_", 1, 8, err);
    if (rc == TL_OK)
        rc = write_all(f, h, sizeof h[0], 3, err);
    if (rc == TL_OK)
        rc = write_all(f, tokens, sizeof *tokens, (size_t)n_chunk * n_ctx, err);
    return rc;
}

int ppl_run(struct engine *e, const int32_t *tokens, int n, const struct ppl_params *p,
            struct ppl_stats *s, struct tl_error *err)
{
    memset(s, 0, sizeof *s);
    int n_ctx = p->n_ctx, n_vocab = e->model.hp.n_vocab;
    if (n < 2 * n_ctx)
        return tl_fail(err, TL_ERANGE, "you need at least %d tokens to evaluate perplexity with a context "
                       "of %d; the text tokenizes to only %d tokens", 2 * n_ctx, n_ctx, n);
    int n_chunk = n / n_ctx;
    if (p->n_chunks >= 0 && p->n_chunks < n_chunk)
        n_chunk = p->n_chunks;
    int n_rows = eval_scored_rows(n_ctx);
    size_t nv = kld_row_u16(n_vocab);
    float *rows = malloc((size_t)n_rows * n_vocab * sizeof *rows);
    uint16_t *q = p->base_out ? malloc((size_t)n_rows * nv * sizeof *q) : NULL;
    int rc = TL_OK;
    if (!rows || (p->base_out && !q)) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory for %d rows of logits", n_rows);
        goto out;
    }
    if (p->base_out && (rc = write_base_header(p->base_out, n_ctx, n_vocab, n_chunk, tokens, err)))
        goto out;
    for (int c = 0; c < n_chunk; c++) {
        const int32_t *chunk = tokens + (size_t)c * n_ctx;
        if ((rc = eval_chunk(e, chunk, n_ctx, rows, err)))
            goto out;
        for (int r = 0; r < n_rows; r++) {
            const float *l = rows + (size_t)r * n_vocab;
            int tok = chunk[n_ctx / 2 + r + 1];
            double v = q ? kld_base_row(l, n_vocab, tok, q + (size_t)r * nv) : row_nll(l, n_vocab, tok);
            s->nll += v;
            s->nll2 += v * v;
        }
        s->count += n_rows;
        if (q && (rc = write_all(p->base_out, q, sizeof *q, (size_t)n_rows * nv, err)))
            goto out;
        if (p->on_chunk)
            p->on_chunk(p->ctx, c, s);
    }
out:
    free(rows);
    free(q);
    return rc;
}

double ppl_value(const struct ppl_stats *s)
{
    return s->count ? exp(s->nll / (double)s->count) : 0;
}

double ppl_error(const struct ppl_stats *s)
{
    if (s->count < 2)
        return -1;
    double mean = s->nll / (double)s->count;
    double var = s->nll2 / (double)s->count - mean * mean;
    if (!(var > 0))
        return -1;
    return sqrt(var / (double)(s->count - 1)) * exp(mean);
}
