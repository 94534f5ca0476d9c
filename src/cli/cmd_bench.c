/* cli/cmd_bench.c: `tinyllm bench`, llama-bench's tests and output formats:
 * pp N = one N-token prompt evaluated in calls of -b tokens, each run in
 * forward passes of -ub (llama-bench's n_batch and n_ubatch), tg N = N tokens generated
 * one at a time after a BOS, ppP+tgG = a P-token prompt then G tokens (t/s
 * over all P + G: generation at depth); each repeated -r times after a
 * warm-up, t/s as mean ± stddev. Scripts written for llama-bench's JSON,
 * JSONL or CSV read ours: the same field names, the settings that only a
 * GPU build has left out, and `kernels` added. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "kernels/cpu.h"
#include "engine/engine.h"
#include "format/quant.h"

struct pg_list { long v[OPT_LIST_MAX][2]; int n; };   /* -pg P,G pairs */

struct bench_opts {
    struct opt_strs models;
    struct opt_list prompts, gens, threads, batch, ubatch, gpu_layers, flash_attn;
    struct pg_list  pg;
    bool progress;
    int  reps;
    int  mmap;             /* -1: engine's choice, 0: read into memory, 1: map */
    const char *fmt;
    const char *kernels;   /* TINYLLM_KERNELS, NULL: the best set */
};

/* One engine configuration: a model at a thread count and batch sizes. */
struct bench_inst {
    const char *path;
    int threads, batch, ubatch;
};

struct bench_result {
    const char *path;
    char   type[96];       /* "llama 1.1B Q4_0" */
    char   cpu[64];        /* cpu_name */
    char   test_time[32];  /* when the test started, ISO 8601 UTC */
    double size, params;   /* bytes, count */
    int    threads, batch, ubatch, n_prompt, n_gen, reps;
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    double samples_ns[64];
    const char *kernels;
    int    use_mmap;       /* the model file stayed mapped (not read into memory) */
};

/* -pg P,G: one more pair */
static int parse_pg(const struct opt *o, const char *flag, const char *val, void *dst, struct tl_error *err)
{
    struct pg_list *pg = dst;
    struct opt_list pair;
    int rc = opt_parse_list(o, flag, val, &pair, err);
    if (rc)
        return rc;
    if (pair.n != 2)
        return tl_fail(err, TL_EINVAL, "%s: '%s' is not PROMPT,GEN", flag, val);
    if (pg->n == OPT_LIST_MAX)
        return tl_fail(err, TL_EINVAL, "%s: at most %d pairs", flag, OPT_LIST_MAX);
    pg->v[pg->n][0] = pair.v[0];
    pg->v[pg->n++][1] = pair.v[1];
    return TL_OK;
}

/* -ctk/-ctv TYPE,...: the KV cache types llama-bench would try; only f16 exists here */
static int parse_cache_type(const struct opt *o, const char *flag, const char *val, void *dst, struct tl_error *err)
{
    (void)o, (void)dst;
    for (const char *tok = val;; tok += strcspn(tok, ",") + 1) {
        int n = (int)strcspn(tok, ",");
        if (n != 3 || strncmp(tok, "f16", 3))
            return tl_fail(err, TL_EINVAL, "%s: '%.*s': tinyllm's KV cache is f16 only", flag, n, tok);
        if (!tok[n])
            return TL_OK;
    }
}

