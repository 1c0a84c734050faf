/*
 * args.h — command-line argument parsing helpers for the nabla tool.
 *
 * Each parser checks the whole string and the range; on failure it prints
 * one line "nabla CMD: --flag: why" to stderr and returns 0, and the
 * command exits with status 2.
 */
#ifndef NB_CLI_ARGS_H
#define NB_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

/* Exit statuses of the nabla tool. */
enum { NB_EXIT_OK = 0, NB_EXIT_FAIL = 1, NB_EXIT_USAGE = 2, NB_EXIT_DEVICE = 3 };

/* Print "nabla CMD: message" to stderr; returns NB_EXIT_USAGE. */
int nb_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

int nb_arg_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int nb_arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
/* A finite double in [lo, hi]; lo_open/hi_open exclude the ends. */
int nb_arg_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  int lo_open, int hi_open, double *out);
/* "64,32,10": at least 2 positive widths, at most max. */
int nb_arg_widths(const char *cmd, const char *flag, const char *s, int *widths, int max, int *n);
/* "sigmoid" or "relu,relu,sigmoid": one activation, or one per layer. */
int nb_arg_acts(const char *cmd, const char *flag, const char *s, nb_act *acts, int max, int *n);

/* Map a library status to the tool's exit status. */
int nb_cli_exit_for(nb_status s);

#endif
