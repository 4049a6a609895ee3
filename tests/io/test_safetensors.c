/* test_safetensors.c: the safetensors reader and writer. Byte-exact against a
 * fixture written by hand from the spec in Python (tests/io/gen_safetensors.py)
 * and against upstream's own test vector; round trips; every validation
 * error on crafted files; every truncation of a valid file; atomic writes. */
#include "check.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *size = p && fread(p, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
    fclose(f);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* Entries of dir whose name holds ".tmp.": leftovers of a failed write. */
static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

/* ------------------------------------------------ the reference fixture */

/* The table of tests/io/gen_safetensors.py, in the same order. */
static const double feat_mean[3] = {0.5, -1.25, 1e-300};
static const int64_t counts[4] = {1, -2, INT64_C(1) << 40, -(INT64_C(1) << 62)};
static float conv1[12];
static const float temperature = 3.25f;
static const int32_t labels[3] = {0, -7, 2147483647};
static const uint16_t half_bits[4] = {0x3C00, 0xC100, 0x7BFF, 0x0400}; /* 1, -2.5, 65504, 2^-14 */
static const uint16_t bf_bits[3] = {0x3F80, 0xC040, 0x3E20};           /* 1, -3, 0.15625 */
static const int16_t i16[2] = {-32768, 12345};
static const uint8_t mask[5] = {0, 1, 127, 128, 255};
static const int8_t i8v[3] = {-128, 0, 127};
static const uint8_t flags[4] = {1, 0, 0, 1};
static const char *const meta_keys[3] = {"format", "labels", "note"};
static const char *const meta_values[3] = {"pt", "angry,happy,neutral,sad", "\xc3\xa9motion\ttab \"quoted\"\n"};
#define UNICODE_NAME "\xc3\xbcn\xc3\xaf/w\xc3\xa9ight \"q\""

static int reference_table(sermo_st_tensor *t) {
    for (int i = 0; i < 12; i++) conv1[i] = (float)i * 0.5f - 3.0f;
    const sermo_st_tensor table[12] = {
        {"feat.mean", SERMO_ST_F64, 1, {3}, feat_mean},
        {"counts", SERMO_ST_I64, 2, {2, 2}, counts},
        {"conv1.weight", SERMO_ST_F32, 4, {2, 1, 2, 3}, conv1},
        {"temperature", SERMO_ST_F32, 0, {0}, &temperature},
        {"empty", SERMO_ST_F32, 2, {0, 4}, NULL},
        {"labels", SERMO_ST_I32, 1, {3}, labels},
        {"half", SERMO_ST_F16, 1, {4}, half_bits},
        {"bf", SERMO_ST_BF16, 1, {3}, bf_bits},
        {UNICODE_NAME, SERMO_ST_I16, 1, {2}, i16},
        {"mask", SERMO_ST_U8, 1, {5}, mask},
        {"i8", SERMO_ST_I8, 1, {3}, i8v},
        {"flags", SERMO_ST_BOOL, 2, {2, 2}, flags},
    };
    memcpy(t, table, sizeof table);
    return 12;
}

static void reference_path(char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/fixtures/io/reference.safetensors", check_source_dir());
}

