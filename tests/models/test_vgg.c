/* test_vgg.c: vgg16 (src/models/vgg.c) against torchvision's vgg16_bn and
 * vgg16 through the shared zoo harness (tests/models/zoo_golden.h; fixtures
 * from tests/models/gen_vgg.py, model.head=linear on a (2, 1, 32, 32)
 * batch), the default (torchvision) classifier's forward and parameter count
 * when memory allows, the table's names, blocks and decay flags, option
 * defaults and rejection, the input adapter, and gradient accumulation. */
#include "zoo_golden.h"

#include <stdio.h>

#define N_CLASSES 4
#define D_FEAT (512 * 7 * 7)

/* torchvision's cfgs["D"] (0 = max-pool), for counting independently of vgg.c. */
static const int cfg_d[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0,
                            512, 512, 512, 0};

static size_t feature_params(int channels, int bn) {
    size_t n = 0;
    int c = channels;
    for (size_t i = 0; i < sizeof cfg_d / sizeof cfg_d[0]; i++) {
        if (!cfg_d[i]) continue;
        n += (size_t)cfg_d[i] * c * 9 + (size_t)cfg_d[i] * (bn ? 3 : 1); /* weight, bias, [BN] */
        c = cfg_d[i];
    }
    return n;
}

static model_config small_config(int batchnorm, int head) {
    return (model_config){.n_classes = N_CLASSES, .in_channels = 1, .n_bins = 32,
                          .max_frames = 32, .max_batch = 2, .threads = 2, .dropout = 0.0f,
                          .batchnorm = batchnorm, .head = head};
}

/* Is entry e a conv bias that a BatchNorm follows (features.<i>.bias with
 * features.<i+1>.running_mean)? BN subtracts the per-channel batch mean, so
 * its gradient is exactly 0 and both sides hold rounding noise (~1e-17 in
 * float64, ~1e-8 in float32). */
static int bias_before_bn(const model *m, const nn_param *e) {
    int i;
    char rm[64];
    if (e->ndim != 1 || !zoo_ends_with(e->name, ".bias") || sscanf(e->name, "features.%d.", &i) != 1)
        return 0;
    snprintf(rm, sizeof rm, "features.%d.running_mean", i + 1);
    return nn_params_find(&m->buffers, rm) != NULL;
}

/* vgg16_bn: the harness's a (train forward, loss, every gradient, running
 * statistics) and b (eval forward) replayed here, because its d (3 AdamW
 * steps at lr 1e-3) is ill-conditioned for this net: the first step moves
 * all 14.7M weights by ~lr, the loss jumps to 16, and torch's own float32
 * run then disagrees with its float64 run on 30-50 % of the conv weights
 * (checked with tests/models/gen_vgg.py's modules), as does ours; and AdamW
 * turns the zero-gradient conv biases' rounding noise into full steps. */
static void golden_bn(const zoo_tol *tol) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/vgg16_bn.safetensors",
             check_source_dir());
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    model_config cfg = small_config(1, MODEL_HEAD_LINEAR);
    sermo_error err = {0};
    model *m = model_create("vgg16", &cfg, 1, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    const float *x1 = zoo_get(&f, "x1", NULL), *l1 = zoo_get(&f, "labels1", NULL);
    if (m && x1 && l1) {
        int32_t y[2] = {(int32_t)l1[0], (int32_t)l1[1]};
        float dl[2 * N_CLASSES];
        zoo_fill(m);
        float loss = zoo_train_pass(m, x1, 2, 32, y, dl);
        const float *ref = zoo_get(&f, "a.logits", NULL);
        check_close("a.logits", m->logits, ref, 2 * N_CLASSES,
                    tol->fwd_scale * zoo_max_abs(ref, 2 * N_CLASSES), tol->fwd_rel);
        check_close("a.loss", &loss, zoo_get(&f, "a.loss", NULL), 1, tol->fwd_scale, tol->fwd_rel);
        int zero_biases = 0;
        for (int32_t i = 0; i < m->params.n; i++) {
            const nn_param *e = &m->params.entries[i];
            const float *g = m->params.grad + e->offset;
            char key[128];
            snprintf(key, sizeof key, "a.grad.%s", e->name);
            if (!bias_before_bn(m, e)) {
                zoo_compare(&f, key, g, e->numel, tol->grad_scale, tol->grad_rel, tol->stats_rel, 0.0);
                continue;
            }
            /* noise far below the gradients of the other tensors (max ~1e-2) */
            double mx = zoo_max_abs(g, e->numel);
            CHECK(mx < 1e-5, "%s: |grad| up to %g, expected ~0 under BN", key, mx);
            zero_biases++;
        }
        CHECK(zero_biases == 13, "%d conv biases before BN", zero_biases);
        zoo_compare_table(&f, "a", &m->buffers, m->buffers.data, 0, tol->fwd_scale, tol->fwd_rel,
                          tol->stats_rel, 0.0);
        CHECK(model_forward(m, x1, 2, 32, 0) == m->logits, "eval forward failed");
        ref = zoo_get(&f, "b.logits", NULL);
        check_close("b.logits", m->logits, ref, 2 * N_CLASSES,
                    tol->fwd_scale * zoo_max_abs(ref, 2 * N_CLASSES), tol->fwd_rel);
    }
    model_free(m);
    fixture_close(&f);
}

