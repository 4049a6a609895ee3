/* batchnorm.c: torch.nn.BatchNorm2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html):
 *   y = (x - mean) / sqrt(var + eps) * weight + bias, per channel over (B, H, W).
 * Training normalises with the biased batch variance but feeds the unbiased
 * one (times M/(M-1), M = B*H*W) into running_var, with
 *   running = (1 - momentum) * running + momentum * batch_stat.
 * Statistics are summed in double: channels can hold many elements. */
#include "nn/nn.h"
#include "nn/vecmath.h"

#include <math.h>
#include <string.h>

/* Channel c's normalisation from its batch mean and sum of squared
 * deviations m2 over M values (train), or from the running statistics
 * (eval); train also moves the running statistics. */
static void bn_channel_stats(int c, int train, double m, double m2, size_t M, float eps, float momentum,
                             float *running_mean, float *running_var, float *mu, float *rs) {
    if (!train) {
        *mu = running_mean[c];
        *rs = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
        return;
    }
    double var = m2 / (double)M;
    *mu = (float)m;
    *rs = (float)(1.0 / sqrt(var + (double)eps));
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * *mu;
    if (running_var) {
        double unbiased = M > 1 ? m2 / (double)(M - 1) : var;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
    }
}

void nn_batchnorm_grad_coeffs(int c, double sdy, double sdyx, size_t M, int train, const float *weight, float rs,
                              float *dweight, float *dbias, float *g, float *a, float *k) {
    if (dbias) dbias[c] += (float)sdy;
    if (dweight) dweight[c] += (float)sdyx;
    *g = (weight ? weight[c] : 1.0f) * rs;
    *a = train ? (float)(sdy / (double)M) : 0.0f;
    *k = train ? (float)(sdyx / (double)M) : 0.0f;
}

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
            bn_channel_stats(c, 1, m, ss, M, eps, momentum, running_mean, running_var, &mu, &rs);
        } else {
            bn_channel_stats(c, 0, 0, 0, M, eps, momentum, running_mean, running_var, &mu, &rs);
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
        float g, a, k;
        nn_batchnorm_grad_coeffs(c, sdy, sdyx, M, train, weight, rs, dweight, dbias, &g, &a, &k);
        if (!dinput) continue;
        for (int b = 0; b < B; b++) {
            const float *x = in + ((size_t)b * C + c) * HW;
            const float *dy = dout + ((size_t)b * C + c) * HW;
            float *dx = dinput + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[i] += g * (dy[i] - a - (x[i] - mu) * rs * k);
        }
    }
}

/* ------------------------------------------------------------------- fast */

/* GCC vector extensions: 8 float lanes, lowered to whatever the target has
 * (two SSE registers on baseline x86-64), no intrinsics or -march needed. */
/* The helpers are always inlined, so the psabi note (a 32-byte vector
 * passed without AVX) concerns no real ABI boundary. They must be: a
 * per-ISA clone (NN_VEC_CLONES) calling a baseline copy at -O0 would pass
 * the vectors in other registers than the callee reads (crashed the Debug
 * build). */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float bn_v8f __attribute__((vector_size(32)));
typedef int32_t bn_v8i __attribute__((vector_size(32)));

NN_VEC_INLINE bn_v8f bn_load(const float *p) {
    bn_v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
NN_VEC_INLINE void bn_store(float *p, bn_v8f v) { memcpy(p, &v, sizeof v); }
NN_VEC_INLINE double bn_hsum(bn_v8f v) {
    double s = 0.0;
    for (int k = 0; k < 8; k++) s += v[k];
    return s;
}
/* max(v, 0) as nn_relu_forward: NaN and -0 give +0. */
NN_VEC_INLINE bn_v8f bn_relu(bn_v8f v) {
    bn_v8f zero = {0};
    return (bn_v8f)((bn_v8i)v & (bn_v8i)(v > zero));
}

/* One row x (n): its exact mean in *mean and sum (x - (float)mean)^2 around
 * that rounded centre; 16 float lanes each, lanes added in double. */
NN_VEC_CLONES static double bn_row_stats(const float *x, int n, double *mean) {
    bn_v8f a = {0}, b = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a += bn_load(x + i);
        b += bn_load(x + i + 8);
    }
    double s = bn_hsum(a) + bn_hsum(b);
    for (; i < n; i++) s += x[i];
    *mean = s / n;
    float m = (float)*mean;
    bn_v8f vm = m - (bn_v8f){0}, q0 = {0}, q1 = {0};
    for (i = 0; i + 16 <= n; i += 16) {
        bn_v8f d0 = bn_load(x + i) - vm, d1 = bn_load(x + i + 8) - vm;
        q0 += d0 * d0;
        q1 += d1 * d1;
    }
    double q = bn_hsum(q0) + bn_hsum(q1);
    for (; i < n; i++) q += ((double)x[i] - m) * ((double)x[i] - m);
    return q;
}

void nn_batchnorm_channel_stats(const float *in, int c, int B, int C, int HW, float eps, float momentum, int train,
                                float *running_mean, float *running_var, float *mu, float *rs) {
    // in (B, C, HW)
    size_t M = (size_t)B * HW;
    if (!train) {
        bn_channel_stats(c, 0, 0, 0, M, eps, momentum, running_mean, running_var, mu, rs);
        return;
    }
    /* Chan, Golub & LeVeque's pairwise update, one row at a time:
     * n, m, m2 = count, mean, sum of squared deviations so far. */
    double n = 0.0, m = 0.0, m2 = 0.0;
    for (int b = 0; b < B; b++) {
        double rm;
        double q = bn_row_stats(in + ((size_t)b * C + c) * HW, HW, &rm);
        double off = rm - (double)(float)rm; /* centre rounding */
        double rq = q - HW * off * off;      /* the row's own m2 */
        double delta = rm - m, n1 = n + HW;
        m += delta * HW / n1;
        m2 += rq + delta * delta * n * HW / n1;
        n = n1;
    }
    if (m2 < 0.0) m2 = 0.0;
    bn_channel_stats(c, 1, m, m2, M, eps, momentum, running_mean, running_var, mu, rs);
}

