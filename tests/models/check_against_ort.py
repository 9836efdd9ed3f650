"""Runs one model through fleet-run and ONNX Runtime on the same seeded inputs and compares every
graph output.

  check_against_ort.py --fleet-run PATH --model M.onnx --batch B [--rtol R] [--atol A] [--seed S]

Inputs come from models/sample_inputs.py. ONNX Runtime (CPU execution provider, graph
optimisations off so each node runs as written) is the reference. fleet-run is called as
  fleet-run M.onnx --infer --input NAME=DIR/NAME.npy ... --output-dir OUT
and must write OUT/<output name>.npy for every graph output. An output passes when its shape and
dtype match and every element satisfies |fleet - ort| <= atol + rtol * |ort| (numpy.allclose; NaN
only where ORT has NaN). Prints one line per model:
  model: mlp.onnx batch 4: max abs err X, max rel err Y (rtol R, atol A) PASS
where the relative error is |fleet - ort| / max(|ort|, atol). Exit status: 0 pass, 1 mismatch or
missing output, 2 fleet-run failed or could not run, 3 bad arguments or reference failure.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "models"))
import sample_inputs  # noqa: E402


def run_ort(model_path, inputs):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def run_fleet(fleet_run, model_path, input_paths, out_dir, timeout):
    cmd = [fleet_run, model_path, "--infer"]
    for name, path in input_paths.items():
        cmd += ["--input", f"{name}={path}"]
    cmd += ["--output-dir", out_dir]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return f"cannot execute '{fleet_run}'"
    except subprocess.TimeoutExpired:
        return f"fleet-run did not finish in {timeout}s: {' '.join(cmd)}"
    if proc.returncode != 0:
        return (f"fleet-run exited with status {proc.returncode}: {' '.join(cmd)}\n"
                f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}")
    return None


def compare(name, got, want, rtol, atol):
    """Returns (max abs err, max rel err, problem or None)."""
    if got.shape != want.shape:
        return None, None, f"output '{name}' has shape {list(got.shape)}; expected " \
                           f"{list(want.shape)}"
    if got.dtype != want.dtype:
        return None, None, f"output '{name}' has dtype {got.dtype}; expected {want.dtype}"
    if want.size == 0:
        return 0.0, 0.0, None
    if not np.issubdtype(want.dtype, np.number):
        equal = np.array_equal(got, want)
        return (0.0, 0.0, None) if equal else (None, None, f"output '{name}' differs")
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    nan_mismatch = np.isnan(g) != np.isnan(w)
    both_finite = np.isfinite(g) & np.isfinite(w)
    diff = np.where(both_finite, np.abs(g - w), 0.0)
    # Infinities must match exactly.
    inf_mismatch = ~both_finite & ~np.isnan(w) & (g != w)
    max_abs = float(diff.max())
    max_rel = float((diff / np.maximum(np.abs(w), atol)).max())
    bad = (diff > atol + rtol * np.abs(w)) | nan_mismatch | inf_mismatch
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), bad.shape)
        return max_abs, max_rel, (f"output '{name}': {int(bad.sum())} of {bad.size} elements "
                                  f"differ; first at {list(map(int, first))}: fleet "
                                  f"{float(got[first]):.8g}, ort {float(want[first]):.8g}")
    return max_abs, max_rel, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-run", required=True, help="path of the fleet-run binary")
    parser.add_argument("--model", required=True, help="path of the .onnx model")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0, help="seed for the sample inputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds fleet-run may take")
    parser.add_argument("--keep", action="store_true",
                        help="keep the inputs and outputs directory (printed)")
    args = parser.parse_args()

    label = f"model: {os.path.basename(args.model)} batch {args.batch}"
    if args.batch < 1:
        print(f"{label}: error: --batch must be >= 1")
        return 3
    try:
        inputs = sample_inputs.make_inputs(args.model, args.batch, args.seed)
        want = run_ort(args.model, inputs)
    except Exception as e:  # any reference failure is reported, not compared
        print(f"{label}: error: reference run failed: {type(e).__name__}: {e}")
        return 3

    work = tempfile.mkdtemp(prefix="fleet-check-")
    try:
        input_paths = sample_inputs.write_inputs(inputs, os.path.join(work, "inputs"))
        out_dir = os.path.join(work, "outputs")
        os.makedirs(out_dir)
        error = run_fleet(args.fleet_run, args.model, input_paths, out_dir, args.timeout)
        if error:
            print(f"{label}: FAIL\n{error}")
            return 2

        problems, max_abs, max_rel, compared = [], 0.0, 0.0, 0
        for name, expected in want.items():
            path = os.path.join(out_dir, sample_inputs.file_name(name))
            if not os.path.exists(path):
                problems.append(f"output '{name}' missing: fleet-run wrote no {path}")
                continue
            a, r, problem = compare(name, np.load(path), expected, args.rtol, args.atol)
            if a is not None:
                max_abs, max_rel, compared = max(max_abs, a), max(max_rel, r), compared + 1
            if problem:
                problems.append(problem)
        verdict = "FAIL" if problems else "PASS"
        errors = (f"max abs err {max_abs:.3g}, max rel err {max_rel:.3g}" if compared
                  else "no outputs compared")
        print(f"{label}: {errors} (tolerance rtol {args.rtol:g}, atol {args.atol:g}) {verdict}")
        for problem in problems:
            print(f"  {problem}")
        return 1 if problems else 0
    finally:
        if args.keep:
            print(f"  files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
