/* test_gguf.c: the GGUF reader and writer: round trips of every value type,
 * alignment and versions; hostile files (truncated at every byte, huge
 * counts, bad offsets, shapes and types, wrong downloads) and a byte-flip
 * fuzz loop that must never crash; the model builder; the shared files. */
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "model_builder.h"
#include "format/quant.h"
#include "test.h"
#include "util/mem.h"

/* ---- helpers ---- */

/* A growing byte buffer for hand-made (often hostile) files. */
struct bb {
    uint8_t *p;
    size_t   n, cap;
};

static void bb_put(struct bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u32(struct bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(struct bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_str(struct bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_head(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_pad(struct bb *b, size_t align)
{
    while (b->n % align)
        bb_put(b, "", 1);
}

/* Parse size bytes from an exact-size heap copy, so ASan sees any read past the end. */
static int parse_copy(struct gguf *g, const void *buf, size_t size, struct tl_error *err)
{
    void *c = malloc(size ? size : 1);
    memcpy(c, buf, size);
    int rc = gguf_parse(g, c, size, err);
    if (rc == TL_OK)
        gguf_close(g);   /* callers that need the result use gguf_parse directly */
    free(c);
    return rc;
}

static int one_line(const char *s)
{
    return s[0] && !strchr(s, '\n') && !strchr(s, '\r');
}

/* buf must fail to parse with want_rc, one line mentioning `what`, *g zeroed. */
#define EXPECT_FAIL(buf, size, want_rc, what) do { \
    struct gguf g_; struct tl_error e_ = {0}; \
    memset(&g_, 0xAB, sizeof g_); \
    void *c_ = malloc((size) ? (size) : 1); memcpy(c_, (buf), (size)); \
    int rc_ = gguf_parse(&g_, c_, (size), &e_); \
    CHECK(rc_ == (want_rc), "rc %d, want %d (%s)", rc_, (want_rc), e_.msg); \
    CHECK(e_.code == rc_ && one_line(e_.msg) && strstr(e_.msg, (what)), "msg '%s' lacks '%s'", e_.msg, (what)); \
    CHECK(g_.kv == NULL && g_.tensors == NULL && g_.n_kv == 0, "struct not zeroed"); \
    if (rc_ == TL_OK) gguf_close(&g_); \
    free(c_); } while (0)

static void wr_mem(const struct gguf_writer *w, void **buf, size_t *size)
{
    struct tl_error e = {0};
    int rc = gguf_writer_write_mem(w, buf, size, &e);
    CHECK(rc == TL_OK, "write_mem: %s", e.msg);
}

/* A small file with one KV of each kind and two tensors. */
static void small_file(void **buf, size_t *size)
{
    struct gguf_writer w;
    struct tl_error e = {0};
    static const float t0[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint16_t t1[2 * 3] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};
    static const char *const strs[] = {"a", "", "ccc"};
    static const int32_t ints[] = {-1, 0, 7};
    gguf_writer_init(&w);
    gguf_writer_set_str(&w, "general.architecture", "llama", &e);
    gguf_writer_set_u32(&w, "llama.block_count", 2, &e);
    gguf_writer_set_arr_str(&w, "tokens", strs, 3, &e);
    gguf_writer_set_arr(&w, "ints", GGUF_I32, ints, 3, &e);
    gguf_writer_add_tensor(&w, "a", 1, (int64_t[]){8}, TL_F32, t0, sizeof t0, &e);
    gguf_writer_add_tensor(&w, "b", 2, (int64_t[]){2, 3}, TL_F16, t1, sizeof t1, &e);
    wr_mem(&w, buf, size);
    gguf_writer_free(&w);
}

/* Nested array payload: n arrays of u32 {k, k+1}, each as in a file. */
static void nested_payload(struct bb *b, int n)
{
    for (int k = 0; k < n; k++) {
        bb_u32(b, GGUF_U32);
        bb_u64(b, 2);
        bb_u32(b, (uint32_t)k);
        bb_u32(b, (uint32_t)k + 1);
    }
}

/* ---- round trips ---- */

/* One KV of every type into w (20 keys; "u32" set twice: the second
 * replaces the first in place). nest/deep hold the nested payloads. */
static void every_kv(struct gguf_writer *w, struct bb *nest, struct bb *deep, struct tl_error *e)
{
    static const uint8_t u8s[] = {0, 255};
    static const double f64s[] = {1.5, -2.25};
    static const char *const strs[] = {"x", "", "hello world"};
    gguf_writer_set_u8(w, "u8", 200, e);
    gguf_writer_set_i8(w, "i8", -128, e);
    gguf_writer_set_u16(w, "u16", 65535, e);
    gguf_writer_set_i16(w, "i16", -300, e);
    gguf_writer_set_u32(w, "u32", 4000000000u, e);
    gguf_writer_set_i32(w, "i32", -5, e);
    gguf_writer_set_u64(w, "u64", UINT64_MAX, e);
    gguf_writer_set_i64(w, "i64", INT64_MIN, e);
    gguf_writer_set_f32(w, "f32", 0.25f, e);
    gguf_writer_set_f64(w, "f64", 1e300, e);
    gguf_writer_set_bool(w, "bool", true, e);
    gguf_writer_set_str(w, "str", "h\xC3\xA9llo", e);
    gguf_writer_set_strn(w, "strn", "a\0b", 3, e);
    gguf_writer_set_str(w, "empty", "", e);
    gguf_writer_set_arr(w, "arr_u8", GGUF_U8, u8s, 2, e);
    gguf_writer_set_arr(w, "arr_f64", GGUF_F64, f64s, 2, e);
    gguf_writer_set_arr(w, "arr_empty", GGUF_F32, NULL, 0, e);
    gguf_writer_set_arr_str(w, "arr_str", strs, 3, e);
    nested_payload(nest, 3);
    gguf_writer_set_arr_raw(w, "nested", GGUF_ARRAY, 3, nest->p, nest->n, e);
    bb_u32(deep, GGUF_ARRAY);          /* [[[u32 x2] x3]] x1 */
    bb_u64(deep, 3);
    nested_payload(deep, 3);
    gguf_writer_set_arr_raw(w, "deep", GGUF_ARRAY, 1, deep->p, deep->n, e);
    gguf_writer_set_u32(w, "u32", 4000000001u, e);
}

static void test_kv_roundtrip(void)
{
    struct gguf_writer w;
    struct tl_error e = {0};
    struct gguf g;
    struct bb nest = {0}, deep = {0};
    void *buf;
    size_t size;
    gguf_writer_init(&w);
    every_kv(&w, &nest, &deep, &e);
    CHECK(e.code == TL_OK, "%s", e.msg);
    wr_mem(&w, &buf, &size);
    int rc = gguf_parse(&g, buf, size, &e);
    CHECK(rc == TL_OK, "%s", e.msg);
    if (rc == TL_OK) {
        CHECK(g.n_kv == 20 && g.n_tensors == 0 && g.version == 3 && g.alignment == 32, "header");
        CHECK(gguf_str_eq(g.kv[4].key, "u32") && g.kv[4].v.u == 4000000001u, "replaced u32");
        CHECK(gguf_find(&g, "u8")->v.u == 200 && gguf_find(&g, "i8")->v.i == -128, "8-bit");
        CHECK(gguf_find(&g, "u16")->v.u == 65535 && gguf_find(&g, "i16")->v.i == -300, "16-bit");
        CHECK(gguf_find(&g, "i32")->v.i == -5 && gguf_find(&g, "u64")->v.u == UINT64_MAX, "32/64");
        CHECK(gguf_find(&g, "i64")->v.i == INT64_MIN && gguf_find(&g, "f32")->v.f == 0.25, "i64/f32");
        CHECK(gguf_find(&g, "f64")->v.f == 1e300 && gguf_find(&g, "bool")->v.u == 1, "f64/bool");
        CHECK(gguf_str_eq(gguf_find(&g, "str")->v.s, "h\xC3\xA9llo"), "str");
        const struct gguf_kv *kv = gguf_find(&g, "strn");
        CHECK(kv->v.s.len == 3 && !memcmp(kv->v.s.ptr, "a\0b", 3), "strn");
        CHECK(gguf_find(&g, "empty")->v.s.len == 0 && gguf_find(&g, "absent") == NULL, "empty/absent");
        kv = gguf_find(&g, "arr_u8");
        CHECK(kv->type == GGUF_ARRAY && kv->v.arr.type == GGUF_U8 && kv->v.arr.n == 2 &&
              gguf_arr_num(kv, 1) == 255, "arr_u8");
        kv = gguf_find(&g, "arr_f64");
        CHECK(gguf_arr_num(kv, 0) == 1.5 && gguf_arr_num(kv, 1) == -2.25 && kv->v.arr.bytes == 16, "f64s");
        CHECK(gguf_find(&g, "arr_empty")->v.arr.n == 0, "arr_empty");
        struct gguf_str *s = NULL;
        kv = gguf_find(&g, "arr_str");
        rc = gguf_arr_strs(kv, &s, &e);
        CHECK(rc == TL_OK && s && gguf_str_eq(s[0], "x") && s[1].len == 0 &&
              gguf_str_eq(s[2], "hello world"), "arr_str");
        free(s);
        CHECK(gguf_arr_strs(gguf_find(&g, "arr_u8"), &s, &e) == TL_EFORMAT && s == NULL, "not strings");
        kv = gguf_find(&g, "nested");
        CHECK(kv->v.arr.type == GGUF_ARRAY && kv->v.arr.n == 3 && kv->v.arr.bytes == nest.n &&
              !memcmp(kv->v.arr.data, nest.p, nest.n), "nested");
        kv = gguf_find(&g, "deep");
        CHECK(kv->v.arr.n == 1 && kv->v.arr.bytes == deep.n, "deep");
        gguf_close(&g);
        gguf_close(&g);   /* safe twice */
    }
    mem_free_all(buf, nest.p, deep.p);
    gguf_writer_free(&w);
}

static void test_getters(void)
{
    struct gguf_writer w;
    struct tl_error e = {0};
    struct gguf g;
    void *buf;
    size_t size;
    gguf_writer_init(&w);
    gguf_writer_set_u8(&w, "small", 7, &e);
    gguf_writer_set_i32(&w, "neg", -3, &e);
    gguf_writer_set_u64(&w, "big", 1ull << 40, &e);
    gguf_writer_set_str(&w, "name", "tiny", &e);
    gguf_writer_set_f64(&w, "huge", 1e300, &e);
    gguf_writer_set_f32(&w, "eps", 1e-5f, &e);
    gguf_writer_set_bool(&w, "flag", true, &e);
    gguf_writer_set_i16(&w, "one", 1, &e);
    wr_mem(&w, &buf, &size);
    CHECK(gguf_parse(&g, buf, size, &e) == TL_OK, "%s", e.msg);
    uint32_t u = 99;
    int32_t i = 99;
    float f = 0;
    bool b = false;
    struct gguf_str s = {0};
    CHECK(gguf_get_u32(&g, "small", &u, true, &e) == TL_OK && u == 7, "u32 from u8");
    CHECK(gguf_get_i32(&g, "neg", &i, true, &e) == TL_OK && i == -3, "i32");
    u = 99;
    CHECK(gguf_get_u32(&g, "absent", &u, false, &e) == TL_OK && u == 99, "absent keeps default");
    e.msg[0] = 0;
    CHECK(gguf_get_u32(&g, "absent", &u, true, &e) == TL_EFORMAT && strstr(e.msg, "'absent'"), "required");
    CHECK(gguf_get_u32(&g, "name", &u, false, &e) == TL_EFORMAT && strstr(e.msg, "'name'") &&
          strstr(e.msg, "string") && u == 99, "u32 on a string: %s", e.msg);
    CHECK(gguf_get_u32(&g, "neg", &u, false, &e) == TL_EFORMAT && strstr(e.msg, "'neg'") && u == 99,
          "negative into u32: %s", e.msg);
    CHECK(gguf_get_u32(&g, "big", &u, false, &e) == TL_EFORMAT, "2^40 into u32");
    CHECK(gguf_get_i32(&g, "big", &i, false, &e) == TL_EFORMAT && i == -3, "2^40 into i32");
    CHECK(gguf_get_u32(&g, "eps", &u, false, &e) == TL_EFORMAT, "float into u32");
    CHECK(gguf_get_f32(&g, "eps", &f, true, &e) == TL_OK && f == 1e-5f, "f32");
    CHECK(gguf_get_f32(&g, "small", &f, true, &e) == TL_OK && f == 7.0f, "f32 from int");
    CHECK(gguf_get_f32(&g, "neg", &f, true, &e) == TL_OK && f == -3.0f, "f32 from negative int");
    CHECK(gguf_get_f32(&g, "huge", &f, true, &e) == TL_EFORMAT && strstr(e.msg, "'huge'"), "1e300");
    CHECK(gguf_get_f32(&g, "name", &f, true, &e) == TL_EFORMAT, "f32 from string");
    CHECK(gguf_get_bool(&g, "flag", &b, true, &e) == TL_OK && b, "bool");
    b = false;
    CHECK(gguf_get_bool(&g, "one", &b, true, &e) == TL_OK && b, "bool from 1");
    CHECK(gguf_get_bool(&g, "neg", &b, true, &e) == TL_EFORMAT, "bool from -3");
    CHECK(gguf_get_bool(&g, "name", &b, true, &e) == TL_EFORMAT, "bool from string");
    CHECK(gguf_get_str(&g, "name", &s, true, &e) == TL_OK && gguf_str_eq(s, "tiny"), "str");
    CHECK(gguf_get_str(&g, "small", &s, true, &e) == TL_EFORMAT && strstr(e.msg, "'small'"), "str from u8");
    CHECK(!strcmp(gguf_vtype_name(GGUF_F64), "f64") && !strcmp(gguf_vtype_name(99), "unknown") &&
          gguf_vtype_size(GGUF_U16) == 2 && gguf_vtype_size(GGUF_STRING) == 0 && gguf_vtype_size(77) == 0,
          "vtype helpers");
    gguf_close(&g);
    free(buf);
    gguf_writer_free(&w);
}

static void test_tensors_and_alignment(void)
{
    static const uint32_t aligns[] = {0, 1, 8, 64, 4096};
    uint8_t data[4096];
    for (int i = 0; i < (int)sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
        struct gguf_writer w;
        struct tl_error e = {0};
        struct gguf g;
        void *buf;
        size_t size;
        gguf_writer_init(&w);
        if (aligns[a])
            gguf_writer_set_u32(&w, "general.alignment", aligns[a], &e);
        gguf_writer_add_tensor(&w, "f32.1d", 1, (int64_t[]){3}, TL_F32, data, 12, &e);
        gguf_writer_add_tensor(&w, "q4_0.2d", 2, (int64_t[]){64, 2}, TL_Q4_0, data, 4 * 18, &e);
        gguf_writer_add_tensor(&w, "q8_0.3d", 3, (int64_t[]){32, 1, 3}, TL_Q8_0, data, 3 * 34, &e);
        gguf_writer_add_tensor(&w, "iq2_xxs.4d", 4, (int64_t[]){256, 1, 1, 2}, TL_IQ2_XXS, data, 2 * 66, &e);
        CHECK(e.code == TL_OK, "%s", e.msg);
        wr_mem(&w, &buf, &size);
        uint64_t want = aligns[a] ? aligns[a] : 32;
        int rc = gguf_parse(&g, buf, size, &e);
        CHECK(rc == TL_OK, "align %u: %s", aligns[a], e.msg);
        if (rc == TL_OK) {
            CHECK(g.alignment == want && g.data_off % want == 0 && g.n_tensors == 4, "align %u", aligns[a]);
            for (uint64_t t = 0; t < g.n_tensors; t++) {
                const struct gguf_tensor *ti = &g.tensors[t];
                CHECK(ti->offset % want == 0 && (const uint8_t *)ti->data == g.base + g.data_off + ti->offset &&
                      !memcmp(ti->data, data, ti->size), "tensor %llu", (unsigned long long)t);
            }
            const struct gguf_tensor *t = gguf_find_tensor(&g, "q8_0.3d");
            CHECK(t && t->n_dims == 3 && t->ne[0] == 32 && t->ne[1] == 1 && t->ne[2] == 3 && t->ne[3] == 1 &&
                  t->type == TL_Q8_0 && t->size == 102, "q8_0 tensor");
            t = gguf_find_tensor(&g, "iq2_xxs.4d");
            CHECK(t && t->type == TL_IQ2_XXS && t->size == 132, "IQ tensors parse");
            CHECK(gguf_find_tensor(&g, "q8_0") == NULL, "prefix is not a match");
            gguf_close(&g);
        }
        free(buf);
        gguf_writer_free(&w);
    }
}

/* Same bytes with version 2: parses; other versions are refused by name. */
static void test_versions(void)
{
    void *buf;
    size_t size;
    small_file(&buf, &size);
    uint8_t *p = buf;
    struct gguf g;
    struct tl_error e = {0};
    p[4] = 2;
    CHECK(gguf_parse(&g, buf, size, &e) == TL_OK && g.version == 2, "v2: %s", e.msg);
    gguf_close(&g);
    p[4] = 1;
    EXPECT_FAIL(buf, size, TL_EUNSUPPORTED, "v1");
    p[4] = 4;
    EXPECT_FAIL(buf, size, TL_EUNSUPPORTED, "version 4");
    p[4] = 0;
    p[7] = 3;
    EXPECT_FAIL(buf, size, TL_EUNSUPPORTED, "big-endian");
    free(buf);
}

/* ---- hostile files ---- */

/* Every prefix of a valid file shorter than its last tensor's end fails
 * cleanly; from there on (only padding missing) it parses. */
static void test_truncated_everywhere(void)
{
    void *buf;
    size_t size;
    struct gguf g;
    struct tl_error e = {0};
    small_file(&buf, &size);
    CHECK(gguf_parse(&g, buf, size, &e) == TL_OK, "%s", e.msg);
    const struct gguf_tensor *last = &g.tensors[g.n_tensors - 1];
    uint64_t need = g.data_off + last->offset + last->size;
    gguf_close(&g);
    int bad = 0;
    for (size_t len = 0; len <= size; len++) {
        e.msg[0] = 0;
        int rc = parse_copy(&g, buf, len, &e);
        int ok = len >= need ? rc == TL_OK
                             : rc == TL_EFORMAT && one_line(e.msg) &&
                               (strstr(e.msg, "truncated") || strstr(e.msg, "corrupt") ||
                                strstr(e.msg, "not a GGUF") || strstr(e.msg, "empty"));
        if (!ok && bad++ < 5)
            CHECK(0, "len %zu of %zu: rc %d '%s'", len, size, rc, e.msg);
    }
    CHECK(bad == 0, "%d bad prefixes", bad);
    /* The data-section shortfall names both sizes. */
    char want[96];
    snprintf(want, sizeof want, "truncated: %llu bytes present, the tensors need %llu",
             (unsigned long long)(need - 1), (unsigned long long)need);
    EXPECT_FAIL(buf, need - 1, TL_EFORMAT, want);
    free(buf);
}

static void test_huge_counts(void)
{
    struct bb b = {0};
    bb_head(&b, 3, 0, 1ull << 63);                /* n_kv = 2^63 */
    bb_str(&b, "k");
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "corrupt");
    b.n = 0;
    bb_head(&b, 3, UINT64_MAX, 0);                /* n_tensors = 2^64-1 */
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "corrupt");
    b.n = 0;
    bb_head(&b, 3, 0, 1);
    bb_u64(&b, UINT64_MAX);                        /* key length 2^64-1 */
    bb_put(&b, "abcdefghijklmnop", 16);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "more than the whole file");
    b.n = 0;
    bb_head(&b, 3, 0, 1);
    bb_str(&b, "s");
    bb_u32(&b, GGUF_STRING);
    bb_u64(&b, UINT64_MAX - 3);                    /* string value length */
    bb_put(&b, "abcdefghijklmnop", 16);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "'s'");
    static const uint32_t elem[] = {GGUF_U64, GGUF_STRING, GGUF_ARRAY};
    for (int k = 0; k < 3; k++) {                  /* array counts */
        b.n = 0;
        bb_head(&b, 3, 0, 1);
        bb_str(&b, "arr");
        bb_u32(&b, GGUF_ARRAY);
        bb_u32(&b, elem[k]);
        bb_u64(&b, (1ull << 62) + 1);
        bb_put(&b, "abcdefghijklmnop", 16);
        EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "'arr'");
    }
    free(b.p);
}

