"""fleet-launch with real processes on 127.0.0.1.

The children are `sh -c` commands, a Python writer and role_probe (which prints the role
RoleFromEnvironment finds). Every test learns the pids of what it started (the launcher's
"worker.N: pid P" lines, and the pids the children print) and checks that none is left when
fleet-launch has returned. Waits block with deadlines: on pipes (selectors), on subprocess
timeouts, on pidfds; nothing sleeps in a loop.

Usage: launch_test.py --fleet-launch BUILD/tools/fleet-launch --role-probe BUILD/.../role_probe
"""
import argparse
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None
DEADLINE = 60  # seconds any one launch may take before the test fails


def pid_gone(pid, timeout=10):
    """True once `pid` has ended (a zombie counts) or does not exist; False after `timeout`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(fd)


def launch(*args, env=None):
    """Runs fleet-launch ARGS to the end; the CompletedProcess, with .elapsed in seconds."""
    start = time.monotonic()
    r = subprocess.run([ARGS.fleet_launch, *args], capture_output=True, text=True, env=env,
                       timeout=DEADLINE)
    r.elapsed = time.monotonic() - start
    return r


def children(stderr):
    """{role name: (pid, endpoint)} from the launcher's start lines."""
    return {m.group(1): (int(m.group(2)), m.group(3))
            for m in re.finditer(r"^fleet-launch: (\w+\.\d+): pid (\d+), endpoint (\S+)$",
                                 stderr, re.M)}


def printed_pids(output):
    """Pids the children printed as 'pid=N' or 'sleep=N'."""
    return [int(p) for p in re.findall(r"(?:pid|sleep)=(\d+)", output)]


def by_role(output):
    """{role: {KEY: value}} from prefixed 'KEY=value' lines."""
    roles = {}
    for m in re.finditer(r"^\[(\w+\.\d+)\] ([A-Za-z_]+)=(.*)$", output, re.M):
        roles.setdefault(m.group(1), {})[m.group(2)] = m.group(3)
    return roles


class Launched:
    """fleet-launch started in the background; its stdout read with a deadline."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([ARGS.fleet_launch, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = ""

    def read_until(self, pattern, count):
        """Reads stdout until `pattern` matched `count` times; returns the matches."""
        deadline = time.monotonic() + DEADLINE
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        # Raw reads: a buffered reader could hold lines that poll() no longer reports.
        while len(re.findall(pattern, self.out)) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise AssertionError(f"no {count}x {pattern!r} in time; got {self.out!r}")
            data = os.read(fd, 65536)
            if not data:
                raise AssertionError(f"fleet-launch ended early; output {self.out!r}")
            self.out += data.decode()
        return re.findall(pattern, self.out)

    def finish(self):
        out, err = self.proc.communicate(timeout=DEADLINE)
        self.out += out.decode()
        return self.proc.returncode, err.decode()

    def kill(self):
        """Kills fleet-launch if it still runs (its children die with it) and closes its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=DEADLINE)
        self.proc.stdout.close()
        self.proc.stderr.close()


class FleetLaunchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def assert_all_gone(self, pids):
        self.assertTrue(pids, "the test learned no pids")
        for pid in pids:
            self.assertTrue(pid_gone(pid), f"process {pid} outlived fleet-launch")

    # ---- output ----

    def test_prefixes_every_line_whole_and_writes_logs(self):
        # Each line is written in three pieces with flushes between; the prefixed output must
        # still hold every line whole, and the log the child's own bytes.
        writer = (
            "import os, sys, time\n"
            "role = os.environ['FLEET_ROLE']\n"
            "for i in range(150):\n"
            "    for piece in (f'line {i} of {role}: ', 'x' * (i % 13 + 1), '\\n'):\n"
            "        sys.stdout.write(piece); sys.stdout.flush()\n"
            "    if i % 50 == 0: time.sleep(0.01)\n"
            "sys.stderr.write(f'err of {role}\\n')\n"
            "sys.stdout.write('tail without newline')\n")
        logs = os.path.join(self.tmp.name, "logs")
        r = launch("--nproc", "2", "--log-dir", logs, "--", sys.executable, "-c", writer)
        self.assertEqual(r.returncode, 0, r.stderr)
        for role in ("worker.0", "worker.1"):
            expected = [f"line {i} of {role}: " + "x" * (i % 13 + 1) for i in range(150)]
            expected.append("tail without newline")
            mine = [l[len(role) + 3:] for l in r.stdout.splitlines() if l.startswith(f"[{role}] ")]
            self.assertEqual(mine, expected)
            self.assertIn(f"[{role}] err of {role}\n", r.stderr)
            with open(os.path.join(logs, f"{role}.log")) as f:
                log = f.read().splitlines()
            self.assertEqual([l for l in log if l.startswith("line") or l.startswith("tail")],
                             expected)
            self.assertEqual(log.count(f"err of {role}"), 1)
        # Nothing but whole prefixed lines on stdout.
        for line in r.stdout.splitlines():
            self.assertRegex(
                line, r"^\[worker\.[01]\] (line \d+ of worker\.[01]: x+|tail without newline)$")

    # ---- roles ----

    def probe_command(self):
        keys = "FLEET_ROLE|TRAINING_ROLE|PADDLE_[A-Z_]+|POD_IP|RANK|WORLD_SIZE|LOCAL_RANK|" \
               "LOCAL_WORLD_SIZE|MASTER_ADDR|MASTER_PORT|OMPI_[A-Z_]+|KEEP_ME"
        return ["sh", "-c", f"env | grep -E '^({keys})='; exec \"$0\"", ARGS.role_probe]

    def test_parameter_server_roles(self):
        env = dict(os.environ, RANK="99", OMPI_COMM_WORLD_RANK="7", KEEP_ME="yes")
        r = launch("--workers", "2", "--servers", "2", "--", *self.probe_command(), env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        started = children(r.stderr)
        self.assertEqual(sorted(started), ["server.0", "server.1", "worker.0", "worker.1"])
        servers = [started[f"server.{i}"][1] for i in range(2)]
        workers = [started[f"worker.{i}"][1] for i in range(2)]
        endpoints = servers + workers
        self.assertEqual(len(set(endpoints)), 4)
        for e in endpoints:
            host, port = e.rsplit(":", 1)
            self.assertEqual(host, "127.0.0.1")
            self.assertTrue(1024 <= int(port) <= 65535)
        roles = by_role(r.stdout)
        for i in range(2):
            s = roles[f"server.{i}"]
            self.assertEqual(s["FLEET_ROLE"], f"server.{i}")
            self.assertEqual(s["TRAINING_ROLE"], "PSERVER")
            self.assertEqual(s["PADDLE_PSERVERS_IP_PORT_LIST"], ",".join(servers))
            self.assertEqual(f"{s['POD_IP']}:{s['PADDLE_PORT']}", servers[i])
            self.assertEqual(s["PADDLE_TRAINERS_NUM"], "2")
            self.assertEqual(s["PADDLE_TRAINER_ENDPOINTS"], ",".join(workers))
            self.assertEqual(s["KEEP_ME"], "yes")
            self.assertNotIn("RANK", s)
            self.assertNotIn("OMPI_COMM_WORLD_RANK", s)
            self.assertEqual(s["name"], f"server.{i}")
            self.assertEqual(s["endpoint"], servers[i])
            self.assertEqual(s["num_servers"], "2")
            self.assertEqual(s["num_workers"], "2")
            self.assertEqual(s["maker"], "PaddleCloudRoleMaker, TRAINING_ROLE=PSERVER")

            w = roles[f"worker.{i}"]
            self.assertEqual(w["FLEET_ROLE"], f"worker.{i}")
            self.assertEqual(w["TRAINING_ROLE"], "TRAINER")
            self.assertEqual(w["PADDLE_TRAINER_ID"], str(i))
            self.assertEqual(w["PADDLE_CURRENT_ENDPOINT"], workers[i])
            self.assertEqual(w["RANK"], str(i))
            self.assertEqual(w["WORLD_SIZE"], "2")
            self.assertEqual(w["LOCAL_RANK"], str(i))
            self.assertEqual(f"{w['MASTER_ADDR']}:{w['MASTER_PORT']}", workers[0])
            self.assertNotIn("OMPI_COMM_WORLD_RANK", w)
            self.assertEqual(w["name"], f"worker.{i}")
            self.assertEqual(w["endpoint"], workers[i])
            self.assertEqual(w["master"], workers[0])
            self.assertEqual(w["server_endpoints"], ",".join(servers))
            self.assertEqual(w["local_rank"], str(i))

    def test_collective_roles_on_one_node(self):
        r = launch("--nproc", "3", "--", *self.probe_command())
        self.assertEqual(r.returncode, 0, r.stderr)
        started = children(r.stderr)
        workers = [started[f"worker.{i}"][1] for i in range(3)]
        roles = by_role(r.stdout)
        for i in range(3):
            w = roles[f"worker.{i}"]
            self.assertNotIn("TRAINING_ROLE", w)
            self.assertEqual(w["PADDLE_TRAINER_ENDPOINTS"], ",".join(workers))
            self.assertEqual(w["RANK"], str(i))
            self.assertEqual(w["LOCAL_WORLD_SIZE"], "3")
            self.assertEqual(w["maker"], "PaddleCloudRoleMaker, collective")
            self.assertEqual(w["name"], f"worker.{i}")
            self.assertEqual(w["num_workers"], "3")
            self.assertEqual(w["master"], workers[0])
            self.assertEqual(w["endpoint"], workers[i])

    def test_collective_roles_over_two_nodes(self):
        with socket.socket() as s:  # a free port for the master, as a user would choose one
            s.bind(("127.0.0.1", 0))
            master = f"127.0.0.1:{s.getsockname()[1]}"
        nodes = [Launched("--nnodes", "2", "--node-rank", str(n), "--master", master,
                          "--nproc", "2", "--", ARGS.role_probe) for n in range(2)]
        try:
            results = [n.finish() for n in nodes]
        finally:
            for n in nodes:
                n.kill()
        for n, (code, err) in enumerate(results):
            self.assertEqual(code, 0, err)
            self.assertIn(f"collective, node {n} of 2: workers {2 * n}..{2 * n + 1} of 4", err)
            roles = by_role(nodes[n].out)
            self.assertEqual(sorted(roles), [f"worker.{2 * n}", f"worker.{2 * n + 1}"])
            for local, rank in enumerate((2 * n, 2 * n + 1)):
                w = roles[f"worker.{rank}"]
                self.assertEqual(w["num_workers"], "4")
                self.assertEqual(w["master"], master)
                self.assertEqual(w["local_rank"], str(local))
                self.assertEqual(w["maker"], "TorchRunRoleMaker")

    # ---- ends of jobs ----

    def test_first_failure_stops_the_others_and_gives_its_exit_code(self):
        script = ('echo pid=$$; if [ "$RANK" = 1 ]; then sleep 0.3; exit 3; fi; '
                  'if [ "$RANK" = 2 ]; then trap "" TERM; fi; sleep 60 & echo sleep=$!; wait')
        r = launch("--nproc", "3", "--stop-grace", "1", "--", "sh", "-c", script)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertLess(r.elapsed, 30)
        pid1 = children(r.stderr)["worker.1"][0]
        pid2 = children(r.stderr)["worker.2"][0]
        self.assertIn(f"fleet-launch: worker.1 (pid {pid1}) failed first: exited with code 3; "
                      "stopping worker.0, worker.2 (SIGTERM)", r.stderr)
        # worker.2 ignores SIGTERM: it takes SIGKILL.
        self.assertIn(f"worker.2 (pid {pid2}) still running 1s after SIGTERM; sending SIGKILL",
                      r.stderr)
        self.assertIn("job failed: worker.1", r.stderr)
        self.assertIn("exit code 3", r.stderr.splitlines()[-1])
        self.assert_all_gone(printed_pids(r.stdout) + [p for p, _ in children(r.stderr).values()])

    def test_child_killed_by_sigkill(self):
        script = ('echo pid=$$; if [ "$RANK" = 1 ]; then kill -KILL $$; fi; '
                  'sleep 60 & echo sleep=$!; wait')
        r = launch("--nproc", "2", "--", "sh", "-c", script)
        self.assertEqual(r.returncode, 128 + 9, r.stderr)
        pid1 = children(r.stderr)["worker.1"][0]
        self.assertIn(f"worker.1 (pid {pid1}) failed first: killed by signal 9 (SIGKILL)",
                      r.stderr)
        self.assert_all_gone(printed_pids(r.stdout))

    def test_servers_are_stopped_after_the_workers_finish(self):
        script = ('if [ "$TRAINING_ROLE" = PSERVER ]; then echo pid=$$; '
                  '[ "$FLEET_ROLE" = server.0 ] && trap "" TERM; sleep 60 & echo sleep=$!; wait; '
                  'else echo done; fi')
        r = launch("--workers", "2", "--servers", "2", "--server-grace", "0.5",
                   "--stop-grace", "0.5", "--", "sh", "-c", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("every worker finished; waiting up to 0.5s for server.0, server.1 to exit",
                      r.stderr)
        self.assertIn("server.0, server.1 still running 0.5s after the last worker finished; "
                      "stopping (SIGTERM)", r.stderr)
        pid0 = children(r.stderr)["server.0"][0]
        self.assertIn(f"server.0 (pid {pid0}) still running 0.5s after SIGTERM; sending SIGKILL",
                      r.stderr)
        self.assertIn("job succeeded: 2 workers exited with code 0; servers had to be stopped",
                      r.stderr)
        self.assert_all_gone(printed_pids(r.stdout))

    def test_servers_that_exit_by_themselves(self):
        fifo = os.path.join(self.tmp.name, "go")
        os.mkfifo(fifo)
        # The server blocks on the fifo until the worker, finishing, writes to it.
        script = f'if [ "$TRAINING_ROLE" = PSERVER ]; then read x < {fifo}; echo got $x; ' \
                 f'else echo go > {fifo}; fi'
        r = launch("--workers", "1", "--servers", "1", "--server-grace", "30", "--", "sh", "-c",
                   script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(r.elapsed, 20)
        self.assertIn("[server.0] got go", r.stdout)
        self.assertNotIn("stopping", r.stderr)
        self.assertIn("job succeeded: 1 worker exited with code 0\n", r.stderr)

    def test_a_server_ending_first_is_normal_and_a_worker_failing_after_is_reported(self):
        # Servers end on the last worker's goodbye, before that worker's exit is seen: no noise
        # about it, and the worker's own failure still decides the job.
        script = 'if [ "$TRAINING_ROLE" = PSERVER ]; then exit 0; fi; sleep 0.5; exit 4'
        r = launch("--workers", "1", "--servers", "1", "--", "sh", "-c", script)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertNotIn("note: server.0", r.stderr)
        self.assertIn("worker.0", r.stderr.splitlines()[-1])

    def test_nothing_a_child_left_running_outlives_the_launcher(self):
        # Each worker exits at once, leaving a background sleep in its process group.
        r = launch("--nproc", "2", "--", "sh", "-c", "sleep 60 & echo sleep=$!; echo pid=$$")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(r.elapsed, 30)
        self.assertEqual(len(printed_pids(r.stdout)), 4)
        self.assert_all_gone(printed_pids(r.stdout))

    # ---- signals to the launcher ----

    def stopped_by(self, sig, stop_grace):
        job = Launched("--nproc", "2", "--stop-grace", stop_grace, "--", "sh", "-c",
                       "echo pid=$$; sleep 60 & echo sleep=$!; wait")
        try:
            job.read_until(r"sleep=\d+", 2)
            job.proc.send_signal(sig)
            code, err = job.finish()
        finally:
            job.kill()
        return code, err, printed_pids(job.out)

    def test_sigterm_to_the_launcher_stops_everything(self):
        code, err, pids = self.stopped_by(signal.SIGTERM, "5")
        self.assertEqual(code, 128 + signal.SIGTERM, err)
        self.assertIn("received SIGTERM; forwarding it to worker.0, worker.1", err)
        self.assertIn("job stopped by SIGTERM; exit code 143", err)
        self.assertNotIn("SIGKILL", err)  # SIGTERM was enough
        self.assert_all_gone(pids)

    def test_sigint_to_the_launcher_stops_everything(self):
        # A non-interactive shell's background jobs ignore SIGINT: the sleeps need SIGKILL.
        code, err, pids = self.stopped_by(signal.SIGINT, "0.5")
        self.assertEqual(code, 128 + signal.SIGINT, err)
        self.assertIn("received SIGINT; forwarding it to worker.0, worker.1", err)
        self.assert_all_gone(pids)

    def test_children_die_with_a_killed_launcher(self):
        job = Launched("--nproc", "2", "--", "sh", "-c", "echo pid=$$; exec sleep 60")
        try:
            pids = [int(p) for p in job.read_until(r"pid=(\d+)", 2)]
            job.proc.kill()  # SIGKILL: no chance to stop them; PR_SET_PDEATHSIG must
            job.proc.wait(timeout=DEADLINE)
        finally:
            job.kill()
        self.assert_all_gone(pids)

    # ---- the command line ----

    def test_help_explains_every_flag_with_examples(self):
        r = launch("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--nproc", "--workers", "--servers", "--workers-endpoints",
                     "--servers-endpoints", "--nnodes", "--node-rank", "--master", "--host",
                     "--log-dir", "--server-grace", "--stop-grace", "--version", "Examples:"):
            self.assertIn(flag, r.stdout)

    def test_version(self):
        r = launch("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^fleet-launch \d+\.\d+\.\d+ \(git ")

    def test_bad_flags_give_one_line_naming_the_flag(self):
        cases = [
            (["--nproc", "x", "--", "true"], "--nproc"),
            (["--bogus", "--nproc", "1", "--", "true"], "--bogus"),
            (["--nproc", "1", "--server-grace", "-1", "--", "true"], "--server-grace"),
            (["--nnodes", "2", "--nproc", "1", "--", "true"], "--nnodes 2 needs --master"),
            (["--workers", "2", "--", "true"], "--workers 2 needs --servers"),
            (["--nproc", "2"], "no command given"),
        ]
        for args, fragment in cases:
            r = launch(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith("fleet-launch: error: "), lines[0])
            self.assertIn(fragment, lines[0])

    def test_missing_command(self):
        r = launch("--nproc", "2", "--", "no-such-command-for-fleet")
        self.assertEqual(r.returncode, 127, r.stderr)
        self.assertIn("worker.0 could not start: command 'no-such-command-for-fleet' is not on "
                      "PATH", r.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet-launch", required=True)
    parser.add_argument("--role-probe", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest])
