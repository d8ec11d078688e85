/* bench/gpu/hostread: how fast the host can hand a file in the page cache to
 * the GPU, the part that bounds sluice's warm end-to-end runs. Measures, on
 * one file: pread into a pinned buffer (as the backend does) with 1..16
 * threads; a mapping copied into pinned memory; the mapping registered with
 * cudaHostRegister (read-only) in one call and copied to the device by DMA
 * alone; the H2D copy from pinned memory (the ceiling). Then:
 *  - "pread pipeline": pread and H2D interleaved in pieces of 2-128 MiB
 *    through a ring of 2 or 4 pinned slots (pread_pipeline; 128 MiB and 2
 *    slots is the backend's default read);
 *  - "register windows": the mapping's windows (64 MiB-1 GiB) registered,
 *    then unregistered, by 1-16 threads with nothing else running;
 *  - "register pipeline": what a backend would run: worker threads register
 *    windows ahead (at most 2 GiB registered at a time), the main thread
 *    copies the file to the device in 128 MiB chunks on two streams as soon
 *    as a chunk's windows are registered (by DMA, or by a kernel reading the
 *    mapped host memory: "copy":"kernel"), and a worker unregisters a window
 *    once the copies that read it are done.
 * Reported: the time until the whole file is in device memory ("seconds",
 * "gb_per_s"), for the registration pipeline also until every window is
 * unregistered and the mapping gone ("seconds_all"), the CPU time of the
 * process ("cpu_s"; the main thread spins in cudaEventSynchronize) and of
 * the registering threads ("reg_cpu_s"). With --recache it then drops the
 * file from the page cache, reads it back with 8 MiB reads (large folios)
 * and measures again.
 *   hostread FILE [--recache]
 * Prints one JSON object per measurement. Built by scripts/cuda-build.sh:
 *   nvcc -O2 -Xcompiler -fopenmp hostread.cu */
#include <cuda_runtime.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

/* n bytes at file offset pos into dst, split between `threads` preads. */
static void pread_piece(int fd, char *dst, size_t n, size_t pos, int threads) {
  size_t per = ((n + (size_t)threads - 1) / (size_t)threads + 4095) & ~4095ul;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int i = 0; i < threads; i++) {
    size_t s = (size_t)i * per, got = 0;
    size_t want = s >= n ? 0 : s + per > n ? n - s : per;
    while (got < want) {
      ssize_t r = pread(fd, dst + s + got, want - got, (off_t)(pos + s + got));
      if (r <= 0) break;
      got += (size_t)r;
    }
  }
}

/* The whole file through one pinned chunk buffer, `threads` preads a chunk. */
static double pread_all(int fd, size_t len, char *pinned, int threads) {
  double t0 = now();
  for (size_t pos = 0; pos < len; pos += CHUNK) {
    size_t n = len - pos < CHUNK ? len - pos : CHUNK;
    pread_piece(fd, pinned, n, pos, threads);
  }
  return now() - t0;
}

static void report(const char *what, int threads, size_t len, double s) {
  printf("{\"what\":\"%s\",\"threads\":%d,\"bytes\":%zu,\"seconds\":%.4f,"
         "\"gb_per_s\":%.2f}\n",
         what, threads, len, s, (double)len / s / 1e9);
  fflush(stdout);
}

