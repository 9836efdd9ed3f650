"""Compares Fleet's single-machine training throughput and peak memory with PyTorch's on the four
benchmark models (DIR/<name>.onnx from models/generate.py), at 1 and 2 threads.

For every model it writes synthetic training data to a temporary folder in fleet-run's format
(one <input>.npy per model input, from models/sample_inputs.py, plus label.npy: int64 classes
for softmax_ce, float 0/1 labels shaped like the output for sigmoid_bce), transpiles the model
once with
  fleet-transpile MODEL --strategy single --label label --loss LOSS --optimizer sgd --lr LR -o JOB
and then, per thread count, runs each side in its own process:
  fleet-run JOB --data DATA --batch B --threads T --steps W+N [--epochs E]
  [torch env] python3 bench/torch_train.py MODEL --data DATA --batch B --threads T
                                  --warmup W --steps N
PyTorch runs bench/torch_models.py's equal of the ONNX model with the ONNX initializers as its
weights, the same loss, SGD with the same learning rate, the same batches in the same order
(BatchNorm in train mode on both sides). Warm-up steps are excluded on both sides: PyTorch times
its N steps after W in-process; Fleet's time is the wall time of a run of W+N steps minus that of
a run of W steps (so start-up, loading and warm-up cancel out, whatever fleet-run prints).
Each configuration runs --repeat times (default 3) per side and the fastest run is reported: on
a shared machine other load only ever slows a run down. Peak MB is ru_maxrss of each run's
process alone (os.wait4); PyTorch's includes its Python interpreter and libraries, whose
baseline the header gives.

PyTorch's environment (bench/torch_peer.py): OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads,
OMP_WAIT_POLICY=PASSIVE, and, unless --torch-as-installed or the caller sets them, the best
kernels its build has: OPENBLAS_CORETYPE (SkylakeX on AVX-512, Haswell on AVX2; Debian's
OpenBLAS 0.3.21 falls back to SSE3 Prescott kernels on CPUs it does not know) and
ATEN_CPU_CAPABILITY=avx512, each read back inside a torch process and dropped if it does not
take effect. Fleet runs with the caller's environment.

Batches: MLP 128, CTR-DNN 512 (loss sigmoid_bce), ResNet-18-shaped CNN 32, transformer 32 (the
others softmax_ce). Prints, headed by the machine, CPU flags, each side's kernel environment and
GEMM kernels (bench/kernel_report.py) and the command, a markdown table
  | model | batch | threads | fleet samples/s | torch samples/s | ratio (fleet/torch) |
  | fleet peak MB | torch peak MB |
and then both sides' GFLOP/s at each model's top 3 forward GEMM shapes (fleet-bench-sgemm beside
torch.mm in a torch process with the environment above; F.conv2d for Conv layers).

Run it with Fleet's venv python (numpy, onnx); the PyTorch side runs under --torch-python
(default /usr/bin/python3 with Debian's python3-torch). ./fleet.sh bench-train runs it.

Usage: train_bench.py --models DIR [--bin-dir DIR | --torch-only] [--threads 1,2]
                      [--only mlp,ctr_dnn] [--steps N] [--warmup W] [--repeat R] [--json FILE]
                      [--torch-as-installed] [--sgemm-bench PATH] [--gemm-reps R]
"""

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "models"))
sys.path.insert(0, HERE)
import sample_inputs  # noqa: E402
import kernel_report  # noqa: E402
from forward_bench import find_models, fmt, int_list, print_report, run_measured  # noqa: E402
from torch_peer import TorchPeer  # noqa: E402

# model: (batch, loss, timed steps, warm-up steps, batches of data)
CONFIG = {
    "mlp": (128, "softmax_ce", 200, 10, 8),
    "resnet18": (32, "softmax_ce", 10, 2, 4),
    "transformer": (32, "softmax_ce", 40, 5, 8),
    "ctr_dnn": (512, "sigmoid_bce", 100, 10, 8),
}


def write_data(model_path, loss, records, folder, seed=0):
    """Writes folder/<input>.npy for every model input and folder/label.npy."""
    import onnx
    os.makedirs(folder, exist_ok=True)
    for name, array in sample_inputs.make_inputs(model_path, records, seed).items():
        np.save(os.path.join(folder, f"{name}.npy"), array)
    output = onnx.load(model_path, load_external_data=False).graph.output[0]
    dims = [d.dim_value for d in output.type.tensor_type.shape.dim[1:]]
    rng = np.random.default_rng(seed + 1)
    if loss == "softmax_ce":
        label = rng.integers(0, dims[0], records).astype(np.int64)
    else:
        label = (rng.random([records] + dims) < 0.25).astype(np.float32)
    np.save(os.path.join(folder, "label.npy"), label)


