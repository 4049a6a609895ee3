/* test_corpus.c: the per-corpus file-name parsers, folder walking and
 * detection, targets, label sets and drop counts. Real corpora under
 * ../shared/data are used when present; everything else runs on names and
 * synthetic folders. */
#include "corpus/corpus_internal.h"
#include "corpus_fixtures.h"

static void test_parsers(void) {
    corpus_fields f;
    CHECK(sermo_corpus_parse_ravdess("03-01-06-02-01-02-07", &f) == 1, "ravdess parses");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "emotion"), "fearful") == 0, "ravdess emotion");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "speaker"), "07") == 0, "ravdess actor");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "sex"), "male") == 0, "odd actor is male");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "intensity"), "strong") == 0, "ravdess intensity");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "repetition"), "2") == 0, "ravdess repetition");
    CHECK(sermo_corpus_parse_ravdess("03-01-08-01-01-01-24", &f) == 1, "ravdess 24");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "sex"), "female") == 0, "even actor is female");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "emotion"), "surprised") == 0, "ravdess 08");
    CHECK(sermo_corpus_parse_ravdess("03-02-06-02-01-02-07", &f) == 0, "song is not speech");
    CHECK(sermo_corpus_parse_ravdess("01-01-06-02-01-02-07", &f) == 0, "audio-visual is not audio");
    CHECK(sermo_corpus_parse_ravdess("03-01-09-02-01-02-07", &f) == 0, "emotion 09");
    CHECK(sermo_corpus_parse_ravdess("03-01-06-02-01-02-25", &f) == 0, "actor 25");
    CHECK(sermo_corpus_parse_ravdess("03-01-06-02-01-02-7", &f) == 0, "short");
    CHECK(sermo_corpus_parse_ravdess("03-01-06-02-01-02-07x", &f) == 0, "long");

    CHECK(sermo_corpus_parse_cremad("1001_DFA_ANG_XX", &f) == 1, "cremad parses");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "emotion"), "anger") == 0, "cremad emotion");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "speaker"), "1001") == 0, "cremad actor");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "sentence"), "DFA") == 0, "cremad sentence");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "intensity"), "unspecified") == 0, "cremad XX");
    CHECK(sermo_corpus_parse_cremad("1040_ITH_SAD_X", &f) == 1, "the corpus's own X level");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "level"), "XX") == 0, "X read as XX");
    CHECK(sermo_corpus_parse_cremad("1091_TIE_FEA_HI", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "intensity"), "high") == 0, "cremad HI");
    CHECK(sermo_corpus_parse_cremad("1001_DFA_BOR_XX", &f) == 0, "unknown emotion");
    CHECK(sermo_corpus_parse_cremad("1001_DFA_ANG_ZZ", &f) == 0, "unknown level");
    CHECK(sermo_corpus_parse_cremad("100_DFA_ANG_XX", &f) == 0, "short actor");

    CHECK(sermo_corpus_parse_tess("OAF_back_ps", &f) == 1, "tess ps");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "emotion"), "pleasant_surprise") == 0, "ps name");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "speaker"), "OAF") == 0, "tess speaker");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "age_group"), "60-69") == 0, "OAF age group");
    CHECK(sermo_corpus_parse_tess("OA_bite_neutral", &f) == 1, "the OA typo");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "speaker"), "OAF") == 0, "OA is OAF");
    CHECK(sermo_corpus_parse_tess("YAF_dog_Fear", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "emotion"), "fear") == 0, "case ignored");
    CHECK(sermo_corpus_parse_tess("YAF_dog_pleasant_surprised", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "emotion"), "pleasant_surprise") == 0, "long ps");
    CHECK(sermo_corpus_parse_tess("XAF_dog_fear", &f) == 0, "unknown speaker");
    CHECK(sermo_corpus_parse_tess("YAF_dog_calm", &f) == 0, "unknown emotion");
    CHECK(sermo_corpus_parse_tess("YAF__fear", &f) == 0, "no word");

    CHECK(sermo_corpus_parse_savee("DC_a01", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "emotion"), "anger") == 0, "savee a");
    CHECK(sermo_corpus_parse_savee("JK_sa15", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "emotion"), "sadness") == 0 &&
              strcmp(sermo_corpus_fields_get(&f, "speaker"), "JK") == 0, "savee sa");
    CHECK(sermo_corpus_parse_savee("KL_su03", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "emotion"), "surprise") == 0, "savee su");
    CHECK(sermo_corpus_parse_savee("XX_a01", &f) == 0, "savee speaker");
    CHECK(sermo_corpus_parse_savee("DC_x01", &f) == 0, "savee emotion");
    CHECK(sermo_corpus_parse_savee("DC_s01", &f) == 0, "savee s alone");
    CHECK(sermo_corpus_parse_savee("DC_a", &f) == 0, "savee number");

    CHECK(sermo_corpus_parse_emodb("03a01Fa", &f) == 1, "emodb parses");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "emotion"), "happiness") == 0, "emodb F");
    CHECK(strcmp(sermo_corpus_fields_get(&f, "sex"), "male") == 0, "emodb 03 male");
    CHECK(sermo_corpus_parse_emodb("16b10Lb", &f) == 1 &&
              strcmp(sermo_corpus_fields_get(&f, "emotion"), "boredom") == 0 &&
              strcmp(sermo_corpus_fields_get(&f, "sex"), "female") == 0, "emodb L, 16 female");
    CHECK(sermo_corpus_parse_emodb("02a01Fa", &f) == 0, "no speaker 02");
    CHECK(sermo_corpus_parse_emodb("03a01Xa", &f) == 0, "emodb letter");
    CHECK(sermo_corpus_parse_emodb("03c01Fa", &f) == 0, "emodb text");

    CHECK(strcmp(sermo_corpus_map_common6("Fearful"), "fear") == 0, "fearful -> fear");
    CHECK(strcmp(sermo_corpus_map_common6("anger"), "angry") == 0, "anger -> angry");
    CHECK(strcmp(sermo_corpus_map_common6("happiness"), "happy") == 0, "happiness -> happy");
    CHECK(sermo_corpus_map_common6("calm") == NULL && sermo_corpus_map_common6("boredom") == NULL &&
              sermo_corpus_map_common6("pleasant_surprise") == NULL, "outside COMMON6");
    char buf[16];
    sermo_corpus_age_group(29, buf, sizeof buf);
    CHECK(strcmp(buf, "20-29") == 0, "age 29 -> %s", buf);
}

