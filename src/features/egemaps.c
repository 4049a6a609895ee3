/* egemaps.c: features.kind=egemaps, a hand-crafted utterance descriptor in
 * the spirit of eGeMAPS (Eyben et al. 2016, "The Geneva Minimalistic
 * Acoustic Parameter Set (GeMAPS) for Voice Research and Affective
 * Computing", IEEE Trans. Affective Computing 7(2)), written from the
 * paper's definitions. A clip gives ONE column of D functionals, so the
 * feature matrix is (D, 1) and the cache, normalisation and batcher work
 * unchanged.
 *
 * Low-level descriptors (LLDs), one per 10 ms frame t (centred at t * hop,
 * T = 1 + n / hop frames):
 *   F0       semitones above 27.5 Hz, 12 log2(F0 / 27.5); voiced frames only (pitch.c)
 *   jitter, shimmer (dB), HNR (dB): voiced frames only (pitch.c)
 *   loudness sum over the 26 mel bands of band energy^0.3 (Stevens' power
 *            law, the approximation eGeMAPS cites; energies of the power
 *            spectrum scaled by 1 / (sum of the window)^2, so a full-scale
 *            sine has a peak bin of 1/4). No equal-loudness weighting.
 *   alpha ratio   10 log10(E[50, 1000) / E[1000, 5000)) Hz
 *   Hammarberg    10 log10(max P[0, 2000] / max P(2000, 5000]) Hz
 *   slope0-500, slope500-1500: least-squares slope of 10 log10(P + 1e-12)
 *            against frequency in kHz over the band's bins (dB/kHz)
 *   flux     sum_k (m_t[k] - m_{t-1}[k])^2 of the L2-normalised magnitude
 *            spectra; frame 0 repeats frame 1's value
 *   MFCC 1-4 rows 1-4 of Sermo's own MFCC (features.kind=mfcc, post.c) at
 *            the analysis settings of sermo_features_egemaps_spectral_params
 * Spectral LLDs come from 25 ms Hamming frames (eGeMAPS' spectral frames),
 * n_fft the next power of two; bands above Nyquist are cut there. Every
 * LLD but the voicing flag and the frame energy is then smoothed by a
 * 3-frame moving average (eGeMAPS' "sma3"), edge frames averaging the two
 * frames they have; voiced-only LLDs average only defined neighbours.
 * Formant-based parameters (F1-F3 frequency, bandwidth, amplitude) and the
 * harmonic differences H1-H2, H1-A3 are not computed (they need a formant
 * tracker); the rest of eGeMAPS' 88 is here, plus the voiced share.
 *
 * Functionals (rows of the output, in this order; the table `rows` below is
 * the one source of truth, sermo_features_egemaps_row_name(i) names row i):
 *   0-9    F0semitone_{mean, cv, p20, p50, p80, range20_80, rising_slope_mean,
 *          rising_slope_std, falling_slope_mean, falling_slope_std} (voiced)
 *   10-19  loudness_{the same ten} (all frames)
 *   20-25  jitter_{mean, cv}, shimmer_dB_{mean, cv}, HNR_dB_{mean, cv} (voiced)
 *   26-43  {alpha_ratio, hammarberg, slope0_500, slope500_1500, flux, mfcc1..4}_V_{mean, cv}
 *   44-48  {alpha_ratio, hammarberg, slope0_500, slope500_1500, flux}_UV_mean
 *   49-58  mfcc1..4_{mean, cv}, flux_{mean, cv} (all frames)
 *   59-66  loudness_peaks_per_s, voiced_segments_per_s, voiced_segment_len_{mean, std},
 *          unvoiced_segment_len_{mean, std} (s), equivalent_sound_level_dB, voiced_share
 * Definitions: cv = std / |mean| (population std; eGeMAPS' "stddevNorm");
 * percentiles interpolate linearly between order statistics; a rising
 * (falling) part is a maximal run of frames over which the contour goes up
 * (down) within one segment (a voiced run for F0), its slope the change
 * over its duration in units per second, falling slopes reported as
 * magnitudes; a loudness peak is a local maximum at least 10% of the
 * contour's range above the lowest point since the previous peak; the
 * equivalent sound level is 10 log10(mean frame mean-square + 1e-10) in dB
 * full scale over 25 ms frames. Rates are per second of the clip.
 * Undefined values are 0: any statistic over no frames (no voiced frame,
 * no unvoiced frame, no rising part), a cv of a zero mean, a spectral
 * ratio or slope of a band with no bins; band ratios of silence are
 * 10 log10(1e-12 / 1e-12) = 0. So every row is finite for any input. */
