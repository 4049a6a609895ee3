/* test_cnn3.c: the cnn3 model against PyTorch (tests/fixtures/models/cnn3.safetensors,
 * made by tests/models/gen_fixtures.py, references in float64), a finite-difference
 * check of the whole model's gradient, determinism, dropout, init statistics, the
 * registry, and config/size rejection.
 *
 * Golden sequence (dropout 0), batch 3 on a model sized for 4 x 24 frames:
 *   a  train forward x1 (T = 24), CE loss, backward: logits, loss, every
 *      parameter gradient, running statistics
 *   b  eval forward x1: logits (uses the running statistics)
 *   c  train forward x2 (T = 20, same model), CE, backward: the same checks
 *   d  3 AdamW steps (lr 1e-3, wd 1e-2): losses, every parameter, running stats
 * Tensors over 4096 elements are compared at a strided sample plus
 * [sum |x|, sum x^2] over all elements (see gen_fixtures.py).
 * Tolerances, |got - ref| <= atol + rtol |ref|: */
#include "check.h"
#include "models/model.h"
#include "nn/fixture.c"

#define FWD_ATOL 1e-5   /* logits, running statistics */
#define FWD_RTOL 1e-4
#define LOSS_ATOL 1e-6
#define LOSS_RTOL 1e-5
#define GRAD_ATOL 2e-5  /* gradients: BN backward subtracts means, so abs matters */
#define GRAD_RTOL 1e-3
#define STATS_RTOL 1e-4 /* sum |x|, sum x^2 of sampled tensors */
#define ADAMW_ATOL 2e-5 /* parameters and running stats after 3 steps of ~1e-3 each */
#define ADAMW_RTOL 1e-4
#define FD_ATOL 1e-4    /* finite differences, float32 forward */
#define FD_RTOL 2e-2

#define L_CLASSES 4
#define N_BINS 16
#define B_TEST 3

static const fixture *fx;

static model_config test_config(void) {
    return (model_config){.n_classes = L_CLASSES, .in_channels = 1, .n_bins = N_BINS,
                          .max_frames = 24, .max_batch = 4, .threads = 2, .dropout = 0.0f};
}

static const float *fget(const char *key, size_t *n) {
    size_t k = 0;
    const float *p = fixture_get(fx, key, &k, NULL, NULL);
    CHECK(p != NULL, "fixture tensor %s missing", key);
    if (n) *n = k;
    return p;
}

/* Whole or strided comparison of got (n) with "<key>" (see the header). */
static void compare(const char *key, const float *got, size_t n, double atol, double rtol) {
    char k2[300];
    snprintf(k2, sizeof k2, "%s.stride", key);
    size_t ns = 0, nr = 0;
    const float *sp = fixture_get(fx, k2, &ns, NULL, NULL);
    size_t stride = sp && ns == 1 ? (size_t)sp[0] : 1;
    const float *ref = fget(key, &nr);
    if (!ref) return;
    size_t want = (n + stride - 1) / stride;
    CHECK(nr == want, "%s: %zu reference values, expected %zu (n %zu stride %zu)", key, nr, want, n,
          stride);
    if (nr != want) return;
    float *sample = malloc(sizeof(float) * (want ? want : 1));
    for (size_t i = 0; i < want; i++) sample[i] = got[i * stride];
    check_close(key, sample, ref, (long)want, atol, rtol);
    free(sample);
    if (stride > 1) {
        snprintf(k2, sizeof k2, "%s.stats", key);
        const float *st = fget(k2, NULL);
        if (!st) return;
        double sa = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            sa += fabs((double)got[i]);
            s2 += (double)got[i] * got[i];
        }
        float stats[2] = {(float)sa, (float)s2};
        check_close(k2, stats, st, 2, 0.0, STATS_RTOL);
    }
}

static void compare_table(const char *prefix, const nn_params *p, const float *buf, int grads,
                          double atol, double rtol) {
    char key[256];
    for (int32_t i = 0; i < p->n; i++) {
        const nn_param *e = &p->entries[i];
        snprintf(key, sizeof key, grads ? "%s.grad.%s" : "%s.%s", prefix, e->name);
        compare(key, buf + e->offset, e->numel, atol, rtol);
    }
}

