"""PyTorch modules equal to the four ONNX models of models/generate.py (mlp, resnet18,
transformer, ctr_dnn), with their weights loaded from the ONNX initializers, so the training
benchmark runs the same computation in PyTorch and in Fleet.

Each module keeps the ONNX layout of its weights: Gemm with transB=1 ([out, in], PyTorch's own
layout) uses F.linear, Gemm with transB=0 and MatMul ([in, out]) use addmm / matmul on the stored
matrix, so no weight is transposed on load. Every float initializer that Fleet trains is a
Parameter; the scalar constants of the transformer (sqrt 2, 1, 0.5, sqrt(head_dim)) and the
shape tensors are folded into the code. BatchNormalization becomes BatchNorm2d in train mode
(batch statistics, running averages updated with ONNX momentum 0.9 = PyTorch momentum 0.1).

  model = build("resnet18", "build/models/resnet18.onnx")   # weights from the file
"""

import math

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def load_initializers(path):
    model = onnx.load(path)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


class Weights:
    """Hands out the initializers as Parameters (float) and records which were used."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.used = set()

    def param(self, name):
        self.used.add(name)
        return torch.nn.Parameter(torch.from_numpy(np.array(self.arrays[name], np.float32)))

    def tensor(self, name):
        self.used.add(name)
        return torch.from_numpy(np.array(self.arrays[name], np.float32))


class Mlp(torch.nn.Module):
    """Gemm (transB=1) 784-512-256-10 with Relu."""

    def __init__(self, w):
        super().__init__()
        self.layers = torch.nn.ParameterList()
        for name in ("fc1", "fc2", "fc3"):
            self.layers.append(w.param(f"{name}.weight"))
            self.layers.append(w.param(f"{name}.bias"))

    def forward(self, x):
        p = self.layers
        h = F.relu(F.linear(x, p[0], p[1]))
        h = F.relu(F.linear(h, p[2], p[3]))
        return F.linear(h, p[4], p[5])


class ConvBn(torch.nn.Module):
    """Conv (no bias, 'same' padding) + BatchNorm2d, named as resnet18.py names them."""

    def __init__(self, w, name, stride):
        super().__init__()
        self.weight = w.param(f"{name}.conv.weight")
        out_ch, in_ch, k, _ = self.weight.shape
        self.stride, self.pad = stride, k // 2
        self.bn = torch.nn.BatchNorm2d(out_ch, eps=1e-5, momentum=0.1)
        self.bn.weight = w.param(f"{name}.bn.weight")
        self.bn.bias = w.param(f"{name}.bn.bias")
        self.bn.running_mean.copy_(w.tensor(f"{name}.bn.running_mean"))
        self.bn.running_var.copy_(w.tensor(f"{name}.bn.running_var"))

    def forward(self, x):
        return self.bn(F.conv2d(x, self.weight, stride=self.stride, padding=self.pad))


class BasicBlock(torch.nn.Module):
    def __init__(self, w, name, stride):
        super().__init__()
        self.conv1 = ConvBn(w, f"{name}.1", stride)
        self.conv2 = ConvBn(w, f"{name}.2", 1)
        self.downsample = (ConvBn(w, f"{name}.downsample", stride)
                           if f"{name}.downsample.conv.weight" in w.arrays else None)

    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(x)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(h + shortcut)


class ResNet18(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.stem = ConvBn(w, "stem", 2)
        blocks = []
        for stage in range(1, 5):
            for block in range(2):
                stride = 2 if (stage > 1 and block == 0) else 1
                blocks.append(BasicBlock(w, f"layer{stage}.{block}", stride))
        self.blocks = torch.nn.Sequential(*blocks)
        self.fc_weight = w.param("fc.weight")
        self.fc_bias = w.param("fc.bias")

    def forward(self, image):
        h = F.relu(self.stem(image))
        h = F.max_pool2d(h, 3, stride=2, padding=1)
        h = self.blocks(h)
        h = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        return F.linear(h, self.fc_weight, self.fc_bias)


class Linear(torch.nn.Module):
    """MatMul by an [in, out] weight, then Add bias (transformer.py's linear)."""

    def __init__(self, w, name):
        super().__init__()
        self.weight = w.param(f"{name}.weight")
        self.bias = w.param(f"{name}.bias")

    def forward(self, x):
        return torch.matmul(x, self.weight) + self.bias


class LayerNorm(torch.nn.Module):
    def __init__(self, w, name):
        super().__init__()
        self.weight = w.param(f"{name}.weight")
        self.bias = w.param(f"{name}.bias")

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, eps=1e-5)


