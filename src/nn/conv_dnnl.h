/* conv_dnnl.h: conv2d on oneDNN (internal). The same contract as
 * nn_conv2d_forward_fast / nn_conv2d_backward_fast_mode in nn.h: NCHW float
 * input and output, weights (C_out, C_in / groups, KH, KW), bias optional,
 * dinput ACCUMULATE or OVERWRITE, dweight and dbias ACCUMULATE (+=).
 *
 * Built with -DSERMO_ONEDNN=ON and libdnnl-dev present, SERMO_HAVE_ONEDNN is
 * defined and these run oneDNN's primitives (v2.x C API). Otherwise they are
 * stubs: nn_dnnl_available() is 0 and nn_dnnl_init fails with
 * SERMO_ERR_UNSUPPORTED, so a caller dispatches on that once, at model build.
 *
 * Ownership and memory. An nn_dnnl context (one per model or trainer; not
 * thread-safe: one thread calls it at a time) owns
 *   - the oneDNN engine and stream;
 *   - a plan per distinct (conv sizes incl. B, nthreads, bias flag): the
 *     forward, backward-data and backward-weights primitives and the reorders
 *     between our layouts and the ones oneDNN prefers, created once;
 *   - one arena, shared by all plans because they run one at a time, holding
 *     the reordered tensors and oneDNN's scratchpad; it grows only when a new
 *     plan needs more.
 * Call nn_conv2d_plan_dnnl for every conv shape at model build (and for the
 * last, smaller batch of an epoch) so that no step creates primitives or
 * allocates; a call with a shape not planned yet plans it then.
 *
 * Where it pays (bench/bench_conv_dnnl.c, ResNet-18 convs, B 32, 1 thread,
 * CPU time): 3x3 and 7x7 convs ~0.6-0.8x the im2col path's time in every
 * direction in the ANY layout; 1x1 stride-2 convs 1.2-1.4x (the reorders
 * of a strided input cost more than the GEMM), and a C_in = 1 backward-data
 * pads the gradient to 16 channels (7x): keep those on the fast path. */
#ifndef SERMO_NN_CONV_DNNL_H
#define SERMO_NN_CONV_DNNL_H

#include "nn/nn.h"

/* Which memory layouts the primitives see. ANY lets oneDNN pick its blocked
 * layouts (nChw16c, OIhw16i16o ...) and reorders from and to ours around each
 * call; PLAIN forces NCHW / OIHW, so no reorders but usually oneDNN's own
 * im2col + GEMM path. */
typedef enum nn_dnnl_layout { NN_DNNL_LAYOUT_ANY = 0, NN_DNNL_LAYOUT_PLAIN } nn_dnnl_layout;

typedef struct nn_dnnl nn_dnnl;

/* 1 when this build has oneDNN. */
int nn_dnnl_available(void);

/* NULL and an error when oneDNN is not built in or its CPU engine fails. */
nn_dnnl *nn_dnnl_init(nn_dnnl_layout layout, sermo_error *err);
void nn_dnnl_free(nn_dnnl *ctx);

/* Creates (once) the primitives for conv c run with nthreads OpenMP threads,
 * with a bias / dbias term when has_bias, and grows the arena for them. */
sermo_status nn_conv2d_plan_dnnl(nn_dnnl *ctx, const nn_conv2d *c, int has_bias, int nthreads,
                                 sermo_error *err);

/* out (B, C_out, OH, OW) = conv(in (B, C_in, H, W), weight, bias or NULL). */
sermo_status nn_conv2d_forward_dnnl(nn_dnnl *ctx, float *out, const float *in, const float *weight,
                                    const float *bias, const nn_conv2d *c, int nthreads,
                                    sermo_error *err);

/* dinput (B, C_in, H, W) as dinput_mode, dweight (C_out, Ci, KH, KW) and
 * dbias (C_out) accumulate; any of the three may be NULL. The plan's bias
 * flag is dbias != NULL. A conv with one input channel per group (a
 * spectrogram model's first) has no input gradient planned, since oneDNN
 * would pad it to 16 channels: asking for one returns SERMO_ERR_UNSUPPORTED
 * before anything is computed. */
sermo_status nn_conv2d_backward_dnnl(nn_dnnl *ctx, float *dinput, float *dweight, float *dbias,
                                     const float *dout, const float *in, const float *weight,
                                     const nn_conv2d *c, int nthreads, nn_grad_mode dinput_mode,
                                     sermo_error *err);

/* Bytes the arena holds now (for reports and tests). */
size_t nn_dnnl_arena_bytes(const nn_dnnl *ctx);

/* The convolutions the models run. With ctx (NULL: none) and a shape
 * nn_dnnl_suits (kernel larger than 1x1, not a depthwise conv, which
 * depthwise.c does faster), oneDNN; otherwise, or when oneDNN cannot plan
 * the shape, nn_conv2d_forward_fast / nn_conv2d_backward_fast_mode with
 * their workspace. Results agree to float rounding, not bit for bit. */
int nn_dnnl_suits(const nn_conv2d *c);
void nn_conv2d_forward_auto(nn_dnnl *ctx, float *out, const float *in, const float *weight, const float *bias,
                            const nn_conv2d *c, float *workspace, int nthreads);
void nn_conv2d_backward_auto(nn_dnnl *ctx, float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, const nn_conv2d *c, float *workspace,
                             int nthreads, nn_grad_mode dinput_mode);

#endif
