/*
 * mpi_main.c — the `nabla` command under an MPI launcher (built with MPI
 * only): MPI is started for every command, since only MPI says how many
 * ranks there are; `train` runs across them (train_dist.h), any other
 * command is refused when there is more than one, and MPI is finalized
 * on every way out but the abort of a failed rank.
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/train_dist.h"
#include "mpi/comm_mpi.h"

static void abort_job(void *ctx, int code) { nb_mpi_abort(ctx, code); }

int nb_cli_mpi_main(const char *cmd, int argc, char **argv,
                    int (*dispatch)(const char *cmd, int argc, char **argv))
{
    nb_mpi *mp = NULL;
    nb_status st = nb_mpi_init(&argc, &argv, &mp);
    if (st != NB_OK) return nb_cli_fail(cmd, st);
    const nb_comm *comm = nb_mpi_comm(mp);
    int code;
    if (comm->ranks > 1 && strcmp(cmd, "train") != 0) {
        /* Every rank would do the same work and write the same files. */
        if (comm->rank == 0)
            fprintf(stderr, "nabla %s: only 'nabla train' runs across ranks (this job has %d); "
                            "run 'nabla %s' as one process\n", cmd, comm->ranks, cmd);
        code = NB_EXIT_USAGE;
    } else if (comm->ranks > 1) {
        train_dist d = {.comm = comm, .local_rank = nb_mpi_local_rank(mp),
                        .local_size = nb_mpi_local_size(mp), .abort = abort_job, .ctx = mp};
        code = nb_cmd_train_dist(argc - 1, argv + 1, &d);
    } else {
        code = dispatch(cmd, argc, argv); /* one rank: the plain command */
    }
    nb_mpi_finalize(mp);
    return code;
}
