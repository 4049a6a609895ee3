/* test_zoo_cli.c: `sermo models` (table, JSON, the per-model settings layer),
 * `sermo bench` (its CSV is appended, never truncated) and `sermo pipeline`
 * (one split for all, a failing model is a row, the tables) on a tiny
 * synthetic corpus. Written against whatever the registry holds; training
 * uses cnn3 only, so the test stays fast as the zoo grows. */
#include "check.h"
#include "cli_run.h"

#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/sermo_test_zoo_cli_XXXXXX";

/* What `sermo models --json` says of one model. */
typedef struct zoo_model {
    char name[64];
    long long params; /* -1: null (the model failed to build) */
    int batch_size, epochs, patience, n_mels, hop_length;
    double lr;
} zoo_model;

#define ZOO_MAX 64
static zoo_model zoo[ZOO_MAX];
static int n_zoo;

/* The JSON is cJSON's unformatted print with a fixed key order, so each
 * object reads with one sscanf; a change of shape fails the count check. */
static void parse_zoo(const char *json) {
    for (const char *p = strstr(json, "{\"name\":\""); p && n_zoo < ZOO_MAX; p = strstr(p + 1, "{\"name\":\"")) {
        zoo_model *z = &zoo[n_zoo];
        int used = 0;
        if (sscanf(p, "{\"name\":\"%63[^\"]\",\"params\":%lld,%n", z->name, &z->params, &used) < 2) {
            if (sscanf(p, "{\"name\":\"%63[^\"]\",\"params\":null,%n", z->name, &used) < 1 || !used) continue;
            z->params = -1;
        }
        if (sscanf(p + used,
                   "\"defaults\":{\"batch_size\":%d,\"epochs\":%d,\"patience\":%d,\"n_mels\":%d,\"hop_length\":%d,"
                   "\"lr\":%lf}",
                   &z->batch_size, &z->epochs, &z->patience, &z->n_mels, &z->hop_length, &z->lr) == 6)
            n_zoo++;
    }
}

/* The value of key in `models --resolved` output (key=value lines). */
static double resolved(const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s=", key);
    const char *p = strstr(cli_out, pat);
    if (!p && !strncmp(cli_out, pat + 1, strlen(pat + 1))) p = cli_out - 1;
    return p ? strtod(p + strlen(pat), NULL) : -1e30;
}

/* The six recommended settings resolved as z's, apart from overrides. */
static void check_resolved(const zoo_model *z, const char *what, int batch_size, int n_mels) {
    CHECK(resolved("train.batch_size") == batch_size, "%s %s: train.batch_size %g, want %d", z->name, what,
          resolved("train.batch_size"), batch_size);
    CHECK(resolved("features.n_mels") == n_mels, "%s %s: features.n_mels %g, want %d", z->name, what,
          resolved("features.n_mels"), n_mels);
    CHECK(resolved("train.epochs") == z->epochs, "%s %s: train.epochs %g", z->name, what, resolved("train.epochs"));
    CHECK(resolved("train.patience") == z->patience, "%s %s: train.patience", z->name, what);
    CHECK(resolved("features.hop_length") == z->hop_length, "%s %s: features.hop_length", z->name, what);
    CHECK(fabs(resolved("train.lr") - z->lr) <= 1e-6 * z->lr, "%s %s: train.lr %g, want %g", z->name, what,
          resolved("train.lr"), z->lr);
}

