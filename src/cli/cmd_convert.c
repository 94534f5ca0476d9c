/* cli/cmd_convert.c: `tinyllm convert`: a llama2.c checkpoint and its
 * tokenizer into an F32 GGUF, as llama.cpp's convert-llama2c-to-ggml makes it.
 * A summary line goes to stderr; nothing to stdout but --help. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf_write.h"
#include "format/llama2c.h"

static const char usage_text[] =
    "usage: tinyllm convert CHECKPOINT.bin TOKENIZER.bin OUT.gguf\n"
    "Convert a model trained with Karpathy's llama2.c (the checkpoint run.c reads, i.e.\n"
    "export.py --version 0) and its tokenizer .bin into an F32 GGUF (architecture llama)\n"
    "that `tinyllm run` and llama.cpp load, as llama.cpp's convert-llama2c-to-ggml does.\n"
    "OUT.gguf is replaced when it exists.\n"
    "\n"
    "  -h, --help   this text\n";

int cmd_convert(int argc, char **argv, struct tl_error *err)
{
    const char *paths[3];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return TL_OK;
        }
        if (a[0] == '-' && a[1])
            return tl_fail(err, TL_EINVAL, "convert: unknown option '%s' (try tinyllm convert --help)", a);
        if (n == 3)
            return tl_fail(err, TL_EINVAL, "convert: unexpected argument '%s' (try tinyllm convert --help)", a);
        paths[n++] = a;
    }
    if (n < 3)
        return tl_fail(err, TL_EINVAL,
                       "convert: give CHECKPOINT.bin TOKENIZER.bin OUT.gguf (try tinyllm convert --help)");
    struct llama2c m;
    struct gguf_writer w;
    int rc = llama2c_open(&m, paths[0], paths[1], err);
    if (rc)
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
