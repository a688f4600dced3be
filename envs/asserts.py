"""Turning tests into a plan the trusted parent can judge: the child only reports values.

A test that runs inside the program's own process can be forged by the program (an object
whose `__eq__` always says True, rebinding the harness's helpers, a trace function). So
`plan(test)` splits a test into steps for the sandbox child and checks for the parent:

- an expression test (`expected` set): one value step; the parent compares the value with
  the expected literal (`testcase.value_passed`);
- an assert (`assert f(x) == y`, `!=`, `abs(f(x) - y) < tol`, `math.isclose(...)`,
  `assert f(x)`, `assert not f(x)`, `is True/False/None`, `len(f(x)) == 3`, ...): every
  maximal sub-expression rooted at the program (a call of the function under test, a name
  the program defines) becomes a value step ("probe") the child evaluates and reports as
  data (`envs.values`); the rest of the assert, holding the expected values, is compiled
  here and evaluated in the parent over those values. Expected values never enter the sandbox.
- HumanEval's `def check(candidate): ...` + `check(entry_point)`: the same, per assert in
  `check`'s body, with `candidate` bound to the entry point.
- anything else (asserts over loop variables or local helpers, `for` loops, arbitrary
  statements) stays a statement step run in-process: the plan's `judged` is then
  "in-process", and reports count such tests separately.

Import statements a probe needs run first in the child as a setup step; a setup step can
only make a test fail (by raising), never pass, so it does not make a test in-process.
"""

from __future__ import annotations

import ast
import builtins
import functools
import math
from dataclasses import dataclass
from types import CodeType
from typing import Any, Literal

from envs.testcase import Judged, TestCase

PROBE = "__probe_"  # parent-side name of probe j: PROBE + str(j); not a name tests use

# Functions the parent may call while judging an assert (all pure on builtin values).
SAFE_FUNCS: dict[str, Any] = {name: getattr(builtins, name) for name in (
    "abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate",
    "float", "frozenset", "int", "isinstance", "len", "list", "max", "min", "ord", "range",
    "repr", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip",
)}
SAFE_MATH = frozenset({"isclose", "fabs", "sqrt", "floor", "ceil", "trunc", "pi", "e", "inf", "nan",
                       "isnan", "isinf", "isfinite", "prod", "fsum", "log", "exp", "gcd"})
_MAX_POW_EXPONENT = 10_000  # a constant exponent above this could stall the parent
_ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.List, ast.Tuple, ast.Set,
    ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.keyword, ast.IfExp,
    ast.Subscript, ast.Slice, ast.Attribute, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)


@dataclass(frozen=True)
class Step:
    """What the child runs: `value` evaluates an expression and reports its value as data;
    `exec` runs statements and reports pass/fail/error (an in-process verdict)."""

    code: str
    mode: Literal["value", "exec"]


@dataclass(frozen=True)
class Check:
    """One assert judged in the parent: `code` evaluates to its truth over the probe values."""

    source: str  # the assert, for failure details
    code: CodeType
    probes: tuple[int, ...]  # step indices of the probes it reads, in order
    message: str = ""  # the assert's constant message, if any


@dataclass(frozen=True)
class Plan:
    """How one test is run and judged. Steps run in order: setup, probes, residual."""

    steps: tuple[Step, ...]
    checks: tuple[Check, ...] = ()
    expected: str | None = None  # expression test: step 0's value against this literal
    setup: int | None = None  # step index of the imports the probes need
    residual: int | None = None  # step index of statements judged in-process
    asserts: int = 0  # assert statements in the test (for the judged-in-parent share)
    asserts_in_parent: int = 0

    @property
    def judged(self) -> Judged:
        return "in-process" if self.residual is not None else "parent"


class _Unconvertible(Exception):
    """This assert cannot be judged in the parent; it stays in-process."""


@functools.lru_cache(maxsize=16384)
def plan(test: TestCase) -> Plan:
    """The plan for `test` (cached: tests repeat across the many programs of a search)."""
    if test.expected is not None:
        return Plan(steps=(Step(test.code, "value"),), expected=test.expected)
    try:
        tree = ast.parse(test.code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Plan(steps=(Step(test.code, "exec"),), residual=0)
    harness = _check_harness(tree)
    if harness is not None:
        return _plan_check(test.code, tree, *harness)
    return _plan_statements(test.code, tree)


def count_asserts(code: str) -> int:
    try:
        return sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(code)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0


# ---- the two shapes ---------------------------------------------------------------------
def _check_harness(tree: ast.Module) -> tuple[ast.FunctionDef, str] | None:
    """(check's def, entry point) if this is `def check(candidate): ...` + `check(NAME)`."""
    if not tree.body:
        return None
    last = tree.body[-1]
    if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and isinstance(last.value.func, ast.Name) and len(last.value.args) == 1
            and not last.value.keywords and isinstance(last.value.args[0], ast.Name)):
        return None
    name = last.value.func.id
    defs = [n for n in tree.body[:-1] if isinstance(n, ast.FunctionDef) and n.name == name]
    if len(defs) != 1:
        return None
    fn = defs[0]
    args = fn.args
    if (len(args.args) != 1 or args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg
            or fn.decorator_list):
        return None
    return fn, last.value.args[0].id


