"""Keeps bench/ps_bench.py working: runs it in --smoke mode (3 steps per row, once; a memory run
of ~20,000 rows) and checks its JSON against what the model, the data and the settings imply.
Never checks speed.

  - every row ran (geo: ran, or "not built"); torch's rows too unless --fleet-only;
  - each Fleet worker's run summary counts 3 steps of 512 samples, its samples/s is samples /
    seconds, and a row's samples/s is the sum over its workers (likewise torch's trainers);
    a row's CPU time is positive, no more than the machine's cores could give in the job's wall
    time, and its CPU per sample is that time over the samples;
  - bytes per step, against the model's parameters (ONNX initializers) and the data (NumPy):
    a sync worker pushes every dense gradient and pulls every dense parameter each step, and
    for every distinct id of its batch in each table sends the id twice (pull, push) and moves
    the row twice (pulled values, pushed gradient): 2 D + 96 n bytes of payload for D dense
    bytes and n distinct ids (8-byte ids, 10 f32 values). Fleet's message bytes hold that
    payload plus protobuf framing (checked: at most 2% + 4 KiB more); the torch peer counts
    exactly its tensors' bytes, so it must equal the payload;
  - the memory runs: the rows each server reports equal the distinct (table, id) pairs of the
    records it was fed (NumPy over the run's .npy files), and its resident growth is at least
    the bytes of those rows' values it reports.

Usage: ps_bench_test.py --bin-dir DIR [--fleet-only] [--keep]
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
STEPS, BATCH, WORKERS = 3, 512, 2
SPARSE = [f"C{s}" for s in range(1, 27)]
ID_BYTES, ROW_BYTES = 8, 10 * 4


def dense_bytes(model):
    return sum(numpy_helper.to_array(t).nbytes for t in onnx.load(model).graph.initializer
               if not t.name.startswith("embedding."))


def distinct_ids_per_step(folder, worker, workers, steps, batch):
    """Mean over a worker's steps of the distinct ids of its batch, summed over the tables."""
    counts = np.zeros(steps)
    for name in SPARSE:
        ids = np.load(os.path.join(folder, f"{name}.npy"))[worker::workers]
        for k in range(steps):
            counts[k] += len(np.unique(ids[k * batch:(k + 1) * batch]))
    return counts.mean()


def check_sums(key, row, failures, fleet):
    workers = row["workers"]
    for w in workers:
        samples = w["samples"] if fleet else w["steps"] * w["batch"]
        if fleet and (w["steps"] != STEPS or samples != STEPS * BATCH):
            failures.append(f"{key}: a worker ran {w['steps']} steps, {samples} samples; "
                            f"expected {STEPS} of {BATCH}")
        rate = w["samples_per_sec"] if fleet else w["samples_per_s"]
        if not abs(rate - samples / w["seconds"]) <= 1e-3 * rate + 0.1:
            failures.append(f"{key}: a worker's samples/s {rate} is not {samples} / "
                            f"{w['seconds']} s")
    samples = len(workers) * STEPS * BATCH
    cores = os.cpu_count()
    if not 0 < row["cpu_seconds"] <= cores * row["wall_seconds"] * 1.05 + 0.1:
        failures.append(f"{key}: {row['cpu_seconds']} s of CPU in {row['wall_seconds']} s on "
                        f"{cores} cores")
    if not abs(row["cpu_us_per_sample"] - row["cpu_seconds"] / samples * 1e6) <= 0.01:
        failures.append(f"{key}: {row['cpu_us_per_sample']} CPU us per sample; expected "
                        f"{row['cpu_seconds']} s / {samples} samples")
    total = sum(w["samples_per_sec"] if fleet else w["samples_per_s"] for w in workers)
    if not abs(row["samples_per_s"] - total) <= 0.1:
        failures.append(f"{key}: {row['samples_per_s']} samples/s; expected the workers' sum "
                        f"{total}")


