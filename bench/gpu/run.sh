#!/usr/bin/env bash
# Runs Fleet's GPU checks and benchmarks on a lent GPU machine, from a bundle made here by
# bench/gpu/bundle.sh (see bench/gpu/README.md). Ends with one table.
#
# Usage (on the GPU machine, from the repository root):
#   bash bench/gpu/run.sh [ARCHIVE] [gpu_bench.py flags: --quick, --sections tests,parity,...]
# Logs and exported models go to $OUT (the device tool's folder) or /tmp/fleet-gpu.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ARCHIVE="$ROOT/.gpu-bundle/fleet-gpu.tar.xz"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then ARCHIVE="$1"; shift; fi
OUT_DIR="${OUT:-/tmp/fleet-gpu}"
mkdir -p "$OUT_DIR"
[ -f "$ARCHIVE" ] || { echo "run.sh: no bundle at $ARCHIVE (bench/gpu/bundle.sh)"; exit 1; }
UNPACKED=$(mktemp -d /tmp/fleet-gpu-bundle.XXXXXX)
tar -C "$UNPACKED" -xJf "$ARCHIVE" || { echo "run.sh: cannot unpack $ARCHIVE"; exit 1; }
BUNDLE="$UNPACKED/fleet-gpu"

# CUDA's libraries there: the toolkit's, and those PyTorch's Python packages carry (cuBLAS,
# cuDNN, NCCL), found wherever the image keeps them.
cuda_dirs=$(python3 - <<'PY'
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = set()
for root in roots:
    for lib in glob.glob(os.path.join(root, "nvidia", "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="$BUNDLE/lib:${cuda_dirs}:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

echo "== bundle $(cat "$BUNDLE/VERSION" 2>/dev/null)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
missing=$(for p in "$BUNDLE"/bin/*; do ldd "$p" | grep 'not found'; done | sort -u)
if [ -n "$missing" ]; then
  echo "run.sh: libraries not found on this machine:"
  echo "$missing"
  exit 1
fi
python3 "$ROOT/bench/gpu/gpu_bench.py" --bundle "$BUNDLE" --out "$OUT_DIR" "$@"
