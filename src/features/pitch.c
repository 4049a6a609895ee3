/* pitch.c: the voice-source descriptors of the egemaps features (egemaps.c):
 * F0, harmonics-to-noise ratio, jitter and shimmer per 10 ms frame.
 *
 * F0 and HNR follow Boersma 1993 ("Accurate short-term analysis of the
 * fundamental frequency and the harmonics-to-noise ratio of a sampled sound",
 * IFA Proceedings 17): per frame, the autocorrelation of the Hann-windowed,
 * mean-removed segment divided by the window's own autocorrelation
 * (his eq. 9, r_x = r_a / r_w), local maxima as candidates with strength
 * R = r - OctaveCost * log2(MinimumPitch * lag), an unvoiced candidate of
 * strength VoicingThreshold + max(0, 2 - (local peak / global peak) /
 * (SilenceThreshold / (1 + VoicingThreshold))), and a Viterbi path through
 * the candidates with the transition costs VoicedUnvoicedCost and
 * OctaveJumpCost * |log2(F1 / F2)|. Parameters are his (and Praat's)
 * defaults, the floor aside: a 60 ms window (the length eGeMAPS uses for
 * its pitch, Eyben et al. 2016 sec. 3) holds 3 periods of 50 Hz, and the
 * floor is 55 Hz to keep the window correction away from its tail. Lags are
 * refined by parabolic interpolation (Boersma uses sinc interpolation).
 * HNR = 10 log10(r / (1 - r)) of the chosen candidate (Boersma eq. 4).
 *
 * Jitter and shimmer follow their usual definitions (Eyben et al. 2016,
 * sec. 3.1; Praat's "local" variants): within each voiced run the glottal
 * pulses are the waveform maxima one period apart (searched in 0.8-1.25
 * periods of the local F0, refined by a parabola through the peak sample);
 * for a frame, over the pulses inside its 60 ms window,
 *   jitter  = mean |T_i - T_{i-1}| / mean T_i          (a fraction, not %)
 *   shimmer = mean |20 log10(A_{i+1} / A_i)|          (dB)
 * skipping periods outside [1/ceiling, 1/floor] and period pairs whose ratio
 * exceeds 1.3 (Praat's maximum period factor). A frame with too few pulses
 * has no value (NAN here; egemaps.c then leaves it out of the statistics).
 *
 * The autocorrelation is the inverse transform of the power spectrum
 * (Wiener-Khinchin), both transforms through a rectangular-window STFT
 * handle of stft.c, whose FFTW plans are made under its planner lock. */
#include "features_internal.h"

#include <math.h>
#include <string.h>

#define PITCH_WINDOW_S 0.060
#define PITCH_FLOOR 55.0
#define PITCH_CEILING 600.0
#define PITCH_CANDIDATES 8 /* per frame, the unvoiced one (index 0) included */
#define PITCH_VOICING_THRESHOLD 0.45
#define PITCH_SILENCE_THRESHOLD 0.03
#define PITCH_OCTAVE_COST 0.01
#define PITCH_OCTAVE_JUMP_COST 0.35
#define PITCH_VUV_COST 0.14
#define PITCH_MAX_PERIOD_FACTOR 1.3

struct sermo_pitch {
    int32_t rate, hop, win;  /* samples */
    int32_t n_ac;            /* FFT size: a power of two >= win + lag_max + 1 */
    int32_t lag_min, lag_max;
    sermo_features *fft;     /* rect window of n_ac, center off: one frame's r2c */
    float *window;           /* (win) periodic Hann */
    float *r_w;              /* (lag_max + 2) normalised autocorrelation of the window */
    float *seg;              /* (win) the frame, mean removed and windowed */
    float *buf;              /* (n_ac) transform input */
    float *ac;               /* (lag_max + 2) the frame's r_a / r_w */
    /* Grown per call: T frames x PITCH_CANDIDATES, and the pulses. */
    float *cand_f, *cand_r, *cand_R, *score; /* (T, K) Hz (0 = unvoiced), r, strength, path score */
    int32_t *back;                          /* (T, K) */
    size_t cap_frames;
    double *pulse_t; /* (P) positions in samples */
    float *pulse_a;  /* (P) amplitudes */
    int32_t *pulse_run; /* (P) the voiced run each belongs to */
    size_t cap_pulses;
};

