"""Values that cross from the sandbox child to the trusted parent, as data only.

The child (envs/sandbox/forkserver.py, `_encode`) walks a returned value and accepts only
exact builtin types: None, bool, int, float, complex, str, bytes, list, tuple, dict, set,
frozenset (and the standard library's dict subclasses Counter, OrderedDict and defaultdict,
read as plain dicts). A subclass or an object of the program's own class is reported as
"opaque", so no `__eq__`, `__repr__` or `__hash__` of the program ever takes part in a
verdict. The encoding is JSON: scalars as themselves, lists as arrays, the rest tagged:
{"t": [...]} tuple, {"d": [[k, v], ...]} dict, {"s": [...]} set, {"f": [...]} frozenset,
{"b": "hex"} bytes, {"c": [re, im]} complex.

`decode` rebuilds the value in the parent from parsed JSON and rejects anything off-shape
(`ValueError`); depth and size are capped so a hostile child cannot make the parent spin.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 100  # nesting of containers; an honest return value is far shallower
MAX_NODES = 200_000  # scalars and containers in one value

_TAGS = {"t": tuple, "s": set, "f": frozenset}


def decode(data: Any) -> Any:
    """The value `data` (parsed JSON from the child) encodes; ValueError if malformed."""
    budget = [MAX_NODES]
    try:
        return _decode(data, 0, budget)
    except (TypeError, RecursionError) as exc:  # unhashable set element or dict key, too deep
        raise ValueError(f"malformed value: {type(exc).__name__}") from None


def _decode(data: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise ValueError("value too large or too deep")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [_decode(item, depth + 1, budget) for item in data]
    if kind is not dict or len(data) != 1:
        raise ValueError("malformed value")
    (tag, body), = data.items()
    if tag in _TAGS and type(body) is list:
        return _TAGS[tag](_decode(item, depth + 1, budget) for item in body)
    if tag == "d" and type(body) is list:
        pairs = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("malformed dict entry")
            pairs[_decode(pair[0], depth + 1, budget)] = _decode(pair[1], depth + 1, budget)
        return pairs
    if tag == "b" and type(body) is str:
        return bytes.fromhex(body)
    if tag == "c" and type(body) is list and len(body) == 2 and all(type(x) in (int, float) for x in body):
        return complex(body[0], body[1])
    raise ValueError(f"malformed value tag {tag!r}")


def short(value: Any, limit: int = 80) -> str:
    """A short, single-line repr of a decoded (builtin, hence honest) value for details."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
