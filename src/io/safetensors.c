/* safetensors.c: the safetensors model file format, read (mmap + validation)
 * and written (atomically). Format and validation rules follow the reference
 * implementation, huggingface/safetensors safetensors/src/tensor.rs:
 * header length < 100 MB, header starts with '{' and is UTF-8 JSON, tensors
 * sorted by data_offsets must tile the buffer exactly, and each tensor's
 * byte span equals numel * dtype size. */
#include "io/safetensors.h"

#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct sermo_st_file {
    char *name;
    const uint8_t *base; /* whole file */
    size_t size;
    int mapped;          /* base is our mmap */
    cJSON *root;         /* owns the name, key and value strings */
    int n;
    sermo_st_tensor *tensors; /* (n) sorted by data offset */
    struct st_name_entry *by_name; /* (n) sorted by name */
    int n_meta;
    const char **meta_keys, **meta_values; /* (n_meta) */
};

static const struct {
    const char *name;
    size_t size;
} st_dtypes[SERMO_ST_N_DTYPES] = {
    [SERMO_ST_BOOL] = {"BOOL", 1},       [SERMO_ST_U8] = {"U8", 1},     [SERMO_ST_I8] = {"I8", 1},
    [SERMO_ST_F8_E5M2] = {"F8_E5M2", 1}, [SERMO_ST_F8_E4M3] = {"F8_E4M3", 1},
    [SERMO_ST_I16] = {"I16", 2},         [SERMO_ST_U16] = {"U16", 2},   [SERMO_ST_F16] = {"F16", 2},
    [SERMO_ST_BF16] = {"BF16", 2},       [SERMO_ST_I32] = {"I32", 4},   [SERMO_ST_U32] = {"U32", 4},
    [SERMO_ST_F32] = {"F32", 4},         [SERMO_ST_I64] = {"I64", 8},   [SERMO_ST_U64] = {"U64", 8},
    [SERMO_ST_F64] = {"F64", 8},
};

/* JSON numbers are doubles in cJSON: integers above 2^53 cannot be told apart. */
#define ST_JSON_INT_MAX 9007199254740992.0

const char *sermo_st_dtype_name(sermo_st_dtype dtype) {
    return (unsigned)dtype < SERMO_ST_N_DTYPES ? st_dtypes[dtype].name : NULL;
}

int sermo_st_dtype_from_name(const char *name) {
    for (int i = 0; name && i < SERMO_ST_N_DTYPES; i++)
        if (strcmp(name, st_dtypes[i].name) == 0) return i;
    return -1;
}

size_t sermo_st_dtype_size(sermo_st_dtype dtype) {
    return (unsigned)dtype < SERMO_ST_N_DTYPES ? st_dtypes[dtype].size : 0;
}

/* numel * dtype size without overflow; 0 on overflow or a bad tensor. */
static int st_span(sermo_st_dtype dtype, int ndim, const int64_t *shape, uint64_t *numel, uint64_t *bytes) {
    uint64_t n = 1;
    if (ndim < 0 || ndim > SERMO_ST_MAX_DIMS || sermo_st_dtype_size(dtype) == 0) return 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[d], &n)) return 0;
    }
    if (numel) *numel = n;
    return !__builtin_mul_overflow(n, (uint64_t)sermo_st_dtype_size(dtype), bytes) && *bytes <= SIZE_MAX;
}

int64_t sermo_st_numel(const sermo_st_tensor *t) {
    uint64_t n, b;
    return st_span(t->dtype, t->ndim, t->shape, &n, &b) && n <= INT64_MAX ? (int64_t)n : -1;
}

size_t sermo_st_nbytes(const sermo_st_tensor *t) {
    uint64_t b;
    return st_span(t->dtype, t->ndim, t->shape, NULL, &b) ? (size_t)b : 0;
}

int sermo_st_is_aligned(const sermo_st_tensor *t) {
    size_t a = sermo_st_dtype_size(t->dtype);
    return a && (uintptr_t)t->data % a == 0;
}

