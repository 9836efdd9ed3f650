"""Writes Fleet's benchmark and end-to-end test models: DIR/<name>.onnx for mlp, resnet18,
transformer and ctr_dnn (opset 17, IR version 8, dynamic "batch" dimension, seeded weights).

Usage: generate.py --out DIR [--only NAME[,NAME...]] [--ctr-vocab N]
"""

import argparse
import os
import sys
import time

import ctr_dnn
import mlp
import resnet18
import transformer
from common import save

MODELS = {
    "mlp": lambda args: mlp.build(),
    "resnet18": lambda args: resnet18.build(),
    "transformer": lambda args: transformer.build(),
    "ctr_dnn": lambda args: ctr_dnn.build(vocab=args.ctr_vocab),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write the .onnx files to")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of: {', '.join(MODELS)}")
    parser.add_argument("--ctr-vocab", type=int, default=ctr_dnn.DEFAULT_VOCAB,
                        help="rows per ctr_dnn embedding table")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    names = [n for n in args.only.split(",") if n] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"generate.py: error: unknown model {', '.join(map(repr, unknown))}; "
                 f"expected one of {', '.join(MODELS)}")
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        start = time.perf_counter()
        model = MODELS[name](args)
        path = os.path.join(args.out, f"{name}.onnx")
        # Write then rename, so a reader never sees a half-written model.
        tmp = f"{path}.tmp{os.getpid()}"
        save(model, tmp)
        os.replace(tmp, path)
        if not args.quiet:
            print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, "
                  f"{len(model.graph.node)} nodes ({time.perf_counter() - start:.1f}s)")


if __name__ == "__main__":
    main()
