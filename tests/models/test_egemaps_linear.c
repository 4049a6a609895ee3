/* test_egemaps_linear.c: the egemaps-linear family (src/models/linear.c):
 * its forward against x W^T + b computed here in double, the frame sum
 * (a column padded with zero frames gives the column's logits), parameter
 * names and shapes, finite differences of every weight and bias (linear
 * head) and of each tensor's largest-gradient element (MLP head), gradient
 * accumulation, option rejection and its registry entry. Training through
 * the public path is tests/train/test_egemaps_train.c (it needs the train
 * module, which this module's tests do not link). */
#include "check.h"
#include "models/model.h"

#define L_CLASSES 3
#define D_FEATS 5
#define B_TEST 3
#define MAX_T 8
#define FD_ATOL 1e-4
#define FD_RTOL 1e-2

static model_config test_config(void) {
    return (model_config){.n_classes = L_CLASSES, .in_channels = 1, .n_bins = D_FEATS, .max_frames = MAX_T,
                          .max_batch = 4, .threads = 1, .dropout = 0.0f};
}

static void fill(float *x, size_t n, uint64_t seed) {
    sermo_rng r;
    sermo_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * sermo_rng_uniform(&r) - 1.0);
}

static const nn_param *entry(const model *m, const char *name) {
    for (int32_t i = 0; i < m->params.n; i++)
        if (!strcmp(m->params.entries[i].name, name)) return &m->params.entries[i];
    return NULL;
}

static void test_forward(void) {
    model_config cfg = test_config();
    sermo_error err = {0};
    model *m = model_create("egemaps-linear", &cfg, 3, &err);
    CHECK(m != NULL, "create: %s", err.msg);
    if (!m) return;
    const nn_param *w = entry(m, "fc.weight"), *b = entry(m, "fc.bias");
    CHECK(m->params.n == 2 && w && b, "two tensors fc.weight, fc.bias (%d)", m->params.n);
    if (!w || !b) goto done;
    CHECK(w->ndim == 2 && w->shape[0] == L_CLASSES && w->shape[1] == D_FEATS && b->ndim == 1 &&
              b->shape[0] == L_CLASSES,
          "shapes (L, D), (L)");
    CHECK(m->buffers.n == 0 && m->cfg.head == MODEL_HEAD_LINEAR, "no buffers; the linear head by default");
    /* Init: torch's Linear default, U(+-1/sqrt(D)). */
    const float *W = m->params.data + w->offset, *bias = m->params.data + b->offset;
    int in_bound = 1;
    for (int i = 0; i < L_CLASSES * D_FEATS; i++) in_bound &= fabsf(W[i]) <= 1.0f / sqrtf(D_FEATS);
    CHECK(in_bound, "weights within 1/sqrt(D)");

    float x[B_TEST * D_FEATS], want[B_TEST * L_CLASSES];
    fill(x, sizeof x / sizeof *x, 9);
    for (int n = 0; n < B_TEST; n++)
        for (int l = 0; l < L_CLASSES; l++) {
            double s = bias[l];
            for (int d = 0; d < D_FEATS; d++) s += (double)x[n * D_FEATS + d] * W[l * D_FEATS + d];
            want[n * L_CLASSES + l] = (float)s;
        }
    for (int train = 0; train < 2; train++) { /* dropout 0: train and eval agree */
        const float *got = model_forward(m, x, B_TEST, 1, train);
        CHECK(got != NULL, "forward T = 1");
        if (got) check_close(train ? "logits (train)" : "logits = x W^T + b", got, want, B_TEST * L_CLASSES, 1e-6, 1e-6);
    }
    /* The batcher pads a one-frame clip with zero frames: same logits. */
    float padded[B_TEST * D_FEATS * MAX_T] = {0};
    for (int i = 0; i < B_TEST * D_FEATS; i++) padded[i * MAX_T] = x[i];
    const float *got = model_forward(m, padded, B_TEST, MAX_T, 0);
    CHECK(got != NULL, "forward T = 8");
    if (got) check_close("logits of the zero-padded column", got, want, B_TEST * L_CLASSES, 1e-6, 1e-6);
done:
    model_free(m);
}

static float loss_at(model *m, const float *x, int T, const int32_t *y) {
    const float *logits = model_forward(m, x, B_TEST, T, 1);
    return logits ? nn_cross_entropy_forward(NULL, logits, y, B_TEST, L_CLASSES, 0.0f) : NAN;
}

/* Central differences of the train-mode loss. all: every element of every
 * tensor (else each tensor's largest-gradient element). A second backward
 * must double the gradients (backward accumulates). */
