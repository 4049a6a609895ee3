/* checkpoint.c: the best-model file and the resume checkpoint, both
 * safetensors (src/io/safetensors.h). Tensors are listed U64 first, then F32,
 * so every tensor is aligned to its element size. */
#include "train/train.h"

#include "io/safetensors.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* A growing list of tensors whose names live in one pool. */
typedef struct tensor_list {
    sermo_st_tensor *t;
    char *names;
    int n, cap;
    size_t used, names_cap;
} tensor_list;

static sermo_status list_reserve(tensor_list *l, int cap, size_t names_cap, sermo_error *err) {
    memset(l, 0, sizeof *l);
    l->t = sermo_alloc(sizeof *l->t * (size_t)cap, err, "checkpoint");
    l->names = sermo_alloc(names_cap, err, "checkpoint");
    if (!l->t || !l->names) return SERMO_ERR_NOMEM;
    l->cap = cap;
    l->names_cap = names_cap;
    return SERMO_OK;
}

static void list_free(tensor_list *l) {
    free(l->t);
    free(l->names);
}

static void list_add(tensor_list *l, const char *prefix, const char *name, sermo_st_dtype dtype, int ndim,
                     const int64_t *shape, const void *data) {
    char *dst = l->names + l->used;
    int len = snprintf(dst, l->names_cap - l->used, "%s%s", prefix, name);
    l->used += (size_t)len + 1;
    sermo_st_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    t->name = dst;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->data = data;
}

/* Every entry of a parameter table, reading from buffer `buf` (data, m or v). */
static void list_add_table(tensor_list *l, const char *prefix, const nn_params *p, const float *buf) {
    for (int32_t i = 0; i < p->n; i++) {
        const nn_param *e = &p->entries[i];
        list_add(l, prefix, e->name, SERMO_ST_F32, e->ndim, e->shape, buf + e->offset);
    }
}

static sermo_status list_init_for(tensor_list *l, const model *m, int copies, sermo_error *err) {
    int n = copies * (m->params.n + m->buffers.n) + 8;
    size_t names = (size_t)n * (NN_PARAM_NAME_MAX + 16);
    return list_reserve(l, n, names, err);
}

sermo_status train_save_model(const char *path, const model *m, const train_options *opt, const train_data *data,
                              const float *mean, const float *std, int32_t epoch, float macro_f1,
                              sermo_error *err) {
    tensor_list l;
    sermo_status st = list_init_for(&l, m, 1, err);
    if (st) {
        list_free(&l);
        return st;
    }
    int64_t F = m->cfg.n_bins;
    list_add_table(&l, "", &m->params, m->params.data);
    list_add_table(&l, "", &m->buffers, m->buffers.data);
    list_add(&l, "", "norm.mean", SERMO_ST_F32, 1, &F, mean);
    list_add(&l, "", "norm.std", SERMO_ST_F32, 1, &F, std);

    /* Labels as a JSON array: any name survives, and Python reads it with json.loads. */
    cJSON *array = cJSON_CreateStringArray(data->class_names, data->n_classes);
    char *labels = array ? cJSON_PrintUnformatted(array) : NULL;
    cJSON_Delete(array);
    if (!labels) {
        list_free(&l);
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    }
    char n_bins[32], frames[32], ep[32], f1[32], dropout[32];
    snprintf(n_bins, sizeof n_bins, "%d", m->cfg.n_bins);
    snprintf(frames, sizeof frames, "%d", opt->frames);
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(f1, sizeof f1, "%.6f", macro_f1);
    snprintf(dropout, sizeof dropout, "%g", opt->dropout);
    const char *keys[TRAIN_META_MAX + 8] = {"format", "model", "labels", "n_bins", "frames", "dropout", "epoch",
                                      "val_macro_f1"};
    const char *values[TRAIN_META_MAX + 8] = {"sermo-model-1", opt->model, labels, n_bins, frames, dropout, ep, f1};
    int n_meta = 8;
    for (int i = 0; i < data->n_meta && i < TRAIN_META_MAX; i++, n_meta++) {
        keys[n_meta] = data->meta_keys[i];
        values[n_meta] = data->meta_values[i];
    }
    st = sermo_st_write(path, l.t, l.n, keys, values, n_meta, err);
    free(labels);
    list_free(&l);
    return st;
}

