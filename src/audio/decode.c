/* decode.c: libsndfile decoding to mono float, and probing. Everything reads
 * through sf_open_virtual over a sermo_audio_source (source.c).
 *
 * Length policy: the frame count libsndfile reports after opening is the
 * promise; reading fewer frames than that is a truncated file and an error
 * (MPEG excepted, whose count is an estimate without a Xing/LAME header). A
 * WAV whose data chunk claims more bytes than the file holds is already cut
 * down to the bytes present by libsndfile's header parser, so such a file
 * yields exactly the frames that exist - never padding or garbage. */
#include "audio_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frames read per sf_readf_float call; memory for a chunk is this times the
 * channel count, and the mono result grows only as real samples arrive, so a
 * header that lies about its length cannot make us allocate for the lie. */
#define DECODE_CHUNK_FRAMES 4096

static sermo_status status_from_sf(int code) {
    switch (code) {
    case SF_ERR_SYSTEM: return SERMO_ERR_IO;
    case SF_ERR_UNSUPPORTED_ENCODING: return SERMO_ERR_UNSUPPORTED;
    default: return SERMO_ERR_FORMAT; /* unrecognised or malformed */
    }
}

/* Short container name: the first word of libsndfile's format description
 * ("WAV (Microsoft)" -> "WAV", "FLAC (Free Lossless Audio Codec)" -> "FLAC"),
 * except MPEG layer III, which everyone calls "MP3" (libsndfile: "MPEG-1/2"). */
