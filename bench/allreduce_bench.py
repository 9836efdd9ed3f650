"""Fleet's allreduce beside torch.distributed's Gloo allreduce on this host, in one table.

In one command, for the same sizes (doubling from --min-bytes to --max-bytes, f32, in place,
sum) and the same rank count, with every rank a process on 127.0.0.1:
  Fleet shm    fleet-bench-allreduce --transport shm --processes   (ShmCommunicator)
  Fleet Gloo   fleet-bench-allreduce --transport gloo --processes  (GlooCommunicator, TCP)
  torch-Gloo   --ranks processes of Debian's torch (--torch-python, /usr/bin/python3) running
               torch.distributed.all_reduce with the gloo backend, initialised over
               tcp://127.0.0.1 at a free port (this script, in its --torch-rank mode)
  TCP          the same bytes exchanged both ways over one raw loopback TCP connection
               (fleet-bench-allreduce's peer column, from the shm run)
Every side times each call right after a barrier, after one warm-up call, as the median of up
to --max-iters calls (as many as fit in about 0.3 s, at least 3), and checks its result against
the closed form (rank r adds r + 1). busbw = algbw * 2(n-1)/n. Each side runs --rounds times,
in turn, and the best round per size is kept: other load on a shared machine only ever slows a
run down. The last column is the better Fleet transport's busbw over torch-Gloo's.

With --reduce, Fleet's reduce onto rank 0 (fleet-bench-allreduce --collective reduce: the reduce
mode's fleet.reduce) runs beside each Fleet allreduce, and a second table gives both times per
transport and what the reduce saves: time, and over Gloo the bytes on the wire, (n-1)(n+1)/n
bucket-sizes in all (a ring reduce-scatter, then each rank's chunk to the root) against an
allreduce's 2(n-1).

Prints the machine, the load average before and after, the commands, and a markdown table:
  | size | Fleet shm time (us) | algbw | busbw | Fleet Gloo busbw | torch-Gloo busbw | TCP GB/s |
  | Fleet best / torch |
All bandwidths in GB/s. Never used as a test: speed is measured here, not asserted.

Usage: allreduce_bench.py --bench build/bench/fleet-bench-allreduce [--ranks 2]
                          [--min-bytes 1K] [--max-bytes 256M] [--max-iters 50] [--rounds 1]
                          [--torch-python /usr/bin/python3] [--json FILE] [--reduce]
"""

import argparse
import json
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+f32\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s*$")


def parse_bytes(text):
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
    return int(text[:-1] if scale > 1 else text) * scale


def sizes(args):
    out, n = [], parse_bytes(args.min_bytes)
    while n <= parse_bytes(args.max_bytes):
        out.append(n)
        n *= 2
    return out