int32_t sermo_pitch_window(const sermo_pitch *p) { return p ? p->win : 0; }

void sermo_pitch_free(sermo_pitch *p) {
    if (!p) return;
    sermo_features_free(p->fft);
    free(p->window), free(p->r_w), free(p->seg), free(p->buf), free(p->ac);
    free(p->cand_f), free(p->cand_r), free(p->cand_R), free(p->score), free(p->back);
    free(p->pulse_t), free(p->pulse_a), free(p->pulse_run);
    free(p);
}

/* p->ac[tau] = sum_i s_i s_{i+tau} / sum_i s_i^2 for tau <= lag_max + 1, of
 * s (win): the real transform of the even-extended power spectrum is the
 * circular autocorrelation, linear here since n_ac >= win + lag_max + 1. */
static void pitch_autocorrelate(sermo_pitch *p, const float *s) {
    enum { B = SERMO_FEATURES_BATCH };
    const int32_t N = p->n_ac;
    memset(p->buf, 0, sizeof(float) * (size_t)N);
    memcpy(p->buf, s, sizeof(float) * (size_t)p->win);
    sermo_features_batch_spectrum(p->fft, p->buf, N, 0, 1);
    const float *P = p->fft->power; /* (F, B), frame 0 */
    for (int32_t k = 0; k <= N / 2; k++) p->buf[k] = P[(size_t)k * B];
    for (int32_t k = 1; k < N / 2; k++) p->buf[N - k] = p->buf[k];
    sermo_features_batch_spectrum(p->fft, p->buf, N, 0, 1);
    const fftwf_complex *X = p->fft->spec; /* real: the input is even */
    const double r0 = X[0][0];
    for (int32_t tau = 0; tau <= p->lag_max + 1; tau++) p->ac[tau] = r0 > 0 ? (float)(X[tau][0] / r0) : 0.0f;
}

sermo_pitch *sermo_pitch_init(int32_t sample_rate, int32_t hop, sermo_error *err) {
    sermo_pitch *p = sermo_alloc(sizeof *p, err, "features: pitch");
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->rate = sample_rate;
    p->hop = hop;
    p->win = (int32_t)lround(PITCH_WINDOW_S * sample_rate);
    p->lag_min = (int32_t)floor(sample_rate / PITCH_CEILING);
    p->lag_max = (int32_t)ceil(sample_rate / PITCH_FLOOR);
    if (p->lag_max + 2 > p->win) p->lag_max = p->win - 2;
    p->n_ac = 1;
    while (p->n_ac < p->win + p->lag_max + 2) p->n_ac *= 2;
    sermo_feature_params fp;
    sermo_feature_default_params(&fp);
    fp.sample_rate = sample_rate;
    fp.n_fft = fp.win_length = fp.hop_length = p->n_ac;
    fp.window = SERMO_WINDOW_RECT;
    fp.center = 0;
    fp.n_mels = 1;
    fp.kind = SERMO_FEATURE_MEL;
    size_t lags = (size_t)p->lag_max + 2;
    p->window = sermo_alloc(sizeof(float) * (size_t)p->win, err, "features: pitch");
    p->r_w = sermo_alloc(sizeof(float) * lags, err, "features: pitch");
    p->ac = sermo_alloc(sizeof(float) * lags, err, "features: pitch");
    p->buf = sermo_alloc(sizeof(float) * (size_t)p->n_ac, err, "features: pitch");
    p->seg = sermo_alloc(sizeof(float) * (size_t)p->win, err, "features: pitch");
    if (!p->seg || !p->window || !p->r_w || !p->ac || !p->buf || !(p->fft = sermo_features_init(&fp, err))) {
        sermo_pitch_free(p);
        return NULL;
    }
    for (int32_t j = 0; j < p->win; j++) p->window[j] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * j / p->win));
    pitch_autocorrelate(p, p->window);
    memcpy(p->r_w, p->ac, sizeof(float) * lags);
    return p;
}

