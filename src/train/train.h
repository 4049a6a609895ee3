/* train.h: the training loop and its pure parts (internal; used by the CLI).
 *
 * Dimension letters: B batch, F feature rows (mel bins), T frames per batch,
 * L classes. A batch is x (B, 1, F, T) plus labels (B).
 *
 * The learning rate is scheduled PER EPOCH: epoch e trains with
 * train_schedule_lr(s, e) for every batch, as torch's schedulers stepped once
 * after each epoch. */
#ifndef SERMO_TRAIN_H
#define SERMO_TRAIN_H

#include "models/model.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- schedule */

/* Linear warm-up then cosine annealing, the values of
 *   SequentialLR([LinearLR(start_factor=warmup_start, end_factor=1, total_iters=W),
 *                 CosineAnnealingLR(T_max=epochs - W, eta_min=min_lr)], milestones=[W])
 * (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html)
 * in closed form:
 *   e < W:  lr * (warmup_start + (1 - warmup_start) * e / W)
 *   e >= W: min_lr + (lr - min_lr) * (1 + cos(pi * (e - W) / (epochs - W))) / 2
 * W = 0 gives the cosine alone; epochs <= W keeps lr after the warm-up. */
typedef struct train_schedule {
    double lr, min_lr;
    int32_t warmup_epochs;
    double warmup_start; /* LinearLR start_factor, in (0, 1] */
    int32_t epochs;
} train_schedule;

double train_schedule_lr(const train_schedule *s, int32_t epoch);

/* ---------------------------------------------------------------- clipping */

/* torch.nn.utils.clip_grad_norm_ (norm_type 2): total = ||grad||_2 over all
 * n floats; when max_norm / (total + 1e-6) < 1 every gradient is scaled by it.
 * Returns total (before clipping). max_norm <= 0 only measures. */
float train_clip_grad_norm(float *grad, size_t n, float max_norm);

/* ---------------------------------------------------------- early stopping */

/* Tracks the best validation metric (higher is better). patience 0 never stops. */
typedef struct train_early_stop {
    int32_t patience;
    float best;         /* -INFINITY before the first update */
    int32_t best_epoch; /* -1 before the first update */
    int32_t bad_epochs; /* epochs since the best */
} train_early_stop;

void train_early_stop_init(train_early_stop *es, int32_t patience);
/* Returns 1 when metric beats the best strictly (the new best), else 0. */
int train_early_stop_update(train_early_stop *es, int32_t epoch, float metric);
/* 1 once patience epochs in a row brought no improvement. */
int train_early_stop_done(const train_early_stop *es);

/* ----------------------------------------------------------------- metrics */

/* Accuracy and macro-F1 (sklearn's f1_score(average='macro'): the mean of
 * 2TP / (2TP + FP + FN) over the classes present in labels or predictions). */
void train_metrics(const int32_t *pred, const int32_t *labels, int64_t n, int32_t L, float *accuracy,
                   float *macro_f1);
/* Index of the largest of L logits (first on ties). */
int32_t train_argmax(const float *logits, int32_t L);

/* ----------------------------------------------------------------- batcher */

/* Per-bin mean and standard deviation (population) over every frame of the
 * items whose part[i] == which; std below 1e-5 becomes 1. mean, std: (F). */
sermo_status train_norm_stats(const sermo_cache *cache, const int8_t *part, int8_t which, float *mean,
                              float *std, sermo_error *err);

/* Batches of a fixed T frames over the items of one part. Each item is
 * normalised with (v - mean) / std, then
 *   longer than T:  training crops a random window (offset uniform in
 *                   [0, n - T] from the rng), evaluation the centred window
 *                   (offset (n - T) / 2);
 *   shorter than T: the item starts at frame 0 and the rest is 0, i.e. the
 *                   mean after normalisation.
 * Training visits the items in a new random order each epoch (Fisher-Yates
 * from the rng); evaluation keeps corpus order. The last batch of an epoch
 * may be smaller than B, so each item is seen exactly once per epoch. */
typedef struct train_batcher {
    const sermo_cache *cache;
    int32_t F, T;
    int train;
    int64_t n;      /* items in the part */
    int64_t *order; /* (n) cache indices, in this epoch's order */
    int64_t pos;    /* next position in order */
    const float *mean, *std; /* (F), borrowed */
} train_batcher;

sermo_status train_batcher_init(train_batcher *b, const sermo_cache *cache, const int8_t *part, int8_t which,
                                int32_t T, const float *mean, const float *std, int train, sermo_error *err);
void train_batcher_free(train_batcher *b);
/* Starts an epoch: shuffles (training) from rng, rewinds. */
void train_batcher_epoch(train_batcher *b, sermo_rng *rng);
/* Fills up to B items: x (B, 1, F, T), labels (B). Crops draw from rng.
 * Returns the batch size, 0 at the end of the epoch. */
int train_batcher_next(train_batcher *b, sermo_rng *rng, int B, float *x, int32_t *labels);
/* One normalised window: out (F, T) from v (F, n) starting at frame start;
 * frames past the item's end are 0 (the mean after normalisation). */
void train_window(float *out, const float *v, int64_t n, int32_t F, int32_t T, int64_t start, const float *mean,
                  const float *std);
/* Batches per epoch for batch size B. */
int64_t train_batcher_n_batches(const train_batcher *b, int B);

/* ------------------------------------------------------------------- loop */

