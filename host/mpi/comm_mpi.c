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

struct nb_mpi {
    nb_comm comm;
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
    char *p = buf;
    for (size_t done = 0; done < count;) {
        int n = count - done > (size_t)INT_MAX ? INT_MAX : (int)(count - done);
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + done * esize, n, dt, ops[op], MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING];
            int len = 0;
            MPI_Error_string(rc, msg, &len);
            snprintf(mp->err, sizeof mp->err, "MPI_Allreduce of %zu elements: %s", count, msg);
            return 1;
        }
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
    free(mp);
}
