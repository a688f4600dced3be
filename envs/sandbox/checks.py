"""Judging a recorded test on the host, from what the program's process reported.

The judge's record (harness.py, record mode) lists, per test, the steps it needs and its
deferred conditions: a residual expression over `__v(i)` / `__c(i)` / `__f(i)` and the
parts those stand for (test data, refs to step results, the names of builtin functions).
`judge_recorded` walks one test's events in order, as Python would have run them: a step
the test would stop at that raised is an error, a condition that is false a failure.

The host evaluates only what it can bound: the residual must use operators, displays and
an allow-list of builtin and `math` functions, every operation is size-checked before it
runs, and values come from `envs.values.decode` (bounded, collision-checked). Anything else
(a test's own helper, a string format, a value that is not builtin data, a call that
changed its arguments) raises `NeedJudge`: the test is then replayed in the judge, under
the sandbox's limits.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
from functools import lru_cache
from typing import Any, Callable

from envs.values import TooCostly, check_hashes, decode, exactly_equal, short

MAX_ITEMS = 1_000_000  # elements a host-side operation may build
MAX_BITS = 1_000_000  # bits of an integer a host-side operation may build


class NeedJudge(Exception):
    """This test cannot be judged on the host from its record: replay it in the judge."""


class Unreported(Exception):
    """A step the test needs has no result: the program's process ended before it."""


class _Raised(Exception):
    """A part of a condition raised (in the program's process, or in the test's own code)."""

    def __init__(self, detail: str, fail: bool = False):
        super().__init__(detail)
        self.detail, self.fail = detail, fail


def _checked(fn: Callable, *, keys: Callable[[Any], Any] | None = None) -> Callable:
    """`fn` refusing inputs that would make it costly: huge ranges, and (`keys`: what it will
    hash) elements sharing one hash, which make building a set or dict quadratic."""
    def call(*args: Any, **kwargs: Any) -> Any:
        for arg in list(args) + list(kwargs.values()):
            if type(arg) is range and len(arg) > MAX_ITEMS:
                raise NeedJudge("a range too long to expand on the host")
            if keys is not None and type(arg) in (list, tuple, str, bytes):
                try:
                    check_hashes(keys(arg))
                except TooCostly as exc:
                    raise NeedJudge(str(exc)) from None
        return fn(*args, **kwargs)
    return call


def _sum(values: Any, start: Any = 0) -> Any:
    if not all(type(v) in (int, float, bool, complex) for v in values) or type(start) not in (int, float, complex):
        raise NeedJudge("sum of non-numbers")  # summing lists is quadratic
    return sum(values, start)


def _round(number: Any, *ndigits: Any) -> Any:
    if ndigits and type(ndigits[0]) is int and abs(ndigits[0]) > 10_000:
        raise NeedJudge("rounding to too many digits for the host")  # round(1, -10**9) computes 10**10**9
    return round(number, *ndigits)


FUNCTIONS: dict[str, Callable] = {f"builtins.{name}": _checked(getattr(builtins, name)) for name in (
    "abs", "all", "any", "bool", "chr", "divmod", "enumerate", "float", "int", "isinstance", "len", "list",
    "max", "min", "ord", "repr", "reversed", "sorted", "str", "tuple", "type", "zip")}
FUNCTIONS.update({"builtins.set": _checked(set, keys=list), "builtins.frozenset": _checked(frozenset, keys=list),
                  "builtins.dict": _checked(dict, keys=lambda pairs: [pair[0] for pair in pairs])})
FUNCTIONS["builtins.sum"] = _checked(_sum)
FUNCTIONS["builtins.round"] = _round
FUNCTIONS.update({f"math.{name}": getattr(math, name) for name in (
    "isclose", "fabs", "sqrt", "floor", "ceil", "trunc", "isnan", "isinf", "isfinite", "log", "log2", "log10",
    "exp", "fsum", "gcd", "copysign", "hypot")})

# classes a condition may hold as values (`isinstance(x, BlockingIOError)`); calling one is
# allowed only where FUNCTIONS has it
CLASSES: dict[str, type] = {f"builtins.{name}": cls for name, cls in vars(builtins).items()
                            if isinstance(cls, type) and (issubclass(cls, BaseException) or cls in (
                                int, float, complex, str, bytes, bytearray, bool, list, tuple, dict, set,
                                frozenset, range, type(None), object))}

_SEQUENCE_TYPES = (str, bytes, bytearray, list, tuple)


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if type(seq) in _SEQUENCE_TYPES and type(n) in (int, bool) and len(seq) * max(n, 0) > MAX_ITEMS:
            raise NeedJudge("a repetition too long for the host")
    return a * b


