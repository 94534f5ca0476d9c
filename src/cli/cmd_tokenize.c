/* cli/cmd_tokenize.c: `tinyllm tokenize`: the token ids of a text on one line,
 * counted as llama.cpp's llama-tokenize does (special tokens parsed, BOS and
 * EOS added when the vocabulary asks for BOS). Needs only the vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "text/tokenizer.h"

struct tok_args {
    const char *model, *prompt, *file;
    bool        no_bos;
};

#define TOK_OPT(field) offsetof(struct tok_args, field)
static const struct opt tokenize_rows[] = {
    { "-m, --model", "MODEL", OPT_STR, TOK_OPT(model), .help = "GGUF file; only its vocabulary is read",
      .flags = OPT_REQUIRED },
    { "-p, --prompt", "TEXT", OPT_STR, TOK_OPT(prompt), .help = "the text" },
    { "-f, --file", "FILE", OPT_STR, TOK_OPT(file), .help = "read the text from FILE (- for stdin)" },
    { "--no-bos", NULL, OPT_FLAG, TOK_OPT(no_bos), .help = "add no BOS/EOS even if the vocabulary asks for them" },
};

static int parse_args(int argc, char **argv, struct tok_args *a, bool *help, struct tl_error *err)
{
    const struct opt_group groups[] = { OPT_GROUP(NULL, tokenize_rows, a) };
    const struct opt_cmd cmd = {
        "tokenize", "-m MODEL [-p TEXT | -f FILE] [--no-bos]",
        "\n"
        "Prints the token ids of TEXT (or of FILE, or of stdin when it is piped)\n"
        "on one line, separated by spaces. Special token texts such as <s> become\n"
        "those tokens. The text is taken as is (no escape processing).\n",
        groups, 1,
    };
    int rc = opt_parse(&cmd, argc, argv, help, err);
    if (rc == TL_OK && !*help && a->prompt && a->file)
        rc = tl_fail(err, TL_EINVAL, "tokenize: give -p TEXT or -f FILE, not both");
    return rc;
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
    bool help;
    if ((rc = parse_args(argc, argv, &a, &help, err)) || help)
        return rc;
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