static void test_bad_values(void)
{
    struct bb b = {0};
    bb_head(&b, 3, 0, 1);                          /* unknown value type */
    bb_str(&b, "weird");
    bb_u32(&b, 13);
    bb_u64(&b, 0);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "unknown value type 13");
    b.n = 0;
    bb_head(&b, 3, 0, 1);                          /* unknown array element type */
    bb_str(&b, "weird");
    bb_u32(&b, GGUF_ARRAY);
    bb_u32(&b, 0xFFFF);
    bb_u64(&b, 1);
    bb_u64(&b, 0);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "unknown value type 65535");
    b.n = 0;                                       /* 20 levels of nesting */
    bb_head(&b, 3, 0, 1);
    bb_str(&b, "deep");
    bb_u32(&b, GGUF_ARRAY);
    for (int d = 0; d < 20; d++) {
        bb_u32(&b, GGUF_ARRAY);
        bb_u64(&b, 1);
    }
    bb_u32(&b, GGUF_U8);
    bb_u64(&b, 0);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "deeper");
    b.n = 0;                                       /* bad nested element */
    bb_head(&b, 3, 0, 1);
    bb_str(&b, "nest");
    bb_u32(&b, GGUF_ARRAY);
    bb_u32(&b, GGUF_ARRAY);
    bb_u64(&b, 1);
    bb_u32(&b, GGUF_STRING);
    bb_u64(&b, 1);
    bb_u64(&b, 1000);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "'nest'");
    b.n = 0;                                       /* duplicate keys */
    bb_head(&b, 3, 0, 2);
    for (int k = 0; k < 2; k++) {
        bb_str(&b, "dup.key");
        bb_u32(&b, GGUF_U8);
        bb_put(&b, "x", 1);
    }
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "duplicate key 'dup.key'");
    static const uint32_t aligns[] = {0, 3, 48, 1u << 30};
    for (int k = 0; k < 4; k++) {                  /* bad general.alignment */
        b.n = 0;
        bb_head(&b, 3, 0, 1);
        bb_str(&b, "general.alignment");
        bb_u32(&b, GGUF_U32);
        bb_u32(&b, aligns[k]);
        EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "general.alignment");
    }
    b.n = 0;
    bb_head(&b, 3, 0, 1);
    bb_str(&b, "general.alignment");
    bb_u32(&b, GGUF_STRING);
    bb_str(&b, "32");
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "general.alignment");
    free(b.p);
}