static void test_reference_read(void) {
    char path[512];
    reference_path(path, sizeof path);
    sermo_error err = {0};
    sermo_st_file *f = sermo_st_open(path, &err);
    CHECK(f != NULL, "open fixture: %s", err.msg);
    if (!f) return;
    sermo_st_tensor want[12];
    int n = reference_table(want);
    CHECK(sermo_st_n_tensors(f) == n, "n_tensors %d", sermo_st_n_tensors(f));
    for (int i = 0; i < n && i < sermo_st_n_tensors(f); i++) {
        const sermo_st_tensor *t = sermo_st_tensor_at(f, i);
        CHECK(strcmp(t->name, want[i].name) == 0, "tensor %d is '%s' want '%s'", i, t->name, want[i].name);
        CHECK(t->dtype == want[i].dtype && t->ndim == want[i].ndim, "'%s' dtype/ndim", want[i].name);
        CHECK(memcmp(t->shape, want[i].shape, sizeof(int64_t) * (size_t)t->ndim) == 0, "'%s' shape", t->name);
        size_t bytes = sermo_st_nbytes(&want[i]);
        CHECK(sermo_st_nbytes(t) == bytes, "'%s' nbytes %zu want %zu", t->name, sermo_st_nbytes(t), bytes);
        CHECK(bytes == 0 || memcmp(t->data, want[i].data, bytes) == 0, "'%s' values differ", t->name);
        CHECK(sermo_st_is_aligned(t), "'%s' not aligned", t->name);
        CHECK(sermo_st_find(f, want[i].name) == t, "find '%s'", want[i].name);
    }
    /* A few values by their own type, not via the table's bytes. */
    const sermo_st_tensor *t = sermo_st_find(f, "conv1.weight");
    CHECK(t && ((const float *)t->data)[0] == -3.0f && ((const float *)t->data)[11] == 2.5f, "conv1 values");
    t = sermo_st_find(f, "temperature");
    CHECK(t && t->ndim == 0 && sermo_st_numel(t) == 1 && *(const float *)t->data == 3.25f, "0-d scalar");
    t = sermo_st_find(f, "empty");
    CHECK(t && sermo_st_numel(t) == 0 && sermo_st_nbytes(t) == 0, "empty tensor");
    t = sermo_st_find(f, "counts");
    CHECK(t && ((const int64_t *)t->data)[3] == -(INT64_C(1) << 62), "int64 value");
    t = sermo_st_find(f, "feat.mean");
    CHECK(t && ((const double *)t->data)[2] == 1e-300, "f64 value");
    CHECK(sermo_st_find(f, "nope") == NULL && sermo_st_find(f, "") == NULL, "absent tensor");
    CHECK(sermo_st_tensor_at(f, -1) == NULL && sermo_st_tensor_at(f, n) == NULL, "tensor_at out of range");
    CHECK(sermo_st_n_meta(f) == 3, "n_meta %d", sermo_st_n_meta(f));
    for (int i = 0; i < 3; i++) {
        const char *v = NULL;
        const char *k = sermo_st_meta_at(f, i, &v);
        CHECK(k && strcmp(k, meta_keys[i]) == 0 && v && strcmp(v, meta_values[i]) == 0, "meta %d", i);
        CHECK(sermo_st_meta(f, meta_keys[i]) && strcmp(sermo_st_meta(f, meta_keys[i]), meta_values[i]) == 0,
              "meta '%s'", meta_keys[i]);
    }
    CHECK(sermo_st_meta(f, "missing") == NULL && sermo_st_meta_at(f, 3, NULL) == NULL, "absent meta");
    sermo_st_close(f);
}

static void test_write_matches_reference(void) {
    char ref_path[512], out[512];
    reference_path(ref_path, sizeof ref_path);
    snprintf(out, sizeof out, "%s/ref.safetensors", tmpdir);
    sermo_st_tensor t[12];
    int n = reference_table(t);
    sermo_error err = {0};
    CHECK(sermo_st_write(out, t, n, meta_keys, meta_values, 3, &err) == SERMO_OK, "write: %s", err.msg);
    size_t ref_n = 0, got_n = 0, mem_n = 0;
    uint8_t *ref = read_all(ref_path, &ref_n), *got = read_all(out, &got_n);
    CHECK(ref_n > 0 && ref_n == got_n && memcmp(ref, got, ref_n) == 0, "C file differs from the Python one (%zu vs %zu bytes)",
          got_n, ref_n);
    void *mem = NULL;
    CHECK(sermo_st_write_memory(t, n, meta_keys, meta_values, 3, &mem, &mem_n, &err) == SERMO_OK, "%s", err.msg);
    CHECK(mem && mem_n == ref_n && memcmp(mem, ref, ref_n) == 0, "write_memory differs");
    /* For the by-hand check with gen_safetensors.py --check. */
    const char *export = getenv("SERMO_ST_EXPORT");
    if (export && got) write_file(export, got, got_n);
    free(mem);
    free(ref);
    free(got);
}

/* Upstream's vector: huggingface/safetensors bindings/python/tests/test_simple.py
 * test_serialization, save({"test": np.zeros((2, 2), dtype=np.int32)}). */
