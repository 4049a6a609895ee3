/* vit.c: the Vision Transformer family over spectrogram patches, timm's
 * vit_{tiny,small,base}_patch16_224 (Dosovitskiy et al. 2021, "An Image is
 * Worth 16x16 Words"; timm/models/vision_transformer.py) with its state_dict
 * names, so a timm checkpoint maps 1:1 (the head aside):
 *
 *   input (B, 1, F, T) -> bilinear resize to S x S, repeat to 3 channels (layer_input)
 *   patch_embed.proj    Conv2d(3, E, 16, stride 16) with bias      -> (B, E, g, g)
 *   flatten to tokens (B, P, E), P = g^2; prepend cls_token (1, 1, E); + pos_embed (1, N, E)
 *   blocks.i (pre-norm, timm's Block with drop_path):
 *     x = x + drop_path(attn.proj(attention(attn.qkv(norm1(x)))))
 *     x = x + drop_path(mlp.fc2(GELU(mlp.fc1(norm2(x)))))
 *   norm (LayerNorm) -> the class token (B, E) -> head (layer_head: "head")
 *
 * LayerNorm eps 1e-6 (timm's partial(nn.LayerNorm, eps=1e-6)), GELU exact
 * (erf, torch.nn.GELU's default), qkv with bias, mlp ratio 4, no attention
 * or projection dropout (timm's defaults are 0). Stochastic depth is timm's
 * drop_path_rate: block i drops its branches at rate * i / (depth - 1)
 * (torch.linspace(0, rate, depth)); per-sample, "row" mode.
 *
 * Only the class token's row of the final norm is computed: LayerNorm works
 * row by row and the head reads row 0 alone, so the other rows would get zero
 * gradient and change nothing (timm normalises all of them and drops them).
 *
 * Dimension letters: B batch, S image size, g = S / 16 patch grid, P = g^2
 * patches, N = P + 1 tokens, E embedding width, NH heads, R = B * N rows of
 * every token-wise Linear (all tokens of the batch at once), L classes.
 *
 * Memory: every activation is carved once from one arena for (max_batch, N);
 * per block 17 N E + NH N^2 floats per sample (tiny at S = 224: 0.76 M
 * floats, 3 MiB per sample per block, 36 MiB per sample in all).
 *
 * Threads: one OpenMP team of cfg.threads does everything, each thread
 * calling single-threaded SGEMMs on its share of the rows (or, for a weight
 * gradient, of the output features), as conv2d.c does. Letting the pthreads
 * OpenBLAS thread each Linear between OpenMP regions (LayerNorm, GELU,
 * attention) was 2-5x slower: libgomp's idle workers spin for a while after
 * every region, on the cores OpenBLAS's threads need. nn_attention and the
 * elementwise loops take no thread count, so forward and backward set the
 * OpenMP default to cfg.threads (and OpenBLAS to 1) and restore both after. */
#include "models/layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define VIT_PATCH 16
#define VIT_MLP_RATIO 4
#define VIT_LN_EPS 1e-6f
#define VIT_MAX_DEPTH 24
#define VIT_MAX_IMAGE 1024        /* 4097 tokens: attention is quadratic past here */
#define VIT_IMAGE_DEFAULT 224     /* the pretrained checkpoints' input */
#define VIT_CHANNELS_DEFAULT 3    /* patch_embed.proj takes RGB in timm's checkpoints */
#define VIT_DROP_PATH_DEFAULT 0.1f /* DeiT-tiny/small recipes use 0.1 */
#define VIT_INIT_STD 0.02         /* timm's trunc_normal_(std=.02) */
#define VIT_ROWS_CHUNK 64         /* LayerNorm rows per parallel chunk (fixed: results
                                     do not depend on the thread count) */
#define VIT_GELU_CHUNK 16384      /* elements per parallel GELU chunk */

typedef struct vit_size {
    const char *name;
    int embed, depth, heads;
} vit_size;

/* timm's vit_tiny/small/base_patch16_224. */
static const vit_size vit_sizes[] = {
    {"tiny", 192, 12, 3},
    {"small", 384, 12, 6},
    {"base", 768, 12, 12},
};
#define VIT_N_SIZES ((int)(sizeof vit_sizes / sizeof vit_sizes[0]))

