/* bench_zoo.c: times one zoo model's training steps and batch-1 inference,
 * or OpenBLAS SGEMM, for bench/zoo.py (which runs PyTorch beside it).
 *   bench_zoo MODEL THREADS B F T STEPS REPS [key=value ...]
 *   bench_zoo sgemm THREADS N REPS
 * Model keys (model_config): channels, image_size, size, dropout, classes.
 * Training: batch B of random (1, F, T) inputs with random labels, one step
 * = zero-grad + forward + label-smoothed cross-entropy + backward + AdamW, as
 * src/train/train.c does; 2 warm-up steps, then the median of STEPS.
 * Inference: the first input alone (batch 1) in eval mode; 3 warm-ups, then
 * the median of REPS. SGEMM: C = A B on N x N float matrices, median of REPS.
 * Prints `key value` lines zoo.py parses:
 *   train_ms, train_samples_s, infer_ms, params, peak_rss_kb | sgemm_gflops */
#include "bench_util.h"
#include "models/model.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int bench_sgemm(int n, int reps) {
    size_t nn = (size_t)n * n;
    float *a = malloc(sizeof(float) * nn), *b = malloc(sizeof(float) * nn), *c = malloc(sizeof(float) * nn);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!a || !b || !c || !t) return fprintf(stderr, "bench_zoo: out of memory\n"), 1;
    for (size_t i = 0; i < nn; i++) a[i] = b[i] = (float)(i % 17) * 0.01f;
    for (int i = -2; i < reps; i++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (i >= 0) t[i] = now() - t0;
    }
    printf("sgemm_gflops %.2f\n", 2.0 * n * n * n / median(t, reps) * 1e-9);
    free(a), free(b), free(c), free(t);
    return 0;
}

/* key=value into cfg; 0 when the key is known. */
static int set_option(model_config *cfg, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq) return -1;
    size_t k = (size_t)(eq - kv);
    const char *v = eq + 1;
    if (k == 8 && !strncmp(kv, "channels", k)) cfg->channels = atoi(v);
    else if (k == 10 && !strncmp(kv, "image_size", k)) cfg->image_size = atoi(v);
    else if (k == 4 && !strncmp(kv, "size", k)) snprintf(cfg->size, sizeof cfg->size, "%s", v);
    else if (k == 7 && !strncmp(kv, "dropout", k)) cfg->dropout = (float)atof(v);
    else if (k == 7 && !strncmp(kv, "classes", k)) cfg->n_classes = atoi(v);
    else return -1;
    return 0;
}

static int train_step(model *m, nn_adamw *opt, const float *x, const int32_t *labels, float *dlogits, int B,
                      int T) {
    nn_params_zero_grad(&m->params);
    const float *logits = model_forward(m, x, B, T, 1);
    if (!logits) return -1;
    nn_cross_entropy_forward(dlogits, logits, labels, B, m->cfg.n_classes, 0.1f);
    model_backward(m, dlogits, B, T);
    return nn_adamw_step(opt, &m->params, NULL) == SERMO_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "sgemm")) {
        int threads = atoi(argv[2]);
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
        return bench_sgemm(atoi(argv[3]), atoi(argv[4]));
    }
    if (argc < 8) {
        fprintf(stderr, "usage: bench_zoo MODEL THREADS B F T STEPS REPS [key=value ...]\n"
                        "       bench_zoo sgemm THREADS N REPS\n");
        return 2;
    }
    const char *name = argv[1];
    int threads = atoi(argv[2]), B = atoi(argv[3]), F = atoi(argv[4]), T = atoi(argv[5]);
    int steps = atoi(argv[6]), reps = atoi(argv[7]);
    if (threads < 1 || B < 1 || F < 1 || T < 1 || steps < 1 || reps < 1) {
        fprintf(stderr, "bench_zoo: THREADS, B, F, T, STEPS and REPS must be positive\n");
        return 2;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    model_config cfg = {.n_classes = 8, .in_channels = 1, .n_bins = F, .max_frames = T, .max_batch = B,
                        .threads = threads, .dropout = 0.3f};
    for (int i = 8; i < argc; i++)
        if (set_option(&cfg, argv[i])) return fprintf(stderr, "bench_zoo: unknown option %s\n", argv[i]), 2;
    sermo_error err;
    model *m = model_create(name, &cfg, 42, &err);
    if (!m) return fprintf(stderr, "bench_zoo: %s\n", err.msg), 1;
    nn_adamw opt;
    nn_adamw_init(&opt, 1e-3f, 1e-2f);

    int L = m->cfg.n_classes;
    size_t nx = (size_t)B * F * T;
    float *x = malloc(sizeof(float) * nx), *dlogits = malloc(sizeof(float) * (size_t)B * L);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)B);
    double *t = malloc(sizeof(double) * (size_t)(steps > reps ? steps : reps));
    if (!x || !dlogits || !labels || !t) return fprintf(stderr, "bench_zoo: out of memory\n"), 1;
    sermo_rng rng;
    sermo_rng_seed(&rng, 7);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(2.0 * sermo_rng_uniform(&rng) - 1.0);
    for (int i = 0; i < B; i++) labels[i] = (int32_t)(sermo_rng_uniform(&rng) * L);

    for (int i = -2; i < steps; i++) {
        double t0 = now();
        if (train_step(m, &opt, x, labels, dlogits, B, T)) return fprintf(stderr, "bench_zoo: step failed\n"), 1;
        if (i >= 0) t[i] = now() - t0;
    }
    double step = median(t, steps);
    printf("train_ms %.3f\ntrain_samples_s %.3f\n", step * 1e3, B / step);

    for (int i = -3; i < reps; i++) {
        double t0 = now();
        model_forward(m, x, 1, T, 0);
        if (i >= 0) t[i] = now() - t0;
    }
    printf("infer_ms %.4f\nparams %zu\npeak_rss_kb %ld\n", median(t, reps) * 1e3, nn_params_count(&m->params),
           peak_rss_kb());
    free(t), free(x), free(dlogits), free(labels);
    model_free(m);
    return 0;
}
