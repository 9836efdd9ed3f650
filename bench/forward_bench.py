"""Compares Fleet's forward latency and peak memory with ONNX Runtime's, model by model.

For every model (DIR/<name>.onnx) x batch size x thread count it runs, each in its own process,
  fleet-bench-forward MODEL --batch B --threads T --iters N --warmup W
  python bench/ort_forward.py MODEL --batch B --threads T --iters N --warmup W
reads the JSON line each prints, takes each process's peak RSS from os.wait4 (ru_maxrss of that
child alone), and prints, headed by the machine, CPU flags, each side's kernel environment and
GEMM kernels (bench/kernel_report.py) and the command, a markdown table

  | model | batch | threads | fleet ms | ORT ms | ratio (fleet/ORT) | fleet peak MB | ORT peak MB |

and then both sides' GFLOP/s at each model's top 3 GEMM shapes per batch: fleet-bench-sgemm
beside one-MatMul models in ORT (bench/ort_kernels.py; one-Conv models for Conv layers).

Latencies are medians. ORT's peak includes its Python interpreter; the header gives that baseline
(a process that only imports numpy and onnxruntime). Without --fleet-bench only ORT is measured.
Both sides run with the caller's environment; MLAS, ORT's GEMM library, picks its kernels from
CPUID.

Usage: forward_bench.py --fleet-bench PATH --models DIR [--batches 1,32] [--threads 1,2]
                        [--iters N] [--warmup W] [--only mlp,resnet18] [--json FILE]
                        [--sgemm-bench PATH] [--gemm-reps R]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading

import kernel_report

HERE = os.path.dirname(os.path.abspath(__file__))
KNOWN_ORDER = ["mlp", "resnet18", "transformer", "ctr_dnn"]


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected positive integers")
    return values


def run_measured(cmd, timeout, env=None):
    """Runs cmd (with environment `env`, default this one's); returns (exit code, stdout, stderr,
    peak RSS in MB of that process)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            # wait4 reports the rusage of this one child, unlike RUSAGE_CHILDREN (a running max).
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), usage.ru_maxrss / 1024.0


