/* format/gguf_write.c: encodes key/values as they will appear in the file, keeps a
 * tensor directory of caller-owned (or fill-on-demand) data, and lays out
 * a GGUF v3 file: header, KVs, tensor infos, padding, aligned data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf_write.h"
#include "format/quant.h"
#include "util/mem.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "format/gguf_write.c stores host-order fields: port it before using a big-endian host"
#endif

#define GW_DEFAULT_ALIGNMENT 32
#define GW_MAX_ALIGNMENT     (1u << 24)   /* the reader's limit */

void gguf_writer_init(struct gguf_writer *w)
{
    memset(w, 0, sizeof *w);
}

void gguf_writer_free(struct gguf_writer *w)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    memset(w, 0, sizeof *w);
}

/* Grow *arr (of *cap elements of size sz) to hold one more than n. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = c > SIZE_MAX / sz ? NULL : realloc(*arr, c * sz);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Take ownership of val (heap, len bytes) as the value of key (key_len
 * bytes), replacing an existing value of that key. Frees val on failure. */
static int kv_put(struct gguf_writer *w, const char *key, uint64_t key_len, uint32_t type,
                  uint8_t *val, uint64_t len, struct tl_error *err)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        struct gguf_writer_kv *kv = &w->kv[i];
        if (kv->key_len == key_len && !memcmp(kv->key, key, key_len)) {
            free(kv->val);
            kv->type = type;
            kv->val = val;
            kv->val_len = len;
            return TL_OK;
        }
    }
    char *k = key_len < SIZE_MAX ? malloc(key_len + 1) : NULL;
    if (!k || grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free(val);
        return tl_fail(err, TL_ENOMEM, "out of memory adding key to a GGUF writer");
    }
    memcpy(k, key, key_len);
    k[key_len] = 0;
    w->kv[w->n_kv++] = (struct gguf_writer_kv){k, key_len, type, val, len};
    return TL_OK;
}

/* Copy the len bytes at src into a fresh heap value and put it. */
static int kv_put_copy(struct gguf_writer *w, const char *key, uint64_t key_len, uint32_t type,
                       const void *src, uint64_t len, struct tl_error *err)
{
    uint8_t *v = len < SIZE_MAX ? malloc(len ? len : 1) : NULL;
    if (!v)
        return tl_fail(err, TL_ENOMEM, "out of memory for a %llu-byte GGUF value", (unsigned long long)len);
    if (len)
        memcpy(v, src, len);
    return kv_put(w, key, key_len, type, v, len, err);
}

#define SETTER(NAME, CTYPE, VTYPE) \
    int gguf_writer_set_##NAME(struct gguf_writer *w, const char *key, CTYPE v, struct tl_error *err) \
    { return kv_put_copy(w, key, strlen(key), VTYPE, &v, sizeof v, err); }

SETTER(u8, uint8_t, GGUF_U8)
SETTER(i8, int8_t, GGUF_I8)
SETTER(u16, uint16_t, GGUF_U16)
SETTER(i16, int16_t, GGUF_I16)
SETTER(u32, uint32_t, GGUF_U32)
SETTER(i32, int32_t, GGUF_I32)
SETTER(u64, uint64_t, GGUF_U64)
SETTER(i64, int64_t, GGUF_I64)
SETTER(f32, float, GGUF_F32)
SETTER(f64, double, GGUF_F64)

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v, struct tl_error *err)
{
    uint8_t b = v ? 1 : 0;
    return kv_put_copy(w, key, strlen(key), GGUF_BOOL, &b, 1, err);
}

/* Encode (u64 len, bytes) for a string of the key (key, key_len). */
static int put_strn(struct gguf_writer *w, const char *key, uint64_t key_len, const char *s,
                    uint64_t len, struct tl_error *err)
{
    uint8_t *v = len <= SIZE_MAX - 8 ? malloc(8 + len) : NULL;
    if (!v)
        return tl_fail(err, TL_ENOMEM, "out of memory for a %llu-byte GGUF string", (unsigned long long)len);
    memcpy(v, &len, 8);
    if (len)
        memcpy(v + 8, s, len);
    return kv_put(w, key, key_len, GGUF_STRING, v, 8 + len, err);
}

int gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *s, uint64_t len,
                         struct tl_error *err)
{
    return put_strn(w, key, strlen(key), s, len, err);
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *s, struct tl_error *err)
{
    return put_strn(w, key, strlen(key), s, strlen(s), err);
}

