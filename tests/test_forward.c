/* test_forward.c: the forward pass on random models built here: a batch
 * equals the same tokens one at a time, thread counts give identical bits,
 * every kernel set agrees with scalar, and the context limit holds. Also
 * model_open's checks on inconsistent files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "format/gguf_write.h"
#include "model_builder.h"
#include "test.h"
#include "util/mem.h"

#define N_TOK 19

/* Write a tiny model of weight type t; returns its path. */
static const char *tiny_model(uint32_t t, const char *tag)
{
    static char path[512];
    char name[64];
    snprintf(name, sizeof name, "tiny-%s.gguf", tag);
    model_builder_tmp_file(t, name, path, sizeof path);
    return path;
}

/* Logits of N_TOK fixed tokens, evaluated in batches of `batch`. */
static float *eval_rows(const char *path, int batch, int threads, const char *kset)
{
    struct engine e;
    struct engine_opts o = { .model_path = path, .n_ctx = 64, .n_threads = threads, .n_batch = 64,
                             .kernels = kset };
    struct tl_error err = { 0 };
    int rc = engine_open(&e, &o, &err);
    if (rc) {
        printf("  engine_open: %s\n", err.msg);
        return NULL;
    }
    int nv = e.model.hp.n_vocab;
    float *rows = malloc((size_t)N_TOK * nv * sizeof *rows);
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        tok[i] = (int32_t)((i * 37 + 1) % nv);
    for (int i = 0; i < N_TOK; i += batch) {
        int n = N_TOK - i < batch ? N_TOK - i : batch;
        if (forward(&e.st, tok + i, n, true, &err)) {
            printf("  forward: %s\n", err.msg);
            free(rows);
            rows = NULL;
            break;
        }
        memcpy(rows + (size_t)i * nv, e.st.logits, (size_t)n * nv * sizeof *rows);
    }
    engine_close(&e);
    return rows;
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double worst = 0.0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
        double d = fabs((double)a[i] - b[i]);
        worst = d > worst || isnan(d) ? d : worst;
    }
    return worst / scale;
}

static void batch_equals_sequential(void)
{
    const char *path = tiny_model(TL_F32, "f32");
    float *all = eval_rows(path, N_TOK, 2, "scalar"), *one = eval_rows(path, 1, 2, "scalar"),
          *mixed = eval_rows(path, 5, 2, "scalar");
    CHECK(all && one && mixed, "evaluation failed");
    if (all && one && mixed) {
        double d1 = max_rel_diff(one, all, (size_t)N_TOK * 512), d2 = max_rel_diff(mixed, all, (size_t)N_TOK * 512);
        CHECK(d1 < 1e-4, "one at a time differs from one batch by %.3g", d1);
        CHECK(d2 < 1e-4, "batches of 5 differ from one batch by %.3g", d2);
    }
    mem_free_all(all, one, mixed);
}

static void threads_give_identical_bits(void)
{
    const char *path = tiny_model(TL_Q8_0, "q8_0");
    for (int batch = 7; batch > 0; batch -= 6) {   /* batches, then decode's own split */
        float *a = eval_rows(path, batch, 1, NULL), *b = eval_rows(path, batch, 3, NULL);
        CHECK(a && b, "evaluation failed");
        if (a && b)
            CHECK(!memcmp(a, b, (size_t)N_TOK * 512 * sizeof *a), "batches of %d: 1 and 3 threads differ", batch);
        free(a);
        free(b);
    }
}

