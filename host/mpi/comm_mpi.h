/*
 * comm_mpi.h — an nb_comm over MPI's world communicator (nabla_dist.h).
 *
 * Not part of the library (which links no MPI): the `nabla` command and
 * the MPI tests link it, and it is a short example of a communicator for
 * programs that call nb_train_dist themselves. Built with -DNABLA_MPI=ON.
 */
#ifndef NB_COMM_MPI_H
#define NB_COMM_MPI_H

#include <stdbool.h>

#include "nabla_dist.h"

typedef struct nb_mpi nb_mpi;

/* Was this process started by an MPI launcher (mpirun, mpiexec)? Read
 * from the launcher's environment, so a plain `nabla train` never
 * initialises MPI. */
bool nb_mpi_launched(void);

/* MPI_Init (threads: funneled) and the world communicator. NB_ERR_IO when
 * MPI fails to start. */
nb_status nb_mpi_init(int *argc, char ***argv, nb_mpi **out);

/* The communicator; valid until nb_mpi_finalize. */
const nb_comm *nb_mpi_comm(const nb_mpi *mp);

/* This rank's place among the ranks of its node (MPI_Comm_split_type,
 * shared memory): local rank and local size. */
int nb_mpi_local_rank(const nb_mpi *mp);
int nb_mpi_local_size(const nb_mpi *mp);

/* Time spent inside the all-reduce callback and how many calls, since the
 * start or the last reset (for `nabla bench` and --profile). */
double nb_mpi_comm_seconds(const nb_mpi *mp);
long nb_mpi_comm_calls(const nb_mpi *mp);
double nb_mpi_comm_bytes(const nb_mpi *mp);
void nb_mpi_comm_reset(nb_mpi *mp);

/* End the whole job from one rank (MPI_Abort on the world), for a failure
 * that the other ranks cannot see: they would wait for it forever. */
void nb_mpi_abort(nb_mpi *mp, int code);

/* MPI_Finalize and free; NULL is ignored. */
void nb_mpi_finalize(nb_mpi *mp);

#endif
