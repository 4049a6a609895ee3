/* fuzz_config.c: libFuzzer harness for the YAML config reader, the parser
 * that takes the most outside text (configs are passed around and edited by
 * hand). Not part of the normal build. Build and run from the repo root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc/core \
 *       tests/fuzz/fuzz_config.c src/io/config.c src/core/status.c -lyaml -lm -o /tmp/fuzz_config
 *   mkdir -p /tmp/fuzz_config_corpus && cp configs/default.yaml /tmp/fuzz_config_corpus/
 *   /tmp/fuzz_config -max_total_time=60 /tmp/fuzz_config_corpus
 *
 * Each input is loaded as YAML; whatever loads must also map onto the params
 * structs and survive a write/reload round trip with the same keys. */
#include "sermo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sermo_config *c = sermo_config_init();
    sermo_error err;
    if (sermo_config_load_yaml_string(c, text, "fuzz.yaml", &err) == SERMO_OK) {
        sermo_audio_params ap = {0};
        sermo_feature_params fp = {0};
        (void)sermo_config_audio_params(c, &ap, &err);
        (void)sermo_config_feature_params(c, &fp, &err);
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz_config_%d.yaml", (int)getpid());
        if (sermo_config_write_yaml(c, path, &err) == SERMO_OK) {
            sermo_config *back = sermo_config_init();
            if (sermo_config_load_yaml(back, path, &err) != SERMO_OK) abort();
            for (int32_t i = 0; i < sermo_config_n_keys(c); i++) {
                const char *v = sermo_config_get(back, sermo_config_key(c, i));
                if (!v || strcmp(v, sermo_config_get(c, sermo_config_key(c, i))) != 0) abort();
            }
            sermo_config_free(back);
            unlink(path);
        }
    }
    sermo_config_free(c);
    free(text);
    return 0;
}
