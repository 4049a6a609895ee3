/* test_golden.c: every nn op, and a small network trained 5 AdamW steps,
 * against PyTorch's tensors in tests/fixtures/nn/ (made by gen_fixtures.py,
 * references in float64). Both the naive references and the fast paths are
 * compared. Tolerances, |got - ref| <= atol + rtol |ref|:
 *   forward outputs          1e-5 abs + 1e-4 rel
 *   gradients                1e-4 abs + 1e-4 rel
 *   loss                     1e-6 abs + 1e-5 rel
 *   dlogits (magnitude < 0.2) 1e-6 abs + 1e-4 rel
 *   parameters after AdamW   1e-5 abs + 1e-5 rel (and BN running stats) */
#include "check.h"
#include "nn/fixture.c"
#include "nn/nn.h"

#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4
#define GRAD_ATOL 1e-4
#define GRAD_RTOL 1e-4
#define LOSS_ATOL 1e-6
#define LOSS_RTOL 1e-5
#define ADAMW_ATOL 1e-5
#define ADAMW_RTOL 1e-5

/* "<prefix>.<name>" from f, checked to hold `expect` elements (0: any; then
 * *got_n, when not NULL, receives the count). */
static const float *get_n(const fixture *f, const char *prefix, const char *name, size_t expect,
                          size_t *got_n) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    size_t n = 0;
    const float *p = fixture_get(f, key, &n, NULL, NULL);
    CHECK(p != NULL, "fixture tensor %s missing", key);
    if (p && expect) {
        CHECK(n == expect, "%s has %zu elements, expected %zu", key, n, expect);
        if (n != expect) return NULL;
    }
    if (got_n) *got_n = n;
    return p;
}

static const float *get(const fixture *f, const char *prefix, const char *name, size_t expect) {
    return get_n(f, prefix, name, expect, NULL);
}

static void compare(const char *prefix, const char *what, const float *got, const float *ref,
                    size_t n, double atol, double rtol) {
    char label[256];
    snprintf(label, sizeof label, "%s.%s", prefix, what);
    if (!ref) return; /* get() already failed */
    check_close(label, got, ref, (long)n, atol, rtol);
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ------------------------------------------------------------------ conv2d */

static void golden_conv(const fixture *f, const char *name) {
    const float *cfg = get(f, name, "cfg", 15);
    if (!cfg) return;
    nn_conv2d c = {.B = (int)cfg[0], .C_in = (int)cfg[1], .H = (int)cfg[2], .W = (int)cfg[3],
                   .C_out = (int)cfg[4], .KH = (int)cfg[5], .KW = (int)cfg[6],
                   .stride_h = (int)cfg[7], .stride_w = (int)cfg[8], .pad_h = (int)cfg[9],
                   .pad_w = (int)cfg[10], .dil_h = (int)cfg[11], .dil_w = (int)cfg[12],
                   .groups = (int)cfg[13]};
    int has_bias = (int)cfg[14];
    CHECK(nn_conv2d_setup(&c, NULL) == SERMO_OK, "%s: setup", name);
    size_t nx = (size_t)c.B * c.C_in * c.H * c.W, ny = (size_t)c.B * c.C_out * c.OH * c.OW;
    size_t nw = (size_t)c.C_out * (c.C_in / c.groups) * c.KH * c.KW;
    const float *x = get(f, name, "x", nx), *w = get(f, name, "w", nw);
    const float *b = has_bias ? get(f, name, "b", c.C_out) : NULL;
    const float *y_ref = get(f, name, "y", ny), *dy = get(f, name, "dy", ny);
    const float *dx_ref = get(f, name, "dx", nx), *dw_ref = get(f, name, "dw", nw);
    const float *db_ref = has_bias ? get(f, name, "db", c.C_out) : NULL;
    if (!x || !w || !dy || (has_bias && !b)) return;
    float *ws = zeros(nn_conv2d_workspace_size(&c, 2));
    for (int fast = 0; fast < 2; fast++) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s.%s", name, fast ? "fast" : "naive");
        float *y = zeros(ny), *dx = zeros(nx), *dw = zeros(nw), *db = zeros(c.C_out);
        if (fast) {
            nn_conv2d_forward_fast(y, x, w, b, &c, ws, 2);
            nn_conv2d_backward_fast(dx, dw, has_bias ? db : NULL, dy, x, w, &c, ws, 2);
        } else {
            nn_conv2d_forward(y, x, w, b, &c);
            nn_conv2d_backward(dx, dw, has_bias ? db : NULL, dy, x, w, &c);
        }
        compare(prefix, "y", y, y_ref, ny, FWD_ATOL, FWD_RTOL);
        compare(prefix, "dx", dx, dx_ref, nx, GRAD_ATOL, GRAD_RTOL);
        compare(prefix, "dw", dw, dw_ref, nw, GRAD_ATOL, GRAD_RTOL);
        if (has_bias) compare(prefix, "db", db, db_ref, c.C_out, GRAD_ATOL, GRAD_RTOL);
        free(y), free(dx), free(dw), free(db);
    }
    free(ws);
}

