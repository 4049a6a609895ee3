/* test_verify.c: sha256 known answers, verifying corpus folders against a
 * checksum list (the real RAVDESS originals and a tampered copy), and the
 * fetch path: offline failure, and unpacking good, corrupted and hostile
 * zips made here with libarchive's writer. */
#include "check.h"
#include "corpus/corpus_fetch.h"
#include "sermo.h"

#include <archive.h>
#include <archive_entry.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmp_root[] = "/tmp/sermo_verify_XXXXXX";

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n, "write %s", path);
    fclose(f);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void test_sha256(void) {
    char path[512], hex[65];
    sermo_error err = {0};
    snprintf(path, sizeof path, "%s/abc.txt", tmp_root);
    write_file(path, "abc", 3);
    CHECK(sermo_sha256_file(path, hex, &err) == SERMO_OK, "%s", err.msg);
    /* FIPS 180-2 appendix B.1 */
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "abc -> %s", hex);
    snprintf(path, sizeof path, "%s/empty.txt", tmp_root);
    write_file(path, "", 0);
    CHECK(sermo_sha256_file(path, hex, &err) == SERMO_OK, "%s", err.msg);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "empty -> %s", hex);
    /* Longer than one read block: 1,000,000 x 'a' (FIPS 180-2 B.3). */
    static char million[1000000];
    memset(million, 'a', sizeof million);
    snprintf(path, sizeof path, "%s/million.txt", tmp_root);
    write_file(path, million, sizeof million);
    CHECK(sermo_sha256_file(path, hex, &err) == SERMO_OK, "%s", err.msg);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "million a -> %s", hex);
    memset(&err, 0, sizeof err);
    CHECK(sermo_sha256_file("/nonexistent/x", hex, &err) == SERMO_ERR_IO && strstr(err.msg, "/nonexistent/x"),
          "missing file: %s", err.msg);
}

typedef struct progress_log {
    int64_t calls, last_done, last_total;
} progress_log;

static void on_progress(int64_t done, int64_t total, const char *what, void *user_data) {
    progress_log *log = user_data;
    log->calls++;
    log->last_done = done;
    log->last_total = total;
    (void)what;
}

/* A small list and folder made here: runs without the shared data. */
static void test_verify_synthetic(void) {
    char dir[512], sub[600], list[512], path[700];
    snprintf(dir, sizeof dir, "%s/corpus", tmp_root);
    snprintf(sub, sizeof sub, "%s/nested", dir);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(sub, 0755) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/a.wav", dir);
    write_file(path, "abc", 3);
    snprintf(path, sizeof path, "%s/b.wav", sub);
    write_file(path, "", 0);
    snprintf(path, sizeof path, "%s/unlisted.txt", dir);
    write_file(path, "zzz", 3);

    snprintf(list, sizeof list, "%s/list.tsv", tmp_root);
    const char *good = "# path\tsha256\tsize\n"
                       "set/x/a.wav\tBA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\t3\r\n"
                       "set/y/b.wav\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t0\n"
                       "set/z/c.wav\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t0\n"
                       "other/d.wav\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t0\n";
    write_file(list, good, strlen(good));
    sermo_verify_result r;
    sermo_error err = {0};
    progress_log log = {0, 0, 0};
    sermo_status st = sermo_data_verify(dir, list, &r, on_progress, &log, &err);
    CHECK(st == SERMO_OK, "verify: %s", err.msg);
    CHECK(r.checked == 2 && r.ok == 2 && r.mismatched == 0, "checked %lld ok %lld", (long long)r.checked,
          (long long)r.ok);
    CHECK(r.missing == 1, "missing %lld (c.wav of 'set'; 'other' has nothing here)", (long long)r.missing);
    CHECK(log.calls == 2 && log.last_done == 2 && log.last_total == 2, "progress %lld calls", (long long)log.calls);

    /* Wrong size, then same size but different content. */
    snprintf(path, sizeof path, "%s/a.wav", dir);
    write_file(path, "abcd", 4);
    memset(&err, 0, sizeof err);
    st = sermo_data_verify(dir, list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_CHECKSUM && r.mismatched == 1 && r.ok == 1, "size mismatch: %d %s", st, err.msg);
    CHECK(strstr(err.msg, "a.wav") && strstr(err.msg, "size 4"), "names the file and size: %s", err.msg);
    write_file(path, "abd", 3);
    st = sermo_data_verify(dir, list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_CHECKSUM && r.mismatched == 1 && strstr(err.msg, "a.wav") && strstr(err.msg, "sha256"),
          "content mismatch: %d %s", st, err.msg);

    /* A folder with none of the listed names. */
    st = sermo_data_verify(sub, list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_OK && r.checked == 1, "sub folder: %s", err.msg);
    snprintf(path, sizeof path, "%s/empty_dir", tmp_root);
    CHECK(mkdir(path, 0755) == 0, "mkdir");
    st = sermo_data_verify(path, list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_EMPTY && r.checked == 0, "nothing to check: %d %s", st, err.msg);
    st = sermo_data_verify("/nonexistent/dir", list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, "/nonexistent/dir"), "missing dir: %s", err.msg);

    /* Malformed lists name the list and line. */
    const char *bad[][2] = {
        {"# c\nset/a.wav\tabc\t3\n", ":2: sha256 must be 64 hex digits"},
        {"set/a.wav e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0\n", ":1: expected path<TAB>"},
        {"\n\nset/a.wav\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\tbig\n", ":3: size"},
        {"set/a.wav\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t1\textra\n", ":1: expected"},
        {"\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t1\n", ":1: empty path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(list, bad[i][0], strlen(bad[i][0]));
        memset(&err, 0, sizeof err);
        st = sermo_data_verify(dir, list, &r, NULL, NULL, &err);
        CHECK(st == SERMO_ERR_FORMAT && strstr(err.msg, list) && strstr(err.msg, bad[i][1]), "bad list %zu: %d '%s'",
              i, st, err.msg);
    }
    write_file(list, "# only comments\n", 16);
    CHECK(sermo_data_verify(dir, list, &r, NULL, NULL, &err) == SERMO_ERR_EMPTY, "empty list: %s", err.msg);
}

