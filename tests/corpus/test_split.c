/* test_split.c: random (stratified), speaker and k-fold splits, byte-identical
 * files kept together, and split.csv round trips and errors. Synthetic
 * corpora are manifests over small files with distinct contents; the real
 * RAVDESS duplicate pair is checked when ../shared/data is present. */
#include "corpus/corpus_internal.h"
#include "corpus_fixtures.h"

#include <math.h>

static const char *const labels[4] = {"sad", "happy", "angry", "neutral"};
#define N_SPEAKERS 10
#define PER_LABEL 5 /* clips per speaker and label */

/* 10 speakers x 4 labels x 5 clips, plus dup_a/dup_b: byte-identical, speaker 03, sad. */
static sermo_corpus *make_corpus(const char *dir, int cross_speaker_dup) {
    char manifest[1 << 16], name[256], line[512];
    snprintf(manifest, sizeof manifest, "path,label,speaker\n");
    for (int s = 1; s <= N_SPEAKERS; s++)
        for (int l = 0; l < 4; l++)
            for (int k = 0; k < PER_LABEL; k++) {
                snprintf(name, sizeof name, "clips/s%02d_%s_%d.wav", s, labels[l], k);
                fixture_write(dir, name, NULL);
                snprintf(line, sizeof line, "%s,%s,%02d\n", name, labels[l], s);
                strcat(manifest, line);
            }
    fixture_write(dir, "clips/dup_a.wav", "same bytes");
    fixture_write(dir, "clips/dup_b.wav", "same bytes");
    strcat(manifest, "clips/dup_a.wav,sad,03\n");
    strcat(manifest, cross_speaker_dup ? "clips/dup_b.wav,sad,05\n" : "clips/dup_b.wav,sad,03\n");
    fixture_write(dir, "split.csv.in", manifest);
    char path[1024];
    snprintf(path, sizeof path, "%s/split.csv.in", dir);
    sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    sermo_error err = {0};
    sermo_status st = sermo_corpus_add(c, path, SERMO_CORPUS_MANIFEST, &err);
    CHECK(st == SERMO_OK, "synthetic corpus: %s", err.msg);
    CHECK(sermo_corpus_size(c) == N_SPEAKERS * 4 * PER_LABEL + 2, "synthetic size %lld", (long long)sermo_corpus_size(c));
    return c;
}

static int64_t index_of(const sermo_corpus *c, const char *suffix) {
    for (int64_t i = 0; i < sermo_corpus_size(c); i++) {
        const char *p = sermo_corpus_item(c, i)->path;
        size_t a = strlen(p), b = strlen(suffix);
        if (a >= b && strcmp(p + a - b, suffix) == 0) return i;
    }
    return -1;
}

/* 1 when no speaker has items in two parts. */
static int speakers_disjoint(const sermo_corpus *c, const int8_t *part) {
    for (int64_t i = 0; i < sermo_corpus_size(c); i++)
        for (int64_t j = 0; j < i; j++)
            if (strcmp(sermo_corpus_item(c, i)->speaker, sermo_corpus_item(c, j)->speaker) == 0 &&
                part[i] != part[j])
                return 0;
    return 1;
}