/* ------------------------------------------------------------- batchnorm */

static void golden_batchnorm(const fixture *f, const char *name, int train) {
    enum { B = 3, C = 4, HW = 30 };
    size_t n = (size_t)B * C * HW;
    const float *x = get(f, name, "x", n), *w = get(f, name, "w", C), *b = get(f, name, "b", C);
    const float *rm0 = get(f, name, "running_mean", C), *rv0 = get(f, name, "running_var", C);
    const float *dy = get(f, name, "dy", n);
    if (!x || !w || !b || !rm0 || !rv0 || !dy) return;
    float rm[C], rv[C], mean[C], rstd[C], dw[C] = {0}, db[C] = {0};
    memcpy(rm, rm0, sizeof rm);
    memcpy(rv, rv0, sizeof rv);
    float *y = zeros(n), *dx = zeros(n);
    nn_batchnorm2d_forward(y, mean, rstd, rm, rv, x, w, b, B, C, HW, NN_BN_EPS, NN_BN_MOMENTUM,
                           train);
    nn_batchnorm2d_backward(dx, dw, db, dy, mean, rstd, x, w, B, C, HW, train);
    compare(name, "y", y, get(f, name, "y", n), n, FWD_ATOL, FWD_RTOL);
    compare(name, "dx", dx, get(f, name, "dx", n), n, GRAD_ATOL, GRAD_RTOL);
    compare(name, "dw", dw, get(f, name, "dw", C), C, GRAD_ATOL, GRAD_RTOL);
    compare(name, "db", db, get(f, name, "db", C), C, GRAD_ATOL, GRAD_RTOL);
    compare(name, "running_mean", rm, get(f, name, "running_mean_after", C), C, FWD_ATOL, FWD_RTOL);
    compare(name, "running_var", rv, get(f, name, "running_var_after", C), C, FWD_ATOL, FWD_RTOL);
    free(y), free(dx);
}

/* ---------------------------------------------------------- element-wise */

static void golden_unary(const fixture *f, const char *name) {
    size_t n = 0;
    const float *x = get_n(f, name, "x", 0, &n);
    if (!x) return;
    const float *dy = get(f, name, "dy", n);
    if (!dy) return;
    float *y = zeros(n), *dx = zeros(n);
    if (strcmp(name, "relu") == 0) {
        nn_relu_forward(y, x, n);
        nn_relu_backward(dx, dy, x, n);
    } else {
        nn_gelu_approx a = strcmp(name, "gelu") == 0 ? NN_GELU_APPROX_NONE : NN_GELU_APPROX_TANH;
        nn_gelu_forward(y, x, n, a);
        nn_gelu_backward(dx, dy, x, n, a);
    }
    compare(name, "y", y, get(f, name, "y", n), n, FWD_ATOL, FWD_RTOL);
    compare(name, "dx", dx, get(f, name, "dx", n), n, GRAD_ATOL, GRAD_RTOL);
    free(y), free(dx);
}

/* --------------------------------------------------------------- pooling */

static void golden_pool(const fixture *f, const char *name, int is_max) {
    const float *cfg = get(f, name, "cfg", 4);
    if (!cfg) return;
    nn_pool2d p;
    CHECK(nn_pool2d_init(&p, 2, 3, 7, 9, (int)cfg[0], (int)cfg[1], (int)cfg[2], NULL) == SERMO_OK,
          "%s: setup", name);
    p.count_include_pad = (int)cfg[3];
    size_t nx = (size_t)p.B * p.C * p.H * p.W, ny = (size_t)p.B * p.C * p.OH * p.OW;
    const float *x = get(f, name, "x", nx), *dy = get(f, name, "dy", ny);
    if (!x || !dy) return;
    float *y = zeros(nx), *dx = zeros(nx);
    int32_t *am = calloc(ny, sizeof *am);
    if (is_max) {
        nn_maxpool2d_forward(y, am, x, &p);
        nn_maxpool2d_backward(dx, dy, am, &p);
    } else {
        nn_avgpool2d_forward(y, x, &p);
        nn_avgpool2d_backward(dx, dy, &p);
    }
    compare(name, "y", y, get(f, name, "y", ny), ny, FWD_ATOL, FWD_RTOL);
    compare(name, "dx", dx, get(f, name, "dx", nx), nx, GRAD_ATOL, GRAD_RTOL);
    free(y), free(dx), free(am);
}

