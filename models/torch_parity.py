"""Writes the PyTorch reference training curves that tests/training/parity_test.py checks Fleet
against: two small models, their training data, and the loss of every step of 50 steps of SGD
and of Adam, computed by PyTorch.

Models (weights from torch's default initialisation under a fixed seed; written as plain ONNX,
opset 17, IR version 8, so Debian's onnx 1.12 loads them; input "x", output "logits", symbolic
batch dimension "batch"):
  mlp  x f32[batch,32] -> Gemm 64 -> Relu -> Gemm 64 -> Relu -> Gemm 10 (weights [out,in],
       transB=1, as PyTorch exports nn.Linear)
  cnn  x f32[batch,1,12,12] -> Conv 3x3 8ch -> Relu -> MaxPool 2 -> Conv 3x3 16ch -> Relu
       -> GlobalAveragePool -> Flatten -> Gemm 10
Data (320 samples, 10 batches of 32 per epoch, so 50 steps are 5 epochs): each class has a fixed
random template, a sample is its class's template plus N(0, 1) noise, label int64 in [0, 10).
The classes overlap enough that the loss falls steadily without nearing zero within 50 steps.
Training: float32, batch 32, batches in file order (epoch after epoch, no shuffle),
CrossEntropyLoss (mean), SGD lr 0.1 (no momentum) and Adam lr 1e-3 (default betas and eps),
both from the same initial weights. losses[i] is the loss of step i's batch before its update.

Each curve is also recomputed in float64 from the same start; "f64_max_rel_diff" is the largest
relative gap between the two, a measure of how much float32 rounding alone moves the curve.

Outputs (OUT defaults to tests/training/data): mlp.onnx, cnn.onnx, mlp_data/{x,label}.npy,
cnn_data/{x,label}.npy, reference_<model>_<optimizer>.json (model, optimizer, lr, batch, steps,
losses, versions). Deterministic: the same torch and numpy versions write the same bytes.

Needs PyTorch: run it with Debian's python (python3-torch 1.13, numpy 1.24, onnx 1.12):
  /usr/bin/python3 models/torch_parity.py [--out DIR]
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
BATCH = 32
STEPS = 50
SAMPLES = 320
CLASSES = 10
OPTIMIZERS = {"sgd": 0.1, "adam": 1e-3}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "tests", "training", "data")


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(32, 64)
        self.fc2 = torch.nn.Linear(64, 64)
        self.fc3 = torch.nn.Linear(64, CLASSES)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h))
        return self.fc3(h)


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 16, 3)
        self.fc = torch.nn.Linear(16, CLASSES)

    def forward(self, x):
        h = torch.relu(self.conv1(x))  # 12x12 -> 10x10
        h = torch.nn.functional.max_pool2d(h, 2)  # -> 5x5
        h = torch.relu(self.conv2(h))  # -> 3x3
        h = h.mean(dim=(2, 3))  # GlobalAveragePool + Flatten
        return self.fc(h)


def mlp_graph(model):
    """The ONNX nodes and initializers of `model` (an Mlp)."""
    nodes, inits = [], []
    h = "x"
    for i, layer in enumerate([model.fc1, model.fc2, model.fc3], start=1):
        name = f"fc{i}"
        inits += [numpy_helper.from_array(layer.weight.detach().numpy(), f"{name}.weight"),
                  numpy_helper.from_array(layer.bias.detach().numpy(), f"{name}.bias")]
        out = "logits" if i == 3 else name
        nodes.append(helper.make_node("Gemm", [h, f"{name}.weight", f"{name}.bias"], [out],
                                      name=name, transB=1))
        h = out
        if i < 3:
            nodes.append(helper.make_node("Relu", [h], [f"relu{i}"], name=f"relu{i}"))
            h = f"relu{i}"
    return nodes, inits, [BATCH_DIM, 32]


def cnn_graph(model):
    """The ONNX nodes and initializers of `model` (a Cnn)."""
    inits = []
    for name, layer in [("conv1", model.conv1), ("conv2", model.conv2), ("fc", model.fc)]:
        inits += [numpy_helper.from_array(layer.weight.detach().numpy(), f"{name}.weight"),
                  numpy_helper.from_array(layer.bias.detach().numpy(), f"{name}.bias")]
    conv = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1],
                group=1)
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         **conv),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"],
                         name="conv2", **conv),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["relu2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc",
                         transB=1),
    ]
    return nodes, inits, [BATCH_DIM, 1, 12, 12]


BATCH_DIM = "batch"
MODELS = {
    # name: (module class, graph writer, sample shape, weight seed, data seed, template scale)
    # The CNN's templates are stronger: global average pooling blurs a weak pattern away.
    "mlp": (Mlp, mlp_graph, (32,), 1, 11, 0.6),
    "cnn": (Cnn, cnn_graph, (1, 12, 12), 2, 12, 2.0),
}


def to_onnx(name, model, graph_fn):
    nodes, inits, input_shape = graph_fn(model)
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [BATCH_DIM, CLASSES])],
        initializer=inits, doc_string=f"{name}: initial weights of Fleet's training parity test")
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fleet-torch-parity", producer_version="1")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto


def make_data(shape, seed, scale):
    """Class templates (N(0, scale^2) each) plus unit noise; every class has SAMPLES / CLASSES
    samples, in a shuffled order."""
    rng = np.random.default_rng(seed)
    templates = rng.standard_normal((CLASSES,) + shape) * scale
    label = rng.permutation(np.arange(SAMPLES) % CLASSES).astype(np.int64)
    x = (templates[label] + rng.standard_normal((SAMPLES,) + shape)).astype(np.float32)
    return x, label


def train(model, optimizer_name, lr, x, label, dtype):
    """Losses of STEPS steps over (x, label) in order, each before its step's update."""
    model = model.to(dtype)
    params = list(model.parameters())
    if optimizer_name == "sgd":
        opt = torch.optim.SGD(params, lr=lr)
    else:
        opt = torch.optim.Adam(params, lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs = torch.from_numpy(x).to(dtype)
    ys = torch.from_numpy(label)
    batches = SAMPLES // BATCH
    losses = []
    for step in range(STEPS):
        start = (step % batches) * BATCH
        opt.zero_grad()
        loss = loss_fn(model(xs[start:start + BATCH]), ys[start:start + BATCH])
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def fresh_model(cls, seed):
    torch.manual_seed(seed)
    return cls()


def write_json(path, record):
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    versions = {"torch": torch.__version__, "numpy": np.__version__, "onnx": onnx.__version__,
                "python": sys.version.split()[0]}
    os.makedirs(args.out, exist_ok=True)
    for name, (cls, graph_fn, shape, weight_seed, data_seed, scale) in MODELS.items():
        proto = to_onnx(name, fresh_model(cls, weight_seed), graph_fn)
        onnx.save_model(proto, os.path.join(args.out, f"{name}.onnx"))
        x, label = make_data(shape, data_seed, scale)
        data_dir = os.path.join(args.out, f"{name}_data")
        os.makedirs(data_dir, exist_ok=True)
        np.save(os.path.join(data_dir, "x.npy"), x)
        np.save(os.path.join(data_dir, "label.npy"), label)
        for optimizer_name, lr in OPTIMIZERS.items():
            losses = train(fresh_model(cls, weight_seed), optimizer_name, lr, x, label,
                           torch.float32)
            losses64 = train(fresh_model(cls, weight_seed), optimizer_name, lr, x, label,
                             torch.float64)
            gap = max(abs(a - b) / abs(b) for a, b in zip(losses, losses64))
            record = {
                "model": name, "optimizer": optimizer_name, "lr": lr, "batch": BATCH,
                "steps": STEPS, "samples": SAMPLES, "loss": "softmax_ce", "label": "label",
                "shuffle": False, "dtype": "float32", "f64_max_rel_diff": gap,
                "versions": versions, "losses": losses,
            }
            path = os.path.join(args.out, f"reference_{name}_{optimizer_name}.json")
            write_json(path, record)
            print(f"{path}: loss {losses[0]:.4f} -> {losses[-1]:.4f} "
                  f"(min {min(losses):.4f}); float32 vs float64 max rel diff {gap:.2e}")


if __name__ == "__main__":
    main()
