/* cmd_predict.c: `sermo predict [MODEL] FILE... [--json]`, and with
 * --segment a timeline of emotions over each (long) recording. Without a
 * MODEL the bundled default model (models/default.safetensors) is used. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *predict_usage =
    "usage: sermo predict [MODEL] FILE... [--json] [--threads N] [--segment DUR [--hop DUR]]\n"
    "\n"
    "Classifies each audio FILE with MODEL (a model.safetensors from `sermo train`)\n"
    "and prints the most probable label and every class probability (--json: one\n"
    "JSON array). A file that cannot be read is reported with its reason and the\n"
    "others still run; the exit code is non-zero when any file failed.\n"
    "\n"
    "MODEL is the first argument when its name ends in .safetensors. Without one,\n"
    "the bundled default model is used (RAVDESS's 8 emotions, trained on RAVDESS;\n"
    "non-commercial licence, see models/MODEL_CARD.md): $SERMO_MODEL when set,\n"
    "else share/sermo/default.safetensors beside the installed binary's folder,\n"
    "else models/default.safetensors of the source tree the binary was built in.\n"
    "\n"
    "Long recordings: --segment DUR cuts each file into windows of DUR starting\n"
    "every --hop DUR (default: the segment, no overlap; a hop longer than the\n"
    "segment skips the audio between windows) and prints one line per window:\n"
    "  FILE START-END s: LABEL (PROBABILITY)   or   FILE START-END s: silence\n"
    "(--json: one object per file, {file, segment, hop, segments: [{start, end,\n"
    "label, probability, probabilities}, or {start, end, silence: true}]}).\n"
    "Durations are 3s, 1.5s, 500ms or a bare number of seconds, > 0 and at most\n"
    "one hour. The file is decoded and resampled once; each window is then\n"
    "classified exactly as a file of that length would be (trimmed, featurised\n"
    "with the model's settings). The last window, cut short by the end of the\n"
    "file, is kept when it is at least half a segment long (a file shorter than\n"
    "one segment gives one window of the whole file). A window is `silence`, and\n"
    "not classified, when its energy (mean square) is more than D dB below the\n"
    "loudest window of the file, or zero; D is the model's trim threshold\n"
    "(-audio.trim_db, when the model trims) or else 60 dB.\n";

/* Silence threshold for models that do not trim their input. */
#define PREDICT_SILENCE_DB 60.0
#define PREDICT_MAX_SECONDS 3600.0

static int32_t top_class(const float *p, int32_t n) {
    int32_t best = 0;
    for (int32_t k = 1; k < n; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

/* label, probability and probabilities{name: p} of one prediction into o. */
static void predict_json_probs(cJSON *o, const sermo_model *m, const float *probs) {
    int32_t L = sermo_model_n_classes(m), top = top_class(probs, L);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", sermo_model_class_name(m, top));
    cJSON_AddNumberToObject(o, "probability", probs[top]);
    for (int32_t k = 0; k < L; k++) cJSON_AddNumberToObject(p, sermo_model_class_name(m, k), probs[k]);
    cJSON_AddItemToObject(o, "probabilities", p);
}

/* Seconds from "3s", "1.5s", "500ms" or a bare "2"; non-zero after printing
 * the error, which names the option and the text. */
static int predict_parse_duration(const char *flag, const char *text, double *seconds) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || (*end && strcmp(end, "s") && strcmp(end, "ms")))
        return cli_error("%s '%s': not a duration (write 3s, 1.5s, 500ms or a number of seconds)", flag, text);
    if (!strcmp(end, "ms")) v /= 1000.0;
    if (!(v > 0) || !(v <= PREDICT_MAX_SECONDS)) /* also refuses nan and inf */
        return cli_error("%s '%s': the duration must be greater than 0 and at most %g s", flag, text,
                         PREDICT_MAX_SECONDS);
    *seconds = v;
    return 0;
}

/* Window k of a file of n samples cut into windows of seg every hop: its
 * [*start, *end) in samples, or 0 when the timeline has ended. The timeline
 * ends once a window reaches the end of the file; a window cut short there
 * is kept when at least half a segment long, except the first, always kept
 * so that a file shorter than a segment still gets one window. */
static int predict_window(int64_t n, int64_t seg, int64_t hop, int64_t k, int64_t *start, int64_t *end) {
    int64_t a = k * hop, b = a + seg < n ? a + seg : n;
    if (k > 0 && (a >= n || (k - 1) * hop + seg >= n || 2 * (b - a) < seg)) return 0;
    *start = a;
    *end = b;
    return 1;
}

static double predict_energy(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n > 0 ? s / (double)n : 0;
}

/* The timeline of one file: text lines as they come, or one object appended
 * to all. Keeps only the decoded file; each window's copy and features live
 * inside sermo_model_predict_pcm. Returns non-zero after printing the error. */