static void test_models(void) {
    /* The whole registry without building it (vgg16 alone takes 2 GB and
     * seconds); parameters are counted below for two small models. */
    int rc = run("models --json --no-params");
    CHECK(rc == 0, "models --json exit %d: %s", rc, cli_out);
    parse_zoo(cli_out);
    int objects = 0;
    for (const char *p = strstr(cli_out, "{\"name\":"); p; p = strstr(p + 1, "{\"name\":")) objects++;
    CHECK(n_zoo >= 1 && n_zoo == objects, "every model parsed: %d of %d: %.300s", n_zoo, objects, cli_out);
    int cnn3 = -1, different = -1;
    for (int i = 0; i < n_zoo; i++) {
        if (!strcmp(zoo[i].name, "cnn3")) cnn3 = i;
        CHECK(zoo[i].params == -1, "--no-params: %s params %lld", zoo[i].name, zoo[i].params);
    }
    CHECK(cnn3 >= 0 && zoo[cnn3].batch_size == 32 && zoo[cnn3].n_mels == 64, "cnn3 keeps default.yaml's settings");

    const char *other = n_zoo > 1 ? zoo[cnn3 == 0 ? 1 : 0].name : "cnn3";
    rc = run("models --json cnn3 %s", other);
    long long params = 0, other_params = 0;
    const char *p = strstr(cli_out, "{\"name\":\"cnn3\",\"params\":");
    CHECK(rc == 0 && p && sscanf(p, "{\"name\":\"cnn3\",\"params\":%lld", &params) == 1, "json: %s", cli_out);
    /* cnn3 for 8 classes: convs without bias 1*32*9 + 32*64*9 + 64*128*9,
     * BN affine 2*(32+64+128), linear 128*8 + 8. */
    CHECK(params == 288 + 18432 + 73728 + 2 * (32 + 64 + 128) + 128 * 8 + 8, "cnn3 params %lld", params);
    char pat[100];
    snprintf(pat, sizeof pat, "{\"name\":\"%.63s\",\"params\":", other);
    CHECK((p = strstr(cli_out, pat)) && sscanf(p + strlen(pat), "%lld", &other_params) == 1 && other_params > 0,
          "%s params: %s", other, cli_out);

    /* The table shows the same rows. */
    rc = run("models cnn3 %s", other);
    CHECK(rc == 0 && strstr(cli_out, "params") && strstr(cli_out, "description"), "table: %s", cli_out);
    CHECK(!strncmp(strchr(cli_out, '\n') + 1, "cnn3 ", 5) && strstr(cli_out, "0.09M"), "cnn3 row: %s", cli_out);
    char line[80];
    snprintf(line, sizeof line, "\n%.63s ", other);
    CHECK(strstr(cli_out, line), "table row for %s", other);
    /* A model that cannot be built at these settings is a row, not a failure. */
    rc = run("models cnn3 %s features.n_mels=4", other);
    CHECK(rc == 0 && strstr(cli_out, "\ncnn3 ") && strstr(cli_out, "error: ") && strstr(cli_out, "n_bins"),
          "error row: %d %s", rc, cli_out);
    rc = run("models nosuchmodel");
    CHECK(rc == 2 && strstr(cli_out, "nosuchmodel"), "unknown model: %d %s", rc, cli_out);

    /* Each model's recommendations land in the resolved config; a user
     * setting wins, whether on the command line or in the --config file. */
    char yaml[600];
    snprintf(yaml, sizeof yaml, "%s/user.yaml", dir);
    for (int i = 0; i < n_zoo; i++) {
        const zoo_model *z = &zoo[i];
        if (cnn3 >= 0 && (z->batch_size != zoo[cnn3].batch_size || z->n_mels != zoo[cnn3].n_mels ||
                          z->epochs != zoo[cnn3].epochs || z->lr != zoo[cnn3].lr))
            different = i;
        rc = run("models --resolved model=%s", z->name);
        CHECK(rc == 0 && strstr(cli_out, "model.name="), "resolved %s: %s", z->name, cli_out);
        check_resolved(z, "defaults", z->batch_size, z->n_mels);
        rc = run("models --resolved train.batch_size=7 model=%s features.n_mels=20", z->name);
        check_resolved(z, "overridden", 7, 20);
        FILE *f = fopen(yaml, "w");
        fprintf(f, "train:\n  batch_size: 5\nfeatures:\n  n_mels: 24\n");
        fclose(f);
        /* The override comes first on the line and still beats the file. */
        rc = run("models --resolved features.n_mels=28 --config %s model=%s", yaml, z->name);
        check_resolved(z, "from a file", 5, 28);
    }
    /* The file may name the model: its recommendations then apply, and a
     * model= argument beats the file's. */
    if (different < 0) {
        fprintf(stderr, "note: no model recommends settings other than cnn3's; file-named model check uses cnn3\n");
        different = cnn3;
    }
    if (different >= 0 && cnn3 >= 0) {
        FILE *f = fopen(yaml, "w");
        fprintf(f, "model:\n  name: %s\n", zoo[different].name);
        fclose(f);
        rc = run("models --resolved --config %s", yaml);
        check_resolved(&zoo[different], "named in the file", zoo[different].batch_size, zoo[different].n_mels);
        rc = run("models --resolved --config %s model=cnn3", yaml);
        check_resolved(&zoo[cnn3], "model= over the file", zoo[cnn3].batch_size, zoo[cnn3].n_mels);
        rc = run("models --resolved cnn3 --config %s", yaml);
        check_resolved(&zoo[cnn3], "a NAME over the file", zoo[cnn3].batch_size, zoo[cnn3].n_mels);
        CHECK(strstr(cli_out, "model.name=cnn3\n"), "NAME sets model.name: %s", cli_out);
    }
}

/* Lines of a text file, or -1. */
static int count_lines(const char *path, char *text, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, size - 1, f);
    text[n] = 0;
    fclose(f);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    return lines;
}

