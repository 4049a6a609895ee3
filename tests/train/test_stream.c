/* test_stream.c: training streams from the feature cache and overlaps batch
 * assembly with compute.
 *   - sermo_cache_read_item gives every item's bytes as the mapping holds
 *     them, refuses a small buffer and a bad index, and (measured in
 *     /proc/self/status) leaves no file pages resident, where a pass through
 *     sermo_cache_item leaves the whole data area;
 *   - the loader, threaded or not, yields exactly the batches of the
 *     synchronous loop it replaced (batcher, then SpecAugment, then mixup,
 *     all from one rng, in that order), with waveform augmentation on, and
 *     leaves the rng where that loop did;
 *   - train_run with and without the loader thread writes the same bytes. */
#include "train_test_util.h"

#include "corpus/cache.h"
#include "train/train.h"

#define NMEL 16
#define NCLIP 40
#define T 24
#define B 8

static char dir[] = "/tmp/sermo_test_stream_XXXXXX";

/* The settings tt_make_cache builds its cache with. */
static void settings(sermo_audio_params *ap, sermo_feature_params *fp, int32_t n_mels) {
    sermo_audio_default_params(ap);
    sermo_feature_default_params(fp);
    fp->n_mels = n_mels;
    fp->kind = SERMO_FEATURE_LOGMEL;
    fp->log_mode = SERMO_LOG_DB;
}

static void test_read_item(const sermo_cache *cache) {
    int32_t F = sermo_cache_n_bins(cache);
    int64_t max_frames = 0;
    for (int64_t i = 0; i < sermo_cache_size(cache); i++) {
        int64_t n = 0;
        sermo_cache_item(cache, i, &n);
        if (n > max_frames) max_frames = n;
    }
    CHECK(sermo_cache_max_frames(cache) == max_frames, "max frames %lld, want %lld",
          (long long)sermo_cache_max_frames(cache), (long long)max_frames);
    size_t cap = (size_t)F * (size_t)max_frames;
    float *buf = malloc(sizeof(float) * cap);
    sermo_error err;
    int same = 1;
    for (int64_t i = 0; i < sermo_cache_size(cache); i++) {
        int64_t n = 0, got = -1;
        const float *v = sermo_cache_item(cache, i, &n);
        sermo_status st = sermo_cache_read_item(cache, i, buf, cap, &got, &err);
        same &= st == SERMO_OK && got == n && memcmp(buf, v, sizeof(float) * (size_t)F * (size_t)n) == 0;
    }
    CHECK(same, "every item read equals the mapped one");
    int64_t n0 = 0;
    sermo_cache_item(cache, 0, &n0);
    CHECK(sermo_cache_read_item(cache, 0, buf, (size_t)F * (size_t)n0 - 1, NULL, &err) == SERMO_ERR_INVALID &&
              strstr(err.msg, ".sfc"),
          "a small buffer is refused naming the file: %s", err.msg);
    CHECK(sermo_cache_read_item(cache, sermo_cache_size(cache), buf, cap, NULL, &err) == SERMO_ERR_INVALID &&
              sermo_cache_read_item(cache, -1, buf, cap, NULL, &err) == SERMO_ERR_INVALID,
          "a bad index is refused: %s", err.msg);
    free(buf);
}

/* RssFile of this process in kB (file pages mapped and resident), -1 when
 * /proc is not there. */
static long rss_file_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssFile:", 8)) kb = strtol(line + 8, NULL, 10);
    if (f) fclose(f);
    return kb;
}

