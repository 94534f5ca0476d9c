/* test_quant.c: the type table, fp16/bf16 conversion, every dequantiser on
 * hand-made blocks, round-trip error bounds, and bit-exactness of the
 * quantisers (hand-derived bytes and hashes of llama.cpp's output). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "kernels/kernels.h"
#include "format/quant.h"
#include "test.h"
#include "util/mem.h"

static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static void test_type_table(void)
{
    static const struct { uint32_t id; const char *name; int be, bb, sup; } want[] = {
        { 0, "f32", 1, 4, 1 }, { 1, "f16", 1, 2, 1 }, { 30, "bf16", 1, 2, 1 },
        { 2, "q4_0", 32, 18, 1 }, { 3, "q4_1", 32, 20, 1 }, { 6, "q5_0", 32, 22, 1 },
        { 7, "q5_1", 32, 24, 1 }, { 8, "q8_0", 32, 34, 1 }, { 9, "q8_1", 32, 36, 0 },
        { 10, "q2_K", 256, 84, -1 }, { 11, "q3_K", 256, 110, -1 }, { 12, "q4_K", 256, 144, -1 },
        { 13, "q5_K", 256, 176, -1 }, { 14, "q6_K", 256, 210, -1 }, { 15, "q8_K", 256, 292, 0 },
        { 16, "iq2_xxs", 256, 66, 0 }, { 20, "iq4_nl", 32, 18, 1 }, { 23, "iq4_xs", 256, 136, 0 },
        { 29, "iq1_m", 256, 56, 0 }, { 28, "f64", 1, 8, 0 }, { 35, "tq2_0", 256, 66, 0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct type_info *ti = type_info(want[i].id);
        CHECK(ti != NULL, "type %u missing", want[i].id);
        if (!ti)
            continue;
        CHECK(!strcmp(ti->name, want[i].name), "type %u named %s", want[i].id, ti->name);
        CHECK(ti->block_elems == want[i].be && ti->block_bytes == want[i].bb, "%s: block %d/%d",
              ti->name, ti->block_elems, ti->block_bytes);
        if (want[i].sup >= 0)
            CHECK(ti->supported == want[i].sup, "%s: supported %d", ti->name, ti->supported);
    }
    CHECK(type_info(4) == NULL && type_info(5) == NULL, "removed Q4_2/Q4_3 known");
    CHECK(type_info(31) == NULL && type_info(39) == NULL && type_info(1000) == NULL, "unknown id known");
    CHECK(type_info(TL_Q4_0)->act_type == TL_Q8_0 && type_info(TL_Q5_0)->act_type == TL_Q8_0, "act q8_0");
    CHECK(type_info(TL_Q4_1)->act_type == TL_Q8_1 && type_info(TL_Q5_1)->act_type == TL_Q8_1, "act q8_1");
    CHECK(type_info(TL_Q4_K)->act_type == TL_Q8_K && type_info(TL_Q6_K)->act_type == TL_Q8_K, "act q8_K");
    CHECK(type_info(TL_F16)->act_type == TL_F16 && type_info(TL_BF16)->act_type == TL_BF16, "act float");
    CHECK(type_row_bytes(TL_Q4_0, 4096) == 128 * 18, "q4_0 row");
    CHECK(type_row_bytes(TL_Q6_K, 512) == 420, "q6_K row");
    CHECK(type_row_bytes(TL_F32, 3) == 12, "f32 row");
    CHECK(type_row_bytes(TL_Q4_0, 33) == 0, "ragged row accepted");
    CHECK(type_row_bytes(TL_Q4_0, -32) == 0, "negative row accepted");
    CHECK(type_row_bytes(TL_F32, INT64_MAX) == 0 || SIZE_MAX / 4 >= (uint64_t)INT64_MAX, "overflow");
    CHECK(type_row_bytes(4, 32) == 0, "unknown type has a size");
}

static void test_fp16_values(void)
{
    static const struct { uint16_t h; float f; } known[] = {
        { 0x3c00, 1.0f }, { 0xc000, -2.0f }, { 0x3555, 0.333251953125f }, { 0x7bff, 65504.0f },
        { 0x0400, 0x1p-14f }, { 0x0001, 0x1p-24f }, { 0x03ff, 1023 * 0x1p-24f }, { 0x8001, -0x1p-24f },
        { 0x0000, 0.0f }, { 0x3bff, 0.99951171875f }, { 0x5640, 100.0f },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        CHECK(fp16_to_fp32(known[i].h) == known[i].f, "h %04x -> %g", known[i].h, fp16_to_fp32(known[i].h));
        CHECK(fp32_to_fp16(known[i].f) == known[i].h, "%g -> %04x", known[i].f, fp32_to_fp16(known[i].f));
    }
    CHECK(f32_bits(fp16_to_fp32(0x8000)) == 0x80000000u, "-0");
    CHECK(fp32_to_fp16(-0.0f) == 0x8000, "-0 back");
    CHECK(isinf(fp16_to_fp32(0x7c00)) && fp16_to_fp32(0xfc00) < 0, "inf");
    CHECK(isnan(fp16_to_fp32(0x7e00)) && isnan(fp16_to_fp32(0x7c01)), "nan");
    CHECK(fp32_to_fp16(INFINITY) == 0x7c00 && fp32_to_fp16(-INFINITY) == 0xfc00, "inf back");
    CHECK((fp32_to_fp16(NAN) & 0x7e00) == 0x7e00, "nan back quiet");
    CHECK((fp32_to_fp16(bits_f32(0x7f800001)) & 0x7e00) == 0x7e00, "signalling nan quieted");
    /* rounding: ties to even, overflow, subnormals, underflow */
    CHECK(fp32_to_fp16(65519.0f) == 0x7bff && fp32_to_fp16(65520.0f) == 0x7c00, "overflow edge");
    CHECK(fp32_to_fp16(1e9f) == 0x7c00 && fp32_to_fp16(-1e9f) == 0xfc00, "overflow");
    CHECK(fp32_to_fp16(1.0f + 0x1p-11f) == 0x3c00, "tie to even down");
    CHECK(fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02, "tie to even up");
    CHECK(fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01, "above tie");
    CHECK(fp32_to_fp16(2047.5f) == 0x6800, "2047.5 ties to 2048, the even neighbour");
    CHECK(fp32_to_fp16(0x1p-25f) == 0x0000, "half of smallest subnormal -> 0 (even)");
    CHECK(fp32_to_fp16(0x1.000002p-25f) == 0x0001, "just above half of smallest subnormal");
    CHECK(fp32_to_fp16(3 * 0x1p-25f) == 0x0002, "subnormal tie to even up");
    CHECK(fp32_to_fp16(5 * 0x1p-25f) == 0x0002, "subnormal tie to even down");
    CHECK(fp32_to_fp16(1023.5f * 0x1p-24f) == 0x0400, "largest subnormal rounds to smallest normal");
    CHECK(fp32_to_fp16(0x1p-30f) == 0 && fp32_to_fp16(-0x1p-30f) == 0x8000, "underflow keeps sign");
    CHECK(fp32_to_fp16(0x1p-149f) == 0, "float subnormal");
}

