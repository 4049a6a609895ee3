/* options.c: one argument parser for every subcommand: named flags from a
 * table, `--config FILE`, `key=value` config overrides, and positionals. */
#include "cli.h"

#include "models/model.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* "train.lr=3e-4": a dotted identifier before '=' (a path never starts so). */
static int is_override(const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !(isalpha((unsigned char)arg[0]) || arg[0] == '_')) return 0;
    for (const char *p = arg; p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.') return 0;
    return 1;
}

/* "model=cnn9" names the model: a key that is a section ("model.*" exists)
 * sets that section's name. */
static int set_override(sermo_config *config, const char *arg) {
    sermo_error err;
    const char *eq = strchr(arg, '=');
    char section[128];
    snprintf(section, sizeof section, "%.*s.name", (int)(eq - arg), arg);
    if (eq - arg < 100 && sermo_config_get(config, section)) {
        if (sermo_config_set(config, section, eq + 1)) return cli_error("%s: cannot set", section);
        return 0;
    }
    if (sermo_config_set_arg(config, arg, &err)) return cli_error("%s", err.msg);
    return 0;
}

/* The user's layers: --config FILE, then the key=value arguments in order. */
static int config_load_user(sermo_config *config, const cli_args *a) {
    sermo_error err;
    if (a->config_path && sermo_config_load_yaml(config, a->config_path, &err)) return cli_error("%s", err.msg);
    for (int i = 0; i < a->n_overrides; i++)
        if (set_override(config, a->overrides[i])) return 1;
    return 0;
}

/* A model's recommended settings (model_defaults; 0 or NULL keeps the global one). */
static void config_set_model_defaults(sermo_config *config, const model_spec *spec) {
    const model_defaults *d = &spec->defaults;
    const struct {
        const char *key;
        double value;
    } fields[] = {{"train.batch_size", d->batch_size}, {"train.epochs", d->epochs},
                  {"train.patience", d->patience},     {"features.n_mels", d->n_mels},
                  {"features.hop_length", d->hop_length}, {"train.lr", d->lr},
                  {"train.frames", d->frames}};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        if (fields[i].value == 0) continue;
        char v[32];
        snprintf(v, sizeof v, "%g", fields[i].value); /* 3e-4f prints 0.0003, not its float noise */
        (void)sermo_config_set(config, fields[i].key, v); /* a key default.yaml has: cannot fail */
    }
    if (d->feature_kind) (void)sermo_config_set(config, "features.kind", d->feature_kind);
}

/* default.yaml < the model's defaults (spec may be NULL) < the user's layers. */
static sermo_config *config_build(const cli_args *a, const model_spec *spec) {
    sermo_error err;
    sermo_config *config = sermo_config_init();
    if (!config) {
        cli_error("out of memory");
        return NULL;
    }
    if (sermo_config_load_yaml_string(config, sermo_default_config, "default config", &err)) {
        cli_error("%s", err.msg);
    } else {
        if (spec) config_set_model_defaults(config, spec);
        if (!config_load_user(config, a)) return config;
    }
    sermo_config_free(config);
    return NULL;
}

sermo_config *cli_config_for_model(const cli_args *a, const char *name) {
    if (name) {
        const model_spec *spec = model_registry_find(name);
        if (!spec) {
            cli_error("model: unknown model '%s' (`sermo models` lists them)", name);
            return NULL;
        }
        sermo_config *config = config_build(a, spec);
        if (config && sermo_config_set(config, "model.name", name)) {
            sermo_config_free(config);
            return NULL;
        }
        return config;
    }
    /* The model is only known once every layer is read (the user may name it
     * in the file or on the command line), and its defaults go under those
     * layers: read them once to learn the name, then build again. */
    sermo_config *probe = config_build(a, NULL);
    if (!probe) return NULL;
    const char *chosen = sermo_config_get(probe, "model.name");
    if (!chosen) chosen = sermo_config_get(probe, "model");
    const model_spec *spec = model_registry_find(chosen);
    if (!spec) return probe; /* no defaults to add; train names the unknown model */
    sermo_config_free(probe);
    return config_build(a, spec);
}

static int parse(int argc, char **argv, const cli_flag *flags, cli_args *out) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) return cli_error("%s: option --config needs a value", argv[0]);
            out->config_path = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            const cli_flag *f = flags;
            while (f && f->name && strcmp(f->name, a)) f++;
            if (!f || !f->name) return cli_error("%s: unknown option '%s' (see --help)", argv[0], a);
            if (!f->value) {
                *f->on = 1;
            } else {
                if (i + 1 >= argc) return cli_error("%s: option %s needs a value", argv[0], a);
                *f->value = argv[++i];
            }
        } else if (is_override(a)) {
            if (out->n_overrides == CLI_MAX_OVERRIDES) return cli_error("%s: too many key=value settings", argv[0]);
            out->overrides[out->n_overrides++] = a;
        } else {
            out->positional[out->n_positional++] = a;
        }
    }
    /* The settings layer after the whole line is read, so --config and
     * key=value may come in any order and overrides always win. */
    out->config = cli_config_for_model(out, NULL);
    return out->config ? 0 : 1;
}

