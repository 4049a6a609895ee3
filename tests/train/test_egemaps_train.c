/* test_egemaps_train.c: the egemaps-linear recipe end to end through the
 * public training path: tones of two pitches (150 Hz "low" and 300 Hz
 * "high", each detuned a little, with white noise) are written to a temp
 * folder, cached with features.kind=egemaps (one column of functionals per
 * clip), trained with train_run, and must be told apart on every
 * validation clip. The saved model.safetensors is loaded with
 * sermo_model_load, and its probabilities for each validation file must
 * equal softmax(((x - mean) / std) W^T + b) computed here in double from
 * the file's own tensors and a fresh egemaps handle (1e-6). */
#include "train_test_util.h"

#include "io/safetensors.h"

#define NCLIP 32

static char dir[] = "/tmp/sermo_test_egemaps_train_XXXXXX";

static const float *tensor(const sermo_st_file *f, const char *name, int64_t numel) {
    const sermo_st_tensor *t = sermo_st_find(f, name);
    CHECK(t && t->dtype == SERMO_ST_F32 && sermo_st_numel(t) == numel, "tensor %s of %lld floats", name,
          (long long)numel);
    return t && sermo_st_numel(t) == numel ? t->data : NULL;
}

/* The model file's probabilities for path against the hand computation. */
static void check_file(sermo_model *clf, const sermo_st_file *st, sermo_features *eg, const char *path,
                       int32_t label, int *correct) {
    enum { L = 2 };
    sermo_error err;
    float probs[L];
    if (sermo_model_predict_file(clf, path, probs, &err) != SERMO_OK) {
        CHECK(0, "predict %s: %s", path, err.msg);
        return;
    }
    *correct += (probs[label] > 0.5f);
    const int32_t D = sermo_features_n_bins(eg);
    const float *W = tensor(st, "fc.weight", (int64_t)L * D), *b = tensor(st, "fc.bias", L),
                *mean = tensor(st, "norm.mean", D), *std = tensor(st, "norm.std", D);
    sermo_audio_params ap;
    sermo_audio_default_params(&ap);
    sermo_audio audio;
    float x[256];
    if (!W || !b || !mean || !std || sermo_audio_load_file(path, &ap, &audio, &err) != SERMO_OK) return;
    CHECK(sermo_features_compute(eg, audio.samples, audio.n, x, &err) == SERMO_OK, "features: %s", err.msg);
    sermo_audio_free(&audio);
    double z[L], top = -INFINITY, sum = 0;
    for (int l = 0; l < L; l++) {
        z[l] = b[l];
        for (int32_t d = 0; d < D; d++) z[l] += ((double)x[d] - mean[d]) / std[d] * W[l * D + d];
        top = fmax(top, z[l]);
    }
    float want[L];
    for (int l = 0; l < L; l++) sum += exp(z[l] - top);
    for (int l = 0; l < L; l++) want[l] = (float)(exp(z[l] - top) / sum);
    check_close("reloaded model's probabilities", probs, want, L, 1e-6, 1e-5);
}