/* One tensor info (with 64 zero data bytes after the padding). */
static void one_tensor(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset)
{
    b->n = 0;
    bb_head(b, 3, 1, 0);
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
    bb_pad(b, 32);
    for (int i = 0; i < 64; i++)
        bb_put(b, "", 1);
}

static void test_bad_tensors(void)
{
    static const struct {
        const char *name;
        uint32_t    n_dims, type;
        uint64_t    ne[5], offset;
        int         rc;
        const char *what;
    } cases[] = {
        {"w", 1, TL_F32, {16}, 1ull << 40, TL_EFORMAT, "past the end"},
        {"w", 1, TL_F32, {16}, UINT64_MAX - 31, TL_EFORMAT, "'w'"},
        {"w", 1, TL_F32, {16}, 32, TL_EFORMAT, "the tensors need"},
        {"w", 1, TL_F32, {4}, 4, TL_EFORMAT, "not a multiple of the alignment"},
        {"w", 2, TL_F32, {1ull << 32, 1ull << 32}, 0, TL_EFORMAT, "overflows"},
        {"w", 4, TL_I8, {1ull << 20, 1ull << 20, 1ull << 20, 1ull << 20}, 0, TL_EFORMAT, "overflows"},
        {"w", 1, 99, {16}, 0, TL_EFORMAT, "unknown ggml type id 99"},
        {"w", 1, 4, {16}, 0, TL_EUNSUPPORTED, "unknown ggml type id 4"},   /* a removed ggml type */
        {"w", 0, TL_F32, {0}, 0, TL_EFORMAT, "0 dimensions"},
        {"w", 5, TL_F32, {1, 1, 1, 1, 1}, 0, TL_EFORMAT, "5 dimensions"},
        {"w", 2, TL_F32, {4, 0}, 0, TL_EFORMAT, "zero"},
        {"w", 2, TL_F32, {4, (uint64_t)-2}, 0, TL_EFORMAT, "negative"},
        {"w", 1, TL_Q4_0, {33}, 0, TL_EFORMAT, "not a multiple of the q4_0 block"},
        {"bad\nname", 1, 99, {16}, 0, TL_EFORMAT, "'bad?name'"},
    };
    struct bb b = {0};
    struct gguf g;
    struct tl_error e = {0};
    one_tensor(&b, "ok", 1, (uint64_t[]){16}, TL_F32, 0);
    CHECK(parse_copy(&g, b.p, b.n, &e) == TL_OK, "baseline: %s", e.msg);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        one_tensor(&b, cases[i].name, cases[i].n_dims, cases[i].ne, cases[i].type, cases[i].offset);
        EXPECT_FAIL(b.p, b.n, cases[i].rc, cases[i].what);
    }
    b.n = 0;                                        /* duplicate names */
    bb_head(&b, 3, 2, 0);
    for (int k = 0; k < 2; k++) {
        bb_str(&b, "same");
        bb_u32(&b, 1);
        bb_u64(&b, 8);
        bb_u32(&b, TL_F32);
        bb_u64(&b, 0);
    }
    bb_pad(&b, 32);
    bb_put(&b, "0123456789abcdef0123456789abcdef", 32);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "duplicate tensor name 'same'");
    free(b.p);
}

