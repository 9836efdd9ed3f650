"""Training parity with PyTorch: Fleet's loss curve, step for step, against PyTorch's.

For every reference curve DATA/reference_<model>_<optimizer>.json (written by
models/torch_parity.py) it runs, as a user would,
  fleet-transpile DATA/<model>.onnx --strategy single --label label --loss softmax_ce
                  --optimizer <optimizer> --lr <lr> -o WORK/job
  fleet-run WORK/job --data DATA/<model>_data --batch 32 --steps 50 --threads 1
            --metrics-out WORK/metrics.jsonl
and compares the loss of every step (the JSON lines of --metrics-out with "step" and "loss": the
loss of that step's batch before its update) with PyTorch's, within --rtol (default 1e-4)
relative. Both start from the same weights (the ONNX initializers) and read the same batches in
the same order, so any gap is a difference in the forward pass, the gradients or the update.
Prints a table (model, optimizer, steps compared, max rel diff, result) and, for a mismatch, the
first step that differs with both losses and what that step points to. Exit status 1 if any case
fails.

Usage: parity_test.py --bin-dir DIR [--data DIR] [--only mlp_sgd,cnn_adam] [--rtol X] [--keep]
"""

import argparse
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


class CaseError(Exception):
    """A case that could not be compared (a tool failed, the metrics are malformed)."""


def run_tool(cmd, timeout):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CaseError(f"timed out after {timeout}s: {shlex.join(cmd)}")
    except OSError as e:
        raise CaseError(f"cannot run {cmd[0]}: {e}")
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise CaseError(f"exit status {proc.returncode}: {shlex.join(cmd)}\n    {tail}")
    return proc.stdout


def supports_flag(binary, flag):
    """Whether `binary --help` mentions `flag`."""
    try:
        proc = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in proc.stdout + proc.stderr


def read_losses(path, steps):
    """Losses by step index 0..steps-1 from a --metrics-out file. Steps may be counted from 0
    or from 1; records without both "step" and "loss" (summaries, evaluations) are skipped."""
    if not os.path.exists(path):
        raise CaseError(f"fleet-run wrote no metrics file {path}")
    by_step = {}
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CaseError(f"{path}:{number}: not a JSON line ({e}): {line.strip()[:200]}")
            if not isinstance(record, dict) or "step" not in record or "loss" not in record:
                continue
            try:
                by_step[int(record["step"])] = float(record["loss"])
            except (TypeError, ValueError):
                raise CaseError(f"{path}:{number}: step or loss is not a number: {line.strip()}")
    if not by_step:
        raise CaseError(f"{path}: no JSON line with \"step\" and \"loss\"")
    first = min(by_step)
    if first not in (0, 1):
        raise CaseError(f"{path}: the first step is {first}; expected 0 or 1")
    losses = [by_step.get(first + i) for i in range(steps)]
    missing = [i + first for i, v in enumerate(losses) if v is None]
    if missing:
        raise CaseError(f"{path}: {len(by_step)} steps reported; expected {steps} "
                        f"(missing steps {missing[:10]}{' ...' if len(missing) > 10 else ''}, "
                        f"counting from {first})")
    return losses


def ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def hint(step):
    if step == 0:
        return ("The first step differs: the weights are the initial ones, so the forward pass "
                "or the loss differs")
    if step == 1:
        return ("Step 0 matches, step 1 does not: the forward pass agrees, so the gradients or "
                "the optimizer update differ")
    return "The curves agree at first and then drift: look at the update (lr, optimizer state)"


def compare(fleet, ref, rtol):
    """(max rel diff, first step over rtol or None)."""
    worst, first_bad = 0.0, None
    for step, (a, b) in enumerate(zip(fleet, ref)):
        rel = abs(a - b) / max(abs(b), 1e-12)
        if rel != rel:  # NaN
            rel = float("inf")
        worst = max(worst, rel)
        if rel > rtol and first_bad is None:
            first_bad = step
    return worst, first_bad