/* y = x * scale + shift [then ReLU] over one row. */
NN_VEC_CLONES static void bn_row_affine(float *y, const float *x, int n, float scale, float shift, int relu) {
    bn_v8f vs = scale - (bn_v8f){0}, vb = shift - (bn_v8f){0};
    int i = 0;
    if (relu) {
        for (; i + 8 <= n; i += 8) bn_store(y + i, bn_relu(bn_load(x + i) * vs + vb));
        for (; i < n; i++) {
            float v = x[i] * scale + shift;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (; i + 8 <= n; i += 8) bn_store(y + i, bn_load(x + i) * vs + vb);
        for (; i < n; i++) y[i] = x[i] * scale + shift;
    }
}

void nn_batchnorm2d_forward_fast(float *out, float *mean, float *rstd, float *running_mean,
                                 float *running_var, const float *in, const float *weight,
                                 const float *bias, int B, int C, int HW, float eps,
                                 float momentum, int train, int relu, int nthreads) {
    // out, in (B, C, HW); mean, rstd, running_mean, running_var, weight, bias (C)
    size_t M = (size_t)B * HW;
    if (nthreads < 1) nthreads = 1;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (M * C > 65536)
    for (int c = 0; c < C; c++) {
        float mu, rs;
        nn_batchnorm_channel_stats(in, c, B, C, HW, eps, momentum, train, running_mean, running_var, &mu, &rs);
        if (mean) mean[c] = mu;
        if (rstd) rstd[c] = rs;
        float scale = (weight ? weight[c] : 1.0f) * rs;
        float shift = (bias ? bias[c] : 0.0f) - mu * scale;
        for (int b = 0; b < B; b++)
            bn_row_affine(out + ((size_t)b * C + c) * HW, in + ((size_t)b * C + c) * HW, HW, scale,
                          shift, relu);
    }
}

/* Over one row: dy masked by act > 0 when act is given (the fused ReLU's
 * backward); *sdy += sum dy, *sdyx += sum dy * xhat. */
NN_VEC_CLONES static void bn_row_grad_sums(const float *dy, const float *x, const float *act, int n, float mu,
                             float rs, double *sdy, double *sdyx) {
    bn_v8f vmu = mu - (bn_v8f){0}, vrs = rs - (bn_v8f){0}, zero = {0}, s = {0}, sx = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        bn_v8f d = bn_load(dy + i);
        if (act) d = (bn_v8f)((bn_v8i)d & (bn_v8i)(bn_load(act + i) > zero));
        s += d;
        sx += d * ((bn_load(x + i) - vmu) * vrs);
    }
    double a = bn_hsum(s), b = bn_hsum(sx);
    for (; i < n; i++) {
        float d = act && !(act[i] > 0.0f) ? 0.0f : dy[i];
        a += d;
        b += d * ((x[i] - mu) * rs);
    }
    *sdy += a;
    *sdyx += b;
}

/* dx (=|+=) g * (dy - a - xhat * k) over one row, dy masked as above. */
NN_VEC_CLONES static void bn_row_dx(float *dx, const float *dy, const float *x, const float *act, int n,
                      float mu, float rs, float g, float a, float k, nn_grad_mode mode) {
    bn_v8f vmu = mu - (bn_v8f){0}, vrs = rs - (bn_v8f){0}, vg = g - (bn_v8f){0};
    bn_v8f va = a - (bn_v8f){0}, vk = k - (bn_v8f){0}, zero = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        bn_v8f d = bn_load(dy + i);
        if (act) d = (bn_v8f)((bn_v8i)d & (bn_v8i)(bn_load(act + i) > zero));
        bn_v8f v = vg * (d - va - (bn_load(x + i) - vmu) * vrs * vk);
        bn_store(dx + i, mode == NN_GRAD_OVERWRITE ? v : bn_load(dx + i) + v);
    }
    for (; i < n; i++) {
        float d = act && !(act[i] > 0.0f) ? 0.0f : dy[i];
        float v = g * (d - a - (x[i] - mu) * rs * k);
        dx[i] = mode == NN_GRAD_OVERWRITE ? v : dx[i] + v;
    }
}

void nn_batchnorm2d_backward_fast(float *dinput, float *dweight, float *dbias, const float *dout,
                                  const float *mean, const float *rstd, const float *in,
                                  const float *weight, const float *act, int B, int C, int HW,
                                  int train, nn_grad_mode dinput_mode, int nthreads) {
    // dinput, dout, in, act (B, C, HW); dweight, dbias, mean, rstd, weight (C)
    size_t M = (size_t)B * HW;
    if (nthreads < 1) nthreads = 1;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (M * C > 65536)
    for (int c = 0; c < C; c++) {
        float mu = mean[c], rs = rstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < B; b++) {
            size_t o = ((size_t)b * C + c) * HW;
            bn_row_grad_sums(dout + o, in + o, act ? act + o : NULL, HW, mu, rs, &sdy, &sdyx);
        }
        float g, a, k;
        nn_batchnorm_grad_coeffs(c, sdy, sdyx, M, train, weight, rs, dweight, dbias, &g, &a, &k);
        if (!dinput) continue;
        for (int b = 0; b < B; b++) {
            size_t o = ((size_t)b * C + c) * HW;
            bn_row_dx(dinput + o, dout + o, in + o, act ? act + o : NULL, HW, mu, rs, g, a, k,
                      dinput_mode);
        }
    }
}
