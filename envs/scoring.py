"""Scoring a program against tests through a sandbox.

`score` runs a program and its tests in one sandbox execution and returns the sandbox's
`TestReport` (per-test status pass/fail/error/timeout, `fraction` passed). `score_problem`
picks a problem's visible tests (what the search may see) or, with `hidden=True`, its hidden
tests (evaluation only) and runs them under the problem's time limit, if it sets one.

Limits have one owner, the sandbox (`make_sandbox(limits=...)`, built from the config's
`sandbox` section): nothing here makes or changes them but a timeout passed through.

Failures of the program are data in the report; a sandbox that cannot run raises
`SandboxUnavailable` (from the sandbox), and a report that does not match the tests given
(a sandbox bug) raises RuntimeError rather than being scored wrongly.
"""

from __future__ import annotations

from typing import Sequence

from envs.problem import Problem
from envs.program import Program
from envs.sandbox.base import Sandbox
from envs.testcase import TestCase, TestReport


def score(
    program: Program | str,
    tests: Sequence[TestCase],
    sandbox: Sandbox,
    *,
    timeout_s: float | None = None,
) -> TestReport:
    """Run `program` then `tests` in `sandbox`; one outcome per test, in the order given.

    timeout_s: wall-clock limit for the whole execution (program plus all tests), seconds,
               in place of the sandbox's own; every other limit is the sandbox's.
    An empty test list returns an empty report (fraction 0.0) without running anything: there
    is nothing to learn. An empty program is run like any other (tests then usually error
    with a NameError), so its outcomes mean the same as every other program's.
    """
    tests = tuple(tests)
    if not tests:
        return TestReport(outcomes=())
    # a Program runs as its behaviour text (comments dropped), the text its behaviour digest covers
    text = program.behaviour_text if isinstance(program, Program) else program
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    report = sandbox.run(text, tests, timeout_s)
    _check_matches(report, tests)
    return report


def score_problem(
    program: Program | str,
    problem: Problem,
    sandbox: Sandbox,
    *,
    hidden: bool = False,
) -> TestReport:
    """Score against the problem's visible tests, or only its hidden ones with `hidden=True`.

    The problem's `timeout_s`, when it sets one, bounds the execution; otherwise the
    sandbox's own. Hidden tests are for evaluation; the search must only ever call this
    with `hidden=False`.
    """
    tests = problem.hidden_tests if hidden else problem.tests
    return score(program, tests, sandbox, timeout_s=problem.timeout_s)


def _check_matches(report: TestReport, tests: tuple[TestCase, ...]) -> None:
    names = tuple(o.name for o in report.outcomes)
    expected = tuple(t.name for t in tests)
    if names != expected:
        raise RuntimeError(
            f"sandbox returned outcomes for {list(names)} but was given tests {list(expected)}; "
            "this is a sandbox bug, not a program failure"
        )
