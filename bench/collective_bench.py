"""Data-parallel training throughput: Fleet on 1 process and on 2 ranks (allreduce, LocalSGD)
beside PyTorch on 1 process and DistributedDataParallel on 2 ranks, with Fleet's measured
overlap of communication and computation.

For each model (DIR/<name>.onnx from models/generate.py: the ResNet-18-shaped CNN and the
transformer) at batch B per rank (bench/train_bench.py's: 32 for both), one thread per process,
each row runs in processes of its own:
  fleet 1 process       fleet-run JOB --batch B        (--strategy single; also at batch 2B, the
                        work of two ranks in one process, for reference)
  fleet allreduce       fleet-launch --nproc 2 -- fleet-run JOB --batch B  (--strategy
                        collective: gradients averaged in 25 MB buckets while backward runs)
  fleet reduce          as allreduce, --collective-mode reduce (Paddle's Reduce: each bucket's
                        gradients averaged onto its owner rank, which alone updates the bucket
                        and broadcasts its parameters)
  fleet LocalSGD k=K    as allreduce, --strategy localsgd --k-steps K (parameters averaged every
                        K steps; K = 4)
  torch 1 process       bench/torch_train.py MODEL --batch B
  torch DDP             bench/torch_ddp.py, one process per rank: DistributedDataParallel with
                        its defaults (25 MB buckets) over torch.distributed's Gloo backend,
                        meeting at 127.0.0.1 on a free port
Fleet and PyTorch train the same model (bench/torch_models.py's equal of the ONNX file, with its
weights) on the same synthetic data (train_bench.write_data), with SGD at the same learning
rate; rank r of n trains on records r, r + n, ... on both sides.

Timing excludes start-up and warm-up on both sides: every process times its N steps after W
(Fleet: the difference of fleet-run's --metrics-out elapsed_sec at steps W+N and W; PyTorch:
in-process). Two ranks count at their slowest rank; samples/s count every rank's samples. Each
row runs --repeat times (default 3) and the fastest is reported: other load only slows a run
down.

Columns: samples/s (all ranks together); speed-up over the same system's 1-process row at batch
B; Fleet / PyTorch: a Fleet row over PyTorch's row of the same ranks and batch (2 ranks: DDP);
overlap: the share of Fleet's communication time hidden behind computation, 1 - waited / busy
clamped to [0, 1], where busy is the time each rank's communicator spent running the training
steps' collectives and waited the time its training executor was blocked on them, over the
run's W+N steps (from fleet-run --summary-out), averaged over the ranks; collective calls per
step and rank (Fleet: from the same summaries; DDP: its buckets, each one allreduce per step).

Prints the machine, the command, each side's environment and kernels (bench/kernel_report.py),
then the table. PyTorch runs under --torch-python (default /usr/bin/python3 with Debian's
python3-torch) with bench/torch_peer.py's environment (OMP_WAIT_POLICY=PASSIVE, threads, its
best kernels); --fleet-only leaves it out. --smoke runs a few steps once (for the CTest that
keeps this script working; the numbers mean nothing then). ./fleet.sh bench-collective runs it.

Usage: collective_bench.py --models DIR --bin-dir DIR [--only resnet18,transformer]
                           [--steps N] [--warmup W] [--repeat R] [--batch B] [--k-steps K]
                           [--fleet-only] [--torch-as-installed] [--smoke] [--json FILE]
"""

import argparse
import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kernel_report  # noqa: E402
import train_bench  # noqa: E402
from forward_bench import find_models, fmt, print_report  # noqa: E402
from torch_peer import TorchPeer  # noqa: E402

MODELS = ["resnet18", "transformer"]
# model: (timed steps, warm-up steps): multiples of LocalSGD's k = 4, so that a run holds whole
# periods.
STEPS = {"resnet18": (12, 4), "transformer": (40, 4)}
RANKS = 2


def clamp01(x):
    return min(1.0, max(0.0, x))


