/* verify.c: sha256 of files (OpenSSL EVP) and checking a corpus folder
 * against a "path<TAB>sha256<TAB>size" list.
 *
 * Matching is by base name, because a user's folder layout rarely matches
 * the list's (the list says "ravdess/Actor_02/x.wav", the user may have a
 * flat folder of a few clips). Several list entries may share a base name
 * (JL-corpus repeats names across speakers): a file is ok when it matches
 * any of them. Counts in sermo_verify_result:
 *   checked     files under dir whose base name is in the list
 *   ok          of those, size and sha256 equal to one entry of that name
 *   mismatched  the others (named in the error message)
 *   missing     list entries of a collection (the list path's first folder,
 *               e.g. "ravdess") that has at least one file under dir, whose
 *               base name is nowhere under dir
 * Files whose names are not in the list are ignored. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VERIFY_MAX_DEPTH 64
#define VERIFY_NAMED 4 /* mismatched files named in the message */

typedef struct verify_entry {
    char *path;       /* as listed */
    const char *base; /* into path */
    size_t group_len; /* length of the first folder of path (0: none) */
    char sha[65];
    int64_t size;
    int found;        /* a file of this base name exists under dir */
} verify_entry;

typedef struct verify_list {
    verify_entry *v; /* sorted by base name */
    int64_t n, cap;
} verify_list;

typedef struct verify_file {
    char *path;
    int64_t first, count; /* entries with the same base name */
} verify_file;

typedef struct verify_files {
    verify_file *v;
    int64_t n, cap;
} verify_files;

sermo_status sermo_sha256_file(const char *path, char hex[65], sermo_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot start sha256", path);
    }
    unsigned char buf[1 << 16];
    size_t got;
    sermo_status st = SERMO_OK;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (EVP_DigestUpdate(ctx, buf, got) != 1) {
            st = sermo_fail(err, SERMO_ERR_IO, "%s: sha256 update failed", path);
            break;
        }
    }
    if (st == SERMO_OK && ferror(f)) st = sermo_fail(err, SERMO_ERR_IO, "%s: read error", path);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (st == SERMO_OK && (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32))
        st = sermo_fail(err, SERMO_ERR_IO, "%s: sha256 final failed", path);
    if (st == SERMO_OK)
        for (unsigned int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return st;
}

