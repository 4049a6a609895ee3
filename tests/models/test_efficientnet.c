/* test_efficientnet.c: efficientnet_b2 (src/models/efficientnet.c).
 *
 *   golden      against torchvision's efficientnet_b2(num_classes=4) with dropout 0
 *               and stochastic depth off (tests/models/gen_efficientnet.py through
 *               the shared harness tests/models/zoo_golden.h): train forward,
 *               every gradient and running statistic, eval forward (the AdamW
 *               steps are left out, see eff_tol), on a (2, 1, 64, 64) batch
 *               repeated to 3 channels;
 *   counts      parameter count and number of tensors equal torchvision's;
 *   options     family defaults resolved and written back into m->cfg, freezing
 *               blocks and decay flags, bad options rejected, the MLP head;
 *   drop path   in training a residual block's output equals its input exactly
 *               for the samples whose branch was dropped, and at about the rate
 *               torchvision's schedule gives; a dropped branch gets no gradient;
 *               eval ignores drop_path;
 *   image_size  the resize adapter equals resizing the input first;
 *   short T     below the total stride 32 the forward is refused.
 *
 * The drop-path checks read the family's private state: this file compiles
 * efficientnet.c a second time with its spec renamed, only for the
 * eff_state/eff_block layout; the models themselves come from model_create. */
#include "models/zoo_golden.h"

#define model_spec_efficientnet_b2 effnet_test_private_spec
#include "models/efficientnet.c"
#undef model_spec_efficientnet_b2

#define NAME "efficientnet_b2"
#define L_CLASSES 4

/* resnet's tolerances, plus:
 *   floor   the project BNs' biases (features.s.j.block.k.1.bias, but
 *           features.1.0's) have gradients that are 0 in exact arithmetic:
 *           every path from them ends in a train-mode BatchNorm, which removes
 *           per-channel constants. torch's float64 gives ~1e-17, float32 (C or
 *           torch) rounding noise up to ~5e-7 against gradients of up to ~10.
 *   ab_only the 3 AdamW steps are chaotic here: torch float64 with 1e-6
 *           relative noise on its gradients moves tensors by up to 4% of their
 *           largest value after 3 steps. */
static const zoo_tol eff_tol = {.fwd_scale = 1e-4, .fwd_rel = 1e-4, .grad_scale = 2e-4,
                                .grad_rel = 1e-3, .step_scale = 1e-4, .step_rel = 1e-4,
                                .stats_rel = 1e-3, .floor = 1e-5, .ab_only = 1};

/* One thread but in the golden run: with one OpenMP thread per core and the
 * machine busy, the many small parallel regions of this network spend most
 * of their time in barrier spins. */
static model_config base_config(int max_batch) {
    return (model_config){.n_classes = L_CLASSES, .in_channels = 1, .n_bins = 32,
                          .max_frames = 32, .max_batch = max_batch, .threads = 1,
                          .dropout = 0.0f, .drop_path = -1.0f};
}

static model *make(const model_config *cfg) {
    sermo_error err = {0};
    model *m = model_create(NAME, cfg, 7, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    return m;
}

static void fill_input(float *x, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * zoo_uniform(seed, i) - 1.0);
}

static void test_golden(void) {
    model_config cfg = base_config(2);
    cfg.n_bins = 64;
    cfg.max_frames = 64;
    cfg.threads = 2;
    zoo_golden_check("efficientnet_b2.safetensors", NAME, &cfg, &eff_tol);

    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/efficientnet_b2.safetensors",
             check_source_dir());
    fixture f;
    if (fixture_open(&f, path) != 0) return; /* zoo_golden_check reported it */
    const float *np = zoo_get(&f, "n_params", NULL), *ne = zoo_get(&f, "n_entries", NULL);
    model *m = make(&cfg);
    if (m && np && ne) {
        size_t want = (size_t)np[0] * 65536 + (size_t)np[1];
        CHECK(nn_params_count(&m->params) == want, "parameters %zu, torchvision %zu",
              nn_params_count(&m->params), want);
        CHECK(m->params.n == (int32_t)ne[0] && m->buffers.n == (int32_t)ne[1],
              "tensors %d + %d buffers, torchvision %g + %g", m->params.n, m->buffers.n,
              (double)ne[0], (double)ne[1]);
        fprintf(stderr, "efficientnet_b2: %zu parameters (torchvision %zu)\n",
                nn_params_count(&m->params), want);
    }
    model_free(m);
    fixture_close(&f);
}

