/* depthwise.c: direct depthwise convolution, torch.nn.Conv2d with
 * groups == in_channels == out_channels
 * (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html):
 *   out[b, c, y, x] = bias[c] + sum_{ky, kx} w[c, 0, ky, kx]
 *                     * in[b, c, y*sh - ph + ky, x*sw - pw + kx]
 * with positions outside the input reading zero. The im2col path in
 * conv2d.c spends most of its time building a K*K-row matrix for a GEMM with
 * one output row per group; here each output row is a sum of shifted input
 * rows instead, and nothing is copied at stride 1.
 *
 * Every row operation is "tap k adds w[k] * row[x + off[k]] for x in
 * [lo[k], hi[k])": the clipped ranges replace per-element border tests
 * (conv_valid_cols in conv2d.c does the same), and on the interior [a, b),
 * where every tap is in range, the taps are summed in 8-lane GCC vectors
 * (the build is baseline -O2, whose cost model leaves unknown-length loops
 * scalar). A column stride s is reduced to stride 1 by splitting the input
 * plane into s column phases (phase q holds columns q, q+s, ...), and the
 * input gradient is computed phase by phase the same way. Sizes: B batch,
 * C channels, H/W input, OH/OW output, KH/KW kernel, sh/sw stride,
 * ph/pw padding, Wp = ceil(W / sw) columns per phase. */
#include "nn/depthwise.h"
#include "nn/vecmath.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#define DW_KMAX NN_DEPTHWISE_KMAX
#define DW_SMAX 4 /* column strides with a phase plan */

/* The plane kernels are compiled per vector width (NN_VEC_CLONES, vecmath.h);
 * measured 1.3-1.5x on the backward, little on the memory-bound forward. */
#define DW_INLINE static inline __attribute__((always_inline))

/* The helpers are static and inlined, so the psabi note (a 32-byte vector
 * passed without AVX) concerns no real ABI boundary. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float dw_v8 __attribute__((vector_size(32)));
typedef int32_t dw_v8i __attribute__((vector_size(32)));
static const dw_v8i dw_lane_index = {0, 1, 2, 3, 4, 5, 6, 7};

DW_INLINE dw_v8 dw_load(const float *p) {
    dw_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
DW_INLINE void dw_store(float *p, dw_v8 v) { memcpy(p, &v, sizeof v); }
DW_INLINE dw_v8 dw_splat(float s) { return (dw_v8){s, s, s, s, s, s, s, s}; }
DW_INLINE float dw_hsum(dw_v8 v) {
    float s = 0.0f;
    for (int l = 0; l < 8; l++) s += v[l];
    return s;
}

/* ------------------------------------------------------------------ plans */

/* The taps of one row operation: tap k (kernel column kx[k]) reads
 * row[x + off[k]] for x in [lo[k], hi[k]); [a, b) is where all n are valid. */
typedef struct dw_cols {
    int n, a, b;
    int kx[DW_KMAX], off[DW_KMAX], lo[DW_KMAX], hi[DW_KMAX];
} dw_cols;

typedef struct dw_plan {
    int Wp;              /* columns per phase */
    dw_cols fwd;         /* output row from a phase-split input row (forward, dweight) */
    dw_cols din[DW_SMAX]; /* dinput phase q from a dout row */
} dw_plan;

