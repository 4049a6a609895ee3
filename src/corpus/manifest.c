/* manifest.c: the generic CSV manifest and the RFC 4180 reader the module
 * shares (CREMA-D demographics, split.csv).
 *
 * A manifest is `path,label[,speaker][,other columns]` with a header row.
 * The first column must be named path, the second label (or emotion); the
 * label becomes the "emotion" column. A column named speaker, anywhere,
 * names the speaker; bare ids are qualified with the manifest's file stem
 * ("train.csv" row "s01" -> "train:s01") so two manifests never share a
 * speaker by accident, while ids that already hold a ':' ("ravdess:07") are
 * kept. Without a speaker column every clip's speaker is "<stem>:unknown".
 * Every other column is kept under its header name and can be the target;
 * "corpus" is reserved. Relative paths are resolved against the manifest's
 * folder. Empty values count as missing. */
#include "corpus_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ CSV reading */

void sermo_corpus_csv_init(corpus_csv *csv, const char *name, const char *data, size_t size) {
    memset(csv, 0, sizeof *csv);
    csv->name = name;
    csv->p = data;
    csv->end = data + size;
    csv->next_line = 1;
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) csv->p += 3; /* UTF-8 BOM from spreadsheets */
}

void sermo_corpus_csv_free(corpus_csv *csv) {
    free(csv->buf);
    free(csv->offsets);
    free(csv->fields);
    memset(csv, 0, sizeof *csv);
}

static int csv_push(corpus_csv *csv, char ch) {
    if (csv->len == csv->cap) {
        size_t cap = csv->cap ? 2 * csv->cap : 256;
        char *b = realloc(csv->buf, cap);
        if (!b) return 0;
        csv->buf = b;
        csv->cap = cap;
    }
    csv->buf[csv->len++] = ch;
    return 1;
}

static int csv_start_field(corpus_csv *csv) {
    if (csv->n_fields == csv->cap_fields) {
        int32_t cap = csv->cap_fields ? 2 * csv->cap_fields : 16;
        size_t *o = realloc(csv->offsets, sizeof *o * (size_t)cap);
        if (!o) return 0;
        csv->offsets = o;
        const char **f = realloc(csv->fields, sizeof *f * (size_t)cap);
        if (!f) return 0;
        csv->fields = f;
        csv->cap_fields = cap;
    }
    csv->offsets[csv->n_fields++] = csv->len;
    return 1;
}

sermo_status sermo_corpus_csv_next(corpus_csv *csv, int *got, sermo_error *err) {
    *got = 0;
    while (csv->p < csv->end && (*csv->p == '\n' || *csv->p == '\r'))
        if (*csv->p++ == '\n') csv->next_line++;
    if (csv->p >= csv->end) return SERMO_OK;
    csv->line = csv->next_line;
    csv->len = 0;
    csv->n_fields = 0;
    for (;;) {
        if (!csv_start_field(csv)) goto nomem;
        if (csv->p < csv->end && *csv->p == '"') {
            csv->p++;
            for (;;) {
                if (csv->p >= csv->end)
                    return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: unterminated quoted field",
                                      csv->name, (long long)csv->line);
                char ch = *csv->p++;
                if (ch == '"') {
                    if (csv->p < csv->end && *csv->p == '"') {
                        csv->p++;
                    } else {
                        break;
                    }
                } else if (ch == '\0') {
                    return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: NUL byte", csv->name,
                                      (long long)csv->next_line);
                } else if (ch == '\n') {
                    csv->next_line++;
                }
                if (!csv_push(csv, ch)) goto nomem;
            }
            if (csv->p < csv->end && *csv->p != ',' && *csv->p != '\n' && *csv->p != '\r')
                return sermo_fail(err, SERMO_ERR_FORMAT,
                                  "%s:%lld: unexpected character after a closing quote", csv->name,
                                  (long long)csv->next_line);
        } else {
            while (csv->p < csv->end && *csv->p != ',' && *csv->p != '\n' && *csv->p != '\r') {
                if (*csv->p == '"')
                    return sermo_fail(err, SERMO_ERR_FORMAT,
                                      "%s:%lld: quote inside an unquoted field", csv->name,
                                      (long long)csv->line);
                if (*csv->p == '\0')
                    return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: NUL byte", csv->name,
                                      (long long)csv->line);
                if (!csv_push(csv, *csv->p++)) goto nomem;
            }
        }
        if (!csv_push(csv, '\0')) goto nomem;
        if (csv->p < csv->end && *csv->p == ',') {
            csv->p++;
            continue;
        }
        if (csv->p < csv->end && *csv->p == '\r') csv->p++;
        if (csv->p < csv->end && *csv->p == '\n') {
            csv->p++;
            csv->next_line++;
        }
        break;
    }
    for (int32_t i = 0; i < csv->n_fields; i++) csv->fields[i] = csv->buf + csv->offsets[i];
    *got = 1;
    return SERMO_OK;
