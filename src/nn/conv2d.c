/* conv2d.c: 2-D convolution as torch.nn.Conv2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html):
 *   out[b, o, y, x] = bias[o] + sum_{i, ky, kx} w[o, i, ky, kx]
 *                     * in[b, g*Ci + i, y*sh - ph + ky*dh, x*sw - pw + kx*dw]
 * where g = o / Co is the group, Ci = C_in/groups, Co = C_out/groups, and
 * positions outside the input read as zero.
 *
 * Two implementations of one contract: the naive loops below are the oracle
 * (tests) and the fast path is im2col + SGEMM with OpenMP over the batch. */
#include "nn/nn.h"
#include "nn/depthwise.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

sermo_status nn_conv2d_setup(nn_conv2d *c, sermo_error *err) {
    if (c->B <= 0 || c->C_in <= 0 || c->H <= 0 || c->W <= 0 || c->C_out <= 0 || c->KH <= 0 ||
        c->KW <= 0 || c->stride_h <= 0 || c->stride_w <= 0 || c->pad_h < 0 || c->pad_w < 0 ||
        c->dil_h <= 0 || c->dil_w <= 0 || c->groups <= 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "conv2d: sizes must be positive");
    if (c->C_in % c->groups || c->C_out % c->groups)
        return sermo_fail(err, SERMO_ERR_INVALID, "conv2d: groups %d must divide C_in %d and C_out %d",
                          c->groups, c->C_in, c->C_out);
    int eh = c->H + 2 * c->pad_h - c->dil_h * (c->KH - 1) - 1;
    int ew = c->W + 2 * c->pad_w - c->dil_w * (c->KW - 1) - 1;
    if (eh < 0 || ew < 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "conv2d: kernel larger than the padded input");
    c->OH = eh / c->stride_h + 1;
    c->OW = ew / c->stride_w + 1;
    return SERMO_OK;
}

sermo_status nn_conv2d_init(nn_conv2d *c, int B, int C_in, int H, int W, int C_out, int K,
                            int stride, int pad, int dil, int groups, sermo_error *err) {
    *c = (nn_conv2d){.B = B, .C_in = C_in, .H = H, .W = W, .C_out = C_out, .KH = K, .KW = K,
                     .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
                     .dil_h = dil, .dil_w = dil, .groups = groups};
    return nn_conv2d_setup(c, err);
}

/* ------------------------------------------------------------------ naive */

/* The input element that output (b, o, y, x) reads through weight tap
 * k = (i*KH + ky)*KW + kx, or -1 where the tap falls in the zero padding. */
static ptrdiff_t conv_tap(const nn_conv2d *c, int b, int o, int y, int x, int k) {
    int Ci = c->C_in / c->groups, g = o / (c->C_out / c->groups);
    int i = k / (c->KH * c->KW), ky = k / c->KW % c->KH, kx = k % c->KW;
    int iy = y * c->stride_h - c->pad_h + ky * c->dil_h;
    int ix = x * c->stride_w - c->pad_w + kx * c->dil_w;
    if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) return -1;
    return (((ptrdiff_t)b * c->C_in + g * Ci + i) * c->H + iy) * c->W + ix;
}

void nn_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                       const nn_conv2d *c) {
    // out (B, C_out, OH, OW), in (B, C_in, H, W), weight (C_out, K = Ci*KH*KW)
    int K = c->C_in / c->groups * c->KH * c->KW;
    for (int b = 0; b < c->B; b++)
        for (int o = 0; o < c->C_out; o++)
            for (int y = 0; y < c->OH; y++)
                for (int x = 0; x < c->OW; x++) {
                    float sum = bias ? bias[o] : 0.0f;
                    for (int k = 0; k < K; k++) {
                        ptrdiff_t ii = conv_tap(c, b, o, y, x, k);
                        if (ii >= 0) sum += in[ii] * weight[(size_t)o * K + k];
                    }
                    out[(((size_t)b * c->C_out + o) * c->OH + y) * c->OW + x] = sum;
                }
}

void nn_conv2d_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, const nn_conv2d *c) {
    // dinput (B, C_in, H, W), dweight (C_out, K), dbias (C_out), dout (B, C_out, OH, OW)
    int K = c->C_in / c->groups * c->KH * c->KW;
    for (int b = 0; b < c->B; b++)
        for (int o = 0; o < c->C_out; o++)
            for (int y = 0; y < c->OH; y++)
                for (int x = 0; x < c->OW; x++) {
                    float d = dout[(((size_t)b * c->C_out + o) * c->OH + y) * c->OW + x];
                    if (dbias) dbias[o] += d;
                    for (int k = 0; k < K; k++) {
                        ptrdiff_t ii = conv_tap(c, b, o, y, x, k);
                        if (ii < 0) continue;
                        if (dinput) dinput[ii] += d * weight[(size_t)o * K + k];
                        if (dweight) dweight[(size_t)o * K + k] += d * in[ii];
                    }
                }
}

