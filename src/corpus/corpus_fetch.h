/* corpus_fetch.h: the steps of sermo_data_fetch, exposed so tests can run
 * them without a network. */
#ifndef SERMO_CORPUS_FETCH_H
#define SERMO_CORPUS_FETCH_H

#include "internal.h"

/* Where a corpus archive comes from, and what to tell a user who must get
 * it by hand. */
typedef struct sermo_corpus_source {
    const char *name;    /* "ravdess" */
    const char *url;     /* the archive itself */
    const char *record;  /* the human-readable record page */
    const char *archive; /* the archive's file name */
} sermo_corpus_source;

/* The known source for a corpus name, or NULL. */
const sermo_corpus_source *sermo_corpus_find_source(const char *corpus);

/* Download src->url into a temporary file in dir (created if needed), unpack
 * it there and remove the archive. SERMO_ERR_NETWORK on any transfer
 * failure, with the by-hand instructions in the message. */
sermo_status sermo_corpus_fetch_source(const sermo_corpus_source *src, const char *dir, sermo_progress_fn progress,
                                       void *user_data, sermo_error *err);

/* Unpack an archive (zip, tar, ...) into dir. Every entry path is checked
 * before anything is written: absolute paths, ".." components, links and
 * devices are SERMO_ERR_FORMAT. A CRC mismatch while reading an entry is
 * SERMO_ERR_CHECKSUM; other damage SERMO_ERR_FORMAT. Each file is written
 * under a ".part" name and renamed when complete, so a failure never leaves
 * a truncated file under its real name. */
sermo_status sermo_corpus_unpack_archive(const char *archive, const char *dir, sermo_progress_fn progress,
                                         void *user_data, sermo_error *err);

#endif
