"""The environment PyTorch runs in for bench/train_bench.py, and the kernels that environment
gives it, checked inside a torch process (bench/torch_kernels.py).

Every torch process gets the benchmark's protocol: OMP_NUM_THREADS = OPENBLAS_NUM_THREADS =
the row's threads (Debian's torch calls the pthreads OpenBLAS, whose pool torch.set_num_threads
does not size) and OMP_WAIT_POLICY=PASSIVE. By default it also gets the best kernels its build
has, where the caller's environment does not choose them:
  OPENBLAS_CORETYPE    the best OpenBLAS core for the CPU's flags: SkylakeX for AVX-512
                       F/BW/DQ/VL, Haswell for AVX2 + FMA, Sandybridge for AVX. OpenBLAS's own
                       detection matches on CPUID family and model, and a CPU newer than the
                       library (or a virtual CPU) gets the SSE3 Prescott kernels.
  ATEN_CPU_CAPABILITY  avx512 where the CPU has AVX-512 F/BW/DQ/VL and FMA: PyTorch 1.13 keeps
                       its AVX-512 kernels opt-in and runs AVX2 ones otherwise.
Each setting is read back in a torch process (openblas_get_corename(), torch's "CPU capability
usage"); one that does not take effect is dropped, trying the next OpenBLAS core. oneDNN, which
runs torch's convolutions, picks its ISA from CPUID itself (DNNL_MAX_CPU_ISA lowers it). With
as_installed (train_bench.py --torch-as-installed) torch runs with the caller's environment and
only the protocol variables.
"""

import os
import re

from kernel_report import AVX512_CORE, run_json

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOL_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def openblas_candidates(flags):
    """OpenBLAS core names for OPENBLAS_CORETYPE, best first, that this CPU can run."""
    names = []
    if AVX512_CORE <= flags:
        names.append("SkylakeX")
    if {"avx2", "fma"} <= flags:
        names.append("Haswell")
    if "avx" in flags:
        names.append("Sandybridge")
    return names


class TorchPeer:
    """PyTorch's side: env(threads) for its processes, what kernels they run, and measure() for
    the GEMM table of bench/kernel_report.py."""

    name = "torch"

    def __init__(self, python, flags, as_installed, timeout):
        self.python = python
        self.timeout = timeout
        self.as_installed = as_installed
        self.overrides = {}  # kernel settings the benchmark adds to the caller's environment
        self.notes = []
        self.errors = []
        self.installed = self.probe()
        self.active = self.installed
        if not as_installed and self.installed is not None:
            self.choose_kernels(flags)

    def choose_kernels(self, flags):
        """Adds the best kernel settings the caller left unset, keeping those that read back."""
        if "ATEN_CPU_CAPABILITY" not in os.environ and AVX512_CORE | {"fma"} <= flags:
            self.overrides["ATEN_CPU_CAPABILITY"] = "avx512"
        report = None  # the probe of the current overrides, once run
        cores = [] if "OPENBLAS_CORETYPE" in os.environ else openblas_candidates(flags)
        for core in cores:
            self.overrides["OPENBLAS_CORETYPE"] = core
            report = self.probe()
            if report is None or report["openblas"]["core"].lower() == core.lower():
                break
            self.notes.append(f"OPENBLAS_CORETYPE={core} read back as "
                              f"{report['openblas']['core']}; not used")
            del self.overrides["OPENBLAS_CORETYPE"]
            report = None
        if "ATEN_CPU_CAPABILITY" in self.overrides:
            report = report or self.probe()
            if report is not None and report["aten_capability"] != "AVX512":
                self.notes.append(f"ATEN_CPU_CAPABILITY=avx512 read back as "
                                  f"{report['aten_capability']}; not used")
                del self.overrides["ATEN_CPU_CAPABILITY"]
                report = None
        if self.overrides:
            report = report or self.probe()
        if report is None:  # nothing added, or a probe failed: run torch as installed
            self.overrides = {}
        self.active = report or self.installed

    def env(self, threads):
        return dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                    **PROTOCOL_ENV, **self.overrides)

    def set_here(self):
        """The variables the benchmark sets in torch's environment."""
        return {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", *PROTOCOL_ENV, *self.overrides}

    def probe(self):
        """torch_kernels.py's report at 1 thread with the current settings, or None."""
        report, error = run_json("torch kernel probe",
                                 [self.python, os.path.join(HERE, "torch_kernels.py"),
                                  "--threads", "1", "--onednn"], self.timeout, self.env(1))
        if error:
            self.errors.append(error)
        return report

    def measure(self, shapes_file, threads, reps):
        report, error = run_json(f"torch GEMMs at {threads} threads",
                                 [self.python, os.path.join(HERE, "torch_kernels.py"),
                                  "--threads", str(threads), "--shapes", shapes_file,
                                  "--reps", str(reps)], self.timeout, self.env(threads))
        return (report or {}).get("results"), error

    def blas_core(self):
        return self.active["openblas"]["core"] if self.active else "?"

    def kernel(self, shape, result):
        text = f"OpenBLAS {self.blas_core()}"
        if result and result.get("op_kernel"):
            text += f"; op: {result['op_kernel']}"
        return text

    def header_lines(self):
        """"kernels torch: ..." (as run) and "kernels torch as installed: ..." lines."""
        if self.active is None:
            return ["kernels torch: unknown (the torch probe failed; see the errors)"]
        lines = [f"kernels torch: {describe(self.active)}"]
        mode = ("--torch-as-installed: the caller's environment" if self.as_installed else
                "the best its build has" if self.overrides else
                "the caller's environment (nothing to add)")
        lines[0] += f" [{mode}]"
        if not self.as_installed and self.overrides:
            lines.append(f"kernels torch in the caller's environment (without the * kernel "
                         f"settings; --torch-as-installed runs this): {describe(self.installed)}")
        lines += [f"note torch: {n}" for n in self.notes]
        return lines


def describe(report):
    blas = report["openblas"]
    onednn = report.get("onednn", {})
    version = re.match(r"OpenBLAS [\d.]+", blas.get("config") or "")
    version = version.group(0) if version else "BLAS"
    return (f"PyTorch {report['torch']}: {version} core {blas['core']} (openblas_get_corename in "
            f"the torch process); ATen CPU capability {report['aten_capability']}; oneDNN "
            f"{onednn.get('version') or '?'} ISA {onednn.get('isa', '?')}, convolution "
            f"{onednn.get('conv', '?')}")
