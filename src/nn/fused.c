/* fused.c: BatchNorm2d -> ReLU -> MaxPool2d in one pass over the activation,
 * the composition torch writes as
 *   nn.Sequential(nn.BatchNorm2d(C), nn.ReLU(), nn.MaxPool2d(K, S, P))
 * (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html,
 *  https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html).
 * Its references are the naive ops themselves: nn_batchnorm2d_forward, then
 * nn_relu_forward, then nn_maxpool2d_forward, and their backwards in reverse
 * (tests/nn/test_fused.c keeps them equal).
 *
 * Why fuse: after a conv the BN, ReLU and pool passes are memory-bound over
 * the largest activation. Forward writes only the pooled output and its
 * argmax; the full-size BN/ReLU output never exists. Backward needs the
 * upstream gradient only at the argmax of each window where the ReLU let it
 * through (pooled out > 0, which holds exactly where BN's output at the
 * argmax is > 0), so BN's gradient sums come from the pooled grid and one
 * pass over x writes dx, with no full-size d(activation) buffer and no memset.
 *
 * The 2x2 stride-2 unpadded pool (odd H or W drop the last row/column, as
 * MaxPool2d(2)) has a vectorised path; any other pool takes a plain-loop path
 * with the same contract. Statistics follow batchnorm.c's fast path (row
 * statistics in float lanes, rows combined in double with Chan's formula). */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

/* relu(x * scale + shift) as nn_relu_forward after the BN affine: NaN and -0
 * give +0 (here and in fu_bn_relu4). */
static inline float fu_bn_relu1(float x, float scale, float shift) {
    float v = x * scale + shift;
    return v > 0.0f ? v : 0.0f;
}

static int fu_is_2x2(const nn_pool2d *p) {
    return p->KH == 2 && p->KW == 2 && p->stride_h == 2 && p->stride_w == 2 && !p->pad_h &&
           !p->pad_w;
}

/* ------------------------------------------------------------- statistics */

/* Per-channel statistics: nn_batchnorm_channel_stats (batchnorm.c). */

/* ------------------------------------------------------- 2x2 stride 2 path */

/* The pool paths use 4 lanes, one SSE register on baseline x86-64: GCC
 * lowers a shuffle of two 8-lane vectors on such a target element by element
 * (cmov and stack traffic), while these 4-lane shuffles are single shufps /
 * unpcklps / pshufd instructions. */
typedef float fu_v4f __attribute__((vector_size(16)));
typedef int32_t fu_v4i __attribute__((vector_size(16)));