#include "features_internal.h"

#include <math.h>
#include <string.h>

#define EGEMAPS_FRAME_S 0.025
#define EGEMAPS_HOP_S 0.010
#define EGEMAPS_N_MELS 26
#define EGEMAPS_N_MFCC 5 /* c0 .. c4; rows 1-4 are used */
#define EGEMAPS_POWER_FLOOR 1e-12
#define EGEMAPS_PEAK_PROMINENCE 0.1

typedef enum egemaps_lld {
    EG_F0 = 0, EG_LOUDNESS, EG_JITTER, EG_SHIMMER, EG_HNR, EG_ALPHA, EG_HAMMARBERG, EG_SLOPE0, EG_SLOPE1,
    EG_FLUX, EG_MFCC1, EG_MFCC2, EG_MFCC3, EG_MFCC4,
    EG_VOICING, /* 1 voiced, 0 not: its runs are the voiced/unvoiced segments */
    EG_ENERGY,  /* mean square of the 25 ms frame */
    EG_N_LLD
} egemaps_lld;

typedef enum egemaps_sel { EG_ALL = 0, EG_V, EG_UV } egemaps_sel;

typedef enum egemaps_stat {
    EG_MEAN = 0, EG_CV, EG_P20, EG_P50, EG_P80, EG_RANGE, EG_RISE_MEAN, EG_RISE_STD, EG_FALL_MEAN, EG_FALL_STD,
    EG_PEAKS_PER_S, EG_SEGS_PER_S, EG_SEG_MEAN, EG_SEG_STD, EG_DB_MEAN
} egemaps_stat;

typedef struct egemaps_row {
    const char *name;
    egemaps_lld lld;
    egemaps_sel sel; /* frames the statistic runs over (and the LLD defines) */
    egemaps_stat stat;
} egemaps_row;

#define CONTOUR(prefix, lld, sel)                                                                              \
    {prefix "_mean", lld, sel, EG_MEAN}, {prefix "_cv", lld, sel, EG_CV}, {prefix "_p20", lld, sel, EG_P20},    \
        {prefix "_p50", lld, sel, EG_P50}, {prefix "_p80", lld, sel, EG_P80},                                   \
        {prefix "_range20_80", lld, sel, EG_RANGE}, {prefix "_rising_slope_mean", lld, sel, EG_RISE_MEAN},      \
        {prefix "_rising_slope_std", lld, sel, EG_RISE_STD}, {prefix "_falling_slope_mean", lld, sel, EG_FALL_MEAN}, \
        {prefix "_falling_slope_std", lld, sel, EG_FALL_STD}
#define MEAN_CV(prefix, lld, sel) {prefix "_mean", lld, sel, EG_MEAN}, {prefix "_cv", lld, sel, EG_CV}

