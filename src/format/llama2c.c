/* format/llama2c.c: llama2.c checkpoints and tokenizers into GGUF (see llama2c.h).
 *
 * Checkpoint (what llama2.c's export.py writes with --version 0 and run.c
 * reads; little-endian): the 28-byte header, then float32 arrays in this
 * order, each row-major [rows][row length] with L = n_layers:
 *   token_embedding [vocab][dim]   rms_att [L][dim]
 *   wq [L][dim][dim]   wk [L][kv_dim][dim]   wv [L][kv_dim][dim]   wo [L][dim][dim]
 *   rms_ffn [L][dim]   w1 [L][hidden][dim]   w2 [L][dim][hidden]   w3 [L][hidden][dim]
 *   rms_final [dim]    RoPE cos and sin tables, [seq_len][head_dim / 2] each (unused)
 *   wcls [vocab][dim]  only when vocab_size < 0
 * A row-major [rows][n] matrix is the ggml tensor ne = {n, rows}, so every
 * tensor is the stored bytes as they are. run.c rotates adjacent pairs over
 * the whole head, which is llama.cpp's "llama" RoPE with n_rot = head_dim.
 *
 * Tokenizer: int32 max_token_length, then per token a float32 score, an
 * int32 length and that many bytes (no NUL). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/llama2c.h"
#include "format/quant.h"
#include "util/mem.h"

#define HEADER_BYTES 28
/* Bounds that keep every size below 2^62 bytes; the file size check decides. */
#define MAX_DIM    (1 << 16)
#define MAX_HIDDEN (1 << 20)
#define MAX_LAYERS (1 << 12)
#define MAX_VOCAB  (1 << 24)
#define MAX_SEQ    (1 << 24)
#define MAX_TOKEN_BYTES (1 << 16)
#define MAX_TOKENIZER_FILE ((uint64_t)1 << 30)

/* export.py's versioned formats start with this uint32 ("ak42"), then a version */
#define AK42_MAGIC 0x616b3432u

/* llama.cpp's token types */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };

/* The checkpoint's arrays, in file order. */
enum section {
    S_EMB, S_RMS_ATT, S_WQ, S_WK, S_WV, S_WO, S_RMS_FFN, S_W1, S_W2, S_W3,
    S_RMS_FINAL, S_ROPE, S_WCLS, S_COUNT
};

/* A tensor's dims by name: what ne[0] / ne[1] are. */
enum extent { E_ONE, E_DIM, E_KV, E_HIDDEN, E_VOCAB, E_COUNT };

/* Per layer, in the order llama.cpp's converter writes them. */
static const struct { const char *name; enum section sec; enum extent ne0, ne1; } layer_tensors[] = {
    { "attn_q", S_WQ, E_DIM, E_DIM },        { "attn_k", S_WK, E_DIM, E_KV },
    { "attn_v", S_WV, E_DIM, E_KV },         { "attn_output", S_WO, E_DIM, E_DIM },
    { "attn_norm", S_RMS_ATT, E_DIM, E_ONE }, { "ffn_gate", S_W1, E_DIM, E_HIDDEN },
    { "ffn_down", S_W2, E_HIDDEN, E_DIM },   { "ffn_up", S_W3, E_DIM, E_HIDDEN },
    { "ffn_norm", S_RMS_FFN, E_DIM, E_ONE },
};
#define N_LAYER_TENSORS (sizeof layer_tensors / sizeof layer_tensors[0])

/* Read exactly n bytes at off; -1 with errno set, or the bytes read when short. */
static ssize_t read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int check_field(const char *path, const char *name, int64_t v, int64_t hi, struct tl_error *err)
{
    if (v >= 1 && v <= hi)
        return TL_OK;
    return tl_fail(err, TL_EFORMAT, "%s: %s %lld is out of range 1..%lld (not a llama2.c checkpoint?)", path,
                   name, (long long)v, (long long)hi);
}