/* Tensor infos with the given offsets and sizes (F32 vectors of size / 4),
 * then the padding and data bytes. */
static void tensors_at(struct bb *b, int n, const uint64_t *offset, const uint64_t *bytes, uint64_t data_bytes)
{
    b->n = 0;
    bb_head(b, 3, (uint64_t)n, 0);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        bb_str(b, name);
        bb_u32(b, 1);
        bb_u64(b, bytes[i] / 4);
        bb_u32(b, TL_F32);
        bb_u64(b, offset[i]);
    }
    bb_pad(b, 32);
    for (uint64_t i = 0; i < data_bytes; i++)
        bb_put(b, "\x5a", 1);
}

/* Tensors whose data ranges overlap are refused, naming both; ranges that
 * only touch, in any order, are fine. */
static void test_overlapping_tensors(void)
{
    struct bb b = {0};
    struct gguf g;
    struct tl_error e = {0};
    tensors_at(&b, 3, (uint64_t[]){64, 0, 128}, (uint64_t[]){64, 64, 32}, 160);
    CHECK(parse_copy(&g, b.p, b.n, &e) == TL_OK, "touching ranges out of order: %s", e.msg);
    tensors_at(&b, 3, (uint64_t[]){64, 0, 96}, (uint64_t[]){64, 64, 32}, 160);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "tensors 't0' and 't2' overlap");
    tensors_at(&b, 2, (uint64_t[]){0, 0}, (uint64_t[]){32, 32}, 64);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "tensors 't0' and 't1' overlap");
    tensors_at(&b, 3, (uint64_t[]){0, 64, 32}, (uint64_t[]){256, 32, 32}, 256);   /* one holds two */
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "overlap");
    free(b.p);
}