static void test_bench(void) {
    char csv[600], first[8192], second[8192];
    snprintf(csv, sizeof csv, "%s/bench.csv", dir);
    const char *args = "--runs 3 --frames 40 train.threads=1 features.n_mels=16";
    int rc = run("bench cnn3 --out %s %s", csv, args);
    CHECK(rc == 0 && strstr(cli_out, "ms/sample"), "bench exit %d: %s", rc, cli_out);
    CHECK(count_lines(csv, first, sizeof first) == 3, "header and two rows: %s", first);
    const char *header = "date,model,batch,frames,n_mels,threads,runs,mean_ms,p95_ms,ms_per_sample,params\n";
    CHECK(!strncmp(first, header, strlen(header)), "header: %s", first);
    const char *row = strchr(first, '\n');
    for (int b = 0; row && b < 2; b++, row = strchr(row + 1, '\n')) {
        int Y, M, D, h, m, s, batch, frames, mels, threads, runs, n = 0;
        double mean, p95, per;
        long long params;
        int got = sscanf(row + 1, "%4d-%2d-%2dT%2d:%2d:%2dZ,cnn3,%d,%d,%d,%d,%d,%lf,%lf,%lf,%lld%n", &Y, &M, &D, &h, &m,
                         &s, &batch, &frames, &mels, &threads, &runs, &mean, &p95, &per, &params, &n);
        CHECK(got == 15 && row[1 + n] == '\n', "row %d parses: %.120s", b, row + 1);
        CHECK(batch == (b ? 32 : 1) && frames == 40 && mels == 16 && threads == 1 && runs == 3, "row %d fields", b);
        /* With 3 runs the nearest-rank p95 is the slowest, never below the mean. */
        CHECK(mean > 0 && p95 >= mean && fabs(per - mean / batch) <= 1e-3 * per + 1e-5, "row %d times %g %g %g", b,
              mean, p95, per);
        CHECK(params == 93928, "row %d params %lld", b, params);
    }
    rc = run("bench cnn3 --out %s %s", csv, args);
    CHECK(rc == 0 && count_lines(csv, second, sizeof second) == 5 && !strncmp(first, second, strlen(first)),
          "a second bench appends: %s", second);
    rc = run("bench cnn3 nosuchmodel --out %s %s", csv, args);
    CHECK(rc == 2 && strstr(cli_out, "nosuchmodel"), "unknown model refused before timing: %d %s", rc, cli_out);
    rc = run("bench cnn3 --frames 4 --runs 2 --out %s", csv);
    CHECK(rc == 1 && strstr(cli_out, "cnn3"), "too few frames names the model: %d %s", rc, cli_out);
    rc = run("bench cnn3 --runs 0 --out %s", csv);
    CHECK(rc == 2 && strstr(cli_out, "--runs"), "bad --runs: %s", cli_out);
    CHECK(count_lines(csv, second, sizeof second) == 5, "failed benches add no rows");
}

static int same_file(const char *a, const char *b) {
    static char x[1 << 15], y[1 << 15];
    int na = count_lines(a, x, sizeof x), nb = count_lines(b, y, sizeof y);
    return na > 0 && na == nb && !strcmp(x, y);
}

/* The pipeline.csv row of a model (its line without the name), or NULL. */
static const char *csv_row(const char *text, const char *name) {
    char pat[80];
    snprintf(pat, sizeof pat, "\n%s,", name);
    const char *p = strstr(text, pat);
    return p ? p + strlen(pat) : NULL;
}