/* Offset of the first byte that is not UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) or a NUL, or -1 when all are fine. */
static long st_utf8_error(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0) return (long)i;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07;
        } else {
            return (long)i;
        }
        if (n - i < len) return (long)i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return (long)i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long)i;
        i += len;
    }
    return -1;
}

/* ------------------------------------------------------------------ reading */

static sermo_status st_bad(sermo_error *err, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sermo_status st_bad(sermo_error *err, const char *file, const char *fmt, ...) {
    char reason[SERMO_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return sermo_fail(err, SERMO_ERR_FORMAT, "%s: %s", file, reason);
}

/* A JSON number that is a non-negative integer up to 2^53; else a reason. */
static const char *st_json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return "is not a number";
    double v = item->valuedouble;
    if (v < 0) return "is negative";
    if (!(v <= ST_JSON_INT_MAX)) return "is too large";
    if (v != (double)(uint64_t)v) return "is not an integer";
    *out = (uint64_t)v;
    return NULL;
}

/* "[2,3,4]" into buf. */
static const char *st_shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* Per tensor while parsing: its byte range, for the tiling check. */
typedef struct st_span_entry {
    uint64_t begin, end;
    int index; /* header order, so equal offsets sort stably */
} st_span_entry;

static int st_cmp_span(const void *a, const void *b) {
    const st_span_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Name index entry: sorting these needs no context pointer (qsort_r is not C11). */
typedef struct st_name_entry {
    const char *name;
    int index;
} st_name_entry;

static int st_cmp_name(const void *a, const void *b) {
    return strcmp(((const st_name_entry *)a)->name, ((const st_name_entry *)b)->name);
}

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A status with "<file>: duplicate <what> '<name>'" for the first repeated
 * string among n, or SERMO_OK. */
static sermo_status st_check_unique(const char *file, sermo_status status, const char *what,
                                    const char *const *names, int n, sermo_error *err) {
    if (n < 2) return SERMO_OK;
    const char **sorted = sermo_alloc(sizeof *sorted * (size_t)n, err, file);
    if (!sorted) return SERMO_ERR_NOMEM;
    memcpy(sorted, names, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, st_cmp_str);
    sermo_status st = SERMO_OK;
    for (int i = 1; i < n && st == SERMO_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            st = sermo_fail(err, status, "%s: duplicate %s '%.200s'", file, what, sorted[i]);
    free(sorted);
    return st;
}

static sermo_status st_parse_meta(sermo_st_file *f, const cJSON *meta, sermo_error *err) {
    if (!cJSON_IsObject(meta)) return st_bad(err, f->name, "\"__metadata__\" is not an object");
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = sermo_alloc(sizeof(char *) * (size_t)(n ? n : 1), err, f->name);
    f->meta_values = sermo_alloc(sizeof(char *) * (size_t)(n ? n : 1), err, f->name);
    if (!f->meta_keys || !f->meta_values) return SERMO_ERR_NOMEM;
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return st_bad(err, f->name, "metadata '%.200s': value is not a string", m->string);
        f->meta_keys[f->n_meta] = m->string;
        f->meta_values[f->n_meta++] = m->valuestring;
    }
    return st_check_unique(f->name, SERMO_ERR_FORMAT, "metadata key", f->meta_keys, n, err);
}

/* One tensor entry into t and its byte range into span. */
static sermo_status st_parse_tensor(const sermo_st_file *f, const cJSON *e, uint64_t buffer_size,
                                    sermo_st_tensor *t, st_span_entry *span, sermo_error *err) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return st_bad(err, f->name, "tensor '%.200s': entry is not an object", nm);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &dtype
                             : strcmp(c->string, "shape") == 0        ? &shape
                             : strcmp(c->string, "data_offsets") == 0 ? &offsets
                                                                      : NULL;
        if (slot && *slot) return st_bad(err, f->name, "tensor '%.200s': duplicate \"%s\"", nm, c->string);
        if (slot) *slot = c;
    }
    if (!dtype || !shape || !offsets)
        return st_bad(err, f->name, "tensor '%.200s': missing \"%s\"", nm,
                      !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!cJSON_IsString(dtype)) return st_bad(err, f->name, "tensor '%.200s': \"dtype\" is not a string", nm);
    int dt = sermo_st_dtype_from_name(dtype->valuestring);
    if (dt < 0) return st_bad(err, f->name, "tensor '%.200s': unknown dtype '%.40s'", nm, dtype->valuestring);
    if (!cJSON_IsArray(shape)) return st_bad(err, f->name, "tensor '%.200s': \"shape\" is not an array", nm);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SERMO_ST_MAX_DIMS)
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: tensor '%.200s': %d dims, at most %d supported",
                          f->name, nm, ndim, SERMO_ST_MAX_DIMS);
    *t = (sermo_st_tensor){.name = nm, .dtype = (sermo_st_dtype)dt, .ndim = ndim};
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        uint64_t v = 0;
        const char *why = st_json_uint(c, &v);
        if (why) return st_bad(err, f->name, "tensor '%.200s': shape[%d] %s", nm, d, why);
        t->shape[d] = (int64_t)v;
    }
    uint64_t off[2] = {0, 0};
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return st_bad(err, f->name, "tensor '%.200s': \"data_offsets\" is not an array of 2 numbers", nm);
    d = 0;
    for (const cJSON *c = offsets->child; c; c = c->next, d++) {
        const char *why = st_json_uint(c, &off[d]);
        if (why) return st_bad(err, f->name, "tensor '%.200s': data_offsets[%d] %s", nm, d, why);
    }
    if (off[0] > off[1])
        return st_bad(err, f->name, "tensor '%.200s': data_offsets [%llu,%llu] end before they begin", nm,
                      (unsigned long long)off[0], (unsigned long long)off[1]);
    if (off[1] > buffer_size)
        return st_bad(err, f->name, "tensor '%.200s': data_offsets [%llu,%llu] beyond the %llu-byte data buffer",
                      nm, (unsigned long long)off[0], (unsigned long long)off[1],
                      (unsigned long long)buffer_size);
    uint64_t bytes;
    char sh[160];
    if (!st_span(t->dtype, t->ndim, t->shape, NULL, &bytes))
        return st_bad(err, f->name, "tensor '%.200s': shape %s is too large", nm,
                      st_shape_str(sh, sizeof sh, t->ndim, t->shape));
    if (bytes != off[1] - off[0])
        return st_bad(err, f->name,
                      "tensor '%.200s': shape %s of %s needs %llu bytes but data_offsets [%llu,%llu] hold %llu",
                      nm, st_shape_str(sh, sizeof sh, t->ndim, t->shape), dtype->valuestring,
                      (unsigned long long)bytes, (unsigned long long)off[0], (unsigned long long)off[1],
                      (unsigned long long)(off[1] - off[0]));
    span->begin = off[0];
    span->end = off[1];
    return SERMO_OK;
}

