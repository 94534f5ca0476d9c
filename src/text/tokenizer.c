/* text/tokenizer.c: the vocabulary as llama.cpp's llama_vocab loads it (token
 * texts, scores, types, special ids, defaults per model type), splitting
 * text on special tokens before the SPM/BPE encoders run, decoding token ids
 * to bytes, and the streaming UTF-8 repair used when printing pieces. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/pretok.h"
#include "text/tokenizer_impl.h"
#include "util/mem.h"

/* Longest text tokenizer_encode takes: keeps escaped SPM text (3x) and
 * symbol indices inside 32 bits. */
#define TOK_MAX_TEXT ((size_t)1 << 28)

/* ---- containers shared by the encoders ---- */

uint64_t tok_hash_bytes(const char *s, size_t n)
{
    const uint64_t k = 0x9fb21c651e98df25ull;
    uint64_t h = 0x2545f4914f6cdd1dull ^ (n * k), w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        w *= k;
        h = (h ^ (w ^ (w >> 47))) * k;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w) * k;
    }
    return h;
}

int tok_hash_alloc(struct tok_hash *h, size_t n, struct tl_error *err)
{
    size_t slots = 16;
    while (slots < 2 * n) {
        if (slots > ((size_t)1 << 30))
            return tl_fail(err, TL_ERANGE, "tokenizer: %zu entries are too many", n);
        slots *= 2;
    }
    memset(h, 0, sizeof *h);
    h->mask = (uint32_t)(slots - 1);
    h->tag = malloc(slots * sizeof *h->tag);
    h->val = malloc(slots * sizeof *h->val);
    if (!h->tag || !h->val) {
        tok_hash_release(h);
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for a %zu-entry map", n);
    }
    memset(h->val, 0xff, slots * sizeof *h->val);
    return TL_OK;
}

void tok_hash_release(struct tok_hash *h)
{
    if (!h)
        return;
    mem_free_all(h->tag, h->val, h->keys, h->key_off, h->key_llen, h->key_rlen);
    memset(h, 0, sizeof *h);
}

int tok_vec_push(struct tok_vec *v, int32_t id, struct tl_error *err)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for %zu tokens", cap);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = id;
    return TL_OK;
}

static int heap_grow(struct tok_heap *h, struct tl_error *err)
{
    size_t cap = h->cap ? h->cap * 2 : 64;
    struct tok_bigram *nb = realloc(h->b, cap * sizeof *nb);
    if (!nb)
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for %zu bigrams", cap);
    h->b = nb;
    h->cap = cap;
    return TL_OK;
}

int tok_heap_append(struct tok_heap *h, struct tok_bigram x, struct tl_error *err)
{
    int rc = h->n == h->cap ? heap_grow(h, err) : TL_OK;
    if (!rc)
        h->b[h->n++] = x;
    return rc;
}

/* Move x down from slot i to where it belongs below. */
static void sift_down(struct tok_heap *h, size_t i, struct tok_bigram x)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->b[c + 1].key < h->b[c].key)
            c++;
        if (h->b[c].key >= x.key)
            break;
        h->b[i] = h->b[c];
        i = c;
    }
    h->b[i] = x;
}

void tok_heap_build(struct tok_heap *h)
{
    for (size_t i = h->n / 2; i-- > 0;)
        sift_down(h, i, h->b[i]);
}

