/* floats.c: float tensors of either width. Model weights may be stored as
 * IEEE binary16 (F16) to halve a file (ensemble.c does, for bundled
 * models); the loaders widen them to float with sermo_st_read_floats.
 * The conversions are exact bit manipulations (round to nearest, ties to
 * even), checked against the compiler's _Float16 in tests/io. */
#include "io/safetensors.h"

#include <math.h>
#include <string.h>

uint16_t sermo_st_half_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return sign | 0x7e00;                     /* NaN stays a (quiet) NaN */
    if (a >= 0x477ff000) return sign | 0x7c00;                    /* 65520 and up round to infinity */
    if (a >= 0x38800000) {                                        /* a normal half, 2^-14 and up */
        uint32_t m = a - 0x38000000;                              /* exponent rebiased from 127 to 15 */
        m += 0xfff + ((m >> 13) & 1);                             /* round the 13 dropped bits, ties to even */
        return sign | (uint16_t)(m >> 13);
    }
    if (a < 0x33000000) return sign;                              /* 2^-25 and below round to zero */
    /* A subnormal half: the value in units of 2^-24, rounded; reaching 0x400
     * is right too, since that bit pattern is the smallest normal. */
    uint32_t shift = 126 - (a >> 23), mant = (a & 0x7fffff) | 0x800000;
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), tie = 1u << (shift - 1);
    q += rem > tie || (rem == tie && (q & 1));
    return sign | (uint16_t)q;
}

float sermo_st_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) { /* zero or subnormal: m * 2^-24 */
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    u = sign | (e == 31 ? 0x7f800000 | (m << 13) : ((e + 112) << 23) | (m << 13));
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

sermo_status sermo_st_read_floats(const sermo_st_file *f, const char *name, int ndim, const int64_t *shape,
                                  float *out, sermo_error *err) {
    const sermo_st_tensor *t = sermo_st_find(f, name);
    sermo_st_dtype dtype = t && t->dtype == SERMO_ST_F16 ? SERMO_ST_F16 : SERMO_ST_F32;
    sermo_status st = sermo_st_expect(f, name, dtype, ndim, shape, err);
    if (st) return st;
    size_t n = (size_t)sermo_st_numel(t);
    if (dtype == SERMO_ST_F32) {
        if (n) memcpy(out, t->data, sizeof(float) * n);
        return SERMO_OK;
    }
    const unsigned char *p = t->data; /* F16 data need not be 2-byte aligned */
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        out[i] = sermo_st_half_to_float(h);
    }
    return SERMO_OK;
}
