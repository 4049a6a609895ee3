/* post.c: what follows the mel projection: natural log, decibels with a
 * top_db floor, the MFCC DCT and delta features, each as torchaudio 0.13
 * defines it. Buffers are (rows, T) row-major. */
#include "features_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ln(x) for 4 positive normal floats, Cephes logf (Moshier 1984-2000): x =
 * m 2^e with m in [sqrt(1/2), sqrt(2)), ln(1 + (m - 1)) by a degree-9
 * polynomial, e ln 2 added in two parts (0.693359375 - 2.12194440e-4) to keep
 * the rounding exact. Within 1 ulp of the true value over the normal range
 * (tests/features/test_stft.c sweeps it against libm). */
static sermo_v4f sermo_features_log4(sermo_v4f xv) {
    const sermo_v4i u = (sermo_v4i)xv;
    const sermo_v4i e = ((u >> 23) & 0xff) - 126;
    const sermo_v4f m = (sermo_v4f)((u & (int32_t)0x807fffff) | 0x3f000000); /* [0.5, 1) */
    const sermo_v4i small = m < 0.707106781186547524f;                       /* -1 where true */
    const sermo_v4f ef = __builtin_convertvector(e + small, sermo_v4f);
    const sermo_v4f x = m + (sermo_v4f)((sermo_v4i)m & small) - 1.0f; /* 2m - 1 or m - 1 */
    const sermo_v4f z = x * x;
    sermo_v4f y = 7.0376836292e-2f * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * z;
    y += -2.12194440e-4f * ef;
    y += -0.5f * z;
    return x + y + 0.693359375f * ef;
}

void sermo_features_apply_log(float *x, int64_t n, float offset, float scale) {
    enum { V = 4 }; /* vectors per step: independent polynomial chains overlap */
    int64_t i = 0;
    for (; i + 4 * V <= n; i += 4 * V) {
        sermo_v4f v[V], r[V];
        memcpy(v, x + i, sizeof v);
        sermo_v4i ok = {-1, -1, -1, -1};
        for (int j = 0; j < V; j++) {
            v[j] += offset;
            r[j] = scale * sermo_features_log4(v[j]);
            ok &= (v[j] >= FLT_MIN) & (v[j] <= FLT_MAX); /* false for NaN */
        }
        memcpy(x + i, r, sizeof r);
        if (!(ok[0] & ok[1] & ok[2] & ok[3])) /* zero, negative, subnormal, inf, NaN: libm's answer */
            for (int j = 0; j < 4 * V; j++) {
                float u = v[j / 4][j % 4];
                if (!(u >= FLT_MIN && u <= FLT_MAX)) x[i + j] = scale * logf(u);
            }
    }
    for (; i < n; i++) x[i] = scale * logf(x[i] + offset);
}

/* torchaudio.functional.amplitude_to_DB with ref 1 (db_multiplier 0) and
 * amin 1e-10: multiplier * log10(max(x, amin)), then, when top_db > 0,
 * floored at (max over the whole utterance) - top_db. log10 is taken as
 * ln / ln 10, which differs from log10f by at most an ulp or two. */
void sermo_features_apply_db(float *x, int64_t n, float multiplier, float top_db) {
    const float amin = 1e-10f;
    for (int64_t i = 0; i < n; i++)
        if (x[i] < amin) x[i] = amin; /* torch.clamp(min=amin); NaN stays NaN */
    sermo_features_apply_log(x, n, 0.0f, (float)(multiplier / M_LN10));
    if (top_db <= 0) return;
    float peak = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > peak) peak = x[i];
    const float floor_db = peak - top_db;
    for (int64_t i = 0; i < n; i++)
        if (x[i] < floor_db) x[i] = floor_db;
}

/* DCT-II with norm='ortho' as torchaudio.functional.create_dct(n_mfcc, n_mels, "ortho"):
 * D[k, m] = sqrt(2 / M) * cos(pi / M * (m + 1/2) * k), row 0 scaled by 1 / sqrt(2).
 * Stored (K, M): create_dct's (M, K) transposed, so a row is one coefficient. */
