/* attnpool.c: attentive statistics pooling (Okabe, Koshinaka and Shinoda,
 * "Attentive Statistics Pooling for Deep Speaker Embedding", Interspeech
 * 2018), the weighted form of nn_global_statpool_*: a small network scores
 * each position of the last feature map, and the mean and standard
 * deviation are taken under the softmax of those scores, so positions that
 * carry the emotion (voiced frames) can outweigh padding and silence.
 *
 * Per clip, with h_p the C features at position p of HW:
 *   u_p   = tanh(W h_p + b)              W (A, C), b (A): torch Linear(C, A)
 *   e_p   = v . u_p                      v (1, A): Linear(A, 1, bias=False)
 *   a     = softmax_p(e)
 *   mu    = sum_p a_p h_p
 *   sigma = sqrt(sum_p a_p (h_p - mu)^2 + NN_STATPOOL_EPS)
 *   out   = [mu, sigma]                  (2C)
 * The variance is the weighted sum of squared deviations (never negative,
 * unlike E[h^2] - mu^2 in float). Per clip, the products with W are
 * OpenBLAS GEMMs (A x C by C x HW, 1M multiply-adds at width 24); the rest
 * is plain loops over HW or A x HW. */
#include "nn/nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void nn_attn_statpool_forward(float *out, float *alpha, float *u, const float *in, const float *W,
                              const float *b, const float *v, int B, int C, int HW, int A) {
    // out (B, 2C); alpha (B, HW); u (B, A, HW); in (B, C, HW); W (A, C); b, v (A)
    for (int n = 0; n < B; n++) {
        const float *h = in + (size_t)n * C * HW;
        float *un = u + (size_t)n * A * HW, *an = alpha + (size_t)n * HW;
        float *mu = out + (size_t)n * 2 * C, *sd = mu + C;
        for (int a = 0; a < A; a++)
            for (int p = 0; p < HW; p++) un[(size_t)a * HW + p] = b[a];
        /* u (A, HW) += W (A, C) h (C, HW) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, A, HW, C, 1.0f, W, C, h, HW, 1.0f, un, HW);
        for (size_t i = 0; i < (size_t)A * HW; i++) un[i] = tanhf(un[i]);
        float mx = -INFINITY;
        for (int p = 0; p < HW; p++) {
            float e = 0.0f;
            for (int a = 0; a < A; a++) e += v[a] * un[(size_t)a * HW + p];
            an[p] = e;
            if (e > mx) mx = e;
        }
        double z = 0.0;
        for (int p = 0; p < HW; p++) z += exp((double)an[p] - mx);
        for (int p = 0; p < HW; p++) an[p] = (float)(exp((double)an[p] - mx) / z);
        for (int c = 0; c < C; c++) {
            const float *hc = h + (size_t)c * HW;
            double m = 0.0, var = 0.0;
            for (int p = 0; p < HW; p++) m += (double)an[p] * hc[p];
            for (int p = 0; p < HW; p++) var += (double)an[p] * (hc[p] - m) * (hc[p] - m);
            mu[c] = (float)m;
            sd[c] = (float)sqrt(var + NN_STATPOOL_EPS);
        }
    }
}

/* With dmu, dsd the output's gradient:
 *   dh_cp += a_p (dmu_c + dsd_c (h_cp - mu_c) / sd_c)        (through mu and sigma
 *            at fixed a; the terms through mu inside sigma cancel: the weighted
 *            deviations sum to 0)
 *   g_p    = sum_c dmu_c h_cp + dsd_c (h_cp - mu_c)^2 / (2 sd_c)   (d/d a_p)
 *   de_p   = a_p (g_p - sum_q a_q g_q)                       (softmax)
 *   dv    += sum_p de_p u_p;  dz_ap = de_p v_a (1 - u_ap^2)
 *   dW    += dz h^T;  db += sum_p dz_p;  dh += W^T dz.
 * scratch: (HW) floats for g / de and (A, HW) for dz. */
void nn_attn_statpool_backward(float *dinput, float *dW, float *db, float *dv, const float *dout,
                               const float *out, const float *alpha, const float *u,
                               const float *in, const float *W, const float *v, int B, int C,
                               int HW, int A, float *scratch) {
    float *g = scratch, *dz = scratch + HW;
    for (int n = 0; n < B; n++) {
        const float *h = in + (size_t)n * C * HW, *un = u + (size_t)n * A * HW;
        const float *an = alpha + (size_t)n * HW, *mu = out + (size_t)n * 2 * C, *sd = mu + C;
        const float *gmu = dout + (size_t)n * 2 * C, *gsd = gmu + C;
        float *dh = dinput + (size_t)n * C * HW;
        memset(g, 0, sizeof(float) * (size_t)HW);
        for (int c = 0; c < C; c++) {
            const float *hc = h + (size_t)c * HW;
            float *dhc = dh + (size_t)c * HW;
            const float k = gsd[c] / sd[c];
            for (int p = 0; p < HW; p++) {
                float d = hc[p] - mu[c];
                dhc[p] += an[p] * (gmu[c] + k * d);
                g[p] += gmu[c] * hc[p] + 0.5f * k * d * d;
            }
        }
        double mean_g = 0.0;
        for (int p = 0; p < HW; p++) mean_g += (double)an[p] * g[p];
        for (int p = 0; p < HW; p++) g[p] = an[p] * (g[p] - (float)mean_g); /* now de */
        for (int a = 0; a < A; a++) {
            const float *ua = un + (size_t)a * HW;
            float *dza = dz + (size_t)a * HW, sv = 0.0f, sb = 0.0f;
            for (int p = 0; p < HW; p++) {
                sv += g[p] * ua[p];
                dza[p] = g[p] * v[a] * (1.0f - ua[p] * ua[p]);
                sb += dza[p];
            }
            dv[a] += sv;
            db[a] += sb;
        }
        /* dW (A, C) += dz (A, HW) h^T;  dh (C, HW) += W^T dz */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, A, C, HW, 1.0f, dz, HW, h, HW, 1.0f, dW, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, HW, A, 1.0f, W, C, dz, HW, 1.0f, dh, HW);
    }
}
