/* test_oracle.c: every reference in ../shared/oracle/ref against our forward
 * pass, with every kernel set this CPU runs. Prompt rows and the greedy
 * continuation are teacher-forced, so every kept row is compared; criteria
 * from ../shared/oracle/README.md. Skips, saying so, without ../shared. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "oracle.h"
#include "engine/sampler.h"
#include "test.h"

struct oracle_case {
    char name[128];       /* MODEL.PROMPT */
    char model[128];
    char prompt[16];
    char type[16];        /* weight type from the file name */
    const char *kset;     /* kernel set */
};

static struct oracle_case cur;   /* the case test_run is running */

struct collect { float *rows; int n, cap, n_vocab; };

static int collect_rows(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    struct collect *c = ctx;
    if (c->n + rows > c->cap)
        return tl_fail(err, TL_ERANGE, "more rows than the reference");
    memcpy(c->rows + (size_t)c->n * n_vocab, logits, (size_t)rows * n_vocab * sizeof *logits);
    c->n += rows;
    return TL_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

/* Score our teacher-forced rows against the reference. */
static void score(const struct oracle_ref *ref, const struct collect *c)
{
    struct oracle_tol tol = oracle_tolerance(cur.type);
    double errs[256];
    int n_err = 0, agree = 0, greedy_ok = 0;
    for (int k = 0; k < ref->n_logit_rows && n_err < 256; k++) {
        int r = ref->logit_rows[k];
        if (r < c->n)
            errs[n_err++] = oracle_row_err(c->rows + (size_t)r * c->n_vocab,
                                           ref->logits + (size_t)k * ref->n_vocab, ref->n_vocab);
    }
    for (int r = 0; r < c->n && r < ref->n_argmax; r++)
        agree += argmax(c->rows + (size_t)r * c->n_vocab, c->n_vocab) == ref->argmax[r];
    while (greedy_ok < ref->n_greedy && ref->n_prompt - 1 + greedy_ok < c->n &&
           argmax(c->rows + (size_t)(ref->n_prompt - 1 + greedy_ok) * c->n_vocab, c->n_vocab) ==
               ref->greedy[greedy_ok])
        greedy_ok++;
    qsort(errs, (size_t)n_err, sizeof *errs, cmp_double);
    double median = n_err ? errs[n_err / 2] : 1.0, worst = n_err ? errs[n_err - 1] : 1.0;
    printf("  %s [%s]: rows %d, err median %.2e max %.2e, argmax %d/%d, greedy %d/%d\n", cur.name,
           cur.kset, c->n, median, worst, agree, ref->rows, greedy_ok, ref->n_greedy);
    CHECK(c->n == ref->rows, "evaluated %d rows, reference has %d", c->n, ref->rows);
    CHECK(median <= tol.median, "median err %.3g > %.3g", median, tol.median);
    CHECK(worst <= tol.max, "max err %.3g > %.3g", worst, tol.max);
    CHECK(agree >= tol.argmax * ref->rows || agree >= ref->rows - 1, "argmax %d/%d", agree, ref->rows);
    int is_float = !strcmp(cur.type, "f32") || !strcmp(cur.type, "f16") || !strcmp(cur.type, "bf16");
    CHECK(!is_float || greedy_ok >= 8, "greedy: first %d tokens match, need 8", greedy_ok);
}

static void run_case(void)
{
    const char *shared = test_shared_dir();
    char path[1024], refdir[1024];
    snprintf(refdir, sizeof refdir, "%s/oracle/ref", shared);
    struct oracle_ref ref;
    if (oracle_load(&ref, refdir, cur.name))
        SKIP("cannot read reference %s", cur.name);
    if (!strcmp(cur.model, "llama-2-tiny-random"))
        snprintf(path, sizeof path, "%s/models/%s.gguf", shared, cur.model);
    else
        snprintf(path, sizeof path, "%s/oracle/models/%s.gguf", shared, cur.model);
    struct engine e;
    struct engine_opts o = { .model_path = path, .n_ctx = 512, .n_threads = 1, .n_batch = 64, .kernels = cur.kset };
    struct tl_error err = { 0 };
    int rc = engine_open(&e, &o, &err);
    if (rc == TL_EUNSUPPORTED) {
        oracle_free(&ref);
        SKIP("%s: %s", cur.name, err.msg);
    }
    CHECK(rc == TL_OK, "engine_open: %s", err.msg);
    if (rc) {
        oracle_free(&ref);
        return;
    }
    snprintf(path, sizeof path, "%s/oracle/prompts/%s.txt", shared, cur.prompt);
    char *text = read_text(path);
    int32_t *ids = NULL;
    int n_ids = 0;
    rc = text ? tokenizer_encode(&e.tok, text, strlen(text), true, true, &ids, &n_ids, &err) : TL_EIO;
    CHECK(rc == TL_OK && n_ids == ref.n_prompt && !memcmp(ids, ref.prompt, (size_t)n_ids * sizeof *ids),
          "prompt tokens differ from llama.cpp's (%d vs %d tokens)", n_ids, ref.n_prompt);
    /* teacher-forced: prompt, then the reference's greedy tokens but the last */
    struct collect c = { .cap = ref.rows, .n_vocab = e.model.hp.n_vocab };
    c.rows = malloc((size_t)c.cap * c.n_vocab * sizeof *c.rows);
    rc = engine_eval(&e, ref.prompt, ref.n_prompt, collect_rows, &c, &err);
    for (int g = 0; rc == TL_OK && g + 1 < ref.n_greedy && c.n < ref.rows; g++)
        rc = engine_eval(&e, &ref.greedy[g], 1, collect_rows, &c, &err);
    CHECK(rc == TL_OK, "eval: %s", err.msg);
    if (rc == TL_OK)
        score(&ref, &c);
    free(c.rows);
    free(ids);
    free(text);
    engine_close(&e);
    oracle_free(&ref);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void no_shared(void)
{
    SKIP("../shared is absent: the oracle references were not checked");
}

int main(void)
{
    const char *shared = test_shared_dir();
    char dir[1024];
    if (!shared) {
        RUN_TEST(no_shared);
        return test_finish();
    }
    snprintf(dir, sizeof dir, "%s/oracle/ref", shared);
    DIR *d = opendir(dir);
    char *names[512];
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d)) && n < 512;) {
        size_t len = strlen(de->d_name);
        if (len > 4 && !strcmp(de->d_name + len - 4, ".ref"))
            names[n++] = strndup(de->d_name, len - 4);
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (const char *const *ks = kernels_names(); *ks; ks++) {
        struct kernels k;
        if (!kernels_get(*ks, &k))
            continue;
        for (int i = 0; i < n; i++) {
            memset(&cur, 0, sizeof cur);
            snprintf(cur.name, sizeof cur.name, "%s", names[i]);
            char *dot = strrchr(names[i], '.');
            snprintf(cur.model, sizeof cur.model, "%.*s", (int)(dot - names[i]), names[i]);
            snprintf(cur.prompt, sizeof cur.prompt, "%s", dot + 1);
            const char *dash = strrchr(cur.model, '-');
            snprintf(cur.type, sizeof cur.type, "%s", dash ? dash + 1 : "f32");
            if (!strcmp(cur.model, "llama-2-tiny-random"))
                snprintf(cur.type, sizeof cur.type, "f16");
            cur.kset = *ks;
            char tname[256];
            snprintf(tname, sizeof tname, "oracle %s [%s]", cur.name, cur.kset);
            test_run(tname, run_case);
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    return test_finish();
}
