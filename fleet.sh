#!/usr/bin/env bash
# Fleet's two commands:
#   ./fleet.sh test   install what is missing, build, and run every test (CI runs exactly this)
#   ./fleet.sh demo   build, then run the demo job on built-in defaults
# Other: ./fleet.sh setup (install only), ./fleet.sh build, ./fleet.sh bench,
#        ./fleet.sh bench-train [--torch-only] [--torch-as-installed] (beside PyTorch),
#        ./fleet.sh bench-collective [--fleet-only] (2 ranks beside PyTorch DDP),
#        ./fleet.sh bench-allreduce [--rounds N] (Fleet's shm and Gloo beside torch-Gloo),
#        ./fleet.sh bench-ps [--fleet-only] (parameter server beside a torch RPC one),
#        ./fleet.sh fuzz [TARGET] [--minutes N] [--jobs J] (the libFuzzer targets of tests/fuzz,
#        N minutes each, default 10, J at a time, default 1; the grown corpus and crashes are
#        kept in FLEET_FUZZ_DIR),
#        ./fleet.sh fuzz-ci (test's fuzz phase alone: each target FLEET_FUZZ_SECONDS, default 20).
# Environment: FLEET_BUILD_DIR (default build), FLEET_JOBS (default 2),
#              FLEET_FUZZ_DIR (default ~/.cache/fleet-fuzz),
#              FLEET_WITH_CUDA (AUTO: CUDA code is built where the CUDA toolkit is; ON, OFF).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${FLEET_BUILD_DIR:-$ROOT/build}"
JOBS="${FLEET_JOBS:-2}"
VENV="$ROOT/.venv"

# The one list of what the build and the tests need (docs/dependencies.md): Debian packages,
# and the PyPI packages of the .venv.
read_list() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ROOT/dependencies/$1" | awk '{print $1}'; }
mapfile -t APT_PACKAGES < <(read_list debian.txt)
mapfile -t PIP_PACKAGES < <(read_list python.txt)

log() { printf '\n== %s\n' "$*"; }

# timed NAME COMMAND...: runs COMMAND and prints how long phase NAME took (also on failure).
timed() {
  local name=$1 start=$SECONDS status=0
  shift
  "$@" || status=$?
  printf '== phase %s took %d s%s\n' "$name" "$((SECONDS - start))" \
    "$([ "$status" -eq 0 ] || echo " (failed, status $status)")"
  return "$status"
}

