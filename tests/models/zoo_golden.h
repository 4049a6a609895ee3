/* zoo_golden.h: the shared golden harness of the model-zoo tests (header
 * only; a test includes it once). zoo_fill is the C twin of
 * tests/models/zoo_golden.py's fill_ (see there for the rules), and
 * zoo_golden_check replays its sequence a (train forward, cross-entropy,
 * backward), b (eval forward), d (3 AdamW steps) and compares every tensor:
 *   |got - ref| <= max(scale_tol * max|ref of that tensor|, floor) + rel_tol * |ref|
 * (the first term because gradients and BN outputs are sums whose float32
 * rounding follows the tensor's magnitude, not each element's; the floor for
 * tensors that are 0 in exact arithmetic, such as the gradient of a conv bias
 * that a BatchNorm follows). Tensors stored as strided samples are compared
 * there, plus [sum |x|, sum x^2].
 * A reconstructing model (the autoencoder) is trained on the mean squared
 * error against its input, and its output is "<stage>.recon" instead of
 * "<stage>.logits" (make_fixture with labels1 None). */
#ifndef SERMO_ZOO_GOLDEN_H
#define SERMO_ZOO_GOLDEN_H

#include "check.h"
#include "models/model.h"
#include "nn/fixture.c"

#include <stdint.h>

typedef struct zoo_tol {
    double fwd_scale, fwd_rel;   /* logits, loss, running statistics */
    double grad_scale, grad_rel; /* every parameter gradient after a */
    double step_scale, step_rel; /* parameters and running stats after d's AdamW steps */
    double stats_rel;            /* sum |x| and sum x^2 of sampled tensors */
    double floor;                /* absolute tolerance floor (0: none) */
    int ab_only;                 /* 1: stop after b. AdamW's first steps are ~lr * sign(g), so in
                                    deep BN nets the elements whose gradient is within rounding of
                                    0 step either way, torch float32 against float64 too */
} zoo_tol;

/* -------------------------------------------------------------------- fill */

static inline uint32_t zoo_fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static inline double zoo_uniform(uint32_t h, size_t i) {
    uint32_t x = (uint32_t)i * 2654435761u + h;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return (double)x / 4294967296.0;
}

static inline int zoo_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static inline void zoo_fill_table(nn_params *p) {
    for (int32_t t = 0; t < p->n; t++) {
        const nn_param *e = &p->entries[t];
        uint32_t h = zoo_fnv1a(e->name);
        float *w = p->data + e->offset;
        double bound = e->ndim >= 2 ? sqrt(3.0 / (double)(e->numel / (size_t)e->shape[0])) : 0;
        for (size_t i = 0; i < e->numel; i++) {
            double u = zoo_uniform(h, i), v;
            if (zoo_ends_with(e->name, "running_var")) v = 0.5 + u;
            else if (zoo_ends_with(e->name, "running_mean")) v = 0.2 * (2 * u - 1);
            else if (e->ndim == 1 && zoo_ends_with(e->name, "weight")) v = 1 + 0.2 * (2 * u - 1);
            else if (e->ndim == 1) v = 0.1 * (2 * u - 1);
            else v = (2 * u - 1) * bound;
            w[i] = (float)v;
        }
    }
}

static inline void zoo_fill(model *m) {
    zoo_fill_table(&m->params);
    zoo_fill_table(&m->buffers);
}

/* ----------------------------------------------------------------- compare */

static inline const float *zoo_get(const fixture *fx, const char *key, size_t *n) {
    size_t k = 0;
    const float *p = fixture_get(fx, key, &k, NULL, NULL);
    CHECK(p != NULL, "fixture tensor %s missing", key);
    if (n) *n = k;
    return p;
}

static inline double zoo_max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > m) m = fabs((double)x[i]);
    return m;
}

/* got (n) against "<key>", whole or as the stored strided sample. */
static inline void zoo_compare(const fixture *fx, const char *key, const float *got, size_t n,
                               double scale_tol, double rel_tol, double stats_rel, double floor) {
    char k2[300];
    snprintf(k2, sizeof k2, "%s.stride", key);
    size_t ns = 0, nr = 0;
    const float *sp = fixture_get(fx, k2, &ns, NULL, NULL);
    size_t stride = sp && ns == 1 ? (size_t)sp[0] : 1;
    const float *ref = zoo_get(fx, key, &nr);
    if (!ref) return;
    size_t want = (n + stride - 1) / stride;
    CHECK(nr == want, "%s: %zu reference values, expected %zu (n %zu stride %zu)", key, nr, want,
          n, stride);
    if (nr != want) return;
    float *sample = malloc(sizeof(float) * (want ? want : 1));
    for (size_t i = 0; i < want; i++) sample[i] = got[i * stride];
    double atol = scale_tol * zoo_max_abs(ref, want);
    check_close(key, sample, ref, (long)want, atol > floor ? atol : floor, rel_tol);
    free(sample);
    if (stride == 1) return;
    snprintf(k2, sizeof k2, "%s.stats", key);
    const float *st = zoo_get(fx, k2, NULL);
    if (!st) return;
    double sa = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        sa += fabs((double)got[i]);
        s2 += (double)got[i] * got[i];
    }
    float stats[2] = {(float)sa, (float)s2};
    check_close(k2, stats, st, 2, 0.0, stats_rel);
}

