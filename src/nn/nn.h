/* nn.h: the neural-network core of libsermo (internal; included by model and
 * training code). Ops are forward/backward pairs of plain functions:
 *
 *   forward (outputs, saved-for-backward caches, inputs, weights, sizes)
 *   backward(input grads, weight grads, upstream grad, saved caches, inputs, weights, sizes)
 *
 * Backward functions ACCUMULATE (+=) into every gradient buffer, so a caller
 * zeroes gradients once per step (nn_params_zero_grad) and activation grads
 * once before the backward pass. A gradient pointer may be NULL when that
 * gradient is not wanted (e.g. dinput of the first layer).
 *
 * Layout is NCHW float32. Dimension letters used in shape comments:
 *   B batch, C channels, H/W input height/width, OH/OW output height/width,
 *   K kernel, N rows of a linear layer, F features, L classes (logits).
 *
 * Every fast kernel (im2col + SGEMM, OpenMP) has a naive reference beside it
 * with the same contract; tests/nn/test_fast_vs_naive.c keeps them equal.
 * No function here allocates except nn_params_finalise. */
#ifndef SERMO_NN_H
#define SERMO_NN_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* How a *_fast backward treats its input-gradient buffer. The contract of
 * every op is ACCUMULATE (+=). A caller that knows the buffer holds nothing
 * yet (the model's activation-gradient ping-pong) may ask for OVERWRITE: the
 * op then writes every element itself, cache-hot, and the caller skips a
 * full-buffer memset. Parameter gradients always accumulate. */
typedef enum nn_grad_mode { NN_GRAD_ACCUMULATE = 0, NN_GRAD_OVERWRITE } nn_grad_mode;

/* ------------------------------------------------------------------ conv2d */

/* torch.nn.Conv2d (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html).
 * Fill the sizes, then nn_conv2d_setup computes OH, OW and validates. */
typedef struct nn_conv2d {
    int B, C_in, H, W;    /* input  (B, C_in, H, W) */
    int C_out, KH, KW;    /* weight (C_out, C_in / groups, KH, KW), bias (C_out) */
    int stride_h, stride_w;
    int pad_h, pad_w;     /* zero padding on both sides */
    int dil_h, dil_w;
    int groups;
    int OH, OW;           /* output (B, C_out, OH, OW), set by nn_conv2d_setup */
} nn_conv2d;

/* Square kernel, symmetric stride/padding/dilation: fills *c and calls setup. */
sermo_status nn_conv2d_init(nn_conv2d *c, int B, int C_in, int H, int W, int C_out, int K,
                            int stride, int pad, int dil, int groups, sermo_error *err);
sermo_status nn_conv2d_setup(nn_conv2d *c, sermo_error *err);

/* Naive references (plain loops). bias may be NULL. */
void nn_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                       const nn_conv2d *c);
void nn_conv2d_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, const nn_conv2d *c);

/* Fast path: im2col + cblas_sgemm, OpenMP over the batch with nthreads threads.
 * `workspace` holds nn_conv2d_workspace_size(c, nthreads) floats, enough for
 * both forward and backward; it is scratch and may be shared between layers. */
size_t nn_conv2d_workspace_size(const nn_conv2d *c, int nthreads);
void nn_conv2d_forward_fast(float *out, const float *in, const float *weight, const float *bias,
                            const nn_conv2d *c, float *workspace, int nthreads);
void nn_conv2d_backward_fast(float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, const nn_conv2d *c,
                             float *workspace, int nthreads);
/* As nn_conv2d_backward_fast; dinput_mode OVERWRITE zeroes each sample's
 * dinput inside the parallel loop (cache-hot) before scattering into it. */
void nn_conv2d_backward_fast_mode(float *dinput, float *dweight, float *dbias, const float *dout,
                                  const float *in, const float *weight, const nn_conv2d *c,
                                  float *workspace, int nthreads, nn_grad_mode dinput_mode);

