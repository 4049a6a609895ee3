/* conv_dnnl.c: conv2d forward, backward-data and backward-weights on oneDNN's
 * convolution primitives (C API, v2.x), under the contract of the im2col +
 * SGEMM path in conv2d.c and checked against its naive reference by
 * tests/nn/test_conv_dnnl.c. Ownership and planning are described in
 * conv_dnnl.h.
 *
 * oneDNN overwrites its outputs. Our contract accumulates dweight, dbias and
 * (by default) dinput, so those results land in the arena and are added to
 * the caller's buffer by a reorder with a sum post-op, which is the same
 * pass that converts a blocked layout back to ours: accumulating costs no
 * extra sweep in the ANY layout. */
#include "nn/conv_dnnl.h"
#include "nn/depthwise.h"

#ifdef SERMO_HAVE_ONEDNN

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64 /* a cache line and an AVX-512 register */

/* One tensor argument of a primitive: our plain-layout buffer and, when the
 * primitive wants another layout or the result must be added, its twin in
 * the arena with the reorders between them. Memory objects are created
 * without a buffer; handles are bound per call (the arena may have moved). */
typedef struct dnnl_arg {
    dnnl_memory_t user;          /* the caller's buffer, NCHW / (G)OIHW / X */
    dnnl_memory_t inner;         /* the primitive's layout in the arena; NULL: it uses user */
    dnnl_primitive_t reorder;    /* input: user -> inner; output: inner -> user */
    dnnl_memory_t acc;           /* accumulating outputs: where the primitive writes */
    dnnl_primitive_t reorder_acc; /* acc -> user with sum: user += acc */
    size_t offset;               /* arena bytes of inner or acc (the same buffer) */
} dnnl_arg;

typedef enum arg_role { ARG_IN, ARG_OUT, ARG_OUT_ACC, ARG_OUT_BOTH } arg_role;

/* Everything one conv shape needs. The forward and the backward call each
 * lay their tensors out in the arena from offset 0. */
typedef struct dnnl_plan {
    nn_conv2d c;
    int nthreads, has_bias;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    dnnl_memory_t fwd_pad, bwd_data_pad, bwd_weights_pad; /* oneDNN's scratchpads */
    size_t fwd_pad_offset, bwd_pad_offset;
    dnnl_arg f_src, f_wei, f_bias, f_dst;   /* forward */
    dnnl_arg d_ddst, d_wei, d_dsrc;         /* backward data */
    dnnl_arg w_src, w_ddst, w_dwei, w_dbias; /* backward weights */
    int ddst_shared; /* both backward primitives read dout in one layout: reorder it once */
    /* 0 for a single input channel (a spectrogram model's first conv): no
     * input gradient is ever asked of it, and oneDNN's would pad it to 16
     * channels (39 MB for cnn3's at batch 32), so none is planned. */
    int with_data;
    size_t bytes;    /* arena bytes this plan needs */
} dnnl_plan;

struct nn_dnnl {
    nn_dnnl_layout layout;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_plan *plans; /* (n_plans), linear search: a model has tens of conv shapes */
    int n_plans, cap_plans;
    unsigned char *arena;
    size_t arena_bytes;
};

int nn_dnnl_available(void) { return 1; }

static sermo_status dnnl_fail(sermo_error *err, dnnl_status_t s, const char *what) {
    return sermo_fail(err, s == dnnl_unimplemented ? SERMO_ERR_UNSUPPORTED : SERMO_ERR_INVALID,
                      "conv2d (oneDNN): %s: %s", what, dnnl_status2str(s));
}

#define TRY(call, what)                                                   \
    do {                                                                  \
        dnnl_status_t s_ = (call);                                        \
        if (s_ != dnnl_success) return dnnl_fail(err, s_, what);          \
    } while (0)

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

/* oneDNN's OpenMP runtime sizes its parallel regions (and, at creation, its
 * kernels' work split) by omp_get_max_threads(), so the caller's nthreads
 * is made the ICV for the duration of the call and restored after. */
static int threads_enter(int nthreads) {
    int old = omp_get_max_threads();
    omp_set_num_threads(nthreads < 1 ? 1 : nthreads);
    return old;
}

