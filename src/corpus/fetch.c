/* fetch.c: download a corpus archive from its official record (libcurl) and
 * unpack it (libarchive), checking the archive's own CRCs on the way.
 *
 * The archive's integrity check is the zip CRC-32 of every entry, which
 * libarchive verifies as it reads each entry's data; after unpacking,
 * sermo_data_verify can check the clips against the published sha256 list. */
#include "corpus_fetch.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_CONNECT_TIMEOUT_S 10L /* offline machines fail fast */
#define FETCH_STALL_BYTES_PER_S 1024L
#define FETCH_STALL_S 60L /* abort a transfer slower than the above for this long */
#define FETCH_BLOCK 65536

static const sermo_corpus_source fetch_sources[] = {
    {"ravdess", "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip",
     "https://zenodo.org/records/1188976", "Audio_Speech_Actors_01-24.zip"},
};

const sermo_corpus_source *sermo_corpus_find_source(const char *corpus) {
    for (size_t i = 0; corpus && i < sizeof fetch_sources / sizeof fetch_sources[0]; i++)
        if (strcasecmp(corpus, fetch_sources[i].name) == 0) return &fetch_sources[i];
    return NULL;
}

/* ------------------------------------------------------------------ unpack */

/* Safe relative path: not absolute, no "..", no empty name. */
static int fetch_path_is_safe(const char *path) {
    if (!path || !path[0] || path[0] == '/') return 0;
    for (const char *p = path; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 0;
        if (!slash) break;
        p = slash + 1;
    }
    return 1;
}

/* mkdir -p of every folder in rel (up to its last '/' unless whole) under dir. */
static sermo_status fetch_make_dirs(const char *dir, const char *rel, int whole, sermo_error *err) {
    size_t len = strlen(dir) + strlen(rel) + 2;
    char *path = malloc(len);
    if (!path) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
    snprintf(path, len, "%s/%s", dir, rel);
    size_t start = strlen(dir) + 1;
    sermo_status st = SERMO_OK;
    for (size_t i = start; st == SERMO_OK; i++) {
        int end = path[i] == '\0';
        if (path[i] != '/' && !end) continue;
        if (end && !whole) break;
        char saved = path[i];
        path[i] = '\0';
        if (i > start && mkdir(path, 0755) != 0 && errno != EEXIST)
            st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
        path[i] = saved;
        if (end) break;
    }
    free(path);
    return st;
}

/* A read error: CRC mismatches are checksum failures, the rest damage. */
static sermo_status fetch_archive_fail(struct archive *a, const char *archive, const char *entry, sermo_error *err) {
    const char *msg = archive_error_string(a);
    if (!msg) msg = "unreadable archive";
    sermo_status st = strcasestr(msg, "crc") ? SERMO_ERR_CHECKSUM : SERMO_ERR_FORMAT;
    if (entry) return sermo_fail(err, st, "%s: entry '%s': %s", archive, entry, msg);
    return sermo_fail(err, st, "%s: %s", archive, msg);
}

static sermo_status fetch_open(const char *archive, struct archive **out, sermo_error *err) {
    struct archive *a = archive_read_new();
    if (!a) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot start libarchive", archive);
    archive_read_support_format_all(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_filename(a, archive, FETCH_BLOCK) != ARCHIVE_OK) {
        int e = archive_errno(a);
        sermo_status st = e == ENOENT || e == EACCES || e == ENOTDIR || e == EISDIR
                              ? sermo_fail(err, SERMO_ERR_IO, "%s: %s", archive, archive_error_string(a))
                              : fetch_archive_fail(a, archive, NULL, err);
        archive_read_free(a);
        return st;
    }
    *out = a;
    return SERMO_OK;
}

/* Pass 1: every entry path and type, before anything touches the disk. */
static sermo_status fetch_check_entries(const char *archive, int64_t *n_files, sermo_error *err) {
    struct archive *a;
    sermo_status st = fetch_open(archive, &a, err);
    if (st != SERMO_OK) return st;
    struct archive_entry *e;
    int r;
    *n_files = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *path = archive_entry_pathname(e);
        mode_t type = archive_entry_filetype(e);
        if (!fetch_path_is_safe(path)) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: refusing unsafe entry path '%s'", archive, path ? path : "");
            break;
        }
        if (type != AE_IFREG && type != AE_IFDIR) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: refusing entry '%s' that is not a file or folder", archive,
                            path);
            break;
        }
        *n_files += type == AE_IFREG;
    }
    if (st == SERMO_OK && r != ARCHIVE_EOF) st = fetch_archive_fail(a, archive, NULL, err);
    if (st == SERMO_OK && *n_files == 0) st = sermo_fail(err, SERMO_ERR_EMPTY, "%s: no files in the archive", archive);
    archive_read_free(a);
    return st;
}

