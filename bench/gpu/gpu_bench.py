"""Fleet on a lent GPU: the CUDA tests, training parity on the GPU, and training throughput
beside PyTorch on the same card, in one run that ends with one table.

Runs on the GPU machine, through bench/gpu/run.sh (which sets the library path):
  python3 bench/gpu/gpu_bench.py --bundle .gpu-bundle --out OUT [--quick] [--sections ...]

Sections (a failing row does not stop the others; the exit status is 1 when any row failed):
  tests       every CUDA test binary of the bundle (gtest), with its pass/fail/skip counts;
  parity      tests/training/parity_test.py with fleet-run --device cuda:0 --no-tf32: the MLP
              and the CNN, SGD and Adam, against the committed PyTorch curves (rtol 1e-3:
              summation order differs between the CPU reference and the GPU); and
              tests/training/amp_test.py: --amp fp16 and bf16 against their NumPy models
              (rtol 1e-2);
  collective  tests/training/gpu_collective_test.py: fleet-launch --gpus 0, a collective job
              whose buckets fleet.allreduce averages over NCCL on the GPU (and a LocalSGD job,
              whose averages run in conditional blocks on the GPU), against the host's run of
              the same model (losses within 1e-3, the collectives counted);
  throughput  training steps of ResNet-50 (batch 64, 3x224x224) and BERT-base (batch 32,
              sequence 128), exported to ONNX here from torchvision / transformers: PyTorch
              fp32 (TF32 matmuls and convolutions allowed) and AMP (fp16 autocast with
              GradScaler) beside fleet-run --device cuda:0 (TF32) and a job transpiled with
              --amp fp16. Samples/s over the timed steps after warm-up,
              and peak GPU memory (PyTorch: max_memory_allocated; Fleet: its allocator's peak).
Everything each tool printed is kept under OUT.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class Table:
    def __init__(self):
        self.rows = []
        self.failed = False

    def add(self, section, name, result, detail=""):
        self.rows.append((section, name, result, detail))
        if result not in ("ok", "skipped", "n/a"):
            self.failed = True
        print(f"[{section}] {name}: {result} {detail}", flush=True)

    def print(self):
        print("\n| section | row | result | detail |")
        print("|---|---|---|---|")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")


def run(cmd, log_path, timeout):
    """Runs cmd, keeps its output in log_path; (return code, output). rc 124 on a timeout."""
    start = time.time()
    try:
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                           timeout=timeout)
        rc, output = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        rc = 124
        output = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(
            errors="replace") + f"\n(timed out after {timeout} s)"
    with open(log_path, "w") as f:
        f.write(f"$ {' '.join(str(c) for c in cmd)}\n# {time.time() - start:.1f} s, rc {rc}\n")
        f.write(output)
    return rc, output


def last_error(output):
    lines = [l for l in output.splitlines() if "error" in l.lower() or "fail" in l.lower()]
    return (lines[-1] if lines else output.strip().splitlines()[-1:] or [""])[0][:160]


def section_tests(args, table):
    tests = sorted(glob.glob(os.path.join(args.bundle, "bin", "*_test")))
    if not tests:
        table.add("tests", "(none)", "FAIL", "no *_test binary in the bundle")
    for test in tests:
        name = os.path.basename(test)
        rc, out = run([test, "--gtest_brief=1"], os.path.join(args.out, f"{name}.log"), 300)
        passed = re.search(r"\[  PASSED  \] (\d+) test", out)
        failed = re.search(r"\[  FAILED  \] (\d+) test", out)
        skipped = re.search(r"\[  SKIPPED \] (\d+) test", out)
        counts = (f"{passed.group(1) if passed else 0} passed, "
                  f"{failed.group(1) if failed else 0} failed, "
                  f"{skipped.group(1) if skipped else 0} skipped")
        table.add("tests", name, "ok" if rc == 0 and not failed else "FAIL", counts)


def section_parity(args, table):
    cmd = [sys.executable, os.path.join(ROOT, "tests/training/parity_test.py"),
           "--bin-dir", os.path.join(args.bundle, "bin"), "--rtol", "1e-3",
           "--run-flag=--device", "--run-flag=cuda:0", "--run-flag=--no-tf32"]
    rc, out = run(cmd, os.path.join(args.out, "parity.log"), 600)
    rows = re.findall(r"^\| (\w+) \| (\w+) \| (\S+) \| (\S+) \| (\w+) \|$", out, re.M)
    for model, optimizer, steps, worst, result in rows:
        if model == "model":
            continue
        table.add("parity", f"{model}/{optimizer}", "ok" if result == "ok" else result,
                  f"{steps} steps, max rel diff {worst}")
    if not rows:
        table.add("parity", "(all)", "ERROR", last_error(out))
    # Mixed precision: f16 GEMMs on cuBLAS with dynamic loss scaling, and bf16 GEMMs, against
    # the NumPy models (rtol 1e-2: cuBLAS sums in another order, and a 16-bit rounding may fall
    # the other way; too loose to tell bf16 from f32 on this model, hence --loose).
    bins = os.path.join(args.bundle, "bin")
    for case in ("dynamic", "overflow", "bf16"):
        cmd = [sys.executable, os.path.join(ROOT, "tests/training/amp_test.py"),
               "--fleet-transpile", os.path.join(bins, "fleet-transpile"),
               "--fleet-run", os.path.join(bins, "fleet-run"),
               "--data", os.path.join(ROOT, "tests/training/data"), "--case", case,
               "--rtol", "1e-2", "--run-flag=--device", "--run-flag=cuda:0"]
        if case == "bf16":
            cmd.append("--loose")
        rc, out = run(cmd, os.path.join(args.out, f"parity-amp-{case}.log"), 300)
        passed = re.search(r"^PASS: (.*)$", out, re.M)
        name = "mlp/sgd amp-bf16" if case == "bf16" else f"mlp/sgd amp-fp16 {case}"
        table.add("parity", name, "ok" if rc == 0 else "FAIL",
                  passed.group(1)[:150] if passed else last_error(out))


def section_collective(args, table):
    bins = os.path.join(args.bundle, "bin")
    for strategy in ("collective", "localsgd"):
        cmd = [sys.executable, os.path.join(ROOT, "tests/training/gpu_collective_test.py"),
               "--data", os.path.join(ROOT, "tests/training/data"), "--strategy", strategy]
        for tool in ("fleet-transpile", "fleet-run", "fleet-launch", "fleet-inspect"):
            cmd += [f"--{tool}", os.path.join(bins, tool)]
        rc, out = run(cmd, os.path.join(args.out, f"collective-{strategy}.log"), 300)
        worst = re.search(r"worst relative difference (\S+)", out)
        detail = f"max rel loss diff vs host {worst.group(1)}" if worst else last_error(out)
        result = "ok" if rc == 0 else "skipped" if rc == 77 else "FAIL"
        table.add("collective", f"mlp/sgd {strategy}, 1 rank, NCCL", result, detail)


def export_models(args):
    """{name: (onnx path, {input: array}, label array, batch)} for the throughput rows."""
    import torch

    models = {}
    steps_batches = 4  # distinct batches in the data folders; fleet-run cycles over them
    resnet_batch = 16 if args.quick else 64
    path = os.path.join(args.out, "resnet50.onnx")
    import torchvision

    net = torchvision.models.resnet50(num_classes=1000).eval()
    x = torch.randn(resnet_batch, 3, 224, 224)
    torch.onnx.export(net, (x,), path, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    rng = np.random.default_rng(0)
    models["resnet50"] = (net, path, {
        "image": rng.standard_normal((resnet_batch * steps_batches, 3, 224, 224),
                                     dtype=np.float32)},
        rng.integers(0, 1000, resnet_batch * steps_batches), resnet_batch)
    try:
        import transformers

        config = transformers.BertConfig(num_labels=2)  # BERT-base: 12 layers, 768 wide
        if args.quick:
            config.num_hidden_layers = 2
        bert = transformers.BertForSequenceClassification(config).eval()
        bert_batch, seq = (8 if args.quick else 32), 128
        ids = torch.randint(0, config.vocab_size, (bert_batch, seq))
        bpath = os.path.join(args.out, "bert_base.onnx")

        class Logits(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids):
                return self.inner(input_ids=input_ids).logits

        torch.onnx.export(Logits(bert), (ids,), bpath, input_names=["input_ids"],
                          output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
        models["bert_base"] = (Logits(bert), bpath, {
            "input_ids": rng.integers(0, config.vocab_size, (bert_batch * steps_batches, seq))},
            rng.integers(0, 2, bert_batch * steps_batches), bert_batch)
    except Exception as e:  # noqa: BLE001: reported as the row's error
        models["bert_base"] = e
    return models


def torch_throughput(net, inputs, label, batch, amp, steps, warmup):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    net = net.cuda().train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    batches = []
    n = len(label) // batch
    for i in range(n):
        feed = [torch.from_numpy(v[i * batch:(i + 1) * batch]).cuda() for v in inputs.values()]
        batches.append((feed, torch.from_numpy(label[i * batch:(i + 1) * batch]).cuda()))
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(warmup + steps):
        feed, y = batches[step % n]
        torch.cuda.synchronize()
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(net(*feed), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    net.cpu()
    return batch / float(np.median(times)), torch.cuda.max_memory_allocated()


def fleet_throughput(args, name, path, inputs, label, batch, steps, warmup, amp):
    work = os.path.join(args.out, f"fleet_{name}{'_amp' if amp else ''}")
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    for key, value in inputs.items():
        np.save(os.path.join(data, f"{key}.npy"), value)
    np.save(os.path.join(data, "label.npy"), label.astype(np.int64))
    bin_dir = os.path.join(args.bundle, "bin")
    rc, out = run([os.path.join(bin_dir, "fleet-transpile"), path, "--strategy", "single",
                   "--loss", "softmax_ce", "--label", "label", "--optimizer", "sgd", "--lr",
                   "0.01", "-o", os.path.join(work, "job")] + (["--amp", "fp16"] if amp else []),
                  os.path.join(work, "transpile.log"), 300)
    if rc != 0:
        raise RuntimeError("fleet-transpile: " + last_error(out))
    metrics = os.path.join(work, "metrics.jsonl")
    rc, out = run([os.path.join(bin_dir, "fleet-run"), os.path.join(work, "job"), "--data", data,
                   "--batch", batch, "--steps", warmup + steps, "--epochs", 1000,
                   "--device", "cuda:0", "--metrics-out", metrics],
                  os.path.join(work, "run.log"), 600)
    if rc != 0:
        raise RuntimeError("fleet-run: " + last_error(out))
    with open(metrics) as f:
        elapsed = [json.loads(line)["elapsed_sec"] for line in f]
    timed = elapsed[-1] - elapsed[warmup - 1]
    peak = re.search(r"memory: peak ([\d.]+ \w+)", out)
    return batch * steps / timed, peak.group(1) if peak else "?"


def section_throughput(args, table):
    steps, warmup = (5, 2) if args.quick else (30, 5)
    try:
        models = export_models(args)
    except Exception as e:  # noqa: BLE001
        table.add("throughput", "(export)", "ERROR", str(e)[:160])
        return
    for name, model in models.items():
        if isinstance(model, Exception):
            table.add("throughput", name, "ERROR", f"export: {str(model)[:150]}")
            continue
        net, path, inputs, label, batch = model
        results = {}
        for amp in (False, True):
            try:
                results[amp] = torch_throughput(net, inputs, label, batch, amp, steps, warmup)
                table.add("throughput", f"{name} torch {'amp-fp16' if amp else 'fp32/tf32'}",
                          "ok", f"{results[amp][0]:.1f} samples/s, peak "
                          f"{results[amp][1] / 2**30:.2f} GiB")
            except Exception as e:  # noqa: BLE001
                table.add("throughput", f"{name} torch", "ERROR", str(e)[:160])
        for amp in (False, True):
            row = f"{name} fleet {'amp-fp16' if amp else 'tf32'}"
            try:
                rate, peak = fleet_throughput(args, name, path, inputs, label, batch, steps,
                                              warmup, amp)
                peer = "amp-fp16" if amp else "fp32/tf32"
                ratio = f", {rate / results[amp][0]:.2f}x torch {peer}" if amp in results else ""
                table.add("throughput", row, "ok", f"{rate:.1f} samples/s{ratio}, peak {peak}")
            except Exception as e:  # noqa: BLE001
                table.add("throughput", row, "ERROR", str(e)[:160])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="the folder bench/gpu/bundle.sh wrote")
    parser.add_argument("--out", required=True, help="folder for logs and exported models")
    parser.add_argument("--quick", action="store_true", help="small sizes, few steps")
    parser.add_argument("--sections", default="tests,parity,collective,throughput")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    table = Table()
    sections = {"tests": section_tests, "parity": section_parity,
                "collective": section_collective, "throughput": section_throughput}
    for name in args.sections.split(","):
        start = time.time()
        sections[name](args, table)
        print(f"== section {name} took {time.time() - start:.0f} s", flush=True)
    table.print()
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
