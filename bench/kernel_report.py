"""What explains a benchmark's Fleet/peer ratio, printed by bench/forward_bench.py (peer: ONNX
Runtime) and bench/train_bench.py (peer: PyTorch) under their tables:

  machine: the CPU model (with CPUID family and model, which BLAS libraries match on to pick their
           kernels), logical and usable cores, and the ISA flags that decide kernels
  env:     per side, every environment variable that changes its kernels or threads, with the
           value that side runs with (* marks those the benchmark sets)
  kernels: per side, the GEMM kernel it runs (Fleet: the level and SGEMM micro-kernel from the
           tool's --version)
  a GEMM table: both sides' GFLOP/s at each model's main GEMM shapes (bench/gemm_shapes.py),
           at 1 thread and the benchmark's thread counts. Fleet's come from fleet-bench-sgemm
           --shape (its SGEMM, fresh operands), the peer's from a peer-side script run with the
           peer's environment (bench/torch_kernels.py, bench/ort_kernels.py).
"""

import json
import os
import platform
import re
import shlex
import subprocess
import tempfile

from gemm_shapes import ShapeError, main_gemm_shapes

ISA_FLAGS = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
EXTRA_FLAGS = ["avx512_vnni", "avx512_bf16", "amx_tile"]
AVX512_CORE = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}
# Shown for every side, set or not; any other variable with these prefixes is shown when set.
KERNEL_ENV = ["FLEET_CPU_ISA", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
              "OMP_WAIT_POLICY", "ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA"]
KERNEL_ENV_PREFIXES = ("OPENBLAS_", "GOTO_", "OMP_", "GOMP_", "KMP_", "MKL_", "DNNL_", "ONEDNN_",
                       "ATEN_")