/* Copy the current entry's data into target (via target.part). */
static sermo_status fetch_write_entry(struct archive *a, const char *archive, const char *entry, const char *target,
                                      sermo_error *err) {
    size_t len = strlen(target) + 6;
    char *part = malloc(len);
    if (!part) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", target);
    snprintf(part, len, "%s.part", target);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        sermo_status st = sermo_fail(err, SERMO_ERR_IO, "%s: %s", part, strerror(errno));
        free(part);
        return st;
    }
    sermo_status st = SERMO_OK;
    const void *buf;
    size_t size;
    la_int64_t offset;
    int r;
    while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
        /* pwrite at the block's offset also handles sparse entries */
        const char *p = buf;
        while (size > 0) {
            ssize_t w = pwrite(fd, p, size, offset);
            if (w < 0) {
                st = sermo_fail(err, SERMO_ERR_IO, "%s: %s", part, strerror(errno));
                break;
            }
            p += w;
            size -= (size_t)w;
            offset += w;
        }
        if (st != SERMO_OK) break;
    }
    /* ARCHIVE_WARN here is how libarchive reports a bad CRC at the entry's end. */
    if (st == SERMO_OK && r != ARCHIVE_EOF) st = fetch_archive_fail(a, archive, entry, err);
    if (close(fd) != 0 && st == SERMO_OK) st = sermo_fail(err, SERMO_ERR_IO, "%s: %s", part, strerror(errno));
    if (st == SERMO_OK && rename(part, target) != 0)
        st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot rename into place: %s", target, strerror(errno));
    if (st != SERMO_OK) unlink(part);
    free(part);
    return st;
}

sermo_status sermo_corpus_unpack_archive(const char *archive, const char *dir, sermo_progress_fn progress,
                                         void *user_data, sermo_error *err) {
    if (!archive || !dir) return sermo_fail(err, SERMO_ERR_INVALID, "unpack: no archive or folder given");
    int64_t n_files = 0, done = 0;
    sermo_status st = fetch_check_entries(archive, &n_files, err);
    if (st != SERMO_OK) return st;
    struct archive *a;
    st = fetch_open(archive, &a, err);
    if (st != SERMO_OK) return st;
    struct archive_entry *e;
    int r;
    while (st == SERMO_OK && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        const char *path = archive_entry_pathname(e);
        /* The archive is read again, so check again rather than trust pass 1. */
        if (!fetch_path_is_safe(path)) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: refusing unsafe entry path", archive);
            break;
        }
        if (archive_entry_filetype(e) == AE_IFDIR) {
            st = fetch_make_dirs(dir, path, 1, err);
            continue;
        }
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        st = fetch_make_dirs(dir, path, 0, err);
        if (st != SERMO_OK) break;
        size_t len = strlen(dir) + strlen(path) + 2;
        char *target = malloc(len);
        if (!target) {
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", archive);
            break;
        }
        snprintf(target, len, "%s/%s", dir, path);
        st = fetch_write_entry(a, archive, path, target, err);
        free(target);
        if (st == SERMO_OK && progress) progress(++done, n_files, path, user_data);
    }
    if (st == SERMO_OK && r != ARCHIVE_EOF) st = fetch_archive_fail(a, archive, NULL, err);
    archive_read_free(a);
    return st;
}

/* ---------------------------------------------------------------- download */

typedef struct fetch_progress {
    sermo_progress_fn fn;
    void *user_data;
    const char *what;
} fetch_progress;

static int fetch_xferinfo(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)ultotal;
    (void)ulnow;
    const fetch_progress *fp = p;
    fp->fn((int64_t)dlnow, (int64_t)dltotal, fp->what, fp->user_data);
    return 0;
}

/* The by-hand instructions every network failure ends with. */
#define FETCH_BY_HAND "; to get it by hand, download %s from %s and unpack it into %s"

sermo_status sermo_corpus_fetch_source(const sermo_corpus_source *src, const char *dir, sermo_progress_fn progress,
                                       void *user_data, sermo_error *err) {
    if (!src || !dir) return sermo_fail(err, SERMO_ERR_INVALID, "fetch: no corpus or folder given");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sermo_fail(err, SERMO_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    size_t len = strlen(dir) + strlen(src->archive) + 16;
    char *tmp = malloc(len);
    if (!tmp) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
    snprintf(tmp, len, "%s/.%s.XXXXXX", dir, src->archive);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        sermo_status st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot create a temporary file: %s", dir, strerror(errno));
        if (fd >= 0) close(fd), unlink(tmp);
        free(tmp);
        return st;
    }

    sermo_status st = SERMO_OK;
    CURL *curl = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? curl_easy_init() : NULL;
    if (!curl) {
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot start libcurl", src->url);
    } else {
        char curl_err[CURL_ERROR_SIZE] = "";
        fetch_progress fp = {progress, user_data, src->archive};
        curl_easy_setopt(curl, CURLOPT_URL, src->url);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, f); /* default write callback is fwrite */
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
        curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L); /* HTTP >= 400 is an error, not a body */
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, FETCH_STALL_BYTES_PER_S);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, FETCH_STALL_S);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "sermo/" SERMO_VERSION);
        if (progress) {
            curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, fetch_xferinfo);
            curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &fp);
            curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        }
        CURLcode rc = curl_easy_perform(curl);
        if (rc != CURLE_OK)
            st = sermo_fail(err, SERMO_ERR_NETWORK, "%s: download failed: %.160s" FETCH_BY_HAND, src->url,
                            curl_err[0] ? curl_err : curl_easy_strerror(rc), src->archive, src->record, dir);
        curl_easy_cleanup(curl);
    }
    if (fclose(f) != 0 && st == SERMO_OK) st = sermo_fail(err, SERMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (st == SERMO_OK) st = sermo_corpus_unpack_archive(tmp, dir, progress, user_data, err);
    unlink(tmp); /* the archive is large and, once unpacked, of no further use */
    free(tmp);
    return st;
}

sermo_status sermo_data_fetch(const char *corpus, const char *dir, sermo_progress_fn progress, void *user_data,
                              sermo_error *err) {
    const sermo_corpus_source *src = sermo_corpus_find_source(corpus);
    if (!src)
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "corpus '%s': no download known (can fetch: ravdess)",
                          corpus ? corpus : "");
    return sermo_corpus_fetch_source(src, dir, progress, user_data, err);
}
