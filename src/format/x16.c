/* format/x16.c: packing weights to the x16 layout and back (format/x16.h).
 * The field table below names the block structs' fields; their offsets
 * (offsetof) are the layout, as they are for the kernels' X16_* constants. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "format/x16.h"

/* One field of a block: where it starts in the block, its bytes, and
 * whether it is f16 words (gathered as 16 words) or bytes (as dwords). */
struct x16_field { int at, bytes, word; };

#define FIELD(blk, f, w) { (int)offsetof(struct blk, f), (int)sizeof(((struct blk *)0)->f), w }

static const struct x16_field f_q4_0[] = { FIELD(block_q4_0, d, 1), FIELD(block_q4_0, qs, 0) };
static const struct x16_field f_iq4_nl[] = { FIELD(block_iq4_nl, d, 1), FIELD(block_iq4_nl, qs, 0) };
static const struct x16_field f_q8_0[] = { FIELD(block_q8_0, d, 1), FIELD(block_q8_0, qs, 0) };
static const struct x16_field f_q5_0[] = { FIELD(block_q5_0, d, 1), FIELD(block_q5_0, qh, 0), FIELD(block_q5_0, qs, 0) };
static const struct x16_field f_q4_K[] = {
    FIELD(block_q4_K, d, 1), FIELD(block_q4_K, dmin, 1), FIELD(block_q4_K, scales, 0), FIELD(block_q4_K, qs, 0),
};
static const struct x16_field f_q2_K[] = {
    FIELD(block_q2_K, scales, 0), FIELD(block_q2_K, qs, 0), FIELD(block_q2_K, d, 1), FIELD(block_q2_K, dmin, 1),
};
static const struct x16_field f_q3_K[] = {
    FIELD(block_q3_K, hmask, 0), FIELD(block_q3_K, qs, 0), FIELD(block_q3_K, scales, 0), FIELD(block_q3_K, d, 1),
};
static const struct x16_field f_q5_K[] = {
    FIELD(block_q5_K, d, 1), FIELD(block_q5_K, dmin, 1), FIELD(block_q5_K, scales, 0), FIELD(block_q5_K, qh, 0),
    FIELD(block_q5_K, qs, 0),
};

#define N(a) (int)(sizeof a / sizeof a[0])

/* The fields of type's block in block order (*f), and how many; 0 for a
 * type without the layout. */
static int x16_fields(uint32_t type, const struct x16_field **f)
{
    switch (type) {
    case TL_Q4_0: *f = f_q4_0; return N(f_q4_0);
    case TL_IQ4_NL: *f = f_iq4_nl; return N(f_iq4_nl);
    case TL_Q8_0: *f = f_q8_0; return N(f_q8_0);
    case TL_Q5_0: *f = f_q5_0; return N(f_q5_0);
    case TL_Q4_K: *f = f_q4_K; return N(f_q4_K);
    case TL_Q2_K: *f = f_q2_K; return N(f_q2_K);
    case TL_Q3_K: *f = f_q3_K; return N(f_q3_K);
    case TL_Q5_K: *f = f_q5_K; return N(f_q5_K);
    default: return 0;
    }
}

bool x16_packable(uint32_t type)
{
    const struct x16_field *f;
    return x16_fields(type, &f) > 0;
}

/* Offset in a packed block column of byte k of row i's block: the field's
 * data starts at X16 times its offset in the block (format/x16.h). */
static size_t x16_at(const struct x16_field *f, int nf, int i, int k)
{
    for (int j = 0; j < nf; j++) {
        int o = k - f[j].at;
        if (o < 0 || o >= f[j].bytes)
            continue;
        return (size_t)X16 * (size_t)f[j].at + (f[j].word ? 2 * (size_t)i + (size_t)o
                                                           : (size_t)(o / 4) * 4 * X16 + 4 * (size_t)i + (size_t)(o % 4));
    }
    assert(!"x16_at: a byte outside every field");
    return 0;
}

/* Q5_0's qh in the layout: the high bit of element 4j + t at bit 8t + j and
 * of element 16 + 4j + t at bit 8t + 4 + j (t, j < 4), so one shift and a
 * mask put quad j's four bits at bit 4 of its four bytes. in: from the
 * file's order (bit e for element e) to the layout's; else back. */
static uint32_t q5_qh_order(uint32_t v, bool in)
{
    uint32_t o = 0;
    for (int e = 0; e < 32; e++) {
        int at = 8 * (e % 4) + 4 * (e / 16) + (e % 16) / 4;
        o |= in ? (v >> e & 1u) << at : (v >> at & 1u) << e;
    }
    return o;
}

/* A block's bytes as the layout holds them (before the byte moves; in) or
 * back: Q8_0 quants + 128 (vpdpbusd's unsigned side), Q5_0's qh bits
 * reordered. */
static void x16_block_convert(uint32_t type, uint8_t *b, bool in)
{
    if (type == TL_Q8_0)
        for (size_t k = offsetof(struct block_q8_0, qs); k < sizeof(struct block_q8_0); k++)
            b[k] ^= 0x80;
    if (type == TL_Q5_0) {
        uint32_t h;
        memcpy(&h, b + offsetof(struct block_q5_0, qh), 4);
        h = q5_qh_order(h, in);
        memcpy(b + offsetof(struct block_q5_0, qh), &h, 4);
    }
}

enum { X16_MAX_BLOCK = 256 };   /* bytes of the largest packable block */

bool pack_x16(uint32_t type, void *w, size_t row_bytes, int n_rows)
{
    const struct x16_field *f;
    int nf = x16_fields(type, &f), bs = type_info(type)->block_bytes;
    size_t nb = row_bytes / (size_t)bs;
    uint16_t at[X16][X16_MAX_BLOCK];   /* where byte k of row i goes */
    for (int k = 0; k < bs; k++)
        for (int i = 0; i < X16; i++)
            at[i][k] = (uint16_t)x16_at(f, nf, i, k);
    char *tmp = malloc(X16 * row_bytes);
    if (!tmp)
        return false;
    for (int r = 0; r + X16 <= n_rows; r += X16) {
        char *g = (char *)w + (size_t)r * row_bytes;
        memcpy(tmp, g, X16 * row_bytes);
        for (int i = 0; i < X16; i++) {
            const uint8_t *src = (const uint8_t *)tmp + (size_t)i * row_bytes;
            for (size_t b = 0; b < nb; b++, src += bs) {
                uint8_t blk[X16_MAX_BLOCK];
                char *col = g + b * X16 * (size_t)bs;
                memcpy(blk, src, (size_t)bs);
                x16_block_convert(type, blk, true);
                for (int k = 0; k < bs; k++)
                    col[at[i][k]] = (char)blk[k];
            }
        }
    }
    free(tmp);
    return true;
}

void unpack_x16_row(uint32_t type, const void *w, size_t row_bytes, int r, void *row)
{
    const struct x16_field *f;
    int nf = x16_fields(type, &f), bs = type_info(type)->block_bytes, i = r % X16;
    size_t nb = row_bytes / (size_t)bs;
    const char *g = (const char *)w + (size_t)(r - i) * row_bytes;
    for (size_t b = 0; b < nb; b++) {
        uint8_t *dst = (uint8_t *)row + b * (size_t)bs;
        for (int k = 0; k < bs; k++)
            dst[k] = (uint8_t)g[b * X16 * (size_t)bs + x16_at(f, nf, i, k)];
        x16_block_convert(type, dst, false);
    }
}
