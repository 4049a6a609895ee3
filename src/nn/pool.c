/* pool.c: max, average and global average pooling over NCHW planes, as
 * torch.nn.MaxPool2d, AvgPool2d (ceil_mode=False) and AdaptiveAvgPool2d(1)
 * (https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html,
 *  https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html). */
#include "nn/nn.h"
#include "nn/vecmath.h"

#include <math.h>
#include <string.h>

sermo_status nn_pool2d_setup(nn_pool2d *p, sermo_error *err) {
    if (p->B <= 0 || p->C <= 0 || p->H <= 0 || p->W <= 0 || p->KH <= 0 || p->KW <= 0 ||
        p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "pool2d: sizes must be positive");
    /* torch's rule; it also guarantees every window holds a real element. */
    if (2 * p->pad_h > p->KH || 2 * p->pad_w > p->KW)
        return sermo_fail(err, SERMO_ERR_INVALID, "pool2d: padding must be at most half the kernel");
    int eh = p->H + 2 * p->pad_h - p->KH, ew = p->W + 2 * p->pad_w - p->KW;
    if (eh < 0 || ew < 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "pool2d: kernel larger than the padded input");
    p->OH = eh / p->stride_h + 1;
    p->OW = ew / p->stride_w + 1;
    return SERMO_OK;
}

sermo_status nn_pool2d_init(nn_pool2d *p, int B, int C, int H, int W, int K, int stride, int pad,
                            sermo_error *err) {
    *p = (nn_pool2d){.B = B, .C = C, .H = H, .W = W, .KH = K, .KW = K, .stride_h = stride,
                     .stride_w = stride, .pad_h = pad, .pad_w = pad, .count_include_pad = 1};
    return nn_pool2d_setup(p, err);
}

void nn_pool2d_window(const nn_pool2d *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    int ys = oy * p->stride_h - p->pad_h, xs = ox * p->stride_w - p->pad_w;
    *y1 = ys + p->KH < p->H ? ys + p->KH : p->H;
    *x1 = xs + p->KW < p->W ? xs + p->KW : p->W;
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
}

/* The reference's scan of one window, clipped to the input. */
static void maxpool_window(float *y, int32_t *am, const float *x, const nn_pool2d *p, int oy, int ox) {
    int y0, y1, x0, x1;
    nn_pool2d_window(p, oy, ox, &y0, &y1, &x0, &x1);
    float best = -INFINITY;
    int32_t at = y0 * p->W + x0;
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            float v = x[iy * p->W + ix];
            if (v > best || isnan(v)) { /* first max wins; NaN propagates, as torch */
                best = v;
                at = iy * p->W + ix;
            }
        }
    *y = best;
    *am = at;
}

void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, const nn_pool2d *p) {
    // out, argmax (B, C, OH, OW), in (B, C, H, W)
    size_t planes = (size_t)p->B * p->C;
#pragma omp parallel for schedule(static) if (planes * p->H * p->W > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * p->H * p->W;
        float *y = out + pl * p->OH * p->OW;
        int32_t *am = argmax + pl * p->OH * p->OW;
        for (int oy = 0; oy < p->OH; oy++)
            for (int ox = 0; ox < p->OW; ox++)
                maxpool_window(y + oy * p->OW + ox, am + oy * p->OW + ox, x, p, oy, ox);
    }
}

void nn_maxpool2d_backward(float *dinput, const float *dout, const int32_t *argmax,
                           const nn_pool2d *p) {
    // dinput (B, C, H, W), dout, argmax (B, C, OH, OW); overlapping windows add up
    size_t planes = (size_t)p->B * p->C, n_out = (size_t)p->OH * p->OW;
#pragma omp parallel for schedule(static) if (planes * p->H * p->W > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dx = dinput + pl * p->H * p->W;
        for (size_t i = 0; i < n_out; i++) dx[argmax[pl * n_out + i]] += dout[pl * n_out + i];
    }
}