/* Every real file name listed in the checksum tables parses. */
static void test_real_names(const char *data) {
    char path[1024];
    const char *lists[] = {"cremad-tess.sha256.tsv", "ravdess-tess-emodb-jl.sha256.tsv"};
    int64_t ok[6] = {0}, total[6] = {0};
    char cremad_actors[100] = {0};
    for (int l = 0; l < 2; l++) {
        snprintf(path, sizeof path, "%s/checksums/%s", data, lists[l]);
        FILE *f = fopen(path, "r");
        CHECK(f != NULL, "open %s", path);
        if (!f) continue;
        char line[2048];
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '#') continue;
            *strchr(line, '\t') = '\0';
            char stem[sizeof line];
            const char *slash = strrchr(line, '/');
            snprintf(stem, sizeof stem, "%s", slash ? slash + 1 : line);
            *strrchr(stem, '.') = '\0';
            corpus_fields fl;
            int k = strncmp(line, "data/CREMA-D", 12) == 0 ? 0
                    : strncmp(line, "data/TESS", 9) == 0 || strncmp(line, "tess", 4) == 0 ? 1
                    : strncmp(line, "emodb", 5) == 0 ? 2
                    : strncmp(line, "ravdess", 7) == 0 ? 3 : 5;
            int (*parse[4])(const char *, corpus_fields *) = {
                sermo_corpus_parse_cremad, sermo_corpus_parse_tess, sermo_corpus_parse_emodb,
                sermo_corpus_parse_ravdess};
            total[k]++;
            if (k < 4 && parse[k](stem, &fl)) {
                ok[k]++;
                if (k == 0) cremad_actors[atoi(sermo_corpus_fields_get(&fl, "speaker")) - 1000] = 1;
            } else if (k < 4) {
                fprintf(stderr, "  unparsed: %s\n", line);
            }
        }
        fclose(f);
    }
    int n_actors = 0;
    for (int i = 0; i < 100; i++) n_actors += cremad_actors[i];
    CHECK(total[0] == 7442 && ok[0] == 7442, "CREMA-D names %lld/%lld", (long long)ok[0], (long long)total[0]);
    CHECK(n_actors == 91, "CREMA-D actors %d", n_actors);
    CHECK(total[1] == 5600 && ok[1] == 5600, "TESS names %lld/%lld", (long long)ok[1], (long long)total[1]);
    CHECK(total[2] == 535 && ok[2] == 535, "EmoDB names %lld/%lld", (long long)ok[2], (long long)total[2]);
    CHECK(total[3] == 1440 && ok[3] == 1440, "RAVDESS names %lld/%lld", (long long)ok[3], (long long)total[3]);
}

