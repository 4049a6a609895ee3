/* corpus.c: the corpus table, folder walking, corpus detection, targets and
 * class numbering.
 *
 * Class order is deterministic and independent of which files are present:
 *   - target "emotion", native labels: each added corpus's full emotion list
 *     in its own code order (RAVDESS 01..08: neutral calm happy sad angry
 *     fearful disgust surprised; EmoDB W L E A F T N; ...), concatenated in
 *     the order the corpora were added, names already listed skipped; a
 *     manifest contributes its labels sorted;
 *   - target "emotion", COMMON6: sad, angry, disgust, fear, happy, neutral;
 *   - any other target: the sorted (strcmp) unique values of that column.
 * Items are kept in the order found: corpora in add order, files sorted by
 * path (strcmp), manifest rows in file order. */
#include "corpus_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WALK_MAX_DEPTH 16 /* stops symlink loops */

typedef struct corpus_format {
    sermo_corpus_kind kind;
    int (*parse)(const char *stem, corpus_fields *f);
    const char *const *emotions;
    int32_t n_emotions;
} corpus_format;

static const corpus_format formats[] = {
    {SERMO_CORPUS_RAVDESS, sermo_corpus_parse_ravdess, sermo_corpus_ravdess_emotions, 8},
    {SERMO_CORPUS_CREMAD, sermo_corpus_parse_cremad, sermo_corpus_cremad_emotions, 6},
    {SERMO_CORPUS_TESS, sermo_corpus_parse_tess, sermo_corpus_tess_emotions, 7},
    {SERMO_CORPUS_SAVEE, sermo_corpus_parse_savee, sermo_corpus_savee_emotions, 7},
    {SERMO_CORPUS_EMODB, sermo_corpus_parse_emodb, sermo_corpus_emodb_emotions, 7},
};
#define N_FORMATS ((int)(sizeof formats / sizeof formats[0]))

const char *sermo_corpus_kind_name(sermo_corpus_kind kind) {
    switch (kind) {
    case SERMO_CORPUS_AUTO: return "auto";
    case SERMO_CORPUS_RAVDESS: return "ravdess";
    case SERMO_CORPUS_CREMAD: return "cremad";
    case SERMO_CORPUS_TESS: return "tess";
    case SERMO_CORPUS_SAVEE: return "savee";
    case SERMO_CORPUS_EMODB: return "emodb";
    case SERMO_CORPUS_MANIFEST: return "manifest";
    }
    return "unknown";
}

void sermo_corpus_default_params(sermo_corpus_params *params) {
    params->target = "emotion";
    params->label_set = SERMO_LABELS_NATIVE;
    params->demographics = NULL;
}

sermo_corpus *sermo_corpus_init(const sermo_corpus_params *params) {
    sermo_corpus_params def;
    if (!params) {
        sermo_corpus_default_params(&def);
        params = &def;
    }
    sermo_corpus *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->target = strdup(params->target && params->target[0] ? params->target : "emotion");
    c->label_set = params->label_set;
    c->demographics = params->demographics ? strdup(params->demographics) : NULL;
    if (!c->target || (params->demographics && !c->demographics)) {
        sermo_corpus_free(c);
        return NULL;
    }
    return c;
}

static void free_classes(sermo_corpus *c) {
    for (int32_t i = 0; i < c->n_classes; i++) free(c->classes[i]);
    free(c->classes);
    c->classes = NULL;
    c->n_classes = 0;
}

/* State before an add, so a failed add leaves the corpus as it was. */
typedef struct corpus_mark {
    int64_t n_items, n_dropped;
    int32_t n_columns, n_native;
} corpus_mark;

static corpus_mark corpus_get_mark(const sermo_corpus *c) {
    corpus_mark m = {c->n_items, c->n_dropped, c->n_columns, c->n_native};
    return m;
}

