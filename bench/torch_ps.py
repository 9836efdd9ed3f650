"""One process of the PyTorch parameter server that bench/ps_bench.py runs beside Fleet's: a
torch.distributed.rpc job of --servers servers and --trainers trainers training the CTR-DNN with
asynchronous SGD, as issue 9 describes the peer.

The model is models/ctr_dnn.py's, with the ONNX file's initializers as its starting values: 26
embedding tables [vocab, dim] and the MLP (Gemm 400 x3 + Relu, Gemm 2; weights [in, out]).
- A server holds, of every table, the rows whose id % servers is its index, and the dense
  parameters assigned to it (largest first, each to the server with the fewest elements so far).
  It answers two calls, each under one lock, so an update never interleaves with a read:
    pull(ids per table) -> (those rows, copies of its dense parameters)
    push(ids per table, row gradients, dense gradients)  applies SGD: w -= lr * g
  Repeated ids of a push are added up (index_add_), as the rows of a step arrive merged.
- A trainer, each step, dedups the ids of each table (torch.unique), sends each server ONE pull
  for all 26 tables and its dense parameters (rpc_async to every server at once, then waits),
  runs forward and backward on leaf tensors of the fetched rows and parameters (the gathered
  rows' gradient is thus already summed per distinct id), and pushes each server its gradients
  with rpc_async. The push is not waited for before the next step's pull; the trainer waits for
  the previous step's pushes before sending new ones, so at most one step of gradients is in
  flight (Fleet's communicator keeps a bounded queue likewise). Loss: softmax cross entropy on
  int64 labels (fleet-transpile --loss softmax_ce).
- Data: the folder of .npy files ps_bench.py converts the Criteo TSV into, exactly as Fleet's
  Criteo reader reads it; trainer r of n takes records r, r + n, ... (fleet-run's sharding),
  batches in order.
- Timing: a trainer's "seconds" run from the start of its first step to the end of its last
  (its pushes answered), as fleet-run's run summary counts them; the job's samples/s is the sum
  over trainers (ps_bench.py adds them up).
- Transport: TensorPipe, the only RPC backend of torch 1.13, with its defaults, bound to the
  loopback interface (TP_SOCKET_IFNAME=lo); the job meets at 127.0.0.1:--port, where rank 0 (the
  first server) serves the store. "payload_bytes_per_step" counts the tensors' bytes sent and
  received by a trainer per step (not the RPC framing).

Ranks: servers 0..S-1 ("ps0", ...), trainers S..S+T-1 ("trainer0", ...). A trainer prints one
JSON line: {"role": "trainer", "rank": 0, "steps": N, "seconds": s, "samples_per_s": x,
"cpu_seconds": c, "loss_first": a, "loss_last": b, "payload_bytes_per_step": p}, a server
{"role": "server", "rank": 0, "cpu_seconds": c}. cpu_seconds is the process's CPU time (all its
threads) over its steps, or from its first request to its end: start-up is left out. Every
process ends with rpc.shutdown(), which waits for all of them; --timeout bounds the rendezvous
and every call.

  torch_ps.py MODEL.onnx --role server|trainer --index I --servers S --trainers T --port P
              [--data DIR --batch B --steps N --lr X] [--threads 1] [--timeout S]
"""

import argparse
import json
import os
import sys
import threading
import time

import numpy as np
import onnx
import torch
import torch.distributed.rpc as rpc
import torch.nn.functional as F
from onnx import numpy_helper

NUM_SPARSE = 26
SPARSE = [f"C{i}" for i in range(1, NUM_SPARSE + 1)]
DENSE = [f"{layer}.{kind}" for layer in ("fc1", "fc2", "fc3", "fc_out")
         for kind in ("weight", "bias")]


def load_model(path):
    """{initializer name: float32 tensor} of the CTR-DNN; exits when one is missing."""
    arrays = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    names = [f"embedding.{s}.weight" for s in SPARSE] + DENSE
    missing = [n for n in names if n not in arrays]
    if missing:
        sys.exit(f"torch_ps.py: error: {path} lacks initializers {missing[:3]}; expected the "
                 "CTR-DNN of models/ctr_dnn.py")
    return {n: torch.from_numpy(np.array(arrays[n], np.float32)) for n in names}


