/* metrics.c: classification metrics with scikit-learn's semantics
 * (sklearn.metrics 1.2: confusion_matrix, precision_recall_fscore_support
 * with labels = range(n_classes) and zero_division = 0, accuracy_score,
 * balanced_accuracy_score, log_loss) and classification_report's text.
 *
 * K = n_classes, N = samples. */
#include "report_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Checks the sizes and clears out for counting. */
static sermo_status metrics_start(const int32_t *y_true, const void *pred, int64_t n, int32_t n_classes,
                                  sermo_metrics *out, sermo_error *err) {
    if (n_classes < 1 || n_classes > SERMO_METRICS_MAX_CLASSES)
        return sermo_fail(err, SERMO_ERR_INVALID, "metrics: n_classes %d is outside 1..%d", n_classes,
                          SERMO_METRICS_MAX_CLASSES);
    if (n <= 0) return sermo_fail(err, SERMO_ERR_EMPTY, "metrics: no samples");
    if (!y_true || !pred || !out)
        return sermo_fail(err, SERMO_ERR_INVALID, "metrics: no labels, predictions or output");
    memset(out, 0, sizeof *out);
    out->n_classes = n_classes;
    out->n = n;
    out->log_loss = NAN;
    return SERMO_OK;
}

/* Everything from the confusion matrix, which the caller has filled. */
static void metrics_finish(sermo_metrics *m) {
    const int32_t K = m->n_classes;
    int64_t trace = 0, present = 0;
    double bacc = 0;
    m->macro_precision = m->macro_recall = m->macro_f1 = 0;
    m->weighted_precision = m->weighted_recall = m->weighted_f1 = 0;
    for (int32_t k = 0; k < K; k++) {
        int64_t tp = m->confusion[k * K + k], pred = 0, sup = 0;
        for (int32_t j = 0; j < K; j++) {
            pred += m->confusion[j * K + k];
            sup += m->confusion[k * K + j];
        }
        trace += tp;
        /* zero_division = 0: an undefined ratio counts as 0 */
        double p = pred ? (double)tp / (double)pred : 0, r = sup ? (double)tp / (double)sup : 0;
        /* sklearn 1.2 derives F from p and r: (1 + b^2) p r / (b^2 p + r) */
        double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
        m->precision[k] = p;
        m->recall[k] = r;
        m->f1[k] = f;
        m->support[k] = sup;
        m->macro_precision += p;
        m->macro_recall += r;
        m->macro_f1 += f;
        m->weighted_precision += p * (double)sup;
        m->weighted_recall += r * (double)sup;
        m->weighted_f1 += f * (double)sup;
        if (sup) { /* balanced_accuracy_score drops classes absent from y_true */
            bacc += r;
            present++;
        }
    }
    m->accuracy = (double)trace / (double)m->n;
    m->macro_precision /= K;
    m->macro_recall /= K;
    m->macro_f1 /= K;
    m->weighted_precision /= (double)m->n;
    m->weighted_recall /= (double)m->n;
    m->weighted_f1 /= (double)m->n;
    m->uar = m->macro_recall;
    m->balanced_accuracy = present ? bacc / (double)present : 0;
}

sermo_status sermo_metrics_compute(const int32_t *y_true, const int32_t *y_pred, int64_t n, int32_t n_classes,
                                   sermo_metrics *out, sermo_error *err) {
    sermo_status st = metrics_start(y_true, y_pred, n, n_classes, out, err);
    if (st != SERMO_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = y_true[i], p = y_pred[i];
        if (t < 0 || t >= n_classes || p < 0 || p >= n_classes)
            return sermo_fail(err, SERMO_ERR_INVALID, "metrics: sample %lld: label %d / prediction %d outside 0..%d",
                              (long long)i, t, p, n_classes - 1);
        out->confusion[t * n_classes + p]++;
    }
    metrics_finish(out);
    return SERMO_OK;
}

sermo_status sermo_metrics_compute_probs(const int32_t *y_true, const float *probs, int64_t n, int32_t n_classes,
                                         sermo_metrics *out, sermo_error *err) {
    sermo_status st = metrics_start(y_true, probs, n, n_classes, out, err);
    if (st != SERMO_OK) return st;
    double loss = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = probs + i * n_classes; /* (K) */
        int32_t t = y_true[i], best = 0;
        if (t < 0 || t >= n_classes)
            return sermo_fail(err, SERMO_ERR_INVALID, "metrics: sample %lld: label %d outside 0..%d", (long long)i, t,
                              n_classes - 1);
        double sum = 0;
        for (int32_t k = 0; k < n_classes; k++) {
            if (!(row[k] >= 0) || !isfinite(row[k]))
                return sermo_fail(err, SERMO_ERR_INVALID, "metrics: sample %lld: probability %g of class %d",
                                  (long long)i, row[k], k);
            sum += row[k];
            if (row[k] > row[best]) best = k; /* the first maximum, as numpy.argmax */
        }
        if (!(sum > 0))
            return sermo_fail(err, SERMO_ERR_INVALID, "metrics: sample %lld: probabilities sum to 0", (long long)i);
        /* sklearn log_loss: clip to [eps, 1 - eps] and renormalise the row */
        double p = row[t] / sum;
        p = p < DBL_EPSILON ? DBL_EPSILON : p > 1 - DBL_EPSILON ? 1 - DBL_EPSILON : p;
        loss -= log(p);
        out->confusion[t * n_classes + best]++;
    }
    out->log_loss = loss / (double)n;
    metrics_finish(out);
    return SERMO_OK;
}

