"""Program states: immutable program text split into lines, with a content hash.

A program is a tuple of lines without their line terminators. Its canonical text is the
lines joined by "\\n" with one trailing newline (the empty program is ""). Two programs
are the same state exactly when their canonical texts are equal, so the hash of that
text identifies a state everywhere (tree transpositions, the lint cache, rollouts).
"""

from __future__ import annotations

import hashlib
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

    def __len__(self) -> int:
        return len(self.lines)

    def __str__(self) -> str:
        return self.text
