/* util.c: help detection, error printing, progress display, timing, and the
 * run-folder files that `sermo pipeline` and `sermo cv` read and write. */
#include "cli.h"

#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

static char last_error[1024];

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sermo: %s\n", last_error);
    return 1;
}

const char *cli_last_error(void) { return last_error; }

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *what) {
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
    p->finished = 0;
    p->start = cli_now();
    p->last = p->tty ? -1e9 : p->start; /* a log hears first after 5 s */
}

void cli_progress_update(int64_t done, int64_t total, const char *what, void *user_data) {
    cli_progress *p = user_data;
    double t = cli_now();
    int final = done >= total;
    if (p->finished) return;
    if (final) p->finished = 1;
    /* A terminal redraws 10 times a second; a log gets a line every 5 s, and
     * a closing line only when the work took long enough to report. */
    if (!final && t - p->last < (p->tty ? 0.1 : 5.0)) return;
    if (final && !p->tty && t - p->start < 2.0) return;
    p->last = t;
    if (!what) what = p->what;
    double elapsed = t - p->start;
    double rate = elapsed > 0 ? done / elapsed : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int pct = total > 0 ? (int)(100 * done / total) : 100;
    if (p->tty) {
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %3d%% %lld/%lld %.1f/s eta %.0fs\033[K", what, bar, pct,
                (long long)done, (long long)total, rate, eta);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %lld/%lld (%d%%) %.1f/s\n", what, (long long)done, (long long)total, pct,
                rate);
    }
    fflush(stderr);
}


static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cli_time_calls(cli_timed_fn fn, void *ctx, int warmup, int runs, double *mean_ms, double *p95_ms) {
    /* Warm-up calls fault in the buffers and start the thread pool, which
     * the first timed call would otherwise pay for. */
    for (int i = 0; i < warmup; i++)
        if (fn(ctx)) return 1;
    double *ms = malloc(sizeof *ms * (size_t)(runs > 0 ? runs : 1)), sum = 0;
    if (!ms) return cli_error("out of memory");
    for (int i = 0; i < runs; i++) {
        double t = cli_now();
        if (fn(ctx)) {
            free(ms);
            return 1;
        }
        ms[i] = (cli_now() - t) * 1e3;
        sum += ms[i];
    }
    qsort(ms, (size_t)runs, sizeof *ms, compare_double);
    /* Nearest rank: the smallest time at or above 95% of the runs. */
    int rank = (95 * runs + 99) / 100;
    *mean_ms = runs > 0 ? sum / runs : 0;
    *p95_ms = runs > 0 ? ms[rank - 1] : 0;
    free(ms);
    return 0;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = 0;
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

int cli_write_atomic(const char *path, void (*fill)(FILE *, const void *), const void *ctx, char *msg, size_t size) {
    sermo_atomic_file af;
    sermo_error err;
    sermo_status st = sermo_atomic_open(&af, path, &err);
    if (!st) {
        fill(af.f, ctx);
        st = sermo_atomic_close(&af, ferror(af.f) ? sermo_fail(&err, SERMO_ERR_IO, "%s: write failed", path) : SERMO_OK,
                                &err);
    }
    if (st && msg) snprintf(msg, size, "%.*s", (int)size - 1, err.msg);
    else if (st) cli_error("%s", err.msg);
    return st != SERMO_OK;
}

int cli_read_history(const char *run, int32_t *epochs, double *seconds, char *msg, size_t size) {
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/history.csv", run);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, size, "%s: cannot read", path);
        return 1;
    }
    *epochs = 0;
    *seconds = 0;
    while (fgets(line, sizeof line, f)) {
        const char *comma = strrchr(line, ',');
        if (line[0] < '0' || line[0] > '9' || !comma) continue; /* the header */
        ++*epochs;
        *seconds += strtod(comma + 1, NULL);
    }
    fclose(f);
    return 0;
}

int cli_train_argv(const cli_args *args, const char *path, const char *cache, const char *run, int resume,
                   const char *const *last, int n_last, const char **argv) {
    int argc = 0;
    argv[argc++] = "train";
    if (path) argv[argc++] = path;
    argv[argc++] = "--out";
    argv[argc++] = run;
    if (resume) argv[argc++] = "--resume";
    if (cache) {
        argv[argc++] = "--cache";
        argv[argc++] = cache;
    }
    if (args->config_path) {
        argv[argc++] = "--config";
        argv[argc++] = args->config_path;
    }
    for (int i = 0; i < args->n_overrides; i++) argv[argc++] = args->overrides[i];
    for (int i = 0; i < n_last && i < CLI_TRAIN_LAST_MAX; i++) argv[argc++] = last[i];
    argv[argc] = NULL;
    return argc;
}
