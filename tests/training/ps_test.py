"""Parameter-server training in sync mode equals one process with the combined batch, step by step.

The same ONNX model is transpiled twice, as a user would:
  single  fleet-transpile MODEL --strategy single ...                  -> fleet-run at batch 2B
  ps      fleet-transpile MODEL --strategy ps --sync-mode sync --servers 2 --workers 2
          --min-block-size 16 ...  -> fleet-launch --workers 2 --servers 2 -- fleet-run at batch
          B per worker (worker i reads records i, i+2, ...)
and checked:
  - the models that worker 0 exports after training, and that fleet-run exports from the job's
    checkpoint afterwards, equal the single run's exported model, initializer by initializer
    (the table reassembled from the servers' rows, the dense parameters from their blocks);
  - every step, the mean of the two workers' losses equals the single run's loss (each worker's
    loss is the mean over its half of the combined batch), for a model with a sparse embedding
    table (pulled by rows from the servers, its rows' gradients pushed) and dense layers (cut
    into blocks over the two servers);
  - a job stopped after half the steps with --save and started again with --load (every
    process new) goes on with the same losses as the uninterrupted run, and exports the same
    model;
  - the two workers read different records (their losses differ);
  - fleet-launch saved every process's output under --log-dir, each server said where it served
    and that every worker finished, and fleet-launch exited 0 (the servers ended by themselves).

Cases: embed_sgd and embed_adam (tokens -> Gather(table [1000, 16]) -> ReduceMean -> Gemm, the
model and its data written by collective_test.write_embedding_case).

Usage: ps_test.py --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN --case NAME [--keep]
"""

import argparse
import json
import os

import numpy as np

from collective_test import initializers, run, write_embedding_case
from test_outcome import finish, work_folder

CASES = {
    "embed_sgd": ["--optimizer", "sgd", "--lr", "0.5"],
    "embed_adam": ["--optimizer", "adam", "--lr", "0.05"],
    # Geo with one worker: it trains on its own copies and every GEO_K steps the servers take
    # its changes, so it must equal one process at the same batch.
    "embed_sgd_geo": ["--optimizer", "sgd", "--lr", "0.5"],
    "embed_adam_geo": ["--optimizer", "adam", "--lr", "0.05"],
}
GEO_K = 5
STEPS = 12
WORKER_BATCH = 16


def losses(path, steps=STEPS):
    out = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            out[record["step"]] = record["loss"]
    if len(out) != steps:
        raise SystemExit(f"FAIL: {path} has {len(out)} steps; expected {steps}")
    return np.array([out[s] for s in sorted(out)])


def resume(args, job, data, work):
    """Half the steps, a checkpoint, every process gone; then --load and the other half: the
    resumed steps' losses must be the uninterrupted run's, and so must the exported model."""
    half = STEPS // 2
    for part, extra in (("first", ["--save", os.path.join(work, "half")]),
                        ("second", ["--load", os.path.join(work, "half"), "--export",
                                    os.path.join(work, "resumed.onnx")])):
        run([args.fleet_launch, "--workers", "2", "--servers", "2", "--", args.fleet_run, job,
             "--data", data, "--batch", str(WORKER_BATCH), "--steps", str(half), "--metrics-out",
             os.path.join(work, f"{part}{{rank}}.jsonl")] + extra)
    failures = []
    for w in (0, 1):
        whole = losses(os.path.join(work, f"worker{w}.jsonl"))
        second = losses(os.path.join(work, f"second{w}.jsonl"), steps=half)
        if not np.allclose(second, whole[half:], rtol=1e-5, atol=1e-6):
            failures.append(f"worker {w} resumed with losses {second.tolist()}; the uninterrupted "
                            f"run had {whole[half:].tolist()}")
    return failures


