/* augment.c: SpecAugment and mixup on batches, noise, gain and shift on
 * waveforms, and the random variates they need. Everything draws from the
 * caller's sermo_rng in the order train.h documents.
 *
 * Dimension letters: B batch, F mel bins, T frames, D = F * T per example,
 * L classes, n samples. */
#include "train/train.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- variates */

/* Box-Muller: two independent N(0, 1) from two uniforms; 1 - u keeps the
 * log's argument in (0, 1]. */
static void normal_pair(sermo_rng *rng, double *z0, double *z1) {
    double u1 = 1.0 - sermo_rng_uniform(rng), u2 = sermo_rng_uniform(rng);
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    *z0 = r * cos(th);
    *z1 = r * sin(th);
}

double train_rng_normal(sermo_rng *rng) {
    double z0, z1;
    normal_pair(rng, &z0, &z1);
    return z0;
}

/* log of a Gamma(shape, 1) variate. Marsaglia & Tsang, "A simple method for
 * generating gamma variables" (ACM TOMS 2000), for shape >= 1; for shape < 1
 * their boost: Gamma(shape + 1) * u^(1/shape), kept in logs because u^(1/shape)
 * underflows for small shapes. */
static double log_gamma_variate(sermo_rng *rng, double shape) {
    if (shape < 1.0) {
        double u = 1.0 - sermo_rng_uniform(rng); /* (0, 1] */
        return log_gamma_variate(rng, shape + 1.0) + log(u) / shape;
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = train_rng_normal(rng), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = sermo_rng_uniform(rng), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2 || log(u) < 0.5 * x2 + d * (1.0 - v + log(v))) return log(d) + log(v);
    }
}

double train_rng_gamma(sermo_rng *rng, double shape) { return exp(log_gamma_variate(rng, shape)); }

double train_rng_beta(sermo_rng *rng, double a, double b) {
    double lx = log_gamma_variate(rng, a), ly = log_gamma_variate(rng, b);
    /* X / (X + Y) = 1 / (1 + exp(ly - lx)); exp overflow gives 0, as it should. */
    return 1.0 / (1.0 + exp(ly - lx));
}

/* ------------------------------------------------------------- SpecAugment */

void train_specaug_default_params(train_specaug_params *p) {
    p->n_freq_masks = 2;
    p->freq_mask_param = 8;
    p->n_time_masks = 2;
    p->time_mask_param = 30;
    p->time_mask_p = 1.0f;
    p->mask_value = 0.0f;
}

void train_specaug_draw_mask(sermo_rng *rng, int32_t size, int32_t mask_param, int32_t *start, int32_t *width) {
    if (mask_param > size) mask_param = size;
    *start = *width = 0;
    if (mask_param < 1) return;
    double value = sermo_rng_uniform(rng) * mask_param;
    double min_value = sermo_rng_uniform(rng) * ((double)size - value);
    *start = (int32_t)floor(min_value);
    *width = (int32_t)floor(value);
    /* u < 1 keeps start + width <= size; guard against rounding anyway. */
    if (*start + *width > size) *start = size - *width;
}

void train_specaug(float *x, int B, int32_t F, int32_t T, const train_specaug_params *p, sermo_rng *rng) {
    // x (B, 1, F, T)
    int32_t time_param = p->time_mask_param;
    if (p->time_mask_p < 1.0f) {
        int32_t cap = (int32_t)floor((double)p->time_mask_p * T); /* torchaudio: int(T * p) */
        if (cap < time_param) time_param = cap;
    }
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)b * F * T; /* (F, T) */
        int32_t start, width;
        for (int32_t k = 0; k < p->n_freq_masks; k++) {
            train_specaug_draw_mask(rng, F, p->freq_mask_param, &start, &width);
            for (int32_t f = start; f < start + width; f++)
                for (int32_t t = 0; t < T; t++) xb[(size_t)f * T + t] = p->mask_value;
        }
        for (int32_t k = 0; k < p->n_time_masks; k++) {
            train_specaug_draw_mask(rng, T, time_param, &start, &width);
            for (int32_t f = 0; f < F; f++)
                for (int32_t t = start; t < start + width; t++) xb[(size_t)f * T + t] = p->mask_value;
        }
    }
}

/* ------------------------------------------------------------------- mixup */

static void mix_into(float *dst, const float *other, float lam, int64_t D) {
    for (int64_t i = 0; i < D; i++) dst[i] = lam * dst[i] + (1.0f - lam) * other[i];
}

float train_mixup(float *x, int64_t *perm, float *tmp, int B, int64_t D, float alpha, sermo_rng *rng) {
    // x (B, D); perm (B); tmp (D)
    for (int b = 0; b < B; b++) perm[b] = b;
    if (!(alpha > 0.0f)) return 1.0f;
    float lam = (float)train_rng_beta(rng, alpha, alpha);
    sermo_rng_shuffle(rng, perm, B);
    /* In place along each cycle of perm: x[b] reads x[perm[b]] before that
     * row is overwritten, and the cycle's last row reads the saved first.
     * A cycle is handled from its smallest index, so once. */
    for (int s = 0; s < B; s++) {
        int64_t j = perm[s];
        while (j > s) j = perm[j];
        if (j < s) continue; /* not the smallest of its cycle */
        memcpy(tmp, x + (size_t)s * D, sizeof *tmp * (size_t)D);
        int64_t i = s;
        while (perm[i] != s) {
            mix_into(x + (size_t)i * D, x + (size_t)perm[i] * D, lam, D);
            i = perm[i];
        }
        mix_into(x + (size_t)i * D, tmp, lam, D);
    }
    return lam;
}