static int predict_segments_file(sermo_model *m, const char *file, double seg_s, double hop_s, float *probs,
                                 cJSON *all) {
    /* Decode and resample once; trimming and crop/pad belong to each window,
     * as they would to a file of that length. */
    const sermo_audio_params *mp = sermo_model_audio_params(m);
    sermo_audio_params ap = *mp;
    ap.trim = 0;
    ap.duration_ms = 0;
    sermo_audio a;
    sermo_error err;
    cJSON *o = all ? cJSON_CreateObject() : NULL, *segs = all ? cJSON_CreateArray() : NULL;
    if (o) {
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddNumberToObject(o, "segment", seg_s);
        cJSON_AddNumberToObject(o, "hop", hop_s);
        cJSON_AddItemToArray(all, o);
    }
    int failed = 0;
    char msg[sizeof err.msg + 128] = "";
    if (sermo_audio_load_file(file, &ap, &a, &err) != SERMO_OK) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        failed = 1;
    }
    int32_t rate = failed ? 0 : a.sample_rate;
    int64_t seg = llround(seg_s * rate), hop = llround(hop_s * rate);
    if (!failed && (seg < 1 || hop < 1)) {
        snprintf(msg, sizeof msg, "%s: --segment %g s and --hop %g s must each be at least one sample at %d Hz", file,
                 seg_s, hop_s, rate);
        failed = 1;
    }
    /* The model's own trim threshold says how far below the loudest part a
     * sound stops counting; a window that far down holds nothing to classify. */
    double db = mp->trim ? -(double)mp->trim_db : PREDICT_SILENCE_DB, e_max = 0;
    int64_t s0, s1;
    for (int64_t k = 0; !failed && predict_window(a.n, seg, hop, k, &s0, &s1); k++)
        e_max = fmax(e_max, predict_energy(a.samples + s0, s1 - s0));
    const double e_floor = e_max * pow(10.0, -db / 10.0);
    for (int64_t k = 0; !failed && predict_window(a.n, seg, hop, k, &s0, &s1); k++) {
        double e = predict_energy(a.samples + s0, s1 - s0), t0 = (double)s0 / rate, t1 = (double)s1 / rate;
        int silent = !(e > 0) || e < e_floor;
        if (!silent && sermo_model_predict_pcm(m, a.samples + s0, s1 - s0, rate, probs, &err) != SERMO_OK) {
            snprintf(msg, sizeof msg, "%s: window %.3f-%.3f s: %s", file, t0, t1, err.msg);
            failed = 1;
            break;
        }
        if (segs) {
            cJSON *w = cJSON_CreateObject();
            cJSON_AddNumberToObject(w, "start", t0);
            cJSON_AddNumberToObject(w, "end", t1);
            if (silent) cJSON_AddTrueToObject(w, "silence");
            else predict_json_probs(w, m, probs);
            cJSON_AddItemToArray(segs, w);
        } else if (silent) {
            printf("%s %.3f-%.3f s: silence\n", file, t0, t1);
        } else {
            int32_t top = top_class(probs, sermo_model_n_classes(m));
            printf("%s %.3f-%.3f s: %s (%.3f)\n", file, t0, t1, sermo_model_class_name(m, top), probs[top]);
        }
    }
    if (o) cJSON_AddItemToObject(o, "segments", segs);
    else cJSON_Delete(segs); /* only when cJSON ran out of memory for o */
    if (failed) {
        cli_error("%s", msg);
        if (o) cJSON_AddStringToObject(o, "error", msg);
    }
    sermo_audio_free(&a);
    return failed;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The bundled model's path into buf (see predict_usage for the order), or
 * non-zero after an error naming every place looked at. The binary's own
 * location, not a compiled-in path, so an installed tree can move. */
static int predict_default_model(char *buf, size_t size) {
    const char *env = getenv("SERMO_MODEL");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return cli_error("predict: no MODEL given, SERMO_MODEL is unset and the binary's path is unknown");
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    const char *const places[] = {"../share/sermo/default.safetensors", "../models/default.safetensors"};
    for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
        snprintf(buf, size, "%s/%s", exe, places[i]);
        if (access(buf, R_OK) == 0) return 0;
    }
    return cli_error("predict: no MODEL given and no default model: set SERMO_MODEL, or install one as "
                     "%s/../share/sermo/default.safetensors (or %s/../models/default.safetensors)",
                     exe, exe);
}

int cli_predict(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(predict_usage, stdout);
        return 0;
    }
    int json = 0;
    const char *threads = NULL, *segment = NULL, *hop = NULL;
    cli_flag flags[] = {{"--json", NULL, &json},
                        {"--threads", &threads, NULL},
                        {"--segment", &segment, NULL},
                        {"--hop", &hop, NULL},
                        {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int first = args.n_positional > 0 && ends_with(args.positional[0], ".safetensors");
    if (args.n_positional < 1 + first) {
        fputs(predict_usage, stderr);
        cli_args_free(&args);
        return 2;
    }
    double seg_s = 0, hop_s = 0;
    int bad = hop && !segment ? cli_error("predict: --hop needs --segment") : 0;
    if (!bad && segment) bad = predict_parse_duration("--segment", segment, &seg_s);
    if (!bad && segment) bad = hop ? predict_parse_duration("--hop", hop, &hop_s) : (hop_s = seg_s, 0);
    if (bad) {
        cli_args_free(&args);
        return 2;
    }
    char model_path[PATH_MAX + 64];
    if (first) snprintf(model_path, sizeof model_path, "%s", args.positional[0]);
    else if (predict_default_model(model_path, sizeof model_path)) {
        cli_args_free(&args);
        return 1;
    }
    sermo_error err;
    sermo_model *m = sermo_model_load(model_path, threads ? atoi(threads) : 1, &err);
    if (!m) {
        cli_args_free(&args);
        return cli_error("%s", err.msg);
    }
    int32_t L = sermo_model_n_classes(m);
    float *probs = malloc(sizeof(float) * (size_t)L);
    cJSON *all = json ? cJSON_CreateArray() : NULL;
    int failed = 0;
    for (int i = first; probs && i < args.n_positional; i++) {
        const char *file = args.positional[i];
        if (segment) {
            failed += predict_segments_file(m, file, seg_s, hop_s, probs, all);
            continue;
        }
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
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", file);
            predict_json_probs(o, m, probs);
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
