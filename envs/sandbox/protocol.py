"""Host side of the fork-server wire protocol: length-prefixed JSON frames over pipes.

Mirrors the framing in `forkserver.py` (which must stay stdlib-only and is not imported
here). Everything read back is untrusted: the fork-server shares its sandbox with the
code it runs, so frames are size-capped, parsed defensively and checked for shape.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
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
            "output_bytes": limits.output_bytes,
            "report_bytes": (len(steps) + 1) * step_report_chars(limits),
            "detail_chars": limits.detail_chars,
            "repr_chars": limits.repr_chars,
        },
    }
    body = {"token": token, "program": program, "steps": list(steps)}
    return header, body
