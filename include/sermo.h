/* sermo.h: the public API of libsermo, a speech emotion recognition toolkit.
 *
 * Example: classify a clip with a trained model file, and compute log-mel
 * features directly (compiled and run as tests/train/test_header_example.c).
 *
 *   sermo_error err;
 *   sermo_model *classifier = sermo_model_load(model_path, 0, &err);
 *   if (!classifier) {
 *       fprintf(stderr, "sermo: %s\n", err.msg);       // "<path>: <reason>"
 *       return 1;
 *   }
 *   float probs[SERMO_METRICS_MAX_CLASSES];
 *   if (sermo_model_predict_file(classifier, clip_path, probs, &err) != SERMO_OK) {
 *       fprintf(stderr, "sermo: %s\n", err.msg);
 *       sermo_model_free(classifier);
 *       return 1;
 *   }
 *   for (int32_t k = 0; k < sermo_model_n_classes(classifier); k++)
 *       printf("%s %.3f\n", sermo_model_class_name(classifier, k), probs[k]);
 *   sermo_model_free(classifier);
 *
 *   sermo_audio_params ap;
 *   sermo_audio_default_params(&ap);                 // 16 kHz mono
 *   sermo_audio audio;
 *   if (sermo_audio_load_file(clip_path, &ap, &audio, &err) != SERMO_OK) return 1;
 *   sermo_feature_params fp;
 *   sermo_feature_default_params(&fp);               // torchaudio's MelSpectrogram defaults, log
 *   fp.sample_rate = audio.sample_rate;
 *   sermo_features *feat = sermo_features_init(&fp, &err);
 *   int64_t frames = sermo_features_n_frames(feat, audio.n);
 *   float *logmel = malloc(sizeof(float) * (size_t)sermo_features_n_bins(feat) * (size_t)frames);
 *   sermo_status st = sermo_features_compute(feat, audio.samples, audio.n, logmel, &err); // (bins, frames)
 *   free(logmel);
 *   sermo_features_free(feat);
 *   sermo_audio_free(&audio);
 *   return st == SERMO_OK ? 0 : 1;
 *
 * Conventions: functions that can fail return sermo_status and, when `err` is
 * not NULL, leave a message "<file>: <reason>" in it. The library never exits
 * or prints. Handles are not thread-safe; use one per thread.
 */
#ifndef SERMO_H
#define SERMO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SERMO_API __attribute__((visibility("default")))
#else
#define SERMO_API
#endif

#define SERMO_VERSION "0.1.0"

/* ------------------------------------------------------------------ status */

typedef enum sermo_status {
    SERMO_OK = 0,
    SERMO_ERR_IO,          /* cannot open, read or write a file */
    SERMO_ERR_FORMAT,      /* malformed or unrecognised content */
    SERMO_ERR_EMPTY,       /* valid container but no samples / no items */
    SERMO_ERR_INVALID,     /* bad argument or configuration value */
    SERMO_ERR_NOMEM,       /* allocation failed */
    SERMO_ERR_UNSUPPORTED, /* understood but not supported */
    SERMO_ERR_NETWORK,     /* offline or a download failed */
    SERMO_ERR_CHECKSUM,    /* content does not match its checksum */
} sermo_status;

SERMO_API const char *sermo_status_str(sermo_status status);

#define SERMO_ERROR_MAX 512
typedef struct sermo_error {
    sermo_status status;
    char msg[SERMO_ERROR_MAX]; /* "<file>: <reason>" or "<what>: <reason>" */
} sermo_error;

/* Log / progress callbacks carry user_data so callers need no globals. */
typedef void (*sermo_progress_fn)(int64_t done, int64_t total, const char *what, void *user_data);

/* ------------------------------------------------------------------- audio */