/* 2x2 stride-2 unpadded max-pool, 8 outputs at a time: the two input rows
 * are split into even and odd columns and the four candidates compared in
 * the reference's row-major order with its rule (v > best || isnan(v)), as
 * lane masks instead of branches. */
/* The helpers are always inlined, so the psabi note (a 32-byte vector
 * passed without AVX) concerns no real ABI boundary. They must be: a
 * per-ISA clone (NN_VEC_CLONES) calling a baseline copy at -O0 would pass
 * the vectors in other registers than the callee reads (crashed the Debug
 * build). */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float pool_v8f __attribute__((vector_size(32)));
typedef int32_t pool_v8i __attribute__((vector_size(32)));

NN_VEC_INLINE pool_v8f pool_load(const float *p) {
    pool_v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

NN_VEC_INLINE void pool_take(pool_v8f *best, pool_v8i *at, pool_v8f v, pool_v8i idx) {
    pool_v8i m = (v > *best) | (v != v);
    *best = (pool_v8f)(((pool_v8i)v & m) | ((pool_v8i)*best & ~m));
    *at = (idx & m) | (*at & ~m);
}

static void maxpool_2x2_plane(float *y, int32_t *am, const float *x, const nn_pool2d *p) {
    const pool_v8i even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1, lane2 = even;
    int W = p->W;
    for (int oy = 0; oy < p->OH; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *yo = y + (size_t)oy * p->OW;
        int32_t *ao = am + (size_t)oy * p->OW;
        int ox = 0;
        for (; ox + 8 <= p->OW; ox += 8) {
            pool_v8f a0 = pool_load(r0 + 2 * ox), a1 = pool_load(r0 + 2 * ox + 8);
            pool_v8f b0 = pool_load(r1 + 2 * ox), b1 = pool_load(r1 + 2 * ox + 8);
            pool_v8i base = 2 * oy * W + 2 * ox + lane2;
            pool_v8f best = __builtin_shuffle(a0, a1, even);
            pool_v8i at = base;
            pool_take(&best, &at, __builtin_shuffle(a0, a1, odd), base + 1);
            pool_take(&best, &at, __builtin_shuffle(b0, b1, even), base + W);
            pool_take(&best, &at, __builtin_shuffle(b0, b1, odd), base + W + 1);
            memcpy(yo + ox, &best, sizeof best);
            memcpy(ao + ox, &at, sizeof at);
        }
        for (; ox < p->OW; ox++) {
            const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
            const int32_t idx[4] = {2 * oy * W + 2 * ox, 2 * oy * W + 2 * ox + 1,
                                    (2 * oy + 1) * W + 2 * ox, (2 * oy + 1) * W + 2 * ox + 1};
            float best = v[0];
            int32_t at = idx[0];
            for (int k = 1; k < 4; k++)
                if (v[k] > best || isnan(v[k])) {
                    best = v[k];
                    at = idx[k];
                }
            yo[ox] = best;
            ao[ox] = at;
        }
    }
}

/* 3x3 stride-2 max-pool with padding 1 (ResNet's stem), 8 outputs at a
 * time where the window's columns 2 ox - 1 .. 2 ox + 1 and both 16-float
 * loads stay inside the row: even lanes of the load at 2 ox - 1 are the
 * left column, its odd lanes the middle one, even lanes of the load at
 * 2 ox + 1 the right one; the window's rows are clipped as in the reference
 * and the candidates taken in its row-major order, so ties and NaNs resolve
 * as there. Other columns run the reference's scan. */
NN_VEC_CLONES static void maxpool_3x3s2_plane(float *y, int32_t *am, const float *x, const nn_pool2d *p) {
    const pool_v8i even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1, lane2 = even;
    int W = p->W;
    for (int oy = 0; oy < p->OH; oy++) {
        int y0, y1, x0, x1;
        nn_pool2d_window(p, oy, 0, &y0, &y1, &x0, &x1);
        float *yo = y + (size_t)oy * p->OW;
        int32_t *ao = am + (size_t)oy * p->OW;
        int ox = 0;
        if (p->OW > 0) maxpool_window(yo, ao, x, p, oy, ox++);
        for (; ox + 8 <= p->OW && 2 * ox + 16 < W; ox += 8) {
            pool_v8f best = {0};
            pool_v8i at = {0};
            for (int iy = y0; iy < y1; iy++) {
                const float *r = x + (size_t)iy * W + 2 * ox - 1;
                pool_v8f a0 = pool_load(r), a1 = pool_load(r + 8), b0 = pool_load(r + 2), b1 = pool_load(r + 10);
                pool_v8i base = iy * W + 2 * ox - 1 + lane2;
                pool_v8f left = __builtin_shuffle(a0, a1, even);
                if (iy == y0) {
                    best = left;
                    at = base;
                } else {
                    pool_take(&best, &at, left, base);
                }
                pool_take(&best, &at, __builtin_shuffle(a0, a1, odd), base + 1);
                pool_take(&best, &at, __builtin_shuffle(b0, b1, even), base + 2);
            }
            memcpy(yo + ox, &best, sizeof best);
            memcpy(ao + ox, &at, sizeof at);
        }
        for (; ox < p->OW; ox++) maxpool_window(yo + ox, ao + ox, x, p, oy, ox);
    }
}

void nn_maxpool2d_forward_fast(float *out, int32_t *argmax, const float *in, const nn_pool2d *p,
                               int nthreads) {
    // out, argmax (B, C, OH, OW), in (B, C, H, W)
    int k2 = p->KH == 2 && p->KW == 2 && p->stride_h == 2 && p->stride_w == 2 && !p->pad_h && !p->pad_w;
    int k3 = p->KH == 3 && p->KW == 3 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 1 && p->pad_w == 1;
    if (!k2 && !k3) {
        nn_maxpool2d_forward(out, argmax, in, p);
        return;
    }
    if (nthreads < 1) nthreads = 1;
    size_t planes = (size_t)p->B * p->C, n_in = (size_t)p->H * p->W,
           n_out = (size_t)p->OH * p->OW;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (planes * n_in > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        if (k2) maxpool_2x2_plane(out + pl * n_out, argmax + pl * n_out, in + pl * n_in, p);
        else maxpool_3x3s2_plane(out + pl * n_out, argmax + pl * n_out, in + pl * n_in, p);
    }
}

void nn_maxpool2d_backward_fast(float *dinput, const float *dout, const int32_t *argmax,
                                const nn_pool2d *p, nn_grad_mode dinput_mode, int nthreads) {
    // dinput (B, C, H, W), dout, argmax (B, C, OH, OW)
    if (nthreads < 1) nthreads = 1;
    size_t planes = (size_t)p->B * p->C, n_in = (size_t)p->H * p->W,
           n_out = (size_t)p->OH * p->OW;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (planes * n_in > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dx = dinput + pl * n_in;
        const float *dy = dout + pl * n_out;
        const int32_t *am = argmax + pl * n_out;
        if (dinput_mode == NN_GRAD_OVERWRITE) memset(dx, 0, sizeof(float) * n_in);
        for (size_t i = 0; i < n_out; i++) dx[am[i]] += dy[i];
    }
}

/* Window [y0, y1) x [x0, x1) clipped to the input and its divisor: torch
 * counts the padded area (clipped to input + padding) when count_include_pad. */
static float avg_window(const nn_pool2d *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    int hs = oy * p->stride_h - p->pad_h, ws = ox * p->stride_w - p->pad_w;
    int he = hs + p->KH < p->H + p->pad_h ? hs + p->KH : p->H + p->pad_h;
    int we = ws + p->KW < p->W + p->pad_w ? ws + p->KW : p->W + p->pad_w;
    int padded = (he - hs) * (we - ws);
    *y0 = hs < 0 ? 0 : hs;
    *x0 = ws < 0 ? 0 : ws;
    *y1 = he < p->H ? he : p->H;
    *x1 = we < p->W ? we : p->W;
    return (float)(p->count_include_pad ? padded : (*y1 - *y0) * (*x1 - *x0));
}

void nn_avgpool2d_forward(float *out, const float *in, const nn_pool2d *p) {
    // out (B, C, OH, OW), in (B, C, H, W)
    size_t planes = (size_t)p->B * p->C;
#pragma omp parallel for schedule(static) if (planes * p->H * p->W > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * p->H * p->W;
        float *y = out + pl * p->OH * p->OW;
        for (int oy = 0; oy < p->OH; oy++)
            for (int ox = 0; ox < p->OW; ox++) {
                int y0, y1, x0, x1;
                float div = avg_window(p, oy, ox, &y0, &y1, &x0, &x1);
                float s = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) s += x[iy * p->W + ix];
                y[oy * p->OW + ox] = s / div;
            }
    }
}

