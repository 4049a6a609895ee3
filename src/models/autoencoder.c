/* autoencoder.c: a convolutional autoencoder of spectrograms, trained
 * unsupervised with the mean squared error against its input
 * (spec.reconstructs = 1): forward writes m->recon (B, C, F, T), backward
 * takes d(loss)/d(recon).
 *
 * The encoder is cnn3's conv stack exactly, with cnn3's names (cnn.c), so
 * model.init_from=<autoencoder>.safetensors hands cnn3 a pretrained encoder
 * by name:
 *   features = Sequential(Conv2d(C, 32, 3, padding=1, bias=False),
 *                         BatchNorm2d(32), ReLU, MaxPool2d(2),      # 0..3
 *                         Conv2d(32, 64, ...), BN, ReLU, MaxPool2d(2), # 4..7
 *                         Conv2d(64, 128, ...), BN, ReLU, MaxPool2d(2)) # 8..11
 * The decoder mirrors it back to full resolution:
 *   decoder = Sequential(Upsample(scale_factor=2, mode='bilinear'),  # 0
 *                        Conv2d(128, 64, 3, padding=1, bias=False), BN, ReLU, # 1..3
 *                        Upsample, Conv2d(64, 32), BN, ReLU,           # 4..7
 *                        Upsample, Conv2d(32, 32), BN, ReLU,           # 8..11
 *                        Conv2d(32, C, 3, padding=1))                  # 12
 * Upsample is torch.nn.Upsample with align_corners=False
 * (https://pytorch.org/docs/stable/generated/torch.nn.Upsample.html); with
 * scale 2 its source coordinate (dst + 0.5) / 2 - 0.5 is
 * nn_resize_bilinear's at an exactly doubled size. The decoder's convs drop
 * their bias before BN as the encoder's do (BN's mean subtraction cancels
 * it); the last conv keeps one and has no activation, because normalised
 * spectrograms are signed.
 *
 * Sizes: F (n_bins) and T must be multiples of 8, so that three 2x2 pools and
 * three x2 upsamplings return exactly F x T and every input cell is
 * reconstructed (create rejects other n_bins; forward returns -1 for other
 * T). A batch padded to a multiple of 8 frames is the caller's choice.
 *
 * Freezing blocks: encoder stages 0, 1, 2 (as cnn3), decoder stages 3, 4, 5;
 * the output conv is -1 (the "head", never frozen by count). Init is torch's
 * Conv2d default throughout, as a fresh torch module (and cnn3) has.
 *
 * Memory: every buffer is carved at create for (max_batch, max_frames):
 * per conv unit its layers.h buffers, per pool its output and argmax, per
 * upsampling its output, three activation-gradient buffers of the largest
 * activation and one im2col workspace. m->recon is the output conv's output.
 *
 * Dimension letters: B batch, C input channels, F mel rows, T frames, H/W a
 * layer's height/width. */
#include "models/layers.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define AE_STAGES 3
#define AE_MULTIPLE 8 /* 2^AE_STAGES */

static const int ae_widths[AE_STAGES] = {32, 64, 128};     /* encoder stage i's convs */
static const int ae_dec_widths[AE_STAGES] = {64, 32, 32}; /* decoder stage i's convs */

typedef struct ae_state {
    int threads;
    layer_conv enc[AE_STAGES], dec[AE_STAGES], out;
    nn_pool2d pool[AE_STAGES];
    float *pooled[AE_STAGES];   /* (B, C_i, H/2, W/2) */
    int32_t *argmax[AE_STAGES]; /* (B, C_i, H/2, W/2) */
    float *up[AE_STAGES];       /* (B, C, 2H, 2W) decoder stage i's upsampled input */
    int up_C[AE_STAGES], up_H[AE_STAGES], up_W[AE_STAGES]; /* its input sizes (before x2) */
    float *x;                   /* (B, C, F, T) copy of the input, for the first conv's backward */
    float *g[3];                /* activation gradients, the largest (B, C, H, W) each */
    float *workspace;           /* conv im2col scratch, the largest conv's */
    layer_arena arena;
    int fwd_B, fwd_T, fwd_train; /* the last successful forward, for backward */
} ae_state;