/* The ten RAVDESS originals verify; a copy with one flipped byte does not. */
static void test_verify_ravdess(void) {
    const char *data = check_shared_data();
    if (!data) {
        fprintf(stderr, "note: ../shared/data absent, RAVDESS verification not run\n");
        return;
    }
    char dir[4096], list[4096];
    snprintf(dir, sizeof dir, "%s/ravdess-wav", data);
    snprintf(list, sizeof list, "%s/checksums/ravdess-tess-emodb-jl.sha256.tsv", data);
    sermo_verify_result r;
    sermo_error err = {0};
    sermo_status st = sermo_data_verify(dir, list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_OK, "ravdess-wav: %s", err.msg);
    CHECK(r.checked == 10 && r.ok == 10 && r.mismatched == 0, "checked %lld ok %lld", (long long)r.checked,
          (long long)r.ok);
    CHECK(r.missing == 1430, "missing %lld (1440 RAVDESS clips, 10 present)", (long long)r.missing);

    char copy_dir[600], src[4200], dst[700], cmd[9000];
    snprintf(copy_dir, sizeof copy_dir, "%s/tampered", tmp_root);
    CHECK(mkdir(copy_dir, 0755) == 0, "mkdir");
    const char *names[] = {"03-01-05-02-01-01-12.wav", "03-01-01-01-01-01-02.wav"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", dir, names[i]);
        snprintf(dst, sizeof dst, "%s/%s", copy_dir, names[i]);
        snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod u+w '%s'", src, dst, dst);
        CHECK(system(cmd) == 0, "copy %s", names[i]);
    }
    /* Flip one byte in the middle of the samples: same size, other hash. */
    snprintf(dst, sizeof dst, "%s/%s", copy_dir, names[0]);
    FILE *f = fopen(dst, "r+b");
    CHECK(f != NULL, "open copy");
    if (f) {
        long at = file_size(dst) / 2;
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ 0x01, f);
        fclose(f);
    }
    memset(&err, 0, sizeof err);
    st = sermo_data_verify(copy_dir, list, &r, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_CHECKSUM, "tampered copy: %d %s", st, err.msg);
    CHECK(r.checked == 2 && r.ok == 1 && r.mismatched == 1, "ok %lld mismatched %lld", (long long)r.ok,
          (long long)r.mismatched);
    CHECK(strstr(err.msg, names[0]) != NULL && strstr(err.msg, names[1]) == NULL, "names only the bad file: %s",
          err.msg);
}

/* ------------------------------------------------------------------ fetch */

