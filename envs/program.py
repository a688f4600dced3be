"""Program states: immutable program text split into lines, with a content hash.

A program is a tuple of lines without their line terminators. Its canonical text is the
lines joined by "\\n" with one trailing newline (the empty program is ""). Two programs
are the same state exactly when their canonical texts are equal, so the hash of that
text identifies a state everywhere (tree transpositions, the lint cache, rollouts).
"""

from __future__ import annotations

import hashlib
import io
import tokenize
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Program:
    """An immutable program state. Build it with `Program.from_text` or from lines."""

    lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept any sequence of lines but store a tuple, so states stay hashable.
        if not isinstance(self.lines, tuple):
            object.__setattr__(self, "lines", tuple(self.lines))
        for line in self.lines:
            if "\n" in line or "\r" in line:
                raise ValueError(f"a program line may not contain a line break: {line!r}")

    @classmethod
    def from_text(cls, text: str) -> "Program":
        """Split text into lines. "\\r\\n" and "\\r" count as "\\n"; one final newline is dropped.

        Only "\\n" splits (unlike str.splitlines, which also splits on form feeds and other
        separators that Python source may legally contain inside strings).
        """
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text == "":
            return cls(())
        if text.endswith("\n"):
            text = text[:-1]
        return cls(tuple(text.split("\n")))

    @cached_property
    def text(self) -> str:
        """Canonical text: lines joined by newlines, with a trailing newline unless empty."""
        return "\n".join(self.lines) + "\n" if self.lines else ""

    @cached_property
    def digest(self) -> str:
        """Hex SHA-256 of the canonical text: the state's identity."""
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()

    @cached_property
    def behaviour_text(self) -> str:
        """The text the sandbox runs: this program without its comments, every other character
        (docstrings, line and column positions) kept. A program can observe all of those
        (`__doc__`, `f_lineno`, `co_positions`, its own text in memory) but no comment it is
        never shown, so programs with equal behaviour texts behave alike. The text itself
        when it does not tokenize."""
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(self.text).readline))
        except (tokenize.TokenError, SyntaxError, ValueError):
            return self.text
        lines = list(self.lines)
        for token in tokens:
            if token.type == tokenize.COMMENT:
                row, column = token.start  # a comment ends its line; what precedes it is whole tokens
                lines[row - 1] = lines[row - 1][:column].rstrip()
        return "\n".join(lines) + "\n" if lines else ""

    @cached_property
    def behaviour_digest(self) -> str:
        """Hash of `behaviour_text`: programs that differ only in comments share it, and a search
        executes one of them (their runs are the same run: the sandbox executes that text)."""
        return hashlib.sha256(self.behaviour_text.encode("utf-8", "surrogatepass")).hexdigest()

    def __len__(self) -> int:
        return len(self.lines)

    def __str__(self) -> str:
        return self.text
