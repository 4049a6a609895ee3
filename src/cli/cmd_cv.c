/* cmd_cv.c: `sermo cv PATH --folds K --by speaker --out DIR`: k-fold
 * cross-validation by speaker. Fold k is `sermo train` itself into
 * DIR/fold-<k> with data.split=kfold data.folds=K data.fold=k (src/corpus/
 * split.c deals whole speakers into the folds; fold k is test, fold k+1
 * validation). The tables are rewritten after every fold, so an interrupted
 * run leaves what it finished, and a rerun reuses the folds already done. */
#include "cli.h"

#include "corpus/corpus_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *cv_usage =
    "usage: sermo cv [PATH] --out DIR [--folds K] [--by speaker] [--cache DIR] [--config FILE]\n"
    "                [--fuse DIR,DIR...] [key=value ...]\n"
    "\n"
    "K-fold cross-validation on the corpus folder or CSV manifest PATH: the\n"
    "speakers are shuffled with data.seed and dealt into K folds (--folds,\n"
    "default 6, at least 2); fold k is trained as `sermo train PATH --out\n"
    "DIR/fold-<k> [your settings] data.split=kfold data.folds=K data.fold=k`, so\n"
    "its test speakers are fold k's, its validation speakers fold k+1's (none\n"
    "when K is 2, or with data.val_folds=0 and train.patience=0: the last epoch\n"
    "is kept) and it trains on the rest. --by speaker is the only grouping for\n"
    "now: no speaker is ever in two parts of one fold.\n"
    "\n"
    "DIR/folds.csv (path,speaker,fold) names every clip's test fold. After each\n"
    "fold, DIR/cv.csv and DIR/cv.md are rewritten: per fold its test speakers,\n"
    "clips, accuracy, UAR (macro recall), macro-F1, weighted-F1, epochs and\n"
    "training seconds, then the mean +- sample standard deviation over the\n"
    "completed folds. At the end DIR/cv.json holds the same numbers and the\n"
    "pooled ones, and DIR/confusion_matrix.png the confusion matrix summed over\n"
    "the folds' test sets. A fold that fails gets a row with its error and the\n"
    "others still run; the exit code is then 1.\n"
    "\n"
    "Running the same command again reuses every fold whose metrics.json exists\n"
    "and whose split.csv and config.yaml are the ones this run would use;\n"
    "a fold stopped by Ctrl-C is resumed from its checkpoint, the others are\n"
    "trained again.\n"
    "\n"
    "--fuse A,B,... trains nothing: fold k is the ensemble (`sermo ensemble`,\n"
    "equal weights) of A/fold-<k>/model.safetensors, B/fold-<k>/... from earlier\n"
    "cv runs with the same folds (checked), evaluated on fold k's test clips\n"
    "(`sermo eval`), so late fusion is cross-validated like a single model.\n";

typedef enum cv_state { CV_PENDING, CV_DONE, CV_FAILED } cv_state;

typedef struct cv_fold {
    cv_state state;
    char *speakers; /* the test speakers, space-separated */
    int64_t clips;  /* test clips */
    double accuracy, uar, macro_f1, weighted_f1, train_s;
    int32_t epochs;
    char error[1024]; /* a file name and a reason */
} cv_fold;

/* Everything one cv run holds; n clips of the corpus, K folds. */
typedef struct cv_run {
    const char *out;
    int32_t K;
    uint64_t seed;
    cv_fold *folds;             /* (K) */
    int8_t *parts;              /* (K, n): SERMO_PART_* of every clip in each fold */
    int32_t *fold_of;           /* (n): the fold whose test set holds the clip */
    const sermo_corpus *corpus; /* folds.csv */
    const char *fuse;           /* --fuse: comma list of cv run folders, or NULL */
    /* The test confusion matrices of the completed folds summed, classes by name. */
    int32_t n_classes;
    char *class_names[SERMO_METRICS_MAX_CLASSES];
    int64_t confusion[SERMO_METRICS_MAX_CLASSES * SERMO_METRICS_MAX_CLASSES]; /* (true, predicted) */
} cv_run;

#define CV_PATH_MAX 4096

static int fold_fail(cv_fold *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fold_fail(cv_fold *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof f->error, fmt, ap);
    va_end(ap);
    f->state = CV_FAILED;
    return 1;
}