typedef struct vit_block {
    /* Offsets into m->params. */
    size_t n1_w, n1_b, qkv_w, qkv_b, proj_w, proj_b, n2_w, n2_b, fc1_w, fc1_b, fc2_w, fc2_b;
    float dpr;                 /* this block's drop_path rate */
    const float *in;           /* (B, N, E) the residual stream entering */
    float *ln1, *mean1, *rstd1; /* (B, N, E), (B, N), (B, N) */
    float *qkv;                /* (B, N, 3E) */
    float *att;                /* (B, NH, N, N) softmax, kept for backward */
    float *ao;                 /* (B, N, E) attention output, proj's input */
    float *mask1;              /* (B) drop_path scale of the attention branch */
    float *mid;                /* (B, N, E) after the attention residual */
    float *ln2, *mean2, *rstd2;
    float *h;                  /* (B, N, 4E) fc1 output, GELU's input */
    float *g;                  /* (B, N, 4E) GELU output, fc2's input */
    float *mask2;              /* (B) */
    float *out;                /* (B, N, E) the next block's in */
} vit_block;

typedef struct vit_state {
    int E, depth, NH, P, N, threads;
    size_t cls, pos, norm_w, norm_b; /* offsets into m->params */
    layer_input input;
    layer_conv patch;
    layer_head head;
    vit_block blocks[VIT_MAX_DEPTH];
    float *tokens;             /* (B, N, E) blocks[0].in */
    float *branch;             /* (B, N, E) proj / fc2 output before drop_path */
    float *cls_in, *feat;      /* (B, E) the class token before / after norm */
    float *fmean, *frstd;      /* (B) */
    float *dfeat, *dcls;       /* (B, E) */
    float *dx;                 /* (B, N, E) gradient of the residual stream */
    float *dc[2];              /* (B, N, E) scratch */
    float *d4[2];              /* (B, N, 4E) scratch (dqkv uses 3E of d4[0]) */
    float *att_scratch;        /* nn_attention_scratch_size */
    float *ln_part;            /* (chunks, 2, E) LayerNorm dweight/dbias partial sums */
    float *workspace;          /* patch conv im2col */
    layer_arena arena;
    int fwd_B, fwd_T, fwd_train;
} vit_state;

/* ----------------------------------------------------------------- threads */

typedef struct vit_threads {
    int omp, blas;
} vit_threads;

static vit_threads vit_threads_enter(int n) {
    vit_threads saved = {omp_get_max_threads(), openblas_get_num_threads()};
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
    return saved;
}

static void vit_threads_leave(vit_threads saved) {
    omp_set_num_threads(saved.omp);
    openblas_set_num_threads(saved.blas);
}

/* ------------------------------------------------ row-parallel elementwise ops */

static int chunks_of(size_t n, size_t chunk) { return (int)((n + chunk - 1) / chunk); }

/* nn_layernorm_forward over fixed chunks of rows: each row is independent. */
static void vit_ln_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int rows, int C) {
    // out, in (rows, C); mean, rstd (rows)
    int nc = chunks_of((size_t)rows, VIT_ROWS_CHUNK);
#pragma omp parallel for schedule(static) if (nc > 1)
    for (int k = 0; k < nc; k++) {
        int r0 = k * VIT_ROWS_CHUNK, n = rows - r0 < VIT_ROWS_CHUNK ? rows - r0 : VIT_ROWS_CHUNK;
        size_t o = (size_t)r0 * C;
        nn_layernorm_forward(out + o, mean + r0, rstd + r0, in + o, w, b, n, C, VIT_LN_EPS);
    }
}

/* nn_layernorm_backward over the same chunks; dinput rows are disjoint, and
 * dweight/dbias are summed per chunk into part (chunks, 2, C), then added in
 * chunk order, so the result does not depend on the thread count. */
static void vit_ln_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int rows, int C,
                            float *part) {
    int nc = chunks_of((size_t)rows, VIT_ROWS_CHUNK);
    memset(part, 0, sizeof(float) * (size_t)nc * 2 * C);
#pragma omp parallel for schedule(static) if (nc > 1)
    for (int k = 0; k < nc; k++) {
        int r0 = k * VIT_ROWS_CHUNK, n = rows - r0 < VIT_ROWS_CHUNK ? rows - r0 : VIT_ROWS_CHUNK;
        size_t o = (size_t)r0 * C;
        float *pw = part + (size_t)k * 2 * C;
        nn_layernorm_backward(din + o, pw, pw + C, dout + o, in + o, w, mean + r0, rstd + r0, n, C);
    }
    for (int k = 0; k < nc; k++) {
        const float *pw = part + (size_t)k * 2 * C;
        for (int i = 0; i < C; i++) {
            dw[i] += pw[i];
            db[i] += pw[C + i];
        }
    }
}

/* Exact GELU over fixed chunks: forward (dout NULL) out = gelu(in), else
 * backward out += dout * gelu'(in), as nn_gelu_forward / _backward. */
