/* ensemble.c: sermo_model_write_ensemble, late fusion in one file. The file
 * is a safetensors file whose tensors "member.<i>" (U8) are the members'
 * model files, so each member keeps its own weights, labels, audio and
 * feature settings and normalisation; its metadata holds the format, the
 * weights (a JSON array), the shared labels and each member's model name
 * ("member.<i>.model"). predictor.c loads it. A member's file is copied with
 * its large weight tensors as F16 (halve_member): half the size, so the
 * bundled default model holds three networks in under 10 MB. */
#include "train/train.h"

#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENSEMBLE_MAX_MEMBERS 16

/* The whole file into *data (malloc'd), or an error naming it. */
static sermo_status read_bytes(const char *path, unsigned char **data, size_t *size, sermo_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: cannot open", path);
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    *data = n > 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n) : NULL;
    int ok = *data && fread(*data, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) {
        free(*data);
        *data = NULL;
        return sermo_fail(err, SERMO_ERR_IO, "%s: cannot read", path);
    }
    *size = (size_t)n;
    return SERMO_OK;
}

/* Tensors this large (weights, not normalisation or batch-norm statistics)
 * are stored as F16 in the ensemble. */
#define HALF_MIN_NUMEL 1024

/* t's floats as F16 (malloc'd), or NULL when a finite value would overflow
 * F16, so the tensor stays F32, or when memory runs out (*oom set). */
static uint16_t *to_half(const sermo_st_tensor *t, int *oom) {
    int64_t n = sermo_st_numel(t);
    uint16_t *h = malloc(sizeof *h * (size_t)n);
    if (!h) *oom = 1;
    const unsigned char *p = t->data; /* memcpy: the data need not be aligned */
    for (int64_t j = 0; h && j < n; j++) {
        float x;
        memcpy(&x, p + 4 * j, sizeof x);
        h[j] = sermo_st_half_from_float(x);
        if (isfinite(x) && !isfinite(sermo_st_half_to_float(h[j]))) {
            free(h);
            return NULL;
        }
    }
    return h;
}

/* *bytes, a member's model file, rewritten with its large F32 tensors as
 * F16 (half the size) and everything else as it was. F32 tensors come
 * first, so they stay aligned. */
static sermo_status halve_member(unsigned char **bytes, size_t *size, const char *path, sermo_error *err) {
    sermo_st_file *f = sermo_st_open_memory(*bytes, *size, path, err);
    if (!f) return err ? err->status : SERMO_ERR_FORMAT;
    int n = sermo_st_n_tensors(f), n_meta = sermo_st_n_meta(f), n_out = 0;
    sermo_st_tensor *out = calloc((size_t)n + 1, sizeof *out);
    uint16_t **halves = calloc((size_t)n + 1, sizeof *halves);
    const char **keys = calloc((size_t)n_meta + 1, sizeof *keys), **values = calloc((size_t)n_meta + 1, sizeof *values);
    int oom = !out || !halves || !keys || !values;
    for (int i = 0; !oom && i < n; i++) {
        const sermo_st_tensor *t = sermo_st_tensor_at(f, i);
        if (t->dtype == SERMO_ST_F32 && sermo_st_numel(t) >= HALF_MIN_NUMEL) halves[i] = to_half(t, &oom);
    }
    sermo_status st = oom ? sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path) : SERMO_OK;
    for (int pass = 0; st == SERMO_OK && pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (!halves[i] != !pass) continue; /* pass 0: tensors kept as they are; pass 1: the halves */
            out[n_out] = *sermo_st_tensor_at(f, i);
            if (pass) {
                out[n_out].dtype = SERMO_ST_F16;
                out[n_out].data = halves[i];
            }
            n_out++;
        }
    for (int i = 0; st == SERMO_OK && i < n_meta; i++) keys[i] = sermo_st_meta_at(f, i, &values[i]);
    void *written = NULL;
    size_t written_size = 0;
    if (st == SERMO_OK) st = sermo_st_write_memory(out, n_out, keys, values, n_meta, &written, &written_size, err);
    sermo_st_close(f);
    if (st == SERMO_OK) {
        free(*bytes);
        *bytes = written;
        *size = written_size;
    }
    for (int i = 0; halves && i < n; i++) free(halves[i]);
    free(halves);
    free(out);
    free(keys);
    free(values);
    return st;
}

