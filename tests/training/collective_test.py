"""Data-parallel training equals one process with the combined batch, step by step.

For each case the same ONNX model is transpiled twice, as a user would:
  single      fleet-transpile MODEL --strategy single ...       -> fleet-run at batch 2B
  parallel    fleet-transpile MODEL --strategy collective ...   -> fleet-launch --nproc 2 --
              fleet-run at batch B per rank (rank i reads records i, i+2, ...)
              (or --collective-mode reduce: each bucket's gradients averaged onto its owner
              rank, which alone updates those parameters and broadcasts them;
              or --strategy localsgd --k-steps 1 --begin-step 4: gradients averaged for 4 steps,
              then the ranks update on their own and average their parameters after every
              step, which for SGD and momentum is the same update)
and checked:
  - every step, the mean of the two ranks' losses equals the single run's loss (each rank's loss
    is the mean over its half of the combined batch);
  - the model rank 0 exports equals the single run's exported model, initializer by
    initializer (read with the onnx package, compared with NumPy);
  - the job has as many fleet.allreduce ops as the bucket size implies (1 KB: one per
    tensor that does not fit with its neighbours; 25 MB: one for the whole model, and for
    LocalSGD one per average);
  - fleet-launch saved each rank's output under --log-dir;
  - each rank's run summary (fleet-run --summary-out) counts the collectives that ran: one
    allreduce per fleet.allreduce op that ran (every step; LocalSGD: the gradient average's ops
    for --begin-step steps, then the parameter average's), or one reduce per fleet.reduce op,
    each average carrying the model's bytes (the initializers' sizes, read with NumPy), the
    reduce mode's broadcasts every step (not the startup's), one executor wait per collective
    of a step, and an overlap in [0, 1] that is 1 - waited / busy (busy: all kinds); each rank
    printed its allreduce (or reduce) line;
  - with an optimizer that has state in the reduce mode (mlp_adam: Adam's moments live on each
    parameter's owner), the job is also run as two halves: STEPS / 2 steps saved with --save
    (both ranks gather the owners' state into rank 0's checkpoint), then --load and the other
    half; the resumed run's exported model equals the uninterrupted run's, bit for bit, and its
    losses the uninterrupted run's last steps; the same job without its checkpoint_sync
    program is refused --save;
  - the collectives went over the transport asked for (--transport, as
    FLEET_COLLECTIVE_TRANSPORT: auto is shared memory on one host, Gloo across hosts), as each
    rank's log and run summary say.
With --netns the two ranks run on two "hosts": network namespaces joined by a veth pair that
the test makes (and always removes), each with its own fleet-launch --nnodes 2 --node-rank N
--master ADDR:PORT --host ADDR. It needs root, iproute2 and util-linux's unshare/nsenter;
without them the test says why and exits 77 (CTest: skipped, never passed). Ranks in different network namespaces count as
different hosts, so auto connects them over Gloo.

The embed_sgd case is an embedding lookup, mean-pooled, then a linear classifier, written here
(onnx.helper) with its token data: the single run updates the table with its sparse-row
gradient; the allreduce mode gathers every rank's sparse rows (fleet.allgather_rows, whose
bytes must stay below the dense table's), the reduce mode and LocalSGD make it dense.

Usage: collective_test.py --fleet-transpile BIN --fleet-run BIN --fleet-launch BIN
       --fleet-inspect BIN --data DIR --case mlp_sgd|cnn_momentum|embed_sgd|mlp_adam
       [--strategy collective|reduce|localsgd] [--transport auto|shm|gloo] [--netns] [--keep]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

import numpy as np
import onnx
from onnx import helper, numpy_helper

CASES = {
    # model file, its data folder (in --data, or written to the work folder), optimizer flags
    "mlp_sgd": ("mlp.onnx", "mlp_data", ["--optimizer", "sgd", "--lr", "0.1"]),
    "cnn_momentum": ("cnn.onnx", "cnn_data", ["--optimizer", "momentum", "--lr", "0.05"]),
    "embed_sgd": ("embed.onnx", "embed_data", ["--optimizer", "sgd", "--lr", "0.5"]),
    "mlp_adam": ("mlp.onnx", "mlp_data", ["--optimizer", "adam", "--lr", "0.01"]),
}
STEPS = 12
RANK_BATCH = 16
BEGIN_STEP = 4  # LocalSGD: gradients averaged for this many steps, then the parameters


def write_embedding_case(folder, vocab=1000, dim=16, seq=6, classes=20, records=384):
    """embed.onnx: tokens [N, seq] -> Gather(table [vocab, dim]) -> ReduceMean over seq ->
    Gemm -> logits [N, classes]; embed_data/ holds tokens.npy and label.npy, where a record of
    class c holds tokens of c's own vocab // classes ids, so training learns. The table (64 KB)
    is far larger than the rows a batch touches (at most N * seq); w (1.3 KB) and b are two
    buckets at 1 KB buckets."""
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (vocab, dim)).astype(np.float32), "table"),
             numpy_helper.from_array(rng.normal(0, 0.3, (classes, dim)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(classes, np.float32), "b")]
    nodes = [helper.make_node("Gather", ["table", "tokens"], ["e"]),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "embed", [helper.make_tensor_value_info("tokens", onnx.TensorProto.INT64,
                                                       ["N", seq])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = os.path.join(folder, "embed.onnx")
    onnx.save(model, path)
    data = os.path.join(folder, "embed_data")
    os.makedirs(data)
    # Learnable: a record of class c holds tokens of class c's own slice of the vocabulary.
    labels = rng.integers(0, classes, records)
    per_class = vocab // classes
    tokens = labels[:, None] * per_class + rng.integers(0, per_class, (records, seq))
    np.save(os.path.join(data, "tokens.npy"), tokens.astype(np.int64))
    np.save(os.path.join(data, "label.npy"), labels.astype(np.int64))
    return path, data


# What each rank's log says it used: "fleet-run: worker.N: collectives over ...".
TRANSPORT_LOG = {"shm": "shared memory", "gloo": "gloo (tcp)"}


def run(cmd, timeout=300):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(
            f"FAIL: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}")
    return proc


class TwoHosts:
    """Two network namespaces joined by a veth pair, 10.213.S.1 and 10.213.S.2.

    Each namespace is held by a `unshare --net` process the test starts (and kills at the end,
    which removes the namespace and its end of the pair); commands enter it with `nsenter`.
    Nothing is mounted, so this also works inside a chroot."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.dev = [f"fva{tag}", f"fvb{tag}"]
        subnet = tag % 250
        self.addr = [f"10.213.{subnet}.1", f"10.213.{subnet}.2"]
        self.holders = []

    def __enter__(self):
        missing = [tool for tool in ("ip", "unshare", "nsenter") if shutil.which(tool) is None]
        if os.geteuid() != 0 or missing:
            print(f"SKIP: the two-host test needs root and ip, unshare, nsenter to make network "
                  f"namespaces (missing: {', '.join(missing) or 'root'})")
            sys.exit(SKIP)
        try:
            for _ in (0, 1):
                holder = subprocess.Popen(
                    ["unshare", "--net", "sh", "-c", "echo ready; exec sleep 600"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.holders.append(holder)
            for holder in self.holders:  # wait until each sleeps in its own namespace
                self._wait_for_namespace(holder)
            self._run(["ip", "link", "add", self.dev[0], "type", "veth", "peer", "name",
                       self.dev[1]])
            for holder, dev, addr in zip(self.holders, self.dev, self.addr):
                self._run(["ip", "link", "set", dev, "netns", str(holder.pid)])
                inside = self.enter(holder.pid)
                self._run(inside + ["ip", "addr", "add", f"{addr}/24", "dev", dev])
                self._run(inside + ["ip", "link", "set", dev, "up"])
                self._run(inside + ["ip", "link", "set", "lo", "up"])
        except (subprocess.CalledProcessError, RuntimeError) as e:
            self.__exit__(None, None, None)
            detail = (f"{' '.join(e.cmd)}: {e.stderr.strip()}"
                      if isinstance(e, subprocess.CalledProcessError) else str(e))
            print(f"SKIP: cannot make network namespaces here: {detail}")
            sys.exit(SKIP)
        return self

    def __exit__(self, *exc):
        for holder in self.holders:
            if holder.poll() is None:
                holder.kill()
            holder.wait()
        self.holders = []

    @staticmethod
    def enter(pid):
        return ["nsenter", "--target", str(pid), "--net", "--"]

    @staticmethod
    def _wait_for_namespace(holder):
        # The holder prints once it runs in its new namespace, then stays as that same pid; a
        # failing unshare exits instead, which ends the read.
        if holder.stdout.readline().strip() != "ready":
            holder.wait()
            raise RuntimeError(f"unshare --net exited {holder.returncode}: "
                               f"{holder.stderr.read().strip()}")

    @staticmethod
    def _run(argv):
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)

    def launch(self, run_args, logs):
        """Both nodes' fleet-launch at once; fails naming the node that failed."""
        master = f"{self.addr[0]}:29500"
        procs = []
        try:
            for node in (0, 1):
                cmd = self.enter(self.holders[node].pid) + [
                    run_args[0], "--nnodes", "2", "--node-rank", str(node), "--master", master,
                    "--host", self.addr[node], "--nproc", "1", "--log-dir", logs] + run_args[1:]
                procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True))
            outputs = [p.communicate(timeout=300)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for node, p in enumerate(procs):
            if p.returncode != 0:
                raise SystemExit(f"FAIL: node {node} exited {p.returncode}:\n{outputs[node]}")
        return "".join(outputs)


def losses(path, steps=STEPS):
    out = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            out[record["step"]] = record["loss"]
    if len(out) != steps:
        raise SystemExit(f"FAIL: {path} has {len(out)} steps; expected {steps}")
    return [out[s] for s in sorted(out)]


def initializers(path):
    model = onnx.load(path)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def main_program(args, job):
    """The main program's part of fleet-inspect's text of the job."""
    text = run([args.fleet_inspect, job]).stdout
    return text.partition('# program "main"')[2].partition('# program "')[0]


def count_averages(args, job):
    """The gradient (or parameter) averaging ops of the job's main program."""
    op = "= fleet.reduce(" if args.strategy == "reduce" else "= fleet.allreduce("
    return main_program(args, job).count(op)


def expected_collectives(args, job):
    """(allreduce or reduce calls, broadcast calls, broadcasts per step) of STEPS training
    steps, from the ops of the main program in fleet-inspect's text: every step each
    fleet.allreduce (collective), or each fleet.reduce and each broadcast (reduce), or the
    gradient average's ops for BEGIN_STEP steps and the parameter average's after (LocalSGD at
    k = 1, told apart by the ops' names)."""
    main = main_program(args, job)
    per_step_broadcasts = main.count("= fleet.broadcast(") if args.strategy == "reduce" else 0
    if args.strategy == "collective":
        averages = STEPS * main.count("= fleet.allreduce(")
    elif args.strategy == "reduce":
        averages = STEPS * main.count("= fleet.reduce(")
    else:
        grads = main.count('name="localsgd.average_grads.bucket')
        params = main.count('name="localsgd.average_params.bucket')
        averages = BEGIN_STEP * grads + (STEPS - BEGIN_STEP) * params
    return averages, STEPS * per_step_broadcasts, per_step_broadcasts


def gathered_params(args, job):
    """The parameters whose gradients the main program gathers as sparse rows."""
    main = main_program(args, job)
    return re.findall(r'= fleet\.allgather_rows\(.*vars=\[\(%"?([^",)]+)"?,', main)


def check_summary(args, job, model, work, rank, output):
    """The failures in rank `rank`'s run summary (see the module docstring)."""
    path = os.path.join(work, f"rank{rank}.summary.json")
    if not os.path.isfile(path):
        return [f"rank {rank} wrote no summary {path}"]
    with open(path) as f:
        summary = json.load(f)
    inits = initializers(model)
    model_bytes = sum(a.nbytes for a in inits.values())
    calls, broadcasts, per_step_broadcasts = expected_collectives(args, job)
    # Embeddings whose sparse rows travel by allgather (allreduce mode), not in the buckets.
    gathered = gathered_params(args, job)
    gathered_bytes = sum(inits[p].nbytes for p in gathered)
    coll = summary["collectives"] or {}
    # The reduce mode's averages are reduces proper; the other strategies' allreduces.
    average = "reduce" if args.strategy == "reduce" else "allreduce"
    other = "allreduce" if average == "reduce" else "reduce"
    broadcast = coll.get("broadcast", {})
    executor = summary["executor"]
    transport = args.transport if args.transport != "auto" else "gloo" if args.netns else "shm"
    expected = {
        "rank": (summary["rank"], rank), "world_size": (summary["world_size"], 2),
        "transport": (summary.get("transport"), TRANSPORT_LOG[transport]),
        "steps": (summary["steps"], STEPS), "samples": (summary["samples"], STEPS * RANK_BATCH),
        f"{average} calls": (coll.get(average, {}).get("calls"), calls),
        f"{average} bytes": (coll.get(average, {}).get("bytes"),
                             STEPS * (model_bytes - gathered_bytes)),
        f"{other} calls": (coll.get(other, {}).get("calls"), 0),
        "allgather calls": (coll.get("allgather", {}).get("calls"), STEPS * len(gathered)),
        "broadcast calls": (broadcast.get("calls"), broadcasts),
        "broadcast bytes": (broadcast.get("bytes"),
                            STEPS * model_bytes if per_step_broadcasts else 0),
        "executor runs": (executor["runs"], STEPS),
        "executor waits": (executor["waits"], calls + STEPS * per_step_broadcasts),
    }
    failures = [f"rank {rank} summary: {what} {got}; expected {want}"
                for what, (got, want) in expected.items() if got != want]
    if gathered and not 0 < coll["allgather"]["bytes"] < STEPS * gathered_bytes:
        failures.append(f"rank {rank} summary: allgather bytes {coll['allgather']['bytes']}; "
                        f"expected the touched rows only, less than the tables' "
                        f"{STEPS * gathered_bytes}")
    busy = sum(kind["busy_sec"] for kind in coll.values())
    # The allgather's kernel waits for it itself: none of it is hidden.
    waited = executor["waited_sec"] + coll.get("allgather", {}).get("busy_sec", 0)
    overlap = summary["overlap"]
    if not (busy > 0 and waited >= 0 and overlap is not None and 0 <= overlap <= 1):
        failures.append(f"rank {rank} summary: busy {busy} s, waited {waited} s, overlap "
                        f"{overlap}; expected busy > 0 and an overlap in [0, 1]")
    elif abs(overlap - min(1.0, max(0.0, 1 - waited / busy))) > 1e-9:
        failures.append(f"rank {rank} summary: overlap {overlap}; expected 1 - {waited} / {busy}")
    line = f"[worker.{rank}] fleet-run: {average}: {calls} calls"
    if line not in output:
        failures.append(f"fleet-launch's output has no line starting '{line}'")
    return failures


def launch(args, train, logs):
    """Both ranks through fleet-launch (on one host, or one per namespace); their output."""
    if args.hosts is not None:
        return args.hosts.launch([args.fleet_launch] + train, logs)
    launched = run([args.fleet_launch, "--nproc", "2", "--log-dir", logs] + train)
    return launched.stdout + launched.stderr


def check_resumed(args, job, data, work, ranks):
    """The failures of the job run as two halves, saved and resumed (see the module docstring),
    against the uninterrupted run's model (coll.onnx) and losses (`ranks`)."""
    half = STEPS // 2
    ckpt = os.path.join(work, "ckpt")
    common = ["--", args.fleet_run, job, "--data", data, "--batch", str(RANK_BATCH), "--steps",
              str(half)]
    launch(args, common + ["--save", ckpt, "--summary-out",
                           os.path.join(work, "first{rank}.summary.json")],
           os.path.join(work, "logs_first_half"))
    if not os.path.isfile(os.path.join(ckpt, "manifest.json")):
        return [f"the first half wrote no checkpoint {ckpt}"]
    failures = []
    # The state's broadcasts before the save are not the steps' collectives.
    per_step_broadcasts = expected_collectives(args, job)[2]
    for rank in (0, 1):
        with open(os.path.join(work, f"first{rank}.summary.json")) as f:
            got = json.load(f)["collectives"]["broadcast"]["calls"]
        if got != half * per_step_broadcasts:
            failures.append(f"rank {rank}'s first half counts {got} broadcasts in its steps; "
                            f"expected {half * per_step_broadcasts}")
    launch(args, common + ["--load", ckpt, "--metrics-out",
                           os.path.join(work, "resumed{rank}.jsonl"), "--export",
                           os.path.join(work, "resumed.onnx")],
           os.path.join(work, "logs_second_half"))
    for rank in (0, 1):
        got = losses(os.path.join(work, f"resumed{rank}.jsonl"), half)
        if got != ranks[rank][half:].tolist():
            failures.append(f"rank {rank}'s resumed losses {got} differ from the uninterrupted "
                            f"run's {ranks[rank][half:].tolist()}")
    whole = initializers(os.path.join(work, "coll.onnx"))
    resumed = initializers(os.path.join(work, "resumed.onnx"))
    for key in sorted(whole):
        if key not in resumed or not np.array_equal(whole[key], resumed[key]):
            diff = (np.max(np.abs(whole[key] - resumed[key])) if key in resumed else "missing")
            failures.append(f"resumed initializer {key} differs from the uninterrupted run's: "
                            f"{diff}")
    print(f"resumed after {half} of {STEPS} steps from {ckpt}: "
          f"{'same' if not failures else 'different'} model and losses")
    return failures + check_refused_without_sync(args, job, data, work)


def check_refused_without_sync(args, job, data, work):
    """A job without its checkpoint_sync program (as transpiled before it existed) is refused
    --save, saying why, rather than saving stale optimizer state."""
    old = os.path.join(work, "job_without_sync")
    shutil.copytree(job, old)
    manifest = os.path.join(old, "manifest.pbtxt")
    with open(manifest) as f:
        text = f.read()
    stripped = re.sub(r'programs \{\s*name: "checkpoint_sync"[^}]*\}\s*', "", text)
    if stripped == text:
        return [f"{manifest} names no checkpoint_sync program"]
    with open(manifest, "w") as f:
        f.write(stripped)
    os.remove(os.path.join(old, "checkpoint_sync.program"))
    proc = subprocess.run([args.fleet_run, old, "--data", data, "--steps", "1", "--save",
                           os.path.join(work, "never")], capture_output=True, text=True,
                          timeout=120)
    want = "the job has no checkpoint_sync program to gather it (hint: transpile the model again"
    if proc.returncode == 0 or want not in proc.stderr:
        return [f"fleet-run --save of a job without checkpoint_sync exited {proc.returncode}; "
                f"expected a failure saying '{want}':\n{proc.stderr[-2000:]}"]
    return []


def case(args, name, bucket_mb, work):
    model_file, data_dir, optimizer = CASES[name]
    if name == "embed_sgd":
        model, data = write_embedding_case(work)
    else:
        model = os.path.join(args.data, model_file)
        data = os.path.join(args.data, data_dir)
    common = ["--loss", "softmax_ce"] + optimizer

    single_job = os.path.join(work, "single")
    run([args.fleet_transpile, model, "-o", single_job, "--strategy", "single"] + common)
    run([args.fleet_run, single_job, "--data", data, "--batch", str(2 * RANK_BATCH), "--steps",
         str(STEPS), "--metrics-out", os.path.join(work, "single.jsonl"), "--export",
         os.path.join(work, "single.onnx")])

    job = os.path.join(work, "parallel")
    strategy = {"collective": ["--strategy", "collective"],
                "reduce": ["--strategy", "collective", "--collective-mode", "reduce"],
                "localsgd": ["--strategy", "localsgd", "--k-steps", "1", "--begin-step",
                             str(BEGIN_STEP)]}
    run([args.fleet_transpile, model, "-o", job, "--bucket-mb", str(bucket_mb)] +
        strategy[args.strategy] + common)
    logs = os.path.join(work, "logs")
    train = ["--", args.fleet_run, job, "--data", data, "--batch", str(RANK_BATCH), "--steps",
             str(STEPS), "--metrics-out", os.path.join(work, "rank{rank}.jsonl"), "--summary-out",
             os.path.join(work, "rank{rank}.summary.json"), "--export",
             os.path.join(work, "coll.onnx")]
    output = launch(args, train, logs)

    failures = []
    for rank in (0, 1):
        failures += check_summary(args, job, model, work, rank, output)
    transport = args.transport
    if transport == "auto":
        transport = "gloo" if args.netns else "shm"
    for rank in (0, 1):
        log = os.path.join(logs, f"worker.{rank}.log")
        if not os.path.isfile(log):
            failures.append(f"fleet-launch wrote no {log}")
            continue
        want_line = f"worker.{rank}: collectives over {TRANSPORT_LOG[transport]}"
        with open(log) as f:
            if want_line not in f.read():
                failures.append(f"{log} does not say '{want_line}'")

    want = np.array(losses(os.path.join(work, "single.jsonl")))
    ranks = [np.array(losses(os.path.join(work, f"rank{r}.jsonl"))) for r in (0, 1)]
    got = (ranks[0] + ranks[1]) / 2
    worst = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3))
    print(f"{name} {args.strategy} ({args.transport}) bucket {bucket_mb} MB: loss step 1 {want[0]:.6f}, step {STEPS} "
          f"{want[-1]:.6f}; worst relative difference of the ranks' mean {worst:.2e}")
    if not worst < 1e-4:
        failures.append(f"losses differ: single {want.tolist()} vs ranks' mean {got.tolist()}")
    if np.allclose(ranks[0], ranks[1]):
        failures.append("both ranks report the same losses: they did not read different shards")

    if args.strategy == "reduce" and optimizer[1] != "sgd":
        failures += check_resumed(args, job, data, work, ranks)

    single = initializers(os.path.join(work, "single.onnx"))
    trained = initializers(os.path.join(work, "coll.onnx"))
    if sorted(single) != sorted(trained):
        failures.append(f"initializers differ: {sorted(single)} vs {sorted(trained)}")
    else:
        for key in sorted(single):
            diff = np.max(np.abs(single[key] - trained[key])) if single[key].size else 0.0
            scale = max(1.0, float(np.max(np.abs(single[key]))) if single[key].size else 1.0)
            if not diff <= 1e-4 * scale:
                failures.append(f"initializer {key}: max difference {diff:.3g}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for tool in ("fleet-transpile", "fleet-run", "fleet-launch", "fleet-inspect"):
        parser.add_argument(f"--{tool}", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--strategy", choices=["collective", "reduce", "localsgd"],
                        default="collective")
    parser.add_argument("--transport", choices=["auto", "shm", "gloo"], default="auto")
    parser.add_argument("--netns", action="store_true",
                        help="run the two ranks in two network namespaces (two hosts)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.netns and args.transport == "shm":
        parser.error("--netns puts the ranks on two hosts, which share no memory")
    # fleet-launch and so every rank inherit it.
    os.environ["FLEET_COLLECTIVE_TRANSPORT"] = args.transport
    args.hosts = None
    if args.netns:
        with TwoHosts() as hosts:
            args.hosts = hosts
            return check(args)
    return check(args)


def check(args):

    failures = []
    # 1 KB splits the model's gradients into many buckets; 25 MB holds them all.
    expected_buckets = {}
    for bucket_mb in (0.001, 25):
        work = tempfile.mkdtemp(prefix=f"fleet-collective-{args.case}-")
        try:
            failures += case(args, args.case, bucket_mb, work)
            expected_buckets[bucket_mb] = count_averages(args, os.path.join(work, "parallel"))
        finally:
            if args.keep:
                print(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    print(f"averaging ops: {expected_buckets}")
    # LocalSGD with a warm start has two averages: the gradients' and the parameters'.
    per_average = 2 if args.strategy == "localsgd" else 1
    if expected_buckets[25] != per_average:
        failures.append(f"25 MB buckets: {expected_buckets[25]} averaging ops; "
                        f"expected {per_average}")
    if not expected_buckets[0.001] > 1:
        failures.append(f"1 KB buckets: {expected_buckets[0.001]} averaging ops; expected several")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