int tok_heap_push(struct tok_heap *h, struct tok_bigram x, struct tl_error *err)
{
    if (h->n == h->cap) {
        int rc = heap_grow(h, err);
        if (rc)
            return rc;
    }
    size_t i = h->n++;
    while (i > 0 && x.key < h->b[(i - 1) / 2].key) {
        h->b[i] = h->b[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->b[i] = x;
    return TL_OK;
}

struct tok_bigram tok_heap_pop(struct tok_heap *h)
{
    struct tok_bigram top = h->b[0];
    if (--h->n)
        sift_down(h, 0, h->b[h->n]);
    return top;
}

/* ---- loading ---- */

int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len)
{
    const struct tok_hash *h = t->vocab_map;
    if (!h)
        return -1;
    uint64_t hv = tok_hash_mix(tok_hash_bytes(text, len));
    uint32_t tag = (uint32_t)(hv >> 32);
    for (uint32_t s = (uint32_t)hv & h->mask;; s = (s + 1) & h->mask) {
        int32_t id = h->val[s];
        if (id < 0)
            return -1;
        if (h->tag[s] == tag && t->len[id] == len && !memcmp(t->text[id], text, len))
            return id;
    }
}

/* tokenizer.ggml.model and .pre, and the defaults llama.cpp derives from them. */
static int read_model(struct tokenizer *t, const struct gguf *g, struct tl_error *err)
{
    struct gguf_str model = { 0 }, pre = { 0 };
    int rc;
    if ((rc = gguf_get_str(g, "tokenizer.ggml.model", &model, true, err)))
        return rc;
    if ((rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, false, err)))
        return rc;
    if (gguf_str_eq(model, "llama")) {
        t->model = TOK_SPM;
        t->add_space_prefix = true;
        t->add_bos = true;
        t->add_eos = false;
    } else if (gguf_str_eq(model, "gpt2")) {
        t->model = TOK_BPE;
        if ((rc = pretok_from_name(pre.ptr, pre.len, &t->pre, err)))
            return rc;
        t->add_space_prefix = false;
        /* llama.cpp's per-pre-tokenizer flags: BOS by default, and merges
         * that must not split a pre-token which is already a token */
        t->ignore_merges = t->pre == PRETOK_LLAMA3 || t->pre == PRETOK_TEKKEN;
        t->add_bos = t->ignore_merges || t->pre == PRETOK_CHAMELEON;
    } else {
        return tl_fail(err, TL_EUNSUPPORTED, "tokenizer model '%.*s' is not supported (only llama and gpt2)",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    if ((rc = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, false, err)))
        return rc;
    return TL_OK;
}

/* Token texts into one heap block: n pointers, then the NUL-terminated
 * texts. An empty text becomes "[EMPTY_i]" as in llama.cpp. */
static int load_texts(struct tokenizer *t, const struct gguf_str *s, uint64_t n, struct tl_error *err)
{
    char empty[32];
    size_t total = (size_t)n * sizeof(char *);
    for (uint64_t i = 0; i < n; i++) {
        size_t l = s[i].len ? s[i].len : (size_t)snprintf(empty, sizeof empty, "[EMPTY_%llu]", (unsigned long long)i);
        if (s[i].len >= UINT32_MAX || total > SIZE_MAX - l - 1)
            return tl_fail(err, TL_EFORMAT, "tokenizer: token %llu is too long", (unsigned long long)i);
        total += l + 1;
    }
    t->text = malloc(total);
    t->len = malloc((size_t)n * sizeof *t->len);
    if (!t->text || !t->len)
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for %llu tokens", (unsigned long long)n);
    char *p = (char *)(t->text + n);
    for (uint64_t i = 0; i < n; i++) {
        t->text[i] = p;
        if (s[i].len) {
            memcpy(p, s[i].ptr, s[i].len);
            t->len[i] = (uint32_t)s[i].len;
        } else {
            t->len[i] = (uint32_t)snprintf(p, sizeof empty, "[EMPTY_%llu]", (unsigned long long)i);
        }
        p[t->len[i]] = 0;
        p += t->len[i] + 1;
    }
    return TL_OK;
}

/* A numeric array with at least n elements, or NULL when the key is absent. */
static int find_num_array(const struct gguf *g, const char *key, uint64_t n, const struct gguf_kv **kv,
                          struct tl_error *err)
{
    *kv = gguf_find(g, key);
    if (!*kv)
        return TL_OK;
    if ((*kv)->type != GGUF_ARRAY || (*kv)->v.arr.type == GGUF_STRING || (*kv)->v.arr.type == GGUF_ARRAY ||
        (*kv)->v.arr.type >= GGUF_VTYPE_COUNT || (*kv)->v.arr.n < n)
        return tl_fail(err, TL_EFORMAT, "%s is not a numeric array of %llu elements", key, (unsigned long long)n);
    return TL_OK;
}

static int load_vocab(struct tokenizer *t, const struct gguf *g, struct tl_error *err)
{
    const struct gguf_kv *kv = gguf_find(g, "tokenizer.ggml.tokens"), *sc, *ty;
    struct gguf_str *s = NULL;
    int rc;
    if (!kv)
        return tl_fail(err, TL_EFORMAT, "the file has no tokenizer.ggml.tokens");
    if (kv->type != GGUF_ARRAY || kv->v.arr.type != GGUF_STRING || kv->v.arr.n == 0 ||
        kv->v.arr.n > ((uint64_t)1 << 28))
        return tl_fail(err, TL_EFORMAT, "tokenizer.ggml.tokens is not a string array of 1..2^28 tokens");
    uint64_t n = kv->v.arr.n;
    if ((rc = find_num_array(g, "tokenizer.ggml.scores", n, &sc, err)) ||
        (rc = find_num_array(g, "tokenizer.ggml.token_type", n, &ty, err)) ||
        (rc = gguf_arr_strs(kv, &s, err)) || (rc = load_texts(t, s, n, err)))
        goto out;
    t->n_vocab = (int32_t)n;
    t->score = malloc(n * sizeof *t->score);
    t->type = malloc(n);
    t->strip = calloc(n, 1);
    if (!t->score || !t->type || !t->strip) {
        rc = tl_fail(err, TL_ENOMEM, "tokenizer: out of memory for %llu tokens", (unsigned long long)n);
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        t->score[i] = sc ? (float)gguf_arr_num(sc, i) : 0.0f;
        double v = ty ? gguf_arr_num(ty, i) : TOKT_NORMAL;
        /* 0 and unknown values are llama.cpp's "undefined": never printed */
        t->type[i] = v >= TOKT_NORMAL && v <= TOKT_BYTE && v == (int)v ? (uint8_t)v : 0;
    }
out:
    free(s);
    return rc;
}

/* text -> id. llama.cpp refuses a vocabulary with a repeated text, so do we. */
static int build_vocab_map(struct tokenizer *t, struct tl_error *err)
{
    int rc;
    t->vocab_map = calloc(1, sizeof *t->vocab_map);
    if (!t->vocab_map)
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
    if ((rc = tok_hash_alloc(t->vocab_map, (size_t)t->n_vocab, err)))
        return rc;
    struct tok_hash *h = t->vocab_map;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint64_t hv = tok_hash_mix(tok_hash_bytes(t->text[id], t->len[id]));
        uint32_t s = (uint32_t)hv & h->mask;
        for (; h->val[s] >= 0; s = (s + 1) & h->mask) {
            int32_t o = h->val[s];
            if (t->len[o] == t->len[id] && !memcmp(t->text[o], t->text[id], t->len[id]))
                return tl_fail(err, TL_EFORMAT, "tokenizer: tokens %d and %d have the same text", o, id);
        }
        h->val[s] = id;
        h->tag[s] = (uint32_t)(hv >> 32);
    }
    return TL_OK;
}

