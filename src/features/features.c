/* features.c: the sermo_features handle: init/free, sizes, and compute,
 * which chains stft.c (frames -> |FFT|^power -> mel) and post.c (log, dB,
 * DCT, deltas). Output is (n_bins, T) row-major: the base rows, then the
 * deltas, then the delta-deltas, each block computed from the one before
 * (torchaudio.functional.compute_deltas applied twice). */
#include "features_internal.h"

#include <string.h>

void sermo_features_free(sermo_features *features) {
    if (!features) return;
    sermo_features_free_stft(features);
    sermo_features_free_mel(features);
    free(features->dct);
    free(features->scratch);
    sermo_features_free_egemaps(features);
    free(features);
}

sermo_features *sermo_features_init(const sermo_feature_params *params, sermo_error *err) {
    sermo_feature_params p;
    if (sermo_features_resolve_params(params, &p, err) != SERMO_OK) return NULL;
    sermo_features *f = sermo_alloc(sizeof *f, err, "features");
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->p = p;
    f->n_freqs = p.n_fft / 2 + 1;
    /* egemaps runs its own fixed analysis (egemaps.c), not this handle's STFT. */
    if (p.kind == SERMO_FEATURE_EGEMAPS ? sermo_features_init_egemaps(f, err) != SERMO_OK
        : sermo_features_init_stft(f, err) != SERMO_OK || sermo_features_init_mel(f, err) != SERMO_OK ||
              (p.kind == SERMO_FEATURE_MFCC && sermo_features_init_dct(f, err) != SERMO_OK)) {
        sermo_features_free(f);
        return NULL;
    }
    return f;
}

const sermo_feature_params *sermo_features_params(const sermo_features *features) {
    return features ? &features->p : NULL;
}

/* As torch.stft: 1 + (n + 2 pad - n_fft) / hop frames, pad = n_fft / 2 when
 * centred; 0 when the (padded) input is shorter than one frame. */
int64_t sermo_features_n_frames(const sermo_features *features, int64_t n_samples) {
    if (!features || n_samples <= 0) return 0;
    const sermo_feature_params *p = &features->p;
    if (p->kind == SERMO_FEATURE_EGEMAPS) return n_samples >= sermo_features_egemaps_min_samples(features);
    int64_t padded = n_samples + (p->center ? 2 * (int64_t)(p->n_fft / 2) : 0);
    if (padded < p->n_fft) return 0;
    return 1 + (padded - p->n_fft) / p->hop_length;
}

int32_t sermo_features_n_bins(const sermo_features *features) {
    if (!features) return 0;
    const sermo_feature_params *p = &features->p;
    if (p->kind == SERMO_FEATURE_EGEMAPS) return sermo_features_egemaps_n_rows(); /* no deltas of one frame */
    int32_t base = p->kind == SERMO_FEATURE_MFCC ? p->n_mfcc : p->n_mels;
    return base * (1 + p->deltas);
}

const float *sermo_features_mel_bank(const sermo_features *features) {
    return features ? features->mel_bank : NULL;
}

/* Grow-only scratch: a cache build calls compute once per clip on one handle. */
static sermo_status sermo_features_reserve_scratch(sermo_features *f, size_t count, sermo_error *err) {
    if (count <= f->scratch_cap) return SERMO_OK;
    float *s = realloc(f->scratch, sizeof(float) * count);
    if (!s) return sermo_fail(err, SERMO_ERR_NOMEM, "features: cannot allocate %zu bytes of scratch",
                              sizeof(float) * count);
    f->scratch = s;
    f->scratch_cap = count;
    return SERMO_OK;
}

sermo_status sermo_features_compute(sermo_features *features, const float *pcm, int64_t n_samples, float *out,
                                    sermo_error *err) {
    sermo_features *f = features;
    if (!f || !pcm || !out) return sermo_fail(err, SERMO_ERR_INVALID, "features: NULL handle, input or output");
    if (n_samples <= 0) return sermo_fail(err, SERMO_ERR_EMPTY, "features: no samples");
    const sermo_feature_params *p = &f->p;
    /* One column of functionals; deltas and utterance_norm over one frame
     * would only zero it, so they do not apply. */
    if (p->kind == SERMO_FEATURE_EGEMAPS) return sermo_features_compute_egemaps(f, pcm, n_samples, out, err);
    /* torch.nn.functional.pad(mode="reflect") needs pad < n; reading past
     * that would leave the buffer. */
    if (p->center && p->pad_mode == SERMO_PAD_REFLECT && n_samples <= p->n_fft / 2)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "features: %lld samples is too short for reflect padding of n_fft / 2 = %d "
                          "(need more; or use constant padding)",
                          (long long)n_samples, p->n_fft / 2);
    if (!p->center && n_samples < p->n_fft)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "features: %lld samples is shorter than one frame of n_fft %d with center off",
                          (long long)n_samples, p->n_fft);
    const int64_t T = sermo_features_n_frames(f, n_samples);
    const int32_t M = p->n_mels;

    int32_t base;
    if (p->kind == SERMO_FEATURE_MFCC) {
        sermo_status st = sermo_features_reserve_scratch(f, (size_t)M * (size_t)T, err);
        if (st != SERMO_OK) return st;
        sermo_features_compute_mel(f, pcm, n_samples, T, f->scratch);
        /* torchaudio.transforms.MFCC always uses AmplitudeToDB("power", 80):
         * 10 * log10 even when the mel spectrogram is a magnitude. */
        sermo_features_apply_db(f->scratch, (int64_t)M * T, 10.0f, p->top_db);
        sermo_features_apply_dct(f->dct, p->n_mfcc, M, f->scratch, T, out);
        base = p->n_mfcc;
    } else {
        sermo_features_compute_mel(f, pcm, n_samples, T, out);
        if (p->kind == SERMO_FEATURE_LOGMEL) {
            if (p->log_mode == SERMO_LOG_NATURAL)
                sermo_features_apply_log(out, (int64_t)M * T, p->log_offset, 1.0f);
            else /* AmplitudeToDB("power") or ("magnitude") */
                sermo_features_apply_db(out, (int64_t)M * T, p->power == 2.0f ? 10.0f : 20.0f, p->top_db);
        }
        base = M;
    }
    for (int32_t d = 0; d < p->deltas; d++) {
        const float *src = out + (int64_t)d * base * T;
        sermo_features_compute_deltas(src, base, T, p->delta_win, out + (int64_t)(d + 1) * base * T);
    }
    if (p->utterance_norm != SERMO_UTTERANCE_NORM_NONE)
        sermo_features_apply_utterance_norm(out, base * (1 + p->deltas), T, p->utterance_norm);
    return SERMO_OK;
}