/* -------------------------------------------------------------- arguments */

static void arg_free(dnnl_arg *a) {
    if (a->acc && a->acc != a->inner) dnnl_memory_destroy(a->acc);
    if (a->inner) dnnl_memory_destroy(a->inner);
    if (a->user) dnnl_memory_destroy(a->user);
    if (a->reorder) dnnl_primitive_destroy(a->reorder);
    if (a->reorder_acc) dnnl_primitive_destroy(a->reorder_acc);
    memset(a, 0, sizeof *a);
}

static dnnl_status_t reorder_create(dnnl_primitive_t *prim, const dnnl_memory_desc_t *from,
                                    const dnnl_memory_desc_t *to, int sum, dnnl_engine_t eng) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_success;
    if (sum) {
        if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) goto done;
        if ((s = dnnl_post_ops_create(&ops)) != dnnl_success) goto done;
        if ((s = dnnl_post_ops_append_sum(ops, 1.0f)) != dnnl_success) goto done;
        if ((s = dnnl_primitive_attr_set_post_ops(attr, ops)) != dnnl_success) goto done;
    }
    if ((s = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, attr)) != dnnl_success)
        goto done;
    s = dnnl_primitive_create(prim, pd);
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

/* user_md: our layout; want: the primitive's. *cursor advances past the
 * arena bytes the argument takes. */
static dnnl_status_t arg_init(dnnl_arg *a, const dnnl_memory_desc_t *user_md,
                              const dnnl_memory_desc_t *want, arg_role role, size_t *cursor,
                              dnnl_engine_t eng) {
    dnnl_status_t s;
    int differs = !dnnl_memory_desc_equal(user_md, want);
    int acc = role == ARG_OUT_ACC || role == ARG_OUT_BOTH;
    if ((s = dnnl_memory_create(&a->user, user_md, eng, DNNL_MEMORY_NONE)) != dnnl_success) return s;
    if (!differs && !acc) return dnnl_success;
    a->offset = *cursor;
    if (differs) {
        if ((s = dnnl_memory_create(&a->inner, want, eng, DNNL_MEMORY_NONE)) != dnnl_success) return s;
        *cursor += align_up(dnnl_memory_desc_get_size(want));
        s = role == ARG_IN ? reorder_create(&a->reorder, user_md, want, 0, eng)
            : role == ARG_OUT_ACC ? dnnl_success
                                  : reorder_create(&a->reorder, want, user_md, 0, eng);
        if (s != dnnl_success) return s;
        a->acc = acc ? a->inner : NULL;
    } else {
        if ((s = dnnl_memory_create(&a->acc, user_md, eng, DNNL_MEMORY_NONE)) != dnnl_success) return s;
        *cursor += align_up(dnnl_memory_desc_get_size(user_md));
    }
    return acc ? reorder_create(&a->reorder_acc, want, user_md, 1, eng) : dnnl_success;
}

/* Binds the caller's buffer and the arena twin; oneDNN only reads inputs,
 * so casting const away for them is safe. */
static dnnl_status_t arg_bind(const nn_dnnl *ctx, dnnl_arg *a, const void *user) {
    dnnl_status_t s = dnnl_memory_set_data_handle(a->user, (void *)user);
    void *twin = ctx->arena + a->offset;
    if (s == dnnl_success && a->inner) s = dnnl_memory_set_data_handle(a->inner, twin);
    if (s == dnnl_success && a->acc && a->acc != a->inner) s = dnnl_memory_set_data_handle(a->acc, twin);
    return s;
}

/* The memory the primitive reads or (overwriting) writes. */
static dnnl_memory_t arg_mem(const dnnl_arg *a) { return a->inner ? a->inner : a->user; }

static dnnl_status_t reorder_run(const nn_dnnl *ctx, dnnl_primitive_t r, dnnl_memory_t from,
                                 dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, ctx->stream, 2, args);
}

/* ------------------------------------------------------------------ plans */

