/* softmax.c: torch.softmax(x, dim=-1)
 * (https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html)
 * over the rows of (N, C): y = exp(x - max) / sum exp(x - max); subtracting
 * the row max keeps exp from overflowing and does not change y.
 * Backward from y alone (the Jacobian is diag(y) - y y^T):
 *   dx = y * (dy - sum(dy * y)).
 * The forward reads each input element before writing the same output
 * element, so out == in (in place) is allowed; attention uses it on its
 * score matrix.
 * Each pass over a row is a simd loop (exp is vecmath.h's, the max and the
 * sums simd reductions, the sum of exps still in double) in NN_VEC_CLONES
 * kernels; the callers (attention.c) parallelise over rows. */
#include "nn/nn.h"
#include "nn/vecmath.h"

#include <math.h>

NN_VEC_CLONES static void softmax_forward_rows(float *out, const float *in, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int i = 0; i < C; i++) mx = x[i] > mx ? x[i] : mx;
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < C; i++) {
            y[i] = nn_vec_exp(x[i] - mx);
            sum += y[i];
        }
        float inv = (float)(1.0 / sum);
#pragma omp simd
        for (int i = 0; i < C; i++) y[i] *= inv;
    }
}

NN_VEC_CLONES static void softmax_backward_rows(float *dinput, const float *dout, const float *out,
                                                int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *y = out + (size_t)n * C;
        float *dx = dinput + (size_t)n * C;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < C; i++) dot += dy[i] * y[i];
#pragma omp simd
        for (int i = 0; i < C; i++) dx[i] += y[i] * (dy[i] - dot);
    }
}

void nn_softmax_forward(float *out, const float *in, int N, int C) {
    // out, in (N, C)
    softmax_forward_rows(out, in, N, C);
}

void nn_softmax_backward(float *dinput, const float *dout, const float *out, int N, int C) {
    // dinput, dout, out (N, C)
    softmax_backward_rows(dinput, dout, out, N, C);
}
