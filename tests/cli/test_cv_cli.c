/* test_cv_cli.c: `sermo cv` on a tiny synthetic corpus of 6 speakers, K = 3,
 * cnn3 for one epoch: every speaker is tested in exactly one fold (folds.csv
 * and each fold's split.csv agree), the tables hold K rows of sane numbers
 * whose mean and sample std the summary repeats, the summed confusion matrix
 * counts every clip once, a rerun reuses the folds (their metrics.json are
 * not rewritten) and retrains only a fold whose split changed, a fold that
 * fails is a row while the others run, and bad arguments are clear errors. */
#include "check.h"
#include "cli_run.h"

#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define K 3
#define N_CLIPS 24
#define N_SPEAKERS 6

static char dir[] = "/tmp/sermo_test_cv_cli_XXXXXX";
static char text[1 << 16];

/* A whole file into text; its length, or -1. */
static long slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        text[0] = 0;
        return -1;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return (long)n;
}

/* The clips: tone<i>.wav, speaker s<i % 6 + 1>, half high and half low. */
static char clip_path[N_CLIPS][600];
static char clip_speaker[N_CLIPS][16]; /* the manifest is data.csv: speakers are "data:s1" ... */

static void make_corpus(const char *manifest) {
    FILE *csv = fopen(manifest, "w");
    fputs("path,label,speaker\n", csv);
    for (int i = 0; i < N_CLIPS; i++) {
        snprintf(clip_path[i], sizeof clip_path[i], "%s/tone%02d.wav", dir, i);
        snprintf(clip_speaker[i], sizeof clip_speaker[i], "data:s%d", i % N_SPEAKERS + 1);
        int high = (i / N_SPEAKERS) % 2;
        cli_write_tone(clip_path[i], high ? 1500 + 20 * i : 250 + 5 * i, i);
        fprintf(csv, "tone%02d.wav,%s,s%d\n", i, high ? "high" : "low", i % N_SPEAKERS + 1);
    }
    fclose(csv);
}

static int clip_index(const char *path) {
    for (int i = 0; i < N_CLIPS; i++)
        if (!strcmp(clip_path[i], path)) return i;
    return -1;
}

/* folds.csv -> fold_of[clip]; every clip exactly once, one fold per speaker. */
static void check_folds_csv(const char *out, int fold_of[N_CLIPS]) {
    char path[700], line_path[600], speaker[64];
    snprintf(path, sizeof path, "%s/folds.csv", out);
    CHECK(slurp(path) > 0 && !strncmp(text, "path,speaker,fold\n", 18), "folds.csv header: %.80s", text);
    for (int i = 0; i < N_CLIPS; i++) fold_of[i] = -1;
    int rows = 0, per_fold[K] = {0};
    for (const char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        int fold = -1, i;
        CHECK(sscanf(p + 1, "%599[^,],%63[^,],%d", line_path, speaker, &fold) == 3, "row: %.80s", p + 1);
        rows++;
        CHECK((i = clip_index(line_path)) >= 0, "folds.csv lists an unknown clip %s", line_path);
        if (i < 0) continue;
        CHECK(fold_of[i] < 0, "%s listed twice", line_path);
        CHECK(!strcmp(speaker, clip_speaker[i]), "%s: speaker %s, want %s", line_path, speaker, clip_speaker[i]);
        CHECK(fold >= 0 && fold < K, "%s: fold %d", line_path, fold);
        fold_of[i] = fold;
        if (fold >= 0 && fold < K) per_fold[fold]++;
    }
    CHECK(rows == N_CLIPS, "folds.csv has %d rows, want %d", rows, N_CLIPS);
    for (int i = 0; i < N_CLIPS; i++)
        for (int j = 0; j < N_CLIPS; j++)
            if (!strcmp(clip_speaker[i], clip_speaker[j]))
                CHECK(fold_of[i] == fold_of[j], "speaker %s is in folds %d and %d", clip_speaker[i], fold_of[i],
                      fold_of[j]);
    for (int k = 0; k < K; k++) CHECK(per_fold[k] == N_CLIPS / K, "fold %d has %d clips", k, per_fold[k]);
}

/* Each fold's split.csv: its test clips are exactly folds.csv's fold k, and
 * no speaker is in two parts of one fold. */
