/* test_augment.c: the random variates' moments (normal, Gamma, Beta and the
 * U shape of Beta(0.2, 0.2) against its integrated density), SpecAugment's
 * mask rule and its statistics, masks written exactly where drawn, mixup's
 * formula in place over many permutations, the mixup loss against two
 * nn_cross_entropy_forward calls and finite differences, and the waveform
 * functions in closed form; a seed reproduces every one. */
#include "check.h"

#include "internal.h"
#include "nn/nn.h"
#include "train/train.h"

/* Sample mean and population variance of n draws of gen(rng, a, b). */
typedef double (*variate_fn)(sermo_rng *rng, double a, double b);
static double v_normal(sermo_rng *r, double a, double b) { (void)a, (void)b; return train_rng_normal(r); }
static double v_gamma(sermo_rng *r, double a, double b) { (void)b; return train_rng_gamma(r, a); }
static double v_beta(sermo_rng *r, double a, double b) { return train_rng_beta(r, a, b); }

static void moments(variate_fn gen, double a, double b, long n, uint64_t seed, double *mean, double *var) {
    sermo_rng rng;
    sermo_rng_seed(&rng, seed);
    double s = 0, q = 0;
    for (long i = 0; i < n; i++) {
        double v = gen(&rng, a, b);
        s += v;
        q += v * v;
    }
    *mean = s / n;
    *var = q / n - *mean * *mean;
}

/* Checks mean and variance against the closed form: mean within 5 standard
 * errors, variance within rel. */
static void check_moments(const char *what, variate_fn gen, double a, double b, double want_mean,
                          double want_var, double rel) {
    long n = 400000;
    double m, v;
    moments(gen, a, b, n, 1234 + (uint64_t)(a * 100), &m, &v);
    double se = sqrt(want_var / n);
    CHECK(fabs(m - want_mean) < 5 * se, "%s(%g, %g) mean %.5f want %.5f (se %.2g)", what, a, b, m, want_mean, se);
    CHECK(fabs(v - want_var) < rel * want_var, "%s(%g, %g) var %.5f want %.5f", what, a, b, v, want_var);
}

/* P(lo < X < hi) for X ~ Beta(a, a), a < 1, by Simpson's rule on the density;
 * near 0 the substitution x = t^(1/a) removes the singularity (and the bin
 * touching 1 is the mirror of the one touching 0). */
static double beta_bin(double a, double lo, double hi) {
    double norm = tgamma(2 * a) / (tgamma(a) * tgamma(a));
    if (hi >= 1.0) return beta_bin(a, 1.0 - hi, 1.0 - lo);
    int m = 2000;
    double sum = 0;
    if (lo == 0.0) { /* integral of x^(a-1) (1-x)^(a-1) dx, x = t^(1/a): (1/a) (1-x)^(a-1) dt */
        double t1 = pow(hi, a), h = t1 / m;
        for (int i = 0; i <= m; i++) {
            double x = pow(i * h, 1.0 / a), f = pow(1 - x, a - 1) / a;
            sum += f * (i == 0 || i == m ? 1 : i % 2 ? 4 : 2);
        }
        return norm * sum * h / 3;
    }
    double h = (hi - lo) / m;
    for (int i = 0; i <= m; i++) {
        double x = lo + i * h, f = pow(x, a - 1) * pow(1 - x, a - 1);
        sum += f * (i == 0 || i == m ? 1 : i % 2 ? 4 : 2);
    }
    return norm * sum * h / 3;
}

