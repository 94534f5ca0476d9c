/* text/tokenizer_special.c: the special tokens as llama.cpp's llama_vocab::load
 * finds them (ids from tokenizer.ggml.*_token_id, EOT/EOM/FIM/EOG tokens
 * recognised by their text, strip attributes of some model families), and
 * the partition of input text on special token texts. */
#include <stdlib.h>
#include <string.h>

#include "text/pretok.h"
#include "text/tokenizer_impl.h"
#include "util/mem.h"

enum { FIM_PRE, FIM_SUF, FIM_MID, FIM_PAD, FIM_REP, FIM_SEP, FIM_COUNT };

/* Which heuristic a token text feeds: one bit per id llama.cpp fills from
 * the first matching token it meets, plus G_EOG for the EOG set. */
enum {
    G_EOT = 1 << 0, G_EOM = 1 << 1, G_FIM0 = 1 << 2,   /* G_FIM0 << FIM_* */
    G_EOG = 1 << 8,
};
#define N_SLOTS 8   /* EOT, EOM, 6 FIM */

/* The token texts llama.cpp compares against for each heuristic, as it
 * lists them (one row per set of groups; order does not matter, a token
 * takes the groups of every row naming its text). Fullwidth bar U+FF5C and
 * U+2581 as in DeepSeek's names; literals are split after each \x escape so
 * no following letter joins it. */
#define TEXT_RULE_MAX 6
struct text_rule {
    unsigned    groups;
    const char *texts[TEXT_RULE_MAX];   /* NULL after the last */
};

