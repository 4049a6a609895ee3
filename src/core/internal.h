/* internal.h: helpers shared by libsermo's modules; not installed. */
#ifndef SERMO_INTERNAL_H
#define SERMO_INTERNAL_H

#include "sermo.h"

#include <stdarg.h>
#include <stdint.h>

/* Record an error (when err is not NULL) and return its status, so a failing
 * path reads: return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno)); */
sermo_status sermo_fail(sermo_error *err, sermo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Seeded generator (xoshiro256**, Blackman & Vigna 2018): the same seed gives
 * the same sequence on every platform. */
typedef struct sermo_rng {
    uint64_t s[4];
} sermo_rng;

void sermo_rng_seed(sermo_rng *rng, uint64_t seed);
uint64_t sermo_rng_next(sermo_rng *rng);
double sermo_rng_uniform(sermo_rng *rng);               /* [0, 1) */
uint64_t sermo_rng_below(sermo_rng *rng, uint64_t n);   /* [0, n), unbiased */
void sermo_rng_shuffle(sermo_rng *rng, int64_t *v, int64_t n);

/* FNV-1a 64-bit, for cache keys (not for security). */
uint64_t sermo_hash64(uint64_t h, const void *data, size_t n);
#define SERMO_HASH64_INIT 0xcbf29ce484222325ull

/* Prefix the message already in err with "<what>: " (when err is not NULL)
 * and return status; for errors passed up through a layer that knows the file. */
sermo_status sermo_fail_prefix(sermo_error *err, sermo_status status, const char *what);

/* malloc that never returns NULL silently: NULL plus an error message. */
void *sermo_alloc(size_t size, sermo_error *err, const char *what);

/* Atomic file output: open gives a FILE* on a temp file beside path; close
 * with the status so far commits it (flush, fsync, rename) when that status is
 * SERMO_OK and removes it otherwise, returning the final status. Write errors
 * such as a full disk surface at close and leave the old file intact. */
#include <stdio.h>
typedef struct sermo_atomic_file {
    FILE *f;
    char *tmp;
    const char *path;
} sermo_atomic_file;

sermo_status sermo_atomic_open(sermo_atomic_file *af, const char *path, sermo_error *err);
sermo_status sermo_atomic_close(sermo_atomic_file *af, sermo_status status, sermo_error *err);

#endif
