"""Times ONNX Runtime's GEMMs at given shapes: the ORT half of the kernel report of
bench/forward_bench.py. Prints one JSON line:
  {"onnxruntime": "1.23.2", "threads": T,
   "results": [{"gflops": x, "op_gflops": y, "op_kernel": "NCHWc Conv"}, ...]}

--shapes FILE holds a JSON list of {"m", "n", "k", "conv"} (bench/gemm_shapes.py). Each shape is
timed as a one-node model: MatMul(A[M,K], B[K,N]) with both operands as inputs (no weight
prepacking, as fleet-bench-sgemm times Fleet's SGEMM), run through I/O binding into a
preallocated output; "gflops" is the median of R timed runs after one warm-up. A Conv shape
with a geometry also gets "op_gflops": a one-Conv model of the layer (weights as an initializer,
as in the model), counted as its im2col FLOPs, and "op_kernel": the node ORT's graph
optimisations turned it into (e.g. the NCHWc Conv of its layout transformer). MLAS, ORT's GEMM
library, picks its kernels from CPUID; nothing in the environment changes them.

Session as bench/ort_forward.py's: CPU execution provider, intra_op_num_threads=T, one inter-op
thread, sequential, ORT_ENABLE_ALL.

  ort_kernels.py --threads T --shapes FILE [--reps R]
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def session(model, threads, optimized_path=None):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_path:
        options.optimized_model_filepath = optimized_path
        options.log_severity_level = 3  # not the warning that the saved model is CPU-specific
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def one_node_model(node, inputs, output, initializers=()):
    graph = helper.make_graph([node], "kernel", inputs, [output], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def median_seconds(reps, flops, fn):
    """fleet-bench-sgemm's rule: one warm-up, then the median of max(3, scaled reps) calls."""
    fn()
    count = max(3, int(reps * min(1.0, 2e9 / flops * 4)))
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def time_bound(sess, feeds, output_shape, reps, flops):
    """Median seconds of sess.run_with_iobinding with inputs and output bound once."""
    binding = sess.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, array)
    out = ort.OrtValue.ortvalue_from_numpy(np.empty(output_shape, np.float32))
    binding.bind_ortvalue_output(sess.get_outputs()[0].name, out)
    return median_seconds(reps, flops, lambda: sess.run_with_iobinding(binding))


def optimized_op(path):
    """The op the one Conv became after ORT's graph optimisations, e.g. "NCHWc Conv"."""
    nodes = onnx.load(path).graph.node
    convs = [n for n in nodes if n.op_type.endswith("Conv")]
    if not convs:
        return "unknown"
    domain = convs[0].domain
    return {"com.microsoft.nchwc": "NCHWc Conv", "com.microsoft": "FusedConv"}.get(
        domain, "Conv (im2col + MLAS SGEMM)")


def time_shape(shape, threads, reps, rng):
    m, n, k = shape["m"], shape["n"], shape["k"]
    f32 = TensorProto.FLOAT
    model = one_node_model(helper.make_node("MatMul", ["A", "B"], ["C"]),
                           [helper.make_tensor_value_info("A", f32, [m, k]),
                            helper.make_tensor_value_info("B", f32, [k, n])],
                           helper.make_tensor_value_info("C", f32, [m, n]))
    feeds = {"A": rng.uniform(-1, 1, (m, k)).astype(np.float32),
             "B": rng.uniform(-1, 1, (k, n)).astype(np.float32)}
    flops = 2.0 * m * n * k
    seconds = time_bound(session(model, threads), feeds, (m, n), reps, flops)
    result = {"gflops": round(flops / seconds * 1e-9, 2)}
    g = shape.get("conv")
    if g:
        x_shape = [g["batch"], g["in_channels"], g["height"], g["width"]]
        w = rng.uniform(-1, 1, [g["out_channels"], g["in_channels"] // g["group"]] +
                        g["kernel"]).astype(np.float32)
        node = helper.make_node("Conv", ["X", "W"], ["Y"], strides=g["strides"],
                                pads=g["pads"] * 2, dilations=g["dilations"], group=g["group"],
                                kernel_shape=g["kernel"])
        model = one_node_model(node, [helper.make_tensor_value_info("X", f32, x_shape)],
                               helper.make_tensor_value_info("Y", f32, None),
                               [numpy_helper.from_array(w, "W")])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "optimized.onnx")
            sess = session(model, threads, path)
            result["op_kernel"] = optimized_op(path)
        x = rng.uniform(-1, 1, x_shape).astype(np.float32)
        y_shape = sess.run(None, {"X": x})[0].shape
        layer_flops = flops * g["group"]
        seconds = time_bound(sess, {"X": x}, y_shape, reps, layer_flops)
        result["op_gflops"] = round(layer_flops / seconds * 1e-9, 2)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True, help="intra-op threads")
    parser.add_argument("--shapes", required=True, help="JSON file of shapes to time")
    parser.add_argument("--reps", type=int, default=20, help="timed runs per shape (scaled)")
    args = parser.parse_args()
    if args.threads < 1 or args.reps < 1:
        sys.exit("ort_kernels.py: error: --threads and --reps must be >= 1")
    with open(args.shapes) as f:
        shapes = json.load(f)
    rng = np.random.default_rng(1)
    print(json.dumps({"onnxruntime": ort.__version__, "threads": args.threads,
                      "results": [time_shape(s, args.threads, args.reps, rng) for s in shapes]}),
          flush=True)


if __name__ == "__main__":
    main()
