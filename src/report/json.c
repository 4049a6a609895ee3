/* json.c: metrics.json, written by hand (the report module does not link a
 * JSON library): flat top-level metrics, per-class entries, the confusion
 * matrix and caller-supplied extras (loss, epoch, split, ...).
 *
 * Strings follow RFC 8259: '"', '\\' and control characters escaped, valid
 * UTF-8 passed through, invalid bytes replaced by U+FFFD so any reader can
 * decode the file. Numbers use the shortest of %.15g..%.17g that reads back
 * exactly; NaN and infinities (not JSON) become null. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static int json_utf8_len(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    int n = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
    /* overlong 3/4-byte forms, UTF-16 surrogates, > U+10FFFF */
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0;
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;
    return n;
}

static void json_string(sermo_report_buf *b, const char *text) {
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    sermo_report_buf_append(b, "\"", 1);
    while (*s) {
        int n = json_utf8_len(s);
        if (n == 0) {
            sermo_report_buf_append(b, "\\ufffd", 6);
            s++;
            continue;
        }
        if (n == 1 && (*s < 0x20 || *s == '"' || *s == '\\')) {
            switch (*s) {
            case '"': sermo_report_buf_append(b, "\\\"", 2); break;
            case '\\': sermo_report_buf_append(b, "\\\\", 2); break;
            case '\n': sermo_report_buf_append(b, "\\n", 2); break;
            case '\r': sermo_report_buf_append(b, "\\r", 2); break;
            case '\t': sermo_report_buf_append(b, "\\t", 2); break;
            case '\b': sermo_report_buf_append(b, "\\b", 2); break;
            case '\f': sermo_report_buf_append(b, "\\f", 2); break;
            default: sermo_report_buf_printf(b, "\\u%04x", *s); break;
            }
        } else {
            sermo_report_buf_append(b, s, (size_t)n);
        }
        s += n;
    }
    sermo_report_buf_append(b, "\"", 1);
}

static void json_number(sermo_report_buf *b, double v) {
    if (!isfinite(v)) {
        sermo_report_buf_append(b, "null", 4);
        return;
    }
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    sermo_report_buf_append(b, text, strlen(text));
}

/* The keys this writer uses itself; an extra may not repeat one. */
static const char *const json_own_keys[] = {
    "accuracy",    "balanced_accuracy", "uar",       "macro_precision",  "macro_recall",
    "macro_f1",    "weighted_precision", "weighted_recall", "weighted_f1", "log_loss",
    "n",           "n_classes",         "class_names", "per_class",        "confusion_matrix",
};

static sermo_status json_check_extras(const char *path, const sermo_report_field *extra, int32_t n_extra,
                                      sermo_error *err) {
    if (n_extra < 0 || (n_extra > 0 && !extra))
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: bad extra fields (%d)", path, n_extra);
    for (int32_t i = 0; i < n_extra; i++) {
        if (!extra[i].key || !extra[i].key[0])
            return sermo_fail(err, SERMO_ERR_INVALID, "%s: extra field %d has no key", path, i);
        for (size_t j = 0; j < sizeof json_own_keys / sizeof json_own_keys[0]; j++)
            if (strcmp(extra[i].key, json_own_keys[j]) == 0)
                return sermo_fail(err, SERMO_ERR_INVALID, "%s: extra key \"%s\" is a metrics key", path,
                                  extra[i].key);
        for (int32_t j = 0; j < i; j++)
            if (strcmp(extra[i].key, extra[j].key) == 0)
                return sermo_fail(err, SERMO_ERR_INVALID, "%s: extra key \"%s\" given twice", path, extra[i].key);
    }
    return SERMO_OK;
}

static void json_key(sermo_report_buf *b, const char *indent, const char *key) {
    sermo_report_buf_append(b, indent, strlen(indent));
    json_string(b, key);
    sermo_report_buf_append(b, ": ", 2);
}

