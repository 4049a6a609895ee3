/* test_fast_vs_naive.c: the im2col + SGEMM conv2d, the SGEMM linear layer,
 * the vectorised batchnorm (alone and with its fused ReLU, against the naive
 * BN then nn_relu_*) and the 2x2 max-pool path equal their naive references
 * on odd shapes, with 1 and 2 threads, in both nn_grad_mode's (OVERWRITE
 * must equal ACCUMULATE into zeros whatever the buffer held).
 * Tolerance: |fast - naive| <= 1e-5 |naive| + 1e-5 max|naive| (the second term
 * covers elements that are sums cancelling to near zero). Gradient buffers
 * start non-zero, so the checks also prove that backward accumulates (+=).
 * The workspace is allocated at exactly nn_conv2d_workspace_size, so ASan
 * catches any overrun. Two runs with 2 threads must agree bit for bit. */
#include "check.h"
#include "nn/nn.h"

#include <cblas.h>

#include "nn_test_util.h"

static void check_conv(const char *name, sermo_rng *rng, int B, int Ci, int H, int W, int Co,
                       int KH, int KW, int sh, int sw, int ph, int pw, int dil, int groups,
                       int has_bias) {
    nn_conv2d c = {.B = B, .C_in = Ci, .H = H, .W = W, .C_out = Co, .KH = KH, .KW = KW,
                   .stride_h = sh, .stride_w = sw, .pad_h = ph, .pad_w = pw, .dil_h = dil,
                   .dil_w = dil, .groups = groups};
    CHECK(nn_conv2d_setup(&c, NULL) == SERMO_OK, "%s: setup", name);
    size_t nx = (size_t)B * Ci * H * W, ny = (size_t)B * Co * c.OH * c.OW;
    size_t nw = (size_t)Co * (Ci / groups) * KH * KW;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
    float *b = malloc(sizeof(float) * Co), *dy = malloc(sizeof(float) * ny);
    float *dx0 = malloc(sizeof(float) * nx), *dw0 = malloc(sizeof(float) * nw);
    float *db0 = malloc(sizeof(float) * Co);
    fill(rng, x, nx), fill(rng, w, nw), fill(rng, b, Co), fill(rng, dy, ny);
    fill(rng, dx0, nx), fill(rng, dw0, nw), fill(rng, db0, Co); /* prior gradients */
    const float *bias = has_bias ? b : NULL;

    float *y_ref = malloc(sizeof(float) * ny);
    float *dx_ref = dup(dx0, nx), *dw_ref = dup(dw0, nw), *db_ref = dup(db0, Co);
    nn_conv2d_forward(y_ref, x, w, bias, &c);
    nn_conv2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, &c);

    /* dinput alone from zero: the reference for NN_GRAD_OVERWRITE */
    float *dxz_ref = calloc(nx, sizeof(float));
    nn_conv2d_backward(dxz_ref, NULL, NULL, dy, x, w, &c);

    float *first_dw = NULL;
    for (int threads = 1; threads <= 2; threads++)
        for (int rep = 0; rep < (threads == 2 ? 2 : 1); rep++) {
            char label[128];
            snprintf(label, sizeof label, "%s.t%d", name, threads);
            size_t wsn = nn_conv2d_workspace_size(&c, threads);
            float *ws = malloc(sizeof(float) * (wsn ? wsn : 1));
            float *y = malloc(sizeof(float) * ny);
            float *dx = dup(dx0, nx), *dw = dup(dw0, nw), *db = dup(db0, Co);
            nn_conv2d_forward_fast(y, x, w, bias, &c, ws, threads);
            nn_conv2d_backward_fast(dx, dw, db, dy, x, w, &c, ws, threads);
            if (rep == 0) {
                float *dxo = dup(dx0, nx); /* stale values to overwrite */
                nn_conv2d_backward_fast_mode(dxo, NULL, NULL, dy, x, w, &c, ws, threads,
                                             NN_GRAD_OVERWRITE);
                compare(label, "dx_overwrite", dxo, dxz_ref, nx);
                free(dxo);
                compare(label, "y", y, y_ref, ny);
                compare(label, "dx", dx, dx_ref, nx);
                compare(label, "dw", dw, dw_ref, nw);
                compare(label, "db", db, db_ref, Co);
            }
            if (threads == 2 && rep == 0) first_dw = dup(dw, nw);
            if (threads == 2 && rep == 1)
                CHECK(memcmp(first_dw, dw, sizeof(float) * nw) == 0,
                      "%s: two 2-thread runs differ", name);
            free(ws), free(y), free(dx), free(dw), free(db);
        }
    free(first_dw);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref), free(dxz_ref);
}

