"""Generates the MLP benchmark model: x f32[batch,784] -> Gemm 512 -> Relu -> Gemm 256 -> Relu
-> Gemm 10 -> logits f32[batch,10]. Gemm weights are stored [out, in] with transB=1, as PyTorch
exports them; He-normal weights, PyTorch-default biases.

Usage: mlp.py --out mlp.onnx [--seed S]
"""

import argparse

from common import BATCH, F32, GraphBuilder, make_model, save, tensor_input

DEFAULT_SEED = 1


def build(seed=DEFAULT_SEED):
    b = GraphBuilder(seed)
    x = "x"
    h = b.op("Relu", [b.gemm(x, 784, 512, "fc1")], "relu1")
    h = b.op("Relu", [b.gemm(h, 512, 256, "fc2")], "relu2")
    logits = b.gemm(h, 256, 10, "fc3", init="xavier", output="logits")
    return make_model(b, "mlp", [tensor_input(x, F32, [BATCH, 784])],
                      [tensor_input(logits, F32, [BATCH, 10])],
                      doc="MLP 784-512-256-10 with Relu")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="path of the .onnx file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    save(build(args.seed), args.out)


if __name__ == "__main__":
    main()
