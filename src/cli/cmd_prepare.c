/* cmd_prepare.c: `sermo prepare PATH`: corpus + feature config -> cache file. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *prepare_usage =
    "usage: sermo prepare PATH [--cache DIR] [--threads N] [--config FILE] [key=value ...]\n"
    "\n"
    "Decodes every clip of the corpus folder or CSV manifest PATH (several joined\n"
    "by commas), computes its features and stores them in one memory-mapped cache\n"
    "file under DIR (default: cache), named after a hash of the corpus file list\n"
    "and the audio and feature settings. Running it again with the same settings\n"
    "reuses the file; any changed setting makes a new one.\n";

int cli_prepare(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(prepare_usage, stdout);
        return 0;
    }
    const char *dir = NULL, *threads = NULL;
    cli_flag flags[] = {{"--cache", &dir, NULL}, {"--threads", &threads, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int rc = 1;
    sermo_corpus *corpus = NULL;
    sermo_audio_params ap;
    sermo_feature_params fp;
    if (args.n_positional != 1) {
        fputs(prepare_usage, stderr);
        rc = 2;
        goto done;
    }
    if (cli_audio_features(args.config, &ap, &fp) || cli_open_corpus(args.config, args.positional[0], &corpus))
        goto done;
    int32_t n_threads = 0;
    if (threads && (n_threads = atoi(threads)) <= 0) {
        cli_error("--threads: '%s' is not a positive number", threads);
        goto done;
    }
    int built = 0;
    char path[4096];
    sermo_cache *cache = cli_open_cache(corpus, &ap, &fp, dir, n_threads, &built, path);
    if (!cache) goto done;
    printf("%s: %lld clips, %d feature rows, %d classes (%s)\n", path, (long long)sermo_cache_size(cache),
           sermo_cache_n_bins(cache), sermo_corpus_n_classes(corpus),
           built ? "built" : "up to date, reused");
    sermo_cache_close(cache);
    rc = 0;
done:
    sermo_corpus_free(corpus);
    cli_args_free(&args);
    return rc;
}
