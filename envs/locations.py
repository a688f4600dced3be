"""Where the search asks the policy to write: hunk locations in a program.

Every location is an insertion point, `Location(after_line=L, indent=..., reason=...)`, meaning
"insert after line L" (1-based, 0 = at the top). Candidates, in priority order:

1. "traceback": before each program line that a failing visible test's traceback names, with
   that line's indentation (a fix usually goes in front of the line that broke: a guard, a
   conversion, a corrected assignment). Line numbers are read from `TestOutcome.detail` with
   the patterns documented at `PROGRAM_FILENAMES`.
2. "end_of_body": after the last statement of the entry function, at its body's indentation.
3. `None` (MODEL_CHOICE), when the policy's format lets the model write its own hunk header.
4. "after_stmt": after each top-level statement of the entry function's body (docstring
   included), last to first (later statements are nearer the unfinished end of the function).

Fallbacks, so the search never stalls: a program that does not parse gets a textual guess of
the entry function's extent (its `def` line and the more-indented lines below it); a program
without the entry function (the empty program, a helper-only state) gets "end_of_program",
after its last line at column 0.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Sequence

from envs.program import Program
from envs.testcase import TestReport

MODEL_CHOICE = None  # a location of None lets the model choose where to edit (where the format allows)


@dataclass(frozen=True)
class Location:
    """Insert after line `after_line` of the current program (1-based; 0 = at the top).

    `indent` is the indentation the inserted code should have (e.g. the body of the entry
    function); `reason` records why the search chose it ("end_of_body", "after_stmt",
    "traceback", ...), for rollouts and pictures.
    """

    after_line: int
    indent: str = ""
    reason: str = ""
    # Cut formats only: keep the first `column` characters of line `after_line` as well (a cut
    # inside a line, at a token the policy was unsure of); None: a cut at the end of the line.
    column: int | None = None

BODY_INDENT = "    "  # indentation added below a `def` line when the body must be guessed

# How a failing outcome's detail names a program line (the sandbox's traceback text):
#   `File "<program>", line 12, in add`         a traceback frame
#   `invalid syntax (<program>, line 12)`       a SyntaxError message
#   `line 12` with no file named anywhere       a terse detail written by the sandbox
# Only the file names in PROGRAM_FILENAMES count: frames in the tests, the harness or the
# standard library are not places to edit.
PROGRAM_FILENAMES = ("<program>", "<string>", "<solution>", "main.py", "program.py", "solution.py")
_NAMED_LINE = re.compile(r'File "(?P<file>[^"]*)", line (?P<line>\d+)|\((?P<sfile>[^,()]*), line (?P<sline>\d+)\)')
_BARE_LINE = re.compile(r"\bline (?P<line>\d+)")


def hunk_locations(
    program: Program,
    entry_point: str,
    *,
    report: TestReport | None = None,
    model_choice: bool = False,
    limit: int | None = None,
) -> tuple[Location | None, ...]:
    """Distinct candidate locations in priority order (see module docstring), at most `limit`."""
    found: list[Location | None] = []
    found += traceback_locations(program, report) if report is not None else []
    body = _entry_body(program, entry_point)
    if body is None:
        found.append(Location(len(program), "", "end_of_program"))
    else:
        indent, ends = body
        found.append(Location(ends[-1], indent, "end_of_body"))
        if model_choice:
            found.append(MODEL_CHOICE)
        found += [Location(end, indent, "after_stmt") for end in reversed(ends[:-1])]
    if body is None and model_choice:
        found.append(MODEL_CHOICE)
    out = _dedupe(found)
    return tuple(out if limit is None else out[:limit])


def end_of_body(program: Program, entry_point: str) -> Location:
    """After the last statement of the entry function at its body's indentation, else (no
    such function) after the last line at column 0: where a format that cannot let the model
    choose writes by default."""
    body = _entry_body(program, entry_point)
    if body is None:
        return Location(len(program), "", "end_of_program")
    indent, ends = body
    return Location(ends[-1], indent, "end_of_body")


def traceback_locations(program: Program, report: TestReport) -> list[Location]:
    """A location before each distinct program line named by a failing test (first seen first)."""
    out = []
    for line in _traceback_lines(report, len(program)):
        text = program.lines[line - 1]
        out.append(Location(line - 1, text[: len(text) - len(text.lstrip())], "traceback"))
    return out


def _traceback_lines(report: TestReport, n_lines: int) -> list[int]:
    """Program lines named by failing outcomes, innermost frame first within each detail."""
    seen: dict[int, None] = {}
    for outcome in report.outcomes:
        if outcome.status == "pass" or not outcome.detail:
            continue
        for number in reversed(program_line_numbers(outcome.detail)):
            if 1 <= number <= n_lines:
                seen.setdefault(number, None)
    return list(seen)


def program_line_numbers(text: str) -> list[int]:
    """Line numbers of the program named in `text`, in order of appearance (see PROGRAM_FILENAMES)."""
    named = list(_NAMED_LINE.finditer(text))
    if not named:  # no file named anywhere: a bare "line N" can only mean the program
        return [int(m["line"]) for m in _BARE_LINE.finditer(text)]
    out = []
    for match in named:
        name = match["file"] if match["file"] is not None else match["sfile"]
        if name.strip() in PROGRAM_FILENAMES:
            out.append(int(match["line"] or match["sline"]))
    return out


def _entry_body(program: Program, entry_point: str) -> tuple[str, list[int]] | None:
    """(body indentation, end line of each top-level body statement) of the entry function."""
    try:
        tree = ast.parse(program.text)
    except (SyntaxError, ValueError):  # ValueError: null bytes in the source
        return _guess_body(program, entry_point)
    func = _find_function(tree, entry_point)
    if func is None:
        return None
    first = program.lines[func.body[0].lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    return indent, [stmt.end_lineno or stmt.lineno for stmt in func.body]


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The top-level function `name`, else the first one so named anywhere (e.g. a method)."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    for stmt in tree.body:
        if isinstance(stmt, kinds) and stmt.name == name:
            return stmt
    return next((n for n in ast.walk(tree) if isinstance(n, kinds) and n.name == name), None)


def _guess_body(program: Program, entry_point: str) -> tuple[str, list[int]] | None:
    """Textual guess for a program that does not parse: the def line and the non-blank lines
    indented deeper than it that follow; the body ends at the last of them."""
    pattern = re.compile(rf"^(?P<indent>\s*)(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(")
    for start, line in enumerate(program.lines):
        match = pattern.match(line)
        if not match:
            continue
        depth = len(match["indent"])
        end, body_indent = start + 1, None
        for number in range(start + 2, len(program) + 1):
            text = program.lines[number - 1]
            if not text.strip():
                continue
            lead = len(text) - len(text.lstrip())
            if lead <= depth:
                break
            end = number
            body_indent = body_indent or text[:lead]
        return body_indent or match["indent"] + BODY_INDENT, [end]
    return None


def _dedupe(found: list[Location | None]) -> list[Location | None]:
    """Keep the first location per (after_line, indent): an earlier reason wins."""
    seen, out = set(), []
    for location in found:
        key = None if location is None else (location.after_line, location.indent, location.column)
        if key not in seen:
            seen.add(key)
            out.append(location)
    return out


# ---- definitions by name (also used by the formats to read model answers) --------------


def parse_lines(lines: Sequence[str]) -> ast.Module | None:
    try:
        return ast.parse("\n".join(lines) + "\n")
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return None


def top_level_defs(lines: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Top-level def/class name -> (start, end) line indices, end exclusive, decorators
    included. Uses ast when the code parses, else a textual guess (truncated answers)."""
    tree = parse_lines(lines)
    if tree is not None:
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        return {
            node.name: (
                min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1,
                node.end_lineno or node.lineno,
            )
            for node in tree.body
            if isinstance(node, kinds)
        }
    found: dict[str, tuple[int, int]] = {}
    header = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)")
    for start, line in enumerate(lines):
        match = header.match(line)
        if match is None or match.group(1) in found:
            continue
        end = start + 1
        for number in range(start + 1, len(lines)):
            text = lines[number]
            if text.strip() and not text[0].isspace() and not text.lstrip().startswith("#"):
                break
            if text.strip():
                end = number + 1
        first = start
        while first > 0 and lines[first - 1].startswith("@"):
            first -= 1
        found[match.group(1)] = (first, end)
    return found


