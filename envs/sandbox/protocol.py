"""Host side of the fork-server wire protocol: length-prefixed JSON frames over pipes.

Mirrors the framing in `forkserver.py` (which must stay stdlib-only and is not imported
here). Everything read back is untrusted: the fork-server shares its sandbox with the
code it runs, so frames are size-capped, parsed defensively and checked for shape, and
the child's own streams (output, reports) are capped as they are read (`collect`).
"""

from __future__ import annotations

import errno
import json
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any, Sequence

from envs.testcase import Limits

MAX_FRAME_BYTES = 64 * 1024 * 1024  # far above any honest response (output and reports are capped)
REPORT_OVERHEAD_BYTES = 512  # per report line: JSON keys and the token
JSON_ESCAPE_FACTOR = 12  # json.dumps writes a character as at most 12 bytes (a \\u surrogate pair)


class ProtocolError(RuntimeError):
    """The worker closed its pipe, sent garbage, or missed the host's deadline."""


class PeerClosed(ProtocolError, EOFError):
    """The other side closed its pipe (it died)."""


class PeerLate(ProtocolError, TimeoutError):
    """The other side missed the deadline."""


def write_frame(fd: int, obj: Any, deadline: float) -> None:
    """Write one frame to a (non-blocking) fd before `deadline`, else ProtocolError."""
    body = json.dumps(obj).encode()
    data = memoryview(struct.pack(">I", len(body)) + body)
    while data:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([], [fd], [], wait)[1]:
            raise ProtocolError("worker did not take the request before the host deadline")
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            continue
        except BrokenPipeError:
            raise ProtocolError("worker closed its request pipe (it died)") from None


def read_frame(fd: int, deadline: float) -> dict:
    """Read one frame before `deadline` (time.monotonic()); ProtocolError on EOF/garbage/late."""
    (length,) = struct.unpack(">I", read_exact(fd, 4, deadline))
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"worker sent a {length}-byte frame (cap {MAX_FRAME_BYTES})")
    try:
        obj = json.loads(read_exact(fd, length, deadline))
    except ValueError as e:
        raise ProtocolError(f"worker sent malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("worker sent a frame that is not a JSON object")
    return obj


def read_exact(fd: int, n: int, deadline: float, *, who: str = "worker") -> bytes:
    """n bytes from `fd` before `deadline` (time.monotonic(); inf: wait for ever); PeerLate or
    PeerClosed otherwise. Shared by the sandbox pool and the lint worker."""
    parts, got = [], 0
    while got < n:
        wait = None if deadline == float("inf") else deadline - time.monotonic()
        if wait is not None and (wait <= 0 or not select.select([fd], [], [], wait)[0]):
            raise PeerLate(f"{who} missed the host deadline")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise PeerClosed(f"{who} closed its pipe (it died)")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)



def step_report_chars(limits: Limits) -> int:
    """The longest report line one step may write: a value and the arguments it changed (each
    capped at `repr_chars` characters, JSON-escaped) and a detail."""
    return JSON_ESCAPE_FACTOR * (2 * limits.repr_chars + limits.detail_chars) + REPORT_OVERHEAD_BYTES


def build_request(program: str, steps: Sequence[dict], limits: Limits, token: str) -> tuple[dict, dict]:
    """(header, body) frames for one execution: the fork-server reads only the header (the
    limits); the child it forks reads the body."""
    header = {
        "limits": {
            "timeout_s": limits.timeout_s,
            "cpu_s": limits.cpu_s,
            "memory_mb": limits.memory_mb,
            "max_processes": limits.max_processes,
            "file_size_mb": limits.file_size_mb,
            "detail_chars": limits.detail_chars,
            "repr_chars": limits.repr_chars,
        },
    }
    body = {"token": token, "program": program, "steps": list(steps)}
    return header, body


def report_cap(limits: Limits, n_steps: int) -> int:
    """Bytes of report lines kept per execution: an honest child's worst case, no more."""
    return (n_steps + 1) * step_report_chars(limits)


@dataclass
class Collected:
    """One execution as the host saw it: the fork-server's status frame and the child's streams."""

    status: dict
    output: str
    reports: str
    notes: list[str]


_DRAIN_S = 0.5  # after the status frame every writer is dead; this bounds a leftover that is not


def collect(control_fd: int, output_fd: int, report_fd: int, caps: tuple[int, int], deadline: float) -> Collected:
    """Read the child's output and report streams (non-blocking fds) until the worker's status
    frame arrives on `control_fd`, then what is left in them; ProtocolError if it misses
    `deadline`. Each stream keeps at most its cap (output, reports) and counts the rest."""
    kept = {output_fd: bytearray(), report_fd: bytearray()}
    cap = {output_fd: caps[0], report_fd: caps[1]}
    dropped = {output_fd: 0, report_fd: 0}

    def take(fd: int) -> bool:
        """One read; False once the stream is empty for now."""
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            raise
        room = max(cap[fd] - len(kept[fd]), 0)
        kept[fd] += chunk[:room]
        dropped[fd] += len(chunk) - min(room, len(chunk))
        return bool(chunk)

    while True:
        wait = deadline - time.monotonic()
        if wait <= 0:
            raise PeerLate("worker missed the host deadline")
        ready = select.select([control_fd, output_fd, report_fd], [], [], wait)[0]
        for fd in (output_fd, report_fd):
            if fd in ready:
                take(fd)
        if control_fd in ready:
            break
    status = read_frame(control_fd, deadline)
    drain_until = time.monotonic() + _DRAIN_S
    for fd in (output_fd, report_fd):
        while take(fd) and time.monotonic() < drain_until:
            pass
    notes = [f"{name} truncated: {dropped[fd]} bytes dropped"
             for name, fd in (("output", output_fd), ("report stream", report_fd)) if dropped[fd]]
    return Collected(status, kept[output_fd].decode("utf-8", "replace"), kept[report_fd].decode("utf-8", "replace"),
                     notes)
