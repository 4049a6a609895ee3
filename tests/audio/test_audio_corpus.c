/* test_audio_corpus.c: the real corpora under ../shared/data (skipped when
 * absent). RAVDESS WAVs (extra RIFF chunks, some stereo) decode; stereo ones
 * come out as the channel mean (checked against a plain libsndfile read); each
 * WAV equals its lossless FLAC copy sample for sample; TESS's one 96 kHz file
 * resamples to the requested rates and lengths. */
#include "audio_test_util.h"
#include "check.h"
#include "sermo.h"

#include <dirent.h>

/* Interleaved frames read straight with libsndfile, averaged here: the
 * reference for the mono mix. */
static float *reference_mono(const char *path, int64_t *n, int *channels) {
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) return NULL;
    float *x = malloc(sizeof(float) * (size_t)(info.frames * info.channels));
    float *m = malloc(sizeof(float) * (size_t)info.frames);
    sf_count_t got = sf_readf_float(sf, x, info.frames);
    sf_close(sf);
    for (sf_count_t i = 0; i < got; i++) {
        double s = 0;
        for (int c = 0; c < info.channels; c++) s += x[i * info.channels + c];
        m[i] = (float)(s / info.channels);
    }
    free(x);
    *n = got;
    *channels = info.channels;
    return m;
}

static void test_ravdess_wav(const char *data) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ravdess-wav", data);
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot list %s", dir);
    if (!d) return;
    int files = 0, stereo = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".wav") != 0) continue;
        files++;
        char path[8192], flac[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        sermo_audio_info info;
        sermo_error err;
        CHECK(sermo_audio_probe_file(path, &info, &err) == SERMO_OK, "%s", err.msg);
        CHECK(info.sample_rate == 48000 && strcmp(info.format, "WAV") == 0 && info.frames > 0,
              "%s: %d Hz %s", e->d_name, info.sample_rate, info.format);
        stereo += info.channels == 2;

        sermo_audio_params ap;
        sermo_audio_default_params(&ap);
        ap.sample_rate = 0;
        sermo_audio a;
        CHECK(sermo_audio_load_file(path, &ap, &a, &err) == SERMO_OK, "%s", err.msg);
        CHECK(a.n == info.frames && a.sample_rate == 48000, "%s: n=%lld of %lld", e->d_name, (long long)a.n,
              (long long)info.frames);
        int64_t rn = 0;
        int ch = 0;
        float *ref = reference_mono(path, &rn, &ch);
        CHECK(ref && rn == a.n && ch == info.channels, "%s: reference read", e->d_name);
        if (ref && rn == a.n) check_close(e->d_name, a.samples, ref, (long)a.n, 0, 0);
        free(ref);

        /* The FLAC copy: ravdess/Actor_AA/<stem>.flac, AA = the stem's last field. */
        snprintf(flac, sizeof flac, "%s/ravdess/Actor_%.2s/%.*s.flac", data, e->d_name + len - 6,
                 (int)(len - 4), e->d_name);
        sermo_audio f;
        CHECK(sermo_audio_load_file(flac, &ap, &f, &err) == SERMO_OK, "%s", err.msg);
        CHECK(f.n == a.n && f.samples && a.samples &&
                  memcmp(f.samples, a.samples, sizeof(float) * (size_t)a.n) == 0,
              "%s: WAV and FLAC differ", e->d_name);
        sermo_audio_free(&f);
        sermo_audio_free(&a);

        /* Default pipeline (16 kHz) on both: still identical. */
        sermo_audio_default_params(&ap);
        ap.trim = 1;
        CHECK(sermo_audio_load_file(path, &ap, &a, &err) == SERMO_OK, "%s", err.msg);
        CHECK(sermo_audio_load_file(flac, &ap, &f, &err) == SERMO_OK, "%s", err.msg);
        CHECK(a.n > 16000 / 2 && a.n < info.frames / 3 + 1 && a.sample_rate == 16000,
              "%s: 16 kHz trimmed n=%lld", e->d_name, (long long)a.n);
        CHECK(f.n == a.n && f.samples && a.samples &&
                  memcmp(f.samples, a.samples, sizeof(float) * (size_t)a.n) == 0,
              "%s: WAV and FLAC differ at 16 kHz", e->d_name);
        sermo_audio_free(&f);
        sermo_audio_free(&a);
    }
    closedir(d);
    CHECK(files == 10 && stereo == 5, "%d files, %d stereo (want 10, 5)", files, stereo);
}

static void test_tess_96k(const char *data) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tess/OAF_fear/OAF_food_fear.flac", data);
    sermo_audio_info info;
    sermo_error err;
    CHECK(sermo_audio_probe_file(path, &info, &err) == SERMO_OK, "%s", err.msg);
    CHECK(info.sample_rate == 96000 && strcmp(info.format, "FLAC") == 0, "%d Hz %s", info.sample_rate, info.format);
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    sermo_audio a;
    CHECK(sermo_audio_load_file(path, &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    int64_t want = (int64_t)floor((double)info.frames * 16000 / 96000 + 0.5);
    CHECK(a.n == want && a.sample_rate == 16000, "96k -> 16k: n=%lld want %lld", (long long)a.n, (long long)want);
    float peak = 0;
    for (int64_t i = 0; i < a.n; i++) peak = fmaxf(peak, fabsf(a.samples[i]));
    CHECK(peak > 0.01f && peak <= 1.01f, "peak %g", peak);
    sermo_audio_free(&a);
    /* The seed projects' setting, from the odd file out. */
    ap.sample_rate = 24414;
    ap.duration_ms = 2618;
    ap.crop_center = 1;
    CHECK(sermo_audio_load_file(path, &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    CHECK(a.n == 63916 && a.sample_rate == 24414, "2618 ms at 24414 Hz: n=%lld", (long long)a.n);
    sermo_audio_free(&a);
}

int main(void) {
    const char *data = check_shared_data();
    if (!data) SKIP("../shared/data not found (set SERMO_SHARED_DATA): real-corpus audio tests skipped");
    test_ravdess_wav(data);
    test_tess_96k(data);
    return check_report();
}
