/* format/gguf.c: maps (or reads) a GGUF v2/v3 file and validates all of it once:
 * header, every key/value (nested arrays included), the tensor directory,
 * alignment and the data section. Nothing is trusted before it is bounded. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "platform/hugepages.h"
#include "format/quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "format/gguf.c reads little-endian fields with memcpy: port it before using a big-endian host"
#endif

#define GGUF_MAGIC_LEN     4
#define GGUF_HEADER_BYTES  24        /* magic, version, n_tensors, n_kv */
#define GGUF_MIN_KV_BYTES  13        /* key length 8 + type 4 + a 1-byte value */
#define GGUF_MIN_TI_BYTES  32        /* name length 8, n_dims 4, ne 8, type 4, offset 8 */
#define GGUF_MAX_DEPTH     8         /* array nesting accepted */
#define GGUF_MAX_ALIGNMENT (1u << 24)
#define GGUF_DEFAULT_ALIGNMENT 32

/* A cursor over the untrusted bytes; name is the path or "<memory>". */
struct reader {
    const uint8_t   *p;
    uint64_t         size;
    uint64_t         pos;
    const char      *name;
    struct tl_error *err;
};

/* Copy at most ~60 bytes of a file string into out, printable ASCII only,
 * so a hostile name can never break the one-line message rule. */
static const char *show(char *out, size_t cap, const char *s, uint64_t len)
{
    size_t n = 0;
    for (uint64_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = (c >= 0x20 && c < 0x7f) || c >= 0x80 ? (char)c : '?';
    }
    if (n + 4 >= cap && len > n) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
    return out;
}

/* Fail because `need` more bytes at r->pos are not there. A need larger
 * than the whole file is a corrupt length, anything else a cut-off file.
 * The place is "WHAT 'KEY'" (or just WHAT when key is NULL); it is only
 * formatted here, on failure, so the hot path costs nothing. */
static int need_fail(struct reader *r, uint64_t need, const char *what, const char *key)
{
    char place[160];
    snprintf(place, sizeof place, key ? "%s '%s'" : "%s", what, key);
    if (need > r->size)
        return tl_fail(r->err, TL_EFORMAT,
                       "%s is corrupt: %s at offset %llu claims %llu bytes, more than the whole file (%llu)",
                       r->name, place, (unsigned long long)r->pos, (unsigned long long)need,
                       (unsigned long long)r->size);
    return tl_fail(r->err, TL_EFORMAT, "%s is truncated: %llu bytes, cut inside %s at offset %llu",
                   r->name, (unsigned long long)r->size, place, (unsigned long long)r->pos);
}

static int rd_bytes(struct reader *r, void *out, uint64_t n, const char *what, const char *key)
{
    if (n > r->size - r->pos)
        return need_fail(r, n, what, key);
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
    return TL_OK;
}

static int rd_u32(struct reader *r, uint32_t *v, const char *what, const char *key)
{
    return rd_bytes(r, v, 4, what, key);
}

static int rd_u64(struct reader *r, uint64_t *v, const char *what, const char *key)
{
    return rd_bytes(r, v, 8, what, key);
}

static int rd_str(struct reader *r, struct gguf_str *s, const char *what, const char *key)
{
    int rc = rd_u64(r, &s->len, what, key);
    if (rc)
        return rc;
    if (s->len > r->size - r->pos)
        return need_fail(r, s->len, what, key);
    s->ptr = (const char *)r->p + r->pos;
    r->pos += s->len;
    return TL_OK;
}

