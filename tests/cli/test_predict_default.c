/* test_predict_default.c: the bundled default model. models/default.safetensors
 * and models/MODEL_CARD.md are part of the product: the model must load, stay
 * within 10 MB, classify into RAVDESS's 8 emotions, and be what `sermo predict
 * FILE` uses without a MODEL ($SERMO_MODEL first, then beside the binary).
 * With ../shared/data present it must also recognise RAVDESS clips, which it
 * was trained on, well above chance: a stale or untrained file fails. */
#include "check.h"
#include "cli_run.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_BYTES (10 * 1024 * 1024)

static const char *const emotions[] = {"neutral", "calm",    "happy",   "sad",
                                       "angry",   "fearful", "disgust", "surprised"};

static char dir[] = "/tmp/sermo_test_predict_default_XXXXXX";

/* The probabilities of the one file in the last --json run, checked to be the
 * 8 emotions summing to 1; the top label into top (or "" on failure). */
static void check_probs(const char *what, char *top, size_t size) {
    cJSON *j = cJSON_Parse(cli_out);
    const cJSON *o = cJSON_GetArrayItem(j, 0), *p = cJSON_GetObjectItem(o, "probabilities");
    const cJSON *label = cJSON_GetObjectItem(o, "label");
    CHECK(cJSON_GetArraySize(p) == 8, "%s: 8 probabilities: %.400s", what, cli_out);
    double sum = 0;
    for (int k = 0; k < 8; k++) {
        const cJSON *v = cJSON_GetObjectItem(p, emotions[k]);
        CHECK(cJSON_IsNumber(v), "%s: a probability for %s", what, emotions[k]);
        sum += cJSON_GetNumberValue(v);
    }
    CHECK(fabs(sum - 1) < 1e-5, "%s: probabilities sum to %g", what, sum);
    snprintf(top, size, "%s", cJSON_IsString(label) ? label->valuestring : "");
    cJSON_Delete(j);
}

/* RAVDESS actors 1 and 2, statement 1, first repetition, every emotion at
 * both intensities (neutral has only normal): 15 clips per actor. */
static void check_ravdess(const char *root) {
    int right = 0, total = 0;
    for (int actor = 1; actor <= 2; actor++)
        for (int e = 1; e <= 8; e++)
            for (int intensity = 1; intensity <= 2; intensity++) {
                if (e == 1 && intensity == 2) continue; /* neutral has no strong take */
                char path[1200];
                snprintf(path, sizeof path, "%s/Actor_%02d/03-01-%02d-%02d-01-01-%02d.flac", root, actor, e,
                         intensity, actor);
                int rc = run("predict %s --json", path);
                CHECK(rc == 0, "%s: exit %d: %.300s", path, rc, cli_out);
                char top[32];
                check_probs(path, top, sizeof top);
                right += !strcmp(top, emotions[e - 1]);
                total++;
            }
    printf("bundled model on %d RAVDESS training clips: %d right\n", total, right);
    CHECK(right * 2 > total, "the bundled model gets %d of %d of its own training clips: not the trained model?",
          right, total);
}

int main(void) {
    const char *src = getenv("SERMO_SOURCE_DIR");
    if (!src) SKIP("SERMO_SOURCE_DIR is not set");
    char model[1024], card[1024], clip[600];
    snprintf(model, sizeof model, "%s/models/default.safetensors", src);
    snprintf(card, sizeof card, "%s/models/MODEL_CARD.md", src);
    struct stat st;
    CHECK(stat(model, &st) == 0 && st.st_size > 0 && st.st_size <= MAX_BYTES, "%s: present and at most 10 MB (%lld)",
          model, (long long)st.st_size);
    size_t n = 0;
    FILE *f = fopen(card, "r");
    char *text = f ? calloc(1, 1 << 16) : NULL;
    if (text) n = fread(text, 1, (1 << 16) - 1, f);
    if (f) fclose(f);
    CHECK(n > 0 && strstr(text, "CC BY-NC-SA 4.0") && strstr(text, "non-commercial"),
          "%s: present, with RAVDESS's licence", card);
    free(text);

    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    snprintf(clip, sizeof clip, "%s/tone.wav", dir);
    cli_write_tone(clip, 220, 1);

    /* Found beside the binary (build/../models) when SERMO_MODEL is unset. */
    unsetenv("SERMO_MODEL");
    int rc = run("predict %s --json", clip);
    CHECK(rc == 0, "predict FILE without a model: exit %d: %.400s", rc, cli_out);
    char top[32];
    check_probs("bundled", top, sizeof top);
    static char bundled[sizeof cli_out];
    memcpy(bundled, cli_out, sizeof bundled);
    rc = run("predict %s %s --json", model, clip);
    CHECK(rc == 0 && !strcmp(bundled, cli_out), "predict MODEL FILE gives the same output: %.400s", cli_out);

    /* $SERMO_MODEL comes first: a missing one is an error naming it. */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/nowhere.safetensors", dir);
    setenv("SERMO_MODEL", missing, 1);
    rc = run("predict %s", clip);
    CHECK(rc == 1 && strstr(cli_out, missing), "SERMO_MODEL=%s: exit %d: %.400s", missing, rc, cli_out);
    setenv("SERMO_MODEL", model, 1);
    rc = run("predict %s --json", clip);
    CHECK(rc == 0 && !strcmp(bundled, cli_out), "SERMO_MODEL=the bundled file: same output: %.400s", cli_out);
    unsetenv("SERMO_MODEL");

    const char *shared = getenv("SERMO_SHARED_DATA");
    char root[1024];
    snprintf(root, sizeof root, "%s/ravdess", shared ? shared : "../shared/data");
    if (stat(root, &st) == 0) check_ravdess(root);
    else printf("skipping the RAVDESS check: %s not found\n", root);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
