/* test_resnet.c: resnet18 / resnet34 (src/models/resnet.c) against torchvision
 * through the shared zoo harness (tests/models/zoo_golden.h; fixtures from
 * tests/models/gen_resnet.py), and their tables, options and size rules:
 *   golden     resnet18 at 1 channel (also replayed on a model planned for a
 *              larger batch and longer clips, so a smaller B and T use the
 *              front of the buffers), resnet18 at 3 channels with the resize
 *              adapter and the MLP head (sequences a and b only),
 *              resnet34 at 1 channel, resnet18 with statistics pooling
 *              (model.pool=meanstd) and attentive statistics pooling
 *              (model.pool=attention);
 *   tables     exactly torchvision's tensors (counts stored by the generator),
 *              parameter counts, freezing blocks and decay flags;
 *   options    family defaults resolved into m->cfg, bad options refused;
 *   sizes      T < 32 refused without a resize, any T with one; backward
 *              ignored after a forward it does not match; a large call leaves
 *              no state that changes a smaller one. */
#include "zoo_golden.h"

#define L_CLASSES 5

/* Twenty to thirty-eight conv+BN layers in float32 against float64. a and b
 * are as tight as the other families'; the C gradients' errors equal torch
 * float32's own (measured: conv1.weight 3.8e-6 here, 3.5e-6 in torch float32,
 * of a max 0.95). d's parameters get 10% of each tensor's max: AdamW's first
 * step is lr * sign(g), so the few elements whose gradient is within rounding
 * of 0 move the other way (2 lr = 2e-3 against weights of max ~0.02-0.07), in
 * torch float32 as here (gen_resnet.py); 1 to 3 per 2,000 sampled do. d stays
 * tight where it counts: its losses (fwd_scale, absolute) and, for every
 * sampled tensor, sum |x| and sum x^2 over ALL elements (stats_rel 1e-3; 3
 * steps move them by percents), which a few flips do not change. */
static const zoo_tol resnet_tol = {.fwd_scale = 1e-4, .fwd_rel = 1e-4, .grad_scale = 2e-4,
                                   .grad_rel = 1e-3, .step_scale = 0.1, .step_rel = 1e-3,
                                   .stats_rel = 1e-3};

static model_config c1_config(int max_batch, int n_bins, int max_frames) {
    return (model_config){.n_classes = L_CLASSES, .in_channels = 1, .n_bins = n_bins,
                          .max_frames = max_frames, .max_batch = max_batch, .threads = 2,
                          .dropout = 0.0f, .channels = 1, .drop_path = -1.0f};
}

static model_config c3_mlp_config(void) {
    model_config c = c1_config(8, 20, 28);
    c.channels = 3;
    c.image_size = 32;
    c.head = MODEL_HEAD_MLP;
    c.head_hidden[0] = 16;
    c.head_hidden[1] = 8;
    return c;
}

static void test_golden(void) {
    model_config cfg = c1_config(4, 64, 64);
    zoo_golden_check("resnet18_c1.safetensors", "resnet18", &cfg, &resnet_tol);
    /* The same batch (B 4, T 64) on a model planned for B 6, T 96. */
    cfg = c1_config(6, 64, 96);
    zoo_golden_check("resnet18_c1.safetensors", "resnet18", &cfg, &resnet_tol);
    /* The MLP-head fixture: a and b only, since its d is chaotic
     * (gen_resnet.py), and a floor for its Linear biases before BatchNorm1d
     * (fc.0.bias, fc.4.bias), whose gradient is 0 analytically (BN subtracts
     * the batch mean): ~1e-17 in float64, ~1e-9 in float32. */
    zoo_tol ab = resnet_tol;
    ab.ab_only = 1;
    ab.floor = 1e-7;
    cfg = c3_mlp_config();
    zoo_golden_check("resnet18_c3_mlp.safetensors", "resnet18", &cfg, &ab);
    cfg = c1_config(3, 64, 72);
    zoo_golden_check("resnet34_c1.safetensors", "resnet34", &cfg, &resnet_tol);
    cfg = c1_config(4, 64, 96);
    cfg.pool = MODEL_POOL_MEANSTD;
    zoo_golden_check("resnet18_c1_meanstd.safetensors", "resnet18", &cfg, &resnet_tol);
    cfg.pool = MODEL_POOL_ATTENTION;
    zoo_golden_check("resnet18_c1_attention.safetensors", "resnet18", &cfg, &resnet_tol);
}

/* ------------------------------------------------------------------ tables */

static double stored_count(const fixture *f, const char *key) {
    const float *v = zoo_get(f, key, NULL);
    return v ? (double)v[0] * 65536.0 + (double)v[1] : -1.0;
}

