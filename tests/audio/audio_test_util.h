/* audio_test_util.h: helpers for the audio tests - encode PCM into an
 * in-memory WAV/FLAC with libsndfile, write bytes to a temporary file, fit
 * a sine. Header-only (static inline) so each test stays one .c file. */
#ifndef SERMO_AUDIO_TEST_UTIL_H
#define SERMO_AUDIO_TEST_UTIL_H

#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* A growable byte buffer that libsndfile can write into. */
typedef struct test_buf {
    unsigned char *data;
    sf_count_t size, cap, pos;
} test_buf;

static inline sf_count_t tb_len(void *u) { return ((test_buf *)u)->size; }
static inline sf_count_t tb_tell(void *u) { return ((test_buf *)u)->pos; }
static inline sf_count_t tb_seek(sf_count_t off, int whence, void *u) {
    test_buf *b = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? b->pos : b->size;
    if (base + off < 0) return -1;
    b->pos = base + off;
    return b->pos;
}
static inline sf_count_t tb_read(void *p, sf_count_t n, void *u) {
    test_buf *b = u;
    if (b->pos >= b->size) return 0;
    if (n > b->size - b->pos) n = b->size - b->pos;
    memcpy(p, b->data + b->pos, (size_t)n);
    b->pos += n;
    return n;
}
static inline sf_count_t tb_write(const void *p, sf_count_t n, void *u) {
    test_buf *b = u;
    if (b->pos + n > b->cap) {
        sf_count_t cap = (b->pos + n) * 2;
        unsigned char *d = realloc(b->data, (size_t)cap);
        if (!d) return 0;
        memset(d + b->cap, 0, (size_t)(cap - b->cap));
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->pos, p, (size_t)n);
    b->pos += n;
    if (b->pos > b->size) b->size = b->pos;
    return n;
}

/* Encode frames x channels interleaved samples as `format` (e.g.
 * SF_FORMAT_WAV | SF_FORMAT_PCM_16), from floats or, when pcm16 is not
 * NULL, from 16-bit integers (exact, no float->int scaling). 0 on success. */
static inline int test_encode_any(test_buf *out, int format, int rate, int channels, const float *pcm,
                                  const short *pcm16, sf_count_t frames) {
    memset(out, 0, sizeof *out);
    SF_VIRTUAL_IO io = {tb_len, tb_seek, tb_read, tb_write, tb_tell};
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, out);
    if (!sf) {
        fprintf(stderr, "test_encode: %s\n", sf_strerror(NULL));
        return -1;
    }
    /* Write floats exactly as given: no clipping or normalisation surprises. */
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    sf_count_t w = !frames ? 0 : pcm16 ? sf_writef_short(sf, pcm16, frames) : sf_writef_float(sf, pcm, frames);
    sf_close(sf);
    return w == frames ? 0 : -1;
}

static inline int test_encode(test_buf *out, int format, int rate, int channels, const float *pcm,
                              sf_count_t frames) {
    return test_encode_any(out, format, rate, channels, pcm, NULL, frames);
}

static inline int test_encode16(test_buf *out, int format, int rate, int channels, const short *pcm,
                                sf_count_t frames) {
    return test_encode_any(out, format, rate, channels, NULL, pcm, frames);
}

static inline void test_buf_free(test_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Write bytes to a fresh temporary file; path receives its name. */
static inline int test_write_temp(const void *data, size_t size, const char *suffix, char *path,
                                  size_t path_size) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, path_size, "%s/sermo_audio_XXXXXX%s", dir ? dir : "/tmp", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, (const char *)data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    close(fd);
    return 0;
}

/* Least-squares fit of x[i] ~ a*sin(w i) + b*cos(w i) over [i0, i1) at the
 * known angular frequency w; returns the largest residual and the amplitude. */
static inline double test_sine_fit(const float *x, int64_t i0, int64_t i1, double w, double *amp) {
    double ss = 0, cc = 0, sc = 0, xs = 0, xc = 0;
    for (int64_t i = i0; i < i1; i++) {
        double s = sin(w * (double)i), c = cos(w * (double)i);
        ss += s * s, cc += c * c, sc += s * c, xs += x[i] * s, xc += x[i] * c;
    }
    double det = ss * cc - sc * sc;
    double a = (xs * cc - xc * sc) / det, b = (xc * ss - xs * sc) / det;
    double worst = 0;
    for (int64_t i = i0; i < i1; i++) {
        double r = fabs(x[i] - (a * sin(w * (double)i) + b * cos(w * (double)i)));
        if (r > worst) worst = r;
    }
    *amp = sqrt(a * a + b * b);
    return worst;
}

#endif
