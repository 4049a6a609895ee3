/* test_loss.c: the training losses against PyTorch (loss.txt from
 * gen_fixtures.py: torch.nn.CrossEntropyLoss(weight, label_smoothing) and the
 * focal formula with autograd), every gradient by central finite differences,
 * balanced class weights against sklearn (class_weights.txt), the default
 * loss bit-identical to nn_cross_entropy_forward, the new train.* keys, and
 * train_run refusing class weights that do not fit the classes.
 *
 * B batch, L classes. */
#include "train_test_util.h"

#include "train/train.h"

#define MAX_B 16
#define MAX_L 16

typedef struct loss_case {
    char kind[16];
    int B, L, weighted;
    float s, gamma;
    float w[MAX_L];
    float z[MAX_B * MAX_L];   /* (B, L) */
    int32_t y[MAX_B];         /* (B) */
    float loss;
    float dz[MAX_B * MAX_L];  /* (B, L) */
} loss_case;

static float next_float(char **p, int *ok) {
    char *end;
    double x = strtod(*p, &end);
    if (end == *p) *ok = 0;
    *p = end;
    return (float)x;
}

static int read_case(char *line, loss_case *c) {
    int used = 0, ok = 1;
    if (sscanf(line, "%15s %d %d %f %f %d%n", c->kind, &c->B, &c->L, &c->s, &c->gamma, &c->weighted, &used) != 6)
        return 0;
    if (c->B < 1 || c->B > MAX_B || c->L < 2 || c->L > MAX_L) return 0;
    char *p = line + used;
    for (int k = 0; k < c->L; k++) c->w[k] = c->weighted ? next_float(&p, &ok) : 1.0f;
    for (int i = 0; i < c->B * c->L; i++) c->z[i] = next_float(&p, &ok);
    for (int i = 0; i < c->B; i++) c->y[i] = (int32_t)next_float(&p, &ok);
    c->loss = next_float(&p, &ok);
    for (int i = 0; i < c->B * c->L; i++) c->dz[i] = next_float(&p, &ok);
    return ok;
}

static FILE *open_fixture(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/train/%s", check_source_dir(), name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    return f;
}

static train_loss loss_of(const loss_case *c) {
    train_loss l = {.kind = strcmp(c->kind, "focal") ? TRAIN_LOSS_CE : TRAIN_LOSS_FOCAL,
                    .label_smoothing = c->s, .focal_gamma = c->gamma,
                    .class_weights = c->weighted ? c->w : NULL};
    return l;
}

/* Central differences of the returned loss, logit by logit. */
static void finite_difference(const char *what, const train_loss *l, const loss_case *c, const float *dz) {
    float z[MAX_B * MAX_L], fd[MAX_B * MAX_L];
    int n = c->B * c->L;
    memcpy(z, c->z, sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        float z0 = z[i], h = 3e-3f;
        z[i] = z0 + h;
        double up = train_loss_forward(NULL, l, z, c->y, c->B, c->L);
        float zu = z[i];
        z[i] = z0 - h;
        double down = train_loss_forward(NULL, l, z, c->y, c->B, c->L);
        fd[i] = (float)((up - down) / ((double)zu - (double)z[i]));
        z[i] = z0;
    }
    char name[160];
    snprintf(name, sizeof name, "%s finite differences", what);
    check_close(name, dz, fd, n, 2e-4, 1e-2);
}

