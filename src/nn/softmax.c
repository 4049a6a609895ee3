/* softmax.c: torch.softmax(x, dim=-1)
 * (https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html)
 * over the rows of (N, C): y = exp(x - max) / sum exp(x - max); subtracting
 * the row max keeps exp from overflowing and does not change y.
 * Backward from y alone (the Jacobian is diag(y) - y y^T):
 *   dx = y * (dy - sum(dy * y)).
 * The forward reads each input element before writing the same output
 * element, so out == in (in place) is allowed; attention uses it on its
 * score matrix. */
#include "nn/nn.h"

#include <math.h>

void nn_softmax_forward(float *out, const float *in, int N, int C) {
    // out, in (N, C)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float mx = -INFINITY;
        for (int i = 0; i < C; i++)
            if (x[i] > mx) mx = x[i];
        double sum = 0.0;
        for (int i = 0; i < C; i++) {
            y[i] = expf(x[i] - mx);
            sum += y[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < C; i++) y[i] *= inv;
    }
}

void nn_softmax_backward(float *dinput, const float *dout, const float *out, int N, int C) {
    // dinput, dout, out (N, C)
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *y = out + (size_t)n * C;
        float *dx = dinput + (size_t)n * C;
        float dot = 0.0f;
        for (int i = 0; i < C; i++) dot += dy[i] * y[i];
        for (int i = 0; i < C; i++) dx[i] += y[i] * (dy[i] - dot);
    }
}