static const struct text_rule rules[] = {
    { G_EOT | G_EOG, { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>" } },
    { G_EOT, { "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c" ">" } },
    { G_EOM | G_EOG, { "<|eom_id|>" } },
    { G_FIM0 << FIM_PRE,
      { "<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c" ">", "<PRE>" } },
    { G_FIM0 << FIM_SUF,
      { "<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c" ">", "<SUF>" } },
    { G_FIM0 << FIM_MID,
      { "<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c" ">", "<MID>" } },
    { G_FIM0 << FIM_PAD, { "<|fim_pad|>", "<fim-pad>", "<PAD>" } },
    { G_FIM0 << FIM_REP, { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>" } },
    { G_FIM0 << FIM_SEP, { "<|file_sep|>" } },
};

/* An integer id key in [0, n_vocab) replaces *id; other values keep the
 * default (llama.cpp warns and keeps it). */
static void read_id(const struct gguf *g, const char *key, int32_t n_vocab, int32_t *id)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    int64_t v;
    if (!kv)
        return;
    switch (kv->type) {
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
        v = kv->v.u > INT64_MAX ? -1 : (int64_t)kv->v.u;
        break;
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        v = kv->v.i;
        break;
    default:
        return;
    }
    if (v >= 0 && v < n_vocab)
        *id = (int32_t)v;
}

static int read_ids(struct tokenizer *t, const struct gguf *g, int32_t *fim, struct tl_error *err)
{
    int32_t n = t->n_vocab;
    int rc;
    /* llama.cpp's defaults per model type; a default past the vocabulary is none */
    t->bos = t->model == TOK_SPM ? 1 : t->pre == PRETOK_CHATGLM4 ? -1 : 11;
    t->eos = t->model == TOK_SPM ? 2 : 11;
    t->unk = t->model == TOK_SPM ? 0 : -1;
    t->bos = t->bos < n ? t->bos : -1;
    t->eos = t->eos < n ? t->eos : -1;
    t->unk = t->unk < n ? t->unk : -1;
    read_id(g, "tokenizer.ggml.bos_token_id", n, &t->bos);
    read_id(g, "tokenizer.ggml.eos_token_id", n, &t->eos);
    read_id(g, "tokenizer.ggml.eot_token_id", n, &t->eot);
    read_id(g, "tokenizer.ggml.eom_token_id", n, &t->eom);
    read_id(g, "tokenizer.ggml.unknown_token_id", n, &t->unk);
    read_id(g, "tokenizer.ggml.padding_token_id", n, &t->pad);
    read_id(g, "tokenizer.ggml.fim_pre_token_id", n, &fim[FIM_PRE]);
    read_id(g, "tokenizer.ggml.fim_suf_token_id", n, &fim[FIM_SUF]);
    read_id(g, "tokenizer.ggml.fim_mid_token_id", n, &fim[FIM_MID]);
    read_id(g, "tokenizer.ggml.fim_pad_token_id", n, &fim[FIM_PAD]);
    read_id(g, "tokenizer.ggml.fim_rep_token_id", n, &fim[FIM_REP]);
    read_id(g, "tokenizer.ggml.fim_sep_token_id", n, &fim[FIM_SEP]);
    /* deprecated names, read last so they win */
    read_id(g, "tokenizer.ggml.prefix_token_id", n, &fim[FIM_PRE]);
    read_id(g, "tokenizer.ggml.suffix_token_id", n, &fim[FIM_SUF]);
    read_id(g, "tokenizer.ggml.middle_token_id", n, &fim[FIM_MID]);
    if ((rc = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, false, err)) ||
        (rc = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos, false, err)))
        return rc;
    return TL_OK;
}

/* ---- llama.cpp's visiting order ----
 * llama.cpp picks the EOT, EOM and FIM tokens as the first matching text it
 * meets while iterating its std::unordered_map<std::string, int> of token
 * texts, so with several candidates (Phi-3 has <|end|> and <|endoftext|>)
 * the winner is decided by libstdc++'s hash table layout. We rebuild that
 * layout: the same hash, bucket counts and node linking. */

/* libstdc++'s std::hash<std::string>: _Hash_bytes with seed 0xc70f6907 on a
 * 64-bit little-endian target. */
static uint64_t stl_hash(const char *p, size_t len)
{
    const uint64_t mul = (0xc6a4a793ull << 32) + 0x5bd1e995ull;
    uint64_t h = 0xc70f6907ull ^ (len * mul), d;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        d = 0;
        for (int k = 7; k >= 0; k--)
            d = d << 8 | (unsigned char)p[i + k];
        d *= mul;
        h ^= (d ^ (d >> 47)) * mul;
        h *= mul;
    }
    if (len > i) {
        d = 0;
        for (size_t k = len; k-- > i;)
            d = d << 8 | (unsigned char)p[k];
        h ^= d;
        h *= mul;
    }
    h = (h ^ (h >> 47)) * mul;
    return h ^ (h >> 47);
}

/* Bucket counts a libstdc++ unordered_map goes through when filled one
 * insert at a time: it moves to the next count when the element count would
 * exceed the current one (max load factor 1, its prime growth policy). */
static const uint32_t stl_buckets[] = {
    13, 29, 59, 127, 257, 541, 1109, 2357, 5087, 10273, 20753, 42043,
    85229, 172933, 351061, 712697, 1447153,
};

/* Node links of the emulated table: node n is the list head ("before
 * begin"); bucket[b] is the node before bucket b's first node, -1 if empty. */
struct stl_table {
    uint64_t *hash;
    int32_t  *next, *bucket;
    uint32_t  nb;
};

static void stl_rehash(struct stl_table *s, int32_t head, uint32_t nb)
{
    int32_t p = s->next[head];
    uint32_t begin_b = 0;
    s->nb = nb;
    memset(s->bucket, 0xff, nb * sizeof *s->bucket);
    s->next[head] = -1;
    while (p >= 0) {
        int32_t nx = s->next[p];
        uint32_t b = (uint32_t)(s->hash[p] % nb);
        if (s->bucket[b] < 0) {
            s->next[p] = s->next[head];
            s->next[head] = p;
            s->bucket[b] = head;
            if (s->next[p] >= 0)
                s->bucket[begin_b] = p;
            begin_b = b;
        } else {
            s->next[p] = s->next[s->bucket[b]];
            s->next[s->bucket[b]] = p;
        }
        p = nx;
    }
}

