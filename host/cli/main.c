/*
 * main.c — the nabla command-line tool: dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/commands.h"
#include "cli/train_dist.h"
#include "nabla.h"
#ifdef NABLA_HAVE_MPI
#include "mpi/comm_mpi.h"
#endif

static const char main_help[] =
    "usage: nabla <command> [options]\n"
    "\n"
    "Train multilayer perceptrons by gradient descent.\n"
    "\n"
    "Commands\n"
    "  train      train a model on a CSV file or the bundled digits\n"
    "  eval       loss, accuracy, per-class precision/recall of a saved model\n"
    "  predict    a saved model's outputs for every row of a CSV file\n"
    "  import     a model from plain safetensors weights (e.g. saved by Python)\n"
    "  devices    list the OpenCL devices and the one --device auto picks\n"
    "  descend    gradient descent on a built-in 2-D function, with a picture\n"
    "  gradcheck  check backpropagation against finite differences\n"
    "  bench      time the workloads on every device, in one run\n"
    "  tune       find and keep the fastest kernels for an OpenCL device\n"
    "\n"
    "Run 'nabla <command> --help' or 'nabla help <command>' for a command's options.\n"
    "  -h, --help       this help\n"
    "  --version        print the version, the commit it was built from (when\n"
    "                   known), the backends compiled in and MPI when it is\n"
    "  --verbose        (with any command) error messages name nabla's source\n"
    "                   location too\n";

/* The library's notices (a first kernel build), one line each on stderr,
 * named like the command's own messages. */
static char notice_cmd[32];
static void print_notice(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "nabla %s: %s\n", notice_cmd, line);
}

#ifndef NABLA_COMMIT
#define NABLA_COMMIT "unknown" /* set by CMake from `git rev-parse` at configure time */
#endif

/* `nabla --version`: the library's version, the commit when the build knew
 * it, the backends this build has (OpenCL is optional at build time) and,
 * when built in, MPI (also optional). */
static void print_version(void)
{
    printf("nabla %s\n", nb_version());
    if (strcmp(NABLA_COMMIT, "unknown") != 0) printf("commit %s\n", NABLA_COMMIT);
#ifdef NABLA_HAVE_OPENCL
    puts("backends: cpu opencl");
#else
    puts("backends: cpu");
#endif
#ifdef NABLA_HAVE_MPI
    puts("mpi: built in (mpirun -np K nabla train)");
#endif
}

/* Run command cmd (argv from the program's name); the exit status. */
static int dispatch(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "train") == 0) return nb_cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "devices") == 0) return nb_cmd_devices(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return nb_cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0) return nb_cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "descend") == 0) return nb_cmd_descend(argc - 1, argv + 1);
    if (strcmp(cmd, "gradcheck") == 0) return nb_cmd_gradcheck(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return nb_cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0) return nb_cmd_import(argc - 1, argv + 1);
    if (strcmp(cmd, "tune") == 0) return nb_cmd_tune(argc - 1, argv + 1);
    fprintf(stderr, "nabla: unknown command '%s' (see nabla --help)\n", cmd);
    return NB_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return NB_EXIT_USAGE;
    }
    /* --verbose works with every command: it is taken out here, before
     * the command parses its own flags. */
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) { /* the rest is not for us */
            while (i < argc) argv[n++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--verbose") == 0)
            nb_cli_verbose = 1;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    argv[argc] = NULL;
    if (argc < 2) {
        fputs(main_help, stderr);
        return NB_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    /* `nabla help CMD` is `nabla CMD --help`: the same text, from the
     * command itself; an unknown CMD is refused below like any other. */
    char *help_argv[] = {argv[0], NULL, "--help", NULL};
    if (strcmp(cmd, "help") == 0 && argc > 3) {
        fprintf(stderr, "nabla help: one command at a time, not '%s %s'\n", argv[2], argv[3]);
        return NB_EXIT_USAGE;
    }
    if (strcmp(cmd, "help") == 0 && argc == 3 && strcmp(argv[2], "-h") != 0 &&
        strcmp(argv[2], "--help") != 0 && strcmp(argv[2], "help") != 0) {
        if (argv[2][0] == '-') {
            fprintf(stderr, "nabla help: '%s' is not a command (see nabla --help)\n", argv[2]);
            return NB_EXIT_USAGE;
        }
        help_argv[1] = argv[2];
        argc = 3, argv = help_argv, cmd = argv[1];
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_help, stdout);
        return NB_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        print_version();
        return NB_EXIT_OK;
    }
    snprintf(notice_cmd, sizeof notice_cmd, "%s", cmd);
    nb_set_notice_handler(print_notice, NULL);
    /* The OpenCL loader is chosen once, before any command touches OpenCL. */
    if (nb_cli_opencl_library() != NB_OK) return nb_cli_fail(cmd, NB_ERR_ARG);
#ifdef NABLA_HAVE_MPI
    /* Under mpirun: MPI is started only then, so a plain run never
     * touches it. */
    if (nb_mpi_launched()) return nb_cli_mpi_main(cmd, argc, argv, dispatch);
#else
    /* Under mpirun with several ranks, each copy would train alone, all
     * writing the same files: say so once, from the first rank. */
    int env_rank, env_ranks = nb_cli_env_ranks(&env_rank);
    if (env_ranks > 1) {
        if (env_rank == 0)
            fprintf(stderr, "nabla %s: MPI is not built in, so the %d ranks of this job cannot "
                            "work together (build with -DNABLA_MPI=ON and Open MPI)\n", cmd,
                    env_ranks);
        return NB_EXIT_USAGE;
    }
#endif
    return dispatch(cmd, argc, argv);
}
