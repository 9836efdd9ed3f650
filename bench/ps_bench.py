"""Parameter-server training throughput, message bytes and server memory: Fleet's parameter
server in every sync mode beside its own single process and a PyTorch torch.distributed.rpc
parameter server, measured side by side in one run (issue 9, "Speed").

Model and data: the CTR-DNN (models/ctr_dnn.py: 26 embedding tables [vocab 1000, dim 10], 13
dense features, Gemm 400 x3 + Relu, Gemm 2) on models/criteo_synth.py clicks, converted once
into .npy arrays exactly as Fleet's Criteo reader reads the TSV (bench/ps_bench_data.py), which
both sides then read: no text parsing in anyone's timed steps. Every row trains with SGD at
--lr (0.1: stable here; issue 9 saw Paddle diverge at 0.5), batch --batch (512) per worker,
--steps (300) steps per worker, softmax cross entropy, one thread per process; worker r of n
takes records r, r + n, ...

Rows (each run as processes of its own, the job's processes started together):
  Fleet 1 process       fleet-transpile --strategy single; fleet-run JOB
  Fleet ps W x S MODE   fleet-transpile --strategy ps --servers S --sync-mode MODE;
                        fleet-launch --workers W --servers S -- fleet-run JOB
                        (1 x 1 async; 2 x 2 async, async with --dense-pull-every 4, sync,
                        half_async, and geo with --geo-k-steps 100 where fleet-transpile builds
                        it, else the row says why not)
  torch rpc S x T       bench/torch_ps.py: a torch.distributed.rpc parameter server, S servers
                        and T trainers (1 x 2 and 2 x 2), async SGD; its docstring says exactly
                        what it does
  Fleet server memory   bench/ps_bench_memory.py: 1 x 1 async on 64-bit hashed ids touching
                        >= --memory-rows distinct rows, the server's resident growth per
                        million rows (VmRSS at start, VmHWM at its end), less a control run's

samples/s: the sum over a job's workers of each one's samples / seconds, where a worker's
seconds run from its first step to its last (fleet-run's --summary-out "samples_per_sec";
torch_ps.py counts the same span), so start-up is left out on both sides. CPU us/sample: the CPU
time of all the job's processes per sample trained (Fleet: wait4's rusage of fleet-launch,
which includes its children, start-up included; torch: each process's own count from its first
step or request on): what a parameter server costs beside the training itself, and a number
that other load on the machine inflates far less than samples/s. Each throughput row
runs --repeat times (default 3), the rows taking turns, and the fastest run is reported: other
load on the machine only slows a run down. bytes/step: per worker and step, Fleet's
parameter-server message bytes sent + received (the serialized requests and replies the client
counts: run summary "parameter_server"); for torch the tensors' bytes (no RPC framing).

Then the ratios issue 9 sets as targets, each with its target and whether it is met:
async 2 x 2 / torch rpc 1 x 2 (>= 2), async 2 x 2 / Fleet 1 process (>= 0.8), sync 2 x 2 /
Fleet 1 process (>= 0.6). Last, the ceiling of any 2-worker job on this machine: each worker
computes the forward and backward of one process (only the update moves to the servers), so on
2 usable cores no job passes about 2 x Fleet 1 process; the geo row, which barely communicates,
shows how close one gets, and a target whose samples/s lie above the ceiling is named as out of
reach.

PyTorch runs under --torch-python (default /usr/bin/python3 with Debian's python3-torch) with
bench/torch_peer.py's environment (1 thread, OMP_WAIT_POLICY=PASSIVE, its best kernels) and
TensorPipe bound to lo. --fleet-only leaves it out. --smoke runs every row briefly once (the
CTest that keeps this script working; its numbers mean nothing). ./fleet.sh bench-ps runs it.

Usage: ps_bench.py --bin-dir DIR [--steps 300] [--batch 512] [--lr 0.1] [--repeat 3]
                   [--memory-rows 1000000] [--fleet-only] [--torch-as-installed] [--smoke]
                   [--json FILE] [--keep]
"""

import argparse
import glob
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import kernel_report  # noqa: E402
import ps_bench_data  # noqa: E402
import ps_bench_memory  # noqa: E402
from bench_procs import ProcessGroup  # noqa: E402
from torch_peer import TorchPeer  # noqa: E402

