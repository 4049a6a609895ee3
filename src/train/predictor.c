/* predictor.c: the public model API: load a model.safetensors written by
 * train_save_model and classify features, PCM or audio files with it.
 *
 * The file is self-describing: labels (JSON array), the model name, n_bins,
 * frames, the normalisation tensors "norm.mean"/"norm.std" and every
 * resolved setting as "config.<key>" metadata, from which the audio and
 * feature parameters are rebuilt exactly as training used them.
 *
 * An ensemble file (ensemble.c writes it) holds whole model files as U8
 * tensors "member.<i>" and their weights: each member is loaded from its
 * bytes as above and classifies the audio with its own settings (members may
 * use different features, e.g. log-mel and egemaps); the ensemble's
 * probabilities are the weighted mean of theirs (late fusion). */
#include "train/train.h"

#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_FORMAT "sermo-model-1"

struct sermo_model {
    /* An ensemble: n_members > 0 members with weights summing to 1, and
     * labels, settings and metadata of its own; every field below but
     * n_classes, labels, audio, feat_params and the metadata stays empty. */
    int32_t n_members;
    sermo_model **members;
    float *weights, *member_probs; /* (n_members), (n_classes) */

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
        sermo_status st = sermo_st_read_floats(f, e->name, e->ndim, e->shape, table->data + e->offset, err);
        if (st) return st;
    }
    return SERMO_OK;
}