static void golden_gap(const fixture *f) {
    enum { B = 2, C = 3, HW = 20 };
    const float *x = get(f, "gap", "x", B * C * HW), *dy = get(f, "gap", "dy", B * C);
    if (!x || !dy) return;
    float y[B * C], dx[B * C * HW] = {0};
    nn_global_avgpool_forward(y, x, B, C, HW);
    nn_global_avgpool_backward(dx, dy, B, C, HW);
    compare("gap", "y", y, get(f, "gap", "y", B * C), B * C, FWD_ATOL, FWD_RTOL);
    compare("gap", "dx", dx, get(f, "gap", "dx", B * C * HW), B * C * HW, GRAD_ATOL, GRAD_RTOL);
}

/* ------------------------------------------------------- linear and loss */

static void golden_linear(const fixture *f) {
    enum { N = 5, FI = 7, FO = 3 };
    const float *x = get(f, "linear", "x", N * FI), *w = get(f, "linear", "w", FO * FI);
    const float *b = get(f, "linear", "b", FO), *dy = get(f, "linear", "dy", N * FO);
    if (!x || !w || !b || !dy) return;
    for (int fast = 0; fast < 2; fast++) {
        const char *prefix = fast ? "linear.fast" : "linear.naive";
        float y[N * FO], dx[N * FI] = {0}, dw[FO * FI] = {0}, db[FO] = {0};
        if (fast) {
            nn_linear_forward_fast(y, x, w, b, N, FI, FO);
            nn_linear_backward_fast(dx, dw, db, dy, x, w, N, FI, FO);
        } else {
            nn_linear_forward(y, x, w, b, N, FI, FO);
            nn_linear_backward(dx, dw, db, dy, x, w, N, FI, FO);
        }
        compare(prefix, "y", y, get(f, "linear", "y", N * FO), N * FO, FWD_ATOL, FWD_RTOL);
        compare(prefix, "dx", dx, get(f, "linear", "dx", N * FI), N * FI, GRAD_ATOL, GRAD_RTOL);
        compare(prefix, "dw", dw, get(f, "linear", "dw", FO * FI), FO * FI, GRAD_ATOL, GRAD_RTOL);
        compare(prefix, "db", db, get(f, "linear", "db", FO), FO, GRAD_ATOL, GRAD_RTOL);
    }
}

static void golden_ce(const fixture *f, const char *name) {
    enum { N = 6, L = 5 };
    const float *z = get(f, name, "logits", N * L), *lab = get(f, name, "labels", N);
    const float *s = get(f, name, "smoothing", 1), *loss_ref = get(f, name, "loss", 1);
    if (!z || !lab || !s || !loss_ref) return;
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = (int32_t)lab[i];
    float dz[N * L];
    float loss = nn_cross_entropy_forward(dz, z, labels, N, L, s[0]);
    compare(name, "loss", &loss, loss_ref, 1, LOSS_ATOL, LOSS_RTOL);
    compare(name, "dlogits", dz, get(f, name, "dlogits", N * L), N * L, 1e-6, GRAD_RTOL);
    float loss2 = nn_cross_entropy_forward(NULL, z, labels, N, L, s[0]);
    CHECK(loss2 == loss, "%s: loss without dlogits differs: %g vs %g", name, loss2, loss);
}

int main(void) {
    char path[4096];
    fixture ops;
    snprintf(path, sizeof path, "%s/tests/fixtures/nn/ops.safetensors", check_source_dir());
    CHECK(fixture_open(&ops, path) == 0, "cannot read %s", path);
    if (ops.buf) {
        const char *convs[] = {"conv_s2g2", "conv_d2", "conv_dw", "conv_rect", "conv_1x1"};
        for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) golden_conv(&ops, convs[i]);
        golden_batchnorm(&ops, "bn_train", 1);
        golden_batchnorm(&ops, "bn_eval", 0);
        golden_unary(&ops, "relu");
        golden_unary(&ops, "gelu");
        golden_unary(&ops, "gelu_tanh");
        golden_pool(&ops, "maxpool_k3s2p1", 1);
        golden_pool(&ops, "maxpool_k2s2", 1);
        golden_pool(&ops, "avgpool_k3s2p1", 0);
        golden_pool(&ops, "avgpool_k3s2p1_nopad", 0);
        golden_gap(&ops);
        golden_linear(&ops);
        golden_ce(&ops, "ce");
        golden_ce(&ops, "ce_ls");
        fixture_close(&ops);
    }
    return check_report();
}