typedef struct sermo_audio_params {
    int32_t sample_rate;   /* target rate in Hz; default 16000; 0 keeps the file's */
    int32_t trim;          /* 1: trim leading/trailing silence; default 0 */
    float trim_db;         /* frames below (peak frame energy + trim_db) dB are silence; default -40 */
    float trim_frame_ms;   /* energy frame length; default 25 */
    float trim_margin_ms;  /* keep this much audio around the voiced region; default 50 */
    float duration_ms;     /* >0: crop or zero-pad to n = round(duration_ms * rate / 1000)
                              samples (halves away from zero); default 0 (variable) */
    int32_t crop_center;   /* 1: crop/pad symmetrically about the centre; 0: keep the start; default 0 */
} sermo_audio_params;

/* Mono float PCM in [-1, 1]. */
typedef struct sermo_audio {
    float *samples;
    int64_t n;
    int32_t sample_rate;
} sermo_audio;

/* What the container says, before any processing. */
typedef struct sermo_audio_info {
    int32_t sample_rate;
    int32_t channels;
    int64_t frames;
    char format[32]; /* e.g. "WAV", "FLAC" */
} sermo_audio_info;

SERMO_API void sermo_audio_default_params(sermo_audio_params *params);

/* Decode + mono + resample + trim + crop/pad. File and memory share one code
 * path (libsndfile virtual I/O); `name` labels errors for memory input. */
SERMO_API sermo_status sermo_audio_load_file(const char *path, const sermo_audio_params *params,
                                             sermo_audio *out, sermo_error *err);
SERMO_API sermo_status sermo_audio_load_memory(const void *data, size_t size, const char *name,
                                               const sermo_audio_params *params, sermo_audio *out,
                                               sermo_error *err);
SERMO_API sermo_status sermo_audio_probe_file(const char *path, sermo_audio_info *info,
                                              sermo_error *err);
SERMO_API void sermo_audio_free(sermo_audio *audio);

/* The steps after decoding (resample, trim, crop/pad) on mono PCM that the
 * caller put in audio (samples from malloc, owned by audio afterwards);
 * `name` labels errors. */
SERMO_API sermo_status sermo_audio_process(sermo_audio *audio, const sermo_audio_params *params,
                                           const char *name, sermo_error *err);

/* Steps of the pipeline, usable alone. Each replaces audio->samples. */
SERMO_API sermo_status sermo_audio_resample(sermo_audio *audio, int32_t rate, sermo_error *err);
SERMO_API void sermo_audio_trim(sermo_audio *audio, float trim_db, float frame_ms, float margin_ms);
SERMO_API sermo_status sermo_audio_fix_length(sermo_audio *audio, int64_t n, int32_t center,
                                              sermo_error *err);

/* ---------------------------------------------------------------- features */

typedef enum sermo_window { SERMO_WINDOW_HANN = 0, SERMO_WINDOW_HAMMING, SERMO_WINDOW_RECT } sermo_window;
typedef enum sermo_pad_mode { SERMO_PAD_REFLECT = 0, SERMO_PAD_CONSTANT } sermo_pad_mode;
typedef enum sermo_mel_scale { SERMO_MEL_HTK = 0, SERMO_MEL_SLANEY } sermo_mel_scale;
typedef enum sermo_feature_kind {
    SERMO_FEATURE_MEL = 0,  /* mel spectrogram (power or magnitude) */
    SERMO_FEATURE_LOGMEL,   /* log of the above (natural log + offset, or dB) */
    SERMO_FEATURE_MFCC,     /* DCT-II (ortho) of the dB mel spectrogram, as torchaudio.transforms.MFCC */
    SERMO_FEATURE_EGEMAPS,  /* eGeMAPS-style functionals of the whole clip (Eyben et al. 2016, no
                               formants): ONE frame of n_bins values; fixed 25/60 ms analysis frames
                               at a 10 ms hop, so n_fft, hop, mels etc. do not apply (egemaps.c) */
} sermo_feature_kind;
typedef enum sermo_log_mode { SERMO_LOG_NATURAL = 0, SERMO_LOG_DB } sermo_log_mode;
/* Per-utterance normalisation of every output row over the clip's frames
 * (cepstral mean / mean-variance normalisation): it removes the channel and
 * much of the speaker's timbre, which a speaker-independent model must ignore. */
