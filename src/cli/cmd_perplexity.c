/* cli/cmd_perplexity.c: `tinyllm perplexity`: llama-perplexity's measurements
 * (eval/eval.h) with its output, so scripts that parse one parse the other:
 * the running "[1]x,[2]y,..." line on stdout, "Final estimate: PPL = X +/- Y"
 * on stderr; with --kl-divergence its per-chunk table and statistics on
 * stdout; with --hellaswag the running "task<TAB>acc_norm" lines, with
 * --winogrande its per-task lines, with --multiple-choice its accuracy lines. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/eval.h"

struct ppl_opts {
    struct engine_opts eng;
    const char *text_file, *kld_base;
    int         n_ctx, n_batch, n_chunks, hs_tasks, wg_tasks, mc_tasks;
    bool        kld, hellaswag, winogrande;
    const char *mc_file;
};

#define PPL_OPT(field) offsetof(struct ppl_opts, field)
static const struct opt ppl_rows[] = {
    { "-f, --file", "FILE", OPT_STR, PPL_OPT(text_file), .help = "the text to measure on (- for stdin)" },
    { "-c, --ctx-size", "N", OPT_INT, PPL_OPT(n_ctx), 4, 1 << 20,
      .help = "tokens a chunk (the second half of each is scored)", .def = "512" },
    { "-b, --batch-size", "N", OPT_INT, PPL_OPT(n_batch), 1, 1 << 20,
      .help = "tokens a forward pass (at most -c)", .def = "2048" },
    { "--chunks", "N", OPT_INT, PPL_OPT(n_chunks), -1, 1 << 30, .help = "at most N chunks, -1 all",
      .def = "-1" },
    { "-t, --threads", "N", OPT_INT, PPL_OPT(eng.n_threads), 1, 1024, .help = "threads", .def = "physical cores" },
    { "--kl-divergence-base", "FILE", OPT_STR, PPL_OPT(kld_base),
      .help = "save the model's log-probabilities to FILE (llama.cpp's\nformat); with --kl-divergence "
              "read them from it" },
    { "--kl-divergence", NULL, OPT_FLAG, PPL_OPT(kld),
      .help = "KL divergence against --kl-divergence-base FILE (its\ntokens and -c; no -f)" },
    { "--hellaswag", NULL, OPT_FLAG, PPL_OPT(hellaswag),
      .help = "HellaSwag accuracy on -f FILE (6 lines a task: context,\ngold index, 4 endings)" },
    { "--hellaswag-tasks", "N", OPT_INT, PPL_OPT(hs_tasks), 1, 1 << 30, .help = "tasks to score", .def = "400" },
    { "--winogrande", NULL, OPT_FLAG, PPL_OPT(winogrande),
      .help = "Winogrande accuracy on -f FILE (CSV: index,sentence with _,\nchoice1,choice2,answer 1|2)" },
    { "--multiple-choice", "FILE", OPT_STR, PPL_OPT(mc_file),
      .help = "multiple-choice accuracy on llama.cpp's binary task FILE\n(llama-perplexity's --multiple-choice -bf FILE)" },
    { "--multiple-choice-tasks", "N", OPT_INT, PPL_OPT(mc_tasks), 0, 1 << 30, .help = "tasks to score, 0 all",
      .def = "0" },
    { "--winogrande-tasks", "N", OPT_INT, PPL_OPT(wg_tasks), 0, 1 << 30, .help = "tasks to score, 0 all",
      .def = "0" },
};

static int parse_args(int argc, char **argv, struct ppl_opts *o, bool *help, struct tl_error *err)
{
    const struct opt_group groups[] = { cli_group_model(&o->eng), OPT_GROUP(NULL, ppl_rows, o) };
    const struct opt_cmd cmd = {
        "perplexity", "-m MODEL -f FILE [options]",
        "Measure a model as llama-perplexity does: the text in chunks of -c tokens, each\n"
        "evaluated from BOS, the second half of each scored. --kl-divergence-base FILE\n"
        "also saves the log-probabilities; a later run with --kl-divergence compares\n"
        "another model (a quantization) with them.\n",
        groups, sizeof groups / sizeof groups[0],
    };
    int rc = opt_parse(&cmd, argc, argv, help, err);
    if (rc || *help)
        return rc;
    if (o->kld && !o->kld_base)
        return tl_fail(err, TL_EINVAL, "perplexity: --kl-divergence needs --kl-divergence-base FILE");
    if (o->kld + o->hellaswag + o->winogrande + (o->mc_file != NULL) > 1)
        return tl_fail(err, TL_EINVAL,
                       "perplexity: give one of --kl-divergence, --hellaswag, --winogrande, --multiple-choice");
    if (!o->kld && !o->mc_file && !o->text_file)
        return tl_fail(err, TL_EINVAL, "perplexity: -f FILE is required (the text to measure on)");
    return TL_OK;
}

static int open_engine(struct engine *e, struct ppl_opts *o, int n_ctx, struct tl_error *err)
{
    struct kernels k;
    int rc = cli_kernels(&o->eng.kernels, &k, err);
    if (rc)
        return rc;
    o->eng.n_ctx = n_ctx;
    o->eng.n_batch = o->n_batch < n_ctx ? o->n_batch : n_ctx;
    return engine_open(e, &o->eng, err);
}

/* -f FILE as llama.cpp reads it: one trailing newline dropped (which, for
 * --winogrande, also drops the last line, as there) */
