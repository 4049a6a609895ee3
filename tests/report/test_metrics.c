/* test_metrics.c: sermo_metrics against scikit-learn (fixture from
 * tests/report/gen_metrics.py), classification_report.txt line by line
 * against sklearn's own text, metrics.json read back, and the writers'
 * errors. */
#include "check.h"
#include "report/report_internal.h"
#include "sermo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_N 512
#define MAX_K SERMO_METRICS_MAX_CLASSES
#define MAX_LINES 80

typedef struct fixture_case {
    char name[64];
    int64_t n;
    int32_t k;
    char names_buf[1024];
    const char *names[MAX_K];
    int32_t y_true[MAX_N], y_pred[MAX_N];
    float probs[MAX_N * 8];
    int has_probs;
    int64_t confusion[MAX_K * MAX_K], support[MAX_K];
    double precision[MAX_K], recall[MAX_K], f1[MAX_K];
    double accuracy, balanced_accuracy, log_loss, macro[3], weighted[3];
    int32_t n_lines;
    char lines[MAX_LINES][256];
} fixture_case;

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (text) text[size] = 0;
    fclose(f);
    return text;
}

/* Reads up to cap numbers after the keyword; returns how many. */
static long parse_doubles(const char *s, double *out, long cap) {
    long n = 0;
    char *end;
    while (n < cap) {
        double v = strtod(s, &end);
        if (end == s) break;
        out[n++] = v;
        s = end;
    }
    return n;
}

static double scratch[MAX_N * 8];

/* The next case from *cursor (the file's text, split in place), or 0. */
static int next_case(char **cursor, fixture_case *c) {
    memset(c, 0, sizeof *c);
    int in_case = 0, report_left = 0;
    char *line;
    while ((line = strsep(cursor, "\n")) != NULL) {
        if (report_left > 0) {
            CHECK(line[0] == '|', "report line '%s'", line);
            snprintf(c->lines[c->n_lines++], sizeof c->lines[0], "%s", line + 1);
            report_left--;
            continue;
        }
        char *sp = strchr(line, ' ');
        const char *rest = sp ? sp + 1 : "";
        size_t kl = sp ? (size_t)(sp - line) : strlen(line);
#define KEY(word) (kl == strlen(word) && strncmp(line, word, kl) == 0)
        if (line[0] == '#' || line[0] == 0) continue;
        if (KEY("case")) {
            long long n;
            CHECK(sscanf(rest, "%63s %lld %d", c->name, &n, &c->k) == 3, "case line '%s'", line);
            c->n = n;
            CHECK(c->n <= MAX_N && c->k <= MAX_K, "case too big");
            in_case = 1;
        } else if (KEY("names")) {
            snprintf(c->names_buf, sizeof c->names_buf, "%s", rest);
            char *p = c->names_buf, *tok;
            int32_t i = 0;
            while ((tok = strsep(&p, " ")) != NULL && i < MAX_K) c->names[i++] = tok;
            CHECK(i == c->k, "%s: %d names", c->name, i);
        } else if (KEY("y_true") || KEY("y_pred") || KEY("confusion") || KEY("support")) {
            long want = KEY("confusion") ? (long)c->k * c->k : KEY("support") ? c->k : (long)c->n;
            long got = parse_doubles(rest, scratch, want);
            CHECK(got == want, "%s: %.*s has %ld values, want %ld", c->name, (int)kl, line, got, want);
            for (long i = 0; i < got; i++) {
                if (KEY("y_true")) c->y_true[i] = (int32_t)scratch[i];
                else if (KEY("y_pred")) c->y_pred[i] = (int32_t)scratch[i];
                else if (KEY("confusion")) c->confusion[i] = (int64_t)scratch[i];
                else c->support[i] = (int64_t)scratch[i];
            }
        } else if (KEY("probs")) {
            long want = (long)c->n * c->k;
            CHECK(want <= MAX_N * 8 && parse_doubles(rest, scratch, want) == want, "%s: probs", c->name);
            for (long i = 0; i < want && i < MAX_N * 8; i++) c->probs[i] = (float)scratch[i];
            c->has_probs = 1;
        } else if (KEY("precision") || KEY("recall") || KEY("f1")) {
            double *dst = KEY("precision") ? c->precision : KEY("recall") ? c->recall : c->f1;
            CHECK(parse_doubles(rest, dst, c->k) == c->k, "%s: %.*s", c->name, (int)kl, line);
        } else if (KEY("accuracy") || KEY("balanced_accuracy") || KEY("log_loss")) {
            double *dst = KEY("accuracy") ? &c->accuracy : KEY("log_loss") ? &c->log_loss : &c->balanced_accuracy;
            CHECK(parse_doubles(rest, dst, 1) == 1, "%s: %.*s", c->name, (int)kl, line);
        } else if (KEY("macro") || KEY("weighted")) {
            CHECK(parse_doubles(rest, KEY("macro") ? c->macro : c->weighted, 3) == 3, "%s: averages", c->name);
        } else if (KEY("report")) {
            report_left = atoi(rest);
            CHECK(report_left > 0 && report_left <= MAX_LINES, "%s: report lines %d", c->name, report_left);
        } else if (KEY("end")) {
            return in_case;
        } else {
            CHECK(0, "unknown fixture line '%s'", line);
        }
#undef KEY
    }
    return 0;
}