/* Every non-nan half survives a round trip, and for many floats the result
 * is the nearest half (ties to the even one), checked in double. */
static void test_fp16_exhaustive(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = fp16_to_fp32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            bad += !isnan(f);
        else
            bad += fp32_to_fp16(f) != h;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    bad = 0;
    uint32_t s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        /* magnitudes from 2^-26 to 2^16, both signs */
        float f = bits_f32((s & 0x807fffffu) | (uint32_t)(101 + (s >> 23) % 42) << 23);
        uint16_t h = fp32_to_fp16(f);
        double d = fabs((double)f), got = fabs((double)fp16_to_fp32(h));
        for (int delta = -1; delta <= 1 && (h & 0x7fff) < 0x7c00; delta += 2) {
            int nb = (h & 0x7fff) + delta;
            if (nb < 0 || nb > 0x7bff)
                continue;
            double other = fp16_to_fp32((uint16_t)nb);
            double eg = fabs(got - d), eo = fabs(other - d);
            if (eo < eg || (eo == eg && (h & 1)))
                bad++;
        }
        if (!!isinf(fp16_to_fp32(h)) != (d >= 65520) || (f < 0) != ((h & 0x8000) != 0))
            bad++;
    }
    CHECK(bad == 0, "%d floats not rounded to nearest even half", bad);
}

static void test_bf16(void)
{
    CHECK(fp32_to_bf16(1.0f) == 0x3f80 && bf16_to_fp32(0x3f80) == 1.0f, "1");
    CHECK(fp32_to_bf16(bits_f32(0x3f808000)) == 0x3f80, "tie to even down");
    CHECK(fp32_to_bf16(bits_f32(0x3f818000)) == 0x3f82, "tie to even up");
    CHECK(fp32_to_bf16(bits_f32(0x3f808001)) == 0x3f81, "above tie");
    CHECK(fp32_to_bf16(bits_f32(0xbf80ffff)) == 0xbf81, "negative");
    CHECK(fp32_to_bf16(bits_f32(0x7f7fffff)) == 0x7f80, "max float rounds to inf");
    CHECK(fp32_to_bf16(INFINITY) == 0x7f80 && fp32_to_bf16(-INFINITY) == 0xff80, "inf");
    CHECK(fp32_to_bf16(bits_f32(0x7f800001)) == 0x7fc0, "signalling nan quieted");
    CHECK(fp32_to_bf16(bits_f32(0xffc12345)) == 0xffc1, "nan payload kept");
    CHECK(fp32_to_bf16(bits_f32(0x00018000)) == 0x0002, "subnormal tie");
    CHECK(bf16_to_fp32(0xc0a0) == -5.0f && bf16_to_fp32(0x0001) == 0x1p-133f, "values");
}

/* ---- dequantisers on hand-made blocks; expected values are written out
 * from the layout in FORMATS.md, not computed by format/quant.c ---- */

