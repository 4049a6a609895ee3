/* train.c: the training loop. Per epoch: train with AdamW at the epoch's
 * scheduled learning rate times each parameter group's multiplier (groups.c;
 * train.loss: label-smoothed, optionally class-weighted cross-entropy or
 * focal loss; gradient clipping),
 * validate (plain cross-entropy, accuracy, macro-F1), save the model when
 * val macro-F1 improves, append to history.csv, write the checkpoint.
 * A split without validation clips (kfold with data.val_folds=0, a speaker
 * split naming no validation speakers) trains without early stopping and
 * saves every epoch: the model is the last one's; the history's validation
 * columns hold nan.
 * With train.average_last = N the last N epochs' weights are also averaged
 * (a running mean kept in the checkpoint), and after the last epoch that
 * mean, validated, replaces the best epoch's model.
 * Batches come from train_loader (loader.c): the next one is assembled on a
 * loader thread while the current one computes.
 *
 * B batch, F feature rows, T frames, L classes. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_HEADER "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1,seconds\n"
/* The data stream (shuffling, crops) is seeded apart from the parameters. */
#define TRAIN_DATA_STREAM 0xda7a5eedull

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void join(char *out, size_t size, const char *dir, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* Keeps the header and the first `epochs` lines of history.csv (a resumed run
 * rewrites what came after its checkpoint); a fresh run starts it anew. */
static sermo_status history_start(const char *path, int32_t epochs, sermo_error *err) {
    char *text = NULL;
    size_t len = 0;
    if (epochs > 0) {
        FILE *in = fopen(path, "r");
        if (!in) return sermo_fail(err, SERMO_ERR_IO, "%s: cannot read the history to resume", path);
        FILE *mem = open_memstream(&text, &len);
        char line[1024];
        int32_t lines = 0;
        while (mem && lines <= epochs && fgets(line, sizeof line, in)) {
            fputs(line, mem);
            lines += strchr(line, '\n') != NULL;
        }
        fclose(in);
        if (!mem) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        fclose(mem);
        if (lines != epochs + 1) {
            free(text);
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s: %d epochs recorded, the checkpoint has %d", path,
                              lines - 1, epochs);
        }
    }
    FILE *out = fopen(path, "w");
    if (!out) {
        free(text);
        return sermo_fail(err, SERMO_ERR_IO, "%s: cannot write", path);
    }
    fputs(text ? text : HISTORY_HEADER, out);
    free(text);
    return fclose(out) ? sermo_fail(err, SERMO_ERR_IO, "%s: write failed", path) : SERMO_OK;
}

static sermo_status history_append(const char *path, const train_epoch_result *r, sermo_error *err) {
    FILE *f = fopen(path, "a");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: cannot append", path);
    fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f\n", r->epoch, r->lr, r->train_loss, r->train_acc,
            r->val_loss, r->val_acc, r->val_macro_f1, r->seconds);
    return fclose(f) ? sermo_fail(err, SERMO_ERR_IO, "%s: write failed", path) : SERMO_OK;
}

/* Folds an epoch's weights w into the running mean avg as its n-th term
 * (n = 1 copies them): avg += (w - avg) / n. */
static void average_update(float *avg, const float *w, size_t n_floats, int32_t n) {
    float inv = 1.0f / (float)n;
    for (size_t i = 0; i < n_floats; i++) avg[i] = n == 1 ? w[i] : avg[i] + (w[i] - avg[i]) * inv;
}

/* Buffers the loop plans once (STYLE.md item 3); the batches themselves
 * live in the loaders (two each). */
typedef struct train_work {
    float *mean, *std;      /* (F) */
    float *dlogits;         /* (B, L) */
    float *class_weights;   /* (L), or NULL: train.class_weights none */
    int32_t *pred, *truth;  /* (n_val) */
} train_work;

