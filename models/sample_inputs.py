"""Writes seeded sample inputs for a model: one DIR/<input>.npy per graph input.

Names, element types and shapes come from the model's graph inputs (initializers that are also
listed as inputs are skipped); the symbolic "batch" dimension becomes --batch. Floating-point
inputs are drawn from N(0, 1). Integer inputs that feed a Gather's indices are drawn uniformly
from [0, rows) where rows is the size of the gathered table along the Gather axis (the smallest
one if the input feeds several tables); other integer inputs are an error, since no safe range is
known.

Usage: sample_inputs.py MODEL.onnx --batch B --out DIR [--seed S]
Also importable: make_inputs(model, batch, seed) -> {name: ndarray}.
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import helper

DEFAULT_SEED = 0


class InputError(Exception):
    pass


def _static_dims(model):
    """Maps tensor name -> shape for initializers and Constant nodes (what a Gather may read)."""
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    dims[node.output[0]] = list(attr.t.dims)
    return dims


def id_ranges(model):
    """Maps graph input name -> exclusive upper bound for the ids it may hold."""
    tables = _static_dims(model)
    bounds = {}
    for node in model.graph.node:
        if node.op_type != "Gather" or len(node.input) < 2:
            continue
        data, indices = node.input[0], node.input[1]
        if data not in tables:
            continue
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"),
                    0)
        shape = tables[data]
        if axis < 0:
            axis += len(shape)
        rows = shape[axis]
        bounds[indices] = min(bounds.get(indices, rows), rows)
    return bounds


def input_specs(model, batch):
    """Returns [(name, numpy dtype, shape)] for every real graph input."""
    initializers = {t.name for t in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        shape = []
        for i, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                shape.append(dim.dim_value)
            elif dim.dim_param == "batch" or i == 0:
                shape.append(batch)  # an unknown leading dim is the batch (exports drop names)
            else:
                raise InputError(f"input '{value.name}' dim {i} is "
                                 f"'{dim.dim_param or '?'}'; expected a number or 'batch' "
                                 "(only the leading dim may be unknown)")
        specs.append((value.name, np.dtype(dtype), shape))
    return specs


def make_inputs(model, batch, seed=DEFAULT_SEED):
    """Returns {input name: ndarray}. `model` is a ModelProto or a path."""
    if isinstance(model, (str, os.PathLike)):
        # Only dims are needed; they are in the proto even when the data is external.
        model = onnx.load(model, load_external_data=False)
    rng = np.random.default_rng(seed)
    bounds = id_ranges(model)
    inputs = {}
    for name, dtype, shape in input_specs(model, batch):
        if np.issubdtype(dtype, np.floating):
            inputs[name] = rng.standard_normal(shape).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            if name not in bounds:
                raise InputError(f"integer input '{name}' feeds no Gather with a constant table; "
                                 "cannot choose a safe id range")
            inputs[name] = rng.integers(0, bounds[name], shape).astype(dtype)
        elif dtype == np.bool_:
            inputs[name] = rng.integers(0, 2, shape).astype(np.bool_)
        else:
            raise InputError(f"input '{name}' has element type {dtype}; expected a float, "
                             "integer or bool type")
    return inputs


def file_name(input_name):
    """File name for an input: its name with path separators replaced."""
    return input_name.replace("/", "_").replace(os.sep, "_") + ".npy"


def write_inputs(inputs, out_dir):
    """Writes each input to out_dir/<name>.npy; returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, array in inputs.items():
        path = os.path.join(out_dir, file_name(name))
        np.save(path, array)
        paths[name] = path
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="path of the .onnx model")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--out", required=True, help="directory to write <input>.npy files to")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    if args.batch < 1:
        sys.exit(f"sample_inputs.py: error: --batch is {args.batch}; expected >= 1")
    try:
        inputs = make_inputs(args.model, args.batch, args.seed)
    except InputError as e:
        sys.exit(f"sample_inputs.py: {args.model}: error: {e}")
    for name, path in write_inputs(inputs, args.out).items():
        array = inputs[name]
        print(f"{path}: {array.dtype}{list(array.shape)}")


if __name__ == "__main__":
    main()
