/* scale.c: broadcast scalings: the squeeze-and-excitation channel gate and
 * stochastic depth (drop path). Both are plain loops over contiguous rows;
 * large calls use the default OpenMP team over (sample, channel) planes (the
 * contracts take no nthreads, as the naive batchnorm). Every plane is written
 * by one thread and each dscale element is a sum over its own plane, so the
 * result does not depend on the team size. */
#include "nn/nn.h"

#define SCALE_PARALLEL_MIN 65536

/* torchvision.ops.SqueezeExcitation ends with `scale * input`
 * (https://pytorch.org/vision/stable/generated/torchvision.ops.SqueezeExcitation.html). */
void nn_channel_scale_forward(float *out, const float *in, const float *scale, int B, int C,
                              int HW) {
    // out, in (B, C, HW); scale (B, C)
    size_t planes = (size_t)B * C;
#pragma omp parallel for schedule(static) if (planes * HW > SCALE_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * HW;
        float *y = out + pl * HW, s = scale[pl];
        for (int i = 0; i < HW; i++) y[i] = x[i] * s;
    }
}

/* dinput = dout * scale; dscale = sum over HW of dout * in, summed in double
 * (a 56x56 plane is 3136 terms) with an omp simd reduction so it vectorises. */
void nn_channel_scale_backward(float *dinput, float *dscale, const float *dout, const float *in,
                               const float *scale, int B, int C, int HW) {
    // dinput, dout, in (B, C, HW); dscale, scale (B, C)
    size_t planes = (size_t)B * C;
#pragma omp parallel for schedule(static) if (planes * HW > SCALE_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *dy = dout + pl * HW;
        if (dinput) {
            float *dx = dinput + pl * HW, s = scale[pl];
            for (int i = 0; i < HW; i++) dx[i] += dy[i] * s;
        }
        if (dscale) {
            const float *x = in + pl * HW;
            double acc = 0.0;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < HW; i++) acc += (double)dy[i] * x[i];
            dscale[pl] += (float)acc;
        }
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
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * D;
        float *y = out + (size_t)b * D, m = mask[b];
        for (size_t i = 0; i < D; i++) y[i] = x[i] * m;
    }
}

void nn_drop_path_backward(float *dinput, const float *dout, const float *mask, int B, size_t D) {
    // dinput, dout (B, D); mask (B)
#pragma omp parallel for schedule(static) if ((size_t)B * D > SCALE_PARALLEL_MIN)
    for (int b = 0; b < B; b++) {
        const float *dy = dout + (size_t)b * D;
        float *dx = dinput + (size_t)b * D, m = mask[b];
        for (size_t i = 0; i < D; i++) dx[i] += dy[i] * m;
    }
}
