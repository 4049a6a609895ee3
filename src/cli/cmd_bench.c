/* cmd_bench.c: `sermo bench MODEL...`: inference time of randomly
 * initialised models at batch 1 and 32, printed and appended to a CSV.
 *
 * Dimension letters: B batch, F feature rows (n_mels), T frames. */
#include "cli.h"

#include "models/model.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *bench_usage =
    "usage: sermo bench MODEL... [--runs N] [--frames T] [--out FILE] [--config FILE] [key=value ...]\n"
    "\n"
    "Times inference (evaluation mode) of each MODEL (`all`: every registered one),\n"
    "randomly initialised (seed 1, 8 classes), on a random input of T frames\n"
    "(default 300) and the model's feature rows (its default features.n_mels\n"
    "unless set), at batch 1 and batch 32. After warm-up calls, N timed calls\n"
    "(default 20) give the mean and 95th percentile per call and the mean per\n"
    "sample. train.threads sets the threads (0: all cores).\n"
    "\n"
    "Prints a table and appends its rows to FILE (default benchmark_time.csv;\n"
    "created with a header when missing, never truncated): date (UTC), model,\n"
    "batch, frames, n_mels, threads, runs, mean_ms, p95_ms, ms_per_sample, params.\n";

static const int32_t bench_batches[] = {1, 32};
#define BENCH_WARMUP 2

typedef struct bench_call {
    model *m;
    const float *x; /* (B, 1, F, T) */
    int B, T;
} bench_call;

static int bench_forward(void *ctx) {
    bench_call *c = ctx;
    if (model_forward(c->m, c->x, c->B, c->T, 0)) return 0;
    return cli_error("%s: forward failed at batch %d, %d frames (too few frames for the model?)", c->m->spec->name,
                     c->B, c->T);
}

/* Appends (never truncates): earlier runs stay for comparison. */
static FILE *open_csv(const char *path) {
    struct stat st;
    int fresh = stat(path, &st) != 0 || st.st_size == 0;
    FILE *f = fopen(path, "a");
    if (!f) {
        cli_error("%s: cannot open for appending", path);
        return NULL;
    }
    if (fresh) fputs("date,model,batch,frames,n_mels,threads,runs,mean_ms,p95_ms,ms_per_sample,params\n", f);
    return f;
}

/* One model at every batch size; a row per batch on stdout and in csv. */
static int bench_model(const cli_args *args, const char *name, int32_t T, int32_t runs, FILE *csv) {
    sermo_config *config = cli_config_for_model(args, name);
    cli_model_input in;
    if (!config || cli_model_input_from_config(config, &in)) {
        sermo_config_free(config);
        return 1;
    }
    sermo_config_free(config);
    const int32_t max_B = bench_batches[sizeof bench_batches / sizeof *bench_batches - 1], F = in.rows;
    sermo_error err;
    model *m = cli_model_create(name, &in, max_B, T, &err);
    if (!m) return cli_error("%s", err.msg);
    float *x = malloc(sizeof(float) * (size_t)max_B * (size_t)F * (size_t)T); /* (max_B, 1, F, T) */
    if (!x) {
        model_free(m);
        return cli_error("out of memory");
    }
    sermo_rng rng;
    sermo_rng_seed(&rng, 1);
    for (size_t i = 0; i < (size_t)max_B * (size_t)F * (size_t)T; i++) x[i] = (float)(2 * sermo_rng_uniform(&rng) - 1);
    int threads = in.threads ? in.threads : omp_get_max_threads();
    int64_t params = cli_model_n_params(m);
    char date[32], count[32];
    time_t now = time(NULL);
    struct tm utc;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
    cli_format_count(params, count, sizeof count);
    int rc = 0;
    for (size_t b = 0; b < sizeof bench_batches / sizeof *bench_batches && !rc; b++) {
        bench_call call = {m, x, bench_batches[b], T};
        double mean, p95;
        if ((rc = cli_time_calls(bench_forward, &call, BENCH_WARMUP, runs, &mean, &p95))) break;
        printf("%-16s %5d %6d %6d %7d %5d %10.3f %10.3f %12.4f %9s\n", name, call.B, T, F, threads, runs, mean, p95,
               mean / call.B, count);
        fprintf(csv, "%s,%s,%d,%d,%d,%d,%d,%.4f,%.4f,%.5f,%lld\n", date, name, call.B, T, F, threads, runs, mean, p95,
                mean / call.B, (long long)params);
        fflush(stdout);
        fflush(csv);
    }
    free(x);
    model_free(m);
    return rc;
}

/* A whole number >= lo from an option's text. */
static int positive_option(const char *flag, const char *text, int32_t lo, int32_t *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > 1000000)
        return cli_error("%s: '%s' is not a whole number in [%d, 1000000]", flag, text, lo);
    *out = (int32_t)v;
    return 0;
}

int cli_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(bench_usage, stdout);
        return 0;
    }
    const char *runs_text = "20", *frames_text = "300", *out = "benchmark_time.csv";
    cli_flag flags[] = {{"--runs", &runs_text, NULL}, {"--frames", &frames_text, NULL}, {"--out", &out, NULL},
                        {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int32_t runs = 0, T = 0;
    int all = args.n_positional == 1 && !strcmp(args.positional[0], "all");
    int n = all ? model_registry_count() : args.n_positional, rc = 2;
    FILE *csv = NULL;
    if (n == 0) {
        fputs(bench_usage, stderr);
        goto done;
    }
    if (positive_option("--runs", runs_text, 1, &runs) || positive_option("--frames", frames_text, 1, &T)) goto done;
    for (int i = 0; !all && i < n; i++) /* a typo fails before minutes of timing */
        if (!model_registry_find(args.positional[i])) {
            cli_error("model: unknown model '%s' (`sermo models` lists them)", args.positional[i]);
            goto done;
        }
    rc = 1;
    if (!(csv = open_csv(out))) goto done;
    printf("%-16s %5s %6s %6s %7s %5s %10s %10s %12s %9s\n", "model", "batch", "frames", "n_mels", "threads", "runs",
           "mean_ms", "p95_ms", "ms/sample", "params");
    rc = 0;
    /* A model that fails is reported and the others still run. */
    for (int i = 0; i < n; i++)
        if (bench_model(&args, all ? model_registry_at(i)->name : args.positional[i], T, runs, csv)) rc = 1;
    if (fclose(csv) != 0) rc = cli_error("%s: write failed", out);
    else if (!rc) printf("appended to %s\n", out);
done:
    cli_args_free(&args);
    return rc;
}
