/* test_depthwise.c: the direct depthwise kernels (src/nn/depthwise.c),
 * reached through nn_conv2d_forward_fast / nn_conv2d_backward_fast_mode,
 * equal the naive nn_conv2d_forward / nn_conv2d_backward: kernels 3 and 5
 * (and 1, 3x5, stride 3 for the general paths), strides 1 and 2, odd and
 * even sizes, 7x7, inputs smaller than the kernel, rows long enough for the
 * 8-lane loop and its overlapping last block, batch 1 and 3, with and
 * without bias, 1 and 2 threads. Gradient buffers start non-zero, so
 * ACCUMULATE must add; OVERWRITE must equal the gradient into zeros whatever
 * dinput held. Tolerance as test_fast_vs_naive.c. Each channel's weight
 * gradient is reduced over the batch by one thread in a fixed order, so all
 * outputs must agree bit for bit between 1 and 2 threads. The workspace is
 * allocated at exactly nn_conv2d_workspace_size, so ASan catches overruns.
 * A dilated depthwise conv is not taken by the kernel and must still match. */
#include "check.h"
#include "nn/depthwise.h"
#include "nn/nn.h"

#include "nn_test_util.h"

typedef struct dw_case {
    const char *name;
    int B, C, H, W, KH, KW, sh, sw, ph, pw, dil, bias;
} dw_case;

/* One fast run: forward, backward (ACCUMULATE into the prior gradients),
 * and dinput alone by OVERWRITE over stale values. */
typedef struct dw_run {
    float *y, *dx, *dw, *db, *dxo;
} dw_run;

static dw_run run_fast(const nn_conv2d *c, const float *x, const float *w, const float *bias,
                       const float *dy, const float *dx0, const float *dw0, const float *db0,
                       size_t nx, size_t ny, size_t nw, int threads) {
    size_t wsn = nn_conv2d_workspace_size(c, threads);
    float *ws = malloc(sizeof(float) * (wsn ? wsn : 1));
    dw_run r = {malloc(sizeof(float) * ny), dup(dx0, nx), dup(dw0, nw), dup(db0, c->C_out),
                dup(dx0, nx)};
    nn_conv2d_forward_fast(r.y, x, w, bias, c, ws, threads);
    nn_conv2d_backward_fast_mode(r.dx, r.dw, bias ? r.db : NULL, dy, x, w, c, ws, threads,
                                 NN_GRAD_ACCUMULATE);
    nn_conv2d_backward_fast_mode(r.dxo, NULL, NULL, dy, x, w, c, ws, threads, NN_GRAD_OVERWRITE);
    free(ws);
    return r;
}

static void run_free(dw_run *r) { free(r->y), free(r->dx), free(r->dw), free(r->db), free(r->dxo); }

static int same(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) == 0;
}

static void check_depthwise(const dw_case *k, sermo_rng *rng) {
    nn_conv2d c = {.B = k->B, .C_in = k->C, .H = k->H, .W = k->W, .C_out = k->C, .KH = k->KH,
                   .KW = k->KW, .stride_h = k->sh, .stride_w = k->sw, .pad_h = k->ph,
                   .pad_w = k->pw, .dil_h = k->dil, .dil_w = k->dil, .groups = k->C};
    CHECK(nn_conv2d_setup(&c, NULL) == SERMO_OK, "%s: setup", k->name);
    /* the direct kernel takes every dilation-1 case here; others fall through */
    CHECK(nn_depthwise_supported(&c) == (k->dil == 1), "%s: dispatch", k->name);
    size_t nx = (size_t)c.B * c.C_in * c.H * c.W, ny = (size_t)c.B * c.C_out * c.OH * c.OW;
    size_t nw = (size_t)c.C_out * c.KH * c.KW;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
    float *b = malloc(sizeof(float) * c.C_out), *dy = malloc(sizeof(float) * ny);
    float *dx0 = malloc(sizeof(float) * nx), *dw0 = malloc(sizeof(float) * nw);
    float *db0 = malloc(sizeof(float) * c.C_out);
    fill(rng, x, nx), fill(rng, w, nw), fill(rng, b, c.C_out), fill(rng, dy, ny);
    fill(rng, dx0, nx), fill(rng, dw0, nw), fill(rng, db0, c.C_out); /* prior gradients */
    const float *bias = k->bias ? b : NULL;

    float *y_ref = malloc(sizeof(float) * ny);
    float *dx_ref = dup(dx0, nx), *dw_ref = dup(dw0, nw), *db_ref = dup(db0, c.C_out);
    float *dxz_ref = calloc(nx, sizeof(float)); /* dinput from zero: OVERWRITE's reference */
    nn_conv2d_forward(y_ref, x, w, bias, &c);
    nn_conv2d_backward(dx_ref, dw_ref, bias ? db_ref : NULL, dy, x, w, &c);
    nn_conv2d_backward(dxz_ref, NULL, NULL, dy, x, w, &c);

    dw_run r[2];
    for (int t = 0; t < 2; t++) {
        char label[160];
        snprintf(label, sizeof label, "%s.t%d", k->name, t + 1);
        r[t] = run_fast(&c, x, w, bias, dy, dx0, dw0, db0, nx, ny, nw, t + 1);
        compare(label, "y", r[t].y, y_ref, ny);
        compare(label, "dx", r[t].dx, dx_ref, nx);
        compare(label, "dw", r[t].dw, dw_ref, nw);
        compare(label, "db", r[t].db, db_ref, c.C_out);
        compare(label, "dx_overwrite", r[t].dxo, dxz_ref, nx);
    }
    if (k->dil == 1)
        CHECK(same(r[0].y, r[1].y, ny) && same(r[0].dx, r[1].dx, nx) &&
                  same(r[0].dw, r[1].dw, nw) && same(r[0].db, r[1].db, c.C_out) &&
                  same(r[0].dxo, r[1].dxo, nx),
              "%s: 1 and 2 threads differ", k->name);
    run_free(&r[0]), run_free(&r[1]);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref), free(dxz_ref);
}

