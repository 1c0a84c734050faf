/*
 * csv_names.c — class names for the CSV loader (see csv_names.h).
 *
 * A file's names go into an open-addressing hash table as they come, so
 * each label costs one hash and, on average, about one comparison; ids are
 * handed out in the order names are first seen and turned into sorted
 * class numbers once the file is read. Memory is the names themselves
 * plus under 64 bytes per distinct name (the id array and the slots, both
 * grown by doubling), and there are at most CSV_MAX_CLASSES names.
 */
#include "data/csv_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

const char *csv_name_invalid(const char *s, size_t n)
{
    if (n == 0) return "is empty";
    if (n > CSV_NAME_MAX) return "is longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) return "holds a control character";
    }
    return NULL;
}

/* ---------------------------------------------------------- the table */

/* FNV-1a: short, and good enough for names a file repeats. */
static uint32_t hash_of(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The slot holding s, or the free slot where it would go. */
static size_t probe(const csv_name_table *t, const char *s, size_t n)
{
    size_t mask = t->nslots - 1, i = hash_of(s, n) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (v == 0) return i;
        /* strncmp stops at name's NUL, and s holds none (a name has no
         * control characters), so a match means name[n] exists. */
        const char *name = t->names[v - 1];
        if (strncmp(name, s, n) == 0 && name[n] == '\0') return i;
    }
}

/* Room for one more name: ids, and slots kept at most half full, which
 * keeps probe sequences short and guarantees a free slot. */
static nb_status grow(csv_name_table *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **names = realloc(t->names, cap * sizeof *names);
        if (!names) return NB_NOMEM("nb_dataset_load_csv: class names", cap * sizeof *names);
        t->names = names;
        t->cap = cap;
    }
    if (2 * (t->n + 1) <= t->nslots) return NB_OK;
    size_t nslots = t->nslots ? 2 * t->nslots : 64;
    uint32_t *old = t->slots, *slots = calloc(nslots, sizeof *slots);
    if (!slots) return NB_NOMEM("nb_dataset_load_csv: class names", nslots * sizeof *slots);
    t->slots = slots;
    t->nslots = nslots;
    for (size_t id = 0; id < t->n; id++)
        t->slots[probe(t, t->names[id], strlen(t->names[id]))] = (uint32_t)id + 1;
    free(old);
    return NB_OK;
}

