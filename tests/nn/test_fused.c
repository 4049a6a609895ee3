/* test_fused.c: the fused BatchNorm2d -> ReLU -> MaxPool2d kernels
 * (src/nn/fused.c) against the composition of the naive references
 *   nn_batchnorm2d_forward -> nn_relu_forward -> nn_maxpool2d_forward
 * and backward nn_maxpool2d_backward -> nn_relu_backward -> nn_batchnorm2d_backward
 * (each into zeros, then the BN backward onto prior gradients), on odd shapes,
 * train and eval, both nn_grad_mode's, 1 and 2 threads.
 * Inputs have a mean far from 0, BN weights of both signs (so relu(affine) is
 * not monotone in x) and, in the "ties" cases, few levels, so windows hold
 * equal values and the first-max rule decides the argmax. Odd H and W leave
 * rows and columns that no window covers; their dx is BN's term alone.
 * Tolerance: |fused - ref| <= 1e-5 |ref| + 1e-5 max|ref|, as
 * test_fast_vs_naive.c; argmax must match exactly. Gradient buffers start
 * non-zero, so the checks prove that backward accumulates (+=) and that
 * OVERWRITE ignores what the buffer held. Last, central finite differences
 * of sum(out * r) check the fused backward on a tiny shape. */
#include "check.h"
#include "nn/nn.h"

#include "nn_test_util.h"

typedef struct fused_case {
    const char *name;
    int B, C, H, W, K, stride, pad;
    int train;
    int ties; /* x on a few levels */
} fused_case;

