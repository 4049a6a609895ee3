/* split.c: train/val/test splits and split.csv.
 *
 * Kinds:
 *   random  - stratified: each class's items are shuffled (one sermo_rng
 *             seeded with `seed`, classes in label order) and the first
 *             round(test_fraction * n_class) go to test, the next
 *             round(val_fraction * n_class) to val, the rest to train.
 *   speaker - the speakers named in test_speakers / val_speakers are held
 *             out; everyone else trains. A name is a bare id matched against
 *             the id after the corpus prefix ("07" or "7" matches
 *             "ravdess:07", and every corpus's 07), a qualified id
 *             ("ravdess:07"), a numeric range of bare ids ("21-22",
 *             optionally qualified: "ravdess:21-24"), or a comma list of
 *             these. A name that matches no speaker is an error. With
 *             val_speakers only, nothing is tested: a final model trained
 *             on everyone else, its epoch chosen on the validation voices;
 *             with neither, everyone trains.
 *   kfold   - the unique speakers, sorted by strcmp, are shuffled with
 *             `seed` and dealt round-robin into `folds` folds; fold `fold`
 *             is test, fold (fold + 1) % folds is val (none when folds == 2
 *             or val_folds is 0) and the rest train. Every speaker is in
 *             exactly one test fold across fold = 0 .. folds-1.
 *
 * Byte-identical files never straddle parts: items are grouped by content
 * (file size, then SHA-256 of same-size files only) and each group goes to
 * the most held-out part any member got (test over val over train), so
 * nothing seen in training is ever evaluated. RAVDESS has one such pair,
 * Actor_07/03-01-03-01-02-01-07 and 03-01-03-01-02-02-07: identical as the
 * original WAVs and also as the shared FLAC copies (same 77256 bytes).
 * Files that cannot be stat'ed are treated as unique. */
#include "corpus_internal.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const part_names[3] = {"train", "val", "test"};

void sermo_split_default_params(sermo_split_params *params) {
    params->kind = SERMO_SPLIT_RANDOM;
    params->val_fraction = 0.15f;
    params->test_fraction = 0.15f;
    params->seed = 42;
    params->val_speakers = NULL;
    params->test_speakers = NULL;
    params->folds = 6;
    params->fold = 0;
    params->val_folds = 1;
}

/* ------------------------------------------------------ duplicate content */

typedef struct content_key {
    int64_t size;
    int64_t index;
    unsigned char digest[32];
} content_key;

