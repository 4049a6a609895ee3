/* options.c: one argument parser for every subcommand: named flags from a
 * table, `--config FILE`, `key=value` config overrides, and positionals. */
#include "cli.h"

#include <ctype.h>
#include <string.h>

extern const char sermo_default_config[]; /* configs/default.yaml, embedded by CMake */

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

static int parse(int argc, char **argv, const cli_flag *flags, cli_args *out) {
    sermo_error err;
    out->config = sermo_config_init();
    if (!out->config) return cli_error("out of memory");
    if (sermo_config_load_yaml_string(out->config, sermo_default_config, "default config", &err))
        return cli_error("%s", err.msg);
    const char *config_path = NULL;
    /* The config file loads first so command-line overrides win wherever they appear. */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config")) config_path = argv[i + 1];
    if (config_path && sermo_config_load_yaml(out->config, config_path, &err))
        return cli_error("%s", err.msg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (a[0] == '-' && a[1]) {
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
            if (set_override(out->config, a)) return 1;
        } else {
            if (out->n_positional == CLI_MAX_POSITIONAL)
                return cli_error("%s: too many arguments", argv[0]);
            out->positional[out->n_positional++] = a;
        }
    }
    return 0;
}

int cli_parse(int argc, char **argv, const cli_flag *flags, cli_args *out) {
    memset(out, 0, sizeof *out);
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
    args->config = NULL;
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