/* ------------------------------------------------------------------- fast */

/* A 1x1 kernel with stride 1, no padding is already a matrix (Ci, H*W): the
 * GEMM reads the input directly and im2col is skipped. */
static int conv_is_pointwise(const nn_conv2d *c) {
    return c->KH == 1 && c->KW == 1 && c->stride_h == 1 && c->stride_w == 1 && c->pad_h == 0 &&
           c->pad_w == 0;
}

/* Output columns x in [*lo, *hi) read inside the input row for kernel column
 * kx (ix = x*sw - pw + kx*dw in [0, W)); the rest read padding. Splitting the
 * row this way keeps the inner loops branch-free (and memcpy for stride 1). */
static void conv_valid_cols(const nn_conv2d *c, int kx, int *lo, int *hi) {
    int off = kx * c->dil_w - c->pad_w; /* ix at x = 0 */
    int a = off >= 0 ? 0 : (-off + c->stride_w - 1) / c->stride_w;
    int b = off >= c->W ? 0 : (c->W - 1 - off) / c->stride_w + 1;
    if (b > c->OW) b = c->OW;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* col (Ci*KH*KW, OH*OW) from one group of one sample, in (Ci, H, W). */
/* Rows [r0, r1) of the im2col matrix, row r = (i, ky, kx) flattened. */
static void im2col_rows(float *col, const float *in, const nn_conv2d *c, int r0, int r1) {
    size_t N = (size_t)c->OH * c->OW;
    for (int r = r0; r < r1; r++) {
        int i = r / (c->KH * c->KW), ky = r / c->KW % c->KH, kx = r % c->KW;
        float *row = col + (size_t)r * N;
        const float *plane = in + (size_t)i * c->H * c->W;
        for (int y = 0; y < c->OH; y++) {
            float *o = row + (size_t)y * c->OW;
            int iy = y * c->stride_h - c->pad_h + ky * c->dil_h;
            if (iy < 0 || iy >= c->H) {
                memset(o, 0, sizeof(float) * c->OW);
                continue;
            }
            const float *src = plane + (size_t)iy * c->W;
            int off = kx * c->dil_w - c->pad_w, lo, hi;
            conv_valid_cols(c, kx, &lo, &hi);
            for (int x = 0; x < lo; x++) o[x] = 0.0f;
            if (c->stride_w == 1 && hi > lo)
                memcpy(o + lo, src + off + lo, sizeof(float) * (size_t)(hi - lo));
            else
                for (int x = lo; x < hi; x++) o[x] = src[off + x * c->stride_w];
            for (int x = hi; x < c->OW; x++) o[x] = 0.0f;
        }
    }
}

static void im2col(float *col, const float *in, int Ci, const nn_conv2d *c) {
    im2col_rows(col, in, c, 0, Ci * c->KH * c->KW);
}

/* The adjoint of im2col: in (Ci, H, W) += scatter of col (Ci*KH*KW, OH*OW). */
static void col2im_add(float *in, const float *col, int Ci, const nn_conv2d *c) {
    size_t N = (size_t)c->OH * c->OW;
    for (int i = 0; i < Ci; i++)
        for (int ky = 0; ky < c->KH; ky++)
            for (int kx = 0; kx < c->KW; kx++) {
                const float *row = col + (((size_t)i * c->KH + ky) * c->KW + kx) * N;
                float *plane = in + (size_t)i * c->H * c->W;
                for (int y = 0; y < c->OH; y++) {
                    int iy = y * c->stride_h - c->pad_h + ky * c->dil_h;
                    if (iy < 0 || iy >= c->H) continue;
                    const float *r = row + (size_t)y * c->OW;
                    float *dst = plane + (size_t)iy * c->W;
                    int off = kx * c->dil_w - c->pad_w, lo, hi;
                    conv_valid_cols(c, kx, &lo, &hi);
                    for (int x = lo; x < hi; x++) dst[off + x * c->stride_w] += r[x];
                }
            }
}

/* Per thread: one im2col matrix plus one private dweight partial sum. */
static size_t conv_col_size(const nn_conv2d *c) {
    return (size_t)(c->C_in / c->groups) * c->KH * c->KW * c->OH * c->OW;
}
static size_t conv_weight_size(const nn_conv2d *c) {
    return (size_t)c->C_out * (c->C_in / c->groups) * c->KH * c->KW;
}

size_t nn_conv2d_workspace_size(const nn_conv2d *c, int nthreads) {
    if (nn_depthwise_supported(c)) return nn_depthwise_workspace_size(c, nthreads);
    if (nthreads < 1) nthreads = 1;
    return (size_t)nthreads * (conv_col_size(c) + conv_weight_size(c));
}

/* Several OpenMP threads each calling a threaded OpenBLAS would oversubscribe
 * the cores, so BLAS runs single-threaded inside our parallel regions and
 * keeps its own threads when we run one thread. Returns the previous count. */
int nn_blas_threads_enter(int nthreads) {
    int old = openblas_get_num_threads();
    if (nthreads > 1) openblas_set_num_threads(1);
    return old;
}
void nn_blas_threads_leave(int nthreads, int old) {
    if (nthreads > 1) openblas_set_num_threads(old);
}

static int conv_threads(const nn_conv2d *c, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    return nthreads < c->B ? nthreads : c->B;
}

/* Fewer samples than threads (batch-1 inference): the threads share each
 * sample instead, im2col split by rows and the GEMM by output columns (or by
 * output channels when there are fewer columns than channels, as in a
 * ResNet's last stages, where each thread would otherwise pack the whole
 * weight matrix for a sliver of columns), with OpenBLAS single-threaded.
 * Letting OpenBLAS's own threads run beside idle OpenMP workers was
 * measured to spend a third of the time spinning. */
static void conv_forward_columns(float *out, const float *in, const float *weight, const float *bias,
                                 const nn_conv2d *c, float *col, int nthreads) {
    int Ci = c->C_in / c->groups, Co = c->C_out / c->groups;
    int K = Ci * c->KH * c->KW, N = c->OH * c->OW;
    int pointwise = conv_is_pointwise(c);
    int old = nn_blas_threads_enter(nthreads);
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num(), by_rows = N < Co;
        int parts = by_rows ? Co : N, chunk = (parts + nthreads - 1) / nthreads;
        int p0 = t * chunk, p1 = p0 + chunk < parts ? p0 + chunk : parts;
        int o0 = by_rows ? p0 : 0, o1 = by_rows ? p1 : Co, n0 = by_rows ? 0 : p0, n1 = by_rows ? N : p1;
        for (int b = 0; b < c->B; b++)
            for (int g = 0; g < c->groups; g++) {
                const float *x = in + ((size_t)b * c->C_in + (size_t)g * Ci) * c->H * c->W;
                float *y = out + ((size_t)b * c->C_out + (size_t)g * Co) * N; // (Co, N)
                const float *src = x;
                if (!pointwise) {
                    int r0 = (int)((int64_t)K * t / nthreads), r1 = (int)((int64_t)K * (t + 1) / nthreads);
                    im2col_rows(col, x, c, r0, r1);
                    src = col;
#pragma omp barrier
                }
                if (p1 > p0) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, o1 - o0, n1 - n0, K, 1.0f,
                                weight + ((size_t)g * Co + o0) * K, K, src + n0, N, 0.0f,
                                y + (size_t)o0 * N + n0, N);
                    if (bias)
                        for (int o = o0; o < o1; o++)
                            for (int n = n0; n < n1; n++) y[(size_t)o * N + n] += bias[g * Co + o];
                }
#pragma omp barrier /* col is reused by the next sample or group */
            }
    }
    nn_blas_threads_leave(nthreads, old);
}