/* OpenMP workers that each call SGEMM must keep OpenBLAS single-threaded, or
 * it starts its own pool under every worker. enter returns the old count
 * (and sets 1 when nthreads > 1); leave restores it. */
int nn_blas_threads_enter(int nthreads);
void nn_blas_threads_leave(int nthreads, int old);

/* ------------------------------------------------------------------ linear */

/* torch.nn.Linear: out = in W^T + b, in (N, F_in), W (F_out, F_in), b (F_out) or NULL. */
void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias, int N,
                       int F_in, int F_out);
void nn_linear_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int N, int F_in, int F_out);
void nn_linear_forward_fast(float *out, const float *in, const float *weight, const float *bias,
                            int N, int F_in, int F_out);
void nn_linear_backward_fast(float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, int N, int F_in, int F_out);

/* ------------------------------------------------------------- batchnorm2d */

/* torch.nn.BatchNorm2d (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html).
 * train = 1: normalise with the batch mean and biased variance, update
 *   running_mean/var with momentum (unbiased variance for running_var), save
 *   mean and rstd = 1/sqrt(var + eps) for backward.
 * train = 0: normalise with the running statistics; mean/rstd receive them.
 * in/out (B, C, HW); weight, bias, running_*, mean, rstd (C). */
#define NN_BN_EPS 1e-5f
#define NN_BN_MOMENTUM 0.1f
void nn_batchnorm2d_forward(float *out, float *mean, float *rstd, float *running_mean,
                            float *running_var, const float *in, const float *weight,
                            const float *bias, int B, int C, int HW, float eps, float momentum,
                            int train);
void nn_batchnorm2d_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *mean, const float *rstd, const float *in,
                             const float *weight, int B, int C, int HW, int train);
/* Fast path with the same contract (plus an optional fused ReLU), nthreads
 * OpenMP threads over channels. Per (b, c) row the statistics are taken in
 * float vector lanes (row mean, then the row's sum of squared deviations)
 * and the rows are combined in double with Chan et al.'s pairwise formula,
 * so the variance stays two-pass accurate.
 * relu = 1: out = max(BN(in), 0) (torch's BatchNorm2d then ReLU).
 * Backward: act is that forward's output when relu was fused (the gradient
 * passes where act > 0, as nn_relu_backward), NULL otherwise; dinput_mode
 * as nn_grad_mode. */
void nn_batchnorm2d_forward_fast(float *out, float *mean, float *rstd, float *running_mean,
                                 float *running_var, const float *in, const float *weight,
                                 const float *bias, int B, int C, int HW, float eps,
                                 float momentum, int train, int relu, int nthreads);
void nn_batchnorm2d_backward_fast(float *dinput, float *dweight, float *dbias, const float *dout,
                                  const float *mean, const float *rstd, const float *in,
                                  const float *weight, const float *act, int B, int C, int HW,
                                  int train, nn_grad_mode dinput_mode, int nthreads);

/* Channel c's normalisation for the fast kernels (batchnorm and the fused
 * batchnorm+ReLU+pool): train = 1 from the batch (vectorised row sums,
 * Chan-Golub-LeVeque pairwise combination) and moves the running statistics;
 * train = 0 from the running statistics. in (B, C, HW). */
void nn_batchnorm_channel_stats(const float *in, int c, int B, int C, int HW, float eps, float momentum, int train,
                                float *running_mean, float *running_var, float *mu, float *rs);

/* Channel c's backward from its sums sdy = sum(dy) and sdyx = sum(dy * xhat)
 * over M values: adds them to dbias[c] / dweight[c] (when not NULL) and gives
 * the input-gradient coefficients of dx = g * (dy - a - xhat * k): train
 * g = weight * rstd, a = mean(dy), k = mean(dy * xhat) (the batch statistics
 * depend on x); eval a = k = 0. */
void nn_batchnorm_grad_coeffs(int c, double sdy, double sdyx, size_t M, int train, const float *weight, float rs,
                              float *dweight, float *dbias, float *g, float *a, float *k);

/* ------------------------------------------------------------- activations */

