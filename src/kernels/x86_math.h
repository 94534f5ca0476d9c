/* kernels/x86_math.h: e^x of both x86 sets written once over their vector
 * ops (vf_*: kernels/x86_gemmq.h lists them), included by kernels/avx2.c
 * and kernels/avx512.c before their softmax and SwiGLU. */
#ifndef TINYLLM_KERNELS_X86_MATH_H
#define TINYLLM_KERNELS_X86_MATH_H

/* e^x within 2 ulp (the scalar set's expf is the reference): x = n ln2 + r,
 * |r| <= ln2/2 (ln2 in two parts so r is exact), e^r by Cephes' degree-5
 * polynomial, times 2^n. x is clamped to [-87.3, 88]: e^x stays a normal
 * float, and softmax and SiLU need nothing beyond. */
INLINE VF vf_exp(VF x)
{
    x = vf_min(vf_max(x, vf_set1(-87.33654f)), vf_set1(88.0f));
    VF n = vf_round(vf_mul(x, vf_set1(1.44269504088896341f)));
    VF r = vf_fnmadd(n, vf_set1(0.693359375f), x);
    r = vf_fnmadd(n, vf_set1(-2.12194440e-4f), r);
    VF p = vf_set1(1.9875691500e-4f);
    p = vf_fmadd(p, r, vf_set1(1.3981999507e-3f));
    p = vf_fmadd(p, r, vf_set1(8.3334519073e-3f));
    p = vf_fmadd(p, r, vf_set1(4.1665795894e-2f));
    p = vf_fmadd(p, r, vf_set1(1.6666665459e-1f));
    p = vf_fmadd(p, r, vf_set1(5.0000001201e-1f));
    p = vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
    return vf_scale2(p, n);
}

#endif
