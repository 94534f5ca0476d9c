/* cli/cmd_chat.c: `tinyllm chat`: a multi-turn conversation in the terminal or
 * over pipes (one user message per input line, one answer per output
 * line). Ctrl-C stops the current answer; Ctrl-D or /exit ends. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat/chat.h"
#include "cli/cli.h"
#include "engine/sampler.h"
#include "cli/stream.h"

static const char usage_text[] =
    "usage: tinyllm chat -m MODEL [options]\n"
    "Chat with a model through its chat template. Each line of input is a user\n"
    "message; the answer streams to stdout. Ctrl-C stops an answer, Ctrl-D or /exit ends.\n"
    "\n"
    "  -m, --model FILE          GGUF model (required)\n"
    "      --system TEXT         system message\n"
    "      --chat-template NAME  a built-in template (chatml, zephyr, llama2, llama3, phi3, gemma) or template text\n"
    "      --chat-template-file FILE  the template in FILE\n"
    "  -n, --n-predict N         most tokens per answer (default -1: until the end of the turn)\n"
    "  -c, --ctx-size N          context size (default: the model's, at most 4096)\n"
    "  -t, --threads N           threads (default: physical cores)\n"
    "      --mmap                map the model file (the default above 256 MiB, and above half\n"
    "                            the RAM; weights are then used as stored, not repacked)\n"
    "      --no-mmap             read it into memory, on huge pages: decode faster, start-up\n"
    "                            slower (the default up to 256 MiB, and up to half the RAM when\n"
    "                            the kernel set repacks some of the file's weights: --version)\n"
    "  -v, --verbose             the chosen template and why, on stderr\n"
    "  -h, --help                this text\n"
    "sampling:\n";

/* Set by SIGINT: the CLI's one piece of global state, read between tokens. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct chat_cli {
    struct engine_opts    eng;
    struct sampler_params sp;
    struct chat_opts      chat;
    long                  n_predict;
    int                   verbose, help;
};

static int parse_args(int argc, char **argv, struct chat_cli *o, struct tl_error *err)
{
    long l;
    int rc = TL_OK;
    for (int i = 1; i < argc && rc == TL_OK; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            o->help = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "--mmap") || !strcmp(a, "--no-mmap")) {
            o->eng.load = !strcmp(a, "--mmap") ? GGUF_LOAD_MMAP : GGUF_LOAD_COPY;
        } else if (a[0] != '-' || (rc = cli_value(argc, argv, &i, &v, err))) {
            if (!rc)
                rc = tl_fail(err, TL_EINVAL, "chat: unexpected argument '%s' (try tinyllm chat --help)", a);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            o->eng.model_path = v;
        } else if (!strcmp(a, "--system")) {
            o->chat.system = v;
        } else if (!strcmp(a, "--chat-template")) {
            o->chat.template_name = v;
        } else if (!strcmp(a, "--chat-template-file")) {
            o->chat.template_file = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            rc = cli_int(a, v, -1, 1L << 30, &o->n_predict, err);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(rc = cli_int(a, v, 16, 1 << 20, &l, err)))
                o->eng.n_ctx = (int)l;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(rc = cli_int(a, v, 1, 1024, &l, err)))
                o->eng.n_threads = (int)l;
        } else if (cli_is_sampling_flag(a)) {
            rc = cli_sampling(a, v, &o->sp, err);
        } else {
            rc = tl_fail(err, TL_EINVAL, "chat: unknown option '%s' (try tinyllm chat --help)", a);
        }
    }
    if (rc == TL_OK && !o->help && !o->eng.model_path)
        rc = tl_fail(err, TL_EINVAL, "chat: -m MODEL is required (try tinyllm chat --help)");
    return rc;
}

/* Read one line into *line (heap, grown). Returns 1 for a line, 0 at the
 * end of input, -1 when Ctrl-C interrupted the read. */
static int read_line(char **line, size_t *cap)
{
    errno = 0;
    ssize_t n = getline(line, cap, stdin);
    if (n < 0) {
        if (errno == EINTR) {
            clearerr(stdin);
            return -1;
        }
        return 0;
    }
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        (*line)[--n] = 0;
    return 1;
}

/* Generate one answer, streaming it to stdout; *ans gets its text (heap).
 * Stops at an end-of-turn token (not printed), -n, Ctrl-C, a closed stdout
 * or a full context. */