static int close_to(double got, double want) { return fabs(got - want) <= 1e-12 + 1e-12 * fabs(want); }

static void check_metrics(const fixture_case *c, const sermo_metrics *m) {
    CHECK(m->n == c->n && m->n_classes == c->k, "%s: sizes", c->name);
    long bad = 0;
    for (int32_t i = 0; i < c->k * c->k; i++) bad += m->confusion[i] != c->confusion[i];
    CHECK(bad == 0, "%s: %ld confusion cells differ", c->name, bad);
    for (int32_t k = 0; k < c->k; k++) {
        CHECK(m->support[k] == c->support[k], "%s: support[%d] %lld want %lld", c->name, k, (long long)m->support[k],
              (long long)c->support[k]);
        CHECK(close_to(m->precision[k], c->precision[k]), "%s: precision[%d] %.17g want %.17g", c->name, k,
              m->precision[k], c->precision[k]);
        CHECK(close_to(m->recall[k], c->recall[k]), "%s: recall[%d] %.17g want %.17g", c->name, k, m->recall[k],
              c->recall[k]);
        CHECK(close_to(m->f1[k], c->f1[k]), "%s: f1[%d] %.17g want %.17g", c->name, k, m->f1[k], c->f1[k]);
    }
    CHECK(close_to(m->accuracy, c->accuracy), "%s: accuracy %.17g want %.17g", c->name, m->accuracy, c->accuracy);
    CHECK(close_to(m->balanced_accuracy, c->balanced_accuracy), "%s: balanced accuracy %.17g want %.17g", c->name,
          m->balanced_accuracy, c->balanced_accuracy);
    const double got_macro[3] = {m->macro_precision, m->macro_recall, m->macro_f1};
    const double got_weighted[3] = {m->weighted_precision, m->weighted_recall, m->weighted_f1};
    for (int i = 0; i < 3; i++) {
        CHECK(close_to(got_macro[i], c->macro[i]), "%s: macro[%d] %.17g want %.17g", c->name, i, got_macro[i],
              c->macro[i]);
        CHECK(close_to(got_weighted[i], c->weighted[i]), "%s: weighted[%d] %.17g want %.17g", c->name, i,
              got_weighted[i], c->weighted[i]);
    }
    CHECK(m->uar == m->macro_recall, "%s: uar is macro recall", c->name);
    if (c->has_probs)
        CHECK(fabs(m->log_loss - c->log_loss) < 1e-9, "%s: log loss %.17g want %.17g", c->name, m->log_loss,
              c->log_loss);
    else
        CHECK(isnan(m->log_loss), "%s: log loss from labels is NaN", c->name);
}

