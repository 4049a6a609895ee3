/* test_ensemble_cli.c: `sermo ensemble` and ensemble files in predict and
 * eval. Two models with different features (cnn3 on log-mel, egemaps-linear
 * on functionals) are trained on tones; their ensemble with weights 3:1 must
 * give 0.75 p_a + 0.25 p_b for every file (predict; to 1e-4, as the members'
 * weights are stored as F16, which must shrink the file), classify windows
 * (--segment) and evaluate a split (eval, from the audio). Refused: one
 * member, weights that do not match, an ensemble as a member, members with
 * other labels, a truncated ensemble file. */
#include "check.h"
#include "cli_run.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

static char dir[] = "/tmp/sermo_test_ensemble_cli_XXXXXX";

/* Writes n tones (class i % n_classes at 200 Hz * 2^class) and their manifest. */
static void write_corpus(const char *name, int n, int n_classes) {
    static const char *const labels[] = {"low", "high", "top"};
    char path[600];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    FILE *csv = fopen(path, "w");
    if (!csv) return;
    fputs("path,label,speaker\n", csv);
    for (int i = 0; i < n; i++) {
        char clip[700];
        snprintf(clip, sizeof clip, "%s/%s%02d.wav", dir, name, i);
        cli_write_tone(clip, 200.0 * (1 << (i % n_classes)) * (1 + 0.01 * (i % 5)), i);
        fprintf(csv, "%s%02d.wav,%s,s%d\n", name, i, labels[i % n_classes], i % 3 + 1);
    }
    fclose(csv);
}

static long file_size(const char *fmt, const char *d) {
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, fmt, d);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The probabilities of the last --json predict's first file, by label. */
static int read_probs(double *low, double *high) {
    cJSON *j = cJSON_Parse(cli_out);
    const cJSON *p = cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "probabilities");
    const cJSON *a = cJSON_GetObjectItem(p, "low"), *b = cJSON_GetObjectItem(p, "high");
    int ok = cJSON_IsNumber(a) && cJSON_IsNumber(b);
    if (ok) {
        *low = a->valuedouble;
        *high = b->valuedouble;
    }
    cJSON_Delete(j);
    return ok;
}

#define TRAIN_KEYS "data.split=speaker data.val_speakers=s2 data.test_speakers=s3 train.batch_size=4 train.threads=1"

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    write_corpus("two", 12, 2);
    write_corpus("three", 12, 3);
    int rc = run("train %s/two.csv --out %s/a --cache %s/cache " TRAIN_KEYS " train.epochs=2 train.frames=16 "
                 "features.n_mels=16",
                 dir, dir, dir);
    CHECK(rc == 0, "train cnn3: %s", cli_out);
    rc = run("train %s/two.csv --out %s/b --cache %s/cache model=egemaps-linear " TRAIN_KEYS " train.epochs=5", dir, dir,
             dir);
    CHECK(rc == 0, "train egemaps-linear: %s", cli_out);
    rc = run("train %s/three.csv --out %s/c --cache %s/cache model=egemaps-linear " TRAIN_KEYS " train.epochs=2", dir,
             dir, dir);
    CHECK(rc == 0, "train on three classes: %s", cli_out);

    rc = run("ensemble -o %s/e.safetensors %s/a/model.safetensors %s/b/model.safetensors --weights 3,1", dir, dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "an ensemble of 2 models"), "ensemble: exit %d: %s", rc, cli_out);
    for (int i = 0; i < 12; i += 5) {
        double a[2] = {0}, b[2] = {0}, e[2] = {0};
        int ok = run("predict %s/a/model.safetensors %s/two%02d.wav --json", dir, dir, i) == 0 && read_probs(a, a + 1);
        ok &= run("predict %s/b/model.safetensors %s/two%02d.wav --json", dir, dir, i) == 0 && read_probs(b, b + 1);
        ok &= run("predict %s/e.safetensors %s/two%02d.wav --json", dir, dir, i) == 0 && read_probs(e, e + 1);
        CHECK(ok, "clip %d: three predictions: %.300s", i, cli_out);
        for (int k = 0; ok && k < 2; k++)
            CHECK(fabs(e[k] - (0.75 * a[k] + 0.25 * b[k])) < 1e-4, "clip %d class %d: ensemble %.9g, 0.75 %.9g + 0.25 %.9g",
                  i, k, e[k], a[k], b[k]);
    }
    /* The members' weights are stored as F16: the cnn3's 18k-element conv
     * shrinks the file well below the members' sum. */
    long size_a = file_size("%s/a/model.safetensors", dir), size_b = file_size("%s/b/model.safetensors", dir);
    long size_e = file_size("%s/e.safetensors", dir);
    CHECK(size_a > 0 && size_b > 0 && size_e > 0 && size_e < size_a * 3 / 4 + size_b, "ensemble %ld bytes, members %ld + %ld",
          size_e, size_a, size_b);
    rc = run("predict %s/e.safetensors --segment 0.2s %s/two01.wav", dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "0.000-0.200 s: "), "ensemble over windows: %s", cli_out);
    rc = run("eval %s/e.safetensors --data %s/two.csv --split-file %s/a/split.csv --out %s/eval", dir, dir, dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "test split (4 clips)"), "eval of the ensemble: exit %d: %s", rc, cli_out);

    struct {
        const char *args, *want;
        int rc;
    } bad[] = {
        {"ensemble -o %s/x.safetensors %s/a/model.safetensors", "usage", 2},
        {"ensemble -o %s/x.safetensors %s/a/model.safetensors %s/b/model.safetensors --weights 1", "--weights", 2},
        {"ensemble -o %s/x.safetensors %s/a/model.safetensors %s/b/model.safetensors --weights 1,-1", "--weights", 2},
        {"ensemble -o %s/x.safetensors %s/e.safetensors %s/b/model.safetensors", "is an ensemble itself", 1},
        {"ensemble -o %s/x.safetensors %s/a/model.safetensors %s/c/model.safetensors", "labels differ", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[1024];
        snprintf(args, sizeof args, bad[i].args, dir, dir, dir);
        rc = run("%s", args);
        CHECK(rc == bad[i].rc && strstr(cli_out, bad[i].want), "%s: exit %d: %s", args, rc, cli_out);
    }
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "head -c 3000 %s/e.safetensors > %s/cut.safetensors", dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    rc = run("predict %s/cut.safetensors %s/two01.wav", dir, dir);
    CHECK(rc == 1 && strstr(cli_out, "cut.safetensors"), "truncated ensemble: %s", cli_out);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
