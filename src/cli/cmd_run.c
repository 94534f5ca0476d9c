/* cli/cmd_run.c: `tinyllm run`: a prompt in, the model's continuation out.
 * stdout carries only the generated text, flushed token by token; stderr a
 * one-line summary unless --quiet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat/chat.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "cli/stream.h"

struct run_opts {
    struct engine_opts    eng;
    struct sampler_params sp;
    const char *prompt, *prompt_file, *dump_path;
    struct opt_strs stops;
    bool        chat;
    struct chat_opts chat_opts;
    int         n_predict;
    bool        quiet, verbose;
};

#define RUN_OPT(field) offsetof(struct run_opts, field)
static const struct opt run_rows[] = {
    { "-p, --prompt", "TEXT", OPT_STR, RUN_OPT(prompt), .help = "prompt text" },
    { "-f, --file", "FILE", OPT_STR, RUN_OPT(prompt_file), .help = "read the prompt from FILE" },
    { "-n, --n-predict", "N", OPT_INT, RUN_OPT(n_predict), -1, 1 << 30,
      .help = "tokens to generate: -1 until the end of text or a full\ncontext, 0 none", .def = "-1" },
    { "--stop", "STR", OPT_STRS, RUN_OPT(stops), 1, 256,
      .help = "stop when the output contains STR (repeatable)" },
    { "--chat", NULL, OPT_FLAG, RUN_OPT(chat), .help = "send the prompt as one user message through the chat template" },
    { "--system", "TEXT", OPT_STR, RUN_OPT(chat_opts.system), .help = "with --chat: a system message first" },
};

/* after the chat template's rows */
static const struct opt run_output_rows[] = {
    { "--dump-logits", "FILE", OPT_STR, RUN_OPT(dump_path),
      .help = "write float32 logits of every evaluated position to FILE" },
    { "--quiet", NULL, OPT_FLAG, RUN_OPT(quiet), .help = "no summary on stderr" },
    { "-v, --verbose", NULL, OPT_FLAG, RUN_OPT(verbose),
      .help = "model and run details (and the chosen template) on stderr" },
};

static int parse_args(int argc, char **argv, struct run_opts *o, bool *help, struct tl_error *err)
{
    const struct opt_group groups[] = {
        cli_group_model(&o->eng), OPT_GROUP(NULL, run_rows, o), cli_group_template(&o->chat_opts),
        OPT_GROUP(NULL, run_output_rows, o), cli_group_engine(&o->eng), cli_group_sampling(&o->sp),
    };
    const struct opt_cmd cmd = {
        "run", "-m MODEL [-p TEXT | -f FILE] [options]",
        "Generate text from a prompt. The prompt is -p TEXT, the contents of -f FILE, or\n"
        "stdin; -p together with piped stdin uses TEXT, a blank line, then the piped text.\n"
        "--system, --chat-template and --chat-template-file apply with --chat.\n",
        groups, sizeof groups / sizeof groups[0],
    };
    int rc = opt_parse(&cmd, argc, argv, help, err);
    if (rc || *help)
        return rc;
    if (o->prompt && o->prompt_file)
        return tl_fail(err, TL_EINVAL, "run: give -p or -f, not both");
    if (!o->chat && (o->chat_opts.system || o->chat_opts.template_name || o->chat_opts.template_file))
        return tl_fail(err, TL_EINVAL, "run: --system and --chat-template need --chat");
    return TL_OK;
}

/* The prompt: -f FILE; or -p TEXT, followed by a blank line and the piped
 * stdin when there is any; or stdin alone. */
static int read_prompt(const struct run_opts *o, char **text, struct tl_error *err)
{
    size_t len;
    char *in = NULL;
    *text = NULL;
    if (o->prompt_file)
        return cli_read_file(o->prompt_file, text, &len, err);
    int rc = cli_read_stdin_if_piped(&in, &len, err);
    if (rc)
        return rc;
    if (!o->prompt) {
        if (!in || !len) {
            free(in);
            return tl_fail(err, TL_EINVAL, "run: no prompt: give -p TEXT, -f FILE or pipe text to stdin");
        }
        *text = in;
        return TL_OK;
    }
    size_t plen = strlen(o->prompt);
    *text = malloc(plen + 2 + len + 1);
    if (!*text) {
        free(in);
        return tl_fail(err, TL_ENOMEM, "out of memory for the prompt");
    }
    memcpy(*text, o->prompt, plen + 1);
    if (in && len) {
        memcpy(*text + plen, "\n\n", 2);
        memcpy(*text + plen + 2, in, len + 1);
    }
    free(in);
    return TL_OK;
}

