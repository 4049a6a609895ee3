/* util.c: help detection, error printing and progress display. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sermo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *what) {
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
    p->finished = 0;
    p->start = now_seconds();
    p->last = p->tty ? -1e9 : p->start; /* a log hears first after 5 s */
}

void cli_progress_update(int64_t done, int64_t total, const char *what, void *user_data) {
    cli_progress *p = user_data;
    double t = now_seconds();
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

