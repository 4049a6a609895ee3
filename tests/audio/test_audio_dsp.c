/* test_audio_dsp.c: the pipeline steps on synthetic signals, against
 * closed-form expectations.
 *  - resampling a sine gives a sine of the same frequency and amplitude
 *    (least-squares fit, max residual < 1e-3 away from the edges) of length
 *    round(n * out / in); a tone above the new Nyquist is removed;
 *  - trimming keeps exactly [first voiced frame - margin, last voiced frame
 *    end + margin) and leaves all-silent input alone;
 *  - fix_length crops/pads with the documented offsets and zeros. */
#include "audio_test_util.h"
#include "check.h"
#include "sermo.h"

static sermo_audio make_sine(int32_t rate, int64_t n, double freq, double amp) {
    sermo_audio a = {malloc(sizeof(float) * (size_t)n), n, rate};
    for (int64_t i = 0; i < n; i++) a.samples[i] = (float)(amp * sin(2 * M_PI * freq * (double)i / rate + 0.3));
    return a;
}

static void test_resample_sine(void) {
    const struct { int32_t in, out; double freq; } cases[] = {
        {48000, 16000, 440}, {16000, 48000, 1000}, {44100, 16000, 3000},
        {24414, 16000, 250}, {96000, 16000, 7000}, {16000, 24414, 5000},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t n = cases[k].in; /* one second */
        sermo_audio a = make_sine(cases[k].in, n, cases[k].freq, 0.5);
        sermo_error err;
        CHECK(sermo_audio_resample(&a, cases[k].out, &err) == SERMO_OK, "%s", err.msg);
        int64_t want = (int64_t)floor((double)n * cases[k].out / cases[k].in + 0.5);
        CHECK(a.n == want && a.sample_rate == cases[k].out, "%d->%d: n=%lld want %lld", cases[k].in,
              cases[k].out, (long long)a.n, (long long)want);
        double amp = 0;
        int64_t edge = cases[k].out / 10; /* filter transients: 100 ms each side */
        double worst = test_sine_fit(a.samples, edge, a.n - edge, 2 * M_PI * cases[k].freq / cases[k].out, &amp);
        CHECK(worst < 1e-3, "%d->%d %g Hz: residual %g", cases[k].in, cases[k].out, cases[k].freq, worst);
        CHECK(fabs(amp - 0.5) < 1e-3, "%d->%d: amplitude %g", cases[k].in, cases[k].out, amp);
        /* A wrong rate shows up as a frequency error: the same fit 1% off fails. */
        double worst_off = test_sine_fit(a.samples, edge, a.n - edge, 2 * M_PI * cases[k].freq * 1.01 / cases[k].out, &amp);
        CHECK(worst_off > 0.1, "fit is not discriminating: %g", worst_off);
        sermo_audio_free(&a);
    }

    /* 12 kHz at 48 kHz -> 16 kHz: above the new Nyquist, must not alias to 4 kHz. */
    sermo_audio a = make_sine(48000, 48000, 12000, 0.5);
    sermo_error err;
    CHECK(sermo_audio_resample(&a, 16000, &err) == SERMO_OK, "%s", err.msg);
    double rms = 0;
    for (int64_t i = 1600; i < a.n - 1600; i++) rms += (double)a.samples[i] * a.samples[i];
    rms = sqrt(rms / (double)(a.n - 3200));
    CHECK(rms < 1e-3, "aliasing: rms %g", rms);
    sermo_audio_free(&a);

    /* Same rate: untouched. Bad rates and empty input: errors, audio intact. */
    a = make_sine(16000, 100, 100, 0.5);
    float first = a.samples[5];
    CHECK(sermo_audio_resample(&a, 16000, &err) == SERMO_OK && a.n == 100 && a.samples[5] == first, "same rate");
    CHECK(sermo_audio_resample(&a, 0, &err) != SERMO_OK && a.n == 100, "rate 0 accepted");
    CHECK(sermo_audio_resample(&a, -8000, &err) != SERMO_OK && a.n == 100, "negative rate accepted");
    CHECK(sermo_audio_resample(&a, 100000000, &err) != SERMO_OK && a.n == 100, "absurd rate accepted");
    sermo_audio_free(&a);
    CHECK(sermo_audio_resample(&a, 8000, &err) == SERMO_ERR_EMPTY, "empty audio resampled");
    CHECK(sermo_audio_resample(NULL, 8000, &err) == SERMO_ERR_INVALID, "NULL audio");
}

