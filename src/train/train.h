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

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- schedule */

/* Which schedule follows the warm-up (train.schedule). */
typedef enum train_schedule_kind {
    TRAIN_SCHEDULE_COSINE = 0, /* "cosine" */
    TRAIN_SCHEDULE_RESTARTS,   /* "restarts" */
    TRAIN_SCHEDULE_STEP,       /* "step" */
} train_schedule_kind;

/* An optional linear warm-up, then one of three schedules, as torch's
 *   SequentialLR([LinearLR(start_factor=warmup_start, end_factor=1, total_iters=W), S],
 *                milestones=[W])
 * stepped once per epoch. With e' = e - W (the epochs since the warm-up):
 *   e < W:    lr * (warmup_start + (1 - warmup_start) * e / W)
 *   cosine:   S = CosineAnnealingLR(T_max=epochs - W, eta_min=min_lr)
 *             min_lr + (lr - min_lr) * (1 + cos(pi * e' / (epochs - W))) / 2;
 *             epochs <= W keeps lr after the warm-up
 *             (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html)
 *   restarts: S = CosineAnnealingWarmRestarts(T_0=restart_t0, T_mult=restart_t_mult, eta_min=min_lr)
 *             min_lr + (lr - min_lr) * (1 + cos(pi * T_cur / T_i)) / 2, where the
 *             periods are T_0, T_0*T_mult, T_0*T_mult^2 ... and T_cur is e' minus
 *             the periods already completed
 *             (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingWarmRestarts.html)
 *   step:     S = StepLR(step_size, gamma=step_gamma)
 *             lr * step_gamma^floor(e' / step_size); min_lr is not used
 *             (https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html)
 * W = 0 gives the schedule alone. A zeroed kind is the cosine, so older
 * initialisers keep their meaning. */
typedef struct train_schedule {
    double lr, min_lr;
    int32_t warmup_epochs;
    double warmup_start; /* LinearLR start_factor, in (0, 1] */
    int32_t epochs;
    train_schedule_kind kind;
    int32_t restart_t0, restart_t_mult; /* restarts: >= 1 each */
    int32_t step_size;                  /* step: >= 1 */
    double step_gamma;
} train_schedule;

double train_schedule_lr(const train_schedule *s, int32_t epoch);

/* ------------------------------------------------------------------ losses */

/* Which training loss (train.loss). */
typedef enum train_loss_kind {
    TRAIN_LOSS_CE = 0, /* "ce" */
    TRAIN_LOSS_FOCAL,  /* "focal" */
} train_loss_kind;

typedef struct train_loss {
    train_loss_kind kind;
    float label_smoothing;      /* s in [0, 1) */
    float focal_gamma;          /* gamma >= 0; focal only */
    const float *class_weights; /* (L) all > 0, or NULL for ones; borrowed */
} train_loss;

/* Mean loss over the B rows of logits (B, L); writes dlogits (B, L) (the
 * gradient of that mean) when dlogits is not NULL. With q_ik = (1 - s)[k = y_i]
 * + s / L the smoothed target, w the class weights (ones when NULL),
 * p_i = softmax(z_i) and gamma = 0 for "ce":
 *   loss = sum_i sum_k q_ik w_k (1 - p_ik)^gamma (-log p_ik) / sum_i w_{y_i}
 * With gamma = 0 this is exactly torch 1.13's
 *   CrossEntropyLoss(weight=w, label_smoothing=s)  (mean reduction)
 * which divides both its NLL part and its smoothing part by the summed
 * weights of the targets (aten/src/ATen/native/LossNLL.cpp,
 * cross_entropy_loss_label_smoothing). With gamma > 0 it is the focal loss
 * FL = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, eq. 5; alpha_t = w_y)
 * applied to every class in proportion to its smoothed target and normalised
 * like torch's weighted mean, so gamma = 0 falls back to the cross-entropy.
 * No weights and gamma = 0 is nn_cross_entropy_forward itself. */