static void gradcheck(model_head_kind head, int all) {
    model_config cfg = test_config();
    cfg.head = head;
    cfg.head_hidden[0] = 6;
    cfg.head_hidden[1] = 4;
    sermo_error err = {0};
    model *m = model_create("egemaps-linear", &cfg, 7, &err);
    CHECK(m != NULL, "create: %s", err.msg);
    if (!m) return;
    const int T = 2;
    float x[B_TEST * D_FEATS * T], dlogits[B_TEST * L_CLASSES];
    fill(x, sizeof x / sizeof *x, 4);
    int32_t y[B_TEST] = {2, 0, 1};
    nn_params_zero_grad(&m->params);
    const float *logits = model_forward(m, x, B_TEST, T, 1);
    nn_cross_entropy_forward(dlogits, logits, y, B_TEST, L_CLASSES, 0.0f);
    model_backward(m, dlogits, B_TEST, T);
    size_t n_all = m->params.total;
    float *g1 = malloc(sizeof(float) * n_all);
    memcpy(g1, m->params.grad, sizeof(float) * n_all);
    int bad = 0, checked = 0;
    for (int32_t i = 0; i < m->params.n; i++) {
        const nn_param *e = &m->params.entries[i];
        float *w = m->params.data + e->offset;
        const float *g = g1 + e->offset;
        size_t best = 0;
        for (size_t k = 1; k < e->numel; k++)
            if (fabsf(g[k]) > fabsf(g[best])) best = k;
        for (size_t k = all ? 0 : best; k < (all ? e->numel : best + 1); k++) {
            const float eps = 1e-3f, w0 = w[k];
            w[k] = w0 + eps;
            double lp = loss_at(m, x, T, y);
            w[k] = w0 - eps;
            double lm = loss_at(m, x, T, y);
            w[k] = w0;
            double fd = (lp - lm) / ((double)(w0 + eps) - (double)(w0 - eps));
            checked++;
            if (!(fabs(fd - g[k]) <= FD_ATOL + FD_RTOL * fabs(g[k])) && bad++ < 5)
                fprintf(stderr, "  %s[%zu]: analytic %.6g, finite differences %.6g\n", e->name, k, g[k], fd);
        }
    }
    CHECK(bad == 0 && checked > 0, "%s head: %d of %d gradient elements off", head == MODEL_HEAD_MLP ? "mlp" : "linear",
          bad, checked);
    /* Accumulation: the same pass again adds the same gradient. */
    logits = model_forward(m, x, B_TEST, T, 1);
    nn_cross_entropy_forward(dlogits, logits, y, B_TEST, L_CLASSES, 0.0f);
    model_backward(m, dlogits, B_TEST, T);
    for (size_t k = 0; k < n_all; k++) g1[k] *= 2.0f;
    check_close("gradients after two backwards", m->params.grad, g1, (long)n_all, 1e-6, 1e-5);
    free(g1);
    model_free(m);
}

static void test_options(void) {
    sermo_error err = {0};
    model_config cfg = test_config();
    cfg.channels = 3;
    model *m = model_create("egemaps-linear", &cfg, 1, &err);
    CHECK(!m && strstr(err.msg, "model.channels"), "channels 3 refused: %s", err.msg);
    model_free(m);
    cfg = test_config();
    cfg.image_size = 224;
    m = model_create("egemaps-linear", &cfg, 1, &err);
    CHECK(!m && strstr(err.msg, "model.image_size"), "image_size refused: %s", err.msg);
    model_free(m);
    cfg = test_config();
    cfg.head = MODEL_HEAD_MLP;
    m = model_create("egemaps-linear", &cfg, 1, &err);
    CHECK(m && m->cfg.head_hidden[0] == 512 && m->cfg.head_hidden[1] == 256 && entry(m, "fc.0.weight") &&
              entry(m, "fc.8.weight") && m->buffers.n == 4,
          "mlp head: fc.0 ... fc.8, default widths recorded: %s", m ? "" : err.msg);
    model_free(m);

    const model_spec *s = model_registry_find("egemaps-linear");
    CHECK(s && s->defaults.feature_kind && !strcmp(s->defaults.feature_kind, "egemaps") && s->defaults.frames >= 1 &&
              s->defaults.lr > 0 && s->defaults.epochs > 0,
          "registered with features.kind egemaps and its training settings");
}

int main(void) {
    test_forward();
    gradcheck(MODEL_HEAD_LINEAR, 1);
    gradcheck(MODEL_HEAD_MLP, 0);
    test_options();
    return check_report();
}
