/* test_vecmath.c: src/nn/vecmath.h's exp, erf, tanh and sigmoid, and the
 * ops built on them (activation.c, softmax.c, layernorm.c), against libm in
 * double precision.
 *
 * 1. Sweeps: every STRIDE-th float bit pattern of both signs (every binade,
 *    denormals included), plus +-0, +-inf, NaN and the overflow and
 *    underflow edges, through a simd loop compiled for each NN_VEC_CLONES
 *    target this CPU runs (baseline x86-64, x86-64-v3 = AVX2+FMA, AVX-512). Bounds, as
 *    documented in vecmath.h: exp within EXP_ULP and sigmoid within
 *    SIGMOID_ULP ulps (the float spacing at the reference, 2^-149 for
 *    denormals; results past FLT_MAX must be +inf), erf and tanh within
 *    ERF_REL / TANH_REL relative (below FLT_MIN: that absolute). NaN in
 *    gives NaN, +-inf the limits. SERMO_VECMATH_STRIDE=1 sweeps every float
 *    (about a minute; how the header's figures were measured).
 * 2. The ops, through whichever clone the library picked: sigmoid and SiLU
 *    forward in ulps; the backwards and GELU (both approximations) forward
 *    and backward within OP_REL of the sum of the absolute values of every
 *    sum's terms, as the cancellation in 1 + erf, 1 - s and 1 - t^2 is the
 *    formula's (torch's too), not the kernel's. Backwards must accumulate.
 * 3. Each op over a whole array equals the op called one element at a time,
 *    bit for bit: the vector body and the scalar tail agree, so blocks and
 *    threads cannot change a result.
 * 4. Softmax (with -inf entries) and LayerNorm, forward and backward, at row
 *    widths that leave every kind of vector tail, against double loops. */
#include "check.h"
#include "nn/nn.h"
#include "nn/vecmath.h"

#include <float.h>
#include <stdint.h>

#define EXP_ULP 1.5
#define SIGMOID_ULP 3.0
#define ERF_REL 2.5e-7
#define TANH_REL 2.5e-7
#define OP_REL 5e-7
#define ROW_REL 5e-7
/* Below FLT_MIN sigmoid is quantised to 2^-149 and SiLU and the backwards
 * multiply it by up to 1 + |x|: an absolute allowance of 4 such steps. */
#define OP_FLOOR(x) ((1.0 + fabs(x)) * 0x1p-147 / OP_REL)
#define CHUNK 4096

/* ================================================== the functions, per clone */

enum vfn { VFN_EXP, VFN_ERF, VFN_TANH, VFN_SIGMOID, VFN_COUNT };
static const char *vfn_name[VFN_COUNT] = {"exp", "erf", "tanh", "sigmoid"};

/* The simd loop the library's kernels run; inlined into one wrapper per target. */
NN_VEC_INLINE void vfn_loop(enum vfn f, float *y, const float *x, size_t n) {
    switch (f) {
    case VFN_EXP:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = nn_vec_exp(x[i]);
        break;
    case VFN_ERF:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = nn_vec_erf(x[i]);
        break;
    case VFN_TANH:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = nn_vec_tanh(x[i]);
        break;
    default:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = nn_vec_sigmoid(x[i]);
        break;
    }
}

typedef void (*vfn_impl)(enum vfn f, float *y, const float *x, size_t n);

static void vfn_base(enum vfn f, float *y, const float *x, size_t n) { vfn_loop(f, y, x, n); }
#ifdef NN_VEC_HAVE_CLONES
__attribute__((target(NN_VEC_TARGET_AVX2))) static void vfn_avx2(enum vfn f, float *y,
                                                                  const float *x, size_t n) {
    vfn_loop(f, y, x, n);
}
__attribute__((target("avx512f"))) static void vfn_avx512(enum vfn f, float *y, const float *x,
                                                          size_t n) {
    vfn_loop(f, y, x, n);
}
#endif

static double vfn_ref(enum vfn f, double x) {
    switch (f) {
    case VFN_EXP: return exp(x);
    case VFN_ERF: return erf(x);
    case VFN_TANH: return tanh(x);
    default: return 1.0 / (1.0 + exp(-x));
    }
}

/* ============================================================ error meters */

/* Spacing of floats at |r| (2^-149 in the denormals). */
static double ulp_at(double r) {
    int e;
    r = fabs(r);
    if (r < FLT_MIN) return 0x1p-149;
    frexp(r, &e);
    return ldexp(1.0, e - 24);
}

typedef struct err_stat {
    double worst; /* in units of the bound's denominator */
    float worst_x;
    long bad, n;
} err_stat;

