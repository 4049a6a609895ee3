/* test_manifest.c: the CSV manifest: columns, quoting, path resolution,
 * targets, label sets, and a clear file:line error for each malformed
 * manifest. Needs no shared data. */
#include "corpus/corpus_internal.h"
#include "corpus_fixtures.h"

static sermo_status add_text(const char *dir, const char *name, const char *text, const char *target,
                             sermo_label_set set, sermo_corpus **out, sermo_error *err) {
    char path[1024];
    fixture_write(dir, name, text);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sermo_corpus *c = fixture_corpus(target, set, NULL);
    sermo_status st = sermo_corpus_add(c, path, SERMO_CORPUS_AUTO, err);
    if (out) *out = c;
    else sermo_corpus_free(c);
    return st;
}

static void test_valid(const char *dir) {
    const char *text =
        "\xEF\xBB\xBFpath,label,speaker,gender,note\r\n"
        "a/one.wav,happy,s1,f,plain\r\n"
        "\"b/two, with comma.wav\",Anger,s1,m,\"said \"\"hi\"\"\"\r\n"
        "/abs/three.wav,calm,ravdess:07,m,\"two\nlines\"\r\n"
        "\r\n"
        "four.wav,,s2,f,no label\r\n"
        "five.wav,sad,s2,,no gender\r\n";
    sermo_error err = {0};
    sermo_corpus *c;
    CHECK(add_text(dir, "train.csv", text, NULL, SERMO_LABELS_NATIVE, &c, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 4 && sermo_corpus_n_dropped(c) == 1, "4 items, the unlabelled one dropped (%lld, %lld)",
          (long long)sermo_corpus_size(c), (long long)sermo_corpus_n_dropped(c));
    char want[1024];
    snprintf(want, sizeof want, "%s/a/one.wav", dir);
    CHECK(strcmp(sermo_corpus_item(c, 0)->path, want) == 0, "relative path resolved: %s", sermo_corpus_item(c, 0)->path);
    snprintf(want, sizeof want, "%s/b/two, with comma.wav", dir);
    CHECK(strcmp(sermo_corpus_item(c, 1)->path, want) == 0, "quoted comma: %s", sermo_corpus_item(c, 1)->path);
    CHECK(strcmp(sermo_corpus_item(c, 2)->path, "/abs/three.wav") == 0, "absolute path kept");
    CHECK(strcmp(sermo_corpus_value(c, 1, "note"), "said \"hi\"") == 0, "doubled quotes: %s", sermo_corpus_value(c, 1, "note"));
    CHECK(strcmp(sermo_corpus_value(c, 2, "note"), "two\nlines") == 0, "newline in quotes");
    CHECK(strcmp(sermo_corpus_item(c, 0)->speaker, "train:s1") == 0, "speaker qualified by stem: %s",
          sermo_corpus_item(c, 0)->speaker);
    CHECK(strcmp(sermo_corpus_item(c, 2)->speaker, "ravdess:07") == 0, "qualified speaker kept");
    CHECK(sermo_corpus_item(c, 0)->corpus == SERMO_CORPUS_MANIFEST, "kind manifest");
    CHECK(sermo_corpus_value(c, 3, "gender") == NULL, "empty value is missing");
    /* Native manifest classes: its labels sorted. */
    CHECK(sermo_corpus_n_classes(c) == 4 && strcmp(sermo_corpus_class_name(c, 0), "Anger") == 0 &&
              strcmp(sermo_corpus_class_name(c, 3), "sad") == 0, "sorted labels");
    CHECK(sermo_corpus_item(c, 0)->label == 2, "happy is class 2");
    sermo_corpus_free(c);

    CHECK(add_text(dir, "train.csv", text, "gender", SERMO_LABELS_NATIVE, &c, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 4 && sermo_corpus_n_dropped(c) == 1, "gender target drops the missing one");
    CHECK(sermo_corpus_n_classes(c) == 2 && strcmp(sermo_corpus_class_name(c, 1), "m") == 0, "gender classes");
    sermo_corpus_free(c);

    CHECK(add_text(dir, "train.csv", text, NULL, SERMO_LABELS_COMMON6, &c, &err) == SERMO_OK, "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 3 && sermo_corpus_n_dropped(c) == 2, "COMMON6 drops calm and the unlabelled");
    CHECK(strcmp(sermo_corpus_value(c, 1, "emotion"), "angry") == 0 && sermo_corpus_item(c, 1)->label == 1,
          "Anger -> angry");
    sermo_corpus_free(c);

    /* No speaker column: one unknown speaker per manifest. */
    CHECK(add_text(dir, "x.CSV", "PATH,Emotion\nq.wav,sad\n", NULL, SERMO_LABELS_NATIVE, &c, &err) == SERMO_OK,
          "%s", err.msg);
    CHECK(sermo_corpus_size(c) == 1 && strcmp(sermo_corpus_item(c, 0)->speaker, "x:unknown") == 0,
          "speaker %s", sermo_corpus_size(c) ? sermo_corpus_item(c, 0)->speaker : "-");
    sermo_corpus_free(c);
}

static void test_malformed(const char *dir) {
    static const struct {
        const char *text;
        sermo_status status;
        const char *where; /* expected in the message */
    } cases[] = {
        {"", SERMO_ERR_FORMAT, "bad.csv: empty"},
        {"path,label\n", SERMO_ERR_EMPTY, "bad.csv: no rows"},
        {"file,label\na.wav,sad\n", SERMO_ERR_FORMAT, "bad.csv:1:"},
        {"path\na.wav\n", SERMO_ERR_FORMAT, "bad.csv:1:"},
        {"path,label,speaker,speaker\na,b,c,d\n", SERMO_ERR_FORMAT, "duplicate"},
        {"path,label,corpus\na,b,c\n", SERMO_ERR_FORMAT, "reserved"},
        {"path,label,\na,b,c\n", SERMO_ERR_FORMAT, "no name"},
        {"path,label\na.wav,sad\nb.wav,sad,extra\n", SERMO_ERR_FORMAT, "bad.csv:3: expected 2 fields, found 3"},
        {"path,label\na.wav,sad\n\nb.wav\n", SERMO_ERR_FORMAT, "bad.csv:4:"},
        {"path,label\na.wav,\"sad\n", SERMO_ERR_FORMAT, "bad.csv:2: unterminated"},
        {"path,label\na.wav,\"sad\"x\n", SERMO_ERR_FORMAT, "bad.csv:2: unexpected character"},
        {"path,label\na\"b.wav,sad\n", SERMO_ERR_FORMAT, "bad.csv:2: quote inside"},
        {"path,label\n,sad\n", SERMO_ERR_FORMAT, "bad.csv:2: empty path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sermo_error err = {0};
        sermo_corpus *c;
        sermo_status st = add_text(dir, "bad.csv", cases[i].text, NULL, SERMO_LABELS_NATIVE, &c, &err);
        CHECK(st == cases[i].status, "case %zu: status %d (%s)", i, (int)st, err.msg);
        CHECK(strstr(err.msg, cases[i].where) != NULL, "case %zu: message '%s' lacks '%s'", i, err.msg,
              cases[i].where);
        CHECK(sermo_corpus_size(c) == 0 && sermo_corpus_n_columns(c) == 0 && sermo_corpus_n_classes(c) == 0,
              "case %zu: nothing left behind", i);
        sermo_corpus_free(c);
    }
    /* A NUL byte inside a field, from memory. */
    sermo_error err = {0};
    sermo_corpus *c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    static const char nul[] = "path,label\na\0.wav,sad\n";
    CHECK(sermo_corpus_add_manifest_memory(c, nul, sizeof nul - 1, "mem.csv", &err) == SERMO_ERR_FORMAT &&
              strstr(err.msg, "mem.csv:2: NUL") != NULL, "NUL byte: %s", err.msg);
    static const char ok[] = "path,label\nx.wav,sad\n";
    CHECK(sermo_corpus_add_manifest_memory(c, ok, sizeof ok - 1, "mem/m.csv", &err) == SERMO_OK &&
              sermo_corpus_size(c) == 1 && sermo_corpus_item(c, 0)->label == 0 &&
              strcmp(sermo_corpus_item(c, 0)->path, "mem/x.wav") == 0, "from memory: %s", err.msg);
    sermo_corpus_free(c);
    c = fixture_corpus(NULL, SERMO_LABELS_NATIVE, NULL);
    CHECK(sermo_corpus_add(c, "/nonexistent/m.csv", SERMO_CORPUS_MANIFEST, &err) == SERMO_ERR_IO &&
              strstr(err.msg, "/nonexistent/m.csv") != NULL, "missing manifest: %s", err.msg);
    sermo_corpus_free(c);
}

int main(void) {
    const char *dir = fixture_mkdtemp();
    test_valid(dir);
    test_malformed(dir);
    fixture_cleanup();
    return check_report();
}