VOCAB, EMBED_DIM = 1000, 10
WORKERS = SERVERS = 2
GEO_K_STEPS = 100  # issue 9's Paddle reference ran geo with k = 100
DENSE_PULL_EVERY = 4  # what training.learn.ctr_async_pull4 shows to learn as well
FLEET_ROWS = [("fleet single", "Fleet 1 process", 1, 0, None),
              ("fleet ps 1x1 async", "Fleet ps async", 1, 1, "async"),
              ("fleet ps 2x2 async", "Fleet ps async", 2, 2, "async"),
              ("fleet ps 2x2 async pull", f"Fleet ps async, pull every {DENSE_PULL_EVERY}", 2, 2,
               "async"),
              ("fleet ps 2x2 sync", "Fleet ps sync", 2, 2, "sync"),
              ("fleet ps 2x2 half_async", "Fleet ps half_async", 2, 2, "half_async"),
              ("fleet ps 2x2 geo", f"Fleet ps geo k={GEO_K_STEPS}", 2, 2, "geo")]
TORCH_ROWS = [("torch rpc 1x2 async", "torch rpc async", 2, 1),
              ("torch rpc 2x2 async", "torch rpc async", 2, 2)]
# (name, numerator row, denominator row, target)
RATIOS = [("async 2x2 / torch rpc 1x2", "fleet ps 2x2 async", "torch rpc 1x2 async", 2.0),
          (f"async 2x2 pull every {DENSE_PULL_EVERY} / torch rpc 1x2", "fleet ps 2x2 async pull",
           "torch rpc 1x2 async", 2.0),
          ("async 2x2 / Fleet 1 process", "fleet ps 2x2 async", "fleet single", 0.8),
          ("sync 2x2 / Fleet 1 process", "fleet ps 2x2 sync", "fleet single", 0.6)]