/* A download cut in the data section says so, with the bytes present and
 * the bytes the tensors need, even when later tensors start past the cut;
 * an offset far beyond a file whose tensors leave gaps is still corrupt. */
static void test_cut_download(void)
{
    struct bb b = {0};
    uint64_t off[4] = {0, 4096, 8192, 12288}, sz[4] = {4096, 4096, 4096, 4096};
    tensors_at(&b, 4, off, sz, 16384);
    size_t data_off = b.n - 16384, cut = data_off + 5000;
    struct gguf g;
    struct tl_error e = {0};
    CHECK(parse_copy(&g, b.p, b.n, &e) == TL_OK, "whole: %s", e.msg);
    char want[160];
    snprintf(want, sizeof want, "is truncated: %zu bytes present, the tensors need %zu (an interrupted download?)",
             cut, b.n);
    EXPECT_FAIL(b.p, cut, TL_EFORMAT, want);
    off[3] = 1ull << 40;   /* a gap: not what a writer makes */
    tensors_at(&b, 4, off, sz, 16384);
    EXPECT_FAIL(b.p, b.n, TL_EFORMAT, "corrupt: tensor 't3' offset 1099511627776 is past the end");
    free(b.p);
}

static void test_wrong_files(void)
{
    static const char html[] = "\n  <!DOCTYPE html><html><head><title>404</title></head></html>";
    static const char html2[] = "<HTML><body>x</body></HTML>";
    static const char lfs[] =
        "version https://git-lfs.github.com/spec/v1\noid sha256:0123abcd\nsize 668788096\n";
    static const uint8_t bin[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ggjt[] = {'t', 'j', 'g', 'g', 3, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_FAIL(html, sizeof html - 1, TL_EFORMAT, "looks like an HTML page, not a GGUF file (a failed download?)");
    EXPECT_FAIL(html2, sizeof html2 - 1, TL_EFORMAT, "HTML page");
    EXPECT_FAIL(lfs, sizeof lfs - 1, TL_EFORMAT, "is a git-LFS pointer, not the model: fetch the real file");
    EXPECT_FAIL(bin, sizeof bin, TL_EFORMAT, "bad magic 7f 45 4c 46");
    EXPECT_FAIL(ggjt, sizeof ggjt, TL_EUNSUPPORTED, "pre-GGUF");
    EXPECT_FAIL("GGU", 3, TL_EFORMAT, "<memory>");
    EXPECT_FAIL("", 0, TL_EFORMAT, "empty");
    EXPECT_FAIL("Entry not found", 15, TL_EFORMAT, "text file");

    /* Through gguf_open the message names the path. */
    char path[512];
    struct gguf g;
    struct tl_error e = {0};
    snprintf(path, sizeof path, "%s/page.gguf", test_tmpdir());
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f)
        return;
    fwrite(html, 1, sizeof html - 1, f);
    fclose(f);
    CHECK(gguf_open(&g, path, &e) == TL_EFORMAT && strstr(e.msg, path) && strstr(e.msg, "HTML"), "%s", e.msg);
    CHECK(g.base == NULL && g.kv == NULL, "zeroed after a failed open");
    CHECK(gguf_open_with(&g, path, GGUF_LOAD_COPY, &e) == TL_EFORMAT && strstr(e.msg, "HTML") && g.map == NULL,
          "a copy refused the same way: %s", e.msg);
    CHECK(gguf_open(&g, test_tmpdir(), &e) == TL_EIO && strstr(e.msg, "directory"), "%s", e.msg);
    snprintf(path, sizeof path, "%s/absent.gguf", test_tmpdir());
    CHECK(gguf_open(&g, path, &e) == TL_EIO && strstr(e.msg, path), "%s", e.msg);
    snprintf(path, sizeof path, "%s/empty.gguf", test_tmpdir());
    f = fopen(path, "wb");
    if (f)
        fclose(f);
    CHECK(gguf_open(&g, path, &e) == TL_EFORMAT && strstr(e.msg, "empty"), "%s", e.msg);
}

static uint64_t fuzz_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Touch everything a parsed file exposes, so ASan checks its bounds. */
static unsigned walk(const struct gguf *g)
{
    unsigned sum = 0;
    struct tl_error e;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct gguf_kv *kv = &g->kv[i];
        sum += kv->key.len ? (unsigned char)kv->key.ptr[kv->key.len - 1] : 0;
        if (kv->type == GGUF_STRING && kv->v.s.len)
            sum += (unsigned char)kv->v.s.ptr[kv->v.s.len - 1];
        if (kv->type != GGUF_ARRAY)
            continue;
        if (kv->v.arr.bytes)
            sum += kv->v.arr.data[kv->v.arr.bytes - 1];
        struct gguf_str *s = NULL;
        if (kv->v.arr.type == GGUF_STRING && gguf_arr_strs(kv, &s, &e) == TL_OK) {
            for (uint64_t k = 0; k < kv->v.arr.n; k++)
                sum += s[k].len ? (unsigned char)s[k].ptr[s[k].len - 1] : 0;
        } else if (gguf_vtype_size(kv->v.arr.type)) {
            for (uint64_t k = 0; k < kv->v.arr.n; k++)
                sum += (unsigned)gguf_arr_num(kv, k) & 1;
        }
        free(s);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const uint8_t *d = g->tensors[i].data;
        sum += d[0] + d[g->tensors[i].size - 1];
        if (g->tensors[i].name.len)
            sum += (unsigned char)g->tensors[i].name.ptr[g->tensors[i].name.len - 1];
    }
    return sum;
}