static size_t pool_numel(const nn_pool2d *p) {
    return (size_t)p->B * (size_t)p->C * (size_t)p->OH * (size_t)p->OW;
}

static size_t up_numel(const ae_state *st, int i, int B) {
    return (size_t)B * st->up_C[i] * (size_t)(2 * st->up_H[i]) * (size_t)(2 * st->up_W[i]);
}

static sermo_status ae_plan(ae_state *st, int B, int F, int T, sermo_error *err) {
    int H = F, W = T;
    sermo_status s;
    for (int i = 0; i < AE_STAGES; i++) {
        layer_conv *u = &st->enc[i];
        if ((s = layer_conv_plan(u, B, H, W, err)) ||
            (s = nn_pool2d_init(&st->pool[i], B, u->C_out, H, W, 2, 2, 0, err)))
            return s;
        H = st->pool[i].OH;
        W = st->pool[i].OW;
    }
    for (int i = 0; i < AE_STAGES; i++) {
        st->up_C[i] = st->dec[i].C_in;
        st->up_H[i] = H;
        st->up_W[i] = W;
        H *= 2;
        W *= 2;
        if ((s = layer_conv_plan(&st->dec[i], B, H, W, err))) return s;
    }
    return layer_conv_plan(&st->out, B, H, W, err);
}

/* The units in forward order: enc 0..2, dec 0..2, out. */
static layer_conv *unit_at(ae_state *st, int k) {
    return k < AE_STAGES ? &st->enc[k] : k < 2 * AE_STAGES ? &st->dec[k - AE_STAGES] : &st->out;
}

static void ae_layout(ae_state *st, const model_config *cfg) {
    layer_arena *a = &st->arena;
    int B = cfg->max_batch;
    size_t g_max = 0, ws_max = 0;
    st->x = layer_take(a, (size_t)B * cfg->in_channels * (size_t)cfg->n_bins * cfg->max_frames);
    for (int k = 0; k < 2 * AE_STAGES + 1; k++) {
        layer_conv *u = unit_at(st, k);
        layer_conv_layout(u, a);
        size_t n = layer_conv_numel(u), ws = nn_conv2d_workspace_size(&u->conv, st->threads);
        if (n > g_max) g_max = n;
        if (ws > ws_max) ws_max = ws;
        if (k < AE_STAGES) {
            st->pooled[k] = layer_take(a, pool_numel(&st->pool[k]));
            st->argmax[k] = layer_take_i32(a, pool_numel(&st->pool[k]));
        } else if (k < 2 * AE_STAGES) {
            st->up[k - AE_STAGES] = layer_take(a, up_numel(st, k - AE_STAGES, B));
        }
    }
    for (int i = 0; i < 3; i++) st->g[i] = layer_take(a, g_max);
    st->workspace = layer_take(a, ws_max);
}

