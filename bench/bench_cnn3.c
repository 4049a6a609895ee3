/* bench_cnn3.c: times cnn3 training steps and batch-1 inference, for
 * bench/cnn3.py (which runs the same architecture in PyTorch beside it).
 *   bench_cnn3 THREADS [STEPS [REPS]]
 * Training: batch 32 of random (1, 64, 300) inputs with random labels, one
 * step = zero-grad + forward + label-smoothed cross-entropy + backward +
 * AdamW, exactly as src/train/train.c; 3 warm-up steps, then the median of
 * STEPS (default 20) timed steps. Inference: one (1, 1, 64, 300) clip (3 s at
 * a 10 ms hop) in eval mode; 5 warm-ups, then the median of REPS (default 50).
 * Prints two lines that cnn3.py parses:
 *   train B 32 T 300 threads N: median step X ms, Y samples/s
 *   infer B 1 T 300 threads N: median Z ms */
#include "bench_util.h"
#include "models/model.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_B 32
#define BENCH_F 64
#define BENCH_T 300
#define BENCH_L 8




static int train_step(model *m, nn_adamw *opt, const float *x, const int32_t *labels,
                      float *dlogits) {
    nn_params_zero_grad(&m->params);
    const float *logits = model_forward(m, x, BENCH_B, BENCH_T, 1);
    if (!logits) return -1;
    nn_cross_entropy_forward(dlogits, logits, labels, BENCH_B, BENCH_L, 0.1f);
    model_backward(m, dlogits, BENCH_B, BENCH_T);
    return nn_adamw_step(opt, &m->params, NULL) == SERMO_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cnn3 THREADS [STEPS [REPS]]\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    int steps = argc > 2 ? atoi(argv[2]) : 20, reps = argc > 3 ? atoi(argv[3]) : 50;
    if (threads < 1 || steps < 1 || reps < 1) {
        fprintf(stderr, "bench_cnn3: THREADS, STEPS and REPS must be positive\n");
        return 2;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    model_config cfg = {.n_classes = BENCH_L, .in_channels = 1, .n_bins = BENCH_F,
                        .max_frames = BENCH_T, .max_batch = BENCH_B, .threads = threads,
                        .dropout = 0.3f};
    sermo_error err;
    model *m = model_create("cnn3", &cfg, 42, &err);
    if (!m) {
        fprintf(stderr, "bench_cnn3: %s\n", err.msg);
        return 1;
    }
    nn_adamw opt;
    nn_adamw_init(&opt, 1e-3f, 1e-2f);

    size_t nx = (size_t)BENCH_B * BENCH_F * BENCH_T;
    float *x = malloc(sizeof(float) * nx), *dlogits = malloc(sizeof(float) * BENCH_B * BENCH_L);
    int32_t labels[BENCH_B];
    sermo_rng rng;
    sermo_rng_seed(&rng, 7);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(2.0 * sermo_rng_uniform(&rng) - 1.0);
    for (int i = 0; i < BENCH_B; i++) labels[i] = (int32_t)(sermo_rng_uniform(&rng) * BENCH_L);

    double *t = malloc(sizeof(double) * (size_t)(steps > reps ? steps : reps));
    for (int i = 0; i < 3; i++)
        if (train_step(m, &opt, x, labels, dlogits)) return fprintf(stderr, "bench_cnn3: step failed\n"), 1;
    for (int i = 0; i < steps; i++) {
        double t0 = now();
        train_step(m, &opt, x, labels, dlogits);
        t[i] = now() - t0;
    }
    double step = median(t, steps);
    printf("train B %d T %d threads %d: median step %.3f ms, %.1f samples/s\n", BENCH_B, BENCH_T,
           threads, step * 1e3, BENCH_B / step);

    for (int i = 0; i < 5; i++) model_forward(m, x, 1, BENCH_T, 0);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        model_forward(m, x, 1, BENCH_T, 0);
        t[i] = now() - t0;
    }
    printf("infer B 1 T %d threads %d: median %.3f ms\n", BENCH_T, threads, median(t, reps) * 1e3);
    fflush(stdout);
    free(t);
    free(x);
    free(dlogits);
    model_free(m);
    return 0;
}
