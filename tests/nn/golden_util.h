/* golden_util.h: reading PyTorch golden tensors (fixture.h; gen_fixtures.py
 * and its siblings write them) and comparing against them, for
 * test_zoo_ops.c, and meant for test_golden.c's copies of the same helpers.
 * The test includes "nn/fixture.c" once itself.
 * Tolerances, |got - ref| <= atol + rtol |ref| against float64 references:
 *   forward outputs 1e-5 abs + 1e-4 rel, gradients 1e-4 abs + 1e-4 rel. */
#ifndef SERMO_NN_GOLDEN_UTIL_H
#define SERMO_NN_GOLDEN_UTIL_H

#include "check.h"
#include "nn/fixture.h"
#include "nn/nn.h"

#define GOLDEN_FWD_ATOL 1e-5
#define GOLDEN_FWD_RTOL 1e-4
#define GOLDEN_GRAD_ATOL 1e-4
#define GOLDEN_GRAD_RTOL 1e-4

static inline float *golden_zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* "<prefix>.<name>" from f, which must hold n elements; NULL (a failed
 * check) otherwise. */
static inline const float *golden_get(const fixture *f, const char *prefix, const char *name,
                                      size_t n) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    size_t got = 0;
    const float *p = fixture_get(f, key, &got, NULL, NULL);
    CHECK(p != NULL && got == n, "fixture tensor %s: %zu elements, expected %zu", key, got, n);
    return p && got == n ? p : NULL;
}

/* check_close labelled "<prefix>.<what>"; a NULL ref already failed in golden_get. */
static inline void golden_compare(const char *prefix, const char *what, const float *got,
                                  const float *ref, size_t n, double atol, double rtol) {
    char label[256];
    snprintf(label, sizeof label, "%s.%s", prefix, what);
    if (ref) check_close(label, got, ref, (long)n, atol, rtol);
}

/* A conv2d case as gen_fixtures.py's conv_cases writes it: cfg (15) = B, C_in,
 * H, W, C_out, KH, KW, stride h/w, pad h/w, dilation h/w, groups, has_bias;
 * x, w, b, dy and y, dx, dw, db. Checks the naive loop and the fast path
 * (2 threads) from zeroed gradients. */
static inline void golden_conv(const fixture *f, const char *name) {
    const float *cfg = golden_get(f, name, "cfg", 15);
    if (!cfg) return;
    nn_conv2d c = {.B = (int)cfg[0], .C_in = (int)cfg[1], .H = (int)cfg[2], .W = (int)cfg[3],
                   .C_out = (int)cfg[4], .KH = (int)cfg[5], .KW = (int)cfg[6],
                   .stride_h = (int)cfg[7], .stride_w = (int)cfg[8], .pad_h = (int)cfg[9],
                   .pad_w = (int)cfg[10], .dil_h = (int)cfg[11], .dil_w = (int)cfg[12],
                   .groups = (int)cfg[13]};
    int has_bias = (int)cfg[14];
    CHECK(nn_conv2d_setup(&c, NULL) == SERMO_OK, "%s: setup", name);
    size_t nx = (size_t)c.B * c.C_in * c.H * c.W, ny = (size_t)c.B * c.C_out * c.OH * c.OW;
    size_t nw = (size_t)c.C_out * (c.C_in / c.groups) * c.KH * c.KW, nb = (size_t)c.C_out;
    const float *x = golden_get(f, name, "x", nx), *w = golden_get(f, name, "w", nw);
    const float *b = has_bias ? golden_get(f, name, "b", nb) : NULL;
    const float *dy = golden_get(f, name, "dy", ny);
    if (!x || !w || !dy || (has_bias && !b)) return;
    float *ws = golden_zeros(nn_conv2d_workspace_size(&c, 2));
    for (int fast = 0; fast < 2; fast++) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s.%s", name, fast ? "fast" : "naive");
        float *y = golden_zeros(ny), *dx = golden_zeros(nx), *dw = golden_zeros(nw);
        float *db = has_bias ? golden_zeros(nb) : NULL;
        if (fast) {
            nn_conv2d_forward_fast(y, x, w, b, &c, ws, 2);
            nn_conv2d_backward_fast(dx, dw, db, dy, x, w, &c, ws, 2);
        } else {
            nn_conv2d_forward(y, x, w, b, &c);
            nn_conv2d_backward(dx, dw, db, dy, x, w, &c);
        }
        const char *outs[] = {"y", "dx", "dw", "db"};
        const float *got[] = {y, dx, dw, db};
        size_t n[] = {ny, nx, nw, nb};
        for (int i = 0; i < (has_bias ? 4 : 3); i++)
            golden_compare(prefix, outs[i], got[i], golden_get(f, name, outs[i], n[i]), n[i],
                           i ? GOLDEN_GRAD_ATOL : GOLDEN_FWD_ATOL,
                           i ? GOLDEN_GRAD_RTOL : GOLDEN_FWD_RTOL);
        free(y), free(dx), free(dw), free(db);
    }
    free(ws);
}

#endif
