/* emodb.c: Berlin Database of Emotional Speech names, SSTTTEv (e.g. 03a01Fa;
 * Burkhardt et al. 2005): speaker 03..16, text code a01..a07 / b01..b10,
 * emotion letter (German initials) W Wut anger, L Langeweile boredom,
 * E Ekel disgust, A Angst fear, F Freude happiness, T Trauer sadness,
 * N neutral; v the version letter. Sex and age per speaker are from the
 * corpus documentation. */
#include "corpus_internal.h"

#include <stdio.h>
#include <string.h>

const char *const sermo_corpus_emodb_emotions[7] = {"anger",     "boredom", "disgust", "fear",
                                                    "happiness", "sadness", "neutral"};

static const struct {
    int id, age;
    const char *sex;
} emodb_speakers[] = {
    {3, 31, "male"},   {8, 34, "female"}, {9, 21, "female"},  {10, 32, "male"}, {11, 26, "male"},
    {12, 30, "male"},  {13, 32, "female"}, {14, 35, "female"}, {15, 25, "male"}, {16, 31, "female"},
};

int sermo_corpus_parse_emodb(const char *stem, corpus_fields *f) {
    static const char letters[] = "WLEAFTN";
    if (strlen(stem) != 7 || !sermo_corpus_is_digits(stem, 2)) return 0;
    if ((stem[2] != 'a' && stem[2] != 'b') || !sermo_corpus_is_digits(stem + 3, 2)) return 0;
    if (stem[6] < 'a' || stem[6] > 'z') return 0;
    const char *l = strchr(letters, stem[5]);
    if (!l || !stem[5]) return 0;
    int id = (stem[0] - '0') * 10 + (stem[1] - '0');
    int s = -1;
    for (size_t i = 0; i < sizeof emodb_speakers / sizeof emodb_speakers[0]; i++)
        if (emodb_speakers[i].id == id) s = (int)i;
    if (s < 0) return 0;
    char buf[16];
    f->n = 0;
    sermo_corpus_fields_set(f, "emotion", sermo_corpus_emodb_emotions[l - letters]);
    sermo_corpus_fields_set_n(f, "speaker", stem, 2);
    sermo_corpus_fields_set_n(f, "text", stem + 2, 3);
    sermo_corpus_fields_set_n(f, "version", stem + 6, 1);
    sermo_corpus_fields_set(f, "sex", emodb_speakers[s].sex);
    snprintf(buf, sizeof buf, "%d", emodb_speakers[s].age);
    sermo_corpus_fields_set(f, "age", buf);
    sermo_corpus_age_group(emodb_speakers[s].age, buf, sizeof buf);
    sermo_corpus_fields_set(f, "age_group", buf);
    return 1;
}
