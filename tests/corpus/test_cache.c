/* test_cache.c: the feature cache holds exactly the features computed
 * directly, is reused for the same config, rebuilt for a changed one, and
 * refuses truncated files; a bad clip fails the build without leaving files. */
#include "check.h"

#include "sermo.h"

#include <dirent.h>
#include <sndfile.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/sermo_test_cache_XXXXXX";

static void write_tone(const char *name, double freq, double seconds, int rate) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    int n = (int)(seconds * rate);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = 0.3f * (float)sin(2 * M_PI * freq * i / rate);
    sf_writef_float(f, x, n);
    sf_close(f);
    free(x);
}

static void write_text(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int count_files(const char *folder, const char *needle) {
    DIR *d = opendir(folder);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, needle)) n++;
    if (d) closedir(d);
    return n;
}

static sermo_corpus *open_manifest(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sermo_corpus_params cp;
    sermo_corpus_default_params(&cp);
    sermo_corpus *c = sermo_corpus_init(&cp);
    sermo_error err;
    sermo_status st = sermo_corpus_add(c, path, SERMO_CORPUS_MANIFEST, &err);
    CHECK(st == SERMO_OK, "manifest: %s", err.msg);
    return c;
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    write_tone("a.wav", 440, 0.5, 16000);
    write_tone("b.wav", 880, 0.8, 22050); /* resampled to 16 kHz on the way in */
    write_tone("c.wav", 220, 0.3, 16000);
    write_text("notaudio.wav", "this is not audio\n");
    write_text("good.csv", "path,label,speaker\na.wav,happy,s1\nb.wav,sad,s2\nc.wav,happy,s2\n");
    write_text("bad.csv", "path,label,speaker\na.wav,happy,s1\nnotaudio.wav,sad,s2\n");

    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    sermo_feature_params fp;
    sermo_feature_default_params(&fp);
    fp.n_mels = 32;
    sermo_cache_params cp;
    sermo_cache_default_params(&cp);
    char cache_dir[600], path[4096], path2[4096];
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", dir);
    cp.dir = cache_dir;
    cp.threads = 2;
    sermo_error err;
    int built = -1;

    sermo_corpus *c = open_manifest("good.csv");
    sermo_status st = sermo_cache_prepare(c, &ap, &fp, &cp, path, sizeof path, &built, &err);
    CHECK(st == SERMO_OK && built == 1, "first prepare: %s", err.msg);

    sermo_cache *cache = sermo_cache_open(path, &err);
    CHECK(cache != NULL, "open: %s", err.msg);
    if (cache) {
        CHECK(sermo_cache_size(cache) == 3, "size %lld", (long long)sermo_cache_size(cache));
        CHECK(sermo_cache_n_bins(cache) == 32, "bins %d", sermo_cache_n_bins(cache));
        sermo_features *feat = sermo_features_init(&fp, &err);
        for (int64_t i = 0; i < sermo_corpus_size(c); i++) {
            const sermo_item *it = sermo_corpus_item(c, i);
            sermo_audio a;
            CHECK(sermo_audio_load_file(it->path, &ap, &a, &err) == SERMO_OK, "load %s", err.msg);
            int64_t frames = sermo_features_n_frames(feat, a.n), cached_frames = -1;
            float *want = malloc(sizeof(float) * 32 * (size_t)frames);
            sermo_features_compute(feat, a.samples, a.n, want, &err);
            const float *got = sermo_cache_item(cache, i, &cached_frames);
            CHECK(cached_frames == frames, "item %lld frames %lld vs %lld", (long long)i,
                  (long long)cached_frames, (long long)frames);
            if (got && cached_frames == frames) check_close("cached item", got, want, 32 * frames, 0, 0);
            CHECK(sermo_cache_label(cache, i) == it->label, "label of item %lld", (long long)i);
            free(want);
            sermo_audio_free(&a);
        }
        sermo_features_free(feat);
        CHECK(sermo_cache_item(cache, 3, NULL) == NULL, "out-of-range item");
        sermo_cache_close(cache);
    }

    /* Same config: reused, same path, nothing built. */
    st = sermo_cache_prepare(c, &ap, &fp, &cp, path2, sizeof path2, &built, &err);
    CHECK(st == SERMO_OK && built == 0 && !strcmp(path, path2), "second prepare reused (built=%d)", built);

    /* Changed config: a new file beside the old one. */
    fp.n_mels = 40;
    st = sermo_cache_prepare(c, &ap, &fp, &cp, path2, sizeof path2, &built, &err);
    CHECK(st == SERMO_OK && built == 1 && strcmp(path, path2), "changed config rebuilt");
    CHECK(count_files(cache_dir, ".sfc") == 2, "two cache files");

    /* A truncated cache is refused with its name, and then rebuilt by prepare. */
    struct stat sb;
    stat(path2, &sb);
    CHECK(truncate(path2, sb.st_size - 100) == 0, "truncate");
    cache = sermo_cache_open(path2, &err);
    CHECK(cache == NULL && err.status == SERMO_ERR_FORMAT && strstr(err.msg, path2),
          "truncated cache refused: %s", err.msg);
    sermo_cache_close(cache);
    CHECK(truncate(path2, 30) == 0, "truncate to 30 bytes");
    cache = sermo_cache_open(path2, &err);
    CHECK(cache == NULL && err.status == SERMO_ERR_FORMAT, "30-byte cache refused: %s", err.msg);
    st = sermo_cache_prepare(c, &ap, &fp, &cp, path2, sizeof path2, &built, &err);
    CHECK(st == SERMO_OK && built == 1, "damaged cache rebuilt");
    sermo_corpus_free(c);

    /* A clip that cannot be decoded fails the build, names the file, leaves nothing. */
    c = open_manifest("bad.csv");
    st = sermo_cache_prepare(c, &ap, &fp, &cp, path, sizeof path, &built, &err);
    CHECK(st != SERMO_OK && strstr(err.msg, "notaudio.wav"), "bad clip: %s", err.msg);
    CHECK(count_files(cache_dir, ".tmp") == 0, "no temp file left behind");
    CHECK(count_files(cache_dir, ".sfc") == 2, "no new cache file");

    /* Mismatched sample rates are refused. */
    fp.sample_rate = 8000;
    st = sermo_cache_prepare(c, &ap, &fp, &cp, path, sizeof path, &built, &err);
    CHECK(st == SERMO_ERR_INVALID, "rate mismatch: %s", err.msg);
    sermo_corpus_free(c);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
