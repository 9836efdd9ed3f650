"""Writes synthetic click logs in Criteo's raw TSV format, drawn from a planted logistic model,
and the best AUC any model can reach on them (the Bayes-optimal ceiling).

Format (as Criteo's Display Advertising Challenge): per line, tab-separated,
    label  I1..I13  C1..C26
integer counts I1..I13 and categorical values C1..C26 as 8-digit hex strings; any feature may
be empty (missing), I2 may be negative, as in the real data.

Planted model: each slot s draws its values from its own vocabulary (2..2000 values, Zipf-like
frequencies). The click probability is sigmoid(z) with
    z = bias + sum_s w_s[id_s] + sum_j v_j * log(1 + max(I_j, 0))
where id_s = CriteoHashId(s, value, vocab) is exactly the id Fleet's Criteo reader gives the
model (executor/data/criteo_dataset.h: 0 for missing, else 1 + splitmix64(value ^
splitmix64(s)) % (vocab - 1)), and the dense term uses the reader's log(1 + x) transform. So a
CTR-DNN with [vocab, dim] embeddings can represent the planted model; its AUC is bounded by:
  bayes_auc          the expected AUC of the true probabilities (labels integrated out: the
                     ceiling for infinitely many labels drawn for these features),
  bayes_auc_sampled  the AUC of the true probabilities against the labels actually drawn.

Writes DIR/train.tsv (--rows), DIR/test.tsv (--test-rows, if > 0) and DIR/info.json (the
ceilings per file, the click rate, the settings); prints info.json.

Usage: criteo_synth.py --out DIR --rows N --seed S [--vocab 1000] [--test-rows M]
"""

import argparse
import json
import os

import numpy as np

NUM_DENSE = 13
NUM_SPARSE = 26
MASK = (1 << 64) - 1


def splitmix64(x):
    """SplitMix64 finaliser over a uint64 array (wrapping arithmetic, like the C++ reader)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_ids(slot, values, vocab):
    """CriteoHashId for `values` (uint64 array) of slot `slot` (1..26): ids in [1, vocab)."""
    h = splitmix64(np.asarray(values, dtype=np.uint64) ^ splitmix64(np.uint64(slot)))
    return (np.uint64(1) + h % np.uint64(vocab - 1)).astype(np.int64)


def expected_auc(p):
    """AUC of score p when each row is positive with probability p (labels integrated out).

    Sums p_i (1 - p_j) over pairs with p_i > p_j (ties count half), over the expected number of
    (positive, negative) pairs sum_i p_i * sum_j (1 - p_j) - sum_i p_i (1 - p_i).
    """
    order = np.argsort(p, kind="stable")
    ps = p[order]
    neg = 1.0 - ps
    # Group equal scores so ties count half.
    uniq, start = np.unique(ps, return_index=True)
    pos_group = np.add.reduceat(ps, start)
    neg_group = np.add.reduceat(neg, start)
    neg_below = np.concatenate([[0.0], np.cumsum(neg_group)[:-1]])
    within = np.add.reduceat(ps * neg, start)  # pairs of a row with itself
    num = np.sum(pos_group * neg_below) + 0.5 * np.sum(pos_group * neg_group - within)
    den = np.sum(ps) * np.sum(neg) - np.sum(ps * neg)
    del uniq
    return float(num / den)


def sampled_auc(score, label):
    """Plain AUC (Mann-Whitney, ties half) of `score` against 0/1 `label`."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    y = label[order]
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    ranks = np.repeat(start + (counts + 1) / 2.0, counts)  # average 1-based ranks
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Planted:
    """The data distribution: vocabularies, missing rates and the planted weights."""

    def __init__(self, rng, vocab):
        self.vocab = vocab
        self.cardinality = np.exp(rng.uniform(np.log(2), np.log(2000), NUM_SPARSE)).astype(int)
        self.values = [rng.choice(1 << 32, size=c, replace=False).astype(np.uint64)
                       for c in self.cardinality]
        self.zipf = [1.0 / np.arange(1, c + 1) ** rng.uniform(0.5, 1.2) for c in self.cardinality]
        self.zipf = [z / z.sum() for z in self.zipf]
        self.sparse_missing = np.where(rng.random(NUM_SPARSE) < 0.3,
                                       rng.uniform(0.05, 0.5, NUM_SPARSE), 0.0)
        self.dense_missing = rng.uniform(0.0, 0.4, NUM_DENSE)
        self.dense_scale = np.exp(rng.uniform(0.0, 6.0, NUM_DENSE))
        # Weights over hashed ids (row 0 = missing); dense weights per log-count.
        self.w = rng.normal(0.0, 0.3, (NUM_SPARSE, vocab))
        self.v = rng.normal(0.0, 0.12, NUM_DENSE)
        self.bias = -1.3

    def draw(self, rng, rows):
        """Returns (label int array, dense int array with NaN for missing, raw values, ids)."""
        raw = np.zeros((rows, NUM_SPARSE), dtype=np.uint64)
        present = np.zeros((rows, NUM_SPARSE), dtype=bool)
        ids = np.zeros((rows, NUM_SPARSE), dtype=np.int64)
        z = np.full(rows, self.bias)
        for s in range(NUM_SPARSE):
            pick = rng.choice(self.cardinality[s], size=rows, p=self.zipf[s])
            raw[:, s] = self.values[s][pick]
            present[:, s] = rng.random(rows) >= self.sparse_missing[s]
            ids[:, s] = np.where(present[:, s], hash_ids(s + 1, raw[:, s], self.vocab), 0)
            z += self.w[s, ids[:, s]]
        counts = np.floor(rng.exponential(1.0, (rows, NUM_DENSE)) * self.dense_scale).astype(
            np.int64)
        counts[:, 1] -= (rng.random(rows) < 0.1) * rng.integers(1, 3, rows)  # I2 can be negative
        dense_present = rng.random((rows, NUM_DENSE)) >= self.dense_missing
        features = np.where(dense_present, np.log1p(np.maximum(counts, 0)), 0.0)
        z += features @ self.v
        p = 1.0 / (1.0 + np.exp(-z))
        label = (rng.random(rows) < p).astype(np.int64)
        return label, counts, dense_present, raw, present, p


