/*
 * csv.c — loading a dataset from a delimited text file (',', ';' or tab),
 * from a file or from memory.
 *
 * It is a strict reader for numeric tables with, at most, named class
 * labels, not a general CSV library: no missing values, and quoting only
 * as far as RFC 4180 goes within one line. The syntax (lines, fields,
 * numbers, delimiters) is csv_syntax.c's; this file gives lines their
 * meaning. The file is never trusted. Two streaming passes share one line
 * reader: pass 1
 * validates every row and counts rows and fields, pass 2 parses the same
 * bytes again straight into arrays sized from pass 1. The whole file is
 * never held in memory; besides the dataset itself (at most about 2 x the
 * file size, since every value costs at least two bytes of text) only a
 * line buffer of max_line bytes, a 64 KiB chunk, a copy of the first line
 * while pass 1 decides whether it is a header, and for named classes the
 * names (csv_names.c) are used.
 *
 * Labels: a label column of whole numbers holds class indices; one that
 * holds anything else holds class names, which are collected in pass 2
 * (pass 1 only learns which of the two it is) and numbered in byte order
 * at the end. Errors that depend on which it is are kept from pass 1 and
 * reported once that is known (csv_later).
 */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv_internal.h"
#include "fileio.h"
#include "status.h"

void nb_csv_options_default(nb_csv_options *opt)
{
    if (opt) *opt = (nb_csv_options){.header = -1, .label_col = -1};
}

static void later(csv_later *e, size_t line, size_t col, const char *fmt, ...) NB_PRINTF(4, 5);
static void later(csv_later *e, size_t line, size_t col, const char *fmt, ...)
{
    if (e->st != NB_OK) return; /* the first one in file order counts */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof e->why, fmt, ap);
    va_end(ap);
    e->st = NB_ERR_DATA;
    e->line = line;
    e->col = col;
}

static nb_status raise_later(const struct csv_ctx *c, const csv_later *e)
{
    if (e->st == NB_OK) return NB_OK;
    return NB_FAIL(e->st, AT_FMT "%s", AT(c, e->line, e->col), e->why);
}

/* ----------------------------------------------------------- one line */

static int classifying(const csv_ctx *c)
{
    return !c->o.regression && c->o.targets == 0 && !c->o.features_only;
}

/* The first row, s (n bytes, nf fields), fixes the field count and which
 * columns are targets. */
static nb_status setup_columns(csv_ctx *c, const char *s, size_t n, size_t nf, size_t lineno)
{
    char hint[64];
    c->nfields = nf;
    c->first_line = lineno;
    if (nf > INT32_MAX)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "%zu fields are too many", AT(c, lineno, 1), nf);
    if (c->o.features_only) { /* no target columns at all */
        c->ntgt = 0;
        c->tcol0 = nf;
        return NB_OK;
    }
    if (c->o.targets > 0) {
        if ((size_t)c->o.targets >= nf)
            return NB_FAIL(NB_ERR_ARG,
                           "%s: %s: targets = %d leaves no feature column in rows of %zu fields "
                           "separated by '%s'", c->call, c->name, c->o.targets, nf,
                           csv_delim_shown(c->delim));
        c->ntgt = (size_t)c->o.targets;
        c->tcol0 = nf - c->ntgt;
        return NB_OK;
    }
    if (nf < 2)
        return NB_FAIL(NB_ERR_DATA,
                       AT_FMT "a row needs a feature and a label, got %zu field separated by "
                       "'%s'%s", AT(c, lineno, 1), nf, csv_delim_shown(c->delim),
                       csv_delim_hint(c, s, n, hint, sizeof hint));
    if (c->o.label_col >= 0 && (size_t)c->o.label_col >= nf)
        return NB_FAIL(NB_ERR_ARG, "%s: %s: label_col = %d is outside rows of %zu fields", c->call,
                       c->name, c->o.label_col, nf);
    c->ntgt = 1;
    c->tcol0 = c->o.label_col < 0 ? nf - 1 : (size_t)c->o.label_col;
    return NB_OK;
}

enum { LINE1_DATA, LINE1_HEADER, LINE1_HELD };

/*
 * Header detection (header = -1) for the first line s (n bytes, nf
 * fields). A field that is empty or not number-like makes it a header;
 * NaN, Inf and out-of-range numbers count as numbers here, so a data row
 * holding one is reported as bad data instead of silently dropped. One
 * exception: when that field is only the label (classification), the line
 * may be the first row of a file whose labels are class names, and it is
 * held (LINE1_HELD) until hold_decide knows more.
 */