float train_mixup_loss(float *dlogits, const float *logits, const int32_t *labels, const int64_t *perm,
                       float lam, int B, int L, float label_smoothing) {
    // dlogits, logits (B, L); labels, perm (B)
    /* Row by row through nn_cross_entropy_forward for y1 = labels[n]; the
     * y2 = labels[perm[n]] term differs only in the one-hot part of the
     * target, (1 - s) e_y, so
     *   CE(y2) = CE(y1) - (1 - s) (z[y2] - z[y1]),
     *   lam g(y1) + (1 - lam) g(y2) = g(y1) + (1 - lam) (1 - s) (e_y1 - e_y2),
     * and both are divided by B for the batch mean. */
    double total = 0.0, s = label_smoothing;
    for (int n = 0; n < B; n++) {
        const float *z = logits + (size_t)n * L;
        float *dz = dlogits ? dlogits + (size_t)n * L : NULL;
        int32_t y1 = labels[n], y2 = labels[perm[n]];
        double ce1 = nn_cross_entropy_forward(dz, z, &y1, 1, L, label_smoothing);
        total += ce1 - (1.0 - lam) * (1.0 - s) * ((double)z[y2] - z[y1]);
        if (dz) {
            double shift = (1.0 - lam) * (1.0 - s);
            for (int k = 0; k < L; k++) {
                double g = dz[k] + (k == y1 ? shift : 0.0) - (k == y2 ? shift : 0.0);
                dz[k] = (float)(g / B);
            }
        }
    }
    return (float)(total / B);
}

/* --------------------------------------------------------------- waveforms */

size_t train_wave_speed(const float *in, size_t n, float *out, double rate) {
    if (n == 0) return 0;
    size_t m = (size_t)floor((double)(n - 1) / rate) + 1;
    for (size_t j = 0; j < m; j++) {
        double x = (double)j * rate;
        size_t i = (size_t)x;
        if (i >= n - 1) { /* the last sample, reached exactly or by rounding */
            out[j] = in[n - 1];
            continue;
        }
        double f = x - (double)i;
        out[j] = (float)((1.0 - f) * in[i] + f * in[i + 1]);
    }
    return m;
}

int train_wave_add_noise(float *pcm, size_t n, float p, float snr_lo_db, float snr_hi_db, sermo_rng *rng,
                         float *snr_db) {
    if (!(sermo_rng_uniform(rng) < p)) return 0;
    double snr = snr_lo_db + sermo_rng_uniform(rng) * ((double)snr_hi_db - snr_lo_db);
    double power = 0.0;
    for (size_t i = 0; i < n; i++) power += (double)pcm[i] * pcm[i];
    if (n == 0 || power == 0.0) return 0;
    power /= (double)n;
    double sigma = sqrt(power * pow(10.0, -snr / 10.0));
    for (size_t i = 0; i < n; i += 2) {
        double z0, z1;
        normal_pair(rng, &z0, &z1);
        pcm[i] = (float)(pcm[i] + sigma * z0);
        if (i + 1 < n) pcm[i + 1] = (float)(pcm[i + 1] + sigma * z1);
    }
    if (snr_db) *snr_db = (float)snr;
    return 1;
}

float train_wave_gain(float *pcm, size_t n, float lo_db, float hi_db, sermo_rng *rng) {
    double g = lo_db + sermo_rng_uniform(rng) * ((double)hi_db - lo_db);
    double k = pow(10.0, g / 20.0);
    for (size_t i = 0; i < n; i++) pcm[i] = (float)(pcm[i] * k);
    return (float)g;
}

static void reverse(float *v, size_t n) {
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        float t = v[i];
        v[i] = v[j - 1];
        v[j - 1] = t;
    }
}

int64_t train_wave_shift(float *pcm, size_t n, int64_t max_shift, int circular, sermo_rng *rng) {
    if (max_shift < 0) max_shift = 0;
    int64_t s = (int64_t)sermo_rng_below(rng, (uint64_t)(2 * max_shift + 1)) - max_shift;
    if (n == 0 || s == 0) return s;
    if (circular) {
        /* Rotate right by s mod n: reverse all, then each part. */
        int64_t nn = (int64_t)n;
        size_t r = (size_t)(((s % nn) + nn) % nn);
        if (r == 0) return s;
        reverse(pcm, n);
        reverse(pcm, r);
        reverse(pcm + r, n - r);
        return s;
    }
    size_t a = (size_t)(s > 0 ? s : -s);
    if (a >= n) {
        memset(pcm, 0, sizeof *pcm * n);
    } else if (s > 0) {
        memmove(pcm + a, pcm, sizeof *pcm * (n - a));
        memset(pcm, 0, sizeof *pcm * a);
    } else {
        memmove(pcm, pcm + a, sizeof *pcm * (n - a));
        memset(pcm + n - a, 0, sizeof *pcm * a);
    }
    return s;
}