static void test_trim(void) {
    const int32_t rate = 16000;
    const int64_t n = 20000, on = 5000, off = 12345; /* tone in [on, off) */
    sermo_audio a = {malloc(sizeof(float) * n), n, rate};
    for (int64_t i = 0; i < n; i++) {
        double noise = 1e-5 * sin(2 * M_PI * 37 * (double)i / rate); /* about -90 dB re the tone */
        a.samples[i] = (float)((i >= on && i < off ? 0.5 * sin(2 * M_PI * 220 * (double)i / rate) : 0) + noise);
    }
    float *orig = malloc(sizeof(float) * n);
    memcpy(orig, a.samples, sizeof(float) * n);
    /* 25 ms frames = 400 samples. Frame 12 = [4800, 5200) holds 200 tone
     * samples (-3 dB), frame 30 = [12000, 12400) holds 345: both voiced. */
    sermo_audio_trim(&a, -40, 25, 50);
    const int64_t start = 12 * 400 - 800, end = 31 * 400 + 800;
    CHECK(a.n == end - start, "trimmed n=%lld want %lld", (long long)a.n, (long long)(end - start));
    if (a.n == end - start)
        CHECK(memcmp(a.samples, orig + start, sizeof(float) * (size_t)a.n) == 0, "trimmed content moved");
    sermo_audio_free(&a);

    /* Margin larger than the silence: clamped to the signal, nothing cut at the start. */
    a = (sermo_audio){malloc(sizeof(float) * n), n, rate};
    memcpy(a.samples, orig, sizeof(float) * n);
    sermo_audio_trim(&a, -40, 25, 400); /* 6400 samples */
    CHECK(a.n == 31 * 400 + 6400 && a.samples[0] == orig[0], "clamped trim n=%lld", (long long)a.n);
    sermo_audio_free(&a);

    /* A quiet part at -30 dB counts as silence with trim_db = -20, not with -40. */
    a = (sermo_audio){malloc(sizeof(float) * n), n, rate};
    memcpy(a.samples, orig, sizeof(float) * n);
    for (int64_t i = 16000; i < 18000; i++) a.samples[i] = (float)(0.5 * 0.0316 * sin(2 * M_PI * 220 * (double)i / rate));
    sermo_audio b = {malloc(sizeof(float) * n), n, rate};
    memcpy(b.samples, a.samples, sizeof(float) * n);
    sermo_audio_trim(&a, -20, 25, 0);
    sermo_audio_trim(&b, -40, 25, 0);
    CHECK(a.n == 31 * 400 - 12 * 400, "-20 dB: n=%lld", (long long)a.n);
    CHECK(b.n == 45 * 400 - 12 * 400, "-40 dB: n=%lld", (long long)b.n);
    sermo_audio_free(&a);
    sermo_audio_free(&b);

    /* All zeros, or steady noise: kept as is, never zero samples. */
    a = (sermo_audio){calloc((size_t)n, sizeof(float)), n, rate};
    sermo_audio_trim(&a, -40, 25, 50);
    CHECK(a.n == n, "all-silent trimmed to %lld", (long long)a.n);
    /* Invalid settings: no change, no crash. */
    a.samples[100] = 1;
    sermo_audio_trim(&a, NAN, 25, 50);
    sermo_audio_trim(&a, -40, 0, 50);
    sermo_audio_trim(&a, -40, 25, -1);
    CHECK(a.n == n, "invalid trim settings changed the signal");
    sermo_audio_free(&a);
    sermo_audio_trim(&a, -40, 25, 50); /* zeroed struct */
    sermo_audio_trim(NULL, -40, 25, 50);
    free(orig);
}

static void test_fix_length(void) {
    sermo_error err;
    float v[7] = {1, 2, 3, 4, 5, 6, 7};
    const struct { int64_t n; int center; float want[10]; } cases[] = {
        {4, 0, {1, 2, 3, 4}},
        {4, 1, {2, 3, 4, 5}},      /* 3 extra: 1 dropped at the start, 2 at the end */
        {10, 0, {1, 2, 3, 4, 5, 6, 7, 0, 0, 0}},
        {10, 1, {0, 1, 2, 3, 4, 5, 6, 7, 0, 0}}, /* 3 pad: 1 before, 2 after */
        {7, 1, {1, 2, 3, 4, 5, 6, 7}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sermo_audio a = {malloc(sizeof v), 7, 8000};
        memcpy(a.samples, v, sizeof v);
        CHECK(sermo_audio_fix_length(&a, cases[k].n, cases[k].center, &err) == SERMO_OK, "%s", err.msg);
        CHECK(a.n == cases[k].n, "case %zu: n=%lld", k, (long long)a.n);
        if (a.n == cases[k].n) check_close("fix_length", a.samples, cases[k].want, (long)a.n, 0, 0);
        sermo_audio_free(&a);
    }
    sermo_audio a = {malloc(sizeof v), 7, 8000};
    memcpy(a.samples, v, sizeof v);
    CHECK(sermo_audio_fix_length(&a, 0, 0, &err) == SERMO_ERR_INVALID && a.n == 7, "n=0 accepted");
    CHECK(sermo_audio_fix_length(&a, -5, 0, &err) == SERMO_ERR_INVALID && a.n == 7, "n<0 accepted");
    CHECK(sermo_audio_fix_length(&a, 5, 2, &err) == SERMO_ERR_INVALID && a.n == 7, "center=2 accepted");
    CHECK(sermo_audio_fix_length(&a, INT64_MAX, 0, &err) == SERMO_ERR_INVALID && a.n == 7, "huge n accepted");
    sermo_audio_free(&a);
    /* Padding an empty signal is allowed: all zeros. */
    CHECK(sermo_audio_fix_length(&a, 3, 1, &err) == SERMO_OK && a.n == 3 && a.samples[0] == 0 && a.samples[2] == 0,
          "pad empty");
    sermo_audio_free(&a);
}

int main(void) {
    test_resample_sine();
    test_trim();
    test_fix_length();
    return check_report();
}
