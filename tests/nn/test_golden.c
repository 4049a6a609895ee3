/* test_golden.c: every nn op, and a small network trained 5 AdamW steps,
 * against PyTorch's tensors in tests/fixtures/nn/ (made by gen_fixtures.py,
 * references in float64). Both the naive references and the fast paths are
 * compared. Tolerances, |got - ref| <= atol + rtol |ref|:
 *   forward outputs          1e-5 abs + 1e-4 rel
 *   gradients                1e-4 abs + 1e-4 rel
 *   loss                     1e-6 abs + 1e-5 rel
 *   dlogits (magnitude < 0.2) 1e-6 abs + 1e-4 rel
 *   parameters after AdamW   1e-5 abs + 1e-5 rel (and BN running stats) */
#include "golden_util.h"
#include "nn/fixture.c"

#define FWD_ATOL GOLDEN_FWD_ATOL
#define FWD_RTOL GOLDEN_FWD_RTOL
#define GRAD_ATOL GOLDEN_GRAD_ATOL
#define GRAD_RTOL GOLDEN_GRAD_RTOL
#define LOSS_ATOL 1e-6
#define LOSS_RTOL 1e-5
#define ADAMW_ATOL 1e-5
#define ADAMW_RTOL 1e-5

/* "<prefix>.<name>" of any size; *n receives its element count. */
static const float *get_any(const fixture *f, const char *prefix, const char *name, size_t *n) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    const float *p = fixture_get(f, key, n, NULL, NULL);
    CHECK(p != NULL, "fixture tensor %s missing", key);
    return p;
}

/* ------------------------------------------------------------- batchnorm */

static void golden_batchnorm(const fixture *f, const char *name, int train) {
    enum { B = 3, C = 4, HW = 30 };
    size_t n = (size_t)B * C * HW;
    const float *x = golden_get(f, name, "x", n), *w = golden_get(f, name, "w", C), *b = golden_get(f, name, "b", C);
    const float *rm0 = golden_get(f, name, "running_mean", C), *rv0 = golden_get(f, name, "running_var", C);
    const float *dy = golden_get(f, name, "dy", n);
    if (!x || !w || !b || !rm0 || !rv0 || !dy) return;
    float rm[C], rv[C], mean[C], rstd[C], dw[C] = {0}, db[C] = {0};
    memcpy(rm, rm0, sizeof rm);
    memcpy(rv, rv0, sizeof rv);
    float *y = golden_zeros(n), *dx = golden_zeros(n);
    nn_batchnorm2d_forward(y, mean, rstd, rm, rv, x, w, b, B, C, HW, NN_BN_EPS, NN_BN_MOMENTUM,
                           train);
    nn_batchnorm2d_backward(dx, dw, db, dy, mean, rstd, x, w, B, C, HW, train);
    golden_compare(name, "y", y, golden_get(f, name, "y", n), n, FWD_ATOL, FWD_RTOL);
    golden_compare(name, "dx", dx, golden_get(f, name, "dx", n), n, GRAD_ATOL, GRAD_RTOL);
    golden_compare(name, "dw", dw, golden_get(f, name, "dw", C), C, GRAD_ATOL, GRAD_RTOL);
    golden_compare(name, "db", db, golden_get(f, name, "db", C), C, GRAD_ATOL, GRAD_RTOL);
    golden_compare(name, "running_mean", rm, golden_get(f, name, "running_mean_after", C), C, FWD_ATOL, FWD_RTOL);
    golden_compare(name, "running_var", rv, golden_get(f, name, "running_var_after", C), C, FWD_ATOL, FWD_RTOL);
    free(y), free(dx);
}

/* ---------------------------------------------------------- element-wise */

static void golden_unary(const fixture *f, const char *name) {
    size_t n = 0;
    const float *x = get_any(f, name, "x", &n);
    if (!x) return;
    const float *dy = golden_get(f, name, "dy", n);
    if (!dy) return;
    float *y = golden_zeros(n), *dx = golden_zeros(n);
    if (strcmp(name, "relu") == 0) {
        nn_relu_forward(y, x, n);
        nn_relu_backward(dx, dy, x, n);
    } else {
        nn_gelu_approx a = strcmp(name, "gelu") == 0 ? NN_GELU_APPROX_NONE : NN_GELU_APPROX_TANH;
        nn_gelu_forward(y, x, n, a);
        nn_gelu_backward(dx, dy, x, n, a);
    }
    golden_compare(name, "y", y, golden_get(f, name, "y", n), n, FWD_ATOL, FWD_RTOL);
    golden_compare(name, "dx", dx, golden_get(f, name, "dx", n), n, GRAD_ATOL, GRAD_RTOL);
    free(y), free(dx);
}

/* --------------------------------------------------------------- pooling */

