"""Unified-diff edits between program states: render, parse, apply (exact and tolerant).

Vocabulary
- A `Hunk` is one `@@ -a,b +c,d @@` header plus body lines, each prefixed by " ", "-" or "+".
- An `Edit` is an ordered tuple of hunks (usually one) against the same original program.
- LintSeq style: `difflib.unified_diff(a, b, n=0, lineterm="")` without the `---`/`+++` lines;
  a count of 1 is omitted from headers (`@@ -0,0 +1 @@`). Git style: 3 context lines.

Model output is untrusted text. Nothing in this module raises on bad diff text or on a diff
that does not fit the program: every failure comes back as a `DiffStatus` value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from envs.program import Program


class DiffStatus(str, enum.Enum):
    """Outcome of parsing or applying a diff. Every failure has its own class, for counting."""

    OK = "ok"
    EMPTY = "empty"  # no text, or only whitespace / no hunks
    NO_HEADER = "no_header"  # body-like lines but no "@@" header before them
    BAD_HEADER = "bad_header"  # a line starting with "@@" that is not a valid header
    MALFORMED_BODY = "malformed_body"  # a body line without a " ", "-" or "+" prefix
    COUNT_MISMATCH = "count_mismatch"  # body line counts disagree with the header (strict parse)
    CONTEXT_MISMATCH = "context_mismatch"  # context/removed lines not found in the program
    OUT_OF_RANGE = "out_of_range"  # header positions outside the program
    OVERLAP = "overlap"  # hunks overlap or are out of order


@dataclass(frozen=True)
class Hunk:
    """One hunk. Line numbers are 1-based as in unified diffs; a count of 0 means the hunk
    inserts after line `old_start` (so `old_start` may be 0 for "at the top").

    `lines` holds the body lines with their one-character prefix (" ", "-", "+").
    Invariants of a well-formed hunk: old_count == number of " " and "-" lines,
    new_count == number of " " and "+" lines.
    """

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[str, ...]

    @property
    def removed(self) -> tuple[str, ...]:
        """Lines of the original this hunk covers (context and removed), without prefix."""
        return tuple(line[1:] for line in self.lines if line[:1] in (" ", "-"))

    @property
    def added(self) -> tuple[str, ...]:
        """Lines of the result this hunk covers (context and added), without prefix."""
        return tuple(line[1:] for line in self.lines if line[:1] in (" ", "+"))


@dataclass(frozen=True)
class Edit:
    hunks: tuple[Hunk, ...]


@dataclass(frozen=True)
class ParseResult:
    status: DiffStatus
    edit: Edit | None = None  # set when status is OK
    detail: str = ""  # what was wrong, for logs (e.g. the offending line)


@dataclass(frozen=True)
class ApplyResult:
    status: DiffStatus
    program: Program | None = None  # set when status is OK
    detail: str = ""


def make_edit(before: Program, after: Program, *, context: int = 0) -> Edit:
    """The edit that turns `before` into `after`, with `context` lines of context."""
    raise NotImplementedError


def render_hunk_header(hunk: Hunk) -> str:
    """`@@ -a,b +c,d @@`, omitting a count of 1 (difflib's convention)."""
    raise NotImplementedError


def render_edit(edit: Edit) -> str:
    """Headers and bodies joined by "\\n", no `---`/`+++` lines, no trailing newline."""
    raise NotImplementedError


def render_lintseq(before: Program, after: Program) -> str:
    """LintSeq-style diff text between two states: n=0, no file header lines."""
    raise NotImplementedError


def render_git(before: Program, after: Program, *, path: str = "main.py") -> str:
    """Git-style diff text with `--- a/{path}` / `+++ b/{path}` lines and 3 context lines."""
    raise NotImplementedError


def parse_diff(text: str, *, strict: bool = True) -> ParseResult:
    """Parse diff text into an Edit. Never raises.

    Accepts optional `---`/`+++` file lines and "\\ No newline at end of file" markers.
    strict=True: counts in headers must match the bodies (else COUNT_MISMATCH).
    strict=False: trust the body over the counts (recompute counts from the body), stop at
    the first line that cannot belong to a hunk, tolerate a missing trailing newline.
    """
    raise NotImplementedError


def apply_edit(program: Program, edit: Edit) -> ApplyResult:
    """Apply exactly: every hunk's context/removed lines must be at its stated position."""
    raise NotImplementedError


def apply_tolerant(program: Program, edit: Edit) -> ApplyResult:
    """Apply model output without trusting line numbers.

    Hunks with context or removed lines are located by searching the program for those lines
    (nearest match to the stated position wins; ignoring trailing whitespace as a fallback).
    Insertion-only hunks (no context, no removed lines) are placed by their stated position,
    clamped to the program. Failures are classified, never raised.
    """
    raise NotImplementedError


def apply_text(program: Program, text: str) -> ApplyResult:
    """Parse (strict, then lenient) and apply (exact, then tolerant). The model-output path."""
    raise NotImplementedError