static void check_fold_splits(const char *out, const int fold_of[N_CLIPS]) {
    int tested[N_CLIPS] = {0};
    for (int k = 0; k < K; k++) {
        char path[700], line_path[600], speaker[64], label[64], part[16];
        snprintf(path, sizeof path, "%s/fold-%d/split.csv", out, k);
        CHECK(slurp(path) > 0, "%s missing", path);
        char part_of_speaker[N_SPEAKERS + 1][16] = {{0}};
        for (const char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
            int i, s;
            if (sscanf(p + 1, "%599[^,],%63[^,],%63[^,],%15s", line_path, speaker, label, part) != 4 ||
                (i = clip_index(line_path)) < 0 || sscanf(speaker, "data:s%d", &s) != 1 || s < 1 || s > N_SPEAKERS) {
                CHECK(0, "%s row: %.80s", path, p + 1);
                continue;
            }
            int test = !strcmp(part, "test");
            tested[i] += test;
            CHECK(test == (fold_of[i] == k), "fold %d: %s is %s, folds.csv says fold %d", k, line_path, part,
                  fold_of[i]);
            CHECK(!part_of_speaker[s][0] || !strcmp(part_of_speaker[s], part), "fold %d: speaker %s in %s and %s",
                  k, speaker, part_of_speaker[s], part);
            snprintf(part_of_speaker[s], sizeof part_of_speaker[s], "%s", part);
        }
    }
    for (int i = 0; i < N_CLIPS; i++) CHECK(tested[i] == 1, "%s tested in %d folds", clip_path[i], tested[i]);
}

typedef struct cv_row {
    int fold, clips, epochs;
    char status[16];
    double acc, uar, mf1, wf1, seconds;
} cv_row;

/* cv.csv's rows; returns their count. */
static int read_cv_csv(const char *out, cv_row rows[K + 1]) {
    char path[700];
    snprintf(path, sizeof path, "%s/cv.csv", out);
    const char *header = "fold,status,test_speakers,clips,accuracy,uar,macro_f1,weighted_f1,epochs,train_seconds,error\n";
    CHECK(slurp(path) > 0 && !strncmp(text, header, strlen(header)), "cv.csv header: %.120s", text);
    int n = 0;
    for (const char *p = strchr(text, '\n'); p && p[1] && n <= K; p = strchr(p + 1, '\n'), n++) {
        cv_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        const char *sp = strchr(strchr(p + 1, ',') + 1, ','); /* after fold,status */
        sscanf(p + 1, "%d,%15[^,]", &r->fold, r->status);
        if (!strcmp(r->status, "ok"))
            CHECK(sp && sscanf(sp + 1, "%*[^,],%d,%lf,%lf,%lf,%lf,%d,%lf,", &r->clips, &r->acc, &r->uar, &r->mf1,
                               &r->wf1, &r->epochs, &r->seconds) == 7,
                  "cv.csv row: %.160s", p + 1);
    }
    return n;
}