typedef enum sermo_utterance_norm {
    SERMO_UTTERANCE_NORM_NONE = 0,
    SERMO_UTTERANCE_NORM_MEAN,    /* subtract each row's mean */
    SERMO_UTTERANCE_NORM_MEANVAR, /* and divide by its standard deviation */
} sermo_utterance_norm;

typedef struct sermo_feature_params {
    /* Defaults follow torchaudio.transforms.MelSpectrogram except where noted. */
    int32_t sample_rate;       /* 16000 */
    int32_t n_fft;             /* 400 */
    int32_t win_length;        /* 0 = n_fft */
    int32_t hop_length;        /* 0 = win_length / 2 */
    sermo_window window;       /* hann (periodic) */
    int32_t center;            /* 1 */
    sermo_pad_mode pad_mode;   /* reflect */
    float power;               /* 2 = power, 1 = magnitude */
    int32_t n_mels;            /* 128 */
    float f_min;               /* 0 */
    float f_max;               /* 0 = sample_rate / 2 */
    sermo_mel_scale mel_scale; /* htk */
    int32_t mel_norm_slaney;   /* 0; 1 = Slaney area normalisation */
    sermo_feature_kind kind;   /* logmel (not torchaudio's default, which is mel) */
    sermo_log_mode log_mode;   /* natural: log(x + log_offset); db: 10*log10 (power) or 20*log10 */
    float log_offset;          /* 1e-6 */
    float top_db;              /* dB mode and MFCC: clamp at max - top_db; <= 0 disables; 80 */
    int32_t n_mfcc;            /* 40 */
    int32_t deltas;            /* 0, 1 or 2: append delta (and delta-delta) rows */
    int32_t delta_win;         /* 5, as torchaudio.functional.compute_deltas */
    sermo_utterance_norm utterance_norm; /* none; applied last, to every row */
} sermo_feature_params;

typedef struct sermo_features sermo_features; /* FFT plan, window, mel bank, scratch */

SERMO_API void sermo_feature_default_params(sermo_feature_params *params);
SERMO_API sermo_features *sermo_features_init(const sermo_feature_params *params, sermo_error *err);
SERMO_API void sermo_features_free(sermo_features *features);
SERMO_API const sermo_feature_params *sermo_features_params(const sermo_features *features);
SERMO_API int64_t sermo_features_n_frames(const sermo_features *features, int64_t n_samples);
/* Rows of the output: n_mels (or n_mfcc) times (1 + deltas). */
SERMO_API int32_t sermo_features_n_bins(const sermo_features *features);
/* out: (n_bins, n_frames) row-major. n_samples must be > 0 (and > n_fft/2 with reflect padding). */
SERMO_API sermo_status sermo_features_compute(sermo_features *features, const float *pcm,
                                              int64_t n_samples, float *out, sermo_error *err);
/* The mel filterbank, (n_freqs = n_fft/2 + 1, n_mels), as torchaudio.functional.melscale_fbanks. */
SERMO_API const float *sermo_features_mel_bank(const sermo_features *features);

/* ------------------------------------------------------------------ corpus */

typedef enum sermo_corpus_kind {
    SERMO_CORPUS_AUTO = 0, /* guess from the folder's file names, or .csv => manifest */
    SERMO_CORPUS_RAVDESS,
    SERMO_CORPUS_CREMAD,
    SERMO_CORPUS_TESS,
    SERMO_CORPUS_SAVEE,
    SERMO_CORPUS_EMODB,
    SERMO_CORPUS_MANIFEST,
} sermo_corpus_kind;

typedef enum sermo_label_set {
    SERMO_LABELS_NATIVE = 0, /* each corpus's own emotions */
    SERMO_LABELS_COMMON6,    /* sad, angry, disgust, fear, happy, neutral; others dropped */
} sermo_label_set;

typedef struct sermo_corpus_params {
    const char *target;        /* column to classify: "emotion" (default), "sex", "age_group", "race", ... */
    sermo_label_set label_set; /* applies when target is "emotion" */
    const char *demographics;  /* CREMA-D VideoDemographics.csv; NULL: look beside the audio */
} sermo_corpus_params;