static int answer(struct chat *c, struct sampler *smp, long n_predict, struct out *out,
                  char **ans, struct tl_error *err)
{
    size_t len = 0, cap = 1024;
    char *text = malloc(cap), piece[1024];
    int rc = TL_OK;
    if (!text)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    interrupted = 0;
    for (long g = 0; n_predict < 0 || g < n_predict; g++) {
        int32_t tok;
        if ((rc = sampler_pick(smp, engine_last_logits(c->e), &tok, err)))
            break;
        sampler_accept(smp, tok);
        if (tokenizer_is_eog(&c->e->tok, tok))
            break;
        int n = tokenizer_piece(&c->e->tok, tok, false, piece, sizeof piece);
        n = n < (int)sizeof piece ? n : (int)sizeof piece;
        out_push(out, piece, (size_t)n);
        if (len + (size_t)n + 1 > cap) {
            char *t = realloc(text, cap = 2 * cap + (size_t)n);
            if (!t) {
                rc = tl_fail(err, TL_ENOMEM, "out of memory");
                break;
            }
            text = t;
        }
        memcpy(text + len, piece, (size_t)n);
        len += (size_t)n;
        if (interrupted || out->closed)
            break;
        if (c->e->st.n_past >= c->e->st.n_ctx) {
            fprintf(stderr, "\ntinyllm: the context is full: answer cut\n");
            break;
        }
        if ((rc = chat_feed(c, tok, err)))
            break;
    }
    out_finish(out);
    out_write(out, "\n", 1);
    /* the history keeps what was shown: broken UTF-8 as U+FFFD */
    struct utf8_stream u = { 0 };
    char *clean = malloc(3 * len + 16);
    if (clean) {
        size_t m = utf8_feed(&u, text, len, clean, 3 * len + 16);
        m += utf8_flush(&u, clean + m, 3 * len + 16 - m);
        clean[m] = 0;
    } else if (rc == TL_OK) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory");
    }
    free(text);
    *ans = clean;
    return rc;
}

/* One user turn: add it, fit the context, answer. */
static int turn(struct chat *c, struct sampler *smp, const struct chat_cli *o, const char *line,
                struct out *out, struct tl_error *err)
{
    int dropped = 0, n_ctx = c->e->st.n_ctx;
    int reserve = o->n_predict > 0 && o->n_predict < n_ctx / 2 ? (int)o->n_predict : n_ctx / 4;
    int rc = chat_add(c, "user", line, err);
    if (rc == TL_OK)
        rc = chat_prepare(c, reserve, &dropped, err);
    if (rc == TL_ERANGE) {     /* this message alone is too long: say so, forget it, go on */
        fprintf(stderr, "tinyllm: %s\n", err->msg);
        c->n_msgs--;
        free((char *)c->msgs[c->n_msgs].role);
        free((char *)c->msgs[c->n_msgs].content);
        return TL_OK;
    }
    if (rc)
        return rc;
    if (dropped)
        fprintf(stderr, "tinyllm: the context is full: dropped the %d oldest message%s\n", dropped,
                dropped > 1 ? "s" : "");
    char *ans = NULL;
    rc = answer(c, smp, o->n_predict, out, &ans, err);
    if (rc == TL_OK)
        rc = chat_add(c, "assistant", ans, err);
    free(ans);
    return rc;
}

static int converse(struct chat *c, struct sampler *smp, const struct chat_cli *o, struct tl_error *err)
{
    struct out out = { .f = stdout };
    int tty = isatty(STDIN_FILENO), rc = TL_OK;
    char *line = NULL;
    size_t cap = 0;
    while (rc == TL_OK && !out.closed) {
        if (tty)
            fputs("> ", stderr);
        int r = read_line(&line, &cap);
        if (r == 0)
            break;
        if (r < 0) {               /* Ctrl-C at the prompt: a fresh prompt */
            fputc('\n', stderr);
            continue;
        }
        if (!line[0])
            continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit"))
            break;
        rc = turn(c, smp, o, line, &out, err);
    }
    if (tty && rc == TL_OK)
        fputc('\n', stderr);
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv, struct tl_error *err)
{
    struct chat_cli o = { .sp = sampler_defaults(), .n_predict = -1 };
    o.sp.seed = (uint64_t)time(NULL);
    int rc = parse_args(argc, argv, &o, err);
    if (rc || o.help) {
        if (o.help)
            printf("%s%s", usage_text, cli_sampling_help);
        return rc;
    }
    struct engine e;
    struct chat c;
    struct sampler smp;
    if ((rc = engine_open(&e, &o.eng, err)))
        return rc;
    if ((rc = chat_init(&c, &e, &o.chat, err)))
        goto out_engine;
    if (o.verbose)
        fprintf(stderr, "tinyllm: %s\n", c.tmpl.why);
    if (c.tmpl.warning[0])
        fprintf(stderr, "tinyllm: warning: %s\n", c.tmpl.warning);
    if ((rc = sampler_init(&smp, &o.sp, e.model.hp.n_vocab, err)))
        goto out_chat;
    struct sigaction sa = { .sa_handler = on_sigint }, old;
    sigemptyset(&sa.sa_mask);   /* no SA_RESTART: Ctrl-C interrupts a read at the prompt */
    sigaction(SIGINT, &sa, &old);
    rc = converse(&c, &smp, &o, err);
    sigaction(SIGINT, &old, NULL);
    sampler_free(&smp);
out_chat:
    chat_free(&c);
out_engine:
    engine_close(&e);
    return rc;
}