static void test_golden(void) {
    /* 13 convs deep in float32 against float64: the scale terms follow cnn9's
     * (9 convs) a little widened; AdamW's first steps are ~lr * sign(grad),
     * so a few near-zero gradients of the plain net flip: 1.1e-5 apart (with
     * oneDNN's convolutions), where a skipped or reversed step is 1e-3. */
    zoo_tol tol = {.fwd_scale = 2e-5, .fwd_rel = 1e-4, .grad_scale = 2e-4, .grad_rel = 1e-3,
                   .step_scale = 1e-3, .step_rel = 1e-4, .stats_rel = 2e-4};
    golden_bn(&tol);
    model_config cfg = small_config(-1, MODEL_HEAD_LINEAR);
    zoo_golden_check("vgg16.safetensors", "vgg16", &cfg, &tol);
}

/* MemAvailable in GiB (0 when unknown). */
static double mem_available_gib(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    double kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
    fclose(f);
    return kib / 1048576.0;
}

/* torchvision's classifier holds 120M parameters: with gradients and AdamW
 * moments (all allocated and zeroed at create) the model takes 2.2 GB, so
 * this part runs only with 5 GB free and says so otherwise. The model is
 * torchvision's vgg16_bn unchanged (model.channels 3, 1000 classes): its
 * documented parameter count, and its forward against torchvision's. */
static void test_default_head(void) {
    double avail = mem_available_gib();
    if (avail < 5.0) {
        fprintf(stderr, "NOTE: default-head checks not run: %.1f GiB available, 5 needed\n", avail);
        return;
    }
    fixture f;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/vgg16_bn.safetensors",
             check_source_dir());
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    model_config cfg = small_config(0, MODEL_HEAD_DEFAULT); /* batchnorm default: on */
    cfg.n_classes = 1000;
    cfg.channels = 3;
    sermo_error err = {0};
    model *m = model_create("vgg16", &cfg, 1, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (m) {
        size_t n = nn_params_count(&m->params);
        CHECK(n == 138365992, "vgg16_bn: %zu parameters, torchvision 138365992", n);
        CHECK(n == feature_params(3, 1) + (size_t)D_FEAT * 4096 + 4096 + 4096 * 4096 + 4096 +
                       4096 * 1000 + 1000,
              "vgg16_bn: %zu parameters against the formula", n);
        const nn_param *e = nn_params_find(&m->params, "classifier.6.weight");
        CHECK(e && e->shape[0] == 1000 && e->shape[1] == 4096 && e->block == -1 && e->decay,
              "classifier.6.weight (1000, 4096), head, decayed");
        zoo_fill(m);
        const float *x1 = zoo_get(&f, "x1", NULL);
        static const char *const keys[2] = {"default.eval_logits", "default.train_logits"};
        for (int train = 1; x1 && train >= 0; train--) { /* train first: it moves the statistics */
            const float *logits = model_forward(m, x1, 2, 32, train);
            const float *ref = zoo_get(&f, keys[train], NULL);
            CHECK(logits == m->logits, "forward (train %d) failed", train);
            if (logits && ref)
                check_close(keys[train], logits, ref, 2 * 1000, 1e-4 * zoo_max_abs(ref, 2 * 1000),
                            1e-4);
        }
    }
    model_free(m);
    fixture_close(&f);
}

