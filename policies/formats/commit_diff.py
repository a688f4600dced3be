"""Commit-diff models (CarperAI diff-codegen): a file, a commit message, and the diff.

Prompt (the code is the program's canonical text without its final newline; a program with
no lines is written `ADDFILE`, as for a file added by the commit):

    <NME> main.py\\n<BEF> {code}\\n<MSG> {message}\\n<DFF>

The model writes git-style hunks (`@@ -a,b +c,d @@`, 3 context lines, optionally preceded by
`---`/`+++` lines). They are applied tolerantly (`envs.diff.apply_text`): strict parse, then
the body trusted over the counts; exact position, then the context searched for. The sample
ends at the next `<NME>` (the model starting another commit) or end of text.

The message is `task_summary(problem)` (`Implement {entry}: {first docstring line}`); at a
location it adds ` (edit at line {L+1})`. diff-codegen was never trained on such hints, so
the location only steers it weakly; the edit is wherever the model puts it.
"""

from __future__ import annotations

from envs.problem import Problem
from envs.program import Program
from envs.locations import Location
from policies.base import EditFormat, ParsedOutput, RenderedPrompt, State
from policies.formats.common import END_MARKERS, apply_model_diff, cut_at, task_summary

FILE_NAME = "main.py"
NEW_FILE = "ADDFILE"
TAGS = ("<NME>", "<BEF>", "<MSG>", "<DFF>")


def commit_message(problem: Problem, location: Location | None) -> str:
    message = task_summary(problem)
    return message if location is None else f"{message} (edit at line {location.after_line + 1})"


def render_commit(program: Program, message: str, file_name: str = FILE_NAME) -> str:
    """`<NME> {file}\\n<BEF> {code}\\n<MSG> {message}\\n<DFF>`."""
    code = "\n".join(program.lines) if program.lines else NEW_FILE
    message = " ".join(message.split())  # one line: a newline would read as the end of <MSG>
    return f"<NME> {file_name}\n<BEF> {code}\n<MSG> {message}\n<DFF>"


class CommitDiffFormat(EditFormat):
    """Prompts and parses for diff-codegen style models (see the module docstring)."""

    name = "commit_diff"

    def __init__(self, tokenizer=None) -> None:
        self.tokenizer = tokenizer  # unused: the layout is plain text

    def render_prompt(
        self, problem: Problem, state: State, location: Location | None
    ) -> RenderedPrompt:
        text = render_commit(state.program, commit_message(problem, location))
        return RenderedPrompt(text=text, prefill="", stop=TAGS + END_MARKERS)

    def parse_output(
        self, problem: Problem, state: State, location: Location | None, text: str
    ) -> ParsedOutput:
        return _apply(state.program, text)

    def render_program_prompt(self, problem: Problem) -> RenderedPrompt:
        text = render_commit(problem.starter, commit_message(problem, None))
        return RenderedPrompt(text=text, prefill="", stop=TAGS + END_MARKERS)

    def parse_program_output(self, problem: Problem, text: str) -> ParsedOutput:
        return _apply(problem.starter, text)


def _apply(program: Program, text: str) -> ParsedOutput:
    # The model usually writes " @@..." or "\n@@..." right after "<DFF>": the first line of a
    # diff is a header or a file line, so leading whitespace there carries no meaning.
    text = cut_at(text, TAGS + END_MARKERS).strip("\n").lstrip()
    return apply_model_diff(program, text, context=3)  # git style, as the model writes
