/* gradcheck_util.h: central finite differences against an op's backward,
 * for tests/nn/test_gradcheck.c and test_transformer_ops.c.
 *
 * For an op y = f(x, ...) and a fixed random upstream r, the scalar
 * loss(x) = sum(y * r) (summed in double) has gradient backward(dout = r).
 * Numerically: (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps) with the
 * float-rounded step. Gradient buffers start at GRAD_PRIOR and the check
 * subtracts it, so a backward that overwrites instead of accumulating fails. */
#ifndef SERMO_NN_GRADCHECK_UTIL_H
#define SERMO_NN_GRADCHECK_UTIL_H

#include "check.h"

typedef double (*loss_fn)(void *ctx);

static double dot(const float *y, const float *r, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

#define GRAD_PRIOR 0.75f

/* A gradient buffer holding GRAD_PRIOR, as if an earlier backward had run. */
static float *prior(size_t n) {
    float *g = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) g[i] = GRAD_PRIOR;
    return g;
}

/* analytic - base against central differences of f in x. */
static void gradcheck_from(const char *what, float *x, size_t n, const float *analytic, float base,
                           loss_fn f, void *ctx, float eps, double atol, double rtol) {
    float *num = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) got[i] = analytic[i] - base;
    for (size_t i = 0; i < n; i++) {
        float save = x[i];
        float xp = save + eps, xm = save - eps;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = save;
        num[i] = (float)((lp - lm) / ((double)xp - (double)xm));
    }
    check_close(what, got, num, (long)n, atol, rtol);
    free(num), free(got);
}

static void gradcheck(const char *what, float *x, size_t n, const float *analytic, loss_fn f,
                      void *ctx, float eps, double atol, double rtol) {
    gradcheck_from(what, x, n, analytic, GRAD_PRIOR, f, ctx, eps, atol, rtol);
}

#endif