def run_case(ref_path, ref, args, work):
    model, optimizer = ref["model"], ref["optimizer"]
    data = os.path.dirname(ref_path)
    job = os.path.join(work, "job")
    metrics = os.path.join(work, "metrics.jsonl")
    transpile = [args.fleet_transpile, os.path.join(data, f"{model}.onnx"), "--strategy",
                 "single", "--label", ref["label"], "--loss", ref["loss"], "--optimizer",
                 optimizer, "--lr", repr(ref["lr"]), "-o", job]
    run = [args.fleet_run, job, "--data", os.path.join(data, f"{model}_data"), "--batch",
           str(ref["batch"]), "--steps", str(ref["steps"]), "--threads", "1", "--metrics-out",
           metrics] + args.run_flag
    if args.epochs_flag:
        # Enough passes over the data for all the steps; --steps stops the run.
        batches_per_epoch = ref["samples"] // ref["batch"]
        run += ["--epochs", str(-(-ref["steps"] // batches_per_epoch))]
    run_tool(transpile, args.timeout)
    run_tool(run, args.timeout)
    return read_losses(metrics, ref["steps"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", help="folder with fleet-transpile and fleet-run")
    parser.add_argument("--fleet-transpile", help="path of fleet-transpile (default: BIN_DIR/)")
    parser.add_argument("--fleet-run", help="path of fleet-run (default: BIN_DIR/)")
    parser.add_argument("--data", default=os.path.join(HERE, "data"),
                        help="folder of the references, models and data (tests/training/data)")
    parser.add_argument("--only", default="", help="comma-separated cases, e.g. mlp_sgd,cnn_adam")
    parser.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance per step")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per tool run")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    parser.add_argument("--run-flag", action="append", default=[],
                        help="one more argument for fleet-run, e.g. --run-flag=--device "
                        "--run-flag=cuda:0 (repeat it)")
    args = parser.parse_args()
    for tool in ("fleet_transpile", "fleet_run"):
        if getattr(args, tool) is None:
            if args.bin_dir is None:
                parser.error(f"give --bin-dir or --{tool.replace('_', '-')}")
            setattr(args, tool, os.path.join(args.bin_dir, tool.replace("_", "-")))
        if not os.access(getattr(args, tool), os.X_OK):
            sys.exit(f"parity_test.py: error: {getattr(args, tool)} is not an executable file")

    refs = sorted(glob.glob(os.path.join(args.data, "reference_*.json")))
    cases = {os.path.basename(p)[len("reference_"):-len(".json")]: p for p in refs}
    only = [c for c in args.only.split(",") if c]
    unknown = [c for c in only if c not in cases]
    if unknown or not cases:
        sys.exit(f"parity_test.py: error: no reference for {', '.join(unknown) or 'any case'} in "
                 f"{args.data}; have {', '.join(cases) or 'none'} "
                 "(hint: /usr/bin/python3 models/torch_parity.py writes them)")
    args.epochs_flag = supports_flag(args.fleet_run, "--epochs")

    rows, failures, torch_version = [], [], "?"
    for case in only or list(cases):
        with open(cases[case]) as f:
            ref = json.load(f)
        torch_version = ref["versions"]["torch"]
        label = f"{ref['model']}/{ref['optimizer']}"
        work = tempfile.mkdtemp(prefix=f"fleet-parity-{case}-")
        try:
            fleet = run_case(cases[case], ref, args, work)
        except CaseError as e:
            failures.append(f"{label}: {e}")
            rows.append((ref["model"], ref["optimizer"], "-", "-", "ERROR"))
            continue
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        worst, bad = compare(fleet, ref["losses"], args.rtol)
        if bad is not None:
            a, b = fleet[bad], ref["losses"][bad]
            matched = f"steps 0..{bad - 1} matched" if bad > 0 else "no step matched"
            failures.append(
                f"{label}: step {bad} (the {ordinal(bad + 1)}) differs: fleet loss {a!r}, "
                f"PyTorch {b!r}, rel diff {abs(a - b) / abs(b):.3e} > {args.rtol:g}; {matched}. "
                f"{hint(bad)}")
        rows.append((ref["model"], ref["optimizer"], str(len(fleet)), f"{worst:.2e}",
                     "ok" if bad is None else "FAIL"))

    print(f"training parity with PyTorch {torch_version} "
          f"(rtol {args.rtol:g} per step)\n")
    print("| model | optimizer | steps | max rel diff | result |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if failures:
        print()
        for failure in failures:
            print(f"FAIL {failure}")
        sys.exit(1)


if __name__ == "__main__":
    main()