def _plan_check(source: str, tree: ast.Module, fn: ast.FunctionDef, entry: str) -> Plan:
    param = fn.args.args[0].arg
    module_names = _bound_names(n for n in tree.body if n is not fn)
    local_names = _bound_names(fn.body) | module_names | {fn.name}
    imports = [s for s in fn.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    imports += [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    builder = _Builder(source, imports, lambda name: name in (param, entry), {param: entry},
                       forbidden=local_names - _import_names(imports))
    kept = [s for s in fn.body if not (isinstance(s, ast.Assert) and builder.convert(s))]
    residual = None
    if not all(_inert(s) for s in kept):  # what is left can still fail: run it in-process
        fn = ast.FunctionDef(name=fn.name, args=fn.args, body=kept, decorator_list=[], returns=None,
                             type_comment=None)
        body = [fn if isinstance(n, ast.FunctionDef) and n.name == fn.name else n for n in tree.body]
        residual = ast.unparse(ast.fix_missing_locations(ast.Module(body=body, type_ignores=[])))
    return builder.finish(residual, count=sum(isinstance(n, ast.Assert) for n in ast.walk(tree)))


def _plan_statements(code: str, tree: ast.Module) -> Plan:
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    own = _bound_names(tree.body) - _import_names(imports)
    test_names = _import_names(imports) | set(SAFE_FUNCS) | {"math"}
    builder = _Builder(code, imports, lambda name: name not in test_names, {}, forbidden=own)
    kept = [s for s in tree.body if not (isinstance(s, ast.Assert) and builder.convert(s))
            and not isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass))]
    residual = None
    if kept:  # anything but converted asserts and imports: run those in-process, imports first
        residual = ast.unparse(ast.Module(body=imports + kept, type_ignores=[]))
    return builder.finish(residual, count=sum(isinstance(n, ast.Assert) for n in ast.walk(tree)))


# ---- converting one assert --------------------------------------------------------------
class _Builder:
    """Collects probes and parent-side checks, one assert at a time."""

    def __init__(self, source: str, imports: list[ast.stmt], is_program: Any, rename: dict[str, str],
                 forbidden: set[str]):
        self.source = source
        self.imports = imports
        self.is_program = is_program  # root names whose values come from the program
        self.rename = rename  # e.g. candidate -> the entry point, inside probes
        self.forbidden = forbidden  # names only the test's own scope defines
        self.probes: list[str] = []
        self.checks: list[tuple[str, ast.Expression, tuple[int, ...], str]] = []
        self.used_imports: set[str] = set()

    def convert(self, stmt: ast.Assert) -> bool:
        """Add `stmt` as a parent-side check; False (nothing added) if it cannot be."""
        try:
            expr, probes, used = _Transform(self, len(self.probes)).run(stmt.test)
        except _Unconvertible:
            return False
        self.probes += probes
        self.used_imports |= used
        message = stmt.msg.value if isinstance(stmt.msg, ast.Constant) and isinstance(stmt.msg.value, str) else ""
        text = ast.get_source_segment(self.source, stmt) or ast.unparse(stmt)
        self.checks.append((text, expr, tuple(range(len(self.probes) - len(probes), len(self.probes))),
                            message))
        return True

    def finish(self, residual: str | None, *, count: int) -> Plan:
        steps: list[Step] = []
        setup = None
        needed = [s for s in self.imports if _import_names([s]) & (self.used_imports | {"*"})]
        if needed and self.probes:
            setup = 0
            steps.append(Step(ast.unparse(ast.Module(body=needed, type_ignores=[])), "exec"))
        first_probe = len(steps)
        steps += [Step(code, "value") for code in self.probes]
        checks = tuple(Check(source, compile(expr, "<check>", "eval"), tuple(first_probe + i for i in probes), msg)
                       for source, expr, probes, msg in self.checks)
        residual_at = None
        if residual is not None:
            residual_at = len(steps)
            steps.append(Step(residual, "exec"))
        if not steps:  # constant asserts only: still, the program must live to reach this test
            steps.append(Step("None", "value"))
        return Plan(steps=tuple(steps), checks=checks, setup=setup, residual=residual_at,
                    asserts=count, asserts_in_parent=len(self.checks))


