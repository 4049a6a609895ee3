/* params.c: the parameter table. Entries describe tensors (name, shape, group,
 * decay flag) at offsets into one buffer per role -- data, grad, AdamW m and v --
 * so whole-model operations are flat loops and decay is never chosen by index. */
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

/* Offsets are rounded to 16 floats (64 bytes, one cache line, an AVX-512
 * vector) so each tensor starts aligned in all four buffers. */
#define PARAM_ALIGN 16

void nn_params_init(nn_params *p) { memset(p, 0, sizeof *p); }

int32_t nn_params_add(nn_params *p, const char *name, int32_t ndim, const int64_t *shape,
                      int32_t group, int32_t decay, sermo_error *err) {
    if (p->data) {
        sermo_fail(err, SERMO_ERR_INVALID, "%s: parameter table already finalised", name);
        return -1;
    }
    if (!name || strlen(name) >= NN_PARAM_NAME_MAX) {
        sermo_fail(err, SERMO_ERR_INVALID, "parameter name missing or longer than %d bytes",
                   NN_PARAM_NAME_MAX - 1);
        return -1;
    }
    if (ndim < 1 || ndim > NN_PARAM_MAX_DIMS || group < 0) {
        sermo_fail(err, SERMO_ERR_INVALID, "%s: %d dims (1 to %d) or group %d", name, ndim,
                   NN_PARAM_MAX_DIMS, group);
        return -1;
    }
    if (nn_params_find(p, name)) {
        sermo_fail(err, SERMO_ERR_INVALID, "%s: duplicate parameter name", name);
        return -1;
    }
    size_t numel = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] <= 0) {
            sermo_fail(err, SERMO_ERR_INVALID, "%s: dimension %d is %lld", name, d,
                       (long long)shape[d]);
            return -1;
        }
        numel *= (size_t)shape[d];
    }
    if (p->n == p->cap) {
        int32_t cap = p->cap ? 2 * p->cap : 16;
        nn_param *e = realloc(p->entries, sizeof *e * (size_t)cap);
        if (!e) {
            sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot grow the parameter table", name);
            return -1;
        }
        p->entries = e;
        p->cap = cap;
    }
    nn_param *e = &p->entries[p->n];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, strlen(name) + 1);
    e->ndim = ndim;
    for (int32_t d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->group = group;
    e->decay = decay ? 1 : 0;
    e->offset = p->total;
    e->numel = numel;
    p->total += (numel + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    return p->n++;
}

/* calloc rather than aligned_alloc + memset: large blocks come zeroed from
 * the kernel and take no memory until written, so inference, which never
 * touches the gradients or AdamW's moments, does not hold 3x the weights
 * (135 MB for resnet18). Each block is carved at 64 bytes for the vectors. */
sermo_status nn_params_finalise(nn_params *p, sermo_error *err) {
    if (p->data) return sermo_fail(err, SERMO_ERR_INVALID, "parameter table already finalised");
    size_t bytes = sizeof(float) * (p->total ? p->total : PARAM_ALIGN);
    float **bufs[4] = {&p->data, &p->grad, &p->m, &p->v};
    for (int i = 0; i < 4; i++) {
        p->blocks[i] = calloc(bytes + 64, 1);
        if (!p->blocks[i]) {
            for (int j = 0; j < i; j++) {
                free(p->blocks[j]);
                p->blocks[j] = NULL;
                *bufs[j] = NULL;
            }
            return sermo_fail(err, SERMO_ERR_NOMEM, "parameters: cannot allocate 4 x %zu bytes",
                              bytes);
        }
        *bufs[i] = (float *)(((uintptr_t)p->blocks[i] + 63) & ~(uintptr_t)63);
    }
    return SERMO_OK;
}

const nn_param *nn_params_find(const nn_params *p, const char *name) {
    for (int32_t i = 0; i < p->n; i++)
        if (strcmp(p->entries[i].name, name) == 0) return &p->entries[i];
    return NULL;
}

float *nn_params_data(const nn_params *p, const char *name) {
    const nn_param *e = nn_params_find(p, name);
    return e && p->data ? p->data + e->offset : NULL;
}

float *nn_params_grad(const nn_params *p, const char *name) {
    const nn_param *e = nn_params_find(p, name);
    return e && p->grad ? p->grad + e->offset : NULL;
}

void nn_params_zero_grad(nn_params *p) {
    if (p->grad) memset(p->grad, 0, sizeof(float) * p->total);
}

size_t nn_params_count(const nn_params *p) {
    size_t n = 0;
    for (int32_t i = 0; i < p->n; i++) n += p->entries[i].numel;
    return n;
}

void nn_params_free(nn_params *p) {
    free(p->entries);
    for (int i = 0; i < 4; i++) free(p->blocks[i]);
    memset(p, 0, sizeof *p);
}
