/*
 * csv_syntax.c — the CSV loader's syntax layer (see csv_internal.h):
 * reading a source as lines, splitting a line into fields under RFC 4180
 * quoting, numbers and labels as text, and choosing a delimiter. What the
 * lines mean (headers, labels, the passes) is csv.c's.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv_internal.h"
#include "status.h"

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

nb_status csv_reader_rewind(const csv_ctx *c, reader *rd)
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
nb_status csv_reader_line(const csv_ctx *c, reader *rd, size_t *len, int *got)
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

/* Blank lines (spaces and tabs only) are skipped whatever the delimiter. */
int csv_is_space(char ch) { return ch == ' ' || ch == '\t'; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A blank around a field: a space, or a tab unless tabs delimit. */
static int is_blank(const csv_ctx *c, char ch)
{
    return ch == ' ' || (ch == '\t' && c->delim != '\t');
}

/* The delimiter as a message shows it, inside quotes. */
const char *csv_delim_shown(char d) { return d == '\t' ? "\\t" : d == ';' ? ";" : ","; }

/* 1-based character column of byte pos in s: UTF-8 continuation bytes do
 * not start a character, so a column matches what an editor shows. */
size_t csv_col_of(const char *s, size_t pos)
{
    size_t col = 1;
    for (size_t i = 0; i < pos; i++) col += ((unsigned char)s[i] & 0xC0) != 0x80;
    return col;
}

/* Quote s (n) for a message into out (CSV_SHOW + 4): short, printable, and
 * cut only between UTF-8 characters. */
const char *csv_shown(char *out, const char *s, size_t n)
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
int csv_parse_real(char *s, size_t n, float *v)
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

/* A whole-number class label: decimal digits only (NUM_BAD otherwise), at
 * most INT32_MAX - 1 (NUM_RANGE beyond) so that "max label + 1" classes
 * still fits in an int. */
int csv_parse_label(const char *s, size_t n, long *v)
{
    long x = 0;
    int range = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return NUM_BAD;
        if (range || x > (INT32_MAX - 1 - (s[i] - '0')) / 10)
            range = 1;
        else
            x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return n == 0 ? NUM_BAD : range ? NUM_RANGE : NUM_OK;
}


/* The field starting at byte a of s (n bytes). Quoting as in RFC 4180: a
 * field whose first non-blank is '"' runs to the closing '"', may hold
 * delimiters, and "" inside stands for one quote. The content is kept as
 * it is written, "" and all: a number never contains a quote, so a quoted
 * number parses unchanged, and only a class name is unescaped (name_of).
 * Only blanks may follow the closing quote, and a '"' inside an unquoted
 * field is an error, as "1"2 or 1"2 is more likely a broken file than a
 * number. A quoted field may not span lines: the line reader cuts at
 * every LF, which keeps max_line a real bound and an error on the line
 * where it is, so a quote still open at the end of its line is
 * "unterminated" there. */
nb_status csv_next_field(const csv_ctx *c, const char *s, size_t n, size_t a, size_t lineno,
                            field *f)
{
    size_t i = a;
    while (i < n && is_blank(c, s[i])) i++;
    f->a = a;
    f->quoted = i < n && s[i] == '"';
    if (f->quoted) {
        size_t open = i++;
        for (f->t0 = i;; i++) {
            if (i == n)
                return NB_FAIL(NB_ERR_DATA, AT_FMT "unterminated quote (a quoted field must end "
                               "on its line)", AT(c, lineno, csv_col_of(s, open)));
            if (s[i] != '"') continue;
            if (i + 1 < n && s[i + 1] == '"')
                i++; /* "" is a quote inside the field */
            else
                break;
        }
        f->t1 = i++;
        while (i < n && is_blank(c, s[i])) i++;
        if (i < n && s[i] != c->delim)
            return NB_FAIL(NB_ERR_DATA, AT_FMT "unexpected text after a closing quote",
                           AT(c, lineno, csv_col_of(s, i)));
    } else {
        for (f->t0 = i; i < n && s[i] != c->delim; i++)
            if (s[i] == '"')
                return NB_FAIL(NB_ERR_DATA, AT_FMT "a quote inside an unquoted field",
                               AT(c, lineno, csv_col_of(s, i)));
        f->t1 = i;
    }
    f->end = i;
    while (f->t0 < f->t1 && is_blank(c, s[f->t0])) f->t0++;
    while (f->t1 > f->t0 && is_blank(c, s[f->t1 - 1])) f->t1--;
    return NB_OK;
}

/* How many fields delimiter d makes of s (n), quotes respected: one more
 * than the d outside quotes. Never fails: it only compares delimiters, and
 * the fields themselves are checked once one is chosen. */
static size_t fields_with(const char *s, size_t n, char d)
{
    size_t count = 1;
    int in_quotes = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            in_quotes = !in_quotes; /* "" inside quotes toggles twice */
        else if (s[i] == d && !in_quotes)
            count++;
    }
    return count;
}

static const char DELIMS[3] = {',', ';', '\t'}; /* in order of preference */

/* The delimiter, other than skip (0: none), that splits s into the most
 * fields, the earlier of DELIMS on a tie; 0 when none makes two. */
char csv_best_delim(const char *s, size_t n, char skip)
{
    size_t best = 1;
    char pick = 0;
    for (int i = 0; i < 3; i++) {
        size_t k = DELIMS[i] == skip ? 0 : fields_with(s, n, DELIMS[i]);
        if (k > best) {
            best = k;
            pick = DELIMS[i];
        }
    }
    return pick;
}

/* "" or "; is the delimiter ';'? (use --delimiter)" for a line that the
 * delimiter in use leaves whole but another one splits. */
const char *csv_delim_hint(const csv_ctx *c, const char *s, size_t n, char *buf, size_t cap)
{
    char other = csv_best_delim(s, n, c->delim);
    if (!other) return "";
    snprintf(buf, cap, "; is the delimiter '%s'? (use --delimiter)", csv_delim_shown(other));
    return buf;
}

/* A class name from field f of s into buf (CSV_NAME_MAX + 1): the
 * content with "" made one quote. Returns its length, or CSV_NAME_MAX + 1
 * when it is longer (then buf holds its start). */
size_t csv_name_of(const char *s, const field *f, char *buf)
{
    size_t n = 0;
    for (size_t i = f->t0; i < f->t1 && n <= CSV_NAME_MAX; i++) {
        buf[n++] = s[i];
        if (f->quoted && s[i] == '"') i++; /* the second quote of "" */
    }
    return n;
}