static void test_fuzz(void)
{
    struct gguf_writer w;
    struct tl_error e = {0};
    struct bb nest = {0};
    void *buf;
    size_t size;
    static const char *const strs[] = {"<s>", "ab", "", "xyz"};
    static const float fl[] = {1.0f, -2.0f, 3.5f};
    uint8_t data[256] = {0};
    gguf_writer_init(&w);
    gguf_writer_set_str(&w, "general.architecture", "llama", &e);
    gguf_writer_set_u32(&w, "general.alignment", 16, &e);
    gguf_writer_set_arr_str(&w, "tokenizer.ggml.tokens", strs, 4, &e);
    gguf_writer_set_arr(&w, "tokenizer.ggml.scores", GGUF_F32, fl, 3, &e);
    nested_payload(&nest, 2);
    gguf_writer_set_arr_raw(&w, "nested", GGUF_ARRAY, 2, nest.p, nest.n, &e);
    gguf_writer_set_bool(&w, "flag", true, &e);
    gguf_writer_add_tensor(&w, "t0", 2, (int64_t[]){32, 2}, TL_Q8_0, data, 68, &e);
    gguf_writer_add_tensor(&w, "t1", 1, (int64_t[]){8}, TL_F32, data, 32, &e);
    wr_mem(&w, &buf, &size);
    gguf_writer_free(&w);
    free(nest.p);
    uint64_t s = 0x1234567887654321ull;
    int n_ok = 0;
    uint8_t *c = malloc(size);
    for (int it = 0; it < 4000; it++) {
        size_t len = size - (it % 4 == 3 ? fuzz_rng(&s) % size : 0);
        memcpy(c, buf, len);
        int flips = 1 + (int)(fuzz_rng(&s) % 4);
        for (int k = 0; k < flips && len; k++) {
            /* Mostly hit the header region, where the structure lives. */
            size_t pos = fuzz_rng(&s) % (it % 2 ? len : (len < 400 ? len : 400));
            c[pos] ^= (uint8_t)(1u << (fuzz_rng(&s) % 8));
            if (fuzz_rng(&s) % 3 == 0)
                c[pos] = (uint8_t)fuzz_rng(&s);
        }
        /* An exact-size copy, so reads past len are caught. */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, c, len);
        struct gguf g;
        e.msg[0] = 0;
        int rc = gguf_parse(&g, exact, len, &e);
        if (rc == TL_OK) {
            n_ok++;
            (void)walk(&g);
            gguf_close(&g);
        } else {
            CHECK(one_line(e.msg) && rc == e.code, "iteration %d: rc %d '%s'", it, rc, e.msg);
        }
        free(exact);
    }
    CHECK(n_ok > 0 && n_ok < 4000, "%d of 4000 mutants parsed", n_ok);
    free(c);
    free(buf);
}

/* ---- the writer ---- */

static void test_writer_errors(void)
{
    struct gguf_writer w;
    struct tl_error e = {0};
    float x[64] = {0};
    void *buf = NULL;
    size_t size = 0;
    gguf_writer_init(&w);
    CHECK(gguf_writer_add_tensor(&w, "a", 1, (int64_t[]){8}, TL_F32, x, 31, &e) == TL_EINVAL &&
          strstr(e.msg, "'a'"), "size mismatch: %s", e.msg);
    CHECK(gguf_writer_add_tensor(&w, "a", 0, (int64_t[]){8}, TL_F32, x, 32, &e) == TL_EINVAL, "0 dims");
    CHECK(gguf_writer_add_tensor(&w, "a", 5, (int64_t[]){8, 1, 1, 1, 1}, TL_F32, x, 32, &e) == TL_EINVAL, "5 dims");
    CHECK(gguf_writer_add_tensor(&w, "a", 2, (int64_t[]){8, 0}, TL_F32, x, 0, &e) == TL_EINVAL, "zero dim");
    CHECK(gguf_writer_add_tensor(&w, "a", 1, (int64_t[]){8}, 99, x, 32, &e) == TL_EINVAL, "bad type");
    CHECK(gguf_writer_add_tensor(&w, "a", 1, (int64_t[]){16}, TL_Q8_0, x, 17, &e) == TL_EINVAL &&
          strstr(e.msg, "q8_0"), "row not a block multiple: %s", e.msg);
    CHECK(gguf_writer_add_tensor(&w, "a", 1, (int64_t[]){8}, TL_F32, x, 32, &e) == TL_OK, "%s", e.msg);
    CHECK(gguf_writer_add_tensor(&w, "a", 1, (int64_t[]){8}, TL_F32, x, 32, &e) == TL_EINVAL &&
          strstr(e.msg, "duplicate"), "duplicate tensor");
    CHECK(gguf_writer_set_arr(&w, "s", GGUF_STRING, x, 1, &e) == TL_EINVAL, "string elements via set_arr");
    gguf_writer_set_u32(&w, "general.alignment", 24, &e);
    CHECK(gguf_writer_write_mem(&w, &buf, &size, &e) == TL_EINVAL && buf == NULL && size == 0, "bad alignment");
    gguf_writer_set_str(&w, "general.alignment", "32", &e);
    CHECK(gguf_writer_write_mem(&w, &buf, &size, &e) == TL_EINVAL, "string alignment");
    gguf_writer_set_u32(&w, "general.alignment", 32, &e);
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", test_tmpdir());
    CHECK(gguf_writer_write_file(&w, path, &e) == TL_EIO && strstr(e.msg, "x.gguf.tmp"), "%s", e.msg);
    gguf_writer_free(&w);
    gguf_writer_free(&w);
}

static int fill_fail(void *ctx, void *dst, uint64_t size, struct tl_error *err)
{
    return tl_fail(err, TL_EIO, "fill failed for %s", (const char *)ctx);
}

static int fill_seq(void *ctx, void *dst, uint64_t size, struct tl_error *err)
{
    for (uint64_t i = 0; i < size; i++)
        ((uint8_t *)dst)[i] = (uint8_t)(i + *(const int *)ctx);
    return TL_OK;
}

/* File and memory output are the same bytes; fill functions feed both;
 * a failed write leaves neither the file nor PATH.tmp. */