static void check_linear(const char *name, sermo_rng *rng, int N, int FI, int FO, int has_bias) {
    size_t nx = (size_t)N * FI, nw = (size_t)FO * FI, ny = (size_t)N * FO;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
    float *b = malloc(sizeof(float) * FO), *dy = malloc(sizeof(float) * ny);
    float *dx0 = malloc(sizeof(float) * nx), *dw0 = malloc(sizeof(float) * nw);
    float *db0 = malloc(sizeof(float) * FO);
    fill(rng, x, nx), fill(rng, w, nw), fill(rng, b, FO), fill(rng, dy, ny);
    fill(rng, dx0, nx), fill(rng, dw0, nw), fill(rng, db0, FO);
    const float *bias = has_bias ? b : NULL;
    float *y_ref = malloc(sizeof(float) * ny);
    float *dx_ref = dup(dx0, nx), *dw_ref = dup(dw0, nw), *db_ref = dup(db0, FO);
    nn_linear_forward(y_ref, x, w, bias, N, FI, FO);
    nn_linear_backward(dx_ref, dw_ref, db_ref, dy, x, w, N, FI, FO);
    int old = openblas_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        openblas_set_num_threads(threads);
        char label[128];
        snprintf(label, sizeof label, "%s.t%d", name, threads);
        float *y = malloc(sizeof(float) * ny);
        float *dx = dup(dx0, nx), *dw = dup(dw0, nw), *db = dup(db0, FO);
        nn_linear_forward_fast(y, x, w, bias, N, FI, FO);
        nn_linear_backward_fast(dx, dw, db, dy, x, w, N, FI, FO);
        compare(label, "y", y, y_ref, ny);
        compare(label, "dx", dx, dx_ref, nx);
        compare(label, "dw", dw, dw_ref, nw);
        compare(label, "db", db, db_ref, FO);
        free(y), free(dx), free(dw), free(db);
    }
    openblas_set_num_threads(old);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref);
}

/* BN (+ fused ReLU) fast vs the naive BN followed by nn_relu_forward, and
 * its backward vs nn_relu_backward into zeros then the naive BN backward. */
static void check_batchnorm(const char *name, sermo_rng *rng, int B, int C, int HW, int train,
                            int relu) {
    size_t n = (size_t)B * C * HW;
    float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n);
    float *dx0 = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * C);
    float *bb = malloc(sizeof(float) * C), *rm0 = malloc(sizeof(float) * C);
    float *rv0 = malloc(sizeof(float) * C), *dw0 = malloc(sizeof(float) * C);
    float *db0 = malloc(sizeof(float) * C);
    fill(rng, x, n), fill(rng, dy, n), fill(rng, dx0, n), fill(rng, w, C), fill(rng, bb, C);
    fill(rng, rm0, C), fill(rng, dw0, C), fill(rng, db0, C);
    for (size_t i = 0; i < n; i++) x[i] = 3.0f + 2.0f * x[i]; /* a mean far from 0 */
    for (int c = 0; c < C; c++) rv0[c] = 0.5f + rm0[c] * rm0[c];

    float *y_ref = malloc(sizeof(float) * n), *mean_ref = malloc(sizeof(float) * C);
    float *rstd_ref = malloc(sizeof(float) * C), *rm_ref = dup(rm0, C), *rv_ref = dup(rv0, C);
    nn_batchnorm2d_forward(y_ref, mean_ref, rstd_ref, rm_ref, rv_ref, x, w, bb, B, C, HW,
                           NN_BN_EPS, NN_BN_MOMENTUM, train);
    float *g = dup(dy, n); /* the gradient reaching BN */
    if (relu) {
        nn_relu_forward(y_ref, y_ref, n);
        memset(g, 0, sizeof(float) * n);
        nn_relu_backward(g, dy, y_ref, n);
    }
    float *dx_ref = dup(dx0, n), *dw_ref = dup(dw0, C), *db_ref = dup(db0, C);
    nn_batchnorm2d_backward(dx_ref, dw_ref, db_ref, g, mean_ref, rstd_ref, x, w, B, C, HW, train);
    float *dxz_ref = calloc(n, sizeof(float));
    nn_batchnorm2d_backward(dxz_ref, NULL, NULL, g, mean_ref, rstd_ref, x, w, B, C, HW, train);

    for (int threads = 1; threads <= 2; threads++) {
        char label[128];
        snprintf(label, sizeof label, "%s.t%d", name, threads);
        float *y = malloc(sizeof(float) * n), *mean = malloc(sizeof(float) * C);
        float *rstd = malloc(sizeof(float) * C), *rm = dup(rm0, C), *rv = dup(rv0, C);
        nn_batchnorm2d_forward_fast(y, mean, rstd, rm, rv, x, w, bb, B, C, HW, NN_BN_EPS,
                                    NN_BN_MOMENTUM, train, relu, threads);
        compare(label, "y", y, y_ref, n);
        compare(label, "mean", mean, mean_ref, C);
        compare(label, "rstd", rstd, rstd_ref, C);
        compare(label, "running_mean", rm, rm_ref, C);
        compare(label, "running_var", rv, rv_ref, C);
        float *dx = dup(dx0, n), *dw = dup(dw0, C), *db = dup(db0, C), *dxo = dup(dx0, n);
        const float *act = relu ? y : NULL;
        nn_batchnorm2d_backward_fast(dx, dw, db, dy, mean, rstd, x, w, act, B, C, HW, train,
                                     NN_GRAD_ACCUMULATE, threads);
        nn_batchnorm2d_backward_fast(dxo, NULL, NULL, dy, mean, rstd, x, w, act, B, C, HW, train,
                                     NN_GRAD_OVERWRITE, threads);
        compare(label, "dx", dx, dx_ref, n);
        compare(label, "dw", dw, dw_ref, C);
        compare(label, "db", db, db_ref, C);
        compare(label, "dx_overwrite", dxo, dxz_ref, n);
        free(y), free(mean), free(rstd), free(rm), free(rv), free(dx), free(dw), free(db), free(dxo);
    }
    free(x), free(dy), free(dx0), free(w), free(bb), free(rm0), free(rv0), free(dw0), free(db0);
    free(y_ref), free(mean_ref), free(rstd_ref), free(rm_ref), free(rv_ref), free(g);
    free(dx_ref), free(dw_ref), free(db_ref), free(dxz_ref);
}

