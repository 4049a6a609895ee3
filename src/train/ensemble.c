/* ensemble.c: sermo_model_write_ensemble, late fusion in one file. The file
 * is a safetensors file whose tensors "member.<i>" (U8) are the members'
 * model files byte for byte, so each member keeps its own weights, labels,
 * audio and feature settings and normalisation; its metadata holds the
 * format, the weights (a JSON array), the shared labels and each member's
 * model name ("member.<i>.model"). predictor.c loads it. */
#include "train/train.h"

#include "io/safetensors.h"

#include <cjson/cJSON.h>
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
