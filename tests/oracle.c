/* oracle.c: the reference files of ../shared/oracle (see oracle.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

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
    free(r->prompt);
    free(r->greedy);
    free(r->argmax);
    free(r->logit_rows);
    free(r->logits);
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
