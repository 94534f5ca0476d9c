/* cli/cmd_convert.c: `tinyllm convert`: a llama2.c checkpoint and its
 * tokenizer into an F32 GGUF, as llama.cpp's convert-llama2c-to-ggml makes it.
 * A summary line goes to stderr; nothing to stdout but --help. */
#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "format/gguf_write.h"
#include "format/llama2c.h"

struct convert_args { const char *checkpoint, *tokenizer, *out; };

#define C_OPT(field) offsetof(struct convert_args, field)
static const struct opt convert_rows[] = {
    { NULL, "CHECKPOINT.bin", OPT_STR, C_OPT(checkpoint), .flags = OPT_REQUIRED },
    { NULL, "TOKENIZER.bin", OPT_STR, C_OPT(tokenizer), .flags = OPT_REQUIRED },
    { NULL, "OUT.gguf", OPT_STR, C_OPT(out), .flags = OPT_REQUIRED },
};

int cmd_convert(int argc, char **argv, struct tl_error *err)
{
    struct convert_args a = { 0 };
    const struct opt_group groups[] = { OPT_GROUP(NULL, convert_rows, &a) };
    const struct opt_cmd cmd = {
        "convert", "CHECKPOINT.bin TOKENIZER.bin OUT.gguf",
        "Convert a model trained with Karpathy's llama2.c (the checkpoint run.c reads, i.e.\n"
        "export.py --version 0) and its tokenizer .bin into an F32 GGUF (architecture llama)\n"
        "that `tinyllm run` and llama.cpp load, as llama.cpp's convert-llama2c-to-ggml does.\n"
        "OUT.gguf is replaced when it exists.\n",
        groups, 1,
    };
    bool help;
    int rc = opt_parse(&cmd, argc, argv, &help, err);
    if (rc || help)
        return rc;
    const char *paths[3] = { a.checkpoint, a.tokenizer, a.out };
    struct llama2c m;
    struct gguf_writer w;
    if ((rc = llama2c_open(&m, paths[0], paths[1], err)))
        return rc;
    gguf_writer_init(&w);
    if ((rc = llama2c_add_to_gguf(&m, &w, err)) == TL_OK)
        rc = gguf_writer_write_file(&w, paths[2], err);
    if (rc == TL_OK) {
        const struct llama2c_config *c = &m.cfg;
        fprintf(stderr, "tinyllm: wrote %s: llama, n_embd %d, n_ff %d, %d layers, %d heads (%d kv), vocab %d, "
                "context %d, %s classifier, %zu F32 tensors\n", paths[2], c->dim, c->hidden_dim, c->n_layers,
                c->n_heads, c->n_kv_heads, m.n_vocab, c->seq_len, m.shared_classifier ? "shared" : "separate",
                m.n_tensors);
    } else if (rc == TL_EINVAL) {
        rc = TL_EIO;   /* the writer's own checks: not a usage error */
    }
    gguf_writer_free(&w);
    llama2c_close(&m);
    return rc;
}
