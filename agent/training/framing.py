"""Training programs framed as the tasks the policy will meet: a starter, then the body.

At inference an edit-sequence policy is given a task's prompt (imports, signature and
docstring, as HumanEval writes it) as its instruction, and the same code as the first diff
(`policies.formats.edit_sequence`); the diffs it writes are numbered against that starter.
Training sequences must look the same, or the model learns to number its hunks from an empty
program (`@@ -0,0`) and every one of its diffs misses the starter at inference.

    from agent.training.framing import task_framing
    framed = task_framing("Return the sum of a and b.", "def add(a, b):\\n    return a + b\\n")
    framed.instruction  # the starter's code: the signature, then the instruction as docstring
    framed.starter      # the same code, as a Program
    framed.program      # the starter followed by the body

The entry function is the program's last top-level function. What comes before its body
(imports, decorators, the signature, however many lines it spans) is kept as written; the
instruction becomes its docstring, wrapped at 88 columns.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from envs.program import Program

WIDTH = 88


class FramingError(ValueError):
    """The program cannot be framed as a task (no function, or a function with no body)."""


@dataclass(frozen=True)
class FramedTask:
    instruction: str  # what the policy sees as the task: the starter's code, stripped
    starter: Program  # the first state of every edit sequence
    program: Program  # starter + body


def task_framing(instruction: str, program: str) -> FramedTask:
    """Frame `program` (which holds no docstring in its entry function) as a task whose
    starter is its code up to the entry function's body plus `instruction` as docstring."""
    try:
        tree = ast.parse(program)
    except SyntaxError as exc:
        raise FramingError(f"the program does not parse: {exc.msg} (line {exc.lineno})") from None
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        raise FramingError("the program holds no top-level function")
    entry = functions[-1]
    if entry is not tree.body[-1]:
        raise FramingError(f"code follows the entry function {entry.name!r}")
    first = entry.body[0]
    if ast.get_docstring(entry) is not None:
        raise FramingError(f"{entry.name!r} already has a docstring; pass the program without it")
    lines = Program.from_text(program).lines
    if lines[first.lineno - 1][: first.col_offset].strip():
        raise FramingError(f"the body of {entry.name!r} starts on its signature's line")
    head = list(lines[: first.lineno - 1])
    indent = " " * first.col_offset
    docstring = _docstring(instruction, indent)
    starter = Program(tuple(head + docstring))
    return FramedTask(starter.text.rstrip(), starter, Program(tuple(head + docstring + list(lines[first.lineno - 1:]))))


def _docstring(instruction: str, indent: str) -> list[str]:
    text = " ".join(instruction.split()).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if len(indent) + 6 + len(text) <= WIDTH:
        return [f'{indent}"""{text}"""']
    body = textwrap.wrap(text, WIDTH - len(indent), break_long_words=False, break_on_hyphens=False)
    return [f'{indent}"""{body[0]}', *(f"{indent}{line}" for line in body[1:]), f'{indent}"""']