float train_loss_forward(float *dlogits, const train_loss *loss, const float *logits, const int32_t *labels, int B,
                         int L);

/* sklearn's compute_class_weight("balanced"): w_c = n / (L * counts[c]) with n
 * the sum of counts. Returns -1, or the first class with no samples (sklearn
 * raises then; w is left unset). w, counts: (L). */
int32_t train_class_weights_balanced(float *w, const int64_t *counts, int32_t L);

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
 * items whose part[i] == which; std below 1e-5 becomes 1. mean, std: (F).
 * Reads one item at a time into a buffer of its own (sermo_cache_read_item). */
sermo_status train_norm_stats(const sermo_cache *cache, const int8_t *part, int8_t which, float *mean,
                              float *std, sermo_error *err);

/* Waveform augmentation settings (train.speed, noise_prob, noise_snr_min/max,
 * gain_db, shift_ms); every field 0 but the SNRs is off. */
typedef struct train_wave_aug {
    float speed;                  /* train_wave_speed at a rate uniform in [1 - speed, 1 + speed) */
    float noise_prob;             /* train_wave_add_noise's p */
    float snr_min_db, snr_max_db; /* its SNR range */
    float gain_db;                /* train_wave_gain in [-gain_db, gain_db) */
    float shift_ms;               /* train_wave_shift by up to round(shift_ms * rate / 1000)
                                     samples, zeros shifted in (not circular) */
} train_wave_aug;

/* Speed perturbation (Ko et al., "Audio augmentation for speech
 * recognition", Interspeech 2015): out(j) = in(j * rate) by linear
 * interpolation, floor((n - 1) / rate) + 1 samples (0 for n = 0), so pitch,
 * formants and tempo all scale by rate, as another speaker's would. A rate
 * above 1 folds what lies above rate / 2 of Nyquist back down (no
 * anti-alias filter): speech has little energy there, and this is
 * augmentation. Returns the samples written to out. */
size_t train_wave_speed(const float *in, size_t n, float *out, double rate);

typedef struct train_options train_options;
/* The train.* augmentation keys of opt; 1 when any augmentation is on. */
int train_wave_aug_from_options(train_wave_aug *aug, const train_options *opt);

/* The processed PCM (decode -> resample -> trim -> fixed duration: exactly
 * what the feature cache was computed from, sermo_audio_load_file with the
 * same sermo_audio_params) of some cache items, decoded once, not once per
 * epoch, into an unlinked temporary file that items are read back from
 * (pread), so the process holds one clip at a time however large the
 * corpus: in memory, RAVDESS's training audio alone was about 200 MB. */
typedef struct train_waves {
    int64_t n_items;     /* cache items */
    int64_t *offset;     /* (n_items) first sample in the file; -1 for items not loaded */
    int64_t *n;          /* (n_items) samples; 0 for items not loaded */
    int64_t max_n;       /* the longest item's samples */
    int fd;              /* the temporary file, float32 samples; -1 when none */
    int32_t sample_rate;
    size_t bytes;        /* PCM stored, for reporting */
} train_waves;

/* Loads the items of corpus (= cache index order) with part[i] == which,
 * threads at once (0: all cores), into a temporary file in dir (NULL:
 * $TMPDIR, else /tmp), removed from the folder at once so nothing is left
 * behind. Decodes in chunks: memory holds one chunk of clips at a time. */
sermo_status train_waves_load(train_waves *w, const sermo_corpus *corpus, const int8_t *part, int8_t which,
                              const sermo_audio_params *ap, int32_t threads, const char *dir, sermo_error *err);
