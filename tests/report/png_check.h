/* png_check.h: reading pixels of a PNG the report writers drew. */
#ifndef SERMO_PNG_CHECK_H
#define SERMO_PNG_CHECK_H

#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Pixel (x, y) of an ARGB32/RGB24 surface as r, g, b in 0..255. */
static void pixel_at(cairo_surface_t *s, int x, int y, int rgb[3]) {
    const unsigned char *data = cairo_image_surface_get_data(s);
    uint32_t p;
    memcpy(&p, data + (size_t)y * (size_t)cairo_image_surface_get_stride(s) + (size_t)x * 4, 4);
    rgb[0] = (int)(p >> 16 & 255);
    rgb[1] = (int)(p >> 8 & 255);
    rgb[2] = (int)(p & 255);
}

/* Whether got is within tol (0..255 units) of the colour want in 0..1. */
static int near_colour(const int got[3], const double want[3], int tol) {
    for (int c = 0; c < 3; c++)
        if (abs(got[c] - (int)(want[c] * 255 + 0.5)) > tol) return 0;
    return 1;
}

#endif