static void test_random(const sermo_corpus *c) {
    int64_t n = sermo_corpus_size(c);
    int8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
    sermo_split_params p;
    sermo_split_default_params(&p);
    p.val_fraction = 0.2f;
    p.test_fraction = 0.2f;
    sermo_error err = {0};
    CHECK(sermo_split_make(c, &p, a, &err) == SERMO_OK, "%s", err.msg);
    for (int32_t k = 0; k < sermo_corpus_n_classes(c); k++) {
        int64_t total = 0, cnt[3] = {0};
        for (int64_t i = 0; i < n; i++)
            if (sermo_corpus_item(c, i)->label == k) {
                total++;
                cnt[a[i]]++;
            }
        int64_t want = llround(0.2 * (double)total);
        /* A duplicate group can overshoot its part by one item. */
        CHECK(cnt[2] >= want && cnt[2] <= want + 1, "class %d test %lld of %lld", (int)k, (long long)cnt[2], (long long)total);
        CHECK(cnt[1] >= want && cnt[1] <= want + 1, "class %d val %lld of %lld", (int)k, (long long)cnt[1], (long long)total);
    }
    CHECK(sermo_split_make(c, &p, b, &err) == SERMO_OK && memcmp(a, b, (size_t)n) == 0, "same seed, same split");
    p.seed = 43;
    CHECK(sermo_split_make(c, &p, b, &err) == SERMO_OK && memcmp(a, b, (size_t)n) != 0, "another seed differs");
    int64_t da = index_of(c, "dup_a.wav"), db = index_of(c, "dup_b.wav");
    int together = 1, dup_held_out = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        p.seed = seed;
        CHECK(sermo_split_make(c, &p, b, &err) == SERMO_OK, "%s", err.msg);
        together &= b[da] == b[db];
        dup_held_out += b[da] != SERMO_PART_TRAIN;
    }
    CHECK(together, "byte-identical files share a part over 60 seeds");
    CHECK(dup_held_out > 0, "the pair is sometimes held out, so the check above can fail");

    p.val_fraction = 0.5f;
    p.test_fraction = 0.5f;
    CHECK(sermo_split_make(c, &p, b, &err) == SERMO_ERR_INVALID, "fractions summing to 1");
    p.test_fraction = -0.1f;
    CHECK(sermo_split_make(c, &p, b, &err) == SERMO_ERR_INVALID, "negative fraction");
    free(a);
    free(b);
}

static void test_speaker(const sermo_corpus *c) {
    int64_t n = sermo_corpus_size(c);
    int8_t *part = malloc((size_t)n);
    sermo_split_params p;
    sermo_split_default_params(&p);
    p.kind = SERMO_SPLIT_SPEAKER;
    p.test_speakers = "9-10";
    p.val_speakers = "08";
    sermo_error err = {0};
    CHECK(sermo_split_make(c, &p, part, &err) == SERMO_OK, "%s", err.msg);
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        int s = atoi(strchr(sermo_corpus_item(c, i)->speaker, ':') + 1);
        int want = s >= 9 ? SERMO_PART_TEST : s == 8 ? SERMO_PART_VAL : SERMO_PART_TRAIN;
        ok &= part[i] == want;
    }
    CHECK(ok, "speakers 09-10 test, 08 val, the rest train");
    CHECK(speakers_disjoint(c, part), "no speaker in two parts");

    int8_t *q = malloc((size_t)n);
    p.test_speakers = "split.csv:09, split.csv:10";
    p.val_speakers = "8";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_OK && memcmp(part, q, (size_t)n) == 0,
          "qualified names give the same split: %s", err.msg);
    p.test_speakers = "09,10";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_OK && memcmp(part, q, (size_t)n) == 0, "a list of ids");

    p.test_speakers = "11";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_ERR_INVALID && strstr(err.msg, "'11'"), "unknown: %s", err.msg);
    p.test_speakers = "9-11";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_ERR_INVALID && strstr(err.msg, "11"), "range past the end: %s", err.msg);
    p.test_speakers = "ravdess:09";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_ERR_INVALID, "wrong corpus prefix");
    p.test_speakers = "08";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_ERR_INVALID && strstr(err.msg, "both"), "val and test: %s", err.msg);
    p.test_speakers = NULL;
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_OK, "validation speakers only: %s", err.msg);
    int only_val = 1;
    for (int64_t i = 0; i < n; i++)
        only_val &= q[i] == (part[i] == SERMO_PART_VAL ? SERMO_PART_VAL : SERMO_PART_TRAIN);
    CHECK(only_val, "validation speakers only: 08 val, everyone else (09-10 too) train, no test");
    p.val_speakers = "";
    CHECK(sermo_split_make(c, &p, q, &err) == SERMO_OK, "neither test nor validation speakers: %s", err.msg);
    int all_train = 1;
    for (int64_t i = 0; i < n; i++) all_train &= q[i] == SERMO_PART_TRAIN;
    CHECK(all_train, "neither test nor validation speakers: everyone trains");
    free(part);
    free(q);
}