def read_summary(path):
    """fleet-run's --summary-out file, or None."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def collective_totals(summary):
    """(collective calls, their busy seconds, seconds waited for) of the training steps in one
    summary, all kinds together; an allgather's kernel waits for it itself, so its busy time
    counts as waited for."""
    collectives = summary.get("collectives") or {}
    kinds = collectives.values()
    blocking = collectives.get("allgather", {}).get("busy_sec", 0)
    return (sum(k["calls"] for k in kinds), sum(k["busy_sec"] for k in kinds),
            summary["executor"]["waited_sec"] + blocking)


class FleetRows:
    """Fleet's side: jobs per strategy, and measured rows (train_bench.Fleet runs the tools)."""

    def __init__(self, args):
        self.fleet = train_bench.Fleet(args.bin_dir, args.timeout, args.lr)
        self.launch = os.path.join(args.bin_dir, "fleet-launch")
        if not os.access(self.launch, os.X_OK):
            sys.exit(f"collective_bench.py: error: {self.launch} is not an executable file "
                     "(build fleet-launch)")

    def measure(self, job, data, batch, ranks, steps, warmup, batches, work):
        """One row from one run of warmup + steps steps: ({"samples_per_s", "overlap",
        "calls_per_step", "ranks": [...]}, None) or (None, error)."""
        metrics = os.path.join(work, "rank{rank}.jsonl")
        summary = os.path.join(work, "rank{rank}.json")
        launch = [self.launch, "--nproc", str(ranks), "--"] if ranks > 1 else []
        _, error = self.fleet.timed_run(
            job, data, batch, 1, warmup + steps, batches, launch=launch,
            extra=["--metrics-out", metrics, "--summary-out", summary])
        if error:
            return None, error
        result = {"samples_per_s": None, "overlap": None, "calls_per_step": None, "ranks": [],
                  "transports": []}
        slowest, overlaps = 0.0, []
        for r in range(ranks):
            elapsed = step_elapsed(metrics.format(rank=r))
            totals = read_summary(summary.format(rank=r))
            if not elapsed or totals is None or warmup + steps not in elapsed:
                return None, (f"fleet-run rank {r} wrote no metrics line for step "
                              f"{warmup + steps} or no summary ({metrics}, {summary})")
            seconds = elapsed[warmup + steps] - elapsed[warmup]
            slowest = max(slowest, seconds)
            calls, busy, waited = collective_totals(totals)
            if totals.get("transport") and totals["transport"] not in result["transports"]:
                result["transports"].append(totals["transport"])
            overlap = clamp01(1 - waited / busy) if busy > 0 else None
            result["ranks"].append({"seconds": seconds, "calls": calls,
                                    "busy_sec": busy, "waited_sec": waited, "overlap": overlap})
            if overlap is not None:
                overlaps.append(overlap)
            if r == 0 and ranks > 1:
                result["calls_per_step"] = calls / (warmup + steps)
        if slowest <= 0:
            return None, f"fleet-run: steps {warmup + 1} to {warmup + steps} took no time"
        result["seconds"] = round(slowest, 4)
        result["samples_per_s"] = round(ranks * steps * batch / slowest, 1)
        if overlaps:
            result["overlap"] = sum(overlaps) / len(overlaps)
        return result, None


