/* test_zoo_ops.c: the ops EfficientNet and ViT add (sigmoid, SiLU, channel
 * scale, drop path, adaptive average pool, bilinear resize, depthwise conv).
 *
 * 1. Golden: forward and every gradient against PyTorch's float64 tensors in
 *    tests/fixtures/nn/zoo.safetensors (gen_zoo_fixtures.py), with
 *    |got - ref| <= atol + rtol |ref|: outputs 1e-5 + 1e-4 rel, gradients
 *    1e-4 + 1e-4 rel (as test_golden.c). Sigmoid and SiLU at |x| up to 100
 *    are also checked to 1e-5 relative down to the smallest float, so a
 *    sigmoid that flushes exp overflow to 0 or NaN fails. Depthwise conv
 *    (groups = C, 3x3 and 5x5, stride 1 and 2) runs golden_util.h's
 *    golden_conv on the naive loop and the im2col path. The 64x300 ->
 *    224x224 resize is also held to torch's own float32 kernel at 1e-6.
 * 2. Finite differences (gradcheck_util.h): ops linear in the perturbed
 *    tensor (channel scale in either input, drop path with a fixed mask,
 *    the pool, the resize, depthwise conv) with a 0.5 step and 1e-3 abs +
 *    1e-3 rel; sigmoid and SiLU with a 1e-2 step and 2e-4 abs + 2e-3 rel
 *    (step truncation ~1e-5, float rounding ~1e-5).
 * 3. Depthwise conv's im2col fast path equals the naive loop (1 and 2
 *    threads, nn_test_util.h's 1e-5 relative comparison).
 * 4. Drop path cannot be golden (torch's RNG differs): its keep rate over
 *    200000 samples is within 5 sigma of 1 - p, survivors are scaled by
 *    exactly 1/(1 - p), it draws one sermo_rng number per sample, and eval or
 *    p = 0 is the identity and leaves the rng untouched.
 * 5. Calls large enough for the OpenMP team equal the same op called plane by
 *    plane (serial), bit for bit.
 * Gradient buffers start non-zero (GRAD_PRIOR), so every backward must
 * accumulate. */
#include "check.h"
#include "nn/fixture.c"
#include "nn/golden_util.h"
#include "nn/gradcheck_util.h"
#include "nn/nn.h"
#include "nn/nn_test_util.h"

#define FWD_ATOL GOLDEN_FWD_ATOL
#define FWD_RTOL GOLDEN_FWD_RTOL
#define GRAD_ATOL GOLDEN_GRAD_ATOL
#define GRAD_RTOL GOLDEN_GRAD_RTOL
#define LIN_EPS 0.5f
#define LIN_TOL 1e-3, 1e-3
#define SMOOTH_EPS 1e-2f
#define SMOOTH_TOL 2e-4, 2e-3

static float *zeros(size_t n) { return golden_zeros(n); }

/* fill() in [-1, 1) scaled to [-s, s). */
static void fill_scaled(sermo_rng *rng, float *v, size_t n, float s) {
    fill(rng, v, n);
    for (size_t i = 0; i < n; i++) v[i] *= s;
}

/* ================================================================ golden */

enum act_op { ACT_SIGMOID, ACT_SILU };

static void act_forward(enum act_op op, float *y, const float *x, size_t n) {
    if (op == ACT_SIGMOID) nn_sigmoid_forward(y, x, n);
    else nn_silu_forward(y, x, n);
}

/* Sigmoid's backward takes the output, SiLU's the input (nn.h). */
static void act_backward(enum act_op op, float *dx, const float *dy, const float *x, const float *y,
                         size_t n) {
    if (op == ACT_SIGMOID) nn_sigmoid_backward(dx, dy, y, n);
    else nn_silu_backward(dx, dy, x, n);
}

