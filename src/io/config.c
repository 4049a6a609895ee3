/* config.c: a flat store of dotted keys -> string values, read from YAML
 * (libyaml events) with "key=value" overrides on top, and written back as
 * nested YAML.
 *
 * Everything is kept as the scalar's text: typing happens only where a value
 * is used (sermo_config_audio_params and friends), so a round trip through
 * write_yaml never changes "1e-3" into "0.001". Keys keep insertion order; an
 * override of an existing key keeps the key's original position.
 *
 * The store never holds both "a" and "a.b": nested YAML could not represent
 * it, so such a set is refused and write_yaml cannot fail on structure. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 32 /* nesting limit: keeps hostile input off the C stack */

struct sermo_config {
    char **keys;   /* (n) owned, insertion order */
    char **values; /* (n) owned */
    int32_t n, cap;
};

/* ------------------------------------------------------------------ store */

sermo_config *sermo_config_init(void) { return calloc(1, sizeof(sermo_config)); }

void sermo_config_free(sermo_config *config) {
    if (!config) return;
    for (int32_t i = 0; i < config->n; i++) {
        free(config->keys[i]);
        free(config->values[i]);
    }
    free(config->keys);
    free(config->values);
    free(config);
}

/* [A-Za-z_][A-Za-z0-9_]* joined by single dots; len bytes of s. */
static int config_valid_key(const char *s, size_t len) {
    int at_start = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (at_start) return 0;
            at_start = 1;
        } else if (isalpha(c) || c == '_' || (!at_start && isdigit(c))) {
            at_start = 0;
        } else {
            return 0;
        }
    }
    return len > 0 && !at_start;
}

static int32_t config_find(const sermo_config *config, const char *key) {
    for (int32_t i = 0; i < config->n; i++)
        if (strcmp(config->keys[i], key) == 0) return i;
    return -1;
}

/* The stored key that is a section of `key` or has `key` as a section
 * ("a" vs "a.b"), or NULL. */
static const char *config_find_conflict(const sermo_config *config, const char *key) {
    size_t len = strlen(key);
    for (int32_t i = 0; i < config->n; i++) {
        const char *k = config->keys[i];
        size_t kl = strlen(k);
        if (kl < len && key[kl] == '.' && memcmp(k, key, kl) == 0) return k;
        if (len < kl && k[len] == '.' && memcmp(k, key, len) == 0) return k;
    }
    return NULL;
}

/* As sermo_config_set, with a message on failure. */
static sermo_status config_set_checked(sermo_config *config, const char *key, const char *value,
                                       const char *where, sermo_error *err) {
    if (!config_valid_key(key, strlen(key)))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "%s: bad key '%s' (expected dotted identifiers like train.lr)", where, key);
    int32_t i = config_find(config, key);
    if (i < 0) {
        const char *other = config_find_conflict(config, key);
        if (other)
            return sermo_fail(err, SERMO_ERR_INVALID,
                              "%s: key '%s' conflicts with '%s' (a key cannot be both a value and a section)",
                              where, key, other);
    }
    char *v = strdup(value);
    if (!v) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", where);
    if (i >= 0) {
        free(config->values[i]);
        config->values[i] = v;
        return SERMO_OK;
    }
    if (config->n == config->cap) {
        int32_t cap = config->cap ? config->cap * 2 : 16;
        char **keys = realloc(config->keys, sizeof(char *) * (size_t)cap);
        if (keys) config->keys = keys;
        char **values = keys ? realloc(config->values, sizeof(char *) * (size_t)cap) : NULL;
        if (values) config->values = values;
        if (!keys || !values) {
            free(v);
            return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", where);
        }
        config->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", where);
    }
    config->keys[config->n] = k;
    config->values[config->n] = v;
    config->n++;
    return SERMO_OK;
}

sermo_status sermo_config_set(sermo_config *config, const char *key, const char *value) {
    if (!config || !key || !value) return SERMO_ERR_INVALID;
    return config_set_checked(config, key, value, "config", NULL);
}

