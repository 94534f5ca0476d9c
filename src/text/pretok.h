/* text/pretok.h: byte-level BPE pre-tokenization, the hand-written equivalent of
 * the regexes llama.cpp applies for each tokenizer.ggml.pre name. Splits
 * UTF-8 text into words (contiguous byte spans that partition the text);
 * the BPE merges then run inside each word. */
#ifndef TINYLLM_PRETOK_H
#define TINYLLM_PRETOK_H

#include <stddef.h>

#include "tinyllm.h"

/* One value per llama.cpp LLAMA_VOCAB_PRE_TYPE_* that a tokenizer.ggml.pre
 * name selects; types that share a regex list stay distinct because llama.cpp
 * also keys other tokenizer settings on them (ignore_merges, add_bos, ...). */
enum pretok_type {
    PRETOK_DEFAULT = 0,   /* "default" or absent */
    PRETOK_GPT2, PRETOK_LLAMA3, PRETOK_QWEN2, PRETOK_STABLELM2,
    PRETOK_SMOLLM, PRETOK_STARCODER, PRETOK_DEEPSEEK_LLM, PRETOK_DEEPSEEK_CODER,
    PRETOK_FALCON, PRETOK_REFACT, PRETOK_MPT, PRETOK_OLMO, PRETOK_COMMAND_R,
    PRETOK_DEEPSEEK3_LLM, PRETOK_DBRX, PRETOK_SMAUG, PRETOK_PORO, PRETOK_CHATGLM4,
    PRETOK_VIKING, PRETOK_JAIS, PRETOK_TEKKEN, PRETOK_CODESHELL, PRETOK_BLOOM,
    PRETOK_GPT3_FINNISH, PRETOK_EXAONE, PRETOK_CHAMELEON, PRETOK_MINERVA,
    PRETOK_COUNT,
    PRETOK_PHI2 = PRETOK_GPT2,     /* llama.cpp maps "phi-2" to gpt2 */
    PRETOK_GPT_NEOX = PRETOK_MPT,  /* "gpt-neox" (tinyllm only): what
                                      convert_hf_to_gguf writes for it, mpt */
};

/* Map tokenizer.ggml.pre (len bytes, not NUL-terminated; NULL or empty =
 * absent = "default") to a type, accepting every name llama.cpp (Feb 2025)
 * accepts, plus "gpt-neox". Unknown names: TL_EUNSUPPORTED with a message
 * naming the name. */
int pretok_from_name(const char *name, size_t len, int *type, struct tl_error *err);

struct pretok_span { size_t off, len; };   /* bytes into the text */

/* Split text into words for the given type: the word boundaries of llama.cpp's
 * unicode_regex_split with that type's regex list. *spans is a heap array
 * (caller frees; NULL when *n is 0) of *n non-empty spans in order, covering
 * the text exactly. Any bytes are accepted: like llama.cpp, each byte that
 * starts no UTF-8 sequence is one codepoint U+FFFD (a symbol); the span
 * still points at the original byte, and llama.cpp feeds EF BF BD to the BPE
 * in its place. Errors: TL_EINVAL (bad type or arguments), TL_ENOMEM. */
int pretok_split(int type, const char *text, size_t len,
                 struct pretok_span **spans, size_t *n, struct tl_error *err);

#endif