#define BENCH_OPT(field) offsetof(struct bench_opts, field)
static const struct opt bench_rows[] = {
    { "-m, --model", "MODEL", OPT_STRS, BENCH_OPT(models), .help = "model to test (repeatable)", .flags = OPT_REQUIRED },
    { "-p, --n-prompt", "N,...", OPT_LIST, BENCH_OPT(prompts), 0, 1 << 16, .help = "prompt lengths, 0 = none",
      .def = "512" },
    { "-n, --n-gen", "N,...", OPT_LIST, BENCH_OPT(gens), 0, 1 << 16, .help = "generation lengths, 0 = none",
      .def = "128" },
    { "-pg", "P,G", OPT_FN, BENCH_OPT(pg), 1, 1 << 16, .parse = parse_pg,
      .help = "also a P-token prompt then G generated tokens (repeatable)" },
    { "-t, --threads", "N,...", OPT_LIST, BENCH_OPT(threads), 1, 1024, .help = "thread counts",
      .def = "physical cores" },
    { "-b, --batch-size", "N,...", OPT_LIST, BENCH_OPT(batch), 1, 1 << 16,
      .help = "logical batch: prompt tokens per call", .def = "2048" },
    { "-ub, --ubatch-size", "N,...", OPT_LIST, BENCH_OPT(ubatch), 1, 1 << 16,
      .help = "physical batch: tokens per forward pass", .def = "512" },
    { "-ctk, --cache-type-k", "TYPE", OPT_FN, 0, .parse = parse_cache_type,
      .help = "K cache type: f16, tinyllm's only one" },
    { "-ctv, --cache-type-v", "TYPE", OPT_FN, 0, .parse = parse_cache_type,
      .help = "V cache type: f16, tinyllm's only one" },
    { "-ngl, --n-gpu-layers", "N", OPT_LIST, BENCH_OPT(gpu_layers), 0, 1 << 20,
      .help = "accepted for llama-bench's scripts; no effect\n(tinyllm runs on the CPU)" },
    { "-fa, --flash-attn", "0|1", OPT_LIST, BENCH_OPT(flash_attn), 0, 1,
      .help = "accepted for llama-bench's scripts; no effect\n(tinyllm has one attention path)" },
    { "-r, --repetitions", "N", OPT_INT, BENCH_OPT(reps), 1, 64, .help = "repetitions of each test", .def = "5" },
    { "-mmp, --mmap", "0|1", OPT_INT, BENCH_OPT(mmap), 0, 1,
      .help = "1: map the model files; 0: read them into memory on huge\n"
              "pages (default: 0 up to 256 MiB when the system has them,\n"
              "and up to half the RAM when the kernel set repacks some\n"
              "of the file's weights, which it does in memory)" },
    { "-o, --output", "FMT", OPT_CHOICE, BENCH_OPT(fmt), .choices = "md|csv|json|jsonl",
      .help = "md, csv, json (one array) or jsonl (an object a\nline)", .def = "md" },
    { "--progress", NULL, OPT_FLAG, BENCH_OPT(progress), .help = "a line on stderr as each test starts" },
};

