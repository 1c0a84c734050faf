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
    /* Four independent lanes, each a multiply-xor chain over every fourth
     * word, so the multiplies overlap: a whole training set is hashed at
     * memory speed, once per run. */
    const unsigned char *s = p;
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h[4] = {(uint64_t)h0 ^ 0xcbf29ce484222325u, 1, 2, 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; j++) {
            uint64_t w;
            memcpy(&w, s + i + 8 * (size_t)j, 8);
            h[j] = (h[j] ^ w) * k;
            h[j] ^= h[j] >> 29; /* words differing only in high bits still spread */
        }
    for (; i < n; i++) h[0] = (h[0] ^ s[i]) * k;
    uint64_t x = h[0];
    for (int j = 1; j < 4; j++) x = ((x ^ (x >> 31)) * k) ^ h[j];
    x ^= x >> 29;
    x ^= (uint64_t)n;
    return (int64_t)(x >> 1); /* non-negative: compared as int64 */
}
