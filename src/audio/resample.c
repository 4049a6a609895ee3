/* resample.c: sample-rate conversion with libsoxr at its "high quality"
 * setting (SOXR_HQ: 20-bit precision, passband to 91.3% of Nyquist, linear
 * phase), float32 in and out, in one shot over the whole signal.
 *
 * Output length is round(n * out_rate / in_rate) (halves away from zero), the
 * length soxr itself produces when it is flushed at the end of the input; we
 * size the buffer to that and zero-fill should soxr deliver fewer samples. */
#include "audio_internal.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

static int rate_ok(int32_t rate) {
    return rate >= SERMO_AUDIO_MIN_RATE && rate <= SERMO_AUDIO_MAX_RATE;
}

sermo_status sermo_audio_resample_named(sermo_audio *audio, int32_t rate, const char *name,
                                        sermo_error *err) {
    if (!audio) return sermo_fail(err, SERMO_ERR_INVALID, "%s: audio is NULL", name);
    if (!audio->samples || audio->n <= 0)
        return sermo_fail(err, SERMO_ERR_EMPTY, "%s: no samples to resample", name);
    if (rate == audio->sample_rate) return SERMO_OK;
    if (!rate_ok(rate) || !rate_ok(audio->sample_rate))
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: cannot resample %d Hz to %d Hz (rates must be in [%d, %d])",
                          name, audio->sample_rate, rate, SERMO_AUDIO_MIN_RATE, SERMO_AUDIO_MAX_RATE);
    double ratio = (double)rate / audio->sample_rate;
    double want = round((double)audio->n * ratio);
    if (want < 1 || want > (double)SERMO_AUDIO_MAX_SAMPLES)
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: resampling %lld samples from %d to %d Hz gives %.0f samples",
                          name, (long long)audio->n, audio->sample_rate, rate, want);
    size_t olen = (size_t)want;
    float *out = sermo_alloc(sizeof(float) * olen, err, name);
    if (!out) return SERMO_ERR_NOMEM;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    size_t idone = 0, odone = 0;
    soxr_error_t e = soxr_oneshot(audio->sample_rate, rate, 1, audio->samples, (size_t)audio->n, &idone,
                                  out, olen, &odone, &io, &q, NULL);
    if (e) {
        free(out);
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: soxr: %s", name, soxr_strerror(e));
    }
    if (odone < olen) memset(out + odone, 0, sizeof(float) * (olen - odone));
    for (size_t i = 0; i < olen; i++) {
        if (!isfinite(out[i])) { /* only reachable with inputs near FLT_MAX */
            free(out);
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s: resampling gave a non-finite value", name);
        }
    }
    free(audio->samples);
    audio->samples = out;
    audio->n = (int64_t)olen;
    audio->sample_rate = rate;
    return SERMO_OK;
}

sermo_status sermo_audio_resample(sermo_audio *audio, int32_t rate, sermo_error *err) {
    return sermo_audio_resample_named(audio, rate, "audio", err);
}
