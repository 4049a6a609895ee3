/* loss.c: the training losses (weighted, label-smoothed cross-entropy and
 * focal loss; definitions in train.h) and balanced class weights.
 *
 * B batch, L classes. */
#include "train/train.h"

#include <math.h>

/* One class's term c * (1 - p)^g * (-log p) of row z, and h = c f'(p) p with
 * f(p) = -(1 - p)^g log p, the piece its logit gradient is built from:
 * d/dz_j sum_k c_k f(p_k) = h_j - p_j sum_k h_k (the softmax Jacobian). */
static double focal_term(double logp, double c, double gamma, double *h) {
    double p = exp(logp), om = -expm1(logp); /* 1 - p, accurate when p is near 1 */
    double mod = gamma == 0.0 ? 1.0 : pow(om, gamma);
    double fp = gamma > 0.0 && om > 0.0 ? gamma * pow(om, gamma - 1.0) * p * logp : 0.0;
    *h = c * (fp - mod);
    return c * mod * -logp;
}

/* c_k = q_k w_k: the smoothed target times the class weight. */
static double target(int k, int y, double s, int L, const float *w) {
    return ((k == y ? 1.0 - s : 0.0) + s / L) * (w ? w[k] : 1.0);
}

float train_loss_forward(float *dlogits, const train_loss *loss, const float *logits, const int32_t *labels, int B,
                         int L) {
    // dlogits, logits (B, L); labels (B); loss->class_weights (L)
    const float *w = loss->class_weights;
    double gamma = loss->kind == TRAIN_LOSS_FOCAL ? loss->focal_gamma : 0.0;
    if (!w && gamma == 0.0) /* the default recipe: bit-identical to before */
        return nn_cross_entropy_forward(dlogits, logits, labels, B, L, loss->label_smoothing);
    double s = loss->label_smoothing, total = 0.0, norm = 0.0;
    for (int i = 0; i < B; i++) norm += w ? w[labels[i]] : 1.0;
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * L;
        float mx = z[0];
        for (int k = 1; k < L; k++)
            if (z[k] > mx) mx = z[k];
        double se = 0.0;
        for (int k = 0; k < L; k++) se += exp((double)z[k] - mx);
        double lse = mx + log(se), hsum = 0.0, h;
        int y = labels[i];
        for (int k = 0; k < L; k++) {
            total += focal_term((double)z[k] - lse, target(k, y, s, L, w), gamma, &h);
            hsum += h;
        }
        if (!dlogits) continue;
        float *dz = dlogits + (size_t)i * L;
        for (int k = 0; k < L; k++) {
            double logp = (double)z[k] - lse;
            focal_term(logp, target(k, y, s, L, w), gamma, &h);
            dz[k] = (float)((h - exp(logp) * hsum) / norm);
        }
    }
    return (float)(total / norm);
}

int32_t train_class_weights_balanced(float *w, const int64_t *counts, int32_t L) {
    int64_t n = 0;
    for (int32_t c = 0; c < L; c++) {
        if (counts[c] <= 0) return c;
        n += counts[c];
    }
    for (int32_t c = 0; c < L; c++) w[c] = (float)((double)n / ((double)L * (double)counts[c]));
    return -1;
}
