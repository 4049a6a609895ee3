/* cli_run.h: run the built `sermo` (SERMO_BIN) with printf-style arguments,
 * its stdout and stderr captured in cli_out; returns the exit code. */
#ifndef SERMO_CLI_RUN_H
#define SERMO_CLI_RUN_H

#include <math.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static char cli_out[1 << 16];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    const char *bin = getenv("SERMO_BIN");
    static char args[1 << 16], cmd[(1 << 16) + 1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin ? bin : "build/sermo", args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(cli_out, 1, sizeof cli_out - 1, p);
    cli_out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A 0.4 s 16 kHz WAV: a tone at freq plus a little seed-dependent ripple,
 * so clips of one class differ. */
static inline void cli_write_tone(const char *path, double freq, int seed) {
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) return;
    float x[6400];
    for (int i = 0; i < 6400; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * freq * i / 16000) + 0.01 * sin(0.37 * i * (seed + 1)));
    sf_writef_float(f, x, 6400);
    sf_close(f);
}

#endif