/* got against ref, error measured as |got - ref| / denom; NaN must stay NaN
 * and a reference that rounds to +-inf must be met exactly. */
static void err_add(err_stat *s, double bound, float x, float got, double ref, double denom) {
    double e;
    float rf = (float)ref;
    if (isnan(ref)) e = isnan(got) ? 0.0 : INFINITY;
    else if (isinf(rf) || isinf(got)) e = got == rf ? 0.0 : INFINITY;
    else e = fabs((double)got - ref) / denom;
    if (e > s->worst) {
        s->worst = e;
        s->worst_x = x;
    }
    if (!(e <= bound)) {
        if (s->bad < 3) fprintf(stderr, "  x=%.9g got %.9g want %.9g\n", x, got, ref);
        s->bad++;
    }
    s->n++;
}

static void err_report(const char *what, const err_stat *s, double bound) {
    fprintf(stderr, "%s: n=%ld worst=%.3g at x=%.9g (bound %.3g) bad=%ld\n", what, s->n,
            s->worst, s->worst_x, bound, s->bad);
    CHECK(s->bad == 0 && s->n > 0, "%s: %ld of %ld beyond %.3g", what, s->bad, s->n, bound);
}

/* ================================================================ 1. sweeps */

static const float edge_values[] = {
    0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f,
    88.7228394f, 88.7228317f, 88.72284f, 89.0f, 89.5f, -87.3365479f, -87.34f, -103.972077f,
    -103.97208f, -104.0f, -105.0f, -106.0f, 1.0f, -1.0f, 0.99999994f, 1.00000012f, 0.625f,
    0.62499994f, 3.92f, 4.0f, 9.0f, 9.02f, 10.0f, 20.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX};

static float sweep_value(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Runs f over xs through impl and meters every result. */
static void sweep_chunk(vfn_impl impl, enum vfn f, err_stat *s, double bound, const float *xs,
                        float *ys, size_t n) {
    impl(f, ys, xs, n);
    for (size_t i = 0; i < n; i++) {
        double ref = vfn_ref(f, xs[i]);
        double denom = f == VFN_EXP || f == VFN_SIGMOID ? ulp_at(ref)
                                                        : fmax(fabs(ref), (double)FLT_MIN);
        err_add(s, bound, xs[i], ys[i], ref, denom);
    }
}

static void sweep_all(const char *clone, vfn_impl impl, uint32_t stride) {
    static const double bound[VFN_COUNT] = {EXP_ULP, ERF_REL, TANH_REL, SIGMOID_ULP};
    float *xs = malloc(sizeof(float) * CHUNK), *ys = malloc(sizeof(float) * CHUNK);
    for (int f = 0; f < VFN_COUNT; f++) {
        err_stat s = {0};
        size_t k = sizeof edge_values / sizeof *edge_values;
        sweep_chunk(impl, (enum vfn)f, &s, bound[f], edge_values, ys, k);
        k = 0;
        /* every stride-th pattern from +0 up to the largest finite float, and its negative */
        for (uint64_t u = 0; u < 0x7f800000u; u += stride) {
            xs[k++] = sweep_value((uint32_t)u);
            xs[k++] = -sweep_value((uint32_t)u);
            if (k == CHUNK) {
                sweep_chunk(impl, (enum vfn)f, &s, bound[f], xs, ys, k);
                k = 0;
            }
        }
        sweep_chunk(impl, (enum vfn)f, &s, bound[f], xs, ys, k);
        char what[64];
        snprintf(what, sizeof what, "%s.%s", clone, vfn_name[f]);
        err_report(what, &s, bound[f]);
    }
    /* the limits exactly, not just within the bound */
    float x[5] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f}, y[5];
    impl(VFN_EXP, y, x, 5);
    CHECK(y[0] == INFINITY && y[1] == 0.0f && isnan(y[2]) && y[3] == 1.0f && y[4] == 1.0f,
          "%s exp limits: %g %g %g %g %g", clone, y[0], y[1], y[2], y[3], y[4]);
    impl(VFN_ERF, y, x, 5);
    CHECK(y[0] == 1.0f && y[1] == -1.0f && isnan(y[2]) && y[3] == 0.0f && signbit(y[4]),
          "%s erf limits: %g %g %g %g %g", clone, y[0], y[1], y[2], y[3], y[4]);
    impl(VFN_TANH, y, x, 5);
    CHECK(y[0] == 1.0f && y[1] == -1.0f && isnan(y[2]) && y[3] == 0.0f && signbit(y[4]),
          "%s tanh limits: %g %g %g %g %g", clone, y[0], y[1], y[2], y[3], y[4]);
    impl(VFN_SIGMOID, y, x, 5);
    CHECK(y[0] == 1.0f && y[1] == 0.0f && isnan(y[2]) && y[3] == 0.5f && y[4] == 0.5f,
          "%s sigmoid limits: %g %g %g %g %g", clone, y[0], y[1], y[2], y[3], y[4]);
    free(xs);
    free(ys);
}

