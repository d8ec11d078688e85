/* The image recipe: sluice built from source with the README's own steps on
 * Debian 12, then a small runtime image (Debian slim, or NVIDIA's CUDA
 * runtime image when the function asks for nvidia.com/gpu) holding the
 * binary, the shared libraries it links, the function's handler library and
 * a non-root user.
 *
 * The sluice source tree is the named build context `sluice-src`, so the
 * function's own context stays small (Dockerfile, function.yaml, handler);
 * docs/deploy.md has the build command for docker, podman and buildah. */
#include <string.h>

#include "runtime/deploy/deploy.h"

/* Keep these in step with the README / Makefile (`make build`): a test
 * (tests/py/test_deploy_dockerfile.py) compares them. */
static const char *const build_steps[] = {"scripts/deps.sh build",
                                          "scripts/build.sh release", NULL};

/* What the build reads from the source tree. */
static const char *const source_files[] = {"CMakeLists.txt", NULL};
static const char *const source_dirs[] = {"scripts", "include", "src",
                                          "tests/unit", NULL};

#define CUDA_VERSION_TAG "12.6.3"

/* A JSON string for the exec form of Dockerfile instructions. */
static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void copy_json(FILE *f, const char *from, const char *src,
                      const char *dst) {
  fprintf(f, "COPY ");
  if (from) fprintf(f, "--from=%s ", from);
  fputc('[', f);
  jstr(f, src);
  fputs(", ", f);
  jstr(f, dst);
  fputs("]\n", f);
}

void sl__deploy_dockerfile(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f,
          "# syntax=docker/dockerfile:1\n"
          "# Image of the sluice function '%s', written by `sluice deploy` "
          "from %s.\n"
          "# Re-run `sluice deploy` rather than editing this file.\n"
          "# Build it with the sluice source tree as the named context "
          "sluice-src:\n"
          "#   docker build --build-context sluice-src=%s -t %s <this "
          "folder>\n",
          p->name, p->spec->file,
          p->source_dir[0] ? p->source_dir : "<sluice source>", p->image);
  fprintf(f, "ARG DEBIAN_IMAGE=debian:12\n");
  if (p->gpu) {
    fprintf(f,
            "ARG CUDA_DEVEL_IMAGE=nvidia/cuda:%s-devel-ubuntu24.04\n"
            "ARG RUNTIME_IMAGE=nvidia/cuda:%s-runtime-ubuntu24.04\n",
            CUDA_VERSION_TAG, CUDA_VERSION_TAG);
  } else {
    fprintf(f, "ARG RUNTIME_IMAGE=debian:12-slim\n");
  }

  fprintf(f, "\n# 1. sluice from source: the README's steps, as root on "
             "Debian 12.\n"
             "FROM ${DEBIAN_IMAGE} AS build\n"
             "WORKDIR /src\n");
  for (int i = 0; source_files[i]; i++)
    fprintf(f, "COPY --from=sluice-src %s ./\n", source_files[i]);
  for (int i = 0; source_dirs[i]; i++)
    fprintf(f, "COPY --from=sluice-src %s/ %s/\n", source_dirs[i],
            source_dirs[i]);
  for (int i = 0; build_steps[i]; i++)
    fprintf(f, "RUN %s\n", build_steps[i]);
  fprintf(f,
          "# The binary and the shared libraries it links, but the C and C++\n"
          "# runtime that every base image has.\n"
          "RUN mkdir -p /opt/sluice/bin /opt/sluice/lib \\\n"
          " && cp build/sluice /opt/sluice/bin/ \\\n"
          " && ldd build/sluice | awk '$3 ~ /^\\// {print $3}' \\\n"
          "    | grep -Ev "
          "'/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\\+\\+)\\.so' "
          "\\\n"
          "    | xargs -r -I{} cp -L {} /opt/sluice/lib/\n");

  if (p->gpu) {
    fprintf(f,
            "\n# 2. The CUDA backend (libsluice_cuda.so), with nvcc.\n"
            "FROM ${CUDA_DEVEL_IMAGE} AS cuda-build\n"
            "ARG SLUICE_CUDA_ARCHS=\"75 80 86 89 90\"\n"
            "WORKDIR /src\n"
            "COPY --from=sluice-src scripts/ scripts/\n"
            "COPY --from=sluice-src src/ src/\n"
            "RUN SLUICE_CUDA_ARCHS=\"$SLUICE_CUDA_ARCHS\" "
            "scripts/cuda-build.sh /out \\\n"
            " && test -f /out/libsluice_cuda.so \\\n"
            " && ldd /out/libsluice_cuda.so | awk '$3 ~ /libgomp/ {print $3}' "
            "\\\n"
            "    | xargs -r -I{} cp -L {} /out/ \\\n"
            " && rm -f /out/*.o\n");
  }

  fprintf(f,
          "\n# %d. The function: runtime image, non-root.\n"
          "FROM ${RUNTIME_IMAGE}\n",
          p->gpu ? 3 : 2);
  fprintf(f,
          "RUN groupadd --system --gid %d sluice \\\n"
          " && useradd --system --uid %d --gid %d --home-dir /opt/sluice \\\n"
          "      --shell /usr/sbin/nologin sluice\n"
          "COPY --from=build /opt/sluice/ /opt/sluice/\n",
          SL_DEPLOY_UID, SL_DEPLOY_UID, SL_DEPLOY_UID);
  if (p->gpu) fprintf(f, "COPY --from=cuda-build /out/ /opt/sluice/lib/\n");
  fprintf(f, "ENV PATH=/opt/sluice/bin:$PATH \\\n"
             "    LD_LIBRARY_PATH=/opt/sluice/lib");
  if (p->gpu)
    fprintf(f, " \\\n    SLUICE_CUDA_LIB=/opt/sluice/lib/libsluice_cuda.so \\\n"
               "    NVIDIA_VISIBLE_DEVICES=all \\\n"
               "    NVIDIA_DRIVER_CAPABILITIES=compute,utility");
  fprintf(f, " \\\n    SLUICE_HOST=0.0.0.0\n");
  if (p->handler_context)
    copy_json(f, NULL, p->handler_context, p->handler_dst);
  /* The spec is baked in for `docker run`; in the cluster the ConfigMap is
   * mounted over it. */
  copy_json(f, NULL, "function.yaml", SL_DEPLOY_SPEC_DIR "/function.yaml");
  fprintf(f, "WORKDIR %s\n", SL_DEPLOY_WORKDIR);
  fprintf(f, "USER %d:%d\n", SL_DEPLOY_UID, SL_DEPLOY_UID);
  for (int i = 0; i < p->n_http; i++)
    fprintf(f, "EXPOSE %lld\n", (long long)p->http[i].port);
  if (p->admin_separate) fprintf(f, "EXPOSE %lld\n", (long long)p->health_port);
  fprintf(f,
          "STOPSIGNAL SIGTERM\n"
          "ENTRYPOINT [\"/opt/sluice/bin/sluice\"]\n"
          "CMD [\"run\", \"%s/function.yaml\"]\n",
          SL_DEPLOY_SPEC_DIR);
}
