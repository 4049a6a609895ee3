/* options.c: train_options, their defaults and the "model" / "train.*" config keys. */
#include "train/train.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_options_default(train_options *opt) {
    memset(opt, 0, sizeof *opt);
    snprintf(opt->model, sizeof opt->model, "cnn3");
    opt->epochs = 30;
    opt->batch_size = 32;
    opt->lr = 1e-3f;
    opt->weight_decay = 1e-2f;
    opt->warmup_epochs = 2;
    opt->warmup_start = 0.1f;
    opt->min_lr = 1e-5f;
    opt->clip_norm = 5.0f;
    opt->patience = 10;
    opt->frames = 300;
    opt->dropout = 0.3f;
    opt->label_smoothing = 0.1f;
    opt->loss = TRAIN_LOSS_CE;
    opt->focal_gamma = 2.0f;
    opt->class_weights = TRAIN_WEIGHTS_NONE;
    opt->schedule = TRAIN_SCHEDULE_COSINE;
    opt->restart_t0 = 10;
    opt->restart_t_mult = 1;
    opt->step_size = 10;
    opt->step_gamma = 0.1f;
    opt->specaugment = 0;
    opt->freq_masks = 2;
    opt->freq_mask_param = 8;
    opt->time_masks = 2;
    opt->time_mask_param = 30;
    opt->mixup_alpha = 0.0f;
    opt->seed = 42;
    opt->threads = 0;
    snprintf(opt->out_dir, sizeof opt->out_dir, "runs/default");
    opt->resume = 0;
}

typedef enum { OPT_INT, OPT_FLOAT, OPT_U64, OPT_BOOL, OPT_STR, OPT_CHOICE, OPT_WEIGHTS } opt_kind;

typedef struct opt_field {
    const char *key; /* under "train." */
    opt_kind kind;
    size_t offset;
    double min, max; /* numbers: allowed range */
    size_t size;     /* strings: buffer size */
    const char *const *choices; /* OPT_CHOICE: names of the enum values 0, 1, ..., NULL-terminated */
} opt_field;

static const char *const loss_names[] = {"ce", "focal", NULL};
static const char *const schedule_names[] = {"cosine", "restarts", "step", NULL};

#define F_INT(k, lo, hi) {#k, OPT_INT, offsetof(train_options, k), lo, hi, 0, NULL}
#define F_FLOAT(k, lo, hi) {#k, OPT_FLOAT, offsetof(train_options, k), lo, hi, 0, NULL}
#define F_CHOICE(k, names) {#k, OPT_CHOICE, offsetof(train_options, k), 0, 0, 0, names}
static const opt_field fields[] = {
    F_INT(epochs, 1, 1e6),
    F_INT(batch_size, 1, 65536),
    F_FLOAT(lr, 0, 10),
    F_FLOAT(weight_decay, 0, 10),
    F_INT(warmup_epochs, 0, 1e6),
    F_FLOAT(warmup_start, 1e-8, 1),
    F_FLOAT(min_lr, 0, 10),
    F_FLOAT(clip_norm, 0, 1e30),
    F_INT(patience, 0, 1e6),
    F_INT(frames, 8, 1e6),
    F_FLOAT(dropout, 0, 0.99),
    F_FLOAT(label_smoothing, 0, 0.99),
    F_CHOICE(loss, loss_names),
    F_FLOAT(focal_gamma, 0, 10),
    {"class_weights", OPT_WEIGHTS, offsetof(train_options, class_weights), 0, 0, 0, NULL},
    F_CHOICE(schedule, schedule_names),
    F_INT(restart_t0, 1, 1e6),
    F_INT(restart_t_mult, 1, 1000),
    F_INT(step_size, 1, 1e6),
    F_FLOAT(step_gamma, 1e-8, 1),
    {"specaugment", OPT_BOOL, offsetof(train_options, specaugment), 0, 1, 0, NULL},
    F_INT(freq_masks, 0, 100),
    F_INT(freq_mask_param, 0, 1e6),
    F_INT(time_masks, 0, 100),
    F_INT(time_mask_param, 0, 1e6),
    F_FLOAT(mixup_alpha, 0, 100),
    {"seed", OPT_U64, offsetof(train_options, seed), 0, 0, 0, NULL},
    F_INT(threads, 0, 4096),
    {"out_dir", OPT_STR, offsetof(train_options, out_dir), 0, 0, sizeof(((train_options *)0)->out_dir), NULL},
    {"resume", OPT_BOOL, offsetof(train_options, resume), 0, 1, 0, NULL},
};

