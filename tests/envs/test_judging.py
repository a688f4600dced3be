"""How a verdict is reached, without a sandbox: the judge (harness.py) records a test, the
program's process (the fork-server's `_Steps`) runs only the recorded steps, and the host
judges the record (checks.py) or the judge replays the test with the results.

Here the three run in this process, in order, on the real code: only the isolation is missing.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import time

import pytest

from envs.sandbox import harness
from envs.sandbox.checks import NeedJudge, Recorded, compiled, judge_recorded
from envs.sandbox.harness_rewrite import program_names, rewrite
from envs.sandbox.launch import FORKSERVER_PATH
from envs.sandbox.verdict import read_reports
from envs.testcase import TestCase
from envs.values import TooCostly, decode, exactly_equal


def _forkserver():
    spec = importlib.util.spec_from_file_location("forkserver_under_test", FORKSERVER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FORKSERVER = _forkserver()


def crossed(value):
    """`value` as the host sees it: encoded in the program's process, sent as JSON, decoded."""
    return decode(json.loads(json.dumps(FORKSERVER._encode(value, [20_000]))))


def child(program: str, steps: list) -> list[dict]:
    """The program's process: the program, then each step, reported as the host reads it."""
    ns: dict = {"__name__": "__main__"}
    exec(program, ns)  # noqa: S102 -- the tests' own small programs
    lines: list[str] = []
    runner = FORKSERVER._Steps(ns, lambda rec: lines.append(json.dumps(dict(rec, t="T"))), 300, 20_000)
    lines.append(json.dumps({"k": "program", "ok": True, "t": "T"}))
    for i, step in enumerate(steps):
        try:
            value, changed = runner.run(step["o"])
        except Exception as exc:  # noqa: BLE001 -- the program's own exceptions
            runner.results[i] = FORKSERVER._Failed(exc)
            runner.report({"k": "step", "i": i, "s": "error", "d": FORKSERVER._describe(exc, 300),
                           "e": FORKSERVER._builtin_base(exc)})
            continue
        runner.results[i] = value
        runner.report(runner.reply(i, value, changed))
    return read_reports("\n".join(lines), "T", len(steps), detail_chars=300, max_line=10**6).results


def judge(program: str, tests, *, fast_only: bool = False) -> list[str]:
    """Statuses of `tests` on `program`, decided as the sandbox decides them."""
    request = [[t.code, t.expected, t.entry_point] for t in tests]
    record = harness.judge_all(json.dumps({"mode": "record", "tests": request}))
    steps = record["steps"]
    results = child(program, steps)
    try:
        run = Recorded(steps, results)
        return [judge_recorded(test, run)[0] for test in record["tests"]]
    except NeedJudge:
        if fast_only:
            raise
    for _ in range(10):
        answer = harness.judge_all(json.dumps({"mode": "replay", "tests": request, "steps": steps, "results": results}))
        if all(t["status"] != "incomplete" for t in answer["tests"]) or answer["steps"] == steps:
            return [t["status"] for t in answer["tests"]]
        steps = answer["steps"]
        results = child(program, steps)
    raise AssertionError("no verdict after 10 replays")


SQUARE = "def f(x):\n    return x * x\ndef g(x):\n    return x\ndef h(n):\n    return list(range(n))\n"
WRONG = "def f(x):\n    return 7\ndef g(x):\n    return 0\ndef h(n):\n    return [9]\n"


@pytest.mark.parametrize("code", [
    "assert f(2) == 4", "assert 4 == f(2)", "assert f(2) != 7", "assert abs(f(2) - 4.0) < 1e-6",
    "import math\nassert math.isclose(f(2), 4.0, rel_tol=1e-9)", "assert g(1)", "assert not f(0)",
    "assert (f(0) == 0) is True", "assert g(None) is None", "assert len(h(3)) == 3",
    "assert sorted(h(3)) == [0, 1, 2]", "assert set(h(2)) == {0, 1}", "assert f(2) == 4, 'message'",
    "x = f(3)\nassert x == 9", "for i in range(3):\n    assert f(i) == i * i", "assert all(f(i) == i * i for i in range(3))",
    "assert [f(i) for i in range(3)] == [0, 1, 4]", "assert ''.join(str(f(i)) for i in range(3)) == '014'",
    "def expected(n):\n    return n ** 2\nassert f(5) == expected(5)", "assert f(2) == pow(2, 2)",
    "assert str(f(2)) == '4'", "assert f(f(2)) == 16", "assert h(3)[f(1)] == 1",
    "try:\n    f('x')\n    ok = False\nexcept TypeError:\n    ok = True\nassert ok and f(1) == 1",
])
def test_assert_shapes_pass_for_the_right_program_and_fail_for_a_wrong_one(code):
    tests = [TestCase("t", code, entry_point="f")]
    assert judge(SQUARE, tests) == ["pass"]
    assert judge(WRONG, tests) != ["pass"]


