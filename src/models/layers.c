/* layers.c: the building blocks of layers.h. */
#include "models/layers.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAYER_ALIGN 16                     /* floats: 64-byte aligned slices */
#define LAYER_MAX_ARENA ((size_t)1 << 36)  /* floats (256 GiB): beyond this a config is a mistake */

/* ------------------------------------------------------------------ arena */

float *layer_take(layer_arena *a, size_t n) {
    float *p = a->base ? a->base + a->used : NULL;
    /* Saturate instead of wrapping, so an absurd plan fails in layer_arena_alloc. */
    size_t r = n > LAYER_MAX_ARENA ? LAYER_MAX_ARENA : (n + LAYER_ALIGN - 1) / LAYER_ALIGN * LAYER_ALIGN;
    a->used = a->used + r > LAYER_MAX_ARENA ? LAYER_MAX_ARENA + 1 : a->used + r;
    return p;
}

int32_t *layer_take_i32(layer_arena *a, size_t n) {
    _Static_assert(sizeof(int32_t) == sizeof(float), "argmax planes share the float arena");
    return (int32_t *)(void *)layer_take(a, n);
}

sermo_status layer_arena_alloc(layer_arena *a, const char *model_name, sermo_error *err) {
    if (a->used > LAYER_MAX_ARENA)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: activations past 256 GiB; lower max_batch, frames or n_bins",
                          model_name);
    size_t n = a->used ? a->used : LAYER_ALIGN;
    a->base = aligned_alloc(64, sizeof(float) * n);
    if (!a->base)
        return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate %.1f MiB of activations",
                          model_name, (double)(sizeof(float) * n) / 1048576.0);
    a->cap = n;
    a->used = 0;
    return SERMO_OK;
}

void layer_arena_free(layer_arena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- entries */

sermo_status layer_add_entry(nn_params *p, size_t *offset, int32_t block, int32_t ndim,
                             const int64_t *shape, int32_t decay, sermo_error *err,
                             const char *fmt, ...) {
    char name[NN_PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof name)
        return sermo_fail(err, SERMO_ERR_INVALID, "tensor name '%s...' is too long", name);
    int32_t i = nn_params_add(p, name, ndim, shape, 0, decay, err);
    if (i < 0) return err ? err->status : SERMO_ERR_INVALID;
    p->entries[i].block = block;
    *offset = p->entries[i].offset;
    return SERMO_OK;
}

/* ------------------------------------------------------- conv [BN] [act] */

sermo_status layer_conv_add(model *m, layer_conv *u, int32_t block, const char *conv_name,
                            const char *bn_name, sermo_error *err) {
    int64_t wshape[4] = {u->C_out, u->C_in / (u->groups > 0 ? u->groups : 1), u->K, u->K};
    int64_t cshape[1] = {u->C_out};
    nn_params *P = &m->params, *R = &m->buffers;
    sermo_status s;
    if (u->groups < 1 || u->C_in % u->groups || u->C_out % u->groups)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: groups %d must divide %d and %d", conv_name,
                          u->groups, u->C_in, u->C_out);
    if ((s = layer_add_entry(P, &u->w, block, 4, wshape, 1, err, "%s.weight", conv_name)) ||
        (u->bias && (s = layer_add_entry(P, &u->b, block, 1, cshape, 0, err, "%s.bias", conv_name))))
        return s;
    if (!u->bn) return SERMO_OK;
    if ((s = layer_add_entry(P, &u->bn_w, block, 1, cshape, 0, err, "%s.weight", bn_name)) ||
        (s = layer_add_entry(P, &u->bn_b, block, 1, cshape, 0, err, "%s.bias", bn_name)) ||
        (s = layer_add_entry(R, &u->rmean, block, 1, cshape, 0, err, "%s.running_mean", bn_name)) ||
        (s = layer_add_entry(R, &u->rvar, block, 1, cshape, 0, err, "%s.running_var", bn_name)))
        return s;
    return SERMO_OK;
}

