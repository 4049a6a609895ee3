/* test_header_example.c: the usage example at the top of include/sermo.h,
 * verbatim in example(), run on a model file and a clip made here. */
#include "check.h"

#include "train/train.h"

#include <sndfile.h>
#include <unistd.h>

static int example(const char *model_path, const char *clip_path) {
    sermo_error err;
    sermo_model *classifier = sermo_model_load(model_path, 0, &err);
    if (!classifier) {
        fprintf(stderr, "sermo: %s\n", err.msg);       // "<path>: <reason>"
        return 1;
    }
    float probs[SERMO_METRICS_MAX_CLASSES];
    if (sermo_model_predict_file(classifier, clip_path, probs, &err) != SERMO_OK) {
        fprintf(stderr, "sermo: %s\n", err.msg);
        sermo_model_free(classifier);
        return 1;
    }
    for (int32_t k = 0; k < sermo_model_n_classes(classifier); k++)
        printf("%s %.3f\n", sermo_model_class_name(classifier, k), probs[k]);
    sermo_model_free(classifier);

    sermo_audio_params ap;
    sermo_audio_default_params(&ap);                 // 16 kHz mono
    sermo_audio audio;
    if (sermo_audio_load_file(clip_path, &ap, &audio, &err) != SERMO_OK) return 1;
    sermo_feature_params fp;
    sermo_feature_default_params(&fp);               // torchaudio's MelSpectrogram defaults, log
    fp.sample_rate = audio.sample_rate;
    sermo_features *feat = sermo_features_init(&fp, &err);
    int64_t frames = sermo_features_n_frames(feat, audio.n);
    float *logmel = malloc(sizeof(float) * (size_t)sermo_features_n_bins(feat) * (size_t)frames);
    sermo_status st = sermo_features_compute(feat, audio.samples, audio.n, logmel, &err); // (bins, frames)
    free(logmel);
    sermo_features_free(feat);
    sermo_audio_free(&audio);
    return st == SERMO_OK ? 0 : 1;
}

int main(void) {
    char dir[] = "/tmp/sermo_test_example_XXXXXX", model_path[256], clip_path[256];
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", dir);
    snprintf(clip_path, sizeof clip_path, "%s/clip.wav", dir);

    float x[16000];
    for (int i = 0; i < 16000; i++) x[i] = 0.3f * (float)sin(2 * M_PI * 220 * i / 16000.0);
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(clip_path, SFM_WRITE, &info);
    sf_writef_float(f, x, 16000);
    sf_close(f);

    /* A freshly initialised cnn3 saved as training saves it, 64 log-mel bins. */
    model_config cfg = {.n_classes = 2, .in_channels = 1, .n_bins = 64, .max_frames = 100, .max_batch = 1};
    sermo_error err;
    model *m = model_create("cnn3", &cfg, 1, &err);
    train_options opt;
    train_options_default(&opt);
    opt.frames = 100;
    float mean[64] = {0}, std[64];
    for (int i = 0; i < 64; i++) std[i] = 1;
    const char *names[] = {"calm", "angry"};
    const char *keys[] = {"config.features.n_mels"}, *values[] = {"64"};
    train_data data = {.n_classes = 2, .class_names = names, .meta_keys = keys, .meta_values = values, .n_meta = 1};
    CHECK(m && train_save_model(model_path, m, &opt, &data, mean, std, 0, 0, &err) == SERMO_OK, "save: %s", err.msg);
    model_free(m);

    CHECK(example(model_path, clip_path) == 0, "the example runs");
    CHECK(example(model_path, "/nonexistent.wav") == 1, "a missing clip is an error");
    CHECK(example("/nonexistent.safetensors", clip_path) == 1, "a missing model is an error");
    unlink(model_path);
    unlink(clip_path);
    rmdir(dir);
    return check_report();
}