static nb_status first_line_kind(const csv_ctx *c, char *s, size_t n, size_t nf, size_t lineno,
                                 int *kind)
{
    size_t label = SIZE_MAX, j = 0;
    if (classifying(c)) label = c->o.label_col < 0 ? nf - 1 : (size_t)c->o.label_col;
    int feature_text = 0, label_text = 0;
    field f;
    for (size_t a = 0; a <= n; a = f.end + 1, j++) {
        float v;
        NB_TRY(csv_next_field(c, s, n, a, lineno, &f));
        int text = f.t0 == f.t1 || csv_parse_real(s + f.t0, f.t1 - f.t0, &v) == NUM_BAD;
        if (j == label)
            label_text = text;
        else
            feature_text |= text;
    }
    *kind = feature_text ? LINE1_HEADER : label_text ? LINE1_HELD : LINE1_DATA;
    return NB_OK;
}

/* The label of data row r in field f of s: validated in pass 1, stored in
 * pass 2 as a class index or, for names of the file's own, an id that
 * csv_names_finish turns into one. */
static nb_status parse_label_field(csv_ctx *c, const char *s, const field *f, size_t r,
                                   size_t lineno)
{
    char txt[CSV_SHOW + 4], name[CSV_NAME_MAX + 1], list[256];
    size_t t0 = f->t0, t1 = f->t1, col = csv_col_of(s, t0);
    long v = 0;
    int k = c->have_known ? NUM_BAD : csv_parse_label(s + t0, t1 - t0, &v);
    if (k != NUM_BAD && !(c->d && c->names)) { /* a whole number, taken as one */
        if (c->d) {
            c->d->labels[r] = (int32_t)v; /* checked in pass 1 */
            return NB_OK;
        }
        /* Errors only if every label is a number; as a name it must fit. */
        if (t1 - t0 > CSV_NAME_MAX)
            later(&c->if_names, lineno, col, "class name '%s' is longer than %d bytes",
                  csv_shown(txt, s + t0, t1 - t0), CSV_NAME_MAX);
        if (k == NUM_RANGE)
            later(&c->if_numbers, lineno, col, "class label '%s' is too large",
                  csv_shown(txt, s + t0, t1 - t0));
        else if (v >= c->label_limit && c->o.classes == 0)
            later(&c->if_numbers, lineno, col,
                  "label %ld: at most %d classes are inferred; give the class count", v,
                  CSV_MAX_CLASSES);
        else if (v >= c->label_limit)
            later(&c->if_numbers, lineno, col, "label %ld >= classes %ld", v, c->label_limit);
        else if (v > c->max_label)
            c->max_label = v;
        return NB_OK;
    }
    /* A number that is not a whole one (-1, 0.5, 1e3) is no class, nor a
     * name: most likely a real-valued target without --regression. */
    char num[64];
    float real;
    if (!c->have_known && k == NUM_BAD && t1 > t0 && t1 - t0 < sizeof num &&
        (memcpy(num, s + t0, t1 - t0), csv_parse_real(num, t1 - t0, &real) != NUM_BAD))
        return NB_FAIL(NB_ERR_DATA, AT_FMT "class label '%s' is not a whole number 0, 1, ... (for "
                                    "a real-valued target use --regression)", AT(c, lineno, col),
                       csv_shown(txt, s + t0, t1 - t0));
    /* A name. */
    if (c->d && !c->names) /* only if the file changed since pass 1 */
        return NB_FAIL(NB_ERR_IO, "%s: %s: the file changed while it was being read", c->call,
                       c->name);
    size_t len = csv_name_of(s, f, name);
    const char *why = csv_name_invalid(name, len);
    if (why)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "class name '%s' %s", AT(c, lineno, col),
                       csv_shown(txt, name, len), why);
    if (c->have_known) {
        int cls = csv_known_find(&c->known, name, len);
        if (cls < 0) {
            csv_known_list(&c->known, list, sizeof list);
            return NB_FAIL(NB_ERR_DATA, AT_FMT "unknown class '%s'; the classes are %s",
                           AT(c, lineno, col), csv_shown(txt, name, len), list);
        }
        if (c->d) c->d->labels[r] = cls;
        return NB_OK;
    }
    if (!c->d) {
        c->any_name = 1;
        return NB_OK;
    }
    int32_t id;
    NB_TRY(csv_names_intern(&c->table, name, len, &id));
    if (c->o.classes > 0 && id >= c->o.classes)
        return NB_FAIL(NB_ERR_DATA,
                       AT_FMT "class name '%s' makes %d distinct class names, but classes = %d",
                       AT(c, lineno, col), csv_shown(txt, name, len), (int)id + 1, c->o.classes);
    if (id >= CSV_MAX_CLASSES)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "class name '%s': more than %d class names",
                       AT(c, lineno, col), csv_shown(txt, name, len), CSV_MAX_CLASSES);
    c->d->labels[r] = id;
    return NB_OK;
}