void nn_conv2d_forward_fast(float *out, const float *in, const float *weight, const float *bias,
                            const nn_conv2d *c, float *workspace, int nthreads) {
    // out (B, C_out, OH, OW), in (B, C_in, H, W), weight (C_out, Ci, KH, KW)
    if (nn_depthwise_supported(c)) { /* one tiny GEMM per channel: direct kernel instead */
        nn_depthwise_forward(out, in, weight, bias, c, workspace, nthreads);
        return;
    }
    if (nthreads > 1 && c->B < nthreads) {
        conv_forward_columns(out, in, weight, bias, c, workspace, nthreads);
        return;
    }
    int T = conv_threads(c, nthreads);
    int Ci = c->C_in / c->groups, Co = c->C_out / c->groups;
    int K = Ci * c->KH * c->KW, N = c->OH * c->OW;
    size_t stride_ws = conv_col_size(c) + conv_weight_size(c);
    int pointwise = conv_is_pointwise(c);
    int old = nn_blas_threads_enter(T);
#pragma omp parallel for num_threads(T) schedule(static)
    for (int b = 0; b < c->B; b++) {
        float *col = workspace + (size_t)omp_get_thread_num() * stride_ws; // (K, N)
        for (int g = 0; g < c->groups; g++) {
            const float *x = in + ((size_t)b * c->C_in + (size_t)g * Ci) * c->H * c->W;
            float *y = out + ((size_t)b * c->C_out + (size_t)g * Co) * N; // (Co, N)
            const float *src = x;
            if (!pointwise) {
                im2col(col, x, Ci, c);
                src = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, N, K, 1.0f,
                        weight + (size_t)g * Co * K, K, src, N, 0.0f, y, N);
            if (bias)
                for (int o = 0; o < Co; o++) {
                    float bo = bias[g * Co + o];
                    float *yo = y + (size_t)o * N;
                    for (int n = 0; n < N; n++) yo[n] += bo;
                }
        }
    }
    nn_blas_threads_leave(T, old);
}

