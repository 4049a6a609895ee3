/* test_groups.c: parameter groups. The pure rule train_group_of on
 * hand-made names and blocks; train_groups_init on a hand-made table (errors
 * for a prefix matching nothing and for freezing everything); each group's
 * first AdamW step is lr times its multiplier; frozen entries keep their
 * bits and leave the clip norm; and real cnn3 training with train.freeze
 * leaves the frozen tensors bit-identical while the rest moves, and still
 * resumes exactly. */
#include "train_test_util.h"

#include "io/safetensors.h"
#include "train/train.h"

#define NMEL 16
#define NCLIP 40

static void test_rule(void) {
    train_options o;
    train_options_default(&o);
    snprintf(o.freeze, sizeof o.freeze, "conv1, layer1 ,bn1");
    o.freeze_blocks = 2;
    o.slow_blocks = 4;
    o.backbone_lr_mult = 0.1f;
    struct {
        const char *name;
        int32_t block;
        train_group want;
    } cases[] = {
        {"conv1.weight", 5, TRAIN_GROUP_FROZEN},     /* prefix wins over the block */
        {"conv1", 5, TRAIN_GROUP_FROZEN},            /* the prefix itself */
        {"conv10.weight", 5, TRAIN_GROUP_BACKBONE},  /* not a whole component */
        {"layer1.0.conv1.weight", 7, TRAIN_GROUP_FROZEN},
        {"layer10.0.weight", 7, TRAIN_GROUP_BACKBONE},
        {"bn1.bias", -1, TRAIN_GROUP_FROZEN},        /* a prefix freezes even the head */
        {"stem.weight", 0, TRAIN_GROUP_FROZEN},      /* 0 <= block < freeze_blocks */
        {"a.weight", 1, TRAIN_GROUP_FROZEN},
        {"b.weight", 2, TRAIN_GROUP_SLOW},           /* freeze_blocks <= block < slow_blocks */
        {"c.weight", 3, TRAIN_GROUP_SLOW},
        {"d.weight", 4, TRAIN_GROUP_BACKBONE},
        {"fc.weight", -1, TRAIN_GROUP_HEAD},         /* head: never frozen by count */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        train_group g = train_group_of(&o, cases[i].name, cases[i].block);
        CHECK(g == cases[i].want, "%s (block %d): group %d, want %d", cases[i].name, cases[i].block, g,
              cases[i].want);
    }
    train_options_default(&o);
    CHECK(train_group_of(&o, "x", 0) == TRAIN_GROUP_BACKBONE && train_group_of(&o, "fc", -1) == TRAIN_GROUP_HEAD,
          "defaults: nothing frozen or slow");
}

static const model_spec fake_spec = {.name = "fake"};

/* A hand-made table: stem (block 0), blocks 1..3, a head (-1). */
static void fake_model(model *m) {
    memset(m, 0, sizeof *m);
    m->spec = &fake_spec;
    nn_params_init(&m->params);
    nn_params_init(&m->buffers);
    const char *names[] = {"stem.weight", "b1.weight", "b2.weight", "b3.weight", "fc.weight"};
    int32_t blocks[] = {0, 1, 2, 3, -1};
    for (int i = 0; i < 5; i++) {
        int64_t shape[1] = {4 + i};
        int32_t k = nn_params_add(&m->params, names[i], 1, shape, 0, i % 2, NULL);
        m->params.entries[k].block = blocks[i];
    }
    nn_params_finalise(&m->params, NULL);
    nn_params_finalise(&m->buffers, NULL);
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] = 0.5f + 0.01f * (float)i;
}

static void fake_grads(model *m) {
    for (int32_t e = 0; e < m->params.n; e++)
        for (size_t k = 0; k < m->params.entries[e].numel; k++) {
            size_t i = m->params.entries[e].offset + k;
            m->params.grad[i] = (i % 3 ? 1.0f : -2.0f) * (1.0f + (float)i);
        }
}