static int cmp_size(const void *a, const void *b) {
    const content_key *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_digest(const void *a, const void *b) {
    const content_key *x = a, *y = b;
    int d = memcmp(x->digest, y->digest, sizeof x->digest);
    if (d) return d;
    return x->index < y->index ? -1 : x->index > y->index;
}

static sermo_status sha256_file(const char *path, unsigned char digest[32], sermo_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[1 << 16];
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t got;
    while (ok && (got = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, got);
    int bad = ferror(f);
    unsigned int len = 0;
    if (ok) ok = EVP_DigestFinal_ex(ctx, digest, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (bad) return sermo_fail(err, SERMO_ERR_IO, "%s: read error", path);
    if (!ok) return sermo_fail(err, SERMO_ERR_UNSUPPORTED, "%s: SHA-256 failed (libcrypto)", path);
    return SERMO_OK;
}

/* group[i] = the smallest index of the items byte-identical to item i. */
static sermo_status content_groups(const sermo_corpus *c, int64_t *group, sermo_error *err) {
    int64_t n = sermo_corpus_size(c);
    content_key *k = malloc(sizeof *k * (size_t)(n ? n : 1));
    if (!k) return sermo_fail(err, SERMO_ERR_NOMEM, "split: out of memory");
    for (int64_t i = 0; i < n; i++) {
        struct stat sb;
        group[i] = i;
        k[i].index = i;
        k[i].size = stat(c->items[i].path, &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
    }
    qsort(k, (size_t)n, sizeof *k, cmp_size);
    sermo_status st = SERMO_OK;
    for (int64_t a = 0; a < n && st == SERMO_OK;) {
        int64_t b = a + 1;
        while (b < n && k[b].size == k[a].size) b++;
        if (b - a >= 2 && k[a].size >= 0) {
            for (int64_t i = a; i < b && st == SERMO_OK; i++)
                st = sha256_file(c->items[k[i].index].path, k[i].digest, err);
            if (st != SERMO_OK) break;
            qsort(k + a, (size_t)(b - a), sizeof *k, cmp_digest);
            for (int64_t i = a + 1; i < b; i++) /* sorted by index within equal digests */
                if (memcmp(k[i].digest, k[i - 1].digest, 32) == 0)
                    group[k[i].index] = group[k[i - 1].index];
        }
        a = b;
    }
    free(k);
    return st;
}

/* Every group takes the most held-out part of its members. */
static void unify_groups(const int64_t *group, int64_t n, int8_t *part) {
    for (int64_t i = 0; i < n; i++)
        if (part[i] > part[group[i]]) part[group[i]] = part[i];
    for (int64_t i = 0; i < n; i++) part[i] = part[group[i]];
}

/* ----------------------------------------------------------------- random */

static sermo_status split_random(const sermo_corpus *c, const sermo_split_params *p,
                                 const int64_t *group, int8_t *part, sermo_error *err) {
    if (!(p->val_fraction >= 0 && p->test_fraction >= 0 && p->val_fraction + p->test_fraction < 1))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "split: val_fraction %g and test_fraction %g must be >= 0 with a sum below 1",
                          (double)p->val_fraction, (double)p->test_fraction);
    int64_t n = c->n_items;
    int64_t *size = calloc((size_t)n, sizeof *size);
    int64_t *reps = malloc(sizeof *reps * (size_t)n);
    if (!size || !reps) {
        free(size);
        free(reps);
        return sermo_fail(err, SERMO_ERR_NOMEM, "split: out of memory");
    }
    for (int64_t i = 0; i < n; i++) size[group[i]]++;
    sermo_rng rng;
    sermo_rng_seed(&rng, p->seed);
    /* Class -1 (unlabelled, should not occur) is handled as one more class. */
    for (int32_t k = -1; k < c->n_classes; k++) {
        int64_t m = 0, total = 0;
        for (int64_t i = 0; i < n; i++)
            if (group[i] == i && c->items[i].label == k) {
                reps[m++] = i;
                total += size[i];
            }
        if (m == 0) continue;
        sermo_rng_shuffle(&rng, reps, m);
        int64_t want_test = llround((double)p->test_fraction * (double)total);
        int64_t want_val = llround((double)p->val_fraction * (double)total);
        int64_t got_test = 0, got_val = 0;
        for (int64_t j = 0; j < m; j++) {
            int64_t r = reps[j];
            if (got_test < want_test) {
                part[r] = SERMO_PART_TEST;
                got_test += size[r];
            } else if (got_val < want_val) {
                part[r] = SERMO_PART_VAL;
                got_val += size[r];
            } else {
                part[r] = SERMO_PART_TRAIN;
            }
        }
    }
    for (int64_t i = 0; i < n; i++) part[i] = part[group[i]];
    free(size);
    free(reps);
    return SERMO_OK;
}

/* --------------------------------------------------------------- speakers */

/* Sorted unique speakers and each item's index among them. */
static sermo_status speaker_table(const sermo_corpus *c, const char ***out, int64_t *n_out,
                                  int64_t *of_item, sermo_error *err) {
    int64_t n = c->n_items, u = 0;
    const char **s = malloc(sizeof *s * (size_t)(n ? n : 1));
    if (!s) return sermo_fail(err, SERMO_ERR_NOMEM, "split: out of memory");
    for (int64_t i = 0; i < n; i++) s[i] = c->items[i].speaker;
    qsort(s, (size_t)n, sizeof *s, sermo_corpus_cmp_str);
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || strcmp(s[i], s[u - 1]) != 0) s[u++] = s[i];
    for (int64_t i = 0; i < n; i++) {
        const char *key = c->items[i].speaker;
        const char **hit = bsearch(&key, s, (size_t)u, sizeof *s, sermo_corpus_cmp_str);
        of_item[i] = hit - s;
    }
    *out = s;
    *n_out = u;
    return SERMO_OK;
}

/* Does the bare id (after the prefix) of `speaker` match token id `id`? */
static int id_matches(const char *sid, const char *id) {
    if (strcmp(sid, id) == 0) return 1;
    size_t a = strlen(sid), b = strlen(id);
    return sermo_corpus_is_digits(sid, a) && sermo_corpus_is_digits(id, b) && a < 10 && b < 10 &&
           atol(sid) == atol(id);
}

static int prefix_matches(const char *speaker, const char *prefix, size_t plen, const char **sid) {
    const char *colon = strchr(speaker, ':');
    *sid = colon ? colon + 1 : speaker;
    if (!prefix) return 1;
    return colon && (size_t)(colon - speaker) == plen && strncmp(speaker, prefix, plen) == 0;
}

/* Mark sel[s] = part for each speaker the token names. */
static sermo_status select_token(const char *tok, const char *what, const char **spk, int64_t ns,
                                 int8_t *sel, int8_t part, sermo_error *err) {
    const char *colon = strchr(tok, ':');
    const char *prefix = colon ? tok : NULL;
    size_t plen = colon ? (size_t)(colon - tok) : 0;
    const char *id = colon ? colon + 1 : tok;
    const char *dash = strchr(id, '-');
    long lo = 0, hi = -1;
    int range = dash && sermo_corpus_is_digits(id, (size_t)(dash - id)) && dash - id < 10 &&
                sermo_corpus_is_digits(dash + 1, strlen(dash + 1)) && strlen(dash + 1) < 10;
    if (range) {
        lo = atol(id);
        hi = atol(dash + 1);
        if (lo > hi || hi - lo > 100000)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: bad speaker range '%s'", what, tok);
    }
    for (long v = lo; v <= (range ? hi : lo); v++) {
        char num[24];
        snprintf(num, sizeof num, "%ld", v);
        int64_t matches = 0;
        for (int64_t s = 0; s < ns; s++) {
            const char *sid;
            if (!prefix_matches(spk[s], prefix, plen, &sid) || !id_matches(sid, range ? num : id))
                continue;
            if (sel[s] >= 0 && sel[s] != part)
                return sermo_fail(err, SERMO_ERR_INVALID,
                                  "%s: speaker %s is named for both val and test", what, spk[s]);
            sel[s] = part;
            matches++;
        }
        if (matches == 0) {
            if (range)
                return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown speaker %ld in '%s'", what, v, tok);
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown speaker '%s'", what, tok);
        }
    }
    return SERMO_OK;
}

static sermo_status select_speakers(const char *spec, const char *what, const char **spk, int64_t ns,
                                    int8_t *sel, int8_t part, sermo_error *err) {
    char *copy = strdup(spec);
    if (!copy) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", what);
    sermo_status st = SERMO_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && st == SERMO_OK; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) tok[--len] = '\0';
        if (len) st = select_token(tok, what, spk, ns, sel, part, err);
    }
    free(copy);
    return st;
}

