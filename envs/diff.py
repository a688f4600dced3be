"""Unified-diff edits between program states: render, parse, apply (exact and tolerant).

Vocabulary
- A `Hunk` is one `@@ -a,b +c,d @@` header plus body lines, each prefixed by " ", "-" or "+".
- An `Edit` is an ordered tuple of hunks (usually one) against the same original program.
- LintSeq style: `difflib.unified_diff(a, b, n=0, lineterm="")` without the `---`/`+++` lines;
  a count of 1 is omitted from headers (`@@ -0,0 +1 @@`). Git style: 3 context lines.

Model output is untrusted text. Nothing in this module raises on bad diff text or on a diff
that does not fit the program: every failure comes back as a `DiffStatus` value. `apply_text`
is the path for model output: strict parse, else lenient; exact apply, else tolerant.
"""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass, replace

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


_BODY_TAGS = (" ", "-", "+")
_MAX_DIGITS = 12  # int() refuses over 4300 digits; no program comes near 10**12 lines anyway
# Git may write section text after the closing "@@" ("@@ -1,3 +1,4 @@ def f():").
_STRICT_HEADER = re.compile(r"@@ -([0-9]+)(?:,([0-9]+))? \+([0-9]+)(?:,([0-9]+))? @@(?: .*)?")
# Lenient: any spacing, closing "@@" optional. A comma must still be followed by digits, so
# "@@ -1,+2 +1 @@" stays a bad header instead of being read as "-1 +2".
_LENIENT_HEADER = re.compile(
    r"@@\s*-([0-9]+)(?:\s*,\s*([0-9]+))?\s*\+([0-9]+)(?:\s*,\s*([0-9]+))?\s*(?:@@.*)?"
)
# (old_start, old_count, new_start, new_count) as written in a header; an omitted count is 1.
_Header = tuple[int, int, int, int]


# --- rendering --------------------------------------------------------------------------------


def _start(index: int, count: int) -> int:
    """Unified-diff start of a range at 0-based `index`: 1-based, or for an empty range the
    line after which it sits (difflib's `_format_range_unified`)."""
    return index + 1 if count else index


def _hunk_from_group(a: tuple[str, ...], b: tuple[str, ...], group: list) -> Hunk:
    """One hunk from one of difflib's grouped opcode lists, body ordered as unified_diff's."""
    i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
    lines: list[str] = []
    for tag, a1, a2, b1, b2 in group:
        if tag == "equal":
            lines.extend(" " + line for line in a[a1:a2])
        if tag in ("replace", "delete"):
            lines.extend("-" + line for line in a[a1:a2])
        if tag in ("replace", "insert"):
            lines.extend("+" + line for line in b[b1:b2])
    return Hunk(_start(i1, i2 - i1), i2 - i1, _start(j1, j2 - j1), j2 - j1, tuple(lines))


def make_edit(before: Program, after: Program, *, context: int = 0) -> Edit:
    """The edit that turns `before` into `after`, with `context` lines of context.

    Hunks are exactly those of `difflib.unified_diff(before, after, n=context)` (same matcher,
    same grouping), so rendering them reproduces difflib's text. Equal programs give no hunks.
    """
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    a, b = before.lines, after.lines
    groups = difflib.SequenceMatcher(None, a, b).get_grouped_opcodes(context)
    return Edit(tuple(_hunk_from_group(a, b, group) for group in groups))


def _format_range(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start},{count}"


def render_hunk_header(hunk: Hunk) -> str:
    """`@@ -a,b +c,d @@`, omitting a count of 1 (difflib's convention)."""
    old = _format_range(hunk.old_start, hunk.old_count)
    return f"@@ -{old} +{_format_range(hunk.new_start, hunk.new_count)} @@"


def render_edit(edit: Edit) -> str:
    """Headers and bodies joined by "\\n", no `---`/`+++` lines, no trailing newline."""
    return "\n".join(line for h in edit.hunks for line in (render_hunk_header(h), *h.lines))


def render_lintseq(before: Program, after: Program) -> str:
    """LintSeq-style diff text between two states: n=0, no file header lines.

    Equals `"\\n".join(list(difflib.unified_diff(a, b, n=0, lineterm=""))[2:])`; "" when equal.
    """
    return render_edit(make_edit(before, after, context=0))


