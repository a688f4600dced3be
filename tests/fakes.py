"""Test doubles shared across test folders (tests/ is on sys.path through tests/conftest.py)."""

from envs.testcase import TestCase, TestOutcome, TestReport, expression_passed


class InProcessSandbox:
    """Runs the program and tests with exec in this process (trusted code only) and records
    each call's timeout. A test whose code contains "TIMEOUT" is reported as timed out."""

    closed = 0  # close() calls, across instances (a CLI test checks the sandbox is closed)

    def __init__(self):
        self.calls: list[tuple[str, tuple[TestCase, ...], float | None]] = []

    def run(self, program, tests, timeout_s=None):
        self.calls.append((program, tuple(tests), timeout_s))
        namespace: dict = {}
        try:
            exec(program, namespace)
            setup_error = ""
        except Exception as exc:  # the program itself failed: every test errors
            setup_error = f"program raised {type(exc).__name__}: {exc}"
        return TestReport(tuple(self._one(t, namespace, setup_error) for t in tests))

    @staticmethod
    def _one(test, namespace, setup_error):
        if setup_error:
            return TestOutcome(test.name, "error", setup_error)
        if "TIMEOUT" in test.code:
            return TestOutcome(test.name, "timeout", "deadline passed")
        try:
            if test.expected is None:
                exec(test.code, namespace)
                return TestOutcome(test.name, "pass")
            actual = repr(eval(test.code, namespace))
        except AssertionError:
            return TestOutcome(test.name, "fail", "AssertionError")
        except Exception as exc:
            return TestOutcome(test.name, "error", f"{type(exc).__name__}: {exc}")
        if expression_passed(actual, test.expected):
            return TestOutcome(test.name, "pass", value=actual)
        return TestOutcome(test.name, "fail", f"expected {test.expected}, got {actual}", value=actual)

    def close(self):
        InProcessSandbox.closed += 1