/* The text, split at newlines, equals the fixture's lines exactly. */
static void check_report_text(const fixture_case *c, const char *text) {
    char *copy = strdup(text), *p = copy, *line;
    int32_t i = 0;
    size_t len = strlen(text);
    CHECK(len > 0 && text[len - 1] == '\n', "%s: report ends with a newline", c->name);
    if (len) copy[len - 1] = 0;
    while ((line = strsep(&p, "\n")) != NULL) {
        if (i < c->n_lines)
            CHECK(strcmp(line, c->lines[i]) == 0, "%s: report line %d\n  got  '%s'\n  want '%s'", c->name, i, line,
                  c->lines[i]);
        i++;
    }
    CHECK(i == c->n_lines, "%s: report has %d lines, want %d", c->name, i, c->n_lines);
    free(copy);
}

/* The number after "key": in text, or NAN. */
static double json_value(const char *text, const char *key) {
    char pattern[80];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = strstr(text, pattern);
    double v;
    if (!at || sscanf(at + strlen(pattern), "%lf", &v) != 1) return NAN;
    return v;
}

static void check_json(const char *dir, const fixture_case *c, const sermo_metrics *m) {
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    sermo_error err = {0};
    const sermo_report_field extra[] = {
        {"split", "test", 0}, {"epoch", NULL, 12}, {"loss", NULL, 0.53125}, {"nan_loss", NULL, NAN},
        {"note", "quote \" backslash \\ tab\t newline\n bell\x07 bad\xff utf8 \xc3\xbc", 0},
    };
    sermo_status st = sermo_report_metrics_json(path, m, c->names, extra, 5, &err);
    CHECK(st == SERMO_OK, "%s: json: %s", c->name, err.msg);
    char *text = read_text(path);
    CHECK(text != NULL, "%s: read back", path);
    if (!text) return;
    CHECK(json_value(text, "accuracy") == m->accuracy, "%s: accuracy round trip", c->name);
    CHECK(json_value(text, "uar") == m->uar, "%s: uar round trip", c->name);
    CHECK(json_value(text, "macro_f1") == m->macro_f1, "%s: macro_f1 round trip", c->name);
    CHECK(json_value(text, "weighted_precision") == m->weighted_precision, "%s: weighted_precision", c->name);
    CHECK(json_value(text, "balanced_accuracy") == m->balanced_accuracy, "%s: balanced_accuracy", c->name);
    CHECK(json_value(text, "epoch") == 12 && json_value(text, "loss") == 0.53125, "%s: extras", c->name);
    CHECK(json_value(text, "n") == (double)c->n && json_value(text, "n_classes") == c->k, "%s: sizes", c->name);
    CHECK(strstr(text, "\"split\": \"test\"") != NULL, "split string");
    CHECK(strstr(text, "\"nan_loss\": null") != NULL, "NaN as null");
    CHECK(strstr(text, "\"log_loss\": null") != NULL || c->has_probs, "log loss null from labels");
    CHECK(strstr(text, "\"quote \\\" backslash \\\\ tab\\t newline\\n bell\\u0007 bad\\ufffd utf8 \xc3\xbc\"") != NULL,
          "escaped string");
    /* Every control character escaped: no raw byte < 0x20 but newlines. */
    int raw = 0;
    for (const char *p = text; *p; p++) raw += (unsigned char)*p < 0x20 && *p != '\n';
    CHECK(raw == 0, "%d raw control bytes", raw);
    /* The first confusion row and a per-class entry, as written. */
    char want[256];
    int off = snprintf(want, sizeof want, "\"confusion_matrix\": [\n    [");
    for (int32_t j = 0; j < c->k && off < (int)sizeof want; j++)
        off += snprintf(want + off, sizeof want - (size_t)off, "%s%lld", j ? ", " : "", (long long)c->confusion[j]);
    CHECK(strstr(text, want) != NULL, "%s: confusion row 0 '%s'", c->name, want);
    snprintf(want, sizeof want, "{\"name\": \"%s\", \"precision\": ", c->names[c->k - 1]);
    const char *at = strstr(text, want);
    double p = NAN, r = NAN, f = NAN;
    long long s = -1;
    CHECK(at && sscanf(at + strlen(want), "%lf, \"recall\": %lf, \"f1\": %lf, \"support\": %lld", &p, &r, &f, &s) == 4,
          "%s: last class entry", c->name);
    CHECK(p == m->precision[c->k - 1] && r == m->recall[c->k - 1] && f == m->f1[c->k - 1] &&
              s == (long long)c->support[c->k - 1],
          "%s: last class values", c->name);
    /* Braces and brackets balance outside strings. */
    int depth = 0, in_str = 0, min_depth = 0;
    for (const char *q = text; *q; q++) {
        if (in_str) {
            if (*q == '\\') q++;
            else if (*q == '"') in_str = 0;
        } else if (*q == '"') in_str = 1;
        else if (*q == '{' || *q == '[') depth++;
        else if (*q == '}' || *q == ']') depth--;
        if (depth < min_depth) min_depth = depth;
    }
    CHECK(depth == 0 && min_depth == 0 && !in_str, "%s: json nesting", c->name);
    free(text);

    /* Extras may not shadow a metric or repeat. */
    const sermo_report_field clash[] = {{"accuracy", NULL, 1}};
    st = sermo_report_metrics_json(path, m, c->names, clash, 1, &err);
    CHECK(st == SERMO_ERR_INVALID && strstr(err.msg, "accuracy"), "clash: %d %s", st, err.msg);
    const sermo_report_field twice[] = {{"epoch", NULL, 1}, {"epoch", NULL, 2}};
    st = sermo_report_metrics_json(path, m, c->names, twice, 2, &err);
    CHECK(st == SERMO_ERR_INVALID, "repeated key: %d", st);
}