/* A cache of a few MB: a pass of reads must leave none of it resident. */
static void test_resident(void) {
    char sub[600];
    snprintf(sub, sizeof sub, "%s/big", dir);
    mkdir(sub, 0755);
    sermo_corpus *corpus = NULL;
    sermo_cache *cache = tt_make_cache(sub, 400, 128, &corpus);
    CHECK(cache != NULL, "a larger cache");
    if (!cache) return;
    int32_t F = sermo_cache_n_bins(cache);
    size_t cap = (size_t)F * (size_t)sermo_cache_max_frames(cache), floats = 0;
    float *buf = malloc(sizeof(float) * cap);
    sermo_error err;
    long before = rss_file_kb();
    double sum = 0;
    for (int64_t i = 0; i < sermo_cache_size(cache); i++) {
        int64_t n = 0;
        sermo_cache_read_item(cache, i, buf, cap, &n, &err);
        floats += (size_t)F * (size_t)n;
        sum += buf[0];
    }
    long streamed = rss_file_kb();
    for (int64_t i = 0; i < sermo_cache_size(cache); i++) {
        int64_t n = 0;
        const float *v = sermo_cache_item(cache, i, &n);
        for (int64_t k = 0; k < F * n; k += 256) sum += v[k]; /* touch every page */
    }
    long mapped = rss_file_kb();
    long data_kb = (long)(floats * sizeof(float) / 1024);
    fprintf(stderr, "cache data %ld kB; RssFile %ld kB, after reading every item %ld kB, after touching them through "
            "the mapping %ld kB (sum %g)\n", data_kb, before, streamed, mapped, sum);
    if (before >= 0) {
        /* The mapped pass shows that the measure sees file pages at all. */
        CHECK(mapped - streamed > data_kb * 3 / 4, "the mapped pass made %ld of %ld kB resident", mapped - streamed,
              data_kb);
        CHECK(streamed - before < data_kb / 16, "reads left %ld kB of %ld kB resident", streamed - before, data_kb);
    }
    free(buf);
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
}

/* Every augmentation that draws from the data rng: the waveform ones, SpecAugment, mixup. */
static void augment_all(train_options *opt) {
    opt->specaugment = 1;
    opt->freq_mask_param = 4;
    opt->time_mask_param = 6;
    opt->mixup_alpha = 0.4f;
    opt->noise_prob = 0.5f;
    opt->gain_db = 6;
    opt->shift_ms = 20;
}

/* Equal batches, byte for byte; mixed and perm only where mixup is on. */
static int same_batch(const train_batch *a, const train_batch *b, size_t D) {
    if (a->k != b->k) return 0;
    if (a->k <= 0) return 1;
    size_t k = (size_t)a->k;
    int same = !memcmp(a->x, b->x, sizeof(float) * k * D) && !memcmp(a->labels, b->labels, sizeof(int32_t) * k) &&
               !!a->mixed == !!b->mixed && a->lam == b->lam;
    if (same && a->mixed)
        same = !memcmp(a->mixed, b->mixed, sizeof(float) * k * D) && !memcmp(a->perm, b->perm, sizeof(int64_t) * k);
    return same;
}

/* Two epochs from a threaded and a synchronous loader against the loop the
 * loader replaced, run by hand on a third batcher. */
