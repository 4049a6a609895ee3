/* model.h: models as a parameter table plus a fixed layer plan, with every
 * activation buffer sized once for the largest batch and input length
 * (STYLE.md items 2-3). Models are registered by name (registry.c).
 *
 * Input x is (B, C, F, T): batch, channels (1 for a spectrogram), feature
 * rows (mel bins), frames. Output logits are (B, L). */
#ifndef SERMO_MODEL_H
#define SERMO_MODEL_H

#include "nn/conv_dnnl.h"
#include "nn/nn.h"

typedef struct model_config {
    int32_t n_classes;   /* L */
    int32_t in_channels; /* C, 1 */
    int32_t n_bins;      /* F */
    int32_t max_frames;  /* largest T a batch may have */
    int32_t max_batch;   /* largest B */
    int32_t threads;     /* OpenMP threads for the fast kernels; 0 = all */
    float dropout;       /* before the classifier; 0.3 by default */
    /* Family options (config keys model.*). 0 / "" / MODEL_HEAD_DEFAULT mean
     * the family's own default, which its create resolves (and records back
     * into m->cfg, so m->cfg always holds what was built). */
    int32_t channels;    /* model.channels: channels the network's stem takes;
                            3 repeats the 1-channel spectrogram as image models
                            expect (torchvision stems), 1 keeps it */
    int32_t image_size;  /* model.image_size: > 0 resizes the input bilinearly to
                            image_size x image_size first (vit: 224); -1 keeps F x T */
    int32_t batchnorm;   /* model.batchnorm (vgg16): 1 BN after every conv, -1 none */
    char size[16];       /* model.size (vit): tiny | small | base */
    float drop_path;     /* model.drop_path: stochastic-depth rate (efficientnet, vit);
                            < 0 disables */
    int32_t head;        /* model.head: a model_head_kind */
    int32_t head_hidden[2]; /* model.head_hidden (mlp head): widths of its two hidden
                               layers, e.g. 512, 256 */
    int32_t width;       /* model.width: channels of the first stage, doubled at each
                            later one (resnet 64, cnn 32); a family without the
                            option (spec->width 0) refuses a nonzero one */
    int32_t pool;        /* model.pool: a model_pool_kind */
} model_config;

/* How the last feature map becomes one vector per clip (model.pool). */
typedef enum model_pool_kind {
    MODEL_POOL_DEFAULT = 0, /* the family's own: the mean */
    MODEL_POOL_MEAN,        /* "mean": the global average (torchvision's AdaptiveAvgPool2d(1)) */
    MODEL_POOL_MEANSTD,     /* "meanstd": statistics pooling, mean and std per channel
                               (nn_global_statpool_forward), twice the features */
    MODEL_POOL_ATTENTION,   /* "attention": the same under learned softmax weights over
                               the positions (nn_attn_statpool_forward) */
} model_pool_kind;

/* The classifier on top of a backbone's pooled features (model.head). */
typedef enum model_head_kind {
    MODEL_HEAD_DEFAULT = 0, /* the family's own: linear for all but vgg16's classifier */
    MODEL_HEAD_LINEAR,      /* "linear": Dropout(cfg.dropout) -> Linear(D, L) */
    MODEL_HEAD_MLP,         /* "mlp": [Linear -> BatchNorm1d -> ReLU -> Dropout] x 2 -> Linear */
} model_head_kind;

/* Training settings a family recommends (sermo models lists them; the CLI
 * applies them under the user's config). 0 means the global default. */
typedef struct model_defaults {
    int32_t batch_size, epochs, patience; /* train.batch_size, train.epochs, train.patience */
    int32_t n_mels, hop_length;           /* features.n_mels, features.hop_length */
    int32_t frames;                       /* train.frames (the autoencoder needs a multiple of 8) */
    float lr;                              /* train.lr */
    const char *feature_kind;             /* features.kind the family is built for ("egemaps"); NULL keeps it */
} model_defaults;

typedef struct model model;

/* One registry entry per model family. */
typedef struct model_spec {
    const char *name;        /* "cnn3" */
    const char *description;
    model_defaults defaults;
    /* 1: an unsupervised reconstructing model (the autoencoder): forward
     * writes m->recon (B, C, F, T), the input's reconstruction, and is trained
     * with the mean squared error against its input; backward takes
     * d(loss)/d(recon) in place of dlogits. n_classes is then unused. */
    int reconstructs;
    /* The default of model.width, or 0: the family has no width option. */
    int32_t width;
    /* 1: the family takes model.pool=meanstd and attention; others refuse them. */
    int stat_pools;
    /* Builds the parameter table and layer plan, allocates activations;
     * finalises and initialises params and buffers (models_internal.h). */
    sermo_status (*create)(model *m, sermo_error *err);
    /* 0, or -1 (nothing computed) when T is too short for the architecture;
     * model_forward has checked 1 <= B <= max_batch, 1 <= T <= max_frames. */
    int (*forward)(model *m, const float *x, int B, int T, int train);
    void (*backward)(model *m, const float *dlogits, int B, int T);
    void (*destroy)(model *m);
} model_spec;

struct model {
    const model_spec *spec;
    model_config cfg;
    nn_params params;  /* weights, grads, AdamW moments */
    /* Tensors saved with the model but not trained (BN running_mean/var),
     * torchvision-named like params. A second table because nn_params_add
     * rejects a negative group and nn_adamw_step rejects any group it does
     * not know, so no entry of `params` can be skipped by the optimizer.
     * Only its data buffer is meaningful; grad/m/v stay zero. */
    nn_params buffers;
    float *logits;     /* (max_batch, L), written by forward */
    float *recon;      /* reconstructing families: (max_batch, C, F, max_frames), theirs */
    sermo_rng rng;     /* dropout masks */
    void *state;       /* the family's layer plan and activations */
    nn_dnnl *dnnl;     /* oneDNN's conv plans (nn_conv2d_forward_auto), or NULL:
                          not built in, or SERMO_ONEDNN=0 in the environment */
};

/* NULL with err set when the name is unknown or the config is invalid.
 * Parameters are initialised as torch's defaults (kaiming-uniform conv/linear,
 * BN weight 1 bias 0) from `seed`. */
model *model_create(const char *name, const model_config *cfg, uint64_t seed, sermo_error *err);
void model_free(model *m);
/* x (B, C, F, T) with B <= max_batch, T <= max_frames; returns m->logits (B, L)
 * (m->recon (B, C, F, T) for a reconstructing family).
 * train = 1 uses batch statistics and dropout and keeps what backward needs.
 * NULL (nothing computed) when B or T is out of range, including a T too
 * short for the family's pooling (cnn3: T >= 8). */
const float *model_forward(model *m, const float *x, int B, int T, int train);
/* After a train-mode forward of the same B, T: ACCUMULATES parameter
 * gradients from dlogits (B, L). Does nothing when the last forward was not
 * a train-mode one of this B and T. */
void model_backward(model *m, const float *dlogits, int B, int T);

/* A reconstructing model's loss, torch.nn.MSELoss: mean((recon - x)^2) over
 * n elements (autoencoder.c); drecon (n), when not NULL, receives its
 * gradient, WRITTEN (the loss ends the graph). */
float model_recon_loss(float *drecon, const float *recon, const float *x, size_t n);

int model_registry_count(void);
const model_spec *model_registry_at(int i);
const model_spec *model_registry_find(const char *name);

#endif