size_t gguf_vtype_size(uint32_t vtype)
{
    static const uint8_t sizes[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return vtype < GGUF_VTYPE_COUNT ? sizes[vtype] : 0;
}

const char *gguf_vtype_name(uint32_t vtype)
{
    static const char *const names[GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    return vtype < GGUF_VTYPE_COUNT ? names[vtype] : "unknown";
}

static int is_signed_int(uint32_t t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }
static int is_unsigned_int(uint32_t t) { return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64; }

/* Decode one fixed-size scalar at p into the union's u/i/f member. */
static void decode_scalar(uint32_t type, const uint8_t *p, struct gguf_kv *kv)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    int8_t i8; int16_t i16; int32_t i32; float f; double d;
    switch (type) {
    case GGUF_U8: case GGUF_BOOL: memcpy(&u8, p, 1); kv->v.u = u8; break;
    case GGUF_U16: memcpy(&u16, p, 2); kv->v.u = u16; break;
    case GGUF_U32: memcpy(&u32, p, 4); kv->v.u = u32; break;
    case GGUF_U64: memcpy(&u64, p, 8); kv->v.u = u64; break;
    case GGUF_I8: memcpy(&i8, p, 1); kv->v.i = i8; break;
    case GGUF_I16: memcpy(&i16, p, 2); kv->v.i = i16; break;
    case GGUF_I32: memcpy(&i32, p, 4); kv->v.i = i32; break;
    case GGUF_I64: memcpy(&kv->v.i, p, 8); break;
    case GGUF_F32: memcpy(&f, p, 4); kv->v.f = f; break;
    case GGUF_F64: memcpy(&d, p, 8); kv->v.f = d; break;
    default: break;
    }
}

static int check_array(struct reader *r, uint32_t et, uint64_t n, int depth, const char *key);

/* Skip (validating) one value of a type read from the file. */
static int skip_value(struct reader *r, uint32_t type, int depth, const char *key)
{
    if (type == GGUF_STRING) {
        struct gguf_str s;
        return rd_str(r, &s, "a string in KV", key);
    }
    if (type == GGUF_ARRAY) {
        uint32_t et = 0;
        uint64_t n = 0;
        int rc = rd_u32(r, &et, "a nested array header in KV", key);
        if (!rc)
            rc = rd_u64(r, &n, "a nested array header in KV", key);
        return rc ? rc : check_array(r, et, n, depth + 1, key);
    }
    size_t sz = gguf_vtype_size(type);
    if (!sz)
        return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: KV '%s' has unknown value type %u",
                       r->name, key, type);
    if (sz > r->size - r->pos)
        return need_fail(r, sz, "the value of KV", key);
    r->pos += sz;
    return TL_OK;
}

/* Validate n elements of type et starting at r->pos and step past them.
 * Every element takes at least min bytes, which bounds n by the file size
 * before any per-element work, so hostile counts cost nothing. */
static int check_array(struct reader *r, uint32_t et, uint64_t n, int depth, const char *key)
{
    if (depth > GGUF_MAX_DEPTH)
        return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: KV '%s' nests arrays deeper than %d",
                       r->name, key, GGUF_MAX_DEPTH);
    size_t min = et == GGUF_STRING ? 8 : et == GGUF_ARRAY ? 12 : gguf_vtype_size(et);
    if (!min)
        return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: KV '%s' is an array of unknown value type %u",
                       r->name, key, et);
    uint64_t left = r->size - r->pos;
    if (n > left / min)
        return n > r->size / min ? tl_fail(r->err, TL_EFORMAT,
                       "%s is corrupt: KV '%s' claims %llu array elements, more than the file can hold",
                       r->name, key, (unsigned long long)n)
                   : need_fail(r, n * min, "the array of KV", key);
    if (et != GGUF_STRING && et != GGUF_ARRAY) {
        r->pos += n * min;
        return TL_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        int rc = skip_value(r, et, depth, key);
        if (rc)
            return rc;
    }
    return TL_OK;
}

/* Read value type and value of kv (whose key is already read). */
static int read_value(struct reader *r, struct gguf_kv *kv, const char *key)
{
    const char *what = "the value of KV";
    int rc = rd_u32(r, &kv->type, what, key);
    if (rc)
        return rc;
    if (kv->type == GGUF_STRING)
        return rd_str(r, &kv->v.s, what, key);
    if (kv->type == GGUF_ARRAY) {
        rc = rd_u32(r, &kv->v.arr.type, what, key);
        if (!rc)
            rc = rd_u64(r, &kv->v.arr.n, what, key);
        if (rc)
            return rc;
        uint64_t start = r->pos;
        rc = check_array(r, kv->v.arr.type, kv->v.arr.n, 1, key);
        kv->v.arr.data = r->p + start;
        kv->v.arr.bytes = r->pos - start;
        return rc;
    }
    size_t sz = gguf_vtype_size(kv->type);
    if (!sz)
        return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: KV '%s' has unknown value type %u",
                       r->name, key, kv->type);
    if (sz > r->size - r->pos)
        return need_fail(r, sz, what, key);
    decode_scalar(kv->type, r->p + r->pos, kv);
    r->pos += sz;
    return TL_OK;
}