static void test_fixture(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/report/metrics.txt", check_source_dir());
    char *text = read_text(path);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    char *cursor = text;
    static fixture_case c;
    static sermo_metrics m;
    int cases = 0, seen_micro = 0;
    while (next_case(&cursor, &c)) {
        cases++;
        sermo_error err = {0};
        sermo_status st = c.has_probs ? sermo_metrics_compute_probs(c.y_true, c.probs, c.n, c.k, &m, &err)
                                      : sermo_metrics_compute(c.y_true, c.y_pred, c.n, c.k, &m, &err);
        CHECK(st == SERMO_OK, "%s: %s", c.name, err.msg);
        if (st != SERMO_OK) continue;
        check_metrics(&c, &m);
        if (c.has_probs) { /* argmax predictions give the same matrix as labels */
            static sermo_metrics m2;
            CHECK(sermo_metrics_compute(c.y_true, c.y_pred, c.n, c.k, &m2, &err) == SERMO_OK, "probs as labels");
            CHECK(memcmp(m2.confusion, m.confusion, sizeof m.confusion) == 0, "argmax matches sklearn's");
        }

        char buf[8192];
        size_t need = sermo_metrics_format_report(&m, c.names, 4, buf, sizeof buf);
        CHECK(need == strlen(buf), "%s: format length %zu", c.name, need);
        check_report_text(&c, buf);
        for (int32_t i = 0; i < c.n_lines; i++) seen_micro += strstr(c.lines[i], "micro avg") != NULL;
        /* snprintf-style truncation */
        char small[20];
        CHECK(sermo_metrics_format_report(&m, c.names, 4, small, sizeof small) == need && strlen(small) == 19,
              "truncated format");

        snprintf(path, sizeof path, "%s/classification_report.txt", dir);
        st = sermo_report_classification_txt(path, &m, c.names, &err);
        CHECK(st == SERMO_OK, "%s: txt: %s", c.name, err.msg);
        char *file = read_text(path);
        CHECK(file && strcmp(file, buf) == 0, "%s: file equals the formatted report", c.name);
        free(file);
        check_json(dir, &c, &m);
    }
    CHECK(cases == 6, "%d fixture cases", cases);
    CHECK(seen_micro == 1, "the absent-class case labels its micro average");
    free(text);
}