/* One clip. Columns are shared by the whole corpus (sermo_corpus_column_*). */
typedef struct sermo_item {
    const char *path;    /* as found (folder + file name, or as written in the manifest) */
    const char *speaker; /* corpus-qualified, e.g. "ravdess:07" */
    int32_t label;       /* index into the class names */
    int32_t corpus;      /* sermo_corpus_kind it came from */
} sermo_item;

typedef struct sermo_corpus sermo_corpus;

SERMO_API void sermo_corpus_default_params(sermo_corpus_params *params);
SERMO_API sermo_corpus *sermo_corpus_init(const sermo_corpus_params *params);
/* Add a corpus folder or manifest; call several times for multi-corpus sets. */
SERMO_API sermo_status sermo_corpus_add(sermo_corpus *corpus, const char *path, sermo_corpus_kind kind,
                                        sermo_error *err);
SERMO_API void sermo_corpus_free(sermo_corpus *corpus);
SERMO_API int64_t sermo_corpus_size(const sermo_corpus *corpus);
SERMO_API const sermo_item *sermo_corpus_item(const sermo_corpus *corpus, int64_t i);
SERMO_API int32_t sermo_corpus_n_classes(const sermo_corpus *corpus);
SERMO_API const char *sermo_corpus_class_name(const sermo_corpus *corpus, int32_t label);
/* The common-6 name (sad, angry, disgust, fear, happy, neutral) of an
 * emotion in any corpus's spelling and any case ("Fearful", "anger",
 * "happiness"), or NULL outside that set (calm, surprised, boredom, ...). */
SERMO_API const char *sermo_corpus_map_common6(const char *emotion);
/* Files skipped: name not parseable, or label outside the label set. */
SERMO_API int64_t sermo_corpus_n_dropped(const sermo_corpus *corpus);
/* Every attribute of every item as a string table: "emotion", "speaker", "sex", "age", ... */
SERMO_API int32_t sermo_corpus_n_columns(const sermo_corpus *corpus);
SERMO_API const char *sermo_corpus_column_name(const sermo_corpus *corpus, int32_t column);
SERMO_API const char *sermo_corpus_value(const sermo_corpus *corpus, int64_t item, const char *column);
SERMO_API const char *sermo_corpus_kind_name(sermo_corpus_kind kind);

/* ------------------------------------------------------------------ splits */

typedef enum sermo_split_kind {
    SERMO_SPLIT_RANDOM = 0, /* stratified by label */
    SERMO_SPLIT_SPEAKER,    /* named held-out speakers */
    SERMO_SPLIT_KFOLD,      /* k folds of whole speakers; `fold` is the test fold */
} sermo_split_kind;

enum { SERMO_PART_TRAIN = 0, SERMO_PART_VAL = 1, SERMO_PART_TEST = 2 };

typedef struct sermo_split_params {
    sermo_split_kind kind;
    float val_fraction;         /* random: 0.15 */
    float test_fraction;        /* random: 0.15 */
    uint64_t seed;              /* 42 */
    const char *val_speakers;   /* speaker: "21-22" or "ravdess:21,ravdess:22" */
    const char *test_speakers;  /* speaker: "23-24" */
    int32_t folds;              /* kfold: 6 */
    int32_t fold;               /* kfold: 0 .. folds-1 */
    int32_t val_folds;          /* kfold: 1, the fold after the test one validates; 0: none, all the rest train */
} sermo_split_params;

SERMO_API void sermo_split_default_params(sermo_split_params *params);
/* part[i] = SERMO_PART_* for each item. Byte-identical files share a part. */
SERMO_API sermo_status sermo_split_make(const sermo_corpus *corpus, const sermo_split_params *params,
                                        int8_t *part, sermo_error *err);
/* split.csv: path,speaker,label,part */
SERMO_API sermo_status sermo_split_write(const char *path, const sermo_corpus *corpus,
                                         const int8_t *part, sermo_error *err);
