/* cmd_ensemble.c: `sermo ensemble -o OUT MODEL MODEL... [--weights W,W...]`. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *ensemble_usage =
    "usage: sermo ensemble -o OUT.safetensors MODEL MODEL... [--weights W,W...]\n"
    "\n"
    "Writes one model file that classifies with every MODEL (model.safetensors\n"
    "files from `sermo train`, with the same labels) and averages their class\n"
    "probabilities, weighted by --weights (default: equal; normalised to sum 1):\n"
    "late fusion. Each member keeps its own audio and feature settings, so a\n"
    "log-mel network and an egemaps-linear model can be fused. Weight tensors\n"
    "are stored as float16: half the size, the same accuracy. `sermo predict`\n"
    "and `sermo eval` take the file like any model (eval then classifies each\n"
    "clip's audio, since the members' features differ).\n";

/* "0.7,0.3" into w (n values), or non-zero after the error. */
static int parse_weights(const char *text, float *w, int n) {
    const char *p = text;
    for (int i = 0; i < n; i++) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x > 0 && x < 1e30) || (i + 1 < n ? *end != ',' : *end != 0))
            return cli_error("ensemble: --weights '%s' is not %d positive numbers separated by commas", text, n);
        w[i] = (float)x;
        p = end + 1;
    }
    return 0;
}

int cli_ensemble(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(ensemble_usage, stdout);
        return 0;
    }
    const char *out = NULL, *weights = NULL;
    cli_flag flags[] = {{"-o", &out, NULL}, {"--weights", &weights, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int rc = 0, n = args.n_positional;
    float *w = weights ? malloc(sizeof(float) * (size_t)(n ? n : 1)) : NULL;
    if (!out || n < 2) {
        fputs(ensemble_usage, stderr);
        rc = 2;
    } else if (weights && (!w || parse_weights(weights, w, n))) {
        rc = 2;
    } else {
        sermo_error err;
        if (sermo_model_write_ensemble(out, args.positional, w, n, &err)) rc = cli_error("%s", err.msg);
        else printf("%s: an ensemble of %d models\n", out, n);
    }
    free(w);
    cli_args_free(&args);
    return rc;
}
