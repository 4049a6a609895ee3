/* cmd_data.c: `sermo data stats|fetch|verify`. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *data_usage =
    "usage: sermo data stats PATH [--json] [data.kind=K data.target=T data.labels=native|common6]\n"
    "       sermo data fetch ravdess --to DIR\n"
    "       sermo data verify DIR --sha256 LIST\n"
    "\n"
    "stats   files per class and speaker, sample rates, channels, durations and\n"
    "        unreadable files of a corpus folder or CSV manifest (--json: as JSON)\n"
    "fetch   download RAVDESS speech (Audio_Speech_Actors_01-24.zip) from its\n"
    "        official record and unpack it into DIR, checking the archive's CRCs\n"
    "verify  check files under DIR against a 'path<TAB>sha256<TAB>size' list\n";

/* A small string -> count table, kept in first-seen order. */
typedef struct tally {
    char **keys;
    int64_t *counts;
    int n, cap;
} tally;

static void tally_add(tally *t, const char *key, int64_t by) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->keys[i], key)) {
            t->counts[i] += by;
            return;
        }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->keys = realloc(t->keys, sizeof *t->keys * (size_t)t->cap);
        t->counts = realloc(t->counts, sizeof *t->counts * (size_t)t->cap);
        if (!t->keys || !t->counts) abort(); /* the CLI may stop on OOM; the library may not */
    }
    t->keys[t->n] = strdup(key);
    t->counts[t->n++] = by;
}

static void tally_free(tally *t) {
    for (int i = 0; i < t->n; i++) free(t->keys[i]);
    free(t->keys);
    free(t->counts);
}

static cJSON *tally_json(const tally *t) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < t->n; i++) cJSON_AddNumberToObject(o, t->keys[i], (double)t->counts[i]);
    return o;
}

static void tally_print(const char *title, const tally *t) {
    printf("%s (%d):\n", title, t->n);
    for (int i = 0; i < t->n; i++) printf("  %-24s %lld\n", t->keys[i], (long long)t->counts[i]);
}

typedef struct corpus_stats {
    tally classes, speakers, rates, channels, formats;
    int64_t files, readable;
    double dur_min, dur_max, dur_sum;
    char **unreadable;   /* "path: reason" */
    char **multichannel; /* paths with more than one channel */
    int64_t n_unreadable, n_multichannel;
} corpus_stats;

static void push(char ***list, int64_t *n, const char *s) {
    *list = realloc(*list, sizeof **list * (size_t)(*n + 1));
    if (!*list) abort();
    (*list)[(*n)++] = strdup(s);
}

static void collect(const sermo_corpus *c, corpus_stats *s) {
    cli_progress bar;
    cli_progress_init(&bar, "reading headers");
    s->dur_min = 1e300;
    s->files = sermo_corpus_size(c);
    for (int64_t i = 0; i < s->files; i++) {
        const sermo_item *it = sermo_corpus_item(c, i);
        tally_add(&s->classes, sermo_corpus_class_name(c, it->label), 1);
        tally_add(&s->speakers, it->speaker ? it->speaker : "(none)", 1);
        sermo_audio_info info;
        sermo_error err;
        if (sermo_audio_probe_file(it->path, &info, &err) != SERMO_OK) {
            push(&s->unreadable, &s->n_unreadable, err.msg);
        } else {
            char key[32];
            s->readable++;
            snprintf(key, sizeof key, "%d", info.sample_rate);
            tally_add(&s->rates, key, 1);
            snprintf(key, sizeof key, "%d", info.channels);
            tally_add(&s->channels, key, 1);
            tally_add(&s->formats, info.format, 1);
            if (info.channels > 1) push(&s->multichannel, &s->n_multichannel, it->path);
            double d = info.sample_rate > 0 ? (double)info.frames / info.sample_rate : 0;
            if (d < s->dur_min) s->dur_min = d;
            if (d > s->dur_max) s->dur_max = d;
            s->dur_sum += d;
        }
        cli_progress_update(i + 1, s->files, NULL, &bar);
    }
}

static void print_stats(const char *path, const sermo_corpus *c, const corpus_stats *s) {
    printf("corpus: %s\n", path);
    printf("clips: %lld (readable %lld, unreadable %lld, skipped by name or label %lld)\n",
           (long long)s->files, (long long)s->readable, (long long)s->n_unreadable,
           (long long)sermo_corpus_n_dropped(c));
    printf("classes: %d, speakers: %d\n", s->classes.n, s->speakers.n);
    tally_print("files per class", &s->classes);
    tally_print("files per speaker", &s->speakers);
    tally_print("sample rates (Hz)", &s->rates);
    tally_print("channels", &s->channels);
    tally_print("formats", &s->formats);
    if (s->readable)
        printf("duration (s): min %.3f  mean %.3f  max %.3f  total %.1f\n", s->dur_min,
               s->dur_sum / s->readable, s->dur_max, s->dur_sum);
    printf("multi-channel files (%lld):\n", (long long)s->n_multichannel);
    for (int64_t i = 0; i < s->n_multichannel; i++) printf("  %s\n", s->multichannel[i]);
    printf("unreadable files (%lld):\n", (long long)s->n_unreadable);
    for (int64_t i = 0; i < s->n_unreadable; i++) printf("  %s\n", s->unreadable[i]);
}

