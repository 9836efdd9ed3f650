"""Checks that every system header Fleet's C++ includes comes from a Debian package that
dependencies/debian.txt lists (docs/dependencies.md), so that a fresh machine, which has only
what ./fleet.sh installs, can build it.

For each `#include <...>` (and `#include "..."` that is not one of Fleet's own folders) in the
source folders, finds the header under the system include folders, asks dpkg which package ships
it, and reports the packages missing from the list, naming the first file that needs each:

    kernels/cpu/checkpoint.cc:20: <nlohmann/json.hpp> comes from nlohmann-json3-dev, which
    dependencies/debian.txt does not list: add it there (docs/dependencies.md)

Headers of the compiler's own packages (build-essential) are always present and are not checked;
headers found in no system folder (generated, or from the CUDA toolkit) are skipped. Exits 1 on a
missing package. Usage: check_dependencies.py REPO_ROOT
"""
import os
import re
import subprocess
import sys

SOURCE_FOLDERS = ["ir", "passes", "executor", "kernels", "runtime", "tools", "examples", "tests",
                  "bench"]
OURS = {"ir", "passes", "executor", "kernels", "runtime", "tools", "examples", "tests", "bench",
        "models"}
SYSTEM_DIRS = ["/usr/include", "/usr/include/x86_64-linux-gnu",
               "/usr/include/x86_64-linux-gnu/openblas-pthread"]
# Packages that build-essential brings: a fresh machine always has them.
ALWAYS_PRESENT = re.compile(r"^(libc6-dev|linux-libc-dev|libstdc\+\+-\d+-dev|libgcc-\d+-dev|"
                            r"libcrypt-dev|gcc-\d+|g\+\+-\d+|libc-dev-bin)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]')


def listed_packages(root):
    names = set()
    with open(os.path.join(root, "dependencies", "debian.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(line.split()[0])
    return names


def includes(root):
    """{header: first 'file:line' that includes it} for headers that are not Fleet's own."""
    first = {}
    for folder in SOURCE_FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc", ".cu", ".cuh")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or m.group(1).split("/")[0] in OURS:
                            continue
                        first.setdefault(m.group(1),
                                         f"{os.path.relpath(path, root)}:{number}")
    return first


def main():
    root = sys.argv[1]
    listed = listed_packages(root)
    found = {}  # resolved path -> header
    for header in includes(root):
        for d in SYSTEM_DIRS:
            candidate = os.path.join(d, header)
            if os.path.isfile(candidate):
                found[os.path.realpath(candidate)] = header
                break
    out = subprocess.run(["dpkg", "-S", *sorted(found)], capture_output=True, text=True).stdout
    owner = {}  # header -> package
    for line in out.splitlines():
        package, _, path = line.partition(": ")
        if path in found:
            owner[found[path]] = package.split(":")[0].split(",")[0].strip()
    where = includes(root)
    missing = {}
    for header, package in sorted(owner.items()):
        if ALWAYS_PRESENT.match(package) or package in listed:
            continue
        missing.setdefault(package, (header, where[header]))
    for package, (header, place) in sorted(missing.items()):
        print(f"{place}: <{header}> comes from {package}, which dependencies/debian.txt does not "
              f"list: add it there (docs/dependencies.md)")
    print(f"dependencies: {len(owner)} system headers from "
          f"{len(set(owner.values()))} packages checked; {len(missing)} missing from the list")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
