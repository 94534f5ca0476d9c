/* test_cli.c: the tinyllm binary as a user drives it: exit codes, what goes
 * to stdout and stderr, prompts from -p, -f and pipes, --dump-logits rows,
 * a closed pipe, the oracle reproduced by hand through the CLI, and the
 * outputs of `tinyllm bench`. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli/cli.h"
#include "format/gguf_write.h"
#include "util/json.h"
#include "model_builder.h"
#include "format/quant.h"
#include "oracle.h"
#include "test.h"

static struct test_cli res;
static char model[512];

/* Run `tinyllm ARGS` with stdin from `in` (see test_cli_run); fills res. */
#define run(in, ...) test_cli_run(&res, in, __VA_ARGS__)

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Write the builder's model for c to path after edit(w) changed its KVs. */
static int write_edited(const struct model_builder_config *c, const char *path,
                        void (*edit)(struct gguf_writer *w))
{
    struct gguf_writer w;
    struct model_builder mb;
    struct tl_error err = { 0 };
    gguf_writer_init(&w);
    int rc = model_builder_init(&mb, c, &w, &err);
    if (rc == TL_OK) {
        edit(&w);
        rc = gguf_writer_write_file(&w, path, &err);
        model_builder_free(&mb);
    }
    gguf_writer_free(&w);
    if (rc)
        printf("  cannot build %s: %s\n", path, err.msg);
    return rc;
}

/* As llama.cpp's llama2.c converter writes: no general.file_type */
static void drop_file_type(struct gguf_writer *w)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.file_type"))
            continue;
        free(w->kv[i].key);
        free(w->kv[i].val);
        memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
        w->n_kv--;
        return;
    }
}

/* Every normal token (ids from 259 on) a 2000-byte text: "x" * 1996 + id. */
static void long_tokens(struct gguf_writer *w)
{
    enum { N = 512, LEN = 2000 };
    static char texts[N][LEN + 1];
    const char *strs[N];
    for (int i = 0; i < N; i++) {
        if (i < 3)
            snprintf(texts[i], sizeof texts[i], "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259)
            snprintf(texts[i], sizeof texts[i], "<0x%02X>", i - 3);
        else {
            memset(texts[i], 'x', LEN - 4);
            snprintf(texts[i] + LEN - 4, 5, "%04d", i);
        }
        strs[i] = texts[i];
    }
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, N, NULL);
}

/* A token piece of any length is printed whole (it was cut at 1024 bytes). */
static void long_pieces(void)
{
    struct model_builder_config c;
    char path[600];
    model_builder_defaults(&c);
    snprintf(path, sizeof path, "%s/long-tokens.gguf", test_tmpdir());
    CHECK(write_edited(&c, path, long_tokens) == 0, "model");
    CHECK(run(NULL, "run -m %s -p '<0x41>' -n 8 --temp 0 --quiet", path) == 0, "%s", res.err);
    /* greedy text: pieces of 2000 bytes (byte tokens in between add a byte each) */
    const char *x = strstr(res.out, "xxxx");
    size_t run_len = 0;
    while (x && x[run_len] == 'x')
        run_len++;
    CHECK(x && run_len == 1996 && x[1996] >= '0' && x[1996] <= '9' && x[1999] >= '0' && x[1999] <= '9',
          "a whole 2000-byte piece: %zu bytes of x, output %zu bytes", run_len, strlen(res.out));
}

/* A 100K-parameter all-F32 model without general.file_type: `info` counts
 * its parameters in K, `bench` names it as llama-bench does. */
static void tiny_model_names(void)
{
    struct model_builder_config c;
    char path[600];
    model_builder_defaults(&c);
    c.n_embd = 64, c.n_ff = 128, c.n_layer = 1, c.n_head = 4, c.n_head_kv = 2;
    snprintf(path, sizeof path, "%s/tiny-f32.gguf", test_tmpdir());
    CHECK(write_edited(&c, path, drop_file_type) == 0, "model");
    CHECK(run(NULL, "info -m %s", path) == 0, "info: %s", res.err);
    const char *p = strstr(res.out, "parameters:");
    CHECK(p && strstr(p, " K\n") && !strstr(res.out, "0.000 B"), "parameters in K: %.60s", p ? p : res.out);
    CHECK(run(NULL, "bench -m %s -p 0 -n 1 -r 1", path) == 0 && strstr(res.out, "| llama ?B all F32 (guessed) "),
          "bench model column: %s", res.out);
    CHECK(run(NULL, "bench -m %s -p 0 -n 1 -r 1", model) == 0 && strstr(res.out, "| llama 1M Q8_0 "),
          "a file_type named as before: %s", res.out);
}

