/*
 * csv.c — loading a dataset from comma-separated numbers, from a file or
 * from memory.
 *
 * It is a strict reader for numeric tables, not a general CSV library:
 * no other separators, no missing values, and quoting only as far as
 * RFC 4180 goes within one line (see next_field). The file is never
 * trusted. Two streaming passes share one line
 * reader: pass 1 validates every row and counts rows and fields, pass 2
 * parses the same bytes again straight into arrays sized from pass 1. The
 * whole file is never held in memory; besides the dataset itself (at most
 * about 2 x the file size, since every value costs at least two bytes of
 * text) only a line buffer of max_line bytes and a 64 KiB chunk are used.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "fileio.h"
#include "status.h"

#define CSV_CHUNK ((size_t)64 * 1024)
#define CSV_DEFAULT_MAX_LINE ((size_t)1024 * 1024)
#define CSV_SHOW 32 /* bytes of offending text quoted in a message */
/* Without an explicit class count, labels up to this many classes are
 * accepted; a larger label is far more likely a wrong column than a class. */
#define CSV_MAX_INFERRED_CLASSES 65536

/* Every data error starts "call: name:line:column: ". */
#define AT_FMT "%s: %s:%zu:%zu: "
#define AT(c, line, col) (c)->call, (c)->name, (size_t)(line), (size_t)(col)

/* One source of bytes, read a chunk at a time, cut into lines. A memory
 * source is one big chunk that is never copied. */
typedef struct reader {
    FILE *f;                  /* file source, or NULL                      */
    const unsigned char *mem; /* memory source (mem_size bytes)            */
    size_t mem_size;
    int mem_done;             /* the memory chunk was handed out           */
    unsigned char *chunk;     /* (CSV_CHUNK) file buffer                   */
    const unsigned char *buf; /* current chunk: buf[pos..len) unread       */
    size_t len, pos;
    size_t total;  /* bytes delivered so far in this pass       */
    size_t lineno; /* 1-based number of the last line returned  */
    char *line;    /* (max_line + 2): line, its CR, then NUL    */
    size_t max_line;
} reader;

/* What a pass has learnt and, in pass 2, where values go. */
typedef struct csv_ctx {
    const char *call, *name;
    nb_csv_options o;
    size_t nfields;     /* fields per row; 0 until the first row          */
    size_t first_line;  /* the line that fixed nfields                    */
    size_t header_line; /* 0: no header                                   */
    size_t tcol0, ntgt; /* target columns [tcol0, tcol0 + ntgt)           */
    size_t rows;        /* data rows seen so far in this pass             */
    long max_label;     /* classification: largest label so far, or -1    */
    long label_limit;   /* labels must be < this                          */
    nb_dataset *d;      /* pass 2 only                                     */
} csv_ctx;

enum { NUM_OK, NUM_BAD, NUM_NONFINITE, NUM_RANGE };

void nb_csv_options_default(nb_csv_options *opt)
{
    if (opt) *opt = (nb_csv_options){.header = -1, .label_col = -1};
}

/* ------------------------------------------------------------ reading */

static nb_status reader_refill(const csv_ctx *c, reader *rd)
{
    rd->pos = 0;
    if (!rd->f) {
        rd->buf = rd->mem;
        rd->len = rd->mem_done ? 0 : rd->mem_size;
        rd->mem_done = 1;
    } else {
        rd->buf = rd->chunk;
        rd->len = fread(rd->chunk, 1, CSV_CHUNK, rd->f);
        if (rd->len == 0 && ferror(rd->f))
            return NB_FAIL(NB_ERR_IO, "%s: %s: read failed: %s", c->call, c->name, strerror(errno));
    }
    rd->total += rd->len; /* cannot wrap: the bytes exist in memory or on disk */
    return NB_OK;
}

