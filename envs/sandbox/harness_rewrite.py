"""The judge's view of a test's code: which names are the program's, and each assert split
into the calls that reach the program and the condition over their results.

Stdlib only: this file is sent as text into the judge's sandbox (see harness.py), where it
rewrites a test before running it; on the host it is imported only by unit tests.

`rewrite(code, entry_point, expression)` returns the test as a module for the judge plus a
table of its asserts. In the module, every `assert COND, MSG` becomes
`__judge_assert__(ID, (thunk, ...))` and an expression test's expression becomes
`__judge_expr__(ID, (thunk, ...))`. COND is split into
- probes: maximal sub-expressions rooted at a program name (`f(x)[0]`, `Stack().pop()`), and
  a builtin consumer applied to one (`len(f(x))`, `list(gen())`): the judge records their
  calls as steps for the program's process, their arguments evaluated by the test's own code;
- folds: sub-expressions that hold no probe (`expected_fn(7)`, `str(x)`, a loop variable),
  evaluated by the judge in the test's scope; if one needs a program value that is not
  known yet, its parts are folded instead;
- funcs: the callables of the remaining calls (`math.fabs`, `abs`, a test helper);
- the residual: COND over `__v(j)`, `__c(k)`, `__f(k)`, evaluated by whoever judges.
Each thunk is a lambda in the assert's own scope, so loop variables and locals are seen as
Python sees them. `assert all(<comprehension>)` and `assert not any(...)` are unrolled
into loops first, so each element is its own assert. Elsewhere, `a is b`, `type(x)`,
`id(x)` and `callable(x)` become calls that refuse a not-yet-known program value, and a
builtin consumer applied to one is recorded as a step (`__judge_wrap__`).
"""

import ast
import builtins
import copy

CONSUMERS = frozenset({"len", "list", "tuple", "set", "frozenset", "sorted", "dict", "str", "repr", "bool",
                       "int", "float", "abs", "sum", "min", "max", "any", "all", "next", "round", "bytes"})
CHECKED = frozenset({"type", "id", "callable"})  # builtins that would look at a pending value silently
_BUILTIN_NAMES = frozenset(dir(builtins))
_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def rewrite(code, entry_point, expression):
    """(module, table, program names, has_handlers) for the judge; SyntaxError passes through."""
    tree = ast.parse(code, mode="eval" if expression else "exec")
    names, bound = program_names(tree, entry_point)
    table = []
    split = _Split(names | _aliases(tree, names), bound, table)
    if expression:
        tree = ast.Module(body=[ast.Expr(value=split.condition(tree.body, kind="expr"))], type_ignores=[])
    else:
        tree = _Asserts(split).visit(_Unroll(bound).visit(tree))
    tree = _Live(names, bound).visit(tree)
    handlers = any(isinstance(n, (ast.Try, ast.With, ast.AsyncWith)) or type(n).__name__ == "TryStar"
                   for n in ast.walk(tree))
    return ast.fix_missing_locations(tree), table, sorted(names), handlers


def program_names(tree, entry_point):
    """(the program's names, the names the test binds). The program's: names the test uses
    but does not bind. Builtins stay builtins, except the entry point (a problem's `sum` is
    the program's `sum`)."""
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound |= set(node.names)
    names = loaded - bound - _BUILTIN_NAMES
    if entry_point and entry_point in loaded and entry_point not in bound:
        names.add(entry_point)
    return names, bound


def _aliases(tree, names):
    """Parameters that hold a program function: `candidate` in HumanEval's
    `def check(candidate): ...` + `check(entry_point)`."""
    if not isinstance(tree, ast.Module):
        return set()
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found = set()
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in defs:
            params = defs[call.func.id].args.args
            for param, arg in zip(params, call.args):
                if isinstance(arg, ast.Name) and arg.id in names:
                    found.add(param.arg)
    return found


class _Unroll(ast.NodeTransformer):
    """`assert all(E for T in I if C)` -> `for T in I: if C: assert E` (the same verdict,
    element by element); `assert not any(...)` likewise with `assert not E`."""

    def __init__(self, bound):
        self.bound = bound

    def visit_Assert(self, node):
        test, negate = node.test, False
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test, negate = test.operand, True
        wanted = "any" if negate else "all"
        if not (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == wanted
                and wanted not in self.bound and len(test.args) == 1 and not test.keywords
                and isinstance(test.args[0], (ast.GeneratorExp, ast.ListComp))):
            return node
        comp = test.args[0]
        if any(isinstance(n, ast.NamedExpr) for n in ast.walk(comp)) or any(g.is_async for g in comp.generators):
            return node
        element = ast.UnaryOp(op=ast.Not(), operand=comp.elt) if negate else comp.elt
        body = [ast.Assert(test=element, msg=node.msg)]
        for gen in reversed(comp.generators):
            for condition in reversed(gen.ifs):
                body = [ast.If(test=condition, body=body, orelse=[])]
            body = [ast.For(target=gen.target, iter=gen.iter, body=body, orelse=[])]
        return [ast.copy_location(stmt, node) for stmt in body]


class _Asserts(ast.NodeTransformer):
    def __init__(self, split):
        self.split = split

    def visit_Assert(self, node):
        call = self.split.condition(node.test, kind="assert", msg=node.msg, source=ast.unparse(node))
        return ast.copy_location(ast.Expr(value=call), node)