/* 1 when item i was loaded. */
int train_waves_has(const train_waves *w, int64_t i);
/* Reads item i's w->n[i] samples into pcm. */
sermo_status train_waves_read(const train_waves *w, int64_t i, float *pcm, sermo_error *err);
void train_waves_free(train_waves *w);

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
    float *item;    /* (F, cache max frames): the item read from the cache */
    /* Waveform path (train_batcher_use_waves): items are rebuilt from PCM. */
    const train_waves *waves; /* borrowed; NULL: cached features */
    train_wave_aug aug;
    sermo_features *feat;  /* the cache's feature plan */
    float *pcm;            /* (max samples) scratch */
    float *feats;          /* (F, max frames) scratch */
    sermo_error err;       /* why train_batcher_next returned -1 */
} train_batcher;

sermo_status train_batcher_init(train_batcher *b, const sermo_cache *cache, const int8_t *part, int8_t which,
                                int32_t T, const float *mean, const float *std, int train, sermo_error *err);
void train_batcher_free(train_batcher *b);
/* Starts an epoch: shuffles (training) from rng, rewinds. */
void train_batcher_epoch(train_batcher *b, sermo_rng *rng);
/* Fills up to B items: x (B, 1, F, T), labels (B). Crops draw from rng.
 * Items are read from the cache with sermo_cache_read_item (no mapped pages
 * stay resident). Returns the batch size, 0 at the end of the epoch, -1 when
 * reading or the waveform path failed (b->err says why). */
int train_batcher_next(train_batcher *b, sermo_rng *rng, int B, float *x, int32_t *labels);
/* One normalised window: out (F, T) from v (F, n) starting at frame start;
 * frames past the item's end are 0 (the mean after normalisation). */
void train_window(float *out, const float *v, int64_t n, int32_t F, int32_t T, int64_t start, const float *mean,
                  const float *std);
/* Batches per epoch for batch size B. */
int64_t train_batcher_n_batches(const train_batcher *b, int B);
/* Switches a training batcher to the waveform path: each item is rebuilt
 * from w's PCM, augmented by aug, turned into features with fp (the
 * cache's settings, so n_bins and frame counts match the cache's), then
 * normalised and cropped as before. Per item the draws from the rng are, in
 * this order: the speed rate (one, when speed > 0), train_wave_add_noise (when noise_prob > 0: u, then the SNR and
 * the noise when u < p), train_wave_gain (one, when gain_db > 0),
 * train_wave_shift (one, when shift_ms > 0), then the crop offset (when the
 * item is longer than T). With every setting off the features are those of
 * the cache (to float rounding) and the draws are the cached path's. */
sermo_status train_batcher_use_waves(train_batcher *b, const train_waves *w, const train_wave_aug *aug,
                                     const sermo_feature_params *fp, sermo_error *err);
/* Item i's features from its PCM after aug: out (F, *n_frames), pcm scratch
 * (train_wave_pcm_floats) receives the augmented samples at its start. */
sermo_status train_wave_features(const train_waves *w, int64_t i, const train_wave_aug *aug, sermo_features *feat,
                                 sermo_rng *rng, float *pcm, float *out, int64_t *n_frames, sermo_error *err);
/* Floats of pcm scratch train_wave_features needs for any item of w: its
 * longest clip, and with speed on room for the clip slowed down as well. */
size_t train_wave_pcm_floats(const train_waves *w, const train_wave_aug *aug);

/* ------------------------------------------------------- parameter groups */

/* The optimizer group of a parameter-table entry: train_groups_init writes
 * it into the table's group field (STYLE.md item 2), so AdamW, clipping and
 * checkpoints stay flat loops over the table. */
typedef enum train_group {
    TRAIN_GROUP_HEAD = 0, /* lr */
    TRAIN_GROUP_BACKBONE, /* lr * backbone_lr_mult */
    TRAIN_GROUP_SLOW,     /* lr * slow_lr_mult */
    TRAIN_GROUP_FROZEN,   /* lr 0, weight decay 0, gradient zeroed: never changed */
    TRAIN_GROUP_COUNT
} train_group;

