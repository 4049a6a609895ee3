/* train_test_util.h: a synthetic corpus for the training tests: tone WAVs in
 * a temp folder, two classes by pitch ("low" ~ 300 Hz, "high" ~ 1500 Hz, each
 * clip a little detuned and of its own length), a manifest, and its cache. */
#ifndef TRAIN_TEST_UTIL_H
#define TRAIN_TEST_UTIL_H

#include "check.h"

#include "sermo.h"

#include <sndfile.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static void tt_write_tone(const char *path, double freq, double seconds, int rate, uint64_t *noise) {
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) return;
    int n = (int)(seconds * rate);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        *noise = *noise * 6364136223846793005ull + 1442695040888963407ull;
        double r = (double)(*noise >> 11) * 0x1.0p-53 - 0.5;
        x[i] = (float)(0.3 * sin(2 * M_PI * freq * i / rate) + 0.02 * r);
    }
    sf_writef_float(f, x, n);
    sf_close(f);
    free(x);
}

/* The feature cache of corpus c with features fp (default audio settings)
 * under dir/cache, built and opened; NULL after printing why. */
static sermo_cache *tt_open_cache(const sermo_corpus *c, const char *dir, const sermo_feature_params *fp) {
    char cache_path[4096], cache_dir[1024];
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    sermo_cache_params cap;
    sermo_cache_default_params(&cap);
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", dir);
    cap.dir = cache_dir;
    cap.threads = 1;
    int built = 0;
    sermo_error err;
    sermo_cache *cache = NULL;
    if (sermo_cache_prepare(c, &ap, fp, &cap, cache_path, sizeof cache_path, &built, &err) ||
        !(cache = sermo_cache_open(cache_path, &err)))
        fprintf(stderr, "cache: %s\n", err.msg);
    return cache;
}

/* n clips into dir (which must exist), their manifest and feature cache;
 * returns the open cache and the corpus in *corpus, or NULL (message printed). */
static sermo_cache *tt_make_cache(const char *dir, int n, int n_mels, sermo_corpus **corpus) {
    char path[1024], manifest[1024];
    snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
    FILE *m = fopen(manifest, "w");
    if (!m) return NULL;
    fputs("path,label,speaker\n", m);
    uint64_t noise = 12345;
    for (int i = 0; i < n; i++) {
        int high = i % 2;
        double freq = (high ? 1500 : 300) * (1 + 0.05 * ((i * 7) % 5 - 2) / 2.0);
        double seconds = 0.25 + 0.05 * (i % 7);
        snprintf(path, sizeof path, "%s/clip%03d.wav", dir, i);
        tt_write_tone(path, freq, seconds, 16000, &noise);
        fprintf(m, "clip%03d.wav,%s,s%d\n", i, high ? "high" : "low", i % 4);
    }
    fclose(m);
    sermo_corpus_params cp;
    sermo_corpus_default_params(&cp);
    sermo_corpus *c = sermo_corpus_init(&cp);
    sermo_error err;
    if (sermo_corpus_add(c, manifest, SERMO_CORPUS_MANIFEST, &err)) {
        fprintf(stderr, "manifest: %s\n", err.msg);
        sermo_corpus_free(c);
        return NULL;
    }
    sermo_feature_params fp;
    sermo_feature_default_params(&fp);
    fp.n_mels = n_mels;
    fp.kind = SERMO_FEATURE_LOGMEL;
    fp.log_mode = SERMO_LOG_DB;
    sermo_cache *cache = tt_open_cache(c, dir, &fp);
    if (!cache) {
        sermo_corpus_free(c);
        return NULL;
    }
    *corpus = c;
    return cache;
}

/* rm -r of what tt_make_corpus wrote (only files we know, then the dirs). */
static void tt_remove_dir(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strncmp(dir, "/tmp/sermo_", 11) == 0 && system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* ------------------------------------------------ a small training setup */

#include "train/train.h"

#define TT_MAX_CLIPS 64

/* The synthetic corpus split 3:1 (every 4th clip validates), the data for
 * train_run and options for a run of a second or so: 4 epochs of batches of
 * 8 windows of 24 frames, one thread (bit-identical reruns). part and names
 * live in the struct, so it must stay where tt_setup_init put it. */
typedef struct tt_setup {
    sermo_corpus *corpus;
    sermo_cache *cache;
    int8_t part[TT_MAX_CLIPS];
    const char *names[2];
    train_data data;
    train_options opt;
} tt_setup;

/* 0, or -1 after printing why (no cache). */
static inline int tt_setup_init(tt_setup *s, const char *dir, int n_clips, int n_mels) {
    memset(s, 0, sizeof *s);
    if (n_clips > TT_MAX_CLIPS || !(s->cache = tt_make_cache(dir, n_clips, n_mels, &s->corpus))) return -1;
    for (int i = 0; i < n_clips; i++) s->part[i] = i % 4 == 0 ? SERMO_PART_VAL : SERMO_PART_TRAIN;
    for (int c = 0; c < 2; c++) s->names[c] = sermo_corpus_class_name(s->corpus, c);
    s->data = (train_data){.cache = s->cache, .part = s->part, .n_classes = 2, .class_names = s->names};
    train_options_default(&s->opt);
    s->opt.epochs = 4;
    s->opt.batch_size = 8;
    s->opt.frames = 24;
    s->opt.lr = 3e-3f;
    s->opt.warmup_epochs = 1;
    s->opt.min_lr = 1e-4f;
    s->opt.threads = 1;
    s->opt.seed = 5;
    return 0;
}

static inline void tt_setup_free(tt_setup *s) {
    sermo_cache_close(s->cache);
    sermo_corpus_free(s->corpus);
}

/* A progress callback that stops the run after its second epoch. */
static inline int tt_stop_after_two(const train_progress *p, void *user_data) {
    (void)user_data;
    return p->epoch_done && p->epoch == 1;
}

/* 1 when dir_a/name and dir_b/name hold the same bytes. */
static inline int tt_same_file(const char *dir_a, const char *dir_b, const char *name) {
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/%s", dir_a, name);
    snprintf(b, sizeof b, "%s/%s", dir_b, name);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        same = x == y;
        if (x == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

#endif
