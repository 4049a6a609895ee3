/* test_model_file.c: the model file alone classifies audio: sermo_model_load
 * rebuilds the network, labels, normalisation and front end from it, its
 * predictions equal the network's own softmax, PCM and file input agree, and
 * every kind of damaged file is refused with a message naming it. An
 * ensemble stores its members' large tensors as F16, but keeps one in F32
 * when a value would overflow F16. */
#include "check.h"

#include "io/safetensors.h"
#include "train/train.h"

#include <sndfile.h>
#include <unistd.h>

#define F 16
#define T 20
#define L 3

static char dir[] = "/tmp/sermo_test_model_file_XXXXXX";

/* A cnn3 saved the way train_run saves it, with its settings as metadata. */
static model *save_model(const char *path) {
    model_config cfg = {.n_classes = L, .in_channels = 1, .n_bins = F, .max_frames = T, .max_batch = 1,
                        .threads = 1, .dropout = 0};
    sermo_error err;
    model *m = model_create("cnn3", &cfg, 7, &err);
    CHECK(m != NULL, "create: %s", err.msg);
    /* Non-trivial running statistics, so that loading them is tested too. */
    for (size_t i = 0; i < m->buffers.total; i++) m->buffers.data[i] = 0.5f + 0.001f * (float)(i % 97);
    train_options opt;
    train_options_default(&opt);
    opt.frames = T;
    float mean[F], std[F];
    for (int f = 0; f < F; f++) mean[f] = -20.0f + f, std[f] = 5.0f + 0.5f * f;
    const char *names[L] = {"low", "mid, with comma", "high \"quoted\""};
    const char *keys[] = {"config.audio.sample_rate", "config.features.n_mels", "config.features.n_fft",
                          "config.features.win_length", "config.features.hop_length", "config.features.kind",
                          "config.features.log_mode"};
    const char *values[] = {"8000", "16", "256", "200", "80", "logmel", "db"};
    train_data data = {.n_classes = L, .class_names = names, .meta_keys = keys, .meta_values = values, .n_meta = 7};
    CHECK(train_save_model(path, m, &opt, &data, mean, std, 3, 0.5f, &err) == SERMO_OK, "save: %s", err.msg);
    return m;
}

/* Rewrites the model file at src into dst with one change. */
static void rewrite(const char *src, const char *dst, const char *drop_tensor, const char *reshape_tensor,
                    const char *meta_key, const char *meta_value) {
    sermo_error err;
    sermo_st_file *f = sermo_st_open(src, &err);
    int nt = sermo_st_n_tensors(f), nm = sermo_st_n_meta(f), k = 0, j = 0;
    sermo_st_tensor *t = calloc((size_t)nt, sizeof *t);
    const char **keys = calloc((size_t)nm, sizeof *keys), **values = calloc((size_t)nm, sizeof *values);
    for (int i = 0; i < nt; i++) {
        const sermo_st_tensor *x = sermo_st_tensor_at(f, i);
        if (drop_tensor && !strcmp(x->name, drop_tensor)) continue;
        t[k] = *x;
        if (reshape_tensor && !strcmp(x->name, reshape_tensor)) { /* same bytes, other shape */
            t[k].ndim = 1;
            t[k].shape[0] = sermo_st_numel(x);
        }
        k++;
    }
    for (int i = 0; i < nm; i++) {
        const char *v, *key = sermo_st_meta_at(f, i, &v);
        keys[j] = key;
        values[j++] = meta_key && !strcmp(key, meta_key) ? meta_value : v;
    }
    CHECK(sermo_st_write(dst, t, k, keys, values, j, &err) == SERMO_OK, "rewrite: %s", err.msg);
    sermo_st_close(f);
    free(t);
    free(keys);
    free(values);
}