const char *sermo_config_get(const sermo_config *config, const char *key) {
    if (!config || !key) return NULL;
    int32_t i = config_find(config, key);
    return i < 0 ? NULL : config->values[i];
}

int32_t sermo_config_n_keys(const sermo_config *config) { return config ? config->n : 0; }

const char *sermo_config_key(const sermo_config *config, int32_t i) {
    return config && i >= 0 && i < config->n ? config->keys[i] : NULL;
}

sermo_status sermo_config_set_arg(sermo_config *config, const char *arg, sermo_error *err) {
    if (!config || !arg) return sermo_fail(err, SERMO_ERR_INVALID, "config: no override given");
    const char *eq = strchr(arg, '=');
    if (!eq) return sermo_fail(err, SERMO_ERR_INVALID, "override '%s': expected key=value", arg);
    size_t len = (size_t)(eq - arg);
    if (!config_valid_key(arg, len))
        return sermo_fail(err, SERMO_ERR_INVALID,
                          "override '%s': bad key '%.*s' (expected dotted identifiers like train.lr)",
                          arg, (int)len, arg);
    char *key = strndup(arg, len);
    if (!key) return sermo_fail(err, SERMO_ERR_NOMEM, "override '%s': out of memory", arg);
    char where[96];
    snprintf(where, sizeof where, "override '%.80s'", arg);
    sermo_status st = config_set_checked(config, key, eq + 1, where, err);
    free(key);
    return st;
}

/* ----------------------------------------------------------------- loading */

typedef struct config_parse {
    yaml_parser_t parser;
    yaml_event_t event; /* the current event; deleted by config_next */
    int have_event;
    const char *name;   /* file name for messages */
    sermo_config *out;  /* a fresh store, merged into the caller's on success */
    sermo_error *err;
} config_parse;

static sermo_status config_fail_at(config_parse *p, yaml_mark_t mark, sermo_status st,
                                   const char *what) {
    /* libyaml marks are 0-based; editors count from 1. */
    return sermo_fail(p->err, st, "%s:%zu:%zu: %s", p->name, mark.line + 1, mark.column + 1, what);
}

static sermo_status config_next(config_parse *p) {
    if (p->have_event) yaml_event_delete(&p->event);
    p->have_event = 0;
    if (!yaml_parser_parse(&p->parser, &p->event)) {
        char what[SERMO_ERROR_MAX];
        if (p->parser.context)
            snprintf(what, sizeof what, "%s %s", p->parser.problem ? p->parser.problem : "syntax error",
                     p->parser.context);
        else
            snprintf(what, sizeof what, "%s", p->parser.problem ? p->parser.problem : "syntax error");
        return config_fail_at(p, p->parser.problem_mark, SERMO_ERR_FORMAT, what);
    }
    p->have_event = 1;
    /* Anchors, aliases and tags would make a flat string store ambiguous. */
    const yaml_event_t *e = &p->event;
    if (e->type == YAML_ALIAS_EVENT)
        return config_fail_at(p, e->start_mark, SERMO_ERR_UNSUPPORTED, "aliases (*name) are not supported");
    const yaml_char_t *anchor = NULL, *tag = NULL;
    if (e->type == YAML_SCALAR_EVENT) {
        anchor = e->data.scalar.anchor;
        tag = e->data.scalar.tag;
    } else if (e->type == YAML_MAPPING_START_EVENT) {
        anchor = e->data.mapping_start.anchor;
        tag = e->data.mapping_start.tag;
    } else if (e->type == YAML_SEQUENCE_START_EVENT) {
        anchor = e->data.sequence_start.anchor;
        tag = e->data.sequence_start.tag;
    }
    if (anchor)
        return config_fail_at(p, e->start_mark, SERMO_ERR_UNSUPPORTED, "anchors (&name) are not supported");
    if (tag) return config_fail_at(p, e->start_mark, SERMO_ERR_UNSUPPORTED, "tags (!tag) are not supported");
    return SERMO_OK;
}

static sermo_status config_store(config_parse *p, const char *key, const char *value, yaml_mark_t mark) {
    char where[SERMO_ERROR_MAX];
    snprintf(where, sizeof where, "%s:%zu:%zu", p->name, mark.line + 1, mark.column + 1);
    return config_set_checked(p->out, key, value, where, p->err);
}