static int str_cmp(const void *a, const void *b)
{
    const struct gguf_str *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->ptr, y->ptr, x->len);
}

/* Find a repeated string among n (sorted copies: O(n log n) for hostile n).
 * Returns the index in the sorted copy of one duplicate, or -1 (or -2 when
 * out of memory). *dup receives the duplicated string. */
static int64_t find_dup(const struct gguf_str *v, uint64_t n, size_t stride, struct gguf_str *dup)
{
    if (n < 2)
        return -1;
    struct gguf_str *s = malloc(n * sizeof *s);
    if (!s)
        return -2;
    for (uint64_t i = 0; i < n; i++)
        s[i] = *(const struct gguf_str *)((const char *)v + i * stride);
    qsort(s, n, sizeof *s, str_cmp);
    int64_t found = -1;
    for (uint64_t i = 1; i < n && found < 0; i++)
        if (!str_cmp(&s[i - 1], &s[i])) {
            *dup = s[i];
            found = (int64_t)i;
        }
    free(s);
    return found;
}

static int check_dups(struct reader *r, const struct gguf_str *v, uint64_t n, size_t stride,
                      const char *kind)
{
    struct gguf_str d = {0};
    char nb[80];
    int64_t f = find_dup(v, n, stride, &d);
    if (f == -2)
        return tl_fail(r->err, TL_ENOMEM, "out of memory checking %s %ss", r->name, kind);
    if (f >= 0)
        return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: duplicate %s '%s'", r->name, kind,
                       show(nb, sizeof nb, d.ptr, d.len));
    return TL_OK;
}

static int read_kvs(struct reader *r, struct gguf *g)
{
    char nb[80];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        int rc = rd_str(r, &kv->key, "the key of a KV", NULL);
        if (!rc)
            rc = read_value(r, kv, show(nb, sizeof nb, kv->key.ptr, kv->key.len));
        if (rc)
            return rc;
    }
    return check_dups(r, &g->kv[0].key, g->n_kv, sizeof g->kv[0], "key");
}

static int read_alignment(struct reader *r, struct gguf *g)
{
    uint32_t a = GGUF_DEFAULT_ALIGNMENT;
    struct tl_error e = {0};
    if (gguf_get_u32(g, "general.alignment", &a, false, &e))
        return tl_fail(r->err, TL_EFORMAT, "%s: %s", r->name, e.msg);
    if (a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
        return tl_fail(r->err, TL_EFORMAT,
                       "%s is corrupt: general.alignment %u is not a power of two in 1..%u",
                       r->name, a, GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return TL_OK;
}

/* Type, dims and byte size of one tensor, all bounded by the file size. */
static int tensor_size(struct reader *r, struct gguf_tensor *t, const char *nm)
{
    const struct type_info *ti = type_info(t->type);
    if (!ti)
        return tl_fail(r->err, t->type < TL_TYPE_COUNT ? TL_EUNSUPPORTED : TL_EFORMAT,
                       "%s: tensor '%s' has unknown ggml type id %u", r->name, nm, t->type);
    if (ti->block_elems <= 0 || ti->block_bytes <= 0)
        return tl_fail(r->err, TL_EUNSUPPORTED, "%s: tensor '%s' has type %s, whose layout is unknown",
                       r->name, nm, ti->name);
    int64_t be = ti->block_elems, bb = ti->block_bytes;
    if (t->ne[0] % be)
        return tl_fail(r->err, TL_EFORMAT,
                       "%s is corrupt: tensor '%s' rows of %lld elements are not a multiple of the %s block (%lld)",
                       r->name, nm, (long long)t->ne[0], ti->name, (long long)be);
    int64_t nel = t->ne[0];
    uint64_t bytes = (uint64_t)(t->ne[0] / be);
    int of = __builtin_mul_overflow(bytes, (uint64_t)bb, &bytes);
    for (int d = 1; d < 4; d++) {
        of |= __builtin_mul_overflow(nel, t->ne[d], &nel);
        of |= __builtin_mul_overflow(bytes, (uint64_t)t->ne[d], &bytes);
    }
    if (of)
        return tl_fail(r->err, TL_EFORMAT,
                       "%s is corrupt: tensor '%s' shape %lldx%lldx%lldx%lld overflows 64 bits",
                       r->name, nm, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)t->ne[3]);
    t->size = bytes;
    return TL_OK;
}

static int read_tensor_info(struct reader *r, struct gguf_tensor *t)
{
    char nb[80];
    const char *what = "the info of tensor";
    int rc = rd_str(r, &t->name, "the name of a tensor", NULL);
    if (rc)
        return rc;
    const char *nm = show(nb, sizeof nb, t->name.ptr, t->name.len);
    if ((rc = rd_u32(r, &t->n_dims, what, nm)))
        return rc;
    if (t->n_dims < 1 || t->n_dims > 4)
        return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: tensor '%s' has %u dimensions (1..4 allowed)",
                       r->name, nm, t->n_dims);
    for (int d = 0; d < 4; d++) {
        uint64_t v = 1;
        if ((unsigned)d < t->n_dims && (rc = rd_u64(r, &v, what, nm)))
            return rc;
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return tl_fail(r->err, TL_EFORMAT, "%s is corrupt: tensor '%s' dimension %d is %s",
                           r->name, nm, d, v ? "negative" : "zero");
        t->ne[d] = (int64_t)v;
    }
    if ((rc = rd_u32(r, &t->type, what, nm)) || (rc = rd_u64(r, &t->offset, what, nm)))
        return rc;
    return tensor_size(r, t, nm);
}

