/* test_train_cli.c: `sermo train`, `sermo eval` and `sermo predict` end to
 * end on a small synthetic corpus (two classes told apart by pitch, three
 * speakers), including the run folder's files and bad model files. */
#include "check.h"

#include <sndfile.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/sermo_test_train_cli_XXXXXX";
static char out[1 << 16];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    const char *bin = getenv("SERMO_BIN");
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin ? bin : "build/sermo", args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

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
        fprintf(csv, "%s,%s,s%d\n", name, high ? "high" : "low", i % 3 + 1);
    }
    fclose(csv);

    int rc = run("train %s/data.csv --out %s/run --cache %s/cache data.split=speaker data.val_speakers=s2 "
                 "data.test_speakers=s3 train.epochs=3 train.frames=40 train.batch_size=8 train.threads=1 "
                 "features.n_mels=32",
                 dir, dir, dir);
    CHECK(rc == 0, "train exit %d: %s", rc, out);
    CHECK(strstr(out, "test split (12 clips)"), "test report printed: %.600s", out);
    const char *files[] = {"model.safetensors", "checkpoint.safetensors", "history.csv", "split.csv", "config.yaml",
                           "metrics.json", "classification_report.txt", "confusion_matrix.png",
                           "training_curves.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) CHECK(exists(files[i]), "run/%s written", files[i]);

    rc = run("predict %s/run/model.safetensors %s/clip01.wav %s/clip02.wav", dir, dir, dir);
    CHECK(rc == 0 && strstr(out, "clip01.wav: ") && strstr(out, "high=") && strstr(out, "low="), "predict: %s", out);
    rc = run("predict %s/run/model.safetensors %s/clip01.wav %s/missing.wav --json", dir, dir, dir);
    CHECK(rc == 1, "a missing file makes the exit code non-zero (%d)", rc);
    CHECK(strstr(out, "\"label\":") && strstr(out, "missing.wav") && strstr(out, "\"error\":"),
          "json keeps going past the bad file: %s", out);

    rc = run("eval %s/run/model.safetensors --data %s/data.csv --cache %s/cache --split all --out %s/eval", dir, dir,
             dir, dir);
    CHECK(rc == 0 && strstr(out, "all split (36 clips)"), "eval all: %s", out);
    rc = run("eval %s/run/model.safetensors --data %s/data.csv --cache %s/cache", dir, dir, dir);
    CHECK(rc == 0 && strstr(out, "test split (12 clips)"), "eval test split from split.csv: %s", out);

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
    CHECK(rc == 1 && strstr(out, "cut.safetensors: "), "truncated model: %s", out);
    rc = run("predict %s/clip01.wav %s/clip01.wav", dir, dir);
    CHECK(rc == 1 && strstr(out, "clip01.wav: "), "audio as a model: %s", out);

    /* Resume after the run finished continues to a larger epoch count. */
    rc = run("train %s/data.csv --out %s/run --cache %s/cache --resume data.split=speaker data.val_speakers=s2 "
             "data.test_speakers=s3 train.epochs=4 train.frames=40 train.batch_size=8 train.threads=1 "
             "features.n_mels=32",
             dir, dir, dir);
    CHECK(rc == 0 && strstr(out, "4 epochs"), "resume to 4 epochs: %s", out);

    /* Bad settings are refused before any work, naming the key. */
    rc = run("train %s/data.csv --out %s/run2 data.val_fraction=1.5", dir, dir);
    CHECK(rc != 0 && strstr(out, "data.val_fraction"), "bad fraction: %s", out);
    rc = run("train %s/data.csv --out %s/run2 model=nosuchmodel train.epochs=1", dir, dir);
    CHECK(rc != 0 && strstr(out, "nosuchmodel"), "unknown model: %s", out);
    rc = run("train %s/data.csv --out %s/run2 train.epochs=-3", dir, dir);
    CHECK(rc != 0 && strstr(out, "train.epochs"), "bad epochs: %s", out);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