/* Loads init.<name> into every entry of a table; returns how many were loaded. */
static int load_table(nn_params *p) {
    char key[256];
    int loaded = 0;
    for (int32_t i = 0; i < p->n; i++) {
        const nn_param *e = &p->entries[i];
        snprintf(key, sizeof key, "init.%s", e->name);
        size_t n = 0;
        int64_t shape[8];
        int ndim = 0;
        const float *src = fixture_get(fx, key, &n, shape, &ndim);
        CHECK(src != NULL, "no PyTorch tensor for C parameter %s", e->name);
        if (!src) continue;
        int same = ndim == e->ndim && n == e->numel;
        for (int d = 0; same && d < ndim; d++) same = shape[d] == e->shape[d];
        CHECK(same, "%s: PyTorch shape differs from the C table's", e->name);
        if (!same) continue;
        memcpy(p->data + e->offset, src, sizeof(float) * n);
        loaded++;
    }
    return loaded;
}

static int32_t *labels_of(const char *key, int32_t *out) {
    const float *l = fget(key, NULL);
    for (int i = 0; i < B_TEST; i++) out[i] = l ? (int32_t)l[i] : 0;
    return out;
}

/* Zero grad, train forward, CE, backward; returns the loss (NAN on failure). */
static float train_pass(model *m, const float *x, int T, const int32_t *labels, float *dlogits) {
    nn_params_zero_grad(&m->params);
    const float *logits = model_forward(m, x, B_TEST, T, 1);
    if (!logits) return NAN;
    float loss = nn_cross_entropy_forward(dlogits, logits, labels, B_TEST, L_CLASSES, 0.0f);
    model_backward(m, dlogits, B_TEST, T);
    return loss;
}

static void test_golden(void) {
    fixture f;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/cnn3.safetensors", check_source_dir());
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    fx = &f;
    model_config cfg = test_config();
    sermo_error err = {0};
    model *m = model_create("cnn3", &cfg, 1, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m || !f.buf) {
        model_free(m);
        if (f.buf) fixture_close(&f);
        return;
    }
    /* Every C tensor has a PyTorch twin of the same shape, and no PyTorch tensor
     * is left over: 4 per conv block + 2 classifier + 2 running stats per BN. */
    int loaded = load_table(&m->params) + load_table(&m->buffers);
    CHECK(loaded == 3 * 3 + 2 + 3 * 2, "loaded %d tensors", loaded);
    CHECK(m->params.n == 11 && m->buffers.n == 6, "tables hold %d params and %d buffers",
          m->params.n, m->buffers.n);

    const float *x1 = fget("x1", NULL), *x2 = fget("x2", NULL);
    int32_t y1[B_TEST], y2[B_TEST];
    labels_of("labels1", y1);
    labels_of("labels2", y2);
    float dlogits[B_TEST * L_CLASSES];

    /* a: train forward + backward, T = 24 */
    float loss = train_pass(m, x1, 24, y1, dlogits);
    check_close("a.logits", m->logits, fget("a.logits", NULL), B_TEST * L_CLASSES, FWD_ATOL,
                FWD_RTOL);
    check_close("a.loss", &loss, fget("a.loss", NULL), 1, LOSS_ATOL, LOSS_RTOL);
    compare_table("a", &m->params, m->params.grad, 1, GRAD_ATOL, GRAD_RTOL);
    compare_table("a", &m->buffers, m->buffers.data, 0, FWD_ATOL, FWD_RTOL);

    /* b: eval forward with the running statistics */
    const float *logits = model_forward(m, x1, B_TEST, 24, 0);
    CHECK(logits == m->logits, "eval forward failed");
    check_close("b.logits", m->logits, fget("b.logits", NULL), B_TEST * L_CLASSES, FWD_ATOL,
                FWD_RTOL);

    /* c: the same model on a shorter batch */
    loss = train_pass(m, x2, 20, y2, dlogits);
    check_close("c.logits", m->logits, fget("c.logits", NULL), B_TEST * L_CLASSES, FWD_ATOL,
                FWD_RTOL);
    check_close("c.loss", &loss, fget("c.loss", NULL), 1, LOSS_ATOL, LOSS_RTOL);
    compare_table("c", &m->params, m->params.grad, 1, GRAD_ATOL, GRAD_RTOL);
    compare_table("c", &m->buffers, m->buffers.data, 0, FWD_ATOL, FWD_RTOL);

    /* d: 3 AdamW steps; decay comes from the table's flags */
    nn_adamw opt;
    nn_adamw_init(&opt, 1e-3f, 1e-2f);
    float losses[3];
    for (int s = 0; s < 3; s++) {
        losses[s] = s == 1 ? train_pass(m, x2, 20, y2, dlogits) : train_pass(m, x1, 24, y1, dlogits);
        CHECK(nn_adamw_step(&opt, &m->params, &err) == SERMO_OK, "adamw: %s", err.msg);
    }
    check_close("d.losses", losses, fget("d.losses", NULL), 3, LOSS_ATOL, LOSS_RTOL);
    compare_table("d", &m->params, m->params.data, 0, ADAMW_ATOL, ADAMW_RTOL);
    compare_table("d", &m->buffers, m->buffers.data, 0, ADAMW_ATOL, ADAMW_RTOL);
    model_free(m);
    fixture_close(&f);
    fx = NULL;
}

