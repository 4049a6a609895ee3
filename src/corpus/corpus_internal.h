/* corpus_internal.h: what the corpus module's files share; not installed.
 *
 * A corpus is a table: one row per clip (sermo_item) and string columns
 * ("emotion", "speaker", "corpus", "sex", ...). Each per-corpus file turns a
 * file name into a small set of (column, value) fields; corpus.c applies the
 * target and the label set, drops what does not fit, and numbers the classes. */
#ifndef SERMO_CORPUS_INTERNAL_H
#define SERMO_CORPUS_INTERNAL_H

#include "internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* ---------------------------------------------------------------- storage */

typedef struct corpus_column {
    char *name;
    char **values; /* [cap_items]; NULL where an item has no value */
} corpus_column;

struct sermo_corpus {
    char *target;              /* "emotion" unless set */
    sermo_label_set label_set;
    char *demographics;        /* NULL: look beside the audio */

    sermo_item *items;
    int64_t n_items, cap_items;
    corpus_column *columns;
    int32_t n_columns, cap_columns;

    char **classes;            /* class names, label order */
    int32_t n_classes;
    char **native;             /* union of the added corpora's native emotions, in add order */
    int32_t n_native, cap_native;

    char **dropped;            /* paths of the files skipped, for stats */
    int64_t n_dropped, cap_dropped;
};

/* ------------------------------------------------------- parsed file names */

#define CORPUS_FIELDS_MAX 16
#define CORPUS_VALUE_MAX 64

/* What a per-corpus parser extracts from one file name. Names are string
 * literals; values are copied so parsers need no allocation. */
typedef struct corpus_fields {
    int32_t n;
    const char *names[CORPUS_FIELDS_MAX];
    char values[CORPUS_FIELDS_MAX][CORPUS_VALUE_MAX];
} corpus_fields;

void sermo_corpus_fields_set(corpus_fields *f, const char *name, const char *value);
/* The first n characters of s. */
void sermo_corpus_fields_set_n(corpus_fields *f, const char *name, const char *s, size_t n);
const char *sermo_corpus_fields_get(const corpus_fields *f, const char *name);

/* Parsers: `stem` is the file name without folder and extension. They
 * return 1 and fill f (always "emotion" and "speaker", the bare id) when the
 * name follows the corpus's convention, else 0. */
int sermo_corpus_parse_ravdess(const char *stem, corpus_fields *f);
int sermo_corpus_parse_cremad(const char *stem, corpus_fields *f);
int sermo_corpus_parse_tess(const char *stem, corpus_fields *f);
int sermo_corpus_parse_savee(const char *stem, corpus_fields *f);
int sermo_corpus_parse_emodb(const char *stem, corpus_fields *f);

/* Native emotion names of each corpus, in the corpus's own code order. */
extern const char *const sermo_corpus_ravdess_emotions[8];
extern const char *const sermo_corpus_cremad_emotions[6];
extern const char *const sermo_corpus_tess_emotions[7];
extern const char *const sermo_corpus_savee_emotions[7];
extern const char *const sermo_corpus_emodb_emotions[7];

/* ------------------------------------------------------------------ labels */

#define CORPUS_COMMON6_N 6
extern const char *const sermo_corpus_common6[CORPUS_COMMON6_N];

/* Decade bins: 20 -> "20-29", 7 -> "0-9". */
void sermo_corpus_age_group(int age, char *out, size_t size);

int sermo_corpus_strcasecmp_ascii(const char *a, const char *b);
int sermo_corpus_is_digits(const char *s, size_t n);
int sermo_corpus_cmp_str(const void *a, const void *b); /* qsort over const char * */

/* ---------------------------------------------------------------- CREMA-D */

/* Actor table from VideoDemographics.csv: ActorID -> age, sex, race, ethnicity. */
typedef struct cremad_actor {
    int32_t id;
    int32_t age;
    char sex[16];
    char race[CORPUS_VALUE_MAX];
    char ethnicity[CORPUS_VALUE_MAX];
} cremad_actor;

typedef struct cremad_demographics {
    cremad_actor *actors;
    int32_t n;
} cremad_demographics;

sermo_status sermo_corpus_cremad_load_demographics(const char *path, cremad_demographics *d,
                                                   sermo_error *err);
void sermo_corpus_cremad_free_demographics(cremad_demographics *d);
/* Adds sex, age, age_group, race, ethnicity when the actor is in the table. */
void sermo_corpus_cremad_add_demographics(const cremad_demographics *d, corpus_fields *f);

/* -------------------------------------------------------------------- CSV */

/* RFC 4180 reader over a buffer: fields separated by ',', rows by LF or
 * CRLF, "quoted" fields may hold commas, newlines and "" for a quote. */
typedef struct corpus_csv {
    const char *name;          /* for messages: "<name>:<line>: <reason>" */
    const char *p, *end;
    int64_t line;              /* line the current row starts on (1-based) */
    int64_t next_line;
    char *buf;                 /* field text, NUL-terminated one after another */
    size_t len, cap;
    size_t *offsets;
    int32_t n_fields, cap_fields;
    const char **fields;       /* valid after a row is read */
} corpus_csv;

void sermo_corpus_csv_init(corpus_csv *csv, const char *name, const char *data, size_t size);
/* *got = 1 and csv->fields/n_fields set, or *got = 0 at the end. Blank lines
 * are skipped. */
sermo_status sermo_corpus_csv_next(corpus_csv *csv, int *got, sermo_error *err);
void sermo_corpus_csv_free(corpus_csv *csv);
/* Whole file into memory (NUL-terminated); *data is freed by the caller. */
sermo_status sermo_corpus_read_file(const char *path, char **data, size_t *size, sermo_error *err);
/* Quote a CSV field when it needs it. */
void sermo_corpus_csv_write_field(FILE *out, const char *s);

/* --------------------------------------------------------------- building */

/* Add one clip; drops it (counted, path kept) when the target value is
 * missing or the emotion is outside the label set. `qualifier` prefixes the
 * bare speaker id ("ravdess" -> "ravdess:07"). */
sermo_status sermo_corpus_add_item(sermo_corpus *c, const char *path, sermo_corpus_kind kind,
                                   const char *qualifier, int32_t n, const char *const *names,
                                   const char *const *values, sermo_error *err);
sermo_status sermo_corpus_drop(sermo_corpus *c, const char *path, sermo_error *err);
sermo_status sermo_corpus_add_native(sermo_corpus *c, const char *name, sermo_error *err);

/* Parse a manifest from memory into c, without numbering classes or undoing
 * a partial add (sermo_corpus_add does both). `name` labels errors and its
 * folder resolves relative paths. */
sermo_status sermo_corpus_add_manifest_buffer(sermo_corpus *c, const char *data, size_t size,
                                              const char *name, sermo_error *err);
/* What sermo_corpus_add does for a manifest file, from memory (the fuzz
 * harness and tests enter here). */
sermo_status sermo_corpus_add_manifest_memory(sermo_corpus *c, const char *data, size_t size,
                                              const char *name, sermo_error *err);

int64_t sermo_corpus_n_dropped_paths(const sermo_corpus *c);
const char *sermo_corpus_dropped_path(const sermo_corpus *c, int64_t i);

#endif
