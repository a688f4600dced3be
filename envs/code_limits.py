"""Code from problem files (tests, prompts, reference solutions), parsed within bounds.

A problem file is user input: a test may be megabytes on one line or nested a thousand levels
deep, and Python's parser, `ast` helpers and compiler answer that with a RecursionError, a
MemoryError or quadratic time. `parse_bounded` refuses such code up front with a ValueError
that says what is wrong, so loaders can turn it into a one-line error; everything downstream
(the judge, the sandbox) then only sees code of a size and depth honest tests never exceed.
"""

from __future__ import annotations

import ast
import warnings

MAX_CODE_CHARS = 1024 * 1024  # one test, prompt or solution; HumanEval's largest test is ~2 KB
MAX_DEPTH = 100  # syntax-tree nesting; HumanEval's tests reach 11, its prompts with solutions 20


class CodeTooComplex(ValueError):
    """The code is too large, too deeply nested or cannot be parsed; the message says which."""


def parse_bounded(code: str, *, mode: str = "exec", what: str = "code") -> ast.AST:
    """`ast.parse(code, mode=mode)`, or CodeTooComplex naming `what` and the reason.

    SyntaxError passes through unchanged (callers word it for their field)."""
    if len(code) > MAX_CODE_CHARS:
        raise CodeTooComplex(f"{what} is {len(code)} characters long (at most {MAX_CODE_CHARS})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings (invalid escapes) are the author's business
            tree = ast.parse(code, mode=mode)
    except SyntaxError:
        raise
    except (RecursionError, MemoryError):
        raise CodeTooComplex(f"{what} is nested too deeply to parse") from None
    except ValueError as exc:  # null bytes
        raise CodeTooComplex(f"{what} cannot be parsed: {exc}") from None
    depth = nesting(tree)
    if depth > MAX_DEPTH:
        raise CodeTooComplex(f"{what} is nested {depth} levels deep (at most {MAX_DEPTH})")
    return tree


def nesting(tree: ast.AST) -> int:
    """Depth of the syntax tree, measured without recursion (so any depth can be measured)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest
