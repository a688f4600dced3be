"""Helpers the edit formats share: failure classes, clean-up of model text, insertion hunks,
the task text shown to the model, and extraction of a function from a free-form answer.

Everything here is pure text processing on untrusted model output: nothing raises on bad
text; problems come back as statuses (`STATUSES` lists every class a format may report).
"""

from __future__ import annotations

import ast
import enum
import re
from dataclasses import dataclass
from typing import Sequence

from envs.diff import DiffStatus, Edit, Hunk, apply_text, make_edit
from envs.problem import Problem
from envs.program import Program
from envs.locations import Location, def_span, parse_lines, top_level_defs
from envs.tidy import constants
from policies.base import ParsedOutput


class FormatStatus(str, enum.Enum):
    """Failure classes beyond the diff ones (`envs.diff.DiffStatus`), for formats whose
    output is code rather than a diff."""

    NO_CODE = "no_code"  # the answer holds no code block and no definition to take
    NO_FUNCTION = "no_function"  # code, but no definition of the entry point in it
    NO_CHANGE = "no_change"  # well-formed, but the program comes out unchanged


STATUSES: frozenset[str] = frozenset(s.value for s in DiffStatus) | frozenset(
    s.value for s in FormatStatus
)

# Text that ends a sample whatever the format: end-of-text / end-of-turn markers that a
# decoder may leave in the text when special tokens are not skipped.
END_MARKERS: tuple[str, ...] = ("<|endoftext|>", "<|im_end|>", "</s>", "<|eot_id|>", "<eos>")


def failure(status: str | enum.Enum, detail: str = "") -> ParsedOutput:
    return ParsedOutput(status=getattr(status, "value", status), detail=detail)


def apply_model_diff(program: Program, text: str, *, context: int) -> ParsedOutput:
    """Apply diff text a model wrote (`envs.diff.apply_text`: strict, then tolerant) to `program`.

    Failures are statuses (EMPTY for blank text, the diff's own class, NO_CHANGE). On success
    the edit is recomputed from the two programs with `context` lines, so it renders as a
    well-formed diff whatever positions and counts the model wrote.
    """
    if not text.strip():
        return failure(DiffStatus.EMPTY, "no diff written")
    result = apply_text(program, text)
    if result.status != DiffStatus.OK or result.program is None:
        return failure(result.status, result.detail)
    if result.program == program:
        return failure(FormatStatus.NO_CHANGE, "the diff changes nothing")
    return ParsedOutput(
        status=DiffStatus.OK.value,
        edit=make_edit(program, result.program, context=context),
        program=result.program,
        detail=result.detail,
    )


def cut_at(text: str, markers: Sequence[str]) -> str:
    """The text before the first occurrence of any marker."""
    end = len(text)
    for marker in markers:
        at = text.find(marker)
        if at != -1:
            end = min(end, at)
    return text[:end]


def split_lines(text: str) -> list[str]:
    """Lines of model text; any line break style counts (a Program line may hold none)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def strip_blank_ends(lines: Sequence[str]) -> list[str]:
    """Drop leading and trailing whitespace-only lines; blank lines inside become ""."""
    out = [line if line.strip() else "" for line in lines]
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def reindent(lines: Sequence[str], indent: str) -> list[str]:
    """Shift lines so the first non-blank one sits at `indent`, keeping relative indentation.

    Lines indented less than the first one keep their own indentation: there is no consistent
    way to move them, and the lint gate judges whether they make sense.
    """
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return []
    base = leading_ws(first)
    if base == indent:
        return list(lines)
    return [
        "" if not line.strip() else indent + line[len(base) :] if line.startswith(base) else line
        for line in lines
    ]


def insertion(program: Program, after_line: int, lines: Sequence[str]) -> tuple[Edit, Program]:
    """The LintSeq-style insertion hunk `@@ -L,0 +L+1,k @@` and the program it makes."""
    after_line = max(0, min(after_line, len(program)))
    hunk = Hunk(
        old_start=after_line,
        old_count=0,
        new_start=after_line + 1,
        new_count=len(lines),
        lines=tuple("+" + line for line in lines),
    )
    new = Program(program.lines[:after_line] + tuple(lines) + program.lines[after_line:])
    return Edit((hunk,)), new


def insertion_output(program: Program, location: Location, lines: Sequence[str]) -> ParsedOutput:
    """ParsedOutput for inserting `lines` at `location` (EMPTY when there is nothing to insert)."""
    if not lines:
        return failure(DiffStatus.EMPTY, "nothing to insert")
    edit, new = insertion(program, location.after_line, lines)
    return ParsedOutput(status=DiffStatus.OK.value, edit=edit, program=new)


# ---- the task as the model sees it -------------------------------------------------------


def prompt_in_program(problem: Problem, program: Program) -> bool:
    """True when the problem's prompt is already written in the program (HumanEval: the
    starter is the signature and docstring), so showing it again would only repeat it."""
    prompt = problem.prompt.strip()
    return bool(prompt) and prompt in program.text


def task_comment(problem: Problem, program: Program) -> str:
    """The prompt as `# ` comment lines (plus a newline) for models that only see code, or ""
    when the program already holds it."""
    if prompt_in_program(problem, program) or not problem.prompt.strip():
        return ""
    lines = problem.prompt.strip().split("\n")
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def task_summary(problem: Problem) -> str:
    """One line naming the task: `Implement {entry}: {first docstring/prompt sentence}`."""
    text = problem.prompt
    doc = re.search(r'("""|\'\'\')(.*?)(\1|$)', text, re.S)
    if doc and doc.group(2).strip():
        text = doc.group(2)
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    first = first[:200]
    return f"Implement {problem.entry_point}: {first}" if first else f"Implement {problem.entry_point}"