/* SPM byte fallback: <0xNN>, else the one-byte text itself (llama.cpp's byte_to_token). */
static void find_byte_tokens(struct tokenizer *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0 };
        char one = (char)b;
        int32_t id = tokenizer_find(t, name, 6);
        t->byte_tok[b] = id >= 0 ? id : tokenizer_find(t, &one, 1);
    }
}

/* The newline token, found before the special ids are read (so the pad
 * fallback is still unset): SPM its byte token, BPE the first id of "\n". */
static int find_newline(struct tokenizer *t, struct tl_error *err)
{
    if (t->model == TOK_SPM) {
        t->nl = t->byte_tok['\n'];
        return TL_OK;
    }
    struct tok_vec v = { 0 };
    int rc = tok_bpe_encode(t, "\n", 1, &v, err);
    if (!rc)
        t->nl = v.n ? v.v[0] : -1;
    free(v.v);
    return rc;
}

int tokenizer_init(struct tokenizer *t, const struct gguf *g, struct tl_error *err)
{
    int rc;
    memset(t, 0, sizeof *t);
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = t->nl = -1;
    if ((rc = read_model(t, g, err)) || (rc = load_vocab(t, g, err)) || (rc = build_vocab_map(t, err)) ||
        (t->model == TOK_BPE && (rc = tok_bpe_load_merges(t, g, err))))
        goto out;
    find_byte_tokens(t);
    if (!(rc = find_newline(t, err)))
        rc = tok_special_init(t, g, err);
out:
    if (rc)
        tokenizer_free(t);
    return rc;
}