def render_git(before: Program, after: Program, *, path: str = "main.py") -> str:
    """Git-style diff text with `--- a/{path}` / `+++ b/{path}` lines and 3 context lines.

    Equals difflib's unified_diff with those file names, n=3, lineterm="", joined by "\\n";
    "" (no file lines either) when the programs are equal, as `git diff` prints nothing.
    """
    edit = make_edit(before, after, context=3)
    return f"--- a/{path}\n+++ b/{path}\n" + render_edit(edit) if edit.hunks else ""


# --- parsing ----------------------------------------------------------------------------------


class _Reject(Exception):
    """Internal control flow only: the public functions turn it into a failed result."""

    def __init__(self, status: DiffStatus, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def parse_diff(text: str, *, strict: bool = True) -> ParseResult:
    """Parse diff text into an Edit. Never raises.

    Both modes: optional `---`/`+++` file lines before the first hunk; "\\\\ No newline at end of
    file" markers are dropped (a Program always ends with a newline); hunks without a body are
    dropped, and no hunk left is EMPTY; text without a line starting with "@@" is EMPTY if it
    holds only blank and file lines, else NO_HEADER; an "@@" line that is no header: BAD_HEADER.

    strict=True: only blank and file lines may precede the first header; body lengths must equal
    the header counts (COUNT_MISMATCH) and every body line has a " ", "-" or "+" prefix
    (MALFORMED_BODY); only blank lines may follow the last hunk.
    strict=False: text before the first header is skipped; a body runs to the first line that
    cannot belong to it and its counts are recomputed; a blank line inside a body is an empty
    context line, and so is one after the body while the stated counts still expect that many
    context lines and nothing else; other blank lines between hunks are skipped; at any other
    line parsing stops and `detail` says how many lines were ignored. A recomputed count that
    crosses zero moves its start by one, keeping its meaning ("after line L" is "from line
    L+1"). Strictly valid text gives the same edit in both modes.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as Program.from_text
    if strict and lines[-1] == "":
        # The final newline ends the last line. Lenient parsing keeps the empty string: it may
        # be an empty context line whose space was stripped, if the header still expects one.
        lines.pop()
    try:
        return _parse(lines, strict)
    except _Reject as reject:
        return ParseResult(reject.status, detail=reject.detail)


def _parse(lines: list[str], strict: bool) -> ParseResult:
    """What both modes share: the text before the first header, the loop over hunks, and
    what may follow them. Failures raise _Reject."""
    if all(_blank(line) for line in lines):
        return ParseResult(DiffStatus.EMPTY, detail="no text")
    first = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    stray = next((x for x in lines[:first] if not (_blank(x) or _is_file_line(x))), None)
    if first == len(lines):
        if stray is None:
            return ParseResult(DiffStatus.EMPTY, detail="no hunks")
        raise _Reject(DiffStatus.NO_HEADER, f"no '@@' header; first line: {_show(stray)}")
    if strict and stray is not None:
        raise _Reject(DiffStatus.NO_HEADER, f"line before any header: {_show(stray)}")
    hunks: list[Hunk] = []
    i = first
    while i < len(lines) and lines[i].startswith("@@"):
        header = _parse_header(lines[i], strict=strict)
        if header is None:
            raise _Reject(DiffStatus.BAD_HEADER, f"line {i + 1}: {_show(lines[i])}")
        hunk, i = (_strict_hunk if strict else _lenient_hunk)(lines, i + 1, header)
        hunks.append(hunk)
        if not strict:  # blank lines between hunks, then either a header or the end
            while i < len(lines) and _blank(lines[i]):
                i += 1
    kept = tuple(hunk for hunk in hunks if hunk.lines)
    if i < len(lines) and strict:
        _reject_after_hunk(lines, i)
    if not kept:
        return ParseResult(DiffStatus.EMPTY, detail="hunks without bodies")
    left = len(lines) - i  # strict: only blank lines are left
    ignored = f"ignored {left} lines from line {i + 1}" if left and not strict else ""
    return ParseResult(DiffStatus.OK, Edit(kept), ignored)


def _parse_header(line: str, *, strict: bool) -> _Header | None:
    """The four numbers of a hunk header, or None when `line` is not a valid header."""
    match = (_STRICT_HEADER if strict else _LENIENT_HEADER).fullmatch(line)
    if match is None or any(g and len(g) > _MAX_DIGITS for g in match.groups()):
        return None
    old_start, old_count, new_start, new_count = (int(g or "1") for g in match.groups())
    return old_start, old_count, new_start, new_count


def _blank(line: str) -> bool:
    return line.strip() == ""


def _is_file_line(line: str) -> bool:
    return line.startswith(("--- ", "+++ ")) or line in ("---", "+++")


def _is_file_pair(lines: list[str], i: int) -> bool:
    """`---`, `+++`, then a header: a new file section, not a removed and an added line."""
    if i + 2 >= len(lines) or not lines[i + 2].startswith("@@"):
        return False
    first, second = lines[i], lines[i + 1]
    return _is_file_line(first) and _is_file_line(second) and first[0] + second[0] == "-+"


def _reject_after_hunk(lines: list[str], i: int) -> None:
    """Strict: only blank lines may follow the last hunk; say what line `i` is instead."""
    if all(_blank(line) for line in lines[i:]):
        return
    line = lines[i]
    if _is_file_pair(lines, i):
        raise _Reject(DiffStatus.MALFORMED_BODY, f"line {i + 1}: second file section")
    if line[:1] in _BODY_TAGS:
        raise _Reject(DiffStatus.COUNT_MISMATCH, f"line {i + 1}: beyond the counts: {_show(line)}")
    raise _Reject(DiffStatus.MALFORMED_BODY, f"line {i + 1}: {_show(line)}")


def _strict_hunk(lines: list[str], i: int, header: _Header) -> tuple[Hunk, int]:
    """The hunk whose body starts at line `i` and holds exactly the header's counts, and the
    index of the first line after it (and after its "\\ No newline" marker, if any)."""
    old_left, new_left = header[1], header[3]
    body: list[str] = []
    after_body_line = False  # a marker must follow a body line
    while i < len(lines):
        line, tag = lines[i], lines[i][:1]
        if tag == "\\" and after_body_line:
            after_body_line, i = False, i + 1
            continue
        if old_left == 0 and new_left == 0:
            break
        if tag not in _BODY_TAGS:
            early = line.startswith("@@")  # the next header came before the counts were met
            status = DiffStatus.COUNT_MISMATCH if early else DiffStatus.MALFORMED_BODY
            raise _Reject(status, f"line {i + 1}: {_show(line)} inside a hunk body")
        old_left -= tag in (" ", "-")
        new_left -= tag in (" ", "+")
        if old_left < 0 or new_left < 0:
            raise _Reject(DiffStatus.COUNT_MISMATCH, f"line {i + 1}: beyond the counts")
        body.append(line)
        after_body_line, i = True, i + 1
    if old_left or new_left:
        detail = f"body ends early: {old_left} old and {new_left} new lines missing"
        raise _Reject(DiffStatus.COUNT_MISMATCH, detail)
    return Hunk(*header, lines=tuple(body)), i


def _lenient_hunk(lines: list[str], i: int, header: _Header) -> tuple[Hunk, int]:
    """The hunk whose body starts at line `i`, counts taken from the body, and the index of
    the first line after it."""
    old_left, new_left = header[1], header[3]  # the stated counts: only a hint here

    def belongs(j: int) -> bool:
        # A "---"/"+++" pair once the stated counts are used up starts a file section.
        used_up = old_left <= 0 and new_left <= 0
        return lines[j][:1] in _BODY_TAGS and not (used_up and _is_file_pair(lines, j))

    body: list[str] = []
    nxt = i  # the first non-blank line at or after i, once a lookahead has found it
    while i < len(lines):
        line = lines[i]
        if line.startswith("\\"):
            i += 1
            continue
        if _blank(line):
            # Inside a body, an empty context line whose space was stripped (editors and models
            # do this). After the last body line, only as many as the stated counts still
            # expect, and only if they expect context lines alone: else trailing whitespace.
            nxt = max(nxt, i)
            while nxt < len(lines) and _blank(lines[nxt]):
                nxt += 1
            inside = nxt < len(lines) and belongs(nxt)
            if not (inside or 0 < old_left == new_left <= nxt - i):
                break
            line = line if line.startswith(" ") else " "
        elif not belongs(i):
            break
        old_left -= line[0] in (" ", "-")
        new_left -= line[0] in (" ", "+")
        body.append(line)
        i += 1
    return _recounted(header, tuple(body)), i


def _recounted(header: _Header, body: tuple[str, ...]) -> Hunk:
    """A hunk with the header's starts and the body's counts. A start whose count crosses zero
    moves by one, so "after line L" (count 0) becomes "from line L+1" and back."""
    old_count = sum(line[0] in (" ", "-") for line in body)
    new_count = sum(line[0] in (" ", "+") for line in body)

    def moved(start: int, stated: int, actual: int) -> int:
        if stated == 0 and actual > 0:
            return start + 1
        return max(start - 1, 0) if stated > 0 and actual == 0 else start

    old_start = moved(header[0], header[1], old_count)
    return Hunk(old_start, old_count, moved(header[2], header[3], new_count), new_count, body)


# --- applying ---------------------------------------------------------------------------------


def _invalid(edit: Edit) -> ApplyResult | None:
    """EMPTY or MALFORMED_BODY for an edit that no program can take, else None."""
    if not edit.hunks:
        return ApplyResult(DiffStatus.EMPTY, detail="edit has no hunks")
    for n, hunk in enumerate(edit.hunks, 1):
        for line in hunk.lines:
            if line[:1] not in _BODY_TAGS or "\n" in line or "\r" in line:
                return ApplyResult(DiffStatus.MALFORMED_BODY, detail=f"hunk {n}: {_show(line)}")
    return None


def _merged(hunk: Hunk, region: tuple[str, ...]) -> list[str]:
    """The hunk's result lines, context lines taken from `region` (the program lines the hunk
    covers), so a match that ignored trailing whitespace keeps the program's own text."""
    out: list[str] = []
    k = 0  # index into region
    for line in hunk.lines:
        if line[0] == " ":
            out.append(region[k])
        elif line[0] == "+":
            out.append(line[1:])
        k += line[0] != "+"
    return out


