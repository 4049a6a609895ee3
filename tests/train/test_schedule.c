/* test_schedule.c: the learning-rate schedules against torch's
 * SequentialLR(LinearLR, CosineAnnealingLR | CosineAnnealingWarmRestarts |
 * StepLR) (fixtures from gen_fixtures.py),
 * gradient clipping against its closed form, early stopping, and accuracy /
 * macro-F1 against hand-computed values. */
#include "check.h"

#include "train/train.h"

static void test_schedule(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/train/lr_schedule.txt", check_source_dir());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[8192];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *p = line, *end;
        train_schedule s = {0};
        s.lr = strtod(p, &end), p = end;
        s.min_lr = strtod(p, &end), p = end;
        s.warmup_epochs = (int32_t)strtol(p, &end, 10), p = end;
        s.warmup_start = strtod(p, &end), p = end;
        s.epochs = (int32_t)strtol(p, &end, 10), p = end;
        float got[256], want[256];
        for (int e = 0; e < s.epochs && e < 256; e++) {
            want[e] = (float)strtod(p, &end);
            CHECK(end != p, "case %d: missing lr %d", cases, e);
            p = end;
            got[e] = (float)train_schedule_lr(&s, e);
        }
        char what[64];
        snprintf(what, sizeof what, "lr case %d (W=%d, E=%d)", cases, s.warmup_epochs, s.epochs);
        check_close(what, got, want, s.epochs, 0, 1e-6);
        cases++;
    }
    fclose(f);
    CHECK(cases == 6, "%d cases in the fixture", cases);
    /* Warm-up longer than training: lr stays at the base after it. */
    train_schedule s = {.lr = 1e-3, .min_lr = 0, .warmup_epochs = 4, .warmup_start = 0.5, .epochs = 3};
    CHECK(fabs(train_schedule_lr(&s, 2) - 1e-3 * 0.75) < 1e-12, "warm-up epoch 2");
}

/* lr_schedule_more.txt: kind base min_lr W start epochs a b lr[epochs]. */
static void test_schedule_more(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/train/lr_schedule_more.txt", check_source_dir());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[16384];
    int cases = 0, kinds[3] = {0};
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char kind[16], *p = line, *end;
        int used = 0;
        CHECK(sscanf(line, "%15s%n", kind, &used) == 1, "case %d: kind", cases);
        p += used;
        train_schedule s = {0};
        s.kind = !strcmp(kind, "step") ? TRAIN_SCHEDULE_STEP : TRAIN_SCHEDULE_RESTARTS;
        CHECK(s.kind == TRAIN_SCHEDULE_STEP || !strcmp(kind, "restarts"), "case %d: kind %s", cases, kind);
        s.lr = strtod(p, &end), p = end;
        s.min_lr = strtod(p, &end), p = end;
        s.warmup_epochs = (int32_t)strtol(p, &end, 10), p = end;
        s.warmup_start = strtod(p, &end), p = end;
        s.epochs = (int32_t)strtol(p, &end, 10), p = end;
        if (s.kind == TRAIN_SCHEDULE_STEP) {
            s.step_size = (int32_t)strtol(p, &end, 10), p = end;
            s.step_gamma = strtod(p, &end), p = end;
        } else {
            s.restart_t0 = (int32_t)strtol(p, &end, 10), p = end;
            s.restart_t_mult = (int32_t)strtol(p, &end, 10), p = end;
        }
        float got[256], want[256];
        CHECK(s.epochs > 0 && s.epochs <= 256, "case %d: %d epochs", cases, s.epochs);
        for (int e = 0; e < s.epochs && e < 256; e++) {
            want[e] = (float)strtod(p, &end);
            CHECK(end != p, "case %d: missing lr %d", cases, e);
            p = end;
            got[e] = (float)train_schedule_lr(&s, e);
        }
        char what[96];
        snprintf(what, sizeof what, "%s case %d (W=%d, E=%d)", kind, cases, s.warmup_epochs, s.epochs);
        check_close(what, got, want, s.epochs < 256 ? s.epochs : 256, 0, 1e-6);
        kinds[s.kind]++;
        cases++;
    }
    fclose(f);
    CHECK(cases == 7 && kinds[TRAIN_SCHEDULE_RESTARTS] == 4 && kinds[TRAIN_SCHEDULE_STEP] == 3,
          "%d cases in the fixture", cases);
    /* Long restarts with T_mult 2: periods 1, 2, 4, ..., so epoch 2^k - 1 restarts. */
    train_schedule r = {.lr = 1, .min_lr = 0, .epochs = 1 << 20, .kind = TRAIN_SCHEDULE_RESTARTS,
                        .restart_t0 = 1, .restart_t_mult = 2};
    CHECK(train_schedule_lr(&r, (1 << 19) - 1) == 1.0, "restart at epoch 2^19 - 1");
    CHECK(fabs(train_schedule_lr(&r, (1 << 19) - 1 + (1 << 18)) - 0.5) < 1e-12, "half way through the period");
}

