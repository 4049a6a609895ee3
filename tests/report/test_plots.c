/* test_plots.c: confusion_matrix.png and training_curves.png: readable by
 * cairo, the layout's size, the colour map in the right direction on a
 * perfect prediction, the line colours present exactly when their series
 * are given, and errors that name the file. SERMO_KEEP_PNG=1 keeps them. */
#include "check.h"
#include "png_check.h"
#include "report/report_internal.h"
#include "sermo.h"

#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



/* Pixels within tol of colour rgb in the whole image. */
static long count_colour(cairo_surface_t *s, const double rgb[3], int tol) {
    long n = 0;
    for (int y = 0; y < cairo_image_surface_get_height(s); y++)
        for (int x = 0; x < cairo_image_surface_get_width(s); x++) {
            int p[3];
            pixel_at(s, x, y, p);
            n += near_colour(p, rgb, tol);
        }
    return n;
}

static cairo_surface_t *load_png(const char *path) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "%s: %s", path,
          cairo_status_to_string(cairo_surface_status(s)));
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    return s;
}

/* The colour near the top-left corner of cell (r, c): clear of the number. */
static void cell_corner(cairo_surface_t *s, const sermo_report_rect *a, int32_t K, int32_t r, int32_t c, int rgb[3]) {
    double cell = a->w / K;
    pixel_at(s, (int)(a->x + c * cell + 3), (int)(a->y + r * cell + 3), rgb);
}