static void golden_act(const fixture *f, const char *name, enum act_op op, size_t n,
                       double fwd_atol, double fwd_rtol) {
    const float *x = golden_get(f, name, "x", n), *dy = golden_get(f, name, "dy", n);
    if (!x || !dy) return;
    float *y = zeros(n), *dx = zeros(n);
    act_forward(op, y, x, n);
    act_backward(op, dx, dy, x, y, n);
    golden_compare(name, "y", y, golden_get(f, name, "y", n), n, fwd_atol, fwd_rtol);
    golden_compare(name, "dx", dx, golden_get(f, name, "dx", n), n, GRAD_ATOL, GRAD_RTOL);
    free(y), free(dx);
}

static void golden_channel_scale(const fixture *f) {
    enum { B = 2, C = 3, HW = 10 };
    const char *nm = "chscale";
    const float *x = golden_get(f, nm, "x", B * C * HW), *s = golden_get(f, nm, "s", B * C);
    const float *dy = golden_get(f, nm, "dy", B * C * HW);
    if (!x || !s || !dy) return;
    float y[B * C * HW], dx[B * C * HW] = {0}, ds[B * C] = {0};
    nn_channel_scale_forward(y, x, s, B, C, HW);
    nn_channel_scale_backward(dx, ds, dy, x, s, B, C, HW);
    golden_compare(nm, "y", y, golden_get(f, nm, "y", B * C * HW), B * C * HW, FWD_ATOL, FWD_RTOL);
    golden_compare(nm, "dx", dx, golden_get(f, nm, "dx", B * C * HW), B * C * HW, GRAD_ATOL,
                   GRAD_RTOL);
    golden_compare(nm, "ds", ds, golden_get(f, nm, "ds", B * C), B * C, GRAD_ATOL, GRAD_RTOL);
}

/* Adaptive pool and resize share a shape: (B, C, H, W) -> (B, C, OH, OW). */
typedef void (*resample_fwd)(float *, const float *, int, int, int, int, int, int);
typedef void (*resample_bwd)(float *, const float *, int, int, int, int, int, int);

static void golden_resample(const fixture *f, const char *name, resample_fwd fwd,
                            resample_bwd bwd) {
    enum { B = 2, C = 3 };
    const float *cfg = golden_get(f, name, "cfg", 4);
    if (!cfg) return;
    int H = (int)cfg[0], W = (int)cfg[1], OH = (int)cfg[2], OW = (int)cfg[3];
    size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * OH * OW;
    const float *x = golden_get(f, name, "x", nx), *dy = golden_get(f, name, "dy", ny);
    if (!x || !dy) return;
    float *y = zeros(ny), *dx = zeros(nx);
    fwd(y, x, B, C, H, W, OH, OW);
    bwd(dx, dy, B, C, H, W, OH, OW);
    golden_compare(name, "y", y, golden_get(f, name, "y", ny), ny, FWD_ATOL, FWD_RTOL);
    golden_compare(name, "dx", dx, golden_get(f, name, "dx", nx), nx, GRAD_ATOL, GRAD_RTOL);
    free(y), free(dx);
}

/* gen_zoo_fixtures.py's big_pattern: ((i * mult) % 1000 - 500) / 256. */
static void big_pattern(float *v, size_t n, long long mult) {
    for (size_t i = 0; i < n; i++) v[i] = (float)(((long long)i * mult) % 1000 - 500) / 256.0f;
}

/* 64x300 -> 224x224 (height up, width down), compared on the fixture's
 * strided subsets: with torch's own float32 kernel at 1e-6 (sermo rounds the
 * source index as ATen does; a float src moves outputs by 5e-5), and with
 * float64 at 5e-5, the spread that float32 index rounding gives torch too. */
