/* test_conv_dnnl.c: the oneDNN conv2d (src/nn/conv_dnnl.c) equals the naive
 * reference nn_conv2d_forward/backward on ResNet-like shapes (3x3 s1/s2,
 * 1x1 s2, the 7x7 s2 p3 stem, a grouped and a dilated conv), B 1 and 3,
 * with and without bias, 1 and 2 threads, in both layouts (ANY: oneDNN's
 * blocked layouts plus reorders; PLAIN: NCHW throughout). Channel counts of
 * 16 and 32 reach oneDNN's blocked JIT kernels; 8 and 6 its fallbacks.
 * Gradient buffers start non-zero, so dweight, dbias and dinput (ACCUMULATE)
 * must add; OVERWRITE must replace stale values. Backward with dinput NULL
 * (the stem) and with dweight NULL must leave the other buffers' contract
 * intact. After every shape has been planned, running must not grow the
 * arena. Tolerance as test_fast_vs_naive: 1e-5 of the reference's largest
 * magnitude plus 1e-5 relative. Skips (77) when built without oneDNN, after
 * checking that the stubs report it. */
#include "check.h"
#include "nn/conv_dnnl.h"
#include "nn/nn.h"

#include "nn_test_util.h"

typedef struct conv_case {
    const char *name;
    int B, Ci, H, W, Co, K, stride, pad, dil, groups;
} conv_case;

static const conv_case cases[] = {
    {"3x3s1", 3, 8, 9, 11, 6, 3, 1, 1, 1, 1},
    {"3x3s1_c16", 1, 16, 7, 9, 16, 3, 1, 1, 1, 1},
    {"3x3s2_c32", 3, 16, 9, 11, 32, 3, 2, 1, 1, 1},
    {"1x1s2", 3, 8, 10, 13, 12, 1, 2, 0, 1, 1},
    {"1x1s2_c32", 1, 16, 10, 13, 32, 1, 2, 0, 1, 1},
    {"7x7s2p3_stem", 3, 1, 16, 20, 16, 7, 2, 3, 1, 1},
    {"3x3_groups2", 3, 8, 7, 9, 6, 3, 1, 1, 1, 2},
    {"3x3_dil2", 1, 8, 9, 10, 6, 3, 1, 2, 2, 1},
};
#define N_CASES (int)(sizeof cases / sizeof *cases)

static nn_conv2d case_conv(const conv_case *k) {
    nn_conv2d c;
    CHECK(nn_conv2d_init(&c, k->B, k->Ci, k->H, k->W, k->Co, k->K, k->stride, k->pad, k->dil,
                         k->groups, NULL) == SERMO_OK,
          "%s: setup", k->name);
    return c;
}

/* Backward through oneDNN. A single input channel gets no input gradient
 * from it (nothing is planned for one): asking fails before anything is
 * added, and nn_conv2d_backward_auto then takes the im2col path. */
static void backward(nn_dnnl *ctx, const char *label, float *dx, float *dw, float *db, const float *dy,
                     const float *x, const float *w, const nn_conv2d *c, int threads, nn_grad_mode mode) {
    sermo_error err = {0};
    if (!dx || c->C_in / c->groups > 1) {
        CHECK(nn_conv2d_backward_dnnl(ctx, dx, dw, db, dy, x, w, c, threads, mode, &err) == SERMO_OK, "%s: %s",
              label, err.msg);
        return;
    }
    size_t nx = (size_t)c->B * c->C_in * c->H * c->W, nw = (size_t)c->C_out * c->KH * c->KW;
    float *dx0 = dup(dx, nx), *dw0 = dw ? dup(dw, nw) : NULL;
    CHECK(nn_conv2d_backward_dnnl(ctx, dx, dw, db, dy, x, w, c, threads, mode, &err) == SERMO_ERR_UNSUPPORTED,
          "%s: one input channel: oneDNN must refuse an input gradient", label);
    CHECK(!memcmp(dx, dx0, sizeof(float) * nx) && (!dw || !memcmp(dw, dw0, sizeof(float) * nw)),
          "%s: the refused call changed a gradient", label);
    float *ws = malloc(sizeof(float) * (nn_conv2d_workspace_size(c, threads) + 1));
    nn_conv2d_backward_auto(ctx, dx, dw, db, dy, x, w, c, ws, threads, mode);
    free(ws), free(dx0), free(dw0);
}

