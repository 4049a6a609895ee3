/* curves.c: training_curves.png: loss and accuracy per epoch (train and
 * validation), and the learning rate when given, as panels side by side,
 * each with nice ticks, light grid lines and a legend placed in the corner
 * that hides the fewest points; a dashed line and rings mark the best
 * validation epoch. E = n_epochs; epoch i (0-based) is drawn at x = i + 1. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CV_PLOT_W 400.0
#define CV_PLOT_H 270.0
#define CV_LEFT 78.0   /* y tick labels and title */
#define CV_RIGHT 22.0
#define CV_TOP 50.0    /* title */
#define CV_BOTTOM 54.0 /* x tick labels and title */
#define CV_LINE_W 2.0
#define CV_MAX_SERIES 2

/* matplotlib's tab10 blue, orange, green and red */
const double sermo_report_colour_train[3] = {0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0};
const double sermo_report_colour_val[3] = {0xff / 255.0, 0x7f / 255.0, 0x0e / 255.0};
const double sermo_report_colour_lr[3] = {0x2c / 255.0, 0xa0 / 255.0, 0x2c / 255.0};
static const double cv_colour_best[3] = {0xd6 / 255.0, 0x27 / 255.0, 0x28 / 255.0};

typedef struct cv_series {
    const float *y; /* (E) */
    const char *name;
    const double *rgb;
} cv_series;

typedef struct cv_panel {
    cv_series s[CV_MAX_SERIES];
    int32_t n;
    const char *ylabel;
    int32_t is_fraction; /* accuracy: keep the axis inside [0, 1] */
    sermo_report_rect area;
    double ylo, yhi, xlo, xhi;
} cv_panel;

static double cv_px(const cv_panel *p, double x) { return p->area.x + (x - p->xlo) / (p->xhi - p->xlo) * p->area.w; }
static double cv_py(const cv_panel *p, double y) {
    return p->area.y + (1 - (y - p->ylo) / (p->yhi - p->ylo)) * p->area.h;
}

/* y range: the finite values with 5% room, kept at >= 0 (and <= 1 for
 * fractions) when the data are. */
static void cv_range(cv_panel *p, int32_t E) {
    double lo = INFINITY, hi = -INFINITY;
    for (int32_t j = 0; j < p->n; j++)
        for (int32_t i = 0; i < E; i++)
            if (isfinite(p->s[j].y[i])) lo = fmin(lo, p->s[j].y[i]), hi = fmax(hi, p->s[j].y[i]);
    if (!(lo <= hi)) lo = 0, hi = 1;
    double pad = hi > lo ? 0.05 * (hi - lo) : fmax(0.05 * fabs(hi), 0.05);
    double a = lo - pad, b = hi + pad;
    if (lo >= 0 && a < 0) a = 0;
    if (p->is_fraction && hi <= 1 && b > 1) b = 1;
    if (p->is_fraction && b - a < 0.02) b = a + 0.02; /* still distinct when both are clamped */
    p->ylo = a;
    p->yhi = b;
    double xpad = E > 1 ? 0.03 * (E - 1) : 0.5;
    p->xlo = 1 - xpad;
    p->xhi = E + xpad;
}

static void cv_axes(cairo_t *cr, const cv_panel *p, int32_t E) {
    double ticks[SERMO_REPORT_MAX_TICKS], pos[SERMO_REPORT_MAX_TICKS], step;
    char text[SERMO_REPORT_MAX_TICKS][32];
    const char *labels[SERMO_REPORT_MAX_TICKS];

    int32_t n = sermo_report_nice_ticks(p->ylo, p->yhi, 6, ticks, SERMO_REPORT_MAX_TICKS, &step);
    for (int32_t i = 0; i < n; i++) {
        pos[i] = (ticks[i] - p->ylo) / (p->yhi - p->ylo);
        sermo_report_format_tick(ticks[i], step, text[i], sizeof text[i]);
        labels[i] = text[i];
    }
    sermo_report_draw_hgrid(cr, &p->area, pos, n);
    double w = sermo_report_draw_ticks(cr, &p->area, SERMO_REPORT_SIDE_LEFT, pos, labels, n);
    sermo_report_draw_axis_title(cr, &p->area, SERMO_REPORT_SIDE_LEFT, SERMO_REPORT_TICK_LEN + 3 + w + 6, p->ylabel);

    /* Epochs are whole numbers: steps below 1 would label half epochs. */
    n = sermo_report_nice_ticks(1, E > 1 ? E : 1.5, (int32_t)(p->area.w / 70), ticks, SERMO_REPORT_MAX_TICKS, &step);
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (ticks[i] != floor(ticks[i]) || ticks[i] < 1) continue;
        pos[m] = (ticks[i] - p->xlo) / (p->xhi - p->xlo);
        snprintf(text[m], sizeof text[m], "%.0f", ticks[i]);
        labels[m] = text[m];
        m++;
    }
    double h = sermo_report_draw_ticks(cr, &p->area, SERMO_REPORT_SIDE_BOTTOM, pos, labels, m);
    sermo_report_draw_axis_title(cr, &p->area, SERMO_REPORT_SIDE_BOTTOM, SERMO_REPORT_TICK_LEN + 3 + h + 4, "epoch");
}

