/*
 * cmd_descend.c — `nabla descend` (being written).
 */
#include "cli/args.h"
#include "cli/commands.h"

int nb_cmd_descend(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return nb_cli_usage_error("descend", "not available yet");
}