static void test_upstream_vector(void) {
    static const char header[] = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}    ";
    uint8_t want[8 + 64 + 16] = {'@'};
    memcpy(want + 8, header, 64);
    int32_t zeros[4] = {0};
    sermo_st_tensor t = {"test", SERMO_ST_I32, 2, {2, 2}, zeros};
    void *mem = NULL;
    size_t n = 0;
    sermo_error err = {0};
    CHECK(sermo_st_write_memory(&t, 1, NULL, NULL, 0, &mem, &n, &err) == SERMO_OK, "%s", err.msg);
    CHECK(n == sizeof want && memcmp(mem, want, n) == 0, "upstream vector differs (%zu bytes)", n);
    free(mem);
}

/* ------------------------------------------------------------ round trip */

static void test_round_trip(void) {
    enum { N = 1000 };
    static float big[N];
    static uint16_t f16[6];
    static int64_t step = 12345678901LL;
    static uint8_t u8[7];
    for (int i = 0; i < N; i++) big[i] = (float)i / 7.0f - 50.0f;
    for (int i = 0; i < 6; i++) f16[i] = (uint16_t)(0x3C00 + i);
    for (int i = 0; i < 7; i++) u8[i] = (uint8_t)(i * 37);
    sermo_st_tensor t[] = {
        {"fc.weight", SERMO_ST_F32, 2, {10, 100}, big},
        {"step", SERMO_ST_I64, 0, {0}, &step},
        {"none", SERMO_ST_F64, 3, {2, 0, 5}, NULL},
        {"norm.h", SERMO_ST_F16, 3, {1, 2, 3}, f16},
        {"bytes", SERMO_ST_U8, 1, {7}, u8},
        {"deep", SERMO_ST_U8, 8, {1, 1, 1, 1, 1, 1, 1, 7}, u8},
    };
    const int n = (int)(sizeof t / sizeof *t);
    const char *keys[] = {"sermo.version", "features.n_mels", "empty"};
    const char *values[] = {"0.1.0", "64", ""};
    char path[512];
    snprintf(path, sizeof path, "%s/round.safetensors", tmpdir);
    sermo_error err = {0};
    CHECK(sermo_st_write(path, t, n, keys, values, 3, &err) == SERMO_OK, "write: %s", err.msg);
    sermo_st_file *f = sermo_st_open(path, &err);
    CHECK(f != NULL, "open: %s", err.msg);
    if (!f) return;
    CHECK(strcmp(sermo_st_name(f), path) == 0, "name");
    CHECK(sermo_st_n_tensors(f) == n, "n %d", sermo_st_n_tensors(f));
    for (int i = 0; i < n && i < sermo_st_n_tensors(f); i++) {
        const sermo_st_tensor *g = sermo_st_tensor_at(f, i);
        CHECK(strcmp(g->name, t[i].name) == 0, "order %d: %s", i, g->name);
        CHECK(sermo_st_expect(f, t[i].name, t[i].dtype, t[i].ndim, t[i].shape, &err) == SERMO_OK, "%s", err.msg);
        size_t b = sermo_st_nbytes(&t[i]);
        CHECK(sermo_st_nbytes(g) == b && (b == 0 || memcmp(g->data, t[i].data, b) == 0), "data of %s", t[i].name);
    }
    CHECK(sermo_st_n_meta(f) == 3 && strcmp(sermo_st_meta(f, "features.n_mels"), "64") == 0 &&
              strcmp(sermo_st_meta(f, "empty"), "") == 0,
          "metadata");
    CHECK((uintptr_t)sermo_st_tensor_at(f, 0)->data % 8 == 0,
          "data starts 8-aligned");
    sermo_st_close(f);

    /* No tensors at all is a valid file too. */
    CHECK(sermo_st_write(path, NULL, 0, NULL, NULL, 0, &err) == SERMO_OK, "empty write: %s", err.msg);
    f = sermo_st_open(path, &err);
    CHECK(f && sermo_st_n_tensors(f) == 0 && sermo_st_n_meta(f) == 0, "empty file: %s", f ? "" : err.msg);
    sermo_st_close(f);
}