static void test_hand_cases(void) {
    /* Three classes, class 2 never predicted and class 1 never true. */
    const int32_t t[] = {0, 0, 0, 2, 2}, p[] = {0, 0, 1, 0, 1};
    sermo_metrics m;
    sermo_error err = {0};
    CHECK(sermo_metrics_compute(t, p, 5, 3, &m, &err) == SERMO_OK, "%s", err.msg);
    CHECK(m.confusion[0] == 2 && m.confusion[1] == 1 && m.confusion[6] == 1 && m.confusion[7] == 1, "confusion");
    CHECK(m.precision[0] == 2.0 / 3 && m.recall[0] == 2.0 / 3 && m.precision[2] == 0 && m.recall[1] == 0, "p/r");
    CHECK(m.accuracy == 0.4, "accuracy %g", m.accuracy);
    CHECK(fabs(m.uar - (2.0 / 3) / 3) < 1e-15, "uar over all classes %g", m.uar);
    CHECK(fabs(m.balanced_accuracy - (2.0 / 3) / 2) < 1e-15, "balanced accuracy over present classes %g",
          m.balanced_accuracy);
    /* default class names are the indices */
    char buf[2048];
    sermo_metrics_format_report(&m, NULL, 2, buf, sizeof buf);
    CHECK(strstr(buf, "\n           0       0.67      0.67      0.67         3\n") != NULL, "numbered rows:\n%s", buf);
    CHECK(strstr(buf, "   micro avg       0.40      0.40      0.40         5\n") == NULL &&
              strstr(buf, "    accuracy                           0.40         5\n") != NULL,
          "accuracy line when every class is seen:\n%s", buf);

    /* bad input */
    const int32_t bad[] = {0, 3};
    CHECK(sermo_metrics_compute(bad, bad, 2, 3, &m, &err) == SERMO_ERR_INVALID && strstr(err.msg, "sample 1"),
          "label out of range: %s", err.msg);
    CHECK(sermo_metrics_compute(t, p, 0, 3, &m, &err) == SERMO_ERR_EMPTY, "no samples");
    CHECK(sermo_metrics_compute(t, p, 5, 0, &m, &err) == SERMO_ERR_INVALID, "no classes");
    CHECK(sermo_metrics_compute(t, p, 5, MAX_K + 1, &m, &err) == SERMO_ERR_INVALID, "too many classes");
    const float probs[] = {0.2f, 0.8f, -0.1f, 1.1f};
    CHECK(sermo_metrics_compute_probs(t, probs, 2, 2, &m, &err) == SERMO_ERR_INVALID && strstr(err.msg, "sample 1"),
          "negative probability: %s", err.msg);
    /* ties go to the first class; unnormalised rows are renormalised */
    const float tie[] = {2, 2, 1, 3};
    const int32_t tt[] = {0, 1};
    CHECK(sermo_metrics_compute_probs(tt, tie, 2, 2, &m, &err) == SERMO_OK && m.accuracy == 1, "argmax tie");
    CHECK(fabs(m.log_loss - (-log(0.5) - log(0.75)) / 2) < 1e-12, "log loss renormalised %g", m.log_loss);
}

static void test_write_errors(const char *dir) {
    const int32_t t[] = {0, 1}, p[] = {0, 1};
    sermo_metrics m;
    sermo_error err = {0};
    CHECK(sermo_metrics_compute(t, p, 2, 2, &m, &err) == SERMO_OK, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/classification_report.txt", dir);
    sermo_status st = sermo_report_classification_txt(path, &m, NULL, &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, path), "txt missing dir: %d %s", st, err.msg);
    snprintf(path, sizeof path, "%s/no/such/dir/metrics.json", dir);
    memset(&err, 0, sizeof err);
    st = sermo_report_metrics_json(path, &m, NULL, NULL, 0, &err);
    CHECK(st == SERMO_ERR_IO && strstr(err.msg, path), "json missing dir: %d %s", st, err.msg);
    CHECK(sermo_report_metrics_json(path, NULL, NULL, NULL, 0, &err) == SERMO_ERR_INVALID, "no metrics");
    /* no temporary files left behind by the successful writes */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 2", dir);
    CHECK(system(cmd) == 0, "only the two reports in %s", dir);
}

int main(void) {
    char dir[] = "/tmp/sermo_metrics_XXXXXX";
    if (!mkdtemp(dir)) SKIP("cannot create a temporary directory");
    test_fixture(dir);
    test_hand_cases();
    test_write_errors(dir);
    char cmd[600];
    if (getenv("SERMO_KEEP_REPORTS")) {
        fprintf(stderr, "kept %s\n", dir);
    } else {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "cleanup");
    }
    return check_report();
}
