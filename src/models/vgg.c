/* vgg.c: torchvision's VGG16 (Simonyan & Zisserman 2015, configuration "D";
 * https://pytorch.org/vision/stable/models/vgg.html), optionally with
 * BatchNorm after every conv (vgg16_bn).
 *
 *   features   13 x [Conv2d 3x3 pad 1 (with bias) -> [BatchNorm2d] -> ReLU],
 *              MaxPool2d(2, 2) after convs 2, 4, 7, 10, 13 (widths 64, 64 |
 *              128, 128 | 256 x 3 | 512 x 3 | 512 x 3)
 *   avgpool    AdaptiveAvgPool2d((7, 7)), flattened to D = 512 * 7 * 7 = 25088
 *   classifier model.head default: torchvision's own, Linear(D, 4096) -> ReLU
 *              -> Dropout -> Linear(4096, 4096) -> ReLU -> Dropout ->
 *              Linear(4096, L) at Sequential indices 0, 3, 6;
 *              linear: Dropout -> Linear(D, L); mlp: layers.h's MLP head
 *
 * Names are torchvision's make_layers numbering, so a state_dict maps 1:1:
 * without BN a conv and its ReLU take two indices (features.0, .2, .5 ...),
 * with BN three (conv features.0, BN features.1, conv features.3 ...), and
 * each MaxPool2d one. The convs keep their bias in both variants, as
 * torchvision's do. BN running statistics go to m->buffers.
 *
 * model.batchnorm defaults to on: from scratch, plain VGG16's 13 stacked
 * ReLU convs train only with careful init and a small learning rate (the
 * paper initialised its deep nets from shallower trained ones), while BN
 * keeps every layer's input normalised (Ioffe & Szegedy 2015).
 * model.channels (default 1) sets the first conv's input channels: 3 repeats
 * the spectrogram into torchvision's RGB shape so its weights load.
 * model.image_size (default: keep F x T) resizes the input bilinearly first.
 * An input needs at least 32 rows and frames (five 2x2 pools).
 *
 * Size: the features hold 14.7M parameters; torchvision's classifier adds
 * 119.5M + 4097 L, so the default head is ~134M parameters, ~2.1 GB with
 * gradients and AdamW's two moments (every table buffer is allocated at
 * create). model.head=linear keeps 14.7M + 25089 L.
 *
 * Init is torchvision's VGG._initialize_weights: convs kaiming_normal_
 * (fan_out, relu) with bias 0, BN weight 1 bias 0, its classifier's Linears
 * N(0, 0.01) with bias 0; the linear and mlp heads take torch's Linear
 * defaults (layers.h), as a replaced torch module would.
 *
 * Freezing blocks: the convs before the first pool are block 0, ... before
 * the fifth block 4; every classifier entry is -1.
 *
 * Memory: each conv unit's buffers (layers.h), each pool's output and
 * argmax, the adaptive pool's output (the head's input), the classifier's
 * activations, three activation-gradient buffers of the largest activation
 * (a conv unit's backward needs its upstream gradient, a scratch for the
 * BN/ReLU gradient and its input gradient, all distinct) and one im2col
 * workspace, all planned for (max_batch, max_frames) at create.
 *
 * Dimension letters: B batch, C channels, F mel rows, T frames, H/W a
 * layer's height/width, D pooled features, L classes. */
#include "models/layers.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VGG_POOL 0 /* a MaxPool2d in the layer list */
#define VGG_N_CONVS 13
#define VGG_N_POOLS 5
#define VGG_MIN_SIZE 32 /* 2^VGG_N_POOLS: each pool floors H/2 and needs H >= 2 */
#define VGG_GRID 7      /* AdaptiveAvgPool2d((7, 7)) */
#define VGG_HIDDEN 4096 /* torchvision's classifier width */

/* torchvision's cfgs["D"]. */
static const int vgg16_layers[] = {64,  64,  VGG_POOL, 128, 128, VGG_POOL, 256, 256, 256, VGG_POOL,
                                   512, 512, 512, VGG_POOL, 512, 512, 512, VGG_POOL};
#define VGG_N_LAYERS ((int)(sizeof vgg16_layers / sizeof vgg16_layers[0]))

/* torchvision's classifier: Sequential indices of its three Linears. */
static const int vgg_fc_index[3] = {0, 3, 6};