static void work_free(train_work *w) {
    free(w->mean);
    free(w->std);
    free(w->dlogits);
    free(w->class_weights);
    free(w->pred);
    free(w->truth);
}

/* One pass over the training part; fills the train_* fields of r. Every
 * draw from state->rng (shuffle, crops, waveform augmentation, SpecAugment,
 * mixup) happens in the loader, in the synchronous loop's order, so resume
 * stays exact: the stream is the checkpointed one. */
static sermo_status train_epoch(const train_options *opt, model *m, nn_adamw *adamw, train_loader *tl,
                                train_state *state, train_work *w, train_epoch_result *r, int *stop,
                                train_progress_fn progress, void *user_data, sermo_error *err) {
    int32_t L = m->cfg.n_classes, T = opt->frames, F = m->cfg.n_bins;
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, batch = 0, n_batches = train_batcher_n_batches(tl->b, opt->batch_size);
    train_loss loss_fn = {.kind = (train_loss_kind)opt->loss, .label_smoothing = opt->label_smoothing,
                          .focal_gamma = opt->focal_gamma, .class_weights = w->class_weights};
    train_loader_start(tl, &state->rng);
    const train_batch *tb;
    int k;
    while ((k = (tb = train_loader_next(tl))->k) > 0) {
        int64_t ok = 0;
        if (tb->mixed) {
            /* Accuracy from the clean batch (eval mode changes no state), so the
             * reported training accuracy is not that of blended inputs. */
            const float *clean = model_forward(m, tb->x, k, T, 0);
            for (int i = 0; clean && i < k; i++) ok += train_argmax(clean + (size_t)i * L, L) == tb->labels[i];
        }
        nn_params_zero_grad(&m->params);
        const float *logits = model_forward(m, tb->mixed ? tb->mixed : tb->x, k, T, 1);
        if (!logits) {
            train_loader_stop(tl);
            return sermo_fail(err, SERMO_ERR_INVALID, "train: model %s rejected a batch of %d x %d frames",
                              opt->model, k, T);
        }
        float loss;
        if (m->spec->reconstructs) /* logits is the reconstruction; the input is its target */
            loss = model_recon_loss(w->dlogits, logits, tb->x, (size_t)k * F * T);
        else if (tb->mixed)
            loss = train_mixup_loss(w->dlogits, logits, tb->labels, tb->perm, tb->lam, k, L, opt->label_smoothing);
        else
            loss = train_loss_forward(w->dlogits, &loss_fn, logits, tb->labels, k, L);
        if (!tb->mixed && !m->spec->reconstructs)
            for (int i = 0; i < k; i++) ok += train_argmax(logits + (size_t)i * L, L) == tb->labels[i];
        model_backward(m, w->dlogits, k, T);
        train_groups_zero_frozen(&m->params);
        if (opt->clip_norm > 0) train_clip_grad_norm(m->params.grad, m->params.total, opt->clip_norm);
        sermo_status st = nn_adamw_step(adamw, &m->params, err);
        if (st) {
            train_loader_stop(tl);
            return st;
        }
        loss_sum += (double)loss * k;
        correct += ok;
        seen += k;
        batch++;
        if (progress) {
            train_progress p = {.epoch = r->epoch, .epochs = opt->epochs, .batch = batch, .n_batches = n_batches,
                                .loss = loss, .accuracy = (float)ok / (float)k, .lr = r->lr};
            if (progress(&p, user_data)) *stop = 1;
        }
    }
    if (k < 0) {
        if (err) *err = tl->b->err;
        return tl->b->err.status;
    }
    r->train_loss = (float)(loss_sum / (double)seen);
    r->train_acc = (float)((double)correct / (double)seen);
    return SERMO_OK;
}

/* Evaluation-mode pass over the validation part; fills the val_* fields
 * (with nan when vl is NULL: the split has no validation clips). */
