"""Generates a CTR-DNN (Criteo-style click-through-rate model): 26 categorical ids and 13 dense
features -> logits f32[batch,2].

Inputs: "C1".."C26", each i64[batch] (hashed ids in [0, vocab)), and "dense" f32[batch,13].
Each Ci is looked up in its own embedding table [vocab, 10] with Gather (axis 0); the 26
embeddings and the dense features are concatenated to [batch, 273] and go through three
Gemm 400 + Relu layers and a Gemm 2 head. Gemm weights are stored [in, out] with transB=0, as
TensorFlow / PaddlePaddle export them (the MLP model covers transB=1).

Weights: embeddings ~ N(0, 1/sqrt(dim)), so one embedding row has norm ~1; He-normal hidden
layers, Xavier head, PyTorch-default biases.

Usage: ctr_dnn.py --out ctr_dnn.onnx [--seed S] [--vocab 1000] [--embed-dim 10]
"""

import argparse
import math

from common import BATCH, F32, I64, GraphBuilder, make_model, save, tensor_input

DEFAULT_SEED = 4
DEFAULT_VOCAB = 1000
DEFAULT_EMBED_DIM = 10
NUM_SPARSE = 26
NUM_DENSE = 13
HIDDEN = [400, 400, 400]
CLASSES = 2


def build(seed=DEFAULT_SEED, vocab=DEFAULT_VOCAB, embed_dim=DEFAULT_EMBED_DIM):
    b = GraphBuilder(seed)
    sparse_names = [f"C{i}" for i in range(1, NUM_SPARSE + 1)]
    features = []
    for name in sparse_names:
        table = b.const(f"embedding.{name}.weight",
                        b.normal((vocab, embed_dim), 1.0 / math.sqrt(embed_dim)))
        features.append(b.op("Gather", [table, name], f"embedding.{name}", axis=0))
    features.append("dense")
    h = b.op("Concat", features, "concat", axis=1)
    width = NUM_SPARSE * embed_dim + NUM_DENSE
    for i, hidden in enumerate(HIDDEN, start=1):
        h = b.gemm(h, width, hidden, f"fc{i}", trans_b=False)
        h = b.op("Relu", [h], f"relu{i}")
        width = hidden
    logits = b.gemm(h, width, CLASSES, "fc_out", trans_b=False, init="xavier", output="logits")
    inputs = [tensor_input(name, I64, [BATCH]) for name in sparse_names]
    inputs.append(tensor_input("dense", F32, [BATCH, NUM_DENSE]))
    return make_model(b, "ctr_dnn", inputs, [tensor_input(logits, F32, [BATCH, CLASSES])],
                      doc=f"CTR-DNN: {NUM_SPARSE} embeddings [{vocab}, {embed_dim}] + "
                          f"{NUM_DENSE} dense -> FC {HIDDEN} -> {CLASSES}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="path of the .onnx file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--vocab", type=int, default=DEFAULT_VOCAB,
                        help="rows per embedding table (hash buckets)")
    parser.add_argument("--embed-dim", type=int, default=DEFAULT_EMBED_DIM)
    args = parser.parse_args()
    save(build(args.seed, args.vocab, args.embed_dim), args.out)


if __name__ == "__main__":
    main()
