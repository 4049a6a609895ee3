/* waves.c: waveform augmentation in the training pipeline. The processed
 * PCM of the training items is decoded once into a temporary file (read back
 * one clip at a time, so memory does not grow with the corpus); each epoch every
 * training item is augmented (speed, noise, gain, shift: augment.c) and turned into
 * features with the cache's own settings, then normalised and cropped as the
 * cached path does (batcher.c). */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAVES_CHUNK 64 /* clips decoded in parallel, then written in order */

int train_wave_aug_from_options(train_wave_aug *aug, const train_options *opt) {
    *aug = (train_wave_aug){.speed = opt->speed, .noise_prob = opt->noise_prob, .snr_min_db = opt->noise_snr_min,
                            .snr_max_db = opt->noise_snr_max, .gain_db = opt->gain_db, .shift_ms = opt->shift_ms};
    return aug->speed > 0 || aug->noise_prob > 0 || aug->gain_db > 0 || aug->shift_ms > 0;
}

void train_waves_free(train_waves *w) {
    if (w->fd >= 0 && w->offset) close(w->fd);
    free(w->offset);
    free(w->n);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

int train_waves_has(const train_waves *w, int64_t i) { return i >= 0 && i < w->n_items && w->offset[i] >= 0; }

/* An unlinked file in dir: gone from the folder at once, freed by the kernel
 * at close or exit, so a killed run leaves nothing behind. */
static int open_temp(const char *dir, sermo_error *err) {
    if (!dir) dir = getenv("TMPDIR");
    if (!dir || !dir[0]) dir = "/tmp";
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/sermo-audio-XXXXXX", dir);
    if (len < 0 || (size_t)len >= sizeof path) {
        sermo_fail(err, SERMO_ERR_INVALID, "%s: folder name too long for the training audio", dir);
        return -1;
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        sermo_fail(err, SERMO_ERR_IO, "%s: cannot create the training audio file: %s", path, strerror(errno));
        return -1;
    }
    unlink(path);
    return fd;
}

static sermo_status write_at(int fd, const float *x, size_t n, int64_t at, sermo_error *err) {
    const char *p = (const char *)x;
    size_t left = n * sizeof(float);
    off_t off = (off_t)at * (off_t)sizeof(float);
    while (left > 0) {
        ssize_t put = pwrite(fd, p, left, off);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0)
            return sermo_fail(err, SERMO_ERR_IO, "training audio: cannot write the temporary file: %s",
                              strerror(errno));
        p += put;
        off += put;
        left -= (size_t)put;
    }
    return SERMO_OK;
}

sermo_status train_waves_read(const train_waves *w, int64_t i, float *pcm, sermo_error *err) {
    if (!train_waves_has(w, i))
        return sermo_fail(err, SERMO_ERR_INVALID, "training audio: item %lld was not loaded", (long long)i);
    char *p = (char *)pcm;
    size_t left = sizeof(float) * (size_t)w->n[i];
    off_t off = (off_t)w->offset[i] * (off_t)sizeof(float);
    while (left > 0) {
        ssize_t got = pread(w->fd, p, left, off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return sermo_fail(err, SERMO_ERR_IO, "training audio: item %lld: %s", (long long)i,
                              got < 0 ? strerror(errno) : "the temporary file ends early");
        p += got;
        off += got;
        left -= (size_t)got;
    }
    return SERMO_OK;
}

sermo_status train_waves_load(train_waves *w, const sermo_corpus *corpus, const int8_t *part, int8_t which,
                              const sermo_audio_params *ap, int32_t threads, const char *dir, sermo_error *err) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    int64_t n = sermo_corpus_size(corpus);
    w->n_items = n;
    w->sample_rate = ap->sample_rate;
    w->offset = malloc(sizeof *w->offset * (size_t)(n ? n : 1));
    w->n = calloc((size_t)(n ? n : 1), sizeof *w->n);
    sermo_audio *chunk = calloc(WAVES_CHUNK, sizeof *chunk);
    sermo_status *status = calloc(WAVES_CHUNK, sizeof *status);
    sermo_error *errs = calloc(WAVES_CHUNK, sizeof *errs);
    sermo_status st = SERMO_OK;
    if (!w->offset || !w->n || !chunk || !status || !errs)
        st = sermo_fail(err, SERMO_ERR_NOMEM, "training audio: out of memory for %lld items", (long long)n);
    else if ((w->fd = open_temp(dir, err)) < 0)
        st = err ? err->status : SERMO_ERR_IO;
    for (int64_t i = 0; st == SERMO_OK && i < n; i++) w->offset[i] = -1;
    int nt = threads > 0 ? threads : omp_get_max_threads();
    int64_t at = 0; /* samples written */
    for (int64_t start = 0; st == SERMO_OK && start < n; start += WAVES_CHUNK) {
        int64_t len = n - start < WAVES_CHUNK ? n - start : WAVES_CHUNK;
        /* The same call the cache builder makes (sermo_cache_prepare), so the
         * samples are those its features came from. */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t j = 0; j < len; j++) {
            status[j] = SERMO_OK;
            chunk[j] = (sermo_audio){0};
            if (part[start + j] == which)
                status[j] = sermo_audio_load_file(sermo_corpus_item(corpus, start + j)->path, ap, &chunk[j], &errs[j]);
        }
        /* In corpus order, so the file's layout does not depend on the threads. */
        for (int64_t j = 0; j < len; j++) {
            if (st == SERMO_OK && status[j] != SERMO_OK) {
                st = status[j];
                if (err) *err = errs[j];
            }
            if (st == SERMO_OK && chunk[j].samples) {
                st = write_at(w->fd, chunk[j].samples, (size_t)chunk[j].n, at, err);
                w->offset[start + j] = at;
                w->n[start + j] = chunk[j].n;
                if (chunk[j].n > w->max_n) w->max_n = chunk[j].n;
                at += chunk[j].n;
            }
            sermo_audio_free(&chunk[j]);
        }
    }
    w->bytes = sizeof(float) * (size_t)at;
    free(chunk);
    free(status);
    free(errs);
    if (st) train_waves_free(w);
    return st;
}