def run_tool(cmd, timeout):
    """(None, output) when cmd exits 0, else (error text, output)."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {shlex.join(cmd)}: {e}", ""
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-4:])
        return f"exit status {proc.returncode}: {shlex.join(cmd)}\n{tail}", proc.stdout
    return None, proc.stdout + proc.stderr


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        tools = {t: os.path.join(args.bin_dir, t)
                 for t in ("fleet-transpile", "fleet-run", "fleet-launch")}
        for path in tools.values():
            if not os.access(path, os.X_OK):
                sys.exit(f"ps_bench.py: error: {path} is not an executable file (build "
                         "fleet-transpile, fleet-run and fleet-launch)")
        self.transpile, self.run, self.launch = (tools["fleet-transpile"], tools["fleet-run"],
                                                 tools["fleet-launch"])
        self.model = os.path.join(work, "ctr_dnn.onnx")
        self.data = os.path.join(work, "criteo_npy")
        self.jobs = {}  # row -> job folder, or the reason it has none
        self.runs = 0

    def prepare(self):
        """The model, the data (enough records that no worker reads one twice) and the jobs."""
        a = self.args
        error, _ = run_tool([sys.executable, os.path.join(ROOT, "models", "ctr_dnn.py"),
                             "--out", self.model, "--vocab", str(VOCAB),
                             "--embed-dim", str(EMBED_DIM)], a.timeout)
        if error:
            sys.exit(f"ps_bench.py: error: the model: {error}")
        records = WORKERS * a.steps * a.batch
        tsv = os.path.join(self.work, "criteo")
        error, _ = run_tool([sys.executable, os.path.join(ROOT, "models", "criteo_synth.py"),
                             "--out", tsv, "--rows", str(records), "--seed", "1",
                             "--vocab", str(VOCAB)], a.timeout)
        if error:
            sys.exit(f"ps_bench.py: error: the data: {error}")
        ps_bench_data.criteo_to_npy(os.path.join(tsv, "train.tsv"), self.data, VOCAB)
        for key, _, _, servers, mode in FLEET_ROWS:
            flags = ["--strategy", "single"] if mode is None else [
                "--strategy", "ps", "--servers", str(servers), "--sync-mode", mode]
            if mode == "geo":
                flags += ["--geo-k-steps", str(GEO_K_STEPS)]
            if key.endswith(" pull"):
                flags += ["--dense-pull-every", str(DENSE_PULL_EVERY)]
                if a.smoke:  # its 3 steps would all be the pulls' warm-up
                    flags += ["--dense-pull-warmup", "0"]
            self.jobs[key] = self.transpile_job(key, flags)

    def transpile_job(self, key, flags):
        job = os.path.join(self.work, "job-" + key.replace(" ", "-"))
        error, _ = run_tool([self.transpile, self.model, *flags, "--loss", "softmax_ce",
                             "--label", "label", "--optimizer", "sgd", "--lr",
                             repr(self.args.lr), "-o", job], self.args.timeout)
        if error and "not built" in error:
            return {"not_built": not_built_reason(error.splitlines()[-1])}
        return {"error": f"fleet-transpile: {error}"} if error else {"job": job}

    def fleet_row(self, key, workers, servers):
        """One run: ({"samples_per_s", "bytes_per_step", "workers": [...]}, None) or
        (None, error)."""
        self.runs += 1
        out = os.path.join(self.work, f"run{self.runs}")
        os.makedirs(out)
        summary = os.path.join(out, "summary.{rank}.json")
        cmd = [self.run, self.jobs[key]["job"], "--data", self.data, "--batch",
               str(self.args.batch), "--steps", str(self.args.steps), "--summary-out", summary]
        if servers:
            cmd = [self.launch, "--workers", str(workers), "--servers", str(servers),
                   "--log-dir", os.path.join(out, "logs"), "--"] + cmd
        start = time.monotonic()
        with ProcessGroup(self.args.timeout) as group:
            proc = group.start(key, cmd)
            if not group.wait_all():
                return None, group.failure()
        wall = time.monotonic() - start
        # wait4's rusage of fleet-launch counts the children it reaped: the whole job.
        cpu = proc.rusage.ru_utime + proc.rusage.ru_stime
        result = {"workers": [], "wall_seconds": round(wall, 3), "cpu_seconds": cpu,
                  "cpu_us_per_sample": round(cpu / (workers * self.args.steps * self.args.batch)
                                             * 1e6, 2)}
        for rank in range(workers):
            try:
                with open(summary.format(rank=rank)) as f:
                    result["workers"].append(json.load(f))
            except (OSError, ValueError) as e:
                return None, f"{key}: worker {rank} wrote no run summary: {e}"
        result["samples_per_s"] = round(sum(w["samples_per_sec"] for w in result["workers"]), 1)
        traffic = [w["parameter_server"] for w in result["workers"] if w["parameter_server"]]
        result["bytes_per_step"] = (sum(t["bytes_per_step"] for t in traffic) / len(traffic)
                                    if traffic else None)
        rows = []
        for log in sorted(glob.glob(os.path.join(out, "logs", "server.*.log"))):
            with open(log) as f:
                held = ps_bench_memory.ROWS_HELD.search(f.read())
            rows.append(int(held.group(1)) if held else None)
        result["server_rows"] = rows
        return result, None

    def torch_row(self, torch_peer, trainers, servers):
        port = ps_bench_memory.free_port()
        common = [self.args.torch_python, os.path.join(HERE, "torch_ps.py"), self.model,
                  "--servers", str(servers), "--trainers", str(trainers), "--port", str(port),
                  "--threads", "1", "--lr", repr(self.args.lr), "--timeout",
                  str(self.args.timeout)]
        env = dict(torch_peer.env(1), TP_SOCKET_IFNAME="lo", GLOO_SOCKET_IFNAME="lo")
        start = time.monotonic()
        with ProcessGroup(self.args.timeout) as group:
            for s in range(servers):
                group.start(f"torch ps{s}", common + ["--role", "server", "--index", str(s)], env)
            for t in range(trainers):
                group.start(f"torch trainer{t}",
                            common + ["--role", "trainer", "--index", str(t), "--data",
                                      self.data, "--batch", str(self.args.batch), "--steps",
                                      str(self.args.steps)], env)
            if not group.wait_all():
                return None, group.failure()
            lines = []
            for p in group.procs:
                out, _ = p.output()
                found = [x for x in out.splitlines() if x.startswith("{")]
                if not found:
                    return None, f"{p.name}: no JSON result line in:\n{out[-1000:]}"
                lines.append(json.loads(found[-1]))
        wall = time.monotonic() - start
        workers = [x for x in lines if x["role"] == "trainer"]
        cpu = sum(x["cpu_seconds"] for x in lines)
        return {"samples_per_s": round(sum(x["samples_per_s"] for x in workers), 1),
                "bytes_per_step": sum(x["payload_bytes_per_step"] for x in workers) / trainers,
                "wall_seconds": round(wall, 3), "cpu_seconds": cpu,
                "cpu_us_per_sample": round(cpu / (trainers * self.args.steps * self.args.batch)
                                           * 1e6, 2),
                "workers": workers, "servers": [x for x in lines if x["role"] == "server"]}, None

    def memory(self):
        a = self.args
        job = self.transpile_job("memory", ["--strategy", "ps", "--servers", "1",
                                            "--sync-mode", "async", "--row-init", "normal:0.01"])
        if "job" not in job:
            return None, job.get("error") or job.get("not_built")
        steps = math.ceil(a.memory_rows / (ps_bench_data.NUM_SPARSE * a.batch))
        runs = {}
        for name, pool in (("hashed", None), ("control", 100)):
            folder = os.path.join(self.work, f"memory_{name}")
            expected = ps_bench_data.hashed_ids_npy(folder, steps * a.batch, seed=7, pool=pool)
            result, error = ps_bench_memory.measure_run(self.run, job["job"], folder, a.batch,
                                                        steps, a.timeout)
            if error:
                return None, f"memory run ({name}): {error}"
            result["expected_rows"] = expected
            result["steps"] = steps
            runs[name] = result
        result = ps_bench_memory.per_million(runs["hashed"], runs["control"])
        if result is None:
            return None, (f"the memory run holds {runs['hashed']['rows']} rows, no more than "
                          f"its control run's {runs['control']['rows']}")
        return result, None


def not_built_reason(message):
    """fleet-transpile's refusal without its reproducer, whose file is removed (it holds the
    bench's input, nothing to report)."""
    found = re.search(r" \(reproducer: (\S+)\)", message)
    if not found:
        return message
    try:
        os.remove(found.group(1))
    except OSError:
        pass
    return message[:found.start()] + message[found.end():]