static nb_status reader_rewind(const csv_ctx *c, reader *rd)
{
    rd->len = rd->pos = rd->total = rd->lineno = 0;
    rd->mem_done = 0;
    if (rd->f) {
        clearerr(rd->f);
        if (fseek(rd->f, 0L, SEEK_SET) != 0)
            return NB_FAIL(NB_ERR_IO, "%s: %s: cannot rewind for the second pass: %s", c->call,
                           c->name, strerror(errno));
    }
    return NB_OK;
}

static nb_status line_too_long(const csv_ctx *c, const reader *rd)
{
    return NB_FAIL(NB_ERR_DATA, "%s: %s:%zu: line is longer than max_line = %zu bytes", c->call,
                   c->name, rd->lineno + 1, rd->max_line);
}

/* The next line into rd->line (NUL-terminated, without "\n" or "\r\n");
 * *got = 0 at end of input. A line over max_line is an error, never split. */
static nb_status reader_line(const csv_ctx *c, reader *rd, size_t *len, int *got)
{
    size_t n = 0, cap = rd->max_line + 1; /* room for a CR before the LF */
    int any = 0;
    *got = 0;
    for (;;) {
        if (rd->pos == rd->len) {
            NB_TRY(reader_refill(c, rd));
            if (rd->len == 0) break; /* end of input */
        }
        const unsigned char *p = rd->buf + rd->pos;
        const unsigned char *nl = memchr(p, '\n', rd->len - rd->pos);
        size_t take = nl ? (size_t)(nl - p) : rd->len - rd->pos;
        /* Refuse before copying, so the buffer never grows with the input. */
        if (take > cap - n) return line_too_long(c, rd);
        memcpy(rd->line + n, p, take);
        n += take;
        rd->pos += take + (nl != NULL);
        any = 1;
        if (nl) break;
    }
    if (!any) return NB_OK;
    if (n > 0 && rd->line[n - 1] == '\r') n--;
    if (n > rd->max_line) return line_too_long(c, rd);
    rd->lineno++;
    rd->line[n] = '\0';
    *len = n;
    *got = 1;
    return NB_OK;
}

/* ------------------------------------------------------- field syntax */

static int is_space(char ch) { return ch == ' ' || ch == '\t'; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* 1-based character column of byte pos in s: UTF-8 continuation bytes do
 * not start a character, so a column matches what an editor shows. */
static size_t col_of(const char *s, size_t pos)
{
    size_t col = 1;
    for (size_t i = 0; i < pos; i++) col += ((unsigned char)s[i] & 0xC0) != 0x80;
    return col;
}

/* Quote s (n) for a message into out (CSV_SHOW + 4): short, printable, and
 * cut only between UTF-8 characters. */
static const char *shown(char *out, const char *s, size_t n)
{
    size_t k = n > CSV_SHOW ? CSV_SHOW : n;
    if (k < n)
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    for (size_t i = 0; i < k; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    strcpy(out + k, k < n ? "..." : "");
    return out;
}

/* "nan…" or "inf…" in any case: named so the message can say why. */
static int looks_nonfinite(const char *s, size_t n)
{
    if (n < 3) return 0;
    char a = (char)(s[0] | 0x20), b = (char)(s[1] | 0x20), d = (char)(s[2] | 0x20);
    return (a == 'n' && b == 'a' && d == 'n') || (a == 'i' && b == 'n' && d == 'f');
}

/* A float from the token s (n > 0 bytes, no surrounding blanks). Only
 * decimal syntax is accepted, [+-] digits [. digits] [(e|E) [+-] digits],
 * checked here because strtof alone would also take hex, "inf" and "nan".
 * s[n] is set to NUL for strtof and restored. */
static int parse_real(char *s, size_t n, float *v)
{
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-') i++;
    size_t body = i;
    for (; i < n && is_digit(s[i]); i++) digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++) digits++;
    if (digits == 0) return looks_nonfinite(s + body, n - body) ? NUM_NONFINITE : NUM_BAD;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        for (; i < n && is_digit(s[i]); i++) exp_digits++;
        if (exp_digits == 0) return NUM_BAD;
    }
    if (i != n) return NUM_BAD;
    char save = s[n], *end;
    s[n] = '\0';
    float f = strtof(s, &end); /* the thread is in the "C" numeric locale */
    s[n] = save;
    if (end != s + n) return NUM_BAD;
    if (isinf(f)) return NUM_RANGE; /* overflow; tiny values round to 0 or a subnormal */
    *v = f;
    return NUM_OK;
}

