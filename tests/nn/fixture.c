/* fixture.c: see fixture.h. Finds a tensor by scanning the JSON header for its
 * quoted key; the writer (tests/nn/gen_fixtures.py) emits compact JSON with
 * the keys "dtype", "shape", "data_offsets" inside each entry. */
#include "nn/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fixture_open(fixture *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture: cannot open %s\n", path);
        return -1;
    }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc(size > 0 ? (size_t)size : 1);
    if (size < 8 || !f->buf || fread(f->buf, 1, (size_t)size, fp) != (size_t)size) {
        fprintf(stderr, "fixture: cannot read %s\n", path);
        fclose(fp);
        fixture_close(f);
        return -1;
    }
    fclose(fp);
    f->size = (size_t)size;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f->buf[i]; /* little-endian u64 */
    if (n > f->size - 8) {
        fprintf(stderr, "fixture: %s: header length %llu past the end\n", path,
                (unsigned long long)n);
        fixture_close(f);
        return -1;
    }
    f->header_len = (size_t)n;
    return 0;
}

/* Position of needle in the header from `from`, or NULL. */
static const char *header_find(const fixture *f, const char *from, const char *needle) {
    const char *end = (const char *)f->buf + 8 + f->header_len;
    size_t n = strlen(needle);
    for (const char *p = from; p + n <= end; p++)
        if (memcmp(p, needle, n) == 0) return p;
    return NULL;
}

/* Reads up to max integers of a JSON array "[a,b,...]" starting at p. */
static int parse_ints(const char *p, long long *v, int max) {
    if (*p != '[') return -1;
    p++;
    int n = 0;
    while (*p != ']') {
        char *e;
        long long x = strtoll(p, &e, 10);
        if (e == p || n == max) return -1;
        v[n++] = x;
        p = e;
        while (*p == ',' || *p == ' ') p++;
    }
    return n;
}

const float *fixture_get(const fixture *f, const char *name, size_t *numel, int64_t *shape,
                         int *ndim) {
    char key[256];
    snprintf(key, sizeof key, "\"%s\":{", name);
    const char *entry = header_find(f, (const char *)f->buf + 8, key);
    const char *close = entry ? header_find(f, entry, "}") : NULL;
    if (!entry || !close) {
        fprintf(stderr, "fixture: no tensor %s\n", name);
        return NULL;
    }
    const char *dt = header_find(f, entry, "\"dtype\":\"F32\"");
    const char *sh = header_find(f, entry, "\"shape\":");
    const char *off = header_find(f, entry, "\"data_offsets\":");
    long long dims[8], offs[2];
    int nd = sh && sh < close ? parse_ints(sh + 8, dims, 8) : -1;
    int no = off && off < close ? parse_ints(off + 15, offs, 2) : -1;
    if (!dt || dt > close || nd < 0 || no != 2) {
        fprintf(stderr, "fixture: %s is not an F32 entry\n", name);
        return NULL;
    }
    size_t count = 1;
    for (int i = 0; i < nd; i++) count *= (size_t)dims[i];
    size_t data = 8 + f->header_len;
    if (offs[0] < 0 || offs[1] < offs[0] || (size_t)(offs[1] - offs[0]) != count * 4 ||
        data + (size_t)offs[1] > f->size || offs[0] % 4) {
        fprintf(stderr, "fixture: %s: bad data offsets\n", name);
        return NULL;
    }
    *numel = count;
    if (ndim) *ndim = nd;
    if (shape)
        for (int i = 0; i < nd && i < 8; i++) shape[i] = dims[i];
    return (const float *)(f->buf + data + offs[0]);
}

void fixture_close(fixture *f) {
    free(f->buf);
    memset(f, 0, sizeof *f);
}