static void test_variates(void) {
    check_moments("normal", v_normal, 0, 0, 0.0, 1.0, 0.02);
    const double shapes[] = {0.2, 0.5, 1.0, 2.5, 7.0};
    for (int i = 0; i < 5; i++) check_moments("gamma", v_gamma, shapes[i], 0, shapes[i], shapes[i], 0.04);
    /* Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)). */
    const double alphas[] = {0.1, 0.2, 0.4, 1.0, 2.0};
    for (int i = 0; i < 5; i++) {
        double a = alphas[i];
        check_moments("beta", v_beta, a, a, 0.5, 1.0 / (4 * (2 * a + 1)), 0.02);
    }
    /* Asymmetric: a and b in the right order. mean a/(a+b), var ab/((a+b)^2 (a+b+1)). */
    check_moments("beta", v_beta, 2.0, 5.0, 2.0 / 7, 10.0 / (49 * 8), 0.02);
    check_moments("beta", v_beta, 0.3, 0.6, 1.0 / 3, 0.18 / (0.81 * 1.9), 0.02);

    /* Beta(0.2, 0.2) is U-shaped: a histogram of 10 bins against the
     * integrated density, each bin within 5 standard errors, and the ends
     * well above the middle. */
    sermo_rng rng;
    sermo_rng_seed(&rng, 7);
    long n = 400000, hist[10] = {0};
    int in_range = 1;
    for (long i = 0; i < n; i++) {
        double v = train_rng_beta(&rng, 0.2, 0.2);
        if (!(v >= 0.0 && v <= 1.0)) in_range = 0;
        int k = (int)(v * 10);
        hist[k > 9 ? 9 : k < 0 ? 0 : k]++;
    }
    CHECK(in_range, "Beta draws in [0, 1]");
    double total_p = 0;
    for (int k = 0; k < 10; k++) {
        double p = beta_bin(0.2, k / 10.0, (k + 1) / 10.0), se = sqrt(n * p * (1 - p));
        total_p += p;
        CHECK(fabs(hist[k] - n * p) < 5 * se, "Beta(0.2,0.2) bin %d: %ld want %.0f", k, hist[k], n * p);
    }
    CHECK(fabs(total_p - 1) < 1e-3, "bin probabilities sum to %g", total_p);
    for (int k = 0; k < 4; k++)
        CHECK(hist[k] > hist[k + 1] && hist[9 - k] > hist[8 - k], "U shape at bin %d: %ld %ld", k, hist[k],
              hist[k + 1]);
    CHECK(hist[0] > 3 * hist[4] && hist[9] > 3 * hist[5], "ends %ld %ld vs middle %ld %ld", hist[0], hist[9],
          hist[4], hist[5]);

    /* Small shapes stay finite (log-domain Beta). */
    sermo_rng_seed(&rng, 8);
    int finite = 1;
    for (int i = 0; i < 10000; i++) {
        double v = train_rng_beta(&rng, 0.01, 0.01);
        if (!(v >= 0.0 && v <= 1.0)) finite = 0;
    }
    CHECK(finite, "Beta(0.01, 0.01) in [0, 1]");

    /* A seed reproduces the stream. */
    sermo_rng r1, r2;
    sermo_rng_seed(&r1, 99);
    sermo_rng_seed(&r2, 99);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        if (train_rng_beta(&r1, 0.4, 0.4) != train_rng_beta(&r2, 0.4, 0.4)) same = 0;
    CHECK(same, "same seed, same Beta draws");
}

