/* test_config.c: YAML config store, overrides, errors, round trip and the
 * mapping of every audio./features. key onto the params structs. */
#include "check.h"
#include "sermo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static void test_load_string(void) {
    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    const char *text = "# comment\n"
                       "audio:\n"
                       "  sample_rate: 16000\n"
                       "  trim: true\n"
                       "train:\n"
                       "  lr: 3e-4\n"
                       "  sched: {kind: cosine, warmup: 5}\n"
                       "  sizes: [64, 128, 256]\n"
                       "name: 'hello: world'\n"
                       "empty:\n";
    sermo_status st = sermo_config_load_yaml_string(c, text, "mem.yaml", &err);
    CHECK(st == SERMO_OK, "load: %s", err.msg);
    CHECK(sermo_config_n_keys(c) == 8, "n_keys %d", sermo_config_n_keys(c));
    CHECK(str_eq(sermo_config_get(c, "audio.sample_rate"), "16000"), "sample_rate");
    CHECK(str_eq(sermo_config_get(c, "audio.trim"), "true"), "trim");
    CHECK(str_eq(sermo_config_get(c, "train.lr"), "3e-4"), "lr keeps its text");
    CHECK(str_eq(sermo_config_get(c, "train.sched.kind"), "cosine"), "flow mapping");
    CHECK(str_eq(sermo_config_get(c, "train.sched.warmup"), "5"), "flow mapping 2");
    CHECK(str_eq(sermo_config_get(c, "train.sizes"), "64,128,256"), "sequence joined: %s",
          sermo_config_get(c, "train.sizes"));
    CHECK(str_eq(sermo_config_get(c, "name"), "hello: world"), "quoted");
    CHECK(str_eq(sermo_config_get(c, "empty"), ""), "null value is empty");
    CHECK(sermo_config_get(c, "audio") == NULL, "section is not a key");
    CHECK(sermo_config_get(c, "nope") == NULL, "unset");
    CHECK(str_eq(sermo_config_key(c, 0), "audio.sample_rate"), "order 0");
    CHECK(str_eq(sermo_config_key(c, 4), "train.sched.warmup"), "order 4");
    CHECK(sermo_config_key(c, 8) == NULL && sermo_config_key(c, -1) == NULL, "key out of range");

    /* Overrides: existing keys keep their position, new ones go last. */
    CHECK(sermo_config_set_arg(c, "train.lr=1e-3", &err) == SERMO_OK, "%s", err.msg);
    CHECK(str_eq(sermo_config_get(c, "train.lr"), "1e-3"), "override value");
    CHECK(str_eq(sermo_config_key(c, 2), "train.lr"), "override keeps position");
    CHECK(sermo_config_set_arg(c, "model.name=cnn=small", &err) == SERMO_OK, "%s", err.msg);
    CHECK(str_eq(sermo_config_get(c, "model.name"), "cnn=small"), "value may hold '='");
    CHECK(str_eq(sermo_config_key(c, 8), "model.name"), "new key last");
    CHECK(sermo_config_set_arg(c, "x=", &err) == SERMO_OK && str_eq(sermo_config_get(c, "x"), ""),
          "empty value");

    /* A second load on top overrides too. */
    st = sermo_config_load_yaml_string(c, "audio: {sample_rate: 8000}\n", "b.yaml", &err);
    CHECK(st == SERMO_OK && str_eq(sermo_config_get(c, "audio.sample_rate"), "8000"), "layered load");
    CHECK(str_eq(sermo_config_key(c, 0), "audio.sample_rate"), "layered load keeps position");

    CHECK(sermo_config_set(c, "a.b", "1") == SERMO_OK, "set");
    CHECK(sermo_config_set(c, "a", "1") == SERMO_ERR_INVALID, "value and section conflict");
    CHECK(sermo_config_set(c, "a.b.c", "1") == SERMO_ERR_INVALID, "section under a value");
    CHECK(sermo_config_set(c, "1a", "1") == SERMO_ERR_INVALID, "bad key via set");
    sermo_config_free(c);

    c = sermo_config_init();
    CHECK(sermo_config_load_yaml_string(c, "", "empty.yaml", &err) == SERMO_OK, "empty text: %s", err.msg);
    CHECK(sermo_config_load_yaml_string(c, "# only a comment\n", "c.yaml", &err) == SERMO_OK, "comment only");
    CHECK(sermo_config_n_keys(c) == 0, "no keys");
    sermo_config_free(c);
}

/* Each bad input must fail with `status` and a message containing `want`. */
static void expect_yaml_error(const char *text, sermo_status status, const char *want) {
    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    sermo_status st = sermo_config_load_yaml_string(c, text, "configs/x.yaml", &err);
    CHECK(st == status, "'%s': status %d (%s), want %d", text, st, err.msg, status);
    CHECK(strstr(err.msg, want) != NULL, "'%s': message '%s' lacks '%s'", text, err.msg, want);
    CHECK(sermo_config_n_keys(c) == 0, "'%s': failed load left %d keys", text, sermo_config_n_keys(c));
    sermo_config_free(c);
}