/* The rule, first match wins, for an entry `name` of block `block` (nn_param.block:
 * 0 the stem, 1, 2 ... the blocks, -1 the head):
 *   frozen    name matches a train.freeze prefix, or 0 <= block < freeze_blocks
 *   slow      freeze_blocks <= block < slow_blocks
 *   head      block < 0
 *   backbone  otherwise
 * So lr x slow_lr_mult / x backbone_lr_mult / x 1 is the three-tier
 * fine-tuning recipe. A prefix matches the name itself or the name followed
 * by '.', so "conv1" covers "conv1.weight" but not "conv10.weight". */
train_group train_group_of(const train_options *opt, const char *name, int32_t block);
/* Writes every parameter's group (the family's is replaced), checks that
 * each train.freeze prefix matches a parameter and that some parameter still
 * trains, and gives adamw TRAIN_GROUP_COUNT groups. A frozen entry with a
 * zero gradient, lr 0 and decay 0 stays bit for bit (w *= 1, m = v = 0,
 * w -= 0); BN running statistics are buffers and still move. */
sermo_status train_groups_init(const train_options *opt, model *m, nn_adamw *adamw, sermo_error *err);
/* Each group's lr for an epoch: lr (the schedule's) times its multiplier. */
void train_groups_set_lr(const train_options *opt, nn_adamw *adamw, double lr);
/* Zeroes the gradients of frozen entries (before clipping, so they do not
 * count in the norm). */
void train_groups_zero_frozen(nn_params *p);

/* ---------------------------------------------------------------- init_from */

/* model.init_from: copies every tensor of path (a safetensors file, e.g. a
 * model.safetensors of sermo train) whose name is a parameter or buffer of
 * m. A tensor of that name with another shape or dtype is SERMO_ERR_INVALID
 * naming both shapes; no tensor matching at all is SERMO_ERR_INVALID. Writes
 * the tensors copied and the tensors in path. */
sermo_status train_init_from(model *m, const char *path, int32_t *copied, int32_t *total, sermo_error *err);

/* ------------------------------------------------------------------- loop */

/* train.class_weights. */
typedef enum train_weights_kind {
    TRAIN_WEIGHTS_NONE = 0, /* "none" */
    TRAIN_WEIGHTS_BALANCED, /* "balanced": from the training part's label counts */
    TRAIN_WEIGHTS_LIST,     /* "1, 2.5, ...": exactly L numbers, checked by train_run */
} train_weights_kind;
#define TRAIN_MAX_CLASS_WEIGHTS 256

