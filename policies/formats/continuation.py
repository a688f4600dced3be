"""Continuation for plain and chat LMs (the embedded default, SmolLM2-135M-Instruct, is chat).

The program up to the location is written on the model's behalf and the model continues it;
or, in "free" mode, the model answers a chat request freely and the function it writes is
diffed against the current program.

Prompt layouts, for an insertion after line L of the program (`head` = lines 1..L joined by
"\\n"; `{chat(m)}` = `tokenizer.apply_chat_template([{"role": "user", "content": m}],
tokenize=False, add_generation_prompt=True)`, for SmolLM2
`<|im_start|>system\\n...<|im_end|>\\n<|im_start|>user\\n{m}<|im_end|>\\n<|im_start|>assistant\\n`):

    plain model   {task comment}{head}{end}
    chat model    {chat(task message)}```python\\n{head}{end}
    chat, free    {chat(task message [+ current program])}

`{end}` depends on the mode (the prompt's tail is the prefill the parser gets back):
- "end_of_line": nothing: the prompt stops after line L's last character and the model writes
  "\\n" and the next line. In BPE vocabularies a newline and the next line's indentation are one
  token ("\\n   " then " return"), so this is the natural place to hand over. Text the model
  writes before its first newline must be blank (else the model changed line L: a
  `context_mismatch`), unless line L itself is blank (then that text starts the insertion).
- "open_body": "\\n" + the location's indentation minus its last space: the model starts the
  statement (" return ...") itself, as its tokenizer would split it; the first line is then
  normalised to exactly the location's indentation.
- "new_line": "\\n". Useless on SmolLM2-Instruct: 0 of 80 HumanEval samples well formed, 72
  of them close the fence at once (as DESIGN.md warned); kept for models that do better.
A location of None means the end of the entry function's body (`envs.locations.end_of_body`).

The task message is `Complete the following Python function:` and the prompt in a python
fence when the prompt is code (HumanEval), else the prompt itself (plus `Name the function
`{entry}`.` when it does not name it). In free mode, a state other
than the starter adds `Here is the current code:` and the program in a fence, then (when the
state carries visible-test failures) `It fails these tests:` and one `- test: got X, expected
Y` line each, then `Rewrite the complete function {entry}.`; free mode ignores the location.
With `feedback_turns` a refinement with failures is a conversation instead (`repair_turns`): the
task message, the program as the assistant's answer, then the failing tests and the ask as the
user's reply (a cut child's kept head prefilled in the answer after it).

Parsing a continuation: cut at the first "```" (the closing fence) or end marker, then at
the first non-comment line indented less than the inserted block's first line, or at column
0 when the location is indented (the enclosing block ended: the model went on to tests or
another function), then where it re-joins the existing suffix (a line equal to the first
non-blank line after the location); blank lines and comments left of the block at the ends
dropped, re-indented to the location's indentation; the rest is the hunk
`@@ -L,0 +L+1,k @@`.
Parsing a free answer: the first fenced block defining the entry point (else the first
block, else the text from `def {entry}` on) replaces the program's function, see
`common.merge_function`. A whole program is the same prompt for the starter state at the end
of its entry function (free mode: the free answer merged into the starter), so repeated
sampling and the search use one prompt shape.
"""

from __future__ import annotations

import re
from dataclasses import replace

from envs.diff import DiffStatus, make_edit
from envs.problem import Problem
from envs.program import Program
from envs.locations import Location, def_span, end_of_body
from policies.base import BlockEnd, EditFormat, ParsedOutput, RenderedPrompt, State
from policies.formats.elision import elided_span, without
from policies.formats.common import (
    END_MARKERS,
    FormatStatus,
    answer_code,
    code_fence,
    cut_at,
    failure,
    insertion_output,
    leading_ws,
    merge_function,
    reindent,
    split_lines,
    strip_blank_ends,
    task_comment,
)