static const egemaps_row rows[] = {
    CONTOUR("F0semitone", EG_F0, EG_ALL),
    CONTOUR("loudness", EG_LOUDNESS, EG_ALL),
    MEAN_CV("jitter", EG_JITTER, EG_ALL),
    MEAN_CV("shimmer_dB", EG_SHIMMER, EG_ALL),
    MEAN_CV("HNR_dB", EG_HNR, EG_ALL),
    MEAN_CV("alpha_ratio_V", EG_ALPHA, EG_V),
    MEAN_CV("hammarberg_V", EG_HAMMARBERG, EG_V),
    MEAN_CV("slope0_500_V", EG_SLOPE0, EG_V),
    MEAN_CV("slope500_1500_V", EG_SLOPE1, EG_V),
    MEAN_CV("flux_V", EG_FLUX, EG_V),
    MEAN_CV("mfcc1_V", EG_MFCC1, EG_V),
    MEAN_CV("mfcc2_V", EG_MFCC2, EG_V),
    MEAN_CV("mfcc3_V", EG_MFCC3, EG_V),
    MEAN_CV("mfcc4_V", EG_MFCC4, EG_V),
    {"alpha_ratio_UV_mean", EG_ALPHA, EG_UV, EG_MEAN},
    {"hammarberg_UV_mean", EG_HAMMARBERG, EG_UV, EG_MEAN},
    {"slope0_500_UV_mean", EG_SLOPE0, EG_UV, EG_MEAN},
    {"slope500_1500_UV_mean", EG_SLOPE1, EG_UV, EG_MEAN},
    {"flux_UV_mean", EG_FLUX, EG_UV, EG_MEAN},
    MEAN_CV("mfcc1", EG_MFCC1, EG_ALL),
    MEAN_CV("mfcc2", EG_MFCC2, EG_ALL),
    MEAN_CV("mfcc3", EG_MFCC3, EG_ALL),
    MEAN_CV("mfcc4", EG_MFCC4, EG_ALL),
    MEAN_CV("flux", EG_FLUX, EG_ALL),
    {"loudness_peaks_per_s", EG_LOUDNESS, EG_ALL, EG_PEAKS_PER_S},
    {"voiced_segments_per_s", EG_VOICING, EG_V, EG_SEGS_PER_S},
    {"voiced_segment_len_mean", EG_VOICING, EG_V, EG_SEG_MEAN},
    {"voiced_segment_len_std", EG_VOICING, EG_V, EG_SEG_STD},
    {"unvoiced_segment_len_mean", EG_VOICING, EG_UV, EG_SEG_MEAN},
    {"unvoiced_segment_len_std", EG_VOICING, EG_UV, EG_SEG_STD},
    {"equivalent_sound_level_dB", EG_ENERGY, EG_ALL, EG_DB_MEAN},
    {"voiced_share", EG_VOICING, EG_ALL, EG_MEAN},
};
#undef CONTOUR
#undef MEAN_CV

#define EG_N_ROWS ((int32_t)(sizeof rows / sizeof rows[0]))

int32_t sermo_features_egemaps_n_rows(void) { return EG_N_ROWS; }

const char *sermo_features_egemaps_row_name(int32_t i) { return i >= 0 && i < EG_N_ROWS ? rows[i].name : NULL; }

/* A band of FFT bins [lo, hi) (empty when lo >= hi). */
typedef struct egemaps_band {
    int32_t lo, hi;
} egemaps_band;

struct sermo_egemaps {
    sermo_features *spec; /* the spectral frames and Sermo's MFCC (kind mfcc) */
    sermo_pitch *pitch;
    int32_t rate, hop, win;
    double power_scale; /* 1 / (sum of the window)^2 */
    egemaps_band alpha_lo, alpha_hi, hamm_lo, hamm_hi, slope0, slope1;
    /* Grown per call. */
    float *lld;  /* (EG_N_LLD, T) NAN where undefined */
    float *mfcc; /* (EGEMAPS_N_MFCC, T) */
    float *tmp;  /* (2 T) sorting, smoothing, slopes */
    size_t cap_frames;
    float *power; /* (F) one frame's scaled power spectrum */
    float *mag;   /* (2, F) the last two L2-normalised magnitude spectra */
};

void sermo_features_egemaps_spectral_params(int32_t sample_rate, sermo_feature_params *p) {
    sermo_feature_default_params(p);
    p->sample_rate = sample_rate;
    p->win_length = (int32_t)lround(EGEMAPS_FRAME_S * sample_rate);
    p->hop_length = (int32_t)lround(EGEMAPS_HOP_S * sample_rate);
    p->n_fft = 1;
    while (p->n_fft < p->win_length) p->n_fft *= 2;
    p->window = SERMO_WINDOW_HAMMING;
    p->n_mels = EGEMAPS_N_MELS;
    p->f_min = 20.0f;
    p->f_max = sample_rate / 2 < 8000 ? (float)(sample_rate / 2) : 8000.0f;
    p->kind = SERMO_FEATURE_MFCC;
    p->n_mfcc = EGEMAPS_N_MFCC;
}

