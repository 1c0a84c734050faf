/*
 * sched_args.h — the command-line flags of the descent schedule (step
 * size, line search, optimizer, halting), shared by `nabla train` and
 * `nabla descend` so both spell and check them the same way.
 */
#ifndef NB_CLI_SCHED_ARGS_H
#define NB_CLI_SCHED_ARGS_H

#include <getopt.h>

#include "nabla.h"

/* getopt_long codes of the schedule flags are in [NB_SCHED_OPT_BASE, +64). */
enum { NB_SCHED_OPT_BASE = 1000 };

/* The long options, terminated by a zero entry. */
extern const struct option nb_sched_options[];

/* Is c one of ours? */
static inline int nb_sched_is_opt(int c) { return c >= NB_SCHED_OPT_BASE && c < NB_SCHED_OPT_BASE + 64; }

/* Parse one schedule flag into s; 1 on success, 0 after printing why. */
int nb_sched_parse(const char *cmd, int c, const char *value, nb_schedule *s, int *epochs_set);

/* The help text for the schedule flags (ends with a newline). */
extern const char nb_sched_help[];

#endif
