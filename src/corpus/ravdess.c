/* ravdess.c: RAVDESS speech file names, 03-01-EE-II-SS-RR-AA
 * (Livingstone & Russo 2018): modality 03 = audio only, vocal channel
 * 01 = speech; emotion 01..08; intensity 01 normal, 02 strong; statement
 * 01 "Kids are talking by the door", 02 "Dogs are sitting by the door";
 * repetition 01..02; actor 01..24, odd actors male, even female. Song files
 * (channel 02) and audio-visual files are not speech clips and do not parse. */
#include "corpus_internal.h"

#include <stdio.h>
#include <string.h>

const char *const sermo_corpus_ravdess_emotions[8] = {"neutral", "calm",    "happy",   "sad",
                                                      "angry",   "fearful", "disgust", "surprised"};

int sermo_corpus_parse_ravdess(const char *stem, corpus_fields *f) {
    int code[7];
    if (strlen(stem) != 20) return 0;
    for (int i = 0; i < 7; i++) {
        const char *p = stem + 3 * i;
        if (!sermo_corpus_is_digits(p, 2) || (i < 6 && p[2] != '-')) return 0;
        code[i] = (p[0] - '0') * 10 + (p[1] - '0');
    }
    if (code[0] != 3 || code[1] != 1) return 0;
    if (code[2] < 1 || code[2] > 8 || code[3] < 1 || code[3] > 2 || code[4] < 1 || code[4] > 2 ||
        code[5] < 1 || code[5] > 2 || code[6] < 1 || code[6] > 24)
        return 0;
    f->n = 0;
    sermo_corpus_fields_set(f, "emotion", sermo_corpus_ravdess_emotions[code[2] - 1]);
    sermo_corpus_fields_set(f, "speaker", stem + 18);
    sermo_corpus_fields_set(f, "sex", code[6] % 2 ? "male" : "female");
    sermo_corpus_fields_set(f, "intensity", code[3] == 1 ? "normal" : "strong");
    sermo_corpus_fields_set(f, "statement", code[4] == 1 ? "kids" : "dogs");
    sermo_corpus_fields_set(f, "repetition", code[5] == 1 ? "1" : "2");
    return 1;
}