static int block_of(const char *name) {
    int k;
    if (!strncmp(name, "classifier", 10)) return -1;
    return sscanf(name, "features.%d", &k) == 1 ? k : -99;
}

static void test_options(void) {
    model_config cfg = base_config(2);
    cfg.drop_path = 0.0f;
    model *m = make(&cfg);
    if (!m) return;
    CHECK(m->cfg.channels == 3 && m->cfg.image_size == -1 && m->cfg.head == MODEL_HEAD_LINEAR,
          "resolved channels %d image_size %d head %d", m->cfg.channels, m->cfg.image_size,
          m->cfg.head);
    CHECK(m->cfg.drop_path == 0.2f, "resolved drop_path %g", (double)m->cfg.drop_path);
    int bad = 0;
    for (int t = 0; t < 2; t++) {
        const nn_params *p = t ? &m->buffers : &m->params;
        for (int32_t i = 0; i < p->n; i++) {
            const nn_param *e = &p->entries[i];
            int want_decay = t == 0 && e->ndim >= 2;
            if (e->block != block_of(e->name) || e->decay != want_decay) {
                if (bad++ < 5)
                    fprintf(stderr, "  %s: block %d decay %d\n", e->name, e->block, e->decay);
            }
        }
    }
    CHECK(bad == 0, "%d entries with a wrong freezing block or decay flag", bad);
    const nn_param *e = nn_params_find(&m->params, "features.7.1.block.2.fc1.weight");
    CHECK(e && e->shape[0] == 88 && e->shape[1] == 2112 && e->block == 7,
          "features.7.1 SE fc1: 352 // 4 = 88 squeeze channels of 2112");
    e = nn_params_find(&m->params, "classifier.1.weight");
    CHECK(e && e->shape[0] == L_CLASSES && e->shape[1] == 1408, "classifier.1.weight (4, 1408)");
    model_free(m);

    /* MLP head (torch's Sequential names) on a 1-channel stem; a train step runs. */
    cfg.channels = 1;
    cfg.head = MODEL_HEAD_MLP;
    cfg.head_hidden[0] = 16;
    cfg.head_hidden[1] = 8;
    m = make(&cfg);
    if (m) {
        CHECK(nn_params_find(&m->params, "classifier.0.weight") &&
                  nn_params_find(&m->params, "classifier.8.bias") &&
                  nn_params_find(&m->buffers, "classifier.5.running_var") &&
                  nn_params_find(&m->params, "classifier.1.weight")->ndim == 1,
              "mlp head names");
        e = nn_params_find(&m->params, "features.0.0.weight");
        CHECK(e && e->shape[1] == 1, "channels 1: stem weight (32, 1, 3, 3)");
        float x[2 * 32 * 32], d[2 * L_CLASSES];
        int32_t y[2] = {0, 3};
        fill_input(x, 2 * 32 * 32, 5);
        const float *lg = model_forward(m, x, 2, 32, 1);
        CHECK(lg != NULL, "mlp forward");
        if (lg) {
            nn_cross_entropy_forward(d, lg, y, 2, L_CLASSES, 0.0f);
            model_backward(m, d, 2, 32);
            const float *g = nn_params_grad(&m->params, "features.0.0.weight");
            CHECK(g && zoo_max_abs(g, 9) > 0, "mlp head: gradient reaches the stem");
        }
    }
    model_free(m);

    struct { const char *what; model_config cfg; } rejects[] = {
        {"channels 2", base_config(2)}, {"drop_path 1.5", base_config(2)},
        {"image_size 16", base_config(2)}, {"n_bins 16", base_config(2)},
        {"in_channels 2", base_config(2)}, {"head 9", base_config(2)},
    };
    rejects[0].cfg.channels = 2;
    rejects[1].cfg.drop_path = 1.5f;
    rejects[2].cfg.image_size = 16;
    rejects[3].cfg.n_bins = 16;
    rejects[4].cfg.in_channels = 2;
    rejects[5].cfg.head = 9;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        sermo_error err = {0};
        model *r = model_create(NAME, &rejects[i].cfg, 1, &err);
        CHECK(r == NULL && err.status != SERMO_OK && strstr(err.msg, NAME),
              "%s should be rejected naming the model (got '%s')", rejects[i].what, err.msg);
        model_free(r);
    }
    /* n_bins 16 is fine once the input is resized. */
    model_config ok = base_config(2);
    ok.n_bins = 16;
    ok.image_size = 32;
    m = make(&ok);
    model_free(m);
}