@pytest.mark.parametrize("code", ["assert f(2) == 4", "assert abs(f(2) - 4.0) < 1e-6", "x = f(3)\nassert x == 9",
                                  "for i in range(3):\n    assert f(i) == i * i", "assert sorted(h(3)) == [0, 1, 2]",
                                  "assert all(f(i) == i * i for i in range(3))"])
def test_common_shapes_are_judged_on_the_host_without_a_replay(code):
    assert judge(SQUARE, [TestCase("t", code, entry_point="f")], fast_only=True) == ["pass"]


def test_the_programs_process_gets_calls_on_data_and_nothing_of_the_expected_side():
    code = "def expected(n):\n    return 'SECRET-%d' % n\nassert f(3) == expected(3) and abs(g(1) - 98765.5) < 0.1"
    record = harness.judge_all(json.dumps({"mode": "record", "tests": [[code, None, "f"]]}))
    sent = json.dumps(record["steps"])
    assert [s["o"][:2] for s in record["steps"]] == [["call", "f"], ["call", "g"]]
    assert "SECRET" not in sent and "98765" not in sent and "expected" not in sent


def test_an_entry_point_named_like_a_builtin_is_the_programs_and_other_builtins_are_not():
    tree = rewrite("assert sum([1, 2]) == bin(3)", "sum", False)[0]
    names, _ = program_names(tree, "sum")
    assert "sum" in names and "bin" not in names
    assert judge("def sum(xs):\n    return '0b11'\n", [TestCase("t", "assert sum([1, 2]) == bin(3)", entry_point="sum")]) == ["pass"]
    # its own `bin` (this process stands in for its sandbox: it must not patch the real builtins)
    assert judge("def sum(xs):\n    return 3\ndef bin(n):\n    return 3\n",
                 [TestCase("t", "assert sum([1, 2]) == bin(3)", entry_point="sum")]) == ["fail"]


def test_short_circuit_identity_and_types_follow_python():
    tests = [TestCase("or", "assert f(0) is None or f(0)[0] == 1", entry_point="f"),
             TestCase("is not", "a = f(1)\nb = f(1)\nassert a is not b", entry_point="f"),
             TestCase("is", "x = [1]\nassert g(x) is x", entry_point="f"),
             TestCase("counter", "from collections import Counter\nassert type(c()) is Counter", entry_point="f")]
    program = ("import collections\ndef f(x):\n    return None if x == 0 else [x]\ndef g(x):\n    return x\n"
               "def c():\n    return collections.Counter('ab')\n")
    assert judge(program, tests) == ["pass"] * 4
    cached = "import collections\n_L = [1]\ndef f(x):\n    return _L\ndef g(x):\n    return list(x)\ndef c():\n    return {}\n"
    assert judge(cached, tests) == ["pass", "fail", "fail", "fail"]  # f(0) is [1]: `or` goes on, and 1 == 1


def test_a_report_naming_an_object_the_program_was_never_given_is_refused():
    """The test's expected list has an identity number too (it is never sent): a report that
    claims "I returned that object" must not make the comparison true."""
    code = "expected = [1, 2, 3]\nassert f([3, 2, 1]) == expected"
    record = harness.judge_all(json.dumps({"mode": "record", "tests": [[code, None, "f"]]}))
    steps = record["steps"]
    sent = [item["#"] for item in steps[0]["o"][2] if "#" in item]
    forged = [{"s": "value", "@": ["a", max(sent) + 1]}]
    assert judge_recorded(record["tests"][0], Recorded(steps, forged))[0] == "fail"
    honest = [{"s": "value", "v": [1, 2, 3]}]
    assert judge_recorded(record["tests"][0], Recorded(steps, honest))[0] == "pass"


def test_values_cross_with_their_exact_types():
    values = [None, True, 3, -2.5, float("inf"), 1 + 2j, "a\udcff", b"\x00x", bytearray(b"ab"), [1, (2, 3)], {1: {"a"}},
              frozenset({1}), set(), (), collections.Counter("aab"), collections.OrderedDict(a=1),
              collections.defaultdict(list, a=[1]), collections.deque([1, 2], 5), range(1, 9, 2),
              ValueError("bad", 3), BlockingIOError(11, "again")]
    for value in values:
        back = crossed(value)
        assert type(back) is type(value), value
        if not isinstance(value, BaseException):
            assert back == value or value != value
    assert crossed(collections.Counter("aab"))["a"] == 2
    assert crossed(collections.defaultdict(list)).default_factory is list


def test_objects_of_the_programs_own_types_never_cross():
    class Liar:
        def __eq__(self, other):
            return True

    class LyingInt(int):
        def __eq__(self, other):
            return True

    for value in (Liar(), LyingInt(3), type("L", (list,), {})([1]), [1, Liar()], {"k": LyingInt(1)}, (x for x in ()),
                  collections.defaultdict(lambda: 0)):
        with pytest.raises(FORKSERVER._Opaque):
            FORKSERVER._encode(value, [20_000])


