"""Reports which kernels PyTorch runs in this process, and times its GEMMs at given shapes: the
torch half of the kernel report of bench/train_bench.py (bench/torch_kernel_env.py runs it with
the environment the training runs get). Prints one JSON line:
  {"torch": "1.13.0a0", "threads": T,
   "openblas": {"library": path, "core": "SkylakeX", "config": "...", "threads": T},
   "aten_capability": "AVX512", "aten_warnings": [...],
   "onednn": {"version": "v2.6.3", "isa": "Intel AVX-512 ...", "conv": "jit:avx512_core"},
   "results": [{"gflops": x, "op_gflops": y, "op_kernel": "mkldnn_convolution"}, ...]}

openblas.core is openblas_get_corename() of the OpenBLAS library mapped into this process (the
one torch's BLAS calls reach), so it shows what OPENBLAS_CORETYPE or OpenBLAS's own CPU
detection chose. aten_capability is the "CPU capability usage" that torch.__config__.show()
reports (ATEN_CPU_CAPABILITY picks it; torch warns and ignores a value its build lacks). With
--onednn, a small convolution runs with oneDNN's verbose log on (torch.backends.mkldnn.verbose,
captured from file descriptor 1) and oneDNN's ISA and convolution implementation are read from
it.

--shapes FILE holds a JSON list of {"m", "n", "k", "gemms", "conv"} (bench/gemm_shapes.py); each
gets "gflops": torch.mm(A[M,K], B[K,N], out=C), median of R timed calls after one warm-up, and
for Conv shapes with a geometry also "op_gflops": the layer's own F.conv2d (no grad), counted as
its im2col FLOPs, with "op_kernel", the convolution op torch dispatched to (profiler) and, for
oneDNN, its implementation, e.g. "mkldnn_convolution (jit:avx512_core)".

Needs PyTorch (Debian: /usr/bin/python3 with python3-torch):
  torch_kernels.py --threads T [--onednn] [--shapes FILE] [--reps R]
"""

import argparse
import ctypes
import json
import os
import re
import sys
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F


def openblas_info():
    """The OpenBLAS mapped into this process: library path, core name, config, threads."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps
                        if "openblas" in line.rsplit("/", 1)[-1].lower()})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return {"library": path, "core": lib.openblas_get_corename().decode(),
                    "config": lib.openblas_get_config().decode(),
                    "threads": lib.openblas_get_num_threads()}
        except (OSError, AttributeError):
            continue
    return {"library": None, "core": "not OpenBLAS (no libopenblas mapped)", "config": None,
            "threads": None}


def aten_capability():
    """("AVX512", [warnings]) from torch.__config__.show() (the first call computes it)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = torch.__config__.show()
    match = re.search(r"CPU capability usage:\s*(\S+)", config)
    version = re.search(r"(?:MKL-DNN|oneDNN)\s+(v[\d.]+)", config)
    return (match.group(1) if match else "unknown", [str(w.message) for w in caught],
            version.group(1) if version else None)


def onednn_verbose_log(fn):
    """Runs fn() with oneDNN's verbose log on, sent to a temporary file; returns the log."""
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile("w+") as log:
        sys.stdout.flush()
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn()
            libc.fflush(None)  # oneDNN writes through C's buffered stdout
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        return log.read()


def onednn_conv_impl(log):
    match = re.search(r"_verbose,exec,cpu,convolution,([^,]*)", log)
    return match.group(1) if match else None


def onednn_info():
    """oneDNN's ISA and the implementation of a small convolution, from its verbose log."""
    x, w = torch.randn(16, 16, 16, 16), torch.randn(32, 16, 3, 3)
    with torch.no_grad():
        log = onednn_verbose_log(lambda: F.conv2d(x, w, padding=1))
    isa = re.search(r"_verbose,info,cpu,isa:([^\n]*)", log)
    return {"isa": isa.group(1).strip() if isa else "unknown (no oneDNN log)",
            "conv": onednn_conv_impl(log) or "not oneDNN"}


def median_seconds(reps, flops, fn):
    """Median over max(3, reps scaled down for big products) timed calls, after one warm-up;
    the same rule as fleet-bench-sgemm, so both sides time alike."""
    fn()
    count = max(3, int(reps * min(1.0, 2e9 / flops * 4)))
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def conv_backend(x, w, geometry):
    """The convolution op torch dispatches this layer to, with oneDNN's implementation."""
    with torch.autograd.profiler.profile() as prof:
        log = onednn_verbose_log(lambda: conv_op(x, w, geometry))
    names = {e.name.split("::")[-1] for e in prof.function_events}
    for name in ("mkldnn_convolution", "_slow_conv2d_forward", "thnn_conv2d",
                 "slow_conv_dilated2d", "_nnpack_spatial_convolution"):
        if name in names:
            impl = onednn_conv_impl(log)
            return f"{name} ({impl})" if impl else name
    return "unknown"


def conv_op(x, w, g):
    return F.conv2d(x, w, stride=g["strides"], padding=g["pads"], dilation=g["dilations"],
                    groups=g["group"])


def time_shape(shape, reps):
    m, n, k = shape["m"], shape["n"], shape["k"]
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(m, k, generator=generator) * 2 - 1
    b = torch.rand(k, n, generator=generator) * 2 - 1
    c = torch.empty(m, n)
    flops = 2.0 * m * n * k
    result = {"gflops": round(flops / median_seconds(reps, flops, lambda: torch.mm(a, b, out=c))
                              * 1e-9, 2)}
    g = shape.get("conv")
    if g:
        x = torch.rand(g["batch"], g["in_channels"], g["height"], g["width"],
                       generator=generator)
        w = torch.rand(g["out_channels"], g["in_channels"] // g["group"], *g["kernel"],
                       generator=generator)
        layer_flops = flops * g["group"]
        with torch.no_grad():
            seconds = median_seconds(reps, layer_flops, lambda: conv_op(x, w, g))
            result["op_kernel"] = conv_backend(x, w, g)
        result["op_gflops"] = round(layer_flops / seconds * 1e-9, 2)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--onednn", action="store_true",
                        help="report oneDNN's ISA (runs a small convolution)")
    parser.add_argument("--shapes", help="JSON file of shapes to time")
    parser.add_argument("--reps", type=int, default=20, help="timed calls per shape (scaled)")
    args = parser.parse_args()
    if args.threads < 1 or args.reps < 1:
        sys.exit("torch_kernels.py: error: --threads and --reps must be >= 1")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    capability, aten_warnings, onednn_version = aten_capability()
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "openblas": openblas_info(), "aten_capability": capability,
              "aten_warnings": aten_warnings, "onednn": {"version": onednn_version}}
    if args.onednn:
        report["onednn"].update(onednn_info())
    if args.shapes:
        with open(args.shapes) as f:
            report["results"] = [time_shape(shape, args.reps) for shape in json.load(f)]
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
