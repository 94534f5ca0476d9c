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
    char label[256];
    snprintf(label, sizeof label, "%s [%s]", cur.name, cur.kset);
    oracle_check(&e, &ref, cur.type, label);
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
