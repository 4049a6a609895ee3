/* resnet.c: torchvision's ResNet with BasicBlock (He et al. 2015,
 * https://pytorch.org/vision/stable/models/resnet.html): resnet18 (stage
 * depths 2, 2, 2, 2) and resnet34 (3, 4, 6, 3), one table of depths, one code
 * path.
 *
 *   stem    conv1 7x7 stride 2 pad 3 (no bias) -> bn1 -> ReLU
 *           -> MaxPool2d(3, stride 2, pad 1)
 *   layerK  depth[K] BasicBlocks of 64, 128, 256, 512 channels (model.width
 *           W gives W, 2W, 4W, 8W and a W-channel stem; 64 is torchvision's):
 *             out = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + identity)
 *           conv1/conv2 3x3 pad 1 (no bias); the first block of layers 2-4
 *           has stride 2 and identity = downsample(x) = BN(conv1x1 stride 2),
 *           named layerK.0.downsample.0 / .1 as torchvision's nn.Sequential
 *   head    AdaptiveAvgPool2d(1) (a global mean; model.pool=meanstd: the mean
 *           and standard deviation per channel, statistics pooling, D = 1024
 *           at width 64; model.pool=attention: the same under softmax weights
 *           over the positions, nn_attn_statpool_forward, its tensors named
 *           avgpool.attention.weight/bias and avgpool.context.weight)
 *           -> layer_head: "fc" as
 *           Dropout(cfg.dropout) -> Linear(512, L) (torchvision has no
 *           dropout; with p = 0 they are equal), or the MLP head as the
 *           nn.Sequential "fc" (fc.0, fc.1, fc.4, fc.5, fc.8).
 * Every name is torchvision's state_dict name, so a checkpoint maps 1:1
 * (num_batches_tracked is not kept: with a fixed momentum it is unused).
 *
 * Options: model.channels 1 (default: a (64, 1, 7, 7) conv1 on the
 * spectrogram itself, a third of the stem's cost) or 3 (the spectrogram
 * repeated to 3 channels; torchvision's exact conv1 shape, so ImageNet
 * weights would load); model.image_size -1 (default: keep F x T) or > 0
 * (bilinear resize first, layers.h's layer_input); model.head linear or mlp;
 * model.pool mean, meanstd or attention.
 *
 * Init as torchvision's ResNet.__init__: convs kaiming_normal_(fan_out, relu),
 * BN weight 1 bias 0, the Linear head torch's default (zero_init_residual is
 * False there, so bn2 starts at 1 too).
 *
 * Dimension letters: B batch, C channels, F mel rows, T frames, H/W a layer's
 * height/width, D = 512 pooled features, L classes.
 *
 * Memory: every activation is carved once from one arena for (max_batch,
 * max_frames) (STYLE.md 3); a smaller call re-plans the conv sizes and uses
 * the front of the same buffers. Backward uses four gradient buffers: g (the
 * gradient of the current block's output, then of its sum), o (of its input),
 * gm (of conv1's output) and sc (the conv units' BN scratch); g, o and sc hold
 * the stem's output (the largest activation), gm a block conv's. */
#include "models/layers.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESNET_STAGES 4
#define RESNET_MAX_BLOCKS 16 /* resnet34: 3 + 4 + 6 + 3 */
/* Total stride of the stem and stages: 2 (conv1) x 2 (maxpool) x 2^3 (layers
 * 2-4). Fewer input rows or frames than this leave layer4 with less than one
 * position per 32 inputs, most of its 3x3 kernels reading padding; such a
 * clip is refused (forward returns -1) rather than classified from padding. */
#define RESNET_MIN_SIZE 32
#define RESNET_MAX_IMAGE 1024
/* model.pool=attention: the width A of its scoring layer (Okabe et al. use
 * 128 over 1,500-dimensional frames; layer4 has 8 x model.width channels). */
#define RESNET_ATTENTION_DIM 128


typedef struct resnet_arch {
    int depth[RESNET_STAGES]; /* BasicBlocks per stage (torchvision's `layers`) */
} resnet_arch;

static const resnet_arch resnet18_arch = {{2, 2, 2, 2}};
static const resnet_arch resnet34_arch = {{3, 4, 6, 3}};