static int same(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static void test_dequant_float(void)
{
    float f[3] = { 1.5f, -0.0f, 3e38f }, y[3];
    dequantize_row(TL_F32, f, y, 3);
    CHECK(same(f, y, 3), "f32");
    uint16_t h[3] = { 0x3e00, 0xbc00, 0x0001 };
    float wh[3] = { 1.5f, -1.0f, 0x1p-24f };
    dequantize_row(TL_F16, h, y, 3);
    CHECK(same(y, wh, 3), "f16 %g %g %g", y[0], y[1], y[2]);
    uint16_t b[3] = { 0x3fc0, 0xc2f6, 0x0000 };
    float wb[3] = { 1.5f, -123.0f, 0.0f };
    dequantize_row(TL_BF16, b, y, 3);
    CHECK(same(y, wb, 3), "bf16 %g %g %g", y[0], y[1], y[2]);
}

static void test_dequant_q4(void)
{
    struct block_q4_0 b0[2];
    struct block_q4_1 b1;
    float y[64], w[64];
    b0[0].d = 0x3800; /* 0.5 */
    b0[1].d = 0xc000; /* -2 */
    for (int j = 0; j < 16; j++) {
        b0[0].qs[j] = (uint8_t)(j | (15 - j) << 4);
        b0[1].qs[j] = 0x8f;
        w[j] = (j - 8) * 0.5f;
        w[16 + j] = (7 - j) * 0.5f;
        w[32 + j] = -14.0f; /* (15-8) * -2 */
        w[48 + j] = 0.0f;   /* (8-8) * -2 */
    }
    dequantize_row(TL_Q4_0, b0, y, 64);
    CHECK(same(y, w, 64), "q4_0");
    CHECK(y[0] == -4.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f, "q4_0 ends");

    b1.d = 0x3c00; /* 1 */
    b1.m = 0xc400; /* -4 */
    for (int j = 0; j < 16; j++) {
        b1.qs[j] = (uint8_t)(j << 4 | 3);
        w[j] = 3 - 4.0f;
        w[16 + j] = j - 4.0f;
    }
    dequantize_row(TL_Q4_1, &b1, y, 32);
    CHECK(same(y, w, 32), "q4_1");
}

/* IQ4_NL: nibble k stands for grid value k; llama.cpp's dequantize_row_iq4_nl
 * reads the low nibbles as elements 0-15. */
static void test_dequant_iq4_nl(void)
{
    static const int8_t grid[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };
    struct block_iq4_nl b = { .d = 0x3800 }; /* 0.5 */
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    dequantize_row(TL_IQ4_NL, &b, y, 32);
    int bad = 0;
    for (int j = 0; j < 16; j++)
        bad += y[j] != 0.5f * grid[j] || y[j + 16] != 0.5f * grid[15 - j];
    CHECK(bad == 0, "iq4_nl: %d values wrong", bad);
}

static void test_dequant_q5(void)
{
    struct block_q5_0 b0;
    struct block_q5_1 b1;
    float y[32], w[32];
    b0.d = 0x3c00;
    /* qh = 0x80000001 little-endian: elements 0 and 31 get bit 4 */
    b0.qh[0] = 0x01; b0.qh[1] = 0; b0.qh[2] = 0; b0.qh[3] = 0x80;
    for (int j = 0; j < 16; j++)
        b0.qs[j] = (uint8_t)(j | j << 4);
    for (int j = 0; j < 32; j++)
        w[j] = (float)(j % 16 - 16);
    w[0] = 0.0f;      /* 16 - 16 */
    w[31] = 15.0f;    /* 31 - 16 */
    dequantize_row(TL_Q5_0, &b0, y, 32);
    CHECK(same(y, w, 32), "q5_0: y0=%g y1=%g y31=%g", y[0], y[1], y[31]);

    b1.d = 0x3800; /* 0.5 */
    b1.m = 0x3c00; /* 1 */
    /* qh bits 8..15 and 16..23 set: elements 8-15 and 16-23 */
    b1.qh[0] = 0; b1.qh[1] = 0xff; b1.qh[2] = 0xff; b1.qh[3] = 0;
    for (int j = 0; j < 16; j++)
        b1.qs[j] = 0xf0;
    for (int j = 0; j < 32; j++) {
        int q = (j < 16 ? 0 : 15) + (j >= 8 && j < 24 ? 16 : 0);
        w[j] = q * 0.5f + 1.0f;
    }
    dequantize_row(TL_Q5_1, &b1, y, 32);
    CHECK(same(y, w, 32), "q5_1");
    CHECK(y[0] == 1.0f && y[8] == 9.0f && y[16] == 16.5f && y[24] == 8.5f, "q5_1 values");
}

static void test_dequant_q8(void)
{
    struct block_q8_0 b0;
    struct block_q8_1 b1;
    static struct block_q8_K bk;
    float y[256];
    b0.d = 0x4000; /* 2 */
    b1.d = 0x3400; /* 0.25 */
    b1.s = 0;
    for (int j = 0; j < 32; j++) {
        b0.qs[j] = (int8_t)(j * 8 - 128);
        b1.qs[j] = (int8_t)(127 - j);
    }
    dequantize_row(TL_Q8_0, &b0, y, 32);
    CHECK(y[0] == -256.0f && y[16] == 0.0f && y[31] == 240.0f, "q8_0 %g %g %g", y[0], y[16], y[31]);
    dequantize_row(TL_Q8_1, &b1, y, 32);
    CHECK(y[0] == 31.75f && y[31] == 24.0f, "q8_1");
    bk.d = -0.5f;
    for (int j = 0; j < 256; j++)
        bk.qs[j] = (int8_t)(j - 128);
    dequantize_row(TL_Q8_K, &bk, y, 256);
    CHECK(y[0] == 64.0f && y[128] == 0.0f && y[255] == -63.5f, "q8_K");
}

static void test_dequant_q2_K(void)
{
    static struct block_q2_K b;
    float y[256];
    b.d = 0x3c00;    /* 1 */
    b.dmin = 0x3800; /* 0.5 */
    memset(b.scales, 0x21, 16); /* scale 1, min 2 */
    b.scales[5] = 0x13;         /* sub-block 5 (elements 80-95): scale 3, min 1 */
    memset(b.qs, 0xe4, 64);     /* bit pair j holds j */
    b.qs[1] = 0x1b;             /* l = 1 of the first half: pairs 3, 2, 1, 0 */
    b.qs[33] = 0x1b;            /* l = 1 of the second half */
    dequantize_row(TL_Q2_K, &b, y, 256);
    /* element 128h + 32j + l is pair j of qs[32h + l]: value scale*q - 0.5*min */
    CHECK(y[0] == -1.0f && y[32] == 0.0f && y[64] == 1.0f && y[96] == 2.0f, "q2_K planes %g %g %g %g", y[0], y[32], y[64], y[96]);
    CHECK(y[1] == 2.0f && y[33] == 1.0f && y[65] == 0.0f && y[97] == -1.0f, "q2_K l=1");
    CHECK(y[129] == 2.0f && y[225] == -1.0f && y[255] == 2.0f && y[128] == -1.0f, "q2_K second half");
    CHECK(y[80] == 5.5f && y[95] == 5.5f && y[79] == 1.0f && y[96] == 2.0f, "q2_K sub-block 5: %g %g", y[80], y[79]);
}

static void test_dequant_q3_K(void)
{
    static struct block_q3_K b;
    float y[256];
    b.d = 0x3800; /* 0.5 */
    /* every 6-bit scale 33 (= 1 + 32): low nibbles 1, top bits 0b10 */
    memset(b.scales, 0x11, 8);
    memset(b.scales + 8, 0xaa, 4);
    b.scales[3] = 0x1e;  /* sub-block 3: low nibble 14 ... */
    b.scales[11] = 0xa9; /* ... top bits 0b01: 30 = -2 + 32 */
    memset(b.hmask, 0xff, 32);
    b.hmask[2] = 0xfe;   /* element 2 (l = 2, plane 0) loses its high bit: q - 4 */
    memset(b.qs, 0xe4, 64);
    dequantize_row(TL_Q3_K, &b, y, 256);
    CHECK(y[0] == 0.0f && y[32] == 0.5f && y[64] == 1.0f && y[96] == 1.5f, "q3_K planes");
    CHECK(y[2] == -2.0f && y[130] == 0.0f && y[34] == 0.5f, "q3_K hmask %g %g", y[2], y[130]);
    CHECK(y[48] == -1.0f && y[63] == -1.0f && y[47] == 0.5f && y[255] == 1.5f, "q3_K scale 3: %g", y[48]);
}

static void fill_k4_scales(uint8_t s[12])
{
    /* sub-blocks 0-3: scale 2, min 4; sub-blocks 4-7: scale 1 | 1 << 4 = 17, min 3 */
    for (int j = 0; j < 4; j++) {
        s[j] = 2 | 1 << 6;
        s[j + 4] = 4;
        s[j + 8] = 0x31;
    }
}

static void test_dequant_q4_K(void)
{
    static struct block_q4_K b;
    float y[256];
    b.d = 0x3c00;    /* 1 */
    b.dmin = 0x3400; /* 0.25 */
    fill_k4_scales(b.scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b.qs[32 * c + l] = (uint8_t)((l & 15) | (15 - (l & 15)) << 4);
    dequantize_row(TL_Q4_K, &b, y, 256);
    /* value scale*q - 0.25*min; 64c + l low nibble, 64c + 32 + l high */
    CHECK(y[0] == -1.0f && y[5] == 9.0f && y[37] == 19.0f, "q4_K %g %g %g", y[0], y[5], y[37]);
    CHECK(y[131] == 50.25f && y[200] == 135.25f && y[255] == -0.75f, "q4_K high sub-blocks %g %g %g", y[131], y[200], y[255]);
}

static void test_dequant_q5_K(void)
{
    static struct block_q5_K b;
    float y[256];
    b.d = 0x3c00;
    b.dmin = 0x3400;
    fill_k4_scales(b.scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b.qs[32 * c + l] = (uint8_t)((l & 15) | (15 - (l & 15)) << 4);
    b.qh[5] = 0x81; /* fifth bit of element 5 (bit 0) and of element 229 (bit 7) */
    dequantize_row(TL_Q5_K, &b, y, 256);
    CHECK(y[5] == 41.0f && y[229] == 441.25f, "q5_K high bits %g %g", y[5], y[229]);
    CHECK(y[37] == 19.0f && y[0] == -1.0f && y[200] == 135.25f, "q5_K rest");
}

static void test_dequant_q6_K(void)
{
    static struct block_q6_K b;
    float y[256];
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++)
        b.scales[j] = (int8_t)(j - 8);
    memset(b.ql, 0x21, 128);
    memset(b.qh, 0xe4, 64);
    b.ql[64 + 32 + 3] = 0x00;
    dequantize_row(TL_Q6_K, &b, y, 256);
    /* element 128h + 32k + l: nibble of ql[64h + 32(k&1) + l], bits 2k of qh[32h + l];
     * here q - 32 = -31, -15, 2, 18 for k = 0..3 */
    CHECK(y[0] == 124.0f && y[40] == 45.0f && y[71] == -4.0f && y[255] == 63.0f, "q6_K %g %g %g %g", y[0], y[40], y[71], y[255]);
    CHECK(y[130] == 0.0f && y[150] == -15.5f, "q6_K second half %g %g", y[130], y[150]);
    CHECK(y[163] == -16.0f && y[227] == 48.0f, "q6_K changed byte %g %g", y[163], y[227]);
}

/* ---- quantisers: bytes derived by hand from llama.cpp's algorithm ---- */

static void test_quant_hand(void)
{
    float x[32];
    /* Q8_0 of 0..31 scaled: amax 31 -> d = 31/127 = 0.2440945 -> f16 0x33d0
     * (0.2441406); q = round(x * 127/31). */
    for (int j = 0; j < 32; j++)
        x[j] = (float)j;
    struct block_q8_0 q8;
    quantize_row(TL_Q8_0, x, &q8, 32);
    CHECK(q8.d == 0x33d0, "q8_0 d %04x", q8.d);
    CHECK(q8.qs[0] == 0 && q8.qs[1] == 4 && q8.qs[2] == 8 && q8.qs[3] == 12 && q8.qs[31] == 127,
          "q8_0 qs %d %d %d %d %d", q8.qs[0], q8.qs[1], q8.qs[2], q8.qs[3], q8.qs[31]);
    CHECK(q8.qs[15] == 61 && q8.qs[16] == 66, "q8_0 mid %d %d", q8.qs[15], q8.qs[16]); /* 61.45, 65.55 */

    /* Q4_0 of x = j - 16: the signed extreme is -16, d = -16/-8 = 2 (0x4000),
     * q = trunc(x/2 + 8.5), clamped to 15: x=-16 -> 0, x=-1 -> 8, x=0 -> 8,
     * x=1 -> 9, x=15 -> 16 -> 15. Element j pairs with j+16 in one byte. */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    struct block_q4_0 q4;
    quantize_row(TL_Q4_0, x, &q4, 32);
    CHECK(q4.d == 0x4000, "q4_0 d %04x", q4.d);
    CHECK(q4.qs[0] == (0 | 8 << 4), "q4_0 qs0 %02x", q4.qs[0]);   /* x=-16, x=0 */
    CHECK(q4.qs[15] == (8 | 15 << 4), "q4_0 qs15 %02x", q4.qs[15]); /* x=-1 (8.0), x=15 */
    CHECK(q4.qs[1] == (1 | 9 << 4), "q4_0 qs1 %02x", q4.qs[1]);  /* x=-15: 1.0, x=1: 9.0 */

    /* Q4_1 of 0..31: min 0, d = 31/15 = 2.0667 -> f16 0x4022 (2.06640625),
     * q = trunc(x*15/31 + 0.5). */
    for (int j = 0; j < 32; j++)
        x[j] = (float)j;
    struct block_q4_1 q41;
    quantize_row(TL_Q4_1, x, &q41, 32);
    CHECK(q41.d == 0x4022 && q41.m == 0, "q4_1 d %04x m %04x", q41.d, q41.m);
    CHECK(q41.qs[0] == (0 | 8 << 4), "q4_1 qs0 %02x", q41.qs[0]);   /* 0, 16*15/31=7.74 -> 8 */
    CHECK(q41.qs[15] == (7 | 15 << 4), "q4_1 qs15 %02x", q41.qs[15]); /* 7.26 -> 7, 15 */

    /* Q5_0 of j - 16: d = -16/-16 = 1 (0x3c00), q = trunc(x + 16.5) capped
     * at 31: x=-16 -> 0, x=15 -> 31. qh bit j = bit 4 of q_j = (j >= 16). */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    struct block_q5_0 q5;
    quantize_row(TL_Q5_0, x, &q5, 32);
    CHECK(q5.d == 0x3c00, "q5_0 d %04x", q5.d);
    CHECK(q5.qh[0] == 0 && q5.qh[1] == 0 && q5.qh[2] == 0xff && q5.qh[3] == 0xff, "q5_0 qh");
    CHECK(q5.qs[0] == 0x00 && q5.qs[15] == 0xff && q5.qs[3] == 0x33, "q5_0 qs %02x %02x", q5.qs[0], q5.qs[15]);

    /* Q5_1 of 0..31: d = 1 (0x3c00), m = 0, q = j. */
    for (int j = 0; j < 32; j++)
        x[j] = (float)j;
    struct block_q5_1 q51;
    quantize_row(TL_Q5_1, x, &q51, 32);
    CHECK(q51.d == 0x3c00 && q51.m == 0, "q5_1 d/m");
    CHECK(q51.qh[0] == 0 && q51.qh[1] == 0 && q51.qh[2] == 0xff && q51.qh[3] == 0xff, "q5_1 qh");
    CHECK(q51.qs[0] == 0x00 && q51.qs[5] == 0x55 && q51.qs[15] == 0xff, "q5_1 qs");

    /* Q8_1: s = d * sum(q). 0..31 as for Q8_0, sum of q = 2031. */
    struct block_q8_1 q81;
    quantize_row(TL_Q8_1, x, &q81, 32);
    int sum = 0;
    for (int j = 0; j < 32; j++)
        sum += q81.qs[j];
    CHECK(q81.d == 0x33d0 && !memcmp(q81.qs, q8.qs, 32), "q8_1 matches q8_0");
    CHECK(q81.s == fp32_to_fp16(sum * (31.0f / 127)), "q8_1 s %04x (sum %d)", q81.s, sum);

    /* Q8_K: 256 values j - 128; extreme -128 -> d = 128/127, q = -127..126 */
    static float xk[256];
    static struct block_q8_K qk;
    for (int j = 0; j < 256; j++)
        xk[j] = (float)(j - 128);
    quantize_row(TL_Q8_K, xk, &qk, 256);
    CHECK(qk.d == 1 / (-127.f / -128.f), "q8_K d %.9g", qk.d);
    CHECK(qk.qs[0] == -127 && qk.qs[128] == 0 && qk.qs[255] == 126, "q8_K q %d %d %d", qk.qs[0], qk.qs[128], qk.qs[255]);
    int bs = 0;
    for (int j = 0; j < 16; j++)
        bs += qk.qs[j];
    CHECK(qk.bsums[0] == bs, "q8_K bsums");
}

/* ---- bit-exactness against llama.cpp ----
 * FNV-1a hashes of llama.cpp's output (ggml_quantize_chunk on 16 rows of
 * 512, or quantize_row_q8_1_ref / q8_K_ref) for three inputs: uniform,
 * weight-like with outliers, and blocks of special cases (zeros, constants,
 * tiny, positive-only, integers, zero sub-blocks, large). Produced once
 * by a throwaway program linked with libggml-base; the inputs below use
 * only exact float operations so every platform regenerates them. */

static uint32_t gen_state;
static float gen_u(void)
{
    gen_state = gen_state * 1664525u + 1013904223u;
    return (float)(int32_t)(gen_state & 0xffffff00u) * 0x1p-31f;
}
static void gen_fill(int dist, float *x, int n)
{
    gen_state = 1234567u + (uint32_t)dist;
    for (int i = 0; i < n; i++) {
        float a = gen_u();
        if (dist == 0) {
            x[i] = a;
        } else if (dist == 1) {
            float b = gen_u();
            float c = gen_u();
            float d = gen_u();
            x[i] = (a + b + c + d) * 0.02f * (i % 97 == 0 ? 8.0f : 1.0f);
        } else {
            switch (i / 256 % 8) {
            case 0: x[i] = 0.0f; break;
            case 1: x[i] = i % 64 < 32 ? 0.5f : -0.25f; break;
            case 2: x[i] = a * 1e-6f; break;
            case 3: x[i] = a * 0.5f + 0.5f; break;
            case 4: x[i] = (float)(int)(a * 8.0f); break;
            case 5: x[i] = i / 16 % 2 ? a : 0.0f; break;
            case 6: x[i] = a * 1000.0f; break;
            default: x[i] = -(a * 0.5f + 0.5f); break;
            }
        }
    }
}
static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static const struct { uint32_t type; uint64_t h[3]; } golden[] = {
    {  0, { 0xaef8ecc3f0206a97ull, 0x338e8b6e7b31968cull, 0x35069a31987b6a2bull } },
    {  1, { 0x6e7bfe9023c42db2ull, 0x318e0c3f92ecaca5ull, 0x0c7370ea5ad01399ull } },
    { 30, { 0xaa88f474de54d73aull, 0xd2ef78fcc0767373ull, 0x8947c8e1bda4ecebull } },
    {  8, { 0x3c613767652b3d33ull, 0x2b3ac6bc498fc6eaull, 0x970b346b6ea5c8cfull } },
    {  2, { 0x6aaa786cd48387f1ull, 0x5e0aa6c12d428429ull, 0x58f901701497493cull } },
    {  3, { 0x13f8e3d502eff33dull, 0x78f668c112f574a9ull, 0x1b0ac3e5491a6de1ull } },
    {  6, { 0xa781886510b345b0ull, 0x064f5a9ea17363eaull, 0xda39d2a3c54bb61full } },
    {  7, { 0x051ab885fe399bd5ull, 0x87a023e3a345a7a1ull, 0x6d0830cf2d277c9cull } },
    { 10, { 0x9959ac4e73a9d006ull, 0x69010c8b378e8651ull, 0xeea8ac74bb7879adull } },
    { 11, { 0x3697b30a66708157ull, 0x4f9ee22395e9f939ull, 0x04901595b6cecb5aull } },
    { 12, { 0x4495c0119463af9aull, 0xa81365831aa7654dull, 0x067ffa21db42bb02ull } },
    { 13, { 0x8e7dc0e827d49b8eull, 0x36733c2c02382f26ull, 0x40bc4687c6cf11d0ull } },
    { 14, { 0xd4fbb099774e3dd6ull, 0x5a8fbc03a9e3aeb2ull, 0x52150fcbc56fe582ull } },
    {  9, { 0xf2d9e86e85ee8cd7ull, 0xc9f811a4fe67cb3bull, 0x6864b6bbef3df824ull } },
    { 15, { 0x36fc4b13c30aaef0ull, 0x6f3572f6b3fb5f25ull, 0xece3331751faded9ull } },
    { 20, { 0xa595cda21008a934ull, 0x5159900fbae04840ull, 0x6ad1fc4c0eb50655ull } },
};

static void test_quant_golden(void)
{
    enum { NR = 16, NPR = 512, N = NR * NPR };
    static float x[N];
    static uint8_t q[N * 4];
    for (size_t g = 0; g < sizeof golden / sizeof golden[0]; g++) {
        uint32_t t = golden[g].type;
        size_t bytes = type_row_bytes(t, NPR) * NR;
        for (int dist = 0; dist < 3; dist++) {
            gen_fill(dist, x, N);
            memset(q, 0, sizeof q);
            quantize_row(t, x, q, N);
            uint64_t h = fnv1a(q, bytes);
            CHECK(h == golden[g].h[dist], "%s input %d: hash %016llx, llama.cpp's %016llx", type_info(t)->name,
                  dist, (unsigned long long)h, (unsigned long long)golden[g].h[dist]);
        }
    }
}

/* ---- round trips: per-block error bounds on random data ---- */

static uint32_t lcg_state;
static float lcg_uniform(void) /* exactly reproducible uniform in [-1, 1) */
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (float)(int32_t)(lcg_state & 0xffffff00u) * 0x1p-31f;
}

struct bound {
    uint32_t type;
    double   k_scale;  /* error <= k_scale * block step + k_mag * block amax */
    double   k_mag;
};

static void test_round_trip(void)
{
    static const struct bound bounds[] = {
        { TL_F16, 0, 0x1p-11 }, { TL_BF16, 0, 0x1p-8 },
        { TL_Q8_0, 0.5, 0x1p-11 }, { TL_Q8_1, 0.5, 0x1p-11 }, { TL_Q8_K, 0.5, 1e-6 },
        { TL_Q4_0, 1.0, 0x1p-10 }, { TL_Q4_1, 0.5, 0x1p-9 }, { TL_Q5_0, 1.0, 0x1p-10 },
        { TL_Q5_1, 0.5, 0x1p-9 },
    };
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    lcg_state = 7;
    for (size_t bi = 0; bi < sizeof bounds / sizeof bounds[0]; bi++) {
        const struct bound *b = &bounds[bi];
        const struct type_info *ti = type_info(b->type);
        int be = ti->block_elems > 1 ? ti->block_elems : 32;
        /* the dequantised step between levels, relative to the block range */
        double levels = b->type == TL_Q8_0 || b->type == TL_Q8_1 || b->type == TL_Q8_K ? 127
                      : b->type == TL_Q4_0 ? 8 : b->type == TL_Q5_0 ? 16 : b->type == TL_Q4_1 ? 15 : 31;
        for (int i = 0; i < N; i++)
            x[i] = lcg_uniform() * (i % 97 == 0 ? 10.0f : 1.0f) + (i / be % 3 == 1 ? 2.0f : 0.0f);
        quantize_row(b->type, x, q, N);
        dequantize_row(b->type, q, y, N);
        double worst = 0;
        for (int i0 = 0; i0 < N; i0 += be) {
            double amax = 0, mn = INFINITY, mx = -INFINITY;
            for (int i = i0; i < i0 + be; i++) {
                amax = fmax(amax, fabs(x[i]));
                mn = fmin(mn, x[i]);
                mx = fmax(mx, x[i]);
            }
            int asym = b->type == TL_Q4_1 || b->type == TL_Q5_1;
            double step = (asym ? mx - mn : amax) / levels;
            for (int i = i0; i < i0 + be; i++) {
                double err = fabs((double)y[i] - x[i]);
                double lim = b->k_scale * step * (1 + 0x1p-9) + b->k_mag * amax + 1e-12;
                if (err / lim > worst)
                    worst = err / lim;
            }
        }
        printf("  %-5s worst error / bound = %.3f\n", ti->name, worst);
        CHECK(worst <= 1.0, "%s round trip error %.3f of its bound", ti->name, worst);
    }
}

/* K-quants search their scales, so their error has no closed-form bound;
 * these limits sit ~15% above what llama.cpp's algorithm gives on the
 * uniform and weight-like inputs (relative rms error, and the largest
 * error relative to its super-block's largest magnitude). */
static void test_round_trip_k(void)
{
    static const struct { uint32_t type; double rms, max; } lim[] = {
        { TL_Q2_K, 0.37, 0.46 }, { TL_Q3_K, 0.21, 0.29 }, { TL_Q4_K, 0.103, 0.105 },
        { TL_Q5_K, 0.052, 0.056 }, { TL_Q6_K, 0.030, 0.021 },
    };
    enum { N = 8192 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    for (size_t li = 0; li < sizeof lim / sizeof lim[0]; li++) {
        for (int dist = 0; dist < 2; dist++) {
            uint32_t t = lim[li].type;
            gen_fill(dist, x, N);
            quantize_row(t, x, q, N);
            dequantize_row(t, q, y, N);
            double e2 = 0, x2 = 0, worst = 0;
            for (int b = 0; b < N; b += QK_K) {
                double amax = 0;
                for (int i = b; i < b + QK_K; i++)
                    if (fabs(x[i]) > amax)
                        amax = fabs(x[i]);
                for (int i = b; i < b + QK_K; i++) {
                    double err = fabs((double)y[i] - x[i]);
                    e2 += err * err;
                    x2 += (double)x[i] * x[i];
                    if (err / amax > worst)
                        worst = err / amax;
                }
            }
            double rms = sqrt(e2 / x2);
            printf("  %-5s input %d: rms %.4f, max %.4f\n", type_info(t)->name, dist, rms, worst);
            CHECK(rms <= lim[li].rms && worst <= lim[li].max, "%s input %d: rms %.4f max %.4f", type_info(t)->name, dist, rms, worst);
        }
    }
}

/* ---- the oracle's real files ---- */

static const char *const oracle_types[] = {
    "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
    "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k",
};

static int open_model(struct gguf *g, const char *type)
{
    char path[512];
    struct tl_error err = { 0 };
    snprintf(path, sizeof path, "%s/oracle/models/llama-mini-%s.gguf", test_shared_dir(), type);
    int rc = gguf_open(g, path, &err);
    CHECK(rc == TL_OK, "%s", err.msg);
    return rc == TL_OK;
}

/* |w . x - w . x~| <= sum |w||x - x~| for the activation x~ the kernel
 * sees; against Q8_1 also the f16 rounding of s = dx*sum(qx), times each
 * weight block's offset m (byte 2 of a Q4_1/Q5_1 block). */
static double act_bound(uint32_t wt, const void *wrow, const float *w, const float *x, const float *xq,
                        const void *xrow, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        e += fabs((double)w[i]) * fabs((double)x[i] - xq[i]);
    const struct type_info *ti = type_info(wt);
    if (ti->act_type != TL_Q8_1)
        return e;
    for (int b = 0; b < n / QK; b++) {
        uint16_t m;
        struct block_q8_1 xb;
        memcpy(&m, (const uint8_t *)wrow + (size_t)b * ti->block_bytes + 2, 2);
        memcpy(&xb, (const uint8_t *)xrow + (size_t)b * sizeof xb, sizeof xb);
        e += fabs((double)fp16_to_fp32(m) * fp16_to_fp32(xb.s)) * 0x1p-10;
    }
    return e;
}

/* Every row of tensor t dequantises to finite values, and the scalar
 * matmul of each row with a random x equals the float dot within the
 * activation quantisation error. Returns the rows that failed. */
static int check_tensor_rows(const struct gguf_tensor *t)
{
    const struct type_info *ti = type_info(t->type);
    int n = (int)t->ne[0], bad = 0;
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t rb = type_row_bytes(t->type, n), xrb = type_row_bytes((uint32_t)ti->act_type, n);
    float *w = malloc(sizeof(float) * (size_t)n), *x = malloc(sizeof(float) * (size_t)n);
    float *xq = malloc(sizeof(float) * (size_t)n);
    uint8_t *xa = malloc(xrb);
    for (int i = 0; i < n; i++)
        x[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    kernels_scalar.quantize[ti->act_type](x, xa, n);
    dequantize_row((uint32_t)ti->act_type, xa, xq, n);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *wrow = (const uint8_t *)t->data + (size_t)r * rb;
        dequantize_row(t->type, wrow, w, n);
        double ref = 0, mag = 0;
        int finite = 1;
        for (int i = 0; i < n; i++) {
            finite &= isfinite(w[i]);
            ref += (double)w[i] * x[i];
            mag += fabs((double)w[i] * x[i]);
        }
        float got;
        struct matmul_args a = { &got, 1, wrow, rb, xa, xrb, n, 1, NULL };
        kernels_scalar.matmul[t->type](&a, 0, 1);
        double tol = act_bound(t->type, wrow, w, x, xq, xa, n) + 1e-5 * mag + 1e-6;
        if (!finite || !(fabs(got - ref) <= tol)) {
            if (bad++ == 0)
                printf("  %.*s row %lld: %g vs %g (tol %g)\n", (int)t->name.len, t->name.ptr, (long long)r,
                       got, ref, tol);
        }
    }
    mem_free_all(w, x, xq, xa);
    return bad;
}

static void test_oracle_tensors(void)
{
    if (!test_shared_dir())
        SKIP("../shared is absent");
    for (size_t m = 0; m < sizeof oracle_types / sizeof oracle_types[0]; m++) {
        struct gguf g;
        if (!open_model(&g, oracle_types[m]))
            continue;
        int types_seen[TL_TYPE_COUNT] = { 0 }, bad_rows = 0, bad_tensors = 0;
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const struct gguf_tensor *t = &g.tensors[i];
            const struct type_info *ti = type_info(t->type);
            if (!ti || !ti->supported) {
                bad_tensors++;
                continue;
            }
            types_seen[t->type]++;
            uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            if (type_row_bytes(t->type, t->ne[0]) * rows != t->size) {
                bad_tensors++;
                continue;
            }
            bad_rows += check_tensor_rows(t);
        }
        printf("  llama-mini-%s: %llu tensors, types", oracle_types[m], (unsigned long long)g.n_tensors);
        for (int t = 0; t < TL_TYPE_COUNT; t++)
            if (types_seen[t])
                printf(" %s:%d", type_info((uint32_t)t)->name, types_seen[t]);
        printf("\n");
        CHECK(bad_tensors == 0 && bad_rows == 0, "llama-mini-%s: %d tensors unusable, %d rows wrong",
              oracle_types[m], bad_tensors, bad_rows);
        gguf_close(&g);
    }
}

/* The quantised oracle files were made by llama-quantize (no imatrix)
 * from the f32 file: quantising the f32 tensors again must reproduce
 * their bytes exactly, which is what `tinyllm quantize` relies on. */
static void test_oracle_requantize(void)
{
    if (!test_shared_dir())
        SKIP("../shared is absent");
    struct gguf src;
    if (!open_model(&src, "f32"))
        return;
    for (size_t m = 1; m < sizeof oracle_types / sizeof oracle_types[0]; m++) {
        struct gguf g;
        if (!open_model(&g, oracle_types[m]))
            continue;
        int same = 0, differ = 0;
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const struct gguf_tensor *t = &g.tensors[i];
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            const struct gguf_tensor *f = gguf_find_tensor(&src, name);
            if (!f || f->type != TL_F32 || !type_info(t->type) || !type_info(t->type)->supported)
                continue;
            int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            uint8_t *q = malloc(t->size);
            quantize_row(t->type, f->data, q, n);
            if (memcmp(q, t->data, t->size)) {
                if (differ++ == 0)
                    printf("  llama-mini-%s: %s (%s) differs\n", oracle_types[m], name, type_info(t->type)->name);
            } else {
                same++;
            }
            free(q);
        }
        printf("  llama-mini-%s: %d tensors re-quantised identically\n", oracle_types[m], same);
        CHECK(differ == 0 && same > 0, "llama-mini-%s: %d tensors differ", oracle_types[m], differ);
        gguf_close(&g);
    }
    gguf_close(&src);
}