def apply_edit(program: Program, edit: Edit) -> ApplyResult:
    """Apply exactly: every hunk's context/removed lines must be at its stated position.

    Per hunk, in order: counts agree with the body (else COUNT_MISMATCH), the covered range lies
    inside the program (OUT_OF_RANGE; a start of 0 is valid only with a count of 0), it starts
    at or after the previous hunk's end (OVERLAP), and its lines are there (CONTEXT_MISMATCH).
    `new_start` is informational and not checked, as in `git apply`.
    """
    invalid = _invalid(edit)
    if invalid is not None:
        return invalid
    old, cursor = program.lines, 0
    out: list[str] = []
    for n, hunk in enumerate(edit.hunks, 1):
        removed = hunk.removed
        if (hunk.old_count, hunk.new_count) != (len(removed), len(hunk.added)):
            return ApplyResult(DiffStatus.COUNT_MISMATCH, detail=f"hunk {n}: header vs body")
        start = hunk.old_start - 1 if hunk.old_count else hunk.old_start
        if start < 0 or start + hunk.old_count > len(old):
            detail = f"hunk {n}: {hunk.old_count} lines from {hunk.old_start} of {len(old)}"
            return ApplyResult(DiffStatus.OUT_OF_RANGE, detail=detail)
        if start < cursor:
            return ApplyResult(DiffStatus.OVERLAP, detail=f"hunk {n} starts in or before {n - 1}")
        if old[start : start + hunk.old_count] != removed:
            return ApplyResult(DiffStatus.CONTEXT_MISMATCH, detail=f"hunk {n} at line {start + 1}")
        out += [*old[cursor:start], *_merged(hunk, removed)]
        cursor = start + hunk.old_count
    return ApplyResult(DiffStatus.OK, Program((*out, *old[cursor:])))