void nn_avgpool2d_backward(float *dinput, const float *dout, const nn_pool2d *p) {
    // dinput (B, C, H, W), dout (B, C, OH, OW)
    size_t planes = (size_t)p->B * p->C;
#pragma omp parallel for schedule(static) if (planes * p->H * p->W > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dx = dinput + pl * p->H * p->W;
        const float *dy = dout + pl * p->OH * p->OW;
        for (int oy = 0; oy < p->OH; oy++)
            for (int ox = 0; ox < p->OW; ox++) {
                int y0, y1, x0, x1;
                float g = dy[oy * p->OW + ox] / avg_window(p, oy, ox, &y0, &y1, &x0, &x1);
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) dx[iy * p->W + ix] += g;
            }
    }
}

void nn_global_avgpool_forward(float *out, const float *in, int B, int C, int HW) {
    // out (B, C), in (B, C, HW)
    for (size_t pl = 0; pl < (size_t)B * C; pl++) {
        const float *x = in + pl * HW;
        float s = 0.0f;
        for (int i = 0; i < HW; i++) s += x[i];
        out[pl] = s / (float)HW;
    }
}

void nn_global_avgpool_backward(float *dinput, const float *dout, int B, int C, int HW) {
    // dinput (B, C, HW), dout (B, C)
    for (size_t pl = 0; pl < (size_t)B * C; pl++) {
        float g = dout[pl] / (float)HW;
        float *dx = dinput + pl * HW;
        for (int i = 0; i < HW; i++) dx[i] += g;
    }
}