static void stl_insert(struct stl_table *s, int32_t head, int32_t id)
{
    uint32_t b = (uint32_t)(s->hash[id] % s->nb);
    if (s->bucket[b] >= 0) {
        s->next[id] = s->next[s->bucket[b]];
        s->next[s->bucket[b]] = id;
        return;
    }
    s->next[id] = s->next[head];
    s->next[head] = id;
    if (s->next[id] >= 0)
        s->bucket[s->hash[s->next[id]] % s->nb] = id;
    s->bucket[b] = head;
}

/* order[0..n_vocab): ids as llama.cpp's token_to_id iterates them. Past the
 * bucket table's reach (never seen in practice) ids stay ascending. */
static int stl_order(const struct tokenizer *t, int32_t *order, struct tl_error *err)
{
    int32_t n = t->n_vocab, head = n;
    size_t n_steps = sizeof stl_buckets / sizeof stl_buckets[0], step = 0;
    struct stl_table s = { 0 };
    int rc = TL_OK;
    if ((uint32_t)n > stl_buckets[n_steps - 1]) {
        for (int32_t i = 0; i < n; i++)
            order[i] = i;
        return TL_OK;
    }
    s.hash = malloc((size_t)n * sizeof *s.hash);
    s.next = malloc(((size_t)n + 1) * sizeof *s.next);
    s.bucket = malloc(stl_buckets[n_steps - 1] * sizeof *s.bucket);
    if (!s.hash || !s.next || !s.bucket) {
        rc = tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    s.next[head] = -1;
    for (int32_t i = 0; i < n; i++) {
        s.hash[i] = stl_hash(t->text[i], t->len[i]);
        if ((uint32_t)i + 1 > s.nb)
            stl_rehash(&s, head, stl_buckets[step++]);
        stl_insert(&s, head, i);
    }
    int32_t k = 0;
    for (int32_t p = s.next[head]; p >= 0; p = s.next[p])
        order[k++] = p;
out:
    mem_free_all(s.hash, s.next, s.bucket);
    return rc;
}

/* ---- EOT / EOM / FIM / EOG ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The eog set: FIM pad/repo/sep, every EOG-looking text, eos, eot, eom;
 * sorted, without repeats. */
static int build_eog(struct tokenizer *t, const uint16_t *groups, const int32_t *fim, struct tl_error *err)
{
    size_t n = 6;
    for (int32_t id = 0; id < t->n_vocab; id++)
        n += (groups[id] & G_EOG) != 0;
    t->eog = malloc(n * sizeof *t->eog);
    if (!t->eog)
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
    int32_t extra[6] = { fim[FIM_PAD], fim[FIM_REP], fim[FIM_SEP], t->eos, t->eot, t->eom };
    size_t k = 0;
    for (int i = 0; i < 6; i++)
        if (extra[i] >= 0)
            t->eog[k++] = extra[i];
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (groups[id] & G_EOG) {
            t->eog[k++] = id;
            t->type[id] = TOKT_CONTROL;
        }
    }
    qsort(t->eog, k, sizeof *t->eog, cmp_i32);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || t->eog[u - 1] != t->eog[i])
            t->eog[u++] = t->eog[i];
    t->n_eog = (int)u;
    return TL_OK;
}

/* EOT, EOM and FIM ids not given by keys: the first token in llama.cpp's
 * visiting order whose text matches; each one chosen becomes a control
 * token. Then the eog set. */