static sermo_status ae_add_entries(model *m, ae_state *st, sermo_error *err) {
    int C = m->cfg.in_channels;
    char conv_name[32], bn_name[32];
    sermo_status s;
    for (int i = 0; i < AE_STAGES; i++) { /* cnn3's features.4i, .4i+1 */
        st->enc[i] = (layer_conv){.C_in = C, .C_out = ae_widths[i], .K = 3, .stride = 1, .pad = 1,
                                  .groups = 1, .bn = 1, .act = LAYER_ACT_RELU};
        snprintf(conv_name, sizeof conv_name, "features.%d", 4 * i);
        snprintf(bn_name, sizeof bn_name, "features.%d", 4 * i + 1);
        if ((s = layer_conv_add(m, &st->enc[i], i, conv_name, bn_name, err))) return s;
        C = ae_widths[i];
    }
    for (int i = 0; i < AE_STAGES; i++) { /* decoder.4i is the Upsample */
        int C_out = ae_dec_widths[i];
        st->dec[i] = (layer_conv){.C_in = C, .C_out = C_out, .K = 3, .stride = 1, .pad = 1,
                                  .groups = 1, .bn = 1, .act = LAYER_ACT_RELU};
        snprintf(conv_name, sizeof conv_name, "decoder.%d", 4 * i + 1);
        snprintf(bn_name, sizeof bn_name, "decoder.%d", 4 * i + 2);
        if ((s = layer_conv_add(m, &st->dec[i], AE_STAGES + i, conv_name, bn_name, err))) return s;
        C = C_out;
    }
    st->out = (layer_conv){.C_in = C, .C_out = m->cfg.in_channels, .K = 3, .stride = 1, .pad = 1,
                           .groups = 1, .bias = 1};
    snprintf(conv_name, sizeof conv_name, "decoder.%d", 4 * AE_STAGES);
    return layer_conv_add(m, &st->out, -1, conv_name, NULL, err);
}

static void ae_destroy(model *m) {
    ae_state *st = m->state;
    if (!st) return;
    layer_arena_free(&st->arena);
    free(st);
    m->state = NULL;
    m->recon = NULL;
}

/* Options that would change nothing here are rejected rather than ignored. */
static sermo_status ae_check_options(const model *m, sermo_error *err) {
    const model_config *cfg = &m->cfg;
    const char *name = m->spec->name;
    if (cfg->image_size > 0 || (cfg->channels && cfg->channels != cfg->in_channels) ||
        cfg->batchnorm < 0 || cfg->head != MODEL_HEAD_DEFAULT)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: model.image_size, channels, batchnorm and head do not apply",
                          name);
    if (cfg->n_bins % AE_MULTIPLE || cfg->max_frames < AE_MULTIPLE)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: n_bins %d must be a multiple of %d and max_frames %d at "
                          "least %d (three 2x2 pools and x2 upsamplings must return F x T)",
                          name, cfg->n_bins, AE_MULTIPLE, cfg->max_frames, AE_MULTIPLE);
    return SERMO_OK;
}

static sermo_status ae_create(model *m, sermo_error *err) {
    sermo_status s = ae_check_options(m, err);
    if (s) return s;
    const model_config *cfg = &m->cfg;
    ae_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", m->spec->name);
    m->state = st;
    st->threads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    if ((s = ae_add_entries(m, st, err)) || (s = nn_params_finalise(&m->params, err)) ||
        (s = nn_params_finalise(&m->buffers, err)))
        return s;
    for (int k = 0; k < 2 * AE_STAGES + 1; k++) layer_conv_init(m, unit_at(st, k), LAYER_INIT_TORCH);
    /* The largest plan: max_frames rounded down to a multiple of 8. */
    int T = cfg->max_frames / AE_MULTIPLE * AE_MULTIPLE;
    if ((s = ae_plan(st, cfg->max_batch, cfg->n_bins, T, err))) return s;
    ae_layout(st, cfg);
    if ((s = layer_arena_alloc(&st->arena, m->spec->name, err))) return s;
    ae_layout(st, cfg);
    m->recon = st->out.out;
    return SERMO_OK;
}

