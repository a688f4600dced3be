"""Refinement prompts that leave out the entry function's docstring, which the task already shows.

A cut child's prompt with feedback (`continuation._cut_prompt`) shows its parent's code and then
prefills the head the child keeps. On HumanEval both contained the starter's docstring, so a
refinement call paid for it twice: 484 new prompt tokens a call, against the 72 a fresh draw
generates (benchmarks/refine_prompt_cost.py; 234 without it). The model has read the docstring
once already, in the task; the prompt's code and head skip it and the parser puts it back, so the
child's program is the parent's head, docstring included, plus what the model wrote.

Elided only when the docstring is the task's own (its lines appear in the problem's prompt, so
the model saw them), stands on lines of its own after the signature, and lies wholly inside the
head the child keeps.
"""

from __future__ import annotations

from typing import Sequence

from envs.locations import Location, docstring_lines
from envs.problem import Problem
from envs.program import Program


def elided_span(problem: Problem, program: Program, location: Location) -> tuple[int, int] | None:
    """(first, last) 1-based line numbers of the docstring a refinement's prompt leaves out, or None."""
    span = docstring_lines(program, problem.entry_point)
    if span is None or location.after_line < span[1]:
        return None
    first, last = span
    lines = program.lines[first - 1:last]
    if not lines[0].lstrip().startswith(('"', "'")) or not lines[-1].rstrip().endswith(('"', "'")):
        return None  # shares a line with the signature or with code
    if "\n".join(line.strip() for line in lines) not in "\n".join(line.strip() for line in problem.prompt.splitlines()):
        return None  # not the docstring the task showed
    return span


def without(lines: Sequence[str], span: tuple[int, int] | None) -> list[str]:
    """`lines` (from line 1) without the 1-based inclusive `span`."""
    if span is None:
        return list(lines)
    return list(lines[:span[0] - 1]) + list(lines[span[1]:])