static void test_loader(const tt_setup *su, const train_waves *w, const sermo_feature_params *fp) {
    train_options opt = su->opt;
    augment_all(&opt);
    train_wave_aug aug;
    train_wave_aug_from_options(&aug, &opt);
    float mean[NMEL], std[NMEL];
    sermo_error err;
    CHECK(train_norm_stats(su->cache, su->part, SERMO_PART_TRAIN, mean, std, &err) == SERMO_OK, "%s", err.msg);
    train_batcher bt, bs, bm;
    int ok = !train_batcher_init(&bt, su->cache, su->part, SERMO_PART_TRAIN, T, mean, std, 1, &err) &&
             !train_batcher_init(&bs, su->cache, su->part, SERMO_PART_TRAIN, T, mean, std, 1, &err) &&
             !train_batcher_init(&bm, su->cache, su->part, SERMO_PART_TRAIN, T, mean, std, 1, &err) &&
             !train_batcher_use_waves(&bt, w, &aug, fp, &err) && !train_batcher_use_waves(&bs, w, &aug, fp, &err) &&
             !train_batcher_use_waves(&bm, w, &aug, fp, &err);
    CHECK(ok, "batchers: %s", err.msg);
    train_loader lt, ls;
    ok = ok && !train_loader_init(&lt, &bt, B, &opt, 1, &err) && !train_loader_init(&ls, &bs, B, &opt, 0, &err);
    CHECK(ok, "loaders: %s", err.msg);
    size_t D = (size_t)NMEL * T;
    float *x = malloc(sizeof(float) * B * D), *mixed = malloc(sizeof(float) * B * D), *tmp = malloc(sizeof(float) * D);
    int32_t labels[B];
    int64_t perm[B];
    sermo_rng rt, rs, rm;
    sermo_rng_seed(&rt, 99);
    sermo_rng_seed(&rs, 99);
    sermo_rng_seed(&rm, 99);
    train_specaug_params spec = lt.spec;
    int batches = 0, same_sync = 1, same_loop = 1, ends = 1;
    for (int epoch = 0; ok && epoch < 2; epoch++) {
        train_loader_start(&lt, &rt);
        train_loader_start(&ls, &rs);
        train_batcher_epoch(&bm, &rm);
        for (;;) {
            const train_batch *a = train_loader_next(&lt), *s = train_loader_next(&ls);
            /* The synchronous loop of train.c before the loader. */
            train_batch m = {.x = x, .mixed = mixed, .labels = labels, .perm = perm, .lam = 1.0f};
            m.k = train_batcher_next(&bm, &rm, B, x, labels);
            if (m.k > 0) {
                train_specaug(x, m.k, NMEL, T, &spec, &rm);
                memcpy(mixed, x, sizeof(float) * (size_t)m.k * D);
                m.lam = train_mixup(mixed, perm, tmp, m.k, (int64_t)D, opt.mixup_alpha, &rm);
            }
            same_sync &= same_batch(a, s, D);
            same_loop &= same_batch(a, &m, D);
            if (a->k <= 0 || m.k <= 0) {
                ends &= a->k == 0 && m.k == 0;
                break;
            }
            batches++;
        }
    }
    CHECK(batches == 2 * 4, "%d batches in 2 epochs of 30 items", batches);
    CHECK(ends, "the epochs ended cleanly: %s", bt.err.msg);
    CHECK(same_sync, "threaded and synchronous loaders give the same batches");
    CHECK(same_loop, "the loader gives the synchronous loop's batches");
    CHECK(!memcmp(&rt, &rm, sizeof rt) && !memcmp(&rs, &rm, sizeof rs), "the rng ends where the loop left it");
    /* Stopping mid-epoch joins the job in flight; freeing joins too. */
    train_loader_start(&lt, &rt);
    train_loader_next(&lt);
    train_loader_stop(&lt);
    CHECK(!lt.in_flight, "stop waits for the job in flight");
    train_loader_start(&lt, &rt);
    train_loader_free(&lt);
    train_loader_free(&ls);
    train_batcher_free(&bt);
    train_batcher_free(&bs);
    train_batcher_free(&bm);
    free(x);
    free(mixed);
    free(tmp);
}

static sermo_status run(train_options *opt, const train_data *data, const char *name, train_result *res,
                        sermo_error *err) {
    snprintf(opt->out_dir, sizeof opt->out_dir, "%s/%s", dir, name);
    mkdir(opt->out_dir, 0755);
    return train_run(opt, data, NULL, NULL, res, err);
}

static void test_runs(const tt_setup *su, const train_waves *w, const sermo_feature_params *fp) {
    train_options opt = su->opt;
    train_data data = su->data;
    data.waves = w;
    data.features = fp;
    opt.epochs = 3;
    augment_all(&opt);
    train_result a, b;
    sermo_error err;
    opt.sync_batches = 0;
    CHECK(run(&opt, &data, "loader", &a, &err) == SERMO_OK, "%s", err.msg);
    opt.sync_batches = 1;
    CHECK(run(&opt, &data, "sync", &b, &err) == SERMO_OK, "%s", err.msg);
    char ra[600], rb[600];
    snprintf(ra, sizeof ra, "%s/loader", dir);
    snprintf(rb, sizeof rb, "%s/sync", dir);
    CHECK(tt_same_file(ra, rb, "checkpoint.safetensors") && tt_same_file(ra, rb, "model.safetensors"),
          "with and without the loader thread: the same files");
    CHECK(a.best_macro_f1 == b.best_macro_f1 && a.last.train_loss == b.last.train_loss, "same results: %g %g",
          a.last.train_loss, b.last.train_loss);
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    tt_setup su;
    CHECK(tt_setup_init(&su, dir, NCLIP, NMEL) == 0, "synthetic corpus and cache");
    if (!su.cache) return check_report();
    test_read_item(su.cache);
    test_resident();
    sermo_audio_params ap;
    sermo_feature_params fp;
    settings(&ap, &fp, NMEL);
    train_waves w;
    sermo_error err;
    CHECK(train_waves_load(&w, su.corpus, su.part, SERMO_PART_TRAIN, &ap, 2, dir, &err) == SERMO_OK, "%s", err.msg);
    if (w.offset) {
        test_loader(&su, &w, &fp);
        test_runs(&su, &w, &fp);
    }
    train_waves_free(&w);
    tt_setup_free(&su);
    tt_remove_dir(dir);
    return check_report();
}