static sermo_status split_speakers(const sermo_corpus *c, const sermo_split_params *p,
                                   const char **spk, int64_t ns, const int64_t *of_item, int8_t *part,
                                   sermo_error *err) {
    int8_t *sel = malloc((size_t)(ns ? ns : 1));
    if (!sel) return sermo_fail(err, SERMO_ERR_NOMEM, "split: out of memory");
    memset(sel, -1, (size_t)(ns ? ns : 1));
    sermo_status st = SERMO_OK;
    if (p->kind == SERMO_SPLIT_SPEAKER) {
        int has_test = p->test_speakers && p->test_speakers[0], has_val = p->val_speakers && p->val_speakers[0];
        if (has_test)
            st = select_speakers(p->test_speakers, "test_speakers", spk, ns, sel, SERMO_PART_TEST, err);
        if (st == SERMO_OK && has_val)
            st = select_speakers(p->val_speakers, "val_speakers", spk, ns, sel, SERMO_PART_VAL, err);
    } else {
        if (p->folds < 2 || p->fold < 0 || p->fold >= p->folds)
            st = sermo_fail(err, SERMO_ERR_INVALID, "split: need folds >= 2 and 0 <= fold < folds (got %d, %d)",
                            (int)p->folds, (int)p->fold);
        else if (ns < p->folds)
            st = sermo_fail(err, SERMO_ERR_INVALID, "split: %lld speakers cannot fill %d folds",
                            (long long)ns, (int)p->folds);
        int64_t *order = st == SERMO_OK ? malloc(sizeof *order * (size_t)ns) : NULL;
        if (st == SERMO_OK && !order) st = sermo_fail(err, SERMO_ERR_NOMEM, "split: out of memory");
        if (st == SERMO_OK) {
            for (int64_t s = 0; s < ns; s++) order[s] = s;
            sermo_rng rng;
            sermo_rng_seed(&rng, p->seed);
            sermo_rng_shuffle(&rng, order, ns);
            int32_t val_fold = p->folds >= 3 && p->val_folds > 0 ? (p->fold + 1) % p->folds : -1;
            for (int64_t j = 0; j < ns; j++) {
                int32_t f = (int32_t)(j % p->folds);
                sel[order[j]] = f == p->fold ? SERMO_PART_TEST : f == val_fold ? SERMO_PART_VAL : -1;
            }
        }
        free(order);
    }
    for (int64_t i = 0; st == SERMO_OK && i < c->n_items; i++)
        part[i] = sel[of_item[i]] >= 0 ? sel[of_item[i]] : SERMO_PART_TRAIN;
    free(sel);
    return st;
}

