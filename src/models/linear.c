/* linear.c: the egemaps-linear family, a classifier on an utterance's
 * hand-crafted functionals (features.kind=egemaps, egemaps.c): the input
 * (B, C, F, T) is summed over its T frames into (B, D), D = C * F, then
 * layer_head: by default Dropout(cfg.dropout) -> Linear(D, L), i.e. a
 * multinomial logistic regression on the z-scored functionals (the training
 * loop's cross-entropy over the logits), or with model.head=mlp the shared
 * MLP head.
 *
 * Why a sum: an egemaps clip is ONE frame, and the batcher fills a window
 * of train.frames with it followed by zeros (the mean after z-scoring), so
 * the sum is that column exactly for any train.frames. With T = 1, the
 * family's default, it is the plain flattening. (On multi-frame features it
 * would be a sum-pooled linear model whose scale grows with T.)
 *
 * Names follow a torch module with `fc = nn.Linear(D, L)` (or the
 * nn.Sequential "fc" of the MLP head), so "fc.weight" (L, D), "fc.bias" (L).
 *
 * Dimension letters: B batch, C channels, F feature rows, T frames,
 * D = C * F features, L classes. */
#include "models/layers.h"

#include <stdlib.h>
#include <string.h>

typedef struct linear_state {
    layer_head head;
    layer_arena arena;
    float *feat;  /* (B, D) the input summed over frames */
    float *dfeat; /* (B, D) head backward's input gradient (unused: the input is data) */
    int fwd_B, fwd_T, fwd_train;
} linear_state;

static void linear_destroy(model *m) {
    linear_state *st = m->state;
    if (!st) return;
    layer_arena_free(&st->arena);
    free(st);
    m->state = NULL;
}

/* The family's options: a 1-channel stem without resizing, no BatchNorm
 * choice, stochastic depth or sizes; anything else is refused rather than
 * silently ignored. */
static sermo_status linear_resolve_options(model *m, sermo_error *err) {
    model_config *cfg = &m->cfg;
    if (cfg->channels == 0) cfg->channels = cfg->in_channels;
    if (cfg->image_size == 0) cfg->image_size = -1;
    if (cfg->head == MODEL_HEAD_DEFAULT) cfg->head = MODEL_HEAD_LINEAR;
    if (cfg->head != MODEL_HEAD_LINEAR && cfg->head != MODEL_HEAD_MLP)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: unknown model.head %d", m->spec->name, cfg->head);
    if (cfg->channels != cfg->in_channels || cfg->image_size != -1 || cfg->batchnorm != 0 ||
        cfg->drop_path > 0.0f || cfg->size[0])
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: takes the features as they are: model.channels %d, model.image_size %d, "
                          "model.batchnorm %d, model.drop_path %g and model.size '%.15s' do not apply",
                          m->spec->name, cfg->channels, cfg->image_size, cfg->batchnorm, (double)cfg->drop_path,
                          cfg->size);
    return SERMO_OK;
}

static void linear_layout(linear_state *st, layer_arena *a, int B) {
    st->feat = layer_take(a, (size_t)B * st->head.D);
    st->dfeat = layer_take(a, (size_t)B * st->head.D);
    layer_head_layout(&st->head, a, B);
}

static sermo_status linear_create(model *m, sermo_error *err) {
    linear_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", m->spec->name);
    m->state = st;
    sermo_status s;
    if ((s = linear_resolve_options(m, err))) return s;
    const int D = m->cfg.in_channels * m->cfg.n_bins;
    if ((s = layer_head_add(m, &st->head, m->cfg.head, D, "fc", "fc", err))) return s;
    if (m->cfg.head == MODEL_HEAD_MLP) /* record the resolved widths */
        for (int i = 0; i < 2; i++) m->cfg.head_hidden[i] = st->head.hidden[i];
    if ((s = nn_params_finalise(&m->params, err)) || (s = nn_params_finalise(&m->buffers, err))) return s;
    layer_head_init(m, &st->head);
    linear_layout(st, &st->arena, m->cfg.max_batch); /* counting */
    if ((s = layer_arena_alloc(&st->arena, m->spec->name, err))) return s;
    linear_layout(st, &st->arena, m->cfg.max_batch);
    return SERMO_OK;
}

static int linear_forward(model *m, const float *x, int B, int T, int train) {
    linear_state *st = m->state;
    const int D = st->head.D;
    for (int b = 0; b < B; b++) /* x (B, D, T) -> feat (B, D) */
        for (int d = 0; d < D; d++) {
            const float *row = x + ((size_t)b * D + d) * T;
            float s = 0.0f;
            for (int t = 0; t < T; t++) s += row[t];
            st->feat[(size_t)b * D + d] = s;
        }
    layer_head_forward(m, &st->head, st->feat, B, train);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

static void linear_backward(model *m, const float *dlogits, int B, int T) {
    linear_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    layer_head_backward(m, &st->head, st->dfeat, dlogits, st->feat, B);
}

/* Training defaults, measured with 6-fold speaker-independent CV on RAVDESS
 * (BENCHMARKS.md): the functionals are z-scored over the training clips,
 * so a logistic regression takes a large step (AdamW lr 1e-2) and needs
 * many cheap epochs (a batch is 32 x D floats); one frame per clip. */
const model_spec model_spec_egemaps_linear = {
    .name = "egemaps-linear",
    .description = "eGeMAPS-style functionals (features.kind=egemaps), dropout, linear (logistic "
                   "regression) or MLP head",
    .defaults = {.batch_size = 32, .epochs = 100, .patience = 30, .frames = 1, .lr = 1e-2f,
                 .feature_kind = "egemaps"},
    .create = linear_create,
    .forward = linear_forward,
    .backward = linear_backward,
    .destroy = linear_destroy,
};