typedef struct resnet_block {
    layer_conv conv1;    /* conv 3x3 (stride) -> bn1 -> ReLU */
    layer_conv conv2;    /* conv 3x3 -> bn2, no activation: ReLU comes after the sum */
    layer_conv down;     /* conv 1x1 (stride) -> BN, when has_down */
    int has_down;
    const float *in;     /* (B, C_in, H, W): the previous block's out, or the pooled stem */
    float *out;          /* (B, C_out, OH, OW) ReLU(conv2.out + identity) */
} resnet_block;

typedef struct resnet_state {
    int threads, n_blocks;
    layer_input input;
    layer_conv stem;     /* conv1 -> bn1 -> ReLU */
    nn_pool2d pool;      /* MaxPool2d(3, 2, 1) of the stem */
    float *pooled;       /* (B, width, H/4, W/4) */
    int32_t *argmax;     /* (B, width, H/4, W/4) */
    resnet_block blocks[RESNET_MAX_BLOCKS];
    int C_last;          /* layer4's channels: D, or D / 2 under the statistics pools */
    int attention;       /* model.pool=attention */
    size_t att_w, att_b, ctx_w; /* its Linear(C, A) and v (1, A) */
    float *alpha, *u;    /* attention: softmax weights (B, HW) and tanh (B, A, HW) */
    float *att_scratch;  /* attention backward: (A + 1) HW */
    layer_head head;
    float *feat, *dfeat; /* (B, D) */
    float *g[2], *sc;    /* (the stem's numel) each */
    float *gm;           /* (the largest block conv's numel) */
    float *workspace;    /* im2col scratch, the largest conv's */
    layer_arena arena;
    int fwd_B, fwd_T, fwd_train; /* the last successful forward, for backward */
} resnet_state;

/* ---------------------------------------------------- residual add + ReLU */

/* out = max(a + b, 0): the BasicBlock's `out += identity; out = relu(out)`.
 * (B, C, H, W) each, n elements. */
static void residual_relu_forward(float *out, const float *a, const float *b, size_t n,
                                  int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float s = a[i] + b[i];
        out[i] = s > 0.0f ? s : 0.0f;
    }
}

/* The gradient of the sum, IN PLACE over the gradient of out: g *= [out > 0]
 * (relu(s) > 0 exactly where s > 0, torch's ReLU gradient is 0 at s <= 0).
 * The sum's gradient then flows unchanged into BOTH addends: conv2's branch
 * and the identity (or downsample) branch, which the caller adds. In place
 * because nothing else reads the block output's gradient. */
static void residual_relu_backward(float *g, const float *out, size_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        if (!(out[i] > 0.0f)) g[i] = 0.0f;
}

/* dinput += dsum: the identity branch's share of the sum's gradient. */
static void identity_backward(float *dinput, const float *dsum, size_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dinput[i] += dsum[i];
}

/* ------------------------------------------------------------------- plan */