/* A sequence of scalars becomes one comma-joined string ("[64, 128]" -> "64,128"). */
static sermo_status config_parse_sequence(config_parse *p, const char *key, yaml_mark_t mark) {
    size_t len = 0, cap = 64;
    char *joined = malloc(cap);
    if (!joined) return sermo_fail(p->err, SERMO_ERR_NOMEM, "%s: out of memory", p->name);
    joined[0] = '\0';
    sermo_status st;
    int first = 1;
    while ((st = config_next(p)) == SERMO_OK && p->event.type != YAML_SEQUENCE_END_EVENT) {
        if (p->event.type != YAML_SCALAR_EVENT) {
            st = config_fail_at(p, p->event.start_mark, SERMO_ERR_UNSUPPORTED,
                                "only sequences of scalars are supported");
            break;
        }
        size_t n = p->event.data.scalar.length;
        if (len + n + 2 > cap) {
            while (len + n + 2 > cap) cap *= 2;
            char *grown = realloc(joined, cap);
            if (!grown) {
                st = sermo_fail(p->err, SERMO_ERR_NOMEM, "%s: out of memory", p->name);
                break;
            }
            joined = grown;
        }
        if (!first) joined[len++] = ',';
        memcpy(joined + len, p->event.data.scalar.value, n);
        len += n;
        joined[len] = '\0';
        first = 0;
    }
    if (st == SERMO_OK) st = config_store(p, key, joined, mark);
    free(joined);
    return st;
}

/* Called with the MAPPING_START event current; returns with MAPPING_END current. */
static sermo_status config_parse_mapping(config_parse *p, const char *prefix, int depth) {
    if (depth > CONFIG_MAX_DEPTH)
        return config_fail_at(p, p->event.start_mark, SERMO_ERR_UNSUPPORTED, "mappings nested too deeply");
    sermo_status st;
    while ((st = config_next(p)) == SERMO_OK && p->event.type != YAML_MAPPING_END_EVENT) {
        yaml_mark_t key_mark = p->event.start_mark;
        if (p->event.type != YAML_SCALAR_EVENT)
            return config_fail_at(p, key_mark, SERMO_ERR_FORMAT, "mapping keys must be plain names");
        const char *name = (const char *)p->event.data.scalar.value;
        size_t name_len = p->event.data.scalar.length;
        if (strlen(name) != name_len || !config_valid_key(name, name_len) || strchr(name, '.')) {
            char what[160];
            snprintf(what, sizeof what, "bad key '%.64s' (expected a name like sample_rate)", name);
            return config_fail_at(p, key_mark, SERMO_ERR_FORMAT, what);
        }
        size_t plen = strlen(prefix);
        char *key = malloc(plen + name_len + 2);
        if (!key) return sermo_fail(p->err, SERMO_ERR_NOMEM, "%s: out of memory", p->name);
        if (plen) snprintf(key, plen + name_len + 2, "%s.%s", prefix, name);
        else memcpy(key, name, name_len + 1);

        st = config_next(p);
        if (st == SERMO_OK) {
            switch (p->event.type) {
            case YAML_SCALAR_EVENT:
                if (strlen((const char *)p->event.data.scalar.value) != p->event.data.scalar.length)
                    st = config_fail_at(p, p->event.start_mark, SERMO_ERR_FORMAT, "NUL byte in value");
                else st = config_store(p, key, (const char *)p->event.data.scalar.value, key_mark);
                break;
            case YAML_MAPPING_START_EVENT: st = config_parse_mapping(p, key, depth + 1); break;
            case YAML_SEQUENCE_START_EVENT: st = config_parse_sequence(p, key, key_mark); break;
            default:
                st = config_fail_at(p, p->event.start_mark, SERMO_ERR_FORMAT, "unexpected value");
                break;
            }
        }
        free(key);
        if (st != SERMO_OK) return st;
    }
    return st;
}