/* Encode (u32 elem_type, u64 n, payload) for an array value. */
static int put_arr(struct gguf_writer *w, const char *key, uint64_t key_len, uint32_t et, uint64_t n,
                   const void *payload, uint64_t bytes, struct tl_error *err)
{
    uint8_t *v = bytes <= SIZE_MAX - 12 ? malloc(12 + bytes) : NULL;
    if (!v)
        return tl_fail(err, TL_ENOMEM, "out of memory for a %llu-byte GGUF array", (unsigned long long)bytes);
    memcpy(v, &et, 4);
    memcpy(v + 4, &n, 8);
    if (bytes)
        memcpy(v + 12, payload, bytes);
    return kv_put(w, key, key_len, GGUF_ARRAY, v, 12 + bytes, err);
}

int gguf_writer_set_arr_raw(struct gguf_writer *w, const char *key, uint32_t elem_type, uint64_t n,
                            const void *payload, uint64_t bytes, struct tl_error *err)
{
    return put_arr(w, key, strlen(key), elem_type, n, payload, bytes, err);
}

int gguf_writer_set_arr(struct gguf_writer *w, const char *key, uint32_t elem_type,
                        const void *elems, uint64_t n, struct tl_error *err)
{
    size_t sz = gguf_vtype_size(elem_type);
    if (!sz)
        return tl_fail(err, TL_EINVAL, "gguf_writer_set_arr: '%s': element type %s is not fixed-size",
                       key, gguf_vtype_name(elem_type));
    if (n > UINT64_MAX / sz)
        return tl_fail(err, TL_EINVAL, "gguf_writer_set_arr: '%s': %llu elements overflow", key,
                       (unsigned long long)n);
    return put_arr(w, key, strlen(key), elem_type, n, elems, n * sz, err);
}

int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
                            uint64_t n, struct tl_error *err)
{
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n; i++)
        if (__builtin_add_overflow(bytes, 8 + (uint64_t)strlen(strs[i]), &bytes) || bytes > SIZE_MAX - 12)
            return tl_fail(err, TL_ENOMEM, "string array '%s' is too large", key);
    uint8_t *v = malloc(12 + bytes);
    if (!v)
        return tl_fail(err, TL_ENOMEM, "out of memory for string array '%s'", key);
    uint32_t et = GGUF_STRING;
    memcpy(v, &et, 4);
    memcpy(v + 4, &n, 8);
    uint8_t *p = v + 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = strlen(strs[i]);
        memcpy(p, &len, 8);
        memcpy(p + 8, strs[i], len);
        p += 8 + len;
    }
    return kv_put(w, key, strlen(key), GGUF_ARRAY, v, 12 + bytes, err);
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv, struct tl_error *err)
{
    const char *k = kv->key.ptr;
    uint64_t kl = kv->key.len;
    union { uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64; float f; double d; } s;
    switch (kv->type) {
    case GGUF_STRING: return put_strn(w, k, kl, kv->v.s.ptr, kv->v.s.len, err);
    case GGUF_ARRAY:
        return put_arr(w, k, kl, kv->v.arr.type, kv->v.arr.n, kv->v.arr.data, kv->v.arr.bytes, err);
    /* Signed values are stored two's complement: their low bytes are the
     * encoding, the same as the unsigned members' low bytes. */
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: s.u8 = (uint8_t)kv->v.u; break;
    case GGUF_U16: case GGUF_I16: s.u16 = (uint16_t)kv->v.u; break;
    case GGUF_U32: case GGUF_I32: s.u32 = (uint32_t)kv->v.u; break;
    case GGUF_U64: case GGUF_I64: s.u64 = kv->v.u; break;
    case GGUF_F32: s.f = (float)kv->v.f; break;
    case GGUF_F64: s.d = kv->v.f; break;
    default:
        return tl_fail(err, TL_EINVAL, "gguf_writer_copy_kv: unknown value type %u", kv->type);
    }
    return kv_put_copy(w, k, kl, kv->type, &s, gguf_vtype_size(kv->type), err);
}

/* Validate shape and type; *size receives the tensor's byte size. */
static int tensor_bytes(const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type,
                        uint64_t *size, struct tl_error *err)
{
    const struct type_info *ti = type_info(type);
    if (!ti || ti->block_elems <= 0 || ti->block_bytes <= 0)
        return tl_fail(err, TL_EINVAL, "tensor '%s': unknown ggml type %u", name, type);
    if (n_dims < 1 || n_dims > 4)
        return tl_fail(err, TL_EINVAL, "tensor '%s': %u dimensions (1..4 allowed)", name, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] < 1)
            return tl_fail(err, TL_EINVAL, "tensor '%s': dimension %u is %lld", name, d, (long long)ne[d]);
    if (ne[0] % ti->block_elems)
        return tl_fail(err, TL_EINVAL, "tensor '%s': %lld elements per row is not a multiple of the %s block (%d)",
                       name, (long long)ne[0], ti->name, ti->block_elems);
    uint64_t b = (uint64_t)(ne[0] / ti->block_elems);
    int of = __builtin_mul_overflow(b, (uint64_t)ti->block_bytes, &b);
    for (uint32_t d = 1; d < n_dims; d++)
        of |= __builtin_mul_overflow(b, (uint64_t)ne[d], &b);
    if (of)
        return tl_fail(err, TL_EINVAL, "tensor '%s': size overflows", name);
    *size = b;
    return TL_OK;
}