static sermo_status resnet_add_entries(model *m, resnet_state *st, const resnet_arch *arch,
                                       sermo_error *err) {
    sermo_status s;
    char c1[32], b1[32], c2[32], b2[32], d0[40], d1[40];
    /* torchvision's 64, 128, 256, 512 at the default width 64. */
    int C = m->cfg.width;
    st->stem = (layer_conv){.C_in = m->cfg.channels, .C_out = C, .K = 7, .stride = 2,
                            .pad = 3, .groups = 1, .bn = 1, .act = LAYER_ACT_RELU};
    if ((s = layer_conv_add(m, &st->stem, 0, "conv1", "bn1", err))) return s;
    st->n_blocks = 0;
    for (int k = 0; k < RESNET_STAGES; k++) {
        int C_out = m->cfg.width << k;
        for (int j = 0; j < arch->depth[k]; j++) {
            resnet_block *blk = &st->blocks[st->n_blocks++];
            int stride = k > 0 && j == 0 ? 2 : 1;
            blk->has_down = stride != 1 || C != C_out;
            blk->conv1 = (layer_conv){.C_in = C, .C_out = C_out, .K = 3, .stride = stride,
                                      .pad = 1, .groups = 1, .bn = 1, .act = LAYER_ACT_RELU};
            blk->conv2 = (layer_conv){.C_in = C_out, .C_out = C_out, .K = 3, .stride = 1,
                                      .pad = 1, .groups = 1, .bn = 1, .act = LAYER_ACT_NONE};
            blk->down = (layer_conv){.C_in = C, .C_out = C_out, .K = 1, .stride = stride,
                                     .pad = 0, .groups = 1, .bn = 1, .act = LAYER_ACT_NONE};
            snprintf(c1, sizeof c1, "layer%d.%d.conv1", k + 1, j);
            snprintf(b1, sizeof b1, "layer%d.%d.bn1", k + 1, j);
            snprintf(c2, sizeof c2, "layer%d.%d.conv2", k + 1, j);
            snprintf(b2, sizeof b2, "layer%d.%d.bn2", k + 1, j);
            snprintf(d0, sizeof d0, "layer%d.%d.downsample.0", k + 1, j);
            snprintf(d1, sizeof d1, "layer%d.%d.downsample.1", k + 1, j);
            /* Freezing block: the stage (layer1 = 1 ... layer4 = 4). */
            if ((s = layer_conv_add(m, &blk->conv1, k + 1, c1, b1, err)) ||
                (s = layer_conv_add(m, &blk->conv2, k + 1, c2, b2, err)) ||
                (blk->has_down && (s = layer_conv_add(m, &blk->down, k + 1, d0, d1, err))))
                return s;
            C = C_out;
        }
    }
    st->C_last = C;
    st->attention = m->cfg.pool == MODEL_POOL_ATTENTION;
    if (st->attention) {
        /* In torchvision's avgpool slot, so a torch module put there maps 1:1. */
        int64_t ws[2] = {RESNET_ATTENTION_DIM, C}, bs[1] = {RESNET_ATTENTION_DIM},
                vs[2] = {1, RESNET_ATTENTION_DIM};
        if ((s = layer_add_entry(&m->params, &st->att_w, -1, 2, ws, 1, err, "avgpool.attention.weight")) ||
            (s = layer_add_entry(&m->params, &st->att_b, -1, 1, bs, 0, err, "avgpool.attention.bias")) ||
            (s = layer_add_entry(&m->params, &st->ctx_w, -1, 2, vs, 1, err, "avgpool.context.weight")))
            return s;
    }
    int D = m->cfg.pool == MODEL_POOL_MEAN ? C : 2 * C;
    s = layer_head_add(m, &st->head, m->cfg.head, D, "fc", "fc", err);
    if (!s && m->cfg.head == MODEL_HEAD_MLP) /* record the resolved widths */
        for (int i = 0; i < 2; i++) m->cfg.head_hidden[i] = st->head.hidden[i];
    return s;
}

static void resnet_init_values(model *m, const resnet_state *st) {
    layer_conv_init(m, &st->stem, LAYER_INIT_KAIMING_OUT);
    for (int i = 0; i < st->n_blocks; i++) {
        const resnet_block *blk = &st->blocks[i];
        layer_conv_init(m, &blk->conv1, LAYER_INIT_KAIMING_OUT);
        layer_conv_init(m, &blk->conv2, LAYER_INIT_KAIMING_OUT);
        if (blk->has_down) layer_conv_init(m, &blk->down, LAYER_INIT_KAIMING_OUT);
    }
    if (st->attention) { /* torch's Linear defaults */
        float *P = m->params.data;
        const int C = st->C_last, A = RESNET_ATTENTION_DIM;
        model_init_torch_default(m, P + st->att_w, (size_t)A * C, C);
        model_init_torch_default(m, P + st->att_b, (size_t)A, C);
        model_init_torch_default(m, P + st->ctx_w, (size_t)A, A);
    }
    layer_head_init(m, &st->head);
}