static void vit_gelu(float *out, const float *dout, const float *in, size_t n) {
    int nc = chunks_of(n, VIT_GELU_CHUNK);
#pragma omp parallel for schedule(static) if (nc > 1)
    for (int k = 0; k < nc; k++) {
        size_t i0 = (size_t)k * VIT_GELU_CHUNK;
        size_t len = n - i0 < VIT_GELU_CHUNK ? n - i0 : VIT_GELU_CHUNK;
        if (dout) nn_gelu_backward(out + i0, dout + i0, in + i0, len, NN_GELU_APPROX_NONE);
        else nn_gelu_forward(out + i0, in + i0, len, NN_GELU_APPROX_NONE);
    }
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

/* [*lo, *hi): part t of n split into nt nearly equal parts. */
static void share(int n, int t, int nt, int *lo, int *hi) {
    *lo = (int)((int64_t)n * t / nt);
    *hi = (int)((int64_t)n * (t + 1) / nt);
}

/* torch.nn.Linear over R token rows (nn_linear_forward_fast's contract),
 * each thread one SGEMM on its rows. */
static void vit_linear_forward(float *out, const float *in, const float *w, const float *b, int R,
                               int F_in, int F_out) {
    // out (R, F_out), in (R, F_in), w (F_out, F_in), b (F_out)
#pragma omp parallel if (R > 1)
    {
        int r0, r1;
        share(R, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        if (r1 > r0)
            nn_linear_forward_fast(out + (size_t)r0 * F_out, in + (size_t)r0 * F_in, w, b, r1 - r0,
                                   F_in, F_out);
    }
}

/* nn_linear_backward_fast's contract (db may be NULL; dw and db
 * accumulate, din as din_mode): each thread takes its rows of din and its
 * output features of dw and db, so every element is one thread's sum in the
 * serial order. */
static void vit_linear_backward(float *din, nn_grad_mode din_mode, float *dw, float *db,
                                const float *dout, const float *in, const float *w, int R, int F_in,
                                int F_out) {
    // din (R, F_in), dw (F_out, F_in), db (F_out), dout (R, F_out)
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), r0, r1, o0, o1;
        share(R, t, nt, &r0, &r1);
        share(F_out, t, nt, &o0, &o1);
        if (din_mode == NN_GRAD_OVERWRITE) zero(din + (size_t)r0 * F_in, (size_t)(r1 - r0) * F_in);
        if (r1 > r0)
            nn_linear_backward_fast(din + (size_t)r0 * F_in, NULL, NULL, dout + (size_t)r0 * F_out,
                                    NULL, w, r1 - r0, F_in, F_out);
        if (o1 > o0) {
            // dw[o0:o1] (o1 - o0, F_in) += dout[:, o0:o1]^T (o1 - o0, R) @ in (R, F_in)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, F_in, R, 1.0f,
                        dout + o0, F_out, in, F_in, 1.0f, dw + (size_t)o0 * F_in, F_in);
            if (db)
                for (int r = 0; r < R; r++)
                    for (int o = o0; o < o1; o++) db[o] += dout[(size_t)r * F_out + o];
        }
    }
}

/* ---------------------------------------------------------------- entries */

static sermo_status add_norm(model *m, size_t *w, size_t *b, int32_t block, int E,
                             const char *name, sermo_error *err) {
    int64_t s[1] = {E};
    sermo_status st;
    if ((st = layer_add_entry(&m->params, w, block, 1, s, 0, err, "%s.weight", name)) ||
        (st = layer_add_entry(&m->params, b, block, 1, s, 0, err, "%s.bias", name)))
        return st;
    return SERMO_OK;
}

static sermo_status add_linear(model *m, size_t *w, size_t *b, int32_t block, int in, int out,
                               const char *name, sermo_error *err) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    sermo_status st;
    if ((st = layer_add_entry(&m->params, w, block, 2, ws, 1, err, "%s.weight", name)) ||
        (st = layer_add_entry(&m->params, b, block, 1, bs, 0, err, "%s.bias", name)))
        return st;
    return SERMO_OK;
}

/* In timm's state_dict order. Freezing blocks: 0 the stem (cls_token,
 * pos_embed, patch_embed), blocks.i -> i + 1, norm -> depth + 1, head -1. */