/* One tensor's bytes in the data section, for sorting by where they start. */
struct span {
    uint64_t off, size;   /* from the start of the data section */
    uint64_t i;           /* index in g->tensors */
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Sorted by start, every overlap shows between neighbours (the one that
 * starts second starts before its neighbour ends). *packed: laid out as a
 * writer lays them out, each tensor at the aligned end of the one before. */
static int check_spans(struct reader *r, const struct gguf *g, struct span *s, uint64_t n, bool *packed)
{
    char na[80], nb[80];
    qsort(s, n, sizeof *s, span_cmp);
    *packed = n == 0 || s[0].off == 0;
    for (uint64_t k = 1; k < n; k++) {
        uint64_t prev_end = s[k - 1].off + s[k - 1].size;   /* bounded: placed in 64 bits */
        if (prev_end > s[k].off) {
            const struct gguf_tensor *a = &g->tensors[s[k - 1].i], *b = &g->tensors[s[k].i];
            return tl_fail(r->err, TL_EFORMAT,
                           "%s is corrupt: tensors '%s' and '%s' overlap (data bytes %llu..%llu and %llu..%llu)",
                           r->name, show(na, sizeof na, a->name.ptr, a->name.len),
                           show(nb, sizeof nb, b->name.ptr, b->name.len), (unsigned long long)s[k - 1].off,
                           (unsigned long long)prev_end, (unsigned long long)s[k].off,
                           (unsigned long long)(s[k].off + s[k].size));
        }
        if (s[k].off - prev_end >= g->alignment)
            *packed = false;
    }
    return TL_OK;
}

/* The data section ends before the tensors do. Tensors laid out as a writer
 * does, cut short: an interrupted download. Otherwise the tensor that
 * starts past the end has a corrupt offset (or, if none does, the file is
 * short anyway). */
static int short_data(struct reader *r, const struct gguf *g, const struct span *s, uint64_t n,
                      bool packed, uint64_t need)
{
    char nb[80];
    for (uint64_t k = 0; k < n && !packed; k++) {
        const struct gguf_tensor *t = &g->tensors[s[k].i];
        if (g->data_off + t->offset >= r->size)
            return tl_fail(r->err, TL_EFORMAT,
                           "%s is corrupt: tensor '%s' offset %llu is past the end of the file (%llu bytes)",
                           r->name, show(nb, sizeof nb, t->name.ptr, t->name.len),
                           (unsigned long long)t->offset, (unsigned long long)r->size);
    }
    return tl_fail(r->err, TL_EFORMAT,
                   "%s is truncated: %llu bytes present, the tensors need %llu (an interrupted download?)",
                   r->name, (unsigned long long)r->size, (unsigned long long)need);
}

/* Place every tensor in the data section: aligned, disjoint, inside the
 * file. Offsets and sizes are untrusted: every sum is checked. */
static int place_tensors(struct reader *r, struct gguf *g)
{
    char nb[80];
    uint64_t need = 0, n = g->n_tensors;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        uint64_t end;
        if (t->offset % g->alignment)
            return tl_fail(r->err, TL_EFORMAT,
                           "%s is corrupt: tensor '%s' offset %llu is not a multiple of the alignment %llu",
                           r->name, show(nb, sizeof nb, t->name.ptr, t->name.len),
                           (unsigned long long)t->offset, (unsigned long long)g->alignment);
        if (__builtin_add_overflow(g->data_off, t->offset, &end) || __builtin_add_overflow(end, t->size, &end))
            return tl_fail(r->err, TL_EFORMAT,
                           "%s is corrupt: tensor '%s' at offset %llu with %llu bytes ends beyond 64 bits",
                           r->name, show(nb, sizeof nb, t->name.ptr, t->name.len),
                           (unsigned long long)t->offset, (unsigned long long)t->size);
        need = end > need ? end : need;
    }
    /* n is bounded by the file size (read_header), so this allocation is too */
    struct span *s = malloc((n ? n : 1) * sizeof *s);
    if (!s)
        return tl_fail(r->err, TL_ENOMEM, "out of memory checking the tensors of %s", r->name);
    for (uint64_t i = 0; i < n; i++)
        s[i] = (struct span){ g->tensors[i].offset, g->tensors[i].size, i };
    bool packed;
    int rc = check_spans(r, g, s, n, &packed);
    if (!rc && need > r->size)
        rc = short_data(r, g, s, n, packed, need);
    free(s);
    if (rc)
        return rc;
    for (uint64_t i = 0; i < n; i++)
        g->tensors[i].data = g->base + g->data_off + g->tensors[i].offset;
    return TL_OK;
}