/* Bit-exact: values (NaN where the reference has NaN) and argmax. */
static void check_maxpool(const char *name, sermo_rng *rng, int B, int C, int H, int W, int K,
                          int stride, int pad) {
    nn_pool2d p;
    CHECK(nn_pool2d_init(&p, B, C, H, W, K, stride, pad, NULL) == SERMO_OK, "%s: setup", name);
    size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * p.OH * p.OW;
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny);
    float *dx0 = malloc(sizeof(float) * nx);
    fill(rng, x, nx), fill(rng, dy, ny), fill(rng, dx0, nx);
    for (size_t i = 0; i < nx; i++) {
        x[i] = roundf(x[i] * 2.0f); /* few levels: many ties */
        if (i % 37 == 5) x[i] = NAN;
    }
    float *y_ref = malloc(sizeof(float) * ny), *dx_ref = dup(dx0, nx);
    int32_t *am_ref = malloc(sizeof(int32_t) * ny);
    nn_maxpool2d_forward(y_ref, am_ref, x, &p);
    nn_maxpool2d_backward(dx_ref, dy, am_ref, &p);
    float *dxz_ref = calloc(nx, sizeof(float));
    nn_maxpool2d_backward(dxz_ref, dy, am_ref, &p);
    for (int threads = 1; threads <= 2; threads++) {
        float *y = malloc(sizeof(float) * ny), *dx = dup(dx0, nx), *dxo = dup(dx0, nx);
        int32_t *am = malloc(sizeof(int32_t) * ny);
        nn_maxpool2d_forward_fast(y, am, x, &p, threads);
        long bad = 0;
        for (size_t i = 0; i < ny; i++)
            bad += am[i] != am_ref[i] ||
                   (isnan(y_ref[i]) ? !isnan(y[i]) : memcmp(&y[i], &y_ref[i], sizeof(float)) != 0);
        CHECK(bad == 0, "%s.t%d: %ld outputs or argmax differ", name, threads, bad);
        nn_maxpool2d_backward_fast(dx, dy, am, &p, NN_GRAD_ACCUMULATE, threads);
        nn_maxpool2d_backward_fast(dxo, dy, am, &p, NN_GRAD_OVERWRITE, threads);
        CHECK(memcmp(dx, dx_ref, sizeof(float) * nx) == 0, "%s.t%d: dx differs", name, threads);
        CHECK(memcmp(dxo, dxz_ref, sizeof(float) * nx) == 0, "%s.t%d: dx_overwrite differs", name,
              threads);
        free(y), free(dx), free(dxo), free(am);
    }
    free(x), free(dy), free(dx0), free(y_ref), free(dx_ref), free(am_ref), free(dxz_ref);
}

