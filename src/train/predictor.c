/* predictor.c: the public model API: load a model.safetensors written by
 * train_save_model and classify features, PCM or audio files with it.
 *
 * The file is self-describing: labels (JSON array), the model name, n_bins,
 * frames, the normalisation tensors "norm.mean"/"norm.std" and every
 * resolved setting as "config.<key>" metadata, from which the audio and
 * feature parameters are rebuilt exactly as training used them. */
#include "train/train.h"

#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_FORMAT "sermo-model-1"

struct sermo_model {
    model *net;
    int32_t n_classes, n_bins, frames;
    char **labels;              /* (n_classes) */
    float *mean, *std;          /* (F) */
    float *x;                   /* (1, 1, F, T) */
    float *features;            /* (F, frames_cap), grown as needed */
    int64_t features_cap;
    sermo_audio_params audio;
    sermo_feature_params feat_params;
    sermo_features *feat;
    int32_t n_meta;
    char **meta_keys, **meta_values;
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static sermo_status meta_int(const sermo_st_file *f, const char *key, int32_t lo, int32_t hi, int32_t *out,
                             sermo_error *err) {
    const char *v = sermo_st_meta(f, key);
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || end == v || x < lo || x > hi)
        return sermo_fail(err, SERMO_ERR_FORMAT, "%s: metadata '%s' missing or out of range", sermo_st_name(f), key);
    *out = (int32_t)x;
    return SERMO_OK;
}

static sermo_status load_labels(sermo_model *m, const sermo_st_file *f, sermo_error *err) {
    cJSON *a = cJSON_Parse(sermo_st_meta(f, "labels") ? sermo_st_meta(f, "labels") : "");
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    sermo_status st = SERMO_OK;
    if (n < 2) st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: metadata 'labels' is not a list of 2 or more names",
                               sermo_st_name(f));
    else if (!(m->labels = calloc((size_t)n, sizeof *m->labels)))
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", sermo_st_name(f));
    for (int i = 0; st == SERMO_OK && i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(s) || !(m->labels[i] = strdup(s->valuestring)))
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: label %d is not a string", sermo_st_name(f), i);
    }
    if (st == SERMO_OK) m->n_classes = n;
    cJSON_Delete(a);
    return st;
}

/* Audio, feature and model-family settings from the "config.audio.*",
 * "config.features.*" and "config.model.*" metadata into m and *net (a file
 * without config.model.* keys, as older ones, keeps every family default). */
static sermo_status load_settings(sermo_model *m, const sermo_st_file *f, model_config *net, sermo_error *err) {
    sermo_config *c = sermo_config_init();
    if (!c) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", sermo_st_name(f));
    sermo_status st = SERMO_OK;
    for (int32_t i = 0; st == SERMO_OK && i < sermo_st_n_meta(f); i++) {
        const char *value, *key = sermo_st_meta_at(f, i, &value);
        if (!strncmp(key, "config.audio.", 13) || !strncmp(key, "config.features.", 16) ||
            !strncmp(key, "config.model.", 13))
            st = sermo_config_set(c, key + 7, value);
    }
    if (st != SERMO_OK) st = sermo_fail(err, st, "cannot store its config metadata");
    sermo_audio_default_params(&m->audio);
    sermo_feature_default_params(&m->feat_params);
    if (st == SERMO_OK) st = sermo_config_audio_params(c, &m->audio, err);
    if (st == SERMO_OK) st = sermo_config_feature_params(c, &m->feat_params, err);
    /* The same parser as training's, so the file rebuilds the model it was trained as. */
    if (st == SERMO_OK) st = train_model_options_from_config(c, net, NULL, 0, err);
    sermo_config_free(c);
    if (st != SERMO_OK) return sermo_fail_prefix(err, st, sermo_st_name(f));
    m->feat_params.sample_rate = m->audio.sample_rate;
    if (!(m->feat = sermo_features_init(&m->feat_params, err))) return err ? err->status : SERMO_ERR_INVALID;
    if (sermo_features_n_bins(m->feat) != m->n_bins)
        return sermo_fail(err, SERMO_ERR_FORMAT, "%s: features give %d rows, the model expects %d", sermo_st_name(f),
                          sermo_features_n_bins(m->feat), m->n_bins);
    return SERMO_OK;
}

/* Copies one table of tensors (parameters or buffers) from the file after
 * checking each name, dtype and shape. */
