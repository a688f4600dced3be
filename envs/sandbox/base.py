"""The sandbox contract: run untrusted program text plus tests, return a TestReport.

Every backend implements `Sandbox`. Model failures (assertions, exceptions, timeouts,
crashes, premature exits) come back as data in the report, never as exceptions;
infrastructure failures (bubblewrap missing, a worker that cannot start) raise
`SandboxUnavailable` with a message that says what to do.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from envs.testcase import TestCase, TestReport


class SandboxUnavailable(RuntimeError):
    """The backend cannot run here (missing tool, no permission). The message says the fix."""


class Sandbox(Protocol):
    def run(self, program: str, tests: Sequence[TestCase], timeout_s: float | None = None) -> TestReport:
        """Execute `program`, then each test in its namespace; one outcome per test, in order.

        Under the sandbox's own limits (the one owner: `make_sandbox(limits=...)`, from the
        config); `timeout_s` (a problem's own) replaces only the wall-clock limit.
        """
        ...

    def close(self) -> None:
        """Stop workers and remove what this sandbox created. Idempotent."""
        ...
