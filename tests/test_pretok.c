/* test_pretok.c: pre-tokenizer word splits against goldens taken from
 * llama.cpp's unicode_regex_split (Feb 2025) for each regex list (in
 * tests/pretok/splits.txt), plus the name table, error paths and partition
 * invariants on arbitrary bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/pretok.h"
#include "test.h"

/* Inputs: raw bytes, some deliberately invalid UTF-8. */
static const char *const inputs[] = {
    "Hello world",
    " Hello World!",
    "it's I'M you're WE'VE they'll he'd 'T",
    "can't won't 'll'LL",
    "12345 1234567 1 12 123",
    "x = a+b*(c-d)/e; // comment",
    "   leading and trailing   ",
    "a\tb\t\tc",
    "line1\nline2\r\nline3\n\n\n",
    "  \n  x",
    "spaces then newline   \n",
    "nbsp\xc2\xa0here\xc2\xa0\xc2\xa0x",
    "ideographic\xe3\x80\x80space\xe3\x80\x80。",
    "日本語のテキスト、漢字。",
    "한국어 텍스트입니다",
    "Привет, мир! Как дела?",
    "Ελληνικά ΣΊΣΥΦΟΣ",
    "مرحبا بالعالم، كيف حالك؟",
    "ह\xe0\xa4\xbfन\xe0\xa5\x8dद\xe0\xa5\x80 प\xe0\xa4\xbeठ। नमस\xe0\xa5\x8dत\xe0\xa5\x87",
    "ผสมภาษาไทย",
    "emoji 🙂👍🏽 and 👨\xe2\x80\x8d👩\xe2\x80\x8d👧 family",
    "flags 🇯🇵🇺🇸!",
    "café naïve résumé Straße",
    "HTTPServer iPhone camelCase ÀÉÎ ÀB",
    "~tilde `back` $dollar ^caret |pipe| <tag>",
    "!!! ??? ... --- ***",
    "µs ﬁ Ｈｅｌｌｏ！ＡＢ",
    "‘quoted’ “double” «guillemets»",
    "a1b2c3 x86_64 0x1F 3.14159 1,000,000",
    "٣٤٥ ½ ² Ⅻ ①②",
    "<sentinel:12> <sentinel:> IMGIMGABZ IMGIMGABCDEFZ IMGIMGZ",
    "    four  two   three",
    "\xff\xfe bad \xc3( \xe2\x82 \xf0\x9f\x98",
    "overlong \xc0\x80 \xc0\xa0x surrogate \xed\xa0\x80 big \xf4\x90\x80\x80",
    "ctrl\x01\x02 zwsp\xe2\x80\x8bjoin \xef\xbb\xbf""bom",
    "combining e\xcc\x81 a\xcc\x80\xcc\x80 mark",
    "ࠀ一龥龦 ac가힣",
    "python:\n    def f(x):\n        return x**2\n",
    "int main(void) {\n\treturn 0;\n}\n",
    "a//b///\n/c",
    " \x0b\x0c\xc2\x85x\xe2\x80\xa8y",
    "'s's 's",
    "\r\n\r\n",
    " ",
    "   ",
    "\n",
    "'",
    "a",
    "x  ",
    "U.S.A. e.g. i.e.",
    "A\xcc\x81""B ABc aBC abC",
    "中文，标点。混合English123",
    "カタカナ ひらがな ｶﾀｶﾅ",
    "'Re 'rE 'VE 'Ll 'D 'M 'S",
    "CJK-I \xf0\xae\xaf\xb0\xf0\xae\xaf\xb1 ids \xe2\xbf\xbc\xe3\x87\xaf",
    "poro (paren) a|b x.y, z! w? v… 。，、।۔،",
    "tab\t \t  \tend",
    "$$$ +++ <=> ^^ ||",
    "1\n2\r\n3 4  5",
    "🦙.cpp",
    "~é ~a !é .Net",
    "\xe3\x80\x80\xe3\x80\x80x\xe3\x80\x80",
};
#define N_INPUTS (sizeof inputs / sizeof inputs[0])