/* Recognise the usual wrong files behind a bad magic. */
static int bad_magic(struct reader *r)
{
    const char *p = (const char *)r->p;
    uint64_t n = r->size, i = 0;
    if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if ((n - i >= 9 && !strncasecmp(p + i, "<!doctype", 9)) || (n - i >= 5 && !strncasecmp(p + i, "<html", 5)))
        return tl_fail(r->err, TL_EFORMAT, "%s looks like an HTML page, not a GGUF file (a failed download?)",
                       r->name);
    static const char lfs[] = "version https://git-lfs";
    if (n >= sizeof lfs - 1 && !memcmp(p, lfs, sizeof lfs - 1))
        return tl_fail(r->err, TL_EFORMAT, "%s is a git-LFS pointer, not the model: fetch the real file",
                       r->name);
    if (n >= 4 && (!memcmp(p, "lmgg", 4) || !memcmp(p, "fmgg", 4) || !memcmp(p, "tjgg", 4)))
        return tl_fail(r->err, TL_EUNSUPPORTED,
                       "%s uses the old pre-GGUF GGML format: convert it to GGUF with llama.cpp", r->name);
    if (n < GGUF_MAGIC_LEN)
        return tl_fail(r->err, TL_EFORMAT, "%s is not a GGUF file: only %llu bytes", r->name,
                       (unsigned long long)n);
    uint64_t text = 0;
    while (text < n && text < 32 && ((p[text] >= 0x20 && p[text] < 0x7f) || p[text] == '\n' ||
                                     p[text] == '\r' || p[text] == '\t'))
        text++;
    if (text == n || text == 32) {
        char nb[80];
        return tl_fail(r->err, TL_EFORMAT, "%s is a text file, not a GGUF file (it starts \"%s\")",
                       r->name, show(nb, sizeof nb, p, text));
    }
    const uint8_t *u = r->p;
    return tl_fail(r->err, TL_EFORMAT, "%s is not a GGUF file (bad magic %02x %02x %02x %02x)",
                   r->name, u[0], u[1], u[2], u[3]);
}

