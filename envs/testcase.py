"""What a test is, what running it produced, and the limits it runs under.

These types cross the sandbox boundary: the problem loaders produce `TestCase`s, the
sandbox returns a `TestReport`, scoring and the search read it. The verdict of an
expression test (one with `expected`) is decided here, in the trusted parent, by
`expression_passed`: the untrusted child only reports the repr of the value it computed.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Literal

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
    # "parent": decided here from values the program returned (unforgeable by the program);
    # "in-process": (partly) decided inside the program's process, so a program could forge it.
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
    repr_chars: int = 20_000  # cap on the repr an expression test reports (longer: fail)


_FLOAT_REL_TOL = 1e-6  # HumanEval's own checks compare floats with 1e-6 tolerances


def _literal(text: str) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _close(a: object, b: object) -> bool:
    """Structural equality with float tolerance; types must agree (True is not 1)."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return math.isclose(a, b, rel_tol=_FLOAT_REL_TOL, abs_tol=_FLOAT_REL_TOL)
        return False
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return a == b


def expression_passed(actual_repr: str, expected: str) -> bool:
    """Decide an expression test from the child's repr of the value and the expected text.

    Passes when the reprs are identical (doctest semantics, modulo surrounding whitespace),
    or when both parse as Python literals that are equal, same types, floats within 1e-6.
    `actual_repr` is untrusted text; `ast.literal_eval` only builds literals from it.
    """
    if actual_repr.strip() == expected.strip():
        return True
    ok_a, a = _literal(actual_repr)
    ok_e, e = _literal(expected)
    return ok_a and ok_e and _close(a, e)


def value_passed(actual: object, expected: str) -> bool:
    """Decide an expression test from the decoded value (builtin types only, see
    `envs.values`) and the expected literal text: equal, same types, floats within 1e-6."""
    ok, wanted = _literal(expected)
    return ok and _close(actual, wanted)
