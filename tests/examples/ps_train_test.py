"""examples/ps_train (a C++ program on the Fleet API) trains a parameter-server job.

The model is tests/training's embedding case (tokens -> Gather(table [50, 8]) -> ReduceMean ->
Gemm -> 10 logits); its data are made learnable here: a record of class c holds tokens
5c .. 5c + 4 only, so a trained model reaches a loss near 0 from about ln(10).

  sync   fleet-launch --workers 2 --servers 2 -- ps_train --sync-mode sync, checked against
         - one process at the combined batch (fleet-transpile --strategy single, fleet-run):
           every step the mean of the two workers' losses equals its loss;
         - fleet-run on the job fleet-transpile writes for the same strategy, through the same
           launcher: each worker's losses equal the example's worker's, step by step;
         - the loss falls from about ln(10) to below 0.5; the workers read different records;
           each server said where it served and that every worker finished; every process
           exited 0.
  async  the same launch in async mode (no barriers, so no step-by-step reference): the
         worker whose step came first saw the untrained model (loss above 1.5), and every
         worker ends below 0.5.
  alone  ps_train started without a launcher fails with exit 1, saying that the job has no
         parameter servers and how to start one.

Usage: ps_train_test.py --ps-train BIN --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN
       --case sync|async|alone [--keep]
"""

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))
from collective_test import run, write_embedding_case  # noqa: E402
from ps_test import losses  # noqa: E402

STEPS = 36  # three epochs of 384 records at two workers x 16
WORKER_BATCH = 16
TRAINING = ["--optimizer", "adam", "--lr", "0.05"]


def write_case(work):
    """The embedding model, and data where a record of class c holds tokens of 5c .. 5c + 4."""
    model, data = write_embedding_case(work)
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 10, 384)
    tokens = labels[:, None] * 5 + rng.integers(0, 5, (384, 6))
    np.save(os.path.join(data, "tokens.npy"), tokens.astype(np.int64))
    np.save(os.path.join(data, "label.npy"), labels.astype(np.int64))
    return model, data


def launch(args, work, name, program):
    """Runs `program` (a command list) under fleet-launch with 2 workers and 2 servers; returns
    each worker's losses, from --metrics-out files named after `name`."""
    logs = os.path.join(work, f"{name}.logs")
    run([args.fleet_launch, "--workers", "2", "--servers", "2", "--log-dir", logs, "--"] +
        program + ["--batch", str(WORKER_BATCH), "--steps", str(STEPS), "--metrics-out",
                   os.path.join(work, f"{name}{{rank}}.jsonl")])
    return [losses(os.path.join(work, f"{name}{w}.jsonl"), STEPS) for w in (0, 1)], logs


def server_log_failures(logs):
    failures = []
    for server in (0, 1):
        log = os.path.join(logs, f"server.{server}.log")
        text = open(log).read() if os.path.isfile(log) else ""
        for want in (f"server.{server} serving on 127.0.0.1:", "every worker is done"):
            if want not in text:
                failures.append(f"{log} does not say '{want}'")
    return failures


def check_sync(args, work):
    model, data = write_case(work)
    example, logs = launch(args, work, "example", [args.ps_train, model, data, "--sync-mode",
                                                   "sync"] + TRAINING)
    failures = server_log_failures(logs)

    common = [model, "--loss", "softmax_ce"] + TRAINING
    single_job = os.path.join(work, "single")
    run([args.fleet_transpile, "-o", single_job, "--strategy", "single"] + common)
    run([args.fleet_run, single_job, "--data", data, "--batch", str(2 * WORKER_BATCH), "--steps",
         str(STEPS), "--metrics-out", os.path.join(work, "single.jsonl")])
    single = losses(os.path.join(work, "single.jsonl"), STEPS)
    ps_job = os.path.join(work, "ps")
    run([args.fleet_transpile, "-o", ps_job, "--strategy", "ps", "--servers", "2", "--sync-mode",
         "sync"] + common)
    fleet_run, _ = launch(args, work, "fleet_run", [args.fleet_run, ps_job, "--data", data])

    mean = (example[0] + example[1]) / 2
    worst = float(np.max(np.abs(mean - single) / np.maximum(np.abs(single), 1e-3)))
    print(f"sync: single-process loss {single[0]:.4f} -> {single[-1]:.4f}; the example "
          f"workers' mean {mean[0]:.4f} -> {mean[-1]:.4f}, worst relative difference "
          f"{worst:.2e}")
    if not worst < 1e-4:
        failures.append(f"the workers' mean losses {mean.tolist()} differ from one process at "
                        f"the combined batch {single.tolist()}")
    for w in (0, 1):
        if not np.allclose(example[w], fleet_run[w], rtol=1e-5, atol=1e-6):
            failures.append(f"worker {w}: the example's losses {example[w].tolist()} differ from "
                            f"fleet-run's on the transpiled job {fleet_run[w].tolist()}")
    if np.allclose(example[0], example[1]):
        failures.append("both workers report the same losses: they did not read different shards")
    if not (mean[0] > 0.8 * math.log(10) and mean[-1] < 0.5):
        failures.append(f"the loss did not fall from about ln(10) to below 0.5: {mean.tolist()}")
    return failures


def check_async(args, work):
    model, data = write_case(work)
    workers, logs = launch(args, work, "example", [args.ps_train, model, data, "--sync-mode",
                                                   "async"] + TRAINING)
    failures = server_log_failures(logs)
    first = [float(w[0]) for w in workers]
    last = [float(w[-1]) for w in workers]
    print(f"async: first step's loss per worker {first}, last {last}")
    # The first push comes after its sender's first step, which saw the untrained model.
    if not max(first) > 1.5:
        failures.append(f"no worker's first step saw the untrained model: losses {first}")
    if not max(last) < 0.5:
        failures.append(f"a worker ends at loss {max(last)}; expected below 0.5")
    return failures


def check_alone(args, work):
    model, data = write_case(work)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PADDLE_", "FLEET_", "OMPI_", "PMI_", "MASTER_"))
           and k not in ("TRAINING_ROLE", "POD_IP", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run([args.ps_train, model, data, "--steps", "1"], capture_output=True,
                          text=True, timeout=60, env=env)
    want = ("ps_train: error: worker.0 (", "without parameter servers",
            "hint: start it with fleet-launch --workers N --servers M")
    missing = [w for w in want if w not in proc.stderr]
    if proc.returncode != 1 or missing:
        return [f"ps_train alone exited {proc.returncode} with {proc.stderr!r}; expected exit 1 "
                f"saying {missing}"]
    print(f"alone: {proc.stderr.strip()}")
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("ps-train", "fleet-transpile", "fleet-run", "fleet-launch"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--case", choices=["sync", "async", "alone"], required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix=f"fleet-ps-train-{args.case}-")
    try:
        failures = {"sync": check_sync, "async": check_async, "alone": check_alone}[args.case](
            args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