static void golden_pool(const fixture *f, const char *name, int is_max) {
    const float *cfg = golden_get(f, name, "cfg", 4);
    if (!cfg) return;
    nn_pool2d p;
    CHECK(nn_pool2d_init(&p, 2, 3, 7, 9, (int)cfg[0], (int)cfg[1], (int)cfg[2], NULL) == SERMO_OK,
          "%s: setup", name);
    p.count_include_pad = (int)cfg[3];
    size_t nx = (size_t)p.B * p.C * p.H * p.W, ny = (size_t)p.B * p.C * p.OH * p.OW;
    const float *x = golden_get(f, name, "x", nx), *dy = golden_get(f, name, "dy", ny);
    if (!x || !dy) return;
    float *y = golden_zeros(nx), *dx = golden_zeros(nx);
    int32_t *am = calloc(ny, sizeof *am);
    if (is_max) {
        nn_maxpool2d_forward(y, am, x, &p);
        nn_maxpool2d_backward(dx, dy, am, &p);
    } else {
        nn_avgpool2d_forward(y, x, &p);
        nn_avgpool2d_backward(dx, dy, &p);
    }
    golden_compare(name, "y", y, golden_get(f, name, "y", ny), ny, FWD_ATOL, FWD_RTOL);
    golden_compare(name, "dx", dx, golden_get(f, name, "dx", nx), nx, GRAD_ATOL, GRAD_RTOL);
    free(y), free(dx), free(am);
}

static void golden_gap(const fixture *f) {
    enum { B = 2, C = 3, HW = 20 };
    const float *x = golden_get(f, "gap", "x", B * C * HW), *dy = golden_get(f, "gap", "dy", B * C);
    if (!x || !dy) return;
    float y[B * C], dx[B * C * HW] = {0};
    nn_global_avgpool_forward(y, x, B, C, HW);
    nn_global_avgpool_backward(dx, dy, B, C, HW);
    golden_compare("gap", "y", y, golden_get(f, "gap", "y", B * C), B * C, FWD_ATOL, FWD_RTOL);
    golden_compare("gap", "dx", dx, golden_get(f, "gap", "dx", B * C * HW), B * C * HW, GRAD_ATOL, GRAD_RTOL);
}

static void golden_statpool(const fixture *f) {
    enum { B = 2, C = 3, HW = 20 };
    const float *x = golden_get(f, "statpool", "x", B * C * HW), *dy = golden_get(f, "statpool", "dy", B * 2 * C);
    if (!x || !dy) return;
    float y[B * 2 * C], dx[B * C * HW] = {0};
    nn_global_statpool_forward(y, x, B, C, HW);
    nn_global_statpool_backward(dx, dy, x, y, B, C, HW);
    golden_compare("statpool", "y", y, golden_get(f, "statpool", "y", B * 2 * C), B * 2 * C, FWD_ATOL, FWD_RTOL);
    golden_compare("statpool", "dx", dx, golden_get(f, "statpool", "dx", B * C * HW), B * C * HW, GRAD_ATOL,
                   GRAD_RTOL);
}

/* ------------------------------------------------------- linear and loss */

static void golden_linear(const fixture *f) {
    enum { N = 5, FI = 7, FO = 3 };
    const float *x = golden_get(f, "linear", "x", N * FI), *w = golden_get(f, "linear", "w", FO * FI);
    const float *b = golden_get(f, "linear", "b", FO), *dy = golden_get(f, "linear", "dy", N * FO);
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
        golden_compare(prefix, "y", y, golden_get(f, "linear", "y", N * FO), N * FO, FWD_ATOL, FWD_RTOL);
        golden_compare(prefix, "dx", dx, golden_get(f, "linear", "dx", N * FI), N * FI, GRAD_ATOL, GRAD_RTOL);
        golden_compare(prefix, "dw", dw, golden_get(f, "linear", "dw", FO * FI), FO * FI, GRAD_ATOL, GRAD_RTOL);
        golden_compare(prefix, "db", db, golden_get(f, "linear", "db", FO), FO, GRAD_ATOL, GRAD_RTOL);
    }
}

static void golden_ce(const fixture *f, const char *name) {
    enum { N = 6, L = 5 };
    const float *z = golden_get(f, name, "logits", N * L), *lab = golden_get(f, name, "labels", N);
    const float *s = golden_get(f, name, "smoothing", 1), *loss_ref = golden_get(f, name, "loss", 1);
    if (!z || !lab || !s || !loss_ref) return;
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = (int32_t)lab[i];
    float dz[N * L];
    float loss = nn_cross_entropy_forward(dz, z, labels, N, L, s[0]);
    golden_compare(name, "loss", &loss, loss_ref, 1, LOSS_ATOL, LOSS_RTOL);
    golden_compare(name, "dlogits", dz, golden_get(f, name, "dlogits", N * L), N * L, 1e-6, GRAD_RTOL);
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
        golden_statpool(&ops);
        golden_linear(&ops);
        golden_ce(&ops, "ce");
        golden_ce(&ops, "ce_ls");
        fixture_close(&ops);
    }
    return check_report();
}