/* Stream of at most one document whose root is a mapping (or empty). */
static sermo_status config_parse_stream(config_parse *p) {
    sermo_status st;
    int documents = 0;
    while ((st = config_next(p)) == SERMO_OK && p->event.type != YAML_STREAM_END_EVENT) {
        switch (p->event.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                return config_fail_at(p, p->event.start_mark, SERMO_ERR_UNSUPPORTED,
                                      "only one YAML document per config");
            break;
        case YAML_MAPPING_START_EVENT:
            st = config_parse_mapping(p, "", 0);
            if (st != SERMO_OK) return st;
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document ("" or "~") is an empty config. */
            if (p->event.data.scalar.length == 0 || strcmp((const char *)p->event.data.scalar.value, "~") == 0 ||
                strcmp((const char *)p->event.data.scalar.value, "null") == 0)
                break;
            return config_fail_at(p, p->event.start_mark, SERMO_ERR_FORMAT,
                                  "the top level must be a mapping of keys");
        default:
            return config_fail_at(p, p->event.start_mark, SERMO_ERR_FORMAT,
                                  "the top level must be a mapping of keys");
        }
    }
    return st;
}

static sermo_status config_load(sermo_config *config, const char *name, FILE *file, const char *text,
                                size_t size, sermo_error *err) {
    config_parse p = {.name = name, .err = err};
    p.out = sermo_config_init();
    if (!p.out) return sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", name);
    if (!yaml_parser_initialize(&p.parser)) {
        sermo_config_free(p.out);
        return sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot initialise the YAML parser", name);
    }
    if (file) yaml_parser_set_input_file(&p.parser, file);
    else yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, size);
    sermo_status st = config_parse_stream(&p);
    if (p.have_event) yaml_event_delete(&p.event);
    yaml_parser_delete(&p.parser);
    /* Merge only a fully parsed file, so a failed load leaves config as it was
     * (except for a conflict found while merging, reported with the key). */
    for (int32_t i = 0; st == SERMO_OK && i < p.out->n; i++)
        st = config_set_checked(config, p.out->keys[i], p.out->values[i], name, err);
    sermo_config_free(p.out);
    return st;
}

sermo_status sermo_config_load_yaml_string(sermo_config *config, const char *text, const char *name,
                                           sermo_error *err) {
    if (!name) name = "<string>";
    if (!config || !text) return sermo_fail(err, SERMO_ERR_INVALID, "%s: no config or text given", name);
    return config_load(config, name, NULL, text, strlen(text), err);
}

sermo_status sermo_config_load_yaml(sermo_config *config, const char *path, sermo_error *err) {
    if (!config || !path) return sermo_fail(err, SERMO_ERR_INVALID, "config: no config or path given");
    FILE *f = fopen(path, "rb");
    if (!f) return sermo_fail(err, SERMO_ERR_IO, "%s: %s", path, strerror(errno));
    sermo_status st = config_load(config, path, f, NULL, 0, err);
    fclose(f);
    return st;
}

/* ----------------------------------------------------------------- writing */

/* libyaml's emitter picks quoting (plain, single or double quoted) so that
 * every value reads back as the same string. */
static int config_emit_scalar(yaml_emitter_t *em, const char *s, size_t len) {
    yaml_event_t e;
    return yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1,
                                        YAML_ANY_SCALAR_STYLE) &&
           yaml_emitter_emit(em, &e);
}

static int config_emit_mapping_start(yaml_emitter_t *em) {
    yaml_event_t e;
    return yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) &&
           yaml_emitter_emit(em, &e);
}

static int config_emit_mapping_end(yaml_emitter_t *em) {
    yaml_event_t e;
    return yaml_mapping_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
}

/* Emit every key starting with prefix (plen bytes, "" or ending in '.'),
 * grouping sections in the order of their first key. */