void layer_conv_init(model *m, const layer_conv *u, layer_init init) {
    float *P = m->params.data, *R = m->buffers.data;
    int64_t per_out = (int64_t)(u->C_in / u->groups) * u->K * u->K;
    size_t nw = (size_t)u->C_out * (size_t)per_out;
    if (init == LAYER_INIT_KAIMING_OUT) {
        /* fan_out = C_out * K * K / groups (torch's _calculate_fan_in_and_fan_out
         * on the (C_out, C_in / groups, K, K) weight counts C_out * K * K; for a
         * depthwise conv that is C_out * K * K as well, which torchvision uses). */
        double fan_out = (double)u->C_out * u->K * u->K;
        model_init_normal(m, P + u->w, nw, sqrt(2.0 / fan_out));
        if (u->bias) model_init_fill(P + u->b, (size_t)u->C_out, 0.0f);
    } else {
        model_init_torch_default(m, P + u->w, nw, per_out);
        if (u->bias) model_init_torch_default(m, P + u->b, (size_t)u->C_out, per_out);
    }
    if (u->bn) {
        model_init_fill(P + u->bn_w, (size_t)u->C_out, 1.0f);
        model_init_fill(P + u->bn_b, (size_t)u->C_out, 0.0f);
        model_init_fill(R + u->rmean, (size_t)u->C_out, 0.0f);
        model_init_fill(R + u->rvar, (size_t)u->C_out, 1.0f);
    }
}

sermo_status layer_conv_plan(layer_conv *u, int B, int H, int W, sermo_error *err) {
    return nn_conv2d_init(&u->conv, B, u->C_in, H, W, u->C_out, u->K, u->stride, u->pad, 1,
                          u->groups, err);
}

size_t layer_conv_numel(const layer_conv *u) {
    const nn_conv2d *c = &u->conv;
    return (size_t)c->B * (size_t)c->C_out * (size_t)c->OH * (size_t)c->OW;
}

void layer_conv_layout(layer_conv *u, layer_arena *a) {
    size_t n = layer_conv_numel(u);
    u->conv_out = layer_take(a, n);
    u->pre = u->bn && u->act == LAYER_ACT_SILU ? layer_take(a, n) : NULL;
    u->out = u->bn || u->act == LAYER_ACT_SILU ? layer_take(a, n) : u->conv_out;
    u->mean = u->bn ? layer_take(a, (size_t)u->C_out) : NULL;
    u->rstd = u->bn ? layer_take(a, (size_t)u->C_out) : NULL;
}

static float bn_eps(const layer_conv *u) { return u->bn_eps > 0.0f ? u->bn_eps : NN_BN_EPS; }

void layer_conv_forward(model *m, layer_conv *u, const float *in, int train, float *workspace,
                        int threads) {
    const float *P = m->params.data;
    float *R = m->buffers.data;
    const nn_conv2d *c = &u->conv;
    size_t n = layer_conv_numel(u);
    int HW = c->OH * c->OW;
    nn_conv2d_forward_auto(m->dnnl, u->conv_out, in, P + u->w, u->bias ? P + u->b : NULL, c, workspace,
                           threads);
    const float *y = u->conv_out; /* what the activation reads */
    if (u->bn) {
        float *dst = u->act == LAYER_ACT_SILU ? u->pre : u->out;
        nn_batchnorm2d_forward_fast(dst, u->mean, u->rstd, R + u->rmean, R + u->rvar, u->conv_out,
                                    P + u->bn_w, P + u->bn_b, c->B, u->C_out, HW, bn_eps(u),
                                    NN_BN_MOMENTUM, train, u->act == LAYER_ACT_RELU, threads);
        y = dst;
    } else if (u->act == LAYER_ACT_RELU) {
        /* In place: ReLU's backward needs only where out > 0, which is where in > 0. */
        nn_relu_forward(u->conv_out, u->conv_out, n);
    }
    if (u->act == LAYER_ACT_SILU) nn_silu_forward(u->out, y, n);
}

