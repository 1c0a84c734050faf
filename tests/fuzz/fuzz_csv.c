/*
 * fuzz_csv.c — nb_dataset_load_csv_mem on any bytes.
 *
 * Every input is loaded twice: with the default options (detected
 * delimiter and header, labels in the last column, classes inferred), and
 * with options read from its first two bytes, so the forced-header,
 * regression, label-column, targets, fixed-class, short-line, forced
 * delimiter and given-class-names paths are reached as well.
 *
 * Oracles, besides the sanitizers and the leak check:
 *   - the status is one csv.c promises (a bad option combination cannot
 *     arise here; NB_ERR_ARG only where the file's shape contradicts
 *     label_col or targets), failures leave *out NULL and a message;
 *   - a loaded dataset keeps the contract: every value finite, labels in
 *     [0, classes), classes inferred as max label + 1, targets as asked;
 *     class names, when the labels were names, valid, distinct, sorted by
 *     their bytes and each used by some row, or the given ones in their
 *     order; the delimiter one of the three (the one asked for, if any);
 *     the header flag as forced;
 *   - memory: the dataset costs at most 2 bytes of it per byte of text
 *     (every value takes at least two bytes, "0,"), plus a line buffer of
 *     max_line + 2 bytes; FZ_SLACK covers the small allocations (the
 *     dataset struct, the C locale object, a last line without its LF).
 *     Named classes add under 70 bytes per distinct name (nabla.h: their
 *     table, and their text beyond what 2 bytes per byte already cover),
 *     and a row takes at least four bytes ("0,a\n"): FZ_NAMES bounds that
 *     for a classification load.
 */
#include <math.h>
#include <string.h>

#include "fuzz_util.h"

#define FZ_SLACK ((size_t)64 << 10)
#define FZ_NAMES(size) (70 * ((size) / 4 + 16))

/* Names a model might carry, for the given-names loads. */
static const char *const GIVEN[] = {"1", "0", "b", "a", "setosa"};
#define N_GIVEN ((int)(sizeof GIVEN / sizeof GIVEN[0]))

/* The second load's options from bytes b and b2 (0 without a second byte):
 *   b bits 0-1   header: detect, none, present, detect
 *   b bits 2-3   0 classes inferred, 1 classes = 2 + p, 2 regression, 3 K = 1 + p targets
 *   b bits 4-5   p: label_col = p - 1 in the first three modes
 *   b bits 6-7   max_line: default (1 MiB), 1, 8 or 64 bytes
 *   b2 bits 0-1  delimiter: detect, ',', ';', tab
 *   b2 bit 2     class_names GIVEN (classification only; classes then 0) */
static nb_csv_options options_from(unsigned char b, unsigned char b2)
{
    static const size_t max_line[4] = {0, 1, 8, 64};
    static const char delim[4] = {0, ',', ';', '\t'};
    int mode = (b >> 2) & 3, p = (b >> 4) & 3;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.header = (int)(b & 3) % 3 - 1;
    o.max_line = max_line[b >> 6];
    o.delimiter = delim[b2 & 3];
    if (mode == 3) {
        o.targets = 1 + p;
        return o;
    }
    o.label_col = p - 1;
    if (mode == 1) o.classes = 2 + p;
    if (mode == 2) o.regression = 1;
    if (mode != 2 && (b2 & 4)) {
        o.classes = 0;
        o.class_names = GIVEN;
        o.n_class_names = N_GIVEN;
    }
    return o;
}

/* The class names of a classification set d loaded with options o. */
static void check_names(const nb_dataset *d, const nb_csv_options *o, const int32_t *lab,
                        size_t rows)
{
    int classes = nb_dataset_classes(d);
    if (o->class_names) {
        if (classes != o->n_class_names)
            fz_fail("csv: %d names given, %d classes made", o->n_class_names, classes);
        for (int k = 0; k < classes; k++)
            if (!nb_dataset_class_name(d, k) || strcmp(nb_dataset_class_name(d, k), GIVEN[k]))
                fz_fail("csv: class %d is not named as given", k);
        return;
    }
    for (int k = 0; k < classes; k++) {
        const char *name = nb_dataset_class_name(d, k);
        const char *prev = k ? nb_dataset_class_name(d, k - 1) : NULL;
        size_t n = name ? strlen(name) : 0;
        if (!name || n == 0 || n > 255) fz_fail("csv: class %d has no valid name", k);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
                fz_fail("csv: class name %d holds a control character", k);
        if (prev && strcmp(prev, name) >= 0)
            fz_fail("csv: class names %d and %d are not sorted", k - 1, k);
    }
    if (nb_dataset_class_name(d, classes)) fz_fail("csv: a name past the last class");
    /* Each name of the file's own comes from some row. */
    for (int k = 0; k < classes; k++) {
        size_t i = 0;
        while (i < rows && lab[i] != k) i++;
        if (i == rows) fz_fail("csv: class name %d is no row's label", k);
    }
}