/* Bins whose frequency k * rate / n_fft lies in [lo_hz, hi_hz) (hi_hz
 * inclusive when `closed`), cut at Nyquist. */
static egemaps_band egemaps_bins(const sermo_features *spec, double lo_hz, double hi_hz, int closed) {
    const double bin_hz = (double)spec->p.sample_rate / spec->p.n_fft;
    egemaps_band b = {(int32_t)ceil(lo_hz / bin_hz), 0};
    double last = hi_hz / bin_hz;
    b.hi = closed ? (int32_t)floor(last) + 1 : (int32_t)ceil(last);
    if (b.hi > spec->n_freqs) b.hi = spec->n_freqs;
    if (b.lo > b.hi) b.lo = b.hi;
    return b;
}

void sermo_features_free_egemaps(sermo_features *f) {
    sermo_egemaps *e = f->egemaps;
    if (!e) return;
    sermo_features_free(e->spec);
    sermo_pitch_free(e->pitch);
    free(e->lld), free(e->mfcc), free(e->tmp), free(e->power), free(e->mag);
    free(e);
    f->egemaps = NULL;
}

sermo_status sermo_features_init_egemaps(sermo_features *f, sermo_error *err) {
    sermo_egemaps *e = sermo_alloc(sizeof *e, err, "features: egemaps");
    if (!e) return SERMO_ERR_NOMEM;
    memset(e, 0, sizeof *e);
    f->egemaps = e;
    sermo_feature_params sp;
    sermo_features_egemaps_spectral_params(f->p.sample_rate, &sp);
    e->rate = sp.sample_rate, e->hop = sp.hop_length, e->win = sp.win_length;
    if (!(e->spec = sermo_features_init(&sp, err)) || !(e->pitch = sermo_pitch_init(e->rate, e->hop, err)))
        return err ? err->status : SERMO_ERR_INVALID;
    e->power = sermo_alloc(sizeof(float) * (size_t)e->spec->n_freqs, err, "features: egemaps");
    e->mag = sermo_alloc(sizeof(float) * 2 * (size_t)e->spec->n_freqs, err, "features: egemaps");
    if (!e->power || !e->mag) return SERMO_ERR_NOMEM;
    double wsum = 0;
    for (int32_t k = 0; k < sp.n_fft; k++) wsum += e->spec->window[k];
    e->power_scale = 1.0 / (wsum * wsum);
    e->alpha_lo = egemaps_bins(e->spec, 50, 1000, 0);
    e->alpha_hi = egemaps_bins(e->spec, 1000, 5000, 0);
    e->hamm_lo = egemaps_bins(e->spec, 0, 2000, 1);
    e->hamm_hi = egemaps_bins(e->spec, 2000, 5000, 1);
    e->hamm_hi.lo = e->hamm_lo.hi < e->hamm_hi.hi ? e->hamm_lo.hi : e->hamm_hi.hi; /* (2000, 5000] */
    e->slope0 = egemaps_bins(e->spec, 0, 500, 1);
    e->slope1 = egemaps_bins(e->spec, 500, 1500, 1);
    return SERMO_OK;
}

/* The pitch analysis needs one full window; spectral frames need less. */
int64_t sermo_features_egemaps_min_samples(const sermo_features *f) {
    return f->egemaps ? sermo_pitch_window(f->egemaps->pitch) : 0;
}

static sermo_status egemaps_reserve(sermo_egemaps *e, size_t T, sermo_error *err) {
    if (T <= e->cap_frames) return SERMO_OK;
    free(e->lld), free(e->mfcc), free(e->tmp);
    e->lld = sermo_alloc(sizeof(float) * EG_N_LLD * T, err, "features: egemaps");
    e->mfcc = sermo_alloc(sizeof(float) * EGEMAPS_N_MFCC * T, err, "features: egemaps");
    e->tmp = sermo_alloc(sizeof(float) * 2 * T, err, "features: egemaps");
    e->cap_frames = e->lld && e->mfcc && e->tmp ? T : 0;
    return e->cap_frames ? SERMO_OK : SERMO_ERR_NOMEM;
}