static void plan_free(dnnl_plan *p) {
    dnnl_primitive_t prims[] = {p->fwd, p->bwd_data, p->bwd_weights};
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t pads[] = {p->fwd_pad, p->bwd_data_pad, p->bwd_weights_pad};
    for (size_t i = 0; i < sizeof pads / sizeof *pads; i++)
        if (pads[i]) dnnl_memory_destroy(pads[i]);
    dnnl_arg *args[] = {&p->f_src, &p->f_wei, &p->f_bias, &p->f_dst, &p->d_ddst, &p->d_wei,
                        &p->d_dsrc, &p->w_src, &p->w_ddst, &p->w_dwei, &p->w_dbias};
    for (size_t i = 0; i < sizeof args / sizeof *args; i++) arg_free(args[i]);
}

/* Our layouts: src (B, C_in, H, W), weight (C_out, Ci, KH, KW) seen as
 * (G, Co, Ci, KH, KW) when grouped, bias (C_out), dst (B, C_out, OH, OW).
 * tag_any: the same shapes with the layout left to the primitive. */
typedef struct conv_mds {
    dnnl_memory_desc_t src, wei, bias, dst;
} conv_mds;

static dnnl_status_t conv_mds_init(conv_mds *m, const nn_conv2d *c, int tag_any) {
    dnnl_dims_t src = {c->B, c->C_in, c->H, c->W}, dst = {c->B, c->C_out, c->OH, c->OW};
    dnnl_dims_t bias = {c->C_out};
    dnnl_dims_t wei = {c->C_out, c->C_in, c->KH, c->KW};
    dnnl_dims_t gwei = {c->groups, c->C_out / c->groups, c->C_in / c->groups, c->KH, c->KW};
    dnnl_format_tag_t act = tag_any ? dnnl_format_tag_any : dnnl_nchw;
    dnnl_format_tag_t w = tag_any ? dnnl_format_tag_any : c->groups > 1 ? dnnl_goihw : dnnl_oihw;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&m->src, 4, src, dnnl_f32, act)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_tag(&m->dst, 4, dst, dnnl_f32, act)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_tag(&m->bias, 1, bias, dnnl_f32, dnnl_x)) != dnnl_success) return s;
    return c->groups > 1 ? dnnl_memory_desc_init_by_tag(&m->wei, 5, gwei, dnnl_f32, w)
                         : dnnl_memory_desc_init_by_tag(&m->wei, 4, wei, dnnl_f32, w);
}

static const dnnl_memory_desc_t *pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int i) {
    return dnnl_primitive_desc_query_md(pd, q, i);
}

/* Creates the primitive of pd and its scratchpad memory at *cursor. */
static dnnl_status_t prim_init(dnnl_primitive_t *prim, dnnl_memory_t *pad, size_t *pad_offset,
                               const_dnnl_primitive_desc_t pd, size_t *cursor, dnnl_engine_t eng) {
    dnnl_status_t s = dnnl_primitive_create(prim, pd);
    if (s != dnnl_success) return s;
    const dnnl_memory_desc_t *md = pd_md(pd, dnnl_query_scratchpad_md, 0);
    if ((s = dnnl_memory_create(pad, md, eng, DNNL_MEMORY_NONE)) != dnnl_success) return s;
    *pad_offset = *cursor;
    *cursor += align_up(dnnl_memory_desc_get_size(md));
    return dnnl_success;
}

