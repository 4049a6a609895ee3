/* cnn.c: the plain CNN family. Each block is n_convs x [conv 3x3 (stride 1,
 * padding 1, no bias) -> BatchNorm2d -> ReLU] followed by MaxPool2d(2, 2);
 * then global average pool, dropout (cfg.dropout) and a linear classifier.
 * A family member is a table of block specs: cnn3 is one conv per block,
 * cnn9 three (32, 64 and 128 channels; model.width W gives W, 2W, 4W).
 *
 * Convs carry no bias: the BatchNorm after each one subtracts the
 * per-channel batch mean, so a bias cannot change the output and would get
 * only rounding-noise gradients (which AdamW then amplifies).
 *
 * Names follow the PyTorch module
 *   features = nn.Sequential(Conv2d, BatchNorm2d, ReLU, [Conv2d, BN, ReLU]..., MaxPool2d, ...)
 *   pool = AdaptiveAvgPool2d(1); dropout = Dropout(p); classifier = Linear(C_last, L)
 * (tests/models/gen_fixtures.py builds it), so its state_dict maps 1:1:
 *   features.<i>.weight               conv (C_out, C_in, 3, 3), i = its Sequential index
 *   features.<i+1>.weight, .bias      BN affine (C_out)          } m->params
 *   classifier.weight (L, C_last), classifier.bias (L)            }
 *   features.<i+1>.running_mean, .running_var (C_out)             m->buffers
 * ReLU is at i+2 and MaxPool2d at i+3 after a block's last conv. cnn3 has
 * convs at 0, 4, 8 and BNs at 1, 5, 9. torch's BN also stores
 * num_batches_tracked; with a fixed momentum it is unused, so it is not kept.
 * Weight decay applies to conv and classifier weights only.
 *
 * Dimension letters: B batch, C channels, F mel rows, T frames (the input's
 * H and W), H/W a layer's height/width, L classes.
 *
 * Memory: every activation is allocated at create for (max_batch,
 * max_frames); a call with smaller B or T re-runs the (cheap) conv/pool
 * setup and uses the front of the same buffers. Per conv: its output (kept
 * for BN backward), then either the pooled output and argmax (a block's last
 * unit: BN, ReLU and max-pool run fused, nn_bn_relu_maxpool2d_*, so the
 * full-size BN output never exists) or the BN output with ReLU applied in
 * place (kept for ReLU backward, since relu(y) > 0 exactly where y > 0, and
 * as the next layer's input). Backward ping-pongs two activation-gradient
 * buffers of the largest activation's size, and all convs share one im2col
 * workspace. */
#include "models/layers.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CNN_MAX_UNITS 32
#define CNN_ALIGN 16                      /* floats: 64-byte aligned sub-buffers */
#define CNN_MAX_ARENA ((size_t)1 << 36)   /* floats (256 GiB): beyond this a config is a mistake */

typedef struct cnn_block {
    int n_convs;  /* conv-BN-ReLU units before the block's max-pool */
    int channels; /* C_out of each of them */
} cnn_block;

typedef struct cnn_arch {
    int n_blocks;
    const cnn_block *blocks;
} cnn_arch;

static const cnn_block cnn3_blocks[] = {{1, 32}, {1, 64}, {1, 128}};
static const cnn_arch cnn3_arch = {3, cnn3_blocks};
static const cnn_block cnn9_blocks[] = {{3, 32}, {3, 64}, {3, 128}};
static const cnn_arch cnn9_arch = {3, cnn9_blocks};

/* One conv -> BN -> ReLU [-> max-pool]. */
typedef struct cnn_unit {
    int C_in, C_out, pool_after;
    size_t w, bn_w, bn_b;    /* offsets into m->params */
    size_t rmean, rvar;      /* offsets into m->buffers */
    nn_conv2d conv;          /* sizes for the current call's B, T */
    nn_pool2d pool;
    const float *in;         /* (B, C_in, H, W): the input copy or the previous unit's output */
    float *conv_out;         /* (B, C_out, H, W) */
    float *act;              /* (B, C_out, H, W) BN output, ReLU in place; unless pool_after */
    float *mean, *rstd;      /* (C_out) batch (train) or running (eval) statistics */
    float *pooled;           /* (B, C_out, H/2, W/2) when pool_after */
    int32_t *argmax;         /* (B, C_out, H/2, W/2) when pool_after */
} cnn_unit;

