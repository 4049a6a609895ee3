/* efficientnet.c: EfficientNet-B2 as torchvision builds it
 * (torchvision.models.efficientnet_b2, models/efficientnet.py; Tan & Le,
 * "EfficientNet", arXiv:1905.11946, Table 1), with its state_dict names:
 *
 *   features.0            stem: Conv 3x3 stride 2 -> BN -> SiLU   (.0 conv, .1 BN)
 *   features.1 .. 7       stages of MBConv blocks, features.<s>.<j>.block.<k>:
 *                           [expand 1x1 conv -> BN -> SiLU]   (only when expand ratio != 1)
 *                           depthwise KxK conv -> BN -> SiLU
 *                           SqueezeExcitation: avgpool -> fc1 (1x1 conv + bias) -> SiLU
 *                                              -> fc2 (1x1 conv + bias) -> sigmoid -> scale
 *                           project 1x1 conv -> BN
 *                         then, when stride 1 and C_in == C_out,
 *                         StochasticDepth("row") and the residual add
 *   features.8            1x1 conv to 1408 -> BN -> SiLU
 *   avgpool, classifier   Dropout(cfg.dropout) -> Linear(1408, L) = classifier.1
 *                         (or layer_head's MLP, named classifier.*)
 *
 * Widths and depths come from B0's table scaled as torchvision does: channels
 * _make_divisible(c * 1.1, 8), repeats ceil(n * 1.2) (models/_utils.py,
 * MBConvConfig.adjust_channels/adjust_depth), which gives 32 | 16 x2 | 24 x3 |
 * 48 x3 | 88 x4 | 120 x4 | 208 x5 | 352 x2 | 1408. The SE squeeze width is
 * max(1, block input channels // 4), the expanded width
 * _make_divisible(C_in * 6, 8). BatchNorm2d keeps torch's defaults (eps 1e-5,
 * momentum 0.1: torchvision passes no norm_layer for B0-B7). Stochastic depth
 * of the i-th of the 23 blocks (0-based, all stages together) drops with
 * p = drop_path * i / 23 (EfficientNet.__init__'s sd_prob).
 *
 * Options (model_config): channels 3 (default, the spectrogram repeated as
 * torchvision's RGB stem expects) or 1; image_size > 0 resizes to a square
 * first, 0 keeps F x T (resolved to -1); drop_path 0 = 0.2 as torchvision,
 * < 0 disables it; head linear (default) or mlp.
 *
 * Freezing blocks (nn_param.block): features.k -> k (0 stem .. 8), head -1.
 * Weight decay on conv (incl. SE fc) and linear weights only.
 *
 * Dimension letters: B batch, C channels (Ci block input, Ce expanded,
 * Cs squeeze, Co output), H/W a block's input height/width, OH/OW its output,
 * F mel rows, T frames, L classes.
 *
 * Memory: everything is carved from one arena at create for (max_batch,
 * max_frames). Each layer_conv keeps what its backward needs; a block adds
 * the SE buffers and its output is its project unit's output, to which the
 * residual is added in place (BN backward reads the conv output, not the BN
 * output, and drop path's backward needs only its mask). Backward passes
 * gradients through a pool of EFF_NGRAD buffers of the largest activation,
 * picking any one that holds nothing live (eff_spare). */
#include "models/layers.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define EFF_MAX_BLOCKS 64
#define EFF_NGRAD 5   /* live at once: block dinput, dout, two scratch, dinput of a unit */
#define EFF_STRIDE 32 /* five stride-2 convs: the smallest input side that keeps every map real */

/* One row of EfficientNet-B0's table (torchvision _efficientnet_conf). */
typedef struct eff_stage {
    int expand, K, stride, C_in, C_out, repeats;
} eff_stage;

static const eff_stage eff_b0_stages[7] = {
    {1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},  {6, 3, 2, 40, 80, 3},
    {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1},
};

typedef struct eff_arch {
    double width, depth; /* compound scaling (efficientnet_b2: 1.1, 1.2) */
    float drop_path;     /* stochastic_depth_prob */
} eff_arch;