def best(results):
    ok = [r for r in results if r]
    if not ok:
        return None
    top = dict(max(ok, key=lambda r: r["samples_per_s"]))
    top["runs_samples_per_s"] = [r["samples_per_s"] for r in ok]
    return top


def run_rows(args, bench, torch_peer):
    """Every throughput row, --repeat rounds, the rows taking turns. Returns ({row: best
    result or None}, {row: note}, [errors])."""
    notes, errors = {}, []
    runs = {key: [] for key, *_ in FLEET_ROWS + TORCH_ROWS}
    for key, *_ in FLEET_ROWS:
        job = bench.jobs[key]
        if "not_built" in job:
            notes[key] = "not built: " + job["not_built"]
        elif "error" in job:
            errors.append(f"{key}: {job['error']}")
    torch_runs = torch_peer is not None and torch_peer.installed is not None
    for round_ in range(args.repeat):
        runs_to_make = [(key, lambda w=workers, s=servers, k=key: bench.fleet_row(k, w, s))
                for key, _, workers, servers, _ in FLEET_ROWS if "job" in bench.jobs[key]]
        if torch_runs:
            runs_to_make += [(key, lambda t=trainers, s=servers: bench.torch_row(torch_peer, t, s))
                     for key, _, trainers, servers in TORCH_ROWS]
        for key, measure in runs_to_make:
            if round_ and not runs[key]:
                continue  # failed in an earlier round
            print(f"round {round_ + 1}: {key} ...", file=sys.stderr, flush=True)
            result, error = measure()
            runs[key].append(result)
            if error:
                errors.append(f"{key}: {error}")
                notes[key] = "failed: " + error.splitlines()[0]
                runs[key] = []
    return {key: best(r) for key, r in runs.items()}, notes, errors


def fmt_bytes(value, torch_side):
    if value is None:
        return "-"
    return f"{value / 2**20:.2f} MiB" + (" (tensors)" if torch_side else " (messages)")


