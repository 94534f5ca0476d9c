/* cli/cmd_template.c: `tinyllm template`: render a chat template for a JSON
 * list of messages and print exactly the prompt (no newline added). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/template.h"
#include "cli/cli.h"
#include "format/gguf.h"
#include "util/json.h"
#include "util/mem.h"

struct template_args {
    const char      *model, *messages, *bos, *eos;
    struct chat_opts chat;   /* its template_name and template_file */
    bool             no_generation_prompt, verbose;
};

/* What a model file gives: its template, BOS/EOS texts, its token texts. */
struct model_info {
    struct gguf      g;
    char            *tmpl;        /* heap copy of tokenizer.chat_template, NULL when absent */
    size_t           tmpl_len;
    struct gguf_str *tokens;      /* views into g, heap array */
    uint64_t         n_tokens;
    char            *bos, *eos;   /* heap copies of the token texts, NULL when the ids are absent */
};

#define T_OPT(field) offsetof(struct template_args, field)
static const struct opt template_rows[] = {
    { "-m, --model", "MODEL", OPT_STR, T_OPT(model),
      .help = "use the GGUF's tokenizer.chat_template and its BOS/EOS texts\n"
              "(a built-in guessed from its vocabulary when it has none)" },
    { "--messages", "FILE", OPT_STR, T_OPT(messages), .flags = OPT_REQUIRED,
      .help = "JSON list of {\"role\": ..., \"content\": ...} (- for stdin)" },
    { "--bos", "S", OPT_STR, T_OPT(bos), .help = "text of bos_token (default: the model's, or \"\")" },
    { "--eos", "S", OPT_STR, T_OPT(eos), .help = "text of eos_token (default: the model's, or \"\")" },
    { "--no-generation-prompt", NULL, OPT_FLAG, T_OPT(no_generation_prompt),
      .help = "render with add_generation_prompt = false" },
    { "-v, --verbose", NULL, OPT_FLAG, T_OPT(verbose), .help = "say on stderr which template was used and why" },
};

static int parse_args(int argc, char **argv, struct template_args *a, bool *help, struct tl_error *err)
{
    char about[512];
    snprintf(about, sizeof about,
             "Render a chat template for a list of messages and print the prompt exactly\n"
             "(no newline is added). Built-in templates: %s.\n", chat_template_builtin_names());
    const struct opt_group groups[] = { OPT_GROUP(NULL, template_rows, a), cli_group_template(&a->chat) };
    const struct opt_cmd cmd = {
        "template",
        "[-m MODEL | --chat-template-file FILE | --chat-template NAME]\n"
        "                        --messages FILE.json [--bos S] [--eos S] [--no-generation-prompt] [-v]",
        about, groups, sizeof groups / sizeof groups[0],
    };
    int rc = opt_parse(&cmd, argc, argv, help, err);
    if (rc != TL_OK || *help)
        return rc;
    if (a->chat.template_file && a->chat.template_name)
        return tl_fail(err, TL_EINVAL, "template: give --chat-template-file or --chat-template, not both");
    if (!a->model && !a->chat.template_file && !a->chat.template_name)
        return tl_fail(err, TL_EINVAL, "template: give -m MODEL, --chat-template-file FILE or --chat-template NAME");
    return TL_OK;
}

static char *dup_view(struct gguf_str s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = 0;
    }
    return p;
}

/* Text of the token whose id is under key, NULL (and TL_OK) when absent. */
static int token_text(const struct model_info *m, const char *key, char **out, struct tl_error *err)
{
    uint32_t id = UINT32_MAX;
    int rc = gguf_get_u32(&m->g, key, &id, false, err);
    *out = NULL;
    if (rc != TL_OK || id == UINT32_MAX)
        return rc;
    if (id >= m->n_tokens)
        return tl_fail(err, TL_EFORMAT, "%s = %u is not a token id (vocabulary of %llu)", key, id,
                       (unsigned long long)m->n_tokens);
    if (!(*out = dup_view(m->tokens[id])))
        return tl_fail(err, TL_ENOMEM, "out of memory");
    return TL_OK;
}