static sermo_status vit_add_entries(model *m, vit_state *st, sermo_error *err) {
    int E = st->E;
    int64_t cls_shape[3] = {1, 1, E}, pos_shape[3] = {1, st->N, E};
    sermo_status s;
    if ((s = layer_add_entry(&m->params, &st->cls, 0, 3, cls_shape, 0, err, "cls_token")) ||
        (s = layer_add_entry(&m->params, &st->pos, 0, 3, pos_shape, 0, err, "pos_embed")) ||
        (s = layer_conv_add(m, &st->patch, 0, "patch_embed.proj", NULL, err)))
        return s;
    char name[NN_PARAM_NAME_MAX];
#define BLOCK_NAME(part) (snprintf(name, sizeof name, "blocks.%d." part, i), name)
    for (int i = 0; i < st->depth; i++) {
        vit_block *bk = &st->blocks[i];
        int32_t blk = i + 1;
        if ((s = add_norm(m, &bk->n1_w, &bk->n1_b, blk, E, BLOCK_NAME("norm1"), err)) ||
            (s = add_linear(m, &bk->qkv_w, &bk->qkv_b, blk, E, 3 * E, BLOCK_NAME("attn.qkv"),
                            err)) ||
            (s = add_linear(m, &bk->proj_w, &bk->proj_b, blk, E, E, BLOCK_NAME("attn.proj"),
                            err)) ||
            (s = add_norm(m, &bk->n2_w, &bk->n2_b, blk, E, BLOCK_NAME("norm2"), err)) ||
            (s = add_linear(m, &bk->fc1_w, &bk->fc1_b, blk, E, VIT_MLP_RATIO * E,
                            BLOCK_NAME("mlp.fc1"), err)) ||
            (s = add_linear(m, &bk->fc2_w, &bk->fc2_b, blk, VIT_MLP_RATIO * E, E,
                            BLOCK_NAME("mlp.fc2"), err)))
            return s;
    }
#undef BLOCK_NAME
    if ((s = add_norm(m, &st->norm_w, &st->norm_b, st->depth + 1, E, "norm", err))) return s;
    return layer_head_add(m, &st->head, m->cfg.head, E, "head", "head", err);
}

/* timm's VisionTransformer.init_weights(mode=''), in table order:
 *  - pos_embed trunc_normal_(std=.02) (cut at +-2, i.e. 100 std: a plain normal);
 *  - cls_token: timm draws normal_(std=1e-6) (recent versions; older ones .02).
 *    We use .02: a near-zero class token starts every sample's query row
 *    identical, and nothing is lost since it is learned from step 1;
 *  - patch_embed.proj: init_weights_vit_timm touches Linear layers only, so
 *    the conv keeps torch's Conv2d default U(+-1/sqrt(fan_in)), a lecun-like
 *    variance 1/(3 fan_in) (timm's 'jax' mode uses lecun_normal_ instead);
 *  - every Linear, the head included: trunc_normal_(std=.02), bias 0;
 *  - LayerNorm weight 1, bias 0. The MLP head keeps layer_head's torch defaults. */
static void vit_init_values(model *m, const vit_state *st) {
    float *P = m->params.data;
    size_t E = (size_t)st->E, E4 = VIT_MLP_RATIO * E;
    model_init_normal(m, P + st->cls, E, VIT_INIT_STD);
    model_init_normal(m, P + st->pos, (size_t)st->N * E, VIT_INIT_STD);
    layer_conv_init(m, &st->patch, LAYER_INIT_TORCH);
    for (int i = 0; i < st->depth; i++) {
        const vit_block *bk = &st->blocks[i];
        const struct { size_t w, b, n; } lin[4] = {{bk->qkv_w, bk->qkv_b, 3 * E},
                                                   {bk->proj_w, bk->proj_b, E},
                                                   {bk->fc1_w, bk->fc1_b, E4},
                                                   {bk->fc2_w, bk->fc2_b, E}};
        model_init_fill(P + bk->n1_w, E, 1.0f);
        model_init_fill(P + bk->n1_b, E, 0.0f);
        for (int k = 0; k < 4; k++) {
            if (k == 2) {
                model_init_fill(P + bk->n2_w, E, 1.0f);
                model_init_fill(P + bk->n2_b, E, 0.0f);
            }
            size_t fan_in = k == 3 ? E4 : E;
            model_init_normal(m, P + lin[k].w, lin[k].n * fan_in, VIT_INIT_STD);
            model_init_fill(P + lin[k].b, lin[k].n, 0.0f);
        }
    }
    model_init_fill(P + st->norm_w, E, 1.0f);
    model_init_fill(P + st->norm_b, E, 0.0f);
    layer_head_init(m, &st->head);
    if (st->head.kind == MODEL_HEAD_LINEAR) {
        model_init_normal(m, P + st->head.w[0], (size_t)st->head.L * E, VIT_INIT_STD);
        model_init_fill(P + st->head.b[0], (size_t)st->head.L, 0.0f);
    }
}

