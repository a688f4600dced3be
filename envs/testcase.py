"""What a test is, what running it produced, and the limits it runs under.

These types cross the sandbox boundary: the problem loaders produce `TestCase`s, the
sandbox returns a `TestReport`, scoring and the search read it. How the sandbox decides a
verdict is in `envs/sandbox/judging.py`; an expression test (one with `expected`) passes
when its value equals the expected literal as `envs.values.exactly_equal` says.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

from envs.values import exactly_equal

TestStatus = Literal["pass", "fail", "error", "timeout"]
Judged = Literal["parent", "in-process"]
TEST_STATUSES: tuple[TestStatus, ...] = ("pass", "fail", "error", "timeout")


@dataclass(frozen=True)
class TestCase:
    """One test, run after the program in the program's global namespace.

    Two kinds:
    - statement test (`expected is None`): `code` is statements (usually `assert ...`);
      it passes when they run without raising, fails on AssertionError, errors otherwise.
    - expression test: `code` is one expression, `expected` the literal text of its
      expected value (as in a doctest's output line), compared with the value exactly.

    `entry_point` names the program's function the test is about: a call of that name is
    always the program's, even where it is also a builtin's name (a problem whose function
    is `sum`). None: every name the test uses but does not define is the program's, except
    builtins.
    """

    __test__ = False  # not a pytest test class

    name: str
    code: str
    expected: str | None = None
    entry_point: str | None = None


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False

    name: str
    status: TestStatus
    detail: str = ""  # short, human-readable: the assertion, exception line or why not run
    # "parent": decided outside the program's process (the host, or the sandboxed judge that
    # never loads the program), from values the program returned; "in-process": decided
    # inside it, so a program could forge it. The sandbox decides every test outside; test
    # doubles that run tests in their own process say "in-process".
    judged: Judged = "in-process"
    # Expression tests only: repr() of the builtin value the child reported, decoded in the parent
    # (envs.values); None otherwise. Lets the parent compare programs by behaviour (agent.search.selection).
    value: str | None = None


@dataclass(frozen=True)
class TestReport:
    """Per-test outcomes of one execution, in the order the tests were given."""

    __test__ = False

    outcomes: tuple[TestOutcome, ...]
    duration_s: float = 0.0
    output: str = ""  # the program's stdout+stderr, truncated to the output cap
    notes: tuple[str, ...] = field(default=())  # sandbox-level events (killed, forged report, ...)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def passed(self) -> int:
        return sum(o.status == "pass" for o in self.outcomes)

    @property
    def fraction(self) -> float:
        """Fraction of tests passed; 0.0 for an empty test list."""
        return self.passed / self.total if self.total else 0.0

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total

    @property
    def judged_in_parent(self) -> int:
        """Tests whose verdict no program can forge (see `TestOutcome.judged`)."""
        return sum(o.judged == "parent" for o in self.outcomes)

    @property
    def judged_in_process(self) -> int:
        return self.total - self.judged_in_parent


@dataclass(frozen=True)
class Limits:
    """Resource limits for one execution (the program plus all its tests)."""

    timeout_s: float = 5.0  # wall-clock deadline for the whole execution
    cpu_s: int = 5  # RLIMIT_CPU, seconds of CPU time
    memory_mb: int = 1024  # RLIMIT_AS; Python itself needs ~50 MB of address space
    max_processes: int = 64  # RLIMIT_NPROC: the child's own threads/processes
    file_size_mb: int = 4  # RLIMIT_FSIZE: largest file the program may write
    output_bytes: int = 64 * 1024  # stdout+stderr kept per execution; the rest is dropped
    detail_chars: int = 300  # cap on each outcome's human-readable detail
    repr_chars: int = 20_000  # cap on one reported value's size (larger: not reported, the test fails)


def _literal(text: str) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def expression_passed(actual_repr: str, expected: str) -> bool:
    """Decide an expression test from a repr of the value and the expected text (for test
    doubles that run tests in their own process; the sandbox compares values).

    Passes when the reprs are identical (doctest semantics, modulo surrounding whitespace),
    or when both parse as Python literals that are `exactly_equal` (no float tolerance).
    """
    if actual_repr.strip() == expected.strip():
        return True
    ok_a, a = _literal(actual_repr)
    ok_e, e = _literal(expected)
    return ok_a and ok_e and exactly_equal(a, e)