/* ReLU: out = max(in, 0); gradient 0 at in <= 0 as torch. n elements. */
void nn_relu_forward(float *out, const float *in, size_t n);
void nn_relu_backward(float *dinput, const float *dout, const float *in, size_t n);

/* torch.nn.GELU(approximate='none' | 'tanh'). */
typedef enum nn_gelu_approx { NN_GELU_APPROX_NONE = 0, NN_GELU_APPROX_TANH } nn_gelu_approx;
void nn_gelu_forward(float *out, const float *in, size_t n, nn_gelu_approx approx);
void nn_gelu_backward(float *dinput, const float *dout, const float *in, size_t n,
                      nn_gelu_approx approx);

/* Inverted dropout (torch.nn.Dropout): in training each element is kept with
 * probability 1 - p and scaled by 1/(1 - p); mask (n) receives that scale
 * (0 or 1/(1-p)) from rng, so a seed reproduces it. Eval (train = 0) or p = 0:
 * identity, mask = 1, rng untouched. */
void nn_dropout_forward(float *out, float *mask, const float *in, size_t n, float p, int train,
                        sermo_rng *rng);
void nn_dropout_backward(float *dinput, const float *dout, const float *mask, size_t n);

/* Sigmoid (torch.sigmoid) and SiLU (torch.nn.SiLU, x * sigmoid(x)); n
 * elements. Backward takes the forward's input (SiLU) or output (sigmoid:
 * d/dx = y (1 - y), so the input need not be kept). */
void nn_sigmoid_forward(float *out, const float *in, size_t n);
void nn_sigmoid_backward(float *dinput, const float *dout, const float *out, size_t n);
void nn_silu_forward(float *out, const float *in, size_t n);
void nn_silu_backward(float *dinput, const float *dout, const float *in, size_t n);

/* Per-(sample, channel) scaling, the last step of squeeze-and-excitation
 * (torchvision.ops.SqueezeExcitation: out = in * scale):
 * out (B, C, HW) = in (B, C, HW) * scale (B, C) broadcast over HW.
 * Backward accumulates dinput (B, C, HW) and dscale (B, C) (either may be NULL). */
void nn_channel_scale_forward(float *out, const float *in, const float *scale, int B, int C, int HW);
void nn_channel_scale_backward(float *dinput, float *dscale, const float *dout, const float *in,
                               const float *scale, int B, int C, int HW);

/* Stochastic depth, mode "row" (torchvision.ops.stochastic_depth): in training
 * each sample b of in (B, D) is kept with probability 1 - p and scaled by
 * 1/(1 - p), else zeroed; mask (B) receives that scale, one sermo_rng draw
 * per sample in order. Eval or p = 0: identity, mask = 1, rng untouched. */
void nn_drop_path_forward(float *out, float *mask, const float *in, int B, size_t D, float p,
                          int train, sermo_rng *rng);
void nn_drop_path_backward(float *dinput, const float *dout, const float *mask, int B, size_t D);

/* ---------------------------------------------------------- transformers */

/* torch.nn.LayerNorm over the last dimension C (elementwise affine):
 * in/out (N, C), weight/bias (C), mean/rstd (N) saved for backward,
 * rstd = 1 / sqrt(biased var + eps). torch's default eps is 1e-5; timm's ViT
 * uses 1e-6. */
void nn_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                          const float *weight, const float *bias, int N, int C, float eps);
void nn_layernorm_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                           const float *in, const float *weight, const float *mean,
                           const float *rstd, int N, int C);

/* Softmax over the last dimension of (N, C) rows (torch.softmax(dim=-1)),
 * max-subtracted; out may be in (in place). Backward from the forward's output:
 * dx = y * (dy - sum(dy * y)). */
void nn_softmax_forward(float *out, const float *in, int N, int C);
void nn_softmax_backward(float *dinput, const float *dout, const float *out, int N, int C);