static int read_text(const struct ppl_opts *o, char **text, size_t *len, struct tl_error *err)
{
    int rc = cli_read_file(o->text_file, text, len, err);
    if (rc == TL_OK && *len && (*text)[*len - 1] == '\n')
        (*text)[--*len] = 0;
    return rc;
}

static void print_ppl_chunk(void *ctx, int chunk, const struct ppl_stats *s)
{
    (void)ctx;
    printf("[%d]%.4f,", chunk + 1, ppl_value(s));
    fflush(stdout);
}

static int run_perplexity(struct ppl_opts *o, struct tl_error *err)
{
    char *text;
    size_t len;
    int32_t *ids = NULL;
    int n_ids = 0;
    FILE *base = NULL;
    struct engine e;
    int rc = read_text(o, &text, &len, err);
    if (rc)
        return rc;
    if ((rc = open_engine(&e, o, o->n_ctx, err)))
        goto out_text;
    if ((rc = tokenizer_encode(&e.tok, text, len, true, false, &ids, &n_ids, err)))
        goto out;
    if (o->kld_base && !(base = fopen(o->kld_base, "wb"))) {
        rc = tl_fail(err, TL_EIO, "cannot create %s: %s", o->kld_base, strerror(errno));
        goto out;
    }
    struct ppl_params p = { o->n_ctx, o->n_chunks, base, print_ppl_chunk, NULL };
    struct ppl_stats s;
    if ((rc = ppl_run(&e, ids, n_ids, &p, &s, err)))
        goto out;
    printf("\n");
    fflush(stdout);
    double unc = ppl_error(&s);
    if (unc >= 0)
        fprintf(stderr, "Final estimate: PPL = %.4f +/- %.5f\n", ppl_value(&s), unc);
    else
        fprintf(stderr, "Final estimate: PPL = %.4f (no error estimate: the log-probabilities do not vary)\n",
                ppl_value(&s));
out:
    if (base && fclose(base) && rc == TL_OK)
        rc = tl_fail(err, TL_EIO, "cannot write %s: %s", o->kld_base, strerror(errno));
    free(ids);
    engine_close(&e);
out_text:
    free(text);
    return rc;
}