sermo_status sermo_features_init_dct(sermo_features *f, sermo_error *err) {
    const int32_t K = f->p.n_mfcc, M = f->p.n_mels;
    f->dct = sermo_alloc(sizeof(float) * (size_t)K * (size_t)M, err, "features: DCT matrix");
    if (!f->dct) return err ? err->status : SERMO_ERR_NOMEM;
    const double scale = sqrt(2.0 / (double)M);
    for (int32_t k = 0; k < K; k++) {
        double row = k == 0 ? scale / sqrt(2.0) : scale;
        for (int32_t m = 0; m < M; m++)
            f->dct[(size_t)k * (size_t)M + (size_t)m] = (float)(row * cos(M_PI / (double)M * ((double)m + 0.5) * (double)k));
    }
    return SERMO_OK;
}

/* out (K, T) = dct (K, M) @ mel (M, T), SERMO_FEATURES_BATCH frames at a
 * time so the block of mel stays in L1 across the K rows and the inner loop
 * has a fixed length that vectorises. */
void sermo_features_apply_dct(const float *dct, int32_t n_mfcc, int32_t n_mels, const float *mel,
                              int64_t n_frames, float *out) {
    enum { B = SERMO_FEATURES_BATCH };
    for (int64_t t0 = 0; t0 < n_frames; t0 += B) {
        int32_t count = n_frames - t0 < B ? (int32_t)(n_frames - t0) : B;
        for (int32_t k = 0; k < n_mfcc; k++) {
            const float *restrict c = dct + (size_t)k * (size_t)n_mels;
            float acc[B] = {0};
            if (count == B) {
                for (int32_t m = 0; m < n_mels; m++) {
                    const float *restrict x = mel + (int64_t)m * n_frames + t0;
                    for (int j = 0; j < B; j++) acc[j] += c[m] * x[j];
                }
            } else {
                for (int32_t m = 0; m < n_mels; m++)
                    for (int j = 0; j < count; j++) acc[j] += c[m] * mel[(int64_t)m * n_frames + t0 + j];
            }
            memcpy(out + (int64_t)k * n_frames + t0, acc, sizeof(float) * (size_t)count);
        }
    }
}

/* torchaudio.functional.compute_deltas(x, win_length=win, mode="replicate"):
 * d[t] = sum_{j=1..n} j * (x[t+j] - x[t-j]) / (n (n+1) (2n+1) / 3), n = (win-1) // 2,
 * with x's first and last frames repeated past the ends. x and out are
 * (rows, T) and must not overlap. */
void sermo_features_compute_deltas(const float *x, int32_t rows, int64_t n_frames, int32_t win,
                                   float *out) {
    const int64_t n = (win - 1) / 2;
    const float denom = (float)(n * (n + 1) * (2 * n + 1)) / 3.0f;
    for (int32_t r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * n_frames;
        float *o = out + (int64_t)r * n_frames;
        for (int64_t t = 0; t < n_frames; t++) {
            float acc = 0.0f;
            for (int64_t j = 1; j <= n; j++) {
                int64_t ahead = t + j < n_frames ? t + j : n_frames - 1;
                int64_t behind = t - j >= 0 ? t - j : 0;
                acc += (float)j * (xr[ahead] - xr[behind]);
            }
            o[t] = acc / denom;
        }
    }
}

void sermo_features_apply_utterance_norm(float *x, int32_t rows, int64_t n_frames, sermo_utterance_norm mode) {
    for (int32_t r = 0; r < rows; r++) {
        float *row = x + (int64_t)r * n_frames;
        double sum = 0, sq = 0; /* double: a long clip's sums of squares in dB lose float's digits */
        for (int64_t t = 0; t < n_frames; t++) sum += row[t];
        double mean = sum / (double)n_frames;
        for (int64_t t = 0; t < n_frames; t++) sq += (row[t] - mean) * (row[t] - mean);
        double sd = sqrt(sq / (double)n_frames);
        float scale = mode == SERMO_UTTERANCE_NORM_MEANVAR && sd >= 1e-5 ? (float)(1.0 / sd) : 1.0f;
        for (int64_t t = 0; t < n_frames; t++) row[t] = (float)((row[t] - mean) * scale);
    }
}
