/*
 * csv_names.h — class names for the CSV loader (private): which text may
 * name a class, the table of the distinct names a file holds, and lookup
 * in the names a caller gives.
 */
#ifndef NB_CSV_NAMES_H
#define NB_CSV_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

/* The longest class name in bytes; a model keeps names of up to as many. */
#define CSV_NAME_MAX 255
/* The most classes a file's labels make without an explicit class count,
 * numbers or names: more is far more likely a wrong column than classes. */
#define CSV_MAX_CLASSES 65536

/* Why s (n bytes) cannot name a class, or NULL when it can: 1 to
 * CSV_NAME_MAX bytes, none of them a control character. */
const char *csv_name_invalid(const char *s, size_t n);

/* The distinct names of a file, each with an id in the order first seen,
 * found by hashing. Zero-initialised means empty. */
typedef struct csv_name_table {
    char **names;    /* (cap) by id, each NUL-terminated            */
    size_t n, cap;
    uint32_t *slots; /* (nslots, a power of 2): id + 1, 0 when free */
    size_t nslots;
} csv_name_table;

/* The id of s (n valid bytes), added as a new name when unseen. */
nb_status csv_names_intern(csv_name_table *t, const char *s, size_t n, int32_t *id);
/* The names sorted by their bytes become classes 0 … n−1: labels (rows),
 * which hold ids, are rewritten to classes, and the names move into *out.
 * The table is left empty, also on failure. */
nb_status csv_names_finish(csv_name_table *t, int32_t *labels, size_t rows, nb_class_names **out);
void csv_names_clear(csv_name_table *t);

/* A caller's class names (a saved model's), sorted for lookup. */
typedef struct csv_known {
    const char *const *names; /* borrowed: names[k] is class k */
    int n;
    struct csv_known_entry *sorted;
} csv_known;

/* Check names (NB_ERR_ARG naming call: 1 to CSV_MAX_CLASSES of them, each
 * a valid name, all distinct) and sort them for lookup. */
nb_status csv_known_init(csv_known *k, const char *call, const char *const *names, int n);
/* The class named by s (n bytes), or -1. */
int csv_known_find(const csv_known *k, const char *s, size_t n);
/* "a, b, c" or "a, b, c, d and 5 more", in class order, into buf. */
void csv_known_list(const csv_known *k, char *buf, size_t cap);
/* A copy of the names for a dataset. */
nb_status csv_known_copy(const csv_known *k, nb_class_names **out);
void csv_known_free(csv_known *k);

#endif