/* Everything after the header length: JSON, entries, tiling, name index. */
static sermo_status st_parse(sermo_st_file *f, sermo_error *err) {
    if (f->size < 8) return st_bad(err, f->name, "file is %zu bytes, shorter than the 8-byte header length", f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->base[i];
    if (hlen > SERMO_ST_HEADER_MAX)
        return st_bad(err, f->name, "header length %llu is absurd (over %u bytes): not a safetensors file?",
                      (unsigned long long)hlen, SERMO_ST_HEADER_MAX);
    if (hlen > f->size - 8)
        return st_bad(err, f->name, "header length %llu runs past the end of the file (%zu bytes)",
                      (unsigned long long)hlen, f->size);
    const uint8_t *h = f->base + 8;
    if (hlen < 2 || h[0] != '{') return st_bad(err, f->name, "header is empty or does not start with '{'");
    long bad = st_utf8_error(h, (size_t)hlen);
    if (bad >= 0) return st_bad(err, f->name, "header is not UTF-8 text or holds a NUL (byte %ld)", bad);
    /* A NUL-terminated copy: cJSON then cannot read past the mapping. */
    char *text = sermo_alloc((size_t)hlen + 1, err, f->name);
    if (!text) return SERMO_ERR_NOMEM;
    memcpy(text, h, (size_t)hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    size_t used = f->root && end ? (size_t)(end - text) : 0;
    free(text);
    if (!f->root) return st_bad(err, f->name, "header is not valid JSON (near byte %zu)", used);
    for (size_t i = used; i < hlen; i++)
        if (!strchr(" \t\r\n", h[i]))
            return st_bad(err, f->name, "header has text after the JSON object (byte %zu)", i);
    if (!cJSON_IsObject(f->root)) return st_bad(err, f->name, "header is not a JSON object");

    uint64_t buffer_size = f->size - 8 - hlen;
    int n_entries = cJSON_GetArraySize(f->root);
    f->tensors = sermo_alloc(sizeof *f->tensors * (size_t)(n_entries ? n_entries : 1), err, f->name);
    st_span_entry *spans = sermo_alloc(sizeof *spans * (size_t)(n_entries ? n_entries : 1), err, f->name);
    sermo_st_tensor *parsed = sermo_alloc(sizeof *parsed * (size_t)(n_entries ? n_entries : 1), err, f->name);
    sermo_status st = f->tensors && spans && parsed ? SERMO_OK : SERMO_ERR_NOMEM;
    const cJSON *meta = NULL;
    for (const cJSON *e = f->root->child; e && st == SERMO_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (meta) st = st_bad(err, f->name, "duplicate \"__metadata__\"");
            meta = e;
            continue;
        }
        st = st_parse_tensor(f, e, buffer_size, &parsed[f->n], &spans[f->n], err);
        spans[f->n].index = f->n;
        f->n++;
    }
    if (st == SERMO_OK && meta) st = st_parse_meta(f, meta, err);
    /* Duplicates first: two entries for one name would otherwise read as an overlap. */
    if (st == SERMO_OK && !(f->by_name = sermo_alloc(sizeof *f->by_name * (size_t)(f->n ? f->n : 1), err, f->name)))
        st = SERMO_ERR_NOMEM;
    if (st == SERMO_OK) {
        for (int i = 0; i < f->n; i++) f->by_name[i] = (st_name_entry){parsed[i].name, i};
        qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, st_cmp_name);
        for (int i = 1; i < f->n && st == SERMO_OK; i++)
            if (strcmp(f->by_name[i - 1].name, f->by_name[i].name) == 0)
                st = st_bad(err, f->name, "duplicate tensor '%.200s'", f->by_name[i].name);
    }
    if (st == SERMO_OK) {
        /* Tile check as the reference does it: sorted by (begin, end), each
         * tensor starts where the previous one ended, the last ends the buffer. */
        qsort(spans, (size_t)f->n, sizeof *spans, st_cmp_span);
        uint64_t pos = 0;
        for (int i = 0; i < f->n && st == SERMO_OK; i++) {
            const st_span_entry *s = &spans[i];
            const char *nm = parsed[s->index].name;
            if (s->begin > pos)
                st = st_bad(err, f->name, "hole: data bytes [%llu,%llu) before tensor '%.200s' belong to no tensor",
                            (unsigned long long)pos, (unsigned long long)s->begin, nm);
            else if (s->begin < pos)
                st = st_bad(err, f->name, "tensor '%.200s': data_offsets [%llu,%llu] overlap tensor '%.200s'", nm,
                            (unsigned long long)s->begin, (unsigned long long)s->end,
                            parsed[spans[i - 1].index].name);
            pos = s->end;
            f->tensors[i] = parsed[s->index];
            f->tensors[i].data = f->base + 8 + hlen + s->begin;
        }
        if (st == SERMO_OK && pos != buffer_size)
            st = st_bad(err, f->name, "data bytes [%llu,%llu) at the end of the file belong to no tensor",
                        (unsigned long long)pos, (unsigned long long)buffer_size);
    }
    if (st == SERMO_OK) {
        /* by_name indexed header order; point it at the sorted tensors. parsed
         * is free scratch now: reuse its ndim as header index -> position. */
        for (int i = 0; i < f->n; i++) parsed[spans[i].index].ndim = i;
        for (int i = 0; i < f->n; i++) f->by_name[i].index = parsed[f->by_name[i].index].ndim;
    }
    free(spans);
    free(parsed);
    return st;
}

