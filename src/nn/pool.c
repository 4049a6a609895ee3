/* pool.c: max, average and global average pooling over NCHW planes, as
 * torch.nn.MaxPool2d, AvgPool2d (ceil_mode=False) and AdaptiveAvgPool2d(1)
 * (https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html,
 *  https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html). */
#include "nn/nn.h"

#include <math.h>

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

void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, const nn_pool2d *p) {
    // out, argmax (B, C, OH, OW), in (B, C, H, W)
    size_t planes = (size_t)p->B * p->C;
#pragma omp parallel for schedule(static) if (planes * p->H * p->W > 65536)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * p->H * p->W;
        float *y = out + pl * p->OH * p->OW;
        int32_t *am = argmax + pl * p->OH * p->OW;
        for (int oy = 0; oy < p->OH; oy++)
            for (int ox = 0; ox < p->OW; ox++) {
                int y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
                int y1 = y0 + p->KH < p->H ? y0 + p->KH : p->H;
                int x1 = x0 + p->KW < p->W ? x0 + p->KW : p->W;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
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
                y[oy * p->OW + ox] = best;
                am[oy * p->OW + ox] = at;
            }
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
