/* test_tokenizer.c: SPM and BPE encoding and decoding on small vocabularies
 * built here, llama.cpp's tokenizer vectors for the vocabularies in
 * ../shared/vocab, llama.cpp's ids for the BPE pre-tokenizer names, the
 * oracle prompts, and the streaming UTF-8 repair. */
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "test.h"
#include "text/tokenizer.h"
#include "util/mem.h"

#define SP "\xe2\x96\x81"   /* U+2581, SentencePiece's space */

/* ---- helpers ---- */

/* Build the writer's file in memory and load a tokenizer from it. */
static int load_from_writer(struct tokenizer *t, struct gguf_writer *w, struct tl_error *err)
{
    void *buf = NULL;
    size_t size = 0;
    struct gguf g = { 0 };
    int rc = gguf_writer_write_mem(w, &buf, &size, err);
    if (!rc && !(rc = gguf_parse(&g, buf, size, err)))
        rc = tokenizer_init(t, &g, err);
    gguf_close(&g);
    free(buf);
    return rc;
}

static int load_file(struct tokenizer *t, const char *path, struct tl_error *err)
{
    struct gguf g = { 0 };
    int rc = gguf_open(&g, path, err);
    if (!rc)
        rc = tokenizer_init(t, &g, err);
    gguf_close(&g);
    return rc;
}

/* Encode and compare with the expected ids; prints both on a mismatch. */
static int enc_is(const struct tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                  const int32_t *want, int n_want)
{
    struct tl_error err = { 0 };
    int32_t *ids = NULL;
    int n = 0, ok;
    int rc = tokenizer_encode(t, text, len, add_special, parse_special, &ids, &n, &err);
    ok = !rc && n == n_want && (n == 0 || !memcmp(ids, want, (size_t)n * sizeof *ids));
    if (!ok) {
        printf("  encode '%.*s': rc %d %s\n    got ", (int)len, text, rc, err.msg);
        for (int i = 0; i < n; i++)
            printf(" %d", ids[i]);
        printf("\n    want");
        for (int i = 0; i < n_want; i++)
            printf(" %d", want[i]);
        printf("\n");
    }
    free(ids);
    return ok;
}
#define ENC(t, s, as, ps, ...) do { \
    static const int32_t want_[] = { __VA_ARGS__ }; \
    CHECK(enc_is(t, s, strlen(s), as, ps, want_, (int)(sizeof want_ / sizeof want_[0])), "%s", s); \
} while (0)
#define ENC_NONE(t, s, as, ps) CHECK(enc_is(t, s, strlen(s), as, ps, NULL, 0), "%s", s)

/* Concatenated pieces of ids (special = false) into a heap string. */
static char *decode(const struct tokenizer *t, const int32_t *ids, int n, size_t *len)
{
    size_t cap = 64, used = 0;
    char *out = malloc(cap);
    for (int i = 0; out && i < n; i++) {
        int k = tokenizer_piece(t, ids[i], false, NULL, 0);
        if (used + (size_t)k + 1 > cap) {
            char *no = realloc(out, cap = 2 * (used + (size_t)k + 1));
            if (!no) {
                free(out);
                return NULL;
            }
            out = no;
        }
        used += (size_t)tokenizer_piece(t, ids[i], false, out + used, cap - used);
    }
    if (out)
        out[used] = 0;
    *len = used;
    return out;
}

static bool piece_is(const struct tokenizer *t, int32_t id, bool special, const char *want)
{
    char buf[64];
    int n = tokenizer_piece(t, id, special, buf, sizeof buf);
    return n == (int)strlen(want) && !memcmp(buf, want, (size_t)n);
}

/* ---- a small SentencePiece vocabulary ---- */

enum {
    S_UNK, S_BOS, S_EOS, S_BYTE0,                 /* <0x00>..<0xFF> at S_BYTE0 + b */
    S_SP = S_BYTE0 + 256, S_A, S_B, S_AB, S_SPA, S_SPAB, S_AA, S_SPSP, S_SPB,
    S_CTL, S_UD, S_IMEND, S_EOT_TEXT, S_N
};

/* Optional extras: no byte tokens, a model name, flag keys (-1 = absent). */
struct spm_opts {
    bool        no_bytes;
    const char *name;
    int         add_bos, add_eos, add_space;
};

static int spm_vocab(struct tokenizer *t, const struct spm_opts *o, struct tl_error *err)
{
    static char bytes[256][7];
    const char *tok[S_N];
    float score[S_N];
    int32_t type[S_N];
    struct gguf_writer w;
    int n = S_N, rc;
    tok[S_UNK] = "<unk>", tok[S_BOS] = "<s>", tok[S_EOS] = "</s>";
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        /* without byte tokens the slots hold texts no input produces */
        if (o->no_bytes)
            snprintf(bytes[b], sizeof bytes[b], "#%03d", b);
        tok[S_BYTE0 + b] = bytes[b];
        type[S_BYTE0 + b] = o->no_bytes ? 1 : 6;
        score[S_BYTE0 + b] = 0;
    }
    const char *words[] = { SP, "a", "b", "ab", SP "a", SP "ab", "aa", SP SP, SP "b",
                            "<|ctl|>", "<|ud|>", "<|im_end|>", "<|endoftext|>" };
    const float scores[] = { -1, -2, -2, -1, -1.2f, -0.5f, -1, -3, -1.3f, 0, 0, 0, 0 };
    const int32_t types[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 4, 3, 1 };
    for (int i = 0; i < S_N - S_SP; i++) {
        tok[S_SP + i] = words[i];
        score[S_SP + i] = scores[i];
        type[S_SP + i] = types[i];
    }
    score[S_UNK] = score[S_BOS] = score[S_EOS] = 0;
    type[S_UNK] = 2, type[S_BOS] = type[S_EOS] = 3;
    gguf_writer_init(&w);
    rc = gguf_writer_set_str(&w, "general.architecture", "llama", err);
    if (!rc && o->name)
        rc = gguf_writer_set_str(&w, "general.name", o->name, err);
    if (!rc)
        rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "llama", err);
    if (!rc)
        rc = gguf_writer_set_arr_str(&w, "tokenizer.ggml.tokens", tok, (uint64_t)n, err);
    if (!rc)
        rc = gguf_writer_set_arr(&w, "tokenizer.ggml.scores", GGUF_F32, score, (uint64_t)n, err);
    if (!rc)
        rc = gguf_writer_set_arr(&w, "tokenizer.ggml.token_type", GGUF_I32, type, (uint64_t)n, err);
    if (!rc && o->add_bos >= 0)
        rc = gguf_writer_set_bool(&w, "tokenizer.ggml.add_bos_token", o->add_bos, err);
    if (!rc && o->add_eos >= 0)
        rc = gguf_writer_set_bool(&w, "tokenizer.ggml.add_eos_token", o->add_eos, err);
    if (!rc && o->add_space >= 0)
        rc = gguf_writer_set_bool(&w, "tokenizer.ggml.add_space_prefix", o->add_space, err);
    if (!rc)
        rc = load_from_writer(t, &w, err);
    gguf_writer_free(&w);
    return rc;
}