typedef struct cnn_state {
    int n_units, threads, C_last, min_frames;
    cnn_unit units[CNN_MAX_UNITS];
    size_t fc_w, fc_b;       /* offsets into m->params */
    float *x;                /* (B, C, F, T) copy of the input */
    float *gap;              /* (B, C_last) */
    float *drop;             /* (B, C_last) */
    float *mask;             /* (B, C_last) dropout scale, 0 or 1/(1-p) */
    float *dgap, *ddrop;     /* (B, C_last) */
    float *g[2];             /* activation gradients, the largest (B, C, H, W) each */
    float *workspace;        /* conv im2col scratch, the largest layer's */
    float *arena;            /* owns every float buffer above */
    int32_t *iarena;         /* owns the argmax buffers */
    int fwd_B, fwd_T, fwd_train; /* the last successful forward, for backward */
} cnn_state;

static const float *unit_out(const cnn_unit *u) { return u->pool_after ? u->pooled : u->act; }

static size_t round_up(size_t n) { return (n + CNN_ALIGN - 1) / CNN_ALIGN * CNN_ALIGN; }

/* Conv and pool sizes for a batch of B inputs of T frames. */
static sermo_status cnn_plan(cnn_state *st, const model_config *cfg, int B, int T,
                             sermo_error *err) {
    int H = cfg->n_bins, W = T;
    for (int i = 0; i < st->n_units; i++) {
        cnn_unit *u = &st->units[i];
        sermo_status s = nn_conv2d_init(&u->conv, B, u->C_in, H, W, u->C_out, 3, 1, 1, 1, 1, err);
        if (s) return s;
        H = u->conv.OH;
        W = u->conv.OW;
        if (u->pool_after) {
            if ((s = nn_pool2d_init(&u->pool, B, u->C_out, H, W, 2, 2, 0, err))) return s;
            H = u->pool.OH;
            W = u->pool.OW;
        }
    }
    return SERMO_OK;
}

static size_t conv_numel(const nn_conv2d *c) {
    return (size_t)c->B * (size_t)c->C_out * (size_t)c->OH * (size_t)c->OW;
}

static size_t pool_numel(const nn_pool2d *p) {
    return (size_t)p->B * (size_t)p->C * (size_t)p->OH * (size_t)p->OW;
}

/* Carves the arenas for the current (largest) plan. With base NULL only
 * counts: *nf floats and *ni int32s. */
static void cnn_layout(cnn_state *st, const model_config *cfg, float *base, int32_t *ibase,
                       size_t *nf, size_t *ni) {
    size_t f = 0, k = 0, g_max = 0, ws_max = 0;
#define TAKE(ptr, n)                                   \
    do {                                               \
        if (base) (ptr) = base + f;                    \
        f += round_up(n);                              \
    } while (0)
    size_t B = (size_t)cfg->max_batch;
    TAKE(st->x, B * (size_t)cfg->in_channels * (size_t)cfg->n_bins * (size_t)cfg->max_frames);
    for (int i = 0; i < st->n_units; i++) {
        cnn_unit *u = &st->units[i];
        size_t n = conv_numel(&u->conv);
        TAKE(u->conv_out, n);
        if (!u->pool_after) TAKE(u->act, n);
        TAKE(u->mean, (size_t)u->C_out);
        TAKE(u->rstd, (size_t)u->C_out);
        if (u->pool_after) {
            TAKE(u->pooled, pool_numel(&u->pool));
            if (ibase) u->argmax = ibase + k;
            k += round_up(pool_numel(&u->pool));
        }
        if (n > g_max) g_max = n;
        size_t ws = nn_conv2d_workspace_size(&u->conv, st->threads);
        if (ws > ws_max) ws_max = ws;
        if (base) u->in = i ? unit_out(&st->units[i - 1]) : st->x;
    }
    size_t nl = B * (size_t)st->C_last;
    TAKE(st->gap, nl);
    TAKE(st->drop, nl);
    TAKE(st->mask, nl);
    TAKE(st->dgap, nl);
    TAKE(st->ddrop, nl);
    TAKE(st->g[0], g_max);
    TAKE(st->g[1], g_max);
    TAKE(st->workspace, ws_max);
#undef TAKE
    *nf = f;
    *ni = k;
}