/* ------------------------------------------------------------------ layout */

/* Carves (or, with a->base NULL, counts) every buffer for batch B. Needs the
 * threads set to st->threads (nn_attention_scratch_size reads them). */
static void vit_layout(vit_state *st, const model_config *cfg, layer_arena *a, int B) {
    size_t R = (size_t)B * st->N, E = (size_t)st->E, RE = R * E, R4 = R * VIT_MLP_RATIO * E;
    layer_input_layout(&st->input, a, B, cfg->n_bins, cfg->max_frames);
    layer_conv_layout(&st->patch, a);
    st->tokens = layer_take(a, RE);
    for (int i = 0; i < st->depth; i++) {
        vit_block *bk = &st->blocks[i];
        bk->in = i ? st->blocks[i - 1].out : st->tokens;
        bk->ln1 = layer_take(a, RE);
        bk->mean1 = layer_take(a, R);
        bk->rstd1 = layer_take(a, R);
        bk->qkv = layer_take(a, 3 * RE);
        bk->att = layer_take(a, (size_t)B * st->NH * st->N * st->N);
        bk->ao = layer_take(a, RE);
        bk->mask1 = layer_take(a, (size_t)B);
        bk->mid = layer_take(a, RE);
        bk->ln2 = layer_take(a, RE);
        bk->mean2 = layer_take(a, R);
        bk->rstd2 = layer_take(a, R);
        bk->h = layer_take(a, R4);
        bk->g = layer_take(a, R4);
        bk->mask2 = layer_take(a, (size_t)B);
        bk->out = layer_take(a, RE);
    }
    st->branch = layer_take(a, RE);
    st->cls_in = layer_take(a, (size_t)B * E);
    st->feat = layer_take(a, (size_t)B * E);
    st->fmean = layer_take(a, (size_t)B);
    st->frstd = layer_take(a, (size_t)B);
    st->dfeat = layer_take(a, (size_t)B * E);
    st->dcls = layer_take(a, (size_t)B * E);
    st->dx = layer_take(a, RE);
    st->dc[0] = layer_take(a, RE);
    st->dc[1] = layer_take(a, RE);
    st->d4[0] = layer_take(a, R4);
    st->d4[1] = layer_take(a, R4);
    st->att_scratch = layer_take(a, nn_attention_scratch_size(B, st->N, st->E, st->NH));
    st->ln_part = layer_take(a, (size_t)chunks_of(R, VIT_ROWS_CHUNK) * 2 * E);
    st->workspace = layer_take(a, nn_conv2d_workspace_size(&st->patch.conv, st->threads));
    layer_head_layout(&st->head, a, B);
}

/* ------------------------------------------------------------------ config */

/* Resolves the family options (0 / "" / MODEL_HEAD_DEFAULT: the family's
 * default) into m->cfg and checks them. */
static sermo_status vit_resolve(model *m, const vit_size **size, sermo_error *err) {
    model_config *c = &m->cfg;
    const char *name = m->spec->name;
    if (!memchr(c->size, '\0', sizeof c->size))
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: model.size is not a terminated string",
                          name);
    if (!c->size[0]) strcpy(c->size, "tiny");
    *size = NULL;
    for (int i = 0; i < VIT_N_SIZES; i++)
        if (strcmp(c->size, vit_sizes[i].name) == 0) *size = &vit_sizes[i];
    if (!*size)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: unknown model.size '%s' (known: tiny, small, base)", name,
                          c->size);
    if (c->image_size == 0) c->image_size = VIT_IMAGE_DEFAULT;
    /* pos_embed holds one position per patch of a fixed square grid, so a
     * free F x T input (image_size -1) would change its shape batch by batch. */
    if (c->image_size < VIT_PATCH || c->image_size > VIT_MAX_IMAGE)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: model.image_size is %d, expected %d to %d (the input is "
                          "resized to a square of that size; keeping F x T is not supported)",
                          name, c->image_size, VIT_PATCH, VIT_MAX_IMAGE);
    if (c->channels == 0) c->channels = VIT_CHANNELS_DEFAULT;
    if ((c->channels != 1 && c->channels != 3) || c->channels < c->in_channels)
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: model.channels is %d, expected 1 or 3 and at least the "
                          "input's %d",
                          name, c->channels, c->in_channels);
    if (c->drop_path == 0.0f) c->drop_path = VIT_DROP_PATH_DEFAULT;
    if (!(c->drop_path < 1.0f)) /* also rejects NaN; < 0 disables */
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "model %s: model.drop_path is %g, expected < 1 (< 0 disables)", name,
                          (double)c->drop_path);
    if (c->head == MODEL_HEAD_DEFAULT) c->head = MODEL_HEAD_LINEAR;
    if (c->head != MODEL_HEAD_LINEAR && c->head != MODEL_HEAD_MLP)
        return sermo_fail(err, SERMO_ERR_INVALID, "model %s: unknown model.head %d", name, c->head);
    return SERMO_OK;
}

