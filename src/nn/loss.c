/* loss.c: softmax cross-entropy, as torch.nn.CrossEntropyLoss(reduction='mean',
 * label_smoothing=s) (https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html):
 *   log p_k = z_k - logsumexp(z),  logsumexp computed as max + log sum exp(z - max)
 *   loss_n  = -(1 - s) log p_y - (s / L) sum_k log p_k
 *   dz_nk   = (p_k - (1 - s) [k == y] - s / L) / N
 * Each row is reduced in double so the loss does not depend on L's size. */
#include "nn/nn.h"

#include <math.h>

float nn_cross_entropy_forward(float *dlogits, const float *logits, const int32_t *labels, int N,
                               int L, float label_smoothing) {
    // dlogits, logits (N, L); labels (N)
    double total = 0.0, s = label_smoothing;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * L;
        float mx = z[0];
        for (int k = 1; k < L; k++)
            if (z[k] > mx) mx = z[k];
        double se = 0.0, sz = 0.0;
        for (int k = 0; k < L; k++) {
            se += exp((double)z[k] - mx);
            sz += z[k];
        }
        double lse = mx + log(se);
        int y = labels[n];
        total += -(1.0 - s) * ((double)z[y] - lse) - (s / L) * (sz - L * lse);
        if (dlogits) {
            float *dz = dlogits + (size_t)n * L;
            for (int k = 0; k < L; k++) {
                double target = (k == y ? 1.0 - s : 0.0) + s / L;
                dz[k] = (float)((exp((double)z[k] - lse) - target) / N);
            }
        }
    }
    return (float)(total / N);
}