SERMO_API sermo_status sermo_split_read(const char *path, const sermo_corpus *corpus, int8_t *part,
                                        sermo_error *err);

/* ----------------------------------------------------------- feature cache */

/* One file per (corpus file list, audio params, feature params), float32,
 * memory-mapped. Items are (n_bins, n_frames_i) blocks. */
typedef struct sermo_cache sermo_cache;

typedef struct sermo_cache_params {
    const char *dir;               /* where cache files live; default "cache" */
    int32_t threads;               /* 0 = all cores */
    sermo_progress_fn progress;    /* may be NULL */
    void *user_data;
} sermo_cache_params;

SERMO_API void sermo_cache_default_params(sermo_cache_params *params);
/* Reuse the cache for this configuration if it exists, else build it atomically.
 * *built is set to 1 when work was done. Unreadable files fail the build with their name. */
SERMO_API sermo_status sermo_cache_prepare(const sermo_corpus *corpus, const sermo_audio_params *audio,
                                           const sermo_feature_params *features,
                                           const sermo_cache_params *params, char *path_out,
                                           size_t path_size, int *built, sermo_error *err);
SERMO_API sermo_cache *sermo_cache_open(const char *path, sermo_error *err);
SERMO_API void sermo_cache_close(sermo_cache *cache);
SERMO_API int64_t sermo_cache_size(const sermo_cache *cache);
SERMO_API int32_t sermo_cache_n_bins(const sermo_cache *cache);
/* Pointer into the mapping: (n_bins, *n_frames). */
SERMO_API const float *sermo_cache_item(const sermo_cache *cache, int64_t i, int64_t *n_frames);
SERMO_API int32_t sermo_cache_label(const sermo_cache *cache, int64_t i);

/* ------------------------------------------------------------------ model */

/* A trained model file (model.safetensors written by `sermo train`): weights,
 * label names, audio and feature settings, input normalisation and the
 * training config, so it classifies audio on its own. Loading checks every
 * tensor's name, shape and dtype. */
typedef struct sermo_model sermo_model;

SERMO_API sermo_model *sermo_model_load(const char *path, int32_t threads, sermo_error *err);
SERMO_API void sermo_model_free(sermo_model *model);
SERMO_API int32_t sermo_model_n_classes(const sermo_model *model);
/* 1 for a model, n for an ensemble of n (sermo_model_write_ensemble). An
 * ensemble classifies PCM and files (the weighted mean of its members'
 * probabilities, each member with its own audio and feature settings), not
 * features; its audio and feature params are its first member's. */
SERMO_API int32_t sermo_model_n_members(const sermo_model *model);
/* An ensemble file at path (written atomically) holding the n model files
 * (which must classify into the same labels) and their weights (NULL: equal;
 * normalised to sum 1). Late fusion in one file. The members' weight
 * tensors (1,024 elements and up) are stored as float16. */
SERMO_API sermo_status sermo_model_write_ensemble(const char *path, const char *const *models, const float *weights,
                                                  int32_t n, sermo_error *err);
SERMO_API const char *sermo_model_class_name(const sermo_model *model, int32_t label);
/* A metadata value ("model", "frames", "audio.sample_rate", ...) or NULL. */
SERMO_API const char *sermo_model_meta(const sermo_model *model, const char *key);
SERMO_API const sermo_audio_params *sermo_model_audio_params(const sermo_model *model);
SERMO_API const sermo_feature_params *sermo_model_feature_params(const sermo_model *model);
/* Class probabilities (n_classes) for features (n_bins, n_frames) computed
 * with the model's settings: normalised, centre-cropped or padded to the
 * training length, softmax of the logits. */
SERMO_API sermo_status sermo_model_predict_features(sermo_model *model, const float *features, int64_t n_frames,
                                                    float *probs, sermo_error *err);
/* The same from mono PCM at any rate (resampled, trimmed as in training). */
SERMO_API sermo_status sermo_model_predict_pcm(sermo_model *model, const float *pcm, int64_t n,
                                               int32_t sample_rate, float *probs, sermo_error *err);