/* A zip with the given entries (NULL-terminated pairs path, content). */
static void make_zip(const char *path, const char *compression, const char *const *entries) {
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    CHECK(archive_write_set_options(a, compression) == ARCHIVE_OK, "zip option %s", compression);
    CHECK(archive_write_open_filename(a, path) == ARCHIVE_OK, "open %s: %s", path, archive_error_string(a));
    for (int i = 0; entries[i]; i += 2) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, entries[i]);
        size_t n = strlen(entries[i + 1]);
        archive_entry_set_size(e, (la_int64_t)n);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        CHECK(archive_write_header(a, e) == ARCHIVE_OK, "header %s: %s", entries[i], archive_error_string(a));
        CHECK(archive_write_data(a, entries[i + 1], n) == (la_ssize_t)n, "data %s", entries[i]);
        archive_entry_free(e);
    }
    CHECK(archive_write_close(a) == ARCHIVE_OK, "close zip");
    archive_write_free(a);
}

/* Flip a byte inside the first entry's data (after its local header). */
static void corrupt_first_entry(const char *path) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    unsigned char h[30];
    CHECK(fread(h, 1, 30, f) == 30 && h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4, "local header");
    long name_len = h[26] | h[27] << 8, extra_len = h[28] | h[29] << 8;
    long at = 30 + name_len + extra_len + 10;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_unpack(void) {
    static char big[20000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + (i * 7 + i / 13) % 26);
    const char *entries[] = {"Actor_01/03-01-01-01-01-01-01.wav", big, "Actor_02/x.txt", "hello", "top.txt", "t", NULL};
    char zip[512], out[512], path[700];
    sermo_error err = {0};

    snprintf(zip, sizeof zip, "%s/good.zip", tmp_root);
    snprintf(out, sizeof out, "%s/unpacked", tmp_root);
    make_zip(zip, "zip:compression=deflate", entries);
    CHECK(mkdir(out, 0755) == 0, "mkdir");
    progress_log log = {0, 0, 0};
    sermo_status st = sermo_corpus_unpack_archive(zip, out, on_progress, &log, &err);
    CHECK(st == SERMO_OK, "unpack: %s", err.msg);
    snprintf(path, sizeof path, "%s/Actor_01/03-01-01-01-01-01-01.wav", out);
    CHECK(file_size(path) == (long)strlen(big), "big entry size %ld", file_size(path));
    FILE *f = fopen(path, "rb");
    static char back[sizeof big];
    size_t got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    CHECK(got == strlen(big) && memcmp(back, big, got) == 0, "big entry content");
    snprintf(path, sizeof path, "%s/Actor_02/x.txt", out);
    CHECK(file_size(path) == 5, "x.txt");
    CHECK(log.calls == 3 && log.last_done == 3 && log.last_total == 3, "progress %lld", (long long)log.calls);

    /* Stored entries: a flipped byte can only be caught by the CRC. */
    const struct {
        const char *name, *option;
        int crc_only;
    } corrupt[] = {{"stored.zip", "zip:compression=store", 1}, {"deflate.zip", "zip:compression=deflate", 0}};
    for (int i = 0; i < 2; i++) {
        snprintf(zip, sizeof zip, "%s/%s", tmp_root, corrupt[i].name);
        make_zip(zip, corrupt[i].option, entries);
        corrupt_first_entry(zip);
        snprintf(out, sizeof out, "%s/bad%d", tmp_root, i);
        CHECK(mkdir(out, 0755) == 0, "mkdir");
        memset(&err, 0, sizeof err);
        st = sermo_corpus_unpack_archive(zip, out, NULL, NULL, &err);
        if (corrupt[i].crc_only)
            CHECK(st == SERMO_ERR_CHECKSUM && strstr(err.msg, "03-01-01-01-01-01-01.wav"), "%s: %d %s",
                  corrupt[i].name, st, err.msg);
        else
            CHECK(st == SERMO_ERR_CHECKSUM || st == SERMO_ERR_FORMAT, "%s: %d %s", corrupt[i].name, st, err.msg);
        CHECK(strstr(err.msg, zip) != NULL, "names the archive: %s", err.msg);
        /* The damaged entry never appears under its real name. */
        snprintf(path, sizeof path, "%s/Actor_01/03-01-01-01-01-01-01.wav", out);
        CHECK(file_size(path) < 0, "%s: damaged entry left behind", corrupt[i].name);
        snprintf(path, sizeof path, "%s/Actor_01/03-01-01-01-01-01-01.wav.part", out);
        CHECK(file_size(path) < 0, "%s: .part left behind", corrupt[i].name);
    }

    /* Hostile paths: nothing at all is written. */
    const char *evil[][3] = {{"../evil", "x", "..-relative"}, {"a/../../evil", "x", "nested .."}, {"/tmp/evil", "x", "absolute"}};
    for (int i = 0; i < 3; i++) {
        const char *ents[] = {"ok.txt", "fine", evil[i][0], evil[i][1], NULL};
        snprintf(zip, sizeof zip, "%s/evil%d.zip", tmp_root, i);
        make_zip(zip, "zip:compression=deflate", ents);
        snprintf(out, sizeof out, "%s/evil_out%d", tmp_root, i);
        CHECK(mkdir(out, 0755) == 0, "mkdir");
        memset(&err, 0, sizeof err);
        st = sermo_corpus_unpack_archive(zip, out, NULL, NULL, &err);
        CHECK(st == SERMO_ERR_FORMAT && strstr(err.msg, "unsafe entry path"), "%s: %d %s", evil[i][2], st, err.msg);
        snprintf(path, sizeof path, "%s/ok.txt", out);
        CHECK(file_size(path) < 0, "%s: wrote entries before refusing", evil[i][2]);
    }
    snprintf(path, sizeof path, "%s/evil", tmp_root);
    CHECK(file_size(path) < 0, "../evil escaped");

    /* Not an archive at all, and no archive. */
    snprintf(zip, sizeof zip, "%s/abc.txt", tmp_root);
    st = sermo_corpus_unpack_archive(zip, out, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_FORMAT && strstr(err.msg, zip), "not an archive: %d %s", st, err.msg);
    st = sermo_corpus_unpack_archive("/nonexistent/a.zip", out, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, "/nonexistent/a.zip"), "missing archive: %d %s", st, err.msg);
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void expect_offline_failure(const sermo_corpus_source *src, const char *dir, const char *what) {
    sermo_error err = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sermo_status st = sermo_corpus_fetch_source(src, dir, NULL, NULL, &err);
    double s = seconds_since(&t0);
    CHECK(st == SERMO_ERR_NETWORK, "%s: status %d: %s", what, st, err.msg);
    CHECK(s < 15, "%s: took %.1f s", what, s);
    CHECK(strstr(err.msg, "download Audio_Speech_Actors_01-24.zip from https://zenodo.org/records/1188976") &&
              strstr(err.msg, dir),
          "%s: no by-hand instructions: %s", what, err.msg);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", dir);
    CHECK(system(cmd) == 0, "%s: temporary archive left in %s", what, dir);
}

