/*
 * run_record.c — the JSON of a run's data settings (see run_record.h).
 * A checkpoint is never trusted: each field is type- and range-checked,
 * and a bad one is ignored rather than used.
 */
#include "cli/run_record.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An integer field in [lo, hi] into *out; 1 when it was there and good. */
static int get_int(json_t *o, const char *key, long lo, long hi, long *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return 0;
    *out = (long)json_integer_value(v);
    return 1;
}

/* A path field: a non-empty string that fits, or null. */
static int get_path(json_t *o, const char *key, int *has, char *out, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (json_is_null(v)) return *has = 0, out[0] = '\0', 1;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= n ||
        strlen(json_string_value(v)) != json_string_length(v)) /* no NUL inside */
        return 0;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return *has = 1, 1;
}

int nb_run_record_parse(const char *text, nb_run_record *r)
{
    json_error_t err;
    json_t *o = text ? json_loads(text, JSON_REJECT_DUPLICATES, &err) : NULL, *v;
    long i;
    if (!json_is_object(o) || !get_int(o, "version", 1, 1, &i)) {
        json_decref(o);
        return -1;
    }
    int found = 0;
    if (get_path(o, "data", &r->has_data, r->data, sizeof r->data)) found |= NB_REC_DATA;
    if (get_path(o, "labels", &r->has_labels, r->labels, sizeof r->labels)) found |= NB_REC_LABELS;
    if (get_int(o, "header", -1, 1, &i)) r->csv.header = (int)i, found |= NB_REC_HEADER;
    if (get_int(o, "label_col", -1, 1 << 20, &i)) r->csv.label_col = (int)i, found |= NB_REC_LABEL_COL;
    if (json_is_boolean(v = json_object_get(o, "regression")))
        r->csv.regression = json_is_true(v), found |= NB_REC_REGRESSION;
    if (get_int(o, "targets", 0, 1 << 20, &i)) r->csv.targets = (int)i, found |= NB_REC_TARGETS;
    v = json_object_get(o, "delimiter");
    if (json_is_string(v) && json_string_length(v) <= 1) {
        const char *s = json_string_value(v);
        if (!s[0] || strchr(",;\t", s[0])) r->csv.delimiter = s[0], found |= NB_REC_DELIMITER;
    }
    v = json_object_get(o, "val");
    if (json_is_number(v) && json_number_value(v) >= 0.0 && json_number_value(v) < 1.0)
        r->val = json_number_value(v), found |= NB_REC_VAL;
    if (json_is_boolean(v = json_object_get(o, "standardize")))
        r->standardize = json_is_true(v), found |= NB_REC_STANDARDIZE;
    if (get_int(o, "save_every", 1, 1000000000L, &i)) r->save_every = i, found |= NB_REC_SAVE_EVERY;
    json_decref(o);
    return found;
}

int nb_run_record_write(const nb_run_record *r, char *out, size_t n)
{
    char delim[2] = {r->csv.delimiter, '\0'};
    json_t *o = json_pack("{s:i, s:o, s:o, s:i, s:i, s:b, s:i, s:s, s:f, s:b, s:I}", "version", 1,
                          "data", r->has_data ? json_string(r->data) : json_null(),
                          "labels", r->has_labels ? json_string(r->labels) : json_null(),
                          "header", r->csv.header, "label_col", r->csv.label_col,
                          "regression", r->csv.regression != 0, "targets", r->csv.targets,
                          "delimiter", delim, "val", r->val, "standardize", r->standardize != 0,
                          "save_every", (json_int_t)r->save_every);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    int ok = s && strlen(s) < n;
    if (ok) memcpy(out, s, strlen(s) + 1);
    free(s);
    return ok;
}