/* The header's fields in range and consistent with each other. */
static int check_config(const struct llama2c_config *c, const char *path, struct tl_error *err)
{
    int rc;
    if ((rc = check_field(path, "dim", c->dim, MAX_DIM, err)) ||
        (rc = check_field(path, "hidden_dim", c->hidden_dim, MAX_HIDDEN, err)) ||
        (rc = check_field(path, "n_layers", c->n_layers, MAX_LAYERS, err)) ||
        (rc = check_field(path, "n_heads", c->n_heads, c->dim, err)) ||
        (rc = check_field(path, "n_kv_heads", c->n_kv_heads, c->n_heads, err)) ||
        (rc = check_field(path, "|vocab_size|", llabs((long long)c->vocab_size), MAX_VOCAB, err)) ||
        (rc = check_field(path, "seq_len", c->seq_len, MAX_SEQ, err)))
        return rc;
    if (c->dim % c->n_heads)
        return tl_fail(err, TL_EFORMAT, "%s: dim %d is not a multiple of n_heads %d", path, c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return tl_fail(err, TL_EFORMAT, "%s: n_heads %d is not a multiple of n_kv_heads %d", path, c->n_heads,
                       c->n_kv_heads);
    if ((c->dim / c->n_heads) % 2)
        return tl_fail(err, TL_EFORMAT, "%s: head size %d (dim / n_heads) is odd; RoPE rotates pairs", path,
                       c->dim / c->n_heads);
    if (llabs((long long)c->vocab_size) < 3)
        return tl_fail(err, TL_EFORMAT, "%s: vocab_size %d leaves no room for <unk> <s> </s>", path,
                       c->vocab_size);
    return TL_OK;
}

/* Element counts of every section, from a checked config (all below 2^50). */
static void section_sizes(const struct llama2c *m, uint64_t elems[S_COUNT])
{
    const struct llama2c_config *c = &m->cfg;
    uint64_t dim = (uint64_t)c->dim, L = (uint64_t)c->n_layers, hid = (uint64_t)c->hidden_dim;
    uint64_t kv = (uint64_t)c->n_kv_heads * (uint64_t)m->head_dim, V = (uint64_t)m->n_vocab;
    elems[S_EMB] = V * dim;
    elems[S_RMS_ATT] = elems[S_RMS_FFN] = L * dim;
    elems[S_WQ] = elems[S_WO] = L * dim * dim;
    elems[S_WK] = elems[S_WV] = L * kv * dim;
    elems[S_W1] = elems[S_W2] = elems[S_W3] = L * hid * dim;
    elems[S_RMS_FINAL] = dim;
    elems[S_ROPE] = (uint64_t)c->seq_len * (uint64_t)m->head_dim;
    elems[S_WCLS] = m->shared_classifier ? 0 : V * dim;
}

static void add_tensor(struct llama2c *m, const char *name, const int64_t ext[E_COUNT], enum extent ne0,
                       enum extent ne1, uint64_t offset)
{
    struct llama2c_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = ne1 == E_ONE ? 1 : 2;
    t->ne[0] = ext[ne0];
    t->ne[1] = ext[ne1];
    t->offset = offset;
    t->fd = m->fd;
}

/* Validate the checkpoint's size against its header and list its tensors. */
static int layout(struct llama2c *m, const char *path, struct tl_error *err)
{
    uint64_t elems[S_COUNT], off[S_COUNT + 1];
    section_sizes(m, elems);
    off[0] = HEADER_BYTES;
    for (int s = 0; s < S_COUNT; s++)
        off[s + 1] = off[s] + 4 * elems[s];
    if (m->ckpt_size != off[S_COUNT])
        return tl_fail(err, TL_EFORMAT,
                       "%s is %llu bytes but its header (dim %d, hidden_dim %d, %d layers, %d/%d heads, "
                       "vocab %d, seq_len %d) implies %llu: %s",
                       path, (unsigned long long)m->ckpt_size, m->cfg.dim, m->cfg.hidden_dim, m->cfg.n_layers,
                       m->cfg.n_heads, m->cfg.n_kv_heads, m->cfg.vocab_size, m->cfg.seq_len,
                       (unsigned long long)off[S_COUNT],
                       m->ckpt_size < off[S_COUNT] ? "truncated" : "trailing bytes, or a header that does not "
                                                                   "match the weights");
    const int64_t ext[E_COUNT] = { 1, m->cfg.dim, (int64_t)m->cfg.n_kv_heads * m->head_dim, m->cfg.hidden_dim,
                                   m->n_vocab };
    int L = m->cfg.n_layers;
    m->tensors = calloc(3 + N_LAYER_TENSORS * (size_t)L, sizeof *m->tensors);
    if (!m->tensors)
        return tl_fail(err, TL_ENOMEM, "out of memory for %d layers", L);
    add_tensor(m, "token_embd.weight", ext, E_DIM, E_VOCAB, off[S_EMB]);
    add_tensor(m, "output_norm.weight", ext, E_DIM, E_ONE, off[S_RMS_FINAL]);
    add_tensor(m, "output.weight", ext, E_DIM, E_VOCAB, off[m->shared_classifier ? S_EMB : S_WCLS]);
    for (int l = 0; l < L; l++) {
        for (size_t k = 0; k < N_LAYER_TENSORS; k++) {
            char name[40];
            enum section s = layer_tensors[k].sec;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, layer_tensors[k].name);
            add_tensor(m, name, ext, layer_tensors[k].ne0, layer_tensors[k].ne1,
                       off[s] + 4 * (elems[s] / (uint64_t)L) * (uint64_t)l);
        }
    }
    return TL_OK;
}

