/*
 * profile.h — printing a backend's per-op profile as a table.
 */
#ifndef NB_CLI_PROFILE_H
#define NB_CLI_PROFILE_H

#include <stdio.h>

#include "nabla.h"

/* The table for everything run since profiling was enabled; wall_seconds
 * is the run's wall time, to show how much of it the ops account for. */
void nb_cli_print_profile(FILE *f, nb_backend *be, double wall_seconds);

/* Create the backend for a --device value, printing the fallback note of
 * "auto" on stderr. Returns 0, or the exit status after printing why. */
int nb_cli_open_backend(const char *cmd, const char *device, nb_backend **be);

#endif
