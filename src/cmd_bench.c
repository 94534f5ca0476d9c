/* cmd_bench.c: `tinyllm bench`, llama-bench's tests and output formats:
 * pp N = one N-token prompt evaluated as a batch, tg N = N tokens generated
 * one at a time after a BOS, ppP+tgG = a P-token prompt then G tokens (t/s
 * over all P + G: generation at depth); each repeated -r times after a
 * warm-up, t/s as mean ± stddev. Scripts written for llama-bench's JSON/CSV
 * read ours. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cpu.h"
#include "engine.h"
#include "quant.h"

#define MAX_LIST 16

static const char usage_text[] =
    "usage: tinyllm bench -m MODEL [-m MODEL ...] [options]\n"
    "Measure prompt processing (pp) and generation (tg) speed, as llama-bench does.\n"
    "\n"
    "  -m, --model FILE     model to test (repeatable)\n"
    "  -p, --n-prompt N,... prompt lengths (default 512; 0 = none)\n"
    "  -n, --n-gen N,...    generation lengths (default 128; 0 = none)\n"
    "  -pg P,G              also a P-token prompt then G generated tokens (repeatable)\n"
    "  -t, --threads N,...  thread counts (default: physical cores)\n"
    "  -r, --repetitions N  repetitions of each test (default 5)\n"
    "  -mmp, --mmap 0|1     1: map the model files; 0: read them into memory on huge\n"
    "                       pages (default: 0 up to 256 MiB when the system has them)\n"
    "  -o, --output FMT     md (default), csv or json\n"
    "  -h, --help           this text\n";

struct bench_opts {
    const char *models[MAX_LIST];
    int  n_models;
    long prompts[MAX_LIST], gens[MAX_LIST], threads[MAX_LIST], pg[MAX_LIST][2];
    int  n_prompts, n_gens, n_threads, n_pg;
    long reps;
    const char *fmt;
    int  help;
    enum gguf_load load;
};

struct bench_result {
    const char *path;
    char   type[96];       /* "llama 1.1B Q4_0" */
    double size, params;   /* bytes, count */
    int    threads, n_prompt, n_gen, reps;
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    double samples_ns[64];
    const char *kernels;
    int    use_mmap;       /* the model file stayed mapped (not read into memory) */
};

/* "512,1024" -> list */
static int parse_list(const char *flag, const char *v, long lo, long hi, long *out, int *n,
                      struct tl_error *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST)
            return tl_fail(err, TL_EINVAL, "%s: at most %d values", flag, MAX_LIST);
        int rc = cli_int(flag, tok, lo, hi, &out[(*n)++], err);
        if (rc)
            return rc;
    }
    return *n ? TL_OK : tl_fail(err, TL_EINVAL, "%s needs a value", flag);
}

static int parse_args(int argc, char **argv, struct bench_opts *o, struct tl_error *err)
{
    int rc = TL_OK;
    for (int i = 1; i < argc && rc == TL_OK; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            o->help = 1;
            continue;
        }
        if ((rc = cli_value(argc, argv, &i, &v, err)))
            break;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (o->n_models == MAX_LIST)
                rc = tl_fail(err, TL_EINVAL, "-m: at most %d models", MAX_LIST);
            else
                o->models[o->n_models++] = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            rc = parse_list(a, v, 0, 1 << 16, o->prompts, &o->n_prompts, err);
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            rc = parse_list(a, v, 0, 1 << 16, o->gens, &o->n_gens, err);
        } else if (!strcmp(a, "-pg")) {
            long pair[MAX_LIST];
            int n = 0;
            if ((rc = parse_list(a, v, 1, 1 << 16, pair, &n, err)))
                break;
            if (n != 2)
                rc = tl_fail(err, TL_EINVAL, "-pg: '%s' is not PROMPT,GEN", v);
            else if (o->n_pg == MAX_LIST)
                rc = tl_fail(err, TL_EINVAL, "-pg: at most %d pairs", MAX_LIST);
            else
                o->pg[o->n_pg][0] = pair[0], o->pg[o->n_pg++][1] = pair[1];
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            rc = parse_list(a, v, 1, 1024, o->threads, &o->n_threads, err);
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            rc = cli_int(a, v, 1, 64, &o->reps, err);
        } else if (!strcmp(a, "-mmp") || !strcmp(a, "--mmap")) {
            long m;
            if (!(rc = cli_int(a, v, 0, 1, &m, err)))
                o->load = m ? GGUF_LOAD_MMAP : GGUF_LOAD_COPY;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            o->fmt = v;
            if (strcmp(v, "md") && strcmp(v, "csv") && strcmp(v, "json"))
                rc = tl_fail(err, TL_EINVAL, "-o: '%s' is not md, csv or json", v);
        } else {
            rc = tl_fail(err, TL_EINVAL, "bench: unknown option '%s' (try tinyllm bench --help)", a);
        }
    }
    if (rc == TL_OK && !o->help && !o->n_models)
        rc = tl_fail(err, TL_EINVAL, "bench: -m MODEL is required (try tinyllm bench --help)");
    return rc;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One timed run of a test: n_prompt tokens as one batch, then n_gen single
 * tokens; the cache starts empty each time. */