/* ------------------------------------------------------ finite differences */

static void fill_input(float *x, size_t n, uint64_t seed) {
    sermo_rng r;
    sermo_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * sermo_rng_uniform(&r) - 1.0);
}

static float loss_at(model *m, const float *x, int T, const int32_t *y) {
    const float *logits = model_forward(m, x, B_TEST, T, 1);
    return logits ? nn_cross_entropy_forward(NULL, logits, y, B_TEST, L_CLASSES, 0.0f) : NAN;
}

/* Central differences of the train-mode loss (batch statistics: the loss is a
 * smooth function of every parameter away from ReLU/max-pool switches) at the
 * largest-gradient element of each tensor and at one fixed other element.
 * A large step may cross a ReLU or max-pool switch and a small one drowns in
 * float32 rounding of the loss, so four steps are tried and the closest must
 * agree: a wrong gradient (scaled, signed or misplaced) misses at every step. */
static const float fd_eps[] = {1e-2f, 3e-3f, 1e-3f, 3e-4f};
#define FD_N_EPS 4
static void test_finite_differences(void) {
    model_config cfg = test_config();
    sermo_error err = {0};
    model *m = model_create("cnn3", &cfg, 11, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m) return;
    int T = 20;
    float x[B_TEST * N_BINS * 20];
    fill_input(x, sizeof x / sizeof x[0], 5);
    int32_t y[B_TEST] = {1, 0, 3};
    float dlogits[B_TEST * L_CLASSES];
    train_pass(m, x, T, y, dlogits);
    int checked = 0;
    for (int32_t i = 0; i < m->params.n; i++) {
        const nn_param *e = &m->params.entries[i];
        float *w = m->params.data + e->offset;
        const float *g = m->params.grad + e->offset;
        size_t best = 0;
        for (size_t k = 1; k < e->numel; k++)
            if (fabsf(g[k]) > fabsf(g[best])) best = k;
        size_t picks[2] = {best, (e->numel * 7) / 13};
        for (int pi = 0; pi < 2; pi++) {
            size_t k = picks[pi];
            double err_best = INFINITY, fd_best = 0, fds[FD_N_EPS];
            for (int ei = 0; ei < FD_N_EPS; ei++) {
                float w0 = w[k], eps = fd_eps[ei];
                w[k] = w0 + eps;
                double lp = loss_at(m, x, T, y);
                w[k] = w0 - eps;
                double lm = loss_at(m, x, T, y);
                w[k] = w0;
                double h = (double)(w0 + eps) - (double)(w0 - eps); /* the step as rounded */
                fds[ei] = (lp - lm) / h;
                double d = fabs(fds[ei] - g[k]);
                if (d < err_best) {
                    err_best = d;
                    fd_best = fds[ei];
                }
            }
            int ok = err_best <= FD_ATOL + FD_RTOL * fabs(g[k]);
            CHECK(ok, "%s[%zu]: analytic %.6g, finite differences %.6g %.6g %.6g %.6g (eps 1e-2 .. 3e-4)",
                  e->name, k, g[k], fds[0], fds[1], fds[2], fds[3]);
            fprintf(stderr, "fd %-24s[%6zu] analytic %+.6e fd %+.6e |diff| %.2e\n", e->name, k,
                    g[k], fd_best, err_best);
            checked++;
        }
    }
    CHECK(checked == 2 * 11, "checked %d elements", checked);
    model_free(m);
}

