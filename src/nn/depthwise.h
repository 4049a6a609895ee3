/* depthwise.h: the direct depthwise convolution behind nn_conv2d_*_fast
 * (internal to src/nn; conv2d.c dispatches here). Same contract as the
 * naive nn_conv2d_forward / nn_conv2d_backward for the shapes that
 * nn_depthwise_supported accepts: groups == C_in == C_out, dilation 1,
 * kernel sides up to NN_DEPTHWISE_KMAX, any stride and padding. */
#ifndef SERMO_NN_DEPTHWISE_H
#define SERMO_NN_DEPTHWISE_H

#include "nn/nn.h"

#define NN_DEPTHWISE_KMAX 7

int nn_depthwise_supported(const nn_conv2d *c);

/* Scratch for nthreads threads, in floats: 0 at stride 1; with a column
 * stride the input plane is split by column phase, one plane per thread. */
size_t nn_depthwise_workspace_size(const nn_conv2d *c, int nthreads);

/* out (B, C, OH, OW), in (B, C, H, W), weight (C, 1, KH, KW), bias (C) or NULL.
 * OpenMP over the B*C planes. */
void nn_depthwise_forward(float *out, const float *in, const float *weight, const float *bias,
                          const nn_conv2d *c, float *workspace, int nthreads);

/* dinput (B, C, H, W) by dinput_mode, dweight (C, 1, KH, KW) and dbias (C)
 * accumulated; any may be NULL. OpenMP over channels, each thread owning its
 * channels' weight gradients across the whole batch, so the result is the
 * same bit for bit for any thread count. */
void nn_depthwise_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                           const float *in, const float *weight, const nn_conv2d *c,
                           float *workspace, int nthreads, nn_grad_mode dinput_mode);

#endif
