/* test_ops.c: the parameter table, AdamW on problems with closed-form answers,
 * dropout's statistics and reproducibility, cross-entropy stability, known
 * GELU values and argument validation. (Op gradients: test_gradcheck.c;
 * PyTorch agreement: test_golden.c and test_net.c.) */
#include "check.h"
#include "nn/nn.h"

static void test_params(void) {
    nn_params p;
    nn_params_init(&p);
    sermo_error err = {0};
    const int64_t s_w[4] = {3, 2, 3, 3}, s_b[1] = {3}, s_fc[2] = {5, 7};
    CHECK(nn_params_add(&p, "conv.weight", 4, s_w, 0, 1, &err) == 0, "add conv.weight");
    CHECK(nn_params_add(&p, "conv.bias", 1, s_b, 1, 0, &err) == 1, "add conv.bias");
    CHECK(nn_params_add(&p, "fc.weight", 2, s_fc, 0, 1, &err) == 2, "add fc.weight");
    CHECK(nn_params_add(&p, "conv.bias", 1, s_b, 0, 0, &err) == -1, "duplicate name accepted");
    CHECK(err.status == SERMO_ERR_INVALID && strstr(err.msg, "conv.bias"), "message: %s", err.msg);
    const int64_t s5[5] = {1, 1, 1, 1, 1}, s_bad[1] = {0};
    CHECK(nn_params_add(&p, "five", 5, s5, 0, 0, NULL) == -1, "5 dims accepted");
    CHECK(nn_params_add(&p, "empty", 1, s_bad, 0, 0, NULL) == -1, "zero dim accepted");
    CHECK(nn_params_count(&p) == 54 + 3 + 35, "count %zu", nn_params_count(&p));
    CHECK(p.n == 3, "entries %d", p.n);
    CHECK(nn_params_data(&p, "conv.weight") == NULL, "data before finalise");

    CHECK(nn_params_finalise(&p, &err) == SERMO_OK, "finalise: %s", err.msg);
    CHECK(nn_params_add(&p, "late", 1, s_b, 0, 0, NULL) == -1, "add after finalise accepted");
    size_t end = 0;
    for (int32_t i = 0; i < p.n; i++) {
        const nn_param *e = &p.entries[i];
        CHECK(e->offset % 16 == 0, "%s offset %zu not 64-byte aligned", e->name, e->offset);
        CHECK(e->offset >= end, "%s overlaps the previous entry", e->name);
        end = e->offset + e->numel;
    }
    CHECK(end <= p.total, "entries past the buffer");
    const nn_param *fc = nn_params_find(&p, "fc.weight");
    CHECK(fc && fc->ndim == 2 && fc->shape[0] == 5 && fc->shape[1] == 7 && fc->numel == 35 &&
              fc->decay == 1 && fc->group == 0,
          "fc.weight entry");
    CHECK(nn_params_find(&p, "nope") == NULL, "found a missing name");
    CHECK(nn_params_data(&p, "fc.weight") == p.data + fc->offset, "data pointer");
    CHECK(nn_params_grad(&p, "fc.weight") == p.grad + fc->offset, "grad pointer");
    int zero = 1;
    for (size_t i = 0; i < p.total; i++) zero &= p.data[i] == 0 && p.m[i] == 0 && p.v[i] == 0;
    CHECK(zero, "buffers not zeroed at finalise");
    for (size_t i = 0; i < p.total; i++) p.grad[i] = 1.0f;
    nn_params_zero_grad(&p);
    zero = 1;
    for (size_t i = 0; i < p.total; i++) zero &= p.grad[i] == 0;
    CHECK(zero, "zero_grad left values");
    nn_params_free(&p);
}

/* Constant gradient g: Adam's bias-corrected m_hat = g and v_hat = g^2 at every
 * step, so each step moves u = lr g / (|g| + eps) after decaying by
 * c = 1 - lr wd:  p_t = c^t p_0 - u (1 - c^t) / (1 - c)  (= p_0 - t u when wd = 0). */
