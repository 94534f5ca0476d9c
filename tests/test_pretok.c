/* test_pretok.c: pre-tokenizer word splits against goldens taken from
 * llama.cpp's unicode_regex_split (Feb 2025) for each regex list, plus the
 * name table, error paths and partition invariants on arbitrary bytes. */
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

/* Expected word lengths in bytes, per input, from llama.cpp's unicode_regex_split. */
static const char *const expect_default[N_INPUTS] = {
    "5 6", "6 6 1", "2 1 1 2 1 1 4 1 2 3 1 2 5 1 2 3 1 1 1 1 1", "3 1 1 4 1 1 1 1 2 1 2",
    "3 2 1 3 3 1 1 1 1 2 1 3", "1 1 1 2 1 1 2 1 1 1 2 1 1 1 2 8", "2 8 4 9 3", "1 1 1 1 1 1",
    "4 1 1 4 1 1 1 4 1 3", "4 2", "6 5 8 4", "4 2 4 2 2 1", "11 3 5 3 3", "24 3 6 3", "9 19",
    "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2", "3 3 3 3 3 3 4 3 3 3 10 3 3 3", "30", "5 13 4 19 7",
    "5 17 1", "5 7 9 8", "10 7 10 7 4", "1 5 2 4 1 1 1 6 1 1 5 1 1 4 1 1 1 3 1",
    "3 1 3 1 3 1 3 1 3", "3 4 16 3 6", "3 6 3 1 3 6 3 1 2 10 2",
    "1 1 1 1 1 1 2 2 1 2 1 1 1 1 1 1 1 1 3 2 1 1 1 3 1 3", "6 1 2 1 2 1 3 1 6",
    "1 8 1 2 1 1 1 8 2 10 14 8", "3 5 1 4 2 6", "2 4 2 1 3 4", "8 3 1 3 10 4 4 5", "4 2 5 3 4 4 3",
    "9 2 2 2 4 5", "12 9", "6 1 4 4 2 1 1 2 8 7 2 2 1 1", "3 5 1 4 1 1 1 1 1 6 1 1 1 1 1 1",
    "1 2 1 3 1 1 1", "3 2 1 3 1", "1 1 1 1 1 1 1", "4", "1", "3", "1", "1", "1", "1 2",
    "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "1 2 1 4 4 4", "6 3 6 3 13 3", "12 13 13",
    "1 2 1 1 2 1 1 2 1 1 2 1 1 1 1 1 1 1 1 1", "3 1 1 9 4 7",
    "4 1 1 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 1 16", "3 5 1 3", "3 1 3 1 3 1 2 1 2",
    "1 1 1 1 1 1 1 1 1 1 1", "4 1 3", "1 2 1 1 1 1 1 2 1 1 3", "3 3 1 3",
};
static const char *const expect_gpt_2[N_INPUTS] = {
    "5 6", "6 6 1", "2 2 2 1 1 4 3 3 1 2 5 3 3 2 2 1", "3 2 4 2 2 2 1 2", "5 8 2 3 4",
    "1 2 2 1 1 2 1 1 1 2 1 1 3 8", "2 8 4 9 3", "1 1 1 1 1 1", "4 1 1 4 1 1 1 4 1 3", "4 2",
    "6 5 8 4", "4 2 4 2 2 1", "11 3 5 3 3", "24 3 6 3", "9 19", "12 1 7 1 7 9 1", "16 15",
    "10 15 2 7 9 2", "3 3 3 3 3 3 4 3 3 3 10 3 3 3", "30", "5 13 4 19 7", "5 18", "5 7 9 8",
    "10 7 10 7 4", "1 5 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4", "3 4 16 3 6", "3 6 3 4 6 3 3 10 2",
    "1 1 1 1 1 1 2 2 1 2 2 1 1 1 2 1 5 2 1 3 1 3", "6 3 3 4 7", "1 8 1 2 1 2 8 2 10 14 8",
    "3 5 1 4 2 6", "2 4 3 3 4", "8 3 1 3 10 4 4 5", "4 2 5 3 4 4 3", "9 2 2 2 4 5", "12 9",
    "6 1 4 4 2 1 1 2 8 7 2 2 1 1", "3 5 1 4 1 2 1 1 6 2 1 1 1 1", "1 2 1 3 1 1 1", "3 2 1 3 1",
    "2 2 2 1", "4", "1", "3", "1", "1", "1", "1 2", "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "1 2 1 4 4 4",
    "6 3 6 3 13 3", "12 13 13", "1 2 2 2 2 2 2 2 2 1 2 1 2 1", "3 1 1 9 4 7",
    "4 2 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 17", "3 5 1 3", "3 4 4 3 3", "1 1 1 1 1 1 2 1 2", "5 3",
    "1 2 2 1 2 2 2 3", "3 3 1 3",
};
static const char *const expect_llama3[N_INPUTS] = {
    "5 6", "6 6 1", "2 2 2 2 4 3 3 3 5 3 3 2 2 1", "3 2 4 2 2 2 3", "3 2 1 3 3 1 1 1 1 2 1 3",
    "1 2 2 2 2 1 2 2 1 1 3 8", "2 8 4 9 3", "1 2 1 2", "4 1 1 4 1 2 4 1 3", "3 1 2", "6 5 8 4",
    "4 6 2 3", "11 8 3 3", "24 9 3", "9 19", "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2",
    "3 6 6 3 4 6 3 10 6 3", "30", "5 13 4 19 7", "5 18", "5 7 9 8", "10 7 10 7 4",
    "6 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4", "3 4 16 9", "9 3 4 6 3 3 10 2",
    "1 1 1 1 1 1 2 2 1 2 1 1 1 1 1 1 1 1 3 2 1 1 1 3 1 3", "6 1 2 1 2 1 3 1 6",
    "9 1 2 1 2 8 2 10 14 8", "3 5 1 4 2 6", "2 4 3 3 4", "8 3 1 3 10 4 4 5", "4 2 5 7 4 3",
    "9 2 2 2 4 5", "12 9", "6 2 3 4 2 2 3 7 7 2 2 1 1", "3 5 5 1 3 7 1 1 2 2", "1 2 1 4 2", "3 3 4",
    "2 2 2 1", "4", "1", "3", "1", "1", "1", "1 2", "1 2 2 1 2 2 1 2 2 1", "1 3 4 4 4", "6 9 16 3",
    "12 13 13", "3 2 2 2 2 2 2 2 1 2 1 2 1", "3 2 9 4 7", "4 2 5 1 2 2 2 2 1 2 1 2 1 2 3 17",
    "3 5 4", "3 4 4 3 3", "1 1 1 2 1 1 1 1 1 1", "5 3", "3 2 1 2 2 2 3", "3 4 3",
};
static const char *const expect_qwen2[N_INPUTS] = {
    "5 6", "6 6 1", "2 2 2 2 4 3 3 3 5 3 3 2 2 1", "3 2 4 2 2 2 3",
    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 2 2 2 2 1 2 2 1 1 3 8", "2 8 4 9 3",
    "1 2 1 2", "4 1 1 4 1 2 4 1 3", "3 1 2", "6 5 8 4", "4 6 2 3", "11 8 3 3", "24 9 3", "9 19",
    "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2", "3 6 6 3 4 6 3 10 6 3", "30", "5 13 4 19 7", "5 18",
    "5 7 9 8", "10 7 10 7 4", "6 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4", "3 4 16 9",
    "9 3 4 6 3 3 10 2", "1 1 1 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "2 2 2 1 2 1 2 1 3 1 3 3", "9 1 1 1 1 2 8 2 10 14 8", "3 5 1 4 2 6", "2 4 3 3 4",
    "8 3 1 3 10 4 4 5", "4 2 5 7 4 3", "9 2 2 2 4 5", "12 9", "6 2 3 4 2 2 3 7 7 2 2 1 1",
    "3 5 5 1 3 7 1 1 2 2", "1 2 1 4 2", "3 3 4", "2 2 2 1", "4", "1", "3", "1", "1", "1", "1 2",
    "1 2 2 1 2 2 1 2 2 1", "1 3 4 4 4", "6 9 16 1 1 1", "12 13 13", "3 2 2 2 2 2 2 2 1 2 1 2 1",
    "3 2 9 4 7", "4 2 5 1 2 2 2 2 1 2 1 2 1 2 3 17", "3 5 4", "3 4 4 3 3", "1 1 1 2 1 1 1 1 1 1",
    "5 3", "3 2 1 2 2 2 3", "3 4 3",
};
static const char *const expect_starcoder[N_INPUTS] = {
    "5 6", "6 6 1", "2 2 2 1 1 4 3 3 1 2 5 3 3 2 2 1", "3 2 4 2 2 2 1 2",
    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 2 2 1 1 2 1 1 1 2 1 1 3 8", "2 8 4 9 3",
    "1 1 1 1 1 1", "4 1 1 4 1 1 1 4 1 3", "4 2", "6 5 8 4", "4 2 4 2 2 1", "11 3 5 3 3", "24 3 6 3",
    "9 19", "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2", "3 3 3 3 3 3 4 3 3 3 10 3 3 3", "30",
    "5 13 4 19 7", "5 18", "5 7 9 8", "10 7 10 7 4", "1 5 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4",
    "3 4 16 3 6", "3 6 3 4 6 3 3 10 2",
    "1 1 1 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "2 2 2 1 2 1 2 1 3 1 3 3", "1 8 1 1 1 1 2 8 2 10 14 8", "3 5 1 4 2 6", "2 4 3 3 4",
    "8 3 1 3 10 4 4 5", "4 2 5 3 4 4 3", "9 2 2 2 4 5", "12 9", "6 1 4 4 2 1 1 2 8 7 2 2 1 1",
    "3 5 1 4 1 2 1 1 6 1 1 1 1 1 1", "1 2 1 3 1 1 1", "3 2 1 3 1", "2 2 2 1", "4", "1", "3", "1",
    "1", "1", "1 2", "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "1 2 1 4 4 4", "6 3 6 3 13 1 1 1", "12 13 13",
    "1 2 2 2 2 2 2 2 2 1 2 1 2 1", "3 1 1 9 4 7", "4 2 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 17", "3 5 1 3",
    "3 4 4 3 3", "1 1 1 2 1 1 1 2 1", "5 3", "1 2 2 1 2 2 2 3", "3 3 1 3",
};
static const char *const expect_falcon[N_INPUTS] = {
    "5 6", "6 6 1", "2 1 1 2 1 1 4 1 2 3 1 2 5 1 2 3 1 1 1 1 1", "3 1 1 4 1 1 1 1 2 1 2",
    "3 2 1 3 3 1 2 3 1 3", "1 1 1 2 1 1 2 1 1 1 2 1 1 1 2 8", "2 8 4 9 3", "1 1 1 1 1 1",
    "4 1 1 4 1 1 1 4 1 3", "4 2", "6 5 8 4", "4 2 4 2 2 1", "11 3 5 3 3", "24 3 6 3", "9 19",
    "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2", "3 3 3 3 3 3 4 3 3 3 10 3 3 3", "30", "5 13 4 19 7",
    "5 17 1", "5 7 9 8", "10 7 10 7 4", "1 5 1 1 4 1 1 1 6 1 1 5 1 1 4 1 1 1 3 1",
    "3 1 3 1 3 1 3 1 3", "3 4 16 3 6", "3 6 3 1 3 6 3 1 2 10 2",
    "1 1 1 1 1 1 2 2 1 2 2 1 1 1 2 1 3 2 2 1 3 1 3", "6 3 3 4 7", "1 8 1 2 1 1 1 8 2 10 14 8",
    "3 5 1 4 2 6", "2 4 2 1 3 4", "8 3 1 3 10 4 4 5", "4 2 5 3 4 4 3", "9 2 2 2 4 5", "12 9",
    "6 1 4 4 2 1 1 2 8 7 2 2 1 1", "3 5 1 4 1 1 1 1 1 6 2 1 1 1 1", "1 2 1 3 1 1 1", "3 2 1 3 1",
    "1 1 1 1 1 1 1", "4", "1", "3", "1", "1", "1", "1 2", "1 1 1 1 1 1 2 1 1 1 2 1 1 1",
    "1 2 1 4 4 4", "6 3 6 3 13 3", "12 13 13", "1 2 1 1 2 1 1 2 1 1 2 1 1 1 1 1 1 1 1 1",
    "3 1 1 9 4 7", "4 1 1 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 1 16", "3 5 1 3", "3 1 3 1 3 1 2 1 2",
    "1 1 1 1 1 1 2 1 2", "4 1 3", "1 2 1 1 1 1 1 2 1 1 3", "3 3 1 3",
};
static const char *const expect_deepseek_llm[N_INPUTS] = {
    "5 6", "6 6 1", "2 1 1 2 1 1 4 1 2 3 1 2 5 1 2 3 1 1 2 1", "3 1 1 4 1 1 2 2 1 2",
    "5 1 7 1 1 1 2 1 3", "1 2 2 1 1 2 1 1 1 2 1 1 3 8", "2 8 4 9 3", "1 2 1 2",
    "4 1 1 4 1 1 1 4 1 1 1 1", "2 1 1 2", "6 5 8 3 1", "4 6 2 3", "11 8 3 3", "24 3 6 3", "9 1 18",
    "12 1 7 1 7 9 1", "16 15", "45", "18 1 12 1 18", "30", "5 13 4 5 3 4 3 4 7", "5 17 1",
    "3 2 3 2 2 2 2 3 2 5 2 1", "10 7 10 7 3 1", "1 5 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4",
    "2 1 4 16 3 6", "3 6 3 1 3 6 3 3 10 2", "1 1 1 1 1 1 2 2 1 2 1 1 1 1 1 1 1 1 5 1 1 1 3 1 3",
    "6 1 2 1 2 1 3 1 6", "1 8 1 2 1 2 8 2 10 14 8", "3 5 1 4 2 6", "2 4 2 1 7", "8 3 1 3 10 4 4 5",
    "4 2 5 3 4 4 3", "9 2 2 2 4 5", "9 3 3 6", "6 1 1 3 4 2 1 1 2 1 7 7 2 2 1 1",
    "3 5 1 4 1 2 1 7 1 1 1 1 1 1", "1 2 1 3 1 1 1", "3 3 4", "1 1 1 1 2 1", "1 1 1 1", "1", "3",
    "1", "1", "1", "1 2", "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "1 2 1 4 4 4", "6 3 6 3 6 7 3",
    "12 1 12 13", "1 2 2 2 2 2 2 2 2 1 2 1 2 1", "3 1 1 9 4 1 6",
    "4 2 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 1 3 3 3 3 4", "3 5 4", "3 4 4 3 3", "1 1 1 1 1 1 1 1 2 1",
    "4 1 3", "1 2 2 1 2 2 2 3", "3 4 3",
};
static const char *const expect_deepseek_coder[N_INPUTS] = {
    "5 6", "6 6 1", "2 1 1 2 1 1 4 1 2 3 1 2 5 1 2 3 1 1 2 1", "3 1 1 4 1 1 2 2 1 2",
    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 2 2 1 1 2 1 1 1 2 1 1 3 8", "2 8 4 9 3",
    "1 2 1 2", "4 1 1 4 1 1 1 4 1 1 1 1", "2 1 1 2", "6 5 8 3 1", "4 6 2 3", "11 8 3 3", "24 3 6 3",
    "9 1 18", "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2", "3 3 3 3 3 3 1 3 3 3 3 1 9 3 3 3", "30",
    "5 13 4 5 3 4 3 4 7", "5 17 1", "5 7 9 8", "10 7 10 7 4", "1 5 2 4 3 6 2 5 2 4 3 3 1",
    "3 4 4 4 4", "3 4 16 3 6", "3 6 3 1 3 6 3 3 10 2",
    "1 1 1 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "2 2 2 1 2 1 2 1 3 1 3 3", "1 8 1 1 1 3 8 1 1 10 14 8", "3 5 1 4 2 6", "2 4 2 1 7",
    "8 4 3 10 4 4 5", "4 2 5 3 4 4 3", "9 2 2 2 4 5", "9 3 3 6", "6 1 1 3 4 2 1 1 2 1 7 7 2 2 1 1",
    "3 5 1 4 1 2 1 7 1 1 1 1 1 1", "1 2 1 3 1 1 1", "3 3 4", "1 1 1 1 2 1", "1 1 1 1", "1", "3",
    "1", "1", "1", "1 2", "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "1 2 1 4 4 4", "6 3 6 3 6 7 1 1 1",
    "12 1 12 13", "1 2 2 2 2 2 2 2 2 1 2 1 2 1", "3 1 1 9 4 1 6",
    "4 2 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 1 3 3 6 4", "3 5 4", "17", "1 1 1 1 1 1 1 1 2 1", "4 1 3",
    "1 2 2 1 2 2 2 3", "3 4 3",
};
static const char *const expect_deepseek_v3[N_INPUTS] = {
    "5 6", "6 6 1", "2 2 2 2 4 3 3 3 5 3 3 2 2 1", "3 2 4 2 2 2 3", "3 2 1 3 3 1 1 1 1 2 1 3",
    "1 2 2 2 2 1 2 2 1 1 3 8", "2 8 4 9 3", "1 2 1 2", "4 1 1 4 1 2 4 1 3", "3 1 2", "6 5 8 4",
    "4 6 2 3", "11 8 3 3", "24 3 6 3", "9 19", "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2",
    "18 10 3 19", "30", "5 13 4 5 3 4 3 4 7", "5 18", "5 7 9 8", "10 7 10 7 4",
    "6 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4", "3 4 16 3 6", "3 6 3 4 6 3 3 10 2",
    "1 1 1 1 1 1 2 2 1 2 1 1 1 1 1 1 1 1 3 2 1 1 1 3 1 3", "6 1 2 1 2 1 3 1 6",
    "9 1 2 1 2 8 2 10 14 8", "3 5 1 4 2 6", "2 4 3 3 4", "8 1 2 1 3 10 1 3 4 1 4", "4 2 5 7 1 6",
    "9 4 6 5", "3 6 3 9", "6 2 3 4 2 2 3 7 7 2 2 1 1", "3 5 5 1 3 7 1 1 2 2", "1 2 1 4 2", "3 3 4",
    "2 2 2 1", "4", "1", "3", "1", "1", "1", "1 2", "1 2 2 1 2 2 1 2 2 1", "4 4 4 4",
    "6 3 6 3 6 7 3", "12 1 12 13", "3 2 2 2 2 2 2 2 1 2 1 2 1", "3 2 9 4 7",
    "4 2 5 1 2 2 2 2 1 2 1 2 1 2 3 17", "3 5 4", "3 4 4 3 3", "1 1 1 2 1 1 1 2 1", "5 3",
    "3 1 2 2 2 2 3", "3 4 3",
};
static const char *const expect_poro_chat[N_INPUTS] = {
    "5 6", "6 6 1", "4 4 7 6 8 5 3", "5 6 7", "5 8 2 3 4", "1 2 5 1 3 1 3 3 8", "2 8 4 9 3",
    "1 1 1 2 1", "5 1 5 2 5 3", "4 2", "6 5 8 4", "4 2 4 4 1", "11 3 5 6", "24 3 6 3", "9 19",
    "12 1 7 1 7 9 1", "16 15", "10 15 2 7 11", "18 10 3 19", "30", "5 13 4 19 7", "5 17 1",
    "5 7 9 8", "10 7 10 7 4", "6 7 8 7 2 4 1 6", "11 4 4", "3 4 25", "12 13 15",
    "6 7 5 2 1 5 2 1 3 1 3", "6 3 3 4 7", "13 12 10 14 8", "3 5 1 4 2 6", "2 4 2 1 3 4",
    "8 3 1 3 10 4 4 5", "6 12 7", "9 4 6 5", "12 9", "7 4 4 2 1 1 1 1 8 7 5 1",
    "3 5 1 4 1 2 2 6 3 1 1 1", "7 1 2", "5 1 3 1", "4 3", "4", "1", "3", "1", "1", "1", "1 2",
    "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "4 4 4 4", "6 3 6 3 16", "12 13 13", "3 4 4 4 3 3 3", "5 9 4 7",
    "4 2 5 1 2 1 1 2 1 1 1 2 1 2 1 2 20", "3 6 3", "3 4 4 3 3", "1 1 1 2 1 2 1 2", "4 1 3",
    "3 3 2 2 2 3", "6 1 3",
};
static const char *const expect_viking[N_INPUTS] = {
    "5 6", "6 6 1", "4 4 7 6 8 5 3", "5 6 7", "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "1 2 5 1 3 1 3 3 8", "2 8 4 9 3", "1 1 1 2 1", "4 1 1 4 1 2 4 1 3", "4 2", "6 5 8 4",
    "4 2 4 4 1", "11 3 5 6", "24 3 6 3", "9 19", "12 1 7 1 7 9 1", "16 15", "10 15 2 7 11",
    "18 10 3 19", "30", "5 13 4 19 7", "5 17 1", "5 7 9 8", "10 7 10 7 4", "6 7 8 7 2 4 1 6",
    "11 4 4", "3 4 25", "12 13 15",
    "1 1 1 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "2 2 2 1 2 1 2 1 3 1 3 3", "10 1 1 1 12 10 14 8", "3 5 1 4 2 6", "2 4 2 1 3 4",
    "8 3 1 3 10 4 4 5", "6 12 7", "9 4 6 5", "12 9", "7 4 4 2 1 1 1 1 8 7 4 1 1",
    "3 5 1 4 1 2 2 6 1 1 1 1 1 1", "7 1 2", "5 1 3 1", "4 3", "4", "1", "3", "1", "1", "1", "1 2",
    "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "4 4 4 4", "6 3 6 3 13 1 1 1", "12 13 13", "3 4 4 4 3 3 3",
    "5 9 4 7", "4 2 5 1 2 1 1 2 1 1 1 2 1 2 1 2 20", "3 6 3", "3 4 4 3 3", "1 1 1 2 1 1 1 1 1 1",
    "4 1 3", "3 3 2 2 2 3", "6 1 3",
};
static const char *const expect_tekken[N_INPUTS] = {
    "5 6", "6 6 1", "2 2 2 2 4 3 3 3 5 3 3 2 2 1", "3 2 4 2 2 2 3",
    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 2 2 2 2 1 2 2 1 1 3 8", "2 8 4 9 3",
    "1 2 1 2", "4 1 1 4 1 2 4 1 3", "3 1 2", "6 5 8 4", "4 6 2 3", "11 8 3 3", "24 9 3", "9 19",
    "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2", "3 6 6 3 4 6 3 10 6 3", "30", "5 13 4 19 7", "5 18",
    "5 7 9 8", "10 2 5 6 4 7 3 1", "6 2 4 1 2 6 2 5 2 4 1 2 3 1", "3 4 4 4 4", "3 4 16 9",
    "9 3 4 6 3 3 10 2", "1 1 1 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "2 2 2 1 2 1 2 1 3 1 3 3", "9 1 1 1 1 2 8 2 10 14 8", "3 5 1 4 2 6", "2 4 3 3 4",
    "8 3 1 3 10 4 4 5", "4 2 5 7 4 3", "9 2 2 2 4 5", "12 9", "6 2 3 4 2 2 3 7 7 2 2 1 1",
    "3 5 5 1 3 7 1 1 2 2", "1 2 1 5 1", "3 3 4", "2 2 2 1", "4", "1", "3", "1", "1", "1", "1 2",
    "1 2 2 1 2 2 1 2 2 1", "1 3 4 2 2 3 1", "6 9 16 1 1 1", "12 13 13",
    "3 2 1 1 2 2 2 2 2 1 2 1 2 1", "3 2 9 4 7", "4 2 5 1 2 2 2 2 1 2 1 2 1 2 3 17", "3 5 4",
    "3 4 4 3 3", "1 1 1 2 1 1 1 1 1 1", "5 3", "3 2 1 2 2 2 3", "3 4 3",
};
static const char *const expect_chameleon[N_INPUTS] = {
    "5 6", "6 6 1", "2 1 1 2 1 1 4 1 2 3 1 2 5 1 2 3 1 1 1 1 1", "3 1 1 4 1 1 1 1 2 1 2",
    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 8",
    "2 8 4 9 2 1", "1 1 1 1 1 1", "4 1 1 4 1 1 1 4 1 1 1 1", "2 1 2 1", "6 5 8 2 1 1",
    "4 2 4 2 2 1", "11 3 5 3 3", "24 3 6 3", "9 19", "12 1 7 1 7 9 1", "16 15", "10 15 2 7 9 2",
    "3 3 3 3 3 3 4 3 3 3 10 3 3 3", "30", "5 13 4 19 7", "5 17 1", "5 7 9 8", "10 7 10 7 4",
    "1 5 1 1 4 1 1 1 6 1 1 5 1 1 4 1 1 1 3 1", "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "3 4 16 3 6", "3 6 3 1 3 6 3 1 2 10 2",
    "1 1 1 1 1 1 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "2 2 2 1 2 1 2 1 3 1 3 3", "1 8 1 1 1 1 1 1 8 1 1 1 9 14 8", "4 4 2 3 2 6", "2 4 2 1 3 4",
    "8 3 3 1 10 4 4 5", "4 2 5 3 4 4 3", "9 2 2 2 4 5", "12 9",
    "6 1 1 4 3 2 1 1 1 1 1 4 4 6 2 1 1 1 1", "3 5 1 4 1 1 1 1 1 6 1 1 1 1 1 1",
    "1 1 1 1 1 1 1 1 1 1", "3 2 1 3 1", "1 1 1 1 1 1 1", "1 1 1 1", "1", "2 1", "1", "1", "1",
    "1 2", "1 1 1 1 1 1 2 1 1 1 2 1 1 1", "1 2 1 4 4 4", "6 3 6 3 13 1 1 1", "12 13 13",
    "1 2 1 1 2 1 1 2 1 1 2 1 1 1 1 1 1 1 1 1", "3 1 1 9 4 7",
    "4 1 1 5 1 2 1 1 2 1 1 1 2 1 2 1 2 3 1 3 3 3 3 2 2", "3 1 1 1 2 1 3",
    "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 1 1 1 1 1 1 1 2 1", "4 1 3", "1 2 1 1 1 1 1 2 1 1 3",
    "3 3 1 3",
};

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
static void check_family(const char *const *expect, const int *types, size_t n_types)
{
    char got[1024];

    for (size_t k = 0; k < n_types; k++) {
        for (size_t i = 0; i < N_INPUTS; i++) {
            split_lengths(types[k], inputs[i], strlen(inputs[i]), got, sizeof got);
            CHECK(strcmp(got, expect[i]) == 0, "type %d, input %zu \"%s\": got \"%s\", want \"%s\"",
                  types[k], i, inputs[i], got, expect[i]);
        }
    }
}

