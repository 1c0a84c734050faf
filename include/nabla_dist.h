/*
 * nabla_dist.h — data-parallel training across processes.
 *
 * K processes (ranks) train one model together: each computes the gradient
 * of its part of the data, one sum over the ranks (an all-reduce) of the
 * one contiguous gradient buffer makes the global gradient, and every rank
 * applies the same update, so the parameters stay identical without ever
 * being sent. Losses, ‖∇Φ‖ and validation metrics are summed the same way,
 * so every halting rule decides on global values and all ranks stop at the
 * same update for the same reason.
 *
 * nabla links no MPI library. The caller hands it a communicator: a few
 * callbacks over its own MPI (or any library with an all-reduce). The
 * `nabla` command does this with MPI under mpirun (host/mpi/comm_mpi.c is
 * a short example of such a communicator).
 */
#ifndef NABLA_DIST_H
#define NABLA_DIST_H

#include "nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

typedef enum nb_comm_type {
    NB_COMM_F32 = 0, /* float   */
    NB_COMM_F64 = 1, /* double  */
    NB_COMM_I64 = 2  /* int64_t */
} nb_comm_type;

typedef enum nb_comm_op { NB_COMM_SUM = 0, NB_COMM_MIN = 1, NB_COMM_MAX = 2 } nb_comm_op;

/*
 * A communicator. ABI: size is sizeof(nb_comm) as the caller was compiled;
 * later versions only add fields at the end, and a library given a smaller
 * size uses its defaults for the fields the caller did not know.
 */
typedef struct nb_comm {
    size_t size;  /* sizeof(nb_comm)                                        */
    int rank;     /* this process, 0 .. ranks − 1                           */
    int ranks;    /* processes in the run, ≥ 1                              */
    void *ctx;    /* passed to the callbacks                                */
    /* In place and blocking: buf (count elements of type) becomes op over
     * every rank's buf. Every rank calls it in the same order with the same
     * count, type and op, and must get bit-identical results (MPI_Allreduce
     * with MPI_IN_PLACE does). Returns 0, or non-zero on failure. */
    int (*allreduce)(void *ctx, void *buf, size_t count, nb_comm_type type, nb_comm_op op);
    /* Optional: a one-line reason for the last failure (borrowed). */
    const char *(*error)(void *ctx);
} nb_comm;

/*
 * Check, on every rank at once, that the ranks run the same model
 * (architecture, activations, loss and initial parameters), the same data
 * (inputs, outputs, row counts and content of the training and validation
 * sets) and the same options (batch, seed, schedule, halting, checkpoint
 * cadence). Every rank returns the same status: NB_ERR_ARG with one message
 * naming the first thing that differs and its range over the ranks, or
 * NB_OK. A collective call: every rank must make it. nb_train_dist makes
 * it first; call it yourself to tell this failure, which every rank sees,
 * from one that only one rank sees (below).
 */
nb_status nb_dist_check(const nb_model *m, const nb_dataset *train, const nb_dataset *val,
                        const nb_train_options *o, const nb_comm *comm);

/*
 * nb_train across comm->ranks processes; every rank calls it with the same
 * arguments (nb_dist_check), each with its own model and backend, all of
 * one kind (the same update must give the same bits everywhere). comm NULL
 * or with one rank: exactly nb_train.
 *
 * The data. Full batch: rank r keeps only its shard of the training rows,
 * 1/K of them chosen by a shuffle seeded with o->seed (the union of the
 * shards is the whole set), and Φ and ∇Φ summed over the ranks are the
 * textbook mean over all rows. Mini-batch: o->batch is the global batch;
 * each epoch's shuffle is the one a single process makes, and rank r takes
 * rows [B·r/K, B·(r+1)/K) of each global batch of B rows, so K ranks see
 * the batches one process sees. Validation rows are split into K
 * contiguous ranges and the metrics summed.
 *
 * What is identical: the parameters on every rank, always (checked before
 * every checkpoint and at the end: a difference is NB_ERR_INTERNAL). What
 * is not: a K-rank run and a 1-rank run add the same terms in a different
 * order, so their parameters differ by float rounding, and that grows with
 * the number of updates.
 *
 * Decisions made on local facts are agreed: an interrupt on any rank, the
 * time limit on the slowest rank's clock, and a stop asked by any rank's
 * on_epoch end the run on all ranks at the same update. Callbacks run on
 * every rank (print on rank 0 only). Only rank 0 writes o->save; every rank
 * reads o->resume. o->fallback is not used when ranks > 1: a backend
 * failure is returned.
 *
 * Failures. A failure that one rank alone sees (its device, a write) is
 * returned on that rank only, while the others wait in their next
 * all-reduce: end the whole job then (MPI_Abort), as `nabla train` does;
 * the last checkpoint is intact (written atomically), and the run resumes
 * from it with any number of ranks. A failure of a comm callback is
 * NB_ERR_IO naming the call.
 */
nb_status nb_train_dist(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                        const nb_train_options *o, const nb_comm *comm, nb_result *res);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* NABLA_DIST_H */