SERMO_API sermo_status sermo_model_predict_file(sermo_model *model, const char *path, float *probs,
                                                sermo_error *err);

/* ----------------------------------------------------------------- reports */
#define SERMO_METRICS_MAX_CLASSES 64

/* Classification metrics with sklearn.metrics semantics (labels =
 * 0..n_classes-1, zero_division = 0): a class never predicted has precision
 * 0, a class absent from y_true has recall 0, and both still count in the
 * macro averages, as precision_recall_fscore_support(labels=range(k)). */
typedef struct sermo_metrics {
    int32_t n_classes;
    int64_t n;                                      /* samples */
    int64_t confusion[SERMO_METRICS_MAX_CLASSES * SERMO_METRICS_MAX_CLASSES]; /* (n_classes, n_classes)
                                                       row-major, rows = true, columns = predicted */
    double precision[SERMO_METRICS_MAX_CLASSES];    /* tp / (tp + fp); 0 when never predicted */
    double recall[SERMO_METRICS_MAX_CLASSES];       /* tp / (tp + fn); 0 when absent from y_true */
    double f1[SERMO_METRICS_MAX_CLASSES];           /* 2 p r / (p + r); 0 when p + r = 0 */
    int64_t support[SERMO_METRICS_MAX_CLASSES];     /* samples of each true class */
    double accuracy;                                /* trace / n */
    double macro_precision, macro_recall, macro_f1; /* unweighted means over all n_classes */
    double weighted_precision, weighted_recall, weighted_f1; /* means weighted by support */
    double uar;                  /* unweighted average recall = macro_recall */
    double balanced_accuracy;    /* sklearn balanced_accuracy_score: mean recall over the
                                    classes present in y_true (differs from uar only when
                                    a class is absent) */
    double log_loss;             /* mean -log p(true class) (sklearn log_loss); NaN from labels */
} sermo_metrics;

/* y_true, y_pred: (n) labels in [0, n_classes). */
SERMO_API sermo_status sermo_metrics_compute(const int32_t *y_true, const int32_t *y_pred, int64_t n, int32_t n_classes,
                                   sermo_metrics *out, sermo_error *err);
/* probs: (n, n_classes) row-major class probabilities (rows are renormalised
 * to sum to 1); the prediction is the first most probable class (argmax). */
SERMO_API sermo_status sermo_metrics_compute_probs(const int32_t *y_true, const float *probs, int64_t n, int32_t n_classes,
                                         sermo_metrics *out, sermo_error *err);

/* sklearn's classification_report text (digits decimals, 4 in the file)
 * into buf, snprintf-style: returns the length it needs, excluding the NUL.
 * class_names: n_classes strings, or NULL for "0", "1", ... */
SERMO_API size_t sermo_metrics_format_report(const sermo_metrics *m, const char *const *class_names, int32_t digits,
                                   char *buf, size_t size);

/* An extra top-level entry of metrics.json: a string when text is not NULL,
 * else a number (NaN and infinities are written as null). */
typedef struct sermo_report_field {
    const char *key;
    const char *text;
    double number;
} sermo_report_field;

/* Each writer writes a temporary file beside path and renames it over path. */
SERMO_API sermo_status sermo_report_classification_txt(const char *path, const sermo_metrics *m,
                                             const char *const *class_names, sermo_error *err);
SERMO_API sermo_status sermo_report_metrics_json(const char *path, const sermo_metrics *m, const char *const *class_names,
                                       const sermo_report_field *extra, int32_t n_extra, sermo_error *err);
/* Counts and row-normalised fractions side by side. title may be NULL. */
SERMO_API sermo_status sermo_report_confusion_png(const char *path, const sermo_metrics *m, const char *const *class_names,
                                        const char *title, sermo_error *err);

/* Per-epoch history for sermo_report_curves_png. Any array may be NULL
 * (its line is left out); NaN entries leave gaps. Epoch i is drawn at i + 1. */