static sermo_status load_vector(const sermo_st_file *f, const char *name, int64_t n, float **out, sermo_error *err) {
    if (!(*out = sermo_alloc(sizeof(float) * (size_t)n, err, name))) return SERMO_ERR_NOMEM;
    return sermo_st_read_floats(f, name, 1, &n, *out, err);
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

/* One model from an open file; path names it in errors. */
static sermo_model *load_single(const sermo_st_file *f, const char *path, int32_t threads, sermo_error *err) {
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
    if (st != SERMO_OK) {
        sermo_model_free(m);
        return NULL;
    }
    return m;
}

/* Member i of an ensemble file: its bytes opened as a model file, checked
 * to classify into member 0's labels in the same order. */
static sermo_status load_member(sermo_model *m, const sermo_st_file *f, const char *path, int32_t i, int32_t threads,
                                sermo_error *err) {
    char name[32], label[1200];
    snprintf(name, sizeof name, "member.%d", i);
    snprintf(label, sizeof label, "%s: %s", path, name);
    const sermo_st_tensor *t = sermo_st_find(f, name);
    if (t->dtype != SERMO_ST_U8 || t->ndim != 1)
        return sermo_fail(err, SERMO_ERR_FORMAT, "%s: not a U8 vector of model bytes", label);
    sermo_st_file *g = sermo_st_open_memory(t->data, sermo_st_nbytes(t), label, err);
    if (!g) return err ? err->status : SERMO_ERR_FORMAT;
    m->members[i] = load_single(g, label, threads, err);
    sermo_st_close(g);
    if (!m->members[i]) return err ? err->status : SERMO_ERR_FORMAT;
    m->n_members = i + 1;
    const sermo_model *a = m->members[0], *b = m->members[i];
    int same = a->n_classes == b->n_classes;
    for (int32_t k = 0; same && k < a->n_classes; k++) same = !strcmp(a->labels[k], b->labels[k]);
    return same ? SERMO_OK : sermo_fail(err, SERMO_ERR_FORMAT, "%s: its labels are not those of member.0", label);
}

/* Labels and settings of an ensemble: its first member's. */
static sermo_status adopt_first(sermo_model *m, const char *path, sermo_error *err) {
    const sermo_model *first = m->members[0];
    m->audio = first->audio;
    m->feat_params = first->feat_params;
    if (!(m->labels = calloc((size_t)first->n_classes, sizeof *m->labels)) ||
        !(m->member_probs = calloc((size_t)first->n_classes, sizeof *m->member_probs)))
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    for (int32_t k = 0; k < first->n_classes; k++) {
        if (!(m->labels[k] = strdup(first->labels[k]))) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        m->n_classes = k + 1;
    }
    return SERMO_OK;
}

/* The members of an ensemble file and their weights (its "weights"
 * metadata, a JSON array; default equal), normalised to sum 1. */
static sermo_model *load_ensemble(const sermo_st_file *f, const char *path, int32_t threads, sermo_error *err) {
    sermo_model *m = calloc(1, sizeof *m);
    if (!m) {
        sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    int32_t n = 0;
    char name[32];
    while (snprintf(name, sizeof name, "member.%d", n), sermo_st_find(f, name)) n++;
    cJSON *w = cJSON_Parse(sermo_st_meta(f, "weights") ? sermo_st_meta(f, "weights") : "null");
    sermo_status st = SERMO_OK;
    if (n < 1) st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: an ensemble without members", path);
    else if (w && (!cJSON_IsArray(w) || cJSON_GetArraySize(w) != n))
        st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: metadata 'weights' is not a list of %d numbers", path, n);
    else if (!(m->members = calloc((size_t)n, sizeof *m->members)) ||
             !(m->weights = calloc((size_t)n, sizeof *m->weights)))
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    double total = 0;
    for (int32_t i = 0; st == SERMO_OK && i < n; i++) {
        const cJSON *v = w ? cJSON_GetArrayItem(w, i) : NULL;
        double x = v ? cJSON_GetNumberValue(v) : 1.0;
        if (!(x > 0 && x < 1e30)) st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: weight %d is not positive", path, i);
        m->weights[i] = (float)x;
        total += x;
        if (st == SERMO_OK) st = load_member(m, f, path, i, threads, err);
    }
    cJSON_Delete(w);
    for (int32_t i = 0; st == SERMO_OK && i < n; i++) m->weights[i] = (float)(m->weights[i] / total);
    if (st == SERMO_OK) st = adopt_first(m, path, err);
    if (st == SERMO_OK) st = keep_metadata(m, f, err);
    if (st != SERMO_OK) {
        sermo_model_free(m);
        return NULL;
    }
    return m;
}

sermo_model *sermo_model_load(const char *path, int32_t threads, sermo_error *err) {
    sermo_st_file *f = sermo_st_open(path, err);
    if (!f) return NULL;
    const char *format = sermo_st_meta(f, "format");
    sermo_model *m = format && !strcmp(format, SERMO_ENSEMBLE_FORMAT) ? load_ensemble(f, path, threads, err)
                                                                      : load_single(f, path, threads, err);
    sermo_st_close(f);
    return m;
}

void sermo_model_free(sermo_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_members; i++) sermo_model_free(m->members[i]);
    free(m->members);
    free(m->weights);
    free(m->member_probs);
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

int32_t sermo_model_n_members(const sermo_model *m) { return m->n_members ? m->n_members : 1; }

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
    if (m->n_members)
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED,
                          "predict: an ensemble of %d models classifies audio (each member computes its own "
                          "features), not features",
                          m->n_members);
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

/* probs = sum_i weight_i * (member i's probabilities for the audio at path,
 * or for pcm when path is NULL). */
static sermo_status predict_ensemble(sermo_model *m, const char *path, const float *pcm, int64_t n,
                                     int32_t sample_rate, float *probs, sermo_error *err) {
    memset(probs, 0, sizeof *probs * (size_t)m->n_classes);
    for (int32_t i = 0; i < m->n_members; i++) {
        sermo_status st = path ? sermo_model_predict_file(m->members[i], path, m->member_probs, err)
                               : sermo_model_predict_pcm(m->members[i], pcm, n, sample_rate, m->member_probs, err);
        if (st) return st;
        for (int32_t k = 0; k < m->n_classes; k++) probs[k] += m->weights[i] * m->member_probs[k];
    }
    return SERMO_OK;
}

sermo_status sermo_model_predict_pcm(sermo_model *m, const float *pcm, int64_t n, int32_t sample_rate, float *probs,
                                     sermo_error *err) {
    if (!pcm || n < 1) return sermo_fail(err, SERMO_ERR_EMPTY, "pcm: no samples");
    if (m->n_members) return predict_ensemble(m, NULL, pcm, n, sample_rate, probs, err);
    sermo_audio a = {.samples = sermo_alloc(sizeof(float) * (size_t)n, err, "pcm"), .n = n, .sample_rate = sample_rate};
    if (!a.samples) return SERMO_ERR_NOMEM;
    memcpy(a.samples, pcm, sizeof(float) * (size_t)n);
    sermo_status st = sermo_audio_process(&a, &m->audio, "pcm", err);
    if (st == SERMO_OK) st = predict_audio(m, &a, probs, "pcm", err);
    sermo_audio_free(&a);
    return st;
}

sermo_status sermo_model_predict_file(sermo_model *m, const char *path, float *probs, sermo_error *err) {
    if (m->n_members) return predict_ensemble(m, path, NULL, 0, 0, probs, err);
    sermo_audio a;
    sermo_status st = sermo_audio_load_file(path, &m->audio, &a, err);
    if (st == SERMO_OK) st = predict_audio(m, &a, probs, path, err);
    sermo_audio_free(&a);
    return st;
}
