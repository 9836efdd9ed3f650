"""Writes the corpus of broken and hostile input files that tests/corpus/corpus_test.cc feeds
to the importer and the .npy reader (also under AddressSanitizer). Every file must be refused
with a clear error and no crash. Run once; the files are committed:

    .venv/bin/python tests/corpus/make_corpus.py tests/corpus
"""
import os
import random
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

out = sys.argv[1]
onnx_dir = os.path.join(out, "onnx")
npy_dir = os.path.join(out, "npy")
os.makedirs(onnx_dir, exist_ok=True)
os.makedirs(npy_dir, exist_ok=True)


def mlp(nodes=None, inits=None, opset=17, inputs=None, outputs=None):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    graph = helper.make_graph(
        nodes if nodes is not None else [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")],
        "g",
        inputs if inputs is not None else [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        outputs if outputs is not None else [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        inits if inits is not None else [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def save(name, model_or_bytes):
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString()
    with open(os.path.join(onnx_dir, name), "wb") as f:
        f.write(data)


good = mlp().SerializeToString()
save("empty.onnx", b"")
save("random_bytes.onnx", bytes(random.Random(1).getrandbits(8) for _ in range(4096)))
save("text_file.onnx", b"this is not a model\n" * 20)
for cut in (1, 7, len(good) // 2, len(good) - 3):
    save(f"truncated_{cut}.onnx", good[:cut])
rng = random.Random(7)
for i in range(4):
    flipped = bytearray(good)
    for _ in range(3):
        pos = rng.randrange(len(flipped))
        flipped[pos] ^= 1 << rng.randrange(8)
    save(f"bitflip_{i}.onnx", bytes(flipped))

save("unknown_op.onnx", mlp(nodes=[helper.make_node("FancyOp", ["x", "w"], ["y"], name="fancy")]))
save("other_domain.onnx", mlp(nodes=[helper.make_node("MatMul", ["x", "w"], ["y"], name="fc",
                                                      domain="com.example")]))
save("opset_99.onnx", mlp(opset=99))
save("dangling_input.onnx", mlp(nodes=[helper.make_node("MatMul", ["x", "ghost"], ["y"])]))
save("cycle.onnx", mlp(nodes=[helper.make_node("Relu", ["z"], ["y"], name="a"),
                              helper.make_node("Relu", ["y"], ["z"], name="b")]))
save("missing_output.onnx", mlp(nodes=[helper.make_node("Relu", ["x"], ["r"])]))
save("cannot_broadcast.onnx", mlp(
    nodes=[helper.make_node("Add", ["x", "w"], ["y"], name="add")]))
bad_size = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
bad_size.dims[:] = [1000, 1000]
save("initializer_size_mismatch.onnx", mlp(inits=[bad_size]))
huge = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
huge.dims[:] = [1 << 40, 1 << 40]
save("initializer_huge_dims.onnx", mlp(inits=[huge]))
neg = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
neg.dims[:] = [-4, 3]
save("initializer_negative_dim.onnx", mlp(inits=[neg]))
for name, location in (("external_escape.onnx", "../../../../etc/passwd"),
                       ("external_absolute.onnx", "/etc/passwd"),
                       ("external_missing.onnx", "no_such_weights.bin")):
    ext = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    ext.ClearField("float_data")
    ext.data_location = TensorProto.EXTERNAL
    entry = ext.external_data.add()
    entry.key, entry.value = "location", location
    save(name, mlp(inits=[ext]))
save("string_input.onnx", mlp(
    nodes=[helper.make_node("Identity", ["x"], ["y"])],
    inputs=[helper.make_tensor_value_info("x", TensorProto.STRING, [2])],
    outputs=[helper.make_tensor_value_info("y", TensorProto.STRING, [2])], inits=[]))
save("wrong_attribute_type.onnx", mlp(
    nodes=[helper.make_node("Softmax", ["x"], ["y"], axis="one")],
    outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], inits=[]))


def if_model(then_nodes, out="t"):
    """y = If(true) with `then_nodes` as both branches (which return `out`)."""
    branch = helper.make_graph(then_nodes, "then", [],
                               [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", 4])])
    return mlp(
        nodes=[helper.make_node("Constant", [], ["c"], value=helper.make_tensor(
                   "c", TensorProto.BOOL, [], [True])),
               helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], inits=[])


# A GRAPH attribute on an op that takes none; subgraphs that read an undefined name or use an
# op Fleet lacks.
save("graph_attribute.onnx", mlp(
    nodes=[helper.make_node("Relu", ["x"], ["y"], body=helper.make_graph(
        [helper.make_node("Identity", ["x"], ["t"])], "body", [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", 4])]))],
    outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], inits=[]))
save("subgraph_dangling_input.onnx", if_model([helper.make_node("Identity", ["nowhere"], ["t"])]))
save("subgraph_unknown_op.onnx", if_model([helper.make_node("FooBar", ["x"], ["t"])]))
save("duplicate_output.onnx", mlp(nodes=[helper.make_node("Relu", ["x"], ["y"], name="a"),
                                         helper.make_node("Relu", ["x"], ["y"], name="b")],
                                  outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                         ["batch", 4])]))


def npy(name, data):
    with open(os.path.join(npy_dir, name), "wb") as f:
        f.write(data)


def header(descr, shape, order="False"):
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, order, shape)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode()


npy("empty.npy", b"")
npy("not_npy.npy", b"PK\x03\x04 zip file, not an array")
npy("truncated_payload.npy", header("<f4", "(100,)") + b"\0" * 40)
npy("truncated_header.npy", header("<f4", "(3,)")[:20])
npy("huge_shape.npy", header("<f4", "(1099511627776, 1099511627776)"))
npy("negative_shape.npy", header("<f4", "(-3,)"))
npy("garbage_shape.npy", header("<f4", "(3, x)") + b"\0" * 12)
npy("fortran_order.npy", header("<f4", "(2, 2)", "True") + b"\0" * 16)
npy("complex64.npy", header("<c8", "(2,)") + b"\0" * 16)
npy("big_endian.npy", header(">f4", "(2,)") + b"\0" * 8)
npy("version_9.npy", b"\x93NUMPY\x09\x00" + b"\0" * 64)
print("corpus written to", out)
