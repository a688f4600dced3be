"""The host-side verdict: per-test outcomes from the child's raw report lines.

The child's exit code, its stdout and anything it claims about itself are never trusted.
Each test runs as the steps of its plan (`envs.asserts.plan`): value steps report data
(`envs.values`) that this module decodes and judges against expected values the child
never saw (the assert's condition, or an expression test's literal), so those verdicts are
"parent". A statement step's pass/fail/error is the child's word, so a test with one is
"in-process". Only lines carrying this execution's random token count; lines without it,
duplicates, reports out of order and malformed lines are ignored and counted in the notes.
Steps without a report fail their test by how the execution ended: the deadline or CPU
limit -> "timeout", anything else (sys.exit, os._exit, a signal, a dead worker) -> "error"
with a "premature exit" detail.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from typing import Any, Sequence

from envs.asserts import Plan, evaluate
from envs.safe_text import one_line
from envs.testcase import Limits, TestCase, TestOutcome, value_passed
from envs.values import decode, short

_EXEC_STATUSES = {"pass", "fail", "error"}
_VALUE_STATUSES = {"value", "opaque", "fail", "error"}


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


@dataclass(frozen=True)
class _Result:
    """One step's report: status plus the decoded value (value steps) or a detail."""

    status: str
    value: Any = None
    detail: str = ""


def decide(
    tests: Sequence[TestCase], plans: Sequence[Plan], limits: Limits, token: str, raw_reports: str, ending: Ending
) -> tuple[tuple[TestOutcome, ...], tuple[str, ...]]:
    """Outcomes (in test order) and notes from the untrusted report text and the ending."""
    cap = limits.detail_chars
    modes = [step.mode for plan in plans for step in plan.steps]
    results: list[_Result] = []
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
        if kind != "test" or not program_ok or rec.get("i") != len(results) or len(results) >= len(modes):
            ignored["duplicate or out of order"] += 1
            continue
        result = _result(modes[len(results)], rec, cap)
        if result is None:
            ignored["malformed"] += 1
            continue
        results.append(result)
    for why, count in ignored.items():
        if count:
            notes.append(f"ignored {count} report line(s): {why}")
    if program_error is not None:
        return tuple(TestOutcome(t.name, "error", one_line(f"program raised: {program_error}")[:cap], p.judged)
                     for t, p in zip(tests, plans)), tuple(notes)
    status_missing, first_missing, rest_missing = _unreported(ending, program_ok)
    outcomes = []
    first_step, seen_missing = 0, False
    for test, plan in zip(tests, plans):
        mine = results[first_step:first_step + len(plan.steps)]
        first_step += len(plan.steps)
        judged = _judge(plan, mine)
        if judged is None:  # a step it needs never reported
            judged = status_missing, rest_missing if seen_missing else first_missing
            seen_missing = True
        value = repr(mine[0].value) if plan.expected is not None and mine and mine[0].status == "value" else None
        outcomes.append(TestOutcome(test.name, judged[0], one_line(judged[1])[:cap], plan.judged, value))
    unreported = len(modes) - len(results)
    if unreported:
        notes.append(f"{unreported} step(s) unreported: {first_missing}")
    return tuple(outcomes), tuple(notes)


def _judge(plan: Plan, results: list[_Result]) -> tuple[str, str] | None:
    """(status, detail) of one test from its steps' results, in the order the test itself
    would have failed; None if it needs a step that never reported."""
    if not results:  # never reached: even a constant `assert False` is not this test's verdict
        return None
    if plan.setup is not None:
        if len(results) <= plan.setup:
            return None
        setup = results[plan.setup]
        if setup.status != "pass":
            return "error", f"test setup failed: {setup.detail}"
    if plan.expected is not None:
        if not results:
            return None
        return _judge_expression(plan.expected, plan.steps[0].code, results[0])
    for check in plan.checks:
        values = []
        for index in check.probes:
            if len(results) <= index:
                return None
            probe = results[index]
            if probe.status != "value":
                return _probe_failed(plan.steps[index].code, probe)
            values.append(probe.value)
        try:
            ok = bool(evaluate(check, values))
        except Exception as exc:  # the test's own expression raised on these (builtin) values
            return "error", f"{check.source}: {type(exc).__name__}: {exc}"
        if not ok:
            got = ", ".join(f"{plan.steps[i].code} = {short(v)}" for i, v in zip(check.probes, values))
            why = f"AssertionError: {check.message}" if check.message else f"assertion failed: {check.source}"
            return "fail", f"{why} (got {got})" if got else why
    if plan.residual is not None:
        if len(results) <= plan.residual:
            return None
        residual = results[plan.residual]
        return residual.status, residual.detail
    if len(results) < len(plan.steps):  # passing so far, but the test never finished
        return None
    return "pass", ""


def _judge_expression(expected: str, code: str, result: _Result) -> tuple[str, str]:
    if result.status != "value":
        return _probe_failed(code, result)
    if value_passed(result.value, expected):
        return "pass", ""
    return "fail", f"got {short(result.value, 200)}, expected {expected}"


def _probe_failed(code: str, result: _Result) -> tuple[str, str]:
    if result.status == "opaque":  # never compared: the program's own __eq__ could lie
        return "fail", f"{code} returned {result.detail}"
    return result.status, result.detail


def _result(mode: str, rec: dict, cap: int) -> _Result | None:
    status = rec.get("s")
    detail = _text(rec.get("d"), cap)
    if mode == "exec":
        return _Result(status, detail=detail) if status in _EXEC_STATUSES else None
    if status not in _VALUE_STATUSES:
        return None
    if status != "value":
        return _Result(status, detail=detail)
    if "v" not in rec:
        return None
    try:
        return _Result("value", value=decode(rec["v"]))
    except ValueError:
        return None


def _parse(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


def _text(value: object, cap: int) -> str:
    return value[:cap] if isinstance(value, str) else ""


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