int main(void) {
    (void)tt_make_cache; /* train_test_util.h's log-mel corpus; this one is egemaps */
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    char path[1200], manifest[1200];
    snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
    FILE *mf = fopen(manifest, "w");
    if (!mf) SKIP("cannot write %s", manifest);
    fputs("path,label,speaker\n", mf);
    uint64_t noise = 777;
    for (int i = 0; i < NCLIP; i++) {
        double freq = (i % 2 ? 300 : 150) * (1 + 0.04 * ((i * 7) % 5 - 2) / 2.0);
        snprintf(path, sizeof path, "%s/clip%03d.wav", dir, i);
        tt_write_tone(path, freq, 0.4 + 0.05 * (i % 7), 16000, &noise);
        fprintf(mf, "clip%03d.wav,%s,s%d\n", i, i % 2 ? "high" : "low", i % 4);
    }
    fclose(mf);

    sermo_error err;
    sermo_corpus_params cp;
    sermo_corpus_default_params(&cp);
    sermo_corpus *corpus = sermo_corpus_init(&cp);
    CHECK(sermo_corpus_add(corpus, manifest, SERMO_CORPUS_MANIFEST, &err) == SERMO_OK, "manifest: %s", err.msg);
    sermo_feature_params fp;
    sermo_feature_default_params(&fp);
    fp.kind = SERMO_FEATURE_EGEMAPS;
    sermo_cache *cache = tt_open_cache(corpus, dir, &fp);
    if (!cache) {
        CHECK(0, "egemaps cache built and opened");
        sermo_corpus_free(corpus);
        tt_remove_dir(dir);
        return check_report();
    }
    sermo_features *eg = sermo_features_init(&fp, &err);
    const int32_t D = sermo_features_n_bins(eg);
    CHECK(sermo_cache_n_bins(cache) == D && sermo_cache_size(cache) == NCLIP, "cache of %d x %lld",
          sermo_cache_n_bins(cache), (long long)sermo_cache_size(cache));
    int one_frame = 1;
    for (int64_t i = 0; i < sermo_cache_size(cache); i++) {
        int64_t frames = 0;
        sermo_cache_item(cache, i, &frames);
        one_frame &= frames == 1;
    }
    CHECK(one_frame, "every clip is one column");

    int8_t part[NCLIP];
    for (int i = 0; i < NCLIP; i++) part[i] = i % 4 == 0 ? SERMO_PART_VAL : SERMO_PART_TRAIN;
    const char *names[2] = {sermo_corpus_class_name(corpus, 0), sermo_corpus_class_name(corpus, 1)};
    /* What `sermo train` stores so the file rebuilds its front end. */
    const char *mk[] = {"config.features.kind"}, *mv[] = {"egemaps"};
    train_data data = {.cache = cache, .part = part, .n_classes = 2, .class_names = names, .meta_keys = mk,
                       .meta_values = mv, .n_meta = 1};
    train_options opt;
    train_options_default(&opt);
    snprintf(opt.model, sizeof opt.model, "egemaps-linear");
    opt.epochs = 30;
    opt.batch_size = 8;
    opt.frames = 1;
    opt.lr = 1e-2f;
    opt.patience = 0;
    opt.threads = 1;
    opt.seed = 3;
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/run", dir);
    mkdir(opt.out_dir, 0755);
    train_result res;
    sermo_status st = train_run(&opt, &data, NULL, NULL, &res, &err);
    CHECK(st == SERMO_OK, "train: %s", err.msg);
    CHECK(st == SERMO_OK && res.last.val_acc == 1.0f && res.best_macro_f1 == 1.0f,
          "two pitches apart: val acc %g, best macro-F1 %g", res.last.val_acc, res.best_macro_f1);

    snprintf(path, sizeof path, "%s/run/model.safetensors", dir);
    sermo_model *clf = st == SERMO_OK ? sermo_model_load(path, 1, &err) : NULL;
    sermo_st_file *file = st == SERMO_OK ? sermo_st_open(path, &err) : NULL;
    CHECK(clf && file, "reload %s: %s", path, err.msg);
    if (clf && file) {
        CHECK(sermo_model_feature_params(clf)->kind == SERMO_FEATURE_EGEMAPS, "the file rebuilds egemaps");
        int correct = 0, n_val = 0;
        for (int i = 0; i < NCLIP; i += 4, n_val++) {
            snprintf(path, sizeof path, "%s/clip%03d.wav", dir, i);
            int32_t label = !strcmp(names[1], i % 2 ? "high" : "low");
            check_file(clf, file, eg, path, label, &correct);
        }
        CHECK(correct == n_val, "reloaded model: %d of %d validation clips right", correct, n_val);
    }
    sermo_st_close(file);
    sermo_model_free(clf);
    sermo_features_free(eg);
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
    tt_remove_dir(dir);
    return check_report();
}
