"""A program as it is returned: the entry function and what it needs, nothing it does not.

Chat models append example calls, prints, asserts and `if __name__ == "__main__":` blocks to the
function they were asked for. Those lines run when the program is imported: a print slows every
execution, a wrong assert or a call on an undefined example name fails a correct function, and
the returned program is not what a user asked for. `tidy` keeps, in their order:

- the module docstring, imports (and `try:` blocks made of imports only);
- every function and class definition;
- top-level assignments that call nothing (constants, data: harmless when unused), and those
  whose names a kept statement reads (`VOWELS = set("aeiou")`), but not assignments that
  call a function the program defines (`result = f(3)`: an example) unless something reads them;
and drops every other top-level statement (expressions such as calls and prints, asserts,
loops, `if` blocks including `__main__` guards, other assignments). Programs that do not parse
are returned unchanged: the lint gate judges them.
"""

from __future__ import annotations

import ast
from typing import Sequence

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


def tidy_lines(lines: Sequence[str]) -> list[str]:
    """`lines` without the top-level statements a returned program should not carry (above)."""
    parsed = _kept_statements(lines)
    if parsed is None or all(parsed[1]):
        return list(lines)
    dropped, previous_end = set(), 0
    for node, kept in zip(*parsed):
        start, end = _first_line(node) - 1, node.end_lineno or node.lineno
        if not kept:  # with the comments and blank lines that introduce it ("# Example usage")
            while start > previous_end and (not lines[start - 1].strip() or lines[start - 1].lstrip().startswith("#")):
                start -= 1
            dropped.update(range(start, end))
        previous_end = end
    kept_lines = [line for k, line in enumerate(lines) if k not in dropped]
    while kept_lines and not kept_lines[-1].strip():
        kept_lines.pop()
    return kept_lines


def constants(lines: Sequence[str]) -> list[tuple[frozenset[str], list[str]]]:
    """The top-level assignments `tidy_lines` keeps: (names assigned, their lines), in order."""
    parsed = _kept_statements(lines)
    if parsed is None:
        return []
    return [(frozenset(_assigned_names(node)), list(lines[_first_line(node) - 1: node.end_lineno or node.lineno]))
            for node, kept in zip(*parsed) if kept and _is_assign(node)]


def _kept_statements(lines: Sequence[str]) -> tuple[list[ast.stmt], list[bool]] | None:
    """The module's top-level statements and whether each is kept; None if it does not parse."""
    try:
        body = ast.parse("\n".join(lines)).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    keep = [_always_kept(node, i) or (_is_assign(node) and not _calls_any(node)) for i, node in enumerate(body)]
    needed = set().union(*(_names_read(node) for node, kept in zip(body, keep) if kept))
    assigns = {i: _assigned_names(node) for i, node in enumerate(body) if not keep[i] and _assigned_names(node)}
    changed = True
    while changed:  # an assignment read by a kept statement is kept, and so is what it reads
        changed = False
        for i, names in assigns.items():
            if not keep[i] and names & needed:
                keep[i], changed = True, True
                needed |= _names_read(body[i])
    return body, keep


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _always_kept(node: ast.stmt, index: int) -> bool:
    if isinstance(node, _DEFS + _IMPORTS):
        return True
    if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)  # the module docstring
    if isinstance(node, ast.Try):  # try: import x / except ImportError: ...
        return all(isinstance(s, _IMPORTS + (ast.Pass,)) or _is_assign(s) for s in node.body)
    return False


def _is_assign(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Assign, ast.AnnAssign))


def _assigned_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return set()
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _names_read(node: ast.AST) -> set[str]:
    """Names `node` reads from the module's scope: inside a definition, not its own locals
    (a function's `result` variable is not a top-level `result = f(3)`)."""
    loads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if not isinstance(node, _DEFS):
        return loads
    local = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    local |= {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments)
              for a in n.posonlyargs + n.args + n.kwonlyargs + [n.vararg, n.kwarg] if a is not None}
    declared = {name for n in ast.walk(node) if isinstance(n, ast.Global) for name in n.names}
    return loads - (local - declared)


def _calls_any(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))
