/* test_audio_errors.c: bad input gives a status and "<path>: <reason>",
 * never a crash or a silent empty result; out stays zeroed on failure. */
#include "audio_test_util.h"
#include "check.h"
#include "sermo.h"

static int zeroed(const sermo_audio *a) {
    return a->samples == NULL && a->n == 0 && a->sample_rate == 0;
}

/* Load `path` expecting failure with `want` (or any error when want is OK). */
static void expect_file_error(const char *path, const sermo_audio_params *ap, sermo_status want,
                              const char *what) {
    sermo_audio a;
    memset(&a, 0xab, sizeof a); /* garbage in: out must come back zeroed */
    sermo_error err = {0};
    sermo_status st = sermo_audio_load_file(path, ap, &a, &err);
    CHECK(st != SERMO_OK && (want == SERMO_OK || st == want), "%s: status %s", what, sermo_status_str(st));
    CHECK(zeroed(&a), "%s: out not zeroed", what);
    CHECK(err.status == st, "%s: err.status", what);
    CHECK(path == NULL || strstr(err.msg, path) == err.msg, "%s: message '%s' lacks the path", what, err.msg);
    fprintf(stderr, "  %s -> %s\n", what, err.msg);
    sermo_audio_free(&a);
    sermo_audio_info info;
    if (ap && path && want != SERMO_ERR_INVALID) { /* probe takes no params */
        st = sermo_audio_probe_file(path, &info, &err);
        CHECK(st != SERMO_OK && (want == SERMO_OK || st == want), "%s: probe %s", what,
              sermo_status_str(st));
    }
}

static void expect_memory_error(const void *data, size_t size, const sermo_audio_params *ap, sermo_status want,
                                const char *what) {
    sermo_audio a;
    memset(&a, 0xab, sizeof a);
    sermo_error err = {0};
    sermo_status st = sermo_audio_load_memory(data, size, "buffer-name", ap, &a, &err);
    CHECK(st != SERMO_OK && (want == SERMO_OK || st == want), "%s: status %s", what, sermo_status_str(st));
    CHECK(zeroed(&a), "%s: out not zeroed", what);
    CHECK(strncmp(err.msg, "buffer-name: ", 13) == 0, "%s: message '%s'", what, err.msg);
    fprintf(stderr, "  %s -> %s\n", what, err.msg);
    sermo_audio_free(&a);
}

int main(void) {
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    char path[512];

    expect_file_error("/nonexistent/dir/clip.wav", &ap, SERMO_ERR_IO, "missing file");
    expect_file_error("/tmp", &ap, SERMO_ERR_IO, "directory");

    const char *text = "path,label\nclip.wav,happy\nthis is not audio at all\n";
    CHECK(test_write_temp(text, strlen(text), ".wav", path, sizeof path) == 0, "temp");
    expect_file_error(path, &ap, SERMO_ERR_FORMAT, "text file");
    remove(path);

    CHECK(test_write_temp("", 0, ".wav", path, sizeof path) == 0, "temp");
    expect_file_error(path, &ap, SERMO_ERR_EMPTY, "empty file");
    remove(path);

    /* A real WAV of 4000 frames, then damaged copies of it. */
    enum { N = 4000 };
    short pcm[N];
    for (int i = 0; i < N; i++) pcm[i] = (short)((i * 31) % 20000 - 10000);
    test_buf b;
    CHECK(test_encode16(&b, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, pcm, N) == 0, "encode");

    CHECK(test_write_temp(b.data, 30, ".wav", path, sizeof path) == 0, "temp");
    expect_file_error(path, &ap, SERMO_OK, "header cut to 30 bytes");
    remove(path);
    expect_memory_error(b.data, 30, &ap, SERMO_OK, "memory header cut to 30 bytes");

    /* Cut in the middle of the data (and mid-sample): either an error or
     * exactly the frames that exist, with their true values - never padding. */
    const size_t cuts[] = {(size_t)b.size / 2, (size_t)b.size / 2 + 1, 45};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        sermo_audio_params keep = ap;
        keep.sample_rate = 0;
        sermo_audio a;
        sermo_error err;
        sermo_status st = sermo_audio_load_memory(b.data, cuts[k], "cut.wav", &keep, &a, &err);
        int64_t exist = ((int64_t)cuts[k] - 44) / 2; /* libsndfile's canonical 44-byte header */
        if (st == SERMO_OK) {
            CHECK(a.n == exist, "cut at %zu: %lld frames, %lld exist", cuts[k], (long long)a.n, (long long)exist);
            int same = a.n == exist;
            for (int64_t i = 0; same && i < a.n; i++) same = a.samples[i] == pcm[i] / 32768.0f;
            CHECK(same, "cut at %zu: samples differ from the original prefix", cuts[k]);
        } else {
            CHECK(zeroed(&a) && strstr(err.msg, "cut.wav: ") == err.msg, "cut at %zu: %s", cuts[k], err.msg);
        }
        fprintf(stderr, "  cut at %zu bytes -> %s (%lld frames)\n", cuts[k],
                st == SERMO_OK ? "ok" : err.msg, (long long)(st == SERMO_OK ? a.n : 0));
        sermo_audio_free(&a);
    }
    /* A truncated FLAC: the stream promises 10 N frames (several blocks) and
     * cannot deliver them. */
    test_buf fl;
    short *longer = malloc(sizeof(short) * 10 * N);
    for (int i = 0; i < 10 * N; i++) longer[i] = pcm[i % N];
    CHECK(test_encode16(&fl, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, longer, 10 * N) == 0, "encode flac");
    expect_memory_error(fl.data, (size_t)fl.size * 2 / 3, &ap, SERMO_OK, "truncated FLAC");
    expect_memory_error(fl.data, (size_t)fl.size - 1, &ap, SERMO_OK, "FLAC missing its last byte");
    free(longer);
    test_buf_free(&fl);
    test_buf_free(&b);

    /* Valid container with zero frames. */
    CHECK(test_encode16(&b, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, pcm, 0) == 0, "encode empty");
    CHECK(test_write_temp(b.data, (size_t)b.size, ".wav", path, sizeof path) == 0, "temp");
    expect_file_error(path, &ap, SERMO_ERR_EMPTY, "zero frames");
    expect_memory_error(b.data, (size_t)b.size, &ap, SERMO_ERR_EMPTY, "memory zero frames");
    remove(path);
    test_buf_free(&b);

    /* Float WAV holding NaN. */
    float bad[4] = {0.1f, NAN, 0.2f, 0.3f};
    CHECK(test_encode(&b, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, bad, 4) == 0, "encode nan");
    expect_memory_error(b.data, (size_t)b.size, &ap, SERMO_ERR_FORMAT, "NaN sample");
    test_buf_free(&b);
    float huge[4] = {0.1f, 3e38f, -3e38f, 0.3f}; /* would overflow the resampler */
    CHECK(test_encode(&b, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1, huge, 4) == 0, "encode huge");
    expect_memory_error(b.data, (size_t)b.size, &ap, SERMO_ERR_FORMAT, "sample 3e38");
    test_buf_free(&b);

    /* Arguments. A valid file so only the argument is wrong. */
    CHECK(test_encode16(&b, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, pcm, N) == 0, "encode");
    CHECK(test_write_temp(b.data, (size_t)b.size, ".wav", path, sizeof path) == 0, "temp");
    sermo_audio ok;
    sermo_error err;
    CHECK(sermo_audio_load_file(path, &ap, &ok, &err) == SERMO_OK && ok.n == N, "control: %s", err.msg);
    sermo_audio_free(&ok);
    expect_file_error(path, NULL, SERMO_ERR_INVALID, "NULL params");
    sermo_audio_params p;