/* Expected word lengths per input and regex family (the goldens). */
#define GOLDEN "tests/pretok/splits.txt"

/* Point want[] at the N_INPUTS lines of text's section "= name", cutting
 * them in place; false when the section or a line is missing. */
static bool golden_lines(char *text, const char *name, const char *want[N_INPUTS])
{
    char head[64];
    snprintf(head, sizeof head, "\n= %s\n", name);
    char *p = strstr(text, head);
    if (!p)
        return false;
    p += strlen(head);
    for (size_t i = 0; i < N_INPUTS; i++) {
        char *nl = strchr(p, '\n');
        if (!nl || (*p == '=' && p[1] == ' '))
            return false;
        *nl = '\0';
        want[i] = p;
        p = nl + 1;
    }
    return true;
}

/* Split text and render the word lengths as "5 6 1"; "ERR" on failure. */
static void split_lengths(int type, const char *text, size_t len, char *out, size_t cap)
{
    struct pretok_span *sp = NULL;
    struct tl_error err = {0};
    size_t n = 0, used = 0;

    out[0] = '\0';
    if (pretok_split(type, text, len, &sp, &n, &err)) {
        snprintf(out, cap, "ERR %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, i ? " %zu" : "%zu", sp[i].len);
    free(sp);
}

/* Every type of a family must split each input as llama.cpp does. */
static void check_family(const char *name, const int *types, size_t n_types)
{
    char got[1024], *text = test_read_file(GOLDEN, NULL);
    const char *want[N_INPUTS];
    bool found = text && golden_lines(text, name, want);
    CHECK(found, "%s: no section '= %s' of %zu lines (tests run from the repository root)", GOLDEN, name,
          N_INPUTS);
    for (size_t k = 0; k < n_types && found; k++) {
        for (size_t i = 0; i < N_INPUTS; i++) {
            split_lengths(types[k], inputs[i], strlen(inputs[i]), got, sizeof got);
            CHECK(strcmp(got, want[i]) == 0, "type %d, input %zu \"%s\": got \"%s\", want \"%s\"",
                  types[k], i, inputs[i], got, want[i]);
        }
    }
    free(text);
}

#define FAMILY(name, ...) do { \
    static const int types[] = { __VA_ARGS__ }; \
    check_family(name, types, sizeof types / sizeof types[0]); } while (0)

static void test_default(void) { FAMILY("default", PRETOK_DEFAULT); }
static void test_gpt2(void) { FAMILY("gpt-2", PRETOK_GPT2, PRETOK_MPT, PRETOK_OLMO, PRETOK_JAIS); }
static void test_llama3(void)
{
    FAMILY("llama3", PRETOK_LLAMA3, PRETOK_DBRX, PRETOK_SMAUG, PRETOK_CHATGLM4);
}
static void test_qwen2(void) { FAMILY("qwen2", PRETOK_QWEN2, PRETOK_STABLELM2); }
static void test_starcoder(void)
{
    FAMILY("starcoder", PRETOK_STARCODER, PRETOK_REFACT, PRETOK_COMMAND_R, PRETOK_SMOLLM,
           PRETOK_CODESHELL, PRETOK_EXAONE, PRETOK_MINERVA);
}
static void test_falcon(void) { FAMILY("falcon", PRETOK_FALCON); }
static void test_deepseek_llm(void) { FAMILY("deepseek-llm", PRETOK_DEEPSEEK_LLM); }
static void test_deepseek_coder(void) { FAMILY("deepseek-coder", PRETOK_DEEPSEEK_CODER); }
static void test_deepseek3(void) { FAMILY("deepseek-v3", PRETOK_DEEPSEEK3_LLM); }
static void test_poro(void)
{
    FAMILY("poro-chat", PRETOK_PORO, PRETOK_BLOOM, PRETOK_GPT3_FINNISH);
}
static void test_viking(void) { FAMILY("viking", PRETOK_VIKING); }
static void test_tekken(void) { FAMILY("tekken", PRETOK_TEKKEN); }
static void test_chameleon(void) { FAMILY("chameleon", PRETOK_CHAMELEON); }

/* Every tokenizer.ggml.pre name llama.cpp accepts, with its type there. */
static void test_names(void)
{
    static const struct { const char *name; int type; } names[] = {
        {"default", PRETOK_DEFAULT}, {"llama3", PRETOK_LLAMA3}, {"llama-v3", PRETOK_LLAMA3},
        {"llama-bpe", PRETOK_LLAMA3}, {"falcon3", PRETOK_LLAMA3},
        {"deepseek-llm", PRETOK_DEEPSEEK_LLM}, {"deepseek-coder", PRETOK_DEEPSEEK_CODER},
        {"deepseek-v3", PRETOK_DEEPSEEK3_LLM}, {"falcon", PRETOK_FALCON}, {"mpt", PRETOK_MPT},
        {"starcoder", PRETOK_STARCODER}, {"gpt-2", PRETOK_GPT2}, {"phi-2", PRETOK_GPT2},
        {"jina-es", PRETOK_GPT2}, {"jina-de", PRETOK_GPT2}, {"gigachat", PRETOK_GPT2},
        {"jina-v1-en", PRETOK_GPT2}, {"jina-v2-es", PRETOK_GPT2}, {"jina-v2-de", PRETOK_GPT2},
        {"jina-v2-code", PRETOK_GPT2}, {"roberta-bpe", PRETOK_GPT2}, {"refact", PRETOK_REFACT},
        {"command-r", PRETOK_COMMAND_R}, {"qwen2", PRETOK_QWEN2}, {"deepseek-r1-qwen", PRETOK_QWEN2},
        {"megrez", PRETOK_QWEN2}, {"stablelm2", PRETOK_STABLELM2}, {"olmo", PRETOK_OLMO},
        {"dbrx", PRETOK_DBRX}, {"smaug-bpe", PRETOK_SMAUG}, {"poro-chat", PRETOK_PORO},
        {"chatglm-bpe", PRETOK_CHATGLM4}, {"viking", PRETOK_VIKING}, {"jais", PRETOK_JAIS},
        {"tekken", PRETOK_TEKKEN}, {"smollm", PRETOK_SMOLLM}, {"codeshell", PRETOK_CODESHELL},
        {"bloom", PRETOK_BLOOM}, {"gpt3-finnish", PRETOK_GPT3_FINNISH}, {"exaone", PRETOK_EXAONE},
        {"chameleon", PRETOK_CHAMELEON}, {"minerva-7b", PRETOK_MINERVA},
        {"gpt-neox", PRETOK_GPT_NEOX},
    };
    struct tl_error err = {0};
    int type = -1;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        type = -1;
        CHECK(pretok_from_name(names[i].name, strlen(names[i].name), &type, &err) == TL_OK &&
              type == names[i].type, "%s -> %d, want %d", names[i].name, type, names[i].type);
    }
    CHECK(pretok_from_name(NULL, 0, &type, &err) == TL_OK && type == PRETOK_DEFAULT, "absent");
    CHECK(pretok_from_name("", 0, &type, &err) == TL_OK && type == PRETOK_DEFAULT, "empty");
    /* Not NUL-terminated: only len bytes count. */
    CHECK(pretok_from_name("qwen2-extra", 5, &type, &err) == TL_OK && type == PRETOK_QWEN2, "len");
    CHECK(pretok_from_name("Llama3", 6, &type, &err) == TL_EUNSUPPORTED, "names are case-sensitive");
    CHECK(pretok_from_name("llama3 ", 7, &type, &err) == TL_EUNSUPPORTED, "trailing space");
    CHECK(pretok_from_name("no-such-pre", 11, &type, &err) == TL_EUNSUPPORTED &&
          err.code == TL_EUNSUPPORTED && strstr(err.msg, "no-such-pre"), "message: %s", err.msg);
}

