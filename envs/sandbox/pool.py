"""A pool of fork-server workers behind the `Sandbox` contract: `run(program, tests) -> TestReport`.

`WorkerPoolSandbox.run` executes UNTRUSTED model-written code: it sends the program and
tests to an idle worker (one call per worker at a time; concurrent calls from several
threads wait for a free one), reads the child's output and report streams itself (the
fork-server only reports how the child ended, once every process of it is dead), waits
until the deadline plus a grace period, and builds the verdict itself from the child's
token-tagged report lines (`verdict.decide`).

Guarantees, whatever the program does:
- a report comes back; model failures are data, never exceptions;
- a dead, hung or misbehaving worker is killed and replaced, the execution in flight is
  reported as "error"; workers are also recycled after `recycle_after` executions and
  whenever their scratch tmpfs could not be emptied;
- on the host, only what this sandbox created is ever removed (gvisor's bundle dir, the
  subprocess backend's own mkdtemp scratch); bwrap workers' scratch is their own tmpfs.
- the child never sees a test's code or an expected value: it runs the program and the steps
  the judge recorded (calls on data), and reports what they returned as data only builtin
  types can produce; the verdict is made here (`judging.py`). The report token stops blind
  forgery only (printing "passed", writing report-shaped lines anywhere): a program that
  finds it can write any report, and still only reports values, never a verdict.

Workers are spawned from one long-lived thread: PR_SET_PDEATHSIG (behind bwrap's
--die-with-parent) fires when the parent *thread* exits. With bwrap 0.8 and runsc here a
worker spawned by a thread that then exited survived (checked), so this is a precaution
for other versions, not a fix for an observed failure.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import math
import os
import queue
import secrets
import select
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

from envs.sandbox.base import SandboxUnavailable
from envs.sandbox.judging import Execution, Judging
from envs.sandbox.launch import Launcher, Streams, host_pidns
from envs.sandbox.protocol import ProtocolError, build_request, collect, read_frame, report_cap, step_report_chars, write_frame
from envs.sandbox.verdict import Ending, read_reports
from envs.testcase import Limits, TestCase, TestReport

log = logging.getLogger(__name__)

HOST_GRACE_S = 5.0  # beyond Limits.timeout_s: the worker's own kill, cleanup and drain
START_TIMEOUT_S = 30.0  # bwrap + interpreter start; generous for loaded machines
RECYCLE_AFTER = 1000  # executions per worker before it is replaced (bounds leaks and drift)


@dataclass(eq=False)  # identity semantics: workers live in a set
class _Worker:
    proc: subprocess.Popen
    req_fd: int  # host -> worker, non-blocking
    resp_fd: int  # worker -> host: hello and status frames
    out_fd: int  # its children's stdout+stderr -> host, non-blocking
    rep_fd: int  # its children's report lines -> host, non-blocking
    err_fd: int  # worker's stderr, read only to explain failures
    private_pidns: bool
    cleanup: Callable[[], None]  # the launcher's per-worker cleanup, run once it is dead
    executions: int = 0
    dead: bool = False  # set once by _kill; its fds are closed and must not be touched
    kill_lock: threading.Lock = field(default_factory=threading.Lock)

    def alive(self) -> bool:
        return self.proc.poll() is None


class WorkerPoolSandbox:
    """`Sandbox` over `workers` fork-server processes started by `launcher`.

    Raises SandboxUnavailable at construction if the launcher cannot run here or the first
    worker does not come up (the message carries the worker's stderr).
    """

    def __init__(self, launcher: Launcher, *, workers: int = 2, limits: Limits | None = None,
                 recycle_after: int = RECYCLE_AFTER, judge_workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        launcher.check()
        self.launcher = launcher
        self.limits = limits or Limits()  # the one owner of every execution's limits
        self.recycle_after = recycle_after
        self._host_pidns = host_pidns()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sandbox-{launcher.name}-spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        self._closed = False
        self.restarts = 0  # workers replaced after death, hang or recycling (for tests/metrics)
        # The judge runs tests' own code in workers of its own, started on first use: no
        # program ever runs there, and no program's worker ever relays what a judge wrote.
        self._judge_workers = judge_workers
        self._judges: WorkerPoolSandbox | None = None
        self._judges_lock = threading.Lock()
        self._owns_launcher = True
        self.judging = Judging(self._execute, self._execute_judge if judge_workers else self._execute)
        try:
            for _ in range(workers):
                self._idle.put(self._spawn())
        except BaseException:
            self.close()
            raise

    # ---- the contract ------------------------------------------------------------------
    def run(self, program: str, tests: Sequence[TestCase], timeout_s: float | None = None) -> TestReport:
        """Judge UNTRUSTED `program` on `tests`; one outcome per test (see `judging.py`).

        The limits are this sandbox's (`self.limits`, given at construction); `timeout_s`
        replaces the wall clock only, and lifts the CPU limit to at least that many seconds
        so that the wall clock, the user's knob, is what decides.
        """
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        limits = self.limits if timeout_s is None else dataclasses.replace(
            self.limits, timeout_s=float(timeout_s), cpu_s=max(self.limits.cpu_s, math.ceil(timeout_s)))
        return self.judging.run(program, tuple(tests), limits)

    def _execute_judge(self, program: str, steps: list, limits: Limits) -> Execution:
        with self._judges_lock:
            if self._judges is None:
                if self._closed:
                    raise SandboxUnavailable("sandbox is closed")
                self._judges = WorkerPoolSandbox(self.launcher, workers=self._judge_workers, limits=self.limits,
                                                 recycle_after=self.recycle_after, judge_workers=0)
                self._judges._owns_launcher = False
        return self._judges._execute(program, steps, limits)

    def _execute(self, program: str, steps: list, limits: Limits) -> Execution:
        """One request on an idle worker: `program`, then `steps`, in one fresh child."""
        token = secrets.token_hex(16)
        start = time.monotonic()
        worker = self._acquire()
        notes: list[str] = []
        raw, output = "", ""
        try:
            for frame in build_request(program, steps, limits, token):
                write_frame(worker.req_fd, frame, start + HOST_GRACE_S)
            got = collect(worker.resp_fd, worker.out_fd, worker.rep_fd,
                          (limits.output_bytes, report_cap(limits, len(steps))),
                          time.monotonic() + limits.timeout_s + HOST_GRACE_S)
            resp = _checked(got.status)
        except (ProtocolError, OSError, ValueError) as e:
            why = f"{e}{self._stderr_tail(worker)}"
            notes.append(f"worker replaced: {why}")
            ending = Ending("worker_died", why=why)
            self._replace(worker)
        else:
            worker.executions += 1
            raw, output = got.reports, got.output
            notes += got.notes + resp["notes"]
            ending = _ending(resp, limits)
            incomplete = "incomplete" in resp["cleanup"]
            if incomplete or not worker.private_pidns:
                notes.append(f"cleanup: {resp['cleanup']}")
            if resp["dirty"] or incomplete or worker.executions >= self.recycle_after:
                notes.append("worker recycled" + (" (scratch not empty)" if resp["dirty"] else ""))
                self._replace(worker)
            else:
                self._release(worker)
        reports = read_reports(raw, token, len(steps), detail_chars=limits.detail_chars,
                               max_line=step_report_chars(limits))
        return Execution(reports, output, ending, notes)

    def close(self) -> None:
        """Kill every worker and stop the spawner. Idempotent.

        Idle workers are torn down here; workers in use are only SIGKILLed, so their `run`
        reports "error" and closes their pipes itself (no fd is closed under a reader).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                _kill(self._idle.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            busy = [w for w in self._all if not w.dead]
        for w in busy:
            if w.proc.poll() is None:
                w.proc.kill()
        self._spawner.shutdown(wait=True)
        with self._judges_lock:
            judges = self._judges
        if judges is not None:
            judges.close()
        if self._owns_launcher:
            self.launcher.close()

    def __enter__(self) -> "WorkerPoolSandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- worker lifetime ---------------------------------------------------------------
    def _acquire(self) -> _Worker:
        while True:
            if self._closed:
                raise SandboxUnavailable("sandbox is closed")
            try:
                worker = self._idle.get(timeout=1.0)
            except queue.Empty:
                continue
            if worker.alive():
                return worker
            self._replace(worker)  # died while idle

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.put(worker)
                return
            self._all.discard(worker)
        _kill(worker)

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
            self.restarts += 0 if self._closed else 1
        _kill(worker)
        if self._closed:
            return
        try:
            self._idle.put(self._spawn())
        except SandboxUnavailable as e:
            if self._closed:
                return  # closed while we were restarting: nothing to restart
            log.error("sandbox: could not restart a worker: %s", e)
            raise

    def _spawn(self) -> _Worker:
        try:
            future = self._spawner.submit(self._spawn_here)
        except RuntimeError:  # the spawner was shut down by close()
            raise SandboxUnavailable("sandbox is closed") from None
        return future.result()

    def _spawn_here(self) -> _Worker:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        err_r, err_w = os.pipe()
        out_r, out_w = os.pipe()
        rep_r, rep_w = os.pipe()
        ours, theirs = (req_w, resp_r, err_r, out_r, rep_r), (req_r, resp_w, err_w, out_w, rep_w)
        try:
            spec = self.launcher.spec(self._host_pidns, Streams(output=out_w, report=rep_w))
        except BaseException:
            for fd in ours + theirs:
                os.close(fd)
            raise
        try:
            proc = subprocess.Popen(spec.argv, stdin=req_r, stdout=resp_w, stderr=err_w,
                                    pass_fds=(out_w, rep_w, *spec.pass_fds), close_fds=True)
        except OSError as e:
            for fd in ours + theirs:
                os.close(fd)
            spec.cleanup()
            raise SandboxUnavailable(f"{self.launcher.name}: cannot start a worker: {e}") from None
        finally:
            spec.release()
        for fd in theirs:
            os.close(fd)
        for fd in (req_w, out_r, rep_r):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        worker = _Worker(proc, req_w, resp_r, out_r, rep_r, err_r, private_pidns=False, cleanup=spec.cleanup)
        try:
            hello = read_frame(resp_r, time.monotonic() + START_TIMEOUT_S)
        except ProtocolError as e:
            tail = self._stderr_tail(worker)
            _kill(worker)
            raise SandboxUnavailable(f"{self.launcher.name}: worker did not start ({e}){tail}") from None
        worker.private_pidns = hello.get("pidns_private") is True
        if spec.expect_private_pidns and not worker.private_pidns:
            log.warning("sandbox %s: pid namespace not proved private (%s); descendants are cleaned up "
                        "by process group and subreaper instead of kill(-1)", self.launcher.name, hello.get("why"))
        with self._lock:
            if not self._closed:
                self._all.add(worker)
                return worker
        _kill(worker)
        raise SandboxUnavailable("sandbox is closed")

    @staticmethod
    def _stderr_tail(worker: _Worker) -> str:
        try:
            if select.select([worker.err_fd], [], [], 0.2)[0]:
                text = os.read(worker.err_fd, 4096).decode("utf-8", "replace").strip()
                return f"; worker stderr: {text[-1000:]}" if text else ""
        except OSError:
            pass
        return ""


def _checked(resp: dict) -> dict:
    """Shape-check an untrusted status frame; ValueError if anything is off."""
    kinds = {"end": str, "timed_out": bool, "cleanup": str,
             "notes": list, "dirty": bool, "cpu_s": (int, float)}
    for key, kind in kinds.items():
        if not isinstance(resp.get(key), kind):
            raise ValueError(f"worker response field {key!r} is missing or malformed")
    if resp["end"] not in ("exited", "signaled") or not all(isinstance(n, str) for n in resp["notes"]):
        raise ValueError("worker response is malformed")
    return resp


def _ending(resp: dict, limits: Limits) -> Ending:
    if resp["timed_out"]:
        return Ending("timeout")
    sig = resp.get("signal") if isinstance(resp.get("signal"), int) else None
    code = resp.get("code") if isinstance(resp.get("code"), int) else None
    cpu_hit = sig is not None and resp["cpu_s"] >= limits.cpu_s - 0.05
    return Ending(resp["end"], code=code, signal=sig, why="cpu" if cpu_hit else "")


def _kill(worker: _Worker) -> None:
    """SIGKILL the worker (bwrap's --die-with-parent takes its namespace down with it). Idempotent."""
    with worker.kill_lock:
        if worker.dead:
            return
        worker.dead = True
    if worker.proc.poll() is None:
        worker.proc.kill()
    try:
        worker.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.error("sandbox: worker pid %d did not die within 10s of SIGKILL", worker.proc.pid)
    for fd in (worker.req_fd, worker.resp_fd, worker.out_fd, worker.rep_fd, worker.err_fd):
        try:
            os.close(fd)
        except OSError:
            pass
    if worker.proc.returncode is not None:  # never remove files under a live worker
        worker.cleanup()
