"""The host-side verdict: per-test outcomes from the child's raw report lines.

The child's exit code, its stdout and anything it claims about itself are never trusted.
A test passes only if a report line carrying this execution's random token says so (or,
for an expression test, carries a repr that `expression_passed` accepts). Lines without
the token, duplicates, reports out of order and malformed lines are ignored and counted in
the notes. Tests without a report are failed by how the execution ended: the deadline or
CPU limit -> "timeout", anything else (sys.exit, os._exit, a signal, a dead worker) ->
"error" with a "premature exit" detail.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from typing import Sequence

from envs.testcase import Limits, TestCase, TestOutcome, expression_passed

_STATEMENT_STATUSES = {"pass", "fail", "error"}
_EXPRESSION_STATUSES = {"value", "fail", "error"}


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


def decide(
    tests: Sequence[TestCase], limits: Limits, token: str, raw_reports: str, ending: Ending
) -> tuple[tuple[TestOutcome, ...], tuple[str, ...]]:
    """Outcomes (in test order) and notes from the untrusted report text and the ending."""
    cap = limits.detail_chars
    outcomes: list[TestOutcome] = []
    notes: list[str] = []
    ignored = {"no valid token": 0, "malformed": 0, "duplicate or out of order": 0}
    program_error: str | None = None
    program_ok = False
    for line in raw_reports.splitlines():
        rec = _parse(line)
        if rec is None:
            ignored["malformed"] += 1
            continue
        if rec.get("t") != token:
            ignored["no valid token"] += 1
            continue
        kind = rec.get("k")
        if kind == "program" and not program_ok and program_error is None:
            if rec.get("ok") is True:
                program_ok = True
            else:
                program_error = _text(rec.get("d"), cap) or "program raised"
            continue
        if kind != "test" or not program_ok or rec.get("i") != len(outcomes) or len(outcomes) >= len(tests):
            ignored["duplicate or out of order"] += 1
            continue
        outcome = _outcome(tests[len(outcomes)], rec, cap)
        if outcome is None:
            ignored["malformed"] += 1
            continue
        outcomes.append(outcome)
    for why, count in ignored.items():
        if count:
            notes.append(f"ignored {count} report line(s): {why}")
    if program_error is not None:
        return tuple(TestOutcome(t.name, "error", f"program raised: {program_error}"[:cap]) for t in tests), tuple(notes)
    missing = tests[len(outcomes):]
    if missing:
        status, first, rest = _unreported(ending, program_ok)
        notes.append(f"{len(missing)} test(s) unreported: {first}")
        outcomes.append(TestOutcome(missing[0].name, status, first[:cap]))
        outcomes.extend(TestOutcome(t.name, status, rest[:cap]) for t in missing[1:])
    return tuple(outcomes), tuple(notes)


def _parse(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


def _text(value: object, cap: int) -> str:
    return value[:cap] if isinstance(value, str) else ""


def _outcome(test: TestCase, rec: dict, cap: int) -> TestOutcome | None:
    status = rec.get("s")
    detail = _text(rec.get("d"), cap)
    if test.expected is None:
        return TestOutcome(test.name, status, detail) if status in _STATEMENT_STATUSES else None
    if status not in _EXPRESSION_STATUSES:
        return None
    if status != "value":
        return TestOutcome(test.name, status, detail)
    actual = rec.get("r")
    if not isinstance(actual, str):
        return None
    if expression_passed(actual, test.expected):
        return TestOutcome(test.name, "pass", value=actual)
    return TestOutcome(test.name, "fail", f"got {actual}, expected {test.expected}"[:cap], value=actual)


def _unreported(ending: Ending, program_ok: bool) -> tuple[str, str, str]:
    """(status, detail for the first unreported test, detail for the rest)."""
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