static void test_errors(void)
{
    struct pretok_span *sp = NULL;
    struct tl_error err = {0};
    size_t n = 7;

    CHECK(pretok_split(PRETOK_COUNT, "a", 1, &sp, &n, &err) == TL_EINVAL, "type past the end");
    CHECK(pretok_split(-1, "a", 1, &sp, &n, &err) == TL_EINVAL, "negative type");
    CHECK(pretok_split(PRETOK_GPT2, NULL, 1, &sp, &n, &err) == TL_EINVAL, "NULL text");
    CHECK(pretok_split(PRETOK_GPT2, "a", 1, NULL, &n, &err) == TL_EINVAL, "NULL spans");
    CHECK(pretok_split(PRETOK_GPT2, NULL, 0, &sp, &n, &err) == TL_OK && n == 0 && sp == NULL,
          "empty text: no words");
}

/* Any bytes, any type: non-empty spans that tile the text in order. */
static void test_partition(void)
{
    unsigned char buf[512];
    uint32_t seed = 12345;

    for (int round = 0; round < 60; round++) {
        size_t len = 1 + round * 8;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* bias towards the interesting bytes: space, \n, ', digits, high bytes */
            static const char pick[] = " \n'1aA.\t\r~";
            buf[i] = (seed >> 24) & 1 ? (unsigned char)(seed >> 16) : (unsigned char)pick[(seed >> 16) % 10];
        }
        for (int type = 0; type < PRETOK_COUNT; type++) {
            struct pretok_span *sp = NULL;
            struct tl_error err = {0};
            size_t n = 0, off = 0, bad = 0;
            CHECK(pretok_split(type, (const char *)buf, len, &sp, &n, &err) == TL_OK, "%s", err.msg);
            for (size_t i = 0; i < n; i++) {
                bad += sp[i].off != off || sp[i].len == 0;
                off += sp[i].len;
            }
            CHECK(!bad && off == len, "type %d round %d: spans do not tile the text", type, round);
            free(sp);
        }
    }
}