static void corpus_rollback(sermo_corpus *c, corpus_mark m) {
    for (int64_t i = m.n_items; i < c->n_items; i++) {
        free((char *)c->items[i].path);
        for (int32_t j = 0; j < c->n_columns; j++) {
            free(c->columns[j].values[i]);
            c->columns[j].values[i] = NULL;
        }
    }
    c->n_items = m.n_items;
    for (int32_t j = m.n_columns; j < c->n_columns; j++) {
        free(c->columns[j].name);
        free(c->columns[j].values);
    }
    c->n_columns = m.n_columns;
    for (int32_t i = m.n_native; i < c->n_native; i++) free(c->native[i]);
    c->n_native = m.n_native;
    for (int64_t i = m.n_dropped; i < c->n_dropped; i++) free(c->dropped[i]);
    c->n_dropped = m.n_dropped;
}

void sermo_corpus_free(sermo_corpus *c) {
    if (!c) return;
    corpus_mark empty = {0, 0, 0, 0};
    corpus_rollback(c, empty);
    free(c->items);
    free(c->columns);
    free(c->native);
    free(c->dropped);
    free_classes(c);
    free(c->target);
    free(c->demographics);
    free(c);
}

/* ------------------------------------------------------------- accessors */

int64_t sermo_corpus_size(const sermo_corpus *c) { return c ? c->n_items : 0; }

const sermo_item *sermo_corpus_item(const sermo_corpus *c, int64_t i) {
    return c && i >= 0 && i < c->n_items ? &c->items[i] : NULL;
}

int32_t sermo_corpus_n_classes(const sermo_corpus *c) { return c ? c->n_classes : 0; }

const char *sermo_corpus_class_name(const sermo_corpus *c, int32_t label) {
    return c && label >= 0 && label < c->n_classes ? c->classes[label] : NULL;
}

int64_t sermo_corpus_n_dropped(const sermo_corpus *c) { return c ? c->n_dropped : 0; }
int64_t sermo_corpus_n_dropped_paths(const sermo_corpus *c) { return c ? c->n_dropped : 0; }

const char *sermo_corpus_dropped_path(const sermo_corpus *c, int64_t i) {
    return c && i >= 0 && i < c->n_dropped ? c->dropped[i] : NULL;
}

int32_t sermo_corpus_n_columns(const sermo_corpus *c) { return c ? c->n_columns : 0; }

const char *sermo_corpus_column_name(const sermo_corpus *c, int32_t column) {
    return c && column >= 0 && column < c->n_columns ? c->columns[column].name : NULL;
}

static int32_t find_column(const sermo_corpus *c, const char *name) {
    for (int32_t j = 0; j < c->n_columns; j++)
        if (strcmp(c->columns[j].name, name) == 0) return j;
    return -1;
}

const char *sermo_corpus_value(const sermo_corpus *c, int64_t item, const char *column) {
    if (!c || !column || item < 0 || item >= c->n_items) return NULL;
    int32_t j = find_column(c, column);
    return j < 0 ? NULL : c->columns[j].values[item];
}

/* -------------------------------------------------------------- building */

sermo_status sermo_corpus_drop(sermo_corpus *c, const char *path, sermo_error *err) {
    if (c->n_dropped == c->cap_dropped) {
        int64_t cap = c->cap_dropped ? 2 * c->cap_dropped : 64;
        char **d = realloc(c->dropped, sizeof *d * (size_t)cap);
        if (!d) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        c->dropped = d;
        c->cap_dropped = cap;
    }
    if (!(c->dropped[c->n_dropped] = strdup(path)))
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    c->n_dropped++;
    return SERMO_OK;
}

sermo_status sermo_corpus_add_native(sermo_corpus *c, const char *name, sermo_error *err) {
    for (int32_t i = 0; i < c->n_native; i++)
        if (strcmp(c->native[i], name) == 0) return SERMO_OK;
    if (c->n_native == c->cap_native) {
        int32_t cap = c->cap_native ? 2 * c->cap_native : 16;
        char **v = realloc(c->native, sizeof *v * (size_t)cap);
        if (!v) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", name);
        c->native = v;
        c->cap_native = cap;
    }
    if (!(c->native[c->n_native] = strdup(name)))
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", name);
    c->n_native++;
    return SERMO_OK;
}

