/*
 * comm.h — the library's side of a caller's communicator (private).
 *
 * Only host/comm.c calls through nb_comm's callbacks: these wrappers check
 * the communicator once, turn a failed callback into a status naming the
 * call and what was being summed, and give one process (no communicator,
 * or one rank) the identity without calling anything.
 */
#ifndef NB_COMM_H
#define NB_COMM_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "nabla_dist.h"

/* NB_OK when comm is NULL or well formed (size, ranks ≥ 1, rank in range,
 * an allreduce); NB_ERR_ARG naming the field otherwise. */
nb_status nb_comm_check(const char *fn, const nb_comm *comm);

/* More than one process? */
static inline bool nb_comm_many(const nb_comm *comm) { return comm && comm->ranks > 1; }

/* In place over every rank: the sum of float or double elements, the
 * maximum of doubles, the minimum and maximum of int64 values. `what`
 * names the quantity in a failure's message. */
nb_status nb_comm_sum_f32(const nb_comm *comm, float *v, size_t n, const char *what);
nb_status nb_comm_sum_f64(const nb_comm *comm, double *v, size_t n, const char *what);
nb_status nb_comm_max_f64(const nb_comm *comm, double *v, size_t n, const char *what);
nb_status nb_comm_minmax_i64(const nb_comm *comm, const int64_t *v, int64_t *lo, int64_t *hi,
                             size_t n, const char *what);

/* b's first n floats summed over every rank, in place on the backend:
 * directly in host memory when the backend keeps b there, else through
 * stage (n floats of the caller's). */
nb_status nb_comm_sum_buf(const nb_comm *comm, nb_backend *be, nb_buf *b, size_t n, float *stage,
                          const char *what);

/* A 63-bit fingerprint of n bytes (FNV-1a over 64-bit words), to compare
 * data and parameters across ranks without sending them. */
int64_t nb_fingerprint(const void *p, size_t n, int64_t h);

#endif