static void vit_destroy(model *m) {
    vit_state *st = m->state;
    if (!st) return;
    layer_arena_free(&st->arena);
    free(st);
    m->state = NULL;
}

static sermo_status vit_create(model *m, sermo_error *err) {
    model_config *cfg = &m->cfg;
    const char *name = m->spec->name;
    const vit_size *size = NULL;
    sermo_status s = vit_resolve(m, &size, err);
    if (s) return s;
    vit_state *st = calloc(1, sizeof *st);
    if (!st) return sermo_fail(err, SERMO_ERR_NOMEM, "model %s: cannot allocate", name);
    m->state = st;
    _Static_assert(VIT_MAX_DEPTH >= 12, "the sizes' depth");
    st->E = size->embed;
    st->depth = size->depth;
    st->NH = size->heads;
    st->threads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    st->input = (layer_input){.C_in = cfg->in_channels, .C = cfg->channels,
                              .size = cfg->image_size};
    st->patch = (layer_conv){.C_in = cfg->channels, .C_out = st->E, .K = VIT_PATCH,
                             .stride = VIT_PATCH, .pad = 0, .groups = 1, .bias = 1};
    /* timm's PatchEmbed: grid = image_size // 16, as Conv2d floors. */
    int grid = cfg->image_size / VIT_PATCH;
    st->P = grid * grid;
    st->N = st->P + 1;
    float rate = cfg->drop_path > 0.0f ? cfg->drop_path : 0.0f;
    for (int i = 0; i < st->depth; i++)
        st->blocks[i].dpr = st->depth > 1 ? rate * (float)i / (float)(st->depth - 1) : 0.0f;
    if ((s = vit_add_entries(m, st, err))) return s;
    if (st->head.kind == MODEL_HEAD_MLP) {
        cfg->head_hidden[0] = st->head.hidden[0];
        cfg->head_hidden[1] = st->head.hidden[1];
    }
    if ((s = nn_params_finalise(&m->params, err)) || (s = nn_params_finalise(&m->buffers, err)))
        return s;
    vit_init_values(m, st);
    if ((s = layer_conv_plan(&st->patch, cfg->max_batch, cfg->image_size, cfg->image_size, err)))
        return s;
    vit_threads saved = vit_threads_enter(st->threads);
    vit_layout(st, cfg, &st->arena, cfg->max_batch);
    s = layer_arena_alloc(&st->arena, name, err);
    if (!s) vit_layout(st, cfg, &st->arena, cfg->max_batch);
    vit_threads_leave(saved);
    return s;
}

/* ----------------------------------------------------------------- forward */

/* out = x + drop_path(branch), branch scaled in place (its value is not
 * needed again: the Linear that made it needs only its own input). */
static void residual_forward(model *m, float *out, float *mask, const float *x, float *branch,
                             int B, size_t D, float p, int train) {
    // out, x, branch (B, D); mask (B)
    nn_drop_path_forward(branch, mask, branch, B, D, p, train, &m->rng);
    size_t n = (size_t)B * D;
    for (size_t i = 0; i < n; i++) out[i] = x[i] + branch[i];
}

static void block_forward(model *m, vit_state *st, vit_block *bk, int B, int train) {
    const float *P = m->params.data;
    int R = B * st->N, E = st->E, E4 = VIT_MLP_RATIO * E;
    size_t D = (size_t)st->N * E;
    vit_ln_forward(bk->ln1, bk->mean1, bk->rstd1, bk->in, P + bk->n1_w, P + bk->n1_b, R, E);
    vit_linear_forward(bk->qkv, bk->ln1, P + bk->qkv_w, P + bk->qkv_b, R, E, 3 * E);
    nn_attention_forward(bk->ao, bk->att, bk->qkv, B, st->N, E, st->NH);
    vit_linear_forward(st->branch, bk->ao, P + bk->proj_w, P + bk->proj_b, R, E, E);
    residual_forward(m, bk->mid, bk->mask1, bk->in, st->branch, B, D, bk->dpr, train);
    vit_ln_forward(bk->ln2, bk->mean2, bk->rstd2, bk->mid, P + bk->n2_w, P + bk->n2_b, R, E);
    vit_linear_forward(bk->h, bk->ln2, P + bk->fc1_w, P + bk->fc1_b, R, E, E4);
    vit_gelu(bk->g, NULL, bk->h, (size_t)R * E4);
    vit_linear_forward(st->branch, bk->g, P + bk->fc2_w, P + bk->fc2_b, R, E4, E);
    residual_forward(m, bk->out, bk->mask2, bk->mid, st->branch, B, D, bk->dpr, train);
}