struct train_options {
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
    int32_t average_last;  /* train.average_last: 0 (off); N saves the mean of the last N epochs' weights */
    int32_t frames;        /* train.frames: 300 (T, 3 s at a 10 ms hop) */
    float dropout;         /* train.dropout: 0.3 */
    float label_smoothing; /* train.label_smoothing: 0.1 */
    int32_t loss;          /* train.loss: TRAIN_LOSS_CE ("ce") or TRAIN_LOSS_FOCAL ("focal") */
    float focal_gamma;     /* train.focal_gamma: 2 */
    int32_t class_weights; /* train.class_weights: TRAIN_WEIGHTS_NONE ("none"), _BALANCED, _LIST */
    int32_t n_class_weights;                       /* _LIST: entries given */
    float class_weight_list[TRAIN_MAX_CLASS_WEIGHTS]; /* _LIST: (n_class_weights), all > 0 */
    int32_t schedule;       /* train.schedule: a train_schedule_kind, "cosine" */
    int32_t restart_t0;     /* train.restart_t0: 10 */
    int32_t restart_t_mult; /* train.restart_t_mult: 1 */
    int32_t step_size;      /* train.step_size: 10 */
    float step_gamma;       /* train.step_gamma: 0.1 */
    int32_t specaugment;    /* train.specaugment: 0; 1 masks each training batch (train_specaug) */
    int32_t freq_masks, freq_mask_param; /* train.freq_masks 2, train.freq_mask_param 8 */
    int32_t time_masks, time_mask_param; /* train.time_masks 2, train.time_mask_param 30 */
    float mixup_alpha;      /* train.mixup_alpha: 0 (off); Beta(alpha, alpha) mixing (train_mixup) */
    uint64_t seed;         /* train.seed: 42 (parameters, shuffling, crops, dropout, augmentation) */
    int32_t threads;       /* train.threads: 0 = all cores */
    char out_dir[1024];    /* train.out_dir: "runs/default" */
    int32_t resume;        /* train.resume: 0; 1 continues from out_dir/checkpoint.safetensors */
    /* model.*: the family options of model_config (channels, image_size,
     * batchnorm, size, drop_path, head, head_hidden; zero = the family's
     * default); train_run fills in the sizes, threads and dropout. */
    model_config net;
    char init_from[1024];  /* model.init_from: "" none; a model.safetensors to start from */
    /* Parameter groups (train_group_of). */
    char freeze[1024];       /* train.freeze: "" or comma list of parameter-name prefixes */
    int32_t freeze_blocks;   /* train.freeze_blocks: 0; blocks 0 .. N-1 frozen */
    int32_t slow_blocks;     /* train.slow_blocks: 0; blocks freeze_blocks .. N-1 at lr * slow_lr_mult */
    float slow_lr_mult;      /* train.slow_lr_mult: 0.01 */
    float backbone_lr_mult;  /* train.backbone_lr_mult: 1; other non-head entries */
    /* Waveform augmentation of the training items (train_wave_aug). */
    float speed;             /* train.speed: 0 (off); rate uniform in 1 +- speed */
    float noise_prob;        /* train.noise_prob: 0 (off) */
    float noise_snr_min, noise_snr_max; /* train.noise_snr_min 10, train.noise_snr_max 30 (dB) */
    float gain_db;           /* train.gain_db: 0 (off); gain uniform in [-gain_db, gain_db) dB */
    float shift_ms;          /* train.shift_ms: 0 (off); shift uniform in +-shift_ms */
    /* Not a config key: 1 assembles every batch on the training thread
     * (no loader thread), for comparisons; the results are the same. */
    int32_t sync_batches;
};

void train_options_default(train_options *opt);
/* Applies "model" (or "model.name") and every "train.*" key on top of *opt;
 * an unknown train.* key or a bad value is SERMO_ERR_INVALID naming the key. */
sermo_status train_options_from_config(const sermo_config *config, train_options *opt, sermo_error *err);

/* Calls item(s, len, ctx) on each item of a comma list ("a, b ,c"; spaces
 * around items dropped; item may be NULL). Returns the count (0 for ""), or
 * -1 at an empty item or when item returns non-zero. */
int train_list_each(const char *list, int (*item)(const char *s, size_t len, void *ctx), void *ctx);

/* The model.* family keys of config into *net (its other fields untouched)
 * and model.init_from into init_from (init_size bytes; NULL ignores it).
 * Shared by train_options_from_config and sermo_model_load, which rebuilds
 * a model from the "config.model.*" metadata of its file. "" and "default"
 * leave a key at the family's default; model.name is accepted and left to
 * the caller. An unknown model.* key or a bad value is SERMO_ERR_INVALID
 * naming the key. */
sermo_status train_model_options_from_config(const sermo_config *config, model_config *net, char *init_from,
                                             size_t init_size, sermo_error *err);

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
    /* model.init_from: on one call before the first epoch (batch 0,
     * epoch_done NULL) init_from is the path, with the tensors copied and
     * the tensors in the file; NULL on every other call. */
    const char *init_from;
    int32_t init_copied, init_total;
} train_progress;

/* Returning non-zero asks the loop to stop after the current epoch (its
 * checkpoint is written, so `resume` continues from there), e.g. on SIGINT. */
typedef int (*train_progress_fn)(const train_progress *p, void *user_data);