typedef struct vgg_state {
    int threads, head_kind, C_last;
    layer_input input;
    layer_conv conv[VGG_N_CONVS];
    int pool_after[VGG_N_CONVS]; /* index into pool[] of the pool after conv i, or -1 */
    nn_pool2d pool[VGG_N_POOLS];
    float *pooled[VGG_N_POOLS];   /* (B, C, H/2, W/2) */
    int32_t *argmax[VGG_N_POOLS]; /* (B, C, H/2, W/2) */
    float *feat;                  /* (B, D) the adaptive pool's output, flattened */
    float *dfeat;                 /* (B, D) */
    /* torchvision's classifier (head_kind MODEL_HEAD_DEFAULT) */
    size_t fc_w[3], fc_b[3];      /* offsets into m->params */
    float *fc_act[2];             /* (B, 4096) Linear output, ReLU in place */
    float *fc_drop[2], *fc_mask[2]; /* (B, 4096) */
    float *fc_g[2];               /* (B, 4096) backward scratch */
    layer_head head;              /* the linear and mlp heads */
    float *g[3];                  /* activation gradients, the largest (B, C, H, W) each */
    float *workspace;             /* conv im2col scratch, the largest conv's */
    layer_arena arena;
    int fwd_B, fwd_T, fwd_train;  /* the last successful forward, for backward */
} vgg_state;

/* The input of conv i: the adapted input, the previous conv's output or the
 * pool between them. */
static const float *conv_input(const vgg_state *st, int i) {
    if (i == 0) return st->input.x;
    int k = st->pool_after[i - 1];
    return k >= 0 ? st->pooled[k] : st->conv[i - 1].out;
}

static const float *last_pooled(const vgg_state *st) { return st->pooled[VGG_N_POOLS - 1]; }

/* Conv and pool sizes for B inputs of F x T (resized when image_size > 0). */
static sermo_status vgg_plan(vgg_state *st, int B, int F, int T, sermo_error *err) {
    int H, W;
    layer_input_dims(&st->input, F, T, &H, &W);
    for (int i = 0; i < VGG_N_CONVS; i++) {
        layer_conv *u = &st->conv[i];
        sermo_status s = layer_conv_plan(u, B, H, W, err);
        if (s) return s;
        H = u->conv.OH;
        W = u->conv.OW;
        int k = st->pool_after[i];
        if (k >= 0) {
            if ((s = nn_pool2d_init(&st->pool[k], B, u->C_out, H, W, 2, 2, 0, err))) return s;
            H = st->pool[k].OH;
            W = st->pool[k].OW;
        }
    }
    return SERMO_OK;
}

static size_t pool_numel(const nn_pool2d *p) {
    return (size_t)p->B * (size_t)p->C * (size_t)p->OH * (size_t)p->OW;
}

/* Carves every buffer for the current (largest) plan; counts only while the
 * arena has no base. */
static void vgg_layout(vgg_state *st, const model_config *cfg) {
    layer_arena *a = &st->arena;
    size_t B = (size_t)cfg->max_batch, g_max = 0, ws_max = 0;
    layer_input_layout(&st->input, a, cfg->max_batch, cfg->n_bins, cfg->max_frames);
    for (int i = 0; i < VGG_N_CONVS; i++) {
        layer_conv *u = &st->conv[i];
        layer_conv_layout(u, a);
        size_t n = layer_conv_numel(u), ws = nn_conv2d_workspace_size(&u->conv, st->threads);
        if (n > g_max) g_max = n;
        if (ws > ws_max) ws_max = ws;
        int k = st->pool_after[i];
        if (k >= 0) {
            st->pooled[k] = layer_take(a, pool_numel(&st->pool[k]));
            st->argmax[k] = layer_take_i32(a, pool_numel(&st->pool[k]));
        }
    }
    size_t D = (size_t)st->C_last * VGG_GRID * VGG_GRID;
    st->feat = layer_take(a, B * D);
    st->dfeat = layer_take(a, B * D);
    if (st->head_kind == MODEL_HEAD_DEFAULT) {
        for (int i = 0; i < 2; i++) {
            st->fc_act[i] = layer_take(a, B * VGG_HIDDEN);
            st->fc_drop[i] = layer_take(a, B * VGG_HIDDEN);
            st->fc_mask[i] = layer_take(a, B * VGG_HIDDEN);
            st->fc_g[i] = layer_take(a, B * VGG_HIDDEN);
        }
    } else {
        layer_head_layout(&st->head, a, cfg->max_batch);
    }
    for (int i = 0; i < 3; i++) st->g[i] = layer_take(a, g_max);
    st->workspace = layer_take(a, ws_max);
}

