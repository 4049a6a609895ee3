/* confusion.c: confusion_matrix.png: two heat maps side by side, counts and
 * fractions of each true class (rows normalised, as sklearn's
 * ConfusionMatrixDisplay with normalize="true"), true classes down the left
 * (row 0 at the top), predicted along the bottom, the value in every cell in
 * black or white, whichever stands out from the cell's colour.
 *
 * Layout (pixels), per panel: class names and "true" left of the matrix,
 * names (rotated 45 degrees when they do not fit a cell) and "predicted"
 * below, a colour bar to the right; the title on top. K = n_classes. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CM_PAD 14.0        /* outer margin */
#define CM_TITLE_H 34.0    /* main title band */
#define CM_SUBTITLE_H 24.0 /* panel title band */
#define CM_AXIS_TITLE 18.0 /* room for "true" / "predicted" */
#define CM_BAR_GAP 12.0
#define CM_BAR_W 14.0
#define CM_BAR_LABELS 64.0 /* colour bar ticks and title */
#define CM_PANEL_GAP 28.0
#define CM_ROTATE (M_PI / 4)

typedef struct cm_layout {
    int32_t width, height;
    sermo_report_rect panel[2], bar[2];
    double cell, font;
    double rotate; /* x label angle: 0 or CM_ROTATE */
} cm_layout;

static const char *cm_name(const char *const *names, int32_t k, char *buf, size_t size) {
    if (names && names[k]) return names[k];
    snprintf(buf, size, "%d", k);
    return buf;
}

static sermo_status cm_layout_compute(const sermo_metrics *m, const char *const *names, cm_layout *L,
                                      const char *what, sermo_error *err) {
    const int32_t K = m->n_classes;
    /* Cells from 120 px (2 classes) down to 24 (16 and more): 240..360 px
     * matrices for the usual 2..8 emotions, growing past that. */
    double cell = floor(360.0 / K);
    L->cell = cell = cell > 120 ? 120 : cell < 24 ? 24 : cell;
    L->font = fmin(13, fmax(7, cell * 0.3));

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *cr = cairo_create(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot measure text", what);
    }
    cairo_select_font_face(cr, SERMO_REPORT_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, SERMO_REPORT_FONT_TICK);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double name_w = 0;
    char buf[16];
    for (int32_t k = 0; k < K; k++)
        name_w = fmax(name_w, sermo_report_text_width(cr, cm_name(names, k, buf, sizeof buf), SERMO_REPORT_FONT_TICK));
    cairo_destroy(cr);
    cairo_surface_destroy(s);

    double line_h = fe.ascent + fe.descent;
    L->rotate = name_w > cell - 6 ? CM_ROTATE : 0;
    double below = L->rotate ? name_w * sin(L->rotate) + line_h * cos(L->rotate) : line_h;
    double left = CM_PAD + CM_AXIS_TITLE + 6 + name_w + SERMO_REPORT_TICK_LEN + 3;
    double side = cell * K;
    /* Rotated labels hang left of the first column; keep them on the canvas. */
    double hang = L->rotate ? name_w * cos(L->rotate) - cell / 2 : 0;
    if (hang > left - CM_PAD) left = CM_PAD + hang;
    double x = left, top = CM_TITLE_H + CM_SUBTITLE_H;
    for (int p = 0; p < 2; p++) {
        L->panel[p] = (sermo_report_rect){x, top, side, side};
        L->bar[p] = (sermo_report_rect){x + side + CM_BAR_GAP, top, CM_BAR_W, side};
        x += side + CM_BAR_GAP + CM_BAR_W + CM_BAR_LABELS + CM_PANEL_GAP + (left - CM_PAD);
    }
    L->width = (int32_t)ceil(L->bar[1].x + CM_BAR_W + CM_BAR_LABELS + CM_PAD);
    L->height = (int32_t)ceil(top + side + SERMO_REPORT_TICK_LEN + 3 + below + 6 + CM_AXIS_TITLE + CM_PAD);
    return SERMO_OK;
}

static sermo_status cm_check(const char *path, const sermo_metrics *m, sermo_error *err) {
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "confusion matrix: no output path");
    if (!m || m->n_classes < 1 || m->n_classes > SERMO_METRICS_MAX_CLASSES)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: no metrics", path);
    return SERMO_OK;
}

sermo_status sermo_report_confusion_layout(const sermo_metrics *m, const char *const *class_names, int32_t *width,
                                           int32_t *height, sermo_report_rect *counts, sermo_report_rect *fractions,
                                           sermo_error *err) {
    sermo_status st = cm_check("confusion layout", m, err);
    if (st != SERMO_OK) return st;
    cm_layout L;
    st = cm_layout_compute(m, class_names, &L, "confusion layout", err);
    if (st != SERMO_OK) return st;
    *width = L.width;
    *height = L.height;
    *counts = L.panel[0];
    *fractions = L.panel[1];
    return SERMO_OK;
}

