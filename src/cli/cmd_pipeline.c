/* cmd_pipeline.c: `sermo pipeline PATH --models a,b --out DIR`: trains each
 * model with `sermo train` itself (same arguments, its defaults, its own
 * DIR/<model>/), checks that all saw the same split, and keeps a comparison
 * table of the test results in DIR/pipeline.csv and DIR/pipeline.md. */
#include "cli.h"

#include "corpus/corpus_internal.h"
#include "models/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *pipeline_usage =
    "usage: sermo pipeline [PATH] --out DIR [--models a,b,c|all] [--cache DIR] [--config FILE]\n"
    "                      [key=value ...]\n"
    "\n"
    "Trains every named model (default: all registered) on the corpus folder or\n"
    "CSV manifest PATH as `sermo train PATH --out DIR/<model> model=<model>` with\n"
    "the other arguments, so each gets its recommended settings (`sermo models`)\n"
    "under yours. All runs use the same split, decided once by the data.* keys:\n"
    "DIR/split.csv, kept from the first run; a run whose split differs fails.\n"
    "\n"
    "After each model, DIR/pipeline.csv and DIR/pipeline.md are rewritten with\n"
    "its test-split accuracy, macro-F1 and weighted-F1, parameters, training\n"
    "time (s, the epochs' sum), inference latency (ms per clip at batch 1) and\n"
    "epochs run. A model that fails gets a row with its error and the others\n"
    "still run; the exit code is then 1.\n";

typedef enum pipeline_state { PIPELINE_PENDING, PIPELINE_DONE, PIPELINE_FAILED } pipeline_state;

typedef struct pipeline_row {
    const char *name;
    pipeline_state state;
    double accuracy, macro_f1, weighted_f1, train_s, latency_ms;
    int64_t params;
    int32_t epochs;
    char error[1024]; /* a file name and a reason */
} pipeline_row;

/* DIR/<model>; the files in it get 32 bytes more. */
#define PIPELINE_PATH_MAX 2048
#define LATENCY_WARMUP 2
#define LATENCY_RUNS 20