static void check_fused(const fused_case *t, sermo_rng *rng) {
    nn_pool2d p;
    CHECK(nn_pool2d_init(&p, t->B, t->C, t->H, t->W, t->K, t->stride, t->pad, NULL) == SERMO_OK,
          "%s: setup", t->name);
    int B = t->B, C = t->C, HW = t->H * t->W;
    size_t n = (size_t)B * C * HW, ny = (size_t)B * C * p.OH * p.OW;
    float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * ny);
    float *dx0 = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * C);
    float *bb = malloc(sizeof(float) * C), *rm0 = malloc(sizeof(float) * C);
    float *rv0 = malloc(sizeof(float) * C), *dw0 = malloc(sizeof(float) * C);
    float *db0 = malloc(sizeof(float) * C);
    fill(rng, x, n), fill(rng, dy, ny), fill(rng, dx0, n), fill(rng, w, C), fill(rng, bb, C);
    fill(rng, rm0, C), fill(rng, rv0, C), fill(rng, dw0, C), fill(rng, db0, C);
    for (size_t i = 0; i < n; i++)
        x[i] = t->ties ? 3.0f + roundf(x[i] * 2.0f) : 3.0f + 2.0f * x[i]; /* mean far from 0 */
    for (int c = 0; c < C; c++) {
        if (c % 2) w[c] = -fabsf(w[c]) - 0.25f; /* negative: the pool picks the smallest x */
        rm0[c] = 3.0f + rm0[c];
        rv0[c] = 0.5f + rv0[c] * rv0[c];
    }

    /* reference forward: BN, ReLU in place, max-pool */
    float *act = malloc(sizeof(float) * n), *mean_ref = malloc(sizeof(float) * C);
    float *rstd_ref = malloc(sizeof(float) * C), *rm_ref = dup(rm0, C), *rv_ref = dup(rv0, C);
    float *y_ref = malloc(sizeof(float) * ny);
    int32_t *am_ref = malloc(sizeof(int32_t) * ny);
    nn_batchnorm2d_forward(act, mean_ref, rstd_ref, rm_ref, rv_ref, x, w, bb, B, C, HW, NN_BN_EPS,
                           NN_BN_MOMENTUM, t->train);
    nn_relu_forward(act, act, n);
    nn_maxpool2d_forward(y_ref, am_ref, act, &p);
    /* reference backward: pool and ReLU into zeros, BN onto the prior gradients */
    float *dact = calloc(n, sizeof(float)), *dbn = calloc(n, sizeof(float));
    nn_maxpool2d_backward(dact, dy, am_ref, &p);
    nn_relu_backward(dbn, dact, act, n);
    float *dx_ref = dup(dx0, n), *dw_ref = dup(dw0, C), *db_ref = dup(db0, C);
    nn_batchnorm2d_backward(dx_ref, dw_ref, db_ref, dbn, mean_ref, rstd_ref, x, w, B, C, HW,
                            t->train);
    float *dxz_ref = calloc(n, sizeof(float));
    nn_batchnorm2d_backward(dxz_ref, NULL, NULL, dbn, mean_ref, rstd_ref, x, w, B, C, HW,
                            t->train);
    long live = 0; /* windows whose gradient passes the ReLU: 2x2 cases must have both */
    for (size_t i = 0; i < ny; i++) live += y_ref[i] > 0.0f;
    CHECK(live > 0 && (live < (long)ny || t->K != 2 || ny < 8), "%s: %ld of %zu windows live",
          t->name, live, ny);

    for (int threads = 1; threads <= 2; threads++) {
        char label[128];
        snprintf(label, sizeof label, "%s.t%d", t->name, threads);
        float *y = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        float *mean = malloc(sizeof(float) * C), *rstd = malloc(sizeof(float) * C);
        float *rm = dup(rm0, C), *rv = dup(rv0, C), *rm2 = dup(rm0, C), *rv2 = dup(rv0, C);
        int32_t *am = malloc(sizeof(int32_t) * ny);
        nn_bn_relu_maxpool2d_forward_fast(y, am, mean, rstd, rm, rv, x, w, bb, &p, NN_BN_EPS,
                                          NN_BN_MOMENTUM, t->train, threads);
        compare(label, "y", y, y_ref, ny);
        compare(label, "mean", mean, mean_ref, C);
        compare(label, "rstd", rstd, rstd_ref, C);
        compare(label, "running_mean", rm, rm_ref, C);
        compare(label, "running_var", rv, rv_ref, C);
        long bad = 0;
        for (size_t i = 0; i < ny; i++) bad += am[i] != am_ref[i];
        CHECK(bad == 0, "%s: %ld argmax differ", label, bad);
        /* without argmax (inference): the same output bits */
        nn_bn_relu_maxpool2d_forward_fast(y2, NULL, NULL, NULL, rm2, rv2, x, w, bb, &p, NN_BN_EPS,
                                          NN_BN_MOMENTUM, t->train, threads);
        CHECK(memcmp(y, y2, sizeof(float) * ny) == 0, "%s: output differs without argmax", label);

        float *dx = dup(dx0, n), *dw = dup(dw0, C), *db = dup(db0, C), *dxo = dup(dx0, n);
        nn_bn_relu_maxpool2d_backward_fast(dx, dw, db, dy, am, y, mean, rstd, x, w, &p, t->train,
                                           NN_GRAD_ACCUMULATE, threads);
        nn_bn_relu_maxpool2d_backward_fast(dxo, NULL, NULL, dy, am, y, mean, rstd, x, w, &p,
                                           t->train, NN_GRAD_OVERWRITE, threads);
        compare(label, "dx", dx, dx_ref, n);
        compare(label, "dw", dw, dw_ref, C);
        compare(label, "db", db, db_ref, C);
        compare(label, "dx_overwrite", dxo, dxz_ref, n);
        free(y), free(y2), free(mean), free(rstd), free(rm), free(rv), free(rm2), free(rv2);
        free(am), free(dx), free(dw), free(db), free(dxo);
    }
    free(x), free(dy), free(dx0), free(w), free(bb), free(rm0), free(rv0), free(dw0), free(db0);
    free(act), free(mean_ref), free(rstd_ref), free(rm_ref), free(rv_ref), free(y_ref);
    free(am_ref), free(dact), free(dbn), free(dx_ref), free(dw_ref), free(db_ref), free(dxz_ref);
}

/* Eval with NaN and infinities in x: the ReLU turns NaN into 0 and the
 * reference's argmax rule still holds (forward only: backward through NaN is NaN). */