#define BAD(stmt, what)                                          \
    do {                                                         \
        sermo_audio_default_params(&p);                          \
        stmt;                                                    \
        expect_file_error(path, &p, SERMO_ERR_INVALID, what);    \
        expect_memory_error(b.data, (size_t)b.size, &p, SERMO_ERR_INVALID, what); \
    } while (0)
    BAD(p.sample_rate = -16000, "negative sample_rate");
    BAD(p.sample_rate = 5, "sample_rate 5 Hz");
    BAD(p.sample_rate = 2000000000, "sample_rate 2 GHz");
    BAD(p.duration_ms = -1, "negative duration");
    BAD(p.duration_ms = 1e30f, "absurd duration");
    BAD(p.duration_ms = NAN, "NaN duration");
    BAD(p.duration_ms = 0.01f, "duration below one sample");
    BAD((p.trim = 1, p.trim_db = NAN), "NaN trim_db");
    BAD((p.trim = 1, p.trim_db = 10), "positive trim_db");
    BAD((p.trim = 1, p.trim_frame_ms = 0), "zero trim frame");
    BAD((p.trim = 1, p.trim_margin_ms = -5), "negative margin");
    BAD(p.trim = 7, "trim 7");
    BAD(p.crop_center = -1, "crop_center -1");
#undef BAD
    remove(path);

    CHECK(sermo_audio_load_file(NULL, &ap, &ok, &err) == SERMO_ERR_INVALID && zeroed(&ok), "NULL path");
    CHECK(sermo_audio_load_file("x.wav", &ap, NULL, &err) == SERMO_ERR_INVALID, "NULL out");
    CHECK(sermo_audio_load_memory(NULL, 10, "m", &ap, &ok, &err) == SERMO_ERR_INVALID && zeroed(&ok), "NULL data");
    CHECK(sermo_audio_load_memory(NULL, 0, "m", &ap, &ok, &err) == SERMO_ERR_EMPTY && zeroed(&ok), "no data");
    CHECK(sermo_audio_load_memory(b.data, (size_t)b.size, NULL, &ap, &ok, NULL) == SERMO_OK && ok.n == N,
          "NULL name and err are allowed");
    sermo_audio_free(&ok);
    sermo_audio_info info;
    CHECK(sermo_audio_probe_file(NULL, &info, &err) == SERMO_ERR_INVALID, "probe NULL path");
    CHECK(sermo_audio_probe_file("x.wav", NULL, &err) == SERMO_ERR_INVALID, "probe NULL info");
    test_buf_free(&b);
    return check_report();
}