static double cpu_now(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static double thread_cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Registers the windows of [map, map + len) with T threads (windows handed
 * out one at a time), then unregisters them with T threads. */
static void register_windows(int fd, size_t len, int threads, size_t win) {
  char *m = (char *)mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return;
  int n_win = (int)((len + win - 1) / win), failed = 0;
  double c0 = cpu_now(), t0 = now();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int w = 0; w < n_win; w++) {
    size_t off = (size_t)w * win, n = len - off < win ? len - off : win;
    if (cudaHostRegister(m + off, n, cudaHostRegisterReadOnly) != cudaSuccess) {
#pragma omp atomic
      failed++;
      cudaGetLastError();
    }
  }
  double t1 = now();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int w = 0; w < n_win; w++)
    cudaHostUnregister(m + (size_t)w * win);
  double t2 = now();
  munmap(m, len);
  double t3 = now();
  printf("{\"what\":\"register windows\",\"threads\":%d,\"win_mb\":%zu,"
         "\"bytes\":%zu,\"register_s\":%.4f,\"unregister_s\":%.4f,"
         "\"munmap_s\":%.4f,\"register_gb_per_s\":%.2f,\"cpu_s\":%.4f,"
         "\"failed\":%d}\n",
         threads, win >> 20, len, t1 - t0, t2 - t1, t3 - t2,
         (double)len / (t1 - t0) / 1e9, cpu_now() - c0, failed);
  fflush(stdout);
}

/* The registration pipeline (see the header). */
struct regpipe {
  char *map;
  size_t len, win;
  int n_win, live, threads;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int next_reg, next_unreg, unreg_done;
  int *state;    /* 0 not yet, 1 registered, 2 failed */
  size_t copied; /* bytes whose copies are done (set by the main thread) */
  unsigned flags;
  double reg_cpu;
};

static void *regpipe_worker(void *arg) {
  struct regpipe *p = (struct regpipe *)arg;
  double c0 = thread_cpu_now();
  pthread_mutex_lock(&p->mu);
  for (;;) {
    size_t wend = (size_t)(p->next_unreg + 1) * p->win;
    if (p->next_unreg < p->next_reg && p->state[p->next_unreg] &&
        (wend <= p->copied || p->copied >= p->len)) {
      int w = p->next_unreg++;
      pthread_mutex_unlock(&p->mu);
      if (p->state[w] == 1) cudaHostUnregister(p->map + (size_t)w * p->win);
      pthread_mutex_lock(&p->mu);
      p->unreg_done++;
      pthread_cond_broadcast(&p->cv);
      continue;
    }
    if (p->next_reg < p->n_win && p->next_reg - p->unreg_done < p->live) {
      int w = p->next_reg++;
      pthread_mutex_unlock(&p->mu);
      size_t off = (size_t)w * p->win;
      size_t n = p->len - off < p->win ? p->len - off : p->win;
      cudaError_t e = cudaHostRegister(p->map + off, n, p->flags);
      if (e != cudaSuccess) cudaGetLastError();
      pthread_mutex_lock(&p->mu);
      p->state[w] = e == cudaSuccess ? 1 : 2;
      pthread_cond_broadcast(&p->cv);
      continue;
    }
    if (p->next_unreg >= p->n_win) break;
    pthread_cond_wait(&p->cv, &p->mu);
  }
  p->reg_cpu += thread_cpu_now() - c0;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

__global__ void k_copy(uint4 *dst, const uint4 *src, size_t n16) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n16;
       i += (size_t)gridDim.x * blockDim.x)
    dst[i] = src[i];
}