def _locate(old: tuple[str, ...], removed: tuple[str, ...], expected: int, cursor: int) -> int:
    """Where the lines `removed` occur at or after `cursor`, nearest to `expected`, the earlier
    on a tie; exact matches first, then matches ignoring trailing whitespace. Rejects with
    OVERLAP when they only occur before `cursor`, else with CONTEXT_MISMATCH."""
    loose_old, loose_removed = [x.rstrip() for x in old], [x.rstrip() for x in removed]
    for lines, pattern in ((list(old), list(removed)), (loose_old, loose_removed)):
        last = len(lines) - len(pattern)
        hits = [s for s in range(cursor, last + 1) if lines[s : s + len(pattern)] == pattern]
        if hits:
            return min(hits, key=lambda s: (abs(s - expected), s))
    m = len(removed)
    if any(loose_old[s : s + m] == loose_removed for s in range(min(cursor, len(old) - m + 1))):
        raise _Reject(DiffStatus.OVERLAP, "its lines only occur before the previous hunk's end")
    raise _Reject(DiffStatus.CONTEXT_MISMATCH, "its lines are not in the program")


def apply_tolerant(program: Program, edit: Edit) -> ApplyResult:
    """Apply model output without trusting line numbers.

    Hunks with context or removed lines are located by searching the program for those lines
    (nearest match to the stated position wins; ignoring trailing whitespace as a fallback).
    Insertion-only hunks (no context, no removed lines) are placed by their stated position,
    clamped to the program. Failures are classified, never raised.

    Details: the body is trusted over the header counts. Hunks apply in order, each at or after
    the end of the previous one (OVERLAP when a hunk only fits earlier). A hunk's stated
    position is shifted by the offset at which the previous hunk was found, as GNU patch does.
    An exact match anywhere beats a whitespace-insensitive one nearby; equally near matches go
    to the earlier one. Context lines keep the program's own text.
    """
    invalid = _invalid(edit)
    if invalid is not None:
        return invalid
    old, cursor, offset = program.lines, 0, 0  # offset: where the last hunk was found - stated
    out: list[str] = []
    for n, hunk in enumerate(edit.hunks, 1):
        removed = hunk.removed
        stated = hunk.old_start - 1 if removed else hunk.old_start  # 0-based, as the body says
        try:
            if removed:
                start = _locate(old, removed, stated + offset, cursor)
            else:
                start = _clamped(stated + offset, cursor, len(old))
        except _Reject as reject:
            return ApplyResult(reject.status, detail=f"hunk {n}: {reject.detail}")
        offset = start - stated
        out += [*old[cursor:start], *_merged(hunk, old[start : start + len(removed)])]
        cursor = start + len(removed)
    return ApplyResult(DiffStatus.OK, Program((*out, *old[cursor:])))


