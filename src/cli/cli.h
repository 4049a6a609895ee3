/* cli.h: what the subcommands of `sermo` share. */
#ifndef SERMO_CLI_H
#define SERMO_CLI_H

#include "sermo.h"

#include <stdio.h>

extern const char sermo_default_config[]; /* configs/default.yaml, embedded by CMake */

typedef struct cli_command {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

int cli_data(int argc, char **argv);
int cli_spectrogram(int argc, char **argv);
int cli_prepare(int argc, char **argv);
int cli_train(int argc, char **argv);
/* 1 when Ctrl-C stopped the last cli_train (its run can be resumed). */
int cli_train_interrupted(void);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_ensemble(int argc, char **argv);
int cli_models(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_pipeline(int argc, char **argv);
int cli_cv(int argc, char **argv);

/* 1 when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);
/* "sermo: <msg>" on stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message of the last cli_error ("" before any), for callers that keep
 * going past a failure and report it later (sermo pipeline). */
const char *cli_last_error(void);

/* Named options of one command: a flag sets *on, an option stores *value. */
typedef struct cli_flag {
    const char *name; /* "--json" */
    const char **value;
    int *on;
} cli_flag;

#define CLI_MAX_OVERRIDES 256
typedef struct cli_args {
    /* configs/default.yaml < the model's defaults (model_spec.defaults) <
     * --config FILE < key=value, so a user setting always wins */
    sermo_config *config;
    const char **positional; /* (argc) as many as the command line holds: `predict *.wav` */
    int n_positional;
    /* The user's layers, kept to build the settings again for another model. */
    const char *config_path;
    const char *overrides[CLI_MAX_OVERRIDES]; /* "key=value", command-line order */
    int n_overrides;
} cli_args;

/* Parses argv[1..]; flags ends with a {NULL} entry. Returns non-zero after
 * printing the error. */
int cli_parse(int argc, char **argv, const cli_flag *flags, cli_args *out);
void cli_args_free(cli_args *args);
/* The layered settings of args as they would be for model `name` (its
 * defaults, model.name set; NULL name: the model the layers name). NULL
 * after printing the error. */
sermo_config *cli_config_for_model(const cli_args *args, const char *name);
/* Audio and feature params from the config, with one shared sample rate. */
int cli_audio_features(const sermo_config *config, sermo_audio_params *ap, sermo_feature_params *fp);
/* The corpus at path (comma-separated for several) with data.* settings. */
int cli_open_corpus(const sermo_config *config, const char *path, sermo_corpus **out);

/* The feature cache of the corpus for these settings, built when missing
 * (progress on stderr) and opened; NULL after printing the error. dir NULL:
 * "cache"; threads 0: all cores; built and path (its file name) may be NULL. */
sermo_cache *cli_open_cache(const sermo_corpus *corpus, const sermo_audio_params *ap, const sermo_feature_params *fp,
                            const char *dir, int32_t threads, int *built, char path[4096]);
/* Predicts the clips of part `which` (all when < 0) from the cache (NULL:
 * from their audio files, as an ensemble must), prints
 * the report and writes classification_report.txt, metrics.json and
 * confusion_matrix.png into dir. Corpus classes map to model labels by name. */
int cli_evaluate(sermo_model *m, const sermo_corpus *corpus, const sermo_cache *cache, const int8_t *part,
                 int which, const char *dir, const char *split_name, sermo_metrics *out);
/* dir/history.csv -> dir/training_curves.png; averaged > 0 (train.average_last)
 * says in the title that the model saved is that mean, not the marked epoch. */
int cli_write_curves(const char *dir, int32_t averaged);
/* The data.split, data.seed, data.*_fraction, data.*_speakers, data.folds
 * and data.fold keys of config, checked (`sermo train` and `sermo cv`). */
int cli_split_params(const sermo_config *config, sermo_split_params *sp);
/* Applies the key=value arguments of argv to config again (after a base was loaded). */
int cli_apply_overrides(sermo_config *config, int argc, char **argv);

/* What a model sees under a config: feature rows (the F of its input),
 * train.threads and train.frames. Non-zero after printing the error. */
typedef struct cli_model_input {
    int32_t rows, threads, frames;
} cli_model_input;
int cli_model_input_from_config(const sermo_config *config, cli_model_input *in);
/* A randomly initialised model of the registry (seed 1, 8 classes) for input
 * (max_batch, 1, rows, max_frames): what `sermo models` counts and `sermo
 * bench` times. NULL with err set. */
struct model *cli_model_create(const char *name, const cli_model_input *in, int32_t max_batch, int32_t max_frames,
                               sermo_error *err);
/* Trainable parameters (BN running statistics are buffers, not counted). */
int64_t cli_model_n_params(const struct model *m);
/* "0.39M", "1.2k", "134M". */
void cli_format_count(int64_t n, char *buf, size_t size);

/* Wall time of `runs` calls of fn(ctx) after `warmup` unmeasured ones: mean
 * and 95th percentile (nearest rank) in ms. Non-zero when a call fails. */
typedef int (*cli_timed_fn)(void *ctx);
int cli_time_calls(cli_timed_fn fn, void *ctx, int warmup, int runs, double *mean_ms, double *p95_ms);
double cli_now(void); /* monotonic seconds */

/* Run folders (`sermo pipeline`, `sermo cv`). A whole file, NUL-terminated
 * (*len its size); NULL when unreadable. */
char *cli_read_file(const char *path, size_t *len);
/* Replaces path whole: fill(f, ctx) writes the content into a temporary file
 * renamed over it. Non-zero on failure with the reason in msg (NULL msg:
 * printed with cli_error). */
int cli_write_atomic(const char *path, void (*fill)(FILE *, const void *), const void *ctx, char *msg, size_t size);
/* The arguments of `sermo train PATH --out run [--resume] [--cache DIR]`
 * with the user's --config and key=value of args, then the n_last (at most
 * CLI_TRAIN_LAST_MAX) settings of last, which therefore win; into argv
 * (CLI_TRAIN_ARGV_MAX entries, NULL-terminated). Returns the count. */
#define CLI_TRAIN_LAST_MAX 4
#define CLI_TRAIN_ARGV_MAX (10 + CLI_MAX_OVERRIDES + CLI_TRAIN_LAST_MAX)
int cli_train_argv(const cli_args *args, const char *path, const char *cache, const char *run, int resume,
                   const char *const *last, int n_last, const char **argv);
/* Epochs run and their summed seconds (the last column of run/history.csv);
 * non-zero with the reason in msg. */
int cli_read_history(const char *run, int32_t *epochs, double *seconds, char *msg, size_t size);

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
