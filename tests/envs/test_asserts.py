"""Tests become probes (what the child evaluates) and checks (what the parent judges).

No sandbox here: the child side is simulated by evaluating each probe in a namespace, and
values cross through the real encoder (the fork-server's `_encode`) and decoder.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from envs.asserts import evaluate, plan
from envs.sandbox.launch import FORKSERVER_PATH
from envs.testcase import TestCase, value_passed
from envs.values import decode

DATA = Path(__file__).parent / "data"


def _forkserver():
    spec = importlib.util.spec_from_file_location("forkserver_under_test", FORKSERVER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FORKSERVER = _forkserver()


def crossed(value):
    """`value` as the parent sees it: encoded in the child, sent as JSON, decoded."""
    return decode(json.loads(json.dumps(FORKSERVER._encode(value, [20_000]))))


def judge(code: str, program: str) -> str:
    """Run a test's plan the way the sandbox does, without the sandbox: 'pass' or 'fail'."""
    ns: dict = {}
    exec(program, ns)
    p = plan(TestCase("t", code))
    assert p.residual is None, "expected a test judged in the parent"
    values = {}
    for i, step in enumerate(p.steps):
        if step.mode == "exec":
            exec(step.code, ns)
        else:
            values[i] = crossed(eval(step.code, ns))
    ok = all(evaluate(c, [values[i] for i in c.probes]) for c in p.checks)
    return "pass" if ok else "fail"


@pytest.mark.parametrize("code", [
    "assert f(2) == 4", "assert 4 == f(2)", "assert f(2) != 7", "assert abs(f(2) - 4.0) < 1e-6",
    "import math\nassert math.isclose(f(2), 4.0, rel_tol=1e-9)", "assert g(1)", "assert not f(0)",
    "assert (f(0) == 0) is True", "assert g(None) is None", "assert len(h(3)) == 3",
    "assert sorted(h(3)) == [0, 1, 2]", "assert set(h(2)) == {0, 1}", "assert f(2) == 4, 'message'",
])
def test_assert_shapes_are_judged_in_the_parent(code):
    program = "def f(x):\n    return x * x\ndef g(x):\n    return x\ndef h(n):\n    return list(range(n))\n"
    assert judge(code, program) == "pass"
    wrong = "def f(x):\n    return 7\ndef g(x):\n    return 0\ndef h(n):\n    return [9]\n"
    assert judge(code, wrong) == "fail"


def test_expected_values_never_reach_the_child():
    p = plan(TestCase("t", "assert f(3) == 'SECRET-123' and abs(g(1) - 98765.5) < 0.1"))
    assert [s.code for s in p.steps] == ["f(3)", "g(1)"]
    assert all("SECRET" not in s.code and "98765" not in s.code for s in p.steps)


def test_humaneval_check_binds_candidate_to_the_entry_point():
    code = ("METADATA = {}\n\ndef check(candidate):\n    import math\n"
            "    assert candidate(1) == 2\n    assert math.fabs(candidate(2) - 3) < 1e-6\n"
            "    for x in range(3):\n        assert candidate(x) == x + 1\n\ncheck(inc)\n")
    p = plan(TestCase("check", code))
    assert [s.code for s in p.steps if s.mode == "value"] == ["inc(1)", "inc(2)"]
    assert (p.asserts, p.asserts_in_parent, p.judged) == (3, 2, "in-process")  # the loop stays inside
    assert "for x in range(3)" in p.steps[p.residual].code and "candidate(1)" not in p.steps[p.residual].code


def test_unconvertible_tests_run_in_process():
    for code in ("x = [1]\nassert f(x) == 1", "assert f(lambda y: y) == 1", "for i in range(3):\n    assert f(i)"):
        p = plan(TestCase("t", code))
        assert p.judged == "in-process" and p.steps[p.residual].mode == "exec"


def test_values_that_are_not_exact_builtins_are_opaque():
    class Liar:
        def __eq__(self, other):
            return True

    class LyingInt(int):
        def __eq__(self, other):
            return True

    class LyingList(list):
        pass

    for value in (Liar(), LyingInt(3), LyingList([1]), [1, Liar()], {"k": LyingInt(1)}, (x for x in ())):
        with pytest.raises(FORKSERVER._Opaque):
            FORKSERVER._encode(value, [20_000])


def test_builtin_values_round_trip():
    import collections

    for value in (None, True, 3, -2.5, float("inf"), 1 + 2j, "a\udcff", b"\x00x", [1, (2, 3)], {1: {"a"}},
                  frozenset({1}), set(), ()):
        assert crossed(value) == value and type(crossed(value)) is type(value)
    assert crossed(collections.Counter("aab")) == {"a": 2, "b": 1}
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises((FORKSERVER._Opaque, RecursionError)):
        FORKSERVER._encode(cyclic, [20_000])


def test_decode_rejects_malformed_data():
    for data in ({"x": 1}, {"t": 1}, {"d": [[1]]}, {"s": [[1]]}, {"c": ["a", 1]}, [[[[]]]] * 0 + [{}]):
        with pytest.raises(ValueError):
            decode(data)


def test_expression_tests_compare_values_not_reprs():
    assert value_passed([1, 2.0000000001], "[1, 2.0]")
    assert not value_passed(1, "True") and not value_passed([1], "(1,)")


def test_share_of_humaneval_asserts_judged_in_the_parent():
    from envs.problems import load_humaneval

    plans = [plan(p.hidden_tests[0]) for p in load_humaneval()]
    total = sum(p.asserts for p in plans)
    in_parent = sum(p.asserts_in_parent for p in plans)
    assert total > 1000 and in_parent / total >= 0.95, (in_parent, total)


def test_share_of_mbpp_style_asserts_judged_in_the_parent():
    lines = [line for line in (DATA / "mbpp_style_asserts.txt").read_text().splitlines() if line.strip()]
    plans = [plan(TestCase(str(i), line)) for i, line in enumerate(lines)]
    in_parent = sum(p.judged == "parent" for p in plans)
    assert len(lines) >= 40 and in_parent / len(lines) >= 0.95, (in_parent, len(lines))
