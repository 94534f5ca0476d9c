/* test_quantize.c: `tinyllm quantize`: the per-tensor types of every mix on
 * six model shapes, as llama-quantize chose them; converted bytes against
 * quantize_row; the oracle models re-made byte for byte and their logits
 * scored against llama.cpp's; and the command's exit codes and messages. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "format/gguf_write.h"
#include "model_builder.h"
#include "oracle.h"
#include "format/quant.h"
#include "format/quantize.h"
#include "engine/sampler.h"
#include "test.h"
#include "util/mem.h"

/* ---- type choice against llama-quantize ----
 * Expectations were read from the files llama-quantize (Feb 2025) wrote for
 * random F32 models of these shapes. One character per type; a role's string
 * has one character per layer, or one for all layers. */

enum { E_TOK, E_OUT, E_Q, E_K, E_V, E_O, E_GATE, E_UP, E_DOWN, E_N };

struct expect {
    const char *mix;
    const char *t[E_N];   /* token_embd, output ("-": tied), then per-layer roles */
};

struct shape {
    const char *name;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_expert;
    int tied;
    const struct expect *exp;
    size_t n_exp;
};

static char type_char(uint32_t t)
{
    static const struct { uint32_t t; char c; } map[] = {
        { TL_Q2_K, '2' }, { TL_Q3_K, '3' }, { TL_Q4_K, '4' }, { TL_Q5_K, '5' }, { TL_Q6_K, '6' },
        { TL_Q8_0, '8' }, { TL_Q4_0, 'A' }, { TL_Q4_1, 'B' }, { TL_Q5_0, 'C' }, { TL_Q5_1, 'D' },
        { TL_F16, 'H' },  { TL_BF16, 'b' }, { TL_F32, 'F' },  { TL_IQ4_NL, 'I' },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].t == t)
            return map[i].c;
    return '?';
}

/* 16 layers, GQA 4, untied: every layer rule, n/16 > 0, blk.10 after blk.9. */
static const struct expect exp_a[] = {
    { "q2_k", { "2", "6", "2", "2", "4", "3", "2", "2", "3" } },
    { "q3_k_s", { "3", "6", "3", "3", "3", "3", "3", "3", "3" } },
    { "q3_k_m", { "3", "6", "3", "3", "5544444444444444", "4", "3", "3", "5444444444444444" } },
    { "q3_k_l", { "3", "6", "3", "3", "5", "5", "3", "3", "5" } },
    { "q4_k_s", { "4", "6", "4", "4", "5555444444444444", "4", "4", "4", "5544444444444444" } },
    { "q4_k_m", { "4", "6", "4", "4", "6644644644644666", "4", "4", "4", "6644644644644666" } },
    { "q5_k_s", { "5", "6", "5", "5", "5", "5", "5", "5", "5" } },
    { "q5_k_m", { "5", "6", "5", "5", "6655655655655666", "5", "5", "5", "6655655655655666" } },
    { "q6_k", { "6", "6", "6", "6", "6", "6", "6", "6", "6" } },
    { "q8_0", { "8", "8", "8", "8", "8", "8", "8", "8", "8" } },
    { "q4_0", { "A", "6", "A", "A", "A", "A", "A", "A", "A" } },
    { "q4_1", { "B", "6", "B", "B", "B", "B", "B", "B", "B" } },
    { "q5_0", { "C", "6", "C", "C", "C", "C", "C", "C", "C" } },
    { "q5_1", { "D", "6", "D", "D", "D", "D", "D", "D", "D" } },
    { "f16", { "H", "H", "H", "H", "H", "H", "H", "H", "H" } },
    { "bf16", { "b", "b", "b", "b", "b", "b", "b", "b", "b" } },
    { "iq4_nl", { "I", "6", "I", "I", "5", "I", "I", "I", "55IIIIIIIIIIIIII" } },
};

/* 12 layers, GQA 2, tied: token_embd takes the output's rule. */
static const struct expect exp_a2[] = {
    { "q2_k", { "6", "-", "2", "2", "3", "3", "2", "2", "3" } },
    { "q3_k_s", { "6", "-", "3", "3", "3", "3", "3", "3", "3" } },
    { "q3_k_m", { "6", "-", "3", "3", "554444444444", "4", "3", "3", "4" } },
    { "q3_k_l", { "6", "-", "3", "3", "5", "5", "3", "3", "5" } },
    { "q4_k_s", { "6", "-", "4", "4", "555544444444", "4", "4", "4", "544444444444" } },
    { "q4_k_m", { "6", "-", "4", "4", "644644644666", "4", "4", "4", "644644644666" } },
    { "q5_k_s", { "6", "-", "5", "5", "5", "5", "5", "5", "5" } },
    { "q5_k_m", { "6", "-", "5", "5", "655655655666", "5", "5", "5", "655655655666" } },
    { "q6_k", { "6", "-", "6", "6", "6", "6", "6", "6", "6" } },
    { "q8_0", { "8", "-", "8", "8", "8", "8", "8", "8", "8" } },
    { "q4_0", { "6", "-", "A", "A", "A", "A", "A", "A", "A" } },
    { "f16", { "H", "-", "H", "H", "H", "H", "H", "H", "H" } },
    { "iq4_nl", { "6", "-", "I", "I", "I", "I", "I", "I", "5IIIIIIIIIII" } },
};