static sermo_status pitch_reserve(sermo_pitch *p, size_t frames, size_t pulses, sermo_error *err) {
    if (frames > p->cap_frames) {
        size_t n = frames * PITCH_CANDIDATES;
        float **fl[] = {&p->cand_f, &p->cand_r, &p->cand_R, &p->score};
        for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) {
            free(*fl[i]);
            if (!(*fl[i] = sermo_alloc(sizeof(float) * n, err, "features: pitch"))) return SERMO_ERR_NOMEM;
        }
        free(p->back);
        if (!(p->back = sermo_alloc(sizeof(int32_t) * n, err, "features: pitch"))) return SERMO_ERR_NOMEM;
        p->cap_frames = frames;
    }
    if (pulses > p->cap_pulses) {
        free(p->pulse_t), free(p->pulse_a), free(p->pulse_run);
        p->pulse_t = sermo_alloc(sizeof(double) * pulses, err, "features: pitch");
        p->pulse_a = sermo_alloc(sizeof(float) * pulses, err, "features: pitch");
        p->pulse_run = sermo_alloc(sizeof(int32_t) * pulses, err, "features: pitch");
        if (!p->pulse_t || !p->pulse_a || !p->pulse_run) {
            p->cap_pulses = 0;
            return SERMO_ERR_NOMEM;
        }
        p->cap_pulses = pulses;
    }
    return SERMO_OK;
}

/* Vertex of the parabola through (-1, a), (0, b), (1, c): offset in
 * [-0.5, 0.5] for a peak sample, and the value there. */
static double pitch_parabola(double a, double b, double c, double *value) {
    double den = a - 2.0 * b + c, d = den < 0 ? 0.5 * (a - c) / den : 0.0;
    if (d > 0.5) d = 0.5;
    if (d < -0.5) d = -0.5;
    *value = b - 0.25 * (a - c) * d;
    return d;
}

/* Frame t's candidates into row t of cand_*: the unvoiced one, then up to
 * K - 1 autocorrelation maxima by strength. */
static void pitch_frame_candidates(sermo_pitch *p, const float *x, int64_t n, int64_t t, double global_peak) {
    float *seg = p->seg;
    const int64_t start = t * p->hop - p->win / 2;
    double sum = 0, local_peak = 0;
    int64_t count = 0;
    for (int32_t j = 0; j < p->win; j++)
        if (start + j >= 0 && start + j < n) sum += x[start + j], count++;
    const double mean = count ? sum / (double)count : 0.0;
    for (int32_t j = 0; j < p->win; j++) {
        double v = start + j >= 0 && start + j < n ? x[start + j] - mean : 0.0;
        if (fabs(v) > local_peak) local_peak = fabs(v);
        seg[j] = (float)(v * p->window[j]);
    }
    float *f = p->cand_f + t * PITCH_CANDIDATES, *r = p->cand_r + t * PITCH_CANDIDATES,
          *R = p->cand_R + t * PITCH_CANDIDATES;
    const double V = PITCH_VOICING_THRESHOLD, S = PITCH_SILENCE_THRESHOLD;
    double rel = global_peak > 0 ? local_peak / global_peak : 0.0;
    f[0] = 0.0f, r[0] = 0.0f;
    R[0] = (float)(V + fmax(0.0, 2.0 - rel / (S / (1.0 + V))));
    for (int k = 1; k < PITCH_CANDIDATES; k++) f[k] = -1.0f; /* empty slot */
    if (local_peak == 0) return;
    pitch_autocorrelate(p, seg);
    for (int32_t tau = p->lag_min - 1; tau <= p->lag_max + 1; tau++) p->ac[tau] /= p->r_w[tau];
    for (int32_t tau = p->lag_min; tau <= p->lag_max; tau++) {
        const float *a = p->ac;
        if (!(a[tau] > 0 && a[tau] > a[tau - 1] && a[tau] >= a[tau + 1])) continue;
        double peak, lag = tau + pitch_parabola(a[tau - 1], a[tau], a[tau + 1], &peak);
        if (peak > 1.0) peak = 1.0; /* the window correction can overshoot on noise */
        double strength = peak - PITCH_OCTAVE_COST * log2(PITCH_FLOOR * lag / p->rate);
        int worst = 1; /* replace the weakest slot (an empty one first) */
        for (int k = 2; k < PITCH_CANDIDATES; k++)
            if (f[worst] >= 0 && (f[k] < 0 || R[k] < R[worst])) worst = k;
        if (f[worst] >= 0 && R[worst] >= strength) continue;
        f[worst] = (float)(p->rate / lag), r[worst] = (float)peak, R[worst] = (float)strength;
    }
}

