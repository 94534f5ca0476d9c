/* oracle.c: the reference files of ../shared/oracle (see oracle.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "oracle.h"
#include "test.h"
#include "util/mem.h"

/* Parse "KEY v v v ..." into a heap array. */
static int parse_ints(const char *line, int32_t **out, int *n)
{
    const char *p = strchr(line, ' ');
    int cap = 16;
    *n = 0;
    *out = malloc((size_t)cap * sizeof **out);
    while (p && *out) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (*n == cap) {
            cap *= 2;
            *out = realloc(*out, (size_t)cap * sizeof **out);
            if (!*out)
                return -1;
        }
        (*out)[(*n)++] = (int32_t)v;
        p = end;
    }
    return *out ? 0 : -1;
}

int oracle_load(struct oracle_ref *r, const char *dir, const char *name)
{
    char path[1024], line[1 << 16];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/%s.ref", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "n_vocab ", 8))
            r->n_vocab = atoi(line + 8);
        else if (!strncmp(line, "rows ", 5))
            r->rows = atoi(line + 5);
        else if (!strncmp(line, "prompt_tokens", 13))
            parse_ints(line, &r->prompt, &r->n_prompt);
        else if (!strncmp(line, "greedy_tokens", 13))
            parse_ints(line, &r->greedy, &r->n_greedy);
        else if (!strncmp(line, "argmax", 6))
            parse_ints(line, &r->argmax, &r->n_argmax);
        else if (!strncmp(line, "logit_rows", 10))
            parse_ints(line, &r->logit_rows, &r->n_logit_rows);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.logits", dir, name);
    f = fopen(path, "rb");
    if (!f || r->n_vocab <= 0)
        goto fail;
    size_t n = (size_t)r->n_logit_rows * (size_t)r->n_vocab;
    r->logits = malloc(n * sizeof *r->logits);
    if (!r->logits || fread(r->logits, sizeof *r->logits, n, f) != n)
        goto fail;
    fclose(f);
    return 0;
fail:
    if (f)
        fclose(f);
    oracle_free(r);
    return -1;
}

void oracle_free(struct oracle_ref *r)
{
    mem_free_all(r->prompt, r->greedy, r->argmax, r->logit_rows, r->logits);
    memset(r, 0, sizeof *r);
}

double oracle_row_err(const float *ours, const float *ref, int n)
{
    double lo = INFINITY, hi = -INFINITY, worst = 0.0;
    for (int i = 0; i < n; i++) {
        lo = ref[i] < lo ? ref[i] : lo;
        hi = ref[i] > hi ? ref[i] : hi;
        double d = fabs((double)ours[i] - ref[i]);
        worst = d > worst || isnan(d) ? d : worst;
    }
    return hi > lo ? worst / (hi - lo) : worst;
}

struct oracle_tol oracle_tolerance(const char *type_name)
{
    if (!strcmp(type_name, "f32") || !strcmp(type_name, "f16"))
        return (struct oracle_tol){ 1e-3, 5e-3, 0.99 };
    if (!strcmp(type_name, "bf16"))
        return (struct oracle_tol){ 3e-3, 1e-2, 0.98 };
    return (struct oracle_tol){ 2e-2, 6e-2, 0.93 };
}

struct collect { float *rows; int n, cap, n_vocab; };

static int collect_rows(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    struct collect *c = ctx;
    if (c->n + rows > c->cap || n_vocab != c->n_vocab)
        return tl_fail(err, TL_ERANGE, "more rows than the reference, or another vocabulary size");
    memcpy(c->rows + (size_t)c->n * n_vocab, logits, (size_t)rows * n_vocab * sizeof *logits);
    c->n += rows;
    return TL_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void oracle_check(struct engine *e, const struct oracle_ref *ref, const char *type, const char *label)
{
    struct tl_error err = { 0 };
    struct collect c = { .cap = ref->rows, .n_vocab = ref->n_vocab };
    c.rows = malloc((size_t)c.cap * (size_t)c.n_vocab * sizeof *c.rows);
    int rc = c.rows ? TL_OK : TL_ENOMEM;
    if (!rc && e->model.hp.n_vocab != ref->n_vocab)
        rc = tl_fail(&err, TL_EFORMAT, "vocabulary %d, the reference's %d", e->model.hp.n_vocab, ref->n_vocab);
    if (!rc)
        rc = engine_eval(e, ref->prompt, ref->n_prompt, collect_rows, &c, &err);
    for (int g = 0; !rc && g + 1 < ref->n_greedy && c.n < ref->rows; g++)
        rc = engine_eval(e, &ref->greedy[g], 1, collect_rows, &c, &err);
    CHECK(rc == TL_OK && c.n == ref->rows, "%s: eval: %s (%d of %d rows)", label, err.msg, c.n, ref->rows);
    if (rc) {
        free(c.rows);
        return;
    }
    double *errs = malloc(((size_t)ref->n_logit_rows + 1) * sizeof *errs);
    int n_err = 0, agree = 0, greedy = 0;
    for (int k = 0; errs && k < ref->n_logit_rows; k++)
        if (ref->logit_rows[k] < c.n)
            errs[n_err++] = oracle_row_err(c.rows + (size_t)ref->logit_rows[k] * c.n_vocab,
                                           ref->logits + (size_t)k * ref->n_vocab, ref->n_vocab);
    for (int r = 0; r < c.n && r < ref->n_argmax; r++)
        agree += argmax(c.rows + (size_t)r * c.n_vocab, c.n_vocab) == ref->argmax[r];
    while (greedy < ref->n_greedy && ref->n_prompt - 1 + greedy < c.n &&
           argmax(c.rows + (size_t)(ref->n_prompt - 1 + greedy) * c.n_vocab, c.n_vocab) == ref->greedy[greedy])
        greedy++;
    if (errs)
        qsort(errs, (size_t)n_err, sizeof *errs, cmp_double);
    double median = n_err ? errs[n_err / 2] : 1.0, worst = n_err ? errs[n_err - 1] : 1.0;
    struct oracle_tol tol = oracle_tolerance(type);
    printf("  %s: rows %d, err median %.2e max %.2e, argmax %d/%d, greedy %d/%d\n", label, c.n, median, worst,
           agree, ref->rows, greedy, ref->n_greedy);
    CHECK(median <= tol.median, "%s: median err %.3g > %.3g", label, median, tol.median);
    CHECK(worst <= tol.max, "%s: max err %.3g > %.3g", label, worst, tol.max);
    CHECK(agree >= tol.argmax * ref->rows || agree >= ref->rows - 1, "%s: argmax %d/%d", label, agree, ref->rows);
    int is_float = !strcmp(type, "f32") || !strcmp(type, "f16") || !strcmp(type, "bf16");
    CHECK(!is_float || greedy >= 8 || greedy == ref->n_greedy, "%s: greedy: first %d tokens match, need 8", label,
          greedy);
    free(errs);
    free(c.rows);
}