/* x in [*lo, *hi) within [0, count) keeps x*step + base inside [0, n). */
static void dw_valid_range(int base, int step, int n, int count, int *lo, int *hi) {
    int a = base >= 0 ? 0 : (-base + step - 1) / step;
    int b = base >= n ? 0 : (n - 1 - base) / step + 1;
    if (b > count) b = count;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

static void dw_cols_add(dw_cols *t, int kx, int off, int lo, int hi) {
    t->kx[t->n] = kx, t->off[t->n] = off, t->lo[t->n] = lo, t->hi[t->n] = hi;
    t->n++;
}

/* The interior: every tap's lo is at most a and every hi at least b. */
static void dw_cols_finish(dw_cols *t) {
    t->a = 0, t->b = 0;
    if (!t->n) return;
    int a = t->lo[0], b = t->hi[0];
    for (int k = 1; k < t->n; k++) {
        if (t->lo[k] > a) a = t->lo[k];
        if (t->hi[k] < b) b = t->hi[k];
    }
    t->a = a, t->b = b > a ? b : a;
}

static void dw_plan_init(dw_plan *p, const nn_conv2d *c) {
    int sw = c->stride_w;
    p->Wp = (c->W + sw - 1) / sw;
    /* Forward: input column x*sw + u, u = kx - pw, lies in phase
     * q = u mod sw at index x + (u - q)/sw of that phase. */
    p->fwd.n = 0;
    for (int kx = 0; kx < c->KW; kx++) {
        int u = kx - c->pad_w, q = (u % sw + sw) % sw, lo, hi;
        dw_valid_range(u, sw, c->W, c->OW, &lo, &hi);
        dw_cols_add(&p->fwd, kx, q * p->Wp + (u - q) / sw, lo, hi);
    }
    dw_cols_finish(&p->fwd);
    /* Backward: input column m*sw + q gathers dout column
     * x = m + (q + pw - kx)/sw from the taps where that division is exact. */
    for (int q = 0; q < sw; q++) {
        dw_cols *t = &p->din[q];
        int Wq = c->W > q ? (c->W - q + sw - 1) / sw : 0;
        t->n = 0;
        for (int kx = 0; kx < c->KW; kx++) {
            int v = q + c->pad_w - kx, lo, hi;
            if (v % sw) continue;
            dw_valid_range(v / sw, 1, c->OW, Wq, &lo, &hi);
            dw_cols_add(t, kx, v / sw, lo, hi);
        }
        dw_cols_finish(t);
    }
}

/* Phase plane (H, sw, Wp) of one input plane (H, W): ph[iy][q][j] =
 * in[iy][j*sw + q], zero past the row's end. */
static void dw_split_phases(float *ph, const float *in, const nn_conv2d *c, int Wp) {
    int sw = c->stride_w;
    for (int iy = 0; iy < c->H; iy++) {
        const float *r = in + (size_t)iy * c->W;
        float *o = ph + (size_t)iy * sw * Wp;
        for (int q = 0; q < sw; q++)
            for (int j = 0; j < Wp; j++) {
                int ix = j * sw + q;
                o[q * Wp + j] = ix < c->W ? r[ix] : 0.0f;
            }
    }
}

/* ------------------------------------------------------------ row kernels */

/* v + the taps of nr rows at columns [x, x + 8): one FMA chain per row, so
 * the adds do not wait on each other's latency, summed in row order. */
DW_INLINE dw_v8 dw_rows_block(dw_v8 v, const float *const *rows, const dw_v8 *const *w,
                              const int *off, int x, int nr, int n) {
    dw_v8 part[DW_KMAX];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++) {
        part[r] = r ? (dw_v8){0} : v;
#pragma GCC unroll 8
        for (int k = 0; k < n; k++) part[r] += w[r][k] * dw_load(rows[r] + x + off[k]);
    }
#pragma GCC unroll 8
    for (int r = 1; r < nr; r++) part[0] += part[r];
    return part[0];
}

/* acc[x] += sum_{r, k} w[r][k] * rows[r][x + off[k]]: nr input rows that
 * share one set of n taps, each tap over its own range, the weights already
 * splat (w[r][k][0] is the scalar). nr and n are constants at the call sites
 * below, so the loops unroll into one load and store of acc per 8 columns. */
DW_INLINE void dw_rows_madd(float *restrict acc, const float *const *rows, const dw_v8 *const *w,
                            const dw_cols *t, int nr, int n) {
    int off[DW_KMAX];
    for (int k = 0; k < n; k++) off[k] = t->off[k];
    for (int r = 0; r < nr; r++)
        for (int k = 0; k < n; k++) { /* the border: tap k's columns outside [a, b) */
            const float *row = rows[r];
            float wk = w[r][k][0];
            int e = t->hi[k] < t->a ? t->hi[k] : t->a;
            for (int x = t->lo[k]; x < e; x++) acc[x] += wk * row[x + off[k]];
            int s = t->lo[k] > t->b ? t->lo[k] : t->b;
            for (int x = s; x < t->hi[k]; x++) acc[x] += wk * row[x + off[k]];
        }
    /* The last, partial block is redone over [b - 8, b) from the values acc
     * held before the loop: the columns it repeats get the same result. */
    int x = t->a, b = t->b;
    if (b - x >= 8) {
        dw_v8 last = dw_load(acc + b - 8);
        for (; x + 8 <= b; x += 8)
            dw_store(acc + x, dw_rows_block(dw_load(acc + x), rows, w, off, x, nr, n));
        if (x < b) dw_store(acc + b - 8, dw_rows_block(last, rows, w, off, b - 8, nr, n));
        return;
    }
    for (; x < b; x++) {
        float v = acc[x];
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
            for (int k = 0; k < n; k++) v += w[r][k][0] * rows[r][x + off[k]];
        acc[x] = v;
    }
}

