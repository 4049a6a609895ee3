/* test_golden.c: sermo_features_compute and sermo_features_mel_bank against
 * torchaudio 0.13 outputs in tests/fixtures/features (written by
 * tests/features/gen_fixtures.py; see cases.txt there for each case).
 *
 * The references are torchaudio's transforms run in float64 and stored as
 * float32 (gen_fixtures.py says why); cases.txt also records how far
 * torchaudio's own float32 output is from them, printed here for context.
 *
 * Tolerance: |got - ref| <= atol + 1e-4 |ref| with atol = 1e-5 * max|ref| of
 * the case, for entries near zero (spectral valleys, triangle edges, dB
 * values crossing 0, delta cancellations) where float32 FFT rounding is
 * large relative to the entry.
 */
#include "check.h"
#include "sermo.h"

#include <stdint.h>

#define RTOL 1e-4
#define ATOL_FRAC 1e-5

static float *read_f32(const char *dir, const char *name, long n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    float *v = malloc(sizeof(float) * (size_t)n);
    long got = v ? (long)fread(v, sizeof(float), (size_t)n, fp) : 0;
    int extra = fgetc(fp) != EOF;
    fclose(fp);
    if (got != n || extra) {
        free(v);
        return NULL;
    }
    return v; /* the fixtures are little-endian; so is every target we build on */
}

/* Set one sermo_feature_params field from "key=value" as cases.txt spells it. */
static int set_param(sermo_feature_params *p, const char *key, const char *v) {
    struct { const char *name; int32_t *field; } ints[] = {
        {"sample_rate", &p->sample_rate}, {"n_fft", &p->n_fft}, {"win_length", &p->win_length},
        {"hop_length", &p->hop_length}, {"center", &p->center}, {"n_mels", &p->n_mels},
        {"mel_norm_slaney", &p->mel_norm_slaney}, {"n_mfcc", &p->n_mfcc}, {"deltas", &p->deltas},
        {"delta_win", &p->delta_win}};
    struct { const char *name; float *field; } floats[] = {
        {"power", &p->power}, {"f_min", &p->f_min}, {"f_max", &p->f_max},
        {"log_offset", &p->log_offset}, {"top_db", &p->top_db}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(key, ints[i].name)) return *ints[i].field = atoi(v), 1;
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (!strcmp(key, floats[i].name)) return *floats[i].field = strtof(v, NULL), 1;
    if (!strcmp(key, "window")) {
        p->window = !strcmp(v, "hann") ? SERMO_WINDOW_HANN : !strcmp(v, "hamming") ? SERMO_WINDOW_HAMMING
                                                                                   : SERMO_WINDOW_RECT;
        return !strcmp(v, "hann") || !strcmp(v, "hamming") || !strcmp(v, "rect");
    }
    if (!strcmp(key, "pad_mode")) return p->pad_mode = strcmp(v, "reflect") ? SERMO_PAD_CONSTANT : SERMO_PAD_REFLECT, 1;
    if (!strcmp(key, "mel_scale")) return p->mel_scale = strcmp(v, "htk") ? SERMO_MEL_SLANEY : SERMO_MEL_HTK, 1;
    if (!strcmp(key, "log_mode")) return p->log_mode = strcmp(v, "db") ? SERMO_LOG_NATURAL : SERMO_LOG_DB, 1;
    if (!strcmp(key, "kind")) {
        p->kind = !strcmp(v, "mel") ? SERMO_FEATURE_MEL : !strcmp(v, "mfcc") ? SERMO_FEATURE_MFCC
                                                                            : SERMO_FEATURE_LOGMEL;
        return 1;
    }
    return 0;
}

static double max_abs(const float *v, long n) {
    double m = 0;
    for (long i = 0; i < n; i++)
        if (fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

static void run_case(const char *dir, const char *what, const char *file, long rows, long cols,
                     const sermo_feature_params *p, const float *input, long n_input) {
    sermo_error err = {0};
    sermo_features *f = sermo_features_init(p, &err);
    CHECK(f != NULL, "%s: init: %s", file, err.msg);
    if (!f) return;
    float *ref = read_f32(dir, file, rows * cols);
    CHECK(ref != NULL, "%s: cannot read %ld floats", file, rows * cols);
    if (!strcmp(what, "fbank")) {
        CHECK(p->n_fft / 2 + 1 == rows && p->n_mels == cols, "%s: shape %ldx%ld", file, rows, cols);
        if (ref && p->n_fft / 2 + 1 == rows && p->n_mels == cols)
            check_close(file, sermo_features_mel_bank(f), ref, rows * cols, ATOL_FRAC * max_abs(ref, rows * cols),
                        RTOL);
    } else {
        int64_t frames = sermo_features_n_frames(f, n_input);
        CHECK(sermo_features_n_bins(f) == rows, "%s: n_bins %d, torchaudio %ld", file, sermo_features_n_bins(f),
              rows);
        CHECK(frames == cols, "%s: n_frames %lld, torchaudio %ld", file, (long long)frames, cols);
        if (ref && sermo_features_n_bins(f) == rows && frames == cols) {
            float *out = malloc(sizeof(float) * (size_t)(rows * cols));
            sermo_status st = sermo_features_compute(f, input, n_input, out, &err);
            CHECK(st == SERMO_OK, "%s: compute: %s", file, err.msg);
            if (st == SERMO_OK)
                check_close(file, out, ref, rows * cols, ATOL_FRAC * max_abs(ref, rows * cols), RTOL);
            free(out);
        }
    }
    free(ref);
    sermo_features_free(f);
}

int main(void) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/features", check_source_dir());
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "cannot open %s (run from the source tree or set SERMO_SOURCE_DIR)", path);
    if (!fp) return check_report();

    float *input = NULL;
    long n_input = 0;
    int n_cases = 0;
    char line[8192];
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char what[32], file[256];
        long rows, cols;
        int used = 0;
        if (sscanf(line, "%31s %255s %ld %ld%n", what, file, &rows, &cols, &used) != 4) {
            CHECK(0, "cases.txt: bad line: %s", line);
            continue;
        }
        if (!strcmp(what, "input")) {
            free(input);
            n_input = rows * cols;
            input = read_f32(dir, file, n_input);
            CHECK(input != NULL, "cannot read %s", file);
            continue;
        }
        sermo_feature_params p;
        sermo_feature_default_params(&p);
        char *save = NULL;
        for (char *tok = strtok_r(line + used, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
            char *eq = strchr(tok, '=');
            CHECK(eq != NULL, "%s: bad token %s", file, tok);
            if (!eq) continue;
            *eq = 0;
            if (!strcmp(tok, "torch32_max_rel")) { /* context: torchaudio float32 vs this reference */
                fprintf(stderr, "%s: torchaudio float32 max_rel %s\n", file, eq + 1);
                continue;
            }
            CHECK(set_param(&p, tok, eq + 1), "%s: unknown key %s=%s", file, tok, eq + 1);
        }
        CHECK(input != NULL || !strcmp(what, "fbank"), "%s: no input line before it", file);
        if (input || !strcmp(what, "fbank")) run_case(dir, what, file, rows, cols, &p, input, n_input);
        n_cases++;
    }
    fclose(fp);
    CHECK(n_cases >= 14, "only %d cases in cases.txt", n_cases);
    free(input);
    return check_report();
}
