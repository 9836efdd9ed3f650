"""Checks that #include lines follow the layering of ARCHITECTURE.md:

    ir <- passes;   ir <- executor <- kernels <- runtime;   tools, examples, tests, bench see
    everything.

A file in a folder may include only from the folders listed for it below (and system or
third-party headers). Prints each violation as FILE:LINE: ... and exits 1 when there is any.
Usage: check_includes.py REPO_ROOT
"""
import os
import re
import sys

ALLOWED = {
    "ir": {"ir"},
    "passes": {"ir", "passes"},
    "executor": {"ir", "executor"},
    "kernels": {"ir", "executor", "kernels"},
    "runtime": {"ir", "executor", "kernels", "runtime"},
}
OURS = {"ir", "passes", "executor", "kernels", "runtime", "tools", "examples", "tests", "bench",
        "models"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/')

root = sys.argv[1]
violations = 0
checked = 0
bad_files = set()
for folder, allowed in ALLOWED.items():
    for dirpath, _, files in os.walk(os.path.join(root, folder)):
        for name in files:
            if not name.endswith((".h", ".cc", ".cu", ".cuh")):
                continue
            path = os.path.join(dirpath, name)
            checked += 1
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) in OURS and m.group(1) not in allowed:
                        rel = os.path.relpath(path, root)
                        print(f"{rel}:{number}: includes {m.group(1)}/, but {folder}/ may only "
                              f"include {', '.join(sorted(allowed))}")
                        violations += 1
                        bad_files.add(rel)
print(f"layering: {checked - len(bad_files)} passed, {len(bad_files)} failed (files; "
      f"{violations} bad includes)")
sys.exit(1 if violations else 0)
