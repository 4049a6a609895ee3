/* source.c: byte sources behind libsndfile's SF_VIRTUAL_IO, one over a FILE*
 * and one over a memory buffer, so every decode goes through sf_open_virtual
 * (as libsndfile's own OSS-Fuzz harness does). Sources are read-only: write
 * callbacks refuse. */
#include "audio_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ file (FILE*) */

static sf_count_t file_get_filelen(void *user) {
    return ((sermo_audio_source *)user)->size;
}

static sf_count_t file_seek(sf_count_t offset, int whence, void *user) {
    sermo_audio_source *src = user;
    if (fseeko(src->file, (off_t)offset, whence) != 0) return -1;
    return (sf_count_t)ftello(src->file);
}

static sf_count_t file_read(void *ptr, sf_count_t count, void *user) {
    sermo_audio_source *src = user;
    if (count <= 0) return 0;
    return (sf_count_t)fread(ptr, 1, (size_t)count, src->file);
}

static sf_count_t file_tell(void *user) {
    return (sf_count_t)ftello(((sermo_audio_source *)user)->file);
}

/* ---------------------------------------------------------------- memory */

static sf_count_t mem_get_filelen(void *user) {
    return ((sermo_audio_source *)user)->size;
}

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user) {
    sermo_audio_source *src = user;
    sf_count_t base;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = src->pos; break;
    case SEEK_END: base = src->size; break;
    default: return -1;
    }
    /* Overflow-safe bounds: a fuzzed header can ask for any offset. Seeking
     * past the end is allowed (as with lseek); reads there return 0. */
    if (offset < -base || offset > INT64_MAX - base) return -1;
    src->pos = base + offset;
    return src->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user) {
    sermo_audio_source *src = user;
    if (count <= 0 || src->pos >= src->size) return 0;
    sf_count_t left = src->size - src->pos;
    if (count > left) count = left;
    memcpy(ptr, src->data + src->pos, (size_t)count);
    src->pos += count;
    return count;
}

static sf_count_t mem_tell(void *user) {
    return ((sermo_audio_source *)user)->pos;
}

static sf_count_t source_write(const void *ptr, sf_count_t count, void *user) {
    (void)ptr, (void)count, (void)user;
    return 0;
}

/* ---------------------------------------------------------------- public */

sermo_status sermo_audio_source_open_file(sermo_audio_source *src, const char *path, sermo_error *err) {
    memset(src, 0, sizeof *src);
    src->name = path;
    FILE *f = fopen(path, "rb");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* fopen succeeds on a directory and a FIFO cannot seek: refuse both here
     * with a clear reason rather than a decoder's puzzled one. */
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path,
                          S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    src->file = f;
    src->size = (sf_count_t)st.st_size;
    src->io = (SF_VIRTUAL_IO){file_get_filelen, file_seek, file_read, source_write, file_tell};
    return SERMO_OK;
}

void sermo_audio_source_open_memory(sermo_audio_source *src, const void *data, size_t size,
                                    const char *name) {
    memset(src, 0, sizeof *src);
    src->name = name;
    src->data = data;
    src->size = (sf_count_t)size;
    src->io = (SF_VIRTUAL_IO){mem_get_filelen, mem_seek, mem_read, source_write, mem_tell};
}

void sermo_audio_source_close(sermo_audio_source *src) {
    if (src->file) fclose(src->file);
    src->file = NULL;
}