/* A class label: decimal digits only, at most INT32_MAX - 1 so that
 * "max label + 1" classes still fits in an int. */
static int parse_label(const char *s, size_t n, long *v)
{
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return NUM_BAD;
        if (x > (INT32_MAX - 1 - (s[i] - '0')) / 10) return NUM_RANGE;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return n > 0 ? NUM_OK : NUM_BAD;
}

static void trim(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && is_space(s[*a])) (*a)++;
    while (*b > *a && is_space(s[*b - 1])) (*b)--;
}

/* One field of a line: it starts at byte a (a blank, a quote or its
 * text), its content is [t0, t1) without the blanks and quotes around it,
 * and the comma after it, or the end of the line, is at byte end. */
typedef struct field {
    size_t a, t0, t1, end;
} field;

/* The field starting at byte a of s (n bytes). Quoting as in RFC 4180: a
 * field whose first non-blank is '"' runs to the closing '"', may hold
 * commas, and "" inside stands for one quote. The content is kept as it is
 * written, "" and all: a number never contains a quote, so a quoted number
 * parses unchanged, and header text is only told apart from numbers, never
 * used. Only blanks may follow the closing quote, and a '"' inside an
 * unquoted field is an error, as "1"2 or 1"2 is more likely a broken file
 * than a number. A quoted field may not span lines: the line reader cuts
 * at every LF, which keeps max_line a real bound and an error on the line
 * where it is, so a quote still open at the end of its line is
 * "unterminated" there. */
static nb_status next_field(const csv_ctx *c, const char *s, size_t n, size_t a, size_t lineno,
                            field *f)
{
    size_t i = a;
    while (i < n && is_space(s[i])) i++;
    f->a = a;
    if (i < n && s[i] == '"') {
        size_t open = i++;
        for (f->t0 = i;; i++) {
            if (i == n)
                return NB_FAIL(NB_ERR_DATA, AT_FMT "unterminated quote (a quoted field must end "
                               "on its line)", AT(c, lineno, col_of(s, open)));
            if (s[i] != '"') continue;
            if (i + 1 < n && s[i + 1] == '"')
                i++; /* "" is a quote inside the field */
            else
                break;
        }
        f->t1 = i++;
        while (i < n && is_space(s[i])) i++;
        if (i < n && s[i] != ',')
            return NB_FAIL(NB_ERR_DATA, AT_FMT "unexpected text after a closing quote",
                           AT(c, lineno, col_of(s, i)));
    } else {
        for (f->t0 = i; i < n && s[i] != ','; i++)
            if (s[i] == '"')
                return NB_FAIL(NB_ERR_DATA, AT_FMT "a quote inside an unquoted field",
                               AT(c, lineno, col_of(s, i)));
        f->t1 = i;
    }
    f->end = i;
    trim(s, &f->t0, &f->t1);
    return NB_OK;
}

/* ----------------------------------------------------------- one line */

static int classifying(const csv_ctx *c)
{
    return !c->o.regression && c->o.targets == 0 && !c->o.features_only;
}

/* The first row fixes the field count and which columns are targets. */
static nb_status setup_columns(csv_ctx *c, size_t nf, size_t lineno)
{
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
                           "%s: %s: targets = %d leaves no feature column in rows of %zu fields",
                           c->call, c->name, c->o.targets, nf);
        c->ntgt = (size_t)c->o.targets;
        c->tcol0 = nf - c->ntgt;
        return NB_OK;
    }
    if (nf < 2)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "a row needs a feature and a label, got %zu field",
                       AT(c, lineno, 1), nf);
    if (c->o.label_col >= 0 && (size_t)c->o.label_col >= nf)
        return NB_FAIL(NB_ERR_ARG, "%s: %s: label_col = %d is outside rows of %zu fields", c->call,
                       c->name, c->o.label_col, nf);
    c->ntgt = 1;
    c->tcol0 = c->o.label_col < 0 ? nf - 1 : (size_t)c->o.label_col;
    return NB_OK;
}