static void register_pipeline(int fd, size_t len, int threads, size_t win,
                              bool kernel_copy, char *dev[2],
                              cudaStream_t st[2], cudaEvent_t done[2]) {
  struct regpipe p;
  memset(&p, 0, sizeof p);
  double c0 = cpu_now(), t0 = now();
  p.map = (char *)mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p.map == MAP_FAILED) return;
  p.len = len;
  p.win = win;
  p.n_win = (int)((len + win - 1) / win);
  p.live = (int)((2048ul << 20) / win);
  if (p.live < 3) p.live = 3;
  p.threads = threads;
  p.flags =
      cudaHostRegisterReadOnly | (kernel_copy ? cudaHostRegisterMapped : 0);
  p.state = (int *)calloc((size_t)p.n_win, sizeof(int));
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  pthread_t tid[64];
  for (int i = 0; i < threads; i++)
    pthread_create(&tid[i], NULL, regpipe_worker, &p);
  size_t ends[2] = {0, 0};
  int failed = 0;
  for (size_t pos = 0, i = 0; pos < len; i++) {
    int b = (int)(i & 1);
    cudaEventSynchronize(done[b]); /* chunks up to i-2 are copied */
    pthread_mutex_lock(&p.mu);
    if (ends[b] > p.copied) {
      p.copied = ends[b];
      pthread_cond_broadcast(&p.cv);
    }
    size_t end = len - pos < CHUNK ? len : pos + CHUNK;
    int last = (int)((end - 1) / win);
    while (p.state[last] == 0)
      pthread_cond_wait(&p.cv, &p.mu);
    for (int w = (int)(pos / win); w <= last; w++)
      failed += p.state[w] == 2;
    pthread_mutex_unlock(&p.mu);
    if (failed) break;
    /* One copy per window the chunk touches. */
    for (size_t o = pos; o < end;) {
      size_t wend = (o / win + 1) * win, n = (wend < end ? wend : end) - o;
      if (kernel_copy) {
        char *src = NULL;
        cudaHostGetDevicePointer((void **)&src, p.map + o, 0);
        k_copy<<<132 * 4, 256, 0, st[b]>>>((uint4 *)(dev[b] + (o - pos)),
                                           (const uint4 *)src, n / 16);
        if (n % 16)
          cudaMemcpyAsync(dev[b] + (o - pos) + n / 16 * 16,
                          p.map + o + n / 16 * 16, n % 16,
                          cudaMemcpyHostToDevice, st[b]);
      } else {
        cudaMemcpyAsync(dev[b] + (o - pos), p.map + o, n,
                        cudaMemcpyHostToDevice, st[b]);
      }
      o += n;
    }
    cudaEventRecord(done[b], st[b]);
    ends[b] = end;
    pos = end;
  }
  int bad = check(cudaDeviceSynchronize(), "register pipeline copies");
  double t1 = now();
  pthread_mutex_lock(&p.mu);
  p.copied = len;
  pthread_cond_broadcast(&p.cv);
  pthread_mutex_unlock(&p.mu);
  for (int i = 0; i < threads; i++)
    pthread_join(tid[i], NULL);
  munmap(p.map, len);
  double t2 = now();
  printf("{\"what\":\"register pipeline\",\"copy\":\"%s\",\"threads\":%d,"
         "\"win_mb\":%zu,\"live\":%d,\"bytes\":%zu,\"seconds\":%.4f,"
         "\"gb_per_s\":%.2f,\"seconds_all\":%.4f,\"cpu_s\":%.4f,"
         "\"reg_cpu_s\":%.4f,\"failed\":%d}\n",
         kernel_copy ? "kernel" : "dma", threads, win >> 20, p.live, len,
         t1 - t0, failed || bad ? 0.0 : (double)len / (t1 - t0) / 1e9, t2 - t0,
         cpu_now() - c0, p.reg_cpu, failed + bad);
  fflush(stdout);
  free(p.state);
  pthread_mutex_destroy(&p.mu);
  pthread_cond_destroy(&p.cv);
}

/* pread and H2D interleaved in pieces, the pread path of the backend with
 * finer grain: `threads` pread a piece of `piece` bytes into one of `slots`
 * pinned slots, its H2D copy is queued at once (two streams, alternating),
 * and a slot is reused once its copy is done, so the CPU runs at most
 * `slots` pieces ahead of the copy engine. With piece = 128 MiB and 2 slots
 * this is the backend's pipeline as it is; with small pieces the copy
 * engine reads data written a few MiB earlier (still in the CPU's last
 * level cache) instead of 128-256 MiB earlier (in DRAM). */
