/* util.c: help detection, error printing, progress display and timing. */
#include "cli.h"

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