/* Early stopping (train.patience > 0) needs validation clips in part (n items). */
sermo_status train_check_validation(const train_options *opt, const int8_t *part, int64_t n, sermo_error *err);

typedef struct train_result {
    int32_t epochs_run;   /* epochs finished in total (with resumed ones) */
    int validated;        /* 0: the split had no validation clips; the model is the last epoch's */
    int32_t best_epoch;   /* the epoch saved: best on validation, or the last */
    float best_macro_f1;
    int stopped_early;    /* patience ran out */
    int interrupted;      /* the callback asked to stop */
    int32_t init_copied, init_total; /* model.init_from: tensors copied, tensors in the file */
    train_epoch_result last;
    /* train.average_last: the averaged model's validation (its epoch is the
     * last one); averaged is 0 when no average was saved (off, interrupted). */
    int averaged;
    train_epoch_result average;
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
    /* Waveform augmentation (train.noise_prob, gain_db, shift_ms): the
     * processed PCM of the training items and the cache's feature settings.
     * Needed only when one of them is on; validation stays on the cache. */
    const train_waves *waves;
    const sermo_feature_params *features;
} train_data;

/* Trains opt->model; writes out_dir/history.csv, out_dir/model.safetensors
 * (best val macro-F1: parameters by name, "norm.mean"/"norm.std", metadata)
 * and out_dir/checkpoint.safetensors after every epoch. out_dir must exist.
 * With one thread, the same options give bit-identical files (but seconds),
 * and resuming gives what an uninterrupted run gives. */
sermo_status train_run(const train_options *opt, const train_data *data, train_progress_fn progress,
                       void *user_data, train_result *result, sermo_error *err);

/* The "format" metadata of an ensemble file (ensemble.c, predictor.c). */
#define SERMO_ENSEMBLE_FORMAT "sermo-ensemble-1"

/* The network a loaded model file rebuilt (predictor.c), for tests; NULL for
 * an ensemble. */
const model *train_predictor_net(const sermo_model *m);

/* ------------------------------------------------ checkpoint (internal) */

