"""Keeps bench/collective_bench.py working: runs it in --smoke mode (a few steps of the
transformer at batch 4, once) and checks its JSON against what the model and the settings imply.
Never checks speed.

  - every row ran: Fleet on 1 process (batch B and 2B), allreduce, reduce, LocalSGD, and
    (unless --fleet-only) PyTorch on 1 process and DDP, each with samples/s > 0;
  - the model's parameters (its float initializers, NumPy) fit one 25 MB bucket, so allreduce
    makes one call per step, the reduce mode two (the reduce and the owner's broadcast), and
    LocalSGD at k = 1 one; every rank counted as many in each step of the run;
  - each rank's overlap is 1 - waited / busy clamped to [0, 1], and the row's is their mean;
  - DDP reports at least one bucket a step.

Usage: collective_bench_test.py --bin-dir DIR --models-script models/generate.py [--fleet-only]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS, WARMUP, BATCH = 2, 1, 4


def check(args, records):
    failures = []
    rows = {(r["system"], r["batch"]): r for r in records if "system" in r}
    expected = [("fleet 1 process", BATCH), ("fleet 1 process", 2 * BATCH),
                ("fleet allreduce", BATCH), ("fleet reduce", BATCH),
                ("fleet LocalSGD k=1", BATCH)]
    if not args.fleet_only:
        expected += [("torch 1 process", BATCH), ("torch DDP", BATCH)]
    for key in expected:
        if key not in rows:
            failures.append(f"no row {key}; have {sorted(rows)}")
    if failures:
        return failures
    for key in expected:
        row = rows[key]
        if not (row["result"] and row["result"]["samples_per_s"] > 0):
            failures.append(f"{key}: no samples/s: {row['result']}")

    model = onnx.load(os.path.join(args.work, "transformer.onnx"))
    param_bytes = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer
                      if t.data_type == onnx.TensorProto.FLOAT)
    if not param_bytes < 25 * 2**20:
        failures.append(f"the transformer's parameters hold {param_bytes} bytes; the test "
                        "expects them to fit one 25 MB bucket")
    # allreduce: one bucket and the allgather of the token embedding's rows; reduce: the bucket
    # reduced and broadcast (the embedding made dense); LocalSGD: one parameter average.
    for system, per_step in (("fleet allreduce", 2), ("fleet reduce", 2),
                             ("fleet LocalSGD k=1", 1)):
        result = rows[(system, BATCH)]["result"]
        if result["calls_per_step"] != per_step:
            failures.append(f"{system}: {result['calls_per_step']} calls per step; expected "
                            f"{per_step}")
        ranks = result["ranks"]
        if len(ranks) != 2:
            failures.append(f"{system}: {len(ranks)} ranks; expected 2")
            continue
        for r, rank in enumerate(ranks):
            if rank["calls"] != per_step * (STEPS + WARMUP):
                failures.append(f"{system} rank {r}: {rank['calls']} collective calls; "
                                f"expected {per_step * (STEPS + WARMUP)}")
            want = min(1.0, max(0.0, 1 - rank["waited_sec"] / rank["busy_sec"]))
            if not (rank["busy_sec"] > 0 and abs(rank["overlap"] - want) < 1e-3):
                failures.append(f"{system} rank {r}: overlap {rank['overlap']}; expected "
                                f"1 - {rank['waited_sec']} / {rank['busy_sec']}")
        mean = np.mean([rank["overlap"] for rank in ranks])
        if not abs(result["overlap"] - mean) < 1e-9:
            failures.append(f"{system}: overlap {result['overlap']}; expected the ranks' mean "
                            f"{mean}")
    if not args.fleet_only:
        ddp = rows[("torch DDP", BATCH)]["result"]
        if not (ddp["calls_per_step"] or 0) >= 1:
            failures.append(f"torch DDP: {ddp['calls_per_step']} buckets; expected at least 1")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--models-script", required=True)
    parser.add_argument("--fleet-only", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.work = tempfile.mkdtemp(prefix="fleet-collective-bench-test-")
    try:
        subprocess.run([sys.executable, args.models_script, "--out", args.work, "--only",
                        "transformer", "--quiet"], check=True, timeout=300)
        out = os.path.join(args.work, "bench.json")
        cmd = [sys.executable, os.path.join(HERE, "collective_bench.py"), "--models", args.work,
               "--bin-dir", args.bin_dir, "--only", "transformer", "--smoke", "--batch",
               str(BATCH), "--steps", str(STEPS), "--warmup", str(WARMUP), "--k-steps", "1",
               "--json", out, "--timeout", "240"] + (["--fleet-only"] if args.fleet_only else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        print(proc.stdout[-4000:])
        if proc.returncode != 0:
            print(f"FAIL: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
            return 1
        with open(out) as f:
            failures = check(args, json.load(f))
    finally:
        if args.keep:
            print(f"kept {args.work}")
        else:
            shutil.rmtree(args.work, ignore_errors=True)
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
