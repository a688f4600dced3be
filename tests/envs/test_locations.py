"""Hunk locations: the entry function's body, traceback lines, fallbacks."""

import pytest
from hypothesis import given, settings, strategies as st

from envs.locations import hunk_locations, program_line_numbers
from envs.program import Program
from envs.testcase import TestOutcome, TestReport
from envs.locations import Location, MODEL_CHOICE

PROGRAM = Program.from_text(
    "import math\n"
    "\n"
    "def area(r):\n"
    '    """Area of a circle."""\n'
    "    if r < 0:\n"
    "        raise ValueError(r)\n"
    "    x = math.pi * r\n"
    "    # a trailing comment\n"
)


def test_end_of_body_then_each_statement_last_to_first():
    assert hunk_locations(PROGRAM, "area") == (
        Location(7, "    ", "end_of_body"),
        Location(6, "    ", "after_stmt"),  # after the whole `if` block, not inside it
        Location(4, "    ", "after_stmt"),  # after the docstring
    )


def test_model_choice_and_limit():
    locations = hunk_locations(PROGRAM, "area", model_choice=True, limit=2)
    assert locations == (Location(7, "    ", "end_of_body"), MODEL_CHOICE)


def test_body_indentation_is_taken_from_the_program():
    program = Program.from_text("class K:\n\tdef f(self):\n\t\treturn 1\n")
    assert hunk_locations(program, "f")[0] == Location(3, "\t\t", "end_of_body")  # a method, tabs


def test_humaneval_style_prompt_with_only_a_docstring():
    program = Program.from_text('def f(x):\n    """Return x doubled.\n\n    >>> f(2)\n    4\n    """\n')
    assert hunk_locations(program, "f") == (Location(6, "    ", "end_of_body"),)


@pytest.mark.parametrize("text, expected", [
    ("", Location(0, "", "end_of_program")),  # the empty program
    ("import os\nX = 1\n", Location(2, "", "end_of_program")),  # no entry function yet
    ("def area(r):\n    y = (r +\n    z = 1\n", Location(3, "    ", "end_of_body")),  # does not parse
    ("def area(r):\n", Location(1, "    ", "end_of_body")),  # a bare def line: guess the indent
])
def test_fallbacks(text, expected):
    assert hunk_locations(Program.from_text(text), "area")[0] == expected


def _failing(detail):
    return TestReport((TestOutcome("ok", "pass", 'File "<program>", line 3'), TestOutcome("t", "error", detail)))


def test_traceback_lines_come_first_innermost_frame_first():
    detail = (
        'Traceback (most recent call last):\n'
        '  File "<test>", line 1, in <module>\n'
        '  File "<program>", line 5, in area\n'
        '  File "<program>", line 7, in helper\n'
        "ZeroDivisionError: division by zero"
    )
    locations = hunk_locations(PROGRAM, "area", report=_failing(detail))
    assert locations[:2] == (Location(6, "    ", "traceback"), Location(4, "    ", "traceback"))
    assert Location(7, "    ", "end_of_body") in locations  # the usual ones follow
    assert all(loc.after_line != 2 for loc in locations)  # passing tests name nothing


@pytest.mark.parametrize("detail, lines", [
    ('File "<program>", line 12, in f', [12]),
    ('File "main.py", line 3\nFile "/usr/lib/python3.11/re.py", line 99', [3]),  # stdlib frames ignored
    ('File "<test>", line 1', []),  # the test's own line is not a place to edit
    ("invalid syntax (<program>, line 4)", [4]),
    ("NameError at line 2", [2]),  # terse detail naming no file
    ("AssertionError: assert add(1, 2) == 3", []),
])
def test_program_line_numbers(detail, lines):
    assert program_line_numbers(detail) == lines


def test_traceback_lines_outside_the_program_are_ignored():
    locations = hunk_locations(PROGRAM, "area", report=_failing('File "<program>", line 99'))
    assert all(loc.reason != "traceback" for loc in locations)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "def area(r):", "    return r", "    x = (", "        y = 1", "\tpass", "", "class K:",
    "    def area(self):", "# comment", ")", '    """doc"""', "area = 1",
]), max_size=8), st.text(max_size=40))
def test_locations_never_fail_and_stay_inside_the_program(lines, detail):
    program = Program(tuple(lines))
    report = TestReport((TestOutcome("t", "error", detail + 'File "<program>", line 3'),))
    locations = hunk_locations(program, "area", report=report, model_choice=True)
    assert locations and MODEL_CHOICE in locations
    for location in locations:
        if location is not None:
            assert 0 <= location.after_line <= len(program)
            assert location.indent.strip() == ""


def test_cut_points_cover_every_statement_boundary_latest_first():
    from envs.locations import cut_locations

    program = Program.from_text(
        'def f(xs):\n    """Doc."""\n    total = 0\n    for x in xs:\n        if x:\n'
        "            total += x\n    return total\n"
    )
    points = cut_locations(program, "f")
    assert [(p.after_line, p.reason) for p in points] == [
        (6, "after_stmt"), (5, "after_stmt"), (4, "after_stmt"), (3, "after_stmt"), (2, "body_start")]
    assert cut_locations(Program.from_text("def g(a):\n    return a\n"), "g") == (Location(1, "", "body_start"),)
    assert cut_locations(Program.from_text("def g(a):\n  return (\n"), "g") == ()  # does not parse


def test_a_cut_inside_a_line_at_the_least_certain_token_comes_after_tracebacks():
    from envs.locations import cut_locations

    program = Program.from_text('def f(xs):\n    """Doc."""\n    return sorted(xs)[0]\n')
    points = cut_locations(program, "f", uncertain=("    return sorted(xs)[0]", 11))
    assert points[0] == Location(3, "", "uncertain_token", 11)  # keeps "    return " and writes on
    assert points[-1] == Location(2, "", "body_start")
    # a hint for a line the program does not hold (or at its indentation) adds nothing
    assert cut_locations(program, "f", uncertain=("    return 1", 5)) == cut_locations(program, "f")
    assert cut_locations(program, "f", uncertain=("    return sorted(xs)[0]", 0)) == cut_locations(program, "f")


def test_body_code_lines_leave_out_docstring_comments_and_blanks():
    from envs.locations import body_code_lines

    program = Program.from_text('def f(x):\n    """Doc\n    more."""\n    # why\n\n    y = x\n    return y\n')
    assert body_code_lines(program, "f") == {"    y = x", "    return y"}
    assert body_code_lines(Program.from_text("def f(:\n"), "f") == frozenset()


def test_docstring_lines_of_the_entry_function():
    from envs.locations import docstring_lines

    program = Program.from_text('import os\n\n\ndef f(x):\n    """Doc\n    more."""\n    return x\n')
    assert docstring_lines(program, "f") == (5, 6)
    assert docstring_lines(Program.from_text("def f(x):\n    return x\n"), "f") is None
    assert docstring_lines(Program.from_text("def f(:\n"), "f") is None
    assert docstring_lines(program, "g") is None