def _clamped(position: int, cursor: int, length: int) -> int:
    """An insertion point clamped into the program; OVERLAP if it falls before `cursor`."""
    position = min(max(position, 0), length)
    if position < cursor:
        raise _Reject(DiffStatus.OVERLAP, "inserts before the previous hunk's end")
    return position


def apply_text(program: Program, text: str) -> ApplyResult:
    """Parse (strict, then lenient) and apply (exact, then tolerant). The model-output path.

    On success `detail` names the path that worked ("strict/exact", "lenient/tolerant", ...),
    for counting. On failure the status is the last attempt's (the lenient parse's, or the
    tolerant apply's) and `detail` lists every attempt.
    """
    parsed, how = parse_diff(text, strict=True), "strict"
    if parsed.edit is None:
        lenient = parse_diff(text, strict=False)
        if lenient.edit is None:
            detail = f"strict: {_why(parsed)}; lenient: {_why(lenient)}"
            return ApplyResult(lenient.status, detail=detail)
        parsed, how = lenient, "lenient"
    exact = apply_edit(program, parsed.edit)
    if exact.status is DiffStatus.OK:
        return replace(exact, detail=f"{how}/exact")
    tolerant = apply_tolerant(program, parsed.edit)
    if tolerant.status is DiffStatus.OK:
        return replace(tolerant, detail=f"{how}/tolerant")
    detail = f"{how} parse; exact: {_why(exact)}; tolerant: {_why(tolerant)}"
    return replace(tolerant, detail=detail)


def _why(result: ParseResult | ApplyResult) -> str:
    return f"{result.status.value} ({result.detail})" if result.detail else result.status.value


def _show(line: str) -> str:
    """A line for a `detail` message, cut short: model output can be arbitrarily long."""
    return repr(line if len(line) <= 60 else line[:57] + "...")