/* ------------------------------------------- init, determinism and dropout */

static void test_init(void) {
    model_config cfg = test_config();
    cfg.n_classes = 7;
    cfg.threads = 0; /* all of OpenMP's */
    sermo_error err = {0};
    model *m = model_create("cnn3", &cfg, 42, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m) return;
    static const struct {
        const char *name;
        double fan_in;
    } uni[] = {{"features.0.weight", 9},       {"features.4.weight", 32 * 9},
               {"features.8.weight", 64 * 9},  {"classifier.weight", 128},
               {"classifier.bias", 128}};
    for (size_t t = 0; t < sizeof uni / sizeof uni[0]; t++) {
        const nn_param *e = nn_params_find(&m->params, uni[t].name);
        CHECK(e != NULL, "%s missing", uni[t].name);
        if (!e) continue;
        const float *w = m->params.data + e->offset;
        double bound = 1.0 / sqrt(uni[t].fan_in), mx = 0, sum = 0;
        for (size_t k = 0; k < e->numel; k++) {
            mx = fmax(mx, fabs(w[k]));
            sum += w[k];
        }
        double mean = sum / (double)e->numel;
        /* U(-b, b): max |w| near b; the mean's sd is b / sqrt(3 n) */
        CHECK(mx <= bound && mx > 0.8 * bound, "%s: max |w| %g, bound %g", uni[t].name, mx, bound);
        CHECK(fabs(mean) < 5 * bound / sqrt(3.0 * (double)e->numel), "%s: mean %g", uni[t].name,
              mean);
    }
    for (int i = 1; i <= 9; i += 4) {
        char n1[64], n2[64], n3[64], n4[64];
        snprintf(n1, sizeof n1, "features.%d.weight", i);
        snprintf(n2, sizeof n2, "features.%d.bias", i);
        snprintf(n3, sizeof n3, "features.%d.running_mean", i);
        snprintf(n4, sizeof n4, "features.%d.running_var", i);
        const nn_param *e = nn_params_find(&m->params, n1);
        const float *w = nn_params_data(&m->params, n1), *b = nn_params_data(&m->params, n2);
        const float *rm = nn_params_data(&m->buffers, n3), *rv = nn_params_data(&m->buffers, n4);
        CHECK(e && w && b && rm && rv, "BN %d tensors missing", i);
        if (!(e && w && b && rm && rv)) continue;
        int ok = 1;
        for (size_t k = 0; k < e->numel; k++)
            ok &= w[k] == 1.0f && b[k] == 0.0f && rm[k] == 0.0f && rv[k] == 1.0f;
        CHECK(ok, "BN %d: weight 1, bias 0, running mean 0, var 1", i);
        CHECK(e->decay == 0 && nn_params_find(&m->params, n2)->decay == 0, "BN %d decays", i);
    }
    CHECK(nn_params_find(&m->params, "features.0.weight")->decay == 1 &&
              nn_params_find(&m->params, "classifier.weight")->decay == 1 &&
              nn_params_find(&m->params, "classifier.bias")->decay == 0,
          "decay flags: conv/classifier weights only");
    CHECK(nn_params_find(&m->params, "features.0.bias") == NULL, "convs have no bias");
    CHECK(nn_params_count(&m->params) == 32 * 9 + 64 * 32 * 9 + 128 * 64 * 9 +
                                            2 * (32 + 64 + 128) + 7 * 128 + 7,
          "parameter count %zu", nn_params_count(&m->params));
    model_free(m);
}

static int same_floats(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) == 0;
}