static void golden_resize_big(const fixture *f) {
    const char *nm = "resize_big";
    const float *cfg = golden_get(f, nm, "cfg", 6);
    if (!cfg) return;
    int H = (int)cfg[0], W = (int)cfg[1], OH = (int)cfg[2], OW = (int)cfg[3];
    size_t ys = (size_t)cfg[4], xs = (size_t)cfg[5];
    size_t nx = (size_t)H * W, ny = (size_t)OH * OW;
    float *x = zeros(nx), *dy = zeros(ny), *y = zeros(ny), *dx = zeros(nx);
    big_pattern(x, nx, 7919);
    big_pattern(dy, ny, 104729);
    nn_resize_bilinear_forward(y, x, 1, 1, H, W, OH, OW);
    nn_resize_bilinear_backward(dx, dy, 1, 1, H, W, OH, OW);
    size_t nys = (ny + ys - 1) / ys, nxs = (nx + xs - 1) / xs;
    float *ysub = zeros(nys), *dxsub = zeros(nxs);
    for (size_t i = 0; i < nys; i++) ysub[i] = y[i * ys];
    for (size_t i = 0; i < nxs; i++) dxsub[i] = dx[i * xs];
    golden_compare(nm, "y_vs_f32", ysub, golden_get(f, nm, "y32_sub", nys), nys, 1e-6, 1e-5);
    golden_compare(nm, "dx_vs_f32", dxsub, golden_get(f, nm, "dx32_sub", nxs), nxs, 1e-6, 1e-5);
    golden_compare(nm, "y", ysub, golden_get(f, nm, "y_sub", nys), nys, 5e-5, FWD_RTOL);
    golden_compare(nm, "dx", dxsub, golden_get(f, nm, "dx_sub", nxs), nxs, 5e-5, GRAD_RTOL);
    free(x), free(dy), free(y), free(dx), free(ysub), free(dxsub);
}

static sermo_status depthwise_setup(nn_conv2d *c, int B, int C, int H, int W, int K, int stride,
                                    int pad) {
    return nn_conv2d_init(c, B, C, H, W, C, K, stride, pad, 1, C, NULL);
}

static void golden_all(void) {
    char path[4096];
    fixture f;
    snprintf(path, sizeof path, "%s/tests/fixtures/nn/zoo.safetensors", check_source_dir());
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    golden_act(&f, "sigmoid", ACT_SIGMOID, 120, FWD_ATOL, FWD_RTOL);
    golden_act(&f, "silu", ACT_SILU, 120, FWD_ATOL, FWD_RTOL);
    /* |x| up to 100: relative accuracy down to denormals (sigmoid(-100) =
     * 3.7e-44 is a few ulps of the smallest float, hence the tiny atol) */
    golden_act(&f, "sigmoid_ext", ACT_SIGMOID, 15, 1e-44, 1e-5);
    golden_act(&f, "silu_ext", ACT_SILU, 15, 1e-42, 1e-5);
    golden_channel_scale(&f);
    const char *pools[] = {"adapool_7x5_3x4", "adapool_5x6_11x9", "adapool_8x6_4x3",
                           "adapool_6x7_1x1"};
    for (size_t i = 0; i < sizeof pools / sizeof *pools; i++)
        golden_resample(&f, pools[i], nn_adaptive_avgpool2d_forward,
                        nn_adaptive_avgpool2d_backward);
    const char *resizes[] = {"resize_7x5_3x4", "resize_5x6_11x9", "resize_4x9_4x5",
                             "resize_3x2_8x7"};
    for (size_t i = 0; i < sizeof resizes / sizeof *resizes; i++)
        golden_resample(&f, resizes[i], nn_resize_bilinear_forward, nn_resize_bilinear_backward);
    golden_resize_big(&f);
    const char *dws[] = {"dw_k3s1p1", "dw_k3s2p1", "dw_k5s1p2", "dw_k5s2p2"};
    for (size_t i = 0; i < sizeof dws / sizeof *dws; i++) golden_conv(&f, dws[i]);
    fixture_close(&f);
}

/* ================================================= finite differences */

enum fd_op { FD_SIGMOID, FD_SILU, FD_CHSCALE, FD_DROP_PATH, FD_ADAPOOL, FD_RESIZE, FD_DEPTHWISE };

typedef struct fd_ctx {
    enum fd_op op;
    int B, C, H, W, OH, OW; /* resamplers; channel scale uses B, C, H = HW; drop path B, H = D */
    nn_conv2d conv;
    size_t nx, ny;
    float *x, *s, *y, *r, *mask; /* s: channel scale, or the depthwise weight */
    float *bias;
} fd_ctx;

