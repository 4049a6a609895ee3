/* cache.c: the feature cache, one memory-mapped float32 file per
 * (corpus file list, labels, audio params, feature params). Training reads
 * items with sermo_cache_read_item (pread into the caller's buffer) rather
 * than through the mapping, so a pass over a cache of any size keeps one
 * item resident, not every page it touched (cache.h).
 *
 * Layout (little-endian, as written by this machine):
 *   header  cache_header                         64 bytes
 *   index   cache_entry[n_items]                 24 bytes each
 *   data    float32 blocks (n_bins, n_frames_i)  at header.data_offset
 * The file is written to a temporary name and renamed into place, so a
 * killed `sermo prepare` never leaves a cache that looks complete. */
#include "corpus/cache.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "SERMOFC1"
#define CACHE_VERSION 1u
/* Bump when a feature kind computes other values from the same parameters
 * (features/: egemaps.c, mel.c, ...): the key changes, so caches written by
 * the older code are rebuilt instead of silently reused. */
#define FEATURES_REVISION 2u
#define CACHE_CHUNK 64 /* items computed in parallel before being written in order */

typedef struct cache_header {
    char magic[8];
    uint32_t version;
    uint32_t n_bins;
    uint64_t n_items;
    uint64_t key;
    uint64_t data_offset;
    uint64_t n_floats;
    uint8_t reserved[16];
} cache_header;

typedef struct cache_entry {
    uint64_t offset;   /* in floats from data_offset */
    uint64_t n_frames;
    int32_t label;
    int32_t reserved;
} cache_entry;

_Static_assert(sizeof(cache_header) == 64, "cache header layout");
_Static_assert(sizeof(cache_entry) == 24, "cache entry layout");

struct sermo_cache {
    void *map;
    size_t size;
    int fd;             /* kept open for sermo_cache_read_item */
    char *path;         /* for messages */
    int64_t max_frames; /* of the longest item */
    const cache_header *header;
    const cache_entry *entries;
    const float *data;
};

void sermo_cache_default_params(sermo_cache_params *params) {
    memset(params, 0, sizeof *params);
    params->dir = "cache";
}

/* Hash every field by name so that reordering struct members cannot alias two
 * configurations; strings and floats are hashed by value. */
#define HASH_FIELD(h, s, f) h = sermo_hash64(sermo_hash64(h, #f, sizeof #f), &(s)->f, sizeof((s)->f))

static uint64_t cache_key(const sermo_corpus *corpus, const sermo_audio_params *a,
                          const sermo_feature_params *f) {
    uint64_t h = SERMO_HASH64_INIT;
    h = sermo_hash64(h, CACHE_MAGIC, 8);
    uint32_t revision = FEATURES_REVISION;
    h = sermo_hash64(h, &revision, sizeof revision);
    HASH_FIELD(h, a, sample_rate);
    HASH_FIELD(h, a, trim);
    HASH_FIELD(h, a, trim_db);
    HASH_FIELD(h, a, trim_frame_ms);
    HASH_FIELD(h, a, trim_margin_ms);
    HASH_FIELD(h, a, duration_ms);
    HASH_FIELD(h, a, crop_center);
    HASH_FIELD(h, f, sample_rate);
    HASH_FIELD(h, f, n_fft);
    HASH_FIELD(h, f, win_length);
    HASH_FIELD(h, f, hop_length);
    HASH_FIELD(h, f, window);
    HASH_FIELD(h, f, center);
    HASH_FIELD(h, f, pad_mode);
    HASH_FIELD(h, f, power);
    HASH_FIELD(h, f, n_mels);
    HASH_FIELD(h, f, f_min);
    HASH_FIELD(h, f, f_max);
    HASH_FIELD(h, f, mel_scale);
    HASH_FIELD(h, f, mel_norm_slaney);
    HASH_FIELD(h, f, kind);
    HASH_FIELD(h, f, log_mode);
    HASH_FIELD(h, f, log_offset);
    HASH_FIELD(h, f, top_db);
    HASH_FIELD(h, f, n_mfcc);
    HASH_FIELD(h, f, deltas);
    HASH_FIELD(h, f, delta_win);
    HASH_FIELD(h, f, utterance_norm);
    int64_t n = sermo_corpus_size(corpus);
    for (int64_t i = 0; i < n; i++) {
        const sermo_item *it = sermo_corpus_item(corpus, i);
        struct stat st;
        /* Size and mtime catch a file replaced under the same name. */
        int64_t stamp[2] = {0, 0};
        if (stat(it->path, &st) == 0) {
            stamp[0] = st.st_size;
            stamp[1] = st.st_mtime;
        }
        h = sermo_hash64(h, it->path, strlen(it->path) + 1);
        h = sermo_hash64(h, &it->label, sizeof it->label);
        h = sermo_hash64(h, stamp, sizeof stamp);
    }
    return h;
}