static void test_ravdess(const char *data) {
    char dir[1024];
    sermo_error err = {0};
    snprintf(dir, sizeof dir, "%s/ravdess", data);
    sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "add: %s", err.msg);
    CHECK(sermo_corpus_size(c) == 1440, "1440 files, got %lld", (long long)sermo_corpus_size(c));
    CHECK(sermo_corpus_n_dropped(c) == 0, "none dropped");
    CHECK(fixture_n_speakers(c) == 24, "24 actors");
    static const char *const order[8] = {"neutral", "calm",    "happy",   "sad",
                                         "angry",   "fearful", "disgust", "surprised"};
    CHECK(sermo_corpus_n_classes(c) == 8, "8 classes");
    for (int32_t k = 0; k < 8; k++) {
        CHECK(sermo_corpus_class_name(c, k) && strcmp(sermo_corpus_class_name(c, k), order[k]) == 0,
              "class %d is %s", (int)k, order[k]);
        /* Neutral has no strong intensity: 4 clips per actor, the others 8. */
        CHECK(fixture_count_label(c, k) == (k == 0 ? 96 : 192), "class %d count %lld", (int)k,
              (long long)fixture_count_label(c, k));
    }
    char spk[32];
    int per_actor_ok = 1;
    for (int a = 1; a <= 24; a++) {
        snprintf(spk, sizeof spk, "ravdess:%02d", a);
        per_actor_ok &= fixture_count_value(c, "speaker", spk) == 60;
    }
    CHECK(per_actor_ok, "60 clips per actor");
    int sex_ok = 1, corpus_ok = 1;
    for (int64_t i = 0; i < sermo_corpus_size(c); i++) {
        const sermo_item *it = sermo_corpus_item(c, i);
        int actor = atoi(it->speaker + 8);
        sex_ok &= strcmp(sermo_corpus_value(c, i, "sex"), actor % 2 ? "male" : "female") == 0;
        corpus_ok &= it->corpus == SERMO_CORPUS_RAVDESS && strstr(it->path, ".flac") != NULL &&
                     it->label >= 0 && it->label < 8;
    }
    CHECK(sex_ok, "sex from actor parity");
    CHECK(corpus_ok, "items are RAVDESS flac with labels");
    CHECK(strcmp(sermo_corpus_item(c, 0)->path + strlen(dir), "/Actor_01/03-01-01-01-01-01-01.flac") == 0,
          "sorted walk starts with %s", sermo_corpus_item(c, 0)->path);
    CHECK(sermo_corpus_item(c, 1440) == NULL && sermo_corpus_item(c, -1) == NULL, "bounds");
    CHECK(sermo_corpus_value(c, 0, "nope") == NULL, "unknown column");
    int has_intensity = 0;
    for (int32_t j = 0; j < sermo_corpus_n_columns(c); j++)
        has_intensity |= strcmp(sermo_corpus_column_name(c, j), "intensity") == 0;
    CHECK(has_intensity, "intensity column listed");

    /* A failing add leaves the corpus as it was. */
    CHECK(sermo_corpus_add(c, "/nonexistent/sermo", SERMO_CORPUS_AUTO, &err) == SERMO_ERR_IO, "missing");
    CHECK(strstr(err.msg, "/nonexistent/sermo") != NULL, "message names the path: %s", err.msg);
    CHECK(sermo_corpus_size(c) == 1440 && sermo_corpus_n_classes(c) == 8, "unchanged after failure");
    sermo_corpus_free(c);

    const char *targets[][3] = {{"sex", "female", "male"}, {"intensity", "normal", "strong"}};
    for (int t = 0; t < 2; t++) {
        c = fixture_corpus(targets[t][0], SERMO_LABELS_NATIVE, NULL);
        CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_RAVDESS, &err) == SERMO_OK, "%s", err.msg);
        CHECK(sermo_corpus_n_classes(c) == 2 && strcmp(sermo_corpus_class_name(c, 0), targets[t][1]) == 0 &&
                  strcmp(sermo_corpus_class_name(c, 1), targets[t][2]) == 0, "%s classes sorted", targets[t][0]);
        CHECK(fixture_count_label(c, 0) == (t == 0 ? 720 : 768), "%s class 0: %lld", targets[t][0],
              (long long)fixture_count_label(c, 0));
        sermo_corpus_free(c);
    }

    /* A target RAVDESS does not have drops everything, and says so. */
    c = fixture_corpus("race", SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_RAVDESS, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 0 && sermo_corpus_n_dropped(c) == 1440, "race: all dropped");
    CHECK(sermo_corpus_n_dropped_paths(c) == 1440 && strstr(sermo_corpus_dropped_path(c, 0), "Actor_01"),
          "dropped paths kept");
    sermo_corpus_free(c);

    /* COMMON6 drops calm and surprised; RAVDESS + TESS combine. */
    c = fixture_corpus(NULL, SERMO_LABELS_COMMON6, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 1056 && sermo_corpus_n_dropped(c) == 384, "COMMON6 RAVDESS %lld kept %lld dropped",
          (long long)sermo_corpus_size(c), (long long)sermo_corpus_n_dropped(c));
    CHECK(sermo_corpus_n_classes(c) == 6 && strcmp(sermo_corpus_class_name(c, 0), "sad") == 0 &&
              strcmp(sermo_corpus_class_name(c, 3), "fear") == 0 &&
              strcmp(sermo_corpus_class_name(c, 5), "neutral") == 0, "COMMON6 order");
    CHECK(fixture_count_label(c, 3) == 192, "fearful mapped to fear");
    snprintf(dir, sizeof dir, "%s/tess", data);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 1296 && sermo_corpus_n_dropped(c) == 424, "RAVDESS+TESS %lld kept %lld dropped",
          (long long)sermo_corpus_size(c), (long long)sermo_corpus_n_dropped(c));
    CHECK(fixture_n_speakers(c) == 26, "26 speakers");
    CHECK(fixture_count_value(c, "speaker", "tess:OAF") == 120, "tess:OAF qualified");
    CHECK(fixture_count_label(c, 3) == 232 && fixture_count_label(c, 5) == 136, "fear and neutral across corpora");
    CHECK(sermo_corpus_item(c, 1295)->corpus == SERMO_CORPUS_TESS, "TESS after RAVDESS");
    sermo_corpus_free(c);
}