/* The C tables against the torch module's counts stored in the fixture. */
static void check_counts(const char *file, const char *name, const model_config *cfg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/%s", check_source_dir(), file);
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    sermo_error err = {0};
    model *m = model_create(name, cfg, 1, &err);
    CHECK(m != NULL, "%s: %s", file, err.msg);
    const float *ne = zoo_get(&f, "n_entries", NULL);
    if (m && ne) {
        double want = stored_count(&f, "n_params");
        CHECK((double)nn_params_count(&m->params) == want, "%s: %zu parameters, torchvision %.0f",
              file, nn_params_count(&m->params), want);
        CHECK(m->params.n == (int32_t)ne[0] && m->buffers.n == (int32_t)ne[1],
              "%s: %d params and %d buffers, torchvision %.0f and %.0f", file, m->params.n,
              m->buffers.n, (double)ne[0], (double)ne[1]);
    }
    model_free(m);
    fixture_close(&f);
}

static void test_tables(void) {
    model_config c1 = c1_config(1, 64, 64), c3 = c3_mlp_config(), c34 = c1_config(1, 64, 72);
    check_counts("resnet18_c1.safetensors", "resnet18", &c1);
    c1.pool = MODEL_POOL_MEANSTD;
    check_counts("resnet18_c1_meanstd.safetensors", "resnet18", &c1);
    c1.pool = MODEL_POOL_ATTENTION;
    check_counts("resnet18_c1_attention.safetensors", "resnet18", &c1);
    c1.pool = MODEL_POOL_DEFAULT;
    check_counts("resnet18_c3_mlp.safetensors", "resnet18", &c3);
    check_counts("resnet34_c1.safetensors", "resnet34", &c34);

    /* torchvision's resnet18 at 3 channels with a plain Linear(512, L) fc. */
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/resnet18_c3_mlp.safetensors",
             check_source_dir());
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    c3.head = MODEL_HEAD_LINEAR;
    sermo_error err = {0};
    model *m = model_create("resnet18", &c3, 1, &err);
    CHECK(m != NULL, "resnet18 linear: %s", err.msg);
    if (m && f.buf) {
        double want = stored_count(&f, "n_params_linear");
        size_t got = nn_params_count(&m->params);
        CHECK((double)got == want && got == 11689512 - 513000 + 513 * L_CLASSES,
              "resnet18 3 channels: %zu parameters, torchvision %.0f", got, want);
        printf("resnet18 (3 channels, %d classes): %zu parameters\n", L_CLASSES, got);
    }
    if (f.buf) fixture_close(&f);
    if (!m) return;
    /* Freezing blocks (stem 0, layerK K, head -1) and decay (conv/linear weights only). */
    static const struct {
        const char *name;
        int block, decay, table; /* table 0 params, 1 buffers */
    } want[] = {
        {"conv1.weight", 0, 1, 0},          {"bn1.bias", 0, 0, 0},
        {"layer1.1.conv2.weight", 1, 1, 0}, {"layer2.0.downsample.0.weight", 2, 1, 0},
        {"layer3.0.downsample.1.weight", 3, 0, 0}, {"layer4.1.bn2.bias", 4, 0, 0},
        {"fc.weight", -1, 1, 0},            {"fc.bias", -1, 0, 0},
        {"layer4.0.downsample.1.running_var", 4, 0, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const nn_param *e = nn_params_find(want[i].table ? &m->buffers : &m->params, want[i].name);
        CHECK(e && e->block == want[i].block && e->decay == want[i].decay,
              "%s: block %d decay %d expected", want[i].name, want[i].block, want[i].decay);
    }
    const nn_param *e = nn_params_find(&m->params, "conv1.weight");
    CHECK(e && e->shape[1] == 3 && e->shape[2] == 7, "conv1 is torchvision's (64, 3, 7, 7)");
    CHECK(!nn_params_find(&m->params, "layer1.0.downsample.0.weight") &&
              !nn_params_find(&m->params, "layer2.1.downsample.0.weight"),
          "only the first block of layers 2-4 downsamples");
    model_free(m);
}

/* ---------------------------------------------------------------- options */

