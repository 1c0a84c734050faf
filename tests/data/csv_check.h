/*
 * csv_check.h — what the CSV tests share: loading a string, and checking
 * a load that must succeed or must fail with a given status and message.
 *
 * Include after <cmocka.h> and check.h.
 */
#ifndef NB_TEST_CSV_CHECK_H
#define NB_TEST_CSV_CHECK_H

#include <stdio.h>
#include <string.h>

#include "nabla.h"

/* The UTF-8 byte-order mark. */
#define BOM "\xEF\xBB\xBF"

/* Array literals that pass through macro arguments as one argument. */
#define FLOATS(...) ((const float[]){__VA_ARGS__})
#define LABELS(...) ((const int32_t[]){__VA_ARGS__})

/* Any non-NULL value: a failing load must overwrite it with NULL. */
static nb_dataset *const NOT_NULL = (nb_dataset *)&NOT_NULL;

static inline nb_status load(const char *text, const nb_csv_options *o, nb_dataset **d)
{
    return nb_dataset_load_csv_mem("t.csv", text, strlen(text), o, d);
}

/* Load text, which must succeed; fail the test with the message if not. */
#define LOAD_OK(text, o) load_ok_at(__FILE__, __LINE__, (text), (o))
static inline nb_dataset *load_ok_at(const char *file, int line, const char *text,
                                     const nb_csv_options *o)
{
    nb_dataset *d = NULL;
    nb_status st = load(text, o, &d);
    if (st != NB_OK || !d) {
        fprintf(stderr, "%s:%d: load failed: %s: %s\n", file, line, nb_status_str(st),
                nb_last_error());
        _fail(file, line);
    }
    return d;
}

/* A failed call: exact status, *out reset to NULL, needle in the message.
 * The call runs before d is read. */
#define CHECK_FAIL(call, d, want, needle)                                                          \
    do {                                                                                           \
        nb_status check_st_ = (call);                                                              \
        check_fail_at(__FILE__, __LINE__, check_st_, (d), (want), (needle));                       \
    } while (0)
static inline void check_fail_at(const char *file, int line, nb_status st, nb_dataset *d,
                                 nb_status want, const char *needle)
{
    const char *msg = nb_last_error();
    if (st != want || d != NULL || !strstr(msg, needle)) {
        fprintf(stderr, "%s:%d: got %s (want %s), out %s, message \"%s\" (want \"%s\" in it)\n",
                file, line, nb_status_str(st), nb_status_str(want), d ? "set" : "NULL", msg,
                needle);
        if (d != NOT_NULL) nb_dataset_free(d);
        _fail(file, line);
    }
}

/* Load text that must fail with status want and needle in the message. */
#define LOAD_FAIL(text, o, want, needle)                                                           \
    load_fail_at(__FILE__, __LINE__, (text), (o), (want), (needle))
static inline void load_fail_at(const char *file, int line, const char *text,
                                const nb_csv_options *o, nb_status want, const char *needle)
{
    nb_dataset *d = NOT_NULL;
    nb_status st = load(text, o, &d);
    check_fail_at(file, line, st, d, want, needle);
}

#endif