static int open_checkpoint(struct llama2c *m, const char *path, struct tl_error *err)
{
    struct stat st;
    int32_t h[7];
    m->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->fd < 0)
        return tl_fail(err, TL_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(m->fd, &st) || !S_ISREG(st.st_mode))
        return tl_fail(err, TL_EIO, "%s is not a regular file", path);
    m->ckpt_size = (uint64_t)st.st_size;
    ssize_t got = read_at(m->fd, h, sizeof h, 0);
    if (got < 0)
        return tl_fail(err, TL_EIO, "cannot read %s: %s", path, strerror(errno));
    if (got >= 4 && !memcmp(h, "GGUF", 4))
        return tl_fail(err, TL_EFORMAT, "%s is a GGUF file, not a llama2.c checkpoint", path);
    if (got >= 8 && (uint32_t)h[0] == AK42_MAGIC)
        return tl_fail(err, TL_EUNSUPPORTED,
                       "%s is a llama2.c export of version %d (magic ak42); convert reads the legacy format "
                       "that run.c reads (export.py --version 0)", path, h[1]);
    if ((size_t)got < sizeof h)
        return tl_fail(err, TL_EFORMAT, "%s is %llu bytes, too short for a llama2.c checkpoint's 28-byte header",
                       path, (unsigned long long)m->ckpt_size);
    memcpy(&m->cfg, h, sizeof h);
    int rc = check_config(&m->cfg, path, err);
    if (rc)
        return rc;
    m->n_vocab = (int)llabs((long long)m->cfg.vocab_size);
    m->head_dim = m->cfg.dim / m->cfg.n_heads;
    m->shared_classifier = m->cfg.vocab_size > 0;
    return layout(m, path, err);
}

static int read_whole(const char *path, uint8_t **buf, uint64_t *size, struct tl_error *err)
{
    struct stat st;
    int rc = TL_OK, fd = open(path, O_RDONLY | O_CLOEXEC);
    *buf = NULL;
    *size = 0;
    if (fd < 0)
        return tl_fail(err, TL_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        rc = tl_fail(err, TL_EIO, "%s is not a regular file", path);
    } else if ((uint64_t)st.st_size > MAX_TOKENIZER_FILE) {
        rc = tl_fail(err, TL_EFORMAT, "%s is %llu bytes, too large for a tokenizer", path,
                     (unsigned long long)st.st_size);
    } else if (!(*buf = malloc((size_t)st.st_size + 1))) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory reading %s", path);
    } else {
        ssize_t got = read_at(fd, *buf, (size_t)st.st_size, 0);
        if (got < 0)
            rc = tl_fail(err, TL_EIO, "cannot read %s: %s", path, strerror(errno));
        *size = got < 0 ? 0 : (uint64_t)got;
    }
    close(fd);
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* "<0xHH>": a byte of SentencePiece's byte fallback. */
static bool is_byte_token(const uint8_t *s, uint32_t len)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    return len == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && s[3] && s[4] && strchr(hex, s[3]) &&
           strchr(hex, s[4]);
}

