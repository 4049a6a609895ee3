/* schedule.c: learning-rate schedules, gradient clipping, early stopping and
 * the two validation metrics the loop needs. */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>

/* CosineAnnealingWarmRestarts stepped e times: the periods T_0, T_0*T_mult, ...
 * (T_i += T_i*(T_mult-1) per restart) consume e; what is left is T_cur. */
static double restarts_factor(const train_schedule *s, int32_t e) {
    int64_t t = e, period = s->restart_t0 > 0 ? s->restart_t0 : 1;
    int64_t mult = s->restart_t_mult > 0 ? s->restart_t_mult : 1;
    if (mult == 1) t %= period;
    else
        while (t >= period) {
            t -= period;
            period *= mult; /* grows geometrically: a few dozen turns at most */
        }
    return (1.0 + cos(M_PI * (double)t / (double)period)) / 2.0;
}

double train_schedule_lr(const train_schedule *s, int32_t epoch) {
    int32_t W = s->warmup_epochs > 0 ? s->warmup_epochs : 0;
    if (epoch < W) return s->lr * (s->warmup_start + (1.0 - s->warmup_start) * (double)epoch / W);
    int32_t e = epoch - W;
    switch (s->kind) {
    case TRAIN_SCHEDULE_RESTARTS:
        return s->min_lr + (s->lr - s->min_lr) * restarts_factor(s, e);
    case TRAIN_SCHEDULE_STEP:
        return s->lr * pow(s->step_gamma, (double)(e / (s->step_size > 0 ? s->step_size : 1)));
    case TRAIN_SCHEDULE_COSINE:
    default:
        break;
    }
    if (s->epochs <= W) return s->lr;
    double t = (double)e / (double)(s->epochs - W);
    return s->min_lr + (s->lr - s->min_lr) * (1.0 + cos(M_PI * t)) / 2.0;
}

float train_clip_grad_norm(float *grad, size_t n, float max_norm) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)grad[i] * grad[i];
    float total = (float)sqrt(sum);
    if (max_norm > 0) {
        float coef = max_norm / (total + 1e-6f);
        if (coef < 1.0f)
            for (size_t i = 0; i < n; i++) grad[i] *= coef;
    }
    return total;
}

void train_early_stop_init(train_early_stop *es, int32_t patience) {
    es->patience = patience;
    es->best = -INFINITY;
    es->best_epoch = -1;
    es->bad_epochs = 0;
}

int train_early_stop_update(train_early_stop *es, int32_t epoch, float metric) {
    if (metric > es->best) {
        es->best = metric;
        es->best_epoch = epoch;
        es->bad_epochs = 0;
        return 1;
    }
    es->bad_epochs++;
    return 0;
}

int train_early_stop_done(const train_early_stop *es) {
    return es->patience > 0 && es->bad_epochs >= es->patience;
}

int32_t train_argmax(const float *logits, int32_t L) {
    int32_t best = 0;
    for (int32_t j = 1; j < L; j++)
        if (logits[j] > logits[best]) best = j;
    return best;
}

void train_metrics(const int32_t *pred, const int32_t *labels, int64_t n, int32_t L, float *accuracy,
                   float *macro_f1) {
    int64_t *tp = calloc((size_t)L * 3, sizeof *tp), *fp = tp + L, *fn = tp + 2 * L;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t p = pred[i], y = labels[i];
        if (p == y) {
            correct++;
            if (tp) tp[y]++;
        } else if (tp) {
            fp[p]++;
            fn[y]++;
        }
    }
    double f1 = 0;
    int32_t present = 0;
    for (int32_t c = 0; tp && c < L; c++) {
        int64_t d = 2 * tp[c] + fp[c] + fn[c];
        if (d == 0) continue; /* neither true nor predicted: not in sklearn's label set */
        f1 += 2.0 * (double)tp[c] / (double)d;
        present++;
    }
    free(tp);
    *accuracy = n ? (float)((double)correct / (double)n) : 0.0f;
    *macro_f1 = present ? (float)(f1 / present) : 0.0f;
}
