/* test_fast_vs_naive.c: the im2col + SGEMM conv2d and the SGEMM linear layer
 * equal their naive references on odd shapes, with 1 and 2 threads.
 * Tolerance: |fast - naive| <= 1e-5 |naive| + 1e-5 max|naive| (the second term
 * covers elements that are sums cancelling to near zero). Gradient buffers
 * start non-zero, so the checks also prove that backward accumulates (+=).
 * The workspace is allocated at exactly nn_conv2d_workspace_size, so ASan
 * catches any overrun. Two runs with 2 threads must agree bit for bit. */
#include "check.h"
#include "nn/nn.h"

#include <cblas.h>

#define REL 1e-5

static void fill(sermo_rng *rng, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)(2.0 * sermo_rng_uniform(rng) - 1.0);
}

static float *dup(const float *v, size_t n) {
    float *d = malloc(sizeof(float) * (n ? n : 1));
    memcpy(d, v, sizeof(float) * n);
    return d;
}

static void compare(const char *label, const char *what, const float *fast, const float *naive,
                    size_t n) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(naive[i]) > mx) mx = fabs(naive[i]);
    char name[160];
    snprintf(name, sizeof name, "%s.%s", label, what);
    check_close(name, fast, naive, (long)n, REL * mx, REL);
}

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
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref);
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
    check_conv("conv_big", &rng, 3, 16, 20, 31, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    /* edges of the im2col row split: windows wholly in padding, stride > kernel */
    check_conv("conv_edge_s3_d2", &rng, 2, 3, 5, 4, 2, 3, 3, 3, 3, 1, 1, 2, 1, 1);
    check_conv("conv_wide_pad", &rng, 2, 2, 3, 3, 3, 3, 3, 1, 2, 1, 2, 1, 1, 1);
    check_conv("conv_s2_p2_k2", &rng, 3, 2, 6, 7, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0);
    check_linear("linear_odd", &rng, 3, 5, 7, 1);
    check_linear("linear_nobias", &rng, 7, 13, 5, 0);
    check_linear("linear_big", &rng, 33, 129, 65, 1);
    return check_report();
}