static void test_mask_rule(void) {
    sermo_rng rng;
    sermo_rng_seed(&rng, 11);
    /* The rule, against torchaudio's formula on the same two uniforms. */
    int rule_ok = 1;
    for (int i = 0; i < 1000; i++) {
        sermo_rng copy = rng;
        int32_t start, width;
        train_specaug_draw_mask(&rng, 64, 20, &start, &width);
        double value = sermo_rng_uniform(&copy) * 20, min_value = sermo_rng_uniform(&copy) * (64 - value);
        if (start != (int32_t)min_value || width != (int32_t)value || memcmp(&copy, &rng, sizeof rng)) rule_ok = 0;
    }
    CHECK(rule_ok, "start = floor(u2 (size - u1 param)), width = floor(u1 param)");

    /* Statistics: width uniform on {0..param-1}, start + width <= size,
     * E[start] = (size - param/2) / 2 - 1/2. */
    int32_t size = 100, param = 27;
    long n = 270000, count[27] = {0}, bad = 0, start_zero = 0, start_top = 0;
    double sum_w = 0, sum_s = 0;
    for (long i = 0; i < n; i++) {
        int32_t start, width;
        train_specaug_draw_mask(&rng, size, param, &start, &width);
        if (width < 0 || width >= param || start < 0 || start + width > size) {
            bad++;
            continue;
        }
        count[width]++;
        sum_w += width;
        sum_s += start;
        start_zero += start == 0;
        start_top += start + width >= size - 1;
    }
    CHECK(bad == 0, "%ld masks out of bounds", bad);
    double p = 1.0 / param, se = sqrt(n * p * (1 - p));
    int uniform = 1;
    for (int w = 0; w < param; w++)
        if (fabs(count[w] - n * p) > 5 * se) uniform = 0, fprintf(stderr, "  width %d: %ld\n", w, count[w]);
    CHECK(uniform, "widths uniform on 0..%d", param - 1);
    CHECK(fabs(sum_w / n - (param - 1) / 2.0) < 0.05, "mean width %.3f", sum_w / n);
    /* E[u2 (size - u1 param)] = (size - param / 2) / 2, less ~1/2 for the floor. */
    double want_s = (size - param / 2.0) / 2 - 0.5;
    CHECK(fabs(sum_s / n - want_s) < 0.2, "mean start %.3f want %.3f", sum_s / n, want_s);
    CHECK(start_zero > 0 && start_top > 0, "masks reach both ends (%ld, %ld)", start_zero, start_top);

    /* param above size is capped at size; param < 1 draws nothing. */
    int32_t max_w = 0;
    for (int i = 0; i < 10000; i++) {
        int32_t start, width;
        train_specaug_draw_mask(&rng, 5, 50, &start, &width);
        if (width > max_w) max_w = width;
        if (start < 0 || start + width > 5) max_w = 99;
    }
    CHECK(max_w == 4, "param 50 on size 5: widest %d", max_w);
    sermo_rng before = rng;
    int32_t start = 7, width = 7;
    train_specaug_draw_mask(&rng, 10, 0, &start, &width);
    CHECK(start == 0 && width == 0 && !memcmp(&before, &rng, sizeof rng), "param 0: no mask, no draw");
}

/* The expected result of train_specaug, from the mask rule. */
static void specaug_reference(float *x, int B, int32_t F, int32_t T, const train_specaug_params *p,
                              int32_t time_param, sermo_rng *rng) {
    for (int b = 0; b < B; b++) {
        int32_t s, w;
        for (int k = 0; k < p->n_freq_masks; k++) {
            train_specaug_draw_mask(rng, F, p->freq_mask_param, &s, &w);
            for (int32_t f = s; f < s + w; f++)
                for (int32_t t = 0; t < T; t++) x[((size_t)b * F + f) * T + t] = p->mask_value;
        }
        for (int k = 0; k < p->n_time_masks; k++) {
            train_specaug_draw_mask(rng, T, time_param, &s, &w);
            for (int32_t f = 0; f < F; f++)
                for (int32_t t = s; t < s + w; t++) x[((size_t)b * F + f) * T + t] = p->mask_value;
        }
    }
}