static sermo_st_file *st_new(const char *name, sermo_error *err) {
    sermo_st_file *f = sermo_alloc(sizeof *f, err, name);
    if (!f) return NULL;
    *f = (sermo_st_file){0};
    size_t len = strlen(name);
    f->name = sermo_alloc(len + 1, err, name);
    if (!f->name) {
        free(f);
        return NULL;
    }
    memcpy(f->name, name, len + 1);
    return f;
}

void sermo_st_close(sermo_st_file *f) {
    if (!f) return;
    if (f->mapped) munmap((void *)f->base, f->size);
    cJSON_Delete(f->root);
    free(f->tensors);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->name);
    free(f);
}

sermo_st_file *sermo_st_open_memory(const void *data, size_t size, const char *name, sermo_error *err) {
    if (!name) name = "<memory>";
    if (!data && size) {
        sermo_fail(err, SERMO_ERR_INVALID, "%s: no data", name);
        return NULL;
    }
    sermo_st_file *f = st_new(name, err);
    if (!f) return NULL;
    f->base = data;
    f->size = size;
    if (st_parse(f, err) != SERMO_OK) {
        sermo_st_close(f);
        return NULL;
    }
    return f;
}

sermo_st_file *sermo_st_open(const char *path, sermo_error *err) {
    if (!path) {
        sermo_fail(err, SERMO_ERR_INVALID, "safetensors: no path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sermo_fail(err, SERMO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    int stat_ok = fstat(fd, &sb) == 0;
    if (!stat_ok || !S_ISREG(sb.st_mode)) {
        sermo_fail(err, SERMO_ERR_IO, "%s: %s", path,
                   !stat_ok ? strerror(errno) : S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return NULL;
    }
    sermo_st_file *f = st_new(path, err);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->size = (size_t)sb.st_size;
    if (f->size >= 8) { /* mmap of 0 bytes fails; st_parse reports the short file */
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            sermo_fail(err, SERMO_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            sermo_st_close(f);
            return NULL;
        }
        f->base = p;
        f->mapped = 1;
    }
    close(fd);
    if (st_parse(f, err) != SERMO_OK) {
        sermo_st_close(f);
        return NULL;
    }
    return f;
}

const char *sermo_st_name(const sermo_st_file *f) { return f ? f->name : NULL; }
int sermo_st_n_tensors(const sermo_st_file *f) { return f ? f->n : 0; }

const sermo_st_tensor *sermo_st_tensor_at(const sermo_st_file *f, int i) {
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const sermo_st_tensor *sermo_st_find(const sermo_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    st_name_entry key = {name, 0};
    const st_name_entry *e = bsearch(&key, f->by_name, (size_t)f->n, sizeof key, st_cmp_name);
    return e ? &f->tensors[e->index] : NULL;
}

int sermo_st_n_meta(const sermo_st_file *f) { return f ? f->n_meta : 0; }

const char *sermo_st_meta(const sermo_st_file *f, const char *key) {
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

const char *sermo_st_meta_at(const sermo_st_file *f, int i, const char **value) {
    if (!f || i < 0 || i >= f->n_meta) return NULL;
    if (value) *value = f->meta_values[i];
    return f->meta_keys[i];
}

sermo_status sermo_st_expect(const sermo_st_file *f, const char *name, sermo_st_dtype dtype, int ndim,
                             const int64_t *shape, sermo_error *err) {
    if (!f || !name || ndim < 0 || ndim > SERMO_ST_MAX_DIMS || (ndim && !shape))
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: bad arguments to sermo_st_expect", f ? f->name : "safetensors");
    const sermo_st_tensor *t = sermo_st_find(f, name);
    if (!t) return st_bad(err, f->name, "missing tensor '%.200s'", name);
    if (t->dtype != dtype)
        return st_bad(err, f->name, "tensor '%.200s': dtype %s expected %s", name, sermo_st_dtype_name(t->dtype),
                      sermo_st_dtype_name(dtype) ? sermo_st_dtype_name(dtype) : "?");
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char got[160], want[160];
        return st_bad(err, f->name, "tensor '%.200s': shape %s expected %s", name,
                      st_shape_str(got, sizeof got, t->ndim, t->shape), st_shape_str(want, sizeof want, ndim, shape));
    }
    return SERMO_OK;
}

/* ------------------------------------------------------------------ writing */

typedef struct st_buf {
    char *p;
    size_t len, cap;
    int oom;
} st_buf;

static void st_put(st_buf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void st_puts(st_buf *b, const char *s) { st_put(b, s, strlen(s)); }

/* A JSON string escaped the way Python's json.dumps(ensure_ascii=False)
 * does, so files match byte for byte: short escapes where JSON has them,
 * \u00xx for other control characters, UTF-8 as is. */
static void st_put_json_string(st_buf *b, const char *s) {
    st_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (!e && c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            e = esc;
        }
        if (e) st_puts(b, e);
        else st_put(b, s, 1);
    }
    st_puts(b, "\"");
}

static sermo_status st_check_name(const char *label, const char *what, const char *name, int i, sermo_error *err) {
    if (!name) return sermo_fail(err, SERMO_ERR_INVALID, "%s: %s %d: no name", label, what, i);
    size_t len = strlen(name);
    if (len == 0) return sermo_fail(err, SERMO_ERR_INVALID, "%s: %s %d: empty name", label, what, i);
    if (len > SERMO_ST_NAME_MAX)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: %s '%.60s...': name is %zu bytes, over %d", label, what, name, len,
                          SERMO_ST_NAME_MAX);
    if (st_utf8_error((const uint8_t *)name, len) >= 0)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: %s %d: name is not UTF-8", label, what, i);
    return SERMO_OK;
}

/* Check the arguments and build the padded header; *total = whole file size. */
static sermo_status st_build_header(const char *label, const sermo_st_tensor *tensors, int n, const char *const *keys,
                                    const char *const *values, int n_meta, st_buf *b, uint64_t *total,
                                    sermo_error *err) {
    if (n < 0 || (n && !tensors) || n_meta < 0 || (n_meta && (!keys || !values)))
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: bad tensor or metadata arrays", label);
    sermo_status st = SERMO_OK;
    for (int i = 0; i < n_meta && st == SERMO_OK; i++) {
        st = st_check_name(label, "metadata key", keys[i], i, err);
        if (st == SERMO_OK && (!values[i] || st_utf8_error((const uint8_t *)values[i], strlen(values[i])) >= 0))
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: metadata '%.200s': value is missing or not UTF-8", label, keys[i]);
    }
    if (st == SERMO_OK) st = st_check_unique(label, SERMO_ERR_INVALID, "metadata key", keys, n_meta, err);
    const char **names = sermo_alloc(sizeof *names * (size_t)(n ? n : 1), err, label);
    if (!names) return SERMO_ERR_NOMEM;
    uint64_t offset = 0;
    for (int i = 0; i < n && st == SERMO_OK; i++) {
        const sermo_st_tensor *t = &tensors[i];
        uint64_t bytes;
        st = st_check_name(label, "tensor", t->name, i, err);
        names[i] = t->name;
        if (st == SERMO_OK && strcmp(t->name, "__metadata__") == 0)
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: tensor %d: \"__metadata__\" is reserved", label, i);
        else if (st == SERMO_OK && !sermo_st_dtype_name(t->dtype))
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: tensor '%.200s': bad dtype %d", label, t->name, (int)t->dtype);
        else if (st == SERMO_OK && (t->ndim < 0 || t->ndim > SERMO_ST_MAX_DIMS))
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: tensor '%.200s': ndim %d outside 0..%d", label, t->name, t->ndim,
                            SERMO_ST_MAX_DIMS);
        else if (st == SERMO_OK && (!st_span(t->dtype, t->ndim, t->shape, NULL, &bytes) ||
                                    __builtin_add_overflow(offset, bytes, &offset) || offset > ST_JSON_INT_MAX)) {
            char sh[160];
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: tensor '%.200s': bad shape %s (negative or too large)",
                            label, t->name, st_shape_str(sh, sizeof sh, t->ndim, t->shape));
        } else if (st == SERMO_OK && bytes && !t->data)
            st = sermo_fail(err, SERMO_ERR_INVALID, "%s: tensor '%.200s': no data", label, t->name);
    }
    if (st == SERMO_OK) st = st_check_unique(label, SERMO_ERR_INVALID, "tensor", names, n, err);
    free(names);
    if (st != SERMO_OK) return st;

    st_puts(b, "{");
    if (n_meta) {
        st_puts(b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) st_puts(b, ",");
            st_put_json_string(b, keys[i]);
            st_puts(b, ":");
            st_put_json_string(b, values[i]);
        }
        st_puts(b, n ? "}," : "}");
    }
    offset = 0;
    for (int i = 0; i < n; i++) {
        const sermo_st_tensor *t = &tensors[i];
        char num[64];
        if (i) st_puts(b, ",");
        st_put_json_string(b, t->name);
        st_puts(b, ":{\"dtype\":\"");
        st_puts(b, sermo_st_dtype_name(t->dtype));
        st_puts(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            st_puts(b, num);
        }
        uint64_t bytes = sermo_st_nbytes(t);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + bytes));
        st_puts(b, num);
        offset += bytes;
    }
    st_puts(b, "}");
    while (!b->oom && b->len % 8) st_puts(b, " "); /* the 8-byte length + header keep data 8-aligned */
    if (b->oom) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory for the header", label);
    if (b->len > SERMO_ST_HEADER_MAX)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: header would be %zu bytes, over the %u limit",
                          label, b->len, SERMO_ST_HEADER_MAX);
    *total = 8 + b->len + offset;
    return SERMO_OK;
}

