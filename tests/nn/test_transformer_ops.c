/* test_transformer_ops.c: LayerNorm, softmax and timm's multi-head attention
 * core (src/nn/layernorm.c, softmax.c, attention.c).
 *
 * 1. Finite differences (gradcheck_util.h): smooth ops, step 1e-2,
 *    2e-3 abs + 1e-2 rel; the attention's SGEMM path and its naive
 *    reference both, w.r.t. qkv at B=2, T=5, C=8, NH=2. Gradient buffers
 *    start non-zero, so an overwriting backward fails.
 * 2. Golden tensors from PyTorch (gen_transformer_fixtures.py, float64
 *    references): outputs within 1e-5 abs + 1e-4 rel, gradients within
 *    1e-4 abs + 1e-4 rel, as test_golden.c.
 * 3. SGEMM path against the naive loops at a ViT-small size (B=2, T=197,
 *    C=384, NH=6) with 1 and 2 OpenMP threads, within 1e-5 of the
 *    reference's largest value plus 1e-5 relative (nn_test_util.h); scratch
 *    allocated at exactly nn_attention_scratch_size so ASan sees an
 *    overrun; two 2-thread runs agree bit for bit.
 * 4. Prints (checks nothing) the forward and backward time at ViT-tiny size
 *    (B=32, T=197, C=192, NH=3) on 2 threads. */
#include "check.h"
#include "nn/attention_ref.h"
#include "nn/fixture.c"
#include "nn/nn.h"

#include <omp.h>
#include <time.h>

#include "gradcheck_util.h"
#include "nn_test_util.h"

#define SMOOTH_EPS 1e-2f
#define SMOOTH_TOL 2e-3, 1e-2
#define FWD_TOL 1e-5, 1e-4
#define GRAD_TOL 1e-4, 1e-4

/* v = scale * v + shift, over fill()'s [-1, 1). */
static void affine(float *v, size_t n, float scale, float shift) {
    for (size_t i = 0; i < n; i++) v[i] = scale * v[i] + shift;
}

