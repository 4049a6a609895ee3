/* cli.h: what the subcommands of `sermo` share. */
#ifndef SERMO_CLI_H
#define SERMO_CLI_H

#include "sermo.h"

#include <stdio.h>

typedef struct cli_command {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

int cli_data(int argc, char **argv);
int cli_spectrogram(int argc, char **argv);
int cli_prepare(int argc, char **argv);

/* 1 when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);
/* "sermo: <msg>" on stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A progress bar on a terminal, plain periodic lines otherwise (stderr). */
typedef struct cli_progress {
    const char *what;
    int tty;
    double start, last;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *what);
/* Matches sermo_progress_fn; user_data is the cli_progress. */
void cli_progress_update(int64_t done, int64_t total, const char *what, void *user_data);

#endif
