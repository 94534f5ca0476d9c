/* cli/main.c: argv -> subcommand. The only place that prints errors and exits:
 * "tinyllm: MESSAGE" on stderr, exit 2 for usage errors, 1 for the rest. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv, struct tl_error *err);
    const char *summary;
};

static const struct command commands[] = {
    /* one line per subcommand, kept in this order */
    { "run", cmd_run, "generate text from a prompt" },
    { "tokenize", cmd_tokenize, "print the token ids of a text" },
    { "chat", cmd_chat, "chat with a model through its chat template" },
    { "serve", cmd_serve, "serve the model over HTTP (OpenAI, Ollama and llama.cpp APIs)" },
    { "bench", cmd_bench, "measure prompt and generation speed (llama-bench compatible)" },
    { "info", cmd_info, "show a model's architecture, hyper-parameters and tensors" },
    { "template", cmd_template, "render a chat template for a list of messages" },
    { "quantize", cmd_quantize, "convert a model to another tensor type" },
    { "perplexity", cmd_perplexity, "perplexity and KL divergence on a text (llama-perplexity compatible)" },
    { "convert", cmd_convert, "turn a llama2.c checkpoint and its tokenizer into a GGUF" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tinyllm COMMAND [options]   (tinyllm COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  --help     this text\n  --version  version and the kernel set this CPU uses\n");
}

static int version(void)
{
    struct kernels k;
    struct tl_error err = {0};
    const char *name;
    if (cli_kernels(&name, &k, &err) != TL_OK) {
        fprintf(stderr, "tinyllm: %s\n", err.msg);
        return 2;
    }
    char desc[160];
    kernels_describe(&k, desc, sizeof desc);
    printf("tinyllm %s (kernels: %s)\n", TINYLLM_VERSION, desc);
    return 0;
}

int main(int argc, char **argv)
{
    /* A closed pipe ends us quietly: writes then fail with EPIPE, which the
     * commands treat as "stop". */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return version();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name))
            continue;
        struct tl_error err = {0};
        int rc = commands[i].fn(argc - 1, argv + 1, &err);
        if (rc == TL_OK)
            return 0;
        fflush(stdout);
        fprintf(stderr, "tinyllm: %s\n", err.msg[0] ? err.msg : "failed");
        return rc == TL_EINVAL ? 2 : 1;
    }
    fprintf(stderr, "tinyllm: unknown command '%s' (try tinyllm --help)\n", argv[1]);
    return 2;
}