/* Header detection: a header has some field that is not number-like.
 * NaN, Inf and out-of-range numbers count as numbers here, so a data row
 * holding one is reported as bad data instead of silently dropped. */
static nb_status looks_like_header(const csv_ctx *c, char *s, size_t n, size_t lineno, int *yes)
{
    field f;
    *yes = 0;
    for (size_t a = 0; a <= n && !*yes; a = f.end + 1) {
        float v;
        NB_TRY(next_field(c, s, n, a, lineno, &f));
        *yes = f.t0 == f.t1 || parse_real(s + f.t0, f.t1 - f.t0, &v) == NUM_BAD;
    }
    return NB_OK;
}

static nb_status store_label(csv_ctx *c, const char *s, size_t t0, size_t t1, size_t r,
                             size_t lineno)
{
    char txt[CSV_SHOW + 4];
    long v = 0;
    int k = parse_label(s + t0, t1 - t0, &v);
    if (k == NUM_BAD)
        return NB_FAIL(NB_ERR_DATA,
                       AT_FMT "expected a class label (a non-negative integer), got '%s'",
                       AT(c, lineno, col_of(s, t0)), shown(txt, s + t0, t1 - t0));
    if (k == NUM_RANGE)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "class label '%s' is too large",
                       AT(c, lineno, col_of(s, t0)), shown(txt, s + t0, t1 - t0));
    if (v >= c->label_limit && c->o.classes == 0)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "label %ld: at most %d classes are inferred; give the "
                       "class count", AT(c, lineno, col_of(s, t0)), v, CSV_MAX_INFERRED_CLASSES);
    if (v >= c->label_limit)
        return NB_FAIL(NB_ERR_DATA, AT_FMT "label %ld >= classes %ld", AT(c, lineno, col_of(s, t0)),
                       v, c->label_limit);
    if (v > c->max_label) c->max_label = v;
    if (c->d) c->d->labels[r] = (int32_t)v;
    return NB_OK;
}

/* Field j (f) of s, of data row r. */
static nb_status parse_field(csv_ctx *c, char *s, const field *f, size_t j, size_t r,
                             size_t lineno)
{
    char txt[CSV_SHOW + 4];
    size_t t0 = f->t0, t1 = f->t1;
    if (t0 == t1) return NB_FAIL(NB_ERR_DATA, AT_FMT "empty field", AT(c, lineno, col_of(s, f->a)));
    int is_target = j >= c->tcol0 && j - c->tcol0 < c->ntgt;
    if (is_target && classifying(c)) return store_label(c, s, t0, t1, r, lineno);
    float v = 0.0f;
    int k = parse_real(s + t0, t1 - t0, &v);
    if (k != NUM_OK) {
        const char *why = k == NUM_NONFINITE ? "NaN and Inf are not accepted, got '%s'"
                          : k == NUM_RANGE   ? "'%s' is outside the float range"
                                             : "expected a number, got '%s'";
        char msg[96];
        snprintf(msg, sizeof msg, why, shown(txt, s + t0, t1 - t0));
        return NB_FAIL(NB_ERR_DATA, AT_FMT "%s", AT(c, lineno, col_of(s, t0)), msg);
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
        NB_TRY(next_field(c, s, n, a, lineno, &f));
        NB_TRY(parse_field(c, s, &f, j++, r, lineno));
    }
    return NB_OK;
}

/* One line s (n bytes, BOM removed): skip it, take it as the header, or
 * parse it as a data row. */
