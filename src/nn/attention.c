/* attention.c: the core of timm's vision_transformer.Attention (after its qkv
 * Linear, before its proj Linear), i.e. per sample b and head h
 *   q, k, v = qkv.reshape(B, T, 3, NH, hs).permute(2, 0, 3, 1, 4)
 *   att     = softmax(q @ k^T * hs^-0.5)              (T, T)
 *   out     = (att @ v).transpose(1, 2).reshape(B, T, C)
 * as in "Attention Is All You Need" (Vaswani et al. 2017, eq. 1) and
 * torch.nn.functional.scaled_dot_product_attention
 * (https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
 * without mask or dropout. Backward, with dy = dout for head h:
 *   dv += att^T dy,  datt = dy v^T,  ds = att * (datt - rowsum(datt * att)),
 *   dq += ds k * scale,  dk += ds^T q * scale.
 *
 * Dimension letters: B batch, T tokens, C = NH * hs channels, NH heads,
 * hs head size. No head is copied out of qkv: head h of sample b reads q at
 * qkv + b T 3C + h hs, k at + C, v at + 2C, each a (T, hs) matrix with
 * leading dimension 3C, and writes out (T, hs) with leading dimension C.
 *
 * Two implementations of one contract: the plain loops (attention_ref.h) are
 * the oracle; the public functions run two SGEMMs per (b, h) forward and four
 * backward, OpenMP over the B * NH heads, each thread its own scratch. */
#include "nn/attention_ref.h"
#include "nn/nn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Where the (b, h) head's q (T, hs) starts in qkv, and its out in out. */
static size_t qkv_offset(int b, int h, int T, int C, int hs) {
    return (size_t)b * T * 3 * C + (size_t)h * hs;
}
static size_t out_offset(int b, int h, int T, int C, int hs) {
    return (size_t)b * T * C + (size_t)h * hs;
}

static float attention_scale(int C, int NH) { return 1.0f / sqrtf((float)(C / NH)); }

/* ------------------------------------------------------------- reference */

void nn_attention_forward_naive(float *out, float *att, const float *qkv, int B, int T, int C,
                                int NH) {
    // out (B, T, C), att (B, NH, T, T), qkv (B, T, 3C)
    int hs = C / NH;
    size_t ld = (size_t)3 * C;
    float scale = attention_scale(C, NH);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + qkv_offset(b, h, T, C, hs), *k = q + C, *v = q + 2 * C;
            float *a = att + ((size_t)b * NH + h) * T * T; // (T, T)
            float *o = out + out_offset(b, h, T, C, hs);
            for (int t = 0; t < T; t++) {
                float *row = a + (size_t)t * T;
                for (int s = 0; s < T; s++) {
                    float dot = 0.0f;
                    for (int d = 0; d < hs; d++) dot += q[t * ld + d] * k[s * ld + d];
                    row[s] = dot * scale;
                }
                nn_softmax_forward(row, row, 1, T);
                for (int d = 0; d < hs; d++) {
                    float sum = 0.0f;
                    for (int s = 0; s < T; s++) sum += row[s] * v[s * ld + d];
                    o[(size_t)t * C + d] = sum;
                }
            }
        }
}

void nn_attention_backward_naive(float *dqkv, const float *dout, const float *att,
                                 const float *qkv, float *scratch, int B, int T, int C, int NH) {
    // dqkv, qkv (B, T, 3C), dout (B, T, C), att (B, NH, T, T), scratch (2, T)
    int hs = C / NH;
    size_t ld = (size_t)3 * C;
    float scale = attention_scale(C, NH);
    float *datt = scratch, *ds = scratch + T; // one row each
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + qkv_offset(b, h, T, C, hs), *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + qkv_offset(b, h, T, C, hs), *dk = dq + C, *dv = dq + 2 * C;
            const float *a = att + ((size_t)b * NH + h) * T * T;
            const float *dy = dout + out_offset(b, h, T, C, hs);
            for (int t = 0; t < T; t++) {
                const float *row = a + (size_t)t * T, *dyt = dy + (size_t)t * C;
                for (int s = 0; s < T; s++) {
                    float dot = 0.0f;
                    for (int d = 0; d < hs; d++) {
                        dot += dyt[d] * v[s * ld + d];
                        dv[s * ld + d] += row[s] * dyt[d];
                    }
                    datt[s] = dot;
                    ds[s] = 0.0f;
                }
                nn_softmax_backward(ds, datt, row, 1, T);
                for (int s = 0; s < T; s++)
                    for (int d = 0; d < hs; d++) {
                        dq[t * ld + d] += scale * ds[s] * k[s * ld + d];
                        dk[s * ld + d] += scale * ds[s] * q[t * ld + d];
                    }
            }
        }
}