/* The option table: kinds, positionals, errors and --help from one table. */
struct table_test {
    const char *in, *out;
    int n;
    float f;
    bool flag;
    struct opt_list list;
    struct opt_strs strs;
    const char *fmt;
};

static const struct opt table_rows[] = {
    { NULL, "IN", OPT_STR, offsetof(struct table_test, in), .flags = OPT_REQUIRED },
    { NULL, "OUT", OPT_STR, offsetof(struct table_test, out), .flags = OPT_REQUIRED },
    { "-n, --number", "N", OPT_INT, offsetof(struct table_test, n), 1, 10, .help = "a number", .def = "3" },
    { "--float", "F", OPT_FLOAT, offsetof(struct table_test, f), 0, 1, .help = "a float\non two lines" },
    { "--flag", NULL, OPT_FLAG, offsetof(struct table_test, flag), .help = "a flag" },
    { "-l", "N,...", OPT_LIST, offsetof(struct table_test, list), 0, 100, .help = "a list" },
    { "-s", "S", OPT_STRS, offsetof(struct table_test, strs), 1, 4, .help = "repeatable" },
    { "-o", "FMT", OPT_CHOICE, offsetof(struct table_test, fmt), .choices = "md|csv|json", .help = "format" },
};

static int parse_table(struct table_test *t, const char *args, struct tl_error *err)
{
    char buf[256], *argv[32] = { "test" };
    int argc = 1;
    bool help;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *tok = strtok(buf, " "); tok && argc < 32; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    memset(t, 0, sizeof *t);
    const struct opt_group groups[] = { OPT_GROUP(NULL, table_rows, t) };
    const struct opt_cmd cmd = { "test", "IN OUT [options]", NULL, groups, 1 };
    *err = (struct tl_error){ 0 };
    return opt_parse(&cmd, argc, argv, &help, err);
}