static const struct spm_opts spm_default = { false, NULL, -1, -1, -1 };

static void spm_basics(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    if (spm_vocab(&t, &spm_default, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    CHECK(t.model == TOK_SPM && t.add_bos && !t.add_eos && t.add_space_prefix, "defaults");
    CHECK(t.bos == S_BOS && t.eos == S_EOS && t.unk == S_UNK, "ids %d %d %d", t.bos, t.eos, t.unk);
    CHECK(t.nl == S_BYTE0 + '\n', "nl %d", t.nl);
    ENC_NONE(&t, "", false, false);
    ENC(&t, "", true, false, S_BOS);
    ENC(&t, "ab", false, false, S_SPAB);                 /* a+b first (-1), then _+ab (-0.5) */
    ENC(&t, "ab", true, false, S_BOS, S_SPAB);
    ENC(&t, " ", false, false, S_SPSP);                  /* the prefix space and the text's */
    ENC(&t, "  ", false, false, S_SPSP, S_SP);
    ENC(&t, "\n", false, false, S_SP, S_BYTE0 + '\n');
    ENC(&t, "a\n\nb", false, false, S_SPA, S_BYTE0 + '\n', S_BYTE0 + '\n', S_B);
    ENC(&t, "\xc3\xa9", false, false, S_SP, S_BYTE0 + 0xC3, S_BYTE0 + 0xA9);  /* byte fallback */
    ENC(&t, "\xff", false, false, S_SP, S_BYTE0 + 0xFF);                      /* invalid UTF-8 */
    /* equal scores: the leftmost pair merges first, so _ aa a and not _a aa */
    ENC(&t, "aaa", false, false, S_SP, S_AA, S_A);
    ENC(&t, "b ab", false, false, S_SPB, S_SPAB);
    tokenizer_free(&t);
}

static void spm_special_tokens(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    if (spm_vocab(&t, &spm_default, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    /* a space prefix again after each special token */
    ENC(&t, "a<|ctl|>b", false, true, S_SPA, S_CTL, S_SPB);
    ENC(&t, "<|ctl|>", false, true, S_CTL);
    ENC(&t, "<s>ab", true, true, S_BOS, S_BOS, S_SPAB);
    /* parse_special off: control text is plain text (bytes here) */
    ENC(&t, "<|ctl|>", false, false, S_SP, S_BYTE0 + '<', S_BYTE0 + '|', S_BYTE0 + 'c', S_BYTE0 + 't',
        S_BYTE0 + 'l', S_BYTE0 + '|', S_BYTE0 + '>');
    /* user-defined tokens are cut out either way */
    ENC(&t, "a<|ud|>b", false, false, S_SPA, S_UD, S_SPB);
    ENC(&t, "a<|ud|>b", false, true, S_SPA, S_UD, S_SPB);
    ENC(&t, "<|ud|><|ud|>", false, false, S_UD, S_UD);
    /* no strip bits without a phi-3 name: the space stays text */
    ENC(&t, "<|ctl|> a", false, true, S_CTL, S_SP, S_SPA);
    /* eog-looking texts become control even when the file says normal */
    CHECK(t.type[S_EOT_TEXT] == TOKT_CONTROL, "type %d", t.type[S_EOT_TEXT]);
    CHECK(t.eot == S_IMEND || t.eot == S_EOT_TEXT, "eot %d", t.eot);
    CHECK(t.n_eog == 3 && tokenizer_is_eog(&t, S_EOS) && tokenizer_is_eog(&t, S_IMEND) &&
          tokenizer_is_eog(&t, S_EOT_TEXT) && !tokenizer_is_eog(&t, S_CTL), "eog n %d", t.n_eog);
    CHECK(t.n_special == 7 && t.special[0] == S_EOT_TEXT, "special list %d", t.n_special);
    tokenizer_free(&t);
}

static void spm_flags_and_strip(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    struct spm_opts o = { false, "My-Phi3-mini", 0, 1, 0 };
    if (spm_vocab(&t, &o, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    CHECK(!t.add_bos && t.add_eos && !t.add_space_prefix, "flags from keys");
    ENC(&t, "ab", true, false, S_AB, S_EOS);
    ENC(&t, "", true, false, S_EOS);
    /* phi-3 names: special tokens eat the whitespace after them, except <s>, <unk> */
    ENC(&t, "<|ctl|>  \n ab", false, true, S_CTL, S_AB);
    ENC(&t, "<s> ab", false, true, S_BOS, S_SPAB);
    ENC(&t, "</s>\tab", false, true, S_EOS, S_AB);
    ENC(&t, "<|ud|> b", false, false, S_UD, S_B);
    tokenizer_free(&t);
}

static void spm_unknown_without_bytes(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    struct spm_opts o = { true, NULL, -1, -1, -1 };
    if (spm_vocab(&t, &o, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    ENC(&t, "a\xc3\xa9", false, false, S_SPA, S_UNK, S_UNK);
    CHECK(t.nl == -1, "nl %d", t.nl);
    tokenizer_free(&t);
}

static void spm_pieces(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    char small[2];
    if (spm_vocab(&t, &spm_default, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    CHECK(piece_is(&t, S_SPAB, false, " ab"), "normal");
    CHECK(piece_is(&t, S_SPSP, false, "  "), "spaces");
    CHECK(piece_is(&t, S_BYTE0 + '\n', false, "\n"), "byte");
    CHECK(piece_is(&t, S_BYTE0 + 0xC3, false, "\xc3"), "high byte");
    CHECK(piece_is(&t, S_BOS, false, "") && piece_is(&t, S_BOS, true, "<s>"), "control");
    CHECK(piece_is(&t, S_UNK, false, "") && piece_is(&t, S_UNK, true, "<unk>"), "unknown");
    CHECK(piece_is(&t, S_UD, false, "<|ud|>"), "user-defined");
    CHECK(piece_is(&t, S_EOT_TEXT, false, ""), "forced control");
    CHECK(piece_is(&t, -1, true, "") && piece_is(&t, S_N, true, ""), "out of range");
    CHECK(tokenizer_piece(&t, S_SPAB, false, small, sizeof small) == 3 && small[0] == ' ' && small[1] == 'a',
          "truncated like snprintf");
    CHECK(tokenizer_find(&t, SP "ab", strlen(SP "ab")) == S_SPAB && tokenizer_find(&t, "zz", 2) == -1, "find");
    tokenizer_free(&t);
}

static void spm_long_input(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    size_t reps = (1 << 20) / 3, len = 3 * reps;      /* 1 MiB of "ab " */
    int32_t *ids = NULL;
    int n = 0;
    if (spm_vocab(&t, &spm_default, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    char *text = malloc(len + 1);
    if (!text)
        SKIP("out of memory");
    for (size_t i = 0; i < reps; i++)
        memcpy(text + 3 * i, "ab ", 3);
    int rc = tokenizer_encode(&t, text, len, false, true, &ids, &n, &err);
    CHECK(rc == TL_OK && n == (int)reps + 1, "rc %d n %d: %s", rc, n, err.msg);
    CHECK(rc || (ids[0] == S_SPAB && ids[n - 2] == S_SPAB && ids[n - 1] == S_SP), "ids");
    /* without spaces: one fragment of a million symbols, pairs merging left to right */
    len &= ~(size_t)1;
    memset(text, 'a', len);
    free(ids);
    ids = NULL;
    n = 0;
    rc = tokenizer_encode(&t, text, len, false, false, &ids, &n, &err);
    CHECK(rc == TL_OK && n == (int)(len / 2 + 1) && ids[0] == S_SP && ids[n - 1] == S_AA, "rc %d n %d", rc, n);
    free(ids);
    free(text);
    tokenizer_free(&t);
}

/* ---- a small byte-level BPE vocabulary ----
 * ids 0..255: the GPT-2 alphabet char of byte id; then merged tokens. */
enum { B_AB = 256, B_GA, B_GAB, B_EOT, B_N };

static void gpt2_char(unsigned b, char *out)
{
    unsigned cp = b;
    if (b <= 0x20)
        cp = 0x100 + b;
    else if (b >= 0x7F && b <= 0xA0)
        cp = 0x100 + 33 + (b - 0x7F);
    else if (b == 0xAD)
        cp = 0x100 + 67;
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

/* pre NULL: no tokenizer.ggml.pre key; bos_key: write bos/eos_token_id */
static int bpe_vocab(struct tokenizer *t, const char *pre, bool bos_key, struct tl_error *err)
{
    static char chars[256][3];
    const char *tok[B_N];
    int32_t type[B_N];
    const char *merges[] = { "a b", "\304\240 a", "\304\240a b" };   /* \304\240 = Ġ = byte 0x20 */
    struct gguf_writer w;
    int rc;
    for (unsigned b = 0; b < 256; b++) {
        gpt2_char(b, chars[b]);
        tok[b] = chars[b];
        type[b] = 1;
    }
    tok[B_AB] = "ab", tok[B_GA] = "\xc4\xa0" "a", tok[B_GAB] = "\xc4\xa0" "ab", tok[B_EOT] = "<|endoftext|>";
    type[B_AB] = type[B_GA] = type[B_GAB] = 1;
    type[B_EOT] = 3;
    gguf_writer_init(&w);
    rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "gpt2", err);
    if (!rc && pre)
        rc = gguf_writer_set_str(&w, "tokenizer.ggml.pre", pre, err);
    if (!rc)
        rc = gguf_writer_set_arr_str(&w, "tokenizer.ggml.tokens", tok, B_N, err);
    if (!rc)
        rc = gguf_writer_set_arr(&w, "tokenizer.ggml.token_type", GGUF_I32, type, B_N, err);
    if (!rc)
        rc = gguf_writer_set_arr_str(&w, "tokenizer.ggml.merges", merges, 3, err);
    if (!rc && bos_key)
        rc = gguf_writer_set_u32(&w, "tokenizer.ggml.bos_token_id", B_EOT, err);
    if (!rc && bos_key)
        rc = gguf_writer_set_u32(&w, "tokenizer.ggml.eos_token_id", B_EOT, err);
    if (!rc)
        rc = load_from_writer(t, &w, err);
    gguf_writer_free(&w);
    return rc;
}

static void bpe_basics(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    if (bpe_vocab(&t, "gpt-2", true, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    CHECK(t.model == TOK_BPE && !t.add_bos && !t.add_eos && !t.ignore_merges, "defaults");
    CHECK(t.nl == '\n' && t.eot == B_EOT && t.n_eog == 1 && tokenizer_is_eog(&t, B_EOT), "ids");
    ENC_NONE(&t, "", true, true);
    ENC(&t, "ab", false, false, B_AB);
    /* rank 0 (a b) beats rank 1 (Ġ a), and "Ġ ab" is no merge */
    ENC(&t, " ab", false, false, ' ', B_AB);
    ENC(&t, " a", false, false, B_GA);
    ENC(&t, "\xc3\xa9\n", false, false, 0xC3, 0xA9, '\n');
    ENC(&t, "a<|endoftext|>b", false, true, 'a', B_EOT, 'b');
    ENC(&t, "<|endoftext|>", true, false, '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>');
    tokenizer_free(&t);
}

static void bpe_llama3_pre(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    if (bpe_vocab(&t, "llama-bpe", true, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    CHECK(t.add_bos && t.ignore_merges, "llama3 defaults");
    /* the whole pre-token is a token: taken as is, merges ignored */
    ENC(&t, " ab", false, false, B_GAB);
    ENC(&t, " ab", true, false, B_EOT, B_GAB);
    tokenizer_free(&t);
}

static void bpe_pieces(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    if (bpe_vocab(&t, "gpt-2", true, &err))
        SKIP("cannot build the vocabulary: %s", err.msg);
    CHECK(piece_is(&t, B_GAB, false, " ab"), "Ġab");
    CHECK(piece_is(&t, '\n', false, "\n") && piece_is(&t, 0xC3, false, "\xc3"), "bytes");
    CHECK(piece_is(&t, B_EOT, false, "") && piece_is(&t, B_EOT, true, "<|endoftext|>"), "control");
    int32_t ids[] = { 0xC3, 0xA9, ' ', B_AB };
    size_t len;
    char *s = decode(&t, ids, 4, &len);
    CHECK(s && len == 5 && !memcmp(s, "\xc3\xa9 ab", 5), "decode");
    free(s);
    tokenizer_free(&t);
}

static void bad_vocabularies(void)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    struct gguf_writer w;
    const char *dup[] = { "a", "b", "a" }, *ok[] = { "a", "b" };
    const float short_scores[] = { 0 };
    gguf_writer_init(&w);
    int rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "llama", &err);
    if (!rc)
        rc = gguf_writer_set_arr_str(&w, "tokenizer.ggml.tokens", dup, 3, &err);
    CHECK(!rc, "%s", err.msg);
    CHECK(load_from_writer(&t, &w, &err) == TL_EFORMAT, "duplicate texts: %s", err.msg);
    rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "t5", &err);
    CHECK(!rc && load_from_writer(&t, &w, &err) == TL_EUNSUPPORTED, "t5: %s", err.msg);
    rc = gguf_writer_set_arr_str(&w, "tokenizer.ggml.tokens", ok, 2, &err);
    if (!rc)
        rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "gpt2", &err);
    CHECK(!rc && load_from_writer(&t, &w, &err) == TL_EFORMAT, "no merges: %s", err.msg);
    rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "llama", &err);
    if (!rc)
        rc = gguf_writer_set_arr(&w, "tokenizer.ggml.scores", GGUF_F32, short_scores, 1, &err);
    CHECK(!rc && load_from_writer(&t, &w, &err) == TL_EFORMAT, "short scores: %s", err.msg);
    gguf_writer_free(&w);
    gguf_writer_init(&w);
    rc = gguf_writer_set_str(&w, "tokenizer.ggml.model", "llama", &err);
    CHECK(!rc && load_from_writer(&t, &w, &err) == TL_EFORMAT, "no tokens: %s", err.msg);
    gguf_writer_free(&w);
}

/* ---- llama.cpp's vectors (tests/test-tokenizer-0: add_special and
 * parse_special both off) ---- */

struct vectors {
    char   *inp, *out;
    char  **str;      /* n inputs, pointing into inp */
    size_t *len;
    char  **ids;      /* n expected-id lines, pointing into out */
    int     n;
};

static void vectors_free(struct vectors *v)
{
    mem_free_all(v->inp, v->out, v->str, v->len, v->ids);
    memset(v, 0, sizeof *v);
}

/* .inp: strings each followed by "\n__ggml_vocab_test__\n"; .out: one line each. */
static int vectors_read(struct vectors *v, const char *base)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char path[600];
    size_t n_inp = 0, n_out = 0;
    memset(v, 0, sizeof *v);
    snprintf(path, sizeof path, "%s.inp", base);
    v->inp = test_read_file(path, &n_inp);
    snprintf(path, sizeof path, "%s.out", base);
    v->out = test_read_file(path, &n_out);
    v->str = calloc(n_inp + 1, sizeof *v->str);
    v->len = calloc(n_inp + 1, sizeof *v->len);
    v->ids = calloc(n_out + 2, sizeof *v->ids);
    if (!v->inp || !v->out || !v->str || !v->len || !v->ids)
        return -1;
    for (size_t pos = 0; pos < n_inp;) {
        char *next = memmem(v->inp + pos, n_inp - pos, sep, sizeof sep - 1);
        size_t end = next ? (size_t)(next - v->inp) : n_inp;
        v->str[v->n] = v->inp + pos;
        v->len[v->n++] = end - pos;
        pos = end + (next ? sizeof sep - 1 : 0);
    }
    /* lines as std::getline sees them: a last line needs no '\n' */
    int lines = 0;
    for (char *p = v->out, *end = v->out + n_out; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        v->ids[lines++] = p;
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    return lines == v->n ? 0 : -1;
}

static int parse_ids(const char *line, int32_t *ids, int cap)
{
    int n = 0;
    char *end;
    for (;;) {
        long x = strtol(line, &end, 10);
        if (end == line || n == cap)
            return n;
        ids[n++] = (int32_t)x;
        line = end;
    }
}

/* SPM pieces start with the prefix space llama.cpp adds; BPE ones are exact. */
static bool roundtrips(const struct tokenizer *t, const char *s, size_t len, const int32_t *ids, int n)
{
    size_t got_len;
    char *got = decode(t, ids, n, &got_len);
    bool prefix = t->model == TOK_SPM && t->add_space_prefix && len > 0;
    bool ok = got && got_len == len + prefix && (!prefix || got[0] == ' ') && !memcmp(got + prefix, s, len);
    free(got);
    return ok;
}

static void run_vocab(const char *file)
{
    char base[512];
    const char *dir = test_shared_dir();
    struct vectors v;
    struct tokenizer t;
    struct tl_error err = { 0 };
    int32_t want[1024];
    int pass = 0, round = 0;
    if (!dir)
        SKIP("../shared is absent");
    snprintf(base, sizeof base, "%s/vocab/%s", dir, file);
    if (load_file(&t, base, &err))
        SKIP("cannot load %s: %s", file, err.msg);
    if (vectors_read(&v, base)) {
        CHECK(0, "cannot read the vectors of %s", file);
        vectors_free(&v);
        tokenizer_free(&t);
        return;
    }
    for (int i = 0; i < v.n; i++) {
        int n_want = parse_ids(v.ids[i], want, 1024);
        int32_t *ids = NULL;
        int n = 0;
        pass += enc_is(&t, v.str[i], v.len[i], false, false, want, n_want);
        if (!tokenizer_encode(&t, v.str[i], v.len[i], false, false, &ids, &n, &err))
            round += roundtrips(&t, v.str[i], v.len[i], ids, n);
        free(ids);
    }
    printf("  %s: %d/%d strings match llama.cpp, %d/%d decode back to the input\n", file, pass, v.n, round, v.n);
    CHECK(pass == v.n, "%s: %d of %d", file, v.n - pass, v.n);
    CHECK(round == v.n, "%s: %d of %d do not round-trip", file, v.n - round, v.n);
    vectors_free(&v);
    tokenizer_free(&t);
}

static void vocab_llama_spm(void) { run_vocab("ggml-vocab-llama-spm.gguf"); }
static void vocab_phi_3(void) { run_vocab("ggml-vocab-phi-3.gguf"); }
static void vocab_gpt_2(void) { run_vocab("ggml-vocab-gpt-2.gguf"); }
static void vocab_gpt2_pre_llama3(void) { run_vocab("vocab-gpt2-pre-llama3.gguf"); }
static void vocab_gpt2_pre_qwen2(void) { run_vocab("vocab-gpt2-pre-qwen2.gguf"); }

/* Special ids and the eog set as llama.cpp's loader reports them. */
static void vocab_special_ids(void)
{
    static const struct {
        const char *file;
        int32_t bos, eos, eot, unk, pad, nl, n_eog, eog[2];
    } want[] = {
        { "ggml-vocab-llama-spm.gguf", 1, 2, -1, 0, -1, 13, 1, { 2 } },
        { "ggml-vocab-phi-3.gguf", 1, 32000, 32007, 0, 32000, 13, 2, { 32000, 32007 } },
        { "ggml-vocab-gpt-2.gguf", 50256, 50256, 50256, -1, -1, 198, 1, { 50256 } },
    };
    char path[512];
    const char *dir = test_shared_dir();
    if (!dir)
        SKIP("../shared is absent");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct tokenizer t;
        struct tl_error err = { 0 };
        snprintf(path, sizeof path, "%s/vocab/%s", dir, want[i].file);
        if (load_file(&t, path, &err)) {
            CHECK(0, "%s: %s", want[i].file, err.msg);
            continue;
        }
        CHECK(t.bos == want[i].bos && t.eos == want[i].eos && t.eot == want[i].eot && t.unk == want[i].unk &&
              t.pad == want[i].pad && t.nl == want[i].nl, "%s: bos %d eos %d eot %d unk %d pad %d nl %d",
              want[i].file, t.bos, t.eos, t.eot, t.unk, t.pad, t.nl);
        CHECK(t.n_eog == want[i].n_eog && !memcmp(t.eog, want[i].eog, (size_t)t.n_eog * sizeof *t.eog),
              "%s: %d eog ids", want[i].file, t.n_eog);
        tokenizer_free(&t);
    }
}

/* The oracle's prompt_tokens: BOS as the vocabulary asks, special tokens parsed. */
static void oracle_prompt_tokens(void)
{
    static const char *models[] = {
        "oracle/models/llama-mini-f32", "oracle/models/gemma-mini-f32", "oracle/models/phi3-mini-f32",
        "oracle/models/qwen2-mini-f32", "oracle/models/phi2-mini-f32", "oracle/models/stablelm-mini-f32",
        "models/llama-2-tiny-random",
    };
    static const char *prompts[] = { "short", "long" };
    const char *dir = test_shared_dir();
    int32_t want[1024];
    int checked = 0;
    if (!dir)
        SKIP("../shared is absent");
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char path[512];
        struct tokenizer t;
        struct tl_error err = { 0 };
        snprintf(path, sizeof path, "%s/%s.gguf", dir, models[m]);
        if (load_file(&t, path, &err)) {
            CHECK(0, "%s: %s", models[m], err.msg);
            continue;
        }
        for (size_t p = 0; p < 2; p++) {
            size_t tlen, rlen;
            const char *name = strrchr(models[m], '/') + 1;
            snprintf(path, sizeof path, "%s/oracle/prompts/%s.txt", dir, prompts[p]);
            char *text = test_read_file(path, &tlen);
            snprintf(path, sizeof path, "%s/oracle/ref/%s.%s.ref", dir, name, prompts[p]);
            char *ref = test_read_file(path, &rlen);
            char *line = ref ? strstr(ref, "prompt_tokens ") : NULL;
            if (text && line) {
                int n_want = parse_ids(line + strlen("prompt_tokens "), want, 1024);
                CHECK(enc_is(&t, text, tlen, true, true, want, n_want), "%s.%s", name, prompts[p]);
                checked++;
            }
            free(text);
            free(ref);
        }
        tokenizer_free(&t);
    }
    CHECK(checked > 0, "no oracle references found");
}

/* ---- every pre-tokenizer name against llama.cpp ----
 * The ids are what llama.cpp (Feb 2025) gives for ../shared's gpt-2
 * vocabulary with tokenizer.ggml.pre set to each name, add_special off and
 * parse_special on. Each text has one "*" row (the ids most names share)
 * and one row per other outcome, naming its pre names; "(absent)" is a
 * file without the key. */
struct pre_case {
    int         text;    /* index into pre_texts */
    const char *names;   /* space-separated pre names, or "*" for the rest */
    const char *ids;
};

static const char *const pre_names[] = {
    "(absent)", "chatglm-bpe", "default", "gpt-2", "phi-2", "llama3", "llama-bpe", "qwen2",
    "stablelm2", "smollm", "starcoder", "deepseek-llm", "deepseek-coder", "falcon", "refact",
    "mpt", "olmo", "command-r", "deepseek-v3", "poro-chat", "viking", "tekken", "chameleon",
    "exaone", "minerva-7b", "bloom", "jais",
};
/* names for which llama.cpp adds BOS by default, and those that also skip
 * the merges of a pre-token that is a token */
static const char pre_bos_names[] = "llama3 llama-bpe tekken chameleon";
static const char pre_ignore_merges_names[] = "llama3 llama-bpe tekken";

static const char *const pre_texts[] = {
    /*  0 */ "Hello world",
    /*  1 */ " Hello World! How's it going?",
    /*  2 */ "I'm you're WE'VE they'll he'd 'T can't 'Re 'rE 's's",
    /*  3 */ "12345 1234567 3.14159 1,000,000 x86_64 0x1F",
    /*  4 */ "   lead\t\ttabs  \n\n\n  trail   ",
    /*  5 */ "line1\r\nline2\r\n\r\n end",
    /*  6 */ "日本語、漢字。中文，混合English123",
    /*  7 */ "한국어 Привет, мир! ΣΊΣ",
    /*  8 */ "مرحبا، हिन्दी। ไทย",
    /*  9 */ "emoji 🙂👍🏽 👨\xe2\x80\x8d👧 🇯🇵! 🦙.cpp 1️⃣",
    /* 10 */ "café naïve Straße ÀÉÎ HTTPServer iPhone camelCase ǅemal",
    /* 11 */ "~tilde `back` $dollar ^caret |pipe| <tag> !!! ??? ... --- ***",
    /* 12 */ "µs ﬁ Ｈｉ！ ｶﾀ ‘q’ “d” «g»",
    /* 13 */ "٣٤٥ ½ ² Ⅻ ① ０１ 3333333333",
    /* 14 */ "def f(x):\n    return x**2  # sq\n\nint main(void) {\n\treturn 0;\n}\n",
    /* 15 */ "\xff\xfe bad \xc3( \xe2\x82 \xf0\x9f\x98 \xc0\x80 \xc0\xafx \xed\xa0\x80 z",
    /* 16 */ "ctrl\x01\x02 zwsp\xe2\x80\x8bjoin \xef\xbb\xbf_bom nbsp\xc2\xa0x \xe3\x80\x80y e\xcc\x81 a\xcc\x80\xcc\x80",
    /* 17 */ "a<|endoftext|>b <|endoftext|> <|endoftext",
    /* 18 */ "",
    /* 19 */ "U.S.A. e.g. (paren) a|b x.y, z! w? v… 。、।، IMGIMGABZ",
    /* 20 */ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    /* 21 */ "\n \n\n \t\n",
};
static const struct pre_case pre_cases[] = {
    { 0, "*", "15496 995" },
    { 1, "*", "18435 2159 0 1374 338 340 1016 30" },
    { 1, "(absent) default deepseek-llm deepseek-coder falcon chameleon", "18435 2159 0 1374 6 82 340 1016 30" },
    { 2, "*", "40 1101 345 821 12887 6 6089 484 1183 339 1549 705 51 460 470 705 3041 705 81 36 705 82 338" },
    { 2, "(absent) default falcon chameleon",
      "40 6 76 345 6 260 12887 6 6089 484 6 297 339 6 67 220 6 51 460 6 83 220 6 3041 220 6 81 36 220 6 82 6 82" },
    { 2, "poro-chat viking bloom",
      "40 1101 345 821 12887 6 6089 484 1183 339 1549 705 51 460 470 705 3041 705 81 36 220 338 338" },
    { 2, "deepseek-llm deepseek-coder",
      "40 6 76 345 6 260 12887 6 6089 484 6 297 339 6 67 705 51 460 6 83 705 3041 705 81 36 705 82 6 82" },
    { 3, "*",
      "16 17 18 19 20 220 16 17 18 19 20 21 22 220 18 13 16 19 16 20 24 220 16 11 15 15 15 11 15 15 15 2124 23 "
      "21 62 21 19 220 15 87 16 37" },
    { 3, "gpt-2 phi-2 mpt olmo poro-chat bloom jais",
      "10163 2231 17031 2231 3134 513 13 1415 19707 352 11 830 11 830 2124 4521 62 2414 657 87 16 37" },
    { 3, "(absent) chatglm-bpe default llama3 llama-bpe deepseek-v3",
      "10163 2231 220 10163 29228 22 220 18 13 23756 3270 220 16 11 830 11 830 2124 4521 62 2414 220 15 87 16 "
      "37" },
    { 3, "deepseek-llm",
      "10163 2231 220 10163 2231 3134 220 18 13 1415 19707 220 16 11 830 11 830 2124 4521 62 2414 220 15 87 16 "
      "37" },
    { 3, "falcon",
      "10163 2231 220 10163 29228 22 513 13 23756 3270 352 11 830 11 830 2124 4521 62 2414 657 87 16 37" },
    { 4, "*", "220 220 1085 197 197 8658 82 220 220 628 198 220 8025 220 220 220" },
    { 4, "deepseek-llm deepseek-coder", "220 220 1085 197 197 8658 82 220 220 198 198 198 220 8025 220 220 220" },
    { 4, "chameleon", "220 220 1085 197 197 8658 82 220 220 198 198 198 220 220 9535 346 220 220 220" },
    { 5, "*", "1370 16 201 198 1370 17 201 198 201 198 886" },
    { 6, "*",
      "33768 98 17312 105 45739 252 23513 162 120 95 27764 245 16764 40792 23877 229 171 120 234 162 115 115 "
      "28938 230 15823 10163" },
    { 6, "qwen2 stablelm2 smollm starcoder deepseek-coder refact command-r viking tekken chameleon exaone minerva-7b",
      "33768 98 17312 105 45739 252 23513 162 120 95 27764 245 16764 40792 23877 229 171 120 234 162 115 115 "
      "28938 230 15823 16 17 18" },
    { 7, "*",
      "47991 250 166 113 255 168 244 112 12466 253 21169 18849 38857 16843 20375 11 12466 120 18849 21169 0 "
      "7377 96 138 232 138 96" },
    { 8, "*",
      "25405 26897 148 255 39848 12919 148 234 28225 117 11976 123 11976 101 24231 235 11976 99 24231 222 24231 "
      "97 220 31479 226 19567 245 19567 95" },
    { 8, "deepseek-llm",
      "25405 26897 148 255 39848 34247 234 220 11976 117 11976 123 11976 101 24231 235 11976 99 24231 222 24231 "
      "97 220 31479 226 19567 245 19567 95" },
    { 8, "deepseek-coder",
      "25405 26897 148 255 39848 12919 148 234 220 11976 117 11976 123 11976 101 24231 235 11976 99 24231 222 "
      "24231 97 220 31479 226 19567 245 19567 95" },
    { 9, "*",
      "368 31370 32485 41840 235 8582 237 121 50169 101 447 235 41840 100 12520 229 107 8582 229 113 0 12520 99 "
      "247 13 20322 220 16 37929 158 225 96" },
    { 9, "gpt-2 phi-2 falcon mpt olmo poro-chat bloom jais",
      "368 31370 32485 41840 235 8582 237 121 50169 101 447 235 41840 100 12520 229 107 8582 229 113 0 12520 99 "
      "247 13 20322 352 37929 158 225 96" },
    { 10, "*",
      "66 1878 2634 41492 15195 39683 68 6184 222 38351 127 236 38288 18497 7133 41021 20448 220 131 227 368 "
      "282" },
    { 10, "deepseek-llm",
      "66 1878 2634 12385 26884 303 15195 39683 68 6184 222 38351 127 236 38288 18497 7133 41021 20448 220 131 "
      "227 368 282" },
    { 10, "tekken",
      "66 1878 2634 41492 15195 39683 68 6184 222 38351 127 236 38288 18497 1312 6132 41021 20448 220 131 227 "
      "368 282" },
    { 11, "*",
      "93 83 44725 4600 1891 63 720 22569 10563 6651 83 930 34360 91 1279 12985 29 220 10185 34913 2644 11420 "
      "17202" },
    { 11, "(absent) default",
      "93 83 44725 4600 1891 63 220 3 22569 220 61 6651 83 220 91 34360 91 220 27 12985 29 220 10185 220 28358 "
      "220 986 220 6329 220 8162" },
    { 11, "falcon",
      "93 83 44725 220 63 1891 63 220 3 22569 220 61 6651 83 220 91 34360 91 220 27 12985 29 220 10185 220 "
      "28358 220 986 220 6329 220 8162" },
    { 11, "chameleon",
      "93 83 44725 220 63 1891 63 220 3 22569 220 61 6651 83 220 91 34360 91 220 27 12985 29 220 0 0 0 220 30 "
      "30 30 220 13 13 13 220 12 12 12 220 9 9 9" },
    { 12, "*",
      "126 113 82 27332 105 223 27332 120 101 171 121 231 171 120 223 27332 121 114 171 122 222 564 246 80 447 "
      "247 564 250 67 447 251 21110 70 17730" },
    { 12, "(absent) default falcon chameleon",
      "126 113 82 27332 105 223 27332 120 101 171 121 231 171 120 223 27332 121 114 171 122 222 220 447 246 80 "
      "447 247 220 447 250 67 447 251 220 24328 70 17730" },
    { 12, "deepseek-llm deepseek-coder",
      "126 113 82 27332 105 223 27332 120 101 171 121 231 171 120 223 27332 121 114 171 122 222 220 447 246 80 "
      "447 247 220 447 250 67 447 251 21110 70 17730" },
    { 13, "*",
      "149 96 149 97 149 98 220 23141 220 31185 220 158 227 104 220 158 239 254 220 171 120 238 171 120 239 220 "
      "18 18 18 18 18 18 18 18 18 18" },
    { 13, "gpt-2 phi-2 mpt olmo poro-chat bloom jais",
      "149 96 149 97 149 98 25208 1587 110 2343 227 104 2343 239 254 27332 120 238 171 120 239 23460 24840 "
      "20370" },
    { 13, "(absent) chatglm-bpe default llama3 llama-bpe deepseek-v3",
      "149 96 149 97 149 98 220 23141 220 31185 220 158 227 104 220 158 239 254 220 171 120 238 171 120 239 220 "
      "20370 20370 20370 18" },
    { 13, "deepseek-llm",
      "149 96 149 97 149 98 220 23141 220 31185 220 158 227 104 220 158 239 254 220 171 120 238 171 120 239 220 "
      "24840 24840 2091" },
    { 13, "falcon",
      "149 96 149 97 149 98 25208 1587 110 2343 227 104 2343 239 254 27332 120 238 171 120 239 220 20370 20370 "
      "20370 18" },
    { 14, "*",
      "4299 277 7 87 2599 198 220 220 220 1441 2124 1174 17 220 1303 19862 198 198 600 1388 7 19382 8 1391 198 "
      "197 7783 220 15 26 198 92 198" },
    { 14, "chatglm-bpe llama3 llama-bpe qwen2 stablelm2 deepseek-v3 tekken",
      "4299 277 7 87 2599 198 220 220 220 1441 2124 1174 17 220 1303 19862 628 600 1388 7 19382 8 1391 198 197 "
      "7783 220 15 26 198 92 198" },
    { 14, "gpt-2 phi-2 mpt olmo jais",
      "4299 277 7 87 2599 198 220 220 220 1441 2124 1174 17 220 1303 19862 198 198 600 1388 7 19382 8 1391 198 "
      "197 7783 657 26 198 92 198" },
    { 14, "(absent) default",
      "4299 277 7 87 2599 198 220 220 220 1441 2124 1174 17 220 220 2 19862 198 198 600 1388 7 19382 8 220 90 "
      "198 197 7783 220 15 26 198 92 198" },
    { 14, "poro-chat bloom",
      "4299 277 7 87 8 25 198 220 220 220 1441 2124 1174 17 220 1303 19862 628 600 1388 7 19382 8 1391 198 197 "
      "7783 657 26 198 92 198" },
    { 14, "falcon",
      "4299 277 7 87 2599 198 220 220 220 1441 2124 1174 17 220 220 2 19862 198 198 600 1388 7 19382 8 220 90 "
      "198 197 7783 657 26 198 92 198" },
    { 14, "viking",
      "4299 277 7 87 8 25 198 220 220 220 1441 2124 1174 17 220 1303 19862 628 600 1388 7 19382 8 1391 198 197 "
      "7783 220 15 26 198 92 198" },
    { 14, "chameleon",
      "4299 277 7 87 8 25 198 220 220 220 220 7783 2124 9 9 17 220 220 2 19862 198 198 600 1388 7 19382 8 220 "
      "90 198 197 7783 220 15 26 198 92 198" },
    { 15, "*", "6353 2089 20543 7 220 6353 220 48585 220 188 1220 87 220 169 254 222 1976" },
    { 15, "(absent) default falcon chameleon",
      "6353 2089 20543 7 220 6353 220 48585 220 188 220 14 87 220 169 254 222 1976" },
    { 16, "*",
      "44755 189 190 1976 86 2777 9525 22179 27332 119 123 62 65 296 299 24145 1849 87 220 5099 222 88 304 136 "
      "223 257 136 222 136 222" },
    { 16, "deepseek-v3",
      "44755 189 190 1976 86 2777 9525 22179 220 171 119 123 62 65 296 299 24145 1849 87 220 5099 222 88 304 "
      "136 223 257 136 222 136 222" },
    { 17, "*", "64 50256 65 220 50256 1279 91 437 1659 5239" },
    { 17, "(absent) default falcon chameleon", "64 50256 65 220 50256 220 27 91 437 1659 5239" },
    { 18, "*", "" },
    { 19, "*",
      "52 13 50 13 32 13 304 13 70 13 357 11730 8 257 91 65 2124 13 88 11 1976 0 266 30 410 1399 220 16764 "
      "23513 24231 97 148 234 8959 38 3955 38 6242 57" },
    { 19, "(absent) default falcon",
      "52 13 50 13 32 13 304 13 70 13 220 7 11730 8 257 91 65 2124 13 88 11 1976 0 266 30 410 1399 220 16764 "
      "23513 24231 97 148 234 8959 38 3955 38 6242 57" },
    { 19, "chameleon",
      "52 13 50 13 32 13 304 13 70 13 220 7 11730 8 257 91 65 2124 13 88 11 1976 0 266 30 410 1399 220 16764 "
      "23513 24231 97 148 234 220 3955 38 3955 38 6242 57" },
    { 20, "*", "24794 24794 24794 24794 24794 24794 24794 24794 24794 24794" },
    { 21, "*", "198 220 628 220 197 198" },
    { 21, "deepseek-llm deepseek-coder chameleon", "198 220 198 198 220 197 198" },
};

/* Whether name is a word of the space-separated list. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return true;
    return false;
}

/* The row for (text, name): the row naming it, else the text's "*" row. */
static const struct pre_case *pre_expect(int text, const char *name)
{
    const struct pre_case *star = NULL;
    for (size_t i = 0; i < sizeof pre_cases / sizeof pre_cases[0]; i++) {
        if (pre_cases[i].text != text)
            continue;
        if (in_list(pre_cases[i].names, name))
            return &pre_cases[i];
        if (!strcmp(pre_cases[i].names, "*"))
            star = &pre_cases[i];
    }
    return star;
}

/* What llama.cpp derives from the name, seen on the small BPE vocabulary:
 * the BOS default when the file names none (11 for BPE, none for
 * chatglm-bpe) and the flags. Then gpt2 takes over the name's settings.
 * Returns the failures. */
static int pre_flags(struct tokenizer *gpt2, const char *name)
{
    struct tokenizer t;
    struct tl_error err = { 0 };
    const char *key = strcmp(name, "(absent)") ? name : NULL;
    bool bos = in_list(pre_bos_names, name), im = in_list(pre_ignore_merges_names, name);
    int32_t bos_default = strcmp(name, "chatglm-bpe") ? 11 : -1;
    int bad = 0;
    if (bpe_vocab(&t, key, false, &err))
        goto fail;
    if (t.bos != bos_default) {
        printf("  pre %s without bos_token_id: bos %d, want %d\n", name, t.bos, bos_default);
        bad++;
    }
    tokenizer_free(&t);
    if (bpe_vocab(&t, key, true, &err))
        goto fail;
    if (t.add_bos != bos || t.ignore_merges != im || t.add_eos) {
        printf("  pre %s: add_bos %d ignore_merges %d add_eos %d\n", name, t.add_bos, t.ignore_merges, t.add_eos);
        bad++;
    }
    gpt2->pre = t.pre;
    gpt2->add_bos = t.add_bos;
    gpt2->ignore_merges = t.ignore_merges;
    tokenizer_free(&t);
    return bad;
fail:
    printf("  pre %s: %s\n", name, err.msg);
    return bad + 1;
}

/* Every text with pre name on the gpt-2 vocabulary; returns the failures. */
static int pre_check_name(struct tokenizer *t, const char *name)
{
    int32_t want[128];
    int bad = pre_flags(t, name), n_texts = (int)(sizeof pre_texts / sizeof pre_texts[0]);
    for (int i = 0; i < n_texts; i++) {
        const struct pre_case *c = pre_expect(i, name);
        int n = c ? parse_ids(c->ids, want, 128) : 0;
        if (!c || !enc_is(t, pre_texts[i], strlen(pre_texts[i]), false, true, want, n)) {
            printf("  pre %s, text %d\n", name, i);
            bad++;
        }
    }
    /* add_special: BOS in front exactly when the name asks for it */
    static const int32_t hello[3] = { 50256, 15496, 995 };
    bool bos = in_list(pre_bos_names, name);
    bad += !enc_is(t, pre_texts[0], strlen(pre_texts[0]), true, true, hello + !bos, 3 - !bos);
    return bad;
}

/* The gpt-2 vocabulary is loaded once and given each name's settings
 * (pre_flags) instead of being reloaded per name: keeps this fast under
 * ASan and qemu. */
static void pre_tokenizers_vs_llama_cpp(void)
{
    char path[512];
    const char *dir = test_shared_dir();
    struct tokenizer t;
    struct tl_error err = { 0 };
    size_t n_names = sizeof pre_names / sizeof pre_names[0];
    int bad = 0;
    if (!dir)
        SKIP("../shared is absent");
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gpt-2.gguf", dir);
    if (load_file(&t, path, &err))
        SKIP("cannot load %s: %s", path, err.msg);
    for (size_t i = 0; i < n_names; i++)
        bad += pre_check_name(&t, pre_names[i]);
    printf("  %zu pre names x %zu texts: %d mismatches with llama.cpp\n", n_names,
           sizeof pre_texts / sizeof pre_texts[0], bad);
    CHECK(bad == 0, "%d mismatches", bad);
    tokenizer_free(&t);
}

/* ---- streaming UTF-8 ---- */

static bool feed_is(const char *a, size_t na, const char *b, size_t nb, const char *want)
{
    struct utf8_stream s = { { 0 }, 0 };
    char out[256];
    size_t n = utf8_feed(&s, a, na, out, sizeof out);
    n += utf8_feed(&s, b, nb, out + n, sizeof out - n);
    n += utf8_flush(&s, out + n, sizeof out - n);
    return n == strlen(want) && !memcmp(out, want, n);
}

static void utf8_stream_splits(void)
{
    static const char *texts[] = { "a\xc3\xa9z", "\xe2\x82\xac", "x\xf0\x9f\xa6\x99y", "\xf4\x8f\xbf\xbf",
                                   "\xc2\x80\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i]);
        for (size_t k = 0; k <= n; k++)
            CHECK(feed_is(texts[i], k, texts[i] + k, n - k, texts[i]), "text %zu split at %zu", i, k);
        /* one byte at a time, nothing out before a character is complete */
        struct utf8_stream s = { { 0 }, 0 };
        char out[64];
        size_t got = 0;
        for (size_t k = 0; k < n; k++)
            got += utf8_feed(&s, texts[i] + k, 1, out + got, sizeof out - got);
        CHECK(got == n && !memcmp(out, texts[i], n) && utf8_flush(&s, out, sizeof out) == 0, "bytewise %zu", i);
    }
}

#define R "\xef\xbf\xbd"   /* U+FFFD */

static void utf8_stream_invalid(void)
{
    CHECK(feed_is("\xff", 1, "", 0, R), "ff");
    CHECK(feed_is("a\x80" "b", 3, "", 0, "a" R "b"), "stray continuation");
    CHECK(feed_is("\xe2\x82", 2, "A", 1, R "A"), "truncated then ASCII");
    CHECK(feed_is("\xe2\x82", 2, "", 0, R), "truncated at flush");
    CHECK(feed_is("\xc0\xaf", 2, "", 0, R R), "overlong");
    CHECK(feed_is("\xed\xa0\x80", 3, "", 0, R R R), "surrogate");
    CHECK(feed_is("\xf4\x90\x80\x80", 4, "", 0, R R R R), "past U+10FFFF");
    CHECK(feed_is("\xf0\x9f", 2, "\xe2\x82\xac", 3, R "\xe2\x82\xac"), "new lead cuts a sequence");
    /* a small buffer gets whole characters only */
    struct utf8_stream s = { { 0 }, 0 };
    char out[4];
    CHECK(utf8_feed(&s, "ab\xe2\x82\xac", 5, out, 4) == 2, "truncated at a character");
}

int main(void)
{
    RUN_TEST(spm_basics);
    RUN_TEST(spm_special_tokens);
    RUN_TEST(spm_flags_and_strip);
    RUN_TEST(spm_unknown_without_bytes);
    RUN_TEST(spm_pieces);
    RUN_TEST(spm_long_input);
    RUN_TEST(bpe_basics);
    RUN_TEST(bpe_llama3_pre);
    RUN_TEST(bpe_pieces);
    RUN_TEST(bad_vocabularies);
    RUN_TEST(vocab_llama_spm);
    RUN_TEST(vocab_phi_3);
    RUN_TEST(vocab_gpt_2);
    RUN_TEST(vocab_gpt2_pre_llama3);
    RUN_TEST(vocab_gpt2_pre_qwen2);
    RUN_TEST(vocab_special_ids);
    RUN_TEST(oracle_prompt_tokens);
    RUN_TEST(pre_tokenizers_vs_llama_cpp);
    RUN_TEST(utf8_stream_splits);
    RUN_TEST(utf8_stream_invalid);
    return test_finish();
}