static int parse_args(int argc, char **argv, struct bench_opts *o, bool *help, struct tl_error *err)
{
    const struct opt_group groups[] = { OPT_GROUP(NULL, bench_rows, o) };
    const struct opt_cmd cmd = {
        "bench", "-m MODEL [-m MODEL ...] [options]",
        "Measure prompt processing (pp) and generation (tg) speed, as llama-bench does.\n",
        groups, 1,
    };
    return opt_parse(&cmd, argc, argv, help, err);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One timed run of a test: n_prompt tokens, batch at a time (the engine
 * splits each into forward passes of its n_batch, the ubatch), then n_gen
 * single tokens; the cache starts empty each time. */
static int run_once(struct engine *e, int n_prompt, int batch, int n_gen, uint64_t *rng, double *ns,
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
    for (int i = 0; rc == TL_OK && i < n_prompt; i += batch)
        rc = engine_eval(e, tok + i, n_prompt - i < batch ? n_prompt - i : batch, NULL, NULL, err);
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

/* llama.cpp's name of a general.file_type (LLAMA_FTYPE_*). */
static const char *ftype_name(uint32_t ft)
{
    static const char *const names[] = {
        [0] = "all F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
        [9] = "Q5_1", [10] = "Q2_K - Medium", [11] = "Q3_K - Small", [12] = "Q3_K - Medium",
        [13] = "Q3_K - Large", [14] = "Q4_K - Small", [15] = "Q4_K - Medium", [16] = "Q5_K - Small",
        [17] = "Q5_K - Medium", [18] = "Q6_K", [19] = "IQ2_XXS - 2.0625 bpw", [20] = "IQ2_XS - 2.3125 bpw",
        [21] = "Q2_K - Small", [22] = "IQ3_XS - 3.3 bpw", [23] = "IQ3_XXS - 3.0625 bpw",
        [24] = "IQ1_S - 1.5625 bpw", [25] = "IQ4_NL - 4.5 bpw", [26] = "IQ3_S - 3.4375 bpw",
        [27] = "IQ3_S mix - 3.66 bpw", [28] = "IQ2_S - 2.5 bpw", [29] = "IQ2_M - 2.7 bpw",
        [30] = "IQ4_XS - 4.25 bpw", [31] = "IQ1_M - 1.75 bpw", [32] = "BF16",
        [36] = "TQ1_0 - 1.69 bpw ternary", [37] = "TQ2_0 - 2.06 bpw ternary",
    };
    return ft < sizeof names / sizeof names[0] && names[ft] ? names[ft] : "unknown, may not work";
}

/* The layer of a tensor named "blk.N...", -1 for the others. */
static long tensor_layer(const struct gguf_str *s)
{
    if (s->len < 5 || memcmp(s->ptr, "blk.", 4) || s->ptr[4] < '0' || s->ptr[4] > '9')
        return -1;
    long n = 0;
    for (size_t i = 4; i < s->len && s->ptr[i] >= '0' && s->ptr[i] <= '9' && n < 100000000; i++)
        n = n * 10 + (s->ptr[i] - '0');
    return n;
}

/* llama.cpp's loader walks the tensors by layer, then by name */
static int tensor_order(const void *pa, const void *pb)
{
    const struct gguf_tensor *a = *(const struct gguf_tensor *const *)pa, *b = *(const struct gguf_tensor *const *)pb;
    long la = tensor_layer(&a->name), lb = tensor_layer(&b->name);
    if (la != lb)
        return la < lb ? -1 : 1;
    size_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int c = memcmp(a->name.ptr, b->name.ptr, n);
    return c ? c : a->name.len < b->name.len ? -1 : a->name.len > b->name.len;
}

/* The file type as llama.cpp names it: general.file_type, or when the file
 * has none the type most tensors have ("(guessed)"; on a tie, the first to
 * reach the count in llama.cpp's tensor order), as its loader does. */
static void file_type_name(const struct gguf *g, char *buf, size_t size)
{
    uint32_t ft = 0;
    if (gguf_find(g, "general.file_type") && gguf_get_u32(g, "general.file_type", &ft, false, NULL) == TL_OK) {
        snprintf(buf, size, "%s", ftype_name(ft));
        return;
    }
    /* LLAMA_FTYPE_MOSTLY_* of the ggml types; unknown types count as all F32 */
    static const uint8_t of_type[TL_TYPE_COUNT] = {
        [TL_F16] = 1, [TL_BF16] = 32, [TL_Q4_0] = 2, [TL_Q4_1] = 3, [TL_Q5_0] = 8, [TL_Q5_1] = 9,
        [TL_Q8_0] = 7, [TL_Q2_K] = 10, [TL_Q3_K] = 12, [TL_Q4_K] = 15, [TL_Q5_K] = 17, [TL_Q6_K] = 18,
        [TL_IQ2_XXS] = 19, [TL_IQ2_XS] = 20, [TL_IQ2_S] = 28, [TL_IQ3_XXS] = 23, [TL_IQ1_S] = 24,
        [TL_IQ1_M] = 31, [TL_IQ4_NL] = 25, [TL_IQ4_XS] = 30, [TL_IQ3_S] = 26,
    };
    const struct gguf_tensor **order = malloc(g->n_tensors * sizeof *order + 1);
    uint64_t count[TL_TYPE_COUNT] = { 0 }, best_n = 0;
    uint32_t best = TL_F32;
    for (uint64_t i = 0; order && i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    if (order)
        qsort(order, g->n_tensors, sizeof *order, tensor_order);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint32_t t = order ? order[i]->type : g->tensors[i].type;
        if (t < TL_TYPE_COUNT && ++count[t] > best_n)
            best_n = count[t], best = t;
    }
    free(order);
    snprintf(buf, size, "%s (guessed)", ftype_name(of_type[best]));
}

static void describe(const struct engine *e, struct bench_result *r)
{
    double p = (double)e->model.n_params;
    char size[16], ftype[64];
    /* llama.cpp names a size class it knows ("1B"), "?B" for the others;
     * tinyllm rounds the count, and says "?B" where that rounds to nothing */
    if (p >= 1e9)
        snprintf(size, sizeof size, "%.1fB", p / 1e9);
    else if (p >= 0.5e6)
        snprintf(size, sizeof size, "%.0fM", p / 1e6);
    else
        snprintf(size, sizeof size, "?B");
    file_type_name(&e->model.gguf, ftype, sizeof ftype);
    snprintf(r->type, sizeof r->type, "%s %s %s", arch_name(e->model.hp.arch), size, ftype);
    r->params = p;
    r->size = 0;
    for (uint64_t i = 0; i < e->model.gguf.n_tensors; i++)
        r->size += (double)e->model.gguf.tensors[i].size;
    r->kernels = e->k.name;
    r->use_mmap = !e->model.gguf.copied;
    cpu_name(r->cpu, sizeof r->cpu);
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

/* llama-bench's table shows a batch column when a value other than its
 * default was asked for */
static int show_batch(const struct bench_opts *o) { return o->batch.n > 1 || (o->batch.n && o->batch.v[0] != 2048); }
static int show_ubatch(const struct bench_opts *o) { return o->ubatch.n > 1 || (o->ubatch.n && o->ubatch.v[0] != 512); }

static void print_header(const struct bench_opts *o)
{
    if (!strcmp(o->fmt, "md")) {
        printf("| %-30s | %10s | %10s | %-10s | %7s |%s%s %13s | %20s |\n", "model", "size", "params",
               "backend", "threads", show_batch(o) ? " n_batch |" : "", show_ubatch(o) ? " n_ubatch |" : "",
               "test", "t/s");
        printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: |%s%s"
               " ------------: | -------------------: |\n",
               show_batch(o) ? " ------: |" : "", show_ubatch(o) ? " -------: |" : "");
    } else if (!strcmp(o->fmt, "csv")) {
        printf("build_commit,build_number,cpu_info,gpu_info,backends,kernels,model_filename,model_type,model_size,"
               "model_n_params,n_batch,n_ubatch,n_threads,type_k,type_v,n_gpu_layers,flash_attn,use_mmap,"
               "embeddings,n_prompt,n_gen,test_time,avg_ns,stddev_ns,avg_ts,stddev_ts\n");
    } else if (!strcmp(o->fmt, "json")) {
        printf("[");
    }
}

/* s as a CSV field: quoted, quotes doubled */
static void print_csv_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
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

/* The fields of one JSON object, after a line break and indent (json) or a
 * space (jsonl). */
struct jout { const char *sep; int n; };

static void jkey(struct jout *j, const char *key)
{
    printf("%s%s\"%s\": ", j->n++ ? "," : "", j->sep, key);
}

static void jstr(struct jout *j, const char *key, const char *v)
{
    jkey(j, key);
    print_json_str(v);
}

static void jnum(struct jout *j, const char *key, const char *fmt, double v)
{
    jkey(j, key);
    printf(fmt, v);
}

/* llama-bench's name of a test: pp512, tg128, pp512+tg128 */
static void test_name(const struct bench_result *r, char *buf, size_t size)
{
    if (r->n_prompt && r->n_gen)
        snprintf(buf, size, "pp%d+tg%d", r->n_prompt, r->n_gen);
    else
        snprintf(buf, size, "%s%d", r->n_prompt ? "pp" : "tg", r->n_prompt ? r->n_prompt : r->n_gen);
}

static void print_result(const struct bench_opts *o, const struct bench_result *r, int first)
{
    char test[32];
    test_name(r, test, sizeof test);
    if (!strcmp(o->fmt, "md")) {
        char ts[64], nb[16] = "", nub[16] = "";
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        if (show_batch(o))
            snprintf(nb, sizeof nb, " %7d |", r->batch);
        if (show_ubatch(o))
            snprintf(nub, sizeof nub, " %8d |", r->ubatch);
        printf("| %-30s | %6.2f MiB | %8.2f %c | %-10s | %7d |%s%s %13s | %21s |\n", r->type, r->size / 1048576.0,
               r->params >= 1e9 ? r->params / 1e9 : r->params / 1e6, r->params >= 1e9 ? 'B' : 'M', "CPU",
               r->threads, nb, nub, test, ts);
    } else if (!strcmp(o->fmt, "csv")) {
        printf("\"%s\",0,", TINYLLM_VERSION);
        print_csv_str(r->cpu);
        printf(",\"\",\"CPU\",\"%s\",", r->kernels);
        print_csv_str(r->path);
        putchar(',');
        print_csv_str(r->type);
        printf(",%.0f,%.0f,%d,%d,%d,\"f16\",\"f16\",0,0,%d,0,%d,%d,\"%s\",%.0f,%.0f,%.6f,%.6f\n", r->size, r->params,
               r->batch, r->ubatch, r->threads, r->use_mmap, r->n_prompt, r->n_gen, r->test_time, r->avg_ns,
               r->stddev_ns, r->avg_ts, r->stddev_ts);
    } else {   /* json: objects of an array, a field a line; jsonl: an object a line */
        int lines = !strcmp(o->fmt, "json");
        struct jout j = { lines ? "\n    " : " ", 0 };
        printf("%s{", lines ? (first ? "\n  " : ",\n  ") : "");
        jstr(&j, "build_commit", TINYLLM_VERSION);
        jnum(&j, "build_number", "%.0f", 0);
        jstr(&j, "cpu_info", r->cpu);
        jstr(&j, "gpu_info", "");
        jstr(&j, "backends", "CPU");
        jstr(&j, "kernels", r->kernels);
        jstr(&j, "model_filename", r->path);
        jstr(&j, "model_type", r->type);
        jnum(&j, "model_size", "%.0f", r->size);
        jnum(&j, "model_n_params", "%.0f", r->params);
        jnum(&j, "n_batch", "%.0f", r->batch);
        jnum(&j, "n_ubatch", "%.0f", r->ubatch);
        jnum(&j, "n_threads", "%.0f", r->threads);
        jstr(&j, "type_k", "f16");
        jstr(&j, "type_v", "f16");
        jnum(&j, "n_gpu_layers", "%.0f", 0);
        jkey(&j, "flash_attn");
        printf("false");
        jkey(&j, "use_mmap");
        printf("%s", r->use_mmap ? "true" : "false");
        jkey(&j, "embeddings");
        printf("false");
        jnum(&j, "n_prompt", "%.0f", r->n_prompt);
        jnum(&j, "n_gen", "%.0f", r->n_gen);
        jstr(&j, "test_time", r->test_time);
        jnum(&j, "avg_ns", "%.0f", r->avg_ns);
        jnum(&j, "stddev_ns", "%.0f", r->stddev_ns);
        jnum(&j, "avg_ts", "%.6f", r->avg_ts);
        jnum(&j, "stddev_ts", "%.6f", r->stddev_ts);
        jkey(&j, "samples_ns");
        for (int i = 0; i < r->reps; i++)
            printf("%s%.0f", i ? ", " : "[ ", r->samples_ns[i]);
        printf(" ]");
        jkey(&j, "samples_ts");
        for (int i = 0; i < r->reps; i++)
            printf("%s%.6f", i ? ", " : "[ ", (r->n_prompt + r->n_gen) * 1e9 / r->samples_ns[i]);
        printf(" ]%s", lines ? "\n  }" : " }\n");
    }
    fflush(stdout);
}

/* Every test of one engine configuration. */
static int bench_model(const struct bench_opts *o, const struct bench_inst *in, int *first,
                       struct tl_error *err)
{
    long max_ctx = 1;
    for (int i = 0; i < o->prompts.n; i++)
        max_ctx = o->prompts.v[i] > max_ctx ? o->prompts.v[i] : max_ctx;
    for (int i = 0; i < o->gens.n; i++)
        max_ctx = o->gens.v[i] + 1 > max_ctx ? o->gens.v[i] + 1 : max_ctx;
    for (int i = 0; i < o->pg.n; i++)
        max_ctx = o->pg.v[i][0] + o->pg.v[i][1] > max_ctx ? o->pg.v[i][0] + o->pg.v[i][1] : max_ctx;
    struct engine e;
    struct engine_opts eo = {   /* as llama.cpp, a ubatch larger than the batch is the batch */
        .model_path = in->path, .n_ctx = (int)max_ctx, .n_threads = in->threads,
        .n_batch = in->ubatch < in->batch ? in->ubatch : in->batch,
        .load = o->mmap < 0 ? GGUF_LOAD_AUTO : o->mmap ? GGUF_LOAD_MMAP : GGUF_LOAD_COPY,
        .kernels = o->kernels,
    };
    int rc = engine_open(&e, &eo, err);
    if (rc)
        return rc;
    uint64_t rng = 1234;
    int n_tests = o->prompts.n + o->gens.n + o->pg.n;
    for (int k = 0; rc == TL_OK && k < n_tests; k++) {
        struct bench_result r = {
            .path = in->path, .threads = in->threads, .batch = in->batch, .ubatch = in->ubatch, .reps = o->reps,
        };
        describe(&e, &r);
        int g = k - o->prompts.n, pg = g - o->gens.n;   /* pp tests, then tg, then pg */
        r.n_prompt = k < o->prompts.n ? (int)o->prompts.v[k] : pg >= 0 ? (int)o->pg.v[pg][0] : 0;
        r.n_gen = g < 0 ? 0 : pg < 0 ? (int)o->gens.v[g] : (int)o->pg.v[pg][1];
        if (r.n_prompt + r.n_gen == 0)
            continue;
        time_t now = time(NULL);
        struct tm tm;
        strftime(r.test_time, sizeof r.test_time, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        if (o->progress) {
            char test[32];
            test_name(&r, test, sizeof test);
            fprintf(stderr, "tinyllm bench: %s, %d threads, test %d/%d: %s\n", in->path, in->threads, k + 1, n_tests,
                    test);
        }
        double warm;
        rc = run_once(&e, r.n_prompt, in->batch, r.n_gen ? 1 : 0, &rng, &warm, err);
        for (int i = 0; rc == TL_OK && i < r.reps; i++)
            rc = run_once(&e, r.n_prompt, in->batch, r.n_gen, &rng, &r.samples_ns[i], err);
        if (rc == TL_OK) {
            finish_stats(&r);
            print_result(o, &r, *first);
            *first = 0;
        }
    }
    engine_close(&e);
    return rc;
}

static bool any_positive(const struct opt_list *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i] > 0)
            return true;
    return false;
}

int cmd_bench(int argc, char **argv, struct tl_error *err)
{
    struct bench_opts o = { .reps = 5, .mmap = -1, .fmt = "md" };
    bool help;
    int rc = parse_args(argc, argv, &o, &help, err);
    if (rc || help)
        return rc;
    if (!o.prompts.n)
        o.prompts.v[o.prompts.n++] = 512;
    if (!o.gens.n)
        o.gens.v[o.gens.n++] = 128;
    if (!o.threads.n)
        o.threads.v[o.threads.n++] = cpu_physical_cores();
    if (any_positive(&o.gpu_layers))
        fprintf(stderr, "tinyllm bench: -ngl has no effect: tinyllm runs on the CPU\n");
    if (any_positive(&o.flash_attn))
        fprintf(stderr, "tinyllm bench: -fa has no effect: tinyllm has one attention path\n");
    if (!o.batch.n)
        o.batch.v[o.batch.n++] = 2048;
    if (!o.ubatch.n)
        o.ubatch.v[o.ubatch.n++] = 512;
    struct kernels k;
    if ((rc = cli_kernels(&o.kernels, &k, err)))
        return rc;
    print_header(&o);
    int first = 1;
    for (int m = 0; rc == TL_OK && m < o.models.n; m++)
        for (int b = 0; rc == TL_OK && b < o.batch.n; b++)
            for (int u = 0; rc == TL_OK && u < o.ubatch.n; u++)
                for (int t = 0; rc == TL_OK && t < o.threads.n; t++) {
                    struct bench_inst in = { o.models.v[m], (int)o.threads.v[t], (int)o.batch.v[b], (int)o.ubatch.v[u] };
                    rc = bench_model(&o, &in, &first, err);
                }
    if (!strcmp(o.fmt, "json"))
        printf("\n]\n");
    else if (!strcmp(o.fmt, "md")) {
        char desc[160];
        kernels_describe(&k, desc, sizeof desc);
        printf("\nkernels: %s; tinyllm %s\n", desc, TINYLLM_VERSION);
    }
    fflush(stdout);
    return rc;
}