static int32_t ensure_column(sermo_corpus *c, const char *name) {
    int32_t j = find_column(c, name);
    if (j >= 0) return j;
    if (c->n_columns == c->cap_columns) {
        int32_t cap = c->cap_columns ? 2 * c->cap_columns : 16;
        corpus_column *v = realloc(c->columns, sizeof *v * (size_t)cap);
        if (!v) return -1;
        c->columns = v;
        c->cap_columns = cap;
    }
    corpus_column *col = &c->columns[c->n_columns];
    col->name = strdup(name);
    col->values = calloc((size_t)(c->cap_items ? c->cap_items : 1), sizeof *col->values);
    if (!col->name || !col->values) {
        free(col->name);
        free(col->values);
        return -1;
    }
    return c->n_columns++;
}

static int grow_items(sermo_corpus *c) {
    if (c->n_items < c->cap_items) return 1;
    int64_t cap = c->cap_items ? 2 * c->cap_items : 256;
    sermo_item *items = realloc(c->items, sizeof *items * (size_t)cap);
    if (!items) return 0;
    c->items = items;
    for (int32_t j = 0; j < c->n_columns; j++) {
        char **v = realloc(c->columns[j].values, sizeof *v * (size_t)cap);
        if (!v) return 0; /* columns grown so far keep their larger size: harmless */
        memset(v + c->cap_items, 0, sizeof *v * (size_t)(cap - c->cap_items));
        c->columns[j].values = v;
    }
    c->cap_items = cap;
    return 1;
}

