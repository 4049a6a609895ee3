/* models_internal.h: what model.c shares with the model families (cnn.c ...)
 * and the registry. Not part of the model API (model.h).
 *
 * Life cycle of a model (model_create in model.c):
 *   1. model.c validates the generic config, nn_params_init's m->params and
 *      m->buffers and seeds m->rng from the seed;
 *   2. spec->create adds its entries to both tables, FINALISES both (only the
 *      family knows each tensor's initial value, and values need the data
 *      buffers), initialises them with the helpers below drawing from m->rng
 *      in table order, and allocates its activations for (max_batch,
 *      max_frames);
 *   3. model.c allocates m->logits and reseeds m->rng for dropout, so dropout
 *      masks do not depend on how many numbers the initialisation drew.
 * spec->destroy must accept a partly built model (state NULL or half filled);
 * model.c frees the tables and logits. */
#ifndef SERMO_MODELS_INTERNAL_H
#define SERMO_MODELS_INTERNAL_H

#include "models/model.h"

/* torch's default init for Conv2d and Linear (reset_parameters):
 * kaiming_uniform_(a = sqrt(5)) on the weight gives bound
 * gain * sqrt(3 / fan_in) = sqrt(1/3) * sqrt(3 / fan_in) = 1 / sqrt(fan_in),
 * and the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) too; fan_in =
 * C_in/groups * KH * KW for a conv, F_in for a linear layer
 * (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html, "Variables").
 * Fills n values U(-bound, bound) from m->rng. */
void model_init_torch_default(model *m, float *w, size_t n, int64_t fan_in);
void model_init_fill(float *w, size_t n, float value);
/* n values N(0, std^2) from m->rng (Box-Muller), e.g. torchvision's
 * kaiming_normal_ and timm's trunc_normal_(std=.02), whose +-2 cut-offs are
 * absolute and so 100 std away. */
void model_init_normal(model *m, float *w, size_t n, double std);

/* The families, listed by registry.c. */
extern const model_spec model_spec_cnn3;
extern const model_spec model_spec_cnn9;
extern const model_spec model_spec_efficientnet_b2;
extern const model_spec model_spec_resnet18, model_spec_resnet34;
extern const model_spec model_spec_vgg16;
extern const model_spec model_spec_autoencoder;
extern const model_spec model_spec_vit;
extern const model_spec model_spec_egemaps_linear;

#endif
