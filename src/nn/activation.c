/* activation.c: element-wise ReLU, GELU, sigmoid, SiLU and dropout. */
#include "nn/nn.h"

#include <math.h>

/* torch.nn.ReLU; the gradient at exactly 0 is 0, as torch's threshold_backward. */
void nn_relu_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *dinput, const float *dout, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (in[i] > 0.0f) dinput[i] += dout[i];
}

/* torch.nn.GELU (https://pytorch.org/docs/stable/generated/torch.nn.GELU.html):
 *   none: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));  d/dx = Phi(x) + x phi(x)
 *   tanh: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
 *         d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 * Needs precise erff/tanhf: no -ffast-math here (llm.c's gelu_backward lesson). */
#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_INV_SQRT_2 0.7071067811865476f
#define GELU_INV_SQRT_2PI 0.3989422804014327f
#define GELU_TANH_COEF 0.044715f

void nn_gelu_forward(float *out, const float *in, size_t n, nn_gelu_approx approx) {
    if (approx == NN_GELU_APPROX_TANH) {
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float u = GELU_SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
            out[i] = 0.5f * x * (1.0f + tanhf(u));
        }
    } else {
        for (size_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * GELU_INV_SQRT_2));
    }
}

void nn_gelu_backward(float *dinput, const float *dout, const float *in, size_t n,
                      nn_gelu_approx approx) {
    if (approx == NN_GELU_APPROX_TANH) {
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float u = GELU_SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
            float t = tanhf(u);
            float du = GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_COEF * x * x);
            dinput[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float cdf = 0.5f * (1.0f + erff(x * GELU_INV_SQRT_2));
            float pdf = GELU_INV_SQRT_2PI * expf(-0.5f * x * x);
            dinput[i] += dout[i] * (cdf + x * pdf);
        }
    }
}

/* Inverted dropout (torch.nn.Dropout, https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html):
 * survivors are scaled by 1/(1-p) at training time so eval is the identity.
 * The mask comes from sermo_rng, one draw per element in order, so the same
 * seed gives the same mask on every platform (torch's own RNG is not matched). */
void nn_dropout_forward(float *out, float *mask, const float *in, size_t n, float p, int train,
                        sermo_rng *rng) {
    if (!train || p <= 0.0f) {
        for (size_t i = 0; i < n; i++) {
            out[i] = in[i];
            mask[i] = 1.0f;
        }
        return;
    }
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        mask[i] = sermo_rng_uniform(rng) >= (double)p ? scale : 0.0f;
        out[i] = in[i] * mask[i];
    }
}

void nn_dropout_backward(float *dinput, const float *dout, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) dinput[i] += dout[i] * mask[i];
}

/* Sigmoid and SiLU run over whole activation maps in EfficientNet, so large
 * calls use the default OpenMP team (the declared contracts take no nthreads;
 * each element is independent, so the result does not depend on the team). */
#define ACT_PARALLEL_MIN 65536

/* torch.sigmoid (https://pytorch.org/docs/stable/generated/torch.sigmoid.html),
 * evaluated from e = exp(-|x|) <= 1 so nothing overflows: 1 / (1 + e) for
 * x >= 0, e / (1 + e) for x < 0 (which keeps the tiny values for very
 * negative x that 1 / (1 + exp(-x)) would flush to 0 once exp overflows). */
static inline float sigmoid1(float x) {
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

void nn_sigmoid_forward(float *out, const float *in, size_t n) {
#pragma omp parallel for schedule(static) if (n > ACT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = sigmoid1(in[i]);
}

/* d sigmoid / dx = y (1 - y), from the saved output. */
void nn_sigmoid_backward(float *dinput, const float *dout, const float *out, size_t n) {
#pragma omp parallel for schedule(static) if (n > ACT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dinput[i] += dout[i] * out[i] * (1.0f - out[i]);
}

/* torch.nn.SiLU (https://pytorch.org/docs/stable/generated/torch.nn.SiLU.html):
 * x sigmoid(x); d/dx = s (1 + x (1 - s)), the form torch's silu_backward uses. */
void nn_silu_forward(float *out, const float *in, size_t n) {
#pragma omp parallel for schedule(static) if (n > ACT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = in[i] * sigmoid1(in[i]);
}

void nn_silu_backward(float *dinput, const float *dout, const float *in, size_t n) {
#pragma omp parallel for schedule(static) if (n > ACT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float s = sigmoid1(in[i]);
        dinput[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
    }
}