typedef struct train_options {
    char model[64];        /* model: registry name, "cnn3" */
    int32_t epochs;        /* train.epochs: 30 */
    int32_t batch_size;    /* train.batch_size: 32 */
    float lr;              /* train.lr: 1e-3 */
    float weight_decay;    /* train.weight_decay: 1e-2 (AdamW's default) */
    int32_t warmup_epochs; /* train.warmup_epochs: 2 */
    float warmup_start;    /* train.warmup_start: 0.1, LinearLR's start_factor */
    float min_lr;          /* train.min_lr: 1e-5 */
    float clip_norm;       /* train.clip_norm: 5; 0 disables */
    int32_t patience;      /* train.patience: 10; 0 disables early stopping */
    int32_t frames;        /* train.frames: 300 (T, 3 s at a 10 ms hop) */
    float dropout;         /* train.dropout: 0.3 */
    float label_smoothing; /* train.label_smoothing: 0.1 */
    uint64_t seed;         /* train.seed: 42 (parameters, shuffling, crops, dropout) */
    int32_t threads;       /* train.threads: 0 = all cores */
    char out_dir[1024];    /* train.out_dir: "runs/default" */
    int32_t resume;        /* train.resume: 0; 1 continues from out_dir/checkpoint.safetensors */
} train_options;

void train_options_default(train_options *opt);
/* Applies "model" (or "model.name") and every "train.*" key on top of *opt;
 * an unknown train.* key or a bad value is SERMO_ERR_INVALID naming the key. */
sermo_status train_options_from_config(const sermo_config *config, train_options *opt, sermo_error *err);

/* One line of history.csv. */
typedef struct train_epoch_result {
    int32_t epoch;
    float lr, train_loss, train_acc, val_loss, val_acc, val_macro_f1;
    double seconds;
} train_epoch_result;

/* What the progress callback sees after each training batch (epoch_done
 * NULL) and once more after each epoch's validation (epoch_done set). */
typedef struct train_progress {
    int32_t epoch, epochs;
    int64_t batch, n_batches;
    float loss, accuracy; /* of this batch */
    float lr;
    const train_epoch_result *epoch_done;
} train_progress;

/* Returning non-zero asks the loop to stop after the current epoch (its
 * checkpoint is written, so `resume` continues from there), e.g. on SIGINT. */
typedef int (*train_progress_fn)(const train_progress *p, void *user_data);

typedef struct train_result {
    int32_t epochs_run;   /* epochs finished in total (with resumed ones) */
    int32_t best_epoch;
    float best_macro_f1;
    int stopped_early;    /* patience ran out */
    int interrupted;      /* the callback asked to stop */
    train_epoch_result last;
} train_result;

/* Caller metadata entries a model file carries at most. */
#define TRAIN_META_MAX 256

/* Data for one run: cache items with part[i] = SERMO_PART_TRAIN / _VAL. */
typedef struct train_data {
    const sermo_cache *cache;
    const int8_t *part;
    int32_t n_classes;
    const char *const *class_names; /* (n_classes), stored in the model file */
    /* Extra metadata for the model file (feature settings, config ...); at most TRAIN_META_MAX. */
    const char *const *meta_keys, *const *meta_values;
    int n_meta;
} train_data;

/* Trains opt->model; writes out_dir/history.csv, out_dir/model.safetensors
 * (best val macro-F1: parameters by name, "norm.mean"/"norm.std", metadata)
 * and out_dir/checkpoint.safetensors after every epoch. out_dir must exist.
 * With one thread, the same options give bit-identical files (but seconds),
 * and resuming gives what an uninterrupted run gives. */
sermo_status train_run(const train_options *opt, const train_data *data, train_progress_fn progress,
                       void *user_data, train_result *result, sermo_error *err);

/* ------------------------------------------------ checkpoint (internal) */

/* Everything beyond the model that a resumed run needs. */
typedef struct train_state {
    int32_t next_epoch;
    sermo_rng rng; /* shuffling and crops */
    train_early_stop es;
} train_state;

/* model.safetensors: parameters and buffers by name, "norm.mean"/"norm.std" (F),
 * metadata: model, labels (comma-joined), n_bins, frames, epoch, val_macro_f1
 * and the caller's keys. Written atomically. */
sermo_status train_save_model(const char *path, const model *m, const train_options *opt,
                              const train_data *data, const float *mean, const float *std, int32_t epoch,
                              float macro_f1, sermo_error *err);
/* Adds (or replaces) metadata entries of a written model file, atomically;
 * e.g. the test metrics once training has ended. */
sermo_status train_model_set_meta(const char *path, const char *const *keys, const char *const *values, int n,
                                  sermo_error *err);
/* checkpoint.safetensors: the model's tensors, AdamW m and v ("adamw.m.<name>",
 * "adamw.v.<name>"), normalisation, "rng.train"/"rng.model" (U64 4), metadata
 * with the step, epoch and early-stopping state (floats as C99 hex, exact). */
sermo_status train_save_checkpoint(const char *path, const model *m, const nn_adamw *adamw,
                                   const train_state *state, const float *mean, const float *std,
                                   sermo_error *err);
/* Restores what train_save_checkpoint wrote into a model of the same name and
 * shapes; mean/std (F) receive the saved statistics. */
sermo_status train_load_checkpoint(const char *path, model *m, nn_adamw *adamw,
                                   train_state *state, float *mean, float *std, sermo_error *err);

#endif