/* features.<i>: conv units and their pools, in make_layers order. */
static sermo_status vgg_add_features(model *m, vgg_state *st, int bn, sermo_error *err) {
    int idx = 0, C = m->cfg.channels, n_conv = 0, n_pool = 0;
    for (int l = 0; l < VGG_N_LAYERS; l++) {
        if (vgg16_layers[l] == VGG_POOL) {
            st->pool_after[n_conv - 1] = n_pool++;
            idx += 1;
            continue;
        }
        layer_conv *u = &st->conv[n_conv];
        *u = (layer_conv){.C_in = C, .C_out = vgg16_layers[l], .K = 3, .stride = 1, .pad = 1,
                          .groups = 1, .bias = 1, .bn = bn, .act = LAYER_ACT_RELU};
        st->pool_after[n_conv] = -1;
        char conv_name[32], bn_name[32];
        snprintf(conv_name, sizeof conv_name, "features.%d", idx);
        snprintf(bn_name, sizeof bn_name, "features.%d", idx + 1);
        sermo_status s = layer_conv_add(m, u, n_pool, conv_name, bn_name, err);
        if (s) return s;
        idx += bn ? 3 : 2; /* conv, [BN], ReLU */
        C = u->C_out;
        n_conv++;
    }
    st->C_last = C;
    return SERMO_OK;
}

static sermo_status vgg_add_classifier(model *m, vgg_state *st, sermo_error *err) {
    int D = st->C_last * VGG_GRID * VGG_GRID;
    if (st->head_kind != MODEL_HEAD_DEFAULT)
        return layer_head_add(m, &st->head, st->head_kind, D, "classifier", "classifier", err);
    int width[4] = {D, VGG_HIDDEN, VGG_HIDDEN, m->cfg.n_classes};
    for (int i = 0; i < 3; i++) {
        int64_t ws[2] = {width[i + 1], width[i]}, bs[1] = {width[i + 1]};
        sermo_status s;
        if ((s = layer_add_entry(&m->params, &st->fc_w[i], -1, 2, ws, 1, err,
                                 "classifier.%d.weight", vgg_fc_index[i])) ||
            (s = layer_add_entry(&m->params, &st->fc_b[i], -1, 1, bs, 0, err,
                                 "classifier.%d.bias", vgg_fc_index[i])))
            return s;
    }
    return SERMO_OK;
}

/* torchvision's VGG._initialize_weights, in table order. */
static void vgg_init_values(model *m, const vgg_state *st) {
    for (int i = 0; i < VGG_N_CONVS; i++) layer_conv_init(m, &st->conv[i], LAYER_INIT_KAIMING_OUT);
    if (st->head_kind != MODEL_HEAD_DEFAULT) {
        layer_head_init(m, &st->head);
        return;
    }
    float *P = m->params.data;
    int width[4] = {st->C_last * VGG_GRID * VGG_GRID, VGG_HIDDEN, VGG_HIDDEN, m->cfg.n_classes};
    for (int i = 0; i < 3; i++) {
        model_init_normal(m, P + st->fc_w[i], (size_t)width[i] * (size_t)width[i + 1], 0.01);
        model_init_fill(P + st->fc_b[i], (size_t)width[i + 1], 0.0f);
    }
}

static void vgg_destroy(model *m) {
    vgg_state *st = m->state;
    if (!st) return;
    layer_arena_free(&st->arena);
    free(st);
    m->state = NULL;
}

