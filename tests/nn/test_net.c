/* test_net.c: a whole small network against PyTorch (tests/fixtures/nn/net.safetensors,
 * made by gen_fixtures.py):
 *   conv(1->4, 3x3, pad 1) -> BN -> ReLU -> maxpool 2 -> conv(4->8, 3x3, pad 1)
 *   -> BN -> ReLU -> global avg pool -> dropout(p=0) -> linear(8->5) -> cross-entropy
 * on a batch of 4 inputs (1, 8, 12): the loss and every parameter gradient at
 * step 0, the loss at each of 5 AdamW steps (lr 1e-2, weight decay 1e-2 on
 * conv/linear weights only, default betas) and the parameters plus BN running
 * statistics after them. Run once with the naive ops and once with the fast.
 * Tolerances (|got - ref| <= atol + rtol |ref|): loss 1e-5 + 1e-5 rel,
 * gradients (magnitudes 1e-4 .. 0.2) 1e-6 + 1e-4 rel, parameters and running
 * stats after AdamW 1e-5 + 1e-5 rel. */
#include "check.h"
#include "nn/fixture.c"
#include "nn/nn.h"

enum { B = 4, H = 8, W = 12, C1 = 4, C2 = 8, H2 = 4, W2 = 6, L = 5, STEPS = 5 };