sermo_status sermo_corpus_add_item(sermo_corpus *c, const char *path, sermo_corpus_kind kind,
                                   const char *qualifier, int32_t n, const char *const *names,
                                   const char *const *values, sermo_error *err) {
    /* The fixed columns first, then the parser's own. */
    int32_t total = n + 2;
    const char **cn = malloc(sizeof *cn * (size_t)total);
    char **cv = calloc((size_t)total, sizeof *cv);
    int is_emotion = strcmp(c->target, "emotion") == 0;
    sermo_status st = SERMO_OK;
    if (!cn || !cv) {
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    cn[0] = "speaker";
    cn[1] = "corpus";
    cv[1] = strdup(sermo_corpus_kind_name(kind));
    int32_t m = 2, drop = 0, speaker_given = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *v = values[i];
        if (!v || !v[0]) continue;
        if (strcmp(names[i], "speaker") == 0) {
            size_t len = strlen(v) + (qualifier ? strlen(qualifier) : 0) + 2;
            free(cv[0]);
            speaker_given = 1;
            if ((cv[0] = malloc(len))) {
                if (qualifier && !strchr(v, ':'))
                    snprintf(cv[0], len, "%s:%s", qualifier, v);
                else
                    snprintf(cv[0], len, "%s", v);
            }
            continue;
        }
        if (strcmp(names[i], "corpus") == 0) continue;
        if (strcmp(names[i], "emotion") == 0 && c->label_set == SERMO_LABELS_COMMON6 && is_emotion) {
            v = sermo_corpus_map_common6(v);
            if (!v) drop = 1;
            if (!v) continue;
        }
        cn[m] = names[i];
        cv[m++] = strdup(v);
        if (!cv[m - 1]) break;
    }
    for (int32_t i = 0; i < m; i++)
        if (!cv[i] && (i != 0 || speaker_given))
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    if (st != SERMO_OK) goto done;
    if (!cv[0]) {
        size_t len = (qualifier ? strlen(qualifier) : 0) + 16;
        if (!(cv[0] = malloc(len))) {
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        snprintf(cv[0], len, "%s:unknown", qualifier ? qualifier : sermo_corpus_kind_name(kind));
    }
    int has_target = 0;
    for (int32_t i = 0; i < m; i++)
        if (strcmp(cn[i], c->target) == 0) has_target = 1;
    if (drop || !has_target) {
        st = sermo_corpus_drop(c, path, err);
        goto done;
    }
    int32_t *col = malloc(sizeof *col * (size_t)m);
    char *p = strdup(path);
    if (!col || !p || !grow_items(c)) {
        free(col);
        free(p);
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int32_t i = 0; i < m; i++) {
        if ((col[i] = ensure_column(c, cn[i])) < 0) {
            free(col);
            free(p);
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    /* Nothing can fail from here: commit. */
    int64_t k = c->n_items++;
    for (int32_t i = 0; i < m; i++) {
        free(c->columns[col[i]].values[k]); /* a repeated name keeps the last value */
        c->columns[col[i]].values[k] = cv[i];
        cv[i] = NULL;
    }
    c->items[k].path = p;
    c->items[k].speaker = c->columns[col[0]].values[k];
    c->items[k].label = -1;
    c->items[k].corpus = (int32_t)kind;
    free(col);
done:
    if (cv)
        for (int32_t i = 0; i < total; i++) free(cv[i]);
    free(cv);
    free(cn);
    return st;
}

/* Number the classes (see the top of this file) and label every item. */
static sermo_status corpus_relabel(sermo_corpus *c, sermo_error *err) {
    free_classes(c);
    int32_t j = find_column(c, c->target);
    const char **names = NULL;
    int64_t n = 0;
    if (strcmp(c->target, "emotion") == 0) {
        int common = c->label_set == SERMO_LABELS_COMMON6;
        n = common ? CORPUS_COMMON6_N : c->n_native;
        names = malloc(sizeof *names * (size_t)(n ? n : 1));
        if (!names) return sermo_fail(err, SERMO_ERR_NOMEM, "corpus: out of memory");
        for (int64_t i = 0; i < n; i++)
            names[i] = common ? sermo_corpus_common6[i] : c->native[i];
    } else {
        names = malloc(sizeof *names * (size_t)(c->n_items ? c->n_items : 1));
        if (!names) return sermo_fail(err, SERMO_ERR_NOMEM, "corpus: out of memory");
        for (int64_t i = 0; j >= 0 && i < c->n_items; i++)
            if (c->columns[j].values[i]) names[n++] = c->columns[j].values[i];
        qsort(names, (size_t)n, sizeof *names, sermo_corpus_cmp_str);
        int64_t u = 0;
        for (int64_t i = 0; i < n; i++)
            if (u == 0 || strcmp(names[i], names[u - 1]) != 0) names[u++] = names[i];
        n = u;
    }
    c->classes = calloc((size_t)(n ? n : 1), sizeof *c->classes);
    if (!c->classes) {
        free(names);
        return sermo_fail(err, SERMO_ERR_NOMEM, "corpus: out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(c->classes[i] = strdup(names[i]))) {
            c->n_classes = (int32_t)i;
            free(names);
            return sermo_fail(err, SERMO_ERR_NOMEM, "corpus: out of memory");
        }
    }
    c->n_classes = (int32_t)n;
    free(names);
    for (int64_t i = 0; i < c->n_items; i++) {
        const char *v = j >= 0 ? c->columns[j].values[i] : NULL;
        c->items[i].label = -1;
        for (int32_t k = 0; v && k < c->n_classes; k++)
            if (strcmp(c->classes[k], v) == 0) c->items[i].label = k;
    }
    return SERMO_OK;
}

/* ---------------------------------------------------------------- walking */

typedef struct path_list {
    char **v;
    int64_t n, cap;
} path_list;

static void path_list_free(path_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int is_audio_name(const char *name) {
    static const char *const ext[] = {"wav", "flac", "ogg", "mp3"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (sermo_corpus_strcasecmp_ascii(dot + 1, ext[i]) == 0) return 1;
    return 0;
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

/* Audio files under dir, recursively; hidden entries (".*", including
 * macOS "._" resource forks) are skipped. */
static sermo_status walk(const char *dir, int depth, path_list *out, sermo_error *err) {
    DIR *d = opendir(dir);
    if (!d) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", dir, strerror(errno));
    sermo_status st = SERMO_OK;
    struct dirent *e;
    while (st == SERMO_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = join_path(dir, e->d_name);
        struct stat sb;
        if (!p) {
            st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
        } else if (stat(p, &sb) != 0) {
            /* a dangling link is not a clip */
        } else if (S_ISDIR(sb.st_mode)) {
            if (depth < WALK_MAX_DEPTH) st = walk(p, depth + 1, out, err);
        } else if (S_ISREG(sb.st_mode) && is_audio_name(e->d_name)) {
            if (out->n == out->cap) {
                int64_t cap = out->cap ? 2 * out->cap : 256;
                char **v = realloc(out->v, sizeof *v * (size_t)cap);
                if (!v) {
                    st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
                } else {
                    out->v = v;
                    out->cap = cap;
                }
            }
            if (st == SERMO_OK) {
                out->v[out->n++] = p;
                p = NULL;
            }
        }
        free(p);
    }
    closedir(d);
    return st;
}

/* The file name without folder and extension. */
static void path_stem(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    snprintf(out, size, "%s", slash ? slash + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

/* The kind whose convention the most file names follow. */
static sermo_corpus_kind detect_kind(const path_list *files) {
    int64_t best = 0;
    sermo_corpus_kind kind = SERMO_CORPUS_AUTO;
    corpus_fields f;
    char stem[256];
    for (int k = 0; k < N_FORMATS; k++) {
        int64_t hits = 0;
        for (int64_t i = 0; i < files->n; i++) {
            path_stem(files->v[i], stem, sizeof stem);
            hits += formats[k].parse(stem, &f);
        }
        if (hits > best) {
            best = hits;
            kind = formats[k].kind;
        }
    }
    return kind;
}

static int needs_demographics(const char *target) {
    static const char *const cols[] = {"sex", "age", "age_group", "race", "ethnicity"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (strcmp(target, cols[i]) == 0) return 1;
    return 0;
}

/* VideoDemographics.csv: the path given, else beside the audio or one
 * folder up (CREMA-D ships AudioWAV/ next to the table). */
static sermo_status find_demographics(const sermo_corpus *c, const char *dir, cremad_demographics *d,
                                        sermo_error *err) {
    d->actors = NULL;
    d->n = 0;
    if (c->demographics) return sermo_corpus_cremad_load_demographics(c->demographics, d, err);
    static const char *const rel[] = {"VideoDemographics.csv", "../VideoDemographics.csv"};
    for (size_t i = 0; i < 2; i++) {
        char *p = join_path(dir, rel[i]);
        if (!p) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", dir);
        struct stat sb;
        sermo_status st = SERMO_OK;
        int found = stat(p, &sb) == 0;
        if (found) st = sermo_corpus_cremad_load_demographics(p, d, err);
        free(p);
        if (found) return st;
    }
    if (needs_demographics(c->target))
        return sermo_fail(err, SERMO_ERR_IO,
                          "%s: target '%s' needs CREMA-D's VideoDemographics.csv, which is not "
                          "beside the audio; set sermo_corpus_params.demographics",
                          dir, c->target);
    return SERMO_OK;
}

static sermo_status add_folder(sermo_corpus *c, const char *dir, sermo_corpus_kind kind,
                               const path_list *files, sermo_error *err) {
    const corpus_format *fmt = NULL;
    for (int k = 0; k < N_FORMATS; k++)
        if (formats[k].kind == kind) fmt = &formats[k];
    if (!fmt) return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown corpus kind %d", dir, (int)kind);
    sermo_status st = SERMO_OK;
    for (int32_t i = 0; i < fmt->n_emotions && st == SERMO_OK; i++)
        st = sermo_corpus_add_native(c, fmt->emotions[i], err);
    cremad_demographics demo = {NULL, 0};
    if (st == SERMO_OK && kind == SERMO_CORPUS_CREMAD) st = find_demographics(c, dir, &demo, err);
    corpus_fields f;
    char stem[256];
    const char *vals[CORPUS_FIELDS_MAX];
    for (int64_t i = 0; i < files->n && st == SERMO_OK; i++) {
        path_stem(files->v[i], stem, sizeof stem);
        if (!fmt->parse(stem, &f)) {
            st = sermo_corpus_drop(c, files->v[i], err);
            continue;
        }
        if (kind == SERMO_CORPUS_CREMAD) sermo_corpus_cremad_add_demographics(&demo, &f);
        for (int32_t j = 0; j < f.n; j++) vals[j] = f.values[j];
        st = sermo_corpus_add_item(c, files->v[i], kind, sermo_corpus_kind_name(kind), f.n, f.names,
                                   vals, err);
    }
    sermo_corpus_cremad_free_demographics(&demo);
    return st;
}

static int has_csv_ext(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot && sermo_corpus_strcasecmp_ascii(dot, ".csv") == 0;
}

static sermo_status add_any(sermo_corpus *c, const char *path, sermo_corpus_kind kind, sermo_error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    int is_dir = S_ISDIR(sb.st_mode);
    if (kind == SERMO_CORPUS_AUTO && !is_dir && has_csv_ext(path)) kind = SERMO_CORPUS_MANIFEST;
    if (kind == SERMO_CORPUS_MANIFEST) {
        if (is_dir) return sermo_fail(err, SERMO_ERR_INVALID, "%s: a manifest must be a CSV file", path);
        char *data;
        size_t size;
        sermo_status st = sermo_corpus_read_file(path, &data, &size, err);
        if (st != SERMO_OK) return st;
        st = sermo_corpus_add_manifest_buffer(c, data, size, path, err);
        free(data);
        return st;
    }
    if (!is_dir)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: not a folder (nor a .csv manifest)", path);
    path_list files = {NULL, 0, 0};
    sermo_status st = walk(path, 0, &files, err);
    if (st == SERMO_OK && files.n == 0)
        st = sermo_fail(err, SERMO_ERR_EMPTY, "%s: no audio files (wav, flac, ogg, mp3)", path);
    if (st == SERMO_OK) {
        qsort(files.v, (size_t)files.n, sizeof *files.v, sermo_corpus_cmp_str);
        if (kind == SERMO_CORPUS_AUTO) kind = detect_kind(&files);
        if (kind == SERMO_CORPUS_AUTO)
            st = sermo_fail(err, SERMO_ERR_FORMAT,
                            "%s: no file name follows a known corpus convention "
                            "(RAVDESS, CREMA-D, TESS, SAVEE, EmoDB); use a CSV manifest",
                            path);
    }
    if (st == SERMO_OK) st = add_folder(c, path, kind, &files, err);
    path_list_free(&files);
    return st;
}

/* Number the classes after a successful add, or undo a failed one. */
static sermo_status corpus_commit(sermo_corpus *c, corpus_mark mark, sermo_status st, sermo_error *err) {
    if (st == SERMO_OK) st = corpus_relabel(c, err);
    if (st != SERMO_OK) {
        corpus_rollback(c, mark);
        corpus_relabel(c, NULL); /* classes as before; cannot need more memory than they had */
    }
    return st;
}

sermo_status sermo_corpus_add(sermo_corpus *c, const char *path, sermo_corpus_kind kind, sermo_error *err) {
    if (!c || !path || !path[0])
        return sermo_fail(err, SERMO_ERR_INVALID, "corpus: no corpus or no path");
    if ((int)kind < SERMO_CORPUS_AUTO || kind > SERMO_CORPUS_MANIFEST)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown corpus kind %d", path, (int)kind);
    corpus_mark mark = corpus_get_mark(c);
    return corpus_commit(c, mark, add_any(c, path, kind, err), err);
}

sermo_status sermo_corpus_add_manifest_memory(sermo_corpus *c, const char *data, size_t size,
                                              const char *name, sermo_error *err) {
    if (!c || !data || !name) return sermo_fail(err, SERMO_ERR_INVALID, "corpus: no corpus or no data");
    corpus_mark mark = corpus_get_mark(c);
    return corpus_commit(c, mark, sermo_corpus_add_manifest_buffer(c, data, size, name, err), err);
}