/* Display width in code points, as Python's len() on a str. */
static int32_t metrics_text_width(const char *s) {
    int32_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* "%*s" pads in bytes; pad in code points for UTF-8 names. */
static void metrics_put_right(sermo_report_buf *b, const char *s, int32_t width) {
    for (int32_t i = metrics_text_width(s); i < width; i++) sermo_report_buf_append(b, " ", 1);
    sermo_report_buf_append(b, s, strlen(s));
}

static void metrics_row(sermo_report_buf *b, const char *name, int32_t width, int32_t digits, double p, double r,
                        double f, int64_t support) {
    metrics_put_right(b, name, width);
    sermo_report_buf_printf(b, "  %9.*f %9.*f %9.*f %9lld\n", digits, p, digits, r, digits, f, (long long)support);
}

/* sklearn.metrics.classification_report (1.2), the text form:
 *   head: "{:>{width}s} " + " {:>9}" * 4, then a blank line
 *   rows: "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}"
 * width = max(longest name, len("weighted avg"), digits). The micro average
 * is labelled "accuracy" (f1 column only) when the labels are exactly those
 * seen in y_true or y_pred; a class seen in neither makes it "micro avg"
 * with all three columns (all equal to the accuracy, since every
 * prediction falls in some label). */
static void metrics_report_buf(sermo_report_buf *b, const sermo_metrics *m, const char *const *names,
                               int32_t digits) {
    const int32_t K = m->n_classes;
    char numbered[SERMO_METRICS_MAX_CLASSES][16];
    const char *label[SERMO_METRICS_MAX_CLASSES];
    int32_t width = (int32_t)strlen("weighted avg"), unseen = 0;
    if (width < digits) width = digits;
    for (int32_t k = 0; k < K; k++) {
        snprintf(numbered[k], sizeof numbered[k], "%d", k);
        label[k] = names && names[k] ? names[k] : numbered[k];
        int32_t w = metrics_text_width(label[k]);
        if (w > width) width = w;
        int64_t pred = 0;
        for (int32_t j = 0; j < K; j++) pred += m->confusion[j * K + k];
        unseen += m->support[k] == 0 && pred == 0;
    }
    metrics_put_right(b, "", width);
    sermo_report_buf_printf(b, "  %9s %9s %9s %9s\n\n", "precision", "recall", "f1-score", "support");
    for (int32_t k = 0; k < K; k++)
        metrics_row(b, label[k], width, digits, m->precision[k], m->recall[k], m->f1[k], m->support[k]);
    sermo_report_buf_append(b, "\n", 1);
    if (unseen) {
        metrics_row(b, "micro avg", width, digits, m->accuracy, m->accuracy, m->accuracy, m->n);
    } else {
        metrics_put_right(b, "accuracy", width);
        sermo_report_buf_printf(b, "  %9s %9s %9.*f %9lld\n", "", "", digits, m->accuracy, (long long)m->n);
    }
    metrics_row(b, "macro avg", width, digits, m->macro_precision, m->macro_recall, m->macro_f1, m->n);
    metrics_row(b, "weighted avg", width, digits, m->weighted_precision, m->weighted_recall, m->weighted_f1, m->n);
}

size_t sermo_metrics_format_report(const sermo_metrics *m, const char *const *class_names, int32_t digits,
                                   char *buf, size_t size) {
    if (size) buf[0] = 0;
    if (!m || m->n_classes < 1 || m->n_classes > SERMO_METRICS_MAX_CLASSES) return 0;
    if (digits < 0) digits = 0;
    if (digits > 17) digits = 17;
    sermo_report_buf b = {0};
    metrics_report_buf(&b, m, class_names, digits);
    size_t len = b.failed ? 0 : b.len;
    if (size && len) {
        size_t k = len < size ? len : size - 1;
        memcpy(buf, b.data, k);
        buf[k] = 0;
    }
    sermo_report_buf_free(&b);
    return len;
}

sermo_status sermo_report_classification_txt(const char *path, const sermo_metrics *m,
                                             const char *const *class_names, sermo_error *err) {
    if (!path) return sermo_fail(err, SERMO_ERR_INVALID, "classification report: no output path");
    if (!m || m->n_classes < 1 || m->n_classes > SERMO_METRICS_MAX_CLASSES)
        return sermo_fail(err, SERMO_ERR_INVALID, "%s: no metrics", path);
    sermo_report_buf b = {0};
    metrics_report_buf(&b, m, class_names, 4);
    sermo_status st = b.failed ? sermo_fail(err, SERMO_ERR_NOMEM, "%s: out of memory", path)
                               : sermo_report_write_atomic(path, b.data, b.len, err);
    sermo_report_buf_free(&b);
    return st;
}
