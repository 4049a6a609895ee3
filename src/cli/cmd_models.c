/* cmd_models.c: `sermo models`: the registered model families with their
 * size and recommended training settings; and the model helpers `sermo bench`
 * and `sermo pipeline` share. */
#include "cli.h"

#include "train/train.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *models_usage =
    "usage: sermo models [NAME ...] [--json] [--no-params] [--config FILE] [key=value ...]\n"
    "       sermo models --resolved [NAME] [--config FILE] [key=value ...]\n"
    "\n"
    "Lists the registered models (or the named ones): parameters (for 8 classes\n"
    "and a 300-frame input of the model's default n_mels), the training settings\n"
    "each recommends (train.batch_size, train.epochs, train.patience,\n"
    "features.n_mels, features.hop_length, train.lr, features.kind; a model that recommends\n"
    "nothing keeps configs/default.yaml's) and a description. A model that cannot\n"
    "be built shows its error in its row. --json prints the same as a JSON array.\n"
    "--no-params skips building the models (vgg16 alone takes 2 GB and seconds).\n"
    "\n"
    "The settings of a run layer as configs/default.yaml < the model's\n"
    "recommendations < --config FILE < key=value, so a setting you give always\n"
    "wins. --resolved prints that resolved config as key=value lines for model\n"
    "NAME, or else the model the arguments name (`sermo models --resolved\n"
    "model=cnn3 train.epochs=5`): what `sermo train` with the same arguments uses.\n";

int cli_model_input_from_config(const sermo_config *config, cli_model_input *in) {
    sermo_audio_params ap;
    sermo_feature_params fp;
    sermo_error err;
    train_options opt;
    train_options_default(&opt);
    if (train_options_from_config(config, &opt, &err)) return cli_error("%s", err.msg);
    if (cli_audio_features(config, &ap, &fp)) return 1;
    /* The front end itself says how many rows its settings give (mfcc, deltas). */
    sermo_features *f = sermo_features_init(&fp, &err);
    if (!f) return cli_error("%s", err.msg);
    in->rows = sermo_features_n_bins(f);
    in->threads = opt.threads;
    in->frames = opt.frames;
    sermo_features_free(f);
    return 0;
}

model *cli_model_create(const char *name, const cli_model_input *in, int32_t max_batch, int32_t max_frames,
                        sermo_error *err) {
    model_config cfg = {.n_classes = 8, .in_channels = 1, .n_bins = in->rows, .max_frames = max_frames,
                        .max_batch = max_batch, .threads = in->threads, .dropout = 0.3f};
    return model_create(name, &cfg, 1, err);
}

int64_t cli_model_n_params(const model *m) {
    int64_t n = 0;
    for (int32_t i = 0; i < m->params.n; i++) n += (int64_t)m->params.entries[i].numel;
    return n;
}

void cli_format_count(int64_t n, char *buf, size_t size) {
    if (n >= 10000) snprintf(buf, size, "%.2fM", (double)n / 1e6);
    else snprintf(buf, size, "%lld", (long long)n);
}

/* The settings a model trains with when the user sets none of them. */
typedef struct model_row {
    const model_spec *spec;
    int32_t batch_size, epochs, patience, n_mels, hop_length;
    double lr;
    const char *features; /* features.kind */
    int64_t params; /* -1 when not counted (--no-params) or the model failed (error set) */
    char error[SERMO_ERROR_MAX];
} model_row;

static int32_t int_or(int32_t v, const sermo_config *global, const char *key) {
    return v ? v : (int32_t)strtol(sermo_config_get(global, key), NULL, 10);
}

/* The recommendations read from the spec itself, each 0 replaced by the
 * global default: independent of cli_config_for_model's layering, which the
 * tests compare with it. */
static void row_defaults(model_row *r, const sermo_config *global) {
    const model_defaults *d = &r->spec->defaults;
    r->batch_size = int_or(d->batch_size, global, "train.batch_size");
    r->epochs = int_or(d->epochs, global, "train.epochs");
    r->patience = int_or(d->patience, global, "train.patience");
    r->n_mels = int_or(d->n_mels, global, "features.n_mels");
    r->hop_length = int_or(d->hop_length, global, "features.hop_length");
    r->lr = d->lr ? d->lr : strtod(sermo_config_get(global, "train.lr"), NULL);
    r->features = d->feature_kind ? d->feature_kind : sermo_config_get(global, "features.kind");
}