static const eff_arch eff_b2 = {1.1, 1.2, 0.2f};

typedef struct eff_block {
    int stage, index;       /* features.<stage>.<index> */
    int Ci, Ce, Cs, Co, res; /* res: stride 1 and Ci == Co */
    float p;                /* stochastic-depth drop probability */
    int has_expand;
    layer_conv expand, dw, fc1, fc2, project;
    const float *in;        /* (B, Ci, H, W): the previous block's output */
    float *pooled, *scale;  /* (B, Ce): SE squeeze and sigmoid gate */
    float *se_out;          /* (B, Ce, OH, OW) */
    float *mask;            /* (B) drop-path scales */
} eff_block;

typedef struct eff_state {
    int threads, n_blocks, C_last;
    layer_arena arena;
    layer_input input;
    layer_conv stem, last; /* features.0, features.8 */
    eff_block blocks[EFF_MAX_BLOCKS];
    layer_head head;
    float *feat;            /* (B, C_last) pooled features */
    float *dfeat;           /* (B, C_last) */
    float *g[EFF_NGRAD];    /* activation gradients, the largest (B, C, H, W) each */
    float *gs[3];           /* SE gradients, (B, max Ce) each */
    float *workspace;       /* conv im2col scratch, the largest layer's */
    int fwd_B, fwd_T, fwd_train; /* the last successful forward, for backward */
} eff_state;

/* torchvision's _make_divisible(v, 8): round to the nearest multiple of 8,
 * at least 8, and never more than 10% below v. */
static int eff_make_divisible(double v) {
    int d = 8, nv = (int)(v + d / 2.0) / d * d;
    if (nv < d) nv = d;
    if (nv < 0.9 * v) nv += d;
    return nv;
}

static const float *eff_block_out(const eff_block *k) { return k->project.out; }

/* Sets a conv unit's shape (square kernel, torchvision's padding (K - 1) / 2). */
static void eff_unit(layer_conv *u, int C_in, int C_out, int K, int stride, int groups, int bn,
                     int bias, layer_act act) {
    memset(u, 0, sizeof *u);
    u->C_in = C_in;
    u->C_out = C_out;
    u->K = K;
    u->stride = stride;
    u->pad = (K - 1) / 2;
    u->groups = groups;
    u->bn = bn;
    u->bias = bias;
    u->act = act;
}

