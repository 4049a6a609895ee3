/* atomic.c: write a file so that readers see the old version or the whole new
 * one, never half: a temp file beside the target, fsync, then rename. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sermo_status sermo_atomic_open(sermo_atomic_file *af, const char *path, sermo_error *err) {
    memset(af, 0, sizeof *af);
    af->path = path;
    size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
    if (!(af->tmp = sermo_alloc(n, err, path))) return SERMO_ERR_NOMEM;
    snprintf(af->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL;
        return sermo_fail(err, SERMO_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; our outputs are not secrets */
    if (!(af->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        free(af->tmp);
        af->tmp = NULL;
        return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(e));
    }
    return SERMO_OK;
}

/* Best effort: make the rename itself durable by syncing the folder. */
static void sync_parent(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

sermo_status sermo_atomic_close(sermo_atomic_file *af, sermo_status st, sermo_error *err) {
    if (!af->f) return st;
    if (st == SERMO_OK && (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0))
        st = sermo_fail(err, SERMO_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    if (fclose(af->f) != 0 && st == SERMO_OK)
        st = sermo_fail(err, SERMO_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    af->f = NULL;
    if (st == SERMO_OK && rename(af->tmp, af->path) != 0)
        st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot rename into place: %s", af->path, strerror(errno));
    if (st == SERMO_OK) sync_parent(af->path);
    else unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    return st;
}