static double pitch_transition_cost(float f_a, float f_b) {
    if (f_a <= 0 && f_b <= 0) return 0.0;
    if (f_a <= 0 || f_b <= 0) return PITCH_VUV_COST;
    return PITCH_OCTAVE_JUMP_COST * fabs(log2((double)f_a / f_b));
}

/* The best path through the candidates: f0[t] in Hz (NAN unvoiced), r[t]. */
static void pitch_viterbi(sermo_pitch *p, int64_t T, float *f0, float *r) {
    enum { K = PITCH_CANDIDATES };
    for (int64_t t = 0; t < T; t++) {
        const float *f = p->cand_f + t * K, *R = p->cand_R + t * K;
        float *sc = p->score + t * K;
        int32_t *bk = p->back + t * K;
        for (int k = 0; k < K; k++) {
            if (f[k] < 0) continue;
            double best = t ? -INFINITY : 0.0;
            bk[k] = 0;
            for (int j = 0; t && j < K; j++) {
                const float *fp = p->cand_f + (t - 1) * K;
                if (fp[j] < 0) continue;
                double v = p->score[(t - 1) * K + j] - pitch_transition_cost(fp[j], f[k]);
                if (v > best) best = v, bk[k] = j;
            }
            sc[k] = (float)(best + R[k]);
        }
    }
    int k = 0;
    for (int j = 1; j < K; j++)
        if (p->cand_f[(T - 1) * K + j] >= 0 && p->score[(T - 1) * K + j] > p->score[(T - 1) * K + k]) k = j;
    for (int64_t t = T - 1; t >= 0; t--) {
        float f = p->cand_f[t * K + k];
        f0[t] = f > 0 ? f : NAN;
        r[t] = p->cand_r[t * K + k];
        k = p->back[t * K + k];
    }
}

/* The refined maximum of x over samples [lo, hi]: position, amplitude. */
static void pitch_peak(const float *x, int64_t n, int64_t lo, int64_t hi, double *pos, float *amp) {
    int64_t best = lo;
    for (int64_t i = lo + 1; i <= hi; i++)
        if (x[i] > x[best]) best = i;
    double value = x[best], d = 0.0;
    if (best > 0 && best < n - 1) d = pitch_parabola(x[best - 1], x[best], x[best + 1], &value);
    *pos = (double)best + d;
    *amp = (float)value;
}

/* Pulses of the voiced runs; returns their count. */
static int64_t pitch_find_pulses(sermo_pitch *p, const float *x, int64_t n, int64_t T, const float *f0) {
    int64_t np = 0;
    int32_t run = 0;
    for (int64_t ta = 0; ta < T; ta++) {
        if (isnan(f0[ta])) continue;
        int64_t tb = ta;
        while (tb + 1 < T && !isnan(f0[tb + 1])) tb++;
        int64_t lo = ta * p->hop - p->hop / 2, hi = tb * p->hop + p->hop / 2;
        if (lo < 0) lo = 0;
        if (hi > n - 1) hi = n - 1;
        double period = p->rate / f0[ta], pos;
        int64_t first_hi = lo + (int64_t)period < hi ? lo + (int64_t)period : hi;
        if ((size_t)np >= p->cap_pulses) break;
        pitch_peak(x, n, lo, first_hi, &pos, &p->pulse_a[np]);
        p->pulse_t[np] = pos, p->pulse_run[np++] = run;
        for (;;) {
            int64_t t = (int64_t)lround(pos / p->hop);
            if (t < ta) t = ta;
            if (t > tb) t = tb;
            period = p->rate / f0[t];
            int64_t a = (int64_t)ceil(pos + 0.8 * period), b = (int64_t)floor(pos + 1.25 * period);
            if (b > hi || a > b || (size_t)np >= p->cap_pulses) break;
            pitch_peak(x, n, a, b, &pos, &p->pulse_a[np]);
            p->pulse_t[np] = pos, p->pulse_run[np++] = run;
        }
        run++;
        ta = tb;
    }
    return np;
}