class _Split:
    """Splits one condition into thunks and a residual (see the module docstring)."""

    def __init__(self, names, bound, table):
        self.names, self.bound, self.table = names, bound, table

    def condition(self, test, *, kind, msg=None, source=None):
        residual = copy.deepcopy(test)
        nodes = []  # (kind, node, index of the fold it is a part of, or None)
        if any(isinstance(scope, _SCOPES) and any(self._probe(n) for n in ast.walk(scope))
               for scope in ast.walk(residual)):
            nodes.append(("live", residual, None))  # a call under a comprehension: only the judge can run it
        else:
            self._walk(residual, nodes, None)
        order = sorted(range(len(nodes)), key=lambda i: (nodes[i][1].lineno, nodes[i][1].col_offset, i))
        position = {i: at for at, i in enumerate(order)}
        for i, (_, node, _) in enumerate(nodes):
            node.judge_id = position[i]
        thunks = [ast.Lambda(args=_no_args(), body=_Live(self.names, self.bound).visit(copy.deepcopy(nodes[i][1])))
                  for i in order]
        self.table.append({
            "kind": kind, "residual": residual, "source": source or ast.unparse(test),
            "nodes": [(nodes[i][0], None if nodes[i][2] is None else position[nodes[i][2]]) for i in order],
            "msg": msg.value if isinstance(msg, ast.Constant) and isinstance(msg.value, str) else None,
            "probes": [ast.unparse(nodes[i][1]) for i in order if nodes[i][0] == "probe"],
        })
        call_name = "__judge_assert__" if kind == "assert" else "__judge_expr__"
        return ast.Call(func=ast.Name(id=call_name, ctx=ast.Load()),
                        args=[ast.Constant(len(self.table) - 1), ast.Tuple(elts=thunks, ctx=ast.Load())],
                        keywords=[])

    def _walk(self, node, nodes, fold):
        """Classify `node`, an expression of the residual, and its parts."""
        if self._probe(node):
            nodes.append(("probe", node, None))
            return
        holds_probe = any(self._probe(n) for n in ast.walk(node))
        if not holds_probe:
            if _literal(node):
                return
            if _standalone(node):
                nodes.append(("fold", node, fold))
                fold = len(nodes) - 1
                if not _splittable(node):
                    return
        for child, is_func in _parts(node):
            if is_func:
                nodes.append(("func", child, None if holds_probe else fold))
            else:
                self._walk(child, nodes, None if holds_probe else fold)

    def _probe(self, node):
        root = _root(node)
        if root is not None and root in self.names:
            return True
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CONSUMERS
                and node.func.id not in self.names and node.func.id not in self.bound and len(node.args) == 1
                and not node.keywords and not isinstance(node.args[0], ast.Starred) and self._probe(node.args[0]))


def _parts(node):
    """(child expression, is the callable of a call) for the parts of `node`, in order;
    keywords, starred arguments and slices are looked through."""
    for field, value in ast.iter_fields(node):
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.keyword):
                child = child.value
            if isinstance(child, (ast.Starred, ast.Slice)):
                yield from _parts(child)
            elif isinstance(child, ast.expr):
                yield child, isinstance(node, ast.Call) and field == "func"


def _standalone(node):
    """Can the judge evaluate `node` on its own (not a starred item, a slice or an f-string part)?"""
    return not isinstance(node, (ast.Starred, ast.Slice, ast.FormattedValue))


def _root(node):
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


def _literal(node):
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _literal(k) for k in node.keys) and all(_literal(v) for v in node.values)
    return False


def _splittable(node):
    """Can a fold that needs a program value be split into folds of its parts?"""
    return not isinstance(node, (ast.Name, ast.Constant, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom,
                                 ast.JoinedStr) + _SCOPES)


class _Live(ast.NodeTransformer):
    """Code the judge runs for real: make every silent look at a pending value loud."""

    def __init__(self, names, bound):
        self.names, self.bound = names, bound

    def visit_Compare(self, node):
        self.generic_visit(node)
        if not any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return node
        # a is b < c -> __judge_compare__(("Is", "Lt"), a, lambda: b, lambda: c): Python's chain,
        # with identity refused on a value the program has not produced yet
        ops = [type(op).__name__ for op in node.ops]
        return ast.copy_location(ast.Call(func=ast.Name(id="__judge_compare__", ctx=ast.Load()),
                                          args=[ast.Constant(tuple(ops)), node.left, *[
                                              ast.Lambda(args=_no_args(), body=c) for c in node.comparators]],
                                          keywords=[]), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Name) or func.id in self.names or func.id in self.bound:
            return node
        if func.id in CHECKED and len(node.args) == 1 and not node.keywords:
            return ast.copy_location(ast.Call(func=ast.Name(id="__judge_checked__", ctx=ast.Load()),
                                              args=[ast.Constant(func.id), node.args[0]], keywords=[]), node)
        if func.id in CONSUMERS and len(node.args) == 1 and not node.keywords and not isinstance(
                node.args[0], ast.Starred):
            return ast.copy_location(ast.Call(func=ast.Name(id="__judge_wrap__", ctx=ast.Load()),
                                              args=[ast.Constant(func.id), func, node.args[0]], keywords=[]), node)
        return node


def _no_args():
    return ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
