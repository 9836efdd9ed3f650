"""Shared helpers for the model generators: a small graph builder, weight initialisers, saving.

Every generated model uses opset 17 and IR version 8 so that onnx 1.12 (Debian's libonnx, which
Fleet's importer links) can load and check it. The batch dimension is symbolic and named "batch".
Weights come from a seeded numpy Generator, so the same seed always gives byte-identical files.
"""

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
BATCH = "batch"


class GraphBuilder:
    """Collects nodes and initializers; hands out unique tensor names."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self._used_names = set()

    def unique(self, name):
        """Returns `name`, or `name_N` if it is already taken."""
        candidate, n = name, 1
        while candidate in self._used_names:
            candidate = f"{name}_{n}"
            n += 1
        self._used_names.add(candidate)
        return candidate

    def const(self, name, array):
        """Adds an initializer and returns its name."""
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, name, num_outputs=1, output=None, **attrs):
        """Adds node `name` and returns its output name (or list of names if num_outputs > 1).
        The single output is called `name` unless `output` names it (e.g. a graph output)."""
        name = self.unique(name)
        if output is not None:
            outputs = [self.unique(output)]
        elif num_outputs == 1:
            outputs = [name]
        else:
            outputs = [self.unique(f"{name}:{i}") for i in range(num_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs[0] if num_outputs == 1 else outputs

    # --- initialisers -------------------------------------------------------------------------

    def he_normal(self, shape, fan_in):
        """He (Kaiming) normal: std sqrt(2 / fan_in); for layers followed by Relu."""
        return (self.rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)

    def xavier_uniform(self, shape, fan_in, fan_out):
        """Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); for linear layers."""
        a = math.sqrt(6.0 / (fan_in + fan_out))
        return self.rng.uniform(-a, a, shape).astype(np.float32)

    def bias(self, size, fan_in):
        """PyTorch's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); non-zero on purpose."""
        a = 1.0 / math.sqrt(fan_in)
        return self.rng.uniform(-a, a, size).astype(np.float32)

    def normal(self, shape, std):
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    # --- common layers ------------------------------------------------------------------------

    def gemm(self, x, in_features, out_features, name, trans_b=True, init="he", output=None):
        """Fully connected layer as one Gemm. trans_b=True stores W as [out, in] (PyTorch export
        style), False as [in, out] (TensorFlow / Paddle style)."""
        if init == "he":
            w = self.he_normal((out_features, in_features), in_features)
        else:
            w = self.xavier_uniform((out_features, in_features), in_features, out_features)
        if not trans_b:
            w = np.ascontiguousarray(w.T)
        w_name = self.const(f"{name}.weight", w)
        b_name = self.const(f"{name}.bias", self.bias(out_features, in_features))
        return self.op("Gemm", [x, w_name, b_name], name, output=output,
                       transB=1 if trans_b else 0)

    def layer_norm(self, x, dim, name, axis=-1, epsilon=1e-5):
        """LayerNormalization (opset 17) with gamma near 1 and beta near 0, both perturbed so a
        kernel that ignores them fails the comparison."""
        gamma = (1.0 + self.normal((dim,), 0.05)).astype(np.float32)
        beta = self.normal((dim,), 0.05)
        g = self.const(f"{name}.weight", gamma)
        b = self.const(f"{name}.bias", beta)
        return self.op("LayerNormalization", [x, g, b], name, axis=axis, epsilon=epsilon)


def tensor_input(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def make_model(builder, graph_name, inputs, outputs, doc=""):
    """Builds, checks (with the installed onnx) and returns the ModelProto."""
    graph = helper.make_graph(builder.nodes, graph_name, inputs, outputs,
                              initializer=builder.initializers, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fleet-models", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def save(model, path):
    onnx.save_model(model, path)


F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
