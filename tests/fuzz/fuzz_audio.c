// fuzz_audio.c: libFuzzer harness for the audio decoder. Outside bytes go
// through sermo_audio_load_memory, the same sf_open_virtual path files use.
// Not part of the normal build. From the repository root:
//
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/core tests/fuzz/fuzz_audio.c src/audio/*.c src/core/*.c $(pkg-config --cflags --libs sndfile soxr) -lm -o fuzz_audio
//   mkdir -p corpus && cp <a few small WAV/FLAC/OGG files> corpus/
//   echo 'leak:vorbis_info_init' > lsan.supp
//   LSAN_OPTIONS=suppressions=lsan.supp ./fuzz_audio -max_total_time=60 -max_len=65536 -rss_limit_mb=2048 corpus
//
// The suppression is for a leak inside libvorbis when a malformed Ogg fails to
// open (xiph/vorbis#125, libsndfile#922), not in this code. libmpg123 prints
// "warning: ..." lines to stderr on broken MP3 input; libsndfile gives us no
// way to quiet its decoder.
//
// (The brief's shorter form, -fsanitize=fuzzer,address, works the same.) If
// src/core grows files that need OpenBLAS/OpenMP, append
// $(pkg-config --libs openblas) -fopenmp. Any status is fine; the harness
// checks the contract: on success samples exist, are finite and n > 0; on
// failure out is zeroed and the message names the input.
#include "sermo.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    /* The first byte picks the pipeline options, so trimming, cropping and
     * the keep-rate path are fuzzed as well as the decoder. */
    if (size > 0) {
        ap.sample_rate = (data[0] & 1) ? 0 : 16000;
        ap.trim = (data[0] >> 1) & 1;
        ap.duration_ms = (data[0] & 4) ? 500 : 0;
        ap.crop_center = (data[0] >> 3) & 1;
    }
    sermo_audio a;
    sermo_error err;
    sermo_status st = sermo_audio_load_memory(data, size, "fuzz", &ap, &a, &err);
    if (st == SERMO_OK) {
        if (!a.samples || a.n <= 0 || a.sample_rate <= 0) abort();
        for (int64_t i = 0; i < a.n; i++)
            if (!isfinite(a.samples[i])) abort();
    } else {
        if (a.samples || a.n || strncmp(err.msg, "fuzz: ", 6) != 0) abort();
    }
    sermo_audio_free(&a);
    return 0;
}
