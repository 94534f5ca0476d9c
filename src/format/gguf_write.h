/* format/gguf_write.h: builds a GGUF v3 file: key/values of every type, a tensor
 * directory, aligned tensor data; written to PATH (via PATH.tmp + rename)
 * or to a heap buffer. Used by `tinyllm quantize` and the tests. */
#ifndef TINYLLM_GGUF_WRITE_H
#define TINYLLM_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "tinyllm.h"

/* Produce the `size` bytes of one tensor into dst (writer-owned, uninitialised)
 * at write time, so a big model never has to sit in memory whole. ctx is the
 * pointer given to gguf_writer_add_tensor_fill. Returns TL_OK or fails via err. */
typedef int (*gguf_fill_fn)(void *ctx, void *dst, uint64_t size, struct tl_error *err);

/* One key/value, already encoded as in the file after the value type. */
struct gguf_writer_kv {
    char     *key;      /* heap, NUL-terminated (keys from C strings or copied views) */
    uint64_t  key_len;  /* bytes, without the NUL */
    uint32_t  type;     /* enum gguf_vtype */
    uint8_t  *val;      /* heap, val_len bytes: the encoded value */
    uint64_t  val_len;
};

struct gguf_writer_tensor {
    char         *name;     /* heap, NUL-terminated */
    uint32_t      n_dims;   /* 1..4 */
    int64_t       ne[4];    /* unused dims are 1 */
    uint32_t      type;     /* enum tl_type */
    uint64_t      size;     /* bytes of data */
    const void   *data;     /* caller's bytes, referenced until the write (or NULL) */
    gguf_fill_fn  fill;     /* used when data is NULL */
    void         *fill_ctx;
};

/* Fields are the writer's; callers use the functions below. */
struct gguf_writer {
    struct gguf_writer_kv     *kv;
    size_t                     n_kv, cap_kv;
    struct gguf_writer_tensor *tensors;
    size_t                     n_tensors, cap_tensors;
};

/* Start an empty writer; cannot fail. */
void gguf_writer_init(struct gguf_writer *w);
/* Free everything the writer owns (not the tensor data it references). */
void gguf_writer_free(struct gguf_writer *w);

/* Set a scalar or string KV. Setting an existing key replaces its value in
 * place (so a copied file's keys keep their order). TL_ENOMEM on failure. */
int gguf_writer_set_u8(struct gguf_writer *w, const char *key, uint8_t v, struct tl_error *err);
int gguf_writer_set_i8(struct gguf_writer *w, const char *key, int8_t v, struct tl_error *err);
int gguf_writer_set_u16(struct gguf_writer *w, const char *key, uint16_t v, struct tl_error *err);
int gguf_writer_set_i16(struct gguf_writer *w, const char *key, int16_t v, struct tl_error *err);
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v, struct tl_error *err);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v, struct tl_error *err);
int gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v, struct tl_error *err);
int gguf_writer_set_i64(struct gguf_writer *w, const char *key, int64_t v, struct tl_error *err);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v, struct tl_error *err);
int gguf_writer_set_f64(struct gguf_writer *w, const char *key, double v, struct tl_error *err);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v, struct tl_error *err);
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *s, struct tl_error *err);
/* A string of len bytes that need not be NUL-terminated (may hold NULs). */
int gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *s, uint64_t len,
                         struct tl_error *err);

/* Array of n fixed-size numbers of vtype elem_type (u8..f64, bool), packed
 * as in memory (little-endian host). TL_EINVAL for STRING/ARRAY elements. */
int gguf_writer_set_arr(struct gguf_writer *w, const char *key, uint32_t elem_type,
                        const void *elems, uint64_t n, struct tl_error *err);
/* Array of n NUL-terminated strings. */
int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
                            uint64_t n, struct tl_error *err);
/* Array whose `bytes` of payload are already encoded as in a file (what
 * follows the element type and count): nested arrays, copies, and tests
 * that need malformed payloads. Not validated; the reader validates. */
int gguf_writer_set_arr_raw(struct gguf_writer *w, const char *key, uint32_t elem_type, uint64_t n,
                            const void *payload, uint64_t bytes, struct tl_error *err);

/* Copy one KV of a parsed file (key, type, value; arrays of any nesting). */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv, struct tl_error *err);

/* Add a tensor of shape ne[0..n_dims) and ggml type whose size bytes are at
 * data; the writer keeps only the pointer, so data must stay valid until
 * the write. TL_EINVAL for a bad shape or type, a size that does not match
 * the shape, or a duplicate name. Tensors are written in the order added. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
                           const int64_t *ne, uint32_t type, const void *data, uint64_t size,
                           struct tl_error *err);
/* Same, but the bytes come from fill(ctx, ...) during the write. */
int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t n_dims,
                                const int64_t *ne, uint32_t type, gguf_fill_fn fill, void *ctx,
                                struct tl_error *err);

/* Write the file to path: PATH.tmp first, renamed over path on success and
 * removed on failure. Alignment is general.alignment (a u32 power of two)
 * when set, else 32. TL_EIO on a write error, TL_EINVAL on a bad alignment,
 * or what a fill function returned. */
int gguf_writer_write_file(const struct gguf_writer *w, const char *path, struct tl_error *err);
/* The same bytes into a heap buffer (*buf, *size; caller frees). */
int gguf_writer_write_mem(const struct gguf_writer *w, void **buf, size_t *size, struct tl_error *err);

#endif
