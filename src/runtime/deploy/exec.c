/* Running kubectl and the container engine for deploy, get and delete:
 * argv vectors (never a shell), so no quoting can go wrong on the way. */
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/deploy/deploy.h"

extern char **environ;

bool sl__exec_on_path(const char *prog) {
  if (strchr(prog, '/')) return access(prog, X_OK) == 0;
  const char *path = getenv("PATH");
  if (!path || !*path) return false;
  const char *p = path;
  while (*p) {
    const char *e = strchr(p, ':');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char full[4096];
    if (len == 0) {
      p = e ? e + 1 : p + len;
      continue;
    }
    if (len + 1 + strlen(prog) + 1 <= sizeof full) {
      memcpy(full, p, len);
      full[len] = '/';
      strcpy(full + len + 1, prog);
      struct stat st;
      if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
          access(full, X_OK) == 0)
        return true;
    }
    p = e ? e + 1 : p + len;
  }
  return false;
}

int sl__exec_run(char *const argv[], bool quiet) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return 127;
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

void sl__exec_print(FILE *f, const char *indent, char *const argv[]) {
  fputs(indent, f);
  for (int i = 0; argv[i]; i++) {
    if (i) fputc(' ', f);
    sl__shell_word(f, argv[i]);
  }
  fputc('\n', f);
}