static void sweeps(void) {
    const char *env = getenv("SERMO_VECMATH_STRIDE");
    uint32_t stride = env ? (uint32_t)strtoul(env, NULL, 10) : 4099u; /* prime */
    if (stride == 0) stride = 1;
    sweep_all("base", vfn_base, stride);
#ifdef NN_VEC_HAVE_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports(NN_VEC_CPU_AVX2)) sweep_all("avx2", vfn_avx2, stride);
    else fprintf(stderr, "avx2: not on this CPU, not swept\n");
    if (__builtin_cpu_supports("avx512f")) sweep_all("avx512", vfn_avx512, stride);
    else fprintf(stderr, "avx512: not on this CPU, not swept\n");
#endif
}

/* ================================================================== 2. ops */

enum op {
    OP_SIGMOID,
    OP_SIGMOID_BWD,
    OP_SILU,
    OP_SILU_BWD,
    OP_GELU,
    OP_GELU_BWD,
    OP_GELU_TANH,
    OP_GELU_TANH_BWD,
    OP_COUNT
};
static const char *op_name[OP_COUNT] = {"sigmoid",   "sigmoid_bwd", "silu",      "silu_bwd",
                                        "gelu",      "gelu_bwd",    "gelu_tanh", "gelu_tanh_bwd"};

/* Backward ops take dout = 1 and, for sigmoid, the forward's output; they add
 * into y. */
static void op_run(enum op op, float *y, const float *x, const float *one, size_t n) {
    switch (op) {
    case OP_SIGMOID: nn_sigmoid_forward(y, x, n); break;
    case OP_SIGMOID_BWD: nn_sigmoid_backward(y, one, x, n); break;
    case OP_SILU: nn_silu_forward(y, x, n); break;
    case OP_SILU_BWD: nn_silu_backward(y, one, x, n); break;
    case OP_GELU: nn_gelu_forward(y, x, n, NN_GELU_APPROX_NONE); break;
    case OP_GELU_BWD: nn_gelu_backward(y, one, x, n, NN_GELU_APPROX_NONE); break;
    case OP_GELU_TANH: nn_gelu_forward(y, x, n, NN_GELU_APPROX_TANH); break;
    default: nn_gelu_backward(y, one, x, n, NN_GELU_APPROX_TANH); break;
    }
}

/* The op in double (torch's formulas, nn.h) and the sum of the absolute
 * values of its terms, the scale float rounding is relative to. For
 * OP_SIGMOID_BWD x is the forward's output y: y (1 - y). */
static double op_ref(enum op op, double x, double *scale) {
    const double k = sqrt(2.0 / M_PI), c = 0.044715;
    double s = 1.0 / (1.0 + exp(-x)), r;
    switch (op) {
    case OP_SIGMOID: r = *scale = s; break;
    case OP_SIGMOID_BWD:
        r = x * (1.0 - x);
        *scale = x * (1.0 + x);
        break;
    case OP_SILU: r = *scale = x * s; break;
    case OP_SILU_BWD:
        r = s * (1.0 + x * (1.0 - s));
        *scale = s * (1.0 + fabs(x) * (1.0 + s));
        break;
    case OP_GELU:
        r = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        *scale = 0.5 * fabs(x) * (1.0 + fabs(erf(x / sqrt(2.0))));
        break;
    case OP_GELU_BWD: {
        double e = erf(x / sqrt(2.0)), xpdf = x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
        r = 0.5 * (1.0 + e) + xpdf;
        *scale = 0.5 * (1.0 + fabs(e)) + fabs(xpdf);
        break;
    }
    case OP_GELU_TANH: {
        double t = tanh(k * (x + c * x * x * x));
        r = 0.5 * x * (1.0 + t);
        *scale = 0.5 * fabs(x) * (1.0 + fabs(t));
        break;
    }
    default: {
        double t = tanh(k * (x + c * x * x * x)), du = k * (1.0 + 3.0 * c * x * x);
        r = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
        *scale = 0.5 * (1.0 + fabs(t)) + 0.5 * fabs(x) * (1.0 + t * t) * du;
        break;
    }
    }
    return r;
}