def step_elapsed(path):
    """{step: elapsed_sec} from a fleet-run --metrics-out file, or {}."""
    try:
        with open(path) as f:
            return {line["step"]: line["elapsed_sec"] for line in map(json.loads, f)}
    except (OSError, ValueError, KeyError):
        return {}


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago (rank 0's store binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """In a child before exec: killed when the benchmark dies (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def run_ranks(cmds, env, timeout):
    """Runs one process per command, all at once; returns [(exit code, stdout, stderr)]. When one
    fails the others are killed at once; all are killed at `timeout`. Waits block (os.wait4 on
    the processes started here); nothing polls."""
    files = [(tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")) for _ in cmds]
    procs = []
    codes = [None] * len(cmds)

    def kill_running():
        for i, p in enumerate(procs):
            if codes[i] is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    try:
        for cmd, (out, err) in zip(cmds, files):
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=err, env=env,
                                          preexec_fn=die_with_parent))
    except OSError:
        kill_running()
        for p in procs:
            p.wait()
        raise
    by_pid = {p.pid: i for i, p in enumerate(procs)}
    killer = threading.Timer(timeout, kill_running)
    killer.start()
    try:
        while None in codes:
            pid, status, _ = os.wait4(-1, 0)
            if pid not in by_pid:
                continue
            i = by_pid[pid]
            codes[i] = os.waitstatus_to_exitcode(status)
            procs[i].returncode = codes[i]
            if codes[i] != 0:
                kill_running()
    finally:
        killer.cancel()
    results = []
    for code, (out, err) in zip(codes, files):
        out.seek(0)
        err.seek(0)
        results.append((code, out.read(), err.read()))
        out.close()
        err.close()
    return results


def measure_ddp(args, torch_peer, model, data, batch, steps, warmup):
    """PyTorch DDP on RANKS processes: ({"samples_per_s", "calls_per_step", ...}, None) or
    (None, error)."""
    port = free_port()
    common = [args.torch_python, os.path.join(HERE, "torch_ddp.py"), model, "--data", data,
              "--batch", str(batch), "--threads", "1", "--steps", str(steps), "--warmup",
              str(warmup), "--lr", repr(args.lr), "--world-size", str(RANKS), "--port",
              str(port), "--timeout", str(args.timeout)]
    cmds = [common + ["--rank", str(r)] for r in range(RANKS)]
    try:
        results = run_ranks(cmds, torch_peer.env(1), args.timeout)
    except OSError as e:
        return None, f"torch DDP: cannot run {args.torch_python}: {e}"
    lines = []
    for rank, (code, out, err) in enumerate(results):
        if code != 0:
            return None, train_bench.fail_text(f"torch DDP rank {rank}", cmds[rank], code, out,
                                               err)
        try:
            lines.append(json.loads([x for x in out.splitlines() if x.startswith("{")][-1]))
        except (IndexError, ValueError):
            return None, f"torch DDP rank {rank}: no JSON result line in:\n{out[-2000:]}"
    slowest = max(line["seconds"] for line in lines)
    buckets = lines[0].get("bucket_bytes")
    return {"seconds": slowest, "samples_per_s": round(RANKS * steps * batch / slowest, 1),
            "calls_per_step": len(buckets) if buckets else None, "bucket_bytes": buckets,
            "ranks": lines}, None


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="directory of <name>.onnx models")
    parser.add_argument("--bin-dir", required=True,
                        help="folder with fleet-transpile, fleet-run and fleet-launch")
    parser.add_argument("--only", default="", help="comma-separated model names "
                        f"(default: {','.join(MODELS)})")
    parser.add_argument("--steps", type=int, help="timed steps (default: per model)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default: per model)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per row; the fastest is reported")
    parser.add_argument("--batch", type=int, help="batch per rank (default: per model)")
    parser.add_argument("--k-steps", type=int, default=4, help="LocalSGD's period")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--fleet-only", action="store_true", help="leave PyTorch out")
    parser.add_argument("--torch-python", default="/usr/bin/python3",
                        help="python with torch, numpy and onnx (default: /usr/bin/python3)")
    parser.add_argument("--torch-as-installed", action="store_true",
                        help="run PyTorch with the caller's kernel settings (train_bench.py's "
                             "flag)")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check that every row runs: batch 4, 2 steps after 1, "
                             "once, unless given")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run")
    parser.add_argument("--json", help="also write all results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data and job folders")
    args = parser.parse_args()
    if args.smoke:
        args.batch = args.batch or 4
        args.steps = args.steps or 2
        args.warmup = args.warmup or 1
        args.repeat = 1
    for flag, least in (("repeat", 1), ("steps", 1), ("warmup", 1), ("batch", 1),
                        ("k_steps", 1)):
        value = getattr(args, flag)
        if value is not None and value < least:
            parser.error(f"--{flag.replace('_', '-')} is {value}; expected >= {least}")
    return args