/* The block list and both tables' entries, in torchvision's state_dict order. */
static sermo_status eff_add_entries(model *m, eff_state *st, const eff_arch *arch, int C_stem_in,
                                    sermo_error *err) {
    char cn[NN_PARAM_NAME_MAX], bn[NN_PARAM_NAME_MAX];
    sermo_status s;
    int C = eff_make_divisible(eff_b0_stages[0].C_in * arch->width);
    eff_unit(&st->stem, C_stem_in, C, 3, 2, 1, 1, 0, LAYER_ACT_SILU);
    if ((s = layer_conv_add(m, &st->stem, 0, "features.0.0", "features.0.1", err))) return s;
    float rate = m->cfg.drop_path > 0.0f ? m->cfg.drop_path : 0.0f; /* resolved; < 0 disables */
    int total = 0;
    for (int i = 0; i < 7; i++) total += (int)ceil(eff_b0_stages[i].repeats * arch->depth);
    if (total > EFF_MAX_BLOCKS)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: more than %d blocks", m->spec->name,
                          EFF_MAX_BLOCKS);
    for (int i = 0; i < 7; i++) {
        const eff_stage *sg = &eff_b0_stages[i];
        int Co = eff_make_divisible(sg->C_out * arch->width);
        int n = (int)ceil(sg->repeats * arch->depth);
        for (int j = 0; j < n; j++) {
            eff_block *k = &st->blocks[st->n_blocks];
            int stride = j ? 1 : sg->stride, blk = i + 1;
            k->stage = blk;
            k->index = j;
            k->Ci = C;
            k->Co = Co;
            k->Ce = eff_make_divisible((double)C * sg->expand);
            k->Cs = C / 4 > 1 ? C / 4 : 1;
            k->res = stride == 1 && C == Co;
            k->p = rate * (float)st->n_blocks / (float)total;
            k->has_expand = k->Ce != C;
            int sub = 0; /* index inside features.<s>.<j>.block */
            if (k->has_expand) {
                eff_unit(&k->expand, C, k->Ce, 1, 1, 1, 1, 0, LAYER_ACT_SILU);
                snprintf(cn, sizeof cn, "features.%d.%d.block.%d.0", blk, j, sub);
                snprintf(bn, sizeof bn, "features.%d.%d.block.%d.1", blk, j, sub);
                if ((s = layer_conv_add(m, &k->expand, blk, cn, bn, err))) return s;
                sub++;
            }
            eff_unit(&k->dw, k->Ce, k->Ce, sg->K, stride, k->Ce, 1, 0, LAYER_ACT_SILU);
            snprintf(cn, sizeof cn, "features.%d.%d.block.%d.0", blk, j, sub);
            snprintf(bn, sizeof bn, "features.%d.%d.block.%d.1", blk, j, sub);
            if ((s = layer_conv_add(m, &k->dw, blk, cn, bn, err))) return s;
            sub++;
            eff_unit(&k->fc1, k->Ce, k->Cs, 1, 1, 1, 0, 1, LAYER_ACT_SILU);
            eff_unit(&k->fc2, k->Cs, k->Ce, 1, 1, 1, 0, 1, LAYER_ACT_NONE);
            snprintf(cn, sizeof cn, "features.%d.%d.block.%d.fc1", blk, j, sub);
            if ((s = layer_conv_add(m, &k->fc1, blk, cn, NULL, err))) return s;
            snprintf(cn, sizeof cn, "features.%d.%d.block.%d.fc2", blk, j, sub);
            if ((s = layer_conv_add(m, &k->fc2, blk, cn, NULL, err))) return s;
            sub++;
            eff_unit(&k->project, k->Ce, Co, 1, 1, 1, 1, 0, LAYER_ACT_NONE);
            snprintf(cn, sizeof cn, "features.%d.%d.block.%d.0", blk, j, sub);
            snprintf(bn, sizeof bn, "features.%d.%d.block.%d.1", blk, j, sub);
            if ((s = layer_conv_add(m, &k->project, blk, cn, bn, err))) return s;
            C = Co;
            st->n_blocks++;
        }
    }
    st->C_last = 4 * C; /* torchvision: last_channel None -> 4 * 352 = 1408 */
    eff_unit(&st->last, C, st->C_last, 1, 1, 1, 1, 0, LAYER_ACT_SILU);
    if ((s = layer_conv_add(m, &st->last, 8, "features.8.0", "features.8.1", err))) return s;
    return layer_head_add(m, &st->head, m->cfg.head, st->C_last, "classifier.1", "classifier", err);
}

/* torchvision's EfficientNet init: every Conv2d kaiming_normal_(fan_out),
 * bias 0; BN 1, 0; the classifier Linear U(+-1/sqrt(out_features)), bias 0.
 * The MLP head is ours, not torchvision's: layer_head_init's torch defaults. */
static void eff_init_values(model *m, eff_state *st) {
    layer_conv_init(m, &st->stem, LAYER_INIT_KAIMING_OUT);
    for (int i = 0; i < st->n_blocks; i++) {
        eff_block *k = &st->blocks[i];
        if (k->has_expand) layer_conv_init(m, &k->expand, LAYER_INIT_KAIMING_OUT);
        layer_conv_init(m, &k->dw, LAYER_INIT_KAIMING_OUT);
        layer_conv_init(m, &k->fc1, LAYER_INIT_KAIMING_OUT);
        layer_conv_init(m, &k->fc2, LAYER_INIT_KAIMING_OUT);
        layer_conv_init(m, &k->project, LAYER_INIT_KAIMING_OUT);
    }
    layer_conv_init(m, &st->last, LAYER_INIT_KAIMING_OUT);
    layer_head_init(m, &st->head);
    if (st->head.kind != MODEL_HEAD_MLP) {
        float *P = m->params.data;
        size_t L = (size_t)st->head.L;
        double r = 1.0 / sqrt((double)L);
        for (size_t i = 0; i < L * (size_t)st->C_last; i++)
            P[st->head.w[0] + i] = (float)((2.0 * sermo_rng_uniform(&m->rng) - 1.0) * r);
        model_init_fill(P + st->head.b[0], L, 0.0f);
    }
}

