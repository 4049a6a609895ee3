/* cache.h: the feature cache's streaming reads, beside the mapped view of
 * sermo.h (sermo_cache_item). Internal: training and tests use it; not
 * installed.
 *
 * Why: a pointer into the mapping keeps every page it touched resident, so
 * one pass over a cache made the process as large as the file (81 MB for
 * RAVDESS, 10x that for a corpus ten times larger). A read copies one item
 * into a buffer the caller owns, and the process holds only that buffer. */
#ifndef SERMO_CORPUS_CACHE_H
#define SERMO_CORPUS_CACHE_H

#include "sermo.h"

#include <stddef.h>
#include <stdint.h>

/* Frames of the cache's longest item: a buffer of n_bins times this holds any item. */
int64_t sermo_cache_max_frames(const sermo_cache *cache);

/* Copies item i, (n_bins, *n_frames) floats, into out (cap floats) with
 * pread. The same values as sermo_cache_item's. Safe to call from several
 * threads at once. SERMO_ERR_INVALID for a bad index or a small buffer,
 * SERMO_ERR_IO when the file cannot be read; the message names the file. */
sermo_status sermo_cache_read_item(const sermo_cache *cache, int64_t i, float *out, size_t cap, int64_t *n_frames,
                                   sermo_error *err);

#endif