static sermo_status validate(const train_options *opt, model *m, train_loader *vl, train_work *w,
                             train_epoch_result *r, sermo_error *err) {
    if (!vl) {
        r->val_loss = r->val_acc = r->val_macro_f1 = NAN;
        return SERMO_OK;
    }
    int32_t L = m->cfg.n_classes;
    double loss_sum = 0;
    int64_t seen = 0;
    train_loader_start(vl, NULL);
    const train_batch *vb;
    int k;
    while ((k = (vb = train_loader_next(vl))->k) > 0) {
        const float *logits = model_forward(m, vb->x, k, opt->frames, 0);
        if (!logits) {
            train_loader_stop(vl);
            return sermo_fail(err, SERMO_ERR_INVALID, "validate: model %s rejected a batch", opt->model);
        }
        if (m->spec->reconstructs) {
            loss_sum += (double)model_recon_loss(NULL, logits, vb->x, (size_t)k * m->cfg.n_bins * opt->frames) * k;
            seen += k;
            continue;
        }
        loss_sum += (double)nn_cross_entropy_forward(NULL, logits, vb->labels, k, L, 0.0f) * k;
        for (int i = 0; i < k; i++) {
            w->pred[seen + i] = train_argmax(logits + (size_t)i * L, L);
            w->truth[seen + i] = vb->labels[i];
        }
        seen += k;
    }
    if (k < 0) {
        if (err) *err = vl->b->err;
        return vl->b->err.status;
    }
    r->val_loss = (float)(loss_sum / (double)seen);
    if (m->spec->reconstructs) {
        /* No classes: the model is selected (and stops early) on the lowest
         * validation loss, kept in the macro-F1 column as -loss. */
        r->val_acc = 0.0f;
        r->val_macro_f1 = -r->val_loss;
        return SERMO_OK;
    }
    train_metrics(w->pred, w->truth, seen, L, &r->val_acc, &r->val_macro_f1);
    return SERMO_OK;
}

static int has_part(const int8_t *part, int64_t n, int8_t which) {
    for (int64_t i = 0; i < n; i++)
        if (part[i] == which) return 1;
    return 0;
}

sermo_status train_check_validation(const train_options *opt, const int8_t *part, int64_t n, sermo_error *err) {
    if (opt->patience > 0 && !has_part(part, n, SERMO_PART_VAL))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "train.patience (%d): early stopping needs validation clips and the split has none; set "
                          "train.patience=0 to keep the last epoch",
                          opt->patience);
    return SERMO_OK;
}

static sermo_status check_options(const train_options *opt, const train_data *data, sermo_error *err) {
    if (opt->epochs < 1 || opt->batch_size < 1 || opt->frames < 1)
        return sermo_fail(err, SERMO_ERR_INVALID, "train: epochs, batch_size and frames must be positive");
    if (!data || !data->cache || !data->part || data->n_classes < 2 || !data->class_names)
        return sermo_fail(err, SERMO_ERR_INVALID, "train: a cache, a split and at least two classes are needed");
    for (int64_t i = 0; i < sermo_cache_size(data->cache); i++) {
        int32_t y = sermo_cache_label(data->cache, i);
        if (y < 0 || y >= data->n_classes)
            return sermo_fail(err, SERMO_ERR_INVALID, "train: item %lld has label %d of %d classes", (long long)i,
                              y, data->n_classes);
    }
    if (opt->mixup_alpha > 0 && (opt->loss != TRAIN_LOSS_CE || opt->class_weights != TRAIN_WEIGHTS_NONE))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "train.mixup_alpha: mixup trains with train.loss=ce and train.class_weights=none");
    if (opt->specaugment && opt->time_masks > 0 && opt->frames == 1)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "train.specaugment: a time mask on a 1-frame input (train.frames=1, e.g. egemaps "
                          "functionals) blanks all of it; set train.time_masks=0");
    if (opt->class_weights == TRAIN_WEIGHTS_LIST && opt->n_class_weights != data->n_classes)
        return sermo_fail(err, SERMO_ERR_INVALID, "train.class_weights: %d weights given for %d classes",
                          opt->n_class_weights, data->n_classes);
    const model_spec *spec = model_registry_find(opt->model);
    if (spec && spec->reconstructs && (opt->mixup_alpha > 0 || opt->specaugment))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s reconstructs its input: train.mixup_alpha and train.specaugment do not apply",
                          opt->model);
    if (opt->resume && opt->init_from[0])
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model.init_from (%s) and resuming cannot be combined: the checkpoint already holds the "
                          "weights; resume without model.init_from", opt->init_from);
    if (opt->average_last > opt->epochs || (opt->average_last > 0 && opt->patience > 0))
        return sermo_fail(err, SERMO_ERR_INVALID, "train.average_last (%d): at most train.epochs (%d), and with "
                          "train.patience=0, since an early stop would leave no last epochs to average",
                          opt->average_last, opt->epochs);
    sermo_status st = train_check_validation(opt, data->part, sermo_cache_size(data->cache), err);
    if (st) return st;
    train_wave_aug aug;
    if (train_wave_aug_from_options(&aug, opt) && (!data->waves || !data->features))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "train.speed / noise_prob / gain_db / shift_ms: waveform augmentation needs the training audio "
                          "(train_data.waves and .features)");
    return SERMO_OK;
}

