"""The processes of one benchmark run, started together and always cleaned up.

  with ProcessGroup(timeout=600) as group:
      server = group.start("server.0", [...], env, watch=r"serving on .* \\(port (\\d+)\\)")
      match = server.wait_for_line(30)        # blocks on an Event, never polls
      worker = group.start("worker.0", [...], env)
      group.wait_all()                        # every exit code and rusage, or kills the rest

Each process is a child of this one that dies with it (PR_SET_PDEATHSIG), its output drained by
two threads into memory. wait_all() blocks in os.waitid until one of them exits and, as soon as
one exits non-zero or the group's deadline passes, kills every process of the group that is
still running, by its pid (SIGKILL). Leaving the `with` block kills whatever is left the same
way, on errors too. Only processes this group started are ever signalled, and never after they
are reaped: a pid is reaped and marked under the lock that kill_running holds (an exited child
keeps its pid until it is reaped), so a pid the system has handed out again is never hit.

Thread safety: one thread drives a group; its deadline timer only calls kill_running; its
reader threads only append to their own buffers.
"""

import ctypes
import os
import re
import signal
import subprocess
import threading
import time


def die_with_parent():
    """In a child before exec: killed when the benchmark dies (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class Process:
    """One started process: its output so far, its exit code and rusage once reaped."""

    def __init__(self, name, cmd, popen, watch):
        self.name = name
        self.cmd = cmd
        self.popen = popen
        self.pid = popen.pid
        self.code = None  # exit code (negative: killed by that signal) once reaped
        self.rusage = None
        self._out, self._err = [], []
        self._watch = re.compile(watch) if watch else None
        self._seen = threading.Event()
        self._match = None
        self._readers = [threading.Thread(target=self._drain, args=(popen.stdout, self._out),
                                          daemon=True),
                         threading.Thread(target=self._drain, args=(popen.stderr, self._err),
                                          daemon=True)]
        for r in self._readers:
            r.start()

    def _drain(self, stream, lines):
        for line in stream:  # blocking reads until the process closes its end
            lines.append(line)
            if self._watch is not None and not self._seen.is_set():
                match = self._watch.search(line)
                if match:
                    self._match = match
                    self._seen.set()
        stream.close()
        self._seen.set()  # end of output: wake a waiter, which then finds no match

    def wait_for_line(self, timeout):
        """The match of the `watch` pattern in a line of its output, or None when the output
        ended (the process exited) or `timeout` seconds passed first."""
        self._seen.wait(timeout)
        return self._match

    def peak_rss_mb(self):
        """Its VmHWM in MB (ru_maxrss from wait4), once reaped."""
        return self.rusage.ru_maxrss / 1024.0 if self.rusage else None

    def vm_kb(self, field):
        """A field of /proc/PID/status in kB ("VmRSS", "VmHWM") while it runs, else None."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return None

    def output(self):
        """(stdout, stderr) text; complete once reaped."""
        for r in self._readers:
            if self.code is not None:
                r.join(5)
        return "".join(self._out), "".join(self._err)


class ProcessGroup:
    def __init__(self, timeout):
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.procs = []
        self.first_failed = None
        self.timed_out = False
        self._lock = threading.Lock()  # reaping a pid vs. signalling it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill_running()
        for p in self.procs:
            if p.code is None:
                with self._lock:
                    self._reap(p)
        return False

    def start(self, name, cmd, env=None, watch=None):
        """Starts `cmd`; raises OSError when it cannot (the group's others stay as they are,
        and leaving the `with` block stops them)."""
        popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 text=True, preexec_fn=die_with_parent)
        proc = Process(name, cmd, popen, watch)
        self.procs.append(proc)
        return proc

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())

    def kill_running(self):
        with self._lock:
            for p in self.procs:
                if p.code is None:
                    try:
                        os.kill(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def _time_up(self):
        self.timed_out = True
        self.kill_running()

    def _reap(self, proc):
        """Reaps `proc` (the caller holds the lock), blocking until it exits."""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.code = os.waitstatus_to_exitcode(status)
        proc.rusage = usage
        proc.popen.returncode = proc.code  # so Popen never waits for it again

    def wait_all(self):
        """Waits for every process; returns True when all exited 0. On the first failure, or at
        the group's deadline, kills the rest (their codes then say so)."""
        killer = threading.Timer(self.remaining(), self._time_up)
        killer.start()
        try:
            by_pid = {p.pid: p for p in self.procs if p.code is None}
            while by_pid:
                # Which child exited, without reaping it yet (WNOWAIT).
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
                proc = by_pid.pop(info.si_pid, None)
                if proc is None:
                    os.waitpid(info.si_pid, 0)  # a child of no group (none should exist)
                    continue
                with self._lock:
                    self._reap(proc)
                if proc.code != 0 and self.first_failed is None and not self.timed_out:
                    self.first_failed = proc
                    self.kill_running()
        finally:
            killer.cancel()
        return self.first_failed is None and not self.timed_out

    def failure(self):
        """A text naming the first process that failed (its command and last lines), or the
        timeout; None when all went well."""
        p = self.first_failed
        if p is None and self.timed_out:
            killed = [q.name for q in self.procs if q.code is not None and q.code < 0]
            return (f"timed out after {self.timeout:.0f} s; killed {', '.join(killed) or 'none'}"
                    " (hint: a larger --timeout, or a less busy machine)")
        if p is None:
            return None
        out, err = p.output()
        tail = "\n".join((err.strip() or out.strip()).splitlines()[-6:])
        how = f"killed by signal {-p.code}" if p.code < 0 else f"exit status {p.code}"
        return f"{p.name}: {how}: {' '.join(p.cmd)}\n{tail}"
