"""The lint gate's kept-alive worker process: pylint on untrusted text, under limits.

Linting parses and infers over model-written code, which can cost without bound: a few
lines of big-integer arithmetic make astroid's inference take seconds per line, and a
100-million-element list literal takes ~800 MB just to parse. So the gate lints in this
worker: one long-lived process (the in-process pylint is built once and stays warm, so a
check still costs milliseconds), with an address-space cap (RLIMIT_AS) and a wall-clock
deadline the parent enforces. A program that trips either gets its own verdict
("lint_timeout" / "lint_memory") and the worker is replaced before the next program.

Protocol: 4-byte big-endian length + UTF-8 JSON frames over the worker's stdin/stdout.
First frame from the parent: {"sys_path": [...], "memory_mb": N} (the worker resolves
imports against the parent's sys.path, so verdicts equal in-process ones); the worker
answers {"ready": true} once pylint is built and warm. Then per program: {"text"} ->
{"messages": [[line, column, msg_id, symbol, message], ...], "syntax_error", "pylint_run"},
or {"tripped": "lint_memory"} (the worker then exits: after a MemoryError its state is
not to be trusted).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import weakref

from envs.sandbox.protocol import read_exact

_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT_S = 120.0  # importing pylint and warming astroid, on a loaded machine
TRIPPED = ("lint_timeout", "lint_memory")


class LintWorker:
    """Parent side: `run(text)` -> reply dict from the worker, or {"tripped": status}."""

    def __init__(self, *, timeout_s: float, memory_mb: int):
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.restarts = 0
        self._proc: subprocess.Popen | None = None

    def run(self, text: str) -> dict:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        assert self._proc is not None
        try:
            _write(self._proc.stdin, {"text": text})
            reply = _read(self._proc.stdout, time.monotonic() + self.timeout_s)
        except TimeoutError:
            self._stop()
            return {"tripped": "lint_timeout"}
        except (OSError, EOFError, ValueError):  # died mid-program: killed for memory, or crashed
            self._stop()
            return {"tripped": "lint_memory"}
        if reply.get("tripped"):
            self._stop()
        return reply

    def close(self) -> None:
        self._stop()

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=_PROJECT_ROOT)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from envs.lint_worker import main; main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        weakref.finalize(self, _kill, self._proc)
        try:
            _write(self._proc.stdin, {"sys_path": sys.path, "memory_mb": self.memory_mb})
            ready = _read(self._proc.stdout, time.monotonic() + START_TIMEOUT_S)
        except (OSError, EOFError, ValueError, TimeoutError) as exc:
            self._stop()
            raise RuntimeError(f"the lint worker did not start: {exc!r}") from None
        if not ready.get("ready"):
            self._stop()
            raise RuntimeError(f"the lint worker did not start: {ready}")

    def _stop(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None
            self.restarts += 1


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass


def _write(stream, obj: dict) -> None:
    body = json.dumps(obj).encode()
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def _read(stream, deadline: float) -> dict:
    fd = stream.fileno()
    head = _read_exact(fd, 4, deadline)
    return json.loads(_read_exact(fd, struct.unpack(">I", head)[0], deadline))


def _read_exact(fd: int, n: int, deadline: float) -> bytes:
    # PeerLate is a TimeoutError and PeerClosed an EOFError: the callers' handling stays as is.
    return read_exact(fd, n, deadline, who="lint worker")


# ---- the worker process -------------------------------------------------------------------
_NEAR_LIMIT = 0.9


def _peak_bytes() -> int:
    """This process's peak address space (VmPeak), in bytes; 0 if unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def main() -> None:
    import resource

    from envs.lint import lint_text_in_process

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print from a checker cannot corrupt the framing
    config = _read(stdin, time.monotonic() + START_TIMEOUT_S)
    sys.path[:] = config["sys_path"]
    lint_text_in_process("import json\nx = json.dumps(1)\n")  # build pylint and the builtins now
    limit = config["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _write(stdout, {"ready": True})
    while True:
        try:
            request = _read(stdin, float("inf"))
        except EOFError:
            return  # the parent is gone
        try:
            messages, syntax_error, pylint_run = lint_text_in_process(request["text"])
            # A MemoryError inside the parser or a checker comes back as a syntax error or an
            # astroid-error message; the peak address space tells it was the cap, not the text.
            if _peak_bytes() >= _NEAR_LIMIT * limit:
                raise MemoryError
            reply = {"messages": [[m.line, m.column, m.msg_id, m.symbol, m.message] for m in messages],
                     "syntax_error": syntax_error, "pylint_run": pylint_run}
            _write(stdout, reply)
        except MemoryError:
            _write(stdout, {"tripped": "lint_memory"})
            return  # a fresh worker (and a fresh peak) for the next program
