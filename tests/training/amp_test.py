"""Mixed-precision training (fleet-transpile --amp fp16|bf16) against a NumPy model of it.

The MLP of tests/training/data is transpiled with --amp fp16 and trained by fleet-run on the CPU
(batch 32, file order, SGD). NumPy trains the same model step by step the way mixed precision
is defined (passes/training/amp.cc), written here independently:
  - every GEMM (forward and the two gradient GEMMs of each layer) rounds its operands to f16,
    multiplies in f32 and rounds the product to f16 (numpy's float16 conversion: round to
    nearest even, inf past 65504); everything else is f32;
  - the loss gradient starts at the loss scale S; the gradients are multiplied by 1/S before the
    update; a step whose gradients hold an inf or NaN is skipped and halves S, and after
    --amp-growth-interval finite steps in a row S doubles (torch.cuda.amp.GradScaler's rule).
Cases:
  dynamic    S starts at 2^28, so the first 9 steps overflow and are skipped while S halves,
             and S doubles every 4 finite steps, so later steps overflow again. Every
             step's loss must match NumPy's within --rtol, fleet-run's --summary-out must
             count as many skipped steps and end at the same scale (NumPy's list of skipped
             steps is printed), and the exported model must match NumPy's weights. The
             test also checks that no overflow decision of the reference is within 1% of f16's
             limit, where a last-bit difference in a GEMM could flip it.
  overflow   S starts at 1e30: every step overflows, so no update runs: the exported model
             must equal the initial one bit for bit, and the summary must count every step
             skipped and the scale halved at each.
  collective the dynamic case over two ranks (fleet-transpile --strategy collective,
             fleet-launch --nproc 2, 16 records per rank and step): each rank's gradients are
             the f16 GEMMs over its own records, the allreduce averages them, and the ranks
             skip the same steps because they check the averaged gradients. Both ranks' losses
             must match NumPy's, and their summaries must agree with each other and with it.
  bf16       --amp bf16: every GEMM rounds its operands and its product to bf16 (ml_dtypes'
             bfloat16, round to nearest even), and there is no loss scaling: no step is
             skipped and the summary has no "amp" record. Every step's loss and the exported
             weights must match NumPy's, and the same NumPy model in f32 must differ from it
             by more than the tolerance, so that a run without the casts would fail.
The exported model computes in f32 (no Cast ops), like the model given to training.

Usage: amp_test.py --fleet-transpile BIN --fleet-run BIN [--fleet-launch BIN] --data DIR
       --case dynamic|overflow|collective|bf16
       [--rtol X (1e-4; bf16: 1e-5)] [--loose] [--run-flag=--device --run-flag=cuda:0]
       [--keep]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

BATCH = 32
LR = 0.1
F16_MAX = 65504.0


def run(cmd, timeout=300):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def half(a):
    """a rounded to f16 and back (inf past the f16 range)."""
    with np.errstate(over="ignore"):
        return a.astype(np.float16).astype(np.float32)


def brain(a):
    """a rounded to bf16 and back."""
    import ml_dtypes  # only here: the f16 cases run where it may be missing (a lent GPU)
    return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def exact(a):
    """a as it is: the f32 model that a run without mixed precision computes."""
    return np.asarray(a, np.float32)


class Reference:
    """The MLP (Gemm transB=1 -> Relu -> Gemm -> Relu -> Gemm) trained with 16-bit GEMMs:
    `rounding` rounds their operands and products (half, brain or exact). An interval of None
    means no loss scaling: every step updates."""

    def __init__(self, weights, scale, interval, rounding=half):
        self.w = {k: v.astype(np.float32).copy() for k, v in weights.items()}
        self.scale = np.float32(scale)
        self.interval = interval
        self.round = rounding
        self.good = 0
        self.closest = 0.0  # the largest |GEMM product| / f16 max of a finite step
        self.farthest_overflow = np.inf  # the smallest such peak of an overflowing step
        self.peak = 0.0

    def gemm(self, a, b, bias=None):
        """f16 operands, f32 products (and bias), rounded to f16; records the largest operand or
        product of the step's GEMMs that is not fed by an earlier overflow."""
        with np.errstate(all="ignore"):
            product = self.round(a) @ self.round(b)
            if bias is not None:
                product = product + self.round(bias)
        for t in (a, b, product):
            if np.isfinite(t).all():  # not fed by an earlier overflow
                self.peak = max(self.peak, float(np.abs(t).max()) / F16_MAX)
        return self.round(product)

    def gradients(self, x, labels):
        """(the loss, the scaled gradients) of one batch; the step's peak goes on from the
        other ranks' batches."""
        w = self.w
        r1 = np.maximum(self.gemm(x, w["fc1.weight"].T, w["fc1.bias"]), 0)
        r2 = np.maximum(self.gemm(r1, w["fc2.weight"].T, w["fc2.bias"]), 0)
        logits = self.gemm(r2, w["fc3.weight"].T, w["fc3.bias"])
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = x.shape[0]
        loss = float(-logp[np.arange(n), labels].mean())
        onehot = np.zeros_like(logp)
        onehot[np.arange(n), labels] = 1
        d3 = ((np.exp(logp) - onehot) * self.scale / n).astype(np.float32)
        grads = {"fc3.weight": self.gemm(d3.T, r2), "fc3.bias": d3.sum(axis=0)}
        d2 = self.gemm(d3, w["fc3.weight"]) * (r2 > 0)
        grads["fc2.weight"] = self.gemm(d2.T, r1)
        grads["fc2.bias"] = d2.sum(axis=0)
        d1 = self.gemm(d2, w["fc2.weight"]) * (r1 > 0)
        grads["fc1.weight"] = self.gemm(d1.T, x)
        grads["fc1.bias"] = d1.sum(axis=0)
        return loss, grads

    def step(self, batches):
        """One step over the ranks' batches [(x, labels), ...]: each rank's gradients, their
        mean (the allreduce), the finite check, the update and the scale. The ranks' losses."""
        self.peak = 0.0
        losses, grads = [], []
        for x, labels in batches:
            loss, g = self.gradients(x, labels)
            losses.append(loss)
            grads.append(g)
        grads = {k: (sum(g[k] for g in grads) / np.float32(len(grads))).astype(np.float32)
                 for k in grads[0]}
        w = self.w
        finite = all(np.isfinite(g).all() for g in grads.values())
        if finite:
            self.closest = max(self.closest, self.peak)
            inv = np.float32(1.0 / self.scale)
            for k, g in grads.items():
                w[k] = (w[k] - np.float32(LR) * (g * inv)).astype(np.float32)
            self.good += 1
            if self.interval is not None and self.good >= self.interval:
                self.scale = np.float32(self.scale * 2)
                self.good = 0
        else:
            self.farthest_overflow = min(self.farthest_overflow, self.peak)
            self.scale = np.float32(self.scale * 0.5)
            self.good = 0
        return losses, finite


