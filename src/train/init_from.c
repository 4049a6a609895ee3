/* init_from.c: model.init_from, starting a model from the tensors of another
 * file, as torch's load_state_dict(strict=False) after dropping the entries
 * whose shapes differ would, except that a shape difference is an error
 * here: a tensor of the same name but another shape is almost always the
 * wrong file or the wrong model settings, not something to skip silently.
 * Used to fine-tune a saved model or to start cnn3 from an autoencoder's
 * encoder (the same "features.*" names). */
#include "train/train.h"

#include "io/safetensors.h"

#include <string.h>

/* Copies tensor t of f into entry e of table p; another dtype or shape is
 * sermo_st_expect's "<file>: tensor 'x': shape [2,128] expected [3,128]"
 * (expected: the model's). */
static sermo_status copy_tensor(const sermo_st_file *f, const sermo_st_tensor *t, nn_params *p, const nn_param *e,
                                sermo_error *err) {
    if (sermo_st_expect(f, t->name, SERMO_ST_F32, e->ndim, e->shape, err))
        return sermo_fail_prefix(err, SERMO_ERR_INVALID, "model.init_from");
    memcpy(p->data + e->offset, t->data, sizeof(float) * e->numel);
    return SERMO_OK;
}

sermo_status train_init_from(model *m, const char *path, int32_t *copied, int32_t *total, sermo_error *err) {
    *copied = *total = 0;
    sermo_st_file *f = sermo_st_open(path, err);
    if (!f) return sermo_fail_prefix(err, err ? err->status : SERMO_ERR_IO, "model.init_from");
    sermo_status st = SERMO_OK;
    int32_t n = sermo_st_n_tensors(f);
    for (int32_t i = 0; i < n && st == SERMO_OK; i++) {
        const sermo_st_tensor *t = sermo_st_tensor_at(f, i);
        nn_params *tables[2] = {&m->params, &m->buffers};
        for (int k = 0; k < 2 && st == SERMO_OK; k++) {
            const nn_param *e = nn_params_find(tables[k], t->name);
            if (!e) continue;
            st = copy_tensor(f, t, tables[k], e, err);
            *copied += st == SERMO_OK;
        }
    }
    if (st == SERMO_OK && *copied == 0)
        st = sermo_fail(err, SERMO_ERR_INVALID, "model.init_from: no tensor of %s matches model %s (its first "
                        "parameter is '%s')", path, m->spec->name, m->params.n ? m->params.entries[0].name : "");
    *total = n;
    sermo_st_close(f);
    return st;
}
