/* test_predict_segments.c: `sermo predict --segment/--hop` on a synthetic
 * recording of tone (0-2 s), near-silence (2-4 s) and tone (4-6.3 s): window
 * count and times, the silence rule, --json against the text output, one
 * window over the whole file against plain `sermo predict`, and bad
 * durations. The model is a tiny one trained here (three epochs, two classes):
 * its accuracy does not matter, only that each path classifies the same. */
#include "check.h"
#include "cli_run.h"

#include <cjson/cJSON.h>
#include <sndfile.h>

#define RATE 16000

static char dir[] = "/tmp/sermo_test_predict_segments_XXXXXX";

/* A tone of freq Hz (rising by sweep Hz per second) with a little noise,
 * except on [quiet_from, quiet_to) seconds, which hold only noise about
 * 100 dB below the tone. */
static int write_clip(const char *name, double seconds, double freq, double sweep, double quiet_from, double quiet_to,
                      int seed) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {.samplerate = RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) return 1;
    int n = (int)(seconds * RATE + 0.5);
    float *x = malloc(sizeof(float) * (size_t)n);
    unsigned s = (unsigned)seed * 2654435761u;
    for (int i = 0; x && i < n; i++) {
        s = s * 1103515245u + 12345u;
        double noise = ((s >> 16) & 0x7fff) / 32768.0 - 0.5, t = (double)i / RATE;
        int quiet = t >= quiet_from && t < quiet_to;
        x[i] = (float)(quiet ? 1e-5 * noise : 0.3 * sin(2 * M_PI * (freq + 0.5 * sweep * t) * t) + 0.02 * noise);
    }
    int bad = !x || sf_writef_float(f, x, n) != n;
    sf_close(f);
    free(x);
    return bad;
}

/* The JSON array printed by the last run, or NULL (the test fails then). */
static cJSON *parse_output(const char *what) {
    cJSON *j = cJSON_Parse(cli_out);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1, "%s: one JSON object per file: %.400s", what, cli_out);
    return j;
}

/* Runs `predict MODEL ARGS long.wav` in text and --json form and checks the
 * n windows [start, end) and which are silent in both, and that both agree
 * on every label. */
static void check_timeline(const char *args, int n, const double (*times)[2], const int *silent) {
    static char text[sizeof cli_out];
    int rc = run("predict %s/run/model.safetensors %s %s/long.wav", dir, args, dir);
    CHECK(rc == 0, "%s: exit %d: %s", args, rc, cli_out);
    memcpy(text, cli_out, sizeof text);
    rc = run("predict %s/run/model.safetensors %s %s/long.wav --json", dir, args, dir);
    CHECK(rc == 0, "%s --json: exit %d: %s", args, rc, cli_out);
    cJSON *j = parse_output(args);
    const cJSON *segs = cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "segments");
    CHECK(cJSON_GetArraySize(segs) == n, "%s: %d windows, expected %d", args, cJSON_GetArraySize(segs), n);
    const char *line = text;
    for (int i = 0; i < n && i < cJSON_GetArraySize(segs); i++) {
        const cJSON *w = cJSON_GetArrayItem(segs, i);
        double t0 = cJSON_GetNumberValue(cJSON_GetObjectItem(w, "start"));
        double t1 = cJSON_GetNumberValue(cJSON_GetObjectItem(w, "end"));
        int quiet = cJSON_IsTrue(cJSON_GetObjectItem(w, "silence"));
        const cJSON *label = cJSON_GetObjectItem(w, "label"), *probs = cJSON_GetObjectItem(w, "probabilities");
        CHECK(fabs(t0 - times[i][0]) < 1e-9 && fabs(t1 - times[i][1]) < 1e-9, "%s window %d: %g-%g s, expected %g-%g",
              args, i, t0, t1, times[i][0], times[i][1]);
        CHECK(quiet == silent[i], "%s window %d (%g-%g s): silence %d, expected %d", args, i, t0, t1, quiet,
              silent[i]);
        CHECK(quiet ? !label && !probs : cJSON_IsString(label) && cJSON_GetArraySize(probs) == 2,
              "%s window %d: a silent window has no label, the others a label and 2 probabilities", args, i);
        /* The text line of the same window: "FILE START-END s: LABEL (P)". */
        char want[256];
        snprintf(want, sizeof want, " %.3f-%.3f s: %s", times[i][0], times[i][1],
                 quiet ? "silence" : cJSON_IsString(label) ? label->valuestring : "?");
        const char *hit = line ? strstr(line, want) : NULL;
        CHECK(hit != NULL, "%s: text line '%s' (in order) in: %.800s", args, want, text);
        line = hit ? strchr(hit, '\n') : NULL;
    }
    int lines = 0;
    for (const char *p = text; (p = strstr(p, " s: ")); p++) lines++;
    CHECK(lines == n, "%s: %d text lines, expected %d", args, lines, n);
    cJSON_Delete(j);
}

/* One window over the whole of file (seconds long) must give plain
 * `sermo predict`'s probabilities. The long file's centre, which a model of
 * 40 frames sees, is quiet, so a short sweep is checked too: its spectrum
 * changes every frame, so a window shifted or cut by a frame shows. */