int cli_parse(int argc, char **argv, const cli_flag *flags, cli_args *out) {
    memset(out, 0, sizeof *out);
    if (!(out->positional = malloc(sizeof *out->positional * (size_t)(argc > 0 ? argc : 1))))
        return cli_error("%s: out of memory", argc > 0 ? argv[0] : "sermo");
    int rc = parse(argc, argv, flags, out);
    if (rc) cli_args_free(out); /* callers return at once on failure */
    return rc;
}

int cli_apply_overrides(sermo_config *config, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            i += !strcmp(argv[i], "--config"); /* its value is a path, never an override */
            continue;
        }
        if (is_override(argv[i]) && set_override(config, argv[i])) return 1;
    }
    return 0;
}

void cli_args_free(cli_args *args) {
    sermo_config_free(args->config);
    free(args->positional);
    args->config = NULL;
    args->positional = NULL;
}

int cli_audio_features(const sermo_config *config, sermo_audio_params *ap, sermo_feature_params *fp) {
    sermo_error err;
    sermo_audio_default_params(ap);
    sermo_feature_default_params(fp);
    if (sermo_config_audio_params(config, ap, &err) || sermo_config_feature_params(config, fp, &err))
        return cli_error("%s", err.msg);
    /* One sample rate drives both stages; a second, different one is a mistake. */
    if (sermo_config_get(config, "features.sample_rate") && fp->sample_rate != ap->sample_rate)
        return cli_error("features.sample_rate (%d) differs from audio.sample_rate (%d)", fp->sample_rate,
                         ap->sample_rate);
    if (ap->sample_rate <= 0) return cli_error("audio.sample_rate must be positive");
    fp->sample_rate = ap->sample_rate;
    return 0;
}

int cli_open_corpus(const sermo_config *config, const char *path, sermo_corpus **out) {
    sermo_error err;
    sermo_corpus_params cp;
    sermo_corpus_default_params(&cp);
    const char *v;
    if ((v = sermo_config_get(config, "data.target"))) cp.target = v;
    if ((v = sermo_config_get(config, "data.demographics"))) cp.demographics = v;
    if ((v = sermo_config_get(config, "data.labels"))) {
        if (!strcmp(v, "native")) cp.label_set = SERMO_LABELS_NATIVE;
        else if (!strcmp(v, "common6")) cp.label_set = SERMO_LABELS_COMMON6;
        else return cli_error("data.labels: '%s' is not one of native, common6", v);
    }
    sermo_corpus_kind kind = SERMO_CORPUS_AUTO;
    if ((v = sermo_config_get(config, "data.kind")) && strcmp(v, "auto")) {
        int k;
        for (k = SERMO_CORPUS_RAVDESS; k <= SERMO_CORPUS_MANIFEST; k++)
            if (!strcmp(v, sermo_corpus_kind_name((sermo_corpus_kind)k))) break;
        if (k > SERMO_CORPUS_MANIFEST)
            return cli_error("data.kind: '%s' is not one of auto, ravdess, cremad, tess, savee, emodb, manifest", v);
        kind = (sermo_corpus_kind)k;
    }
    sermo_corpus *c = sermo_corpus_init(&cp);
    if (!c) return cli_error("out of memory");
    /* Several corpora train together: data.path may list them separated by commas. */
    char paths[4096];
    snprintf(paths, sizeof paths, "%s", path);
    for (char *save = NULL, *p = strtok_r(paths, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (sermo_corpus_add(c, p, kind, &err)) {
            sermo_corpus_free(c);
            return cli_error("%s", err.msg);
        }
    }
    if (sermo_corpus_size(c) == 0) {
        sermo_corpus_free(c);
        return cli_error("%s: no usable audio files found", path);
    }
    *out = c;
    return 0;
}

sermo_cache *cli_open_cache(const sermo_corpus *corpus, const sermo_audio_params *ap, const sermo_feature_params *fp,
                            const char *dir, int32_t threads, int *built, char path[4096]) {
    sermo_cache_params cp;
    sermo_cache_default_params(&cp);
    if (dir) cp.dir = dir;
    cp.threads = threads;
    cli_progress bar;
    cli_progress_init(&bar, "features");
    cp.progress = cli_progress_update;
    cp.user_data = &bar;
    char own[4096];
    if (!path) path = own;
    sermo_error err;
    sermo_cache *cache = NULL;
    if (sermo_cache_prepare(corpus, ap, fp, &cp, path, 4096, built, &err) ||
        !(cache = sermo_cache_open(path, &err)))
        cli_error("%s", err.msg);
    return cache;
}
