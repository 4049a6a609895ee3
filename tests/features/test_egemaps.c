/* test_egemaps.c: features.kind=egemaps on synthetic signals whose answers
 * are known in closed form (no reference implementation is used: openSMILE's
 * licence keeps its code out, and torchaudio's detect_pitch_frequency is a
 * different algorithm):
 *   220 Hz sine        F0 = 12 log2(220 / 27.5) = 36 semitones, all voiced,
 *                      jitter and shimmer ~0, HNR high
 *   pulse trains       periods alternating T and 1.04 T: local jitter
 *                      0.04 / 1.02 = 3.92%; amplitudes alternating A and 1.1 A:
 *                      local shimmer 20 log10(1.1) = 0.828 dB
 *   sine + white noise at 10 dB SNR: HNR = 10 log10(S / N) = 10 dB (Boersma 1993)
 *   white noise        unvoiced; a flat spectrum gives alpha ratio
 *                      10 log10(950 / 4000) = -6.24 dB, Hammarberg ~0, slopes ~0
 *   glide              F0 rising 12 semitones/s: rising slope 12 st/s
 *   silence, DC, a clip of one pitch window: every row finite; shorter: no frame
 * and the row-name table, and the MFCC rows against Sermo's own MFCC. */
#include "check.h"

#include "features/features_internal.h"

#include <math.h>
#include <stdint.h>

#define RATE 16000

static sermo_features *eg;
static float out[256];

static int row(const char *name) {
    for (int32_t i = 0; i < sermo_features_egemaps_n_rows(); i++)
        if (!strcmp(sermo_features_egemaps_row_name(i), name)) return i;
    fprintf(stderr, "no row %s\n", name);
    exit(1);
}

static double get(const char *name) { return out[row(name)]; }