static void test_pipeline(void) {
    char path[600], a[600], b[600], text[8192];
    snprintf(path, sizeof path, "%s/data.csv", dir);
    FILE *csv = fopen(path, "w");
    fputs("path,label,speaker\n", csv);
    for (int i = 0; i < 24; i++) {
        char name[64];
        snprintf(name, sizeof name, "tone%02d.wav", i);
        char clip[600];
        snprintf(clip, sizeof clip, "%s/%s", dir, name);
        cli_write_tone(clip, i % 2 ? 1500 + 20 * i : 250 + 5 * i, i);
        fprintf(csv, "%s,%s,s%d\n", name, i % 2 ? "high" : "low", i % 3 + 1);
    }
    fclose(csv);
    const char *tiny = "data.split=speaker data.val_speakers=s2 data.test_speakers=s3 train.epochs=2 train.frames=24 "
                       "train.batch_size=8 train.threads=1 features.n_mels=16";

    int rc = run("pipeline %s --models cnn3 --out %s/p --cache %s/cache %s", path, dir, dir, tiny);
    CHECK(rc == 0, "pipeline exit %d: %s", rc, cli_out);
    CHECK(strstr(cli_out, "pipeline: [1/1] cnn3: training") && strstr(cli_out, "pipeline: [1/1] cnn3: done"),
          "progress lines: %.300s", cli_out);
    snprintf(a, sizeof a, "%s/p/split.csv", dir);
    snprintf(b, sizeof b, "%s/p/cnn3/split.csv", dir);
    CHECK(same_file(a, b), "DIR/split.csv is the run's split");
    snprintf(a, sizeof a, "%s/p/pipeline.csv", dir);
    CHECK(count_lines(a, text, sizeof text) == 2, "pipeline.csv: %s", text);
    const char *row = csv_row(text, "cnn3");
    double acc = -1, mf1 = -1, wf1 = -1, train_s = -1, latency = -1;
    long long params = 0;
    int epochs = 0;
    CHECK(row && sscanf(row, "ok,%lf,%lf,%lf,%lld,%lf,%lf,%d,", &acc, &mf1, &wf1, &params, &train_s, &latency,
                        &epochs) == 7,
          "cnn3 row: %s", text);
    CHECK(acc >= 0 && acc <= 1 && mf1 >= 0 && mf1 <= 1 && wf1 >= 0 && wf1 <= 1, "metrics %g %g %g", acc, mf1, wf1);
    CHECK(params == 93928 && epochs == 2 && train_s > 0 && latency > 0, "params %lld epochs %d train %g latency %g",
          params, epochs, train_s, latency);
    snprintf(a, sizeof a, "%s/p/pipeline.md", dir);
    CHECK(count_lines(a, text, sizeof text) == 3 && strstr(text, "| cnn3 | ") && strstr(text, "macro-F1"),
          "pipeline.md: %s", text);
    snprintf(a, sizeof a, "%s/p/cnn3/config.yaml", dir);
    CHECK(count_lines(a, text, sizeof text) > 0 && strstr(text, "n_mels: 16") && strstr(text, "name: cnn3"),
          "the run records the resolved config: %.400s", text);

    /* A different split into the same DIR is refused: the runs must compare. */
    rc = run("pipeline %s --models cnn3 --out %s/p --cache %s/cache %s data.test_speakers=s1 train.epochs=1", path,
             dir, dir, tiny);
    snprintf(a, sizeof a, "%s/p/pipeline.csv", dir);
    count_lines(a, text, sizeof text);
    CHECK(rc == 1 && (row = csv_row(text, "cnn3")) && !strncmp(row, "failed,", 7) && strstr(row, "differs"),
          "changed split: %d %s", rc, text);

    /* A model that fails is a row with its error; the next still runs. Its
     * run folder is blocked by a file, so it fails before any training. */
    const char *blocked = "cnn3";
    for (int i = 0; i < n_zoo; i++)
        if (strcmp(zoo[i].name, "cnn3")) blocked = zoo[i].name;
    snprintf(a, sizeof a, "%s/q", dir);
    mkdir(a, 0755);
    snprintf(a, sizeof a, "%s/q/%.63s", dir, blocked);
    fclose(fopen(a, "w"));
    int both = strcmp(blocked, "cnn3") != 0;
    rc = run("pipeline %s --models %s%s --out %s/q --cache %s/cache %s", path, blocked, both ? ",cnn3" : "", dir,
             dir, tiny);
    snprintf(a, sizeof a, "%s/q/pipeline.csv", dir);
    count_lines(a, text, sizeof text);
    CHECK(rc == 1 && (row = csv_row(text, blocked)) && !strncmp(row, "failed,", 7) && strstr(row, blocked),
          "failed row for %s: %d %s", blocked, rc, text);
    CHECK(!both || ((row = csv_row(text, "cnn3")) && !strncmp(row, "ok,", 3)), "cnn3 still trained: %s", text);
    CHECK(strstr(cli_out, "failed: "), "failure on stderr: %.300s", cli_out);

    rc = run("pipeline %s --models cnn3,nosuchmodel --out %s/r", path, dir);
    CHECK(rc == 2 && strstr(cli_out, "nosuchmodel"), "unknown model refused first: %d %s", rc, cli_out);
    rc = run("pipeline %s --models cnn3,cnn3 --out %s/r", path, dir);
    CHECK(rc == 2 && strstr(cli_out, "twice"), "a model named twice: %d %s", rc, cli_out);
    rc = run("pipeline %s --models cnn3", path);
    CHECK(rc == 2 && strstr(cli_out, "usage"), "--out is required: %d", rc);
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    test_models();
    test_bench();
    test_pipeline();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (check_failed == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