static void test_fixture(void) {
    FILE *f = open_fixture("loss.txt");
    if (!f) return;
    static char line[65536];
    static loss_case c;
    int cases = 0, focal = 0, weighted = 0, smoothed = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        CHECK(read_case(line, &c), "case %d does not parse", cases);
        train_loss l = loss_of(&c);
        float dz[MAX_B * MAX_L];
        for (int i = 0; i < MAX_B * MAX_L; i++) dz[i] = NAN; /* every entry must be written */
        float loss = train_loss_forward(dz, &l, c.z, c.y, c.B, c.L);
        char what[96];
        snprintf(what, sizeof what, "case %d (%s B=%d L=%d s=%g gamma=%g w=%d)", cases, c.kind, c.B, c.L, c.s,
                 c.gamma, c.weighted);
        fprintf(stderr, "%s: loss %.8g want %.8g\n", what, loss, c.loss);
        CHECK(fabsf(loss - c.loss) <= 1e-6f * fabsf(c.loss) + 1e-7f, "%s: loss %.8g want %.8g", what, loss, c.loss);
        check_close(what, dz, c.dz, c.B * c.L, 1e-7, 1e-5);
        CHECK(train_loss_forward(NULL, &l, c.z, c.y, c.B, c.L) == loss, "%s: same loss without dlogits", what);
        finite_difference(what, &l, &c, dz);
        focal += l.kind == TRAIN_LOSS_FOCAL;
        weighted += c.weighted;
        smoothed += c.s > 0;
        cases++;
    }
    fclose(f);
    CHECK(cases == 9 && focal == 5 && weighted >= 6 && smoothed >= 5, "%d cases (%d focal, %d weighted)", cases,
          focal, weighted);
}

/* No weights and no focusing: nn_cross_entropy_forward, bit for bit (the
 * default recipe must train exactly as before). */
static void test_default_is_nn(void) {
    enum { B = 5, L = 7 };
    float z[B * L], a[B * L], b[B * L];
    int32_t y[B];
    uint64_t r = 99;
    for (int i = 0; i < B * L; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        z[i] = (float)((double)(r >> 11) * 0x1.0p-53 * 8 - 4);
    }
    for (int i = 0; i < B; i++) y[i] = (i * 3) % L;
    train_loss l = {.kind = TRAIN_LOSS_CE, .label_smoothing = 0.1f};
    float la = train_loss_forward(a, &l, z, y, B, L), lb = nn_cross_entropy_forward(b, z, y, B, L, 0.1f);
    CHECK(la == lb && !memcmp(a, b, sizeof a), "default loss is nn_cross_entropy_forward: %.9g %.9g", la, lb);
    /* Focal with gamma 0 is the cross-entropy (same weights and smoothing). */
    float w[L] = {1, 2, 0.5f, 1.5f, 1, 3, 0.25f};
    train_loss ce = {.kind = TRAIN_LOSS_CE, .label_smoothing = 0.1f, .class_weights = w};
    train_loss fl = {.kind = TRAIN_LOSS_FOCAL, .label_smoothing = 0.1f, .focal_gamma = 0, .class_weights = w};
    la = train_loss_forward(a, &ce, z, y, B, L);
    lb = train_loss_forward(b, &fl, z, y, B, L);
    CHECK(la == lb && !memcmp(a, b, sizeof a), "focal gamma 0 is the weighted cross-entropy");
    /* A confident, correct row: focal gamma < 1 stays finite where 1 - p rounds to 0. */
    float zc[2] = {60, -60};
    int32_t yc[1] = {0};
    float dz[2];
    fl.focal_gamma = 0.5f;
    fl.label_smoothing = 0;
    fl.class_weights = NULL;
    float lc = train_loss_forward(dz, &fl, zc, yc, 1, 2);
    CHECK(isfinite(lc) && isfinite(dz[0]) && isfinite(dz[1]) && fabsf(dz[0]) < 1e-20f, "saturated focal %g %g %g",
          lc, dz[0], dz[1]);
}

static void test_balanced(void) {
    FILE *f = open_fixture("class_weights.txt");
    if (!f) return;
    char line[4096];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *p = line;
        int ok = 1;
        int L = (int)next_float(&p, &ok), n = (int)next_float(&p, &ok);
        int64_t counts[MAX_L] = {0};
        float w[MAX_L], want[MAX_L];
        CHECK(ok && L > 0 && L <= MAX_L, "case %d header", cases);
        if (!ok || L <= 0 || L > MAX_L) break;
        for (int i = 0; i < n; i++) {
            int y = (int)next_float(&p, &ok);
            if (y >= 0 && y < L) counts[y]++;
        }
        for (int c = 0; c < L; c++) want[c] = next_float(&p, &ok);
        CHECK(ok, "case %d parses", cases);
        CHECK(train_class_weights_balanced(w, counts, L) == -1, "case %d: all classes present", cases);
        char what[64];
        snprintf(what, sizeof what, "balanced weights case %d", cases);
        check_close(what, w, want, L, 0, 1e-6);
        cases++;
    }
    fclose(f);
    CHECK(cases == 4, "%d class weight cases", cases);
    int64_t counts[3] = {4, 0, 2};
    float w[3];
    CHECK(train_class_weights_balanced(w, counts, 3) == 1, "an empty class is reported");
}