static int config_emit_section(yaml_emitter_t *em, const sermo_config *c, const char *prefix, size_t plen) {
    for (int32_t i = 0; i < c->n; i++) {
        const char *k = c->keys[i];
        if (strncmp(k, prefix, plen) != 0) continue;
        const char *name = k + plen;
        const char *dot = strchr(name, '.');
        size_t nlen = dot ? (size_t)(dot - name) : strlen(name);
        int seen = 0; /* this section already written for an earlier key */
        for (int32_t j = 0; j < i && !seen; j++) {
            const char *o = c->keys[j];
            seen = strncmp(o, k, plen + nlen) == 0 && (o[plen + nlen] == '.' || o[plen + nlen] == '\0');
        }
        if (seen) continue;
        if (!config_emit_scalar(em, name, nlen)) return 0;
        if (!dot) {
            if (!config_emit_scalar(em, c->values[i], strlen(c->values[i]))) return 0;
            continue;
        }
        if (!config_emit_mapping_start(em) || !config_emit_section(em, c, k, plen + nlen + 1) ||
            !config_emit_mapping_end(em))
            return 0;
    }
    return 1;
}

static int config_emit(yaml_emitter_t *em, const sermo_config *c) {
    yaml_event_t e;
    if (!yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING) || !yaml_emitter_emit(em, &e)) return 0;
    if (!yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1) || !yaml_emitter_emit(em, &e)) return 0;
    if (c->n == 0) {
        if (!yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &e) || !config_emit_mapping_end(em))
            return 0;
    } else if (!config_emit_mapping_start(em) || !config_emit_section(em, c, "", 0) ||
               !config_emit_mapping_end(em)) {
        return 0;
    }
    if (!yaml_document_end_event_initialize(&e, 1) || !yaml_emitter_emit(em, &e)) return 0;
    return yaml_stream_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
}

sermo_status sermo_config_write_yaml(const sermo_config *config, const char *path, sermo_error *err) {
    if (!config || !path) return sermo_fail(err, SERMO_ERR_INVALID, "config: no config or path given");
    sermo_atomic_file af;
    sermo_status st = sermo_atomic_open(&af, path, err);
    if (st != SERMO_OK) return st;
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em)) {
        st = sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot initialise the YAML emitter", path);
    } else {
        fputs("# written by sermo " SERMO_VERSION "\n", af.f);
        yaml_emitter_set_output_file(&em, af.f);
        yaml_emitter_set_unicode(&em, 1);
        yaml_emitter_set_indent(&em, 2);
        if (!config_emit(&em, config) || !yaml_emitter_flush(&em))
            st = sermo_fail(err, SERMO_ERR_IO, "%s: cannot write YAML: %s", path,
                            em.problem ? em.problem : strerror(errno));
        yaml_emitter_delete(&em);
    }
    return sermo_atomic_close(&af, st, err);
}

/* ------------------------------------------------------------------ params */

/* Each params field is described once: its key, type, place in the struct
 * and valid range, so the mapping is one loop and cannot miss a field. */
typedef enum config_field_type {
    CONFIG_FIELD_INT,   /* int32_t, strtol, [min, max] */
    CONFIG_FIELD_FLOAT, /* float, strtod, finite, [min, max] */
    CONFIG_FIELD_BOOL,  /* int32_t 0/1 from true/false/yes/no/1/0 */
    CONFIG_FIELD_ENUM,  /* int32_t-sized enum from names[] (index = value) */
} config_field_type;

typedef struct config_field {
    const char *name;
    config_field_type type;
    size_t offset;
    double min, max;
    const char *const *names; /* NULL-terminated, CONFIG_FIELD_ENUM only */
} config_field;

_Static_assert(sizeof(sermo_window) == sizeof(int32_t) && sizeof(sermo_pad_mode) == sizeof(int32_t) &&
                   sizeof(sermo_mel_scale) == sizeof(int32_t) && sizeof(sermo_feature_kind) == sizeof(int32_t) &&
                   sizeof(sermo_log_mode) == sizeof(int32_t) && sizeof(sermo_utterance_norm) == sizeof(int32_t),
               "enum fields are written as int32_t");

static const char *const config_window_names[] = {"hann", "hamming", "rect", NULL};
static const char *const config_pad_names[] = {"reflect", "constant", NULL};
static const char *const config_scale_names[] = {"htk", "slaney", NULL};
static const char *const config_norm_names[] = {"none", "slaney", NULL};
static const char *const config_kind_names[] = {"mel", "logmel", "mfcc", "egemaps", NULL};
static const char *const config_log_names[] = {"natural", "db", NULL};
static const char *const config_utterance_norm_names[] = {"none", "mean", "meanvar", NULL};

