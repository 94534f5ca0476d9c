/* test_convert.c: `tinyllm convert` and format/llama2c. A synthetic llama2.c
 * checkpoint converts into the GGUF the llama2.c layout implies and runs;
 * hostile checkpoints and tokenizers (truncated, absurd headers, lying
 * lengths, vocabularies that do not match) fail with one clean line; the
 * command's usage errors exit 2. With ../shared: the real checkpoints
 * convert and run, and stories260K converts byte for byte into the committed
 * models/stories260K.gguf, whose logits match llama.cpp's. Without it: the
 * committed model still tells llama2.c's documented greedy story. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine/engine.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "format/llama2c.h"
#include "oracle.h"
#include "test.h"
#include "util/mem.h"

#define COMMITTED "models/stories260K.gguf"

/* llama2.c's run.c, stories260K.bin, temperature 0 from "Once upon a time"
 * (its doc/stories260K.md; ../shared/realmodels/README.md quotes it). */
static const char story[] =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
    "big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, "
    "\"I want to play with your ball, but I can't find it.\"";

struct buf { uint8_t *p; size_t n; };

static struct buf slurp(const char *path)
{
    struct buf b = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    b.n = b.p && n > 0 ? fread(b.p, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static void spill(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* A path made by printf in a ring of buffers: the last 16 stay valid. */
static const char *path_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *path_of(const char *fmt, ...)
{
    static char paths[16][600];
    static int k;
    char *p = paths[k++ % 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof paths[0], fmt, ap);
    va_end(ap);
    return p;
}

/* name in the scratch directory */
static const char *tmp_path(const char *name) { return path_of("%s/%s", test_tmpdir(), name); }

static struct test_cli res;

/* Run `tinyllm ARGS` with stdin from /dev/null (fills res). */
#define tinyllm(...) test_cli_run(&res, NULL, __VA_ARGS__)

/* ---- a synthetic llama2.c model ----------------------------------------- */

/* dim 16, hidden 40, 3 layers, 4 heads, 2 KV heads, separate classifier
 * (negative vocab), seq_len 32. */
static const int32_t syn_cfg[7] = { 16, 40, 3, 4, 2, -270, 32 };
static const char *const syn_extra[] = { " the", "a b", "", "x", "<0xzz>", "<0x4f>", "  ", "\xe4\xbd\xa0",
                                         "hello world", "q", "z" };
#define SYN_VOCAB (3 + 256 + 11)

/* Floats the checkpoint of config c holds after the header (run.c's order). */
static uint64_t ckpt_floats(const int32_t c[7])
{
    uint64_t dim = (uint64_t)c[0], hid = (uint64_t)c[1], L = (uint64_t)c[2], hs = dim / (uint64_t)c[3];
    uint64_t kv = (uint64_t)c[4] * hs, V = (uint64_t)llabs((long long)c[5]);
    return V * dim + L * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hid * dim) + dim + (uint64_t)c[6] * hs +
           (c[5] < 0 ? V * dim : 0);
}

static struct buf make_ckpt(const int32_t c[7])
{
    uint64_t n = ckpt_floats(c);
    struct buf b = { malloc(28 + 4 * n), 28 + 4 * n };
    memcpy(b.p, c, 28);
    for (uint64_t i = 0; i < n; i++) {
        float v = 0.05f * sinf((float)i * 0.7f) + (i % 97 == 0 ? 1.0f : 0.0f);
        memcpy(b.p + 28 + 4 * i, &v, 4);
    }
    return b;
}

/* <unk> "\n<s>\n" "\n</s>\n", 256 byte tokens, then syn_extra, cut or
 * repeated to n_vocab tokens; scores -id. */
static struct buf make_tok(int n_vocab)
{
    struct buf b = { malloc(4 + (size_t)n_vocab * 24), 4 };
    int32_t max_len = 11;
    memcpy(b.p, &max_len, 4);
    for (int id = 0; id < n_vocab; id++) {
        char text[16];
        if (id < 3)
            snprintf(text, sizeof text, "%s", (const char *[]){ "<unk>", "\n<s>\n", "\n</s>\n" }[id]);
        else if (id < 259)
            snprintf(text, sizeof text, "<0x%02X>", id - 3);
        else
            snprintf(text, sizeof text, "%s", syn_extra[(id - 259) % 11]);
        float score = -(float)id;
        int32_t len = (int32_t)strlen(text);
        memcpy(b.p + b.n, &score, 4);
        memcpy(b.p + b.n + 4, &len, 4);
        memcpy(b.p + b.n + 8, text, (size_t)len);
        b.n += 8 + (size_t)len;
    }
    return b;
}

/* Byte offset in the tokenizer of token id's length field. */
static size_t tok_len_at(const struct buf *t, int id)
{
    size_t pos = 4;
    for (int i = 0; i < id; i++) {
        int32_t len;
        memcpy(&len, t->p + pos + 4, 4);
        pos += 8 + (size_t)len;
    }
    return pos + 4;
}

/* Convert checkpoint and tokenizer files into a GGUF in memory. */
static int convert_mem(const char *ckpt, const char *tok, struct buf *gguf, struct tl_error *err)
{
    struct llama2c m;
    struct gguf_writer w;
    gguf_writer_init(&w);
    int rc = llama2c_open(&m, ckpt, tok, err);
    if (rc == TL_OK && (rc = llama2c_add_to_gguf(&m, &w, err)) == TL_OK)
        rc = gguf_writer_write_mem(&w, (void **)&gguf->p, &gguf->n, err);
    gguf_writer_free(&w);
    llama2c_close(&m);
    return rc;
}

static int64_t kv_int(const struct gguf *g, const char *key)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    return kv ? (int64_t)kv->v.u : -1;
}

static const uint8_t *tensor_bytes(const struct gguf *g, const char *name)
{
    const struct gguf_tensor *t = gguf_find_tensor(g, name);
    return t ? t->data : NULL;
}

static void synthetic_converts(void)
{
    struct buf ck = make_ckpt(syn_cfg), tk = make_tok(SYN_VOCAB), g = { 0 };
    const char *ckp = tmp_path("syn.bin"), *tkp = tmp_path("syn-tok.bin");
    spill(ckp, ck.p, ck.n);
    spill(tkp, tk.p, tk.n);
    struct tl_error err = { 0 };
    struct gguf gg = { 0 };
    int rc = convert_mem(ckp, tkp, &g, &err);
    CHECK(rc == TL_OK, "convert: %s", err.msg);
    if (rc == TL_OK)
        rc = gguf_parse(&gg, g.p, g.n, &err);
    CHECK(rc == TL_OK, "parse: %s", err.msg);
    if (rc == TL_OK) {
        CHECK(gg.n_tensors == 3 + 9 * 3, "%llu tensors", (unsigned long long)gg.n_tensors);
        CHECK(kv_int(&gg, "llama.context_length") == 32 && kv_int(&gg, "llama.embedding_length") == 16 &&
              kv_int(&gg, "llama.feed_forward_length") == 40 && kv_int(&gg, "llama.block_count") == 3 &&
              kv_int(&gg, "llama.attention.head_count") == 4 && kv_int(&gg, "llama.attention.head_count_kv") == 2 &&
              kv_int(&gg, "llama.rope.dimension_count") == 4 && kv_int(&gg, "tokenizer.ggml.bos_token_id") == 1,
              "hyper-parameters");
        const struct gguf_kv *toks = gguf_find(&gg, "tokenizer.ggml.tokens");
        const struct gguf_kv *types = gguf_find(&gg, "tokenizer.ggml.token_type");
        struct gguf_str *s = NULL;
        CHECK(toks && types && gguf_arr_strs(toks, &s, &err) == TL_OK && toks->v.arr.n == SYN_VOCAB, "vocab");
        if (s) {
            /* (id, text, llama.cpp type): specials renamed, spaces as U+2581,
             * "" control, only a well-formed <0xHH> a byte */
            static const struct { int id; const char *text; int type; } want[] = {
                { 0, "<unk>", 2 }, { 1, "<s>", 3 }, { 2, "</s>", 3 }, { 13, "<0x0A>", 6 },
                { 259, "\xe2\x96\x81the", 1 }, { 260, "a\xe2\x96\x81" "b", 1 }, { 261, "", 3 },
                { 263, "<0xzz>", 1 }, { 264, "<0x4f>", 6 }, { 265, "\xe2\x96\x81\xe2\x96\x81", 1 },
            };
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                CHECK(gguf_str_eq(s[want[i].id], want[i].text) && gguf_arr_num(types, (uint64_t)want[i].id) ==
                      want[i].type, "token %d: '%.*s' type %g", want[i].id, (int)s[want[i].id].len,
                      s[want[i].id].ptr, gguf_arr_num(types, (uint64_t)want[i].id));
            free(s);
        }
        /* the tensors are the checkpoint's bytes: wk of layer 1 sits after
         * the embeddings, rms_att, wq and layer 0's wk; wcls is last */
        size_t dim = 16, V = SYN_VOCAB, L = 3, kv = 8;
        size_t wk1 = 28 + 4 * (V * dim + L * dim + L * dim * dim + kv * dim);
        const uint8_t *p = tensor_bytes(&gg, "blk.1.attn_k.weight");
        CHECK(p && !memcmp(p, ck.p + wk1, 4 * kv * dim), "blk.1.attn_k.weight");
        p = tensor_bytes(&gg, "output.weight");
        CHECK(p && !memcmp(p, ck.p + ck.n - 4 * V * dim, 4 * V * dim), "output.weight is wcls");
        p = tensor_bytes(&gg, "token_embd.weight");
        CHECK(p && !memcmp(p, ck.p + 28, 4 * V * dim), "token_embd.weight");
        gguf_close(&gg);
    }
    /* it runs */
    const char *gp = tmp_path("syn.gguf");
    spill(gp, g.p, g.n);
    struct engine e;
    struct engine_opts o = { .model_path = gp, .n_threads = 1 };
    int32_t *ids = NULL;
    int n_ids = 0;
    rc = engine_open(&e, &o, &err);
    CHECK(rc == TL_OK, "engine_open: %s", err.msg);
    if (rc == TL_OK) {
        rc = tokenizer_encode(&e.tok, "hello the world", 15, true, true, &ids, &n_ids, &err);
        if (rc == TL_OK)
            rc = engine_eval(&e, ids, n_ids, NULL, NULL, &err);
        CHECK(rc == TL_OK && n_ids > 1 && isfinite(engine_last_logits(&e)[0]), "eval: %s", err.msg);
        engine_close(&e);
    }
    /* the command writes the same bytes */
    CHECK(tinyllm("convert %s %s %s", ckp, tkp, tmp_path("cli.gguf")) == 0 && test_count_lines(res.err) == 1 && !res.out[0],
          "convert: %s", res.err);
    struct buf c = slurp(tmp_path("cli.gguf"));
    CHECK(c.n == g.n && g.n && !memcmp(c.p, g.p, g.n), "the command's file differs from the library's");
    mem_free_all(c.p, ids, g.p, ck.p, tk.p);
}

/* ---- hostile inputs ------------------------------------------------------ */

/* Opening the first ck_n bytes of ck with the first tk_n of tk must fail
 * cleanly: a runtime code (the CLI exits 1), one line of text. ck NULL: the
 * checkpoint written last time. */
static void expect_fail_(int line, const struct buf *ck, size_t ck_n, const struct buf *tk, size_t tk_n,
                         const char *what)
{
    const char *ckp = tmp_path("bad.bin"), *tkp = tmp_path("bad-tok.bin");
    if (ck)
        spill(ckp, ck->p, ck_n);
    spill(tkp, tk->p, tk_n);
    struct llama2c m;
    struct tl_error err = { 0 };
    int rc = llama2c_open(&m, ckp, tkp, &err);
    if (rc == TL_OK)
        llama2c_close(&m);
    CHECK(rc != TL_OK && rc != TL_EINVAL && err.msg[0] && !strchr(err.msg, '\n'),
          "line %d, %s: rc %d '%s'", line, what, rc, err.msg);
}
#define expect_fail(ck, ck_n, tk, tk_n, what) expect_fail_(__LINE__, ck, ck_n, tk, tk_n, what)

static void hostile_checkpoints(void)
{
    struct buf ck = make_ckpt(syn_cfg), tk = make_tok(SYN_VOCAB);
    for (size_t n = 0; n < 64; n++)
        expect_fail(&ck, n, &tk, tk.n, "truncated header");
    expect_fail(&ck, ck.n - 1, &tk, tk.n, "one byte short");
    expect_fail(&ck, ck.n - 4 * 270 * 16, &tk, tk.n, "no classifier");
    expect_fail(&ck, ck.n / 2, &tk, tk.n, "half");
    uint8_t *longer = malloc(ck.n + 4);
    memcpy(longer, ck.p, ck.n);
    memset(longer + ck.n, 0, 4);
    struct buf lg = { longer, ck.n + 4 };
    expect_fail(&lg, lg.n, &tk, tk.n, "trailing float");
    free(longer);
    /* one header field at a time (0 dim, 1 hidden, 2 layers, 3 heads, 4 kv
     * heads, 5 vocab, 6 seq_len) */
    static const struct { int field; int32_t v; } bad[] = {
        { 0, 0 }, { 0, -16 }, { 0, 1 << 30 }, { 0, 12 } /* head size 3 */, { 0, 18 } /* 18 % 4 */,
        { 1, 0 }, { 1, INT32_MAX }, { 1, INT32_MIN }, { 2, -1 }, { 2, 0 }, { 2, 1 << 20 }, { 2, 4 },
        { 3, 0 }, { 3, 3 }, { 3, 32 }, { 3, -4 }, { 4, 0 }, { 4, 3 }, { 4, 8 }, { 4, -2 }, { 4, 4 },
        { 5, 0 }, { 5, 2 }, { 5, -1 }, { 5, INT32_MIN }, { 5, 1 << 30 }, { 5, 270 } /* shared: size */,
        { 6, 0 }, { 6, -32 }, { 6, INT32_MAX },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t h[7];
        memcpy(h, ck.p, 28);
        h[bad[i].field] = bad[i].v;
        memcpy(ck.p, h, 28);
        char what[64];
        snprintf(what, sizeof what, "header field %d = %d", bad[i].field, bad[i].v);
        expect_fail(&ck, ck.n, &tk, tk.n, what);
        memcpy(ck.p, syn_cfg, 28);
    }
    /* other formats */
    memcpy(ck.p, (uint32_t[]){ 0x616b3432u, 1 }, 8);   /* export.py --version 1 */
    expect_fail(&ck, ck.n, &tk, tk.n, "ak42");
    memcpy(ck.p, "GGUF\3\0\0\0", 8);
    expect_fail(&ck, ck.n, &tk, tk.n, "a GGUF");
    memcpy(ck.p, syn_cfg, 28);
    /* what is not a regular, readable file */
    struct llama2c m;
    struct tl_error err = { 0 };
    spill(tmp_path("tok.bin"), tk.p, tk.n);
    CHECK(llama2c_open(&m, tmp_path("missing.bin"), tmp_path("tok.bin"), &err) == TL_EIO &&
          strstr(err.msg, "missing.bin"), "missing: %s", err.msg);
    CHECK(llama2c_open(&m, test_tmpdir(), tmp_path("tok.bin"), &err) == TL_EIO, "a directory: %s", err.msg);
    free(ck.p);
    free(tk.p);
}

static void hostile_tokenizers(void)
{
    struct buf ck = make_ckpt(syn_cfg), tk = make_tok(SYN_VOCAB);
    expect_fail(&ck, ck.n, &tk, 0, "empty tokenizer");
    /* every cut through the first tokens and the last, a stride between */
    for (size_t n = 1; n < tk.n; n += n < 64 || n > tk.n - 24 ? 1 : 7)
        expect_fail(NULL, 0, &tk, n, "truncated tokenizer");
    /* a vocabulary of another size than the checkpoint's */
    struct buf small = make_tok(SYN_VOCAB - 1), big = make_tok(SYN_VOCAB + 1);
    expect_fail(&ck, ck.n, &small, small.n, "one token short");
    expect_fail(&ck, ck.n, &big, big.n, "one token more");
    int32_t c2[7];
    memcpy(c2, syn_cfg, sizeof c2);
    c2[5] = -(SYN_VOCAB + 10);
    struct buf ck2 = make_ckpt(c2);
    expect_fail(&ck2, ck2.n, &tk, tk.n, "checkpoint vocab 280, tokenizer 270");
    /* lying fields */
    static const struct { int id; int32_t len; } lies[] = {
        { 5, 1 << 30 }, { 5, -1 }, { 5, 12 } /* > max_token_length 11 */, { 5, INT32_MIN },
        { 0, 7 }, { SYN_VOCAB - 1, 2 }, { SYN_VOCAB - 1, 0 },
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        size_t at = tok_len_at(&tk, lies[i].id);
        int32_t keep;
        memcpy(&keep, tk.p + at, 4);
        memcpy(tk.p + at, &lies[i].len, 4);
        char what[64];
        snprintf(what, sizeof what, "token %d claims %d bytes", lies[i].id, lies[i].len);
        expect_fail(&ck, ck.n, &tk, tk.n, what);
        memcpy(tk.p + at, &keep, 4);
    }
    static const int32_t max_lens[] = { 0, -1, 1 << 20, 10 /* the longest token has 11 */ };
    for (size_t i = 0; i < sizeof max_lens / sizeof max_lens[0]; i++) {
        memcpy(tk.p, &max_lens[i], 4);
        expect_fail(&ck, ck.n, &tk, tk.n, "max_token_length");
    }
    int32_t ok_len = 11;
    memcpy(tk.p, &ok_len, 4);
    float nan = NAN;
    size_t score_at = tok_len_at(&tk, 260) - 4;
    memcpy(tk.p + score_at, &nan, 4);
    expect_fail(&ck, ck.n, &tk, tk.n, "NaN score");
    memcpy(tk.p, "GGUF", 4);
    expect_fail(&ck, ck.n, &tk, tk.n, "a GGUF tokenizer");
    mem_free_all(ck.p, ck2.p, tk.p, small.p, big.p);
}

static void command_line(void)
{
    CHECK(tinyllm("--help") == 0 && strstr(res.out, "convert"), "tinyllm --help lists convert");
    CHECK(tinyllm("convert --help") == 0 && strstr(res.out, "usage: tinyllm convert"), "convert --help: %s", res.out);
    CHECK(tinyllm("convert") == 2 && test_count_lines(res.err) == 1, "no arguments: %s", res.err);
    CHECK(tinyllm("convert a.bin b.bin") == 2 && test_count_lines(res.err) == 1, "two arguments: %s", res.err);
    CHECK(tinyllm("convert a.bin b.bin c.gguf d") == 2 && test_count_lines(res.err) == 1, "four arguments: %s", res.err);
    CHECK(tinyllm("convert --bogus a.bin b.bin c.gguf") == 2 && strstr(res.err, "--bogus"), "unknown option: %s",
          res.err);
    const char *gp = tmp_path("never.gguf");
    CHECK(tinyllm("convert %s %s %s", tmp_path("missing.bin"), tmp_path("missing-tok.bin"), gp) == 1 &&
          test_count_lines(res.err) == 1 && strstr(res.err, "missing.bin"), "missing checkpoint: %s", res.err);
    /* a broken checkpoint leaves no output file behind */
    struct buf ck = make_ckpt(syn_cfg), tk = make_tok(SYN_VOCAB);
    spill(tmp_path("cut.bin"), ck.p, ck.n - 8);
    spill(tmp_path("cut-tok.bin"), tk.p, tk.n);
    CHECK(tinyllm("convert %s %s %s", tmp_path("cut.bin"), tmp_path("cut-tok.bin"), gp) == 1 &&
          test_count_lines(res.err) == 1 && strstr(res.err, "truncated"), "truncated checkpoint: %s", res.err);
    struct stat st;
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", gp);
    CHECK(stat(gp, &st) && stat(tmp, &st), "no output file after a failure");
    free(ck.p);
    free(tk.p);
}

/* ---- the committed model --------------------------------------------------- */

static int open_model(struct engine *e, const char *path, int n_ctx)
{
    struct engine_opts o = { .model_path = path, .n_ctx = n_ctx, .n_threads = 1 };
    struct tl_error err = { 0 };
    int rc = engine_open(e, &o, &err);
    CHECK(rc == TL_OK, "engine_open %s: %s", path, err.msg);
    return rc;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = x[i] > x[best] ? i : best;
    return best;
}

/* Greedy text of up to max_tokens after prompt (BOS added) into text. */
static int greedy(struct engine *e, const char *prompt, int max_tokens, char *text, size_t cap)
{
    struct tl_error err = { 0 };
    int32_t *ids = NULL;
    int n = 0, rc = tokenizer_encode(&e->tok, prompt, strlen(prompt), true, true, &ids, &n, &err);
    if (rc == TL_OK)
        rc = engine_eval(e, ids, n, NULL, NULL, &err);
    size_t len = 0;
    text[0] = 0;
    for (int g = 0; rc == TL_OK && g < max_tokens; g++) {
        int32_t tok = argmax(engine_last_logits(e), e->model.hp.n_vocab);
        if (tokenizer_is_eog(&e->tok, tok))
            break;
        int k = tokenizer_piece(&e->tok, tok, false, text + len, cap - 1 - len);
        len += (size_t)k < cap - 1 - len ? (size_t)k : cap - 1 - len;
        text[len] = 0;
        rc = engine_eval(e, &tok, 1, NULL, NULL, &err);
    }
    CHECK(rc == TL_OK, "greedy: %s", err.msg);
    free(ids);
    return rc;
}

static void committed_model_tells_the_story(void)
{
    struct engine e;
    char text[4096];
    if (open_model(&e, COMMITTED, 512))
        return;
    CHECK(e.model.hp.n_vocab == 512 && e.model.hp.n_ctx_train == 512 && e.model.hp.n_layer == 5, "shape");
    if (greedy(&e, "Once upon a time", 160, text, sizeof text) == TL_OK)
        CHECK(!strncmp(text, story, strlen(story)), "greedy continuation:\n%s\nexpected:\n%s", text, story);
    engine_close(&e);
}

static void readme_commands(void)
{
    /* the README's first command: sampled, until end of text or a full
     * context (one thread: a spinning pool is slow on a loaded machine) */
    CHECK(tinyllm("run -m %s -p 'Once upon a time' -t 1", COMMITTED) == 0 && strlen(res.out) > 20 &&
          strstr(res.err, "generated"), "run: %s", res.err);
    CHECK(tinyllm("run -m %s -p 'Once upon a time' -n 100 --temp 0 --quiet -t 1", COMMITTED) == 0 &&
          strlen(res.out) > 200 && !strncmp(res.out, story, strlen(res.out)), "greedy, 100 tokens: '%s'", res.out);
}

/* ---- ../shared/realmodels ------------------------------------------------- */

static void no_shared(void)
{
    SKIP("../shared is absent: the real checkpoints and llama.cpp's logits were not checked");
}

/* name in ../shared/realmodels */
static const char *real(const char *name) { return path_of("%s/realmodels/%s", test_shared_dir(), name); }

static void converts_to_the_committed_file(void)
{
    struct buf want = slurp(COMMITTED), got = { 0 };
    struct tl_error err = { 0 };
    CHECK(want.n > 1000000, "%s is missing", COMMITTED);
    int rc = convert_mem(real("stories260K.bin"), real("tok512.bin"), &got, &err);
    CHECK(rc == TL_OK, "convert: %s", err.msg);
    CHECK(got.n == want.n && want.n && !memcmp(got.p, want.p, want.n), "%zu bytes vs the committed %zu", got.n, want.n);
    CHECK(tinyllm("convert %s %s %s", real("stories260K.bin"), real("tok512.bin"), tmp_path("s.gguf")) == 0,
          "convert: %s", res.err);
    struct buf cli = slurp(tmp_path("s.gguf"));
    CHECK(cli.n == want.n && want.n && !memcmp(cli.p, want.p, want.n), "the command's file differs");
    mem_free_all(cli.p, got.p, want.p);
}

/* llama.cpp's logits for ref/once.txt, teacher-forced: F32 tolerances of
 * ../shared/oracle/README.md. */
static void logits_match_llama_cpp(void)
{
    struct oracle_ref ref;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/realmodels/ref", test_shared_dir());
    if (oracle_load(&ref, dir, "stories260K.once"))
        SKIP("no reference stories260K.once in %s", dir);
    struct engine e;
    struct buf prompt = slurp(real("ref/once.txt"));
    if (open_model(&e, COMMITTED, 512)) {
        oracle_free(&ref);
        free(prompt.p);
        return;
    }
    struct tl_error err = { 0 };
    int32_t *ids = NULL;
    int n_ids = 0;
    int rc = tokenizer_encode(&e.tok, (const char *)prompt.p, prompt.n, true, true, &ids, &n_ids, &err);
    CHECK(rc == TL_OK && n_ids == ref.n_prompt && !memcmp(ids, ref.prompt, (size_t)n_ids * sizeof *ids),
          "prompt tokens differ from llama.cpp's (%d vs %d)", n_ids, ref.n_prompt);
    oracle_check(&e, &ref, "f32", "stories260K.once");
    free(ids);
    free(prompt.p);
    engine_close(&e);
    oracle_free(&ref);
}

/* The two other checkpoints: convert with the command, tokenize, a few tokens. */
static void other_checkpoints_run(void)
{
    static const struct { const char *ckpt, *tok, *prompt; int n_vocab, n_ctx; } m[] = {
        { "aidreams260K.bin", "aidreams-tok512.bin", "Once upon a time", 512, 128 },
        /* "主题：明月 体裁：五绝\n" */
        { "zh-poem-750K.bin", "zh-poem-tok2048.bin",
          "\xe4\xb8\xbb\xe9\xa2\x98\xef\xbc\x9a\xe6\x98\x8e\xe6\x9c\x88 "
          "\xe4\xbd\x93\xe8\xa3\x81\xef\xbc\x9a\xe4\xba\x94\xe7\xbb\x9d\n", 2048, 128 },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        const char *gp = tmp_path("other.gguf");
        CHECK(tinyllm("convert %s %s %s", real(m[i].ckpt), real(m[i].tok), gp) == 0, "%s: %s", m[i].ckpt, res.err);
        struct engine e;
        char text[1024];
        if (open_model(&e, gp, 0))
            continue;
        CHECK(e.model.hp.n_vocab == m[i].n_vocab && e.model.hp.n_ctx_train == m[i].n_ctx, "%s: shape", m[i].ckpt);
        int32_t *ids = NULL;
        int n = 0;
        struct tl_error err = { 0 };
        CHECK(tokenizer_encode(&e.tok, m[i].prompt, strlen(m[i].prompt), true, true, &ids, &n, &err) == TL_OK &&
              n > 2 && ids[0] == 1, "%s: tokenize: %s", m[i].ckpt, err.msg);
        free(ids);
        if (greedy(&e, m[i].prompt, 8, text, sizeof text) == TL_OK)
            printf("  %s: '%s'\n", m[i].ckpt, text);
        engine_close(&e);
    }
}

int main(void)
{
    RUN_TEST(synthetic_converts);
    RUN_TEST(hostile_checkpoints);
    RUN_TEST(hostile_tokenizers);
    RUN_TEST(command_line);
    RUN_TEST(committed_model_tells_the_story);
    RUN_TEST(readme_commands);
    if (!test_shared_dir()) {
        RUN_TEST(no_shared);
        return test_finish();
    }
    RUN_TEST(converts_to_the_committed_file);
    RUN_TEST(logits_match_llama_cpp);
    RUN_TEST(other_checkpoints_run);
    return test_finish();
}
