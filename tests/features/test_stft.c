/* test_stft.c: closed-form checks of the features module: FFT bin placement
 * and Parseval, window shapes, frame counts, deltas, parameter validation,
 * short-input errors, per-utterance normalisation and scratch reuse; then an informational timing of a
 * 60 s signal (not a pass/fail check). */
#include "check.h"
#include "features/features_internal.h"
#include "sermo.h"

#include <time.h>

static sermo_features *make(sermo_feature_params *p) {
    sermo_error err = {0};
    sermo_features *f = sermo_features_init(p, &err);
    CHECK(f != NULL, "init: %s", err.msg);
    return f;
}

/* A cosine at the centre of bin k0 through a rectangular window of N = n_fft
 * samples: |X[k0]| = A N / 2 and every other bin is 0 (DFT of a cosine). With a
 * periodic Hann window the energy spreads to k0 +- 1 with |X| = A N / 4 and
 * A N / 8 exactly (Harris 1978, Hann kernel -1/4, 1/2, -1/4). */
static void test_sine_bins(void) {
    const int N = 256, k0 = 19;
    const double A = 0.7;
    float x[256];
    for (int i = 0; i < N; i++) x[i] = (float)(A * cos(2.0 * M_PI * k0 * i / N));
    for (int w = 0; w < 2; w++) {
        sermo_feature_params p;
        sermo_feature_default_params(&p);
        p.n_fft = N;
        p.center = 0;
        p.n_mels = 8;
        p.power = 1.0f;
        p.window = w ? SERMO_WINDOW_HANN : SERMO_WINDOW_RECT;
        sermo_features *f = make(&p);
        if (!f) continue;
        CHECK(sermo_features_n_frames(f, N) == 1, "one frame of n_fft samples");
        sermo_features_batch_spectrum(f, x, N, 0, 1);
        double peak = w ? A * N / 4 : A * N / 2, side = w ? A * N / 8 : 0.0;
        double worst = 0;
        for (int k = 0; k < f->n_freqs; k++) {
            double want = k == k0 ? peak : (k == k0 - 1 || k == k0 + 1) ? side : 0.0;
            double d = fabs(f->power[k * SERMO_FEATURES_BATCH] - want);
            if (d > worst) worst = d;
        }
        CHECK(worst < 1e-4 * peak, "%s window: max bin error %g of peak %g", w ? "hann" : "rect", worst, peak);
        sermo_features_free(f);
    }
}

/* Parseval for a one-sided real DFT: sum x^2 = (|X_0|^2 + 2 sum_{0<k<N/2} |X_k|^2 + |X_{N/2}|^2) / N,
 * here for a windowed random frame with power 2 and an odd n_fft (no Nyquist bin). */
static void test_parseval(void) {
    for (int N = 255; N <= 256; N++) {
        sermo_feature_params p;
        sermo_feature_default_params(&p);
        p.n_fft = N;
        p.win_length = N - 40;
        p.window = SERMO_WINDOW_HAMMING;
        p.center = 0;
        p.n_mels = 8;
        sermo_features *f = make(&p);
        if (!f) continue;
        sermo_rng rng;
        sermo_rng_seed(&rng, 7);
        float x[256];
        for (int i = 0; i < N; i++) x[i] = (float)(sermo_rng_uniform(&rng) * 2 - 1);
        sermo_features_batch_spectrum(f, x, N, 0, 1);
        double time_energy = 0, freq_energy = 0;
        for (int i = 0; i < N; i++) time_energy += (double)x[i] * f->window[i] * x[i] * f->window[i];
        for (int k = 0; k < f->n_freqs; k++) {
            int twice = k > 0 && !(N % 2 == 0 && k == N / 2);
            freq_energy += (twice ? 2.0 : 1.0) * f->power[k * SERMO_FEATURES_BATCH];
        }
        freq_energy /= N;
        CHECK(fabs(freq_energy - time_energy) < 1e-5 * time_energy, "n_fft %d: Parseval %g vs %g", N,
              freq_energy, time_energy);
        /* Hamming periodic of win_length W, centred: w[lo + k] = 0.54 - 0.46 cos(2 pi k / W). */
        int W = N - 40, lo = (N - W) / 2;
        CHECK(f->window[lo - 1] == 0.0f && f->window[lo + W] == 0.0f, "window zero-padded outside");
        CHECK(fabs(f->window[lo + W / 2] - (0.54 - 0.46 * cos(M_PI * 2 * (W / 2) / W))) < 1e-7, "hamming centre");
        CHECK(fabs(f->window[lo] - 0.08) < 1e-7, "hamming first sample %g", f->window[lo]);
        sermo_features_free(f);
    }
}