# Installs the Debian packages named as arguments that are not installed yet.
apt_install_missing() {
  local missing=()
  for p in "${@}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo="" apt_log
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  apt_log=$(mktemp)
  # apt's per-package progress is noise in a CI log: shown only when the install fails.
  if ! { $sudo apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
           "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 40 "$apt_log"
    rm -f "$apt_log"
    echo "fleet.sh: error: installing the Debian packages failed (output above)" >&2
    return 1
  fi
  rm -f "$apt_log"
}

# The Debian packages, then the .venv; the venv is brought up to date whenever
# dependencies/python.txt differs from the copy stored in it at its last install.
setup() {
  apt_install_missing "${APT_PACKAGES[@]}"
  local stamp="$VENV/fleet-python.txt"
  if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$ROOT/dependencies/python.txt" "$stamp"; then
    log "installing ${PIP_PACKAGES[*]} into $VENV"
    [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
    cp "$ROOT/dependencies/python.txt" "$stamp"
  fi
}

# The CUDA toolkit is not a Debian package here: it sits in /usr/local/cuda, whose bin/ need
# not be on PATH (a clean shell, CI's root). CMake finds nvcc through CUDACXX.
find_nvcc() {
  if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
  fi
}

build() {
  log "configuring and building in $BUILD"
  find_nvcc
  local configure_log="$BUILD/fleet-configure.log"
  mkdir -p "$BUILD"
  if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFLEET_WITH_CUDA="${FLEET_WITH_CUDA:-AUTO}" -DFLEET_PYTHON="$VENV/bin/python" \
    >"$configure_log" 2>&1; then
    cat "$configure_log" >&2
    return 1
  fi
  grep -E '^-- Fleet: CUDA' "$configure_log" || true
  local start=$SECONDS
  cmake --build "$BUILD" -j "$JOBS"
  echo "built in $((SECONDS - start)) s"
}

run_tests() {
  log "running the tests"
  ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" --timeout 900
}

# The IR, importer, file-reader, job-folder, executor (ops in flight, sub-blocks) and collective
# (stores fed garbage, ranks as threads and processes over Gloo and shared memory, killed peers)
# tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer, over the corpus of broken files in tests/corpus.
SANITIZED_TESTS=(onnx_import_test serialize_test text_format_test corpus_test npy_test
                 data_reader_test data_npy_test data_criteo_test data_multislot_test data_open_test
                 checkpoint_test metrics_test job_test async_executor_test wait_stats_test
                 sub_block_test collective_store_test collective_communicator_test
                 collective_failure_test shm_communicator_test shm_failure_test stream_store_test)
sanitize() {
  local dir="$BUILD-asan"
  log "building ${SANITIZED_TESTS[*]} with ASan + UBSan in $dir"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLEET_SANITIZE=ON \
    -DFLEET_BUILD_BENCH=OFF -DFLEET_WITH_CUDA=OFF >/dev/null
  cmake --build "$dir" -j "$JOBS" --target "${SANITIZED_TESTS[@]}"
  log "running them"
  local passed=0 failed=0
  for t in "${SANITIZED_TESTS[@]}"; do
    local bin
    bin="$(find "$dir/tests" -type f -name "$t" -perm -u+x | head -n 1)"
    if FLEET_SOURCE_DIR="$ROOT" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$bin" --gtest_brief=1; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
  echo "sanitized: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# The libFuzzer targets (tests/fuzz/targets.txt: name, run in CI, dictionary, seed folders), built
# with clang in their own folder. -O1 with line tables: quicker to build than RelWithDebInfo, and
# reports still name file:line.
fuzz_targets() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ROOT/tests/fuzz/targets.txt"; }
build_fuzz() {
  local dir="$BUILD-fuzz"
  log "building $* with clang, libFuzzer, ASan and UBSan in $dir"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DFLEET_FUZZ=ON -DFLEET_BUILD_TESTS=OFF -DFLEET_BUILD_BENCH=OFF \
    -DFLEET_BUILD_EXAMPLES=OFF -DFLEET_WITH_CUDA=OFF >/dev/null
  cmake --build "$dir" -j "$JOBS" --target "$@"
}

# fuzz_one TARGET DICT SECONDS CORPUS ARTIFACTS SEEDS...: runs TARGET for SECONDS, growing CORPUS
# from the seeds; prints one line of execs, coverage and crashes, and for a crash, leak or
# sanitizer report its log and the reproducer (base64 and a hexdump). Fails on any finding.
fuzz_one() {
  local target=$1 dict=$2 seconds=$3 corpus=$4 artifacts=$5
  shift 5
  local bin="$BUILD-fuzz/tests/fuzz/$target" seeds=() args=() status=0 f
  for f in "$@"; do seeds+=("$ROOT/$f"); done
  [ "$dict" = - ] || args+=("-dict=$ROOT/tests/fuzz/dict/$dict")
  mkdir -p "$corpus" "$artifacts"
  local out="$artifacts/$target.log"
  # -timeout: an input that runs 30 s is a hang; UBSan reports end the run like ASan's.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$seconds" -timeout=30 \
    -artifact_prefix="$artifacts/" "${args[@]}" "$corpus" "${seeds[@]}" >"$out" 2>&1 || status=$?
  local execs cov found
  # The last status line ("#123456 REDUCE cov: 4913 ...") also when a finding ended the run.
  execs=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$out" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$out" | tail -n 1)
  found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  printf 'fuzz: %-26s execs %-10s cov %-6s crashes %d\n' "$target" "${execs:-?}" "${cov:-?}" \
    "$(printf '%s' "$found" | grep -c . || true)"
  if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    # The report: from the first finding (a sanitizer's or libFuzzer's ERROR, UBSan's runtime
    # error, or a target's own message before abort()) on, without ASan's shadow-memory map.
    echo "fuzz: $target failed (status $status); the report ($out):"
    grep -v '^#[0-9]' "$out" | grep -v '^INFO:' | sed -n '/ERROR\|runtime error\|^[a-z].*: /,$p' |
      sed '/^Shadow bytes around/,/^==[0-9]*==ABORTING/d' | head -n 80
    for f in $found; do
      echo "fuzz: reproduce with: $bin $f   (the input, base64:)"
      base64 -w 100 "$f" | head -n 40
      od -A x -t x1z "$f" | head -n 16
    done
    return 1
  fi
}

# CI: every target for FLEET_FUZZ_SECONDS (default 20) from its seeds alone, in a fresh corpus.
fuzz_ci() {
  local seconds="${FLEET_FUZZ_SECONDS:-20}" work failed=0 names
  mapfile -t names < <(fuzz_targets | awk '$2 == "yes" {print $1}')
  build_fuzz "${names[@]}"
  work=$(mktemp -d "${TMPDIR:-/tmp}/fleet-fuzz-ci.XXXXXX")
  log "running each fuzz target for $seconds s from its seeds"
  local target ci dict seeds
  while read -r target ci dict seeds; do
    [ "$ci" = yes ] || continue
    # shellcheck disable=SC2086  # seeds: a list of folders
    fuzz_one "$target" "$dict" "$seconds" "$work/$target/corpus" "$work/$target" $seeds ||
      failed=$((failed + 1))
  done < <(fuzz_targets)
  rm -rf "$work"
  echo "fuzz: ${#names[@]} targets, $failed failed"
  [ "$failed" -eq 0 ]
}

# ./fleet.sh fuzz [TARGET] [--minutes N] [--jobs J]: long runs, J targets at a time (default 1).
# The corpus of each target grows in FLEET_FUZZ_DIR/TARGET/corpus across runs; findings are kept
# in FLEET_FUZZ_DIR/TARGET.
fuzz_long() {
  local only="" minutes=10 jobs=1 dir="${FLEET_FUZZ_DIR:-$HOME/.cache/fleet-fuzz}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --minutes|--jobs)
        local flag=$1 value=${2:-}
        shift $(($# > 1 ? 2 : 1))
        if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
          echo "fleet.sh fuzz: error: $flag wants a whole number >= 1, got '$value'" >&2
          return 2
        fi
        if [ "$flag" = --minutes ]; then minutes=$value; else jobs=$value; fi
        ;;
      -*) echo "fleet.sh fuzz: error: unknown option '$1' (hint: [TARGET] [--minutes N]" \
            "[--jobs J])" >&2
          return 2 ;;
      *) only=$1; shift ;;
    esac
  done
  local names=() target ci dict seeds
  while read -r target ci dict seeds; do
    if [ -z "$only" ] || [ "$only" = "$target" ]; then names+=("$target"); fi
  done < <(fuzz_targets)
  if [ ${#names[@]} -eq 0 ]; then
    echo "fleet.sh fuzz: error: no target '$only' (have: $(fuzz_targets | awk '{print $1}' |
      tr '\n' ' '))" >&2
    return 2
  fi
  build_fuzz "${names[@]}"
  log "fuzzing ${names[*]} for $minutes min each, $jobs at a time; corpus and findings in $dir"
  local running=0 failed=0
  mkdir -p "$dir"
  while read -r target ci dict seeds; do
    [[ " ${names[*]} " == *" $target "* ]] || continue
    if [ "$running" -ge "$jobs" ]; then
      wait -n || failed=$((failed + 1))
      running=$((running - 1))
    fi
    # shellcheck disable=SC2086
    fuzz_one "$target" "$dict" $((minutes * 60)) "$dir/$target/corpus" "$dir/$target" \
      $seeds >"$dir/$target.summary" 2>&1 &
    running=$((running + 1))
  done < <(fuzz_targets)
  while [ "$running" -gt 0 ]; do
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  done
  for target in "${names[@]}"; do
    tail -n +2 "$dir/$target.summary"  # a finding's report, if any
  done
  log "fuzzing done: per target, executions, coverage (libFuzzer's cov: edges) and crashes"
  for target in "${names[@]}"; do head -n 1 "$dir/$target.summary"; done
  [ "$failed" -eq 0 ]
}

demo() {
  local out="$BUILD/demo"
  rm -rf "$out"
  mkdir -p "$out"
  log "generating the CTR-DNN model (26 embedding tables + 13 dense features + MLP)"
  "$VENV/bin/python" "$ROOT/models/generate.py" --out "$out" --only ctr_dnn
  log "generating 500,000 click logs in Criteo's TSV format (planted logistic model)"
  "$VENV/bin/python" "$ROOT/models/criteo_synth.py" --out "$out/criteo" --rows 500000 \
    --seed 1 --vocab 1000 >/dev/null
  "$VENV/bin/python" -c "import json, sys; s = json.load(open(sys.argv[1]))['splits'][0]; \
print(f\"{s['rows']:,} rows, click rate {s['click_rate']:.3f}; the best AUC any model can reach on them: {s['bayes_auc']:.4f}\")" \
    "$out/criteo/info.json"
  log "fleet-transpile: loss, autodiff, Adam, startup (job/: main program with the parameters," \
    "startup program, manifest)"
  "$BUILD/tools/fleet-transpile" "$out/ctr_dnn.onnx" --strategy single --loss softmax_ce \
    --label label --optimizer adam --lr 0.001 -o "$out/job"
  "$BUILD/tools/fleet-inspect" "$out/job" --summary | grep -E '^# program|block\(s\)'
  log "fleet-run: 2 epochs, batch 512, 2 Hogwild threads"
  "$BUILD/tools/fleet-run" "$out/job" --data "$out/criteo/train.tsv" --batch 512 --epochs 2 \
    --threads 2 --log-every 100 --metrics-out "$out/metrics.jsonl" --save "$out/checkpoint" \
    --export "$out/trained.onnx"
  echo "metrics per step: $out/metrics.jsonl; checkpoint: $out/checkpoint" \
    "($(ls "$out/checkpoint" | wc -l) files); trained model: $out/trained.onnx"
  log "the trained model in ONNX Runtime beside fleet-run --infer"
  "$VENV/bin/python" "$ROOT/tests/models/check_against_ort.py" --fleet-run "$BUILD/tools/fleet-run" \
    --model "$out/trained.onnx" --batch 8
}

bench() {
  "$VENV/bin/python" "$ROOT/models/generate.py" --out "$BUILD/models"
  "$VENV/bin/python" "$ROOT/bench/forward_bench.py" --fleet-bench "$BUILD/bench/fleet-bench-forward" \
    --models "$BUILD/models" "$@"
}

# The PyTorch peer of the benchmarks (/usr/bin/python3 with Debian's python3-torch), installed on
# first use from dependencies/debian-bench.txt.
install_torch_peer() {
  if ! /usr/bin/python3 -c "import torch, onnx, numpy" 2>/dev/null; then
    mapfile -t bench_packages < <(read_list debian-bench.txt)
    apt_install_missing "${bench_packages[@]}"
  fi
}

# Training throughput and peak memory beside PyTorch (Debian's python3-torch, run by
# /usr/bin/python3) on the same four models; arguments go to bench/train_bench.py.
bench_train() {
  install_torch_peer
  "$VENV/bin/python" "$ROOT/models/generate.py" --out "$BUILD/models"
  "$VENV/bin/python" "$ROOT/bench/train_bench.py" --models "$BUILD/models" \
    --bin-dir "$BUILD/tools" "$@"
}

# Data-parallel training throughput: Fleet on 1 process and 2 ranks (allreduce, LocalSGD) beside
# PyTorch and its DistributedDataParallel, with Fleet's measured overlap; arguments go to
# bench/collective_bench.py.
bench_collective() {
  [[ " $* " == *" --fleet-only "* ]] || install_torch_peer
  "$VENV/bin/python" "$ROOT/models/generate.py" --out "$BUILD/models" --only resnet18,transformer
  "$VENV/bin/python" "$ROOT/bench/collective_bench.py" --models "$BUILD/models" \
    --bin-dir "$BUILD/tools" "$@"
}

# Allreduce over shared memory and Gloo beside torch.distributed's Gloo (Debian's python3-torch,
# run by /usr/bin/python3) and loopback TCP; arguments go to bench/allreduce_bench.py.
bench_allreduce() {
  install_torch_peer
  /usr/bin/python3 "$ROOT/bench/allreduce_bench.py" \
    --bench "$BUILD/bench/fleet-bench-allreduce" "$@"
}

# Parameter-server training (every sync mode, bytes per step, server memory per million rows)
# beside Fleet's single process and a torch.distributed.rpc parameter server (Debian's
# python3-torch); arguments go to bench/ps_bench.py.
bench_ps() {
  [[ " $* " == *" --fleet-only "* ]] || install_torch_peer
  "$VENV/bin/python" "$ROOT/bench/ps_bench.py" --bin-dir "$BUILD/tools" "$@"
}

case "${1:-}" in
  test)
    timed install setup; timed build build; timed tests run_tests; timed sanitizers sanitize
    timed fuzz fuzz_ci
    ;;
  demo) setup; build; demo ;;
  setup) setup ;;
  sanitize) setup; sanitize ;;
  fuzz) shift; setup; fuzz_long "$@" ;;
  fuzz-ci) setup; fuzz_ci ;;
  build) setup; build ;;
  bench) shift; setup; build; bench "$@" ;;
  bench-train) shift; setup; build; bench_train "$@" ;;
  bench-collective) shift; setup; build; bench_collective "$@" ;;
  bench-allreduce) shift; setup; build; bench_allreduce "$@" ;;
  bench-ps) shift; setup; build; bench_ps "$@" ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
