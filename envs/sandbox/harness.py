"""The judge: a test's own code, run in a sandboxed process that never loads the program.

Stdlib only. The host sends this file (with envs/values.py, harness_rewrite.py and
harness_refs.py) as the program of a judge execution (`judging.judge_program()` builds that
text) and calls `__judge_begin__(request)`, then `__judge_test__(i)` for each test; nothing
else ever runs in that process. The program's names are bound to `Ref`s: calling one records
a step (a call, attribute, item or builtin for the program's process to run on data) and
gives back a Ref to its future value.

Two modes, one per request:
- "record" (once per test list, before any program): each test runs with every step's value
  unknown. An assert whose calls are known (`__judge_assert__`, see harness_rewrite.py) is
  deferred: the event keeps its residual condition and the values of its parts (test data,
  refs to steps) for the host to evaluate once the program has answered. A test that
  inspects an unknown value, or holds try/with, is "interactive".
- "replay" (when the host cannot judge from the record alone): the tests run again from the
  start with the results the program's process reported; every assert is evaluated here, on
  decoded builtin values, with Python's own semantics. A step past those results makes the
  test "incomplete" and the host runs the program again with the longer step list.
Randomness is seeded, so both modes see the same test.
"""

import ast
import builtins
import collections
import copy
import json
import random

try:  # on the host (unit tests); in the judge's sandbox the judge program defines these first
    from envs import values
    from envs.sandbox import harness_refs as refs
    from envs.sandbox.harness_rewrite import rewrite
except ImportError:  # pragma: no cover - only inside the sandbox
    pass

Ref, NeedValue, OpaqueValue, Unreported, Unsendable = (refs.Ref, refs.NeedValue, refs.OpaqueValue, refs.Unreported,
                                                       refs.Unsendable)
describe, function_name, program_exception = refs.describe, refs.function_name, refs.program_exception

MUTABLE = (list, dict, set, bytearray, collections.Counter, collections.OrderedDict, collections.defaultdict,
           collections.deque)
_SCALARS = (type(None), bool, int, float, str)
_SEQUENCES = ((tuple, "t"), (set, "s"), (frozenset, "f"))
_MAPPINGS = ((dict, "d"), (collections.Counter, "C"), (collections.OrderedDict, "O"))
_SEED = 20240601


