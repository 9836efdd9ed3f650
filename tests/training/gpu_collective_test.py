"""A collective job on a GPU averages its buckets over NCCL and trains as the host does.

The MLP of tests/training/data with SGD is transpiled twice, as a user would:
  single      fleet-transpile --strategy single           -> fleet-run on the host, batch B
  collective  fleet-transpile --strategy collective, 1 KB buckets (one per gradient that does
              not fit with its neighbours)                -> fleet-launch --gpus 0 -- fleet-run
              --no-tf32: one rank on the first GPU, batch B
              (or --strategy localsgd: --k-steps 1 --begin-step 4, the gradients averaged for 4
              steps, then the parameters after every step, in LocalSGD's conditional blocks,
              which run on the GPU too)
and checked:
  - the rank's log says its collectives run on cuda:0 over NCCL, and its run summary names
    "nccl" as the steps' transport;
  - the summary counts one allreduce per averaging op per step (LocalSGD: the gradients' ops
    for 4 steps, then the parameters' ops), each step's averages together carrying the model's
    bytes (the gradients' sizes, from fleet-inspect);
  - every step's loss equals the host run's within a relative 1e-3 (the GPU sums in another
    order), and the two runs stopped after the same number of steps.
One rank is what a machine with one GPU can run: NCCL refuses two ranks on one GPU. With GPUS
set to a list of several ("0,1"), the ranks are that many and each reads its share of a batch
of B x ranks, whose mean loss equals the single run's at that batch.

Where this fleet-run has no CUDA, or no GPU can be used, it says why and exits 77 (CTest:
skipped, never passed).

Usage: gpu_collective_test.py --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN
       --fleet-inspect BIN --data DIR [--strategy collective|localsgd] [--gpus 0] [--keep]
"""

import argparse
import json
import os
import re
import subprocess
import sys

from test_outcome import finish, work_folder

SKIP = 77
STEPS = 12
RANK_BATCH = 16
BEGIN_STEP = 4  # LocalSGD: gradients averaged for this many steps, then the parameters
OPTIMIZER = ["--optimizer", "sgd", "--lr", "0.1"]


def run(cmd, timeout=300, check=True):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(map(str, cmd))} exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def losses(path):
    out = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            out[record["step"]] = record["loss"]
    return [out[s] for s in sorted(out)]


def gpu_unusable(args, job, data, work):
    """Why this fleet-run cannot train on cuda:0 here, or None when it can."""
    probe = run([args.fleet_run, job, "--data", data, "--batch", RANK_BATCH, "--steps", 1,
                 "--device", "cuda:0", "--summary-out", os.path.join(work, "probe.json")],
                check=False)
    if probe.returncode == 0:
        return None
    text = probe.stdout + probe.stderr
    reason = re.search(r"--device cuda:0: .*", text)
    if reason and "--device cpu runs on the host" in text:
        return reason.group(0)
    raise SystemExit(f"FAIL: fleet-run --device cuda:0 failed for another reason:\n{text[-3000:]}")


def averages(args, job):
    """(allreduce calls over STEPS steps, the model's gradient bytes, gradients averaged) from
    the fleet.allreduce ops of the job's main program and its sub-blocks (fleet-inspect)."""
    text = run([args.fleet_inspect, job]).stdout
    main = text.partition('# program "main"')[2].partition('# program "')[0]
    grads = set()
    # X: one var, or a list of them in brackets.
    for op in re.findall(r'= fleet\.allreduce\(X: (\[[^\]]*\]|%(?:"[^"]*"|[\w.@-]+))', main):
        names = (v.strip().lstrip("%").strip('"') for v in op.strip("[]").split(","))
        grads.update(n for n in names if n.endswith("@GRAD"))
    total = 0
    for name, dims in re.findall(r'var %("[^"]*"|[\w.@-]+) : f32\[([\d,]*)\]', main):
        if name.strip('"') in grads:
            size = 1
            for d in dims.split(","):
                size *= int(d)
            total += 4 * size
    if args.strategy == "localsgd":
        calls = (BEGIN_STEP * main.count('name="localsgd.average_grads.bucket') +
                 (STEPS - BEGIN_STEP) * main.count('name="localsgd.average_params.bucket'))
    else:
        calls = STEPS * main.count("= fleet.allreduce(")
    return calls, total, len(grads)