static const char *const param_names[] = {"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                          "bn2.weight",   "bn2.bias",   "fc.weight", "fc.bias"};
#define N_PARAMS 8

/* Activations and their gradients, sized once (no allocation in the step). */
typedef struct net {
    nn_params P;
    nn_adamw opt;
    nn_conv2d conv1, conv2;
    nn_pool2d pool;
    float *ws;
    int fast;
    float rm1[C1], rv1[C1], rm2[C2], rv2[C2];   /* BN running stats */
    float mean1[C1], rstd1[C1], mean2[C2], rstd2[C2];
    float a1[B * C1 * H * W], b1[B * C1 * H * W], r1[B * C1 * H * W]; // (B, C1, H, W)
    float p1[B * C1 * H2 * W2];                                       // (B, C1, H2, W2)
    int32_t am1[B * C1 * H2 * W2];
    float a2[B * C2 * H2 * W2], b2[B * C2 * H2 * W2], r2[B * C2 * H2 * W2]; // (B, C2, H2, W2)
    float g[B * C2], d[B * C2], mask[B * C2];                             // (B, C2)
    float z[B * L];                                                       // (B, L)
    /* gradients of the above, zeroed together before each backward */
    struct {
        float a1[B * C1 * H * W], b1[B * C1 * H * W], r1[B * C1 * H * W];
        float p1[B * C1 * H2 * W2];
        float a2[B * C2 * H2 * W2], b2[B * C2 * H2 * W2], r2[B * C2 * H2 * W2];
        float g[B * C2], d[B * C2], z[B * L];
    } dact;
} net;

static float *P(const net *n, const char *name) { return nn_params_data(&n->P, name); }
static float *G(const net *n, const char *name) { return nn_params_grad(&n->P, name); }

static int net_init(net *n, const fixture *f, int fast) {
    memset(n, 0, sizeof *n);
    n->fast = fast;
    nn_params_init(&n->P);
    const int64_t shapes[N_PARAMS][4] = {{C1, 1, 3, 3}, {C1}, {C1}, {C2, C1, 3, 3},
                                         {C2},          {C2}, {L, C2}, {L}};
    const int32_t ndims[N_PARAMS] = {4, 1, 1, 4, 1, 1, 2, 1};
    for (int i = 0; i < N_PARAMS; i++) {
        /* torch param groups: decay for conv and linear weights, none for BN and biases */
        int decay = strstr(param_names[i], "weight") && !strstr(param_names[i], "bn");
        CHECK(nn_params_add(&n->P, param_names[i], ndims[i], shapes[i], 0, decay, NULL) == i,
              "add %s", param_names[i]);
    }
    CHECK(nn_params_finalise(&n->P, NULL) == SERMO_OK, "finalise");
    for (int i = 0; i < N_PARAMS; i++) {
        char key[128];
        snprintf(key, sizeof key, "init.%s", param_names[i]);
        size_t cnt = 0;
        const float *v = fixture_get(f, key, &cnt, NULL, NULL);
        const nn_param *e = nn_params_find(&n->P, param_names[i]);
        CHECK(v && e && cnt == e->numel, "%s: missing or wrong size", key);
        if (!v || !e || cnt != e->numel) return -1;
        memcpy(n->P.data + e->offset, v, sizeof(float) * cnt);
    }
    for (int c = 0; c < C1; c++) n->rv1[c] = 1.0f; /* torch's initial running stats */
    for (int c = 0; c < C2; c++) n->rv2[c] = 1.0f;
    nn_adamw_init(&n->opt, 1e-2f, 1e-2f);
    CHECK(nn_conv2d_init(&n->conv1, B, 1, H, W, C1, 3, 1, 1, 1, 1, NULL) == SERMO_OK, "conv1");
    CHECK(nn_conv2d_init(&n->conv2, B, C1, H2, W2, C2, 3, 1, 1, 1, 1, NULL) == SERMO_OK, "conv2");
    CHECK(nn_pool2d_init(&n->pool, B, C1, H, W, 2, 2, 0, NULL) == SERMO_OK, "pool");
    size_t w1 = nn_conv2d_workspace_size(&n->conv1, 2), w2 = nn_conv2d_workspace_size(&n->conv2, 2);
    n->ws = calloc(w1 > w2 ? w1 : w2, sizeof(float));
    return n->ws ? 0 : -1;
}

static void conv_fwd(const net *n, float *out, const float *in, const char *w, const nn_conv2d *c) {
    if (n->fast) nn_conv2d_forward_fast(out, in, P(n, w), NULL, c, n->ws, 2);
    else nn_conv2d_forward(out, in, P(n, w), NULL, c);
}

static void conv_bwd(const net *n, float *din, const float *dout, const float *in, const char *w,
                     const nn_conv2d *c) {
    if (n->fast) nn_conv2d_backward_fast(din, G(n, w), NULL, dout, in, P(n, w), c, n->ws, 2);
    else nn_conv2d_backward(din, G(n, w), NULL, dout, in, P(n, w), c);
}

/* One training step's forward and backward; returns the loss. */
static float net_forward_backward(net *n, const float *x, const int32_t *labels) {
    conv_fwd(n, n->a1, x, "conv1.weight", &n->conv1);
    nn_batchnorm2d_forward(n->b1, n->mean1, n->rstd1, n->rm1, n->rv1, n->a1, P(n, "bn1.weight"),
                           P(n, "bn1.bias"), B, C1, H * W, NN_BN_EPS, NN_BN_MOMENTUM, 1);
    nn_relu_forward(n->r1, n->b1, sizeof n->r1 / sizeof(float));
    nn_maxpool2d_forward(n->p1, n->am1, n->r1, &n->pool);
    conv_fwd(n, n->a2, n->p1, "conv2.weight", &n->conv2);
    nn_batchnorm2d_forward(n->b2, n->mean2, n->rstd2, n->rm2, n->rv2, n->a2, P(n, "bn2.weight"),
                           P(n, "bn2.bias"), B, C2, H2 * W2, NN_BN_EPS, NN_BN_MOMENTUM, 1);
    nn_relu_forward(n->r2, n->b2, sizeof n->r2 / sizeof(float));
    nn_global_avgpool_forward(n->g, n->r2, B, C2, H2 * W2);
    sermo_rng rng;
    sermo_rng_seed(&rng, 7);
    nn_dropout_forward(n->d, n->mask, n->g, B * C2, 0.0f, 1, &rng);
    if (n->fast) nn_linear_forward_fast(n->z, n->d, P(n, "fc.weight"), P(n, "fc.bias"), B, C2, L);
    else nn_linear_forward(n->z, n->d, P(n, "fc.weight"), P(n, "fc.bias"), B, C2, L);

    nn_params_zero_grad(&n->P);
    memset(&n->dact, 0, sizeof n->dact);
    float loss = nn_cross_entropy_forward(n->dact.z, n->z, labels, B, L, 0.0f);
    if (n->fast)
        nn_linear_backward_fast(n->dact.d, G(n, "fc.weight"), G(n, "fc.bias"), n->dact.z, n->d,
                                P(n, "fc.weight"), B, C2, L);
    else
        nn_linear_backward(n->dact.d, G(n, "fc.weight"), G(n, "fc.bias"), n->dact.z, n->d,
                           P(n, "fc.weight"), B, C2, L);
    nn_dropout_backward(n->dact.g, n->dact.d, n->mask, B * C2);
    nn_global_avgpool_backward(n->dact.r2, n->dact.g, B, C2, H2 * W2);
    nn_relu_backward(n->dact.b2, n->dact.r2, n->b2, sizeof n->b2 / sizeof(float));
    nn_batchnorm2d_backward(n->dact.a2, G(n, "bn2.weight"), G(n, "bn2.bias"), n->dact.b2, n->mean2,
                            n->rstd2, n->a2, P(n, "bn2.weight"), B, C2, H2 * W2, 1);
    conv_bwd(n, n->dact.p1, n->dact.a2, n->p1, "conv2.weight", &n->conv2);
    nn_maxpool2d_backward(n->dact.r1, n->dact.p1, n->am1, &n->pool);
    nn_relu_backward(n->dact.b1, n->dact.r1, n->b1, sizeof n->b1 / sizeof(float));
    nn_batchnorm2d_backward(n->dact.a1, G(n, "bn1.weight"), G(n, "bn1.bias"), n->dact.b1, n->mean1,
                            n->rstd1, n->a1, P(n, "bn1.weight"), B, C1, H * W, 1);
    conv_bwd(n, NULL, n->dact.a1, x, "conv1.weight", &n->conv1);
    return loss;
}

static void compare_named(const fixture *f, const char *tag, const char *key, const float *got,
                          size_t n, double atol, double rtol) {
    size_t cnt = 0;
    const float *ref = fixture_get(f, key, &cnt, NULL, NULL);
    CHECK(ref && cnt == n, "%s: missing or %zu elements, expected %zu", key, cnt, n);
    if (!ref || cnt != n) return;
    char label[160];
    snprintf(label, sizeof label, "%s.%s", tag, key);
    check_close(label, got, ref, (long)n, atol, rtol);
}

static void run(const fixture *f, int fast) {
    const char *tag = fast ? "fast" : "naive";
    net *n = malloc(sizeof *n);
    if (!n || net_init(n, f, fast) != 0) {
        CHECK(0, "%s: net setup failed", tag);
        free(n);
        return;
    }
    size_t cnt = 0, cnt_l = 0;
    const float *x = fixture_get(f, "x", &cnt, NULL, NULL);
    const float *lab = fixture_get(f, "labels", &cnt_l, NULL, NULL);
    const float *losses_ref = fixture_get(f, "losses", &(size_t){0}, NULL, NULL);
    CHECK(x && cnt == B * H * W && lab && cnt_l == B && losses_ref, "inputs missing");
    if (x && cnt == B * H * W && lab && cnt_l == B && losses_ref) {
        int32_t labels[B];
        for (int i = 0; i < B; i++) labels[i] = (int32_t)lab[i];
        float losses[STEPS];
        for (int step = 0; step < STEPS; step++) {
            losses[step] = net_forward_backward(n, x, labels);
            if (step == 0)
                for (int i = 0; i < N_PARAMS; i++) {
                    char key[128];
                    snprintf(key, sizeof key, "grad.%s", param_names[i]);
                    compare_named(f, tag, key, G(n, param_names[i]),
                                  nn_params_find(&n->P, param_names[i])->numel, 1e-6, 1e-4);
                }
            CHECK(nn_adamw_step(&n->opt, &n->P, NULL) == SERMO_OK, "adamw step");
        }
        compare_named(f, tag, "losses", losses, STEPS, 1e-5, 1e-5);
        for (int i = 0; i < N_PARAMS; i++) {
            char key[128];
            snprintf(key, sizeof key, "after5.%s", param_names[i]);
            compare_named(f, tag, key, P(n, param_names[i]),
                          nn_params_find(&n->P, param_names[i])->numel, 1e-5, 1e-5);
        }
        compare_named(f, tag, "after5.bn1.running_mean", n->rm1, C1, 1e-5, 1e-5);
        compare_named(f, tag, "after5.bn1.running_var", n->rv1, C1, 1e-5, 1e-5);
        compare_named(f, tag, "after5.bn2.running_mean", n->rm2, C2, 1e-5, 1e-5);
        compare_named(f, tag, "after5.bn2.running_var", n->rv2, C2, 1e-5, 1e-5);
    }
    nn_params_free(&n->P);
    free(n->ws);
    free(n);
}

int main(void) {
    char path[4096];
    fixture f;
    snprintf(path, sizeof path, "%s/tests/fixtures/nn/net.safetensors", check_source_dir());
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (f.buf) {
        run(&f, 0);
        run(&f, 1);
        fixture_close(&f);
    }
    return check_report();
}
