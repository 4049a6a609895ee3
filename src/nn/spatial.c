/* spatial.c: resampling of NCHW planes to another size: adaptive average
 * pooling and bilinear resize, as torch computes them. Both work plane by
 * plane; large calls use the default OpenMP team over the B*C planes (the
 * contracts take no nthreads, as the naive batchnorm and pools). Each plane
 * is read and written by one thread, so results do not depend on the team.
 * Sizes are the caller's to validate (all positive). */
#include "nn/nn.h"

#define SPATIAL_PARALLEL_MIN 65536

/* ------------------------------------------------------- adaptive avg pool */

/* torch.nn.AdaptiveAvgPool2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.AdaptiveAvgPool2d.html):
 * ATen's start_index/end_index (native/AdaptivePooling.h), i.e.
 * [floor(o n / on), ceil((o + 1) n / on)), in integers so nothing rounds. */
static void adaptive_window(int o, int n, int on, int *lo, int *hi) {
    *lo = (int)(((int64_t)o * n) / on);
    *hi = (int)(((int64_t)(o + 1) * n + on - 1) / on);
}

void nn_adaptive_avgpool2d_forward(float *out, const float *in, int B, int C, int H, int W, int OH,
                                   int OW) {
    // out (B, C, OH, OW), in (B, C, H, W)
    size_t planes = (size_t)B * C;
#pragma omp parallel for schedule(static) if (planes * H * W > SPATIAL_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *y = out + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int y0, y1;
            adaptive_window(oy, H, OH, &y0, &y1);
            for (int ox = 0; ox < OW; ox++) {
                int x0, x1;
                adaptive_window(ox, W, OW, &x0, &x1);
                double s = 0.0; /* a global pool (OH = OW = 1) sums a whole plane */
                for (int iy = y0; iy < y1; iy++) {
                    const float *row = x + (size_t)iy * W;
#pragma omp simd reduction(+ : s)
                    for (int ix = x0; ix < x1; ix++) s += row[ix];
                }
                y[oy * OW + ox] = (float)(s / ((double)(y1 - y0) * (x1 - x0)));
            }
        }
    }
}

/* Each output's gradient spreads evenly over its window; overlapping windows
 * (OH not dividing H) add up. */
void nn_adaptive_avgpool2d_backward(float *dinput, const float *dout, int B, int C, int H, int W,
                                    int OH, int OW) {
    // dinput (B, C, H, W), dout (B, C, OH, OW)
    size_t planes = (size_t)B * C;
#pragma omp parallel for schedule(static) if (planes * H * W > SPATIAL_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dx = dinput + pl * H * W;
        const float *dy = dout + pl * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int y0, y1;
            adaptive_window(oy, H, OH, &y0, &y1);
            for (int ox = 0; ox < OW; ox++) {
                int x0, x1;
                adaptive_window(ox, W, OW, &x0, &x1);
                float g = dy[oy * OW + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int iy = y0; iy < y1; iy++) {
                    float *row = dx + (size_t)iy * W;
                    for (int ix = x0; ix < x1; ix++) row[ix] += g;
                }
            }
        }
    }
}

/* --------------------------------------------------------- bilinear resize */

/* One output coordinate's two source taps along an axis: i0 with weight l0,
 * i1 with weight l1. */
typedef struct lin_tap {
    int i0, i1;
    float l0, l1;
} lin_tap;

/* torch.nn.functional.interpolate(mode='bilinear', align_corners=False)
 * (https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html),
 * following ATen's compute_source_index_and_lambda (native/UpSample.h), which
 * both CPU kernels (forward and backward) use: scale = in / out in float,
 * src = scale (dst + 0.5) - 0.5 in double (acc_type) clamped at 0,
 * i0 = trunc(src), i1 = i0 + 1 unless i0 is the last row, l1 = src - i0
 * rounded to float, l0 = 1 - l1. Equal sizes take ATen's copy rule
 * (i1 = i0, l1 = 0), so finite input is copied exactly. Rounding src in
 * float instead moves l1 by up to an ulp of src (4e-6 at 60), which torch's
 * float32 output would not share. */
