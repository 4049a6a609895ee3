/* test_vit.c: the vit family (src/models/vit.c) against a hand-written
 * timm-named VisionTransformer in PyTorch, through the shared zoo harness
 * (tests/models/zoo_golden.h; fixtures from tests/models/gen_vit.py):
 *   golden     size tiny at image_size 32, 3 channels (also replayed on a
 *              model planned for a larger batch and longer clips); size tiny
 *              at image_size 48, 1 channel; linear head (the MLP head only
 *              runs: see gen_vit.py);
 *   tables     exactly the torch module's tensors (counts stored by the
 *              generator), tiny/small/base parameter counts at 224 equal to
 *              timm's vit_*_patch16_224 with the head swapped, names, shapes,
 *              freezing blocks and decay flags;
 *   init       timm's: normal(.02) Linear weights, pos_embed and cls_token,
 *              zero biases, LayerNorm 1 / 0;
 *   options    family defaults resolved into m->cfg, bad options refused
 *              (unknown size, image_size -1 or too small, channels 2, ...);
 *   drop_path  changes train-mode outputs, leaves eval outputs bit-identical;
 *              backward ignored after a forward it does not match. */
#include "zoo_golden.h"

#define L_CLASSES 5

/* Twelve pre-norm blocks in float32 against float64: the residual stream
 * grows with depth and the filled weights have unit variance per output, so
 * errors scale with each tensor's magnitude. */
static const zoo_tol vit_tol = {.fwd_scale = 1e-4, .fwd_rel = 1e-4, .grad_scale = 2e-4,
                                .grad_rel = 1e-3, .step_scale = 1e-4, .step_rel = 1e-4,
                                .stats_rel = 1e-3};
/* vit_tiny_c1 samples three MLP weights whose gradients are ~1e-8 (6 orders
 * below their tensors' largest, the size of AdamW's eps), where float32's
 * rounding of the gradient decides how far m / (sqrt(v) + eps) moves them:
 * up to 2.1e-4 apart after 3 steps of lr 1e-3 (seen with the vectorised
 * activations in the Debug build; which element it hits is rounding luck).
 * The bound allows ~3.2e-4; a parameter left out of the update or stepped
 * the wrong way would still be off by ~1e-3. */
static const zoo_tol vit_c1_tol = {.fwd_scale = 1e-4, .fwd_rel = 1e-4, .grad_scale = 2e-4,
                                   .grad_rel = 1e-3, .step_scale = 5e-3, .step_rel = 1e-4,
                                   .stats_rel = 1e-3};

static model_config base_config(int max_batch, int n_bins, int max_frames) {
    model_config c = {.n_classes = L_CLASSES, .in_channels = 1, .n_bins = n_bins,
                      .max_frames = max_frames, .max_batch = max_batch, .threads = 2,
                      .dropout = 0.0f, .channels = 3, .image_size = 32, .drop_path = -1.0f};
    strcpy(c.size, "tiny");
    return c;
}

static model_config c1_config(void) {
    model_config c = base_config(3, 40, 20);
    c.channels = 1;
    c.image_size = 48;
    return c;
}

static void test_golden(void) {
    model_config cfg = base_config(2, 20, 28);
    zoo_golden_check("vit_tiny_c3.safetensors", "vit", &cfg, &vit_tol);
    /* The same batch (B 2, T 28) on a model planned for B 4, T 60. */
    cfg = base_config(4, 20, 60);
    zoo_golden_check("vit_tiny_c3.safetensors", "vit", &cfg, &vit_tol);
    cfg = c1_config();
    zoo_golden_check("vit_tiny_c1.safetensors", "vit", &cfg, &vit_c1_tol);
}

/* ------------------------------------------------------------------ tables */

static double stored_count(const fixture *f, const char *key) {
    const float *v = zoo_get(f, key, NULL);
    return v ? (double)v[0] * 65536.0 + (double)v[1] : -1.0;
}

static void check_counts(const char *file, const model_config *cfg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/%s", check_source_dir(), file);
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    sermo_error err = {0};
    model *m = model_create("vit", cfg, 1, &err);
    CHECK(m != NULL, "%s: %s", file, err.msg);
    const float *ne = zoo_get(&f, "n_entries", NULL);
    if (m && ne) {
        double want = stored_count(&f, "n_params");
        CHECK((double)nn_params_count(&m->params) == want, "%s: %zu parameters, torch %.0f", file,
              nn_params_count(&m->params), want);
        CHECK(m->params.n == (int32_t)ne[0] && m->buffers.n == (int32_t)ne[1],
              "%s: %d params and %d buffers, torch %.0f and %.0f", file, m->params.n,
              m->buffers.n, (double)ne[0], (double)ne[1]);
    }
    model_free(m);
    fixture_close(&f);
}

