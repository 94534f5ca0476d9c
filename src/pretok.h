/* pretok.h: byte-level BPE pre-tokenization, the hand-written equivalent of
 * the regexes llama.cpp applies for each tokenizer.ggml.pre name. Splits
 * UTF-8 text into words (contiguous byte spans that partition the text);
 * the BPE merges then run inside each word. */
#ifndef TINYLLM_PRETOK_H
#define TINYLLM_PRETOK_H

#include <stddef.h>

#include "tinyllm.h"

enum pretok_type {
    PRETOK_DEFAULT = 0,   /* "default" or absent: gpt-2 style */
    PRETOK_GPT2, PRETOK_LLAMA3, PRETOK_QWEN2, PRETOK_STABLELM2,
    PRETOK_SMOLLM, PRETOK_STARCODER, PRETOK_DEEPSEEK_LLM, PRETOK_DEEPSEEK_CODER,
    PRETOK_FALCON, PRETOK_REFACT, PRETOK_MPT, PRETOK_GPT_NEOX, PRETOK_OLMO,
    PRETOK_COMMAND_R, PRETOK_PHI2,
    PRETOK_COUNT
};

/* Map tokenizer.ggml.pre (len bytes, not NUL-terminated; NULL = absent) to a
 * type. Unknown names: TL_EUNSUPPORTED with a message naming the name. */
int pretok_from_name(const char *name, size_t len, int *type, struct tl_error *err);

struct pretok_span { size_t off, len; };   /* bytes into the text */

/* Split text into words for the given type. *spans is a heap array (caller
 * frees) of *n spans in order, covering the text exactly. */
int pretok_split(int type, const char *text, size_t len,
                 struct pretok_span **spans, size_t *n, struct tl_error *err);

#endif