void layer_conv_backward(model *m, const layer_conv *u, float *din, nn_grad_mode din_mode,
                         const float *dout, const float *in, float *scratch0, float *scratch1,
                         float *workspace, int threads) {
    const float *P = m->params.data;
    float *G = m->params.grad;
    const nn_conv2d *c = &u->conv;
    size_t n = layer_conv_numel(u);
    const float *g = dout;
    if (u->act == LAYER_ACT_SILU) {
        memset(scratch0, 0, sizeof(float) * n);
        nn_silu_backward(scratch0, g, u->bn ? u->pre : u->conv_out, n);
        g = scratch0;
    }
    if (u->bn) {
        /* The fused ReLU masks with the unit's output (> 0 where BN's was). */
        nn_batchnorm2d_backward_fast(scratch1, G + u->bn_w, G + u->bn_b, g, u->mean, u->rstd,
                                     u->conv_out, P + u->bn_w,
                                     u->act == LAYER_ACT_RELU ? u->out : NULL, c->B, u->C_out,
                                     c->OH * c->OW, 1, NN_GRAD_OVERWRITE, threads);
        g = scratch1;
    } else if (u->act == LAYER_ACT_RELU) {
        memset(scratch1, 0, sizeof(float) * n);
        nn_relu_backward(scratch1, g, u->out, n);
        g = scratch1;
    }
    nn_conv2d_backward_auto(m->dnnl, din, G + u->w, u->bias ? G + u->b : NULL, g, in, P + u->w, c,
                            workspace, threads, din_mode);
}

/* ------------------------------------------------------------ input adapter */

void layer_input_dims(const layer_input *li, int F, int T, int *H, int *W) {
    *H = li->size > 0 ? li->size : F;
    *W = li->size > 0 ? li->size : T;
}

void layer_input_layout(layer_input *li, layer_arena *a, int B, int F, int T) {
    int H, W;
    layer_input_dims(li, F, T, &H, &W);
    li->resized = li->size > 0 && li->C != li->C_in
                      ? layer_take(a, (size_t)B * li->C_in * (size_t)H * W)
                      : NULL;
    li->x = layer_take(a, (size_t)B * li->C * (size_t)H * W);
}

void layer_input_forward(layer_input *li, const float *x, int B, int F, int T) {
    int H, W;
    layer_input_dims(li, F, T, &H, &W);
    const float *src = x;
    if (li->size > 0) {
        /* Resize straight into x when no repeat follows. */
        float *dst = li->resized ? li->resized : li->x;
        nn_resize_bilinear_forward(dst, x, B, li->C_in, F, T, H, W);
        src = dst;
    }
    size_t plane = (size_t)H * W;
    if (src == li->x) return;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < li->C; c++)
            memcpy(li->x + ((size_t)b * li->C + c) * plane,
                   src + ((size_t)b * li->C_in + c % li->C_in) * plane, sizeof(float) * plane);
}

/* ---------------------------------------------------------- classifier head */

static sermo_status add_linear(model *m, size_t *w, size_t *b, int in, int out,
                               const char *prefix, int index, sermo_error *err) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    char name[NN_PARAM_NAME_MAX];
    if (index >= 0) snprintf(name, sizeof name, "%s.%d", prefix, index);
    else snprintf(name, sizeof name, "%s", prefix);
    sermo_status s;
    if ((s = layer_add_entry(&m->params, w, -1, 2, ws, 1, err, "%s.weight", name)) ||
        (s = layer_add_entry(&m->params, b, -1, 1, bs, 0, err, "%s.bias", name)))
        return s;
    return SERMO_OK;
}

/* torch.nn.Sequential indices of the MLP's Linear and BatchNorm1d modules. */
static const int mlp_linear_index[3] = {0, 4, 8};
static const int mlp_bn_index[2] = {1, 5};

