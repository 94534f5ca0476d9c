/* tool_mkmodel.c: writes a random llama-layout model of a known shape for
 * benchmarks and tests: tool_mkmodel OUT.gguf [--type T] [--shape S] [--seed N].
 * Tensors are generated and quantised one at a time while the file is written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model_builder.h"
#include "format/quant.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tool_mkmodel OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|...] "
               "[--shape tinyllama|mobilellm|tiny] [--seed N]\n");
}

/* The named shape into c (which holds the defaults): 0, or -1 if unknown. */
static int set_shape(struct model_builder_config *c, const char *shape)
{
    if (!strcmp(shape, "tiny"))
        return 0;
    if (!strcmp(shape, "tinyllama")) {
        c->name = "tinyllama-shape-random";
        c->n_embd = 2048, c->n_layer = 22, c->n_head = 32, c->n_head_kv = 4, c->n_ff = 5632;
        c->n_vocab = 32000, c->n_ctx = 2048, c->tied = false;
        return 0;
    }
    if (!strcmp(shape, "mobilellm")) {
        c->name = "mobilellm-shape-random";
        c->n_embd = 576, c->n_layer = 30, c->n_head = 9, c->n_head_kv = 3, c->n_ff = 1536;
        c->n_vocab = 32000, c->n_ctx = 2048, c->tied = true;
        return 0;
    }
    return -1;
}

/* A supported type by its llama.cpp name ("q4_0", "Q4_0", "f16"), or -1. */
static int parse_type(const char *name)
{
    for (uint32_t t = 0; t < TL_TYPE_COUNT; t++) {
        const struct type_info *ti = type_info(t);
        if (ti && ti->supported && !strcasecmp(ti->name, name))
            return (int)t;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct model_builder_config c;
    struct tl_error err = {0};
    const char *out = NULL;
    model_builder_defaults(&c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((!strcmp(a, "--type") || !strcmp(a, "--shape") || !strcmp(a, "--seed")) && !v) {
            fprintf(stderr, "tool_mkmodel: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--type")) {
            int t = parse_type(v);
            if (t < 0) {
                fprintf(stderr, "tool_mkmodel: unknown or unsupported type '%s'\n", v);
                return 2;
            }
            c.wtype = (uint32_t)t;
            i++;
        } else if (!strcmp(a, "--shape")) {
            if (set_shape(&c, v)) {
                fprintf(stderr, "tool_mkmodel: unknown shape '%s' (tinyllama, mobilellm, tiny)\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            c.seed = strtoull(v, &end, 0);
            if (!*v || *end) {
                fprintf(stderr, "tool_mkmodel: --seed needs a number, not '%s'\n", v);
                return 2;
            }
            i++;
        } else if (a[0] == '-' || out) {
            usage(stderr);
            return 2;
        } else {
            out = a;
        }
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
    if (model_builder_write_file(&c, out, &err)) {
        fprintf(stderr, "tool_mkmodel: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "tool_mkmodel: wrote %s (%s, n_embd %d, %d layers, vocab %d)\n", out,
            type_info(c.wtype)->name, c.n_embd, c.n_layer, c.n_vocab);
    return 0;
}
