/* test_floats.c: F16 <-> float conversion and sermo_st_read_floats. The
 * conversions are checked against the compiler's own _Float16 (GCC, Clang)
 * on every half value, every rounding midpoint and its neighbours, and a
 * million random floats; known bit patterns are checked everywhere. */
#include "check.h"
#include "io/safetensors.h"

#include <stdint.h>

static uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_float(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void test_known_values(void) {
    static const struct {
        float x;
        uint16_t h;
    } cases[] = {
        {1.0f, 0x3c00},          {-2.0f, 0xc000},         {1.0f / 3.0f, 0x3555},  {65504.0f, 0x7bff},
        {65519.99f, 0x7bff},     {65520.0f, 0x7c00},      {1e10f, 0x7c00},        {-INFINITY, 0xfc00},
        {0x1p-14f, 0x0400},      {0x1p-24f, 0x0001},      {0x1p-25f, 0x0000},     {0x1.8p-25f, 0x0001},
        {-0.0f, 0x8000},         {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x3p-11f, 0x3c02}, {0x1.ffcp-15f, 0x0400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint16_t h = sermo_st_half_from_float(cases[i].x);
        CHECK(h == cases[i].h, "%a -> 0x%04x, expected 0x%04x", (double)cases[i].x, h, cases[i].h);
    }
    CHECK(sermo_st_half_to_float(0x3555) == 0x1.554p-2f, "0x3555 -> %a", (double)sermo_st_half_to_float(0x3555));
    CHECK(sermo_st_half_to_float(0x0001) == 0x1p-24f, "smallest subnormal");
    CHECK(float_bits(sermo_st_half_to_float(0x8000)) == 0x80000000u, "negative zero");
    CHECK(isnan(sermo_st_half_to_float(sermo_st_half_from_float(NAN))), "NaN stays NaN");
}

#ifdef __FLT16_MAX__
static uint16_t compiler_half(float x) {
    _Float16 h = (_Float16)x;
    uint16_t u;
    memcpy(&u, &h, sizeof u);
    return u;
}

static void test_against_compiler(void) {
    int bad_widen = 0, bad_narrow = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        _Float16 ref;
        uint16_t bits = (uint16_t)h;
        memcpy(&ref, &bits, sizeof ref);
        float mine = sermo_st_half_to_float(bits), theirs = (float)ref;
        if (isnan(theirs) ? !isnan(mine) : float_bits(mine) != float_bits(theirs)) bad_widen++;
        if (isnan(theirs) || isinf(theirs)) continue;
        /* h itself, the midpoint to the next half up and the floats beside it. */
        float next = sermo_st_half_to_float((uint16_t)(h + 1));
        float mid = isfinite(next) ? (float)(((double)mine + next) / 2) : 65520.0f * (mine < 0 ? -1 : 1);
        const float probes[] = {mine, mid, bits_float(float_bits(mid) - 1), bits_float(float_bits(mid) + 1)};
        for (int k = 0; k < 4; k++) bad_narrow += sermo_st_half_from_float(probes[k]) != compiler_half(probes[k]);
    }
    CHECK(bad_widen == 0, "%d of 65536 halves widen differently from _Float16", bad_widen);
    CHECK(bad_narrow == 0, "%d probes round differently from _Float16", bad_narrow);
    uint64_t state = 12345;
    int bad_random = 0;
    for (int i = 0; i < 1000000; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        /* exponents around F16's range: 2^-30 .. 2^20 */
        uint32_t u = (uint32_t)(state >> 33) & 0x807fffffu, e = 97 + (uint32_t)((state >> 20) % 51);
        float x = bits_float(u | e << 23);
        bad_random += sermo_st_half_from_float(x) != compiler_half(x);
    }
    CHECK(bad_random == 0, "%d of 1e6 random floats round differently from _Float16", bad_random);
}
#endif

static void test_read_floats(void) {
    const float f32[4] = {1.5f, -2.25f, 0x1p-20f, 1000.0f};
    uint16_t f16[4];
    for (int i = 0; i < 4; i++) f16[i] = sermo_st_half_from_float(f32[i]);
    const uint8_t pad[3] = {0};
    const int32_t ints[4] = {0};
    /* The 3-byte tensor first leaves the F16 data at an odd offset. */
    sermo_st_tensor t[] = {{"pad", SERMO_ST_U8, 1, {3}, pad},
                           {"half", SERMO_ST_F16, 2, {2, 2}, f16},
                           {"single", SERMO_ST_F32, 1, {4}, f32},
                           {"ints", SERMO_ST_I32, 1, {4}, ints}};
    void *mem = NULL;
    size_t n = 0;
    sermo_error err = {0};
    CHECK(sermo_st_write_memory(t, 4, NULL, NULL, 0, &mem, &n, &err) == SERMO_OK, "%s", err.msg);
    sermo_st_file *f = mem ? sermo_st_open_memory(mem, n, "m.safetensors", &err) : NULL;
    CHECK(f != NULL, "%s", err.msg);
    if (!f) {
        free(mem);
        return;
    }
    float out[4] = {0};
    CHECK(sermo_st_read_floats(f, "half", 2, (int64_t[]){2, 2}, out, &err) == SERMO_OK, "half: %s", err.msg);
    for (int i = 0; i < 4; i++) CHECK(out[i] == f32[i], "half[%d] = %g, expected %g", i, out[i], f32[i]);
    memset(out, 0, sizeof out);
    CHECK(sermo_st_read_floats(f, "single", 1, (int64_t[]){4}, out, &err) == SERMO_OK, "single: %s", err.msg);
    CHECK(memcmp(out, f32, sizeof out) == 0, "single copied");
    sermo_status st = sermo_st_read_floats(f, "ints", 1, (int64_t[]){4}, out, &err);
    CHECK(st == SERMO_ERR_FORMAT && strcmp(err.msg, "m.safetensors: tensor 'ints': dtype I32 expected F32") == 0,
          "ints: %s", err.msg);
    st = sermo_st_read_floats(f, "half", 1, (int64_t[]){4}, out, &err);
    CHECK(st == SERMO_ERR_FORMAT && strstr(err.msg, "shape [2,2] expected [4]"), "shape: %s", err.msg);
    st = sermo_st_read_floats(f, "nothing", 1, (int64_t[]){4}, out, &err);
    CHECK(st == SERMO_ERR_FORMAT && strstr(err.msg, "missing tensor 'nothing'"), "missing: %s", err.msg);
    sermo_st_close(f);
    free(mem);
}

int main(void) {
    test_known_values();
#ifdef __FLT16_MAX__
    test_against_compiler();
#else
    fprintf(stderr, "note: no _Float16 in this compiler; checked known values only\n");
#endif
    test_read_floats();
    return check_report();
}