static int find_by_text(struct tokenizer *t, int32_t *fim, struct tl_error *err)
{
    int32_t *slot[N_SLOTS] = { &t->eot, &t->eom, &fim[0], &fim[1], &fim[2], &fim[3], &fim[4], &fim[5] };
    uint16_t *groups = calloc((size_t)t->n_vocab, sizeof *groups);
    int32_t *order = NULL;
    bool any = false;
    int rc = TL_OK;
    if (!groups)
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        for (const char *const *text = rules[i].texts; text < rules[i].texts + TEXT_RULE_MAX && *text; text++) {
            int32_t id = tokenizer_find(t, *text, strlen(*text));
            if (id >= 0) {
                groups[id] |= (uint16_t)rules[i].groups;
                any = true;
            }
        }
    if (any) {
        order = malloc((size_t)t->n_vocab * sizeof *order);
        if (!order) {
            rc = tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
            goto out;
        }
        if ((rc = stl_order(t, order, err)))
            goto out;
        for (int32_t k = 0; k < t->n_vocab; k++) {
            int32_t id = order[k];
            for (int s = 0; s < N_SLOTS; s++) {
                if ((groups[id] & (1u << s)) && *slot[s] < 0) {
                    *slot[s] = id;
                    t->type[id] = TOKT_CONTROL;
                }
            }
        }
    }
    rc = build_eog(t, groups, fim, err);
out:
    free(order);
    free(groups);
    return rc;
}

/* ---- the special token list and its strip bits ---- */

struct len_id {
    uint32_t len;
    int32_t  id;
};

static int cmp_longest(const void *a, const void *b)
{
    const struct len_id *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Control, user-defined and unknown tokens, longest text first (ties by id). */
static int build_special_list(struct tokenizer *t, struct tl_error *err)
{
    int32_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int ty = t->type[id];
        n += ty == TOKT_CONTROL || ty == TOKT_USER_DEFINED || ty == TOKT_UNKNOWN;
    }
    struct len_id *li = malloc(((size_t)n + 1) * sizeof *li);
    t->special = malloc(((size_t)n + 1) * sizeof *t->special);
    if (!li || !t->special) {
        free(li);
        return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
    }
    int32_t k = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int ty = t->type[id];
        if (ty == TOKT_CONTROL || ty == TOKT_USER_DEFINED || ty == TOKT_UNKNOWN)
            li[k++] = (struct len_id){ t->len[id], id };
    }
    qsort(li, (size_t)n, sizeof *li, cmp_longest);
    for (int32_t i = 0; i < n; i++)
        t->special[i] = li[i].id;
    t->n_special = n;
    free(li);
    return TL_OK;
}

/* needle in hay; fold: ASCII case-insensitive (hay side only, needle lower case) */
static bool contains(struct gguf_str hay, const char *needle, bool fold)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t j = 0;
        for (; j < n; j++) {
            char c = hay.ptr[i + j];
            if (fold && c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != needle[j])
                break;
        }
        if (j == n)
            return true;
    }
    return false;
}

static void set_strip(struct tokenizer *t, const char *text, uint8_t bit, bool on)
{
    int32_t id = tokenizer_find(t, text, strlen(text));
    if (id >= 0)
        t->strip[id] = on ? (uint8_t)(t->strip[id] | bit) : (uint8_t)(t->strip[id] & ~bit);
}

/* The per-family attributes llama.cpp sets by tokenizer.ggml.pre or
 * general.name (its files carry none). */
static int set_strip_attrs(struct tokenizer *t, const struct gguf *g, struct tl_error *err)
{
    struct gguf_str pre = { 0 }, name = { 0 };
    int rc;
    if ((rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, false, err)) ||
        (rc = gguf_get_str(g, "general.name", &name, false, err)))
        return rc;
    if (contains(pre, "jina-v2-de", false) || contains(pre, "jina-v2-es", false) ||
        contains(pre, "jina-v2-code", false)) {
        set_strip(t, "<mask>", TOK_LSTRIP, true);
    } else if (contains(name, "phi-3", true) || contains(name, "phi3", true)) {
        for (int i = 0; i < t->n_special; i++)
            t->strip[t->special[i]] |= TOK_RSTRIP;
        set_strip(t, "</s>", TOK_RSTRIP, true);
        set_strip(t, "<unk>", TOK_RSTRIP, false);
        set_strip(t, "<s>", TOK_RSTRIP, false);
        set_strip(t, "<|endoftext|>", TOK_RSTRIP, false);
    }
    return TL_OK;
}

