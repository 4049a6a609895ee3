/* layernorm.c: torch.nn.LayerNorm over the last dimension
 * (https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html):
 *   y = (x - mean) / sqrt(var + eps) * weight + bias, var biased (divide by C),
 * one (mean, rstd) per row. The backward is llm.c's layernorm_backward:
 * with xhat = (x - mean) * rstd and g = dy * weight,
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
 *   dweight += sum_rows dy * xhat,  dbias += sum_rows dy.
 * Row statistics are summed in double (cheap next to the row itself) so a
 * large mean does not cost the variance its precision.
 * Every pass over a row is a simd loop (the sums simd reductions) in
 * NN_VEC_CLONES kernels; the callers (vit.c) parallelise over rows. */
#include "nn/nn.h"
#include "nn/vecmath.h"

#include <math.h>

NN_VEC_CLONES static void layernorm_forward_rows(float *out, float *mean, float *rstd,
                                                 const float *in, const float *weight,
                                                 const float *bias, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double s = 0.0, ss = 0.0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++) s += x[i];
        double m = s / C;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < C; i++) ss += (x[i] - m) * (x[i] - m);
        float mu = (float)m, rs = (float)(1.0 / sqrt(ss / C + (double)eps));
#pragma omp simd
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * rs * weight[i] + bias[i];
        mean[n] = mu;
        rstd[n] = rs;
    }
}

NN_VEC_CLONES static void layernorm_backward_rows(float *dinput, float *dweight, float *dbias,
                                                  const float *dout, const float *in,
                                                  const float *weight, const float *mean,
                                                  const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C, *dy = dout + (size_t)n * C;
        float mu = mean[n], rs = rstd[n];
        if (dinput) {
            float g_mean = 0.0f, gx_mean = 0.0f; /* mean(g), mean(g * xhat) */
#pragma omp simd reduction(+ : g_mean, gx_mean)
            for (int i = 0; i < C; i++) {
                float g = dy[i] * weight[i];
                g_mean += g;
                gx_mean += g * (x[i] - mu) * rs;
            }
            g_mean /= (float)C;
            gx_mean /= (float)C;
            float *dx = dinput + (size_t)n * C;
#pragma omp simd
            for (int i = 0; i < C; i++) {
                float xhat = (x[i] - mu) * rs;
                dx[i] += rs * (dy[i] * weight[i] - g_mean - xhat * gx_mean);
            }
        }
        if (dbias) {
#pragma omp simd
            for (int i = 0; i < C; i++) dbias[i] += dy[i];
        }
        if (dweight) {
#pragma omp simd
            for (int i = 0; i < C; i++) dweight[i] += dy[i] * (x[i] - mu) * rs;
        }
    }
}

void nn_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                          const float *weight, const float *bias, int N, int C, float eps) {
    // out, in (N, C); mean, rstd (N); weight, bias (C)
    layernorm_forward_rows(out, mean, rstd, in, weight, bias, N, C, eps);
}

void nn_layernorm_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                           const float *in, const float *weight, const float *mean,
                           const float *rstd, int N, int C) {
    // dinput, dout, in (N, C); dweight, dbias, weight (C); mean, rstd (N)
    layernorm_backward_rows(dinput, dweight, dbias, dout, in, weight, mean, rstd, N, C);
}