static void test_table(void) {
    sermo_error err = {0};
    for (int bn = -1; bn <= 1; bn += 2) {
        model_config cfg = small_config(bn, MODEL_HEAD_LINEAR);
        cfg.max_batch = 1;
        model *m = model_create("vgg16", &cfg, 1, &err);
        CHECK(m != NULL, "model_create: %s", err.msg);
        if (!m) continue;
        /* make_layers' numbering: conv k's index and its block (pools before it) */
        int idx = 0, block = 0, convs = 0, ok = 1;
        for (size_t i = 0; i < sizeof cfg_d / sizeof cfg_d[0]; i++) {
            if (!cfg_d[i]) {
                idx++;
                block++;
                continue;
            }
            char w[64], b[64], bw[64], rm[64];
            snprintf(w, sizeof w, "features.%d.weight", idx);
            snprintf(b, sizeof b, "features.%d.bias", idx);
            snprintf(bw, sizeof bw, "features.%d.weight", idx + 1);
            snprintf(rm, sizeof rm, "features.%d.running_mean", idx + 1);
            const nn_param *ew = nn_params_find(&m->params, w), *eb = nn_params_find(&m->params, b);
            const nn_param *ebn = nn_params_find(&m->params, bw);
            const nn_param *erm = nn_params_find(&m->buffers, rm);
            int good = ew && eb && ew->ndim == 4 && ew->shape[0] == cfg_d[i] && ew->block == block &&
                       ew->decay == 1 && eb->block == block && eb->decay == 0;
            good &= bn > 0 ? ebn && ebn->ndim == 1 && ebn->block == block && !ebn->decay && erm
                           : !ebn && !erm;
            CHECK(good, "bn %d: %s and its bias/BN: shape, block %d, decay", bn, w, block);
            ok &= good;
            idx += bn > 0 ? 3 : 2;
            convs++;
        }
        CHECK(ok && convs == 13 && idx == (bn > 0 ? 44 : 31), "bn %d: layer numbering", bn);
        CHECK(m->params.n == 13 * (bn > 0 ? 4 : 2) + 2 && m->buffers.n == (bn > 0 ? 26 : 0),
              "bn %d: %d params, %d buffers", bn, m->params.n, m->buffers.n);
        const nn_param *e = nn_params_find(&m->params, "classifier.weight");
        CHECK(e && e->shape[0] == N_CLASSES && e->shape[1] == D_FEAT && e->block == -1 && e->decay,
              "classifier.weight (L, 25088), head, decayed");
        CHECK(nn_params_count(&m->params) ==
                  feature_params(1, bn > 0) + (size_t)D_FEAT * N_CLASSES + N_CLASSES,
              "bn %d: %zu parameters", bn, nn_params_count(&m->params));
        model_free(m);
    }
}

