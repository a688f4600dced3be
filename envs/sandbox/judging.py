"""Judging one program against its tests: nothing the program defines, replaces or returns
runs where its verdict is decided.

Three places take part (see harness.py and forkserver.py for the two sandboxed ones):
1. The judge, a sandboxed process that never loads the program, runs the tests' own code
   once per test list ("record"): it computes every expected value, every argument, every
   helper's result, and writes down the steps the tests need from the program (calls,
   attributes, items, on data) and, per assert, the condition still to be checked.
2. The program's process (a fork-server child) runs the program, then only those steps,
   and reports each result as data built from exact builtin types.
3. The host judges: it walks each test's record in order and evaluates the deferred
   conditions over the decoded results (checks.py), with Python's semantics and bounded
   work. When it cannot (a call changed its arguments, a test looks at a result before its
   next call, a condition uses the test's own helper), the judge replays the tests with the
   results ("replay") and decides there, under the sandbox's limits; a replay that needs
   more steps runs the program again with them, while time remains.

Time: the record takes at most one timeout (and is cached per test list), the program's
first run one timeout, and every replay and re-run together one more.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from envs.safe_text import one_line
from envs.sandbox.checks import NeedJudge, Recorded, Unreported, judge_recorded
from envs.sandbox.verdict import Ending, Reports, unreported
from envs.testcase import Limits, TestCase, TestOutcome, TestReport
from envs.values import decode

JUDGE_REPLY_CHARS = 2_000_000  # the judge's answer for one test list (HumanEval/32's is ~60 KB)
RECORD_CACHE = 512  # test lists whose record is kept
MAX_ROUNDS = 32  # replays of one execution, at most

_HERE = Path(__file__).resolve().parent


def judge_program() -> str:
    """The judge's program: four stdlib-only modules (values, harness_rewrite, harness_refs,
    harness), each in its own namespace, and the harness's entry points. Nothing of the
    program under test is in it."""
    source = {name: path.read_text() for name, path in (
        ("values", _HERE.parent / "values.py"), ("rewrite", _HERE / "harness_rewrite.py"),
        ("refs", _HERE / "harness_refs.py"), ("harness", _HERE / "harness.py"))}
    return "\n".join([
        "import types as _types",
        "def _module(name, source, **names):",
        "    module = _types.ModuleType(name)",
        "    module.__dict__.update(names)",
        "    exec(compile(source, name + '.py', 'exec'), module.__dict__)",
        "    return module",
        f"values = _module('values', {source['values']!r})",
        f"harness_rewrite = _module('harness_rewrite', {source['rewrite']!r})",
        f"refs = _module('harness_refs', {source['refs']!r})",
        f"harness = _module('harness', {source['harness']!r}, values=values, refs=refs, "
        "rewrite=harness_rewrite.rewrite)",
        "__judge_begin__, __judge_test__ = harness.__judge_begin__, harness.__judge_test__",
    ]) + "\n"


_JUDGE_PROGRAM = judge_program()

Verdict = tuple  # (status, detail, value repr or None)


@dataclass
class Execution:
    """One run in the sandbox, as the host saw it."""

    reports: Reports
    output: str
    ending: Ending
    notes: list[str] = field(default_factory=list)


Execute = Callable[[str, list, Limits], Execution]


class Judging:
    """`run(program, tests, limits)` over an `execute` that runs one request in the sandbox."""

    def __init__(self, execute: Execute, execute_judge: Execute):
        self.execute, self.execute_judge = execute, execute_judge
        self._records: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()
        self.replays = 0  # executions judged by the judge's replay (for tests and metrics)

    def run(self, program: str, tests: Sequence[TestCase], limits: Limits) -> TestReport:
        start = time.monotonic()
        tests = tuple(tests)
        record = self.record(tests, limits)
        first = self.execute(program, record["steps"], limits)
        notes = first.notes + first.reports.notes
        if record["failed"] is not None:
            notes.append(f"the judge did not finish test {len(record['tests']) + 1}: {record['failed'][1]}")
        if first.reports.program_error is not None:
            verdicts = [("error", f"program raised: {first.reports.program_error}", None)] * len(tests)
        else:
            verdicts = self._recorded(record, first)
            if verdicts is None:
                self.replays += 1
                verdicts = self._replayed(program, tests, limits, record["steps"], first, notes)
        cap = limits.detail_chars
        outcomes = tuple(TestOutcome(t.name, status, one_line(detail)[:cap], "parent", value)
                         for t, (status, detail, value) in zip(tests, verdicts))
        return TestReport(outcomes, duration_s=time.monotonic() - start, output=first.output, notes=tuple(notes))

    # ---- the judge --------------------------------------------------------------------
    def record(self, tests: tuple[TestCase, ...], limits: Limits) -> dict:
        """The judge's record of these tests (cached when whole: a search runs one list many
        times)."""
        key = tuple((t.code, t.expected, t.entry_point) for t in tests)
        with self._lock:
            if key in self._records:
                self._records.move_to_end(key)
                return self._records[key]
        record = self.judge({"mode": "record", "tests": [list(k) for k in key]}, limits, limits.timeout_s)
        if record["failed"] is None:
            with self._lock:
                self._records[key] = record
                while len(self._records) > RECORD_CACHE:
                    self._records.popitem(last=False)
        return record

    def judge(self, request: dict, limits: Limits, timeout_s: float) -> dict:
        """Run the judge on `request`, one step per test, so that a test whose own code never
        ends costs only the tests from it on. {"steps", "tests", "failed"}: "tests" holds the
        shape-checked results of the tests it finished, in order; "failed" is None or
        (status, detail for the first test left, detail for the rest)."""
        judge_limits = replace(limits, output_bytes=4096, repr_chars=JUDGE_REPLY_CHARS, timeout_s=timeout_s)
        n = len(request["tests"])
        steps = [{"t": 0, "h": False, "o": ["call", "__judge_begin__", [{"v": json.dumps(request)}], []]}]
        steps += [{"t": i, "h": False, "o": ["call", "__judge_test__", [{"v": i}], []]} for i in range(n)]
        run = self.execute_judge(_JUDGE_PROGRAM, steps, judge_limits)
        answer: dict = {"steps": [], "tests": [], "failed": None, "n": n}
        results = run.reports.results
        for result in results[1:] if results and results[0] is not None and results[0]["s"] == "value" else []:
            if result is None or result["s"] != "value":
                break
            try:
                test = json.loads(decode(result["v"]))
                _check_test(test, request["mode"])
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                answer["failed"] = ("error", f"the judge's answer is malformed ({exc})", "not run: the judge failed")
                return answer
            answer["steps"] += test.pop("steps")
            answer["tests"].append(test)
        if len(answer["tests"]) < n:
            answer["failed"] = _judge_failure(run, answer["tests"], results)
        return answer

    # ---- judging ----------------------------------------------------------------------
    def _recorded(self, record: dict, run: Execution) -> list[Verdict] | None:
        """Verdicts from the record and the program's results, or None if a test needs the
        judge's replay (NeedJudge)."""
        recorded = Recorded(record["steps"], run.reports.results)
        reached = _reported(run.reports.results) if run.reports.program_ok else -1
        status, first_detail, rest_detail = unreported(run.ending, run.reports.program_ok)
        verdicts, missing = [], False
        for test in record["tests"]:
            try:
                verdict = judge_recorded(test, recorded)
                if reached < 0 or (verdict[0] == "pass" and test["last"] > reached):
                    raise Unreported(test["last"])  # the process ended in the program, or before this test
            except Unreported:
                verdict = (status, rest_detail if missing else first_detail, None)
                missing = True
            except NeedJudge:
                return None
            verdicts.append(verdict)
        return verdicts + _failed(record)

    def _replayed(self, program: str, tests: tuple, limits: Limits, steps: list, run: Execution,
                  notes: list[str]) -> list[Verdict]:
        """Verdicts from the judge's replays (see the module docstring). When time runs out, a
        test the last replay had decided keeps its verdict; the others time out."""
        deadline = time.monotonic() + limits.timeout_s
        request = {"mode": "replay", "tests": [[t.code, t.expected, t.entry_point] for t in tests]}
        last = None  # the last whole answer, and the run it judged
        for rounds in range(1, MAX_ROUNDS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            results = run.reports.results[:_reported(run.reports.results)]
            answer = self.judge(dict(request, steps=steps, results=results), limits, left)
            if answer["failed"] is not None and answer["failed"][0] == "timeout" and last is not None:
                break  # out of time inside the judge: the last whole answer stands
            last = answer, run
            if answer["failed"] is not None or answer["steps"] == steps or not any(
                    t["status"] == "incomplete" for t in answer["tests"]):
                notes.append(f"judged by the judge's replay after {rounds} run(s) of the program")
                return self._final(answer, run)
            steps = answer["steps"]
            left = deadline - time.monotonic()
            if left <= 0:
                break
            run = self.execute(program, steps, replace(limits, timeout_s=min(limits.timeout_s, left)))
            notes.extend(run.notes + run.reports.notes)
            if run.reports.program_error is not None:
                return [("error", f"program raised: {run.reports.program_error}", None)] * len(tests)
        notes.append("judging ran out of time")
        if last is None:
            return [("timeout", _OUT_OF_ROUNDS, None)] * len(tests)
        return self._final(*last)

    def _final(self, answer: dict, run: Execution) -> list[Verdict]:
        reached = _reported(run.reports.results) if run.reports.program_ok else -1
        status, first_detail, rest_detail = unreported(run.ending, run.reports.program_ok)
        verdicts, missing = [], False
        for test in answer["tests"]:
            if test["status"] == "unreported" or reached < 0 or (test["status"] == "pass" and test["last"] > reached):
                verdicts.append((status, rest_detail if missing else first_detail, None))
                missing = True
            elif test["status"] == "incomplete":
                verdicts.append(("timeout", _OUT_OF_ROUNDS, None))
            else:
                verdicts.append((test["status"], test["detail"], test.get("value")))
        return verdicts + _failed(answer)


_OUT_OF_ROUNDS = "judging this test needed more runs of the program than its time limit allows"


def _failed(answer: dict) -> list[Verdict]:
    """Verdicts for the tests the judge did not finish."""
    if answer["failed"] is None:
        return []
    status, first, rest = answer["failed"]
    return [(status, first if i == 0 else rest, None) for i in range(answer["n"] - len(answer["tests"]))]


def _judge_failure(run: Execution, finished: list, results: list) -> tuple[str, str, str]:
    """(status, first detail, rest detail) for the tests after the last one the judge finished."""
    where = len(finished) + 1
    if results and results[0] is not None and results[0]["s"] != "value":
        return "error", f"the judge could not start: {results[0].get('d', '')}", "not run: the judge failed"
    step = results[where] if len(results) > where else None
    if step is not None and step["s"] == "error":
        return "error", f"the judge failed on this test: {step.get('d', '')}", "not run: the judge failed"
    if step is not None and step["s"] == "opaque":
        return "error", f"the judge's record of this test is too large ({step.get('d', '')})", "not run: the judge failed"
    if run.reports.program_error is not None:
        return "error", f"the judge could not start: {run.reports.program_error}", "not run: the judge failed"
    status, first, rest = unreported(run.ending, True)
    return status, f"in the judge, running the test's own code: {first}", rest


def _reported(results: list) -> int:
    """How many steps, from the first, have a result."""
    for index, result in enumerate(results):
        if result is None:
            return index
    return len(results)


def _check_test(test: dict, mode: str) -> None:
    if not isinstance(test, dict) or not isinstance(test.get("steps"), list) or not isinstance(test.get("last"), int):
        raise ValueError("a test without its steps")
    if mode == "record" and not (test.get("end") in ("done", "interactive") and isinstance(test.get("events"), list)):
        raise ValueError("a test without events")
    if mode == "replay" and test.get("status") not in ("pass", "fail", "error", "incomplete", "unreported"):
        raise ValueError("a test without a status")
