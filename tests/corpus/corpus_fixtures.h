/* corpus_fixtures.h: temporary folders of synthetic clips for the corpus
 * tests. File contents are the file's own name unless given, so no two
 * synthetic clips are byte-identical by accident. */
#ifndef SERMO_CORPUS_FIXTURES_H
#define SERMO_CORPUS_FIXTURES_H

#include "check.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fixture_dirs[16][256];
static int fixture_n_dirs;

static inline const char *fixture_mkdtemp(void) {
    char *d = fixture_dirs[fixture_n_dirs++];
    snprintf(d, 256, "/tmp/sermo_corpus_XXXXXX");
    if (!mkdtemp(d)) {
        fprintf(stderr, "mkdtemp failed\n");
        exit(1);
    }
    return d;
}

/* dir/rel with its folders; content NULL writes rel itself. */
static inline void fixture_write(const char *dir, const char *rel, const char *content) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fputs(content ? content : rel, f);
    fclose(f);
}

static inline int fixture_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void fixture_cleanup(void) {
    for (int i = 0; i < fixture_n_dirs; i++) nftw(fixture_dirs[i], fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
    fixture_n_dirs = 0;
}

static inline int64_t fixture_count_value(const sermo_corpus *c, const char *column, const char *value) {
    int64_t n = 0;
    for (int64_t i = 0; i < sermo_corpus_size(c); i++) {
        const char *v = sermo_corpus_value(c, i, column);
        if (v && strcmp(v, value) == 0) n++;
    }
    return n;
}

static inline int64_t fixture_count_label(const sermo_corpus *c, int32_t label) {
    int64_t n = 0;
    for (int64_t i = 0; i < sermo_corpus_size(c); i++) n += sermo_corpus_item(c, i)->label == label;
    return n;
}

static inline int64_t fixture_n_speakers(const sermo_corpus *c) {
    int64_t n = 0, size = sermo_corpus_size(c);
    for (int64_t i = 0; i < size; i++) {
        int seen = 0;
        for (int64_t j = 0; j < i && !seen; j++)
            seen = strcmp(sermo_corpus_item(c, i)->speaker, sermo_corpus_item(c, j)->speaker) == 0;
        n += !seen;
    }
    return n;
}

static inline int32_t fixture_class(const sermo_corpus *c, const char *name) {
    for (int32_t k = 0; k < sermo_corpus_n_classes(c); k++)
        if (strcmp(sermo_corpus_class_name(c, k), name) == 0) return k;
    return -1;
}

static inline sermo_corpus *fixture_corpus(const char *target, sermo_label_set set, const char *demographics) {
    sermo_corpus_params p;
    sermo_corpus_default_params(&p);
    if (target) p.target = target;
    p.label_set = set;
    p.demographics = demographics;
    return sermo_corpus_init(&p);
}

#endif