/* The parameter count at the nominal input; a failure goes into the row. */
static int row_params(model_row *r, const cli_args *args) {
    sermo_config *config = cli_config_for_model(args, r->spec->name);
    cli_model_input in;
    int rc = !config || cli_model_input_from_config(config, &in);
    sermo_config_free(config);
    if (rc) return 1; /* a bad user setting: every row would fail alike */
    sermo_error err;
    model *m = cli_model_create(r->spec->name, &in, 1, 300, &err);
    r->params = m ? cli_model_n_params(m) : -1;
    if (!m) snprintf(r->error, sizeof r->error, "%s", err.msg);
    model_free(m);
    return 0;
}

static void print_table(const model_row *rows, int n) {
    printf("%-16s %9s %6s %6s %8s %6s %5s %9s %-8s  %s\n", "model", "params", "batch", "epochs", "patience",
           "n_mels", "hop", "lr", "features", "description");
    for (int i = 0; i < n; i++) {
        const model_row *r = &rows[i];
        char params[32] = "-";
        if (r->params >= 0) cli_format_count(r->params, params, sizeof params);
        printf("%-16s %9s %6d %6d %8d %6d %5d %9g %-8s  %s%s\n", r->spec->name, params, r->batch_size, r->epochs,
               r->patience, r->n_mels, r->hop_length, r->lr, r->features ? r->features : "-",
               r->error[0] ? "error: " : "",
               r->error[0] ? r->error : r->spec->description);
    }
}

static int print_json(const model_row *rows, int n) {
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < n; i++) {
        const model_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject(), *d = cJSON_CreateObject();
        if (!o || !d || !cJSON_AddItemToArray(list, o)) {
            cJSON_Delete(o);
            cJSON_Delete(d);
            break;
        }
        /* Key order is fixed: the tests read the defaults positionally. */
        cJSON_AddStringToObject(o, "name", r->spec->name);
        if (r->params >= 0) cJSON_AddNumberToObject(o, "params", (double)r->params);
        else cJSON_AddNullToObject(o, "params");
        cJSON_AddItemToObject(o, "defaults", d);
        cJSON_AddNumberToObject(d, "batch_size", r->batch_size);
        cJSON_AddNumberToObject(d, "epochs", r->epochs);
        cJSON_AddNumberToObject(d, "patience", r->patience);
        cJSON_AddNumberToObject(d, "n_mels", r->n_mels);
        cJSON_AddNumberToObject(d, "hop_length", r->hop_length);
        cJSON_AddNumberToObject(d, "lr", r->lr);
        cJSON_AddStringToObject(d, "features", r->features ? r->features : "");
        cJSON_AddStringToObject(o, "description", r->spec->description ? r->spec->description : "");
        if (r->error[0]) cJSON_AddStringToObject(o, "error", r->error);
    }
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    if (!text) return cli_error("out of memory");
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int cli_models(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(models_usage, stdout);
        return 0;
    }
    int json = 0, resolved = 0, no_params = 0;
    cli_flag flags[] = {{"--json", NULL, &json}, {"--resolved", NULL, &resolved}, {"--no-params", NULL, &no_params},
                        {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int rc = 1, n = args.n_positional ? args.n_positional : model_registry_count();
    model_row *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    sermo_config *global = sermo_config_init();
    sermo_error err;
    if (resolved) {
        sermo_config *config = args.n_positional == 1 ? cli_config_for_model(&args, args.positional[0]) : args.config;
        if (args.n_positional > 1) {
            fputs(models_usage, stderr);
            rc = 2;
        }
        for (int32_t i = 0; config && rc != 2 && i < sermo_config_n_keys(config); i++) {
            const char *k = sermo_config_key(config, i);
            printf("%s=%s\n", k, sermo_config_get(config, k));
        }
        if (config && rc != 2) rc = 0;
        if (config != args.config) sermo_config_free(config);
        goto done;
    }
    if (!rows || !global) {
        cli_error("out of memory");
        goto done;
    }
    if (sermo_config_load_yaml_string(global, sermo_default_config, "default config", &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const char *name = args.n_positional ? args.positional[i] : model_registry_at(i)->name;
        if (!(rows[i].spec = model_registry_find(name))) {
            cli_error("model: unknown model '%s'", name);
            rc = 2;
            goto done;
        }
        row_defaults(&rows[i], global);
        rows[i].params = -1;
        if (!no_params && row_params(&rows[i], &args)) goto done;
    }
    rc = json ? print_json(rows, n) : (print_table(rows, n), 0);
done:
    free(rows);
    sermo_config_free(global);
    cli_args_free(&args);
    return rc;
}