static float *alloc0(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ------------------------------------------------------ finite differences */

typedef struct ln_ctx {
    int N, C;
    float eps;
    float *x, *w, *b, *y, *r, *mean, *rstd;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *k = p;
    nn_layernorm_forward(k->y, k->mean, k->rstd, k->x, k->w, k->b, k->N, k->C, k->eps);
    return dot(k->y, k->r, (size_t)k->N * k->C);
}

static void gradcheck_layernorm(sermo_rng *rng) {
    enum { N = 4, C = 9 };
    float x[N * C], y[N * C], r[N * C], w[C], b[C], mean[N], rstd[N];
    ln_ctx k = {N, C, 1e-5f, x, w, b, y, r, mean, rstd};
    fill(rng, x, N * C), affine(x, N * C, 2.0f, 0.5f);
    fill(rng, w, C), affine(w, C, 0.5f, 1.0f);
    fill(rng, b, C), fill(rng, r, N * C);
    ln_loss(&k); /* mean, rstd for the backward */
    float *dx = prior(N * C), *dw = prior(C), *db = prior(C);
    nn_layernorm_backward(dx, dw, db, r, x, w, mean, rstd, N, C);
    gradcheck("layernorm.dx", x, N * C, dx, ln_loss, &k, SMOOTH_EPS, SMOOTH_TOL);
    gradcheck("layernorm.dw", w, C, dw, ln_loss, &k, SMOOTH_EPS, SMOOTH_TOL);
    gradcheck("layernorm.db", b, C, db, ln_loss, &k, SMOOTH_EPS, SMOOTH_TOL);
    free(dx), free(dw), free(db);
}

typedef struct softmax_ctx {
    int N, C;
    float *x, *y, *r;
} softmax_ctx;

static double softmax_loss(void *p) {
    softmax_ctx *k = p;
    nn_softmax_forward(k->y, k->x, k->N, k->C);
    return dot(k->y, k->r, (size_t)k->N * k->C);
}

static void gradcheck_softmax(sermo_rng *rng) {
    enum { N = 3, C = 6 };
    float x[N * C], y[N * C], r[N * C];
    softmax_ctx k = {N, C, x, y, r};
    fill(rng, x, N * C), affine(x, N * C, 3.0f, 0.0f);
    fill(rng, r, N * C);
    softmax_loss(&k);
    float *dx = prior(N * C);
    nn_softmax_backward(dx, r, y, N, C);
    gradcheck("softmax.dx", x, N * C, dx, softmax_loss, &k, SMOOTH_EPS, SMOOTH_TOL);
    free(dx);
}

typedef struct attn_ctx {
    int B, T, C, NH, fast;
    float *qkv, *y, *att, *r;
} attn_ctx;

static void attn_forward(attn_ctx *k) {
    if (k->fast) nn_attention_forward(k->y, k->att, k->qkv, k->B, k->T, k->C, k->NH);
    else nn_attention_forward_naive(k->y, k->att, k->qkv, k->B, k->T, k->C, k->NH);
}

static double attn_loss(void *p) {
    attn_ctx *k = p;
    attn_forward(k);
    return dot(k->y, k->r, (size_t)k->B * k->T * k->C);
}

/* The SGEMM path's scratch at exactly its size, or the naive path's 2 T. */
static float *attn_scratch(const attn_ctx *k) {
    size_t n = k->fast ? nn_attention_scratch_size(k->B, k->T, k->C, k->NH) : (size_t)2 * k->T;
    return malloc(sizeof(float) * n);
}

static void attn_backward(const attn_ctx *k, float *dqkv, const float *dout) {
    float *scratch = attn_scratch(k);
    if (k->fast) nn_attention_backward(dqkv, dout, k->att, k->qkv, scratch, k->B, k->T, k->C, k->NH);
    else nn_attention_backward_naive(dqkv, dout, k->att, k->qkv, scratch, k->B, k->T, k->C, k->NH);
    free(scratch);
}

static void gradcheck_attention(sermo_rng *rng) {
    enum { B = 2, T = 5, C = 8, NH = 2 };
    float qkv[B * T * 3 * C], y[B * T * C], r[B * T * C], att[B * NH * T * T];
    fill(rng, qkv, B * T * 3 * C), affine(qkv, B * T * 3 * C, 2.0f, 0.0f);
    fill(rng, r, B * T * C);
    for (int fast = 0; fast < 2; fast++) {
        attn_ctx k = {B, T, C, NH, fast, qkv, y, att, r};
        attn_forward(&k);
        float *dqkv = prior(B * T * 3 * C);
        attn_backward(&k, dqkv, r);
        gradcheck(fast ? "attention.fast.dqkv" : "attention.naive.dqkv", qkv, B * T * 3 * C, dqkv,
                  attn_loss, &k, SMOOTH_EPS, SMOOTH_TOL);
        free(dqkv);
    }
}

/* ------------------------------------------------------- golden (PyTorch) */

/* "<prefix>.<name>" holding `expect` elements (0: any), or NULL (counted as
 * a failure). shape, when not NULL, receives up to 4 dimensions. */
static const float *fx(const fixture *f, const char *prefix, const char *name, size_t expect,
                       int64_t *shape) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", prefix, name);
    size_t n = 0;
    int64_t dims[8] = {0};
    const float *p = fixture_get(f, key, &n, dims, NULL);
    CHECK(p && (!expect || n == expect), "fixture tensor %s missing or not %zu elements", key,
          expect);
    if (p && shape) memcpy(shape, dims, sizeof(int64_t) * 4);
    return p && (!expect || n == expect) ? p : NULL;
}

static void golden_close(const char *prefix, const char *what, const float *got, const float *ref,
                         size_t n, double atol, double rtol) {
    char label[160];
    snprintf(label, sizeof label, "%s.%s", prefix, what);
    if (ref) check_close(label, got, ref, (long)n, atol, rtol);
}