#define FAMILY(expect, ...) do { \
    static const int types[] = { __VA_ARGS__ }; \
    check_family(expect, types, sizeof types / sizeof types[0]); } while (0)

static void test_default(void) { FAMILY(expect_default, PRETOK_DEFAULT); }
static void test_gpt2(void) { FAMILY(expect_gpt_2, PRETOK_GPT2, PRETOK_MPT, PRETOK_OLMO, PRETOK_JAIS); }
static void test_llama3(void)
{
    FAMILY(expect_llama3, PRETOK_LLAMA3, PRETOK_DBRX, PRETOK_SMAUG, PRETOK_CHATGLM4);
}
static void test_qwen2(void) { FAMILY(expect_qwen2, PRETOK_QWEN2, PRETOK_STABLELM2); }
static void test_starcoder(void)
{
    FAMILY(expect_starcoder, PRETOK_STARCODER, PRETOK_REFACT, PRETOK_COMMAND_R, PRETOK_SMOLLM,
           PRETOK_CODESHELL, PRETOK_EXAONE, PRETOK_MINERVA);
}
static void test_falcon(void) { FAMILY(expect_falcon, PRETOK_FALCON); }
static void test_deepseek_llm(void) { FAMILY(expect_deepseek_llm, PRETOK_DEEPSEEK_LLM); }
static void test_deepseek_coder(void) { FAMILY(expect_deepseek_coder, PRETOK_DEEPSEEK_CODER); }
static void test_deepseek3(void) { FAMILY(expect_deepseek_v3, PRETOK_DEEPSEEK3_LLM); }
static void test_poro(void)
{
    FAMILY(expect_poro_chat, PRETOK_PORO, PRETOK_BLOOM, PRETOK_GPT3_FINNISH);
}
static void test_viking(void) { FAMILY(expect_viking, PRETOK_VIKING); }
static void test_tekken(void) { FAMILY(expect_tekken, PRETOK_TEKKEN); }
static void test_chameleon(void) { FAMILY(expect_chameleon, PRETOK_CHAMELEON); }

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