static int add_tensor(struct gguf_writer *w, struct gguf_writer_tensor t, const char *name,
                      const int64_t *ne, struct tl_error *err)
{
    int rc = tensor_bytes(name, t.n_dims, ne, t.type, &t.size, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return tl_fail(err, TL_EINVAL, "duplicate tensor name '%s'", name);
    for (int d = 0; d < 4; d++)
        t.ne[d] = (uint32_t)d < t.n_dims ? ne[d] : 1;
    t.name = strdup(name);
    if (!t.name || grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors)) {
        free(t.name);
        return tl_fail(err, TL_ENOMEM, "out of memory adding tensor '%s'", name);
    }
    w->tensors[w->n_tensors++] = t;
    return TL_OK;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
                           const int64_t *ne, uint32_t type, const void *data, uint64_t size,
                           struct tl_error *err)
{
    uint64_t want = 0;
    int rc = tensor_bytes(name, n_dims, ne, type, &want, err);
    if (rc)
        return rc;
    if (want != size)
        return tl_fail(err, TL_EINVAL, "tensor '%s': %llu bytes given, its shape needs %llu", name,
                       (unsigned long long)size, (unsigned long long)want);
    struct gguf_writer_tensor t = {.n_dims = n_dims, .type = type, .data = data};
    return add_tensor(w, t, name, ne, err);
}

int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t n_dims,
                                const int64_t *ne, uint32_t type, gguf_fill_fn fill, void *ctx,
                                struct tl_error *err)
{
    struct gguf_writer_tensor t = {.n_dims = n_dims, .type = type, .fill = fill, .fill_ctx = ctx};
    return add_tensor(w, t, name, ne, err);
}

static uint64_t pad_to(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static int alignment(const struct gguf_writer *w, uint64_t *align, struct tl_error *err)
{
    *align = GW_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        const struct gguf_writer_kv *kv = &w->kv[i];
        if (strcmp(kv->key, "general.alignment") || kv->key_len != strlen(kv->key))
            continue;
        uint32_t a = 0;
        if (kv->type == GGUF_U32)
            memcpy(&a, kv->val, 4);
        if (a == 0 || (a & (a - 1)) || a > GW_MAX_ALIGNMENT)
            return tl_fail(err, TL_EINVAL, "general.alignment must be a u32 power of two up to %u",
                           GW_MAX_ALIGNMENT);
        *align = a;
    }
    return TL_OK;
}

/* The file up to the data section: header, KVs, tensor infos, zero padding.
 * *head (heap) holds *data_off bytes; *total is the size of the whole file. */
static int build_head(const struct gguf_writer *w, uint8_t **head, uint64_t *data_off,
                      uint64_t *total, uint64_t *align, struct tl_error *err)
{
    int rc = alignment(w, align, err);
    if (rc)
        return rc;
    uint64_t meta = 24, data = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        meta += 12 + w->kv[i].key_len + w->kv[i].val_len;
    for (size_t i = 0; i < w->n_tensors; i++) {
        meta += 8 + strlen(w->tensors[i].name) + 4 + 8 * w->tensors[i].n_dims + 12;
        if (__builtin_add_overflow(data, pad_to(w->tensors[i].size, *align), &data))
            return tl_fail(err, TL_EINVAL, "GGUF data section overflows 64 bits");
    }
    *data_off = pad_to(meta, *align);
    if (__builtin_add_overflow(*data_off, data, total) || *data_off > SIZE_MAX)
        return tl_fail(err, TL_EINVAL, "GGUF file size overflows");
    uint8_t *p = calloc(1, (size_t)*data_off);
    if (!p)
        return tl_fail(err, TL_ENOMEM, "out of memory for a GGUF header");
    *head = p;
    uint32_t version = 3;
    uint64_t n_t = w->n_tensors, n_kv = w->n_kv, off = 0;
    memcpy(p, "GGUF", 4);
    memcpy(p + 4, &version, 4);
    memcpy(p + 8, &n_t, 8);
    memcpy(p + 16, &n_kv, 8);
    p += 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        const struct gguf_writer_kv *kv = &w->kv[i];
        memcpy(p, &kv->key_len, 8);
        memcpy(p + 8, kv->key, kv->key_len);
        p += 8 + kv->key_len;
        memcpy(p, &kv->type, 4);
        memcpy(p + 4, kv->val, kv->val_len);
        p += 4 + kv->val_len;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct gguf_writer_tensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        memcpy(p, &len, 8);
        memcpy(p + 8, t->name, len);
        p += 8 + len;
        memcpy(p, &t->n_dims, 4);
        p += 4;
        for (uint32_t d = 0; d < t->n_dims; d++, p += 8)
            memcpy(p, &t->ne[d], 8);
        memcpy(p, &t->type, 4);
        memcpy(p + 4, &off, 8);
        p += 12;
        off += pad_to(t->size, *align);
    }
    return TL_OK;
}