static sermo_status plan_build(nn_dnnl *ctx, dnnl_plan *p, sermo_error *err) {
    const nn_conv2d *c = &p->c;
    dnnl_engine_t eng = ctx->engine;
    conv_mds user, any;
    TRY(conv_mds_init(&user, c, 0), "memory descriptors");
    TRY(conv_mds_init(&any, c, ctx->layout == NN_DNNL_LAYOUT_ANY), "memory descriptors");
    dnnl_dims_t strides = {c->stride_h, c->stride_w}, pad = {c->pad_h, c->pad_w};
    dnnl_dims_t dil = {c->dil_h - 1, c->dil_w - 1}; /* oneDNN counts the gaps: 0 = dense */
    const dnnl_memory_desc_t *bias = p->has_bias ? &any.bias : NULL;

    dnnl_convolution_desc_t fd, dd, wd;
    TRY(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                   dnnl_convolution_direct, &any.src, &any.wei,
                                                   bias, &any.dst, strides, dil, pad, pad),
        "forward descriptor");
    if (p->with_data)
        TRY(dnnl_dilated_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &any.src,
                                                             &any.wei, &any.dst, strides, dil, pad, pad),
            "backward-data descriptor");
    TRY(dnnl_dilated_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct,
                                                            &any.src, &any.wei, bias, &any.dst,
                                                            strides, dil, pad, pad),
        "backward-weights descriptor");

    /* The scratchpads come from the arena, not from oneDNN's allocator. */
    dnnl_primitive_attr_t attr = NULL;
    TRY(dnnl_primitive_attr_create(&attr), "attributes");
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    const char *what = "scratchpad mode";
    if (s == dnnl_success && (s = dnnl_primitive_desc_create(&fpd, &fd, attr, eng, NULL)))
        what = "forward primitive";
    /* The forward descriptor is the hint that keeps the backward layouts consistent with it. */
    if (s == dnnl_success && p->with_data && (s = dnnl_primitive_desc_create(&dpd, &dd, attr, eng, fpd)))
        what = "backward-data primitive";
    if (s == dnnl_success && (s = dnnl_primitive_desc_create(&wpd, &wd, attr, eng, fpd)))
        what = "backward-weights primitive";
    dnnl_primitive_attr_destroy(attr);

    size_t fcur = 0, bcur = 0;
    if (s == dnnl_success) {
        what = "forward arguments";
        const dnnl_memory_desc_t *src = pd_md(fpd, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *wei = pd_md(fpd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *dst = pd_md(fpd, dnnl_query_dst_md, 0);
        s = arg_init(&p->f_src, &user.src, src, ARG_IN, &fcur, eng);
        if (s == dnnl_success) s = arg_init(&p->f_wei, &user.wei, wei, ARG_IN, &fcur, eng);
        if (s == dnnl_success && p->has_bias)
            s = arg_init(&p->f_bias, &user.bias, pd_md(fpd, dnnl_query_weights_md, 1), ARG_IN,
                         &fcur, eng);
        if (s == dnnl_success) s = arg_init(&p->f_dst, &user.dst, dst, ARG_OUT, &fcur, eng);
        if (s == dnnl_success) s = prim_init(&p->fwd, &p->fwd_pad, &p->fwd_pad_offset, fpd, &fcur, eng);
    }
    if (s == dnnl_success) {
        what = "backward-data arguments";
        const dnnl_memory_desc_t *wddst = pd_md(wpd, dnnl_query_diff_dst_md, 0);
        if (p->with_data) {
            const dnnl_memory_desc_t *ddst = pd_md(dpd, dnnl_query_diff_dst_md, 0);
            s = arg_init(&p->d_ddst, &user.dst, ddst, ARG_IN, &bcur, eng);
            if (s == dnnl_success)
                s = arg_init(&p->d_wei, &user.wei, pd_md(dpd, dnnl_query_weights_md, 0), ARG_IN, &bcur, eng);
            if (s == dnnl_success)
                s = arg_init(&p->d_dsrc, &user.src, pd_md(dpd, dnnl_query_diff_src_md, 0), ARG_OUT_BOTH,
                             &bcur, eng);
            p->ddst_shared = dnnl_memory_desc_equal(ddst, wddst);
        }
        if (s == dnnl_success) what = "backward-weights arguments";
        if (s == dnnl_success)
            s = arg_init(&p->w_src, &user.src, pd_md(wpd, dnnl_query_src_md, 0), ARG_IN, &bcur, eng);
        if (s == dnnl_success) s = arg_init(&p->w_ddst, &user.dst, wddst, ARG_IN, &bcur, eng);
        if (s == dnnl_success)
            s = arg_init(&p->w_dwei, &user.wei, pd_md(wpd, dnnl_query_diff_weights_md, 0),
                         ARG_OUT_ACC, &bcur, eng);
        if (s == dnnl_success && p->has_bias)
            s = arg_init(&p->w_dbias, &user.bias, pd_md(wpd, dnnl_query_diff_weights_md, 1),
                         ARG_OUT_ACC, &bcur, eng);
        /* The two backward primitives run one after the other: one scratchpad region. */
        size_t dcur = bcur, wcur = bcur;
        if (s == dnnl_success && p->with_data)
            s = prim_init(&p->bwd_data, &p->bwd_data_pad, &p->bwd_pad_offset, dpd, &dcur, eng);
        if (s == dnnl_success)
            s = prim_init(&p->bwd_weights, &p->bwd_weights_pad, &p->bwd_pad_offset, wpd, &wcur, eng);
        bcur = dcur > wcur ? dcur : wcur;
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (s != dnnl_success) return dnnl_fail(err, s, what);
    p->bytes = fcur > bcur ? fcur : bcur;
    return SERMO_OK;
}

/* The plan for (c, has_bias, nthreads), built on first use. */
static sermo_status plan_get(nn_dnnl *ctx, const nn_conv2d *c, int has_bias, int nthreads,
                             dnnl_plan **out, sermo_error *err) {
    if (nthreads < 1) nthreads = 1;
    has_bias = has_bias != 0;
    for (int i = 0; i < ctx->n_plans; i++) {
        dnnl_plan *p = &ctx->plans[i];
        if (p->nthreads == nthreads && p->has_bias == has_bias && !memcmp(&p->c, c, sizeof *c)) {
            *out = p;
            return SERMO_OK;
        }
    }
    if (ctx->n_plans == ctx->cap_plans) {
        int cap = ctx->cap_plans ? 2 * ctx->cap_plans : 16;
        dnnl_plan *plans = realloc(ctx->plans, sizeof *plans * (size_t)cap);
        if (!plans) return sermo_fail(err, SERMO_ERR_NOMEM, "conv2d (oneDNN): plan table");
        ctx->plans = plans;
        ctx->cap_plans = cap;
    }
    dnnl_plan *p = &ctx->plans[ctx->n_plans];
    memset(p, 0, sizeof *p);
    p->c = *c;
    p->nthreads = nthreads;
    p->has_bias = has_bias;
    p->with_data = c->C_in / c->groups > 1;
    int old = threads_enter(nthreads); /* kernels pick their work split at creation */
    sermo_status st = plan_build(ctx, p, err);
    omp_set_num_threads(old);
    if (st == SERMO_OK && p->bytes > ctx->arena_bytes) {
        unsigned char *arena = aligned_alloc(ARENA_ALIGN, p->bytes);
        if (!arena) st = sermo_fail(err, SERMO_ERR_NOMEM, "conv2d (oneDNN): arena of %zu bytes", p->bytes);
        else {
            free(ctx->arena);
            ctx->arena = arena;
            ctx->arena_bytes = p->bytes;
        }
    }
    if (st != SERMO_OK) {
        plan_free(p);
        return st;
    }
    ctx->n_plans++;
    *out = p;
    return SERMO_OK;
}

/* ---------------------------------------------------------------- public */

nn_dnnl *nn_dnnl_init(nn_dnnl_layout layout, sermo_error *err) {
    nn_dnnl *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        sermo_fail(err, SERMO_ERR_NOMEM, "conv2d (oneDNN): context");
        return NULL;
    }
    ctx->layout = layout;
    dnnl_status_t s = dnnl_engine_create(&ctx->engine, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_fail(err, s, "CPU engine");
        nn_dnnl_free(ctx);
        return NULL;
    }
    return ctx;
}

void nn_dnnl_free(nn_dnnl *ctx) {
    if (!ctx) return;
    for (int i = 0; i < ctx->n_plans; i++) plan_free(&ctx->plans[i]);
    free(ctx->plans);
    free(ctx->arena);
    if (ctx->stream) dnnl_stream_destroy(ctx->stream);
    if (ctx->engine) dnnl_engine_destroy(ctx->engine);
    free(ctx);
}

size_t nn_dnnl_arena_bytes(const nn_dnnl *ctx) { return ctx ? ctx->arena_bytes : 0; }

sermo_status nn_conv2d_plan_dnnl(nn_dnnl *ctx, const nn_conv2d *c, int has_bias, int nthreads,
                                 sermo_error *err) {
    dnnl_plan *p;
    return plan_get(ctx, c, has_bias, nthreads, &p, err);
}

static dnnl_status_t forward_run(const nn_dnnl *ctx, dnnl_plan *p, float *out, const float *in,
                                 const float *weight, const float *bias) {
    dnnl_status_t s;
    if ((s = arg_bind(ctx, &p->f_src, in)) != dnnl_success) return s;
    if ((s = arg_bind(ctx, &p->f_wei, weight)) != dnnl_success) return s;
    if (p->has_bias && (s = arg_bind(ctx, &p->f_bias, bias)) != dnnl_success) return s;
    if ((s = arg_bind(ctx, &p->f_dst, out)) != dnnl_success) return s;
    if ((s = dnnl_memory_set_data_handle(p->fwd_pad, ctx->arena + p->fwd_pad_offset)) != dnnl_success)
        return s;
    const dnnl_arg *ins[] = {&p->f_src, &p->f_wei};
    for (int i = 0; i < 2; i++)
        if (ins[i]->reorder && (s = reorder_run(ctx, ins[i]->reorder, ins[i]->user, ins[i]->inner)))
            return s;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, arg_mem(&p->f_src)},
                              {DNNL_ARG_WEIGHTS, arg_mem(&p->f_wei)},
                              {DNNL_ARG_DST, arg_mem(&p->f_dst)},
                              {DNNL_ARG_SCRATCHPAD, p->fwd_pad},
                              {DNNL_ARG_BIAS, p->has_bias ? arg_mem(&p->f_bias) : NULL}};
    if ((s = dnnl_primitive_execute(p->fwd, ctx->stream, p->has_bias ? 5 : 4, args))) return s;
    if (p->f_dst.reorder && (s = reorder_run(ctx, p->f_dst.reorder, p->f_dst.inner, p->f_dst.user)))
        return s;
    return dnnl_stream_wait(ctx->stream);
}

