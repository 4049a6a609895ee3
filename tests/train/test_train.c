/* test_train.c: options from the config; a tiny end-to-end run of cnn3 on a
 * synthetic two-class corpus (tones, classes by pitch) reaches high
 * validation accuracy; two runs with one thread are bit-identical; stopping
 * after 2 of 4 epochs and resuming ends exactly where the uninterrupted run does;
 * train.average_last saves the mean of the last epochs' weights, also when
 * resumed in the middle of them. */
#include "train_test_util.h"

#include "io/safetensors.h"
#include "train/train.h"

#include <math.h>

#define NMEL 16
#define NCLIP 40

static char dir[] = "/tmp/sermo_test_train_XXXXXX";

static void test_options(void) {
    train_options opt;
    train_options_default(&opt);
    sermo_config *c = sermo_config_init();
    sermo_error err;
    sermo_config_set(c, "model", "cnn3");
    sermo_config_set(c, "train.epochs", "7");
    sermo_config_set(c, "train.lr", "3e-4");
    sermo_config_set(c, "train.resume", "true");
    sermo_config_set(c, "train.out_dir", "runs/x");
    sermo_config_set(c, "train.seed", "123");
    CHECK(train_options_from_config(c, &opt, &err) == SERMO_OK, "%s", err.msg);
    CHECK(opt.epochs == 7 && opt.lr == 3e-4f && opt.resume == 1 && opt.seed == 123 && !strcmp(opt.out_dir, "runs/x")
              && !strcmp(opt.model, "cnn3") && opt.batch_size == 32,
          "options read");
    sermo_config_set(c, "train.epochs", "seven");
    CHECK(train_options_from_config(c, &opt, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.epochs"),
          "bad value names the key: %s", err.msg);
    sermo_config_set(c, "train.epochs", "7");
    sermo_config_set(c, "train.lrr", "1");
    CHECK(train_options_from_config(c, &opt, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.lrr"),
          "unknown key named: %s", err.msg);
    sermo_config_free(c);
}

static int stop_after_two(const train_progress *p, void *user_data) {
    (void)user_data;
    return p->epoch_done && p->epoch == 1;
}

static int stop_after_three(const train_progress *p, void *user_data) {
    (void)user_data;
    return p->epoch_done && p->epoch == 2;
}

static int count_batches(const train_progress *p, void *user_data) {
    if (!p->epoch_done) ++*(int *)user_data;
    return 0;
}

/* Whole file in a malloc'd buffer. */
static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *size = fread(buf, 1, (size_t)n, f);
    buf[*size] = 0;
    fclose(f);
    return buf;
}

/* history.csv without the seconds column. */
static char *history_no_time(const char *run) {
    char path[1200];
    size_t n;
    snprintf(path, sizeof path, "%s/history.csv", run);
    char *text = slurp(path, &n);
    if (!text) return NULL;
    char *out = malloc(n + 1), *o = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *last = strrchr(line, ',');
        size_t len = last ? (size_t)(last - line) : strlen(line);
        memcpy(o, line, len);
        o += len;
        *o++ = '\n';
    }
    *o = 0;
    free(text);
    return out;
}

static int copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *data = slurp(from, &n);
    FILE *f = data ? fopen(to, "wb") : NULL;
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f) ok &= fclose(f) == 0;
    free(data);
    return ok;
}