static void test_adamw_closed_form(void) {
    nn_params p;
    nn_params_init(&p);
    const int64_t s[1] = {4};
    nn_params_add(&p, "w", 1, s, 0, 1, NULL);       /* group 0, decays */
    nn_params_add(&p, "b", 1, s, 0, 0, NULL);       /* group 0, no decay: flag wins */
    nn_params_add(&p, "slow", 1, s, 1, 1, NULL);    /* group 1: other lr and wd */
    CHECK(nn_params_finalise(&p, NULL) == SERMO_OK, "finalise");
    nn_adamw opt;
    nn_adamw_init(&opt, 1e-2f, 0.1f);
    CHECK(nn_adamw_add_group(&opt, 1e-3f, 0.5f) == 1, "add group");
    const float p0[4] = {1.0f, -2.0f, 0.5f, 3.0f}, g[4] = {0.3f, -1.5f, 2e-3f, -0.7f};
    const char *names[3] = {"w", "b", "slow"};
    for (int k = 0; k < 3; k++) memcpy(nn_params_data(&p, names[k]), p0, sizeof p0);
    const int T = 10;
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < 3; k++) memcpy(nn_params_grad(&p, names[k]), g, sizeof g);
        CHECK(nn_adamw_step(&opt, &p, NULL) == SERMO_OK, "step");
    }
    CHECK(opt.step == T, "step count %lld", (long long)opt.step);
    const double lr[3] = {1e-2, 1e-2, 1e-3}, wd[3] = {0.1, 0.0, 0.5};
    for (int k = 0; k < 3; k++) {
        float want[4];
        double c = 1.0 - lr[k] * wd[k], ct = pow(c, T);
        for (int i = 0; i < 4; i++) {
            double u = lr[k] * g[i] / (fabs(g[i]) + 1e-8);
            want[i] = (float)(wd[k] > 0 ? ct * p0[i] - u * (1 - ct) / (1 - c) : p0[i] - T * u);
        }
        char label[64];
        snprintf(label, sizeof label, "adamw_closed_form.%s", names[k]);
        check_close(label, nn_params_data(&p, names[k]), want, 4, 1e-6, 1e-5);
    }
    /* An entry in a group the optimizer lacks is an error, not a silent skip. */
    opt.n_groups = 1;
    sermo_error err = {0};
    CHECK(nn_adamw_step(&opt, &p, &err) == SERMO_ERR_INVALID && strstr(err.msg, "slow"),
          "missing group accepted: %s", err.msg);
    nn_params_free(&p);
}

/* AdamW without decay minimises 0.5 |p - target|^2. */
static void test_adamw_converges(void) {
    nn_params p;
    nn_params_init(&p);
    const int64_t s[1] = {3};
    nn_params_add(&p, "x", 1, s, 0, 1, NULL);
    nn_params_finalise(&p, NULL);
    nn_adamw opt;
    nn_adamw_init(&opt, 5e-2f, 0.0f);
    const float target[3] = {1.5f, -0.5f, 2.0f};
    float *x = nn_params_data(&p, "x"), *gx = nn_params_grad(&p, "x");
    for (int t = 0; t < 2000; t++) {
        for (int i = 0; i < 3; i++) gx[i] = x[i] - target[i];
        nn_adamw_step(&opt, &p, NULL);
    }
    check_close("adamw_quadratic", x, target, 3, 1e-2, 0);
    nn_params_free(&p);
}

static void test_dropout(void) {
    enum { N = 100000 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    float *m1 = malloc(sizeof(float) * N), *m2 = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) x[i] = 1.0f + (float)(i % 7);
    sermo_rng a, b;
    sermo_rng_seed(&a, 5);
    sermo_rng_seed(&b, 5);
    nn_dropout_forward(y, m1, x, N, 0.3f, 1, &a);
    nn_dropout_forward(y, m2, x, N, 0.3f, 1, &b);
    CHECK(memcmp(m1, m2, sizeof(float) * N) == 0, "same seed, different masks");
    long kept = 0;
    int scaled = 1, out_ok = 1;
    for (int i = 0; i < N; i++) {
        kept += m1[i] != 0.0f;
        scaled &= m1[i] == 0.0f || fabsf(m1[i] - 1.0f / 0.7f) < 1e-6f;
        out_ok &= y[i] == x[i] * m1[i];
    }
    CHECK(fabs(kept / (double)N - 0.7) < 0.01, "kept fraction %g", kept / (double)N);
    CHECK(scaled && out_ok, "survivors not scaled by 1/(1-p)");
    sermo_rng_seed(&a, 5);
    sermo_rng snapshot = a;
    nn_dropout_forward(y, m1, x, N, 0.3f, 0, &a);
    CHECK(memcmp(y, x, sizeof(float) * N) == 0 && m1[0] == 1.0f && m1[N - 1] == 1.0f,
          "eval is not the identity");
    CHECK(memcmp(&snapshot, &a, sizeof a) == 0, "eval consumed random numbers");
    nn_dropout_forward(y, m1, x, N, 1.0f, 1, &a);
    int all_zero = 1;
    for (int i = 0; i < N; i++) all_zero &= y[i] == 0.0f;
    CHECK(all_zero, "p = 1 kept something");
    free(x), free(y), free(m1), free(m2);
}