/* Block output == block input exactly for the dropped samples; the drop rate
 * of the last residual block (p = 1.0 * 22 / 23) within 5 sigma; backward
 * through features.5.1 (p = 13 / 23, so both outcomes come quickly) at batch 1
 * on 32 x 64, where features.6-8 keep 1 x 2 maps (a train-mode BN over a
 * single value passes no gradient). */
#define DP_B 8
#define DP_REPS 4
#define DP_T 32
#define DP_T_BACK 64

static void test_drop_path(void) {
    model_config cfg = base_config(DP_B);
    cfg.max_frames = DP_T_BACK;
    cfg.drop_path = 1.0f;
    model *m = make(&cfg), *ref = NULL;
    cfg.drop_path = -1.0f;
    ref = make(&cfg);
    if (!m || !ref) goto done;
    zoo_fill(m);
    zoo_fill(ref);
    static float x[DP_B * 32 * DP_T_BACK]; /* read as (DP_B, 1, 32, DP_T) or (1, 1, 32, DP_T_BACK) */
    fill_input(x, sizeof x / sizeof x[0], 11);
    eff_state *st = m->state;
    const eff_block *k = &st->blocks[st->n_blocks - 1];

    /* Eval ignores drop_path (before any train step moves the running stats). */
    float lm[DP_B * L_CLASSES];
    const float *a = model_forward(m, x, DP_B, DP_T, 0);
    if (a) memcpy(lm, a, sizeof lm);
    const float *b = model_forward(ref, x, DP_B, DP_T, 0);
    CHECK(a && b && !memcmp(lm, b, sizeof lm), "eval logits with and without drop_path differ");
    CHECK(k->mask[0] == 1.0f, "eval mask 1");

    CHECK(k->res && fabsf(k->p - 22.0f / 23.0f) < 1e-6f, "last block: residual, p 22/23 (%g)",
          (double)k->p);
    CHECK(!st->blocks[0].res && st->blocks[0].p == 0.0f && st->blocks[1].res &&
              fabsf(st->blocks[1].p - 1.0f / 23.0f) < 1e-6f,
          "block 0: no residual, p 0; block 1: p 1/23 (%g)", (double)st->blocks[1].p);
    size_t D = (size_t)k->Co * k->dw.conv.OH * k->dw.conv.OW;
    int dropped = 0, wrong = 0, n = 0, blocks_dropping = 0;
    for (int r = 0; r < DP_REPS; r++) {
        CHECK(model_forward(m, x, DP_B, DP_T, 1) != NULL, "train forward");
        D = (size_t)k->Co * k->dw.conv.OH * k->dw.conv.OW;
        for (int j = 0; j < DP_B; j++, n++) {
            const float *in = k->in + j * D, *out = k->project.out + j * D;
            int same = !memcmp(in, out, sizeof(float) * D);
            if (k->mask[j] == 0.0f) dropped++;
            if (same != (k->mask[j] == 0.0f)) wrong++;
        }
    }
    for (int i = 0; i < st->n_blocks; i++) {
        const eff_block *kb = &st->blocks[i];
        for (int j = 0; j < DP_B && kb->res; j++)
            if (kb->mask[j] == 0.0f) {
                blocks_dropping++;
                break;
            }
    }
    double p = 22.0 / 23.0, mu = n * p, sd = sqrt(n * p * (1 - p));
    CHECK(wrong == 0, "%d samples whose output == input disagrees with the drop mask", wrong);
    CHECK(fabs(dropped - mu) < 5 * sd, "dropped %d of %d, expected %.1f +- %.1f", dropped, n, mu,
          sd);
    CHECK(blocks_dropping >= 5, "only %d residual blocks dropped a sample", blocks_dropping);

    /* Backward: a branch gets gradient only when it was kept. */
    int32_t y[1] = {2};
    float d[L_CLASSES];
    k = &st->blocks[13];
    CHECK(k->stage == 5 && k->index == 1 && k->res, "block 13 is features.5.1");
    const nn_param *pw = nn_params_find(&m->params, "features.5.1.block.3.0.weight");
    const float *gw = m->params.grad + pw->offset;
    int seen[2] = {0, 0};
    for (int r = 0; r < 60 && !(seen[0] && seen[1]); r++) {
        nn_params_zero_grad(&m->params);
        const float *lg = model_forward(m, x, 1, DP_T_BACK, 1);
        if (!lg) break;
        nn_cross_entropy_forward(d, lg, y, 1, L_CLASSES, 0.0f);
        model_backward(m, d, 1, DP_T_BACK);
        int kept = k->mask[0] != 0.0f;
        if (seen[kept]) continue;
        seen[kept] = 1;
        double g = zoo_max_abs(gw, pw->numel);
        CHECK(kept ? g > 0 : g == 0, "%s branch: project grad max %g", kept ? "kept" : "dropped", g);
    }
    CHECK(seen[0] && seen[1], "saw a dropped and a kept branch (%d %d)", seen[0], seen[1]);

    /* drop_path -1: every residual block's train mask is 1. */
    model_forward(ref, x, DP_B, DP_T, 1);
    const eff_state *rs = ref->state;
    int ones = 1;
    for (int i = 0; i < rs->n_blocks; i++)
        for (int j = 0; j < DP_B && rs->blocks[i].res; j++) ones &= rs->blocks[i].mask[j] == 1.0f;
    CHECK(ones, "drop_path -1: every train mask is 1");
done:
    model_free(m);
    model_free(ref);
}

