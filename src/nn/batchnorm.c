/* batchnorm.c: torch.nn.BatchNorm2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html):
 *   y = (x - mean) / sqrt(var + eps) * weight + bias, per channel over (B, H, W).
 * Training normalises with the biased batch variance but feeds the unbiased
 * one (times M/(M-1), M = B*H*W) into running_var, with
 *   running = (1 - momentum) * running + momentum * batch_stat.
 * Statistics are summed in double: channels can hold many elements. */
#include "nn/nn.h"

#include <math.h>

void nn_batchnorm2d_forward(float *out, float *mean, float *rstd, float *running_mean,
                            float *running_var, const float *in, const float *weight,
                            const float *bias, int B, int C, int HW, float eps, float momentum,
                            int train) {
    // out, in (B, C, HW); mean, rstd, running_mean, running_var, weight, bias (C)
    size_t M = (size_t)B * HW;
#pragma omp parallel for schedule(static) if (M * C > 65536)
    for (int c = 0; c < C; c++) {
        float mu, rs;
        if (train) {
            double s = 0.0, ss = 0.0;
            for (int b = 0; b < B; b++) {
                const float *x = in + ((size_t)b * C + c) * HW;
                for (int i = 0; i < HW; i++) s += x[i];
            }
            double m = s / (double)M;
            for (int b = 0; b < B; b++) {
                const float *x = in + ((size_t)b * C + c) * HW;
                for (int i = 0; i < HW; i++) ss += (x[i] - m) * (x[i] - m);
            }
            double var = ss / (double)M;
            mu = (float)m;
            rs = (float)(1.0 / sqrt(var + (double)eps));
            if (running_mean)
                running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
            if (running_var) {
                double unbiased = M > 1 ? ss / (double)(M - 1) : var;
                running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
            }
        } else {
            mu = running_mean[c];
            rs = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
        }
        if (mean) mean[c] = mu;
        if (rstd) rstd[c] = rs;
        float scale = (weight ? weight[c] : 1.0f) * rs;
        float shift = (bias ? bias[c] : 0.0f) - mu * scale;
        for (int b = 0; b < B; b++) {
            const float *x = in + ((size_t)b * C + c) * HW;
            float *y = out + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) y[i] = x[i] * scale + shift;
        }
    }
}

void nn_batchnorm2d_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *mean, const float *rstd, const float *in,
                             const float *weight, int B, int C, int HW, int train) {
    // dinput, dout, in (B, C, HW); dweight, dbias, mean, rstd, weight (C)
    size_t M = (size_t)B * HW;
#pragma omp parallel for schedule(static) if (M * C > 65536)
    for (int c = 0; c < C; c++) {
        float mu = mean[c], rs = rstd[c];
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * xhat */
        for (int b = 0; b < B; b++) {
            const float *x = in + ((size_t)b * C + c) * HW;
            const float *dy = dout + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                sdy += dy[i];
                sdyx += dy[i] * ((x[i] - mu) * rs);
            }
        }
        if (dbias) dbias[c] += (float)sdy;
        if (dweight) dweight[c] += (float)sdyx;
        if (!dinput) continue;
        float g = (weight ? weight[c] : 1.0f) * rs;
        /* Train: the batch statistics depend on x, giving
         *   dx = g * (dy - mean(dy) - xhat * mean(dy * xhat)).
         * Eval: the statistics are constants and dx = g * dy. */
        float a = train ? (float)(sdy / (double)M) : 0.0f;
        float k = train ? (float)(sdyx / (double)M) : 0.0f;
        for (int b = 0; b < B; b++) {
            const float *x = in + ((size_t)b * C + c) * HW;
            const float *dy = dout + ((size_t)b * C + c) * HW;
            float *dx = dinput + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[i] += g * (dy[i] - a - (x[i] - mu) * rs * k);
        }
    }
}