/* train.class_weights as (L) weights in *out (NULL for none): the list, or
 * "balanced" from the label counts of the training part. */
static sermo_status class_weights(const train_options *opt, const train_data *data, float **out,
                                  sermo_error *err) {
    int32_t L = data->n_classes;
    *out = NULL;
    if (opt->class_weights == TRAIN_WEIGHTS_NONE) return SERMO_OK;
    float *w = sermo_alloc(sizeof(float) * (size_t)L, err, "train class weights");
    int64_t *counts = w ? sermo_alloc(sizeof(int64_t) * (size_t)L, err, "train class counts") : NULL;
    if (!counts) {
        free(w);
        return SERMO_ERR_NOMEM;
    }
    memset(counts, 0, sizeof(int64_t) * (size_t)L);
    if (opt->class_weights == TRAIN_WEIGHTS_LIST) {
        memcpy(w, opt->class_weight_list, sizeof(float) * (size_t)L);
    } else {
        for (int64_t i = 0; i < sermo_cache_size(data->cache); i++)
            if (data->part[i] == SERMO_PART_TRAIN) counts[sermo_cache_label(data->cache, i)]++;
        int32_t missing = train_class_weights_balanced(w, counts, L);
        if (missing >= 0) {
            free(w);
            free(counts);
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "train.class_weights: balanced, but class %d (%s) has no training items", missing,
                              data->class_names[missing]);
        }
    }
    free(counts);
    *out = w;
    return SERMO_OK;
}