static double egemaps_band_sum(const float *P, egemaps_band b) {
    double s = 0;
    for (int32_t k = b.lo; k < b.hi; k++) s += P[k];
    return s;
}

static double egemaps_band_max(const float *P, egemaps_band b) {
    double m = 0;
    for (int32_t k = b.lo; k < b.hi; k++) m = fmax(m, P[k]);
    return m;
}

/* Least-squares slope of 10 log10(P + floor) against frequency in kHz. */
static double egemaps_band_slope(const float *P, egemaps_band b, double bin_khz) {
    int32_t n = b.hi - b.lo;
    if (n < 2) return 0.0;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int32_t k = b.lo; k < b.hi; k++) {
        double x = k * bin_khz, y = 10.0 * log10((double)P[k] + EGEMAPS_POWER_FLOOR);
        sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    double den = sxx - sx * sx / n;
    return den > 0 ? (sxy - sx * sy / n) / den : 0.0;
}

/* Loudness, band LLDs, flux and frame energy of every frame into e->lld. */
static void egemaps_spectral_llds(sermo_egemaps *e, const float *pcm, int64_t n, int64_t T) {
    enum { B = SERMO_FEATURES_BATCH };
    sermo_features *s = e->spec;
    const int32_t F = s->n_freqs, M = s->p.n_mels;
    const float *bank = s->mel_bank; /* (F, M) */
    const double bin_khz = (double)e->rate / s->p.n_fft / 1000.0;
    float *L = e->lld + EG_LOUDNESS * T, *P = e->power;
    for (int64_t t0 = 0; t0 < T; t0 += B) {
        int32_t count = T - t0 < B ? (int32_t)(T - t0) : B;
        sermo_features_batch_spectrum(s, pcm, n, t0, count);
        for (int32_t b = 0; b < count; b++) {
            const int64_t t = t0 + b;
            double total = 0;
            for (int32_t k = 0; k < F; k++) {
                P[k] = (float)(s->power[(size_t)k * B + b] * e->power_scale);
                total += P[k];
            }
            double loud = 0;
            for (int32_t m = 0; m < M; m++) {
                double band = 0;
                for (int32_t k = 0; k < F; k++) band += (double)bank[(size_t)k * M + m] * P[k];
                loud += pow(band, 0.3);
            }
            L[t] = (float)loud;
            const double fl = EGEMAPS_POWER_FLOOR;
            e->lld[EG_ALPHA * T + t] = (float)(10.0 * log10((egemaps_band_sum(P, e->alpha_lo) + fl) /
                                                            (egemaps_band_sum(P, e->alpha_hi) + fl)));
            e->lld[EG_HAMMARBERG * T + t] = (float)(10.0 * log10((egemaps_band_max(P, e->hamm_lo) + fl) /
                                                                 (egemaps_band_max(P, e->hamm_hi) + fl)));
            e->lld[EG_SLOPE0 * T + t] = (float)egemaps_band_slope(P, e->slope0, bin_khz);
            e->lld[EG_SLOPE1 * T + t] = (float)egemaps_band_slope(P, e->slope1, bin_khz);
            float *mag = e->mag + (size_t)(t % 2) * F, *prev = e->mag + (size_t)((t + 1) % 2) * F;
            double norm = total > 0 ? 1.0 / sqrt(total) : 0.0, flux = 0;
            for (int32_t k = 0; k < F; k++) {
                mag[k] = (float)(sqrt((double)P[k]) * norm);
                if (t > 0) flux += ((double)mag[k] - prev[k]) * ((double)mag[k] - prev[k]);
            }
            e->lld[EG_FLUX * T + t] = (float)flux;
        }
    }
    if (T > 1) e->lld[EG_FLUX * T] = e->lld[EG_FLUX * T + 1];
    /* Frame mean square over the 25 ms frame centred at t * hop. */
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = t * e->hop - e->win / 2, end = i + e->win; i < end; i++)
            if (i >= 0 && i < n) ss += (double)pcm[i] * pcm[i];
        e->lld[EG_ENERGY * T + t] = (float)(ss / e->win);
    }
}

