/* plot.c: canvas, text, ticks, heat maps and colour bars over cairo; the
 * drawing layer every report plot shares (see report_internal.h). */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLOT_MAX_IMAGE 4096 /* heat map raster limit per side; cairo stops at 32767 */

sermo_status sermo_report_canvas_init(sermo_report_canvas *canvas, int32_t width, int32_t height,
                                      const char *what, sermo_error *err) {
    memset(canvas, 0, sizeof *canvas);
    if (width <= 0 || height <= 0 || width > 32767 || height > 32767)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: bad image size %dx%d", what, width, height);
    canvas->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    if (cairo_surface_status(canvas->surface) != CAIRO_STATUS_SUCCESS) {
        sermo_report_canvas_free(canvas);
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot create a %dx%d image", what, width, height);
    }
    canvas->cr = cairo_create(canvas->surface);
    canvas->width = width;
    canvas->height = height;
    cairo_set_source_rgb(canvas->cr, 1, 1, 1);
    cairo_paint(canvas->cr);
    cairo_select_font_face(canvas->cr, SERMO_REPORT_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return SERMO_OK;
}

void sermo_report_canvas_free(sermo_report_canvas *canvas) {
    if (canvas->cr) cairo_destroy(canvas->cr);
    if (canvas->surface) cairo_surface_destroy(canvas->surface);
    canvas->cr = NULL;
    canvas->surface = NULL;
}

static cairo_status_t plot_write_buf(void *closure, const unsigned char *data, unsigned int length) {
    sermo_report_buf *b = closure;
    sermo_report_buf_append(b, data, length);
    return b->failed ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

sermo_status sermo_report_canvas_write_png(sermo_report_canvas *canvas, const char *path, sermo_error *err) {
    if (cairo_status(canvas->cr) != CAIRO_STATUS_SUCCESS)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: drawing failed: %s", path,
                          cairo_status_to_string(cairo_status(canvas->cr)));
    cairo_surface_flush(canvas->surface);
    /* Encoded in memory (a few hundred kB at most), then written atomically. */
    sermo_report_buf png = {0};
    cairo_status_t cs = cairo_surface_write_to_png_stream(canvas->surface, plot_write_buf, &png);
    sermo_status st = SERMO_OK;
    if (cs != CAIRO_STATUS_SUCCESS)
        st = sermo_fail(err, png.failed ? SERMO_ERR_NOMEM : SERMO_ERR_IO, "%s: cannot encode PNG: %s", path,
                        cairo_status_to_string(cs));
    else
        st = sermo_report_write_atomic(path, png.data, png.len, err);
    sermo_report_buf_free(&png);
    return st;
}

void sermo_report_map_colour(double t, double rgb[3]) {
    /* viridis at t = 0, 1/8, ..., 1 (matplotlib's _viridis_data), linearly
     * interpolated: close enough to the 256-entry table to look the same. */
    static const unsigned char stops[9][3] = {
        {0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b}, {0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c},
        {0x28, 0xae, 0x80}, {0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25},
    };
    if (isnan(t)) {
        rgb[0] = rgb[1] = rgb[2] = 0.6;
        return;
    }
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double u = t * 8;
    int i = (int)u;
    if (i > 7) i = 7;
    double f = u - i;
    for (int c = 0; c < 3; c++) rgb[c] = ((1 - f) * stops[i][c] + f * stops[i + 1][c]) / 255.0;
}

void sermo_report_draw_text(cairo_t *cr, const char *text, double x, double y, double size, double ax, double ay,
                            double angle) {
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, text, &te);
    cairo_font_extents(cr, &fe);
    /* The box is the advance width by the font's ascent + descent, so labels
     * of one row share a baseline whatever their letters. */
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -angle);
    cairo_move_to(cr, -ax * te.x_advance, -ay * (fe.ascent + fe.descent) + fe.ascent);
    cairo_show_text(cr, text);
    cairo_restore(cr);
}

double sermo_report_text_width(cairo_t *cr, const char *text, double size) {
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, text, &te);
    cairo_restore(cr);
    return te.x_advance;
}