/* Token id's text as the GGUF holds it (before escaping), and its type. */
static const uint8_t *token_text(int id, const uint8_t *raw, uint32_t *len, int32_t *type)
{
    static const char *const special[3] = { "<unk>", "<s>", "</s>" };
    if (id < 3) {
        *type = id == 0 ? TOKEN_UNKNOWN : TOKEN_CONTROL;
        *len = (uint32_t)strlen(special[id]);
        return (const uint8_t *)special[id];
    }
    *type = *len == 0 ? TOKEN_CONTROL : is_byte_token(raw, *len) ? TOKEN_BYTE : TOKEN_NORMAL;
    return raw;
}

/* SentencePiece writes a space as U+2581 (3 bytes); dst NULL counts only. */
static uint64_t escape_spaces(const uint8_t *s, uint32_t len, uint8_t *dst)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            if (dst)
                memcpy(dst + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            if (dst)
                dst[n] = s[i];
            n++;
        }
    }
    return n;
}

/* Check the tokenizer's structure and count the GGUF payload's bytes. */
static int check_tokenizer(struct llama2c *m, const uint8_t *b, uint64_t size, const char *path,
                           struct tl_error *err)
{
    int32_t max_len;
    if (size < 4)
        return tl_fail(err, TL_EFORMAT, "%s is %llu bytes, too short for a llama2.c tokenizer", path,
                       (unsigned long long)size);
    if (!memcmp(b, "GGUF", 4))
        return tl_fail(err, TL_EUNSUPPORTED, "%s is a GGUF file; give llama2.c's tokenizer .bin file", path);
    memcpy(&max_len, b, 4);
    if (max_len < 1 || max_len > MAX_TOKEN_BYTES)
        return tl_fail(err, TL_EFORMAT, "%s: max_token_length %d is out of range 1..%d (not a llama2.c tokenizer?)",
                       path, max_len, MAX_TOKEN_BYTES);
    uint64_t pos = 4;
    m->tokens_len = 0;
    for (int id = 0; id < m->n_vocab; id++) {
        float score;
        int32_t len;
        if (size - pos < 8)
            return tl_fail(err, TL_EFORMAT, "%s ends at token %d but the checkpoint's vocab_size is %d: "
                           "truncated, or not this model's tokenizer", path, id, m->n_vocab);
        memcpy(&score, b + pos, 4);
        memcpy(&len, b + pos + 4, 4);
        pos += 8;
        if (isnan(score))
            return tl_fail(err, TL_EFORMAT, "%s: token %d has a NaN score", path, id);
        if (len < 0 || len > max_len)
            return tl_fail(err, TL_EFORMAT, "%s: token %d claims %d bytes, outside 0..max_token_length %d", path,
                           id, len, max_len);
        if ((uint64_t)len > size - pos)
            return tl_fail(err, TL_EFORMAT, "%s: token %d claims %d bytes but %llu remain: truncated", path, id,
                           len, (unsigned long long)(size - pos));
        uint32_t n = (uint32_t)len;
        int32_t type;
        const uint8_t *text = token_text(id, b + pos, &n, &type);
        m->tokens_len += 8 + escape_spaces(text, n, NULL);
        pos += (uint64_t)len;
    }
    if (pos != size)
        return tl_fail(err, TL_EFORMAT, "%s has %llu bytes after its first %d tokens: its vocabulary is larger "
                       "than the checkpoint's vocab_size %d", path, (unsigned long long)(size - pos),
                       m->n_vocab, m->n_vocab);
    return TL_OK;
}