/* n_frames against a count of frame starts s = t * hop with s + n_fft <= padded length. */
static void test_frame_count(void) {
    const int32_t ffts[] = {400, 512, 255};
    const int32_t hops[] = {160, 200, 1, 77};
    for (int c = 0; c < 2; c++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++) {
                sermo_feature_params p;
                sermo_feature_default_params(&p);
                p.n_fft = ffts[a];
                p.hop_length = hops[b];
                p.center = c;
                p.n_mels = 16;
                sermo_features *f = make(&p);
                if (!f) continue;
                int bad = 0;
                for (int64_t n = 1; n < 3000; n += 37) {
                    int64_t padded = n + (c ? 2 * (ffts[a] / 2) : 0), count = 0;
                    for (int64_t s = 0; s + ffts[a] <= padded; s += hops[b]) count++;
                    if (sermo_features_n_frames(f, n) != count) bad++;
                }
                CHECK(!bad, "n_fft %d hop %d center %d: %d lengths disagree", ffts[a], hops[b], c, bad);
                sermo_features_free(f);
            }
    sermo_feature_params p;
    sermo_feature_default_params(&p);
    sermo_features *f = make(&p);
    if (f) {
        /* torch.stft centred: 1 + n / hop for even n_fft; 60 s at 16 kHz, hop 200 -> 4801. */
        CHECK(sermo_features_n_frames(f, 960000) == 4801, "60 s: %lld", (long long)sermo_features_n_frames(f, 960000));
        CHECK(sermo_features_n_frames(f, 0) == 0, "no samples, no frames");
        CHECK(sermo_features_n_bins(f) == 128, "bins %d", sermo_features_n_bins(f));
        sermo_features_free(f);
    }
}

/* Deltas of x[t] = 3 t + 1 are 3 away from the ends; at t = 0 with win 5
 * (n = 2, denom 10): (1 (x1 - x0) + 2 (x2 - x0)) / 10 = (3 + 12) / 10. A
 * quadratic's delta-delta is constant in the interior. */
static void test_deltas(void) {
    enum { T = 20 };
    float x[2 * T], d[2 * T], dd[2 * T];
    for (int t = 0; t < T; t++) {
        x[t] = 3.0f * t + 1.0f;
        x[T + t] = 0.5f * t * t;
    }
    sermo_features_compute_deltas(x, 2, T, 5, d);
    sermo_features_compute_deltas(d, 2, T, 5, dd);
    int bad = 0;
    for (int t = 2; t < T - 2; t++) bad += fabsf(d[t] - 3.0f) > 1e-5f;
    CHECK(!bad, "ramp delta not 3 in the interior");
    CHECK(fabsf(d[0] - 1.5f) < 1e-6f && fabsf(d[T - 1] - 1.5f) < 1e-6f, "ramp edges %g %g", d[0], d[T - 1]);
    bad = 0;
    for (int t = 4; t < T - 4; t++) bad += fabsf(dd[T + t] - 1.0f) > 1e-4f; /* d/dt (t) = 1 */
    CHECK(!bad, "quadratic delta-delta not 1 in the interior");
}