/* ------------------------------------------------------------ the folds */

/* Each fold's split as `sermo train` will make it, the clips' test folds and
 * each fold's test speakers. Byte-identical clips of two speakers would be
 * tested twice (split.c keeps copies in the most held-out part): warned. */
static int cv_make_folds(cv_run *cv, const sermo_config *config) {
    int64_t n = sermo_corpus_size(cv->corpus);
    sermo_split_params sp;
    if (cli_split_params(config, &sp)) return 1;
    cv->seed = sp.seed;
    if (!(cv->parts = malloc((size_t)n * (size_t)cv->K)) || !(cv->fold_of = malloc(sizeof(int32_t) * (size_t)n)))
        return cli_error("out of memory");
    sermo_error err;
    for (int32_t k = 0; k < cv->K; k++) {
        sp.fold = k;
        if (sermo_split_make(cv->corpus, &sp, cv->parts + (size_t)k * (size_t)n, &err))
            return cli_error("%s", err.msg);
    }
    const char **seen = malloc(sizeof *seen * (size_t)n);
    if (!seen) return cli_error("out of memory");
    for (int64_t i = 0; i < n; i++) cv->fold_of[i] = -1;
    int rc = 0;
    for (int32_t k = 0; k < cv->K && !rc; k++) {
        const int8_t *part = cv->parts + (size_t)k * (size_t)n;
        size_t len = 1;
        int64_t u = 0;
        for (int64_t i = 0; i < n; i++) {
            if (part[i] != SERMO_PART_TEST) continue;
            const sermo_item *it = sermo_corpus_item(cv->corpus, i);
            if (cv->fold_of[i] >= 0)
                fprintf(stderr, "sermo: warning: %s is tested in folds %d and %d (a byte-identical copy is in both)\n",
                        it->path, cv->fold_of[i], k);
            else cv->fold_of[i] = k;
            cv->folds[k].clips++;
            int64_t s = 0;
            while (s < u && strcmp(seen[s], it->speaker)) s++;
            if (s == u) {
                seen[u++] = it->speaker;
                len += strlen(it->speaker) + 1;
            }
        }
        if (!(cv->folds[k].speakers = malloc(len))) {
            rc = cli_error("out of memory");
            break;
        }
        char *p = cv->folds[k].speakers;
        *p = 0;
        for (int64_t s = 0; s < u; s++) p += sprintf(p, "%s%s", s ? " " : "", seen[s]);
    }
    free(seen);
    return rc;
}

static void fill_folds_csv(FILE *f, const void *ctx) {
    const cv_run *cv = ctx;
    fputs("path,speaker,fold\n", f);
    for (int64_t i = 0; i < sermo_corpus_size(cv->corpus); i++) {
        const sermo_item *it = sermo_corpus_item(cv->corpus, i);
        sermo_corpus_csv_write_field(f, it->path);
        fputc(',', f);
        sermo_corpus_csv_write_field(f, it->speaker);
        fprintf(f, ",%d\n", cv->fold_of[i]);
    }
}

/* ------------------------------------------------------ one fold's files */