/* Entries of both tables, in Sequential order. */
static sermo_status cnn_add_entries(model *m, cnn_state *st, const cnn_arch *arch,
                                    sermo_error *err) {
    nn_params *P = &m->params, *R = &m->buffers;
    int idx = 0, C = m->cfg.in_channels, n_pools = 0;
    sermo_status s;
    for (int b = 0; b < arch->n_blocks; b++) {
        const cnn_block *blk = &arch->blocks[b];
        for (int k = 0; k < blk->n_convs; k++) {
            if (st->n_units == CNN_MAX_UNITS)
                return sermo_fail(err, SERMO_ERR_INVALID, "model %s: more than %d convs",
                                  m->spec->name, CNN_MAX_UNITS);
            cnn_unit *u = &st->units[st->n_units++];
            u->C_in = C;
            u->C_out = blk->channels * m->cfg.width / 32; /* the table is at the default width */
            u->pool_after = k == blk->n_convs - 1;
            int64_t wshape[4] = {u->C_out, u->C_in, 3, 3}, cshape[1] = {u->C_out};
            /* Freezing by count (train.freeze_blocks) counts these pooled blocks. */
            if ((s = layer_add_entry(P, &u->w, b, 4, wshape, 1, err, "features.%d.weight", idx)) ||
                (s = layer_add_entry(P, &u->bn_w, b, 1, cshape, 0, err, "features.%d.weight", idx + 1)) ||
                (s = layer_add_entry(P, &u->bn_b, b, 1, cshape, 0, err, "features.%d.bias", idx + 1)) ||
                (s = layer_add_entry(R, &u->rmean, b, 1, cshape, 0, err, "features.%d.running_mean",
                                     idx + 1)) ||
                (s = layer_add_entry(R, &u->rvar, b, 1, cshape, 0, err, "features.%d.running_var",
                                     idx + 1)))
                return s;
            idx += 3; /* conv, BN, ReLU */
            C = u->C_out;
        }
        idx += 1; /* MaxPool2d */
        n_pools++;
    }
    st->C_last = C;
    st->min_frames = 1 << n_pools;
    int64_t fshape[2] = {m->cfg.n_classes, C}, bshape[1] = {m->cfg.n_classes};
    if ((s = layer_add_entry(P, &st->fc_w, -1, 2, fshape, 1, err, "classifier.weight")) ||
        (s = layer_add_entry(P, &st->fc_b, -1, 1, bshape, 0, err, "classifier.bias")))
        return s;
    return SERMO_OK;
}

/* torch's defaults, in table order (see model_init_torch_default). */
static void cnn_init_values(model *m, const cnn_state *st) {
    float *P = m->params.data, *R = m->buffers.data;
    for (int i = 0; i < st->n_units; i++) {
        const cnn_unit *u = &st->units[i];
        size_t C = (size_t)u->C_out;
        model_init_torch_default(m, P + u->w, C * (size_t)u->C_in * 9, (int64_t)u->C_in * 9);
        model_init_fill(P + u->bn_w, C, 1.0f);
        model_init_fill(P + u->bn_b, C, 0.0f);
        model_init_fill(R + u->rmean, C, 0.0f);
        model_init_fill(R + u->rvar, C, 1.0f);
    }
    size_t L = (size_t)m->cfg.n_classes;
    model_init_torch_default(m, P + st->fc_w, L * (size_t)st->C_last, st->C_last);
    model_init_torch_default(m, P + st->fc_b, L, st->C_last);
}

