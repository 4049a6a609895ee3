/* file.c: report output: a growable text buffer and an atomic file write
 * (temporary file beside the target, then rename), shared by the PNG, text
 * and JSON writers so a reader never sees half a file. */
#include "report_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int buf_reserve(sermo_report_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void sermo_report_buf_append(sermo_report_buf *b, const void *data, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void sermo_report_buf_printf(sermo_report_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sermo_report_buf_free(sermo_report_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

sermo_status sermo_report_write_atomic(const char *path, const void *data, size_t size, sermo_error *err) {
    if (!path || !path[0]) return sermo_fail(err, SERMO_ERR_INVALID, "report: no output path");
    sermo_atomic_file af;
    sermo_status st = sermo_atomic_open(&af, path, err);
    if (st != SERMO_OK) return st;
    if (fwrite(data, 1, size, af.f) != size)
        st = sermo_fail(err, SERMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return sermo_atomic_close(&af, st, err);
}