/* train.class_weights: "none", "balanced" or a comma list of positive numbers
 * (one per class; train_run checks the count against the classes). */
static sermo_status set_weights(const char *key, const char *v, train_options *opt, sermo_error *err) {
    if (!strcmp(v, "none") || !strcmp(v, "balanced")) {
        opt->class_weights = strcmp(v, "none") ? TRAIN_WEIGHTS_BALANCED : TRAIN_WEIGHTS_NONE;
        opt->n_class_weights = 0;
        return SERMO_OK;
    }
    int32_t n = 0;
    const char *p = v;
    for (;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x) || x <= 0 || x > 1e30)
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "%s: '%s' is not none, balanced or a comma list of positive numbers", key, v);
        if (n == TRAIN_MAX_CLASS_WEIGHTS)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: more than %d weights", key, TRAIN_MAX_CLASS_WEIGHTS);
        opt->class_weight_list[n++] = (float)x;
        while (*end == ' ') end++;
        if (!*end) break;
        if (*end != ',')
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "%s: '%s' is not none, balanced or a comma list of positive numbers", key, v);
        p = end + 1;
    }
    opt->class_weights = TRAIN_WEIGHTS_LIST;
    opt->n_class_weights = n;
    return SERMO_OK;
}

static sermo_status set_field(const opt_field *f, const char *key, const char *v, train_options *opt,
                              sermo_error *err) {
    char *base = (char *)opt + f->offset, *end = NULL;
    errno = 0;
    switch (f->kind) {
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno || x < f->min || x > f->max)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not an integer in [%.0f, %.0f]", key, v,
                              f->min, f->max);
        *(int32_t *)(void *)base = (int32_t)x;
        break;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || !isfinite(x) || x < f->min || x > f->max)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not a number in [%g, %g]", key, v, f->min,
                              f->max);
        *(float *)(void *)base = (float)x;
        break;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (end == v || *end || errno || v[0] == '-')
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not a non-negative integer", key, v);
        *(uint64_t *)(void *)base = (uint64_t)x;
        break;
    }
    case OPT_BOOL: {
        int on = !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1");
        int off = !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0");
        if (!on && !off) return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not true or false", key, v);
        *(int32_t *)(void *)base = on;
        break;
    }
    case OPT_CHOICE: {
        int32_t i = 0;
        while (f->choices[i] && strcmp(f->choices[i], v)) i++;
        if (!f->choices[i]) {
            char names[128] = "";
            for (int32_t j = 0; f->choices[j]; j++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? " | " : "", f->choices[j]);
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not one of %s", key, v, names);
        }
        *(int32_t *)(void *)base = i;
        break;
    }
    case OPT_WEIGHTS:
        return set_weights(key, v, opt, err);
    case OPT_STR:
        if (!v[0] || strlen(v) >= f->size)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: must be a non-empty string under %zu bytes", key,
                              f->size);
        memcpy(base, v, strlen(v) + 1);
        break;
    }
    return SERMO_OK;
}

sermo_status train_options_from_config(const sermo_config *config, train_options *opt, sermo_error *err) {
    const char *name = sermo_config_get(config, "model.name");
    if (!name) name = sermo_config_get(config, "model");
    if (name) {
        if (!name[0] || strlen(name) >= sizeof opt->model)
            return sermo_fail(err, SERMO_ERR_INVALID, "model: '%s' is not a model name", name);
        snprintf(opt->model, sizeof opt->model, "%s", name);
    }
    const size_t n_fields = sizeof fields / sizeof fields[0];
    for (int32_t i = 0; i < sermo_config_n_keys(config); i++) {
        const char *key = sermo_config_key(config, i);
        if (strncmp(key, "train.", 6)) continue;
        size_t j = 0;
        while (j < n_fields && strcmp(fields[j].key, key + 6)) j++;
        if (j == n_fields)
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "%s: unknown key (train.* keys: epochs, batch_size, lr, weight_decay, "
                              "warmup_epochs, warmup_start, min_lr, clip_norm, patience, frames, dropout, "
                              "label_smoothing, loss, focal_gamma, class_weights, schedule, restart_t0, "
                              "restart_t_mult, step_size, step_gamma, seed, threads, out_dir, resume)",
                              key);
        sermo_status st = set_field(&fields[j], key, sermo_config_get(config, key), opt, err);
        if (st) return st;
    }
    if (opt->min_lr > opt->lr)
        return sermo_fail(err, SERMO_ERR_INVALID, "train.min_lr: %g is above train.lr %g", opt->min_lr, opt->lr);
    return SERMO_OK;
}