void nn_global_statpool_forward(float *out, const float *in, int B, int C, int HW) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *x = in + ((size_t)b * C + c) * HW;
            /* Two passes in double: the variance of a few dozen positions
             * without the cancellation of E[x^2] - E[x]^2. */
            double s = 0.0, ss = 0.0;
            for (int i = 0; i < HW; i++) s += x[i];
            double mu = s / HW;
            for (int i = 0; i < HW; i++) ss += (x[i] - mu) * (x[i] - mu);
            out[(size_t)b * 2 * C + c] = (float)mu;
            out[(size_t)b * 2 * C + C + c] = (float)sqrt(ss / HW + NN_STATPOOL_EPS);
        }
}

/* d mean / d x_i = 1/HW; d std / d x_i = (x_i - mean) / (HW std) (the mean's
 * own dependence on x_i drops out: the deviations sum to 0). */
void nn_global_statpool_backward(float *dinput, const float *dout, const float *in,
                                 const float *out, int B, int C, int HW) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *x = in + ((size_t)b * C + c) * HW;
            float *dx = dinput + ((size_t)b * C + c) * HW;
            const float mu = out[(size_t)b * 2 * C + c], sd = out[(size_t)b * 2 * C + C + c];
            const float gm = dout[(size_t)b * 2 * C + c] / (float)HW;
            const float gs = dout[(size_t)b * 2 * C + C + c] / ((float)HW * sd);
            for (int i = 0; i < HW; i++) dx[i] += gm + gs * (x[i] - mu);
        }
}