/* Field j (f) of s, of data row r. */
static nb_status parse_field(csv_ctx *c, char *s, const field *f, size_t j, size_t r,
                             size_t lineno)
{
    char txt[CSV_SHOW + 4];
    size_t t0 = f->t0, t1 = f->t1;
    if (t0 == t1)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "empty field", AT(c, lineno, csv_col_of(s, f->a)));
    int is_target = j >= c->tcol0 && j - c->tcol0 < c->ntgt;
    if (is_target && classifying(c)) return parse_label_field(c, s, f, r, lineno);
    float v = 0.0f;
    int k = csv_parse_real(s + t0, t1 - t0, &v);
    if (k != NUM_OK) {
        const char *why = k == NUM_NONFINITE ? "NaN and Inf are not accepted, got '%s'"
                          : k == NUM_RANGE   ? "'%s' is outside the float range"
                                             : "expected a number, got '%s'";
        /* "1,5" inside a ';' or tab file is most likely a decimal comma. */
        int comma = k == NUM_BAD && c->delim != ',' && memchr(s + t0, ',', t1 - t0);
        char msg[128];
        snprintf(msg, sizeof msg, why, csv_shown(txt, s + t0, t1 - t0));
        return NB_FAIL(NB_ERR_DATA, AT_FMT "%s%s", AT(c, lineno, csv_col_of(s, t0)), msg,
                       comma ? " (the decimal point must be '.')" : "");
    }
    if (!c->d) return NB_OK;
    if (is_target)
        c->d->y[r * c->ntgt + (j - c->tcol0)] = v;
    else
        c->d->x[r * (c->nfields - c->ntgt) + (j < c->tcol0 ? j : j - c->ntgt)] = v;
    return NB_OK;
}

static nb_status parse_row(csv_ctx *c, char *s, size_t n, size_t lineno)
{
    if (c->rows >= INT32_MAX)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "more than %d data rows", AT(c, lineno, 1), INT32_MAX);
    if (c->d && c->rows >= c->d->rows)
        return NB_FAIL(NB_ERR_IO, "%s: %s: the file changed while it was being read", c->call,
                       c->name);
    size_t r = c->rows++, j = 0;
    field f;
    for (size_t a = 0; a <= n; a = f.end + 1) {
        NB_TRY(csv_next_field(c, s, n, a, lineno, &f));
        NB_TRY(parse_field(c, s, &f, j++, r, lineno));
    }
    return NB_OK;
}

/* The fields of s (n), with the quoting of each checked (delimiters
 * inside quotes do not separate), and where field number stop + 1 starts
 * (n if there is none). */
static nb_status count_fields(const csv_ctx *c, const char *s, size_t n, size_t lineno,
                              size_t stop, size_t *count, size_t *extra)
{
    field f;
    *count = 0;
    *extra = n;
    for (size_t a = 0; a <= n; a = f.end + 1) {
        NB_TRY(csv_next_field(c, s, n, a, lineno, &f));
        if ((*count)++ == stop) *extra = f.a;
    }
    return NB_OK;
}

/* A data row s (n bytes) of line lineno: its field count against the
 * first row's, then its fields. */