/* Multi-head self-attention core, timm's Attention after its qkv Linear:
 *   qkv (B, T, 3C) holds q, k, v as [3][NH][hs] along the last axis
 *   (C = NH * hs, timm's reshape(B, T, 3, NH, hs));
 *   att (B, NH, T, T) = softmax(q k^T / sqrt(hs)) saved for backward;
 *   out (B, T, C) = att v with the heads concatenated (NH, hs).
 * No mask (the encoder attends everywhere), no attention dropout.
 * Backward accumulates dqkv (B, T, 3C) and needs scratch of
 * nn_attention_scratch_size floats, which counts omp_get_max_threads(): size
 * it under the thread setting the backward runs with. Fast paths (batched SGEMM, OpenMP over
 * (B, NH)) keep the same contract. */
void nn_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
void nn_attention_backward(float *dqkv, const float *dout, const float *att, const float *qkv,
                           float *scratch, int B, int T, int C, int NH);
size_t nn_attention_scratch_size(int B, int T, int C, int NH);

/* ---------------------------------------------------------------- pooling */

/* torch.nn.MaxPool2d / AvgPool2d with ceil_mode=False, dilation 1. */
typedef struct nn_pool2d {
    int B, C, H, W;        /* input (B, C, H, W) */
    int KH, KW;
    int stride_h, stride_w;
    int pad_h, pad_w;      /* at most half the kernel, as torch requires */
    int count_include_pad; /* avg pool: divide by KH*KW (torch default 1) or by the valid count */
    int OH, OW;            /* output (B, C, OH, OW), set by nn_pool2d_setup */
} nn_pool2d;

sermo_status nn_pool2d_init(nn_pool2d *p, int B, int C, int H, int W, int K, int stride, int pad,
                            sermo_error *err);
sermo_status nn_pool2d_setup(nn_pool2d *p, sermo_error *err);

/* argmax (B, C, OH, OW): index of the max within its (H, W) plane; padding
 * counts as -inf; ties keep the first in row-major order. */
/* Output (oy, ox)'s window [y0, y1) x [x0, x1), clipped to the input. */
void nn_pool2d_window(const nn_pool2d *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1);
void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, const nn_pool2d *p);
void nn_maxpool2d_backward(float *dinput, const float *dout, const int32_t *argmax,
                           const nn_pool2d *p);
/* Same contract; a specialised branch-free path for the 2x2 stride-2
 * unpadded pool (NaN still propagates and ties keep the first, exactly as the
 * reference), the reference loop otherwise. nthreads OpenMP threads over
 * planes; dinput_mode as nn_grad_mode (OVERWRITE zeroes each plane first). */
void nn_maxpool2d_forward_fast(float *out, int32_t *argmax, const float *in, const nn_pool2d *p,
                               int nthreads);
void nn_maxpool2d_backward_fast(float *dinput, const float *dout, const int32_t *argmax,
                                const nn_pool2d *p, nn_grad_mode dinput_mode, int nthreads);
void nn_avgpool2d_forward(float *out, const float *in, const nn_pool2d *p);
void nn_avgpool2d_backward(float *dinput, const float *dout, const nn_pool2d *p);

/* ---------------------------------------------- fused BN -> ReLU -> max-pool */

/* BatchNorm2d -> ReLU -> MaxPool2d (src/nn/fused.c), equal to
 * nn_batchnorm2d_forward, nn_relu_forward, nn_maxpool2d_forward and their
 * backwards in reverse, without the full-size BN/ReLU output or its gradient.
 * Sizes come from p (BN over p->C channels of p->H x p->W); the 2x2 stride-2
 * unpadded pool is vectorised, any other a plain loop. nthreads OpenMP threads
 * over channels.
 * Forward: out (B, C, OH, OW) pooled; argmax (B, C, OH, OW) as
 *   nn_maxpool2d_forward, or NULL when no backward follows (inference);
 *   mean, rstd, running_mean, running_var, train as nn_batchnorm2d_forward.
 * Backward: dout, argmax and out are the pooled grid's (out masks the ReLU:
 *   the gradient passes where out > 0); in, mean, rstd as saved by forward;
 *   dweight, dbias accumulate; dinput (B, C, H, W) as dinput_mode. */
