"""A rank killed mid-training: the others fail fast naming it, with no hang and no orphan.

  launcher  fleet-launch --nproc 2 -- fleet-run JOB (a long run); once both workers train,
            worker.1 is killed with SIGKILL. fleet-launch must stop worker.0, exit 137 (128 +
            SIGKILL) naming worker.1, and leave neither pid behind.
  direct    two fleet-run processes started by the test with torchrun's variables (no
            launcher to stop the survivor); rank 1 is killed with SIGKILL mid-training. Rank 0
            must exit non-zero on its own, well within its collective timeout, with an error
            that names rank 1.

Every process the test starts is killed by pid when the test ends, whatever happened.

Usage: collective_fault_test.py --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN
       --data DIR --case launcher|direct
"""

import argparse
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 60  # how long the survivor may take to fail (its collective timeout is 300 s)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours is dead too.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


class Lines:
    """Reads lines from several pipes with a deadline, without spinning."""

    def __init__(self, procs):
        self.sel = selectors.DefaultSelector()
        self.seen = []
        for name, proc in procs.items():
            os.set_blocking(proc.stdout.fileno(), False)
            self.sel.register(proc.stdout, selectors.EVENT_READ, name)
        self.partial = {name: "" for name in procs}

    def until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for key, _ in self.sel.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = key.fileobj.read()
                if chunk is None:  # woken, but no whole character yet
                    continue
                if not chunk:
                    self.sel.unregister(key.fileobj)
                    continue
                text = self.partial[key.data] + chunk
                *lines, self.partial[key.data] = text.split("\n")
                for line in lines:
                    self.seen.append((key.data, line))
                    if predicate(key.data, line):
                        return line
            if not self.sel.get_map():
                return None
        return None


def transpile(args, work):
    job = os.path.join(work, "job")
    subprocess.run([args.fleet_transpile, os.path.join(args.data, "cnn.onnx"), "-o", job,
                    "--strategy", "collective", "--loss", "softmax_ce", "--optimizer", "sgd",
                    "--lr", "0.01"], check=True, capture_output=True, timeout=120)
    return job


def train_args(args, job):
    return [args.fleet_run, job, "--data", os.path.join(args.data, "cnn_data"), "--batch", "8",
            "--epochs", "100000", "--log-every", "5"]


def launcher_case(args, work, started):
    proc = subprocess.Popen([args.fleet_launch, "--nproc", "2", "--"] + train_args(args, transpile(args, work)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started.append(proc.pid)
    lines = Lines({"launch": proc})
    pids = {}

    def progress(_, line):
        m = re.search(r"(worker\.\d): pid (\d+)", line)
        if m:
            pids[m.group(1)] = int(m.group(2))
            started.append(int(m.group(2)))
        return "[worker.1]" in line and "step" in line
    if lines.until(progress, 60) is None or len(pids) != 2:
        return [f"the workers did not start training: {lines.seen[-20:]}"]
    os.kill(pids["worker.1"], signal.SIGKILL)
    t0 = time.monotonic()
    lines.until(lambda *_: False, DEADLINE_S)
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return [f"fleet-launch still runs {DEADLINE_S}s after worker.1 was killed"]
    took = time.monotonic() - t0
    text = "\n".join(line for _, line in lines.seen)
    print(f"launcher: fleet-launch exited {code} {took:.1f}s after worker.1 was killed")
    print("\n".join(line for _, line in lines.seen if "fleet-launch" in line)[-1500:])
    failures = []
    if code != 128 + signal.SIGKILL:
        failures.append(f"fleet-launch exited {code}; expected {128 + signal.SIGKILL}")
    if not re.search(r"worker\.1.*(killed|signal 9|SIGKILL)", text):
        failures.append("fleet-launch's output does not name worker.1 as killed")
    for name, pid in pids.items():
        if alive(pid):
            failures.append(f"{name} (pid {pid}) is still running after fleet-launch returned")
    return failures


def direct_case(args, work, started):
    job = transpile(args, work)
    port = free_port()
    procs = {}
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs[rank] = subprocess.Popen(train_args(args, job), env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
        started.append(procs[rank].pid)
    lines = Lines(procs)
    if lines.until(lambda who, line: who == 1 and "step" in line, 60) is None:
        return [f"the ranks did not start training: {lines.seen[-20:]}"]
    os.kill(procs[1].pid, signal.SIGKILL)
    t0 = time.monotonic()
    lines.until(lambda *_: False, DEADLINE_S)
    try:
        code = procs[0].wait(timeout=5)
    except subprocess.TimeoutExpired:
        return [f"rank 0 still runs {DEADLINE_S}s after rank 1 was killed"]
    took = time.monotonic() - t0
    rank0 = "\n".join(line for who, line in lines.seen if who == 0)
    error = [line for line in rank0.split("\n") if "error" in line]
    print(f"direct: rank 0 exited {code} {took:.1f}s after rank 1 was killed: "
          f"{error[-1] if error else rank0[-500:]}")
    failures = []
    if code == 0:
        failures.append("rank 0 exited 0 after losing rank 1")
    if not re.search(r"rank 1\b", rank0):
        failures.append(f"rank 0's error does not name rank 1: {rank0[-800:]}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run", "fleet-launch"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--case", choices=["launcher", "direct"], required=True)
    args = parser.parse_args()
    started = []
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-fault-") as work:
            failures = (launcher_case if args.case == "launcher" else direct_case)(
                args, work, started)
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
