"""The data of diffs: hunks, edits, and the classified outcome of parsing or applying one."""

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
    detail: str = ""  # what was wrong; on apply_text's success, the path taken ("strict/exact")


class Reject(Exception):
    """Control flow inside this package only: the public functions turn it into a failed result."""

    def __init__(self, status: DiffStatus, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def show_line(line: str) -> str:
    """A line for a `detail` message, cut short: model output can be arbitrarily long."""
    return repr(line if len(line) <= 60 else line[:57] + "...")