/* Marks the row failed with a message (the pipeline goes on); returns 1. */
static int row_fail(pipeline_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int row_fail(pipeline_row *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->state = PIPELINE_FAILED;
    return 1;
}

typedef struct bytes {
    const char *data;
    size_t len;
} bytes;

static void fill_bytes(FILE *f, const void *ctx) {
    const bytes *b = ctx;
    fwrite(b->data, 1, b->len, f);
}

/* `sermo train` splits by the data.* keys alone, so every run draws the same
 * split; DIR/split.csv holds the first and each later one must match it
 * (a changed data.* key between two pipelines into DIR is caught here). */
static int check_split(pipeline_row *r, const char *dir, const char *run) {
    char shared[PIPELINE_PATH_MAX + 32], own[PIPELINE_PATH_MAX + 32];
    snprintf(shared, sizeof shared, "%s/split.csv", dir);
    snprintf(own, sizeof own, "%s/split.csv", run);
    size_t n_own, n_shared;
    char *a = cli_read_file(own, &n_own), *b = NULL;
    int rc = 0;
    if (!a) rc = row_fail(r, "%s: cannot read", own);
    else if (access(shared, F_OK) != 0) {
        bytes b_own = {a, n_own};
        char msg[256];
        if (cli_write_atomic(shared, fill_bytes, &b_own, msg, sizeof msg)) rc = row_fail(r, "%s", msg);
    } else if (!(b = cli_read_file(shared, &n_shared))) rc = row_fail(r, "%s: cannot read", shared);
    else if (n_own != n_shared || memcmp(a, b, n_own))
        rc = row_fail(r, "%s differs from %s (the data.* settings or the corpus changed; remove it to start over)",
                      own, shared);
    free(a);
    free(b);
    return rc;
}

/* The test metrics `sermo train` wrote into run/metrics.json. */
static int read_metrics(pipeline_row *r, const char *run) {
    char path[PIPELINE_PATH_MAX + 32];
    size_t n;
    snprintf(path, sizeof path, "%s/metrics.json", run);
    char *text = cli_read_file(path, &n);
    if (!text) return row_fail(r, "%s: missing (is there a test split? data.test_fraction)", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    const char *keys[] = {"accuracy", "macro_f1", "weighted_f1"};
    double *out[] = {&r->accuracy, &r->macro_f1, &r->weighted_f1};
    int rc = j ? 0 : row_fail(r, "%s: not JSON", path);
    for (int i = 0; i < 3 && !rc; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
        if (cJSON_IsNumber(v)) *out[i] = v->valuedouble;
        else rc = row_fail(r, "%s: no number '%s'", path, keys[i]);
    }
    cJSON_Delete(j);
    return rc;
}

/* Epochs run and their summed seconds, from run/history.csv. */
static int read_history(pipeline_row *r, const char *run) {
    char msg[sizeof r->error];
    if (cli_read_history(run, &r->epochs, &r->train_s, msg, sizeof msg)) return row_fail(r, "%s", msg);
    return 0;
}

static int time_predict(void *ctx) {
    void **c = ctx; /* model, features (F, T), T, probs */
    sermo_error err;
    if (sermo_model_predict_features(c[0], c[1], *(int32_t *)c[2], c[3], &err)) return cli_error("%s", err.msg);
    return 0;
}

/* Parameters (as `sermo models` counts them) and the latency of the saved
 * model on one random clip of train.frames frames. */
static int measure_model(pipeline_row *r, const cli_args *args, const char *run) {
    sermo_config *config = cli_config_for_model(args, r->name);
    cli_model_input in;
    int bad = !config || cli_model_input_from_config(config, &in);
    sermo_config_free(config);
    if (bad) return row_fail(r, "%s", cli_last_error());
    sermo_error err;
    model *m = cli_model_create(r->name, &in, 1, in.frames, &err);
    if (!m) return row_fail(r, "%s", err.msg);
    r->params = cli_model_n_params(m);
    model_free(m);
    char path[PIPELINE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", run);
    sermo_model *sm = sermo_model_load(path, in.threads, &err);
    if (!sm) return row_fail(r, "%s", err.msg);
    float *x = malloc(sizeof(float) * (size_t)in.rows * (size_t)in.frames); /* (F, T) */
    float *probs = malloc(sizeof(float) * (size_t)sermo_model_n_classes(sm));
    int rc = 0;
    if (!x || !probs) rc = row_fail(r, "out of memory");
    if (!rc) {
        sermo_rng rng;
        sermo_rng_seed(&rng, 1);
        for (size_t i = 0; i < (size_t)in.rows * (size_t)in.frames; i++)
            x[i] = (float)(2 * sermo_rng_uniform(&rng) - 1);
        void *ctx[] = {sm, x, &in.frames, probs};
        double p95;
        if (cli_time_calls(time_predict, ctx, LATENCY_WARMUP, LATENCY_RUNS, &r->latency_ms, &p95))
            rc = row_fail(r, "%s", cli_last_error());
    }
    free(x);
    free(probs);
    sermo_model_free(sm);
    return rc;
}

typedef struct table {
    const pipeline_row *rows;
    int n;
} table;

static void fill_csv(FILE *f, const void *ctx) {
    const pipeline_row *rows = ((const table *)ctx)->rows;
    int n = ((const table *)ctx)->n;
    fputs("model,status,accuracy,macro_f1,weighted_f1,params,train_seconds,latency_ms,epochs,error\n", f);
    for (int i = 0; i < n; i++) {
        const pipeline_row *r = &rows[i];
        fprintf(f, "%s,", r->name);
        if (r->state == PIPELINE_DONE)
            fprintf(f, "ok,%.6f,%.6f,%.6f,%lld,%.2f,%.3f,%d,\n", r->accuracy, r->macro_f1, r->weighted_f1,
                    (long long)r->params, r->train_s, r->latency_ms, r->epochs);
        else {
            fputs(r->state == PIPELINE_PENDING ? "pending,,,,,,,," : "failed,,,,,,,,", f);
            sermo_corpus_csv_write_field(f, r->error); /* quoted as RFC 4180 wants */
            fputc('\n', f);
        }
    }
}

static void fill_md(FILE *f, const void *ctx) {
    const pipeline_row *rows = ((const table *)ctx)->rows;
    int n = ((const table *)ctx)->n;
    fputs("| model | accuracy | macro-F1 | weighted-F1 | params | training (s) | latency (ms/clip) | epochs |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|\n",
          f);
    for (int i = 0; i < n; i++) {
        const pipeline_row *r = &rows[i];
        char params[32];
        if (r->state == PIPELINE_DONE) {
            cli_format_count(r->params, params, sizeof params);
            fprintf(f, "| %s | %.4f | %.4f | %.4f | %s | %.1f | %.2f | %d |\n", r->name, r->accuracy, r->macro_f1,
                    r->weighted_f1, params, r->train_s, r->latency_ms, r->epochs);
            continue;
        }
        fprintf(f, "| %s | %s", r->name, r->state == PIPELINE_PENDING ? "pending" : "failed: ");
        for (const char *s = r->error; *s; s++) { /* a '|' or newline would break the table */
            if (*s == '|') fputc('\\', f);
            fputc(*s == '\n' ? ' ' : *s, f);
        }
        fputs(" | | | | | | |\n", f);
    }
}

/* Both tables, each replaced whole so a reader never sees half of one. */
static int write_tables(const char *dir, const pipeline_row *rows, int n) {
    char csv[PIPELINE_PATH_MAX + 32], md[PIPELINE_PATH_MAX + 32];
    snprintf(csv, sizeof csv, "%s/pipeline.csv", dir);
    snprintf(md, sizeof md, "%s/pipeline.md", dir);
    table t = {rows, n};
    return cli_write_atomic(csv, fill_csv, &t, NULL, 0) || cli_write_atomic(md, fill_md, &t, NULL, 0);
}

/* `sermo train` for one model: PATH, --out DIR/<model>, the user's --cache,
 * --config and key=value, then model=<model> last so it wins. */
static int train_one(pipeline_row *r, const cli_args *args, const char *path, const char *cache, const char *run) {
    char model_arg[128];
    snprintf(model_arg, sizeof model_arg, "model=%s", r->name);
    const char *last[] = {model_arg}, *argv[CLI_TRAIN_ARGV_MAX];
    int argc = cli_train_argv(args, path, cache, run, 0, last, 1, argv);
    /* A stale metrics.json from an earlier run must not pass for this one's. */
    char stale[PIPELINE_PATH_MAX + 32];
    snprintf(stale, sizeof stale, "%s/metrics.json", run);
    if (unlink(stale) != 0 && errno != ENOENT) return row_fail(r, "%s: cannot remove: %s", stale, strerror(errno));
    if (cli_train(argc, (char **)argv)) return row_fail(r, "%s", cli_last_error());
    return 0;
}

/* The names of --models ("all": the registry), each checked, in r[].name
 * (pointing into list); returns the count, or -1 after printing the error. */
static int parse_models(char *list, pipeline_row *rows, int max) {
    int n = 0;
    if (!strcmp(list, "all")) {
        /* Classifiers only: a reconstructing model (the autoencoder) has no accuracy. */
        for (int i = 0; i < model_registry_count() && n < max; i++)
            if (!model_registry_at(i)->reconstructs) rows[n++].name = model_registry_at(i)->name;
        return n;
    }
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (!model_registry_find(p)) {
            cli_error("--models: unknown model '%s' (`sermo models` lists them)", p);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (!strcmp(rows[i].name, p)) {
                cli_error("--models: '%s' is named twice (both would train into one folder)", p);
                return -1;
            }
        if (n == max) {
            cli_error("--models: more than %d models", max);
            return -1;
        }
        rows[n++].name = p;
    }
    return n;
}

int cli_pipeline(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(pipeline_usage, stdout);
        return 0;
    }
    const char *out = NULL, *cache = NULL, *models = "all";
    cli_flag flags[] = {{"--out", &out, NULL}, {"--cache", &cache, NULL}, {"--models", &models, NULL},
                        {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    enum { MAX_MODELS = 64 };
    pipeline_row rows[MAX_MODELS];
    memset(rows, 0, sizeof rows);
    char list[1024];
    snprintf(list, sizeof list, "%s", models);
    int n = 0, rc = 2;
    const char *path = args.n_positional == 1 ? args.positional[0] : NULL;
    if (args.n_positional > 1 || !out || (!path && !sermo_config_get(args.config, "data.path"))) {
        fputs(pipeline_usage, stderr);
        goto done;
    }
    if ((n = parse_models(list, rows, MAX_MODELS)) <= 0) {
        if (n == 0) cli_error("--models: no model named");
        goto done;
    }
    rc = 1;
    if (strlen(out) + 64 > PIPELINE_PATH_MAX) {
        cli_error("--out: path too long");
        goto done;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create: %s", out, strerror(errno));
        goto done;
    }
    if (write_tables(out, rows, n)) goto done;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pipeline_row *r = &rows[i];
        char run[PIPELINE_PATH_MAX];
        snprintf(run, sizeof run, "%s/%s", out, r->name);
        fprintf(stderr, "pipeline: [%d/%d] %s: training into %s\n", i + 1, n, r->name, run);
        if (!train_one(r, &args, path, cache, run) && !check_split(r, out, run) && !read_metrics(r, run) &&
            !read_history(r, run) && !measure_model(r, &args, run))
            r->state = PIPELINE_DONE;
        if (r->state == PIPELINE_DONE)
            fprintf(stderr, "pipeline: [%d/%d] %s: done: accuracy %.4f, macro-F1 %.4f, %d epochs in %.1f s\n", i + 1,
                    n, r->name, r->accuracy, r->macro_f1, r->epochs, r->train_s);
        else
            fprintf(stderr, "pipeline: [%d/%d] %s: failed: %s\n", i + 1, n, r->name, r->error);
        failed += r->state != PIPELINE_DONE;
        if (write_tables(out, rows, n)) goto done;
        if (cli_train_interrupted()) {
            fprintf(stderr, "pipeline: interrupted; the finished rows are in %s/pipeline.md\n", out);
            break;
        }
    }
    printf("\n");
    fill_md(stdout, &(table){rows, n});
    printf("\nresults: %s/pipeline.md, %s/pipeline.csv (split: %s/split.csv)\n", out, out, out);
    rc = failed ? 1 : 0;
done:
    cli_args_free(&args);
    return rc;
}