static void test_kfold(const sermo_corpus *c) {
    int64_t n = sermo_corpus_size(c);
    int8_t *part[5], *other = malloc((size_t)n);
    sermo_split_params p;
    sermo_split_default_params(&p);
    p.kind = SERMO_SPLIT_KFOLD;
    p.folds = 5;
    sermo_error err = {0};
    int64_t *tests_per_item = calloc((size_t)n, sizeof *tests_per_item);
    int differs = 0;
    for (int f = 0; f < 5; f++) {
        part[f] = malloc((size_t)n);
        p.fold = f;
        p.seed = 42;
        CHECK(sermo_split_make(c, &p, part[f], &err) == SERMO_OK, "fold %d: %s", f, err.msg);
        CHECK(speakers_disjoint(c, part[f]), "fold %d: no speaker in two parts", f);
        int64_t cnt[3] = {0};
        for (int64_t i = 0; i < n; i++) {
            cnt[part[f][i]]++;
            tests_per_item[i] += part[f][i] == SERMO_PART_TEST;
        }
        /* 10 speakers in 5 folds: 2 test speakers, 2 val, 6 train (+2 for the dup pair's speaker). */
        CHECK(cnt[2] >= 40 && cnt[2] <= 42 && cnt[1] >= 40 && cnt[1] <= 42, "fold %d sizes %lld/%lld/%lld", f,
              (long long)cnt[0], (long long)cnt[1], (long long)cnt[2]);
        p.seed = 7;
        CHECK(sermo_split_make(c, &p, other, &err) == SERMO_OK, "%s", err.msg);
        differs |= memcmp(other, part[f], (size_t)n) != 0;
    }
    int once = 1;
    for (int64_t i = 0; i < n; i++) once &= tests_per_item[i] == 1;
    CHECK(once, "every speaker in exactly one test fold");
    int val_next = 1;
    for (int f = 0; f < 5; f++)
        for (int64_t i = 0; i < n; i++)
            val_next &= (part[f][i] == SERMO_PART_VAL) == (part[(f + 1) % 5][i] == SERMO_PART_TEST);
    CHECK(val_next, "val is the next fold");
    CHECK(differs, "another seed deals the speakers differently");
    p.seed = 42;
    p.fold = 2;
    CHECK(sermo_split_make(c, &p, other, &err) == SERMO_OK && memcmp(other, part[2], (size_t)n) == 0, "reproducible");
    p.folds = 2;
    p.fold = 0;
    CHECK(sermo_split_make(c, &p, other, &err) == SERMO_OK, "%s", err.msg);
    int no_val = 1;
    for (int64_t i = 0; i < n; i++) no_val &= other[i] != SERMO_PART_VAL;
    CHECK(no_val, "two folds: no val");
    /* val_folds 0: the same test fold, and the fold that validated trains. */
    p.folds = 5;
    p.val_folds = 0;
    CHECK(sermo_split_make(c, &p, other, &err) == SERMO_OK, "%s", err.msg);
    int rest_train = 1;
    for (int64_t i = 0; i < n; i++)
        rest_train &= part[0][i] == SERMO_PART_TEST ? other[i] == SERMO_PART_TEST : other[i] == SERMO_PART_TRAIN;
    CHECK(rest_train, "val_folds 0: fold 0 tests, every other fold trains");
    p.val_folds = 1;
    p.folds = 11;
    CHECK(sermo_split_make(c, &p, other, &err) == SERMO_ERR_INVALID, "more folds than speakers");
    p.folds = 5;
    p.fold = 5;
    CHECK(sermo_split_make(c, &p, other, &err) == SERMO_ERR_INVALID, "fold out of range");
    for (int f = 0; f < 5; f++) free(part[f]);
    free(other);
    free(tests_per_item);
}

/* Identical files of two speakers: the copy follows the held-out one. */
static void test_cross_speaker_dup(const char *dir) {
    sermo_corpus *c = make_corpus(dir, 1);
    int64_t n = sermo_corpus_size(c);
    int8_t *part = malloc((size_t)n);
    sermo_split_params p;
    sermo_split_default_params(&p);
    p.kind = SERMO_SPLIT_SPEAKER;
    p.test_speakers = "05";
    sermo_error err = {0};
    CHECK(sermo_split_make(c, &p, part, &err) == SERMO_OK, "%s", err.msg);
    int64_t da = index_of(c, "dup_a.wav"), db = index_of(c, "dup_b.wav");
    CHECK(part[da] == SERMO_PART_TEST && part[db] == SERMO_PART_TEST, "speaker 03's copy goes to test with 05's");
    free(part);
    sermo_corpus_free(c);
}

