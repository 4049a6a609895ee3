/* main.c: the `sermo` entry point; dispatches to one file per subcommand. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command commands[] = {
    {"data", "corpus statistics, download and checksum verification", cli_data},
    {"spectrogram", "draw a file's log-mel spectrogram as a PNG", cli_spectrogram},
    {"prepare", "build the feature cache for a corpus", cli_prepare},
    {"train", "train a classifier and write its run folder", cli_train},
    {"eval", "evaluate a model file on a corpus: report, metrics, confusion matrix", cli_eval},
    {"predict", "classify audio files with a model file", cli_predict},
    {"ensemble", "fuse several model files into one (mean of their probabilities)", cli_ensemble},
    {"models", "list the registered models: size, recommended settings", cli_models},
    {"bench", "time model inference at batch 1 and 32, appended to a CSV", cli_bench},
    {"pipeline", "train and compare several models on one split", cli_pipeline},
    {"cv", "k-fold cross-validation by speaker: per-fold and mean results", cli_cv},
};
static const int n_commands = sizeof commands / sizeof commands[0];

static void usage(FILE *out) {
    fprintf(out,
            "usage: sermo <command> [options]\n"
            "\n"
            "Sermo %s: speech emotion recognition.\n\ncommands:\n",
            SERMO_VERSION);
    for (int i = 0; i < n_commands; i++) fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n`sermo <command> --help` describes each command.\n");
}

/* libgomp spins 300,000 times at each barrier before it sleeps. Alone that
 * is free, but when other work shares the cores the spinning threads steal
 * them: two trainings at once took 2.9x as long as one after the other. A
 * spin count of 10,000 costs nothing alone and brings that to 1.2x
 * (BENCHMARKS.md, "Sharing the cores"). libgomp reads its settings before
 * main, so the setting goes into the environment and the program starts
 * again, once. The user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins, and if
 * the restart fails the program simply goes on. */
static void spin_less(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) == 0) execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    spin_less(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sermo %s\n", SERMO_VERSION);
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sermo: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
