/* scale.c: broadcast scalings: the squeeze-and-excitation channel gate and
 * stochastic depth (drop path). Both are plain loops over contiguous rows;
 * large calls use the default OpenMP team over (sample, channel) planes (the
 * contracts take no nthreads, as the naive batchnorm). Every plane is written
 * by one thread and each dscale element is a sum over its own plane, so the
 * result does not depend on the team size. */
#include "nn/nn.h"
#include "nn/vecmath.h"

#define SCALE_PARALLEL_MIN 65536

/* The row loops both ops share, as NN_VEC_CLONES simd kernels (-O2's
 * very-cheap cost model would leave them scalar, and baseline x86-64 has
 * only 4-wide SSE2). Accumulating variants add into dst. */
NN_VEC_CLONES static void scale_row(float *dst, const float *src, float s, size_t n, int accumulate) {
    if (accumulate) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) dst[i] += src[i] * s;
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) dst[i] = src[i] * s;
    }
}

/* sum a[i] b[i] in double (a 56x56 plane is 3136 terms). */
NN_VEC_CLONES static double dot_row(const float *a, const float *b, size_t n) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < n; i++) acc += (double)a[i] * b[i];
    return acc;
}

/* torchvision.ops.SqueezeExcitation ends with `scale * input`
 * (https://pytorch.org/vision/stable/generated/torchvision.ops.SqueezeExcitation.html). */
void nn_channel_scale_forward(float *out, const float *in, const float *scale, int B, int C,
                              int HW) {
    // out, in (B, C, HW); scale (B, C)
    size_t planes = (size_t)B * C;
#pragma omp parallel for schedule(static) if (planes * HW > SCALE_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++)
        scale_row(out + pl * HW, in + pl * HW, scale[pl], (size_t)HW, 0);
}

/* dinput += dout * scale; dscale += sum over HW of dout * in (dot_row). */
void nn_channel_scale_backward(float *dinput, float *dscale, const float *dout, const float *in,
                               const float *scale, int B, int C, int HW) {
    // dinput, dout, in (B, C, HW); dscale, scale (B, C)
    size_t planes = (size_t)B * C;
#pragma omp parallel for schedule(static) if (planes * HW > SCALE_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *dy = dout + pl * HW;
        if (dinput) scale_row(dinput + pl * HW, dy, scale[pl], (size_t)HW, 1);
        if (dscale) dscale[pl] += (float)dot_row(dy, in + pl * HW, (size_t)HW);
    }
}

/* torchvision.ops.stochastic_depth(mode="row")
 * (https://pytorch.org/vision/stable/generated/torchvision.ops.stochastic_depth.html):
 * noise ~ Bernoulli(1 - p) per sample, divided by 1 - p when 1 - p > 0, so
 * p = 1 drops every sample without dividing by zero. The draw order (one
 * sermo_rng_uniform per sample, kept when >= p) matches nn_dropout_forward. */
void nn_drop_path_forward(float *out, float *mask, const float *in, int B, size_t D, float p,
                          int train, sermo_rng *rng) {
    // out, in (B, D); mask (B)
    int identity = !train || p <= 0.0f;
    float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (int b = 0; b < B; b++)
        mask[b] = identity ? 1.0f : sermo_rng_uniform(rng) >= (double)p ? keep_scale : 0.0f;
#pragma omp parallel for schedule(static) if ((size_t)B * D > SCALE_PARALLEL_MIN)
    for (int b = 0; b < B; b++) scale_row(out + (size_t)b * D, in + (size_t)b * D, mask[b], D, 0);
}

void nn_drop_path_backward(float *dinput, const float *dout, const float *mask, int B, size_t D) {
    // dinput, dout (B, D); mask (B)
#pragma omp parallel for schedule(static) if ((size_t)B * D > SCALE_PARALLEL_MIN)
    for (int b = 0; b < B; b++)
        scale_row(dinput + (size_t)b * D, dout + (size_t)b * D, mask[b], D, 1);
}
