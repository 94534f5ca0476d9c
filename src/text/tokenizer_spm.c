/* text/tokenizer_spm.c: SentencePiece encoding as llama.cpp's llm_tokenizer_spm
 * does it: spaces become U+2581, the text is cut into UTF-8 characters, and
 * adjacent pieces whose concatenation is a token merge, best score first;
 * pieces that are no token fall back to byte tokens. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_impl.h"
#include "util/mem.h"

struct spm {
    const struct tokenizer *t;
    const char             *buf;    /* escaped text */
    struct tok_sym         *sym;
    struct tok_heap         heap;
};

/* Queue the merge of adjacent symbols l and r if their joined text is a
 * token; initial: append unordered (tok_heap_build follows). */
static int try_bigram(struct spm *s, int32_t l, int32_t r, bool initial, struct tl_error *err)
{
    if (l < 0 || r < 0)
        return TL_OK;
    uint32_t size = s->sym[l].n + s->sym[r].n;
    int32_t id = tokenizer_find(s->t, s->buf + s->sym[l].off, size);
    if (id < 0)
        return TL_OK;
    struct tok_bigram b = { tok_key_score(s->t->score[id], l), r, size };
    return initial ? tok_heap_append(&s->heap, b, err) : tok_heap_push(&s->heap, b, err);
}

/* A final symbol: its token, or one token per byte (<0xNN>, else the byte's
 * own text, else <unk> where llama.cpp would give up). */
static int emit(const struct spm *s, const struct tok_sym *y, struct tok_vec *out, struct tl_error *err)
{
    const char *p = s->buf + y->off;
    int32_t id = tokenizer_find(s->t, p, y->n);
    if (id >= 0)
        return tok_vec_push(out, id, err);
    for (uint32_t i = 0; i < y->n; i++) {
        unsigned char c = (unsigned char)p[i];
        id = s->t->byte_tok[c] >= 0 ? s->t->byte_tok[c] : s->t->unk;
        if (id < 0)
            return tl_fail(err, TL_EFORMAT, "tokenizer: no token for byte 0x%02X and no <unk>", c);
        int rc = tok_vec_push(out, id, err);
        if (rc)
            return rc;
    }
    return TL_OK;
}

/* Escape: optional leading space, then every ' ' as U+2581. */
static char *escape(const char *text, size_t len, bool space_prefix, size_t *n_out)
{
    size_t n = space_prefix ? 3 : 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == ' ' ? 3 : 1;
    char *buf = malloc(n ? n : 1), *p = buf;
    if (!buf)
        return NULL;
    if (space_prefix) {
        memcpy(p, "\xe2\x96\x81", 3);
        p += 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(p, "\xe2\x96\x81", 3);
            p += 3;
        } else {
            *p++ = text[i];
        }
    }
    *n_out = n;
    return buf;
}

/* Cut buf[0..n) into characters by lead byte (the last one clipped at the
 * end), linked in order. Returns the count. */
static int32_t split_chars(const char *buf, size_t n, struct tok_sym *sym)
{
    int32_t k = 0;
    for (size_t off = 0; off < n; k++) {
        uint32_t l = tok_utf8_len((unsigned char)buf[off]);
        if (l > n - off)
            l = (uint32_t)(n - off);
        sym[k] = (struct tok_sym){ k - 1, off + l < n ? k + 1 : -1, (uint32_t)off, l };
        off += l;
    }
    return k;
}

int tok_spm_encode(const struct tokenizer *t, const char *text, size_t len, bool space_prefix,
                   struct tok_vec *out, struct tl_error *err)
{
    struct spm s = { .t = t };
    size_t n = 0;
    char *buf = escape(text, len, space_prefix, &n);
    int rc = TL_OK;
    s.buf = buf;
    s.sym = malloc((n ? n : 1) * sizeof *s.sym);
    if (!buf || !s.sym) {
        rc = tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for %zu bytes of text", len);
        goto out;
    }
    int32_t n_sym = split_chars(buf, n, s.sym);
    for (int32_t i = 1; i < n_sym && !rc; i++)
        rc = try_bigram(&s, i - 1, i, true, err);
    tok_heap_build(&s.heap);
    while (!rc && s.heap.n) {
        struct tok_bigram b = tok_heap_pop(&s.heap);
        int32_t left = tok_bigram_left(&b);
        struct tok_sym *l = &s.sym[left], *r = &s.sym[b.right];
        /* stale: one side was merged away or grew since this was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s.sym[r->next].prev = left;
        if (!(rc = try_bigram(&s, l->prev, left, false, err)))
            rc = try_bigram(&s, left, l->next, false, err);
    }
    for (int32_t i = n_sym ? 0 : -1; i >= 0 && !rc; i = s.sym[i].next)
        rc = emit(&s, &s.sym[i], out, err);
out:
    mem_free_all(buf, s.sym, s.heap.b);
    return rc;
}
