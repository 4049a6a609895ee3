/* tess.c: Toronto emotional speech set names, <speaker>_<word>_<emotion>
 * (Dupuis & Pichora-Fuller 2010): speakers OAF (older, aged 64) and YAF
 * (younger, aged 26), both female. The distributed corpus spells one file
 * OA_bite_neutral; "ps" and the folder spellings pleasant_surprise(d) all
 * mean pleasant surprise. Case is ignored: folder names vary in case
 * (OAF_Pleasant_surprise, YAF_pleasant_surprised) and so do copies. */
#include "corpus_internal.h"

#include <stdio.h>
#include <string.h>

const char *const sermo_corpus_tess_emotions[7] = {"angry",   "disgust",           "fear", "happy",
                                                   "neutral", "pleasant_surprise", "sad"};

static const char *tess_emotion(const char *s) {
    static const char *const ps[] = {"ps", "pleasant_surprise", "pleasant_surprised"};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (sermo_corpus_strcasecmp_ascii(s, ps[i]) == 0) return "pleasant_surprise";
    for (int i = 0; i < 7; i++)
        if (sermo_corpus_strcasecmp_ascii(s, sermo_corpus_tess_emotions[i]) == 0)
            return sermo_corpus_tess_emotions[i];
    return NULL;
}

int sermo_corpus_parse_tess(const char *stem, corpus_fields *f) {
    const char *u1 = strchr(stem, '_');
    if (!u1) return 0;
    const char *u2 = strchr(u1 + 1, '_');
    if (!u2 || u2 == u1 + 1) return 0;
    size_t sn = (size_t)(u1 - stem), wn = (size_t)(u2 - u1 - 1);
    char spk[4] = {0}, word[CORPUS_VALUE_MAX];
    if (sn < 2 || sn > 3 || wn >= sizeof word) return 0;
    memcpy(spk, stem, sn);
    const char *speaker = NULL;
    if (sermo_corpus_strcasecmp_ascii(spk, "OAF") == 0 || sermo_corpus_strcasecmp_ascii(spk, "OA") == 0)
        speaker = "OAF"; /* "OA" is the corpus's own typo (OA_bite_neutral) */
    else if (sermo_corpus_strcasecmp_ascii(spk, "YAF") == 0)
        speaker = "YAF";
    if (!speaker) return 0;
    for (size_t i = 0; i < wn; i++) {
        char ch = u1[1 + i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) return 0;
        word[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    word[wn] = '\0';
    const char *emotion = tess_emotion(u2 + 1);
    if (!emotion) return 0;
    int age = speaker[0] == 'O' ? 64 : 26;
    char buf[16];
    f->n = 0;
    sermo_corpus_fields_set(f, "emotion", emotion);
    sermo_corpus_fields_set(f, "speaker", speaker);
    sermo_corpus_fields_set(f, "word", word);
    sermo_corpus_fields_set(f, "sex", "female");
    snprintf(buf, sizeof buf, "%d", age);
    sermo_corpus_fields_set(f, "age", buf);
    sermo_corpus_age_group(age, buf, sizeof buf);
    sermo_corpus_fields_set(f, "age_group", buf);
    return 1;
}
