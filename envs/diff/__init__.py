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

from envs.diff.apply import apply_edit, apply_text, apply_tolerant
from envs.diff.parse import parse_diff
from envs.diff.render import make_edit, render_edit, render_git, render_hunk_header, render_lintseq
from envs.diff.types import ApplyResult, DiffStatus, Edit, Hunk, ParseResult

__all__ = [
    "ApplyResult", "DiffStatus", "Edit", "Hunk", "ParseResult",
    "apply_edit", "apply_text", "apply_tolerant", "make_edit", "parse_diff",
    "render_edit", "render_git", "render_hunk_header", "render_lintseq",
]
