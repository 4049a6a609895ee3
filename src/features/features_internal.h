/* features_internal.h: the sermo_features handle and the helpers its files
 * share; private to src/features/.
 *
 * Dimension letters: F = n_freqs = n_fft/2 + 1, M = n_mels, K = n_mfcc,
 * T = n_frames, N = n_samples. */
#ifndef SERMO_FEATURES_INTERNAL_H
#define SERMO_FEATURES_INTERNAL_H

#include "internal.h"

#include <fftw3.h>
#include <stdlib.h>

/* Frames per FFT batch: the mel projection and the post-processing run over
 * SERMO_FEATURES_BATCH frames at a time, so their inner loops have a fixed
 * trip count that GCC vectorises at -O2. */
#define SERMO_FEATURES_BATCH 16

/* GCC vector extensions: SSE/NEON where the target has them, plain scalar
 * code elsewhere; no intrinsics, no -march. */
typedef float sermo_v4f __attribute__((vector_size(16)));
typedef int32_t sermo_v4i __attribute__((vector_size(16)));

struct sermo_features {
    sermo_feature_params p; /* resolved: win_length, hop_length, f_max filled in */
    int32_t n_freqs;        /* F */

    /* STFT (stft.c) */
    float *window;       /* (n_fft) window of win_length, zero-padded centred as torch.stft */
    int32_t win_lo;      /* window is zero outside [win_lo, win_hi) */
    int32_t win_hi;
    float *frame;        /* (n_fft) fftwf_malloc'd FFT input; zero outside [win_lo, win_hi) */
    fftwf_complex *spec; /* (F) fftwf_malloc'd FFT output of one frame */
    float *power;        /* (F, B) |X|^power, frame-minor so the mel sums vectorise over frames */
    fftwf_plan plan;     /* B real-to-complex transforms of n_fft in one execute */

    /* mel bank (mel.c) */
    float *mel_bank;   /* (F, M) dense, as torchaudio.functional.melscale_fbanks */
    int32_t *band_lo;  /* (M) first nonzero frequency bin of filter m */
    int32_t *band_len; /* (M) number of bins from band_lo (0 for an all-zero filter) */
    int32_t *band_off; /* (M) offset of filter m's weights in band_w */
    float *band_w;     /* (sum band_len) each filter's weights over its nonzero range */

    /* MFCC (post.c) */
    float *dct; /* (K, M) DCT-II, norm='ortho', as torchaudio.functional.create_dct transposed */

    /* per-call scratch, grown when a longer input arrives */
    float *scratch; /* (M, T) mel spectrogram before the DCT */
    size_t scratch_cap;

    /* kind egemaps (egemaps.c); NULL otherwise */
    struct sermo_egemaps *egemaps;
};

/* params.c */
sermo_status sermo_features_resolve_params(const sermo_feature_params *in, sermo_feature_params *out,
                                           sermo_error *err);

/* stft.c */
sermo_status sermo_features_init_stft(sermo_features *f, sermo_error *err);
void sermo_features_free_stft(sermo_features *f);
/* f->power[k * B + b] = |FFT of frame t0 + b|^power for b < count <= B,
 * frame t starting at t * hop - pad. */
void sermo_features_batch_spectrum(sermo_features *f, const float *pcm, int64_t n, int64_t t0, int32_t count);
/* mel: (M, T) row-major; the mel spectrogram (power or magnitude) of pcm. */
void sermo_features_compute_mel(sermo_features *f, const float *pcm, int64_t n, int64_t n_frames,
                                float *mel);

/* mel.c */
sermo_status sermo_features_init_mel(sermo_features *f, sermo_error *err);
void sermo_features_free_mel(sermo_features *f);

/* post.c */
sermo_status sermo_features_init_dct(sermo_features *f, sermo_error *err);
/* x[i] = scale * ln(x[i] + offset), vectorised; exact logf for x <= 0, subnormals, inf, NaN. */
void sermo_features_apply_log(float *x, int64_t n, float offset, float scale);
void sermo_features_apply_db(float *x, int64_t n, float multiplier, float top_db);
void sermo_features_apply_dct(const float *dct, int32_t n_mfcc, int32_t n_mels, const float *mel,
                              int64_t n_frames, float *out);
void sermo_features_compute_deltas(const float *x, int32_t rows, int64_t n_frames, int32_t win,
                                   float *out);
/* Each of the rows of x (rows, n_frames) minus its mean over the frames, and
 * with meanvar divided by its (population) standard deviation; a row whose
 * deviation is below 1e-5 (a constant, e.g. clamped silence) is only centred. */
void sermo_features_apply_utterance_norm(float *x, int32_t rows, int64_t n_frames, sermo_utterance_norm mode);

/* egemaps.c: features.kind=egemaps, D functionals of a clip as one column. */
typedef struct sermo_egemaps sermo_egemaps;
sermo_status sermo_features_init_egemaps(sermo_features *f, sermo_error *err);
void sermo_features_free_egemaps(sermo_features *f);
/* D, and the name of row i < D ("F0semitone_mean", ...), NULL out of range. */
int32_t sermo_features_egemaps_n_rows(void);
const char *sermo_features_egemaps_row_name(int32_t i);
/* Fewer samples than this give no frame (one pitch window, 60 ms). */
int64_t sermo_features_egemaps_min_samples(const sermo_features *f);
/* out (D): the functionals of pcm (n samples). */
sermo_status sermo_features_compute_egemaps(sermo_features *f, const float *pcm, int64_t n, float *out,
                                            sermo_error *err);
/* The settings of egemaps' spectral frames and MFCC (a kind=mfcc handle
 * with them gives the MFCC rows egemaps uses). */
void sermo_features_egemaps_spectral_params(int32_t sample_rate, sermo_feature_params *p);

/* pitch.c: F0, HNR, jitter and shimmer per 10 ms frame for egemaps. */
typedef struct sermo_pitch sermo_pitch;
sermo_pitch *sermo_pitch_init(int32_t sample_rate, int32_t hop, sermo_error *err);
void sermo_pitch_free(sermo_pitch *p);
int32_t sermo_pitch_window(const sermo_pitch *p); /* analysis window, samples */
/* Frames t < T centred at t * hop: f0 (Hz), hnr (dB), jitter (fraction),
 * shimmer (dB), each NAN where undefined (unvoiced; too few pulses). */
sermo_status sermo_pitch_analyse(sermo_pitch *p, const float *x, int64_t n, int64_t T, float *f0, float *hnr,
                                 float *jitter, float *shimmer, sermo_error *err);

#endif