static int vit_forward(model *m, const float *x, int B, int T, int train) {
    vit_state *st = m->state;
    const model_config *cfg = &m->cfg;
    st->fwd_train = 0;
    if (layer_conv_plan(&st->patch, B, cfg->image_size, cfg->image_size, NULL)) return -1;
    vit_threads saved = vit_threads_enter(st->threads);
    const float *P = m->params.data;
    int E = st->E, N = st->N;
    layer_input_forward(&st->input, x, B, cfg->n_bins, T);
    layer_conv_forward(m, &st->patch, st->input.x, train, st->workspace, st->threads);
    /* tokens[b, 0] = cls + pos[0]; tokens[b, 1 + p, e] = patch[b, e, p] + pos[1 + p, e]:
     * timm's proj(x).flatten(2).transpose(1, 2), then cat((cls, x), 1) + pos_embed. */
    const float *cls = P + st->cls, *pos = P + st->pos;
    for (int b = 0; b < B; b++) {
        float *tk = st->tokens + (size_t)b * N * E;
        const float *pe = st->patch.out + (size_t)b * E * st->P; // (E, P)
        for (int e = 0; e < E; e++) tk[e] = cls[e] + pos[e];
        for (int p = 0; p < st->P; p++)
            for (int e = 0; e < E; e++)
                tk[(size_t)(1 + p) * E + e] =
                    pe[(size_t)e * st->P + p] + pos[(size_t)(1 + p) * E + e];
    }
    for (int i = 0; i < st->depth; i++) block_forward(m, st, &st->blocks[i], B, train);
    const float *last = st->blocks[st->depth - 1].out;
    for (int b = 0; b < B; b++)
        memcpy(st->cls_in + (size_t)b * E, last + (size_t)b * N * E, sizeof(float) * E);
    vit_ln_forward(st->feat, st->fmean, st->frstd, st->cls_in, P + st->norm_w, P + st->norm_b, B,
                   E);
    layer_head_forward(m, &st->head, st->feat, B, train);
    vit_threads_leave(saved);
    st->fwd_B = B;
    st->fwd_T = T;
    st->fwd_train = train != 0;
    return 0;
}

/* ---------------------------------------------------------------- backward */

/* The qkv Linear's bias gradient, the q and v thirds only (the same sums,
 * in the same order, as nn_linear_backward_fast's dbias). The key bias b_k
 * adds q_t . b_k to every score of query t's row, which softmax cancels, so
 * its true gradient is exactly 0; summed in float32 it would be rounding
 * noise (~1e-8), which AdamW, normalising each element's step by its own
 * gradient scale, turns into lr-sized random steps. Its value never changes
 * the output either way. */
static void qkv_bias_backward(float *dbias, const float *dqkv, int R, int E) {
    // dbias (3E), dqkv (R, 3E)
    for (int r = 0; r < R; r++) {
        const float *d = dqkv + (size_t)r * 3 * E;
        for (int i = 0; i < E; i++) {
            dbias[i] += d[i];
            dbias[2 * E + i] += d[2 * E + i];
        }
    }
}