static lin_tap resize_tap(int dst, int n_in, int n_out, float scale) {
    if (n_in == n_out) return (lin_tap){dst, dst, 1.0f, 0.0f};
    double src = (double)scale * (dst + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    int i0 = (int)src;
    float l1 = (float)(src - i0);
    return (lin_tap){i0, i0 + (i0 < n_in - 1), 1.0f - l1, l1};
}

/* Columns are handled in chunks whose taps sit in a stack table, computed
 * once per plane and chunk rather than once per output element. */
#define RESIZE_CHUNK 256

void nn_resize_bilinear_forward(float *out, const float *in, int B, int C, int H, int W, int OH,
                                int OW) {
    // out (B, C, OH, OW), in (B, C, H, W)
    size_t planes = (size_t)B * C;
    float sy = (float)H / (float)OH, sx = (float)W / (float)OW;
#pragma omp parallel for schedule(static) if (planes * OH * OW > SPATIAL_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *y = out + pl * OH * OW;
        lin_tap tx[RESIZE_CHUNK];
        for (int c0 = 0; c0 < OW; c0 += RESIZE_CHUNK) {
            int n = OW - c0 < RESIZE_CHUNK ? OW - c0 : RESIZE_CHUNK;
            for (int j = 0; j < n; j++) tx[j] = resize_tap(c0 + j, W, OW, sx);
            for (int oy = 0; oy < OH; oy++) {
                lin_tap ty = resize_tap(oy, H, OH, sy);
                const float *r0 = x + (size_t)ty.i0 * W, *r1 = x + (size_t)ty.i1 * W;
                float *yr = y + (size_t)oy * OW + c0;
                for (int j = 0; j < n; j++) {
                    lin_tap t = tx[j];
                    yr[j] = ty.l0 * (t.l0 * r0[t.i0] + t.l1 * r0[t.i1]) +
                            ty.l1 * (t.l0 * r1[t.i0] + t.l1 * r1[t.i1]);
                }
            }
        }
    }
}

/* The adjoint of the forward: each output's gradient goes to its four taps
 * with the forward's weights, as ATen's cpu_upsample_linear_backward. */
void nn_resize_bilinear_backward(float *dinput, const float *dout, int B, int C, int H, int W,
                                 int OH, int OW) {
    // dinput (B, C, H, W), dout (B, C, OH, OW)
    size_t planes = (size_t)B * C;
    float sy = (float)H / (float)OH, sx = (float)W / (float)OW;
#pragma omp parallel for schedule(static) if (planes * OH * OW > SPATIAL_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dx = dinput + pl * H * W;
        const float *dy = dout + pl * OH * OW;
        lin_tap tx[RESIZE_CHUNK];
        for (int c0 = 0; c0 < OW; c0 += RESIZE_CHUNK) {
            int n = OW - c0 < RESIZE_CHUNK ? OW - c0 : RESIZE_CHUNK;
            for (int j = 0; j < n; j++) tx[j] = resize_tap(c0 + j, W, OW, sx);
            for (int oy = 0; oy < OH; oy++) {
                lin_tap ty = resize_tap(oy, H, OH, sy);
                float *r0 = dx + (size_t)ty.i0 * W, *r1 = dx + (size_t)ty.i1 * W;
                const float *dyr = dy + (size_t)oy * OW + c0;
                for (int j = 0; j < n; j++) {
                    lin_tap t = tx[j];
                    float g = dyr[j]; /* weight products in ATen's order */
                    r0[t.i0] += ty.l0 * t.l0 * g;
                    r0[t.i1] += ty.l0 * t.l1 * g;
                    r1[t.i0] += ty.l1 * t.l0 * g;
                    r1[t.i1] += ty.l1 * t.l1 * g;
                }
            }
        }
    }
}
