/* test_gradcheck.c: every op's backward against central finite differences.
 *
 * For an op y = f(x, w, b) and a fixed random upstream r, the scalar
 * loss(x) = sum(y * r) (summed in double) has gradient backward(dout = r).
 * Numerically: (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps) with the
 * float-rounded step. Ops linear in the perturbed tensor (conv, linear, pools,
 * dropout) have no truncation error, so a large eps (0.5) leaves only float
 * rounding and the tolerance is tight (1e-3 abs + 1e-3 rel). Smooth nonlinear
 * ops (batchnorm, GELU, cross-entropy) use eps 1e-2 or 3e-3 and 2e-3 abs +
 * 1e-2 rel (1e-4 abs for cross-entropy, whose gradients are below 0.25).
 * Piecewise-linear ops (ReLU, max-pool) get distinct grid inputs and a step
 * below the grid spacing, so they are exact too.
 * The harness (loss = sum(y * r), GRAD_PRIOR) is gradcheck_util.h's.
 * (Cross-entropy writes dlogits by contract and starts from nothing.) */
#include "gradcheck_util.h"
#include "nn/nn.h"

static void fill(sermo_rng *rng, float *v, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (float)sermo_rng_uniform(rng);
}

static float *alloc0(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

#define LIN_EPS 0.5f
#define LIN_TOL 1e-3, 1e-3
#define SMOOTH_TOL 2e-3, 1e-2

/* ------------------------------------------------------------------ conv2d */

typedef struct conv_ctx {
    nn_conv2d c;
    float *x, *w, *b, *y, *r;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *k = p;
    nn_conv2d_forward(k->y, k->x, k->w, k->b, &k->c);
    return dot(k->y, k->r, (size_t)k->c.B * k->c.C_out * k->c.OH * k->c.OW);
}

static void check_conv(const char *name, sermo_rng *rng, int B, int Ci, int H, int W, int Co,
                       int K, int stride, int pad, int dil, int groups) {
    conv_ctx k;
    CHECK(nn_conv2d_init(&k.c, B, Ci, H, W, Co, K, stride, pad, dil, groups, NULL) == SERMO_OK,
          "%s: setup", name);
    size_t nx = (size_t)B * Ci * H * W, ny = (size_t)B * Co * k.c.OH * k.c.OW;
    size_t nw = (size_t)Co * (Ci / groups) * K * K;
    k.x = alloc0(nx), k.w = alloc0(nw), k.b = alloc0(Co), k.y = alloc0(ny), k.r = alloc0(ny);
    fill(rng, k.x, nx, -1, 1), fill(rng, k.w, nw, -1, 1), fill(rng, k.b, Co, -1, 1);
    fill(rng, k.r, ny, -1, 1);
    float *ws = alloc0(nn_conv2d_workspace_size(&k.c, 2));
    for (int fast = 0; fast < 2; fast++) {
        float *dx = prior(nx), *dw = prior(nw), *db = prior(Co);
        if (fast) nn_conv2d_backward_fast(dx, dw, db, k.r, k.x, k.w, &k.c, ws, 2);
        else nn_conv2d_backward(dx, dw, db, k.r, k.x, k.w, &k.c);
        char label[128];
        snprintf(label, sizeof label, "%s.%s.dx", name, fast ? "fast" : "naive");
        gradcheck(label, k.x, nx, dx, conv_loss, &k, LIN_EPS, LIN_TOL);
        snprintf(label, sizeof label, "%s.%s.dw", name, fast ? "fast" : "naive");
        gradcheck(label, k.w, nw, dw, conv_loss, &k, LIN_EPS, LIN_TOL);
        snprintf(label, sizeof label, "%s.%s.db", name, fast ? "fast" : "naive");
        gradcheck(label, k.b, Co, db, conv_loss, &k, LIN_EPS, LIN_TOL);
        free(dx), free(dw), free(db);
    }
    free(ws), free(k.x), free(k.w), free(k.b), free(k.y), free(k.r);
}

/* ------------------------------------------------------------------ linear */

typedef struct linear_ctx {
    int N, FI, FO;
    float *x, *w, *b, *y, *r;
} linear_ctx;

static double linear_loss(void *p) {
    linear_ctx *k = p;
    nn_linear_forward(k->y, k->x, k->w, k->b, k->N, k->FI, k->FO);
    return dot(k->y, k->r, (size_t)k->N * k->FO);
}

static void check_linear(sermo_rng *rng) {
    linear_ctx k = {.N = 3, .FI = 5, .FO = 4};
    size_t nx = 15, nw = 20, ny = 12;
    k.x = alloc0(nx), k.w = alloc0(nw), k.b = alloc0(4), k.y = alloc0(ny), k.r = alloc0(ny);
    fill(rng, k.x, nx, -1, 1), fill(rng, k.w, nw, -1, 1), fill(rng, k.b, 4, -1, 1);
    fill(rng, k.r, ny, -1, 1);
    for (int fast = 0; fast < 2; fast++) {
        float *dx = prior(nx), *dw = prior(nw), *db = prior(4);
        if (fast) nn_linear_backward_fast(dx, dw, db, k.r, k.x, k.w, k.N, k.FI, k.FO);
        else nn_linear_backward(dx, dw, db, k.r, k.x, k.w, k.N, k.FI, k.FO);
        gradcheck(fast ? "linear.fast.dx" : "linear.naive.dx", k.x, nx, dx, linear_loss, &k, LIN_EPS, LIN_TOL);
        gradcheck(fast ? "linear.fast.dw" : "linear.naive.dw", k.w, nw, dw, linear_loss, &k, LIN_EPS, LIN_TOL);
        gradcheck(fast ? "linear.fast.db" : "linear.naive.db", k.b, 4, db, linear_loss, &k, LIN_EPS, LIN_TOL);
        free(dx), free(dw), free(db);
    }
    free(k.x), free(k.w), free(k.b), free(k.y), free(k.r);
}

/* ------------------------------------------------------------- batchnorm */

typedef struct bn_ctx {
    int B, C, HW, train;
    float *x, *w, *b, *y, *r, *mean, *rstd, *rm, *rv;
} bn_ctx;

static double bn_loss(void *p) {
    bn_ctx *k = p;
    /* train mode: no running stats, so repeated calls do not drift */
    nn_batchnorm2d_forward(k->y, k->mean, k->rstd, k->train ? NULL : k->rm, k->train ? NULL : k->rv,
                           k->x, k->w, k->b, k->B, k->C, k->HW, NN_BN_EPS, NN_BN_MOMENTUM, k->train);
    return dot(k->y, k->r, (size_t)k->B * k->C * k->HW);
}

static void check_batchnorm(sermo_rng *rng, int train) {
    bn_ctx k = {.B = 3, .C = 2, .HW = 6, .train = train};
    size_t n = 36;
    k.x = alloc0(n), k.y = alloc0(n), k.r = alloc0(n);
    float w[2], b[2], mean[2], rstd[2], rm[2] = {0.1f, -0.2f}, rv[2] = {0.8f, 1.3f};
    k.w = w, k.b = b, k.mean = mean, k.rstd = rstd, k.rm = rm, k.rv = rv;
    fill(rng, k.x, n, -2, 2), fill(rng, w, 2, 0.5f, 1.5f), fill(rng, b, 2, -1, 1);
    fill(rng, k.r, n, -1, 1);
    bn_loss(&k); /* mean/rstd for backward */
    float *dx = prior(n), dw[2] = {GRAD_PRIOR, GRAD_PRIOR}, db[2] = {GRAD_PRIOR, GRAD_PRIOR};
    nn_batchnorm2d_backward(dx, dw, db, k.r, mean, rstd, k.x, w, k.B, k.C, k.HW, train);
    gradcheck(train ? "bn_train.dx" : "bn_eval.dx", k.x, n, dx, bn_loss, &k, 1e-2f, SMOOTH_TOL);
    gradcheck(train ? "bn_train.dw" : "bn_eval.dw", w, 2, dw, bn_loss, &k, 1e-2f, SMOOTH_TOL);
    gradcheck(train ? "bn_train.db" : "bn_eval.db", b, 2, db, bn_loss, &k, 1e-2f, SMOOTH_TOL);
    free(dx), free(k.x), free(k.y), free(k.r);
}

/* ---------------------------------------------- element-wise and pooling */

enum unary_op { OP_RELU, OP_GELU, OP_GELU_TANH, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_STATPOOL, OP_DROPOUT };

typedef struct unary_ctx {
    enum unary_op op;
    nn_pool2d pool; /* pools: (B, C, H, W) -> (B, C, OH, OW); others: nx = ny */
    size_t nx, ny;
    float *x, *y, *r, *mask;
    int32_t *argmax;
} unary_ctx;

static void unary_forward(unary_ctx *k) {
    const nn_pool2d *p = &k->pool;
    sermo_rng rng;
    switch (k->op) {
    case OP_RELU: nn_relu_forward(k->y, k->x, k->nx); break;
    case OP_GELU: nn_gelu_forward(k->y, k->x, k->nx, NN_GELU_APPROX_NONE); break;
    case OP_GELU_TANH: nn_gelu_forward(k->y, k->x, k->nx, NN_GELU_APPROX_TANH); break;
    case OP_MAXPOOL: nn_maxpool2d_forward(k->y, k->argmax, k->x, p); break;
    case OP_AVGPOOL: nn_avgpool2d_forward(k->y, k->x, p); break;
    case OP_GAP: nn_global_avgpool_forward(k->y, k->x, p->B, p->C, p->H * p->W); break;
    case OP_STATPOOL: nn_global_statpool_forward(k->y, k->x, p->B, p->C, p->H * p->W); break;
    case OP_DROPOUT: /* same seed every call: the same mask */
        sermo_rng_seed(&rng, 99);
        nn_dropout_forward(k->y, k->mask, k->x, k->nx, 0.3f, 1, &rng);
        break;
    }
}

static void unary_backward(unary_ctx *k, float *dx) {
    const nn_pool2d *p = &k->pool;
    switch (k->op) {
    case OP_RELU: nn_relu_backward(dx, k->r, k->x, k->nx); break;
    case OP_GELU: nn_gelu_backward(dx, k->r, k->x, k->nx, NN_GELU_APPROX_NONE); break;
    case OP_GELU_TANH: nn_gelu_backward(dx, k->r, k->x, k->nx, NN_GELU_APPROX_TANH); break;
    case OP_MAXPOOL: nn_maxpool2d_backward(dx, k->r, k->argmax, p); break;
    case OP_AVGPOOL: nn_avgpool2d_backward(dx, k->r, p); break;
    case OP_GAP: nn_global_avgpool_backward(dx, k->r, p->B, p->C, p->H * p->W); break;
    case OP_STATPOOL:
        nn_global_statpool_backward(dx, k->r, k->x, k->y, p->B, p->C, p->H * p->W);
        break;
    case OP_DROPOUT: nn_dropout_backward(dx, k->r, k->mask, k->nx); break;
    }
}

static double unary_loss(void *p) {
    unary_ctx *k = p;
    unary_forward(k);
    return dot(k->y, k->r, k->ny);
}

/* Distinct inputs on a shuffled grid of spacing `step`, none at 0: ReLU and
 * max-pool are linear within +-step/2 of each, so a difference with a
 * smaller eps is exact (random floats would collide somewhere). */
static void fill_grid(sermo_rng *rng, float *x, size_t n, float step) {
    int64_t *perm = malloc(sizeof(int64_t) * n);
    for (size_t i = 0; i < n; i++) perm[i] = (int64_t)i;
    sermo_rng_shuffle(rng, perm, (int64_t)n);
    for (size_t i = 0; i < n; i++) x[i] = ((float)perm[i] - (float)n / 2 + 0.5f) * step;
    free(perm);
}

static void check_unary(const char *name, sermo_rng *rng, enum unary_op op, int K, int stride,
                        int pad, int count_include_pad) {
    unary_ctx k = {.op = op};
    CHECK(nn_pool2d_init(&k.pool, 2, 3, 7, 9, K, stride, pad, NULL) == SERMO_OK, "%s: pool", name);
    k.pool.count_include_pad = count_include_pad;
    k.nx = (size_t)2 * 3 * 7 * 9;
    k.ny = op == OP_MAXPOOL || op == OP_AVGPOOL ? (size_t)2 * 3 * k.pool.OH * k.pool.OW
           : op == OP_GAP                       ? (size_t)2 * 3
           : op == OP_STATPOOL                  ? (size_t)2 * 2 * 3
                                                : k.nx;
    k.x = alloc0(k.nx), k.y = alloc0(k.nx), k.r = alloc0(k.ny), k.mask = alloc0(k.nx);
    k.argmax = calloc(k.ny, sizeof(int32_t));
    fill(rng, k.x, k.nx, -3, 3), fill(rng, k.r, k.ny, -1, 1);
    float eps = LIN_EPS;
    double atol = 1e-3, rtol = 1e-3;
    if (op == OP_RELU || op == OP_MAXPOOL) {
        fill_grid(rng, k.x, k.nx, 0.02f);
        eps = 0.005f;
    } else if (op == OP_GELU || op == OP_GELU_TANH) {
        eps = 3e-3f, atol = 2e-3, rtol = 1e-2;
    } else if (op == OP_STATPOOL) { /* the sqrt curves: batch norm's step */
        eps = 1e-2f, atol = 2e-3, rtol = 1e-2;
    }
    unary_forward(&k);
    float *dx = prior(k.nx);
    unary_backward(&k, dx);
    gradcheck(name, k.x, k.nx, dx, unary_loss, &k, eps, atol, rtol);
    free(dx), free(k.x), free(k.y), free(k.r), free(k.mask), free(k.argmax);
}

/* ------------------------------------------- attentive statistics pooling */

typedef struct attn_ctx {
    int B, C, HW, A;
    float *x, *W, *b, *v, *y, *r, *alpha, *u;
} attn_ctx;

static double attn_loss(void *p) {
    attn_ctx *k = p;
    nn_attn_statpool_forward(k->y, k->alpha, k->u, k->x, k->W, k->b, k->v, k->B, k->C, k->HW, k->A);
    return dot(k->y, k->r, (size_t)k->B * 2 * k->C);
}

/* Scores large enough (W, v up to +-1.5) that the softmax is far from
 * uniform, so the gradient through it is not negligible. */
static void check_attn_statpool(sermo_rng *rng) {
    attn_ctx k = {.B = 2, .C = 3, .HW = 7, .A = 4};
    size_t nx = (size_t)k.B * k.C * k.HW, nw = (size_t)k.A * k.C;
    k.x = alloc0(nx), k.W = alloc0(nw), k.b = alloc0(k.A), k.v = alloc0(k.A);
    k.y = alloc0((size_t)k.B * 2 * k.C), k.r = alloc0((size_t)k.B * 2 * k.C);
    k.alpha = alloc0((size_t)k.B * k.HW), k.u = alloc0((size_t)k.B * k.A * k.HW);
    fill(rng, k.x, nx, -2, 2), fill(rng, k.W, nw, -1.5f, 1.5f), fill(rng, k.b, k.A, -0.5f, 0.5f);
    fill(rng, k.v, k.A, -1.5f, 1.5f), fill(rng, k.r, (size_t)k.B * 2 * k.C, -1, 1);
    attn_loss(&k);
    float *dx = prior(nx), *dW = prior(nw), *db = prior(k.A), *dv = prior(k.A);
    float *scratch = alloc0((size_t)(k.A + 1) * k.HW);
    nn_attn_statpool_backward(dx, dW, db, dv, k.r, k.y, k.alpha, k.u, k.x, k.W, k.v, k.B, k.C, k.HW, k.A,
                              scratch);
    gradcheck("attn_statpool.dx", k.x, nx, dx, attn_loss, &k, 1e-2f, SMOOTH_TOL);
    gradcheck("attn_statpool.dW", k.W, nw, dW, attn_loss, &k, 1e-2f, SMOOTH_TOL);
    gradcheck("attn_statpool.db", k.b, k.A, db, attn_loss, &k, 1e-2f, SMOOTH_TOL);
    gradcheck("attn_statpool.dv", k.v, k.A, dv, attn_loss, &k, 1e-2f, SMOOTH_TOL);
    free(dx), free(dW), free(db), free(dv), free(scratch), free(k.x), free(k.W), free(k.b), free(k.v);
    free(k.y), free(k.r), free(k.alpha), free(k.u);
}

/* ---------------------------------------------------------- cross-entropy */

typedef struct ce_ctx {
    int N, L;
    float *z, smoothing;
    int32_t *labels;
} ce_ctx;

static double ce_loss(void *p) {
    ce_ctx *k = p;
    return nn_cross_entropy_forward(NULL, k->z, k->labels, k->N, k->L, k->smoothing);
}

static void check_ce(const char *name, sermo_rng *rng, float smoothing) {
    enum { N = 4, L = 6 };
    float z[N * L], dz[N * L];
    int32_t labels[N] = {0, 5, 2, 2};
    fill(rng, z, N * L, -3, 3);
    ce_ctx k = {.N = N, .L = L, .z = z, .smoothing = smoothing, .labels = labels};
    nn_cross_entropy_forward(dz, z, labels, N, L, smoothing);
    gradcheck_from(name, z, N * L, dz, 0.0f, ce_loss, &k, 1e-2f, 1e-4, 1e-2);
}

int main(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 2024);
    check_conv("conv_s2_p1_g2", &rng, 2, 4, 7, 6, 6, 3, 2, 1, 1, 2);
    check_conv("conv_d2_p2", &rng, 2, 3, 7, 8, 4, 3, 1, 2, 2, 1);
    check_conv("conv_depthwise", &rng, 2, 4, 5, 6, 4, 3, 1, 1, 1, 4);
    check_conv("conv_1x1", &rng, 2, 3, 4, 5, 2, 1, 1, 0, 1, 1);
    check_linear(&rng);
    check_batchnorm(&rng, 1);
    check_batchnorm(&rng, 0);
    check_unary("relu", &rng, OP_RELU, 3, 2, 1, 1);
    check_unary("gelu", &rng, OP_GELU, 3, 2, 1, 1);
    check_unary("gelu_tanh", &rng, OP_GELU_TANH, 3, 2, 1, 1);
    check_unary("maxpool_k3s2p1", &rng, OP_MAXPOOL, 3, 2, 1, 1); /* overlapping windows */
    check_unary("avgpool_k3s2p1", &rng, OP_AVGPOOL, 3, 2, 1, 1);
    check_unary("avgpool_k3s1p1_nopad", &rng, OP_AVGPOOL, 3, 1, 1, 0);
    check_unary("global_avgpool", &rng, OP_GAP, 3, 2, 1, 1);
    check_unary("global_statpool", &rng, OP_STATPOOL, 3, 2, 1, 1);
    check_attn_statpool(&rng);
    check_unary("dropout_p0.3", &rng, OP_DROPOUT, 3, 2, 1, 1);
    check_ce("cross_entropy", &rng, 0.0f);
    check_ce("cross_entropy_ls0.1", &rng, 0.1f);
    return check_report();
}