/* The sizes at the family defaults (224, 3 channels, linear head) against
 * the generator's counts of timm's layout. */
static void check_size_counts(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/vit_tiny_c3.safetensors",
             check_source_dir());
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    static const char *const sizes[] = {"tiny", "small", "base"};
    static const int embed[] = {192, 384, 768};
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "n_params_%s", sizes[i]);
        double want = stored_count(&f, key);
        model_config cfg = base_config(1, 64, 100);
        cfg.image_size = 0;
        cfg.channels = 0;
        strcpy(cfg.size, sizes[i]);
        sermo_error err = {0};
        model *m = model_create("vit", &cfg, 1, &err);
        CHECK(m != NULL, "size %s: %s", sizes[i], err.msg);
        if (!m) continue;
        CHECK((double)nn_params_count(&m->params) == want, "size %s: %zu parameters, timm %.0f",
              sizes[i], nn_params_count(&m->params), want);
        const nn_param *pe = nn_params_find(&m->params, "pos_embed");
        CHECK(pe && pe->ndim == 3 && pe->shape[1] == 197 && pe->shape[2] == embed[i],
              "size %s: pos_embed shape", sizes[i]);
        fprintf(stderr, "vit %s: %zu parameters\n", sizes[i], nn_params_count(&m->params));
        model_free(m);
    }
    fixture_close(&f);
}

