"""Values that cross between processes as data only: the wire format and its decoder.

Three processes exchange values: the judge (a sandboxed process that runs a test's own code
and never loads the program, `envs/sandbox/harness.py`) sends the arguments of the calls it
needs; the program's process (the fork-server child, `envs/sandbox/forkserver.py`) sends back
what the calls returned; the host decodes both to judge. Each side accepts exact builtin
types only, never a subclass or an object of the program's own class, so no `__eq__`,
`__hash__` or `__repr__` of the program ever runs where a verdict is decided.

The encoding is JSON: None, bool, int, float and str as themselves, a list as an array, the
rest as a one-key object: {"t": [...]} tuple, {"s": [...]} set, {"f": [...]} frozenset,
{"d": [[k, v], ...]} dict, {"C": pairs} Counter, {"O": pairs} OrderedDict,
{"D": [factory, pairs]} defaultdict (factory: the name of a builtin type, or null),
{"q": [[...], maxlen]} deque, {"b": "hex"} bytes, {"B": "hex"} bytearray,
{"c": [re, im]} complex, {"g": [start, stop, step]} range, {"e": [name, [args]]} an instance
of a builtin exception class; and, in what the judge sends only,
{"r": k}: the value step k of the execution returned (the program's own object, in the child).

`decode` rebuilds a value, rejecting anything off-shape (ValueError). It bounds its own work
on untrusted input: nesting, node count, and hash collisions (a set of integers with equal
hashes would make building it quadratic), so no report can make the host spin.
"""

from __future__ import annotations

import builtins
import collections
from typing import Any, Callable

MAX_DEPTH = 100  # nesting of containers; an honest return value is far shallower
MAX_NODES = 200_000  # scalars and containers in one value
MAX_EQUAL_HASHES = 32  # elements of one set (keys of one dict) sharing a hash

_SEQUENCES = {"t": tuple, "s": set, "f": frozenset}
_MAPPINGS = {"d": dict, "C": collections.Counter, "O": collections.OrderedDict}
FACTORIES = {t.__name__: t for t in (int, float, str, bytes, list, dict, set, frozenset, tuple, bool, complex)}
_HASHED = (set, frozenset)


class TooCostly(ValueError):
    """The value is well formed but too costly to rebuild (hash collisions)."""


def decode(data: Any, ref: Callable[[int], Any] | None = None) -> Any:
    """The value `data` (parsed JSON) encodes; ValueError if malformed. `ref(k)` resolves
    {"r": k} (values from the judge); without it such a tag is malformed."""
    budget = [MAX_NODES]
    try:
        return _decode(data, 0, budget, ref)
    except (TypeError, RecursionError) as exc:  # unhashable set element or dict key, too deep
        raise ValueError(f"malformed value: {type(exc).__name__}") from None


def _decode(data: Any, depth: int, budget: list[int], ref: Callable[[int], Any] | None) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise ValueError("value too large or too deep")
    kind = type(data)
    if data is None or kind is bool or kind is int or kind is float or kind is str:
        return data
    if kind is list:
        return [_decode(item, depth + 1, budget, ref) for item in data]
    if kind is not dict or len(data) != 1:
        raise ValueError("malformed value")
    (tag, body), = data.items()
    if tag in _SEQUENCES and type(body) is list:
        items = [_decode(item, depth + 1, budget, ref) for item in body]
        cls = _SEQUENCES[tag]
        if cls in _HASHED:
            check_hashes(items)
        return cls(items)
    if tag in _MAPPINGS:
        return _MAPPINGS[tag](dict(_pairs(body, depth, budget, ref)))  # Counter(pairs) would count them
    if tag == "D" and type(body) is list and len(body) == 2 and (body[0] is None or body[0] in FACTORIES):
        return collections.defaultdict(FACTORIES.get(body[0]), _pairs(body[1], depth, budget, ref))
    if tag == "q" and type(body) is list and len(body) == 2 and type(body[0]) is list and (
            body[1] is None or (type(body[1]) is int and body[1] >= 0)):
        return collections.deque([_decode(item, depth + 1, budget, ref) for item in body[0]], body[1])
    if tag in ("b", "B") and type(body) is str:
        return (bytes if tag == "b" else bytearray).fromhex(body)
    if tag == "c" and type(body) is list and len(body) == 2 and all(type(x) in (int, float) for x in body):
        return complex(body[0], body[1])
    if tag == "g" and type(body) is list and len(body) == 3 and all(type(x) is int for x in body) and body[2]:
        value = range(*body)
        try:
            long = len(value) > MAX_NODES
        except OverflowError:  # longer than sys.maxsize
            long = True
        if long:
            raise TooCostly("a range too long to hold")  # `1.5 in range(10**18)` would scan it
        return value
    if tag == "e" and type(body) is list and len(body) == 2 and type(body[1]) is list:
        cls = getattr(builtins, body[0], None) if type(body[0]) is str else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                return cls(*[_decode(arg, depth + 1, budget, ref) for arg in body[1]])
            except TypeError:  # an exception class with a fixed signature, given other arguments
                raise ValueError("malformed exception") from None
    if tag == "r" and type(body) is int and ref is not None:
        return ref(body)
    raise ValueError(f"malformed value tag {tag!r}")


def _pairs(body: Any, depth: int, budget: list[int], ref: Callable[[int], Any] | None) -> list[tuple]:
    if type(body) is not list:
        raise ValueError("malformed dict")
    pairs = []
    for pair in body:
        if type(pair) is not list or len(pair) != 2:
            raise ValueError("malformed dict entry")
        pairs.append((_decode(pair[0], depth + 1, budget, ref), _decode(pair[1], depth + 1, budget, ref)))
    check_hashes([key for key, _ in pairs])
    return pairs


def check_hashes(items: list) -> None:
    """TooCostly if too many items share a hash: the set or dict would take quadratic time."""
    if len(items) <= MAX_EQUAL_HASHES:
        return
    hashes = sorted(map(hash, items))  # hashing is linear; sorting ints needs no hashing at all
    run = 1
    for before, after in zip(hashes, hashes[1:]):
        run = run + 1 if before == after else 1
        if run > MAX_EQUAL_HASHES:
            raise TooCostly(f"more than {MAX_EQUAL_HASHES} elements share one hash")


_NUMBERS = (int, float, complex)


def exactly_equal(a: Any, b: Any) -> bool:
    """An expression test's comparison: `==` with no tolerance (1e-09 is not -9e-07), numbers
    by value (2.0 is 2, as `==` says), every other type exact all the way down (True is not 1,
    a tuple is not a list, a Counter is not a dict)."""
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if type(a) in (list, tuple, collections.deque):
        return len(a) == len(b) and all(exactly_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(exactly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def short(value: Any, limit: int = 80) -> str:
    """A short, single-line repr of a decoded (builtin, hence honest) value for details."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return f"<{type(value).__name__} too large to show>"
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