static void format_name(int format, char *name, size_t size) {
    if ((format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG) {
        snprintf(name, size, "%s", (format & SF_FORMAT_SUBMASK) == SF_FORMAT_MPEG_LAYER_III ? "MP3" : "MPEG");
        return;
    }
    SF_FORMAT_INFO fi;
    memset(&fi, 0, sizeof fi);
    fi.format = format & SF_FORMAT_TYPEMASK;
    const char *s = "unknown";
    if (sf_command(NULL, SFC_GET_FORMAT_INFO, &fi, sizeof fi) == 0 && fi.name) s = fi.name;
    size_t len = strcspn(s, " ");
    if (len >= size) len = size - 1;
    memcpy(name, s, len);
    name[len] = '\0';
}

static sermo_status decode_open(sermo_audio_source *src, SNDFILE **out, SF_INFO *sfi,
                                sermo_error *err) {
    *out = NULL;
    if (src->size == 0) return sermo_fail(err, SERMO_ERR_EMPTY, "%s: empty input (0 bytes)", src->name);
    memset(sfi, 0, sizeof *sfi);
    /* libsndfile reports open failures through a process-wide slot
     * (sf_error(NULL)); under concurrent failures the reason text may belong
     * to another thread, but the failure itself is always reported. */
    SNDFILE *sf = sf_open_virtual(&src->io, SFM_READ, sfi, src);
    if (!sf) {
        int code = sf_error(NULL);
        return sermo_fail(err, status_from_sf(code), "%s: not readable audio: %s", src->name,
                          sf_error_number(code));
    }
    if (sfi->channels <= 0 || sfi->samplerate <= 0) {
        sf_close(sf);
        return sermo_fail(err, SERMO_ERR_FORMAT, "%s: invalid header (%d channels, %d Hz)", src->name,
                          sfi->channels, sfi->samplerate);
    }
    if (sfi->frames <= 0) {
        sf_close(sf);
        return sermo_fail(err, SERMO_ERR_EMPTY, "%s: no samples", src->name);
    }
    *out = sf;
    return SERMO_OK;
}

static void fill_info(const SF_INFO *sfi, sermo_audio_info *info) {
    memset(info, 0, sizeof *info);
    info->sample_rate = sfi->samplerate;
    info->channels = sfi->channels;
    info->frames = sfi->frames;
    format_name(sfi->format, info->format, sizeof info->format);
}

sermo_status sermo_audio_decode_info(sermo_audio_source *src, sermo_audio_info *info, sermo_error *err) {
    SNDFILE *sf;
    SF_INFO sfi;
    sermo_status st = decode_open(src, &sf, &sfi, err);
    if (st != SERMO_OK) return st;
    fill_info(&sfi, info);
    sf_close(sf);
    return SERMO_OK;
}

/* Append `got` interleaved frames to the mono buffer as the channel mean
 * (summed in double so the mean of equal channels is that channel exactly). */
static int mix_append(float *mono, const float *buf, sf_count_t got, int channels) {
    for (sf_count_t i = 0; i < got; i++) {
        const float *fr = buf + i * channels;
        double s = 0;
        for (int c = 0; c < channels; c++) s += fr[c];
        float v = (float)(s / channels);
        /* Float files can hold NaN, Inf or 1e38: not audio, and values that
         * would overflow the resampler's filter sums. Overs up to +60 dBFS
         * pass (float masters do exceed 1 a little). */
        if (!(fabsf(v) <= SERMO_AUDIO_MAX_AMPLITUDE)) return 0;
        mono[i] = v;
    }
    return 1;
}

static sermo_status decode_samples(sermo_audio_source *src, SNDFILE *sf, const SF_INFO *sfi,
                                   sermo_audio *out, sermo_error *err) {
    const int ch = sfi->channels;
    const char *name = src->name;
    sermo_status st = SERMO_OK;
    float *buf = sermo_alloc(sizeof(float) * DECODE_CHUNK_FRAMES * (size_t)ch, err, name);
    if (!buf) return SERMO_ERR_NOMEM;
    int64_t cap = sfi->frames < 65536 ? sfi->frames : 65536, n = 0;
    float *mono = sermo_alloc(sizeof(float) * (size_t)cap, err, name);
    if (!mono) {
        free(buf);
        return SERMO_ERR_NOMEM;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, buf, DECODE_CHUNK_FRAMES);
        if (got <= 0) break;
        if (n + got > SERMO_AUDIO_MAX_SAMPLES) {
            st = sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: longer than %lld samples", name,
                            (long long)SERMO_AUDIO_MAX_SAMPLES);
            goto done;
        }
        if (n + got > cap) {
            int64_t ncap = cap * 2 > n + got ? cap * 2 : n + got;
            float *p = realloc(mono, sizeof(float) * (size_t)ncap);
            if (!p) {
                st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot allocate %lld samples", name,
                                (long long)ncap);
                goto done;
            }
            mono = p;
            cap = ncap;
        }
        if (!mix_append(mono + n, buf, got, ch)) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: sample not finite or beyond +-%g near frame %lld", name,
                            (double)SERMO_AUDIO_MAX_AMPLITUDE, (long long)n);
            goto done;
        }
        n += got;
    }
    int code = sf_error(sf);
    int is_mpeg = (sfi->format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG;
    if (code != SF_ERR_NO_ERROR) {
        st = sermo_fail(err, status_from_sf(code), "%s: decoding failed after %lld of %lld frames: %s",
                        name, (long long)n, (long long)sfi->frames, sf_strerror(sf));
    } else if (n == 0) {
        st = sermo_fail(err, SERMO_ERR_EMPTY, "%s: no samples could be decoded", name);
    } else if (n < sfi->frames && !is_mpeg) {
        st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: truncated: header promises %lld frames, only %lld read",
                        name, (long long)sfi->frames, (long long)n);
    }
done:
    free(buf);
    if (st != SERMO_OK) {
        free(mono);
        return st;
    }
    if (n < cap) { /* give back the growth slack; failure to shrink is harmless */
        float *p = realloc(mono, sizeof(float) * (size_t)n);
        if (p) mono = p;
    }
    out->samples = mono;
    out->n = n;
    out->sample_rate = sfi->samplerate;
    return SERMO_OK;
}

sermo_status sermo_audio_decode_mono(sermo_audio_source *src, sermo_audio *out, sermo_audio_info *info,
                                     sermo_error *err) {
    memset(out, 0, sizeof *out);
    SNDFILE *sf;
    SF_INFO sfi;
    sermo_status st = decode_open(src, &sf, &sfi, err);
    if (st != SERMO_OK) return st;
    if (info) fill_info(&sfi, info);
    st = decode_samples(src, sf, &sfi, out, err);
    sf_close(sf);
    return st;
}