static void test_options(void) {
    sermo_error err = {0};
    model_config cfg = small_config(0, MODEL_HEAD_MLP);
    cfg.max_batch = 1;
    model *m = model_create("vgg16", &cfg, 1, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (m) {
        CHECK(m->cfg.batchnorm == 1 && m->cfg.channels == 1 && m->cfg.image_size == -1 &&
                  m->cfg.head == MODEL_HEAD_MLP,
              "resolved options: batchnorm %d channels %d image_size %d head %d",
              m->cfg.batchnorm, m->cfg.channels, m->cfg.image_size, m->cfg.head);
        CHECK(nn_params_find(&m->params, "classifier.8.weight") != NULL, "mlp head entries");
        float x[32 * 31] = {0};
        CHECK(model_forward(m, x, 1, 31, 0) == NULL, "31 frames (< 32) accepted");
    }
    model_free(m);
    cfg = small_config(0, MODEL_HEAD_LINEAR);
    cfg.n_bins = 31;
    m = model_create("vgg16", &cfg, 1, &err);
    CHECK(m == NULL && strstr(err.msg, "32"), "n_bins 31 accepted (%s)", err.msg);
    model_free(m);
    cfg.image_size = 16;
    m = model_create("vgg16", &cfg, 1, &err);
    CHECK(m == NULL, "image_size 16 accepted");
    model_free(m);
    cfg = small_config(0, 7);
    m = model_create("vgg16", &cfg, 1, &err);
    CHECK(m == NULL, "head kind 7 accepted");
    model_free(m);
    const model_spec *s = model_registry_find("vgg16");
    CHECK(s && !s->reconstructs && s->defaults.n_mels == 128 && s->defaults.lr > 0,
          "registry entry and defaults");
}

/* image_size and channels: a 20 x 10 batch with image_size 32 and 3 channels
 * must give what the same weights give on the batch resized by hand (the
 * model then repeats it to 3 channels itself). */
static void test_input_adapter(void) {
    sermo_error err = {0};
    model_config ca = small_config(1, MODEL_HEAD_LINEAR), cb = ca;
    ca.channels = cb.channels = 3;
    ca.image_size = 32;
    ca.n_bins = 20;
    ca.max_frames = 10;
    model *a = model_create("vgg16", &ca, 5, &err), *b = model_create("vgg16", &cb, 5, &err);
    CHECK(a && b, "model_create: %s", err.msg);
    if (a && b) {
        CHECK(nn_params_find(&a->params, "features.0.weight")->shape[1] == 3, "3-channel stem");
        float x[2 * 20 * 10], xr[2 * 32 * 32], la[2 * N_CLASSES];
        sermo_rng r;
        sermo_rng_seed(&r, 3);
        for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
            x[i] = (float)(2.0 * sermo_rng_uniform(&r) - 1.0);
        nn_resize_bilinear_forward(xr, x, 2, 1, 20, 10, 32, 32);
        const float *l = model_forward(a, x, 2, 10, 1);
        CHECK(l != NULL, "forward at 20 x 10 with image_size 32 failed");
        if (l) memcpy(la, l, sizeof la);
        const float *lb = model_forward(b, xr, 2, 32, 1);
        CHECK(l && lb && memcmp(la, lb, sizeof la) == 0, "resize+repeat differs from by hand");
    }
    model_free(a);
    model_free(b);
}

/* backward ACCUMULATES: a second backward without zero-grad doubles it. */
static void test_accumulate(void) {
    sermo_error err = {0};
    model_config cfg = small_config(1, MODEL_HEAD_LINEAR);
    model *m = model_create("vgg16", &cfg, 9, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m) return;
    float x[2 * 32 * 40], dl[2 * N_CLASSES];
    sermo_rng r;
    sermo_rng_seed(&r, 4);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(2.0 * sermo_rng_uniform(&r) - 1.0);
    int32_t y[2] = {0, 2};
    nn_params_zero_grad(&m->params);
    CHECK(model_forward(m, x, 2, 32, 1) != NULL, "forward failed");
    nn_cross_entropy_forward(dl, m->logits, y, 2, N_CLASSES, 0.0f);
    model_backward(m, dl, 2, 32);
    size_t n = m->params.total;
    float *g1 = malloc(sizeof(float) * n);
    memcpy(g1, m->params.grad, sizeof(float) * n);
    model_backward(m, dl, 2, 32);
    double nz = 0;
    for (size_t i = 0; i < n; i++) {
        g1[i] *= 2.0f;
        nz += fabs(g1[i]);
    }
    CHECK(nz > 0, "all gradients zero");
    check_close("2 x grad", m->params.grad, g1, (long)n, 1e-7, 1e-4);
    /* a backward after an eval forward does nothing */
    memcpy(g1, m->params.grad, sizeof(float) * n);
    model_forward(m, x, 2, 32, 0);
    model_backward(m, dl, 2, 32);
    CHECK(memcmp(g1, m->params.grad, sizeof(float) * n) == 0, "backward after eval changed grads");
    free(g1);
    model_free(m);
}

int main(void) {
    test_golden();
    test_table();
    test_options();
    test_input_adapter();
    test_accumulate();
    test_default_head();
    return check_report();
}
