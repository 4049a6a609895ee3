/* adamw.c: torch.optim.AdamW (https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html),
 * amsgrad off, as one flat loop over the parameter table. Per element, in the
 * order torch 1.13's _single_tensor_adamw does it (so results match to float
 * rounding):
 *   p *= 1 - lr * wd                       (decoupled decay, only where entry.decay)
 *   m  = beta1 m + (1 - beta1) g
 *   v  = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
#include "nn/nn.h"

#include <math.h>

void nn_adamw_init(nn_adamw *opt, float lr, float weight_decay) {
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->step = 0;
    opt->n_groups = 1;
    opt->groups[0] = (nn_adamw_group){.lr = lr, .weight_decay = weight_decay};
}

int32_t nn_adamw_add_group(nn_adamw *opt, float lr, float weight_decay) {
    if (opt->n_groups >= NN_ADAMW_MAX_GROUPS) return -1;
    opt->groups[opt->n_groups] = (nn_adamw_group){.lr = lr, .weight_decay = weight_decay};
    return opt->n_groups++;
}

sermo_status nn_adamw_step(nn_adamw *opt, nn_params *p, sermo_error *err) {
    if (!p->data) return sermo_fail(err, SERMO_ERR_INVALID, "adamw: parameter table not finalised");
    for (int32_t i = 0; i < p->n; i++)
        if (p->entries[i].group >= opt->n_groups)
            return sermo_fail(err, SERMO_ERR_INVALID, "adamw: %s is in group %d of %d",
                              p->entries[i].name, p->entries[i].group, opt->n_groups);
    opt->step++;
    /* Scalars in double, as torch computes them in Python, then used in float. */
    double bc1 = 1.0 - pow((double)opt->beta1, (double)opt->step);
    double bc2 = 1.0 - pow((double)opt->beta2, (double)opt->step);
    float b1 = opt->beta1, b2 = opt->beta2;
    float a1 = (float)(1.0 - (double)opt->beta1), a2 = (float)(1.0 - (double)opt->beta2);
    float bc2_sqrt = (float)sqrt(bc2), eps = opt->eps;
    for (int32_t i = 0; i < p->n; i++) {
        const nn_param *e = &p->entries[i];
        const nn_adamw_group *g = &opt->groups[e->group];
        float decay = e->decay ? (float)(1.0 - (double)g->lr * g->weight_decay) : 1.0f;
        float step_size = (float)((double)g->lr / bc1);
        float *w = p->data + e->offset, *gr = p->grad + e->offset;
        float *m = p->m + e->offset, *v = p->v + e->offset;
        for (size_t k = 0; k < e->numel; k++) {
            w[k] *= decay;
            m[k] = m[k] * b1 + a1 * gr[k];
            v[k] = v[k] * b2 + a2 * gr[k] * gr[k];
            w[k] -= step_size * (m[k] / (sqrtf(v[k]) / bc2_sqrt + eps));
        }
    }
    return SERMO_OK;
}
