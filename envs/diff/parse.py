"""Parsing diff text into edits, strictly or leniently. Never raises: failures are statuses."""

from __future__ import annotations

import re

from envs.diff.types import DiffStatus, Edit, Hunk, ParseResult, Reject, show_line

BODY_TAGS = (" ", "-", "+")
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
    except Reject as reject:
        return ParseResult(reject.status, detail=reject.detail)


def _parse(lines: list[str], strict: bool) -> ParseResult:
    """What both modes share: the text before the first header, the loop over hunks, and
    what may follow them. Failures raise Reject."""
    if all(_blank(line) for line in lines):
        return ParseResult(DiffStatus.EMPTY, detail="no text")
    first = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    stray = next((x for x in lines[:first] if not (_blank(x) or _is_file_line(x))), None)
    if first == len(lines):
        if stray is None:
            return ParseResult(DiffStatus.EMPTY, detail="no hunks")
        raise Reject(DiffStatus.NO_HEADER, f"no '@@' header; first line: {show_line(stray)}")
    if strict and stray is not None:
        raise Reject(DiffStatus.NO_HEADER, f"line before any header: {show_line(stray)}")
    hunks: list[Hunk] = []
    i = first
    while i < len(lines) and lines[i].startswith("@@"):
        header = _parse_header(lines[i], strict=strict)
        if header is None:
            raise Reject(DiffStatus.BAD_HEADER, f"line {i + 1}: {show_line(lines[i])}")
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
        raise Reject(DiffStatus.MALFORMED_BODY, f"line {i + 1}: second file section")
    if line[:1] in BODY_TAGS:
        raise Reject(DiffStatus.COUNT_MISMATCH, f"line {i + 1}: beyond the counts: {show_line(line)}")
    raise Reject(DiffStatus.MALFORMED_BODY, f"line {i + 1}: {show_line(line)}")


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
        if tag not in BODY_TAGS:
            early = line.startswith("@@")  # the next header came before the counts were met
            status = DiffStatus.COUNT_MISMATCH if early else DiffStatus.MALFORMED_BODY
            raise Reject(status, f"line {i + 1}: {show_line(line)} inside a hunk body")
        old_left -= tag in (" ", "-")
        new_left -= tag in (" ", "+")
        if old_left < 0 or new_left < 0:
            raise Reject(DiffStatus.COUNT_MISMATCH, f"line {i + 1}: beyond the counts")
        body.append(line)
        after_body_line, i = True, i + 1
    if old_left or new_left:
        detail = f"body ends early: {old_left} old and {new_left} new lines missing"
        raise Reject(DiffStatus.COUNT_MISMATCH, detail)
    return Hunk(*header, lines=tuple(body)), i


def _lenient_hunk(lines: list[str], i: int, header: _Header) -> tuple[Hunk, int]:
    """The hunk whose body starts at line `i`, counts taken from the body, and the index of
    the first line after it."""
    old_left, new_left = header[1], header[3]  # the stated counts: only a hint here

    def belongs(j: int) -> bool:
        # A "---"/"+++" pair once the stated counts are used up starts a file section.
        used_up = old_left <= 0 and new_left <= 0
        return lines[j][:1] in BODY_TAGS and not (used_up and _is_file_pair(lines, j))

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