static int same_file(const char *a_dir, const char *b_dir, const char *name) {
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/%s", a_dir, name);
    snprintf(b, sizeof b, "%s/%s", b_dir, name);
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Largest |model - (a + b) / 2| over the tensors of run_dir/model.safetensors
 * but the normalisation, where a and b are the same tensors in two
 * checkpoints; the tensors compared go to *n. -1 when a file or tensor is
 * missing. */
static double worst_from_mean(const char *run_dir, const char *ckpt_a, const char *ckpt_b, int *n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", run_dir);
    sermo_st_file *m = sermo_st_open(path, NULL), *a = sermo_st_open(ckpt_a, NULL), *b = sermo_st_open(ckpt_b, NULL);
    double worst = m && a && b ? 0 : -1;
    *n = 0;
    for (int i = 0; worst >= 0 && i < sermo_st_n_tensors(m); i++) {
        const sermo_st_tensor *t = sermo_st_tensor_at(m, i);
        if (!strncmp(t->name, "norm.", 5)) continue;
        const sermo_st_tensor *ta = sermo_st_find(a, t->name), *tb = sermo_st_find(b, t->name);
        if (!ta || !tb || sermo_st_nbytes(ta) != sermo_st_nbytes(t) || t->dtype != SERMO_ST_F32) {
            worst = -1;
            break;
        }
        const float *x = t->data, *y = ta->data, *z = tb->data;
        for (size_t k = 0; k < sermo_st_nbytes(t) / sizeof(float); k++)
            worst = fmax(worst, fabs((double)x[k] - 0.5 * ((double)y[k] + (double)z[k])));
        ++*n;
    }
    sermo_st_close(m);
    sermo_st_close(a);
    sermo_st_close(b);
    return worst;
}

static sermo_status run(train_options *opt, const train_data *data, const char *name, int resume,
                        train_progress_fn fn, void *user, train_result *res) {
    snprintf(opt->out_dir, sizeof opt->out_dir, "%s/%s", dir, name);
    mkdir(opt->out_dir, 0755);
    opt->resume = resume;
    sermo_error err;
    sermo_status st = train_run(opt, data, fn, user, res, &err);
    CHECK(st == SERMO_OK, "run %s: %s", name, err.msg);
    return st;
}

/* train.average_last=2 of 4 epochs: the run is stopped after epoch 3 and its
 * checkpoint (epoch 3's weights) copied aside, then resumed; the model saved
 * must be the mean of epoch 3's and epoch 4's (the final checkpoint's)
 * weights, BN statistics included, and equal an uninterrupted run's. */
static void test_average_last(train_options opt, const train_data *data) {
    sermo_error err;
    train_result r;
    opt.average_last = 2;
    opt.patience = 0;
    char h[256], i[256], third[512], last[512];
    snprintf(h, sizeof h, "%s/h", dir);
    snprintf(i, sizeof i, "%s/i", dir);
    snprintf(third, sizeof third, "%s/third.safetensors", dir);
    snprintf(last, sizeof last, "%s/checkpoint.safetensors", h);
    if (run(&opt, data, "h", 0, stop_after_three, NULL, &r)) return;
    CHECK(r.interrupted && r.epochs_run == 3 && !r.averaged, "stopped after %d epochs, averaged %d", r.epochs_run,
          r.averaged);
    CHECK(copy_file(last, third), "copy the epoch-3 checkpoint");
    if (run(&opt, data, "h", 1, NULL, NULL, &r)) return;
    CHECK(r.averaged == 2 && r.epochs_run == 4, "resumed: %d epochs, mean of %d", r.epochs_run, r.averaged);
    CHECK(r.average.val_acc >= 0.9f, "the averaged model classifies: val acc %g", r.average.val_acc);
    int n = 0;
    double worst = worst_from_mean(h, third, last, &n);
    CHECK(worst >= 0 && worst < 1e-6 && n > 10, "model = mean of epochs 3 and 4 over %d tensors: worst %g", n,
          worst);
    double to_last = worst_from_mean(h, last, last, &n);
    CHECK(to_last > 1e-4, "the mean is not the last epoch's weights: %g away", to_last);
    if (run(&opt, data, "i", 0, NULL, NULL, &r)) return;
    CHECK(same_file(h, i, "model.safetensors") && same_file(h, i, "checkpoint.safetensors"),
          "resumed averaging equals the uninterrupted run");

    /* Resuming with other settings would average the wrong epochs: refused. */
    opt.average_last = 3;
    opt.resume = 1;
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/h", dir);
    CHECK(train_run(&opt, data, NULL, NULL, &r, &err) == SERMO_ERR_INVALID && strstr(err.msg, "average"),
          "resume with another train.average_last: %s", err.msg);
    opt.resume = 0;
    opt.patience = 3;
    CHECK(train_run(&opt, data, NULL, NULL, &r, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.patience"),
          "average_last with early stopping refused: %s", err.msg);
}

int main(void) {
    test_options();
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    sermo_corpus *corpus = NULL;
    sermo_cache *cache = tt_make_cache(dir, NCLIP, NMEL, &corpus);
    CHECK(cache != NULL, "synthetic corpus and cache");
    if (!cache) return check_report();
    sermo_error err;
    int8_t part[NCLIP];
    for (int i = 0; i < NCLIP; i++) part[i] = i % 4 == 0 ? SERMO_PART_VAL : SERMO_PART_TRAIN;
    const char *names[2];
    for (int c = 0; c < 2; c++) names[c] = sermo_corpus_class_name(corpus, c);
    const char *mk[] = {"features.n_mels"}, *mv[] = {"16"};
    train_data data = {.cache = cache, .part = part, .n_classes = sermo_corpus_n_classes(corpus),
                       .class_names = names, .meta_keys = mk, .meta_values = mv, .n_meta = 1};
    CHECK(data.n_classes == 2, "%d classes", data.n_classes);

    train_options opt;
    train_options_default(&opt);
    opt.epochs = 4;
    opt.batch_size = 8;
    opt.frames = 24;
    opt.lr = 3e-3f;
    opt.warmup_epochs = 1;
    opt.min_lr = 1e-4f;
    opt.dropout = 0.1f;
    opt.label_smoothing = 0.05f;
    opt.threads = 1;
    opt.seed = 5;

    train_result a, b, c;
    int batches = 0;
    if (run(&opt, &data, "a", 0, count_batches, &batches, &a)) return check_report();
    CHECK(batches == 4 * 4, "%d batch callbacks (30 train items, B 8, 4 epochs)", batches);
    CHECK(a.epochs_run == 4 && !a.interrupted, "epochs run %d", a.epochs_run);
    CHECK(a.last.val_acc >= 0.9f && a.best_macro_f1 >= 0.9f, "learns pitch: val acc %g, best f1 %g (epoch %d)",
          a.last.val_acc, a.best_macro_f1, a.best_epoch);
    CHECK(a.last.train_loss < 0.5f, "train loss %g", a.last.train_loss);
    char *ha = history_no_time(opt.out_dir); /* still run a's */
    CHECK(ha && !strncmp(ha, "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1\n0,", 62), "history: %s",
          ha ? ha : "(none)");
    fprintf(stderr, "history of run a:\n%s", ha ? ha : "");
    int lines = 0;
    for (char *p = ha; p && *p; p++) lines += *p == '\n';
    CHECK(lines == 5, "history has %d lines", lines);

    /* The model file describes itself. */
    char path[1200];
    snprintf(path, sizeof path, "%s/a/model.safetensors", dir);
    FILE *mf = fopen(path, "rb");
    CHECK(mf != NULL, "model file written");
    if (mf) fclose(mf);

    /* Determinism: a second run is bit-identical. */
    if (run(&opt, &data, "b", 0, NULL, NULL, &b)) return check_report();
    char ra[1200], rb[1200], rc[1200];
    snprintf(ra, sizeof ra, "%s/a", dir);
    snprintf(rb, sizeof rb, "%s/b", dir);
    snprintf(rc, sizeof rc, "%s/c", dir);
    char *hb = history_no_time(rb);
    CHECK(ha && hb && !strcmp(ha, hb), "same history:\n%s---\n%s", ha, hb ? hb : "");
    CHECK(same_file(ra, rb, "checkpoint.safetensors"), "same checkpoint bytes");
    CHECK(same_file(ra, rb, "model.safetensors"), "same model bytes");

    /* Resume: stop after epoch 2 of 4, then continue. */
    if (run(&opt, &data, "c", 0, stop_after_two, NULL, &c)) return check_report();
    CHECK(c.interrupted && c.epochs_run == 2, "interrupted after %d", c.epochs_run);
    CHECK(!same_file(ra, rc, "checkpoint.safetensors"), "the interrupted checkpoint differs");
    if (run(&opt, &data, "c", 1, NULL, NULL, &c)) return check_report();
    CHECK(c.epochs_run == 4 && !c.interrupted, "resumed to %d", c.epochs_run);
    char *hc = history_no_time(rc);
    CHECK(ha && hc && !strcmp(ha, hc), "resumed history:\n%s---\n%s", ha, hc ? hc : "");
    CHECK(same_file(ra, rc, "checkpoint.safetensors"), "resumed checkpoint bytes equal the uninterrupted run's");
    CHECK(same_file(ra, rc, "model.safetensors"), "resumed best model equals the uninterrupted run's");

    /* Early stopping: val macro-F1 is 1 from epoch 0, so patience 1 ends after epoch 1. */
    train_result d;
    opt.patience = 1;
    if (run(&opt, &data, "d", 0, NULL, NULL, &d)) return check_report();
    CHECK(a.best_epoch == 0 && d.stopped_early && d.epochs_run == 2 && d.best_epoch == 0,
          "early stop: run a best epoch %d; stopped %d after %d epochs", a.best_epoch, d.stopped_early, d.epochs_run);
    opt.patience = 10;

    /* Augmentation (SpecAugment + mixup) still learns, stays deterministic and
     * resumes exactly: its draws come from the checkpointed stream. */
    train_result e, f;
    opt.specaugment = 1;
    opt.freq_mask_param = 4;
    opt.time_mask_param = 6;
    opt.mixup_alpha = 0.4f;
    if (run(&opt, &data, "e", 0, NULL, NULL, &e) || run(&opt, &data, "f", 0, stop_after_two, NULL, &f) ||
        run(&opt, &data, "f", 1, NULL, NULL, &f))
        return check_report();
    char re[1200], rf[1200];
    snprintf(re, sizeof re, "%s/e", dir);
    snprintf(rf, sizeof rf, "%s/f", dir);
    CHECK(e.best_macro_f1 >= 0.8f, "augmented run learns: best f1 %g", e.best_macro_f1);
    CHECK(!same_file(ra, re, "checkpoint.safetensors"), "augmentation changes training");
    CHECK(same_file(re, rf, "checkpoint.safetensors") && same_file(re, rf, "model.safetensors"),
          "augmented run resumes exactly");
    opt.loss = TRAIN_LOSS_FOCAL;
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/g", dir);
    mkdir(opt.out_dir, 0755);
    CHECK(train_run(&opt, &data, NULL, NULL, &f, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.mixup_alpha"),
          "mixup with focal loss refused: %s", err.msg);
    opt.loss = TRAIN_LOSS_CE;
    opt.mixup_alpha = 0;
    opt.frames = 1;
    CHECK(train_run(&opt, &data, NULL, NULL, &f, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.time_masks=0"),
          "time masks on one frame refused: %s", err.msg);
    opt.frames = 24;
    opt.specaugment = 0;
    opt.mixup_alpha = 0;

    test_average_last(opt, &data);

    /* Resume without a checkpoint fails with the file's name. */
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/none", dir);
    mkdir(opt.out_dir, 0755);
    opt.resume = 1;
    CHECK(train_run(&opt, &data, NULL, NULL, &c, &err) != SERMO_OK && strstr(err.msg, "checkpoint"),
          "resume without checkpoint: %s", err.msg);

    free(ha);
    free(hb);
    free(hc);
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
    tt_remove_dir(dir);
    return check_report();
}