def test_decoding_is_bounded_against_equal_hashes_and_long_ranges():
    p = 2 ** 61 - 1
    start = time.monotonic()
    with pytest.raises(TooCostly):
        decode({"s": [k * p for k in range(1, 50_000)]})
    with pytest.raises(TooCostly):
        decode({"d": [[k * p, 0] for k in range(1, 50_000)]})
    with pytest.raises(TooCostly):
        decode({"g": [0, 10 ** 18, 1]})
    assert time.monotonic() - start < 2
    for data in ({"x": 1}, {"t": 1}, {"d": [[1]]}, {"s": [[1]]}, {"c": ["a", 1]}, {"r": 1}, {"e": ["print", []]}):
        with pytest.raises(ValueError):
            decode(data)


def test_expression_tests_compare_without_tolerance():
    assert exactly_equal(2.0, 2) and exactly_equal([1, (2.0,)], [1, (2,)])
    for a, b in ((1.0000009, 1), (-9e-07, 1e-09), (True, 1), ([1], (1,)), (collections.Counter(a=1), {"a": 1})):
        assert not exactly_equal(a, b), (a, b)


@pytest.mark.parametrize("residual", ["__v(0).real", "x == 1", "__c(0)(1)", "__f(0)(__v(1)).x", "[y for y in __v(0)]",
                                      "__v(0) if (x := 1) else 0"])
def test_the_host_evaluates_only_operators_displays_and_known_functions(residual):
    with pytest.raises(NeedJudge):
        compiled(residual)


@pytest.mark.parametrize("program, test", [
    ("def f(x):\n    return 10 ** 15\n", "assert sum(range(f(3))) == 3"),
    ("def f(x):\n    return 10 ** 9\n", "assert 2 ** f(1) > 0"),
    ("def f(x):\n    return 'x' * 10000\n", "assert f(1) * 1000 != ''"),
    ("def f(x):\n    return -10 ** 9\n", "assert round(1, f(1)) == 0"),
    ("def f(x):\n    return '%0999999999d'\n", "assert f(1) % 1 != ''"),
])
def test_costly_work_on_a_programs_value_is_left_to_the_judge(program, test):
    with pytest.raises(NeedJudge):
        judge(program, [TestCase("t", test, entry_point="f")], fast_only=True)


def test_humaneval_hidden_checks_are_all_judged_outside_the_program():
    """Every hidden check of HumanEval is recorded by the judge (no test code is ever sent to the
    program's process), and the six that used to keep an in-process part are judged too."""
    from envs.problems import load_humaneval

    problems = load_humaneval()
    recorded = harness.judge_all(json.dumps({"mode": "record", "tests": [
        [p.hidden_tests[0].code, None, p.entry_point] for p in problems]}))
    called = {step["o"][1] for step in recorded["steps"] if step["o"][0] == "call" and isinstance(step["o"][1], str)}
    assert called <= {p.entry_point for p in problems}  # poly, encode_cyclic: the judge runs its own
    assert len(recorded["tests"]) == 164


def test_a_call_that_changes_its_arguments_changes_the_tests_objects():
    sorts = "def f(xs):\n    xs.sort()\n"
    in_place = [TestCase("t", "x = [3, 1, 2]\nf(x)\nassert x == [1, 2, 3]", entry_point="f")]
    assert judge(sorts, in_place) == ["pass"]
    assert judge("def f(xs):\n    return sorted(xs)\n", in_place) == ["fail"]
    untouched = [TestCase("t", "x = [3, 1, 2]\nassert f(x) == 3 and x == [3, 1, 2]", entry_point="f")]
    assert judge("def f(xs):\n    xs.sort()\n    return 3\n", untouched) == ["fail"]
    assert judge("def f(xs):\n    return len(xs)\n", untouched) == ["pass"]
    later = [TestCase("t", "x = [3, 1, 2]\nf(x)\nassert g(x) == 1", entry_point="f")]
    assert judge(sorts + "def g(xs):\n    return xs[0]\n", later) == ["pass"]  # g sees the sorted list


def _host_judgeable(test: dict) -> bool:
    """Could the host judge this record, given builtin results and no argument changed?"""
    from envs.sandbox.checks import CLASSES, FUNCTIONS

    if test["end"] != "done":
        return False
    for kind, event in test["events"]:
        if kind != "c":
            continue
        try:
            compiled(event["residual"])
        except NeedJudge:
            return False
        if any("u" in part or ("fn" in part and part["fn"] not in FUNCTIONS | CLASSES)
               for part in event["parts"].values()):
            return False
    return True


def test_share_of_mbpp_style_asserts_the_host_judges_from_the_record():
    from pathlib import Path

    lines = [line for line in (Path(__file__).parent / "data" / "mbpp_style_asserts.txt").read_text().splitlines()
             if line.strip()]
    record = harness.judge_all(json.dumps({"mode": "record", "tests": [[line, None, None] for line in lines]}))
    host = sum(_host_judgeable(test) for test in record["tests"])
    assert len(lines) >= 44 and host >= 42, host  # the rest (comprehensions over results) by the judge's replay