sermo_status sermo_model_write_ensemble(const char *path, const char *const *models, const float *weights, int32_t n,
                                        sermo_error *err) {
    if (n < 1 || n > ENSEMBLE_MAX_MEMBERS)
        return sermo_fail(err, SERMO_ERR_INVALID, "ensemble: %d members, expected 1 to %d", n, ENSEMBLE_MAX_MEMBERS);
    for (int32_t i = 0; weights && i < n; i++)
        if (!(weights[i] > 0 && weights[i] < 1e30f))
            return sermo_fail(err, SERMO_ERR_INVALID, "ensemble: weight %d (%g) is not positive", i, (double)weights[i]);
    unsigned char *bytes[ENSEMBLE_MAX_MEMBERS] = {0};
    char names[ENSEMBLE_MAX_MEMBERS][32], model_keys[ENSEMBLE_MAX_MEMBERS][40];
    char *model_names[ENSEMBLE_MAX_MEMBERS] = {0};
    sermo_st_tensor tensors[ENSEMBLE_MAX_MEMBERS];
    cJSON *labels = cJSON_CreateArray(), *w = cJSON_CreateArray();
    sermo_status st = labels && w ? SERMO_OK : sermo_fail(err, SERMO_ERR_NOMEM, "ensemble: out of memory");
    sermo_model *first = NULL;
    for (int32_t i = 0; st == SERMO_OK && i < n; i++) {
        /* Loading checks the member whole: format, tensors, settings. */
        sermo_model *m = sermo_model_load(models[i], 1, err);
        if (!m) {
            st = err ? err->status : SERMO_ERR_FORMAT;
            break;
        }
        if (sermo_model_n_members(m) != 1)
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: is an ensemble itself; list its members instead", models[i]);
        int same = st == SERMO_OK && (!first || sermo_model_n_classes(first) == sermo_model_n_classes(m));
        for (int32_t k = 0; same && first && k < sermo_model_n_classes(m); k++)
            same = !strcmp(sermo_model_class_name(first, k), sermo_model_class_name(m, k));
        if (st == SERMO_OK && !same)
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: its labels differ from %s's", models[i], models[0]);
        const char *name = sermo_model_meta(m, "model");
        if (st == SERMO_OK && !(model_names[i] = strdup(name ? name : "")))
            st = sermo_fail(err, SERMO_ERR_NOMEM, "ensemble: out of memory");
        size_t size = 0;
        if (st == SERMO_OK) st = read_bytes(models[i], &bytes[i], &size, err);
        if (st == SERMO_OK) st = halve_member(&bytes[i], &size, models[i], err);
        snprintf(names[i], sizeof names[i], "member.%d", i);
        snprintf(model_keys[i], sizeof model_keys[i], "member.%d.model", i);
        tensors[i] = (sermo_st_tensor){names[i], SERMO_ST_U8, 1, {(int64_t)size}, bytes[i]};
        cJSON_AddItemToArray(w, cJSON_CreateNumber(weights ? weights[i] : 1.0));
        if (first) sermo_model_free(m);
        else first = m;
    }
    for (int32_t k = 0; st == SERMO_OK && k < sermo_model_n_classes(first); k++)
        cJSON_AddItemToArray(labels, cJSON_CreateString(sermo_model_class_name(first, k)));
    char *labels_text = st == SERMO_OK ? cJSON_PrintUnformatted(labels) : NULL;
    char *weights_text = st == SERMO_OK ? cJSON_PrintUnformatted(w) : NULL;
    if (st == SERMO_OK && (!labels_text || !weights_text)) st = sermo_fail(err, SERMO_ERR_NOMEM, "ensemble: out of memory");
    if (st == SERMO_OK) {
        const char *keys[3 + ENSEMBLE_MAX_MEMBERS] = {"format", "labels", "weights"};
        const char *values[3 + ENSEMBLE_MAX_MEMBERS] = {SERMO_ENSEMBLE_FORMAT, labels_text, weights_text};
        for (int32_t i = 0; i < n; i++) {
            keys[3 + i] = model_keys[i];
            values[3 + i] = model_names[i];
        }
        st = sermo_st_write(path, tensors, n, keys, values, 3 + n, err);
    }
    free(labels_text);
    free(weights_text);
    cJSON_Delete(labels);
    cJSON_Delete(w);
    sermo_model_free(first);
    for (int32_t i = 0; i < n; i++) {
        free(bytes[i]);
        free(model_names[i]);
    }
    return st;
}
