/* trim.c: energy-based silence trimming and fixed-length crop/pad.
 *
 * Trimming follows librosa.effects.trim's idea (frames quieter than the
 * loudest frame by more than |top_db| are silence) with non-overlapping
 * frames: frame energy E = mean(x^2); a frame is voiced when
 * 10*log10(E / E_max) >= trim_db. The kept region runs from the first voiced
 * frame's start to the last voiced frame's end, widened by the margin on
 * each side and clamped to the signal. All-silent (or all-zero) signals are
 * kept as they are: an empty result would only fail later, far from here. */
#include "audio_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t ms_to_samples(double ms, int32_t rate) {
    return (int64_t)llround(ms * rate / 1000.0);
}

int64_t sermo_audio_duration_samples(double duration_ms, int32_t rate) {
    return ms_to_samples(duration_ms, rate);
}

static double frame_energy(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s / (double)n;
}

void sermo_audio_trim(sermo_audio *audio, float trim_db, float frame_ms, float margin_ms) {
    /* No status to return: invalid settings leave the signal untouched. */
    if (!audio || !audio->samples || audio->n <= 0 || audio->sample_rate <= 0) return;
    if (!isfinite(trim_db) || !isfinite(frame_ms) || !isfinite(margin_ms) || frame_ms <= 0 ||
        margin_ms < 0 || frame_ms > SERMO_AUDIO_MAX_DURATION_MS || margin_ms > SERMO_AUDIO_MAX_DURATION_MS)
        return;
    const int64_t n = audio->n;
    int64_t len = ms_to_samples(frame_ms, audio->sample_rate);
    if (len < 1) len = 1;
    if (len > n) len = n;
    const int64_t n_frames = (n + len - 1) / len; /* the last frame may be short */
    double e_max = 0;
    for (int64_t f = 0; f < n_frames; f++) {
        int64_t a = f * len, b = a + len < n ? a + len : n;
        double e = frame_energy(audio->samples + a, b - a);
        if (e > e_max) e_max = e;
    }
    if (e_max <= 0) return;
    const double thresh = e_max * pow(10.0, trim_db / 10.0);
    int64_t first = -1, last = -1;
    for (int64_t f = 0; f < n_frames; f++) {
        int64_t a = f * len, b = a + len < n ? a + len : n;
        if (frame_energy(audio->samples + a, b - a) >= thresh) {
            if (first < 0) first = f;
            last = f;
        }
    }
    if (first < 0) return; /* trim_db > 0: nothing reaches the threshold */
    const int64_t margin = ms_to_samples(margin_ms, audio->sample_rate);
    int64_t start = first * len - margin;
    int64_t end = (last + 1) * len + margin;
    if (start < 0) start = 0;
    if (end > n) end = n;
    if (start == 0 && end == n) return;
    memmove(audio->samples, audio->samples + start, sizeof(float) * (size_t)(end - start));
    float *p = realloc(audio->samples, sizeof(float) * (size_t)(end - start));
    if (p) audio->samples = p; /* a failed shrink keeps the larger block */
    audio->n = end - start;
}

sermo_status sermo_audio_fix_length_named(sermo_audio *audio, int64_t n, int32_t center, const char *name,
                                          sermo_error *err) {
    if (!audio) return sermo_fail(err, SERMO_ERR_INVALID, "%s: audio is NULL", name);
    if (n <= 0 || n > SERMO_AUDIO_MAX_SAMPLES)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: target length %lld outside [1, %lld]", name,
                          (long long)n, (long long)SERMO_AUDIO_MAX_SAMPLES);
    if (audio->n < 0 || (audio->n > 0 && !audio->samples))
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: audio has %lld samples but no buffer", name,
                          (long long)audio->n);
    if (center != 0 && center != 1)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: crop_center must be 0 or 1, not %d", name, center);
    if (audio->n == n) return SERMO_OK;
    float *out = sermo_alloc(sizeof(float) * (size_t)n, err, name);
    if (!out) return SERMO_ERR_NOMEM;
    if (audio->n > n) {
        /* Crop: centre keeps the middle, the extra odd sample going to the end. */
        int64_t off = center ? (audio->n - n) / 2 : 0;
        memcpy(out, audio->samples + off, sizeof(float) * (size_t)n);
    } else {
        /* Pad with zeros: centre splits the padding, the odd sample at the end. */
        int64_t left = center ? (n - audio->n) / 2 : 0;
        memset(out, 0, sizeof(float) * (size_t)n);
        if (audio->n > 0) memcpy(out + left, audio->samples, sizeof(float) * (size_t)audio->n);
    }
    free(audio->samples);
    audio->samples = out;
    audio->n = n;
    return SERMO_OK;
}

sermo_status sermo_audio_fix_length(sermo_audio *audio, int64_t n, int32_t center, sermo_error *err) {
    return sermo_audio_fix_length_named(audio, n, center, "audio", err);
}