/* width 160, n_ff 320: no row is a multiple of 256, every K type falls back. */
static const struct expect exp_b[] = {
    { "q2_k", { "I", "8", "I", "I", "I", "I", "I", "I", "I" } },
    { "q3_k_s", { "I", "8", "I", "I", "I", "I", "I", "I", "I" } },
    { "q3_k_m", { "I", "8", "I", "I", "DDCC", "C", "I", "I", "C" } },
    { "q3_k_l", { "I", "8", "I", "I", "D", "D", "I", "I", "D" } },
    { "q4_k_s", { "C", "8", "C", "C", "D", "C", "C", "C", "C" } },
    { "q4_k_m", { "C", "8", "C", "C", "CC88", "C", "C", "C", "CC88" } },
    { "q5_k_s", { "D", "8", "D", "D", "D", "D", "D", "D", "D" } },
    { "q5_k_m", { "D", "8", "D", "D", "DD88", "D", "D", "D", "DD88" } },
    { "q6_k", { "8", "8", "8", "8", "8", "8", "8", "8", "8" } },
    { "q4_0", { "A", "8", "A", "A", "A", "A", "A", "A", "A" } },
    { "iq4_nl", { "I", "8", "I", "I", "I", "I", "I", "I", "I" } },
};

/* width 256, n_ff 320, MHA (GQA 1): only ffn_down falls back. */
static const struct expect exp_c[] = {
    { "q2_k", { "2", "6", "2", "2", "3", "3", "2", "2", "I" } },
    { "q3_k_s", { "3", "6", "3", "3", "3", "3", "3", "3", "I" } },
    { "q3_k_m", { "3", "6", "3", "3", "55444444", "4", "3", "3", "C" } },
    { "q3_k_l", { "3", "6", "3", "3", "5", "5", "3", "3", "D" } },
    { "q4_k_s", { "4", "6", "4", "4", "55554444", "4", "4", "4", "DCCCCCCC" } },
    { "q4_k_m", { "4", "6", "4", "4", "64464466", "4", "4", "4", "8CC8CC88" } },
    { "q5_k_s", { "5", "6", "5", "5", "5", "5", "5", "5", "D" } },
    { "q5_k_m", { "5", "6", "5", "5", "65565566", "5", "5", "5", "8DD8DD88" } },
    { "q6_k", { "6", "6", "6", "6", "6", "6", "6", "6", "8" } },
    { "iq4_nl", { "I", "6", "I", "I", "I", "I", "I", "I", "DIIIIIII" } },
};

/* 4 layers of 8 experts (ffn_*_exps, 3-D; ffn_gate_inp stays F32). */
static const struct expect exp_moe[] = {
    { "q2_k", { "2", "6", "2", "8", "8", "5", "2", "2", "3" } },
    { "q3_k_s", { "3", "6", "3", "8", "8", "5", "3", "3", "3" } },
    { "q3_k_m", { "3", "6", "3", "8", "8", "5", "3", "3", "4" } },
    { "q3_k_l", { "3", "6", "3", "8", "8", "3", "3", "3", "5" } },
    { "q4_k_s", { "4", "6", "4", "8", "8", "5", "4", "4", "4" } },
    { "q4_k_m", { "4", "6", "4", "8", "8", "5", "4", "4", "4466" } },
    { "q5_k_m", { "5", "6", "5", "8", "8", "5", "5", "5", "5566" } },
    { "q4_0", { "A", "6", "A", "8", "8", "A", "A", "A", "A" } },
};

/* 80 layers with GQA: llama.cpp's "70B" class gives attn_v Q5_K. */
#define L10(s) s s s s s s s s s s
static const struct expect exp_70b[] = {
    { "q2_k", { "2", "6", "2", "2", "5", "3", "2", "2", "3" } },
    { "q3_k_s", { "3", "6", "3", "3", "5", "3", "3", "3", "3" } },
    { "q3_k_m", { "3", "6", "3", "3", "5", "4", "3", "3", "55555" L10("4444444") "44444" } },
    { "q4_k_s", { "4", "6", "4", "4", "5", "4", "4", "4", "5555555555" L10("4444444") } },
    { "q4_k_m", { "4", "6", "4", "4", "6666666666" L10("556556") "6666666666", "4", "4", "4",
                  "6666666666" L10("446446") "6666666666" } },
    { "q6_k", { "6", "6", "6", "6", "6", "6", "6", "6", "6" } },
    { "iq4_nl", { "I", "6", "I", "I", "5", "I", "I", "I", "5555555555" L10("IIIIIII") } },
};