static void fd_forward(fd_ctx *k) {
    sermo_rng rng;
    switch (k->op) {
    case FD_SIGMOID: nn_sigmoid_forward(k->y, k->x, k->nx); break;
    case FD_SILU: nn_silu_forward(k->y, k->x, k->nx); break;
    case FD_CHSCALE: nn_channel_scale_forward(k->y, k->x, k->s, k->B, k->C, k->H); break;
    case FD_DROP_PATH: /* same seed every call: the same mask */
        sermo_rng_seed(&rng, 7);
        nn_drop_path_forward(k->y, k->mask, k->x, k->B, (size_t)k->H, 0.5f, 1, &rng);
        break;
    case FD_ADAPOOL:
        nn_adaptive_avgpool2d_forward(k->y, k->x, k->B, k->C, k->H, k->W, k->OH, k->OW);
        break;
    case FD_RESIZE:
        nn_resize_bilinear_forward(k->y, k->x, k->B, k->C, k->H, k->W, k->OH, k->OW);
        break;
    case FD_DEPTHWISE: nn_conv2d_forward(k->y, k->x, k->s, k->bias, &k->conv); break;
    }
}

static double fd_loss(void *p) {
    fd_ctx *k = p;
    fd_forward(k);
    return dot(k->y, k->r, k->ny);
}

/* Allocates x, y, r (and s, mask) for k's sizes and fills x, s, r. */
static void fd_alloc(fd_ctx *k, sermo_rng *rng, size_t ns, float xscale) {
    k->x = zeros(k->nx), k->y = zeros(k->ny), k->r = zeros(k->ny), k->s = zeros(ns);
    k->mask = zeros((size_t)k->B);
    fill_scaled(rng, k->x, k->nx, xscale), fill(rng, k->r, k->ny), fill(rng, k->s, ns);
}

static void fd_free(fd_ctx *k) { free(k->x), free(k->y), free(k->r), free(k->s), free(k->mask); }

static void fd_elementwise(const char *name, sermo_rng *rng, enum fd_op op) {
    fd_ctx k = {.op = op, .nx = 60, .ny = 60};
    fd_alloc(&k, rng, 1, 4.0f);
    fd_forward(&k);
    float *dx = prior(k.nx);
    if (op == FD_SIGMOID) nn_sigmoid_backward(dx, k.r, k.y, k.nx);
    else nn_silu_backward(dx, k.r, k.x, k.nx);
    gradcheck(name, k.x, k.nx, dx, fd_loss, &k, SMOOTH_EPS, SMOOTH_TOL);
    free(dx), fd_free(&k);
}

static void fd_channel_scale(sermo_rng *rng) {
    fd_ctx k = {.op = FD_CHSCALE, .B = 2, .C = 3, .H = 7, .nx = 42, .ny = 42};
    fd_alloc(&k, rng, 6, 1.0f);
    float *dx = prior(k.nx), *ds = prior(6);
    nn_channel_scale_backward(dx, ds, k.r, k.x, k.s, k.B, k.C, k.H);
    gradcheck("channel_scale.dx", k.x, k.nx, dx, fd_loss, &k, LIN_EPS, LIN_TOL);
    gradcheck("channel_scale.dscale", k.s, 6, ds, fd_loss, &k, LIN_EPS, LIN_TOL);
    /* either gradient may be NULL */
    float *dx2 = prior(k.nx), *ds2 = prior(6);
    nn_channel_scale_backward(dx2, NULL, k.r, k.x, k.s, k.B, k.C, k.H);
    nn_channel_scale_backward(NULL, ds2, k.r, k.x, k.s, k.B, k.C, k.H);
    CHECK(memcmp(dx, dx2, sizeof(float) * k.nx) == 0 && memcmp(ds, ds2, sizeof(float) * 6) == 0,
          "channel_scale: NULL gradient changes the other");
    free(dx), free(ds), free(dx2), free(ds2), fd_free(&k);
}