/* sma3: each defined value becomes the mean of itself and its defined
 * neighbours; NAN stays NAN. tmp: (T). */
static void egemaps_smooth(float *x, int64_t T, float *tmp) {
    for (int64_t t = 0; t < T; t++) {
        tmp[t] = x[t];
        if (isnan(x[t])) continue;
        double s = x[t];
        int c = 1;
        if (t > 0 && !isnan(x[t - 1])) s += x[t - 1], c++;
        if (t + 1 < T && !isnan(x[t + 1])) s += x[t + 1], c++;
        tmp[t] = (float)(s / c);
    }
    memcpy(x, tmp, sizeof(float) * (size_t)T);
}

static int egemaps_selected(const float *x, const float *voicing, int64_t t, egemaps_sel sel) {
    if (isnan(x[t])) return 0;
    return sel == EG_ALL || (voicing[t] > 0.5f) == (sel == EG_V);
}

/* Mean and population std of the n values v. */
static void egemaps_moments(const float *v, int64_t n, double *mean, double *std) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    *mean = n ? s / (double)n : 0.0;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *std = n ? sqrt(ss / (double)n) : 0.0;
}

static int egemaps_cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Percentile q in [0, 1] of the sorted n values, linear between order statistics. */
static double egemaps_percentile(const float *sorted, int64_t n, double q) {
    if (n == 0) return 0.0;
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1) return sorted[n - 1];
    return sorted[i] + (pos - (double)i) * ((double)sorted[i + 1] - sorted[i]);
}

/* Slopes (per second) of the rising (sign +1) or falling (-1, as
 * magnitudes) parts of x within runs of selected frames, into out;
 * returns their count. */
static int64_t egemaps_slopes(const float *x, const float *voicing, int64_t T, egemaps_sel sel, int sign,
                              double hop_s, float *out) {
    int64_t count = 0;
    for (int64_t t = 0; t + 1 < T; t++) {
        if (!egemaps_selected(x, voicing, t, sel)) continue;
        int64_t u = t;
        while (u + 1 < T && egemaps_selected(x, voicing, u + 1, sel) && sign * ((double)x[u + 1] - x[u]) > 0) u++;
        if (u > t) {
            out[count++] = (float)(sign * ((double)x[u] - x[t]) / ((double)(u - t) * hop_s));
            t = u - 1; /* the part's end may start the next part */
        }
    }
    return count;
}

/* Lengths (s) of the runs of selected frames into out; returns their count. */
static int64_t egemaps_runs(const float *x, const float *voicing, int64_t T, egemaps_sel sel, double hop_s,
                            float *out) {
    int64_t count = 0;
    for (int64_t t = 0; t < T; t++) {
        if (!egemaps_selected(x, voicing, t, sel)) continue;
        int64_t u = t;
        while (u + 1 < T && egemaps_selected(x, voicing, u + 1, sel)) u++;
        out[count++] = (float)((double)(u - t + 1) * hop_s);
        t = u;
    }
    return count;
}

/* Local maxima rising EGEMAPS_PEAK_PROMINENCE of the range above the lowest
 * point since the last counted peak. */
static int64_t egemaps_peaks(const float *x, int64_t T) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t t = 0; t < T; t++) lo = fminf(lo, x[t]), hi = fmaxf(hi, x[t]);
    const double need = EGEMAPS_PEAK_PROMINENCE * ((double)hi - lo);
    if (!(need > 0)) return 0;
    int64_t count = 0;
    float valley = x[0];
    for (int64_t t = 1; t + 1 < T; t++) {
        valley = fminf(valley, x[t]);
        if (x[t] > x[t - 1] && x[t] >= x[t + 1] && x[t] - valley >= need) count++, valley = x[t];
    }
    return count;
}