static void cv_draw_series(cairo_t *cr, const cv_panel *p, const cv_series *s, int32_t E) {
    cairo_save(cr);
    cairo_rectangle(cr, p->area.x, p->area.y, p->area.w, p->area.h);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, s->rgb[0], s->rgb[1], s->rgb[2]);
    cairo_set_line_width(cr, CV_LINE_W);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    int32_t open = 0;
    for (int32_t i = 0; i < E; i++) {
        if (!isfinite(s->y[i])) { /* a gap: end the line here */
            open = 0;
            continue;
        }
        double x = cv_px(p, i + 1), y = cv_py(p, s->y[i]);
        if (open) cairo_line_to(cr, x, y);
        else cairo_move_to(cr, x, y);
        open = 1;
    }
    cairo_stroke(cr);
    if (E <= 40) /* a dot per epoch while they stay apart */
        for (int32_t i = 0; i < E; i++) {
            if (!isfinite(s->y[i])) continue;
            cairo_arc(cr, cv_px(p, i + 1), cv_py(p, s->y[i]), 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    cairo_restore(cr);
}

/* The dashed line goes under the curves (rings = 0), the rings over them. */
static void cv_draw_best(cairo_t *cr, const cv_panel *p, int32_t best, int32_t rings) {
    cairo_save(cr);
    if (!rings) {
        double x = floor(cv_px(p, best + 1)) + 0.5;
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        cairo_set_line_width(cr, 1);
        const double dash[2] = {4, 3};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_move_to(cr, x, p->area.y);
        cairo_line_to(cr, x, p->area.y + p->area.h);
        cairo_stroke(cr);
        cairo_restore(cr);
        return;
    }
    cairo_set_source_rgb(cr, cv_colour_best[0], cv_colour_best[1], cv_colour_best[2]);
    cairo_set_line_width(cr, 2);
    for (int32_t j = 0; j < p->n; j++) {
        if (strcmp(p->s[j].name, "val") != 0 || !isfinite(p->s[j].y[best])) continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, cv_px(p, best + 1), cv_py(p, p->s[j].y[best]), 6.5, 0, 2 * M_PI);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
}

/* The legend goes in the corner whose box covers the fewest points. */
static void cv_draw_legend(cairo_t *cr, const cv_panel *p, int32_t E, int32_t best) {
    const char *text[CV_MAX_SERIES + 1];
    const double *rgb[CV_MAX_SERIES + 1];
    char best_text[48];
    int32_t n = 0;
    for (int32_t j = 0; j < p->n; j++) text[n] = p->s[j].name, rgb[n++] = p->s[j].rgb;
    if (best >= 0) {
        snprintf(best_text, sizeof best_text, "best (epoch %d)", best + 1);
        text[n] = best_text;
        rgb[n++] = cv_colour_best;
    }
    if (n == 0 || (n == 1 && best < 0)) return; /* one line needs no key */
    const double size = SERMO_REPORT_FONT_TICK, row = 18, swatch = 22, pad = 8;
    double tw = 0;
    for (int32_t i = 0; i < n; i++) tw = fmax(tw, sermo_report_text_width(cr, text[i], size));
    double bw = pad + swatch + 6 + tw + pad, bh = pad + n * row + pad - 4;
    double best_x = 0, best_y = 0;
    int32_t fewest = -1;
    for (int32_t corner = 0; corner < 4; corner++) { /* top right, bottom right, top left, bottom left */
        double x = corner < 2 ? p->area.x + p->area.w - bw - 8 : p->area.x + 8;
        double y = corner % 2 == 0 ? p->area.y + 8 : p->area.y + p->area.h - bh - 8;
        int32_t hidden = 0;
        for (int32_t j = 0; j < p->n; j++)
            for (int32_t i = 0; i < E; i++) {
                if (!isfinite(p->s[j].y[i])) continue;
                double px = cv_px(p, i + 1), py = cv_py(p, p->s[j].y[i]);
                hidden += px > x - 4 && px < x + bw + 4 && py > y - 4 && py < y + bh + 4;
            }
        if (fewest < 0 || hidden < fewest) fewest = hidden, best_x = x, best_y = y;
    }
    cairo_save(cr);
    cairo_rectangle(cr, floor(best_x) + 0.5, floor(best_y) + 0.5, ceil(bw), ceil(bh));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int32_t i = 0; i < n; i++) {
        double y = best_y + pad + (i + 0.5) * row - 2, x = best_x + pad;
        cairo_set_source_rgb(cr, rgb[i][0], rgb[i][1], rgb[i][2]);
        cairo_set_line_width(cr, 2);
        if (rgb[i] == cv_colour_best) {
            cairo_new_sub_path(cr); /* no line from the last label's end */
            cairo_arc(cr, x + swatch / 2, y, 5.5, 0, 2 * M_PI);
        } else {
            cairo_move_to(cr, x, floor(y) + 0.5);
            cairo_line_to(cr, x + swatch, floor(y) + 0.5);
        }
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        sermo_report_draw_text(cr, text[i], x + swatch + 6, y, size, 0, 0.5, 0);
    }
    cairo_restore(cr);
}

