"""The lint gate's limits: a program that makes linting slow or huge is rejected with its
own status, the worker is replaced, and the next honest program gets the in-process verdict.

Bounded: worker address space capped at 400 MB, deadlines of 1 s, four worker starts.
"""

from __future__ import annotations

import pytest

from envs.lint import LintGate
from envs.program import Program

HONEST = Program.from_text("def f(x):\n    return x + undefined_name\n")


@pytest.fixture(scope="module")
def reference():
    return LintGate(isolated=False).lint(HONEST)


def test_honest_programs_get_the_in_process_verdict(reference):
    gate = LintGate()
    try:
        assert gate.lint(HONEST) == reference
        assert gate.lint(Program.from_text("def f(:\n")).syntax_error
        assert gate.stats.tripped == 0 and gate.stats.syntax_errors == 1
    finally:
        gate.close()


def test_memory_blowup_is_rejected_and_the_worker_replaced(reference):
    gate = LintGate(memory_mb=400, timeout_s=30)
    try:
        huge = Program.from_text("x = [" + "1, " * 5_000_000 + "]\n")
        result = gate.lint(huge)
        assert (result.ok, result.tripped) == (False, "lint_memory")
        assert [m.symbol for m in result.messages] == ["lint-memory"]
        assert gate.check(huge, parent=huge).tripped == "lint_memory"  # never let through
        assert gate.lint(HONEST) == reference
        assert gate.stats.tripped == 1
    finally:
        gate.close()


def test_slow_lint_is_rejected_and_the_worker_replaced(reference):
    gate = LintGate(timeout_s=1.0)
    try:
        body = "".join(f"class C{i}:\n    def m(self, a):\n        return self.m(a) + C{i}().m(a)\n"
                       for i in range(4000))
        result = gate.lint(Program.from_text(body))
        assert (result.ok, result.tripped) == (False, "lint_timeout")
        assert gate.lint(HONEST) == reference
    finally:
        gate.close()
