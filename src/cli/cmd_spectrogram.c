/* cmd_spectrogram.c: `sermo spectrogram FILE -o out.png`. */
#include "cli.h"

#include <stdlib.h>

static const char *spectrogram_usage =
    "usage: sermo spectrogram FILE -o OUT.png [--config FILE] [key=value ...]\n"
    "\n"
    "Decodes FILE with the active audio settings, computes its features with the\n"
    "active feature settings (features.kind=logmel|mfcc|mel, features.n_mels, ...),\n"
    "prints the feature tensor's shape and draws it as a PNG with time and\n"
    "frequency axes.\n";

int cli_spectrogram(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(spectrogram_usage, stdout);
        return 0;
    }
    const char *out = NULL;
    cli_flag flags[] = {{"-o", &out, NULL}, {"--out", &out, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int rc = 1;
    sermo_audio audio = {0};
    sermo_features *feat = NULL;
    float *data = NULL;
    sermo_audio_params ap;
    sermo_feature_params fp;
    sermo_error err;
    if (args.n_positional != 1 || !out) {
        fputs(spectrogram_usage, stderr);
        rc = 2;
        goto done;
    }
    const char *path = args.positional[0];
    if (cli_audio_features(args.config, &ap, &fp)) goto done;
    if (sermo_audio_load_file(path, &ap, &audio, &err) || !(feat = sermo_features_init(&fp, &err))) {
        cli_error("%s", err.msg);
        goto done;
    }
    int64_t frames = sermo_features_n_frames(feat, audio.n);
    int32_t bins = sermo_features_n_bins(feat);
    data = malloc(sizeof(float) * (size_t)bins * (size_t)frames);
    if (!data) {
        cli_error("%s: out of memory", path);
        goto done;
    }
    if (sermo_features_compute(feat, audio.samples, audio.n, data, &err) ||
        sermo_report_spectrogram_png(out, data, bins, frames, &fp, path, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    printf("%s: %.3f s at %d Hz -> features (1, %d, %lld) [channels, bins, frames]; wrote %s\n", path,
           (double)audio.n / audio.sample_rate, audio.sample_rate, bins, (long long)frames, out);
    rc = 0;
done:
    free(data);
    sermo_features_free(feat);
    sermo_audio_free(&audio);
    cli_args_free(&args);
    return rc;
}
