/* options.c: train_options, their defaults and the "model" / "model.*" /
 * "train.*" config keys. */
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
    train_specaug_params spec; /* SpecAugment's defaults live in augment.c */
    train_specaug_default_params(&spec);
    opt->freq_masks = spec.n_freq_masks;
    opt->freq_mask_param = spec.freq_mask_param;
    opt->time_masks = spec.n_time_masks;
    opt->time_mask_param = spec.time_mask_param;
    opt->mixup_alpha = 0.0f;
    opt->seed = 42;
    opt->threads = 0;
    snprintf(opt->out_dir, sizeof opt->out_dir, "runs/default");
    opt->resume = 0;
    opt->slow_lr_mult = 0.01f;
    opt->backbone_lr_mult = 1.0f;
    opt->noise_snr_min = 10.0f;
    opt->noise_snr_max = 30.0f;
}

typedef enum {
    OPT_INT,
    OPT_FLOAT,
    OPT_U64,
    OPT_BOOL,
    OPT_STR,      /* non-empty string */
    OPT_TEXT,     /* string; "", "none" and "default" store "" (the feature off) */
    OPT_CHOICE,
    OPT_WEIGHTS,  /* train.class_weights only */
    OPT_TRISTATE, /* true 1, false -1, default 0 */
    OPT_PAIR,     /* two integers "a, b" in [min, max] */
    OPT_PREFIXES, /* comma list of names; "", "none" store "" */
} opt_kind;

/* One config key: where its value goes in the target struct (train_options
 * for "train.*", model_config for "model.*") and how it is parsed. */
typedef struct opt_field {
    const char *key; /* under "train." or "model." */
    opt_kind kind;
    size_t offset;
    double min, max; /* numbers: allowed range */
    size_t size;     /* strings: buffer size */
    const char *const *choices; /* OPT_CHOICE: names of the enum values 0, 1, ..., NULL-terminated */
} opt_field;

static const char *const loss_names[] = {"ce", "focal", NULL};
static const char *const schedule_names[] = {"cosine", "restarts", "step", NULL};
/* In model_head_kind and model_pool_kind order. */
static const char *const head_names[] = {"default", "linear", "mlp", NULL};
static const char *const pool_names[] = {"default", "mean", "meanstd", "attention", NULL};

#define F_INT(k, lo, hi) {#k, OPT_INT, offsetof(train_options, k), lo, hi, 0, NULL}
#define F_FLOAT(k, lo, hi) {#k, OPT_FLOAT, offsetof(train_options, k), lo, hi, 0, NULL}
#define F_CHOICE(k, names) {#k, OPT_CHOICE, offsetof(train_options, k), 0, 0, 0, names}
#define F_SIZED(k, kind) {#k, kind, offsetof(train_options, k), 0, 0, sizeof(((train_options *)0)->k), NULL}
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
    F_INT(average_last, 0, 1e6),
    F_INT(frames, 1, 1e6), /* each family checks its own minimum (cnn3: 8) */
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
    F_SIZED(out_dir, OPT_STR),
    {"resume", OPT_BOOL, offsetof(train_options, resume), 0, 1, 0, NULL},
    F_SIZED(freeze, OPT_PREFIXES),
    F_INT(freeze_blocks, 0, 1e6),
    F_INT(slow_blocks, 0, 1e6),
    F_FLOAT(slow_lr_mult, 0, 1e3),
    F_FLOAT(backbone_lr_mult, 0, 1e3),
    F_FLOAT(speed, 0, 0.5),
    F_FLOAT(noise_prob, 0, 1),
    F_FLOAT(noise_snr_min, -100, 200),
    F_FLOAT(noise_snr_max, -100, 200),
    F_FLOAT(gain_db, 0, 60),
    F_FLOAT(shift_ms, 0, 1e5),
};

/* The model.* keys but model.name (the caller's) and model.init_from (a
 * path, not a model_config field). */
