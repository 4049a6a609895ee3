/* bench_conv_dnnl.c: every distinct ResNet-18 conv (stem, layer1-4, the 1x1
 * stride-2 downsamples) on Sermo's im2col + OpenBLAS path versus oneDNN in
 * both layouts (ANY: blocked + reorders from and to NCHW; PLAIN: NCHW).
 *   bench_conv_dnnl [B=32] [REPS=5] [THREADS=2] [F=128] [T=256] [CLOCK=wall|cpu] [BACKENDS=sap]
 * CLOCK cpu: process CPU time (all threads, so core-ms), which a loaded
 * machine inflates far less than wall time; with THREADS=1 it is the
 * kernels' own cost. BACKENDS: letters s (sermo), a (dnnl-any), p (dnnl-plain).
 * Input (B, 1, F, T) as src/models/resnet.c sees it. Per layer and backend:
 * forward, backward-data (dinput OVERWRITE, as the model's ping-pong),
 * backward-weights (dweight +=), and both in one call (what a training step
 * runs; the fast path shares im2col work, oneDNN one dout reorder). Rounds
 * interleave the backends so a busy machine slows all of them alike; the
 * table gives the fastest of REPS rounds after a warm-up round (on a shared
 * machine a descheduled OpenMP thread adds whole time slices, so the minimum
 * estimates the uncontended cost; the medians' totals follow). Totals weight
 * each layer by its count in ResNet-18 and skip the stem's backward-data (the
 * model passes dinput NULL there). Before timing, each layer's forward and
 * gradients are compared across backends (max |diff| / max |ref|). */
#include "bench_util.h"
#include "nn/conv_dnnl.h"
#include "nn/nn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct layer {
    const char *name;
    int count; /* convs of this shape in ResNet-18 */
    int C_in, H_div, C_out, K, stride, pad; /* H_div: input F and T are divided by this */
} layer;

static const layer layers[] = {
    {"stem 7x7s2 1-64", 1, 1, 1, 64, 7, 2, 3},
    {"l1 3x3 64-64", 4, 64, 4, 64, 3, 1, 1},
    {"l2.0 3x3s2 64-128", 1, 64, 4, 128, 3, 2, 1},
    {"l2 3x3 128-128", 3, 128, 8, 128, 3, 1, 1},
    {"l2 ds 1x1s2 64-128", 1, 64, 4, 128, 1, 2, 0},
    {"l3.0 3x3s2 128-256", 1, 128, 8, 256, 3, 2, 1},
    {"l3 3x3 256-256", 3, 256, 16, 256, 3, 1, 1},
    {"l3 ds 1x1s2 128-256", 1, 128, 8, 256, 1, 2, 0},
    {"l4.0 3x3s2 256-512", 1, 256, 16, 512, 3, 2, 1},
    {"l4 3x3 512-512", 3, 512, 32, 512, 3, 1, 1},
    {"l4 ds 1x1s2 256-512", 1, 256, 16, 512, 1, 2, 0},
};
#define N_LAYERS (int)(sizeof layers / sizeof *layers)

enum { BK_FAST, BK_ANY, BK_PLAIN, N_BK };
enum { DIR_FWD, DIR_BWD_DATA, DIR_BWD_WEIGHTS, DIR_BWD_BOTH, N_DIR };
static const char *bk_names[N_BK] = {"sermo", "dnnl-any", "dnnl-plain"};
static const char *dir_names[N_DIR] = {"forward", "bwd-data", "bwd-weights", "bwd-both"};

typedef struct bufs {
    float *x, *w, *y, *dy, *dx, *dw, *ws;
} bufs;

static void fill(float *v, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) v[i] = (float)((i * 2654435761u + seed) % 1000) * 0.002f - 1.0f;
}

static int use_cpu_clock;

static double clock_now(void) {
    if (!use_cpu_clock) return now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One call of direction d on backend bk; returns seconds, or -1 on error. */
static double run(int bk, int d, nn_dnnl *ctx[N_BK], const nn_conv2d *c, bufs *b, int T) {
    sermo_error err = {0};
    sermo_status st = SERMO_OK;
    double t0 = clock_now();
    if (bk == BK_FAST) {
        if (d == DIR_FWD) nn_conv2d_forward_fast(b->y, b->x, b->w, NULL, c, b->ws, T);
        else
            nn_conv2d_backward_fast_mode(d == DIR_BWD_WEIGHTS ? NULL : b->dx,
                                         d == DIR_BWD_DATA ? NULL : b->dw, NULL, b->dy, b->x, b->w,
                                         c, b->ws, T, NN_GRAD_OVERWRITE);
    } else {
        if (d == DIR_FWD) st = nn_conv2d_forward_dnnl(ctx[bk], b->y, b->x, b->w, NULL, c, T, &err);
        else
            st = nn_conv2d_backward_dnnl(ctx[bk], d == DIR_BWD_WEIGHTS ? NULL : b->dx,
                                         d == DIR_BWD_DATA ? NULL : b->dw, NULL, b->dy, b->x, b->w,
                                         c, T, NN_GRAD_OVERWRITE, &err);
    }
    double t = clock_now() - t0;
    if (st != SERMO_OK) {
        fprintf(stderr, "bench_conv_dnnl: %s: %s\n", bk_names[bk], err.msg);
        return -1.0;
    }
    return t;
}

static double rel_diff(const float *a, const float *ref, size_t n) {
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
        if (fabs(a[i] - ref[i]) > d) d = fabs(a[i] - ref[i]);
    }
    return mx > 0 ? d / mx : d;
}