static void test_determinism_and_dropout(void) {
    model_config cfg = test_config();
    sermo_error err = {0};
    float x[B_TEST * N_BINS * 24];
    fill_input(x, sizeof x / sizeof x[0], 9);
    size_t nl = B_TEST * L_CLASSES;
    model *a = model_create("cnn3", &cfg, 7, &err), *b = model_create("cnn3", &cfg, 7, &err);
    model *c = model_create("cnn3", &cfg, 8, &err);
    cfg.dropout = 0.5f;
    model *d1 = model_create("cnn3", &cfg, 7, &err), *d2 = model_create("cnn3", &cfg, 7, &err);
    CHECK(a && b && c && d1 && d2, "model_create: %s", err.msg);
    if (a && b && c && d1 && d2) {
        CHECK(same_floats(a->params.data, b->params.data, a->params.total) &&
                  same_floats(a->buffers.data, b->buffers.data, a->buffers.total),
              "same seed, different parameters");
        CHECK(!same_floats(a->params.data, c->params.data, a->params.total),
              "seeds 7 and 8 give the same parameters");
        CHECK(same_floats(a->params.data, d1->params.data, a->params.total),
              "dropout changed the initialisation");
        float la[B_TEST * L_CLASSES], lb[B_TEST * L_CLASSES];
        for (int train = 0; train <= 1; train++) {
            memcpy(la, model_forward(a, x, B_TEST, 24, train), sizeof la);
            memcpy(lb, model_forward(b, x, B_TEST, 24, train), sizeof lb);
            CHECK(same_floats(la, lb, nl), "same seed, different logits (train %d)", train);
        }
        /* Dropout: identity in eval, a seeded mask in training. */
        float e0[B_TEST * L_CLASSES], e1[B_TEST * L_CLASSES], t1[B_TEST * L_CLASSES],
            t2[B_TEST * L_CLASSES], t1b[B_TEST * L_CLASSES];
        /* a ran a train forward above (running stats moved), d1 none */
        memcpy(a->buffers.data, d1->buffers.data, sizeof(float) * a->buffers.total);
        memcpy(e0, model_forward(a, x, B_TEST, 24, 0), sizeof e0);
        memcpy(e1, model_forward(d1, x, B_TEST, 24, 0), sizeof e1);
        CHECK(same_floats(e0, e1, nl), "eval logits depend on the dropout rate");
        memcpy(t1, model_forward(d1, x, B_TEST, 24, 1), sizeof t1);
        memcpy(t2, model_forward(d1, x, B_TEST, 24, 1), sizeof t2);
        memcpy(t1b, model_forward(d2, x, B_TEST, 24, 1), sizeof t1b);
        memcpy(la, model_forward(a, x, B_TEST, 24, 1), sizeof la);
        CHECK(!same_floats(t1, la, nl), "dropout 0.5 changed no train logit");
        CHECK(!same_floats(t1, t2, nl), "two train forwards drew the same dropout mask");
        CHECK(same_floats(t1, t1b, nl), "the same seed gave different dropout masks");
        /* Dropout's gradient: a masked feature gives the classifier no gradient. */
        int32_t y[B_TEST] = {0, 1, 2};
        float dl[B_TEST * L_CLASSES];
        nn_params_zero_grad(&d1->params);
        nn_cross_entropy_forward(dl, model_forward(d1, x, B_TEST, 24, 1), y, B_TEST, L_CLASSES,
                                 0.0f);
        model_backward(d1, dl, B_TEST, 24);
        const float *gw = nn_params_grad(&d1->params, "classifier.weight");
        /* the mask is the state's; recover it through the gradient: a column j
         * of classifier.weight's gradient is sum_b dl[b] * drop[b, j], zero when
         * feature j is dropped in every sample. With p = 0.5, B = 3 and 128
         * features, about 16 such columns are expected. */
        int zero_cols = 0;
        for (int j = 0; j < 128; j++) {
            int z = 1;
            for (int o = 0; o < L_CLASSES; o++) z &= gw[o * 128 + j] == 0.0f;
            zero_cols += z;
        }
        CHECK(zero_cols > 2 && zero_cols < 40, "%d all-dropped features", zero_cols);
    }
    model_free(a);
    model_free(b);
    model_free(c);
    model_free(d1);
    model_free(d2);
}

/* -------------------------------------------------- registry and rejection */