int32_t sermo_report_nice_ticks(double lo, double hi, int32_t target, double *ticks, int32_t cap, double *step) {
    *step = 1;
    if (!isfinite(lo) || !isfinite(hi) || hi <= lo || target < 1 || cap < 1) return 0;
    double raw = (hi - lo) / target;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double s = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    *step = s;
    int32_t n = 0;
    /* Count in integer steps so 0.1 + 0.2 style drift never drops the last tick. */
    for (double k = ceil(lo / s - 1e-9); n < cap && k * s <= hi + s * 1e-9; k++) ticks[n++] = k * s;
    return n;
}

void sermo_report_format_tick(double value, double step, char *buf, size_t size) {
    int decimals = step > 0 ? (int)-floor(log10(step) + 1e-9) : 0;
    if (decimals < 0) decimals = 0;
    if (decimals > 6) decimals = 6;
    if (fabs(value) < step * 1e-6) value = 0; /* no "-0" */
    snprintf(buf, size, "%.*f", decimals, value);
}

double sermo_report_draw_ticks(cairo_t *cr, const sermo_report_rect *area, sermo_report_side side,
                               const double *pos, const char *const *labels, int32_t n) {
    const double gap = SERMO_REPORT_TICK_LEN + 3, size = SERMO_REPORT_FONT_TICK;
    double extent = 0;
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_set_line_width(cr, 1);
    for (int32_t i = 0; i < n; i++) {
        double x, y, dx = 0, dy = 0, ax, ay;
        if (side == SERMO_REPORT_SIDE_LEFT || side == SERMO_REPORT_SIDE_RIGHT) {
            /* +0.5 puts 1-px lines on pixel centres so they stay crisp */
            y = floor(area->y + area->h * (1 - pos[i])) + 0.5;
            x = side == SERMO_REPORT_SIDE_LEFT ? area->x : area->x + area->w;
            dx = side == SERMO_REPORT_SIDE_LEFT ? -1 : 1;
            ax = side == SERMO_REPORT_SIDE_LEFT ? 1 : 0;
            ay = 0.5;
            double w = sermo_report_text_width(cr, labels[i], size);
            if (w > extent) extent = w;
        } else {
            x = floor(area->x + area->w * pos[i]) + 0.5;
            y = side == SERMO_REPORT_SIDE_BOTTOM ? area->y + area->h : area->y;
            dy = side == SERMO_REPORT_SIDE_BOTTOM ? 1 : -1;
            ax = 0.5;
            ay = side == SERMO_REPORT_SIDE_BOTTOM ? 0 : 1;
            extent = size * 1.2;
        }
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + dx * SERMO_REPORT_TICK_LEN, y + dy * SERMO_REPORT_TICK_LEN);
        cairo_stroke(cr);
        sermo_report_draw_text(cr, labels[i], x + dx * gap, y + dy * gap, size, ax, ay, 0);
    }
    cairo_restore(cr);
    return extent;
}

void sermo_report_draw_axis_title(cairo_t *cr, const sermo_report_rect *area, sermo_report_side side,
                                  double offset, const char *title) {
    const double size = SERMO_REPORT_FONT_LABEL, cx = area->x + area->w / 2, cy = area->y + area->h / 2;
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    switch (side) {
    case SERMO_REPORT_SIDE_LEFT: sermo_report_draw_text(cr, title, area->x - offset, cy, size, 0.5, 1, M_PI / 2); break;
    case SERMO_REPORT_SIDE_RIGHT:
        sermo_report_draw_text(cr, title, area->x + area->w + offset, cy, size, 0.5, 0, M_PI / 2);
        break;
    case SERMO_REPORT_SIDE_BOTTOM: sermo_report_draw_text(cr, title, cx, area->y + area->h + offset, size, 0.5, 0, 0); break;
    case SERMO_REPORT_SIDE_TOP: sermo_report_draw_text(cr, title, cx, area->y - offset, size, 0.5, 1, 0); break;
    }
    cairo_restore(cr);
}