def read_losses(path, steps):
    losses = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if "step" in record and "loss" in record:
                losses[int(record["step"])] = float(record["loss"])
    first = min(losses)
    return [losses[first + i] for i in range(steps)]


def initializers(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-transpile", required=True)
    parser.add_argument("--fleet-run", required=True)
    parser.add_argument("--fleet-launch", help="needed by --case collective")
    parser.add_argument("--data", required=True)
    parser.add_argument("--case", choices=["dynamic", "overflow", "collective", "bf16"],
                        required=True)
    parser.add_argument("--rtol", type=float,
                        help="tolerance of losses and weights (1e-4; bf16: 1e-5, since bf16's "
                        "rounding moves this model less than f16's)")
    parser.add_argument("--run-flag", action="append", default=[],
                        help="one more argument for fleet-run, e.g. --run-flag=--device "
                        "--run-flag=cuda:0 (repeat it)")
    parser.add_argument("--loose", action="store_true",
                        help="bf16 with an --rtol too wide to tell bf16 from f32 (a GPU, whose "
                        "sums run in another order): check closeness only")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.case == "collective" and not args.fleet_launch:
        parser.error("--case collective needs --fleet-launch")
    if args.rtol is None:
        args.rtol = 1e-5 if args.case == "bf16" else 1e-4

    work = tempfile.mkdtemp(prefix="fleet-amp-")
    try:
        check(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def check(args, work):
    model = os.path.join(args.data, "mlp.onnx")
    data = os.path.join(args.data, "mlp_data")
    # (first loss scale, growth interval, steps, ranks)
    scale, interval, steps, ranks = {"dynamic": (2.0 ** 28, 4, 30, 1),
                                     "overflow": (1e30, 2000, 6, 1),
                                     "collective": (2.0 ** 28, 4, 20, 2),
                                     "bf16": (1.0, None, 30, 1)}[args.case]
    bf16 = args.case == "bf16"
    batch = BATCH // ranks  # per rank: the ranks together read BATCH records a step
    job = os.path.join(work, "job")
    amp_flags = (["--amp", "bf16"] if bf16 else
                 ["--amp", "fp16", "--amp-loss-scale", repr(scale), "--amp-growth-interval",
                  str(interval)])
    run([args.fleet_transpile, model, "--strategy", "collective" if ranks > 1 else "single",
         "--label", "label", "--loss", "softmax_ce", "--optimizer", "sgd", "--lr", str(LR),
         "-o", job] + amp_flags)
    metrics = os.path.join(work, "metrics.{rank}.jsonl")
    exported = os.path.join(work, "trained.onnx")
    summary_path = os.path.join(work, "summary.{rank}.json")
    command = [args.fleet_run, job, "--data", data, "--batch", str(batch), "--steps",
               str(steps), "--epochs", "10", "--threads", "1", "--metrics-out", metrics,
               "--export", exported, "--summary-out", summary_path] + args.run_flag
    if ranks > 1:
        command = [args.fleet_launch, "--nproc", str(ranks), "--log-dir",
                   os.path.join(work, "logs"), "--"] + command
    run(command)
    fleet_losses = [read_losses(metrics.format(rank=r), steps) for r in range(ranks)]
    amps = []
    for r in range(ranks):
        with open(summary_path.format(rank=r)) as f:
            amps.append(json.load(f).get("amp"))
    if bf16 and any(amps):
        raise SystemExit(f"FAIL: --amp bf16 scales no loss, but a summary has an \"amp\" "
                         f"record: {amps!r}")
    if not bf16 and not all(amps):
        raise SystemExit(f"FAIL: a run summary has no \"amp\" record: {amps!r}")
    if any(a != amps[0] for a in amps):
        raise SystemExit(f"FAIL: the ranks disagree on the loss scale or the skipped steps: {amps}")
    amp = amps[0]
    trained = initializers(exported)
    casts = [n.op_type for n in onnx.load(exported).graph.node if n.op_type == "Cast"]
    if casts:
        raise SystemExit(f"FAIL: the exported model has {len(casts)} Cast ops; expected the "
                         "f32 model without mixed precision's casts")

    initial = initializers(model)
    if args.case == "overflow":
        if amp["skipped_steps"] != steps or amp["loss_scale"] != np.float32(1e30 * 0.5 ** steps):
            raise SystemExit(f"FAIL: the summary says {amp}; expected all {steps} steps "
                             f"skipped and the scale halved {steps} times")
        for name, value in initial.items():
            if not np.array_equal(trained[name], value):
                raise SystemExit(f"FAIL: '{name}' changed although every step overflowed "
                                 "(loss scale 1e30) and should have been skipped")
        print(f"PASS: {steps} steps at loss scale 1e30 all skipped; the exported model is "
              "the initial one")
        return

    x = np.load(os.path.join(data, "x.npy")).astype(np.float32)
    labels = np.load(os.path.join(data, "label.npy")).astype(np.int64)
    # Rank r reads records r, r + ranks, ... in batches of `batch`.
    shards = [(x[r::ranks], labels[r::ranks]) for r in range(ranks)]
    per_epoch = len(shards[0][0]) // batch

    def train(reference):
        """The reference's losses per step and rank, and the steps it skipped."""
        losses_per_step, skipped_steps = [], []
        for step in range(steps):
            start = (step % per_epoch) * batch
            with np.errstate(all="ignore"):  # the overflowing steps' infs and NaNs
                losses, finite = reference.step(
                    [(sx[start:start + batch], sl[start:start + batch]) for sx, sl in shards])
            losses_per_step.append(losses)
            if not finite:
                skipped_steps.append(step)
        return losses_per_step, skipped_steps

    if bf16:
        reference = Reference(initial, scale, interval, brain)
        ref_losses, skipped = train(reference)
        if skipped:
            raise SystemExit(f"FAIL: the bf16 reference overflowed at steps {skipped}")
        f32 = Reference(initial, scale, interval, exact)
        f32_losses, _ = train(f32)
        gap = max(abs(a[0] - b[0]) / abs(b[0]) for a, b in zip(f32_losses, ref_losses))
        weight_gap = max(float(np.abs(f32.w[k] - v).max()) / max(1.0, float(np.abs(v).max()))
                         for k, v in reference.w.items())
        if (gap <= 10 * args.rtol or weight_gap <= 10 * args.rtol) and not args.loose:
            raise SystemExit(f"FAIL: the f32 model comes within {gap:.2e} (losses) and "
                             f"{weight_gap:.2e} (weights) of the bf16 model; the case cannot "
                             f"tell them apart at rtol {args.rtol}")
        print(f"reference: the bf16 and f32 models differ by up to {gap:.2e} in the losses and "
              f"{weight_gap:.2e} in the weights (rel)")
        compare(args, steps, ranks, fleet_losses, ref_losses, reference, trained,
                "no step skipped, no loss scale")
        return
    reference = Reference(initial, scale, interval)
    ref_losses, skipped = train(reference)
    print(f"reference: skipped steps {skipped}; closest finite step to f16's limit "
          f"{reference.closest:.3f} of it; smallest overflow {reference.farthest_overflow:.3f}")
    if reference.closest > 0.99 or reference.farthest_overflow < 1.01:
        raise SystemExit("FAIL: the reference's overflow decisions come within 1% of f16's "
                         "limit; change the case's scale so the test is not decided by a "
                         "last-bit difference")
    if not skipped or skipped[-1] < 8:
        raise SystemExit(f"FAIL: the case must skip steps at the start and again after the "
                         f"scale grows; the reference skipped {skipped}")
    if amp["skipped_steps"] != len(skipped) or amp["loss_scale"] != reference.scale:
        raise SystemExit(f"FAIL: Fleet's run summary says {amp}; the reference skipped "
                         f"{len(skipped)} steps and ends at scale {reference.scale}")
    compare(args, steps, ranks, fleet_losses, ref_losses, reference, trained,
            f"{len(skipped)} steps skipped and loss scale {amp['loss_scale']:g} at the end, as "
            "in the reference")


def compare(args, steps, ranks, fleet_losses, ref_losses, reference, trained, what):
    """Fails unless every step's loss and the exported weights match the reference's."""
    worst = 0.0
    for step in range(steps):
        for r in range(ranks):
            a, b = fleet_losses[r][step], ref_losses[step][r]
            rel = abs(a - b) / max(abs(b), 1e-12)
            worst = max(worst, rel)
            if not rel <= args.rtol:
                raise SystemExit(f"FAIL: step {step}, rank {r}: Fleet's loss {a:.6f}, the "
                                 f"reference's {b:.6f} (rel {rel:.2e} > {args.rtol})")
    for name, value in reference.w.items():
        diff = float(np.abs(trained[name] - value).max())
        if diff > args.rtol * max(1.0, float(np.abs(value).max())):
            raise SystemExit(f"FAIL: exported '{name}' differs from the reference by {diff}")
    print(f"PASS: {steps} steps x {ranks} rank(s), max rel loss diff {worst:.2e} (rtol "
          f"{args.rtol}); {what}; exported weights match")


if __name__ == "__main__":
    main()
