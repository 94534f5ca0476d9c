/* cli/cli.c: argument and input helpers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_value(int argc, char **argv, int *i, const char **val, struct tl_error *err)
{
    if (*i + 1 >= argc)
        return tl_fail(err, TL_EINVAL, "%s needs a value", argv[*i]);
    *val = argv[++*i];
    return TL_OK;
}

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

const char cli_sampling_help[] =
    "      --temp T            temperature (default 0.8; 0 = greedy)\n"
    "      --top-k N           keep the N most likely tokens (default 40; 0 = off)\n"
    "      --top-p P           nucleus sampling (default 0.95; 1 = off)\n"
    "      --min-p P           drop tokens below P x the best one's probability (default 0.05; 0 = off)\n"
    "      --repeat-penalty R  penalise recent tokens (default 1.0 = off)\n"
    "      --repeat-last-n N   tokens the penalty looks back over (default 64)\n"
    "      --seed N            random seed (default: from the clock)\n";

int cli_is_sampling_flag(const char *a)
{
    static const char *const f[] = { "--temp", "--top-k", "--top-p", "--min-p",
                                     "--repeat-penalty", "--repeat-last-n", "--seed", NULL };
    for (int i = 0; f[i]; i++)
        if (!strcmp(a, f[i]))
            return 1;
    return 0;
}

int cli_sampling(const char *a, const char *v, struct sampler_params *sp, struct tl_error *err)
{
    double f;
    long l;
    int rc = TL_OK;
    if (!strcmp(a, "--temp") && !(rc = cli_float(a, v, 0, 100, &f, err)))
        sp->temp = (float)f;
    else if (!strcmp(a, "--top-k") && !(rc = cli_int(a, v, 0, 1 << 30, &l, err)))
        sp->top_k = (int)l;
    else if (!strcmp(a, "--top-p") && !(rc = cli_float(a, v, 0, 1, &f, err)))
        sp->top_p = (float)f;
    else if (!strcmp(a, "--min-p") && !(rc = cli_float(a, v, 0, 1, &f, err)))
        sp->min_p = (float)f;
    else if (!strcmp(a, "--repeat-penalty") && !(rc = cli_float(a, v, 0.01, 100, &f, err)))
        sp->repeat_penalty = (float)f;
    else if (!strcmp(a, "--repeat-last-n") && !(rc = cli_int(a, v, 0, 1 << 20, &l, err)))
        sp->repeat_last_n = (int)l;
    else if (!strcmp(a, "--seed") && !(rc = cli_int(a, v, 0, 0x7fffffffffffffffL, &l, err)))
        sp->seed = (uint64_t)l;
    return rc;
}