def measure(name, cmd, timeout):
    """Returns (result dict with peak_rss_mb from wait4, or None; error text)."""
    try:
        rc, stdout, stderr, peak_mb = run_measured(cmd, timeout)
    except OSError as e:
        return None, f"{name}: cannot run {cmd[0]}: {e}"
    if rc != 0:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        return None, f"{name}: exit status {rc}: {shlex.join(cmd)}\n{tail}"
    lines = [line for line in stdout.splitlines() if line.strip().startswith("{")]
    try:
        result = json.loads(lines[-1])
        float(result["median_ms"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None, f"{name}: no JSON result line in output of {shlex.join(cmd)}:\n{stdout}"
    result["reported_peak_rss_mb"] = result.get("peak_rss_mb")
    result["peak_rss_mb"] = round(peak_mb, 1)
    return result, None


def find_models(models_dir, only):
    names = [os.path.splitext(f)[0] for f in os.listdir(models_dir) if f.endswith(".onnx")]
    names.sort(key=lambda n: (KNOWN_ORDER.index(n) if n in KNOWN_ORDER else len(KNOWN_ORDER), n))
    if only:
        missing = [n for n in only if n not in names]
        if missing:
            sys.exit(f"forward_bench.py: error: no {', '.join(m + '.onnx' for m in missing)} in "
                     f"{models_dir}; have {', '.join(names) or 'none'}")
        names = [n for n in names if n in only]
    if not names:
        sys.exit(f"forward_bench.py: error: no .onnx files in {models_dir} "
                 "(hint: python models/generate.py --out DIR)")
    return names


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(header, rows, errors, records, json_path, after=()):
    """Prints the markdown table (header, then rows), the lines `after` it, and the errors;
    writes the records as JSON when json_path is set. Returns the exit status: 1 if anything
    failed."""
    print()
    print(header)
    print("|---" + "|---:" * (header.count("|") - 2) + "|")  # numbers right-aligned
    for row in rows:
        print(row)
    for line in after:
        print(line)
    for error in errors:
        print(f"\nerror: {error}", file=sys.stderr)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(records, f, indent=1)
    return 1 if errors else 0


class OrtPeer:
    """ONNX Runtime's side of the GEMM table (bench/kernel_report.py)."""

    name = "ORT"

    def __init__(self, python, flags, timeout):
        self.python = python
        self.mlas = kernel_report.mlas_kernel(flags)
        self.timeout = timeout

    def measure(self, shapes_file, threads, reps):
        report, error = kernel_report.run_json(
            f"ORT GEMMs at {threads} threads",
            [self.python, os.path.join(HERE, "ort_kernels.py"), "--threads", str(threads),
             "--shapes", shapes_file, "--reps", str(reps)], self.timeout)
        return (report or {}).get("results"), error

    def kernel(self, shape, result):
        text = f"MLAS {self.mlas}"
        if result and result.get("op_kernel"):
            text += f"; op: {result['op_kernel']}"
        return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-bench", help="path of fleet-bench-forward (omit: ORT only)")
    parser.add_argument("--models", required=True, help="directory of <name>.onnx models")
    parser.add_argument("--batches", type=int_list, default=[1, 32])
    parser.add_argument("--threads", type=int_list, default=[1, 2])
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--ort-python", default=sys.executable,
                        help="python with onnxruntime for ort_forward.py (default: this one)")
    parser.add_argument("--sgemm-bench",
                        help="fleet-bench-sgemm for Fleet's GFLOP/s in the GEMM table (default: "
                             "the one beside --fleet-bench)")
    parser.add_argument("--gemm-reps", type=int, default=20,
                        help="timed calls per GEMM shape in the GEMM table (fewer for big "
                             "shapes); 0 leaves the table out")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run")
    parser.add_argument("--json", help="also write all results to this file")
    args = parser.parse_args()
    if args.gemm_reps < 0:
        parser.error(f"--gemm-reps is {args.gemm_reps}; expected >= 0")

    names = find_models(args.models, [n for n in args.only.split(",") if n])
    if args.fleet_bench and not os.access(args.fleet_bench, os.X_OK):
        sys.exit(f"forward_bench.py: error: --fleet-bench '{args.fleet_bench}' is not an "
                 "executable file")
    if args.sgemm_bench and not os.access(args.sgemm_bench, os.X_OK):
        sys.exit(f"forward_bench.py: error: --sgemm-bench '{args.sgemm_bench}' is not an "
                 "executable file")
    sgemm_bench = args.sgemm_bench or (
        args.fleet_bench and kernel_report.find_sgemm_bench(os.path.dirname(args.fleet_bench)))

    _, _, _, ort_base_mb = run_measured(
        [args.ort_python, "-c", "import numpy, onnxruntime"], args.timeout)
    import onnxruntime
    common = ["--iters", str(args.iters), "--warmup", str(args.warmup)]
    rows, errors, records = [], [], []
    for name in names:
        model = os.path.join(args.models, f"{name}.onnx")
        for batch in args.batches:
            for threads in args.threads:
                config = ["--batch", str(batch), "--threads", str(threads)] + common
                label = f"{name} batch {batch} threads {threads}"
                print(f"running {label} ...", file=sys.stderr, flush=True)
                fleet = None
                if args.fleet_bench:
                    fleet, error = measure(f"fleet {label}", [args.fleet_bench, model] + config,
                                           args.timeout)
                    if error:
                        errors.append(error)
                ort_cmd = [args.ort_python, os.path.join(HERE, "ort_forward.py"), model] + config
                ort_result, error = measure(f"ORT {label}", ort_cmd, args.timeout)
                if error:
                    errors.append(error)
                fleet_ms = fleet and fleet["median_ms"]
                ort_ms = ort_result and ort_result["median_ms"]
                ratio = fleet_ms / ort_ms if fleet_ms and ort_ms else None
                rows.append(f"| {name} | {batch} | {threads} | {fmt(fleet_ms)} | {fmt(ort_ms)} | "
                            f"{fmt(ratio, 2)} | {fmt(fleet and fleet['peak_rss_mb'], 1)} | "
                            f"{fmt(ort_result and ort_result['peak_rss_mb'], 1)} |")
                records.append({"model": name, "batch": batch, "threads": threads,
                                "fleet": fleet, "ort": ort_result})

    cpu = kernel_report.cpu_info()
    gemm_lines = []
    if args.gemm_reps:
        print("timing GEMM shapes ...", file=sys.stderr, flush=True)
        models = [(n, os.path.join(args.models, f"{n}.onnx"), b)
                  for n in names for b in args.batches]
        table, gemm_records, gemm_errors, sgemm_kernel = kernel_report.gemm_report(
            models, args.threads, OrtPeer(args.ort_python, cpu["flags"], args.timeout),
            sgemm_bench, args.gemm_reps, args.timeout)
        gemm_lines = [""] + kernel_report.gemm_legend(
            "ORT", "a one-MatMul model, A and B as inputs (no prepacking), run through I/O "
            "binding", "a one-Conv model of the layer (weights as an initializer, ORT's graph "
            "optimisations on), counted as its im2col FLOPs", sgemm_bench, sgemm_kernel,
            args.gemm_reps) + [""] + table
        records += gemm_records
        errors += gemm_errors

    for line in kernel_report.machine_lines(cpu):
        print(line)
    print(f"command: {shlex.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"iters {args.iters} (median reported), warmup {args.warmup}; ONNX Runtime "
          f"{onnxruntime.__version__}: CPU EP, intra-op threads = threads, inter-op 1, "
          f"sequential, ORT_ENABLE_ALL; peak MB = ru_maxrss of each run's process (ORT's Python "
          f"baseline: {ort_base_mb:.1f} MB)")
    print(kernel_report.env_line("fleet", os.environ))
    print(kernel_report.env_line("ORT", os.environ))
    print(f"kernels fleet: {kernel_report.fleet_kernel(args.fleet_bench)}")
    print(f"kernels ORT: ONNX Runtime {onnxruntime.__version__}, MLAS SGEMM kernel "
          f"{kernel_report.mlas_kernel(cpu['flags'])} (MLAS picks it from CPUID; named here from "
          "the CPU flags)")
    records.append({"kind": "kernels", "cpu": {**cpu, "flags": sorted(cpu["flags"])}})
    return print_report("| model | batch | threads | fleet ms | ORT ms | ratio (fleet/ORT) | "
                        "fleet peak MB | ORT peak MB |", rows, errors, records, args.json,
                        after=gemm_lines)


if __name__ == "__main__":
    sys.exit(main())
