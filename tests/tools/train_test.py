"""End-to-end checks of `fleet-run JOB --data ...` (training) as a user runs it.

The job is tests/tools/data/linreg: linear regression y = x·w + b with MSE, its backward ops and
SGD updates written by hand. The references are independent of Fleet: NumPy running the same SGD
steps in float32, and the closed-form least-squares solution; the exported model is run by ONNX
Runtime. Bad input must end with one clear line naming the thing and a non-zero exit.

Usage: train_test.py --bin-dir BUILD/tools
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ARGS = None
JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "linreg")
LR = np.float32(0.1)
TRUE_W = np.array([[1.5], [-2.0], [0.5]], np.float32)
TRUE_B = np.float32(0.3)


def run(*cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120)


def sgd_reference(x, y, batch, epochs):
    """The job's SGD steps in float32: returns (w, b, per-step losses before each update)."""
    w = np.zeros((3, 1), np.float32)
    b = np.zeros((1,), np.float32)
    losses = []
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            diff = xb @ w + b - yb
            losses.append(float(np.mean(diff * diff)))
            grad = diff * np.float32(2) / np.float32(diff.size)
            w = w - LR * (xb.T @ grad)
            b = b - LR * grad.sum(axis=0)
    return w, b, losses


class TrainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.fleet_run = os.path.join(ARGS.bin_dir, "fleet-run")
        rng = np.random.default_rng(0)
        cls.x = rng.standard_normal((200, 3)).astype(np.float32)
        noise = 0.05 * rng.standard_normal((200, 1))
        cls.y = (cls.x @ TRUE_W + TRUE_B + noise).astype(np.float32)
        cls.data = cls.make_data("data", x=cls.x, y=cls.y)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def make_data(cls, name, **columns):
        path = os.path.join(cls.dir, name)
        os.makedirs(path, exist_ok=True)
        for column, values in columns.items():
            np.save(os.path.join(path, column + ".npy"), values)
        return path

    def path(self, name):
        return os.path.join(self.dir, name)

    def train(self, *flags, data=None, job=JOB):
        r = run(self.fleet_run, job, "--data", data or self.data, *flags)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def weights(self, ckpt):
        return np.load(os.path.join(ckpt, "w.npy")), np.load(os.path.join(ckpt, "b.npy"))

    def metrics(self, path):
        with open(path) as f:
            return [json.loads(line) for line in f]

    def assert_fails_with(self, result, *fragments):
        self.assertNotEqual(result.returncode, 0, result.stdout)
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        self.assertTrue(lines, "no error message")
        last = lines[-1]
        self.assertTrue(last.startswith("fleet-run: error: "), result.stderr)
        for f in fragments:
            self.assertIn(f, last)

    def test_steps_match_numpy_sgd(self):
        # 200 records in batches of 64: the last batch of each epoch has 8 records.
        ckpt, log = self.path("ckpt_numpy"), self.path("numpy.jsonl")
        r = self.train("--batch", 64, "--epochs", 3, "--save", ckpt, "--metrics-out", log)
        w_ref, b_ref, losses = sgd_reference(self.x, self.y, 64, 3)
        w, b = self.weights(ckpt)
        np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, b_ref, rtol=1e-5, atol=1e-6)
        lines = self.metrics(log)
        self.assertEqual([l["step"] for l in lines], list(range(1, 13)))
        self.assertEqual([l["epoch"] for l in lines], [0] * 4 + [1] * 4 + [2] * 4)
        np.testing.assert_allclose([l["loss"] for l in lines], losses, rtol=1e-5)
        self.assertTrue(all(l["samples_per_sec"] > 0 for l in lines))
        # elapsed_sec grows step by step and is the time the samples/s count over: 64 records
        # a step, 8 in each epoch's last.
        elapsed = [l["elapsed_sec"] for l in lines]
        self.assertTrue(elapsed[0] > 0 and elapsed == sorted(elapsed), elapsed)
        done = np.cumsum(([64] * 3 + [8]) * 3)
        np.testing.assert_allclose([l["samples_per_sec"] * l["elapsed_sec"] for l in lines], done,
                                   rtol=1e-6)
        self.assertRegex(r.stdout, r"trained 12 steps, 600 samples in .* 1 thread\); final loss")
        self.assertIn(f"final loss {losses[-1]:.6g}", r.stdout)

    def test_converges_to_least_squares(self):
        ckpt = self.path("ckpt_lstsq")
        self.train("--batch", 50, "--epochs", 40, "--save", ckpt)
        design = np.hstack([self.x, np.ones((200, 1), np.float32)]).astype(np.float64)
        solution = np.linalg.lstsq(design, self.y.astype(np.float64), rcond=None)[0]
        w, b = self.weights(ckpt)
        np.testing.assert_allclose(w, solution[:3], atol=2e-3)
        np.testing.assert_allclose(b, solution[3], atol=2e-3)

    def test_hogwild_threads_converge(self):
        ckpt, log = self.path("ckpt_hogwild"), self.path("hogwild.jsonl")
        r = self.train("--batch", 20, "--epochs", 20, "--threads", 2, "--save", ckpt,
                       "--metrics-out", log, "--shuffle", "--seed", 5)
        self.assertIn("2 threads", r.stdout)
        self.assertEqual(len(self.metrics(log)), 200)  # every batch ran exactly once
        w, b = self.weights(ckpt)
        np.testing.assert_allclose(w, TRUE_W, atol=0.03)
        np.testing.assert_allclose(b, [TRUE_B], atol=0.03)

    def test_seed_makes_shuffled_runs_repeat(self):
        results = []
        for name, seed in (("s1", 7), ("s2", 7), ("s3", 8)):
            self.train("--batch", 32, "--epochs", 2, "--shuffle", "--seed", seed,
                       "--save", self.path(name))
            results.append(self.weights(self.path(name)))
        np.testing.assert_array_equal(results[0][0], results[1][0])
        self.assertFalse(np.array_equal(results[0][0], results[2][0]))
        unshuffled = sgd_reference(self.x, self.y, 32, 2)[0]
        self.assertFalse(np.allclose(results[0][0], unshuffled, rtol=0, atol=1e-7))

    def test_steps_and_log_every(self):
        log = self.path("steps.jsonl")
        r = self.train("--batch", 64, "--steps", 10, "--log-every", 4, "--metrics-out", log)
        self.assertEqual([l["step"] for l in self.metrics(log)], [4, 8, 10])
        # Plain progress lines (standard error is not a terminal here) every 4 steps.
        steps = re.findall(r"step (\d+)/10", r.stderr)
        self.assertEqual(steps, ["4", "8", "10"])
        self.assertIn("epoch 3/3", r.stderr)  # --steps alone runs as many epochs as needed

    def test_save_and_load_continue_exactly(self):
        straight, first, resumed = (self.path(n) for n in ("straight", "first", "resumed"))
        self.train("--batch", 64, "--epochs", 3, "--save", straight)
        self.train("--batch", 64, "--epochs", 2, "--save", first)
        log = self.path("resumed.jsonl")
        r = self.train("--batch", 64, "--epochs", 1, "--load", first, "--save", resumed,
                       "--metrics-out", log)
        self.assertIn("trained 4 steps (9-12)", r.stdout)
        self.assertEqual([l["step"] for l in self.metrics(log)], [9, 10, 11, 12])
        for a, b in zip(self.weights(straight), self.weights(resumed)):
            np.testing.assert_array_equal(a, b)
        with open(os.path.join(resumed, "manifest.json")) as f:
            self.assertEqual(json.load(f)["step"], 12)

    def test_save_every_keeps_the_latest(self):
        ckpt = self.path("every")
        self.train("--batch", 64, "--steps", 6, "--save", ckpt, "--save-every", 4)
        with open(os.path.join(ckpt, "manifest.json")) as f:
            self.assertEqual(json.load(f)["step"], 6)
        self.assertEqual(sorted(os.listdir(self.dir)).count("every"), 1)
        self.assertFalse([n for n in os.listdir(self.dir) if n.startswith("every.")])

    def test_export_runs_in_onnxruntime(self):
        import onnx
        import onnxruntime as ort
        model, ckpt = self.path("trained.onnx"), self.path("ckpt_export")
        self.train("--batch", 64, "--epochs", 2, "--save", ckpt, "--export", model)
        graph = onnx.load(model).graph
        self.assertEqual([i.name for i in graph.input], ["x"])  # the label is gone
        self.assertEqual([o.name for o in graph.output], ["pred"])
        self.assertEqual(sorted(n.op_type for n in graph.node), ["Add", "MatMul"])
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        got = session.run(["pred"], {"x": self.x[:5]})[0]
        w, b = self.weights(ckpt)
        np.testing.assert_allclose(got, self.x[:5] @ w + b, rtol=1e-5, atol=1e-6)
        # --load with --export and no data exports the checkpoint without training.
        again = self.path("again.onnx")
        r = run(self.fleet_run, JOB, "--load", ckpt, "--export", again)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(step ", r.stdout)
        with open(model, "rb") as f1, open(again, "rb") as f2:
            self.assertEqual(f1.read(), f2.read())

    # Bad input: one clear line naming the thing, and a non-zero exit.

    def test_label_of_the_wrong_dtype(self):
        data = self.make_data("y_f64", x=self.x, y=self.y.astype(np.float64))
        r = run(self.fleet_run, JOB, "--data", data)
        self.assert_fails_with(r, data, "column 'y' is f64[64,1]", "feeds 'y' as f32[?,1]")

    def test_columns_not_matching_the_inputs(self):
        data = self.make_data("x_wide", x=np.hstack([self.x, self.x[:, :1]]), y=self.y)
        r = run(self.fleet_run, JOB, "--data", data)
        self.assert_fails_with(r, "column 'x' is f32[64,4]", "as f32[?,3]", "dimension 1")
        data = self.make_data("no_label", x=self.x)
        r = run(self.fleet_run, JOB, "--data", data)
        self.assert_fails_with(r, "no_label", "y.npy")

    def copy_job(self, name, edit):
        job = self.path(name)
        shutil.copytree(JOB, job, dirs_exist_ok=True)
        main = os.path.join(job, "main.program")
        with open(main) as f:
            text = f.read()
        with open(main, "w") as f:
            f.write(edit(text))
        return job

    def test_checkpoint_of_another_program(self):
        ckpt = self.path("ckpt_other")
        self.train("--batch", 64, "--steps", 1, "--save", ckpt)
        more_state = self.copy_job("job_more", lambda t: t.replace(
            "  var %learning_rate", "  var %velocity : f32[3,1] persistable\n  var %learning_rate"))
        r = run(self.fleet_run, more_state, "--data", self.data, "--load", ckpt)
        self.assert_fails_with(r, ckpt, "no var 'velocity'", "another program")
        renamed = self.copy_job("job_renamed", lambda t: t.replace("%xw", "%xw_renamed"))
        r = run(self.fleet_run, renamed, "--data", self.data, "--load", ckpt)
        self.assert_fails_with(r, ckpt, "was saved from another program")

    def test_nan_loss_stops_with_the_step_and_a_hint(self):
        x = self.x.copy()
        x[130, 1] = np.nan  # in the third batch of 64
        data = self.make_data("nan", x=x, y=self.y)
        r = run(self.fleet_run, JOB, "--data", data, "--batch", 64)
        self.assert_fails_with(r, "step 3:", "loss 'loss' is nan", "--check-nan")
        r = run(self.fleet_run, JOB, "--data", data, "--batch", 64, "--check-nan")
        self.assert_fails_with(r, "step 3: ", "main.program:26:3: op 'fc' (MatMul) produced NaN "
                               "in output 'xw'")

    def test_a_device_that_cannot_be_used(self):
        r = run(self.fleet_run, JOB, "--data", self.data, "--device", "gpu:0")
        self.assert_fails_with(r, "--device: unknown device 'gpu:0'", "expected cpu, cuda, or cuda:N")
        # No GPU on this machine (a CUDA build), or no CUDA in this fleet-run: either way it
        # says so and trains nothing.
        r = run(self.fleet_run, JOB, "--data", self.data, "--device", "cuda:0")
        if r.returncode == 0:
            self.skipTest("this machine has a GPU: tests/kernels/cuda cover it")
        self.assert_fails_with(r, "--device cuda:0: ", "--device cpu runs on the host")
        self.assertNotIn("trained", r.stdout)

    def test_program_without_optimizer_ops(self):
        r = run(self.fleet_run, os.path.join(JOB, "startup.program"), "--data", self.data)
        self.assert_fails_with(r, "has no optimizer ops", "--infer")

    def test_help_explains_the_training_flags(self):
        r = run(self.fleet_run, "--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--data", "--batch", "--epochs", "--steps", "--threads", "--seed",
                     "--shuffle", "--metrics-out", "--log-every", "--save", "--save-every",
                     "--load", "--export", "--check-nan", "--infer", "--device", "--no-tf32"):
            self.assertIn(flag, r.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
