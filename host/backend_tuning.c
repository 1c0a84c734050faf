/*
 * backend_tuning.c — what a backend says about its kernel configuration
 * (nabla.h: nb_backend_tuning), from the facts its constructor filled.
 */
#include "backend.h"

const char *nb_backend_tuning(const nb_backend *be, int *tuned)
{
    if (tuned) *tuned = be ? be->facts.tuned : 0;
    return be ? be->facts.tuning : "";
}