/* Resolves the family options (0 = default) into m->cfg and checks them. */
static sermo_status vgg_resolve_options(model *m, sermo_error *err) {
    model_config *cfg = &m->cfg;
    const char *name = m->spec->name;
    if (cfg->batchnorm == 0) cfg->batchnorm = 1;
    if (cfg->channels == 0) cfg->channels = 1;
    if (cfg->image_size == 0) cfg->image_size = -1;
    if (cfg->channels < 1 || cfg->channels > 64)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: channels is %d, expected 1 to 64",
                          name, cfg->channels);
    if (cfg->image_size > 0 && cfg->image_size < VGG_MIN_SIZE)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: image_size %d is below %d (five 2x2 max-pools)", name,
                          cfg->image_size, VGG_MIN_SIZE);
    if (cfg->head != MODEL_HEAD_DEFAULT && cfg->head != MODEL_HEAD_LINEAR &&
        cfg->head != MODEL_HEAD_MLP)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: unknown head kind %d", name,
                          cfg->head);
    if (cfg->image_size < 0 && (cfg->n_bins < VGG_MIN_SIZE || cfg->max_frames < VGG_MIN_SIZE))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: n_bins %d and max_frames %d must be at least %d "
                          "(five 2x2 max-pools), or set model.image_size",
                          name, cfg->n_bins, cfg->max_frames, VGG_MIN_SIZE);
    return SERMO_OK;
}

static sermo_status vgg_create(model *m, sermo_error *err) {
    sermo_status s = vgg_resolve_options(m, err);
    if (s) return s;
    const model_config *cfg = &m->cfg;
    vgg_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", m->spec->name);
    m->state = st;
    st->threads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    st->head_kind = cfg->head;
    st->input = (layer_input){.C_in = cfg->in_channels, .C = cfg->channels,
                              .size = cfg->image_size > 0 ? cfg->image_size : 0};
    if ((s = vgg_add_features(m, st, cfg->batchnorm > 0, err)) ||
        (s = vgg_add_classifier(m, st, err)) || (s = nn_params_finalise(&m->params, err)) ||
        (s = nn_params_finalise(&m->buffers, err)))
        return s;
    vgg_init_values(m, st);
    if ((s = vgg_plan(st, cfg->max_batch, cfg->n_bins, cfg->max_frames, err))) return s;
    vgg_layout(st, cfg);
    if ((s = layer_arena_alloc(&st->arena, m->spec->name, err))) return s;
    vgg_layout(st, cfg);
    return SERMO_OK;
}