sermo_status train_run(const train_options *opt, const train_data *data, train_progress_fn progress, void *user_data,
                       train_result *result, sermo_error *err) {
    sermo_status st = check_options(opt, data, err);
    if (st) return st;
    const sermo_cache *cache = data->cache;
    int32_t F = sermo_cache_n_bins(cache), T = opt->frames, B = opt->batch_size, L = data->n_classes;
    train_work w = {0};
    train_state state = {0};
    train_batcher tb = {0}, vb = {0};
    train_loader tl = {0}, vl = {0};
    model *m = NULL;
    char history[1100], model_path[1100], ckpt_path[1100];
    join(history, sizeof history, opt->out_dir, "history.csv");
    join(model_path, sizeof model_path, opt->out_dir, "model.safetensors");
    join(ckpt_path, sizeof ckpt_path, opt->out_dir, "checkpoint.safetensors");
    memset(result, 0, sizeof *result);

    w.mean = sermo_alloc(sizeof(float) * (size_t)F, err, "train");
    w.std = sermo_alloc(sizeof(float) * (size_t)F, err, "train");
    /* dlogits, or d(recon) (B, 1, F, T) for a reconstructing model. */
    const model_spec *spec = model_registry_find(opt->model);
    size_t per_item = spec && spec->reconstructs ? (size_t)F * T : (size_t)L;
    w.dlogits = sermo_alloc(sizeof(float) * (size_t)B * per_item, err, "train");
    if (!w.mean || !w.std || !w.dlogits) {
        st = SERMO_ERR_NOMEM;
        goto done;
    }
    if ((st = class_weights(opt, data, &w.class_weights, err))) goto done;
    int validates = has_part(data->part, sermo_cache_size(cache), SERMO_PART_VAL);
    if ((st = train_norm_stats(cache, data->part, SERMO_PART_TRAIN, w.mean, w.std, err)) ||
        (st = train_batcher_init(&tb, cache, data->part, SERMO_PART_TRAIN, T, w.mean, w.std, 1, err)) ||
        (validates && (st = train_batcher_init(&vb, cache, data->part, SERMO_PART_VAL, T, w.mean, w.std, 0, err))))
        goto done;
    train_wave_aug aug;
    if (train_wave_aug_from_options(&aug, opt) &&
        (st = train_batcher_use_waves(&tb, data->waves, &aug, data->features, err)))
        goto done;
    if ((st = train_loader_init(&tl, &tb, B, opt, !opt->sync_batches, err)) ||
        (validates && (st = train_loader_init(&vl, &vb, B, NULL, !opt->sync_batches, err))))
        goto done;
    train_loader *val_loader = validates ? &vl : NULL; /* NULL: validate() fills nan */
    w.pred = sermo_alloc(sizeof(int32_t) * (size_t)(vb.n + 1), err, "train");
    w.truth = sermo_alloc(sizeof(int32_t) * (size_t)(vb.n + 1), err, "train");
    if (!w.pred || !w.truth) {
        st = SERMO_ERR_NOMEM;
        goto done;
    }

    model_config cfg = opt->net; /* the model.* family options */
    cfg.n_classes = L;
    cfg.in_channels = 1;
    cfg.n_bins = F;
    cfg.max_frames = T;
    cfg.max_batch = B;
    cfg.threads = opt->threads;
    cfg.dropout = opt->dropout;
    m = model_create(opt->model, &cfg, opt->seed, err);
    if (!m) {
        st = err ? err->status : SERMO_ERR_INVALID;
        goto done;
    }
    nn_adamw adamw;
    if ((st = train_groups_init(opt, m, &adamw, err))) goto done;
    if (opt->init_from[0]) {
        if ((st = train_init_from(m, opt->init_from, &result->init_copied, &result->init_total, err))) goto done;
        train_progress p = {.epochs = opt->epochs, .init_from = opt->init_from, .init_copied = result->init_copied,
                            .init_total = result->init_total};
        if (progress) progress(&p, user_data);
    }

    sermo_rng_seed(&state.rng, opt->seed ^ (TRAIN_DATA_STREAM << 32));
    train_early_stop_init(&state.es, opt->patience);
    int32_t first_averaged = opt->epochs - opt->average_last;
    if (opt->average_last > 0) {
        state.average_params = sermo_alloc(sizeof(float) * (m->params.total + 1), err, "train average");
        state.average_buffers = sermo_alloc(sizeof(float) * (m->buffers.total + 1), err, "train average");
        if (!state.average_params || !state.average_buffers) {
            st = SERMO_ERR_NOMEM;
            goto done;
        }
    }
    if (opt->resume && (st = train_load_checkpoint(ckpt_path, m, &adamw, &state, w.mean, w.std, err))) goto done;
    int32_t expect_averaged = opt->average_last > 0 && state.next_epoch > first_averaged
                                  ? state.next_epoch - first_averaged : 0;
    if (state.averaged != expect_averaged) {
        st = sermo_fail(err, SERMO_ERR_INVALID,
                        "%s: the checkpoint averages %d epochs' weights where train.average_last=%d and "
                        "train.epochs=%d expect %d; resume with the settings the run started with",
                        ckpt_path, state.averaged, opt->average_last, opt->epochs, expect_averaged);
        goto done;
    }
    if ((st = history_start(history, state.next_epoch, err))) goto done;

    train_schedule sched = {.lr = opt->lr, .min_lr = opt->min_lr, .warmup_epochs = opt->warmup_epochs,
                            .warmup_start = opt->warmup_start, .epochs = opt->epochs,
                            .kind = (train_schedule_kind)opt->schedule, .restart_t0 = opt->restart_t0,
                            .restart_t_mult = opt->restart_t_mult, .step_size = opt->step_size,
                            .step_gamma = opt->step_gamma};
    result->stopped_early = train_early_stop_done(&state.es);
    int stop = 0;
    for (int32_t epoch = state.next_epoch; epoch < opt->epochs && !result->stopped_early && !stop; epoch++) {
        double start = now_seconds();
        double lr = train_schedule_lr(&sched, epoch);
        train_epoch_result r = {.epoch = epoch, .lr = (float)lr};
        train_groups_set_lr(opt, &adamw, lr);
        if ((st = train_epoch(opt, m, &adamw, &tl, &state, &w, &r, &stop, progress, user_data, err)) ||
            (st = validate(opt, m, val_loader, &w, &r, err)))
            goto done;
        if ((!validates || train_early_stop_update(&state.es, epoch, r.val_macro_f1)) &&
            (st = train_save_model(model_path, m, opt, data, w.mean, w.std, epoch, r.val_macro_f1, err)))
            goto done;
        if (state.average_params && epoch >= first_averaged) {
            state.averaged++;
            average_update(state.average_params, m->params.data, m->params.total, state.averaged);
            average_update(state.average_buffers, m->buffers.data, m->buffers.total, state.averaged);
        }
        r.seconds = now_seconds() - start;
        state.next_epoch = epoch + 1;
        if ((st = history_append(history, &r, err)) ||
            (st = train_save_checkpoint(ckpt_path, m, &adamw, &state, w.mean, w.std, err)))
            goto done;
        result->last = r;
        result->stopped_early = train_early_stop_done(&state.es);
        if (progress) {
            train_progress p = {.epoch = epoch, .epochs = opt->epochs, .lr = r.lr, .epoch_done = &r,
                                .loss = r.train_loss, .accuracy = r.train_acc};
            if (progress(&p, user_data)) stop = 1;
        }
    }
    if (state.average_params && state.next_epoch == opt->epochs) {
        /* The checkpoint keeps the last epoch's weights; the model becomes the mean. */
        memcpy(m->params.data, state.average_params, sizeof(float) * m->params.total);
        if (m->buffers.total) memcpy(m->buffers.data, state.average_buffers, sizeof(float) * m->buffers.total);
        train_epoch_result r = {.epoch = opt->epochs - 1, .lr = (float)train_schedule_lr(&sched, opt->epochs - 1)};
        if ((st = validate(opt, m, val_loader, &w, &r, err)) ||
            (st = train_save_model(model_path, m, opt, data, w.mean, w.std, r.epoch, r.val_macro_f1, err)))
            goto done;
        result->averaged = state.averaged;
        result->average = r;
    }
    result->interrupted = stop && state.next_epoch < opt->epochs && !result->stopped_early;
    result->epochs_run = state.next_epoch;
    result->validated = validates;
    result->best_epoch = validates ? state.es.best_epoch : state.next_epoch - 1;
    result->best_macro_f1 = state.es.best;
done:
    model_free(m);
    train_loader_free(&tl);
    train_loader_free(&vl);
    train_batcher_free(&tb);
    train_batcher_free(&vb);
    work_free(&w);
    free(state.average_params);
    free(state.average_buffers);
    return st;
}