static void golden_layernorm(const fixture *f, const char *name) {
    int64_t shape[4];
    const float *x = fx(f, name, "x", 0, shape), *eps = fx(f, name, "eps", 1, NULL);
    if (!x || !eps) return;
    int N = (int)shape[0], C = (int)shape[1];
    size_t n = (size_t)N * C;
    const float *w = fx(f, name, "w", C, NULL), *b = fx(f, name, "b", C, NULL);
    const float *dy = fx(f, name, "dy", n, NULL);
    if (!w || !b || !dy) return;
    float *y = alloc0(n), *dx = alloc0(n), *dw = alloc0(C), *db = alloc0(C), *dw_only = alloc0(C);
    float *mean = alloc0(N), *rstd = alloc0(N);
    nn_layernorm_forward(y, mean, rstd, x, w, b, N, C, eps[0]);
    nn_layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, C);
    nn_layernorm_backward(NULL, dw_only, NULL, dy, x, w, mean, rstd, N, C); /* NULL = not wanted */
    golden_close(name, "y", y, fx(f, name, "y", n, NULL), n, FWD_TOL);
    golden_close(name, "dx", dx, fx(f, name, "dx", n, NULL), n, GRAD_TOL);
    golden_close(name, "dw", dw, fx(f, name, "dw", C, NULL), C, GRAD_TOL);
    golden_close(name, "db", db, fx(f, name, "db", C, NULL), C, GRAD_TOL);
    golden_close(name, "dw_only", dw_only, fx(f, name, "dw", C, NULL), C, GRAD_TOL);
    free(y), free(dx), free(dw), free(db), free(dw_only), free(mean), free(rstd);
}

static void golden_softmax(const fixture *f) {
    int64_t shape[4];
    const float *x = fx(f, "softmax", "x", 0, shape);
    if (!x) return;
    int N = (int)shape[0], C = (int)shape[1];
    size_t n = (size_t)N * C;
    const float *dy = fx(f, "softmax", "dy", n, NULL);
    if (!dy) return;
    float *y = alloc0(n), *dx = alloc0(n);
    nn_softmax_forward(y, x, N, C);
    nn_softmax_backward(dx, dy, y, N, C);
    golden_close("softmax", "y", y, fx(f, "softmax", "y", n, NULL), n, FWD_TOL);
    golden_close("softmax", "dx", dx, fx(f, "softmax", "dx", n, NULL), n, GRAD_TOL);
    free(y), free(dx);
}

static void golden_attention(const fixture *f, const char *name) {
    const float *cfg = fx(f, name, "cfg", 4, NULL);
    if (!cfg) return;
    attn_ctx k = {.B = (int)cfg[0], .T = (int)cfg[1], .C = (int)cfg[2], .NH = (int)cfg[3]};
    size_t nqkv = (size_t)k.B * k.T * 3 * k.C, ny = (size_t)k.B * k.T * k.C;
    const float *qkv = fx(f, name, "qkv", nqkv, NULL), *dy = fx(f, name, "dy", ny, NULL);
    if (!qkv || !dy) return;
    k.qkv = dup(qkv, nqkv);
    k.y = alloc0(ny), k.att = alloc0((size_t)k.B * k.NH * k.T * k.T);
    for (k.fast = 0; k.fast < 2; k.fast++) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s.%s", name, k.fast ? "fast" : "naive");
        float *dqkv = alloc0(nqkv);
        attn_forward(&k);
        attn_backward(&k, dqkv, dy);
        golden_close(prefix, "y", k.y, fx(f, name, "y", ny, NULL), ny, FWD_TOL);
        golden_close(prefix, "dqkv", dqkv, fx(f, name, "dqkv", nqkv, NULL), nqkv, GRAD_TOL);
        free(dqkv);
    }
    free(k.qkv), free(k.y), free(k.att);
}

static void golden(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/nn/transformer.safetensors", check_source_dir());
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "open %s", path);
    if (f.buf == NULL) return;
    golden_layernorm(&f, "ln_eps1e-6");
    golden_layernorm(&f, "ln_eps1e-5");
    golden_softmax(&f);
    golden_attention(&f, "attn_b2t5c8h2");
    golden_attention(&f, "attn_b1t7c24h3");
    fixture_close(&f);
}

