/* loader.c: double-buffered batch assembly on a loader thread (train.h,
 * train_loader), so reading, cropping, the waveform-augmentation feature
 * rebuild, SpecAugment and mixup overlap the step that computes on the
 * batch before.
 *
 * One job per batch, each on a thread of its own, joined before its batch is
 * used: the create/join pair is the whole hand-over (it orders memory both
 * ways), there is no queue or condition variable to get wrong, and a thread
 * costs tens of microseconds against a step of tens of milliseconds at least.
 * B batch, F feature rows, T frames. */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

/* Every draw of one batch, in the order the synchronous loop made them. */
static void loader_fill(train_loader *l, train_batch *batch) {
    train_batcher *b = l->b;
    batch->lam = 1.0f;
    batch->k = train_batcher_next(b, l->rng, l->B, batch->x, batch->labels);
    if (batch->k <= 0) return;
    if (l->specaug) train_specaug(batch->x, batch->k, b->F, b->T, &l->spec, l->rng);
    if (batch->mixed) {
        /* x stays clean (after SpecAugment) for the reported training accuracy. */
        memcpy(batch->mixed, batch->x, sizeof(float) * (size_t)batch->k * b->F * b->T);
        batch->lam = train_mixup(batch->mixed, batch->perm, l->mix_tmp, batch->k, (int64_t)b->F * b->T,
                                 l->mixup_alpha, l->rng);
    }
}

static void *loader_job(void *arg) {
    train_loader *l = arg;
    loader_fill(l, &l->batches[l->filling]);
    return NULL;
}

/* Starts filling batches[which]: on the loader thread, or inline when
 * synchronous or when no thread can be made (the same batch either way). */
static void loader_launch(train_loader *l, int which) {
    l->filling = which;
    l->in_flight = 1;
    l->thread_live = l->threaded && pthread_create(&l->thread, NULL, loader_job, l) == 0;
    if (!l->thread_live) loader_fill(l, &l->batches[which]);
}

void train_loader_stop(train_loader *l) {
    if (l->in_flight && l->thread_live) pthread_join(l->thread, NULL);
    l->in_flight = 0;
    l->thread_live = 0;
}

sermo_status train_loader_init(train_loader *l, train_batcher *b, int B, const train_options *opt, int threaded,
                               sermo_error *err) {
    memset(l, 0, sizeof *l);
    l->b = b;
    l->B = B;
    l->threaded = threaded;
    if (opt) {
        train_specaug_default_params(&l->spec);
        l->specaug = opt->specaugment;
        l->spec.n_freq_masks = opt->freq_masks;
        l->spec.freq_mask_param = opt->freq_mask_param;
        l->spec.n_time_masks = opt->time_masks;
        l->spec.time_mask_param = opt->time_mask_param;
        l->mixup_alpha = opt->mixup_alpha;
    }
    size_t D = (size_t)b->F * (size_t)b->T;
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        train_batch *t = &l->batches[i];
        t->x = sermo_alloc(sizeof(float) * (size_t)B * D, err, "batch loader");
        t->labels = sermo_alloc(sizeof(int32_t) * (size_t)B, err, "batch loader");
        t->perm = sermo_alloc(sizeof(int64_t) * (size_t)B, err, "batch loader");
        if (l->mixup_alpha > 0) t->mixed = sermo_alloc(sizeof(float) * (size_t)B * D, err, "batch loader");
        ok = ok && t->x && t->labels && t->perm && (l->mixup_alpha <= 0 || t->mixed);
    }
    if (l->mixup_alpha > 0) ok = ok && (l->mix_tmp = sermo_alloc(sizeof(float) * D, err, "batch loader"));
    if (!ok) {
        train_loader_free(l);
        return SERMO_ERR_NOMEM;
    }
    return SERMO_OK;
}

void train_loader_free(train_loader *l) {
    train_loader_stop(l);
    for (int i = 0; i < 2; i++) {
        free(l->batches[i].x);
        free(l->batches[i].mixed);
        free(l->batches[i].labels);
        free(l->batches[i].perm);
    }
    free(l->mix_tmp);
    memset(l, 0, sizeof *l);
}

void train_loader_start(train_loader *l, sermo_rng *rng) {
    train_loader_stop(l);
    l->rng = rng;
    train_batcher_epoch(l->b, rng);
    loader_launch(l, 0);
}

const train_batch *train_loader_next(train_loader *l) {
    int ready = l->filling;
    train_loader_stop(l);
    const train_batch *batch = &l->batches[ready];
    /* The next batch goes into the other buffer while the caller uses this
     * one; none after the end, so the rng stops where the epoch ends. */
    if (batch->k > 0) loader_launch(l, 1 - ready);
    return batch;
}