static nb_status process_line(csv_ctx *c, char *s, size_t n, size_t lineno)
{
    size_t count = 0, extra = n, ink = 0;
    for (size_t i = 0; i < n; i++) ink += !is_space(s[i]);
    if (ink == 0) return NB_OK; /* blank line */
    /* Count the fields, checking the quoting of each (commas inside
     * quotes do not separate). */
    field f;
    for (size_t a = 0; a <= n; a = f.end + 1) {
        NB_TRY(next_field(c, s, n, a, lineno, &f));
        if (count++ == c->nfields) extra = f.a; /* field nfields + 1 starts */
    }
    int header = c->o.header == 1;
    if (c->nfields == 0) {
        NB_TRY(setup_columns(c, count, lineno));
        if (c->o.header == -1) NB_TRY(looks_like_header(c, s, n, lineno, &header));
        if (header) {
            c->header_line = lineno;
            return NB_OK;
        }
    } else if (count != c->nfields) {
        /* Point at the first extra field, or at the end of a short row. */
        return NB_FAIL(NB_ERR_DATA, AT_FMT "expected %zu fields, got %zu (as on line %zu)",
                       AT(c, lineno, col_of(s, count > c->nfields ? extra : n)), c->nfields, count,
                       c->first_line);
    } else if (lineno == c->header_line) {
        return NB_OK;
    }
    return parse_row(c, s, n, lineno);
}

/* ------------------------------------------------------------- passes */

static nb_status run_pass(csv_ctx *c, reader *rd)
{
    for (;;) {
        size_t len = 0;
        int got = 0;
        NB_TRY(reader_line(c, rd, &len, &got));
        if (!got) return NB_OK;
        char *s = rd->line;
        if (rd->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3; /* UTF-8 byte-order mark; columns count from after it */
            len -= 3;
        }
        NB_TRY(process_line(c, s, len, rd->lineno));
    }
}

/* Pass 1 validates and counts, then the dataset is allocated at its exact
 * size and pass 2 fills it. */
static nb_status load(csv_ctx *c, reader *rd, nb_dataset **out)
{
    NB_TRY(run_pass(c, rd));
    if (c->rows == 0) return NB_FAIL(NB_ERR_DATA, "%s: %s: no data rows", c->call, c->name);
    size_t rows = c->rows, total = rd->total;
    int classes = 0, outputs = (int)c->ntgt;
    if (classifying(c)) {
        classes = c->o.classes > 0 ? c->o.classes : (int)(c->max_label + 1);
        outputs = classes;
    }
    NB_TRY(nb_dataset_alloc(rows, (int)(c->nfields - c->ntgt), outputs, classes, &c->d));
    c->rows = 0;
    c->max_label = -1;
    c->label_limit = classes;
    nb_status st = reader_rewind(c, rd);
    if (st == NB_OK) st = run_pass(c, rd);
    if (st == NB_OK && (c->rows != rows || rd->total != total))
        st = NB_FAIL(NB_ERR_IO, "%s: %s: the file changed while it was being read", c->call,
                     c->name);
    if (st != NB_OK) {
        nb_dataset_free(c->d);
        c->d = NULL;
        return st;
    }
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
    if (bad)
        return NB_FAIL(NB_ERR_ARG, "%s: %s (header %d, label_col %d, targets %d, classes %d)",
                       c->call, bad, o.header, o.label_col, o.targets, o.classes);
    if (o.max_line == 0) o.max_line = CSV_DEFAULT_MAX_LINE;
    c->o = o;
    c->max_label = -1;
    c->label_limit = o.classes > 0 ? o.classes : CSV_MAX_INFERRED_CLASSES;
    return NB_OK;
}

/* Buffers, then both passes with this thread in the "C" numeric locale:
 * strtof takes its decimal point from LC_NUMERIC, and uselocale (unlike
 * setlocale) leaves other threads alone. The caller's locale is restored
 * on every path. */
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
    NB_TRY(nb_fopen_input(c.call, path, &rd.f, NULL)); /* no FIFO, directory or device */
    nb_status st = run(&c, &rd, out);
    fclose(rd.f); /* read-only: nothing to lose if closing fails */
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