class Judge:
    """One judge run over a test list (see the module docstring)."""

    def __init__(self, request):
        self.tests = request["tests"]
        self.replay = request["mode"] == "replay"
        self.memo_steps = request.get("steps", []) if self.replay else []
        self.memo = request.get("results", [])
        self.valid = len(self.memo_steps)  # memo entries still in step with this run
        self.steps, self.values, self.args = [], {}, {}
        self.ids, self.objects, self.sent = {}, [], {}
        self.journal = []  # (identity number, what was sent before): undone with the steps that sent it
        self.first_sent = {}  # identity number -> the first step that gave the object to the program
        self.test, self.depth, self.halting, self.events = 0, 0, False, None
        self.table, self.fresh, self.compiled = [], False, {}
        self.expected, self.value_repr = None, None

    # ---- steps ----------------------------------------------------------------------------
    def emit(self, op, args=None):
        index = len(self.steps)
        self.steps.append({"t": self.test, "h": self.halting and self.depth == 0, "o": op})
        if self.events is not None:
            self.events.append(["s", index])
        if args:
            self.args[index] = args
        if index < self.valid and self.memo_steps[index]["o"] == op:
            return self.value(index)
        self.valid = min(self.valid, index)
        self.fresh = True
        return Ref(index)

    def call(self, target, args, kwargs):
        items = [self.item(a, sent=True) for a in args]
        named = [[k, self.item(v, sent=True)] for k, v in kwargs.items()]
        watched = list(enumerate(args)) + list(kwargs.items())
        return self.emit(["call", target, items, named], watched)

    def wrap(self, name, value):
        return self.emit(["wrap", name, [self.item(value, sent=True)], []], [(0, value)])

    def value(self, index):
        if index in self.values:
            return self.values[index]
        if index >= len(self.memo):
            raise Unreported()
        rec = self.memo[index]
        status = rec.get("s")
        if status == "error":
            raise program_exception(rec)
        if status == "skip":  # not run: an earlier call of the test raised where it would stop
            self.valid = min(self.valid, index)
            self.fresh = True
            return Ref(index)
        if status == "opaque":
            value = Ref(index, "returned %s" % rec.get("d", "a value that is not a builtin one"))
        elif "@" in rec:
            kind, number = rec["@"]
            if kind == "a" and self.first_sent.get(number, index + 1) > index:
                raise OpaqueValue("the program's report names an object it was never given")
            value = self.objects[number] if kind == "a" else self.value(number)
        else:
            value = values.decode(rec["v"])
        for where, state in rec.get("m", ()):  # the call changed an argument in place
            if state is None:
                raise OpaqueValue("the call changed an argument in place, and it is too large to report")
            self.update(dict(self.args.get(index, ()))[where], values.decode(state), state)
        self.values[index] = value
        return value

    def update(self, obj, new, encoded):
        if type(obj) in (list, bytearray):
            obj[:] = new
        elif type(obj) is collections.deque:
            obj.clear()
            obj.extend(new)
        else:
            obj.clear()
            obj.update(new)
        number = self.ids.get(id(obj))
        if number is not None:
            self.sent[number] = encoded

    # ---- data crossing to the program's process -------------------------------------------
    def item(self, obj, sent=False):
        """`obj` as an item of a step (`sent`: the program's process will hold it) or of a
        deferred condition: mutable objects carry an identity number, and their content
        only when the other side has not got it yet."""
        if type(obj) is Ref:
            return {"v": {"r": self.step_of(obj)}}
        if type(obj) not in MUTABLE:
            return {"v": self.encode(obj)}
        number = self.ids.get(id(obj))
        if number is None:
            number = self.ids[id(obj)] = len(self.objects)
            self.objects.append(obj)
        if sent:
            self.first_sent.setdefault(number, len(self.steps))
        encoded = self.encode(obj)
        if self.sent.get(number) == encoded:
            return {"#": number}
        self.journal.append((number, self.sent.get(number)))
        self.sent[number] = encoded
        return {"#": number, "v": encoded}

    def step_of(self, ref):
        if type(ref._target) is int:
            return ref._target
        value = self.emit(["name", ref._target])  # a program name passed on as a value
        return value._target if type(value) is Ref else len(self.steps) - 1

    def encode(self, obj, depth=0):
        kind = type(obj)
        if depth > 100:
            raise Unsendable("a value nested too deeply")
        if kind in _SCALARS:
            return obj
        if kind is Ref:
            return {"r": self.step_of(obj)}
        if kind is list:
            return [self.encode(x, depth + 1) for x in obj]
        for cls, tag in _SEQUENCES:
            if kind is cls:
                return {tag: [self.encode(x, depth + 1) for x in obj]}
        for cls, tag in _MAPPINGS:
            if kind is cls:
                return {tag: [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in dict.items(obj)]}
        if kind is collections.defaultdict and (obj.default_factory is None or obj.default_factory in values.FACTORIES.values()):
            factory = None if obj.default_factory is None else obj.default_factory.__name__
            return {"D": [factory, [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()]]}
        if kind is collections.deque:
            return {"q": [[self.encode(x, depth + 1) for x in obj], obj.maxlen]}
        if kind is bytes or kind is bytearray:
            return {"b" if kind is bytes else "B": obj.hex()}
        if kind is complex:
            return {"c": [obj.real, obj.imag]}
        if kind is range:
            return {"g": [obj.start, obj.stop, obj.step]}
        raise Unsendable("a %s" % kind.__name__)

    # ---- asserts and expression tests ----------------------------------------------------
    def check(self, index, thunks):
        """Run one split condition (see harness_rewrite.py). Returns ("live", value) when every
        part is known (the caller judges now) or ("deferred", None): the event is recorded for
        the host (record mode), or the test is unfinished (replay)."""
        entry = self.table[index]
        decided = self.decide(entry, thunks)
        residual = _Placeholders(entry["nodes"], decided).visit(copy.deepcopy(entry["residual"]))
        if any(isinstance(n, ast.Name) and n.id not in ("__v", "__c", "__f") for n in ast.walk(residual)):
            raise NeedValue()  # a part that needs a program value and cannot be split further
        source = ast.unparse(residual)
        if all(how == "x" or not _pending(value) for how, value in decided.values()):
            code = self.compiled.get(source) or self.compiled.setdefault(source, compile(source, "<check>", "eval"))
            return "live", eval(code, _accessors(decided)), decided  # noqa: S307 -- the test's own code
        self.fresh = True
        if self.events is not None:
            self.events.append(["c", self.event(entry, source, decided)])
        return "deferred", None, decided

    def decide(self, entry, thunks):
        """Evaluate the parts in source order; a fold that needs a pending value is undone
        and its own parts are evaluated instead."""
        decided, split = {}, set()
        for i, (kind, fold) in enumerate(entry["nodes"]):
            if fold is not None and fold not in split:
                continue
            mark, sent_mark = len(self.steps), len(self.journal)
            self.depth += 1
            try:
                value = thunks[i]()
                if type(value) is Ref and type(value._target) is str and kind != "func":
                    value = self.emit(["name", value._target])  # a program name's own value
                decided[i] = ("v", value)
            except NeedValue:
                if kind != "fold":
                    raise
                self.undo(mark, sent_mark)  # its parts record the same steps again
                split.add(i)
            except Unreported:
                raise
            except BaseException as exc:  # a part that raised: raised again only if the condition needs it
                decided[i] = ("x", exc)
            finally:
                self.depth -= 1
        return decided

    def undo(self, mark, sent_mark):
        """Forget the steps from `mark` on, as if they had never been sent."""
        del self.steps[mark:]
        self.first_sent = {n: at for n, at in self.first_sent.items() if at < mark}
        if self.events is not None:
            self.events[:] = [e for e in self.events if not (e[0] == "s" and e[1] >= mark)]
        while len(self.journal) > sent_mark:
            number, before = self.journal.pop()
            if before is None:
                self.sent.pop(number, None)
            else:
                self.sent[number] = before

    def check_assert(self, index, thunks):
        state, value, decided = self.check(index, thunks)
        if state == "live" and not value:
            raise AssertionError(failure(self.table[index], decided))

    def check_expr(self, index, thunks):
        state, value, _ = self.check(index, thunks)
        if state == "live" and type(value) is Ref:
            value._look()  # not a builtin value: never compared
        if state == "live":
            self.value_repr = values.short(value, 10_000)
            if not values.exactly_equal(value, ast.literal_eval(self.expected)):
                raise AssertionError("got %s, expected %s" % (values.short(value, 200), self.expected))

    def event(self, entry, source, decided):
        """A deferred condition, as data the host can judge once the program has answered."""
        parts = {str(i): self.part(entry["nodes"][i][0], outcome) for i, outcome in decided.items()}
        shown = {str(i): ast.unparse(entry["sources"][i]) for i in decided if entry["nodes"][i][0] in ("probe", "fold")}
        return {"kind": entry["kind"], "residual": source, "parts": parts, "source": entry["source"],
                "msg": entry["msg"], "expected": self.expected if entry["kind"] == "expr" else None, "shown": shown}

    def part(self, kind, outcome):
        how, value = outcome
        if how == "x":
            return {"x": describe(value, program=True), "fail": isinstance(value, (AssertionError, OpaqueValue))}
        name = function_name(value) if type(value) is not Ref else None
        if name:  # a builtin function or class: the host holds its own
            return {"fn": name}
        if kind == "func":
            return {"u": "a %s" % type(value).__name__}
        try:
            return self.item(value)
        except (Unsendable, RecursionError) as exc:
            return {"u": str(exc)}

    # ---- the run --------------------------------------------------------------------------
    def start(self):
        random.seed(_SEED)
        self.scope = {"__builtins__": builtins, "__name__": "__main__", "__judge_assert__": self.check_assert,
                      "__judge_expr__": self.check_expr, "__judge_wrap__": refs.judge_wrap,
                      "__judge_checked__": refs.judge_checked, "__judge_compare__": refs.judge_compare}

    def run_test(self, index):
        """Test `index` (tests run in order, in one namespace): its result and the steps it added."""
        self.test = index
        first = len(self.steps)
        result = self.run_one(self.scope, *self.tests[index])
        result["steps"] = self.steps[first:]
        return result

    def run_one(self, scope, code, expected, entry_point):
        """One test, to its end or its first failure. Record mode: its events and whether the
        host may judge it from them ("done") or must have it replayed ("interactive").
        Replay: its status (pass, fail, error; "incomplete" if it needs a step not run yet;
        "unreported" if the program's process ended before a step it needs)."""
        self.fresh, self.expected, self.value_repr = False, expected, None
        self.events = None if self.replay else []
        handlers = True
        status, detail = "pass", ""
        try:
            module, self.table, names, handlers = rewrite(code, entry_point, expected is not None)
            for entry in self.table:
                entry["sources"] = _parts_by_index(entry["residual"])
            for name in names:
                scope.setdefault(name, Ref(name))
            self.halting = not handlers and not self.replay
            exec(compile(module, "<test>", "exec"), scope)  # noqa: S102 -- the test's own code
        except NeedValue:
            status = "incomplete"
        except Unreported:
            status = "unreported"
        except (AssertionError, OpaqueValue) as exc:
            status, detail = "fail", describe(exc, bare=True)
        except BaseException as exc:  # the test's own error, or one the program raised (program_detail)
            status, detail = "error", describe(exc, program=True)
        if not self.replay:
            end = "done" if status == "pass" and not handlers else "interactive"
            return {"events": self.events, "end": end, "last": len(self.steps)}
        if self.fresh and status != "unreported":
            status, detail = "incomplete", ""
        return {"status": status, "detail": detail, "value": self.value_repr, "last": len(self.steps)}


