/* cmd_train.c: `sermo train PATH --out DIR`: corpus -> split -> feature cache
 * -> training run (src/train). */
#include "cli.h"

#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *train_usage =
    "usage: sermo train [PATH] --out DIR [--resume] [--cache DIR] [--config FILE] [key=value ...]\n"
    "\n"
    "Trains a classifier on the corpus folder or CSV manifest PATH (several joined\n"
    "by commas; default: the data.path key). Splits it (data.split=random|speaker|kfold,\n"
    "data.val_speakers, data.test_speakers, data.folds, data.fold, data.seed; a run\n"
    "that resumes reuses DIR/split.csv), builds or reuses the feature cache, then\n"
    "trains with the model and train.* keys (train.epochs, train.lr, ...).\n"
    "model.init_from=FILE starts from the matching tensors of a saved model;\n"
    "train.freeze, train.freeze_blocks and train.slow_blocks fine-tune parts of it;\n"
    "train.speed, train.noise_prob, train.gain_db and train.shift_ms augment the\n"
    "training audio.\n"
    "\n"
    "DIR receives config.yaml, split.csv, history.csv (one line per epoch),\n"
    "model.safetensors (the best epoch by validation macro-F1; the last epoch\n"
    "when the split has no validation clips, e.g. data.split=kfold data.val_folds=0)\n"
    "and checkpoint.safetensors; --resume continues from the checkpoint. Ctrl-C stops\n"
    "after the current epoch, which can then be resumed.\n";

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

int cli_train_interrupted(void) { return interrupted != 0; }

typedef struct train_display {
    cli_progress bar;
    int32_t epoch;
    int reconstructs; /* the autoencoder: its loss is the MSE, it has no accuracy */
} train_display;

static int show_progress(const train_progress *p, void *user_data) {
    train_display *d = user_data;
    if (p->init_from) {
        printf("init_from: copied %d of %d tensors from %s\n", p->init_copied, p->init_total, p->init_from);
        fflush(stdout);
    } else if (!p->epoch_done) {
        if (p->batch == 1 || d->epoch != p->epoch) {
            d->epoch = p->epoch;
            cli_progress_init(&d->bar, "train");
        }
        char what[64];
        snprintf(what, sizeof what, "epoch %d/%d loss %.3f", p->epoch + 1, p->epochs, p->loss);
        cli_progress_update(p->batch, p->n_batches, what, &d->bar);
    } else {
        const train_epoch_result *r = p->epoch_done;
        if (isnan(r->val_loss))
            fprintf(stderr, "epoch %d/%d: lr %.3g train loss %.4f acc %.3f | no validation (%.1fs)\n", r->epoch + 1,
                    p->epochs, r->lr, r->train_loss, r->train_acc, r->seconds);
        else if (d->reconstructs)
            fprintf(stderr, "epoch %d/%d: lr %.3g train MSE %.4f | val MSE %.4f (%.1fs)\n", r->epoch + 1, p->epochs,
                    r->lr, r->train_loss, r->val_loss, r->seconds);
        else
            fprintf(stderr,
                    "epoch %d/%d: lr %.3g train loss %.4f acc %.3f | val loss %.4f acc %.3f macro-F1 %.3f (%.1fs)\n",
                    r->epoch + 1, p->epochs, r->lr, r->train_loss, r->train_acc, r->val_loss, r->val_acc,
                    r->val_macro_f1, r->seconds);
    }
    return interrupted;
}

static int make_dirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) && errno != EEXIST) return cli_error("%s: cannot create: %s", buf, strerror(errno));
            if (!c) return 0;
            *p = c;
        }
    }
}

/* A numeric config value in [lo, hi], whole when lo and hi are; absent keeps *out. */
static int config_number(const sermo_config *config, const char *key, double lo, double hi, double *out) {
    const char *v = sermo_config_get(config, key);
    if (!v) return 0;
    char *end;
    double x = strtod(v, &end);
    int whole = lo == (double)(int64_t)lo && hi == (double)(int64_t)hi && hi > 1;
    if (end == v || *end || !(x >= lo && x <= hi) || (whole && x != (double)(int64_t)x))
        return cli_error("%s: '%s' is not a %s in [%g, %g]", key, v, whole ? "whole number" : "number", lo, hi);
    *out = x;
    return 0;
}

