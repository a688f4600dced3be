"""Scoring a program against tests through a sandbox.

`score` runs a program and its tests in one sandbox execution and returns the sandbox's
`TestReport` (per-test status pass/fail/error/timeout, `fraction` passed). `score_problem`
picks a problem's visible tests (what the search may see) or, with `hidden=True`, its hidden
tests (evaluation only) and runs them under the problem's time limit.

Failures of the program are data in the report; a sandbox that cannot run raises
`SandboxUnavailable` (from the sandbox), and a report that does not match the tests given
(a sandbox bug) raises RuntimeError rather than being scored wrongly.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from envs.problem import Problem
from envs.program import Program
from envs.sandbox.base import Sandbox
from envs.testcase import Limits, TestCase, TestReport


def score(
    program: Program | str,
    tests: Sequence[TestCase],
    sandbox: Sandbox,
    *,
    timeout_s: float | None = None,
    limits: Limits | None = None,
) -> TestReport:
    """Run `program` then `tests` in `sandbox`; one outcome per test, in the order given.

    timeout_s: wall-clock limit for the whole execution (program plus all tests), seconds.
    limits:    the other resource limits; None = the sandbox's defaults. When `timeout_s` is
               given it replaces `limits.timeout_s`, and the CPU limit is raised to at least
               that many seconds, so the wall clock (the user's knob) is what decides.
    An empty test list returns an empty report (fraction 0.0) without running anything: there
    is nothing to learn. An empty program is run like any other (tests then usually error
    with a NameError), so its outcomes mean the same as every other program's.
    """
    tests = tuple(tests)
    if not tests:
        return TestReport(outcomes=())
    # a Program runs as its behaviour text (comments dropped), the text its behaviour digest covers
    text = program.behaviour_text if isinstance(program, Program) else program
    run_limits = limits
    if timeout_s is not None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        base = limits or Limits()
        run_limits = dataclasses.replace(
            base, timeout_s=float(timeout_s), cpu_s=max(base.cpu_s, math.ceil(timeout_s))
        )
    report = sandbox.run(text, tests, run_limits)
    _check_matches(report, tests)
    return report


def score_problem(
    program: Program | str,
    problem: Problem,
    sandbox: Sandbox,
    *,
    hidden: bool = False,
    limits: Limits | None = None,
) -> TestReport:
    """Score against the problem's visible tests, or only its hidden ones with `hidden=True`.

    The problem's `timeout_s` bounds the execution. Hidden tests are for evaluation; the
    search must only ever call this with `hidden=False`.
    """
    tests = problem.hidden_tests if hidden else problem.tests
    return score(program, tests, sandbox, timeout_s=problem.timeout_s, limits=limits)


def _check_matches(report: TestReport, tests: tuple[TestCase, ...]) -> None:
    names = tuple(o.name for o in report.outcomes)
    expected = tuple(t.name for t in tests)
    if names != expected:
        raise RuntimeError(
            f"sandbox returned outcomes for {list(names)} but was given tests {list(expected)}; "
            "this is a sandbox bug, not a program failure"
        )