static int run_once(struct engine *e, int n_prompt, int n_gen, uint64_t *rng, double *ns,
                    struct tl_error *err)
{
    int nv = e->model.hp.n_vocab, rc = TL_OK;
    int32_t *tok = malloc((size_t)(n_prompt > 1 ? n_prompt : 1) * sizeof *tok);
    if (!tok)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < n_prompt; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((*rng >> 33) % (uint64_t)nv);
    }
    e->st.n_past = 0;
    double t0 = now_ns();
    if (n_prompt)
        rc = engine_eval(e, tok, n_prompt, NULL, NULL, err);
    int32_t t = e->tok.bos >= 0 ? e->tok.bos : 0;
    for (int g = 0; rc == TL_OK && g < n_gen; g++) {
        rc = engine_eval(e, &t, 1, NULL, NULL, err);
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        t = (int32_t)((*rng >> 33) % (uint64_t)nv);
    }
    *ns = now_ns() - t0;
    free(tok);
    return rc;
}

static const char *ftype_name(const struct gguf *g)
{
    static const struct { uint32_t id; const char *name; } names[] = {
        { 0, "all F32" }, { 1, "F16" }, { 2, "Q4_0" }, { 3, "Q4_1" }, { 7, "Q8_0" },
        { 8, "Q5_0" }, { 9, "Q5_1" }, { 10, "Q2_K - Medium" }, { 11, "Q3_K - Small" },
        { 12, "Q3_K - Medium" }, { 13, "Q3_K - Large" }, { 14, "Q4_K - Small" },
        { 15, "Q4_K - Medium" }, { 16, "Q5_K - Small" }, { 17, "Q5_K - Medium" },
        { 18, "Q6_K" }, { 21, "Q2_K - Small" }, { 25, "IQ4_NL - 4.5 bpw" }, { 32, "BF16" },
    };
    uint32_t ft = 1000;
    gguf_get_u32(g, "general.file_type", &ft, false, NULL);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].id == ft)
            return names[i].name;
    return "?";
}

static void describe(const struct engine *e, struct bench_result *r)
{
    double p = (double)e->model.n_params;
    char size[16];
    if (p >= 1e9)
        snprintf(size, sizeof size, "%.1fB", p / 1e9);
    else
        snprintf(size, sizeof size, "%.0fM", p / 1e6);
    snprintf(r->type, sizeof r->type, "%s %s %s", arch_name(e->model.hp.arch), size, ftype_name(&e->model.gguf));
    r->params = p;
    r->size = 0;
    for (uint64_t i = 0; i < e->model.gguf.n_tensors; i++)
        r->size += (double)e->model.gguf.tensors[i].size;
    r->kernels = e->k.name;
    r->use_mmap = !e->model.gguf.copied;
}

static void finish_stats(struct bench_result *r)
{
    double sum = 0, sum_ts = 0, n = r->reps;
    int tokens = r->n_prompt + r->n_gen;
    for (int i = 0; i < r->reps; i++) {
        sum += r->samples_ns[i];
        sum_ts += tokens * 1e9 / r->samples_ns[i];
    }
    r->avg_ns = sum / n;
    r->avg_ts = sum_ts / n;
    double v = 0, v_ts = 0;
    for (int i = 0; i < r->reps; i++) {
        double ts = tokens * 1e9 / r->samples_ns[i];
        v += (r->samples_ns[i] - r->avg_ns) * (r->samples_ns[i] - r->avg_ns);
        v_ts += (ts - r->avg_ts) * (ts - r->avg_ts);
    }
    r->stddev_ns = n > 1 ? sqrt(v / (n - 1)) : 0;
    r->stddev_ts = n > 1 ? sqrt(v_ts / (n - 1)) : 0;
}

static void print_header(const char *fmt)
{
    if (!strcmp(fmt, "md")) {
        printf("| %-30s | %10s | %10s | %-10s | %7s | %13s | %20s |\n", "model", "size", "params",
               "backend", "threads", "test", "t/s");
        printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: | ------------: | -------------------: |\n");
    } else if (!strcmp(fmt, "csv")) {
        printf("build_commit,model_filename,model_type,model_size,model_n_params,backends,kernels,"
               "n_batch,n_threads,use_mmap,n_prompt,n_gen,avg_ns,stddev_ns,avg_ts,stddev_ts\n");
    } else {
        printf("[");
    }
}