/* image_size: the adapter's resize equals resizing first; and short inputs. */
static void test_sizes(void) {
    enum { F = 20, T = 24, S = 32 };
    model_config cr = base_config(2), cp = base_config(2);
    cr.n_bins = F;
    cr.max_frames = T;
    cr.image_size = S;
    model *mr = make(&cr), *mp = make(&cp);
    if (mr && mp) {
        zoo_fill(mr);
        zoo_fill(mp);
        static float x[2 * F * T], xs[2 * S * S];
        fill_input(x, 2 * F * T, 3);
        nn_resize_bilinear_forward(xs, x, 2, 1, F, T, S, S);
        float lr[2 * L_CLASSES];
        const float *a = model_forward(mr, x, 2, T, 1);
        if (a) memcpy(lr, a, sizeof lr);
        const float *b = model_forward(mp, xs, 2, S, 1);
        CHECK(a && b && !memcmp(lr, b, sizeof lr), "image_size adapter != resize then forward");
        CHECK(model_forward(mr, x, 2, 1, 0) != NULL, "with image_size any T >= 1 runs");
    }
    if (mp) {
        static float x[32 * 32];
        fill_input(x, 32 * 32, 9);
        CHECK(model_forward(mp, x, 1, 31, 1) == NULL, "T 31 < 32 must be refused");
        CHECK(model_forward(mp, x, 1, 32, 1) != NULL, "T 32 runs");
    }
    model_free(mr);
    model_free(mp);
}

int main(void) {
    test_golden();
    test_options();
    test_drop_path();
    test_sizes();
    fprintf(stderr, "test_efficientnet: %d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