def best_of(repeat, measure):
    """Calls measure() `repeat` times; returns the result with the most samples/s (a busy
    machine only ever slows a run down), with every run's samples/s, or the first error."""
    best, all_runs = None, []
    for _ in range(repeat):
        result, error = measure()
        if error:
            return None, error
        all_runs.append(result["samples_per_s"])
        if best is None or result["samples_per_s"] > best["samples_per_s"]:
            best = result
    best["runs_samples_per_s"] = all_runs
    return best, None


def fail_text(name, cmd, rc, stdout, stderr):
    tail = "\n".join((stderr.strip() or stdout.strip()).splitlines()[-5:])
    return f"{name}: exit status {rc}: {shlex.join(cmd)}\n{tail}"


class Fleet:
    def __init__(self, bin_dir, timeout, lr, op_threads=False):
        self.transpile = os.path.join(bin_dir, "fleet-transpile")
        self.run = os.path.join(bin_dir, "fleet-run")
        for tool in (self.transpile, self.run):
            if not os.access(tool, os.X_OK):
                sys.exit(f"train_bench.py: error: {tool} is not an executable file "
                         "(build fleet-transpile and fleet-run, or pass --torch-only)")
        self.timeout = timeout
        self.lr = lr
        self.op_threads = op_threads  # threads as one worker's intra-op threads, not Hogwild
        rc, out, err, _ = run_measured([self.run, "--help"], timeout)
        self.epochs_flag = "--epochs" in out + err

    def prepare(self, model_path, loss, job, strategy=("--strategy", "single")):
        """Transpiles the model into `job` with the `strategy` flags; returns an error or None."""
        cmd = [self.transpile, model_path, *strategy, "--label", "label", "--loss", loss,
               "--optimizer", "sgd", "--lr", repr(self.lr), "-o", job]
        rc, out, err, _ = run_measured(cmd, self.timeout)
        return None if rc == 0 else fail_text("fleet-transpile", cmd, rc, out, err)

    def timed_run(self, job, data, batch, threads, steps, batches_of_data, launch=(), extra=()):
        """Runs fleet-run (behind the `launch` command when given, e.g. fleet-launch --nproc 2
        --) with `extra` flags; returns ((wall seconds, peak MB), None) or (None, error)."""
        parallel = (["--threads", "1", "--op-threads", str(threads)] if self.op_threads
                    else ["--threads", str(threads)])
        cmd = [*launch, self.run, job, "--data", data, "--batch", str(batch)] + parallel + [
            "--steps", str(steps), *extra]
        if self.epochs_flag:
            cmd += ["--epochs", str(-(-steps // batches_of_data))]
        start = time.perf_counter()
        rc, out, err, peak_mb = run_measured(cmd, self.timeout)
        seconds = time.perf_counter() - start
        if rc != 0:
            return None, fail_text("fleet-run", cmd, rc, out, err)
        return (seconds, peak_mb), None

    def measure(self, job, data, batch, threads, steps, warmup, batches_of_data):
        short, error = self.timed_run(job, data, batch, threads, warmup, batches_of_data)
        if error:
            return None, error
        full, error = self.timed_run(job, data, batch, threads, warmup + steps, batches_of_data)
        if error:
            return None, error
        seconds = full[0] - short[0]
        if seconds <= 0:
            return None, (f"fleet-run: {warmup + steps} steps took no longer than {warmup} "
                          f"({full[0]:.3f}s vs {short[0]:.3f}s); raise --steps")
        return {"seconds": round(seconds, 4), "samples_per_s": round(steps * batch / seconds, 1),
                "peak_rss_mb": round(full[1], 1)}, None


def measure_torch(args, torch_peer, model_path, data, batch, threads, steps, warmup):
    cmd = [args.torch_python, os.path.join(HERE, "torch_train.py"), model_path, "--data", data,
           "--batch", str(batch), "--threads", str(threads), "--steps", str(steps), "--warmup",
           str(warmup), "--lr", repr(args.lr)]
    try:
        rc, out, err, peak_mb = run_measured(cmd, args.timeout, env=torch_peer.env(threads))
    except OSError as e:
        return None, f"torch: cannot run {cmd[0]}: {e}"
    if rc != 0:
        return None, fail_text("torch", cmd, rc, out, err)
    lines = [line for line in out.splitlines() if line.strip().startswith("{")]
    try:
        result = json.loads(lines[-1])
        float(result["samples_per_s"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None, f"torch: no JSON result line in the output of {shlex.join(cmd)}:\n{out}"
    result["reported_peak_rss_mb"] = result.get("peak_rss_mb")
    result["peak_rss_mb"] = round(peak_mb, 1)
    return result, None


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="directory of <name>.onnx models")
    parser.add_argument("--bin-dir", help="folder with fleet-transpile and fleet-run")
    parser.add_argument("--torch-only", action="store_true", help="measure PyTorch only")
    parser.add_argument("--threads", type=int_list, default=[1, 2])
    parser.add_argument("--op-threads", action="store_true",
                        help="run Fleet's threads as one worker's intra-op threads instead of "
                             "Hogwild workers")
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--steps", type=int, help="timed steps (default: per model)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default: per model)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per configuration and side; the fastest is reported")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--torch-python", default="/usr/bin/python3",
                        help="python with torch, numpy and onnx (default: /usr/bin/python3)")
    parser.add_argument("--torch-as-installed", action="store_true",
                        help="run PyTorch with the caller's environment as it is (plus the thread "
                             "settings) instead of adding the best OPENBLAS_CORETYPE and "
                             "ATEN_CPU_CAPABILITY for this CPU where unset")
    parser.add_argument("--sgemm-bench",
                        help="fleet-bench-sgemm for Fleet's GFLOP/s in the GEMM table (default: "
                             "BIN_DIR/../bench/fleet-bench-sgemm or BIN_DIR/fleet-bench-sgemm)")
    parser.add_argument("--gemm-reps", type=int, default=20,
                        help="timed calls per GEMM shape in the GEMM table (fewer for big "
                             "shapes); 0 leaves the table out")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run")
    parser.add_argument("--json", help="also write all results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data and job folders")
    args = parser.parse_args()
    if not args.torch_only and not args.bin_dir:
        parser.error("give --bin-dir (Fleet's tools) or --torch-only")
    for flag, least in (("repeat", 1), ("steps", 1), ("gemm_reps", 0)):
        value = getattr(args, flag)
        if value is not None and value < least:
            parser.error(f"--{flag.replace('_', '-')} is {value}; expected >= {least}")
    if args.warmup is not None and args.warmup < 1:
        parser.error(f"--warmup is {args.warmup}; expected >= 1 (Fleet's time is a difference "
                     "of runs of W and W+N steps)")
    if args.sgemm_bench and not os.access(args.sgemm_bench, os.X_OK):
        parser.error(f"--sgemm-bench '{args.sgemm_bench}' is not an executable file")
    return args


def run_models(args, names, fleet, torch_peer):
    """Runs every model and thread count on both sides; returns (table rows, errors, records)."""
    work_root = tempfile.mkdtemp(prefix="fleet-train-bench-")
    rows, errors, records = [], [], []
    try:
        for name in names:
            batch, loss, steps, warmup, batches_of_data = CONFIG[name]
            steps = args.steps or steps
            warmup = args.warmup or warmup
            model = os.path.join(args.models, f"{name}.onnx")
            work = os.path.join(work_root, name)
            data = os.path.join(work, "data")
            write_data(model, loss, batch * batches_of_data, data)
            job = os.path.join(work, "job")
            fleet_error = fleet and fleet.prepare(model, loss, job)
            if fleet_error:
                errors.append(fleet_error)
            for threads in args.threads:
                label = f"{name} batch {batch} threads {threads}"
                print(f"running {label} ...", file=sys.stderr, flush=True)
                fleet_result = None
                if fleet and not fleet_error:
                    fleet_result, error = best_of(args.repeat, lambda: fleet.measure(
                        job, data, batch, threads, steps, warmup, batches_of_data))
                    if error:
                        errors.append(f"{label}: {error}")
                torch_result, error = best_of(args.repeat, lambda: measure_torch(
                    args, torch_peer, model, data, batch, threads, steps, warmup))
                if error:
                    errors.append(f"{label}: {error}")
                f_sps = fleet_result and fleet_result["samples_per_s"]
                t_sps = torch_result and torch_result["samples_per_s"]
                ratio = f_sps / t_sps if f_sps and t_sps else None
                rows.append(f"| {name} | {batch} | {threads} | {fmt(f_sps, 1)} | "
                            f"{fmt(t_sps, 1)} | {fmt(ratio, 2)} | "
                            f"{fmt(fleet_result and fleet_result['peak_rss_mb'], 1)} | "
                            f"{fmt(torch_result and torch_result['peak_rss_mb'], 1)} |")
                records.append({"model": name, "batch": batch, "threads": threads, "loss": loss,
                                "steps": steps, "warmup": warmup, "fleet": fleet_result,
                                "torch": torch_result})
    finally:
        if args.keep:
            print(f"data and jobs kept in {work_root}", file=sys.stderr)
        else:
            shutil.rmtree(work_root, ignore_errors=True)
    return rows, errors, records


def main():
    args = parse_args()
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in CONFIG]
    if unknown:
        sys.exit(f"train_bench.py: error: no training config for {', '.join(unknown)}; expected "
                 f"some of {', '.join(CONFIG)}")
    names = [n for n in find_models(args.models, only) if n in CONFIG]
    fleet = None if args.torch_only else Fleet(args.bin_dir, args.timeout, args.lr,
                                               args.op_threads)
    sgemm_bench = None if args.torch_only else args.sgemm_bench or kernel_report.find_sgemm_bench(
        os.path.join(args.bin_dir, os.pardir, "bench"), args.bin_dir)
    cpu = kernel_report.cpu_info()
    print("checking PyTorch's kernels ...", file=sys.stderr, flush=True)
    torch_peer = TorchPeer(args.torch_python, cpu["flags"], args.torch_as_installed,
                           args.timeout)
    if torch_peer.installed is None:
        sys.exit(f"train_bench.py: error: PyTorch does not run under --torch-python "
                 f"{args.torch_python}:\n{torch_peer.errors[0]}")
    _, _, _, torch_base_mb = run_measured(
        [args.torch_python, "-c", "import numpy, onnx, torch"], args.timeout,
        env=torch_peer.env(1))

    rows, errors, records = run_models(args, names, fleet, torch_peer)
    errors = torch_peer.errors + errors
    gemm_lines = []
    if args.gemm_reps:
        print("timing GEMM shapes ...", file=sys.stderr, flush=True)
        models = [(n, os.path.join(args.models, f"{n}.onnx"), CONFIG[n][0]) for n in names]
        table, gemm_records, gemm_errors, sgemm_kernel = kernel_report.gemm_report(
            models, args.threads, torch_peer, sgemm_bench, args.gemm_reps, args.timeout)
        gemm_lines = [""] + kernel_report.gemm_legend(
            "torch", "torch.mm(A, B, out=C) in a torch process with the torch environment "
            "above", "the Conv layer's own F.conv2d (no grad), counted as its im2col FLOPs",
            sgemm_bench, sgemm_kernel, args.gemm_reps) + [""] + table
        records += gemm_records
        errors += gemm_errors

    torch_version = next((r["torch"]["torch"] for r in records if r.get("torch")), "?")
    for line in kernel_report.machine_lines(cpu):
        print(line)
    print(f"command: {shlex.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"training: float32, SGD lr {args.lr:g}, batches in order from synthetic data; "
          "warm-up steps excluded (steps/warm-up per model in the JSON); samples/s: the fastest "
          f"of {args.repeat} runs of each side")
    print(f"PyTorch {torch_version}: torch.set_num_threads(threads), 1 inter-op thread, "
          "OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads, run with OMP_WAIT_POLICY=PASSIVE "
          "(Debian's build spins idle OpenMP threads and runs ~3x slower at 2 threads without "
          "it); peak MB = ru_maxrss of each run's process (PyTorch's "
          f"Python baseline: {torch_base_mb:.1f} MB)")
    if fleet is None:
        print("Fleet: not measured (--torch-only)")
    elif args.op_threads:
        print("Fleet: one worker, threads = its intra-op threads (fleet-run --threads 1 "
              "--op-threads T), the same kind of parallelism as PyTorch's")
    else:
        print("Fleet: threads = Hogwild workers (fleet-run --threads T), each with one intra-op "
              "thread and its own batches")
    print(kernel_report.env_line("fleet", os.environ))
    print(kernel_report.env_line("torch", torch_peer.env("T"), torch_peer.set_here())
          + " (* set by the benchmark; T = the row's threads)")
    if fleet:
        print(f"kernels fleet: {kernel_report.fleet_kernel(fleet.run)}; float32 GEMMs are "
              "Fleet's own SGEMM, OpenBLAS only serves float64")
    for line in torch_peer.header_lines():
        print(line)
    records.append({"kind": "kernels", "cpu": {**cpu, "flags": sorted(cpu["flags"])},
                    "torch_env": torch_peer.overrides, "torch_as_run": torch_peer.active,
                    "torch_as_installed": torch_peer.installed})
    return print_report("| model | batch | threads | fleet samples/s | torch samples/s | "
                        "ratio (fleet/torch) | fleet peak MB | torch peak MB |",
                        rows, errors, records, args.json, after=gemm_lines)


if __name__ == "__main__":
    sys.exit(main())