int main(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 77);
    /* name, B, C_in, H, W, C_out, KH, KW, sh, sw, ph, pw, dil, groups, bias */
    check_conv("conv_odd", &rng, 3, 5, 7, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    check_conv("conv_s2_rect", &rng, 3, 5, 7, 9, 4, 3, 2, 2, 1, 1, 0, 1, 1, 0);
    check_conv("conv_d2_g2", &rng, 3, 6, 9, 7, 4, 3, 3, 1, 2, 2, 1, 2, 2, 1);
    check_conv("conv_depthwise", &rng, 3, 5, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 5, 1);
    check_conv("conv_1x1", &rng, 3, 5, 7, 9, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    check_conv("conv_1x1_s2", &rng, 3, 5, 7, 9, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1);
    check_conv("conv_batch1", &rng, 1, 3, 11, 13, 5, 5, 5, 2, 2, 2, 2, 1, 1, 1);
    check_conv("conv_batch1_g2_d2", &rng, 1, 6, 9, 7, 4, 3, 3, 1, 2, 2, 1, 2, 2, 1); /* threads share one sample */
    check_conv("conv_batch1_1x1", &rng, 1, 5, 7, 9, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    /* Fewer output columns than channels: the threads split the channels. */
    check_conv("conv_batch1_rows", &rng, 1, 8, 3, 4, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    check_conv("conv_batch1_rows_g2", &rng, 1, 8, 3, 4, 36, 3, 3, 1, 1, 1, 1, 1, 2, 1);
    check_conv("conv_big", &rng, 3, 16, 20, 31, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    /* edges of the im2col row split: windows wholly in padding, stride > kernel */
    check_conv("conv_edge_s3_d2", &rng, 2, 3, 5, 4, 2, 3, 3, 3, 3, 1, 1, 2, 1, 1);
    check_conv("conv_wide_pad", &rng, 2, 2, 3, 3, 3, 3, 3, 1, 2, 1, 2, 1, 1, 1);
    check_conv("conv_s2_p2_k2", &rng, 3, 2, 6, 7, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0);
    check_linear("linear_odd", &rng, 3, 5, 7, 1);
    check_linear("linear_nobias", &rng, 7, 13, 5, 0);
    check_linear("linear_big", &rng, 33, 129, 65, 1);
    /* name, B, C, HW, train, relu: HW 37 exercises the scalar tails, 1200 the
     * 16-lane loop; the last two are large enough for the OpenMP path */
    check_batchnorm("bn_train", &rng, 3, 5, 37, 1, 0);
    check_batchnorm("bn_train_relu", &rng, 3, 5, 37, 1, 1);
    check_batchnorm("bn_eval_relu", &rng, 2, 3, 37, 0, 1);
    check_batchnorm("bn_batch1", &rng, 1, 4, 5, 1, 1);
    check_batchnorm("bn_big_relu", &rng, 4, 16, 1200, 1, 1);
    check_batchnorm("bn_big_eval", &rng, 4, 16, 1203, 0, 0);
    /* name, B, C, H, W, K, stride, pad: odd sizes leave an unpooled row and
     * column; OW 37 covers the 8-wide loop and its tail; k3s2p1 the fallback */
    check_maxpool("maxpool_2x2_odd", &rng, 2, 3, 7, 75, 2, 2, 0);
    check_maxpool("maxpool_2x2_big", &rng, 4, 16, 32, 150, 2, 2, 0);
    check_maxpool("maxpool_2x2_tiny", &rng, 1, 1, 2, 3, 2, 2, 0);
    check_maxpool("maxpool_k3s2p1", &rng, 2, 3, 9, 11, 3, 2, 1);
    /* Wide enough for the 8-output blocks: even and odd widths, a last
     * block that must fall back to the scalar scan. */
    check_maxpool("maxpool_k3s2p1_wide", &rng, 2, 3, 10, 64, 3, 2, 1);
    check_maxpool("maxpool_k3s2p1_odd", &rng, 1, 2, 7, 53, 3, 2, 1);
    check_maxpool("maxpool_k3s2p1_edge", &rng, 1, 1, 4, 34, 3, 2, 1);
    return check_report();
}