static void test_specaug(void) {
    enum { B = 6, F = 16, T = 40 };
    static float x0[B * F * T], x[B * F * T], want[B * F * T], x2[B * F * T];
    for (int i = 0; i < B * F * T; i++) x0[i] = 1.0f + (float)i / 7.0f; /* never the mask value */
    train_specaug_params p;
    train_specaug_default_params(&p);
    CHECK(p.n_freq_masks == 2 && p.freq_mask_param == 8 && p.n_time_masks == 2 && p.time_mask_param == 30 &&
              p.time_mask_p == 1.0f && p.mask_value == 0.0f, "defaults");
    p.mask_value = -99.0f;
    const float ps[] = {1.0f, 0.1f};
    for (int c = 0; c < 2; c++) {
        p.time_mask_p = ps[c];
        int32_t time_param = c == 0 ? 30 : 4; /* min(30, int(40 * 0.1)) */
        long masked_total = 0, rows = 0, cols = 0, structure_bad = 0;
        for (uint64_t seed = 1; seed <= 50; seed++) {
            sermo_rng rng, ref;
            sermo_rng_seed(&rng, seed);
            ref = rng;
            memcpy(x, x0, sizeof x);
            memcpy(want, x0, sizeof x);
            train_specaug(x, B, F, T, &p, &rng);
            specaug_reference(want, B, F, T, &p, time_param, &ref);
            if (memcmp(x, want, sizeof x) || memcmp(&rng, &ref, sizeof rng)) {
                CHECK(0, "p %g seed %llu: masks differ from the rule", ps[c], (unsigned long long)seed);
                break;
            }
            /* Every element is either untouched or the mask value, and the
             * masked ones form whole rows and whole frames; the time masks
             * are narrower than time_param. */
            for (int b = 0; b < B; b++) {
                int row[F] = {0}, col[T] = {0};
                for (int f = 0; f < F; f++) {
                    row[f] = 1;
                    for (int t = 0; t < T; t++) row[f] &= x[(b * F + f) * T + t] == -99.0f;
                }
                for (int t = 0; t < T; t++) {
                    col[t] = 1;
                    for (int f = 0; f < F; f++) col[t] &= x[(b * F + f) * T + t] == -99.0f;
                }
                for (int f = 0; f < F; f++)
                    for (int t = 0; t < T; t++) {
                        size_t i = (size_t)(b * F + f) * T + t;
                        int m = x[i] == -99.0f;
                        masked_total += m;
                        if (m ? !(row[f] || col[t]) : x[i] != x0[i]) structure_bad++;
                    }
                int nrow = 0, ncol = 0;
                for (int f = 0; f < F; f++) nrow += row[f];
                for (int t = 0; t < T; t++) ncol += col[t];
                rows += nrow < F ? nrow : 0;
                cols += ncol < T ? ncol : 0;
                /* two masks of width < time_param cover at most 2 (time_param - 1) frames */
                if (nrow < F && ncol > 2 * (time_param - 1)) structure_bad++;
                if (ncol < T && nrow > 2 * (8 - 1)) structure_bad++;
            }
        }
        CHECK(structure_bad == 0, "p %g: %ld elements or masks break the structure", ps[c], structure_bad);
        CHECK(masked_total > 0 && rows > 0 && cols > 0, "p %g: masks happen (%ld elements, %ld rows, %ld frames)",
              ps[c], masked_total, rows, cols);
    }

    /* Same seed, same batch; another seed, another. */
    sermo_rng r1, r2, r3;
    sermo_rng_seed(&r1, 5);
    sermo_rng_seed(&r2, 5);
    sermo_rng_seed(&r3, 6);
    memcpy(x, x0, sizeof x);
    memcpy(x2, x0, sizeof x);
    memcpy(want, x0, sizeof x);
    train_specaug(x, B, F, T, &p, &r1);
    train_specaug(x2, B, F, T, &p, &r2);
    train_specaug(want, B, F, T, &p, &r3);
    CHECK(!memcmp(x, x2, sizeof x), "same seed, same masks");
    CHECK(memcmp(x, want, sizeof x) != 0, "another seed, other masks");

    /* No masks asked: nothing changes, nothing drawn. */
    train_specaug_params none = p;
    none.n_freq_masks = none.n_time_masks = 0;
    sermo_rng before = r1;
    memcpy(x, x0, sizeof x);
    train_specaug(x, B, F, T, &none, &r1);
    CHECK(!memcmp(x, x0, sizeof x) && !memcmp(&before, &r1, sizeof r1), "zero masks: untouched");
}

