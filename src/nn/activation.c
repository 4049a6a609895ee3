/* activation.c: element-wise ReLU, GELU, sigmoid, SiLU and dropout. */
#include "nn/nn.h"
#include "nn/vecmath.h"

/* Sigmoid, SiLU and GELU evaluate exp/erf/tanh per element, through
 * vecmath.h's vectorisable versions (libm's scalar calls were most of their
 * time), in NN_VEC_CLONES kernels: one per op and direction, each a
 * `dst (+)= f(src, aux)` simd loop, run over blocks of ACT_BLOCK elements.
 * An element's result does not depend on its block or on the team, so
 * blocking and threading change no bit. Sigmoid and SiLU run over whole
 * activation maps in EfficientNet, so their large calls use the default
 * OpenMP team (the declared contracts take no nthreads); GELU's caller
 * (vit.c) already splits its calls over threads. */
#define ACT_PARALLEL_MIN 65536
#define ACT_BLOCK 8192

typedef void (*act_kernel)(float *dst, const float *src, const float *aux, size_t n);

static void act_run(act_kernel kernel, float *dst, const float *src, const float *aux, size_t n,
                    int parallel) {
    size_t blocks = (n + ACT_BLOCK - 1) / ACT_BLOCK;
#pragma omp parallel for schedule(static) if (parallel && n > ACT_PARALLEL_MIN)
    for (size_t b = 0; b < blocks; b++) {
        size_t i0 = b * ACT_BLOCK, len = n - i0 < ACT_BLOCK ? n - i0 : ACT_BLOCK;
        kernel(dst + i0, src + i0, aux ? aux + i0 : NULL, len);
    }
}

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
 * Needs precise erf/tanh: no -ffast-math here (llm.c's gelu_backward lesson);
 * vecmath.h's are within 2e-7 relative of libm's. */
#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_INV_SQRT_2 0.7071067811865476f
#define GELU_INV_SQRT_2PI 0.3989422804014327f
#define GELU_TANH_COEF 0.044715f

NN_VEC_CLONES static void gelu_none_forward(float *out, const float *in, const float *unused,
                                            size_t n) {
    (void)unused;
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + nn_vec_erf(in[i] * GELU_INV_SQRT_2));
}

NN_VEC_CLONES static void gelu_none_backward(float *dinput, const float *dout, const float *in,
                                             size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float cdf = 0.5f * (1.0f + nn_vec_erf(x * GELU_INV_SQRT_2));
        float pdf = GELU_INV_SQRT_2PI * nn_vec_exp(-0.5f * x * x);
        dinput[i] += dout[i] * (cdf + x * pdf);
    }
}

NN_VEC_CLONES static void gelu_tanh_forward(float *out, const float *in, const float *unused,
                                            size_t n) {
    (void)unused;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float u = GELU_SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
        out[i] = 0.5f * x * (1.0f + nn_vec_tanh(u));
    }
}

NN_VEC_CLONES static void gelu_tanh_backward(float *dinput, const float *dout, const float *in,
                                             size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float u = GELU_SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
        float t = nn_vec_tanh(u);
        float du = GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_COEF * x * x);
        dinput[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

void nn_gelu_forward(float *out, const float *in, size_t n, nn_gelu_approx approx) {
    act_run(approx == NN_GELU_APPROX_TANH ? gelu_tanh_forward : gelu_none_forward, out, in, NULL,
            n, 0);
}

void nn_gelu_backward(float *dinput, const float *dout, const float *in, size_t n,
                      nn_gelu_approx approx) {
    act_run(approx == NN_GELU_APPROX_TANH ? gelu_tanh_backward : gelu_none_backward, dinput, dout,
            in, n, 0);
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

/* torch.sigmoid (https://pytorch.org/docs/stable/generated/torch.sigmoid.html),
 * nn_vec_sigmoid: exp(-|x|) based, so nothing overflows and very negative x
 * keep their tiny (denormal) values. */
NN_VEC_CLONES static void sigmoid_forward(float *out, const float *in, const float *unused,
                                          size_t n) {
    (void)unused;
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = nn_vec_sigmoid(in[i]);
}

/* d sigmoid / dx = y (1 - y), from the saved output. */
NN_VEC_CLONES static void sigmoid_backward(float *dinput, const float *dout, const float *out,
                                           size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dinput[i] += dout[i] * out[i] * (1.0f - out[i]);
}

void nn_sigmoid_forward(float *out, const float *in, size_t n) {
    act_run(sigmoid_forward, out, in, NULL, n, 1);
}

void nn_sigmoid_backward(float *dinput, const float *dout, const float *out, size_t n) {
    act_run(sigmoid_backward, dinput, dout, out, n, 1);
}

/* torch.nn.SiLU (https://pytorch.org/docs/stable/generated/torch.nn.SiLU.html):
 * x sigmoid(x); d/dx = s (1 + x (1 - s)), the form torch's silu_backward uses. */
NN_VEC_CLONES static void silu_forward(float *out, const float *in, const float *unused,
                                       size_t n) {
    (void)unused;
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = in[i] * nn_vec_sigmoid(in[i]);
}

NN_VEC_CLONES static void silu_backward(float *dinput, const float *dout, const float *in,
                                        size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float s = nn_vec_sigmoid(in[i]);
        dinput[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
    }
}

void nn_silu_forward(float *out, const float *in, size_t n) {
    act_run(silu_forward, out, in, NULL, n, 1);
}

void nn_silu_backward(float *dinput, const float *dout, const float *in, size_t n) {
    act_run(silu_backward, dinput, dout, in, n, 1);
}