int tok_special_init(struct tokenizer *t, const struct gguf *g, struct tl_error *err)
{
    int32_t fim[FIM_COUNT] = { -1, -1, -1, -1, -1, -1 };
    int rc;
    if ((rc = read_ids(t, g, fim, err)) || (rc = find_by_text(t, fim, err)) ||
        (rc = build_special_list(t, err)) || (rc = set_strip_attrs(t, g, err)))
        return rc;
    /* llama.cpp would assert here; we add nothing instead */
    if (t->bos < 0)
        t->add_bos = false;
    if (t->eos < 0)
        t->add_eos = false;
    return TL_OK;
}

/* ---- partition ---- */

struct frag_list {
    struct tok_frag *f;
    size_t           n, cap;
};

static int frag_push(struct frag_list *l, size_t off, size_t len, int32_t id, struct tl_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct tok_frag *nf = realloc(l->f, cap * sizeof *nf);
        if (!nf)
            return tl_fail(err, TL_ENOMEM, "tokenizer: out of memory");
        l->f = nf;
        l->cap = cap;
    }
    l->f[l->n++] = (struct tok_frag){ off, len, id };
    return TL_OK;
}

/* C-locale isspace, which llama.cpp uses for lstrip/rstrip */
static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Raw fragment fr with every occurrence of special token id cut out, left
 * to right; the text next to it loses its whitespace on the sides the
 * token strips. Appends to dst. */
static int split_fragment(const struct tokenizer *t, const char *text, struct tok_frag fr, int32_t id,
                          struct frag_list *dst, struct tl_error *err)
{
    const char *tok = t->text[id];
    size_t tl = t->len[id], base = fr.off, end = fr.off + fr.len;
    int rc;
    for (;;) {
        const char *m = memmem(text + base, end - base, tok, tl);
        if (!m)
            return end > base ? frag_push(dst, base, end - base, -1, err) : TL_OK;
        size_t at = (size_t)(m - text), left = at - base;
        if (t->strip[id] & TOK_LSTRIP)
            while (left > 0 && is_space(text[base + left - 1]))
                left--;
        if ((left && (rc = frag_push(dst, base, left, -1, err))) || (rc = frag_push(dst, 0, 0, id, err)))
            return rc;
        base = at + tl;
        if (t->strip[id] & TOK_RSTRIP)
            while (base < end && is_space(text[base]))
                base++;
        if (base >= end)
            return TL_OK;
    }
}

int tok_partition(const struct tokenizer *t, const char *text, size_t len, bool parse_special,
                  struct tok_frag **frags, size_t *n, struct tl_error *err)
{
    struct frag_list cur = { 0 }, nxt = { 0 };
    int rc = TL_OK;
    if (len && (rc = frag_push(&cur, 0, len, -1, err)))
        goto out;
    for (int i = 0; i < t->n_special && cur.n; i++) {
        int32_t id = t->special[i];
        if (!parse_special && (t->type[id] == TOKT_CONTROL || t->type[id] == TOKT_UNKNOWN))
            continue;   /* user-defined tokens are split out even then */
        nxt.n = 0;
        for (size_t k = 0; k < cur.n && !rc; k++)
            rc = cur.f[k].id >= 0 ? frag_push(&nxt, cur.f[k].off, cur.f[k].len, cur.f[k].id, err)
                                  : split_fragment(t, text, cur.f[k], id, &nxt, err);
        if (rc)
            goto out;
        struct frag_list tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
out:
    free(nxt.f);
    if (rc) {
        free(cur.f);
        return rc;
    }
    *frags = cur.f;
    *n = cur.n;
    return TL_OK;
}