typedef struct sermo_curves {
    int32_t n_epochs;
    const float *train_loss, *val_loss; /* (n_epochs) */
    const float *train_acc, *val_acc;   /* (n_epochs) fractions in [0, 1] */
    const float *lr;                    /* (n_epochs) or NULL: no learning-rate panel */
    int32_t best_epoch;                 /* 0-based epoch to mark; -1: lowest val loss, else highest
                                           val accuracy; no marker when neither is given */
    const char *title;                  /* NULL: "Training curves" */
} sermo_curves;

/* Loss and accuracy panels (and learning rate when given) side by side. */
SERMO_API sermo_status sermo_report_curves_png(const char *path, const sermo_curves *curves, sermo_error *err);


/* A log-mel (n_bins, n_frames) as a PNG with time (s) and frequency (Hz) axes. */
SERMO_API sermo_status sermo_report_spectrogram_png(const char *path, const float *data, int32_t n_bins,
                                                    int64_t n_frames, const sermo_feature_params *fp,
                                                    const char *title, sermo_error *err);

/* ----------------------------------------------------------------- config */

/* A flat dotted-key store read from YAML ("a: {b: 1}" => "a.b" = "1") with
 * key=value overrides on top. */
typedef struct sermo_config sermo_config;

SERMO_API sermo_config *sermo_config_init(void);
SERMO_API void sermo_config_free(sermo_config *config);
SERMO_API sermo_status sermo_config_load_yaml(sermo_config *config, const char *path, sermo_error *err);
SERMO_API sermo_status sermo_config_load_yaml_string(sermo_config *config, const char *text,
                                                     const char *name, sermo_error *err);
/* "key=value"; key must be dotted identifiers. */
SERMO_API sermo_status sermo_config_set_arg(sermo_config *config, const char *arg, sermo_error *err);
SERMO_API sermo_status sermo_config_set(sermo_config *config, const char *key, const char *value);
SERMO_API const char *sermo_config_get(const sermo_config *config, const char *key); /* NULL if unset */
SERMO_API int32_t sermo_config_n_keys(const sermo_config *config);
SERMO_API const char *sermo_config_key(const sermo_config *config, int32_t i);
/* Write the resolved config back as nested YAML. */
SERMO_API sermo_status sermo_config_write_yaml(const sermo_config *config, const char *path, sermo_error *err);
/* Fill params from keys "audio.*" and "features.*"; unknown keys under those
 * prefixes and unparsable values are errors naming the key. */
SERMO_API sermo_status sermo_config_audio_params(const sermo_config *config, sermo_audio_params *params,
                                                 sermo_error *err);
SERMO_API sermo_status sermo_config_feature_params(const sermo_config *config, sermo_feature_params *params,
                                                   sermo_error *err);

/* ------------------------------------------------------------------- data */

typedef struct sermo_verify_result {
    int64_t checked;    /* files under dir whose name is in the list */
    int64_t ok;         /* ... whose size and sha256 match */
    int64_t mismatched; /* ... whose size or sha256 differ */
    int64_t missing;    /* list entries of the same collections not found under dir */
} sermo_verify_result;

/* Check every file under dir whose file name appears in a
 * "path<TAB>sha256<TAB>size" list. SERMO_ERR_CHECKSUM names the first mismatch;
 * SERMO_ERR_EMPTY when no listed file is present at all. */
SERMO_API sermo_status sermo_data_verify(const char *dir, const char *list, sermo_verify_result *result,
                                         sermo_progress_fn progress, void *user_data, sermo_error *err);
SERMO_API sermo_status sermo_sha256_file(const char *path, char hex[65], sermo_error *err);

/* Download a corpus archive from its official record (libcurl), check the
 * archive's own CRCs while unpacking it into dir (libarchive). corpus: "ravdess".
 * Offline, it fails fast with SERMO_ERR_NETWORK and a message saying how to
 * get the corpus by hand. */
SERMO_API sermo_status sermo_data_fetch(const char *corpus, const char *dir, sermo_progress_fn progress,
                                        void *user_data, sermo_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SERMO_H */