static void fd_drop_path(sermo_rng *rng) {
    fd_ctx k = {.op = FD_DROP_PATH, .B = 8, .H = 5, .nx = 40, .ny = 40};
    fd_alloc(&k, rng, 1, 1.0f);
    fd_forward(&k);
    int kept = 0;
    for (int b = 0; b < k.B; b++) kept += k.mask[b] != 0.0f;
    CHECK(kept > 0 && kept < k.B, "drop_path: seed 7 keeps %d of %d; both cases wanted", kept, k.B);
    float *dx = prior(k.nx);
    nn_drop_path_backward(dx, k.r, k.mask, k.B, (size_t)k.H);
    gradcheck("drop_path.dx", k.x, k.nx, dx, fd_loss, &k, LIN_EPS, LIN_TOL);
    free(dx), fd_free(&k);
}

static void fd_resample(const char *name, sermo_rng *rng, enum fd_op op, int H, int W, int OH,
                        int OW) {
    fd_ctx k = {.op = op, .B = 1, .C = 2, .H = H, .W = W, .OH = OH, .OW = OW};
    k.nx = (size_t)k.B * k.C * H * W, k.ny = (size_t)k.B * k.C * OH * OW;
    fd_alloc(&k, rng, 1, 1.0f);
    float *dx = prior(k.nx);
    if (op == FD_ADAPOOL) nn_adaptive_avgpool2d_backward(dx, k.r, k.B, k.C, H, W, OH, OW);
    else nn_resize_bilinear_backward(dx, k.r, k.B, k.C, H, W, OH, OW);
    gradcheck(name, k.x, k.nx, dx, fd_loss, &k, LIN_EPS, LIN_TOL);
    free(dx), fd_free(&k);
}

/* Naive and fast backward against differences of the naive forward. */
static void fd_depthwise(const char *name, sermo_rng *rng, int K, int stride, int pad) {
    fd_ctx k = {.op = FD_DEPTHWISE};
    CHECK(depthwise_setup(&k.conv, 2, 3, 7, 6, K, stride, pad) == SERMO_OK, "%s: setup", name);
    const nn_conv2d *c = &k.conv;
    k.B = c->B;
    k.nx = (size_t)c->B * c->C_in * c->H * c->W, k.ny = (size_t)c->B * c->C_out * c->OH * c->OW;
    size_t nw = (size_t)c->C_out * K * K;
    fd_alloc(&k, rng, nw, 1.0f);
    float bias[3];
    fill(rng, bias, 3);
    k.bias = bias;
    float *ws = zeros(nn_conv2d_workspace_size(c, 2));
    for (int fast = 0; fast < 2; fast++) {
        float *dx = prior(k.nx), *dw = prior(nw), *db = prior(3);
        if (fast) nn_conv2d_backward_fast(dx, dw, db, k.r, k.x, k.s, c, ws, 2);
        else nn_conv2d_backward(dx, dw, db, k.r, k.x, k.s, c);
        char label[128];
        snprintf(label, sizeof label, "%s.%s.dx", name, fast ? "fast" : "naive");
        gradcheck(label, k.x, k.nx, dx, fd_loss, &k, LIN_EPS, LIN_TOL);
        snprintf(label, sizeof label, "%s.%s.dw", name, fast ? "fast" : "naive");
        gradcheck(label, k.s, nw, dw, fd_loss, &k, LIN_EPS, LIN_TOL);
        snprintf(label, sizeof label, "%s.%s.db", name, fast ? "fast" : "naive");
        gradcheck(label, bias, 3, db, fd_loss, &k, LIN_EPS, LIN_TOL);
        free(dx), free(dw), free(db);
    }
    free(ws), fd_free(&k);
}

static void fd_all(sermo_rng *rng) {
    fd_elementwise("sigmoid.dx", rng, FD_SIGMOID);
    fd_elementwise("silu.dx", rng, FD_SILU);
    fd_channel_scale(rng);
    fd_drop_path(rng);
    fd_resample("adapool_7x5_3x4", rng, FD_ADAPOOL, 7, 5, 3, 4);
    fd_resample("adapool_5x6_11x9", rng, FD_ADAPOOL, 5, 6, 11, 9);
    fd_resample("adapool_6x7_1x1", rng, FD_ADAPOOL, 6, 7, 1, 1);
    fd_resample("resize_7x5_3x4", rng, FD_RESIZE, 7, 5, 3, 4);
    fd_resample("resize_5x6_11x9", rng, FD_RESIZE, 5, 6, 11, 9);
    fd_resample("resize_4x9_4x5", rng, FD_RESIZE, 4, 9, 4, 5);
    fd_depthwise("dw_k3s1p1", rng, 3, 1, 1);
    fd_depthwise("dw_k3s2p1", rng, 3, 2, 1);
    fd_depthwise("dw_k5s1p2", rng, 5, 1, 2);
    fd_depthwise("dw_k5s2p2", rng, 5, 2, 2);
}

