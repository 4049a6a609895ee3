/* mel.c: the mel filterbank, as torchaudio.functional.melscale_fbanks
 * (torchaudio 0.13, itself adopted from librosa.filters.mel), plus the
 * per-filter nonzero ranges used for the sparse projection in stft.c.
 *
 * Computed in double and rounded once; torchaudio works in float32, so the
 * two agree to float32 rounding (tests/features/test_golden.c). */
#include "features_internal.h"

#include <math.h>
#include <string.h>

/* Slaney's Auditory Toolbox scale: linear below 1 kHz (200/3 Hz per mel),
 * logarithmic above with step log(6.4) / 27 (torchaudio _hz_to_mel). */
#define SLANEY_F_SP (200.0 / 3.0)
#define SLANEY_MIN_LOG_HZ 1000.0
#define SLANEY_MIN_LOG_MEL (SLANEY_MIN_LOG_HZ / SLANEY_F_SP)
#define SLANEY_LOGSTEP (log(6.4) / 27.0)

static double sermo_features_hz_to_mel(double hz, sermo_mel_scale scale) {
    if (scale == SERMO_MEL_HTK) return 2595.0 * log10(1.0 + hz / 700.0); /* O'Shaughnessy 1987 */
    if (hz >= SLANEY_MIN_LOG_HZ) return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
    return hz / SLANEY_F_SP;
}

static double sermo_features_mel_to_hz(double mel, sermo_mel_scale scale) {
    if (scale == SERMO_MEL_HTK) return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    if (mel >= SLANEY_MIN_LOG_MEL) return SLANEY_MIN_LOG_HZ * exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
    return SLANEY_F_SP * mel;
}

/* torch.linspace(start, end, steps)[i]. */
static double sermo_features_linspace(double start, double end, int64_t steps, int64_t i) {
    return steps > 1 ? start + (end - start) * (double)i / (double)(steps - 1) : start;
}

sermo_status sermo_features_init_mel(sermo_features *f, sermo_error *err) {
    const sermo_feature_params *p = &f->p;
    const int32_t n_freqs = f->n_freqs, n_mels = p->n_mels;
    double *f_pts = sermo_alloc(sizeof(double) * (size_t)(n_mels + 2), err, "features: mel bank");
    f->mel_bank = sermo_alloc(sizeof(float) * (size_t)n_freqs * (size_t)n_mels, err, "features: mel bank");
    f->band_lo = sermo_alloc(sizeof(int32_t) * (size_t)n_mels, err, "features: mel bank");
    f->band_len = sermo_alloc(sizeof(int32_t) * (size_t)n_mels, err, "features: mel bank");
    f->band_off = sermo_alloc(sizeof(int32_t) * (size_t)n_mels, err, "features: mel bank");
    if (!f_pts || !f->mel_bank || !f->band_lo || !f->band_len || !f->band_off) {
        free(f_pts);
        return err ? err->status : SERMO_ERR_NOMEM;
    }

    /* Filter edges: n_mels + 2 points equally spaced in mel between f_min and f_max. */
    double m_min = sermo_features_hz_to_mel(p->f_min, p->mel_scale);
    double m_max = sermo_features_hz_to_mel(p->f_max, p->mel_scale);
    for (int32_t i = 0; i < n_mels + 2; i++)
        f_pts[i] = sermo_features_mel_to_hz(sermo_features_linspace(m_min, m_max, n_mels + 2, i), p->mel_scale);

    /* fb[k, m] = max(0, min((f_k - f_m) / (f_{m+1} - f_m), (f_{m+2} - f_k) / (f_{m+2} - f_{m+1}))),
     * times 2 / (f_{m+2} - f_m) with Slaney area normalisation. The frequency
     * axis is torch.linspace(0, sample_rate // 2, n_freqs), as torchaudio. */
    int64_t total = 0;
    for (int32_t m = 0; m < n_mels; m++) {
        double lo = f_pts[m], mid = f_pts[m + 1], hi = f_pts[m + 2];
        double enorm = p->mel_norm_slaney ? 2.0 / (hi - lo) : 1.0;
        int32_t first = -1, last = -2;
        for (int32_t k = 0; k < n_freqs; k++) {
            double hz = sermo_features_linspace(0.0, (double)(p->sample_rate / 2), n_freqs, k);
            double down = (hz - lo) / (mid - lo), up = (hi - hz) / (hi - mid);
            double w = fmax(0.0, fmin(down, up)) * enorm;
            f->mel_bank[(size_t)k * (size_t)n_mels + (size_t)m] = (float)w;
            if ((float)w != 0.0f) {
                if (first < 0) first = k;
                last = k;
            }
        }
        f->band_lo[m] = first < 0 ? 0 : first;
        f->band_len[m] = last - first + 1 > 0 ? last - first + 1 : 0;
        f->band_off[m] = (int32_t)total;
        total += f->band_len[m];
    }
    free(f_pts);

    f->band_w = sermo_alloc(sizeof(float) * (size_t)(total ? total : 1), err, "features: mel bank");
    if (!f->band_w) return err ? err->status : SERMO_ERR_NOMEM;
    for (int32_t m = 0; m < n_mels; m++)
        for (int32_t k = 0; k < f->band_len[m]; k++)
            f->band_w[f->band_off[m] + k] = f->mel_bank[(size_t)(f->band_lo[m] + k) * (size_t)n_mels + (size_t)m];
    return SERMO_OK;
}

void sermo_features_free_mel(sermo_features *f) {
    free(f->mel_bank);
    free(f->band_lo);
    free(f->band_len);
    free(f->band_off);
    free(f->band_w);
}
