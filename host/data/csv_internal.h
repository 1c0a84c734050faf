/*
 * csv_internal.h — what the CSV loader's two files share (private): the
 * state of a load, and the syntax layer in csv_syntax.c (reading lines,
 * splitting fields, numbers, delimiters) that csv.c builds on.
 */
#ifndef NB_CSV_INTERNAL_H
#define NB_CSV_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "data/csv_names.h"
#include "data/dataset.h"

#define CSV_CHUNK ((size_t)64 * 1024)
#define CSV_DEFAULT_MAX_LINE ((size_t)1024 * 1024)
#define CSV_SHOW 32 /* bytes of offending text quoted in a message */

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

/* An error that pass 1 finds but may only report once it knows whether
 * the labels are numbers or names (st is NB_OK while there is none). */
typedef struct csv_later {
    nb_status st;
    size_t line, col;
    char why[160];
} csv_later;

/* What a pass has learnt and, in pass 2, where values go. */
typedef struct csv_ctx {
    const char *call, *name;
    nb_csv_options o;
    char delim;         /* the field delimiter; 0 until the first line    */
    size_t line1;       /* the first non-blank line; 0 until seen         */
    size_t nfields;     /* fields per row; 0 until the first row          */
    size_t first_line;  /* the line that fixed nfields                    */
    size_t header_line; /* 0: no header                                   */
    size_t tcol0, ntgt; /* target columns [tcol0, tcol0 + ntgt)           */
    size_t rows;        /* data rows seen so far in this pass             */
    /* Line 1 while it is undecided (see first_line_kind): its copy. */
    char *held;
    size_t held_len, held_fields;
    /* Labels. Pass 1 learns whether any is not a whole number (then all
     * are names) and, for numbers, the largest. */
    int any_name;       /* some label (held line 1's aside) is a name     */
    long max_label;     /* largest whole-number label so far, or -1       */
    long label_limit;   /* whole-number labels must be < this             */
    csv_later if_numbers, if_names;
    int names;          /* pass 2: labels are names                       */
    int have_known;     /* o.class_names was given: known holds them      */
    csv_known known;
    csv_name_table table; /* pass 2, names of the file's own              */
    nb_dataset *d;      /* pass 2 only                                     */
} csv_ctx;

enum { NUM_OK, NUM_BAD, NUM_NONFINITE, NUM_RANGE };


/* One field of a line: it starts at byte a (a blank, a quote or its
 * text), its content is [t0, t1) without the blanks and quotes around it,
 * and the delimiter after it, or the end of the line, is at byte end. */
typedef struct field {
    size_t a, t0, t1, end;
    int quoted; /* the content may hold "" for a quote */
} field;

/* ------------------------------------------------- csv_syntax.c */

/* Start the source over for pass 2. */
nb_status csv_reader_rewind(const csv_ctx *c, reader *rd);
/* The next line into rd->line (NUL-terminated, without "\n" or "\r\n");
 * *got = 0 at end of input. A line over max_line is an error, never split. */
nb_status csv_reader_line(const csv_ctx *c, reader *rd, size_t *len, int *got);

/* A space or a tab: blank lines hold only these, whatever the delimiter. */
int csv_is_space(char ch);
/* The delimiter as messages show it, without quotes: ",", ";" or "\t". */
const char *csv_delim_shown(char d);
/* 1-based character column of byte pos in s. */
size_t csv_col_of(const char *s, size_t pos);
/* s (n) quoted for a message into out (CSV_SHOW + 4 bytes). */
const char *csv_shown(char *out, const char *s, size_t n);
/* A float from the token s (n > 0 bytes): NUM_OK and *v, or why not. */
int csv_parse_real(char *s, size_t n, float *v);
/* A whole-number class label: NUM_OK and *v, NUM_RANGE, or NUM_BAD. */
int csv_parse_label(const char *s, size_t n, long *v);
/* The field of s (n bytes) that starts at byte a, split by c->delim. */
nb_status csv_next_field(const csv_ctx *c, const char *s, size_t n, size_t a, size_t lineno,
                         field *f);
/* The delimiter other than skip that splits s into the most fields (at
 * least two), or 0. */
char csv_best_delim(const char *s, size_t n, char skip);
/* "" or a hint that another delimiter would split s, into buf. */
const char *csv_delim_hint(const csv_ctx *c, const char *s, size_t n, char *buf, size_t cap);
/* The class name in field f of s, unquoted, into buf (CSV_NAME_MAX + 1);
 * its length, or CSV_NAME_MAX + 1 when longer. */
size_t csv_name_of(const char *s, const field *f, char *buf);

#endif