void nn_conv2d_backward_fast(float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, const nn_conv2d *c,
                             float *workspace, int nthreads) {
    nn_conv2d_backward_fast_mode(dinput, dweight, dbias, dout, in, weight, c, workspace, nthreads,
                                 NN_GRAD_ACCUMULATE);
}

void nn_conv2d_backward_fast_mode(float *dinput, float *dweight, float *dbias, const float *dout,
                                  const float *in, const float *weight, const nn_conv2d *c,
                                  float *workspace, int nthreads, nn_grad_mode dinput_mode) {
    // dinput (B, C_in, H, W), dweight (C_out, Ci, KH, KW), dbias (C_out), dout (B, C_out, OH, OW)
    if (nn_depthwise_supported(c)) {
        nn_depthwise_backward(dinput, dweight, dbias, dout, in, weight, c, workspace, nthreads,
                              dinput_mode);
        return;
    }
    int T = conv_threads(c, nthreads);
    int Ci = c->C_in / c->groups, Co = c->C_out / c->groups;
    int K = Ci * c->KH * c->KW, N = c->OH * c->OW;
    size_t col_size = conv_col_size(c), w_size = conv_weight_size(c);
    size_t stride_ws = col_size + w_size;
    int pointwise = conv_is_pointwise(c);

    if (dbias)
        for (int b = 0; b < c->B; b++)
            for (int o = 0; o < c->C_out; o++) {
                const float *d = dout + ((size_t)b * c->C_out + o) * N;
                float s = 0.0f;
                for (int n = 0; n < N; n++) s += d[n];
                dbias[o] += s;
            }
    if (!dinput && !dweight) return;

    int old = nn_blas_threads_enter(T);
    /* Thread 0 accumulates straight into dweight; the others into private
     * partials summed afterwards in thread order, so the result depends only
     * on the thread count, never on scheduling. */
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        float *col = workspace + (size_t)t * stride_ws; // (K, N)
        float *dw = t == 0 ? dweight : col + col_size;  // (C_out, K)
        if (t > 0 && dweight) memset(dw, 0, sizeof(float) * w_size);
#pragma omp for schedule(static)
        for (int b = 0; b < c->B; b++) {
            if (dinput && dinput_mode == NN_GRAD_OVERWRITE)
                memset(dinput + (size_t)b * c->C_in * c->H * c->W, 0,
                       sizeof(float) * (size_t)c->C_in * c->H * c->W);
            for (int g = 0; g < c->groups; g++) {
                const float *x = in + ((size_t)b * c->C_in + (size_t)g * Ci) * c->H * c->W;
                const float *dy = dout + ((size_t)b * c->C_out + (size_t)g * Co) * N; // (Co, N)
                const float *wg = weight + (size_t)g * Co * K;                          // (Co, K)
                if (dweight) {
                    const float *src = x;
                    if (!pointwise) {
                        im2col(col, x, Ci, c);
                        src = col;
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, K, N, 1.0f, dy, N, src,
                                N, 1.0f, dw + (size_t)g * Co * K, K);
                }
                if (dinput) {
                    float *dx = dinput + ((size_t)b * c->C_in + (size_t)g * Ci) * c->H * c->W;
                    if (pointwise) {
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, Co, 1.0f, wg, K,
                                    dy, N, 1.0f, dx, N);
                    } else { /* dcol (K, N) = W_g^T dy, reusing the im2col buffer */
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, Co, 1.0f, wg, K,
                                    dy, N, 0.0f, col, N);
                        col2im_add(dx, col, Ci, c);
                    }
                }
            }
        }
    }
    nn_blas_threads_leave(T, old);
    if (dweight)
        for (int t = 1; t < T; t++) {
            const float *dw = workspace + (size_t)t * stride_ws + col_size;
            for (size_t i = 0; i < w_size; i++) dweight[i] += dw[i];
        }
}
