/* sluice CLI: one file per subcommand, each exporting sl_cmd_<name>. */
#ifndef SLUICE_CLI_COMMANDS_H
#define SLUICE_CLI_COMMANDS_H

struct sl_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

int sl_cmd_gen(int argc, char **argv);
int sl_cmd_query(int argc, char **argv);
int sl_cmd_demo(int argc, char **argv);
int sl_cmd_devbench(int argc, char **argv);

int sl_cmd_run(int argc, char **argv);
int sl_cmd_check(int argc, char **argv);
int sl_cmd_invoke(int argc, char **argv);
int sl_cmd_produce(int argc, char **argv);
int sl_cmd_publish(int argc, char **argv);
int sl_cmd_consume(int argc, char **argv);
int sl_cmd_deploy(int argc, char **argv);
int sl_cmd_get(int argc, char **argv);
int sl_cmd_delete(int argc, char **argv);

#endif
