/* dump.c: llama.cpp's logits for a prompt and its greedy continuation, the
 * rows `tinyllm run --dump-logits` writes (prompt rows, then each generated
 * token fed back). Built by ../vs-llama.sh against a llama.cpp build.
 *   dump MODEL PROMPT N_GEN OUT.f32 [N_CTX]
 * stdout: "prompt ID..." and "gen ID..." lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)level, (void)text, (void)user;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: dump MODEL PROMPT N_GEN OUT.f32 [N_CTX]\n");
        return 2;
    }
    int n_gen = atoi(argv[3]), n_ctx = argc > 5 ? atoi(argv[5]) : 512;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model *model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) {
        fprintf(stderr, "dump: cannot load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token *tok = malloc(sizeof *tok * (size_t)n_ctx);
    int n = llama_tokenize(vocab, argv[2], (int)strlen(argv[2]), tok, n_ctx, true, false);
    if (n <= 0 || n + n_gen > n_ctx) {
        fprintf(stderr, "dump: prompt of %d tokens does not fit %d\n", n, n_ctx);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx, cp.n_batch = (uint32_t)n_ctx, cp.n_ubatch = 512;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    struct llama_batch b = llama_batch_init(n, 0, 1);
    b.n_tokens = n;
    for (int i = 0; i < n; i++) {
        b.token[i] = tok[i], b.pos[i] = i, b.n_seq_id[i] = 1, b.seq_id[i][0] = 0, b.logits[i] = 1;
    }
    FILE *out = fopen(argv[4], "wb");
    if (!ctx || !out || llama_decode(ctx, b)) {
        fprintf(stderr, "dump: evaluation failed\n");
        return 1;
    }
    printf("prompt");
    for (int i = 0; i < n; i++)
        printf(" %d", tok[i]);
    printf("\ngen");
    const float *logits = NULL;
    for (int i = 0; i < n; i++) {
        logits = llama_get_logits_ith(ctx, i);
        fwrite(logits, sizeof(float), (size_t)n_vocab, out);
    }
    for (int g = 0; g < n_gen; g++) {
        int next = argmax(logits, n_vocab);
        printf(" %d", next);
        if (g == n_gen - 1)
            break;
        b.n_tokens = 1, b.token[0] = next, b.pos[0] = n + g, b.logits[0] = 1;
        if (llama_decode(ctx, b)) {
            fprintf(stderr, "dump: evaluation failed\n");
            return 1;
        }
        logits = llama_get_logits_ith(ctx, 0);
        fwrite(logits, sizeof(float), (size_t)n_vocab, out);
    }
    printf("\n");
    fclose(out);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    free(tok);
    return 0;
}