int cli_split_params(const sermo_config *config, sermo_split_params *sp) {
    sermo_split_default_params(sp);
    const char *v;
    if ((v = sermo_config_get(config, "data.split"))) {
        if (!strcmp(v, "random")) sp->kind = SERMO_SPLIT_RANDOM;
        else if (!strcmp(v, "speaker")) sp->kind = SERMO_SPLIT_SPEAKER;
        else if (!strcmp(v, "kfold")) sp->kind = SERMO_SPLIT_KFOLD;
        else return cli_error("data.split: '%s' is not one of random, speaker, kfold", v);
    }
    sp->val_speakers = sermo_config_get(config, "data.val_speakers");
    sp->test_speakers = sermo_config_get(config, "data.test_speakers");
    double seed = (double)sp->seed, val = sp->val_fraction, test = sp->test_fraction, folds = sp->folds,
           fold = sp->fold, val_folds = sp->val_folds;
    if (config_number(config, "data.seed", 0, 9007199254740992.0, &seed) ||
        config_number(config, "data.val_fraction", 0, 1, &val) ||
        config_number(config, "data.test_fraction", 0, 1, &test) ||
        config_number(config, "data.folds", 2, 1000, &folds) || config_number(config, "data.fold", 0, 999, &fold) ||
        config_number(config, "data.val_folds", 0, 1, &val_folds))
        return 1;
    sp->seed = (uint64_t)seed;
    sp->val_fraction = (float)val;
    sp->test_fraction = (float)test;
    sp->folds = (int32_t)folds;
    sp->fold = (int32_t)fold;
    if (val_folds != 0 && val_folds != 1) return cli_error("data.val_folds: '%g' is not 0 or 1", val_folds);
    sp->val_folds = (int32_t)val_folds;
    return 0;
}

/* After training: the best model on the test split (reports beside it), and
 * the test metrics and split summary written into the model file. */
static int finish_run(const char *out, const sermo_corpus *corpus, const sermo_cache *cache, const int8_t *part,
                      const sermo_split_params *sp, int classifies) {
    int64_t counts[3] = {0, 0, 0};
    for (int64_t i = 0; i < sermo_corpus_size(corpus); i++) counts[part[i]]++;
    char path[1200], summary[256], metrics[512];
    snprintf(summary, sizeof summary, "{\"kind\":\"%s\",\"train\":%lld,\"val\":%lld,\"test\":%lld}",
             sp->kind == SERMO_SPLIT_SPEAKER ? "speaker" : sp->kind == SERMO_SPLIT_KFOLD ? "kfold" : "random",
             (long long)counts[0], (long long)counts[1], (long long)counts[2]);
    snprintf(metrics, sizeof metrics, "null");
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    sermo_error err;
    if (counts[SERMO_PART_TEST] > 0 && classifies) {
        sermo_model *m = sermo_model_load(path, 0, &err);
        if (!m) return cli_error("%s", err.msg);
        sermo_metrics r;
        int rc = cli_evaluate(m, corpus, cache, part, SERMO_PART_TEST, out, "test", &r);
        sermo_model_free(m);
        if (rc) return rc;
        snprintf(metrics, sizeof metrics,
                 "{\"n\":%lld,\"accuracy\":%.6f,\"uar\":%.6f,\"macro_f1\":%.6f,\"weighted_f1\":%.6f}",
                 (long long)r.n, r.accuracy, r.uar, r.macro_f1, r.weighted_f1);
    }
    const char *keys[] = {"split", "test_metrics"}, *values[] = {summary, metrics};
    if (train_model_set_meta(path, keys, values, 2, &err)) return cli_error("%s", err.msg);
    return 0;
}

