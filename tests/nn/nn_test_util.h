/* nn_test_util.h: what the fast-path tests share: random fills, copies, and
 * a comparison at REL relative to the reference's largest value. */
#ifndef SERMO_NN_TEST_UTIL_H
#define SERMO_NN_TEST_UTIL_H

#include "check.h"
#include "internal.h"

#define REL 1e-5

static void fill(sermo_rng *rng, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)(2.0 * sermo_rng_uniform(rng) - 1.0);
}

static float *dup(const float *v, size_t n) {
    float *d = malloc(sizeof(float) * (n ? n : 1));
    memcpy(d, v, sizeof(float) * n);
    return d;
}

static void compare(const char *label, const char *what, const float *got, const float *ref, size_t n) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    char name[160];
    snprintf(name, sizeof name, "%s.%s", label, what);
    check_close(name, got, ref, (long)n, REL * mx, REL);
}

#endif