def _pow(a: Any, b: Any, *mod: Any) -> Any:
    if type(a) is int and type(b) is int and not mod and b > 0 and a.bit_length() * b > MAX_BITS:
        raise NeedJudge("a power too large for the host")
    return pow(a, b, *mod)


def _lshift(a: Any, b: Any) -> Any:
    if type(b) is int and b > MAX_BITS:
        raise NeedJudge("a shift too large for the host")
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if type(a) in (str, bytes, bytearray):
        raise NeedJudge("string formatting")  # its width is the program's to choose
    return a % b


_OPERATORS: dict[type, Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: _mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: _mod, ast.Pow: _pow, ast.LShift: _lshift,
    ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_BY_INDEX = tuple(_OPERATORS.values())
_NODES = (ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.IfExp, ast.Call, ast.Name, ast.Constant,
          ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Subscript, ast.Slice, ast.Load, ast.keyword, ast.cmpop,
          ast.boolop, ast.unaryop, ast.BinOp, ast.operator)
_PLACEHOLDERS = ("__v", "__c", "__f")


class _Guard(ast.NodeTransformer):
    """Operators become size-checked calls: `a * b` -> `__op(3, a, b)`."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        index = list(_OPERATORS).index(type(node.op))
        return ast.Call(func=ast.Name(id="__op", ctx=ast.Load()),
                        args=[ast.Constant(index), node.left, node.right], keywords=[])


@lru_cache(maxsize=4096)
def compiled(residual: str) -> Any:
    """The residual, validated and compiled for the host; NeedJudge if it is outside what the
    host evaluates."""
    try:
        tree = ast.parse(residual, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise NeedJudge("a condition the host cannot read") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES) or (isinstance(node, ast.BinOp) and type(node.op) not in _OPERATORS):
            raise NeedJudge(f"{type(node).__name__} in a condition")
        if isinstance(node, ast.Name) and node.id not in _PLACEHOLDERS:
            raise NeedJudge(f"the name {node.id!r} in a condition")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not (
                node.func.id in _PLACEHOLDERS and len(node.args) == 1 and isinstance(node.args[0], ast.Constant)):
            raise NeedJudge("a call of something other than a part")
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name) and not (
                isinstance(node.func, ast.Call) and isinstance(node.func.func, ast.Name) and node.func.func.id == "__f"):
            raise NeedJudge("a call of a computed callable")
    return compile(ast.fix_missing_locations(_Guard().visit(tree)), "<check>", "eval")


class Recorded:
    """One execution's view for judging recorded tests: the judge's steps and the program's
    results (parsed report records, None where unreported), decoded on demand."""

    def __init__(self, steps: list[dict], results: list[dict | None]):
        self.steps, self.results = steps, results
        self.objects: dict[int, Any] = {}  # identity number -> the test's object, as the host rebuilt it
        self.cache: dict[int, Any] = {}
        self.first_sent: dict[int, int] = {}  # identity number -> the first step that gave it to the program
        for index, step in enumerate(steps):
            for item in _items(step["o"]):
                if "#" in item:
                    self.first_sent.setdefault(item["#"], index)

    def result(self, index: int) -> Any:
        if index in self.cache:
            return self.cache[index]
        rec = self.results[index] if index < len(self.results) else None
        if rec is None:
            raise Unreported(index)
        status = rec["s"]
        if status == "error":
            raise _Raised(rec.get("d", ""))
        if status != "value" or rec.get("m"):
            raise NeedJudge(f"step {index}: {status}")  # not builtin data, skipped, or it changed its arguments
        if "@" in rec:
            kind, number = rec["@"]
            if kind == "a" and self.first_sent.get(number, index + 1) > index:
                raise _Raised("the program's report names an object it was never given", fail=True)
            if kind == "a" and number not in self.objects:
                raise NeedJudge("an identity the host did not see")
            value = self.objects[number] if kind == "a" else self.result(number)
        else:
            value = _decoded(rec["v"], self.result)
        self.cache[index] = value
        return value

    def item(self, item: dict) -> Any:
        if "#" not in item:
            return _decoded(item["v"], self.result)
        number = item["#"]
        if "v" in item:
            fresh = _decoded(item["v"], self.result)
            old = self.objects.get(number)
            if type(old) is type(fresh) and type(old) in (list, bytearray):
                old[:] = fresh
            elif type(old) is type(fresh) and isinstance(old, (dict, set)):
                old.clear()
                old.update(fresh)
            else:
                self.objects[number] = fresh
        if number not in self.objects:
            raise NeedJudge("an identity the host did not see")
        return self.objects[number]

    def see_step(self, index: int) -> None:
        """The test sent this step's arguments: keep the host's copies of its objects current."""
        op = self.steps[index]["o"]
        for item in _items(op):
            if "#" in item and "v" in item:
                try:
                    self.item(item)
                except (_Raised, Unreported):
                    pass


def _items(op: list) -> list[dict]:
    kind = op[0]
    if kind in ("call", "wrap"):
        return list(op[2]) + [item for _, item in op[3]]
    if kind == "item":
        return [op[2]]
    if kind == "setattr":
        return [op[3]]
    if kind == "setitem":
        return [op[2], op[3]]
    return []


def _decoded(data: Any, ref: Callable[[int], Any]) -> Any:
    try:
        return decode(data, ref)
    except TooCostly as exc:
        raise NeedJudge(str(exc)) from None
    except ValueError as exc:
        raise _Raised(f"the program's value could not be read: {exc}") from None


def judge_recorded(test: dict, run: Recorded) -> tuple[str, str, str | None]:
    """(status, detail, value repr) of one recorded test; NeedJudge or Unreported otherwise."""
    if test["end"] != "done":
        raise NeedJudge("interactive test")
    value_repr = None
    for event in test["events"]:
        if event[0] == "s":
            index = event[1]
            run.see_step(index)
            rec = run.results[index] if index < len(run.results) else None
            if rec is None:
                raise Unreported(index)
            if rec.get("m"):
                raise NeedJudge("a call changed its arguments")
            if run.steps[index]["h"] and rec["s"] == "error":
                return "error", rec.get("d", ""), None
            continue
        status, detail, value_repr = _condition(event[1], run)
        if status != "pass":
            return status, detail, value_repr
    return "pass", "", value_repr


def _condition(event: dict, run: Recorded) -> tuple[str, str, str | None]:
    code = compiled(event["residual"])
    parts = {int(i): part for i, part in event["parts"].items()}
    for part in parts.values():
        if "u" in part or ("fn" in part and part["fn"] not in FUNCTIONS and part["fn"] not in CLASSES):
            raise NeedJudge("a part the host cannot hold")

    def get(i: int) -> Any:
        part = parts[i]
        if "x" in part:
            raise _Raised(part["x"], part.get("fail", False))
        if "fn" in part:
            return CLASSES.get(part["fn"]) or FUNCTIONS[part["fn"]]
        return run.item(part)

    def call(i: int) -> Any:
        part = parts[i]
        if "fn" not in part or part["fn"] not in FUNCTIONS:
            raise NeedJudge("a call of something the host does not run")
        return FUNCTIONS[part["fn"]]

    env = {"__builtins__": {}, "__v": get, "__c": get, "__f": call, "__op": lambda i, a, b: _BY_INDEX[i](a, b)}
    try:
        value = eval(code, env)  # noqa: S307 -- validated (`compiled`), builtin values, size-checked operators
    except (NeedJudge, Unreported):
        raise
    except _Raised as exc:
        return ("fail" if exc.fail else "error"), exc.detail, None
    except (MemoryError, RecursionError, OverflowError) as exc:
        raise NeedJudge(type(exc).__name__) from None
    except Exception as exc:  # the test's own expression raised on the program's values
        return "error", f"{type(exc).__name__}: {exc}", None
    if event["kind"] == "expr":
        expected = ast.literal_eval(event["expected"])
        shown = short(value, 10_000)
        if exactly_equal(value, expected):
            return "pass", "", shown
        return "fail", f"got {short(value, 200)}, expected {event['expected']}", shown
    if value:
        return "pass", "", None
    if event["msg"]:
        return "fail", f"AssertionError: {event['msg']}", None
    return "fail", _failure(event, parts, run), None


def _failure(event: dict, parts: dict[int, dict], run: Recorded) -> str:
    got = []
    for i, text in sorted((int(i), text) for i, text in event["shown"].items()):
        part = parts.get(i, {})
        if "v" in part and isinstance(part["v"], dict) and set(part["v"]) == {"r"}:  # a program value
            try:
                got.append(f"{text} = {short(run.item(part))}")
            except (NeedJudge, Unreported, _Raised):
                continue
    text = "assertion failed: " + event["source"].removeprefix("assert ")
    return text + (f" (got {', '.join(got)})" if got else "")