def check_geo(args, work):
    """One geo worker x 2 servers, exchanging every GEO_K steps, equals one process: losses
    every step, and the model exported from the servers' values (the last exchange is at step
    STEPS, a multiple of GEO_K would be needed for the servers to hold the last steps: STEPS is
    chosen so the servers' model is exactly the worker's)."""
    model, data = write_embedding_case(work)
    common = ["--loss", "softmax_ce"] + CASES[args.case]
    steps = GEO_K * (STEPS // GEO_K)
    single_job = os.path.join(work, "single")
    run([args.fleet_transpile, model, "-o", single_job, "--strategy", "single"] + common)
    run([args.fleet_run, single_job, "--data", data, "--batch", str(WORKER_BATCH), "--steps",
         str(steps), "--metrics-out", os.path.join(work, "single.jsonl"), "--export",
         os.path.join(work, "single.onnx")])
    job = os.path.join(work, "geo")
    run([args.fleet_transpile, model, "-o", job, "--strategy", "ps", "--sync-mode", "geo",
         "--geo-k-steps", str(GEO_K), "--servers", "2", "--min-block-size", "16"] + common)
    run([args.fleet_launch, "--workers", "1", "--servers", "2", "--", args.fleet_run, job,
         "--data", data, "--batch", str(WORKER_BATCH), "--steps", str(steps), "--metrics-out",
         os.path.join(work, "worker{rank}.jsonl"), "--export", os.path.join(work, "geo.onnx")])
    failures = []
    want = losses(os.path.join(work, "single.jsonl"), steps)
    got = losses(os.path.join(work, "worker0.jsonl"), steps)
    worst = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3))
    print(f"{args.case}: {steps} steps, exchanging every {GEO_K}; worst relative loss "
          f"difference {worst:.2e}")
    if not worst < 1e-5:
        failures.append(f"losses differ: single {want.tolist()} vs geo {got.tolist()}")
    single = initializers(os.path.join(work, "single.onnx"))
    trained = initializers(os.path.join(work, "geo.onnx"))
    for key in sorted(single):
        diff = float(np.max(np.abs(single[key] - trained[key]))) if key in trained else None
        if diff is None or not diff <= 1e-5 * max(1.0, float(np.max(np.abs(single[key])))):
            failures.append(f"geo.onnx: initializer {key} differs by {diff}")
    return failures


def check(args, work):
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
    logs = os.path.join(work, "logs")
    run([args.fleet_launch, "--workers", "2", "--servers", "2", "--log-dir", logs, "--",
         args.fleet_run, job, "--data", data, "--batch", str(WORKER_BATCH), "--steps", str(STEPS),
         "--metrics-out", os.path.join(work, "worker{rank}.jsonl"), "--save",
         os.path.join(work, "ckpt"), "--export", os.path.join(work, "ps.onnx")])
    # The same model again from the checkpoint alone, as a user exports after the job.
    run([args.fleet_run, job, "--load", os.path.join(work, "ckpt"), "--export",
         os.path.join(work, "ps_again.onnx")])

    failures = resume(args, job, data, work)
    for server in (0, 1):
        log = os.path.join(logs, f"server.{server}.log")
        text = open(log).read() if os.path.isfile(log) else ""
        for want in (f"server.{server} serving on 127.0.0.1:", "every worker is done"):
            if want not in text:
                failures.append(f"{log} does not say '{want}'")
    for worker in (0, 1):
        if not os.path.isfile(os.path.join(logs, f"worker.{worker}.log")):
            failures.append(f"fleet-launch wrote no worker.{worker}.log")

    want = losses(os.path.join(work, "single.jsonl"))
    workers = [losses(os.path.join(work, f"worker{w}.jsonl")) for w in (0, 1)]
    got = (workers[0] + workers[1]) / 2
    worst = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3))
    print(f"{args.case}: loss step 1 {want[0]:.6f}, step {STEPS} {want[-1]:.6f}; worst relative "
          f"difference of the workers' mean {worst:.2e}")
    if not worst < 1e-4:
        failures.append(f"losses differ: single {want.tolist()} vs workers' mean {got.tolist()}")
    if np.allclose(workers[0], workers[1]):
        failures.append("both workers report the same losses: they did not read different shards")
    single = initializers(os.path.join(work, "single.onnx"))
    for exported in ("ps.onnx", "ps_again.onnx", "resumed.onnx"):
        trained = initializers(os.path.join(work, exported))
        if sorted(single) != sorted(trained):
            failures.append(f"{exported}: initializers {sorted(trained)}; the single run's are "
                            f"{sorted(single)}")
            continue
        for key in sorted(single):
            diff = float(np.max(np.abs(single[key] - trained[key])))
            scale = max(1.0, float(np.max(np.abs(single[key]))))
            if not diff <= 1e-5 * scale:
                failures.append(f"{exported}: initializer {key} differs by {diff:.3g}")
    if not want[-1] < want[0]:
        failures.append(f"the loss did not fall ({want[0]} -> {want[-1]}): nothing was learned")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run", "fleet-launch"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_folder(f"fleet-ps-{args.case}-", args.keep) as work:
        failures = (check_geo if args.case.endswith("_geo") else check)(args, work)
    finish(failures)


if __name__ == "__main__":
    main()
