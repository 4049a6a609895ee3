/* spectrogram.c: a (n_bins, n_frames) feature matrix as a PNG heat map with
 * a time axis in seconds, a frequency axis in Hz (mel rows) or a coefficient
 * index (MFCC and delta rows), a title and a colour bar.
 *
 * Layout (pixels): title on top, plot area in the middle, colour bar to the
 * right; row 0 (lowest frequency) at the bottom. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SPEC_MARGIN_LEFT 76
#define SPEC_MARGIN_RIGHT 112 /* colour bar, its labels and title */
#define SPEC_MARGIN_TOP 40
#define SPEC_MARGIN_BOTTOM 52
#define SPEC_BAR_GAP 16
#define SPEC_BAR_WIDTH 16
#define SPEC_MIN_TICK_GAP 24.0 /* pixels between frequency labels */

void sermo_report_spectrogram_layout(int32_t n_bins, int64_t n_frames, int32_t *width, int32_t *height,
                                     sermo_report_rect *plot, sermo_report_rect *colourbar) {
    /* About one pixel per frame (100 frames/s at a 10 ms hop), within limits
     * that keep short clips readable and long ones on a screen. */
    int64_t pw = n_frames < 480 ? 480 : n_frames > 1200 ? 1200 : n_frames;
    int64_t ph = (int64_t)n_bins * 4;
    ph = ph < 256 ? 256 : ph > 400 ? 400 : ph;
    *plot = (sermo_report_rect){SPEC_MARGIN_LEFT, SPEC_MARGIN_TOP, (double)pw, (double)ph};
    *colourbar = (sermo_report_rect){SPEC_MARGIN_LEFT + (double)pw + SPEC_BAR_GAP, SPEC_MARGIN_TOP,
                                     SPEC_BAR_WIDTH, (double)ph};
    *width = (int32_t)(SPEC_MARGIN_LEFT + pw + SPEC_MARGIN_RIGHT);
    *height = (int32_t)(SPEC_MARGIN_TOP + ph + SPEC_MARGIN_BOTTOM);
}

/* The mel scales of torchaudio.functional.melscale_fbanks: HTK
 * 2595 log10(1 + f/700); Slaney linear below 1 kHz, logarithmic above. */