/* src with element 0 of tensor `name` set to value, written to dst. */
static void rewrite_value(const char *src, const char *dst, const char *name, float value) {
    sermo_error err;
    sermo_st_file *f = sermo_st_open(src, &err);
    int nt = sermo_st_n_tensors(f), nm = sermo_st_n_meta(f);
    sermo_st_tensor *t = calloc((size_t)nt, sizeof *t);
    const char **keys = calloc((size_t)nm, sizeof *keys), **values = calloc((size_t)nm, sizeof *values);
    float *copy = NULL;
    for (int i = 0; i < nt; i++) {
        t[i] = *sermo_st_tensor_at(f, i);
        if (strcmp(t[i].name, name)) continue;
        copy = malloc(sermo_st_nbytes(&t[i]));
        memcpy(copy, t[i].data, sermo_st_nbytes(&t[i]));
        copy[0] = value;
        t[i].data = copy;
    }
    for (int i = 0; i < nm; i++) keys[i] = sermo_st_meta_at(f, i, &values[i]);
    CHECK(copy && sermo_st_write(dst, t, nt, keys, values, nm, &err) == SERMO_OK, "rewrite %s", name);
    sermo_st_close(f);
    free(copy);
    free(t);
    free(keys);
    free(values);
}

/* The dtype member 0 of the ensemble file at path stores tensor `name` in,
 * and its element 0 widened to float; -1 when absent. */
static int member_dtype(const char *path, const char *name, float *first) {
    sermo_st_file *e = sermo_st_open(path, NULL);
    const sermo_st_tensor *bytes = e ? sermo_st_find(e, "member.0") : NULL;
    sermo_st_file *m = bytes ? sermo_st_open_memory(bytes->data, sermo_st_nbytes(bytes), "member.0", NULL) : NULL;
    const sermo_st_tensor *t = m ? sermo_st_find(m, name) : NULL;
    int dtype = t ? (int)t->dtype : -1;
    if (t)
        *first = t->dtype == SERMO_ST_F16 ? sermo_st_half_to_float(*(const uint16_t *)t->data)
                                          : *(const float *)t->data;
    sermo_st_close(m);
    sermo_st_close(e);
    return dtype;
}

/* A weight of 1e5 (beyond F16's 65504) keeps its tensor F32 in an ensemble;
 * the other large tensors become F16. */
static void test_ensemble_overflow(const char *path, const char *big, const char *ens) {
    sermo_error err;
    rewrite_value(path, big, "features.4.weight", 1e5f);
    const char *members[] = {big, path};
    CHECK(sermo_model_write_ensemble(ens, members, NULL, 2, &err) == SERMO_OK, "ensemble: %s", err.msg);
    float kept = 0, halved = 0;
    CHECK(member_dtype(ens, "features.4.weight", &kept) == SERMO_ST_F32 && kept == 1e5f,
          "the tensor holding 1e5 stays F32 (element 0: %g)", kept);
    CHECK(member_dtype(ens, "features.0.weight", &halved) == SERMO_ST_F32, "a 288-element tensor stays F32");
    CHECK(member_dtype(ens, "features.8.weight", &halved) == SERMO_ST_F16, "a large tensor becomes F16");
    sermo_model *m = sermo_model_load(ens, 1, &err);
    CHECK(m != NULL, "the ensemble loads: %s", m ? "" : err.msg);
    sermo_model_free(m);
}

static void expect_refused(const char *path, const char *why, const char *needle) {
    sermo_error err = {0};
    sermo_model *m = sermo_model_load(path, 1, &err);
    CHECK(m == NULL && strstr(err.msg, path) && strstr(err.msg, needle), "%s: got '%s', want '%s'", why, err.msg,
          needle);
    sermo_model_free(m);
}

