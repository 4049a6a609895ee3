/* bench_predict.c: batch-1 latency from audio file to class probabilities
 * with a model file, for bench/predict.py.
 *   bench_predict MODEL FILE [REPS] [THREADS]
 * Loads the model once; each timed run decodes FILE, resamples, computes the
 * features and runs the network (sermo_model_predict_file). 5 warm-ups, then
 * the median of REPS (default 50). Prints "predict: median X ms". */
#include "bench_util.h"
#include "sermo.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>



int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_predict MODEL FILE [REPS] [THREADS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 50, threads = argc > 4 ? atoi(argv[4]) : 0;
    if (reps < 1) reps = 1;
    sermo_error err;
    sermo_model *m = sermo_model_load(argv[1], threads, &err);
    if (!m) return fprintf(stderr, "bench_predict: %s\n", err.msg), 1;
    float probs[SERMO_METRICS_MAX_CLASSES];
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int r = -5; r < reps; r++) {
        double t0 = now();
        if (sermo_model_predict_file(m, argv[2], probs, &err)) return fprintf(stderr, "bench_predict: %s\n", err.msg), 1;
        if (r >= 0) t[r] = now() - t0;
    }
    printf("predict: median %.3f ms\n", median(t, reps) * 1e3);
    free(t);
    sermo_model_free(m);
    return 0;
}