static int read_header(struct reader *r, struct gguf *g)
{
    if (r->size == 0)
        return tl_fail(r->err, TL_EFORMAT, "%s is empty (0 bytes), not a GGUF file", r->name);
    if (r->size < GGUF_MAGIC_LEN || memcmp(r->p, "GGUF", 4))
        return bad_magic(r);
    r->pos = GGUF_MAGIC_LEN;
    int rc = rd_u32(r, &g->version, "the header", NULL);
    if (rc)
        return rc;
    uint32_t v = g->version, swapped = __builtin_bswap32(v);
    if (v == 1)
        return tl_fail(r->err, TL_EUNSUPPORTED,
                       "%s is GGUF v1, an obsolete format: re-convert it with a current llama.cpp", r->name);
    if (swapped == 2 || swapped == 3)
        return tl_fail(r->err, TL_EUNSUPPORTED, "%s is a big-endian GGUF file, which tinyllm does not read",
                       r->name);
    if (v != 2 && v != 3)
        return tl_fail(r->err, v && v < 1000 ? TL_EUNSUPPORTED : TL_EFORMAT,
                       "%s has GGUF version %u; tinyllm reads versions 2 and 3", r->name, v);
    if ((rc = rd_u64(r, &g->n_tensors, "the header", NULL)) || (rc = rd_u64(r, &g->n_kv, "the header", NULL)))
        return rc;
    uint64_t left = r->size - r->pos;
    if (g->n_kv > left / GGUF_MIN_KV_BYTES || g->n_tensors > left / GGUF_MIN_TI_BYTES)
        return tl_fail(r->err, TL_EFORMAT,
                       "%s is corrupt: the header claims %llu KVs and %llu tensors, more than %llu bytes can hold",
                       r->name, (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors,
                       (unsigned long long)r->size);
    return TL_OK;
}

static int parse(struct gguf *g, const uint8_t *buf, uint64_t size, const char *name, struct tl_error *err)
{
    struct reader r = {buf, size, 0, name, err};
    struct gguf t = {0};
    t.base = buf;
    t.size = size;
    int rc = read_header(&r, &t);
    if (rc)
        goto out;
    /* Counts are bounded by the file size above, so these allocations are too. */
    t.kv = calloc(t.n_kv ? t.n_kv : 1, sizeof *t.kv);
    t.tensors = calloc(t.n_tensors ? t.n_tensors : 1, sizeof *t.tensors);
    if (!t.kv || !t.tensors) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory reading %s", name);
        goto out;
    }
    if ((rc = read_kvs(&r, &t)) || (rc = read_alignment(&r, &t)))
        goto out;
    for (uint64_t i = 0; i < t.n_tensors && !rc; i++)
        rc = read_tensor_info(&r, &t.tensors[i]);
    if (rc || (rc = check_dups(&r, &t.tensors[0].name, t.n_tensors, sizeof t.tensors[0], "tensor name")))
        goto out;
    /* pos <= size and alignment <= 2^24: no overflow. */
    t.data_off = (r.pos + t.alignment - 1) / t.alignment * t.alignment;
    rc = place_tensors(&r, &t);
out:
    if (rc) {
        free(t.kv);
        free(t.tensors);
        memset(g, 0, sizeof *g);
    } else {
        *g = t;
    }
    return rc;
}

int gguf_parse(struct gguf *g, const void *buf, uint64_t size, struct tl_error *err)
{
    return parse(g, buf, size, "<memory>", err);
}

static bool fits_half_ram(uint64_t size)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 && size <= (uint64_t)pages * (uint64_t)page / 2;
}

static bool copy_pays(uint64_t size)
{
    return size <= GGUF_AUTO_COPY_MAX && huge_pages_on() && fits_half_ram(size);
}

/* A file's bytes in memory: a mapping of it or a copy. */
struct file_bytes {
    void          *map;        /* what to munmap, or with copied, to free */
    size_t         map_bytes;
    bool           copied;
};

/* The size bytes of fd into memory on huge pages (platform/hugepages.h). */
static int read_copy(int fd, uint64_t size, const char *path, struct file_bytes *f, struct tl_error *err)
{
    char *p = huge_alloc((size_t)size);
    if (!p)
        return tl_fail(err, TL_ENOMEM, "out of memory reading %s (%llu bytes)", path, (unsigned long long)size);
    for (uint64_t got = 0; got < size;) {
        size_t want = size - got > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)(size - got);
        ssize_t n = pread(fd, p + got, want, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            free(p);
            return tl_fail(err, TL_EIO, "cannot read %s: %s", path, n < 0 ? strerror(e) : "the file shrank while it was read");
        }
        got += (uint64_t)n;
    }
    *f = (struct file_bytes){ .map = p, .map_bytes = (size_t)size, .copied = true };
    return TL_OK;
}