#define CONFIG_MAX_RATE 768000.0
#define CONFIG_MAX_SIZE 1048576.0

#define A(field) offsetof(sermo_audio_params, field)
static const config_field config_audio_fields[] = {
    {"sample_rate", CONFIG_FIELD_INT, A(sample_rate), 0, CONFIG_MAX_RATE, NULL},
    {"trim", CONFIG_FIELD_BOOL, A(trim), 0, 1, NULL},
    {"trim_db", CONFIG_FIELD_FLOAT, A(trim_db), -200, 0, NULL},
    {"trim_frame_ms", CONFIG_FIELD_FLOAT, A(trim_frame_ms), 0.1, 10000, NULL},
    {"trim_margin_ms", CONFIG_FIELD_FLOAT, A(trim_margin_ms), 0, 60000, NULL},
    {"duration_ms", CONFIG_FIELD_FLOAT, A(duration_ms), 0, 86400000, NULL},
    {"crop_center", CONFIG_FIELD_BOOL, A(crop_center), 0, 1, NULL},
    {NULL, CONFIG_FIELD_INT, 0, 0, 0, NULL},
};
#undef A

#define F(field) offsetof(sermo_feature_params, field)
static const config_field config_feature_fields[] = {
    {"sample_rate", CONFIG_FIELD_INT, F(sample_rate), 1, CONFIG_MAX_RATE, NULL},
    {"n_fft", CONFIG_FIELD_INT, F(n_fft), 2, CONFIG_MAX_SIZE, NULL},
    {"win_length", CONFIG_FIELD_INT, F(win_length), 0, CONFIG_MAX_SIZE, NULL},
    {"hop_length", CONFIG_FIELD_INT, F(hop_length), 0, CONFIG_MAX_SIZE, NULL},
    {"window", CONFIG_FIELD_ENUM, F(window), 0, 0, config_window_names},
    {"center", CONFIG_FIELD_BOOL, F(center), 0, 1, NULL},
    {"pad_mode", CONFIG_FIELD_ENUM, F(pad_mode), 0, 0, config_pad_names},
    {"power", CONFIG_FIELD_FLOAT, F(power), 1e-3, 16, NULL},
    {"n_mels", CONFIG_FIELD_INT, F(n_mels), 1, 4096, NULL},
    {"f_min", CONFIG_FIELD_FLOAT, F(f_min), 0, CONFIG_MAX_RATE / 2, NULL},
    {"f_max", CONFIG_FIELD_FLOAT, F(f_max), 0, CONFIG_MAX_RATE / 2, NULL},
    {"mel_scale", CONFIG_FIELD_ENUM, F(mel_scale), 0, 0, config_scale_names},
    {"mel_norm", CONFIG_FIELD_ENUM, F(mel_norm_slaney), 0, 0, config_norm_names},
    {"mel_norm_slaney", CONFIG_FIELD_BOOL, F(mel_norm_slaney), 0, 1, NULL},
    {"kind", CONFIG_FIELD_ENUM, F(kind), 0, 0, config_kind_names},
    {"log_mode", CONFIG_FIELD_ENUM, F(log_mode), 0, 0, config_log_names},
    {"log_offset", CONFIG_FIELD_FLOAT, F(log_offset), 1e-30, 1, NULL},
    {"top_db", CONFIG_FIELD_FLOAT, F(top_db), -1e6, 1e6, NULL},
    {"n_mfcc", CONFIG_FIELD_INT, F(n_mfcc), 1, 4096, NULL},
    {"deltas", CONFIG_FIELD_INT, F(deltas), 0, 2, NULL},
    {"delta_win", CONFIG_FIELD_INT, F(delta_win), 3, 999, NULL},
    {"utterance_norm", CONFIG_FIELD_ENUM, F(utterance_norm), 0, 0, config_utterance_norm_names},
    {NULL, CONFIG_FIELD_INT, 0, 0, 0, NULL},
};
#undef F

