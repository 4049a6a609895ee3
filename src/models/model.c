/* model.c: creating, running and freeing a model of a registered family.
 * The generic config checks live here; a family checks what depends on its
 * architecture (e.g. enough frames for its pooling) in its create. */
#include "models/models_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generous caps that keep every size product far from int and size_t limits. */
#define MODEL_MAX_CLASSES 4096
#define MODEL_MAX_CHANNELS 64
#define MODEL_MAX_BINS 4096
#define MODEL_MAX_FRAMES 1000000
#define MODEL_MAX_BATCH 65536
#define MODEL_MAX_THREADS 1024

/* Dropout gets its own stream: the init stream's position depends on the
 * parameter count. */
#define MODEL_DROPOUT_STREAM 0x5eed0d80u

void model_init_torch_default(model *m, float *w, size_t n, int64_t fan_in) {
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * sermo_rng_uniform(&m->rng) - 1.0) * bound);
}

void model_init_normal(model *m, float *w, size_t n, double std) {
    for (size_t i = 0; i < n; i++) {
        double u1 = sermo_rng_uniform(&m->rng), u2 = sermo_rng_uniform(&m->rng);
        w[i] = (float)(std * sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2));
    }
}

void model_init_fill(float *w, size_t n, float value) {
    for (size_t i = 0; i < n; i++) w[i] = value;
}

static sermo_status check_range(const char *name, const char *field, int64_t v, int64_t lo,
                                int64_t hi, sermo_error *err) {
    if (v >= lo && v <= hi) return SERMO_OK;
    return sermo_fail(err, SERMO_ERR_INVALID, "model %s: %s is %lld, expected %lld to %lld", name,
                      field, (long long)v, (long long)lo, (long long)hi);
}

static sermo_status check_config(const char *name, const model_config *c, sermo_error *err) {
    sermo_status s;
    if ((s = check_range(name, "n_classes", c->n_classes, 2, MODEL_MAX_CLASSES, err)) ||
        (s = check_range(name, "in_channels", c->in_channels, 1, MODEL_MAX_CHANNELS, err)) ||
        (s = check_range(name, "n_bins", c->n_bins, 1, MODEL_MAX_BINS, err)) ||
        (s = check_range(name, "max_frames", c->max_frames, 1, MODEL_MAX_FRAMES, err)) ||
        (s = check_range(name, "max_batch", c->max_batch, 1, MODEL_MAX_BATCH, err)) ||
        (s = check_range(name, "threads", c->threads, 0, MODEL_MAX_THREADS, err)) ||
        (s = check_range(name, "pool", c->pool, MODEL_POOL_DEFAULT, MODEL_POOL_ATTENTION, err)))
        return s;
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) /* also rejects NaN */
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: dropout is %g, expected 0 <= p < 1",
                          name, (double)c->dropout);
    return SERMO_OK;
}

model *model_create(const char *name, const model_config *cfg, uint64_t seed, sermo_error *err) {
    if (!name || !cfg) {
        sermo_fail(err, SERMO_ERR_INVALID, "model: name and config are required");
        return NULL;
    }
    const model_spec *spec = model_registry_find(name);
    if (!spec) {
        char known[256] = "";
        size_t len = 0;
        for (int i = 0; i < model_registry_count() && len < sizeof known; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                                    model_registry_at(i)->name);
        sermo_fail(err, SERMO_ERR_INVALID, "model: unknown model '%s' (known: %s)", name, known);
        return NULL;
    }
    if (check_config(name, cfg, err)) return NULL;
    if (cfg->width && !spec->width) {
        sermo_fail(err, SERMO_ERR_INVALID, "model %s: has no model.width option (got %d)", name, cfg->width);
        return NULL;
    }
    if (cfg->pool > MODEL_POOL_MEAN && !spec->stat_pools) {
        sermo_fail(err, SERMO_ERR_INVALID, "model %s: has no model.pool=%s option", name,
                   cfg->pool == MODEL_POOL_MEANSTD ? "meanstd" : "attention");
        return NULL;
    }
    model *m = calloc(1, sizeof *m);
    if (!m) {
        sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", name);
        return NULL;
    }
    m->spec = spec;
    m->cfg = *cfg;
    if (!m->cfg.width) m->cfg.width = spec->width;
    nn_params_init(&m->params);
    nn_params_init(&m->buffers);
    sermo_rng_seed(&m->rng, seed);
    if (spec->create(m, err)) {
        model_free(m);
        return NULL;
    }
    /* Without oneDNN the convolutions take the im2col path: slower, same
     * results to float rounding. SERMO_ONEDNN=0 asks for that path (to
     * compare the two, or to match results computed without oneDNN). */
    const char *use_dnnl = getenv("SERMO_ONEDNN");
    sermo_error dnnl_err;
    if (nn_dnnl_available() && !(use_dnnl && !strcmp(use_dnnl, "0")))
        m->dnnl = nn_dnnl_init(NN_DNNL_LAYOUT_ANY, &dnnl_err);
    if (!m->params.data || !m->buffers.data) { /* a family bug, not a user error */
        sermo_fail(err, SERMO_ERR_INVALID, "model %s: create left its tables unfinalised", name);
        model_free(m);
        return NULL;
    }
    m->logits = sermo_alloc(sizeof(float) * (size_t)cfg->max_batch * (size_t)cfg->n_classes, err,
                            "model logits");
    if (!m->logits) {
        model_free(m);
        return NULL;
    }
    sermo_rng_seed(&m->rng, seed ^ ((uint64_t)MODEL_DROPOUT_STREAM << 32));
    return m;
}

void model_free(model *m) {
    if (!m) return;
    if (m->spec && m->spec->destroy) m->spec->destroy(m);
    nn_params_free(&m->params);
    nn_params_free(&m->buffers);
    nn_dnnl_free(m->dnnl);
    free(m->logits);
    free(m);
}

const float *model_forward(model *m, const float *x, int B, int T, int train) {
    if (!m || !x || B < 1 || B > m->cfg.max_batch || T < 1 || T > m->cfg.max_frames) return NULL;
    if (m->spec->forward(m, x, B, T, train)) return NULL;
    return m->spec->reconstructs ? m->recon : m->logits;
}

void model_backward(model *m, const float *dlogits, int B, int T) {
    if (!m || !dlogits) return;
    m->spec->backward(m, dlogits, B, T);
}
