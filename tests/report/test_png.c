/* test_png.c: the spectrogram PNG: written atomically, readable by cairo, the
 * right size, low rows at the bottom with the colour map in the right
 * direction, and errors that name the file. */
#include "check.h"
#include "png_check.h"
#include "report/report_internal.h"
#include "sermo.h"

#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define N_BINS 64
#define N_FRAMES 300


static void test_colour_map(void) {
    double lo[3], hi[3], mid[3], nan_rgb[3];
    sermo_report_map_colour(0, lo);
    sermo_report_map_colour(1, hi);
    sermo_report_map_colour(0.5, mid);
    sermo_report_map_colour(NAN, nan_rgb);
    /* viridis: dark purple (#440154) -> teal (#21918c) -> yellow (#fde725) */
    CHECK(fabs(lo[0] - 0x44 / 255.0) < 1e-6 && fabs(lo[2] - 0x54 / 255.0) < 1e-6, "low end %g %g %g", lo[0], lo[1], lo[2]);
    CHECK(fabs(hi[0] - 0xfd / 255.0) < 1e-6 && fabs(hi[1] - 0xe7 / 255.0) < 1e-6, "high end");
    CHECK(fabs(mid[1] - 0x91 / 255.0) < 1e-6, "middle");
    double below[3], above[3];
    sermo_report_map_colour(-5, below);
    sermo_report_map_colour(7, above);
    CHECK(memcmp(below, lo, sizeof lo) == 0 && memcmp(above, hi, sizeof hi) == 0, "clamped");
    CHECK(nan_rgb[0] == nan_rgb[1] && nan_rgb[1] == nan_rgb[2], "NaN is grey");
    /* Luminance rises monotonically: the property that makes viridis readable. */
    double prev = -1;
    int monotone = 1;
    for (int i = 0; i <= 64; i++) {
        double c[3];
        sermo_report_map_colour(i / 64.0, c);
        double lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        if (lum < prev) monotone = 0;
        prev = lum;
    }
    CHECK(monotone, "luminance not monotone");
}

static void test_ticks(void) {
    double t[SERMO_REPORT_MAX_TICKS], step;
    int32_t n = sermo_report_nice_ticks(0, 3.0, 6, t, SERMO_REPORT_MAX_TICKS, &step);
    CHECK(n == 7 && step == 0.5 && t[6] == 3.0, "0..3: n %d step %g", n, step);
    n = sermo_report_nice_ticks(-80, 0, 4, t, SERMO_REPORT_MAX_TICKS, &step);
    CHECK(n == 5 && step == 20 && t[0] == -80 && t[4] == 0, "-80..0: n %d step %g", n, step);
    CHECK(sermo_report_nice_ticks(1, 1, 4, t, SERMO_REPORT_MAX_TICKS, &step) == 0, "empty range");
    CHECK(sermo_report_nice_ticks(0, NAN, 4, t, SERMO_REPORT_MAX_TICKS, &step) == 0, "NaN range");
    char buf[32];
    sermo_report_format_tick(0.5, 0.5, buf, sizeof buf);
    CHECK(strcmp(buf, "0.5") == 0, "%s", buf);
    sermo_report_format_tick(-1e-17, 0.1, buf, sizeof buf);
    CHECK(strcmp(buf, "0.0") == 0, "no minus zero: %s", buf);
    sermo_report_format_tick(-40, 20, buf, sizeof buf);
    CHECK(strcmp(buf, "-40") == 0, "%s", buf);
}