MODES = ("free_cut", "free", "end_of_line", "open_body", "new_line")
FRESH_PROMPTS = ("free", "cut")
FENCE = "```"
OPEN_FENCE = "```python\n"
# Free mode stops at the closing fence: SmolLM2 otherwise writes prose (explanations, example
# calls) until max_new_tokens, about half of each sample's tokens. "\n```\n" cannot match the
# opening "```python" fence (only a bare opening "```" line, which SmolLM2 rarely writes). The
# sampler cuts the text before the stop, so the parser sees an unclosed fence (kept, see
# `_parse_free`); an answer that ends with "```" and the end of turn stops at the end marker.
FREE_STOP = "\n```\n"
# Mode chosen by mode="auto" (so also by `--format auto`, which detects "continuation" for
# models without edit or FIM tokens): the one place where chat and plain models part.
# Chat -> "free": it solved the most examples with SmolLM2-135M-Instruct (benchmarks/solve.py,
# best-first; end_of_line solved fewer) although end_of_line is better formed (20 HumanEval
# prompts x 4 samples, benchmarks/format_wellformedness.py: end_of_line 98% ok / 70% parse as
# Python at 85 tokens a sample; free 80% / 59% at 161 tokens before FREE_STOP; new_line 0%:
# the fence is closed at once). Search scores programs, not well-formedness: a free answer
# rewrites the whole function, so one good sample solves a problem. Plain LMs have no free
# answer (no chat template), so they continue the program at the end of a line.
# Chat -> "free_cut" since the cheap-children search (agent.search.strategies "rex"): fresh
# programs are free answers as above, and a child keeps its parent up to a cut point and the
# model continues from there (`_cut_prompt`), paying only for what it rewrites.
DEFAULT_CHAT_MODE = "free_cut"
DEFAULT_PLAIN_MODE = "end_of_line"
# One line per mode for people (the progress output of `agent solve` explains the policy's name)
MODE_SUMMARIES = {
    "free_cut": "fresh programs are the model's free chat answers; a refinement keeps its parent's code up to a "
                "cut point and the model rewrites the rest of the function",
    "free": "every sample is a free chat answer whose function replaces the program's",
    "end_of_line": "the model continues the program from the end of a line",
    "open_body": "the model continues the program on a new line inside the block",
    "new_line": "the model continues the program from a new line",
}


def is_chat(tokenizer) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def task_message(problem: Problem) -> str:
    prompt = problem.prompt.strip()
    if re.search(rf"\bdef\s+{re.escape(problem.entry_point)}\s*\(", prompt):
        return f"Complete the following Python function:\n{code_fence(prompt)}"
    if problem.entry_point not in prompt:
        return f"{prompt}\nName the function `{problem.entry_point}`."
    return prompt


def failure_list(feedback: tuple[str, ...]) -> str:
    """Failing visible tests as a bulleted list, one per line."""
    return "\n".join(f"- {line}" for line in feedback)


def free_message(problem: Problem, program: Program, feedback: tuple[str, ...] = ()) -> str:
    message = task_message(problem)
    if program.lines and program != problem.starter:
        message += f"\n\nHere is the current code:\n{code_fence(program.text)}\n"
        if feedback:
            message += f"It fails these tests:\n{failure_list(feedback)}\n"
        message += f"Rewrite the complete function {problem.entry_point}."
    return message


def repair_turns(problem: Problem, program: Program, feedback: tuple[str, ...], ask: str) -> list[dict[str, str]]:
    """A refinement as a conversation (`ContinuationFormat.feedback_turns`): the task, the program
    as the model's own answer, then its failing visible tests and `ask`. It opens with the fresh
    prompt's whole text, so the prefix cache pays only for the answer and the failures."""
    return [{"role": "user", "content": task_message(problem)},
            {"role": "assistant", "content": code_fence(program.text)},
            {"role": "user", "content": f"It fails these tests:\n{failure_list(feedback)}\n{ask}"}]


def cut_message(problem: Problem, feedback: tuple[str, ...] = (), program: Program | None = None) -> str:
    """The task for a cut child, and the failing visible tests of the program it continues
    (with that program's code, when given: the model then sees what failed, not only its head)."""
    message = task_message(problem)
    if feedback and program is not None:
        message += (f"\n\nThis version fails some tests:\n{code_fence(program.text)}\n"
                    f"Failing tests:\n{failure_list(feedback)}\nWrite a corrected version that passes them.")
    elif feedback:
        message += f"\n\nA previous version failed these tests:\n{failure_list(feedback)}\nWrite a version that passes them."
    return message


