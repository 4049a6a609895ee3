/* layers.h: building blocks the model families share (internal to
 * src/models): a two-pass activation arena, named table entries, the
 * conv -> [BatchNorm2d] -> [activation] unit, the input adapter (resize,
 * channel repeat) and the classifier head (linear or MLP).
 *
 * Each unit is an explicit forward/backward pair over buffers carved once,
 * for the largest batch and input, from its family's arena (STYLE.md 1-3). A
 * family's create runs its layout twice: once counting (arena base NULL),
 * then, after layer_arena_alloc, carving. Backward functions ACCUMULATE
 * parameter gradients, as every nn op.
 *
 * Dimension letters: B batch, C channels, H/W height/width (mel rows and
 * frames at the input), OH/OW a conv's output, D pooled features, L classes. */
#ifndef SERMO_LAYERS_H
#define SERMO_LAYERS_H

#include "models/models_internal.h"

/* ------------------------------------------------------------------ arena */

typedef struct layer_arena {
    float *base; /* NULL while counting */
    size_t used; /* floats carved so far, each slice rounded up to 64 bytes */
    size_t cap;  /* floats allocated */
} layer_arena;

/* A 64-byte aligned slice of n floats (NULL while counting). */
float *layer_take(layer_arena *a, size_t n);
/* The same for int32 (argmax planes), from the same arena. */
int32_t *layer_take_i32(layer_arena *a, size_t n);
/* After a counting pass: allocates what it counted and rewinds for the
 * carving pass. Refuses sizes past 2^36 floats (256 GiB: a config mistake). */
sermo_status layer_arena_alloc(layer_arena *a, const char *model_name, sermo_error *err);
void layer_arena_free(layer_arena *a);

/* ---------------------------------------------------------------- entries */

/* Adds a table entry named by fmt (torchvision/timm names, e.g.
 * "layer1.0.conv1.weight") with the given freezing block (nn_param.block) and
 * weight-decay flag; *offset receives its offset into the table's buffers. */
__attribute__((format(printf, 8, 9)))
sermo_status layer_add_entry(nn_params *p, size_t *offset, int32_t block, int32_t ndim,
                             const int64_t *shape, int32_t decay, sermo_error *err,
                             const char *fmt, ...);

/* ------------------------------------------------------- conv [BN] [act] */

typedef enum layer_act { LAYER_ACT_NONE = 0, LAYER_ACT_RELU, LAYER_ACT_SILU } layer_act;

/* How layer_conv_init draws the conv weight. */
typedef enum layer_init {
    LAYER_INIT_TORCH = 0,   /* torch's Conv2d default: kaiming_uniform_(a=sqrt 5), bias U(+-1/sqrt fan_in) */
    LAYER_INIT_KAIMING_OUT, /* torchvision's resnet/vgg/efficientnet: kaiming_normal_(mode='fan_out',
                               nonlinearity='relu'), std sqrt(2 / fan_out), bias 0 */
} layer_init;

typedef struct layer_conv {
    /* Set by the family before layer_conv_add. */
    int C_in, C_out, K, stride, pad, groups; /* square kernel, symmetric stride/padding */
    int bias;                                /* the conv has a bias (vgg); BN makes it redundant */
    int bn;                                  /* BatchNorm2d after the conv */
    float bn_eps;                            /* 0: NN_BN_EPS (1e-5) */
    layer_act act;
    /* Set by layer_conv_add: offsets into m->params / m->buffers. */
    size_t w, b, bn_w, bn_b, rmean, rvar;
    /* Set by layer_conv_plan for the current call. */
    nn_conv2d conv;
    /* Carved by layer_conv_layout, each (B, C_out, OH, OW) but mean/rstd: */
    float *conv_out; /* the conv's output; ReLU in place when there is no BN */
    float *pre;      /* BN output before SiLU (bn and SiLU), else NULL */
    float *out;      /* the unit's output (== conv_out without BN or SiLU) */
    float *mean, *rstd; /* (C_out) when bn */
} layer_conv;

/* Registers "<conv_name>.weight" [".bias"] and, with bn, "<bn_name>.weight",
 * ".bias" in m->params and ".running_mean", ".running_var" in m->buffers. */
sermo_status layer_conv_add(model *m, layer_conv *u, int32_t block, const char *conv_name,
                            const char *bn_name, sermo_error *err);