static double egemaps_row_value(const sermo_egemaps *e, const egemaps_row *r, int64_t T, double seconds,
                                float *tmp) {
    const float *x = e->lld + r->lld * T, *voicing = e->lld + EG_VOICING * T;
    const double hop_s = (double)e->hop / e->rate;
    int64_t n = 0;
    double mean, std;
    switch (r->stat) {
    case EG_RISE_MEAN: case EG_RISE_STD: case EG_FALL_MEAN: case EG_FALL_STD:
        n = egemaps_slopes(x, voicing, T, r->sel, r->stat <= EG_RISE_STD ? 1 : -1, hop_s, tmp);
        egemaps_moments(tmp, n, &mean, &std);
        return r->stat == EG_RISE_MEAN || r->stat == EG_FALL_MEAN ? mean : std;
    case EG_SEGS_PER_S: case EG_SEG_MEAN: case EG_SEG_STD:
        n = egemaps_runs(x, voicing, T, r->sel, hop_s, tmp);
        if (r->stat == EG_SEGS_PER_S) return (double)n / seconds;
        egemaps_moments(tmp, n, &mean, &std);
        return r->stat == EG_SEG_MEAN ? mean : std;
    case EG_PEAKS_PER_S:
        return (double)egemaps_peaks(x, T) / seconds;
    default:
        break;
    }
    for (int64_t t = 0; t < T; t++)
        if (egemaps_selected(x, voicing, t, r->sel)) tmp[n++] = x[t];
    egemaps_moments(tmp, n, &mean, &std);
    switch (r->stat) {
    case EG_MEAN: return mean;
    case EG_CV: return mean != 0 ? std / fabs(mean) : 0.0;
    case EG_DB_MEAN: return 10.0 * log10(mean + 1e-10);
    default: break;
    }
    qsort(tmp, (size_t)n, sizeof *tmp, egemaps_cmp_float);
    double p20 = egemaps_percentile(tmp, n, 0.2), p80 = egemaps_percentile(tmp, n, 0.8);
    switch (r->stat) {
    case EG_P20: return p20;
    case EG_P50: return egemaps_percentile(tmp, n, 0.5);
    case EG_P80: return p80;
    default: return p80 - p20; /* EG_RANGE */
    }
}

sermo_status sermo_features_compute_egemaps(sermo_features *f, const float *pcm, int64_t n, float *out,
                                            sermo_error *err) {
    sermo_egemaps *e = f->egemaps;
    const int64_t min = sermo_features_egemaps_min_samples(f);
    if (n < min)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "features: %lld samples is too short for egemaps (one %lld-sample pitch window)",
                          (long long)n, (long long)min);
    const int64_t T = sermo_features_n_frames(e->spec, n);
    sermo_status st = egemaps_reserve(e, (size_t)T, err);
    if (st != SERMO_OK) return st;
    float *lld = e->lld;
    if ((st = sermo_features_compute(e->spec, pcm, n, e->mfcc, err)) != SERMO_OK) return st;
    for (int k = 1; k <= 4; k++) memcpy(lld + (EG_MFCC1 + k - 1) * T, e->mfcc + k * T, sizeof(float) * (size_t)T);
    egemaps_spectral_llds(e, pcm, n, T);
    st = sermo_pitch_analyse(e->pitch, pcm, n, T, lld + EG_F0 * T, lld + EG_HNR * T, lld + EG_JITTER * T,
                             lld + EG_SHIMMER * T, err);
    if (st != SERMO_OK) return st;
    for (int64_t t = 0; t < T; t++) {
        float *f0 = lld + EG_F0 * T + t;
        lld[EG_VOICING * T + t] = isnan(*f0) ? 0.0f : 1.0f;
        if (!isnan(*f0)) *f0 = (float)(12.0 * log2(*f0 / 27.5));
    }
    for (int l = 0; l < EG_N_LLD; l++)
        if (l != EG_VOICING && l != EG_ENERGY) egemaps_smooth(lld + l * T, T, e->tmp);
    const double seconds = (double)n / e->rate;
    for (int32_t i = 0; i < EG_N_ROWS; i++) {
        /* Finite by construction; the guard keeps a float overflow of a
         * huge cv (a mean within rounding of 0) out of the model. */
        float v = (float)egemaps_row_value(e, &rows[i], T, seconds, e->tmp);
        out[i] = isfinite(v) ? v : 0.0f;
    }
    return SERMO_OK;
}