/* Computes the rows of x into out; checks they are all finite. */
static int analyse(const char *what, const float *x, int64_t n) {
    sermo_error err;
    sermo_status st = sermo_features_compute(eg, x, n, out, &err);
    CHECK(st == SERMO_OK, "%s: %s", what, err.msg);
    if (st != SERMO_OK) return -1;
    int bad = 0;
    for (int32_t i = 0; i < sermo_features_n_bins(eg); i++)
        if (!isfinite(out[i])) {
            if (bad++ < 3) fprintf(stderr, "  %s: %s = %g\n", what, sermo_features_egemaps_row_name(i), out[i]);
        }
    CHECK(bad == 0, "%s: %d rows not finite", what, bad);
    fprintf(stderr, "%s: F0 %.3f st, voiced %.3f, jitter %.5f, shimmer %.4f dB, HNR %.2f dB, alpha UV %.2f V %.2f, "
                    "hammarberg UV %.2f, slopes UV %.3f %.3f, loudness %.3f, rising %.3f st/s\n",
            what, get("F0semitone_mean"), get("voiced_share"), get("jitter_mean"), get("shimmer_dB_mean"),
            get("HNR_dB_mean"), get("alpha_ratio_UV_mean"), get("alpha_ratio_V_mean"), get("hammarberg_UV_mean"),
            get("slope0_500_UV_mean"), get("slope500_1500_UV_mean"), get("loudness_mean"),
            get("F0semitone_rising_slope_mean"));
    return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Standard normal (Box-Muller over a 64-bit LCG). */
static double gauss(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((double)(rng_state >> 11) + 0.5) * 0x1.0p-53;
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (double)(rng_state >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Gaussian pulses (sigma 0.75 ms), periods and amplitudes cycling through
 * the two given values. */
static void pulse_train(float *x, int64_t n, double p0, double p1, double a0, double a1) {
    memset(x, 0, sizeof(float) * (size_t)n);
    const double sigma = 12.0;
    int k = 0;
    for (double t = 20.0; t < (double)n; t += k % 2 ? p1 : p0, k++) {
        double a = k % 2 ? a1 : a0;
        for (int64_t i = (int64_t)(t - 6 * sigma); i <= (int64_t)(t + 6 * sigma); i++)
            if (i >= 0 && i < n) x[i] += (float)(0.5 * a * exp(-0.5 * ((double)i - t) * ((double)i - t) / (sigma * sigma)));
    }
}

static void test_names(void) {
    int32_t D = sermo_features_n_bins(eg);
    CHECK(D == sermo_features_egemaps_n_rows() && D > 50 && D <= 256, "n_bins %d, rows %d", D,
          sermo_features_egemaps_n_rows());
    int dup = 0, null = 0;
    for (int32_t i = 0; i < D; i++) {
        const char *a = sermo_features_egemaps_row_name(i);
        if (!a || !a[0]) {
            null++;
            continue;
        }
        for (int32_t j = 0; j < i; j++)
            if (sermo_features_egemaps_row_name(j) && !strcmp(a, sermo_features_egemaps_row_name(j))) dup++;
    }
    CHECK(null == 0 && dup == 0, "%d empty names, %d duplicates", null, dup);
    CHECK(sermo_features_egemaps_row_name(D) == NULL && sermo_features_egemaps_row_name(-1) == NULL,
          "names out of range");
    CHECK(row("F0semitone_mean") == 0, "the F0 mean is row 0");
}

static void test_sizes(float *x) {
    const int64_t min = sermo_features_egemaps_min_samples(eg);
    CHECK(min == 960, "one 60 ms window at 16 kHz: %lld", (long long)min);
    CHECK(sermo_features_n_frames(eg, min) == 1 && sermo_features_n_frames(eg, 5 * RATE) == 1,
          "one frame per clip");
    CHECK(sermo_features_n_frames(eg, min - 1) == 0 && sermo_features_n_frames(eg, 0) == 0, "too short: no frame");
    for (int64_t i = 0; i < min; i++) x[i] = (float)(0.3 * sin(2 * M_PI * 180.0 * i / RATE));
    sermo_error err;
    CHECK(sermo_features_compute(eg, x, min - 1, out, &err) == SERMO_ERR_INVALID, "too short refused");
    analyse("one window of 180 Hz", x, min);
}

static void test_sine(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2 * M_PI * 220.0 * i / RATE));
    analyse("sine 220 Hz", x, n);
    CHECK(fabs(get("F0semitone_mean") - 36.0) < 0.1, "F0 %g st, want 36", get("F0semitone_mean"));
    CHECK(fabs(get("F0semitone_p50") - 36.0) < 0.1 && get("F0semitone_range20_80") < 0.1, "F0 p50 %g range %g",
          get("F0semitone_p50"), get("F0semitone_range20_80"));
    CHECK(get("voiced_share") > 0.95, "voiced share %g", get("voiced_share"));
    CHECK(get("jitter_mean") < 0.002 && get("shimmer_dB_mean") < 0.05, "jitter %g shimmer %g", get("jitter_mean"),
          get("shimmer_dB_mean"));
    CHECK(get("HNR_dB_mean") > 25, "HNR %g", get("HNR_dB_mean"));
    CHECK(fabs(get("voiced_segments_per_s") - 1.0) < 1e-6, "one voiced segment in 1 s: %g",
          get("voiced_segments_per_s"));
    /* A steady tone's loudness is flat but for a ripple with the phase
     * (5.5 cycles in the 25 ms window leak into the negative frequencies);
     * Leq is 10 log10 of the mean square 0.5^2 / 2 = -9.03 dB. */
    CHECK(get("loudness_range20_80") < 0.03 * get("loudness_mean"), "loudness range %g of %g",
          get("loudness_range20_80"), get("loudness_mean"));
    CHECK(fabs(get("equivalent_sound_level_dB") - 10 * log10(0.125)) < 0.2, "Leq %g",
          get("equivalent_sound_level_dB"));
}

static void test_jitter_shimmer(float *x, int64_t n) {
    pulse_train(x, n, 80.0, 83.2, 1.0, 1.0);
    analyse("pulses, periods 80 / 83.2", x, n);
    const double want = 3.2 / 81.6;
    CHECK(fabs(get("jitter_mean") - want) < 0.004, "jitter %g, want %g", get("jitter_mean"), want);
    CHECK(fabs(get("F0semitone_mean") - 12 * log2(RATE / 81.6 / 27.5)) < 0.2, "F0 %g st of the mean period",
          get("F0semitone_mean"));
    CHECK(get("shimmer_dB_mean") < 0.05, "equal pulses: shimmer %g", get("shimmer_dB_mean"));

    pulse_train(x, n, 80.0, 80.0, 1.0, 1.1);
    analyse("pulses, amplitudes 1 / 1.1", x, n);
    const double want_db = 20 * log10(1.1);
    CHECK(fabs(get("shimmer_dB_mean") - want_db) < 0.08, "shimmer %g dB, want %g", get("shimmer_dB_mean"), want_db);
    CHECK(get("jitter_mean") < 0.002, "equal periods: jitter %g", get("jitter_mean"));
    CHECK(fabs(get("F0semitone_mean") - 12 * log2(200.0 / 27.5)) < 0.1, "F0 %g st of 200 Hz",
          get("F0semitone_mean"));
}

static void test_noise(float *x, int64_t n) {
    /* 10 dB: signal power 0.5^2 / 2, noise variance a tenth of it. */
    const double sigma = sqrt(0.125 / 10.0);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2 * M_PI * 220.0 * i / RATE) + sigma * gauss());
    analyse("sine + noise at 10 dB", x, n);
    CHECK(fabs(get("HNR_dB_mean") - 10.0) < 3.0, "HNR %g dB, want 10", get("HNR_dB_mean"));
    CHECK(fabs(get("F0semitone_mean") - 36.0) < 0.1 && get("voiced_share") > 0.9, "F0 %g voiced %g",
          get("F0semitone_mean"), get("voiced_share"));

    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.1 * gauss());
    analyse("white noise", x, n);
    CHECK(get("voiced_share") < 0.05, "noise voiced share %g", get("voiced_share"));
    const double alpha = 10 * log10(950.0 / 4000.0);
    CHECK(fabs(get("alpha_ratio_UV_mean") - alpha) < 1.0, "alpha ratio %g, want %g", get("alpha_ratio_UV_mean"),
          alpha);
    CHECK(fabs(get("hammarberg_UV_mean")) < 1.0, "Hammarberg %g", get("hammarberg_UV_mean"));
    CHECK(fabs(get("slope0_500_UV_mean")) < 2.0 && fabs(get("slope500_1500_UV_mean")) < 1.0, "slopes %g %g dB/kHz",
          get("slope0_500_UV_mean"), get("slope500_1500_UV_mean"));
    CHECK(get("F0semitone_mean") == 0 && get("HNR_dB_mean") == 0 && get("alpha_ratio_V_mean") == 0,
          "no voiced frame: voiced rows are 0");
}