sermo_status layer_head_add(model *m, layer_head *h, int kind, int D, const char *linear_name,
                            const char *mlp_name, sermo_error *err) {
    h->kind = kind;
    h->D = D;
    h->L = m->cfg.n_classes;
    h->p = m->cfg.dropout;
    sermo_status s;
    if (kind != MODEL_HEAD_MLP) return add_linear(m, &h->w[0], &h->b[0], D, h->L, linear_name, -1, err);
    for (int i = 0; i < 2; i++) {
        h->hidden[i] = m->cfg.head_hidden[i] > 0 ? m->cfg.head_hidden[i] : (i ? 256 : 512);
        if (h->hidden[i] > 65536)
            return sermo_fail(err, SERMO_ERR_INVALID, "model %s: head hidden width %d is too large",
                              m->spec->name, h->hidden[i]);
    }
    int width[4] = {D, h->hidden[0], h->hidden[1], h->L};
    for (int i = 0; i < 3; i++)
        if ((s = add_linear(m, &h->w[i], &h->b[i], width[i], width[i + 1], mlp_name,
                            mlp_linear_index[i], err)))
            return s;
    for (int i = 0; i < 2; i++) {
        int64_t cs[1] = {h->hidden[i]};
        if ((s = layer_add_entry(&m->params, &h->bn_w[i], -1, 1, cs, 0, err, "%s.%d.weight",
                                 mlp_name, mlp_bn_index[i])) ||
            (s = layer_add_entry(&m->params, &h->bn_b[i], -1, 1, cs, 0, err, "%s.%d.bias",
                                 mlp_name, mlp_bn_index[i])) ||
            (s = layer_add_entry(&m->buffers, &h->rmean[i], -1, 1, cs, 0, err,
                                 "%s.%d.running_mean", mlp_name, mlp_bn_index[i])) ||
            (s = layer_add_entry(&m->buffers, &h->rvar[i], -1, 1, cs, 0, err,
                                 "%s.%d.running_var", mlp_name, mlp_bn_index[i])))
            return s;
    }
    return SERMO_OK;
}

void layer_head_init(model *m, const layer_head *h) {
    float *P = m->params.data, *R = m->buffers.data;
    int n_lin = h->kind == MODEL_HEAD_MLP ? 3 : 1;
    int width[4] = {h->D, h->hidden[0], h->hidden[1], h->L};
    if (n_lin == 1) width[1] = h->L;
    for (int i = 0; i < n_lin; i++) {
        model_init_torch_default(m, P + h->w[i], (size_t)width[i] * width[i + 1], width[i]);
        model_init_torch_default(m, P + h->b[i], (size_t)width[i + 1], width[i]);
    }
    for (int i = 0; i < n_lin - 1; i++) {
        model_init_fill(P + h->bn_w[i], (size_t)h->hidden[i], 1.0f);
        model_init_fill(P + h->bn_b[i], (size_t)h->hidden[i], 0.0f);
        model_init_fill(R + h->rmean[i], (size_t)h->hidden[i], 0.0f);
        model_init_fill(R + h->rvar[i], (size_t)h->hidden[i], 1.0f);
    }
}

void layer_head_layout(layer_head *h, layer_arena *a, int B) {
    size_t nb = (size_t)B, widest = (size_t)h->D;
    if (h->kind != MODEL_HEAD_MLP) {
        h->in_drop = layer_take(a, nb * h->D);
        h->in_mask = layer_take(a, nb * h->D);
    } else {
        for (int i = 0; i < 2; i++) {
            size_t n = nb * h->hidden[i];
            h->z[i] = layer_take(a, n);
            h->a[i] = layer_take(a, n);
            h->drop[i] = layer_take(a, n);
            h->mask[i] = layer_take(a, n);
            h->mean[i] = layer_take(a, (size_t)h->hidden[i]);
            h->rstd[i] = layer_take(a, (size_t)h->hidden[i]);
            if ((size_t)h->hidden[i] > widest) widest = (size_t)h->hidden[i];
        }
    }
    h->g[0] = layer_take(a, nb * widest);
    h->g[1] = layer_take(a, nb * widest);
}

