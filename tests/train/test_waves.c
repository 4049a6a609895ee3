/* test_waves.c: waveform augmentation in the training pipeline. The PCM
 * held for the training items gives back the cache's features (through the
 * batcher, with augmentation off and with no-op settings); an item's
 * augmentation draws from the rng in the documented order (noise, gain,
 * shift); real settings change the features; and train_run with them learns,
 * is deterministic, resumes exactly and refuses to run without the audio. */
#include "train_test_util.h"

#include "train/train.h"

#define NMEL 16
#define NCLIP 40
#define T 24
#define B 8

static char dir[] = "/tmp/sermo_test_waves_XXXXXX";

/* The settings tt_make_cache builds its cache with. */
static void settings(sermo_audio_params *ap, sermo_feature_params *fp) {
    sermo_audio_default_params(ap);
    sermo_feature_default_params(fp);
    fp->n_mels = NMEL;
    fp->kind = SERMO_FEATURE_LOGMEL;
    fp->log_mode = SERMO_LOG_DB;
}

/* One epoch of training batches from a batcher (waves NULL: the cache),
 * concatenated into x (NCLIP * F * T); returns the items seen. */
static int epoch(const sermo_cache *cache, const int8_t *part, const train_waves *waves, const train_wave_aug *aug,
                 const sermo_feature_params *fp, const float *mean, const float *std, float *x, uint64_t seed) {
    train_batcher b;
    sermo_error err;
    sermo_rng rng;
    sermo_rng_seed(&rng, seed);
    int seen = 0, k;
    if (train_batcher_init(&b, cache, part, SERMO_PART_TRAIN, T, mean, std, 1, &err) ||
        (waves && train_batcher_use_waves(&b, waves, aug, fp, &err))) {
        CHECK(0, "batcher: %s", err.msg);
        train_batcher_free(&b);
        return 0;
    }
    int32_t labels[B];
    train_batcher_epoch(&b, &rng);
    while ((k = train_batcher_next(&b, &rng, B, x + (size_t)seen * NMEL * T, labels)) > 0) seen += k;
    CHECK(k == 0, "batcher ended cleanly: %s", k < 0 ? b.err.msg : "");
    train_batcher_free(&b);
    return seen;
}

/* The held PCM of item i, read into buf. */
static float *replay_of(const train_waves *w, int64_t i, float *buf) {
    sermo_error err;
    CHECK(train_waves_read(w, i, buf, &err) == SERMO_OK, "%s", err.msg);
    return buf;
}

/* train_wave_speed against the closed form: a sine of frequency f resampled
 * at rate r is the sine of frequency f r, within linear interpolation's
 * error (h^2 / 8 max |x''| = (2 pi f / sr)^2 / 8 for unit amplitude);
 * length floor((n - 1) / r) + 1, the last sample kept; rate 1 copies. */
static void test_speed(void) {
    enum { N = 16000 };
    static float x[N], y[2 * N];
    const double f = 200, sr = 16000;
    for (int i = 0; i < N; i++) x[i] = (float)sin(2 * M_PI * f * i / sr);
    const double rates[] = {0.9, 1.0, 1.1, 1.37};
    for (size_t k = 0; k < sizeof rates / sizeof *rates; k++) {
        double r = rates[k], worst = 0, bound = pow(2 * M_PI * f / sr, 2) / 8 + 1e-6;
        size_t m = train_wave_speed(x, N, y, r);
        CHECK(m == (size_t)floor((N - 1) / r) + 1, "rate %g: %zu samples", r, m);
        for (size_t j = 0; j < m; j++) worst = fmax(worst, fabs(y[j] - sin(2 * M_PI * f * r * (double)j / sr)));
        CHECK(worst <= bound, "rate %g: max error %g against sin(2 pi f r t), bound %g", r, worst, bound);
    }
    CHECK(train_wave_speed(x, N, y, 1.0) == N && !memcmp(x, y, sizeof x), "rate 1 copies");
    CHECK(train_wave_speed(x, 0, y, 1.1) == 0 && train_wave_speed(x, 1, y, 1.1) == 1 && y[0] == x[0],
          "empty and one-sample clips");
}

