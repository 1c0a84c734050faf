/*
 * ckpt_meta.h — the JSON values of a checkpoint's metadata (private to
 * host/ckpt/checkpoint.c): each written, and read back with every value
 * checked, so that nothing a file says reaches a counter, a loop or an
 * allocation unchecked.
 *
 * "nabla.train" = {"optim": name, "rng": [4 × bits], "iters", "epochs",
 *   "batch", "plateau_run", "since_best_val": integers,
 *   "ls_alpha", "best_loss", "plateau_ref", "best_val", "loss_avg": bits,
 *   "val_improved": bool}. "bits" is exactly 16 hex digits (either case on
 *   reading; no sign, space or 0x) of the 64 bits of a double or word.
 *   Rules: iters, epochs, batch in [0, NB_COUNT_MAX]; batch ≤
 *   iters (batches of an unfinished epoch are updates); plateau_run and
 *   since_best_val in [0, epochs]; ls_alpha finite and > 0; best_loss,
 *   plateau_ref, best_val +Inf (never set) or finite and ≥ 0 (losses are
 *   non-negative); loss_avg NaN (no epoch finished yet) or finite and ≥ 0; the RNG
 *   state not all zero (xoshiro's one forbidden state). Files written
 *   before batch and loss_avg existed read as 0 and NaN.
 *   Any other field is an error.
 * "nabla.schedule" = every nb_schedule field under its own name, but
 *   lr_kind as "lr_schedule" and optim and lr_schedule as names; doubles
 *   as JSON numbers (jansson writes 17 significant digits: exact), with
 *   target_loss's NaN as null; line_search a bool. A field that is absent
 *   (older files lack target_loss, ls_max_trials and check_every) keeps
 *   the caller's default (nb_schedule_default's, with the optimizer of
 *   "nabla.train"); the whole must pass nb_schedule_check.
 * "nabla.run" = {"batch": 0 … INT32_MAX (0: full batch), "seed": bits}.
 * "nabla.classes" = [one string per output], checked as
 *   nb_model_set_class_names checks its arguments.
 *
 * Readers take fn and path for their messages: NB_ERR_DATA reads
 * "fn: path: key: what is wrong with which field".
 */
#ifndef NB_CKPT_META_H
#define NB_CKPT_META_H

#include <stdbool.h>

#include "ckpt/checkpoint.h"

/* The JSON text (malloc'ed; NULL when out of memory). */
char *nb_meta_train_json(const nb_ckpt_train *tr);
char *nb_meta_schedule_json(const nb_schedule *s);
char *nb_meta_run_json(size_t batch, uint64_t seed);
char *nb_meta_classes_json(const nb_model *m); /* m has class names */

/* tr's optim, rng and ds from text (NULL: the key is missing). */
nb_status nb_meta_parse_train(const char *fn, const char *path, const char *text,
                              nb_ckpt_train *tr);
/* *s from text; a field the text lacks keeps its value in *s (the
 * caller's defaults). full_batch as the run was (line search needs it). */
nb_status nb_meta_parse_schedule(const char *fn, const char *path, const char *text,
                                 bool full_batch, nb_schedule *s);
nb_status nb_meta_parse_run(const char *fn, const char *path, const char *text, size_t *batch,
                            uint64_t *seed);
/* The names in text onto m (fn is the loader's name). */
nb_status nb_meta_parse_classes(const char *fn, const char *path, const char *text, nb_model *m);

#endif