static void test_mixup(void) {
    enum { BMAX = 9, D = 5 };
    float x0[BMAX * D], x[BMAX * D], tmp[D];
    int64_t perm[BMAX];
    long bad_formula = 0, bad_perm = 0, bad_ref = 0, non_identity = 0;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        int B = 1 + (int)(seed % BMAX);
        for (int i = 0; i < B * D; i++) x0[i] = (float)((i * 37 + (int)seed) % 101) / 10.0f - 5.0f;
        memcpy(x, x0, sizeof x);
        sermo_rng rng, ref;
        sermo_rng_seed(&rng, seed);
        ref = rng;
        float lam = train_mixup(x, perm, tmp, B, D, 0.4f, &rng);
        /* The documented draws: lam ~ Beta(alpha, alpha), then the shuffle. */
        float want_lam = (float)train_rng_beta(&ref, 0.4f, 0.4f); /* alpha is a float */
        int64_t want_perm[BMAX];
        for (int b = 0; b < B; b++) want_perm[b] = b;
        sermo_rng_shuffle(&ref, want_perm, B);
        if (lam != want_lam || memcmp(perm, want_perm, sizeof *perm * (size_t)B) ||
            memcmp(&rng, &ref, sizeof rng))
            bad_ref++;
        int seen[BMAX] = {0};
        for (int b = 0; b < B; b++) {
            if (perm[b] < 0 || perm[b] >= B || seen[perm[b]]++) bad_perm++;
            non_identity += perm[b] != b;
        }
        if (bad_perm) break;
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                float want = lam * x0[b * D + d] + (1.0f - lam) * x0[perm[b] * D + d];
                if (fabsf(x[b * D + d] - want) > 1e-6f * (1 + fabsf(want))) bad_formula++;
            }
    }
    CHECK(bad_ref == 0, "%ld batches differ from lam ~ Beta then shuffle", bad_ref);
    CHECK(bad_perm == 0, "perm is a permutation");
    CHECK(non_identity > 0, "permutations move examples");
    CHECK(bad_formula == 0, "%ld elements differ from lam x + (1 - lam) x[perm]", bad_formula);

    /* alpha 0: lam 1, identity, nothing drawn, x untouched. */
    sermo_rng rng, before;
    sermo_rng_seed(&rng, 3);
    before = rng;
    memcpy(x, x0, sizeof x);
    float lam = train_mixup(x, perm, tmp, 4, D, 0.0f, &rng);
    CHECK(lam == 1.0f && perm[0] == 0 && perm[3] == 3 && !memcmp(x, x0, sizeof x) &&
              !memcmp(&before, &rng, sizeof rng), "alpha 0 leaves the batch");
}

