/*
 * cmd_gradcheck.c — `nabla gradcheck` (being written).
 */
#include "cli/args.h"
#include "cli/commands.h"

int nb_cmd_gradcheck(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return nb_cli_usage_error("gradcheck", "not available yet");
}