def cpu_info():
    """{"model", "family", "model_number", "flags"} from /proc/cpuinfo (first CPU)."""
    info = {"model": platform.processor() or platform.machine(), "family": None,
            "model_number": None, "flags": set()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "model name":
                    info["model"] = value
                elif key == "cpu family":
                    info["family"] = value
                elif key == "model":
                    info["model_number"] = value
                elif key == "flags":
                    info["flags"] = set(value.split())
                elif not key and info["flags"]:
                    break  # end of the first CPU's block
    except OSError:
        pass
    return info


def machine_lines(cpu):
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    ident = (f" (family {cpu['family']} model {cpu['model_number']})"
             if cpu["family"] is not None else "")
    flags = cpu["flags"]
    present = [f for f in ISA_FLAGS + EXTRA_FLAGS if f in flags]
    missing = [f for f in ISA_FLAGS + EXTRA_FLAGS if f not in flags]
    return [f"machine: {cpu['model']}{ident}, {cores} logical cores ({usable} usable), "
            f"{platform.system()} {platform.release()}",
            f"cpu flags: {' '.join(present) or '(none of the AVX flags)'}"
            f"{'; lacks ' + ' '.join(missing) if missing else ''}"]


def env_line(side, env, set_here=()):
    """"env SIDE: NAME=value ..." over KERNEL_ENV and any other kernel variable set in env; the
    names in set_here get a "*" (set by the benchmark)."""
    names = KERNEL_ENV + sorted(n for n in env if n.startswith(KERNEL_ENV_PREFIXES)
                                and n not in KERNEL_ENV)
    parts = [f"{n}={env[n] if n in env else '(unset)'}{'*' if n in set_here else ''}"
             for n in names]
    return f"env {side}: {' '.join(parts)}"


def run_text(cmd, timeout, env=None):
    """(exit code, stdout, stderr) of cmd; (None, "", reason) when it cannot run or times out."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)
    return proc.returncode, proc.stdout, proc.stderr


def run_json(name, cmd, timeout, env=None):
    """(the last JSON line cmd prints, None) or (None, error text)."""
    rc, out, err = run_text(cmd, timeout, env)
    if rc is None:
        return None, f"{name}: cannot run {shlex.join(cmd)}: {err}"
    if rc != 0:
        tail = "\n".join((err.strip() or out.strip()).splitlines()[-5:])
        return None, f"{name}: exit status {rc}: {shlex.join(cmd)}\n{tail}"
    lines = [line for line in out.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]), None
    except (IndexError, ValueError):
        return None, f"{name}: no JSON line in the output of {shlex.join(cmd)}:\n{out[-2000:]}"


def fleet_kernel(binary, timeout=60):
    """The "cpu kernels:" line of `binary --version`, e.g. "avx512 (detected); sgemm
    micro-kernel avx512 8x48 (fleet-run --version)", or "unknown (...)" for a binary without
    it."""
    if not binary:
        return "not measured"
    tool = os.path.basename(binary)
    rc, out, _ = run_text([binary, "--version"], timeout)
    match = re.search(r"^cpu kernels:\s*(.+)$", out, re.M) if rc == 0 else None
    if match:
        return f"{match.group(1).strip()} ({tool} --version)"
    return f"unknown ({tool} --version does not say: a build from before run-time kernel selection)"


def find_sgemm_bench(*folders):
    """The first executable fleet-bench-sgemm in `folders`, or None."""
    for folder in folders:
        path = os.path.normpath(os.path.join(folder, "fleet-bench-sgemm"))
        if os.access(path, os.X_OK):
            return path
    return None


def mlas_kernel(flags):
    """The SGEMM kernel MLAS (ONNX Runtime) dispatches to on a CPU with these flags."""
    if "avx512f" in flags:
        return "Avx512F"
    if {"avx2", "fma"} <= flags:
        return "Fma3"
    return "Avx" if "avx" in flags else "Sse"


def model_shapes(models, top=3):
    """[(model, batch, shape dict)] for (name, path, batch) triples, and the errors."""
    rows, errors = [], []
    for name, path, batch in models:
        try:
            rows += [(name, batch, shape) for shape in main_gemm_shapes(path, batch, top)]
        except ShapeError as e:
            errors.append(str(e))
    return rows, errors


def fleet_sgemm(binary, shapes, threads, reps, timeout):
    """{(m, n, k, threads): (Fleet GFLOP/s, OpenBLAS GFLOP/s)} from one fleet-bench-sgemm run,
    its "kernel:" line, and an error or None."""
    spec = ",".join(f"{m}x{n}x{k}" for m, n, k in shapes)
    cmd = [binary, "--shape", spec, "--threads", ",".join(map(str, threads)), "--reps", str(reps)]
    rc, out, err = run_text(cmd, timeout)
    if rc != 0:
        tail = "\n".join((err.strip() or out.strip()).splitlines()[-5:])
        return {}, None, f"fleet-bench-sgemm: exit status {rc}: {shlex.join(cmd)}\n{tail}"
    results = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"(\d+) x (\d+) x (\d+)", cells[0]) if len(cells) >= 4 else None
        if match:
            m, n, k = map(int, match.groups())
            results[(m, n, k, int(cells[1]))] = (float(cells[2]), float(cells[-1]))
    kernel = re.search(r"^kernel:\s*(.+)$", out, re.M)
    return results, kernel and kernel.group(1).strip(), None


def gemm_report(models, threads, peer, sgemm_binary, reps, timeout):
    """Measures the GEMM table: Fleet through sgemm_binary (None: not measured), the peer through
    peer.measure(shapes file, threads, reps) -> (results, error) and peer.kernel(shape, result).
    Returns (table lines, JSON records, errors, the "kernel:" line of fleet-bench-sgemm)."""
    rows, errors = model_shapes(models)
    unique = []  # the distinct products to time: {m, n, k, conv}
    for _, _, shape in rows:
        key = {"m": shape["m"], "n": shape["n"], "k": shape["k"], "conv": shape["conv"]}
        if key not in unique:
            unique.append(key)
    threads = sorted(set([1] + list(threads)))
    fleet, sgemm_kernel = {}, None
    if sgemm_binary and unique:
        fleet, sgemm_kernel, error = fleet_sgemm(
            sgemm_binary, sorted({(s["m"], s["n"], s["k"]) for s in unique}), threads, reps,
            timeout)
        if error:
            errors.append(error)
    peer_results = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as shapes_file:
        json.dump(unique, shapes_file)
        shapes_file.flush()
        for t in threads if unique else []:
            results, error = peer.measure(shapes_file.name, t, reps)
            if error:
                errors.append(error)
            peer_results[t] = results or [None] * len(unique)

    name = peer.name
    lines = [f"| model | batch | op | M x N x K | GEMMs/pass | FLOP share | threads | "
             f"Fleet GFLOP/s | {name} GFLOP/s | {name} kernel | {name} op GFLOP/s |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---|---:|"]
    records = []
    for model, batch, shape in rows:
        for t in threads:
            f_gflops, blas_gflops = fleet.get((shape["m"], shape["n"], shape["k"], t),
                                              (None, None))
            key = {"m": shape["m"], "n": shape["n"], "k": shape["k"], "conv": shape["conv"]}
            result = peer_results[t][unique.index(key)] if t in peer_results else None
            p_gflops = result and result.get("gflops")
            op_gflops = result and result.get("op_gflops")
            kernel = peer.kernel(shape, result)
            lines.append(
                f"| {model} | {batch} | {shape['op']} | {shape['m']} x {shape['n']} x "
                f"{shape['k']} | {shape['gemms']} | {shape['share']:.1%} | {t} | "
                f"{_num(f_gflops)} | {_num(p_gflops)} | {kernel} | {_num(op_gflops)} |")
            records.append({"kind": "gemm", "model": model, "batch": batch, **shape,
                            "threads": t, "fleet_gflops": f_gflops,
                            "fleet_process_openblas_gflops": blas_gflops, "peer": name,
                            "peer_gflops": p_gflops, "peer_op_gflops": op_gflops,
                            "peer_kernel": kernel, "peer_op_kernel": result
                            and result.get("op_kernel")})
    return lines, records, errors, sgemm_kernel


def _num(value):
    return "-" if value is None else f"{value:.1f}"


def gemm_legend(peer_name, peer_gemm, peer_op, sgemm_binary, sgemm_kernel, reps):
    """The lines that say what the GEMM table's columns measure."""
    fleet = (f"fleet-bench-sgemm --shape (Fleet's SGEMM, micro-kernel {sgemm_kernel or '?'})"
             if sgemm_binary else "not measured (no fleet-bench-sgemm)")
    return [
        "GEMMs: each model's top 3 GEMM shapes by FLOPs in one forward pass at the benchmark batch "
        "(ONNX shape inference; Conv as its im2col product M = Cout/group, K = Cin/group*kh*kw, "
        "N = batch*Hout*Wout); GEMMs/pass = GEMMs of that shape per pass, FLOP share = their "
        "share of the pass's GEMM FLOPs",
        f"GFLOP/s: row-major C = A B, fresh operands, median of {max(3, reps)} calls after a "
        f"warm-up (fewer above 8 GFLOP a call, at least 3), at 1 thread and the benchmark's; "
        f"Fleet: {fleet}; {peer_name}: {peer_gemm}; {peer_name} op: {peer_op}",
    ]