static void test_table(void) {
    model m;
    nn_adamw adamw;
    sermo_error err;
    train_options o;
    train_options_default(&o);
    o.lr = 1e-2f;
    o.weight_decay = 0.0f;
    o.freeze_blocks = 1;
    o.slow_blocks = 2;
    o.slow_lr_mult = 0.01f;
    o.backbone_lr_mult = 0.1f;
    fake_model(&m);
    CHECK(train_groups_init(&o, &m, &adamw, &err) == SERMO_OK, "%s", err.msg);
    train_group want[] = {TRAIN_GROUP_FROZEN, TRAIN_GROUP_SLOW, TRAIN_GROUP_BACKBONE, TRAIN_GROUP_BACKBONE,
                          TRAIN_GROUP_HEAD};
    for (int i = 0; i < 5; i++)
        CHECK(m.params.entries[i].group == (int32_t)want[i], "%s in group %d", m.params.entries[i].name,
              m.params.entries[i].group);
    train_groups_set_lr(&o, &adamw, 2e-2);
    CHECK(adamw.n_groups == TRAIN_GROUP_COUNT && adamw.groups[TRAIN_GROUP_HEAD].lr == 2e-2f &&
              adamw.groups[TRAIN_GROUP_BACKBONE].lr == (float)(2e-2 * (double)0.1f) &&
              adamw.groups[TRAIN_GROUP_SLOW].lr == (float)(2e-2 * (double)0.01f) &&
              adamw.groups[TRAIN_GROUP_FROZEN].lr == 0 && adamw.groups[TRAIN_GROUP_FROZEN].weight_decay == 0,
          "group lrs %g %g %g %g", adamw.groups[0].lr, adamw.groups[1].lr, adamw.groups[2].lr, adamw.groups[3].lr);

    /* Adam's first step moves each element by lr |g| / (|g| + eps), i.e. by
     * the group's lr (no decay here); the frozen stem does not move at all. */
    float before[512];
    memcpy(before, m.params.data, sizeof(float) * m.params.total);
    fake_grads(&m);
    /* Clipping sees only the trainable gradients once the frozen ones are zeroed. */
    double sq = 0;
    for (int i = 1; i < 5; i++) {
        const nn_param *e = &m.params.entries[i];
        for (size_t k = 0; k < e->numel; k++) sq += (double)m.params.grad[e->offset + k] * m.params.grad[e->offset + k];
    }
    train_groups_zero_frozen(&m.params);
    float norm = train_clip_grad_norm(m.params.grad, m.params.total, 0);
    CHECK(fabs(norm - sqrt(sq)) < 1e-3 * sqrt(sq), "clip norm %g without the frozen entries, want %g", norm, sqrt(sq));
    CHECK(nn_adamw_step(&adamw, &m.params, &err) == SERMO_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++) {
        const nn_param *e = &m.params.entries[i];
        float lr = adamw.groups[e->group].lr, worst = 0;
        for (size_t k = 0; k < e->numel; k++) {
            float moved = fabsf(m.params.data[e->offset + k] - before[e->offset + k]);
            worst = fmaxf(worst, fabsf(moved - lr));
        }
        if (e->group == TRAIN_GROUP_FROZEN)
            CHECK(!memcmp(m.params.data + e->offset, before + e->offset, sizeof(float) * e->numel) &&
                      m.params.m[e->offset] == 0 && m.params.v[e->offset] == 0,
                  "%s frozen: bits kept, no moments", e->name);
        else
            CHECK(worst <= 1e-7f + 1e-4f * lr, "%s moved by its group's lr %g (worst error %g)", e->name, lr,
                  worst);
    }

    /* Errors: a prefix that matches nothing, and nothing left to train. */
    train_options_default(&o);
    snprintf(o.freeze, sizeof o.freeze, "b1, b4");
    CHECK(train_groups_init(&o, &m, &adamw, &err) == SERMO_ERR_INVALID && strstr(err.msg, "train.freeze") &&
              strstr(err.msg, "'b4'"),
          "unmatched prefix: %s", err.msg);
    snprintf(o.freeze, sizeof o.freeze, "b1,,b2");
    CHECK(train_groups_init(&o, &m, &adamw, &err) == SERMO_ERR_INVALID && strstr(err.msg, "empty item"),
          "an empty prefix is refused, not a match for everything: %s", err.msg);
    snprintf(o.freeze, sizeof o.freeze, "b");
    CHECK(train_groups_init(&o, &m, &adamw, &err) == SERMO_ERR_INVALID && strstr(err.msg, "'b'"),
          "a partial component matches nothing: %s", err.msg);
    snprintf(o.freeze, sizeof o.freeze, "fc");
    o.freeze_blocks = 100;
    CHECK(train_groups_init(&o, &m, &adamw, &err) == SERMO_ERR_INVALID && strstr(err.msg, "every parameter"),
          "all frozen: %s", err.msg);
    nn_params_free(&m.params);
    nn_params_free(&m.buffers);
}

static char dir[] = "/tmp/sermo_test_groups_XXXXXX";

/* The tensor of a model file, or NULL. */
static const float *tensor(const sermo_st_file *f, const char *name) {
    const sermo_st_tensor *t = f ? sermo_st_find(f, name) : NULL;
    return t ? t->data : NULL;
}

