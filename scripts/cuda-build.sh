#!/usr/bin/env bash
# Builds the CUDA backend (libsluice_cuda.so) with nvcc alone: it depends on
# the CUDA runtime, never on libsluice, so no other library is needed.
#   scripts/cuda-build.sh [OUTDIR]      (default build-cuda)
# nvcc: $NVCC, else nvcc on PATH, else /usr/local/cuda/bin/nvcc, else (with
# SLUICE_NVCC_WHEELS=1, as CI does) NVIDIA's nvcc wheels from PyPI unpacked
# into .cache/nvcc. Architectures: $SLUICE_CUDA_ARCHS (default "80 90").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build-cuda}"
nvcc="${NVCC:-}"
[ -z "$nvcc" ] && nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ] && [ "${SLUICE_NVCC_WHEELS:-0}" = 1 ]; then
  root=.cache/nvcc
  if [ ! -x "$root/nvidia/cu13/bin/nvcc" ] || [ ! -d "$root/nvidia/cu13/nvvm" ]; then
    echo "cuda-build: fetching nvcc 13.0 wheels from PyPI into $root"
    rm -rf "$root" && mkdir -p "$root/whl"
    py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
    "$py" -m pip download -q --no-deps --disable-pip-version-check -d "$root/whl" \
      nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
      nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
    for w in "$root"/whl/*.whl; do "$py" -m zipfile -e "$w" "$root"; done
    chmod +x "$root"/nvidia/cu13/bin/* "$root"/nvidia/cu13/nvvm/bin/* 2>/dev/null || true
  fi
  nvcc="$root/nvidia/cu13/bin/nvcc"
fi
if [ -z "$nvcc" ]; then
  echo "cuda-build: nvcc not found; the CUDA backend is not built (sluice runs on the CPU)"
  exit 0
fi
cudalib="$(dirname "$(dirname "$nvcc")")/lib"
[ -d "$cudalib" ] || cudalib="$(dirname "$(dirname "$nvcc")")/lib64"
archs="${SLUICE_CUDA_ARCHS:-80 90}"
gencode=()
for a in $archs; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); done
mkdir -p "$out"
objs=()
for src in src/device/cuda/*.cu; do
  obj="$out/$(basename "$src" .cu).o"
  "$nvcc" -std=c++17 -O3 -lineinfo "${gencode[@]}" -Xcompiler=-fPIC,-fopenmp,-Wall,-Wno-unused-function \
    --Werror=all-warnings -I src -c "$src" -o "$obj"
  objs+=("$obj")
done
# The static runtime: the library then needs only the driver (libcuda) at run time.
"$nvcc" -shared --cudart static -Xcompiler=-fopenmp -o "$out/libsluice_cuda.so" "${objs[@]}" -L"$cudalib"
# bench/gpu/hostread: how fast the host hands a cached file to the GPU.
"$nvcc" -std=c++17 -O2 "${gencode[@]}" -Xcompiler=-fopenmp,-Wall --Werror=all-warnings \
  --cudart static -o "$out/hostread" bench/gpu/hostread.cu -L"$cudalib"
echo "cuda-build: $out/libsluice_cuda.so ($("$nvcc" --version | tail -1))"