/* The number after `"key": ` at or after from in text, or NaN. */
static double json_after(const char *from, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = from ? strstr(from, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void check_results(const char *out) {
    cv_row rows[K + 1];
    CHECK(read_cv_csv(out, rows) == K, "cv.csv has %d rows", read_cv_csv(out, rows));
    double sum[3] = {0}, vals[3][K];
    int clips = 0;
    for (int k = 0; k < K; k++) {
        const cv_row *r = &rows[k];
        CHECK(r->fold == k && !strcmp(r->status, "ok"), "row %d: fold %d status %s", k, r->fold, r->status);
        CHECK(r->acc >= 0 && r->acc <= 1 && r->uar >= 0 && r->uar <= 1 && r->mf1 >= 0 && r->mf1 <= 1 &&
                  r->wf1 >= 0 && r->wf1 <= 1,
              "fold %d metrics in [0,1]: %g %g %g %g", k, r->acc, r->uar, r->mf1, r->wf1);
        CHECK(r->epochs == 1 && r->seconds > 0, "fold %d: %d epochs, %g s", k, r->epochs, r->seconds);
        clips += r->clips;
        vals[0][k] = r->acc, vals[1][k] = r->uar, vals[2][k] = r->mf1;
        for (int m = 0; m < 3; m++) sum[m] += vals[m][k];
    }
    CHECK(clips == N_CLIPS, "the folds test %d clips", clips);

    /* The summary repeats the rows' mean and sample std (n - 1). */
    char path[700];
    snprintf(path, sizeof path, "%s/cv.json", out);
    CHECK(slurp(path) > 0, "cv.json missing");
    const char *summary = strstr(text, "\"summary\"");
    const char *names[3] = {"accuracy", "uar", "macro_f1"};
    CHECK(summary && json_after(summary, "completed") == K, "completed folds: %.200s", summary);
    for (int m = 0; m < 3; m++) {
        double mean = sum[m] / K, sq = 0;
        for (int k = 0; k < K; k++) sq += (vals[m][k] - mean) * (vals[m][k] - mean);
        double std = sqrt(sq / (K - 1));
        const char *at = summary ? strstr(summary, names[m]) : NULL;
        double got_mean = json_after(at, "mean"), got_std = json_after(at, "std");
        /* cv.csv keeps 6 decimals */
        CHECK(fabs(got_mean - mean) <= 2e-6, "%s mean %g, rows give %g", names[m], got_mean, mean);
        CHECK(fabs(got_std - std) <= 4e-6, "%s std %g, rows give %g (sample std)", names[m], got_std, std);
    }
    /* The pooled matrix counts every test clip once. */
    const char *pooled = strstr(text, "\"pooled\"");
    CHECK(pooled && json_after(pooled, "n") == N_CLIPS, "pooled n: %.200s", pooled ? pooled : text);
    const char *m = pooled ? strstr(pooled, "\"confusion_matrix\"") : NULL;
    long cells = 0;
    for (const char *p = m ? strchr(m, '[') + 1 : NULL; p && *p && *p != '}';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end != p) cells += v, p = end;
        else p++;
    }
    CHECK(cells == N_CLIPS, "confusion matrix cells sum to %ld", cells);
    snprintf(path, sizeof path, "%s/cv.md", out);
    CHECK(slurp(path) > 0 && strstr(text, "| 0 | ") && strstr(text, "| 2 | ") && strstr(text, "mean +- std"),
          "cv.md: %.300s", text);
    snprintf(path, sizeof path, "%s/confusion_matrix.png", out);
    CHECK(slurp(path) > 8 && !memcmp(text, "\x89PNG\r\n\x1a\n", 8), "confusion_matrix.png is a PNG");
}

static struct timespec metrics_mtime(const char *out, int k) {
    char path[700];
    struct stat sb;
    snprintf(path, sizeof path, "%s/fold-%d/metrics.json", out, k);
    if (stat(path, &sb) != 0) return (struct timespec){-1, 0};
    return sb.st_mtim;
}

static int same_time(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    char manifest[600], out[600], path[700];
    snprintf(manifest, sizeof manifest, "%s/data.csv", dir);
    snprintf(out, sizeof out, "%s/cv", dir);
    make_corpus(manifest);
    /* lr 0.03: one epoch already separates the folds' scores a little. */
    const char *tiny = "model=cnn3 train.epochs=1 train.lr=0.03 train.frames=24 train.batch_size=8 train.threads=1 "
                       "features.n_mels=16";

    int rc = run("cv %s --folds %d --by speaker --out %s --cache %s/cache %s", manifest, K, out, dir, tiny);
    CHECK(rc == 0, "cv exit %d: %s", rc, cli_out);
    CHECK(strstr(cli_out, "cv: [1/3] fold 0") && strstr(cli_out, "cv: [3/3] fold 2: done") &&
              strstr(cli_out, "mean +- std"),
          "progress and summary: %.400s", cli_out);
    int fold_of[N_CLIPS];
    check_folds_csv(out, fold_of);
    check_fold_splits(out, fold_of);
    check_results(out);

    /* The same command reuses every fold: nothing is rewritten. */
    struct timespec before[K];
    for (int k = 0; k < K; k++) before[k] = metrics_mtime(out, k);
    usleep(20000);
    rc = run("cv %s --folds %d --by speaker --out %s --cache %s/cache %s", manifest, K, out, dir, tiny);
    CHECK(rc == 0 && strstr(cli_out, "reusing") && !strstr(cli_out, "training into"), "rerun: %d %.400s", rc,
          cli_out);
    for (int k = 0; k < K; k++)
        CHECK(same_time(before[k], metrics_mtime(out, k)), "fold %d metrics.json rewritten on rerun", k);
    check_results(out);

    /* A reused fold's numbers come from its metrics.json: set to 0.2, 0.5
     * and 0.8, the summary must say mean 0.5 and sample std 0.3 (the
     * population std would be 0.245). */
    for (int k = 0; k < K; k++) {
        snprintf(path, sizeof path, "%s/fold-%d/metrics.json", out, k);
        char *at = slurp(path) > 0 ? strstr(text, "\"accuracy\": ") : NULL, *end = at ? strchr(at, ',') : NULL;
        CHECK(end, "%s has an accuracy", path);
        if (!end) continue;
        static char edited[sizeof text];
        snprintf(edited, sizeof edited, "%.*s\"accuracy\": %.1f%s", (int)(at - text), text, 0.2 + 0.3 * k, end);
        FILE *f = fopen(path, "w");
        fputs(edited, f);
        fclose(f);
    }
    rc = run("cv %s --folds %d --by speaker --out %s --cache %s/cache %s", manifest, K, out, dir, tiny);
    snprintf(path, sizeof path, "%s/cv.json", out);
    const char *acc = slurp(path) > 0 && strstr(text, "\"summary\"") ? strstr(strstr(text, "\"summary\""), "accuracy")
                                                                       : NULL;
    CHECK(rc == 0 && fabs(json_after(acc, "mean") - 0.5) < 1e-12 && fabs(json_after(acc, "std") - 0.3) < 1e-12,
          "summary of 0.2, 0.5, 0.8: %d %.300s", rc, acc ? acc : text);
    for (int k = 0; k < K; k++) before[k] = metrics_mtime(out, k);
    usleep(20000);

    /* A fold whose split.csv is not this run's is trained again, alone. */
    snprintf(path, sizeof path, "%s/fold-1/split.csv", out);
    if (slurp(path) > 0) {
        char *test = strstr(text, ",test\n");
        if (test) { /* one test clip becomes validation */
            memcpy(test, ",val\n", 5);
            memmove(test + 5, test + 6, strlen(test + 6) + 1);
        }
        FILE *f = fopen(path, "w");
        fputs(text, f);
        fclose(f);
    }
    rc = run("cv %s --folds %d --by speaker --out %s --cache %s/cache %s", manifest, K, out, dir, tiny);
    CHECK(rc == 0, "rerun after a changed split: %d %.400s", rc, cli_out);
    CHECK(same_time(before[0], metrics_mtime(out, 0)) && same_time(before[2], metrics_mtime(out, 2)),
          "folds 0 and 2 reused");
    CHECK(!same_time(before[1], metrics_mtime(out, 1)) && metrics_mtime(out, 1).tv_sec > 0, "fold 1 retrained");
    check_fold_splits(out, fold_of);

    /* Another setting is another experiment: no fold is reused. */
    rc = run("cv %s --folds %d --out %s --cache %s/cache %s train.batch_size=4", manifest, K, out, dir, tiny);
    CHECK(rc == 0 && !strstr(cli_out, "reusing"), "changed settings retrain: %d %.300s", rc, cli_out);

    /* A fold that fails is a row with its error; the others still run. */
    snprintf(path, sizeof path, "%s/q", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/q/fold-1", dir);
    fclose(fopen(path, "w")); /* a file where the run folder goes */
    rc = run("cv %s --folds %d --out %s/q --cache %s/cache %s", manifest, K, dir, dir, tiny);
    cv_row rows[K + 1];
    snprintf(path, sizeof path, "%s/q", dir);
    int n = read_cv_csv(path, rows);
    CHECK(rc == 1 && n == K && !strcmp(rows[0].status, "ok") && !strcmp(rows[1].status, "failed") &&
              !strcmp(rows[2].status, "ok") && strstr(text, "fold-1"),
          "failed fold row: %d %s", rc, text);
    CHECK(strstr(cli_out, "fold 1: failed: "), "failure on stderr: %.300s", cli_out);

    /* --fuse: each fold the ensemble of two earlier runs' fold models
     * (cnn3 above, egemaps-linear here), evaluated on the fold's test clips. */
    rc = run("cv %s --folds %d --out %s/eg --cache %s/cache model=egemaps-linear train.epochs=3 train.threads=1",
             manifest, K, dir, dir);
    CHECK(rc == 0, "egemaps cv: %d %.300s", rc, cli_out);
    rc = run("cv %s --folds %d --out %s/fused --fuse %s,%s/eg", manifest, K, dir, out, dir);
    snprintf(path, sizeof path, "%s/fused", dir);
    n = read_cv_csv(path, rows);
    int fused_ok = rc == 0 && n == K;
    for (int k = 0; fused_ok && k < K; k++)
        fused_ok = !strcmp(rows[k].status, "ok") && rows[k].clips == N_CLIPS / K && rows[k].epochs == 3;
    CHECK(fused_ok && strstr(cli_out, "late fusion of"), "fused folds: %d %.600s", rc, cli_out);
    snprintf(path, sizeof path, "%s/fused/fold-0/model.safetensors", dir);
    rc = run("predict %s %s", path, clip_path[0]);
    CHECK(rc == 0, "the fused fold model predicts: %.300s", cli_out);
    /* A run whose fold 1 never trained cannot be fused there. */
    rc = run("cv %s --folds %d --out %s/fused2 --fuse %s/q,%s/eg", manifest, K, dir, dir, dir);
    CHECK(rc == 1 && strstr(cli_out, "fold-1: not trained on this fold's split"), "fusing a failed fold: %d %.400s",
          rc, cli_out);

    /* data.val_folds=0: no validation speakers, the other folds all train
     * (the last epoch is kept); early stopping then has nothing to watch. */
    rc = run("cv %s --folds %d --out %s/nv --cache %s/cache %s data.val_folds=0 train.patience=0", manifest, K, dir,
             dir, tiny);
    snprintf(path, sizeof path, "%s/nv", dir);
    n = read_cv_csv(path, rows);
    CHECK(rc == 0 && n == K && !strcmp(rows[0].status, "ok") && !strcmp(rows[K - 1].status, "ok"),
          "cv without validation: %d %.400s", rc, cli_out);
    snprintf(path, sizeof path, "%s/nv/fold-1/split.csv", dir);
    CHECK(slurp(path) > 0 && strstr(text, ",test\n") && strstr(text, ",train\n") && !strstr(text, ",val\n"),
          "no val in %s", path);
    snprintf(path, sizeof path, "%s/nv/fold-1/history.csv", dir);
    CHECK(slurp(path) > 0 && strstr(text, ",nan,nan,nan,"), "validation columns nan: %s", text);
    snprintf(path, sizeof path, "%s/nv/fold-1/training_curves.png", dir);
    CHECK(access(path, F_OK) == 0, "%s written", path);
    rc = run("cv %s --folds %d --out %s/nv2 --cache %s/cache %s data.val_folds=0 train.patience=5", manifest, K, dir,
             dir, tiny);
    CHECK(rc == 1 && strstr(cli_out, "train.patience (5): early stopping needs validation clips"),
          "patience without validation: %d %.400s", rc, cli_out);

    /* Clear errors before any training. */
    rc = run("cv %s --folds %d --by clip --out %s/r", manifest, K, dir);
    CHECK(rc == 2 && strstr(cli_out, "--by") && strstr(cli_out, "speaker"), "bad --by: %d %s", rc, cli_out);
    rc = run("cv %s --folds 1 --out %s/r", manifest, dir);
    CHECK(rc == 2 && strstr(cli_out, "--folds"), "--folds 1: %d %s", rc, cli_out);
    rc = run("cv %s --folds x --out %s/r", manifest, dir);
    CHECK(rc == 2 && strstr(cli_out, "--folds"), "--folds x: %d %s", rc, cli_out);
    rc = run("cv %s --folds 7 --out %s/r", manifest, dir);
    CHECK(rc == 1 && strstr(cli_out, "cannot fill"), "more folds than speakers: %d %s", rc, cli_out);
    snprintf(path, sizeof path, "%s/r", dir);
    CHECK(access(path, F_OK) != 0, "no DIR made for a refused run");
    rc = run("cv %s --folds 3", manifest);
    CHECK(rc == 2 && strstr(cli_out, "usage"), "--out is required: %d", rc);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (check_failed == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