class ContinuationFormat(EditFormat):
    """Continuation prompts for plain and chat LMs; `mode` picks the layout (module docstring)."""

    name = "continuation"

    def __init__(self, tokenizer=None, mode: str = "auto", fresh: str = "free") -> None:
        self.tokenizer = tokenizer
        if fresh not in FRESH_PROMPTS:
            raise ValueError(f"unknown fresh-program prompt {fresh!r}; choose from {', '.join(FRESH_PROMPTS)}")
        if fresh == "cut" and mode not in ("auto", "free_cut"):
            raise ValueError("fresh programs cut from the starter need continuation mode free_cut")
        # How a whole program is asked for (sampling, and the search's fresh programs): "free",
        # a free answer; "cut", the starter's entry function continued from the end of its body
        # (free_cut's cut prompt): the model does not copy the signature and docstring again.
        self.fresh = fresh
        # With feedback, a cut child's prompt shows its parent's whole code beside the failing
        # tests (self-debugging's prompt), not only the head it keeps (benchmarks/repair_yield.py).
        self.feedback_shows_code = True
        # ... and that code and the kept head leave out the docstring the task shows
        # (policies.formats.elision: a refinement's prompt then costs about half the tokens).
        self.elide_docstring = True
        # ... and, with `feedback_turns`, as a conversation (`repair_turns`: the program the
        # model's answer, the failures the user's reply) instead of one message holding both.
        self.feedback_turns = False
        self.chat = is_chat(tokenizer)
        if mode == "auto":
            mode = DEFAULT_CHAT_MODE if self.chat else DEFAULT_PLAIN_MODE
        if mode not in MODES:
            raise ValueError(f"unknown continuation mode {mode!r}; choose from {', '.join(MODES)}")
        if mode.startswith("free") and not self.chat:
            raise ValueError(f"continuation mode {mode!r} needs a tokenizer with a chat template")
        self.mode = mode
        # "cut": a child at a location keeps the program up to it and rewrites the rest of the
        # entry function (envs.locations.cut_locations); "insert": it inserts lines there.
        self.edit_style = "cut" if mode == "free_cut" else "insert"
        self.label = f"{self.name}:{mode}"  # recorded as the policy's name (result.json "model")
        summary = MODE_SUMMARIES[mode]
        if fresh == "cut":
            summary = summary.replace("fresh programs are the model's free chat answers",
                                      "fresh programs continue the starter's function from the end of its body "
                                      "(free chat answers when there is no starter)")
        self.summary = f"continuation format, {mode} mode: {summary}"
        eos = getattr(tokenizer, "eos_token", None)
        self.end_markers = END_MARKERS + ((eos,) if isinstance(eos, str) and eos else ())

    # ---- prompts ----

    def _chat(self, message: str | list[dict[str, str]]) -> str:
        messages = [{"role": "user", "content": message}] if isinstance(message, str) else message
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _turns(self, problem: Problem, program: Program, feedback: tuple[str, ...]) -> bool:
        """Is this refinement asked as a conversation (`feedback_turns`)?"""
        return self.feedback_turns and bool(feedback) and program != problem.starter

    def _prefill(self, program: Program, location: Location) -> str:
        """The program part written for the model: fence (chat), lines 1..L and the mode's end."""
        head = "\n".join(program.lines[: location.after_line])
        if self.mode == "new_line" and head:
            end = "\n"
        elif self.mode == "open_body":
            indent = location.indent
            end = ("\n" if head else "") + (indent[:-1] if indent.endswith(" ") else indent)
        else:
            end = ""
        return (OPEN_FENCE if self.chat else "") + head + end

    def render_prompt(
        self, problem: Problem, state: State, location: Location | None
    ) -> RenderedPrompt:
        if self.mode == "free_cut" and location is not None:
            return self._cut_prompt(problem, state.program, location, state.feedback)
        if self.mode.startswith("free"):
            if self._turns(problem, state.program, state.feedback):
                # the program whole, docstring included: as the model's answer it continues the
                # fresh prompt, which the prefix cache holds (left out, it would cost as much)
                ask = f"Rewrite the complete function {problem.entry_point}."
                text = self._chat(repair_turns(problem, state.program, state.feedback, ask))
            else:
                text = self._chat(free_message(problem, state.program, state.feedback))
            return RenderedPrompt(text=text, prefill="", stop=(FREE_STOP,) + self.end_markers)
        where = location if location is not None else end_of_body(state.program, problem.entry_point)
        prefill = self._prefill(state.program, where)
        if self.chat:
            start = self._chat(task_message(problem))
        else:
            start = task_comment(problem, state.program)
        stop = (FENCE,) + self.end_markers
        if not self.chat and where.indent:  # code at column 0 ends the block (the parser keeps nothing after it)
            stop += (BlockEnd(0),)
        return RenderedPrompt(text=start + prefill, prefill=prefill, stop=stop)

    def render_program_prompt(self, problem: Problem) -> RenderedPrompt:
        # The same prompt shape as the search's first expansion (the starter, end of body), so
        # that repeated sampling and search differ only in the search, not in the prompt.
        return self.render_prompt(problem, State(problem.starter), self._fresh_location(problem))

    def _fresh_location(self, problem: Problem) -> Location | None:
        """Where a fresh program starts: the end of the starter's entry function when fresh
        programs are cut from it (and the starter defines it), else None (a free answer)."""
        if self.fresh != "cut" or def_span(problem.starter.lines, problem.entry_point) is None:
            return None
        return end_of_body(problem.starter, problem.entry_point)

    # ---- parsing ----

    def parse_output(
        self, problem: Problem, state: State, location: Location | None, text: str
    ) -> ParsedOutput:
        if self.mode == "free_cut" and location is not None:
            return self._parse_cut(problem, state.program, location, text, state.feedback)
        if self.mode.startswith("free"):
            return self._parse_free(problem, state.program, text)
        where = location if location is not None else end_of_body(state.program, problem.entry_point)
        prefill = self._prefill(state.program, where)
        generated = text[len(prefill) :] if text.startswith(prefill) else text
        generated = cut_at(generated, (FENCE,) + self.end_markers)
        if self.mode == "end_of_line" and where.after_line > 0:
            first, newline, rest = generated.partition("\n")
            line_l = state.program.lines[where.after_line - 1]
            if not line_l.strip():  # line L was blank: what the model wrote there is a new line
                generated = line_l + generated
            elif first.strip():
                return failure(DiffStatus.CONTEXT_MISMATCH, f"line {where.after_line} extended: {first[:80]!r}")
            elif not newline:
                return failure(DiffStatus.EMPTY, "no new line written")
            else:
                generated = rest
        lines = split_lines(generated)
        if self.mode == "open_body" and lines[0].strip():
            lines[0] = where.indent + lines[0].lstrip()
        lines = _block(lines, _rejoin_line(state.program, where), inside=bool(where.indent))
        return insertion_output(state.program, where, reindent(lines, where.indent))

    def parse_program_output(self, problem: Problem, text: str) -> ParsedOutput:
        return self.parse_output(problem, State(problem.starter), self._fresh_location(problem), text)

    def _parse_free(self, problem: Problem, program: Program, text: str) -> ParsedOutput:
        block = answer_code(cut_at(text, self.end_markers), problem.entry_point)
        if block is None or not any(line.strip() for line in block.lines):
            return failure(FormatStatus.NO_CODE, "no code block and no def in the answer")
        parsed = merge_function(program, block.lines, problem.entry_point)
        if block.closed:
            return parsed
        # Kept: the lint gate judges the code. An unclosed fence is the normal case since
        # FREE_STOP cuts before the closing fence; a truncated answer (max_new_tokens) looks
        # the same here, and the lint gate rejects it if it does not parse.
        return replace(parsed, detail=(parsed.detail + "; " if parsed.detail else "") + "unclosed fence")


    def code_so_far(self, text: str) -> str | None:
        """The code of a partial sample (prefill + generated text) for an early syntax check:
        after the opening fence for chat models (None before it), the whole text otherwise."""
        if not self.chat:
            return text
        for fence in (OPEN_FENCE, FENCE + "\n"):
            at = text.find(fence)
            if at != -1:
                return cut_at(text[at + len(fence):], (FENCE,))
        return None

    # ---- cut children (mode free_cut) ----

    def _cut_prompt(self, problem: Problem, program: Program, location: Location,
                    feedback: tuple[str, ...] = ()) -> RenderedPrompt:
        """The task, then the answer prefilled with the program's lines 1..L (line L up to the
        location's column, if it has one); the model writes on from there (it may extend line
        L) to the end of the function, where the sample stops: the parser keeps nothing after it,
        and this model goes on to write test calls there (36% of a cut child's tokens on
        HumanEval/0-14, a third of the samples running into max_new_tokens). With `feedback`
        the task is followed by the program's failing visible tests (and its code), and the
        code and head leave out the docstring the task shows (`policies.formats.elision`)."""
        elided = self._elided(problem, program, location, feedback)
        prefill = OPEN_FENCE + "\n".join(without(_cut_head(program, location), elided)) + _opener(location)
        shown = Program(tuple(without(program.lines, elided))) if self.feedback_shows_code else None
        if shown is not None and self._turns(problem, program, feedback):
            ask = "Write a corrected version that passes them."
            text = self._chat(repair_turns(problem, shown, feedback, ask)) + prefill
        else:
            text = self._chat(cut_message(problem, feedback, shown)) + prefill
        span = def_span(program.lines, problem.entry_point)
        ends = (BlockEnd(len(leading_ws(program.lines[span[0]]))),) if span is not None else ()
        return RenderedPrompt(text=text, prefill=prefill, stop=(FENCE,) + ends + self.end_markers)

    def _elided(self, problem: Problem, program: Program, location: Location,
                feedback: tuple[str, ...]) -> tuple[int, int] | None:
        """The docstring lines a refinement's prompt leaves out: only with feedback (without it
        the head is the fresh prompt's prefill, already encoded, and cheaper kept)."""
        return elided_span(problem, program, location) if feedback and self.elide_docstring else None

    def _parse_cut(self, problem: Problem, program: Program, location: Location, text: str,
                   feedback: tuple[str, ...] = ()) -> ParsedOutput:
        """lines 1..L (line L possibly extended), the continuation up to where the entry function
        ends (the first code line at the def's indentation or left of it), then whatever followed
        the entry function in the program."""
        head = _cut_head(program, location)
        opener = _opener(location)
        elided = self._elided(problem, program, location, feedback)
        prefill = OPEN_FENCE + "\n".join(without(head, elided)) + opener
        generated = text[len(prefill):] if text.startswith(prefill) else text
        generated = cut_at(generated, (FENCE,) + self.end_markers)
        # "\r\n" and a lone "\r" break lines as in Program.from_text: the first line joins the
        # kept head line and must not carry a line break into it
        generated = generated.replace("\r\n", "\n").replace("\r", "\n")
        if opener:  # the model started a new body line: give it the location's indentation
            generated = "\n" + location.indent + generated.lstrip(" ")
        first, newline, rest = generated.partition("\n")
        if elided and location.after_line == elided[1] and first.strip():
            first, newline, rest = "", "\n", generated  # the prompt's last line was the signature: a new line
        if head:
            head[-1] += first.rstrip() if first.strip() else ""
        elif first.strip():
            rest = first + newline + rest
        span = def_span(program.lines, problem.entry_point)
        start, end = span if span is not None else (0, len(program))
        if not start <= location.after_line <= end:
            return failure(FormatStatus.NO_CHANGE, f"cut point {location.after_line} is outside {problem.entry_point}")
        depth = len(leading_ws(program.lines[start]))
        body = []
        for line in split_lines(rest) if (newline or not head) else []:
            if line.strip() and not line.lstrip().startswith("#") and len(leading_ws(line)) <= depth:
                break
            body.append(line.rstrip())
        while body and (not body[-1].strip() or len(leading_ws(body[-1])) <= depth):
            body.pop()  # blank lines and comments left of the body that introduce what was cut
        new = Program(tuple(head + strip_blank_ends(body) + list(program.lines[end:])))
        if new == program:
            return failure(FormatStatus.NO_CHANGE, "the continuation rewrites nothing")
        return ParsedOutput(status=DiffStatus.OK.value, edit=make_edit(program, new), program=new)