static sermo_status write_all(int fd, const void *buf, size_t n, off_t at, const char *path,
                              sermo_error *err) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0) {
            if (errno == EINTR) continue;
            return sermo_fail(err, SERMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        at += w;
        n -= (size_t)w;
    }
    return SERMO_OK;
}

/* One item's features, owned by the chunk until written. */
typedef struct cache_block {
    float *data;
    int64_t n_frames;
    sermo_status status;
    sermo_error err;
} cache_block;

static void compute_block(const sermo_item *it, const sermo_audio_params *ap, sermo_features *feat,
                          cache_block *b) {
    sermo_audio audio;
    b->status = sermo_audio_load_file(it->path, ap, &audio, &b->err);
    if (b->status != SERMO_OK) return;
    b->n_frames = sermo_features_n_frames(feat, audio.n);
    size_t count = (size_t)sermo_features_n_bins(feat) * (size_t)b->n_frames;
    b->data = sermo_alloc(count * sizeof(float), &b->err, it->path);
    if (!b->data) b->status = SERMO_ERR_NOMEM;
    else b->status = sermo_features_compute(feat, audio.samples, audio.n, b->data, &b->err);
    if (b->status != SERMO_OK && !strstr(b->err.msg, it->path)) sermo_fail_prefix(&b->err, b->status, it->path);
    sermo_audio_free(&audio);
}

