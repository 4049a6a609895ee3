/* fuzz_manifest.c: libFuzzer harness for the CSV manifest parser (and so the
 * RFC 4180 reader the corpus module shares). It parses from memory through
 * the same function sermo_corpus_add uses after reading the file, with both
 * label sets, and reads every value back. Not part of the normal build:
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Iinclude -Isrc/core -Isrc tests/fuzz/fuzz_manifest.c \
 *     src/corpus/corpus.c src/corpus/manifest.c src/corpus/labels.c \
 *     src/corpus/ravdess.c src/corpus/cremad.c src/corpus/tess.c \
 *     src/corpus/savee.c src/corpus/emodb.c src/core/status.c src/core/rng.c \
 *     -o fuzz_manifest
 *   ./fuzz_manifest -max_len=4096 corpus_dir/
 */
#include "corpus/corpus_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const targets[] = {"emotion", "emotion", "speaker", "gender"};
    for (int t = 0; t < 4; t++) {
        sermo_corpus_params p;
        sermo_corpus_default_params(&p);
        p.target = targets[t];
        p.label_set = t == 1 ? SERMO_LABELS_COMMON6 : SERMO_LABELS_NATIVE;
        sermo_corpus *c = sermo_corpus_init(&p);
        if (!c) return 0;
        sermo_error err;
        sermo_corpus_add_manifest_memory(c, (const char *)data, size, "fuzz/manifest.csv", &err);
        size_t total = 0; /* touch every string so ASan sees a bad pointer */
        for (int64_t i = 0; i < sermo_corpus_size(c); i++) {
            const sermo_item *it = sermo_corpus_item(c, i);
            total += strlen(it->path) + strlen(it->speaker);
            if (!sermo_corpus_class_name(c, it->label)) __builtin_trap(); /* every item has a class */
            for (int32_t j = 0; j < sermo_corpus_n_columns(c); j++) {
                const char *v = sermo_corpus_value(c, i, sermo_corpus_column_name(c, j));
                if (v) total += strlen(v);
            }
        }
        (void)total;
        sermo_corpus_free(c);
    }
    return 0;
}
