/* linear.c: torch.nn.Linear (https://pytorch.org/docs/stable/generated/torch.nn.Linear.html),
 * out = in W^T + b. Naive loops (the oracle) and an SGEMM fast path; OpenBLAS
 * brings its own threads. */
#include "nn/nn.h"

#include <cblas.h>

void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias, int N,
                       int F_in, int F_out) {
    // out (N, F_out), in (N, F_in), weight (F_out, F_in), bias (F_out)
    for (int n = 0; n < N; n++)
        for (int o = 0; o < F_out; o++) {
            float sum = bias ? bias[o] : 0.0f;
            for (int i = 0; i < F_in; i++)
                sum += in[(size_t)n * F_in + i] * weight[(size_t)o * F_in + i];
            out[(size_t)n * F_out + o] = sum;
        }
}

void nn_linear_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int N, int F_in, int F_out) {
    // dinput (N, F_in), dweight (F_out, F_in), dbias (F_out), dout (N, F_out)
    for (int n = 0; n < N; n++)
        for (int o = 0; o < F_out; o++) {
            float d = dout[(size_t)n * F_out + o];
            if (dbias) dbias[o] += d;
            for (int i = 0; i < F_in; i++) {
                if (dinput) dinput[(size_t)n * F_in + i] += d * weight[(size_t)o * F_in + i];
                if (dweight) dweight[(size_t)o * F_in + i] += d * in[(size_t)n * F_in + i];
            }
        }
}

void nn_linear_forward_fast(float *out, const float *in, const float *weight, const float *bias,
                            int N, int F_in, int F_out) {
    // out (N, F_out) = in (N, F_in) @ weight^T (F_in, F_out) [+ bias broadcast over rows]
    if (bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < F_out; o++) out[(size_t)n * F_out + o] = bias[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, F_out, F_in, 1.0f, in, F_in, weight,
                F_in, bias ? 1.0f : 0.0f, out, F_out);
}

void nn_linear_backward_fast(float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, int N, int F_in, int F_out) {
    if (dinput) // (N, F_in) += dout (N, F_out) @ weight (F_out, F_in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, F_in, F_out, 1.0f, dout, F_out,
                    weight, F_in, 1.0f, dinput, F_in);
    if (dweight) // (F_out, F_in) += dout^T (F_out, N) @ in (N, F_in)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F_out, F_in, N, 1.0f, dout, F_out, in,
                    F_in, 1.0f, dweight, F_in);
    if (dbias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < F_out; o++) dbias[o] += dout[(size_t)n * F_out + o];
}
