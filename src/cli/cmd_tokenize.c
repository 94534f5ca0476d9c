/* cli/cmd_tokenize.c: `tinyllm tokenize`: the token ids of a text on one line,
 * counted as llama.cpp's llama-tokenize does (special tokens parsed, BOS and
 * EOS added when the vocabulary asks for BOS). Needs only the vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "text/tokenizer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tinyllm tokenize -m MODEL [-p TEXT | -f FILE] [--no-bos]\n"
            "\n"
            "Prints the token ids of TEXT (or of FILE, or of stdin when it is piped)\n"
            "on one line, separated by spaces. Special token texts such as <s> become\n"
            "those tokens. The text is taken as is (no escape processing).\n"
            "\n"
            "  -m, --model MODEL   GGUF file; only its vocabulary is read\n"
            "  -p, --prompt TEXT   the text\n"
            "  -f, --file FILE     read the text from FILE (- for stdin)\n"
            "  --no-bos            add no BOS/EOS even if the vocabulary asks for them\n"
            "  -h, --help          this text\n");
}

struct tok_args {
    const char *model, *prompt, *file;
    bool        no_bos, help;
};

static int parse_args(int argc, char **argv, struct tok_args *a, struct tl_error *err)
{
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-m") || !strcmp(s, "--model"))
            rc = cli_value(argc, argv, &i, &a->model, err);
        else if (!strcmp(s, "-p") || !strcmp(s, "--prompt"))
            rc = cli_value(argc, argv, &i, &a->prompt, err);
        else if (!strcmp(s, "-f") || !strcmp(s, "--file"))
            rc = cli_value(argc, argv, &i, &a->file, err);
        else if (!strcmp(s, "--no-bos"))
            a->no_bos = true, rc = TL_OK;
        else if (!strcmp(s, "-h") || !strcmp(s, "--help"))
            a->help = true, rc = TL_OK;
        else
            rc = tl_fail(err, TL_EINVAL, "tokenize: unknown option '%s' (try tinyllm tokenize --help)", s);
        if (rc)
            return rc;
    }
    if (a->help)
        return TL_OK;
    if (!a->model)
        return tl_fail(err, TL_EINVAL, "tokenize: -m MODEL is required (try tinyllm tokenize --help)");
    if (a->prompt && a->file)
        return tl_fail(err, TL_EINVAL, "tokenize: give -p TEXT or -f FILE, not both");
    return TL_OK;
}

/* The text to tokenize, as a heap copy in *buf. */
static int read_text(const struct tok_args *a, char **buf, size_t *len, struct tl_error *err)
{
    int rc;
    if (a->prompt) {
        *len = strlen(a->prompt);
        *buf = malloc(*len + 1);
        if (!*buf)
            return tl_fail(err, TL_ENOMEM, "out of memory");
        memcpy(*buf, a->prompt, *len + 1);
        return TL_OK;
    }
    if (a->file)
        return cli_read_file(a->file, buf, len, err);
    if ((rc = cli_read_stdin_if_piped(buf, len, err)))
        return rc;
    if (!*buf)
        return tl_fail(err, TL_EINVAL, "tokenize: no text: give -p TEXT, -f FILE, or pipe it on stdin");
    return TL_OK;
}

static int print_ids(const int32_t *ids, int n, struct tl_error *err)
{
    for (int i = 0; i < n; i++)
        if (printf(i ? " %d" : "%d", ids[i]) < 0)
            break;
    if (putchar('\n') == EOF || fflush(stdout) == EOF)
        return tl_fail(err, TL_EIO, "cannot write the token ids to stdout");
    return TL_OK;
}

int cmd_tokenize(int argc, char **argv, struct tl_error *err)
{
    struct tok_args a = { 0 };
    struct gguf g = { 0 };
    struct tokenizer tok = { 0 };
    char *text = NULL;
    size_t len = 0;
    int32_t *ids = NULL;
    int n = 0, rc;
    if ((rc = parse_args(argc, argv, &a, err)))
        return rc;
    if (a.help) {
        usage(stdout);
        return TL_OK;
    }
    if ((rc = read_text(&a, &text, &len, err)) || (rc = gguf_open(&g, a.model, err)) ||
        (rc = tokenizer_init(&tok, &g, err)))
        goto out;
    /* llama-tokenize passes add_special = (vocab adds BOS) && !--no-bos */
    if ((rc = tokenizer_encode(&tok, text, len, tok.add_bos && !a.no_bos, true, &ids, &n, err)))
        goto out;
    rc = print_ids(ids, n, err);
out:
    free(ids);
    free(text);
    tokenizer_free(&tok);
    gguf_close(&g);
    return rc;
}