static void cnn_destroy(model *m) {
    cnn_state *st = m->state;
    if (!st) return;
    free(st->arena);
    free(st->iarena);
    free(st);
    m->state = NULL;
}

static sermo_status cnn_create(model *m, const cnn_arch *arch, sermo_error *err) {
    const model_config *cfg = &m->cfg;
    const char *name = m->spec->name;
    cnn_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", name);
    m->state = st;
    st->threads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    sermo_status s = cnn_add_entries(m, st, arch, err);
    if (s) return s;
    if (cfg->n_bins < st->min_frames || cfg->max_frames < st->min_frames)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: n_bins %d and max_frames %d must be at least %d "
                          "(%d max-pools of 2)",
                          name, cfg->n_bins, cfg->max_frames, st->min_frames, arch->n_blocks);
    if ((s = nn_params_finalise(&m->params, err)) || (s = nn_params_finalise(&m->buffers, err)))
        return s;
    cnn_init_values(m, st);
    if ((s = cnn_plan(st, cfg, cfg->max_batch, cfg->max_frames, err))) return s;
    /* Count in double first: size_t products of the largest configs could wrap. */
    double approx = (double)cfg->max_batch * cfg->n_bins * cfg->max_frames *
                    (cfg->in_channels + 3.0 * st->units[0].C_out);
    size_t nf = 0, ni = 0;
    if (approx < (double)CNN_MAX_ARENA) cnn_layout(st, cfg, NULL, NULL, &nf, &ni);
    if (approx >= (double)CNN_MAX_ARENA || nf > CNN_MAX_ARENA)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: activations for max_batch %d x max_frames %d x n_bins %d "
                          "are too large",
                          name, cfg->max_batch, cfg->max_frames, cfg->n_bins);
    st->arena = aligned_alloc(64, sizeof(float) * nf);
    st->iarena = aligned_alloc(64, sizeof(int32_t) * (ni ? ni : CNN_ALIGN));
    if (!st->arena || !st->iarena)
        return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate %.1f MiB of activations",
                          name, (double)(sizeof(float) * nf + sizeof(int32_t) * ni) / 1048576.0);
    cnn_layout(st, cfg, st->arena, st->iarena, &nf, &ni);
    return SERMO_OK;
}