static void print_kld_chunk(void *ctx, int chunk, const struct kld_stats *s)
{
    (void)ctx;
    struct kld_summary r;
    kld_summarize(s, &r);
    printf("\nchunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
           "Δp RMS            Same top p\n");
    printf("%4d    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n",
           chunk + 1, r.ppl.val, r.ppl.unc, r.log_ratio.val, r.log_ratio.unc, r.kld.val, r.kld.unc,
           100 * r.rms_p_diff.val, 100 * r.rms_p_diff.unc, 100 * r.same_top.val, 100 * r.same_top.unc);
    fflush(stdout);
}

static void print_kld_report(struct kld_stats *s)
{
    struct kld_summary r;
    kld_summarize(s, &r);
    kld_sort(s);
    const float *k = s->kld_values, *d = s->p_diff_values;
    size_t n = s->count;
    printf("====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r.ppl.val, r.ppl.unc);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r.ppl_base.val, r.ppl_base.unc);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * r.cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r.log_ratio.val, r.log_ratio.unc);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r.ratio.val, r.ratio.unc);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", r.diff.val, r.diff.unc);
    printf("====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", r.kld.val, r.kld.unc);
    static const struct { const char *name; double f; } kq[] = {
        { "Maximum KLD", 1 }, { "99.9%   KLD", 0.999 }, { "99.0%   KLD", 0.99 }, { "99.0%   KLD", 0.99 },
        { "Median  KLD", -1 }, { "10.0%   KLD", 0.1 }, { " 5.0%   KLD", 0.05 }, { " 1.0%   KLD", 0.01 },
        { "Minimum KLD", 0 },
    };
    for (size_t i = 0; i < sizeof kq / sizeof kq[0]; i++)
        printf("%s: %10.6f\n", kq[i].name, kq[i].f < 0 ? kld_median(k, n) : kld_percentile(k, n, kq[i].f));
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * r.p_diff.val, 100 * r.p_diff.unc);
    static const struct { const char *name; double f; } dq[] = {
        { "Maximum Δp", 1 }, { "99.9%   Δp", 0.999 }, { "99.0%   Δp", 0.99 }, { "95.0%   Δp", 0.95 },
        { "90.0%   Δp", 0.9 }, { "75.0%   Δp", 0.75 }, { "Median  Δp", -1 }, { "25.0%   Δp", 0.25 },
        { "10.0%   Δp", 0.1 }, { " 5.0%   Δp", 0.05 }, { " 1.0%   Δp", 0.01 }, { " 0.1%   Δp", 0.001 },
        { "Minimum Δp", 0 },
    };
    for (size_t i = 0; i < sizeof dq / sizeof dq[0]; i++)
        printf("%s: %6.3f%%\n", dq[i].name, 100 * (dq[i].f < 0 ? kld_median(d, n) : kld_percentile(d, n, dq[i].f)));
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * r.rms_p_diff.val, 100 * r.rms_p_diff.unc);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100 * r.same_top.val, 100 * r.same_top.unc);
}

static int run_kld(struct ppl_opts *o, struct tl_error *err)
{
    struct kld_file k;
    struct kld_stats s;
    struct engine e;
    int rc = kld_open(&k, o->kld_base, err);
    if (rc)
        return rc;
    if ((rc = open_engine(&e, o, k.n_ctx, err)))
        goto out_file;
    if ((rc = kld_run(&e, &k, o->n_chunks, print_kld_chunk, NULL, &s, err)))
        goto out;
    printf("\n");
    /* as llama-perplexity: no statistics on so few values */
    if (s.count >= 100)
        print_kld_report(&s);
    else
        fprintf(stderr, "perplexity: only %zu tokens scored; statistics need at least 100\n", s.count);
    kld_stats_free(&s);
out:
    engine_close(&e);
out_file:
    kld_close(&k);
    return rc;
}

static void print_hs_task(void *ctx, size_t task, size_t n_correct)
{
    (void)ctx;
    printf("%zu\t%.8f\n", task + 1, 100.0 * (double)n_correct / (double)(task + 1));
    fflush(stdout);
}