def check(args, report):
    failures = []
    rows, notes = report["rows"], report["notes"]
    expected = ["fleet single", "fleet ps 1x1 async", "fleet ps 2x2 async",
                "fleet ps 2x2 async pull", "fleet ps 2x2 sync", "fleet ps 2x2 half_async"]
    if not args.fleet_only:
        expected += ["torch rpc 1x2 async", "torch rpc 2x2 async"]
    for key in expected:
        if not rows.get(key) or not rows[key]["samples_per_s"] > 0:
            failures.append(f"{key}: no result: {rows.get(key)}")
    if rows.get("fleet ps 2x2 geo"):
        expected.append("fleet ps 2x2 geo")
    elif "not built" not in (notes.get("fleet ps 2x2 geo") or ""):
        failures.append(f"fleet ps 2x2 geo: neither measured nor 'not built': "
                        f"{notes.get('fleet ps 2x2 geo')}")
    if failures:
        return failures
    for key in expected:
        check_sums(key, rows[key], failures, key.startswith("fleet"))

    data = os.path.join(args.work, "criteo_npy")
    d = dense_bytes(os.path.join(args.work, "ctr_dnn.onnx"))
    for key, tolerance in (("fleet ps 2x2 sync", 0.02), ("torch rpc 2x2 async", 0.0),
                           ("torch rpc 1x2 async", 0.0)):
        if key not in expected:
            continue
        n = np.mean([distinct_ids_per_step(data, r, WORKERS, STEPS, BATCH)
                     for r in range(WORKERS)])
        payload = 2 * d + 2 * (ID_BYTES + ROW_BYTES) * n
        got = rows[key]["bytes_per_step"]
        high = payload * (1 + tolerance) + (4096 if tolerance else 1e-6)
        if not payload - 1e-6 <= got <= high:
            failures.append(f"{key}: {got:.1f} bytes per step; expected {payload:.1f} of "
                            f"payload (2 x {d} dense bytes + 96 x {n:.1f} distinct ids)"
                            f"{' plus framing up to ' + format(high, '.1f') if tolerance else ''}")

    # Pulling after every 4th send with no warm-up (--smoke), a 3-step run makes no background
    # pull: fewer bytes than async's, whose sender pulls after each of its sends.
    pull, every = rows["fleet ps 2x2 async pull"], rows["fleet ps 2x2 async"]
    if not pull["bytes_per_step"] < every["bytes_per_step"]:
        failures.append(f"fleet ps 2x2 async pull: {pull['bytes_per_step']:.1f} bytes per step; "
                        f"expected fewer than async's {every['bytes_per_step']:.1f}")

    memory = report["memory"]
    if not memory:
        return failures + [f"no memory result; errors: {report['errors']}"]
    for name, folder in (("run", "memory_hashed"), ("control", "memory_control")):
        result = memory[name]
        fed = result["steps"] * BATCH
        distinct = sum(len(np.unique(np.load(os.path.join(args.work, folder, f"{s}.npy"))[:fed]))
                       for s in SPARSE)
        if result["rows"] != distinct:
            failures.append(f"memory {name}: the server holds {result['rows']} rows; the "
                            f"records fed hold {distinct} distinct (table, id) pairs")
        if not result["growth_mb"] * 2**20 >= result["row_bytes"]:
            failures.append(f"memory {name}: resident growth {result['growth_mb']} MiB is less "
                            f"than the {result['row_bytes']} bytes of row values it reports")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--fleet-only", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="fleet-ps-bench-test-")
    args.work = os.path.join(root, "work")
    try:
        out = os.path.join(root, "bench.json")
        cmd = [sys.executable, os.path.join(HERE, "ps_bench.py"), "--bin-dir", args.bin_dir,
               "--smoke", "--steps", str(STEPS), "--batch", str(BATCH), "--json", out,
               "--work", args.work, "--timeout", "120"]
        if args.fleet_only:
            cmd.append("--fleet-only")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        print(proc.stdout[-4000:])
        if proc.returncode != 0:
            print(f"FAIL: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
            return 1
        with open(out) as f:
            failures = check(args, json.load(f))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