sermo_status sermo_split_make(const sermo_corpus *c, const sermo_split_params *params, int8_t *part,
                              sermo_error *err) {
    if (!c || !params || !part) return sermo_fail(err, SERMO_ERR_INVALID, "split: no corpus, params or output");
    int64_t n = c->n_items;
    if (n == 0) return sermo_fail(err, SERMO_ERR_EMPTY, "split: the corpus has no items");
    if (params->kind != SERMO_SPLIT_RANDOM && params->kind != SERMO_SPLIT_SPEAKER &&
        params->kind != SERMO_SPLIT_KFOLD)
        return sermo_fail(err, SERMO_ERR_INVALID, "split: unknown kind %d", (int)params->kind);
    int64_t *group = malloc(sizeof *group * (size_t)n);
    int64_t *of_item = malloc(sizeof *of_item * (size_t)n);
    int8_t *tmp = malloc((size_t)n);
    const char **spk = NULL;
    int64_t ns = 0;
    sermo_status st = SERMO_OK;
    if (!group || !of_item || !tmp) st = sermo_fail(err, SERMO_ERR_NOMEM, "split: out of memory");
    if (st == SERMO_OK) st = content_groups(c, group, err);
    if (st == SERMO_OK && params->kind == SERMO_SPLIT_RANDOM) {
        st = split_random(c, params, group, tmp, err);
    } else if (st == SERMO_OK) {
        st = speaker_table(c, &spk, &ns, of_item, err);
        if (st == SERMO_OK) st = split_speakers(c, params, spk, ns, of_item, tmp, err);
        if (st == SERMO_OK) unify_groups(group, n, tmp);
    }
    if (st == SERMO_OK) memcpy(part, tmp, (size_t)n);
    free(spk);
    free(group);
    free(of_item);
    free(tmp);
    return st;
}

/* -------------------------------------------------------------- split.csv */

sermo_status sermo_split_write(const char *path, const sermo_corpus *c, const int8_t *part,
                               sermo_error *err) {
    if (!path || !c || !part) return sermo_fail(err, SERMO_ERR_INVALID, "split: no path, corpus or parts");
    for (int64_t i = 0; i < c->n_items; i++)
        if (part[i] < 0 || part[i] > 2)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: item %lld has part %d", path, (long long)i,
                              (int)part[i]);
    FILE *f = fopen(path, "w");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    fputs("path,speaker,label,part\n", f);
    for (int64_t i = 0; i < c->n_items; i++) {
        const sermo_item *it = &c->items[i];
        const char *label = sermo_corpus_class_name(c, it->label);
        sermo_corpus_csv_write_field(f, it->path);
        fputc(',', f);
        sermo_corpus_csv_write_field(f, it->speaker);
        fputc(',', f);
        sermo_corpus_csv_write_field(f, label ? label : "");
        fprintf(f, ",%s\n", part_names[part[i]]);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return sermo_fail(err, SERMO_ERR_IO, "%s: write error", path);
    return SERMO_OK;
}

typedef struct path_ref {
    const char *path;
    int64_t index;
} path_ref;

static int cmp_path_ref(const void *a, const void *b) {
    const path_ref *x = a, *y = b;
    int d = strcmp(x->path, y->path);
    return d ? d : (x->index < y->index ? -1 : x->index > y->index);
}

