#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run Fleet's CUDA tests and benchmarks into one
# archive, .gpu-bundle/fleet-gpu.tar.xz (the folder is ignored by git), for the device tool to
# carry; bench/gpu/run.sh unpacks it there.
#
# That machine has the CUDA 13 libraries (toolkit, cuBLAS, cuDNN and NCCL in PyTorch's Python
# packages) but none of the Debian libraries Fleet links (protobuf, Abseil, ONNX, OpenBLAS,
# gRPC, Gloo), and nothing can be installed there. So this copies the programs, stripped of
# debug info, and every shared library they load that is neither the C/C++ runtime nor CUDA's
# (read from ldd), so the folder stays under the carry limit (64 MiB in all).
#
# Usage: bench/gpu/bundle.sh [BUILD_DIR] [OUT_DIR]   (defaults: build, .gpu-bundle)
# BUILD_DIR must be a CUDA build (FLEET_WITH_CUDA=ON or AUTO where nvcc exists), for sm_90.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="${2:-$ROOT/.gpu-bundle}"
LIMIT_MIB=60  # the carry limit is 64 MiB, with the rest of the working tree

# The programs: the tools the benchmarks and the GPU collective test run, and every CUDA test
# binary.
PROGRAMS=("$BUILD/tools/fleet-run" "$BUILD/tools/fleet-transpile" "$BUILD/tools/fleet-launch"
          "$BUILD/tools/fleet-inspect")
# cuda_model_coverage_test stays behind: it checks kernel registrations against the models the
# build tree generates, needs no GPU, and runs in CI.
while IFS= read -r test; do PROGRAMS+=("$test"); done < <(
  find "$BUILD/tests" -path '*/cuda/*' -type f -name '*_test' -perm -u+x 2>/dev/null |
    grep -v '/cuda_model_coverage_test$' | sort)
for p in "${PROGRAMS[@]}"; do
  [ -x "$p" ] || { echo "bundle: $p is missing (build it first: ninja -C $BUILD)" >&2; exit 1; }
done
if ! ldd "$BUILD/tools/fleet-run" | grep -q libcudart || [ "${#PROGRAMS[@]}" -le 4 ]; then
  echo "bundle: $BUILD is not a CUDA build (fleet-run without CUDA, or no CUDA tests):" \
    "configure it with -DFLEET_WITH_CUDA=ON where the CUDA toolkit is" >&2
  exit 1
fi

# Libraries the GPU machine brings itself: the C and C++ runtimes (its own are as new or newer)
# and CUDA's (its driver, and the CUDA 13 libraries its PyTorch ships).
system_library() {
  case "$1" in
    linux-vdso* | ld-linux* | libc.so* | libm.so* | libpthread* | libdl.so* | librt.so* | \
      libstdc++* | libgcc_s* | libcuda.so* | libcudart* | libcublas* | libcudnn* | libnccl* | \
      libnvrtc* | libnvJitLink* | libcufft* | libcurand* | libcusparse* | libcusolver*)
      return 0 ;;
  esac
  return 1
}

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/fleet-gpu-bundle.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"
OUT_FILES="$OUT"
OUT="$STAGE/fleet-gpu"
mkdir -p "$OUT/bin" "$OUT/lib"
for p in "${PROGRAMS[@]}"; do
  strip --strip-debug -o "$OUT/bin/$(basename "$p")" "$p"
  while read -r name _ path _; do
    [ -n "${path:-}" ] && [ "$path" != "not" ] || continue
    system_library "$name" && continue
    [ -f "$OUT/lib/$name" ] || strip --strip-debug -o "$OUT/lib/$name" "$(readlink -f "$path")"
  done < <(ldd "$p" | grep '=>')
done
missing=$(for p in "${PROGRAMS[@]}"; do ldd "$p" | grep 'not found' || true; done | sort -u)
if [ -n "$missing" ]; then
  echo "bundle: unresolved libraries here:" >&2
  echo "$missing" >&2
  exit 1
fi
git -C "$ROOT" describe --always --dirty >"$OUT/VERSION" 2>/dev/null || echo unknown >"$OUT/VERSION"

# Compressed: the libraries (OpenBLAS alone is 35 MiB) shrink about four times.
tar -C "$STAGE" -cf - fleet-gpu | xz -T2 -6 >"$OUT_FILES/fleet-gpu.tar.xz"
size_kib=$(du -sk "$OUT_FILES" | cut -f1)
echo "bundle: $OUT_FILES/fleet-gpu.tar.xz: ${#PROGRAMS[@]} programs, $(ls "$OUT/lib" | wc -l)" \
  "libraries, $(($(du -sk "$OUT" | cut -f1) / 1024)) MiB unpacked, $((size_kib / 1024)) MiB packed"
if [ "$size_kib" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "bundle: over ${LIMIT_MIB} MiB: the device tool cannot carry it" >&2
  exit 1
fi