/* Conv and pool sizes for a batch of B inputs of F x T. */
static sermo_status resnet_plan(resnet_state *st, int B, int F, int T, sermo_error *err) {
    int H, W;
    sermo_status s;
    layer_input_dims(&st->input, F, T, &H, &W);
    if ((s = layer_conv_plan(&st->stem, B, H, W, err)) ||
        (s = nn_pool2d_init(&st->pool, B, st->stem.C_out, st->stem.conv.OH, st->stem.conv.OW, 3,
                            2, 1, err)))
        return s;
    H = st->pool.OH;
    W = st->pool.OW;
    for (int i = 0; i < st->n_blocks; i++) {
        resnet_block *blk = &st->blocks[i];
        if ((s = layer_conv_plan(&blk->conv1, B, H, W, err)) ||
            (s = layer_conv_plan(&blk->conv2, B, blk->conv1.conv.OH, blk->conv1.conv.OW, err)) ||
            (blk->has_down && (s = layer_conv_plan(&blk->down, B, H, W, err))))
            return s;
        H = blk->conv2.conv.OH;
        W = blk->conv2.conv.OW;
    }
    return SERMO_OK;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Carves (or, while counting, sizes) every buffer for the current plan, the
 * largest one, of B inputs of F x T. */
static void resnet_layout(resnet_state *st, layer_arena *a, int B, int F, int T) {
    size_t ws = nn_conv2d_workspace_size(&st->stem.conv, st->threads);
    size_t n_stem = layer_conv_numel(&st->stem), n_blk = 0;
    size_t n_pool = (size_t)B * (size_t)st->stem.C_out * (size_t)st->pool.OH * (size_t)st->pool.OW;
    layer_input_layout(&st->input, a, B, F, T);
    layer_conv_layout(&st->stem, a);
    st->pooled = layer_take(a, n_pool);
    st->argmax = layer_take_i32(a, n_pool);
    const float *in = st->pooled;
    for (int i = 0; i < st->n_blocks; i++) {
        resnet_block *blk = &st->blocks[i];
        layer_conv *units[3] = {&blk->conv1, &blk->conv2, blk->has_down ? &blk->down : NULL};
        for (int u = 0; u < 3 && units[u]; u++) {
            layer_conv_layout(units[u], a);
            n_blk = max_size(n_blk, layer_conv_numel(units[u]));
            ws = max_size(ws, nn_conv2d_workspace_size(&units[u]->conv, st->threads));
        }
        blk->in = in;
        blk->out = layer_take(a, layer_conv_numel(&blk->conv2));
        in = blk->out;
    }
    if (st->attention) {
        const layer_conv *last = &st->blocks[st->n_blocks - 1].conv2;
        size_t HW = (size_t)last->conv.OH * (size_t)last->conv.OW;
        st->alpha = layer_take(a, (size_t)B * HW);
        st->u = layer_take(a, (size_t)B * RESNET_ATTENTION_DIM * HW);
        st->att_scratch = layer_take(a, (RESNET_ATTENTION_DIM + 1) * HW);
    }
    st->feat = layer_take(a, (size_t)B * st->head.D);
    st->dfeat = layer_take(a, (size_t)B * st->head.D);
    layer_head_layout(&st->head, a, B);
    /* The stem's output is 4x layer1's: it bounds every gradient buffer. */
    size_t n_big = max_size(n_stem, n_blk);
    st->g[0] = layer_take(a, n_big);
    st->g[1] = layer_take(a, n_big);
    st->sc = layer_take(a, n_big);
    st->gm = layer_take(a, n_blk);
    st->workspace = layer_take(a, ws);
}

/* ------------------------------------------------------------- life cycle */

static void resnet_destroy(model *m) {
    resnet_state *st = m->state;
    if (!st) return;
    layer_arena_free(&st->arena);
    free(st);
    m->state = NULL;
}

/* Resolves the family options into m->cfg (0 / MODEL_HEAD_DEFAULT: the
 * family default) and rejects those ResNet cannot honour. */
static sermo_status resnet_resolve_options(model *m, sermo_error *err) {
    model_config *cfg = &m->cfg;
    const char *name = m->spec->name;
    if (cfg->channels == 0) cfg->channels = 1;
    if (cfg->image_size == 0) cfg->image_size = -1;
    if (cfg->head == MODEL_HEAD_DEFAULT) cfg->head = MODEL_HEAD_LINEAR;
    if (cfg->pool == MODEL_POOL_DEFAULT) cfg->pool = MODEL_POOL_MEAN;
    /* x.repeat(1, channels / in_channels, 1, 1) must be exact. */
    if ((cfg->channels != 1 && cfg->channels != 3) || cfg->channels % cfg->in_channels)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: model.channels is %d, expected 1 or 3 (a multiple of the "
                          "input's %d channels)",
                          name, cfg->channels, cfg->in_channels);
    if (cfg->image_size < -1 || cfg->image_size > RESNET_MAX_IMAGE ||
        (cfg->image_size > 0 && cfg->image_size < RESNET_MIN_SIZE))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: model.image_size is %d, expected -1 (keep F x T) or %d to %d",
                          name, cfg->image_size, RESNET_MIN_SIZE, RESNET_MAX_IMAGE);
    if (cfg->head != MODEL_HEAD_LINEAR && cfg->head != MODEL_HEAD_MLP)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: unknown model.head %d", name,
                          cfg->head);
    /* Options of other families: refused rather than silently ignored. */
    if (cfg->batchnorm < 0 || cfg->drop_path > 0.0f || cfg->size[0])
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: has BatchNorm everywhere, no stochastic depth and no sizes "
                          "(model.batchnorm %d, model.drop_path %g, model.size '%.15s')",
                          name, cfg->batchnorm, (double)cfg->drop_path, cfg->size);
    if (cfg->image_size < 0 && (cfg->n_bins < RESNET_MIN_SIZE || cfg->max_frames < RESNET_MIN_SIZE))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: n_bins %d and max_frames %d must be at least %d (the "
                          "network's total stride), or set model.image_size",
                          name, cfg->n_bins, cfg->max_frames, RESNET_MIN_SIZE);
    return SERMO_OK;
}