/* The weight gradient's half: tap k's sum of d[x] * row[x + off[k]], the
 * interior into 8 lanes lane[k] and the rest into tail[k]; a fixed order. */
DW_INLINE void dw_row_dot(dw_v8 *restrict lane, float *restrict tail, const float *restrict d,
                          const float *restrict row, const dw_cols *t, int n) {
    dw_v8 l[DW_KMAX];
    int off[DW_KMAX];
    for (int k = 0; k < n; k++) {
        l[k] = lane[k], off[k] = t->off[k];
        float s = tail[k];
        int e = t->hi[k] < t->a ? t->hi[k] : t->a;
        for (int x = t->lo[k]; x < e; x++) s += d[x] * row[x + off[k]];
        int r = t->lo[k] > t->b ? t->lo[k] : t->b;
        for (int x = r; x < t->hi[k]; x++) s += d[x] * row[x + off[k]];
        tail[k] = s;
    }
    int x = t->a, b = t->b;
    for (; x + 8 <= b; x += 8) {
        dw_v8 dv = dw_load(d + x);
#pragma GCC unroll 8
        for (int k = 0; k < n; k++) l[k] += dv * dw_load(row + x + off[k]);
    }
    if (x < b && b - t->a >= 8) { /* the last block over [b - 8, b), done lanes masked */
        int s = b - 8;
        dw_v8i keep = dw_lane_index >= (dw_v8i){0} + (x - s);
        dw_v8 dv = dw_load(d + s);
#pragma GCC unroll 8
        for (int k = 0; k < n; k++)
            l[k] += (dw_v8)((dw_v8i)(dv * dw_load(row + s + off[k])) & keep);
        x = b;
    }
    for (; x < b; x++)
#pragma GCC unroll 8
        for (int k = 0; k < n; k++) tail[k] += d[x] * row[x + off[k]];
    for (int k = 0; k < n; k++) lane[k] = l[k];
}

/* Square kernels 3 and 5 with every row inside take all rows in one pass;
 * other row and tap counts (image borders, the stride-2 gradient phases
 * with 1 to 3 taps) go row by row, the tap counts that occur unrolled. */
DW_INLINE void dw_madd(float *acc, const float *const *rows, const dw_v8 *const *w,
                       const dw_cols *t, int nr) {
    if (nr == 3 && t->n == 3) {
        dw_rows_madd(acc, rows, w, t, 3, 3);
        return;
    }
    if (nr == 5 && t->n == 5) {
        dw_rows_madd(acc, rows, w, t, 5, 5);
        return;
    }
    for (int r = 0; r < nr; r++) switch (t->n) {
        case 1: dw_rows_madd(acc, rows + r, w + r, t, 1, 1); break;
        case 2: dw_rows_madd(acc, rows + r, w + r, t, 1, 2); break;
        case 3: dw_rows_madd(acc, rows + r, w + r, t, 1, 3); break;
        case 5: dw_rows_madd(acc, rows + r, w + r, t, 1, 5); break;
        default: dw_rows_madd(acc, rows + r, w + r, t, 1, t->n); break;
        }
}

DW_INLINE void dw_dot(dw_v8 *lane, float *tail, const float *d, const float *row,
                      const dw_cols *t) {
    switch (t->n) {
    case 3: dw_row_dot(lane, tail, d, row, t, 3); break;
    case 5: dw_row_dot(lane, tail, d, row, t, 5); break;
    default: dw_row_dot(lane, tail, d, row, t, t->n); break;
    }
}

/* The weights of one channel w (KH, KW) in the tap order of t, splat:
 * vw[ky * DW_KMAX + k] for tap k of kernel row ky. */
DW_INLINE void dw_splat_weights(dw_v8 *vw, const float *w, int KH, int KW, const dw_cols *t) {
    for (int ky = 0; ky < KH; ky++)
        for (int k = 0; k < t->n; k++) vw[ky * DW_KMAX + k] = dw_splat(w[ky * KW + t->kx[k]]);
}