void layer_head_forward(model *m, layer_head *h, const float *feat, int B, int train) {
    const float *P = m->params.data;
    float *R = m->buffers.data;
    if (h->kind != MODEL_HEAD_MLP) {
        nn_dropout_forward(h->in_drop, h->in_mask, feat, (size_t)B * h->D, h->p, train, &m->rng);
        nn_linear_forward_fast(m->logits, h->in_drop, P + h->w[0], P + h->b[0], B, h->D, h->L);
        return;
    }
    const float *x = feat;
    int in = h->D;
    for (int i = 0; i < 2; i++) {
        int H = h->hidden[i];
        nn_linear_forward_fast(h->z[i], x, P + h->w[i], P + h->b[i], B, in, H);
        /* BatchNorm1d on (B, H) is BatchNorm2d on (B, H, 1), here with ReLU fused. */
        nn_batchnorm2d_forward_fast(h->a[i], h->mean[i], h->rstd[i], R + h->rmean[i], R + h->rvar[i],
                                    h->z[i], P + h->bn_w[i], P + h->bn_b[i], B, H, 1, NN_BN_EPS,
                                    NN_BN_MOMENTUM, train, 1, 1);
        nn_dropout_forward(h->drop[i], h->mask[i], h->a[i], (size_t)B * H, h->p, train, &m->rng);
        x = h->drop[i];
        in = H;
    }
    nn_linear_forward_fast(m->logits, x, P + h->w[2], P + h->b[2], B, in, h->L);
}

void layer_head_backward(model *m, layer_head *h, float *dfeat, const float *dlogits,
                         const float *feat, int B) {
    const float *P = m->params.data;
    float *G = m->params.grad;
    if (h->kind != MODEL_HEAD_MLP) {
        size_t n = (size_t)B * h->D;
        memset(h->g[0], 0, sizeof(float) * n);
        nn_linear_backward_fast(h->g[0], G + h->w[0], G + h->b[0], dlogits, h->in_drop, P + h->w[0],
                                B, h->D, h->L);
        memset(dfeat, 0, sizeof(float) * n);
        nn_dropout_backward(dfeat, h->g[0], h->in_mask, n);
        return;
    }
    /* Down through [Linear(i+1) <- Dropout <- BN+ReLU] for i = 1, 0, ping-ponging
     * two scratch buffers: dy is the gradient of Linear(i+1)'s output. */
    const float *dy = dlogits;
    int out = h->L;
    float *a = h->g[0], *b = h->g[1], *t;
    for (int i = 1; i >= 0; i--) {
        int H = h->hidden[i];
        size_t n = (size_t)B * H;
        memset(a, 0, sizeof(float) * n);
        nn_linear_backward_fast(a, G + h->w[i + 1], G + h->b[i + 1], dy, h->drop[i],
                                P + h->w[i + 1], B, H, out);
        memset(b, 0, sizeof(float) * n);
        nn_dropout_backward(b, a, h->mask[i], n);
        nn_batchnorm2d_backward_fast(a, G + h->bn_w[i], G + h->bn_b[i], b, h->mean[i], h->rstd[i],
                                     h->z[i], P + h->bn_w[i], h->a[i], B, H, 1, 1,
                                     NN_GRAD_OVERWRITE, 1);
        dy = a; /* dz[i] */
        out = H;
        t = a, a = b, b = t;
    }
    memset(dfeat, 0, sizeof(float) * (size_t)B * h->D);
    nn_linear_backward_fast(dfeat, G + h->w[0], G + h->b[0], dy, feat, P + h->w[0], B, h->D, out);
}