static void json_key_number(sermo_report_buf *b, const char *key, double v) {
    json_key(b, "  ", key);
    json_number(b, v);
    sermo_report_buf_append(b, ",\n", 2);
}

sermo_status sermo_report_metrics_json(const char *path, const sermo_metrics *m, const char *const *class_names,
                                       const sermo_report_field *extra, int32_t n_extra, sermo_error *err) {
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "metrics.json: no output path");
    if (!m || m->n_classes < 1 || m->n_classes > SERMO_METRICS_MAX_CLASSES)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: no metrics", path);
    sermo_status st = json_check_extras(path, extra, n_extra, err);
    if (st != SERMO_OK) return st;
    const int32_t K = m->n_classes;
    char numbered[16];

    sermo_report_buf b = {0};
    sermo_report_buf_append(&b, "{\n", 2);
    for (int32_t i = 0; i < n_extra; i++) {
        json_key(&b, "  ", extra[i].key);
        if (extra[i].text) json_string(&b, extra[i].text);
        else json_number(&b, extra[i].number);
        sermo_report_buf_append(&b, ",\n", 2);
    }
    json_key_number(&b, "n", (double)m->n);
    json_key_number(&b, "n_classes", K);
    json_key_number(&b, "accuracy", m->accuracy);
    json_key_number(&b, "balanced_accuracy", m->balanced_accuracy);
    json_key_number(&b, "uar", m->uar);
    json_key_number(&b, "macro_precision", m->macro_precision);
    json_key_number(&b, "macro_recall", m->macro_recall);
    json_key_number(&b, "macro_f1", m->macro_f1);
    json_key_number(&b, "weighted_precision", m->weighted_precision);
    json_key_number(&b, "weighted_recall", m->weighted_recall);
    json_key_number(&b, "weighted_f1", m->weighted_f1);
    json_key_number(&b, "log_loss", m->log_loss);

    json_key(&b, "  ", "class_names");
    sermo_report_buf_append(&b, "[", 1);
    for (int32_t k = 0; k < K; k++) {
        snprintf(numbered, sizeof numbered, "%d", k);
        if (k) sermo_report_buf_append(&b, ", ", 2);
        json_string(&b, class_names && class_names[k] ? class_names[k] : numbered);
    }
    sermo_report_buf_append(&b, "],\n", 3);

    json_key(&b, "  ", "per_class");
    sermo_report_buf_append(&b, "[\n", 2);
    for (int32_t k = 0; k < K; k++) {
        snprintf(numbered, sizeof numbered, "%d", k);
        sermo_report_buf_append(&b, "    {\"name\": ", 13);
        json_string(&b, class_names && class_names[k] ? class_names[k] : numbered);
        sermo_report_buf_append(&b, ", \"precision\": ", 15);
        json_number(&b, m->precision[k]);
        sermo_report_buf_append(&b, ", \"recall\": ", 12);
        json_number(&b, m->recall[k]);
        sermo_report_buf_append(&b, ", \"f1\": ", 8);
        json_number(&b, m->f1[k]);
        sermo_report_buf_printf(&b, ", \"support\": %lld}%s\n", (long long)m->support[k], k + 1 < K ? "," : "");
    }
    sermo_report_buf_append(&b, "  ],\n", 5);

    json_key(&b, "  ", "confusion_matrix");
    sermo_report_buf_append(&b, "[\n", 2);
    for (int32_t r = 0; r < K; r++) {
        sermo_report_buf_append(&b, "    [", 5);
        for (int32_t c = 0; c < K; c++)
            sermo_report_buf_printf(&b, "%s%lld", c ? ", " : "", (long long)m->confusion[r * K + c]);
        sermo_report_buf_printf(&b, "]%s\n", r + 1 < K ? "," : "");
    }
    sermo_report_buf_append(&b, "  ]\n}\n", 6);

    st = b.failed ? sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path)
                  : sermo_report_write_atomic(path, b.data, b.len, err);
    sermo_report_buf_free(&b);
    return st;
}
