"""A parameter-server job across two hosts equals one process with the combined batch.

The hosts are two network namespaces joined by a veth pair (collective_test.TwoHosts): host A
runs the 2 servers, host B the 2 workers. The whole job is given with explicit endpoints, the
same on both hosts, and each host's fleet-launch starts its own entries:

  A$ fleet-launch --servers-endpoints A:p1,A:p2 --workers-endpoints B:p3,B:p4 --host A -- ...
  B$ fleet-launch --servers-endpoints A:p1,A:p2 --workers-endpoints B:p3,B:p4 --host B -- ...

Checked, for the embedding model of ps_test.py in sync mode:
  - every step, the mean of the two workers' losses equals the single run's loss at twice the
    batch, and worker 0's exported model equals the single run's, initializer by initializer;
  - each server's log says it served on its address on host A, and that every worker finished;
    each worker's log gives its endpoint on host B;
  - both fleet-launch runs exited 0 (the servers ended by themselves).
It needs root, iproute2 and util-linux's unshare/nsenter; without them the test says why and
exits 77 (CTest: skipped, never passed).

Usage: ps_two_hosts_test.py --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN
       [--case embed_sgd|embed_adam] [--keep]
"""

import argparse
import os
import subprocess

import numpy as np

from collective_test import TwoHosts, initializers, run, write_embedding_case
from ps_test import CASES, STEPS, WORKER_BATCH, losses
from test_outcome import finish, work_folder

# The namespaces are new and empty, so these ports are free in them.
SERVER_PORTS = (36101, 36102)
WORKER_PORTS = (36201, 36202)


def launch_both(hosts, args, job, data, work):
    """Both hosts' fleet-launch at once; fails naming the host that failed."""
    servers = ",".join(f"{hosts.addr[0]}:{p}" for p in SERVER_PORTS)
    workers = ",".join(f"{hosts.addr[1]}:{p}" for p in WORKER_PORTS)
    procs = []
    try:
        for host in (0, 1):
            cmd = hosts.enter(hosts.holders[host].pid) + [
                args.fleet_launch, "--servers-endpoints", servers, "--workers-endpoints",
                workers, "--host", hosts.addr[host], "--log-dir", os.path.join(work, "logs"),
                "--", args.fleet_run, job, "--data", data, "--batch", str(WORKER_BATCH),
                "--steps", str(STEPS), "--metrics-out", os.path.join(work, "worker{rank}.jsonl"),
                "--export", os.path.join(work, "ps.onnx")]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for host, p in enumerate(procs):
        if p.returncode != 0:
            raise SystemExit(f"FAIL: host {'AB'[host]} ({hosts.addr[host]}): fleet-launch "
                             f"exited {p.returncode}:\n{outputs[host][-4000:]}")


def check(hosts, args, work):
    model, data = write_embedding_case(work)
    common = ["--loss", "softmax_ce"] + CASES[args.case]
    single_job = os.path.join(work, "single")
    run([args.fleet_transpile, model, "-o", single_job, "--strategy", "single"] + common)
    run([args.fleet_run, single_job, "--data", data, "--batch", str(2 * WORKER_BATCH), "--steps",
         str(STEPS), "--metrics-out", os.path.join(work, "single.jsonl"), "--export",
         os.path.join(work, "single.onnx")])
    job = os.path.join(work, "ps")
    run([args.fleet_transpile, model, "-o", job, "--strategy", "ps", "--sync-mode", "sync",
         "--servers", "2", "--workers", "2", "--min-block-size", "16"] + common)
    launch_both(hosts, args, job, data, work)

    failures = []
    logs = os.path.join(work, "logs")
    for name, wants in (
            [(f"server.{s}", [f"server.{s} serving on {hosts.addr[0]}:{SERVER_PORTS[s]}",
                              "every worker is done"]) for s in (0, 1)] +
            [(f"worker.{w}", [f"endpoint {hosts.addr[1]}:{WORKER_PORTS[w]}"]) for w in (0, 1)]):
        path = os.path.join(logs, f"{name}.log")
        text = open(path).read() if os.path.isfile(path) else ""
        failures += [f"{path} does not say '{want}'" for want in wants if want not in text]

    want = losses(os.path.join(work, "single.jsonl"))
    workers = [losses(os.path.join(work, f"worker{w}.jsonl")) for w in (0, 1)]
    got = (workers[0] + workers[1]) / 2
    worst = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3))
    print(f"{args.case} across two hosts: loss step 1 {want[0]:.6f}, step {STEPS} "
          f"{want[-1]:.6f}; worst relative difference of the workers' mean {worst:.2e}")
    if not worst < 1e-4:
        failures.append(f"losses differ: single {want.tolist()} vs workers' mean {got.tolist()}")
    if np.allclose(workers[0], workers[1]):
        failures.append("both workers report the same losses: they did not read different shards")
    single = initializers(os.path.join(work, "single.onnx"))
    trained = initializers(os.path.join(work, "ps.onnx"))
    if sorted(single) != sorted(trained):
        failures.append(f"initializers {sorted(trained)}; the single run's are {sorted(single)}")
    else:
        for key in sorted(single):
            diff = float(np.max(np.abs(single[key] - trained[key])))
            if not diff <= 1e-5 * max(1.0, float(np.max(np.abs(single[key])))):
                failures.append(f"initializer {key} differs from the single run's by {diff:.3g}")
    if not want[-1] < want[0]:
        failures.append(f"the loss did not fall ({want[0]} -> {want[-1]}): nothing was learned")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run", "fleet-launch"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--case", choices=sorted(CASES), default="embed_adam")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_folder("fleet-ps-two-hosts-", args.keep) as work:
        with TwoHosts() as hosts:
            failures = check(hosts, args, work)
    finish(failures)


if __name__ == "__main__":
    main()
