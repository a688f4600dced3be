"""Functional behaviour of the sandbox: verdicts, limits, worker lifetime, backends.

Needs bubblewrap; skips (with the reason) where the bwrap backend cannot start. Every test
is bounded: deadlines of 1-2 s, a handful of executions, default memory limits.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from envs.sandbox import BACKENDS, SandboxUnavailable, make_sandbox
from envs.sandbox.bwrap import BwrapLauncher
from envs.sandbox.pool import WorkerPoolSandbox
from envs.testcase import Limits, TestCase
from sandboxes import make_or_skip

pytestmark = pytest.mark.sandbox

FAST = Limits(timeout_s=1.5, cpu_s=2)
ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def sandbox():
    box = make_or_skip("bwrap", workers=2, limits=FAST)
    yield box
    box.close()


def statuses(report):
    return [o.status for o in report.outcomes]


def test_statement_tests_pass_fail_and_error(sandbox):
    report = sandbox.run(ADD, [
        TestCase("ok", "assert add(1, 2) == 3"),
        TestCase("wrong", "assert add(1, 2) == 4, 'sum is off'"),
        TestCase("crash", "add(1, 'x')"),
    ])
    assert statuses(report) == ["pass", "fail", "error"]
    assert report.outcomes[1].detail == "AssertionError: sum is off"
    assert report.outcomes[2].detail.startswith("TypeError")
    assert report.passed == 1 and report.total == 3


def test_an_exception_names_the_last_program_line_it_passed_through(sandbox):
    program = "def at(xs, i):\n    return xs[i]\n\ndef second(xs):\n    return at(xs, 1)\n"
    report = sandbox.run(program, [TestCase("short", "second([1])", expected="1"),
                                   TestCase("wrong", "assert second([1, 2]) == 3")])
    assert report.outcomes[0].detail == "IndexError: list index out of range (<program>, line 2)"
    assert "line" not in report.outcomes[1].detail  # the test's own assert: no program line


def test_expression_tests_are_decided_by_the_host(sandbox):
    report = sandbox.run(ADD, [
        TestCase("same", "add(1, 2)", expected="3"),
        TestCase("float", "add(0.5, 0.25)", expected="0.75"),
        TestCase("inexact", "add(0.1, 0.2)", expected="0.3"),  # 0.30000000000000004: == says no
        TestCase("differs", "add(1, 1)", expected="3"),
        TestCase("type", "add(1, 0) == 1", expected="1"),  # True is not 1
        TestCase("number", "add(1.5, 0.5)", expected="2"),  # 2.0 == 2
    ])
    assert statuses(report) == ["pass", "pass", "fail", "fail", "fail", "pass"]
    assert report.outcomes[3].detail == "got 2, expected 3"


def test_overlong_repr_fails():
    with make_or_skip("bwrap", workers=1, limits=Limits(timeout_s=1.5, repr_chars=50)) as sandbox:
        report = sandbox.run("def long():\n    return 'x' * 100\n", [TestCase("long", "long()", expected="'x'")])
    assert statuses(report) == ["fail"] and "too large to report" in report.outcomes[0].detail


def test_program_that_raises_errors_every_test(sandbox):
    report = sandbox.run("def f(:\n", [TestCase("a", "assert True"), TestCase("b", "f")])
    assert statuses(report) == ["error", "error"]
    assert report.outcomes[0].detail.startswith("program raised: SyntaxError")


def test_output_is_captured(sandbox):
    report = sandbox.run("print('hello'); import sys; print('oops', file=sys.stderr)", [TestCase("t", "pass")])
    assert report.output == "hello\noops\n" and report.all_passed


def test_timeout_marks_running_and_remaining_tests(sandbox):
    start = time.monotonic()
    report = sandbox.run(ADD + "def spin():\n    while True:\n        pass\n", [
        TestCase("before", "assert add(1, 1) == 2"),
        TestCase("spins", "spin()"),
        TestCase("after", "assert True"),
    ])
    assert statuses(report) == ["pass", "timeout", "timeout"]
    assert report.outcomes[1].detail == "deadline exceeded"
    assert report.outcomes[2].detail.startswith("not run")
    assert time.monotonic() - start < FAST.timeout_s + 3


def test_a_test_whose_own_code_never_ends_times_out_in_the_judge(sandbox):
    report = sandbox.run(ADD, [TestCase("before", "assert add(1, 1) == 2"), TestCase("spins", "while True: pass"),
                               TestCase("after", "assert True")])
    assert statuses(report) == ["pass", "timeout", "timeout"], report.outcomes
    assert "in the judge" in report.outcomes[1].detail and report.outcomes[2].detail.startswith("not run")


def test_cpu_limit_reports_timeout():
    with make_or_skip("bwrap", workers=1, limits=Limits(timeout_s=5, cpu_s=1)) as sandbox:
        report = sandbox.run("while True: pass", [TestCase("t", "assert True")])
    assert statuses(report) == ["timeout"] and "cpu limit" in report.outcomes[0].detail


@pytest.mark.parametrize("exit_code", ["import sys; sys.exit(0)", "import os; os._exit(0)", "raise SystemExit"])
def test_premature_exit_fails_unreported_tests(sandbox, exit_code):
    report = sandbox.run(ADD + f"def leave():\n    {exit_code}\n", [
        TestCase("first", "assert add(2, 2) == 4"),
        TestCase("exits", "leave()"),
        TestCase("never", "assert True"),
    ])
    assert statuses(report) == ["pass", "error", "error"]
    assert "premature exit" in report.outcomes[1].detail


def test_scratch_is_empty_for_the_next_execution(sandbox):
    write = "open('/tmp/leftover', 'w').write('x')"
    for _ in range(4):  # enough runs to hit both workers
        assert sandbox.run(write, [TestCase("t", "pass")]).all_passed
    report = sandbox.run("import os", [TestCase("clean", "assert os.listdir('/tmp') == [], os.listdir('/tmp')")])
    assert report.all_passed, report.outcomes


def _kill_worker_during(box, program, tests):
    """Run `program` on a thread and SIGKILL the (only) worker from the host meanwhile (a child
    cannot kill its fork-server any more: it runs under another uid)."""
    reports = []
    runner = threading.Thread(target=lambda: reports.append(box.run(program, tests)))
    worker = next(iter(box._all))
    runner.start()
    time.sleep(0.3)
    worker.proc.kill()
    runner.join(timeout=30)
    return reports[0]


def test_dead_worker_is_restarted_and_the_execution_errors():
    box = WorkerPoolSandbox(BwrapLauncher(), workers=1, limits=FAST)
    try:
        report = _kill_worker_during(box, "import time; time.sleep(1)", [TestCase("t", "assert True")])
        assert statuses(report) == ["error"] and "worker died" in report.outcomes[0].detail
        assert box.restarts == 1
        assert box.run(ADD, [TestCase("t", "assert add(1, 2) == 3")]).all_passed
    finally:
        box.close()


def test_workers_are_recycled_after_n_executions():
    box = WorkerPoolSandbox(BwrapLauncher(), workers=1, limits=FAST, recycle_after=3)
    try:
        reports = [box.run(ADD, [TestCase("t", "assert add(1, 2) == 3")]) for _ in range(7)]
        assert all(r.all_passed for r in reports)
        assert box.restarts == 2
        assert sum("worker recycled" in n for r in reports for n in r.notes) == 2
    finally:
        box.close()


def test_concurrent_runs_from_two_threads_use_both_workers(sandbox):
    reports = []
    program = "import time\ntime.sleep(0.6)\n" + ADD

    def one():
        reports.append(sandbox.run(program, [TestCase("t", "assert add(2, 3) == 5")]))

    start = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert len(reports) == 2 and all(r.all_passed for r in reports)
    assert elapsed < 1.15, f"two 0.6 s runs took {elapsed:.2f} s: not run in parallel"


def test_workers_survive_the_thread_that_replaced_them():
    """--die-with-parent fires when the spawning *thread* exits; spawns go via a long-lived one."""
    box = WorkerPoolSandbox(BwrapLauncher(), workers=1, limits=FAST)
    try:
        _kill_worker_during(box, "import time; time.sleep(1)", [TestCase("t", "assert True")])
        assert box.restarts == 1  # replaced by the runner thread, which has exited since
        time.sleep(0.2)
        assert box.run(ADD, [TestCase("t", "assert add(1, 1) == 2")]).all_passed
        assert box.restarts == 1
    finally:
        box.close()


def test_subprocess_backend_warns_and_still_judges(caplog):
    with caplog.at_level(logging.WARNING):
        box = make_sandbox("subprocess", workers=1, limits=FAST)
    try:
        assert any("NOTHING IS ISOLATED" in r.getMessage() for r in caplog.records)
        report = box.run(ADD + "import os\nprint(os.getcwd())",
                         [TestCase("ok", "assert add(1, 2) == 3"), TestCase("bad", "assert add(1, 2) == 0")])
        assert statuses(report) == ["pass", "fail"]
        assert any("not private" in n for n in report.notes)
        scratch = report.output.strip()
        assert os.path.basename(scratch).startswith("sandbox-scratch-") and os.path.isdir(scratch)
    finally:
        box.close()
    assert not os.path.exists(scratch)  # the worker's own mkdtemp, removed once it is dead


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError) as err:
        make_sandbox("docker")
    assert all(name in str(err.value) for name in BACKENDS)


def test_close_is_idempotent():
    box = make_sandbox("subprocess", workers=1, limits=FAST)
    box.close()
    box.close()
    with pytest.raises(SandboxUnavailable):
        box.run(ADD, [TestCase("t", "assert True")])


def test_missing_bwrap_says_how_to_install(monkeypatch):
    monkeypatch.setattr("envs.sandbox.bwrap.shutil.which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        make_sandbox("bwrap")