static const struct shape shapes[] = {
    { "A", 256, 16, 8, 2, 512, 0, 0, exp_a, sizeof exp_a / sizeof exp_a[0] },
    { "A2", 256, 12, 8, 4, 512, 0, 1, exp_a2, sizeof exp_a2 / sizeof exp_a2[0] },
    { "B", 160, 4, 4, 2, 320, 0, 0, exp_b, sizeof exp_b / sizeof exp_b[0] },
    { "C", 256, 8, 8, 8, 320, 0, 0, exp_c, sizeof exp_c / sizeof exp_c[0] },
    { "MoE", 256, 4, 8, 2, 256, 8, 0, exp_moe, sizeof exp_moe / sizeof exp_moe[0] },
    { "70B", 256, 80, 8, 2, 256, 0, 0, exp_70b, sizeof exp_70b / sizeof exp_70b[0] },
};

#define MAX_T (3 + 80 * 11)
#define N_VOCAB 512

struct tensor_list {
    struct quantize_tensor t[MAX_T];
    char   names[MAX_T][48];
    int    role[MAX_T];    /* E_* or -1 for norms and routers */
    int    layer[MAX_T];
    size_t n;
};

static void add(struct tensor_list *l, int role, int layer, const char *name, int64_t ne0, int64_t ne1,
                int64_t ne2)
{
    size_t i = l->n++;
    if (layer >= 0)
        snprintf(l->names[i], sizeof l->names[i], "blk.%d.%s", layer, name);
    else
        snprintf(l->names[i], sizeof l->names[i], "%s", name);
    l->t[i] = (struct quantize_tensor){ l->names[i], { ne0, ne1, ne2, 1 }, TL_F32 };
    l->role[i] = role;
    l->layer[i] = layer;
}

/* The tensors of a shape in model_builder's order (not llama.cpp's). */
static void build_tensors(const struct shape *s, struct tensor_list *l)
{
    int64_t e = s->n_embd, kv = s->n_embd / s->n_head * s->n_head_kv, ff = s->n_ff, x = s->n_expert;
    l->n = 0;
    add(l, E_TOK, -1, "token_embd.weight", e, N_VOCAB, 1);
    for (int i = 0; i < s->n_layer; i++) {
        add(l, -1, i, "attn_norm.weight", e, 1, 1);
        add(l, E_Q, i, "attn_q.weight", e, e, 1);
        add(l, E_K, i, "attn_k.weight", e, kv, 1);
        add(l, E_V, i, "attn_v.weight", e, kv, 1);
        add(l, E_O, i, "attn_output.weight", e, e, 1);
        add(l, -1, i, "ffn_norm.weight", e, 1, 1);
        if (x) {
            add(l, -1, i, "ffn_gate_inp.weight", e, x, 1);
            add(l, E_GATE, i, "ffn_gate_exps.weight", e, ff, x);
            add(l, E_UP, i, "ffn_up_exps.weight", e, ff, x);
            add(l, E_DOWN, i, "ffn_down_exps.weight", ff, e, x);
        } else {
            add(l, E_GATE, i, "ffn_gate.weight", e, ff, 1);
            add(l, E_UP, i, "ffn_up.weight", e, ff, 1);
            add(l, E_DOWN, i, "ffn_down.weight", ff, e, 1);
        }
    }
    add(l, -1, -1, "output_norm.weight", e, 1, 1);
    if (!s->tied)
        add(l, E_OUT, -1, "output.weight", e, N_VOCAB, 1);
}

static char expected_char(const struct expect *x, int role, int layer)
{
    if (role < 0)
        return 'F';
    const char *s = x->t[role];
    return strlen(s) == 1 ? s[0] : s[layer];
}

/* llama.cpp's order: outside blk.N first, then by layer number, by name within. */
static void check_order(const struct tensor_list *l, const size_t *order, const char *what)
{
    for (size_t k = 1; k < l->n; k++) {
        size_t a = order[k - 1], b = order[k];
        int ok = l->layer[a] < l->layer[b] ||
                 (l->layer[a] == l->layer[b] && strcmp(l->names[a], l->names[b]) < 0);
        CHECK(ok, "%s: '%s' before '%s'", what, l->names[a], l->names[b]);
    }
}

static void check_shape(const struct shape *s)
{
    static struct tensor_list l;
    size_t order[MAX_T];
    struct quantize_choice c[MAX_T];
    struct quantize_model m = { .n_layer = s->n_layer, .n_head = s->n_head, .n_head_kv = s->n_head_kv,
                                .n_expert = s->n_expert };
    snprintf(m.arch, sizeof m.arch, "llama");
    build_tensors(s, &l);
    for (size_t e = 0; e < s->n_exp; e++) {
        const struct expect *x = &s->exp[e];
        struct tl_error err = { 0 };
        int rc = quantize_choose(&m, l.t, l.n, quantize_ftype_find(x->mix), false, order, c, &err);
        CHECK(rc == TL_OK, "shape %s %s: %s", s->name, x->mix, err.msg);
        if (rc)
            continue;
        check_order(&l, order, s->name);
        int bad = 0;
        for (size_t i = 0; i < l.n && bad < 3; i++) {
            char want = expected_char(x, l.role[i], l.layer[i]), got = type_char(c[i].type);
            bad += want != got;
            CHECK(want == got, "shape %s %s: %s is %c, llama.cpp chose %c", s->name, x->mix, l.names[i], got, want);
            CHECK(c[i].convert == (c[i].type != TL_F32), "shape %s %s: %s convert flag", s->name, x->mix,
                  l.names[i]);
        }
    }
}

