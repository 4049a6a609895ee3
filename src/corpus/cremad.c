/* cremad.c: CREMA-D names, AAAA_SSS_EEE_LL (Cao et al. 2014): actor
 * 1001..1091, sentence code (IEO, TIE, ...), emotion ANG DIS FEA HAP NEU SAD,
 * level LO MD HI or XX (unspecified). The distributed corpus has one file
 * with a one-letter level, 1040_ITH_SAD_X, read as XX.
 *
 * Sex, age, race and ethnicity come from the corpus's VideoDemographics.csv
 * (ActorID, Age, Sex, Race, Ethnicity). age_group bins ages by decade:
 * "20-29", "30-39", ... (CREMA-D's actors are 20 to 74). Sex is lower-cased
 * to match the other corpora ("male", "female"); race and ethnicity are kept
 * as the table writes them ("African American", "Not Hispanic"). */
#include "corpus_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sermo_corpus_cremad_emotions[6] = {"anger",   "disgust", "fear",
                                                     "happy",   "neutral", "sad"};

int sermo_corpus_parse_cremad(const char *stem, corpus_fields *f) {
    static const char *const codes[6] = {"ANG", "DIS", "FEA", "HAP", "NEU", "SAD"};
    static const struct {
        const char *code, *intensity;
    } levels[] = {{"LO", "low"}, {"MD", "medium"}, {"HI", "high"}, {"XX", "unspecified"},
                  {"X", "unspecified"}};
    size_t n = strlen(stem);
    if (n < 14 || n > 15 || !sermo_corpus_is_digits(stem, 4) || stem[4] != '_' || stem[8] != '_' ||
        stem[12] != '_')
        return 0;
    for (int i = 5; i < 8; i++)
        if (stem[i] < 'A' || stem[i] > 'Z') return 0;
    int emo = -1;
    for (int i = 0; i < 6; i++)
        if (strncmp(stem + 9, codes[i], 3) == 0) emo = i;
    int lvl = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(stem + 13, levels[i].code) == 0) lvl = i;
    if (emo < 0 || lvl < 0) return 0;
    f->n = 0;
    sermo_corpus_fields_set(f, "emotion", sermo_corpus_cremad_emotions[emo]);
    sermo_corpus_fields_set_n(f, "speaker", stem, 4);
    sermo_corpus_fields_set_n(f, "sentence", stem + 5, 3);
    sermo_corpus_fields_set(f, "level", lvl == 4 ? "XX" : levels[lvl].code);
    sermo_corpus_fields_set(f, "intensity", levels[lvl].intensity);
    return 1;
}

static int demo_column(const corpus_csv *csv, const char *name) {
    for (int32_t i = 0; i < csv->n_fields; i++)
        if (sermo_corpus_strcasecmp_ascii(csv->fields[i], name) == 0) return i;
    return -1;
}

sermo_status sermo_corpus_cremad_load_demographics(const char *path, cremad_demographics *d,
                                                   sermo_error *err) {
    d->actors = NULL;
    d->n = 0;
    char *data;
    size_t size;
    sermo_status st = sermo_corpus_read_file(path, &data, &size, err);
    if (st != SERMO_OK) return st;
    corpus_csv csv;
    sermo_corpus_csv_init(&csv, path, data, size);
    int got, col[5] = {-1, -1, -1, -1, -1};
    static const char *const names[5] = {"ActorID", "Age", "Sex", "Race", "Ethnicity"};
    int32_t cap = 0;
    st = sermo_corpus_csv_next(&csv, &got, err);
    if (st == SERMO_OK && !got) st = sermo_fail(err, SERMO_ERR_FORMAT, "%s: empty file", path);
    for (int i = 0; st == SERMO_OK && i < 5; i++)
        if ((col[i] = demo_column(&csv, names[i])) < 0)
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s:1: no column %s", path, names[i]);
    while (st == SERMO_OK && (st = sermo_corpus_csv_next(&csv, &got, err)) == SERMO_OK && got) {
        int need = 0;
        for (int i = 0; i < 5; i++)
            if (col[i] > need) need = col[i];
        if (csv.n_fields <= need) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: expected %d fields, found %d", path,
                            (long long)csv.line, need + 1, (int)csv.n_fields);
            break;
        }
        char *end_id, *end_age;
        long id = strtol(csv.fields[col[0]], &end_id, 10);
        long age = strtol(csv.fields[col[1]], &end_age, 10);
        if (*end_id || *end_age || end_id == csv.fields[col[0]] || end_age == csv.fields[col[1]] ||
            id < 0 || id > 99999 || age < 0 || age > 150) {
            st = sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: bad ActorID or Age", path,
                            (long long)csv.line);
            break;
        }
        if (d->n == cap) {
            cap = cap ? 2 * cap : 128;
            cremad_actor *a = realloc(d->actors, sizeof *a * (size_t)cap);
            if (!a) {
                st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            d->actors = a;
        }
        cremad_actor *a = &d->actors[d->n++];
        a->id = (int32_t)id;
        a->age = (int32_t)age;
        snprintf(a->sex, sizeof a->sex, "%s", csv.fields[col[2]]);
        for (char *p = a->sex; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        snprintf(a->race, sizeof a->race, "%s", csv.fields[col[3]]);
        snprintf(a->ethnicity, sizeof a->ethnicity, "%s", csv.fields[col[4]]);
    }
    sermo_corpus_csv_free(&csv);
    free(data);
    if (st != SERMO_OK) sermo_corpus_cremad_free_demographics(d);
    return st;
}

void sermo_corpus_cremad_free_demographics(cremad_demographics *d) {
    free(d->actors);
    d->actors = NULL;
    d->n = 0;
}

void sermo_corpus_cremad_add_demographics(const cremad_demographics *d, corpus_fields *f) {
    const char *spk = sermo_corpus_fields_get(f, "speaker");
    if (!spk) return;
    int id = atoi(spk);
    for (int32_t i = 0; i < d->n; i++) {
        const cremad_actor *a = &d->actors[i];
        if (a->id != id) continue;
        char buf[16];
        if (a->sex[0]) sermo_corpus_fields_set(f, "sex", a->sex);
        snprintf(buf, sizeof buf, "%d", (int)a->age);
        sermo_corpus_fields_set(f, "age", buf);
        sermo_corpus_age_group(a->age, buf, sizeof buf);
        sermo_corpus_fields_set(f, "age_group", buf);
        if (a->race[0]) sermo_corpus_fields_set(f, "race", a->race);
        if (a->ethnicity[0]) sermo_corpus_fields_set(f, "ethnicity", a->ethnicity);
        return;
    }
}