static void test_errors(void) {
    expect_yaml_error("a: 1\nb: [1, 2\nc: 3\n", SERMO_ERR_FORMAT, "configs/x.yaml:3:");
    expect_yaml_error("a:\n  b: 1\n   c: 2\n", SERMO_ERR_FORMAT, "configs/x.yaml:3:");
    expect_yaml_error("a: 1\nb: c: d\n", SERMO_ERR_FORMAT, "configs/x.yaml:2:5: mapping values are not allowed");
    expect_yaml_error("base: &b {x: 1}\nother: *b\n", SERMO_ERR_UNSUPPORTED, "configs/x.yaml:1:7: anchors");
    expect_yaml_error("a: !!str 1\n", SERMO_ERR_UNSUPPORTED, "configs/x.yaml:1:4: tags");
    expect_yaml_error("a:\n  bad-key: 1\n", SERMO_ERR_FORMAT, "configs/x.yaml:2:3: bad key 'bad-key'");
    expect_yaml_error("a.b: 1\n", SERMO_ERR_FORMAT, "bad key 'a.b'");
    expect_yaml_error("- 1\n- 2\n", SERMO_ERR_FORMAT, "configs/x.yaml:1:1: the top level must be a mapping");
    expect_yaml_error("a: [[1], 2]\n", SERMO_ERR_UNSUPPORTED, "configs/x.yaml:1:5: only sequences of scalars");
    expect_yaml_error("a: 1\n---\nb: 2\n", SERMO_ERR_UNSUPPORTED, "configs/x.yaml:2:1: only one YAML document");
    expect_yaml_error("a: 1\na: {b: 2}\n", SERMO_ERR_INVALID, "configs/x.yaml:2:5: key 'a.b' conflicts with 'a'");

    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    CHECK(sermo_config_set_arg(c, "train.lr", &err) == SERMO_ERR_INVALID && strstr(err.msg, "key=value"),
          "missing '=': %s", err.msg);
    const char *bad[] = {"=1", "1x=2", "a..b=1", "a.=1", ".a=1", "a-b=1", "a b=1", "a.1=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECK(sermo_config_set_arg(c, bad[i], &err) == SERMO_ERR_INVALID && strstr(err.msg, "bad key"),
              "'%s' accepted: %s", bad[i], err.msg);
    }
    CHECK(sermo_config_set_arg(c, "_a.b_2.C=1", &err) == SERMO_OK, "good key rejected: %s", err.msg);
    CHECK(sermo_config_n_keys(c) == 1, "only the good key stored");

    CHECK(sermo_config_load_yaml(c, "/nonexistent/dir/x.yaml", &err) == SERMO_ERR_IO &&
              strstr(err.msg, "/nonexistent/dir/x.yaml"),
          "missing file: %s", err.msg);
    sermo_config_free(c);
}

static void test_round_trip(void) {
    char dir[] = "/tmp/sermo_config_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/out.yaml", dir);

    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    const char *text = "audio:\n  sample_rate: 16000\nfeatures: {kind: logmel}\ntrain:\n  lr: 3e-4\n"
                       "  sizes: [1, 2]\n";
    CHECK(sermo_config_load_yaml_string(c, text, "rt.yaml", &err) == SERMO_OK, "%s", err.msg);
    /* Values that need quoting to read back as the same string. */
    const char *tricky[][2] = {
        {"s.colon", "a: b"},       {"s.hash", "x #y"},       {"s.empty", ""},
        {"s.space", " lead"},      {"s.quote", "it's \"q\""}, {"s.newline", "two\nlines"},
        {"s.dash", "- item"},      {"s.brace", "{x}"},        {"s.star", "*alias"},
        {"s.bang", "!tag"},        {"s.utf8", "d\xc3\xa9j\xc3\xa0 vu"}, {"s.tab", "a\tb"},
        {"s.null", "~"},           {"s.pct", "%x"},
    };
    size_t n_tricky = sizeof tricky / sizeof tricky[0];
    for (size_t i = 0; i < n_tricky; i++)
        CHECK(sermo_config_set(c, tricky[i][0], tricky[i][1]) == SERMO_OK, "set %s", tricky[i][0]);
    CHECK(sermo_config_set(c, "audio.trim", "1") == SERMO_OK, "interleaved section");

    CHECK(sermo_config_write_yaml(c, path, &err) == SERMO_OK, "write: %s", err.msg);
    sermo_config *back = sermo_config_init();
    CHECK(sermo_config_load_yaml(back, path, &err) == SERMO_OK, "reload: %s", err.msg);
    CHECK(sermo_config_n_keys(back) == sermo_config_n_keys(c), "n_keys %d vs %d", sermo_config_n_keys(back),
          sermo_config_n_keys(c));
    for (int32_t i = 0; i < sermo_config_n_keys(c); i++) {
        const char *k = sermo_config_key(c, i);
        CHECK(str_eq(sermo_config_get(back, k), sermo_config_get(c, k)), "%s: '%s' came back as '%s'", k,
              sermo_config_get(c, k), sermo_config_get(back, k) ? sermo_config_get(back, k) : "(unset)");
    }
    /* Sections are grouped in order of their first key. */
    CHECK(str_eq(sermo_config_key(back, 0), "audio.sample_rate") && str_eq(sermo_config_key(back, 1), "audio.trim"),
          "grouped: %s %s", sermo_config_key(back, 0), sermo_config_key(back, 1));

    /* Overwriting keeps no temporary files behind. */
    CHECK(sermo_config_write_yaml(back, path, &err) == SERMO_OK, "rewrite: %s", err.msg);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0, "only out.yaml in %s", dir);

    snprintf(path, sizeof path, "%s/missing/out.yaml", dir);
    CHECK(sermo_config_write_yaml(c, path, &err) == SERMO_ERR_IO && strstr(err.msg, path), "write into missing dir: %s",
          err.msg);
    sermo_config_free(back);
    sermo_config_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