static void test_confusion(const char *dir) {
    enum { K = 5, N = 100 };
    static const char *const names[K] = {"neutral", "happy", "sad", "angry", "surprised_long"};
    int32_t t[N], p[N];
    for (int32_t i = 0; i < N; i++) t[i] = p[i] = (i * 7) % K;
    t[N - 1] = 0;   /* one more neutral, so counts differ: max count is at (0, 0) */
    p[N - 1] = 0;
    sermo_metrics m;
    sermo_error err = {0};
    CHECK(sermo_metrics_compute(t, p, N, K, &m, &err) == SERMO_OK, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/confusion_matrix.png", dir);
    sermo_status st = sermo_report_confusion_png(path, &m, names, "perfect prediction", &err);
    CHECK(st == SERMO_OK, "confusion: %s", err.msg);

    int32_t w, h;
    sermo_report_rect counts, frac;
    CHECK(sermo_report_confusion_layout(&m, names, &w, &h, &counts, &frac, &err) == SERMO_OK, "%s", err.msg);
    CHECK(counts.x + counts.w < frac.x && fabs(counts.y - frac.y) < 1e-9 && counts.w == frac.w, "side by side");
    cairo_surface_t *s = load_png(path);
    if (s) {
        CHECK(cairo_image_surface_get_width(s) == w && cairo_image_surface_get_height(s) == h, "size %dx%d want %dx%d",
              cairo_image_surface_get_width(s), cairo_image_surface_get_height(s), w, h);
        double lo[3], hi[3];
        sermo_report_map_colour(0, lo);
        sermo_report_map_colour(1, hi);
        int rgb[3], diag_hi = 0, off_lo = 0;
        for (int32_t r = 0; r < K; r++)
            for (int32_t c = 0; c < K; c++) {
                cell_corner(s, &frac, K, r, c, rgb);
                if (r == c) diag_hi += near_colour(rgb, hi, 3);
                else off_lo += near_colour(rgb, lo, 3);
            }
        CHECK(diag_hi == K, "fractions: %d of %d diagonal cells at the high end", diag_hi, K);
        CHECK(off_lo == K * (K - 1), "fractions: %d of %d off-diagonal cells at the low end", off_lo, K * (K - 1));
        cell_corner(s, &counts, K, 0, 0, rgb);
        CHECK(near_colour(rgb, hi, 3), "counts: the largest count is the high end (%d,%d,%d)", rgb[0], rgb[1], rgb[2]);
        cell_corner(s, &counts, K, 1, 1, rgb);
        CHECK(!near_colour(rgb, hi, 3) && !near_colour(rgb, lo, 3), "counts: 20 of 21 lies between");
        cell_corner(s, &counts, K, 0, 3, rgb);
        CHECK(near_colour(rgb, lo, 3), "counts: zero is the low end");
        /* The number in a yellow cell is dark, in a purple one light. */
        int dark = 0, light = 0;
        double cell = frac.w / K;
        for (int y = (int)(frac.y + cell * 0.3); y < (int)(frac.y + cell * 0.7); y++)
            for (int x = (int)(frac.x + cell * 0.3); x < (int)(frac.x + cell * 0.7); x++) {
                pixel_at(s, x, y, rgb);
                dark += rgb[0] + rgb[1] + rgb[2] < 150;
            }
        for (int y = (int)(frac.y + cell * 1.3); y < (int)(frac.y + cell * 1.7); y++)
            for (int x = (int)(frac.x + cell * 0.3); x < (int)(frac.x + cell * 0.7); x++) {
                pixel_at(s, x, y, rgb);
                light += rgb[0] + rgb[1] + rgb[2] > 600;
            }
        CHECK(dark > 10 && light > 5, "cell text contrast: %d dark, %d light pixels", dark, light);
        /* Labels in the left margin and below (class names, axis titles). */
        int left_ink = 0, below_ink = 0;
        for (int y = (int)counts.y; y < (int)(counts.y + counts.h); y++)
            for (int x = 0; x < (int)counts.x - 8; x++) {
                pixel_at(s, x, y, rgb);
                left_ink += rgb[0] < 128;
            }
        for (int y = (int)(counts.y + counts.h) + 8; y < h; y++)
            for (int x = (int)counts.x; x < (int)(counts.x + counts.w); x++) {
                pixel_at(s, x, y, rgb);
                below_ink += rgb[0] < 128;
            }
        CHECK(left_ink > 200 && below_ink > 200, "labels drawn: %d left, %d below", left_ink, below_ink);
        cairo_surface_destroy(s);
    }

    /* A class absent from y_true gives a grey row; 64 classes and no names still draw. */
    int32_t t2[] = {0, 0, 1, 1}, p2[] = {0, 2, 1, 1};
    CHECK(sermo_metrics_compute(t2, p2, 4, 3, &m, &err) == SERMO_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/absent.png", dir);
    CHECK(sermo_report_confusion_png(path, &m, NULL, NULL, &err) == SERMO_OK, "absent: %s", err.msg);
    CHECK(sermo_report_confusion_layout(&m, NULL, &w, &h, &counts, &frac, &err) == SERMO_OK, "%s", err.msg);
    s = load_png(path);
    if (s) {
        int rgb[3];
        cell_corner(s, &frac, 3, 2, 1, rgb);
        CHECK(rgb[0] == rgb[1] && rgb[1] == rgb[2] && rgb[0] > 100 && rgb[0] < 200, "absent row is grey %d,%d,%d",
              rgb[0], rgb[1], rgb[2]);
        cairo_surface_destroy(s);
    }
    static int32_t t3[640], p3[640];
    for (int32_t i = 0; i < 640; i++) t3[i] = i % 64, p3[i] = (i * 13 + i / 64) % 64;
    CHECK(sermo_metrics_compute(t3, p3, 640, 64, &m, &err) == SERMO_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/many.png", dir);
    CHECK(sermo_report_confusion_png(path, &m, NULL, "64 classes", &err) == SERMO_OK, "64 classes: %s", err.msg);

    snprintf(path, sizeof path, "%s/no/such/dir/confusion_matrix.png", dir);
    memset(&err, 0, sizeof err);
    st = sermo_report_confusion_png(path, &m, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, path), "missing dir: %d %s", st, err.msg);
    CHECK(sermo_report_confusion_png(path, NULL, NULL, NULL, &err) == SERMO_ERR_INVALID, "no metrics");
}

static void test_curves(const char *dir) {
    enum { E = 30 };
    float tl[E], vl[E], ta[E], va[E], lr[E];
    for (int i = 0; i < E; i++) {
        tl[i] = (float)(1.8 * exp(-i / 8.0) + 0.1);
        vl[i] = (float)(1.6 * exp(-i / 10.0) + 0.35 + 0.004 * (i - 15) * (i > 15) * (i - 15) / 4);
        ta[i] = (float)(0.95 - 0.8 * exp(-i / 7.0));
        va[i] = (float)(0.7 - 0.55 * exp(-i / 8.0) - 0.0004 * (i > 20) * (i - 20) * (i - 20));
        lr[i] = (float)(5e-4 * 0.5 * (1 + cos(M_PI * i / E)));
    }
    vl[4] = NAN; /* an epoch without validation: a gap */
    sermo_curves c = {.n_epochs = E, .train_loss = tl, .val_loss = vl, .train_acc = ta, .val_acc = va,
                      .lr = NULL, .best_epoch = -1, .title = "training"};
    sermo_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/training_curves.png", dir);
    CHECK(sermo_report_curves_png(path, &c, &err) == SERMO_OK, "curves: %s", err.msg);
    cairo_surface_t *s = load_png(path);
    long train_px = 0, val_px = 0, lr_px = 0;
    int width2 = 0;
    if (s) {
        width2 = cairo_image_surface_get_width(s);
        CHECK(width2 > 600 && cairo_image_surface_get_height(s) > 250, "size %dx%d", width2,
              cairo_image_surface_get_height(s));
        train_px = count_colour(s, sermo_report_colour_train, 12);
        val_px = count_colour(s, sermo_report_colour_val, 12);
        lr_px = count_colour(s, sermo_report_colour_lr, 12);
        CHECK(train_px > 300 && val_px > 300, "line colours present: train %ld val %ld", train_px, val_px);
        CHECK(lr_px == 0, "no learning-rate colour without lr: %ld", lr_px);
        const double red[3] = {0xd6 / 255.0, 0x27 / 255.0, 0x28 / 255.0};
        CHECK(count_colour(s, red, 12) > 40, "best-epoch rings present");
        cairo_surface_destroy(s);
    }

    /* With the learning rate: a third panel in green; without val: no orange. */
    c.lr = lr;
    c.val_loss = c.val_acc = NULL;
    c.best_epoch = 3;
    snprintf(path, sizeof path, "%s/curves_lr.png", dir);
    CHECK(sermo_report_curves_png(path, &c, &err) == SERMO_OK, "curves lr: %s", err.msg);
    s = load_png(path);
    if (s) {
        int w3 = cairo_image_surface_get_width(s);
        CHECK(w3 > width2 * 5 / 4, "third panel: width %d vs %d", w3, width2);
        CHECK(count_colour(s, sermo_report_colour_lr, 12) > 150, "learning-rate line present");
        CHECK(count_colour(s, sermo_report_colour_val, 12) == 0, "no val colour without val");
        CHECK(count_colour(s, sermo_report_colour_train, 12) > 300, "train colour");
        cairo_surface_destroy(s);
    }

    /* One epoch and constant values still draw; nothing to draw is an error. */
    float one = 0.5f;
    sermo_curves c1 = {.n_epochs = 1, .train_loss = &one, .val_loss = &one, .best_epoch = -1};
    snprintf(path, sizeof path, "%s/one_epoch.png", dir);
    CHECK(sermo_report_curves_png(path, &c1, &err) == SERMO_OK, "one epoch: %s", err.msg);
    sermo_curves none = {.n_epochs = 5, .best_epoch = -1};
    CHECK(sermo_report_curves_png(path, &none, &err) == SERMO_ERR_EMPTY, "no series");
    c1.n_epochs = 0;
    CHECK(sermo_report_curves_png(path, &c1, &err) == SERMO_ERR_EMPTY, "no epochs");

    snprintf(path, sizeof path, "%s/no/such/dir/training_curves.png", dir);
    memset(&err, 0, sizeof err);
    sermo_status st = sermo_report_curves_png(path, &c, &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, path), "missing dir: %d %s", st, err.msg);
}

int main(void) {
    char dir[] = "/tmp/sermo_plots_XXXXXX";
    if (!mkdtemp(dir)) SKIP("cannot create a temporary directory");
    test_confusion(dir);
    test_curves(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -c XXXX) -eq 0 && test $(ls -A %s | grep -vc png) -eq 0", dir, dir);
    CHECK(system(cmd) == 0, "no temporary files left in %s", dir);
    if (getenv("SERMO_KEEP_PNG")) {
        fprintf(stderr, "kept %s\n", dir);
    } else {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "cleanup");
    }
    cairo_debug_reset_static_data(); /* font caches, so LeakSanitizer sees only our leaks */
    return check_report();
}
