"""Reading one execution's untrusted report lines, and how an execution ended.

The child's exit code, its stdout and anything it claims about itself are never trusted.
It reports, on its own pipe, one JSON line per step (see forkserver.py `_run_steps`): the
value a step produced as data (`envs.values`), or that it was not builtin data ("opaque"),
raised ("error") or was skipped. `read_reports` keeps only lines carrying this execution's
random token, in order, of the right shape and size; the rest are ignored and counted in
the notes. No line decides a verdict: the host decides from the values (judging.py).

Steps without a report fail the tests that need them by how the execution ended
(`unreported`): the deadline or CPU limit -> "timeout", anything else (sys.exit,
os._exit, a signal, a dead worker) -> "error" with a "premature exit" detail.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field

from envs.safe_text import one_line

_STATUSES = {"value", "opaque", "error", "skip"}


@dataclass(frozen=True)
class Ending:
    """How the execution ended, as observed outside the child.

    kind: "exited" | "signaled" | "timeout" | "worker_died"; code/signal as in waitpid;
    why: "cpu" when the child died of its CPU limit, else free text.
    """

    kind: str
    code: int | None = None
    signal: int | None = None
    why: str = ""


@dataclass
class Reports:
    """What one execution reported: whether the program ran, and one record per step
    (None where no valid report came), plus notes on what was ignored."""

    program_ok: bool = False
    program_error: str | None = None
    results: list[dict | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_reports(raw: str, token: str, n_steps: int, *, detail_chars: int, max_line: int) -> Reports:
    """The valid report records in `raw` (untrusted text) for an execution of `n_steps` steps."""
    out = Reports(results=[None] * n_steps)
    ignored = {"no valid token": 0, "malformed": 0, "duplicate or out of order": 0, "too large": 0}
    reported = 0
    for line in raw.splitlines():
        if len(line) > max_line:  # checked before parsing: the host bounds its own work
            ignored["too large"] += 1
            continue
        rec = _parse(line)
        if rec is None:
            ignored["malformed"] += 1
            continue
        if rec.get("t") != token:
            ignored["no valid token"] += 1
            continue
        kind = rec.get("k")
        if kind == "program" and not out.program_ok and out.program_error is None:
            if rec.get("ok") is True:
                out.program_ok = True
            else:
                out.program_error = _text(rec.get("d"), detail_chars) or "program raised"
            continue
        if kind != "step" or not out.program_ok or rec.get("i") != reported or reported >= n_steps:
            ignored["duplicate or out of order"] += 1
            continue
        step = _shaped(rec, detail_chars)
        if step is None:
            ignored["malformed"] += 1
            continue
        out.results[reported] = step
        reported += 1
    out.notes = [f"ignored {count} report line(s): {why}" for why, count in ignored.items() if count]
    return out


def _shaped(rec: dict, cap: int) -> dict | None:
    """The fields of a step record the host uses, checked for shape; None if off-shape."""
    status = rec.get("s")
    if status not in _STATUSES:
        return None
    out: dict = {"s": status}
    if status in ("error", "opaque"):
        out["d"] = _text(rec.get("d"), cap)
        if isinstance(rec.get("e"), str) and rec["e"].isidentifier():
            out["e"] = rec["e"]
    if status == "value":
        same = rec.get("@")
        if same is not None:
            if not (isinstance(same, list) and len(same) == 2 and same[0] in ("a", "r") and type(same[1]) is int
                    and same[1] >= 0 and (same[0] == "a" or same[1] < rec["i"])):
                return None
            out["@"] = same
        elif "v" in rec:
            out["v"] = rec["v"]
        else:
            return None
    changed = rec.get("m")
    if changed is not None:
        if not (isinstance(changed, list) and all(isinstance(c, list) and len(c) == 2 and type(c[0]) in (int, str)
                                                  for c in changed)):
            return None
        out["m"] = changed
    return out


def _parse(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


def _text(value: object, cap: int) -> str:
    return one_line(value[:cap]) if isinstance(value, str) else ""


def unreported(ending: Ending, program_ok: bool) -> tuple[str, str, str]:
    """(status, detail for the first test left without a result, detail for the rest)."""
    where = "" if program_ok else " (still running the program)"
    if ending.kind == "timeout":
        return "timeout", f"deadline exceeded{where}", "not run: deadline exceeded"
    if ending.why == "cpu":
        return "timeout", f"cpu limit exceeded{where}", "not run: cpu limit exceeded"
    if ending.kind == "worker_died":
        return "error", f"sandbox worker died: {ending.why}", "not run: sandbox worker died"
    if ending.kind == "signaled":
        how = f"killed by signal {ending.signal} ({_signame(ending.signal)})"
    else:
        how = f"exit code {ending.code}"
    return "error", f"premature exit ({how}) before this test reported{where}", f"not run: premature exit ({how})"


def _signame(number: int | None) -> str:
    try:
        return signal.Signals(number).name
    except (TypeError, ValueError):
        return "unknown"