/* The value of each cell, centred, in the colour that contrasts with it. */
static void cm_draw_values(cairo_t *cr, const cm_layout *L, const sermo_report_rect *area, const float *v, int32_t K,
                           double vmin, double vmax, int fractions) {
    cairo_save(cr);
    for (int32_t r = 0; r < K; r++)
        for (int32_t c = 0; c < K; c++) {
            double x = v[r * K + c];
            if (!isfinite(x)) continue; /* a class absent from y_true: a grey row, no numbers */
            if (x == 0 && K > 12) continue; /* small cells: zeros would only be noise */
            char text[32];
            if (!fractions) snprintf(text, sizeof text, "%.0f", x);
            else if (x == 0) snprintf(text, sizeof text, "0");
            else snprintf(text, sizeof text, "%.2f", x);
            double rgb[3];
            sermo_report_map_colour((x - vmin) / (vmax - vmin), rgb);
            /* Rec. 709 luma of the cell: light cells (viridis' yellow end) get dark text */
            double luma = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
            if (luma > 0.45) cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            else cairo_set_source_rgb(cr, 1, 1, 1);
            sermo_report_draw_text(cr, text, area->x + (c + 0.5) * L->cell, area->y + (r + 0.5) * L->cell, L->font,
                                   0.5, 0.5, 0);
        }
    cairo_restore(cr);
}

sermo_status sermo_report_confusion_png(const char *path, const sermo_metrics *m, const char *const *class_names,
                                        const char *title, sermo_error *err) {
    sermo_status st = cm_check(path, m, err);
    if (st != SERMO_OK) return st;
    const int32_t K = m->n_classes;
    cm_layout L;
    st = cm_layout_compute(m, class_names, &L, path, err);
    if (st != SERMO_OK) return st;

    /* (K, K) counts and row fractions; an empty row is NaN (grey). */
    static const size_t KK = SERMO_METRICS_MAX_CLASSES * SERMO_METRICS_MAX_CLASSES;
    float *counts = sermo_alloc(2 * KK * sizeof(float), err, path);
    if (!counts) return SERMO_ERR_NOMEM;
    float *frac = counts + KK;
    double cmax = 1;
    for (int32_t r = 0; r < K; r++)
        for (int32_t c = 0; c < K; c++) {
            counts[r * K + c] = (float)m->confusion[r * K + c];
            frac[r * K + c] = m->support[r] ? (float)((double)m->confusion[r * K + c] / (double)m->support[r]) : NAN;
            cmax = fmax(cmax, (double)m->confusion[r * K + c]);
        }

    char numbered[SERMO_METRICS_MAX_CLASSES][16];
    const char *names[SERMO_METRICS_MAX_CLASSES];
    for (int32_t k = 0; k < K; k++) names[k] = cm_name(class_names, k, numbered[k], sizeof numbered[k]);

    sermo_report_canvas cv;
    st = sermo_report_canvas_init(&cv, L.width, L.height, path, err);
    if (st != SERMO_OK) {
        free(counts);
        return st;
    }
    cairo_t *cr = cv.cr;
    static const char *const panel_title[2] = {"counts", "fraction of each true class"};
    static const char *const bar_title[2] = {"samples", "fraction"};
    for (int p = 0; p < 2 && st == SERMO_OK; p++) {
        const sermo_report_rect *a = &L.panel[p];
        const float *v = p ? frac : counts;
        double vmax = p ? 1 : cmax;
        st = sermo_report_draw_heatmap(cr, a, v, K, K, 0, vmax, 0, err);
        if (st != SERMO_OK) break;
        sermo_report_draw_frame(cr, a);
        cm_draw_values(cr, &L, a, v, K, 0, vmax, p);
        double w = sermo_report_draw_categories(cr, a, SERMO_REPORT_SIDE_LEFT, names, K, 0);
        sermo_report_draw_axis_title(cr, a, SERMO_REPORT_SIDE_LEFT, SERMO_REPORT_TICK_LEN + 3 + w + 6, "true");
        double h = sermo_report_draw_categories(cr, a, SERMO_REPORT_SIDE_BOTTOM, names, K, L.rotate);
        sermo_report_draw_axis_title(cr, a, SERMO_REPORT_SIDE_BOTTOM, SERMO_REPORT_TICK_LEN + 3 + h + 6, "predicted");
        sermo_report_draw_colourbar_ticks(cr, &L.bar[p], 0, vmax, bar_title[p], !p);
        cairo_save(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        sermo_report_draw_text(cr, panel_title[p], a->x + a->w / 2, a->y - 7, SERMO_REPORT_FONT_LABEL, 0.5, 1, 0);
        cairo_restore(cr);
    }
    if (st == SERMO_OK) {
        sermo_report_draw_title(cr, title && title[0] ? title : "Confusion matrix", L.width / 2.0, CM_TITLE_H / 2 + 4,
                                SERMO_REPORT_FONT_TITLE);
        st = sermo_report_canvas_write_png(&cv, path, err);
    }
    sermo_report_canvas_free(&cv);
    free(counts);
    return st;
}
