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

/* Is device (--device or NABLA_DEVICE; NULL when neither) "auto"? Only
 * auto may move a run to the cpu when the device fails. */
int nb_cli_device_is_auto(const char *device);

/* Set by --verbose (any command): library errors keep their source
 * locations. */
extern int nb_cli_verbose;
/* nb_last_error() as the tool shows it: without the library's source
 * locations (" (host/x.c:12)"), unless nb_cli_verbose. */
const char *nb_cli_error(void);
/* The same for a message kept from earlier (e.g. nb_result.fallback). */
const char *nb_cli_error_text(const char *e);
/* Print "nabla CMD: <library error>"; return the exit status for s. */
int nb_cli_fail(const char *cmd, nb_status s);

/* Concatenate n option tables, each ending in a zero entry, into out (cap
 * entries), zero-terminated; 0 when they do not fit. */
struct option;
int nb_cli_options(struct option *out, int cap, const struct option *const *tables, int n);

/* Check before any work that a file can be written at path: its directory
 * exists and is writable, and path is not a directory or other non-regular
 * file. 0 after printing "nabla CMD: FLAG: why". */
int nb_cli_check_output(const char *cmd, const char *flag, const char *path);

#endif
