/* waves.c: waveform augmentation in the training pipeline. The processed
 * PCM of the training items is decoded once into memory; each epoch every
 * training item is augmented (noise, gain, shift: augment.c) and turned into
 * features with the cache's own settings, then normalised and cropped as the
 * cached path does (batcher.c). */
#include "train/train.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int train_wave_aug_from_options(train_wave_aug *aug, const train_options *opt) {
    *aug = (train_wave_aug){.noise_prob = opt->noise_prob, .snr_min_db = opt->noise_snr_min,
                            .snr_max_db = opt->noise_snr_max, .gain_db = opt->gain_db, .shift_ms = opt->shift_ms};
    return aug->noise_prob > 0 || aug->gain_db > 0 || aug->shift_ms > 0;
}

void train_waves_free(train_waves *w) {
    for (int64_t i = 0; w->pcm && i < w->n_items; i++) free(w->pcm[i]);
    free(w->pcm);
    free(w->n);
    memset(w, 0, sizeof *w);
}

sermo_status train_waves_load(train_waves *w, const sermo_corpus *corpus, const int8_t *part, int8_t which,
                              const sermo_audio_params *ap, int32_t threads, sermo_error *err) {
    memset(w, 0, sizeof *w);
    int64_t n = sermo_corpus_size(corpus);
    w->n_items = n;
    w->sample_rate = ap->sample_rate;
    w->pcm = calloc((size_t)(n ? n : 1), sizeof *w->pcm);
    w->n = calloc((size_t)(n ? n : 1), sizeof *w->n);
    sermo_status *status = calloc((size_t)(n ? n : 1), sizeof *status);
    sermo_error *errs = calloc((size_t)(n ? n : 1), sizeof *errs);
    if (!w->pcm || !w->n || !status || !errs) {
        free(status);
        free(errs);
        train_waves_free(w);
        return sermo_fail(err, SERMO_ERR_NOMEM, "training audio: out of memory for %lld items", (long long)n);
    }
    int nt = threads > 0 ? threads : omp_get_max_threads();
    /* The same call the cache builder makes (sermo_cache_prepare), so the
     * samples are those its features came from. */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
    for (int64_t i = 0; i < n; i++) {
        if (part[i] != which) continue;
        sermo_audio a;
        status[i] = sermo_audio_load_file(sermo_corpus_item(corpus, i)->path, ap, &a, &errs[i]);
        if (status[i] == SERMO_OK) {
            w->pcm[i] = a.samples;
            w->n[i] = a.n;
        }
    }
    sermo_status st = SERMO_OK;
    for (int64_t i = 0; i < n; i++) {
        if (status[i] != SERMO_OK && st == SERMO_OK) {
            st = status[i];
            if (err) *err = errs[i];
        }
        w->bytes += sizeof(float) * (size_t)w->n[i];
    }
    free(status);
    free(errs);
    if (st) train_waves_free(w);
    return st;
}

sermo_status train_wave_features(const train_waves *w, int64_t i, const train_wave_aug *aug, sermo_features *feat,
                                 sermo_rng *rng, float *pcm, float *out, int64_t *n_frames, sermo_error *err) {
    if (i < 0 || i >= w->n_items || !w->pcm[i])
        return sermo_fail(err, SERMO_ERR_INVALID, "training audio: item %lld was not loaded", (long long)i);
    size_t n = (size_t)w->n[i];
    memcpy(pcm, w->pcm[i], sizeof(float) * n);
    /* Noise, then gain (so the SNR is that of the clip as recorded), then
     * shift; each only when on, so a disabled one draws nothing. */
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
    int64_t max_n = 1, max_frames = 1;
    for (int64_t k = 0; k < b->n; k++) {
        int64_t i = b->order[k];
        if (i >= w->n_items || !w->pcm[i])
            return sermo_fail(err, SERMO_ERR_INVALID, "training audio: cache item %lld has no PCM", (long long)i);
        if (w->n[i] > max_n) max_n = w->n[i];
    }
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
    b->pcm = sermo_alloc(sizeof(float) * (size_t)max_n, err, "training audio");
    b->feats = sermo_alloc(sizeof(float) * (size_t)b->F * (size_t)max_frames, err, "training audio");
    if (!b->pcm || !b->feats) return SERMO_ERR_NOMEM;
    b->waves = w;
    b->aug = *aug;
    return SERMO_OK;
}
