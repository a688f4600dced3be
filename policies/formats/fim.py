"""Fill-in-the-middle at a location: the program is split there and the model writes the middle.

Layouts (prefix `P`, suffix `S`; the model writes the middle after the last token):

    FIM-NeoX (SPM)    <|SUF|>{S}<|PRE|>{P}<|MID|>
    SantaCoder (PSM)  <fim-prefix>{P}<fim-suffix>{S}<fim-middle>
    StarCoder (PSM)   <fim_prefix>{P}<fim_suffix>{S}<fim_middle>
    Qwen2.5-Coder     <|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>

For an insertion after line L: `P` is the task comment (only when the program does not already
hold the prompt, see `common.task_comment`) followed by lines 1..L, each ending in "\\n"; `S`
is lines L+1.. in canonical text (each line ending in "\\n"), "" at the end of the program.
The prefix ends at a line boundary, not with the location's indentation: BPE tokenizers
merge indentation with the next word (" return"), so a prompt ending in spaces is split where
training text never is; the model writes the indentation and it is normalised instead.

The middle is cut at the end of text / end-of-middle tokens and at any FIM token, split into
lines, stripped of leading and trailing blank lines and re-indented so its first line sits at
the location's indentation (relative indentation kept); it becomes the hunk
`@@ -L,0 +L+1,k @@`, and top-level statements the program does not need (example calls,
prints, asserts, `__main__` blocks: `envs.tidy`) are dropped from the result.
A location of None means the end of the entry function's body.
A whole program is the middle at the end of the starter's entry function (suffix "").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from envs.diff import make_edit
from envs.problem import Problem
from envs.program import Program
from envs.locations import Location, end_of_body
from envs.tidy import tidy_lines
from policies.base import EditFormat, ParsedOutput, RenderedPrompt, State
from policies.formats.common import (
    END_MARKERS,
    cut_at,
    insertion_output,
    reindent,
    split_lines,
    strip_blank_ends,
    task_comment,
)


@dataclass(frozen=True)
class FimSpec:
    prefix: str
    suffix: str
    middle: str
    spm: bool  # suffix-prefix-middle order (FIM-NeoX); else prefix-suffix-middle
    stops: tuple[str, ...]  # besides END_MARKERS: tokens that end the middle

    @property
    def tokens(self) -> tuple[str, str, str]:
        return self.prefix, self.suffix, self.middle


NEOX = FimSpec("<|PRE|>", "<|SUF|>", "<|MID|>", spm=True, stops=())
SANTACODER = FimSpec("<fim-prefix>", "<fim-suffix>", "<fim-middle>", spm=False, stops=("<fim-pad>",))
STARCODER = FimSpec(
    "<fim_prefix>", "<fim_suffix>", "<fim_middle>", spm=False, stops=("<fim_pad>", "<file_sep>")
)
QWEN = FimSpec(
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    spm=False,
    stops=("<|fim_pad|>", "<|file_sep|>", "<|repo_name|>"),
)


def split_program(problem: Problem, program: Program, after_line: int) -> tuple[str, str]:
    """(prefix, suffix) texts around an insertion after line `after_line`."""
    head, tail = program.lines[:after_line], program.lines[after_line:]
    prefix = task_comment(problem, program) + "".join(line + "\n" for line in head)
    return prefix, "".join(line + "\n" for line in tail)


def render_fim(spec: FimSpec, prefix: str, suffix: str) -> str:
    if spec.spm:
        return f"{spec.suffix}{suffix}{spec.prefix}{prefix}{spec.middle}"
    return f"{spec.prefix}{prefix}{spec.suffix}{suffix}{spec.middle}"


def middle_lines(spec: FimSpec, text: str, indent: str) -> list[str]:
    """The middle as program lines: cut at stops, blank ends dropped, re-indented."""
    text = cut_at(text, spec.stops + spec.tokens + END_MARKERS)
    return reindent(strip_blank_ends(split_lines(text)), indent)


class FimFormat(EditFormat):
    """Fill-in-the-middle for one model family; subclasses pick the `spec`."""

    name = "fim"
    spec: FimSpec = STARCODER

    def __init__(self, tokenizer=None) -> None:
        self.tokenizer = tokenizer  # unused: FIM tokens are written as text and tokenized whole

    def _location(self, problem: Problem, program: Program, location: Location | None) -> Location:
        return location if location is not None else end_of_body(program, problem.entry_point)

    def render_prompt(
        self, problem: Problem, state: State, location: Location | None
    ) -> RenderedPrompt:
        where = self._location(problem, state.program, location)
        prefix, suffix = split_program(problem, state.program, where.after_line)
        stop = self.spec.stops + self.spec.tokens + END_MARKERS
        return RenderedPrompt(text=render_fim(self.spec, prefix, suffix), prefill="", stop=stop)

    def parse_output(
        self, problem: Problem, state: State, location: Location | None, text: str
    ) -> ParsedOutput:
        where = self._location(problem, state.program, location)
        parsed = insertion_output(state.program, where, middle_lines(self.spec, text, where.indent))
        if parsed.program is None:
            return parsed
        # A middle that runs past the function writes examples, prints and asserts at the top
        # level (Qwen2.5-Coder-Instruct does): the program keeps only what it needs (envs.tidy).
        tidied = Program(tuple(tidy_lines(parsed.program.lines)))
        if tidied == parsed.program:
            return parsed
        return replace(parsed, edit=make_edit(state.program, tidied), program=tidied)

    def render_program_prompt(self, problem: Problem) -> RenderedPrompt:
        return self.render_prompt(problem, State(problem.starter), None)

    def parse_program_output(self, problem: Problem, text: str) -> ParsedOutput:
        return self.parse_output(problem, State(problem.starter), None, text)


class FimNeoXFormat(FimFormat):
    name = "fim_neox"
    spec = NEOX


class FimSantaCoderFormat(FimFormat):
    name = "fim_santacoder"
    spec = SANTACODER


class FimStarCoderFormat(FimFormat):
    name = "fim_starcoder"
    spec = STARCODER


class FimQwenFormat(FimFormat):
    name = "fim_qwen"
    spec = QWEN
