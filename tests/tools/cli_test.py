"""End-to-end checks of the command-line tools as a user runs them.

fleet-run's output is compared with NumPy computing the same MLP from the model's own
initializers (an independent reference); bad input must give one clear line naming the file and
the problem, and a non-zero exit.

Usage: cli_test.py --bin-dir BUILD/tools --models-script models/generate.py
"""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import numpy_helper

ARGS = None


def run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        subprocess.run([sys.executable, ARGS.models_script, "--out", cls.dir, "--only", "mlp"],
                       check=True, capture_output=True)
        cls.model = os.path.join(cls.dir, "mlp.onnx")
        cls.fleet_run = os.path.join(ARGS.bin_dir, "fleet-run")
        cls.inspect = os.path.join(ARGS.bin_dir, "fleet-inspect")
        cls.transpile = os.path.join(ARGS.bin_dir, "fleet-transpile")
        rng = np.random.default_rng(0)
        cls.x = rng.standard_normal((3, 784)).astype(np.float32)
        cls.x_path = os.path.join(cls.dir, "x.npy")
        np.save(cls.x_path, cls.x)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def reference_logits(self):
        weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(self.model).graph.initializer}
        h = self.x.astype(np.float64)
        for i, act in ((1, True), (2, True), (3, False)):
            h = h @ weights[f"fc{i}.weight"].T + weights[f"fc{i}.bias"]
            if act:
                h = np.maximum(h, 0)
        return h

    def test_infer_matches_numpy(self):
        out = os.path.join(self.dir, "out")
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={self.x_path}",
                "--output-dir", out, "--threads", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = np.load(os.path.join(out, "logits.npy"))
        self.assertEqual(got.shape, (3, 10))
        np.testing.assert_allclose(got, self.reference_logits(), rtol=1e-4, atol=1e-4)

    def test_infer_on_a_device(self):
        out = os.path.join(self.dir, "out_device")
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={self.x_path}",
                "--output-dir", out, "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        np.testing.assert_allclose(np.load(os.path.join(out, "logits.npy")),
                                   self.reference_logits(), rtol=1e-4, atol=1e-4)
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={self.x_path}",
                "--device", "gpu:0")
        self.assert_fails_with(r, "--device: unknown device 'gpu:0'")
        # Without a usable GPU (no GPU here, or no CUDA in this build) it says why and writes
        # nothing; with one, the outputs match NumPy within TF32's tolerance.
        gpu_out = os.path.join(self.dir, "out_gpu")
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={self.x_path}",
                "--output-dir", gpu_out, "--device", "cuda:0")
        if r.returncode == 0:
            self.assertIn("running on cuda:0", r.stderr)
            np.testing.assert_allclose(np.load(os.path.join(gpu_out, "logits.npy")),
                                       self.reference_logits(), rtol=2e-2, atol=2e-2)
        else:
            self.assert_fails_with(r, "--device cuda:0: ", "--device cpu runs on the host")
            self.assertFalse(os.path.exists(gpu_out))

    def assert_fails_with(self, result, *fragments):
        self.assertNotEqual(result.returncode, 0, result.stdout)
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, result.stderr)
        for f in fragments:
            self.assertIn(f, lines[0])

    def test_wrong_dtype_names_file_and_expectation(self):
        bad = os.path.join(self.dir, "x64.npy")
        np.save(bad, self.x.astype(np.float64))
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={bad}")
        self.assert_fails_with(r, "x64.npy", "f64[3,784]", "expected f32[?,784]")

    def test_wrong_shape(self):
        bad = os.path.join(self.dir, "x_short.npy")
        np.save(bad, self.x[:, :100])
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={bad}")
        self.assert_fails_with(r, "x_short.npy", "expected f32[?,784]")

    def test_missing_and_unknown_inputs(self):
        self.assert_fails_with(run(self.fleet_run, self.model, "--infer"),
                               "input 'x'", "is not given")
        r = run(self.fleet_run, self.model, "--infer", "--input", f"y={self.x_path}")
        self.assert_fails_with(r, "has no input 'y'", "inputs are: x")

    def test_corrupt_model_and_npy(self):
        cut = os.path.join(self.dir, "cut.onnx")
        with open(self.model, "rb") as f, open(cut, "wb") as g:
            g.write(f.read()[:1000])
        self.assert_fails_with(run(self.fleet_run, cut, "--infer"), "cut.onnx", "not an ONNX model")
        junk = os.path.join(self.dir, "junk.npy")
        with open(junk, "wb") as f:
            f.write(b"not numpy")
        r = run(self.fleet_run, self.model, "--infer", "--input", f"x={junk}")
        self.assert_fails_with(r, "junk.npy", "not an .npy file")

    def test_inspect_text_round_trips_through_a_file(self):
        text = os.path.join(self.dir, "mlp.program.txt")
        r = run(self.inspect, self.model, "-o", text)
        self.assertEqual(r.returncode, 0, r.stderr)
        again = run(self.inspect, text)
        self.assertEqual(again.returncode, 0, again.stderr)
        with open(text) as f:
            self.assertEqual(again.stdout, f.read())
        self.assertIn("Gemm(A: %x, B: %fc1.weight, C: %fc1.bias)", again.stdout)

    def test_inspect_summary_counts_parameters(self):
        inits = onnx.load(self.model).graph.initializer
        elements = sum(int(np.prod(t.dims)) for t in inits)
        r = run(self.inspect, self.model, "--summary")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"parameters: {len(inits)} tensors, {elements} elements", r.stdout)
        self.assertIn("3  Gemm", r.stdout)
        self.assertIn("input  x: f32[?,784]", r.stdout)

    def test_inspect_dot_and_bad_file(self):
        r = run(self.inspect, self.model, "--dot")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("digraph program {"))
        self.assertEqual(r.stdout.count("shape=box"), 5)
        notprog = os.path.join(self.dir, "notes.txt")
        with open(notprog, "w") as f:
            f.write("hello\n")
        self.assert_fails_with(run(self.inspect, notprog), "notes.txt")

    def test_transpile_writes_a_job_folder_the_other_tools_read(self):
        job = os.path.join(self.dir, "job")
        r = run(self.transpile, self.model, "-o", job, "--strategy", "single", "--loss",
                "softmax_ce", "--optimizer", "sgd", "--lr", "0.1")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3, r.stdout)  # one per program, then the manifest
        for line, file in zip(lines, ("main.program", "startup.program", "manifest.pbtxt")):
            self.assertTrue(line.startswith(f"fleet-transpile: wrote {os.path.join(job, file)}: "),
                            line)
        self.assertIn("2 program(s)", lines[2])
        self.assertEqual(sorted(os.listdir(job)),
                         ["main.program", "manifest.pbtxt", "startup.program"])
        with open(os.path.join(job, "manifest.pbtxt")) as f:
            manifest = f.read()
        self.assertIn('name: "main"\n  file: "main.program"\n  role: MAIN', manifest)
        self.assertIn('name: "startup"\n  file: "startup.program"\n  role: STARTUP', manifest)

        # fleet-inspect prints every program of the folder, each under its header.
        r = run(self.inspect, job)
        self.assertEqual(r.returncode, 0, r.stderr)
        headers = [l for l in r.stdout.splitlines() if l.startswith("# program ")]
        self.assertEqual(headers, ['# program "main"', '# program "startup"'])
        self.assertIn("fleet.sgd(", r.stdout)
        self.assertIn("fleet.fill_constant(", r.stdout)

        # Writing another job into the folder leaves no program of the old one behind.
        r = run(self.transpile, self.model, "-o", job, "--passes", "dce")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(job)), ["main.program", "manifest.pbtxt"])

        # A broken manifest is one line naming the file and the line.
        with open(os.path.join(job, "manifest.pbtxt"), "a") as f:
            f.write("programs { name: \n")
        self.assert_fails_with(run(self.inspect, job), "manifest.pbtxt:", ": error: ")
        os.remove(os.path.join(job, "manifest.pbtxt"))
        self.assert_fails_with(run(self.inspect, job), job, "not a job folder")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--models-script", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
