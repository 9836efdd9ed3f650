"""Generates a small transformer encoder: tokens i64[batch,32] -> logits f32[batch,2].

Embedding Gather (vocab 1000, d_model 128) plus sinusoidal positions, then 2 pre-norm encoder
layers, each written out in plain ONNX ops the way exporters emit them:
  LayerNormalization -> Q/K/V = MatMul + Add -> Reshape [-1,32,4,32] -> Transpose to heads
  -> MatMul(Q, K^T) -> Div sqrt(32) -> Softmax -> MatMul(., V) -> Transpose/Reshape back
  -> output MatMul + Add -> residual Add
  LayerNormalization -> MatMul + Add (512) -> Gelu as x*0.5*(1+Erf(x/sqrt2)) -> MatMul + Add
  -> residual Add
then a final LayerNormalization, mean over the sequence (ReduceMean axes=[1]) and a Gemm head to
2 classes. Reshapes use -1 for the batch dimension. No attention mask (every position attends to
every other).

Weights: Xavier-uniform projections, He-normal first FFN matrix, PyTorch-default biases, N(0, 1)
token embeddings, LayerNorm gamma ~ 1 and beta ~ 0 (perturbed).

Usage: transformer.py --out transformer.onnx [--seed S]
"""

import argparse
import math

import numpy as np

from common import BATCH, F32, I64, GraphBuilder, make_model, save, tensor_input

DEFAULT_SEED = 3
VOCAB = 1000
SEQ = 32
D_MODEL = 128
HEADS = 4
FFN = 512
LAYERS = 2
CLASSES = 2


def linear(b, x, in_features, out_features, name, init="xavier"):
    """MatMul by a [in, out] weight, then Add bias: how exporters write nn.Linear on 3-D input."""
    if init == "he":
        w = b.he_normal((in_features, out_features), in_features)
    else:
        w = b.xavier_uniform((in_features, out_features), in_features, out_features)
    w_name = b.const(f"{name}.weight", w)
    bias = b.const(f"{name}.bias", b.bias(out_features, in_features))
    y = b.op("MatMul", [x, w_name], f"{name}.matmul")
    return b.op("Add", [y, bias], f"{name}.add")


def sinusoidal_positions(seq, dim):
    pos = np.arange(seq)[:, None]
    i = np.arange(dim // 2)[None, :]
    angle = pos / np.power(10000.0, 2.0 * i / dim)
    table = np.zeros((seq, dim))
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle)
    return table.astype(np.float32)


def attention(b, x, consts, name):
    head_dim = D_MODEL // HEADS
    heads = []
    for proj, perm in [("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])]:
        h = linear(b, x, D_MODEL, D_MODEL, f"{name}.{proj}_proj")
        h = b.op("Reshape", [h, consts["split_heads"]], f"{name}.{proj}_split")
        # K goes straight to [B, H, head_dim, S] so Q @ K^T is one MatMul.
        heads.append(b.op("Transpose", [h], f"{name}.{proj}_heads", perm=perm))
    q, k_t, v = heads
    scores = b.op("MatMul", [q, k_t], f"{name}.scores")
    scores = b.op("Div", [scores, consts["sqrt_head_dim"]], f"{name}.scale")
    probs = b.op("Softmax", [scores], f"{name}.softmax", axis=-1)
    ctx = b.op("MatMul", [probs, v], f"{name}.context")
    ctx = b.op("Transpose", [ctx], f"{name}.context_t", perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, consts["merge_heads"]], f"{name}.context_merge")
    assert head_dim * HEADS == D_MODEL
    return linear(b, ctx, D_MODEL, D_MODEL, f"{name}.out_proj")


def gelu_erf(b, x, consts, name):
    """Exact Gelu as ONNX exporters before opset 20 write it: x * 0.5 * (1 + Erf(x / sqrt 2))."""
    t = b.op("Div", [x, consts["sqrt2"]], f"{name}.div")
    t = b.op("Erf", [t], f"{name}.erf")
    t = b.op("Add", [t, consts["one"]], f"{name}.add")
    t = b.op("Mul", [x, t], f"{name}.mul")
    return b.op("Mul", [t, consts["half"]], f"{name}.mul_half")


def encoder_layer(b, x, consts, name):
    h = b.layer_norm(x, D_MODEL, f"{name}.norm1")
    h = attention(b, h, consts, f"{name}.attn")
    x = b.op("Add", [x, h], f"{name}.residual1")
    h = b.layer_norm(x, D_MODEL, f"{name}.norm2")
    h = linear(b, h, D_MODEL, FFN, f"{name}.ffn1", init="he")
    h = gelu_erf(b, h, consts, f"{name}.gelu")
    h = linear(b, h, FFN, D_MODEL, f"{name}.ffn2")
    return b.op("Add", [x, h], f"{name}.residual2")


def build(seed=DEFAULT_SEED):
    b = GraphBuilder(seed)
    head_dim = D_MODEL // HEADS
    consts = {
        "split_heads": b.const("shape_split_heads", np.array([-1, SEQ, HEADS, head_dim],
                                                             np.int64)),
        "merge_heads": b.const("shape_merge_heads", np.array([-1, SEQ, D_MODEL], np.int64)),
        "sqrt_head_dim": b.const("sqrt_head_dim", np.array(math.sqrt(head_dim), np.float32)),
        "sqrt2": b.const("sqrt2", np.array(math.sqrt(2.0), np.float32)),
        "one": b.const("one", np.array(1.0, np.float32)),
        "half": b.const("half", np.array(0.5, np.float32)),
    }
    tokens = "tokens"
    table = b.const("embed.weight", b.normal((VOCAB, D_MODEL), 1.0))
    x = b.op("Gather", [table, tokens], "embed", axis=0)
    pos = b.const("pos_embed", sinusoidal_positions(SEQ, D_MODEL))
    x = b.op("Add", [x, pos], "embed_pos")
    for layer in range(LAYERS):
        x = encoder_layer(b, x, consts, f"layer{layer}")
    x = b.layer_norm(x, D_MODEL, "final_norm")
    pooled = b.op("ReduceMean", [x], "mean_pool", axes=[1], keepdims=0)
    logits = b.gemm(pooled, D_MODEL, CLASSES, "classifier", init="xavier", output="logits")
    return make_model(b, "transformer", [tensor_input(tokens, I64, [BATCH, SEQ])],
                      [tensor_input(logits, F32, [BATCH, CLASSES])],
                      doc=f"{LAYERS}-layer transformer encoder, d_model {D_MODEL}, {HEADS} heads,"
                          f" FFN {FFN}, seq {SEQ}, vocab {VOCAB}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="path of the .onnx file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    save(build(args.seed), args.out)


if __name__ == "__main__":
    main()