static void test_spectrogram(const char *dir) {
    /* A vertical ramp: row r has value -80 + 80 r / (N_BINS - 1) dB, so the
     * bottom row is the colour map's low end and the top row its high end. */
    static float data[N_BINS * N_FRAMES];
    for (int r = 0; r < N_BINS; r++)
        for (int t = 0; t < N_FRAMES; t++) data[r * N_FRAMES + t] = -80.0f + 80.0f * (float)r / (N_BINS - 1);
    sermo_feature_params fp;
    memset(&fp, 0, sizeof fp);
    fp.sample_rate = 16000;
    fp.n_fft = 512;
    fp.win_length = 400;
    fp.hop_length = 160;
    fp.n_mels = N_BINS;
    fp.f_max = 8000;
    fp.kind = SERMO_FEATURE_LOGMEL;
    fp.log_mode = SERMO_LOG_DB;

    char path[512];
    snprintf(path, sizeof path, "%s/ramp.png", dir);
    sermo_error err = {0};
    sermo_status st = sermo_report_spectrogram_png(path, data, N_BINS, N_FRAMES, &fp, "Synthetic ramp", &err);
    CHECK(st == SERMO_OK, "write: %s", err.msg);

    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "read back: %s", cairo_status_to_string(cairo_surface_status(s)));
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
        int32_t w, h;
        sermo_report_rect plot, bar;
        sermo_report_spectrogram_layout(N_BINS, N_FRAMES, &w, &h, &plot, &bar);
        CHECK(cairo_image_surface_get_width(s) == w && cairo_image_surface_get_height(s) == h, "size %dx%d want %dx%d",
              cairo_image_surface_get_width(s), cairo_image_surface_get_height(s), w, h);
        CHECK(w >= 400 && h >= 200, "a readable size %dx%d", w, h);
        double lo[3], hi[3];
        sermo_report_map_colour(0, lo);
        sermo_report_map_colour(1, hi);
        int bottom[3], top[3], mid_bottom[3], corner[3], bar_bottom[3], bar_top[3];
        int cx = (int)(plot.x + plot.w / 2);
        pixel_at(s, cx, (int)(plot.y + plot.h) - 2, bottom);
        pixel_at(s, cx, (int)plot.y + 1, top);
        pixel_at(s, (int)plot.x + 3, (int)(plot.y + plot.h * 0.75), mid_bottom);
        pixel_at(s, 2, 2, corner);
        pixel_at(s, (int)(bar.x + bar.w / 2), (int)(bar.y + bar.h) - 2, bar_bottom);
        pixel_at(s, (int)(bar.x + bar.w / 2), (int)bar.y + 1, bar_top);
        CHECK(near_colour(bottom, lo, 3), "bottom row %d,%d,%d is not the low end", bottom[0], bottom[1], bottom[2]);
        CHECK(near_colour(top, hi, 3), "top row %d,%d,%d is not the high end", top[0], top[1], top[2]);
        CHECK(top[0] + top[1] > bottom[0] + bottom[1] + 200, "top brighter than bottom");
        CHECK(mid_bottom[1] > bottom[1] && mid_bottom[1] < top[1], "quarter height lies between");
        CHECK(corner[0] == 255 && corner[1] == 255 && corner[2] == 255, "white background");
        CHECK(near_colour(bar_bottom, lo, 8) && near_colour(bar_top, hi, 8), "colour bar runs low to high");
        /* The same ramp along time: every column of one row has one colour. */
        int left[3], right[3];
        pixel_at(s, (int)plot.x + 1, (int)(plot.y + plot.h / 2), left);
        pixel_at(s, (int)(plot.x + plot.w) - 2, (int)(plot.y + plot.h / 2), right);
        CHECK(memcmp(left, right, sizeof left) == 0, "rows are uniform in time");
        /* Something (tick labels, titles) is drawn in the margins. */
        int dark = 0;
        for (int y = 0; y < (int)plot.y; y++)
            for (int x = 0; x < w; x++) {
                int p[3];
                pixel_at(s, x, y, p);
                dark += p[0] < 128;
            }
        CHECK(dark > 50, "title drawn (%d dark pixels)", dark);
    }
    cairo_surface_destroy(s);

    /* MFCC rows and a single frame and NaN values still draw. */
    fp.kind = SERMO_FEATURE_MFCC;
    data[0] = NAN;
    st = sermo_report_spectrogram_png(path, data, 13, 1, &fp, NULL, &err);
    CHECK(st == SERMO_OK, "mfcc one frame: %s", err.msg);
    for (int i = 0; i < N_BINS * N_FRAMES; i++) data[i] = 3.0f;
    st = sermo_report_spectrogram_png(path, data, N_BINS, N_FRAMES, &fp, "flat", &err);
    CHECK(st == SERMO_OK, "constant data: %s", err.msg);

    /* No temporary files left behind. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0, "only ramp.png in %s", dir);

    snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
    memset(&err, 0, sizeof err);
    st = sermo_report_spectrogram_png(path, data, N_BINS, N_FRAMES, &fp, "x", &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, path) != NULL, "missing dir: status %d msg '%s'", st, err.msg);
    st = sermo_report_spectrogram_png(path, data, 0, N_FRAMES, &fp, "x", &err);
    CHECK(st == SERMO_ERR_EMPTY && strstr(err.msg, path) != NULL, "no bins: %d %s", st, err.msg);
    st = sermo_report_spectrogram_png(path, NULL, N_BINS, N_FRAMES, &fp, "x", &err);
    CHECK(st == SERMO_ERR_INVALID, "NULL data: %d", st);
}

int main(void) {
    char dir[] = "/tmp/sermo_png_XXXXXX";
    if (!mkdtemp(dir)) SKIP("cannot create a temporary directory");
    test_colour_map();
    test_ticks();
    test_spectrogram(dir);
    /* Keep the picture for a look when asked to. */
    char cmd[600];
    if (getenv("SERMO_KEEP_PNG")) {
        fprintf(stderr, "kept %s/ramp.png\n", dir);
    } else {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "cleanup");
    }
    cairo_debug_reset_static_data(); /* font caches, so LeakSanitizer sees only our leaks */
    return check_report();
}