static void kernel_sets_agree(void)
{
    static const uint32_t types[] = { TL_F32, TL_F16, TL_BF16, TL_Q8_0, TL_Q4_0 };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const char *name = type_info(types[t])->name;
        const char *path = tiny_model(types[t], name);
        float *ref = eval_rows(path, 8, 2, "scalar");
        CHECK(ref != NULL, "%s: scalar evaluation failed", name);
        for (const char *const *ks = kernels_names(); ref && *ks; ks++) {
            struct kernels k;
            if (!kernels_get(*ks, &k))
                continue;
            float *got = eval_rows(path, 8, 2, *ks);
            double d = got ? max_rel_diff(got, ref, (size_t)N_TOK * 512) : 1.0;
            /* kernel sets sum in different orders; with quantized weights a
             * last-bit difference can flip an f16 attention weight or a Q8
             * activation rounding, so those get the oracle's quantized bound */
            double tol = type_info(types[t])->block_elems > 1 ? 2e-2 : 2e-3;
            CHECK(d < tol, "%s with %s differs from scalar by %.3g", name, *ks, d);
            free(got);
        }
        free(ref);
    }
}

/* Weights are repacked x16 (format/quant.h) only in memory the model owns, and
 * only the types the set has products for; the engine reads a file in
 * when any weight will be (kernel_sets_agree checks the numbers). */
static void weights_repacked_in_memory_only(void)
{
    struct kernels k;
    bool any = false;
    for (const char *const *ks = kernels_names(); *ks && !any; ks++)
        any = kernels_get(*ks, &k) && kernels_repack(&k);
    if (!any) {
        SKIP("no kernel set here repacks weights");
        return;
    }
    struct tl_error err = { 0 };
    struct model m;
    char q4[512];
    snprintf(q4, sizeof q4, "%s", tiny_model(TL_Q4_0, "repack-q4_0"));   /* tiny_model's buffer is reused */
    CHECK(model_open_with(&m, q4, GGUF_LOAD_MMAP, &err) == TL_OK, "open: %s", err.msg);
    CHECK(model_packs(&m, &k), "%s would repack a Q4_0 model", k.name);
    CHECK(model_pack(&m, &k, &err) == TL_OK && !m.layers[0].w_down.packed && !m.tok_embd.packed,
          "a mapped file is left as stored");
    model_close(&m);
    CHECK(model_open_with(&m, q4, GGUF_LOAD_COPY, &err) == TL_OK, "open: %s", err.msg);
    CHECK(model_pack(&m, &k, &err) == TL_OK && m.layers[0].w_down.packed && m.layers[0].wq.packed &&
              m.tok_embd.packed && m.output.packed == m.tok_embd.packed,
          "a copy is repacked, embeddings too");
    model_close(&m);
    CHECK(model_open_with(&m, tiny_model(TL_F16, "repack-f16"), GGUF_LOAD_MMAP, &err) == TL_OK, "open: %s", err.msg);
    CHECK(!model_packs(&m, &k), "nothing in an F16 model repacks");
    model_close(&m);
    struct engine e;
    struct engine_opts o = { .model_path = q4, .n_ctx = 16, .n_threads = 1, .kernels = k.name };
    int rc = engine_open(&e, &o, &err);
    CHECK(rc == TL_OK, "engine_open: %s", err.msg);
    if (rc == TL_OK) {
        CHECK(e.model.gguf.copied && e.model.layers[0].w_down.packed, "the engine reads in and repacks by default");
        engine_close(&e);
    }
    o.kernels = "no-such-set";
    CHECK(engine_open(&e, &o, &err) == TL_EINVAL && strstr(err.msg, "no-such-set"), "unknown kernel set: %s", err.msg);
}

static void context_limit(void)
{
    const char *path = tiny_model(TL_F32, "ctx");
    struct engine e;
    struct engine_opts o = { .model_path = path, .n_ctx = 8, .n_threads = 1 };
    struct tl_error err = { 0 };
    CHECK(engine_open(&e, &o, &err) == TL_OK, "open: %s", err.msg);
    int32_t tok[9] = { 1, 5, 6, 7, 8, 9, 10, 11, 12 };
    CHECK(forward(&e.st, tok, 6, false, &err) == TL_OK, "6 of 8 fit");
    CHECK(forward(&e.st, tok, 3, false, &err) == TL_ERANGE, "9 of 8 do not");
    CHECK(strstr(err.msg, "context") != NULL, "message: %s", err.msg);
    int32_t bad = 100000;
    CHECK(forward(&e.st, &bad, 1, false, &err) == TL_EINVAL, "token outside the vocabulary");
    CHECK(forward(&e.st, tok, 2, false, &err) == TL_OK, "8 of 8 fit");
    engine_close(&e);
}

