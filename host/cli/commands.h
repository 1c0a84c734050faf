/*
 * commands.h — the nabla tool's subcommands. Each takes argv starting at
 * the subcommand's name and returns the process exit status.
 */
#ifndef NB_CLI_COMMANDS_H
#define NB_CLI_COMMANDS_H

int nb_cmd_train(int argc, char **argv);
int nb_cmd_devices(int argc, char **argv);
int nb_cmd_descend(int argc, char **argv);
int nb_cmd_gradcheck(int argc, char **argv);
int nb_cmd_eval(int argc, char **argv);
int nb_cmd_predict(int argc, char **argv);
int nb_cmd_bench(int argc, char **argv);
int nb_cmd_import(int argc, char **argv);
int nb_cmd_tune(int argc, char **argv);

#endif