class FreeContinuation(ContinuationFormat):
    """Chat models answering freely (registry name "continuation_free")."""

    name = "continuation_free"

    def __init__(self, tokenizer=None) -> None:
        super().__init__(tokenizer, mode="free")


def _opener(location: Location) -> str:
    """The end of a cut prompt at a line's end: a new line, indented one space short of the body.

    Why: asked to continue a function right after its docstring, Qwen2.5-Coder-0.5B often ends
    it there (3 of 4 samples of HumanEval/10 were two tokens long, no body). A new line at the
    body's indentation less one space makes it write a statement, which its tokenizer starts
    with that space (" return"), as the `open_body` mode does."""
    if location.column is not None or not location.indent.endswith(" "):
        return ""
    return "\n" + location.indent[:-1]


def _cut_head(program: Program, location: Location) -> list[str]:
    """What a cut child keeps: lines 1..L, line L cut at the location's column if it has one."""
    head = list(program.lines[: location.after_line])
    if location.column is not None and head:
        head[-1] = head[-1][: location.column]
    return head


def _rejoin_line(program: Program, location: Location) -> str | None:
    """The first non-blank line after the location, stripped of trailing space, if any."""
    return next((line.rstrip() for line in program.lines[location.after_line :] if line.strip()), None)


def _block(lines: list[str], rejoin: str | None, inside: bool) -> list[str]:
    """The continued block: up to the first line indented less than the block's first line
    (comments aside: they do not end blocks) or equal to the re-join line; blank ends dropped.
    `inside` a block (the location is indented) code at column 0 always ends it."""
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return []
    depth = max(len(leading_ws(first)), 1 if inside else 0)
    kept = []
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and len(leading_ws(line)) < depth:
            break
        if rejoin is not None and stripped and line.rstrip() == rejoin:
            break
        kept.append(line)
    # A comment left of the block just before the cut introduces what was cut ("# Test").
    while kept and (not kept[-1].strip() or len(leading_ws(kept[-1])) < depth):
        kept.pop()
    return strip_blank_ends(kept)