int main(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 2024);
    static const dw_case cases[] = {
        /* name, B, C, H, W, KH, KW, sh, sw, ph, pw, dil, bias */
        {"k3s1_7x7", 3, 5, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1},
        {"k3s1_7x7_b1", 1, 4, 7, 7, 3, 3, 1, 1, 1, 1, 1, 0},
        {"k3s2_7x7", 3, 5, 7, 7, 3, 3, 2, 2, 1, 1, 1, 0},
        {"k5s1_7x7", 1, 3, 7, 7, 5, 5, 1, 1, 2, 2, 1, 1},
        {"k5s2_7x7", 3, 3, 7, 7, 5, 5, 2, 2, 2, 2, 1, 1},
        {"k3s1_odd", 3, 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 0},
        {"k3s2_even", 3, 4, 8, 12, 3, 3, 2, 2, 1, 1, 1, 1},
        {"k5s1_even", 1, 3, 10, 12, 5, 5, 1, 1, 2, 2, 1, 0},
        {"k5s2_odd", 1, 3, 11, 13, 5, 5, 2, 2, 2, 2, 1, 1},
        /* rows past 8 lanes: the vector loop plus an overlapping last block */
        {"k3s1_wide", 3, 3, 6, 37, 3, 3, 1, 1, 1, 1, 1, 1},
        {"k3s2_wide", 3, 3, 6, 43, 3, 3, 2, 2, 1, 1, 1, 0},
        {"k5s1_wide", 1, 2, 7, 40, 5, 5, 1, 1, 2, 2, 1, 1},
        {"k5s2_wide", 3, 2, 9, 70, 5, 5, 2, 2, 2, 2, 1, 1},
        {"k3s1_w16", 3, 2, 5, 16, 3, 3, 1, 1, 1, 1, 1, 0},
        /* inputs smaller than the kernel: most taps in the padding */
        {"k5s1_tiny", 3, 3, 2, 3, 5, 5, 1, 1, 2, 2, 1, 1},
        {"k5s2_tiny", 3, 3, 3, 2, 5, 5, 2, 2, 2, 2, 1, 0},
        {"k3s1_1x1", 3, 4, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
        {"k3s2_2x2", 1, 4, 2, 2, 3, 3, 2, 2, 1, 1, 1, 1},
        /* the general paths: other tap counts, strides, unequal padding */
        {"k1s1", 3, 3, 5, 9, 1, 1, 1, 1, 0, 0, 1, 1},
        {"k3x5_s1x2", 3, 3, 9, 21, 3, 5, 1, 2, 1, 2, 1, 1},
        {"k3s3_pad0", 2, 3, 10, 29, 3, 3, 3, 3, 0, 0, 1, 1},
        {"k2s2_pad1", 2, 3, 7, 9, 2, 2, 2, 2, 1, 1, 1, 0},
        {"k7s1", 2, 2, 9, 30, 7, 7, 1, 1, 3, 3, 1, 1},
        {"k5s4_pad1", 2, 3, 11, 33, 5, 5, 4, 4, 1, 1, 1, 1},
        {"k3s1_dil2", 3, 4, 9, 11, 3, 3, 1, 1, 2, 2, 2, 1}, /* falls through to im2col */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_depthwise(&cases[i], &rng);
    return check_report();
}
