"""Parameter-server workers share data of several files by file: file j goes to worker j mod n.

A folder of five MultiSlot files of unequal length (7, 9, 11, 13 and 15 records) is trained on
by 2 workers x 2 servers in sync mode (fleet-launch, batch 4, one epoch). Every record carries
its own id, which it looks up in an embedding table of the model (a sparse table on the
servers). Checked:
  - each worker's log names the files it reads: worker 0 files 0, 2, 4, worker 1 files 1, 3;
  - each worker trained on all the records of its files (its run summary's samples and steps),
    and the two together on every record of the data (55 samples);
  - the rows of the exported table that changed are exactly the ids of the 55 records (rows
    past them keep the model's values): with 55 samples in all, every record was read exactly
    once;
  - the workers' unequal shares (9 and 6 steps) do not hang the job: the steps a worker has no
    data for go on without it.
Then fewer files than workers (a comma-separated list of 2 files for 3 workers) is refused with
an error naming the counts.

Usage: ps_file_shard_test.py --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN [--keep]
"""

import argparse
import json
import os
import subprocess

import numpy as np
import onnx
from onnx import helper, numpy_helper

from collective_test import initializers, run
from test_outcome import finish, work_folder

FILE_RECORDS = [7, 9, 11, 13, 15]
ROWS = 64  # table rows; the records use ids 0..54, the rest must stay untouched
CLASSES = 3
BATCH = 4


def write_model(path, rng):
    """ids i64[N, 1] -> Gather(table [ROWS, 4]) -> ReduceMean -> Gemm -> logits [N, CLASSES]."""
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (ROWS, 4)).astype(np.float32), "table"),
             numpy_helper.from_array(rng.normal(0, 0.5, (CLASSES, 4)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(CLASSES, np.float32), "b")]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"]),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "ids", [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["N", 1])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", CLASSES])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              path)


def write_files(folder, rng):
    """MultiSlot files part-J.txt: per record "1 ID 1 LABEL", ids numbered through the files."""
    os.makedirs(folder)
    paths, next_id = [], 0
    for j, count in enumerate(FILE_RECORDS):
        path = os.path.join(folder, f"part-{j}.txt")
        with open(path, "w") as f:
            for _ in range(count):
                f.write(f"1 {next_id} 1 {rng.integers(0, CLASSES)}\n")
                next_id += 1
        paths.append(path)
    return paths


def check_split(args, work, job, paths):
    logs = os.path.join(work, "logs")
    run([args.fleet_launch, "--workers", "2", "--servers", "2", "--log-dir", logs, "--",
         args.fleet_run, job, "--data", os.path.dirname(paths[0]), "--slots",
         "ids:int64:1,label:int64", "--batch", str(BATCH), "--epochs", "1", "--summary-out",
         os.path.join(work, "worker{rank}.json"), "--export", os.path.join(work, "ps.onnx")],
        timeout=180)
    failures = []
    samples = 0
    for w in (0, 1):
        mine = list(range(w, len(paths), 2))
        want_line = (f"worker {w} of 2 reads {len(mine)} of {len(paths)} files: "
                     + ", ".join(paths[j] for j in mine))
        with open(os.path.join(logs, f"worker.{w}.log")) as f:
            if want_line not in f.read():
                failures.append(f"worker.{w}.log does not say '{want_line}'")
        with open(os.path.join(work, f"worker{w}.json")) as f:
            summary = json.load(f)
        records = sum(FILE_RECORDS[j] for j in mine)
        steps = -(-records // BATCH)
        print(f"worker {w}: files {mine}, {summary['samples']} samples in {summary['steps']} "
              f"steps (its files hold {records} records)")
        if (summary["samples"], summary["steps"]) != (records, steps):
            failures.append(f"worker {w} trained {summary['samples']} samples in "
                            f"{summary['steps']} steps; its files hold {records} records, "
                            f"{steps} steps at batch {BATCH}")
        samples += summary["samples"]
    total = sum(FILE_RECORDS)
    if samples != total:
        failures.append(f"the workers trained {samples} samples together; the data has {total}")

    before = initializers(os.path.join(work, "model.onnx"))["table"]
    after = initializers(os.path.join(work, "ps.onnx"))["table"]
    changed = np.flatnonzero(np.any(before != after, axis=1))
    print(f"{len(changed)} table rows changed: ids {changed.min()}..{changed.max()}")
    if changed.tolist() != list(range(total)):
        missing = sorted(set(range(total)) - set(changed.tolist()))
        extra = sorted(set(changed.tolist()) - set(range(total)))
        failures.append(f"table rows changed by training: ids never read {missing}, rows "
                        f"changed that no record names {extra}")
    return failures


def check_too_few_files(args, work, job, paths):
    """Two files for three workers: every worker refuses, and fleet-launch fails."""
    proc = subprocess.run(
        [args.fleet_launch, "--workers", "3", "--servers", "1", "--", args.fleet_run, job,
         "--data", f"{paths[0]},{paths[1]}", "--slots", "ids:int64:1,label:int64", "--batch",
         str(BATCH)], capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    want = "the data has 2 files for 3 workers; expected at least one file per worker"
    if proc.returncode == 0 or want not in output:
        return [f"2 files for 3 workers: fleet-launch exited {proc.returncode} without saying "
                f"'{want}':\n{output[-2000:]}"]
    print("2 files for 3 workers: refused")
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run", "fleet-launch"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_folder("fleet-ps-file-shard-", args.keep) as work:
        rng = np.random.default_rng(3)
        model = os.path.join(work, "model.onnx")
        write_model(model, rng)
        paths = write_files(os.path.join(work, "data"), rng)
        job = os.path.join(work, "job")
        run([args.fleet_transpile, model, "-o", job, "--strategy", "ps", "--sync-mode", "sync",
             "--servers", "2", "--min-block-size", "4", "--loss", "softmax_ce", "--optimizer",
             "sgd", "--lr", "0.5"])
        failures = check_split(args, work, job, paths)
        failures += check_too_few_files(args, work, job, paths)
    finish(failures)


if __name__ == "__main__":
    main()