static int op_is_backward(enum op op) { return op % 2 == 1; }

/* x: n values over [-lim, lim], dense near 0 and the function's breaks. */
static void op_inputs(float *x, size_t n, float lim) {
    for (size_t i = 0; i < n; i++) {
        double t = 2.0 * (double)i / (double)(n - 1) - 1.0; /* [-1, 1] */
        x[i] = (float)(lim * t * t * t);
    }
}

static void ops(void) {
    enum { N = 20011 }; /* odd: every kind of vector tail */
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    float *one = malloc(sizeof(float) * N), *z = malloc(sizeof(float) * N);
    for (size_t i = 0; i < N; i++) one[i] = 1.0f;
    for (int o = 0; o < OP_COUNT; o++) {
        enum op op = (enum op)o;
        if (op == OP_SIGMOID_BWD) for (size_t i = 0; i < N; i++) x[i] = (float)i / (N - 1);
        else op_inputs(x, N, op <= OP_SILU_BWD ? 110.0f : 12.0f);
        /* 1 + 2 */
        memset(y, 0, sizeof(float) * N);
        op_run(op, y, x, one, N);
        err_stat s = {0};
        int in_ulps = op == OP_SIGMOID || op == OP_SILU;
        double bound = op == OP_SIGMOID ? SIGMOID_ULP : op == OP_SILU ? SIGMOID_ULP + 1.0 : OP_REL;
        for (size_t i = 0; i < N; i++) {
            double scale, ref = op_ref(op, x[i], &scale);
            /* SiLU: x times sigmoid's error, which is in sigmoid's ulps */
            double sig_ulp = op == OP_SILU ? fabs(x[i]) * ulp_at(1.0 / (1.0 + exp(-x[i]))) : 0.0;
            err_add(&s, bound, x[i], y[i], ref,
                    in_ulps ? ulp_at(ref) + sig_ulp : scale + OP_FLOOR(x[i]));
        }
        err_report(op_name[op], &s, bound);
        if (op_is_backward(op)) { /* accumulates: z = 0.25 + y, one rounding */
            long bad = 0;
            for (size_t i = 0; i < N; i++) z[i] = 0.25f;
            op_run(op, z, x, one, N);
            for (size_t i = 0; i < N; i++)
                bad += !(fabs((double)z[i] - (0.25 + y[i])) <= 0x1p-24 * fabs(0.25 + y[i]) + 1e-30);
            CHECK(bad == 0, "%s does not accumulate: %ld elements", op_name[op], bad);
        }
        /* 3: element by element, bit for bit */
        long diff = 0;
        for (size_t i = 0; i < N; i++) {
            float zi = 0.0f;
            op_run(op, &zi, &x[i], one, 1);
            diff += memcmp(&zi, &y[i], sizeof zi) != 0;
        }
        CHECK(diff == 0, "%s: %ld elements differ between the array and one-element calls",
              op_name[op], diff);
    }
    free(x);
    free(y);
    free(one);
    free(z);
}

/* ============================================================ 4. row ops */

/* A row op's buffers, each (N, C): x a pattern over [shift, shift + 2003 /
 * div), dy over [-1, 1), dx primed at 0.5 so the backward must accumulate. */
typedef struct row_bufs {
    float *x, *y, *dy, *dx;
} row_bufs;

static row_bufs rows_init(size_t n, double div, double shift) {
    row_bufs b = {malloc(sizeof(float) * n), malloc(sizeof(float) * n),
                  malloc(sizeof(float) * n), malloc(sizeof(float) * n)};
    for (size_t i = 0; i < n; i++) {
        b.x[i] = (float)(((i * 7919) % 2003) / div + shift);
        b.dy[i] = (float)(((i * 104729) % 1009) / 500.0 - 1.0);
        b.dx[i] = 0.5f;
    }
    return b;
}

static void rows_free(row_bufs *b) {
    free(b->x);
    free(b->y);
    free(b->dy);
    free(b->dx);
}

static void rows_report(const char *op, int C, const err_stat *s) {
    char what[64];
    snprintf(what, sizeof what, "%s C=%d", op, C);
    err_report(what, s, ROW_REL);
}

