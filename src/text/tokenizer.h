/* text/tokenizer.h: text <-> token ids exactly as llama.cpp does it, for
 * SentencePiece vocabularies (tokenizer.ggml.model = "llama") and
 * byte-level BPE (tokenizer.ggml.model = "gpt2"), read from a GGUF's
 * tokenizer.ggml.* keys. Works on vocabulary-only files. */
#ifndef TINYLLM_TOKENIZER_H
#define TINYLLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "tinyllm.h"

enum tok_model { TOK_SPM, TOK_BPE };

/* token_type values from the file */
enum tok_attr {
    TOKT_NORMAL = 1, TOKT_UNKNOWN = 2, TOKT_CONTROL = 3,
    TOKT_USER_DEFINED = 4, TOKT_UNUSED = 5, TOKT_BYTE = 6,
};

enum { TOK_LSTRIP = 1, TOK_RSTRIP = 2 };

struct tok_hash;   /* private: text -> id, "left right" -> merge rank */

struct tokenizer {
    int        model;       /* enum tok_model */
    int        pre;         /* enum pretok_type (text/pretok.h), BPE only */
    int32_t    n_vocab;
    char     **text;        /* n_vocab NUL-terminated token texts (heap copies) */
    uint32_t  *len;         /* n_vocab byte lengths of text[] */
    float     *score;       /* n_vocab scores (SPM merge priority), 0 if absent */
    uint8_t   *type;        /* n_vocab enum tok_attr, 0 = undefined; eog-looking tokens forced to control as llama.cpp does */
    uint8_t   *strip;       /* n_vocab TOK_LSTRIP/TOK_RSTRIP bits: whitespace a special token eats on that side */
    int32_t    bos, eos, eot, eom, unk, pad, nl;  /* ids, -1 when the vocab has none */
    bool       add_bos, add_eos;
    bool       add_space_prefix;   /* SPM: prepend a space (tokenizer.ggml.add_space_prefix, default true) */
    bool       ignore_merges;      /* BPE: a pre-token that is itself a token skips the merges (llama3) */
    int32_t   *eog;         /* end-of-generation ids: eos, eot, eom, <|im_end|>, <|end|>, <end_of_turn>, ... */
    int        n_eog;
    int32_t   *special;     /* ids of control/user-defined tokens, longest text first, for parse_special */
    int        n_special;
    int32_t    byte_tok[256];      /* SPM: id of <0xNN> for each byte, -1 if missing */
    struct tok_hash *vocab_map;
    struct tok_hash *merge_map;    /* BPE only */
};

/* Load the vocabulary from g's tokenizer.ggml.* keys. The tokenizer keeps no
 * pointer into g (g may be closed afterwards). */
int tokenizer_init(struct tokenizer *t, const struct gguf *g, struct tl_error *err);
void tokenizer_free(struct tokenizer *t);

/* Tokenize len bytes of text. add_special: BOS/EOS as the vocab asks
 * (add_bos/add_eos). parse_special: control and user-defined token texts in
 * the input become those tokens (llama.cpp's parse_special). The ids are
 * appended to *ids (heap, grown with realloc; *n is the count). */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
                     bool add_special, bool parse_special,
                     int32_t **ids, int *n, struct tl_error *err);

/* The bytes token id stands for: SPM "▁" becomes ' ', <0xNN> the byte, BPE
 * bytes unmapped. Control tokens give "" unless special is true.
 * Writes at most cap bytes, returns the full length (like snprintf, no NUL). */
int tokenizer_piece(const struct tokenizer *t, int32_t id, bool special, char *buf, size_t cap);

/* Token id of an exact text, -1 if none. */
int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len);

/* 1 if id ends generation (any id in eog). */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);

/* Streaming UTF-8: pieces may split a character across tokens. Feed each
 * piece; complete characters are written to out (returns their byte count),
 * an incomplete tail waits in s for the next piece. Invalid sequences are
 * passed through as U+FFFD (one per maximal ill-formed subpart, as in the
 * WHATWG decoder). utf8_flush emits whatever remains (U+FFFD for a cut-off
 * tail). out needs room for 3 * len + 3 bytes in the worst case (all bytes
 * invalid); output that does not fit is dropped at a character boundary.
 * A zeroed struct utf8_stream is a fresh stream. */
struct utf8_stream { unsigned char pend[8]; int n; };
size_t utf8_feed(struct utf8_stream *s, const char *in, size_t len, char *out, size_t cap);
size_t utf8_flush(struct utf8_stream *s, char *out, size_t cap);

#endif