/* A model of config c in w, for the caller to add KVs and tensors to before
 * finish_model writes it to TMPDIR/NAME.gguf (returned; static storage). */
static void begin_model(const struct model_builder_config *c, struct gguf_writer *w, struct model_builder *mb)
{
    struct tl_error err = { 0 };
    gguf_writer_init(w);
    CHECK(model_builder_init(mb, c, w, &err) == TL_OK, "%s", err.msg);
}

static const char *finish_model(struct gguf_writer *w, struct model_builder *mb, const char *name)
{
    static char path[512];
    struct tl_error err = { 0 };
    snprintf(path, sizeof path, "%s/%s.gguf", test_tmpdir(), name);
    CHECK(gguf_writer_write_file(w, path, &err) == TL_OK, "%s", err.msg);
    model_builder_free(mb);
    gguf_writer_free(w);
    return path;
}

/* The tiny model with Llama 3's rope_freqs.weight (every pair's frequency
 * divided by `factor`), or, with factor 0, linear rope scaling by 2. */
static const char *rope_model(float factor, const char *tag)
{
    static float freqs[32];
    char name[64];
    struct model_builder_config c;
    model_builder_defaults(&c);
    struct gguf_writer w;
    struct model_builder mb;
    struct tl_error err = { 0 };
    begin_model(&c, &w, &mb);
    int n = c.n_embd / c.n_head / 2;   /* rotated pairs per head */
    for (int i = 0; i < n; i++)
        freqs[i] = factor;
    if (factor > 0) {
        gguf_writer_add_tensor(&w, "rope_freqs.weight", 1, (int64_t[]){ n }, TL_F32, freqs,
                               (uint64_t)n * sizeof(float), &err);
    } else {
        gguf_writer_set_str(&w, "llama.rope.scaling.type", "linear", &err);
        gguf_writer_set_f32(&w, "llama.rope.scaling.factor", 2.0f, &err);
    }
    snprintf(name, sizeof name, "rope-%s", tag);
    return finish_model(&w, &mb, name);
}

/* rope_freqs divides each pair's frequency, as llama.cpp's freq_factors do:
 * all 2 is linear scaling by 2; all 1 changes nothing. */
static void rope_freqs_divide_frequencies(void)
{
    size_t n = (size_t)N_TOK * 512;   /* the tiny vocabulary */
    float *plain = eval_rows(tiny_model(TL_F32, "f32"), N_TOK, 2, "scalar");
    float *ones = eval_rows(rope_model(1.0f, "ones"), N_TOK, 2, "scalar");
    float *twos = eval_rows(rope_model(2.0f, "twos"), N_TOK, 2, "scalar");
    float *linear = eval_rows(rope_model(0.0f, "linear"), N_TOK, 2, "scalar");
    CHECK(plain && ones && twos && linear, "evaluation failed");
    if (plain && ones && twos && linear) {
        CHECK(max_rel_diff(ones, plain, n) == 0.0, "factors of 1: %g", max_rel_diff(ones, plain, n));
        CHECK(max_rel_diff(twos, linear, n) < 1e-6, "factors of 2 = linear x2: %g", max_rel_diff(twos, linear, n));
        CHECK(max_rel_diff(twos, plain, n) > 1e-3, "factors of 2 change the logits: %g", max_rel_diff(twos, plain, n));
    }
    mem_free_all(plain, ones, twos, linear);
}

/* The tiny model as Gemma 2: post-norms after both blocks, a sliding window
 * of `window` positions on even layers, attention and final soft-capping
 * (0: the key set to 0, which turns it off). */