static void test_clip(void) {
    float g[4] = {3, 0, 4, 0}; /* norm 5 */
    float norm = train_clip_grad_norm(g, 4, 10);
    CHECK(fabsf(norm - 5) < 1e-6f, "norm %g", norm);
    CHECK(g[0] == 3 && g[2] == 4, "below max_norm: unchanged");
    norm = train_clip_grad_norm(g, 4, 1);
    CHECK(fabsf(norm - 5) < 1e-6f, "returns the norm before clipping: %g", norm);
    float coef = 1.0f / (5.0f + 1e-6f);
    CHECK(fabsf(g[0] - 3 * coef) < 1e-7f && fabsf(g[2] - 4 * coef) < 1e-7f && g[1] == 0,
          "scaled by max/(norm+1e-6): %g %g", g[0], g[2]);
    float after = train_clip_grad_norm(g, 4, 0);
    CHECK(fabsf(after - 1) < 1e-5f, "norm after clipping %g", after);
    /* Many elements: sum of squares of n ones is n. */
    static float big[10000];
    for (int i = 0; i < 10000; i++) big[i] = 1;
    norm = train_clip_grad_norm(big, 10000, 50);
    CHECK(fabsf(norm - 100) < 1e-4f && fabsf(big[7] - 50 / (100 + 1e-6f)) < 1e-6f, "big %g %g", norm, big[7]);
}

static void test_early_stop(void) {
    train_early_stop es;
    train_early_stop_init(&es, 2);
    float m[] = {0.3f, 0.5f, 0.5f, 0.4f, 0.6f, 0.6f, 0.1f};
    int improved[] = {1, 1, 0, 0, 1, 0, 0};
    int done[] = {0, 0, 0, 1, 0, 0, 1};
    for (int e = 0; e < 7; e++) {
        int imp = train_early_stop_update(&es, e, m[e]);
        CHECK(imp == improved[e], "epoch %d improved %d", e, imp);
        CHECK(train_early_stop_done(&es) == done[e], "epoch %d done %d", e, train_early_stop_done(&es));
    }
    CHECK(es.best_epoch == 4 && es.best == 0.6f, "best epoch %d %g", es.best_epoch, es.best);
    train_early_stop_init(&es, 0);
    for (int e = 0; e < 50; e++) train_early_stop_update(&es, e, 0);
    CHECK(!train_early_stop_done(&es) && es.best_epoch == 0, "patience 0 never stops");
}

static void test_metrics(void) {
    /* sklearn: f1_score([0,0,1,1,2,2], [0,1,1,1,0,2], average='macro') */
    int32_t y[] = {0, 0, 1, 1, 2, 2}, p[] = {0, 1, 1, 1, 0, 2};
    float acc, f1;
    train_metrics(p, y, 6, 4, &acc, &f1); /* class 3 absent: not averaged */
    /* class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp1 fn1 -> 2/3 */
    CHECK(fabsf(acc - 4.0f / 6) < 1e-6f, "accuracy %g", acc);
    CHECK(fabsf(f1 - (0.5f + 0.8f + 2.0f / 3) / 3) < 1e-6f, "macro f1 %g", f1);
    int32_t p2[] = {1, 1, 1, 1, 1, 1};
    train_metrics(p2, y, 6, 3, &acc, &f1); /* only class 1 predicted: f1 = 2*2/(4+4)=0.5, others 0 */
    CHECK(fabsf(f1 - 0.5f / 3) < 1e-6f && fabsf(acc - 1.0f / 3) < 1e-6f, "constant prediction %g %g", f1, acc);
    float logits[] = {0.1f, 2.0f, 2.0f, -1};
    CHECK(train_argmax(logits, 4) == 1, "argmax keeps the first maximum");
}

int main(void) {
    test_schedule();
    test_schedule_more();
    test_clip();
    test_early_stop();
    test_metrics();
    return check_report();
}
