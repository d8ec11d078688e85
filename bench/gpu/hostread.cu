/* bench/gpu/hostread: how fast the host can hand a file in the page cache to
 * the GPU, the part that bounds sluice's warm end-to-end runs. Measures, on
 * one file: pread into a pinned buffer (as the backend does) with 1..16
 * threads; a mapping copied into pinned memory; the mapping registered with
 * cudaHostRegister (read-only) and copied to the device by DMA alone; the
 * H2D copy from pinned memory (the ceiling). With --recache it then drops
 * the file from the page cache and reads it back with 8 MiB reads (large
 * folios) and measures pread again.
 *   hostread FILE [--recache]
 * Prints one JSON object per measurement. Built by bench/gpu/run.sh or
 * scripts/cuda-build.sh's nvcc: nvcc -O2 -Xcompiler -fopenmp hostread.cu */
#include <cuda_runtime.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const size_t CHUNK = 128u << 20;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int check(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return 0;
  fprintf(stderr, "hostread: %s: %s\n", what, cudaGetErrorString(e));
  return 1;
}

/* The whole file through one pinned chunk buffer, `threads` preads a chunk. */
static double pread_all(int fd, size_t len, char *pinned, int threads) {
  double t0 = now();
  for (size_t pos = 0; pos < len; pos += CHUNK) {
    size_t n = len - pos < CHUNK ? len - pos : CHUNK;
    size_t per = ((n + (size_t)threads - 1) / (size_t)threads + 4095) & ~4095ul;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < threads; i++) {
      size_t s = (size_t)i * per, got = 0;
      size_t want = s >= n ? 0 : s + per > n ? n - s : per;
      while (got < want) {
        ssize_t r =
            pread(fd, pinned + s + got, want - got, (off_t)(pos + s + got));
        if (r <= 0) break;
        got += (size_t)r;
      }
    }
  }
  return now() - t0;
}

static void report(const char *what, int threads, size_t len, double s) {
  printf("{\"what\":\"%s\",\"threads\":%d,\"bytes\":%zu,\"seconds\":%.4f,"
         "\"gb_per_s\":%.2f}\n",
         what, threads, len, s, (double)len / s / 1e9);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hostread FILE [--recache]\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) {
    fprintf(stderr, "hostread: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  size_t len = (size_t)st.st_size;
  char *pinned = NULL, *dev = NULL;
  if (check(cudaMallocHost((void **)&pinned, CHUNK), "cudaMallocHost") ||
      check(cudaMalloc((void **)&dev, CHUNK), "cudaMalloc"))
    return 1;
  int rounds = argc > 2 && !strcmp(argv[2], "--recache") ? 2 : 1;
  for (int round = 0; round < rounds; round++) {
    const char *tag = round ? "after re-cache with 8 MiB reads" : "as found";
    printf("{\"state\":\"%s\"}\n", tag);
    static const int ts[] = {1, 2, 4, 8, 12, 16};
    for (int k = 0; k < 6; k++) {
      double best = 1e9;
      for (int rep = 0; rep < 2; rep++) {
        double s = pread_all(fd, len, pinned, ts[k]);
        if (s < best) best = s;
      }
      report("pread into pinned", ts[k], len, best);
    }
    /* A fresh mapping each time: page-table set-up is part of the cost. */
    for (int rep = 0; rep < 2; rep++) {
      double t0 = now();
      char *m = (char *)mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
      if (m == MAP_FAILED) break;
      for (size_t pos = 0; pos < len; pos += CHUNK) {
        size_t n = len - pos < CHUNK ? len - pos : CHUNK, per = n / 16 + 1;
#pragma omp parallel for num_threads(16) schedule(static)
        for (int i = 0; i < 16; i++) {
          size_t s = (size_t)i * per;
          if (s < n) memcpy(pinned + s, m + pos + s, s + per > n ? n - s : per);
        }
      }
      double s = now() - t0;
      munmap(m, len);
      report("mmap + copy into pinned", 16, len, s);
    }
    /* Register the mapping and let the copy engine read the page cache. */
    for (int rep = 0; rep < 2; rep++) {
      char *m = (char *)mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
      if (m == MAP_FAILED) break;
      double t0 = now();
      if (check(cudaHostRegister(m, len, cudaHostRegisterReadOnly),
                "cudaHostRegister(read-only)")) {
        munmap(m, len);
        break;
      }
      double t1 = now();
      for (size_t pos = 0; pos < len; pos += CHUNK) {
        size_t n = len - pos < CHUNK ? len - pos : CHUNK;
        cudaMemcpyAsync(dev, m + pos, n, cudaMemcpyHostToDevice, 0);
      }
      check(cudaDeviceSynchronize(), "H2D from the registered mapping");
      double t2 = now();
      cudaHostUnregister(m);
      double t3 = now();
      munmap(m, len);
      report("cudaHostRegister of the mapping", 1, len, t1 - t0);
      report("H2D from the registered mapping", 1, len, t2 - t1);
      report("cudaHostUnregister", 1, len, t3 - t2);
      report("register + H2D + unregister", 1, len, t3 - t0);
    }
    {
      double t0 = now();
      for (size_t pos = 0; pos < len; pos += CHUNK) {
        size_t n = len - pos < CHUNK ? len - pos : CHUNK;
        cudaMemcpyAsync(dev, pinned, n, cudaMemcpyHostToDevice, 0);
      }
      check(cudaDeviceSynchronize(), "H2D from pinned memory");
      report("H2D from pinned memory (ceiling)", 1, len, now() - t0);
    }
    if (round + 1 < rounds) {
      /* Drop the file's pages, then read it back with large reads. */
      double t0 = now();
      fsync(fd);
      posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      char *buf = (char *)malloc(8u << 20);
      for (size_t pos = 0; buf && pos < len; pos += 8u << 20)
        if (pread(fd, buf, 8u << 20, (off_t)pos) <= 0) break;
      free(buf);
      report("drop + re-read with 8 MiB reads", 1, len, now() - t0);
    }
  }
  cudaFreeHost(pinned);
  cudaFree(dev);
  close(fd);
  return 0;
}