static sermo_status load_table(const sermo_st_file *f, nn_params *table, sermo_error *err) {
    for (int32_t i = 0; i < table->n; i++) {
        const nn_param *e = &table->entries[i];
        sermo_status st = sermo_st_expect(f, e->name, SERMO_ST_F32, e->ndim, e->shape, err);
        if (st) return st;
        memcpy(table->data + e->offset, sermo_st_find(f, e->name)->data, sizeof(float) * e->numel);
    }
    return SERMO_OK;
}

static sermo_status load_vector(const sermo_st_file *f, const char *name, int64_t n, float **out, sermo_error *err) {
    sermo_status st = sermo_st_expect(f, name, SERMO_ST_F32, 1, &n, err);
    if (st) return st;
    if (!(*out = sermo_alloc(sizeof(float) * (size_t)n, err, name))) return SERMO_ERR_NOMEM;
    memcpy(*out, sermo_st_find(f, name)->data, sizeof(float) * (size_t)n);
    return SERMO_OK;
}

static sermo_status keep_metadata(sermo_model *m, const sermo_st_file *f, sermo_error *err) {
    int32_t n = sermo_st_n_meta(f);
    m->meta_keys = calloc((size_t)n + 1, sizeof *m->meta_keys);
    m->meta_values = calloc((size_t)n + 1, sizeof *m->meta_values);
    if (!m->meta_keys || !m->meta_values) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", sermo_st_name(f));
    for (int32_t i = 0; i < n; i++) {
        const char *value, *key = sermo_st_meta_at(f, i, &value);
        m->meta_keys[i] = dup_or_null(key);
        m->meta_values[i] = dup_or_null(value);
        if (!m->meta_keys[i] || !m->meta_values[i])
            return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", sermo_st_name(f));
        m->n_meta = i + 1;
    }
    return SERMO_OK;
}

sermo_model *sermo_model_load(const char *path, int32_t threads, sermo_error *err) {
    sermo_st_file *f = sermo_st_open(path, err);
    if (!f) return NULL;
    sermo_model *m = calloc(1, sizeof *m);
    sermo_status st = m ? SERMO_OK : sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    const char *format = sermo_st_meta(f, "format"), *name = sermo_st_meta(f, "model");
    if (st == SERMO_OK && (!format || strcmp(format, MODEL_FORMAT)))
        st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: not a Sermo model file (format '%s', expected '%s')", path,
                        format ? format : "none", MODEL_FORMAT);
    if (st == SERMO_OK && (!name || !model_registry_find(name)))
        st = sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: unknown model '%s'", path, name ? name : "none");
    if (st == SERMO_OK && model_registry_find(name)->reconstructs)
        st = sermo_fail(err, SERMO_ERR_UNSUPPORTED,
                        "%s: model '%s' reconstructs spectrograms and does not classify; start a classifier "
                        "from it with model.init_from=%s",
                        path, name, path);
    if (st == SERMO_OK) st = meta_int(f, "n_bins", 1, 4096, &m->n_bins, err);
    if (st == SERMO_OK) st = meta_int(f, "frames", 1, 1 << 20, &m->frames, err);
    if (st == SERMO_OK) st = load_labels(m, f, err);
    model_config cfg = {0};
    if (st == SERMO_OK) st = load_settings(m, f, &cfg, err);
    if (st == SERMO_OK) {
        cfg.n_classes = m->n_classes;
        cfg.in_channels = 1;
        cfg.n_bins = m->n_bins;
        cfg.max_frames = m->frames;
        cfg.max_batch = 1;
        cfg.threads = threads;
        cfg.dropout = 0;
        if (!(m->net = model_create(name, &cfg, 0, err))) st = err ? err->status : SERMO_ERR_INVALID;
    }
    if (st == SERMO_OK) st = load_table(f, &m->net->params, err);
    if (st == SERMO_OK) st = load_table(f, &m->net->buffers, err);
    if (st == SERMO_OK) st = load_vector(f, "norm.mean", m->n_bins, &m->mean, err);
    if (st == SERMO_OK) st = load_vector(f, "norm.std", m->n_bins, &m->std, err);
    if (st == SERMO_OK) st = keep_metadata(m, f, err);
    if (st == SERMO_OK && !(m->x = sermo_alloc(sizeof(float) * (size_t)m->n_bins * m->frames, err, path)))
        st = SERMO_ERR_NOMEM;
    sermo_st_close(f);
    if (st != SERMO_OK) {
        sermo_model_free(m);
        return NULL;
    }
    return m;
}