/* Long runs: counts that llama.cpp gives at 10k (scaled), and that a
 * quadratic matcher would take minutes to reach. */
static void test_long_runs(void)
{
    static const struct { int type; const char *unit; size_t reps; const char *tail; size_t words; } cases[] = {
        {PRETOK_LLAMA3, "1", 100000, "", 33334},        /* \p{N}{1,3} */
        {PRETOK_DEFAULT, "1", 100000, "", 33334},       /* [0-9][0-9][0-9] */
        {PRETOK_GPT2, " ", 100000, "x", 2},             /* \s+(?!\S) */
        {PRETOK_DEEPSEEK_LLM, " ", 100000, "7", 2},     /* \s+$ finds nothing */
        {PRETOK_TEKKEN, "A", 50000, "a", 1},            /* Upper*Lower+ */
        {PRETOK_TEKKEN, "\xc3\x80""B", 20000, "", 2},   /* ÀB...: gives back one B */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t ul = strlen(cases[k].unit), tl = strlen(cases[k].tail), len = ul * cases[k].reps + tl;
        char *text = malloc(len);
        struct pretok_span *sp = NULL;
        struct tl_error err = {0};
        size_t n = 0;

        if (!text)
            SKIP("out of memory");
        for (size_t i = 0; i < cases[k].reps; i++)
            memcpy(text + i * ul, cases[k].unit, ul);
        memcpy(text + ul * cases[k].reps, cases[k].tail, tl);
        CHECK(pretok_split(cases[k].type, text, len, &sp, &n, &err) == TL_OK, "%s", err.msg);
        CHECK(n == cases[k].words, "case %zu: %zu words, want %zu", k, n, cases[k].words);
        free(sp);
        free(text);
    }
}

int main(void)
{
    RUN_TEST(test_default);
    RUN_TEST(test_gpt2);
    RUN_TEST(test_llama3);
    RUN_TEST(test_qwen2);
    RUN_TEST(test_starcoder);
    RUN_TEST(test_falcon);
    RUN_TEST(test_deepseek_llm);
    RUN_TEST(test_deepseek_coder);
    RUN_TEST(test_deepseek3);
    RUN_TEST(test_poro);
    RUN_TEST(test_viking);
    RUN_TEST(test_tekken);
    RUN_TEST(test_chameleon);
    RUN_TEST(test_names);
    RUN_TEST(test_errors);
    RUN_TEST(test_partition);
    RUN_TEST(test_long_runs);
    return test_finish();
}
