/* test_cli.c: the `sermo` command as a user meets it: help on every command,
 * errors naming the file and the reason with a non-zero exit, and the data
 * commands on the real corpora when ../shared/data is present. */
#include "check.h"
#include "cli_run.h"

#include <sys/stat.h>
#include <sys/wait.h>


static void test_help(void) {
    const char *commands[] = {"", "data", "data stats", "spectrogram", "prepare", "train", "eval", "predict"};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        char args[128];
        snprintf(args, sizeof args, "%s --help", commands[i]);
        int rc = run("%s", args);
        CHECK(rc == 0 && strstr(cli_out, "usage: sermo"), "`sermo %s` exit %d: %s", args, rc, cli_out);
    }
    CHECK(run("frobnicate") == 2 && strstr(cli_out, "unknown command"), "unknown command: %s", cli_out);
    CHECK(run("%s", "") == 2 && strstr(cli_out, "usage"), "no command: %s", cli_out);
    CHECK(run("prepare --bogus x") == 2 && strstr(cli_out, "--bogus"), "unknown option: %s", cli_out);
}

static void test_errors(void) {
    int rc = run("spectrogram /nonexistent/clip.wav -o /tmp/x.png");
    CHECK(rc == 1 && strstr(cli_out, "sermo: /nonexistent/clip.wav: "), "missing file: %s", cli_out);
    FILE *f = fopen("/tmp/sermo_cli_not_audio.wav", "w");
    fputs("hello", f);
    fclose(f);
    rc = run("spectrogram /tmp/sermo_cli_not_audio.wav -o /tmp/x.png");
    CHECK(rc == 1 && strstr(cli_out, "sermo: /tmp/sermo_cli_not_audio.wav: "), "not audio: %s", cli_out);
    rc = run("data stats /nonexistent/corpus");
    CHECK(rc != 0 && strstr(cli_out, "/nonexistent/corpus"), "missing corpus: %s", cli_out);
    rc = run("spectrogram x.wav -o y.png features.n_fft=abc");
    CHECK(rc != 0 && strstr(cli_out, "features.n_fft"), "bad value names the key: %s", cli_out);
    rc = run("spectrogram x.wav -o y.png --config /nonexistent/c.yaml");
    CHECK(rc != 0 && strstr(cli_out, "/nonexistent/c.yaml"), "missing config: %s", cli_out);
    rc = run("data verify /tmp --sha256 /nonexistent/list.tsv");
    CHECK(rc != 0 && strstr(cli_out, "/nonexistent/list.tsv"), "missing checksum list: %s", cli_out);
}

static void test_real_data(const char *data) {
    char args[1024];
    snprintf(args, sizeof args, "data stats %s/ravdess", data);
    int rc = run("%s", args);
    CHECK(rc == 0, "stats exit %d: %s", rc, cli_out);
    CHECK(strstr(cli_out, "clips: 1440 (readable 1440"), "1440 clips: %.400s", cli_out);
    CHECK(strstr(cli_out, "classes: 8, speakers: 24"), "8 classes, 24 speakers: %.400s", cli_out);
    CHECK(strstr(cli_out, "multi-channel files (5)"), "5 stereo files: %.2000s", cli_out);

    snprintf(args, sizeof args, "data stats --json %s/ravdess", data);
    CHECK(run("%s", args) == 0 && strstr(cli_out, "\"clips\":\t1440"), "json stats: %.300s", cli_out);

    snprintf(args, sizeof args, "data verify %s/ravdess-wav --sha256 %s/checksums/ravdess-tess-emodb-jl.sha256.tsv",
             data, data);
    rc = run("%s", args);
    CHECK(rc == 0 && strstr(cli_out, "10 ok"), "verify exit %d: %s", rc, cli_out);

    snprintf(args, sizeof args,
             "spectrogram %s/ravdess/Actor_01/03-01-01-01-01-01-01.flac -o /tmp/sermo_cli_spec.png", data);
    rc = run("%s", args);
    struct stat st;
    CHECK(rc == 0 && stat("/tmp/sermo_cli_spec.png", &st) == 0 && st.st_size > 1000, "spectrogram: %s", cli_out);
    CHECK(strstr(cli_out, "features (1, 64, "), "shape printed: %s", cli_out);
}

int main(void) {
    test_help();
    test_errors();
    const char *data = check_shared_data();
    if (data) test_real_data(data);
    else fprintf(stderr, "note: ../shared/data absent, real-corpus CLI checks skipped\n");
    return check_report();
}