static void test_choice_llama_quantize(void)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_shape(&shapes[i]);
}

/* --pure: the base type everywhere, no fallback: llama.cpp fails on B. */
static void test_choice_pure(void)
{
    static struct tensor_list l;
    size_t order[MAX_T];
    struct quantize_choice c[MAX_T];
    struct quantize_model m = { .n_layer = 16, .n_head = 8, .n_head_kv = 2 };
    struct tl_error err = { 0 };
    snprintf(m.arch, sizeof m.arch, "llama");
    build_tensors(&shapes[0], &l);
    int rc = quantize_choose(&m, l.t, l.n, quantize_ftype_find("Q4_K_M"), true, order, c, &err);
    CHECK(rc == TL_OK, "pure q4_k_m: %s", err.msg);
    for (size_t i = 0; i < l.n && !rc; i++)
        CHECK(c[i].type == (l.role[i] < 0 ? TL_F32 : TL_Q4_K), "pure: %s is %s", l.names[i],
              type_info(c[i].type)->name);
    m.n_layer = 4;
    build_tensors(&shapes[2], &l);
    rc = quantize_choose(&m, l.t, l.n, quantize_ftype_find("q4_k_m"), true, order, c, &err);
    CHECK(rc == TL_EUNSUPPORTED && strstr(err.msg, "--pure"), "pure on 160-wide rows: %d %s", rc, err.msg);
}

/* An MoE tensor whose name has no valid layer: llama.cpp throws. */
static void test_choice_moe_bad_layer(void)
{
    struct quantize_model m = { .n_layer = 2, .n_head = 8, .n_head_kv = 2, .n_expert = 8 };
    struct quantize_tensor t[] = {
        { "blk.0.ffn_down_exps.weight", { 256, 256, 8, 1 }, TL_F32 },
        { "blk.7.ffn_down_exps.weight", { 256, 256, 8, 1 }, TL_F32 },
    };
    size_t order[2];
    struct quantize_choice c[2];
    struct tl_error err = { 0 };
    snprintf(m.arch, sizeof m.arch, "llama");
    int rc = quantize_choose(&m, t, 2, quantize_ftype_find("q4_k_m"), false, order, c, &err);
    CHECK(rc == TL_EFORMAT && strstr(err.msg, "blk.7"), "layer 7 of 2: %d %s", rc, err.msg);
}

