"""Measures PyTorch's training throughput on one of Fleet's benchmark models: the peer that
bench/train_bench.py runs beside fleet-run. Prints one JSON line:
  {"model": "mlp", "batch": 128, "threads": 1, "steps": 200, "seconds": s,
   "samples_per_s": x, "loss_first": a, "loss_last": b, "peak_rss_mb": z}

The module is bench/torch_models.py's equal of the ONNX model, with the ONNX initializers as its
weights. Training: float32, SGD (no momentum) at --lr, the loss Fleet's loss pass appends
(softmax cross entropy on int64 labels, or sigmoid BCE with logits on float labels), batches
taken in order from a data folder in fleet-run's format (one <input>.npy per model input and
label.npy), cycling over it. The first --warmup steps are not timed; "seconds" covers the
--steps steps after them, each a full step (zero_grad, forward, loss, backward, update).
peak_rss_mb is this process's ru_maxrss (interpreter and torch libraries included).

Threads: torch.set_num_threads(T), one inter-op thread. Run it with OMP_WAIT_POLICY=PASSIVE:
Debian's torch build (GNU OpenMP) spins its idle threads otherwise, and on a busy 2-core machine
2 threads then run ~3x slower than 1. train_bench.py sets it.

Needs PyTorch (Debian: /usr/bin/python3 with python3-torch):
  torch_train.py MODEL.onnx --data DIR --batch B --threads T [--steps N] [--warmup W] [--lr X]
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_models  # noqa: E402


def load_data(folder, input_names):
    """{name: tensor} for every input and "label", read from folder/<name>.npy."""
    data = {}
    for name in list(input_names) + ["label"]:
        path = os.path.join(folder, f"{name}.npy")
        if not os.path.exists(path):
            sys.exit(f"torch_train.py: error: {path} is missing; the data folder needs one .npy "
                     f"per model input ({', '.join(input_names)}) and label.npy")
        data[name] = torch.from_numpy(np.load(path))
    counts = {n: t.shape[0] for n, t in data.items()}
    if len(set(counts.values())) != 1:
        sys.exit(f"torch_train.py: error: {folder}: the files hold different numbers of records: "
                 f"{counts}")
    return data


def loss_fn(logits, label):
    if label.dtype == torch.int64:
        return F.cross_entropy(logits, label)
    if label.shape != logits.shape:
        sys.exit(f"torch_train.py: error: float labels {list(label.shape)} for logits "
                 f"{list(logits.shape)}; expected the same shape (sigmoid BCE)")
    return F.binary_cross_entropy_with_logits(logits, label)


def arg_parser(description):
    """The flags of torch_train.py (bench/torch_ddp.py adds its own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="path of the .onnx model (mlp, resnet18, transformer, "
                        "ctr_dnn by file name)")
    parser.add_argument("--data", required=True, help="folder of <input>.npy and label.npy")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--lr", type=float, default=0.01)
    return parser


def model_name(parser, args):
    """The model's name (its file name), after checking the flags; exits on a bad one."""
    name = os.path.splitext(os.path.basename(args.model))[0]
    if name not in torch_models.BUILDERS:
        parser.exit(2, f"{parser.prog}: error: no PyTorch equal of '{name}'; expected one of "
                       f"{', '.join(torch_models.BUILDERS)}\n")
    for flag in ("batch", "threads", "steps"):
        if getattr(args, flag) < 1:
            parser.exit(2, f"{parser.prog}: error: --{flag} is {getattr(args, flag)}; expected "
                           ">= 1\n")
    return name


def prepare(args, name, shard=0, shards=1):
    """Sets torch's threads, builds the model (train mode) and reads the data, of which it keeps
    records shard, shard + shards, ... (fleet-run's sharding). Returns (model, inputs, data)."""
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import onnx
    inputs = [i.name for i in onnx.load(args.model, load_external_data=False).graph.input]
    model = torch_models.build(name, args.model)
    model.train()
    data = {n: t[shard::shards] for n, t in load_data(args.data, inputs).items()}
    records = data["label"].shape[0]
    if records < args.batch:
        sys.exit(f"torch_train.py: error: {args.data} holds {records} records for this process; "
                 f"expected at least one batch of {args.batch}")
    return model, inputs, data


def train(model, optimizer, data, inputs, batch, warmup, steps):
    """Runs warmup + steps full steps on the batches of `data` in order, cycling; returns the
    seconds of the last `steps` and every step's loss."""
    batches = data["label"].shape[0] // batch
    losses = []
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        first = (step % batches) * batch
        feeds = {n: data[n][first:first + batch] for n in inputs}
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(**feeds), data["label"][first:first + batch])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return time.perf_counter() - start, losses


def result(args, name, seconds, losses):
    """The JSON result line's fields (see the module docstring)."""
    return {
        "model": name, "batch": args.batch, "threads": args.threads, "steps": args.steps,
        "warmup": args.warmup, "seconds": round(seconds, 4),
        "samples_per_s": round(args.steps * args.batch / seconds, 1),
        "loss_first": losses[0], "loss_last": losses[-1],
        "torch": torch.__version__,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }


def main():
    parser = arg_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    name = model_name(parser, args)
    model, inputs, data = prepare(args, name)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    seconds, losses = train(model, optimizer, data, inputs, args.batch, args.warmup, args.steps)
    print(json.dumps(result(args, name, seconds, losses)))


if __name__ == "__main__":
    main()