nomem:
    return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", csv->name);
}

void sermo_corpus_csv_write_field(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

sermo_status sermo_corpus_read_file(const char *path, char **data, size_t *size, sermo_error *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        cap *= 2;
        char *b = realloc(buf, cap);
        if (!b) free(buf);
        buf = b;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sermo_fail(err, SERMO_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return SERMO_OK;
}

/* --------------------------------------------------------------- manifest */

static int header_index(const corpus_csv *csv, const char *name) {
    for (int32_t i = 0; i < csv->n_fields; i++)
        if (sermo_corpus_strcasecmp_ascii(csv->fields[i], name) == 0) return i;
    return -1;
}

/* The header's names, checked and copied: the reader reuses its buffers. */
static sermo_status manifest_header(corpus_csv *csv, char ***names_out, sermo_error *err) {
    int got;
    sermo_status st = sermo_corpus_csv_next(csv, &got, err);
    if (st != SERMO_OK) return st;
    if (!got) return sermo_fail(err, SERMO_ERR_FORMAT, "%s: empty manifest, no header row", csv->name);
    if (csv->n_fields < 2 || sermo_corpus_strcasecmp_ascii(csv->fields[0], "path") != 0 ||
        (sermo_corpus_strcasecmp_ascii(csv->fields[1], "label") != 0 &&
         sermo_corpus_strcasecmp_ascii(csv->fields[1], "emotion") != 0))
        return sermo_fail(err, SERMO_ERR_FORMAT,
                          "%s:%lld: header must start with path,label", csv->name,
                          (long long)csv->line);
    for (int32_t i = 0; i < csv->n_fields; i++) {
        if (!csv->fields[i][0])
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: column %d has no name", csv->name,
                              (long long)csv->line, (int)i + 1);
        if (sermo_corpus_strcasecmp_ascii(csv->fields[i], "corpus") == 0)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: column name 'corpus' is reserved",
                              csv->name, (long long)csv->line);
        for (int32_t j = 0; j < i; j++)
            if (sermo_corpus_strcasecmp_ascii(csv->fields[i], csv->fields[j]) == 0)
                return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: duplicate column '%s'",
                                  csv->name, (long long)csv->line, csv->fields[i]);
    }
    char **names = calloc((size_t)csv->n_fields, sizeof *names);
    if (!names) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", csv->name);
    for (int32_t i = 0; i < csv->n_fields; i++) {
        int sp = sermo_corpus_strcasecmp_ascii(csv->fields[i], "speaker") == 0;
        names[i] = strdup(i == 1 ? "emotion" : sp ? "speaker" : csv->fields[i]);
        if (!names[i]) {
            for (int32_t j = 0; j < i; j++) free(names[j]);
            free(names);
            return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", csv->name);
        }
    }
    *names_out = names;
    return SERMO_OK;
}