/* Jitter and shimmer of frame t over the pulses of one run inside its window. */
static void pitch_frame_perturbation(const sermo_pitch *p, int64_t t, int64_t first, int64_t end, float *jitter,
                                     float *shimmer) {
    const double c = (double)(t * p->hop), lo = c - p->win / 2, hi = c + p->win / 2;
    const double min_period = p->rate / PITCH_CEILING, max_period = p->rate / PITCH_FLOOR;
    double sum_dp = 0, sum_p = 0, sum_da = 0, prev_period = 0;
    int n_dp = 0, n_p = 0, n_da = 0;
    for (int64_t i = first; i + 1 < end; i++) {
        if (p->pulse_t[i] < lo || p->pulse_t[i + 1] > hi) {
            prev_period = 0;
            continue;
        }
        double period = p->pulse_t[i + 1] - p->pulse_t[i];
        if (period < min_period || period > max_period) {
            prev_period = 0;
            continue;
        }
        sum_p += period, n_p++;
        if (prev_period > 0 && fmax(period, prev_period) / fmin(period, prev_period) <= PITCH_MAX_PERIOD_FACTOR)
            sum_dp += fabs(period - prev_period), n_dp++;
        prev_period = period;
        float a0 = p->pulse_a[i], a1 = p->pulse_a[i + 1];
        if (a0 > 0 && a1 > 0) sum_da += fabs(20.0 * log10((double)a1 / a0)), n_da++;
    }
    *jitter = n_dp ? (float)((sum_dp / n_dp) / (sum_p / n_p)) : NAN;
    *shimmer = n_da >= 2 ? (float)(sum_da / n_da) : NAN;
}

sermo_status sermo_pitch_analyse(sermo_pitch *p, const float *x, int64_t n, int64_t T, float *f0, float *hnr,
                                 float *jitter, float *shimmer, sermo_error *err) {
    size_t max_pulses = (size_t)((double)n * PITCH_CEILING / (0.8 * p->rate)) + 2 * (size_t)T + 16;
    sermo_status st = pitch_reserve(p, (size_t)T, max_pulses, err);
    if (st != SERMO_OK) return st;
    double global_peak = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    for (int64_t i = 0; i < n; i++)
        if (fabs(x[i] - sum / (double)n) > global_peak) global_peak = fabs(x[i] - sum / (double)n);
    for (int64_t t = 0; t < T; t++) pitch_frame_candidates(p, x, n, t, global_peak);
    pitch_viterbi(p, T, f0, hnr);
    for (int64_t t = 0; t < T; t++) {
        /* Boersma eq. 4; r kept off 0 and 1 so silence-free tones stay finite (+-60 dB). */
        double r = fmin(fmax((double)hnr[t], 1e-6), 1.0 - 1e-6);
        hnr[t] = isnan(f0[t]) ? NAN : (float)(10.0 * log10(r / (1.0 - r)));
        jitter[t] = shimmer[t] = NAN;
    }
    int64_t np = pitch_find_pulses(p, x, n, T, f0);
    int64_t first = 0, end = 0; /* the pulses of the current voiced run */
    int32_t run = -1;
    for (int64_t t = 0; t < T; t++) {
        if (isnan(f0[t])) continue;
        if (t == 0 || isnan(f0[t - 1])) { /* a run starts: its pulses follow the last run's */
            run++;
            for (first = end; first < np && p->pulse_run[first] < run; first++) {}
            for (end = first; end < np && p->pulse_run[end] == run; end++) {}
        }
        pitch_frame_perturbation(p, t, first, end, &jitter[t], &shimmer[t]);
    }
    return SERMO_OK;
}