static void test_cross_entropy(void) {
    float z[3] = {2.0f, 2.0f, 2.0f}, dz[3];
    int32_t y0 = 0, y1 = 1;
    float loss = nn_cross_entropy_forward(dz, z, &y0, 1, 3, 0.0f);
    CHECK(fabs(loss - log(3.0)) < 1e-6, "uniform logits: %g, want log 3", loss);
    loss = nn_cross_entropy_forward(dz, z, &y0, 1, 3, 0.2f);
    CHECK(fabs(loss - log(3.0)) < 1e-6, "uniform logits, smoothing: %g", loss);
    float big[3] = {1000.0f, 0.0f, -1000.0f};
    loss = nn_cross_entropy_forward(dz, big, &y0, 1, 3, 0.0f);
    CHECK(isfinite(loss) && fabs(loss) < 1e-6, "large logits, right label: %g", loss);
    loss = nn_cross_entropy_forward(dz, big, &y1, 1, 3, 0.0f);
    CHECK(fabs(loss - 1000.0) < 1e-3, "large logits, wrong label: %g", loss);
    CHECK(isfinite(dz[0]) && fabsf(dz[0] - 1.0f) < 1e-6f && fabsf(dz[1] + 1.0f) < 1e-6f,
          "dlogits %g %g", dz[0], dz[1]);
}

static void test_gelu_values(void) {
    /* 0.5 (1 + erf(1/sqrt 2)) and 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) */
    float x[3] = {1.0f, -1.0f, 0.0f}, y[3];
    const float exact[3] = {0.8413447460685429f, -0.15865525393145707f, 0.0f};
    const float approx[3] = {0.8411919906082768f, -0.15880800939172324f, 0.0f};
    nn_gelu_forward(y, x, 3, NN_GELU_APPROX_NONE);
    check_close("gelu_known", y, exact, 3, 1e-7, 1e-6);
    nn_gelu_forward(y, x, 3, NN_GELU_APPROX_TANH);
    check_close("gelu_tanh_known", y, approx, 3, 1e-7, 1e-6);
}

static void test_validation(void) {
    nn_conv2d c;
    sermo_error err = {0};
    CHECK(nn_conv2d_init(&c, 2, 6, 8, 8, 4, 3, 1, 1, 1, 4, &err) == SERMO_ERR_INVALID,
          "groups not dividing C_in accepted");
    CHECK(nn_conv2d_init(&c, 2, 3, 4, 4, 4, 5, 1, 0, 1, 1, NULL) == SERMO_ERR_INVALID,
          "kernel larger than input accepted");
    CHECK(nn_conv2d_init(&c, 2, 3, 7, 9, 4, 3, 2, 1, 2, 1, NULL) == SERMO_OK, "valid conv");
    /* torch: floor((7 + 2 - 2*2 - 1) / 2) + 1 = 3, floor((9 + 2 - 4 - 1) / 2) + 1 = 4 */
    CHECK(c.OH == 3 && c.OW == 4, "conv output %dx%d", c.OH, c.OW);
    nn_pool2d p;
    CHECK(nn_pool2d_init(&p, 1, 1, 8, 8, 2, 2, 2, NULL) == SERMO_ERR_INVALID,
          "pool padding over half the kernel accepted");
    CHECK(nn_pool2d_init(&p, 1, 1, 7, 9, 3, 2, 1, NULL) == SERMO_OK && p.OH == 4 && p.OW == 5,
          "pool output %dx%d", p.OH, p.OW);
}

int main(void) {
    test_params();
    test_adamw_closed_form();
    test_adamw_converges();
    test_dropout();
    test_cross_entropy();
    test_gelu_values();
    test_validation();
    return check_report();
}