static void test_mixup_loss(void) {
    enum { B = 5, L = 4 };
    float logits[B * L], d[B * L], d1[B * L], d2[B * L], want[B * L];
    int32_t labels[B] = {0, 3, 1, 1, 2}, labels_p[B];
    int64_t perm[B] = {2, 0, 4, 1, 3};
    for (int i = 0; i < B * L; i++) logits[i] = sinf(1.3f * i + 0.2f) * 2.0f;
    for (int b = 0; b < B; b++) labels_p[b] = labels[perm[b]];
    const float smooth[] = {0.0f, 0.1f};
    const float lams[] = {0.3f, 1.0f, 0.0f, 0.77f};
    for (int si = 0; si < 2; si++)
        for (int li = 0; li < 4; li++) {
            float s = smooth[si], lam = lams[li];
            float loss = train_mixup_loss(d, logits, labels, perm, lam, B, L, s);
            float c1 = nn_cross_entropy_forward(d1, logits, labels, B, L, s);
            float c2 = nn_cross_entropy_forward(d2, logits, labels_p, B, L, s);
            float want_loss = lam * c1 + (1 - lam) * c2;
            CHECK(fabsf(loss - want_loss) < 1e-6f * (1 + fabsf(want_loss)), "s %g lam %g: loss %.8f want %.8f", s,
                  lam, loss, want_loss);
            for (int i = 0; i < B * L; i++) want[i] = lam * d1[i] + (1 - lam) * d2[i];
            char what[64];
            snprintf(what, sizeof what, "mixup dlogits s %g lam %g", s, lam);
            check_close(what, d, want, B * L, 1e-7, 1e-5);
            CHECK(train_mixup_loss(NULL, logits, labels, perm, lam, B, L, s) == loss, "NULL dlogits, same loss");
        }

    /* Finite differences, in double around the float loss. */
    float lam = 0.35f, s = 0.1f, fd[B * L];
    train_mixup_loss(d, logits, labels, perm, lam, B, L, s);
    for (int i = 0; i < B * L; i++) {
        float keep = logits[i], eps = 1e-2f;
        logits[i] = keep + eps;
        double lp = train_mixup_loss(NULL, logits, labels, perm, lam, B, L, s);
        logits[i] = keep - eps;
        double lm = train_mixup_loss(NULL, logits, labels, perm, lam, B, L, s);
        logits[i] = keep;
        fd[i] = (float)((lp - lm) / (2.0 * eps));
    }
    check_close("mixup dlogits vs finite differences", d, fd, B * L, 2e-4, 1e-2);
}

static void test_noise(void) {
    size_t n = (size_t)1 << 20;
    float *x0 = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n), *x2 = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x0[i] = (float)(0.4 * sin(0.01 * i) + 0.1 * cos(0.37 * i));
    double ps = 0;
    for (size_t i = 0; i < n; i++) ps += (double)x0[i] * x0[i];
    ps /= n;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        sermo_rng rng, ref;
        sermo_rng_seed(&rng, seed);
        ref = rng;
        memcpy(x, x0, sizeof(float) * n);
        float snr = -100;
        int added = train_wave_add_noise(x, n, 1.0f, -5.0f, 30.0f, &rng, &snr);
        (void)sermo_rng_uniform(&ref);
        double want_snr = -5.0 + sermo_rng_uniform(&ref) * 35.0;
        double pn = 0, mean = 0;
        for (size_t i = 0; i < n; i++) {
            double e = (double)x[i] - x0[i];
            pn += e * e;
            mean += e;
        }
        pn /= n;
        mean /= n;
        double measured = 10 * log10(ps / pn);
        CHECK(added == 1 && fabs(snr - want_snr) < 1e-5, "seed %llu: SNR %g drawn %g", (unsigned long long)seed,
              snr, want_snr);
        CHECK(fabs(measured - snr) < 0.5, "seed %llu: measured SNR %.3f dB, asked %.3f", (unsigned long long)seed,
              measured, snr);
        CHECK(fabs(mean) < 5 * sqrt(pn / n), "noise mean %g", mean);
        sermo_rng_seed(&rng, seed);
        memcpy(x2, x0, sizeof(float) * n);
        train_wave_add_noise(x2, n, 1.0f, -5.0f, 30.0f, &rng, NULL);
        CHECK(!memcmp(x, x2, sizeof(float) * n), "seed %llu reproduces the noise", (unsigned long long)seed);
    }

    /* Probability and the SNR's range over many short calls; p 0 and a
     * silent signal leave the input. */
    sermo_rng rng;
    sermo_rng_seed(&rng, 21);
    long calls = 20000, hits = 0, out_of_range = 0;
    double sum_snr = 0;
    for (long i = 0; i < calls; i++) {
        float v[3] = {0.5f, -0.25f, 0.125f}, snr;
        if (train_wave_add_noise(v, 3, 0.3f, 10.0f, 20.0f, &rng, &snr)) {
            hits++;
            sum_snr += snr;
            if (snr < 10.0f || snr >= 20.0f) out_of_range++;
        }
    }
    double se = sqrt(calls * 0.3 * 0.7);
    CHECK(fabs(hits - 0.3 * calls) < 5 * se, "p 0.3: %ld of %ld", hits, calls);
    CHECK(out_of_range == 0 && fabs(sum_snr / hits - 15.0) < 0.15, "SNR uniform in [10, 20): mean %g",
          sum_snr / hits);
    memcpy(x, x0, sizeof(float) * 1000);
    CHECK(train_wave_add_noise(x, 1000, 0.0f, 0, 10, &rng, NULL) == 0 && !memcmp(x, x0, sizeof(float) * 1000),
          "p 0: untouched");
    float silent[8] = {0};
    CHECK(train_wave_add_noise(silent, 8, 1.0f, 0, 10, &rng, NULL) == 0 && silent[3] == 0.0f, "silence: untouched");
    free(x0);
    free(x);
    free(x2);
}

