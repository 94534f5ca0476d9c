/* kernels/x86_x16.h: what both x86 sets read alike from the x16 layout
 * (format/x16.h), written once over their vector ops (VI, vi_*, vf_*:
 * kernels/x86_gemmq.h lists them); included by kernels/avx2_quant.h and
 * kernels/avx512_tile.h before their x16 kernels. */
#ifndef TINYLLM_KERNELS_X86_X16_H
#define TINYLLM_KERNELS_X86_X16_H

/* Q4_K/Q5_K: the 8 scales and mins of each lane's row, 6 bits each in 12
 * bytes, decoded in all lanes at once (k4_scales' formula on the three
 * dword vectors at p, 64 bytes apart: p = the column's X16_Q4_K_SC, plus
 * 4 * TILE bytes per tile of rows before this one): sc[h], mn[h] byte s of
 * lane i = sub-block 4h + s of row i. */
INLINE void x16_k4_scales(const char *p, VI sc[2], VI mn[2])
{
    VI s0 = vi_loadu(p), s1 = vi_loadu(p + 64), s2 = vi_loadu(p + 128);
    VI m6 = vi_set1_32(0x3f3f3f3f), m4 = vi_set1_32(0x0f0f0f0f), m2 = vi_set1_32(0x30303030);
    sc[0] = vi_and(s0, m6);
    sc[1] = vi_or(vi_and(s2, m4), vi_and(vi_srli32(s0, 2), m2));
    mn[0] = vi_and(s1, m6);
    mn[1] = vi_or(vi_and(vi_srli32(s2, 4), m4), vi_and(vi_srli32(s1, 2), m2));
}

/* Sub-block s's byte of each lane (from x16_k4_scales) as a float. */
INLINE VF x16_k4_byte(const VI v[2], int s)
{
    return vf_from_i32(vi_and(vi_srli32(v[s / 4], 8 * (s % 4)), vi_set1_32(0xff)));
}

#endif