/* Native classes of a manifest: its labels, sorted. */
static sermo_status manifest_add_native(sermo_corpus *c, int64_t first, sermo_error *err) {
    int64_t n = c->n_items - first;
    if (n <= 0) return SERMO_OK;
    const char **v = malloc(sizeof *v * (size_t)n);
    if (!v) return sermo_fail(err, SERMO_ERR_NOMEM, "manifest: out of memory");
    int64_t m = 0;
    for (int64_t i = first; i < c->n_items; i++) {
        const char *e = sermo_corpus_value(c, i, "emotion");
        if (e) v[m++] = e;
    }
    qsort(v, (size_t)m, sizeof *v, sermo_corpus_cmp_str);
    sermo_status st = SERMO_OK;
    for (int64_t i = 0; i < m && st == SERMO_OK; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0) st = sermo_corpus_add_native(c, v[i], err);
    free(v);
    return st;
}

sermo_status sermo_corpus_add_manifest_buffer(sermo_corpus *c, const char *data, size_t size,
                                              const char *name, sermo_error *err) {
    /* The folder resolves relative paths; the stem qualifies speakers. */
    const char *slash = strrchr(name, '/');
    size_t dir_len = slash ? (size_t)(slash - name) : 0;
    const char *base = slash ? slash + 1 : name;
    char stem[CORPUS_VALUE_MAX];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    if (!stem[0]) snprintf(stem, sizeof stem, "manifest");

    corpus_csv csv;
    sermo_corpus_csv_init(&csv, name, data, size);
    char **names = NULL;
    sermo_status st = manifest_header(&csv, &names, err);
    int32_t n_cols = csv.n_fields;
    const char **row_names = NULL, **row_values = NULL;
    char *full = NULL;
    int64_t first = c->n_items, rows = 0;
    if (st == SERMO_OK) {
        row_names = malloc(sizeof *row_names * (size_t)n_cols);
        row_values = malloc(sizeof *row_values * (size_t)n_cols);
        if (!row_names || !row_values) st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", name);
    }
    int has_speaker = st == SERMO_OK && header_index(&csv, "speaker") >= 0;
    int got = 0;
    while (st == SERMO_OK && (st = sermo_corpus_csv_next(&csv, &got, err)) == SERMO_OK && got) {
        rows++;
        if (csv.n_fields != n_cols) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: expected %d fields, found %d", name,
                            (long long)csv.line, (int)n_cols, (int)csv.n_fields);
            break;
        }
        const char *path = csv.fields[0];
        if (!path[0]) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: empty path", name, (long long)csv.line);
            break;
        }
        free(full);
        size_t plen = strlen(path);
        full = malloc(dir_len + plen + 2);
        if (!full) {
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
        if (path[0] == '/' || dir_len == 0) {
            memcpy(full, path, plen + 1);
        } else {
            memcpy(full, name, dir_len);
            full[dir_len] = '/';
            memcpy(full + dir_len + 1, path, plen + 1);
        }
        int32_t n = 0;
        for (int32_t i = 1; i < n_cols; i++) {
            if (!csv.fields[i][0]) continue; /* empty = missing */
            row_names[n] = names[i];
            row_values[n++] = csv.fields[i];
        }
        if (!has_speaker) {
            row_names[n] = "speaker";
            row_values[n++] = "unknown";
        }
        st = sermo_corpus_add_item(c, full, SERMO_CORPUS_MANIFEST, stem, n, row_names, row_values, err);
    }
    if (st == SERMO_OK && rows == 0) st = sermo_fail(err, SERMO_ERR_EMPTY, "%s: no rows after the header", name);
    if (st == SERMO_OK) st = manifest_add_native(c, first, err);
    free(full);
    free(row_names);
    free(row_values);
    if (names)
        for (int32_t i = 0; i < n_cols; i++) free(names[i]);
    free(names);
    sermo_corpus_csv_free(&csv);
    return st;
}