/* First item with this path not yet marked in `seen`, or -1. */
static int64_t find_path(const path_ref *order, int64_t n, const int8_t *seen, const char *path) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (strcmp(order[mid].path, path) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < n && strcmp(order[lo].path, path) == 0; lo++)
        if (!seen[order[lo].index]) return order[lo].index;
    return -1;
}

static sermo_status split_read_rows(const char *path, const sermo_corpus *c, corpus_csv *csv,
                                    const path_ref *order, const int8_t *none, int8_t *seen,
                                    int8_t *tmp, sermo_error *err) {
    static const char *const header[4] = {"path", "speaker", "label", "part"};
    int got;
    sermo_status st = sermo_corpus_csv_next(csv, &got, err);
    if (st != SERMO_OK) return st;
    int ok = got && csv->n_fields == 4;
    for (int i = 0; ok && i < 4; i++) ok = sermo_corpus_strcasecmp_ascii(csv->fields[i], header[i]) == 0;
    if (!ok) return sermo_fail(err, SERMO_ERR_FORMAT, "%s:1: header must be path,speaker,label,part", path);
    int64_t rows = 0;
    while ((st = sermo_corpus_csv_next(csv, &got, err)) == SERMO_OK && got) {
        long long line = (long long)csv->line;
        if (csv->n_fields != 4)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: expected 4 fields, found %d", path, line,
                              (int)csv->n_fields);
        const char **f = csv->fields;
        int64_t i = find_path(order, c->n_items, seen, f[0]);
        if (i < 0 && find_path(order, c->n_items, none, f[0]) >= 0)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: '%s' is listed twice", path, line, f[0]);
        if (i < 0)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: '%s' is not in the corpus", path, line,
                              f[0]);
        const char *label = sermo_corpus_class_name(c, c->items[i].label);
        if (strcmp(f[1], c->items[i].speaker) != 0)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: speaker '%s' but the corpus says '%s'",
                              path, line, f[1], c->items[i].speaker);
        if (strcmp(f[2], label ? label : "") != 0)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: label '%s' but the corpus says '%s'",
                              path, line, f[2], label ? label : "");
        int p = -1;
        for (int k = 0; k < 3; k++)
            if (strcmp(f[3], part_names[k]) == 0) p = k;
        if (p < 0)
            return sermo_fail(err, SERMO_ERR_FORMAT, "%s:%lld: part '%s' is not train, val or test",
                              path, line, f[3]);
        seen[i] = 1;
        tmp[i] = (int8_t)p;
        rows++;
    }
    if (st != SERMO_OK) return st;
    if (rows != c->n_items) {
        for (int64_t i = 0; i < c->n_items; i++)
            if (!seen[i])
                return sermo_fail(err, SERMO_ERR_FORMAT, "%s: %lld of %lld corpus items are missing, e.g. '%s'",
                                  path, (long long)(c->n_items - rows), (long long)c->n_items,
                                  c->items[i].path);
    }
    return SERMO_OK;
}

sermo_status sermo_split_read(const char *path, const sermo_corpus *c, int8_t *part, sermo_error *err) {
    if (!path || !c || !part) return sermo_fail(err, SERMO_ERR_INVALID, "split: no path, corpus or parts");
    int64_t n = c->n_items;
    char *data;
    size_t size;
    sermo_status st = sermo_corpus_read_file(path, &data, &size, err);
    if (st != SERMO_OK) return st;
    path_ref *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    int8_t *seen = calloc((size_t)(n ? n : 1), 1);
    int8_t *all = malloc((size_t)(n ? n : 1));
    int8_t *tmp = malloc((size_t)(n ? n : 1));
    if (!order || !seen || !all || !tmp) st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path);
    if (st == SERMO_OK) {
        for (int64_t i = 0; i < n; i++) {
            order[i].path = c->items[i].path;
            order[i].index = i;
        }
        qsort(order, (size_t)n, sizeof *order, cmp_path_ref);
        memset(all, 0, (size_t)(n ? n : 1)); /* "none seen": tells "listed twice" from "unknown" */
        corpus_csv csv;
        sermo_corpus_csv_init(&csv, path, data, size);
        st = split_read_rows(path, c, &csv, order, all, seen, tmp, err);
        sermo_corpus_csv_free(&csv);
    }
    if (st == SERMO_OK) memcpy(part, tmp, (size_t)n);
    free(order);
    free(seen);
    free(all);
    free(tmp);
    free(data);
    return st;
}