/* Every entry of a table against "<prefix>.<name>" (grads: "<prefix>.grad.<name>"). */
static inline void zoo_compare_table(const fixture *fx, const char *prefix, const nn_params *p,
                                     const float *buf, int grads, double scale_tol, double rel_tol,
                                     double stats_rel, double floor) {
    char key[256];
    for (int32_t i = 0; i < p->n; i++) {
        const nn_param *e = &p->entries[i];
        snprintf(key, sizeof key, grads ? "%s.grad.%s" : "%s.%s", prefix, e->name);
        zoo_compare(fx, key, buf + e->offset, e->numel, scale_tol, rel_tol, stats_rel, floor);
    }
}

/* ---------------------------------------------------------------- sequence */

/* Output elements per batch: logits (B, L), or the reconstruction (B, 1, F, T). */
static inline size_t zoo_out_numel(const model *m, int B, int T) {
    return m->spec->reconstructs ? (size_t)B * m->cfg.n_bins * T : (size_t)B * m->cfg.n_classes;
}

static inline float zoo_train_pass(model *m, const float *x, int B, int T, const int32_t *y,
                                   float *dout) {
    nn_params_zero_grad(&m->params);
    const float *out = model_forward(m, x, B, T, 1);
    if (!out) return NAN;
    float loss = m->spec->reconstructs
                     ? model_recon_loss(dout, out, x, zoo_out_numel(m, B, T))
                     : nn_cross_entropy_forward(dout, out, y, B, m->cfg.n_classes, 0.0f);
    model_backward(m, dout, B, T);
    return loss;
}

/* The model's output after stage (a or b) against "<stage>.logits" / ".recon". */
static inline void zoo_compare_output(const fixture *fx, const char *stage, const model *m,
                                      const float *out, size_t n, const zoo_tol *tol) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", stage, m->spec->reconstructs ? "recon" : "logits");
    zoo_compare(fx, key, out, n, tol->fwd_scale, tol->fwd_rel, tol->stats_rel, tol->floor);
}

/* Creates model_name with cfg (dropout 0, drop_path off, n_bins and
 * max_frames covering x1), fills it, replays a, b, d on the fixture's x1
 * (B, 1, F, T) and labels1 and compares. file: under tests/fixtures/models/. */
static inline void zoo_golden_check(const char *file, const char *model_name,
                                    const model_config *cfg, const zoo_tol *tol) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/%s", check_source_dir(), file);
    fixture f;
    CHECK(fixture_open(&f, path) == 0, "cannot read %s", path);
    if (!f.buf) return;
    size_t nx = 0;
    int64_t shape[8];
    int ndim = 0;
    const float *x1 = fixture_get(&f, "x1", &nx, shape, &ndim);
    sermo_error err = {0};
    model *m = model_create(model_name, cfg, 1, &err);
    CHECK(m != NULL, "%s: model_create: %s", file, err.msg);
    CHECK(x1 && ndim == 4 && shape[2] == cfg->n_bins && shape[3] <= cfg->max_frames &&
              shape[0] <= cfg->max_batch,
          "%s: x1 does not fit the config", file);
    const float *l1 = m && !m->spec->reconstructs ? zoo_get(&f, "labels1", NULL) : NULL;
    if (!m || !x1 || (!m->spec->reconstructs && !l1) || ndim != 4 || shape[0] > cfg->max_batch) {
        model_free(m);
        fixture_close(&f);
        return;
    }
    int B = (int)shape[0], T = (int)shape[3];
    size_t n = zoo_out_numel(m, B, T);
    int32_t *y = calloc((size_t)B, sizeof(int32_t));
    float *dout = malloc(sizeof(float) * n);
    for (int i = 0; l1 && i < B; i++) y[i] = (int32_t)l1[i];
    zoo_fill(m);

    float loss = zoo_train_pass(m, x1, B, T, y, dout);
    const float *out = m->spec->reconstructs ? m->recon : m->logits;
    zoo_compare_output(&f, "a", m, out, n, tol);
    check_close("a.loss", &loss, zoo_get(&f, "a.loss", NULL), 1, tol->fwd_scale, tol->fwd_rel);
    zoo_compare_table(&f, "a", &m->params, m->params.grad, 1, tol->grad_scale, tol->grad_rel,
                      tol->stats_rel, tol->floor);
    zoo_compare_table(&f, "a", &m->buffers, m->buffers.data, 0, tol->fwd_scale, tol->fwd_rel,
                      tol->stats_rel, tol->floor);

    CHECK(model_forward(m, x1, B, T, 0) == out, "%s: eval forward failed", file);
    zoo_compare_output(&f, "b", m, out, n, tol);

    nn_adamw opt;
    if (tol->ab_only) goto done;
    nn_adamw_init(&opt, 1e-3f, 1e-2f);
    float losses[3];
    for (int s = 0; s < 3; s++) {
        losses[s] = zoo_train_pass(m, x1, B, T, y, dout);
        CHECK(nn_adamw_step(&opt, &m->params, &err) == SERMO_OK, "adamw: %s", err.msg);
    }
    check_close("d.losses", losses, zoo_get(&f, "d.losses", NULL), 3, tol->fwd_scale, tol->fwd_rel);
    zoo_compare_table(&f, "d", &m->params, m->params.data, 0, tol->step_scale, tol->step_rel,
                      tol->stats_rel, tol->floor);
    zoo_compare_table(&f, "d", &m->buffers, m->buffers.data, 0, tol->step_scale, tol->step_rel,
                      tol->stats_rel, tol->floor);
done:
    free(y);
    free(dout);
    model_free(m);
    fixture_close(&f);
}

#endif