def format_rows(label, counts, dense_present, raw, present):
    cols = [label.astype(str)]
    for j in range(NUM_DENSE):
        cols.append(np.where(dense_present[:, j], counts[:, j].astype(str), ""))
    for s in range(NUM_SPARSE):
        hexes = np.array([f"{int(v):08x}" for v in raw[:, s]])
        cols.append(np.where(present[:, s], hexes, ""))
    return "".join("\t".join(fields) + "\n" for fields in zip(*[c.tolist() for c in cols]))


def write_split(planted, rng, rows, path):
    label, counts, dense_present, raw, present, p = planted.draw(rng, rows)
    with open(path, "w") as f:
        f.write(format_rows(label, counts, dense_present, raw, present))
    return {"file": os.path.basename(path), "rows": rows,
            "click_rate": float(label.mean()), "mean_probability": float(p.mean()),
            "bayes_auc": expected_auc(p), "bayes_auc_sampled": sampled_auc(p, label)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write")
    parser.add_argument("--rows", type=int, required=True, help="rows of train.tsv")
    parser.add_argument("--test-rows", type=int, default=0, help="rows of test.tsv (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab", type=int, default=1000,
                        help="hash buckets per slot, as the reader's --table-size (>= 2)")
    args = parser.parse_args()
    if args.vocab < 2 or args.rows < 1 or args.test_rows < 0:
        parser.error("need --vocab >= 2, --rows >= 1, --test-rows >= 0")
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    planted = Planted(rng, args.vocab)
    info = {"seed": args.seed, "vocab": args.vocab,
            "model": "label ~ Bernoulli(sigmoid(bias + sum_s w_s[hash id] + v . log1p(I)))",
            "splits": [write_split(planted, rng, args.rows, os.path.join(args.out, "train.tsv"))]}
    if args.test_rows > 0:
        info["splits"].append(
            write_split(planted, rng, args.test_rows, os.path.join(args.out, "test.tsv")))
    text = json.dumps(info, indent=2)
    with open(os.path.join(args.out, "info.json"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