/* The vectorised log against libm: within 2 ulp of logf over 1e-38 .. 1e38
 * plus 1 and its neighbours, and libm's own answer for 0, subnormals, inf,
 * NaN and negatives; the scale is applied after the log. */
static void test_log(void) {
    enum { N = 20011 };
    static float x[N], y[N];
    for (int i = 0; i < N - 8; i++) x[i] = expf(-87.0f + 174.0f * (float)i / (float)(N - 9));
    const float special[8] = {0.0f, 1e-40f, INFINITY, NAN, -1.0f, 1.0f, nextafterf(1.0f, 2.0f), nextafterf(1.0f, 0.0f)};
    memcpy(x + N - 8, special, sizeof special);
    memcpy(y, x, sizeof x);
    sermo_features_apply_log(y, N, 0.0f, 1.0f);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = logf(x[i]);
        if (isnan(want) ? !isnan(y[i]) : isinf(want) ? y[i] != want
                                                   : fabsf(y[i] - want) > 2 * (nextafterf(fabsf(want), INFINITY) - fabsf(want)) + 1e-45f) {
            if (bad++ < 5) fprintf(stderr, "  log(%g): got %.9g want %.9g\n", x[i], y[i], want);
        }
    }
    CHECK(!bad, "%d logs off by more than 2 ulp", bad);
    float z[5] = {1.0f, 10.0f, 100.0f, 0.0f, 1e-3f};
    sermo_features_apply_db(z, 5, 10.0f, 25.0f); /* 0, 10, 20, clamp(-100) -> 20 - 25, -30 -> -5 */
    CHECK(fabsf(z[0]) < 1e-6f && fabsf(z[1] - 10) < 1e-5f && fabsf(z[2] - 20) < 1e-5f && z[3] == -5.0f &&
              z[4] == -5.0f, "dB %g %g %g %g %g", z[0], z[1], z[2], z[3], z[4]);
}

static void expect_invalid(sermo_feature_params p, const char *key) {
    sermo_error err = {0};
    sermo_features *f = sermo_features_init(&p, &err);
    CHECK(f == NULL && err.status == SERMO_ERR_INVALID && strstr(err.msg, key) != NULL,
          "expected an error naming %s, got %s", key, f ? "a handle" : err.msg);
    sermo_features_free(f);
}

static void test_validation(void) {
    sermo_feature_params d;
    sermo_feature_default_params(&d);
    sermo_feature_params p;
    p = d, p.n_fft = 0, expect_invalid(p, "features.n_fft");
    p = d, p.n_fft = -5, expect_invalid(p, "features.n_fft");
    p = d, p.win_length = 401, expect_invalid(p, "features.win_length");
    p = d, p.hop_length = -1, expect_invalid(p, "features.hop_length");
    p = d, p.n_fft = 1, p.win_length = 1, expect_invalid(p, "features.hop_length");
    p = d, p.n_mels = 0, expect_invalid(p, "features.n_mels");
    p = d, p.f_max = 8001, expect_invalid(p, "features.f_max");
    p = d, p.f_min = 9000, expect_invalid(p, "features.f_min");
    p = d, p.f_min = NAN, expect_invalid(p, "features.f_min");
    p = d, p.power = 3, expect_invalid(p, "features.power");
    p = d, p.deltas = 3, expect_invalid(p, "features.deltas");
    p = d, p.deltas = 1, p.delta_win = 2, expect_invalid(p, "features.delta_win");
    p = d, p.kind = SERMO_FEATURE_MFCC, p.n_mfcc = 129, expect_invalid(p, "features.n_mfcc");
    p = d, p.window = (sermo_window)9, expect_invalid(p, "features.window");
    p = d, p.sample_rate = 0, expect_invalid(p, "features.sample_rate");
    p = d, p.center = 2, expect_invalid(p, "features.center");
    sermo_error err = {0};
    CHECK(sermo_features_init(NULL, &err) == NULL && err.status == SERMO_ERR_INVALID, "NULL params");

    /* The resolved params fill in the derived fields. */
    sermo_features *f = make(&d);
    if (f) {
        const sermo_feature_params *r = sermo_features_params(f);
        CHECK(r->win_length == 400 && r->hop_length == 200 && r->f_max == 8000.0f, "resolved %d %d %g",
              r->win_length, r->hop_length, (double)r->f_max);
        sermo_features_free(f);
    }
}