static nb_status data_line(csv_ctx *c, char *s, size_t n, size_t lineno)
{
    size_t count, extra;
    char hint[64];
    NB_TRY(count_fields(c, s, n, lineno, c->nfields, &count, &extra));
    if (c->nfields == 0) {
        NB_TRY(setup_columns(c, s, n, count, lineno));
    } else if (count == 1 && c->nfields > 1) {
        /* One field where several are expected: most likely the wrong
         * delimiter, so say which one was used and which would split it. */
        return NB_FAIL(NB_ERR_DATA, AT_FMT "expected %zu fields separated by '%s' but found 1%s",
                       AT(c, lineno, csv_col_of(s, n)), c->nfields, csv_delim_shown(c->delim),
                       csv_delim_hint(c, s, n, hint, sizeof hint));
    } else if (count != c->nfields) {
        /* Point at the first extra field, or at the end of a short row. */
        return NB_FAIL(NB_ERR_DATA, AT_FMT "expected %zu fields, got %zu (as on line %zu)",
                       AT(c, lineno, csv_col_of(s, count > c->nfields ? extra : n)), c->nfields,
                       count, c->first_line);
    }
    return parse_row(c, s, n, lineno);
}

/* The first line of the file, in pass 1: fix the delimiter, then take the
 * line as a header, as data, or hold it. */
static nb_status first_line(csv_ctx *c, char *s, size_t n, size_t lineno)
{
    c->line1 = lineno;
    if (!c->delim) {
        char best = csv_best_delim(s, n, 0);
        c->delim = best ? best : ',';
    }
    if (c->o.header == 1) { /* a header whatever it holds: not even split */
        c->header_line = lineno;
        return NB_OK;
    }
    if (c->o.header == 0) return data_line(c, s, n, lineno);
    size_t count, extra;
    int kind;
    NB_TRY(count_fields(c, s, n, lineno, SIZE_MAX, &count, &extra));
    NB_TRY(first_line_kind(c, s, n, count, lineno, &kind));
    if (kind == LINE1_HEADER) {
        c->header_line = lineno;
        return NB_OK;
    }
    if (kind == LINE1_DATA) return data_line(c, s, n, lineno);
    c->held = malloc(n + 1);
    if (!c->held) return NB_NOMEM(c->call, n + 1);
    memcpy(c->held, s, n + 1);
    c->held_len = n;
    c->held_fields = count;
    return NB_OK;
}

/* The held line 1 is a header unless it can be the first row of named
 * labels: it has the field count of the line after it (checked when that
 * line comes), and its label is a name the other rows could share (some
 * other row's label is a name too, or, with class_names, it is one of
 * them), or there is no other row. Called at the end of pass 1. */
static nb_status hold_decide(csv_ctx *c)
{
    if (!c->held) return NB_OK;
    int data = c->rows == 0 || (!c->have_known && c->any_name);
    if (!data && c->have_known) {
        /* Its label field, located again in the copy. */
        field f;
        size_t j = 0, label = c->tcol0;
        for (size_t a = 0;; a = f.end + 1, j++) {
            NB_TRY(csv_next_field(c, c->held, c->held_len, a, c->line1, &f));
            if (j == label) break;
        }
        char name[CSV_NAME_MAX + 1];
        size_t len = csv_name_of(c->held, &f, name);
        data = !csv_name_invalid(name, len) && csv_known_find(&c->known, name, len) >= 0;
    }
    nb_status st = NB_OK;
    if (!data)
        c->header_line = c->line1;
    else if (c->nfields == 0) /* the only line */
        st = data_line(c, c->held, c->held_len, c->line1);
    else
        st = parse_row(c, c->held, c->held_len, c->line1);
    free(c->held);
    c->held = NULL;
    return st;
}

/* One line s (n bytes, BOM removed): skip it, take it as the header, or
 * parse it as a data row. */
static nb_status process_line(csv_ctx *c, char *s, size_t n, size_t lineno)
{
    size_t ink = 0;
    for (size_t i = 0; i < n; i++) ink += !csv_is_space(s[i]);
    if (ink == 0) return NB_OK; /* blank line */
    if (lineno == c->header_line) return NB_OK; /* pass 2: decided in pass 1 */
    if (c->d) return data_line(c, s, n, lineno);
    if (c->line1 == 0) return first_line(c, s, n, lineno);
    if (c->held && c->nfields == 0) {
        /* Line 2 while line 1 is held: a different field count makes line 1
         * a header; the same makes it a row, unless hold_decide finds its
         * label foreign to the others. */
        size_t count, extra;
        NB_TRY(count_fields(c, s, n, lineno, SIZE_MAX, &count, &extra));
        if (count != c->held_fields) {
            c->header_line = c->line1;
            free(c->held);
            c->held = NULL;
        } else {
            NB_TRY(setup_columns(c, c->held, c->held_len, count, c->line1));
        }
    }
    return data_line(c, s, n, lineno);
}

