"""The data of bench/ps_bench.py, as folders in fleet-run's .npy format (one <input>.npy per
CTR-DNN input, records along the first dimension, and label.npy), which both Fleet and the
PyTorch peer read, so both train on the same arrays and neither parses text in its timed steps.

criteo_to_npy   a Criteo TSV file of models/criteo_synth.py read exactly as Fleet's Criteo
                reader reads it (executor/data/criteo_dataset.h): dense = log(1 + x) for x > 0,
                else 0; Cs = criteo_synth.hash_ids(s, value, vocab), 0 when missing; int64
                labels (the softmax_ce loss).
hashed_ids_npy  ids that are 64-bit hashes (uniform in [1, 2^63)), for the server-memory run:
                every record brings new rows; or, with `pool`, ids drawn from `pool` fixed
                hashes per slot (the control run, which touches few rows).
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "models"))
import criteo_synth  # noqa: E402  (hash_ids: the ids of Fleet's Criteo reader)

NUM_DENSE = criteo_synth.NUM_DENSE
NUM_SPARSE = criteo_synth.NUM_SPARSE
SPARSE = [f"C{s}" for s in range(1, NUM_SPARSE + 1)]


def save(folder, arrays):
    os.makedirs(folder, exist_ok=True)
    for name, array in arrays.items():
        np.save(os.path.join(folder, f"{name}.npy"), np.ascontiguousarray(array))


def criteo_to_npy(tsv, folder, vocab):
    """Writes the feeds of `tsv` to folder; returns the number of records."""
    with open(tsv) as f:
        columns = list(zip(*(line.rstrip("\n").split("\t") for line in f)))
    if len(columns) != 1 + NUM_DENSE + NUM_SPARSE:
        raise ValueError(f"{tsv}: {len(columns)} columns; expected "
                         f"{1 + NUM_DENSE + NUM_SPARSE} (label, I1..I13, C1..C26)")
    arrays = {"label": np.array(columns[0], dtype=np.int64)}
    counts = np.array([[float(x) if x else 0.0 for x in col] for col in columns[1:14]]).T
    arrays["dense"] = np.where(counts > 0, np.log1p(np.maximum(counts, 0)), 0.0).astype(
        np.float32)
    for s, col in enumerate(columns[14:], start=1):
        present = np.array([bool(v) for v in col])
        values = np.array([int(v, 16) if v else 0 for v in col], dtype=np.uint64)
        arrays[f"C{s}"] = np.where(present, criteo_synth.hash_ids(s, values, vocab), 0).astype(
            np.int64)
    save(folder, arrays)
    return len(arrays["label"])


def hashed_ids_npy(folder, records, seed, pool=None):
    """Writes `records` records of 64-bit hashed ids (see above) to folder; returns the number
    of distinct (slot, id) pairs they hold: the rows a server creates when fed all of them."""
    rng = np.random.default_rng(seed)
    arrays = {"label": rng.integers(0, 2, records).astype(np.int64),
              "dense": rng.standard_normal((records, NUM_DENSE)).astype(np.float32)}
    distinct = 0
    for name in SPARSE:
        if pool is None:
            ids = rng.integers(1, 2**63 - 1, records, dtype=np.int64)
        else:
            ids = rng.choice(rng.integers(1, 2**63 - 1, pool, dtype=np.int64), records)
        arrays[name] = ids
        distinct += len(np.unique(ids))
    save(folder, arrays)
    return distinct
