/* test_audio.c: decoding synthesized files - exact sample values, mono
 * mixing, extra RIFF chunks, file vs memory identity, probe, and the full
 * pipeline's crop/pad lengths. */
#include "audio_test_util.h"
#include "check.h"
#include "sermo.h"

/* libsndfile reads integer PCM as v / 0x8000 (its documented float
 * normalisation), so 16-bit input gives exactly known floats. */
static short pattern16(int64_t i, int k) {
    return (short)(((i * 7919 + k * 104729) % 65536) - 32768);
}

static void test_pcm16_values(void) {
    enum { N = 3000 };
    short pcm[N];
    for (int i = 0; i < N; i++) pcm[i] = pattern16(i, 0);
    test_buf b;
    CHECK(test_encode16(&b, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, pcm, N) == 0, "encode");
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    ap.sample_rate = 0; /* keep */
    sermo_audio a;
    sermo_error err;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "mono16.wav", &ap, &a, &err) == SERMO_OK, "%s",
          err.msg);
    CHECK(a.n == N && a.sample_rate == 22050, "n=%lld rate=%d", (long long)a.n, a.sample_rate);
    float ref[N];
    for (int i = 0; i < N; i++) ref[i] = (float)pcm[i] / 32768.0f;
    if (a.n == N) check_close("pcm16", a.samples, ref, N, 0, 0);
    sermo_audio_free(&a);
    test_buf_free(&b);
}

static void test_stereo_mix(void) {
    enum { N = 2000 };
    short pcm[2 * N];
    float ref[N];
    for (int i = 0; i < N; i++) {
        pcm[2 * i] = pattern16(i, 1);
        pcm[2 * i + 1] = pattern16(i, 2);
        ref[i] = (float)(((double)pcm[2 * i] + pcm[2 * i + 1]) / 2.0 / 32768.0);
    }
    test_buf b;
    CHECK(test_encode16(&b, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 2, pcm, N) == 0, "encode");
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    ap.sample_rate = 0;
    sermo_audio a;
    sermo_error err;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "stereo.wav", &ap, &a, &err) == SERMO_OK, "%s",
          err.msg);
    CHECK(a.n == N, "stereo n=%lld", (long long)a.n);
    if (a.n == N) check_close("stereo mean", a.samples, ref, N, 0, 0);
    sermo_audio_free(&a);
    test_buf_free(&b);

    /* Float WAV, 3 channels with unrelated content: the mean, not one channel. */
    float f[3 * N], fref[N];
    for (int i = 0; i < N; i++) {
        f[3 * i] = (float)(0.5 * sin(2 * M_PI * 440 * i / 16000.0));
        f[3 * i + 1] = (float)(0.25 * cos(2 * M_PI * 1000 * i / 16000.0));
        f[3 * i + 2] = -0.125f;
        fref[i] = (float)(((double)f[3 * i] + f[3 * i + 1] + f[3 * i + 2]) / 3.0);
    }
    CHECK(test_encode(&b, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 3, f, N) == 0, "encode float");
    ap.sample_rate = 16000;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "three.wav", &ap, &a, &err) == SERMO_OK, "%s",
          err.msg);
    CHECK(a.n == N, "float n=%lld", (long long)a.n);
    if (a.n == N) check_close("3-channel mean", a.samples, fref, N, 1e-7, 0);
    sermo_audio_free(&a);
    test_buf_free(&b);
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A WAV laid out like RAVDESS's: fmt, an FLLR filler chunk before data, and
 * LIST and _PMX chunks after it, so samples do not start at byte 44. */