static void test_tess_emodb(const char *data) {
    char dir[1024];
    sermo_error err = {0};
    snprintf(dir, sizeof dir, "%s/tess", data);
    sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 280 && sermo_corpus_n_dropped(c) == 0, "TESS 280");
    CHECK(sermo_corpus_n_classes(c) == 7, "TESS 7 classes");
    int each = 1;
    for (int32_t k = 0; k < 7; k++) each &= fixture_count_label(c, k) == 40;
    CHECK(each, "40 per TESS emotion");
    CHECK(fixture_count_value(c, "speaker", "tess:YAF") == 140, "YAF 140");
    CHECK(fixture_count_value(c, "emotion", "pleasant_surprise") == 40, "ps mapped");
    sermo_corpus_free(c);

    snprintf(dir, sizeof dir, "%s/emodb", data);
    c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 60, "EmoDB 60");
    CHECK(sermo_corpus_n_classes(c) == 7 && strcmp(sermo_corpus_class_name(c, 1), "boredom") == 0,
          "EmoDB native W L E A F T N");
    CHECK(fixture_count_value(c, "emotion", "anger") == 24 && fixture_count_value(c, "emotion", "happiness") == 11 &&
              fixture_count_value(c, "emotion", "neutral") == 15 && fixture_count_value(c, "emotion", "sadness") == 10,
          "EmoDB emotion counts");
    CHECK(fixture_n_speakers(c) == 2 && fixture_count_value(c, "speaker", "emodb:03") > 0, "EmoDB speakers");
    sermo_corpus_free(c);
}

