/* fixture.h: a minimal safetensors reader for the nn golden tests (F32 only).
 * Test-only: the product reader lives in src/io. CMake builds one source per
 * test, so a test includes "nn/fixture.c" once. */
#ifndef SERMO_TEST_FIXTURE_H
#define SERMO_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fixture {
    unsigned char *buf; /* the whole file */
    size_t size;
    size_t header_len;  /* JSON bytes after the 8-byte length */
} fixture;

/* 0 on success; prints why on failure. */
int fixture_open(fixture *f, const char *path);
/* The tensor's data, or NULL (printed) when absent, not F32 or out of bounds.
 * *numel receives its element count; shape/ndim may be NULL. */
const float *fixture_get(const fixture *f, const char *name, size_t *numel, int64_t *shape,
                         int *ndim);
void fixture_close(fixture *f);

#endif