static void print_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_result(const char *fmt, const struct bench_result *r, int first)
{
    char test[32];
    if (r->n_prompt && r->n_gen)
        snprintf(test, sizeof test, "pp%d+tg%d", r->n_prompt, r->n_gen);
    else
        snprintf(test, sizeof test, "%s%d", r->n_prompt ? "pp" : "tg", r->n_prompt ? r->n_prompt : r->n_gen);
    if (!strcmp(fmt, "md")) {
        char ts[64];
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        printf("| %-30s | %6.2f MiB | %8.2f %c | %-10s | %7d | %13s | %21s |\n", r->type, r->size / 1048576.0,
               r->params >= 1e9 ? r->params / 1e9 : r->params / 1e6, r->params >= 1e9 ? 'B' : 'M', "CPU",
               r->threads, test, ts);
    } else if (!strcmp(fmt, "csv")) {
        printf("\"%s\",\"%s\",\"%s\",%.0f,%.0f,\"CPU\",\"%s\",512,%d,%d,%d,%d,%.0f,%.0f,%.6f,%.6f\n",
               TINYLLM_VERSION, r->path, r->type, r->size, r->params, r->kernels, r->threads, r->use_mmap, r->n_prompt,
               r->n_gen, r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
    } else {
        printf("%s\n  {\n    \"build_commit\": \"%s\",\n    \"model_filename\": ", first ? "" : ",", TINYLLM_VERSION);
        print_json_str(r->path);
        printf(",\n    \"model_type\": ");
        print_json_str(r->type);
        printf(",\n    \"model_size\": %.0f,\n    \"model_n_params\": %.0f,\n    \"backends\": \"CPU\",\n"
               "    \"kernels\": \"%s\",\n    \"n_batch\": 512,\n    \"n_threads\": %d,\n    \"use_mmap\": %s,\n"
               "    \"n_prompt\": %d,\n"
               "    \"n_gen\": %d,\n    \"avg_ns\": %.0f,\n    \"stddev_ns\": %.0f,\n    \"avg_ts\": %.6f,\n"
               "    \"stddev_ts\": %.6f,\n    \"samples_ns\": [", r->size, r->params, r->kernels, r->threads,
               r->use_mmap ? "true" : "false", r->n_prompt, r->n_gen, r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
        for (int i = 0; i < r->reps; i++)
            printf("%s%.0f", i ? ", " : " ", r->samples_ns[i]);
        printf(" ]\n  }");
    }
    fflush(stdout);
}

/* Every test of one model at one thread count. */
static int bench_model(const struct bench_opts *o, const char *path, int threads, int *first,
                       struct tl_error *err)
{
    long max_ctx = 1;
    for (int i = 0; i < o->n_prompts; i++)
        max_ctx = o->prompts[i] > max_ctx ? o->prompts[i] : max_ctx;
    for (int i = 0; i < o->n_gens; i++)
        max_ctx = o->gens[i] + 1 > max_ctx ? o->gens[i] + 1 : max_ctx;
    for (int i = 0; i < o->n_pg; i++)
        max_ctx = o->pg[i][0] + o->pg[i][1] > max_ctx ? o->pg[i][0] + o->pg[i][1] : max_ctx;
    struct engine e;
    struct engine_opts eo = { .model_path = path, .n_ctx = (int)max_ctx, .n_threads = threads, .load = o->load };
    int rc = engine_open(&e, &eo, err);
    if (rc)
        return rc;
    uint64_t rng = 1234;
    for (int k = 0; rc == TL_OK && k < o->n_prompts + o->n_gens + o->n_pg; k++) {
        struct bench_result r = { .path = path, .threads = threads, .reps = (int)o->reps };
        describe(&e, &r);
        int g = k - o->n_prompts, pg = g - o->n_gens;   /* pp tests, then tg, then pg */
        r.n_prompt = k < o->n_prompts ? (int)o->prompts[k] : pg >= 0 ? (int)o->pg[pg][0] : 0;
        r.n_gen = g < 0 ? 0 : pg < 0 ? (int)o->gens[g] : (int)o->pg[pg][1];
        if (r.n_prompt + r.n_gen == 0)
            continue;
        double warm;
        rc = run_once(&e, r.n_prompt, r.n_gen ? 1 : 0, &rng, &warm, err);
        for (int i = 0; rc == TL_OK && i < r.reps; i++)
            rc = run_once(&e, r.n_prompt, r.n_gen, &rng, &r.samples_ns[i], err);
        if (rc == TL_OK) {
            finish_stats(&r);
            print_result(o->fmt, &r, *first);
            *first = 0;
        }
    }
    engine_close(&e);
    return rc;
}

int cmd_bench(int argc, char **argv, struct tl_error *err)
{
    struct bench_opts o = { .reps = 5, .fmt = "md" };
    int rc = parse_args(argc, argv, &o, err);
    if (rc || o.help) {
        if (o.help)
            fputs(usage_text, stdout);
        return rc;
    }
    if (!o.n_prompts)
        o.prompts[o.n_prompts++] = 512;
    if (!o.n_gens)
        o.gens[o.n_gens++] = 128;
    if (!o.n_threads)
        o.threads[o.n_threads++] = cpu_physical_cores();
    struct kernels k;
    if ((rc = kernels_select(&k, err)))
        return rc;
    print_header(o.fmt);
    int first = 1;
    for (int m = 0; rc == TL_OK && m < o.n_models; m++)
        for (int t = 0; rc == TL_OK && t < o.n_threads; t++)
            rc = bench_model(&o, o.models[m], (int)o.threads[t], &first, err);
    if (!strcmp(o.fmt, "json"))
        printf("\n]\n");
    else if (!strcmp(o.fmt, "md"))
        printf("\nkernels: %s, tinyllm %s\n", k.name, TINYLLM_VERSION);
    fflush(stdout);
    return rc;
}