def run_model(args, name, fleet, torch_peer, work):
    """The rows of one model: [(system, ranks, batch, result or None)] and the errors."""
    batch, loss, _, _, batches_of_data = train_bench.CONFIG[name]
    batch = args.batch or batch
    steps, warmup = STEPS[name]
    steps, warmup = args.steps or steps, args.warmup or warmup
    model = os.path.join(args.models, f"{name}.onnx")
    data = os.path.join(work, "data")
    # Every rank's shard, and the 2B process, hold `batches_of_data` batches.
    train_bench.write_data(model, loss, RANKS * batch * batches_of_data, data)
    rows, errors = [], []

    def add(system, ranks, rank_batch, measure):
        label = f"{name} {system} ({ranks} x batch {rank_batch})"
        print(f"running {label} ...", file=sys.stderr, flush=True)
        result, error = train_bench.best_of(args.repeat, measure)
        if error:
            errors.append(f"{label}: {error}")
        rows.append((system, ranks, rank_batch, result))

    strategies = [("1 process", ["--strategy", "single"], 1),
                  ("allreduce", ["--strategy", "collective"], RANKS),
                  ("reduce", ["--strategy", "collective", "--collective-mode", "reduce"], RANKS),
                  ("LocalSGD k=%d" % args.k_steps,
                   ["--strategy", "localsgd", "--k-steps", str(args.k_steps)], RANKS)]
    for index, (system, flags, ranks) in enumerate(strategies):
        job = os.path.join(work, f"job{index}")
        error = fleet.fleet.prepare(model, loss, job, strategy=flags)
        if error:
            errors.append(f"{name} {system}: {error}")
            rows.append(("fleet " + system, ranks, batch, None))
            continue
        runs = os.path.join(work, f"runs{index}")
        os.makedirs(runs)
        for rank_batch in ([batch, 2 * batch] if ranks == 1 else [batch]):
            add("fleet " + system, ranks, rank_batch, lambda j=job, b=rank_batch, r=ranks:
                fleet.measure(j, data, b, r, steps, warmup,
                              RANKS * batch * batches_of_data // (r * b), runs))
    if torch_peer is not None:
        add("torch 1 process", 1, batch, lambda: train_bench.measure_torch(
            args, torch_peer, model, data, batch, 1, steps, warmup))
        add("torch DDP", RANKS, batch,
            lambda: measure_ddp(args, torch_peer, model, data, batch, steps, warmup))
    return rows, errors, {"model": name, "batch": batch, "loss": loss, "steps": steps,
                          "warmup": warmup}


def table_rows(name, rows):
    """Markdown rows and JSON records of one model's results."""
    def sps(system, ranks, batch):
        for s, r, b, result in rows:
            if (s, r, b) == (system, ranks, batch) and result:
                return result["samples_per_s"]
        return None

    lines, records = [], []
    batch = rows[0][2]
    for system, ranks, rank_batch, result in rows:
        side = system.split()[0]
        value = result and result["samples_per_s"]
        base = sps(f"{side} 1 process", 1, batch)
        peer = None
        if side == "fleet" and value:
            peer = sps("torch DDP" if ranks > 1 else "torch 1 process", ranks, rank_batch)
        overlap = result and result.get("overlap")
        calls = result and result.get("calls_per_step")
        cells = [name, system, str(ranks), str(rank_batch),
                 fmt(value, 1),
                 fmt(value / base if value and base else None, 2),
                 fmt(value / peer if value and peer else None, 2),
                 f"{overlap:.0%}" if overlap is not None else "-",
                 fmt(calls, 2) if calls is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
        records.append({"model": name, "system": system, "ranks": ranks, "batch": rank_batch,
                        "result": result})
    return lines, records


def main():
    args = parse_args()
    only = [n for n in args.only.split(",") if n] or MODELS
    unknown = [n for n in only if n not in STEPS]
    if unknown:
        sys.exit(f"collective_bench.py: error: no configuration for {', '.join(unknown)}; "
                 f"expected some of {', '.join(MODELS)}")
    names = find_models(args.models, only)
    fleet = FleetRows(args)
    cpu = kernel_report.cpu_info()
    torch_peer = None
    if not args.fleet_only:
        print("checking PyTorch's kernels ...", file=sys.stderr, flush=True)
        torch_peer = TorchPeer(args.torch_python, cpu["flags"], args.torch_as_installed,
                               args.timeout)
        if torch_peer.installed is None:
            sys.exit(f"collective_bench.py: error: PyTorch does not run under --torch-python "
                     f"{args.torch_python} (hint: --fleet-only):\n{torch_peer.errors[0]}")

    work_root = tempfile.mkdtemp(prefix="fleet-collective-bench-")
    lines, errors, records = [], list(torch_peer.errors if torch_peer else []), []
    try:
        for name in names:
            work = os.path.join(work_root, name)
            os.makedirs(work)
            rows, model_errors, config = run_model(args, name, fleet, torch_peer, work)
            errors += model_errors
            model_lines, model_records = table_rows(name, rows)
            lines += model_lines
            records += [{**config, **r} for r in model_records]
    finally:
        if args.keep:
            print(f"data and jobs kept in {work_root}", file=sys.stderr)
        else:
            shutil.rmtree(work_root, ignore_errors=True)

    for line in kernel_report.machine_lines(cpu):
        print(line)
    print(f"command: {shlex.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"training: float32, SGD lr {args.lr:g}, synthetic data, batch per rank as shown, 1 "
          f"thread per process, {RANKS} ranks on this machine over 127.0.0.1; warm-up steps "
          f"excluded (steps per model in the JSON); the fastest of {args.repeat} run(s) per row")
    transports = sorted({t for rec in records if rec["result"]
                         for t in rec["result"].get("transports", [])})
    print("Fleet: allreduce = fleet-transpile --strategy collective (fused in-place allreduces "
          "in 25 MB buckets placed where backward finishes them, in flight while backward goes "
          "on); reduce = --collective-mode reduce (each bucket averaged onto its owner, which "
          "updates it and broadcasts its parameters); "
          f"LocalSGD = --strategy localsgd --k-steps {args.k_steps} (parameters averaged every "
          "k steps); fleet-launch --nproc 2 -- fleet-run; collectives over "
          f"{' and '.join(transports) or 'an unreported transport'} (the ranks' run summaries: "
          "fleet-run takes shared memory for ranks on one host, Gloo TCP across hosts)")
    if torch_peer:
        print("PyTorch DDP: torch.distributed (Gloo backend, TCP rendezvous at 127.0.0.1), "
              "DistributedDataParallel with its defaults (25 MB buckets, the first 1 MB; buffers "
              "broadcast from rank 0 every forward); torch.set_num_threads(1), "
              "OMP_WAIT_POLICY=PASSIVE")
    print("overlap: 1 - waited / busy over each run's steps, averaged over the ranks (busy: "
          "the communicator's time running the steps' collectives; waited: the training "
          "executor's time blocked on them); calls/step: collective calls per step and rank")
    print(kernel_report.env_line("fleet", os.environ))
    print(f"kernels fleet: {kernel_report.fleet_kernel(fleet.fleet.run)}")
    if torch_peer:
        print(kernel_report.env_line("torch", torch_peer.env(1), torch_peer.set_here())
              + " (* set by the benchmark)")
        for line in torch_peer.header_lines():
            print(line)
    records.append({"kind": "machine", "cpu": {**cpu, "flags": sorted(cpu["flags"])},
                    "torch_env": torch_peer.overrides if torch_peer else None})
    return print_report("| model | system | ranks | batch/rank | samples/s (all ranks) | "
                        "speed-up vs 1 process | Fleet / PyTorch | overlap | calls/step |",
                        lines, errors, records, args.json)


if __name__ == "__main__":
    sys.exit(main())