def dense_owners(weights, servers):
    """{dense parameter: server}: largest first, each to the least loaded server."""
    load = [0] * servers
    owners = {}
    for name in sorted(DENSE, key=lambda n: -weights[n].numel()):
        s = load.index(min(load))
        owners[name] = s
        load[s] += weights[name].numel()
    return owners


class Shard:
    """A server's rows and dense parameters. pull and push hold one lock each call."""

    def __init__(self, weights, index, servers, lr):
        self.lr = lr
        # The whole table is kept so a row's index is its id; only ids % servers == index are
        # ever asked for (the trainers route them).
        self.tables = [weights[f"embedding.{s}.weight"].clone() for s in SPARSE]
        owners = dense_owners(weights, servers)
        self.dense_names = [n for n in DENSE if owners[n] == index]
        self.dense = [weights[n].clone() for n in self.dense_names]
        self.lock = threading.Lock()
        self.first_cpu = None  # process CPU seconds at the first pull (every thread's)

    def pull(self, ids):
        if self.first_cpu is None:
            self.first_cpu = time.process_time()
        with self.lock:
            rows = [t.index_select(0, i) for t, i in zip(self.tables, ids)]
            return rows, [p.clone() for p in self.dense]

    def push(self, ids, row_grads, dense_grads):
        with self.lock:
            for t, i, g in zip(self.tables, ids, row_grads):
                t.index_add_(0, i, g, alpha=-self.lr)
            for p, g in zip(self.dense, dense_grads):
                p.add_(g, alpha=-self.lr)


SHARD = None  # this server's Shard (RPC calls reach module functions, not objects)


def pull(ids):
    return SHARD.pull(ids)


def push(ids, row_grads, dense_grads):
    SHARD.push(ids, row_grads, dense_grads)


def load_data(folder, shard, shards):
    data = {}
    for name in SPARSE + ["dense", "label"]:
        path = os.path.join(folder, f"{name}.npy")
        if not os.path.exists(path):
            sys.exit(f"torch_ps.py: error: {path} is missing (ps_bench.py writes one .npy per "
                     "CTR-DNN input and label.npy)")
        data[name] = torch.from_numpy(np.load(path)[shard::shards].copy())
    return data


class Trainer:
    def __init__(self, args, weights):
        self.servers = args.servers
        self.owners = dense_owners(weights, args.servers)
        self.dims = [weights[f"embedding.{s}.weight"].shape[1] for s in SPARSE]
        self.payload = 0

    def nbytes(self, tensors):
        return sum(t.numel() * t.element_size() for t in tensors)

    def step(self, batch, pending):
        """One step; returns (loss, the push futures)."""
        uniq, inverse = [], []
        for name in SPARSE:
            u, inv = torch.unique(batch[name], return_inverse=True)
            uniq.append(u)
            inverse.append(inv)
        routes = [u % self.servers for u in uniq]
        # Per server, per table: the positions in uniq of the server's ids.
        if self.servers == 1:
            per_server = [[slice(None)] * NUM_SPARSE]
        else:
            per_server = [[torch.nonzero(r == s).squeeze(1) for r in routes]
                          for s in range(self.servers)]
        futures = []
        for s in range(self.servers):
            ids = [u[p] for u, p in zip(uniq, per_server[s])]
            self.payload += self.nbytes(ids)
            futures.append(rpc.rpc_async(f"ps{s}", pull, args=(ids,)))
        rows = [torch.empty(len(u), d) for u, d in zip(uniq, self.dims)]
        dense = {}
        for s, future in enumerate(futures):
            got_rows, got_dense = future.wait()
            self.payload += self.nbytes(got_rows) + self.nbytes(got_dense)
            for t, part in enumerate(got_rows):
                rows[t][per_server[s][t]] = part
            names = [n for n in DENSE if self.owners[n] == s]
            dense.update(zip(names, got_dense))
        for r in rows:
            r.requires_grad_()
        params = {n: dense[n].requires_grad_() for n in DENSE}

        h = torch.cat([r[i] for r, i in zip(rows, inverse)] + [batch["dense"]], dim=1)
        for layer in ("fc1", "fc2", "fc3"):
            h = F.relu(torch.addmm(params[f"{layer}.bias"], h, params[f"{layer}.weight"]))
        logits = torch.addmm(params["fc_out.bias"], h, params["fc_out.weight"])
        loss = F.cross_entropy(logits, batch["label"])
        loss.backward()

        for f in pending:  # at most one step of gradients in flight
            f.wait()
        pushes = []
        for s in range(self.servers):
            ids = [u[p] for u, p in zip(uniq, per_server[s])]
            grads = [r.grad[p] for r, p in zip(rows, per_server[s])]
            dense_grads = [params[n].grad for n in DENSE if self.owners[n] == s]
            self.payload += self.nbytes(ids) + self.nbytes(grads) + self.nbytes(dense_grads)
            pushes.append(rpc.rpc_async(f"ps{s}", push, args=(ids, grads, dense_grads)))
        return loss.item(), pushes