static void test_ftype_names(void)
{
    static const struct { const char *name; int ftype; uint32_t base; } cases[] = {
        { "f16", 1, TL_F16 },      { "BF16", 32, TL_BF16 },   { "q8_0", 7, TL_Q8_0 },
        { "Q4_0", 2, TL_Q4_0 },    { "q4_1", 3, TL_Q4_1 },    { "q5_0", 8, TL_Q5_0 },
        { "q5_1", 9, TL_Q5_1 },    { "q2_k", 10, TL_Q2_K },   { "q3_k_s", 11, TL_Q3_K },
        { "Q3_K_M", 12, TL_Q3_K }, { "q3_k_l", 13, TL_Q3_K }, { "q4_k_s", 14, TL_Q4_K },
        { "Q4_K_M", 15, TL_Q4_K }, { "q5_k_s", 16, TL_Q5_K }, { "q5_k_m", 17, TL_Q5_K },
        { "q6_k", 18, TL_Q6_K },   { "Q4_K", 15, TL_Q4_K },   { "f32", 0, TL_F32 },
        { "IQ4_NL", 25, TL_IQ4_NL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct quantize_ftype_info *f = quantize_ftype_find(cases[i].name);
        CHECK(f && f->ftype == cases[i].ftype && f->base_type == cases[i].base, "%s", cases[i].name);
    }
    CHECK(!quantize_ftype_find("q4_k_x") && !quantize_ftype_find("iq2_xxs") && !quantize_ftype_find(""),
          "unknown names");
    CHECK(strstr(quantize_ftype_list(), "q4_k_m") && strstr(quantize_ftype_list(), "bf16"), "list");
}

/* ---- the file conversion ---- */

static int quantize_file(const char *in, const char *out, const char *type, int threads, bool allow,
                         struct quantize_stats *st, struct tl_error *err)
{
    struct quantize_params p = { .ftype = quantize_ftype_find(type), .n_threads = threads,
                                 .allow_requantize = allow };
    struct quantize_job j;
    int rc = quantize_open(&j, in, &p, err);
    if (rc)
        return rc;
    if (st)
        *st = j.st;
    rc = quantize_write(&j, out, err);
    quantize_close(&j);
    return rc;
}

static bool same_file_bytes(const char *a, const char *b)
{
    size_t na, nb;
    char *pa = test_read_file(a, &na), *pb = test_read_file(b, &nb);
    bool same = pa && pb && na == nb && !memcmp(pa, pb, na);
    free(pa);
    free(pb);
    return same;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every row of out's tensor equals quantize_row of in's row, dequantized. */
static bool rows_match(const struct gguf_tensor *ti, const struct gguf_tensor *to)
{
    int64_t n = ti->ne[0], rows = ti->ne[1] * ti->ne[2] * ti->ne[3];
    size_t in_row = type_row_bytes(ti->type, n), out_row = type_row_bytes(to->type, n);
    float *x = malloc((size_t)n * sizeof *x);
    uint8_t *raw = malloc(in_row), *q = malloc(out_row);
    bool ok = x && raw && q && to->size == out_row * (uint64_t)rows;
    for (int64_t r = 0; ok && r < rows; r++) {
        memcpy(raw, (const uint8_t *)ti->data + r * in_row, in_row);
        dequantize_row(ti->type, raw, x, n);
        quantize_row(to->type, x, q, n);
        ok = !memcmp(q, (const uint8_t *)to->data + r * out_row, out_row);
    }
    mem_free_all(x, raw, q);
    return ok;
}

/* out against in: metadata copied with llama.cpp's two keys last, every
 * tensor either copied or equal to quantize_row of the input. */
static void check_converted(const char *in, const char *out, const char *type)
{
    struct gguf gi, go;
    struct tl_error err = { 0 };
    if (gguf_open(&gi, in, &err) || gguf_open(&go, out, &err)) {
        CHECK(0, "%s: %s", type, err.msg);
        gguf_close(&gi);
        return;
    }
    uint32_t ft = 99, qv = 0;
    gguf_get_u32(&go, "general.file_type", &ft, true, &err);
    gguf_get_u32(&go, "general.quantization_version", &qv, true, &err);
    CHECK(ft == (uint32_t)quantize_ftype_find(type)->ftype && qv == 2, "%s: file_type %u, version %u", type, ft, qv);
    CHECK(go.n_kv >= 2 && gguf_str_eq(go.kv[go.n_kv - 1].key, "general.file_type") &&
              gguf_str_eq(go.kv[go.n_kv - 2].key, "general.quantization_version"),
          "%s: the two keys llama.cpp sets come last", type);
    uint64_t added = !gguf_find(&gi, "general.quantization_version") + !gguf_find(&gi, "general.file_type");
    CHECK(go.n_kv == gi.n_kv + added, "%s: %llu KVs from %llu", type, (unsigned long long)go.n_kv,
          (unsigned long long)gi.n_kv);
    const struct gguf_kv *tok_in = gguf_find(&gi, "tokenizer.ggml.tokens");
    const struct gguf_kv *tok = gguf_find(&go, "tokenizer.ggml.tokens");
    CHECK(!tok_in || (tok && tok->v.arr.n == tok_in->v.arr.n && tok->v.arr.bytes == tok_in->v.arr.bytes &&
                      !memcmp(tok->v.arr.data, tok_in->v.arr.data, tok_in->v.arr.bytes)),
          "%s: vocabulary", type);
    CHECK(go.n_tensors == gi.n_tensors, "%s: tensor count", type);
    for (uint64_t i = 0; i < go.n_tensors; i++) {
        const struct gguf_tensor *to = &go.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)to->name.len, to->name.ptr);
        const struct gguf_tensor *ti = gguf_find_tensor(&gi, name);
        CHECK(ti, "%s: %s is new", type, name);
        if (!ti)
            continue;
        if (to->type == ti->type)
            CHECK(to->size == ti->size && !memcmp(to->data, ti->data, ti->size), "%s: %s not copied", type, name);
        else
            CHECK(rows_match(ti, to), "%s: %s differs from quantize_row", type, name);
    }
    gguf_close(&gi);
    gguf_close(&go);
}

static void test_convert_bytes(void)
{
    static const char *const types[] = { "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m",
                                         "q4_k_m", "q5_k_s", "q6_k", "f16", "bf16" };
    char in[600], out[600], out1[600];
    struct tl_error err = { 0 };
    snprintf(out, sizeof out, "%s/conv-out.gguf", test_tmpdir());
    snprintf(out1, sizeof out1, "%s/conv-out1.gguf", test_tmpdir());
    CHECK(model_builder_tmp_file(TL_F32, "conv-in.gguf", in, sizeof in) == TL_OK, "test model");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        struct quantize_stats st;
        int rc = quantize_file(in, out, types[k], 3, false, &st, &err);
        CHECK(rc == TL_OK, "%s: %s", types[k], err.msg);
        if (rc)
            continue;
        CHECK(st.n_requantized == 0 && st.n_converted == 2 + 7 * 2, "%s: %zu converted", types[k], st.n_converted);
        check_converted(in, out, types[k]);
        if (!strcmp(types[k], "q4_k_m")) {
            CHECK(quantize_file(in, out1, types[k], 1, false, NULL, &err) == TL_OK, "%s", err.msg);
            CHECK(same_file_bytes(out, out1), "1 and 3 threads write different files");
        }
    }
    snprintf(out1, sizeof out1, "%s/conv-out.gguf.tmp", test_tmpdir());
    CHECK(!exists(out1), "the .tmp file is left behind");
    unlink(in);
    unlink(out);
    snprintf(out1, sizeof out1, "%s/conv-out1.gguf", test_tmpdir());
    unlink(out1);
}