static void test_expect(void) {
    float w[64 * 9] = {0}, b[6] = {0};
    sermo_st_tensor t[] = {{"conv1.weight", SERMO_ST_F32, 4, {32, 1, 3, 3}, w}, {"fc.weight", SERMO_ST_F32, 1, {6}, b}};
    void *mem = NULL;
    size_t n = 0;
    sermo_error err = {0};
    CHECK(sermo_st_write_memory(t, 2, NULL, NULL, 0, &mem, &n, &err) == SERMO_OK, "%s", err.msg);
    sermo_st_file *f = sermo_st_open_memory(mem, n, "model.safetensors", &err);
    CHECK(f != NULL, "%s", err.msg);
    if (!f) {
        free(mem);
        return;
    }
    sermo_status st = sermo_st_expect(f, "conv1.weight", SERMO_ST_F32, 4, (int64_t[]){64, 1, 3, 3}, &err);
    CHECK(st == SERMO_ERR_FORMAT &&
              strcmp(err.msg, "model.safetensors: tensor 'conv1.weight': shape [32,1,3,3] expected [64,1,3,3]") == 0,
          "shape: %s", err.msg);
    st = sermo_st_expect(f, "conv1.weight", SERMO_ST_F32, 2, (int64_t[]){32, 9}, &err);
    CHECK(st == SERMO_ERR_FORMAT && contains(err.msg, "expected [32,9]"), "ndim: %s", err.msg);
    st = sermo_st_expect(f, "fc.bias", SERMO_ST_F32, 1, (int64_t[]){6}, &err);
    CHECK(st == SERMO_ERR_FORMAT && strcmp(err.msg, "model.safetensors: missing tensor 'fc.bias'") == 0, "missing: %s",
          err.msg);
    st = sermo_st_expect(f, "fc.weight", SERMO_ST_F16, 1, (int64_t[]){6}, &err);
    CHECK(st == SERMO_ERR_FORMAT && strcmp(err.msg, "model.safetensors: tensor 'fc.weight': dtype F32 expected F16") == 0,
          "dtype: %s", err.msg);
    CHECK(sermo_st_expect(f, "fc.weight", SERMO_ST_F32, 1, (int64_t[]){6}, &err) == SERMO_OK, "match: %s", err.msg);
    sermo_st_close(f);
    free(mem);
}

/* ------------------------------------------------------------ validation */

/* A file from header text and a zero-filled buffer; length = the text's unless len_override >= 0. */
static uint8_t *craft(const char *header, size_t buffer, long long len_override, size_t *size) {
    size_t h = strlen(header);
    *size = 8 + h + buffer;
    uint8_t *p = calloc(1, *size);
    uint64_t len = len_override >= 0 ? (uint64_t)len_override : h;
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(len >> (8 * i));
    memcpy(p + 8, header, h);
    return p;
}

static void expect_bad(const char *header, size_t buffer, long long len_override, sermo_status want,
                       const char *reason, int line) {
    size_t n;
    uint8_t *p = craft(header, buffer, len_override, &n);
    sermo_error err = {0};
    sermo_st_file *f = sermo_st_open_memory(p, n, "bad.safetensors", &err);
    CHECK(f == NULL && err.status == want && strncmp(err.msg, "bad.safetensors: ", 17) == 0 && contains(err.msg, reason),
          "line %d: %s: got '%s' (status %d) want '%s'", line, header, err.msg, err.status, reason);
    sermo_st_close(f);
    free(p);
}

#define BAD(header, buffer, reason) expect_bad(header, buffer, -1, SERMO_ERR_FORMAT, reason, __LINE__)
#define T(body) "{\"t\":{" body "}}"