static const char *gemma2_model(int window, float attn_cap, float final_cap, const char *tag)
{
    static float ones[2][256];
    char name[64];
    struct model_builder_config c;
    model_builder_defaults(&c);
    c.arch = "gemma2";
    struct gguf_writer w;
    struct model_builder mb;
    struct tl_error err = { 0 };
    begin_model(&c, &w, &mb);
    for (int i = 0; i < c.n_embd; i++)
        ones[0][i] = 1.0f, ones[1][i] = 0.5f + (float)(i % 7) / 7.0f;
    for (int il = 0; il < c.n_layer; il++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "blk.%d.post_attention_norm.weight", il);
        snprintf(b, sizeof b, "blk.%d.post_ffw_norm.weight", il);
        gguf_writer_add_tensor(&w, a, 1, (int64_t[]){ c.n_embd }, TL_F32, ones[0], (uint64_t)c.n_embd * 4, &err);
        gguf_writer_add_tensor(&w, b, 1, (int64_t[]){ c.n_embd }, TL_F32, ones[1], (uint64_t)c.n_embd * 4, &err);
    }
    gguf_writer_set_u32(&w, "gemma2.attention.sliding_window", (uint32_t)window, &err);
    gguf_writer_set_f32(&w, "gemma2.attn_logit_softcapping", attn_cap, &err);
    gguf_writer_set_f32(&w, "gemma2.final_logit_softcapping", final_cap, &err);
    snprintf(name, sizeof name, "gemma2-%s", tag);
    return finish_model(&w, &mb, name);
}

/* Gemma 2's window and soft-capping are done twice, in the prompt path and
 * in decode's: a batch equals the tokens one at a time with a window of 5
 * (N_TOK = 19 positions); the window and the attention cap change the
 * logits; the final cap is c * tanh(logits / c) of the uncapped logits.
 * (Against llama.cpp: scripts/vs-llama.sh, gemma2-* configs.) */
static void gemma2_window_and_softcaps(void)
{
    size_t n = (size_t)N_TOK * 512;
    const char *p = gemma2_model(5, 2.0f, 0.0f, "w5");
    float *all = eval_rows(p, N_TOK, 2, NULL), *one = eval_rows(p, 1, 2, NULL);
    float *wide = eval_rows(gemma2_model(4096, 2.0f, 0.0f, "wide"), N_TOK, 2, NULL);
    float *nocap = eval_rows(gemma2_model(5, 0.0f, 0.0f, "nocap"), N_TOK, 2, NULL);
    float *fcap = eval_rows(gemma2_model(5, 2.0f, 3.0f, "fcap"), N_TOK, 2, NULL);
    CHECK(all && one && wide && nocap && fcap, "evaluation failed");
    if (all && one && wide && nocap && fcap) {
        /* GeGLU goes through f16 (as llama.cpp), which turns 1e-7 into 1e-4 at times; a
         * window off by one position differs by 1e-2 */
        CHECK(max_rel_diff(one, all, n) < 1e-3, "one at a time vs one batch: %g", max_rel_diff(one, all, n));
        CHECK(max_rel_diff(all, wide, n) > 1e-3, "the window changes nothing: %g", max_rel_diff(all, wide, n));
        CHECK(max_rel_diff(all, nocap, n) > 1e-3, "the attention cap changes nothing: %g", max_rel_diff(all, nocap, n));
        CHECK(!memcmp(all, wide, 5 * 512 * sizeof *all), "positions inside the window differ");
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += fabsf(fcap[i] - tanhf(all[i] / 3.0f) * 3.0f) > 1e-6f;
        CHECK(bad == 0, "final cap: %d logits are not 3 tanh(l / 3)", bad);
    }
    mem_free_all(all, one, wide, nocap, fcap);
    struct model m;
    struct tl_error err = { 0 };
    CHECK(model_open(&m, gemma2_model(5, -2.0f, 0.0f, "neg"), &err) == TL_EFORMAT && strstr(err.msg, "soft-capping"),
          "negative cap refused: %s", err.msg);
}

