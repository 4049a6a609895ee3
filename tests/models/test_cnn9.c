/* test_cnn9.c: cnn9 (three convs per block, src/models/cnn.c) against PyTorch
 * through the shared zoo harness (tests/models/zoo_golden.h, fixture from
 * tests/models/gen_cnn9.py), and its table: the names and block indices that
 * freezing by count relies on. */
#include "zoo_golden.h"

static void test_golden(void) {
    model_config cfg = {.n_classes = 5, .in_channels = 1, .n_bins = 16, .max_frames = 24,
                        .max_batch = 4, .threads = 2, .dropout = 0.0f};
    /* Nine conv+BN layers in float32 against float64: errors grow with depth,
     * and the running means after four updates carry them (9e-5 of 0.07). */
    zoo_tol tol = {.fwd_scale = 1e-5, .fwd_rel = 1e-4, .grad_scale = 1e-4, .grad_rel = 1e-3,
                   .step_scale = 1e-3, .step_rel = 1e-4, .stats_rel = 1e-4};
    zoo_golden_check("cnn9.safetensors", "cnn9", &cfg, &tol);
}

static void test_table(void) {
    model_config cfg = {.n_classes = 5, .in_channels = 1, .n_bins = 16, .max_frames = 24,
                        .max_batch = 1, .threads = 1};
    sermo_error err = {0};
    model *m = model_create("cnn9", &cfg, 1, &err);
    CHECK(m != NULL, "model_create: %s", err.msg);
    if (!m) return;
    /* 9 x (conv, BN weight, BN bias) + classifier weight and bias */
    CHECK(m->params.n == 29 && m->buffers.n == 18, "%d params, %d buffers", m->params.n,
          m->buffers.n);
    const nn_param *e = nn_params_find(&m->params, "features.13.weight"); /* the second block's second conv */
    CHECK(e && e->ndim == 4 && e->shape[0] == 64 && e->shape[1] == 64 && e->block == 1,
          "features.13.weight: the second block's conv 64x64, block 1");
    e = nn_params_find(&m->params, "classifier.weight");
    CHECK(e && e->block == -1 && e->decay, "classifier.weight: the head, decayed");
    e = nn_params_find(&m->params, "features.1.bias");
    CHECK(e && e->block == 0 && !e->decay, "features.1.bias: block 0, no decay");
    model_free(m);
}

int main(void) {
    test_golden();
    test_table();
    return check_report();
}