/* The x16 layout: packing keeps a group's bytes in place, every row comes
 * back byte for byte, and a hand-placed block lands where format/quant.h says
 * (scale words first, then quad j of row i at byte 4i + 64j of the quants;
 * Q8_0 quants offset to unsigned). */
static void test_x16_layout(void)
{
    static const uint32_t types[] = { TL_Q4_0, TL_Q8_0, TL_Q4_K, TL_Q5_0, TL_IQ4_NL, TL_Q5_K, TL_Q3_K, TL_Q2_K };
    for (int ti = 0; ti < 8; ti++) {
        uint32_t t = types[ti];
        CHECK(x16_packable(t), "%s packable", type_info(t)->name);
        int n = type_info(t)->block_elems * 3, nr = 32;
        size_t rb = type_row_bytes(t, n), bs = (size_t)type_info(t)->block_bytes;
        uint8_t *w = malloc(rb * nr), *orig = malloc(rb * nr), row[1024];
        for (size_t i = 0; i < rb * nr; i++)
            w[i] = orig[i] = (uint8_t)(i * 131 + i / 7);
        CHECK(pack_x16(t, w, rb, nr), "pack_x16 ran");
        CHECK(memcmp(w, orig, rb * nr) != 0, "%s: packing moved bytes", type_info(t)->name);
        for (int r = 0; r < nr; r++) {
            unpack_x16_row(t, w, rb, r, row);
            CHECK(memcmp(row, orig + (size_t)r * rb, rb) == 0, "%s: row %d unpacks to itself", type_info(t)->name, r);
        }
        /* row 16 + 5, block 1: in group 1, block column 1 */
        const uint8_t *col = w + 16 * rb + 1 * 16 * bs, *blk = orig + 21 * rb + 1 * bs;
        if (t == TL_Q3_K)   /* hmask, qs, scales as dwords, then the d words */
            CHECK(col[64 * 7 + 4 * 5 + 3] == blk[31] && col[512 + 64 * 15 + 4 * 5 + 1] == blk[32 + 61] &&
                      col[1536 + 64 * 2 + 4 * 5 + 3] == blk[96 + 11] && col[1728 + 10] == blk[108] &&
                      col[1728 + 11] == blk[109],
                  "q3_K: hmask byte 31, quant byte 61, scale byte 11 and d of row 5 where format/quant.h says");
        else if (t == TL_Q2_K)   /* scales/mins and qs as dwords, then the d and dmin words */
            CHECK(col[64 * 3 + 4 * 5 + 3] == blk[15] && col[256 + 64 * 15 + 4 * 5 + 1] == blk[16 + 61] &&
                      col[1280 + 10] == blk[80] && col[1312 + 11] == blk[83],
                  "q2_K: scale byte 15, quant byte 61, d and dmin of row 5 where format/quant.h says");
        else
            CHECK(col[10] == blk[0] && col[11] == blk[1], "%s: scale of row 5 at word 5", type_info(t)->name);
        if (t == TL_Q4_K)   /* d, dmin words; then 12 scale bytes and 128 quant bytes as dwords */
            CHECK(col[32 + 10] == blk[2] && col[64 + 64 * 2 + 4 * 5 + 1] == blk[4 + 9] &&
                      col[64 + 192 + 64 * 3 + 4 * 5 + 2] == blk[16 + 14],
                  "q4_K: dmin, scale byte 9 and quant byte 14 of row 5 where format/quant.h says");
        else if (t == TL_Q5_K)   /* d, dmin words; 12 scale, 32 qh and 128 quant bytes as dwords */
            CHECK(col[32 + 10] == blk[2] && col[64 + 64 * 2 + 4 * 5 + 1] == blk[4 + 9] &&
                      col[64 + 192 + 64 * 7 + 4 * 5 + 3] == blk[16 + 31] &&
                      col[64 + 192 + 512 + 64 * 3 + 4 * 5 + 2] == blk[48 + 14],
                  "q5_K: dmin, scale byte 9, qh byte 31 and quant byte 14 of row 5 where format/quant.h says");
        else if (t == TL_Q5_0)   /* d; qh (bits reordered); qs */
            CHECK(col[10] == blk[0] && col[32 + 64 + 64 + 4 * 5 + 2] == blk[6 + 6],
                  "q5_0: scale and quant byte 6 of row 5 where format/quant.h says");
        else if (t != TL_Q3_K && t != TL_Q2_K)
            CHECK(col[32 + 64 + 4 * 5 + 2] == (uint8_t)(blk[2 + 6] ^ (t == TL_Q8_0 ? 0x80 : 0)),
                  "%s: quant byte 6 of row 5 at 64 + 20 + 2", type_info(t)->name);
        free(w);
        free(orig);
    }
    CHECK(!x16_packable(TL_Q5_1) && !x16_packable(TL_Q6_K) && !x16_packable(TL_F16), "those types do not pack");
    /* Q5_0's qh: element 4j + t's bit at 8t + j, element 16 + 4j + t's at 8t + 4 + j */
    size_t rb = type_row_bytes(TL_Q5_0, 32);
    uint8_t w[16 * 22];
    memset(w, 0, sizeof w);
    w[3 * rb + 2 + 2] = 0x02 | 0x40;   /* row 3: elements 17 and 22 (qh byte 2, bits 1 and 6) */
    CHECK(pack_x16(TL_Q5_0, w, rb, 16), "pack_x16 ran");
    uint32_t h;
    memcpy(&h, w + 32 + 4 * 3, 4);
    CHECK(h == ((1u << (8 * 1 + 4 + 0)) | (1u << (8 * 2 + 4 + 1))), "q5_0 qh reordered: %08x", h);
}

int main(void)
{
    RUN_TEST(test_type_table);
    RUN_TEST(test_fp16_values);
    RUN_TEST(test_fp16_exhaustive);
    RUN_TEST(test_bf16);
    RUN_TEST(test_dequant_float);
    RUN_TEST(test_dequant_q4);
    RUN_TEST(test_dequant_iq4_nl);
    RUN_TEST(test_dequant_q5);
    RUN_TEST(test_dequant_q8);
    RUN_TEST(test_dequant_q2_K);
    RUN_TEST(test_dequant_q3_K);
    RUN_TEST(test_dequant_q4_K);
    RUN_TEST(test_dequant_q5_K);
    RUN_TEST(test_dequant_q6_K);
    RUN_TEST(test_quant_hand);
    RUN_TEST(test_quant_golden);
    RUN_TEST(test_round_trip);
    RUN_TEST(test_round_trip_k);
    RUN_TEST(test_x16_layout);
    RUN_TEST(test_oracle_tensors);
    RUN_TEST(test_oracle_requantize);
    return test_finish();
}