/* Build the tiny model with one KV overridden; return model_open's code. */
static int open_with(const char *key, uint32_t value, struct tl_error *err)
{
    struct model_builder_config c;
    model_builder_defaults(&c);
    struct gguf_writer w;
    struct model_builder mb;
    gguf_writer_init(&w);
    int rc = model_builder_init(&mb, &c, &w, err);
    if (rc == TL_OK) {
        if (!strcmp(key, "general.architecture"))
            gguf_writer_set_str(&w, key, "mamba", err);
        else
            gguf_writer_set_u32(&w, key, value, err);
        char path[512];
        snprintf(path, sizeof path, "%s/bad.gguf", test_tmpdir());
        rc = gguf_writer_write_file(&w, path, err);
        model_builder_free(&mb);
        struct model m;
        if (rc == TL_OK && (rc = model_open(&m, path, err)) == TL_OK)
            model_close(&m);
    }
    gguf_writer_free(&w);
    return rc;
}

static void inconsistent_models_refused(void)
{
    struct tl_error err = { 0 };
    CHECK(open_with("general.architecture", 0, &err) == TL_EUNSUPPORTED, "unknown arch");
    CHECK(strstr(err.msg, "mamba") && strstr(err.msg, "llama"), "names it and the supported: %s", err.msg);
    CHECK(open_with("llama.embedding_length", 512, &err) == TL_EFORMAT, "width mismatch: %s", err.msg);
    CHECK(strstr(err.msg, "token_embd") != NULL, "names the tensor: %s", err.msg);
    CHECK(open_with("llama.attention.head_count", 0, &err) == TL_EFORMAT, "zero heads: %s", err.msg);
    CHECK(open_with("llama.attention.head_count_kv", 3, &err) == TL_EFORMAT, "kv heads not dividing: %s", err.msg);
    CHECK(open_with("llama.block_count", 3, &err) == TL_EFORMAT, "missing layer: %s", err.msg);
    CHECK(strstr(err.msg, "blk.2") != NULL, "names the missing tensor: %s", err.msg);
    CHECK(open_with("llama.feed_forward_length", 1u << 31, &err) == TL_EFORMAT, "huge n_ff: %s", err.msg);
}

/* general.alignment 1 lets tensor data start on any address: GGUF allows
 * it, but the kernels read f16 and f32 fields in place, so the model is
 * refused with a message, not read misaligned (UBSan would stop here). */
static void misaligned_data_refused(void)
{
    int refused = 0, loaded = 0;
    for (int pad = 0; pad < 4; pad++) {   /* the tiny model is F32: 4-byte fields */
        struct model_builder_config c;
        model_builder_defaults(&c);
        struct gguf_writer w;
        struct model_builder mb;
        struct tl_error err = { 0 };
        gguf_writer_init(&w);
        CHECK(model_builder_init(&mb, &c, &w, &err) == TL_OK, "%s", err.msg);
        gguf_writer_set_u32(&w, "general.alignment", 1, &err);
        gguf_writer_set_strn(&w, "test.pad", "xxx", (uint64_t)pad, &err);
        char path[512];
        snprintf(path, sizeof path, "%s/align1.gguf", test_tmpdir());
        CHECK(gguf_writer_write_file(&w, path, &err) == TL_OK, "%s", err.msg);
        model_builder_free(&mb);
        gguf_writer_free(&w);
        struct gguf g;
        CHECK(gguf_open(&g, path, &err) == TL_OK, "GGUF itself is valid: %s", err.msg);
        int odd = (int)(g.data_off % 4 != 0);
        gguf_close(&g);
        struct model m;
        int rc = model_open(&m, path, &err);
        if (rc == TL_OK)
            model_close(&m);
        if (odd) {
            refused++;
            CHECK(rc == TL_EFORMAT && strstr(err.msg, "aligned"), "misaligned data refused: %s", err.msg);
        } else {
            loaded++;
            CHECK(rc == TL_OK, "aligned data loads: %s", err.msg);
        }
    }
    CHECK(refused == 3 && loaded == 1, "paddings 0-3 put the data on each address mod 4");
}

/* No logits before the first evaluation: NULL, not a pointer before the
 * buffer; then the last row of the last batch. */