class _Transform(ast.NodeTransformer):
    """Replace program-rooted sub-expressions by probe names; validate what is left."""

    def __init__(self, builder: _Builder, first: int):
        self.b = builder
        self.first = first
        self.probes: list[str] = []
        self.used: set[str] = set()
        self.comp_names: set[str] = set()

    def run(self, test: ast.expr) -> tuple[ast.Expression, list[str], set[str]]:
        for node in ast.walk(test):
            if isinstance(node, ast.comprehension):
                self.comp_names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        expr = ast.Expression(body=self.visit(_copy(test)))
        ast.fix_missing_locations(expr)
        _validate(expr, self.comp_names)
        return expr, self.probes, self.used

    def generic_visit(self, node: ast.AST) -> ast.AST:
        root = _root_name(node)
        if root is not None and self.b.is_program(root) and root not in self.comp_names:
            return self._probe(node)
        return super().generic_visit(node)

    def _probe(self, node: ast.expr) -> ast.Name:
        if isinstance(node, ast.Name):  # a bare function or global: its value is not the point
            raise _Unconvertible("bare name")
        for inner in ast.walk(node):
            if isinstance(inner, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
                raise _Unconvertible("unsupported expression in a probe")
            if isinstance(inner, ast.Name) and inner.id != _root_name(node):
                if inner.id in self.comp_names or inner.id in self.b.forbidden:
                    raise _Unconvertible(f"probe uses the test's own name {inner.id!r}")
                self.used.add(inner.id)
        renamed = _Rename(self.b.rename).visit(_copy(node))
        self.probes.append(ast.unparse(renamed))
        return ast.Name(id=f"{PROBE}{self.first + len(self.probes) - 1}", ctx=ast.Load())


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(id=self.names.get(node.id, node.id), ctx=node.ctx)


def _validate(expr: ast.Expression, comp_names: set[str]) -> None:
    """Only pure operations on builtin values are left for the parent to evaluate."""
    for node in ast.walk(expr):
        if not isinstance(node, _ALLOWED_NODES):
            raise _Unconvertible(f"{type(node).__name__} in the parent-side expression")
        if isinstance(node, ast.Name) and not (
                node.id.startswith(PROBE) or node.id in SAFE_FUNCS or node.id in comp_names or node.id == "math"):
            raise _Unconvertible(f"unknown name {node.id!r}")
        if isinstance(node, ast.Attribute) and not (
                isinstance(node.value, ast.Name) and node.value.id == "math" and node.attr in SAFE_MATH):
            raise _Unconvertible("attribute access")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (isinstance(exponent, ast.Constant) and type(exponent.value) in (int, float)
                    and abs(exponent.value) <= _MAX_POW_EXPONENT):
                raise _Unconvertible("power with a large or computed exponent")


# ---- judging a check --------------------------------------------------------------------
_ENV = {"__builtins__": {}, "math": math, **SAFE_FUNCS}


def evaluate(check: Check, values: list[Any]) -> Any:
    """The assert's condition over decoded (builtin) probe values; may raise like Python."""
    env = dict(_ENV)
    env.update({f"{PROBE}{i}": v for i, v in zip(check.probes, values)})
    return eval(check.code, env)  # noqa: S307 -- validated AST (`_validate`), builtin values only


# ---- helpers ----------------------------------------------------------------------------
def _root_name(node: ast.AST) -> str | None:
    """The name a Name/Call/Attribute/Subscript chain starts from, else None."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return None


def _bound_names(stmts: Any) -> set[str]:
    """Names a block's statements bind (assignments, defs, imports, loop targets), nested too."""
    names: set[str] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= _import_names([node])
    return names


def _import_names(stmts: list[ast.stmt]) -> set[str]:
    names = set()
    for stmt in stmts:
        for alias in getattr(stmt, "names", ()):
            names.add(alias.asname or alias.name.split(".")[0])
    return names


def _inert(stmt: ast.stmt) -> bool:
    """Statements that cannot change a verdict once asserts are gone: docstrings, pass, imports."""
    if isinstance(stmt, (ast.Pass, ast.Import, ast.ImportFrom)):
        return True
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value  # a docstring, or a bare builtin name (HumanEval/129's `print`)
    return isinstance(value, ast.Constant) or (isinstance(value, ast.Name) and hasattr(builtins, value.id))


def _copy(node: ast.AST) -> Any:
    return ast.parse(ast.unparse(node), mode="eval").body if isinstance(node, ast.expr) else node