class EncoderLayer(torch.nn.Module):
    def __init__(self, w, name, heads):
        super().__init__()
        self.norm1 = LayerNorm(w, f"{name}.norm1")
        self.q = Linear(w, f"{name}.attn.q_proj")
        self.k = Linear(w, f"{name}.attn.k_proj")
        self.v = Linear(w, f"{name}.attn.v_proj")
        self.out = Linear(w, f"{name}.attn.out_proj")
        self.norm2 = LayerNorm(w, f"{name}.norm2")
        self.ffn1 = Linear(w, f"{name}.ffn1")
        self.ffn2 = Linear(w, f"{name}.ffn2")
        self.heads = heads

    def forward(self, x):
        batch, seq, dim = x.shape
        head_dim = dim // self.heads
        h = self.norm1(x)
        split = (-1, seq, self.heads, head_dim)
        q = self.q(h).reshape(split).permute(0, 2, 1, 3)
        k_t = self.k(h).reshape(split).permute(0, 2, 3, 1)
        v = self.v(h).reshape(split).permute(0, 2, 1, 3)
        probs = torch.softmax(torch.matmul(q, k_t) / math.sqrt(head_dim), dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(-1, seq, dim)
        x = x + self.out(ctx)
        h = F.gelu(self.ffn1(self.norm2(x)))  # exact (Erf) Gelu, as the model writes it
        return x + self.ffn2(h)


class Transformer(torch.nn.Module):
    def __init__(self, w, layers=2, heads=4):
        super().__init__()
        self.embed = w.param("embed.weight")
        self.pos = w.param("pos_embed")
        self.layers = torch.nn.Sequential(
            *[EncoderLayer(w, f"layer{i}", heads) for i in range(layers)])
        self.final_norm = LayerNorm(w, "final_norm")
        self.head_weight = w.param("classifier.weight")
        self.head_bias = w.param("classifier.bias")
        for name in ("shape_split_heads", "shape_merge_heads", "sqrt_head_dim", "sqrt2", "one",
                     "half"):
            w.used.add(name)

    def forward(self, tokens):
        x = F.embedding(tokens, self.embed) + self.pos
        x = self.final_norm(self.layers(x))
        return F.linear(x.mean(dim=1), self.head_weight, self.head_bias)


class CtrDnn(torch.nn.Module):
    """26 embedding lookups + dense features -> Gemm (transB=0) 400 x3 with Relu -> Gemm 2.
    The embedding tables get dense gradients (nn.Embedding's default)."""

    def __init__(self, w, sparse=26):
        super().__init__()
        self.names = [f"C{i}" for i in range(1, sparse + 1)]
        self.tables = torch.nn.ParameterList(
            [w.param(f"embedding.{n}.weight") for n in self.names])
        self.fcs = torch.nn.ParameterList()
        for name in ("fc1", "fc2", "fc3", "fc_out"):
            self.fcs.append(w.param(f"{name}.weight"))
            self.fcs.append(w.param(f"{name}.bias"))

    def forward(self, **inputs):
        parts = [F.embedding(inputs[n], t) for n, t in zip(self.names, self.tables)]
        h = torch.cat(parts + [inputs["dense"]], dim=1)
        for i in range(0, 6, 2):
            h = F.relu(torch.addmm(self.fcs[i + 1], h, self.fcs[i]))
        return torch.addmm(self.fcs[7], h, self.fcs[6])


BUILDERS = {"mlp": Mlp, "resnet18": ResNet18, "transformer": Transformer, "ctr_dnn": CtrDnn}


def build(name, onnx_path):
    """The module for model `name` with the weights of `onnx_path`. ValueError if the file has
    initializers the module does not use (a model that no longer matches this file)."""
    w = Weights(load_initializers(onnx_path))
    module = BUILDERS[name](w)
    unused = sorted(set(w.arrays) - w.used)
    if unused:
        raise ValueError(f"{onnx_path}: initializers {unused[:5]} are not used by the PyTorch "
                         f"{name}; bench/torch_models.py no longer matches models/{name}.py")
    return module