void sermo_report_draw_frame(cairo_t *cr, const sermo_report_rect *area) {
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, floor(area->x) - 0.5, floor(area->y) - 0.5, ceil(area->w) + 1, ceil(area->h) + 1);
    cairo_stroke(cr);
    cairo_restore(cr);
}

sermo_status sermo_report_draw_heatmap(cairo_t *cr, const sermo_report_rect *area, const float *data,
                                       int32_t rows, int64_t cols, double vmin, double vmax,
                                       int32_t origin_bottom, sermo_error *err) {
    if (rows <= 0 || cols <= 0) return sermo_fail(err, SERMO_ERR_EMPTY, "heatmap: no data (%d x %lld)", rows, (long long)cols);
    /* Long inputs are decimated (nearest cell) to a raster no larger than a
     * few times the area; cairo then scales it with nearest filtering so
     * each cell stays a flat block. */
    int32_t iw = cols > PLOT_MAX_IMAGE ? PLOT_MAX_IMAGE : (int32_t)cols;
    int32_t ih = rows > PLOT_MAX_IMAGE ? PLOT_MAX_IMAGE : rows;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, iw, ih);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return sermo_fail(err, SERMO_ERR_NOMEM, "heatmap: cannot create a %dx%d image", iw, ih);
    }
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    double scale = vmax > vmin ? 1.0 / (vmax - vmin) : 0;
    for (int32_t y = 0; y < ih; y++) {
        int64_t r = (int64_t)y * rows / ih;
        if (origin_bottom) r = rows - 1 - r;
        uint32_t *line = (uint32_t *)(void *)(px + (size_t)y * (size_t)stride);
        for (int32_t x = 0; x < iw; x++) {
            int64_t c = (int64_t)x * cols / iw;
            double v = data[r * cols + c], rgb[3];
            sermo_report_map_colour(isfinite(v) ? (v - vmin) * scale : NAN, rgb);
            line[x] = (uint32_t)lrint(rgb[0] * 255) << 16 | (uint32_t)lrint(rgb[1] * 255) << 8 |
                      (uint32_t)lrint(rgb[2] * 255);
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_rectangle(cr, area->x, area->y, area->w, area->h);
    cairo_clip(cr);
    cairo_translate(cr, area->x, area->y);
    cairo_scale(cr, area->w / iw, area->h / ih);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    return SERMO_OK;
}

void sermo_report_draw_colourbar(cairo_t *cr, const sermo_report_rect *area, double vmin, double vmax,
                                 const char *title) {
    sermo_report_draw_colourbar_ticks(cr, area, vmin, vmax, title, 0);
}

void sermo_report_draw_colourbar_ticks(cairo_t *cr, const sermo_report_rect *area, double vmin, double vmax,
                                       const char *title, int32_t integer) {
    enum { STEPS = 256 };
    float ramp[STEPS];
    for (int32_t i = 0; i < STEPS; i++) ramp[i] = (float)(vmin + (vmax - vmin) * (i + 0.5) / STEPS);
    sermo_report_draw_heatmap(cr, area, ramp, STEPS, 1, vmin, vmax, 1, NULL);
    sermo_report_draw_frame(cr, area);

    double ticks[SERMO_REPORT_MAX_TICKS], pos[SERMO_REPORT_MAX_TICKS], step;
    char text[SERMO_REPORT_MAX_TICKS][32];
    const char *labels[SERMO_REPORT_MAX_TICKS];
    /* A label every 40 px or so, at most 10 (tall bars would otherwise
     * overrun MAX_TICKS); whole numbers need no more ticks than the range. */
    int32_t target = (int32_t)(area->h / 40) > 2 ? (int32_t)(area->h / 40) : 2;
    if (target > 10) target = 10;
    if (integer && target > vmax - vmin) target = vmax - vmin >= 1 ? (int32_t)(vmax - vmin) : 1;
    int32_t n = sermo_report_nice_ticks(vmin, vmax, target, ticks, SERMO_REPORT_MAX_TICKS, &step);
    for (int32_t i = 0; i < n; i++) {
        pos[i] = (ticks[i] - vmin) / (vmax - vmin);
        sermo_report_format_tick(ticks[i], step, text[i], sizeof text[i]);
        labels[i] = text[i];
    }
    double w = sermo_report_draw_ticks(cr, area, SERMO_REPORT_SIDE_RIGHT, pos, labels, n);
    if (title && title[0])
        sermo_report_draw_axis_title(cr, area, SERMO_REPORT_SIDE_RIGHT, SERMO_REPORT_TICK_LEN + 3 + w + 6, title);
}

double sermo_report_draw_categories(cairo_t *cr, const sermo_report_rect *area, sermo_report_side side,
                                    const char *const *labels, int32_t n, double angle) {
    if (n <= 0) return 0;
    if (side == SERMO_REPORT_SIDE_LEFT || side == SERMO_REPORT_SIDE_RIGHT || angle == 0) {
        double pos[SERMO_REPORT_MAX_TICKS];
        int32_t done = 0;
        double extent = 0;
        /* draw_ticks takes fractions from the bottom/left; slot 0 is the top
         * (or left) one. Chunks of MAX_TICKS keep its arrays bounded. */
        while (done < n) {
            int32_t k = n - done < SERMO_REPORT_MAX_TICKS ? n - done : SERMO_REPORT_MAX_TICKS;
            for (int32_t i = 0; i < k; i++) {
                double u = (done + i + 0.5) / n;
                pos[i] = side == SERMO_REPORT_SIDE_LEFT || side == SERMO_REPORT_SIDE_RIGHT ? 1 - u : u;
            }
            double e = sermo_report_draw_ticks(cr, area, side, pos, labels + done, k);
            if (e > extent) extent = e;
            done += k;
        }
        return extent;
    }
    /* Rotated labels below (or above) the area, anchored at their right end
     * just past the tick, as matplotlib's rotation=45, ha="right". */
    const double gap = SERMO_REPORT_TICK_LEN + 3, size = SERMO_REPORT_FONT_TICK;
    int32_t bottom = side == SERMO_REPORT_SIDE_BOTTOM;
    double extent = 0;
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_set_line_width(cr, 1);
    for (int32_t i = 0; i < n; i++) {
        double x = floor(area->x + area->w * (i + 0.5) / n) + 0.5;
        double y = bottom ? area->y + area->h : area->y, dy = bottom ? 1 : -1;
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x, y + dy * SERMO_REPORT_TICK_LEN);
        cairo_stroke(cr);
        double w = sermo_report_text_width(cr, labels[i], size);
        double e = w * sin(angle) + (fe.ascent + fe.descent) * cos(angle);
        if (e > extent) extent = e;
        /* The anchor is the middle of the text's right end; its top corner
         * sits a little to the right of the tick, so shift left by half the
         * box's height projected on x. */
        double hx = (fe.ascent + fe.descent) / 2 * sin(angle);
        sermo_report_draw_text(cr, labels[i], x + hx * 0.5, y + dy * (gap - 2 + hx * 0.5), size, 1, 0.5,
                               bottom ? angle : -angle);
    }
    cairo_restore(cr);
    return extent; /* from the label anchors, about one tick gap out */
}

void sermo_report_draw_hgrid(cairo_t *cr, const sermo_report_rect *area, const double *pos, int32_t n) {
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_set_line_width(cr, 1);
    for (int32_t i = 0; i < n; i++) {
        double y = floor(area->y + area->h * (1 - pos[i])) + 0.5;
        cairo_move_to(cr, area->x, y);
        cairo_line_to(cr, area->x + area->w, y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void sermo_report_draw_title(cairo_t *cr, const char *text, double x, double y, double size) {
    cairo_save(cr);
    cairo_select_font_face(cr, SERMO_REPORT_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    sermo_report_draw_text(cr, text, x, y, size, 0.5, 0.5, 0);
    cairo_restore(cr);
}
