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

#define MAX_STOPS 16

static const char usage_text[] =
    "usage: tinyllm run -m MODEL [-p TEXT | -f FILE] [options]\n"
    "Generate text from a prompt. The prompt is -p TEXT, the contents of -f FILE, or\n"
    "stdin; -p together with piped stdin uses TEXT, a blank line, then the piped text.\n"
    "\n"
    "  -m, --model FILE        GGUF model (required)\n"
    "  -p, --prompt TEXT       prompt text\n"
    "  -f, --file FILE         read the prompt from FILE\n"
    "  -n, --n-predict N       tokens to generate (default -1: until end of text or a full context; 0: none)\n"
    "  -c, --ctx-size N        context size in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N         threads (default: physical cores)\n"
    "      --mmap              map the model file (the default above 256 MiB, and above half\n"
    "                          the RAM; weights are then used as stored, not repacked)\n"
    "      --no-mmap           read it into memory, on huge pages: decode faster, start-up\n"
    "                          slower (the default up to 256 MiB, and up to half the RAM when\n"
    "                          the kernel set repacks some of the file's weights: --version)\n"
    "      --stop STR          stop when the output contains STR (repeatable)\n"
    "      --chat              send the prompt as one user message through the chat template\n"
    "      --system TEXT       with --chat: a system message first\n"
    "      --chat-template NAME      with --chat: a built-in template or template text\n"
    "      --chat-template-file FILE with --chat: the template in FILE\n"
    "      --dump-logits FILE  write float32 logits of every evaluated position to FILE\n"
    "      --quiet             no summary on stderr\n"
    "  -v, --verbose           model and run details (and the chosen template) on stderr\n"
    "  -h, --help              this text\n"
    "sampling:\n";

struct run_opts {
    struct engine_opts    eng;
    struct sampler_params sp;
    const char *prompt, *prompt_file, *dump_path;
    const char *stops[MAX_STOPS];
    int         n_stops;
    int         chat;
    struct chat_opts chat_opts;
    long        n_predict;
    int         quiet, verbose, help;
};

static int parse_args(int argc, char **argv, struct run_opts *o, struct tl_error *err)
{
    long l;
    int rc = TL_OK;
    for (int i = 1; i < argc && rc == TL_OK; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            o->help = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "--chat")) {
            o->chat = 1;
        } else if (!strcmp(a, "--mmap") || !strcmp(a, "--no-mmap")) {
            o->eng.load = !strcmp(a, "--mmap") ? GGUF_LOAD_MMAP : GGUF_LOAD_COPY;
        } else if (a[0] != '-') {
            rc = tl_fail(err, TL_EINVAL, "run: unexpected argument '%s' (try tinyllm run --help)", a);
        } else if ((rc = cli_value(argc, argv, &i, &v, err))) {
            break;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            o->eng.model_path = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            o->prompt = v;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            o->prompt_file = v;
        } else if (!strcmp(a, "--system")) {
            o->chat_opts.system = v;
        } else if (!strcmp(a, "--chat-template")) {
            o->chat_opts.template_name = v;
        } else if (!strcmp(a, "--chat-template-file")) {
            o->chat_opts.template_file = v;
        } else if (!strcmp(a, "--dump-logits")) {
            o->dump_path = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            rc = cli_int(a, v, -1, 1L << 30, &o->n_predict, err);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(rc = cli_int(a, v, 1, 1 << 20, &l, err)))
                o->eng.n_ctx = (int)l;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(rc = cli_int(a, v, 1, 1024, &l, err)))
                o->eng.n_threads = (int)l;
        } else if (!strcmp(a, "--stop")) {
            if (o->n_stops == MAX_STOPS)
                rc = tl_fail(err, TL_EINVAL, "--stop: at most %d stop strings", MAX_STOPS);
            else if (!*v || strlen(v) > 256)
                rc = tl_fail(err, TL_EINVAL, "--stop: the string must have 1 to 256 bytes");
            else
                o->stops[o->n_stops++] = v;
        } else if (cli_is_sampling_flag(a)) {
            rc = cli_sampling(a, v, &o->sp, err);
        } else {
            rc = tl_fail(err, TL_EINVAL, "run: unknown option '%s' (try tinyllm run --help)", a);
        }
    }
    if (rc == TL_OK && !o->help && !o->eng.model_path)
        rc = tl_fail(err, TL_EINVAL, "run: -m MODEL is required (try tinyllm run --help)");
    if (rc == TL_OK && o->prompt && o->prompt_file)
        rc = tl_fail(err, TL_EINVAL, "run: give -p or -f, not both");
    if (rc == TL_OK && !o->chat && (o->chat_opts.system || o->chat_opts.template_name || o->chat_opts.template_file))
        rc = tl_fail(err, TL_EINVAL, "run: --system and --chat-template need --chat");
    return rc;
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
    struct out out = { .stops = o->stops, .n_stops = o->n_stops, .f = stdout };
    char piece[1024];
    double t0 = now_s();
    int rc = TL_OK;
    st->why = "length";
    for (long g = 0; o->n_predict < 0 || g < o->n_predict; g++) {
        int32_t tok;
        if ((rc = sampler_pick(smp, engine_last_logits(e), &tok, err)))
            break;
        sampler_accept(smp, tok);
        st->n_gen++;
        if (tokenizer_is_eog(&e->tok, tok)) {
            st->why = "end of text";
            break;
        }
        int len = tokenizer_piece(&e->tok, tok, false, piece, sizeof piece);
        if (out_push(&out, piece, (size_t)(len < (int)sizeof piece ? len : (int)sizeof piece))) {
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
    int rc = parse_args(argc, argv, &o, err);
    if (rc || o.help) {
        if (o.help)
            printf("%s%s", usage_text, cli_sampling_help);
        return rc;
    }
    char *text = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    FILE *dump = NULL;
    struct engine e;
    struct sampler smp = { 0 };
    struct gen_stats st = { 0 };
    if ((rc = read_prompt(&o, &text, err)))
        return rc;
    if ((rc = engine_open(&e, &o.eng, err)))
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
