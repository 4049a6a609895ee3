/* evaluate.c: what `sermo train` (on its test split) and `sermo eval` share:
 * predict every chosen clip, then write classification_report.txt,
 * metrics.json and confusion_matrix.png; and the training curves. */
#include "cli.h"

#include "corpus/cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The same emotion: the same name, or names with one common-6 meaning, so
 * a RAVDESS model ("fearful", "angry") scores TESS's "fear" and EmoDB's
 * "anger" clips. */
static int same_emotion(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    const char *ca = sermo_corpus_map_common6(a), *cb = sermo_corpus_map_common6(b);
    return ca && cb && !strcmp(ca, cb);
}

/* The model's label for each corpus class, or -1. */
static int32_t *map_classes(const sermo_model *m, const sermo_corpus *c) {
    int32_t n = sermo_corpus_n_classes(c);
    int32_t *map = malloc(sizeof *map * (size_t)(n ? n : 1));
    for (int32_t k = 0; map && k < n; k++) {
        map[k] = -1;
        for (int32_t j = 0; j < sermo_model_n_classes(m) && map[k] < 0; j++)
            if (same_emotion(sermo_corpus_class_name(c, k), sermo_model_class_name(m, j))) map[k] = j;
    }
    return map;
}

int cli_evaluate(sermo_model *m, const sermo_corpus *corpus, const sermo_cache *cache, const int8_t *part,
                 int which, const char *dir, const char *split_name, sermo_metrics *out) {
    int64_t n = cache ? sermo_cache_size(cache) : sermo_corpus_size(corpus), used = 0, unknown = 0;
    int32_t L = sermo_model_n_classes(m);
    int32_t *map = map_classes(m, corpus), *truth = malloc(sizeof(int32_t) * (size_t)n);
    float *probs = malloc(sizeof(float) * (size_t)n * (size_t)L);
    const char **names = malloc(sizeof *names * (size_t)L);
    /* One item at a time, copied out: mapped pages would stay resident. */
    size_t cap = cache ? (size_t)sermo_cache_n_bins(cache) * (size_t)sermo_cache_max_frames(cache) : 1;
    float *x = malloc(sizeof(float) * cap);
    int rc = 1;
    sermo_error err;
    if (!map || !truth || !probs || !names || !x) {
        cli_error("out of memory");
        goto done;
    }
    for (int32_t k = 0; k < L; k++) names[k] = sermo_model_class_name(m, k);
    int64_t in_split = 0, done_items = 0; /* the bar counts the split's clips */
    for (int64_t i = 0; i < n; i++) in_split += which < 0 || part[i] == which;
    cli_progress bar;
    cli_progress_init(&bar, "evaluating");
    for (int64_t i = 0; i < n; i++) {
        if (which >= 0 && part[i] != which) continue;
        done_items++;
        const sermo_item *item = sermo_corpus_item(corpus, i);
        int32_t y = map[cache ? sermo_cache_label(cache, i) : item->label];
        if (y < 0) {
            unknown++;
            continue;
        }
        int64_t frames;
        float *p = probs + (size_t)used * L;
        if (cache ? sermo_cache_read_item(cache, i, x, cap, &frames, &err) ||
                        sermo_model_predict_features(m, x, frames, p, &err)
                  : sermo_model_predict_file(m, item->path, p, &err)) {
            cli_error("%s: %s", item->path, err.msg);
            goto done;
        }
        truth[used++] = y;
        cli_progress_update(done_items, in_split, NULL, &bar);
    }
    cli_progress_update(in_split, in_split, NULL, &bar); /* close the bar when the last clips were skipped */
    if (unknown) fprintf(stderr, "sermo: %lld clips skipped: their class is not one the model knows\n", (long long)unknown);
    if (used == 0) {
        cli_error("no clips to evaluate in the %s split", split_name);
        goto done;
    }
    if (sermo_metrics_compute_probs(truth, probs, used, L, out, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    char path[4096], title[256];
    snprintf(title, sizeof title, "%s split, %lld clips", split_name, (long long)used);
    sermo_report_field extra[] = {{"split", split_name, 0}, {"skipped_unknown_class", NULL, (double)unknown}};
    snprintf(path, sizeof path, "%s/classification_report.txt", dir);
    if (sermo_report_classification_txt(path, out, names, &err)) goto fail;
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    if (sermo_report_metrics_json(path, out, names, extra, 2, &err)) goto fail;
    snprintf(path, sizeof path, "%s/confusion_matrix.png", dir);
    if (sermo_report_confusion_png(path, out, names, title, &err)) goto fail;
    char report[16384];
    sermo_metrics_format_report(out, names, 4, report, sizeof report);
    printf("%s split (%lld clips):\n%s", split_name, (long long)used, report);
    printf("UAR %.4f  macro-F1 %.4f  weighted-F1 %.4f\n", out->uar, out->macro_f1, out->weighted_f1);
    rc = 0;
    goto done;
fail:
    cli_error("%s", err.msg);
done:
    free(map);
    free(truth);
    free(probs);
    free(names);
    free(x);
    return rc;
}

int cli_write_curves(const char *dir, int32_t averaged) {
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/history.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return cli_error("%s: cannot read", path);
    enum { MAX_EPOCHS = 10000 };
    float *cols = malloc(sizeof(float) * 6 * MAX_EPOCHS);
    int32_t n = 0;
    if (!cols) {
        fclose(f);
        return cli_error("out of memory");
    }
    float *lr = cols, *tl = cols + MAX_EPOCHS, *ta = cols + 2 * MAX_EPOCHS, *vl = cols + 3 * MAX_EPOCHS,
          *va = cols + 4 * MAX_EPOCHS, *f1 = cols + 5 * MAX_EPOCHS;
    /* history.csv: epoch,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1,seconds */
    while (fgets(line, sizeof line, f) && n < MAX_EPOCHS) {
        int epoch;
        if (sscanf(line, "%d,%f,%f,%f,%f,%f,%f", &epoch, &lr[n], &tl[n], &ta[n], &vl[n], &va[n], &f1[n]) == 7) n++;
    }
    fclose(f);
    /* Without validation clips the val columns are nan: no val curves, no mark. */
    int validated = n > 0 && !isnan(f1[0]);
    int32_t best = validated ? 0 : -1; /* the epoch whose model was kept: highest val macro-F1, first on ties */
    for (int32_t i = 1; validated && i < n; i++)
        if (f1[i] > f1[best]) best = i;
    sermo_curves c = {.n_epochs = n, .train_loss = tl, .val_loss = validated ? vl : NULL, .train_acc = ta,
                      .val_acc = validated ? va : NULL, .lr = lr, .best_epoch = best, .title = "Training curves"};
    char title[160];
    if (averaged > 0 && !validated) {
        snprintf(title, sizeof title, "Training curves (the model saved: the mean of the last %d epochs)", averaged);
        c.title = title;
    } else if (averaged > 0) {
        snprintf(title, sizeof title,
                 "Training curves (marked: the best validation epoch; the model saved: the mean of the last %d epochs)",
                 averaged);
        c.title = title;
    }
    snprintf(path, sizeof path, "%s/training_curves.png", dir);
    sermo_error err;
    int rc = n > 0 && sermo_report_curves_png(path, &c, &err) ? cli_error("%s", err.msg) : 0;
    free(cols);
    return rc;
}