/* Conv sizes for a batch of B inputs of T frames. */
static sermo_status eff_plan(eff_state *st, const model_config *cfg, int B, int T,
                             sermo_error *err) {
    int H, W;
    layer_input_dims(&st->input, cfg->n_bins, T, &H, &W);
    sermo_status s = layer_conv_plan(&st->stem, B, H, W, err);
    if (s) return s;
    H = st->stem.conv.OH;
    W = st->stem.conv.OW;
    for (int i = 0; i < st->n_blocks; i++) {
        eff_block *k = &st->blocks[i];
        if ((k->has_expand && (s = layer_conv_plan(&k->expand, B, H, W, err))) ||
            (s = layer_conv_plan(&k->dw, B, H, W, err)))
            return s;
        H = k->dw.conv.OH;
        W = k->dw.conv.OW;
        if ((s = layer_conv_plan(&k->fc1, B, 1, 1, err)) ||
            (s = layer_conv_plan(&k->fc2, B, 1, 1, err)) ||
            (s = layer_conv_plan(&k->project, B, H, W, err)))
            return s;
    }
    return layer_conv_plan(&st->last, B, H, W, err);
}

/* Carves the arena for the current (largest) plan; counts when its base is NULL. */
static void eff_layout(eff_state *st, const model_config *cfg) {
    layer_arena *a = &st->arena;
    size_t B = (size_t)cfg->max_batch, g_max = 0, ws_max = 0, ce_max = 0;
    layer_input_layout(&st->input, a, cfg->max_batch, cfg->n_bins, cfg->max_frames);
    layer_conv *units[5];
#define EFF_SEE(u)                                                        \
    do {                                                                  \
        size_t n_ = layer_conv_numel(u);                                  \
        size_t w_ = nn_conv2d_workspace_size(&(u)->conv, st->threads);    \
        if (n_ > g_max) g_max = n_;                                       \
        if (w_ > ws_max) ws_max = w_;                                     \
    } while (0)
    layer_conv_layout(&st->stem, a);
    EFF_SEE(&st->stem);
    for (int i = 0; i < st->n_blocks; i++) {
        eff_block *k = &st->blocks[i];
        int n = 0;
        if (k->has_expand) units[n++] = &k->expand;
        units[n++] = &k->dw;
        units[n++] = &k->fc1;
        units[n++] = &k->fc2;
        units[n++] = &k->project;
        for (int j = 0; j < n; j++) {
            layer_conv_layout(units[j], a);
            EFF_SEE(units[j]);
        }
        k->pooled = layer_take(a, B * k->Ce);
        k->scale = layer_take(a, B * k->Ce);
        k->se_out = layer_take(a, layer_conv_numel(&k->dw));
        k->mask = layer_take(a, B);
        k->in = i ? eff_block_out(&st->blocks[i - 1]) : st->stem.out;
        if ((size_t)k->Ce > ce_max) ce_max = (size_t)k->Ce;
    }
    layer_conv_layout(&st->last, a);
    EFF_SEE(&st->last);
#undef EFF_SEE
    size_t nl = B * (size_t)st->C_last;
    st->feat = layer_take(a, nl);
    st->dfeat = layer_take(a, nl);
    layer_head_layout(&st->head, a, cfg->max_batch);
    for (int i = 0; i < EFF_NGRAD; i++) st->g[i] = layer_take(a, g_max);
    for (int i = 0; i < 3; i++) st->gs[i] = layer_take(a, B * ce_max);
    st->workspace = layer_take(a, ws_max);
}

