/* cmd_eval.c: `sermo eval MODEL --data PATH [--split test|val|train|all]`. */
#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *eval_usage =
    "usage: sermo eval MODEL --data PATH [--split test|val|train|all] [--split-file FILE]\n"
    "                  [--out DIR] [--cache DIR] [key=value ...]\n"
    "\n"
    "Evaluates MODEL (a model.safetensors from `sermo train`) on the corpus folder\n"
    "or CSV manifest PATH with the audio, feature and data settings stored in the\n"
    "model (data.* keys on the command line override the data settings). With\n"
    "--split test (the default) or val/train, the clips come from the split file\n"
    "(default: split.csv beside MODEL); --split all uses every clip. Writes\n"
    "classification_report.txt, metrics.json and confusion_matrix.png into DIR\n"
    "(default: eval/ beside MODEL) and prints the report.\n";

static int part_of(const char *split) {
    if (!strcmp(split, "train")) return SERMO_PART_TRAIN;
    if (!strcmp(split, "val")) return SERMO_PART_VAL;
    if (!strcmp(split, "test")) return SERMO_PART_TEST;
    if (!strcmp(split, "all")) return -1;
    return -2;
}

/* The data settings the model was trained with (its "config.data.*"
 * metadata), then argv's key=value overrides. */
static sermo_config *data_config(const sermo_model *m, int argc, char **argv) {
    static const char *keys[] = {"data.kind", "data.target", "data.labels", "data.demographics"};
    sermo_config *c = sermo_config_init();
    for (size_t i = 0; c && i < sizeof keys / sizeof *keys; i++) {
        char key[64];
        snprintf(key, sizeof key, "config.%s", keys[i]);
        const char *v = sermo_model_meta(m, key);
        if (v && sermo_config_set(c, keys[i], v)) {
            sermo_config_free(c);
            return NULL;
        }
    }
    if (c && cli_apply_overrides(c, argc, argv)) {
        sermo_config_free(c);
        return NULL;
    }
    return c;
}

int cli_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(eval_usage, stdout);
        return 0;
    }
    const char *data = NULL, *split = "test", *split_file = NULL, *out = NULL, *cache_dir = NULL;
    cli_flag flags[] = {{"--data", &data, NULL},       {"--split", &split, NULL}, {"--split-file", &split_file, NULL},
                        {"--out", &out, NULL},         {"--cache", &cache_dir, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int rc = 1, which = part_of(split);
    sermo_model *m = NULL;
    sermo_config *config = NULL;
    sermo_corpus *corpus = NULL;
    sermo_cache *cache = NULL;
    int8_t *part = NULL;
    sermo_error err;
    char dir[4096], path[4096], model_dir[2048];
    if (args.n_positional != 1 || !data || which == -2) {
        fputs(eval_usage, stderr);
        rc = 2;
        goto done;
    }
    const char *model_path = args.positional[0];
    if (!(m = sermo_model_load(model_path, 0, &err))) {
        cli_error("%s", err.msg);
        goto done;
    }
    snprintf(model_dir, sizeof model_dir, "%s", model_path);
    dirname(model_dir);
    if (!(config = data_config(m, argc, argv)) || cli_open_corpus(config, data, &corpus)) goto done;
    int64_t n = sermo_corpus_size(corpus);
    if (!(part = malloc((size_t)n))) {
        cli_error("out of memory");
        goto done;
    }
    if (which >= 0) {
        if (!split_file) snprintf(path, sizeof path, "%s/split.csv", model_dir);
        else snprintf(path, sizeof path, "%s", split_file);
        if (sermo_split_read(path, corpus, part, &err)) {
            cli_error("%s (use --split all to evaluate every clip)", err.msg);
            goto done;
        }
    }
    /* An ensemble's members compute their own features: it classifies the audio. */
    if (sermo_model_n_members(m) == 1 &&
        !(cache = cli_open_cache(corpus, sermo_model_audio_params(m), sermo_model_feature_params(m), cache_dir, 0,
                                 NULL, NULL)))
        goto done;
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else snprintf(dir, sizeof dir, "%s/eval", model_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create folder: %s", dir, strerror(errno));
        goto done;
    }
    sermo_metrics metrics;
    rc = cli_evaluate(m, corpus, cache, part, which, dir, split, &metrics);
    if (rc == 0) printf("reports in %s/\n", dir);
done:
    free(part);
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
    sermo_config_free(config);
    sermo_model_free(m);
    cli_args_free(&args);
    return rc;
}