/* Names, shapes, freezing blocks and decay flags of a few entries. */
static void check_entries(void) {
    model_config cfg = base_config(2, 20, 28);
    sermo_error err = {0};
    model *m = model_create("vit", &cfg, 1, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    static const struct {
        const char *name;
        int32_t block, decay, ndim;
        int64_t shape[4];
    } want[] = {
        {"cls_token", 0, 0, 3, {1, 1, 192}},
        {"pos_embed", 0, 0, 3, {1, 5, 192}},
        {"patch_embed.proj.weight", 0, 1, 4, {192, 3, 16, 16}},
        {"patch_embed.proj.bias", 0, 0, 1, {192}},
        {"blocks.0.norm1.weight", 1, 0, 1, {192}},
        {"blocks.0.attn.qkv.weight", 1, 1, 2, {576, 192}},
        {"blocks.0.attn.qkv.bias", 1, 0, 1, {576}},
        {"blocks.5.attn.proj.weight", 6, 1, 2, {192, 192}},
        {"blocks.11.norm2.bias", 12, 0, 1, {192}},
        {"blocks.11.mlp.fc1.weight", 12, 1, 2, {768, 192}},
        {"blocks.11.mlp.fc2.weight", 12, 1, 2, {192, 768}},
        {"norm.weight", 13, 0, 1, {192}},
        {"head.weight", -1, 1, 2, {L_CLASSES, 192}},
        {"head.bias", -1, 0, 1, {L_CLASSES}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const nn_param *e = nn_params_find(&m->params, want[i].name);
        CHECK(e != NULL, "no entry %s", want[i].name);
        if (!e) continue;
        int same = e->ndim == want[i].ndim;
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == want[i].shape[d];
        CHECK(same, "%s: shape differs", e->name);
        CHECK(e->block == want[i].block && e->decay == want[i].decay,
              "%s: block %d decay %d, expected %d %d", e->name, e->block, e->decay, want[i].block,
              want[i].decay);
    }
    CHECK(m->params.n == 4 + 12 * 12 + 2 + 2, "%d entries", m->params.n);
    /* Decay exactly on conv and Linear weights. */
    for (int32_t i = 0; i < m->params.n; i++) {
        const nn_param *e = &m->params.entries[i];
        int is_weight =
            e->ndim >= 2 && strcmp(e->name, "cls_token") && strcmp(e->name, "pos_embed");
        CHECK(e->decay == is_weight, "%s: decay %d", e->name, e->decay);
    }
    model_free(m);
}

/* -------------------------------------------------------------------- init */

static void moments(const float *x, size_t n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}

static void test_init(void) {
    model_config cfg = base_config(1, 20, 28);
    sermo_error err = {0};
    model *m = model_create("vit", &cfg, 7, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    static const char *const normal[] = {"pos_embed", "cls_token", "blocks.3.attn.qkv.weight",
                                         "blocks.7.mlp.fc2.weight", "head.weight"};
    for (int i = 0; i < 5; i++) {
        const nn_param *e = nn_params_find(&m->params, normal[i]);
        if (!e) continue;
        double mu, sd;
        moments(m->params.data + e->offset, e->numel, &mu, &sd);
        /* cls_token has only 192 draws: sd's standard error is 5%. */
        CHECK(fabs(sd - 0.02) < 0.004 && fabs(mu) < 0.004, "%s: mean %g sd %g, want 0, .02",
              normal[i], mu, sd);
    }
    static const struct {
        const char *name;
        float v;
    } fixed[] = {{"blocks.0.attn.qkv.bias", 0}, {"blocks.4.mlp.fc1.bias", 0},
                 {"blocks.2.norm1.weight", 1}, {"blocks.2.norm2.bias", 0},
                 {"norm.weight", 1},           {"head.bias", 0}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        const nn_param *e = nn_params_find(&m->params, fixed[i].name);
        int ok = e != NULL;
        for (size_t k = 0; ok && k < e->numel; k++)
            ok = m->params.data[e->offset + k] == fixed[i].v;
        CHECK(ok, "%s is not all %g", fixed[i].name, (double)fixed[i].v);
    }
    /* torch's Conv2d default on patch_embed: U(+-1/sqrt(3 * 256)). */
    const nn_param *pw = nn_params_find(&m->params, "patch_embed.proj.weight");
    if (pw) {
        double mu, sd, bound = 1.0 / sqrt(3.0 * 256.0);
        moments(m->params.data + pw->offset, pw->numel, &mu, &sd);
        CHECK(fabs(sd - bound / sqrt(3.0)) < 0.05 * bound, "patch_embed sd %g", sd);
    }
    model_free(m);
}

/* ----------------------------------------------------------------- options */

static void test_defaults(void) {
    model_config cfg = base_config(1, 20, 28);
    cfg.size[0] = '\0';
    cfg.image_size = 0;
    cfg.channels = 0;
    cfg.drop_path = 0.0f;
    cfg.head = MODEL_HEAD_DEFAULT;
    sermo_error err = {0};
    model *m = model_create("vit", &cfg, 1, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (m) {
        CHECK(!strcmp(m->cfg.size, "tiny") && m->cfg.image_size == 224 && m->cfg.channels == 3 &&
                  m->cfg.drop_path == 0.1f && m->cfg.head == MODEL_HEAD_LINEAR,
              "resolved size %s image_size %d channels %d drop_path %g head %d", m->cfg.size,
              m->cfg.image_size, m->cfg.channels, (double)m->cfg.drop_path, m->cfg.head);
        /* Any F x T goes through the resize. */
        float x[20 * 3];
        for (int i = 0; i < 60; i++) x[i] = (float)i / 60.0f;
        CHECK(model_forward(m, x, 1, 3, 0) != NULL, "a 3-frame clip must be accepted");
    }
    model_free(m);
    /* The MLP head (layers.h): widths resolved, its tensors added, a train
     * step runs (its golden values are not compared: see gen_vit.py). */
    cfg = c1_config();
    cfg.head = MODEL_HEAD_MLP;
    m = model_create("vit", &cfg, 1, &err);
    CHECK(m && m->cfg.head_hidden[0] == 512 && m->cfg.head_hidden[1] == 256,
          "mlp head widths not resolved");
    if (m) {
        CHECK(m->params.n == 4 + 12 * 12 + 2 + 10 && m->buffers.n == 4 &&
                  nn_params_find(&m->params, "head.4.weight") &&
                  nn_params_find(&m->buffers, "head.5.running_var"),
              "mlp head tables: %d params, %d buffers", m->params.n, m->buffers.n);
        static float x[3 * 40 * 20];
        for (int i = 0; i < 3 * 40 * 20; i++) x[i] = cosf(0.11f * (float)i);
        float dl[3 * L_CLASSES];
        for (int i = 0; i < 3 * L_CLASSES; i++) dl[i] = 0.1f * (float)(i % 7) - 0.3f;
        nn_params_zero_grad(&m->params);
        CHECK(model_forward(m, x, 3, 20, 1) != NULL, "mlp head forward failed");
        model_backward(m, dl, 3, 20);
        const float *gq = nn_params_grad(&m->params, "blocks.0.attn.qkv.weight");
        double g = 0;
        for (size_t i = 0; gq && i < 576 * 192; i++) g += fabs((double)gq[i]);
        CHECK(g > 0.0 && isfinite(g), "mlp head: blocks.0 gradient %g", g);
    }
    model_free(m);
    const model_spec *spec = model_registry_find("vit");
    CHECK(spec && spec->defaults.lr > 0.0f && spec->defaults.lr < 1e-3f,
          "vit must recommend a lower lr than the CNNs");
}

static void expect_refused(const model_config *cfg, const char *what, const char *needle) {
    sermo_error err = {0};
    model *m = model_create("vit", cfg, 1, &err);
    CHECK(m == NULL, "%s accepted", what);
    CHECK(strstr(err.msg, "vit") && strstr(err.msg, needle), "%s: message '%s' lacks '%s'", what,
          err.msg, needle);
    model_free(m);
}

static void test_refusals(void) {
    model_config cfg = base_config(1, 20, 28);
    strcpy(cfg.size, "huge");
    expect_refused(&cfg, "size huge", "huge");
    strcpy(cfg.size, "Tiny");
    expect_refused(&cfg, "size Tiny", "model.size");
    cfg = base_config(1, 20, 28);
    cfg.image_size = -1;
    expect_refused(&cfg, "image_size -1", "image_size");
    cfg.image_size = 8;
    expect_refused(&cfg, "image_size 8", "image_size");
    cfg = base_config(1, 20, 28);
    cfg.channels = 2;
    expect_refused(&cfg, "channels 2", "channels");
    cfg = base_config(1, 20, 28);
    cfg.drop_path = 1.0f;
    expect_refused(&cfg, "drop_path 1", "drop_path");
    cfg.drop_path = NAN;
    expect_refused(&cfg, "drop_path NaN", "drop_path");
    cfg = base_config(1, 20, 28);
    cfg.head = 7;
    expect_refused(&cfg, "head 7", "head");
}

/* --------------------------------------------------------------- drop_path */

static void test_drop_path(void) {
    enum { B = 4, F = 20, T = 28 };
    model_config on = base_config(B, F, T), off = on;
    on.drop_path = 0.5f;
    sermo_error err = {0};
    model *a = model_create("vit", &on, 3, &err), *b = model_create("vit", &off, 3, &err);
    CHECK(a && b, "%s", err.msg);
    if (!a || !b) {
        model_free(a);
        model_free(b);
        return;
    }
    CHECK(!memcmp(a->params.data, b->params.data, sizeof(float) * a->params.total),
          "drop_path must not change the initial weights");
    static float x[B * F * T];
    for (int i = 0; i < B * F * T; i++) x[i] = sinf(0.37f * (float)i);
    size_t nl = (size_t)B * L_CLASSES;
    float la[B * L_CLASSES], lb[B * L_CLASSES];
    CHECK(model_forward(a, x, B, T, 0) && model_forward(b, x, B, T, 0), "eval forward failed");
    memcpy(la, a->logits, sizeof la);
    memcpy(lb, b->logits, sizeof lb);
    CHECK(!memcmp(la, lb, sizeof la), "eval outputs differ with drop_path");
    CHECK(model_forward(a, x, B, T, 1) && model_forward(b, x, B, T, 1), "train forward failed");
    CHECK(!memcmp(b->logits, lb, sizeof lb), "train without drop_path or dropout must equal eval");
    double diff = 0;
    for (size_t i = 0; i < nl; i++) diff += fabs((double)a->logits[i] - lb[i]);
    CHECK(diff > 1e-3, "drop_path 0.5 left the train outputs unchanged (%g)", diff);

    /* Backward after an eval forward, or with another B, leaves the grads alone. */
    float dl[B * L_CLASSES];
    for (size_t i = 0; i < nl; i++) dl[i] = (float)i - 9.5f;
    nn_params_zero_grad(&a->params);
    model_forward(a, x, B, T, 0);
    model_backward(a, dl, B, T);
    model_forward(a, x, B, T, 1);
    model_backward(a, dl, B - 1, T);
    double g = 0;
    for (size_t i = 0; i < a->params.total; i++) g += fabs((double)a->params.grad[i]);
    CHECK(g == 0.0, "backward after a mismatched forward changed the gradients (%g)", g);
    model_backward(a, dl, B, T);
    for (size_t i = 0; i < a->params.total; i++) g += fabs((double)a->params.grad[i]);
    CHECK(g > 0.0 && isfinite(g), "backward after the matching forward gave %g", g);
    model_free(a);
    model_free(b);
}

int main(void) {
    test_golden();
    model_config cfg = base_config(2, 20, 28);
    check_counts("vit_tiny_c3.safetensors", &cfg);
    cfg = c1_config();
    check_counts("vit_tiny_c1.safetensors", &cfg);
    check_size_counts();
    check_entries();
    test_init();
    test_defaults();
    test_refusals();
    test_drop_path();
    return check_report();
}