static sermo_status config_parse_field(const config_field *f, const char *key, const char *value,
                                       void *params, sermo_error *err) {
    char *end = NULL;
    int32_t i32 = 0;
    float f32 = 0;
    errno = 0;
    switch (f->type) {
    case CONFIG_FIELD_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno == ERANGE || isspace((unsigned char)value[0]))
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not an integer", key, value);
        if (v < f->min || v > f->max)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: %s is outside [%.10g, %.10g]", key, value,
                              f->min, f->max);
        i32 = (int32_t)v;
        memcpy((char *)params + f->offset, &i32, sizeof i32);
        return SERMO_OK;
    }
    case CONFIG_FIELD_FLOAT: {
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !isfinite(v) || isspace((unsigned char)value[0]))
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not a finite number", key, value);
        if (v < f->min || v > f->max)
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: %s is outside [%.10g, %.10g]", key, value,
                              f->min, f->max);
        f32 = (float)v;
        memcpy((char *)params + f->offset, &f32, sizeof f32);
        return SERMO_OK;
    }
    case CONFIG_FIELD_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (int32_t k = 0; k < 4; k++) {
            if (strcasecmp(value, yes[k]) == 0 || strcasecmp(value, no[k]) == 0) {
                i32 = strcasecmp(value, yes[k]) == 0;
                memcpy((char *)params + f->offset, &i32, sizeof i32);
                return SERMO_OK;
            }
        }
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not a boolean (true/false/1/0)", key, value);
    }
    case CONFIG_FIELD_ENUM: {
        char choices[160] = "";
        for (int32_t k = 0; f->names[k]; k++) {
            if (strcasecmp(value, f->names[k]) == 0) {
                i32 = k;
                memcpy((char *)params + f->offset, &i32, sizeof i32);
                return SERMO_OK;
            }
            size_t used = strlen(choices);
            snprintf(choices + used, sizeof choices - used, "%s%s", k ? "|" : "", f->names[k]);
        }
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: '%s' is not one of %s", key, value, choices);
    }
    }
    return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown field type", key);
}

/* Apply every "<prefix>.<name>" key, in insertion order, to params. */
static sermo_status config_apply_fields(const sermo_config *config, const char *prefix,
                                        const config_field *fields, void *params, sermo_error *err) {
    if (!config || !params) return sermo_fail(err, SERMO_ERR_INVALID, "config: no config or params given");
    size_t plen = strlen(prefix);
    for (int32_t i = 0; i < config->n; i++) {
        const char *key = config->keys[i];
        if (strncmp(key, prefix, plen) != 0 || key[plen] != '.') continue;
        const config_field *f = fields;
        while (f->name && strcmp(f->name, key + plen + 1) != 0) f++;
        if (!f->name) {
            char known[400] = "";
            for (const config_field *k = fields; k->name; k++) {
                size_t used = strlen(known);
                snprintf(known + used, sizeof known - used, "%s%s", k == fields ? "" : ", ", k->name);
            }
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: unknown key (value '%s'); %s keys are: %s", key,
                              config->values[i], prefix, known);
        }
        sermo_status st = config_parse_field(f, key, config->values[i], params, err);
        if (st != SERMO_OK) return st;
    }
    return SERMO_OK;
}

sermo_status sermo_config_audio_params(const sermo_config *config, sermo_audio_params *params,
                                       sermo_error *err) {
    /* Work on a copy so a bad key leaves the caller's params untouched. */
    sermo_audio_params p;
    if (params) p = *params;
    sermo_status st = config_apply_fields(config, "audio", config_audio_fields, params ? &p : NULL, err);
    if (st == SERMO_OK) *params = p;
    return st;
}

sermo_status sermo_config_feature_params(const sermo_config *config, sermo_feature_params *params,
                                         sermo_error *err) {
    sermo_feature_params p;
    if (params) p = *params;
    sermo_status st = config_apply_fields(config, "features", config_feature_fields, params ? &p : NULL, err);
    if (st == SERMO_OK) *params = p;
    return st;
}
