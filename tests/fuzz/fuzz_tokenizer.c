/* fuzz_tokenizer.c: libFuzzer target over tokenization. The vocabularies
 * are the GGUF files named in TINYLLM_FUZZ_VOCABS (colon-separated); the
 * first input byte picks one and whether special tokens are parsed, the
 * rest is the text. Each id is decoded back to its piece. */
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "text/tokenizer.h"

enum { MAX_VOCABS = 16 };

static struct gguf g[MAX_VOCABS];
static struct tokenizer t[MAX_VOCABS];
static int n_vocabs = -1;

static void load_vocabs(void)
{
    const char *list = getenv("TINYLLM_FUZZ_VOCABS");
    char *copy = strdup(list ? list : ""), *save = NULL;
    struct tl_error err = { 0 };
    n_vocabs = 0;
    for (char *p = strtok_r(copy, ":", &save); p && n_vocabs < MAX_VOCABS; p = strtok_r(NULL, ":", &save))
        if (gguf_open(&g[n_vocabs], p, &err) == TL_OK && tokenizer_init(&t[n_vocabs], &g[n_vocabs], &err) == TL_OK)
            n_vocabs++;
    free(copy);
    if (!n_vocabs)
        abort();   /* nothing to fuzz: TINYLLM_FUZZ_VOCABS names no usable vocabulary */
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (n_vocabs < 0)
        load_vocabs();
    if (size < 1)
        return 0;
    const struct tokenizer *tk = &t[data[0] % n_vocabs];
    int32_t *ids = NULL;
    int n = 0;
    struct tl_error err = { 0 };
    if (tokenizer_encode(tk, (const char *)data + 1, size - 1, true, data[0] & 0x80, &ids, &n, &err) == TL_OK) {
        char buf[256];
        for (int i = 0; i < n; i++)
            tokenizer_piece(tk, ids[i], true, buf, sizeof buf);
    }
    free(ids);
    return 0;
}
