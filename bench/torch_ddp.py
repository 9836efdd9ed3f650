"""One rank of PyTorch DistributedDataParallel training on one of Fleet's benchmark models: the
peer that bench/collective_bench.py runs beside fleet-launch --nproc N -- fleet-run. Prints one
JSON line, bench/torch_train.py's plus the rank's place:
  {"model": "resnet18", "batch": 32, ..., "seconds": s, "samples_per_s": x (this rank's),
   "rank": 0, "world_size": 2, "backend": "gloo", "bucket_cap_mb": 25, ...}

The model, data, loss and steps are torch_train.py's (its functions, imported), with the data
sharded as fleet-run shards it (rank r of n trains on records r, r + n, ...). The ranks meet over
TCP at 127.0.0.1:--port (rank 0 serves the store there), as torch.distributed's Gloo process
group, and the module is wrapped in DistributedDataParallel with its defaults: gradients
averaged in buckets of 25 MB (the first one 1 MB) while backward runs, buffers (BatchNorm's
running statistics) broadcast from rank 0 before each forward. "seconds" covers this rank's
--steps steps after --warmup. --timeout bounds the rendezvous and every collective.

  torch_ddp.py MODEL.onnx --data DIR --batch B --threads T --rank R --world-size N --port P
               [--steps N] [--warmup W] [--lr X] [--timeout S]
"""

import datetime
import json
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_train  # noqa: E402

BUCKET_CAP_MB = 25  # DistributedDataParallel's default, named in the result


def main():
    parser = torch_train.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True,
                        help="127.0.0.1 port where rank 0 serves the rendezvous store")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds the rendezvous and each collective may take")
    args = parser.parse_args()
    name = torch_train.model_name(parser, args)
    if not 0 <= args.rank < args.world_size:
        parser.error(f"--rank {args.rank} of --world-size {args.world_size}; expected "
                     "0 <= rank < world size")

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank,
                            world_size=args.world_size,
                            timeout=datetime.timedelta(seconds=args.timeout))
    model, inputs, data = torch_train.prepare(args, name, args.rank, args.world_size)
    ddp = DistributedDataParallel(model, bucket_cap_mb=BUCKET_CAP_MB)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr)
    seconds, losses = torch_train.train(ddp, optimizer, data, inputs, args.batch, args.warmup,
                                        args.steps)
    dist.barrier()
    dist.destroy_process_group()
    print(json.dumps({**torch_train.result(args, name, seconds, losses), "rank": args.rank,
                      "world_size": args.world_size, "backend": "gloo",
                      "bucket_cap_mb": BUCKET_CAP_MB, "bucket_bytes": bucket_bytes(ddp)}))


def bucket_bytes(ddp):
    """The sizes of DDP's gradient buckets (one allreduce each per step) as it rebuilt them after
    the first step, in the order backward produced the gradients, from its logging data (a
    private API: None where it is missing)."""
    try:
        info = ddp._get_ddp_logging_data()
        sizes = info["rebuilt_bucket_sizes" if info.get("has_rebuilt_buckets") else "bucket_sizes"]
        return [int(s) for s in str(sizes).split(",") if s.strip()]
    except (AttributeError, KeyError, RuntimeError, ValueError):
        return None


if __name__ == "__main__":
    main()