/* Reflect padding needs n > n_fft / 2 (torch rejects it otherwise); the
 * library must say so instead of reading outside pcm. Constant padding works. */
static void test_short_input(void) {
    float x[256] = {0.5f};
    float out[128 * 4];
    sermo_feature_params p;
    sermo_feature_default_params(&p);
    sermo_features *f = make(&p);
    sermo_error err = {0};
    if (f) {
        CHECK(sermo_features_compute(f, x, 200, out, &err) == SERMO_ERR_INVALID && strstr(err.msg, "reflect"),
              "200 samples with reflect pad 200: %s", err.msg);
        CHECK(sermo_features_compute(f, x, 0, out, &err) == SERMO_ERR_EMPTY, "0 samples");
        CHECK(sermo_features_compute(f, x, 201, out, &err) == SERMO_OK, "201 samples: %s", err.msg);
        sermo_features_free(f);
    }
    p.pad_mode = SERMO_PAD_CONSTANT;
    f = make(&p);
    if (f) {
        CHECK(sermo_features_compute(f, x, 1, out, &err) == SERMO_OK && sermo_features_n_frames(f, 1) == 1,
              "1 sample, constant pad: %s", err.msg);
        sermo_features_free(f);
    }
    p.center = 0;
    f = make(&p);
    if (f) {
        CHECK(sermo_features_compute(f, x, 200, out, &err) == SERMO_ERR_INVALID, "center off, 200 < n_fft");
        sermo_features_free(f);
    }
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A long call then a short one on the same handle (scratch already grown)
 * must equal a fresh handle's result; then time 60 s at default params. */
static void test_reuse_and_time(void) {
    const int64_t n = 60 * 16000;
    float *x = malloc(sizeof(float) * (size_t)n);
    sermo_rng rng;
    sermo_rng_seed(&rng, 1);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * 220.0 * (double)i / 16000) + 0.05 * (sermo_rng_uniform(&rng) - 0.5));
    const sermo_feature_kind kinds[] = {SERMO_FEATURE_LOGMEL, SERMO_FEATURE_MFCC};
    for (int k = 0; k < 2; k++) {
        sermo_feature_params p;
        sermo_feature_default_params(&p);
        p.kind = kinds[k];
        p.deltas = k * 2;
        sermo_features *a = make(&p), *b = make(&p);
        if (!a || !b) break;
        int64_t T = sermo_features_n_frames(a, n), Ts = sermo_features_n_frames(a, 8000);
        size_t rows = (size_t)sermo_features_n_bins(a);
        float *out = malloc(sizeof(float) * rows * (size_t)T), *o2 = malloc(sizeof(float) * rows * (size_t)Ts);
        sermo_error err = {0};
        double best = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = seconds();
            CHECK(sermo_features_compute(a, x, n, out, &err) == SERMO_OK, "60 s: %s", err.msg);
            double dt = seconds() - t0;
            if (dt < best) best = dt;
        }
        printf("timing: 60 s at 16 kHz, %s, default params: %.2f ms (best of 3, %lld frames)\n",
               k ? "mfcc 40 + deltas 2" : "log-mel 128", best * 1e3, (long long)T);
        CHECK(sermo_features_compute(a, x, 8000, o2, &err) == SERMO_OK, "short after long: %s", err.msg);
        CHECK(sermo_features_compute(b, x, 8000, out, &err) == SERMO_OK, "fresh: %s", err.msg);
        CHECK(!memcmp(o2, out, sizeof(float) * rows * (size_t)Ts), "reused handle differs from a fresh one");
        int finite = 1;
        for (size_t i = 0; i < rows * (size_t)Ts; i++) finite &= isfinite(out[i]);
        CHECK(finite, "non-finite output");
        free(out);
        free(o2);
        sermo_features_free(a);
        sermo_features_free(b);
    }
    free(x);
}

