/* fuzz_safetensors.c: libFuzzer harness for the safetensors reader, which
 * takes model files from anywhere. Not part of the normal build. Build and run
 * from the repo root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc/core -Isrc \
 *       tests/fuzz/fuzz_safetensors.c src/io/safetensors.c src/core/status.c \
 *       $(pkg-config --cflags --libs libcjson) -lm -o /tmp/fuzz_safetensors
 *   mkdir -p /tmp/fuzz_st_corpus && cp tests/fixtures/io/reference.safetensors /tmp/fuzz_st_corpus/
 *   /tmp/fuzz_safetensors -max_total_time=60 /tmp/fuzz_st_corpus
 *
 * Each input goes through sermo_st_open_memory, the same validation path as
 * sermo_st_open. Whatever opens must hold together: tensors in order tile the
 * data buffer, every byte of every tensor is readable, lookups find each
 * tensor, and a file the writer accepts serialises and reopens to the same
 * tensors and metadata. */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_tensor(const sermo_st_tensor *a, const sermo_st_tensor *b) {
    size_t n = sermo_st_nbytes(a);
    return strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
           memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0 && n == sermo_st_nbytes(b) &&
           (n == 0 || memcmp(a->data, b->data, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so reading one byte past the input is caught. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    sermo_error err;
    sermo_st_file *f = sermo_st_open_memory(size ? copy : NULL, size, "fuzz.safetensors", &err);
    if (!f) {
        if (strncmp(err.msg, "fuzz.safetensors: ", 18) != 0) abort(); /* errors name the file */
        free(copy);
        return 0;
    }
    int n = sermo_st_n_tensors(f);
    const uint8_t *pos = NULL;
    sermo_st_tensor *list = malloc(sizeof *list * (size_t)(n ? n : 1));
    volatile uint8_t sink = 0;
    for (int i = 0; i < n; i++) {
        const sermo_st_tensor *t = sermo_st_tensor_at(f, i);
        size_t bytes = sermo_st_nbytes(t);
        if (sermo_st_numel(t) < 0 || (pos && (const uint8_t *)t->data != pos)) abort(); /* tiling */
        for (size_t k = 0; k < bytes; k++) sink ^= ((const uint8_t *)t->data)[k];
        pos = (const uint8_t *)t->data + bytes;
        if (sermo_st_find(f, t->name) != t) abort();
        if (sermo_st_expect(f, t->name, t->dtype, t->ndim, t->shape, &err) != SERMO_OK) abort();
        list[i] = *t;
    }
    if (pos && pos != copy + size) abort(); /* the last tensor ends the file */
    int n_meta = sermo_st_n_meta(f);
    const char **keys = malloc(sizeof *keys * (size_t)(n_meta ? n_meta : 1));
    const char **values = malloc(sizeof *values * (size_t)(n_meta ? n_meta : 1));
    for (int i = 0; i < n_meta; i++) {
        keys[i] = sermo_st_meta_at(f, i, &values[i]);
        if (!keys[i] || sermo_st_meta(f, keys[i]) != values[i]) abort();
    }
    /* Round trip. The writer is stricter (no empty or over-long names), so
     * only files it accepts are compared. */
    void *out = NULL;
    size_t out_n = 0;
    if (sermo_st_write_memory(list, n, keys, values, n_meta, &out, &out_n, &err) == SERMO_OK) {
        sermo_st_file *g = sermo_st_open_memory(out, out_n, "roundtrip", &err);
        if (!g || sermo_st_n_tensors(g) != n || sermo_st_n_meta(g) != n_meta) abort();
        for (int i = 0; i < n; i++)
            if (!same_tensor(sermo_st_find(g, list[i].name), &list[i])) abort();
        for (int i = 0; i < n_meta; i++) {
            const char *v = sermo_st_meta(g, keys[i]);
            if (!v || strcmp(v, values[i]) != 0) abort();
        }
        sermo_st_close(g);
    }
    free(out);
    free(keys);
    free(values);
    free(list);
    sermo_st_close(f);
    free(copy);
    (void)sink;
    return 0;
}