/* Everything beyond the model that a resumed run needs. */
typedef struct train_state {
    int32_t next_epoch;
    sermo_rng rng; /* shuffling and crops */
    train_early_stop es;
    /* train.average_last: the running mean of the weights (params.total and
     * buffers.total floats) over the last `averaged` epochs; NULL when off. */
    float *average_params, *average_buffers;
    int32_t averaged;
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
 * with the step, epoch and early-stopping state (floats as C99 hex, exact);
 * with state->averaged > 0 also the running mean ("average.<name>") and
 * "averaged_epochs". */
sermo_status train_save_checkpoint(const char *path, const model *m, const nn_adamw *adamw,
                                   const train_state *state, const float *mean, const float *std,
                                   sermo_error *err);
/* Restores what train_save_checkpoint wrote into a model of the same name and
 * shapes; mean/std (F) receive the saved statistics. The running mean goes to
 * state->average_* when the file has one (SERMO_ERR_INVALID when it has one
 * and they are NULL). */
sermo_status train_load_checkpoint(const char *path, model *m, nn_adamw *adamw,
                                   train_state *state, float *mean, float *std, sermo_error *err);

/* --- augmentation --- */

/* Batch and waveform augmentation (augment.c). Every random number comes
 * from the caller's sermo_rng in the order documented below, so a seed
 * reproduces the result bit for bit. */

/* Random variates. normal: Box-Muller on two uniforms (one value per call).
 * gamma: Gamma(shape, 1) by Marsaglia & Tsang (2000) for shape >= 1; for
 * shape < 1 the boost Gamma(shape + 1) * u^(1/shape). beta: Beta(a, b) as
 * X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b), computed from log X and log Y so
 * small shapes do not give 0/0. shape, a, b > 0. */
double train_rng_normal(sermo_rng *rng);
double train_rng_gamma(sermo_rng *rng, double shape);
double train_rng_beta(sermo_rng *rng, double a, double b);

/* SpecAugment (Park et al. 2019, https://arxiv.org/abs/1904.08779) as
 * torchaudio.transforms.FrequencyMasking / TimeMasking with iid_masks=True
 * applied n_freq_masks / n_time_masks times: every example draws its own
 * masks. */
typedef struct train_specaug_params {
    int32_t n_freq_masks;    /* 2 */
    int32_t freq_mask_param; /* 8: torchaudio's freq_mask_param (F in the paper) */
    int32_t n_time_masks;    /* 2 */
    int32_t time_mask_param; /* 30: torchaudio's time_mask_param (T in the paper) */
    float time_mask_p;       /* 1: in (0, 1]; caps the time mask_param at floor(p * T) */
    float mask_value;        /* 0: the mean after normalisation */
} train_specaug_params;

void train_specaug_default_params(train_specaug_params *p);

/* One mask along an axis of `size` rows/frames, torchaudio's rule
 * (torchaudio.functional.mask_along_axis_iid):
 *   value = u1 * mask_param, min_value = u2 * (size - value),
 *   start = floor(min_value), width = floor(value),
 * u1, u2 uniform in [0, 1) drawn in that order; the mask covers
 * [start, start + width). So width is uniform on {0, ..., mask_param - 1}
 * and start + width <= size. mask_param is first capped at size (torchaudio
 * leaves a larger one unchecked); mask_param < 1 gives width 0, start 0 and
 * draws nothing. */
void train_specaug_draw_mask(sermo_rng *rng, int32_t size, int32_t mask_param, int32_t *start, int32_t *width);

/* Masks x (B, 1, F, T) in place. For each example in order: n_freq_masks
 * frequency masks (size F, param freq_mask_param), then n_time_masks time
 * masks (size T, param min(time_mask_param, floor(time_mask_p * T)) when
 * time_mask_p < 1), each drawn by train_specaug_draw_mask; the masked rows
 * and frames get mask_value, the rest is untouched. */
void train_specaug(float *x, int B, int32_t F, int32_t T, const train_specaug_params *p, sermo_rng *rng);

/* Mixup (Zhang et al. 2018, https://arxiv.org/abs/1710.09412) on a batch x
 * (B, D) in place (D = F * T for a (B, 1, F, T) batch): draws
 * lam ~ Beta(alpha, alpha), then perm (B), a uniform permutation
 * (sermo_rng_shuffle of 0..B-1), and sets
 *   x[b] = lam * x[b] + (1 - lam) * x[perm[b]]   (every right side the input).
 * tmp (D) is scratch. Returns lam. alpha <= 0 draws nothing, returns 1 with
 * the identity perm and leaves x as is. Train with train_mixup_loss. */
float train_mixup(float *x, int64_t *perm, float *tmp, int B, int64_t D, float alpha, sermo_rng *rng);

/* lam * CE(logits, labels) + (1 - lam) * CE(logits, labels[perm]), both
 * nn_cross_entropy_forward (mean over B, label_smoothing), with no scratch:
 * the cross-entropy is linear in the target, so the second term follows from
 * the first in closed form. logits (B, L); labels, perm (B). Returns
 * the loss and, when dlogits is not NULL, WRITES its gradient (B, L). */
float train_mixup_loss(float *dlogits, const float *logits, const int32_t *labels, const int64_t *perm,
                       float lam, int B, int L, float label_smoothing);

/* Waveform augmentation, before feature extraction; pcm (n) in place. */

/* With probability p (u < p, u uniform, drawn first), adds white Gaussian
 * noise at an SNR drawn uniform in [snr_lo_db, snr_hi_db):
 *   SNR_dB = 10 log10(P_signal / P_noise),  P_signal = mean(pcm^2) over the
 *   n samples before noise, P_noise = sigma^2 the noise's variance,
 * i.e. sigma = sqrt(P_signal * 10^(-SNR_dB / 10)); the noise is train_rng_normal
 * pairs (Box-Muller, both values used) times sigma. A silent signal
 * (P_signal = 0) is left unchanged. Returns 1 and *snr_db (may be NULL) when
 * noise was added, else 0. */
int train_wave_add_noise(float *pcm, size_t n, float p, float snr_lo_db, float snr_hi_db, sermo_rng *rng,
                         float *snr_db);

/* Multiplies by 10^(g / 20), g uniform in [lo_db, hi_db) (one draw); every
 * sample becomes (float)(pcm[i] * 10^(g / 20)) computed in double. Returns g. */
float train_wave_gain(float *pcm, size_t n, float lo_db, float hi_db, sermo_rng *rng);

/* Shifts by s samples, s uniform on {-max_shift, ..., max_shift} (one
 * draw): out[i] = in[i - s], positive s delaying the signal. circular: the
 * index wraps mod n; else the samples shifted in are 0. Returns s. */
int64_t train_wave_shift(float *pcm, size_t n, int64_t max_shift, int circular, sermo_rng *rng);

/* ------------------------------------------------------------------ loader */

/* One assembled training (or validation) batch: everything that draws from
 * the data rng is done, so the step only computes. */
typedef struct train_batch {
    int k;           /* items: 0 at the end of the epoch, -1 on failure (the batcher's err says why) */
    float *x;        /* (B, 1, F, T): normalised windows, SpecAugment applied when on */
    float *mixed;    /* (B, 1, F, T): x after mixup; NULL when mixup is off */
    int32_t *labels; /* (B) */
    int64_t *perm;   /* (B) mixup partners */
    float lam;       /* mixup weight: 1 when off */
} train_batch;

/* Double-buffered batch assembly. While the caller computes on the batch
 * train_loader_next returned, a loader thread (pthreads) fills the other
 * buffer with the next one: reading and cropping items, or rebuilding them
 * from the audio (train_batcher_use_waves, the expensive case), then
 * SpecAugment and mixup. Every draw from the rng happens in the loader, in
 * the order the synchronous loop made them (per batch: the batcher's, then
 * SpecAugment's, then mixup's), and only the loader touches the rng and the
 * batcher between train_loader_start and the batch with k <= 0, so batches
 * never depend on timing and threaded == 0 gives the same bytes. A loader
 * never reads past the epoch: the rng a checkpoint saves is the epoch's end. */
typedef struct train_loader {
    train_batcher *b;
    sermo_rng *rng;       /* the epoch's; NULL for evaluation */
    int B, threaded;
    int specaug;          /* apply train_specaug with spec */
    train_specaug_params spec;
    float mixup_alpha;    /* > 0: fill mixed with train_mixup */
    float *mix_tmp;       /* (F * T) mixup scratch */
    train_batch batches[2];
    int filling;          /* the buffer the job in flight fills */
    int in_flight;        /* a job has started and not been waited for */
    int thread_live;      /* the job runs on thread (else it already ran inline) */
    pthread_t thread;
} train_loader;

/* Buffers for batches of B from b; opt gives the training augmentation
 * (train.specaugment, train.mixup_alpha) or is NULL (evaluation: none).
 * threaded 0 assembles each batch inline when train_loader_next is called. */
sermo_status train_loader_init(train_loader *l, train_batcher *b, int B, const train_options *opt, int threaded,
                               sermo_error *err);
void train_loader_free(train_loader *l);
/* Starts an epoch: train_batcher_epoch(b, rng), then the first batch. */
void train_loader_start(train_loader *l, sermo_rng *rng);
/* Waits for the batch in flight, starts the next one into the other buffer
 * (unless this one ended the epoch), returns the ready one: valid until the
 * next call. */
const train_batch *train_loader_next(train_loader *l);
/* Waits for the job in flight, if any: before leaving an epoch early. */
void train_loader_stop(train_loader *l);

#endif