/* ===================================================== fast vs naive */

static void fast_depthwise(const char *name, sermo_rng *rng, int B, int C, int H, int W, int K,
                           int stride, int pad) {
    nn_conv2d c;
    CHECK(depthwise_setup(&c, B, C, H, W, K, stride, pad) == SERMO_OK, "%s: setup", name);
    size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * c.OH * c.OW, nw = (size_t)C * K * K;
    float *x = zeros(nx), *w = zeros(nw), *b = zeros(C), *dy = zeros(ny);
    float *dx0 = zeros(nx), *dw0 = zeros(nw), *db0 = zeros(C);
    fill(rng, x, nx), fill(rng, w, nw), fill(rng, b, C), fill(rng, dy, ny);
    fill(rng, dx0, nx), fill(rng, dw0, nw), fill(rng, db0, C); /* prior gradients */
    float *y_ref = zeros(ny), *dx_ref = dup(dx0, nx), *dw_ref = dup(dw0, nw), *db_ref = dup(db0, C);
    nn_conv2d_forward(y_ref, x, w, b, &c);
    nn_conv2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, &c);
    for (int threads = 1; threads <= 2; threads++) {
        char label[128];
        snprintf(label, sizeof label, "%s.fast_vs_naive.t%d", name, threads);
        float *ws = zeros(nn_conv2d_workspace_size(&c, threads)), *y = zeros(ny);
        float *dx = dup(dx0, nx), *dw = dup(dw0, nw), *db = dup(db0, C);
        nn_conv2d_forward_fast(y, x, w, b, &c, ws, threads);
        nn_conv2d_backward_fast(dx, dw, db, dy, x, w, &c, ws, threads);
        compare(label, "y", y, y_ref, ny);
        compare(label, "dx", dx, dx_ref, nx);
        compare(label, "dw", dw, dw_ref, nw);
        compare(label, "db", db, db_ref, C);
        free(ws), free(y), free(dx), free(dw), free(db);
    }
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref);
}

/* ================================================ properties */

/* Equal sizes copy finite input exactly (ATen's scale-1 rule), both ways. */
static void resize_identity(sermo_rng *rng) {
    enum { B = 2, C = 2, H = 5, W = 6, N = B * C * H * W };
    float x[N], y[N], dx[N] = {0};
    fill(rng, x, N);
    nn_resize_bilinear_forward(y, x, B, C, H, W, H, W);
    nn_resize_bilinear_backward(dx, x, B, C, H, W, H, W);
    CHECK(memcmp(x, y, sizeof x) == 0, "resize to the same size is not a copy");
    CHECK(memcmp(x, dx, sizeof x) == 0, "resize backward at the same size is not a copy");
}

/* AdaptiveAvgPool2d(1) is the global average pool. */
static void adapool_global(sermo_rng *rng) {
    enum { B = 3, C = 4, H = 9, W = 7 };
    float x[B * C * H * W], y[B * C], ref[B * C];
    fill(rng, x, B * C * H * W);
    nn_adaptive_avgpool2d_forward(y, x, B, C, H, W, 1, 1);
    nn_global_avgpool_forward(ref, x, B, C, H * W);
    check_close("adapool_1x1_vs_global", y, ref, B * C, 1e-6, 1e-5);
}

/* Large calls run on the default OpenMP team (over 65536 elements); they must
 * equal the same op called plane by plane (below the threshold, serial) bit
 * for bit. P planes of 64x300 <-> 224x224. */
static void same(const char *what, const float *a, const float *b, size_t n) {
    CHECK(memcmp(a, b, sizeof(float) * n) == 0,
          "%s: the threaded call differs from per-plane calls", what);
}

