/* report_internal.h: the small cairo drawing layer shared by the report
 * plots (spectrograms now; confusion matrices and training curves next).
 *
 * Coordinates are cairo device pixels, y down. A plot is a canvas (image
 * surface + context) holding one or more areas (sermo_report_rect); data is
 * mapped into an area as fractions along each axis: 0 = left / bottom,
 * 1 = right / top. */
#ifndef SERMO_REPORT_INTERNAL_H
#define SERMO_REPORT_INTERNAL_H

#include "internal.h"

#include <cairo.h>

typedef struct sermo_report_rect {
    double x, y, w, h; /* top-left corner and size, pixels */
} sermo_report_rect;

typedef struct sermo_report_canvas {
    cairo_surface_t *surface; /* ARGB32 image */
    cairo_t *cr;
    int32_t width, height;
} sermo_report_canvas;

typedef enum sermo_report_side {
    SERMO_REPORT_SIDE_LEFT = 0,
    SERMO_REPORT_SIDE_BOTTOM,
    SERMO_REPORT_SIDE_RIGHT,
    SERMO_REPORT_SIDE_TOP,
} sermo_report_side;

/* Sizes shared by every plot so they look like one family. */
#define SERMO_REPORT_FONT "DejaVu Sans"
#define SERMO_REPORT_FONT_TITLE 15.0
#define SERMO_REPORT_FONT_LABEL 12.0
#define SERMO_REPORT_FONT_TICK 11.0
#define SERMO_REPORT_TICK_LEN 5.0
#define SERMO_REPORT_MAX_TICKS 32

/* A white canvas; `what` (usually the output path) labels errors. */
sermo_status sermo_report_canvas_init(sermo_report_canvas *canvas, int32_t width, int32_t height,
                                      const char *what, sermo_error *err);
void sermo_report_canvas_free(sermo_report_canvas *canvas);
/* PNG written to a temporary file beside path, then renamed over it. */
sermo_status sermo_report_canvas_write_png(sermo_report_canvas *canvas, const char *path, sermo_error *err);

/* Perceptually uniform colour map (viridis, van der Walt & Smith for
 * matplotlib 2.0): t in [0, 1] (clamped) -> rgb in [0, 1]; NaN -> grey. */
void sermo_report_map_colour(double t, double rgb[3]);

/* Text with its anchor point at (x, y): ax/ay pick which point of the text's
 * box that is (0 = left/top, 0.5 = centre, 1 = right/bottom); angle in
 * radians, counter-clockwise (pi/2 for a left-hand axis label). */
void sermo_report_draw_text(cairo_t *cr, const char *text, double x, double y, double size, double ax, double ay,
                            double angle);

/* Up to cap "nice" values (1, 2, 5 x 10^k steps) inside [lo, hi], aiming at
 * about `target` of them; *step gets the spacing (for formatting). */
int32_t sermo_report_nice_ticks(double lo, double hi, int32_t target, double *ticks, int32_t cap, double *step);
/* A tick label with just enough decimals for `step` ("0.5", "2", "-40"). */
void sermo_report_format_tick(double value, double step, char *buf, size_t size);

/* Ticks and labels along one side of area; pos[i] is the fraction along the
 * axis (0 = left/bottom). Returns the widest (left/right) or tallest
 * (bottom/top) label in pixels, to place the axis title beyond it. */
double sermo_report_draw_ticks(cairo_t *cr, const sermo_report_rect *area, sermo_report_side side,
                               const double *pos, const char *const *labels, int32_t n);
/* Axis title centred along a side, `offset` pixels out from the area. */
void sermo_report_draw_axis_title(cairo_t *cr, const sermo_report_rect *area, sermo_report_side side,
                                  double offset, const char *title);
void sermo_report_draw_frame(cairo_t *cr, const sermo_report_rect *area);

/* A (rows, cols) row-major matrix as a heat map filling area, each cell a
 * flat block. Row 0 is drawn at the bottom when origin_bottom (spectrograms)
 * or the top (confusion matrices). Values map linearly from [vmin, vmax]. */
sermo_status sermo_report_draw_heatmap(cairo_t *cr, const sermo_report_rect *area, const float *data,
                                       int32_t rows, int64_t cols, double vmin, double vmax,
                                       int32_t origin_bottom, sermo_error *err);
/* Vertical colour bar for [vmin, vmax] with ticks on its right and a title. */
void sermo_report_draw_colourbar(cairo_t *cr, const sermo_report_rect *area, double vmin, double vmax,
                                 const char *title);
/* The same with whole-number ticks only when integer (counts). */
void sermo_report_draw_colourbar_ticks(cairo_t *cr, const sermo_report_rect *area, double vmin, double vmax,
                                       const char *title, int32_t integer);

/* Where sermo_report_spectrogram_png puts things, so tests can find the
 * plot area in the written image. */
void sermo_report_spectrogram_layout(int32_t n_bins, int64_t n_frames, int32_t *width, int32_t *height,
                                     sermo_report_rect *plot, sermo_report_rect *colourbar);

/* ------------------------------------------------------------- internal */

/* A growable byte buffer for text files; on allocation failure it keeps
 * what it had and sets failed, checked once at the end. */
typedef struct sermo_report_buf {
    char *data;
    size_t len, cap;
    int failed;
} sermo_report_buf;

void sermo_report_buf_append(sermo_report_buf *b, const void *data, size_t n);
void sermo_report_buf_printf(sermo_report_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sermo_report_buf_free(sermo_report_buf *b);
/* The bytes into a temporary file beside path, then renamed over it; errors
 * name path. */
sermo_status sermo_report_write_atomic(const char *path, const void *data, size_t size, sermo_error *err);

/* Width in pixels of text at size in the canvas's font. */
double sermo_report_text_width(cairo_t *cr, const char *text, double size);
/* Category labels (class names) centred on n equal slots along one side:
 * slot 0 is at the top (left side) or the left (bottom side). Bottom labels
 * are rotated by angle (radians, counter-clockwise, anchored at their right
 * end) when angle != 0. Returns the extent out from the area like
 * sermo_report_draw_ticks. */
double sermo_report_draw_categories(cairo_t *cr, const sermo_report_rect *area, sermo_report_side side,
                                    const char *const *labels, int32_t n, double angle);
/* Light horizontal grid lines at fractions pos (0 = bottom). */
void sermo_report_draw_hgrid(cairo_t *cr, const sermo_report_rect *area, const double *pos, int32_t n);
/* Title text in bold, centred at (x, y). */
void sermo_report_draw_title(cairo_t *cr, const char *text, double x, double y, double size);

/* Where sermo_report_confusion_png puts its two panels, for tests. */
sermo_status sermo_report_confusion_layout(const sermo_metrics *m, const char *const *class_names, int32_t *width,
                                           int32_t *height, sermo_report_rect *counts, sermo_report_rect *fractions,
                                           sermo_error *err);
/* Line colours of the training curves (rgb 0..1), for tests. */
extern const double sermo_report_colour_train[3], sermo_report_colour_val[3], sermo_report_colour_lr[3];

#endif