#define M_INT(k, lo, hi) {#k, OPT_INT, offsetof(model_config, k), lo, hi, 0, NULL}
static const opt_field model_fields[] = {
    M_INT(channels, 0, 64),
    M_INT(image_size, -1, 4096),
    M_INT(width, 0, 4096),
    {"batchnorm", OPT_TRISTATE, offsetof(model_config, batchnorm), 0, 0, 0, NULL},
    {"size", OPT_TEXT, offsetof(model_config, size), 0, 0, sizeof(((model_config *)0)->size), NULL},
    {"drop_path", OPT_FLOAT, offsetof(model_config, drop_path), -1, 0.99, 0, NULL},
    {"head", OPT_CHOICE, offsetof(model_config, head), 0, 0, 0, head_names},
    {"head_hidden", OPT_PAIR, offsetof(model_config, head_hidden), 1, 65536, 0, NULL},
    {"pool", OPT_CHOICE, offsetof(model_config, pool), 0, 0, 0, pool_names},
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

int train_list_each(const char *list, int (*item)(const char *s, size_t len, void *ctx), void *ctx) {
    int n = 0;
    if (!*list) return 0;
    for (const char *p = list;;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ') trimmed--;
        if (trimmed == 0 || (item && item(p, trimmed, ctx))) return -1;
        n++;
        if (!p[len]) return n;
        p += len + 1;
    }
}

/* A parameter-name prefix: the characters of a name (no spaces inside). */
static int check_prefix(const char *s, size_t len, void *ctx) {
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || (unsigned char)s[i] < 32) return 1;
    return len >= NN_PARAM_NAME_MAX;
}

typedef struct pair_ctx {
    int32_t *out;
    int n;
    double min, max;
} pair_ctx;

static int parse_pair_item(const char *s, size_t len, void *ctx) {
    pair_ctx *c = ctx;
    char buf[32];
    if (len >= sizeof buf || c->n == 2) return 1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long x = strtol(buf, &end, 10);
    if (end == buf || *end || errno || x < c->min || x > c->max) return 1;
    c->out[c->n++] = (int32_t)x;
    return 0;
}

static int is_default(const char *v) { return !v[0] || !strcmp(v, "default"); }

/* Parses v into the field of f inside base (a train_options or model_config). */
static sermo_status set_field(const opt_field *f, const char *key, const char *v, void *base_struct,
                              sermo_error *err) {
    char *base = (char *)base_struct + f->offset, *end = NULL;
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
    case OPT_BOOL:
    case OPT_TRISTATE: {
        int on = !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1");
        int off = !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0");
        int tri = f->kind == OPT_TRISTATE;
        if (tri && is_default(v)) {
            *(int32_t *)(void *)base = 0;
            break;
        }
        if (!on && !off)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not true or false%s", key, v,
                              tri ? " or default" : "");
        *(int32_t *)(void *)base = on ? 1 : tri ? -1 : 0;
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
        return set_weights(key, v, base_struct, err);
    case OPT_STR:
        if (!v[0] || strlen(v) >= f->size)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: must be a non-empty string under %zu bytes", key,
                              f->size);
        memcpy(base, v, strlen(v) + 1);
        break;
    case OPT_TEXT:
    case OPT_PREFIXES: {
        int off = !v[0] || !strcmp(v, "none") || (f->kind == OPT_TEXT && !strcmp(v, "default"));
        if (strlen(v) >= f->size)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: must be under %zu bytes", key, f->size);
        if (!off && f->kind == OPT_PREFIXES && train_list_each(v, check_prefix, NULL) < 0)
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "%s: '%s' is not none or a comma list of parameter-name prefixes", key, v);
        snprintf(base, f->size, "%s", off ? "" : v);
        break;
    }
    case OPT_PAIR: {
        int32_t pair[2];
        pair_ctx c = {pair, 0, f->min, f->max};
        if (is_default(v)) {
            pair[0] = pair[1] = 0;
        } else if (train_list_each(v, parse_pair_item, &c) != 2) {
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not default or two integers in [%.0f, %.0f] "
                              "such as '512, 256'", key, v, f->min, f->max);
        }
        memcpy(base, pair, sizeof pair);
        break;
    }
    }
    return SERMO_OK;
}

/* Levenshtein distance of two short strings, capped at 64 characters. */
static size_t edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b), row[65];
    if (n > 64 || m > 64) return 64;
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[m];
}

/* Appends name to the ", "-joined list when it fits in room bytes; else marks the list cut. */
static void list_append(char *list, size_t room, const char *name, int *cut) {
    size_t len = strlen(list);
    if (*cut || len + strlen(name) + 2 >= room) {
        *cut = 1;
        return;
    }
    snprintf(list + len, room - len, "%s%s", len ? ", " : "", name);
}

/* SERMO_ERR_INVALID for an unknown key "<section>.<name>": the closest known
 * name (within two edits), then the known names, extra ones (not in the
 * table) first, cut before the message would overflow. */