/* Does run/split.csv give every clip the part this fold expects? */
static int split_matches(const cv_run *cv, int32_t k, const char *run) {
    char path[CV_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/split.csv", run);
    int64_t n = sermo_corpus_size(cv->corpus);
    int8_t *got = malloc((size_t)(n ? n : 1));
    sermo_error err;
    int same = got && !sermo_split_read(path, cv->corpus, got, &err) &&
               !memcmp(got, cv->parts + (size_t)k * (size_t)n, (size_t)n);
    free(got);
    return same;
}

/* Does run/config.yaml hold exactly the settings of want (every key, same
 * value)? Catches a rerun with another model or other train.* keys. */
static int config_matches(const sermo_config *want, const char *run) {
    char path[CV_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.yaml", run);
    sermo_config *had = sermo_config_init();
    sermo_error err;
    int same = had && access(path, R_OK) == 0 && !sermo_config_load_yaml(had, path, &err) &&
               sermo_config_n_keys(had) == sermo_config_n_keys(want);
    for (int32_t i = 0; same && i < sermo_config_n_keys(want); i++) {
        const char *key = sermo_config_key(want, i), *v = sermo_config_get(had, key);
        same = v && !strcmp(v, sermo_config_get(want, key));
    }
    sermo_config_free(had);
    return same;
}

static int file_exists(const char *dir, const char *name) {
    char path[CV_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The number at key of object j, or a failed fold naming the file. */
static int json_number(cv_fold *f, const cJSON *j, const char *key, const char *path, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) return fold_fail(f, "%s: no number '%s'", path, key);
    *out = v->valuedouble;
    return 0;
}

/* The index of class `name` in the summed matrix, added when new; -1 when full. */
static int32_t cv_class_index(cv_run *cv, const char *name) {
    for (int32_t c = 0; c < cv->n_classes; c++)
        if (!strcmp(cv->class_names[c], name)) return c;
    if (cv->n_classes == SERMO_METRICS_MAX_CLASSES || !(cv->class_names[cv->n_classes] = strdup(name))) return -1;
    return cv->n_classes++;
}

/* The test metrics `sermo train` wrote into run/metrics.json; its confusion
 * matrix (with the class names that order it) is added to the sum. */
static int read_metrics(cv_run *cv, cv_fold *f, const char *run) {
    char path[CV_PATH_MAX + 32];
    size_t len;
    snprintf(path, sizeof path, "%s/metrics.json", run);
    char *text = cli_read_file(path, &len);
    if (!text) return fold_fail(f, "%s: missing", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    int rc = j ? 0 : fold_fail(f, "%s: not JSON", path);
    rc = rc || json_number(f, j, "accuracy", path, &f->accuracy) || json_number(f, j, "uar", path, &f->uar) ||
         json_number(f, j, "macro_f1", path, &f->macro_f1) || json_number(f, j, "weighted_f1", path, &f->weighted_f1);
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "class_names");
    const cJSON *matrix = cJSON_GetObjectItemCaseSensitive(j, "confusion_matrix");
    int32_t K = cJSON_GetArraySize(names), map[SERMO_METRICS_MAX_CLASSES];
    if (!rc && (!cJSON_IsArray(names) || !cJSON_IsArray(matrix) || K < 1 || K > SERMO_METRICS_MAX_CLASSES ||
                cJSON_GetArraySize(matrix) != K))
        rc = fold_fail(f, "%s: no class_names and K x K confusion_matrix", path);
    for (int32_t c = 0; c < K && !rc; c++) {
        const cJSON *name = cJSON_GetArrayItem(names, c);
        if (!cJSON_IsString(name) || (map[c] = cv_class_index(cv, name->valuestring)) < 0)
            rc = fold_fail(f, "%s: class %d is not a name, or more than %d classes", path, c,
                           SERMO_METRICS_MAX_CLASSES);
    }
    /* Checked whole before adding, so a bad file leaves the sum as it was. */
    for (int32_t r = 0; r < K && !rc; r++) {
        const cJSON *row = cJSON_GetArrayItem(matrix, r);
        for (int32_t c = 0; c < K && !rc; c++) {
            const cJSON *v = cJSON_GetArrayItem(row, c);
            if (cJSON_GetArraySize(row) != K || !cJSON_IsNumber(v) || v->valuedouble < 0 ||
                v->valuedouble != floor(v->valuedouble))
                rc = fold_fail(f, "%s: confusion_matrix[%d][%d] is not a count", path, r, c);
        }
    }
    for (int32_t r = 0; r < K && !rc; r++)
        for (int32_t c = 0; c < K; c++)
            cv->confusion[map[r] * SERMO_METRICS_MAX_CLASSES + map[c]] +=
                (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(matrix, r), c)->valuedouble;
    cJSON_Delete(j);
    return rc;
}

/* `sermo train` for fold k: the user's arguments, then the split keys last so
 * they win (keys holds their text). Returns the count of argv. */
static int train_argv(const cli_args *args, const char *path, const char *cache, const char *run, int resume,
                      char keys[3][64], int32_t K, int32_t k, const char **argv) {
    snprintf(keys[0], 64, "data.split=kfold");
    snprintf(keys[1], 64, "data.folds=%d", K);
    snprintf(keys[2], 64, "data.fold=%d", k);
    const char *last[] = {keys[0], keys[1], keys[2]};
    return cli_train_argv(args, path, cache, run, resume, last, 3, argv);
}

/* The fold's settings exactly as its `sermo train` resolves them. */
static sermo_config *fold_config(int argc, const char **argv) {
    const char *out = NULL, *cache = NULL;
    int resume = 0;
    cli_flag flags[] = {{"--out", &out, NULL}, {"--cache", &cache, NULL}, {"--resume", NULL, &resume},
                        {NULL, NULL, NULL}};
    cli_args a;
    if (cli_parse(argc, (char **)argv, flags, &a)) return NULL;
    sermo_config *config = a.config;
    a.config = NULL;
    cli_args_free(&a);
    return config;
}

#define CV_MAX_FUSED 8

/* --fuse: fold k as the ensemble of the listed runs' fold-k models, each
 * checked to be trained on this fold's split, evaluated on its test part;
 * the members' epochs (most) and training seconds (sum) fill the row. */
static void fuse_fold(cv_run *cv, int32_t k, const char *path, const char *run) {
    cv_fold *f = &cv->folds[k];
    char members[CV_MAX_FUSED][CV_PATH_MAX + 64], split[CV_PATH_MAX + 32], target[CV_PATH_MAX + 32];
    const char *argv[8 + CV_MAX_FUSED] = {"ensemble", "-o", target};
    int n = 0;
    double seconds = 0;
    snprintf(target, sizeof target, "%s/model.safetensors", run);
    for (const char *p = cv->fuse; *p; n++) {
        size_t len = strcspn(p, ",");
        char dir[CV_PATH_MAX];
        if (n == CV_MAX_FUSED || len + 16 >= sizeof dir) {
            fold_fail(f, "--fuse: more than %d runs, or a path too long", CV_MAX_FUSED);
            return;
        }
        snprintf(dir, sizeof dir, "%.*s/fold-%d", (int)len, p, k);
        if (!split_matches(cv, k, dir)) {
            fold_fail(f, "%s: not trained on this fold's split (split.csv differs or is missing)", dir);
            return;
        }
        int32_t epochs = 0;
        double s = 0;
        char msg[sizeof f->error];
        if (cli_read_history(dir, &epochs, &s, msg, sizeof msg)) {
            fold_fail(f, "%s", msg);
            return;
        }
        if (epochs > f->epochs) f->epochs = epochs;
        seconds += s;
        snprintf(members[n], sizeof members[n], "%s/model.safetensors", dir);
        argv[3 + n] = members[n];
        if (n == 0) snprintf(split, sizeof split, "%s/split.csv", dir);
        p += len + (p[len] == ',');
    }
    if (mkdir(run, 0755) != 0 && errno != EEXIST) {
        fold_fail(f, "%s: cannot create: %s", run, strerror(errno));
        return;
    }
    const char *eval[] = {"eval", target, "--data", path, "--split-file", split, "--out", run};
    if (cli_ensemble(3 + n, (char **)argv) || cli_eval(8, (char **)eval)) {
        fold_fail(f, "%s", cli_last_error());
        return;
    }
    f->train_s = seconds;
    if (!read_metrics(cv, f, run)) f->state = CV_DONE;
}

/* Fold k, reused or trained; its row is then done or failed. */
static void run_fold(cv_run *cv, int32_t k, const cli_args *args, const char *path, const char *cache) {
    cv_fold *f = &cv->folds[k];
    char run[CV_PATH_MAX], keys[3][64];
    snprintf(run, sizeof run, "%s/fold-%d", cv->out, k);
    if (cv->fuse) {
        fprintf(stderr, "cv: [%d/%d] fold %d (test speakers %s): fusing %s\n", k + 1, cv->K, k, f->speakers, cv->fuse);
        fuse_fold(cv, k, path, run);
        return;
    }
    const char *argv[CLI_TRAIN_ARGV_MAX];
    int argc = train_argv(args, path, cache, run, 0, keys, cv->K, k, argv);
    sermo_config *want = fold_config(argc, argv);
    if (!want) {
        fold_fail(f, "%s", cli_last_error());
        return;
    }
    /* Reuse needs the finished metrics and the very split and settings this
     * run would train with; anything else is trained (again). */
    int same = split_matches(cv, k, run) && config_matches(want, run);
    sermo_config_free(want);
    int reuse = same && file_exists(run, "metrics.json") && file_exists(run, "history.csv");
    int resume = same && !reuse && file_exists(run, "checkpoint.safetensors");
    const char *how = reuse ? "reusing" : resume ? "resuming from the checkpoint in" : "training into";
    fprintf(stderr, "cv: [%d/%d] fold %d (test speakers %s): %s %s\n", k + 1, cv->K, k, f->speakers, how, run);
    if (!reuse) {
        /* A stale metrics.json from an earlier run must not pass for this one's. */
        char stale[CV_PATH_MAX + 32];
        snprintf(stale, sizeof stale, "%s/metrics.json", run);
        if (unlink(stale) != 0 && errno != ENOENT) {
            fold_fail(f, "%s: cannot remove: %s", stale, strerror(errno));
            return;
        }
        argc = train_argv(args, path, cache, run, resume, keys, cv->K, k, argv);
        if (cli_train(argc, (char **)argv)) {
            fold_fail(f, "%s", cli_last_error());
            return;
        }
        /* Ctrl-C: train still evaluated the best epoch so far; that is not
         * this fold's result, and without metrics.json the rerun resumes it. */
        if (cli_train_interrupted()) {
            if (unlink(stale) != 0 && errno != ENOENT)
                fold_fail(f, "interrupted, and %s cannot be removed (%s): delete it before rerunning", stale,
                          strerror(errno));
            else fold_fail(f, "interrupted; the same command resumes it");
            return;
        }
    }
    char msg[sizeof f->error];
    if (!read_metrics(cv, f, run)) {
        if (cli_read_history(run, &f->epochs, &f->train_s, msg, sizeof msg)) fold_fail(f, "%s", msg);
        else f->state = CV_DONE;
    }
}

/* -------------------------------------------------------------- tables */

typedef struct cv_stat {
    int32_t n;
    double mean, std; /* std: sample (n - 1); NaN when n < 2 */
} cv_stat;

/* Mean and sample standard deviation of one metric over the completed folds;
 * which: 0 accuracy, 1 UAR, 2 macro-F1. */
static cv_stat cv_summary(const cv_run *cv, int which) {
    cv_stat s = {0, 0, NAN};
    double sum = 0, sq = 0;
    for (int32_t k = 0; k < cv->K; k++) {
        const cv_fold *f = &cv->folds[k];
        if (f->state != CV_DONE) continue;
        sum += which == 0 ? f->accuracy : which == 1 ? f->uar : f->macro_f1;
        s.n++;
    }
    if (s.n == 0) return (cv_stat){0, NAN, NAN};
    s.mean = sum / s.n;
    for (int32_t k = 0; k < cv->K; k++) {
        const cv_fold *f = &cv->folds[k];
        if (f->state != CV_DONE) continue;
        double d = (which == 0 ? f->accuracy : which == 1 ? f->uar : f->macro_f1) - s.mean;
        sq += d * d;
    }
    if (s.n >= 2) s.std = sqrt(sq / (s.n - 1));
    return s;
}

static const char *const cv_metric_names[3] = {"accuracy", "uar", "macro_f1"};

static void fill_cv_csv(FILE *out, const void *ctx) {
    const cv_run *cv = ctx;
    fputs("fold,status,test_speakers,clips,accuracy,uar,macro_f1,weighted_f1,epochs,train_seconds,error\n", out);
    for (int32_t k = 0; k < cv->K; k++) {
        const cv_fold *f = &cv->folds[k];
        fprintf(out, "%d,%s,", k, f->state == CV_DONE ? "ok" : f->state == CV_FAILED ? "failed" : "pending");
        sermo_corpus_csv_write_field(out, f->speakers ? f->speakers : "");
        fprintf(out, ",%lld,", (long long)f->clips);
        if (f->state == CV_DONE)
            fprintf(out, "%.6f,%.6f,%.6f,%.6f,%d,%.2f,\n", f->accuracy, f->uar, f->macro_f1, f->weighted_f1,
                    f->epochs, f->train_s);
        else {
            fputs(",,,,,,", out);
            sermo_corpus_csv_write_field(out, f->error); /* quoted as RFC 4180 wants */
            fputc('\n', out);
        }
    }
}

/* text with '|' escaped and newlines flattened, for a Markdown cell. */
static void md_cell(FILE *out, const char *text) {
    for (const char *s = text; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s == '\n' ? ' ' : *s, out);
    }
}

static void fill_cv_md(FILE *out, const void *ctx) {
    const cv_run *cv = ctx;
    fprintf(out, "%d-fold cross-validation by speaker (data.seed %llu)", cv->K, (unsigned long long)cv->seed);
    if (cv->fuse) fprintf(out, ": late fusion of %s", cv->fuse);
    fputs("\n\n", out);
    fputs("| fold | test speakers | clips | accuracy | UAR | macro-F1 | weighted-F1 | epochs | training (s) |\n"
          "|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
          out);
    for (int32_t k = 0; k < cv->K; k++) {
        const cv_fold *f = &cv->folds[k];
        fprintf(out, "| %d | ", k);
        md_cell(out, f->speakers ? f->speakers : "");
        fprintf(out, " | %lld | ", (long long)f->clips);
        if (f->state == CV_DONE) {
            fprintf(out, "%.4f | %.4f | %.4f | %.4f | %d | %.1f |\n", f->accuracy, f->uar, f->macro_f1,
                    f->weighted_f1, f->epochs, f->train_s);
            continue;
        }
        fputs(f->state == CV_PENDING ? "pending" : "failed: ", out);
        md_cell(out, f->error);
        fputs(" | | | | | |\n", out);
    }
    cv_stat s[3];
    for (int i = 0; i < 3; i++) s[i] = cv_summary(cv, i);
    fprintf(out, "\nmean +- std (sample, n-1) over %d of %d folds:", s[0].n, cv->K);
    const char *label[3] = {"accuracy", "UAR", "macro-F1"};
    for (int i = 0; i < 3; i++) {
        if (s[i].n == 0) fprintf(out, "%s %s -", i ? "," : "", label[i]);
        else if (s[i].n == 1) fprintf(out, "%s %s %.4f +- -", i ? "," : "", label[i], s[i].mean);
        else fprintf(out, "%s %s %.4f +- %.4f", i ? "," : "", label[i], s[i].mean, s[i].std);
    }
    fputc('\n', out);
}

/* Both tables, each replaced whole so a reader never sees half of one. */
static int write_tables(const cv_run *cv) {
    char csv[CV_PATH_MAX + 32], md[CV_PATH_MAX + 32];
    snprintf(csv, sizeof csv, "%s/cv.csv", cv->out);
    snprintf(md, sizeof md, "%s/cv.md", cv->out);
    return cli_write_atomic(csv, fill_cv_csv, cv, NULL, 0) || cli_write_atomic(md, fill_cv_md, cv, NULL, 0);
}

/* The summed matrix as sermo_metrics (pooled over all test clips): each cell
 * expanded into that many (true, predicted) pairs; m->n_classes is 0 when
 * no fold completed. */
static int cv_pooled(const cv_run *cv, sermo_metrics *m) {
    const int32_t C = cv->n_classes, M = SERMO_METRICS_MAX_CLASSES;
    int64_t n = 0;
    for (int32_t r = 0; r < C; r++)
        for (int32_t c = 0; c < C; c++) n += cv->confusion[r * M + c];
    m->n_classes = 0;
    if (n == 0) return 0;
    int32_t *y = malloc(sizeof(int32_t) * 2 * (size_t)n);
    if (!y) return cli_error("out of memory");
    int64_t at = 0;
    for (int32_t r = 0; r < C; r++)
        for (int32_t c = 0; c < C; c++)
            for (int64_t i = 0; i < cv->confusion[r * M + c]; i++, at++) {
                y[at] = r;
                y[n + at] = c;
            }
    sermo_error err;
    int rc = sermo_metrics_compute(y, y + n, n, C, m, &err) ? cli_error("%s", err.msg) : 0;
    free(y);
    return rc;
}

static void json_add_number(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key); /* NaN is not JSON */
}

static cJSON *cv_json(const cv_run *cv, const sermo_metrics *pooled) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "by", "speaker");
    cJSON_AddNumberToObject(root, "folds", cv->K);
    cJSON_AddNumberToObject(root, "seed", (double)cv->seed);
    cJSON *folds = cJSON_AddArrayToObject(root, "per_fold");
    for (int32_t k = 0; k < cv->K; k++) {
        const cv_fold *f = &cv->folds[k];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(folds, o);
        cJSON_AddNumberToObject(o, "fold", k);
        cJSON_AddStringToObject(o, "status", f->state == CV_DONE ? "ok" : f->state == CV_FAILED ? "failed" : "pending");
        cJSON *spk = cJSON_AddArrayToObject(o, "test_speakers");
        char *list = strdup(f->speakers ? f->speakers : "");
        for (char *save = NULL, *s = list ? strtok_r(list, " ", &save) : NULL; s; s = strtok_r(NULL, " ", &save))
            cJSON_AddItemToArray(spk, cJSON_CreateString(s));
        free(list);
        cJSON_AddNumberToObject(o, "clips", (double)f->clips);
        if (f->state != CV_DONE) {
            cJSON_AddStringToObject(o, "error", f->error);
            continue;
        }
        json_add_number(o, "accuracy", f->accuracy);
        json_add_number(o, "uar", f->uar);
        json_add_number(o, "macro_f1", f->macro_f1);
        json_add_number(o, "weighted_f1", f->weighted_f1);
        cJSON_AddNumberToObject(o, "epochs", f->epochs);
        json_add_number(o, "train_seconds", f->train_s);
    }
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    for (int i = 0; i < 3; i++) {
        cv_stat s = cv_summary(cv, i);
        if (i == 0) cJSON_AddNumberToObject(sum, "completed", s.n);
        cJSON *o = cJSON_AddObjectToObject(sum, cv_metric_names[i]);
        json_add_number(o, "mean", s.mean);
        json_add_number(o, "std", s.std);
    }
    /* Pooled: every fold's test clips as one set (the summed matrix). */
    if (pooled->n_classes > 0) {
        cJSON *p = cJSON_AddObjectToObject(root, "pooled");
        cJSON_AddNumberToObject(p, "n", (double)pooled->n);
        json_add_number(p, "accuracy", pooled->accuracy);
        json_add_number(p, "uar", pooled->uar);
        json_add_number(p, "macro_f1", pooled->macro_f1);
        json_add_number(p, "weighted_f1", pooled->weighted_f1);
        cJSON_AddItemToObject(p, "class_names",
                              cJSON_CreateStringArray((const char *const *)cv->class_names, cv->n_classes));
        cJSON *m = cJSON_AddArrayToObject(p, "confusion_matrix");
        for (int32_t r = 0; r < cv->n_classes; r++) {
            cJSON *row = cJSON_CreateArray();
            cJSON_AddItemToArray(m, row);
            for (int32_t c = 0; c < cv->n_classes; c++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber((double)pooled->confusion[r * cv->n_classes + c]));
        }
    }
    return root;
}