def check(args, work):
    model = os.path.join(args.data, "mlp.onnx")
    data = os.path.join(args.data, "mlp_data")
    ranks = len(args.gpus.split(","))
    common = ["--loss", "softmax_ce"] + OPTIMIZER
    single = os.path.join(work, "single")
    run([args.fleet_transpile, model, "-o", single, "--strategy", "single"] + common)
    job = os.path.join(work, "collective")
    strategy = (["--strategy", "localsgd", "--k-steps", "1", "--begin-step", str(BEGIN_STEP)]
                if args.strategy == "localsgd" else ["--strategy", "collective"])
    run([args.fleet_transpile, model, "-o", job, "--bucket-mb", "0.001"] + strategy + common)

    reason = gpu_unusable(args, job, data, work)
    if reason is not None:
        print(f"SKIP: no GPU to train on: {reason}")
        sys.exit(SKIP)

    run([args.fleet_run, single, "--data", data, "--batch", RANK_BATCH * ranks, "--steps",
         STEPS, "--metrics-out", os.path.join(work, "single.jsonl")])
    logs = os.path.join(work, "logs")
    launched = run([args.fleet_launch, "--gpus", args.gpus, "--log-dir", logs, "--",
                    args.fleet_run, job, "--data", data, "--batch", RANK_BATCH, "--steps", STEPS,
                    "--no-tf32", "--metrics-out", os.path.join(work, "rank{rank}.jsonl"),
                    "--summary-out", os.path.join(work, "rank{rank}.summary.json")])
    output = launched.stdout + launched.stderr

    failures = []
    calls, gradient_bytes, tensors = averages(args, job)
    if not calls > STEPS:
        failures.append(f"the 1 KB buckets make {calls} allreduce calls in {STEPS} steps; "
                        f"expected several per step")
    for rank in range(ranks):
        log_path = os.path.join(logs, f"worker.{rank}.log")
        log = open(log_path).read() if os.path.isfile(log_path) else ""
        want = f"worker.{rank}: collectives on cuda:0 over nccl"
        if want not in log:
            failures.append(f"{log_path} does not say '{want}'")
        with open(os.path.join(work, f"rank{rank}.summary.json")) as f:
            summary = json.load(f)
        allreduce = (summary.get("collectives") or {}).get("allreduce", {})
        expected = {"transport": (summary.get("transport"), "nccl"),
                    "steps": (summary.get("steps"), STEPS),
                    "allreduce calls": (allreduce.get("calls"), calls),
                    "allreduce bytes": (allreduce.get("bytes"), STEPS * gradient_bytes)}
        failures += [f"rank {rank} summary: {what} {got}; expected {want}"
                     for what, (got, want) in expected.items() if got != want]

    want = losses(os.path.join(work, "single.jsonl"))
    per_rank = [losses(os.path.join(work, f"rank{r}.jsonl")) for r in range(ranks)]
    if any(len(got) != len(want) for got in per_rank) or len(want) != STEPS:
        failures.append(f"steps: single {len(want)}, ranks {[len(g) for g in per_rank]}; "
                        f"expected {STEPS}")
    else:
        got = [sum(step) / ranks for step in zip(*per_rank)]
        worst = max(abs(g - w) / max(abs(w), 1e-3) for g, w in zip(got, want))
        print(f"mlp sgd ({args.strategy}) on {ranks} GPU rank(s) over NCCL, {calls} allreduce "
              f"calls for {tensors} gradients: "
              f"loss step 1 {want[0]:.6f}, step {STEPS} {want[-1]:.6f}; worst relative "
              f"difference {worst:.2e}")
        if not worst < 1e-3:
            failures.append(f"losses differ: host {want} vs GPU ranks' mean {got}")
    if f"[worker.0] fleet-run: allreduce: {calls} calls" not in output:
        failures.append("fleet-launch's output has no allreduce line of worker 0's calls")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run", "fleet-launch", "fleet-inspect"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--strategy", choices=["collective", "localsgd"], default="collective")
    parser.add_argument("--gpus", default=os.environ.get("GPUS", "0"),
                        help="the GPUs, one rank each (default: 0, or $GPUS)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_folder("fleet-gpu-collective-", args.keep) as work:
        finish(check(args, work))


if __name__ == "__main__":
    main()
