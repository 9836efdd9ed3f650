"""Server memory per million sparse rows, measured on a running Fleet parameter server.

One run is 1 worker x 1 server (async) of a CTR-DNN job transpiled with --row-init (rows the
model lacks start from it), on data whose ids are 64-bit hashes (bench/ps_bench_data.py), so
the server creates a row for every new id. The bench starts both processes itself, with the
role environment fleet-launch would give them (Paddle's variables), to know the server's pid:
  1. the server starts; once it prints "serving on", its VmRSS (/proc/PID/status) is the
     baseline;
  2. the worker trains --steps steps and stops; the server then ends by itself, printing
     "N sparse rows held (B bytes)";
  3. its peak resident memory is VmHWM at its end (ru_maxrss from wait4, the same counter).
Growth = peak - baseline. A control run, the same steps on ids drawn from a few hashes per slot,
gives the growth that does not come from rows (message buffers, the executor's tensors); the
result is (growth - control growth) / (rows - control rows) per million rows, next to B / rows,
the bytes of the rows' values alone.
"""

import os
import re
import socket

from bench_procs import ProcessGroup

ROLE_VARIABLES = ("TRAINING_ROLE", "PADDLE_TRAINING_ROLE", "PADDLE_PSERVERS_IP_PORT_LIST",
                  "PADDLE_TRAINERS_NUM", "PADDLE_TRAINER_ID", "PADDLE_TRAINER_ENDPOINTS",
                  "PADDLE_CURRENT_ENDPOINT", "POD_IP", "PADDLE_PORT", "RANK", "WORLD_SIZE",
                  "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                  "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                  "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "FLEET_MASTER", "FLEET_ROLE")
ROWS_HELD = re.compile(r"(\d+) sparse rows held \((\d+) bytes\)")


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago (the server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def role_env(role, endpoint):
    env = {k: v for k, v in os.environ.items() if k not in ROLE_VARIABLES}
    env.update(PADDLE_PSERVERS_IP_PORT_LIST=endpoint, PADDLE_TRAINERS_NUM="1")
    if role == "server":
        host, port = endpoint.split(":")
        env.update(TRAINING_ROLE="PSERVER", POD_IP=host, PADDLE_PORT=port)
    else:
        env.update(TRAINING_ROLE="TRAINER", PADDLE_TRAINER_ID="0")
    return env


def measure_run(fleet_run, job, data, batch, steps, timeout):
    """One 1 x 1 run: ({"baseline_mb", "peak_mb", "growth_mb", "rows", "row_bytes",
    "samples_per_s"}, None) or (None, error)."""
    endpoint = f"127.0.0.1:{free_port()}"
    # The same command for both roles, as fleet-launch runs it; the server ignores the data.
    cmd = [fleet_run, job, "--data", data, "--batch", str(batch), "--steps", str(steps)]
    with ProcessGroup(timeout) as group:
        server = group.start("server.0", cmd, role_env("server", endpoint), watch=r"serving on ")
        if server.wait_for_line(min(60.0, group.remaining())) is None:
            group.kill_running()
            group.wait_all()
            out, err = server.output()
            tail = "\n".join((err.strip() or out.strip()).splitlines()[-5:])
            return None, f"server.0 did not say it was serving on {endpoint}:\n{tail}"
        baseline_kb = server.vm_kb("VmRSS")
        group.start("worker.0", cmd, role_env("worker", endpoint))
        if not group.wait_all():
            return None, group.failure()
        out, err = server.output()
        held = ROWS_HELD.search(err + out)
        worker_out = "".join(group.procs[1].output())
    if baseline_kb is None or held is None:
        return None, ("the server's VmRSS or its \"sparse rows held\" line is missing:\n"
                      + (err + out)[-1000:])
    speed = re.search(r"\(([\d,]+) samples/s", worker_out)
    peak_mb = server.peak_rss_mb()
    return {"baseline_mb": round(baseline_kb / 1024.0, 2), "peak_mb": round(peak_mb, 2),
            "growth_mb": round(peak_mb - baseline_kb / 1024.0, 2), "rows": int(held.group(1)),
            "row_bytes": int(held.group(2)),
            "samples_per_s": float(speed.group(1).replace(",", "")) if speed else None}, None


def per_million(run, control):
    """MB per million rows from a run and its control run (see the module docstring)."""
    extra_rows = run["rows"] - control["rows"]
    if extra_rows <= 0:
        return None
    return {"mb_per_million_rows": round((run["growth_mb"] - control["growth_mb"])
                                         / extra_rows * 1e6, 1),
            "value_mb_per_million_rows": round(run["row_bytes"] / run["rows"] * 1e6 / 2**20, 1),
            "run": run, "control": control}