/* On entry st->dx holds d(block out); on return d(block in). */
static void block_backward(model *m, vit_state *st, const vit_block *bk, int B) {
    const float *P = m->params.data;
    float *G = m->params.grad;
    int R = B * st->N, E = st->E, E4 = VIT_MLP_RATIO * E;
    size_t RE = (size_t)R * E, R4 = (size_t)R * E4, D = (size_t)st->N * E;
    float *dx = st->dx, *c0 = st->dc[0], *c1 = st->dc[1], *q0 = st->d4[0], *q1 = st->d4[1];
    /* MLP branch: out = mid + drop_path(fc2(gelu(fc1(norm2(mid))))). */
    zero(c0, RE);
    nn_drop_path_backward(c0, dx, bk->mask2, B, D);
    vit_linear_backward(q0, NN_GRAD_OVERWRITE, G + bk->fc2_w, G + bk->fc2_b, c0, bk->g,
                        P + bk->fc2_w, R, E4, E);
    zero(q1, R4);
    vit_gelu(q1, q0, bk->h, R4);
    vit_linear_backward(c1, NN_GRAD_OVERWRITE, G + bk->fc1_w, G + bk->fc1_b, q1, bk->ln2,
                        P + bk->fc1_w, R, E, E4);
    /* dx already holds the residual's share; norm2 adds the branch's: d(mid). */
    vit_ln_backward(dx, G + bk->n2_w, G + bk->n2_b, c1, bk->mid, P + bk->n2_w, bk->mean2,
                    bk->rstd2, R, E, st->ln_part);
    /* Attention branch: mid = in + drop_path(proj(attention(qkv(norm1(in))))). */
    zero(c0, RE);
    nn_drop_path_backward(c0, dx, bk->mask1, B, D);
    vit_linear_backward(c1, NN_GRAD_OVERWRITE, G + bk->proj_w, G + bk->proj_b, c0, bk->ao,
                        P + bk->proj_w, R, E, E);
    zero(q0, 3 * RE);
    nn_attention_backward(q0, c1, bk->att, bk->qkv, st->att_scratch, B, st->N, E, st->NH);
    vit_linear_backward(c0, NN_GRAD_OVERWRITE, G + bk->qkv_w, NULL, q0, bk->ln1, P + bk->qkv_w,
                        R, E, 3 * E);
    qkv_bias_backward(G + bk->qkv_b, q0, R, E);
    vit_ln_backward(dx, G + bk->n1_w, G + bk->n1_b, c0, bk->in, P + bk->n1_w, bk->mean1,
                    bk->rstd1, R, E, st->ln_part);
}

static void vit_backward(model *m, const float *dlogits, int B, int T) {
    vit_state *st = m->state;
    if (!st->fwd_train || B != st->fwd_B || T != st->fwd_T) return;
    vit_threads saved = vit_threads_enter(st->threads);
    const float *P = m->params.data;
    float *G = m->params.grad;
    int E = st->E, N = st->N;
    layer_head_backward(m, &st->head, st->dfeat, dlogits, st->feat, B);
    zero(st->dcls, (size_t)B * E);
    vit_ln_backward(st->dcls, G + st->norm_w, G + st->norm_b, st->dfeat, st->cls_in,
                    P + st->norm_w, st->fmean, st->frstd, B, E, st->ln_part);
    /* Only the class tokens reach the head. */
    zero(st->dx, (size_t)B * N * E);
    for (int b = 0; b < B; b++)
        memcpy(st->dx + (size_t)b * N * E, st->dcls + (size_t)b * E, sizeof(float) * E);
    for (int i = st->depth - 1; i >= 0; i--) block_backward(m, st, &st->blocks[i], B);
    /* Tokens: dcls and dpos sum over the batch; the patch rows go back to (B, E, P). */
    float *dcls = G + st->cls, *dpos = G + st->pos, *dpatch = st->dc[0];
    for (int b = 0; b < B; b++) {
        const float *dt = st->dx + (size_t)b * N * E;
        float *dp = dpatch + (size_t)b * E * st->P;
        for (int e = 0; e < E; e++) dcls[e] += dt[e];
        for (size_t i = 0; i < (size_t)N * E; i++) dpos[i] += dt[i];
        for (int p = 0; p < st->P; p++)
            for (int e = 0; e < E; e++) dp[(size_t)e * st->P + p] = dt[(size_t)(1 + p) * E + e];
    }
    layer_conv_backward(m, &st->patch, NULL, NN_GRAD_OVERWRITE, dpatch, st->input.x, st->dc[1],
                        st->d4[0], st->workspace, st->threads);
    vit_threads_leave(saved);
}

/* Transformers train with a lower learning rate than the CNNs (3e-4, not
 * 1e-3): without convolutional priors the attention logits grow fast under
 * Adam at high rates and training diverges or collapses to one class
 * (DeiT trains at 5e-4 per 512 samples with warmup). Batch 16 keeps tiny's
 * activations near 0.6 GiB at 224 x 224 (small's 1.2 GiB), and 128 mel bins
 * give the resize to 224 rows more to work with than 64. */
const model_spec model_spec_vit = {
    .name = "vit",
    .description = "Vision Transformer (timm vit_{tiny,small,base}_patch16_224 layout) over the "
                   "spectrogram resized to image_size, patch 16, class-token pooling",
    .defaults = {.batch_size = 16, .epochs = 30, .patience = 10, .n_mels = 128,
                 .hop_length = 160, .lr = 3e-4f},
    .create = vit_create,
    .forward = vit_forward,
    .backward = vit_backward,
    .destroy = vit_destroy,
};