static void make_cremad(const char *dir) {
    const char *names[] = {"AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1001_IEO_HAP_HI.wav",
                           "AudioWAV/1002_TIE_NEU_LO.flac", "AudioWAV/1002_TIE_SAD_MD.WAV",
                           "AudioWAV/1091_ITS_FEA_XX.wav", "AudioWAV/1003_DFA_DIS_XX.wav",
                           "AudioWAV/1040_ITH_SAD_X.wav",  "AudioWAV/bad_name.wav",
                           "AudioWAV/notes.txt",           "AudioWAV/.1001_DFA_ANG_XX.wav"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) fixture_write(dir, names[i], "");
}

static void test_cremad(const char *data) {
    const char *dir = fixture_mkdtemp();
    make_cremad(dir);
    char audio[1024], demo[1024];
    snprintf(audio, sizeof audio, "%s/AudioWAV", dir);
    if (data) {
        snprintf(demo, sizeof demo, "%s/cremad/VideoDemographics.csv", data);
    } else {
        snprintf(demo, sizeof demo, "%s/demo.csv", dir);
        fixture_write(dir, "demo.csv",
                      "\"ActorID\",\"Age\",\"Sex\",\"Race\",\"Ethnicity\"\n"
                      "1001,51,\"Male\",\"Caucasian\",\"Not Hispanic\"\n"
                      "1002,21,\"Female\",\"Caucasian\",\"Not Hispanic\"\n"
                      "1003,21,\"Female\",\"Caucasian\",\"Not Hispanic\"\n"
                      "1040,31,\"Male\",\"Caucasian\",\"Not Hispanic\"\n"
                      "1091,29,\"Female\",\"Asian\",\"Not Hispanic\"\n");
    }
    sermo_error err = {0};
    sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, audio, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "emotion needs no table: %s", err.msg);
    CHECK(sermo_corpus_size(c) == 7 && sermo_corpus_n_dropped(c) == 1, "7 clips, 1 dropped (got %lld, %lld)",
          (long long)sermo_corpus_size(c), (long long)sermo_corpus_n_dropped(c));
    CHECK(sermo_corpus_item(c, 0)->corpus == SERMO_CORPUS_CREMAD, "detected as CREMA-D");
    CHECK(sermo_corpus_n_classes(c) == 6 && strcmp(sermo_corpus_class_name(c, 0), "anger") == 0, "CREMA-D native");
    CHECK(fixture_count_value(c, "speaker", "cremad:1001") == 2, "cremad:1001");
    sermo_corpus_free(c);

    c = fixture_corpus("sex", SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, audio, SERMO_CORPUS_CREMAD, &err) == SERMO_ERR_IO, "sex without the table fails");
    CHECK(strstr(err.msg, "VideoDemographics.csv") != NULL, "message: %s", err.msg);
    sermo_corpus_free(c);

    c = fixture_corpus("age_group", SERMO_LABELS_NATIVE, demo);
    CHECK(sermo_corpus_add(c, audio, SERMO_CORPUS_CREMAD, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 7, "all actors in the table");
    CHECK(sermo_corpus_n_classes(c) >= 2 && strcmp(sermo_corpus_class_name(c, 0), "20-29") == 0, "age groups sorted");
    CHECK(strcmp(sermo_corpus_value(c, 0, "age_group"), "50-59") == 0 &&
              strcmp(sermo_corpus_value(c, 0, "age"), "51") == 0, "1001 is 51");
    CHECK(strcmp(sermo_corpus_value(c, 0, "sex"), "male") == 0 &&
              strcmp(sermo_corpus_value(c, 0, "race"), "Caucasian") == 0 &&
              strcmp(sermo_corpus_value(c, 0, "ethnicity"), "Not Hispanic") == 0, "demographics columns");
    sermo_corpus_free(c);

    /* The table beside the audio (one folder up) is found without a path. */
    char *table;
    size_t size;
    CHECK(sermo_corpus_read_file(demo, &table, &size, &err) == SERMO_OK, "%s", err.msg);
    fixture_write(dir, "VideoDemographics.csv", table);
    free(table);
    c = fixture_corpus("race", SERMO_LABELS_COMMON6, NULL);
    CHECK(sermo_corpus_add(c, audio, SERMO_CORPUS_CREMAD, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 7 && fixture_class(c, "Caucasian") >= 0, "race classes");
    sermo_corpus_free(c);

    c = fixture_corpus(NULL, SERMO_LABELS_COMMON6, "/nonexistent/demo.csv");
    CHECK(sermo_corpus_add(c, audio, SERMO_CORPUS_CREMAD, &err) == SERMO_ERR_IO, "a named table must exist");
    sermo_corpus_free(c);
}

static void test_savee_and_walk(void) {
    const char *dir = fixture_mkdtemp();
    const char *names[] = {"DC_a01.wav", "DC_sa02.wav", "JE_su03.wav", "JK_n04.ogg",
                           "sub/KL_h05.MP3", "sub/deeper/KL_f06.Flac", "KL_d07.wav", "KL_x08.wav"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) fixture_write(dir, names[i], "");
    sermo_error err = {0};
    sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_AUTO, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 7 && sermo_corpus_n_dropped(c) == 1, "SAVEE 7 + 1 dropped");
    CHECK(sermo_corpus_item(c, 0)->corpus == SERMO_CORPUS_SAVEE, "detected as SAVEE");
    CHECK(fixture_count_value(c, "speaker", "savee:KL") == 3, "nested folders walked, any case extension");
    CHECK(fixture_count_value(c, "sex", "male") == 7, "SAVEE speakers are male");
    sermo_corpus_free(c);

    c = fixture_corpus(NULL, SERMO_LABELS_COMMON6, NULL);
    CHECK(sermo_corpus_add(c, dir, SERMO_CORPUS_SAVEE, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 6 && sermo_corpus_n_dropped(c) == 2, "COMMON6 drops surprise");
    CHECK(fixture_count_label(c, 0) == 1 && fixture_count_label(c, 1) == 1, "sadness->sad, anger->angry");
    sermo_corpus_free(c);

    /* Errors: empty folder, unknown names, a manifest kind on a folder. */
    const char *empty = fixture_mkdtemp();
    c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, empty, SERMO_CORPUS_AUTO, &err) == SERMO_ERR_EMPTY, "empty folder");
    fixture_write(empty, "hello.wav", "");
    CHECK(sermo_corpus_add(c, empty, SERMO_CORPUS_AUTO, &err) == SERMO_ERR_FORMAT, "unknown names");
    CHECK(strstr(err.msg, empty) != NULL, "message names the folder: %s", err.msg);
    CHECK(sermo_corpus_add(c, empty, SERMO_CORPUS_MANIFEST, &err) == SERMO_ERR_INVALID, "folder as manifest");
    CHECK(sermo_corpus_add(c, empty, (sermo_corpus_kind)99, &err) == SERMO_ERR_INVALID, "bad kind");
    CHECK(sermo_corpus_size(c) == 0 && sermo_corpus_n_dropped(c) == 0, "failed adds leave nothing");
    CHECK(strcmp(sermo_corpus_kind_name(SERMO_CORPUS_EMODB), "emodb") == 0, "kind name");
    sermo_corpus_free(c);
}

int main(void) {
    test_parsers();
    test_savee_and_walk();
    const char *data = check_shared_data();
    test_cremad(data);
    fixture_cleanup();
    if (!data) {
        check_report();
        SKIP("../shared/data not found: RAVDESS, TESS, EmoDB and real-name checks skipped");
    }
    test_real_names(data);
    test_ravdess(data);
    test_tess_emodb(data);
    return check_report();
}
