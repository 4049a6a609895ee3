/* safetensors.h: read and write the safetensors format, Sermo's model file
 * (internal API, used by the model, training and checkpoint code).
 *
 * Format (https://github.com/huggingface/safetensors, README "Format"):
 *   u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer
 * The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the buffer) plus an optional "__metadata__" object of
 * string -> string. Tensors cover the buffer exactly: no holes, no overlap.
 *
 * Writing:
 *   sermo_st_tensor t[] = {{"fc.weight", SERMO_ST_F32, 2, {6, 64}, w},
 *                          {"fc.bias", SERMO_ST_F32, 1, {6}, b}};
 *   const char *keys[] = {"labels"}, *values[] = {"angry,happy,..."};
 *   sermo_st_write("model.safetensors", t, 2, keys, values, 1, &err);
 * Reading:
 *   sermo_st_file *f = sermo_st_open("model.safetensors", &err);
 *   if (!f || sermo_st_expect(f, "fc.weight", SERMO_ST_F32, 2, (int64_t[]){6, 64}, &err)) ...
 *   const float *w = sermo_st_find(f, "fc.weight")->data;   // points into the mapping
 *   sermo_st_close(f);
 *
 * Alignment: data is aligned to its element size only when the writer laid
 * the buffer out that way. sermo_st_write pads the header to 8 bytes and keeps
 * the caller's order, so list tensors by decreasing element size (as
 * Hugging Face's writer does) when readers will cast the pointer; otherwise
 * check sermo_st_is_aligned() or memcpy. */
#ifndef SERMO_IO_SAFETENSORS_H
#define SERMO_IO_SAFETENSORS_H

#include "sermo.h"

#include <stddef.h>
#include <stdint.h>

#define SERMO_ST_MAX_DIMS 8
#define SERMO_ST_NAME_MAX 1024                     /* bytes, tensor names and metadata keys */
#define SERMO_ST_HEADER_MAX (100u * 1024u * 1024u) /* the reference's limit too */

/* Element types with a whole number of bytes, named as in the file. */
typedef enum sermo_st_dtype {
    SERMO_ST_BOOL = 0,
    SERMO_ST_U8,
    SERMO_ST_I8,
    SERMO_ST_F8_E5M2,
    SERMO_ST_F8_E4M3,
    SERMO_ST_I16,
    SERMO_ST_U16,
    SERMO_ST_F16,
    SERMO_ST_BF16,
    SERMO_ST_I32,
    SERMO_ST_U32,
    SERMO_ST_F32,
    SERMO_ST_I64,
    SERMO_ST_U64,
    SERMO_ST_F64,
    SERMO_ST_N_DTYPES
} sermo_st_dtype;

typedef struct sermo_st_tensor {
    const char *name;
    sermo_st_dtype dtype;
    int ndim;                          /* 0 .. SERMO_ST_MAX_DIMS; 0 = scalar */
    int64_t shape[SERMO_ST_MAX_DIMS];  /* row-major, a dim of 0 gives an empty tensor */
    const void *data;                  /* little-endian elements; may be NULL when empty */
} sermo_st_tensor;

typedef struct sermo_st_file sermo_st_file;

/* "F32" etc.; NULL for a value out of range. */
const char *sermo_st_dtype_name(sermo_st_dtype dtype);
/* -1 when the name is not a known dtype. */
int sermo_st_dtype_from_name(const char *name);
/* Bytes per element; 0 for a value out of range. */
size_t sermo_st_dtype_size(sermo_st_dtype dtype);
/* Elements and bytes of a tensor (of one that passed validation: no overflow). */
int64_t sermo_st_numel(const sermo_st_tensor *t);
size_t sermo_st_nbytes(const sermo_st_tensor *t);
/* 1 when t->data is aligned to its element size. */
int sermo_st_is_aligned(const sermo_st_tensor *t);

/* Write atomically: a temporary file beside path, fsync, rename. On failure
 * the temporary is removed and an existing file at path is left untouched.
 * Duplicate or empty names, names over SERMO_ST_NAME_MAX or not UTF-8,
 * "__metadata__" as a tensor name, bad dtypes or shapes, duplicate metadata
 * keys: SERMO_ERR_INVALID. meta_keys/meta_values may be NULL when n_meta is 0. */
sermo_status sermo_st_write(const char *path, const sermo_st_tensor *tensors, int n,
                            const char *const *meta_keys, const char *const *meta_values, int n_meta,
                            sermo_error *err);

/* The same bytes into a malloc'd buffer (*out, *size; free() it). */
sermo_status sermo_st_write_memory(const sermo_st_tensor *tensors, int n, const char *const *meta_keys,
                                   const char *const *meta_values, int n_meta, void **out, size_t *size,
                                   sermo_error *err);

/* Map and validate a file; NULL plus SERMO_ERR_IO / SERMO_ERR_FORMAT /
 * SERMO_ERR_UNSUPPORTED (more than SERMO_ST_MAX_DIMS dims) naming the file. */
sermo_st_file *sermo_st_open(const char *path, sermo_error *err);
/* The same over a caller's buffer, which must outlive the handle; name labels
 * errors. */
sermo_st_file *sermo_st_open_memory(const void *data, size_t size, const char *name, sermo_error *err);
void sermo_st_close(sermo_st_file *file);

const char *sermo_st_name(const sermo_st_file *file);
/* Tensors in the order of their data in the buffer (for files we wrote: the
 * order given to sermo_st_write). */
int sermo_st_n_tensors(const sermo_st_file *file);
const sermo_st_tensor *sermo_st_tensor_at(const sermo_st_file *file, int i); /* NULL out of range */
const sermo_st_tensor *sermo_st_find(const sermo_st_file *file, const char *name); /* NULL if absent */

/* Metadata, in header order. */
int sermo_st_n_meta(const sermo_st_file *file);
const char *sermo_st_meta(const sermo_st_file *file, const char *key); /* NULL if absent */
/* Key i (and its value in *value when value is not NULL); NULL out of range. */
const char *sermo_st_meta_at(const sermo_st_file *file, int i, const char **value);

/* For model loading: the tensor exists with this dtype and shape, else
 * SERMO_ERR_FORMAT with "<file>: missing tensor 'x'" or
 * "<file>: tensor 'x': shape [32,1,3,3] expected [64,1,3,3]". */
sermo_status sermo_st_expect(const sermo_st_file *file, const char *name, sermo_st_dtype dtype, int ndim,
                             const int64_t *shape, sermo_error *err);

/* IEEE binary16 bits from a float (round to nearest, ties to even; beyond
 * 65504 gives infinity) and back (exact). */
uint16_t sermo_st_half_from_float(float x);
float sermo_st_half_to_float(uint16_t h);

/* For model loading: the tensor as floats into out (its numel of them),
 * widened when it is stored as F16; the checks and errors of sermo_st_expect
 * with an F32 or F16 dtype. */
sermo_status sermo_st_read_floats(const sermo_st_file *file, const char *name, int ndim, const int64_t *shape,
                                  float *out, sermo_error *err);

#endif
