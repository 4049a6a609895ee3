/* audio_internal.h: private to src/audio. Byte sources for libsndfile's
 * virtual I/O, the decoder, and the pipeline steps with a label for errors. */
#ifndef SERMO_AUDIO_INTERNAL_H
#define SERMO_AUDIO_INTERNAL_H

#include "internal.h"

#include <sndfile.h>
#include <stdio.h>

/* Limits that turn absurd input into an error instead of an allocation of
 * gigabytes: rates outside [MIN, MAX] Hz are refused when resampling, and no
 * signal may hold more than MAX_SAMPLES mono samples (about 6 h at 16 kHz /
 * 1.4 h at 48 kHz, 1 GiB of floats). */
#define SERMO_AUDIO_MIN_RATE 1000
#define SERMO_AUDIO_MAX_RATE 768000
#define SERMO_AUDIO_MAX_SAMPLES (INT64_C(1) << 28)
#define SERMO_AUDIO_MAX_DURATION_MS (3600.0 * 1000.0) /* duration_ms cap: one hour */
#define SERMO_AUDIO_MAX_AMPLITUDE 1000.0f /* decoded |sample| limit (+60 dBFS) */

/* Where libsndfile reads bytes from: a FILE* or a memory buffer. Both are
 * driven through sf_open_virtual so files, servers and fuzzers share one
 * decoder path. */
typedef struct sermo_audio_source {
    const char *name; /* labels error messages: the path, or the caller's name */
    FILE *file;       /* file input; NULL for memory input */
    const unsigned char *data;
    sf_count_t size; /* bytes in the file or buffer */
    sf_count_t pos;  /* memory input only */
    SF_VIRTUAL_IO io;
} sermo_audio_source;

sermo_status sermo_audio_source_open_file(sermo_audio_source *src, const char *path, sermo_error *err);
void sermo_audio_source_open_memory(sermo_audio_source *src, const void *data, size_t size,
                                    const char *name);
void sermo_audio_source_close(sermo_audio_source *src);

/* Decode the whole source to mono (channel average) at the file's rate.
 * info may be NULL. On failure out is zeroed. */
sermo_status sermo_audio_decode_mono(sermo_audio_source *src, sermo_audio *out, sermo_audio_info *info,
                                     sermo_error *err);
/* Open and describe the source without decoding samples. */
sermo_status sermo_audio_decode_info(sermo_audio_source *src, sermo_audio_info *info, sermo_error *err);

/* The pipeline steps; `name` prefixes error messages ("<name>: <reason>"). */
sermo_status sermo_audio_resample_named(sermo_audio *audio, int32_t rate, const char *name,
                                        sermo_error *err);
sermo_status sermo_audio_fix_length_named(sermo_audio *audio, int64_t n, int32_t center, const char *name,
                                          sermo_error *err);

/* Samples for a duration: round(duration_ms * rate / 1000), halves away from
 * zero, computed in double (2618 ms at 24414 Hz = 63915.85 -> 63916). */
int64_t sermo_audio_duration_samples(double duration_ms, int32_t rate);

#endif