static void test_glide(float *x, int64_t n) {
    /* f(t) = 150 * 2^(12 t / 12): phase 2 pi 150 (2^t - 1) / ln 2. */
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / RATE;
        x[i] = (float)(0.5 * sin(2 * M_PI * 150.0 * (exp2(t) - 1.0) / M_LN2));
    }
    analyse("glide 12 st/s", x, n);
    CHECK(fabs(get("F0semitone_rising_slope_mean") - 12.0) < 1.2, "rising slope %g st/s, want 12",
          get("F0semitone_rising_slope_mean"));
    CHECK(get("F0semitone_range20_80") > 6.0, "range %g st", get("F0semitone_range20_80"));
}

static void test_silence(float *x, int64_t n) {
    memset(x, 0, sizeof(float) * (size_t)n);
    analyse("silence", x, n);
    CHECK(get("voiced_share") == 0 && get("loudness_mean") == 0, "silence: voiced %g loudness %g",
          get("voiced_share"), get("loudness_mean"));
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f;
    analyse("DC", x, n);
    for (int64_t i = 0; i < n; i++) x[i] = i % 2 ? 1.0f : -1.0f;
    analyse("Nyquist square", x, n);
}

/* sma3 (egemaps.c): the mean of each frame and its neighbours. */
static double smoothed_mean(const float *v, int64_t T) {
    double s = 0;
    for (int64_t t = 0; t < T; t++) {
        double a = v[t];
        int c = 1;
        if (t > 0) a += v[t - 1], c++;
        if (t + 1 < T) a += v[t + 1], c++;
        s += a / c;
    }
    return s / (double)T;
}

static void test_mfcc(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * 150.0 * i / RATE) + 0.2 * sin(2 * M_PI * 1210.0 * i / RATE) *
                       sin(2 * M_PI * 3.0 * i / RATE) + 0.02 * gauss());
    if (analyse("MFCC signal", x, n)) return;
    sermo_feature_params p;
    sermo_features_egemaps_spectral_params(RATE, &p);
    sermo_error err;
    sermo_features *mf = sermo_features_init(&p, &err);
    CHECK(mf != NULL, "mfcc handle: %s", err.msg);
    if (!mf) return;
    int64_t T = sermo_features_n_frames(mf, n);
    int32_t K = sermo_features_n_bins(mf);
    float *m = malloc(sizeof(float) * (size_t)(K * T));
    CHECK(K >= 5 && sermo_features_compute(mf, x, n, m, &err) == SERMO_OK, "mfcc: %s", err.msg);
    float got[4], want[4];
    for (int k = 1; k <= 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "mfcc%d_mean", k);
        got[k - 1] = (float)get(name);
        want[k - 1] = (float)smoothed_mean(m + k * T, T);
    }
    check_close("mfcc1-4 means vs kind=mfcc", got, want, 4, 1e-4, 1e-5);
    free(m);
    sermo_features_free(mf);
}

int main(void) {
    sermo_feature_params p;
    sermo_feature_default_params(&p);
    p.kind = SERMO_FEATURE_EGEMAPS;
    sermo_error err;
    p.sample_rate = 4000;
    CHECK(sermo_features_init(&p, &err) == NULL && strstr(err.msg, "egemaps"), "4 kHz refused: %s", err.msg);
    p.sample_rate = RATE;
    eg = sermo_features_init(&p, &err);
    CHECK(eg != NULL, "init: %s", err.msg);
    if (!eg) return check_report();
    const int64_t n = RATE;
    float *x = malloc(sizeof(float) * (size_t)n);
    test_names();
    test_sizes(x);
    test_sine(x, n);
    test_jitter_shimmer(x, n);
    test_noise(x, n);
    test_glide(x, n);
    test_silence(x, n);
    test_mfcc(x, n);
    free(x);
    sermo_features_free(eg);
    return check_report();
}
