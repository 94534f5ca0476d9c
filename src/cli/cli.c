/* cli/cli.c: argument and input helpers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_int(const char *flag, const char *s, long lo, long hi, long *out, struct tl_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return tl_fail(err, TL_EINVAL, "%s: '%s' is not an integer", flag, s);
    if (v < lo || v > hi)
        return tl_fail(err, TL_EINVAL, "%s: %ld is out of range [%ld, %ld]", flag, v, lo, hi);
    *out = v;
    return TL_OK;
}

int cli_float(const char *flag, const char *s, double lo, double hi, double *out, struct tl_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return tl_fail(err, TL_EINVAL, "%s: '%s' is not a number", flag, s);
    if (v < lo || v > hi)
        return tl_fail(err, TL_EINVAL, "%s: %g is out of range [%g, %g]", flag, v, lo, hi);
    *out = v;
    return TL_OK;
}

int cli_kernels(const char **name, struct kernels *k, struct tl_error *err)
{
    const char *env = getenv("TINYLLM_KERNELS");
    *name = env && *env ? env : NULL;
    struct tl_error why = { 0 };
    if (kernels_select_named(k, *name, &why))
        return tl_fail(err, TL_EINVAL, "TINYLLM_KERNELS=%s: %s", *name, why.msg);
    return TL_OK;
}

int cli_piece(const struct tokenizer *t, int32_t id, char **buf, size_t *cap, size_t *len,
              struct tl_error *err)
{
    int n = tokenizer_piece(t, id, false, *buf, *cap);
    if (n < 0)
        n = 0;
    if ((size_t)n > *cap) {
        char *b = realloc(*buf, (size_t)n);
        if (!b)
            return tl_fail(err, TL_ENOMEM, "out of memory for a %d-byte token", n);
        *buf = b;
        *cap = (size_t)n;
        n = tokenizer_piece(t, id, false, *buf, *cap);
    }
    *len = (size_t)n;
    return TL_OK;
}

static int read_stream(FILE *f, const char *what, char **buf, size_t *len, struct tl_error *err)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b)
        return tl_fail(err, TL_ENOMEM, "out of memory reading %s", what);
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return tl_fail(err, TL_ENOMEM, "out of memory reading %s", what);
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(b);
                return tl_fail(err, TL_EIO, "cannot read %s: %s", what, strerror(errno));
            }
            break;
        }
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return TL_OK;
}

int cli_read_file(const char *path, char **buf, size_t *len, struct tl_error *err)
{
    if (strcmp(path, "-") == 0)
        return read_stream(stdin, "stdin", buf, len, err);
    FILE *f = fopen(path, "rb");
    if (!f)
        return tl_fail(err, TL_EIO, "cannot open %s: %s", path, strerror(errno));
    int rc = read_stream(f, path, buf, len, err);
    fclose(f);
    return rc;
}

int cli_read_stdin_if_piped(char **buf, size_t *len, struct tl_error *err)
{
    *buf = NULL;
    *len = 0;
    if (isatty(STDIN_FILENO))
        return TL_OK;
    return read_stream(stdin, "stdin", buf, len, err);
}

/* --mmap / --no-mmap store an enum gguf_load through an int */
_Static_assert(sizeof(enum gguf_load) == sizeof(int), "OPT_CONST writes an int");

static const struct opt model_rows[] = {
    { "-m, --model", "MODEL", OPT_STR, offsetof(struct engine_opts, model_path), .help = "GGUF model (required)",
      .flags = OPT_REQUIRED },
    { "--mmap", NULL, OPT_CONST, offsetof(struct engine_opts, load), .ival = GGUF_LOAD_MMAP,
      .help = "map the model file (the default above 256 MiB, and above half\n"
              "the RAM; weights are then used as stored, not repacked)" },
    { "--no-mmap", NULL, OPT_CONST, offsetof(struct engine_opts, load), .ival = GGUF_LOAD_COPY,
      .help = "read it into memory, on huge pages: decode faster, start-up\n"
              "slower (the default up to 256 MiB, and up to half the RAM when\n"
              "the kernel set repacks some of the file's weights: --version)" },
};

static const struct opt engine_rows[] = {
    { "-c, --ctx-size", "N", OPT_INT, offsetof(struct engine_opts, n_ctx), 1, 1 << 20,
      .help = "context size in tokens", .def = "the model's, at most 4096" },
    { "-t, --threads", "N", OPT_INT, offsetof(struct engine_opts, n_threads), 1, 1024, .help = "threads",
      .def = "physical cores" },
};

/* the defaults shown are sampler_defaults()'s (test_cli checks they agree) */
static const struct opt sampling_rows[] = {
    { "--temp", "T", OPT_FLOAT, offsetof(struct sampler_params, temp), 0, 100, .help = "temperature, 0 = greedy",
      .def = "0.8" },
    { "--top-k", "N", OPT_INT, offsetof(struct sampler_params, top_k), 0, 1 << 30,
      .help = "keep the N most likely tokens, 0 = off", .def = "40" },
    { "--top-p", "P", OPT_FLOAT, offsetof(struct sampler_params, top_p), 0, 1, .help = "nucleus sampling, 1 = off",
      .def = "0.95" },
    { "--min-p", "P", OPT_FLOAT, offsetof(struct sampler_params, min_p), 0, 1,
      .help = "drop tokens below P x the best one's probability,\n0 = off", .def = "0.05" },
    { "--repeat-penalty", "R", OPT_FLOAT, offsetof(struct sampler_params, repeat_penalty), 0.01, 100,
      .help = "penalise recent tokens, 1 = off", .def = "1.0" },
    { "--repeat-last-n", "N", OPT_INT, offsetof(struct sampler_params, repeat_last_n), 0, 1 << 20,
      .help = "tokens the penalties look back over", .def = "64" },
    { "--presence-penalty", "P", OPT_FLOAT, offsetof(struct sampler_params, presence_penalty), -2, 2,
      .help = "subtract P from tokens seen in the window, 0 = off", .def = "0.0" },
    { "--frequency-penalty", "F", OPT_FLOAT, offsetof(struct sampler_params, frequency_penalty), -2, 2,
      .help = "subtract F per time a token was seen in the window,\n0 = off", .def = "0.0" },
    { "--seed", "N", OPT_U64, offsetof(struct sampler_params, seed), 0, 9223372036854775807.0,
      .help = "random seed", .def = "from the clock" },
};

static const struct opt template_rows[] = {
    { "--chat-template", "NAME", OPT_STR, offsetof(struct chat_opts, template_name),
      .help = "a built-in template (tinyllm template --help lists them)\nor the template text itself" },
    { "--chat-template-file", "FILE", OPT_STR, offsetof(struct chat_opts, template_file),
      .help = "the Jinja template in FILE" },
};

struct opt_group cli_group_model(struct engine_opts *eo)
{
    return (struct opt_group)OPT_GROUP(NULL, model_rows, eo);
}

struct opt_group cli_group_engine(struct engine_opts *eo)
{
    return (struct opt_group)OPT_GROUP(NULL, engine_rows, eo);
}

struct opt_group cli_group_sampling(struct sampler_params *sp)
{
    return (struct opt_group)OPT_GROUP("sampling:", sampling_rows, sp);
}

struct opt_group cli_group_template(struct chat_opts *co)
{
    return (struct opt_group)OPT_GROUP(NULL, template_rows, co);
}
