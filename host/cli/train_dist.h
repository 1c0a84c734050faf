/*
 * train_dist.h — what `nabla train` does differently when it is one of
 * several processes (ranks) started by mpirun: who prints, how the ranks
 * agree that every one of them is ready before training, which device and
 * how many threads each rank takes, and how a failure that one rank alone
 * sees ends the job.
 *
 * Everything here speaks only to an nb_comm (nabla_dist.h), so it is built
 * with or without MPI; mpi_main.c makes the communicator over MPI.
 */
#ifndef NB_CLI_TRAIN_DIST_H
#define NB_CLI_TRAIN_DIST_H

#include <stddef.h>
#include <stdio.h>

#include "nabla_dist.h"

typedef struct train_dist {
    const nb_comm *comm;        /* the ranks; NULL (or one rank): a plain run   */
    int local_rank, local_size; /* this rank's place among the ranks of its node */
    /* Ends the whole job with exit status code (MPI_Abort); never returns. */
    void (*abort)(void *ctx, int code);
    void *ctx;
    /* Filled in by the functions below. */
    int agreed;      /* nb_tdist_agree has run                          */
    int err_fd;      /* the real stderr while a rank > 0 holds its own  */
    FILE *held;      /* what a rank > 0 wrote to stderr before training */
    char device[64]; /* the device this rank trains on                  */
    char line[256];  /* how the ranks chose their devices (rank 0 prints) */
} train_dist;

/* The number of ranks (1 without a communicator) and this rank. */
int nb_tdist_ranks(const train_dist *d);
int nb_tdist_rank(const train_dist *d);

/* On a rank other than 0 of several: stdout goes nowhere (rank 0 prints
 * the run) and stderr is held back until nb_tdist_agree, so that a
 * mistake every rank makes is said once, by rank 0. */
void nb_tdist_quiet(train_dist *d);

/*
 * The ranks' one meeting before training, which every rank reaches once
 * whether its setup worked or not: code is -1 when this rank is ready to
 * train, else the exit status it would end with. Returns -1 when every
 * rank is ready, else the exit status of the lowest rank that is not,
 * which all ranks then end with; that rank's held messages are printed
 * (as "nabla train: rank R of K: ..."), rank 0's were printed already.
 * A failed exchange ends the job (nb_tdist_fail).
 */
int nb_tdist_agree(train_dist *d, int code);

/* A failure this rank alone may see, during training: one line
 * "nabla train: rank R of K: msg" on the real stderr, then the whole job
 * ends with exit status code. */
void nb_tdist_fail(train_dist *d, const char *msg, int code);

/*
 * The device of this rank for --device `device` (NULL: auto), and the
 * cpu backend's thread count (NABLA_THREADS, set here unless the user
 * set it): see the README's "Scale-out". Writes the one line rank 0
 * prints into line; returns the device name to use (in d->device, or
 * device itself when named fully).
 */
const char *nb_tdist_device(train_dist *d, const char *device, char *line, size_t n);

/* `nabla train` (argv from "train") as one rank of d's; cmd_train.c. */
int nb_cmd_train_dist(int argc, char **argv, train_dist *d);

/* `nabla CMD` under an MPI launcher (mpi_main.c, built with MPI only):
 * starts MPI, runs train across the ranks, refuses other commands with
 * more than one rank, runs them through dispatch with one, finalizes MPI;
 * the exit status. */
int nb_cli_mpi_main(const char *cmd, int argc, char **argv,
                    int (*dispatch)(const char *cmd, int argc, char **argv));

/* The ranks an MPI launcher says this process is one of, from its
 * environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE; 1 when neither), and this
 * process's rank among them (0 when unknown). For a build without MPI. */
int nb_cli_env_ranks(int *rank);

#endif
