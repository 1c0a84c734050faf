/*
 * status.h — recording errors (private).
 *
 * Every failure in the library goes through NB_FAIL, which stores one line
 * in the calling thread's last-error buffer and returns the status, so a
 * check reads as `if (bad) return NB_FAIL(NB_ERR_ARG, "nb_x: why %d", v);`.
 * The message ends with the source file:line of the check.
 */
#ifndef NB_STATUS_H
#define NB_STATUS_H

#include "nabla.h"

#if defined(__GNUC__)
#define NB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NB_PRINTF(f, a)
#endif

/* Store "<message> (file:line)" as the last error and return s. */
nb_status nb_error_set(nb_status s, const char *file, int line, const char *fmt, ...)
    NB_PRINTF(4, 5);

#define NB_FAIL(status, ...) nb_error_set((status), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failure that already recorded its message. */
#define NB_TRY(expr)                                                                               \
    do {                                                                                           \
        nb_status nb_try_s_ = (expr);                                                              \
        if (nb_try_s_ != NB_OK) return nb_try_s_;                                                  \
    } while (0)

/* Same, but jump to a cleanup label with the status in variable st. */
#define NB_CHECK(expr)                                                                             \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != NB_OK) goto fail;                                                                \
    } while (0)

/* Out-of-memory helper: records which call needed how many bytes. */
#define NB_NOMEM(what, bytes)                                                                      \
    NB_FAIL(NB_ERR_NOMEM, "%s: out of memory allocating %zu bytes", (what), (size_t)(bytes))

/* a * b into *out; returns 0 on overflow. */
static inline int nb_mul_ok(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > (size_t)-1 / b) return 0;
    *out = a * b;
    return 1;
}

/* a + b into *out; returns 0 on overflow. */
static inline int nb_add_ok(size_t a, size_t b, size_t *out)
{
    if (a > (size_t)-1 - b) return 0;
    *out = a + b;
    return 1;
}

#endif