/* torchvision's classifier: Linear -> ReLU -> Dropout, twice, then Linear. */
static void classifier_forward(model *m, vgg_state *st, int B, int train) {
    const float *P = m->params.data;
    const float *x = st->feat;
    int in = st->C_last * VGG_GRID * VGG_GRID;
    size_t n = (size_t)B * VGG_HIDDEN;
    for (int i = 0; i < 2; i++) {
        nn_linear_forward_fast(st->fc_act[i], x, P + st->fc_w[i], P + st->fc_b[i], B, in,
                               VGG_HIDDEN);
        /* In place: ReLU's backward needs only where out > 0, which is where in > 0. */
        nn_relu_forward(st->fc_act[i], st->fc_act[i], n);
        nn_dropout_forward(st->fc_drop[i], st->fc_mask[i], st->fc_act[i], n, m->cfg.dropout, train,
                           &m->rng);
        x = st->fc_drop[i];
        in = VGG_HIDDEN;
    }
    nn_linear_forward_fast(m->logits, x, P + st->fc_w[2], P + st->fc_b[2], B, VGG_HIDDEN,
                           m->cfg.n_classes);
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

/* dlogits (B, L) -> st->dfeat (B, D), overwritten. */
static void classifier_backward(model *m, vgg_state *st, const float *dlogits, int B) {
    const float *P = m->params.data;
    float *G = m->params.grad;
    size_t n = (size_t)B * VGG_HIDDEN;
    float *a = st->fc_g[0], *b = st->fc_g[1];
    const float *dy = dlogits;
    int out = m->cfg.n_classes;
    for (int i = 1; i >= 0; i--) {
        /* a = d drop[i]; b = d act[i]; a = d (Linear i's output) */
        zero(a, n);
        nn_linear_backward_fast(a, G + st->fc_w[i + 1], G + st->fc_b[i + 1], dy, st->fc_drop[i],
                                P + st->fc_w[i + 1], B, VGG_HIDDEN, out);
        zero(b, n);
        nn_dropout_backward(b, a, st->fc_mask[i], n);
        zero(a, n);
        nn_relu_backward(a, b, st->fc_act[i], n);
        dy = a;
        out = VGG_HIDDEN;
        float *t = a;
        a = b;
        b = t;
    }
    int D = st->C_last * VGG_GRID * VGG_GRID;
    zero(st->dfeat, (size_t)B * D);
    nn_linear_backward_fast(st->dfeat, G + st->fc_w[0], G + st->fc_b[0], dy, st->feat,
                            P + st->fc_w[0], B, D, VGG_HIDDEN);
}

static int vgg_forward(model *m, const float *x, int B, int T, int train) {
    vgg_state *st = m->state;
    const model_config *cfg = &m->cfg;
    st->fwd_train = 0;
    if ((st->input.size <= 0 && T < VGG_MIN_SIZE) || vgg_plan(st, B, cfg->n_bins, T, NULL))
        return -1;
    layer_input_forward(&st->input, x, B, cfg->n_bins, T);
    for (int i = 0; i < VGG_N_CONVS; i++) {
        layer_conv *u = &st->conv[i];
        layer_conv_forward(m, u, conv_input(st, i), train, st->workspace, st->threads);
        int k = st->pool_after[i];
        if (k >= 0)
            nn_maxpool2d_forward_fast(st->pooled[k], st->argmax[k], u->out, &st->pool[k],
                                      st->threads);
    }
    const nn_pool2d *p = &st->pool[VGG_N_POOLS - 1];
    nn_adaptive_avgpool2d_forward(st->feat, last_pooled(st), B, st->C_last, p->OH, p->OW,
                                  VGG_GRID, VGG_GRID);
    if (st->head_kind == MODEL_HEAD_DEFAULT) classifier_forward(m, st, B, train);
    else layer_head_forward(m, &st->head, st->feat, B, train);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

/* Picks a gradient buffer other than the two given. */
static float *other(vgg_state *st, const float *a, const float *b) {
    for (int i = 0; i < 3; i++)
        if (st->g[i] != a && st->g[i] != b) return st->g[i];
    return NULL; /* unreachable: three buffers, two excluded */
}

static void vgg_backward(model *m, const float *dlogits, int B, int T) {
    vgg_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    if (st->head_kind == MODEL_HEAD_DEFAULT) classifier_backward(m, st, dlogits, B);
    else layer_head_backward(m, &st->head, st->dfeat, dlogits, st->feat, B);
    /* g: the gradient flowing down (of the last op's output); each op writes
     * into a buffer g does not occupy. */
    const nn_pool2d *p = &st->pool[VGG_N_POOLS - 1];
    float *g = st->g[0];
    zero(g, pool_numel(p));
    nn_adaptive_avgpool2d_backward(g, st->dfeat, B, st->C_last, p->OH, p->OW, VGG_GRID, VGG_GRID);
    for (int i = VGG_N_CONVS - 1; i >= 0; i--) {
        const layer_conv *u = &st->conv[i];
        int k = st->pool_after[i];
        if (k >= 0) {
            float *d = other(st, g, NULL);
            nn_maxpool2d_backward_fast(d, g, st->argmax[k], &st->pool[k], NN_GRAD_OVERWRITE,
                                       st->threads);
            g = d;
        }
        float *scratch = other(st, g, NULL), *din = i > 0 ? other(st, g, scratch) : NULL;
        /* scratch0 serves SiLU only; VGG's units use ReLU. */
        layer_conv_backward(m, u, din, NN_GRAD_OVERWRITE, g, conv_input(st, i), NULL, scratch,
                            st->workspace, st->threads);
        g = din;
    }
}

const model_spec model_spec_vgg16 = {
    .name = "vgg16",
    .description = "torchvision VGG16 (13 conv3x3 + ReLU, 5 max-pools; model.batchnorm on by "
                   "default = vgg16_bn), AdaptiveAvgPool2d(7), torchvision's 4096-4096 "
                   "classifier (~134M parameters, ~2.1 GB with grads and AdamW moments; "
                   "model.head=linear: 14.7M); input at least 32 x 32",
    /* VGG trains from scratch with a smaller step than the small CNNs: 1e-4 is
     * the usual Adam rate for VGG-sized nets (1e-3 makes the 100M-weight
     * classifier diverge early); batch 16 keeps the 128 x 300 activations
     * (~80 MB per sample with BN) within a few GB. */
    .defaults = {.batch_size = 16, .epochs = 25, .patience = 10, .n_mels = 128,
                 .hop_length = 160, .lr = 1e-4f},
    .create = vgg_create,
    .forward = vgg_forward,
    .backward = vgg_backward,
    .destroy = vgg_destroy,
};
