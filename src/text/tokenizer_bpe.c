/* text/tokenizer_bpe.c: byte-level BPE as llama.cpp's llm_tokenizer_bpe does it:
 * pre-tokenize (text/pretok.c), spell each word's bytes in the GPT-2 alphabet,
 * merge adjacent symbols lowest merge rank first; and the way back from
 * token text to bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/pretok.h"
#include "text/tokenizer_impl.h"
#include "text/unicode.h"
#include "util/mem.h"

/* ---- the GPT-2 byte alphabet ----
 * Printable bytes '!'..'~', 0xA1..0xAC, 0xAE..0xFF stand for themselves;
 * the other 68 bytes, in order, become U+0100 onwards. */

static uint32_t byte_to_cpt(unsigned b)
{
    if (b <= 0x20)
        return 0x100 + b;                    /* 33 control/space bytes */
    if (b >= 0x7F && b <= 0xA0)
        return 0x100 + 33 + (b - 0x7F);      /* 34 more */
    if (b == 0xAD)
        return 0x100 + 67;
    return b;
}

/* -1 when cp is not in the alphabet */
static int cpt_to_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 0x100 && cp < 0x100 + 33)
        return (int)(cp - 0x100);
    if (cp >= 0x100 + 33 && cp < 0x100 + 67)
        return (int)(cp - 0x100 - 33 + 0x7F);
    if (cp == 0x100 + 67)
        return 0xAD;
    return -1;
}

/* UTF-8 of cp (<= 0x10FFFF) into dst; returns the length. */
static size_t put_utf8(uint32_t cp, char *dst)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Codepoint at s (lenient decoding, as llama.cpp); values past U+10FFFF,
 * which llama.cpp cannot re-encode, become U+FFFD. */
static uint32_t next_cpt(const char *s, size_t len, size_t *adv)
{
    uint32_t cp = unicode_decode((const unsigned char *)s, len, adv);
    return cp > 0x10FFFF ? UNICODE_REPLACEMENT : cp;
}

void tok_bpe_decode(const char *text, size_t len, struct tok_out *o)
{
    for (size_t i = 0; i < len;) {
        size_t adv;
        char u[4];
        uint32_t cp = next_cpt(text + i, len - i, &adv);
        int b = cpt_to_byte(cp);
        i += adv;
        if (b >= 0) {
            char c = (char)b;
            tok_out_put(o, &c, 1);
            continue;
        }
        /* llama.cpp's llama_decode_text spells the char and the whole text */
        size_t n = put_utf8(cp, u);
        char hex[3];
        tok_out_put(o, "[UNK_BYTE_0x", 12);
        for (size_t k = 0; k < n; k++) {
            snprintf(hex, sizeof hex, "%02x", (unsigned char)u[k]);
            tok_out_put(o, hex, 2);
        }
        tok_out_put(o, text, len);
        tok_out_put(o, "]", 1);
    }
}

/* ---- merges ---- */

static uint64_t pair_hash(const char *l, size_t ln, const char *r, size_t rn)
{
    return tok_hash_mix(tok_hash_bytes(l, ln) * 0x100000001b3ull ^ tok_hash_bytes(r, rn));
}

/* Rank of merging texts l and r, -1 if none. */
static int32_t merge_rank(const struct tok_hash *h, const char *l, size_t ln, const char *r, size_t rn)
{
    uint64_t hv = pair_hash(l, ln, r, rn);
    uint32_t tag = (uint32_t)(hv >> 32);
    for (uint32_t s = (uint32_t)hv & h->mask;; s = (s + 1) & h->mask) {
        int32_t m = h->val[s];
        if (m < 0)
            return -1;
        const char *k = h->keys + h->key_off[m];
        if (h->tag[s] == tag && h->key_llen[m] == ln && h->key_rlen[m] == rn && !memcmp(k, l, ln) &&
            !memcmp(k + ln, r, rn))
            return m;
    }
}