static void check_nan_eval(sermo_rng *rng) {
    nn_pool2d p;
    CHECK(nn_pool2d_init(&p, 2, 3, 5, 37, 2, 2, 0, NULL) == SERMO_OK, "nan: setup");
    size_t n = (size_t)2 * 3 * 5 * 37, ny = (size_t)2 * 3 * p.OH * p.OW;
    float *x = malloc(sizeof(float) * n), *act = malloc(sizeof(float) * n);
    float w[3] = {1.5f, -0.5f, 2.0f}, b[3] = {0.1f, 0.2f, -0.3f};
    float rm[3] = {0.0f, 0.1f, -0.2f}, rv[3] = {1.0f, 2.0f, 0.5f};
    fill(rng, x, n);
    for (size_t i = 0; i < n; i++) {
        if (i % 13 == 3) x[i] = NAN;
        if (i % 29 == 7) x[i] = i % 2 ? INFINITY : -INFINITY;
    }
    float *y_ref = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
    int32_t *am_ref = malloc(sizeof(int32_t) * ny), *am = malloc(sizeof(int32_t) * ny);
    nn_batchnorm2d_forward(act, NULL, NULL, rm, rv, x, w, b, 2, 3, 5 * 37, NN_BN_EPS,
                           NN_BN_MOMENTUM, 0);
    nn_relu_forward(act, act, n);
    nn_maxpool2d_forward(y_ref, am_ref, act, &p);
    for (int threads = 1; threads <= 2; threads++) {
        nn_bn_relu_maxpool2d_forward_fast(y, am, NULL, NULL, rm, rv, x, w, b, &p, NN_BN_EPS,
                                          NN_BN_MOMENTUM, 0, threads);
        long bad = 0;
        for (size_t i = 0; i < ny; i++)
            bad += am[i] != am_ref[i] || memcmp(&y[i], &y_ref[i], sizeof(float)) != 0;
        CHECK(bad == 0, "nan_eval.t%d: %ld outputs or argmax differ", threads, bad);
    }
    free(x), free(act), free(y_ref), free(y), free(am_ref), free(am);
}

/* ------------------------------------------------------ finite differences */

typedef struct fd_ctx {
    nn_pool2d p;
    float *x, *w, *b, *y, *r;
} fd_ctx;

static double fd_loss(fd_ctx *k) {
    nn_bn_relu_maxpool2d_forward_fast(k->y, NULL, NULL, NULL, NULL, NULL, k->x, k->w, k->b, &k->p,
                                      NN_BN_EPS, NN_BN_MOMENTUM, 1, 1);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)k->p.B * k->p.C * k->p.OH * k->p.OW; i++)
        s += (double)k->y[i] * k->r[i];
    return s;
}

/* analytic (minus the prior it accumulated onto) against central differences. */
static void fd_check(const char *what, fd_ctx *k, float *v, size_t n, const float *analytic,
                     float prior) {
    const float eps = 3e-3f;
    float *num = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        float save = v[i], vp = save + eps, vm = save - eps;
        v[i] = vp;
        double lp = fd_loss(k);
        v[i] = vm;
        double lm = fd_loss(k);
        v[i] = save;
        num[i] = (float)((lp - lm) / ((double)vp - (double)vm));
        got[i] = analytic[i] - prior;
    }
    check_close(what, got, num, (long)n, 2e-3, 1e-2);
    free(num), free(got);
}

/* The smallest distance of x's BN affine from the ReLU's kink at 0, and of
 * each live window's max from its runner-up: central differences are only
 * valid when both exceed the step's effect. */
static double fd_margin(const fd_ctx *k, const float *mean, const float *rstd) {
    const nn_pool2d *p = &k->p;
    int HW = p->H * p->W;
    double margin = INFINITY;
    for (int pl = 0; pl < p->B * p->C; pl++) {
        int c = pl % p->C;
        double scale = (double)k->w[c] * rstd[c], shift = k->b[c] - mean[c] * scale;
        const float *x = k->x + (size_t)pl * HW;
        for (int i = 0; i < HW; i++) margin = fmin(margin, fabs(x[i] * scale + shift));
        for (int oy = 0; oy < p->OH; oy++)
            for (int ox = 0; ox < p->OW; ox++) {
                double best = 0.0, second = 0.0; /* relu values */
                int y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
                for (int iy = y0; iy < y0 + p->KH; iy++)
                    for (int ix = x0; ix < x0 + p->KW; ix++) {
                        if (iy < 0 || ix < 0 || iy >= p->H || ix >= p->W) continue;
                        double v = fmax(x[iy * p->W + ix] * scale + shift, 0.0);
                        if (v > best) second = best, best = v;
                        else if (v > second) second = v;
                    }
                if (best > 0.0) margin = fmin(margin, best - second);
            }
    }
    return margin;
}

