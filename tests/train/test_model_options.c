/* test_model_options.c: the model.* family keys and the new train.* keys
 * (groups, waveform augmentation) from a config, their errors naming the
 * key, and sermo_model_load rebuilding the same model_config from a model
 * file's "config.model.*" metadata (and keeping the defaults without it). */
#include "check.h"

#include "train/train.h"

#include <unistd.h>

static sermo_status parse(const char *const *kv, train_options *opt, sermo_error *err) {
    sermo_config *c = sermo_config_init();
    for (int i = 0; kv[i]; i += 2) sermo_config_set(c, kv[i], kv[i + 1]);
    train_options_default(opt);
    sermo_status st = train_options_from_config(c, opt, err);
    sermo_config_free(c);
    return st;
}

static void expect_error(const char *key, const char *value, const char *needle) {
    const char *kv[] = {key, value, NULL};
    train_options opt;
    sermo_error err = {0};
    sermo_status st = parse(kv, &opt, &err);
    CHECK(st == SERMO_ERR_INVALID && strstr(err.msg, key) && strstr(err.msg, needle), "%s=%s: '%s' (want '%s')",
          key, value, err.msg, needle);
    if (strstr(needle, "keys:")) fprintf(stderr, "%s\n", err.msg);
}

static void test_model_keys(void) {
    train_options opt;
    sermo_error err;
    const char *none[] = {NULL};
    CHECK(parse(none, &opt, &err) == SERMO_OK, "%s", err.msg);
    model_config zero = {0};
    CHECK(!memcmp(&opt.net, &zero, sizeof zero) && !opt.init_from[0], "defaults: every family default");
    CHECK(opt.slow_lr_mult == 0.01f && opt.backbone_lr_mult == 1.0f && opt.noise_prob == 0 &&
              opt.noise_snr_min == 10 && opt.noise_snr_max == 30 && opt.gain_db == 0 && opt.shift_ms == 0 &&
              !opt.freeze[0] && opt.freeze_blocks == 0 && opt.slow_blocks == 0,
          "train defaults");

    const char *kv[] = {"model.name", "vit", "model.channels", "3", "model.image_size", "224",
                        "model.batchnorm", "false", "model.size", "small", "model.drop_path", "0.1",
                        "model.head", "mlp", "model.head_hidden", "512, 256", "model.pool", "meanstd", "model.init_from", "runs/ae/model.safetensors",
                        "train.freeze", "features.0, features.1", "train.freeze_blocks", "1", "train.slow_blocks", "3",
                        "train.slow_lr_mult", "0.02", "train.backbone_lr_mult", "0.1", "train.noise_prob", "0.5",
                        "train.noise_snr_min", "5", "train.noise_snr_max", "25", "train.gain_db", "6",
                        "train.shift_ms", "100", NULL};
    CHECK(parse(kv, &opt, &err) == SERMO_OK, "%s", err.msg);
    CHECK(!strcmp(opt.model, "vit") && opt.net.channels == 3 && opt.net.image_size == 224 && opt.net.batchnorm == -1 &&
              !strcmp(opt.net.size, "small") && opt.net.drop_path == 0.1f && opt.net.head == MODEL_HEAD_MLP &&
              opt.net.head_hidden[0] == 512 && opt.net.head_hidden[1] == 256 && opt.net.pool == MODEL_POOL_MEANSTD &&
              !strcmp(opt.init_from, "runs/ae/model.safetensors"),
          "model keys: channels %d image %d bn %d size '%s' dp %g head %d hidden %d,%d init '%s'", opt.net.channels,
          opt.net.image_size, opt.net.batchnorm, opt.net.size, opt.net.drop_path, opt.net.head, opt.net.head_hidden[0],
          opt.net.head_hidden[1], opt.init_from);
    CHECK(!strcmp(opt.freeze, "features.0, features.1") && opt.freeze_blocks == 1 && opt.slow_blocks == 3 &&
              opt.slow_lr_mult == 0.02f && opt.backbone_lr_mult == 0.1f && opt.noise_prob == 0.5f &&
              opt.noise_snr_min == 5 && opt.noise_snr_max == 25 && opt.gain_db == 6 && opt.shift_ms == 100,
          "train keys");
    CHECK(opt.net.n_classes == 0 && opt.net.max_batch == 0, "sizes are left to train_run");

    /* What configs/default.yaml writes means "the family's default". */
    const char *defaults[] = {"model.channels", "0", "model.image_size", "0", "model.batchnorm", "default",
                              "model.size", "default", "model.drop_path", "0", "model.head", "default",
                              "model.head_hidden", "default", "model.pool", "default", "model.init_from", "",
                              "train.freeze", "none", NULL};
    CHECK(parse(defaults, &opt, &err) == SERMO_OK && !memcmp(&opt.net, &zero, sizeof zero) && !opt.init_from[0] &&
              !opt.freeze[0],
          "default values: %s", err.msg);
    const char *bn_on[] = {"model.batchnorm", "true", "model.image_size", "-1", "model.drop_path", "-1", NULL};
    CHECK(parse(bn_on, &opt, &err) == SERMO_OK && opt.net.batchnorm == 1 && opt.net.image_size == -1 &&
              opt.net.drop_path == -1.0f,
          "batchnorm true, image_size -1 and drop_path -1");

    expect_error("model.channels", "three", "integer");
    expect_error("model.channels", "65", "[0, 64]");
    expect_error("model.image_size", "-2", "integer");
    expect_error("model.batchnorm", "maybe", "true or false");
    expect_error("model.drop_path", "1.5", "number");
    expect_error("model.head", "deep", "default | linear | mlp");
    expect_error("model.pool", "max", "default | mean | meanstd | attention");
    expect_error("model.head_hidden", "512", "two integers");
    expect_error("model.head_hidden", "512, 256, 128", "two integers");
    expect_error("model.head_hidden", "512, 0", "two integers");
    expect_error("model.size", "a-name-far-too-long-for-it", "bytes");
    expect_error("model.depth", "3", "model.* keys: name, init_from, channels, image_size, width, batchnorm, size, "
                                     "drop_path, head, head_hidden, pool");
    expect_error("model.chanels", "3", "did you mean model.channels?");
    expect_error("train.freeze", "features.0,,features.1", "prefixes");
    expect_error("train.freeze_blocks", "-1", "integer");
    expect_error("train.slow_lr_mult", "-0.1", "number");
    expect_error("train.noise_prob", "1.5", "number");
    expect_error("train.gain_db", "-3", "number");
    expect_error("train.shift_ms", "x", "number");
    expect_error("train.lrr", "1", "did you mean train.lr?");
    expect_error("train.unknown_thing", "1", "train.* keys: epochs, batch_size");
    const char *snr[] = {"train.noise_snr_min", "30", "train.noise_snr_max", "10", NULL};
    CHECK(parse(snr, &opt, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.noise_snr_min"), "snr order: %s",
          err.msg);
    const char *slow[] = {"train.freeze_blocks", "2", "train.slow_blocks", "2", NULL};
    CHECK(parse(slow, &opt, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.slow_blocks"), "empty slow tier: %s",
          err.msg);
}

/* A cnn3 saved as train_run saves it, with these model.* settings in its
 * config metadata (n_meta 0: none, as files before the keys existed). */
static void save(const char *path, const model_config *family, const char *const *keys, const char *const *values,
                 int n_meta) {
    model_config cfg = *family;
    cfg.n_classes = 2;
    cfg.in_channels = 1;
    cfg.n_bins = 16;
    cfg.max_frames = 20;
    cfg.max_batch = 1;
    cfg.threads = 1;
    sermo_error err;
    model *m = model_create("cnn3", &cfg, 3, &err);
    CHECK(m != NULL, "create: %s", err.msg);
    if (!m) return;
    train_options opt;
    train_options_default(&opt);
    opt.frames = 20;
    float mean[16] = {0}, std[16];
    for (int f = 0; f < 16; f++) std[f] = 1;
    const char *names[2] = {"a", "b"};
    const char *k[16] = {"config.features.n_mels"}, *v[16] = {"16"};
    for (int i = 0; i < n_meta; i++) k[i + 1] = keys[i], v[i + 1] = values[i];
    train_data data = {.n_classes = 2, .class_names = names, .meta_keys = k, .meta_values = v, .n_meta = 1 + n_meta};
    CHECK(train_save_model(path, m, &opt, &data, mean, std, 0, 1.0f, &err) == SERMO_OK, "save: %s", err.msg);
    model_free(m);
}

static void test_model_file(void) {
    char dir[] = "/tmp/sermo_test_model_options_XXXXXX";
    if (!mkdtemp(dir)) return;
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    /* Settings cnn3 accepts today; the point is that load rebuilds exactly them. */
    const char *keys[] = {"config.model.name", "config.model.head_hidden", "config.model.drop_path",
                          "config.model.size", "config.model.init_from", "config.model.batchnorm"};
    const char *values[] = {"cnn3", "64, 32", "0.25", "tiny", "/some/where.safetensors", "true"};
    model_config family = {.head_hidden = {64, 32}, .drop_path = 0.25f, .batchnorm = 1};
    snprintf(family.size, sizeof family.size, "tiny");
    save(path, &family, keys, values, 6);
    sermo_error err;
    sermo_model *m = sermo_model_load(path, 1, &err);
    CHECK(m != NULL, "load: %s", err.msg);
    if (m) {
        const model_config *c = &train_predictor_net(m)->cfg;
        CHECK(c->head_hidden[0] == 64 && c->head_hidden[1] == 32 && c->drop_path == 0.25f && c->batchnorm == 1 &&
                  !strcmp(c->size, "tiny") && c->channels == 0 && c->head == MODEL_HEAD_DEFAULT,
              "rebuilt config: hidden %d,%d drop_path %g bn %d size '%s'", c->head_hidden[0], c->head_hidden[1],
              c->drop_path, c->batchnorm, c->size);
    }
    sermo_model_free(m);

    /* An older file without config.model.* keeps every family default. */
    model_config none = {0};
    save(path, &none, NULL, NULL, 0);
    m = sermo_model_load(path, 1, &err);
    CHECK(m != NULL, "load old: %s", err.msg);
    if (m) {
        /* model.width resolves to the family's at create. */
        model_config zero = {.width = train_predictor_net(m)->spec->width}, got = train_predictor_net(m)->cfg;
        CHECK(zero.width > 0, "the family has a default width");
        got.n_classes = got.in_channels = got.n_bins = got.max_frames = got.max_batch = got.threads = 0;
        got.dropout = 0;
        CHECK(!memcmp(&got, &zero, sizeof zero), "old file: family defaults");
    }
    sermo_model_free(m);

    /* A bad value in the file is refused naming the file and the key. */
    const char *bad_k[] = {"config.model.head"}, *bad_v[] = {"deep"};
    save(path, &none, bad_k, bad_v, 1);
    m = sermo_model_load(path, 1, &err);
    CHECK(m == NULL && strstr(err.msg, path) && strstr(err.msg, "model.head"), "bad model key in file: %s", err.msg);
    sermo_model_free(m);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_model_keys();
    test_model_file();
    return check_report();
}
