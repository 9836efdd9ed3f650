"""The main GEMM shapes of a model's forward pass at a given batch, read from its ONNX graph: the
shapes whose GFLOP/s the benchmarks print beside their throughput tables (bench/kernel_report.py).

The symbolic batch dimension of the graph inputs becomes `batch`, onnx.shape_inference gives
every tensor's shape, and each GEMM-like node becomes one row-major product C[M,N] = A[M,K] B[K,N]:
  MatMul   A [..., M, K] x B [..., K, N]: with a 2-D B the leading dimensions of A fold into M
           (one GEMM); otherwise one GEMM per broadcast batch index
  Gemm     M x N x K from A and B after transA / transB
  Conv     the im2col product: M = Cout/group, K = Cin/group * kh * kw, N = batch * Hout * Wout,
           one GEMM per group
Nodes with the same product (and, for Conv, the same layer geometry) are summed, and the shapes
are ranked by their FLOPs in one forward pass (2 M N K per GEMM).

  main_gemm_shapes("build/models/mlp.onnx", batch=128, top=3)
  -> [{"op": "Gemm", "m": 128, "n": 512, "k": 784, "gemms": 1, "flops": ..., "share": 0.79,
       "nodes": ["fc1"], "conv": None}, ...]
"""

import math

import onnx
from onnx import helper, shape_inference


class ShapeError(Exception):
    pass


def _with_batch(model, batch):
    """A copy of `model` whose symbolic leading input dimensions are `batch`."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        for index, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param:
                if index != 0:
                    raise ShapeError(f"input '{value.name}' has symbolic dimension "
                                     f"'{dim.dim_param}' at index {index}; only the leading "
                                     "(batch) dimension may be symbolic")
                dim.dim_value = batch
    return model


def _known_shapes(model):
    """{tensor name: [dims]} for every tensor whose shape inference fully determined."""
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    for value in list(model.graph.input) + list(model.graph.value_info) + list(
            model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value")
                                                            for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    return shapes


def _matmul(node, shapes):
    a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
    if a is None or b is None or not a or not b:
        return None
    a = [1] + a if len(a) == 1 else a  # numpy rules: a vector operand is a 1-row / 1-column matrix
    b = b + [1] if len(b) == 1 else b
    m, k, n = a[-2], a[-1], b[-1]
    if len(b) == 2:
        return math.prod(a[:-1]), n, k, 1
    rank = max(len(a), len(b)) - 2
    batch_a = [1] * (rank - len(a) + 2) + a[:-2]
    batch_b = [1] * (rank - len(b) + 2) + b[:-2]
    return m, n, k, math.prod(max(x, y) for x, y in zip(batch_a, batch_b))


def _gemm(node, shapes):
    a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return None
    attrs = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
    n = b[0] if attrs.get("transB", 0) else b[1]
    return m, n, k, 1


def _conv(node, shapes):
    """(M, N, K, GEMMs, geometry) of a 2-D Conv; geometry is None when the layer cannot be
    rebuilt as one F.conv2d / ONNX Conv (auto_pad, asymmetric pads, not 2-D)."""
    x, w, y = (shapes.get(node.input[0]), shapes.get(node.input[1]),
               shapes.get(node.output[0]))
    if x is None or w is None or y is None or len(w) < 3:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    group = attrs.get("group", 1)
    m = w[0] // group
    k = w[1] * math.prod(w[2:])
    n = y[0] * math.prod(y[2:])
    spatial = len(w) - 2
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    geometry = None
    if (spatial == 2 and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and pads[:2] == pads[2:]):
        geometry = {"batch": x[0], "in_channels": x[1], "height": x[2], "width": x[3],
                    "out_channels": w[0], "kernel": list(w[2:]),
                    "strides": list(attrs.get("strides", [1, 1])), "pads": pads[:2],
                    "dilations": list(attrs.get("dilations", [1, 1])), "group": group}
    return m, n, k, group, geometry


def main_gemm_shapes(model_path, batch, top=3):
    """The `top` GEMM shapes of the forward pass by FLOPs (see the module comment), each a dict
    with op, m, n, k, gemms (GEMMs of that shape per pass), flops, share (of all GEMM FLOPs of
    the pass), nodes and conv (the layer's geometry for Conv, else None). Raises ShapeError when
    the graph has a GEMM-like node whose shapes inference cannot determine."""
    model = onnx.load(model_path, load_external_data=False)
    try:
        inferred = shape_inference.infer_shapes(_with_batch(model, batch), data_prop=True)
    except onnx.onnx_cpp2py_export.shape_inference.InferenceError as e:
        raise ShapeError(f"{model_path}: shape inference failed at batch {batch}: {e}")
    shapes = _known_shapes(inferred)
    groups = {}
    for node in inferred.graph.node:
        geometry = None
        if node.op_type == "MatMul":
            dims = _matmul(node, shapes)
        elif node.op_type == "Gemm":
            dims = _gemm(node, shapes)
        elif node.op_type == "Conv":
            dims = _conv(node, shapes)
            if dims:
                dims, geometry = dims[:4], dims[4]
        else:
            continue
        if dims is None:
            raise ShapeError(f"{model_path}: node '{node.name}' ({node.op_type}): input or "
                             f"output shapes unknown after shape inference at batch {batch}")
        m, n, k, count = dims
        key = (node.op_type, m, n, k, repr(geometry))
        entry = groups.setdefault(key, {"op": node.op_type, "m": m, "n": n, "k": k, "gemms": 0,
                                        "flops": 0, "nodes": [], "conv": geometry})
        entry["gemms"] += count
        entry["flops"] += 2 * m * n * k * count
        entry["nodes"].append(node.name)
    total = sum(e["flops"] for e in groups.values())
    ranked = sorted(groups.values(), key=lambda e: -e["flops"])[:top]
    for entry in ranked:
        entry["share"] = entry["flops"] / total if total else 0.0
    return ranked