/* ------------------------------------------------------------------ planes */

/* One plane: out (OH, OW) from in (H, W) and w (KH, KW); ph holds the
 * phase plane (H, sw, Wp) when sw > 1. */
NN_VEC_CLONES static void dw_plane_forward(float *out, const float *in, const float *w, float bias,
                                       const nn_conv2d *c, const dw_plan *p, float *ph) {
    const float *src = in;
    size_t rs = (size_t)c->W; /* row stride of src */
    if (c->stride_w > 1) {
        dw_split_phases(ph, in, c, p->Wp);
        src = ph, rs = (size_t)c->stride_w * p->Wp;
    }
    dw_v8 vw[DW_KMAX * DW_KMAX], vb = dw_splat(bias);
    dw_splat_weights(vw, w, c->KH, c->KW, &p->fwd);
    for (int y = 0; y < c->OH; y++) {
        float *o = out + (size_t)y * c->OW;
        int x = 0;
        for (; x + 8 <= c->OW; x += 8) dw_store(o + x, vb);
        for (; x < c->OW; x++) o[x] = bias;
        const float *rows[DW_KMAX];
        const dw_v8 *rw[DW_KMAX];
        int nr = 0;
        for (int ky = 0; ky < c->KH; ky++) {
            int iy = y * c->stride_h - c->pad_h + ky;
            if (iy < 0 || iy >= c->H) continue;
            rows[nr] = src + (size_t)iy * rs, rw[nr] = vw + ky * DW_KMAX, nr++;
        }
        dw_madd(o, rows, rw, &p->fwd, nr);
    }
}

/* Channel ch over the whole batch: dinput planes by mode, and the channel's
 * weight and bias gradients summed in lanes in a fixed order, then added
 * once. ws holds the phase plane and one phase-split row when sw > 1. */
NN_VEC_CLONES static void dw_channel_backward(float *dinput, float *dweight, float *dbias,
                                          const float *dout, const float *in, const float *weight,
                                          const nn_conv2d *c, const dw_plan *p, int ch, float *ws,
                                          nn_grad_mode mode) {
    int C = c->C_in, H = c->H, W = c->W, OH = c->OH, OW = c->OW, KH = c->KH, KW = c->KW;
    int sw = c->stride_w, Wp = p->Wp;
    size_t rs = sw > 1 ? (size_t)sw * Wp : (size_t)W; /* row stride of the phase plane */
    float *row_acc = sw > 1 ? ws + (size_t)H * rs : NULL; /* (sw, Wp) */
    const float *w = weight + (size_t)ch * KH * KW;
    dw_v8 lane[DW_KMAX * DW_KMAX], lane_b = {0};
    float tail[DW_KMAX * DW_KMAX], tail_b = 0.0f;
    memset(lane, 0, sizeof lane);
    memset(tail, 0, sizeof tail);
    dw_v8 vwd[DW_SMAX * DW_KMAX * DW_KMAX]; /* per phase q: vwd + q * DW_KMAX^2 */
    if (dinput)
        for (int q = 0; q < sw; q++)
            dw_splat_weights(vwd + q * DW_KMAX * DW_KMAX, w, KH, KW, &p->din[q]);

    for (int b = 0; b < c->B; b++) {
        size_t plane = (size_t)b * C + ch;
        const float *x = in + plane * H * W, *d = dout + plane * OH * OW;
        if (dbias) {
            size_t n = (size_t)OH * OW, i = 0;
            for (; i + 8 <= n; i += 8) lane_b += dw_load(d + i);
            for (; i < n; i++) tail_b += d[i];
        }
        if (dweight) {
            const float *src = x;
            if (sw > 1) {
                dw_split_phases(ws, x, c, Wp);
                src = ws;
            }
            for (int y = 0; y < OH; y++)
                for (int ky = 0; ky < KH; ky++) {
                    int iy = y * c->stride_h - c->pad_h + ky;
                    if (iy < 0 || iy >= H) continue;
                    dw_dot(lane + ky * KW, tail + ky * KW, d + (size_t)y * OW,
                           src + (size_t)iy * rs, &p->fwd);
                }
        }
        if (dinput) {
            float *dx = dinput + plane * H * W;
            for (int iy = 0; iy < H; iy++) {
                float *drow = dx + (size_t)iy * W;
                float *acc = sw > 1 ? row_acc : drow; /* phases land in row_acc first */
                if (sw > 1) memset(acc, 0, sizeof(float) * rs);
                else if (mode == NN_GRAD_OVERWRITE) memset(acc, 0, sizeof(float) * W);
                const float *rows[DW_KMAX];
                int kys[DW_KMAX], nr = 0;
                for (int ky = 0; ky < KH; ky++) {
                    int v = iy + c->pad_h - ky; /* = y * sh */
                    if (v < 0 || v % c->stride_h || v / c->stride_h >= OH) continue;
                    rows[nr] = d + (size_t)(v / c->stride_h) * OW, kys[nr++] = ky;
                }
                for (int q = 0; q < sw; q++) {
                    const dw_v8 *rw[DW_KMAX];
                    for (int r = 0; r < nr; r++) rw[r] = vwd + (q * DW_KMAX + kys[r]) * DW_KMAX;
                    dw_madd(acc + (size_t)q * Wp, rows, rw, &p->din[q], nr);
                }
                if (sw > 1)
                    for (int q = 0; q < sw; q++) { /* phase q back to columns q, q+sw, ... */
                        const float *g = acc + (size_t)q * Wp;
                        if (mode == NN_GRAD_OVERWRITE)
                            for (int m = 0; m * sw + q < W; m++) drow[m * sw + q] = g[m];
                        else
                            for (int m = 0; m * sw + q < W; m++) drow[m * sw + q] += g[m];
                    }
            }
        }
    }
    if (dweight)
        for (int k = 0; k < KH * KW; k++)
            dweight[(size_t)ch * KH * KW + k] += dw_hsum(lane[k]) + tail[k];
    if (dbias) dbias[ch] += dw_hsum(lane_b) + tail_b;
}