/* The most samples train_wave_speed can make of n at the slowest rate. */
static size_t slowed_floats(size_t n, float speed) {
    return n ? (size_t)floor((double)(n - 1) / (1.0 - (double)speed)) + 1 : 0;
}

size_t train_wave_pcm_floats(const train_waves *w, const train_wave_aug *aug) {
    size_t n = (size_t)w->max_n;
    return aug->speed > 0 ? slowed_floats(n, aug->speed) + n : n;
}

sermo_status train_wave_features(const train_waves *w, int64_t i, const train_wave_aug *aug, sermo_features *feat,
                                 sermo_rng *rng, float *pcm, float *out, int64_t *n_frames, sermo_error *err) {
    size_t n = (size_t)w->n[i];
    /* With speed on, the clip is read after the room its slowest version
     * needs, then resampled to the front. */
    float *raw = aug->speed > 0 ? pcm + slowed_floats((size_t)w->max_n, aug->speed) : pcm;
    sermo_status st = train_waves_read(w, i, raw, err);
    if (st) return st;
    if (aug->speed > 0) {
        double rate = 1.0 - aug->speed + 2.0 * aug->speed * sermo_rng_uniform(rng);
        n = train_wave_speed(raw, n, pcm, rate);
    }
    /* Speed on the clean clip, then noise, then gain (so the SNR is that of
     * the clip as recorded), then shift; each only when on, so a disabled
     * one draws nothing. */
    if (aug->noise_prob > 0)
        train_wave_add_noise(pcm, n, aug->noise_prob, aug->snr_min_db, aug->snr_max_db, rng, NULL);
    if (aug->gain_db > 0) train_wave_gain(pcm, n, -aug->gain_db, aug->gain_db, rng);
    if (aug->shift_ms > 0)
        train_wave_shift(pcm, n, (int64_t)llround((double)aug->shift_ms * w->sample_rate / 1000.0), 0, rng);
    *n_frames = sermo_features_n_frames(feat, (int64_t)n);
    return sermo_features_compute(feat, pcm, (int64_t)n, out, err);
}

sermo_status train_batcher_use_waves(train_batcher *b, const train_waves *w, const train_wave_aug *aug,
                                     const sermo_feature_params *fp, sermo_error *err) {
    if (!b->train) return sermo_fail(err, SERMO_ERR_INVALID, "batcher: waveform augmentation is for training only");
    int64_t max_frames = 1;
    for (int64_t k = 0; k < b->n; k++)
        if (!train_waves_has(w, b->order[k]))
            return sermo_fail(err, SERMO_ERR_INVALID, "training audio: cache item %lld has no PCM",
                              (long long)b->order[k]);
    if (!(b->feat = sermo_features_init(fp, err))) return err ? err->status : SERMO_ERR_INVALID;
    if (sermo_features_n_bins(b->feat) != b->F)
        return sermo_fail(err, SERMO_ERR_INVALID, "training audio: features give %d rows, the cache has %d",
                          sermo_features_n_bins(b->feat), b->F);
    /* Frame counts must be the cache's, or the audio is not what it was built from. */
    for (int64_t k = 0; k < b->n; k++) {
        int64_t i = b->order[k], cached = 0;
        sermo_cache_item(b->cache, i, &cached);
        int64_t frames = sermo_features_n_frames(b->feat, w->n[i]);
        if (frames != cached)
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "training audio: item %lld gives %lld frames, the cache holds %lld (other audio "
                              "settings?)", (long long)i, (long long)frames, (long long)cached);
        if (frames > max_frames) max_frames = frames;
    }
    size_t pcm_floats = train_wave_pcm_floats(w, aug);
    if (aug->speed > 0) { /* the longest clip slowed down */
        int64_t frames = sermo_features_n_frames(b->feat, (int64_t)(pcm_floats - (size_t)w->max_n));
        if (frames > max_frames) max_frames = frames;
    }
    b->pcm = sermo_alloc(sizeof(float) * (pcm_floats ? pcm_floats : 1), err, "training audio");
    b->feats = sermo_alloc(sizeof(float) * (size_t)b->F * (size_t)max_frames, err, "training audio");
    if (!b->pcm || !b->feats) return SERMO_ERR_NOMEM;
    b->waves = w;
    b->aug = *aug;
    return SERMO_OK;
}
