#!/usr/bin/env bash
# Packs what a GPU machine needs for bench/gpu/run.sh into DEST (default
# .devcuda, git-ignored through .git/info/exclude): the release sluice
# binary and libsluice.so built here, with the shared libraries they need
# beside them (DT_RPATH $ORIGIN/lib, which unlike RUNPATH also serves the
# libraries' own dependencies; the machine has no package registry), and
# a tarball of this tree's sources (tracked files with their edits, plus
# untracked files git does not ignore).
#   bench/gpu/pack.sh [DEST]
# On the GPU machine:
#   tar -xf DEST/src.tar -C W && cp -a DEST/build W/build && cd W &&
#   SLUICE=build/sluice bench/gpu/run.sh 4
# (add SLUICE_CUDA_LIB=$PWD/build/libsluice_cuda.so to skip compiling it)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${1:-.devcuda}"
rm -rf "$dest"
mkdir -p "$dest/build/lib"
cp build/sluice build/libsluice.so "$dest/build/"
# The CUDA backend when built here (scripts/cuda-build.sh): run.sh then uses
# it through SLUICE_CUDA_LIB instead of compiling on the GPU machine.
[ -f build-cuda/libsluice_cuda.so ] && cp build-cuda/libsluice_cuda.so "$dest/build/"
[ -f build-cuda/hostread ] && cp build-cuda/hostread "$dest/build/"
ldd build/sluice build/libsluice.so | awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt)\.so' |
  while read -r lib; do cp -L "$lib" "$dest/build/lib/"; done
patchelf --force-rpath --set-rpath '$ORIGIN/lib' "$dest/build/sluice" "$dest/build/libsluice.so"
git ls-files -co --exclude-standard | grep -vE "^($dest/|\.venv$|\.cache$)" | tar -cf "$dest/src.tar" -T -
du -sh "$dest"