void sermo_model_free(sermo_model *m) {
    if (!m) return;
    model_free(m->net);
    for (int32_t i = 0; m->labels && i < m->n_classes; i++) free(m->labels[i]);
    for (int32_t i = 0; i < m->n_meta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_values[i]);
    }
    free(m->labels);
    free(m->meta_keys);
    free(m->meta_values);
    free(m->mean);
    free(m->std);
    free(m->x);
    free(m->features);
    sermo_features_free(m->feat);
    free(m);
}

const model *train_predictor_net(const sermo_model *m) { return m->net; }

int32_t sermo_model_n_classes(const sermo_model *m) { return m->n_classes; }

const char *sermo_model_class_name(const sermo_model *m, int32_t label) {
    return label >= 0 && label < m->n_classes ? m->labels[label] : NULL;
}

const char *sermo_model_meta(const sermo_model *m, const char *key) {
    for (int32_t i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta_keys[i], key)) return m->meta_values[i];
    return NULL;
}

const sermo_audio_params *sermo_model_audio_params(const sermo_model *m) { return &m->audio; }

const sermo_feature_params *sermo_model_feature_params(const sermo_model *m) { return &m->feat_params; }

sermo_status sermo_model_predict_features(sermo_model *m, const float *features, int64_t n_frames, float *probs,
                                          sermo_error *err) {
    if (!features || n_frames < 1) return sermo_fail(err, SERMO_ERR_EMPTY, "predict: no feature frames");
    /* The centred window, as validation and test saw during training. */
    int64_t start = n_frames > m->frames ? (n_frames - m->frames) / 2 : 0;
    train_window(m->x, features, n_frames, m->n_bins, m->frames, start, m->mean, m->std);
    const float *logits = model_forward(m->net, m->x, 1, m->frames, 0);
    if (!logits) return sermo_fail(err, SERMO_ERR_INVALID, "predict: the model rejected the input");
    float top = logits[0];
    for (int32_t k = 1; k < m->n_classes; k++) top = fmaxf(top, logits[k]);
    double sum = 0;
    for (int32_t k = 0; k < m->n_classes; k++) sum += probs[k] = expf(logits[k] - top);
    for (int32_t k = 0; k < m->n_classes; k++) probs[k] = (float)(probs[k] / sum);
    return SERMO_OK;
}

/* Features of processed audio into m->features, then the prediction. */
static sermo_status predict_audio(sermo_model *m, const sermo_audio *a, float *probs, const char *name,
                                  sermo_error *err) {
    if (a->n < 1) return sermo_fail(err, SERMO_ERR_EMPTY, "%s: no samples", name);
    int64_t frames = sermo_features_n_frames(m->feat, a->n);
    if (frames > m->features_cap) {
        float *grown = realloc(m->features, sizeof(float) * (size_t)m->n_bins * (size_t)frames);
        if (!grown) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", name);
        m->features = grown;
        m->features_cap = frames;
    }
    sermo_status st = sermo_features_compute(m->feat, a->samples, a->n, m->features, err);
    if (st) return sermo_fail_prefix(err, st, name);
    return sermo_model_predict_features(m, m->features, frames, probs, err);
}

sermo_status sermo_model_predict_pcm(sermo_model *m, const float *pcm, int64_t n, int32_t sample_rate, float *probs,
                                     sermo_error *err) {
    if (!pcm || n < 1) return sermo_fail(err, SERMO_ERR_EMPTY, "pcm: no samples");
    sermo_audio a = {.samples = sermo_alloc(sizeof(float) * (size_t)n, err, "pcm"), .n = n, .sample_rate = sample_rate};
    if (!a.samples) return SERMO_ERR_NOMEM;
    memcpy(a.samples, pcm, sizeof(float) * (size_t)n);
    sermo_status st = sermo_audio_process(&a, &m->audio, "pcm", err);
    if (st == SERMO_OK) st = predict_audio(m, &a, probs, "pcm", err);
    sermo_audio_free(&a);
    return st;
}

sermo_status sermo_model_predict_file(sermo_model *m, const char *path, float *probs, sermo_error *err) {
    sermo_audio a;
    sermo_status st = sermo_audio_load_file(path, &m->audio, &a, err);
    if (st == SERMO_OK) st = predict_audio(m, &a, probs, path, err);
    sermo_audio_free(&a);
    return st;
}