static void print_stats_json(const char *path, const sermo_corpus *c, const corpus_stats *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "corpus", path);
    cJSON_AddNumberToObject(o, "clips", (double)s->files);
    cJSON_AddNumberToObject(o, "readable", (double)s->readable);
    cJSON_AddNumberToObject(o, "skipped", (double)sermo_corpus_n_dropped(c));
    cJSON_AddNumberToObject(o, "n_classes", s->classes.n);
    cJSON_AddNumberToObject(o, "n_speakers", s->speakers.n);
    cJSON_AddItemToObject(o, "classes", tally_json(&s->classes));
    cJSON_AddItemToObject(o, "speakers", tally_json(&s->speakers));
    cJSON_AddItemToObject(o, "sample_rates", tally_json(&s->rates));
    cJSON_AddItemToObject(o, "channels", tally_json(&s->channels));
    cJSON_AddItemToObject(o, "formats", tally_json(&s->formats));
    cJSON *d = cJSON_AddObjectToObject(o, "duration_s");
    cJSON_AddNumberToObject(d, "min", s->readable ? s->dur_min : 0);
    cJSON_AddNumberToObject(d, "mean", s->readable ? s->dur_sum / s->readable : 0);
    cJSON_AddNumberToObject(d, "max", s->dur_max);
    cJSON_AddItemToObject(o, "multichannel",
                          cJSON_CreateStringArray((const char *const *)s->multichannel, (int)s->n_multichannel));
    cJSON_AddItemToObject(o, "unreadable",
                          cJSON_CreateStringArray((const char *const *)s->unreadable, (int)s->n_unreadable));
    char *text = cJSON_Print(o);
    puts(text);
    free(text);
    cJSON_Delete(o);
}

static void stats_free(corpus_stats *s) {
    tally_free(&s->classes);
    tally_free(&s->speakers);
    tally_free(&s->rates);
    tally_free(&s->channels);
    tally_free(&s->formats);
    for (int64_t i = 0; i < s->n_unreadable; i++) free(s->unreadable[i]);
    for (int64_t i = 0; i < s->n_multichannel; i++) free(s->multichannel[i]);
    free(s->unreadable);
    free(s->multichannel);
}

static int data_stats(int argc, char **argv) {
    int json = 0;
    cli_flag flags[] = {{"--json", NULL, &json}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    if (args.n_positional != 1) {
        cli_args_free(&args);
        fputs(data_usage, stderr);
        return 2;
    }
    const char *path = args.positional[0];
    sermo_corpus *c;
    if (cli_open_corpus(args.config, path, &c)) {
        cli_args_free(&args);
        return 1;
    }
    corpus_stats s = {0};
    collect(c, &s);
    if (json) print_stats_json(path, c, &s);
    else print_stats(path, c, &s);
    int rc = s.n_unreadable ? 1 : 0; /* unreadable files are worth a non-zero exit */
    stats_free(&s);
    sermo_corpus_free(c);
    cli_args_free(&args);
    return rc;
}

static int data_fetch(int argc, char **argv) {
    const char *to = NULL;
    cli_flag flags[] = {{"--to", &to, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int n = args.n_positional;
    const char *corpus = n ? args.positional[0] : NULL;
    cli_args_free(&args);
    if (n != 1 || !to) {
        fputs(data_usage, stderr);
        return 2;
    }
    cli_progress bar;
    cli_progress_init(&bar, "downloading");
    sermo_error err;
    if (sermo_data_fetch(corpus, to, cli_progress_update, &bar, &err) != SERMO_OK)
        return cli_error("%s", err.msg);
    printf("%s unpacked into %s\n", corpus, to);
    return 0;
}

static int data_verify(int argc, char **argv) {
    const char *list = NULL;
    cli_flag flags[] = {{"--sha256", &list, NULL}, {NULL, NULL, NULL}};
    cli_args args;
    if (cli_parse(argc, argv, flags, &args)) return 2;
    int n = args.n_positional;
    const char *dir = n ? args.positional[0] : NULL;
    cli_args_free(&args);
    if (n != 1 || !list) {
        fputs(data_usage, stderr);
        return 2;
    }
    cli_progress bar;
    cli_progress_init(&bar, "hashing");
    sermo_verify_result r;
    sermo_error err;
    sermo_status st = sermo_data_verify(dir, list, &r, cli_progress_update, &bar, &err);
    if (st != SERMO_OK && st != SERMO_ERR_CHECKSUM) return cli_error("%s", err.msg);
    printf("checked %lld files: %lld ok, %lld mismatched; %lld other listed files of the same folders "
           "are not present\n",
           (long long)r.checked, (long long)r.ok, (long long)r.mismatched, (long long)r.missing);
    if (st == SERMO_ERR_CHECKSUM) return cli_error("%s", err.msg);
    return 0;
}

int cli_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(data_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cli_wants_help(argc, argv)) {
        fputs(data_usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "stats")) return data_stats(argc - 1, argv + 1);
    if (!strcmp(argv[1], "fetch")) return data_fetch(argc - 1, argv + 1);
    if (!strcmp(argv[1], "verify")) return data_verify(argc - 1, argv + 1);
    cli_error("data: unknown subcommand '%s'", argv[1]);
    fputs(data_usage, stderr);
    return 2;
}