void nn_bn_relu_maxpool2d_forward_fast(float *out, int32_t *argmax, float *mean, float *rstd,
                                       float *running_mean, float *running_var, const float *in,
                                       const float *weight, const float *bias, const nn_pool2d *p,
                                       float eps, float momentum, int train, int nthreads);
void nn_bn_relu_maxpool2d_backward_fast(float *dinput, float *dweight, float *dbias,
                                        const float *dout, const int32_t *argmax, const float *out,
                                        const float *mean, const float *rstd, const float *in,
                                        const float *weight, const nn_pool2d *p, int train,
                                        nn_grad_mode dinput_mode, int nthreads);

/* Global average pool (AdaptiveAvgPool2d(1) + flatten): in (B, C, HW) -> out (B, C). */
void nn_global_avgpool_forward(float *out, const float *in, int B, int C, int HW);
void nn_global_avgpool_backward(float *dinput, const float *dout, int B, int C, int HW);

/* Statistics pooling (the x-vector's, Snyder et al. 2018): per channel the
 * mean and the standard deviation over the HW positions, concatenated:
 * in (B, C, HW) -> out (B, 2C), row b = [mean_0 .. mean_C-1, std_0 .. std_C-1],
 * std = sqrt(var + NN_STATPOOL_EPS) with the biased (1/HW) variance; as
 * torch.cat([x.mean(-1), (x.var(-1, unbiased=False) + eps).sqrt()], 1).
 * The eps keeps the gradient finite on a channel ReLU has zeroed throughout.
 * Backward ACCUMULATES into dinput and reads the forward's in and out. */
#define NN_STATPOOL_EPS 1e-5f
void nn_global_statpool_forward(float *out, const float *in, int B, int C, int HW);
void nn_global_statpool_backward(float *dinput, const float *dout, const float *in,
                                 const float *out, int B, int C, int HW);

/* Attentive statistics pooling (Okabe et al. 2018; attnpool.c): the same
 * [mean, std] (B, 2C) under a softmax over the HW positions of the scores
 * v . tanh(W h_p + b), W (A, C), b (A), v (A) (torch Linear(C, A) and
 * Linear(A, 1, bias=False)). Forward keeps alpha (B, HW) and u (B, A, HW),
 * the tanh, for backward. Backward ACCUMULATES into dinput, dW, db and dv;
 * scratch holds (A + 1) * HW floats. */
void nn_attn_statpool_forward(float *out, float *alpha, float *u, const float *in, const float *W,
                              const float *b, const float *v, int B, int C, int HW, int A);
void nn_attn_statpool_backward(float *dinput, float *dW, float *db, float *dv, const float *dout,
                               const float *out, const float *alpha, const float *u,
                               const float *in, const float *W, const float *v, int B, int C,
                               int HW, int A, float *scratch);

/* torch.nn.AdaptiveAvgPool2d((OH, OW)): output cell (i, j) averages input rows
 * [floor(i H / OH), ceil((i + 1) H / OH)) and columns likewise, so windows
 * may overlap when OH does not divide H. in (B, C, H, W) -> out (B, C, OH, OW). */
void nn_adaptive_avgpool2d_forward(float *out, const float *in, int B, int C, int H, int W, int OH,
                                   int OW);
void nn_adaptive_avgpool2d_backward(float *dinput, const float *dout, int B, int C, int H, int W,
                                    int OH, int OW);

/* Bilinear resize, torch.nn.functional.interpolate(mode='bilinear',
 * align_corners=False, antialias=False): source coordinate
 * (dst + 0.5) * in/out - 0.5 clamped at 0, the two neighbours clamped to the
 * edge. in (B, C, H, W) -> out (B, C, OH, OW). Backward scatters dout into
 * dinput with the same weights (accumulates). */
void nn_resize_bilinear_forward(float *out, const float *in, int B, int C, int H, int W, int OH,
                                int OW);