def table_lines(results, notes, memory, torch_peer):
    """The table's rows, then the targets."""
    single = (results.get("fleet single") or {}).get("samples_per_s")
    lines = []
    for key, label, workers, servers, *_ in FLEET_ROWS + TORCH_ROWS:
        torch_side = key.startswith("torch")
        r = results.get(key)
        if torch_side:
            layout = f"{servers} server{'s' * (servers > 1)} x {workers} trainers"
        else:
            layout = (f"{workers} worker{'s' * (workers > 1)} x {servers} server"
                      f"{'s' * (servers > 1)}" if servers else "1 process")
        if torch_side and torch_peer is None:
            note = "not run (--fleet-only)"
        elif torch_side and torch_peer.installed is None:
            note = "torch does not run here: " + (torch_peer.errors or ["?"])[0].splitlines()[0]
        else:
            note = notes.get(key, "")
        extra = []
        if r and len(r["runs_samples_per_s"]) > 1:
            extra.append("runs: " + ", ".join(f"{x:,.0f}" for x in r["runs_samples_per_s"]))
        if r and r.get("server_rows"):
            extra.append("sparse rows held: " + " + ".join(str(n) for n in r["server_rows"]))
        note = "; ".join([n for n in [note] + extra if n])
        sps = r and r["samples_per_s"]
        lines.append("| " + " | ".join([
            label, layout, f"{sps:,.0f}" if sps else "-",
            f"{sps / single:.2f}" if sps and single else "-",
            f"{r['cpu_us_per_sample']:.1f}" if r else "-",
            fmt_bytes(r and r.get("bytes_per_step"), torch_side), "-", note]) + " |")
    if memory:
        run, control = memory["run"], memory["control"]
        lines.append("| " + " | ".join([
            "Fleet ps async, 64-bit ids", "1 worker x 1 server",
            f"{run['samples_per_s']:,.0f}" if run["samples_per_s"] else "-", "-", "-", "-",
            f"{memory['mb_per_million_rows']:.1f} MiB",
            f"{run['rows']:,} rows held, {run['row_bytes'] / 2**20:.1f} MiB of values "
            f"({memory['value_mb_per_million_rows']:.1f} MiB per million); server VmRSS "
            f"{run['baseline_mb']:.0f} MiB when serving, VmHWM {run['peak_mb']:.0f} MiB at its "
            f"end; control run ({control['rows']:,} rows) grew {control['growth_mb']:.1f} MiB"])
            + " |")
    lines += ["", "targets (issue 9):"]
    for name, top, bottom, target in RATIOS:
        a = (results.get(top) or {}).get("samples_per_s")
        b = (results.get(bottom) or {}).get("samples_per_s")
        verdict = (f"{a / b:.2f} (target >= {target:g}: {'met' if a / b >= target else 'MISSED'})"
                   if a and b else f"- (target >= {target:g}: not measured)")
        lines.append(f"  {name}: {verdict}")
    lines += ceiling_lines(results)
    return lines


def ceiling_lines(results):
    """What 2 workers can reach on this machine's usable cores: each computes the forward and
    backward that one process computes (only the optimizer's update moves to the servers), so
    the job cannot beat min(workers, cores) x Fleet 1 process; the geo row, which barely
    communicates, shows how close a job gets. Then whether a target's absolute speed lies
    beyond that ceiling."""
    single = (results.get("fleet single") or {}).get("samples_per_s")
    if not single:
        return []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ceiling = min(WORKERS, cores) * single
    lines = ["", f"ceiling for {WORKERS} workers on {cores} usable cores: about "
                 f"{min(WORKERS, cores)} x Fleet 1 process = {ceiling:,.0f} samples/s"]
    geo = (results.get("fleet ps 2x2 geo") or {}).get("samples_per_s")
    if geo:
        lines.append(f"  geo 2x2 (almost no traffic) reached {geo:,.0f} = {geo / ceiling:.2f} of it")
    for name, top, bottom, target in RATIOS:
        base = (results.get(bottom) or {}).get("samples_per_s")
        if bottom.startswith("torch") and base and target * base > ceiling:
            lines.append(f"  {name} >= {target:g} needs {target * base:,.0f} samples/s: "
                         f"{target * base / ceiling:.2f} x the ceiling, out of reach here")
    return lines


