/* Safe publication: temp file, fsync, rename, fsync of the folder. */
#include "sluice/publish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice/alloc.h"

static _Atomic uint64_t temp_counter;

/* Folder part of path ("." when none) into a new string. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return sl_strdup(".");
  if (slash == path) return sl_strdup("/");
  return sl_strndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *dir, struct sl_error *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return sl_error_set(err, SL_EIO, "cannot open folder '%s' to fsync: %s",
                        dir, strerror(errno));
  int rc = 0;
  if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
    rc = sl_error_set(err, SL_EIO, "fsync of folder '%s' failed: %s", dir,
                      strerror(errno));
  close(fd);
  return rc;
}

int sl_publish_open(const char *final_path, struct sl_publish *p,
                    struct sl_error *err) {
  memset(p, 0, sizeof *p);
  p->fd = -1;
  p->fsync = true;
  size_t n = strlen(final_path);
  if (n == 0 || final_path[n - 1] == '/')
    return sl_error_set(err, SL_EINVAL, "output path '%s' does not name a file",
                        final_path);
  p->final_path = sl_strdup(final_path);
  const char *slash = strrchr(final_path, '/');
  const char *base = slash ? slash + 1 : final_path;
  size_t dir_len = (size_t)(base - final_path);
  size_t cap = n + 64;
  p->temp_path = sl_malloc(cap);
  if (!p->final_path || !p->temp_path) {
    sl_publish_abort(p);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t seq = atomic_fetch_add(&temp_counter, 1);
  snprintf(p->temp_path, cap, "%.*s.%s.tmp-%ld-%llx-%llu", (int)dir_len,
           final_path, base, (long)getpid(), (unsigned long long)ts.tv_nsec,
           (unsigned long long)seq);
  p->fd = open(p->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (p->fd < 0) {
    int e = errno;
    sl_error_set(err, e == ENOENT ? SL_ENOENT : SL_EIO,
                 "cannot create '%s' (for '%s'): %s", p->temp_path, final_path,
                 strerror(e));
    sl_free(p->final_path);
    sl_free(p->temp_path);
    p->final_path = p->temp_path = NULL;
    return err ? err->code : SL_EIO;
  }
  return 0;
}

int sl_publish_write(struct sl_publish *p, const void *data, size_t n,
                     struct sl_error *err) {
  const uint8_t *b = data;
  if (p->fd < 0)
    return sl_error_set(err, SL_EINVAL, "write to a closed publication");
  while (n > 0) {
    ssize_t w = write(p->fd, b, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return sl_error_set(err, SL_EIO, "writing '%s' failed: %s", p->temp_path,
                          strerror(errno));
    }
    b += w;
    n -= (size_t)w;
    p->bytes += w;
  }
  return 0;
}

void sl_publish_abort(struct sl_publish *p) {
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  if (p->temp_path) unlink(p->temp_path);
  sl_free(p->temp_path);
  sl_free(p->final_path);
  p->temp_path = p->final_path = NULL;
}

int sl_publish_commit(struct sl_publish *p, struct sl_error *err) {
  int rc = 0;
  char *dir = NULL;
  if (p->fd < 0 || !p->temp_path) {
    rc = sl_error_set(err, SL_EINVAL, "commit of a closed publication");
    goto cleanup;
  }
  if (p->fsync && fsync(p->fd) != 0) {
    rc = sl_error_set(err, SL_EIO, "fsync of '%s' failed: %s", p->temp_path,
                      strerror(errno));
    goto cleanup;
  }
  if (close(p->fd) != 0) {
    p->fd = -1;
    rc = sl_error_set(err, SL_EIO, "closing '%s' failed: %s", p->temp_path,
                      strerror(errno));
    goto cleanup;
  }
  p->fd = -1;
  if (rename(p->temp_path, p->final_path) != 0) {
    rc = sl_error_set(err, SL_EIO, "renaming '%s' to '%s' failed: %s",
                      p->temp_path, p->final_path, strerror(errno));
    goto cleanup;
  }
  sl_free(p->temp_path);
  p->temp_path = NULL;
  if (p->fsync) {
    dir = dir_of(p->final_path);
    if (!dir) {
      rc = sl_error_set(err, SL_ENOMEM, "out of memory");
      goto cleanup;
    }
    rc = fsync_dir(dir, err);
  }
cleanup:
  sl_free(dir);
  sl_publish_abort(p);
  return rc;
}

int sl_publish_mkdirs(const char *dir, struct sl_error *err) {
  size_t n = strlen(dir);
  char *buf = sl_strdup(dir);
  if (!buf) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t i = 1; i <= n && !rc; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char save = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) == 0) {
      char *parent = dir_of(buf);
      if (parent) fsync_dir(parent, NULL);
      sl_free(parent);
    } else if (errno != EEXIST) {
      rc = sl_error_set(err, SL_EIO, "cannot create folder '%s': %s", buf,
                        strerror(errno));
    } else {
      struct stat st;
      if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = sl_error_set(err, SL_EIO, "'%s' exists and is not a folder", buf);
    }
    buf[i] = save;
  }
  sl_free(buf);
  return rc;
}

static bool needs_escape(unsigned char c) {
  if (c < 0x20 || c == 0x7F) return true;
  return strchr("\"#%'*/:=?\\{[]^", c) != NULL;
}

static int put(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
  if (n >= cap - *len) return SL_ERANGE;
  memcpy(buf + *len, s, n);
  *len += n;
  buf[*len] = '\0';
  return 0;
}

static int put_escaped(char *buf, size_t cap, size_t *len, const char *s) {
  if (!*s) {
    const char *d = "__HIVE_DEFAULT_PARTITION__";
    return put(buf, cap, len, d, strlen(d));
  }
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (needs_escape(c)) {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02X", c);
      if (put(buf, cap, len, hex, 3)) return SL_ERANGE;
    } else if (put(buf, cap, len, (const char *)s, 1)) {
      return SL_ERANGE;
    }
  }
  return 0;
}

int sl_partition_path(char *buf, size_t cap, const char *root,
                      const char *const *keys, const char *const *values, int n,
                      const char *file_name, struct sl_error *err) {
  size_t len = 0;
  if (cap == 0) return sl_error_set(err, SL_ERANGE, "partition path: no room");
  buf[0] = '\0';
  int rc = 0;
  bool need_slash = false;
  if (root && *root) {
    rc |= put(buf, cap, &len, root, strlen(root));
    need_slash = root[strlen(root) - 1] != '/';
  }
  for (int i = 0; i < n && !rc; i++) {
    if (!keys[i] || !*keys[i])
      return sl_error_set(err, SL_EINVAL, "partition key %d is empty", i);
    if (need_slash) rc |= put(buf, cap, &len, "/", 1);
    rc |= put_escaped(buf, cap, &len, keys[i]);
    rc |= put(buf, cap, &len, "=", 1);
    rc |= put_escaped(buf, cap, &len, values[i] ? values[i] : "");
    need_slash = true;
  }
  if (file_name && !rc) {
    if (need_slash) rc |= put(buf, cap, &len, "/", 1);
    rc |= put(buf, cap, &len, file_name, strlen(file_name));
  }
  if (rc)
    return sl_error_set(err, SL_ERANGE, "partition path longer than %zu bytes",
                        cap - 1);
  return 0;
}