void tokenizer_free(struct tokenizer *t)
{
    mem_free_all(t->text, t->len, t->score, t->type, t->strip, t->eog, t->special);
    tok_hash_release(t->vocab_map);
    free(t->vocab_map);
    tok_hash_release(t->merge_map);
    free(t->merge_map);
    memset(t, 0, sizeof *t);
}

bool tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    int lo = 0, hi = t->n_eog;   /* eog is sorted ascending */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (t->eog[mid] == id)
            return true;
        if (t->eog[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* ---- encoding ---- */

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
                     bool add_special, bool parse_special,
                     int32_t **ids, int *n, struct tl_error *err)
{
    struct tok_vec out = { 0 };
    struct tok_frag *fr = NULL;
    size_t n_fr = 0;
    int rc;
    if (*n < 0)
        return tl_fail(err, TL_EINVAL, "tokenizer_encode: negative token count %d", *n);
    if (len > TOK_MAX_TEXT)
        return tl_fail(err, TL_ERANGE, "text of %zu bytes is too long to tokenize (limit %zu)", len, TOK_MAX_TEXT);
    if ((rc = tok_partition(t, text, len, parse_special, &fr, &n_fr, err)))
        goto out;
    /* SPM prefixes a space to the text at the start and after each special token */
    bool prev_special = true;
    if (add_special && t->add_bos && (rc = tok_vec_push(&out, t->bos, err)))
        goto out;
    for (size_t i = 0; i < n_fr && !rc; i++) {
        if (fr[i].id >= 0)
            rc = tok_vec_push(&out, fr[i].id, err);
        else if (t->model == TOK_SPM)
            rc = tok_spm_encode(t, text + fr[i].off, fr[i].len, t->add_space_prefix && prev_special, &out, err);
        else
            rc = tok_bpe_encode(t, text + fr[i].off, fr[i].len, &out, err);
        prev_special = fr[i].id >= 0;
    }
    if (rc || (add_special && t->add_eos && (rc = tok_vec_push(&out, t->eos, err))))
        goto out;
    if (out.n > (size_t)(INT_MAX - *n)) {
        rc = tl_fail(err, TL_ERANGE, "too many tokens (%zu)", out.n);
        goto out;
    }
    if (out.n) {
        int32_t *nv = realloc(*ids, ((size_t)*n + out.n) * sizeof *nv);
        if (!nv) {
            rc = tl_fail(err, TL_ENOMEM, "out of memory for %zu tokens", out.n);
            goto out;
        }
        memcpy(nv + *n, out.v, out.n * sizeof *nv);
        *ids = nv;
        *n += (int)out.n;
    }
out:
    free(out.v);
    free(fr);
    return rc;
}

/* ---- decoding ---- */

/* SPM normal token: U+2581 becomes a space. */
static void put_unescaped(struct tok_out *o, const char *s, size_t n)
{
    size_t i = 0, run = 0;
    while (i + run < n) {
        if (i + run + 3 <= n && !memcmp(s + i + run, "\xe2\x96\x81", 3)) {
            tok_out_put(o, s + i, run);
            tok_out_put(o, " ", 1);
            i += run + 3;
            run = 0;
        } else {
            run++;
        }
    }
    tok_out_put(o, s + i, run);
}

/* The byte of an SPM byte token "<0xNN>": hex digits after "<0x". */
static char byte_of(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 3; i < 5 && i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d == 16)
            break;
        v = v * 16 + d;
    }
    return (char)v;
}