static int dump_rows(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    FILE *f = ctx;
    size_t n = (size_t)rows * (size_t)n_vocab;
    if (fwrite(logits, sizeof *logits, n, f) != n)
        return tl_fail(err, TL_EIO, "cannot write logits: %s", strerror(errno));
    return TL_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct gen_stats { int n_prompt, n_gen; double t_prompt, t_gen; const char *why; };

/* Sample, print and feed back tokens until EOS, -n, a stop string, a full
 * context or a closed stdout. */
static int generate(struct engine *e, struct sampler *smp, const struct run_opts *o, FILE *dump,
                    struct gen_stats *st, struct tl_error *err)
{
    struct out out = { .stops = o->stops.v, .n_stops = o->stops.n, .f = stdout };
    size_t cap = 256, len;
    char *piece = malloc(cap);
    if (!piece)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    double t0 = now_s();
    int rc = TL_OK;
    st->why = "length";
    for (int g = 0; o->n_predict < 0 || g < o->n_predict; g++) {
        int32_t tok;
        if ((rc = sampler_pick(smp, engine_last_logits(e), &tok, err)))
            break;
        sampler_accept(smp, tok);
        st->n_gen++;
        if (tokenizer_is_eog(&e->tok, tok)) {
            st->why = "end of text";
            break;
        }
        if ((rc = cli_piece(&e->tok, tok, &piece, &cap, &len, err)))
            break;
        if (out_push(&out, piece, len)) {
            st->why = "stop string";
            break;
        }
        if (out.closed) {
            st->why = "stdout closed";
            break;
        }
        if (g + 1 == o->n_predict)
            break;
        if (e->st.n_past >= e->st.n_ctx) {
            st->why = "context full";
            break;
        }
        if ((rc = engine_eval(e, &tok, 1, dump ? dump_rows : NULL, dump, err)))
            break;
    }
    out_finish(&out);
    free(piece);
    st->t_gen = now_s() - t0;
    return rc;
}

/* The prompt's tokens: the text as it is, or with --chat as one user
 * message (after --system) rendered through the chat template. */
static int prompt_tokens(struct engine *e, const struct run_opts *o, const char *text,
                         int32_t **ids, int *n, struct tl_error *err)
{
    if (!o->chat)
        return tokenizer_encode(&e->tok, text, strlen(text), true, true, ids, n, err);
    struct chat c;
    int rc = chat_init(&c, e, &o->chat_opts, err);
    if (rc)
        return rc;
    if (o->verbose)
        fprintf(stderr, "tinyllm: %s\n", c.tmpl.why);
    if (c.tmpl.warning[0])
        fprintf(stderr, "tinyllm: warning: %s\n", c.tmpl.warning);
    if ((rc = chat_add(&c, "user", text, err)) == TL_OK)
        rc = chat_tokens(&c, ids, n, err);
    chat_free(&c);
    return rc;
}

static void print_verbose(const struct engine *e)
{
    const struct hparams *hp = &e->model.hp;
    fprintf(stderr, "tinyllm: %s, %d layers, n_embd %d, %d heads (%d kv), vocab %d, context %d, "
            "%d threads, kernels %s, model %s\n", arch_name(hp->arch), hp->n_layer, hp->n_embd, hp->n_head,
            hp->n_head_kv, hp->n_vocab, e->st.n_ctx, e->n_threads, e->k.name,
            e->model.gguf.copied ? "read into memory" : "mapped");
}

int cmd_run(int argc, char **argv, struct tl_error *err)
{
    struct run_opts o = { .sp = sampler_defaults(), .n_predict = -1 };
    o.sp.seed = (uint64_t)time(NULL);
    bool help;
    int rc = parse_args(argc, argv, &o, &help, err);
    if (rc || help)
        return rc;
    char *text = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    FILE *dump = NULL;
    struct engine e;
    struct sampler smp = { 0 };
    struct gen_stats st = { 0 };
    if ((rc = read_prompt(&o, &text, err)))
        return rc;
    struct kernels k;
    if ((rc = cli_kernels(&o.eng.kernels, &k, err)) || (rc = engine_open(&e, &o.eng, err)))
        goto out_text;
    if (o.verbose)
        print_verbose(&e);
    if ((rc = prompt_tokens(&e, &o, text, &ids, &n_ids, err)))
        goto out;
    if (n_ids == 0) {
        rc = tl_fail(err, TL_EINVAL, "run: the prompt is empty");
        goto out;
    }
    if (n_ids > e.st.n_ctx) {
        rc = tl_fail(err, TL_ERANGE, "the prompt is %d tokens but the context holds %d (raise -c)",
                     n_ids, e.st.n_ctx);
        goto out;
    }
    if (o.dump_path && !(dump = fopen(o.dump_path, "wb"))) {
        rc = tl_fail(err, TL_EIO, "cannot create %s: %s", o.dump_path, strerror(errno));
        goto out;
    }
    if ((rc = sampler_init(&smp, &o.sp, e.model.hp.n_vocab, err)))
        goto out;
    for (int i = 0; i < n_ids; i++)
        sampler_accept(&smp, ids[i]);
    double t0 = now_s();
    if ((rc = engine_eval(&e, ids, n_ids, dump ? dump_rows : NULL, dump, err)))
        goto out;
    st.n_prompt = n_ids;
    st.t_prompt = now_s() - t0;
    if (o.n_predict != 0 && (rc = generate(&e, &smp, &o, dump, &st, err)))
        goto out;
    if (dump && fflush(dump)) {
        rc = tl_fail(err, TL_EIO, "cannot write %s: %s", o.dump_path, strerror(errno));
        goto out;
    }
    if (!o.quiet)
        fprintf(stderr, "%stinyllm: prompt %d tokens, %.1f t/s; generated %d tokens, %.1f t/s (stopped: %s)\n",
                isatty(STDOUT_FILENO) ? "\n" : "", st.n_prompt, st.n_prompt / (st.t_prompt > 0 ? st.t_prompt : 1e-9), st.n_gen,
                st.n_gen / (st.t_gen > 0 ? st.t_gen : 1e-9), o.n_predict == 0 ? "-n 0" : st.why);
out:
    if (dump && fclose(dump) && rc == TL_OK)
        rc = tl_fail(err, TL_EIO, "cannot write %s: %s", o.dump_path, strerror(errno));
    sampler_free(&smp);
    free(ids);
    engine_close(&e);
out_text:
    free(text);
    return rc;
}