static char *slurp(const char *path) {
    char *data;
    size_t size;
    sermo_error err;
    return sermo_corpus_read_file(path, &data, &size, &err) == SERMO_OK ? data : NULL;
}

/* Replace the first `from` with `to` in text and write it to path. */
static void write_edit(const char *dir, const char *name, const char *text, const char *from, const char *to) {
    char *out = malloc(strlen(text) + strlen(to) + 1);
    const char *hit = strstr(text, from);
    if (!hit) {
        strcpy(out, text);
    } else {
        size_t k = (size_t)(hit - text);
        memcpy(out, text, k);
        strcpy(out + k, to);
        strcat(out, hit + strlen(from));
    }
    fixture_write(dir, name, out);
    free(out);
}

static void test_csv(const sermo_corpus *c, const char *dir) {
    int64_t n = sermo_corpus_size(c);
    int8_t *part = malloc((size_t)n), *back = malloc((size_t)n);
    sermo_split_params p;
    sermo_split_default_params(&p);
    sermo_error err = {0};
    char path[1024], bad[1024];
    snprintf(path, sizeof path, "%s/split.csv", dir);
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    CHECK(sermo_split_make(c, &p, part, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_split_write(path, c, part, &err) == SERMO_OK, "%s", err.msg);
    memset(back, 9, (size_t)n);
    CHECK(sermo_split_read(path, c, back, &err) == SERMO_OK, "%s", err.msg);
    CHECK(memcmp(part, back, (size_t)n) == 0, "round trip");
    char *text = slurp(path);
    CHECK(text && strncmp(text, "path,speaker,label,part\n", 24) == 0, "header");
    if (!text) return;
    char first_row[1024];
    snprintf(first_row, sizeof first_row, "%s,", sermo_corpus_item(c, 0)->path);
    CHECK(strstr(text, first_row) != NULL, "paths as in the corpus");

    static const struct {
        const char *from, *to, *want;
    } edits[] = {
        {"path,speaker", "file,speaker", "bad.csv:1: header"},
        {"s01_sad_0.wav", "s01_sad_9.wav", "bad.csv:2: '"},
        {",train\n", ",dev\n", "part 'dev'"},
        {",happy,", ",sad,", "label 'sad'"},
        {"split.csv:02", "split.csv:03", "speaker 'split.csv:03'"},
        {"sad,", "sad,x,", "expected 4 fields"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        write_edit(dir, "bad.csv", text, edits[i].from, edits[i].to);
        memset(back, 9, (size_t)n);
        CHECK(sermo_split_read(bad, c, back, &err) == SERMO_ERR_FORMAT && strstr(err.msg, edits[i].want),
              "edit %zu: %s", i, err.msg);
        int untouched = 1;
        for (int64_t k = 0; k < n; k++) untouched &= back[k] == 9;
        CHECK(untouched, "edit %zu: parts untouched on error", i);
    }
    /* The last row missing; a row listed twice. */
    char *cut = strdup(text);
    cut[strlen(cut) - 1] = '\0';
    *(strrchr(cut, '\n') + 1) = '\0';
    fixture_write(dir, "bad.csv", cut);
    CHECK(sermo_split_read(bad, c, back, &err) == SERMO_ERR_FORMAT && strstr(err.msg, "missing"), "missing row: %s", err.msg);
    char *twice = malloc(strlen(text) * 2);
    const char *row2 = strchr(text, '\n') + 1;
    size_t row_len = (size_t)(strchr(row2, '\n') + 1 - row2);
    strcpy(twice, text);
    strncat(twice, row2, row_len);
    fixture_write(dir, "bad.csv", twice);
    CHECK(sermo_split_read(bad, c, back, &err) == SERMO_ERR_FORMAT && strstr(err.msg, "twice"), "twice: %s", err.msg);
    CHECK(sermo_split_read("/nonexistent/split.csv", c, back, &err) == SERMO_ERR_IO, "missing file");
    part[0] = 7;
    CHECK(sermo_split_write(path, c, part, &err) == SERMO_ERR_INVALID, "bad part value");
    free(cut);
    free(twice);
    free(text);
    free(part);
    free(back);
}

static void test_real_pair(const char *data) {
    char dir[1024];
    sermo_error err = {0};
    const char *folders[] = {"ravdess-wav", "ravdess"};
    for (int f = 0; f < 2; f++) {
        snprintf(dir, sizeof dir, "%s/%s", data, folders[f]);
        sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
        CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_RAVDESS, &err) == SERMO_OK, "%s", err.msg);
        int64_t n = sermo_corpus_size(c);
        int64_t a = index_of(c, "03-01-03-01-02-01-07.wav"), b = index_of(c, "03-01-03-01-02-02-07.wav");
        if (f == 1) {
            a = index_of(c, "03-01-03-01-02-01-07.flac");
            b = index_of(c, "03-01-03-01-02-02-07.flac");
        }
        CHECK(a >= 0 && b >= 0, "%s: the pair is there", folders[f]);
        int8_t *part = malloc((size_t)n);
        sermo_split_params p;
        sermo_split_default_params(&p);
        if (f == 0) {
            p.val_fraction = 0.3f;
            p.test_fraction = 0.3f;
        }
        int together = 1, apart_possible = 0;
        for (uint64_t seed = 1; seed <= (f == 0 ? 40u : 8u); seed++) {
            p.seed = seed;
            CHECK(sermo_split_make(c, &p, part, &err) == SERMO_OK, "%s", err.msg);
            together &= part[a] == part[b];
            apart_possible += part[a] != SERMO_PART_TRAIN;
        }
        CHECK(together, "%s: the identical pair shares a part", folders[f]);
        CHECK(apart_possible > 0, "%s: the pair is sometimes held out", folders[f]);
        if (f == 1) {
            p.kind = SERMO_SPLIT_SPEAKER;
            p.val_speakers = "21-22";
            p.test_speakers = "ravdess:23,24";
            CHECK(sermo_split_make(c, &p, part, &err) == SERMO_OK, "%s", err.msg);
            int64_t cnt[3] = {0};
            for (int64_t i = 0; i < n; i++) cnt[part[i]]++;
            CHECK(cnt[0] == 1200 && cnt[1] == 120 && cnt[2] == 120, "RAVDESS speaker split %lld/%lld/%lld",
                  (long long)cnt[0], (long long)cnt[1], (long long)cnt[2]);
            p.kind = SERMO_SPLIT_KFOLD;
            p.folds = 6;
            p.fold = 3;
            CHECK(sermo_split_make(c, &p, part, &err) == SERMO_OK, "%s", err.msg);
            for (int64_t i = 0; i < 3; i++) cnt[i] = 0;
            for (int64_t i = 0; i < n; i++) cnt[part[i]]++;
            CHECK(cnt[0] == 960 && cnt[1] == 240 && cnt[2] == 240, "RAVDESS 6 folds %lld/%lld/%lld",
                  (long long)cnt[0], (long long)cnt[1], (long long)cnt[2]);
        }
        free(part);
        sermo_corpus_free(c);
    }
}

int main(void) {
    const char *dir = fixture_mkdtemp();
    sermo_corpus *c = make_corpus(dir, 0);
    test_random(c);
    test_speaker(c);
    test_kfold(c);
    test_csv(c, dir);
    sermo_corpus_free(c);
    test_cross_speaker_dup(fixture_mkdtemp());
    sermo_corpus *empty = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    sermo_split_params p;
    sermo_split_default_params(&p);
    int8_t one;
    sermo_error err;
    CHECK(sermo_split_make(empty, &p, &one, &err) == SERMO_ERR_EMPTY, "empty corpus");
    sermo_corpus_free(empty);
    fixture_cleanup();
    const char *data = check_shared_data();
    if (!data) {
        check_report();
        SKIP("../shared/data not found: the real RAVDESS duplicate pair is not checked");
    }
    test_real_pair(data);
    return check_report();
}
