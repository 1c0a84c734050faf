/*
 * status.c — status names and the per-thread last-error message.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Large enough for an OpenCL build log, which is part of the message.
 * A new message is formatted in scratch first: an argument may be the
 * previous message (wrapping it with context), and vsnprintf must not
 * read the buffer it writes. */
static _Thread_local char last_error[32768], scratch[sizeof last_error];

const char *nb_status_str(nb_status s)
{
    switch (s) {
    case NB_OK: return "NB_OK";
    case NB_ERR_ARG: return "NB_ERR_ARG";
    case NB_ERR_NOMEM: return "NB_ERR_NOMEM";
    case NB_ERR_IO: return "NB_ERR_IO";
    case NB_ERR_DATA: return "NB_ERR_DATA";
    case NB_ERR_BACKEND: return "NB_ERR_BACKEND";
    case NB_ERR_UNSUPPORTED: return "NB_ERR_UNSUPPORTED";
    case NB_ERR_NONFINITE: return "NB_ERR_NONFINITE";
    case NB_ERR_INTERNAL: return "NB_ERR_INTERNAL";
    case NB_ERR_DIVERGED: return "NB_ERR_DIVERGED";
    }
    return "NB_ERR_UNKNOWN";
}

const char *nb_last_error(void) { return last_error; }

nb_status nb_error_set(nb_status s, const char *file, int line, const char *fmt, ...)
{
    /* Keep only the path from "host/" on, so messages do not depend on
     * where the source tree was built. */
    const char *rel = strstr(file, "host/");
    char where[128];
    snprintf(where, sizeof where, " (%s:%d)", rel ? rel : file, line);
    size_t room = sizeof last_error - strlen(where);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(scratch, room, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : ((size_t)n < room ? (size_t)n : room - 1);
    memcpy(last_error, scratch, len);
    memcpy(last_error + len, where, strlen(where) + 1);
    return s;
}