static sermo_status resnet_create(model *m, const resnet_arch *arch, sermo_error *err) {
    const model_config *cfg = &m->cfg;
    resnet_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", m->spec->name);
    m->state = st;
    sermo_status s;
    if ((s = resnet_resolve_options(m, err))) return s;
    st->threads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    st->input = (layer_input){.C_in = cfg->in_channels, .C = cfg->channels,
                              .size = cfg->image_size > 0 ? cfg->image_size : 0};
    if ((s = resnet_add_entries(m, st, arch, err)) ||
        (s = nn_params_finalise(&m->params, err)) || (s = nn_params_finalise(&m->buffers, err)))
        return s;
    resnet_init_values(m, st);
    int B = cfg->max_batch, F = cfg->n_bins, T = cfg->max_frames;
    if ((s = resnet_plan(st, B, F, T, err))) return s;
    resnet_layout(st, &st->arena, B, F, T); /* counting */
    if ((s = layer_arena_alloc(&st->arena, m->spec->name, err))) return s;
    resnet_layout(st, &st->arena, B, F, T);
    return SERMO_OK;
}

/* ---------------------------------------------------------------- forward */

static int resnet_forward(model *m, const float *x, int B, int T, int train) {
    resnet_state *st = m->state;
    const int F = m->cfg.n_bins, th = st->threads;
    st->fwd_train = 0;
    if (st->input.size == 0 && T < RESNET_MIN_SIZE) return -1;
    if (resnet_plan(st, B, F, T, NULL)) return -1;
    layer_input_forward(&st->input, x, B, F, T);
    layer_conv_forward(m, &st->stem, st->input.x, train, st->workspace, th);
    /* The argmax is kept in eval too: the 3x3 pool has no argmax-free path. */
    nn_maxpool2d_forward_fast(st->pooled, st->argmax, st->stem.out, &st->pool, th);
    for (int i = 0; i < st->n_blocks; i++) {
        resnet_block *blk = &st->blocks[i];
        layer_conv_forward(m, &blk->conv1, blk->in, train, st->workspace, th);
        layer_conv_forward(m, &blk->conv2, blk->conv1.out, train, st->workspace, th);
        const float *identity = blk->in;
        if (blk->has_down) {
            layer_conv_forward(m, &blk->down, blk->in, train, st->workspace, th);
            identity = blk->down.out;
        }
        residual_relu_forward(blk->out, blk->conv2.out, identity, layer_conv_numel(&blk->conv2),
                              th);
    }
    const resnet_block *last = &st->blocks[st->n_blocks - 1];
    const int HW = last->conv2.conv.OH * last->conv2.conv.OW;
    const float *P = m->params.data;
    if (m->cfg.pool == MODEL_POOL_ATTENTION)
        nn_attn_statpool_forward(st->feat, st->alpha, st->u, last->out, P + st->att_w, P + st->att_b,
                                 P + st->ctx_w, B, st->C_last, HW, RESNET_ATTENTION_DIM);
    else if (m->cfg.pool == MODEL_POOL_MEANSTD)
        nn_global_statpool_forward(st->feat, last->out, B, st->C_last, HW);
    else
        nn_global_avgpool_forward(st->feat, last->out, B, st->C_last, HW);
    layer_head_forward(m, &st->head, st->feat, B, train);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

/* --------------------------------------------------------------- backward */

static void resnet_backward(model *m, const float *dlogits, int B, int T) {
    resnet_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    const int th = st->threads;
    float *g = st->g[0], *o = st->g[1], *t;
    layer_head_backward(m, &st->head, st->dfeat, dlogits, st->feat, B);
    const resnet_block *last = &st->blocks[st->n_blocks - 1];
    size_t n_last = layer_conv_numel(&last->conv2);
    memset(g, 0, sizeof(float) * n_last);
    const int HW = last->conv2.conv.OH * last->conv2.conv.OW;
    const float *P = m->params.data;
    float *G = m->params.grad;
    if (m->cfg.pool == MODEL_POOL_ATTENTION)
        nn_attn_statpool_backward(g, G + st->att_w, G + st->att_b, G + st->ctx_w, st->dfeat, st->feat,
                                  st->alpha, st->u, last->out, P + st->att_w, P + st->ctx_w, B,
                                  st->C_last, HW, RESNET_ATTENTION_DIM, st->att_scratch);
    else if (m->cfg.pool == MODEL_POOL_MEANSTD)
        nn_global_statpool_backward(g, st->dfeat, last->out, st->feat, B, st->C_last, HW);
    else
        nn_global_avgpool_backward(g, st->dfeat, B, st->C_last, HW);
    /* Per block, g holds the gradient of its output; o receives its input's,
     * then they swap. Each conv unit's backward OVERWRITES its din (nothing
     * of this step is there yet); the identity branch then ACCUMULATES into
     * the same o, so o = conv1's path + the identity's path. */
    for (int i = st->n_blocks - 1; i >= 0; i--) {
        const resnet_block *blk = &st->blocks[i];
        size_t n = layer_conv_numel(&blk->conv2);
        residual_relu_backward(g, blk->out, n, th); /* g: now d(sum) */
        layer_conv_backward(m, &blk->conv2, st->gm, NN_GRAD_OVERWRITE, g, blk->conv1.out, NULL,
                            st->sc, st->workspace, th);
        layer_conv_backward(m, &blk->conv1, o, NN_GRAD_OVERWRITE, st->gm, blk->in, NULL, st->sc,
                            st->workspace, th);
        if (blk->has_down)
            layer_conv_backward(m, &blk->down, o, NN_GRAD_ACCUMULATE, g, blk->in, NULL, st->sc,
                                st->workspace, th);
        else
            identity_backward(o, g, n, th);
        t = g, g = o, o = t;
    }
    /* g: the pooled stem's gradient. The input needs none (din NULL). */
    nn_maxpool2d_backward_fast(o, g, st->argmax, &st->pool, NN_GRAD_OVERWRITE, th);
    layer_conv_backward(m, &st->stem, NULL, NN_GRAD_OVERWRITE, o, st->input.x, NULL, st->sc,
                        st->workspace, th);
}

/* ------------------------------------------------------------------ specs */

static sermo_status resnet18_create(model *m, sermo_error *err) {
    return resnet_create(m, &resnet18_arch, err);
}

static sermo_status resnet34_create(model *m, sermo_error *err) {
    return resnet_create(m, &resnet34_arch, err);
}

/* Training defaults for RAVDESS-sized data (~1.4k clips of ~3.5 s): batch 32
 * keeps BatchNorm's batch statistics stable; from scratch a ResNet needs
 * ~30 epochs to converge on so few clips, and patience 10 outlasts the
 * validation noise of ~150 held-out clips; 128 mel bands at hop 160 (10 ms
 * at 16 kHz) give layer4 a 4 x T/32 map instead of cnn3's coarser 64-band
 * input, which 5 stride-2 steps would squeeze to 2 rows; AdamW lr 1e-3 is
 * the usual rate for BatchNorm'd convnets trained from scratch. */
#define RESNET_DEFAULTS                                                                     \
    {.batch_size = 32, .epochs = 30, .patience = 10, .n_mels = 128, .hop_length = 160,      \
     .lr = 1e-3f}

const model_spec model_spec_resnet18 = {
    .name = "resnet18",
    .description = "torchvision ResNet-18 (BasicBlock x [2,2,2,2], 64-512 channels), "
                   "1- or 3-channel stem, mean/meanstd/attention pooling, linear or MLP head",
    .defaults = RESNET_DEFAULTS,
    .width = 64,
    .stat_pools = 1,
    .create = resnet18_create,
    .forward = resnet_forward,
    .backward = resnet_backward,
    .destroy = resnet_destroy,
};

const model_spec model_spec_resnet34 = {
    .name = "resnet34",
    .description = "torchvision ResNet-34 (BasicBlock x [3,4,6,3], 64-512 channels), "
                   "1- or 3-channel stem, mean/meanstd/attention pooling, linear or MLP head",
    .defaults = RESNET_DEFAULTS,
    .width = 64,
    .stat_pools = 1,
    .create = resnet34_create,
    .forward = resnet_forward,
    .backward = resnet_backward,
    .destroy = resnet_destroy,
};
