/* params.c: feature parameter defaults and validation.
 *
 * Defaults follow torchaudio.transforms.MelSpectrogram (n_fft 400, hop
 * win_length // 2, periodic Hann, reflect-padded centred frames, power 2,
 * 128 HTK mels from 0 to sample_rate // 2) except the output kind, which is
 * log-mel. */
#include "features_internal.h"

#include <math.h>

void sermo_feature_default_params(sermo_feature_params *params) {
    if (!params) return;
    *params = (sermo_feature_params){
        .sample_rate = 16000,
        .n_fft = 400,
        .win_length = 0,
        .hop_length = 0,
        .window = SERMO_WINDOW_HANN,
        .center = 1,
        .pad_mode = SERMO_PAD_REFLECT,
        .power = 2.0f,
        .n_mels = 128,
        .f_min = 0.0f,
        .f_max = 0.0f,
        .mel_scale = SERMO_MEL_HTK,
        .mel_norm_slaney = 0,
        .kind = SERMO_FEATURE_LOGMEL,
        .log_mode = SERMO_LOG_NATURAL,
        .log_offset = 1e-6f,
        .top_db = 80.0f,
        .n_mfcc = 40,
        .deltas = 0,
        .delta_win = 5,
        .utterance_norm = SERMO_UTTERANCE_NORM_NONE,
    };
}

/* Largest n_fft accepted: far beyond any speech front end, and it keeps
 * n_fft * n_mels and the frame arithmetic well inside int32/size_t. */
#define SERMO_FEATURES_MAX_FFT (1 << 20)
#define SERMO_FEATURES_MAX_MELS 4096

#define BAD(...) sermo_fail(err, SERMO_ERR_INVALID, __VA_ARGS__)

/* Copy `in` to `out` with the 0 = "derived" fields filled in, or fail naming
 * the first offending key as it is spelt in a config ("features.<field>"). */
sermo_status sermo_features_resolve_params(const sermo_feature_params *in, sermo_feature_params *out,
                                           sermo_error *err) {
    if (!in) return BAD("features: params is NULL");
    sermo_feature_params p = *in;
    if (p.sample_rate <= 0) return BAD("features.sample_rate: must be positive (got %d)", p.sample_rate);
    if (p.n_fft <= 0) return BAD("features.n_fft: must be positive (got %d)", p.n_fft);
    if (p.n_fft > SERMO_FEATURES_MAX_FFT)
        return BAD("features.n_fft: must be at most %d (got %d)", SERMO_FEATURES_MAX_FFT, p.n_fft);
    if (p.win_length < 0) return BAD("features.win_length: must be positive, or 0 for n_fft (got %d)",
                                     p.win_length);
    if (p.win_length == 0) p.win_length = p.n_fft;
    if (p.win_length > p.n_fft)
        return BAD("features.win_length: must be at most n_fft %d (got %d)", p.n_fft, p.win_length);
    if (p.hop_length < 0)
        return BAD("features.hop_length: must be positive, or 0 for win_length / 2 (got %d)", p.hop_length);
    if (p.hop_length == 0) p.hop_length = p.win_length / 2;
    if (p.hop_length <= 0)
        return BAD("features.hop_length: win_length %d is too short to derive a hop; set it", p.win_length);
    if (p.window != SERMO_WINDOW_HANN && p.window != SERMO_WINDOW_HAMMING && p.window != SERMO_WINDOW_RECT)
        return BAD("features.window: unknown window %d", (int)p.window);
    if (p.center != 0 && p.center != 1) return BAD("features.center: must be 0 or 1 (got %d)", p.center);
    if (p.pad_mode != SERMO_PAD_REFLECT && p.pad_mode != SERMO_PAD_CONSTANT)
        return BAD("features.pad_mode: unknown pad mode %d", (int)p.pad_mode);
    if (p.power != 1.0f && p.power != 2.0f)
        return BAD("features.power: must be 1 (magnitude) or 2 (power) (got %g)", (double)p.power);
    if (p.n_mels <= 0 || p.n_mels > SERMO_FEATURES_MAX_MELS)
        return BAD("features.n_mels: must be in 1..%d (got %d)", SERMO_FEATURES_MAX_MELS, p.n_mels);
    /* torchaudio's default f_max and its frequency axis both use sample_rate // 2. */
    float nyquist = (float)(p.sample_rate / 2);
    if (!isfinite(p.f_min) || p.f_min < 0)
        return BAD("features.f_min: must be finite and >= 0 (got %g)", (double)p.f_min);
    if (!isfinite(p.f_max) || p.f_max < 0)
        return BAD("features.f_max: must be finite and >= 0, 0 for sample_rate / 2 (got %g)", (double)p.f_max);
    if (p.f_max == 0) p.f_max = nyquist;
    if (p.f_max > (float)p.sample_rate / 2)
        return BAD("features.f_max: must be at most sample_rate / 2 = %g (got %g)", (double)p.sample_rate / 2,
                   (double)p.f_max);
    if (p.f_min >= p.f_max)
        return BAD("features.f_min: must be below f_max %g (got %g)", (double)p.f_max, (double)p.f_min);
    if (p.mel_scale != SERMO_MEL_HTK && p.mel_scale != SERMO_MEL_SLANEY)
        return BAD("features.mel_scale: unknown mel scale %d", (int)p.mel_scale);
    if (p.mel_norm_slaney != 0 && p.mel_norm_slaney != 1)
        return BAD("features.mel_norm_slaney: must be 0 or 1 (got %d)", p.mel_norm_slaney);
    if (p.kind != SERMO_FEATURE_MEL && p.kind != SERMO_FEATURE_LOGMEL && p.kind != SERMO_FEATURE_MFCC &&
        p.kind != SERMO_FEATURE_EGEMAPS)
        return BAD("features.kind: unknown feature kind %d", (int)p.kind);
    /* egemaps' bands reach 5 kHz and its pitch 600 Hz; below 8 kHz both are cut too far. */
    if (p.kind == SERMO_FEATURE_EGEMAPS && p.sample_rate < 8000)
        return BAD("features.kind: egemaps needs a sample rate of at least 8000 (got %d)", p.sample_rate);
    if (p.log_mode != SERMO_LOG_NATURAL && p.log_mode != SERMO_LOG_DB)
        return BAD("features.log_mode: unknown log mode %d", (int)p.log_mode);
    if (!isfinite(p.log_offset) || p.log_offset < 0)
        return BAD("features.log_offset: must be finite and >= 0 (got %g)", (double)p.log_offset);
    if (!isfinite(p.top_db)) return BAD("features.top_db: must be finite (got %g)", (double)p.top_db);
    if (p.kind == SERMO_FEATURE_MFCC && (p.n_mfcc <= 0 || p.n_mfcc > p.n_mels))
        return BAD("features.n_mfcc: must be in 1..n_mels %d (got %d)", p.n_mels, p.n_mfcc);
    if (p.deltas < 0 || p.deltas > 2) return BAD("features.deltas: must be 0, 1 or 2 (got %d)", p.deltas);
    /* torchaudio.functional.compute_deltas rejects win_length < 3. */
    if (p.deltas > 0 && (p.delta_win < 3 || p.delta_win > 1001))
        return BAD("features.delta_win: must be in 3..1001 (got %d)", p.delta_win);
    if (p.utterance_norm < SERMO_UTTERANCE_NORM_NONE || p.utterance_norm > SERMO_UTTERANCE_NORM_MEANVAR)
        return BAD("features.utterance_norm: unknown mode %d", (int)p.utterance_norm);
    *out = p;
    return SERMO_OK;
}