static void last_logits_none_before_eval(void)
{
    struct engine e;
    struct engine_opts o = { .model_path = tiny_model(TL_F32, "last"), .n_ctx = 8, .n_threads = 1 };
    struct tl_error err = { 0 };
    int rc = engine_open(&e, &o, &err);
    CHECK(rc == TL_OK, "open: %s", err.msg);
    if (rc)
        return;
    CHECK(engine_last_logits(&e) == NULL, "no logits yet");
    int32_t tok[3] = { 1, 5, 6 };
    CHECK(engine_eval(&e, tok, 3, NULL, NULL, &err) == TL_OK, "eval: %s", err.msg);
    CHECK(engine_last_logits(&e) == e.st.logits, "one row kept: the last token's");
    engine_close(&e);
}

/* Each thread's attention scratch: regions 64-byte aligned, disjoint,
 * inside the bytes laid out, and as large as prefill blocks and decode
 * take, for shapes where n_ctx is below head_dim and G * 16 below n_head. */
static void attn_scratch_regions(void)
{
    struct { int n_head, n_head_kv, hd, hdv, n_ctx; } shapes[] = {
        { 8, 2, 32, 32, 64 }, { 32, 32, 256, 128, 1 }, { 9, 3, 64, 64, 7 }, { 4, 1, 16, 80, 3000 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct hparams hp = { .n_head = shapes[i].n_head, .n_head_kv = shapes[i].n_head_kv,
                              .head_dim = shapes[i].hd, .head_dim_v = shapes[i].hdv };
        struct attn_scratch a;
        size_t bytes = attn_scratch_layout(&a, &hp, shapes[i].n_ctx, NULL);
        char *base = aligned_alloc(64, bytes);
        CHECK(base && bytes % 64 == 0, "shape %zu: %zu bytes", i, bytes);
        if (!base)
            return;
        attn_scratch_layout(&a, &hp, shapes[i].n_ctx, base);
        struct { const void *p; size_t bytes; } r[] = {
            { a.scores, a.n_scores * 4 }, { a.out, a.n_out * 4 }, { a.weights, a.n_weights * 2 },
            { a.q16, a.n_q16 * 2 }, { a.row, a.n_row * 4 }, { a.v16, a.n_v16 * 2 },
        };
        for (int j = 0; j < 6; j++) {
            size_t off = (size_t)((const char *)r[j].p - base);
            CHECK(off % 64 == 0 && off + r[j].bytes <= bytes, "shape %zu region %d at %zu", i, j, off);
            for (int l = 0; l < j; l++) {
                size_t o2 = (size_t)((const char *)r[l].p - base);
                CHECK(off >= o2 + r[l].bytes || o2 >= off + r[j].bytes, "shape %zu: regions %d, %d overlap", i, l, j);
            }
        }
        size_t G = (size_t)hp.n_head / hp.n_head_kv, ctx = (size_t)shapes[i].n_ctx, rows = G * 16;
        CHECK(a.n_scores >= rows * ctx && a.n_weights >= rows * ctx && a.n_out >= rows * hp.head_dim_v &&
                  a.n_q16 >= rows * hp.head_dim && a.n_q16 >= (size_t)hp.n_head * hp.head_dim &&
                  a.n_row >= ctx && a.n_row >= (size_t)hp.head_dim && a.n_v16 >= (size_t)hp.head_dim_v,
              "shape %zu: a prefill block of 16 tokens and a decode step fit", i);
        free(base);
    }
}

int main(void)
{
    RUN_TEST(batch_equals_sequential);
    RUN_TEST(threads_give_identical_bits);
    RUN_TEST(kernel_sets_agree);
    RUN_TEST(weights_repacked_in_memory_only);
    RUN_TEST(context_limit);
    RUN_TEST(rope_freqs_divide_frequencies);
    RUN_TEST(gemma2_window_and_softcaps);
    RUN_TEST(inconsistent_models_refused);
    RUN_TEST(misaligned_data_refused);
    RUN_TEST(last_logits_none_before_eval);
    RUN_TEST(attn_scratch_regions);
    return test_finish();
}