sermo_status nn_conv2d_forward_dnnl(nn_dnnl *ctx, float *out, const float *in, const float *weight,
                                    const float *bias, const nn_conv2d *c, int nthreads,
                                    sermo_error *err) {
    // out (B, C_out, OH, OW), in (B, C_in, H, W), weight (C_out, Ci, KH, KW), bias (C_out)
    dnnl_plan *p;
    sermo_status st = plan_get(ctx, c, bias != NULL, nthreads, &p, err);
    if (st != SERMO_OK) return st;
    int old = threads_enter(nthreads);
    dnnl_status_t s = forward_run(ctx, p, out, in, weight, bias);
    omp_set_num_threads(old);
    return s == dnnl_success ? SERMO_OK : dnnl_fail(err, s, "forward");
}

/* dinput = W^T * dout: dout and the weights into the primitive's layouts,
 * then back into dinput, written or added. */
static dnnl_status_t backward_data_run(const nn_dnnl *ctx, dnnl_plan *p, float *dinput,
                                       const float *dout, const float *weight, nn_grad_mode mode) {
    dnnl_status_t s;
    if ((s = arg_bind(ctx, &p->d_ddst, dout)) != dnnl_success) return s;
    if ((s = arg_bind(ctx, &p->d_wei, weight)) != dnnl_success) return s;
    if ((s = arg_bind(ctx, &p->d_dsrc, dinput)) != dnnl_success) return s;
    if ((s = dnnl_memory_set_data_handle(p->bwd_data_pad, ctx->arena + p->bwd_pad_offset)))
        return s;
    const dnnl_arg *ins[] = {&p->d_ddst, &p->d_wei};
    for (int i = 0; i < 2; i++)
        if (ins[i]->reorder && (s = reorder_run(ctx, ins[i]->reorder, ins[i]->user, ins[i]->inner)))
            return s;
    int acc = mode == NN_GRAD_ACCUMULATE;
    dnnl_memory_t dsrc = acc ? p->d_dsrc.acc : arg_mem(&p->d_dsrc);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, arg_mem(&p->d_ddst)},
                              {DNNL_ARG_WEIGHTS, arg_mem(&p->d_wei)},
                              {DNNL_ARG_DIFF_SRC, dsrc},
                              {DNNL_ARG_SCRATCHPAD, p->bwd_data_pad}};
    if ((s = dnnl_primitive_execute(p->bwd_data, ctx->stream, 4, args))) return s;
    if (acc) return reorder_run(ctx, p->d_dsrc.reorder_acc, dsrc, p->d_dsrc.user);
    if (p->d_dsrc.reorder) return reorder_run(ctx, p->d_dsrc.reorder, dsrc, p->d_dsrc.user);
    return dnnl_success;
}

