/* vecmath.h: branch-free float exp, erf, tanh and sigmoid that GCC can
 * vectorise. Without -ffast-math GCC never vectorises calls to libm's expf,
 * erff or tanhf, so the element-wise ops (activation.c, softmax.c) spent most
 * of their time in scalar libm calls. These are plain inline arithmetic: a
 * Cody-Waite range reduction and a polynomial, the exponent built from bits,
 * every branch replaced by a select, so a `#pragma omp simd` loop around them
 * becomes SIMD code.
 *
 * Accuracy against libm in double precision, worst over every 61st float
 * of both signs (70 million values, denormals to FLT_MAX) and all three
 * clones below; tests/nn/test_vecmath.c asserts the bounds in brackets:
 *   nn_vec_exp      1.00 ulp [1.5]; denormal results within that many
 *                   steps of 2^-149; +inf from 88.72284, 0 below -103.9721,
 *                   NaN passes through
 *   nn_vec_erf      1.7e-7 relative [2.5e-7], also near 0 (denormals are
 *                   within 2^-149); exactly +-1 beyond 3.92
 *   nn_vec_tanh     1.3e-7 relative [2.5e-7], also near 0; exactly +-1
 *                   beyond 9.01 and at +-inf
 *   nn_vec_sigmoid  2.7 ulp [3], down to denormal results
 * (libm's expf is within 0.5 ulp; the polynomials here trade that last
 * half ulp for vector code, far inside the ops' float tolerances.)
 *
 * NN_VEC_CLONES compiles a kernel three times (AVX-512, x86-64-v3 = AVX2 +
 * FMA, baseline x86-64) and picks one at load time through an ifunc (GCC function
 * multi-versioning, https://gcc.gnu.org/onlinedocs/gcc/Common-Function-Attributes.html
 * `target_clones`), so the library still runs on any x86-64. Elsewhere it
 * expands to nothing. Results may differ in the last bit between clones (FMA
 * contraction), never between calls on one machine. */
#ifndef SERMO_NN_VECMATH_H
#define SERMO_NN_VECMATH_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    defined(__has_attribute)
#if __has_attribute(target_clones)
/* target_clones splits its strings at commas, so "avx2,fma" would make two
 * clones; x86-64-v3 (AVX2 + FMA + BMI) is one, from GCC 12. The name doubles
 * as the __builtin_cpu_supports feature the tests check. */
#if __GNUC__ >= 12
#define NN_VEC_TARGET_AVX2 "arch=x86-64-v3"
#define NN_VEC_CPU_AVX2 "x86-64-v3"
#else
#define NN_VEC_TARGET_AVX2 "avx2"
#define NN_VEC_CPU_AVX2 "avx2"
#endif
#define NN_VEC_CLONES __attribute__((target_clones("avx512f", NN_VEC_TARGET_AVX2, "default")))
#define NN_VEC_HAVE_CLONES 1 /* tests then run each clone's code */
#endif
#endif
#ifndef NN_VEC_CLONES
#define NN_VEC_CLONES
#endif

/* The helpers must be inlined into the simd loop, or it calls them per lane. */
#if defined(__GNUC__)
#define NN_VEC_INLINE static inline __attribute__((always_inline))
#else
#define NN_VEC_INLINE static inline
#endif

NN_VEC_INLINE uint32_t nn_vec_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