static int cnn_forward(model *m, const float *x, int B, int T, int train) {
    cnn_state *st = m->state;
    const model_config *cfg = &m->cfg;
    st->fwd_train = 0;
    if (T < st->min_frames || cnn_plan(st, cfg, B, T, NULL)) return -1;
    const float *P = m->params.data;
    float *R = m->buffers.data;
    memcpy(st->x, x, sizeof(float) * (size_t)B * cfg->in_channels * cfg->n_bins * T);
    for (int i = 0; i < st->n_units; i++) {
        cnn_unit *u = &st->units[i];
        const nn_conv2d *c = &u->conv;
        int HW = c->OH * c->OW;
        nn_conv2d_forward_auto(m->dnnl, u->conv_out, u->in, P + u->w, NULL, c, st->workspace, st->threads);
        if (u->pool_after) /* inference keeps no argmax */
            nn_bn_relu_maxpool2d_forward_fast(u->pooled, train ? u->argmax : NULL, u->mean,
                                              u->rstd, R + u->rmean, R + u->rvar, u->conv_out,
                                              P + u->bn_w, P + u->bn_b, &u->pool, NN_BN_EPS,
                                              NN_BN_MOMENTUM, train, st->threads);
        else
            nn_batchnorm2d_forward_fast(u->act, u->mean, u->rstd, R + u->rmean, R + u->rvar,
                                        u->conv_out, P + u->bn_w, P + u->bn_b, B, u->C_out, HW,
                                        NN_BN_EPS, NN_BN_MOMENTUM, train, 1, st->threads);
    }
    const cnn_unit *last = &st->units[st->n_units - 1]; /* a block's last unit pools */
    size_t nl = (size_t)B * st->C_last;
    nn_global_avgpool_forward(st->gap, last->pooled, B, st->C_last, last->pool.OH * last->pool.OW);
    nn_dropout_forward(st->drop, st->mask, st->gap, nl, cfg->dropout, train, &m->rng);
    nn_linear_forward_fast(m->logits, st->drop, P + st->fc_w, P + st->fc_b, B, st->C_last,
                           cfg->n_classes);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

static void cnn_backward(model *m, const float *dlogits, int B, int T) {
    cnn_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    const float *P = m->params.data;
    float *G = m->params.grad;
    size_t nl = (size_t)B * st->C_last;
    zero(st->ddrop, nl);
    nn_linear_backward_fast(st->ddrop, G + st->fc_w, G + st->fc_b, dlogits, st->drop,
                            P + st->fc_w, B, st->C_last, m->cfg.n_classes);
    zero(st->dgap, nl);
    nn_dropout_backward(st->dgap, st->ddrop, st->mask, nl);
    /* g: the gradient flowing down; o: the other buffer, which each op below
     * OVERWRITES (nn_grad_mode: it holds nothing of this step, so the fast
     * kernels zero it plane by plane, cache-hot, instead of a full memset),
     * then swapped in. The ReLU is fused into the BN ops; its mask is act > 0,
     * or pooled > 0 where the pool is fused too. */
    float *g = st->g[0], *o = st->g[1], *t;
#define SWAP() (t = g, g = o, o = t)
    const cnn_unit *last = &st->units[st->n_units - 1];
    zero(g, pool_numel(&last->pool));
    nn_global_avgpool_backward(g, st->dgap, B, st->C_last, last->pool.OH * last->pool.OW);
    for (int i = st->n_units - 1; i >= 0; i--) {
        const cnn_unit *u = &st->units[i];
        const nn_conv2d *c = &u->conv;
        if (u->pool_after)
            nn_bn_relu_maxpool2d_backward_fast(o, G + u->bn_w, G + u->bn_b, g, u->argmax,
                                               u->pooled, u->mean, u->rstd, u->conv_out,
                                               P + u->bn_w, &u->pool, 1, NN_GRAD_OVERWRITE,
                                               st->threads);
        else
            nn_batchnorm2d_backward_fast(o, G + u->bn_w, G + u->bn_b, g, u->mean, u->rstd,
                                         u->conv_out, P + u->bn_w, u->act, B, u->C_out,
                                         c->OH * c->OW, 1, NN_GRAD_OVERWRITE, st->threads);
        SWAP();
        nn_conv2d_backward_auto(m->dnnl, i > 0 ? o : NULL, G + u->w, NULL, g, u->in, P + u->w, c,
                                st->workspace, st->threads, NN_GRAD_OVERWRITE);
        SWAP();
    }
#undef SWAP
}

static sermo_status cnn3_create(model *m, sermo_error *err) {
    return cnn_create(m, &cnn3_arch, err);
}

static sermo_status cnn9_create(model *m, sermo_error *err) {
    return cnn_create(m, &cnn9_arch, err);
}

const model_spec model_spec_cnn3 = {
    .name = "cnn3",
    .description = "3 blocks of conv3x3-BN-ReLU-maxpool2 (32/64/128 channels), "
                   "global average pool, dropout, linear",
    .defaults = {.batch_size = 32, .epochs = 30, .patience = 10, .n_mels = 64, .hop_length = 160},
    .width = 32,
    .create = cnn3_create,
    .forward = cnn_forward,
    .backward = cnn_backward,
    .destroy = cnn_destroy,
};

const model_spec model_spec_cnn9 = {
    .name = "cnn9",
    .description = "3 blocks of 3 x conv3x3-BN-ReLU then maxpool2 (32/64/128 channels), "
                   "global average pool, dropout, linear",
    .defaults = {.batch_size = 32, .epochs = 30, .patience = 10, .n_mels = 64, .hop_length = 160},
    .width = 32,
    .create = cnn9_create,
    .forward = cnn_forward,
    .backward = cnn_backward,
    .destroy = cnn_destroy,
};