static void release(void *map, size_t bytes, bool copied)
{
    if (copied)
        free(map);
    else if (map)
        munmap(map, bytes);
}

static int bring_in(int fd, uint64_t size, enum gguf_load how, const char *path, struct file_bytes *f,
                    struct tl_error *err)
{
    if (size > SIZE_MAX - 2 * HUGE_PAGE)
        return tl_fail(err, TL_ENOMEM, "%s (%llu bytes) does not fit in this process's address space", path,
                       (unsigned long long)size);
    if (how == GGUF_LOAD_COPY || (how == GGUF_LOAD_AUTO && copy_pays(size)) ||
        (how == GGUF_LOAD_PRIVATE && fits_half_ram(size)))
        return read_copy(fd, size, path, f, err);
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return tl_fail(err, TL_EIO, "cannot map %s: %s", path, strerror(errno));
    *f = (struct file_bytes){ .map = map, .map_bytes = (size_t)size };
    return TL_OK;
}

int gguf_open_with(struct gguf *g, const char *path, enum gguf_load how, struct tl_error *err)
{
    memset(g, 0, sizeof *g);
    int rc = TL_OK;
    struct stat st;
    struct file_bytes f = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tl_fail(err, TL_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st)) {
        rc = tl_fail(err, TL_EIO, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = tl_fail(err, TL_EIO, "cannot read %s: %s", path,
                     S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
        goto out;
    }
    if (st.st_size == 0) {
        rc = tl_fail(err, TL_EFORMAT, "%s is empty (0 bytes), not a GGUF file", path);
        goto out;
    }
    if ((rc = bring_in(fd, (uint64_t)st.st_size, how, path, &f, err)))
        goto out;
    if ((rc = parse(g, f.map, (uint64_t)st.st_size, path, err))) {
        release(f.map, f.map_bytes, f.copied);
        goto out;
    }
    g->map = f.map;
    g->map_bytes = f.map_bytes;
    g->copied = f.copied;
out:
    close(fd);
    return rc;
}

int gguf_open(struct gguf *g, const char *path, struct tl_error *err)
{
    return gguf_open_with(g, path, GGUF_LOAD_MMAP, err);
}

void gguf_close(struct gguf *g)
{
    release(g->map, g->map_bytes, g->copied);
    free(g->kv);
    free(g->tensors);
    memset(g, 0, sizeof *g);
}

int gguf_str_eq(struct gguf_str a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || !memcmp(a.ptr, s, n));
}