/* ------------------------------------------------------------------- API */

int nn_depthwise_supported(const nn_conv2d *c) {
    return c->groups == c->C_in && c->C_out == c->C_in && c->dil_h == 1 && c->dil_w == 1 &&
           c->KH <= DW_KMAX && c->KW <= DW_KMAX && c->stride_w <= DW_SMAX;
}

static size_t dw_thread_floats(const nn_conv2d *c) {
    int sw = c->stride_w;
    if (sw == 1) return 0;
    return (size_t)(c->H + 1) * sw * ((c->W + sw - 1) / sw);
}

size_t nn_depthwise_workspace_size(const nn_conv2d *c, int nthreads) {
    return (size_t)(nthreads < 1 ? 1 : nthreads) * dw_thread_floats(c);
}

void nn_depthwise_forward(float *out, const float *in, const float *weight, const float *bias,
                          const nn_conv2d *c, float *workspace, int nthreads) {
    // out (B, C, OH, OW), in (B, C, H, W), weight (C, 1, KH, KW), bias (C)
    dw_plan p;
    dw_plan_init(&p, c);
    int C = c->C_in, T = nthreads < 1 ? 1 : nthreads;
    long planes = (long)c->B * C;
    size_t per = dw_thread_floats(c);
#pragma omp parallel for num_threads(T) schedule(static)
    for (long i = 0; i < planes; i++) {
        int ch = (int)(i % C);
        float *ws = per ? workspace + (size_t)omp_get_thread_num() * per : NULL;
        dw_plane_forward(out + (size_t)i * c->OH * c->OW, in + (size_t)i * c->H * c->W,
                         weight + (size_t)ch * c->KH * c->KW, bias ? bias[ch] : 0.0f, c, &p, ws);
    }
}

void nn_depthwise_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                           const float *in, const float *weight, const nn_conv2d *c,
                           float *workspace, int nthreads, nn_grad_mode dinput_mode) {
    // dinput (B, C, H, W), dweight (C, 1, KH, KW), dbias (C), dout (B, C, OH, OW)
    if (!dinput && !dweight && !dbias) return;
    dw_plan p;
    dw_plan_init(&p, c);
    int T = nthreads < 1 ? 1 : nthreads;
    size_t per = dw_thread_floats(c);
#pragma omp parallel for num_threads(T) schedule(static)
    for (int ch = 0; ch < c->C_in; ch++) {
        float *ws = per ? workspace + (size_t)omp_get_thread_num() * per : NULL;
        dw_channel_backward(dinput, dweight, dbias, dout, in, weight, c, &p, ch, ws, dinput_mode);
    }
}