static int ae_forward(model *m, const float *x, int B, int T, int train) {
    ae_state *st = m->state;
    const model_config *cfg = &m->cfg;
    st->fwd_train = 0;
    if (T % AE_MULTIPLE || ae_plan(st, B, cfg->n_bins, T, NULL)) return -1;
    memcpy(st->x, x, sizeof(float) * (size_t)B * cfg->in_channels * cfg->n_bins * T);
    const float *h = st->x;
    for (int i = 0; i < AE_STAGES; i++) {
        layer_conv_forward(m, &st->enc[i], h, train, st->workspace, st->threads);
        nn_maxpool2d_forward_fast(st->pooled[i], st->argmax[i], st->enc[i].out, &st->pool[i],
                                  st->threads);
        h = st->pooled[i];
    }
    for (int i = 0; i < AE_STAGES; i++) {
        nn_resize_bilinear_forward(st->up[i], h, B, st->up_C[i], st->up_H[i], st->up_W[i],
                                   2 * st->up_H[i], 2 * st->up_W[i]);
        layer_conv_forward(m, &st->dec[i], st->up[i], train, st->workspace, st->threads);
        h = st->dec[i].out;
    }
    layer_conv_forward(m, &st->out, h, train, st->workspace, st->threads);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

/* A gradient buffer other than the two given. */
static float *other(ae_state *st, const float *a, const float *b) {
    for (int i = 0; i < 3; i++)
        if (st->g[i] != a && st->g[i] != b) return st->g[i];
    return NULL; /* unreachable: three buffers, two excluded */
}

/* One conv unit's backward from g; returns the buffer holding d(its input). */
static float *unit_backward(model *m, ae_state *st, const layer_conv *u, const float *in,
                            const float *g, int first) {
    float *scratch = other(st, g, NULL), *din = first ? NULL : other(st, g, scratch);
    /* scratch0 serves SiLU only; these units use ReLU or nothing. */
    layer_conv_backward(m, u, din, NN_GRAD_OVERWRITE, g, in, NULL, scratch, st->workspace,
                        st->threads);
    return din;
}

static void ae_backward(model *m, const float *drecon, int B, int T) {
    ae_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    const float *in = st->dec[AE_STAGES - 1].out;
    /* drecon is the caller's: the output conv's gradient goes to a buffer of ours. */
    float *g = unit_backward(m, st, &st->out, in, drecon, 0);
    for (int i = AE_STAGES - 1; i >= 0; i--) {
        g = unit_backward(m, st, &st->dec[i], st->up[i], g, 0);
        float *d = other(st, g, NULL); /* d(the stage's input) */
        memset(d, 0, sizeof(float) * (size_t)B * st->up_C[i] * st->up_H[i] * st->up_W[i]);
        nn_resize_bilinear_backward(d, g, B, st->up_C[i], st->up_H[i], st->up_W[i],
                                    2 * st->up_H[i], 2 * st->up_W[i]);
        g = d;
    }
    for (int i = AE_STAGES - 1; i >= 0; i--) {
        float *d = other(st, g, NULL);
        nn_maxpool2d_backward_fast(d, g, st->argmax[i], &st->pool[i], NN_GRAD_OVERWRITE,
                                   st->threads);
        g = unit_backward(m, st, &st->enc[i], i ? st->pooled[i - 1] : st->x, d, i == 0);
    }
}

/* torch.nn.MSELoss(reduction='mean')
 * (https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html):
 * mean((recon - x)^2) over n elements, summed in double. drecon (n) receives
 * its gradient 2 (recon - x) / n, WRITTEN (the loss ends the graph), when not
 * NULL. */
float model_recon_loss(float *drecon, const float *recon, const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)recon[i] - (double)x[i];
        s += d * d;
        if (drecon) drecon[i] = (float)(2.0 * d / (double)n);
    }
    return n ? (float)(s / (double)n) : 0.0f;
}

const model_spec model_spec_autoencoder = {
    .name = "autoencoder",
    .description = "convolutional autoencoder: cnn3's encoder (same names, for "
                   "model.init_from) and a mirrored bilinear-upsampling decoder, trained with "
                   "MSE; n_bins and frames multiples of 8",
    /* cnn3's settings (the encoder is cnn3's); reconstruction needs no
     * early stopping on accuracy, so patience only guards the loss; 296
     * frames is train.frames' 300 cut to a multiple of 8. */
    .defaults = {.batch_size = 32, .epochs = 30, .patience = 10, .n_mels = 64, .hop_length = 160,
                 .lr = 1e-3f, .frames = 296},
    .reconstructs = 1,
    .create = ae_create,
    .forward = ae_forward,
    .backward = ae_backward,
    .destroy = ae_destroy,
};
