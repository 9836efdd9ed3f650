"""Parameter-server faults: a process killed mid-training, with no launcher to stop the others.

Two servers and two workers are started by the test itself with Paddle's environment variables
(TRAINING_ROLE, PADDLE_PSERVERS_IP_PORT_LIST, ...), each server presuming a worker dead after
FLEET_PS_HEARTBEAT_TIMEOUT=3 seconds of silence. Once both workers train, one process is killed
with SIGKILL:
  worker_async  worker.1 dies in an async job: worker.0 trains to its end and exits 0; each server
                names worker 1 as presumed dead and exits 0 once worker.0 is done.
  worker_sync   worker.1 dies in a sync job: worker.0 fails within the heartbeat timeout (plus a
                margin) with an error naming worker 1, and so does each server.
  server        server.1 dies: both workers fail fast with an error naming parameter server 1.
Nothing hangs: every wait has a deadline, and every process the test started is killed by pid
when the test ends, whatever happened.

Usage: ps_fault_test.py --fleet-transpile BIN --fleet-run BIN --case NAME
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from collective_fault_test import Lines, alive, free_port
from collective_test import write_embedding_case

HEARTBEAT_S = 3
DEADLINE_S = 45  # how long the survivors may take to end


def start(args, work, mode):
    model, data = write_embedding_case(work)
    job = os.path.join(work, "job")
    subprocess.run([args.fleet_transpile, model, "-o", job, "--strategy", "ps", "--sync-mode",
                    mode, "--servers", "2", "--workers", "2", "--loss", "softmax_ce",
                    "--optimizer", "sgd", "--lr", "0.1"], check=True, capture_output=True,
                   timeout=120)
    ports = [free_port(), free_port()]
    servers = ",".join(f"127.0.0.1:{p}" for p in ports)
    common = dict(os.environ, PADDLE_PSERVERS_IP_PORT_LIST=servers, PADDLE_TRAINERS_NUM="2",
                  FLEET_PS_HEARTBEAT_TIMEOUT=str(HEARTBEAT_S))
    train = [args.fleet_run, job, "--data", data, "--batch", "16", "--epochs", "100000",
             "--log-every", "20"]
    procs = {}
    for i, port in enumerate(ports):
        env = dict(common, TRAINING_ROLE="PSERVER", POD_IP="127.0.0.1", PADDLE_PORT=str(port))
        procs[f"server.{i}"] = subprocess.Popen(train, env=env, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True)
    for i in (0, 1):
        env = dict(common, TRAINING_ROLE="TRAINER", PADDLE_TRAINER_ID=str(i))
        # worker.0 of the async case runs a fixed number of steps, to end after worker.1 died.
        steps = ["--steps", "3000"] if (mode == "async" and i == 0) else []
        procs[f"worker.{i}"] = subprocess.Popen(train + steps, env=env, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True)
    return procs


def text_of(lines, who):
    return "\n".join(line for name, line in lines.seen if name == who)


def wait_all(procs, names, lines, timeout):
    """Exit codes of `names` once all have ended (None for any still running at the deadline),
    reading their output meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(procs[n].poll() is None for n in names):
        lines.until(lambda *_: False, 0.5)
    lines.until(lambda *_: False, 0.5)  # the last lines
    return {name: procs[name].poll() for name in names}


def run_case(args, work, started):
    mode = {"worker_async": "async", "worker_sync": "sync", "server": "sync"}[args.case]
    procs = start(args, work, mode)
    started.extend(p.pid for p in procs.values())
    lines = Lines(procs)
    training = set()

    def both_train(who, line):
        if who.startswith("worker") and "step" in line:
            training.add(who)
        return len(training) == 2
    if lines.until(both_train, 90) is None:
        return [f"the workers did not start training: {lines.seen[-30:]}"]
    victim = "server.1" if args.case == "server" else "worker.1"
    os.kill(procs[victim].pid, signal.SIGKILL)
    t0 = time.monotonic()
    survivors = [name for name in procs if name != victim]
    codes = wait_all(procs, survivors, lines, DEADLINE_S)
    took = time.monotonic() - t0
    print(f"{args.case}: {victim} killed; exit codes {codes}, all ended {took:.1f}s later")
    failures = [f"{name} still runs {DEADLINE_S}s after {victim} was killed"
                for name, code in codes.items() if code is None]
    if failures:
        return failures
    for name in survivors:
        last = [line for line in text_of(lines, name).split("\n") if line][-3:]
        print(f"  {name}: {' | '.join(last)}")

    def expect(name, code_ok, pattern):
        out = text_of(lines, name)
        if not code_ok(codes[name]):
            failures.append(f"{name} exited {codes[name]}:\n{out[-800:]}")
        if pattern and not re.search(pattern, out):
            failures.append(f"{name}'s output does not match /{pattern}/:\n{out[-800:]}")

    if args.case == "worker_async":
        expect("worker.0", lambda c: c == 0, r"trained 3000 steps")
        for s in ("server.0", "server.1"):
            expect(s, lambda c: c == 0, r"worker 1 sent nothing for .*presumed dead")
    elif args.case == "worker_sync":
        expect("worker.0", lambda c: c != 0, r"worker 1 sent nothing")
        for s in ("server.0", "server.1"):
            expect(s, lambda c: c != 0, r"worker 1 sent nothing")
        if took > HEARTBEAT_S + 30:
            failures.append(f"the survivors took {took:.0f}s to fail")
    else:
        for w in ("worker.0", "worker.1"):
            expect(w, lambda c: c != 0, r"parameter server 1 \(127\.0\.0\.1:\d+\)")
        if took > 30:
            failures.append(f"the workers took {took:.0f}s to fail")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--case", choices=["worker_async", "worker_sync", "server"],
                        required=True)
    args = parser.parse_args()
    started = []
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-ps-fault-") as work:
            failures = run_case(args, work, started)
    finally:
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