nb_status csv_names_intern(csv_name_table *t, const char *s, size_t n, int32_t *id)
{
    if (t->nslots > 0) {
        size_t i = probe(t, s, n);
        if (t->slots[i] != 0) {
            *id = (int32_t)(t->slots[i] - 1);
            return NB_OK;
        }
    }
    NB_TRY(grow(t));
    char *copy = malloc(n + 1);
    if (!copy) return NB_NOMEM("nb_dataset_load_csv: class names", n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->slots[probe(t, s, n)] = (uint32_t)t->n + 1; /* n < CSV_MAX_CLASSES: fits */
    t->names[t->n] = copy;
    *id = (int32_t)t->n++;
    return NB_OK;
}

void csv_names_clear(csv_name_table *t)
{
    for (size_t id = 0; id < t->n; id++) free(t->names[id]);
    free(t->names);
    free(t->slots);
    *t = (csv_name_table){0};
}

/* strcmp orders by unsigned bytes, which is "sorted by their bytes". */
static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

nb_status csv_names_finish(csv_name_table *t, int32_t *labels, size_t rows, nb_class_names **out)
{
    *out = NULL;
    nb_class_names *cn = NULL;
    int32_t *rank = malloc(t->n * sizeof *rank);
    nb_status st = rank ? nb_class_names_alloc((int)t->n, &cn)
                        : NB_NOMEM("nb_dataset_load_csv: class names", t->n * sizeof *rank);
    if (st != NB_OK) {
        free(rank);
        csv_names_clear(t);
        return st;
    }
    /* The names move into cn; the table keeps only its slots to map each
     * sorted name back to its id. */
    memcpy(cn->names, t->names, t->n * sizeof *cn->names);
    qsort(cn->names, t->n, sizeof *cn->names, cmp_names);
    for (size_t k = 0; k < t->n; k++) {
        size_t slot = probe(t, cn->names[k], strlen(cn->names[k]));
        rank[t->slots[slot] - 1] = (int32_t)k;
    }
    for (size_t r = 0; r < rows; r++) labels[r] = rank[labels[r]];
    free(rank);
    t->n = 0; /* the names are cn's now */
    csv_names_clear(t);
    *out = cn;
    return NB_OK;
}

/* ------------------------------------------------- the caller's names */

struct csv_known_entry {
    const char *s;
    size_t n;
    int k;
};

/* Byte order, a prefix first: the order of strcmp, for text without NUL. */
static int cmp_text(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

static int cmp_entries(const void *a, const void *b)
{
    const struct csv_known_entry *x = a, *y = b;
    return cmp_text(x->s, x->n, y->s, y->n);
}

nb_status csv_known_init(csv_known *k, const char *call, const char *const *names, int n)
{
    *k = (csv_known){0};
    if (!names || n < 1 || n > CSV_MAX_CLASSES)
        return NB_FAIL(NB_ERR_ARG, "%s: class_names must be 1 to %d names, got %d%s", call,
                       CSV_MAX_CLASSES, n, names ? "" : " and NULL");
    struct csv_known_entry *e = malloc((size_t)n * sizeof *e);
    if (!e) return NB_NOMEM(call, (size_t)n * sizeof *e);
    for (int i = 0; i < n; i++) {
        const char *why = names[i] ? csv_name_invalid(names[i], strlen(names[i])) : "is NULL";
        if (why) {
            free(e);
            return NB_FAIL(NB_ERR_ARG, "%s: class_names[%d] %s", call, i, why);
        }
        e[i] = (struct csv_known_entry){names[i], strlen(names[i]), i};
    }
    qsort(e, (size_t)n, sizeof *e, cmp_entries);
    for (int i = 1; i < n; i++)
        if (cmp_entries(&e[i - 1], &e[i]) == 0) {
            int first = e[i - 1].k, again = e[i].k;
            if (first > again) {
                first = e[i].k;
                again = e[i - 1].k;
            }
            free(e);
            return NB_FAIL(NB_ERR_ARG, "%s: class_names[%d] repeats class_names[%d] ('%s')", call,
                           again, first, names[first]);
        }
    k->names = names;
    k->n = n;
    k->sorted = e;
    return NB_OK;
}

int csv_known_find(const csv_known *k, const char *s, size_t n)
{
    size_t lo = 0, hi = (size_t)k->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_text(s, n, k->sorted[mid].s, k->sorted[mid].n);
        if (c == 0) return k->sorted[mid].k;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

void csv_known_list(const csv_known *k, char *buf, size_t cap)
{
    enum { SHOW = 4 }; /* a few names say what is expected; all could be thousands */
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < k->n && i < SHOW && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s'%.40s'", i ? ", " : "", k->names[i]);
        len += w > 0 ? (size_t)w : 0;
    }
    if (k->n > SHOW && len < cap) snprintf(buf + len, cap - len, " and %d more", k->n - SHOW);
}

nb_status csv_known_copy(const csv_known *k, nb_class_names **out)
{
    NB_TRY(nb_class_names_alloc(k->n, out));
    for (int i = 0; i < k->n; i++) {
        size_t n = strlen(k->names[i]) + 1;
        if (!((*out)->names[i] = malloc(n))) {
            nb_class_names_release(*out);
            *out = NULL;
            return NB_NOMEM("nb_dataset_load_csv: class names", n);
        }
        memcpy((*out)->names[i], k->names[i], n);
    }
    return NB_OK;
}

void csv_known_free(csv_known *k)
{
    free(k->sorted);
    *k = (csv_known){0};
}
