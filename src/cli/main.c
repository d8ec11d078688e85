/* sluice: command-line entry point; dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("sluice %s\n", SLUICE_VERSION);
  return 0;
}

/* Add a subcommand: one line here, one file src/cli/cmd_<name>.c. */
static const struct sl_command commands[] = {
    {"gen", "generate sample JSON Lines logs", sl_cmd_gen},
    {"query", "run a SQL query over JSON Lines / Parquet files", sl_cmd_query},
    {"demo", "the main job: sample logs -> columns -> SQL -> Parquet",
     sl_cmd_demo},
    {"bench-device", "run benchmark queries Q1-Q6 on the GPU backend",
     sl_cmd_devbench},
    {"run", "run a function (function.yaml) until stopped", sl_cmd_run},
    {"check", "validate a function spec without running it", sl_cmd_check},
    {"invoke", "send a test event to a running function", sl_cmd_invoke},
    {"produce",
     "produce generated log lines to a Kafka topic (tests, benchmarks)",
     sl_cmd_produce},
    {"publish", "publish test messages to NATS or MQTT", sl_cmd_publish},
    {"consume", "consume-only NATS client (benchmark baseline)",
     sl_cmd_consume},
    {"deploy", "build and deploy a function to Kubernetes", sl_cmd_deploy},
    {"get", "list deployed functions (through kubectl)", sl_cmd_get},
    {"delete", "delete a deployed function (through kubectl)", sl_cmd_delete},
    {"version", "print the version", cmd_version},
};

static void usage(FILE *f) {
  fprintf(f, "usage: sluice <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'sluice <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "sluice: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