static void check_fd(sermo_rng *rng, int H, int W, int K, int stride, int pad) {
    fd_ctx k;
    CHECK(nn_pool2d_init(&k.p, 2, 2, H, W, K, stride, pad, NULL) == SERMO_OK, "fd: setup");
    int C = 2, HW = H * W;
    size_t n = (size_t)2 * C * HW, ny = (size_t)2 * C * k.p.OH * k.p.OW;
    float w[2] = {1.3f, -0.8f}, b[2] = {0.2f, 0.1f}, mean[2], rstd[2];
    k.x = malloc(sizeof(float) * n), k.w = w, k.b = b, k.y = malloc(sizeof(float) * ny);
    k.r = malloc(sizeof(float) * ny);
    int32_t *am = malloc(sizeof(int32_t) * ny);
    /* distinct values on a grid, shuffled until no element sits near the
     * ReLU's kink and no live window near a tie (a kink within the step
     * would break the difference quotient, not the kernel) */
    for (size_t i = 0; i < n; i++) k.x[i] = (float)i * 0.05f - 0.025f * (float)n;
    double margin = 0.0;
    for (int tries = 0; tries < 1000 && margin < 0.02; tries++) {
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(sermo_rng_uniform(rng) * (double)(i + 1));
            float t = k.x[i];
            k.x[i] = k.x[j], k.x[j] = t;
        }
        nn_bn_relu_maxpool2d_forward_fast(k.y, am, mean, rstd, NULL, NULL, k.x, w, b, &k.p,
                                          NN_BN_EPS, NN_BN_MOMENTUM, 1, 1);
        margin = fd_margin(&k, mean, rstd);
    }
    CHECK(margin >= 0.02, "fd: no input with a margin of 0.02 from kinks (best %g)", margin);
    fill(rng, k.r, ny);
    const float prior = 0.75f;
    float *dx = malloc(sizeof(float) * n), dw[2] = {prior, prior}, db[2] = {prior, prior};
    for (size_t i = 0; i < n; i++) dx[i] = prior;
    nn_bn_relu_maxpool2d_backward_fast(dx, dw, db, k.r, am, k.y, mean, rstd, k.x, w, &k.p, 1,
                                       NN_GRAD_ACCUMULATE, 1);
    char label[64];
    snprintf(label, sizeof label, "fd_k%ds%dp%d_%dx%d.dx", K, stride, pad, H, W);
    fd_check(label, &k, k.x, n, dx, prior);
    snprintf(label, sizeof label, "fd_k%ds%dp%d_%dx%d.dw", K, stride, pad, H, W);
    fd_check(label, &k, w, 2, dw, prior);
    snprintf(label, sizeof label, "fd_k%ds%dp%d_%dx%d.db", K, stride, pad, H, W);
    fd_check(label, &k, b, 2, db, prior);
    free(k.x), free(k.y), free(k.r), free(am), free(dx);
}

int main(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 91);
    /* name, B, C, H, W, K, stride, pad, train, ties. W 37/75 run the 8-wide
     * loops and their tails; 7x9 only the scalar tail; the k3s2p1 and k3s1
     * cases take the plain-loop path (overlapping windows); the big ones are
     * large enough for the OpenMP path. */
    static const fused_case cases[] = {
        {"odd_train", 3, 5, 7, 9, 2, 2, 0, 1, 0},
        {"odd_train_ties", 3, 5, 7, 9, 2, 2, 0, 1, 1},
        {"odd_eval", 3, 5, 7, 9, 2, 2, 0, 0, 0},
        {"odd_eval_ties", 3, 5, 7, 9, 2, 2, 0, 0, 1},
        {"wide_train", 3, 5, 7, 37, 2, 2, 0, 1, 0},
        {"wide_train_ties", 2, 3, 9, 75, 2, 2, 0, 1, 1},
        {"wide_eval", 3, 5, 8, 37, 2, 2, 0, 0, 1},
        {"even_train", 2, 4, 6, 32, 2, 2, 0, 1, 0},
        {"batch1_train", 1, 4, 3, 17, 2, 2, 0, 1, 0},
        {"tiny", 1, 2, 2, 2, 2, 2, 0, 1, 0},
        {"big_train", 4, 16, 32, 150, 2, 2, 0, 1, 0},
        {"big_train_ties", 4, 16, 33, 151, 2, 2, 0, 1, 1},
        {"big_eval", 4, 16, 31, 149, 2, 2, 0, 0, 0},
        {"k3s2p1_train", 3, 5, 9, 11, 3, 2, 1, 1, 1},
        {"k3s1_eval", 2, 3, 7, 9, 3, 1, 0, 0, 0},
        {"k3s1_train", 2, 3, 7, 9, 3, 1, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_fused(&cases[i], &rng);
    check_nan_eval(&rng);
    check_fd(&rng, 5, 7, 2, 2, 0);
    check_fd(&rng, 5, 6, 3, 2, 1);
    return check_report();
}