/* Where the bytes go: a heap buffer (buf) or a stream (f, with scratch for
 * fill tensors). */
struct sink {
    uint8_t    *buf;
    uint64_t    pos;
    FILE       *f;
    const char *path;
    uint8_t    *scratch;
    uint64_t    scratch_len;
};

static int sink_put(struct sink *s, const void *p, uint64_t n, struct tl_error *err)
{
    if (s->buf) {
        memcpy(s->buf + s->pos, p, n);
    } else if (n && fwrite(p, 1, n, s->f) != n) {
        return tl_fail(err, TL_EIO, "cannot write %s: %s", s->path, strerror(errno));
    }
    s->pos += n;
    return TL_OK;
}

static int sink_zeros(struct sink *s, uint64_t n, struct tl_error *err)
{
    static const uint8_t zeros[4096];
    int rc = TL_OK;
    for (uint64_t k; n && !rc; n -= k) {
        k = n < sizeof zeros ? n : sizeof zeros;
        rc = sink_put(s, zeros, k, err);
    }
    return rc;
}

/* Tensor t's bytes, from its data pointer or its fill function. */
static int sink_tensor(struct sink *s, const struct gguf_writer_tensor *t, struct tl_error *err)
{
    if (t->data)
        return sink_put(s, t->data, t->size, err);
    if (!t->fill)
        return tl_fail(err, TL_EINVAL, "tensor '%s' has neither data nor a fill function", t->name);
    if (s->buf) {
        int rc = t->fill(t->fill_ctx, s->buf + s->pos, t->size, err);
        s->pos += t->size;
        return rc;
    }
    if (t->size > s->scratch_len) {
        void *p = t->size <= SIZE_MAX ? realloc(s->scratch, (size_t)t->size) : NULL;
        if (!p)
            return tl_fail(err, TL_ENOMEM, "out of memory for tensor '%s' (%llu bytes)", t->name,
                           (unsigned long long)t->size);
        s->scratch = p;
        s->scratch_len = t->size;
    }
    int rc = t->fill(t->fill_ctx, s->scratch, t->size, err);
    return rc ? rc : sink_put(s, s->scratch, t->size, err);
}

static int write_all(const struct gguf_writer *w, struct sink *s, const uint8_t *head,
                     uint64_t data_off, uint64_t align, struct tl_error *err)
{
    int rc = sink_put(s, head, data_off, err);
    for (size_t i = 0; i < w->n_tensors && !rc; i++) {
        const struct gguf_writer_tensor *t = &w->tensors[i];
        rc = sink_tensor(s, t, err);
        if (!rc)
            rc = sink_zeros(s, pad_to(t->size, align) - t->size, err);
    }
    return rc;
}

int gguf_writer_write_mem(const struct gguf_writer *w, void **buf, size_t *size, struct tl_error *err)
{
    uint8_t *head = NULL;
    uint64_t data_off, total, align;
    struct sink s = {0};
    *buf = NULL;
    *size = 0;
    int rc = build_head(w, &head, &data_off, &total, &align, err);
    if (rc)
        goto out;
    s.buf = total <= SIZE_MAX ? malloc(total ? (size_t)total : 1) : NULL;
    if (!s.buf) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory for a %llu-byte GGUF file", (unsigned long long)total);
        goto out;
    }
    rc = write_all(w, &s, head, data_off, align, err);
    if (rc) {
        free(s.buf);
        goto out;
    }
    *buf = s.buf;
    *size = (size_t)total;
out:
    free(head);
    return rc;
}

int gguf_writer_write_file(const struct gguf_writer *w, const char *path, struct tl_error *err)
{
    uint8_t *head = NULL;
    uint64_t data_off, total, align;
    struct sink s = {0};
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    s.path = tmp;
    int rc = build_head(w, &head, &data_off, &total, &align, err);
    if (rc)
        goto out;
    s.f = fopen(tmp, "wb");
    if (!s.f) {
        rc = tl_fail(err, TL_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = write_all(w, &s, head, data_off, align, err);
    if (fclose(s.f) && !rc)
        rc = tl_fail(err, TL_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path))
        rc = tl_fail(err, TL_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc)
        unlink(tmp);
out:
    mem_free_all(s.scratch, head, tmp);
    return rc;
}