static inline fu_v4f fu_load4(const float *p) {
    fu_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline fu_v4i fu_load4i(const int32_t *p) {
    fu_v4i v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void fu_store4(float *p, fu_v4f v) { memcpy(p, &v, sizeof v); }
static inline fu_v4f fu_splat4(float s) { return s - (fu_v4f){0}; }
static inline fu_v4f fu_mask4(fu_v4f v, fu_v4i m) { return (fu_v4f)((fu_v4i)v & m); }
static inline fu_v4f fu_select4(fu_v4i m, fu_v4f a, fu_v4f b) {
    return (fu_v4f)(((fu_v4i)a & m) | ((fu_v4i)b & ~m));
}
static inline double fu_hsum4(fu_v4f v) { return (double)v[0] + v[1] + v[2] + v[3]; }
static inline fu_v4f fu_bn_relu4(fu_v4f x, fu_v4f scale, fu_v4f shift) {
    fu_v4f v = x * scale + shift;
    return fu_mask4(v, v > (fu_v4f){0});
}

static const fu_v4i fu_even = {0, 2, 4, 6}, fu_odd = {1, 3, 5, 7}; /* fu_even is also 2 * lane */

/* The four candidates of 4 windows at columns 2ox..2ox+7 of rows r0, r1, in
 * the reference's row-major order. */
typedef struct fu_quad {
    fu_v4f v[4];
} fu_quad;

static inline fu_quad fu_windows(const float *r0, const float *r1) {
    fu_v4f a0 = fu_load4(r0), a1 = fu_load4(r0 + 4), b0 = fu_load4(r1), b1 = fu_load4(r1 + 4);
    return (fu_quad){{__builtin_shuffle(a0, a1, fu_even), __builtin_shuffle(a0, a1, fu_odd),
                      __builtin_shuffle(b0, b1, fu_even), __builtin_shuffle(b0, b1, fu_odd)}};
}

/* One plane: y (OH, OW) = 2x2 max of relu(x * scale + shift), x (H, W);
 * am (OH, OW) the argmax as nn_maxpool2d_forward, or NULL. No NaN survives
 * the ReLU, so "v > best" alone is the reference's first-max rule. */
static void fu_forward_2x2(float *y, int32_t *am, const float *x, const nn_pool2d *p, float scale,
                           float shift) {
    fu_v4f vs = fu_splat4(scale), vb = fu_splat4(shift);
    int W = p->W, OW = p->OW;
    for (int oy = 0; oy < p->OH; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *yo = y + (size_t)oy * OW;
        int32_t *ao = am ? am + (size_t)oy * OW : NULL;
        int ox = 0;
        for (; ox + 4 <= OW; ox += 4) {
            fu_quad q = fu_windows(r0 + 2 * ox, r1 + 2 * ox);
            fu_v4f best = fu_bn_relu4(q.v[0], vs, vb);
            if (ao) {
                const int32_t off[4] = {0, 1, W, W + 1}; /* the candidates' places */
                fu_v4i base = 2 * oy * W + 2 * ox + fu_even, at = base;
                for (int k = 1; k < 4; k++) {
                    fu_v4f v = fu_bn_relu4(q.v[k], vs, vb);
                    fu_v4i m = v > best;
                    best = fu_select4(m, v, best);
                    at = ((base + off[k]) & m) | (at & ~m);
                }
                memcpy(ao + ox, &at, sizeof at);
            } else {
                for (int k = 1; k < 4; k++) {
                    fu_v4f v = fu_bn_relu4(q.v[k], vs, vb);
                    best = fu_select4(v > best, v, best);
                }
            }
            fu_store4(yo + ox, best);
        }
        for (; ox < OW; ox++) {
            const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
            const int32_t idx[4] = {2 * oy * W + 2 * ox, 2 * oy * W + 2 * ox + 1,
                                    (2 * oy + 1) * W + 2 * ox, (2 * oy + 1) * W + 2 * ox + 1};
            float best = fu_bn_relu1(v[0], scale, shift);
            int32_t at = idx[0];
            for (int k = 1; k < 4; k++) {
                float r = fu_bn_relu1(v[k], scale, shift);
                if (r > best) {
                    best = r;
                    at = idx[k];
                }
            }
            yo[ox] = best;
            if (ao) ao[ox] = at;
        }
    }
}

/* Where each window's gradient goes: 0..3 for the argmax's place in its 2x2
 * window in row-major order, -1 where the ReLU blocked it (out <= 0). The
 * argmax is only compared, never used as an address. base0 = 2oy W + 2ox. */
static inline fu_v4i fu_codes(const int32_t *am, const float *out, int32_t base0, int W) {
    fu_v4i off = fu_load4i(am) - (base0 + fu_even);
    fu_v4i code = off + ((off >= W) & (2 - W));
    return code | ~(fu_load4(out) > (fu_v4f){0});
}
static inline int fu_code1(int32_t am, float out, int32_t base0, int W) {
    int32_t off = am - base0;
    if (!(out > 0.0f)) return -1;
    return off >= W ? off - W + 2 : off;
}

/* Over one plane: *sdy += sum dy, *sdyx += sum dy * xhat, where dy is the
 * gradient reaching BN's output: dout at live argmaxes, 0 elsewhere. */
static void fu_sums_2x2(const float *dout, const int32_t *am, const float *out, const float *x,
                        const nn_pool2d *p, float mu, float rs, double *sdy, double *sdyx) {
    fu_v4f vmu = fu_splat4(mu), vrs = fu_splat4(rs), s = {0}, sx = {0};
    double a = 0.0, b = 0.0;
    int W = p->W, OW = p->OW;
    for (int oy = 0; oy < p->OH; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        size_t o = (size_t)oy * OW;
        int ox = 0;
        for (; ox + 4 <= OW; ox += 4) {
            fu_v4i code = fu_codes(am + o + ox, out + o + ox, 2 * oy * W + 2 * ox, W);
            fu_quad q = fu_windows(r0 + 2 * ox, r1 + 2 * ox);
            fu_v4f xs = fu_mask4(q.v[0], code == 0);
            for (int k = 1; k < 4; k++) xs = fu_select4(code == k, q.v[k], xs);
            fu_v4f d = fu_mask4(fu_load4(dout + o + ox), code >= 0);
            s += d;
            sx += d * ((xs - vmu) * vrs);
        }
        for (; ox < OW; ox++) {
            int code = fu_code1(am[o + ox], out[o + ox], 2 * oy * W + 2 * ox, W);
            if (code < 0 || code > 3) continue;
            float xv = (code < 2 ? r0 : r1)[2 * ox + (code & 1)];
            float d = dout[o + ox];
            a += d;
            b += d * ((xv - mu) * rs);
        }
    }
    *sdy += a + fu_hsum4(s);
    *sdyx += b + fu_hsum4(sx);
}

/* BN's input gradient with constants g, a, k (see nn_batchnorm2d_backward):
 * dx (=|+=) g * (d - a - xhat * k). */
typedef struct fu_dx_k {
    fu_v4f mu, rs, g, a, k;
    float mu1, rs1, g1, a1, k1;
    nn_grad_mode mode;
} fu_dx_k;

static inline void fu_dx4(float *dx, const float *x, fu_v4f d, const fu_dx_k *q) {
    fu_v4f v = q->g * (d - q->a - (fu_load4(x) - q->mu) * q->rs * q->k);
    fu_store4(dx, q->mode == NN_GRAD_OVERWRITE ? v : fu_load4(dx) + v);
}
static inline void fu_dx1(float *dx, float x, float d, const fu_dx_k *q) {
    float v = q->g1 * (d - q->a1 - (x - q->mu1) * q->rs1 * q->k1);
    *dx = q->mode == NN_GRAD_OVERWRITE ? v : *dx + v;
}
/* Elements n0..n-1 of a row that no window covers: d = 0. */
static void fu_dx_row(float *dx, const float *x, int n0, int n, const fu_dx_k *q) {
    int i = n0;
    for (; i + 4 <= n; i += 4) fu_dx4(dx + i, x + i, (fu_v4f){0}, q);
    for (; i < n; i++) fu_dx1(dx + i, x[i], 0.0f, q);
}

/* One plane's dx (H, W) from dout, am, out (OH, OW): each window's gradient
 * expanded in registers to the two input rows it covers. */
static void fu_dx_2x2(float *dx, const float *dout, const int32_t *am, const float *out,
                      const float *x, const nn_pool2d *p, const fu_dx_k *q) {
    const fu_v4i lo = {0, 0, 1, 1}, hi = {2, 2, 3, 3}, par = {0, 1, 0, 1};
    int W = p->W, OW = p->OW;
    for (int oy = 0; oy < p->OH; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *d0 = dx + (size_t)(2 * oy) * W, *d1 = d0 + W;
        size_t o = (size_t)oy * OW;
        int ox = 0;
        for (; ox + 4 <= OW; ox += 4) {
            fu_v4i code = fu_codes(am + o + ox, out + o + ox, 2 * oy * W + 2 * ox, W);
            fu_v4f g = fu_load4(dout + o + ox);
            fu_v4i cl = __builtin_shuffle(code, lo), ch = __builtin_shuffle(code, hi);
            fu_v4f gl = __builtin_shuffle(g, lo), gh = __builtin_shuffle(g, hi);
            fu_dx4(d0 + 2 * ox, r0 + 2 * ox, fu_mask4(gl, cl == par), q);
            fu_dx4(d0 + 2 * ox + 4, r0 + 2 * ox + 4, fu_mask4(gh, ch == par), q);
            fu_dx4(d1 + 2 * ox, r1 + 2 * ox, fu_mask4(gl, cl == par + 2), q);
            fu_dx4(d1 + 2 * ox + 4, r1 + 2 * ox + 4, fu_mask4(gh, ch == par + 2), q);
        }
        for (; ox < OW; ox++) {
            int code = fu_code1(am[o + ox], out[o + ox], 2 * oy * W + 2 * ox, W);
            float g = dout[o + ox];
            for (int j = 0; j < 4; j++) {
                int col = 2 * ox + (j & 1);
                fu_dx1((j < 2 ? d0 : d1) + col, (j < 2 ? r0 : r1)[col], code == j ? g : 0.0f, q);
            }
        }
        if (W > 2 * OW) { /* odd W: the last column is in no window */
            fu_dx_row(d0, r0, 2 * OW, W, q);
            fu_dx_row(d1, r1, 2 * OW, W, q);
        }
    }
    for (int y = 2 * p->OH; y < p->H; y++) /* odd H: the last row */
        fu_dx_row(dx + (size_t)y * W, x + (size_t)y * W, 0, W, q);
}

/* ------------------------------------------------------ any other pool */

/* nn_maxpool2d_forward's loop over relu(x * scale + shift). */
static void fu_forward_any(float *y, int32_t *am, const float *x, const nn_pool2d *p, float scale,
                           float shift) {
    for (int oy = 0; oy < p->OH; oy++)
        for (int ox = 0; ox < p->OW; ox++) {
            int y0, y1, x0, x1;
            nn_pool2d_window(p, oy, ox, &y0, &y1, &x0, &x1);
            float best = -INFINITY;
            int32_t at = y0 * p->W + x0;
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) {
                    float v = fu_bn_relu1(x[iy * p->W + ix], scale, shift);
                    if (v > best) {
                        best = v;
                        at = iy * p->W + ix;
                    }
                }
            y[oy * p->OW + ox] = best;
            if (am) am[oy * p->OW + ox] = at;
        }
}

static void fu_sums_any(const float *dout, const int32_t *am, const float *out, const float *x,
                        const nn_pool2d *p, float mu, float rs, double *sdy, double *sdyx) {
    size_t n = (size_t)p->OH * p->OW;
    for (size_t i = 0; i < n; i++)
        if (out[i] > 0.0f) {
            *sdy += dout[i];
            *sdyx += dout[i] * ((x[am[i]] - mu) * rs);
        }
}

/* The dense part of dx with d = 0, then each live window's g * dout added at
 * its argmax (windows may overlap, so they add up as nn_maxpool2d_backward). */
static void fu_dx_any(float *dx, const float *dout, const int32_t *am, const float *out,
                      const float *x, const nn_pool2d *p, const fu_dx_k *q) {
    size_t n = (size_t)p->OH * p->OW;
    fu_dx_row(dx, x, 0, p->H * p->W, q);
    for (size_t i = 0; i < n; i++)
        if (out[i] > 0.0f) dx[am[i]] += q->g1 * dout[i];
}

/* ------------------------------------------------------------- entry points */

void nn_bn_relu_maxpool2d_forward_fast(float *out, int32_t *argmax, float *mean, float *rstd,
                                       float *running_mean, float *running_var, const float *in,
                                       const float *weight, const float *bias, const nn_pool2d *p,
                                       float eps, float momentum, int train, int nthreads) {
    // out, argmax (B, C, OH, OW); in (B, C, H, W); mean, rstd, running_*, weight, bias (C)
    int B = p->B, C = p->C, HW = p->H * p->W, is2 = fu_is_2x2(p);
    size_t n_out = (size_t)p->OH * p->OW;
    if (nthreads < 1) nthreads = 1;
#pragma omp parallel for num_threads(nthreads) schedule(static) if ((size_t)B * HW * C > 65536)
    for (int c = 0; c < C; c++) {
        float mu, rs;
        nn_batchnorm_channel_stats(in, c, B, C, HW, eps, momentum, train, running_mean, running_var, &mu,
                         &rs);
        if (mean) mean[c] = mu;
        if (rstd) rstd[c] = rs;
        float scale = (weight ? weight[c] : 1.0f) * rs;
        float shift = (bias ? bias[c] : 0.0f) - mu * scale;
        for (int b = 0; b < B; b++) {
            size_t pl = (size_t)b * C + c;
            int32_t *am = argmax ? argmax + pl * n_out : NULL;
            if (is2)
                fu_forward_2x2(out + pl * n_out, am, in + pl * HW, p, scale, shift);
            else
                fu_forward_any(out + pl * n_out, am, in + pl * HW, p, scale, shift);
        }
    }
}

void nn_bn_relu_maxpool2d_backward_fast(float *dinput, float *dweight, float *dbias,
                                        const float *dout, const int32_t *argmax, const float *out,
                                        const float *mean, const float *rstd, const float *in,
                                        const float *weight, const nn_pool2d *p, int train,
                                        nn_grad_mode dinput_mode, int nthreads) {
    // dinput, in (B, C, H, W); dout, argmax, out (B, C, OH, OW);
    // dweight, dbias, mean, rstd, weight (C)
    int B = p->B, C = p->C, HW = p->H * p->W, is2 = fu_is_2x2(p);
    size_t M = (size_t)B * HW, n_out = (size_t)p->OH * p->OW;
    if (nthreads < 1) nthreads = 1;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (M * C > 65536)
    for (int c = 0; c < C; c++) {
        float mu = mean[c], rs = rstd[c];
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * xhat over the channel */
        for (int b = 0; b < B; b++) {
            size_t pl = (size_t)b * C + c, o = pl * n_out;
            if (is2)
                fu_sums_2x2(dout + o, argmax + o, out + o, in + pl * HW, p, mu, rs, &sdy, &sdyx);
            else
                fu_sums_any(dout + o, argmax + o, out + o, in + pl * HW, p, mu, rs, &sdy, &sdyx);
        }
        float g, a, k;
        nn_batchnorm_grad_coeffs(c, sdy, sdyx, M, train, weight, rs, dweight, dbias, &g, &a, &k);
        if (!dinput) continue;
        fu_dx_k q = {fu_splat4(mu), fu_splat4(rs), fu_splat4(g), fu_splat4(a), fu_splat4(k),
                     mu, rs, g, a, k, dinput_mode};
        for (int b = 0; b < B; b++) {
            size_t pl = (size_t)b * C + c, o = pl * n_out;
            if (is2)
                fu_dx_2x2(dinput + pl * HW, dout + o, argmax + o, out + o, in + pl * HW, p, &q);
            else
                fu_dx_any(dinput + pl * HW, dout + o, argmax + o, out + o, in + pl * HW, p, &q);
        }
    }
}