static void test_write_file(void)
{
    struct gguf_writer w;
    struct tl_error e = {0};
    struct gguf g;
    char path[512], tmp[520];
    void *buf = NULL;
    size_t size = 0;
    int base = 5;
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    snprintf(path, sizeof path, "%s/w.gguf", test_tmpdir());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    gguf_writer_init(&w);
    gguf_writer_set_str(&w, "general.name", "w", &e);
    gguf_writer_add_tensor(&w, "x", 1, (int64_t[]){8}, TL_F32, x, sizeof x, &e);
    gguf_writer_add_tensor_fill(&w, "seq", 2, (int64_t[]){32, 3}, TL_Q8_0, fill_seq, &base, &e);
    CHECK(gguf_writer_write_file(&w, path, &e) == TL_OK, "%s", e.msg);
    wr_mem(&w, &buf, &size);
    struct stat st;
    CHECK(stat(tmp, &st) != 0, "PATH.tmp left behind");
    int rc = gguf_open(&g, path, &e);
    CHECK(rc == TL_OK && g.map != NULL && !g.copied && g.size == size && !memcmp(g.base, buf, size), "file = mem: %s", e.msg);
    if (rc == TL_OK) {
        const struct gguf_tensor *t = gguf_find_tensor(&g, "seq");
        CHECK(t && t->size == 102 && ((const uint8_t *)t->data)[101] == (uint8_t)(101 + base), "fill data");
        gguf_close(&g);
        CHECK(g.base == NULL && g.map == NULL, "closed");
    }
    /* read into memory (on huge pages where the system gives them): the
     * same bytes, starting on a 2 MiB boundary */
    rc = gguf_open_with(&g, path, GGUF_LOAD_COPY, &e);
    CHECK(rc == TL_OK && g.copied && g.size == size && !memcmp(g.base, buf, size) &&
          (uintptr_t)g.base % (2u << 20) == 0, "copy = mem: %s", e.msg);
    if (rc == TL_OK) {
        const struct gguf_tensor *t = gguf_find_tensor(&g, "seq");
        CHECK(t && ((const uint8_t *)t->data)[101] == (uint8_t)(101 + base), "copied fill data");
        gguf_close(&g);
    }
    CHECK(gguf_open_with(&g, path, GGUF_LOAD_AUTO, &e) == TL_OK && g.size == size, "auto: %s", e.msg);
    gguf_close(&g);
    gguf_writer_add_tensor_fill(&w, "bad", 1, (int64_t[]){4}, TL_F32, fill_fail, "bad", &e);
    snprintf(path, sizeof path, "%s/fail.gguf", test_tmpdir());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(gguf_writer_write_file(&w, path, &e) == TL_EIO && strstr(e.msg, "fill failed"), "%s", e.msg);
    CHECK(stat(path, &st) != 0 && stat(tmp, &st) != 0, "failed write left files");
    free(buf);
    gguf_writer_free(&w);
}

/* Every KV of a parsed file copied into a new writer comes back identical. */
static void test_copy_kv(void)
{
    struct gguf_writer w, w2;
    struct tl_error e = {0};
    struct gguf g;
    struct bb nest = {0}, deep = {0};
    void *buf, *buf2;
    size_t size, size2;
    gguf_writer_init(&w);
    gguf_writer_init(&w2);
    every_kv(&w, &nest, &deep, &e);
    wr_mem(&w, &buf, &size);
    CHECK(gguf_parse(&g, buf, size, &e) == TL_OK, "%s", e.msg);
    for (uint64_t i = 0; i < g.n_kv; i++)
        CHECK(gguf_writer_copy_kv(&w2, &g.kv[i], &e) == TL_OK, "%s", e.msg);
    wr_mem(&w2, &buf2, &size2);
    CHECK(size2 == size && !memcmp(buf, buf2, size), "copied file differs");
    gguf_writer_set_u8(&w2, "u8", 9, &e);      /* override after copying, order kept */
    CHECK(w2.n_kv == 20 && !strcmp(w2.kv[0].key, "u8") && w2.kv[0].val[0] == 9, "override");
    gguf_close(&g);
    mem_free_all(buf, buf2, nest.p, deep.p);
    gguf_writer_free(&w);
    gguf_writer_free(&w2);
}

/* ---- the model builder ---- */

static void small_config(struct model_builder_config *c)
{
    model_builder_defaults(c);
    c->n_vocab = 300;
    c->n_embd = 64;
    c->n_ff = 96;
    c->n_ctx = 64;
}

/* Mean and standard deviation of an F32 tensor. */
static void stats(const struct gguf_tensor *t, double *mean, double *sd)
{
    const float *x = t->data;
    int64_t n = t->ne[0] * t->ne[1];
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}

static void test_model_builder(void)
{
    struct model_builder_config c;
    struct tl_error e = {0};
    struct gguf g;
    void *buf, *buf2;
    size_t size, size2;
    small_config(&c);
    CHECK(model_builder_write_mem(&c, &buf, &size, &e) == TL_OK, "%s", e.msg);
    CHECK(model_builder_write_mem(&c, &buf2, &size2, &e) == TL_OK, "%s", e.msg);
    CHECK(size == size2 && !memcmp(buf, buf2, size), "not deterministic");
    free(buf2);
    int rc = gguf_parse(&g, buf, size, &e);
    CHECK(rc == TL_OK, "%s", e.msg);
    if (rc != TL_OK)
        return;
    uint32_t u = 0;
    float f = 0;
    bool b = false;
    struct gguf_str s;
    CHECK(gguf_get_str(&g, "general.architecture", &s, true, &e) == TL_OK && gguf_str_eq(s, "llama"), "arch");
    CHECK(gguf_get_u32(&g, "llama.embedding_length", &u, true, &e) == TL_OK && u == 64, "n_embd");
    CHECK(gguf_get_u32(&g, "llama.block_count", &u, true, &e) == TL_OK && u == 2, "n_layer");
    CHECK(gguf_get_u32(&g, "llama.attention.head_count_kv", &u, true, &e) == TL_OK && u == 2, "n_head_kv");
    CHECK(gguf_get_u32(&g, "llama.rope.dimension_count", &u, true, &e) == TL_OK && u == 16, "rope dims");
    CHECK(gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &f, true, &e) == TL_OK && f == 1e-5f, "eps");
    CHECK(gguf_get_f32(&g, "llama.rope.freq_base", &f, true, &e) == TL_OK && f == 10000.0f, "rope base");
    CHECK(gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &b, true, &e) == TL_OK && b, "add_bos");
    CHECK(gguf_get_u32(&g, "tokenizer.ggml.eos_token_id", &u, true, &e) == TL_OK && u == 2, "eos");
    const struct gguf_kv *tok = gguf_find(&g, "tokenizer.ggml.tokens");
    const struct gguf_kv *type = gguf_find(&g, "tokenizer.ggml.token_type");
    struct gguf_str *t = NULL;
    CHECK(tok && type && gguf_arr_strs(tok, &t, &e) == TL_OK && tok->v.arr.n == 300 && type->v.arr.n == 300,
          "vocab arrays");
    if (t) {
        CHECK(gguf_str_eq(t[0], "<unk>") && gguf_str_eq(t[1], "<s>") && gguf_str_eq(t[2], "</s>") &&
              gguf_str_eq(t[3], "<0x00>") && gguf_str_eq(t[258], "<0xFF>") && gguf_str_eq(t[259], "\xE2\x96\x81"),
              "special and byte tokens");
        CHECK(gguf_arr_num(type, 0) == 2 && gguf_arr_num(type, 1) == 3 && gguf_arr_num(type, 3) == 6 &&
              gguf_arr_num(type, 258) == 6 && gguf_arr_num(type, 259) == 1, "token types");
        int dup = 0;
        for (int i = 0; i < 300; i++)
            for (int j = i + 1; j < 300; j++)
                dup += t[i].len == t[j].len && !memcmp(t[i].ptr, t[j].ptr, t[i].len);
        CHECK(dup == 0, "%d duplicate tokens", dup);
        free(t);
    }
    CHECK(g.n_tensors == 3 + 9 * 2, "%llu tensors", (unsigned long long)g.n_tensors);
    const struct gguf_tensor *k = gguf_find_tensor(&g, "blk.1.attn_k.weight");
    const struct gguf_tensor *d = gguf_find_tensor(&g, "blk.0.ffn_down.weight");
    const struct gguf_tensor *n = gguf_find_tensor(&g, "blk.0.attn_norm.weight");
    const struct gguf_tensor *emb = gguf_find_tensor(&g, "token_embd.weight");
    CHECK(k && k->ne[0] == 64 && k->ne[1] == 32 && k->type == TL_F32, "attn_k shape");
    CHECK(d && d->ne[0] == 96 && d->ne[1] == 64, "ffn_down shape");
    CHECK(gguf_find_tensor(&g, "output.weight") && gguf_find_tensor(&g, "output_norm.weight"), "output");
    double mean, sd;
    if (n && n->n_dims == 1 && n->type == TL_F32) {
        stats(n, &mean, &sd);
        CHECK(fabs(mean - 1) < 0.01 && sd > 0.01 && sd < 0.03, "norm mean %g sd %g", mean, sd);
    }
    if (emb && emb->type == TL_F32) {
        stats(emb, &mean, &sd);
        CHECK(fabs(mean) < 0.002 && sd > 0.019 && sd < 0.021, "weights mean %g sd %g", mean, sd);
    }
    gguf_close(&g);
    c.seed = 2;
    CHECK(model_builder_write_mem(&c, &buf2, &size2, &e) == TL_OK, "%s", e.msg);
    CHECK(size2 == size && memcmp(buf, buf2, size), "seed changes the weights");
    free(buf2);
    free(buf);
}

