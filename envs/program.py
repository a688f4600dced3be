"""Program states: immutable program text split into lines, with a content hash.

A program is a tuple of lines without their line terminators. Its canonical text is the
lines joined by "\\n" with one trailing newline (the empty program is ""). Two programs
are the same state exactly when their canonical texts are equal, so the hash of that
text identifies a state everywhere (tree transpositions, the lint cache, rollouts).
"""

from __future__ import annotations

import ast
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

    @cached_property
    def behaviour_digest(self) -> str:
        """Hash of what the program does, as far as the text can tell: its syntax tree without
        comments, formatting or docstrings. Programs that differ only there run the same, so a
        search executes one of them (`digest` when the text does not parse)."""
        try:
            tree = ast.parse(self.text)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return self.digest
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        return hashlib.sha256(ast.dump(tree).encode("utf-8", "surrogatepass")).hexdigest()

    def __len__(self) -> int:
        return len(self.lines)

    def __str__(self) -> str:
        return self.text