/* A quantized input: refused without allow_requantize, converted from its
 * dequantized values with it; a type it already has is copied either way. */
static void test_requantize(void)
{
    char in[600], q8[600], out[600];
    struct tl_error err = { 0 };
    struct quantize_stats st = { 0 };
    snprintf(q8, sizeof q8, "%s/req-q8.gguf", test_tmpdir());
    snprintf(out, sizeof out, "%s/req-out.gguf", test_tmpdir());
    CHECK(model_builder_tmp_file(TL_F32, "req-in.gguf", in, sizeof in) == TL_OK, "test model");
    CHECK(quantize_file(in, q8, "q8_0", 2, false, NULL, &err) == TL_OK, "%s", err.msg);
    int rc = quantize_file(q8, out, "q4_k_m", 2, false, &st, &err);
    CHECK(rc == TL_EINVAL && strstr(err.msg, "--allow-requantize") && !exists(out), "no flag: %d %s", rc, err.msg);
    rc = quantize_file(q8, out, "q4_k_m", 2, true, &st, &err);
    CHECK(rc == TL_OK && st.n_requantized == 16, "with the flag: %d %s (%zu)", rc, err.msg, st.n_requantized);
    if (rc == TL_OK)
        check_converted(q8, out, "q4_k_m");
    rc = quantize_file(q8, out, "q8_0", 2, false, &st, &err);
    CHECK(rc == TL_OK && st.n_converted == 0, "q8_0 to q8_0 copies: %d %s", rc, err.msg);
    if (rc == TL_OK)
        check_converted(q8, out, "q8_0");
    unlink(in);
    unlink(q8);
    unlink(out);
}

/* One attn_q of 64x4 values in wtype after a pad tensor of pad bytes (with
 * alignment 1 the weight's data lands where pad puts it). */
static int write_small(const char *path, int pad, uint32_t wtype, const float *w, struct tl_error *err)
{
    struct gguf_writer g;
    uint8_t zeros[4] = { 0 }, data[256 * 4];
    int64_t ne_pad[1] = { pad }, ne[2] = { 64, 4 };
    gguf_writer_init(&g);
    quantize_row(wtype, w, data, 256);
    int rc = gguf_writer_set_str(&g, "general.architecture", "llama", err);
    if (!rc)
        rc = gguf_writer_set_u32(&g, "llama.block_count", 1, err);
    if (!rc && pad)
        rc = gguf_writer_set_u32(&g, "general.alignment", 1, err);
    if (!rc && pad)
        rc = gguf_writer_add_tensor(&g, "pad.bias", 1, ne_pad, TL_I8, zeros, (uint64_t)pad, err);
    if (!rc)
        rc = gguf_writer_add_tensor(&g, "blk.0.attn_q.weight", 2, ne, wtype, data, type_row_bytes(wtype, 256), err);
    if (!rc)
        rc = gguf_writer_write_file(&g, path, err);
    gguf_writer_free(&g);
    return rc;
}

static void test_unaligned_and_bad_values(void)
{
    char in[600], out[600];
    float w[256];
    struct tl_error err = { 0 };
    struct gguf g = { 0 };
    snprintf(in, sizeof in, "%s/small-in.gguf", test_tmpdir());
    snprintf(out, sizeof out, "%s/small-out.gguf", test_tmpdir());
    for (int i = 0; i < 256; i++)
        w[i] = sinf(0.37f * i) * (1.0f + i / 64.0f);
    int pad = 1;
    for (; pad <= 3; pad++) {
        if (write_small(in, pad, TL_F16, w, &err) || gguf_open(&g, in, &err))
            break;
        bool unaligned = (uintptr_t)gguf_find_tensor(&g, "blk.0.attn_q.weight")->data % 4 != 0;
        gguf_close(&g);
        if (unaligned)
            break;
    }
    CHECK(pad <= 3 && !err.code, "no unaligned layout: %s", err.msg);
    CHECK(quantize_file(in, out, "q8_0", 2, false, NULL, &err) == TL_OK, "unaligned rows: %s", err.msg);
    check_converted(in, out, "q8_0");
    unlink(out);
    w[77] = NAN;
    CHECK(write_small(in, 0, TL_F32, w, &err) == TL_OK, "%s", err.msg);
    int rc = quantize_file(in, out, "q4_0", 1, false, NULL, &err);
    CHECK(rc == TL_EFORMAT && strstr(err.msg, "NaN"), "NaN: %d %s", rc, err.msg);
    w[77] = 1e6f;
    CHECK(write_small(in, 0, TL_F32, w, &err) == TL_OK, "%s", err.msg);
    rc = quantize_file(in, out, "f16", 1, false, NULL, &err);
    CHECK(rc == TL_EFORMAT && strstr(err.msg, "f16"), "1e6 as f16: %d %s", rc, err.msg);
    w[77] = 1e7f;
    CHECK(write_small(in, 0, TL_F32, w, &err) == TL_OK, "%s", err.msg);
    rc = quantize_file(in, out, "q8_0", 1, false, NULL, &err);
    CHECK(rc == TL_EFORMAT && !exists(out), "1e7 as q8_0 (scale overflows f16): %d %s", rc, err.msg);
    unlink(in);
    unlink(out);
}