static void test_features(const sermo_corpus *corpus, const sermo_cache *cache, const int8_t *part) {
    sermo_audio_params ap;
    sermo_feature_params fp;
    settings(&ap, &fp);
    train_waves w;
    sermo_error err;
    CHECK(train_waves_load(&w, corpus, part, SERMO_PART_TRAIN, &ap, 2, dir, &err) == SERMO_OK, "%s", err.msg);
    int loaded = 0, right = 1;
    size_t bytes = 0;
    for (int i = 0; i < NCLIP; i++) {
        loaded += train_waves_has(&w, i);
        right &= train_waves_has(&w, i) == (part[i] == SERMO_PART_TRAIN);
        bytes += sizeof(float) * (size_t)w.n[i];
    }
    CHECK(loaded == 30 && right && w.bytes == bytes && w.sample_rate == 16000, "training PCM only: %d clips, %zu bytes",
          loaded, w.bytes);

    float mean[NMEL], std[NMEL];
    train_norm_stats(cache, part, SERMO_PART_TRAIN, mean, std, &err);
    size_t size = (size_t)NCLIP * NMEL * T;
    float *cached = calloc(size, sizeof(float)), *from_pcm = calloc(size, sizeof(float));
    /* Off: the same windows, in the same order, with the same crops. */
    train_wave_aug off = {0};
    int n1 = epoch(cache, part, NULL, NULL, NULL, mean, std, cached, 9);
    int n2 = epoch(cache, part, &w, &off, &fp, mean, std, from_pcm, 9);
    CHECK(n1 == 30 && n2 == 30, "%d and %d items", n1, n2);
    CHECK(check_close("pcm path, augmentation off = cache", from_pcm, cached, (long)n1 * NMEL * T, 1e-5, 1e-5) == 0,
          "features rebuilt from the held PCM");
    /* No-op settings: noise at 150 dB SNR, +-1e-4 dB, a shift under half a sample. */
    train_wave_aug noop = {.noise_prob = 1, .snr_min_db = 150, .snr_max_db = 150, .gain_db = 1e-4f, .shift_ms = 0.01f};
    epoch(cache, part, &w, &noop, &fp, mean, std, from_pcm, 9);
    /* The crops differ from the cached path's (the augmentation drew first), so
     * compare each item's whole features instead. */
    sermo_features *feat = sermo_features_init(&fp, &err);
    float *pcm = malloc(sizeof(float) * 16000 * 2), *out = malloc(sizeof(float) * NMEL * 400);
    sermo_rng rng;
    sermo_rng_seed(&rng, 3);
    long bad = 0;
    for (int i = 0; i < NCLIP; i++) {
        if (part[i] != SERMO_PART_TRAIN) continue;
        int64_t n = 0, frames = 0;
        const float *v = sermo_cache_item(cache, i, &n);
        CHECK(train_wave_features(&w, i, &noop, feat, &rng, pcm, out, &frames, &err) == SERMO_OK && frames == n,
              "item %d: %lld frames, cache %lld: %s", i, (long long)frames, (long long)n, err.msg);
        bad += check_close("no-op augmentation = cache (dB)", out, v, (long)(NMEL * n), 2e-3, 1e-4);
    }
    CHECK(bad == 0, "no-op augmentation leaves the cached features");

    /* The documented order: noise, gain, shift from one rng, then features. */
    train_wave_aug on = {.noise_prob = 1, .snr_min_db = 5, .snr_max_db = 15, .gain_db = 6, .shift_ms = 20};
    int item = part[1] == SERMO_PART_TRAIN ? 1 : 2;
    int64_t frames = 0, n = w.n[item];
    float *replay = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * NMEL * 400);
    sermo_rng r1, r2;
    sermo_rng_seed(&r1, 77);
    sermo_rng_seed(&r2, 77);
    CHECK(train_wave_features(&w, item, &on, feat, &r1, pcm, out, &frames, &err) == SERMO_OK, "%s", err.msg);
    CHECK(train_waves_read(&w, item, replay, &err) == SERMO_OK, "%s", err.msg);
    float snr = 0;
    CHECK(train_wave_add_noise(replay, (size_t)n, 1, 5, 15, &r2, &snr) == 1 && snr >= 5 && snr < 15, "noise drawn");
    float g = train_wave_gain(replay, (size_t)n, -6, 6, &r2);
    int64_t s = train_wave_shift(replay, (size_t)n, 320, 0, &r2);
    sermo_features_compute(feat, replay, n, want, &err);
    CHECK(!memcmp(out, want, sizeof(float) * NMEL * (size_t)frames) && r1.s[0] == r2.s[0] && r1.s[3] == r2.s[3],
          "augmented features = noise, gain %g dB, shift %lld by hand (same rng state after)", g, (long long)s);
    int64_t cn = 0;
    const float *cv = sermo_cache_item(cache, item, &cn);
    long diff = 0;
    for (long k = 0; k < (long)NMEL * cn; k++) diff += fabsf(out[k] - cv[k]) > 0.5f;
    CHECK(diff > NMEL * cn / 4, "real augmentation changes the features (%ld of %lld values by > 0.5 dB)", diff,
          (long long)(NMEL * cn));

    /* Speed first, from the same rng: the rate, the clip resampled, then
     * noise, gain and shift as above. Slowed down, the clip gets longer. */
    train_wave_aug fast = on;
    fast.speed = 0.2f;
    sermo_rng_seed(&r1, 78);
    sermo_rng_seed(&r2, 78);
    float *scratch = malloc(sizeof(float) * train_wave_pcm_floats(&w, &fast));
    float *wide = malloc(sizeof(float) * NMEL * 600), *wide_want = malloc(sizeof(float) * NMEL * 600);
    float *slow = malloc(sizeof(float) * (size_t)(n / 0.8 + 2));
    CHECK(train_wave_features(&w, item, &fast, feat, &r1, scratch, wide, &frames, &err) == SERMO_OK, "%s", err.msg);
    double rate = 1.0 - fast.speed + 2.0 * fast.speed * sermo_rng_uniform(&r2);
    size_t m = train_wave_speed(replay_of(&w, item, replay), (size_t)n, slow, rate);
    train_wave_add_noise(slow, m, 1, 5, 15, &r2, NULL);
    train_wave_gain(slow, m, -6, 6, &r2);
    train_wave_shift(slow, m, 320, 0, &r2);
    sermo_features_compute(feat, slow, (int64_t)m, wide_want, &err);
    CHECK(frames == sermo_features_n_frames(feat, (int64_t)m) &&
              !memcmp(wide, wide_want, sizeof(float) * NMEL * (size_t)frames) && r1.s[0] == r2.s[0],
          "speed %.3f (%zu samples of %lld), then noise, gain, shift by hand", rate, m, (long long)n);
    free(scratch);
    free(wide);
    free(wide_want);
    free(slow);

    /* PCM missing for a training item: refused when the batcher is set up. */
    train_waves val;
    CHECK(train_waves_load(&val, corpus, part, SERMO_PART_VAL, &ap, 1, dir, &err) == SERMO_OK, "%s", err.msg);
    train_batcher b;
    train_batcher_init(&b, cache, part, SERMO_PART_TRAIN, T, mean, std, 1, &err);
    CHECK(train_batcher_use_waves(&b, &val, &on, &fp, &err) == SERMO_ERR_INVALID && strstr(err.msg, "no PCM"),
          "missing PCM: %s", err.msg);
    train_batcher_free(&b);
    /* Other feature settings than the cache's: refused (rows differ). */
    sermo_feature_params other = fp;
    other.n_mels = NMEL * 2;
    train_batcher_init(&b, cache, part, SERMO_PART_TRAIN, T, mean, std, 1, &err);
    CHECK(train_batcher_use_waves(&b, &w, &on, &other, &err) == SERMO_ERR_INVALID && strstr(err.msg, "rows"),
          "other settings: %s", err.msg);
    train_batcher_free(&b);
    train_waves_free(&val);
    train_waves_free(&w);
    sermo_features_free(feat);
    free(cached);
    free(from_pcm);
    free(pcm);
    free(out);
    free(replay);
    free(want);
}