static void test_options(void) {
    sermo_error err = {0};
    model_config cfg = {.n_classes = 4, .in_channels = 1, .n_bins = 64, .max_frames = 64,
                        .max_batch = 1, .threads = 1};
    model *m = model_create("resnet34", &cfg, 1, &err);
    CHECK(m != NULL, "defaults: %s", err.msg);
    if (m) {
        CHECK(m->cfg.channels == 1 && m->cfg.image_size == -1 && m->cfg.head == MODEL_HEAD_LINEAR &&
                  m->cfg.pool == MODEL_POOL_MEAN,
              "resolved channels %d image_size %d head %d pool %d", m->cfg.channels, m->cfg.image_size,
              m->cfg.head, m->cfg.pool);
        const nn_param *e = nn_params_find(&m->params, "conv1.weight");
        CHECK(e && e->shape[1] == 1, "the default stem takes 1 channel");
    }
    model_free(m);
    cfg.head = MODEL_HEAD_MLP;
    m = model_create("resnet18", &cfg, 1, &err);
    CHECK(m && m->cfg.head_hidden[0] == 512 && m->cfg.head_hidden[1] == 256,
          "mlp head widths resolved to 512, 256");
    CHECK(m && nn_params_find(&m->params, "fc.8.weight") && nn_params_find(&m->buffers, "fc.5.running_mean"),
          "mlp head named fc.0 ... fc.8");
    const nn_param *w0 = m ? nn_params_find(&m->params, "fc.0.weight") : NULL;
    const nn_param *g1 = m ? nn_params_find(&m->params, "fc.1.weight") : NULL;
    CHECK(w0 && g1 && w0->decay && !g1->decay && w0->block == -1 && g1->block == -1,
          "mlp head: Linear weights decay, BN weights do not, all in block -1");
    model_free(m);

    /* Refused: bad channels, too small an image, too few bins without a
     * resize, and options resnet has no use for. */
    model_config bad[7];
    for (int i = 0; i < 7; i++) bad[i] = cfg;
    bad[0].channels = 2;
    bad[1].image_size = 16;
    bad[2].n_bins = 24;
    bad[3].drop_path = 0.1f;
    bad[4].batchnorm = -1;
    bad[5].head = 7;
    bad[6].pool = MODEL_POOL_ATTENTION + 1;
    for (int i = 0; i < 7; i++) {
        err = (sermo_error){0};
        m = model_create("resnet18", &bad[i], 1, &err);
        CHECK(m == NULL && err.status == SERMO_ERR_INVALID && strstr(err.msg, "resnet18"),
              "bad config %d accepted or unnamed: %s", i, err.msg);
        model_free(m);
    }
    /* The statistics pools are resnet's: another family refuses them by name. */
    for (int pool = MODEL_POOL_MEANSTD; pool <= MODEL_POOL_ATTENTION; pool++) {
        model_config other = cfg;
        other.pool = pool;
        m = model_create("cnn3", &other, 1, &err);
        CHECK(m == NULL && err.status == SERMO_ERR_INVALID && strstr(err.msg, "cnn3") &&
                  strstr(err.msg, "model.pool"),
              "cnn3 with model.pool %d accepted or unnamed: %s", pool, err.msg);
        model_free(m);
    }
    /* A resize makes the bins irrelevant. */
    bad[2].image_size = 32;
    m = model_create("resnet18", &bad[2], 1, &err);
    CHECK(m != NULL, "24 bins resized to 32: %s", err.msg);
    model_free(m);
}

/* ------------------------------------------------------------------ sizes */

static void fill_input(float *x, size_t n, uint64_t seed) {
    sermo_rng r;
    sermo_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * sermo_rng_uniform(&r) - 1.0);
}

static int grads_all_zero(const model *m) {
    for (size_t i = 0; i < m->params.total; i++)
        if (m->params.grad[i] != 0.0f) return 0;
    return 1;
}

static void test_sizes(void) {
    enum { B = 4, F = 32, T = 64 };
    model_config cfg = c1_config(B, F, T);
    sermo_error err = {0};
    model *m = model_create("resnet18", &cfg, 7, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m) return;
    static float x[B * F * T], small[B * F * T], dlogits[B * L_CLASSES];
    fill_input(x, sizeof x / sizeof x[0], 1);
    fill_input(small, sizeof small / sizeof small[0], 2);
    CHECK(model_forward(m, x, 2, 31, 1) == NULL, "T 31 < 32 accepted");
    CHECK(model_forward(m, x, 2, 32, 1) != NULL, "T 32 refused");

    /* Eval of (2, 40) is unchanged by a full-size call in between. */
    float before[2 * L_CLASSES];
    const float *lg = model_forward(m, small, 2, 40, 0);
    CHECK(lg != NULL, "eval (2, 40) failed");
    if (lg) memcpy(before, lg, sizeof before);
    CHECK(model_forward(m, x, B, T, 0) != NULL, "eval (4, 64) failed");
    lg = model_forward(m, small, 2, 40, 0);
    CHECK(lg && !memcmp(before, lg, sizeof before), "a larger call changed a smaller one");

    /* Backward only after a train forward of the same B and T. */
    for (int i = 0; i < B * L_CLASSES; i++) dlogits[i] = 0.1f * (float)(i % 3) - 0.1f;
    nn_params_zero_grad(&m->params);
    model_forward(m, x, B, T, 1);
    model_forward(m, x, B, T, 0);
    model_backward(m, dlogits, B, T);
    CHECK(grads_all_zero(m), "backward ran after an eval forward");
    model_forward(m, x, 2, 40, 1);
    model_backward(m, dlogits, B, 40);
    CHECK(grads_all_zero(m), "backward ran for another batch size");
    model_backward(m, dlogits, 2, 40);
    CHECK(!grads_all_zero(m), "backward after its own forward computed nothing");
    model_free(m);

    /* With a resize any T works: the stem sees image_size x image_size. */
    cfg.image_size = 32;
    cfg.channels = 3;
    m = model_create("resnet18", &cfg, 7, &err);
    CHECK(m && model_forward(m, x, 1, 5, 1) != NULL, "T 5 resized to 32 refused");
    model_free(m);
}