static const char *verify_base(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int verify_cmp_entry(const void *a, const void *b) {
    return strcmp(((const verify_entry *)a)->base, ((const verify_entry *)b)->base);
}

static void verify_list_free(verify_list *list) {
    for (int64_t i = 0; i < list->n; i++) free(list->v[i].path);
    free(list->v);
}

/* One "path<TAB>sha256<TAB>size" line (without its newline) into *e. */
static int verify_parse_line(char *line, verify_entry *e, const char **why) {
    char *tab1 = strchr(line, '\t');
    char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    if (!tab1 || !tab2 || strchr(tab2 + 1, '\t')) return *why = "expected path<TAB>sha256<TAB>size", 0;
    *tab1 = *tab2 = '\0';
    const char *sha = tab1 + 1, *size = tab2 + 1;
    if (line[0] == '\0' || line[strlen(line) - 1] == '/') return *why = "empty path or base name", 0;
    if (strlen(sha) != 64 || strspn(sha, "0123456789abcdefABCDEF") != 64)
        return *why = "sha256 must be 64 hex digits", 0;
    char *end;
    errno = 0;
    long long n = strtoll(size, &end, 10);
    if (end == size || *end != '\0' || n < 0 || errno == ERANGE) return *why = "size must be a byte count", 0;
    for (int i = 0; i < 64; i++) e->sha[i] = (char)(sha[i] | 0x20); /* lower case hex */
    e->sha[64] = '\0';
    e->size = n;
    e->path = strdup(line);
    if (!e->path) return *why = "out of memory", 0;
    e->base = verify_base(e->path);
    const char *slash = strchr(e->path, '/');
    e->group_len = slash ? (size_t)(slash - e->path) : 0;
    e->found = 0;
    return 1;
}

static sermo_status verify_read_list(const char *path, verify_list *list, sermo_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    sermo_status st = SERMO_OK;
    while (st == SERMO_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        if (list->n == list->cap) {
            int64_t ncap = list->cap ? list->cap * 2 : 1024;
            verify_entry *v = realloc(list->v, sizeof *v * (size_t)ncap);
            if (!v) {
                st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            list->v = v;
            list->cap = ncap;
        }
        const char *why = NULL;
        if (!verify_parse_line(line, &list->v[list->n], &why))
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: %s", path, (long long)lineno, why);
        else list->n++;
    }
    if (st == SERMO_OK && ferror(f)) st = sermo_fail(err, SERMO_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    if (st == SERMO_OK && list->n == 0) st = sermo_fail(err, SERMO_ERR_EMPTY, "%s: no entries", path);
    if (st == SERMO_OK) qsort(list->v, (size_t)list->n, sizeof *list->v, verify_cmp_entry);
    return st;
}

/* The range of entries with base name `base`: *count = 0 when none. */
static int64_t verify_find(const verify_list *list, const char *base, int64_t *count) {
    int64_t lo = 0, hi = list->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (strcmp(list->v[mid].base, base) < 0) lo = mid + 1;
        else hi = mid;
    }
    int64_t end = lo;
    while (end < list->n && strcmp(list->v[end].base, base) == 0) end++;
    *count = end - lo;
    return lo;
}

/* Collect the regular files under dir whose base name is listed. */
static sermo_status verify_walk(const char *dir, int depth, verify_list *list, verify_files *files,
                                sermo_error *err) {
    if (depth > VERIFY_MAX_DEPTH) return sermo_fail(err, SERMO_ERR_INVALID, "%s: folders nested too deeply", dir);
    DIR *d = opendir(dir);
    if (!d) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    sermo_status st = SERMO_OK;
    while (st == SERMO_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        snprintf(path, len, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            st = sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            st = verify_walk(path, depth + 1, list, files, err);
        } else if (S_ISREG(sb.st_mode)) {
            int64_t count, first = verify_find(list, de->d_name, &count);
            if (count > 0) {
                if (files->n == files->cap) {
                    int64_t ncap = files->cap ? files->cap * 2 : 256;
                    verify_file *v = realloc(files->v, sizeof *v * (size_t)ncap);
                    if (!v) {
                        free(path);
                        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
                        break;
                    }
                    files->v = v;
                    files->cap = ncap;
                }
                files->v[files->n++] = (verify_file){path, first, count};
                for (int64_t i = first; i < first + count; i++) list->v[i].found = 1;
                path = NULL; /* owned by files now */
            }
        }
        free(path);
    }
    closedir(d);
    return st;
}

/* Is file f one of its candidate entries? Hashes only when a size matches. */
static sermo_status verify_one(const verify_list *list, const verify_file *f, int *ok, char *why, size_t why_size,
                               sermo_error *err) {
    struct stat sb;
    if (stat(f->path, &sb) != 0) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", f->path, strerror(errno));
    *ok = 0;
    int size_match = 0;
    for (int64_t i = f->first; i < f->first + f->count; i++) size_match |= list->v[i].size == (int64_t)sb.st_size;
    if (!size_match) {
        snprintf(why, why_size, "size %lld, listed %lld", (long long)sb.st_size, (long long)list->v[f->first].size);
        return SERMO_OK;
    }
    char hex[65];
    sermo_status st = sermo_sha256_file(f->path, hex, err);
    if (st != SERMO_OK) return st;
    for (int64_t i = f->first; i < f->first + f->count && !*ok; i++)
        *ok = list->v[i].size == (int64_t)sb.st_size && strcmp(list->v[i].sha, hex) == 0;
    if (!*ok) snprintf(why, why_size, "sha256 %.12s..., listed %.12s...", hex, list->v[f->first].sha);
    return SERMO_OK;
}

/* Entries never found, in collections where something was found. The
 * collections found are few (a list holds a handful of corpora). */
static int64_t verify_count_missing(const verify_list *list) {
    enum { MAX_GROUPS = 64 };
    const verify_entry *groups[MAX_GROUPS];
    int32_t n_groups = 0;
    for (int64_t i = 0; i < list->n; i++) {
        const verify_entry *e = &list->v[i];
        if (!e->found) continue;
        int32_t g = 0;
        while (g < n_groups && !(groups[g]->group_len == e->group_len && memcmp(groups[g]->path, e->path, e->group_len) == 0))
            g++;
        if (g == n_groups && n_groups < MAX_GROUPS) groups[n_groups++] = e;
    }
    int64_t missing = 0;
    for (int64_t i = 0; i < list->n; i++) {
        const verify_entry *e = &list->v[i];
        if (e->found) continue;
        for (int32_t g = 0; g < n_groups; g++) {
            if (groups[g]->group_len == e->group_len && memcmp(groups[g]->path, e->path, e->group_len) == 0) {
                missing++;
                break;
            }
        }
    }
    return missing;
}

sermo_status sermo_data_verify(const char *dir, const char *list_path, sermo_verify_result *result,
                               sermo_progress_fn progress, void *user_data, sermo_error *err) {
    sermo_verify_result res = {0, 0, 0, 0};
    if (result) *result = res;
    if (!dir || !list_path) return sermo_fail(err, SERMO_ERR_INVALID, "verify: no folder or list given");
    verify_list list = {0};
    verify_files files = {0};
    sermo_status st = verify_read_list(list_path, &list, err);
    if (st == SERMO_OK) st = verify_walk(dir, 0, &list, &files, err);

    char named[SERMO_ERROR_MAX] = "";
    for (int64_t i = 0; st == SERMO_OK && i < files.n; i++) {
        int ok = 0;
        char why[96];
        st = verify_one(&list, &files.v[i], &ok, why, sizeof why, err);
        if (st != SERMO_OK) break;
        res.checked++;
        if (ok) {
            res.ok++;
        } else if (res.mismatched++ < VERIFY_NAMED) {
            size_t used = strlen(named);
            snprintf(named + used, sizeof named - used, "%s%s (%s)", used ? "; " : "", files.v[i].path, why);
        }
        if (progress) progress(i + 1, files.n, files.v[i].path, user_data);
    }
    if (st == SERMO_OK) {
        res.missing = verify_count_missing(&list);
        if (res.mismatched > 0)
            st = sermo_fail(err, SERMO_ERR_CHECKSUM, "%s: %lld of %lld files do not match %s: %s%s", dir,
                            (long long)res.mismatched, (long long)res.checked, list_path, named,
                            res.mismatched > VERIFY_NAMED ? "; ..." : "");
        else if (res.checked == 0)
            st = sermo_fail(err, SERMO_ERR_EMPTY, "%s: no file named in %s was found", dir, list_path);
    }
    if (result) *result = res;
    for (int64_t i = 0; i < files.n; i++) free(files.v[i].path);
    free(files.v);
    verify_list_free(&list);
    return st;
}