def _pending(value, depth=0):
    kind = type(value)
    if kind is Ref:
        return value._detail is None
    if depth > 100 or kind in _SCALARS:
        return False
    if kind in (list, tuple, set, frozenset, collections.deque):
        return any(_pending(x, depth + 1) for x in value)
    if kind in (dict, collections.Counter, collections.OrderedDict, collections.defaultdict):
        return any(_pending(k, depth + 1) or _pending(v, depth + 1) for k, v in value.items())
    return False


def _accessors(decided):
    def get(i):
        how, value = decided[i]
        if how == "x":
            raise value
        return value
    return {"__builtins__": {}, "__v": get, "__c": get, "__f": get}


class _Placeholders(ast.NodeTransformer):
    """The residual with every decided part replaced by `__v(i)` / `__c(i)` / `__f(i)`."""

    def __init__(self, nodes, decided):
        self.nodes, self.decided = nodes, decided

    def visit(self, node):
        index = getattr(node, "judge_id", None)
        if index is not None and index in self.decided:
            name = {"probe": "__v", "fold": "__c", "func": "__f", "live": "__c"}[self.nodes[index][0]]
            return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=[ast.Constant(index)], keywords=[])
        return super().visit(node)


def _parts_by_index(residual):
    """judge_id -> the part of the residual it marks (for the "got ..." of a failure)."""
    found = {}
    for node in ast.walk(residual):
        index = getattr(node, "judge_id", None)
        if index is not None and index not in found:
            found[index] = node
    return found


def failure(entry, decided):
    """The detail of a failed assert: its message, else the assert and what its calls got."""
    if entry["msg"]:
        return "AssertionError: %s" % entry["msg"]
    got = ["%s = %s" % (ast.unparse(entry["sources"][i]), values.short(value))
           for i, (how, value) in sorted(decided.items()) if how == "v" and entry["nodes"][i][0] == "probe"]
    text = "assertion failed: %s" % entry["source"].removeprefix("assert ")
    return text + (" (got %s)" % ", ".join(got) if got else "")


def __judge_begin__(request):
    """The judge's entry points, one step each, so that a test that never ends costs only the
    tests from it on: begin with the request (JSON text), then each test in order."""
    refs.current.judge = Judge(json.loads(request))
    refs.current.judge.start()
    return ""


def __judge_test__(index):
    return json.dumps(refs.current.judge.run_test(index))


def judge_all(request):
    """All of a request at once, as the host assembles it: {"steps", "tests"} (for tests)."""
    __judge_begin__(request)
    tests = [json.loads(__judge_test__(i)) for i in range(len(refs.current.judge.tests))]
    return {"steps": [step for test in tests for step in test.pop("steps")], "tests": tests}