static void expect_reject(const char *name, const model_config *cfg, const char *needle) {
    sermo_error err = {0};
    model *m = model_create(name, cfg, 1, &err);
    CHECK(m == NULL, "model_create accepted a bad config (%s)", needle);
    CHECK(err.status == SERMO_ERR_INVALID && strstr(err.msg, needle),
          "status %d, message '%s', expected it to mention '%s'", (int)err.status, err.msg, needle);
    model_free(m);
}

static void test_registry_and_rejection(void) {
    CHECK(model_registry_count() >= 1, "empty registry");
    CHECK(model_registry_at(0) && strcmp(model_registry_at(0)->name, "cnn3") == 0, "at(0)");
    CHECK(model_registry_at(-1) == NULL && model_registry_at(model_registry_count()) == NULL,
          "at() out of range");
    CHECK(model_registry_find("cnn3") == model_registry_at(0), "find(cnn3)");
    CHECK(model_registry_find("cnn") == NULL && model_registry_find(NULL) == NULL, "find(bad)");

    model_config good = test_config(), c;
    expect_reject("cnn99", &good, "unknown model 'cnn99'");
    expect_reject(NULL, &good, "required");
    expect_reject("cnn3", NULL, "required");
#define BAD(field, value, needle) (c = good, c.field = value, expect_reject("cnn3", &c, needle))
    BAD(n_classes, 1, "n_classes");
    BAD(n_classes, 100000, "n_classes");
    BAD(in_channels, 0, "in_channels");
    BAD(n_bins, 0, "n_bins");
    BAD(n_bins, 7, "n_bins 7");          /* three max-pools need 8 */
    BAD(max_frames, 5, "max_frames 5");
    BAD(max_frames, 0, "max_frames");
    BAD(max_batch, 0, "max_batch");
    BAD(threads, -1, "threads");
    BAD(dropout, 1.0f, "dropout");
    BAD(dropout, -0.1f, "dropout");
    BAD(dropout, NAN, "dropout");
    c = good;
    c.max_batch = 65536;
    c.n_bins = 4096;
    c.max_frames = 1000000;
    expect_reject("cnn3", &c, "too large");
#undef BAD

    /* Sizes out of range are refused at forward; backward needs a matching
     * train forward. */
    sermo_error err = {0};
    model *m = model_create("cnn3", &good, 1, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m) return;
    float x[5 * N_BINS * 25];
    fill_input(x, sizeof x / sizeof x[0], 3);
    CHECK(model_forward(m, x, 2, 7, 1) == NULL, "T 7 < 8 accepted");
    CHECK(model_forward(m, x, 2, 25, 1) == NULL, "T > max_frames accepted");
    CHECK(model_forward(m, x, 5, 20, 1) == NULL, "B > max_batch accepted");
    CHECK(model_forward(m, x, 0, 20, 1) == NULL, "B 0 accepted");
    CHECK(model_forward(m, x, 1, 8, 1) == m->logits, "B 1, T 8 refused");
    CHECK(model_forward(m, x, 4, 24, 0) == m->logits, "B 4, T 24 refused");
    float dl[4 * L_CLASSES];
    for (int i = 0; i < 4 * L_CLASSES; i++) dl[i] = 0.1f * (float)(i % 5) - 0.2f;
    nn_params_zero_grad(&m->params);
    model_backward(m, dl, 4, 24); /* after an eval forward: ignored */
    int all_zero = 1;
    for (size_t i = 0; i < m->params.total; i++) all_zero &= m->params.grad[i] == 0.0f;
    CHECK(all_zero, "backward after an eval forward wrote gradients");
    CHECK(model_forward(m, x, 4, 24, 1) == m->logits, "train forward refused");
    model_backward(m, dl, 4, 20); /* T differs from the forward's: ignored */
    for (size_t i = 0; i < m->params.total; i++) all_zero &= m->params.grad[i] == 0.0f;
    CHECK(all_zero, "backward with another T wrote gradients");
    model_backward(m, dl, 4, 24);
    all_zero = 1;
    for (size_t i = 0; i < m->params.total; i++) all_zero &= m->params.grad[i] == 0.0f;
    CHECK(!all_zero, "backward after a train forward wrote no gradient");
    model_free(m);
}

int main(void) {
    test_registry_and_rejection();
    test_init();
    test_determinism_and_dropout();
    test_golden();
    test_finite_differences();
    return check_report();
}
