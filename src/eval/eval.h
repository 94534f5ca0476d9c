/* eval/eval.h: measuring a model on text the way llama-perplexity does:
 * perplexity over chunks (eval/perplexity.c), KL divergence against a base
 * model's saved log-probabilities (eval/kld.c) and HellaSwag, Winogrande and
 * multiple-choice accuracy (eval/choice.c). These compute; cli/cmd_perplexity.c prints. */
#ifndef TINYLLM_EVAL_H
#define TINYLLM_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"

/* ---- chunks (eval/perplexity.c) ----
 * A chunk is n_ctx tokens evaluated from an empty cache, its first token
 * replaced by BOS when the vocabulary adds one; the rows scored are its
 * second half: positions first = n_ctx/2 .. n_ctx-2, each predicting the
 * next token, so n_ctx - 1 - n_ctx/2 rows a chunk. */
static inline int eval_scored_rows(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

/* Evaluate chunk[0..n_ctx) (n_ctx <= the engine's context) and copy the
 * logits of the scored rows into rows ([eval_scored_rows(n_ctx)][n_vocab]). */
int eval_chunk(struct engine *e, const int32_t *chunk, int n_ctx, float *rows, struct tl_error *err);

/* Negative log-likelihood sums over the scored tokens. */
struct ppl_stats {
    double nll, nll2;   /* sum of -log p(token), of its square (nats) */
    long   count;       /* tokens scored */
};

/* Called after each chunk with the totals so far. */
typedef void (*ppl_chunk_fn)(void *ctx, int chunk, const struct ppl_stats *s);

struct ppl_params {
    int          n_ctx;      /* tokens a chunk (the engine's context holds them) */
    int          n_chunks;   /* < 0: every whole chunk of the text */
    FILE        *base_out;   /* non-NULL: write llama.cpp's KL-divergence base file here */
    ppl_chunk_fn on_chunk;
    void        *ctx;
};

/* Perplexity of tokens[0..n) (the text tokenized with BOS as the vocabulary
 * asks) over n / n_ctx whole chunks (at most n_chunks). Fewer than
 * 2 * n_ctx tokens is TL_ERANGE "you need at least ... tokens". */
int ppl_run(struct engine *e, const int32_t *tokens, int n, const struct ppl_params *p,
            struct ppl_stats *s, struct tl_error *err);

/* exp(mean nll), and its error exp(mean) * sqrt(var / (count - 1)); the
 * error is negative when the variance is not positive. */
double ppl_value(const struct ppl_stats *s);
double ppl_error(const struct ppl_stats *s);

/* ---- KL divergence (eval/kld.c) ----
 * The base file, little-endian, as llama-perplexity writes it:
 *   "_logits_", int32 n_ctx, int32 n_vocab, int32 n_chunk,
 *   int32 tokens[n_chunk * n_ctx] (as in the text, no BOS substituted),
 *   then per chunk eval_scored_rows(n_ctx) rows of nv = 2*((n_vocab+1)/2) + 4
 *   uint16: float scale, float min_log_prob, then per token
 *   q = round((logit - min_logit) / scale) with log p = scale * q + min_log_prob,
 *   min_logit = max(min logit, max logit - 16); the rest padding. */
static inline size_t kld_row_u16(int n_vocab) { return 2 * (((size_t)n_vocab + 1) / 2) + 4; }

/* Quantize one row of logits into a base-file row (kld_row_u16 uint16) and
 * return -log p(tok) as llama-perplexity computes it there. */
double kld_base_row(const float *logits, int n_vocab, int tok, uint16_t *row);

struct kld_file {
    FILE    *f;
    int      n_ctx, n_vocab, n_chunk;
    int32_t *tokens;     /* [n_chunk * n_ctx] */
};

/* Open a base file and read its header and tokens, checking that the file
 * holds every row it promises. Errors name the file: TL_EIO, TL_EFORMAT. */
int  kld_open(struct kld_file *k, const char *path, struct tl_error *err);
void kld_close(struct kld_file *k);

struct kld_stats {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_p_diff, sum_p_diff2, sum_p_diff4;
    size_t n_same_top, count;
    float *kld_values, *p_diff_values;  /* [count] per scored token */
};

/* One line of llama-perplexity's KL-divergence report: a value and its error. */
struct kld_pair { double val, unc; };

struct kld_summary {
    struct kld_pair ppl, ppl_base, log_ratio, ratio, diff, kld, p_diff, rms_p_diff, same_top;
    double          cor;   /* correlation of ln PPL(Q) and ln PPL(base) */
};

/* Evaluate the first n_chunks (< 0: all) chunks of k's tokens on e (whose
 * context holds k->n_ctx, vocabulary k->n_vocab) and gather the statistics
 * against the base rows; on_chunk after each (s is then kld_stats's). */
typedef void (*kld_chunk_fn)(void *ctx, int chunk, const struct kld_stats *s);
int  kld_run(struct engine *e, struct kld_file *k, int n_chunks, kld_chunk_fn on_chunk, void *ctx,
             struct kld_stats *s, struct tl_error *err);
void kld_stats_free(struct kld_stats *s);

/* The report's means and errors from the sums so far. */
void kld_summarize(const struct kld_stats *s, struct kld_summary *r);

/* Sort s's per-token values (for kld_percentile); call once at the end. */
void kld_sort(struct kld_stats *s);
/* The fraction-quantile of n sorted values, interpolated as llama-perplexity
 * does (0: the minimum, 1: the maximum); the median of an even count is the
 * mean of the middle two. */
double kld_percentile(const float *v, size_t n, double fraction);
double kld_median(const float *v, size_t n);

/* ---- multiple choice (eval/choice.c) ---- */
/* Called after each task with the count of correct ones so far. */
typedef void (*hs_task_fn)(void *ctx, size_t task, size_t n_correct);

/* HellaSwag as llama-perplexity scores it. text (modified in place) holds 6
 * lines a task: context, gold index 0..3, four endings; each ending is
 * appended to the context after a space. min(n_tasks, all) tasks are drawn
 * in llama-perplexity's order; the engine's context must hold each. */
int hellaswag_run(struct engine *e, char *text, size_t len, size_t n_tasks, hs_task_fn on_task, void *ctx,
                  size_t *n_done, size_t *n_correct, struct tl_error *err);

/* Called after each Winogrande task: the correct count so far, both
 * choices' scores, the choice picked and the right one (1 or 2). */
typedef void (*wg_task_fn)(void *ctx, size_t task, size_t n_correct, const float score[2], int result, int answer);

/* Winogrande as llama-perplexity scores it. text (modified in place): CSV
 * lines "index,sentence with _,choice1,choice2,answer"; lines that are not
 * tasks are skipped. n_tasks 0 (or at least all): every task in order;
 * fewer: drawn in llama-perplexity's order. */
/* llama.cpp's binary multiple-choice file (TruthfulQA, ARC, MMLU as its
 * converters write them) scored as llama-perplexity does: every answer of
 * mc1 after the question and a space, the best mean log-probability right
 * when labelled 1. n_tasks 0 (or at least all): every task in order; fewer:
 * drawn in llama-perplexity's order. *n_answers: answers seen in all;
 * *n_all: tasks in the file. */
int multiple_choice_run(struct engine *e, const uint8_t *data, size_t len, size_t n_tasks, hs_task_fn on_task,
                        void *ctx, size_t *n_done, size_t *n_correct, size_t *n_answers, size_t *n_all,
                        struct tl_error *err);

int winogrande_run(struct engine *e, char *text, size_t len, size_t n_tasks, wg_task_fn on_task, void *ctx,
                   size_t *n_done, size_t *n_correct, struct tl_error *err);

#endif