def def_span(lines: Sequence[str], name: str) -> tuple[int, int] | None:
    """(start, end) line indices (end exclusive) of the top-level definition `name`."""
    return top_level_defs(lines).get(name)


# ---- cut points: where a child may rewrite the rest of the entry function --------------------


def cut_locations(program: Program, entry_point: str, *, report: TestReport | None = None,
                  uncertain: tuple[str, int] | None = None) -> tuple[Location, ...]:
    """Lines after which a child keeps the program and rewrites the rest of the entry function
    (formats whose `edit_style` is "cut"), distinct, in priority order:

    1. "traceback": just before each program line a failing visible test names (the line that
       broke is rewritten, with everything after it);
    1b. "uncertain_token": inside the body line where the generation that made the program was
       least sure of a token (`uncertain` = (that line's text, the token's column)): the line
       is kept up to the token and the policy writes on from there (PG-TD branches on tokens);
    2. "after_stmt": after every statement of the entry function at any depth, and after each
       compound statement's header, latest first (a later cut keeps more of what the parent
       wrote); the statement that ends the function is left out (nothing would be rewritten);
    3. "body_start": after the signature and docstring (the whole body rewritten).
    A program without the entry function, or one that does not parse, has no cut points.
    """
    try:
        tree = ast.parse(program.text)
    except (SyntaxError, ValueError):
        return ()
    func = _find_function(tree, entry_point)
    if func is None:
        return ()
    first, last = func.body[0], func.end_lineno or func.lineno
    doc = _docstring_span(func)
    body_start = doc[1] if doc is not None else first.lineno - 1
    found = [loc for loc in (traceback_locations(program, report) if report is not None else [])
             if body_start <= loc.after_line < last]
    if uncertain is not None:
        text, column = uncertain
        line = next((i for i in range(body_start + 1, last + 1) if program.lines[i - 1] == text), None)
        if line is not None and 0 < column < len(text):
            found.append(Location(line, "", "uncertain_token", column))
    points: set[int] = set()
    for node in ast.walk(func):
        if node is func or not isinstance(node, ast.stmt):
            continue
        points.add(node.end_lineno or node.lineno)
        for block in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, block, None)
            if inner and isinstance(inner, list) and hasattr(inner[0], "lineno"):
                points.add(inner[0].lineno - 1)
    found += [Location(line, "", "after_stmt") for line in sorted(points, reverse=True) if body_start < line < last]
    found.append(Location(body_start, "", "body_start"))
    return tuple(loc for loc in _dedupe(found) if loc is not None)


def docstring_lines(program: Program, entry_point: str) -> tuple[int, int] | None:
    """(first, last) line numbers (1-based, inclusive) of the entry function's docstring; None
    when it has none or the program does not parse."""
    try:
        func = _find_function(ast.parse(program.text), entry_point)
    except (SyntaxError, ValueError):
        return None
    return _docstring_span(func) if func is not None else None


def _docstring_span(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int] | None:
    first = func.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.lineno, first.end_lineno or first.lineno
    return None


def body_code_lines(program: Program, entry_point: str) -> frozenset[str]:
    """Texts of the entry function's body lines that hold code (its docstring, comments and
    blank lines aside): where a cut inside a line may go. Empty if it does not parse."""
    try:
        tree = ast.parse(program.text)
    except (SyntaxError, ValueError):
        return frozenset()
    func = _find_function(tree, entry_point)
    if func is None:
        return frozenset()
    body = func.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return frozenset()
    first, last = body[0].lineno, func.end_lineno or func.lineno
    return frozenset(line for line in program.lines[first - 1: last]
                     if line.strip() and not line.lstrip().startswith("#"))