/* ------------------------------------------------------------- passes */

static nb_status run_pass(csv_ctx *c, reader *rd)
{
    for (;;) {
        size_t len = 0;
        int got = 0;
        NB_TRY(csv_reader_line(c, rd, &len, &got));
        if (!got) return NB_OK;
        char *s = rd->line;
        if (rd->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3; /* UTF-8 byte-order mark; columns count from after it */
            len -= 3;
        }
        NB_TRY(process_line(c, s, len, rd->lineno));
    }
}

/* After pass 1: the held line settled, then whether labels are names,
 * and the errors that waited for that. */
static nb_status end_pass1(csv_ctx *c, int *classes)
{
    NB_TRY(hold_decide(c));
    if (c->rows == 0) return NB_FAIL(NB_ERR_DATA, "%s: %s: no data rows", c->call, c->name);
    *classes = 0;
    if (!classifying(c)) return NB_OK;
    c->names = c->have_known || c->any_name;
    NB_TRY(raise_later(c, c->names ? &c->if_names : &c->if_numbers));
    if (c->have_known)
        *classes = c->known.n;
    else if (c->names)
        *classes = 1; /* the count of names is known after pass 2 */
    else
        *classes = c->o.classes > 0 ? c->o.classes : (int)(c->max_label + 1);
    return NB_OK;
}

/* After pass 2, for names of the file's own: number them. */
static nb_status end_pass2(csv_ctx *c)
{
    nb_dataset *d = c->d;
    if (c->have_known) return csv_known_copy(&c->known, &d->names);
    if (!c->names) return NB_OK;
    int n = (int)c->table.n;
    if (c->o.classes > 0 && n != c->o.classes)
        return NB_FAIL(NB_ERR_DATA, "%s: %s: the labels name %d classes, but classes = %d",
                       c->call, c->name, n, c->o.classes);
    NB_TRY(csv_names_finish(&c->table, d->labels, d->rows, &d->names));
    d->classes = d->outputs = n;
    return NB_OK;
}

/* Pass 1 validates and counts, then the dataset is allocated at its exact
 * size and pass 2 fills it. */
static nb_status load(csv_ctx *c, reader *rd, nb_dataset **out)
{
    int classes = 0;
    NB_TRY(run_pass(c, rd));
    NB_TRY(end_pass1(c, &classes));
    size_t rows = c->rows, total = rd->total;
    int outputs = classifying(c) ? classes : (int)c->ntgt;
    NB_TRY(nb_dataset_alloc(rows, (int)(c->nfields - c->ntgt), outputs, classes, &c->d));
    c->rows = 0;
    nb_status st = csv_reader_rewind(c, rd);
    if (st == NB_OK) st = run_pass(c, rd);
    if (st == NB_OK && (c->rows != rows || rd->total != total))
        st = NB_FAIL(NB_ERR_IO, "%s: %s: the file changed while it was being read", c->call,
                     c->name);
    if (st == NB_OK) st = end_pass2(c);
    if (st != NB_OK) {
        nb_dataset_free(c->d);
        c->d = NULL;
        return st;
    }
    c->d->header_skipped = c->header_line != 0;
    c->d->delimiter = c->delim;
    *out = c->d;
    c->d = NULL;
    return NB_OK;
}