int main(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    char path[512], bad[512], wav[512], ens[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    snprintf(wav, sizeof wav, "%s/tone.wav", dir);
    snprintf(ens, sizeof ens, "%s/ensemble.safetensors", dir);
    model *net = save_model(path);
    sermo_error err;
    sermo_model *m = sermo_model_load(path, 1, &err);
    CHECK(m != NULL, "load: %s", err.msg);
    if (!m || !net) return check_report();

    CHECK(sermo_model_n_classes(m) == L, "classes %d", sermo_model_n_classes(m));
    CHECK(!strcmp(sermo_model_class_name(m, 1), "mid, with comma") &&
              !strcmp(sermo_model_class_name(m, 2), "high \"quoted\""),
          "labels survive as JSON: '%s'", sermo_model_class_name(m, 1));
    CHECK(sermo_model_audio_params(m)->sample_rate == 8000 && sermo_model_feature_params(m)->n_fft == 256 &&
              sermo_model_feature_params(m)->sample_rate == 8000,
          "settings from metadata");
    CHECK(sermo_model_meta(m, "model") && !strcmp(sermo_model_meta(m, "model"), "cnn3"), "meta model");

    /* Features of 30 frames: the model takes the centred 20, normalised. */
    float feat[F * 30], x[F * T], probs[L], want[L];
    for (int i = 0; i < F * 30; i++) feat[i] = -30.0f + 40.0f * (float)sin(0.37 * i);
    CHECK(sermo_model_predict_features(m, feat, 30, probs, &err) == SERMO_OK, "predict: %s", err.msg);
    float mean[F], std[F];
    for (int f = 0; f < F; f++) mean[f] = -20.0f + f, std[f] = 5.0f + 0.5f * f;
    train_window(x, feat, 30, F, T, 5, mean, std);
    const float *logits = model_forward(net, x, 1, T, 0);
    double top = logits[0], sum = 0;
    for (int k = 1; k < L; k++) top = fmax(top, logits[k]);
    for (int k = 0; k < L; k++) sum += want[k] = (float)exp(logits[k] - top);
    for (int k = 0; k < L; k++) want[k] = (float)(want[k] / sum);
    check_close("loaded model = saved network", probs, want, L, 1e-6, 1e-5);

    /* PCM at another rate and a float WAV of the same samples agree. */
    float pcm[12000], from_pcm[L], from_file[L];
    for (int i = 0; i < 12000; i++) pcm[i] = 0.3f * (float)sin(2 * M_PI * 440 * i / 16000.0);
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *sf = sf_open(wav, SFM_WRITE, &info);
    sf_writef_float(sf, pcm, 12000);
    sf_close(sf);
    CHECK(sermo_model_predict_pcm(m, pcm, 12000, 16000, from_pcm, &err) == SERMO_OK, "pcm: %s", err.msg);
    CHECK(sermo_model_predict_file(m, wav, from_file, &err) == SERMO_OK, "file: %s", err.msg);
    check_close("pcm = file", from_pcm, from_file, L, 0, 0);
    CHECK(fabsf(from_pcm[0] + from_pcm[1] + from_pcm[2] - 1.0f) < 1e-5f, "probabilities sum to 1");
    CHECK(sermo_model_predict_file(m, "/nonexistent.wav", probs, &err) != SERMO_OK &&
              strstr(err.msg, "/nonexistent.wav"),
          "bad audio names the file: %s", err.msg);
    sermo_model_free(m);
    model_free(net);
    test_ensemble_overflow(path, bad, ens);

    /* Damaged files: each refused, naming the file and the reason. */
    expect_refused("/nonexistent/model.safetensors", "missing file", "No such file");
    rewrite(path, bad, "features.4.weight", NULL, NULL, NULL);
    expect_refused(bad, "missing tensor", "features.4.weight");
    rewrite(path, bad, NULL, "classifier.weight", NULL, NULL);
    expect_refused(bad, "wrong shape", "classifier.weight");
    rewrite(path, bad, NULL, NULL, "format", "something-else");
    expect_refused(bad, "wrong format", "not a Sermo model file");
    rewrite(path, bad, NULL, NULL, "model", "resnet999");
    expect_refused(bad, "unknown model", "resnet999");
    rewrite(path, bad, NULL, NULL, "labels", "low,high");
    expect_refused(bad, "labels not JSON", "labels");
    rewrite(path, bad, NULL, NULL, "n_bins", "17");
    expect_refused(bad, "n_bins disagrees with the features", "model expects 17");
    FILE *in = fopen(path, "rb"), *out = fopen(bad, "wb");
    char *buf = malloc(1 << 22);
    size_t n = fread(buf, 1, 1 << 22, in);
    fwrite(buf, 1, n - 100, out); /* all but the last 100 bytes of tensor data */
    free(buf);
    fclose(in);
    fclose(out);
    expect_refused(bad, "truncated", bad);

    unlink(path);
    unlink(bad);
    unlink(wav);
    unlink(ens);
    rmdir(dir);
    return check_report();
}
