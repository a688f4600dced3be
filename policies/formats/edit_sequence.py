"""LintSeq edit sequences (TinyCodeLM-LintSeqInstruct and models finetuned here).

A program is written as the LintSeq diffs between consecutive states, each preceded by the
`<|diff|>` token (see DESIGN.md, "Edit formats the policies speak"):

    {instruction}\\n<|diff|>{diff_1}\\n<|diff|>{diff_2} ... \\n<|diff|>{diff_k}{eos}

where `diff_i = render_lintseq(state_{i-1}, state_i)`: `difflib.unified_diff(n=0)` without the
`---`/`+++` lines, headers omitting a count of 1. The instruction is the problem's prompt with
trailing whitespace removed. A state's history (root -> state) is this sequence; a non-empty
root (a HumanEval starter) is written as the first diff, from the empty program.

Prompt at a location `L` (insert after line L), with the header start written by the agent:

    {instruction}\\n<|diff|>{diff_1} ... \\n<|diff|>{diff_k}\\n<|diff|>@@ -L,0 +L+1

The model writes the rest of the header (`,k @@` or ` @@`) and the `+` lines; the sample stops
at the next `<|diff|>`. An insertion of k lines after line L is exactly what difflib writes as
`@@ -L,0 +L+1,k @@` (`@@ -L,0 +L+1 @@` for k = 1), so this intervention stays in distribution.
With location None the prompt ends after `\\n<|diff|>` and the model writes the whole diff,
header included (its own choice of place). The body is trusted over the header's count.

A whole program (`render_program_prompt`) is the same prompt for the starter state with no
stop at `<|diff|>`: every diff the model writes is applied in turn.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Sequence

from envs.diff import DiffStatus, make_edit, render_lintseq
from envs.problem import Problem
from envs.program import Program
from envs.locations import Location
from policies.base import EditFormat, ParsedOutput, RenderedPrompt, State
from policies.formats.common import END_MARKERS, FormatStatus, apply_model_diff, cut_at, failure

DIFF_TOKEN = "<|diff|>"
SEPARATOR = "\n" + DIFF_TOKEN  # what precedes every diff


def instruction_of(problem: Problem) -> str:
    return problem.prompt.rstrip()


def history_diffs(history: Sequence[Program]) -> list[str]:
    """LintSeq diffs between consecutive states, from the empty program; repeats skipped."""
    states = list(history)
    if not states or states[0].lines:
        states.insert(0, Program(()))
    return [render_lintseq(a, b) for a, b in pairwise(states) if a != b]


def render_sequence(instruction: str, history: Sequence[Program]) -> str:
    """`instruction + "\\n<|diff|>" + diff_1 + ... + "\\n<|diff|>" + diff_k` (no eos)."""
    return instruction + "".join(SEPARATOR + diff for diff in history_diffs(history))


def render_training_example(instruction: str, history: Sequence[Program], eos: str) -> str:
    """A full finetuning example: the edit sequence that writes `history[-1]`, then `eos`.

    `history` runs from the first state (the empty program is prepended when it is missing) to
    the finished program; consecutive equal states are skipped.
    """
    return render_sequence(instruction, history) + eos


def training_example(instruction: str, diffs: Sequence[str], eos: str, prompt_edits: int = 0) -> tuple[str, str]:
    """(prompt, completion) for finetuning on `diffs` (from the empty program), loss on the
    completion only.

    prompt = `instruction + "\\n<|diff|>"`, plus the first `prompt_edits` diffs each followed by
    `"\\n<|diff|>"`: with `prompt_edits=1` and a starter as the first diff, exactly what
    `render_program_prompt` gives the model at inference for that starter (with 0, for an empty
    one). completion = the other diffs joined by `"\\n<|diff|>"`, then `eos`. prompt +
    completion == `render_training_example` of the same states.
    """
    if not 0 <= prompt_edits < len(diffs):
        raise ValueError(f"an edit sequence needs a diff after its {prompt_edits} prompt diff(s)")
    prompt = instruction + "".join(SEPARATOR + diff for diff in diffs[:prompt_edits]) + SEPARATOR
    return prompt, SEPARATOR.join(diffs[prompt_edits:]) + eos


def header_start(location: Location) -> str:
    """`@@ -L,0 +L+1`: the part of an insertion header after line L that fixes its place."""
    return f"@@ -{location.after_line},0 +{location.after_line + 1}"


class EditSequenceFormat(EditFormat):
    """Prompts and parses for LintSeq edit-sequence models (see the module docstring)."""

    name = "edit_sequence"

    def __init__(self, tokenizer=None) -> None:
        # The layout needs no tokenizer (<|diff|> is a plain string in the prompt text); the
        # argument keeps every format's constructor the same.
        self.tokenizer = tokenizer

    def render_prompt(
        self, problem: Problem, state: State, location: Location | None
    ) -> RenderedPrompt:
        prefill = "" if location is None else header_start(location)
        text = render_sequence(instruction_of(problem), state.history) + SEPARATOR + prefill
        return RenderedPrompt(text=text, prefill=prefill, stop=(DIFF_TOKEN,) + END_MARKERS)

    def parse_output(
        self, problem: Problem, state: State, location: Location | None, text: str
    ) -> ParsedOutput:
        return _apply_diff(state.program, cut_at(text, (DIFF_TOKEN,) + END_MARKERS))

    def render_program_prompt(self, problem: Problem) -> RenderedPrompt:
        # No <|diff|> stop: the model writes the whole sequence and ends with eos.
        text = render_sequence(instruction_of(problem), (problem.starter,)) + SEPARATOR
        return RenderedPrompt(text=text, prefill="", stop=END_MARKERS)

    def parse_program_output(self, problem: Problem, text: str) -> ParsedOutput:
        """Apply every diff in order from the starter; the first one that fails decides."""
        starter = problem.starter
        chunks = [c for c in cut_at(text, END_MARKERS).split(DIFF_TOKEN) if c.strip()]
        if not chunks:
            return failure(DiffStatus.EMPTY, "no diff written")
        program = starter
        for number, chunk in enumerate(chunks, 1):
            step = _apply_diff(program, chunk)
            if step.program is None:
                detail = f"diff {number} of {len(chunks)}: {step.detail}"
                return failure(step.status, detail)
            program = step.program
        if program == starter:
            return failure(FormatStatus.NO_CHANGE, "the diffs undo each other")
        return ParsedOutput(
            status=DiffStatus.OK.value, edit=make_edit(starter, program), program=program
        )


def _apply_diff(program: Program, text: str) -> ParsedOutput:
    """Parse and apply one LintSeq diff (strict, then trusting the body over the counts)."""
    # A diff is followed by "\n<|diff|>", so the text before the stop ends in a newline that
    # is not part of the diff; blank trailing lines would read as prefix-less body lines.
    return apply_model_diff(program, text.rstrip("\n"), context=0)  # LintSeq: no context
