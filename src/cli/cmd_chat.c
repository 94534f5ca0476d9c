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
    int                   n_predict;
    bool                  verbose;
};

#define CHAT_OPT(field) offsetof(struct chat_cli, field)
static const struct opt chat_rows[] = {
    { "--system", "TEXT", OPT_STR, CHAT_OPT(chat.system), .help = "system message" },
    { "-n, --n-predict", "N", OPT_INT, CHAT_OPT(n_predict), -1, 1 << 30,
      .help = "most tokens per answer, -1 until the end of the turn", .def = "-1" },
    { "-v, --verbose", NULL, OPT_FLAG, CHAT_OPT(verbose), .help = "the chosen template and why, on stderr" },
};

enum { CHAT_MIN_CTX = 16 };   /* room for a turn's template text */

static int parse_args(int argc, char **argv, struct chat_cli *o, bool *help, struct tl_error *err)
{
    const struct opt_group groups[] = {
        cli_group_model(&o->eng), cli_group_template(&o->chat), OPT_GROUP(NULL, chat_rows, o),
        cli_group_engine(&o->eng), cli_group_sampling(&o->sp),
    };
    const struct opt_cmd cmd = {
        "chat", "-m MODEL [options]",
        "Chat with a model through its chat template. Each line of input is a user\n"
        "message; the answer streams to stdout. Ctrl-C stops an answer, Ctrl-D or /exit ends.\n",
        groups, sizeof groups / sizeof groups[0],
    };
    int rc = opt_parse(&cmd, argc, argv, help, err);
    if (rc == TL_OK && !*help && o->eng.n_ctx && o->eng.n_ctx < CHAT_MIN_CTX)
        rc = tl_fail(err, TL_EINVAL, "-c: %d is out of range [%d, %d]", o->eng.n_ctx, CHAT_MIN_CTX, 1 << 20);
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
static int answer(struct chat *c, struct sampler *smp, int n_predict, struct out *out,
                  char **ans, struct tl_error *err)
{
    size_t len = 0, cap = 1024, piece_cap = 256, n;
    char *text = malloc(cap), *piece = malloc(piece_cap);
    int rc = TL_OK;
    if (!text || !piece) {
        free(text);
        free(piece);
        return tl_fail(err, TL_ENOMEM, "out of memory");
    }
    interrupted = 0;
    for (int g = 0; n_predict < 0 || g < n_predict; g++) {
        int32_t tok;
        if ((rc = sampler_pick(smp, engine_last_logits(c->e), &tok, err)))
            break;
        sampler_accept(smp, tok);
        if (tokenizer_is_eog(&c->e->tok, tok))
            break;
        if ((rc = cli_piece(&c->e->tok, tok, &piece, &piece_cap, &n, err)))
            break;
        out_push(out, piece, n);
        if (len + n + 1 > cap) {
            char *t = realloc(text, cap = 2 * cap + n);
            if (!t) {
                rc = tl_fail(err, TL_ENOMEM, "out of memory");
                break;
            }
            text = t;
        }
        memcpy(text + len, piece, n);
        len += n;
        if (interrupted || out->closed)
            break;
        if (c->e->st.n_past >= c->e->st.n_ctx) {
            fprintf(stderr, "\ntinyllm: the context is full: answer cut\n");
            break;
        }
        if ((rc = chat_feed(c, tok, err)))
            break;
    }
    free(piece);
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
    bool help;
    int rc = parse_args(argc, argv, &o, &help, err);
    if (rc || help)
        return rc;
    struct engine e;
    struct chat c;
    struct sampler smp;
    struct kernels k;
    if ((rc = cli_kernels(&o.eng.kernels, &k, err)) || (rc = engine_open(&e, &o.eng, err)))
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