static void test_extra_chunks(void) {
    enum { N = 500 };
    short pcm[N];
    for (int i = 0; i < N; i++) pcm[i] = pattern16(i, 3);
    unsigned char w[44 + 8 + 28 + 2 * N + 8 + 16 + 8 + 10];
    memset(w, 0, sizeof w);
    unsigned char *p = w;
    memcpy(p, "RIFF", 4), put32(p + 4, (uint32_t)sizeof w - 8), memcpy(p + 8, "WAVE", 4), p += 12;
    memcpy(p, "fmt ", 4), put32(p + 4, 16), p += 8;
    p[0] = 1, p[2] = 1;           /* PCM, mono */
    put32(p + 4, 16000);          /* rate */
    put32(p + 8, 32000);          /* byte rate */
    p[12] = 2, p[14] = 16, p += 16; /* block align, bits */
    memcpy(p, "FLLR", 4), put32(p + 4, 28), p += 8 + 28;
    memcpy(p, "data", 4), put32(p + 4, 2 * N), p += 8;
    for (int i = 0; i < N; i++) p[2 * i] = (unsigned char)(pcm[i] & 0xff), p[2 * i + 1] = (unsigned char)((unsigned short)pcm[i] >> 8);
    p += 2 * N;
    memcpy(p, "LIST", 4), put32(p + 4, 16), memcpy(p + 8, "INFOISFT", 8), put32(p + 16, 4), p += 8 + 16;
    memcpy(p, "_PMX", 4), put32(p + 4, 10), p += 8 + 10;
    CHECK(p == w + sizeof w, "layout %td", p - w);
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    ap.sample_rate = 0;
    sermo_audio a;
    sermo_error err;
    CHECK(sermo_audio_load_memory(w, sizeof w, "chunks.wav", &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    CHECK(a.n == N, "chunks n=%lld", (long long)a.n);
    float ref[N];
    for (int i = 0; i < N; i++) ref[i] = (float)pcm[i] / 32768.0f;
    if (a.n == N) check_close("extra chunks", a.samples, ref, N, 0, 0);
    sermo_audio_free(&a);
}

/* Files and memory go through the same decoder: same bytes, same floats,
 * with every pipeline step switched on. Also checks probe. */
static void test_file_memory_probe(void) {
    enum { N = 30000, C = 2 };
    static short pcm[N * C];
    for (int i = 0; i < N; i++) {
        double env = (i > 8000 && i < 20000) ? 0.6 : 0.001;
        pcm[C * i] = (short)lrint(32767 * env * sin(2 * M_PI * 300 * i / 44100.0));
        pcm[C * i + 1] = (short)lrint(32767 * env * sin(2 * M_PI * 500 * i / 44100.0));
    }
    const struct { int format; const char *suffix, *name; } fmts[] = {
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, ".wav", "WAV"},
        {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, ".flac", "FLAC"},
        {SF_FORMAT_OGG | SF_FORMAT_VORBIS, ".ogg", "OGG"},
        {SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, ".mp3", "MP3"},
    };
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        test_buf b;
        if (test_encode16(&b, fmts[k].format, 44100, C, pcm, N) != 0) {
            CHECK(k >= 2, "cannot encode %s", fmts[k].name); /* Vorbis/LAME may be absent */
            test_buf_free(&b);
            continue;
        }
        char path[512];
        CHECK(test_write_temp(b.data, (size_t)b.size, fmts[k].suffix, path, sizeof path) == 0, "temp file");
        sermo_audio_params ap;
        sermo_audio_default_params(&ap);
        ap.trim = 1;
        ap.duration_ms = 900;
        ap.crop_center = 1;
        sermo_audio fa, ma;
        sermo_error err;
        CHECK(sermo_audio_load_file(path, &ap, &fa, &err) == SERMO_OK, "%s", err.msg);
        CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, path, &ap, &ma, &err) == SERMO_OK, "%s", err.msg);
        CHECK(fa.n == 14400 && ma.n == 14400, "%s: 900 ms at 16 kHz: %lld %lld", fmts[k].name,
              (long long)fa.n, (long long)ma.n);
        CHECK(fa.n == ma.n && fa.sample_rate == ma.sample_rate && fa.samples && ma.samples &&
                  memcmp(fa.samples, ma.samples, sizeof(float) * (size_t)fa.n) == 0,
              "%s: file and memory differ", fmts[k].name);
        sermo_audio_free(&fa);
        sermo_audio_free(&ma);

        sermo_audio_info info;
        CHECK(sermo_audio_probe_file(path, &info, &err) == SERMO_OK, "%s", err.msg);
        CHECK(info.sample_rate == 44100 && info.channels == C && info.frames == N, "%s probe %d %d %lld",
              fmts[k].name, info.sample_rate, info.channels, (long long)info.frames);
        CHECK(strcmp(info.format, fmts[k].name) == 0, "format '%s' want '%s'", info.format, fmts[k].name);
        remove(path);
        test_buf_free(&b);
    }
}

/* Crop/pad lengths through the pipeline; n = round(duration_ms * rate / 1000). */
static void test_duration(void) {
    enum { N = 1000 };
    short pcm[N];
    for (int i = 0; i < N; i++) pcm[i] = (short)(i + 1);
    test_buf b;
    CHECK(test_encode16(&b, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, pcm, N) == 0, "encode");
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    ap.sample_rate = 0;
    sermo_audio a;
    sermo_error err;
    /* 100 ms at 8 kHz = 800: crop. keep-start keeps samples 1..800 */
    ap.duration_ms = 100;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "d.wav", &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    CHECK(a.n == 800 && a.samples[0] == 1 / 32768.0f && a.samples[799] == 800 / 32768.0f, "crop start");
    sermo_audio_free(&a);
    /* centre crop drops 100 on each side */
    ap.crop_center = 1;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "d.wav", &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    CHECK(a.n == 800 && a.samples[0] == 101 / 32768.0f && a.samples[799] == 900 / 32768.0f, "crop centre");
    sermo_audio_free(&a);
    /* 150.0625 ms at 8 kHz = 1200.5 -> 1201 (halves round up): pad 201, centre puts 100 first */
    ap.duration_ms = 150.0625f;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "d.wav", &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    CHECK(a.n == 1201 && a.samples[99] == 0 && a.samples[100] == 1 / 32768.0f &&
              a.samples[1099] == 1000 / 32768.0f && a.samples[1100] == 0 && a.samples[1200] == 0,
          "pad centre n=%lld", (long long)a.n);
    sermo_audio_free(&a);
    /* The seed projects' setting: 2618 ms at 24414 Hz = 63915.852 -> 63916 samples. */
    ap.sample_rate = 24414;
    ap.duration_ms = 2618;
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, "d.wav", &ap, &a, &err) == SERMO_OK, "%s", err.msg);
    CHECK(a.n == 63916 && a.sample_rate == 24414, "2618 ms at 24414 Hz: n=%lld", (long long)a.n);
    sermo_audio_free(&a);
    test_buf_free(&b);
}

int main(void) {
    test_pcm16_values();
    test_stereo_mix();
    test_extra_chunks();
    test_file_memory_probe();
    test_duration();
    sermo_audio empty = {0};
    sermo_audio_free(&empty);
    sermo_audio_free(&empty);
    sermo_audio_free(NULL);
    CHECK(empty.samples == NULL && empty.n == 0, "free of a zeroed struct");
    return check_report();
}