void nn_resize_bilinear_backward(float *dinput, const float *dout, int B, int C, int H, int W,
                                 int OH, int OW);

/* ------------------------------------------------------------------- loss */

/* Softmax cross-entropy, mean over the batch, as torch.nn.CrossEntropyLoss
 * (https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
 * with label_smoothing in [0, 1): the target is (1 - s) one_hot + s / L.
 * logits (N, L), labels (N) in [0, L). Returns the loss and, when dlogits is
 * not NULL, WRITES (not accumulates: the loss ends the graph) its gradient
 * (N, L) = (softmax - target) / N. */
float nn_cross_entropy_forward(float *dlogits, const float *logits, const int32_t *labels, int N,
                               int L, float label_smoothing);

/* -------------------------------------------------------- parameter table */

#define NN_PARAM_NAME_MAX 64
#define NN_PARAM_MAX_DIMS 4

typedef struct nn_param {
    char name[NN_PARAM_NAME_MAX];
    int32_t ndim;
    int64_t shape[NN_PARAM_MAX_DIMS];
    int32_t group;  /* index into the optimizer's group table */
    int32_t decay;  /* 1: weight decay applies */
    int32_t block;  /* the family's block index, for freezing the first N blocks
                       (train.freeze_blocks): 0 the stem, then 1, 2 ... in input
                       order; -1 the classifier head, never frozen by count.
                       nn_params_add sets 0; families stamp it after adding. */
    size_t offset;  /* in floats, into each of data, grad, m, v */
    size_t numel;
} nn_param;

/* One contiguous buffer per role: data, grad, and AdamW's m and v share the
 * table's offsets, so the optimizer, zero-grad, clipping and checkpoint I/O
 * are flat loops. */
typedef struct nn_params {
    nn_param *entries;
    int32_t n, cap;
    size_t total;   /* floats per buffer, including alignment padding */
    float *data;    /* NULL until finalised */
    float *grad;
    float *m;
    float *v;
    void *blocks[4]; /* what data, grad, m and v were carved from (64-byte aligned) */
} nn_params;

void nn_params_init(nn_params *p);
/* Returns the entry's index, or -1 (bad shape, duplicate name, after finalise, no memory). */
int32_t nn_params_add(nn_params *p, const char *name, int32_t ndim, const int64_t *shape,
                      int32_t group, int32_t decay, sermo_error *err);
/* Allocates the four buffers, all zero. */
sermo_status nn_params_finalise(nn_params *p, sermo_error *err);
const nn_param *nn_params_find(const nn_params *p, const char *name);
float *nn_params_data(const nn_params *p, const char *name); /* NULL when absent */
float *nn_params_grad(const nn_params *p, const char *name);
void nn_params_zero_grad(nn_params *p);
size_t nn_params_count(const nn_params *p); /* parameters (floats), without padding */
void nn_params_free(nn_params *p);

/* ------------------------------------------------------------------ AdamW */

/* torch.optim.AdamW (https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html):
 * decoupled weight decay p -= lr * wd * p, then Adam with bias correction.
 * An entry decays only when its flag is set; lr and wd come from its group. */
#define NN_ADAMW_MAX_GROUPS 8

typedef struct nn_adamw_group {
    float lr;
    float weight_decay;
} nn_adamw_group;

typedef struct nn_adamw {
    float beta1, beta2, eps;
    int64_t step;   /* steps taken */
    int32_t n_groups;
    nn_adamw_group groups[NN_ADAMW_MAX_GROUPS];
} nn_adamw;

/* betas (0.9, 0.999), eps 1e-8, one group (lr, weight_decay), as torch's defaults. */
void nn_adamw_init(nn_adamw *opt, float lr, float weight_decay);
/* Adds a group; returns its index or -1 when the table is full. */
int32_t nn_adamw_add_group(nn_adamw *opt, float lr, float weight_decay);
sermo_status nn_adamw_step(nn_adamw *opt, nn_params *p, sermo_error *err);

#endif