sermo_status train_save_checkpoint(const char *path, const model *m, const nn_adamw *adamw,
                                   const train_state *state, const float *mean, const float *std,
                                   sermo_error *err) {
    tensor_list l;
    sermo_status st = list_init_for(&l, m, 4, err); /* weights, m, v, mean */
    if (st) {
        list_free(&l);
        return st;
    }
    int64_t four = 4, F = m->cfg.n_bins;
    list_add(&l, "", "rng.train", SERMO_ST_U64, 1, &four, state->rng.s);
    list_add(&l, "", "rng.model", SERMO_ST_U64, 1, &four, m->rng.s);
    list_add_table(&l, "", &m->params, m->params.data);
    list_add_table(&l, "adamw.m.", &m->params, m->params.m);
    list_add_table(&l, "adamw.v.", &m->params, m->params.v);
    list_add_table(&l, "", &m->buffers, m->buffers.data);
    if (state->averaged > 0) {
        list_add_table(&l, "average.", &m->params, state->average_params);
        list_add_table(&l, "average.", &m->buffers, state->average_buffers);
    }
    list_add(&l, "", "norm.mean", SERMO_ST_F32, 1, &F, mean);
    list_add(&l, "", "norm.std", SERMO_ST_F32, 1, &F, std);
    char next[32], step[32], best[64], best_epoch[32], bad[32], averaged[32];
    snprintf(next, sizeof next, "%d", state->next_epoch);
    snprintf(step, sizeof step, "%" PRId64, adamw->step);
    snprintf(best, sizeof best, "%a", (double)state->es.best);
    snprintf(best_epoch, sizeof best_epoch, "%d", state->es.best_epoch);
    snprintf(bad, sizeof bad, "%d", state->es.bad_epochs);
    snprintf(averaged, sizeof averaged, "%d", state->averaged);
    const char *keys[] = {"format",     "model",      "next_epoch",     "adamw_step", "best_macro_f1",
                          "best_epoch", "bad_epochs", "averaged_epochs"};
    const char *values[] = {"sermo-checkpoint-1", m->spec->name, next, step, best, best_epoch, bad, averaged};
    st = sermo_st_write(path, l.t, l.n, keys, values, 8, err);
    list_free(&l);
    return st;
}

/* Copies tensor `prefix name` of the expected dtype and shape into dst. */
static sermo_status load_tensor(const sermo_st_file *f, const char *prefix, const char *name, sermo_st_dtype dtype,
                                int ndim, const int64_t *shape, void *dst, sermo_error *err) {
    char full[NN_PARAM_NAME_MAX + 16];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    sermo_status st = sermo_st_expect(f, full, dtype, ndim, shape, err);
    if (st) return st;
    const sermo_st_tensor *t = sermo_st_find(f, full);
    memcpy(dst, t->data, sermo_st_nbytes(t));
    return SERMO_OK;
}

static sermo_status load_table(const sermo_st_file *f, const char *prefix, const nn_params *p, float *buf,
                               sermo_error *err) {
    for (int32_t i = 0; i < p->n; i++) {
        const nn_param *e = &p->entries[i];
        sermo_status st = load_tensor(f, prefix, e->name, SERMO_ST_F32, e->ndim, e->shape, buf + e->offset, err);
        if (st) return st;
    }
    return SERMO_OK;
}

/* Integer metadata value, or SERMO_ERR_FORMAT naming the key. */
static sermo_status meta_int(const sermo_st_file *f, const char *key, int64_t *out, sermo_error *err) {
    const char *v = sermo_st_meta(f, key);
    char *end = NULL;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || end == v || *end)
        return sermo_fail(err, SERMO_ERR_FORMAT, "%s: metadata '%s' missing or not an integer", sermo_st_name(f), key);
    *out = x;
    return SERMO_OK;
}