/* ---- the oracle: llama-mini re-made from its F32 file ---- */

/* Teacher-forced rows of model against the reference NAME, with the
 * oracle criteria for type (../shared/oracle/README.md). */
static void score(const char *model, const char *refdir, const char *name, const char *type)
{
    struct oracle_ref ref;
    struct engine e;
    struct engine_opts o = { .model_path = model, .n_ctx = 512, .n_threads = 2, .n_batch = 64 };
    struct tl_error err = { 0 };
    if (oracle_load(&ref, refdir, name)) {
        CHECK(0, "cannot read reference %s", name);
        return;
    }
    int rc = engine_open(&e, &o, &err);
    CHECK(rc == TL_OK, "%s: engine_open: %s", name, err.msg);
    if (rc == TL_OK) {
        oracle_check(&e, &ref, type, name);
        engine_close(&e);
    }
    oracle_free(&ref);
}

static void test_oracle_models(void)
{
    static const char *const types[] = { "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                         "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k" };
    static const char *const others[] = { "gemma", "qwen2", "phi2", "phi3", "stablelm" };
    const char *shared = test_shared_dir();
    char in[1024], out[1024], ref[1024], refdir[1024], name[128];
    struct tl_error err = { 0 };
    if (!shared)
        SKIP("../shared is absent");
    snprintf(refdir, sizeof refdir, "%s/oracle/ref", shared);
    snprintf(in, sizeof in, "%s/oracle/models/llama-mini-f32.gguf", shared);
    if (!exists(in))
        SKIP("%s is absent", in);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        snprintf(out, sizeof out, "%s/llama-mini-%s.gguf", test_tmpdir(), types[k]);
        snprintf(ref, sizeof ref, "%s/oracle/models/llama-mini-%s.gguf", shared, types[k]);
        int rc = quantize_file(in, out, types[k], 2, false, NULL, &err);
        CHECK(rc == TL_OK, "%s: %s", types[k], err.msg);
        if (rc)
            continue;
        CHECK(!exists(ref) || same_file_bytes(out, ref), "%s differs from llama-quantize's file", types[k]);
        for (int p = 0; p < 2; p++) {
            snprintf(name, sizeof name, "llama-mini-%s.%s", types[k], p ? "long" : "short");
            score(out, refdir, name, types[k]);
        }
        unlink(out);
    }
    /* the other families: byte-identical to llama-quantize's files */
    for (size_t a = 0; a < sizeof others / sizeof others[0]; a++) {
        for (int k = 0; k < 2; k++) {
            const char *t = k ? "q4_k_m" : "q8_0";
            snprintf(in, sizeof in, "%s/oracle/models/%s-mini-f32.gguf", shared, others[a]);
            snprintf(ref, sizeof ref, "%s/oracle/models/%s-mini-%s.gguf", shared, others[a], t);
            snprintf(out, sizeof out, "%s/%s-mini-%s.gguf", test_tmpdir(), others[a], t);
            if (!exists(in) || !exists(ref))
                continue;
            int rc = quantize_file(in, out, t, 2, false, NULL, &err);
            CHECK(rc == TL_OK && same_file_bytes(out, ref), "%s %s: %s", others[a], t,
                  rc ? err.msg : "differs from llama-quantize's file");
            unlink(out);
        }
    }
}

/* ---- the command ---- */

static struct test_cli res;

/* Run `tinyllm ARGS` with stdin from /dev/null (fills res). */
#define run(...) test_cli_run(&res, NULL, __VA_ARGS__)