/* model.width W: a W-channel stem and stages of W, 2W, 4W, 8W; every
 * parameter count scales with it exactly (a BasicBlock's convs are C x C' x 9,
 * so the whole net is quadratic in W plus the linear BN and head terms). The
 * count at W = 64 is torchvision's 11,689,512 less its 1000-class fc and 2
 * of conv1's 3 input channels, plus a 4-class fc: 11,172,292. cnn3 scales
 * its 32/64/128 the same way; a family without the option refuses it. */
static void test_width(void) {
    sermo_error err = {0};
    model_config cfg = {.n_classes = 4, .in_channels = 1, .n_bins = 64, .max_frames = 64,
                        .max_batch = 2, .threads = 1, .width = 16};
    model *m = model_create("resnet18", &cfg, 1, &err);
    CHECK(m != NULL, "resnet18 width 16: %s", err.msg);
    if (m) {
        const nn_param *stem = nn_params_find(&m->params, "conv1.weight");
        const nn_param *last = nn_params_find(&m->params, "layer4.1.conv2.weight");
        const nn_param *fc = nn_params_find(&m->params, "fc.weight");
        CHECK(stem && stem->shape[0] == 16 && last && last->shape[0] == 128 && last->shape[1] == 128 && fc &&
                  fc->shape[1] == 128,
              "width 16: stem 16, layer4 128, fc 128 inputs");
        int64_t W = 16, n = W * 49 + 2 * W; /* conv1, bn1 */
        for (int k = 0; k < 4; k++) {
            int64_t C = W << k, Cin = k ? C / 2 : W;
            n += Cin * C * 9 + 2 * C + C * C * 9 + 2 * C;     /* block 0: conv1, bn1, conv2, bn2 */
            if (k) n += Cin * C + 2 * C;                      /* its downsample: conv 1x1, BN */
            n += 2 * (C * C * 9 + 2 * C);                     /* block 1 */
        }
        n += 4 * 8 * W + 4; /* fc */
        int64_t got = 0;
        for (int32_t i = 0; i < m->params.n; i++) got += m->params.entries[i].numel;
        CHECK(got == n, "width 16: %lld parameters, expected %lld", (long long)got, (long long)n);
        float x[2 * 64 * 64];
        fill_input(x, sizeof x / sizeof *x, 3);
        CHECK(model_forward(m, x, 2, 64, 1) != NULL, "width 16 runs forward");
    }
    model_free(m);
    cfg.width = 0;
    m = model_create("resnet18", &cfg, 1, &err);
    int64_t n64 = 0;
    for (int32_t i = 0; m && i < m->params.n; i++) n64 += m->params.entries[i].numel;
    CHECK(m && m->cfg.width == 64 && n64 == 11172292, "width 0 is torchvision's 64: %lld parameters",
          (long long)n64);
    model_free(m);
    cfg.width = 8;
    m = model_create("cnn3", &cfg, 1, &err);
    const nn_param *c3 = m ? nn_params_find(&m->params, "features.8.weight") : NULL;
    CHECK(c3 && c3->shape[0] == 32 && c3->shape[1] == 16, "cnn3 width 8: its third conv is 16 -> 32");
    model_free(m);
    m = model_create("vit", &cfg, 1, &err);
    CHECK(!m && strstr(err.msg, "model.width"), "vit refuses model.width: %s", err.msg);
    model_free(m);
}

int main(void) {
    test_golden();
    test_tables();
    test_options();
    test_width();
    test_sizes();
    return check_report();
}