/* utterance_norm: every row of the output (log-mel and its deltas) becomes
 * the unnormalised row minus its mean (mean), divided by its population
 * standard deviation too (meanvar), both computed here in double; rows that
 * are constant (all-zero input: every band clamped to the same dB) stay
 * finite and are only centred. */
static void test_utterance_norm(void) {
    enum { N = 8000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(0.3 * sin(0.05 * i + 1e-5 * i * i) * (1 + 0.5 * sin(0.001 * i)));
    for (int mode = SERMO_UTTERANCE_NORM_MEAN; mode <= SERMO_UTTERANCE_NORM_MEANVAR; mode++) {
        sermo_feature_params p;
        sermo_feature_default_params(&p);
        p.n_mels = 16;
        p.deltas = 1;
        p.log_mode = SERMO_LOG_DB;
        sermo_features *plain = make(&p);
        p.utterance_norm = (sermo_utterance_norm)mode;
        sermo_features *normed = make(&p);
        if (!plain || !normed) return;
        int64_t T = sermo_features_n_frames(plain, N);
        int32_t R = sermo_features_n_bins(plain);
        float *a = malloc(sizeof(float) * (size_t)(R * T)), *b = malloc(sizeof(float) * (size_t)(R * T));
        sermo_error err = {0};
        CHECK(!sermo_features_compute(plain, x, N, a, &err) && !sermo_features_compute(normed, x, N, b, &err),
              "compute: %s", err.msg);
        double worst = 0;
        for (int32_t r = 0; r < R; r++) {
            double m = 0, v = 0;
            for (int64_t t = 0; t < T; t++) m += a[r * T + t];
            m /= (double)T;
            for (int64_t t = 0; t < T; t++) v += (a[r * T + t] - m) * (a[r * T + t] - m);
            double sd = mode == SERMO_UTTERANCE_NORM_MEANVAR ? sqrt(v / (double)T) : 1.0;
            CHECK(sd > 1e-3, "row %d varies", r);
            for (int64_t t = 0; t < T; t++) worst = fmax(worst, fabs(b[r * T + t] - (a[r * T + t] - m) / sd));
        }
        CHECK(worst < 1e-4, "%s: max error %g against the double-precision reference",
              mode == SERMO_UTTERANCE_NORM_MEAN ? "mean" : "meanvar", worst);
        float silence[N] = {0};
        CHECK(!sermo_features_compute(normed, silence, N, b, &err), "silence: %s", err.msg);
        int finite_zero = 1;
        for (int64_t i = 0; i < R * T; i++) finite_zero &= b[i] == 0.0f;
        CHECK(finite_zero, "silence: constant rows centre to exactly 0");
        free(a);
        free(b);
        sermo_features_free(plain);
        sermo_features_free(normed);
    }
    sermo_feature_params p;
    sermo_feature_default_params(&p);
    p.utterance_norm = (sermo_utterance_norm)7;
    sermo_error err = {0};
    sermo_features *f = sermo_features_init(&p, &err);
    CHECK(!f && strstr(err.msg, "features.utterance_norm"), "an unknown mode is rejected by name: %s", err.msg);
    sermo_features_free(f);
}

int main(void) {
    test_sine_bins();
    test_parseval();
    test_frame_count();
    test_deltas();
    test_log();
    test_validation();
    test_short_input();
    test_utterance_norm();
    test_reuse_and_time();
    return check_report();
}