/* dweight, dbias += from dout and the input; dout_done: backward-data has
 * already put dout into the layout this primitive reads. */
static dnnl_status_t backward_weights_run(const nn_dnnl *ctx, dnnl_plan *p, float *dweight,
                                          float *dbias, const float *dout, const float *in,
                                          int dout_done) {
    dnnl_status_t s;
    if ((s = arg_bind(ctx, &p->w_src, in)) != dnnl_success) return s;
    if ((s = arg_bind(ctx, &p->w_ddst, dout)) != dnnl_success) return s;
    if ((s = arg_bind(ctx, &p->w_dwei, dweight)) != dnnl_success) return s;
    if (p->has_bias && (s = arg_bind(ctx, &p->w_dbias, dbias)) != dnnl_success) return s;
    if ((s = dnnl_memory_set_data_handle(p->bwd_weights_pad, ctx->arena + p->bwd_pad_offset)))
        return s;
    dnnl_memory_t ddst = arg_mem(&p->w_ddst);
    if (dout_done) ddst = arg_mem(&p->d_ddst);
    else if (p->w_ddst.reorder && (s = reorder_run(ctx, p->w_ddst.reorder, p->w_ddst.user, ddst)))
        return s;
    if (p->w_src.reorder && (s = reorder_run(ctx, p->w_src.reorder, p->w_src.user, p->w_src.inner)))
        return s;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, arg_mem(&p->w_src)},
                              {DNNL_ARG_DIFF_DST, ddst},
                              {DNNL_ARG_DIFF_WEIGHTS, p->w_dwei.acc},
                              {DNNL_ARG_SCRATCHPAD, p->bwd_weights_pad},
                              {DNNL_ARG_DIFF_BIAS, p->has_bias ? p->w_dbias.acc : NULL}};
    if ((s = dnnl_primitive_execute(p->bwd_weights, ctx->stream, p->has_bias ? 5 : 4, args)))
        return s;
    if (dweight && (s = reorder_run(ctx, p->w_dwei.reorder_acc, p->w_dwei.acc, p->w_dwei.user)))
        return s;
    if (p->has_bias)
        s = reorder_run(ctx, p->w_dbias.reorder_acc, p->w_dbias.acc, p->w_dbias.user);
    return s;
}

