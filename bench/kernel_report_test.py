"""Tests of the benchmarks' kernel report: GEMM shapes from ONNX graphs against hand-computed
products, the parsing of Fleet's tools, the environment lines, the choice and read-back of
PyTorch's kernel settings (with a stand-in for the torch probe), and ort_kernels.py on two tiny
shapes. Needs a python with onnx, onnxruntime and numpy (Fleet's .venv); not torch.

  .venv/bin/python bench/kernel_report_test.py
"""

import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gemm_shapes  # noqa: E402
import kernel_report  # noqa: E402
import torch_peer  # noqa: E402

F32 = TensorProto.FLOAT


def save_model(folder, nodes, inputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info(nodes[-1].output[0], F32, None)],
                              [numpy_helper.from_array(np.zeros(s, np.float32), n)
                               for n, s in initializers])
    path = os.path.join(folder, "model.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def fake_tool(folder, name, text, status=0):
    """An executable that prints `text` and exits with `status`, whatever its arguments."""
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\ncat <<'EOF'\n{text}\nEOF\nexit {status}\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class GemmShapesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_matmul_by_weights_folds_leading_dims_into_m(self):
        path = save_model(self.tmp.name, [helper.make_node("MatMul", ["x", "w"], ["y"])],
                          [helper.make_tensor_value_info("x", F32, ["batch", 7, 5])],
                          [("w", [5, 3])])
        [shape] = gemm_shapes.main_gemm_shapes(path, batch=4)
        self.assertEqual((shape["op"], shape["m"], shape["n"], shape["k"], shape["gemms"]),
                         ("MatMul", 28, 3, 5, 1))
        self.assertEqual(shape["flops"], 2 * 28 * 3 * 5)

    def test_batched_matmul_counts_one_gemm_per_batch_index(self):
        path = save_model(self.tmp.name, [helper.make_node("MatMul", ["q", "k"], ["s"])],
                          [helper.make_tensor_value_info("q", F32, ["batch", 2, 6, 4]),
                           helper.make_tensor_value_info("k", F32, ["batch", 2, 4, 6])])
        [shape] = gemm_shapes.main_gemm_shapes(path, batch=3)
        self.assertEqual((shape["m"], shape["n"], shape["k"], shape["gemms"]), (6, 6, 4, 6))

    def test_gemm_trans_b_and_ranking_by_flops(self):
        nodes = [helper.make_node("Gemm", ["x", "w1"], ["h"], transB=1),
                 helper.make_node("Gemm", ["h", "w2"], ["y"])]
        path = save_model(self.tmp.name, nodes,
                          [helper.make_tensor_value_info("x", F32, ["batch", 10])],
                          [("w1", [20, 10]), ("w2", [20, 2])])
        shapes = gemm_shapes.main_gemm_shapes(path, batch=8)
        self.assertEqual([(s["m"], s["n"], s["k"]) for s in shapes], [(8, 20, 10), (8, 2, 20)])
        self.assertAlmostEqual(shapes[0]["share"], 1600 / (1600 + 320))
        self.assertEqual(len(gemm_shapes.main_gemm_shapes(path, batch=8, top=1)), 1)

    def test_grouped_strided_conv_is_its_im2col_product_per_group(self):
        conv = helper.make_node("Conv", ["x", "w"], ["y"], group=2, strides=[2, 2],
                                pads=[1, 1, 1, 1], kernel_shape=[3, 3])
        path = save_model(self.tmp.name, [conv],
                          [helper.make_tensor_value_info("x", F32, ["batch", 4, 9, 9])],
                          [("w", [6, 2, 3, 3])])
        [shape] = gemm_shapes.main_gemm_shapes(path, batch=2)
        # Hout = Wout = (9 + 2 - 3) / 2 + 1 = 5; per group M = 6/2, K = 2*3*3, N = 2*5*5.
        self.assertEqual((shape["m"], shape["n"], shape["k"], shape["gemms"]), (3, 50, 18, 2))
        self.assertEqual(shape["conv"], {"batch": 2, "in_channels": 4, "height": 9, "width": 9,
                                         "out_channels": 6, "kernel": [3, 3], "strides": [2, 2],
                                         "pads": [1, 1], "dilations": [1, 1], "group": 2})

    def test_symbolic_inner_dimension_is_an_error(self):
        path = save_model(self.tmp.name, [helper.make_node("MatMul", ["x", "w"], ["y"])],
                          [helper.make_tensor_value_info("x", F32, ["batch", "seq", 5])],
                          [("w", [5, 3])])
        with self.assertRaisesRegex(gemm_shapes.ShapeError, "'seq' at index 1"):
            gemm_shapes.main_gemm_shapes(path, batch=2)


class FleetToolsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_sgemm_table_is_parsed_per_shape_and_threads(self):
        tool = fake_tool(self.tmp.name, "fleet-bench-sgemm", "\n".join([
            "kernel: avx2 6x16", "", "| M x N x K | threads | Fleet GFLOP/s | OpenBLAS GFLOP/s |",
            "|---|---|---|---|", "| 8 x 20 x 10 | 1 | 12.5 | 3.0 |",
            "| 8 x 20 x 10 | 2 | 20.0 | 5.5 |"]))
        results, kernel, error = kernel_report.fleet_sgemm(tool, [(8, 20, 10)], [1, 2], 3, 30)
        self.assertIsNone(error)
        self.assertEqual(kernel, "avx2 6x16")
        self.assertEqual(results, {(8, 20, 10, 1): (12.5, 3.0), (8, 20, 10, 2): (20.0, 5.5)})

    def test_sgemm_failure_is_reported(self):
        tool = fake_tool(self.tmp.name, "fleet-bench-sgemm", "bad --shape", status=2)
        _, _, error = kernel_report.fleet_sgemm(tool, [(1, 2, 3)], [1], 3, 30)
        self.assertRegex(error, "fleet-bench-sgemm: exit status 2: .*--shape 1x2x3")

    def test_kernel_line_from_version_or_unknown(self):
        new = fake_tool(self.tmp.name, "fleet-run", "fleet-run 0.3.0\ncpu kernels: avx2 "
                        "(FLEET_CPU_ISA=avx2); sgemm micro-kernel avx2 6x16")
        self.assertEqual(kernel_report.fleet_kernel(new),
                         "avx2 (FLEET_CPU_ISA=avx2); sgemm micro-kernel avx2 6x16 "
                         "(fleet-run --version)")
        old = fake_tool(self.tmp.name, "fleet-old", "model is required", status=106)
        self.assertRegex(kernel_report.fleet_kernel(old), r"^unknown \(fleet-old --version")


class EnvironmentTest(unittest.TestCase):
    def test_env_line_lists_kernel_variables_and_marks_those_set_here(self):
        line = kernel_report.env_line("torch", {"OPENBLAS_CORETYPE": "Haswell", "MKL_DEBUG": "1",
                                                "HOME": "/root"}, {"OPENBLAS_CORETYPE"})
        self.assertIn("OPENBLAS_CORETYPE=Haswell*", line)
        self.assertIn("FLEET_CPU_ISA=(unset)", line)
        self.assertIn("MKL_DEBUG=1", line)
        self.assertNotIn("HOME", line)

    def test_openblas_candidates_and_mlas_kernel_follow_the_flags(self):
        avx512 = {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"}
        self.assertEqual(torch_peer.openblas_candidates(avx512),
                         ["SkylakeX", "Haswell", "Sandybridge"])
        self.assertEqual(torch_peer.openblas_candidates({"avx", "avx2", "fma", "avx512f"}),
                         ["Haswell", "Sandybridge"])
        self.assertEqual(torch_peer.openblas_candidates({"sse3"}), [])
        self.assertEqual(kernel_report.mlas_kernel(avx512), "Avx512F")
        self.assertEqual(kernel_report.mlas_kernel({"avx", "avx2", "fma"}), "Fma3")


class FakeTorch(torch_peer.TorchPeer):
    """TorchPeer whose probe stands for a torch whose OpenBLAS knows only `cores` and whose
    ATen has AVX-512 kernels only if `avx512`."""

    def __init__(self, cores, avx512, as_installed=False, flags=None):
        self.cores, self.avx512, self.probes = cores, avx512, 0
        flags = flags or {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"}
        super().__init__("python", flags, as_installed, 10)

    def probe(self):
        self.probes += 1
        asked = self.overrides.get("OPENBLAS_CORETYPE")
        core = asked if asked in self.cores else "Prescott"
        aten = ("AVX512" if self.overrides.get("ATEN_CPU_CAPABILITY") == "avx512"
                and self.avx512 else "AVX2")
        return {"torch": "1.13", "openblas": {"core": core, "config": "OpenBLAS 0.3.21 x"},
                "aten_capability": aten, "onednn": {}}


class TorchKernelChoiceTest(unittest.TestCase):
    def test_best_settings_are_kept_when_they_read_back(self):
        with mock.patch.dict(os.environ, clear=False):
            for name in ("OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY"):
                os.environ.pop(name, None)
            peer = FakeTorch(cores=["SkylakeX", "Haswell"], avx512=True)
        self.assertEqual(peer.overrides, {"OPENBLAS_CORETYPE": "SkylakeX",
                                          "ATEN_CPU_CAPABILITY": "avx512"})
        self.assertEqual(peer.active["openblas"]["core"], "SkylakeX")
        self.assertEqual(peer.installed["openblas"]["core"], "Prescott")
        self.assertEqual(peer.env(3)["OPENBLAS_NUM_THREADS"], "3")
        self.assertEqual(peer.env(3)["OMP_WAIT_POLICY"], "PASSIVE")

    def test_settings_that_do_not_read_back_are_dropped(self):
        with mock.patch.dict(os.environ, clear=False):
            for name in ("OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY"):
                os.environ.pop(name, None)
            peer = FakeTorch(cores=["Haswell"], avx512=False)
        self.assertEqual(peer.overrides, {"OPENBLAS_CORETYPE": "Haswell"})
        self.assertEqual((peer.active["openblas"]["core"], peer.active["aten_capability"]),
                         ("Haswell", "AVX2"))
        notes = "\n".join(peer.notes)
        self.assertIn("OPENBLAS_CORETYPE=SkylakeX read back as Prescott", notes)
        self.assertIn("ATEN_CPU_CAPABILITY=avx512 read back as AVX2", notes)

    def test_caller_settings_and_as_installed_are_left_alone(self):
        with mock.patch.dict(os.environ, {"OPENBLAS_CORETYPE": "Prescott",
                                          "ATEN_CPU_CAPABILITY": "avx2"}):
            self.assertEqual(FakeTorch(cores=["SkylakeX"], avx512=True).overrides, {})
            peer = FakeTorch(cores=["SkylakeX"], avx512=True, as_installed=True)
            self.assertEqual(peer.env(1)["OPENBLAS_CORETYPE"], "Prescott")
        self.assertEqual(peer.overrides, {})
        self.assertEqual(peer.probes, 1)
        self.assertIn("--torch-as-installed", peer.header_lines()[0])


class GemmReportTest(unittest.TestCase):
    def test_rows_per_shape_and_thread_count_with_both_sides(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = save_model(tmp.name, [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
                          [helper.make_tensor_value_info("x", F32, ["batch", 10])],
                          [("w", [20, 10])])
        sgemm = fake_tool(tmp.name, "fleet-bench-sgemm", "kernel: k\n| 8 x 20 x 10 | 1 | 1.5 "
                          "| 9.0 |\n| 8 x 20 x 10 | 4 | 4.5 | 9.0 |")

        class Peer:
            name = "peer"

            def measure(self, shapes_file, threads, reps):
                with open(shapes_file) as f:
                    return [{"gflops": 10.0 * threads} for _ in json.load(f)], None

            def kernel(self, shape, result):
                return "K"

        lines, records, errors, kernel = kernel_report.gemm_report(
            [("m", path, 8)], [4], Peer(), sgemm, 3, 30)
        self.assertEqual(errors, [])
        self.assertEqual(kernel, "k")
        self.assertEqual(lines[2:], [
            "| m | 8 | Gemm | 8 x 20 x 10 | 1 | 100.0% | 1 | 1.5 | 10.0 | K | - |",
            "| m | 8 | Gemm | 8 x 20 x 10 | 1 | 100.0% | 4 | 4.5 | 40.0 | K | - |"])
        self.assertEqual([r["threads"] for r in records], [1, 4])


class OrtKernelsTest(unittest.TestCase):
    def test_times_a_matmul_and_a_conv_layer(self):
        conv = {"batch": 2, "in_channels": 4, "height": 6, "width": 6, "out_channels": 8,
                "kernel": [3, 3], "strides": [1, 1], "pads": [1, 1], "dilations": [1, 1],
                "group": 1}
        with tempfile.NamedTemporaryFile("w", suffix=".json") as shapes:
            json.dump([{"m": 5, "n": 7, "k": 3, "conv": None},
                       {"m": 8, "n": 72, "k": 36, "conv": conv}], shapes)
            shapes.flush()
            out = subprocess.run([sys.executable, os.path.join(HERE, "ort_kernels.py"),
                                  "--threads", "1", "--shapes", shapes.name, "--reps", "3"],
                                 capture_output=True, text=True, timeout=300, check=True).stdout
        report = json.loads(out.splitlines()[-1])
        plain, layer = report["results"]
        self.assertGreater(plain["gflops"], 0)
        self.assertNotIn("op_gflops", plain)
        self.assertGreater(layer["op_gflops"], 0)
        self.assertTrue(layer["op_kernel"])


if __name__ == "__main__":
    unittest.main()