int tokenizer_piece(const struct tokenizer *t, int32_t id, bool special, char *buf, size_t cap)
{
    struct tok_out o = { buf, cap, 0 };
    if (id < 0 || id >= t->n_vocab)
        return 0;
    int ty = t->type[id];
    bool hidden = ty == TOKT_CONTROL || ty == TOKT_UNKNOWN;
    const char *s = t->text[id];
    size_t n = t->len[id];
    if (hidden && !special)
        return 0;
    if (hidden || ty == TOKT_USER_DEFINED) {
        tok_out_put(&o, s, n);
    } else if (ty == TOKT_NORMAL) {
        if (t->model == TOK_SPM)
            put_unescaped(&o, s, n);
        else
            tok_bpe_decode(s, n, &o);
    } else if (ty == TOKT_BYTE && t->model == TOK_SPM) {
        char b = byte_of(s, n);
        tok_out_put(&o, &b, 1);
    }
    /* unused, undefined, and BPE byte-type tokens print nothing, as in llama.cpp */
    return o.n > INT_MAX ? INT_MAX : (int)o.n;
}

/* ---- streaming UTF-8 ---- */

/* Total length of the sequence lead byte c starts; 0 when it starts none. */
static int u8_need(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
}

/* Whether c may follow the k bytes in p (well-formed UTF-8: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static bool u8_cont_ok(const unsigned char *p, int k, unsigned char c)
{
    if (k == 1 && p[0] == 0xE0)
        return c >= 0xA0 && c <= 0xBF;
    if (k == 1 && p[0] == 0xED)
        return c >= 0x80 && c <= 0x9F;
    if (k == 1 && p[0] == 0xF0)
        return c >= 0x90 && c <= 0xBF;
    if (k == 1 && p[0] == 0xF4)
        return c >= 0x80 && c <= 0x8F;
    return (c & 0xC0) == 0x80;
}

/* Whole characters only: once one does not fit, nothing more is written. */
static void u8_put(struct tok_out *o, const void *s, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = o->n;
        return;
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

size_t utf8_feed(struct utf8_stream *s, const char *in, size_t len, char *out, size_t cap)
{
    static const char repl[3] = { '\xef', '\xbf', '\xbd' };
    struct tok_out o = { out, cap, 0 };
    if (s->n < 0 || s->n > 3)
        s->n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        if (s->n == 0) {
            int need = u8_need(c);
            if (need == 1)
                u8_put(&o, &c, 1);
            else if (need == 0)
                u8_put(&o, repl, 3);
            else
                s->pend[s->n++] = c;
            i++;
        } else if (!u8_cont_ok(s->pend, s->n, c)) {
            /* the pending prefix is a maximal ill-formed subpart: one U+FFFD,
             * then c is looked at again as a possible lead byte */
            u8_put(&o, repl, 3);
            s->n = 0;
        } else {
            s->pend[s->n++] = c;
            i++;
            if (s->n == u8_need(s->pend[0])) {
                u8_put(&o, s->pend, (size_t)s->n);
                s->n = 0;
            }
        }
    }
    return o.n;
}

size_t utf8_flush(struct utf8_stream *s, char *out, size_t cap)
{
    struct tok_out o = { out, cap, 0 };
    if (s->n > 0 && s->n <= 3)
        u8_put(&o, "\xef\xbf\xbd", 3);
    s->n = 0;
    return o.n;
}
