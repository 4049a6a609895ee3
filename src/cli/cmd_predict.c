/* cmd_predict.c: `sermo predict MODEL FILE... [--json]`. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *predict_usage =
    "usage: sermo predict MODEL FILE... [--json] [--threads N]\n"
    "\n"
    "Classifies each audio FILE with MODEL (a model.safetensors from `sermo train`)\n"
    "and prints the most probable label and every class probability (--json: one\n"
    "JSON array). A file that cannot be read is reported with its reason and the\n"
    "others still run; the exit code is non-zero when any file failed.\n";

static int32_t top_class(const float *p, int32_t n) {
    int32_t best = 0;
    for (int32_t k = 1; k < n; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

int cli_predict(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(predict_usage, stdout);
        return 0;
    }
    int json = 0;
    const char *threads = NULL;
    cli_flag flags[] = {{"--json", NULL, &json}, {"--threads", &threads, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    if (args.n_positional < 2) {
        fputs(predict_usage, stderr);
        cli_args_free(&args);
        return 2;
    }
    sermo_error err;
    sermo_model *m = sermo_model_load(args.positional[0], threads ? atoi(threads) : 1, &err);
    if (!m) {
        cli_args_free(&args);
        return cli_error("%s", err.msg);
    }
    int32_t L = sermo_model_n_classes(m);
    float *probs = malloc(sizeof(float) * (size_t)L);
    cJSON *all = json ? cJSON_CreateArray() : NULL;
    int failed = 0;
    for (int i = 1; probs && i < args.n_positional; i++) {
        const char *file = args.positional[i];
        sermo_status st = sermo_model_predict_file(m, file, probs, &err);
        if (st != SERMO_OK) {
            failed++;
            cli_error("%s", err.msg);
            if (all) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "file", file);
                cJSON_AddStringToObject(o, "error", err.msg);
                cJSON_AddItemToArray(all, o);
            }
            continue;
        }
        int32_t top = top_class(probs, L);
        if (all) {
            cJSON *o = cJSON_CreateObject(), *p = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", file);
            cJSON_AddStringToObject(o, "label", sermo_model_class_name(m, top));
            cJSON_AddNumberToObject(o, "probability", probs[top]);
            for (int32_t k = 0; k < L; k++) cJSON_AddNumberToObject(p, sermo_model_class_name(m, k), probs[k]);
            cJSON_AddItemToObject(o, "probabilities", p);
            cJSON_AddItemToArray(all, o);
        } else {
            printf("%s: %s (%.3f)", file, sermo_model_class_name(m, top), probs[top]);
            for (int32_t k = 0; k < L; k++) printf("%s %s=%.3f", k ? "" : " |", sermo_model_class_name(m, k), probs[k]);
            putchar('\n');
        }
    }
    if (all) {
        char *text = cJSON_Print(all);
        if (text) puts(text);
        free(text);
        cJSON_Delete(all);
    }
    if (!probs) failed = cli_error("out of memory");
    free(probs);
    sermo_model_free(m);
    cli_args_free(&args);
    return failed ? 1 : 0;
}
