/* test_train_cli.c: `sermo train`, `sermo eval` and `sermo predict` end to
 * end on a small synthetic corpus (two classes told apart by pitch, three
 * speakers), including the run folder's files and bad model files. */
#include "check.h"
#include "cli_run.h"

#include <sndfile.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/sermo_test_train_cli_XXXXXX";

static void write_tone(const char *name, double freq, int seed) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    float x[8000];
    unsigned s = (unsigned)seed * 2654435761u;
    for (int i = 0; i < 8000; i++) {
        s = s * 1103515245u + 12345u;
        double noise = ((s >> 16) & 0x7fff) / 32768.0 - 0.5;
        x[i] = (float)(0.3 * sin(2 * M_PI * freq * i / 16000) + 0.02 * noise);
    }
    sf_writef_float(f, x, 8000);
    sf_close(f);
}

static int exists(const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/run/%s", dir, name);
    return stat(path, &st) == 0 && st.st_size > 0;
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    char path[512];
    snprintf(path, sizeof path, "%s/data.csv", dir);
    FILE *csv = fopen(path, "w");
    fputs("path,label,speaker\n", csv);
    for (int i = 0; i < 36; i++) {
        char name[64];
        int high = i % 2;
        snprintf(name, sizeof name, "clip%02d.wav", i);
        write_tone(name, high ? 1200 + 10 * i : 300 + 5 * i, i);
        fprintf(csv, "%s,%s,s%d\n", name, high ? "angry" : "sad", i % 3 + 1);
    }
    fclose(csv);

    int rc = run("train %s/data.csv --out %s/run --cache %s/cache data.split=speaker data.val_speakers=s2 "
                 "data.test_speakers=s3 train.epochs=3 train.frames=40 train.batch_size=8 train.threads=1 "
                 "features.n_mels=32",
                 dir, dir, dir);
    CHECK(rc == 0, "train exit %d: %s", rc, cli_out);
    CHECK(strstr(cli_out, "test split (12 clips)"), "test report printed: %.600s", cli_out);
    const char *files[] = {"model.safetensors", "checkpoint.safetensors", "history.csv", "split.csv", "config.yaml",
                           "metrics.json", "classification_report.txt", "confusion_matrix.png",
                           "training_curves.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) CHECK(exists(files[i]), "run/%s written", files[i]);

    rc = run("predict %s/run/model.safetensors %s/clip01.wav %s/clip02.wav", dir, dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "clip01.wav: ") && strstr(cli_out, "angry=") && strstr(cli_out, "sad="), "predict: %s", cli_out);
    rc = run("predict %s/run/model.safetensors %s/clip01.wav %s/missing.wav --json", dir, dir, dir);
    CHECK(rc == 1, "a missing file makes the exit code non-zero (%d)", rc);
    CHECK(strstr(cli_out, "\"label\":") && strstr(cli_out, "missing.wav") && strstr(cli_out, "\"error\":"),
          "json keeps going past the bad file: %s", cli_out);

    rc = run("eval %s/run/model.safetensors --data %s/data.csv --cache %s/cache --split all --out %s/eval", dir, dir,
             dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "all split (36 clips)"), "eval all: %s", cli_out);
    rc = run("eval %s/run/model.safetensors --data %s/data.csv --cache %s/cache", dir, dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "test split (12 clips)"), "eval test split from split.csv: %s", cli_out);
    /* Another corpus's names for the same emotions are scored (EmoDB's
     * "anger", "sadness"); an emotion the model lacks is skipped. */
    snprintf(path, sizeof path, "%s/renamed.csv", dir);
    csv = fopen(path, "w");
    fputs("path,label,speaker\n", csv);
    for (int i = 0; i < 36; i++) fprintf(csv, "clip%02d.wav,%s,s%d\n", i, i % 2 ? "anger" : "Sadness", i % 3 + 1);
    fputs("clip00.wav,boredom,s1\n", csv);
    fclose(csv);
    rc = run("eval %s/run/model.safetensors --data %s/renamed.csv --split all --out %s/eval-renamed", dir, dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "all split (36 clips)") && strstr(cli_out, "1 clips skipped"),
          "eval with another corpus's names: %s", cli_out);

    /* A truncated model file and a file that is not a model: clear errors naming them. */
    snprintf(path, sizeof path, "%s/run/model.safetensors", dir);
    char cut[600];
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    FILE *in = fopen(path, "rb"), *o = fopen(cut, "wb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n / 2, o);
    fclose(in);
    fclose(o);
    rc = run("predict %s %s/clip01.wav", cut, dir);
    CHECK(rc == 1 && strstr(cli_out, "cut.safetensors: "), "truncated model: %s", cli_out);
    /* As many files as the shell passes (there was a cap of 64). */
    static char many[100 * 600];
    size_t used = 0;
    for (int i = 0; i < 100; i++) used += (size_t)snprintf(many + used, sizeof many - used, " %s/clip01.wav", dir);
    rc = run("predict %s/run/model.safetensors%s", dir, many);
    int lines = 0;
    for (const char *p = cli_out; (p = strstr(p, "clip01.wav: ")); p++) lines++;
    CHECK(rc == 0 && lines == 100, "100 files: exit %d, %d lines", rc, lines);

    /* A MODEL is the first argument when it ends in .safetensors. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s/clip01.wav %s/audio.safetensors", dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    rc = run("predict %s/audio.safetensors %s/clip01.wav", dir, dir);
    CHECK(rc == 1 && strstr(cli_out, "audio.safetensors: "), "audio as a model: %s", cli_out);

    /* Resume after the run finished continues to a larger epoch count. */
    rc = run("train %s/data.csv --out %s/run --cache %s/cache --resume data.split=speaker data.val_speakers=s2 "
             "data.test_speakers=s3 train.epochs=4 train.frames=40 train.batch_size=8 train.threads=1 "
             "features.n_mels=32",
             dir, dir, dir);
    CHECK(rc == 0 && strstr(cli_out, "4 epochs"), "resume to 4 epochs: %s", cli_out);

    /* Bad settings are refused before any work, naming the key. */
    rc = run("train %s/data.csv --out %s/run2 data.val_fraction=1.5", dir, dir);
    CHECK(rc != 0 && strstr(cli_out, "data.val_fraction"), "bad fraction: %s", cli_out);
    rc = run("train %s/data.csv --out %s/run2 model=nosuchmodel train.epochs=1", dir, dir);
    CHECK(rc != 0 && strstr(cli_out, "nosuchmodel"), "unknown model: %s", cli_out);
    rc = run("train %s/data.csv --out %s/run2 train.epochs=-3", dir, dir);
    CHECK(rc != 0 && strstr(cli_out, "train.epochs"), "bad epochs: %s", cli_out);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
