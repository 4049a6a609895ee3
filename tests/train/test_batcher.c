/* test_batcher.c: normalisation statistics from the train part only; batches
 * hold normalised random crops (train) or centred crops (eval), items shorter
 * than T padded with 0 (the mean); each train item once per epoch; the same
 * rng state gives the same epoch. */
#include "train_test_util.h"

#include "train/train.h"

#define NMEL 16
#define NCLIP 30

static char dir[] = "/tmp/sermo_test_batcher_XXXXXX";

/* Does (F, T) block x equal item i normalised from frame `start` (pad after)? */
static int matches(const sermo_cache *cache, int64_t i, const float *x, int32_t T, int64_t start,
                   const float *mean, const float *std) {
    int64_t n = 0;
    const float *v = sermo_cache_item(cache, i, &n);
    for (int f = 0; f < NMEL; f++)
        for (int32_t t = 0; t < T; t++) {
            float want = start + t < n ? (v[f * n + start + t] - mean[f]) / std[f] : 0.0f;
            if (x[f * T + t] != want) return 0;
        }
    return 1;
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    sermo_corpus *corpus = NULL;
    sermo_cache *cache = tt_make_cache(dir, NCLIP, NMEL, &corpus);
    CHECK(cache != NULL, "synthetic corpus and cache");
    if (!cache) return check_report();
    sermo_error err;
    int8_t part[NCLIP];
    int n_train = 0;
    for (int i = 0; i < NCLIP; i++) {
        part[i] = i % 5 == 0 ? SERMO_PART_VAL : i % 5 == 1 ? SERMO_PART_TEST : SERMO_PART_TRAIN;
        n_train += part[i] == SERMO_PART_TRAIN;
    }

    /* Statistics against a direct two-pass computation over the train part. */
    float mean[NMEL], std[NMEL], want_mean[NMEL], want_std[NMEL];
    CHECK(train_norm_stats(cache, part, SERMO_PART_TRAIN, mean, std, &err) == SERMO_OK, "%s", err.msg);
    int64_t min_frames = 1 << 30, max_frames = 0;
    for (int f = 0; f < NMEL; f++) {
        double s = 0, q = 0, cnt = 0;
        for (int i = 0; i < NCLIP; i++) {
            if (part[i] != SERMO_PART_TRAIN) continue;
            int64_t n = 0;
            const float *v = sermo_cache_item(cache, i, &n);
            for (int64_t t = 0; t < n; t++) s += v[f * n + t], cnt++;
            if (n < min_frames) min_frames = n;
            if (n > max_frames) max_frames = n;
        }
        want_mean[f] = (float)(s / cnt);
        for (int i = 0; i < NCLIP; i++) {
            if (part[i] != SERMO_PART_TRAIN) continue;
            int64_t n = 0;
            const float *v = sermo_cache_item(cache, i, &n);
            for (int64_t t = 0; t < n; t++) q += (v[f * n + t] - s / cnt) * (v[f * n + t] - s / cnt);
        }
        want_std[f] = (float)sqrt(q / cnt);
    }
    check_close("mean", mean, want_mean, NMEL, 1e-4, 1e-5);
    check_close("std", std, want_std, NMEL, 1e-4, 1e-4);
    float mean_all[NMEL], std_all[NMEL];
    int8_t all[NCLIP] = {0};
    train_norm_stats(cache, all, SERMO_PART_TRAIN, mean_all, std_all, &err);
    float diff = 0;
    for (int f = 0; f < NMEL; f++) diff += fabsf(mean_all[f] - mean[f]);
    CHECK(diff > 1e-4f, "statistics use the train part only (diff %g)", diff);

    /* T between the shortest and longest item: both crops and padding happen. */
    int32_t T = (int32_t)((min_frames + max_frames) / 2);
    CHECK(min_frames < T && T < max_frames, "frames %lld..%lld, T %d", (long long)min_frames,
          (long long)max_frames, T);
    int B = 4;
    float *x = malloc(sizeof(float) * (size_t)B * NMEL * T);
    int32_t labels[4];

    /* Training: each train item exactly once per epoch, a random crop of it. */
    train_batcher tb;
    CHECK(train_batcher_init(&tb, cache, part, SERMO_PART_TRAIN, T, mean, std, 1, &err) == SERMO_OK, "%s", err.msg);
    CHECK(tb.n == n_train && train_batcher_n_batches(&tb, B) == (n_train + B - 1) / B, "train items %lld",
          (long long)tb.n);
    sermo_rng rng, rng_copy;
    sermo_rng_seed(&rng, 7);
    int64_t *first = malloc(sizeof(int64_t) * (size_t)n_train);
    int cropped_at_nonzero = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        if (epoch == 1) rng_copy = rng;
        train_batcher_epoch(&tb, &rng);
        int seen[NCLIP] = {0}, total = 0, k, bad = 0;
        while ((k = train_batcher_next(&tb, &rng, B, x, labels)) > 0) {
            for (int j = 0; j < k; j++) {
                int64_t item = tb.order[tb.pos - k + j], n = 0;
                sermo_cache_item(cache, item, &n);
                seen[item]++;
                if (labels[j] != sermo_cache_label(cache, item)) bad++;
                int found = 0;
                for (int64_t s = 0; s <= (n > T ? n - T : 0) && !found; s++)
                    if (matches(cache, item, x + (size_t)j * NMEL * T, T, s, mean, std)) {
                        found = 1;
                        cropped_at_nonzero += s > 0;
                    }
                if (!found) bad++;
            }
            total += k;
        }
        CHECK(bad == 0, "epoch %d: %d batch items are not a normalised window of their clip", epoch, bad);
        CHECK(total == n_train, "epoch %d: %d items", epoch, total);
        for (int i = 0; i < NCLIP; i++)
            CHECK(seen[i] == (part[i] == SERMO_PART_TRAIN), "epoch %d item %d seen %d times", epoch, i, seen[i]);
        if (epoch == 0) memcpy(first, tb.order, sizeof(int64_t) * (size_t)n_train);
        else CHECK(memcmp(first, tb.order, sizeof(int64_t) * (size_t)n_train) != 0, "a new order per epoch");
    }
    CHECK(cropped_at_nonzero > 0, "random crops start at different offsets");

    /* The same rng state replays an epoch bit for bit, whatever came before. */
    float *x2 = malloc(sizeof(float) * (size_t)B * NMEL * T);
    int64_t *order1 = malloc(sizeof(int64_t) * (size_t)n_train);
    memcpy(order1, tb.order, sizeof(int64_t) * (size_t)n_train);
    train_batcher tb2;
    train_batcher_init(&tb2, cache, part, SERMO_PART_TRAIN, T, mean, std, 1, &err);
    train_batcher_epoch(&tb2, &rng_copy);
    CHECK(memcmp(order1, tb2.order, sizeof(int64_t) * (size_t)n_train) == 0, "replayed order");
    sermo_rng a = rng_copy, b2 = rng_copy;
    tb.pos = 0;
    train_batcher_next(&tb, &a, B, x, labels);
    train_batcher_next(&tb2, &b2, B, x2, labels);
    CHECK(memcmp(x, x2, sizeof(float) * (size_t)B * NMEL * T) == 0, "replayed crops");
    train_batcher_free(&tb2);
    train_batcher_free(&tb);

    /* Evaluation: corpus order, centred crops, no rng use. */
    train_batcher vb;
    CHECK(train_batcher_init(&vb, cache, part, SERMO_PART_VAL, T, mean, std, 0, &err) == SERMO_OK, "%s", err.msg);
    sermo_rng before = rng;
    train_batcher_epoch(&vb, &rng);
    int k, idx = 0, bad = 0, padded = 0, cropped = 0;
    while ((k = train_batcher_next(&vb, &rng, B, x, labels)) > 0) {
        for (int j = 0; j < k; j++, idx++) {
            int64_t item = vb.order[idx], n = 0;
            sermo_cache_item(cache, item, &n);
            CHECK(item == 5 * idx, "val item %d is %lld", idx, (long long)item);
            int64_t start = n > T ? (n - T) / 2 : 0;
            padded += n < T;
            cropped += n > T;
            if (!matches(cache, item, x + (size_t)j * NMEL * T, T, start, mean, std)) bad++;
        }
    }
    CHECK(bad == 0 && idx == NCLIP / 5, "%d val items wrong of %d", bad, idx);
    CHECK(padded > 0 && cropped > 0, "val has padded (%d) and cropped (%d) items", padded, cropped);
    CHECK(memcmp(&before, &rng, sizeof rng) == 0, "evaluation leaves the rng alone");
    train_batcher_free(&vb);

    CHECK(train_batcher_init(&vb, cache, part, 5, T, mean, std, 0, &err) == SERMO_ERR_EMPTY, "empty part");
    free(x);
    free(x2);
    free(first);
    free(order1);
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
    tt_remove_dir(dir);
    return check_report();
}
