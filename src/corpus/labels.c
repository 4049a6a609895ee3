/* labels.c: label sets, the COMMON6 mapping, and small string helpers the
 * per-corpus parsers share.
 *
 * COMMON6 is the six emotions every supported corpus has (RAVDESS, CREMA-D,
 * TESS, SAVEE, EmoDB), in this fixed order: sad, angry, disgust, fear, happy,
 * neutral. Each corpus's own name maps onto it; the rest (calm, surprised,
 * boredom, pleasant_surprise, surprise) has no counterpart and is dropped. */
#include "corpus_internal.h"

#include <stdio.h>
#include <string.h>

const char *const sermo_corpus_common6[CORPUS_COMMON6_N] = {"sad",  "angry", "disgust",
                                                            "fear", "happy", "neutral"};

/* Native names (and common spellings in manifests) -> COMMON6. */
static const struct {
    const char *native, *common;
} common6_map[] = {
    {"sad", "sad"},         {"sadness", "sad"},       {"angry", "angry"},
    {"anger", "angry"},     {"disgust", "disgust"},   {"disgusted", "disgust"},
    {"fear", "fear"},       {"fearful", "fear"},      {"happy", "happy"},
    {"happiness", "happy"}, {"neutral", "neutral"},
};

const char *sermo_corpus_map_common6(const char *emotion) {
    if (!emotion) return NULL;
    for (size_t i = 0; i < sizeof common6_map / sizeof common6_map[0]; i++)
        if (sermo_corpus_strcasecmp_ascii(emotion, common6_map[i].native) == 0)
            return common6_map[i].common;
    return NULL;
}

void sermo_corpus_age_group(int age, char *out, size_t size) {
    int lo = age < 0 ? 0 : age / 10 * 10;
    snprintf(out, size, "%d-%d", lo, lo + 9);
}

/* Locale-independent, so "I" matches "i" under any LC_CTYPE. */
int sermo_corpus_strcasecmp_ascii(const char *a, const char *b) {
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z') ca += 'a' - 'A';
        if (cb >= 'A' && cb <= 'Z') cb += 'a' - 'A';
        if (ca != cb || !ca) return ca - cb;
    }
}

int sermo_corpus_is_digits(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

void sermo_corpus_fields_set(corpus_fields *f, const char *name, const char *value) {
    int32_t i = 0;
    while (i < f->n && strcmp(f->names[i], name) != 0) i++;
    if (i == CORPUS_FIELDS_MAX) return; /* parsers set a fixed, smaller number */
    if (i == f->n) f->n++;
    f->names[i] = name;
    snprintf(f->values[i], sizeof f->values[i], "%s", value);
}

void sermo_corpus_fields_set_n(corpus_fields *f, const char *name, const char *s, size_t n) {
    char buf[CORPUS_VALUE_MAX];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), s);
    sermo_corpus_fields_set(f, name, buf);
}

const char *sermo_corpus_fields_get(const corpus_fields *f, const char *name) {
    for (int32_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return f->values[i];
    return NULL;
}

int sermo_corpus_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
