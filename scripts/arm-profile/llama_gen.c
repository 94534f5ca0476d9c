/* llama_gen.c: llama.cpp's side of scripts/arm-profile.sh, on libllama's C API.
 *
 *   llama_gen MODEL PROMPT_FILE N
 *
 * Does what `tinyllm run -m MODEL -f PROMPT_FILE -n N --temp 0 -t 1` does:
 * tokenizes the prompt with BOS, evaluates it as one batch (logits of the
 * last position only), then picks N tokens greedily; each but the last is
 * fed back as a one-token batch (N - 1 decode steps). One thread.
 * Prints "prompt N" and "generated T1 T2 ..." on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)level; (void)text; (void)user;
}

static llama_token argmax(const float *logits, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL PROMPT_FILE N\n", argv[0]);
        return 2;
    }
    static char text[1 << 16];
    FILE *pf = fopen(argv[2], "rb");
    if (!pf) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    size_t len = fread(text, 1, sizeof text - 1, pf);
    fclose(pf);
    text[len] = 0;
    int n_gen = atoi(argv[3]);

    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model *model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    static llama_token toks[4096];
    int n = llama_tokenize(vocab, text, (int)len, toks, 4096, true, false);
    if (n <= 0) {
        fprintf(stderr, "tokenize failed\n");
        return 1;
    }

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = cp.n_ubatch = 512;
    cp.n_threads = cp.n_threads_batch = 1;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "cannot make a context\n");
        return 1;
    }
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = toks[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = i == n - 1;
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch)) {
        fprintf(stderr, "prompt decode failed\n");
        return 1;
    }
    printf("prompt %d\ngenerated", n);
    llama_token t = argmax(llama_get_logits_ith(ctx, n - 1), n_vocab);
    for (int g = 0; g < n_gen; g++) {
        printf(" %d", t);
        if (g == n_gen - 1)
            break;
        if (llama_decode(ctx, llama_batch_get_one(&t, 1))) {
            fprintf(stderr, "decode failed\n");
            return 1;
        }
        t = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
    }
    printf("\n");
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