static sermo_status unknown_key(const char *key, const char *section, const char *const *extra,
                                const opt_field *table, size_t n, sermo_error *err) {
    const char *name = key + strlen(section) + 1, *best = NULL;
    size_t best_d = 3;
    char hint[128] = "", list[SERMO_ERROR_MAX] = "";
    const char *cut_note = ", ... (all in configs/default.yaml)";
    for (size_t i = 0; extra[i]; i++)
        if (edit_distance(name, extra[i]) < best_d) best_d = edit_distance(name, extra[i]), best = extra[i];
    for (size_t i = 0; i < n; i++)
        if (edit_distance(name, table[i].key) < best_d) best_d = edit_distance(name, table[i].key), best = table[i].key;
    if (best) snprintf(hint, sizeof hint, "; did you mean %s.%s?", section, best);
    size_t fixed = strlen(key) + strlen(hint) + strlen(section) + sizeof ": unknown key (.* keys: )";
    size_t room = SERMO_ERROR_MAX > fixed + strlen(cut_note) ? SERMO_ERROR_MAX - fixed - strlen(cut_note) : 1;
    int cut = 0;
    for (size_t i = 0; extra[i]; i++) list_append(list, room, extra[i], &cut);
    for (size_t i = 0; i < n; i++) list_append(list, room, table[i].key, &cut);
    return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown key%s (%s.* keys: %s%s)", key, hint, section, list,
                      cut ? cut_note : "");
}

sermo_status train_model_options_from_config(const sermo_config *config, model_config *net, char *init_from,
                                             size_t init_size, sermo_error *err) {
    static const char *const extra[] = {"name", "init_from", NULL};
    const size_t n_fields = sizeof model_fields / sizeof model_fields[0];
    for (int32_t i = 0; i < sermo_config_n_keys(config); i++) {
        const char *key = sermo_config_key(config, i), *v = sermo_config_get(config, key);
        if (strncmp(key, "model.", 6) || !strcmp(key, "model.name")) continue;
        if (!strcmp(key, "model.init_from")) {
            const opt_field f = {"init_from", OPT_TEXT, 0, 0, 0, init_size ? init_size : 1024, NULL};
            char scratch[1024];
            sermo_status st = set_field(&f, key, v, init_from ? init_from : scratch, err);
            if (st) return st;
            continue;
        }
        size_t j = 0;
        while (j < n_fields && strcmp(model_fields[j].key, key + 6)) j++;
        if (j == n_fields) return unknown_key(key, "model", extra, model_fields, n_fields, err);
        const opt_field *f = &model_fields[j];
        if (is_default(v) && (f->kind == OPT_INT || f->kind == OPT_FLOAT)) { /* 0 is the family default */
            if (f->kind == OPT_INT) *(int32_t *)(void *)((char *)net + f->offset) = 0;
            else *(float *)(void *)((char *)net + f->offset) = 0.0f;
            continue;
        }
        sermo_status st = set_field(f, key, v, net, err);
        if (st) return st;
    }
    return SERMO_OK;
}

sermo_status train_options_from_config(const sermo_config *config, train_options *opt, sermo_error *err) {
    static const char *const extra[] = {NULL};
    const char *name = sermo_config_get(config, "model.name");
    if (!name) name = sermo_config_get(config, "model");
    if (name) {
        if (!name[0] || strlen(name) >= sizeof opt->model)
            return sermo_fail(err, SERMO_ERR_INVALID, "model: '%s' is not a model name", name);
        snprintf(opt->model, sizeof opt->model, "%s", name);
    }
    sermo_status st = train_model_options_from_config(config, &opt->net, opt->init_from, sizeof opt->init_from, err);
    if (st) return st;
    const size_t n_fields = sizeof fields / sizeof fields[0];
    for (int32_t i = 0; i < sermo_config_n_keys(config); i++) {
        const char *key = sermo_config_key(config, i);
        if (strncmp(key, "train.", 6)) continue;
        size_t j = 0;
        while (j < n_fields && strcmp(fields[j].key, key + 6)) j++;
        if (j == n_fields) return unknown_key(key, "train", extra, fields, n_fields, err);
        st = set_field(&fields[j], key, sermo_config_get(config, key), opt, err);
        if (st) return st;
    }
    if (opt->min_lr > opt->lr)
        return sermo_fail(err, SERMO_ERR_INVALID, "train.min_lr: %g is above train.lr %g", opt->min_lr, opt->lr);
    if (opt->noise_snr_min > opt->noise_snr_max)
        return sermo_fail(err, SERMO_ERR_INVALID, "train.noise_snr_min: %g is above train.noise_snr_max %g",
                          opt->noise_snr_min, opt->noise_snr_max);
    if (opt->slow_blocks > 0 && opt->slow_blocks <= opt->freeze_blocks)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "train.slow_blocks: %d leaves no slow block above train.freeze_blocks %d (both count "
                          "from block 0: slow blocks are freeze_blocks .. slow_blocks - 1)",
                          opt->slow_blocks, opt->freeze_blocks);
    return SERMO_OK;
}
