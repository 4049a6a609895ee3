/* groups.c: parameter groups for fine-tuning (train.freeze, freeze_blocks,
 * slow_blocks, slow_lr_mult, backbone_lr_mult). The group of each entry is
 * written into the parameter table, as torch keeps it in the optimizer's
 * param_groups (https://pytorch.org/docs/stable/optim.html#per-parameter-options),
 * and AdamW reads lr and weight decay from it. */
#include "train/train.h"

#include <string.h>

/* Whole name components only: "conv1" is a prefix of "conv1" and "conv1.weight",
 * not of "conv10.weight". */
static int name_matches(const char *s, size_t len, void *ctx) {
    const char *name = ctx;
    return !strncmp(name, s, len) && (name[len] == 0 || name[len] == '.');
}

train_group train_group_of(const train_options *opt, const char *name, int32_t block) {
    if (train_list_each(opt->freeze, name_matches, (void *)name) < 0) return TRAIN_GROUP_FROZEN;
    if (block >= 0 && block < opt->freeze_blocks) return TRAIN_GROUP_FROZEN;
    if (block >= opt->freeze_blocks && block < opt->slow_blocks) return TRAIN_GROUP_SLOW;
    return block < 0 ? TRAIN_GROUP_HEAD : TRAIN_GROUP_BACKBONE;
}

typedef struct prefix_check {
    const nn_params *p;
    const char *missing;
    size_t missing_len;
} prefix_check;

/* Stops (returns 1) at the first prefix that matches no parameter. */
static int prefix_unused(const char *s, size_t len, void *ctx) {
    prefix_check *c = ctx;
    for (int32_t i = 0; i < c->p->n; i++)
        if (name_matches(s, len, (void *)c->p->entries[i].name)) return 0;
    c->missing = s;
    c->missing_len = len;
    return 1;
}

sermo_status train_groups_init(const train_options *opt, model *m, nn_adamw *adamw, sermo_error *err) {
    nn_params *p = &m->params;
    prefix_check check = {p, NULL, 0};
    if (train_list_each(opt->freeze, NULL, NULL) < 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "train.freeze: '%s' has an empty item", opt->freeze);
    if (train_list_each(opt->freeze, prefix_unused, &check) < 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "train.freeze: '%.*s' matches no parameter of model %s (its "
                          "first is '%s', its last '%s')", (int)check.missing_len, check.missing, m->spec->name,
                          p->n ? p->entries[0].name : "", p->n ? p->entries[p->n - 1].name : "");
    int32_t training = 0;
    for (int32_t i = 0; i < p->n; i++) {
        nn_param *e = &p->entries[i];
        e->group = (int32_t)train_group_of(opt, e->name, e->block);
        training += e->group != TRAIN_GROUP_FROZEN;
    }
    if (p->n > 0 && training == 0)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "train.freeze / train.freeze_blocks: every parameter of model %s is frozen", m->spec->name);
    nn_adamw_init(adamw, opt->lr, opt->weight_decay);
    while (adamw->n_groups < TRAIN_GROUP_COUNT)
        if (nn_adamw_add_group(adamw, opt->lr, opt->weight_decay) < 0)
            return sermo_fail(err, SERMO_ERR_INVALID, "train: the optimizer holds too few groups");
    train_groups_set_lr(opt, adamw, opt->lr);
    return SERMO_OK;
}

void train_groups_set_lr(const train_options *opt, nn_adamw *adamw, double lr) {
    /* In double, then rounded once: with a multiplier of 1 the group's lr is
     * the schedule's float, as before groups existed. */
    adamw->groups[TRAIN_GROUP_HEAD].lr = (float)lr;
    adamw->groups[TRAIN_GROUP_BACKBONE].lr = (float)(lr * opt->backbone_lr_mult);
    adamw->groups[TRAIN_GROUP_SLOW].lr = (float)(lr * opt->slow_lr_mult);
    adamw->groups[TRAIN_GROUP_FROZEN].lr = 0.0f;
    adamw->groups[TRAIN_GROUP_FROZEN].weight_decay = 0.0f;
}

void train_groups_zero_frozen(nn_params *p) {
    for (int32_t i = 0; i < p->n; i++)
        if (p->entries[i].group == TRAIN_GROUP_FROZEN) memset(p->grad + p->entries[i].offset, 0,
                                                              sizeof(float) * p->entries[i].numel);
}
