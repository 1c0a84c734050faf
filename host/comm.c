/*
 * comm.c — calls through a caller's communicator (see comm.h).
 */
#include "comm.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

nb_status nb_comm_check(const char *fn, const nb_comm *c)
{
    if (!c) return NB_OK;
    /* The first version's fields are all there is so far. */
    if (c->size < sizeof(nb_comm))
        return NB_FAIL(NB_ERR_ARG, "%s: nb_comm.size %zu is smaller than this library's %zu", fn,
                       c->size, sizeof(nb_comm));
    if (c->ranks < 1 || c->rank < 0 || c->rank >= c->ranks)
        return NB_FAIL(NB_ERR_ARG, "%s: nb_comm has rank %d of %d ranks", fn, c->rank, c->ranks);
    if (!c->allreduce) return NB_FAIL(NB_ERR_ARG, "%s: nb_comm.allreduce is NULL", fn);
    return NB_OK;
}

static nb_status reduce(const nb_comm *c, void *v, size_t n, nb_comm_type type, nb_comm_op op,
                        const char *what)
{
    if (!nb_comm_many(c) || n == 0) return NB_OK;
    if (c->allreduce(c->ctx, v, n, type, op) == 0) return NB_OK;
    const char *why = c->error ? c->error(c->ctx) : NULL;
    return NB_FAIL(NB_ERR_IO, "nb_comm allreduce (rank %d of %d) of %s (%zu elements): %s",
                   c->rank, c->ranks, what, n, why && *why ? why : "failed");
}

nb_status nb_comm_sum_f32(const nb_comm *c, float *v, size_t n, const char *what)
{
    return reduce(c, v, n, NB_COMM_F32, NB_COMM_SUM, what);
}

nb_status nb_comm_sum_f64(const nb_comm *c, double *v, size_t n, const char *what)
{
    return reduce(c, v, n, NB_COMM_F64, NB_COMM_SUM, what);
}

nb_status nb_comm_max_f64(const nb_comm *c, double *v, size_t n, const char *what)
{
    return reduce(c, v, n, NB_COMM_F64, NB_COMM_MAX, what);
}

nb_status nb_comm_minmax_i64(const nb_comm *c, const int64_t *v, int64_t *lo, int64_t *hi,
                             size_t n, const char *what)
{
    memcpy(lo, v, n * sizeof *v);
    memcpy(hi, v, n * sizeof *v);
    NB_TRY(reduce(c, lo, n, NB_COMM_I64, NB_COMM_MIN, what));
    return reduce(c, hi, n, NB_COMM_I64, NB_COMM_MAX, what);
}

nb_status nb_comm_sum_buf(const nb_comm *c, nb_backend *be, nb_buf *b, size_t n, float *stage,
                          const char *what)
{
    if (!nb_comm_many(c)) return NB_OK;
    float *host = nb_be_host_f32(be, b);
    if (host) return nb_comm_sum_f32(c, host, n, what);
    NB_TRY(nb_be_read(be, b, 0, stage, n));
    NB_TRY(nb_comm_sum_f32(c, stage, n, what));
    return nb_be_write(be, b, 0, stage, n);
}

int64_t nb_fingerprint(const void *p, size_t n, int64_t h0)
{
    const unsigned char *s = p;
    uint64_t h = (uint64_t)h0 ^ 0xcbf29ce484222325u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3u;
        h ^= h >> 29; /* words differing only in high bits still spread */
    }
    for (; i < n; i++) h = (h ^ s[i]) * 0x100000001b3u;
    return (int64_t)(h >> 1); /* non-negative: compared as int64 */
}
