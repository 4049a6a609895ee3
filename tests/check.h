/* check.h: the test harness. Every CHECK counts; a test program returns
 * non-zero when any failed and 77 (ctest "skipped") via SKIP(). */
#ifndef SERMO_CHECK_H
#define SERMO_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            check_passed++;                                                \
        } else {                                                           \
            check_failed++;                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define SKIP(...)                                    \
    do {                                             \
        fprintf(stderr, "SKIP: ");                   \
        fprintf(stderr, __VA_ARGS__);                \
        fputc('\n', stderr);                         \
        exit(77);                                    \
    } while (0)

/* Compare n floats with |got - ref| <= atol + rtol * |ref|; prints the max
 * difference and the first mismatches. Returns the number of mismatches. */
static inline long check_close(const char *what, const float *got, const float *ref, long n,
                               double atol, double rtol) {
    long bad = 0;
    double max_abs = 0, max_rel = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double r = d / (fabs((double)ref[i]) + 1e-30);
        if (d > max_abs) max_abs = d;
        if (r > max_rel && fabs((double)ref[i]) > atol) max_rel = r;
        if (!(d <= atol + rtol * fabs((double)ref[i]))) { /* catches NaN */
            if (bad < 5)
                fprintf(stderr, "  %s[%ld]: got %.8g want %.8g\n", what, i, got[i], ref[i]);
            bad++;
        }
    }
    fprintf(stderr, "%s: n=%ld max_abs=%.3g max_rel=%.3g mismatches=%ld\n", what, n, max_abs,
            max_rel, bad);
    if (bad) check_failed++;
    else check_passed++;
    return bad;
}

/* The shared corpora, or NULL (tests then SKIP with a message). */
static inline const char *check_shared_data(void) {
    const char *d = getenv("SERMO_SHARED_DATA");
    static char buf[4096];
    if (!d) d = "../shared/data";
    snprintf(buf, sizeof buf, "%s/README.md", d);
    FILE *f = fopen(buf, "r");
    if (!f) return NULL;
    fclose(f);
    return d;
}

static inline const char *check_source_dir(void) {
    const char *d = getenv("SERMO_SOURCE_DIR");
    return d ? d : ".";
}

static inline int check_report(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
