"""Measures ONNX Runtime forward latency for one model, batch size and thread count, the peer
that Fleet's fleet-bench-forward is compared with. Prints one JSON line in fleet-bench-forward's
format:
  {"model": "mlp", "batch": 1, "threads": 1, "median_ms": x, "p90_ms": y, "peak_rss_mb": z}

Session: CPU execution provider, intra_op_num_threads=T, inter_op_num_threads=1, sequential
execution, all graph optimisations. Inputs are models/sample_inputs.py's seeded inputs. Each
iteration times one session.run; peak_rss_mb is this process's ru_maxrss (Python interpreter and
onnxruntime libraries included).

Usage: ort_forward.py MODEL.onnx --batch B --threads T [--iters N] [--warmup W] [--seed S]
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "models"))
import sample_inputs  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="path of the .onnx model")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True, help="intra-op threads")
    parser.add_argument("--iters", type=int, default=50, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--seed", type=int, default=0, help="seed for the sample inputs")
    args = parser.parse_args()
    for flag in ("batch", "threads", "iters"):
        if getattr(args, flag) < 1:
            sys.exit(f"ort_forward.py: error: --{flag} is {getattr(args, flag)}; expected >= 1")

    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    feeds = sample_inputs.make_inputs(args.model, args.batch, args.seed)

    for _ in range(args.warmup):
        session.run(None, feeds)
    times_ms = []
    for _ in range(args.iters):
        start = time.perf_counter_ns()
        session.run(None, feeds)
        times_ms.append((time.perf_counter_ns() - start) / 1e6)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps({
        "model": os.path.splitext(os.path.basename(args.model))[0],
        "batch": args.batch,
        "threads": args.threads,
        "median_ms": round(float(np.median(times_ms)), 4),
        "p90_ms": round(float(np.percentile(times_ms, 90)), 4),
        "peak_rss_mb": round(peak_mb, 1),
    }))


if __name__ == "__main__":
    main()