sermo_status nn_conv2d_backward_dnnl(nn_dnnl *ctx, float *dinput, float *dweight, float *dbias,
                                     const float *dout, const float *in, const float *weight,
                                     const nn_conv2d *c, int nthreads, nn_grad_mode dinput_mode,
                                     sermo_error *err) {
    // dinput (B, C_in, H, W), dweight (C_out, Ci, KH, KW), dbias (C_out), dout (B, C_out, OH, OW)
    if (!dinput && !dweight && !dbias) return SERMO_OK;
    dnnl_plan *p;
    sermo_status st = plan_get(ctx, c, dbias != NULL, nthreads, &p, err);
    if (st != SERMO_OK) return st;
    if (dinput && !p->with_data) /* before anything runs: the caller can fall back */
        return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "conv2d (oneDNN): no input gradient for one input channel");
    int old = threads_enter(nthreads);
    dnnl_status_t s = dnnl_success;
    const char *what = "backward data";
    if (dinput) s = backward_data_run(ctx, p, dinput, dout, weight, dinput_mode);
    if (s == dnnl_success && (dweight || dbias)) {
        what = "backward weights";
        s = backward_weights_run(ctx, p, dweight, dbias, dout, in,
                                 dinput && p->ddst_shared && p->d_ddst.inner);
    }
    if (s == dnnl_success) s = dnnl_stream_wait(ctx->stream);
    omp_set_num_threads(old);
    return s == dnnl_success ? SERMO_OK : dnnl_fail(err, s, what);
}