def print_header(args, cpu, loads, fleet_run, torch_peer):
    for line in kernel_report.machine_lines(cpu):
        print(line)
    print(f"load average (1 min) before / after: {loads[0]:.2f} / {loads[1]:.2f}")
    print(f"command: {shlex.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"training: CTR-DNN (26 tables [{VOCAB}, {EMBED_DIM}], MLP 400x3), criteo_synth "
          f"data as .npy, SGD lr {args.lr:g}, batch {args.batch} per worker, {args.steps} steps "
          f"per worker, 1 thread per process, all processes on this machine over 127.0.0.1; "
          f"the fastest of {args.repeat} run(s) per row")
    print("samples/s: summed over the job's workers, each from its first step to its last; "
          "CPU us/sample: the CPU time of all the job's processes per sample trained (Fleet: "
          "whole processes, start-up included; torch: each process from its first step or "
          "request on), which other load on the machine inflates far less than the wall time; "
          "bytes/step per worker: Fleet's parameter-server message bytes sent + received "
          "(serialized requests and replies), torch's tensor bytes")
    print(kernel_report.env_line("fleet", os.environ))
    print(f"kernels fleet: {kernel_report.fleet_kernel(fleet_run)}")
    if torch_peer and torch_peer.installed is not None:
        print(kernel_report.env_line("torch", torch_peer.env(1), torch_peer.set_here())
              + " TP_SOCKET_IFNAME=lo* (* set by the benchmark)")
        for line in torch_peer.header_lines():
            print(line)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True,
                        help="folder with fleet-transpile, fleet-run and fleet-launch")
    parser.add_argument("--steps", type=int, help="steps per worker (default 300; smoke 3)")
    parser.add_argument("--batch", type=int, default=512, help="records per worker and step")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    parser.add_argument("--repeat", type=int,
                        help="runs per throughput row; the fastest is reported (default 3; "
                             "smoke 1)")
    parser.add_argument("--memory-rows", type=int,
                        help="distinct sparse rows the memory run touches at least (default "
                             "1000000; smoke 20000)")
    parser.add_argument("--fleet-only", action="store_true", help="leave PyTorch out")
    parser.add_argument("--torch-python", default="/usr/bin/python3",
                        help="python with torch, numpy and onnx (default: /usr/bin/python3)")
    parser.add_argument("--torch-as-installed", action="store_true",
                        help="run PyTorch with the caller's kernel settings")
    parser.add_argument("--smoke", action="store_true",
                        help="every row once, briefly (the defaults above marked smoke)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per run")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data and job folders")
    parser.add_argument("--work", help="write the data and jobs into this new folder and keep "
                        "it (default: a temporary folder)")
    args = parser.parse_args()
    defaults = (3, 1, 20000) if args.smoke else (300, 3, 1_000_000)
    for flag, default in zip(("steps", "repeat", "memory_rows"), defaults):
        if getattr(args, flag) is None:
            setattr(args, flag, default)
    for flag in ("steps", "batch", "repeat", "memory_rows"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} is {getattr(args, flag)}; expected >= 1")
    return args


def main():
    args = parse_args()
    cpu = kernel_report.cpu_info()
    torch_peer = None
    if not args.fleet_only:
        print("checking PyTorch ...", file=sys.stderr, flush=True)
        # A smoke run skips the search for torch's best kernels (its numbers mean nothing).
        torch_peer = TorchPeer(args.torch_python, cpu["flags"],
                               args.torch_as_installed or args.smoke, args.timeout)
    if args.work:
        os.makedirs(args.work)
    work = args.work or tempfile.mkdtemp(prefix="fleet-ps-bench-")
    load_before = os.getloadavg()[0]
    try:
        bench = Bench(args, work)
        print("preparing the model, data and jobs ...", file=sys.stderr, flush=True)
        bench.prepare()
        results, notes, errors = run_rows(args, bench, torch_peer)
        print("measuring the server's memory per million rows ...", file=sys.stderr, flush=True)
        memory, error = bench.memory()
        if error:
            errors.append(f"server memory: {error}")
    finally:
        if args.keep or args.work:
            print(f"data and jobs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    errors = (torch_peer.errors if torch_peer else []) + errors

    print_header(args, cpu, (load_before, os.getloadavg()[0]), bench.run, torch_peer)
    print()
    print("| row | processes | samples/s | x Fleet 1 process | CPU us/sample | "
          "bytes/step per worker | server memory per 1M rows | note |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for line in table_lines(results, notes, memory, torch_peer):
        print(line)
    for error in errors:
        print(f"\nerror: {error}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "rows": results, "notes": notes,
                       "memory": memory, "errors": errors}, f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
