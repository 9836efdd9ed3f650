"""Writes ONNX's backend node test cases (model + input/output protobufs) into a folder.

Uses the ONNX Python package that matches the C++ libonnx (Debian's python3-onnx 1.12), so the
cases use the opsets the C++ checker knows. onnx 1.12's case generators still use NumPy aliases
that NumPy 1.24 removed (np.float, np.bool, ...); they are restored before import.

Usage: /usr/bin/python3 generate_cases.py OUT_DIR
"""
import os
import sys

import numpy as np

for alias, real in (("float", float), ("bool", bool), ("object", object), ("int", int),
                    ("complex", complex), ("str", str)):
    if alias not in np.__dict__:
        setattr(np, alias, real)

from onnx.backend.test.cmd_tools import main  # noqa: E402  (needs the aliases first)

out = sys.argv[1]
if os.path.isdir(os.path.join(out, "node")):
    sys.exit(0)  # already generated
sys.argv = ["backend-test-tools", "generate-data", "-o", out]
main()