/* Initial values (after the tables are finalised), drawing from m->rng. */
void layer_conv_init(model *m, const layer_conv *u, layer_init init);
/* Sizes for a (B, C_in, H, W) input; the output is u->conv.OH x u->conv.OW. */
sermo_status layer_conv_plan(layer_conv *u, int B, int H, int W, sermo_error *err);
/* Carves the buffers for the current plan (the largest one). */
void layer_conv_layout(layer_conv *u, layer_arena *a);
size_t layer_conv_numel(const layer_conv *u); /* B * C_out * OH * OW of the plan */
/* in (B, C_in, H, W) -> u->out. train as nn_batchnorm2d_forward. */
void layer_conv_forward(model *m, layer_conv *u, const float *in, int train, float *workspace,
                        int threads);
/* After a train-mode forward: dout (B, C_out, OH, OW) -> din (NULL for the
 * first layer) as din_mode; parameter gradients accumulate. scratch0 and
 * scratch1 hold layer_conv_numel floats each (scratch0 is used with SiLU
 * only); neither may alias dout or din. */
void layer_conv_backward(model *m, const layer_conv *u, float *din, nn_grad_mode din_mode,
                         const float *dout, const float *in, float *scratch0, float *scratch1,
                         float *workspace, int threads);

/* ------------------------------------------------------------ input adapter */

/* The batch (B, 1, F, T) as the network's stem expects it: resized
 * bilinearly to size x size (torch's interpolate, align_corners=False) when
 * size > 0, then repeated to C channels (the image models' 3-channel input:
 * torchvision stems take RGB): channel c is input channel c % C_in, so
 * families require C >= C_in. Kept as a copy for the first layer's backward. */
typedef struct layer_input {
    int C_in, C, size;
    float *resized; /* (B, C_in, size, size) when size > 0 and C != C_in */
    float *x;       /* (B, C, H, W) */
} layer_input;

/* The network's input height and width for F x T features. */
void layer_input_dims(const layer_input *li, int F, int T, int *H, int *W);
void layer_input_layout(layer_input *li, layer_arena *a, int B, int F, int T);
/* x (B, C_in, F, T) -> li->x. */
void layer_input_forward(layer_input *li, const float *x, int B, int F, int T);

/* ---------------------------------------------------------- classifier head */

/* cfg.head on top of pooled features (B, D), writing m->logits (B, L):
 *   linear: Dropout(cfg.dropout) -> Linear(D, L), named "<linear_name>.*";
 *   mlp:    Linear(D, H1) -> BatchNorm1d -> ReLU -> Dropout -> Linear(H1, H2)
 *           -> BatchNorm1d -> ReLU -> Dropout -> Linear(H2, L), as the torch
 *           nn.Sequential "<mlp_name>" with those modules at 0, 1, 4, 5, 8.
 * Its entries have block -1 (the head). */
typedef struct layer_head {
    int kind, D, L, hidden[2];
    float p;
    size_t w[3], b[3], bn_w[2], bn_b[2], rmean[2], rvar[2];
    float *in_drop, *in_mask;            /* linear: (B, D) */
    float *z[2], *a[2], *drop[2], *mask[2]; /* mlp: (B, hidden[i]) */
    float *mean[2], *rstd[2];            /* mlp: (hidden[i]) */
    float *g[2];                         /* (B, max(D, hidden)) backward scratch */
} layer_head;

/* kind: cfg.head resolved by the family (MODEL_HEAD_LINEAR or _MLP);
 * hidden: cfg.head_hidden with 0 meaning 512, 256. */
sermo_status layer_head_add(model *m, layer_head *h, int kind, int D, const char *linear_name,
                            const char *mlp_name, sermo_error *err);
/* torch's Linear defaults, BN weight 1 bias 0, running 0 / 1. */
void layer_head_init(model *m, const layer_head *h);
void layer_head_layout(layer_head *h, layer_arena *a, int B);
void layer_head_forward(model *m, layer_head *h, const float *feat, int B, int train);
/* dlogits (B, L) -> dfeat (B, D), OVERWRITTEN. */
void layer_head_backward(model *m, layer_head *h, float *dfeat, const float *dlogits,
                         const float *feat, int B);

#endif