static void option_table(void)
{
    struct table_test t;
    struct tl_error err;
    CHECK(parse_table(&t, "a -n 4 --float 0.5 b --flag -l 1,,2 -s x -s yy -o csv", &err) == TL_OK, "%s", err.msg);
    CHECK(!strcmp(t.in, "a") && !strcmp(t.out, "b") && t.n == 4 && t.f == 0.5f && t.flag, "values");
    CHECK(t.list.n == 2 && t.list.v[0] == 1 && t.list.v[1] == 2, "list: empty items skipped");
    CHECK(t.strs.n == 2 && !strcmp(t.strs.v[1], "yy") && !strcmp(t.fmt, "csv"), "repeatable, choice");
    static const struct { const char *args, *msg; } bad[] = {
        { "a", "test: missing OUT (try tinyllm test --help)" },
        { "", "test: missing IN and OUT (try tinyllm test --help)" },
        { "a b c", "test: unexpected argument 'c' (try tinyllm test --help)" },
        { "a b --bogus", "test: unknown option '--bogus' (try tinyllm test --help)" },
        { "a b -n", "-n needs a value" },
        { "a b --number 11", "--number: 11 is out of range [1, 10]" },
        { "a b -n x", "-n: 'x' is not an integer" },
        { "a b --float 2", "--float: 2 is out of range [0, 1]" },
        { "a b -l 1,x", "-l: 'x' is not an integer" },
        { "a b -l ,", "-l needs a value" },
        { "a b -l 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "-l: at most 16 values" },
        { "a b -s abcde", "-s: the string must have 1 to 4 bytes" },
        { "a b -o xml", "-o: 'xml' is not md, csv or json" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(parse_table(&t, bad[i].args, &err) == TL_EINVAL && !strcmp(err.msg, bad[i].msg), "'%s': %s",
              bad[i].args, err.msg);
    /* --help from the same rows: every spelling, its default, continuation lines */
    char path[600];
    snprintf(path, sizeof path, "%s/help.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    const struct opt_group groups[] = { OPT_GROUP("more:", table_rows, &t) };
    const struct opt_cmd cmd = { "test", "IN OUT [options]", "About.\n", groups, 1 };
    opt_help(&cmd, f);
    fclose(f);
    char *help = test_read_file(path, NULL);
    CHECK(help && strstr(help, "usage: tinyllm test IN OUT [options]\nAbout.\n\nmore:\n") &&
          strstr(help, "  -n, --number N           a number (default 3)\n") &&
          strstr(help, "      --float F            a float\n                           on two lines\n") &&
          strstr(help, "  -h, --help"), "help: %s", help ? help : "(none)");
    free(help);
}

/* The sampling defaults --help shows are the sampler's. */
static void sampling_defaults_shown(void)
{
    struct sampler_params sp = { 0 }, want = sampler_defaults();
    struct opt_group g = cli_group_sampling(&sp);
    for (size_t i = 0; i < g.n; i++) {
        const struct opt *o = &g.rows[i];
        if (!o->def || !((o->def[0] >= '0' && o->def[0] <= '9') || o->def[0] == '-'))
            continue;
        char name[64], def[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(o->names, ","), o->names);
        snprintf(def, sizeof def, "%s", o->def);
        char *argv[] = { "test", name, def };
        const struct opt_cmd cmd = { "test", "", NULL, &g, 1 };
        bool help;
        struct tl_error err = { 0 };
        CHECK(opt_parse(&cmd, 3, argv, &help, &err) == TL_OK, "%s %s: %s", name, def, err.msg);
    }
    want.seed = 0;
    CHECK(!memcmp(&sp, &want, sizeof sp), "the defaults in --help are sampler_defaults()");
}

static void help_and_usage_errors(void)
{
    CHECK(run(NULL, "--help") == 0 && strstr(res.out, "run"), "--help");
    CHECK(run(NULL, "--version") == 0 && strstr(res.out, "kernels"), "--version: %s", res.out);
    setenv("TINYLLM_KERNELS", "scalar", 1);
    CHECK(run(NULL, "--version") == 0 && strstr(res.out, "kernels: scalar)"), "scalar repacks nothing: %s", res.out);
    setenv("TINYLLM_KERNELS", "no-such-set", 1);
    CHECK(run(NULL, "run -m %s -p hi -n 1", model) == 2 && test_count_lines(res.err) == 1 &&
          strstr(res.err, "TINYLLM_KERNELS=no-such-set"), "unknown kernel set: %s", res.err);
    CHECK(run(NULL, "--version") == 2 && test_count_lines(res.err) == 1, "--version, unknown kernel set: %s", res.err);
    unsetenv("TINYLLM_KERNELS");
    CHECK(run(NULL, "%s", "") == 2, "no command: exit 2");
    CHECK(run(NULL, "frobnicate") == 2 && test_count_lines(res.err) == 1, "unknown command: %s", res.err);
    CHECK(run(NULL, "run --help") == 0 && strstr(res.out, "--dump-logits"), "run --help");
    static const char *const helps[][3] = {   /* a command, two of its options */
        { "run", "--mmap", "--repeat-last-n" }, { "chat", "--no-mmap", "--chat-template-file" },
        { "bench", "-ub, --ubatch-size", "-o, --output" }, { "info", "-m, --model", "" },
        { "template", "--messages", "--chat-template" }, { "quantize", "--allow-requantize", "-t, --threads" },
        { "tokenize", "--no-bos", "-f, --file" },
    };
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
        CHECK(run(NULL, "%s --help", helps[i][0]) == 0 && strstr(res.out, helps[i][1]) && strstr(res.out, helps[i][2]) &&
              strstr(res.out, "-h, --help") && !res.err[0], "%s --help: %s", helps[i][0], res.out);
    CHECK(run(NULL, "chat -m %s -c 8", model) == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "[16,"), "chat -c 8: %s",
          res.err);
    CHECK(run(NULL, "quantize a") == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "missing OUT.gguf and TYPE"),
          "quantize a: %s", res.err);
    CHECK(run(NULL, "run -p hi") == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "-m"), "no model: %s", res.err);
    CHECK(run(NULL, "run -m %s -p hi -n abc", model) == 2 && strstr(res.err, "-n"), "-n abc: %s", res.err);
    CHECK(run(NULL, "run -m %s -p hi --temp -1", model) == 2, "negative temp");
    CHECK(run(NULL, "run -m %s -p hi --bogus", model) == 2, "unknown flag");
    CHECK(run(NULL, "run -m %s -p hi -t", model) == 2 && strstr(res.err, "needs a value"), "-t without value");
    CHECK(run(NULL, "run -m %s", model) == 2 && strstr(res.err, "prompt"), "no prompt: %s", res.err);
    CHECK(run(NULL, "run -m /nonexistent.gguf -p hi") == 1 && test_count_lines(res.err) == 1, "missing file: %s", res.err);
    CHECK(run(NULL, "info -m %s", model) == 0 && strstr(res.out, "llama"), "info: %s", res.err);
}

static void generates_to_stdout_only(void)
{
    CHECK(run(NULL, "run -m %s -p 'the cat' -n 8 --temp 0 --quiet", model) == 0, "exit: %s", res.err);
    CHECK(res.err[0] == 0, "--quiet leaves stderr empty: %s", res.err);
    char *first = strdup(res.out);
    CHECK(run(NULL, "run -m %s -p 'the cat' -n 8 --temp 0", model) == 0, "exit");
    CHECK(first && !strcmp(first, res.out), "greedy is deterministic");
    free(first);
    CHECK(test_count_lines(res.err) == 1 && strstr(res.err, "t/s"), "one summary line: %s", res.err);
    run(NULL, "run -m %s -p 'the cat' -n 12 --seed 7 --temp 1.2 --quiet", model);
    first = strdup(res.out);
    run(NULL, "run -m %s -p 'the cat' -n 12 --seed 7 --temp 1.2 --quiet", model);
    CHECK(first && !strcmp(first, res.out), "same seed, same text");
    free(first);
}

/* Rows in a --dump-logits file for the given run, or -1. */
static long dump_rows(const char *in, const char *args)
{
    char path[600];
    snprintf(path, sizeof path, "%s/dump.bin", test_tmpdir());
    remove(path);
    if (run(in, "run -m %s %s --dump-logits %s --quiet", model, args, path))
        return -1;
    long sz = file_size(path);
    return sz < 0 ? -1 : sz / (512 * 4);
}

static int count_tokens(const char *in, const char *args)
{
    if (run(in, "tokenize -m %s %s", model, args))
        return -1;
    int n = 0;
    for (char *tok = strtok(res.out, " \n"); tok; tok = strtok(NULL, " \n"))
        n++;
    return n;
}

static void prompt_sources_and_dump(void)
{
    int n_p = count_tokens(NULL, "-p 'the cat sat'");
    CHECK(n_p > 1, "tokenize: %s", res.err);
    CHECK(dump_rows(NULL, "-p 'the cat sat' -n 0") == n_p, "-n 0: one row per prompt token");
    CHECK(dump_rows(NULL, "-p 'the cat sat' -n 5 --temp 0") == n_p + 4, "prompt + generated - 1 rows");
    CHECK(dump_rows("printf 'the cat sat'", "-n 0") == n_p, "stdin prompt");
    CHECK(dump_rows("</dev/null", "-p 'the cat sat' -n 0") == n_p, "/dev/null stdin changes nothing");
    char path[600];
    snprintf(path, sizeof path, "%s/prompt.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("the cat sat", f);
    fclose(f);
    char args[700];
    snprintf(args, sizeof args, "-f %s -n 0", path);
    CHECK(dump_rows(NULL, args) == n_p, "-f FILE");
    int n_comb = count_tokens(NULL, "-p \"$(printf 'sum:\\n\\nthe cat sat')\"");
    CHECK(dump_rows("printf 'the cat sat'", "-p sum: -n 0") == n_comb, "-p with piped stdin joins with a blank line");
}

static void context_and_pipe_limits(void)
{
    CHECK(run(NULL, "run -m %s -p 'the cat sat on the mat with a hat' -c 4 -n 1", model) == 1, "too long");
    CHECK(test_count_lines(res.err) == 1 && strstr(res.err, "context"), "says why: %s", res.err);
    CHECK(run(NULL, "run -m %s -p 'the' -c 12 -n 100 --temp 0", model) == 0, "fills the context");
    CHECK(strstr(res.err, "context full") != NULL, "stops at a full context: %s", res.err);
    char cmd[1200], st[600];
    snprintf(st, sizeof st, "%s/status", test_tmpdir());
    snprintf(cmd, sizeof cmd, "(%s run -m %s -p the -n 200 --temp 1 --seed 1 2>/dev/null; echo $? >%s) | head -c 1 >/dev/null",
             test_bin(), model, st);
    CHECK(system(cmd) == 0, "pipeline ran");
    char *status = test_read_file(st, NULL);
    CHECK(status && atoi(status) == 0, "a closed pipe ends quietly, exit %s", status ? status : "(none)");
    free(status);
    /* a prompt batch (the GEMMs, whose scratch is hundreds of KiB) on a
     * main thread with a 512 KiB stack: it used to overflow it */
    snprintf(cmd, sizeof cmd, "ulimit -s 512 && %s run -m %s -t 2 -n 2 --temp 0 -p "
             "'the cat sat on the mat with a hat and the dog sat on the log with a frog' </dev/null >/dev/null 2>&1",
             test_bin(), model);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "prompt on a 512 KiB stack: status %d", rc);
}

static void oracle_by_hand(void)
{
    const char *shared = test_shared_dir();
    if (!shared)
        SKIP("../shared is absent");
    char dir[600], m[700], p[700], dump[600];
    snprintf(dir, sizeof dir, "%s/oracle/ref", shared);
    snprintf(m, sizeof m, "%s/oracle/models/llama-mini-f32.gguf", shared);
    snprintf(p, sizeof p, "%s/oracle/prompts/long.txt", shared);
    snprintf(dump, sizeof dump, "%s/oracle.bin", test_tmpdir());
    struct oracle_ref ref;
    CHECK(oracle_load(&ref, dir, "llama-mini-f32.long") == 0, "reference");
    CHECK(run(NULL, "run -m %s -f %s -n 16 --temp 0 --dump-logits %s --quiet", m, p, dump) == 0, "%s", res.err);
    FILE *f = fopen(dump, "rb");
    float *rows = malloc((size_t)ref.rows * ref.n_vocab * sizeof *rows);
    size_t got = f ? fread(rows, sizeof *rows, (size_t)ref.rows * ref.n_vocab, f) : 0;
    CHECK(got == (size_t)ref.rows * ref.n_vocab && f && fgetc(f) == EOF, "%d rows", ref.rows);
    double worst = 0;
    for (int k = 0; got && k < ref.n_logit_rows; k++) {
        double e = oracle_row_err(rows + (size_t)ref.logit_rows[k] * ref.n_vocab,
                                  ref.logits + (size_t)k * ref.n_vocab, ref.n_vocab);
        worst = e > worst ? e : worst;
    }
    CHECK(worst <= 5e-3, "max err %.3g", worst);
    if (f)
        fclose(f);
    free(rows);
    CHECK(run(NULL, "tokenize -m %s -f %s", m, p) == 0, "tokenize");
    char want[8192] = "";
    for (int i = 0; i < ref.n_prompt; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? " " : "", ref.prompt[i]);
    strcat(want, "\n");
    CHECK(!strcmp(res.out, want), "tokenize prints llama.cpp's ids");
    oracle_free(&ref);
}

static double num(const struct json_value *v)
{
    return !v ? -1 : v->type == JSON_INT ? (double)v->v.i : v->type == JSON_FLOAT ? v->v.f : -1;
}

/* `tinyllm bench` as scripts written for llama-bench read it: -o json is one
 * array of objects under llama-bench's field names, -o csv names the same
 * columns, the table has a row per test; pp, tg and pp+tg tests in
 * llama-bench's order for each thread count. */
static void bench_outputs(void)
{
    static const int want[3][2] = { { 8, 0 }, { 0, 4 }, { 8, 4 } };
    CHECK(run(NULL, "bench -m %s -p 8 -n 4 -pg 8,4 -r 2 -t 1,2 -o json", model) == 0, "json: %s", res.err);
    struct json_value v;
    struct tl_error err = { 0 };
    CHECK(json_parse(res.out, strlen(res.out), &v, &err) == TL_OK, "not JSON: %s", err.msg);
    CHECK(v.type == JSON_ARRAY && v.v.arr.n == 6, "want an array of 6 results");
    for (size_t i = 0; v.type == JSON_ARRAY && i < v.v.arr.n && i < 6; i++) {
        const struct json_value *r = &v.v.arr.items[i], *samples = json_get(r, "samples_ns");
        CHECK(num(json_get(r, "n_prompt")) == want[i % 3][0] && num(json_get(r, "n_gen")) == want[i % 3][1],
              "result %zu: n_prompt %g n_gen %g", i, num(json_get(r, "n_prompt")), num(json_get(r, "n_gen")));
        CHECK(num(json_get(r, "n_threads")) == (i < 3 ? 1 : 2), "result %zu: n_threads", i);
        const struct json_value *mm = json_get(r, "use_mmap");
        CHECK(mm && mm->type == JSON_BOOL, "result %zu: use_mmap", i);
        CHECK(num(json_get(r, "avg_ts")) > 0 && num(json_get(r, "stddev_ts")) >= 0, "result %zu: t/s", i);
        CHECK(num(json_get(r, "model_size")) > 1000 && num(json_get(r, "model_n_params")) > 1000,
              "result %zu: model size and params", i);
        CHECK(samples && samples->type == JSON_ARRAY && samples->v.arr.n == 2, "result %zu: samples_ns", i);
        const struct json_value *sts = json_get(r, "samples_ts");
        CHECK(sts && sts->type == JSON_ARRAY && sts->v.arr.n == 2 && num(&sts->v.arr.items[0]) > 0,
              "result %zu: samples_ts", i);
        /* llama-bench's defaults, and what tinyllm is: f16 cache, nothing on a GPU */
        CHECK(num(json_get(r, "n_batch")) == 2048 && num(json_get(r, "n_ubatch")) == 512 &&
              num(json_get(r, "n_gpu_layers")) == 0, "result %zu: batch sizes, n_gpu_layers", i);
        const struct json_value *tk = json_get(r, "type_k"), *tt = json_get(r, "test_time"),
                                *ci = json_get(r, "cpu_info");
        CHECK(tk && tk->type == JSON_STRING && !strcmp(tk->v.str.s, "f16"), "result %zu: type_k", i);
        CHECK(tt && tt->type == JSON_STRING && tt->v.str.len == 20 && tt->v.str.s[10] == 'T' && tt->v.str.s[19] == 'Z',
              "result %zu: test_time", i);
        CHECK(ci && ci->type == JSON_STRING, "result %zu: cpu_info", i);
    }
    json_free(&v);
    /* jsonl: an object a line */
    CHECK(run(NULL, "bench -m %s -p 8 -n 4 -r 1 -o jsonl", model) == 0 && test_count_lines(res.out) == 2, "jsonl: %s", res.err);
    for (const char *l = res.out; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        CHECK(json_parse(l, n, &v, &err) == TL_OK && v.type == JSON_OBJECT && num(json_get(&v, "avg_ts")) > 0,
              "jsonl line: %.*s", (int)n, l);
        json_free(&v);
        l += n + (e != NULL);
    }
    /* -b and -ub: the prompt in calls of 4 tokens, forward passes of 2 */
    CHECK(run(NULL, "bench -m %s -p 8 -n 0 -r 1 -b 4 -ub 2,8 -o json", model) == 0 &&
          json_parse(res.out, strlen(res.out), &v, &err) == TL_OK && v.type == JSON_ARRAY && v.v.arr.n == 2,
          "-b -ub: %s", res.err);
    if (v.type == JSON_ARRAY && v.v.arr.n == 2)
        CHECK(num(json_get(&v.v.arr.items[0], "n_batch")) == 4 && num(json_get(&v.v.arr.items[0], "n_ubatch")) == 2 &&
              num(json_get(&v.v.arr.items[1], "n_ubatch")) == 8, "-b -ub reported");
    json_free(&v);
    CHECK(run(NULL, "bench -m %s -p 8 -n 0 -r 1 -ub 4", model) == 0 && strstr(res.out, "n_ubatch"),
          "md: a column for a non-default ubatch: %s", res.out);
    /* llama-bench's GPU and cache flags: accepted where tinyllm can honour them */
    CHECK(run(NULL, "bench -m %s -p 0 -n 1 -r 1 -ngl 99 -fa 1 -ctk f16 -ctv f16", model) == 0 &&
          strstr(res.err, "-ngl has no effect") && strstr(res.err, "-fa has no effect"), "-ngl -fa: %s", res.err);
    CHECK(run(NULL, "bench -m %s -ctk q8_0", model) == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "f16"),
          "-ctk q8_0: %s", res.err);
    CHECK(run(NULL, "bench -m %s -ctv f16,f16,q4_0", model) == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "'q4_0'"),
          "-ctv f16,f16,q4_0: %s", res.err);
    /* --progress: a stderr line per test, named as in the results */
    CHECK(run(NULL, "bench -m %s -p 8 -n 0 -pg 8,4 -r 1 --progress", model) == 0 && test_count_lines(res.err) == 2 &&
          strstr(res.err, ": pp8\n") && strstr(res.err, ": pp8+tg4\n"), "--progress: %s", res.err);
    CHECK(run(NULL, "bench -m %s -ub 0", model) == 2 && test_count_lines(res.err) == 1, "-ub 0: %s", res.err);
    CHECK(run(NULL, "bench -m %s -p 8 -n 4 -r 1 -o csv", model) == 0 && test_count_lines(res.out) == 3, "csv: %s", res.err);
    CHECK(strstr(res.out, "n_batch,n_ubatch,n_threads,type_k,type_v,n_gpu_layers,flash_attn,use_mmap,embeddings,"
                          "n_prompt,n_gen,test_time,avg_ns,stddev_ns,avg_ts,stddev_ts") &&
          strstr(res.out, "cpu_info,") && strstr(res.out, "model_size,model_n_params"), "csv header: %.200s", res.out);
    CHECK(run(NULL, "bench -m %s -p 0 -n 2 -r 1 -o csv -mmp 1", model) == 0 && strstr(res.out, ",1,0,0,2,"),
          "-mmp 1 keeps the file mapped: %s", res.out);
    CHECK(run(NULL, "bench -m %s -mmp 2", model) == 2 && strstr(res.err, "-mmp"), "-mmp 2: %s", res.err);
    CHECK(run(NULL, "bench -m %s -p 8 -n 4 -pg 8,4 -r 1", model) == 0 && strstr(res.out, " pp8 |") &&
          strstr(res.out, " tg4 |") && strstr(res.out, " pp8+tg4 |") && strstr(res.out, "kernels:"),
          "table: %s", res.out);
    CHECK(run(NULL, "bench -m %s -pg 8", model) == 2 && test_count_lines(res.err) == 1, "-pg 8: %s", res.err);
    CHECK(run(NULL, "bench -m %s -o xml", model) == 2 && test_count_lines(res.err) == 1, "-o xml: %s", res.err);
    CHECK(run(NULL, "bench -m %s -r 0", model) == 2 && test_count_lines(res.err) == 1, "-r 0: %s", res.err);
    CHECK(run(NULL, "bench -p 8") == 2 && test_count_lines(res.err) == 1, "no model: %s", res.err);
}

int main(void)
{
    model_builder_tmp_file(TL_Q8_0, "cli.gguf", model, sizeof model);
    RUN_TEST(option_table);
    RUN_TEST(sampling_defaults_shown);
    RUN_TEST(help_and_usage_errors);
    RUN_TEST(generates_to_stdout_only);
    RUN_TEST(prompt_sources_and_dump);
    RUN_TEST(context_and_pipe_limits);
    RUN_TEST(oracle_by_hand);
    RUN_TEST(bench_outputs);
    RUN_TEST(long_pieces);
    RUN_TEST(tiny_model_names);
    return test_finish();
}