static void fill_json(FILE *f, const void *text) {
    fputs(text, f);
    fputc('\n', f); /* cJSON_Print ends without one */
}

/* cv.json and confusion_matrix.png, after the last fold. */
static int write_results(const cv_run *cv) {
    sermo_metrics *pooled = calloc(1, sizeof *pooled);
    if (!pooled) return cli_error("out of memory");
    char path[CV_PATH_MAX + 32];
    int rc = cv_pooled(cv, pooled);
    cJSON *root = rc ? NULL : cv_json(cv, pooled);
    char *text = root ? cJSON_Print(root) : NULL;
    snprintf(path, sizeof path, "%s/cv.json", cv->out);
    if (!rc && !text) rc = cli_error("%s: out of memory", path);
    if (!rc) rc = cli_write_atomic(path, fill_json, text, NULL, 0);
    if (!rc && pooled->n_classes > 0) {
        char title[128];
        snprintf(title, sizeof title, "%d-fold CV by speaker: test sets summed, %lld clips", cv->K,
                 (long long)pooled->n);
        sermo_error err;
        snprintf(path, sizeof path, "%s/confusion_matrix.png", cv->out);
        if (sermo_report_confusion_png(path, pooled, (const char *const *)cv->class_names, title, &err))
            rc = cli_error("%s", err.msg);
    }
    free(text);
    cJSON_Delete(root);
    free(pooled);
    return rc;
}