/* ------------------------------------------------------------ SGEMM path */

/* Threads over the B * NH heads: never more than heads, so a lone head
 * (batch-1, one head) leaves OpenBLAS its own threads. */
static int attention_threads(int B, int NH) {
    int n = omp_get_max_threads(), heads = B * NH;
    return n < heads ? n : heads;
}

/* Each OpenMP thread calls single-threaded SGEMMs (nn_blas_threads_enter). */

/* Per thread: datt and ds, (T, T) each. Sized for omp_get_max_threads() as
 * it stands when the backward runs, which is as many threads as it uses. */
size_t nn_attention_scratch_size(int B, int T, int C, int NH) {
    (void)C;
    return (size_t)attention_threads(B, NH) * 2 * T * T;
}

void nn_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    // out (B, T, C), att (B, NH, T, T), qkv (B, T, 3C)
    int hs = C / NH, nthreads = attention_threads(B, NH);
    float scale = attention_scale(C, NH);
    int old = nn_blas_threads_enter(nthreads);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + qkv_offset(b, h, T, C, hs), *k = q + C, *v = q + 2 * C;
        float *a = att + (size_t)bh * T * T;
        // a (T, T) = scale * q (T, hs) @ k^T (hs, T), softmax in place
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, 3 * C, k, 3 * C,
                    0.0f, a, T);
        nn_softmax_forward(a, a, T, T);
        // out_h (T, hs) = a (T, T) @ v (T, hs)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, v, 3 * C, 0.0f,
                    out + out_offset(b, h, T, C, hs), C);
    }
    nn_blas_threads_leave(nthreads, old);
}

void nn_attention_backward(float *dqkv, const float *dout, const float *att, const float *qkv,
                           float *scratch, int B, int T, int C, int NH) {
    // dqkv, qkv (B, T, 3C), dout (B, T, C), att (B, NH, T, T), scratch (threads, 2, T, T)
    int hs = C / NH, nthreads = attention_threads(B, NH);
    float scale = attention_scale(C, NH);
    size_t TT = (size_t)T * T;
    int old = nn_blas_threads_enter(nthreads);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        float *datt = scratch + (size_t)omp_get_thread_num() * 2 * TT, *ds = datt + TT; // (T, T)
        const float *q = qkv + qkv_offset(b, h, T, C, hs), *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + qkv_offset(b, h, T, C, hs), *dk = dq + C, *dv = dq + 2 * C;
        const float *a = att + (size_t)bh * TT, *dy = dout + out_offset(b, h, T, C, hs);
        // dv (T, hs) += a^T (T, T) @ dy (T, hs)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, dy, C, 1.0f, dv,
                    3 * C);
        // datt (T, T) = dy (T, hs) @ v^T (hs, T)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dy, C, v, 3 * C, 0.0f,
                    datt, T);
        memset(ds, 0, sizeof(float) * TT); /* softmax backward accumulates */
        nn_softmax_backward(ds, datt, a, T, T);
        // dq (T, hs) += scale * ds (T, T) @ k (T, hs); dk += scale * ds^T @ q
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, ds, T, k, 3 * C,
                    1.0f, dq, 3 * C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, ds, T, q, 3 * C, 1.0f,
                    dk, 3 * C);
    }
    nn_blas_threads_leave(nthreads, old);
}