def code_fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


# ---- code in free-form answers ------------------------------------------------------------

_FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class CodeBlock:
    lines: tuple[str, ...]
    closed: bool  # False when the answer ended inside the block (truncated)


def code_blocks(text: str) -> list[CodeBlock]:
    """Fenced blocks (```lang ... ```) in order; an unclosed last block runs to the end."""
    blocks, current = [], None
    for line in split_lines(text):
        if _FENCE.match(line):
            if current is None:
                current = []
            else:
                blocks.append(CodeBlock(tuple(current), True))
                current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        blocks.append(CodeBlock(tuple(current), False))
    return blocks


def answer_code(text: str, entry_point: str) -> CodeBlock | None:
    """The code of an answer: the first fenced block defining the entry point, else the first
    fenced block, else (no fences) the text from the entry point's `def` line on; None if none.
    A block indented as a whole (code quoted inside a list item) is dedented."""
    blocks = code_blocks(text)
    chosen = next((b for b in blocks if def_span(_dedent(b.lines), entry_point)), None)
    chosen = chosen or (blocks[0] if blocks else None)
    if chosen is not None:
        return CodeBlock(tuple(_dedent(chosen.lines)), chosen.closed)
    lines = split_lines(text)
    span = def_span(lines, entry_point)
    return CodeBlock(tuple(lines[span[0] :]), True) if span is not None else None


def _dedent(lines: Sequence[str]) -> list[str]:
    depth = min((len(leading_ws(line)) for line in lines if line.strip()), default=0)
    return [line[depth:] if line.strip() else "" for line in lines]


def _import_lines(lines: Sequence[str]) -> list[str]:
    """Top-level single-line imports (`import x`, `from x import y`)."""
    return [
        line
        for line in lines
        if re.match(r"(import|from)\s+\w", line) and not line.rstrip().endswith(("(", "\\"))
    ]


def merge_function(program: Program, code: Sequence[str], entry_point: str) -> ParsedOutput:
    """The program with its entry function replaced by the one defined in `code`.

    Also brought over: imports of `code` that the program lacks (after the program's last
    top-level import, else at the top), and helper definitions and the constants they or the
    function read (`envs.tidy.constants`) whose names the program does not define (just before
    the entry function). Other top-level statements of the answer (examples, prints, tests)
    are dropped. The edit is `make_edit(program, result)`.
    """
    from envs.diff import make_edit  # noqa: PLC0415 (kept local: the only make_edit user here)

    code = list(code)
    new_defs = top_level_defs(code)
    if entry_point not in new_defs:
        return failure(FormatStatus.NO_FUNCTION, f"no top-level def {entry_point} in the answer")
    start, end = new_defs[entry_point]
    function = strip_blank_ends(code[start:end])
    while function and function[-1].startswith("#"):  # a comment at column 0 after the body
        function = strip_blank_ends(function[:-1])      # introduces what follows ("# Example usage")
    old_defs = top_level_defs(program.lines)
    helpers: list[str] = []
    old_constants = set().union(*(names for names, _ in constants(program.lines)))
    for names, assignment in constants(code):
        if not names & (old_constants | set(old_defs)):
            helpers += assignment
    if helpers:
        helpers += ["", ""]
    for name, (h_start, h_end) in new_defs.items():
        if name != entry_point and name not in old_defs:
            helpers += strip_blank_ends(code[h_start:h_end]) + ["", ""]
    lines = list(program.lines)
    if entry_point in old_defs:
        o_start, o_end = old_defs[entry_point]
        function = _keep_docstring(list(program.lines[o_start:o_end]), function, entry_point)
        lines[o_start:o_end] = helpers + function
    else:
        gap = ["", ""] if any(line.strip() for line in lines) else []
        lines = strip_blank_ends(lines) + gap + helpers + function
    imports = [line for line in _import_lines(code) if line not in lines]
    if imports:
        existing = [i for i, line in enumerate(lines) if line in _import_lines(lines)]
        at = existing[-1] + 1 if existing else 0
        lines[at:at] = imports
    new = Program(tuple(lines))
    if new == program:
        return failure(FormatStatus.NO_CHANGE, "the answer's function equals the program's")
    return ParsedOutput(status=DiffStatus.OK.value, edit=make_edit(program, new), program=new)


def _docstring_and_body(lines: Sequence[str], name: str) -> tuple[tuple[int, int] | None, int] | None:
    """For the top-level function `name` in `lines`: its docstring's (start, end) line indices
    (None if it has none) and the index of its first body line; None if it does not parse."""
    tree = parse_lines(lines)
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    func = next((n for n in tree.body if isinstance(n, kinds) and n.name == name), None) if tree else None
    if func is None or func.body[0].lineno == func.lineno:  # a one-line `def f(): ...`
        return None
    first = func.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    is_doc = is_doc and isinstance(first.value.value, str)
    doc = (first.lineno - 1, first.end_lineno or first.lineno) if is_doc else None
    return doc, first.lineno - 1


def _keep_docstring(old: list[str], new: list[str], name: str) -> list[str]:
    """`new` with `old`'s docstring put back when the model's function dropped it (answers
    often do): the task statement stays in the program, and the edit touches only the code."""
    old_info, new_info = _docstring_and_body(old, name), _docstring_and_body(new, name)
    if old_info is None or new_info is None or old_info[0] is None or new_info[0] is not None:
        return new
    (doc_start, doc_end), body = old_info[0], new_info[1]
    docstring = old[doc_start:doc_end]
    # Re-indent the docstring to the new body's indentation (a model may indent by 2).
    shift = reindent(docstring, leading_ws(new[body])) if new[body].strip() else docstring
    return new[:body] + shift + new[body:]