static void eff_destroy(model *m) {
    eff_state *st = m->state;
    if (!st) return;
    layer_arena_free(&st->arena);
    free(st);
    m->state = NULL;
}

/* Resolves the family options of m->cfg (0 / MODEL_HEAD_DEFAULT: defaults)
 * and records them back, then checks them. */
static sermo_status eff_resolve(model *m, const eff_arch *arch, sermo_error *err) {
    model_config *c = &m->cfg;
    const char *name = m->spec->name;
    if (c->channels == 0) c->channels = 3;
    if (c->image_size == 0) c->image_size = -1;
    if (c->drop_path == 0.0f) c->drop_path = arch->drop_path;
    if (c->head == MODEL_HEAD_DEFAULT) c->head = MODEL_HEAD_LINEAR;
    if (c->channels != 1 && c->channels != 3)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: channels is %d, expected 1 or 3", name,
                          c->channels);
    if (c->in_channels != 1 && c->in_channels != c->channels)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: in_channels %d cannot be repeated to %d channels", name,
                          c->in_channels, c->channels);
    if (c->image_size > 4096 || (c->image_size > 0 && c->image_size < EFF_STRIDE))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: image_size is %d, expected %d to 4096 (or 0 to keep F x T)",
                          name, c->image_size, EFF_STRIDE);
    if (!(c->drop_path <= 1.0f)) /* also rejects NaN; < 0 disables */
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: drop_path is %g, expected at most 1",
                          name, (double)c->drop_path);
    if (c->head != MODEL_HEAD_LINEAR && c->head != MODEL_HEAD_MLP)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: unknown head %d", name, c->head);
    if (c->image_size < 0 && (c->n_bins < EFF_STRIDE || c->max_frames < EFF_STRIDE))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: n_bins %d and max_frames %d must be at least %d "
                          "(the network's total stride), or set image_size",
                          name, c->n_bins, c->max_frames, EFF_STRIDE);
    return SERMO_OK;
}

static sermo_status eff_create(model *m, const eff_arch *arch, sermo_error *err) {
    const char *name = m->spec->name;
    sermo_status s = eff_resolve(m, arch, err);
    if (s) return s;
    const model_config *cfg = &m->cfg;
    eff_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", name);
    m->state = st;
    st->threads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    st->input = (layer_input){.C_in = cfg->in_channels, .C = cfg->channels,
                              .size = cfg->image_size > 0 ? cfg->image_size : 0};
    if ((s = eff_add_entries(m, st, arch, cfg->channels, err)) ||
        (s = nn_params_finalise(&m->params, err)) || (s = nn_params_finalise(&m->buffers, err)))
        return s;
    eff_init_values(m, st);
    if ((s = eff_plan(st, cfg, cfg->max_batch, cfg->max_frames, err))) return s;
    eff_layout(st, cfg); /* counting */
    if ((s = layer_arena_alloc(&st->arena, name, err))) return s;
    eff_layout(st, cfg);
    return SERMO_OK;
}

static int eff_min_frames(const model_config *cfg) {
    return cfg->image_size > 0 ? 1 : EFF_STRIDE;
}

/* out += in over n floats: the residual connection. */
static void eff_add(float *out, const float *in, size_t n, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] += in[i];
}

static void eff_block_forward(model *m, eff_state *st, eff_block *k, int B, int train) {
    float *ws = st->workspace;
    int T = st->threads;
    const float *h = k->in;
    if (k->has_expand) {
        layer_conv_forward(m, &k->expand, h, train, ws, T);
        h = k->expand.out;
    }
    layer_conv_forward(m, &k->dw, h, train, ws, T);
    const float *d = k->dw.out; /* (B, Ce, OH, OW) */
    int HW = k->dw.conv.OH * k->dw.conv.OW;
    nn_global_avgpool_forward(k->pooled, d, B, k->Ce, HW);
    layer_conv_forward(m, &k->fc1, k->pooled, train, ws, T);
    layer_conv_forward(m, &k->fc2, k->fc1.out, train, ws, T);
    nn_sigmoid_forward(k->scale, k->fc2.out, (size_t)B * k->Ce);
    nn_channel_scale_forward(k->se_out, d, k->scale, B, k->Ce, HW);
    layer_conv_forward(m, &k->project, k->se_out, train, ws, T);
    if (!k->res) return;
    float *y = k->project.out;
    size_t D = (size_t)k->Co * HW;
    /* Identity (mask 1) outside training or at p = 0 (as stochastic_depth),
     * without touching the rng or the activations. */
    if (train && k->p > 0.0f) nn_drop_path_forward(y, k->mask, y, B, D, k->p, train, &m->rng);
    else model_init_fill(k->mask, (size_t)B, 1.0f);
    eff_add(y, k->in, (size_t)B * D, T);
}