static void parallel_vs_serial(sermo_rng *rng) {
    enum { P = 4, H = 64, W = 300, OH = 224, OW = 224 };
    size_t px = (size_t)H * W, py = (size_t)OH * OW, nx = P * px, ny = P * py;
    float *x = zeros(ny), *r = zeros(ny), *s = zeros(P), *m = zeros(P), *m1 = zeros(1);
    float *a = zeros(ny), *b = zeros(ny), *ga = zeros(ny), *gb = zeros(ny), *sa = zeros(P),
          *sb = zeros(P);
    fill_scaled(rng, x, ny, 4.0f), fill(rng, r, ny), fill(rng, s, P);
    nn_resize_bilinear_forward(a, x, 1, P, H, W, OH, OW);
    nn_resize_bilinear_backward(ga, r, 1, P, H, W, OH, OW);
    for (int p = 0; p < P; p++) {
        nn_resize_bilinear_forward(b + p * py, x + p * px, 1, 1, H, W, OH, OW);
        nn_resize_bilinear_backward(gb + p * px, r + p * py, 1, 1, H, W, OH, OW);
    }
    same("resize.y", a, b, ny), same("resize.dx", ga, gb, nx);
    memset(ga, 0, sizeof(float) * ny), memset(gb, 0, sizeof(float) * ny);
    nn_adaptive_avgpool2d_forward(a, x, P, 1, OH, OW, 7, 5);
    nn_adaptive_avgpool2d_backward(ga, r, P, 1, OH, OW, 7, 5);
    for (int p = 0; p < P; p++) {
        nn_adaptive_avgpool2d_forward(b + p * 35, x + p * py, 1, 1, OH, OW, 7, 5);
        nn_adaptive_avgpool2d_backward(gb + p * py, r + p * 35, 1, 1, OH, OW, 7, 5);
    }
    same("adapool.y", a, b, P * 35), same("adapool.dx", ga, gb, ny);
    for (int op = 0; op < 2; op++) {
        memset(ga, 0, sizeof(float) * ny), memset(gb, 0, sizeof(float) * ny);
        act_forward(op, a, x, ny);
        act_backward(op, ga, r, x, a, ny);
        for (int p = 0; p < P; p++) {
            act_forward(op, b + p * py, x + p * py, py);
            act_backward(op, gb + p * py, r + p * py, x + p * py, b + p * py, py);
        }
        same(op ? "silu.y" : "sigmoid.y", a, b, ny);
        same(op ? "silu.dx" : "sigmoid.dx", ga, gb, ny);
    }
    memset(ga, 0, sizeof(float) * ny), memset(gb, 0, sizeof(float) * ny);
    nn_channel_scale_forward(a, x, s, 1, P, (int)py);
    nn_channel_scale_backward(ga, sa, r, x, s, 1, P, (int)py);
    for (int p = 0; p < P; p++) {
        nn_channel_scale_forward(b + p * py, x + p * py, s + p, 1, 1, (int)py);
        nn_channel_scale_backward(gb + p * py, sb + p, r + p * py, x + p * py, s + p, 1, 1,
                                  (int)py);
    }
    same("channel_scale.y", a, b, ny), same("channel_scale.dx", ga, gb, ny);
    same("channel_scale.ds", sa, sb, P);
    memset(ga, 0, sizeof(float) * ny), memset(gb, 0, sizeof(float) * ny);
    sermo_rng drop;
    sermo_rng_seed(&drop, 5);
    nn_drop_path_forward(a, m, x, P, py, 0.5f, 1, &drop);
    nn_drop_path_backward(ga, r, m, P, py);
    for (int p = 0; p < P; p++) {
        nn_drop_path_forward(b + p * py, m1, x + p * py, 1, py, 0.5f, 0, NULL); /* copy */
        for (size_t i = 0; i < py; i++) b[p * py + i] *= m[p];
        nn_drop_path_backward(gb + p * py, r + p * py, m + p, 1, py);
    }
    same("drop_path.y", a, b, ny), same("drop_path.dx", ga, gb, ny);
    free(x), free(r), free(s), free(m), free(m1), free(a), free(b), free(ga), free(gb), free(sa),
        free(sb);
}

