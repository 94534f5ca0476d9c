/* cli/cmd_quantize.c: `tinyllm quantize IN OUT TYPE`: arguments, the progress bar
 * and the summary; the type choice and the conversion live in format/quantize.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernels/cpu.h"
#include "format/quant.h"
#include "format/quantize.h"

struct quantize_args {
    const char *in, *out, *type;
    struct quantize_params p;
};

#define Q_OPT(field) offsetof(struct quantize_args, field)
static const struct opt quantize_rows[] = {
    { NULL, "IN.gguf", OPT_STR, Q_OPT(in), .flags = OPT_REQUIRED },
    { NULL, "OUT.gguf", OPT_STR, Q_OPT(out), .flags = OPT_REQUIRED },
    { NULL, "TYPE", OPT_STR, Q_OPT(type), .flags = OPT_REQUIRED },
    { "--pure", NULL, OPT_FLAG, Q_OPT(p.pure), .help = "TYPE for every matrix: no mix, no more bits for the output" },
    { "--allow-requantize", NULL, OPT_FLAG, Q_OPT(p.allow_requantize),
      .help = "convert tensors that are already quantized (quality drops)" },
    { "-t, --threads", "N", OPT_INT, Q_OPT(p.n_threads), 1, 1024, .help = "threads", .def = "physical cores" },
};

static int parse_args(int argc, char **argv, struct quantize_args *a, bool *help, struct tl_error *err)
{
    char about[1024];
    snprintf(about, sizeof about,
             "Convert a model's weight matrices to TYPE, choosing each tensor's type as llama.cpp's\n"
             "llama-quantize does (the _s/_m/_l mixes give some tensors more bits).\n"
             "TYPE, in any case (Q4_K_M works too):\n"
             "  %s\n", quantize_ftype_list());
    const struct opt_group groups[] = { OPT_GROUP(NULL, quantize_rows, a) };
    const struct opt_cmd cmd = {
        "quantize", "IN.gguf OUT.gguf TYPE [--pure] [--allow-requantize] [-t N]", about, groups, 1,
    };
    int rc = opt_parse(&cmd, argc, argv, help, err);
    if (rc || *help)
        return rc;
    a->p.ftype = quantize_ftype_find(a->type);
    if (!a->p.ftype)
        return tl_fail(err, TL_EINVAL, "quantize: unknown type '%s'; valid types: %s", a->type,
                       quantize_ftype_list());
    struct stat si, so;
    if (!strcmp(a->in, a->out) ||
        (!stat(a->in, &si) && !stat(a->out, &so) && si.st_dev == so.st_dev && si.st_ino == so.st_ino))
        return tl_fail(err, TL_EINVAL, "quantize: OUT must differ from IN ('%s')", a->in);
    return TL_OK;
}

/* Progress bar on a terminal: "[=====>    ]  12/147  blk.1.ffn_up.weight". */
static void show_progress(void *ctx, size_t done, size_t total, const char *name)
{
    (void)ctx;
    enum { WIDTH = 30 };
    int fill = total ? (int)(done * WIDTH / total) : WIDTH;
    char bar[WIDTH + 1];
    for (int k = 0; k < WIDTH; k++)
        bar[k] = k < fill ? '=' : k == fill ? '>' : ' ';
    bar[WIDTH] = 0;
    fprintf(stderr, "\r\033[K[%s] %zu/%zu %.40s", bar, done, total, name);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

int cmd_quantize(int argc, char **argv, struct tl_error *err)
{
    struct quantize_args a = { .p.n_threads = 0 };
    bool help;
    int rc = parse_args(argc, argv, &a, &help, err);
    if (rc || help)
        return rc;
    if (a.p.n_threads <= 0)
        a.p.n_threads = cpu_physical_cores();
    if (isatty(STDERR_FILENO))
        a.p.progress = show_progress;
    struct quantize_job j;
    if ((rc = quantize_open(&j, a.in, &a.p, err)))
        return rc;
    if (j.st.n_requantized)
        fprintf(stderr, "tinyllm: warning: re-quantizing %zu tensors that are already quantized: "
                        "expect lower quality than quantizing the original F32/F16 weights\n",
                j.st.n_requantized);
    rc = quantize_write(&j, a.out, err);
    if (!rc) {
        fprintf(stderr, "quantize: %s (%.2f MiB) -> %s (%.2f MiB, %s), %zu tensors, %zu converted",
                a.in, j.st.size_in / 1048576.0, a.out, j.st.size_out / 1048576.0, a.p.ftype->name,
                j.st.n_tensors, j.st.n_converted);
        if (j.st.n_fallback)
            fprintf(stderr, ", %zu with fallback types (rows not a multiple of 256)", j.st.n_fallback);
        fputc('\n', stderr);
    }
    quantize_close(&j);
    return rc;
}