int cli_train(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(train_usage, stdout);
        return 0;
    }
    const char *out = NULL, *cache_dir = NULL;
    int resume = 0;
    cli_flag flags[] = {{"--out", &out, NULL}, {"--cache", &cache_dir, NULL}, {"--resume", NULL, &resume},
                        {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    interrupted = 0; /* `sermo pipeline` calls this once per model */
    int rc = 1;
    sermo_corpus *corpus = NULL;
    sermo_cache *cache = NULL;
    train_waves waves = {.fd = -1};
    int8_t *part = NULL;
    const char **names = NULL, **keys = NULL, **values = NULL;
    sermo_error err;
    const char *path = args.n_positional == 1 ? args.positional[0] : sermo_config_get(args.config, "data.path");
    if (args.n_positional > 1 || !path || !out) {
        fputs(train_usage, stderr);
        rc = 2;
        goto done;
    }
    train_options opt;
    train_options_default(&opt);
    if (train_options_from_config(args.config, &opt, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (strlen(out) >= sizeof opt.out_dir) {
        cli_error("--out: path too long");
        goto done;
    }
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s", out);
    opt.resume = opt.resume || resume;
    sermo_audio_params ap;
    sermo_feature_params fp;
    sermo_split_params sp;
    if (cli_audio_features(args.config, &ap, &fp) || cli_split_params(args.config, &sp) ||
        cli_open_corpus(args.config, path, &corpus) || make_dirs(out))
        goto done;

    /* The split: reused when resuming (the run must see the same items). */
    char file[1200];
    int64_t n = sermo_corpus_size(corpus);
    part = malloc((size_t)n);
    if (!part) {
        cli_error("out of memory");
        goto done;
    }
    snprintf(file, sizeof file, "%s/split.csv", out);
    if ((opt.resume ? sermo_split_read(file, corpus, part, &err)
                    : sermo_split_make(corpus, &sp, part, &err) || sermo_split_write(file, corpus, part, &err)) ||
        train_check_validation(&opt, part, n, &err)) { /* before the features are computed */
        cli_error("%s", err.msg);
        goto done;
    }
    snprintf(file, sizeof file, "%s/config.yaml", out);
    if (sermo_config_write_yaml(args.config, file, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }

    if (!(cache = cli_open_cache(corpus, &ap, &fp, cache_dir, opt.threads, NULL, NULL))) goto done;

    /* Waveform augmentation rebuilds the training items from their audio,
     * decoded once here with the settings the cache was built with, into a
     * temporary file beside the cache (read back one clip at a time). */
    train_wave_aug aug;
    if (train_wave_aug_from_options(&aug, &opt)) {
        if (train_waves_load(&waves, corpus, part, SERMO_PART_TRAIN, &ap, opt.threads,
                             cache_dir ? cache_dir : "cache", &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        int64_t clips = 0;
        for (int64_t i = 0; i < n; i++) clips += train_waves_has(&waves, i);
        fprintf(stderr, "training audio: %lld clips, %.1f MiB in a temporary file\n", (long long)clips,
                (double)waves.bytes / (1024.0 * 1024.0));
    }

    /* The model file carries the audio and feature settings it was trained with. */
    int32_t n_classes = sermo_corpus_n_classes(corpus), n_keys = sermo_config_n_keys(args.config), n_meta = 0;
    names = calloc((size_t)n_classes, sizeof *names);
    keys = calloc((size_t)n_keys + 1, sizeof *keys);
    values = calloc((size_t)n_keys + 1, sizeof *values);
    if (!names || !keys || !values) {
        cli_error("out of memory");
        goto done;
    }
    for (int32_t c = 0; c < n_classes; c++) names[c] = sermo_corpus_class_name(corpus, c);
    /* Every resolved setting, as "config.<key>", so the file describes its run. */
    for (int32_t i = 0; i < n_keys && n_meta < TRAIN_META_MAX; i++) {
        const char *k = sermo_config_key(args.config, i);
        size_t len = strlen(k) + sizeof "config.";
        if (!(keys[n_meta] = malloc(len))) break;
        snprintf((char *)keys[n_meta], len, "config.%s", k);
        values[n_meta++] = sermo_config_get(args.config, k);
    }
    train_data data = {.cache = cache, .part = part, .n_classes = n_classes, .class_names = names,
                       .meta_keys = keys, .meta_values = values, .n_meta = n_meta,
                       .waves = waves.offset ? &waves : NULL, .features = &fp};
    /* An unknown name fails in train_run, with the list of known ones. */
    const model_spec *spec = model_registry_find(opt.model);
    train_display display = {.epoch = -1, .reconstructs = spec && spec->reconstructs};
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    train_result res;
    sermo_status st = train_run(&opt, &data, show_progress, &display, &res, &err);
    sigaction(SIGINT, &old, NULL);
    if (st) {
        cli_error("%s", err.msg);
        goto done;
    }
    /* A reconstructing model (the autoencoder) is selected on -validation loss. */
    int classifies = !display.reconstructs;
    const char *how = res.stopped_early ? " (early stop)" : res.interrupted ? " (interrupted; --resume continues)" : "";
    if (!res.validated)
        printf("%s: %d epochs%s; no validation clips: the model is epoch %d's\n", out, res.epochs_run, how,
               res.best_epoch + 1);
    else
        printf("%s: %d epochs%s; best validation %s %.4f at epoch %d\n", out, res.epochs_run, how,
               classifies ? "macro-F1" : "reconstruction MSE", classifies ? res.best_macro_f1 : -res.best_macro_f1,
               res.best_epoch + 1);
    if (res.averaged && !res.validated)
        printf("  the model saved is the mean of the last %d epochs' weights (train.average_last)\n", res.averaged);
    else if (res.averaged)
        printf("  the model saved is the mean of the last %d epochs' weights (train.average_last): validation "
               "accuracy %.4f, %s %.4f\n", res.averaged, res.average.val_acc,
               classifies ? "macro-F1" : "reconstruction MSE",
               classifies ? res.average.val_macro_f1 : -res.average.val_macro_f1);
    if (cli_write_curves(out, res.averaged) || finish_run(out, corpus, cache, part, &sp, classifies)) goto done;
    if (!classifies) {
        printf("  model:      %s/model.safetensors (an encoder for model.init_from=...)\n", out);
        rc = 0;
        goto done;
    }
    printf("  model:      %s/model.safetensors\n  history:    %s/history.csv (training_curves.png)\n"
           "  checkpoint: %s/checkpoint.safetensors\n  split:      %s/split.csv\n",
           out, out, out, out);
    int tested = 0;
    for (int64_t i = 0; i < sermo_corpus_size(corpus); i++) tested |= part[i] == SERMO_PART_TEST;
    if (tested) printf("  test:       %s/classification_report.txt, metrics.json, confusion_matrix.png\n", out);
    else printf("  test:       none (no test speakers or clips)\n");
    rc = 0;
done:
    free(names);
    for (int32_t i = 0; keys && keys[i]; i++) free((char *)keys[i]);
    free(keys);
    free(values);
    free(part);
    train_waves_free(&waves);
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
    cli_args_free(&args);
    return rc;
}