static void pread_pipeline(int fd, size_t len, size_t piece, int slots,
                           int threads, char *dev[2], cudaStream_t st[2]) {
  char *buf = NULL;
  cudaEvent_t ev[8];
  if (check(cudaMallocHost((void **)&buf, piece * (size_t)slots),
            "cudaMallocHost"))
    return;
  for (int k = 0; k < slots; k++)
    cudaEventCreateWithFlags(&ev[k], cudaEventDisableTiming);
  double c0 = cpu_now(), t0 = now(), read_s = 0;
  size_t g = 0;
  for (size_t pos = 0; pos < len; pos += piece, g++) {
    size_t n = len - pos < piece ? len - pos : piece;
    int k = (int)(g % (size_t)slots), b = (int)((pos / CHUNK) & 1);
    char *dst = buf + (size_t)k * piece;
    cudaEventSynchronize(ev[k]); /* the slot's previous copy is done */
    double r0 = now();
    pread_piece(fd, dst, n, pos, threads);
    read_s += now() - r0;
    cudaMemcpyAsync(dev[b] + pos % CHUNK, dst, n, cudaMemcpyHostToDevice,
                    st[b]);
    cudaEventRecord(ev[k], st[b]);
  }
  int bad = check(cudaDeviceSynchronize(), "pread pipeline copies");
  double t1 = now();
  printf("{\"what\":\"pread pipeline\",\"threads\":%d,\"piece_mb\":%zu,"
         "\"slots\":%d,\"bytes\":%zu,\"seconds\":%.4f,\"gb_per_s\":%.2f,"
         "\"read_s\":%.4f,\"cpu_s\":%.4f,\"failed\":%d}\n",
         threads, piece >> 20, slots, len, t1 - t0,
         bad ? 0.0 : (double)len / (t1 - t0) / 1e9, read_s, cpu_now() - c0,
         bad);
  fflush(stdout);
  for (int k = 0; k < slots; k++)
    cudaEventDestroy(ev[k]);
  cudaFreeHost(buf);
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
  char *pinned = NULL, *dev = NULL, *dev2[2] = {NULL, NULL};
  cudaStream_t strm[2];
  cudaEvent_t done[2];
  if (check(cudaMallocHost((void **)&pinned, CHUNK), "cudaMallocHost") ||
      check(cudaMalloc((void **)&dev, CHUNK), "cudaMalloc"))
    return 1;
  for (int b = 0; b < 2; b++)
    if (check(cudaMalloc((void **)&dev2[b], CHUNK), "cudaMalloc") ||
        check(cudaStreamCreateWithFlags(&strm[b], cudaStreamNonBlocking),
              "cudaStreamCreate") ||
        check(cudaEventCreateWithFlags(&done[b], cudaEventDisableTiming),
              "cudaEventCreate"))
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
    /* pread and H2D interleaved, 128 MiB pieces (the backend today) down
     * to 2 MiB. */
    static const size_t pieces[] = {128, 64, 32, 16, 8, 4, 2};
    for (int j = 0; j < 7; j++)
      for (int sl = 2; sl <= 4; sl += 2)
        for (int rep = 0; rep < 2; rep++)
          pread_pipeline(fd, len, pieces[j] << 20, sl, 16, dev2, strm);
    /* Registration on many threads, with nothing else running. */
    static const int rts[] = {1, 4, 8, 16};
    static const size_t wins[] = {64, 128, 256, 512, 1024};
    for (int k = 0; k < 4; k++)
      for (int j = 0; j < 5; j += 2)
        register_windows(fd, len, rts[k], wins[j] << 20);
    /* The pipeline: registration ahead of the copy, unregistration behind. */
    for (int k = 0; k < 4; k++)
      for (int j = 0; j < 5; j++)
        for (int rep = 0; rep < 2; rep++)
          register_pipeline(fd, len, rts[k], wins[j] << 20, false, dev2, strm,
                            done);
    for (int k = 2; k < 4; k++)
      for (int rep = 0; rep < 2; rep++)
        register_pipeline(fd, len, rts[k], 256u << 20, true, dev2, strm, done);
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
  for (int b = 0; b < 2; b++) {
    cudaFree(dev2[b]);
    cudaStreamDestroy(strm[b]);
    cudaEventDestroy(done[b]);
  }
  close(fd);
  return 0;
}