/* Build tokens/scores/types from a tokenizer check_tokenizer accepted. */
static int build_vocab(struct llama2c *m, const uint8_t *b, struct tl_error *err)
{
    m->tokens = malloc((size_t)m->tokens_len);
    m->scores = malloc((size_t)m->n_vocab * sizeof *m->scores);
    m->types = malloc((size_t)m->n_vocab * sizeof *m->types);
    if (!m->tokens || !m->scores || !m->types)
        return tl_fail(err, TL_ENOMEM, "out of memory for a %d-token vocabulary", m->n_vocab);
    uint64_t pos = 4, out = 0;
    for (int id = 0; id < m->n_vocab; id++) {
        int32_t len;
        memcpy(&m->scores[id], b + pos, 4);
        memcpy(&len, b + pos + 4, 4);
        pos += 8;
        uint32_t n = (uint32_t)len;
        const uint8_t *text = token_text(id, b + pos, &n, &m->types[id]);
        uint64_t esc = escape_spaces(text, n, m->tokens + out + 8);
        memcpy(m->tokens + out, &esc, 8);
        out += 8 + esc;
        pos += (uint64_t)len;
    }
    return TL_OK;
}

static int open_tokenizer(struct llama2c *m, const char *path, struct tl_error *err)
{
    uint8_t *b;
    uint64_t size;
    int rc = read_whole(path, &b, &size, err);
    if (rc)
        return rc;
    if ((rc = check_tokenizer(m, b, size, path, err)) == TL_OK)
        rc = build_vocab(m, b, err);
    free(b);
    return rc;
}

int llama2c_open(struct llama2c *m, const char *ckpt_path, const char *tok_path, struct tl_error *err)
{
    memset(m, 0, sizeof *m);
    m->fd = -1;
    int rc = open_checkpoint(m, ckpt_path, err);
    if (rc == TL_OK)
        rc = open_tokenizer(m, tok_path, err);
    if (rc)
        llama2c_close(m);
    return rc;
}

void llama2c_close(struct llama2c *m)
{
    if (m->fd >= 0)
        close(m->fd);
    mem_free_all(m->tensors, m->tokens, m->scores, m->types);
    memset(m, 0, sizeof *m);
    m->fd = -1;
}

static int fill_tensor(void *ctx, void *dst, uint64_t size, struct tl_error *err)
{
    const struct llama2c_tensor *t = ctx;
    ssize_t got = read_at(t->fd, dst, (size_t)size, t->offset);
    if (got < 0)
        return tl_fail(err, TL_EIO, "cannot read %s from the checkpoint: %s", t->name, strerror(errno));
    if ((uint64_t)got != size)
        return tl_fail(err, TL_EIO, "the checkpoint shrank while %s was read from it", t->name);
    return TL_OK;
}

int llama2c_add_to_gguf(const struct llama2c *m, struct gguf_writer *w, struct tl_error *err)
{
    const struct llama2c_config *c = &m->cfg;
    /* llama.cpp's converter: these keys in this order; separator and padding
     * as LLAMA_TOKEN_NULL (-1) stored as u32. Two departures, both so the
     * file says what the checkpoint holds: context_length is seq_len (the
     * converter writes its default of 128) and the RoPE dimension count is
     * head_dim (it caps it at 64, which run.c does not). */
    uint64_t n = (uint64_t)m->n_vocab;
    int rc;
    if ((rc = gguf_writer_set_arr_raw(w, "tokenizer.ggml.tokens", GGUF_STRING, n, m->tokens, m->tokens_len, err)) ||
        (rc = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, m->scores, n, err)) ||
        (rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, m->types, n, err)) ||
        (rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
        (rc = gguf_writer_set_str(w, "general.architecture", "llama", err)) ||
        (rc = gguf_writer_set_str(w, "general.name", "llama", err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", UINT32_MAX, err)) ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", UINT32_MAX, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->seq_len, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers, err)) ||
        (rc = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)m->head_dim, err)) ||
        (rc = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err)))
        return rc;
    for (size_t i = 0; i < m->n_tensors && !rc; i++) {
        const struct llama2c_tensor *t = &m->tensors[i];
        rc = gguf_writer_add_tensor_fill(w, t->name, t->n_dims, t->ne, TL_F32, fill_tensor, (void *)t, err);
    }
    return rc;
}