static void test_validation(void) {
    sermo_error err = {0};
    /* Short files. */
    CHECK(sermo_st_open_memory(NULL, 0, "bad.safetensors", &err) == NULL && err.status == SERMO_ERR_FORMAT &&
              contains(err.msg, "bad.safetensors: file is 0 bytes"),
          "0 bytes: %s", err.msg);
    CHECK(sermo_st_open_memory("\x02\0\0\0\0\0\0", 7, "bad.safetensors", &err) == NULL &&
              contains(err.msg, "shorter than the 8-byte"),
          "7 bytes: %s", err.msg);
    expect_bad("{}", 0, 200LL * 1024 * 1024, SERMO_ERR_FORMAT, "absurd", __LINE__);
    expect_bad("{}", 0, 100, SERMO_ERR_FORMAT, "runs past the end of the file", __LINE__);
    expect_bad("{}", 0, 0, SERMO_ERR_FORMAT, "does not start with '{'", __LINE__);
    expect_bad("{}", 0, INT64_MAX, SERMO_ERR_FORMAT, "absurd", __LINE__);
    expect_bad("{}", 0, (1LL << 56) + 2, SERMO_ERR_FORMAT, "absurd", __LINE__); /* all 8 bytes count */
    /* Not JSON, not an object. */
    BAD("[1,2]", 0, "does not start with '{'");
    BAD("{\"a\":", 0, "not valid JSON");
    BAD("{\"a\" 1}", 0, "not valid JSON");
    BAD("{}x", 0, "text after the JSON object");
    BAD("{\"\xff\":1}", 0, "not UTF-8");
    BAD("{\"\xed\xa0\x80\":1}", 0, "not UTF-8"); /* a UTF-16 surrogate */
    /* A NUL inside the header (JSON allows none; cJSON would cut the name there). */
    uint8_t nul[8 + 16] = {16, 0, 0, 0, 0, 0, 0, 0};
    memcpy(nul + 8, "{\"a\0b\":\"x\"}    ", 16);
    CHECK(sermo_st_open_memory(nul, sizeof nul, "bad.safetensors", &err) == NULL && contains(err.msg, "holds a NUL (byte 3)"),
          "NUL: %s", err.msg);
    /* Entries. */
    BAD("{\"t\":1}", 0, "tensor 't': entry is not an object");
    BAD(T("\"shape\":[],\"data_offsets\":[0,4]"), 4, "tensor 't': missing \"dtype\"");
    BAD(T("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, "tensor 't': missing \"shape\"");
    BAD(T("\"dtype\":\"F32\",\"shape\":[]"), 4, "tensor 't': missing \"data_offsets\"");
    BAD(T("\"dtype\":5,\"shape\":[],\"data_offsets\":[0,4]"), 4, "\"dtype\" is not a string");
    BAD(T("\"dtype\":\"F99\",\"shape\":[],\"data_offsets\":[0,4]"), 4, "unknown dtype 'F99'");
    BAD(T("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]"), 4, "duplicate \"dtype\"");
    BAD(T("\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]"), 4, "\"shape\" is not an array");
    BAD(T("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, "shape[0] is negative");
    BAD(T("\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]"), 4, "shape[1] is not an integer");
    BAD(T("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 4, "shape[0] is not a number");
    BAD(T("\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]"), 4, "shape[0] is too large");
    expect_bad(T("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1, -1,
               SERMO_ERR_UNSUPPORTED, "9 dims", __LINE__);
    BAD(T("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0]"), 4, "not an array of 2 numbers");
    BAD(T("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":{\"a\":0,\"b\":4}"), 4, "not an array of 2 numbers");
    BAD(T("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,0]"), 4, "end before they begin");
    BAD(T("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,-4]"), 4, "data_offsets[1] is negative");
    BAD(T("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,8]"), 4, "beyond the 4-byte data buffer");
    BAD(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 4, "shape [2] of F32 needs 8 bytes");
    /* 2^32 * 2^32 wraps to 0 in 64 bits: must not pass as an empty tensor. */
    BAD(T("\"dtype\":\"I8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]"), 0, "is too large");
    BAD(T("\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]"), 0, "is too large");
    /* Tiling. */
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
        6, "tensor 'b': data_offsets [2,6] overlap tensor 'a'");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
        6, "hole: data bytes [2,4) before tensor 'b'");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 4, "data bytes [2,4) at the end");
    BAD("{}", 3, "data bytes [0,3) at the end");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
        4, "duplicate tensor 'a'");
    /* Metadata. */
    BAD("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k': value is not a string");
    BAD("{\"__metadata__\":{\"k\":null}}", 0, "metadata 'k': value is not a string");
    BAD("{\"__metadata__\":[\"k\"]}", 0, "\"__metadata__\" is not an object");
    BAD("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "duplicate metadata key 'k'");
    BAD("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\"");

    /* Valid edge cases the reference accepts: padding, an empty tensor sharing an offset. */
    size_t n;
    uint8_t *p = craft("{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                       "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"__metadata__\":{}}  \n",
                       2, -1, &n);
    sermo_st_file *f = sermo_st_open_memory(p, n, "ok.safetensors", &err);
    CHECK(f && sermo_st_n_tensors(f) == 2 && strcmp(sermo_st_tensor_at(f, 0)->name, "e") == 0, "valid edge file: %s",
          f ? "" : err.msg);
    sermo_st_close(f);
    free(p);

    /* Through the file path: missing file, a directory, a short file. */
    char path[512];
    snprintf(path, sizeof path, "%s/missing.safetensors", tmpdir);
    CHECK(sermo_st_open(path, &err) == NULL && err.status == SERMO_ERR_IO && contains(err.msg, path), "missing: %s",
          err.msg);
    CHECK(sermo_st_open(tmpdir, &err) == NULL && err.status == SERMO_ERR_IO && contains(err.msg, "is a directory"),
          "directory: %s", err.msg);
    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir);
    write_file(path, "abc", 3);
    CHECK(sermo_st_open(path, &err) == NULL && err.status == SERMO_ERR_FORMAT && contains(err.msg, path) &&
              contains(err.msg, "shorter"),
          "short file: %s", err.msg);
    write_file(path, "", 0);
    CHECK(sermo_st_open(path, &err) == NULL && err.status == SERMO_ERR_FORMAT && contains(err.msg, path),
          "empty file: %s", err.msg);
}

/* Every prefix of a valid file is an error, never a crash: in memory (an
 * exact-size copy, so ASan sees any over-read) and, sampled, through files. */
static void test_truncation(void) {
    char ref_path[512], path[512];
    reference_path(ref_path, sizeof ref_path);
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmpdir);
    size_t n = 0;
    uint8_t *ref = read_all(ref_path, &n);
    CHECK(ref && n > 100, "fixture");
    int bad = 0;
    for (size_t len = 0; ref && len < n; len++) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, ref, len);
        sermo_error err = {0};
        sermo_st_file *f = sermo_st_open_memory(len ? p : NULL, len, "cut.safetensors", &err);
        if (f || err.status != SERMO_ERR_FORMAT || strncmp(err.msg, "cut.safetensors: ", 17) != 0) {
            if (bad++ < 5) fprintf(stderr, "  prefix %zu: %s\n", len, f ? "opened" : err.msg);
        }
        sermo_st_close(f);
        free(p);
        if (len % 37 == 0) {
            write_file(path, ref, len);
            f = sermo_st_open(path, &err);
            if (f || !contains(err.msg, path)) bad++;
            sermo_st_close(f);
        }
    }
    CHECK(bad == 0, "%d truncated files were not rejected", bad);
    sermo_error err = {0};
    sermo_st_file *f = ref ? sermo_st_open_memory(ref, n, "whole", &err) : NULL;
    CHECK(f != NULL, "the whole file opens: %s", err.msg);
    sermo_st_close(f);
    free(ref);
}