static sermo_status run(train_options *opt, const train_data *data, const char *name, int resume,
                        train_progress_fn fn, train_result *res, sermo_error *err) {
    snprintf(opt->out_dir, sizeof opt->out_dir, "%s/%s", dir, name);
    mkdir(opt->out_dir, 0755);
    opt->resume = resume;
    return train_run(opt, data, fn, NULL, res, err);
}

static void test_training(const tt_setup *su) {
    const sermo_corpus *corpus = su->corpus;
    const int8_t *part = su->part;
    sermo_audio_params ap;
    sermo_feature_params fp;
    settings(&ap, &fp);
    train_waves w;
    sermo_error err;
    CHECK(train_waves_load(&w, corpus, part, SERMO_PART_TRAIN, &ap, 1, dir, &err) == SERMO_OK, "%s", err.msg);
    train_options opt = su->opt;
    train_data data = su->data;
    opt.noise_prob = 0.5f;
    opt.gain_db = 6;
    opt.shift_ms = 20;
    train_result a, c, plain;
    CHECK(run(&opt, &data, "none", 0, NULL, &a, &err) == SERMO_ERR_INVALID && strstr(err.msg, "noise_prob"),
          "augmentation without the audio refused: %s", err.msg);
    data.waves = &w;
    data.features = &fp;
    CHECK(run(&opt, &data, "a", 0, NULL, &a, &err) == SERMO_OK, "augmented run: %s", err.msg);
    CHECK(a.best_macro_f1 >= 0.8f, "augmented run learns: f1 %g", a.best_macro_f1);
    CHECK(run(&opt, &data, "b", 0, NULL, &c, &err) == SERMO_OK, "%s", err.msg);
    char ra[600], rb[600], rc[600], rp[600];
    snprintf(ra, sizeof ra, "%s/a", dir);
    snprintf(rb, sizeof rb, "%s/b", dir);
    snprintf(rc, sizeof rc, "%s/c", dir);
    snprintf(rp, sizeof rp, "%s/plain", dir);
    CHECK(tt_same_file(ra, rb, "checkpoint.safetensors"), "deterministic");
    CHECK(run(&opt, &data, "c", 0, tt_stop_after_two, &c, &err) == SERMO_OK && c.epochs_run == 2, "%s", err.msg);
    CHECK(run(&opt, &data, "c", 1, NULL, &c, &err) == SERMO_OK && c.epochs_run == 4, "%s", err.msg);
    CHECK(tt_same_file(ra, rc, "checkpoint.safetensors") && tt_same_file(ra, rc, "model.safetensors"),
          "augmented run resumes exactly");
    opt.noise_prob = opt.gain_db = opt.shift_ms = 0;
    CHECK(run(&opt, &data, "plain", 0, NULL, &plain, &err) == SERMO_OK, "%s", err.msg);
    CHECK(!tt_same_file(ra, rp, "checkpoint.safetensors"), "augmentation changes training");
    train_waves_free(&w);
}

int main(void) {
    test_speed();
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    tt_setup su;
    CHECK(tt_setup_init(&su, dir, NCLIP, NMEL) == 0, "synthetic corpus and cache");
    if (!su.cache) return check_report();
    test_features(su.corpus, su.cache, su.part);
    test_training(&su);
    tt_setup_free(&su);
    tt_remove_dir(dir);
    return check_report();
}
