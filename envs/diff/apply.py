"""Applying edits to programs: exactly at the stated lines, or tolerantly by content."""

from __future__ import annotations

from dataclasses import replace

from envs.diff.parse import BODY_TAGS, parse_diff
from envs.diff.types import ApplyResult, DiffStatus, Edit, Hunk, ParseResult, Reject, show_line
from envs.program import Program


def _invalid(edit: Edit) -> ApplyResult | None:
    """EMPTY or MALFORMED_BODY for an edit that no program can take, else None."""
    if not edit.hunks:
        return ApplyResult(DiffStatus.EMPTY, detail="edit has no hunks")
    for n, hunk in enumerate(edit.hunks, 1):
        for line in hunk.lines:
            if line[:1] not in BODY_TAGS or "\n" in line or "\r" in line:
                return ApplyResult(DiffStatus.MALFORMED_BODY, detail=f"hunk {n}: {show_line(line)}")
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
        raise Reject(DiffStatus.OVERLAP, "its lines only occur before the previous hunk's end")
    raise Reject(DiffStatus.CONTEXT_MISMATCH, "its lines are not in the program")


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
        except Reject as reject:
            return ApplyResult(reject.status, detail=f"hunk {n}: {reject.detail}")
        offset = start - stated
        out += [*old[cursor:start], *_merged(hunk, old[start : start + len(removed)])]
        cursor = start + len(removed)
    return ApplyResult(DiffStatus.OK, Program((*out, *old[cursor:])))


def _clamped(position: int, cursor: int, length: int) -> int:
    """An insertion point clamped into the program; OVERLAP if it falls before `cursor`."""
    position = min(max(position, 0), length)
    if position < cursor:
        raise Reject(DiffStatus.OVERLAP, "inserts before the previous hunk's end")
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