const struct gguf_kv *gguf_find(const struct gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (gguf_str_eq(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (gguf_str_eq(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

/* Shared front of the getters: *kv is NULL when absent and not required. */
static int lookup(const struct gguf *g, const char *key, bool required, const struct gguf_kv **kv,
                  struct tl_error *err)
{
    *kv = gguf_find(g, key);
    if (!*kv && required)
        return tl_fail(err, TL_EFORMAT, "missing required key '%s'", key);
    return TL_OK;
}

/* Any integer KV into [lo, hi] (lo <= 0 <= hi). */
static int get_int(const struct gguf *g, const char *key, bool required, int64_t lo, uint64_t hi,
                   int64_t *out, int *found, struct tl_error *err)
{
    const struct gguf_kv *kv;
    int rc = lookup(g, key, required, &kv, err);
    *found = kv != NULL;
    if (rc || !kv)
        return rc;
    if (is_unsigned_int(kv->type)) {
        if (kv->v.u > hi)
            return tl_fail(err, TL_EFORMAT, "key '%s' = %llu is out of range (max %llu)", key,
                           (unsigned long long)kv->v.u, (unsigned long long)hi);
        *out = (int64_t)kv->v.u;
        return TL_OK;
    }
    if (is_signed_int(kv->type)) {
        if (kv->v.i < lo || (kv->v.i > 0 && (uint64_t)kv->v.i > hi))
            return tl_fail(err, TL_EFORMAT, "key '%s' = %lld is out of range (%lld..%llu)", key,
                           (long long)kv->v.i, (long long)lo, (unsigned long long)hi);
        *out = kv->v.i;
        return TL_OK;
    }
    return tl_fail(err, TL_EFORMAT, "key '%s' is a %s, expected an integer", key, gguf_vtype_name(kv->type));
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out, bool required, struct tl_error *err)
{
    int64_t v;
    int found, rc = get_int(g, key, required, 0, UINT32_MAX, &v, &found, err);
    if (!rc && found)
        *out = (uint32_t)v;
    return rc;
}

int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out, bool required, struct tl_error *err)
{
    int64_t v;
    int found, rc = get_int(g, key, required, INT32_MIN, INT32_MAX, &v, &found, err);
    if (!rc && found)
        *out = (int32_t)v;
    return rc;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out, bool required, struct tl_error *err)
{
    const struct gguf_kv *kv;
    int rc = lookup(g, key, required, &kv, err);
    if (rc || !kv)
        return rc;
    if (kv->type == GGUF_F32 || kv->type == GGUF_F64) {
        if (isfinite(kv->v.f) && fabs(kv->v.f) > FLT_MAX)
            return tl_fail(err, TL_EFORMAT, "key '%s' = %g does not fit in a float", key, kv->v.f);
        *out = (float)kv->v.f;
    } else if (is_unsigned_int(kv->type)) {
        *out = (float)kv->v.u;
    } else if (is_signed_int(kv->type)) {
        *out = (float)kv->v.i;
    } else {
        return tl_fail(err, TL_EFORMAT, "key '%s' is a %s, expected a number", key, gguf_vtype_name(kv->type));
    }
    return TL_OK;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out, bool required, struct tl_error *err)
{
    const struct gguf_kv *kv;
    int rc = lookup(g, key, required, &kv, err);
    if (rc || !kv)
        return rc;
    /* An integer 0 or 1 converts losslessly; other integers do not. */
    if (kv->type == GGUF_BOOL || ((is_unsigned_int(kv->type) || is_signed_int(kv->type)) && kv->v.u <= 1)) {
        *out = kv->v.u != 0;
        return TL_OK;
    }
    return tl_fail(err, TL_EFORMAT, "key '%s' is a %s, expected a bool", key, gguf_vtype_name(kv->type));
}

int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out, bool required, struct tl_error *err)
{
    const struct gguf_kv *kv;
    int rc = lookup(g, key, required, &kv, err);
    if (rc || !kv)
        return rc;
    if (kv->type != GGUF_STRING)
        return tl_fail(err, TL_EFORMAT, "key '%s' is a %s, expected a string", key, gguf_vtype_name(kv->type));
    *out = kv->v.s;
    return TL_OK;
}

double gguf_arr_num(const struct gguf_kv *kv, uint64_t i)
{
    uint32_t t = kv->v.arr.type;
    size_t sz = gguf_vtype_size(t);
    struct gguf_kv one = {0};
    if (!sz)
        return NAN;
    decode_scalar(t, kv->v.arr.data + i * sz, &one);
    if (t == GGUF_F32 || t == GGUF_F64)
        return one.v.f;
    if (is_signed_int(t))
        return (double)one.v.i;
    return t == GGUF_BOOL ? (one.v.u != 0) : (double)one.v.u;
}

int gguf_arr_strs(const struct gguf_kv *kv, struct gguf_str **out, struct tl_error *err)
{
    char nb[80];
    *out = NULL;
    if (kv->type != GGUF_ARRAY || kv->v.arr.type != GGUF_STRING)
        return tl_fail(err, TL_EFORMAT, "key '%s' is not an array of strings",
                       show(nb, sizeof nb, kv->key.ptr, kv->key.len));
    uint64_t n = kv->v.arr.n;
    if (n == 0)
        return TL_OK;
    /* The parser bounded n by bytes / 8, so n views fit in memory terms. */
    if (n > SIZE_MAX / sizeof **out)
        return tl_fail(err, TL_ENOMEM, "string array '%s' is too large",
                       show(nb, sizeof nb, kv->key.ptr, kv->key.len));
    struct gguf_str *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return tl_fail(err, TL_ENOMEM, "out of memory for %llu strings", (unsigned long long)n);
    const uint8_t *p = kv->v.arr.data;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(&s[i].len, p, 8);
        s[i].ptr = (const char *)p + 8;
        p += 8 + s[i].len;
    }
    *out = s;
    return TL_OK;
}