#else /* !SERMO_HAVE_ONEDNN: the contract stays, every call reports the absence */

#define NO_ONEDNN "conv2d: oneDNN not available (built without SERMO_ONEDNN / libdnnl-dev)"

int nn_dnnl_available(void) { return 0; }

nn_dnnl *nn_dnnl_init(nn_dnnl_layout layout, sermo_error *err) {
    (void)layout;
    sermo_fail(err, SERMO_ERR_UNSUPPORTED, NO_ONEDNN);
    return NULL;
}

void nn_dnnl_free(nn_dnnl *ctx) { (void)ctx; }

size_t nn_dnnl_arena_bytes(const nn_dnnl *ctx) {
    (void)ctx;
    return 0;
}

sermo_status nn_conv2d_plan_dnnl(nn_dnnl *ctx, const nn_conv2d *c, int has_bias, int nthreads,
                                 sermo_error *err) {
    (void)ctx, (void)c, (void)has_bias, (void)nthreads;
    return sermo_fail(err, SERMO_ERR_UNSUPPORTED, NO_ONEDNN);
}

sermo_status nn_conv2d_forward_dnnl(nn_dnnl *ctx, float *out, const float *in, const float *weight,
                                    const float *bias, const nn_conv2d *c, int nthreads,
                                    sermo_error *err) {
    (void)ctx, (void)out, (void)in, (void)weight, (void)bias, (void)c, (void)nthreads;
    return sermo_fail(err, SERMO_ERR_UNSUPPORTED, NO_ONEDNN);
}

sermo_status nn_conv2d_backward_dnnl(nn_dnnl *ctx, float *dinput, float *dweight, float *dbias,
                                     const float *dout, const float *in, const float *weight,
                                     const nn_conv2d *c, int nthreads, nn_grad_mode dinput_mode,
                                     sermo_error *err) {
    (void)ctx, (void)dinput, (void)dweight, (void)dbias, (void)dout, (void)in, (void)weight;
    (void)c, (void)nthreads, (void)dinput_mode;
    return sermo_fail(err, SERMO_ERR_UNSUPPORTED, NO_ONEDNN);
}

#endif

/* ------------------------------------------------------------- dispatch */

/* bench/bench_conv_dnnl.c, ResNet-18 convs on 2 threads (quiet machine):
 * oneDNN took 0.69x the im2col path's time for a training step's convs
 * and 0.63x for batch-1 inference, except 1x1 convs (their GEMM needs no
 * im2col, and oneDNN's reorders cost more) and depthwise ones (depthwise.c). */
int nn_dnnl_suits(const nn_conv2d *c) {
    return (c->KH > 1 || c->KW > 1) && !nn_depthwise_supported(c);
}

void nn_conv2d_forward_auto(nn_dnnl *ctx, float *out, const float *in, const float *weight, const float *bias,
                            const nn_conv2d *c, float *workspace, int nthreads) {
    sermo_error err;
    if (ctx && nn_dnnl_suits(c) &&
        nn_conv2d_forward_dnnl(ctx, out, in, weight, bias, c, nthreads, &err) == SERMO_OK)
        return;
    nn_conv2d_forward_fast(out, in, weight, bias, c, workspace, nthreads);
}

void nn_conv2d_backward_auto(nn_dnnl *ctx, float *dinput, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, const nn_conv2d *c, float *workspace,
                             int nthreads, nn_grad_mode dinput_mode) {
    sermo_error err;
    /* Planned first, apart from running: a failure there (memory for a new
     * shape) has added nothing, so the fast path takes over without counting
     * a gradient twice. Running a planned primitive fails only on arguments
     * the plan has already checked. */
    if (ctx && nn_dnnl_suits(c) && nn_conv2d_plan_dnnl(ctx, c, dbias != NULL, nthreads, &err) == SERMO_OK &&
        nn_conv2d_backward_dnnl(ctx, dinput, dweight, dbias, dout, in, weight, c, nthreads, dinput_mode,
                                &err) == SERMO_OK)
        return;
    nn_conv2d_backward_fast_mode(dinput, dweight, dbias, dout, in, weight, c, workspace, nthreads, dinput_mode);
}
