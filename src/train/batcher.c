/* batcher.c: fixed-length, normalised batches over one part of the feature
 * cache (or, for waveform augmentation, of features rebuilt from PCM:
 * waves.c), and the normalisation statistics of the training part. Both read
 * the cache one item at a time into a buffer of their own, so memory does not
 * grow with the corpus (corpus/cache.h). */
#include "train/train.h"

#include "corpus/cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sermo_status train_norm_stats(const sermo_cache *cache, const int8_t *part, int8_t which, float *mean,
                              float *std, sermo_error *err) {
    int32_t F = sermo_cache_n_bins(cache);
    size_t cap = (size_t)F * (size_t)sermo_cache_max_frames(cache);
    double *sum = calloc((size_t)F * 2, sizeof *sum);
    float *v = malloc(sizeof(float) * cap); /* (F, n) the item */
    if (!sum || !v) {
        free(sum);
        free(v);
        return sermo_fail(err, SERMO_ERR_NOMEM, "normalisation statistics: out of memory");
    }
    double *sq = sum + F;
    int64_t frames = 0;
    for (int64_t i = 0; i < sermo_cache_size(cache); i++) {
        if (part[i] != which) continue;
        int64_t n = 0;
        sermo_status st = sermo_cache_read_item(cache, i, v, cap, &n, err);
        if (st) {
            free(sum);
            free(v);
            return st;
        }
        for (int32_t f = 0; f < F; f++)
            for (int64_t t = 0; t < n; t++) {
                double x = v[f * n + t];
                sum[f] += x;
                sq[f] += x * x;
            }
        frames += n;
    }
    free(v);
    if (frames == 0) {
        free(sum);
        return sermo_fail(err, SERMO_ERR_EMPTY, "normalisation statistics: no frames in part %d", which);
    }
    for (int32_t f = 0; f < F; f++) {
        double m = sum[f] / (double)frames, var = sq[f] / (double)frames - m * m;
        double s = var > 0 ? sqrt(var) : 0;
        mean[f] = (float)m;
        std[f] = s < 1e-5 ? 1.0f : (float)s;
    }
    free(sum);
    return SERMO_OK;
}

sermo_status train_batcher_init(train_batcher *b, const sermo_cache *cache, const int8_t *part, int8_t which,
                                int32_t T, const float *mean, const float *std, int train, sermo_error *err) {
    memset(b, 0, sizeof *b);
    if (T <= 0) return sermo_fail(err, SERMO_ERR_INVALID, "batcher: frames must be positive, not %d", T);
    int64_t n = 0, size = sermo_cache_size(cache);
    for (int64_t i = 0; i < size; i++) n += part[i] == which;
    if (n == 0) return sermo_fail(err, SERMO_ERR_EMPTY, "split: no %s items",
                                  which == SERMO_PART_TRAIN ? "training" : which == SERMO_PART_VAL ? "validation" : "test");
    b->order = sermo_alloc(sizeof *b->order * (size_t)n, err, "batcher");
    b->item = sermo_alloc(sizeof(float) * (size_t)sermo_cache_n_bins(cache) * (size_t)sermo_cache_max_frames(cache),
                          err, "batcher");
    if (!b->order || !b->item) {
        train_batcher_free(b);
        return SERMO_ERR_NOMEM;
    }
    for (int64_t i = 0, k = 0; i < size; i++)
        if (part[i] == which) b->order[k++] = i;
    b->cache = cache;
    b->F = sermo_cache_n_bins(cache);
    b->T = T;
    b->train = train;
    b->n = n;
    b->mean = mean;
    b->std = std;
    return SERMO_OK;
}

void train_batcher_free(train_batcher *b) {
    free(b->order);
    free(b->item);
    b->item = NULL;
    sermo_features_free(b->feat);
    free(b->pcm);
    free(b->feats);
    b->order = NULL;
    b->feat = NULL;
    b->pcm = b->feats = NULL;
    b->waves = NULL;
}

static int cmp_index(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void train_batcher_epoch(train_batcher *b, sermo_rng *rng) {
    if (b->train) {
        /* Corpus order first, so an epoch's order depends only on the rng
         * state at its start, which is what a checkpoint stores. */
        qsort(b->order, (size_t)b->n, sizeof *b->order, cmp_index);
        sermo_rng_shuffle(rng, b->order, b->n);
    }
    b->pos = 0;
}

void train_window(float *out, const float *v, int64_t n, int32_t F, int32_t T, int64_t start, const float *mean,
                  const float *std) {
    int64_t len = n - start < T ? n - start : T;
    for (int32_t f = 0; f < F; f++) {
        const float *row = v + (size_t)f * n + start;
        float m = mean[f], s = std[f];
        float *o = out + (size_t)f * T;
        for (int64_t t = 0; t < len; t++) o[t] = (row[t] - m) / s;
        for (int64_t t = len; t < T; t++) o[t] = 0.0f;
    }
}

int64_t train_batcher_n_batches(const train_batcher *b, int B) { return (b->n + B - 1) / B; }

int train_batcher_next(train_batcher *b, sermo_rng *rng, int B, float *x, int32_t *labels) {
    int32_t F = b->F, T = b->T;
    int k = 0;
    for (; k < B && b->pos < b->n; k++, b->pos++) {
        int64_t item = b->order[b->pos], n = 0;
        const float *v = b->item; /* (F, n) */
        if (b->waves) {
            if (train_wave_features(b->waves, item, &b->aug, b->feat, rng, b->pcm, b->feats, &n, &b->err))
                return -1;
            v = b->feats;
        } else if (sermo_cache_read_item(b->cache, item, b->item,
                                         (size_t)F * (size_t)sermo_cache_max_frames(b->cache), &n, &b->err)) {
            return -1;
        }
        int64_t start = 0;
        if (n > T) start = b->train ? (int64_t)sermo_rng_below(rng, (uint64_t)(n - T + 1)) : (n - T) / 2;
        train_window(x + (size_t)k * F * T, v, n, F, T, start, b->mean, b->std);
        labels[k] = sermo_cache_label(b->cache, item);
    }
    return k;
}