static void test_gain_shift(void) {
    enum { N = 64 };
    float x0[N], x[N];
    for (int i = 0; i < N; i++) x0[i] = (float)(i - 20) / 9.0f;
    sermo_rng rng;
    sermo_rng_seed(&rng, 31);
    long bad = 0;
    for (int k = 0; k < 200; k++) {
        memcpy(x, x0, sizeof x);
        float g = train_wave_gain(x, N, -6.0f, 6.0f, &rng);
        if (g < -6.0f || g >= 6.0f) bad++;
        double m = pow(10.0, (double)g / 20.0); /* g as returned is the float of the drawn dB */
        for (int i = 0; i < N; i++)
            if (fabsf(x[i] - (float)(x0[i] * m)) > 1e-6f * fabsf(x[i])) bad++;
    }
    CHECK(bad == 0, "gain: %ld samples differ from x 10^(g/20)", bad);
    memcpy(x, x0, sizeof x);
    float g = train_wave_gain(x, N, -6.0f, -6.0f, &rng);
    int exact = g == -6.0f;
    for (int i = 0; i < N; i++) exact &= x[i] == (float)(x0[i] * pow(10.0, -6.0 / 20.0));
    CHECK(exact, "gain -6 dB: bit-exact x * 10^(-6/20)");

    /* Shift: every s in [-max, max] happens; circular wraps, else zeros. */
    const int64_t maxes[] = {5, 70};
    for (int c = 0; c < 2; c++)
        for (int mi = 0; mi < 2; mi++) {
            int64_t mx = maxes[mi];
            long seen[141] = {0}, wrong = 0;
            for (int k = 0; k < 20000; k++) {
                memcpy(x, x0, sizeof x);
                int64_t s = train_wave_shift(x, N, mx, c, &rng);
                if (s < -mx || s > mx) {
                    wrong++;
                    continue;
                }
                seen[s + mx]++;
                for (int64_t i = 0; i < N; i++) {
                    int64_t j = i - s;
                    float want = c ? x0[((j % N) + N) % N] : (j >= 0 && j < N ? x0[j] : 0.0f);
                    if (x[i] != want) wrong++;
                }
            }
            long missing = 0;
            for (int64_t v = 0; v <= 2 * mx; v++) missing += seen[v] == 0;
            CHECK(wrong == 0 && missing == 0, "shift circular %d max %lld: %ld wrong, %ld values never drawn", c,
                  (long long)mx, wrong, missing);
        }
    sermo_rng before = rng;
    memcpy(x, x0, sizeof x);
    CHECK(train_wave_shift(x, N, 0, 1, &rng) == 0 && !memcmp(x, x0, sizeof x), "max 0: no shift");
    (void)before;
}

int main(void) {
    test_variates();
    test_mask_rule();
    test_specaug();
    test_mixup();
    test_mixup_loss();
    test_noise();
    test_gain_shift();
    return check_report();
}