/* Store merge m ("left right", split at the first space after byte 0) and
 * index it unless an earlier merge has the same pair. */
static void add_merge(struct tok_hash *h, int32_t m, struct gguf_str s, uint32_t off)
{
    const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
    if (!sp)
        return;   /* llama.cpp files it as ("", ""), which no symbol pair matches */
    size_t ln = (size_t)(sp - s.ptr), rn = s.len - ln - 1;
    memcpy(h->keys + off, s.ptr, ln);
    memcpy(h->keys + off + ln, sp + 1, rn);
    h->key_off[m] = off;
    h->key_llen[m] = (uint32_t)ln;
    h->key_rlen[m] = (uint32_t)rn;
    if (merge_rank(h, s.ptr, ln, sp + 1, rn) >= 0)
        return;
    uint64_t hv = pair_hash(s.ptr, ln, sp + 1, rn);
    uint32_t slot = (uint32_t)hv & h->mask;
    while (h->val[slot] >= 0)
        slot = (slot + 1) & h->mask;
    h->val[slot] = m;
    h->tag[slot] = (uint32_t)(hv >> 32);
}

int tok_bpe_load_merges(struct tokenizer *t, const struct gguf *g, struct tl_error *err)
{
    const struct gguf_kv *kv = gguf_find(g, "tokenizer.ggml.merges");
    struct gguf_str *s = NULL;
    struct tok_hash *h;
    int rc;
    if (!kv)
        return tl_fail(err, TL_EFORMAT, "the file has no tokenizer.ggml.merges (needed by a gpt2 tokenizer)");
    if (kv->type != GGUF_ARRAY || kv->v.arr.type != GGUF_STRING || kv->v.arr.n > ((uint64_t)1 << 28))
        return tl_fail(err, TL_EFORMAT, "tokenizer.ggml.merges is not a string array of at most 2^28 merges");
    size_t n = (size_t)kv->v.arr.n, total = 0;
    h = t->merge_map = calloc(1, sizeof *h);
    if (!h)
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
    if ((rc = gguf_arr_strs(kv, &s, err)) || (rc = tok_hash_alloc(h, n, err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        total += s[i].len;
        if (s[i].len >= UINT32_MAX || total >= UINT32_MAX) {
            rc = tl_fail(err, TL_EFORMAT, "tokenizer.ggml.merges holds too many bytes");
            goto out;
        }
    }
    h->keys = malloc(total + 1);
    h->key_off = calloc(n + 1, sizeof *h->key_off);
    h->key_llen = calloc(n + 1, sizeof *h->key_llen);
    h->key_rlen = calloc(n + 1, sizeof *h->key_rlen);
    if (!h->keys || !h->key_off || !h->key_llen || !h->key_rlen) {
        rc = tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for %zu merges", n);
        goto out;
    }
    uint32_t off = 0;
    for (size_t i = 0; i < n; i++) {
        add_merge(h, (int32_t)i, s[i], off);
        off += (uint32_t)s[i].len;
    }
out:
    free(s);
    return rc;
}

/* ---- encoding ---- */

/* Scratch reused across the words of one call. */
struct bpe {
    const struct tokenizer *t;
    char                   *word;    /* the word in the GPT-2 alphabet */
    struct tok_sym         *sym;
    struct tok_heap         heap;
};

/* Word bytes -> codepoints (lenient, U+FFFD per bad byte) -> UTF-8 -> each
 * byte's alphabet char, as llama.cpp's unicode_regex_split hands words to
 * the merges. Needs 6 bytes of room per input byte. */
static size_t map_word(const char *s, size_t len, char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        char u[4];
        size_t k = put_utf8(next_cpt(s + i, len - i, &adv), u);
        i += adv;
        for (size_t j = 0; j < k; j++)
            n += put_utf8(byte_to_cpt((unsigned char)u[j]), dst + n);
    }
    return n;
}

/* Queue the merge of adjacent symbols l and r if it is a merge; initial:
 * append unordered (tok_heap_build follows). */
static int try_bigram(struct bpe *b, int32_t l, int32_t r, bool initial, struct tl_error *err)
{
    if (l < 0 || r < 0)
        return TL_OK;
    const struct tok_sym *x = &b->sym[l], *y = &b->sym[r];
    int32_t rank = merge_rank(b->t->merge_map, b->word + x->off, x->n, b->word + y->off, y->n);
    if (rank < 0)
        return TL_OK;
    struct tok_bigram g = { tok_key_rank(rank, l), r, x->n + y->n };
    return initial ? tok_heap_append(&b->heap, g, err) : tok_heap_push(&b->heap, g, err);
}

/* A final symbol: its token, or the tokens of its single bytes that exist
 * (llama.cpp drops the rest). */
static int emit(const struct bpe *b, const struct tok_sym *y, struct tok_vec *out, struct tl_error *err)
{
    const char *p = b->word + y->off;
    int32_t id = tokenizer_find(b->t, p, y->n);
    if (id >= 0)
        return tok_vec_push(out, id, err);
    for (uint32_t i = 0; i < y->n; i++) {
        id = tokenizer_find(b->t, p + i, 1);
        int rc = id >= 0 ? tok_vec_push(out, id, err) : TL_OK;
        if (rc)
            return rc;
    }
    return TL_OK;
}

/* Merge one mapped word of n bytes and append its tokens. */
static int merge_word(struct bpe *b, size_t n, struct tok_vec *out, struct tl_error *err)
{
    int32_t n_sym = 0, id;
    int rc = TL_OK;
    if (b->t->ignore_merges && (id = tokenizer_find(b->t, b->word, n)) >= 0)
        return tok_vec_push(out, id, err);
    for (size_t off = 0; off < n; n_sym++) {
        uint32_t l = tok_utf8_len((unsigned char)b->word[off]);
        if (l > n - off)
            l = (uint32_t)(n - off);
        b->sym[n_sym] = (struct tok_sym){ n_sym - 1, off + l < n ? n_sym + 1 : -1, (uint32_t)off, l };
        off += l;
    }
    b->heap.n = 0;
    for (int32_t i = 1; i < n_sym && !rc; i++)
        rc = try_bigram(b, i - 1, i, true, err);
    tok_heap_build(&b->heap);
    while (!rc && b->heap.n) {
        struct tok_bigram g = tok_heap_pop(&b->heap);
        int32_t left = tok_bigram_left(&g);
        struct tok_sym *l = &b->sym[left], *r = &b->sym[g.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != g.size)
            continue;   /* outdated: a side changed since it was queued */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            b->sym[r->next].prev = left;
        if (!(rc = try_bigram(b, l->prev, left, false, err)))
            rc = try_bigram(b, left, l->next, false, err);
    }
    for (int32_t i = 0; i < n_sym && !rc; i++)
        if (b->sym[i].n)
            rc = emit(b, &b->sym[i], out, err);
    return rc;
}

int tok_bpe_encode(const struct tokenizer *t, const char *text, size_t len,
                   struct tok_vec *out, struct tl_error *err)
{
    struct pretok_span *sp = NULL;
    struct bpe b = { .t = t };
    size_t n_sp = 0, longest = 1;
    int rc;
    if ((rc = pretok_split(t->pre, text, len, &sp, &n_sp, err)))
        return rc;
    for (size_t i = 0; i < n_sp; i++)
        longest = sp[i].len > longest ? sp[i].len : longest;
    b.word = malloc(6 * longest);
    b.sym = malloc(3 * longest * sizeof *b.sym);   /* one per re-encoded byte */
    if (!b.word || !b.sym) {
        rc = tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for a %zu-byte word", longest);
        goto out;
    }
    for (size_t i = 0; i < n_sp && !rc; i++)
        rc = merge_word(&b, map_word(text + sp[i].off, sp[i].len, b.word), out, err);
out:
    mem_free_all(sp, b.word, b.sym, b.heap.b);
    return rc;
}
