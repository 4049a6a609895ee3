/* test_init_from.c: model.init_from. A new cnn3 takes every tensor of a
 * saved cnn3 (parameters and BN buffers; the file's norm.* are not the
 * model's and are skipped); a file with only some of the names copies those
 * and leaves the rest as initialised; a same-named tensor of another shape
 * and a file with no matching name are errors naming what is wrong; train_run
 * reports the counts through the progress callback, refuses init_from with
 * resume, and `sermo train` prints "init_from: copied N of M tensors". */
#include "train_test_util.h"

#include "io/safetensors.h"
#include "train/train.h"

#define NMEL 16
#define NCLIP 40

static char dir[] = "/tmp/sermo_test_init_from_XXXXXX";

static model *make(int32_t L, uint64_t seed) {
    model_config cfg = {.n_classes = L, .in_channels = 1, .n_bins = NMEL, .max_frames = 24, .max_batch = 8,
                        .threads = 1, .dropout = 0.1f};
    sermo_error err;
    model *m = model_create("cnn3", &cfg, seed, &err);
    CHECK(m != NULL, "create: %s", err.msg);
    return m;
}

/* Saves m as train_run would. */
static void save(const char *path, const model *m) {
    train_options opt;
    train_options_default(&opt);
    opt.frames = 24;
    float mean[NMEL] = {0}, std[NMEL];
    for (int f = 0; f < NMEL; f++) std[f] = 1;
    const char *names[4] = {"a", "b", "c", "d"};
    train_data data = {.n_classes = m->cfg.n_classes, .class_names = names};
    sermo_error err;
    CHECK(train_save_model(path, m, &opt, &data, mean, std, 0, 1.0f, &err) == SERMO_OK, "save: %s", err.msg);
}

static int same_table(const nn_params *a, const nn_params *b) {
    for (int32_t i = 0; i < a->n; i++)
        if (memcmp(a->data + a->entries[i].offset, b->data + b->entries[i].offset,
                   sizeof(float) * a->entries[i].numel))
            return 0;
    return 1;
}

static void test_copy(void) {
    char path[512], part[512], other[512];
    snprintf(path, sizeof path, "%s/src.safetensors", dir);
    snprintf(part, sizeof part, "%s/part.safetensors", dir);
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    model *src = make(2, 1), *dst = make(2, 2), *wide = make(3, 2);
    if (!src || !dst || !wide) return;
    for (size_t i = 0; i < src->buffers.total; i++) src->buffers.data[i] = 0.25f + 0.001f * (float)i;
    save(path, src);
    CHECK(!same_table(&src->params, &dst->params), "different seeds, different weights");
    int32_t copied, total;
    sermo_error err;
    CHECK(train_init_from(dst, path, &copied, &total, &err) == SERMO_OK, "%s", err.msg);
    CHECK(copied == dst->params.n + dst->buffers.n && total == copied + 2,
          "copied %d of %d (params %d + buffers %d; + norm.mean, norm.std)", copied, total, dst->params.n,
          dst->buffers.n);
    CHECK(same_table(&src->params, &dst->params) && same_table(&src->buffers, &dst->buffers),
          "every parameter and buffer copied bit for bit");

    /* Only the first conv: those two tensors, the rest stays as initialised. */
    model *fresh = make(2, 3), *ref = make(2, 3);
    const nn_param *w = nn_params_find(&src->params, "features.0.weight");
    sermo_st_tensor t[2] = {{.name = "features.0.weight", .dtype = SERMO_ST_F32, .ndim = w->ndim},
                            {.name = "unrelated.weight", .dtype = SERMO_ST_F32, .ndim = 1, .shape = {3}}};
    for (int d = 0; d < w->ndim; d++) t[0].shape[d] = w->shape[d];
    t[0].data = src->params.data + w->offset;
    float three[3] = {1, 2, 3};
    t[1].data = three;
    CHECK(sermo_st_write(part, t, 2, NULL, NULL, 0, &err) == SERMO_OK, "%s", err.msg);
    CHECK(train_init_from(fresh, part, &copied, &total, &err) == SERMO_OK && copied == 1 && total == 2,
          "partial: copied %d of %d: %s", copied, total, err.msg);
    int rest_kept = 1;
    for (int32_t i = 0; i < fresh->params.n; i++) {
        const nn_param *e = &fresh->params.entries[i];
        int eq = !memcmp(fresh->params.data + e->offset, ref->params.data + e->offset, sizeof(float) * e->numel);
        if (!strcmp(e->name, "features.0.weight"))
            CHECK(!eq && !memcmp(fresh->params.data + e->offset, src->params.data + w->offset,
                                 sizeof(float) * e->numel), "features.0.weight copied");
        else rest_kept &= eq;
    }
    CHECK(rest_kept, "the tensors not in the file keep their initial values");

    /* Same name, other shape: an error naming the tensor and both shapes. */
    CHECK(train_init_from(wide, path, &copied, &total, &err) == SERMO_ERR_INVALID &&
              strstr(err.msg, "classifier.weight") && strstr(err.msg, "shape [2,128] expected [3,128]") && strstr(err.msg, path),
          "shape mismatch: %s", err.msg);
    /* Nothing in common. */
    CHECK(sermo_st_write(other, t + 1, 1, NULL, NULL, 0, &err) == SERMO_OK, "%s", err.msg);
    CHECK(train_init_from(fresh, other, &copied, &total, &err) == SERMO_ERR_INVALID &&
              strstr(err.msg, "no tensor of") && strstr(err.msg, other) && strstr(err.msg, "cnn3"),
          "no match: %s", err.msg);
    CHECK(train_init_from(fresh, "/nonexistent.safetensors", &copied, &total, &err) != SERMO_OK &&
              strstr(err.msg, "model.init_from") && strstr(err.msg, "/nonexistent.safetensors"),
          "missing file: %s", err.msg);
    model_free(src);
    model_free(dst);
    model_free(wide);
    model_free(fresh);
    model_free(ref);
}