static double spec_hz_to_mel(double hz, sermo_mel_scale scale) {
    if (scale == SERMO_MEL_HTK) return 2595.0 * log10(1.0 + hz / 700.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    return hz < min_log_hz ? hz / f_sp : min_log_mel + log(hz / min_log_hz) / logstep;
}

/* Time ticks in seconds at nice steps; frame t is centred at t * hop / sr. */
static void spec_draw_time_axis(cairo_t *cr, const sermo_report_rect *plot, int64_t n_frames, double seconds_per_frame) {
    double ticks[SERMO_REPORT_MAX_TICKS], pos[SERMO_REPORT_MAX_TICKS], step;
    char text[SERMO_REPORT_MAX_TICKS][32];
    const char *labels[SERMO_REPORT_MAX_TICKS];
    double duration = (double)n_frames * seconds_per_frame;
    int32_t n = sermo_report_nice_ticks(0, duration, (int32_t)(plot->w / 80), ticks, SERMO_REPORT_MAX_TICKS, &step);
    for (int32_t i = 0; i < n; i++) {
        pos[i] = ticks[i] / duration;
        sermo_report_format_tick(ticks[i], step, text[i], sizeof text[i]);
        labels[i] = text[i];
    }
    double h = sermo_report_draw_ticks(cr, plot, SERMO_REPORT_SIDE_BOTTOM, pos, labels, n);
    sermo_report_draw_axis_title(cr, plot, SERMO_REPORT_SIDE_BOTTOM, SERMO_REPORT_TICK_LEN + 3 + h + 4, "Time (s)");
}

/* Mel rows: row i is filter i, centred at mel_lo + (i + 1) * d with
 * d = (mel_hi - mel_lo) / (n_mels + 1), so a height u in rows (0 = bottom
 * edge) is mel_lo + (u + 0.5) * d. Ticks go at round Hz values (1..8 x 10^k)
 * wherever they land, skipping those too close to the previous one, which
 * gives dense labels low down where the mel scale is stretched. */
static int32_t spec_mel_ticks(const sermo_feature_params *fp, int32_t n_bins, double plot_h, double *pos,
                              char (*text)[32]) {
    double f_max = fp->f_max > 0 ? fp->f_max : fp->sample_rate / 2.0;
    double mel_lo = spec_hz_to_mel(fp->f_min, fp->mel_scale), mel_hi = spec_hz_to_mel(f_max, fp->mel_scale);
    double d = (mel_hi - mel_lo) / (n_bins + 1);
    static const double mantissa[] = {1, 2, 3, 4, 5, 6, 8};
    int32_t n = 0;
    double last = -1e9;
    for (double decade = 100; decade <= 1e5 && n < SERMO_REPORT_MAX_TICKS; decade *= 10) {
        for (size_t m = 0; m < sizeof mantissa / sizeof mantissa[0] && n < SERMO_REPORT_MAX_TICKS; m++) {
            double hz = mantissa[m] * decade;
            double u = (spec_hz_to_mel(hz, fp->mel_scale) - mel_lo) / d - 0.5;
            double px = u / n_bins * plot_h;
            if (u < 0 || u > n_bins || px - last < SPEC_MIN_TICK_GAP) continue;
            pos[n] = u / n_bins;
            snprintf(text[n], sizeof text[n], "%.0f", hz);
            last = px;
            n++;
        }
    }
    return n;
}

/* Row index ticks (MFCC coefficients, or rows with deltas appended). */
static int32_t spec_index_ticks(int32_t n_bins, double plot_h, double *pos, char (*text)[32]) {
    double ticks[SERMO_REPORT_MAX_TICKS], step;
    int32_t n = sermo_report_nice_ticks(0, n_bins - 1, (int32_t)(plot_h / 40), ticks, SERMO_REPORT_MAX_TICKS, &step);
    if (step < 1) { /* one row: a single tick at 0 */
        n = 1;
        ticks[0] = 0;
        step = 1;
    }
    for (int32_t i = 0; i < n; i++) {
        pos[i] = (ticks[i] + 0.5) / n_bins; /* the centre of the row */
        sermo_report_format_tick(ticks[i], step, text[i], sizeof text[i]);
    }
    return n;
}

static const char *spec_value_unit(const sermo_feature_params *fp) {
    switch (fp->kind) {
    case SERMO_FEATURE_MEL: return fp->power == 1 ? "magnitude" : "power";
    case SERMO_FEATURE_LOGMEL: return fp->log_mode == SERMO_LOG_DB ? "dB" : "log power";
    case SERMO_FEATURE_MFCC: return "coefficient value";
    case SERMO_FEATURE_EGEMAPS: return "functional value";
    }
    return "value";
}

sermo_status sermo_report_spectrogram_png(const char *path, const float *data, int32_t n_bins, int64_t n_frames,
                                          const sermo_feature_params *fp, const char *title, sermo_error *err) {
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "spectrogram: no output path");
    if (!data || !fp) return sermo_fail(err, SERMO_ERR_INVALID, "%s: no data or feature params", path);
    if (n_bins <= 0 || n_frames <= 0)
        return sermo_fail(err, SERMO_ERR_EMPTY, "%s: nothing to draw (%d bins x %lld frames)", path, n_bins,
                          (long long)n_frames);
    if (fp->sample_rate <= 0) return sermo_fail(err, SERMO_ERR_INVALID, "%s: sample_rate must be > 0", path);

    /* Colour range: the finite extremes; the dB front end has already
     * clamped at max - top_db, so this shows exactly what the model sees. */
    double vmin = INFINITY, vmax = -INFINITY;
    for (int64_t i = 0; i < (int64_t)n_bins * n_frames; i++) {
        if (!isfinite(data[i])) continue;
        if (data[i] < vmin) vmin = data[i];
        if (data[i] > vmax) vmax = data[i];
    }
    if (!(vmin <= vmax)) vmin = 0, vmax = 1; /* no finite value: all grey */
    if (vmax - vmin < 1e-12 * (fabs(vmax) + 1)) vmin -= 0.5, vmax += 0.5;

    int32_t width, height;
    sermo_report_rect plot, bar;
    sermo_report_spectrogram_layout(n_bins, n_frames, &width, &height, &plot, &bar);
    sermo_report_canvas cv;
    sermo_status st = sermo_report_canvas_init(&cv, width, height, path, err);
    if (st != SERMO_OK) return st;
    cairo_t *cr = cv.cr;

    st = sermo_report_draw_heatmap(cr, &plot, data, n_bins, n_frames, vmin, vmax, 1, NULL);
    if (st != SERMO_OK) {
        sermo_report_canvas_free(&cv);
        return sermo_fail(err, st, "%s: cannot draw the heat map", path);
    }
    sermo_report_draw_frame(cr, &plot);

    int32_t win = fp->win_length > 0 ? fp->win_length : fp->n_fft;
    int32_t hop = fp->hop_length > 0 ? fp->hop_length : win / 2;
    spec_draw_time_axis(cr, &plot, n_frames, (hop > 0 ? hop : 1) / (double)fp->sample_rate);

    double pos[SERMO_REPORT_MAX_TICKS];
    char text[SERMO_REPORT_MAX_TICKS][32];
    const char *labels[SERMO_REPORT_MAX_TICKS];
    int32_t mel_rows = fp->kind != SERMO_FEATURE_MFCC && n_bins == fp->n_mels;
    int32_t n = mel_rows ? spec_mel_ticks(fp, n_bins, plot.h, pos, text) : spec_index_ticks(n_bins, plot.h, pos, text);
    for (int32_t i = 0; i < n; i++) labels[i] = text[i];
    double w = sermo_report_draw_ticks(cr, &plot, SERMO_REPORT_SIDE_LEFT, pos, labels, n);
    const char *axis = mel_rows ? "Frequency (Hz, mel scale)" : fp->kind == SERMO_FEATURE_MFCC ? "MFCC coefficient" : "Row";
    sermo_report_draw_axis_title(cr, &plot, SERMO_REPORT_SIDE_LEFT, SERMO_REPORT_TICK_LEN + 3 + w + 6, axis);

    sermo_report_draw_colourbar(cr, &bar, vmin, vmax, spec_value_unit(fp));

    cairo_save(cr);
    cairo_select_font_face(cr, SERMO_REPORT_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    sermo_report_draw_text(cr, title && title[0] ? title : "Spectrogram", plot.x + plot.w / 2, SPEC_MARGIN_TOP / 2.0,
                           SERMO_REPORT_FONT_TITLE, 0.5, 0.5, 0);
    cairo_restore(cr);

    st = sermo_report_canvas_write_png(&cv, path, err);
    sermo_report_canvas_free(&cv);
    return st;
}