static int eff_forward(model *m, const float *x, int B, int T, int train) {
    eff_state *st = m->state;
    const model_config *cfg = &m->cfg;
    st->fwd_train = 0;
    if (T < eff_min_frames(cfg) || eff_plan(st, cfg, B, T, NULL)) return -1;
    layer_input_forward(&st->input, x, B, cfg->n_bins, T);
    layer_conv_forward(m, &st->stem, st->input.x, train, st->workspace, st->threads);
    for (int i = 0; i < st->n_blocks; i++) eff_block_forward(m, st, &st->blocks[i], B, train);
    const nn_conv2d *c = &st->last.conv;
    layer_conv_forward(m, &st->last, eff_block_out(&st->blocks[st->n_blocks - 1]), train,
                       st->workspace, st->threads);
    nn_global_avgpool_forward(st->feat, st->last.out, B, st->C_last, c->OH * c->OW);
    layer_head_forward(m, &st->head, st->feat, B, train);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

/* A gradient buffer that is none of the live ones (NULL entries ignored);
 * EFF_NGRAD covers the most live at once (the depthwise unit's backward:
 * block dinput, dout, dinput, two scratch). */
static float *eff_spare(eff_state *st, const float *a, const float *b, const float *c,
                        const float *d) {
    for (int i = 0; i < EFF_NGRAD; i++) {
        float *g = st->g[i];
        if (g != a && g != b && g != c && g != d) return g;
    }
    return NULL; /* unreachable with at most 4 live buffers */
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

/* dy (B, Co, OH, OW), the block output's gradient in one of st->g, ->
 * returns the block input's gradient (B, Ci, H, W) in another; dy's buffer
 * is free afterwards. */
static float *eff_block_backward(model *m, eff_state *st, const eff_block *k, const float *dy,
                                 int B) {
    float *ws = st->workspace, *s0, *s1;
    int T = st->threads, HW = k->dw.conv.OH * k->dw.conv.OW;
    /* din: the block input's gradient; with a residual it starts as dy (the
     * identity path) and the first unit's backward adds the branch's. */
    float *din = NULL;
    const float *dproj = dy; /* the project unit's output gradient */
    if (k->res) {
        size_t n = (size_t)B * k->Co * HW;
        din = eff_spare(st, dy, NULL, NULL, NULL);
        memcpy(din, dy, sizeof(float) * n);
        if (k->p > 0.0f) {
            float *t = eff_spare(st, dy, din, NULL, NULL);
            zero(t, n);
            nn_drop_path_backward(t, dy, k->mask, B, (size_t)k->Co * HW);
            dproj = t;
        }
    }
    /* project (BN, no activation: scratch1 only): dproj -> dse (B, Ce, OH, OW). */
    float *dse = eff_spare(st, dproj, din, NULL, NULL);
    s1 = eff_spare(st, dproj, din, dse, NULL);
    layer_conv_backward(m, &k->project, dse, NN_GRAD_OVERWRITE, dproj, k->se_out, NULL, s1, ws, T);
    /* SE, out = d * sigmoid(fc2(silu(fc1(avgpool(d))))) with d = dw.out:
     * the direct path and the gate's both reach ddw. */
    float *ddw = eff_spare(st, dse, din, NULL, NULL);
    float *gs0 = st->gs[0], *gs1 = st->gs[1], *gs2 = st->gs[2];
    size_t nce = (size_t)B * k->Ce;
    zero(ddw, nce * HW);
    zero(gs0, nce);
    nn_channel_scale_backward(ddw, gs0, dse, k->dw.out, k->scale, B, k->Ce, HW);
    zero(gs1, nce);
    nn_sigmoid_backward(gs1, gs0, k->scale, nce);
    layer_conv_backward(m, &k->fc2, gs2, NN_GRAD_OVERWRITE, gs1, k->fc1.out, NULL, NULL, ws, T);
    layer_conv_backward(m, &k->fc1, gs1, NN_GRAD_OVERWRITE, gs2, k->pooled, gs0, NULL, ws, T);
    nn_global_avgpool_backward(ddw, gs1, B, k->Ce, HW);
    /* depthwise, then expand. The block's first unit adds into din when the
     * residual put dy there; every other dinput overwrites a spare buffer. */
    const float *h = k->has_expand ? k->expand.out : k->in;
    float *dh = !k->has_expand && din ? din : eff_spare(st, ddw, din, NULL, NULL);
    s0 = eff_spare(st, ddw, din, dh, NULL);
    s1 = eff_spare(st, ddw, din, dh, s0);
    layer_conv_backward(m, &k->dw, dh, dh == din ? NN_GRAD_ACCUMULATE : NN_GRAD_OVERWRITE, ddw, h,
                        s0, s1, ws, T);
    if (!k->has_expand) return dh;
    nn_grad_mode mode = din ? NN_GRAD_ACCUMULATE : NN_GRAD_OVERWRITE;
    if (!din) din = eff_spare(st, dh, NULL, NULL, NULL);
    s0 = eff_spare(st, dh, din, NULL, NULL);
    s1 = eff_spare(st, dh, din, s0, NULL);
    layer_conv_backward(m, &k->expand, din, mode, dh, k->in, s0, s1, ws, T);
    return din;
}

static void eff_backward(model *m, const float *dlogits, int B, int T) {
    eff_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    const nn_conv2d *c = &st->last.conv;
    layer_head_backward(m, &st->head, st->dfeat, dlogits, st->feat, B);
    float *g = st->g[0];
    zero(g, layer_conv_numel(&st->last));
    nn_global_avgpool_backward(g, st->dfeat, B, st->C_last, c->OH * c->OW);
    float *dy = st->g[1];
    layer_conv_backward(m, &st->last, dy, NN_GRAD_OVERWRITE, g,
                        eff_block_out(&st->blocks[st->n_blocks - 1]), st->g[2], st->g[3],
                        st->workspace, st->threads);
    for (int i = st->n_blocks - 1; i >= 0; i--) dy = eff_block_backward(m, st, &st->blocks[i], dy, B);
    float *s0 = eff_spare(st, dy, NULL, NULL, NULL), *s1 = eff_spare(st, dy, s0, NULL, NULL);
    layer_conv_backward(m, &st->stem, NULL, NN_GRAD_OVERWRITE, dy, st->input.x, s0, s1,
                        st->workspace, st->threads);
}

static sermo_status eff_b2_create(model *m, sermo_error *err) { return eff_create(m, &eff_b2, err); }

const model_spec model_spec_efficientnet_b2 = {
    .name = "efficientnet_b2",
    .description = "torchvision EfficientNet-B2: stem, 23 MBConv blocks with squeeze-excitation "
                   "and stochastic depth, 1x1 conv to 1408, average pool, dropout, linear",
    /* Batch 16: at 128 mels x 3 s (300 frames) the process peaks at ~2 GB
     * (activations kept for backward). 128 mels leave the last maps 4 rows
     * high after the total stride of 32; the rest as the other families. */
    .defaults = {.batch_size = 16, .epochs = 30, .patience = 10, .n_mels = 128, .hop_length = 160,
                 .lr = 1e-3f},
    .create = eff_b2_create,
    .forward = eff_forward,
    .backward = eff_backward,
    .destroy = eff_destroy,
};
