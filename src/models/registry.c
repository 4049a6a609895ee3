/* registry.c: the model families by name. Adding a family is one line here
 * plus its model_spec (see models_internal.h for the create contract). */
#include "models/models_internal.h"

#include <string.h>

static const model_spec *const registry[] = {
    &model_spec_cnn3,
    &model_spec_cnn9,
    &model_spec_efficientnet_b2,
    &model_spec_resnet18, &model_spec_resnet34,
    &model_spec_vgg16,
    &model_spec_autoencoder,
    &model_spec_vit,
    &model_spec_egemaps_linear,
};

#define REGISTRY_N ((int)(sizeof registry / sizeof registry[0]))

int model_registry_count(void) { return REGISTRY_N; }

const model_spec *model_registry_at(int i) {
    return i >= 0 && i < REGISTRY_N ? registry[i] : NULL;
}

const model_spec *model_registry_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < REGISTRY_N; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}