static int model_load(struct model_info *m, const char *path, struct tl_error *err)
{
    struct gguf_str tmpl = { NULL, 0 };
    const struct gguf_kv *toks;
    int rc = gguf_open(&m->g, path, err);
    if (rc != TL_OK)
        return rc;
    if ((toks = gguf_find(&m->g, "tokenizer.ggml.tokens")) != NULL) {
        if ((rc = gguf_arr_strs(toks, &m->tokens, err)) != TL_OK)
            return rc;
        m->n_tokens = toks->v.arr.n;
    }
    if ((rc = gguf_get_str(&m->g, "tokenizer.chat_template", &tmpl, false, err)) != TL_OK)
        return rc;
    if (tmpl.ptr && !(m->tmpl = dup_view(tmpl)))
        return tl_fail(err, TL_ENOMEM, "out of memory");
    m->tmpl_len = tmpl.ptr ? tmpl.len : 0;
    if ((rc = token_text(m, "tokenizer.ggml.bos_token_id", &m->bos, err)) != TL_OK)
        return rc;
    return token_text(m, "tokenizer.ggml.eos_token_id", &m->eos, err);
}

static void model_free(struct model_info *m)
{
    mem_free_all(m->tmpl, m->tokens, m->bos, m->eos);
    gguf_close(&m->g);
}

static bool vocab_has(const void *ctx, const char *text)
{
    const struct model_info *m = ctx;
    for (uint64_t i = 0; i < m->n_tokens; i++)
        if (gguf_str_eq(m->tokens[i], text))
            return true;
    return false;
}

static int load_messages(const char *path, struct json_value *msgs, struct tl_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cli_read_file(path, &text, &len, err);
    if (rc == TL_OK && (rc = json_parse(text, len, msgs, err)) != TL_OK) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        tl_fail(err, rc, "%s: %.400s", path, why);
    }
    free(text);
    if (rc != TL_OK)
        return rc;
    if (msgs->type != JSON_ARRAY)
        return tl_fail(err, TL_EFORMAT, "%s: messages must be a JSON list of objects", path);
    for (size_t i = 0; i < msgs->v.arr.n; i++) {
        const struct json_value *role = json_get(&msgs->v.arr.items[i], "role");
        if (!role || role->type != JSON_STRING)
            return tl_fail(err, TL_EFORMAT, "%s: message %zu is not an object with a string \"role\"", path, i + 1);
    }
    return TL_OK;
}

static int write_all(const char *s, size_t n, struct tl_error *err)
{
    if (n && fwrite(s, 1, n, stdout) != n)
        return errno == EPIPE ? TL_OK : tl_fail(err, TL_EIO, "writing the prompt: %s", strerror(errno));
    if (fflush(stdout) != 0)
        return errno == EPIPE ? TL_OK : tl_fail(err, TL_EIO, "writing the prompt: %s", strerror(errno));
    return TL_OK;
}

static int run(const struct template_args *a, struct model_info *m, struct tl_error *err)
{
    struct json_value msgs = { .type = JSON_NULL };
    struct chat_template_choice choice;
    struct chat_vocab vocab = { vocab_has, m };
    char *file = NULL, *out = NULL;
    size_t file_len = 0, out_len = 0;
    int rc = TL_OK;
    if (a->model && (rc = model_load(m, a->model, err)) != TL_OK)
        goto out;
    if (a->chat.template_file && (rc = cli_read_file(a->chat.template_file, &file, &file_len, err)) != TL_OK)
        goto out;
    if ((rc = load_messages(a->messages, &msgs, err)) != TL_OK)
        goto out;
    rc = chat_template_choose(m->tmpl, m->tmpl_len, a->chat.template_name, file, file_len, a->model ? &vocab : NULL,
                              &choice, err);
    if (rc != TL_OK)
        goto out;
    if (choice.warning[0])
        fprintf(stderr, "tinyllm: warning: %s\n", choice.warning);
    if (a->verbose)
        fprintf(stderr, "%s\n", choice.why);
    const char *bos = a->bos ? a->bos : m->bos ? m->bos : "";
    const char *eos = a->eos ? a->eos : m->eos ? m->eos : "";
    rc = chat_template_render_json(choice.text, choice.len, &msgs, bos, eos, !a->no_generation_prompt,
                                   &out, &out_len, err);
    if (rc == TL_OK)
        rc = write_all(out, out_len, err);
out:
    free(out);
    free(file);
    json_free(&msgs);
    return rc;
}

int cmd_template(int argc, char **argv, struct tl_error *err)
{
    struct template_args a = { 0 };
    struct model_info m;
    bool help;
    int rc = parse_args(argc, argv, &a, &help, err);
    if (rc != TL_OK || help)
        return rc;
    memset(&m, 0, sizeof m);
    rc = run(&a, &m, err);
    model_free(&m);
    return rc;
}
