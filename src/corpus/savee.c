/* savee.c: Surrey Audio-Visual Expressed Emotion names as distributed in
 * one folder, SS_eNN (e.g. DC_a01, JK_sa15): speakers DC, JE, JK, KL (all
 * male); emotion a anger, d disgust, f fear, h happiness, n neutral,
 * sa sadness, su surprise; NN the sentence number. */
#include "corpus_internal.h"

#include <string.h>

const char *const sermo_corpus_savee_emotions[7] = {"anger",   "disgust", "fear",    "happiness",
                                                    "neutral", "sadness", "surprise"};

int sermo_corpus_parse_savee(const char *stem, corpus_fields *f) {
    static const char *const speakers[] = {"DC", "JE", "JK", "KL"};
    static const char *const codes[] = {"a", "d", "f", "h", "n", "sa", "su"};
    if (strlen(stem) < 6 || stem[2] != '_') return 0;
    int s = -1;
    for (int i = 0; i < 4; i++)
        if (strncmp(stem, speakers[i], 2) == 0) s = i;
    if (s < 0) return 0;
    const char *e = stem + 3;
    size_t en = 0;
    while (e[en] >= 'a' && e[en] <= 'z') en++;
    int emo = -1;
    for (int i = 0; i < 7; i++)
        if (strlen(codes[i]) == en && strncmp(e, codes[i], en) == 0) emo = i;
    const char *num = e + en;
    size_t nn = strlen(num);
    if (emo < 0 || nn < 1 || nn > 3 || !sermo_corpus_is_digits(num, nn)) return 0;
    f->n = 0;
    sermo_corpus_fields_set(f, "emotion", sermo_corpus_savee_emotions[emo]);
    sermo_corpus_fields_set(f, "speaker", speakers[s]);
    sermo_corpus_fields_set(f, "sentence", num);
    sermo_corpus_fields_set(f, "sex", "male");
    return 1;
}