static void test_fetch_offline(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fetched", tmp_root);
    sermo_error err = {0};
    CHECK(sermo_data_fetch("savee", dir, NULL, NULL, &err) == SERMO_ERR_UNSUPPORTED && strstr(err.msg, "savee"),
          "unknown corpus: %s", err.msg);
    const sermo_corpus_source *ravdess = sermo_corpus_find_source("ravdess");
    CHECK(ravdess != NULL, "ravdess source");
    if (!ravdess) return;

    /* Hosts that cannot answer: a name that never resolves (RFC 6761) and
     * an unroutable address (connect timeout). Neither downloads anything
     * even on a machine that is online. */
    sermo_corpus_source src = *ravdess;
    src.url = "https://zenodo.invalid/records/1188976/files/Audio_Speech_Actors_01-24.zip";
    expect_offline_failure(&src, dir, "unresolvable host");
    src.url = "http://10.255.255.1/Audio_Speech_Actors_01-24.zip";
    expect_offline_failure(&src, dir, "unroutable host");

    /* The real record, only when this machine cannot resolve it (offline):
     * online, this would start a 200 MB download. */
    struct addrinfo *ai = NULL;
    if (getaddrinfo("zenodo.org", "443", NULL, &ai) == 0) {
        freeaddrinfo(ai);
        fprintf(stderr, "note: zenodo.org resolves; the real download is not tried\n");
        return;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sermo_status st = sermo_data_fetch("ravdess", dir, NULL, NULL, &err);
    CHECK(st == SERMO_ERR_NETWORK && seconds_since(&t0) < 15, "offline ravdess: %d in %.1f s: %s", st,
          seconds_since(&t0), err.msg);
    CHECK(strstr(err.msg, "unpack it into") != NULL, "instructions: %s", err.msg);
}

int main(void) {
    if (!mkdtemp(tmp_root)) SKIP("cannot create a temporary directory");
    test_sha256();
    test_verify_synthetic();
    test_verify_ravdess();
    test_unpack();
    test_fetch_offline();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_root);
    CHECK(system(cmd) == 0, "cleanup");
    return check_report();
}
