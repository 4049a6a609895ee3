/* test_atomic.c: atomic output commits whole files, keeps the old file when
 * the writer reports failure, and names the path on errors. */
#include "check.h"
#include "internal.h"

#include <dirent.h>
#include <unistd.h>

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void read_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

int main(void) {
    char dir[] = "/tmp/sermo_test_atomic_XXXXXX", path[256], buf[64];
    if (!mkdtemp(dir)) SKIP("cannot make a temp dir");
    snprintf(path, sizeof path, "%s/out.txt", dir);
    sermo_error err;
    sermo_atomic_file af;

    CHECK(sermo_atomic_open(&af, path, &err) == SERMO_OK, "open: %s", err.msg);
    fputs("first", af.f);
    CHECK(access(path, F_OK) != 0, "target exists before commit");
    CHECK(sermo_atomic_close(&af, SERMO_OK, &err) == SERMO_OK, "commit: %s", err.msg);
    read_file(path, buf, sizeof buf);
    CHECK(!strcmp(buf, "first"), "content '%s'", buf);

    /* A writer that failed half-way: the old file stays, the temp goes. */
    CHECK(sermo_atomic_open(&af, path, &err) == SERMO_OK, "reopen: %s", err.msg);
    fputs("second, half", af.f);
    CHECK(sermo_atomic_close(&af, SERMO_ERR_IO, &err) == SERMO_ERR_IO, "failure passes through");
    read_file(path, buf, sizeof buf);
    CHECK(!strcmp(buf, "first"), "old content kept: '%s'", buf);
    CHECK(count_entries(dir) == 1, "temp file left: %d entries", count_entries(dir));

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/out.txt", dir);
    CHECK(sermo_atomic_open(&af, missing, &err) == SERMO_ERR_IO && strstr(err.msg, missing),
          "missing dir: %s", err.msg);

    unlink(path);
    rmdir(dir);
    return check_report();
}