/* ------------------------------------------------------------- command */

/* --folds as a whole number in [2, 1000] (data.folds' range). */
static int parse_folds(const char *v, int32_t *K) {
    char *end;
    errno = 0;
    long k = strtol(v, &end, 10);
    if (end == v || *end || errno || k < 2 || k > 1000)
        return cli_error("--folds: '%s' is not a whole number in [2, 1000] (each fold's test speakers need a "
                         "model trained on the others)",
                         v);
    *K = (int32_t)k;
    return 0;
}

int cli_cv(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(cv_usage, stdout);
        return 0;
    }
    const char *out = NULL, *cache = NULL, *folds = "6", *by = "speaker", *fuse = NULL;
    cli_flag flags[] = {{"--out", &out, NULL}, {"--cache", &cache, NULL}, {"--folds", &folds, NULL},
                        {"--by", &by, NULL},   {"--fuse", &fuse, NULL},   {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    cv_run cv;
    memset(&cv, 0, sizeof cv);
    cv.out = out;
    cv.fuse = fuse && *fuse ? fuse : NULL;
    sermo_corpus *corpus = NULL;
    sermo_config *config = NULL;
    int rc = 2;
    const char *path = args.n_positional == 1 ? args.positional[0] : NULL;
    const char *data_path = path ? path : sermo_config_get(args.config, "data.path");
    if (args.n_positional > 1 || !out || !data_path) {
        fputs(cv_usage, stderr);
        goto done;
    }
    if (strcmp(by, "speaker")) {
        cli_error("--by: '%s' is not supported; only 'speaker' is (whole speakers per fold)", by);
        goto done;
    }
    if (parse_folds(folds, &cv.K)) goto done;
    rc = 1;
    if (strlen(out) + 64 > CV_PATH_MAX) {
        cli_error("--out: path too long");
        goto done;
    }
    if (!(cv.folds = calloc((size_t)cv.K, sizeof *cv.folds))) {
        cli_error("out of memory");
        goto done;
    }
    /* The corpus and every fold's split exactly as fold 0's `sermo train`
     * will see them, so a bad setting or too few speakers fail here, once. */
    const char *argv0[CLI_TRAIN_ARGV_MAX];
    char keys[3][64];
    int argc0 = train_argv(&args, path, cache, out, 0, keys, cv.K, 0, argv0);
    if (!(config = fold_config(argc0, argv0)) || cli_open_corpus(config, data_path, &corpus)) goto done;
    cv.corpus = corpus;
    if (cv_make_folds(&cv, config)) goto done;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create: %s", out, strerror(errno));
        goto done;
    }
    char file[CV_PATH_MAX + 32];
    snprintf(file, sizeof file, "%s/folds.csv", out);
    if (cli_write_atomic(file, fill_folds_csv, &cv, NULL, 0) || write_tables(&cv)) goto done;
    int failed = 0, interrupted = 0;
    for (int32_t k = 0; k < cv.K; k++) {
        cv_fold *f = &cv.folds[k];
        run_fold(&cv, k, &args, path, cache);
        if (f->state == CV_DONE)
            fprintf(stderr, "cv: [%d/%d] fold %d: done: accuracy %.4f, UAR %.4f, macro-F1 %.4f, %d epochs in %.1f s\n",
                    k + 1, cv.K, k, f->accuracy, f->uar, f->macro_f1, f->epochs, f->train_s);
        else fprintf(stderr, "cv: [%d/%d] fold %d: failed: %s\n", k + 1, cv.K, k, f->error);
        failed += f->state != CV_DONE;
        if (write_tables(&cv)) goto done;
        if ((interrupted = cli_train_interrupted())) {
            fprintf(stderr, "cv: interrupted; the finished folds are in %s/cv.md, the same command goes on\n", out);
            break;
        }
    }
    if (write_results(&cv)) goto done;
    printf("\n");
    fill_cv_md(stdout, &cv);
    printf("\nresults: %s/cv.md, cv.csv, cv.json, confusion_matrix.png (folds: %s/folds.csv)\n", out, out);
    rc = failed || interrupted ? 1 : 0;
done:
    for (int32_t k = 0; cv.folds && k < cv.K; k++) free(cv.folds[k].speakers);
    for (int32_t c = 0; c < cv.n_classes; c++) free(cv.class_names[c]);
    free(cv.folds);
    free(cv.parts);
    free(cv.fold_of);
    sermo_config_free(config);
    sermo_corpus_free(corpus);
    cli_args_free(&args);
    return rc;
}
