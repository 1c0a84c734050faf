/*
 * comm_mpi.c — nb_comm over MPI_COMM_WORLD (see comm_mpi.h).
 *
 * The all-reduce is MPI_Allreduce in place. Its results are the same bits
 * on every rank for the reductions MPI implementations use (each element
 * is combined along one path and the result distributed, or combined
 * symmetrically, where a + b = b + a exactly); nb_train_dist checks the
 * parameters agree before every checkpoint all the same. A count above
 * INT_MAX goes in pieces, since MPI counts are int.
 */
#include "mpi/comm_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "status.h"

/* Float sums of at least this many elements (4 MiB) go round the ring
 * (ring_sum_f32); below, MPI_Allreduce, as fast or faster here. */
#define RING_MIN_FLOATS ((size_t)1 << 20)

struct nb_mpi {
    nb_comm comm;
    float *ring;     /* ring_sum_f32's receive buffer, ring_cap floats */
    size_t ring_cap;
    int local_rank, local_size;
    double seconds, bytes;
    long calls;
    char err[MPI_MAX_ERROR_STRING + 64];
};

bool nb_mpi_launched(void)
{
    /* Open MPI, PMIx (Open MPI 4 and 5, Slurm) and Hydra (MPICH). */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A failed MPI call's message into mp->err; returns 1. */
static int mpi_failed(nb_mpi *mp, const char *call, size_t count, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    snprintf(mp->err, sizeof mp->err, "%s of %zu elements: %s", call, count, msg);
    return 1;
}

/*
 * The sum of a large float buffer, round a ring of the ranks: the buffer
 * is cut into K segments; in K−1 steps each rank passes a segment to its
 * right neighbour and adds the one from its left, after which rank r holds
 * segment r+1 summed over all ranks; K−1 more steps pass the sums round.
 * Each rank sends and receives 2(K−1)/K of the buffer, the least any
 * all-reduce can, and each segment is summed on one path and then copied,
 * so every rank gets the same bits. Open MPI's default for two ranks sends
 * the whole buffer each way instead: measured here on 42 MB, 21 ms against
 * 12 ms. Returns -1 when the segments do not fit MPI's int counts.
 */
static int ring_sum_f32(nb_mpi *mp, float *v, size_t n)
{
    int k = mp->comm.ranks, r = mp->comm.rank;
    size_t seg = (n + (size_t)k - 1) / (size_t)k;
    if (seg > (size_t)INT_MAX) return -1;
    if (seg > mp->ring_cap) {
        float *t = realloc(mp->ring, seg * sizeof *t);
        if (!t) {
            snprintf(mp->err, sizeof mp->err, "ring sum: out of memory for %zu floats", seg);
            return 1;
        }
        mp->ring = t, mp->ring_cap = seg;
    }
    int right = (r + 1) % k, left = (r + k - 1) % k;
#define SEG_LO(j) ((size_t)(j) * seg < n ? (size_t)(j) * seg : n)
#define SEG_LEN(j) ((int)(SEG_LO((j) + 1) - SEG_LO(j)))
    for (int s = 0; s < k - 1; s++) {
        int out = (r - s + 2 * k) % k, in = (r - s - 1 + 2 * k) % k;
        int rc = MPI_Sendrecv(v + SEG_LO(out), SEG_LEN(out), MPI_FLOAT, right, 0, mp->ring,
                              SEG_LEN(in), MPI_FLOAT, left, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_failed(mp, "MPI_Sendrecv (ring sum)", n, rc);
        float *dst = v + SEG_LO(in);
        for (int i = 0; i < SEG_LEN(in); i++) dst[i] += mp->ring[i];
    }
    for (int s = 0; s < k - 1; s++) {
        int out = (r + 1 - s + 2 * k) % k, in = (r - s + 2 * k) % k;
        int rc = MPI_Sendrecv(v + SEG_LO(out), SEG_LEN(out), MPI_FLOAT, right, 1, v + SEG_LO(in),
                              SEG_LEN(in), MPI_FLOAT, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_failed(mp, "MPI_Sendrecv (ring sum)", n, rc);
    }
#undef SEG_LO
#undef SEG_LEN
    return 0;
}

static int mpi_allreduce(void *ctx, void *buf, size_t count, nb_comm_type type, nb_comm_op op)
{
    nb_mpi *mp = ctx;
    static const MPI_Op ops[] = {[NB_COMM_SUM] = MPI_SUM, [NB_COMM_MIN] = MPI_MIN,
                                 [NB_COMM_MAX] = MPI_MAX};
    MPI_Datatype dt = type == NB_COMM_F32 ? MPI_FLOAT : type == NB_COMM_F64 ? MPI_DOUBLE
                                                                            : MPI_INT64_T;
    size_t esize = type == NB_COMM_F32 ? 4 : 8;
    if ((unsigned)op > (unsigned)NB_COMM_MAX || (unsigned)type > (unsigned)NB_COMM_I64) {
        snprintf(mp->err, sizeof mp->err, "MPI_Allreduce: unknown type %d or op %d", (int)type,
                 (int)op);
        return 1;
    }
    double t0 = now();
    /* Gradients go round the ring; small sums (losses, flags) and other
     * reductions are latency-bound, which MPI's own algorithms are for. */
    int ring = type == NB_COMM_F32 && op == NB_COMM_SUM && mp->comm.ranks > 1 &&
                       count >= RING_MIN_FLOATS
                   ? ring_sum_f32(mp, buf, count)
                   : -1;
    if (ring > 0) return 1;
    char *p = buf;
    for (size_t done = 0; ring < 0 && done < count;) {
        int n = count - done > (size_t)INT_MAX ? INT_MAX : (int)(count - done);
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + done * esize, n, dt, ops[op], MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_failed(mp, "MPI_Allreduce", count, rc);
        done += (size_t)n;
    }
    mp->seconds += now() - t0;
    mp->bytes += (double)count * (double)esize;
    mp->calls++;
    return 0;
}

static const char *mpi_error(void *ctx) { return ((nb_mpi *)ctx)->err; }

nb_status nb_mpi_init(int *argc, char ***argv, nb_mpi **out)
{
    *out = NULL;
    nb_mpi *mp = calloc(1, sizeof *mp);
    if (!mp) return NB_NOMEM("nb_mpi_init", sizeof *mp);
    int provided = 0, rank = 0, ranks = 1;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        free(mp);
        return NB_FAIL(NB_ERR_IO, "nb_mpi_init: MPI_Init_thread failed");
    }
    /* Errors come back as codes (the default aborts the job), so that a
     * failed call becomes a status with MPI's own message. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    MPI_Comm node;
    mp->local_rank = 0;
    mp->local_size = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(node, &mp->local_rank);
        MPI_Comm_size(node, &mp->local_size);
        MPI_Comm_free(&node);
    }
    mp->comm = (nb_comm){.size = sizeof(nb_comm), .rank = rank, .ranks = ranks, .ctx = mp,
                         .allreduce = mpi_allreduce, .error = mpi_error};
    *out = mp;
    return NB_OK;
}

const nb_comm *nb_mpi_comm(const nb_mpi *mp) { return &mp->comm; }
int nb_mpi_local_rank(const nb_mpi *mp) { return mp->local_rank; }
int nb_mpi_local_size(const nb_mpi *mp) { return mp->local_size; }
double nb_mpi_comm_seconds(const nb_mpi *mp) { return mp->seconds; }
long nb_mpi_comm_calls(const nb_mpi *mp) { return mp->calls; }
double nb_mpi_comm_bytes(const nb_mpi *mp) { return mp->bytes; }

void nb_mpi_comm_reset(nb_mpi *mp)
{
    mp->seconds = mp->bytes = 0.0;
    mp->calls = 0;
}

void nb_mpi_abort(nb_mpi *mp, int code)
{
    (void)mp;
    MPI_Abort(MPI_COMM_WORLD, code);
}

void nb_mpi_finalize(nb_mpi *mp)
{
    if (!mp) return;
    MPI_Finalize();
    free(mp->ring);
    free(mp);
}
