"""Rendering edits as unified-diff text: LintSeq style (n=0, no file lines) and git style."""

from __future__ import annotations

import difflib

from envs.diff.types import Edit, Hunk
from envs.program import Program


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