static void check_case(nn_dnnl *ctx, const char *layout, const conv_case *k, int has_bias,
                       int threads, sermo_rng *rng) {
    nn_conv2d c = case_conv(k);
    size_t nx = (size_t)c.B * c.C_in * c.H * c.W, ny = (size_t)c.B * c.C_out * c.OH * c.OW;
    size_t nw = (size_t)c.C_out * (c.C_in / c.groups) * c.KH * c.KW, nb = (size_t)c.C_out;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
    float *b = malloc(sizeof(float) * nb), *dy = malloc(sizeof(float) * ny);
    float *dx0 = malloc(sizeof(float) * nx), *dw0 = malloc(sizeof(float) * nw);
    float *db0 = malloc(sizeof(float) * nb);
    fill(rng, x, nx), fill(rng, w, nw), fill(rng, b, nb), fill(rng, dy, ny);
    fill(rng, dx0, nx), fill(rng, dw0, nw), fill(rng, db0, nb); /* prior gradients */
    const float *bias = has_bias ? b : NULL;

    float *y_ref = malloc(sizeof(float) * ny);
    float *dx_ref = dup(dx0, nx), *dw_ref = dup(dw0, nw), *db_ref = dup(db0, nb);
    float *dxz_ref = calloc(nx, sizeof(float)); /* dinput alone from zero: OVERWRITE's answer */
    nn_conv2d_forward(y_ref, x, w, bias, &c);
    nn_conv2d_backward(dx_ref, dw_ref, has_bias ? db_ref : NULL, dy, x, w, &c);
    nn_conv2d_backward(dxz_ref, NULL, NULL, dy, x, w, &c);

    char label[160];
    snprintf(label, sizeof label, "%s.%s.B%d.bias%d.t%d", layout, k->name, c.B, has_bias, threads);
    sermo_error err = {0};
    float *y = malloc(sizeof(float) * ny);
    fill(rng, y, ny); /* forward must overwrite */
    float *dx = dup(dx0, nx), *dw = dup(dw0, nw), *db = dup(db0, nb);
    CHECK(nn_conv2d_forward_dnnl(ctx, y, x, w, bias, &c, threads, &err) == SERMO_OK, "%s: %s",
          label, err.msg);
    compare(label, "y", y, y_ref, ny);
    backward(ctx, label, dx, dw, has_bias ? db : NULL, dy, x, w, &c, threads, NN_GRAD_ACCUMULATE);
    compare(label, "dx", dx, dx_ref, nx);
    compare(label, "dw", dw, dw_ref, nw);
    if (has_bias) compare(label, "db", db, db_ref, nb);

    /* OVERWRITE with stale values in dinput, weights' gradients not wanted. */
    float *dxo = dup(dx0, nx);
    backward(ctx, label, dxo, NULL, NULL, dy, x, w, &c, threads, NN_GRAD_OVERWRITE);
    compare(label, "dx_overwrite", dxo, dxz_ref, nx);

    /* The stem's call: no dinput; dweight accumulates a second time. */
    float *dw2_ref = dup(dw_ref, nw);
    nn_conv2d_backward(NULL, dw2_ref, NULL, dy, x, w, &c);
    backward(ctx, label, NULL, dw, NULL, dy, x, w, &c, threads, NN_GRAD_ACCUMULATE);
    compare(label, "dw_twice", dw, dw2_ref, nw);

    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0), free(y_ref);
    free(dx_ref), free(dw_ref), free(db_ref), free(dxz_ref), free(y), free(dx), free(dw);
    free(db), free(dxo), free(dw2_ref);
}

static void check_layout(nn_dnnl_layout layout, const char *name, sermo_rng *rng) {
    sermo_error err = {0};
    nn_dnnl *ctx = nn_dnnl_init(layout, &err);
    CHECK(ctx != NULL, "%s: init: %s", name, err.msg);
    if (!ctx) return;
    /* Plan everything first, as a model does at build time ... */
    for (int i = 0; i < N_CASES; i++) {
        nn_conv2d c = case_conv(&cases[i]);
        for (int bias = 0; bias <= 1; bias++)
            for (int t = 1; t <= 2; t++)
                CHECK(nn_conv2d_plan_dnnl(ctx, &c, bias, t, &err) == SERMO_OK, "%s.%s: plan: %s",
                      name, cases[i].name, err.msg);
    }
    size_t planned = nn_dnnl_arena_bytes(ctx);
    CHECK(planned > 0, "%s: the arena holds the reordered tensors and scratchpads", name);
    /* ... so that running allocates nothing more. */
    for (int i = 0; i < N_CASES; i++)
        for (int bias = 0; bias <= 1; bias++)
            for (int t = 1; t <= 2; t++) check_case(ctx, name, &cases[i], bias, t, rng);
    CHECK(nn_dnnl_arena_bytes(ctx) == planned, "%s: arena grew from %zu to %zu bytes while running",
          name, planned, nn_dnnl_arena_bytes(ctx));
    nn_dnnl_free(ctx);
}

int main(void) {
    if (!nn_dnnl_available()) {
        sermo_error err = {0};
        nn_dnnl *ctx = nn_dnnl_init(NN_DNNL_LAYOUT_ANY, &err);
        CHECK(ctx == NULL && err.status == SERMO_ERR_UNSUPPORTED, "stub init must fail: %s", err.msg);
        if (check_failed) return 1;
        SKIP("built without oneDNN (SERMO_ONEDNN=OFF or libdnnl-dev missing)");
    }
    sermo_rng rng;
    sermo_rng_seed(&rng, 20240611);
    check_layout(NN_DNNL_LAYOUT_ANY, "any", &rng);
    check_layout(NN_DNNL_LAYOUT_PLAIN, "plain", &rng);
    fprintf(stderr, "%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
