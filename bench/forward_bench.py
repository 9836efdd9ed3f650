"""Compares Fleet's forward latency and peak memory with ONNX Runtime's, model by model.

For every model (DIR/<name>.onnx) x batch size x thread count it runs, each in its own process,
  fleet-bench-forward MODEL --batch B --threads T --iters N --warmup W
  python bench/ort_forward.py MODEL --batch B --threads T --iters N --warmup W
reads the JSON line each prints, takes each process's peak RSS from os.wait4 (ru_maxrss of that
child alone), and prints a markdown table headed by the machine, OPENBLAS_CORETYPE and the command:

  | model | batch | threads | fleet ms | ORT ms | ratio (fleet/ORT) | fleet peak MB | ORT peak MB |

Latencies are medians. ORT's peak includes its Python interpreter; the header gives that baseline
(a process that only imports numpy and onnxruntime). Without --fleet-bench only ORT is measured.

Usage: forward_bench.py --fleet-bench PATH --models DIR [--batches 1,32] [--threads 1,2]
                        [--iters N] [--warmup W] [--only mlp,resnet18] [--json FILE]
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading

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


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def print_report(header, rows, errors, records, json_path):
    """Prints the markdown table (header, then rows) and the errors; writes the records as JSON
    when json_path is set. Returns the exit status: 1 if anything failed."""
    print()
    print(header)
    print("|---" + "|---:" * (header.count("|") - 2) + "|")  # numbers right-aligned
    for row in rows:
        print(row)
    for error in errors:
        print(f"\nerror: {error}", file=sys.stderr)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(records, f, indent=1)
    return 1 if errors else 0


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
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run")
    parser.add_argument("--json", help="also write all results to this file")
    args = parser.parse_args()

    names = find_models(args.models, [n for n in args.only.split(",") if n])
    if args.fleet_bench and not os.access(args.fleet_bench, os.X_OK):
        sys.exit(f"forward_bench.py: error: --fleet-bench '{args.fleet_bench}' is not an "
                 "executable file")

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

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"machine: {cpu_model()}, {cores} logical cores ({usable} usable), "
          f"{platform.system()} {platform.release()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"command: {shlex.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"iters {args.iters} (median reported), warmup {args.warmup}; ONNX Runtime "
          f"{onnxruntime.__version__}: CPU EP, intra-op threads = threads, inter-op 1, "
          f"sequential, ORT_ENABLE_ALL; peak MB = ru_maxrss of each run's process (ORT's Python "
          f"baseline: {ort_base_mb:.1f} MB)")
    return print_report("| model | batch | threads | fleet ms | ORT ms | ratio (fleet/ORT) | "
                        "fleet peak MB | ORT peak MB |", rows, errors, records, args.json)


if __name__ == "__main__":
    sys.exit(main())