static void test_cli_usage(void)
{
    char in[600];
    const char *d = test_tmpdir();
    CHECK(model_builder_tmp_file(TL_F32, "cli-in.gguf", in, sizeof in) == TL_OK, "test model");
    CHECK(run("--help") == 0 && strstr(res.out, "quantize"), "tinyllm --help lists quantize");
    CHECK(run("quantize --help") == 0 && strstr(res.out, "q4_k_m") && strstr(res.out, "--pure"), "--help");
    CHECK(run("quantize") == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "missing"), "no args: %s", res.err);
    CHECK(run("quantize %s %s/o.gguf", in, d) == 2 && strstr(res.err, "TYPE"), "no TYPE: %s", res.err);
    CHECK(run("quantize %s %s/o.gguf q9_k", in, d) == 2 && test_count_lines(res.err) == 1 && strstr(res.err, "q9_k") &&
              strstr(res.err, "q4_k_m") && strstr(res.err, "bf16"),
          "unknown type lists the valid ones: %s", res.err);
    CHECK(run("quantize %s %s q8_0", in, in) == 2 && strstr(res.err, "differ"), "IN = OUT: %s", res.err);
    CHECK(run("quantize %s %s//cli-in.gguf q8_0", in, d) == 2 && strstr(res.err, "differ"),
          "IN = OUT by another spelling: %s", res.err);
    CHECK(run("quantize %s %s/o.gguf q8_0 --bogus", in, d) == 2, "unknown flag");
    CHECK(run("quantize %s %s/o.gguf q8_0 extra", in, d) == 2, "extra argument");
    CHECK(run("quantize %s %s/o.gguf q8_0 -t 0", in, d) == 2 && strstr(res.err, "-t"), "-t 0: %s", res.err);
    CHECK(run("quantize %s %s/o.gguf q8_0 -t", in, d) == 2 && strstr(res.err, "needs a value"), "-t alone");
    CHECK(run("quantize %s/missing.gguf %s/o.gguf q8_0", d, d) == 1 && test_count_lines(res.err) == 1, "missing IN: %s",
          res.err);
    char o[600];
    snprintf(o, sizeof o, "%s/o.gguf", d);
    CHECK(!exists(o), "a failed run wrote OUT");
    unlink(in);
}

static void test_cli_convert(void)
{
    char in[600], q8[600], q4[600], tmp[600], wide[600];
    const char *d = test_tmpdir();
    struct model_builder_config cfg;
    struct tl_error err = { 0 };
    model_builder_defaults(&cfg);
    snprintf(in, sizeof in, "%s/cli-in.gguf", d);
    snprintf(q8, sizeof q8, "%s/cli-q8.gguf", d);
    snprintf(q4, sizeof q4, "%s/cli-q4.gguf", d);
    snprintf(tmp, sizeof tmp, "%s/cli-q8.gguf.tmp", d);
    snprintf(wide, sizeof wide, "%s/cli-160.gguf", d);
    CHECK(model_builder_write_file(&cfg, in, &err) == TL_OK, "%s", err.msg);
    CHECK(run("quantize %s %s Q8_0 -t 2", in, q8) == 0 && test_count_lines(res.err) == 1 && strstr(res.err, "->") &&
              !res.out[0],
          "q8_0: one summary line on stderr, nothing on stdout: %d %s", res.status, res.err);
    CHECK(exists(q8) && !exists(tmp), "OUT written via OUT.tmp");
    CHECK(run("quantize %s %s q4_k_m", q8, q4) == 2 && strstr(res.err, "--allow-requantize") && !exists(q4),
          "requantize refused: %d %s", res.status, res.err);
    CHECK(run("quantize %s %s q4_k_m --allow-requantize", q8, q4) == 0 && strstr(res.err, "warning") &&
              test_count_lines(res.err) == 2 && exists(q4),
          "requantize allowed, with a warning: %d %s", res.status, res.err);
    CHECK(run("info -m %s", q4) == 0 && strstr(res.out, "q4_K") && strstr(res.out, "q6_K"), "info reads it");
    cfg.n_embd = 160, cfg.n_ff = 320;
    CHECK(model_builder_write_file(&cfg, wide, &err) == TL_OK, "%s", err.msg);
    unlink(q4);
    CHECK(run("quantize %s %s q3_k_m", wide, q4) == 0 && strstr(res.err, "fallback"), "q3_k_m, rows of 160: %s",
          res.err);
    CHECK(run("info -m %s", q4) == 0 && strstr(res.out, "iq4_nl"), "q3_k_m falls back to iq4_nl: %s", res.out);
    CHECK(run("run -m %s -p hello -n 4 --temp 0", q4) == 0, "iq4_nl model runs: %s", res.err);
    unlink(q4);
    CHECK(run("quantize %s %s q4_k_m --pure", wide, q4) == 1 && !exists(q4), "--pure, rows of 160: %s", res.err);
    CHECK(run("quantize %s %s q4_k_m", wide, q4) == 0 && strstr(res.err, "fallback"), "fallbacks: %s", res.err);
    unlink(in);
    unlink(q8);
    unlink(q4);
    unlink(wide);
}

int main(void)
{
    RUN_TEST(test_ftype_names);
    RUN_TEST(test_choice_llama_quantize);
    RUN_TEST(test_choice_pure);
    RUN_TEST(test_choice_moe_bad_layer);
    RUN_TEST(test_convert_bytes);
    RUN_TEST(test_requantize);
    RUN_TEST(test_unaligned_and_bad_values);
    RUN_TEST(test_oracle_models);
    RUN_TEST(test_cli_usage);
    RUN_TEST(test_cli_convert);
    return test_finish();
}