/* cnn3 from an autoencoder's encoder: the same "features.*" names and shapes,
 * the decoder's tensors skipped (when the family is registered). */
static void test_autoencoder(void) {
    if (!model_registry_find("autoencoder")) {
        fprintf(stderr, "note: no autoencoder registered; encoder hand-over not checked\n");
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/ae.safetensors", dir);
    model_config cfg = {.n_classes = 2, .in_channels = 1, .n_bins = NMEL, .max_frames = 24, .max_batch = 2,
                        .threads = 1};
    sermo_error err;
    model *ae = model_create("autoencoder", &cfg, 11, &err), *cnn = make(2, 12);
    CHECK(ae && cnn, "autoencoder: %s", err.msg);
    if (!ae || !cnn) {
        model_free(ae);
        model_free(cnn);
        return;
    }
    save(path, ae);
    int32_t copied, total, features = 0;
    for (int32_t i = 0; i < cnn->params.n; i++) features += !strncmp(cnn->params.entries[i].name, "features.", 9);
    for (int32_t i = 0; i < cnn->buffers.n; i++) features += !strncmp(cnn->buffers.entries[i].name, "features.", 9);
    CHECK(train_init_from(cnn, path, &copied, &total, &err) == SERMO_OK, "%s", err.msg);
    CHECK(copied == features && total > copied, "encoder handed over: %d of %d tensors (cnn3 has %d features.*)",
          copied, total, features);
    const float *a = nn_params_data(&ae->params, "features.8.weight"), *b = nn_params_data(&cnn->params,
                                                                                           "features.8.weight");
    CHECK(a && b && !memcmp(a, b, sizeof(float) * nn_params_find(&cnn->params, "features.8.weight")->numel),
          "features.8.weight equal");
    model_free(ae);
    model_free(cnn);
}

typedef struct seen {
    int init_calls, copied, total, batches_before_init;
    int batches;
} seen;

static int watch(const train_progress *p, void *user_data) {
    seen *s = user_data;
    if (p->init_from) {
        s->init_calls++;
        s->copied = p->init_copied;
        s->total = p->init_total;
        s->batches_before_init = s->batches;
    } else if (!p->epoch_done) {
        s->batches++;
    }
    return 0;
}

static void test_run(void) {
    tt_setup su;
    CHECK(tt_setup_init(&su, dir, NCLIP, NMEL) == 0, "synthetic corpus and cache");
    if (!su.cache) return;
    train_options opt = su.opt;
    const train_data data = su.data;
    opt.epochs = 2;
    opt.warmup_epochs = 2;
    sermo_error err;
    train_result res;
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/base", dir);
    mkdir(opt.out_dir, 0755);
    CHECK(train_run(&opt, &data, NULL, NULL, &res, &err) == SERMO_OK, "base run: %s", err.msg);

    /* Fine-tune the saved model: every tensor of the model is copied before the first batch. */
    snprintf(opt.init_from, sizeof opt.init_from, "%s/base/model.safetensors", dir);
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/tuned", dir);
    mkdir(opt.out_dir, 0755);
    opt.seed = 6;
    model *shape = make(2, 1);
    int32_t n_tensors = shape ? shape->params.n + shape->buffers.n : -1;
    model_free(shape);
    seen s = {0};
    CHECK(train_run(&opt, &data, watch, &s, &res, &err) == SERMO_OK, "fine-tune run: %s", err.msg);
    CHECK(s.init_calls == 1 && s.batches_before_init == 0 && s.copied == res.init_copied && s.total == res.init_total &&
              res.init_copied == n_tensors && res.init_total == n_tensors + 2,
          "init reported once, first: %d calls, %d of %d (result %d of %d)", s.init_calls, s.copied, s.total,
          res.init_copied, res.init_total);
    CHECK(res.best_macro_f1 >= 0.9f, "fine-tuned model is good from the start: f1 %g", res.best_macro_f1);

    opt.resume = 1;
    CHECK(train_run(&opt, &data, NULL, NULL, &res, &err) == SERMO_ERR_INVALID && strstr(err.msg, "model.init_from") &&
              strstr(err.msg, "resum"),
          "init_from with resume refused: %s", err.msg);
    opt.resume = 0;

    /* The command prints the count (only when the CLI was built beside us). */
    const char *bin = getenv("SERMO_BIN");
    if (bin && access(bin, X_OK) == 0) {
        char cmd[4096], line[512];
        snprintf(cmd, sizeof cmd,
                 "%s train %s/manifest.csv --out %s/cli --cache %s/cache train.epochs=1 train.frames=24 "
                 "train.batch_size=8 train.threads=1 features.n_mels=%d model.init_from=%s 2>&1",
                 bin, dir, dir, dir, NMEL, opt.init_from);
        FILE *p = popen(cmd, "r");
        int found = 0;
        char want[1100];
        snprintf(want, sizeof want, "init_from: copied %d of %d tensors from %s", n_tensors, n_tensors + 2,
                 opt.init_from);
        while (p && fgets(line, sizeof line, p)) found |= strstr(line, want) != NULL;
        int rc = p ? pclose(p) : -1;
        CHECK(rc == 0 && found, "sermo train prints '%s' (rc %d)", want, rc);
        snprintf(cmd, sizeof cmd, "%s train %s/manifest.csv --out %s/cli --cache %s/cache --resume train.epochs=2 "
                 "train.frames=24 features.n_mels=%d model.init_from=%s 2>&1", bin, dir, dir, dir, NMEL, opt.init_from);
        p = popen(cmd, "r");
        found = 0;
        while (p && fgets(line, sizeof line, p)) found |= strstr(line, "cannot be combined") != NULL;
        rc = p ? pclose(p) : -1;
        CHECK(rc != 0 && found, "--resume with model.init_from refused (rc %d)", rc);
    } else {
        fprintf(stderr, "note: SERMO_BIN not built; the command-line checks were not run\n");
    }
    tt_setup_free(&su);
}

/* `sermo train model=autoencoder` then cnn3 from it: the reconstruction loss
 * falls during pretraining, and the saved encoder is what init_from copies. */
static void test_pretrain(void) {
    tt_setup su;
    CHECK(tt_setup_init(&su, dir, NCLIP, NMEL) == 0, "synthetic corpus and cache");
    if (!su.cache) return;
    train_options opt = su.opt;
    snprintf(opt.model, sizeof opt.model, "autoencoder");
    opt.epochs = 6;
    opt.patience = 0;
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/ae", dir);
    mkdir(opt.out_dir, 0755);
    sermo_error err;
    train_result res;
    CHECK(train_run(&opt, &su.data, NULL, NULL, &res, &err) == SERMO_OK, "autoencoder run: %s", err.msg);
    /* val_macro_f1 holds -MSE for a reconstructing model. */
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/ae/history.csv", dir);
    FILE *f = fopen(path, "r");
    float first = 0, last = 0, v;
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%*d,%*g,%*g,%*g,%g", &v) == 1) {
            if (!n++) first = v;
            last = v;
        }
    if (f) fclose(f);
    CHECK(n == 6 && last < 0.7f * first, "validation MSE falls: %g -> %g over %d epochs", first, last, n);
    CHECK(res.best_macro_f1 == -last || res.best_macro_f1 > -last, "best is the lowest loss: %g", res.best_macro_f1);
    opt.mixup_alpha = 0.2f;
    CHECK(train_run(&opt, &su.data, NULL, NULL, &res, &err) == SERMO_ERR_INVALID && strstr(err.msg, "mixup"),
          "mixup refused for the autoencoder: %s", err.msg);

    train_options cls = su.opt;
    snprintf(cls.init_from, sizeof cls.init_from, "%s/ae/model.safetensors", dir);
    snprintf(cls.out_dir, sizeof cls.out_dir, "%s/from-ae", dir);
    mkdir(cls.out_dir, 0755);
    cls.epochs = 1;
    CHECK(train_run(&cls, &su.data, NULL, NULL, &res, &err) == SERMO_OK, "cnn3 from the encoder: %s", err.msg);
    /* cnn3's features.*: 3 convs, 3 BN affine pairs, 3 running-stat pairs. */
    CHECK(res.init_copied == 15, "cnn3 took %d tensors of the autoencoder's %d", res.init_copied, res.init_total);
    sermo_model *loaded = sermo_model_load(cls.init_from, 1, &err);
    CHECK(!loaded && strstr(err.msg, "does not classify"), "an autoencoder file is not a classifier: %s", err.msg);
    sermo_model_free(loaded);
    tt_setup_free(&su);
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    test_copy();
    test_autoencoder();
    test_run();
    test_pretrain();
    tt_remove_dir(dir);
    return check_report();
}