def train(args, weights):
    me = args.index
    data = load_data(args.data, me, args.trainers)
    records = data["label"].shape[0]
    if records < args.batch * args.steps:
        sys.exit(f"torch_ps.py: error: trainer {me} has {records} records; expected "
                 f"{args.batch * args.steps} (batch {args.batch} x {args.steps} steps)")
    trainer = Trainer(args, weights)
    losses, pending = [], []
    start, start_cpu = time.perf_counter(), time.process_time()
    for step in range(args.steps):
        first = step * args.batch
        batch = {n: t[first:first + args.batch] for n, t in data.items()}
        loss, pending = trainer.step(batch, pending)
        losses.append(loss)
    for f in pending:
        f.wait()
    seconds = time.perf_counter() - start
    return {"role": "trainer", "rank": me, "steps": args.steps, "batch": args.batch,
            "seconds": round(seconds, 4),
            "cpu_seconds": round(time.process_time() - start_cpu, 4),
            "samples_per_s": round(args.steps * args.batch / seconds, 1),
            "loss_first": losses[0], "loss_last": losses[-1],
            "payload_bytes_per_step": trainer.payload / args.steps,
            "torch": torch.__version__}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the CTR-DNN's .onnx file (models/ctr_dnn.py)")
    parser.add_argument("--role", choices=["server", "trainer"], required=True)
    parser.add_argument("--index", type=int, required=True, help="index among its role")
    parser.add_argument("--servers", type=int, required=True)
    parser.add_argument("--trainers", type=int, required=True)
    parser.add_argument("--port", type=int, required=True,
                        help="127.0.0.1 port where rank 0 serves the rendezvous store")
    parser.add_argument("--data", help="folder of C1..C26, dense and label .npy (trainers)")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds the rendezvous and each call may take")
    args = parser.parse_args()
    count = args.servers if args.role == "server" else args.trainers
    if args.servers < 1 or args.trainers < 1 or not 0 <= args.index < count:
        parser.error(f"--index {args.index} of {count} {args.role}s (--servers {args.servers}, "
                     f"--trainers {args.trainers}); expected 0 <= index < count, counts >= 1")
    if args.role == "trainer" and (not args.data or args.batch < 1 or args.steps < 1):
        parser.error("a trainer needs --data, --batch >= 1 and --steps >= 1")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    weights = load_model(args.model)
    global SHARD
    if args.role == "server":
        SHARD = Shard(weights, args.index, args.servers, args.lr)
    rank = args.index if args.role == "server" else args.servers + args.index
    name = f"ps{args.index}" if args.role == "server" else f"trainer{args.index}"
    options = rpc.TensorPipeRpcBackendOptions(init_method=f"tcp://127.0.0.1:{args.port}",
                                              rpc_timeout=args.timeout)
    rpc.init_rpc(name, rank=rank, world_size=args.servers + args.trainers,
                 rpc_backend_options=options)
    result = train(args, weights) if args.role == "trainer" else None
    rpc.shutdown()  # waits for every process of the job
    if result is None:  # a server: the CPU it spent from its first request on
        first = SHARD.first_cpu
        result = {"role": "server", "rank": args.index,
                  "cpu_seconds": round(time.process_time() - first, 4) if first else 0.0}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