static sermo_status build(const sermo_corpus *corpus, const sermo_audio_params *ap,
                          const sermo_feature_params *fp, const sermo_cache_params *cp, uint64_t key,
                          const char *path, sermo_error *err) {
    int64_t n = sermo_corpus_size(corpus);
    int threads = cp->threads > 0 ? cp->threads : omp_get_max_threads();
    sermo_features **feats = calloc((size_t)threads, sizeof *feats);
    cache_entry *entries = calloc((size_t)n ? (size_t)n : 1, sizeof *entries);
    cache_block *blocks = calloc(CACHE_CHUNK, sizeof *blocks);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = -1;
    sermo_status st = SERMO_OK;
    if (!feats || !entries || !blocks) {
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int t = 0; t < threads; t++)
        if (!(feats[t] = sermo_features_init(fp, err))) {
            st = err ? err->status : SERMO_ERR_INVALID;
            goto done;
        }
    fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    int32_t n_bins = sermo_features_n_bins(feats[0]);
    uint64_t data_offset = sizeof(cache_header) + (uint64_t)n * sizeof(cache_entry);
    data_offset = (data_offset + 63) & ~(uint64_t)63; /* align the floats for SIMD loads */
    uint64_t written = 0;
    for (int64_t start = 0; start < n && st == SERMO_OK; start += CACHE_CHUNK) {
        int64_t len = n - start < CACHE_CHUNK ? n - start : CACHE_CHUNK;
        memset(blocks, 0, sizeof *blocks * CACHE_CHUNK);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (int64_t j = 0; j < len; j++)
            compute_block(sermo_corpus_item(corpus, start + j), ap, feats[omp_get_thread_num()],
                          &blocks[j]);
        for (int64_t j = 0; j < len; j++) {
            cache_block *b = &blocks[j];
            if (st == SERMO_OK && b->status != SERMO_OK) {
                st = b->status;
                if (err) *err = b->err;
            }
            if (st == SERMO_OK) {
                size_t count = (size_t)n_bins * (size_t)b->n_frames;
                entries[start + j] = (cache_entry){written, (uint64_t)b->n_frames,
                                                   sermo_corpus_item(corpus, start + j)->label, 0};
                st = write_all(fd, b->data, count * sizeof(float),
                               (off_t)(data_offset + written * sizeof(float)), tmp, err);
                written += count;
            }
            free(b->data);
        }
        if (cp->progress) cp->progress(start + len, n, "features", cp->user_data);
    }
    if (st == SERMO_OK) {
        cache_header h = {.version = CACHE_VERSION, .n_bins = (uint32_t)n_bins, .n_items = (uint64_t)n,
                          .key = key, .data_offset = data_offset, .n_floats = written};
        memcpy(h.magic, CACHE_MAGIC, 8);
        st = write_all(fd, entries, (size_t)n * sizeof *entries, sizeof h, tmp, err);
        if (st == SERMO_OK) st = write_all(fd, &h, sizeof h, 0, tmp, err);
        if (st == SERMO_OK && fsync(fd) != 0)
            st = sermo_fail(err, SERMO_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    }
    if (fd >= 0 && close(fd) != 0 && st == SERMO_OK)
        st = sermo_fail(err, SERMO_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    fd = -1;
    if (st == SERMO_OK && rename(tmp, path) != 0)
        st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
done:
    if (fd >= 0) close(fd);
    if (st != SERMO_OK) unlink(tmp);
    if (feats)
        for (int t = 0; t < threads; t++) sermo_features_free(feats[t]);
    free(feats);
    free(entries);
    free(blocks);
    return st;
}

sermo_status sermo_cache_prepare(const sermo_corpus *corpus, const sermo_audio_params *audio,
                                 const sermo_feature_params *features, const sermo_cache_params *params,
                                 char *path_out, size_t path_size, int *built, sermo_error *err) {
    sermo_cache_params defaults;
    if (!params) {
        sermo_cache_default_params(&defaults);
        params = &defaults;
    }
    if (built) *built = 0;
    if (!corpus || !audio || !features || !path_out)
        return sermo_fail(err, SERMO_ERR_INVALID, "cache: missing argument");
    if (sermo_corpus_size(corpus) == 0)
        return sermo_fail(err, SERMO_ERR_EMPTY, "cache: the corpus has no items");
    if (audio->sample_rate <= 0 || audio->sample_rate != features->sample_rate)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "cache: audio.sample_rate (%d) and features.sample_rate (%d) must be equal "
                          "and positive",
                          audio->sample_rate, features->sample_rate);
    const char *dir = params->dir ? params->dir : "cache";
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sermo_fail(err, SERMO_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    uint64_t key = cache_key(corpus, audio, features);
    int len = snprintf(path_out, path_size, "%s/features-%016llx.sfc", dir, (unsigned long long)key);
    if (len < 0 || (size_t)len >= path_size)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: cache path too long", dir);

    /* Reuse only a cache that opens cleanly and carries the same key. */
    sermo_cache *existing = sermo_cache_open(path_out, NULL);
    if (existing) {
        int same = existing->header->key == key &&
                   existing->header->n_items == (uint64_t)sermo_corpus_size(corpus);
        sermo_cache_close(existing);
        if (same) return SERMO_OK;
    }
    sermo_status st = build(corpus, audio, features, params, key, path_out, err);
    if (st == SERMO_OK && built) *built = 1;
    return st;
}

sermo_cache *sermo_cache_open(const char *path, sermo_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(cache_header)) {
        close(fd);
        sermo_fail(err, SERMO_ERR_FORMAT, "%s: too short to be a feature cache", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        close(fd);
        sermo_fail(err, SERMO_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        return NULL;
    }
    const cache_header *h = map;
    const char *why = NULL;
    if (memcmp(h->magic, CACHE_MAGIC, 8) != 0) why = "not a Sermo feature cache";
    else if (h->version != CACHE_VERSION) why = "unsupported cache version";
    else if (h->n_bins == 0 || h->n_items == 0 || h->n_items > size / sizeof(cache_entry) ||
             h->data_offset < sizeof *h + h->n_items * sizeof(cache_entry) || h->data_offset > size ||
             h->n_floats > (size - h->data_offset) / sizeof(float))
        why = "truncated or inconsistent header";
    const cache_entry *e = (const cache_entry *)(h + 1);
    uint64_t max_frames = 0;
    for (uint64_t i = 0; !why && i < h->n_items; i++) {
        if (e[i].n_frames == 0 || e[i].offset > h->n_floats ||
            e[i].n_frames > (h->n_floats - e[i].offset) / h->n_bins)
            why = "an item lies outside the file";
        else if (e[i].n_frames > max_frames)
            max_frames = e[i].n_frames;
    }
    sermo_cache *c = why ? NULL : calloc(1, sizeof *c);
    char *name = c ? strdup(path) : NULL;
    if (!name) {
        free(c);
        munmap(map, size);
        close(fd);
        sermo_fail(err, why ? SERMO_ERR_FORMAT : SERMO_ERR_NOMEM, "%s: %s", path, why ? why : "out of memory");
        return NULL;
    }
    *c = (sermo_cache){map, size, fd, name, (int64_t)max_frames, h, e,
                       (const float *)((const char *)map + h->data_offset)};
    return c;
}

void sermo_cache_close(sermo_cache *cache) {
    if (!cache) return;
    munmap(cache->map, cache->size);
    close(cache->fd);
    free(cache->path);
    free(cache);
}

int64_t sermo_cache_size(const sermo_cache *cache) { return (int64_t)cache->header->n_items; }

int32_t sermo_cache_n_bins(const sermo_cache *cache) { return (int32_t)cache->header->n_bins; }

const float *sermo_cache_item(const sermo_cache *cache, int64_t i, int64_t *n_frames) {
    if (i < 0 || (uint64_t)i >= cache->header->n_items) return NULL;
    if (n_frames) *n_frames = (int64_t)cache->entries[i].n_frames;
    return cache->data + cache->entries[i].offset;
}

int32_t sermo_cache_label(const sermo_cache *cache, int64_t i) {
    if (i < 0 || (uint64_t)i >= cache->header->n_items) return -1;
    return cache->entries[i].label;
}

int64_t sermo_cache_max_frames(const sermo_cache *cache) { return cache->max_frames; }

sermo_status sermo_cache_read_item(const sermo_cache *cache, int64_t i, float *out, size_t cap, int64_t *n_frames,
                                   sermo_error *err) {
    if (i < 0 || (uint64_t)i >= cache->header->n_items)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: no item %lld (%llu items)", cache->path, (long long)i,
                          (unsigned long long)cache->header->n_items);
    const cache_entry *e = &cache->entries[i];
    size_t count = (size_t)cache->header->n_bins * (size_t)e->n_frames;
    if (count > cap)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: item %lld holds %zu floats, the buffer %zu", cache->path,
                          (long long)i, count, cap);
    /* pread, not the mapping: the bytes go through the page cache (which the
     * kernel may reclaim) into out, and nothing stays resident in this
     * process. pread takes no file position, so threads may read at once. */
    char *p = (char *)out;
    size_t left = count * sizeof(float);
    off_t at = (off_t)(cache->header->data_offset + e->offset * sizeof(float));
    while (left > 0) {
        ssize_t got = pread(cache->fd, p, left, at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return sermo_fail(err, SERMO_ERR_IO, "%s: item %lld: %s", cache->path, (long long)i,
                              got < 0 ? strerror(errno) : "the file ends early (truncated since it was opened?)");
        p += got;
        at += got;
        left -= (size_t)got;
    }
    if (n_frames) *n_frames = (int64_t)e->n_frames;
    return SERMO_OK;
}
