"""What the judge holds for the program: `Ref`s to values it has not produced yet, and the
few calls the rewritten test makes through this module (see harness_rewrite.py).

Stdlib only, sent as text into the judge's sandbox with harness.py. A Ref stands for a
program name or a step's result: calling it, or taking an attribute or item, records one
more step (`current.judge.emit`); looking at it in any other way (`==`, `bool`, `len`,
`isinstance`, printing, hashing, identity through `__judge_compare__`) raises NeedValue,
which the test's own `except Exception` cannot swallow.
"""

import builtins


class Current:
    judge = None  # the run in progress (one per process), set by harness.Judge


current = Current()


class NeedValue(BaseException):
    """The test looked at a value the program has not produced yet (BaseException: a test's
    own `except Exception` must not swallow it)."""


class Unreported(BaseException):
    """A step whose result never came back: the program's process ended before it."""


class OpaqueValue(Exception):
    """The program returned an object that is not a builtin value, and the test looked at it."""


class Unsendable(Exception):
    """A value the test passes to the program that is not data (a function, a test's object)."""


class Ref:
    """A program name, or the value of a step, that the judge cannot look at (yet)."""

    __slots__ = ("_target", "_detail")

    def __init__(self, target, detail=None):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_detail", detail)  # set: the value is known, and not a builtin one

    def _look(self, *_):
        if self._detail is not None:
            raise OpaqueValue(self._detail)
        raise NeedValue()

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            self._look()
        return current.judge.emit(["attr", self._target, name])

    def __call__(self, *args, **kwargs):
        return current.judge.call(self._target, args, kwargs)

    def __getitem__(self, key):
        return current.judge.emit(["item", self._target, current.judge.item(key, sent=True)])

    def __setattr__(self, name, value):
        current.judge.emit(["setattr", self._target, name, current.judge.item(value, sent=True)])

    def __setitem__(self, key, value):
        current.judge.emit(["setitem", self._target, current.judge.item(key, sent=True), current.judge.item(value, sent=True)])

    @property
    def __class__(self):  # isinstance() asks for it: looking at the type is looking at the value
        self._look()


for _name in ("bool", "len", "iter", "next", "reversed", "contains", "hash", "eq", "ne", "lt", "le", "gt", "ge",
              "str", "repr", "format", "bytes", "int", "float", "complex", "index", "round", "abs", "neg", "pos",
              "invert", "add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow", "lshift",
              "rshift", "and", "or", "xor", "radd", "rsub", "rmul", "rmatmul", "rtruediv", "rfloordiv", "rmod",
              "rdivmod", "rpow", "rlshift", "rrshift", "rand", "ror", "rxor", "iadd", "isub", "imul", "itruediv",
              "ifloordiv", "imod", "ipow", "ilshift", "irshift", "iand", "ior", "ixor", "enter", "exit", "delitem",
              "delattr", "reduce", "reduce_ex", "getstate", "copy", "deepcopy", "dir", "sizeof", "fspath",
              "length_hint", "trunc", "floor", "ceil", "await", "aiter", "anext"):
    setattr(Ref, "__%s__" % _name, Ref._look)
Ref.__copy__ = lambda self: current.judge.wrap("copy.copy", self)  # copying the program's value: its own business
Ref.__deepcopy__ = lambda self, memo: current.judge.wrap("copy.deepcopy", self)



def judge_wrap(name, func, value):
    """`len(x)`, `list(x)` and the like on a program value (pending, or not a builtin one: a
    generator): a step the program's process runs, on its own object."""
    if type(value) is Ref:
        return current.judge.wrap(name, value)
    return func(value)


def judge_checked(name, value):
    if type(value) is Ref:
        value._look()
    return getattr(builtins, name)(value)


_COMPARE = {"Eq": lambda a, b: a == b, "NotEq": lambda a, b: a != b, "Lt": lambda a, b: a < b,
            "LtE": lambda a, b: a <= b, "Gt": lambda a, b: a > b, "GtE": lambda a, b: a >= b,
            "Is": lambda a, b: a is b, "IsNot": lambda a, b: a is not b, "In": lambda a, b: a in b,
            "NotIn": lambda a, b: a not in b}


def judge_compare(ops, left, *rights):
    """A comparison chain with `is`/`is not` in it, as Python evaluates it, except that
    identity is not decided on a value the program has not produced yet."""
    result = True
    for op, right in zip(ops, rights):
        right = right()
        if op in ("Is", "IsNot") and (type(left) is Ref or type(right) is Ref):
            (left if type(left) is Ref else right)._look()
        result = _COMPARE[op](left, right)
        if not result:
            return result
        left = right
    return result


def describe(exc, bare=False, program=False):
    """"Type: message" (or the message alone); an exception the program raised is described
    as the program's process described it."""
    if program and getattr(exc, "program_detail", None):
        return exc.program_detail
    try:
        message = str(exc)
    except BaseException:
        message = "<unprintable>"
    if bare and message:
        return message
    return "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__


def program_exception(rec):
    """The exception a step raised in the program's process, raised again here: the nearest
    builtin class (so the test's own `except ValueError` works), the program's message."""
    base = getattr(builtins, str(rec.get("e")), None)
    if not (isinstance(base, type) and issubclass(base, BaseException)) or base in (SystemExit, KeyboardInterrupt,
                                                                                      GeneratorExit):
        base = Exception
    try:
        exc = type("ProgramError", (base,), {})(rec.get("d", ""))
    except TypeError:  # a builtin exception with a required signature (UnicodeDecodeError)
        exc = Exception(rec.get("d", ""))
    exc.program_detail = rec.get("d", "")
    return exc


def function_name(func):
    """"module.name" of a builtin or standard-library function, so the host can find its own
    copy; None for anything else (a test's helper, a lambda)."""
    module, name = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    if type(func).__name__ not in ("builtin_function_or_method", "type") or not module or not name:
        return None
    return "%s.%s" % (module, name)