static void softmax_rows(int N, int C) {
    size_t n = (size_t)N * C;
    row_bufs b = rows_init(n, 50.0, -20.0);
    float *x = b.x, *y = b.y, *dy = b.dy, *dx = b.dx;
    for (size_t i = 5; i < n; i += 13) x[i] = -INFINITY; /* masked scores */
    nn_softmax_forward(y, x, N, C);
    nn_softmax_backward(dx, dy, y, N, C);
    err_stat sy = {0}, sd = {0};
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        double mx = -INFINITY, sum = 0.0, dot = 0.0;
        for (int i = 0; i < C; i++) mx = fmax(mx, xr[i]);
        for (int i = 0; i < C; i++) sum += exp((double)xr[i] - mx);
        for (int i = 0; i < C; i++) dot += dy[(size_t)r * C + i] * exp((double)xr[i] - mx) / sum;
        for (int i = 0; i < C; i++) {
            size_t k = (size_t)r * C + i;
            double p = exp((double)xr[i] - mx) / sum, g = p * (dy[k] - dot);
            /* x - max rounds to half an ulp of |x - max|, which exp turns
             * into that much relative error (the formula's, and torch's) */
            err_add(&sy, ROW_REL, xr[i], y[k], p, fmax(p * (1.0 + fabs(xr[i] - mx)), 1e-38));
            /* the backward also rounds dot, so relative to p (|dy| + |dot|) */
            err_add(&sd, ROW_REL, xr[i], dx[k], 0.5 + g, 0.5 + p * (fabs(dy[k]) + fabs(dot)));
        }
    }
    rows_report("softmax", C, &sy);
    rows_report("softmax_bwd", C, &sd);
    rows_free(&b);
}

static void layernorm_rows(int N, int C) {
    row_bufs rb = rows_init((size_t)N * C, 500.0, -1.5);
    float *x = rb.x, *y = rb.y, *dy = rb.dy, *dx = rb.dx;
    float *w = malloc(sizeof(float) * C), *b = malloc(sizeof(float) * C);
    float *dw = malloc(sizeof(float) * C), *db = malloc(sizeof(float) * C);
    float *mean = malloc(sizeof(float) * N), *rstd = malloc(sizeof(float) * N);
    for (int i = 0; i < C; i++) {
        w[i] = 1.0f + 0.01f * (float)(i % 7);
        b[i] = 0.1f * (float)(i % 5) - 0.2f;
        dw[i] = db[i] = 0.5f;
    }
    nn_layernorm_forward(y, mean, rstd, x, w, b, N, C, 1e-5f);
    nn_layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, C);
    err_stat sy = {0}, sd = {0}, sw = {0}, sb = {0};
    double *gw = calloc((size_t)C, sizeof(double)), *gb = calloc((size_t)C, sizeof(double));
    double *aw = calloc((size_t)C, sizeof(double)), *ab = calloc((size_t)C, sizeof(double));
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C, *g = dy + (size_t)r * C;
        double m = 0.0, v = 0.0, gm = 0.0, gxm = 0.0;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m);
        double rs = 1.0 / sqrt(v / C + 1e-5);
        for (int i = 0; i < C; i++) {
            gm += g[i] * w[i];
            gxm += g[i] * w[i] * (xr[i] - m) * rs;
        }
        gm /= C;
        gxm /= C;
        for (int i = 0; i < C; i++) {
            size_t k = (size_t)r * C + i;
            double xh = (xr[i] - m) * rs, d = rs * (g[i] * w[i] - gm - xh * gxm);
            err_add(&sy, ROW_REL, xr[i], y[k], xh * w[i] + b[i], fabs(xh * w[i]) + fabs(b[i]) + 1.0);
            err_add(&sd, ROW_REL, xr[i], dx[k], 0.5 + d,
                    0.5 + rs * (fabs(g[i] * w[i]) + fabs(gm) + fabs(xh * gxm)));
            gw[i] += g[i] * xh;
            aw[i] += fabs(g[i] * xh);
            gb[i] += g[i];
            ab[i] += fabs(g[i]);
        }
    }
    for (int i = 0; i < C; i++) {
        err_add(&sw, ROW_REL, (float)i, dw[i], 0.5 + gw[i], 0.5 + aw[i]);
        err_add(&sb, ROW_REL, (float)i, db[i], 0.5 + gb[i], 0.5 + ab[i]);
    }
    rows_report("layernorm", C, &sy);
    rows_report("layernorm_bwd.dx", C, &sd);
    rows_report("layernorm_bwd.dw", C, &sw);
    rows_report("layernorm_bwd.db", C, &sb);
    rows_free(&rb);
    free(w), free(b), free(dw), free(db), free(mean), free(rstd);
    free(gw), free(gb), free(aw), free(ab);
}

int main(void) {
    sweeps();
    ops();
    static const int widths[] = {1, 3, 8, 17, 64, 197, 384};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        softmax_rows(7, widths[i]);
        layernorm_rows(7, widths[i]);
    }
    return check_report();
}