static void test_options(void) {
    train_options opt;
    train_options_default(&opt);
    CHECK(opt.loss == TRAIN_LOSS_CE && opt.focal_gamma == 2.0f && opt.class_weights == TRAIN_WEIGHTS_NONE &&
              opt.schedule == TRAIN_SCHEDULE_COSINE && opt.restart_t0 == 10 && opt.restart_t_mult == 1 &&
              opt.step_size == 10 && opt.step_gamma == 0.1f && opt.label_smoothing == 0.1f,
          "defaults");
    sermo_config *c = sermo_config_init();
    sermo_error err;
    sermo_config_set(c, "train.loss", "focal");
    sermo_config_set(c, "train.focal_gamma", "1.5");
    sermo_config_set(c, "train.class_weights", "1, 2.5,0.5");
    sermo_config_set(c, "train.schedule", "restarts");
    sermo_config_set(c, "train.restart_t0", "4");
    sermo_config_set(c, "train.restart_t_mult", "2");
    sermo_config_set(c, "train.step_size", "3");
    sermo_config_set(c, "train.step_gamma", "0.5");
    CHECK(train_options_from_config(c, &opt, &err) == SERMO_OK, "%s", err.msg);
    CHECK(opt.loss == TRAIN_LOSS_FOCAL && opt.focal_gamma == 1.5f && opt.class_weights == TRAIN_WEIGHTS_LIST &&
              opt.n_class_weights == 3 && opt.class_weight_list[0] == 1 && opt.class_weight_list[1] == 2.5f &&
              opt.class_weight_list[2] == 0.5f && opt.schedule == TRAIN_SCHEDULE_RESTARTS && opt.restart_t0 == 4 &&
              opt.restart_t_mult == 2 && opt.step_size == 3 && opt.step_gamma == 0.5f,
          "options read");
    sermo_config_set(c, "train.class_weights", "balanced");
    sermo_config_set(c, "train.schedule", "step");
    CHECK(train_options_from_config(c, &opt, &err) == SERMO_OK && opt.class_weights == TRAIN_WEIGHTS_BALANCED &&
              opt.schedule == TRAIN_SCHEDULE_STEP,
          "balanced, step: %s", err.msg);
    sermo_config_set(c, "train.class_weights", "none");
    CHECK(train_options_from_config(c, &opt, &err) == SERMO_OK && opt.class_weights == TRAIN_WEIGHTS_NONE, "none");
    sermo_config_free(c);

    static const char *bad[][2] = {
        {"train.loss", "bce"},          {"train.loss", ""},           {"train.focal_gamma", "-1"},
        {"train.focal_gamma", "x"},     {"train.class_weights", "1,,2"}, {"train.class_weights", "1,-2"},
        {"train.class_weights", "abc"}, {"train.class_weights", "1,0"},  {"train.class_weights", "1,2,"},
        {"train.class_weights", "1 2"}, {"train.class_weights", "nan"},  {"train.schedule", "linear"},
        {"train.restart_t0", "0"},      {"train.restart_t_mult", "0"},   {"train.restart_t_mult", "1.5"},
        {"train.step_size", "0"},       {"train.step_gamma", "0"},       {"train.step_gamma", "2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sermo_config *b = sermo_config_init();
        sermo_config_set(b, bad[i][0], bad[i][1]);
        train_options_default(&opt);
        err.msg[0] = 0;
        CHECK(train_options_from_config(b, &opt, &err) == SERMO_ERR_INVALID && strstr(err.msg, bad[i][0]),
              "%s = '%s' refused naming the key: %s", bad[i][0], bad[i][1], err.msg);
        sermo_config_free(b);
    }
}

/* train_run checks the weights against the classes before training. */
static void test_run_checks(void) {
    static char dir[] = "/tmp/sermo_test_loss_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "cannot make a temp dir");
        return;
    }
    enum { NCLIP = 12 };
    sermo_corpus *corpus = NULL;
    sermo_cache *cache = tt_make_cache(dir, NCLIP, 16, &corpus);
    CHECK(cache != NULL, "synthetic corpus and cache");
    if (!cache) return;
    int8_t part[NCLIP];
    for (int i = 0; i < NCLIP; i++) part[i] = i % 4 == 0 ? SERMO_PART_VAL : SERMO_PART_TRAIN;
    const char *names[2] = {sermo_corpus_class_name(corpus, 0), sermo_corpus_class_name(corpus, 1)};
    train_data data = {.cache = cache, .part = part, .n_classes = 2, .class_names = names};
    train_options opt;
    train_options_default(&opt);
    opt.epochs = 3;
    opt.batch_size = 4;
    opt.frames = 16;
    opt.threads = 1;
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s/run", dir);
    mkdir(opt.out_dir, 0755);
    train_result res;
    sermo_error err;

    opt.class_weights = TRAIN_WEIGHTS_LIST;
    opt.n_class_weights = 3;
    opt.class_weight_list[0] = opt.class_weight_list[1] = opt.class_weight_list[2] = 1;
    err.msg[0] = 0;
    CHECK(train_run(&opt, &data, NULL, NULL, &res, &err) == SERMO_ERR_INVALID &&
              strstr(err.msg, "train.class_weights") && strstr(err.msg, "3 weights") && strstr(err.msg, "2 classes"),
          "wrong weight count: %s", err.msg);

    /* Balanced with a class absent from the training part. */
    int8_t only_low[NCLIP];
    for (int i = 0; i < NCLIP; i++) only_low[i] = i % 2 ? SERMO_PART_VAL : SERMO_PART_TRAIN; /* odd = "high" */
    train_data skewed = data;
    skewed.part = only_low;
    opt.class_weights = TRAIN_WEIGHTS_BALANCED;
    err.msg[0] = 0;
    CHECK(train_run(&opt, &skewed, NULL, NULL, &res, &err) == SERMO_ERR_INVALID &&
              strstr(err.msg, "train.class_weights") && strstr(err.msg, "no training items"),
          "balanced with an empty class: %s", err.msg);

    /* The other recipes run end to end with finite losses. */
    static const struct {
        int32_t loss, weights, schedule;
    } recipes[] = {
        {TRAIN_LOSS_FOCAL, TRAIN_WEIGHTS_BALANCED, TRAIN_SCHEDULE_RESTARTS},
        {TRAIN_LOSS_CE, TRAIN_WEIGHTS_LIST, TRAIN_SCHEDULE_STEP},
    };
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        opt.loss = recipes[i].loss;
        opt.class_weights = recipes[i].weights;
        opt.n_class_weights = 2;
        opt.class_weight_list[0] = 2;
        opt.class_weight_list[1] = 0.5f;
        opt.schedule = recipes[i].schedule;
        opt.restart_t0 = 1;
        opt.step_size = 1;
        opt.step_gamma = 0.5f;
        opt.warmup_epochs = 1;
        sermo_status st = train_run(&opt, &data, NULL, NULL, &res, &err);
        CHECK(st == SERMO_OK && res.epochs_run == 3 && isfinite(res.last.train_loss) && res.last.train_loss > 0,
              "recipe %zu: %s, loss %g", i, st ? err.msg : "ok", res.last.train_loss);
        /* epoch 2 is the second after the warm-up: restarts (T_0 1) give lr, step gives lr / 2. */
        float want = opt.schedule == TRAIN_SCHEDULE_STEP ? opt.lr * 0.5f : opt.lr;
        CHECK(st || fabsf(res.last.lr - want) <= 1e-9f, "recipe %zu: last lr %g want %g", i, res.last.lr, want);
    }
    sermo_cache_close(cache);
    sermo_corpus_free(corpus);
    tt_remove_dir(dir);
}

int main(void) {
    test_fixture();
    test_default_is_nn();
    test_balanced();
    test_options();
    test_run_checks();
    return check_report();
}