def iters_for(seconds, max_iters):
    """fleet-bench-allreduce's rule: calls for about 0.3 s, at least 3, at most max_iters."""
    return max(3, min(max_iters, int(0.3 / max(seconds, 1e-7))))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fleet_run(args, transport, collective="allreduce"):
    """{bytes: {"time_us", "algbw", "busbw", "wrong", "tcp"}} from one fleet-bench-allreduce run."""
    cmd = [args.bench, "--ranks", str(args.ranks), "--transport", transport, "--processes",
           "--collective", collective, "--min-bytes", args.min_bytes, "--max-bytes",
           args.max_bytes, "--max-iters", str(args.max_iters)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise SystemExit(f"FAIL: {shlex.join(cmd)} exited {proc.returncode}:\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    rows = {}
    for line in proc.stdout.splitlines():
        m = ROW.match(line)
        if m:
            rows[int(m.group(1))] = {"time_us": float(m.group(3)), "algbw": float(m.group(4)),
                                     "busbw": float(m.group(5)), "wrong": int(m.group(6)),
                                     "tcp": float(m.group(7))}
    return rows, shlex.join(cmd)


def torch_run(args):
    """The same table from torch.distributed (gloo), --ranks processes of --torch-python."""
    port = free_port()
    cmds = [[args.torch_python, HERE, "--torch-rank", str(r), "--ranks", str(args.ranks),
             "--torch-port", str(port), "--min-bytes", args.min_bytes,
             "--max-bytes", args.max_bytes, "--max-iters", str(args.max_iters)]
            for r in range(args.ranks)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for c in cmds]
    try:
        outs = [p.communicate(timeout=args.timeout) for p in procs]
    finally:
        for p in procs:  # only ours, by their handles; a no-op for those that ended
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"FAIL: torch rank exited {p.returncode}:\n{out[-2000:]}\n{err[-2000:]}")
    rows = {}
    for line in outs[0][0].splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            rows[r["bytes"]] = r
    return rows, shlex.join(cmds[0])


def torch_rank(args):
    """One torch.distributed rank: the same protocol as fleet-bench-allreduce; rank 0 prints a
    JSON line per size."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.torch_port}",
                            rank=args.torch_rank, world_size=args.ranks,
                            timeout=timedelta(seconds=300))
    n = args.ranks
    for nbytes in sizes(args):
        t = torch.zeros(nbytes // 4, dtype=torch.float32)

        def call():
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            return time.perf_counter() - t0

        first = torch.tensor([call()], dtype=torch.float64)
        dist.broadcast(first, 0)  # rank 0's warm-up decides every rank's count
        times = [call() for _ in range(iters_for(first.item(), args.max_iters))]
        t.fill_(args.torch_rank + 1)
        call()
        wrong = torch.tensor([int((t != n * (n + 1) / 2).sum())], dtype=torch.int64)
        dist.all_reduce(wrong)
        if args.torch_rank == 0:
            seconds = statistics.median(times)
            algbw = nbytes / seconds / 1e9
            print(json.dumps({"bytes": nbytes, "time_us": seconds * 1e6, "algbw": algbw,
                              "busbw": algbw * 2 * (n - 1) / n, "wrong": int(wrong.item()),
                              "torch": torch.__version__}), flush=True)
    dist.destroy_process_group()


def best(runs):
    """Per size, the round with the highest busbw."""
    out = {}
    for rows in runs:
        for size, row in rows.items():
            if size not in out or row["busbw"] > out[size]["busbw"]:
                out[size] = row
    return out


def print_reduce_table(args, shm, gloo, shm_reduce, gloo_reduce):
    """The reduce beside the allreduce per transport; returns the reduces' wrong elements."""
    n = args.ranks
    wire_saved = 1 - (n - 1) * (n + 1) / n / (2 * (n - 1))
    print()
    print(f"Reduce onto rank 0 against allreduce (time in us; saved = 1 - reduce / allreduce; "
          f"Gloo's wire bytes: {(n - 1) * (n + 1) / n:g} against {2 * (n - 1)} bucket-sizes, "
          f"{100 * wire_saved:.0f}% saved)")
    print()
    print("| size | shm allreduce | shm reduce | shm saved | Gloo allreduce | Gloo reduce "
          "| Gloo saved |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    wrong = 0
    for size in sizes(args):
        a, r, ga, gr = shm.get(size), shm_reduce.get(size), gloo.get(size), gloo_reduce.get(size)
        if not (a and r and ga and gr):
            continue
        wrong += r["wrong"] + gr["wrong"]
        print(f"| {human(size)} | {a['time_us']:.1f} | {r['time_us']:.1f} | "
              f"{100 * (1 - r['time_us'] / a['time_us']):.0f}% | {ga['time_us']:.1f} | "
              f"{gr['time_us']:.1f} | {100 * (1 - gr['time_us'] / ga['time_us']):.0f}% |")
    return wrong


def human(n):
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}B"
    return f"{n} B"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", help="fleet-bench-allreduce")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--min-bytes", default="1K")
    parser.add_argument("--max-bytes", default="256M")
    parser.add_argument("--max-iters", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--torch-python", default="/usr/bin/python3")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per run")
    parser.add_argument("--json", help="also write every run's rows here")
    parser.add_argument("--reduce", action="store_true",
                        help="also Fleet's reduce onto rank 0, against its allreduce")
    parser.add_argument("--torch-rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--torch-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_rank is not None:
        torch_rank(args)
        return
    if not args.bench:
        parser.error("--bench is required")

    load_before = os.getloadavg()
    runs = {"shm": [], "gloo": [], "torch": []}
    if args.reduce:
        runs.update({"shm-reduce": [], "gloo-reduce": []})
    commands = {}
    for _ in range(args.rounds):
        for side in runs:
            transport, _, collective = side.partition("-")
            rows, cmd = (torch_run(args) if side == "torch"
                         else fleet_run(args, transport, collective or "allreduce"))
            runs[side].append(rows)
            commands[side] = cmd
    load_after = os.getloadavg()
    shm, gloo, torch = best(runs["shm"]), best(runs["gloo"]), best(runs["torch"])
    torch_version = next(iter(torch.values()))["torch"] if torch else "?"

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"# allreduce, {args.ranks} ranks as processes on {cpu}, {os.cpu_count()} logical "
          f"cores; f32 sum in place; best of {args.rounds} round(s) per size")
    print(f"# load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"torch {torch_version} ({args.torch_python})")
    for side, cmd in commands.items():
        print(f"# {side}: {cmd}")
    print()
    print("| size | Fleet shm time (us) | Fleet shm algbw | Fleet shm busbw | Fleet Gloo busbw "
          "| torch-Gloo busbw | TCP GB/s | Fleet best / torch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    wrong = 0
    for size in sizes(args):
        s, g, t = shm.get(size), gloo.get(size), torch.get(size)
        if not (s and g and t):
            continue
        wrong += s["wrong"] + g["wrong"] + t["wrong"]
        ratio = max(s["busbw"], g["busbw"]) / t["busbw"] if t["busbw"] > 0 else float("inf")
        print(f"| {human(size)} | {s['time_us']:.1f} | {s['algbw']:.3f} | {s['busbw']:.3f} | "
              f"{g['busbw']:.3f} | {t['busbw']:.3f} | {s['tcp']:.3f} | {ratio:.2f} |")
    if args.reduce:
        wrong += print_reduce_table(args, shm, gloo, best(runs["shm-reduce"]),
                                    best(runs["gloo-reduce"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "commands": commands}, f, indent=1)
    if wrong:
        raise SystemExit(f"FAIL: {wrong} elements came out wrong")


if __name__ == "__main__":
    main()
