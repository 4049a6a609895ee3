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
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);

/* 1 when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);
/* "sermo: <msg>" on stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Named options of one command: a flag sets *on, an option stores *value. */
typedef struct cli_flag {
    const char *name; /* "--json" */
    const char **value;
    int *on;
} cli_flag;

#define CLI_MAX_POSITIONAL 64
typedef struct cli_args {
    sermo_config *config; /* built-in defaults < --config FILE < key=value */
    const char *positional[CLI_MAX_POSITIONAL];
    int n_positional;
} cli_args;

/* Parses argv[1..]; flags ends with a {NULL} entry. Returns non-zero after
 * printing the error. */
int cli_parse(int argc, char **argv, const cli_flag *flags, cli_args *out);
void cli_args_free(cli_args *args);
/* Audio and feature params from the config, with one shared sample rate. */
int cli_audio_features(const sermo_config *config, sermo_audio_params *ap, sermo_feature_params *fp);
/* The corpus at path (comma-separated for several) with data.* settings. */
int cli_open_corpus(const sermo_config *config, const char *path, sermo_corpus **out);

/* The feature cache of the corpus for these settings, built when missing
 * (progress on stderr) and opened; NULL after printing the error. dir NULL:
 * "cache"; threads 0: all cores; built and path (its file name) may be NULL. */
sermo_cache *cli_open_cache(const sermo_corpus *corpus, const sermo_audio_params *ap, const sermo_feature_params *fp,
                            const char *dir, int32_t threads, int *built, char path[4096]);
/* Predicts the clips of part `which` (all when < 0) from the cache, prints
 * the report and writes classification_report.txt, metrics.json and
 * confusion_matrix.png into dir. Corpus classes map to model labels by name. */
int cli_evaluate(sermo_model *m, const sermo_corpus *corpus, const sermo_cache *cache, const int8_t *part,
                 int which, const char *dir, const char *split_name, sermo_metrics *out);
/* dir/history.csv -> dir/training_curves.png */
int cli_write_curves(const char *dir);
/* Applies the key=value arguments of argv to config again (after a base was loaded). */
int cli_apply_overrides(sermo_config *config, int argc, char **argv);

/* A progress bar on a terminal, plain periodic lines otherwise (stderr). */
typedef struct cli_progress {
    const char *what;
    int tty;
    int finished; /* the closing line was printed; later updates are ignored */
    double start, last;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *what);
/* Matches sermo_progress_fn; user_data is the cli_progress. */
void cli_progress_update(int64_t done, int64_t total, const char *what, void *user_data);

#endif