/* Forward, dinput and dweight of every oneDNN backend against the fast path. */
static int check_layer(nn_dnnl *ctx[N_BK], const nn_conv2d *c, bufs *b, size_t nx, size_t ny,
                       size_t nw, int T) {
    float *ref[3] = {malloc(sizeof(float) * ny), malloc(sizeof(float) * nx), malloc(sizeof(float) * nw)};
    float *got[3] = {b->y, b->dx, b->dw};
    size_t n[3] = {ny, nx, nw};
    int bad = 0;
    for (int bk = 0; bk < N_BK; bk++) {
        memset(b->dw, 0, sizeof(float) * nw);
        if (run(bk, DIR_FWD, ctx, c, b, T) < 0 || run(bk, DIR_BWD_BOTH, ctx, c, b, T) < 0) return 1;
        for (int i = 0; i < 3; i++) {
            if (bk == BK_FAST) memcpy(ref[i], got[i], sizeof(float) * n[i]);
            else {
                double r = rel_diff(got[i], ref[i], n[i]);
                if (!(r < 1e-4)) {
                    fprintf(stderr, "bench_conv_dnnl: %s differs from sermo (%d): %.3g\n",
                            bk_names[bk], i, r);
                    bad = 1;
                }
            }
        }
    }
    for (int i = 0; i < 3; i++) free(ref[i]);
    return bad;
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 32, reps = argc > 2 ? atoi(argv[2]) : 5;
    int T = argc > 3 ? atoi(argv[3]) : 2, F = argc > 4 ? atoi(argv[4]) : 128;
    int TT = argc > 5 ? atoi(argv[5]) : 256;
    use_cpu_clock = argc > 6 && !strcmp(argv[6], "cpu");
    const char *which = argc > 7 ? argv[7] : "sap";
    int on[N_BK] = {1, strchr(which, 'a') != NULL, strchr(which, 'p') != NULL};
    if (B < 1 || reps < 1 || T < 1) return fprintf(stderr, "usage: bench_conv_dnnl [B] [REPS] [THREADS] [F] [T]\n"), 2;
    omp_set_num_threads(T);
    openblas_set_num_threads(T);
    sermo_error err = {0};
    nn_dnnl *ctx[N_BK] = {NULL, nn_dnnl_init(NN_DNNL_LAYOUT_ANY, &err), NULL};
    if (ctx[BK_ANY]) ctx[BK_PLAIN] = nn_dnnl_init(NN_DNNL_LAYOUT_PLAIN, &err);
    if (!ctx[BK_ANY] || !ctx[BK_PLAIN]) return fprintf(stderr, "bench_conv_dnnl: %s\n", err.msg), 1;

    nn_conv2d conv[N_LAYERS];
    bufs b[N_LAYERS];
    for (int l = 0; l < N_LAYERS; l++) {
        const layer *L = &layers[l];
        int H = L->H_div == 1 ? F : F / L->H_div, W = L->H_div == 1 ? TT : TT / L->H_div;
        if (nn_conv2d_init(&conv[l], B, L->C_in, H, W, L->C_out, L->K, L->stride, L->pad, 1, 1, &err))
            return fprintf(stderr, "bench_conv_dnnl: %s: %s\n", L->name, err.msg), 1;
        const nn_conv2d *c = &conv[l];
        size_t nx = (size_t)B * c->C_in * c->H * c->W, ny = (size_t)B * c->C_out * c->OH * c->OW;
        size_t nw = (size_t)c->C_out * c->C_in * c->KH * c->KW;
        size_t nws = nn_conv2d_workspace_size(c, T);
        b[l] = (bufs){malloc(sizeof(float) * nx), malloc(sizeof(float) * nw), malloc(sizeof(float) * ny),
                      malloc(sizeof(float) * ny), malloc(sizeof(float) * nx), malloc(sizeof(float) * nw),
                      malloc(sizeof(float) * nws)};
        fill(b[l].x, nx, 1), fill(b[l].w, nw, 2), fill(b[l].dy, ny, 3);
        for (int bk = BK_ANY; bk < N_BK; bk++) /* at "model build", as conv_dnnl.h asks */
            if (nn_conv2d_plan_dnnl(ctx[bk], c, 0, T, &err))
                return fprintf(stderr, "bench_conv_dnnl: %s: %s\n", L->name, err.msg), 1;
        if (check_layer(ctx, c, &b[l], nx, ny, nw, T)) return 1;
    }
    printf("%s time; ", use_cpu_clock ? "process CPU (core-ms)" : "wall");
    printf("B %d, input 1x%dx%d, %d threads, fastest of %d; oneDNN arenas: any %.1f MB, plain %.1f MB\n",
           B, F, TT, T, reps, nn_dnnl_arena_bytes(ctx[BK_ANY]) / 1e6,
           nn_dnnl_arena_bytes(ctx[BK_PLAIN]) / 1e6);

    /* t[rep][layer][backend][direction] */
    size_t cells = (size_t)N_LAYERS * N_BK * N_DIR;
    double *t = malloc(sizeof(double) * cells * (size_t)reps);
    for (int r = -1; r < reps; r++)
        for (int l = 0; l < N_LAYERS; l++)
            for (int d = 0; d < N_DIR; d++)
                for (int bk = 0; bk < N_BK; bk++) {
                    double s = on[bk] ? run(bk, d, ctx, &conv[l], &b[l], T) : 1.0;
                    if (s < 0) return 1;
                    if (r >= 0) t[(size_t)r * cells + ((size_t)l * N_BK + bk) * N_DIR + d] = s;
                }

    /* med: the fastest round (v sorted by median()); mid: the median */
    double med[N_LAYERS][N_BK][N_DIR], total[N_BK][N_DIR] = {{0}};
    double mid[N_LAYERS][N_BK][N_DIR], mid_total[N_BK][N_DIR] = {{0}};
    double *v = malloc(sizeof(double) * (size_t)reps);
    for (int l = 0; l < N_LAYERS; l++)
        for (int bk = 0; bk < N_BK; bk++)
            for (int d = 0; d < N_DIR; d++) {
                for (int r = 0; r < reps; r++)
                    v[r] = t[(size_t)r * cells + ((size_t)l * N_BK + bk) * N_DIR + d];
                mid[l][bk][d] = median(v, reps) * 1e3;
                med[l][bk][d] = v[0] * 1e3;
                double w = layers[l].count;
                if (l == 0 && d == DIR_BWD_DATA) w = 0; /* the stem has no dinput */
                if (l == 0 && d == DIR_BWD_BOTH) {
                    med[l][bk][d] = med[l][bk][DIR_BWD_WEIGHTS];
                    mid[l][bk][d] = mid[l][bk][DIR_BWD_WEIGHTS];
                }
                total[bk][d] += w * med[l][bk][d];
                mid_total[bk][d] += w * mid[l][bk][d];
            }
    for (int d = 0; d < N_DIR; d++) {
        printf("\n%s (ms)%s\n%-22s %3s %7s", dir_names[d],
               d == DIR_BWD_BOTH ? "  [stem: weights only]" : "", "layer", "n", "GFLOP");
        for (int bk = 0; bk < N_BK; bk++) printf(" %11s", bk_names[bk]);
        printf(" %8s %8s\n", "any/srm", "pln/srm");
        for (int l = 0; l < N_LAYERS; l++) {
            const nn_conv2d *c = &conv[l];
            double gf = 2.0 * B * c->C_out * c->OH * c->OW * c->C_in * c->KH * c->KW * 1e-9;
            printf("%-22s %3d %7.2f", layers[l].name, layers[l].count, gf);
            for (int bk = 0; bk < N_BK; bk++)
                on[bk] ? printf(" %11.2f", med[l][bk][d]) : printf(" %11s", "-");
            for (int bk = BK_ANY; bk < N_BK; bk++)
                on[bk] ? printf(" %8.2f", med[l][bk][d] / med[l][BK_FAST][d]) : printf(" %8s", "-");
            printf("\n");
        }
        printf("%-22s %3s %7s", "TOTAL (x count)", "", "");
        for (int bk = 0; bk < N_BK; bk++)
            on[bk] ? printf(" %11.2f", total[bk][d]) : printf(" %11s", "-");
        for (int bk = BK_ANY; bk < N_BK; bk++)
            on[bk] ? printf(" %8.2f", total[bk][d] / total[BK_FAST][d]) : printf(" %8s", "-");
        printf("\n");
    }
    printf("\nconv part of a step (forward + bwd-both), ms, fastest round:");
    for (int bk = 0; bk < N_BK; bk++)
        if (on[bk]) printf(" %s %.1f", bk_names[bk], total[bk][DIR_FWD] + total[bk][DIR_BWD_BOTH]);
    printf("\nmedian totals (ms):");
    for (int d = 0; d < N_DIR; d++) {
        printf("\n  %-12s", dir_names[d]);
        for (int bk = 0; bk < N_BK; bk++)
            if (on[bk]) printf(" %s %.1f", bk_names[bk], mid_total[bk][d]);
    }
    printf("\n");

    for (int l = 0; l < N_LAYERS; l++)
        free(b[l].x), free(b[l].w), free(b[l].y), free(b[l].dy), free(b[l].dx), free(b[l].dw),
            free(b[l].ws);
    free(t), free(v);
    nn_dnnl_free(ctx[BK_ANY]);
    nn_dnnl_free(ctx[BK_PLAIN]);
    return 0;
}
