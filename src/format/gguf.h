/* format/gguf.h: read-only view of a GGUF v2/v3 file, memory-mapped or read
 * into memory on huge pages.
 * gguf_open validates everything once (counts, lengths, offsets, types,
 * overflow), so users of struct gguf may index it without further checks.
 * Strings and array payloads point into the mapping: they are NOT
 * NUL-terminated and array payloads may be unaligned (read them with the
 * gguf_arr_* accessors, which memcpy). */
#ifndef TINYLLM_GGUF_H
#define TINYLLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyllm.h"

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4,
    GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8,
    GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_VTYPE_COUNT
};

struct gguf_str {
    const char *ptr;   /* into the mapping, not NUL-terminated */
    uint64_t    len;   /* bytes */
};

struct gguf_kv {
    struct gguf_str key;
    uint32_t        type;          /* enum gguf_vtype */
    union {
        uint64_t        u;         /* U8..U64, BOOL: zero-extended */
        int64_t         i;         /* I8..I64: sign-extended */
        double          f;         /* F32, F64 */
        struct gguf_str s;         /* STRING */
        struct {
            uint32_t       type;   /* element vtype; ARRAY when nested */
            uint64_t       n;      /* element count */
            const uint8_t *data;   /* first element in the mapping */
            uint64_t       bytes;  /* payload size in bytes */
        } arr;
    } v;
};

struct gguf_tensor {
    struct gguf_str name;
    uint32_t        n_dims;        /* 1..4 */
    int64_t         ne[4];         /* ne[0] contiguous; unused dims are 1 */
    uint32_t        type;          /* ggml type id (enum tl_type in format/quant.h) */
    uint64_t        offset;        /* from the start of the data section */
    uint64_t        size;          /* bytes, validated against the file */
    const void     *data;          /* into the mapping */
};

struct gguf {
    const uint8_t      *base;      /* mapping (or caller buffer) of the whole file */
    uint64_t            size;      /* bytes in the mapping */
    void               *map;       /* what gguf_close unmaps, or frees when copied (NULL for gguf_parse) */
    size_t              map_bytes;
    bool                copied;    /* the file was read into anonymous memory */
    uint32_t            version;   /* 2 or 3 */
    uint64_t            n_kv;
    struct gguf_kv     *kv;        /* n_kv entries, heap */
    uint64_t            n_tensors;
    struct gguf_tensor *tensors;   /* n_tensors entries, heap */
    uint64_t            alignment; /* general.alignment or 32 */
    uint64_t            data_off;  /* start of the data section in the file */
};

/* How gguf_open_with brings a file in. Decode reads every weight once a
 * token, and with 4 KiB pages a TLB miss comes every 4 KiB of that stream:
 * a copy on transparent huge pages decodes 3-6% faster (TinyLlama, MobileLLM
 * here), but costs 0.1-0.5 s a GB at start-up (zeroing and compacting huge
 * pages), which a short run or a shell loop of runs never wins back. A
 * mapping starts at once, shares its pages with other processes, and the
 * kernel may drop them under memory pressure and read them again. */
#define GGUF_AUTO_COPY_MAX ((uint64_t)256 << 20)
enum gguf_load {
    GGUF_LOAD_AUTO = 0,   /* COPY when transparent huge pages are on (always or
                             madvise) and the file is at most GGUF_AUTO_COPY_MAX
                             (and half the RAM): tens of milliseconds */
    GGUF_LOAD_MMAP,       /* map the file */
    GGUF_LOAD_COPY,       /* read it into anonymous memory, on huge pages if the
                             system gives them */
    GGUF_LOAD_PRIVATE,    /* COPY when the file is at most half the RAM, else
                             MMAP: for kernel sets that repack the weights at
                             load, which needs the bytes in private memory */
};

/* Bring path in as how says and validate it. On failure returns TL_E*,
 * fills *err, leaves *g zeroed. */
int gguf_open_with(struct gguf *g, const char *path, enum gguf_load how, struct tl_error *err);

/* gguf_open_with(..., GGUF_LOAD_MMAP, ...) */
int gguf_open(struct gguf *g, const char *path, struct tl_error *err);

/* Validate a file already in memory (tests, fuzzing). buf must outlive g. */
int gguf_parse(struct gguf *g, const void *buf, uint64_t size, struct tl_error *err);

/* Unmap and free; safe on a zeroed or already closed struct. */
void gguf_close(struct gguf *g);

/* Lookups by exact key/name; NULL when absent. */
const struct gguf_kv     *gguf_find(const struct gguf *g, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* Typed getters. Absent key: return TL_OK and leave *out untouched (so the
 * caller pre-sets the default), unless required. Present with a type that
 * cannot convert losslessly (string for int, negative for unsigned, out of
 * range): TL_EFORMAT with a message naming the key. Integer getters accept
 * any integer vtype; gguf_get_f32 accepts F32, F64 and integers. */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out, bool required, struct tl_error *err);
int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out, bool required, struct tl_error *err);
int gguf_get_f32(const struct gguf *g, const char *key, float *out, bool required, struct tl_error *err);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out, bool required, struct tl_error *err);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out, bool required, struct tl_error *err);

/* Array element access (kv->type == GGUF_ARRAY, index < v.arr.n, element
 * type as stated; the caller checks these). Numeric elements convert. */
double          gguf_arr_num(const struct gguf_kv *kv, uint64_t i);
/* String arrays have variable-length elements: gguf_arr_strs fills a heap
 * array of n views (caller frees). TL_EFORMAT if kv is not a string array. */
int gguf_arr_strs(const struct gguf_kv *kv, struct gguf_str **out, struct tl_error *err);

/* Byte size of one value of a fixed-size vtype (0 for STRING/ARRAY). */
size_t gguf_vtype_size(uint32_t vtype);
const char *gguf_vtype_name(uint32_t vtype);

/* 1 when the str equals the NUL-terminated s. */
int gguf_str_eq(struct gguf_str a, const char *s);

#endif