sermo_status train_load_checkpoint(const char *path, model *m, nn_adamw *adamw, train_state *state, float *mean,
                                   float *std, sermo_error *err) {
    sermo_st_file *f = sermo_st_open(path, err);
    if (!f) return err ? err->status : SERMO_ERR_IO;
    sermo_status st = SERMO_OK;
    const char *format = sermo_st_meta(f, "format"), *name = sermo_st_meta(f, "model");
    if (!format || strcmp(format, "sermo-checkpoint-1")) {
        st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: not a sermo training checkpoint", path);
        goto done;
    }
    if (!name || strcmp(name, m->spec->name)) {
        st = sermo_fail(err, SERMO_ERR_INVALID, "%s: checkpoint of model '%s', not '%s'", path, name ? name : "?",
                        m->spec->name);
        goto done;
    }
    int64_t four = 4, F = m->cfg.n_bins, next, step, best_epoch, bad, averaged = 0;
    if ((st = load_tensor(f, "", "rng.train", SERMO_ST_U64, 1, &four, state->rng.s, err)) ||
        (st = load_tensor(f, "", "rng.model", SERMO_ST_U64, 1, &four, m->rng.s, err)) ||
        (st = load_table(f, "", &m->params, m->params.data, err)) ||
        (st = load_table(f, "adamw.m.", &m->params, m->params.m, err)) ||
        (st = load_table(f, "adamw.v.", &m->params, m->params.v, err)) ||
        (st = load_table(f, "", &m->buffers, m->buffers.data, err)) ||
        (st = load_tensor(f, "", "norm.mean", SERMO_ST_F32, 1, &F, mean, err)) ||
        (st = load_tensor(f, "", "norm.std", SERMO_ST_F32, 1, &F, std, err)) ||
        (st = meta_int(f, "next_epoch", &next, err)) || (st = meta_int(f, "adamw_step", &step, err)) ||
        (st = meta_int(f, "best_epoch", &best_epoch, err)) || (st = meta_int(f, "bad_epochs", &bad, err)))
        goto done;
    /* Checkpoints from before train.average_last have no mean. */
    if (sermo_st_meta(f, "averaged_epochs") && (st = meta_int(f, "averaged_epochs", &averaged, err))) goto done;
    if (averaged > 0 && !state->average_params) {
        st = sermo_fail(err, SERMO_ERR_INVALID,
                        "%s: the checkpoint averages the last %d epochs' weights, but train.average_last is off; "
                        "resume with the settings the run started with", path, (int)averaged);
        goto done;
    }
    if (averaged > 0 && ((st = load_table(f, "average.", &m->params, state->average_params, err)) ||
                         (st = load_table(f, "average.", &m->buffers, state->average_buffers, err))))
        goto done;
    state->averaged = (int32_t)averaged;
    const char *best = sermo_st_meta(f, "best_macro_f1");
    char *end = NULL;
    double b = best ? strtod(best, &end) : 0;
    if (!best || end == best || *end) {
        st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: metadata 'best_macro_f1' missing or not a number", path);
        goto done;
    }
    state->next_epoch = (int32_t)next;
    state->es.best = (float)b;
    state->es.best_epoch = (int32_t)best_epoch;
    state->es.bad_epochs = (int32_t)bad;
    adamw->step = step;
done:
    sermo_st_close(f);
    return st;
}

sermo_status train_model_set_meta(const char *path, const char *const *keys, const char *const *values, int n,
                                  sermo_error *err) {
    sermo_st_file *f = sermo_st_open(path, err);
    if (!f) return err ? err->status : SERMO_ERR_IO;
    int32_t nt = sermo_st_n_tensors(f), nm = sermo_st_n_meta(f);
    sermo_st_tensor *t = calloc((size_t)nt + 1, sizeof *t);
    const char **k = calloc((size_t)(nm + n) + 1, sizeof *k), **v = calloc((size_t)(nm + n) + 1, sizeof *v);
    sermo_status st = t && k && v ? SERMO_OK : sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    int32_t m = 0;
    for (int32_t i = 0; st == SERMO_OK && i < nt; i++) t[i] = *sermo_st_tensor_at(f, i);
    for (int32_t i = 0; st == SERMO_OK && i < nm; i++) {
        const char *value, *key = sermo_st_meta_at(f, i, &value);
        int replaced = 0;
        for (int j = 0; j < n; j++) replaced |= !strcmp(key, keys[j]);
        if (!replaced) k[m] = key, v[m++] = value;
    }
    for (int j = 0; st == SERMO_OK && j < n; j++) k[m] = keys[j], v[m++] = values[j];
    /* The mapping stays valid until close; the write goes to a new file. */
    if (st == SERMO_OK) st = sermo_st_write(path, t, nt, k, v, m, err);
    free(t);
    free(k);
    free(v);
    sermo_st_close(f);
    return st;
}
