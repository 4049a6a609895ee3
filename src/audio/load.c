/* load.c: the public loading pipeline - decode (mono at the file's rate),
 * resample, trim silence, crop/pad - for files and memory alike, plus probe,
 * default parameters and their validation. */
#include "audio_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sermo_audio_default_params(sermo_audio_params *params) {
    if (!params) return;
    memset(params, 0, sizeof *params);
    params->sample_rate = 16000;
    params->trim = 0;
    params->trim_db = -40.0f;
    params->trim_frame_ms = 25.0f;
    params->trim_margin_ms = 50.0f;
    params->duration_ms = 0.0f;
    params->crop_center = 0;
}

static int ms_ok(float ms) {
    return isfinite(ms) && ms >= 0 && ms <= SERMO_AUDIO_MAX_DURATION_MS;
}

/* Every field is checked before any decoding, so a bad configuration fails
 * the same way for every file. Trim settings only matter when trim is on. */
static sermo_status check_params(const sermo_audio_params *p, const char *name, sermo_error *err) {
    if (!p) return sermo_fail(err, SERMO_ERR_INVALID, "%s: params is NULL (use sermo_audio_default_params)", name);
    if (p->sample_rate != 0 && (p->sample_rate < SERMO_AUDIO_MIN_RATE || p->sample_rate > SERMO_AUDIO_MAX_RATE))
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: sample_rate %d outside 0 (keep) or [%d, %d]", name,
                          p->sample_rate, SERMO_AUDIO_MIN_RATE, SERMO_AUDIO_MAX_RATE);
    if (p->trim != 0 && p->trim != 1)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: trim must be 0 or 1, not %d", name, p->trim);
    if (p->trim) {
        if (!isfinite(p->trim_db) || p->trim_db > 0)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: trim_db %g must be a finite value <= 0", name,
                              (double)p->trim_db);
        if (!ms_ok(p->trim_frame_ms) || p->trim_frame_ms <= 0)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: trim_frame_ms %g outside (0, %g]", name,
                              (double)p->trim_frame_ms, SERMO_AUDIO_MAX_DURATION_MS);
        if (!ms_ok(p->trim_margin_ms))
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: trim_margin_ms %g outside [0, %g]", name,
                              (double)p->trim_margin_ms, SERMO_AUDIO_MAX_DURATION_MS);
    }
    if (!ms_ok(p->duration_ms))
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: duration_ms %g outside [0, %g]", name,
                          (double)p->duration_ms, SERMO_AUDIO_MAX_DURATION_MS);
    if (p->crop_center != 0 && p->crop_center != 1)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: crop_center must be 0 or 1, not %d", name, p->crop_center);
    return SERMO_OK;
}

sermo_status sermo_audio_process(sermo_audio *audio, const sermo_audio_params *p, const char *name,
                                 sermo_error *err) {
    if (!name) name = "<pcm>";
    sermo_status st = check_params(p, name, err);
    if (st == SERMO_OK && p->sample_rate != 0) st = sermo_audio_resample_named(audio, p->sample_rate, name, err);
    if (st == SERMO_OK && p->trim) sermo_audio_trim(audio, p->trim_db, p->trim_frame_ms, p->trim_margin_ms);
    if (st == SERMO_OK && p->duration_ms > 0) {
        int64_t n = sermo_audio_duration_samples(p->duration_ms, audio->sample_rate);
        if (n < 1)
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: duration_ms %g is less than one sample at %d Hz", name,
                            (double)p->duration_ms, audio->sample_rate);
        else
            st = sermo_audio_fix_length_named(audio, n, p->crop_center, name, err);
    }
    return st;
}

static sermo_status run_pipeline(sermo_audio_source *src, const sermo_audio_params *p, sermo_audio *out,
                                 sermo_error *err) {
    sermo_status st = sermo_audio_decode_mono(src, out, NULL, err);
    if (st == SERMO_OK) st = sermo_audio_process(out, p, src->name, err);
    if (st != SERMO_OK) sermo_audio_free(out);
    return st;
}

sermo_status sermo_audio_load_file(const char *path, const sermo_audio_params *params, sermo_audio *out,
                                   sermo_error *err) {
    if (!out) return sermo_fail(err, SERMO_ERR_INVALID, "%s: out is NULL", path ? path : "audio");
    memset(out, 0, sizeof *out);
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "audio: path is NULL");
    sermo_status st = check_params(params, path, err);
    if (st != SERMO_OK) return st;
    sermo_audio_source src;
    st = sermo_audio_source_open_file(&src, path, err);
    if (st != SERMO_OK) return st;
    st = run_pipeline(&src, params, out, err);
    sermo_audio_source_close(&src);
    return st;
}

sermo_status sermo_audio_load_memory(const void *data, size_t size, const char *name,
                                     const sermo_audio_params *params, sermo_audio *out, sermo_error *err) {
    if (!name) name = "<memory>";
    if (!out) return sermo_fail(err, SERMO_ERR_INVALID, "%s: out is NULL", name);
    memset(out, 0, sizeof *out);
    if (!data && size > 0) return sermo_fail(err, SERMO_ERR_INVALID, "%s: data is NULL", name);
    if ((uint64_t)size > (uint64_t)INT64_MAX)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: size %zu too large", name, size);
    sermo_status st = check_params(params, name, err);
    if (st != SERMO_OK) return st;
    sermo_audio_source src;
    sermo_audio_source_open_memory(&src, data, size, name);
    st = run_pipeline(&src, params, out, err);
    sermo_audio_source_close(&src);
    return st;
}

sermo_status sermo_audio_probe_file(const char *path, sermo_audio_info *info, sermo_error *err) {
    if (!info) return sermo_fail(err, SERMO_ERR_INVALID, "%s: info is NULL", path ? path : "audio");
    memset(info, 0, sizeof *info);
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "audio: path is NULL");
    sermo_audio_source src;
    sermo_status st = sermo_audio_source_open_file(&src, path, err);
    if (st != SERMO_OK) return st;
    st = sermo_audio_decode_info(&src, info, err);
    sermo_audio_source_close(&src);
    if (st != SERMO_OK) memset(info, 0, sizeof *info);
    return st;
}

void sermo_audio_free(sermo_audio *audio) {
    if (!audio) return;
    free(audio->samples);
    memset(audio, 0, sizeof *audio);
}