/* The epoch to mark: the caller's, else the lowest val loss, else the
 * highest val accuracy (first on ties); -1 when there is no validation. */
static int32_t cv_best_epoch(const sermo_curves *c) {
    if (c->best_epoch >= 0) return c->best_epoch < c->n_epochs ? c->best_epoch : -1;
    const float *v = c->val_loss ? c->val_loss : c->val_acc;
    double sign = c->val_loss ? 1 : -1;
    int32_t best = -1;
    for (int32_t i = 0; v && i < c->n_epochs; i++)
        if (isfinite(v[i]) && (best < 0 || sign * v[i] < sign * v[best])) best = i;
    return best;
}

sermo_status sermo_report_curves_png(const char *path, const sermo_curves *c, sermo_error *err) {
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "training curves: no output path");
    if (!c) return sermo_fail(err, SERMO_ERR_INVALID, "%s: no curves", path);
    if (c->n_epochs <= 0) return sermo_fail(err, SERMO_ERR_EMPTY, "%s: no epochs", path);
    const int32_t E = c->n_epochs;

    cv_panel panels[3];
    int32_t np = 0;
    memset(panels, 0, sizeof panels);
    const float *arrays[3][2] = {{c->train_loss, c->val_loss}, {c->train_acc, c->val_acc}, {c->lr, NULL}};
    static const char *const ylabels[3] = {"loss", "accuracy", "learning rate"};
    for (int32_t k = 0; k < 3; k++) {
        cv_panel *p = &panels[np];
        for (int32_t j = 0; j < 2; j++) {
            if (!arrays[k][j]) continue;
            p->s[p->n].y = arrays[k][j];
            p->s[p->n].name = k == 2 ? "learning rate" : j == 0 ? "train" : "val";
            p->s[p->n].rgb =
                k == 2 ? sermo_report_colour_lr : j == 0 ? sermo_report_colour_train : sermo_report_colour_val;
            p->n++;
        }
        if (!p->n) continue;
        p->ylabel = ylabels[k];
        p->is_fraction = k == 1;
        p->area = (sermo_report_rect){CV_LEFT + np * (CV_LEFT + CV_PLOT_W + CV_RIGHT), CV_TOP, CV_PLOT_W, CV_PLOT_H};
        cv_range(p, E);
        np++;
    }
    if (!np) return sermo_fail(err, SERMO_ERR_EMPTY, "%s: no loss, accuracy or learning rate to draw", path);
    int32_t best = cv_best_epoch(c);

    sermo_report_canvas cv;
    sermo_status st = sermo_report_canvas_init(&cv, (int32_t)(np * (CV_LEFT + CV_PLOT_W + CV_RIGHT)),
                                               (int32_t)(CV_TOP + CV_PLOT_H + CV_BOTTOM), path, err);
    if (st != SERMO_OK) return st;
    cairo_t *cr = cv.cr;
    for (int32_t k = 0; k < np; k++) {
        cv_panel *p = &panels[k];
        cv_axes(cr, p, E);
        int32_t mark = best >= 0 && p->ylabel != ylabels[2] ? best : -1;
        if (mark >= 0) cv_draw_best(cr, p, mark, 0);
        for (int32_t j = 0; j < p->n; j++) cv_draw_series(cr, p, &p->s[j], E);
        if (mark >= 0) cv_draw_best(cr, p, mark, 1);
        sermo_report_draw_frame(cr, &p->area);
        cv_draw_legend(cr, p, E, mark);
    }
    sermo_report_draw_title(cr, c->title && c->title[0] ? c->title : "Training curves", cv.width / 2.0, CV_TOP / 2,
                            SERMO_REPORT_FONT_TITLE);
    st = sermo_report_canvas_write_png(&cv, path, err);
    sermo_report_canvas_free(&cv);
    return st;
}
