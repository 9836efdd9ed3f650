"""How the end-to-end test scripts here end: a work folder that is removed afterwards (or kept,
and named, with --keep), and PASS, or FAIL with every failure listed and exit code 1."""

import contextlib
import shutil
import sys
import tempfile


@contextlib.contextmanager
def work_folder(prefix, keep=False):
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def finish(failures):
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("PASS")
