/* cli/cmd_info.c: `tinyllm info`: what a GGUF file holds and how tinyllm reads it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/model.h"
#include "format/quant.h"
#include "text/tokenizer.h"

static void print_str_kv(const struct gguf *g, const char *label, const char *key)
{
    struct gguf_str s = { 0 };
    if (gguf_get_str(g, key, &s, false, NULL) == TL_OK && s.ptr)
        printf("%-14s%.*s\n", label, (int)(s.len > 200 ? 200 : s.len), s.ptr);
}

static void print_tensors(const struct gguf *g)
{
    uint64_t count[TL_TYPE_COUNT] = { 0 }, bytes[TL_TYPE_COUNT] = { 0 }, total = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint32_t t = g->tensors[i].type;
        if (t < TL_TYPE_COUNT) {
            count[t]++;
            bytes[t] += g->tensors[i].size;
        }
        total += g->tensors[i].size;
    }
    printf("%-14s%llu, %.2f MiB\n", "tensors:", (unsigned long long)g->n_tensors, total / 1048576.0);
    for (int t = 0; t < TL_TYPE_COUNT; t++)
        if (count[t])
            printf("  %-12s%llu tensors, %.2f MiB%s\n", type_info(t)->name, (unsigned long long)count[t],
                   bytes[t] / 1048576.0, type_info(t)->supported ? "" : " (not supported)");
}

static void print_model(const struct model *m)
{
    static const char *const norms[] = { "RMSNorm", "LayerNorm" };
    static const char *const ropes[] = { "normal (adjacent pairs)", "NeoX (split halves)" };
    static const char *const ffns[] = { "SwiGLU", "GeGLU", "GELU" };
    const struct hparams *hp = &m->hp;
    const struct layer *l0 = &m->layers[0];
    /* in the unit llama.cpp's model loader prints: a 260K model is "0.26 M"... */
    double p = (double)m->n_params;
    printf("%-14s%.2f %s\n", "parameters:", p >= 1e12 ? p / 1e12 : p >= 1e9 ? p / 1e9 : p >= 1e6 ? p / 1e6 : p / 1e3,
           p >= 1e12 ? "T" : p >= 1e9 ? "B" : p >= 1e6 ? "M" : "K");
    printf("%-14s%d\n%-14s%d\n%-14s%d\n", "context:", hp->n_ctx_train, "n_embd:", hp->n_embd,
           "layers:", hp->n_layer);
    printf("%-14s%d query, %d key/value (%s), head size %d\n", "heads:", hp->n_head, hp->n_head_kv,
           hp->n_head_kv == 1 ? "MQA" : hp->n_head_kv < hp->n_head ? "GQA" : "MHA", hp->head_dim);
    printf("%-14s%s, %d of %d dims, base %g, scale %g%s\n", "rope:", ropes[hp->rope], hp->n_rot,
           hp->head_dim, hp->rope_base, 1.0 / hp->rope_freq_scale,
           m->rope_factors_long ? ", LongRoPE factors" : m->rope_freqs ? ", Llama 3 frequency factors" : "");
    printf("%-14s%s, eps %g%s\n", "norm:", norms[hp->norm], hp->norm_eps, l0->attn_norm_b ? ", with bias" : "");
    printf("%-14s%s, n_ff %d%s%s\n", "ffn:", ffns[hp->ffn], hp->n_ff,
           hp->arch == ARCH_PHI3 ? ", gate and up fused" : "", l0->b_up ? ", with biases" : "");
    printf("%-14s%s%s%s%s\n", "attention:", l0->wqkv.data ? "fused QKV" : "separate Q, K, V",
           l0->bq || l0->bqkv ? ", QKV biases" : "", hp->parallel_block ? ", parallel with the FFN" : "",
           hp->n_swa ? ", sliding window" : "");
    if (hp->n_swa)
        printf("%-14s%d%s\n", "window:", hp->n_swa, hp->swa_even_layers ? " (even layers)" : "");
    if (hp->attn_softcap > 0.0f || hp->final_softcap > 0.0f)
        printf("%-14sattention %g, logits %g\n", "soft-capping:", hp->attn_softcap, hp->final_softcap);
    if (hp->embd_scale != 1.0f)
        printf("%-14sx %g\n", "embeddings:", hp->embd_scale);
    printf("%-14s%s%s\n", "output:", m->output.data == m->tok_embd.data ? "tied to the embeddings" : "separate",
           m->output_b ? ", with bias" : "");
}

static void print_tokenizer(const struct tokenizer *t)
{
    printf("%-14s%s, %d tokens, bos %d, eos %d%s%s\n", "tokenizer:",
           t->model == TOK_SPM ? "SentencePiece" : "byte-level BPE", t->n_vocab, t->bos, t->eos,
           t->add_bos ? ", adds BOS" : "", t->add_eos ? ", adds EOS" : "");
}

int cmd_info(int argc, char **argv, struct tl_error *err)
{
    const char *path = NULL;
    static const struct opt rows[] = {
        { "-m, --model", "MODEL", OPT_STR, 0, .help = "GGUF model (required)", .flags = OPT_REQUIRED },
    };
    const struct opt_group groups[] = { OPT_GROUP(NULL, rows, &path) };
    const struct opt_cmd cmd = {
        "info", "-m MODEL",
        "Print the architecture, hyper-parameters, tokenizer and tensor types of a GGUF file.\n", groups, 1,
    };
    bool help;
    int rc = opt_parse(&cmd, argc, argv, &help, err);
    if (rc || help)
        return rc;
    struct model m;
    if ((rc = model_open(&m, path, err)))
        return rc;
    printf("%-14s%s (%.2f MiB, GGUF v%u)\n", "file:", path, m.gguf.size / 1048576.0, m.gguf.version);
    printf("%-14s%s\n", "architecture:", arch_name(m.hp.arch));
    print_str_kv(&m.gguf, "name:", "general.name");
    print_model(&m);
    struct tokenizer t;
    if (tokenizer_init(&t, &m.gguf, err) == TL_OK) {
        print_tokenizer(&t);
        tokenizer_free(&t);
    } else {
        printf("%-14sunreadable: %s\n", "tokenizer:", err->msg);
        *err = (struct tl_error){ 0 };
    }
    print_tensors(&m.gguf);
    model_close(&m);
    return TL_OK;
}