static void st_le64(uint8_t out[8], uint64_t v) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i));
}

sermo_status sermo_st_write_memory(const sermo_st_tensor *tensors, int n, const char *const *meta_keys,
                                   const char *const *meta_values, int n_meta, void **out, size_t *size,
                                   sermo_error *err) {
    if (!out || !size) return sermo_fail(err, SERMO_ERR_INVALID, "safetensors: no output buffer");
    *out = NULL;
    *size = 0;
    st_buf b = {0};
    uint64_t total = 0;
    sermo_status st = st_build_header("safetensors", tensors, n, meta_keys, meta_values, n_meta, &b, &total, err);
    uint8_t *p = NULL;
    if (st == SERMO_OK && total > SIZE_MAX) st = sermo_fail(err, SERMO_ERR_NOMEM, "safetensors: too large");
    if (st == SERMO_OK && !(p = sermo_alloc((size_t)total, err, "safetensors"))) st = SERMO_ERR_NOMEM;
    if (st == SERMO_OK) {
        st_le64(p, b.len);
        memcpy(p + 8, b.p, b.len);
        size_t k = 8 + b.len;
        for (int i = 0; i < n; i++) {
            size_t bytes = sermo_st_nbytes(&tensors[i]);
            if (bytes) memcpy(p + k, tensors[i].data, bytes);
            k += bytes;
        }
        *out = p;
        *size = (size_t)total;
    }
    free(b.p);
    return st;
}

sermo_status sermo_st_write(const char *path, const sermo_st_tensor *tensors, int n, const char *const *meta_keys,
                            const char *const *meta_values, int n_meta, sermo_error *err) {
    if (!path || !*path) return sermo_fail(err, SERMO_ERR_INVALID, "safetensors: no path");
    st_buf b = {0};
    uint64_t total = 0;
    sermo_status st = st_build_header(path, tensors, n, meta_keys, meta_values, n_meta, &b, &total, err);
    sermo_atomic_file af = {0};
    if (st == SERMO_OK) st = sermo_atomic_open(&af, path, err);
    if (st == SERMO_OK) {
        uint8_t len[8];
        st_le64(len, b.len);
        int ok = fwrite(len, 1, 8, af.f) == 8 && fwrite(b.p, 1, b.len, af.f) == b.len;
        for (int i = 0; i < n && ok; i++) {
            size_t bytes = sermo_st_nbytes(&tensors[i]);
            ok = bytes == 0 || fwrite(tensors[i].data, 1, bytes, af.f) == bytes; /* empty: data may be NULL */
        }
        if (!ok) st = sermo_fail(err, SERMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        st = sermo_atomic_close(&af, st, err);
    }
    free(b.p);
    return st;
}