/* ------------------------------------------------------ fast against naive */

static void fast_vs_naive(sermo_rng *rng) {
    enum { B = 2, T = 197, C = 384, NH = 6 };
    size_t nqkv = (size_t)B * T * 3 * C, ny = (size_t)B * T * C, natt = (size_t)B * NH * T * T;
    attn_ctx k = {B, T, C, NH, 0, malloc(sizeof(float) * nqkv), malloc(sizeof(float) * ny),
                  malloc(sizeof(float) * natt), malloc(sizeof(float) * ny)};
    fill(rng, k.qkv, nqkv), affine(k.qkv, nqkv, 2.0f, 0.0f); /* scores of std ~1.3 */
    fill(rng, k.r, ny);
    float *dqkv0 = malloc(sizeof(float) * nqkv);
    fill(rng, dqkv0, nqkv); /* prior gradient */
    attn_forward(&k);
    float *y_ref = dup(k.y, ny), *att_ref = dup(k.att, natt), *dqkv_ref = dup(dqkv0, nqkv);
    attn_backward(&k, dqkv_ref, k.r);

    k.fast = 1;
    float *first = NULL;
    int saved_threads = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++)
        for (int rep = 0; rep < threads; rep++) {
            char label[64];
            snprintf(label, sizeof label, "attention_vit_s.t%d", threads);
            omp_set_num_threads(threads);
            float *dqkv = dup(dqkv0, nqkv);
            attn_forward(&k);
            attn_backward(&k, dqkv, k.r);
            compare(label, "y", k.y, y_ref, ny);
            compare(label, "att", k.att, att_ref, natt);
            compare(label, "dqkv", dqkv, dqkv_ref, nqkv);
            if (threads == 2 && rep == 0) first = dqkv;
            else if (threads == 2) {
                CHECK(memcmp(first, dqkv, sizeof(float) * nqkv) == 0,
                      "%s: two runs differ", label);
                free(dqkv);
            } else free(dqkv);
        }
    omp_set_num_threads(saved_threads);
    free(first), free(y_ref), free(att_ref), free(dqkv_ref), free(dqkv0);
    free(k.qkv), free(k.y), free(k.att), free(k.r);
}

/* ------------------------------------------------------------------ timing */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void time_vit_tiny(sermo_rng *rng) {
    enum { B = 32, T = 197, C = 192, NH = 3, REPS = 3 };
    size_t nqkv = (size_t)B * T * 3 * C, ny = (size_t)B * T * C;
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(2);
    attn_ctx k = {B, T, C, NH, 1, malloc(sizeof(float) * nqkv), malloc(sizeof(float) * ny),
                  malloc(sizeof(float) * B * NH * T * T), malloc(sizeof(float) * ny)};
    fill(rng, k.qkv, nqkv), fill(rng, k.r, ny);
    float *dqkv = alloc0(nqkv), *scratch = attn_scratch(&k);
    double fwd = 0, bwd = 0;
    for (int rep = 0; rep <= REPS; rep++) { /* rep 0 warms up */
        double t0 = now_ms();
        attn_forward(&k);
        double t1 = now_ms();
        nn_attention_backward(dqkv, k.r, k.att, k.qkv, scratch, B, T, C, NH);
        double t2 = now_ms();
        if (rep) fwd += t1 - t0, bwd += t2 - t1;
    }
    printf("attention B=%d T=%d C=%d NH=%d, 2 threads: forward %.1f ms, backward %.1f ms\n", B, T,
           C, NH, fwd / REPS, bwd / REPS);
    omp_set_num_threads(saved_threads);
    free(dqkv), free(scratch), free(k.qkv), free(k.y), free(k.att), free(k.r);
}

int main(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 2025);
    gradcheck_layernorm(&rng);
    gradcheck_softmax(&rng);
    gradcheck_attention(&rng);
    golden();
    fast_vs_naive(&rng);
    time_vit_tiny(&rng);
    return check_report();
}