static int rng_equal(const sermo_rng *a, const sermo_rng *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

static void drop_path_stats(void) {
    enum { B = 200000 };
    const float p = 0.2f;
    float *in = zeros(B), *out = zeros(B), *mask = zeros(B);
    for (int b = 0; b < B; b++) in[b] = 1.0f + (float)(b % 7);
    sermo_rng rng, twin;
    sermo_rng_seed(&rng, 11), sermo_rng_seed(&twin, 11);
    nn_drop_path_forward(out, mask, in, B, 1, p, 1, &rng);
    long kept = 0, bad = 0;
    float scale = 1.0f / (1.0f - p);
    for (int b = 0; b < B; b++) {
        int keep = sermo_rng_uniform(&twin) >= (double)p; /* one draw per sample, in order */
        kept += keep;
        if (mask[b] != (keep ? scale : 0.0f) || out[b] != in[b] * mask[b]) bad++;
    }
    CHECK(bad == 0, "drop_path: %ld samples differ from one draw each, kept <=> u >= p", bad);
    CHECK(rng_equal(&rng, &twin), "drop_path: drew other than one number per sample");
    double rate = (double)kept / B, sigma = sqrt(p * (1.0 - p) / B);
    CHECK(fabs(rate - (1.0 - p)) < 5 * sigma, "drop_path: keep rate %.5f, expected %.2f +- %.5f",
          rate, 1.0 - p, 5 * sigma);
    printf("drop_path: keep rate %.5f (expected %.2f, 5 sigma %.5f)\n", rate, 1.0 - p, 5 * sigma);

    /* Rows: a kept sample is scaled as a whole, a dropped one zeroed. */
    enum { RB = 16, D = 33 };
    float rin[RB * D], rout[RB * D], rmask[RB];
    fill_scaled(&rng, rin, RB * D, 3.0f);
    nn_drop_path_forward(rout, rmask, rin, RB, D, 0.5f, 1, &rng);
    long rbad = 0;
    for (int b = 0; b < RB; b++)
        for (int i = 0; i < D; i++) rbad += rout[b * D + i] != rin[b * D + i] * rmask[b];
    CHECK(rbad == 0, "drop_path: %ld elements not in * mask[sample]", rbad);

    /* Eval, p = 0: identity, mask 1, rng untouched. p = 1: all dropped. */
    const struct {
        float p;
        int train;
    } idc[] = {{0.3f, 0}, {0.0f, 1}, {0.0f, 0}};
    for (size_t t = 0; t < sizeof idc / sizeof *idc; t++) {
        sermo_rng before = rng;
        nn_drop_path_forward(rout, rmask, rin, RB, D, idc[t].p, idc[t].train, &rng);
        int ones = 1;
        for (int b = 0; b < RB; b++) ones &= rmask[b] == 1.0f;
        CHECK(memcmp(rout, rin, sizeof rin) == 0 && ones && rng_equal(&before, &rng),
              "drop_path p=%g train=%d: not the identity, or the rng moved", idc[t].p,
              idc[t].train);
    }
    nn_drop_path_forward(rout, rmask, rin, RB, D, 1.0f, 1, &rng);
    int zero = 1;
    for (int i = 0; i < RB * D; i++) zero &= rout[i] == 0.0f;
    CHECK(zero, "drop_path p=1: not all zero");
    free(in), free(out), free(mask);
}

int main(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 777);
    golden_all();
    fd_all(&rng);
    fast_depthwise("dw_k3s1p1", &rng, 2, 8, 13, 11, 3, 1, 1);
    fast_depthwise("dw_k3s2p1", &rng, 2, 8, 13, 11, 3, 2, 1);
    fast_depthwise("dw_k5s1p2", &rng, 3, 5, 12, 9, 5, 1, 2);
    fast_depthwise("dw_k5s2p2", &rng, 3, 5, 12, 9, 5, 2, 2);
    resize_identity(&rng);
    adapool_global(&rng);
    parallel_vs_serial(&rng);
    drop_path_stats();
    return check_report();
}
