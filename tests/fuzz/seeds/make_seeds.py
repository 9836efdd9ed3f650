#!/usr/bin/env python3
"""Writes the binary seeds of the fuzz targets into the folders beside this script.

ps_server/: sessions for ps_server_fuzz (tests/fuzz/ps_server_fuzz.cc). A session is one byte of
sync mode, then records of kind (0 Push, 1 PullDense, 2 PullSparse, 3 Control) | 2-byte
little-endian length | a ps.proto message, encoded here by hand (varints and length-delimited
fields) so no protobuf package is needed. The server holds dense block 7 of f32[2,3] and table 3
of width 2, with 2 workers.
ps_push/, ps_pull_dense/, ps_pull_sparse/, ps_control/: inputs of the one-RPC targets
(tests/fuzz/ps_*_fuzz.cc): one byte of sync mode, then one request of that RPC.
npy/: valid .npy files of every element type Fleet reads, versions 1.0 to 3.0.
onnx_import/: small valid models (needs the onnx package: run with the .venv's python).
store_server/: inputs of store_server_fuzz (tests/fuzz/store_server_fuzz.cc): records of a
control byte c, then (c % 4 == 3) one byte of clock ticks of 100 ms, or a 2-byte little-endian
length and that many bytes from client c % 3, in the TCP store's wire format
(runtime/collective/store_wire.h).
infer/: inputs of infer_fuzz: a 2-byte little-endian length, x's .npy, then ids' .npy.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, value):
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def floats(*v):
    return struct.pack("<%df" % len(v), *v)


def ids(*v):
    return struct.pack("<%dq" % len(v), *v)


def dense(block_id, values):
    return field(1, block_id) + field(2, values)


def rows(table_id, row_ids, values=b""):
    return field(1, table_id) + field(2, row_ids) + (field(3, values) if values else b"")


def push(worker, step, dense_blocks=(), sparse=()):
    return (field(1, worker) + field(2, step) + b"".join(field(3, d) for d in dense_blocks) +
            b"".join(field(4, s) for s in sparse))


def record(kind, message):
    return bytes([kind]) + struct.pack("<H", len(message)) + message


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def npy(descr, shape, payload, major=1):
    # NumPy writes the shape as Python's repr of a tuple: (), (3,), (2, 3).
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    prefix = 10 if major == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode("latin1") + payload


def npy_seeds():
    write("npy", "f32_2x3.npy", npy("<f4", (2, 3), floats(0, 1, 2, 3, 4, 5)))
    write("npy", "f64_scalar.npy", npy("<f8", (), struct.pack("<d", 2.5)))
    write("npy", "i64_v2.npy", npy("<i8", (3,), ids(1, -2, 3), major=2))
    write("npy", "i32_v3.npy", npy("<i4", (2, 1), struct.pack("<2i", 7, -7), major=3))
    write("npy", "u8.npy", npy("|u1", (4,), bytes([0, 1, 2, 255])))
    write("npy", "i8.npy", npy("|i1", (2,), bytes([0x80, 0x7F])))
    write("npy", "bool.npy", npy("|b1", (3,), bytes([0, 1, 0])))
    write("npy", "f16_empty.npy", npy("<f2", (0, 5), b""))


def infer_seeds():
    def pair(x, ids_npy):
        return struct.pack("<H", len(x)) + x + ids_npy

    x = npy("<f4", (2, 4), floats(*range(8)))
    write("infer", "batch2.npy2", pair(x, npy("<i8", (3,), ids(0, 9, -10))))
    write("infer", "empty_batch.npy2", pair(npy("<f4", (0, 4), b""), npy("<i8", (0,), b"")))
    write("infer", "bad_id.npy2", pair(x, npy("<i8", (1,), ids(10))))
    write("infer", "wrong_width.npy2", pair(npy("<f4", (1, 5), floats(*range(5))),
                                            npy("<i4", (2,), struct.pack("<2i", 1, 2))))


def onnx_seeds():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    def model(nodes, inputs, outputs, inits=(), name="g"):
        g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        return m.SerializeToString()

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])
    w = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2), "w")
    b = numpy_helper.from_array(np.ones(2, dtype=np.float32), "b")
    write("onnx_import", "gemm_relu.onnx", model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", alpha=1.0),
         helper.make_node("Relu", ["h"], ["y"], name="relu")], [x], [y], [w, b]))
    # w read from weights.bin, the file the target puts beside the model.
    ext = numpy_helper.from_array(np.zeros((4, 2), dtype=np.float32), "w")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "32")):
        entry = ext.external_data.add()
        entry.key, entry.value = key, value
    write("onnx_import", "external_data.onnx", model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [x], [y], [ext]))
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    branch = lambda op: helper.make_graph([helper.make_node(op, ["x"], ["o"])], op,
                                          [], [helper.make_tensor_value_info(
                                              "o", TensorProto.FLOAT, ["batch", 4])])
    xo = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])
    write("onnx_import", "if_subgraph.onnx", model(
        [helper.make_node("If", ["cond"], ["z"], then_branch=branch("Relu"),
                          else_branch=branch("Neg"))], [x, cond], [xo]))
    shape = helper.make_tensor_value_info("s", TensorProto.INT64, [2])
    r = helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, "n"])
    write("onnx_import", "reshape_softmax.onnx", model(
        [helper.make_node("Reshape", ["x", "s"], ["t"]),
         helper.make_node("Softmax", ["t"], ["r"], axis=-1)], [x, shape], [r]))


def ps_seeds():
    grad = dense(7, floats(1, 2, 3, 4, 5, 6))
    sparse = rows(3, ids(0, 5, -1), floats(1, 1, 2, 2, 3, 3))
    pull_dense = field(1, 0) + field(2, 0) + field(3, 1) + field(4, 7)
    pull_sparse = field(1, 1) + field(2, rows(3, ids(0, 5, 1 << 40)))
    sessions = {
        # Both workers push step 0 (sync: the step completes), then pull it.
        "sync_step": bytes([0]) + record(0, push(0, 0, [grad], [sparse])) +
                     record(0, push(1, 0, [grad], [sparse])) + record(1, pull_dense) +
                     record(2, pull_sparse),
        # Async: pushes apply at once; a heartbeat, a save and a worker leaving.
        "async_save": bytes([1]) + record(0, push(0, 3, [grad], [sparse])) +
                      record(3, field(1, 0) + field(2, 1)) +
                      record(3, field(1, 2) + field(2, 0) + field(3, b"ignored")) +
                      record(3, field(1, 1) + field(2, 0)) + record(1, pull_dense),
        # Bad requests: unknown worker, block and table ids, short values, odd id bytes.
        "bad_ids": bytes([2]) + record(0, push(5, 0, [dense(8, floats(1))])) +
                   record(0, push(0, 1, [dense(7, floats(1, 2))], [rows(4, ids(1), floats(1))])) +
                   record(2, field(1, 0) + field(2, rows(3, b"\x01\x02\x03"))) +
                   record(1, field(1, -1) + field(4, 9)),
        # Geo: row deltas only.
        "geo_rows": bytes([3]) + record(0, push(1, 2, [], [sparse])) + record(2, pull_sparse),
    }
    for name, data in sessions.items():
        write("ps_server", name, data)

    # One request each, to a server where worker 0 has pushed step 0 of block 7 and rows 0, 5.
    one_rpc = {
        "ps_push": {
            "sync_completes_step": bytes([0]) + push(1, 0, [grad], [sparse]),
            "async_rows_only": bytes([1]) + push(1, 4, [], [sparse]),
            "short_block": bytes([2]) + push(0, 1, [dense(7, floats(1, 2))]),
            "unknown_table": bytes([3]) + push(1, 1, [], [rows(4, ids(1), floats(1, 1))]),
        },
        "ps_pull_dense": {
            "sync_waits": bytes([0]) + pull_dense,
            "async_all": bytes([1]) + field(1, 1) + field(4, 7),
            "unknown_block": bytes([2]) + field(1, 0) + field(4, 9),
        },
        "ps_pull_sparse": {
            "known_and_new_rows": bytes([0]) + pull_sparse,
            "odd_id_bytes": bytes([1]) + field(1, 0) + field(2, rows(3, b"\x01\x02\x03")),
            "two_tables": bytes([3]) + field(1, 1) + field(2, rows(3, ids(2))) +
                          field(2, rows(5, ids(2))),
        },
        "ps_control": {
            "heartbeat": bytes([0]) + field(1, 0) + field(2, 1),
            "worker_done": bytes([1]) + field(1, 1) + field(2, 0),
            "save": bytes([2]) + field(1, 2) + field(2, 0) + field(3, b"ignored"),
            "unknown_worker": bytes([3]) + field(1, 0) + field(2, 7),
        },
    }
    for folder, seeds in one_rpc.items():
        for name, data in seeds.items():
            write(folder, name, data)


def store_message(kind, payload):
    return struct.pack("<III", 0x54534C46, kind, len(payload)) + payload


def store_str(s):
    return struct.pack("<I", len(s)) + s


def store_seeds():
    SET, GET, WAIT = 1, 2, 3

    def send(client, data):
        return bytes([client]) + struct.pack("<H", len(data)) + data

    def tick(times):
        return bytes([3, times])

    def wait(timeout_ms, *keys):
        return store_message(WAIT, struct.pack("<QI", timeout_ms, len(keys)) +
                             b"".join(store_str(k) for k in keys))

    set_a = store_message(SET, store_str(b"a") + store_str(b"1"))
    write("store_server", "set_get", send(0, set_a + store_message(GET, store_str(b"a"))) +
          send(1, store_message(GET, store_str(b"b"))))
    # Client 1 waits for a and b; client 0 sets them, the second in two pieces.
    set_b = store_message(SET, store_str(b"b") + store_str(b"2"))
    write("store_server", "wait_then_set",
          send(1, wait(60000, b"a", b"b")) + send(0, set_a + set_b[:7]) + send(0, set_b[7:]))
    # A wait that times out after 1 s names the key still missing, then the request queued
    # behind it runs.
    write("store_server", "wait_times_out",
          send(2, wait(1000, b"a", b"z") + store_message(GET, store_str(b"a"))) +
          send(0, set_a) + tick(11))
    # A wrong magic, a SET with a trailing byte, a request kind the server only sends.
    write("store_server", "malformed",
          send(0, b"XXXX" + set_a[4:]) +
          send(1, store_message(SET, store_str(b"k") + store_str(b"v") + b"!")) +
          send(2, store_message(100, b"")))


if __name__ == "__main__":
    store_seeds()
    ps_seeds()
    npy_seeds()
    infer_seeds()
    onnx_seeds()