NN_VEC_INLINE float nn_vec_float(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* c ? a : b as bit masks. GCC keeps `c ? a : b` on floats a branch under
 * the default -ftrapping-math (it will not if-convert a comparison that may
 * raise FE_INVALID), and a loop with a branch is not vectorised except with
 * AVX-512 masks; a comparison evaluated unconditionally and a mask blend
 * vectorise everywhere (cmpps + and/andnot/or). */
NN_VEC_INLINE float nn_vec_select(int c, float a, float b) {
    uint32_t m = 0u - (uint32_t)c;
    return nn_vec_float((nn_vec_bits(a) & m) | (nn_vec_bits(b) & ~m));
}

/* exp(x) = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2]
 * (Cody & Waite, "Software Manual for the Elementary Functions", 1980:
 * ln 2 split in a 9-bit head, so n * LN2_HI is exact for |n| < 2^15, and a
 * tail). e^r = 1 + r + r^2 P(r), P the degree-5 minimax polynomial of
 * Cephes expf.c (S. L. Moshier). n is rounded by adding 1.5 * 2^23, which
 * leaves n in the low mantissa bits (no float->int conversion, which would
 * be undefined for NaN). 2^n is applied as two factors 2^(n/2) 2^(n - n/2),
 * each a normal float, so results that overflow round to +inf and results
 * below FLT_MIN come out as correctly scaled denormals (one rounding).
 * The clamps leave NaN alone (every comparison with NaN is false) and it
 * propagates through r. */
#define NN_VEC_EXP_LO (-105.0f) /* e^-105 < FLT_TRUE_MIN / 2: rounds to 0 */
#define NN_VEC_EXP_HI 89.0f     /* e^89 > FLT_MAX: rounds to +inf */
#define NN_VEC_LOG2E 1.44269504088896341f
#define NN_VEC_LN2_HI 0.693359375f
#define NN_VEC_LN2_LO (-2.12194440e-4f)
#define NN_VEC_SHIFTER 12582912.0f /* 1.5 * 2^23 */

NN_VEC_INLINE float nn_vec_exp(float x) {
    x = nn_vec_select(x < NN_VEC_EXP_LO, NN_VEC_EXP_LO, x);
    x = nn_vec_select(x > NN_VEC_EXP_HI, NN_VEC_EXP_HI, x);
    float t = x * NN_VEC_LOG2E + NN_VEC_SHIFTER;
    float j = t - NN_VEC_SHIFTER; /* n as a float */
    /* n + 256 in [105, 385] for x in the clamp range; unsigned: no UB on NaN */
    uint32_t ub = nn_vec_bits(t) - nn_vec_bits(NN_VEC_SHIFTER) + 256u;
    float r = x - j * NN_VEC_LN2_HI;
    r = r - j * NN_VEC_LN2_LO;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* biased exponents of 2^floor(n/2) and 2^(n - floor(n/2)), in [51, 192] */
    float s1 = nn_vec_float(((ub >> 1) - 1u) << 23);
    float s2 = nn_vec_float((ub - (ub >> 1) - 1u) << 23);
    return p * s1 * s2;
}

NN_VEC_INLINE float nn_vec_copysign(float mag, float sgn) {
    return nn_vec_float((nn_vec_bits(mag) & 0x7fffffffu) | (nn_vec_bits(sgn) & 0x80000000u));
}

/* erf (https://pytorch.org/docs/stable/generated/torch.erf.html, the
 * definition 2/sqrt(pi) int_0^x e^-t^2 dt), odd, from a = |x|:
 *   a < 1:  erf(a) = a P(a^2), P of degree 6 (erf(a)/a is even and smooth);
 *   a >= 1: erf(a) = 1 - exp(Q(a - 1)), Q of degree 6 fitted to
 *           log(erfc(a)) on [1, 4]; erfc(a) <= 0.16 there, so the
 *           subtraction loses nothing and Q's error enters scaled by erfc.
 * Both are near-minimax fits (iteratively reweighted least squares on 2000
 * Chebyshev nodes, mpmath reference; fit errors 1.2e-9 relative for P, and
 * 1.1e-9 relative to erf for Q) with coefficients rounded to float, so float
 * rounding dominates. Beyond a = 4 erf rounds to 1; a is clamped there so Q
 * is never extrapolated, and NaN fails `a < 1` and propagates through Q. */
NN_VEC_INLINE float nn_vec_erf(float x) {
    float a = nn_vec_copysign(x, 1.0f);
    float s = a * a;
    float p = 7.889114931e-05f;
    p = p * s - 8.020839887e-04f;
    p = p * s + 5.189535208e-03f;
    p = p * s - 2.685444430e-02f;
    p = p * s + 1.128360033e-01f;
    p = p * s - 3.761262596e-01f;
    p = p * s + 1.128379107e+00f;
    float small = p * a;
    float t = nn_vec_select(a > 4.0f, 4.0f, a) - 1.0f;
    float q = 1.863812067e-04f;
    q = q * t - 1.829390181e-03f;
    q = q * t + 9.895469062e-03f;
    q = q * t - 4.150350392e-02f;
    q = q * t - 8.431175947e-01f;
    q = q * t - 2.638966799e+00f;
    q = q * t - 1.849605560e+00f;
    float large = 1.0f - nn_vec_exp(q);
    return nn_vec_copysign(nn_vec_select(a < 1.0f, small, large), x);
}

/* tanh (https://pytorch.org/docs/stable/generated/torch.tanh.html), odd,
 * from a = |x|:
 *   a < 0.625: tanh(a) = a + a^3 R(a^2), R of degree 4 (fit error 4.1e-8
 *              relative to the a^3 term, itself < 0.13 a), so no
 *              cancellation near 0;
 *   otherwise: tanh(a) = 1 - 2 / (exp(2a) + 1); tanh >= 0.55 there, so the
 *              subtraction loses nothing. a is clamped at 10 (tanh rounds
 *              to 1 beyond 9.01), which maps +-inf to +-1. */
NN_VEC_INLINE float nn_vec_tanh(float x) {
    float a = nn_vec_copysign(x, 1.0f);
    float s = a * a;
    float p = -6.113182753e-03f;
    p = p * s + 2.101007476e-02f;
    p = p * s - 5.385406688e-02f;
    p = p * s + 1.333279461e-01f;
    p = p * s - 3.333332837e-01f;
    float small = a + a * s * p;
    float e = nn_vec_exp(2.0f * nn_vec_select(a > 10.0f, 10.0f, a));
    float large = 1.0f - 2.0f / (e + 1.0f);
    return nn_vec_copysign(nn_vec_select(a < 0.625f, small, large), x);
}

/* torch.sigmoid (https://pytorch.org/docs/stable/generated/torch.sigmoid.html),
 * evaluated from e = exp(-|x|) <= 1 so nothing overflows: 1 / (1 + e) for
 * x >= 0, e / (1 + e) for x < 0 (which keeps the tiny values for very
 * negative x that 1 / (1 + exp(-x)) would flush to 0 once exp overflows). */
NN_VEC_INLINE float nn_vec_sigmoid(float x) {
    float e = nn_vec_exp(nn_vec_copysign(x, -1.0f)); /* exp(-|x|) */
    float r = 1.0f / (1.0f + e);
    return nn_vec_select(x >= 0.0f, r, e * r);
}

#endif
