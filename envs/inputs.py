"""Extra inputs for telling programs apart, made from the visible tests' own call arguments.

`extra_inputs(tests, entry_point, limit=..., seed=...)` reads every call `entry_point(...)`
whose arguments are all Python literals in the given tests (expression tests and statement
tests such as `assert f(x) == y`), and makes new argument tuples of the same types and shapes
by small mutations: numbers nudged, negated, zeroed; strings emptied, reversed, shortened,
re-cased; lists and tuples emptied, shortened, reversed, one element mutated; and arguments of
two visible calls recombined; then, when given, calls the policy proposed from the task text
(`policies.calls`: the model never sees a test). Each becomes an expression test `f(args)` whose value the
sandbox reports (`TestOutcome.value`); its `expected` is a placeholder nobody compares with.

Only the tests passed in are read: callers pass the VISIBLE tests (the hidden ones must never
shape what the search or the choice sees). Deterministic for a given seed; never executes
anything; bounded in count and in the size of each value.
"""

from __future__ import annotations

import ast
import math
import random
from typing import Any, Iterable, Sequence

from envs.testcase import TestCase

NO_EXPECTED = "None"  # placeholder: extra inputs have no known answer; only the value is read
MAX_REPR_CHARS = 300  # an input larger than this is dropped (keeps executions small)
EXTRA_PREFIX = "extra: "  # test names, so reports say these are not the problem's tests
PROPOSED_PREFIX = "proposed: "  # the same, for inputs from calls the policy proposed


def call_arguments(tests: Iterable[TestCase], entry_point: str) -> list[tuple[Any, ...]]:
    """Literal positional argument tuples of every `entry_point(...)` call in `tests`, in
    order, without duplicates. Calls with keywords, starred or non-literal arguments are skipped."""
    found: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for test in tests:
        try:
            tree = ast.parse(test.code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
                continue
            if node.keywords:
                continue
            args = _literal_args(node.args)
            if args is not None and repr(args) not in seen:
                seen.add(repr(args))
                found.append(args)
    return found


def _literal_args(nodes: Sequence[ast.expr]) -> tuple[Any, ...] | None:
    values = []
    for node in nodes:
        if isinstance(node, ast.Starred):
            return None
        try:
            values.append(ast.literal_eval(node))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return tuple(values)


def extra_inputs(tests: Sequence[TestCase], entry_point: str, *, limit: int = 12, seed: int = 0,
                 proposed: Sequence[tuple[Any, ...]] = (), proposed_limit: int = 0) -> tuple[TestCase, ...]:
    """Up to `limit` expression tests calling `entry_point` on new arguments (see the module
    docstring; () when the tests hold no literal call of it), then up to `proposed_limit` more
    from `proposed` (argument tuples the policy wrote, `policies.calls`; filtered alike, named
    PROPOSED_PREFIX + code)."""
    seeds = call_arguments(tests, entry_point)
    known = {repr(args) for args in seeds}
    out: list[TestCase] = []
    if seeds and limit > 0:
        rng = random.Random(seed)
        pool = _candidates(seeds, rng)
        rng.shuffle(pool)  # mutations of every kind and every seed, not the first seed's first kinds
        out += _new_tests(pool, entry_point, known, limit, EXTRA_PREFIX)
    out += _new_tests(proposed, entry_point, known, proposed_limit, PROPOSED_PREFIX)
    return tuple(out)


def _new_tests(pool: Iterable[tuple[Any, ...]], entry_point: str, known: set[str], limit: int,
               prefix: str) -> list[TestCase]:
    """Expression tests of up to `limit` argument tuples of `pool` not in `known` (updated)."""
    out: list[TestCase] = []
    for args in pool:
        if len(out) >= limit:
            break
        text = repr(args)
        if text in known or not _renderable(args) or len(text) > MAX_REPR_CHARS:
            continue
        known.add(text)
        code = f"{entry_point}({', '.join(repr(a) for a in args)})"
        out.append(TestCase(name=prefix + code, code=code, expected=NO_EXPECTED, entry_point=entry_point))
    return out


def _candidates(seeds: list[tuple[Any, ...]], rng: random.Random) -> list[tuple[Any, ...]]:
    pool: list[tuple[Any, ...]] = []
    for args in seeds:
        for i, value in enumerate(args):
            for new in mutations(value, rng):
                pool.append(args[:i] + (new,) + args[i + 1:])
    for a in seeds:  # recombine: position i from one visible call, the rest from another
        for b in seeds:
            if a is not b and len(a) == len(b) > 1:
                for i in range(len(a)):
                    if type(a[i]) is type(b[i]):
                        pool.append(a[:i] + (b[i],) + a[i + 1:])
    return pool


def mutations(value: Any, rng: random.Random) -> list[Any]:
    """Values of the same type and shape as `value`, a few small steps away."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, -value, 0, 1, value * 2, value * 10, value + rng.randint(2, 9),
                value - rng.randint(2, 9)]
    if isinstance(value, float):
        return [value + 0.5, value - 1.0, -value, 0.0, value * 2, round(value + rng.uniform(-3, 3), 2)]
    if isinstance(value, str):
        return _string_mutations(value, rng)
    if isinstance(value, (list, tuple)):
        return _sequence_mutations(value, rng)
    if isinstance(value, dict):
        items = list(value.items())
        return [{}, dict(items[:-1]), dict(items[1:])]
    return []


def _string_mutations(value: str, rng: random.Random) -> list[str]:
    out = ["", value[::-1], value[1:], value[:-1], value + value[:1], value.swapcase(), value * 2]
    if value:
        i = rng.randrange(len(value))
        alphabet = "0123456789" if value.isdigit() else "abcdefghijklmnopqrstuvwxyz "
        out.append(value[:i] + rng.choice(alphabet) + value[i + 1:])
    return out


def _sequence_mutations(value: list | tuple, rng: random.Random) -> list:
    kind = type(value)
    items = list(value)
    out = [[], items[:-1], items[1:], items[::-1], items + items[-1:], sorted(items, key=repr)]
    if len(items) > 2:  # the same items in other orders: neighbours become strangers
        out += [rng.sample(items, len(items)) for _ in range(2)]
    if items:
        i = rng.randrange(len(items))
        for new in mutations(items[i], rng)[:3]:
            out.append(items[:i] + [new] + items[i + 1:])
        out.append(items + [rng.choice(mutations(items[-1], rng) or [items[-1]])])
    return [kind(o) for o in out]


def _renderable(value: Any) -> bool:
    """repr(value) reads back as the same literal (no inf/nan, no odd container types)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple, set)):
        return all(_renderable(v) for v in value)
    if isinstance(value, dict):
        return all(_renderable(k) and _renderable(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, str, bytes, complex))