static void test_audio_params(void) {
    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    const char *text = "audio:\n  sample_rate: 22050\n  trim: yes\n  trim_db: -30.5\n  trim_frame_ms: 20\n"
                       "  trim_margin_ms: 10\n  duration_ms: 3000\n  crop_center: 1\n"
                       "features: {n_fft: 1024}\nother: {x: 1}\n";
    CHECK(sermo_config_load_yaml_string(c, text, "a.yaml", &err) == SERMO_OK, "%s", err.msg);
    sermo_audio_params ap;
    memset(&ap, 0, sizeof ap);
    ap.trim_db = -99;
    CHECK(sermo_config_audio_params(c, &ap, &err) == SERMO_OK, "audio params: %s", err.msg);
    CHECK(ap.sample_rate == 22050 && ap.trim == 1 && ap.trim_db == -30.5f && ap.trim_frame_ms == 20 &&
              ap.trim_margin_ms == 10 && ap.duration_ms == 3000 && ap.crop_center == 1,
          "audio fields %d %d %g %g %g %g %d", ap.sample_rate, ap.trim, ap.trim_db, ap.trim_frame_ms,
          ap.trim_margin_ms, ap.duration_ms, ap.crop_center);

    /* Unset keys keep the caller's values. */
    sermo_config *empty = sermo_config_init();
    sermo_audio_params keep = ap;
    CHECK(sermo_config_audio_params(empty, &keep, &err) == SERMO_OK && memcmp(&keep, &ap, sizeof ap) == 0,
          "untouched");
    sermo_config_free(empty);

    const char *bad[][2] = {{"audio.trim=maybe", "audio.trim"},  {"audio.sample_rate=16k", "'16k'"},
                            {"audio.sample_rate=-1", "audio.sample_rate"}, {"audio.trim_db=nan", "audio.trim_db"},
                            {"audio.trim_db=5", "outside"},      {"audio.rate=1", "unknown key"},
                            {"audio.sample_rate= 16000", "not an integer"}, {"audio.trim_db=1e999", "finite"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sermo_config *b = sermo_config_init();
        CHECK(sermo_config_set_arg(b, bad[i][0], &err) == SERMO_OK, "%s", err.msg);
        sermo_audio_params p = ap;
        memset(&err, 0, sizeof err);
        sermo_status st = sermo_config_audio_params(b, &p, &err);
        CHECK(st == SERMO_ERR_INVALID && strstr(err.msg, bad[i][1]), "%s: status %d msg '%s'", bad[i][0], st, err.msg);
        CHECK(memcmp(&p, &ap, sizeof ap) == 0, "%s: params changed on error", bad[i][0]);
        sermo_config_free(b);
    }
    sermo_config_free(c);
}

static void test_feature_params(void) {
    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    const char *text = "features:\n  sample_rate: 22050\n  n_fft: 1024\n  win_length: 800\n  hop_length: 200\n"
                       "  window: hamming\n  center: false\n  pad_mode: constant\n  power: 1\n  n_mels: 80\n"
                       "  f_min: 20\n  f_max: 7600\n  mel_scale: slaney\n  mel_norm: slaney\n  kind: mfcc\n"
                       "  log_mode: natural\n  log_offset: 1e-5\n  top_db: 60\n  n_mfcc: 13\n  deltas: 2\n"
                       "  delta_win: 7\n";
    CHECK(sermo_config_load_yaml_string(c, text, "f.yaml", &err) == SERMO_OK, "%s", err.msg);
    sermo_feature_params fp;
    memset(&fp, 0, sizeof fp);
    CHECK(sermo_config_feature_params(c, &fp, &err) == SERMO_OK, "feature params: %s", err.msg);
    CHECK(fp.sample_rate == 22050 && fp.n_fft == 1024 && fp.win_length == 800 && fp.hop_length == 200, "sizes");
    CHECK(fp.window == SERMO_WINDOW_HAMMING && fp.center == 0 && fp.pad_mode == SERMO_PAD_CONSTANT, "window");
    CHECK(fp.power == 1 && fp.n_mels == 80 && fp.f_min == 20 && fp.f_max == 7600, "mel sizes");
    CHECK(fp.mel_scale == SERMO_MEL_SLANEY && fp.mel_norm_slaney == 1, "mel scale/norm");
    CHECK(fp.kind == SERMO_FEATURE_MFCC && fp.log_mode == SERMO_LOG_NATURAL && fp.log_offset == 1e-5f, "kind");
    CHECK(fp.top_db == 60 && fp.n_mfcc == 13 && fp.deltas == 2 && fp.delta_win == 7, "mfcc");

    /* Each enum's other values, and the mel_norm_slaney spelling. */
    const char *more[] = {"features.window=rect", "features.pad_mode=reflect", "features.mel_scale=htk",
                          "features.kind=mel",    "features.log_mode=db",      "features.mel_norm_slaney=false"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        CHECK(sermo_config_set_arg(c, more[i], &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_config_feature_params(c, &fp, &err) == SERMO_OK, "%s", err.msg);
    CHECK(fp.window == SERMO_WINDOW_RECT && fp.pad_mode == SERMO_PAD_REFLECT && fp.mel_scale == SERMO_MEL_HTK &&
              fp.kind == SERMO_FEATURE_MEL && fp.log_mode == SERMO_LOG_DB && fp.mel_norm_slaney == 0,
          "second enum values");
    CHECK(sermo_config_set_arg(c, "features.window=hann", &err) == SERMO_OK &&
              sermo_config_set_arg(c, "features.kind=logmel", &err) == SERMO_OK &&
              sermo_config_feature_params(c, &fp, &err) == SERMO_OK,
          "%s", err.msg);
    CHECK(fp.window == SERMO_WINDOW_HANN && fp.kind == SERMO_FEATURE_LOGMEL, "third enum values");

    const char *bad[][2] = {{"features.window=blackman", "hann|hamming|rect"},
                            {"features.n_fft=512.5", "features.n_fft"},
                            {"features.n_fft=0", "outside"},
                            {"features.deltas=3", "features.deltas"},
                            {"features.kind=", "features.kind"},
                            {"features.n_mel=64", "unknown key"},
                            {"features.n_fft=99999999999999999999", "not an integer"},
                            {"features.mel_norm=htk", "none|slaney"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sermo_config *b = sermo_config_init();
        CHECK(sermo_config_set_arg(b, bad[i][0], &err) == SERMO_OK, "%s", err.msg);
        memset(&err, 0, sizeof err);
        sermo_status st = sermo_config_feature_params(b, &fp, &err);
        CHECK(st == SERMO_ERR_INVALID && strstr(err.msg, bad[i][1]), "%s: status %d msg '%s'", bad[i][0], st, err.msg);
        sermo_config_free(b);
    }
    sermo_config_free(c);
}

/* configs/default.yaml loads, maps onto both params structs and holds the
 * documented values. */
static void test_default_file(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/default.yaml", check_source_dir());
    sermo_config *c = sermo_config_init();
    sermo_error err = {0};
    CHECK(sermo_config_load_yaml(c, path, &err) == SERMO_OK, "%s", err.msg);
    sermo_audio_params ap;
    sermo_feature_params fp;
    memset(&ap, 0, sizeof ap);
    memset(&fp, 0, sizeof fp);
    CHECK(sermo_config_audio_params(c, &ap, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_config_feature_params(c, &fp, &err) == SERMO_OK, "%s", err.msg);
    CHECK(ap.sample_rate == 16000 && fp.sample_rate == 0, "rates: the features take audio.sample_rate");
    CHECK(fp.n_fft == 512 && fp.win_length == 400 && fp.hop_length == 160 && fp.n_mels == 64, "sizes");
    CHECK(fp.f_min == 0 && fp.f_max == 0 && fp.kind == SERMO_FEATURE_LOGMEL && fp.log_mode == SERMO_LOG_DB &&
              fp.top_db == 80,
          "mel");
    sermo_config_free(c);
}

int main(void) {
    test_load_string();
    test_errors();
    test_round_trip();
    test_audio_params();
    test_feature_params();
    test_default_file();
    return check_report();
}