static void test_training(void) {
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    tt_setup su;
    CHECK(tt_setup_init(&su, dir, NCLIP, NMEL) == 0, "synthetic corpus and cache");
    if (!su.cache) return;
    train_options opt = su.opt;
    const train_data data = su.data;
    opt.weight_decay = 0.1f; /* large, so decay alone would move a frozen weight */
    opt.backbone_lr_mult = 0.5f;
    snprintf(opt.freeze, sizeof opt.freeze, "features.0, features.1");
    sermo_error err;
    train_result res;
    char out[512], path[1300];
    snprintf(out, sizeof out, "%s/frozen", dir);
    mkdir(out, 0755);
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s", out);
    CHECK(train_run(&opt, &data, NULL, NULL, &res, &err) == SERMO_OK, "frozen run: %s", err.msg);
    CHECK(res.best_macro_f1 >= 0.8f, "still learns with the stem frozen: f1 %g", res.best_macro_f1);

    /* The initial weights: train_run creates the model from the same seed. */
    model_config cfg = {.n_classes = 2, .in_channels = 1, .n_bins = NMEL, .max_frames = 24, .max_batch = 8,
                        .threads = 1, .dropout = opt.dropout};
    model *init = model_create("cnn3", &cfg, opt.seed, &err);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", out);
    sermo_st_file *f = sermo_st_open(path, &err);
    CHECK(init && f, "initial model and checkpoint: %s", err.msg);
    int frozen = 0, moved = 0;
    for (int32_t i = 0; init && f && i < init->params.n; i++) {
        const nn_param *e = &init->params.entries[i];
        const float *now = tensor(f, e->name), *was = init->params.data + e->offset;
        int is_frozen = !strncmp(e->name, "features.0.", 11) || !strncmp(e->name, "features.1.", 11);
        int same = now && !memcmp(now, was, sizeof(float) * e->numel);
        if (is_frozen) {
            frozen++;
            char mname[128];
            snprintf(mname, sizeof mname, "adamw.m.%s", e->name);
            const float *mom = tensor(f, mname);
            int zero_m = mom != NULL;
            for (size_t k = 0; mom && k < e->numel; k++) zero_m &= mom[k] == 0.0f;
            CHECK(same && zero_m, "%s frozen: bit-identical after 4 epochs (moments zero: %d)", e->name, zero_m);
        } else {
            moved += !same;
        }
    }
    CHECK(frozen == 3, "cnn3 has features.0.weight, features.1.weight, features.1.bias frozen: %d", frozen);
    CHECK(init && moved == init->params.n - frozen, "every other parameter trained: %d of %d", moved,
          init ? init->params.n - frozen : 0);
    /* BN running statistics are buffers: they may (and do) move. */
    const float *rm = tensor(f, "features.1.running_mean");
    CHECK(rm && init && memcmp(rm, nn_params_data(&init->buffers, "features.1.running_mean"), 4 * 32),
          "features.1.running_mean still updates");
    sermo_st_close(f);
    model_free(init);

    /* Groups come from the config, so resuming rebuilds them: exact resume. */
    char out2[512];
    snprintf(out2, sizeof out2, "%s/frozen_resumed", dir);
    mkdir(out2, 0755);
    snprintf(opt.out_dir, sizeof opt.out_dir, "%s", out2);
    CHECK(train_run(&opt, &data, tt_stop_after_two, NULL, &res, &err) == SERMO_OK && res.epochs_run == 2, "part 1: %s",
          err.msg);
    opt.resume = 1;
    CHECK(train_run(&opt, &data, NULL, NULL, &res, &err) == SERMO_OK && res.epochs_run == 4, "part 2: %s", err.msg);
    char a[1300], b[1300];
    snprintf(a, sizeof a, "%s/checkpoint.safetensors", out);
    snprintf(b, sizeof b, "%s/checkpoint.safetensors", out2);
    size_t na = 0, nb = 0;
    sermo_st_file *fa = sermo_st_open(a, &err), *fb = sermo_st_open(b, &err);
    int same = fa && fb && sermo_st_n_tensors(fa) == sermo_st_n_tensors(fb);
    for (int i = 0; same && i < sermo_st_n_tensors(fa); i++) {
        const sermo_st_tensor *x = sermo_st_tensor_at(fa, i), *y = sermo_st_find(fb, x->name);
        na = sermo_st_nbytes(x);
        nb = y ? sermo_st_nbytes(y) : 0;
        same = na == nb && !memcmp(x->data, y->data, na);
    }
    CHECK(same, "resumed frozen run equals the uninterrupted one");
    sermo_st_close(fa);
    sermo_st_close(fb);

    /* A prefix that matches no cnn3 parameter fails the run, naming it. */
    opt.resume = 0;
    snprintf(opt.freeze, sizeof opt.freeze, "layer1");
    CHECK(train_run(&opt, &data, NULL, NULL, &res, &err) == SERMO_ERR_INVALID && strstr(err.msg, "layer1"),
          "unknown prefix: %s", err.msg);
    tt_setup_free(&su);
    tt_remove_dir(dir);
}

int main(void) {
    test_rule();
    test_table();
    test_training();
    return check_report();
}
