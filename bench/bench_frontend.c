/* bench_frontend.c: times Sermo's front end for bench/frontend.sh.
 *   bench_frontend logmel IN.f32 OUT.f32 REPEATS  log-mel of a 16 kHz signal
 *   bench_frontend corpus DIR THREADS             decode+resample+log-mel of every clip
 * Settings match bench/frontend.py: 16 kHz, n_fft 512, win 400, hop 160,
 * 64 mels (HTK, no norm), power, natural log(x + 1e-6). */
#include "bench_util.h"
#include "sermo.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static void bench_params(sermo_feature_params *fp) {
    sermo_feature_default_params(fp);
    fp->sample_rate = 16000;
    fp->n_fft = 512;
    fp->win_length = 400;
    fp->hop_length = 160;
    fp->n_mels = 64;
    fp->kind = SERMO_FEATURE_LOGMEL;
    fp->log_mode = SERMO_LOG_NATURAL;
    fp->log_offset = 1e-6f;
}

static int bench_logmel(const char *in, const char *out, int repeats) {
    FILE *f = fopen(in, "rb");
    if (!f) return fprintf(stderr, "bench: %s: cannot open\n", in), 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *pcm = malloc(sizeof(float) * (size_t)n);
    if (fread(pcm, 4, (size_t)n, f) != (size_t)n) return fprintf(stderr, "bench: %s: short read\n", in), 1;
    fclose(f);
    sermo_feature_params fp;
    bench_params(&fp);
    sermo_error err;
    sermo_features *feat = sermo_features_init(&fp, &err);
    if (!feat) return fprintf(stderr, "bench: %s\n", err.msg), 1;
    int64_t frames = sermo_features_n_frames(feat, n);
    int32_t bins = sermo_features_n_bins(feat);
    float *mel = malloc(sizeof(float) * (size_t)bins * (size_t)frames);
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t = now();
        sermo_features_compute(feat, pcm, n, mel, &err);
        t = now() - t;
        if (t < best) best = t;
    }
    f = fopen(out, "wb");
    fwrite(mel, sizeof(float), (size_t)bins * (size_t)frames, f);
    fclose(f);
    printf("sermo logmel %ld samples -> (%d, %lld): best of %d %.3f ms\n", n, bins, (long long)frames,
           repeats, best * 1e3);
    sermo_features_free(feat);
    free(mel);
    free(pcm);
    return 0;
}

static int bench_corpus(const char *dir, int threads) {
    sermo_corpus_params cp;
    sermo_corpus_default_params(&cp);
    sermo_corpus *c = sermo_corpus_init(&cp);
    sermo_error err;
    if (sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err)) return fprintf(stderr, "bench: %s\n", err.msg), 1;
    int64_t n = sermo_corpus_size(c);
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    sermo_feature_params fp;
    bench_params(&fp);
    double t = now(), frames_total = 0;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(+ : frames_total, failed)
    {
        sermo_error e;
        sermo_features *feat = sermo_features_init(&fp, &e);
        float *mel = NULL;
        size_t cap = 0;
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < n; i++) {
            sermo_audio a;
            if (sermo_audio_load_file(sermo_corpus_item(c, i)->path, &ap, &a, &e)) {
                failed++;
                continue;
            }
            int64_t frames = sermo_features_n_frames(feat, a.n);
            size_t need = (size_t)sermo_features_n_bins(feat) * (size_t)frames;
            if (need > cap) mel = realloc(mel, sizeof(float) * (cap = need));
            if (sermo_features_compute(feat, a.samples, a.n, mel, &e)) failed++;
            frames_total += (double)frames;
            sermo_audio_free(&a);
        }
        free(mel);
        sermo_features_free(feat);
    }
    t = now() - t;
    printf("sermo corpus %lld clips, %d threads: %.3f s (%.0f frames, %d failed)\n", (long long)n, threads, t,
           frames_total, failed);
    sermo_corpus_free(c);
    return failed != 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "logmel")) return bench_logmel(argv[2], argv[3], atoi(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "corpus")) return bench_corpus(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: bench_frontend logmel IN.f32 OUT.f32 REPEATS | corpus DIR THREADS\n");
    return 2;
}
