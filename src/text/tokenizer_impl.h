/* text/tokenizer_impl.h: private pieces shared by text/tokenizer.c (loading, special
 * tokens, decoding), text/tokenizer_spm.c and text/tokenizer_bpe.c: the hash maps, a
 * growable id vector, the bigram heap and the per-model encoders. */
#ifndef TINYLLM_TOKENIZER_IMPL_H
#define TINYLLM_TOKENIZER_IMPL_H

#include <string.h>

#include "text/tokenizer.h"

/* Open addressing with linear probing, at most half full. A slot holds a
 * value (token id or merge index, -1 = empty) and 32 bits of its key's hash
 * so most mismatches are rejected without touching the key. The keys live
 * elsewhere: token texts in struct tokenizer, merge strings in keys below. */
struct tok_hash {
    uint32_t  mask;       /* slots - 1; slots is a power of two */
    uint32_t *tag;        /* per slot: hash bits of the key */
    int32_t  *val;        /* per slot: value, -1 when empty */
    /* merge map only: merge i is keys[key_off[i] ..] = left part (key_llen[i]
     * bytes) followed by right part (key_rlen[i] bytes) */
    char     *keys;
    uint32_t *key_off, *key_llen, *key_rlen;
};

/* Hash of n bytes (word at a time), and the final spread before use:
 * slot = mix & mask, tag = mix >> 32. */
uint64_t tok_hash_bytes(const char *s, size_t n);
static inline uint64_t tok_hash_mix(uint64_t h)
{
    h ^= h >> 31;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}
/* Room for n keys, all slots empty (the key arrays stay NULL). */
int tok_hash_alloc(struct tok_hash *h, size_t n, struct tl_error *err);
void tok_hash_release(struct tok_hash *h);

/* Growable array of token ids. */
struct tok_vec {
    int32_t *v;
    size_t   n, cap;
};
int tok_vec_push(struct tok_vec *v, int32_t id, struct tl_error *err);

/* A candidate merge of symbols left and right (adjacent) whose joined text
 * is size bytes. The smallest key pops first; its high half orders by
 * priority (SPM: higher score first, BPE: lower merge rank first) and its
 * low half is left, so ties go to the leftmost pair as in llama.cpp. */
struct tok_bigram {
    uint64_t key;
    int32_t  right;
    uint32_t size;
};
static inline int32_t tok_bigram_left(const struct tok_bigram *b)
{
    return (int32_t)(uint32_t)b->key;
}
static inline uint64_t tok_key_score(float score, int32_t left)
{
    uint32_t u;
    score = score == 0 ? 0.0f : score;   /* -0 and +0 tie, as they compare equal */
    memcpy(&u, &score, sizeof u);
    u = u >> 31 ? ~u : u | 0x80000000u;  /* now ascending with the float */
    return (uint64_t)~u << 32 | (uint32_t)left;
}
static inline uint64_t tok_key_rank(int32_t rank, int32_t left)
{
    return (uint64_t)(uint32_t)rank << 32 | (uint32_t)left;
}
struct tok_heap {
    struct tok_bigram *b;
    size_t             n, cap;
};
/* Append without ordering (then tok_heap_build), or push keeping heap order. */
int tok_heap_append(struct tok_heap *h, struct tok_bigram x, struct tl_error *err);
void tok_heap_build(struct tok_heap *h);
int tok_heap_push(struct tok_heap *h, struct tok_bigram x, struct tl_error *err);
struct tok_bigram tok_heap_pop(struct tok_heap *h);   /* h->n > 0 */

/* A piece of text being merged: bytes [off, off + n) of the working buffer,
 * linked to its live neighbours (-1 at the ends); n == 0 once merged away. */
struct tok_sym {
    int32_t  prev, next;
    uint32_t off, n;
};

/* Byte length of the UTF-8 sequence a lead byte announces, by its high
 * nibble only (no validation), as llama.cpp splits text into symbols. */
static inline uint32_t tok_utf8_len(unsigned char c)
{
    static const uint8_t len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return len[c >> 4];
}

/* Encode one raw-text fragment (no special tokens in it), appending ids.
 * SPM: space_prefix prepends one space before escaping spaces to U+2581. */
int tok_spm_encode(const struct tokenizer *t, const char *text, size_t len, bool space_prefix,
                   struct tok_vec *out, struct tl_error *err);
int tok_bpe_encode(const struct tokenizer *t, const char *text, size_t len,
                   struct tok_vec *out, struct tl_error *err);

/* BPE: read tokenizer.ggml.merges into t->merge_map. */
int tok_bpe_load_merges(struct tokenizer *t, const struct gguf *g, struct tl_error *err);

/* Writes bytes into a caller buffer like snprintf: stores what fits, counts all. */
struct tok_out {
    char  *buf;
    size_t cap, n;
};
static inline void tok_out_put(struct tok_out *o, const char *s, size_t n)
{
    size_t room = o->n < o->cap ? o->cap - o->n : 0;
    if (room && n)
        memcpy(o->buf + o->n, s, n < room ? n : room);
    o->n += n;
}

/* BPE: the bytes a byte-level token text stands for (GPT-2 unicode chars
 * mapped back to bytes; a char outside the mapping is spelled out as
 * llama.cpp does, "[UNK_BYTE_0x..]"). */
void tok_bpe_decode(const char *text, size_t len, struct tok_out *o);

/* text/tokenizer_special.c: special ids, add_bos/add_eos, the end-of-generation
 * set, and the list of special tokens (t->special) with their strip bits.
 * Runs after the texts, types and maps are loaded. */
int tok_special_init(struct tokenizer *t, const struct gguf *g, struct tl_error *err);

/* One piece of the input after special-token partitioning: raw text
 * [off, off + len) when id < 0, else the special token id. */
struct tok_frag {
    size_t  off, len;
    int32_t id;
};
/* Split text on the special tokens (llama.cpp's tokenizer_st_partition):
 * longest token first; control and unknown ones only when parse_special.
 * *frags is a heap array of *n pieces in order (caller frees). */
int tok_partition(const struct tokenizer *t, const char *text, size_t len, bool parse_special,
                  struct tok_frag **frags, size_t *n, struct tl_error *err);

#endif