/* Quantised and tied variants, the block fallback, extra KVs, bad configs. */
static void test_model_builder_types(void)
{
    static const uint32_t types[] = {TL_F16, TL_BF16, TL_Q8_0, TL_Q4_0};
    struct model_builder_config c;
    struct tl_error e = {0};
    struct gguf g;
    void *buf;
    size_t size;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        small_config(&c);
        c.wtype = types[i];
        c.tied = true;
        c.n_ff = 48;   /* ffn_down rows of 48: not a multiple of 32 */
        CHECK(model_builder_write_mem(&c, &buf, &size, &e) == TL_OK, "%s", e.msg);
        int rc = gguf_parse(&g, buf, size, &e);
        CHECK(rc == TL_OK, "%s", e.msg);
        if (rc == TL_OK) {
            int quant = types[i] == TL_Q8_0 || types[i] == TL_Q4_0;
            const struct gguf_tensor *q = gguf_find_tensor(&g, "blk.0.attn_q.weight");
            const struct gguf_tensor *d = gguf_find_tensor(&g, "blk.0.ffn_down.weight");
            CHECK(g.n_tensors == 2 + 9 * 2 && !gguf_find_tensor(&g, "output.weight"), "tied");
            CHECK(q && q->type == types[i], "matrix type %u", q ? q->type : 0);
            CHECK(d && d->type == (quant ? TL_F16 : types[i]), "fallback type %u", d ? d->type : 0);
            CHECK(gguf_find_tensor(&g, "output_norm.weight")->type == TL_F32, "norms stay f32");
            CHECK((gguf_find(&g, "general.quantization_version") != NULL) == quant, "quantization_version");
            gguf_close(&g);
        }
        free(buf);
    }
    /* Extra KVs through model_builder_init, written to a file. */
    struct gguf_writer w;
    struct model_builder mb;
    char path[512];
    snprintf(path, sizeof path, "%s/mb.gguf", test_tmpdir());
    small_config(&c);
    c.arch = "myarch";
    gguf_writer_init(&w);
    CHECK(model_builder_init(&mb, &c, &w, &e) == TL_OK, "%s", e.msg);
    gguf_writer_set_str(&w, "tokenizer.chat_template", "{{ x }}", &e);
    CHECK(gguf_writer_write_file(&w, path, &e) == TL_OK, "%s", e.msg);
    model_builder_free(&mb);
    gguf_writer_free(&w);
    CHECK(gguf_open(&g, path, &e) == TL_OK && gguf_find(&g, "myarch.block_count") &&
          gguf_find(&g, "tokenizer.chat_template"), "custom arch: %s", e.msg);
    gguf_close(&g);
    small_config(&c);
    c.n_head = 3;
    CHECK(model_builder_write_mem(&c, &buf, &size, &e) == TL_EINVAL, "n_embd %% n_head");
    small_config(&c);
    c.n_vocab = 100;
    CHECK(model_builder_write_mem(&c, &buf, &size, &e) == TL_EINVAL, "n_vocab too small");
    small_config(&c);
    c.wtype = TL_IQ2_XXS;
    CHECK(model_builder_write_mem(&c, &buf, &size, &e) == TL_EINVAL, "unsupported type");
}

/* ---- real files ---- */

static void test_shared_files(void)
{
    const char *dir = test_shared_dir();
    if (!dir)
        SKIP("no shared directory");
    static const char *const pats[] = {"oracle/models/*.gguf", "vocab/*.gguf", "models/llama-2-tiny-random.gguf"};
    int n = 0;
    for (int p = 0; p < 3; p++) {
        char pat[512];
        glob_t gl;
        snprintf(pat, sizeof pat, "%s/%s", dir, pats[p]);
        if (glob(pat, 0, NULL, &gl))
            continue;
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            struct gguf g;
            struct tl_error e = {0};
            int rc = gguf_open(&g, gl.gl_pathv[i], &e);
            CHECK(rc == TL_OK, "%s", e.msg);
            if (rc)
                continue;
            n++;
            CHECK(gguf_find(&g, "tokenizer.ggml.model") != NULL, "%s: no tokenizer", gl.gl_pathv[i]);
            CHECK(p == 1 || (g.n_tensors > 0 && gguf_find_tensor(&g, "token_embd.weight")),
                  "%s: no tensors", gl.gl_pathv[i]);
            (void)walk(&g);
            gguf_close(&g);
        }
        globfree(&gl);
    }
    if (n == 0)
        SKIP("no GGUF files under %s", dir);
}

int main(void)
{
    RUN_TEST(test_kv_roundtrip);
    RUN_TEST(test_getters);
    RUN_TEST(test_tensors_and_alignment);
    RUN_TEST(test_versions);
    RUN_TEST(test_truncated_everywhere);
    RUN_TEST(test_huge_counts);
    RUN_TEST(test_bad_values);
    RUN_TEST(test_bad_tensors);
    RUN_TEST(test_overlapping_tensors);
    RUN_TEST(test_cut_download);
    RUN_TEST(test_wrong_files);
    RUN_TEST(test_fuzz);
    RUN_TEST(test_writer_errors);
    RUN_TEST(test_write_file);
    RUN_TEST(test_copy_kv);
    RUN_TEST(test_model_builder);
    RUN_TEST(test_model_builder_types);
    RUN_TEST(test_shared_files);
    return test_finish();
}