static int score_hellaswag(struct ppl_opts *o, struct engine *e, char *text, size_t len,
                           struct tl_error *err)
{
    size_t n_done, n_correct;
    printf("\ntask\tacc_norm\n");
    int rc = hellaswag_run(e, text, len, (size_t)o->hs_tasks, print_hs_task, NULL, &n_done, &n_correct, err);
    if (rc == TL_OK)
        printf("\n");
    return rc;
}

static void print_wg_task(void *ctx, size_t task, size_t n_correct, const float score[2], int result, int answer)
{
    (void)ctx;
    printf("%zu\t%.4f\t%10.6f  %10.6f  %d  %d\n", task + 1, 100.0 * (double)n_correct / (double)(task + 1),
           score[0], score[1], result, answer);
    fflush(stdout);
}

static int score_winogrande(struct ppl_opts *o, struct engine *e, char *text, size_t len,
                            struct tl_error *err)
{
    size_t n_done, n_correct;
    int rc = winogrande_run(e, text, len, (size_t)o->wg_tasks, print_wg_task, NULL, &n_done, &n_correct, err);
    if (rc)
        return rc;
    printf("\n");
    fflush(stdout);
    /* as llama-perplexity: a final score from 100 tasks on */
    if (n_done >= 100) {
        float p = (float)n_correct / (float)n_done;
        fprintf(stderr, "Final Winogrande score(%zu tasks): %.4f +/- %.4f\n", n_done, 100 * p,
                100.f * sqrtf(p * (1 - p) / (float)(n_done - 1)));
    }
    return TL_OK;
}

static int score_multiple_choice(struct ppl_opts *o, struct engine *e, char *data, size_t len,
                                 struct tl_error *err)
{
    size_t n_done, n_correct, n_answers, n_all;
    printf("\ntask\tacc_norm\n");
    int rc = multiple_choice_run(e, (const uint8_t *)data, len, (size_t)o->mc_tasks, print_hs_task, NULL, &n_done,
                                 &n_correct, &n_answers, &n_all, err);
    if (rc == TL_OK && n_done > 1) {
        float p = (float)n_correct / (float)n_done;
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "Final result: %.4f +/- %.4f\n", 100.f * p, 100.f * sqrtf(p * (1 - p) / (float)(n_done - 1)));
        p = (float)n_done / (float)n_answers;
        fprintf(stderr, "Random chance: %.4f +/- %.4f\n", 100.f * p,
                100.f * sqrtf(p * (1 - p) / (float)(n_done - 1)));
    }
    return rc;
}

/* The task scores: their file (the text of -f, or --multiple-choice's
 * binary file as it is) and the engine, opened and closed once here. */
static int run_tasks(struct ppl_opts *o,
                     int (*score)(struct ppl_opts *, struct engine *, char *, size_t, struct tl_error *),
                     struct tl_error *err)
{
    char *data;
    size_t len;
    struct engine e;
    int rc = score == score_multiple_choice ? cli_read_file(o->mc_file, &data, &len, err)
                                            : read_text(o, &data, &len, err);
    if (rc)
        return rc;
    if ((rc = open_engine(&e, o, o->n_ctx, err)) == TL_OK) {
        rc = score(o, &e, data, len, err);
        engine_close(&e);
    }
    free(data);
    return rc;
}

int cmd_perplexity(int argc, char **argv, struct tl_error *err)
{
    struct ppl_opts o = { .n_ctx = 512, .n_batch = 2048, .n_chunks = -1, .hs_tasks = 400 };
    bool help;
    int rc = parse_args(argc, argv, &o, &help, err);
    if (rc || help)
        return rc;
    if (o.hellaswag)
        return run_tasks(&o, score_hellaswag, err);
    if (o.winogrande)
        return run_tasks(&o, score_winogrande, err);
    if (o.mc_file)
        return run_tasks(&o, score_multiple_choice, err);
    return o.kld ? run_kld(&o, err) : run_perplexity(&o, err);
}