/* The contract of a dataset loaded with options o. */
static void check_dataset(const nb_dataset *d, const nb_csv_options *o)
{
    size_t rows = nb_dataset_rows(d);
    int in = nb_dataset_inputs(d), out = nb_dataset_outputs(d), classes = nb_dataset_classes(d);
    const float *x = nb_dataset_x(d), *y = nb_dataset_y(d);
    const int32_t *lab = nb_dataset_labels(d);
    char delim = nb_dataset_delimiter(d);
    if (rows == 0 || in < 1 || out < 1 || !x) fz_fail("csv: empty dataset returned as a success");
    if (delim != ',' && delim != ';' && delim != '\t') fz_fail("csv: delimiter %d", delim);
    if (o->delimiter && delim != o->delimiter) fz_fail("csv: not the delimiter asked for");
    if (o->header >= 0 && nb_dataset_header_skipped(d) != o->header)
        fz_fail("csv: header %d forced, header_skipped %d", o->header,
                nb_dataset_header_skipped(d));
    for (size_t i = 0; i < rows * (size_t)in; i++)
        if (!isfinite(x[i])) fz_fail("csv: x[%zu] = %g is not finite", i, (double)x[i]);
    if (o->regression || o->targets > 0) {
        if (classes != 0 || lab || !y) fz_fail("csv: a regression load made a classification set");
        if (nb_dataset_class_name(d, 0)) fz_fail("csv: class names in a regression set");
        if (o->targets > 0 && out != o->targets)
            fz_fail("csv: %d targets asked, %d outputs made", o->targets, out);
        if (o->targets == 0 && out != 1) fz_fail("csv: regression with %d outputs", out);
        for (size_t i = 0; i < rows * (size_t)out; i++)
            if (!isfinite(y[i])) fz_fail("csv: y[%zu] = %g is not finite", i, (double)y[i]);
        return;
    }
    if (classes != out || !lab || y) fz_fail("csv: a classification set of the wrong form");
    if (o->classes > 0 && classes != o->classes)
        fz_fail("csv: %d classes asked, %d made", o->classes, classes);
    int32_t max = -1;
    for (size_t i = 0; i < rows; i++) {
        if (lab[i] < 0 || lab[i] >= classes)
            fz_fail("csv: label[%zu] = %d outside [0, %d)", i, (int)lab[i], classes);
        if (lab[i] > max) max = lab[i];
    }
    if (o->class_names || nb_dataset_class_name(d, 0)) {
        check_names(d, o, lab, rows);
        return;
    }
    if (o->classes == 0 && classes != max + 1)
        fz_fail("csv: %d classes inferred, but the largest label is %d", classes, (int)max);
}

static void load(const uint8_t *data, size_t size, const nb_csv_options *o, unsigned allowed)
{
    nb_dataset *d = FZ_NOT_NULL;
    size_t line = o->max_line ? o->max_line : FZ_MIB;
    int labels = !o->regression && !o->targets && !o->features_only;
    fz_mem_begin("nb_dataset_load_csv_mem",
                 2 * size + line + 2 + FZ_SLACK + (labels ? FZ_NAMES(size) : 0));
    nb_status st = nb_dataset_load_csv_mem("fuzz.csv", data, size, o, &d);
    fz_mem_end();
    fz_status("nb_dataset_load_csv_mem", st, allowed);
    if (st != NB_OK) {
        if (d) fz_fail("csv: *out is not NULL after %s", nb_status_str(st));
        if (st == NB_ERR_DATA && !strstr(nb_last_error(), "fuzz.csv"))
            fz_fail("csv: the message does not name the file: %s", nb_last_error());
        return;
    }
    check_dataset(d, o);
    nb_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_csv_options o;
    nb_csv_options_default(&o);
    load(data, size, &o, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (size == 0) return 0;
    o = options_from(data[0], size > 1 ? data[1] : 0);
    load(data, size, &o, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA) | FZ_ALLOW(NB_ERR_ARG));
    return 0;
}