/* Options are checked before any byte is read. */
static nb_status resolve_options(csv_ctx *c, const nb_csv_options *opt)
{
    nb_csv_options o;
    if (opt)
        o = *opt;
    else
        nb_csv_options_default(&o);
    const char *bad = NULL;
    int named = o.class_names != NULL || o.n_class_names != 0;
    if (o.header < -1 || o.header > 1)
        bad = "header must be -1, 0 or 1";
    else if (o.label_col < -1 || o.targets < 0 || o.classes < 0)
        bad = "label_col must be >= -1, targets and classes >= 0";
    else if (o.targets > 0 && o.label_col != -1)
        bad = "targets > 0 needs label_col = -1 (the targets are the last columns)";
    else if ((o.regression || o.targets > 0) && o.classes != 0)
        bad = "classes is set for a regression load";
    else if (o.features_only && (o.label_col != -1 || o.regression || o.targets || o.classes))
        bad = "features_only takes no label_col, regression, targets or classes";
    else if (o.max_line > SIZE_MAX - 2)
        bad = "max_line is too large";
    else if (o.delimiter != 0 && o.delimiter != ',' && o.delimiter != ';' && o.delimiter != '\t')
        bad = "delimiter must be ',', ';', '\\t' or 0 (detect)";
    else if (named && (o.regression || o.targets > 0 || o.features_only))
        bad = "class_names is set for a load without class labels";
    else if (named && o.classes != 0 && o.classes != o.n_class_names)
        bad = "classes differs from n_class_names";
    if (bad)
        return NB_FAIL(NB_ERR_ARG, "%s: %s (header %d, label_col %d, targets %d, classes %d, "
                       "delimiter %d, n_class_names %d)", c->call, bad, o.header, o.label_col,
                       o.targets, o.classes, o.delimiter, o.n_class_names);
    if (named) NB_TRY(csv_known_init(&c->known, c->call, o.class_names, o.n_class_names));
    c->have_known = named;
    if (o.max_line == 0) o.max_line = CSV_DEFAULT_MAX_LINE;
    c->o = o;
    c->delim = o.delimiter;
    c->max_label = -1;
    c->label_limit = o.classes > 0 ? o.classes : CSV_MAX_CLASSES;
    return NB_OK;
}

/* Buffers, then both passes with this thread in the "C" numeric locale:
 * strtof takes its decimal point from LC_NUMERIC, and uselocale (unlike
 * setlocale) leaves other threads alone. The caller's locale is restored
 * on every path, and everything the passes held is freed. */
static nb_status run(csv_ctx *c, reader *rd, nb_dataset **out)
{
    nb_status st = NB_OK;
    locale_t cl = (locale_t)0, prev = (locale_t)0;
    rd->max_line = c->o.max_line;
    rd->line = malloc(c->o.max_line + 2);
    if (rd->f) rd->chunk = malloc(CSV_CHUNK);
    if (!rd->line || (rd->f && !rd->chunk))
        st = NB_NOMEM(c->call, c->o.max_line + 2 + CSV_CHUNK);
    else if ((cl = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0)) == (locale_t)0)
        st = NB_FAIL(NB_ERR_NOMEM, "%s: newlocale(\"C\") failed: %s", c->call, strerror(errno));
    else if ((prev = uselocale(cl)) == (locale_t)0)
        st = NB_FAIL(NB_ERR_INTERNAL, "%s: uselocale failed: %s", c->call, strerror(errno));
    else
        st = load(c, rd, out);
    if (prev != (locale_t)0) uselocale(prev);
    if (cl != (locale_t)0) freelocale(cl);
    free(rd->chunk);
    free(rd->line);
    free(c->held);
    csv_names_clear(&c->table);
    csv_known_free(&c->known);
    return st;
}

nb_status nb_dataset_load_csv(const char *path, const nb_csv_options *opt, nb_dataset **out)
{
    csv_ctx c = {.call = "nb_dataset_load_csv", .name = path};
    reader rd = {0};
    if (!out) return NB_FAIL(NB_ERR_ARG, "%s: out is NULL", c.call);
    *out = NULL;
    if (!path) return NB_FAIL(NB_ERR_ARG, "%s: path is NULL", c.call);
    NB_TRY(resolve_options(&c, opt));
    nb_status st = nb_fopen_input(c.call, path, &rd.f, NULL); /* no FIFO, directory, device */
    if (st == NB_OK) {
        st = run(&c, &rd, out);
        fclose(rd.f); /* read-only: nothing to lose if closing fails */
    } else {
        csv_known_free(&c.known);
    }
    return st;
}

nb_status nb_dataset_load_csv_mem(const char *name, const void *bytes, size_t size,
                                  const nb_csv_options *opt, nb_dataset **out)
{
    csv_ctx c = {.call = "nb_dataset_load_csv_mem", .name = name ? name : "<memory>"};
    reader rd = {0};
    if (!out) return NB_FAIL(NB_ERR_ARG, "%s: out is NULL", c.call);
    *out = NULL;
    if (!bytes && size > 0) return NB_FAIL(NB_ERR_ARG, "%s: bytes is NULL", c.call);
    NB_TRY(resolve_options(&c, opt));
    rd.mem = bytes;
    rd.mem_size = size;
    return run(&c, &rd, out);
}