/* ------------------------------------------------------------ writing */

static void test_write_errors(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/invalid.safetensors", tmpdir);
    float x[4] = {0};
    char long_name[SERMO_ST_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    struct {
        sermo_st_tensor t[2];
        int n;
        const char *reason;
    } cases[] = {
        {{{"a", SERMO_ST_F32, 1, {4}, x}, {"a", SERMO_ST_F32, 1, {4}, x}}, 2, "duplicate tensor 'a'"},
        {{{long_name, SERMO_ST_F32, 1, {4}, x}}, 1, "over 1024"},
        {{{"", SERMO_ST_F32, 1, {4}, x}}, 1, "empty name"},
        {{{NULL, SERMO_ST_F32, 1, {4}, x}}, 1, "no name"},
        {{{"\xc0\xaf", SERMO_ST_F32, 1, {4}, x}}, 1, "not UTF-8"}, /* overlong '/' */
        {{{"__metadata__", SERMO_ST_F32, 1, {4}, x}}, 1, "reserved"},
        {{{"a", SERMO_ST_F32, 1, {-4}, x}}, 1, "bad shape [-4]"},
        {{{"a", SERMO_ST_F32, 2, {INT64_MAX, 4}, x}}, 1, "bad shape"},
        {{{"a", SERMO_ST_F32, 9, {1}, x}}, 1, "ndim 9"},
        {{{"a", SERMO_ST_F32, -1, {1}, x}}, 1, "ndim -1"},
        {{{"a", (sermo_st_dtype)99, 1, {4}, x}}, 1, "bad dtype 99"},
        {{{"a", SERMO_ST_F32, 1, {4}, NULL}}, 1, "no data"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sermo_error err = {0};
        sermo_status st = sermo_st_write(path, cases[i].t, cases[i].n, NULL, NULL, 0, &err);
        CHECK(st == SERMO_ERR_INVALID && contains(err.msg, path) && contains(err.msg, cases[i].reason),
              "case %zu: got '%s' want '%s'", i, err.msg, cases[i].reason);
    }
    sermo_st_tensor ok = {"a", SERMO_ST_F32, 1, {4}, x};
    const char *keys[] = {"k", "k"}, *values[] = {"1", "2"}, *bad_values[] = {"1", NULL};
    sermo_error err = {0};
    CHECK(sermo_st_write(path, &ok, 1, keys, values, 2, &err) == SERMO_ERR_INVALID &&
              contains(err.msg, "duplicate metadata key 'k'"),
          "dup meta: %s", err.msg);
    const char *keys2[] = {"k", "j"};
    CHECK(sermo_st_write(path, &ok, 1, keys2, bad_values, 2, &err) == SERMO_ERR_INVALID &&
              contains(err.msg, "metadata 'j'"),
          "NULL meta value: %s", err.msg);
    CHECK(sermo_st_write(path, &ok, -1, NULL, NULL, 0, &err) == SERMO_ERR_INVALID, "n < 0");
    struct stat sb;
    CHECK(stat(path, &sb) != 0 && count_temps(tmpdir) == 0, "failed writes left a file behind");
}

static void test_atomic(void) {
    static float big[16384], small[4] = {1, 2, 3, 4};
    for (int i = 0; i < 16384; i++) big[i] = (float)i;
    sermo_st_tensor tb = {"w", SERMO_ST_F32, 1, {16384}, big}, ts = {"w", SERMO_ST_F32, 1, {4}, small};
    sermo_error err = {0};

    /* Into a missing directory: fails naming the path, leaves nothing. */
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/model.safetensors", tmpdir);
    CHECK(sermo_st_write(path, &ts, 1, NULL, NULL, 0, &err) == SERMO_ERR_IO && contains(err.msg, path),
          "missing dir: %s", err.msg);
    CHECK(count_temps(tmpdir) == 0, "temp left in %s", tmpdir);

    /* Overwrite a large file with a small one: replaced whole. */
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    CHECK(sermo_st_write(path, &tb, 1, NULL, NULL, 0, &err) == SERMO_OK, "big: %s", err.msg);
    CHECK(sermo_st_write(path, &ts, 1, NULL, NULL, 0, &err) == SERMO_OK, "small: %s", err.msg);
    struct stat sb;
    void *mem = NULL;
    size_t want = 0;
    sermo_st_write_memory(&ts, 1, NULL, NULL, 0, &mem, &want, &err);
    CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == want, "size %lld want %zu", (long long)sb.st_size, want);
    free(mem);
    sermo_st_file *f = sermo_st_open(path, &err);
    CHECK(f && sermo_st_expect(f, "w", SERMO_ST_F32, 1, (int64_t[]){4}, &err) == SERMO_OK &&
              memcmp(sermo_st_find(f, "w")->data, small, sizeof small) == 0,
          "overwritten content: %s", err.msg);
    sermo_st_close(f);

    /* A write that fails half way (file size limit, as a full disk would):
     * error names the file, the old file is intact, no temp is left. */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct rlimit lim = old;
    lim.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    int limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
    sermo_status st = sermo_st_write(path, &tb, 1, NULL, NULL, 0, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    if (limited) {
        CHECK(st == SERMO_ERR_IO && contains(err.msg, path), "failed write: %d %s", st, err.msg);
        f = sermo_st_open(path, &err);
        CHECK(f && sermo_st_expect(f, "w", SERMO_ST_F32, 1, (int64_t[]){4}, &err) == SERMO_OK,
              "old file damaged: %s", err.msg);
        sermo_st_close(f);
        CHECK(count_temps(tmpdir) == 0, "temp left after a failed write");
    } else {
        fprintf(stderr, "note: cannot lower RLIMIT_FSIZE; failed-write check not run\n");
    }
}

static void cleanup(const char *dir) {
    DIR *d = opendir(dir);
    char p[1024];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sermo_st_XXXXXX");
    if (!mkdtemp(tmpdir)) SKIP("cannot create a temporary directory");
    test_reference_read();
    test_write_matches_reference();
    test_upstream_vector();
    test_round_trip();
    test_expect();
    test_validation();
    test_truncation();
    test_write_errors();
    test_atomic();
    cleanup(tmpdir);
    return check_report();
}