static void check_whole_file_window(const char *file, double seconds) {
    int rc = run("predict %s/run/model.safetensors %s/%s --json", dir, dir, file);
    CHECK(rc == 0, "plain predict %s: exit %d: %s", file, rc, cli_out);
    cJSON *plain = parse_output("plain predict");
    rc = run("predict %s/run/model.safetensors --segment 10s %s/%s --json", dir, dir, file);
    CHECK(rc == 0, "--segment 10s %s: exit %d: %s", file, rc, cli_out);
    cJSON *seg = parse_output("--segment 10s");
    const cJSON *segs = cJSON_GetObjectItem(cJSON_GetArrayItem(seg, 0), "segments");
    const cJSON *w = cJSON_GetArrayItem(segs, 0);
    CHECK(cJSON_GetArraySize(segs) == 1, "%s: a segment longer than the file gives one window, not %d", file,
          cJSON_GetArraySize(segs));
    CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(w, "start"))) < 1e-12 &&
              fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(w, "end")) - seconds) < 1e-9,
          "%s: the window spans 0-%g s", file, seconds);
    const cJSON *p_plain = cJSON_GetObjectItem(cJSON_GetArrayItem(plain, 0), "probabilities");
    const cJSON *p_seg = cJSON_GetObjectItem(w, "probabilities");
    CHECK(cJSON_GetArraySize(p_plain) == 2 && cJSON_GetArraySize(p_seg) == 2, "%s: both give 2 probabilities", file);
    for (const cJSON *a = p_plain ? p_plain->child : NULL; a; a = a->next) {
        const cJSON *b = cJSON_GetObjectItem(p_seg, a->string);
        double d = b ? fabs(a->valuedouble - b->valuedouble) : 1;
        CHECK(d <= 1e-6, "%s class %s: whole file %.9g, one window %.9g", file, a->string, a->valuedouble,
              b ? b->valuedouble : -1);
    }
    cJSON_Delete(plain);
    cJSON_Delete(seg);
}

static void check_bad_durations(void) {
    const char *bad[][3] = {
        {"--segment 0", "--segment '0'", "greater than 0"},
        {"--segment -1s", "--segment '-1s'", "greater than 0"},
        {"--segment 2min", "--segment '2min'", "not a duration"},
        {"--segment s", "--segment 's'", "not a duration"},
        {"--segment nan", "--segment 'nan'", "greater than 0"},
        {"--segment 3s --hop 0ms", "--hop '0ms'", "greater than 0"},
        {"--segment 3s --hop 1x", "--hop '1x'", "not a duration"},
        {"--hop 1s", "--hop needs --segment", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = run("predict %s/run/model.safetensors %s %s/long.wav", dir, bad[i][0], dir);
        CHECK(rc == 2 && strstr(cli_out, bad[i][1]) && strstr(cli_out, bad[i][2]), "%s: exit %d: %s", bad[i][0], rc,
              cli_out);
    }
    /* Less than one sample at the model's rate: an error naming the file. */
    int rc = run("predict %s/run/model.safetensors --segment 0.00001 %s/long.wav", dir, dir);
    CHECK(rc == 1 && strstr(cli_out, "long.wav: ") && strstr(cli_out, "one sample"), "tiny segment: %s", cli_out);
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    char path[512];
    snprintf(path, sizeof path, "%s/data.csv", dir);
    FILE *csv = fopen(path, "w");
    if (!csv) SKIP("cannot write %s", path);
    fputs("path,label,speaker\n", csv);
    int bad = 0;
    for (int i = 0; i < 12; i++) {
        char name[64];
        snprintf(name, sizeof name, "clip%02d.wav", i);
        bad |= write_clip(name, 0.5, i % 2 ? 1200 + 10 * i : 300 + 5 * i, 0, 0, 0, i);
        fprintf(csv, "%s,%s,s%d\n", name, i % 2 ? "high" : "low", i % 3 + 1);
    }
    fclose(csv);
    bad |= write_clip("long.wav", 6.3, 440, 0, 2.0, 4.0, 99);
    bad |= write_clip("sweep.wav", 0.7, 200, 5000, 0, 0, 7);
    CHECK(!bad, "test clips written");

    int rc = run("train %s/data.csv --out %s/run --cache %s/cache data.split=speaker data.val_speakers=s2 "
                 "data.test_speakers=s3 train.epochs=3 train.frames=40 train.batch_size=4 train.threads=1 "
                 "features.n_mels=32",
                 dir, dir, dir);
    CHECK(rc == 0, "train exit %d: %s", rc, cli_out);

    if (rc == 0) {
        /* 1 s windows every 1 s: the 0.3 s tail is under half a segment. */
        const double t1[][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}};
        const int s1[] = {0, 0, 1, 1, 0, 0};
        check_timeline("--segment 1s --hop 1s", 6, t1, s1);
        /* Every 500 ms: windows partly in the tone are not silent; the last,
         * 5.5-6.3 s, is 0.8 of a segment and reaches the end, so kept. */
        const double t2[][2] = {{0, 1},   {0.5, 1.5}, {1, 2}, {1.5, 2.5}, {2, 3}, {2.5, 3.5},
                                {3, 4},   {3.5, 4.5}, {4, 5}, {4.5, 5.5}, {5, 6}, {5.5, 6.3}};
        const int s2[] = {0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
        check_timeline("--segment 1000ms --hop 0.5", 12, t2, s2);
        /* --hop defaults to the segment; 1.5 s windows leave a 0.3 s tail. */
        const double t3[][2] = {{0, 1.5}, {1.5, 3}, {3, 4.5}, {4.5, 6}};
        const int s3[] = {0, 0, 0, 0};
        check_timeline("--segment 1.5s", 4, t3, s3);
        /* A hop longer than the segment skips the audio between windows. */
        const double t4[][2] = {{0, 1}, {2, 3}, {4, 5}};
        const int s4[] = {0, 1, 0};
        check_timeline("--segment 1 --hop 2s", 3, t4, s4);
        check_whole_file_window("long.wav", 6.3);
        check_whole_file_window("sweep.wav", 0.7);
        check_bad_durations();
    }

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
